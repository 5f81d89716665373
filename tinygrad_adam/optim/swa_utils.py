"""Stochastic weight averaging and EMA of a whole model, as ``torch.optim.swa_utils`` (torch 2.13).

    swa_model = AveragedModel(model)                     # or multi_avg_fn=get_ema_multi_avg_fn(0.999)
    scheduler = SWALR(optimizer, swa_lr=0.05)
    for epoch ...: train one epoch; swa_model.update_parameters(model); scheduler.step()
    update_bn(loader, swa_model)                         # BatchNorm statistics for the averaged weights

:class:`AveragedModel` is the model-level cousin of :class:`~tinygrad_adam.optim.TemporalAverage` (the paper's
section 7.2): that one keeps a bias-corrected EMA of a parameter list beside the model, this one is a copy of the
model (an ``nn.Module``, buffers optionally averaged too) whose weights are an equal-weight SWA mean or an EMA
without bias correction whose first update copies the weights.

Layering: this is the one optim file that imports nn (AveragedModel is a Module, update_bn finds BatchNorm layers,
as torch's); ``optim/__init__`` loads it on first use, so ``import tinygrad_adam.optim`` still never imports nn.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

from ..autograd import no_grad
from ..creation import zeros
from ..nn.layers import _BatchNorm
from ..nn.module import Module
from ..tensor import Tensor, bump_version
from .lr_scheduler import LRScheduler, _per_group
from .optimizer import Optimizer

AvgFn = Callable[[Tensor, Tensor, Tensor], Tensor]  # (averaged, current, n_averaged) -> new averaged
MultiAvgFn = Callable[[list[Tensor], list[Tensor], Tensor], None]  # updates the averaged list in place

__all__ = ["SWALR", "AveragedModel", "get_ema_avg_fn", "get_ema_multi_avg_fn", "get_swa_avg_fn",
           "get_swa_multi_avg_fn", "update_bn"]


def _check_decay(decay: float) -> None:
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay={decay} lies outside [0, 1]")


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """In-place EMA of lists of tensors of one dtype: averaged <- lerp(averaged, current, 1 - decay) (floating), or
    averaged * decay + current * (1 - decay) cast back (integer buffers, truncated as torch's copy_)."""
    _check_decay(decay)

    def ema_update(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor) -> None:
        with no_grad():
            floating = averaged[0].dtype.kind in "fc"
            for a, c in zip(averaged, current):
                a.copy_(a.lerp(c, 1 - decay) if floating else a * decay + c * (1 - decay))
    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """In-place running mean of lists of floating tensors of one dtype: averaged <- lerp(averaged, current,
    1 / (n + 1)) (the weight is torch's float32 0-d tensor); RuntimeError for integer tensors, as torch's."""

    def swa_update(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor | int) -> None:
        if averaged[0].dtype.kind not in "fc":
            raise RuntimeError(f"get_swa_multi_avg_fn: cannot average {averaged[0].dtype} tensors (torch refuses too); "
                            f"with use_buffers=True use the default averaging or an EMA")
        with no_grad():
            for a, c in zip(averaged, current):
                a.copy_(a.lerp(c, 1 / (num_averaged + 1)))
    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """One tensor's EMA step: decay * averaged + (1 - decay) * current (same shape and dtype as ``averaged``)."""
    _check_decay(decay)

    def ema_update(averaged: Tensor, current: Tensor, num_averaged: Tensor) -> Tensor:
        with no_grad():
            return decay * averaged + (1 - decay) * current
    return ema_update


def get_swa_avg_fn() -> AvgFn:
    """One tensor's running-mean step: averaged + (current - averaged) / (n + 1)."""

    def swa_update(averaged: Tensor, current: Tensor, num_averaged: Tensor) -> Tensor:
        with no_grad():
            return averaged + (current - averaged) / (num_averaged + 1)
    return swa_update


class AveragedModel(Module):
    """A deep copy of ``model`` (attribute ``module``, moved to ``device`` if given) whose weights are averaged by
    :meth:`update_parameters`; calling it runs the copy. ``n_averaged`` (an int64 0-d buffer) counts the updates;
    ``state_dict`` keys are ``"n_averaged"`` and ``"module.<name>"``, as torch's.

    By default the average is the running mean p_avg + (p - p_avg) / (n + 1) (SWA); ``avg_fn`` (one tensor at a
    time, returns the new average) or ``multi_avg_fn`` (lists of one device and dtype, updated in place) replace
    it, e.g. ``get_ema_multi_avg_fn(decay)``. The first update copies the weights. ``use_buffers=True`` averages
    the buffers (BatchNorm statistics) too; otherwise they are copied from ``model`` at each update.
    """

    def __init__(self, model: Module, device: str | None = None, avg_fn: AvgFn | None = None,
                 multi_avg_fn: MultiAvgFn | None = None, use_buffers: bool = False) -> None:
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: give avg_fn or multi_avg_fn, not both")
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel needs an nn.Module, got {type(model).__name__}")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", zeros((), dtype="int64", device=device))
        self.avg_fn, self.multi_avg_fn, self.use_buffers = avg_fn, multi_avg_fn, use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def _averaged(self, model: Module) -> tuple[list[Tensor], list[Tensor]]:
        """(ours, model's) tensors that are averaged, paired in order; ValueError if the models differ."""
        mine = list(self.module.parameters()) + (list(self.module.buffers()) if self.use_buffers else [])
        theirs = list(model.parameters()) + (list(model.buffers()) if self.use_buffers else [])
        if len(mine) != len(theirs):
            raise ValueError(f"update_parameters: the model has {len(theirs)} tensors to average, the averaged copy "
                             f"has {len(mine)}; pass the model this AveragedModel was made from")
        return mine, [t.detach().to(a.device) for a, t in zip(mine, theirs)]

    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current weights into the average (the first call copies them), then count it."""
        mine, theirs = self._averaged(model)
        n = self.n_averaged
        with no_grad():
            if n.item() == 0:
                for a, t in zip(mine, theirs):
                    a.copy_(t)
            elif self.avg_fn is not None:
                for a, t in zip(mine, theirs):
                    a.copy_(self.avg_fn(a.detach(), t, n.to(a.device)))
            else:  # torch on the CPU: multi_avg_fn per (device, dtype) group, else the running mean tensor by tensor
                groups: dict[tuple[str, Any], tuple[list[Tensor], list[Tensor]]] = {}
                for a, t in zip(mine, theirs):
                    group = groups.setdefault((a.device, a.dtype), ([], []))
                    group[0].append(a), group[1].append(t)
                swa = get_swa_avg_fn()
                for (device, _), (avgs, currents) in groups.items():
                    if self.multi_avg_fn is not None:
                        self.multi_avg_fn(avgs, currents, n.to(device))
                    else:
                        for a, t in zip(avgs, currents):
                            a.copy_(swa(a, t, n.to(device)))
            if not self.use_buffers:  # keep the buffers in sync with the model's
                for b, src in zip(self.module.buffers(), model.buffers()):
                    b.copy_(src.detach().to(b.device))
            n._data[...] += 1
            bump_version(n)


def update_bn(loader: Iterable[Any], model: Module, device: str | None = None) -> None:
    """Recompute every BatchNorm layer's running statistics over ``loader`` (batches, or tuples/lists whose first
    item is the input), with ``momentum=None`` (their plain average), in training mode; momenta and the training
    flag are restored afterwards. InstanceNorm layers are left alone, as in torch."""
    momenta = {m: m.momentum for m in model.modules() if isinstance(m, _BatchNorm)}  # (InstanceNorm is none)
    if not momenta:
        return
    for m in momenta:
        m.reset_running_stats()
        m.momentum = None
    was_training = model.training
    model.train()
    with no_grad():
        for batch in loader:
            x = batch[0] if isinstance(batch, (list, tuple)) else batch
            model(x if device is None else x.to(device))
    for m, momentum in momenta.items():
        m.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr from its value to ``swa_lr`` (a number or one per group) over ``anneal_epochs`` steps
    ("cos" or "linear"), then hold it, as torch's: at step k, alpha = anneal(min(1, k / max(1, anneal_epochs))) and
    lr = swa_lr alpha + lr0 (1 - alpha), where lr0 is recovered from the current lr and the previous alpha. As in
    torch the step is the number of ``step()`` calls (not ``last_epoch``)."""

    def __init__(self, optimizer: Optimizer, swa_lr: float | list[float], anneal_epochs: int = 10,
                 anneal_strategy: str = "cos", last_epoch: int = -1) -> None:
        for lr, group in zip(_per_group("SWALR", "swa_lr", optimizer, swa_lr), optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"unknown anneal_strategy {anneal_strategy!r} (choices: 'cos', 'linear')")
        if not isinstance(anneal_epochs, numbers.Integral) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs={anneal_epochs} is negative")
        self._set_anneal_func(anneal_strategy)
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def _set_anneal_func(self, anneal_strategy: str) -> None:
        """Keep the strategy's name (what state_dict saves, as torch's ``_anneal_strategy``) and its function."""
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def state_dict(self) -> dict[str, Any]:
        """The base class's, without ``anneal_func`` (a function, which a checkpoint cannot hold), as torch's."""
        state = super().state_dict()
        state.pop("anneal_func", None)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The base class's, then ``anneal_func`` from the restored ``_anneal_strategy``."""
        super().load_state_dict(state)
        self._set_anneal_func(self._anneal_strategy)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        return swa_lr if alpha == 1 else (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self) -> list[float]:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        groups = self.optimizer.param_groups
        return [g["swa_lr"] * alpha + self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) * (1 - alpha)
                for g in groups]
