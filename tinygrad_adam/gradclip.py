"""Gradient clipping by the global norm or by value: ``nn.utils.clip_grad_norm_`` (also ``optim.clip_grad_norm_``).

It sits beside ``tensor`` (not in ``nn`` or ``optim``) because both re-export it and neither may import the other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy

from .tensor import Array, Tensor


def clip_grad_norm_(params: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> float:
    """Scale every gradient in place so that their joint norm is at most ``max_norm``; return the norm before.

    The norm is taken over all gradients together as one vector (``norm_type`` 2, any p >= 1, or ``inf``), as
    torch's norm of each gradient's norm, summed in float64 on each gradient's own device (see ``total_norm``).
    Parameters without a gradient are ignored.

    As in ``torch.nn.utils.clip_grad_norm_``, the gradients are multiplied by
    ``min(1, max_norm / (norm + 1e-6))``. A non-finite norm therefore spoils them: an infinite norm
    multiplies by 0 (finite entries become 0, infinite ones NaN) and a NaN norm makes every entry NaN.
    With ``error_if_nonfinite=True`` a non-finite norm raises RuntimeError instead, gradients untouched.
    (torch sums in the gradients' own dtype, so float32 gradients whose squares overflow get an infinite norm
    there and a finite one here.) ``foreach`` (torch's multi-tensor kernels) changes nothing here.
    """
    params = [params] if isinstance(params, Tensor) else list(params)
    max_norm = float(max_norm)  # as torch: a one-element Tensor (or numpy number) is its value
    if not max_norm >= 0:
        raise ValueError(f"invalid max_norm={max_norm!r}: must be >= 0")
    refuse_sparse("clip_grad_norm_", params)
    grads = [p.grad._data for p in params if p.grad is not None]
    if not grads:
        return 0.0
    total = total_norm(grads, norm_type, error_if_nonfinite)
    scale_to_norm_(grads, max_norm, total)
    return total


def total_norm(arrays: list[Array], norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """The ``norm_type``-norm of the arrays laid end to end (``inf``: the largest |x|), summed in float64.

    As torch's, it is the norm of the arrays' norms, and a one-element array's norm is its |x| (no overflow or
    underflow of |x|^p there); the infinity norm of an empty array raises RuntimeError (a max over nothing), as
    does a nan or infinite norm with ``error_if_nonfinite=True``."""
    norm_type = float(norm_type)  # as torch: "inf" is the infinity norm
    if not (norm_type >= 1):
        raise ValueError(f"invalid norm_type={norm_type!r}: must be >= 1 or inf")
    if math.isinf(norm_type):
        if any(g.size == 0 for g in arrays):
            raise RuntimeError("the infinity norm of an empty gradient has no value (a max over nothing), as in "
                               "torch; leave empty parameters out of the clipping")
        maxima = [float(abs(g).max()) for g in arrays]
        total = math.nan if any(math.isnan(n) for n in maxima) else max(maxima, default=0.0)  # max() drops a NaN
    else:  # torch's shape: the norm of each array's norm; one element's norm is its |x| (no overflow there)
        total = _p_norm(numpy.array([_p_norm(abs(g.astype("float64")).ravel(), norm_type) for g in arrays]),
                        norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is {total}, so they cannot be "
                           f"clipped; fix the gradients, or pass error_if_nonfinite=False to scale them anyway")
    return total


def _p_norm(v: Array, p: float) -> float:
    """(sum v^p)^(1/p) of a 1-D float64 array of magnitudes, in float64; a single one is itself."""
    return float(v[0]) if v.size == 1 else float((v ** p).sum()) ** (1.0 / p)


def scale_to_norm_(arrays: list[Array], max_norm: float, total: float) -> None:
    """Multiply the arrays in place by min(1, max_norm / (total + 1e-6)), torch's clipping coefficient."""
    coef = max_norm / (total + 1e-6)  # 0 for an infinite norm, NaN for a NaN one
    if not coef >= 1:  # clamped at 1 (no change); a NaN coefficient goes through, as in torch
        with numpy.errstate(invalid="ignore"):  # inf * 0 is nan without numpy's RuntimeWarning, as torch's silence
            for g in arrays:
                g *= coef



def clip_grad_value_(params: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient elementwise to [-clip_value, clip_value], in place (``foreach`` changes nothing)."""
    params = [params] if isinstance(params, Tensor) else list(params)
    refuse_sparse("clip_grad_value_", params)
    for p in params:
        if p.grad is not None:
            p.grad.xp.clip(p.grad._data, -clip_value, clip_value, out=p.grad._data)


def refuse_sparse(name: str, params: list[Tensor]) -> None:
    """torch's clipping has no kernel for sparse gradients (embedding(sparse=True)): NotImplementedError, as there."""
    if any(p.grad is not None and p.grad.is_sparse for p in params):
        raise NotImplementedError(f"{name}: sparse gradients (from sparse=True embeddings) are not supported, as in "
                                  f"torch; use sparse=False to clip them")
