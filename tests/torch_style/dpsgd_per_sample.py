"""DP-SGD (Abadi et al., 2016) without Opacus, the way torch.func's per-sample-gradient tutorial sets it up: each
example's gradient from ``vmap(grad(loss), in_dims=...)`` over ``functional_call`` on detached parameter / buffer
dicts, every per-sample gradient clipped to ``max_grad_norm`` by its norm over all parameters, the clipped
gradients summed, Gaussian noise of std ``noise_multiplier * max_grad_norm`` added (drawn by numpy, so both
libraries add the same noise), the mean written into ``p.grad`` and a plain SGD step taken.

- ``SmallCNN``: two Conv2d + GroupNorm blocks (DP training cannot use BatchNorm: it mixes examples) and a Linear
  head on 1x8x8 images; ``MLP``: Linear-Tanh-Linear on 10 features.
- ``per_sample_grads``: the vmapped gradients, {name: (B, *p.shape)}, and the per-example losses.
- ``loop_grads``: the same by one ``backward()`` per example (the slow way, as a cross-check).
- ``clip_and_noise``: per-sample norms, clip factors, the noisy mean gradient per parameter.
- ``train``: a few DP-SGD steps; ``history`` records losses, norms, factors and gradients for the comparison."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, grad_and_value, vmap


class SmallCNN(nn.Module):
    def __init__(self, n_classes=3):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.gn1 = nn.GroupNorm(2, 4)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.gn2 = nn.GroupNorm(4, 8)
        self.fc = nn.Linear(8 * 2 * 2, n_classes)

    def forward(self, x):
        x = F.relu(self.gn1(self.conv1(x)))      # (B, 4, 8, 8)
        x = F.max_pool2d(x, 2)                   # (B, 4, 4, 4)
        x = F.relu(self.gn2(self.conv2(x)))      # (B, 8, 2, 2)
        return self.fc(torch.flatten(x, 1))


class MLP(nn.Module):
    def __init__(self, n_in=10, hidden=16, n_classes=3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, n_classes))

    def forward(self, x):
        return self.net(x)


def make_loss_fn(model):
    """loss(params, buffers, sample, target) on ONE example: vmap hands over unbatched slices, so add a batch dim."""
    def loss_fn(params, buffers, sample, target):
        batch = sample.unsqueeze(0)
        targets = target.unsqueeze(0)
        predictions = functional_call(model, (params, buffers), (batch,))
        return F.cross_entropy(predictions, targets)
    return loss_fn


def per_sample_grads(model, x, y):
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    loss_fn = make_loss_fn(model)
    ft_compute_grad = grad(loss_fn)
    ft_compute_sample_grad = vmap(ft_compute_grad, in_dims=(None, None, 0, 0))
    grads = ft_compute_sample_grad(params, buffers, x, y)
    # the same with the losses, via grad_and_value
    grads2, losses = vmap(grad_and_value(loss_fn), in_dims=(None, None, 0, 0))(params, buffers, x, y)
    for k in grads:
        assert torch.allclose(grads[k], grads2[k])
    return grads, losses


def loop_grads(model, x, y):
    """{name: (B, *p.shape)} by one backward() per example."""
    collected = {name: [] for name, _ in model.named_parameters()}
    for i in range(x.shape[0]):
        model.zero_grad()
        loss = F.cross_entropy(model(x[i:i + 1]), y[i:i + 1])
        loss.backward()
        for name, p in model.named_parameters():
            collected[name].append(p.grad.detach().clone())
    model.zero_grad(set_to_none=True)
    return {name: torch.stack(gs) for name, gs in collected.items()}


def clip_and_noise(grads, max_grad_norm, noise_multiplier, rng, batch_size):
    names = list(grads)
    per_param_norms = [grads[n].reshape(len(grads[n]), -1).norm(2, dim=-1) for n in names]
    per_sample_norms = torch.stack(per_param_norms, dim=1).norm(2, dim=1)           # (B,)
    clip_factor = (max_grad_norm / (per_sample_norms + 1e-6)).clamp(max=1.0)        # (B,)
    noisy = {}
    for n in names:
        summed = torch.einsum("i,i...->...", clip_factor, grads[n])
        noise = torch.from_numpy(rng.standard_normal(summed.shape).astype(np.float32))
        noisy[n] = (summed + noise_multiplier * max_grad_norm * noise) / batch_size
    return per_sample_norms, clip_factor, noisy


def train(model, batches, lr=0.1, max_grad_norm=1.0, noise_multiplier=0.5, seed=0):
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)
    history = {"loss": [], "batch_loss": [], "norms": [], "factors": [], "grads": [], "loop_gap": []}
    for xb, yb in batches:
        x, y = torch.from_numpy(xb), torch.from_numpy(yb)
        grads, losses = per_sample_grads(model, x, y)
        looped = loop_grads(model, x, y)
        history["loop_gap"].append(max(float((grads[k] - looped[k]).abs().max()) for k in grads))
        norms, factors, noisy = clip_and_noise(grads, max_grad_norm, noise_multiplier, rng, len(x))
        optimizer.zero_grad()
        for name, p in model.named_parameters():
            p.grad = noisy[name]
        optimizer.step()
        with torch.no_grad():
            history["batch_loss"].append(F.cross_entropy(model(x), y).item())
        history["loss"].append(losses.detach().numpy().copy())
        history["norms"].append(norms.numpy().copy())
        history["factors"].append(factors.numpy().copy())
        history["grads"].append({k: v.detach().numpy().copy() for k, v in grads.items()})
    return history
