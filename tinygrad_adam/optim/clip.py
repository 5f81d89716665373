"""Gradient clipping by the global norm."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..tensor import Tensor


def clip_grad_norm_(params: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0) -> float:
    """Scale every gradient in place so that their joint norm is at most ``max_norm``; return the norm before.

    The norm is taken over all gradients together as one vector (``norm_type`` 2, any p >= 1, or ``inf``).
    Parameters without a gradient are ignored. A non-finite norm (inf or NaN) leaves the
    gradients untouched: check the returned value.
    """
    params = [params] if isinstance(params, Tensor) else list(params)
    if not max_norm >= 0:
        raise ValueError(f"invalid max_norm={max_norm!r}: must be >= 0")
    if not (norm_type >= 1):
        raise ValueError(f"invalid norm_type={norm_type!r}: must be >= 1 or inf")
    grads = [p.grad.data for p in params if p.grad is not None]
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        total = max(float(abs(g).max()) if g.size else 0.0 for g in grads)
    else:
        total = sum(float((abs(g.astype("float64")) ** norm_type).sum()) for g in grads) ** (1.0 / norm_type)
    coef = max_norm / (total + 1e-6)
    if coef < 1 and math.isfinite(total):
        for g in grads:
            g *= coef
    return total
