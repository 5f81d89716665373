"""AdaMax (Kingma & Ba 2015, Algorithm 2, section 7.1): Adam with the infinity norm in place of v."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, ClassVar

from .. import backend
from ..tensor import Array, Tensor
from .fused import FusedKernel
from .optimizer import Group, Optimizer, State, check_betas, check_nonnegative


def adamax_reference(p: Array, g: Array, m: Array, u: Array, t: int, *, lr: float, beta1: float, beta2: float,
                     eps: float, weight_decay: float = 0) -> None:
    """One step of Algorithm 2, in place on ``p``, ``m``, ``u`` (all of ``p``'s shape); ``t`` starts at 1.

    As in torch, ``eps`` sits inside the max (u_t = max(beta2 u_{t-1}, |g_t| + eps)); eps=0 is Algorithm 2.
    """
    xp = backend.get_array_module(p)
    if weight_decay:
        g = g + weight_decay * p                     # L2 penalty folded into the gradient
    m[...] = beta1 * m + (1 - beta1) * g             # m_t = beta1 m_{t-1} + (1 - beta1) g_t
    u[...] = xp.maximum(beta2 * u, xp.abs(g) + eps)  # u_t = max(beta2 u_{t-1}, |g_t|)
    p -= (lr / (1 - beta1**t)) * m / u               # theta_t = theta_{t-1} - (alpha / (1 - beta1^t)) m_t / u_t


@functools.cache
def adamax_kernel(l2: bool) -> FusedKernel:
    """Algorithm 2 per element."""
    gw = "gw" if l2 else "g"
    body = "\n".join([
        "gw = g + weight_decay * p" if l2 else "",
        f"m = m * beta1 + {gw} * one_minus_beta1",
        f"u = max(u * beta2, abs({gw}) + eps)",
        "p = p - m * step_size / u",
    ])
    return FusedKernel(f"adamax_{int(l2)}", "p m u", "g", "weight_decay beta1 one_minus_beta1 beta2 eps step_size",
                       body)


class Adamax(Optimizer):
    """AdaMax: ``Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, impl="auto")``.

    State per parameter: ``m`` (first moment), ``u`` (exponentially weighted infinity norm), step count ``t``.
    """
    torch_state_names: ClassVar[dict[str, str]] = {"step": "t", "exp_avg": "m", "exp_inf": "u"}

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0, *,
                 maximize: bool = False, impl: str = "auto", **flags: Any) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults, impl, maximize, **flags)

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr", "eps", "weight_decay")
        check_betas(group)

    def init_state(self, p: Array, group: Group) -> State:
        xp = backend.get_array_module(p)
        return {"m": xp.zeros_like(p), "u": xp.zeros_like(p)}

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        beta1, beta2 = group["betas"]
        adamax_reference(p, g, state["m"], state["u"], state["t"], lr=group["lr"], beta1=beta1, beta2=beta2,
                         eps=group["eps"], weight_decay=group["weight_decay"])

    def fused(self, state: State, group: Group) -> tuple[FusedKernel, dict[str, float]]:
        beta1, beta2 = group["betas"]
        wd = group["weight_decay"]
        return adamax_kernel(bool(wd)), {"weight_decay": wd, "beta1": beta1, "one_minus_beta1": 1 - beta1,
                                         "beta2": beta2, "eps": group["eps"],
                                         "step_size": group["lr"] / (1 - beta1 ** state["t"])}
