"""Rprop, resilient backpropagation (Riedmiller & Braun 1993), as torch.optim.Rprop: per-coordinate step sizes that
grow while the gradient keeps its sign and shrink when it flips; only the sign of the gradient moves the weights."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

from .. import backend
from ..ops import unary
from ..tensor import Array, Tensor
from .fused import FusedKernel
from .optimizer import Group, Optimizer, State, _number, check_nonnegative


def rprop_reference(p: Array, g: Array, prev: Array, step_size: Array, *, etaminus: float, etaplus: float,
                    step_size_min: float, step_size_max: float) -> None:
    """One step of torch's Rprop algorithm box, in place on ``p``, ``prev`` (the last step's gradient) and
    ``step_size`` (eta, per coordinate), all of ``p``'s shape. A nan product g prev counts as no sign change
    (torch's sign of nan is 0)."""
    xp, dt = backend.get_array_module(p), p.dtype.type  # (numbers in p's dtype, as torch's)
    same = g * prev                                       # > 0: the same sign as last step, < 0: it flipped
    factor = xp.where(same > 0, dt(etaplus), xp.where(same < 0, dt(etaminus), dt(1)))
    step_size[...] = xp.minimum(xp.maximum(step_size * factor, step_size_min), step_size_max)  # eta_t, clamped
    g = xp.where(same < 0, dt(0), g)                      # after a flip: no step now, no sign test next time
    p -= _sign(g) * step_size                             # theta_t = theta_{t-1} - eta_t sign(g_t)
    prev[...] = g


def _sign(x: Array) -> Array:
    """torch's sign of a float array: -1, 0 or 1, with 0 for nan."""
    return unary.sign(Tensor(x, device=backend.device_of(x)))._data


# Rprop per element (the clamp as torch's: min(max(eta, eta_min), eta_max), a nan eta stays nan)
RPROP_KERNEL = FusedKernel("rprop", "p prev step_size", "g",
                           "etaminus etaplus step_size_min step_size_max zero one minus_one", """
    same = g * prev
    factor = etaplus if same > zero else (etaminus if same < zero else one)
    step_size = step_size * factor
    step_size = step_size_min if step_size < step_size_min else step_size
    step_size = step_size_max if step_size > step_size_max else step_size
    gz = zero if same < zero else g
    p = p - (one if gz > zero else (minus_one if gz < zero else zero)) * step_size
    prev = gz
""")


class Rprop(Optimizer):
    """Rprop: ``Rprop(params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, maximize=False, impl="auto")``
    with etas = (etaminus, etaplus), 0 < etaminus < 1 < etaplus, and step_sizes = (min, max) bounding each step.

    State per parameter (its shape), named as torch's: ``prev`` (the gradient of the last step, 0 where it flipped),
    ``step_size`` (starts at lr), and the step count ``t``. ``impl``: see :class:`Optimizer`.
    """
    torch_state_names: ClassVar[dict[str, str]] = {"step": "t"}

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1e-2,
                 etas: tuple[float, float] = (0.5, 1.2), step_sizes: tuple[float, float] = (1e-6, 50), *,
                 maximize: bool = False, impl: str = "auto", **flags: Any) -> None:
        defaults = {"lr": lr, "etas": etas, "step_sizes": step_sizes}
        super().__init__(params, defaults, impl, maximize, **flags)

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr")
        etaminus, etaplus = _pair(group, "etas")
        if not 0 < etaminus < 1 < etaplus:
            raise ValueError(f"invalid etas={group['etas']!r}: must be (etaminus, etaplus) with "
                             f"0 < etaminus < 1 < etaplus")
        if any(math.isnan(s) for s in _pair(group, "step_sizes")):
            raise ValueError(f"invalid step_sizes={group['step_sizes']!r}: a nan bound would make every step nan")

    def init_state(self, p: Array, group: Group) -> State:
        xp = backend.get_array_module(p)
        return {"prev": xp.zeros_like(p), "step_size": xp.full_like(p, group["lr"])}

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        (etaminus, etaplus), (low, high) = group["etas"], group["step_sizes"]
        rprop_reference(p, g, state["prev"], state["step_size"], etaminus=etaminus, etaplus=etaplus,
                        step_size_min=low, step_size_max=high)

    def fused(self, state: State, group: Group) -> tuple[FusedKernel, dict[str, float]]:
        (etaminus, etaplus), (low, high) = group["etas"], group["step_sizes"]
        return RPROP_KERNEL, {"etaminus": etaminus, "etaplus": etaplus, "step_size_min": low, "step_size_max": high,
                                "zero": 0.0, "one": 1.0, "minus_one": -1.0}


def _pair(group: Group, name: str) -> tuple[float, float]:
    """``group[name]`` as a pair of real numbers, or a ValueError / TypeError naming it."""
    value = group[name]
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"invalid {name}={value!r}: must be a pair of numbers")
    return _number(name, value[0]), _number(name, value[1])
