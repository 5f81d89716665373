"""Adafactor (Shazeer & Stern 2018), as torch.optim.Adafactor: second moments factored into row and column means for
parameters of 2 or more dims, a relative step size scaled by the parameter's RMS, and update clipping.

No fused kernel: each step needs whole-tensor reductions (the RMS of theta_{t-1} before the update, the row and column
means of G^2, the RMS of U_t between computing it and applying it), which a per-element program cannot hold, so every
``impl`` runs the readable update (vectorised array code, on any device).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy

from .. import backend
from ..ops.binary import lerp
from ..tensor import Array, Tensor
from .optimizer import Group, Optimizer, State, _number, check_nonnegative


def adafactor_reference(p: Array, g: Array, state: State, t: int, *, lr: float, beta2_decay: float, eps1: float,
                        eps2: float, d: float, weight_decay: float = 0.0) -> None:
    """One step of torch's Adafactor algorithm box, in place on ``p`` and its state: ``row_var`` (shape ``p.shape``
    with the last dim 1) and ``col_var`` (dim -2 is 1) for a parameter of 2 or more dims, else ``variance`` (its
    shape). ``t`` is the step number, from 1."""
    xp = backend.get_array_module(p)
    if p.size == 0:
        raise ValueError(f"Adafactor cannot update an empty parameter (shape {p.shape}): its RMS is 0/0 (torch raises "
                         f"ZeroDivisionError); leave it out of the optimizer")
    one_minus_beta2 = t**beta2_decay                                # 1 - beta2_hat_t = t^tau
    rho = min(lr, 1 / t**0.5)                                       # relative step size rho_t
    alpha = max(eps2, _norm(p) / p.size**0.5) * rho                 # alpha_t = max(eps2, RMS(theta)) rho_t
    if weight_decay:
        p *= 1 - lr * weight_decay                                  # decoupled weight decay
    if g.ndim > 1:
        row, col = state["row_var"], state["col_var"]
        row[...] = _lerp(row, _mean_square(g, -1), one_minus_beta2)  # R_t: mean of G^2 over each row
        col[...] = _lerp(col, _mean_square(g, -2), one_minus_beta2)  # C_t: mean of G^2 over each column
        v = row * col / xp.maximum(row.mean(axis=-2, keepdims=True), eps1)  # V_t = R_t C_t / max(mean R_t, eps1)
    else:
        state["variance"][...] = _lerp(state["variance"], g * g, one_minus_beta2)  # V_t for a vector (or 0-d)
        v = state["variance"]
    u = 1 / xp.sqrt(xp.maximum(v, eps1 * eps1)) * g                # U_t = G_t / max(sqrt(V_t), eps1)
    clip = max(1.0, _norm(u) / (u.size**0.5 * d))                  # U_hat_t = U_t / max(1, RMS(U_t) / d)
    p -= alpha / clip * u                                           # theta_t = theta_{t-1} - alpha_t U_hat_t


def _norm(x: Array) -> float:
    """The 2-norm of all of ``x``, summed in float64: in float32 the squares of a parameter of 1e20 overflow, and
    the step is nan (torch's is, from two entries on: README's Differences)."""
    xp = backend.get_array_module(x)
    return float(xp.linalg.norm(x.ravel().astype(xp.float64)))


def _lerp(start: Array, end: Array, weight: float) -> Array:
    """torch's lerp (from the nearer end), on arrays."""
    device = backend.device_of(start)
    return lerp(Tensor(start, device=device), Tensor(end, device=device), weight)._data


def _mean_square(g: Array, axis: int) -> Array:
    """The mean of g^2 along ``axis`` (kept), as torch computes it: the 2-norm squared over the length."""
    xp = backend.get_array_module(g)
    return xp.sqrt((g * g).sum(axis=axis, keepdims=True)) ** 2 / g.shape[axis]


class Adafactor(Optimizer):
    """Adafactor: ``Adafactor(params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *,
    maximize=False, impl="auto")``. As torch: lr caps the relative step size (rho_t = min(lr, 1/sqrt(t))) and scales
    the decoupled weight decay; eps = (eps1, eps2), eps1 None meaning the machine epsilon of the dtype of the group's
    first parameter that has a gradient (torch takes that one for the whole group); d is the clipping threshold.

    State per parameter, named as torch's: ``row_var`` and ``col_var`` (parameters of 2 or more dims), or
    ``variance``; and the step count ``t``. Every ``impl`` runs the readable update (see the module docstring).
    """
    torch_state_names: ClassVar[dict[str, str]] = {"step": "t"}

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
                 maximize: bool = False, impl: str = "auto", **flags: Any) -> None:
        defaults = {"lr": lr, "beta2_decay": beta2_decay, "eps": eps, "d": d, "weight_decay": weight_decay}
        super().__init__(params, defaults, impl, maximize, **flags)
        self.impl = "reference"  # (impl was checked above) no fused kernel, see the module docstring

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr", "weight_decay")
        eps = group["eps"]
        if not isinstance(eps, (tuple, list)) or len(eps) != 2:
            raise ValueError(f"invalid eps={eps!r}: must be a pair (eps1 or None, eps2)")
        check_nonnegative({"eps1": 0.0 if eps[0] is None else eps[0], "eps2": eps[1]}, "eps1", "eps2")
        if not _number("beta2_decay", group["beta2_decay"]) <= 0:
            raise ValueError(f"invalid beta2_decay={group['beta2_decay']!r}: must be <= 0")
        if not _number("d", group["d"]) >= 1:
            raise ValueError(f"invalid d={group['d']!r}: the clipping threshold must be >= 1")

    def init_state(self, p: Array, group: Group) -> State:
        xp = backend.get_array_module(p)
        if p.ndim > 1:
            return {"row_var": xp.zeros(p.shape[:-1] + (1,), p.dtype),
                    "col_var": xp.zeros(p.shape[:-2] + (1, p.shape[-1]), p.dtype)}
        return {"variance": xp.zeros_like(p)}

    def state_shape(self, p: Tensor, name: str) -> tuple[int, ...]:
        shapes = ({"row_var": p.shape[:-1] + (1,), "col_var": p.shape[:-2] + (1, p.shape[-1])} if p.ndim > 1
                  else {"variance": p.shape})
        if name not in shapes:
            raise ValueError(f"Adafactor keeps {sorted(shapes)} for a parameter of shape {p.shape}, not {name!r}")
        return shapes[name]

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        eps1, eps2 = group["eps"]
        if eps1 is None:
            first = next(q for q in group["params"] if q.grad is not None)
            eps1 = float(numpy.finfo(first.dtype).eps)
        adafactor_reference(p, g, state, state["t"], lr=group["lr"], beta2_decay=group["beta2_decay"], eps1=eps1,
                            eps2=eps2, d=group["d"], weight_decay=group["weight_decay"])

