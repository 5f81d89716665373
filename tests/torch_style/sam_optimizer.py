# ruff: noqa: UP008, B023 - the recipe's own spellings (super(SAM, self); a closure used within its iteration)
"""Sharpness-Aware Minimization (Foret et al., 2021) as the widely used davda54/sam package lays it out, written
afresh: a ``torch.optim.Optimizer`` subclass that wraps a base optimizer built on its own param_groups (so both
share one list of groups, hyperparameters and all), climbs to ``w + e(w)`` with ``e(w) = rho * g / ||g||`` (the
adaptive ASAM variant scales by ``|w|``: ``rho * w^2 * g / ||w * g||``), stores the old weights in
``self.state[p]``, and in the second step restores them and lets the base optimizer step with the gradient taken
at the perturbed point. ``step(closure)`` runs the two passes with the closure under ``torch.enable_grad()``.

- ``smooth_crossentropy``: label smoothing spelled with ``full_like`` + ``scatter_`` + ``kl_div`` (the repo's loss).
- ``disable_running_stats`` / ``enable_running_stats``: BatchNorm momentum set to 0 for the second pass (its batch
  statistics would otherwise be counted twice) and put back afterwards.
- ``Net``: Conv2d-BatchNorm2d-ReLU twice, average pooling and a Linear head on 1x6x6 images.
- ``train``: SGD with momentum + weight decay as base, a StepLR on the SAM optimizer, the two explicit steps (or
  ``step(closure)``); ``history`` records losses, gradient norms, learning rates, BatchNorm statistics."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class SAM(torch.optim.Optimizer):
    def __init__(self, params, base_optimizer, rho=0.05, adaptive=False, **kwargs):
        if rho < 0.0:
            raise ValueError(f"rho should be non-negative, got {rho}")
        defaults = dict(rho=rho, adaptive=adaptive, **kwargs)
        super(SAM, self).__init__(params, defaults)
        # the base optimizer works on OUR groups, so lr schedules on either one reach both
        self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)

    @torch.no_grad()
    def first_step(self, zero_grad=False):
        norm = self._grad_norm()
        for group in self.param_groups:
            scale = group["rho"] / (norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                self.state[p]["old_p"] = p.data.clone()
                weight = torch.pow(p, 2) if group["adaptive"] else 1.0
                e_w = weight * p.grad * scale.to(p)
                p.add_(e_w)  # climb to the local worst case w + e(w)
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def second_step(self, zero_grad=False):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.data = self.state[p]["old_p"]  # back to w
        self.base_optimizer.step()  # the update with the sharpness-aware gradient
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def step(self, closure=None):
        assert closure is not None, "SAM needs a closure that recomputes the loss and its gradients"
        closure = torch.enable_grad()(closure)
        self.first_step(zero_grad=True)
        closure()
        self.second_step()

    def _grad_norm(self):
        device = self.param_groups[0]["params"][0].device
        per_param = [
            ((torch.abs(p) if group["adaptive"] else 1.0) * p.grad).norm(p=2).to(device)
            for group in self.param_groups for p in group["params"] if p.grad is not None
        ]
        return torch.norm(torch.stack(per_param), p=2)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.base_optimizer.param_groups = self.param_groups


def smooth_crossentropy(pred, gold, smoothing=0.1):
    n_class = pred.size(1)
    target = torch.full_like(pred, fill_value=smoothing / (n_class - 1))
    target.scatter_(dim=1, index=gold.unsqueeze(1), value=1.0 - smoothing)
    log_prob = F.log_softmax(pred, dim=1)
    return F.kl_div(input=log_prob, target=target, reduction="none").sum(-1)


def disable_running_stats(model):
    def _disable(module):
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.backup_momentum = module.momentum
            module.momentum = 0
    model.apply(_disable)


def enable_running_stats(model):
    def _enable(module):
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and hasattr(module, "backup_momentum"):
            module.momentum = module.backup_momentum
    model.apply(_enable)


class Net(nn.Module):
    def __init__(self, n_classes=4, width=4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(2 * width, n_classes)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def make_optimizer(model, adaptive=False, rho=0.05, lr=0.1):
    rho = 2.0 if adaptive else rho  # ASAM's usual, larger radius
    return SAM(model.parameters(), torch.optim.SGD, rho=rho, adaptive=adaptive, lr=lr, momentum=0.9,
               weight_decay=5e-4)


def train(model, optimizer, batches, epochs=2, use_closure=False):
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    bn = model.features[1]
    history = {"loss": [], "loss2": [], "grad_norm": [], "lr": [], "base_lr": [], "bn_mean": [], "bn_steady": [],
               "tracked": []}
    for _ in range(epochs):
        model.train()
        for xb, yb in batches:
            x, y = torch.from_numpy(xb), torch.from_numpy(yb)
            if use_closure:
                def closure():
                    disable_running_stats(model)
                    loss2 = smooth_crossentropy(model(x), y).mean()
                    loss2.backward()
                    history["loss2"].append(loss2.item())
                    return loss2

                enable_running_stats(model)
                loss = smooth_crossentropy(model(x), y).mean()
                loss.backward()
                history["grad_norm"].append(optimizer._grad_norm().item())
                optimizer.step(closure)
                optimizer.zero_grad()
            else:
                # first forward-backward pass (BatchNorm updates its statistics)
                enable_running_stats(model)
                loss = smooth_crossentropy(model(x), y).mean()
                loss.backward()
                history["grad_norm"].append(optimizer._grad_norm().item())
                optimizer.first_step(zero_grad=True)
                # second pass at w + e(w), statistics frozen
                disable_running_stats(model)
                before = bn.running_mean.clone()
                loss2 = smooth_crossentropy(model(x), y).mean()
                loss2.backward()
                history["bn_steady"].append(bool(torch.equal(before, bn.running_mean)))
                history["loss2"].append(loss2.item())
                optimizer.second_step(zero_grad=True)
            history["loss"].append(loss.item())
            history["bn_mean"].append(bn.running_mean.numpy().copy())
            history["tracked"].append(int(bn.num_batches_tracked))
        scheduler.step()
        history["lr"].append(optimizer.param_groups[0]["lr"])
        history["base_lr"].append(optimizer.base_optimizer.param_groups[0]["lr"])
    enable_running_stats(model)
    return history
