"""Learning-rate schedules with torch.optim.lr_scheduler's (2.13) semantics: call ``step()`` after each
``optimizer.step()``.

As in torch, most schedules are *chainable*: ``get_lr()`` computes each group's next lr from the group's current
``lr`` (ExponentialLR multiplies it by ``gamma``), so :class:`ChainedScheduler` can compose several of them.
``step(epoch)`` (deprecated in torch; a UserWarning here too) jumps to step ``epoch`` through the closed form from
``base_lrs``: each group's lr when its first scheduler was made, kept in ``group["initial_lr"]``. ``last_epoch``
counts the calls to ``step()`` (0 right after construction).

``load_state_dict`` also sets every group's lr (and a cycled momentum) to the restored step's when the optimizer's
lrs are still the ones this scheduler set (a fresh optimizer, nothing loaded or stepped since), so a resumed run
continues identically whether or not the optimizer's state was loaded too. Otherwise (the optimizer's state was
loaded, or another scheduler of the optimizer, e.g. SWALR beside a warm-up schedule, set them) it leaves the lrs
alone, as torch's always does.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import types
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, check_nonnegative

EPOCH_DEPRECATION = ("passing an epoch to step() is deprecated, as in torch: it jumps to that step through the "
                     "closed form where there is one; call step() without arguments instead")


def _per_group(owner: str, name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    """``value`` repeated for each parameter group, or a list/tuple with one value per group (else ValueError)."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{owner}: got {len(value)} {name}s for {n} parameter groups; give one per group")
        return list(value)
    return [value] * n


def _lambdas(owner: str, optimizer: Optimizer, lr_lambda: Any) -> list[Callable[[int], float]]:
    """One function of the step per parameter group (TypeError for a non-callable)."""
    fns = _per_group(owner, "lr_lambda", optimizer, lr_lambda)
    for fn in fns:
        if not callable(fn):
            raise TypeError(f"{owner}: lr_lambda takes a callable, not a {type(fn).__name__}")
    return fns


def _function_state(fn: Any) -> dict[str, Any] | None:
    """What a state_dict keeps of a user function: a callable object's ``__dict__``, nothing of a function."""
    return None if fn is None or isinstance(fn, types.FunctionType) else fn.__dict__.copy()


def _as_list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else [x]


def _track_optimizer_steps(optimizer: Optimizer) -> None:
    """Wrap ``optimizer.step`` (once), as torch does, so that it notes in ``optimizer._opt_called`` that it ran. The
    wrapper is a method bound to the optimizer (torch's holds a weak reference), so a deep copy's step steps the
    copy."""
    func = getattr(optimizer.step, "__func__", None)
    if func is None or hasattr(func, "_wrapped_by_lr_sched"):
        return

    @functools.wraps(func)
    def step(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        self._opt_called = True
        return func(self, *args, **kwargs)

    step._wrapped_by_lr_sched = True  # type: ignore[attr-defined]
    optimizer.step = types.MethodType(step, optimizer)  # type: ignore[method-assign]


def _check_step_order(optimizer: Optimizer) -> None:
    """torch's UserWarnings at a scheduler's first ``step()``: the optimizer's step was replaced after the scheduler
    wrapped it, or has not run yet (so the schedule's first lr is skipped)."""
    if not hasattr(optimizer.step, "_wrapped_by_lr_sched"):
        warnings.warn("`optimizer.step()` was replaced after this scheduler was built, so the scheduler cannot tell "
                      "whether it ran; call `optimizer.step()` before `lr_scheduler.step()`.",
                      UserWarning, stacklevel=3)
    elif not getattr(optimizer, "_opt_called", False):
        warnings.warn("`lr_scheduler.step()` ran before any `optimizer.step()`, so the schedule's first rate is "
                      "never used; step the optimizer first (the order since torch 1.1.0).", UserWarning, stacklevel=3)


def _warn_outside_step(get_lr: Callable[[Any], list[float]]) -> Callable[[Any], list[float]]:
    """``get_lr`` that warns (torch's words) when called other than by the scheduler's own step."""
    @functools.wraps(get_lr)
    def checked(self: Any) -> list[float]:
        if not self._get_lr_called_within_step:
            warnings.warn("get_lr() is meant for the scheduler's own step; read the latest rate with `get_last_lr()`.",
                          UserWarning, stacklevel=2)
        return get_lr(self)
    return checked


def _check_positive(name: str, value: Any) -> None:
    """ValueError naming ``value`` unless it is a number > 0 (a period that torch would divide by)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"invalid {name}={value!r}: must be a number > 0")


def _copy(value: Any) -> Any:
    """A Tensor hyperparameter cloned (so a kept lr never aliases the group's), anything else as it is."""
    return value.clone() if isinstance(value, Tensor) else value


def _set_group_lr(group: dict[str, Any], lr: Any) -> None:
    """Set a group's lr as torch does: a Tensor lr is filled in place (keeping its object and dtype), else the
    value replaces it."""
    current = group["lr"]
    if isinstance(current, Tensor):
        current.fill_(lr.item() if isinstance(lr, Tensor) else lr)
    else:
        group["lr"] = lr


def _same_lrs(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Whether two lists of lrs (numbers or one-element Tensors) hold the same values."""
    def value(x: Any) -> Any:
        return x.item() if isinstance(x, Tensor) else x
    return len(a) == len(b) and all(value(x) == value(y) for x, y in zip(a, b))


def _set_momentum(group: dict[str, Any], beta1: bool, momentum: float) -> None:
    """Set a group's ``momentum``, or its beta1 (``betas[0]``) when ``beta1``."""
    if beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum


class LRScheduler:
    """Base class, as torch's: a subclass defines ``get_lr()`` (the lr of each group at step ``last_epoch``, usually
    from the group's current lr) and, where torch has one, ``_get_closed_form_lr()`` (from ``base_lrs``) for
    ``step(epoch)``, which otherwise uses ``get_lr()`` (a user's subclass may define either, as in torch)."""

    _is_initial = False  # True during the constructor's own step (most chainable schedules keep the lr then)
    _get_lr_called_within_step = False  # True while a step computes the lrs (torch's name): else get_lr() warns
    _functions: tuple[str, ...] = ()  # attributes holding user functions: state_dict keeps only their __dict__

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", _copy(group["lr"]))
            elif "initial_lr" not in group:
                raise KeyError(f"param group {i} has no 'initial_lr': resuming (last_epoch={last_epoch}) needs "
                               f"the optimizer state of the run that made it")
        self.base_lrs = [_copy(group["initial_lr"]) for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        _track_optimizer_steps(optimizer)
        self._initial_step()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A library schedule's ``get_lr()`` called outside ``step()`` warns, as torch's: it computes the next step's
        lrs from the current ones (not the lrs in use, which ``get_last_lr()`` gives). A user's own does not."""
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("tinygrad_adam.") and "get_lr" in cls.__dict__:
            cls.get_lr = _warn_outside_step(cls.__dict__["get_lr"])

    @contextlib.contextmanager
    def _within_step(self) -> Iterator[None]:
        self._get_lr_called_within_step = True
        try:
            yield
        finally:
            self._get_lr_called_within_step = False

    def _initial_step(self) -> None:
        self._step_count = 0  # calls to step(), this one included, as torch counts them
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The lr of each group at step ``last_epoch`` (called by ``step()`` after it advanced the step)."""
        raise NotImplementedError(f"{type(self).__name__} defines no get_lr(): a subclass of LRScheduler must; a "
                                  f"ChainedScheduler or SequentialLR can only be first in a SequentialLR, as in torch")

    def step(self, epoch: float | None = None) -> None:
        """Advance one step (or jump to step ``epoch``, torch's deprecated form) and set every group's lr."""
        if self._step_count == 1:
            _check_step_order(self.optimizer)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: float | None = None) -> None:
        with self._within_step():
            if epoch is None:
                self.last_epoch += 1
                self._set_lrs(self.get_lr())
            else:
                self.last_epoch = epoch
                closed_form = getattr(self, "_get_closed_form_lr", None)  # torch's name, looked up as torch does
                self._set_lrs(self.get_lr() if closed_form is None else closed_form())

    def _current_lrs(self) -> list[float]:
        """Each group's lr (a Tensor lr cloned, as torch's lists of lrs)."""
        return [_copy(group["lr"]) for group in self.optimizer.param_groups]

    def _set_lrs(self, lrs: Iterable[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            _set_group_lr(group, lr)
        self._last_lr = self._current_lrs()
        self._optimizer_loads = self.optimizer.__dict__.get("_loads", 0)  # (see _owns_lrs)

    def _cycles_momentum(self) -> bool:
        """Whether this scheduler (or one it steps) moves the groups' momentum or beta1."""
        return False

    def get_last_lr(self) -> list[float]:
        """The lr of each group as this scheduler last set it."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer; of a user function only a callable object's ``__dict__`` (None for
        a plain function or lambda), as torch."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_optimizer_loads")}
        for name in self._functions:  # torch's layout: a list for LambdaLR's list, one entry for CyclicLR's scale_fn
            value = state[name]
            state[name] = [_function_state(fn) for fn in value] if isinstance(value, list) else _function_state(value)
        if self._cycles_momentum():  # what load_state_dict puts back (torch leaves it to the optimizer's state)
            beta1 = "betas" in self.optimizer.defaults
            state["_last_momentum"] = [g["betas"][0] if beta1 else g["momentum"] for g in self.optimizer.param_groups]
        return state

    def _check_state(self, state: dict[str, Any]) -> None:
        unknown = set(state) - set(self.state_dict())
        if unknown:
            raise TypeError(f"unknown {type(self).__name__} state {sorted(unknown)}")
        t = state.get("last_epoch", 0)
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not t >= -1:
            raise ValueError(f"invalid last_epoch={t!r}: must be a number >= -1")
        if "base_lrs" in state:
            bases = state["base_lrs"]
            if not isinstance(bases, (list, tuple)) or len(bases) != len(self.optimizer.param_groups):
                raise ValueError(f"invalid base_lrs={bases!r}: must be one lr per parameter group "
                                 f"({len(self.optimizer.param_groups)})")
            for lr in bases:
                check_nonnegative({"base_lr": lr}, "base_lr")

    def _owns_lrs(self) -> bool:
        """Whether the optimizer's lrs are still the ones this scheduler last set (so loading may move them): not
        where the optimizer's state was loaded since (its lrs are the loaded ones, even where they equal this
        scheduler's: a resume of two schedulers, or of an lr set by hand), nor where they differ."""
        restore = self.__dict__.get("_restore_on_load")  # a composite's decision for the schedulers it holds
        if restore is not None:
            return restore
        if self.optimizer.__dict__.get("_loads", 0) != self.__dict__.get("_optimizer_loads", 0):
            return False
        last = self.__dict__.get("_last_lr")
        return last is not None and _same_lrs(last, [g["lr"] for g in self.optimizer.param_groups])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; if the optimizer's lrs are still the ones this scheduler set
        (nothing loaded or stepped since), also set every group's lr (and a cycled momentum) to the restored
        step's, else leave them, as torch.

        ValueError / TypeError (and nothing restored) for keys this scheduler lacks, a step count that is not a
        number >= -1, or base lrs that are not one number >= 0 per parameter group.
        """
        self._check_state(state)
        restore = self._owns_lrs()
        self.__dict__.update({k: v for k, v in state.items() if k not in (*self._functions, "_last_momentum")})
        for name in self._functions:
            for fn, saved in zip(_as_list(getattr(self, name)), _as_list(state[name]) if name in state else []):
                if saved is not None:
                    fn.__dict__.update(saved)
        if "_last_lr" not in state:  # a state saved before _last_lr was kept: the optimizer's own lrs stand
            self._last_lr = self._current_lrs()
        elif restore:
            self._set_lrs(self._last_lr)
        for group, momentum in zip(self.optimizer.param_groups, state.get("_last_momentum", ()) if restore else ()):
            _set_momentum(group, "betas" in self.optimizer.defaults, momentum)


class _LRScheduler(LRScheduler):
    """torch's pre-2.0 name of :class:`LRScheduler`, which it keeps: schedules written then (torch-lr-finder's
    ``ExponentialLR`` / ``LinearLR``, many notebooks') subclass it."""


class LambdaLR(LRScheduler):
    """lr_t = base_lr * lr_lambda(t); ``lr_lambda`` is one function or one per parameter group."""

    _functions = ("lr_lambdas",)

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        self.lr_lambdas = _lambdas("LambdaLR", optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(LRScheduler):
    """lr_t = lr_{t-1} * lr_lambda(t) for t >= 1 (the lr is kept at construction); one function or one per group."""

    _functions = ("lr_lambdas",)

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        self.lr_lambdas = _lambdas("MultiplicativeLR", optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [group["lr"] * fn(self.last_epoch) for fn, group in zip(self.lr_lambdas, self.optimizer.param_groups)]


class StepLR(LRScheduler):
    """lr_t = base_lr * gamma^(t // step_size): multiply the lr by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        _check_positive("step_size", step_size)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr_t = base_lr * gamma^(number of milestones <= t); a milestone listed twice decays twice (as torch)."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones, self.gamma = Counter(milestones), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        return [group["lr"] * self.gamma ** self.milestones[self.last_epoch] for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        passed = bisect_right(sorted(Counter(self.milestones).elements()), self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """The lr is multiplied by ``factor`` (in [0, 1]) for the first ``total_iters`` steps, then restored."""

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1) -> None:
        if not 0 <= factor <= 1:
            raise ValueError(f"ConstantLR: factor must be in [0, 1], got {factor}")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [group["lr"] * self.factor for group in self.optimizer.param_groups]
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        return [group["lr"] * (1.0 / self.factor) for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base in self.base_lrs]


class LinearLR(LRScheduler):
    """The lr factor moves linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` steps, then stays."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: need 0 < start_factor <= 1 and 0 <= end_factor <= 1, got {start_factor}, "
                             f"{end_factor}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, change = self.last_epoch, self.end_factor - self.start_factor
        if t == 0:
            return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
        if self._is_initial or t > self.total_iters:
            return self._current_lrs()
        return [group["lr"] * (1.0 + change / (self.total_iters * self.start_factor + (t - 1) * change))
                for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * (self.start_factor + (self.end_factor - self.start_factor)
                        * min(self.total_iters, self.last_epoch) / self.total_iters) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr_t = base_lr * gamma^t."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """lr_t = base_lr * (1 - min(t, total_iters) / total_iters)^power: down to 0 at ``total_iters``."""

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1) -> None:
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if self._is_initial or t > self.total_iters:
            return self._current_lrs()
        decay = ((1.0 - t / self.total_iters) / (1.0 - (t - 1) / self.total_iters)) ** self.power
        return [group["lr"] * decay for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
                for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr_t = eta_min + (base_lr - eta_min) (1 + cos(pi t / T_max)) / 2 (Loshchilov & Hutter's SGDR, no restarts),
    computed recursively from the current lr as torch does."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        _check_positive("T_max", T_max)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, groups = self.last_epoch, self.optimizer.param_groups
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and t > 0:  # get_lr() called right after a resume (last_epoch=): torch's closed form
            return self._get_closed_form_lr()
        if (t - 1 - self.T_max) % (2 * self.T_max) == 0:  # leaving the trough, where the ratio below is 0/0
            return [group["lr"] + (base - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                    for base, group in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * t / self.T_max)) / (1 + math.cos(math.pi * (t - 1) / self.T_max))
                * (group["lr"] - self.eta_min) + self.eta_min for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR: lr = eta_min + (base_lr - eta_min) (1 + cos(pi T_cur / T_i)) / 2, where T_cur counts the steps since
    the last restart and the period T_i starts at ``T_0`` and is multiplied by ``T_mult`` at each restart.

    ``step(epoch)`` takes a fractional epoch (e.g. ``epoch + i / iters_per_epoch`` inside an epoch), as torch's.
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected a positive integer T_0, but got {T_0!r}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: expected an integer T_mult >= 1, but got {T_mult!r}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(f"CosineAnnealingWarmRestarts: expected a float or int eta_min, but got {eta_min!r} "
                             f"of type {type(eta_min).__name__}")
        self.T_0 = self.T_i = T_0
        self.T_mult, self.eta_min, self.T_cur = T_mult, eta_min, last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance one step, or go to (possibly fractional) ``epoch`` >= 0."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur, self.T_i = self.T_cur % self.T_i, self.T_i * self.T_mult
        elif epoch < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts.step: expected a non-negative epoch, but got {epoch}")
        elif epoch >= self.T_0:
            if self.T_mult == 1:
                self.T_cur = epoch % self.T_0
            else:
                n = int(math.log((epoch / self.T_0 * (self.T_mult - 1) + 1), self.T_mult))
                self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                self.T_i = self.T_0 * self.T_mult**n
        else:
            self.T_i, self.T_cur = self.T_0, epoch
        self.last_epoch = math.floor(epoch)
        with self._within_step():
            self._set_lrs(self.get_lr())


class InverseSqrtLR(LRScheduler):
    """alpha_t = alpha / sqrt(t) with t = last_epoch + 1 (the decay of the paper's section 4 and 6.1)."""

    def get_lr(self) -> list[float]:
        return [base / math.sqrt(self.last_epoch + 1) for base in self.base_lrs]


class _MomentumCycler(LRScheduler):
    """CyclicLR and OneCycleLR: with ``cycle_momentum`` they also move each group's ``momentum`` (SGD, RMSprop) or
    beta1 (``betas[0]``: Adam and kin) opposite to the lr."""

    def _init_momentum(self, optimizer: Optimizer, cycle_momentum: bool, base_momentum: float | Sequence[float],
                       max_momentum: float | Sequence[float], last_epoch: int) -> tuple[list[float], list[float]]:
        """Check the optimizer has a momentum, and at the start put ``max_momentum`` in each group (with
        ``max_momentum`` / ``base_momentum`` entries); returns the per-group (base, max) momenta."""
        owner = type(self).__name__
        self.cycle_momentum = cycle_momentum
        if not cycle_momentum:
            return [], []
        if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
            raise ValueError(f"{owner}: {type(optimizer).__name__} has no momentum or beta1 to cycle; pass "
                             f"cycle_momentum=False")
        self.use_beta1 = "betas" in optimizer.defaults
        bases = _per_group(owner, "base_momentum", optimizer, base_momentum)
        tops = _per_group(owner, "max_momentum", optimizer, max_momentum)
        if last_epoch == -1:
            for bottom, top, group in zip(bases, tops, optimizer.param_groups):
                _set_momentum(group, self.use_beta1, top)
                group["max_momentum"], group["base_momentum"] = top, bottom
        return bases, tops

    def _cycles_momentum(self) -> bool:
        return self.cycle_momentum


class CyclicLR(_MomentumCycler):
    """Smith's cyclical learning rates: the lr goes from ``base_lr`` up to ``max_lr`` in ``step_size_up`` steps and
    back in ``step_size_down`` (default: the same), the amplitude scaled per ``mode`` ("triangular": 1,
    "triangular2": halved each cycle, "exp_range": gamma^step) or by ``scale_fn`` of the cycle number or step
    (``scale_mode``). ``cycle_momentum`` moves the momentum (or beta1) between ``max_momentum`` and
    ``base_momentum`` the opposite way. Call ``step()`` after every batch."""

    _functions = ("_scale_fn_custom",)

    def __init__(self, optimizer: Optimizer, base_lr: float | Sequence[float], max_lr: float | Sequence[float],
                 step_size_up: int = 2000, step_size_down: int | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum: float | Sequence[float] = 0.8,
                 max_momentum: float | Sequence[float] = 0.9, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"CyclicLR needs an Optimizer, got {type(optimizer).__name__}")
        base_lrs = _per_group("CyclicLR", "base_lr", optimizer, base_lr)
        self.max_lrs = _per_group("CyclicLR", "max_lr", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        if not up > 0 or not down >= 0:
            raise ValueError(f"CyclicLR: need step_size_up > 0 and step_size_down >= 0, got {step_size_up}, "
                             f"{step_size_down}")
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(f"CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range' (or give scale_fn), "
                             f"got {mode!r}")
        if scale_fn is not None and scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"CyclicLR: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        momenta = self._init_momentum(optimizer, cycle_momentum, base_momentum, max_momentum, last_epoch)
        if cycle_momentum:  # (only then, as torch: its state_dict has these keys only then)
            self.base_momentums, self.max_momentums = momenta
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                _set_group_lr(group, lr)
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        self.mode, self.gamma, self._scale_fn_custom = mode, gamma, scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else "iterations" if mode == "exp_range" else "cycle"
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at cycle number (or step) ``x``."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self) -> list[float]:
        """The lrs at step ``last_epoch``; also sets each group's momentum when cycling it."""
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        height = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        if self.cycle_momentum:
            for bottom, top, group in zip(self.base_momentums, self.max_momentums, self.optimizer.param_groups):
                _set_momentum(group, self.use_beta1, top - (top - bottom) * height * scale)
        return [bottom + (top - bottom) * height * scale for bottom, top in zip(self.base_lrs, self.max_lrs)]


_PHASE_KEYS = ("end_step", "start_lr", "end_lr", "start_momentum", "end_momentum")  # torch's _schedule_phases


class OneCycleLR(_MomentumCycler):
    """Smith & Topin's 1cycle policy as torch's: the lr rises from max_lr/div_factor to max_lr over the first
    ``pct_start`` of ``total_steps`` and anneals to initial_lr/final_div_factor; with ``cycle_momentum`` the
    momentum (or Adam's beta1) moves the opposite way between ``max_momentum`` and ``base_momentum``.
    ``three_phase`` goes back down to the initial lr before the final annealing."""

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"OneCycleLR needs an Optimizer, got {type(optimizer).__name__}")
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
            for name, n in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if not isinstance(n, int) or n <= 0:
                    raise ValueError(f"OneCycleLR: expected a positive integer {name}, but got {n!r}")
            total_steps = epochs * steps_per_epoch
        elif not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"OneCycleLR: expected a positive integer total_steps, but got {total_steps!r}")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: expected a float pct_start in [0, 1], but got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        # torch's attribute names and layout, which its state_dict (and a converted torch checkpoint) holds
        self.total_steps, self._anneal_func_type = total_steps, anneal_strategy
        up = float(pct_start * total_steps) - 1
        phases = ([(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                   (float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                   (total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")] if three_phase else
                  [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                   (total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")])
        self._schedule_phases = [dict(zip(_PHASE_KEYS, phase, strict=True)) for phase in phases]
        max_lrs = _per_group("OneCycleLR", "max_lr", optimizer, max_lr)
        self._init_momentum(optimizer, cycle_momentum, base_momentum, max_momentum, last_epoch)
        if last_epoch == -1:
            for group, top in zip(optimizer.param_groups, max_lrs):
                group.update(initial_lr=top / div_factor, max_lr=top)
                group["min_lr"] = group["initial_lr"] / final_div_factor
        super().__init__(optimizer, last_epoch)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The base class's; a state saved under this library's former names (``anneal_strategy``, ``phases`` as
        tuples) loads too."""
        state = dict(state)
        if "phases" in state:
            state["_schedule_phases"] = [dict(zip(_PHASE_KEYS, phase, strict=True)) for phase in state.pop("phases")]
        if "anneal_strategy" in state:
            state["_anneal_func_type"] = state.pop("anneal_strategy")
        super().load_state_dict(state)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        """The lrs at step ``last_epoch``; also sets each group's momentum when cycling it."""
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {t} times, more than total_steps={self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if t <= end or i == len(self._schedule_phases) - 1:
                    pct = (t - start) / (end - start)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        _set_momentum(group, self.use_beta1, self._anneal(group[phase["start_momentum"]],
                                                                          group[phase["end_momentum"]], pct))
                    break
                start = end
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` once a metric has stopped improving for ``patience`` calls of
    ``step(metric)``, as torch's (modes "min"/"max", thresholds "rel"/"abs", ``cooldown``, ``min_lr``)."""

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0, eps: float = 1e-8) -> None:
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor should be < 1.0, got {factor}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau needs an Optimizer, got {type(optimizer).__name__}")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min'/'max' and threshold_mode 'rel'/'abs', got "
                             f"{mode!r}, {threshold_mode!r}")
        # (assigned in torch's order, so that state_dict() lists torch's keys in torch's order; min_lr as given)
        self.factor, self.optimizer = factor, optimizer
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else min_lr
        self.min_lrs = _per_group("ReduceLROnPlateau", "min_lr", optimizer, min_lr)
        self.patience, self.cooldown, self.eps, self.last_epoch = patience, cooldown, eps, 0
        self._last_lr = self._current_lrs()
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.best = self.mode_worse
        self.cooldown_counter = self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            return a < (best * (1 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (1 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record this step's metric (a number or 0-d Tensor); reduce the lr after ``patience`` bad steps."""
        current = float(metrics.item() if hasattr(metrics, "item") else metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer has {len(groups)} parameter groups but "
                                   f"min_lr gave {len(self.min_lrs)} (a group was added?); set min_lrs to match")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, floor in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, floor)
            if old - new > self.eps:
                _set_group_lr(group, new)


class _Composite(LRScheduler):
    """SequentialLR and ChainedScheduler: they step schedulers of one optimizer; their state holds each one's."""

    def _adopt(self, optimizer: Optimizer | None, schedulers: Sequence[LRScheduler]) -> None:
        owner = type(self).__name__
        if len(schedulers) < 1:
            raise ValueError(f"{owner}: the list of schedulers is empty")
        for i, s in enumerate(schedulers):
            if not hasattr(s, "optimizer"):
                raise TypeError(f"{owner}: scheduler {i} ({type(s).__name__}) has no optimizer attribute")
            if isinstance(s, ReduceLROnPlateau):
                raise ValueError(f"{owner} does not support ReduceLROnPlateau (scheduler {i}): its step() needs "
                                 f"the metric")
        optimizer = schedulers[0].optimizer if optimizer is None else optimizer
        for i, s in enumerate(schedulers):
            if s.optimizer is not optimizer:
                raise ValueError(f"{owner}: scheduler {i} ({type(s).__name__}) belongs to another optimizer; every "
                                 f"scheduler must belong to the same one")
        self.optimizer, self._schedulers = optimizer, list(schedulers)

    def _cycles_momentum(self) -> bool:
        return any(s._cycles_momentum() for s in self._schedulers)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def _check_state(self, state: dict[str, Any]) -> None:
        super()._check_state(state)
        if "_schedulers" not in state:
            return
        saved = state["_schedulers"]
        if not isinstance(saved, list) or len(saved) != len(self._schedulers):
            raise ValueError(f"{type(self).__name__}: the state's _schedulers must be a list of "
                             f"{len(self._schedulers)} states, got {saved!r:.80}")
        for s, sd in zip(self._schedulers, saved):
            s._check_state(sd)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_state(state)
        restore = self._owns_lrs()
        for s, sd in zip(self._schedulers, state.get("_schedulers", ())):
            s._restore_on_load = False  # the lrs are this composite's to set (below), not each scheduler's
            try:
                s.load_state_dict(sd)
            finally:
                s.__dict__.pop("_restore_on_load", None)
        self._restore_on_load = restore
        try:
            super().load_state_dict({k: v for k, v in state.items() if k != "_schedulers"})
        finally:
            self.__dict__.pop("_restore_on_load", None)


class SequentialLR(_Composite):
    """Run ``schedulers`` one after another, switching at each of ``milestones`` (steps); each scheduler restarts
    from its step 0 (its closed form) when its turn comes, as in torch."""

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = -1) -> None:
        self._adopt(optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expected {len(schedulers) - 1} milestones for {len(schedulers)} "
                             f"schedulers, got {len(milestones)}")
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        for group in optimizer.param_groups:
            _set_group_lr(group, _copy(group["initial_lr"]))
        self.recursive_undo()  # undo the step each scheduler took when it was made ...
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()  # ... and take only the first one's
        self._last_lr = first.get_last_lr()

    def recursive_undo(self, sched: LRScheduler | None = None) -> None:
        """Take back the constructor's step of every scheduler (nested ones included)."""
        scheds = self if sched is None else sched
        if hasattr(scheds, "_schedulers"):
            for s in scheds._schedulers:
                self.recursive_undo(s)
        elif hasattr(scheds, "last_epoch"):
            scheds.last_epoch -= 1

    def step(self) -> None:  # type: ignore[override]
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    """Step every one of ``schedulers`` at each ``step()``, in order: chainable schedules compose (their lr factors
    multiply). ``optimizer`` defaults to the first scheduler's."""

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None) -> None:
        self._adopt(optimizer, schedulers)
        self._last_lr = self._current_lrs()

    def step(self) -> None:  # type: ignore[override]
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = self._current_lrs()
