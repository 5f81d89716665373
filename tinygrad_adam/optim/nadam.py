"""NAdam (Dozat 2016): Adam with Nesterov momentum and a warming momentum schedule mu_t, as torch.optim.NAdam."""

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


def momentum_schedule(t: int, beta1: float, momentum_decay: float) -> float:
    """mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay)): the momentum of step t (float64, on the host)."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))


def nadam_reference(p: Array, g: Array, m: Array, v: Array, t: int, mu_product: float, *, lr: float, beta1: float,
                    beta2: float, eps: float, weight_decay: float = 0, momentum_decay: float = 4e-3,
                    decoupled: bool = False) -> None:
    """One NAdam step, in place on ``p``, ``m``, ``v`` (all of ``p``'s shape); ``t`` starts at 1.

    ``mu_product`` is mu_1 ... mu_t, this step's included. ``weight_decay`` adds an L2 term to the gradient, or
    with ``decoupled`` shrinks the weights directly (torch's ``decoupled_weight_decay``).
    """
    xp = backend.get_array_module(p)
    if decoupled:
        p *= 1 - lr * weight_decay                   # decay the weights, not the gradient
    elif weight_decay:
        g = g + weight_decay * p                     # L2 penalty folded into the gradient
    mu = momentum_schedule(t, beta1, momentum_decay)  # mu_t = beta1 (1 - 0.5 * 0.96^(t psi))
    mu_next = momentum_schedule(t + 1, beta1, momentum_decay)  # mu_{t+1}: Nesterov looks one step ahead
    m[...] = beta1 * m + (1 - beta1) * g             # m_t = beta1 m_{t-1} + (1 - beta1) g_t
    v[...] = beta2 * v + (1 - beta2) * g * g         # v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    v_hat = v / (1 - beta2**t)                       # v_hat_t = v_t / (1 - beta2^t)
    # m_bar_t = (1 - mu_t) g_t / (1 - prod_{i<=t} mu_i) + mu_{t+1} m_t / (1 - prod_{i<=t+1} mu_i)
    m_bar = (1 - mu) / (1 - mu_product) * g + mu_next / (1 - mu_product * mu_next) * m
    p -= lr * m_bar / (xp.sqrt(v_hat) + eps)         # theta_t = theta_{t-1} - alpha m_bar_t / (sqrt(v_hat_t) + eps)


@functools.cache
def nadam_kernel(l2: bool, decoupled: bool) -> FusedKernel:
    """NAdam per element. As in Adam's kernel, sqrt(1 - beta2^t) moves out of the denominator: the host folds it
    into the two step sizes and into eps_hat = eps sqrt(1 - beta2^t)."""
    gw, lines = moment_program(l2, decoupled)
    body = "\n".join([*lines, f"p = p - ({gw} * step_g + m * step_m) / (sqrt(v) + eps_hat)"])
    return FusedKernel(f"nadam_{int(l2)}{int(decoupled)}", "p m v", "g",
                       "decay weight_decay beta1 one_minus_beta1 beta2 one_minus_beta2 step_g step_m eps_hat", body)


class NAdam(Optimizer):
    """NAdam: ``NAdam(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
    decoupled_weight_decay=False, impl="auto")``, with torch.optim.NAdam's names and semantics.

    State per parameter: ``m`` and ``v`` (the parameter's shape), the step count ``t``, and ``mu_product``
    (mu_1 ... mu_t as a Python float, kept in float64; torch keeps a 0-d tensor of its default float dtype).
    ``impl``: see :class:`Optimizer`.
    """
    torch_state_names: ClassVar[dict[str, str]] = {"step": "t", "exp_avg": "m", "exp_avg_sq": "v"}

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *, maximize: bool = False,
                 impl: str = "auto", **flags: Any) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults, impl, maximize, **flags)

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr", "eps", "weight_decay", "momentum_decay")
        check_betas(group)

    def init_state(self, p: Array, group: Group) -> State:
        xp = backend.get_array_module(p)
        return {"m": xp.zeros_like(p), "v": xp.zeros_like(p), "mu_product": 1.0}

    def advance(self, state: State, group: Group) -> None:
        # prod_{i<=t} mu_i, on the host in float64
        state["mu_product"] *= momentum_schedule(state["t"], group["betas"][0], group["momentum_decay"])

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        beta1, beta2 = group["betas"]
        nadam_reference(p, g, state["m"], state["v"], state["t"], state["mu_product"], lr=group["lr"], beta1=beta1,
                        beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
                        momentum_decay=group["momentum_decay"], decoupled=group["decoupled_weight_decay"])

    def fused(self, state: State, group: Group) -> tuple[FusedKernel, dict[str, float]]:
        lr, (beta1, beta2), t, wd = group["lr"], group["betas"], state["t"], group["weight_decay"]
        mu = momentum_schedule(t, beta1, group["momentum_decay"])
        mu_next = momentum_schedule(t + 1, beta1, group["momentum_decay"])
        mu_product = state["mu_product"]
        root_bc2 = math.sqrt(1 - beta2**t)
        decoupled = group["decoupled_weight_decay"]
        kernel = nadam_kernel(bool(wd) and not decoupled, bool(wd) and decoupled)
        return kernel, {"decay": 1 - lr * wd, "weight_decay": wd, "beta1": beta1, "one_minus_beta1": 1 - beta1,
                        "beta2": beta2, "one_minus_beta2": 1 - beta2,
                        "step_g": lr * (1 - mu) / (1 - mu_product) * root_bc2,
                        "step_m": lr * mu_next / (1 - mu_product * mu_next) * root_bc2,
                        "eps_hat": group["eps"] * root_bc2}
