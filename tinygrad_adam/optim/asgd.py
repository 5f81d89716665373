"""ASGD, averaged stochastic gradient descent (Polyak & Juditsky 1992), as torch.optim.ASGD: SGD with a decaying
step size eta_t and decay term lambd, plus a running average ``ax`` of the iterates from step t0 on."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, ClassVar

from .. import backend
from ..tensor import Array, Tensor
from .fused import FusedKernel
from .optimizer import Group, Optimizer, State, _number, check_nonnegative


def asgd_reference(p: Array, g: Array, ax: Array, *, eta: float, mu: float, lambd: float,
                   weight_decay: float = 0) -> None:
    """One ASGD step, in place on ``p`` and ``ax`` (the average of the iterates, ``p``'s shape), with this step's
    ``eta`` and ``mu`` (what :func:`asgd_schedule` gave after the last step)."""
    if weight_decay:
        g = g + weight_decay * p                  # L2 penalty folded into the gradient
    p *= 1 - lambd * eta                          # decay term
    p -= eta * g                                  # theta_t = (1 - lambd eta_t) theta_{t-1} - eta_t g_t
    if mu != 1:
        ax += (p - ax) * mu                       # ax_t = ax_{t-1} + mu_t (theta_t - ax_{t-1}): the running mean
    else:
        ax[...] = p                               # before t0 the "average" is the last iterate


def asgd_schedule(t: int, *, lr: float, lambd: float, alpha: float, t0: float) -> tuple[float, float]:
    """eta and mu for the step after step ``t``, as torch computes them: eta = lr / (1 + lambd lr t)^alpha and
    mu = 1 / max(1, t - t0)."""
    eta = lr / ((1 + lambd * lr * t) ** alpha)
    if isinstance(eta, complex):
        raise ValueError(f"ASGD: 1 + lambd * lr * t = {1 + lambd * lr * t} is negative at step {t}, so its power "
                         f"alpha={alpha} is not a real number; use lambd >= 0")
    return eta, 1 / max(1, t - t0)


@functools.cache
def asgd_kernel(l2: bool, average: bool) -> FusedKernel:
    """ASGD per element; ``average``: mu != 1 (from step t0 on), else ax copies p."""
    gw = "gw" if l2 else "g"
    body = "\n".join([
        "gw = g + weight_decay * p" if l2 else "",
        "p = p * decay",
        f"p = p - {gw} * eta",
        "ax = ax + (p - ax) * mu" if average else "ax = p",
    ])
    return FusedKernel(f"asgd_{int(l2)}{int(average)}", "p ax", "g", "weight_decay decay eta mu", body)


class ASGD(Optimizer):
    """ASGD: ``ASGD(params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None, maximize=False,
    differentiable=False, capturable=False, *, impl="auto")`` (torch's order: all of them may be positional).

    State per parameter, named as torch's: ``ax`` (the average, the parameter's shape), the host numbers ``eta``
    (starts at lr) and ``mu`` (starts at 1) for the next step, and the step count ``t``. ``impl``: see
    :class:`Optimizer`.
    """
    torch_state_names: ClassVar[dict[str, str]] = {"step": "t"}

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1e-2, lambd: float = 1e-4,
                 alpha: float = 0.75, t0: float = 1e6, weight_decay: float = 0, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False, capturable: bool = False, *,
                 impl: str = "auto", **flags: Any) -> None:
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0, "weight_decay": weight_decay}
        super().__init__(params, defaults, impl, maximize, foreach=foreach, differentiable=differentiable,
                         capturable=capturable, **flags)

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr", "weight_decay")
        for name in ("lambd", "alpha", "t0"):  # any real number, as torch
            _number(name, group[name])

    def init_state(self, p: Array, group: Group) -> State:
        return {"eta": float(group["lr"]), "mu": 1.0, "ax": backend.get_array_module(p).zeros_like(p)}

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        asgd_reference(p, g, state["ax"], eta=state["eta"], mu=state["mu"], lambd=group["lambd"],
                       weight_decay=group["weight_decay"])

    def fused(self, state: State, group: Group) -> tuple[FusedKernel, dict[str, float]]:
        eta, wd = state["eta"], group["weight_decay"]
        return asgd_kernel(bool(wd), state["mu"] != 1), {"weight_decay": wd, "decay": 1 - group["lambd"] * eta,
                                                         "eta": eta, "mu": state["mu"]}

    def _update(self, p: Tensor, group: Group, together: dict[tuple[Any, ...], list[dict[str, Array]]],
                kernels: dict[tuple[Any, ...], tuple[FusedKernel, dict[str, float]]]) -> None:
        """The step with the eta and mu the last one left, then (as torch) those of the next step."""
        super()._update(p, group, together, kernels)
        state = self.state[p]
        state["eta"], state["mu"] = asgd_schedule(state["t"], lr=group["lr"], lambd=group["lambd"],
                                                  alpha=group["alpha"], t0=group["t0"])
