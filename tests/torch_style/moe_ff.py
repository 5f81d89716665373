"""Two programs written as ordinary PyTorch code of 2021-2023 GitHub repositories, on small synthetic data.

1. A sparsely-gated Mixture-of-Experts layer as davidmrau/mixture-of-experts writes it: noisy top-k gating
   (``clean_logits = x @ self.w_gate``, softplus noise scale, ``logits.topk(min(self.k + 1, self.num_experts))``,
   ``self.softmax(top_k_logits)``, ``zeros.scatter(1, top_k_indices, top_k_gates)``), the smooth load estimate
   ``_prob_in_top_k`` through ``Normal(self.mean, self.std).cdf`` and ``torch.gather`` of the thresholds,
   ``cv_squared`` of importance and load, and the ``SparseDispatcher`` (``torch.nonzero(gates).sort(0)``,
   ``torch.split`` by part sizes, ``combine`` through ``index_add``, in its older log-space spelling with
   ``.exp()`` / ``.log()`` too). Its experts end in a softmax and the loss is ``nn.CrossEntropyLoss`` of those
   probabilities (the repository's example does so). Then a Switch (top-1) layer in the minimal Switch-Transformer
   style: ``F.one_hot`` of the argmax expert, ``torch.cumsum(mask, dim=0) * mask`` as the position in the expert, a
   capacity, dropped tokens passed through, and the load-balancing loss ``num_experts * sum(frac_tokens *
   frac_probs)``. Both train with Adam on task loss + aux loss; ``train_moe`` can stop and resume from a checkpoint.
2. Hinton's Forward-Forward algorithm as pytorch/examples' mnist_forward_forward (2023) writes it, on synthetic
   digits: ``overlay_y_on_x``, ``Layer(nn.Linear)`` with its own Adam and ``train``, goodness ``pow(2).mean(1)``,
   the per-layer softplus loss, the ``.detach()`` handoff and ``predict`` by goodness per label.

Changes for the harness: the gating noise and the negative labels' permutation can be handed in (the
``torch.randn_like`` / ``torch.randperm`` paths are kept), and the loops record what they compute."""

import io

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Normal
from torch.optim import Adam


class SparseDispatcher(object):  # noqa: UP004 - the repository's spelling
    """Sends each example to the experts its gate is nonzero for and stitches their outputs back together."""

    def __init__(self, num_experts, gates):
        self._gates = gates
        self._num_experts = num_experts
        # sort experts
        sorted_experts, index_sorted_experts = torch.nonzero(gates).sort(0)
        # drop indices
        _, self._expert_index = sorted_experts.split(1, dim=1)
        # get according batch index for each expert
        self._batch_index = torch.nonzero(gates)[index_sorted_experts[:, 1], 0]
        # calculate num samples that each expert gets
        self._part_sizes = (gates > 0).sum(0).tolist()
        # expand gates to match with self._batch_index
        gates_exp = gates[self._batch_index.flatten()]
        self._nonzero_gates = torch.gather(gates_exp, 1, self._expert_index)

    def dispatch(self, inp):
        # assigns samples to experts whose gate is nonzero
        inp_exp = inp[self._batch_index].squeeze(1)
        return torch.split(inp_exp, self._part_sizes, dim=0)

    def combine(self, expert_out, multiply_by_gates=True, log_space=False):
        # apply exp to expert outputs, so we are not longer in log space
        stitched = torch.cat(expert_out, 0)
        if log_space:
            stitched = stitched.exp()
        if multiply_by_gates:
            stitched = stitched.mul(self._nonzero_gates)
        zeros = torch.zeros(self._gates.size(0), expert_out[-1].size(1), requires_grad=True, device=stitched.device)
        # combine samples that have been processed by the same k experts
        combined = zeros.index_add(0, self._batch_index, stitched.float())
        if log_space:
            # add eps to all zero values in order to avoid nans when going back to log space
            combined[combined == 0] = np.finfo(float).eps
            return combined.log()
        return combined

    def expert_to_gates(self):
        # split nonzero gates for each expert
        return torch.split(self._nonzero_gates, self._part_sizes, dim=0)


class MLP(nn.Module):
    def __init__(self, input_size, output_size, hidden_size, log_softmax=False):
        super(MLP, self).__init__()  # noqa: UP008
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, output_size)
        self.relu = nn.ReLU()
        self.soft = nn.LogSoftmax(1) if log_softmax else nn.Softmax(1)

    def forward(self, x):
        out = self.fc1(x)
        out = self.relu(out)
        out = self.fc2(out)
        out = self.soft(out)
        return out


class MoE(nn.Module):
    """Sparsely gated mixture of MLP experts; ``forward(x)`` (B, input_size) -> (y (B, output_size), aux loss)."""

    def __init__(self, input_size, output_size, num_experts, hidden_size, noisy_gating=True, k=4, log_space=False):
        super(MoE, self).__init__()  # noqa: UP008
        self.noisy_gating = noisy_gating
        self.num_experts = num_experts
        self.output_size = output_size
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.k = k
        self.log_space = log_space
        # instantiate experts
        self.experts = nn.ModuleList([MLP(self.input_size, self.output_size, self.hidden_size, log_softmax=log_space)
                                      for i in range(self.num_experts)])
        self.w_gate = nn.Parameter(torch.zeros(input_size, num_experts), requires_grad=True)
        self.w_noise = nn.Parameter(torch.zeros(input_size, num_experts), requires_grad=True)

        self.softplus = nn.Softplus()
        self.softmax = nn.Softmax(1)
        self.register_buffer("mean", torch.tensor([0.0]))
        self.register_buffer("std", torch.tensor([1.0]))
        assert self.k <= self.num_experts
        self.last = {}

    def cv_squared(self, x):
        """The squared coefficient of variation of a sample: a loss that pushes toward a uniform distribution."""
        eps = 1e-10
        # if only num_experts = 1
        if x.shape[0] == 1:
            return torch.tensor([0], device=x.device, dtype=x.dtype)
        return x.float().var() / (x.float().mean()**2 + eps)

    def _gates_to_load(self, gates):
        """Compute the true load per expert, given the gates."""
        return (gates > 0).sum(0)

    def _prob_in_top_k(self, clean_values, noisy_values, noise_stddev, noisy_top_values):
        """The probability that each value is in the top k, were its noise drawn again (a differentiable load)."""
        batch = clean_values.size(0)
        m = noisy_top_values.size(1)
        top_values_flat = noisy_top_values.flatten()

        threshold_positions_if_in = torch.arange(batch, device=clean_values.device) * m + self.k
        threshold_if_in = torch.unsqueeze(torch.gather(top_values_flat, 0, threshold_positions_if_in), 1)
        is_in = torch.gt(noisy_values, threshold_if_in)
        threshold_positions_if_out = threshold_positions_if_in - 1
        threshold_if_out = torch.unsqueeze(torch.gather(top_values_flat, 0, threshold_positions_if_out), 1)
        # is each value currently in the top k.
        normal = Normal(self.mean, self.std)
        prob_if_in = normal.cdf((clean_values - threshold_if_in) / noise_stddev)
        prob_if_out = normal.cdf((clean_values - threshold_if_out) / noise_stddev)
        prob = torch.where(is_in, prob_if_in, prob_if_out)
        return prob

    def noisy_top_k_gating(self, x, train, noise_epsilon=1e-2, noise=None):
        """Gates (B, num_experts), k nonzero per row, and the load (num_experts,)."""
        clean_logits = x @ self.w_gate
        if self.noisy_gating and train:
            raw_noise_stddev = x @ self.w_noise
            noise_stddev = ((self.softplus(raw_noise_stddev) + noise_epsilon))  # noqa: UP034
            if noise is None:
                noise = torch.randn_like(clean_logits)
            noisy_logits = clean_logits + (noise * noise_stddev)
            logits = noisy_logits
        else:
            logits = clean_logits

        # calculate topk + 1 that will be needed for the noisy gates
        top_logits, top_indices = logits.topk(min(self.k + 1, self.num_experts), dim=1)
        top_k_logits = top_logits[:, :self.k]
        top_k_indices = top_indices[:, :self.k]
        top_k_gates = self.softmax(top_k_logits)

        zeros = torch.zeros_like(logits, requires_grad=True)
        gates = zeros.scatter(1, top_k_indices, top_k_gates)

        if self.noisy_gating and self.k < self.num_experts and train:
            load = (self._prob_in_top_k(clean_logits, noisy_logits, noise_stddev, top_logits)).sum(0)
        else:
            load = self._gates_to_load(gates)
        return gates, load

    def forward(self, x, loss_coef=1e-2, noise=None):
        gates, load = self.noisy_top_k_gating(x, self.training, noise=noise)
        # calculate importance loss
        importance = gates.sum(0)
        loss = self.cv_squared(importance) + self.cv_squared(load)
        loss *= loss_coef

        dispatcher = SparseDispatcher(self.num_experts, gates)
        expert_inputs = dispatcher.dispatch(x)
        gates = dispatcher.expert_to_gates()
        expert_outputs = [self.experts[i](expert_inputs[i]) for i in range(self.num_experts)]
        y = dispatcher.combine(expert_outputs, log_space=self.log_space)
        self.last = {"gates": dispatcher._gates, "load": load, "importance": importance,
                     "part_sizes": dispatcher._part_sizes, "expert_outputs": expert_outputs}
        return y, loss


class SwitchFFN(nn.Module):
    """Top-1 routing with a capacity: ``forward(x)`` (tokens, d_model) -> (out (tokens, d_model), aux loss)."""

    def __init__(self, d_model, d_ff, num_experts, capacity_factor=1.0):
        super().__init__()
        self.num_experts = num_experts
        self.capacity_factor = capacity_factor
        self.router = nn.Linear(d_model, num_experts, bias=False)
        self.experts = nn.ModuleList([nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
                                      for _ in range(num_experts)])
        self.last = {}

    def forward(self, x):
        num_tokens = x.shape[0]
        capacity = int(self.capacity_factor * num_tokens / self.num_experts)
        route_prob = F.softmax(self.router(x), dim=-1)
        expert_gate, expert_index = torch.max(route_prob, dim=-1)
        expert_mask = F.one_hot(expert_index, self.num_experts)

        # load balancing loss: fraction of tokens times fraction of router probability, per expert
        frac_tokens = expert_mask.float().mean(0)
        frac_probs = route_prob.mean(0)
        aux_loss = self.num_experts * torch.sum(frac_tokens * frac_probs)

        position_in_expert = torch.cumsum(expert_mask, dim=0) * expert_mask
        expert_mask = expert_mask * torch.le(position_in_expert, capacity)
        kept = expert_mask.sum(-1)

        out = torch.zeros_like(x)
        for i, expert in enumerate(self.experts):
            idx = torch.nonzero(expert_mask[:, i]).squeeze(-1)
            out[idx] = expert(x[idx])
        out = out * expert_gate.unsqueeze(-1)
        # dropped tokens skip the layer
        dropped = (kept == 0).unsqueeze(-1)
        out = torch.where(dropped, x, out)
        self.last = {"route_prob": route_prob, "expert_index": expert_index, "tokens": expert_mask.sum(0),
                     "position": position_in_expert, "dropped": int((kept == 0).sum())}
        return out, aux_loss


class SwitchClassifier(nn.Module):
    def __init__(self, input_size, num_classes, d_model=16, d_ff=32, num_experts=4, capacity_factor=1.0):
        super().__init__()
        self.embed = nn.Linear(input_size, d_model)
        self.switch = SwitchFFN(d_model, d_ff, num_experts, capacity_factor)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x):
        h = self.embed(x)
        out, aux_loss = self.switch(h)
        h = self.norm(h + out)
        return self.head(h), aux_loss


def grad_norm(model):
    """The global 2-norm over the parameters that have a gradient, and how many have one."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return torch.norm(torch.stack([g.norm(2) for g in grads]), 2).item(), len(grads)


def moe_step(model, x, labels, noise):
    """One forward of either MoE model: (task loss, aux loss, the dict of what the step recorded)."""
    if isinstance(model, MoE):
        y_hat, aux_loss = model(x, noise=noise)
        # the old log-space experts give log-probabilities; the newer ones probabilities, fed to CrossEntropyLoss
        loss = F.nll_loss(y_hat, labels) if model.log_space else nn.CrossEntropyLoss()(y_hat, labels)
        last = model.last
        rec = {"gates": last["gates"], "load": last["load"], "importance": last["importance"],
               "part_sizes": last["part_sizes"], "expert_out": [o.sum(0) for o in last["expert_outputs"]]}
    else:
        y_hat, aux_loss = model(x)
        loss = F.cross_entropy(y_hat, labels)
        last = model.switch.last
        rec = {"gates": last["route_prob"], "load": last["tokens"], "position": last["position"],
               "part_sizes": last["tokens"].tolist(), "dropped": last["dropped"]}
    return loss, aux_loss, rec


def train_moe(model, batches, noises=None, lr=1e-2, stop_at=None, resume_from=None, make=None):
    """Adam on task loss + aux loss over ``batches`` [(x (B, d) float32, labels (B,) int64)] (numpy), with the
    gating noise of each step (numpy, or None to draw it). ``stop_at``: save a checkpoint after that many steps and
    return it as ``history["checkpoint"]``; ``resume_from``: a checkpoint (bytes) loaded into ``make()`` (``model``
    is then unused) and a fresh Adam, trained on from its step."""
    start = 0
    if resume_from is not None:
        checkpoint = torch.load(io.BytesIO(resume_from))
        model = make()
        model.load_state_dict(checkpoint["model"])
    optimizer = Adam(model.parameters(), lr=lr)
    if resume_from is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        start = checkpoint["step"]
    history = {k: [] for k in ("loss", "aux", "norm", "n_grads", "gates", "load", "importance", "part_sizes",
                               "expert_out", "position", "dropped")}
    model.train()
    for step in range(start, len(batches)):
        x, labels = batches[step]
        noise = None if noises is None else torch.tensor(noises[step])
        loss, aux_loss, rec = moe_step(model, torch.tensor(x), torch.tensor(labels), noise)
        total_loss = loss + aux_loss.squeeze()
        optimizer.zero_grad()
        total_loss.backward()
        norm, n_grads = grad_norm(model)
        optimizer.step()
        history["loss"].append(loss.item())
        history["aux"].append(aux_loss.item())
        history["norm"].append(norm)
        history["n_grads"].append(n_grads)
        for key, value in rec.items():
            if isinstance(value, list) and value and torch.is_tensor(value[0]):
                value = [v.detach().numpy().copy() for v in value]
            elif torch.is_tensor(value):
                value = value.detach().numpy().copy()
            history[key].append(value)
        if stop_at is not None and step + 1 == stop_at:
            buffer = io.BytesIO()
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step + 1}, buffer)
            history["checkpoint"] = buffer.getvalue()
            break
    model.eval()
    with torch.no_grad():
        x, labels = batches[-1]
        out, _ = model(torch.tensor(x))
        history["eval_pred"] = out.argmax(1).numpy()
    history["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return history


# ---- Forward-Forward (pytorch/examples mnist_forward_forward) ----

def overlay_y_on_x(x, y):
    """Replace the first 10 pixels of data [x] with one-hot-encoded label [y]
    """
    x_ = x.clone()
    x_[:, :10] *= 0.0
    x_[range(x.shape[0]), y] = x.max()
    return x_


class Net(torch.nn.Module):

    def __init__(self, dims, num_epochs=1000):
        super().__init__()
        self.layers = []
        for d in range(len(dims) - 1):
            self.layers += [Layer(dims[d], dims[d + 1], num_epochs=num_epochs)]

    def predict(self, x):
        goodness_per_label = []
        for label in range(10):
            h = overlay_y_on_x(x, label)
            goodness = []
            for layer in self.layers:
                h = layer(h)
                goodness += [h.pow(2).mean(1)]
            goodness_per_label += [sum(goodness).unsqueeze(1)]
        goodness_per_label = torch.cat(goodness_per_label, 1)
        self.goodness_per_label = goodness_per_label
        return goodness_per_label.argmax(1)

    def train(self, x_pos, x_neg):
        h_pos, h_neg = x_pos, x_neg
        for i, layer in enumerate(self.layers):
            print('training layer', i, '...')
            h_pos, h_neg = layer.train(h_pos, h_neg)


class Layer(nn.Linear):
    def __init__(self, in_features, out_features,
                 bias=True, device=None, dtype=None, num_epochs=1000):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.relu = torch.nn.ReLU()
        self.opt = Adam(self.parameters(), lr=0.03)
        self.threshold = 2.0
        self.num_epochs = num_epochs
        self.log = []

    def forward(self, x):
        x_direction = x / (x.norm(2, 1, keepdim=True) + 1e-4)
        return self.relu(
            torch.mm(x_direction, self.weight.T) +
            self.bias.unsqueeze(0))

    def train(self, x_pos, x_neg):
        for i in range(self.num_epochs):  # noqa: B007 - the example's tqdm loop
            g_pos = self.forward(x_pos).pow(2).mean(1)
            g_neg = self.forward(x_neg).pow(2).mean(1)
            # The following loss pushes pos (neg) samples to
            # values larger (smaller) than the self.threshold.
            loss = torch.log(1 + torch.exp(torch.cat([
                -g_pos + self.threshold,
                g_neg - self.threshold]))).mean()
            self.opt.zero_grad()
            # this backward just compute the derivative and hence
            # is not considered backpropagation.
            loss.backward()
            self.log.append((loss.item(), g_pos.mean().item(), g_neg.mean().item(),
                             self.weight.grad.norm().item()))
            self.opt.step()
        return self.forward(x_pos).detach(), self.forward(x_neg).detach()


def forward_forward(net, x, y, x_te, y_te, perm=None):
    """pytorch/examples' main on numpy data: x (N, D) float32, y (N,) int64. ``perm`` (N,) picks the wrong labels
    (``torch.randperm`` when None). Returns the layers' logs, the goodness per label and the error rates."""
    x, y = torch.tensor(x), torch.tensor(y)
    x_te, y_te = torch.tensor(x_te), torch.tensor(y_te)
    x_pos = overlay_y_on_x(x, y)
    rnd = torch.randperm(x.size(0)) if perm is None else torch.tensor(perm)
    x_neg = overlay_y_on_x(x, y[rnd])
    net.train(x_pos, x_neg)

    train_error = 1.0 - net.predict(x).eq(y).float().mean().item()
    print('train error:', train_error)
    goodness = net.goodness_per_label.detach().numpy().copy()
    test_error = 1.0 - net.predict(x_te).eq(y_te).float().mean().item()
    print('test error:', test_error)
    return {"log": [layer.log for layer in net.layers], "goodness": goodness, "train_error": train_error,
            "test_error": test_error, "x_neg": x_neg.numpy(),
            "params": [{k: v.detach().numpy().copy() for k, v in layer.state_dict().items()} for layer in net.layers]}
