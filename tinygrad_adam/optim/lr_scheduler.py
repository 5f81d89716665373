"""Learning-rate schedules, torch.optim.lr_scheduler style: call ``step()`` after each ``optimizer.step()``.

Each schedule sets ``group["lr"]`` from the group's ``base_lr`` (its lr when the scheduler was made, kept in
``group["initial_lr"]``) and ``t`` = ``last_epoch``, the number of calls to ``step()`` (0 right after construction).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .optimizer import Optimizer, check_nonnegative


class LRScheduler:
    """Base class: subclasses define ``lr_at(t, base_lr, group_index)``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"param group {i} has no 'initial_lr': resuming (last_epoch={last_epoch}) needs "
                               f"the optimizer state of the run that made it")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, t: int, base_lr: float, group_index: int) -> float:
        """The lr of a group whose base lr is ``base_lr``, at step ``t``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one step and set every group's lr."""
        self.last_epoch += 1
        self._apply()

    def _apply(self) -> None:
        for i, (group, base) in enumerate(zip(self.optimizer.param_groups, self.base_lrs)):
            group["lr"] = self.lr_at(self.last_epoch, base, i)

    def get_last_lr(self) -> list[float]:
        """The lr of each group as last set."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer and any functions."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer" and not callable(v)
                and k != "lr_lambdas"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, and set every group's lr for the restored step.

        ValueError / TypeError (and nothing restored) for keys this scheduler lacks, a step count that is not an
        integer >= -1, or base lrs that are not one number >= 0 per parameter group.
        """
        unknown = set(state) - set(self.state_dict())
        if unknown:
            raise TypeError(f"unknown {type(self).__name__} state {sorted(unknown)}")
        t, bases = state.get("last_epoch", self.last_epoch), state.get("base_lrs", self.base_lrs)
        if isinstance(t, bool) or not isinstance(t, int) or t < -1:
            raise ValueError(f"invalid last_epoch={t!r}: must be an integer >= -1")
        if not isinstance(bases, (list, tuple)) or len(bases) != len(self.optimizer.param_groups):
            raise ValueError(f"invalid base_lrs={bases!r}: must be one lr per parameter group "
                             f"({len(self.optimizer.param_groups)})")
        for lr in bases:
            check_nonnegative({"base_lr": lr}, "base_lr")
        self.__dict__.update(state)
        self._apply()


class LambdaLR(LRScheduler):
    """lr_t = base_lr * lr_lambda(t); ``lr_lambda`` is one function or one per parameter group."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        n = len(optimizer.param_groups)
        self.lr_lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(self.lr_lambdas) != n:
            raise ValueError(f"got {len(self.lr_lambdas)} lr_lambdas for {n} parameter groups")
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int, base_lr: float, group_index: int) -> float:
        return base_lr * self.lr_lambdas[group_index](t)


class StepLR(LRScheduler):
    """lr_t = base_lr * gamma^(t // step_size): decay by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if not (isinstance(step_size, int) and step_size >= 1):
            raise ValueError(f"invalid step_size={step_size!r}: must be an integer >= 1")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int, base_lr: float, group_index: int) -> float:
        return base_lr * self.gamma ** (t // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr_t = eta_min + (base_lr - eta_min) (1 + cos(pi t / T_max)) / 2 (Loshchilov & Hutter's SGDR, no restarts)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        if not (isinstance(T_max, int) and T_max >= 1):
            raise ValueError(f"invalid T_max={T_max!r}: must be an integer >= 1")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, t: int, base_lr: float, group_index: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


class InverseSqrtLR(LRScheduler):
    """alpha_t = alpha / sqrt(t) with t = last_epoch + 1 (the decay of the paper's section 4 and 6.1)."""

    def lr_at(self, t: int, base_lr: float, group_index: int) -> float:
        return base_lr / math.sqrt(t + 1)
