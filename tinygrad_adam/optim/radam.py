"""RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond"): Adam whose adaptive step is
switched on only once the variance of v_hat is tractable (rho_t > 5), and then scaled by the rectification
r_t; before that, SGD with momentum. As torch.optim.RAdam."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any, ClassVar

from .. import backend
from ..tensor import Array, Tensor
from .adam import moment_program
from .fused import FusedKernel
from .optimizer import Group, Optimizer, State, check_betas, check_nonnegative


def sma_length(t: int, beta2: float) -> tuple[float, float]:
    """(rho_inf, rho_t): the maximum and the step-t length of the approximated simple moving average (float64, on
    the host). rho_inf = 2 / (1 - beta2) - 1; rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)."""
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf, rho_inf - 2 * t * beta2**t / (1 - beta2**t)


def rectification(t: int, beta2: float) -> float | None:
    """r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)) when rho_t > 5, else None
    (the variance is intractable: no adaptive step)."""
    rho_inf, rho_t = sma_length(t, beta2)
    if not rho_t > 5.0:
        return None
    return ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5


def radam_reference(p: Array, g: Array, m: Array, v: Array, t: int, *, lr: float, beta1: float, beta2: float,
                    eps: float, weight_decay: float = 0, decoupled: bool = False) -> None:
    """One RAdam step (the paper's Algorithm 2), in place on ``p``, ``m``, ``v`` (all of ``p``'s shape); ``t`` starts
    at 1. ``weight_decay`` adds an L2 term to the gradient, or with ``decoupled`` shrinks the weights directly
    (torch's ``decoupled_weight_decay``, RAdamW)."""
    xp = backend.get_array_module(p)
    if decoupled:
        p *= 1 - lr * weight_decay                   # decay the weights, not the gradient
    elif weight_decay:
        g = g + weight_decay * p                     # L2 penalty folded into the gradient
    m[...] = beta1 * m + (1 - beta1) * g             # m_t = beta1 m_{t-1} + (1 - beta1) g_t
    v[...] = beta2 * v + (1 - beta2) * g * g         # v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    m_hat = m / (1 - beta1**t)                       # m_hat_t = m_t / (1 - beta1^t)
    r = rectification(t, beta2)
    if r is None:
        p -= lr * m_hat                              # rho_t <= 5: theta_t = theta_{t-1} - alpha m_hat_t
    else:                                            # l_t = sqrt(1 - beta2^t) / (sqrt(v_t) + eps)
        p -= lr * m_hat * (math.sqrt(1 - beta2**t) / (xp.sqrt(v) + eps)) * r  # theta_t -= alpha r_t m_hat_t l_t


@functools.cache
def radam_kernel(l2: bool, decoupled: bool, rectified: bool) -> FusedKernel:
    """RAdam per element. Which branch runs is a host decision (rho_t depends on t only), so each is its own kernel:
    the host folds lr, r_t, 1 / (1 - beta1^t) and sqrt(1 - beta2^t) into ``step_size``."""
    _, lines = moment_program(l2, decoupled)
    update = "p = p - m * step_size / (sqrt(v) + eps)" if rectified else "p = p - m * step_size"
    return FusedKernel(f"radam_{int(l2)}{int(decoupled)}{int(rectified)}", "p m v", "g",
                       "decay weight_decay beta1 one_minus_beta1 beta2 one_minus_beta2 step_size eps",
                       "\n".join([*lines, update]))


class RAdam(Optimizer):
    """RAdam: ``RAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
    impl="auto")``, with torch.optim.RAdam's names and semantics.

    State per parameter: ``m`` and ``v`` (the parameter's shape) and the step count ``t``. ``impl``: see
    :class:`Optimizer`.
    """
    torch_state_names: ClassVar[dict[str, str]] = {"step": "t", "exp_avg": "m", "exp_avg_sq": "v"}

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False, impl: str = "auto",
                 **flags: Any) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults, impl, maximize, **flags)

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr", "eps", "weight_decay")
        check_betas(group)

    def init_state(self, p: Array, group: Group) -> State:
        xp = backend.get_array_module(p)
        return {"m": xp.zeros_like(p), "v": xp.zeros_like(p)}

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        beta1, beta2 = group["betas"]
        radam_reference(p, g, state["m"], state["v"], state["t"], lr=group["lr"], beta1=beta1, beta2=beta2,
                        eps=group["eps"], weight_decay=group["weight_decay"],
                        decoupled=group["decoupled_weight_decay"])

    def fused(self, state: State, group: Group) -> tuple[FusedKernel, dict[str, float]]:
        lr, (beta1, beta2), t, wd = group["lr"], group["betas"], state["t"], group["weight_decay"]
        decoupled = group["decoupled_weight_decay"]
        r = rectification(t, beta2)
        step_size = lr / (1 - beta1**t) * (1.0 if r is None else r * math.sqrt(1 - beta2**t))
        kernel = radam_kernel(bool(wd) and not decoupled, bool(wd) and decoupled, r is not None)
        return kernel, {"decay": 1 - lr * wd, "weight_decay": wd, "beta1": beta1, "one_minus_beta1": 1 - beta1,
                        "beta2": beta2, "one_minus_beta2": 1 - beta2, "step_size": step_size, "eps": group["eps"]}
