"""Gradient clipping by the global norm or by value: ``nn.utils.clip_grad_norm_`` (also ``optim.clip_grad_norm_``).

It sits beside ``tensor`` (not in ``nn`` or ``optim``) because both re-export it and neither may import the other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .tensor import Tensor


def clip_grad_norm_(params: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale every gradient in place so that their joint norm is at most ``max_norm``; return the norm before.

    The norm is taken over all gradients together as one vector (``norm_type`` 2, any p >= 1, or ``inf``);
    p-norms are summed in float64 on each gradient's own device. Parameters without a gradient are ignored.

    As in ``torch.nn.utils.clip_grad_norm_``, the gradients are multiplied by
    ``min(1, max_norm / (norm + 1e-6))``. A non-finite norm therefore spoils them: an infinite norm
    multiplies by 0 (finite entries become 0, infinite ones NaN) and a NaN norm makes every entry NaN.
    With ``error_if_nonfinite=True`` a non-finite norm raises RuntimeError instead, gradients untouched.
    (torch sums in the gradients' own dtype, so float32 gradients whose squares overflow get an infinite norm
    there and a finite one here.)
    """
    params = [params] if isinstance(params, Tensor) else list(params)
    if not max_norm >= 0:
        raise ValueError(f"invalid max_norm={max_norm!r}: must be >= 0")
    if not (norm_type >= 1):
        raise ValueError(f"invalid norm_type={norm_type!r}: must be >= 1 or inf")
    _refuse_sparse("clip_grad_norm_", params)
    grads = [p.grad.data for p in params if p.grad is not None]
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        maxima = [float(abs(g).max()) if g.size else 0.0 for g in grads]
        total = math.nan if any(math.isnan(n) for n in maxima) else max(maxima)  # max() would drop a later NaN
    else:
        total = sum(float((abs(g.astype("float64")) ** norm_type).sum()) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is {total}, so they cannot be "
                           f"clipped; fix the gradients, or pass error_if_nonfinite=False to scale them anyway")
    coef = max_norm / (total + 1e-6)  # 0 for an infinite norm, NaN for a NaN one
    if not coef >= 1:  # clamped at 1 (no change); a NaN coefficient goes through, as in torch
        for g in grads:
            g *= coef
    return total



def clip_grad_value_(params: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient elementwise to [-clip_value, clip_value], in place."""
    params = [params] if isinstance(params, Tensor) else list(params)
    _refuse_sparse("clip_grad_value_", params)
    for p in params:
        if p.grad is not None:
            p.grad.xp.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)


def _refuse_sparse(name: str, params: list[Tensor]) -> None:
    """torch's clipping has no kernel for sparse gradients (embedding(sparse=True)): NotImplementedError, as there."""
    if any(p.grad is not None and p.grad.is_sparse for p in params):
        raise NotImplementedError(f"{name}: sparse gradients (from sparse=True embeddings) are not supported, as in "
                                  f"torch; use sparse=False to clip them")
