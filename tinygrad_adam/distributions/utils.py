"""Helpers the distributions share, as ``torch.distributions.utils``: ``broadcast_all``, ``lazy_property`` and the
probs <-> logits conversions (with torch's clamping, so probabilities of 0 and 1 give the same finite logits)."""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Iterable
from typing import Any

import numpy

from ..autograd import enable_grad
from ..creation import arange, tensor, zeros
from ..methods import Size
from ..tensor import DEFAULT_FLOAT, Tensor

NUMBERS = (int, float, bool)  # torch's _Number: numpy.float64 passes (a float subclass), numpy.float32 does not


def broadcast_all(*values: Tensor | float) -> tuple[Tensor, ...]:
    """Tensors and Python numbers -> tensors of one broadcast shape. Numbers take the dtype and device of the first
    tensor (float32 when all are numbers); the tensors keep their own dtypes, as ``torch.broadcast_tensors``."""
    if not all(isinstance(v, (Tensor, *NUMBERS)) for v in values):
        kinds = ", ".join(sorted({type(v).__name__ for v in values if not isinstance(v, (Tensor, *NUMBERS))}))
        raise ValueError(f"broadcast_all takes numbers and Tensors only, got {kinds}; convert them "
                         f"with tinygrad_adam.tensor(...)")
    first = next((v for v in values if isinstance(v, Tensor)), None)
    dtype, device = (DEFAULT_FLOAT, None) if first is None else (first.dtype, first.device)
    tensors = [v if isinstance(v, Tensor) else tensor(v, dtype=dtype, device=device) for v in values]
    shape = broadcast_shape(*(t.shape for t in tensors))
    return tuple(t if t.shape == shape else t.broadcast_to(shape) for t in tensors)


def broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """numpy's broadcast of ``shapes``; a ValueError naming them when they do not broadcast."""
    try:
        return tuple(numpy.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"shapes {', '.join(map(str, shapes))} do not broadcast together; make each dim equal or 1"
                         ) from None


def sizes(shape: Iterable[int]) -> Size:
    """A sample shape as a ``Size``; a float or a bare int raises TypeError as in torch (``sample((5,))``)."""
    return Size(operator.index(s) for s in shape)


def sum_rightmost(value: Tensor, dims: int, reduce: str = "sum") -> Tensor:
    """``value`` summed (or reduced by ``all``) over its last ``dims`` dims (none for 0)."""
    if dims == 0:
        return value
    kept = value.shape[:-dims]  # the size reduced over is given, not -1: torch's -1 fails for an empty batch
    return getattr(value.reshape(*kept, math.prod(value.shape[len(kept):])), reduce)(-1)


def _tril_mask(n: int, diag: int, like: Tensor) -> Tensor:
    """(n, n) bool: True on and below the ``diag``-th diagonal (row order picks the lower triangle row by row)."""
    i = arange(n, device=like.device)
    return i < i.reshape(-1, 1) + (diag + 1)


def tril_matrix_to_vec(mat: Tensor, diag: int = 0) -> Tensor:
    """(..., n, n) -> (..., m): the entries on and below the ``diag``-th diagonal, row by row (``diag`` in
    [-n, n - 1], else ValueError, as torch)."""
    n = mat.shape[-1]
    if not -n <= diag < n:
        raise ValueError(f"diag ({diag}) provided is outside [{-n}, {n - 1}].")
    return mat[..., _tril_mask(n, diag, mat)]


def vec_to_tril_matrix(vec: Tensor, diag: int = 0) -> Tensor:
    """(..., m) -> (..., n, n) lower triangular (zeros above the ``diag``-th diagonal) filled row by row from
    ``vec``; ValueError when m is no such triangle's size."""
    m, b = vec.shape[-1], 1 + 2 * diag
    n = round((-b + math.sqrt(b * b + 8 * m + 4 * abs(diag) * (diag + 1))) / 2)
    mask = _tril_mask(n, diag, vec)
    if int(mask.sum().item()) != m:
        raise ValueError(f"{m} is not a triangular number D * (D + 1) / 2, so the last dimension cannot hold the "
                         f"lower triangle of a square matrix")
    mat = zeros(*vec.shape[:-1], n, n, dtype=vec.dtype, device=vec.device)
    mat[..., mask] = vec
    return mat


def draw(fill: Callable[..., Tensor], shape: tuple[int, ...], like: Tensor, who: str) -> Tensor:
    """``fill(shape)`` (``randn`` / ``rand``, the device's seeded stream) in ``like``'s floating dtype and device."""
    if like.dtype.kind != "f":
        raise TypeError(f"{who}: sampling needs floating-point parameters, got {like.dtype}; pass e.g. "
                        f"tensor.float()")
    return fill(shape, dtype=like.dtype, device=like.device)


class lazy_property:  # noqa: N801 - torch's name
    """A property computed on first use (always with gradients recorded, as torch's) and then kept on the instance,
    so ``Bernoulli(logits=z).probs`` is ``sigmoid(z)`` computed once, with a graph back to ``z``."""

    def __init__(self, wrapped: Callable[[Any], Any]) -> None:
        self.wrapped = wrapped
        functools.update_wrapper(self, wrapped)  # type: ignore[arg-type]

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


def clamp_probs(probs: Tensor) -> Tensor:
    """``probs`` clamped to [eps, 1 - eps] of its dtype (float32: 1.19e-7)."""
    eps = float(numpy.finfo(probs.dtype).eps)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Log-odds log p - log(1 - p) (``is_binary``) or log p, of the clamped probabilities."""
    p = clamp_probs(probs)
    return p.log() - (-p).log1p() if is_binary else p.log()


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """sigmoid(logits) (``is_binary``) or softmax over the last dim."""
    return logits.sigmoid() if is_binary else logits.softmax(-1)


class BinaryProbs:
    """One success probability, given as ``probs`` or as ``logits`` (the other is derived on first use), as torch's
    Bernoulli, Binomial, Geometric and NegativeBinomial hold it; ``_param`` is the one given."""

    _param: Tensor

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._param.shape

    @staticmethod
    def _given(new: Any) -> Any:
        """``new`` (a copy from ``Distribution._expanded``) with ``_param`` set to its given parameter."""
        new._param = new.__dict__["logits" if "logits" in new.__dict__ else "probs"]
        return new
