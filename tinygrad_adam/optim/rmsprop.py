"""RMSProp (Tieleman & Hinton 2012), with momentum and the centered variant (Graves 2013)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, ClassVar

from .. import backend
from ..tensor import Array, Tensor
from .fused import FusedKernel
from .optimizer import Group, Optimizer, State, check_nonnegative, check_unit_interval


def rmsprop_reference(p: Array, g: Array, v: Array, g_avg: Array | None, buf: Array | None, *, lr: float,
                      alpha: float, eps: float, weight_decay: float = 0, momentum: float = 0,
                      centered: bool = False) -> None:
    """One RMSProp step, in place on ``p``, ``v`` (mean of g^2) and, when used, ``g_avg`` (mean of g, centered)
    and ``buf`` (momentum); all of ``p``'s shape."""
    xp = backend.get_array_module(p)
    if weight_decay:
        g = g + weight_decay * p                     # L2 penalty folded into the gradient
    v[...] = alpha * v + (1 - alpha) * g * g         # v_t = alpha v_{t-1} + (1 - alpha) g_t^2
    if centered:
        assert g_avg is not None
        g_avg[...] = alpha * g_avg + (1 - alpha) * g  # running mean of g: divide by an estimate of its std
        denom = xp.sqrt(v - g_avg * g_avg) + eps
    else:
        denom = xp.sqrt(v) + eps
    if momentum:
        assert buf is not None
        buf[...] = momentum * buf + g / denom        # b_t = mu b_{t-1} + g_t / (sqrt(v_t) + eps)
        p -= lr * buf
    else:
        p -= lr * g / denom                          # theta_t = theta_{t-1} - lr g_t / (sqrt(v_t) + eps)


@functools.cache
def rmsprop_kernel(l2: bool, centered: bool, momentum: bool) -> FusedKernel:
    """RMSProp per element."""
    gw = "gw" if l2 else "g"
    outputs = "p v" + (" g_avg" if centered else "") + (" buf" if momentum else "")
    body = "\n".join([
        "gw = g + weight_decay * p" if l2 else "",
        f"v = v * alpha + {gw} * {gw} * one_minus_alpha",
        f"g_avg = g_avg * alpha + {gw} * one_minus_alpha" if centered else "",
        "d = sqrt(v - g_avg * g_avg) + eps" if centered else "d = sqrt(v) + eps",
        f"buf = buf * momentum + {gw} / d" if momentum else "",
        "p = p - buf * lr" if momentum else f"p = p - {gw} * lr / d",
    ])
    return FusedKernel(f"rmsprop_{int(l2)}{int(centered)}{int(momentum)}", outputs, "g",
                       "weight_decay alpha one_minus_alpha eps momentum lr", body)


class RMSprop(Optimizer):
    """RMSProp: ``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
    impl="auto")``. State per parameter: ``v`` (mean of g^2), ``g_avg`` (centered only), ``buf`` (momentum only).
    """
    torch_state_names: ClassVar[dict[str, str]] = {"step": "t", "square_avg": "v", "grad_avg": "g_avg",
                                                     "momentum_buffer": "buf"}

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False, impl: str = "auto", **flags: Any) -> None:
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay, "momentum": momentum,
                    "centered": centered}
        super().__init__(params, defaults, impl, maximize, **flags)

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr", "eps", "weight_decay", "momentum")
        check_unit_interval(group, "alpha")

    def init_state(self, p: Array, group: Group) -> State:
        xp = backend.get_array_module(p)
        names = ["v"] + ["g_avg"] * group["centered"] + ["buf"] * bool(group["momentum"])
        return {name: xp.zeros_like(p) for name in names}

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        rmsprop_reference(p, g, state["v"], state.get("g_avg"), state.get("buf"), lr=group["lr"],
                          alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                          momentum=group["momentum"], centered=group["centered"])

    def fused(self, state: State, group: Group) -> tuple[FusedKernel, dict[str, float]]:
        kernel = rmsprop_kernel(bool(group["weight_decay"]), group["centered"], bool(group["momentum"]))
        return kernel, {"weight_decay": group["weight_decay"], "alpha": group["alpha"],
                        "one_minus_alpha": 1 - group["alpha"], "eps": group["eps"], "momentum": group["momentum"],
                        "lr": group["lr"]}
