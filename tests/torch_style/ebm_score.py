# ruff: noqa: A002, B007, B018, N802, SIM108, UP008, UP032 - the repositories' own spellings
"""Energy-based models and score matching written as their public PyTorch repositories write them, shrunk to tiny
nets and synthetic numpy data.

- JEM (wgrathwohl/JEM): ``F`` / ``CCF`` over a small conv net, ``energy = -logsumexp(logits, 1)`` through
  ``logits.logsumexp(1)``, ``init_random``, ``sample_p_0`` (a replay buffer indexed by ``randint`` and re-initialised
  where ``rand(bs) < reinit_freq``), ``sample_q``'s SGLD (``x_k.detach().requires_grad_(True)``, ``autograd.grad(...,
  retain_graph=True)``, ``x_k.data += sgld_lr * f_prime + sgld_std * noise``, ``clamp_``), the contrastive loss
  ``fp.mean() - fq.mean()`` plus the class cross-entropy and an L2 energy regulariser, Adam under a warmup LambdaLR.
- IGEBM (rosinality/igebm-pytorch): spectral-normed convs with LeakyReLU, a class-conditional energy, the sample
  buffer, Langevin steps written through ``neg_img.data.add_`` / ``neg_img.grad.data.clamp_`` / ``grad.zero_()`` /
  ``data.clamp_(0, 1)`` with ``requires_grad`` toggled on the parameters, the ``alpha * (pos**2 + neg**2) + pos -
  neg`` loss and ``clip_grad`` bounding gradients by Adam's ``step`` / ``exp_avg_sq`` state (``parameters`` is the
  repository's ``model.parameters()`` generator, spent by Adam, so the toggles do nothing, as there).
- Score matching on 2-D toy data (ermongroup/sliced_score_matching, ermongroup/ncsn): ``dsm_score_estimation``,
  ``sliced_score_estimation`` (and the variance-reduced one), exact ``score_matching`` with the Jacobian trace by a
  loop of ``autograd.grad(create_graph=True)``, a noise-conditional score net dividing by ``sigmas[labels]``,
  ``anneal_dsm_score_estimation`` and ``anneal_Langevin_dynamics`` over a geometric sigma schedule.

Changes for a tiny deterministic run: every random draw the repositories make with ``torch.randn`` / ``rand`` /
``randint`` is handed in from numpy (``noise=`` / ``draws=`` arguments defaulting to the torch draw), so both
libraries see the same numbers; ``history`` records what the test compares."""

import math

import numpy as np
import torch
import torch.nn.functional as tnnF
from torch import autograd, nn, optim


# ---------------------------------------------------------------------------------------------------- JEM
class TinyConvNet(nn.Module):
    """Stands in for JEM's Wide_ResNet: two convs, leaky ReLU, global average pool; ``last_dim`` features."""

    def __init__(self, in_channels=1, width=8):
        super(TinyConvNet, self).__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width * 2, 3, stride=2, padding=1)
        self.last_dim = width * 2

    def forward(self, x):
        out = tnnF.leaky_relu(self.conv1(x), 0.2)
        out = tnnF.leaky_relu(self.conv2(out), 0.2)
        return tnnF.adaptive_avg_pool2d(out, 1).view(out.size(0), -1)


class F(nn.Module):
    def __init__(self, n_classes=3):
        super(F, self).__init__()
        self.f = TinyConvNet()
        self.energy_output = nn.Linear(self.f.last_dim, 1)
        self.class_output = nn.Linear(self.f.last_dim, n_classes)

    def forward(self, x, y=None):
        penult_z = self.f(x)
        return self.energy_output(penult_z).squeeze()

    def classify(self, x):
        penult_z = self.f(x)
        return self.class_output(penult_z).squeeze()


class CCF(F):
    def __init__(self, n_classes=3):
        super(CCF, self).__init__(n_classes=n_classes)

    def forward(self, x, y=None):
        logits = self.classify(x)
        if y is None:
            return logits.logsumexp(1)
        else:
            return torch.gather(logits, 1, y[:, None])


def energy(f, x):
    """The energy as the README writes it: ``-logsumexp`` of the logits (``f(x)`` is its negative)."""
    return -torch.logsumexp(f.classify(x), 1)


def init_random(bs, draws=None):
    if draws is None:
        return torch.FloatTensor(bs, 1, 8, 8).uniform_(-1, 1)
    return torch.from_numpy(draws)


def sample_p_0(replay_buffer, bs, args, rng, y=None):
    """The buffer's samples, each re-initialised with probability ``reinit_freq`` (the ``rand`` handed in)."""
    if len(replay_buffer) == 0:
        return init_random(bs, rng.uniform(-1, 1, (bs, 1, 8, 8)).astype(np.float32)), []
    buffer_size = len(replay_buffer) if y is None else len(replay_buffer) // args["n_classes"]
    inds = torch.from_numpy(rng.integers(0, buffer_size, (bs,)))
    if y is not None:
        inds = y.cpu() * buffer_size + inds
    buffer_samples = replay_buffer[inds]
    random_samples = init_random(bs, rng.uniform(-1, 1, (bs, 1, 8, 8)).astype(np.float32))
    rand = torch.from_numpy(rng.random(bs).astype(np.float32))  # t.rand(bs)
    choose_random = (rand < args["reinit_freq"]).float()[:, None, None, None]
    samples = choose_random * random_samples + (1 - choose_random) * buffer_samples
    return samples, inds


def sample_q(f, replay_buffer, args, rng, history, y=None, n_steps=None):
    """SGLD from the buffer: ``n_steps`` gradient steps on ``f`` with noise, written through ``x_k.data``."""
    n_steps = args["n_steps"] if n_steps is None else n_steps
    f.eval()
    bs = args["batch_size"] if y is None else y.size(0)
    init_sample, buffer_inds = sample_p_0(replay_buffer, bs=bs, args=args, rng=rng, y=y)
    x_k = init_sample.detach().requires_grad_(True)
    for k in range(n_steps):
        f_prime = torch.autograd.grad(f(x_k, y=y).sum(), [x_k], retain_graph=True)[0]
        noise = torch.from_numpy(rng.standard_normal(x_k.shape).astype(np.float32))
        x_k.data += args["sgld_lr"] * f_prime + args["sgld_std"] * noise
        x_k.data.clamp_(-1, 1)
        history["sgld_grad"].append(f_prime.norm().item())
    f.train()
    final_samples = x_k.detach()
    if len(replay_buffer) > 0:
        replay_buffer[buffer_inds] = final_samples.cpu()
    return final_samples


def train_jem(f, data, args, history, rng):
    """JEM's loop: -(fp - fq) (+ l2 energy regulariser) + the cross-entropy, Adam with a linear warmup LambdaLR."""
    params = f.class_output.parameters() if args["clf_only"] else f.parameters()
    optimizer = optim.Adam(params, lr=args["lr"], betas=[.9, .999], weight_decay=args["weight_decay"])
    warmup = args["warmup_iters"]
    scheduler = optim.lr_scheduler.LambdaLR(optimizer, lambda it: min(1.0, (it + 1) / warmup))
    n = args["buffer_size"]
    replay_buffer = init_random(n, rng.uniform(-1, 1, (n, 1, 8, 8)).astype(np.float32))
    x_all, y_all = data
    for cur_iter in range(args["n_iters"]):
        idx = rng.permutation(len(x_all))[:args["batch_size"]]
        x_p_d = torch.from_numpy(x_all[idx])
        x_lab, y_lab = x_p_d, torch.from_numpy(y_all[idx])
        L = 0.
        fp_all = f(x_p_d)
        x_q = sample_q(f, replay_buffer, args, rng, history)
        fq_all = f(x_q)
        fp = fp_all.mean()
        fq = fq_all.mean()
        l_p_x = -(fp - fq)
        history["fp"].append(fp.item())
        history["fq"].append(fq.item())
        L += args["p_x_weight"] * l_p_x
        if args["l2_energy_reg"] > 0:
            L += args["l2_energy_reg"] * (fp_all ** 2 + fq_all ** 2).mean()
        logits = f.classify(x_lab)
        l_p_y_given_x = nn.CrossEntropyLoss()(logits, y_lab)
        acc = (logits.max(1)[1] == y_lab).float().mean()
        L += args["p_y_given_x_weight"] * l_p_y_given_x
        history["energy"].append(energy(f, x_p_d).detach().numpy().copy())
        if L.abs().item() > 1e8:
            print("BAD BOIIIIIIIIII")
            1 / 0
        optimizer.zero_grad()
        L.backward()
        history["grad_norm"].append(math.sqrt(sum(float((p.grad ** 2).sum()) for p in f.parameters()
                                                  if p.grad is not None)))
        optimizer.step()
        scheduler.step()
        history["loss"].append(L.item())
        history["acc"].append(acc.item())
        history["lr"].append(optimizer.param_groups[0]["lr"])
        history["state"].append({k: v.detach().numpy().copy() for k, v in f.state_dict().items()})
        history["buffer"].append(replay_buffer.numpy().copy())
        print("P(x) | {}:{:>d} f(x_p_d)={:>14.9f} f(x_q)={:>14.9f}".format(0, cur_iter, fp.item(), fq.item()))
    return replay_buffer


# ---------------------------------------------------------------------------------------------------- IGEBM
def spectral_norm(module, init=True, std=1, bound=False):
    if init:
        nn.init.normal_(module.weight, 0, std)
    if hasattr(module, "bias") and module.bias is not None:
        module.bias.data.zero_()
    return nn.utils.spectral_norm(module)


class ResBlock(nn.Module):
    def __init__(self, in_channel, out_channel, n_class=None, downsample=False):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(in_channel, out_channel, 3, padding=1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(out_channel, out_channel, 3, padding=1, bias=False), std=1e-10)
        self.class_embed = None
        if n_class is not None:
            class_embed = nn.Embedding(n_class, out_channel * 2 * 2)
            class_embed.weight.data[:, : out_channel * 2] = 1
            class_embed.weight.data[:, out_channel * 2:] = 0
            self.class_embed = class_embed
        self.skip = None
        if in_channel != out_channel or downsample:
            self.skip = nn.Sequential(spectral_norm(nn.Conv2d(in_channel, out_channel, 1, bias=False)))
        self.downsample = downsample

    def forward(self, input, class_id=None):
        out = input
        out = self.conv1(out)
        if self.class_embed is not None:
            embed = self.class_embed(class_id).view(input.shape[0], -1, 1, 1)
            weight1, weight2, bias1, bias2 = embed.chunk(4, 1)
            out = weight1 * out + bias1
        out = tnnF.leaky_relu(out, negative_slope=0.2)
        out = self.conv2(out)
        if self.class_embed is not None:
            out = weight2 * out + bias2
        if self.skip is not None:
            skip = self.skip(input)
        else:
            skip = input
        out = out + skip
        if self.downsample:
            out = tnnF.avg_pool2d(out, 2)
        out = tnnF.leaky_relu(out, negative_slope=0.2)
        return out


class IGEBM(nn.Module):
    def __init__(self, n_class=None):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(1, 8, 3, padding=1), std=1)
        self.blocks = nn.ModuleList([ResBlock(8, 8, n_class, downsample=True), ResBlock(8, 16, n_class)])
        self.linear = nn.Linear(16, 1)

    def forward(self, input, class_id=None):
        out = self.conv1(input)
        out = tnnF.leaky_relu(out, negative_slope=0.2)
        for block in self.blocks:
            out = block(out, class_id)
        out = tnnF.relu(out)
        out = out.view(out.shape[0], out.shape[1], -1).sum(2)
        out = self.linear(out)
        return out


class SampleBuffer:
    def __init__(self, max_samples=10000):
        self.max_samples = max_samples
        self.buffer = []

    def __len__(self):
        return len(self.buffer)

    def push(self, samples, class_ids=None):
        samples = samples.detach().to("cpu")
        class_ids = class_ids.detach().to("cpu")
        for sample, class_id in zip(samples, class_ids):
            self.buffer.append((sample.detach(), class_id))
            if len(self.buffer) > self.max_samples:
                self.buffer.pop(0)

    def get(self, n_samples, device="cpu", rng=None):
        items = [self.buffer[i] for i in rng.choice(len(self.buffer), n_samples, replace=False)]
        samples, class_ids = zip(*items)
        samples = torch.stack(samples, 0)
        class_ids = torch.tensor(class_ids)
        return samples.to(device), class_ids.to(device)


def sample_buffer(buffer, batch_size=128, p=0.95, device="cpu", rng=None, n_class=3):
    if len(buffer) < 1:
        return (torch.from_numpy(rng.random((batch_size, 1, 8, 8)).astype(np.float32)),
                torch.from_numpy(rng.integers(0, n_class, (batch_size,))))
    n_replay = (rng.random(batch_size) < p).sum()
    replay_sample, replay_id = buffer.get(n_replay, rng=rng)
    random_sample = torch.from_numpy(rng.random((batch_size - n_replay, 1, 8, 8)).astype(np.float32))
    random_id = torch.from_numpy(rng.integers(0, n_class, (batch_size - n_replay,)))
    return torch.cat([replay_sample, random_sample], 0), torch.cat([replay_id, random_id], 0)


def requires_grad(parameters, flag=True):
    for p in parameters:
        p.requires_grad = flag


def clip_grad(parameters, optimizer):
    with torch.no_grad():
        for group in optimizer.param_groups:
            for p in group["params"]:
                state = optimizer.state[p]
                if "step" not in state or state["step"] < 1:
                    continue
                step = state["step"]
                exp_avg_sq = state["exp_avg_sq"]
                _, beta2 = group["betas"]
                bound = 3 * torch.sqrt(exp_avg_sq / (1 - beta2 ** step)) + 0.1
                p.grad.data.copy_(torch.max(torch.min(p.grad.data, bound), -bound))


def train_igebm(model, images, labels, history, rng, alpha=1, step_size=10, sample_step=3, n_iters=3, batch=4):
    buffer = SampleBuffer()
    parameters = model.parameters()
    optimizer = optim.Adam(parameters, lr=1e-3, betas=(0.0, 0.999))
    noise = torch.randn(batch, 1, 8, 8)
    for i in range(n_iters):
        idx = rng.permutation(len(images))[:batch]
        pos_img, pos_id = torch.from_numpy(images[idx]), torch.from_numpy(labels[idx])
        neg_img, neg_id = sample_buffer(buffer, pos_img.shape[0], rng=rng)
        neg_img.requires_grad = True
        requires_grad(parameters, False)
        model.eval()
        for k in range(sample_step):
            noise.copy_(torch.from_numpy(rng.normal(0, 0.005, noise.shape).astype(np.float32)))
            neg_img.data.add_(noise.data)
            neg_out = model(neg_img, neg_id)
            neg_out.sum().backward()
            neg_img.grad.data.clamp_(-0.01, 0.01)
            neg_img.data.add_(-step_size, neg_img.grad.data)
            neg_img.grad.detach_()
            neg_img.grad.zero_()
            neg_img.data.clamp_(0, 1)
        neg_img = neg_img.detach()
        requires_grad(parameters, True)
        model.train()
        model.zero_grad()
        pos_out = model(pos_img, pos_id)
        neg_out = model(neg_img, neg_id)
        loss = alpha * (pos_out ** 2 + neg_out ** 2)
        loss = loss + (pos_out - neg_out)
        loss = loss.mean()
        loss.backward()
        history["raw_grad"].append({n: p.grad.numpy().copy() for n, p in model.named_parameters()})
        clip_grad(parameters, optimizer)
        history["grad"].append({n: p.grad.numpy().copy() for n, p in model.named_parameters()})
        optimizer.step()
        buffer.push(neg_img, neg_id)
        history["loss"].append(loss.item())
        history["neg"].append(neg_img.numpy().copy())
        history["state"].append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
    return buffer


# ---------------------------------------------------------------------------------------------------- score matching
def dsm_score_estimation(scorenet, samples, sigma=0.01, noise=None):
    noise = torch.randn_like(samples) if noise is None else noise
    perturbed_samples = samples + noise * sigma
    target = - 1 / (sigma ** 2) * (perturbed_samples - samples)
    scores = scorenet(perturbed_samples)
    target = target.view(target.shape[0], -1)
    scores = scores.view(scores.shape[0], -1)
    loss = 1 / 2. * ((scores - target) ** 2).sum(dim=-1).mean(dim=0)
    return loss


def sliced_score_estimation(score_net, samples, n_particles=1, vectors=None):
    dup_samples = samples.unsqueeze(0).expand(n_particles, *samples.shape).contiguous().view(-1, *samples.shape[1:])
    dup_samples.requires_grad_(True)
    vectors = torch.randn_like(dup_samples) if vectors is None else vectors
    vectors = vectors / torch.norm(vectors, dim=-1, keepdim=True)

    grad1 = score_net(dup_samples)
    gradv = torch.sum(grad1 * vectors)
    loss1 = torch.sum(grad1 * vectors, dim=-1) ** 2 * 0.5
    grad2 = autograd.grad(gradv, dup_samples, create_graph=True)[0]
    loss2 = torch.sum(vectors * grad2, dim=-1)

    loss1 = loss1.view(n_particles, -1).mean(dim=0)
    loss2 = loss2.view(n_particles, -1).mean(dim=0)
    loss = loss1 + loss2
    return loss.mean(), loss1.mean(), loss2.mean()


def sliced_score_estimation_vr(score_net, samples, n_particles=1, vectors=None):
    dup_samples = samples.unsqueeze(0).expand(n_particles, *samples.shape).contiguous().view(-1, *samples.shape[1:])
    dup_samples.requires_grad_(True)
    vectors = torch.randn_like(dup_samples) if vectors is None else vectors

    grad1 = score_net(dup_samples)
    gradv = torch.sum(grad1 * vectors)
    grad2 = autograd.grad(gradv, dup_samples, create_graph=True)[0]

    loss1 = torch.sum(grad1 * grad1, dim=-1) / 2.
    loss2 = torch.sum(vectors * grad2, dim=-1)

    loss1 = loss1.view(n_particles, -1).mean(dim=0)
    loss2 = loss2.view(n_particles, -1).mean(dim=0)
    loss = loss1 + loss2
    return loss.mean(), loss1.mean(), loss2.mean()


def score_matching(energy_net, samples):
    """Exact score matching of an energy net: |grad log p|^2 / 2 + the Jacobian's trace, one autograd.grad a dim."""
    samples.requires_grad_(True)
    logp = -energy_net(samples).sum()
    grad1 = autograd.grad(logp, samples, create_graph=True)[0]
    loss1 = (torch.norm(grad1, dim=-1) ** 2) / 2.
    loss2 = torch.zeros(samples.shape[0], device=samples.device)
    for i in range(samples.shape[1]):
        grad = autograd.grad(grad1[:, i].sum(), samples, create_graph=True)[0][:, i]
        loss2 += grad
    loss = loss1 + loss2
    return loss.mean()


def exact_score_matching(score_net, samples, train=False):
    """The score-net version: the trace of d score / d x by a loop over the dims."""
    samples.requires_grad_(True)
    score = score_net(samples)
    loss1 = 0.5 * (torch.norm(score, dim=-1) ** 2)
    loss2 = torch.zeros(samples.shape[0], device=samples.device)
    for i in range(samples.shape[1]):
        if train:
            loss2 += autograd.grad(score[:, i].sum(), samples, create_graph=True, retain_graph=True)[0][:, i]
        else:
            loss2 += autograd.grad(score[:, i].sum(), samples, create_graph=False, retain_graph=True)[0][:, i]
    return (loss1 + loss2).mean()


class Energy(nn.Module):
    """A softplus MLP energy on 2-D points (the repo's toy ``MLP`` energy)."""

    def __init__(self, hidden=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.Softplus(), nn.Linear(hidden, hidden), nn.Softplus(),
                                 nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


class ScoreNet(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.main = nn.Sequential(nn.Linear(2, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU(),
                                  nn.Linear(hidden, 2))

    def forward(self, x):
        return self.main(x)


def get_sigmas(sigma_begin=1.0, sigma_end=0.01, num_classes=5, spelling="numpy"):
    if spelling == "numpy":  # NCSNv2's get_sigmas
        return torch.tensor(np.exp(np.linspace(np.log(sigma_begin), np.log(sigma_end), num_classes))).float()
    return torch.exp(torch.linspace(math.log(sigma_begin), math.log(sigma_end), num_classes))  # score_sde's


class ToyCondScoreNet(nn.Module):
    """A noise-conditional score net: an embedding of the noise level gates the hidden units, the output is divided
    by ``sigmas[labels]`` (NCSNv2's ``output / used_sigmas``)."""

    def __init__(self, sigmas, hidden=16):
        super().__init__()
        self.register_buffer("sigmas", sigmas)
        self.lin1 = nn.Linear(2, hidden)
        self.embed = nn.Embedding(len(sigmas), hidden)
        self.embed.weight.data.uniform_()
        self.lin2 = nn.Linear(hidden, hidden)
        self.lin3 = nn.Linear(hidden, 2)

    def forward(self, x, y):
        h = tnnF.softplus(self.lin1(x)) * self.embed(y)
        h = tnnF.softplus(self.lin2(h))
        output = self.lin3(h)
        used_sigmas = self.sigmas[y].view(x.shape[0], *([1] * len(x.shape[1:])))
        return output / used_sigmas


def anneal_dsm_score_estimation(scorenet, samples, labels, sigmas, anneal_power=2., noise=None):
    used_sigmas = sigmas[labels].view(samples.shape[0], *([1] * len(samples.shape[1:])))
    noise = torch.randn_like(samples) if noise is None else noise
    perturbed_samples = samples + noise * used_sigmas
    target = - 1 / (used_sigmas ** 2) * (perturbed_samples - samples)
    scores = scorenet(perturbed_samples, labels)
    target = target.view(target.shape[0], -1)
    scores = scores.view(scores.shape[0], -1)
    loss = 1 / 2. * ((scores - target) ** 2).sum(dim=-1) * used_sigmas.squeeze() ** anneal_power
    return loss.mean(dim=0)


def anneal_Langevin_dynamics(x_mod, scorenet, sigmas, n_steps_each=3, step_lr=0.00002, noises=None):
    images = []
    with torch.no_grad():
        for c, sigma in enumerate(sigmas):
            labels = torch.ones(x_mod.shape[0], device=x_mod.device) * c
            labels = labels.long()
            step_size = step_lr * (sigma / sigmas[-1]) ** 2
            for s in range(n_steps_each):
                images.append(torch.clamp(x_mod, -3.0, 3.0).to("cpu"))
                z = torch.randn_like(x_mod) if noises is None else noises[c * n_steps_each + s]
                noise = z * np.sqrt(step_size * 2)
                grad = scorenet(x_mod, labels)
                x_mod = x_mod + step_size * grad + noise
        return images


def toy_data(rng, n):
    """A mixture of four Gaussians on the plane (the repos' toy densities)."""
    centers = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], np.float32) * 1.5
    return (centers[rng.integers(0, 4, n)] + 0.2 * rng.standard_normal((n, 2))).astype(np.float32)


def train_score(model, kind, history, rng, n_iters=4, batch=8, lr=1e-3, sigmas=None):
    """One of the repos' toy loops: Adam on ``kind`` in dsm / ssm / ssm_vr / esm / esm_energy / anneal."""
    optimizer = optim.Adam(model.parameters(), lr=lr)
    for step in range(n_iters):
        x = torch.from_numpy(toy_data(rng, batch))
        if kind == "dsm":
            loss = dsm_score_estimation(model, x, sigma=0.1,
                                        noise=torch.from_numpy(rng.standard_normal((batch, 2)).astype(np.float32)))
        elif kind in ("ssm", "ssm_vr"):
            v = torch.from_numpy(rng.standard_normal((2 * batch, 2)).astype(np.float32))
            fn = sliced_score_estimation if kind == "ssm" else sliced_score_estimation_vr
            loss, loss1, loss2 = fn(model, x, n_particles=2, vectors=v)
            history["loss1"].append(loss1.item())
            history["loss2"].append(loss2.item())
        elif kind == "esm":
            loss = exact_score_matching(model, x, train=True)
        elif kind == "esm_energy":
            loss = score_matching(model, x)
        else:
            labels = torch.from_numpy(rng.integers(0, len(sigmas), (batch,)))
            noise = torch.from_numpy(rng.standard_normal((batch, 2)).astype(np.float32))
            loss = anneal_dsm_score_estimation(model, x, labels, sigmas, noise=noise)
        optimizer.zero_grad()
        loss.backward()
        history["grad_norm"].append(nn.utils.clip_grad_norm_(model.parameters(), 1e9).item())
        optimizer.step()
        history["loss"].append(loss.item())
        history["state"].append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})


def sliced_loss_as_brief(score_net, x, v):
    """The per-sample spelling: ``gradv`` of ``sum(score * v)``, then
    ``(gradv * v).sum(-1) + 0.5 * (score * v).sum(-1)**2``."""
    x = x.detach().requires_grad_(True)
    score = score_net(x)
    gradv = torch.autograd.grad(torch.sum(score * v), x, create_graph=True)[0]
    loss = (gradv * v).sum(-1) + 0.5 * (score * v).sum(-1) ** 2
    return loss.mean()
