"""A RealNVP normalizing flow (Dinh et al. 2017) on 2-D synthetic data, written as the common GitHub PyTorch code:
affine coupling layers whose binary mask is a buffer (``self.register_buffer("mask", ...)``), a scale net that ends
in ``nn.Tanh`` and a translation net (``nn.Sequential`` of ``nn.Linear`` + ``nn.LeakyReLU``; the first coupling's
last translation Linear under ``nn.utils.parametrizations.weight_norm``), ``forward`` x -> z returning z and the
log-determinant of the Jacobian (``s.sum(dim=1)``), ``inverse`` z -> x for sampling; the couplings in an
``nn.ModuleList`` with alternating masks (``1 - mask``), each after an ``ActNorm`` with data-dependent
initialisation (the first batch's mean and std under ``torch.no_grad()``, written by ``.data.copy_``, by assigning
``.data`` or by new ``nn.Parameter``s, remembered in an ``initialized`` buffer; log-det
``torch.log(torch.abs(scale)).sum()``).

The base distribution is ``MultivariateNormal(torch.zeros(2), torch.eye(2))`` or ``Independent(Normal(loc, scale),
1)``; the loss is ``-(prior.log_prob(z) + log_det).mean()``; training is Adamax (the paper's) or Adam with
``ExponentialLR`` and ``clip_grad_value_``, resumable from a torch.save checkpoint. Checks a user writes: the
layers' log-det against ``torch.autograd.functional.jacobian`` (``torch.linalg.slogdet`` and ``torch.linalg.det``;
and trained through, with ``create_graph=True``), ``inverse(forward(x)) == x``, samples from fixed z, the held-out
log-likelihood, and a state_dict checkpoint round trip. The data (two moons or a ring) and every minibatch and z
come from numpy, so the harness runs it on torch and, with the imports swapped, on ours. ``MaskedRealNVP`` is the
other form found everywhere (the masks one ``nn.Parameter`` without grad, s and t nets in ``nn.ModuleList``s,
``loss.backward(retain_graph=True)``, ``nn.utils.get_total_norm``), and ``FlowSequential`` a third (an
``nn.Sequential`` subclass walking ``self._modules.values()``, couplings with a ``mode`` argument and the paper's
``BatchNormFlow`` with running buffers, set after each epoch by a pass at momentum 0)."""

import io
import math

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from torch.distributions import Independent, MultivariateNormal, Normal


def two_moons(n, noise=0.05, seed=0, dtype=np.float32):
    """``n`` points on two interleaved half circles (as sklearn's make_moons), standardised. (n, 2)"""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, math.pi, n)
    upper = rng.uniform(size=n) < 0.5
    x = np.where(upper, np.cos(t), 1 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    data = np.stack([x, y], axis=1) + noise * rng.standard_normal((n, 2))
    return ((data - data.mean(0)) / data.std(0)).astype(dtype)


def ring(n, radius=2.0, noise=0.1, seed=0, dtype=np.float32):
    """``n`` points near a circle of ``radius``. (n, 2)"""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * math.pi, n)
    r = radius + noise * rng.standard_normal(n)
    return np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1).astype(dtype)


class ActNorm(nn.Module):
    """Per-feature affine z = scale * (x + loc), initialised from the first batch so z has zero mean and unit std."""

    def __init__(self, dim, init="copy"):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, dim))
        self.scale = nn.Parameter(torch.ones(1, dim))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))
        self.init = init

    def initialize(self, x):
        with torch.no_grad():
            mean = x.mean(dim=0, keepdim=True)
            std = x.std(dim=0, keepdim=True)
            if self.init == "param":  # before the optimizer exists: new Parameters
                self.loc = nn.Parameter(-mean)
                self.scale = nn.Parameter(1 / (std + 1e-6))
            elif self.init == "data":
                self.loc.data = -mean
                self.scale.data = 1 / (std + 1e-6)
            else:
                self.loc.data.copy_(-mean)
                self.scale.data.copy_(1 / (std + 1e-6))
            self.initialized.fill_(1)

    def forward(self, x):
        if self.initialized.item() == 0:
            self.initialize(x)
        z = self.scale * (x + self.loc)
        log_det = torch.log(torch.abs(self.scale)).sum() * torch.ones(x.shape[0], dtype=x.dtype)
        return z, log_det

    def inverse(self, z):
        return z / self.scale - self.loc


class CouplingLayer(nn.Module):
    """Affine coupling: the masked features pass through, the others are scaled by exp(s) and shifted by t, both
    functions of the masked features."""

    def __init__(self, dim, hidden, mask, weight_norm=False):
        super().__init__()
        self.register_buffer("mask", mask)
        self.scale_net = nn.Sequential(
            nn.Linear(dim, hidden), nn.LeakyReLU(),
            nn.Linear(hidden, hidden), nn.LeakyReLU(),
            nn.Linear(hidden, dim), nn.Tanh())
        last = nn.Linear(hidden, dim)
        if weight_norm:
            last = nn.utils.parametrizations.weight_norm(last)
        self.translate_net = nn.Sequential(
            nn.Linear(dim, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            last)

    def forward(self, x):
        x_masked = x * self.mask
        s = self.scale_net(x_masked) * (1 - self.mask)
        t = self.translate_net(x_masked) * (1 - self.mask)
        z = x_masked + (1 - self.mask) * (x * torch.exp(s) + t)
        return z, s.sum(dim=1)

    def inverse(self, z):
        z_masked = z * self.mask
        s = self.scale_net(z_masked) * (1 - self.mask)
        t = self.translate_net(z_masked) * (1 - self.mask)
        return z_masked + (1 - self.mask) * (z - t) * torch.exp(-s)


class RealNVP(nn.Module):
    def __init__(self, dim=2, hidden=32, n_couplings=4, actnorm=True, init="copy"):
        super().__init__()
        mask = (torch.arange(dim) % 2).float()
        layers = []
        for i in range(n_couplings):
            if actnorm:
                layers.append(ActNorm(dim, init))
            layers.append(CouplingLayer(dim, hidden, mask, weight_norm=i == 0))
            mask = 1 - mask
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        log_det = torch.zeros(x.shape[0], dtype=x.dtype)
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, z):
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z


class MaskedRealNVP(nn.Module):
    """The other common form (the famous notebook): the masks one ``nn.Parameter(masks, requires_grad=False)``,
    the scale and translation nets in two ``nn.ModuleList``s built from factories, ``f`` (x -> z, log-det
    accumulated from ``x.new_zeros`` with ``-=``) and ``g`` (z -> x); the prior kept on the module."""

    def __init__(self, nets, nett, masks, prior):
        super().__init__()
        self.prior = prior
        self.mask = nn.Parameter(masks, requires_grad=False)
        self.t = torch.nn.ModuleList([nett() for _ in range(len(masks))])
        self.s = torch.nn.ModuleList([nets() for _ in range(len(masks))])

    def g(self, z):
        x = z
        for i in range(len(self.t)):
            x_ = x * self.mask[i]
            s = self.s[i](x_) * (1 - self.mask[i])
            t = self.t[i](x_) * (1 - self.mask[i])
            x = x_ + (1 - self.mask[i]) * (x * torch.exp(s) + t)
        return x

    def f(self, x):
        log_det_J, z = x.new_zeros(x.shape[0]), x
        for i in reversed(range(len(self.t))):
            z_ = self.mask[i] * z
            s = self.s[i](z_) * (1 - self.mask[i])
            t = self.t[i](z_) * (1 - self.mask[i])
            z = (1 - self.mask[i]) * (z - t) * torch.exp(-s) + z_
            log_det_J -= s.sum(dim=1)
        return z, log_det_J

    def log_prob(self, x):
        z, logp = self.f(x)
        return self.prior.log_prob(z) + logp


def masked_realnvp(hidden=32, n_masks=4):
    nets = lambda: nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(), nn.Linear(hidden, hidden), nn.LeakyReLU(),  # noqa: E731
                                 nn.Linear(hidden, 2), nn.Tanh())
    nett = lambda: nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(), nn.Linear(hidden, hidden), nn.LeakyReLU(),  # noqa: E731
                                 nn.Linear(hidden, 2))
    masks = torch.from_numpy(np.array([[0, 1], [1, 0]] * (n_masks // 2)).astype(np.float32))
    return MaskedRealNVP(nets, nett, masks, MultivariateNormal(torch.zeros(2), torch.eye(2)))


def train_masked(flow, data, steps, batch_size=64, lr=1e-3, seed=0):
    """The notebook's loop: Adam over the parameters that require grad, ``backward(retain_graph=True)``."""
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam([p for p in flow.parameters() if p.requires_grad == True], lr=lr)  # noqa: E712
    history = {"loss": [], "norm": []}
    for _ in range(steps):
        loss = -flow.log_prob(torch.from_numpy(data[rng.choice(len(data), batch_size, replace=False)])).mean()
        optimizer.zero_grad()
        loss.backward(retain_graph=True)
        grads = [p.grad for p in flow.parameters() if p.grad is not None]
        history["norm"].append(torch.nn.utils.get_total_norm(grads).item())
        optimizer.step()
        history["loss"].append(loss.item())
    return history


class BatchNormFlow(nn.Module):
    """The RealNVP paper's batch normalisation as a flow layer: batch statistics while training (folded into
    running buffers with ``momentum``, through ``.data``), the running ones in eval; log-det per sample (n, 1)."""

    def __init__(self, num_inputs, momentum=0.0, eps=1e-5):
        super().__init__()
        self.log_gamma = nn.Parameter(torch.zeros(num_inputs))
        self.beta = nn.Parameter(torch.zeros(num_inputs))
        self.momentum, self.eps = momentum, eps
        self.register_buffer("running_mean", torch.zeros(num_inputs))
        self.register_buffer("running_var", torch.ones(num_inputs))

    def statistics(self, inputs):
        if not self.training:
            return self.running_mean, self.running_var
        self.batch_mean = inputs.mean(0)
        self.batch_var = (inputs - self.batch_mean).pow(2).mean(0) + self.eps
        self.running_mean.mul_(self.momentum)
        self.running_var.mul_(self.momentum)
        self.running_mean.add_(self.batch_mean.data * (1 - self.momentum))
        self.running_var.add_(self.batch_var.data * (1 - self.momentum))
        return self.batch_mean, self.batch_var

    def forward(self, inputs, mode="direct"):
        if mode == "direct":
            mean, var = self.statistics(inputs)
            y = torch.exp(self.log_gamma) * (inputs - mean) / var.sqrt() + self.beta
            return y, (self.log_gamma - 0.5 * torch.log(var)).sum(-1, keepdim=True)
        mean, var = (self.batch_mean, self.batch_var) if self.training else (self.running_mean, self.running_var)
        x = (inputs - self.beta) / torch.exp(self.log_gamma) * var.sqrt() + mean
        return x, (0.5 * torch.log(var) - self.log_gamma).sum(-1, keepdim=True)


class MaskedCoupling(nn.Module):
    """A coupling with a plain-attribute mask and a ``mode`` argument, returning (n, 1) log-dets."""

    def __init__(self, num_inputs, num_hidden, mask):
        super().__init__()
        self.mask = mask
        self.scale_net = nn.Sequential(nn.Linear(num_inputs, num_hidden), nn.Tanh(), nn.Linear(num_hidden, num_inputs))
        self.translate_net = nn.Sequential(nn.Linear(num_inputs, num_hidden), nn.ReLU(),
                                           nn.Linear(num_hidden, num_inputs))

    def forward(self, inputs, mode="direct"):
        masked = inputs * self.mask
        log_s = self.scale_net(masked) * (1 - self.mask)
        t = self.translate_net(masked) * (1 - self.mask)
        if mode == "direct":
            return inputs * torch.exp(log_s) + t, log_s.sum(-1, keepdim=True)
        return (inputs - t) * torch.exp(-log_s), -log_s.sum(-1, keepdim=True)


class FlowSequential(nn.Sequential):
    """nn.Sequential whose forward threads (x, log-dets) through ``self._modules.values()`` (reversed to invert)."""

    def forward(self, inputs, mode="direct", logdets=None):
        if logdets is None:
            logdets = torch.zeros(inputs.size(0), 1, device=inputs.device)
        modules = self._modules.values() if mode == "direct" else reversed(self._modules.values())
        for module in modules:
            inputs, logdet = module(inputs, mode)
            logdets += logdet
        return inputs, logdets

    def log_probs(self, inputs):
        u, log_jacob = self(inputs)
        log_probs = (-0.5 * u.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1, keepdim=True)
        return (log_probs + log_jacob).sum(-1, keepdim=True)

    def sample(self, noise):
        device = next(self.parameters()).device
        return self.forward(noise.to(device), mode="inverse")[0]


def flow_sequential(num_inputs=2, num_hidden=32, num_blocks=3):
    """BatchNormFlow first, then the couplings. (A BatchNormFlow after a coupling cancels that coupling's last
    translation bias, and the one at the end has beta's gradient equal to beta: zero true gradients, which Adam
    turns into steps of +-lr in the direction of the rounding noise, different in every library.)"""
    mask = (torch.arange(0, num_inputs) % 2).float()
    modules = [BatchNormFlow(num_inputs)]
    for _ in range(num_blocks):
        modules.append(MaskedCoupling(num_inputs, num_hidden, mask))
        mask = 1 - mask
    model = FlowSequential(*modules)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.orthogonal_(module.weight)
            nn.init.zeros_(module.bias)  # the usual module.bias.data.fill_(0): see ActNorm.initialize
    return model


def train_flow_sequential(model, data, epochs, batch_size=64, lr=1e-3, seed=0):
    """Epochs over numpy-shuffled minibatches; after each, one pass over all the data with momentum 0 (then 1)
    sets the BatchNormFlow running statistics, and the eval log-likelihood of ``data`` is recorded."""
    rng = np.random.default_rng(seed)
    optimizer = optim.Adam(model.parameters(), lr=lr, weight_decay=1e-6)
    history = {"loss": [], "eval_ll": []}
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(data))
        for start in range(0, len(data), batch_size):
            optimizer.zero_grad()
            loss = -model.log_probs(torch.from_numpy(data[order[start:start + batch_size]])).mean()
            loss.backward()
            optimizer.step()
            history["loss"].append(loss.item())
        for module in model.modules():
            if isinstance(module, BatchNormFlow):
                module.momentum = 0
        with torch.no_grad():
            model(torch.from_numpy(data))
        for module in model.modules():
            if isinstance(module, BatchNormFlow):
                module.momentum = 1
        model.eval()
        with torch.no_grad():
            history["eval_ll"].append(model.log_probs(torch.from_numpy(data)).mean().item())
    return history


def make_prior(kind="mvn", dim=2, dtype=torch.float32):
    if kind == "mvn":
        return MultivariateNormal(torch.zeros(dim, dtype=dtype), torch.eye(dim, dtype=dtype))
    return Independent(Normal(torch.zeros(dim, dtype=dtype), torch.ones(dim, dtype=dtype)), 1)


def log_prob(model, prior, x):
    z, log_det = model(x)
    return prior.log_prob(z) + log_det


def train(model, prior, data, steps, batch_size=64, optimizer="adamax", lr=1e-3, gamma=0.99, clip=None, seed=0,
          resume=None):
    """Minibatches drawn by numpy from ``data`` (step i's from the seed [seed, i]); ``model`` must be initialised
    already when its ActNorm layers make new Parameters (the optimizer holds the ones it was given). ``resume``: a
    checkpoint's bytes (model, optimizer, scheduler, step) to go on from; the history holds the last one."""
    opt_class = torch.optim.Adamax if optimizer == "adamax" else torch.optim.Adam
    opt = opt_class(model.parameters(), lr=lr, weight_decay=1e-5)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
    start = 0
    if resume is not None:
        checkpoint = torch.load(io.BytesIO(resume))
        model.load_state_dict(checkpoint["model"])
        opt.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        start = checkpoint["step"]
    history = {"loss": [], "norm": [], "lr": [], "clipped": []}
    model.train()
    for step in range(start, steps):
        rng = np.random.default_rng([seed, step])
        x = torch.from_numpy(data[rng.choice(len(data), batch_size, replace=False)])
        loss = -log_prob(model, prior, x).mean()
        opt.zero_grad()
        loss.backward()
        norm = torch.norm(torch.stack([p.grad.norm() for p in model.parameters()]))
        if clip is not None:
            torch.nn.utils.clip_grad_value_(model.parameters(), clip)
        history["clipped"].append(max(p.grad.abs().max().item() for p in model.parameters()))
        opt.step()
        scheduler.step()
        history["loss"].append(loss.item())
        history["norm"].append(norm.item())
        history["lr"].append(scheduler.get_last_lr()[0])
    buffer = io.BytesIO()
    torch.save({"step": steps, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": scheduler.state_dict()}, buffer)
    history["checkpoint"] = buffer.getvalue()
    return history


def jacobian_logdet(model, x):
    """For each row of x: the flow's log-det, and log|det J| of the Jacobian by autograd (slogdet and det)."""
    model.eval()
    rows = []
    for point in x:
        J = torch.autograd.functional.jacobian(lambda v: model(v.unsqueeze(0))[0].squeeze(0), point)
        sign, logabsdet = torch.linalg.slogdet(J)
        by_det = torch.log(torch.abs(torch.linalg.det(J)))
        rows.append(torch.stack([model(point.unsqueeze(0))[1][0], logabsdet, by_det, sign]))
    return torch.stack(rows).detach()


def autograd_nll(model, prior, x):
    """The loss with each sample's log-det taken from autograd instead of the layers: slogdet of its Jacobian,
    built with create_graph=True so the loss trains (exact for a 2-D flow, if slow)."""
    terms = []
    for point in x:
        J = torch.autograd.functional.jacobian(lambda v: model(v.unsqueeze(0))[0].squeeze(0), point, create_graph=True)
        z, _ = model(point.unsqueeze(0))
        terms.append(prior.log_prob(z)[0] + torch.linalg.slogdet(J).logabsdet)
    return -torch.stack(terms).mean()


@torch.no_grad()
def evaluate(model, prior, held_out, z):
    """Held-out log-likelihood, the round trip inverse(forward(x)), and samples from the fixed ``z``."""
    model.eval()
    x = torch.from_numpy(held_out)
    ll = log_prob(model, prior, x)
    z_x, _ = model(x)
    samples = model.inverse(torch.from_numpy(z))
    return {"ll": ll.mean().item(), "ll_each": ll.numpy().copy(), "z": z_x.numpy().copy(),
            "recon": model.inverse(z_x).numpy().copy(), "samples": samples.numpy().copy()}


def checkpoint_round_trip(model, factory, prior, x):
    """state_dict through torch.save / torch.load into a fresh model: the same log-likelihood (no re-initialising)."""
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict()}, buffer)
    buffer.seek(0)
    fresh = factory()
    fresh.load_state_dict(torch.load(buffer)["model"])
    fresh.eval()
    with torch.no_grad():
        return log_prob(fresh, prior, torch.from_numpy(x)).numpy().copy(), [
            m.initialized.item() for m in fresh.modules() if isinstance(m, ActNorm)]
