"""MADE and a Masked Autoregressive Flow written as ordinary PyTorch code, the way karpathy/pytorch-made (2018) and
ikostrikov/pytorch-flows (2018-2019) write them. karpathy's ``MaskedLinear(nn.Linear)`` keeps its mask in a float
buffer filled by ``set_mask`` from a numpy bool array (``astype(np.uint8).T``), and ``MADE`` draws its degrees with
a seeded ``np.random.RandomState`` (``permutation`` / ``randint``), resampling among ``num_masks`` orderings; it is
trained by BCE-with-logits on binarized data (``size_average=False``) and sampled feature by feature through
``torch.sigmoid``. ikostrikov's flow: ``get_mask`` from ``torch.arange`` degrees, a ``MaskedLinear`` holding an
``nn.Linear`` and a conditioning ``cond_linear``, the ``MADE`` block (``direct``: one pass; ``inverse``: a loop over
features writing ``x[:, i_col]``), ``BatchNormFlow`` with running buffers, ``Reverse``, ``FlowSequential`` with
``log_probs`` and ``sample``, orthogonal init, and main.py's loop (Adam with weight decay, the BatchNormFlow
``momentum = 0`` pass over the training set after each epoch, validation under ``no_grad``, the best model by
``copy.deepcopy``). Changes for the harness: the data are numpy's, batches are not shuffled, sampling noise is fed,
and the loops return what they measured."""

import copy
import io
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.autograd import Variable

# ---------------------------------------------------------------- karpathy/pytorch-made


class MaskedLinear(nn.Linear):
    """ same as Linear except has a configurable mask on the weights """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__(in_features, out_features, bias)
        self.register_buffer('mask', torch.ones(out_features, in_features))

    def set_mask(self, mask):
        self.mask.data.copy_(torch.from_numpy(mask.astype(np.uint8).T))

    def forward(self, input):  # noqa: A002 - karpathy's spelling
        return F.linear(input, self.mask * self.weight, self.bias)


class MADE(nn.Module):
    def __init__(self, nin, hidden_sizes, nout, num_masks=1, natural_ordering=False):
        super().__init__()
        self.nin = nin
        self.nout = nout
        self.hidden_sizes = hidden_sizes
        assert self.nout % self.nin == 0, "nout must be integer multiple of nin"

        self.net = []
        hs = [nin] + hidden_sizes + [nout]
        for h0, h1 in zip(hs, hs[1:]):
            self.net.extend([
                MaskedLinear(h0, h1),
                nn.ReLU(),
            ])
        self.net.pop()  # pop the last ReLU for the output layer
        self.net = nn.Sequential(*self.net)

        self.natural_ordering = natural_ordering
        self.num_masks = num_masks
        self.seed = 0  # for cycling through num_masks orderings

        self.m = {}
        self.update_masks()  # builds the initial self.m connectivity

    def update_masks(self):
        if self.m and self.num_masks == 1:
            return  # only a single seed, skip for efficiency
        L = len(self.hidden_sizes)

        rng = np.random.RandomState(self.seed)
        self.seed = (self.seed + 1) % self.num_masks

        self.m[-1] = np.arange(self.nin) if self.natural_ordering else rng.permutation(self.nin)
        for l in range(L):
            self.m[l] = rng.randint(self.m[l - 1].min(), self.nin - 1, size=self.hidden_sizes[l])

        masks = [self.m[l - 1][:, None] <= self.m[l][None, :] for l in range(L)]
        masks.append(self.m[L - 1][:, None] < self.m[-1][None, :])

        if self.nout > self.nin:
            k = int(self.nout / self.nin)
            masks[-1] = np.concatenate([masks[-1]] * k, axis=1)

        layers = [l for l in self.net.modules() if isinstance(l, MaskedLinear)]
        for l, m in zip(layers, masks):
            l.set_mask(m)

    def forward(self, x):
        return self.net(x)


def binary_data(n, d=4, seed=0):
    """(n, d) float32 of 0 / 1: a noisy copy chain (each bit repeats the one before it with probability 0.8)."""
    rng = np.random.RandomState(seed)
    x = np.zeros((n, d), np.float32)
    x[:, 0] = rng.rand(n) < 0.5
    for i in range(1, d):
        x[:, i] = np.where(rng.rand(n) < 0.8, x[:, i - 1], 1 - x[:, i - 1])
    return x


def run_made(model, epochs=3, samples=2, resample_every=2, seed=0):
    """run.py's loop: per-epoch train and test losses, each step's loss and gradient norm, the masks after each
    epoch, the learning rates, and bits sampled in ``model.m[-1]``'s order from fed uniforms."""
    xtr = torch.from_numpy(binary_data(400, seed=seed))
    xte = torch.from_numpy(binary_data(200, seed=seed + 1))
    opt = torch.optim.Adam(model.parameters(), 1e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    out = {"loss": [], "grad_norm": [], "train": [], "test": [], "lr": [], "masks": []}

    def run_epoch(split, upto=None):
        torch.set_grad_enabled(split == 'train')
        model.train() if split == 'train' else model.eval()
        nsamples = 1 if split == 'train' else samples
        x = xtr if split == 'train' else xte
        N, D = x.size()  # noqa: RUF059
        B = 100
        n_steps = N // B if upto is None else min(N // B, upto)
        losses = []
        for step in range(n_steps):
            xb = Variable(x[step * B: step * B + B])
            xbhat = torch.zeros_like(xb)
            for s in range(nsamples):  # noqa: B007
                if step % resample_every == 0 or split == 'test':
                    model.update_masks()
                xbhat += model(xb)
            xbhat /= nsamples
            loss = F.binary_cross_entropy_with_logits(xbhat, xb, size_average=False) / B
            lossf = loss.data.item()
            losses.append(lossf)
            if split == 'train':
                opt.zero_grad()
                loss.backward()
                out["grad_norm"].append(math.sqrt(sum(p.grad.data.norm() ** 2 for p in model.parameters())))
                opt.step()
                out["loss"].append(lossf)
        print("%s epoch average loss: %f" % (split, np.mean(losses)))  # noqa: UP031
        out[split].append(float(np.mean(losses)))

    run_epoch('test', upto=2)
    for _epoch in range(epochs):
        run_epoch('train')
        scheduler.step()
        out["lr"].append(opt.param_groups[0]['lr'])
        run_epoch('test', upto=2)
        out["masks"].append([l.mask.numpy().copy() for l in model.net.modules() if isinstance(l, MaskedLinear)])
    torch.set_grad_enabled(True)

    uniforms = torch.from_numpy(np.random.RandomState(seed + 2).rand(8, model.nin).astype(np.float32))
    with torch.no_grad():
        x = torch.zeros(8, model.nin)
        for i in np.argsort(model.m[-1]):
            p = torch.sigmoid(model(x)[:, i])
            x[:, i] = (uniforms[:, i] < p).float()
    out["samples"] = x.numpy().copy()
    out["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return out


# ---------------------------------------------------------------- ikostrikov/pytorch-flows


def get_mask(in_features, out_features, in_flow_features, mask_type=None):
    """
    mask_type: input | None | output

    See Figure 1 for a better illustration:
    https://arxiv.org/pdf/1502.03509.pdf
    """
    if mask_type == 'input':
        in_degrees = torch.arange(in_features) % in_flow_features
    else:
        in_degrees = torch.arange(in_features) % (in_flow_features - 1)

    if mask_type == 'output':
        out_degrees = torch.arange(out_features) % in_flow_features - 1
    else:
        out_degrees = torch.arange(out_features) % (in_flow_features - 1)

    return (out_degrees.unsqueeze(-1) >= in_degrees.unsqueeze(0)).float()


class FlowMaskedLinear(nn.Module):
    def __init__(self, in_features, out_features, mask, cond_in_features=None, bias=True):
        super(FlowMaskedLinear, self).__init__()  # noqa: UP008 - ikostrikov's spelling
        self.linear = nn.Linear(in_features, out_features)
        if cond_in_features is not None:
            self.cond_linear = nn.Linear(cond_in_features, out_features, bias=False)

        self.register_buffer('mask', mask)

    def forward(self, inputs, cond_inputs=None):
        output = F.linear(inputs, self.linear.weight * self.mask, self.linear.bias)
        if cond_inputs is not None:
            output += self.cond_linear(cond_inputs)
        return output


class FlowMADE(nn.Module):
    """ An implementation of MADE
    (https://arxiv.org/abs/1502.03509s).
    """

    def __init__(self, num_inputs, num_hidden, num_cond_inputs=None, act='relu'):
        super(FlowMADE, self).__init__()  # noqa: UP008

        activations = {'relu': nn.ReLU, 'sigmoid': nn.Sigmoid, 'tanh': nn.Tanh}
        act_func = activations[act]

        input_mask = get_mask(num_inputs, num_hidden, num_inputs, mask_type='input')
        hidden_mask = get_mask(num_hidden, num_hidden, num_inputs)
        output_mask = get_mask(num_hidden, num_inputs * 2, num_inputs, mask_type='output')

        self.joiner = FlowMaskedLinear(num_inputs, num_hidden, input_mask, num_cond_inputs)

        self.trunk = nn.Sequential(act_func(),
                                   FlowMaskedLinear(num_hidden, num_hidden, hidden_mask), act_func(),
                                   FlowMaskedLinear(num_hidden, num_inputs * 2, output_mask))

    def forward(self, inputs, cond_inputs=None, mode='direct'):
        if mode == 'direct':
            h = self.joiner(inputs, cond_inputs)
            m, a = self.trunk(h).chunk(2, 1)
            u = (inputs - m) * torch.exp(-a)
            return u, -a.sum(-1, keepdim=True)

        else:
            x = torch.zeros_like(inputs)
            for i_col in range(inputs.shape[1]):
                h = self.joiner(x, cond_inputs)
                m, a = self.trunk(h).chunk(2, 1)
                x[:, i_col] = inputs[:, i_col] * torch.exp(a[:, i_col]) + m[:, i_col]
            return x, -a.sum(-1, keepdim=True)


class BatchNormFlow(nn.Module):
    """ An implementation of a batch normalization layer from
    Density estimation using Real NVP
    (https://arxiv.org/abs/1605.08803).
    """

    def __init__(self, num_inputs, momentum=0.0, eps=1e-5):
        super(BatchNormFlow, self).__init__()  # noqa: UP008

        self.log_gamma = nn.Parameter(torch.zeros(num_inputs))
        self.beta = nn.Parameter(torch.zeros(num_inputs))
        self.momentum = momentum
        self.eps = eps

        self.register_buffer('running_mean', torch.zeros(num_inputs))
        self.register_buffer('running_var', torch.ones(num_inputs))

    def forward(self, inputs, cond_inputs=None, mode='direct'):
        if mode == 'direct':
            if self.training:
                self.batch_mean = inputs.mean(0)
                self.batch_var = (inputs - self.batch_mean).pow(2).mean(0) + self.eps

                self.running_mean.mul_(self.momentum)
                self.running_var.mul_(self.momentum)

                self.running_mean.add_(self.batch_mean.data * (1 - self.momentum))
                self.running_var.add_(self.batch_var.data * (1 - self.momentum))

                mean = self.batch_mean
                var = self.batch_var
            else:
                mean = self.running_mean
                var = self.running_var

            x_hat = (inputs - mean) / var.sqrt()
            y = torch.exp(self.log_gamma) * x_hat + self.beta
            return y, (self.log_gamma - 0.5 * torch.log(var)).sum(-1, keepdim=True)
        else:
            if self.training:
                mean = self.batch_mean
                var = self.batch_var
            else:
                mean = self.running_mean
                var = self.running_var

            x_hat = (inputs - self.beta) / torch.exp(self.log_gamma)

            y = x_hat * var.sqrt() + mean

            return y, (-self.log_gamma + 0.5 * torch.log(var)).sum(-1, keepdim=True)


class Reverse(nn.Module):
    """ An implementation of a reversing layer from
    Density estimation using Real NVP
    (https://arxiv.org/abs/1605.08803).
    """

    def __init__(self, num_inputs):
        super(Reverse, self).__init__()  # noqa: UP008
        self.perm = np.array(np.arange(0, num_inputs)[::-1])
        self.inv_perm = np.argsort(self.perm)

    def forward(self, inputs, cond_inputs=None, mode='direct'):
        if mode == 'direct':
            return inputs[:, self.perm], torch.zeros(inputs.size(0), 1, device=inputs.device)
        else:
            return inputs[:, self.inv_perm], torch.zeros(inputs.size(0), 1, device=inputs.device)


class FlowSequential(nn.Sequential):
    """ A sequential container for flows.
    In addition to a forward pass it implements a backward pass and
    computes log jacobians.
    """

    def forward(self, inputs, cond_inputs=None, mode='direct', logdets=None):
        """ Performs a forward or backward pass for flow modules.
        Args:
            inputs: a tuple of inputs and logdets
            mode: to run direct computation or inverse
        """
        self.num_inputs = inputs.size(-1)

        if logdets is None:
            logdets = torch.zeros(inputs.size(0), 1, device=inputs.device)

        assert mode in ['direct', 'inverse']
        if mode == 'direct':
            for module in self._modules.values():
                inputs, logdet = module(inputs, cond_inputs)
                logdets += logdet
        else:
            for module in reversed(self._modules.values()):
                inputs, logdet = module(inputs, cond_inputs, mode)
                logdets += logdet

        return inputs, logdets

    def log_probs(self, inputs, cond_inputs=None):
        u, log_jacob = self(inputs, cond_inputs)
        log_probs = (-0.5 * u.pow(2) - 0.5 * math.log(2 * math.pi)).sum(
            -1, keepdim=True)
        return (log_probs + log_jacob).sum(-1, keepdim=True)

    def sample(self, num_samples=None, noise=None, cond_inputs=None):
        if noise is None:
            noise = torch.Tensor(num_samples, self.num_inputs).normal_()
        device = next(self.parameters()).device
        noise = noise.to(device)
        if cond_inputs is not None:
            cond_inputs = cond_inputs.to(device)
        samples = self.forward(noise, cond_inputs, mode='inverse')[0]
        return samples


def make_maf(num_inputs=2, num_hidden=16, num_blocks=2):
    modules = []
    for _ in range(num_blocks):
        modules += [
            FlowMADE(num_inputs, num_hidden, None, act='relu'),
            BatchNormFlow(num_inputs),
            Reverse(num_inputs)
        ]
    model = FlowSequential(*modules)

    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.orthogonal_(module.weight)
            if hasattr(module, 'bias') and module.bias is not None:
                module.bias.data.fill_(0)
    return model


def flow_data(n, d=2, seed=0):
    """(n, d) float32: a banana (the second coordinate bends with the first's square), then correlated noise."""
    rng = np.random.RandomState(seed)
    x = rng.randn(n, d).astype(np.float32)
    x[:, 1] = 0.5 * x[:, 1] + 0.5 * x[:, 0] ** 2 - 0.5
    for i in range(2, d):
        x[:, i] += 0.7 * x[:, i - 1]
    return x


def run_maf(model, epochs=4, batch_size=64, lr=1e-4, resume_at=None, d=2, seed=0):
    """main.py's loop on ``d``-D data: each step's loss, log-det and gradient norm; per epoch the BatchNormFlow
    running stats, the validation log-likelihood; the best model's test loss and samples from fed noise. With
    ``resume_at`` the run stops after that many epochs, saves a checkpoint and goes on in fresh objects."""
    train_tensor = torch.from_numpy(flow_data(320, d, seed))
    valid_tensor = torch.from_numpy(flow_data(128, d, seed + 1))
    test_tensor = torch.from_numpy(flow_data(128, d, seed + 2))
    train_dataset = torch.utils.data.TensorDataset(train_tensor)
    train_loader = torch.utils.data.DataLoader(train_dataset, batch_size=batch_size, shuffle=False)
    valid_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(valid_tensor), batch_size=64)
    test_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(test_tensor), batch_size=64)
    optimizer = optim.Adam(model.parameters(), lr=lr, weight_decay=1e-6)
    out = {"loss": [], "logdet": [], "grad_norm": [], "running": [], "valid": [], "train_loss": []}

    def train(epoch):
        model.train()
        train_loss = 0
        for batch_idx, data in enumerate(train_loader):  # noqa: B007
            if isinstance(data, list):
                data = data[0]
            optimizer.zero_grad()
            loss = -model.log_probs(data).mean()
            train_loss += loss.item()
            loss.backward()
            out["loss"].append(loss.item())
            out["logdet"].append(model(data)[1].mean().item())
            out["grad_norm"].append(nn.utils.clip_grad_norm_(model.parameters(), float('inf')).item())
            optimizer.step()
        out["train_loss"].append(train_loss / len(train_loader))

        for module in model.modules():
            if isinstance(module, BatchNormFlow):
                module.momentum = 0

        with torch.no_grad():
            model(train_loader.dataset.tensors[0].to(data.device))

        for module in model.modules():
            if isinstance(module, BatchNormFlow):
                module.momentum = 1
        out["running"].append([b.numpy().copy() for n, b in model.named_buffers() if n.endswith(('_mean', '_var'))])

    def validate(epoch, model, loader, prefix='Validation'):
        model.eval()
        val_loss = 0
        for batch_idx, data in enumerate(loader):  # noqa: B007
            if isinstance(data, list):
                data = data[0]
            with torch.no_grad():
                val_loss += -model.log_probs(data).sum().item()  # sum up batch loss
        print('{} set: Average loss: {:.4f}'.format(prefix, val_loss / len(loader.dataset)))  # noqa: UP032
        return val_loss / len(loader.dataset)

    best_validation_loss = float('inf')
    best_validation_epoch = 0
    best_model = model
    epoch = 0
    while epoch < epochs:
        if resume_at is not None and epoch == resume_at:
            buffer = io.BytesIO()
            torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'epoch': epoch,
                        'best': best_model.state_dict(), 'best_loss': best_validation_loss,
                        'best_epoch': best_validation_epoch}, buffer)
            buffer.seek(0)
            checkpoint = torch.load(buffer)
            model = make_maf(d, model[0].joiner.linear.out_features, len(model) // 3)
            model.load_state_dict(checkpoint['model'])
            for module in model.modules():
                if isinstance(module, BatchNormFlow):
                    module.momentum = 1
            optimizer = optim.Adam(model.parameters(), lr=lr, weight_decay=1e-6)
            optimizer.load_state_dict(checkpoint['optimizer'])
            best_model = copy.deepcopy(model)
            best_model.load_state_dict(checkpoint['best'])
            best_validation_loss, best_validation_epoch = checkpoint['best_loss'], checkpoint['best_epoch']
            resume_at = None
        train(epoch)
        validation_loss = validate(epoch, model, valid_loader)
        out["valid"].append(validation_loss)
        if validation_loss < best_validation_loss:
            best_validation_epoch = epoch
            best_validation_loss = validation_loss
            best_model = copy.deepcopy(model)
        epoch += 1

    out["best_epoch"] = best_validation_epoch
    out["test"] = validate(best_validation_epoch, best_model, test_loader, prefix='Test')
    noise = torch.from_numpy(np.random.RandomState(seed + 3).randn(16, d).astype(np.float32))
    best_model.eval()
    with torch.no_grad():
        out["samples"] = best_model.sample(16, noise=noise).numpy().copy()
        u, logdet = best_model(best_model.sample(16, noise=noise))
    out["roundtrip"] = (u - noise).abs().max().item()
    out["sample_logdet"] = logdet.numpy().copy()
    out["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return out
