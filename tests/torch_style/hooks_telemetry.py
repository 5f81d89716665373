# ruff: noqa: E701, UP039, B007, RUF017 - the course's own one-line defs and spellings
"""fast.ai's "Deep Learning from the Foundations" (2019), notebooks 06_cuda_cnn_hooks_init and 07a_lsuv, as the
course writes them in plain PyTorch: Hook / Hooks on forward hooks recording each layer's mean, std and histc
histogram, get_hist / get_min, GeneralRelu, init_cnn, an nn.Sequential CNN trained by SGD under a hand-written
combine_scheds / sched_cos one-cycle, LSUV initialisation, plus forward pre-hooks, full backward hooks and the
global module forward hook. Images are flat (N, 144) numpy arrays of 12 x 12 pixels, classes 0 .. c - 1."""

import math
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import init


def listify(o):
    if o is None: return []
    if isinstance(o, list): return o
    if isinstance(o, str): return [o]
    return [o]


def flatten(x): return x.view(x.shape[0], -1)
def mnist_resize(x): return x.view(-1, 1, 12, 12)


class Lambda(nn.Module):
    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, x): return self.func(x)


class GeneralRelu(nn.Module):
    def __init__(self, leak=None, sub=None, maxv=None):
        super().__init__()
        self.leak, self.sub, self.maxv = leak, sub, maxv

    def forward(self, x):
        x = F.leaky_relu(x, self.leak) if self.leak is not None else F.relu(x)
        if self.sub is not None: x.sub_(self.sub)
        if self.maxv is not None: x.clamp_max_(self.maxv)
        return x


def conv_layer(ni, nf, ks=3, stride=2, **kwargs):
    return nn.Sequential(nn.Conv2d(ni, nf, ks, padding=ks // 2, stride=stride), GeneralRelu(**kwargs))


class ConvLayer(nn.Module):
    """07a's layer: its bias is minus the GeneralRelu's sub, so LSUV can move it."""
    def __init__(self, ni, nf, ks=3, stride=2, sub=0., **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(ni, nf, ks, padding=ks // 2, stride=stride, bias=True)
        self.relu = GeneralRelu(sub=sub, **kwargs)

    def forward(self, x): return self.relu(self.conv(x))

    @property
    def bias(self): return -self.relu.sub

    @bias.setter
    def bias(self, v): self.relu.sub = -v

    @property
    def weight(self): return self.conv.weight


def get_cnn_layers(c, nfs, layer, **kwargs):
    nfs = [1] + nfs
    return [layer(nfs[i], nfs[i + 1], 5 if i == 0 else 3, **kwargs) for i in range(len(nfs) - 1)] + [
        nn.AdaptiveAvgPool2d(1), Lambda(flatten), nn.Linear(nfs[-1], c)]


def get_cnn_model(c=3, nfs=(4, 8, 8), layer=conv_layer, **kwargs):
    return nn.Sequential(Lambda(mnist_resize), *get_cnn_layers(c, list(nfs), layer, **kwargs))


def init_cnn(m, uniform=False):
    f = init.kaiming_uniform_ if uniform else init.kaiming_normal_
    for l in m:
        if isinstance(l, nn.Sequential):
            f(l[0].weight, a=0.1)
            l[0].bias.data.zero_()


class Hook():
    def __init__(self, m, f): self.hook = m.register_forward_hook(partial(f, self))
    def remove(self): self.hook.remove()
    def __del__(self): self.remove()


def append_stats(hook, mod, inp, outp):
    if not hasattr(hook, 'stats'): hook.stats = ([], [], [])
    means, stds, hists = hook.stats
    means.append(outp.data.mean().cpu())
    stds.append(outp.data.std().cpu())
    hists.append(torch.histc(outp.data.cpu(), 40, 0, 10))  # histc isn't implemented on the GPU


class ListContainer():
    def __init__(self, items): self.items = listify(items)

    def __getitem__(self, idx):
        if isinstance(idx, (int, slice)): return self.items[idx]
        if isinstance(idx[0], bool):
            assert len(idx) == len(self)  # bool mask
            return [o for m, o in zip(idx, self.items) if m]
        return [self.items[i] for i in idx]

    def __len__(self): return len(self.items)
    def __iter__(self): return iter(self.items)
    def __setitem__(self, i, o): self.items[i] = o
    def __delitem__(self, i): del(self.items[i])

    def __repr__(self):
        res = f'{self.__class__.__name__} ({len(self)} items)\n{self.items[:10]}'
        if len(self) > 10: res = res[:-1] + '...]'
        return res


class Hooks(ListContainer):
    def __init__(self, ms, f): super().__init__([Hook(m, f) for m in ms])
    def __enter__(self, *args): return self
    def __exit__(self, *args): self.remove()
    def __del__(self): self.remove()

    def __delitem__(self, i):
        self[i].remove()
        super().__delitem__(i)

    def remove(self):
        for h in self: h.remove()


def get_hist(h): return torch.stack(h.stats[2]).t().float().log1p()


def get_min(h):
    h1 = torch.stack(h.stats[2]).t().float()
    return h1[:2].sum(0) / h1.sum(0)


def annealer(f):
    def _inner(start, end): return partial(f, start, end)
    return _inner


@annealer
def sched_cos(start, end, pos): return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def combine_scheds(pcts, scheds):
    assert sum(pcts) == 1.
    pcts = torch.tensor([0] + listify(pcts))
    assert torch.all(pcts >= 0)
    pcts = torch.cumsum(pcts, 0)

    def _inner(pos):
        idx = (pos >= pcts).nonzero().max()
        actual_pos = (pos - pcts[idx]) / (pcts[idx + 1] - pcts[idx])
        return scheds[idx](actual_pos)
    return _inner


def fit(model, batches, epochs, sched, log):
    """The course's training loop without Runner or callbacks: SGD, its lr set from ``sched`` before each step."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    n_epochs, iters = 0., len(batches)
    for epoch in range(epochs):
        model.train()
        for xb, yb in batches:
            for pg in opt.param_groups: pg['lr'] = sched(n_epochs / epochs)
            log['lr'].append(float(opt.param_groups[0]['lr']))
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            log['grad_norm'].append(math.sqrt(sum(float((p.grad ** 2).sum()) for p in model.parameters())))
            opt.step()
            opt.zero_grad()
            log['loss'].append(loss.item())
            n_epochs += 1. / iters
        model.eval()
        with torch.no_grad():
            tot_loss, tot_acc = 0., 0.
            for xb, yb in batches:
                pred = model(xb)
                tot_loss += F.cross_entropy(pred, yb)
                tot_acc += (torch.argmax(pred, dim=1) == yb).float().mean()
        log['valid'].append((float(tot_loss / len(batches)), float(tot_acc / len(batches))))


def to_batches(x, y, bs):
    x, y = torch.from_numpy(x).float(), torch.from_numpy(y).long()
    return [(x[i:i + bs], y[i:i + bs]) for i in range(0, len(x), bs)]


def telemetry(model, x, y, bs=16, epochs=2):
    """06's experiment: init_cnn, every Sequential layer hooked by append_stats, also a pre-hook on the first conv,
    a full backward hook on each layer and a global forward hook counting calls, through a one-cycle fit."""
    log = {k: [] for k in ('lr', 'loss', 'grad_norm', 'valid', 'pre', 'grads', 'global')}
    batches = to_batches(x, y, bs)
    sched = combine_scheds([0.3, 0.7], [sched_cos(0.2, 1.), sched_cos(1., 0.1)])
    pre = model[1][0].register_forward_pre_hook(lambda m, inp: log['pre'].append(
        (inp[0].mean().item(), inp[0].std().item(), tuple(inp[0].shape))))

    def grad_stats(m, grad_input, grad_output):
        gi = grad_input[0]
        log['grads'].append((grad_output[0].abs().mean().item(), grad_output[0].std().item(),
                             None if gi is None else gi.pow(2).mean().sqrt().item()))
    back = [l.register_full_backward_hook(grad_stats) for l in model if isinstance(l, nn.Sequential)]
    glob = torch.nn.modules.module.register_module_forward_hook(
        lambda m, inp, outp: log['global'].append(type(m).__name__) if isinstance(m, nn.Conv2d) else None)
    with Hooks([l for l in model if isinstance(l, nn.Sequential)], append_stats) as hooks:
        fit(model, batches, epochs, sched, log)
    for h in (pre, glob, *back): h.remove()
    log['means'] = [[float(v) for v in h.stats[0]] for h in hooks]
    log['stds'] = [[float(v) for v in h.stats[1]] for h in hooks]
    log['hist'] = [get_hist(h).numpy() for h in hooks]
    log['min'] = [get_min(h).numpy() for h in hooks]
    log['params'] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return log


def append_stat(hook, mod, inp, outp):
    d = outp.data
    hook.mean, hook.std = d.mean().item(), d.std().item()
    hook.calls = getattr(hook, 'calls', 0) + 1


def lsuv_module(mdl, m, xb):
    h = Hook(m, append_stat)

    while mdl(xb) is not None and abs(h.mean) > 1e-3: m.bias -= h.mean
    while mdl(xb) is not None and abs(h.std - 1) > 1e-3: m.weight.data /= h.std

    h.remove()
    return h.mean, h.std, h.calls


def find_modules(m, cond):
    if cond(m): return [m]
    return sum([find_modules(o, cond) for o in m.children()], [])


def lsuv(model, x, y, bs=16, epochs=1):
    """07a: ConvLayers with sub=0.4, initialised by LSUV on the first batch (before and after stats), then fit."""
    log = {k: [] for k in ('lr', 'loss', 'grad_norm', 'valid')}
    batches = to_batches(x, y, bs)
    xb = batches[0][0]
    mods = find_modules(model, lambda o: isinstance(o, ConvLayer))
    with Hooks(mods, append_stat) as hooks:
        model(xb)
        log['before'] = [(h.mean, h.std) for h in hooks]
    log['lsuv'] = [lsuv_module(model, m, xb) for m in mods]
    log['bias'] = [float(m.bias) for m in mods]
    sched = combine_scheds([0.5, 0.5], [sched_cos(0.3, 0.6), sched_cos(0.6, 0.2)])
    fit(model, batches, epochs, sched, log)
    log['params'] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return log


def data(n=64, c=3, seed=0):
    """Flat 12 x 12 images: class k is a bright bar in row band k plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    x = rng.normal(0, 0.5, (n, 12, 12))
    for i, k in enumerate(y): x[i, 4 * k:4 * k + 3] += 2.
    return x.reshape(n, -1).astype(np.float32), y
