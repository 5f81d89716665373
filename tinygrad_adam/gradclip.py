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

    The norm is taken over all gradients together as one vector (``norm_type`` any p, ``inf`` or ``-inf``), as
    torch's norm of each gradient's norm, each in the gradient's dtype on its own device (see ``total_norm``).
    Parameters without a gradient are ignored.

    As in ``torch.nn.utils.clip_grad_norm_``, the gradients are multiplied by
    ``min(1, max_norm / (norm + 1e-6))``. A non-finite norm therefore spoils them: an infinite norm
    multiplies by 0 (finite entries become 0, infinite ones NaN) and a NaN norm makes every entry NaN.
    With ``error_if_nonfinite=True`` a non-finite norm raises RuntimeError instead, gradients untouched.
    ``foreach`` (torch's multi-tensor kernels) changes nothing here.
    """
    params = [params] if isinstance(params, Tensor) else list(params)
    max_norm = float(max_norm)  # as torch: a one-element Tensor (or numpy number) is its value
    if not max_norm >= 0:  # torch checks nothing: a negative max_norm flips the gradients' sign, NaN makes them NaN
        raise ValueError(f"invalid max_norm={max_norm!r}: must be >= 0")
    refuse_sparse("clip_grad_norm_", params)
    grads = [p.grad._data for p in params if p.grad is not None]
    if not grads:
        return 0.0
    total = total_norm(grads, norm_type, error_if_nonfinite)
    scale_to_norm_(grads, max_norm, total)
    return total


def total_norm(arrays: list[Array], norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """The ``norm_type``-norm of the arrays laid end to end, as torch's: the norm of the arrays' norms, each
    ``linalg.vector_norm``'s (any p: ``inf`` the largest |x|, ``-inf`` the smallest, 0 the count of non-zeros, p < 1
    too) in the array's dtype (float16 computed in float32), the norms stacked in their promoted dtype. So |x|^p
    overflows and underflows as there (float32 gradients above ~1.8e19 give an infinite 2-norm); a one-element
    array's norm is its |x|. A max over nothing (``inf`` / ``-inf`` / p < 0 norm of an empty array) raises
    RuntimeError, as does a nan or infinite norm with ``error_if_nonfinite=True``."""
    norm_type = float(norm_type)  # as torch: "inf" is the infinity norm
    if (norm_type < 0 or math.isinf(norm_type)) and any(g.size == 0 for g in arrays):
        name = ("-" if norm_type < 0 else "") + "infinity" if math.isinf(norm_type) else str(norm_type)
        raise RuntimeError(f"the {name} norm of an empty gradient has no value (a max over nothing), as in torch; "
                           f"leave empty parameters out of the clipping")
    if not arrays:
        return 0.0
    dtypes = [g.dtype if g.dtype.kind == "f" else numpy.dtype("float32") for g in arrays]
    with numpy.errstate(over="ignore", under="ignore", divide="ignore"):  # inf / 0 as torch's, silently
        norms = numpy.array([_p_norm(_magnitudes(g, d, norm_type), norm_type) for g, d in zip(arrays, dtypes)],
                            dtype="float64")
        norms = numpy.array([numpy.array(n, dtype=d) for n, d in zip(norms, dtypes)])  # each in its dtype
        kind = numpy.result_type(*dtypes)
        total = float(numpy.array(_p_norm(norms.astype(_accumulate(kind)), norm_type), dtype=kind))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is {total}, so they cannot be "
                           f"clipped; fix the gradients, or pass error_if_nonfinite=False to scale them anyway")
    return total


def _accumulate(dtype: numpy.dtype) -> numpy.dtype:
    """The dtype torch's CPU norm kernels compute a ``dtype`` tensor's norm in: float16 in float32."""
    return numpy.dtype("float64") if dtype == numpy.float64 else numpy.dtype("float32")


def _magnitudes(g: Array, dtype: numpy.dtype, p: float) -> Array:
    """``g`` flat in the dtype its norm is computed in, as |g|; for p = 2 the signed values themselves (x * x is
    |x| * |x| to the bit), which saves two copies of every gradient per clipping."""
    flat = g.astype(_accumulate(dtype), copy=False).ravel()
    return flat if p == 2 and flat.size != 1 else abs(flat)


def _p_norm(v: Array, p: float) -> float:
    """torch's vector_norm of a 1-D array of magnitudes (or, for p = 2, of signed values: see ``_magnitudes``), in
    its dtype (a NaN entry gives NaN, except for p = 0 where it counts as non-zero); a single element's is itself (1
    or 0 for p = 0)."""
    if p == 0:
        return float((v != 0).sum())
    if v.size == 1:
        return float(v[0])
    if math.isinf(p):
        return math.nan if bool((v != v).any()) else float(v.max() if p > 0 else v.min())
    if not v.size:
        return 0.0
    return float((v ** v.dtype.type(p)).sum() ** v.dtype.type(1.0 / p))


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
