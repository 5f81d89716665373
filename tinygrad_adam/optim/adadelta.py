"""AdaDelta (Zeiler 2012): step sizes from running averages of squared gradients and squared updates."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, ClassVar

from .. import backend
from ..tensor import Array, Tensor
from .fused import FusedKernel
from .optimizer import Group, Optimizer, State, check_nonnegative, check_unit_interval


def adadelta_reference(p: Array, g: Array, v: Array, v_delta: Array, *, lr: float, rho: float, eps: float,
                       weight_decay: float = 0) -> None:
    """One AdaDelta step, in place on ``p``, ``v`` (mean of g^2) and ``v_delta`` (mean of the squared updates)."""
    xp = backend.get_array_module(p)
    if weight_decay:
        g = g + weight_decay * p                                # L2 penalty folded into the gradient
    v[...] = rho * v + (1 - rho) * g * g                        # E[g^2]_t = rho E[g^2]_{t-1} + (1 - rho) g_t^2
    delta = xp.sqrt(v_delta + eps) / xp.sqrt(v + eps) * g       # Delta_t = RMS[Delta]_{t-1} / RMS[g]_t * g_t
    v_delta[...] = rho * v_delta + (1 - rho) * delta * delta    # E[Delta^2]_t
    p -= lr * delta                                             # theta_t = theta_{t-1} - lr Delta_t


@functools.cache
def adadelta_kernel(l2: bool) -> FusedKernel:
    """AdaDelta per element."""
    gw = "gw" if l2 else "g"
    body = "\n".join([
        "gw = g + weight_decay * p" if l2 else "",
        f"v = v * rho + {gw} * {gw} * one_minus_rho",
        f"delta = sqrt(v_delta + eps) / sqrt(v + eps) * {gw}",
        "v_delta = v_delta * rho + delta * delta * one_minus_rho",
        "p = p - delta * lr",
    ])
    return FusedKernel(f"adadelta_{int(l2)}", "p v v_delta", "g", "weight_decay rho one_minus_rho eps lr", body)


class Adadelta(Optimizer):
    """AdaDelta: ``Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, impl="auto")``.

    State per parameter: ``v`` (mean of g^2) and ``v_delta`` (mean of the squared updates), ``p``'s shape.
    """
    torch_state_names: ClassVar[dict[str, str]] = {"step": "t", "square_avg": "v", "acc_delta": "v_delta"}

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0, *, maximize: bool = False, impl: str = "auto",
                 **flags: Any) -> None:
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults, impl, maximize, **flags)

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr", "eps", "weight_decay")
        check_unit_interval(group, "rho")

    def init_state(self, p: Array, group: Group) -> State:
        xp = backend.get_array_module(p)
        return {"v": xp.zeros_like(p), "v_delta": xp.zeros_like(p)}

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        adadelta_reference(p, g, state["v"], state["v_delta"], lr=group["lr"], rho=group["rho"], eps=group["eps"],
                           weight_decay=group["weight_decay"])

    def fused(self, state: State, group: Group) -> tuple[FusedKernel, dict[str, float]]:
        rho = group["rho"]
        return adadelta_kernel(bool(group["weight_decay"])), {"weight_decay": group["weight_decay"], "rho": rho,
                                                              "one_minus_rho": 1 - rho, "eps": group["eps"],
                                                              "lr": group["lr"]}
