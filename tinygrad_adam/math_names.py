"""More of torch's top-level functions and Tensor methods, as compositions of the ops (their gradients come with
them): var_mean / std_mean, rsub, trapezoid, gradient, histogram, the ``*_copy`` twins of the view ops, ...
Imported by the package before ``methods.attach()``; it adds its names to ``methods.METHODS`` / ``FUNCTIONS``.
"""

from __future__ import annotations

import builtins
import functools
import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, NamedTuple

import numpy

from . import backend, creation
from .creation import _rng, uniform64
from .methods import FUNCTIONS, METHODS, _correction, _function, _reduce_dims, _reduction, _same_as_nn_function, _sizes
from .ops import elementwise, inplace, movement, statistics
from .ops.factor import DtypeError
from .tensor import DEFAULT_FLOAT, Tensor, TensorLike, record


# ---------------------------------------------------------------------------------------------- statistics
def _with_mean(name: str) -> Callable[..., tuple[Tensor, Tensor]]:
    """torch.var_mean / std_mean: (``var`` or ``std``, ``mean``) over the same dims, with var's arguments."""
    def fn(input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,  # noqa: A002
           correction: float | None = None) -> tuple[Tensor, Tensor]:
        if input.dtype.kind != "f":
            raise DtypeError(f"{name}_mean only supports floating-point tensors (as torch), got {input.dtype}")
        dim, corr = _correction(dim, unbiased, correction)  # torch's old var_mean(x, unbiased) too
        return statistics.spread_mean(name, input, _reduce_dims(dim, None), corr, keepdim, f"{name}_mean")
    fn.__name__ = fn.__qualname__ = f"{name}_mean"
    fn.__doc__ = f"(``{name}``, ``mean``) of ``input`` over ``dim`` (all dims when None), each as ``{name}`` shapes it."
    return fn


def rsub(input: Tensor, other: TensorLike, *, alpha: float = 1) -> Tensor:  # noqa: A002 - torch's name
    """``other - alpha * input`` (broadcast, promoted as torch's ``sub``; bool tensors raise, as does a float
    ``alpha`` for an integer result)."""
    if input.dtype == numpy.bool_ or isinstance(other, bool) or getattr(other, "dtype", None) == numpy.bool_:
        raise DtypeError("rsub: subtraction with a bool tensor or number is not supported (as torch)")
    return METHODS["sub"](other if isinstance(other, Tensor) else _number_like(other, input), input, alpha=alpha)


def _number_like(x: Any, like: Tensor) -> Tensor:
    """A Python number as the 0-d tensor torch's promotion makes of it against ``like``."""
    return Tensor(numpy.asarray(x, dtype=elementwise.result_type(like, x)), device=like.device)


def scalar_tensor(s: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A 0-d tensor holding the number ``s``, float32 unless ``dtype`` says otherwise (also for ints and bools)."""
    value = s.item() if isinstance(s, Tensor) else s
    kind = numpy.dtype(DEFAULT_FLOAT if dtype is None else dtype).kind
    if kind in "iu" and not math.isfinite(value):
        raise ValueError(f"scalar_tensor: {value} cannot be converted to an integer dtype")
    return creation.tensor(value, dtype=DEFAULT_FLOAT if dtype is None else dtype, device=device,
                           requires_grad=requires_grad)


def randint_like(input: Tensor, low: int = 0, high: int | None = None, *, dtype: Any = None,  # noqa: A002
                 device: Any = None, generator: Any = None) -> Tensor:
    """Integers uniform in [low, high) of ``input``'s shape and dtype (``randint_like(x, high)``: low = 0)."""
    if high is None:
        low, high = 0, low
    return creation.randint(int(low), int(high), input.shape, generator=generator,
                            dtype=input.dtype if dtype is None else dtype,
                            device=input.device if device is None else device)


def result_type(tensor1: TensorLike, tensor2: TensorLike) -> numpy.dtype:
    """The dtype torch's arithmetic on the two (tensors or Python numbers) gives."""
    return elementwise.result_type(tensor1, tensor2)


def unravel_index(indices: TensorLike, shape: int | Sequence[int]) -> tuple[Tensor, ...]:
    """The coordinates (one int64 tensor of ``indices``' shape per dim of ``shape``) of the flat ``indices``
    (an integer tensor; negative counts from the end) into a tensor of ``shape``. An index outside
    [-numel, numel) raises (torch's result there is unspecified)."""
    if not isinstance(indices, Tensor):
        raise TypeError(f"unravel_index: indices must be a tensor (as torch), got {type(indices).__name__}")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"unravel_index: expected 'indices' to be an integer tensor, got {indices.dtype}")
    dims = (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(n) for n in shape)
    if builtins.any(n < 0 for n in dims):
        raise ValueError(f"unravel_index: shape must hold no negative sizes, got {dims}")
    total, flat = math.prod(dims), indices._data.astype(numpy.int64)
    if flat.size and (int(flat.min()) < -total or int(flat.max()) >= total):
        raise IndexError(f"unravel_index: indices must lie in [{-total}, {total}) for shape {dims}")
    flat = flat % builtins.max(total, 1)
    out = []
    for n in reversed(dims):
        out.append(Tensor(flat % n, device=indices.device))
        flat = flat // n
    return tuple(reversed(out))


def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix (n, N) of the 1-D ``x``: column j is x^(N-1-j) (x^j when ``increasing``); N = n by
    default; bool and integer x give int64 (as torch)."""
    from . import linalg as la

    if x.ndim != 1:
        raise ValueError(f"vander: x needs exactly one dim, not shape {x.shape}")
    n = x.shape[0] if N is None else int(N)
    if n < 0:
        raise ValueError(f"vander: N must be non-negative, got {n}")
    if x.dtype.kind in "biu" and x.dtype != numpy.int64:
        x = elementwise.astype(x, numpy.int64)
    if n < 2:  # (linalg.vander needs two columns): x^0
        return elementwise.pow(movement.reshape(x, (-1, 1)), creation.zeros(n, dtype=x.dtype, device=x.device))
    out = la.vander(x, N=n)
    return out if increasing else METHODS["flip"](out, (-1,))


# ---------------------------------------------------------------------------------------------- integrals, differences
def trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1) -> Tensor:
    """The trapezoid-rule integral of ``y`` along ``dim`` (that dim removed), at spacing ``dx`` (default 1) or at the
    sample points ``x`` (1-D along ``dim``, or broadcasting with ``y``). As torch: with dx, (sum(y) - (first + last)
    / 2) dx (so an inf sample gives nan); no samples give zeros of y's dtype. torch.trapz is this function."""
    if x is not None and (not isinstance(x, Tensor) or dx is not None):
        raise TypeError(f"trapezoid: x must be a tensor of sample points, without dx (the spacing), got x of type "
                        f"{type(x).__name__} and dx={dx}")
    if y.ndim == 0:
        raise IndexError("trapezoid: y must have at least one dim")
    d = movement.wrap_dim("trapezoid", dim, y.ndim)
    if y.shape[d] == 0:
        return creation.zeros(y.shape[:d] + y.shape[d + 1:], dtype=y.dtype, device=y.device)
    if x is not None:
        running = FUNCTIONS["cumulative_trapezoid"](y, x, dim=d)
        return METHODS["sum"](running.narrow(d, running.shape[d] - 1, 1) if running.shape[d] else running, d)
    ends = elementwise.add(METHODS["select"](y, d, 0), METHODS["select"](y, d, -1))
    return elementwise.mul(elementwise.sub(METHODS["sum"](y, d), elementwise.mul(ends, 0.5)), 1 if dx is None else dx)


def _slice(a: Tensor, dim: int, start: int | None, stop: int | None = None) -> Tensor:
    return a[(slice(None),) * dim + (slice(start, stop),)]


def _along(v: Tensor, dim: int, ndim: int) -> Tensor:
    """A 1-D tensor shaped to broadcast along ``dim`` of an ``ndim``-dim tensor."""
    return movement.reshape(v, (1,) * dim + (-1,) + (1,) * (ndim - dim - 1))


def _gradient_uniform(f: Tensor, d: int, h: Any, edge_order: int) -> Tensor:
    """torch.gradient along ``d`` at the uniform spacing ``h`` (a number)."""
    def s(a: int, b: int | None = None) -> Tensor:
        return _slice(f, d, a, b)
    center = (s(2) - s(0, -2)) / h / 2
    if edge_order == 1:
        first, last = (s(1, 2) - s(0, 1)) / h, (s(-1) - s(-2, -1)) / h
    else:
        first = (s(0, 1) * -1.5 + s(1, 2) * 2 - s(2, 3) * 0.5) / h
        last = (s(-3, -2) * 0.5 + s(-2, -1) * -2 + s(-1) * 1.5) / h
    return movement.concatenate([first, center, last], d)


def _gradient_coordinates(f: Tensor, d: int, x: Tensor, edge_order: int) -> Tensor:
    """torch.gradient along ``d`` at the sample points ``x`` (1-D): second-order differences between them."""
    def s(a: int, b: int | None = None) -> Tensor:
        return _slice(f, d, a, b)
    h = x[1:] - x[:-1]
    h1, h2 = h[:-1], h[1:]
    weights = (-h2 / (h1 * (h1 + h2)), (h2 - h1) / (h1 * h2), h1 / (h2 * (h1 + h2)))
    center = builtins.sum((_along(w, d, f.ndim) * s(k, f.shape[d] - 2 + k) for k, w in enumerate(weights)),
                          start=0)
    if edge_order == 1:
        first, last = (s(1, 2) - s(0, 1)) / h[0], (s(-1) - s(-2, -1)) / h[-1]
    else:
        a, b = h[0], h[1]
        first = (-(2.0 * a + b) / (a * (a + b)) * s(0, 1) + (a + b) / (a * b) * s(1, 2)
                 - a / (b * (a + b)) * s(2, 3))
        a, b = h[-1], h[-2]
        last = (a / (b * (a + b)) * s(-3, -2) - (a + b) / (a * b) * s(-2, -1) + (2 * a + b) / (a * (a + b)) * s(-1))
    return movement.concatenate([first, center, last], d)


def gradient(input: Tensor, *, spacing: Any = 1, dim: int | Sequence[int] | None = None,  # noqa: A002
             edge_order: int = 1) -> tuple[Tensor, ...]:
    """The derivative estimate of ``input`` along each dim of ``dim`` (all when None), one tensor of input's shape
    each, as numpy.gradient / torch.gradient: central differences inside, one-sided ones of order ``edge_order``
    (1 or 2) at the ends. ``spacing``: a number (the step in every dim; None is 1, as torch's), a list of numbers
    (one per dim), or a list of 1-D tensors (the sample points along each dim)."""
    if spacing is None:
        spacing = 1
    if edge_order not in (1, 2):
        raise ValueError(f"gradient: edge_order must be 1 or 2, got {edge_order}")
    if input.dtype == numpy.bool_:
        raise TypeError("gradient: bool tensors are not supported (as torch, which cannot subtract them)")
    dims = tuple(range(input.ndim)) if dim is None else (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    dims = movement._dims("gradient", dims, input.ndim)
    if isinstance(spacing, Tensor):
        raise TypeError("gradient: spacing must be a number or a list (of numbers or of 1-D tensors), as torch's")
    steps = list(spacing) if isinstance(spacing, (list, tuple)) else [spacing] * len(dims)
    if len(steps) != len(dims):
        raise ValueError(f"gradient: spacing has {len(steps)} entries but there are {len(dims)} dims to differentiate")
    out = []
    for d, h in zip(dims, steps):
        if input.shape[d] < edge_order + 1:
            raise ValueError(f"gradient: each dim differentiated needs at least edge_order + 1 = {edge_order + 1} "
                             f"values, dim {d} has {input.shape[d]}")
        if isinstance(h, Tensor):
            if h.ndim != 1 or h.shape[0] != input.shape[d]:
                raise ValueError(f"gradient: sample points must be 1-D with {input.shape[d]} values for dim {d}, "
                                 f"got shape {h.shape}")
            out.append(_gradient_coordinates(input, d, h, edge_order))
        else:
            out.append(_gradient_uniform(input, d, h, edge_order))
    return tuple(out)


# ---------------------------------------------------------------------------------------------- histograms
class Histogram(NamedTuple):
    """What ``histogram`` returns (torch.return_types.histogram)."""

    hist: Tensor
    bin_edges: Tensor


class HistogramDD(NamedTuple):
    """What ``histogramdd`` returns (torch.return_types.histogramdd)."""

    hist: Tensor
    bin_edges: tuple[Tensor, ...]


def _linspace(lo: float, hi: float, steps: int, dtype: numpy.dtype) -> Any:
    """Evenly spaced edges as torch's linspace computes them (the first half from ``lo``, the second from ``hi``,
    each a fused multiply-add, rounded once: exact fractions here), so that the bins hold the same elements. In
    float16 (torch's Half arithmetic) the product and the sum are each rounded to float16."""
    lo_, hi_ = dtype.type(lo), dtype.type(hi)
    if dtype == numpy.float16:
        step16 = (hi_ - lo_) / dtype.type(builtins.max(steps - 1, 1))
        i = numpy.arange(steps)
        return numpy.where(i < steps // 2, lo_ + step16 * i.astype(dtype), hi_ - step16 * (steps - 1 - i).astype(dtype))
    step = Fraction(float((hi_ - lo_) / dtype.type(builtins.max(steps - 1, 1))))
    exact = [Fraction(float(lo_)) + step * i if i < steps // 2 else Fraction(float(hi_)) - step * (steps - 1 - i)
             for i in range(steps)]
    return numpy.array([_nearest(v, dtype) for v in exact], dtype=dtype)


def _nearest(v: Fraction, dtype: numpy.dtype) -> Any:
    """The ``dtype`` number nearest the exact ``v`` (ties to an even last bit): one rounding, as a fused multiply-add
    (going through float64 first could round twice)."""
    guess = dtype.type(float(v))
    near = (guess, numpy.nextafter(guess, dtype.type(-numpy.inf)), numpy.nextafter(guess, dtype.type(numpy.inf)))
    bits = numpy.dtype(f"u{dtype.itemsize}")
    return min((c for c in near if numpy.isfinite(c)), key=lambda c: (abs(Fraction(float(c)) - v),
                                                                        int(numpy.array(c).view(bits)) & 1))


def _edges(op: str, column: Any, bins: Any, span: Any, d: int, dtype: numpy.dtype) -> Any:
    """The bin edges (a numpy array) of dimension ``d``: ``bins`` edges given, or ``bins`` equal bins over ``span``
    (the data's range when None; a range of no width widened by 0.5 each way)."""
    if isinstance(bins, Tensor):
        if bins.ndim != 1 or bins.shape[0] < 2 or bins.dtype != dtype:
            raise ValueError(f"{op}: bin edges of dimension {d} must be a 1-D tensor of at least 2 values of the "
                             f"input's dtype {dtype}, got shape {bins.shape}, dtype {bins.dtype}")
        edges = backend.to_numpy(bins._data)
        if (numpy.diff(edges) < 0).any():
            raise ValueError(f"{op}: bin edges of dimension {d} must be increasing, got {edges}")
        return edges
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins <= 0:
        raise ValueError(f"{op}: bins must be > 0, but got {bins} for dimension {d}")
    if span is None:
        lo, hi = (float(column.min()), float(column.max())) if column.size else (0.0, 1.0)
    else:
        lo, hi = float(span[0]), float(span[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{op}: dimension {d}'s range [{lo}, {hi}] is not finite")
    if lo > hi:
        raise ValueError(f"{op}: range of dimension {d} has min {lo} above max {hi}")
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return _linspace(lo, hi, int(bins) + 1, dtype)


def _bin_of(x: Any, edges: Any, linear: bool) -> Any:
    """The bin of each value x (inside the edges) as torch finds it: the last edge <= x (the right edge in the last
    bin); for equal bins (``linear``) first guessed from x's place in the range (in x's dtype), then searched only
    among the three edges around the guess (which decides where edges repeat, as in a denormal range)."""
    count = len(edges) - 1
    if not linear:
        return numpy.minimum(numpy.searchsorted(edges, x, side="right") - 1, count - 1)
    with numpy.errstate(all="ignore"):
        guess = (x - edges[0]) * x.dtype.type(count) / (edges[-1] - edges[0])
    guess = numpy.clip(numpy.nan_to_num(guess), 0, count).astype(numpy.int64)
    low, high = numpy.maximum(guess - 1, 0), numpy.minimum(guess + 2, count + 1)
    window = low[:, None] + numpy.arange(3)
    below = (window < high[:, None]) & (edges[numpy.minimum(window, count)] <= x[:, None])
    return numpy.minimum(low + below.sum(axis=1) - 1, count - 1)


def _histogramdd(op: str, input: Tensor, bins: Any, span: Any, weight: Tensor | None,  # noqa: A002
                 density: bool) -> tuple[Any, list[Any]]:
    """The counts (numpy, input's dtype) and edges of the points ``input`` (..., D) in D dims."""
    per = bins if isinstance(bins, (list, tuple)) else [bins]
    given = span is not None or all(isinstance(b, Tensor) for b in per)  # (torch's float16 kernel needs no min / max)
    if input.dtype not in (numpy.float32, numpy.float64) and not (input.dtype == numpy.float16 and given):
        raise DtypeError(f"{op}: only float32 and float64 input is supported (as torch; float16 too where the range "
                         f"or the edges are given), got {input.dtype}")
    if weight is not None and (weight.dtype != input.dtype or weight.shape != input.shape[:-1]):
        raise ValueError(f"{op}: weight must have the input's dtype {input.dtype} and shape {input.shape[:-1]}, "
                         f"got {weight.dtype}, {weight.shape}")
    points = backend.to_numpy(input._data).reshape(-1, input.shape[-1])
    dims = points.shape[1]
    per_dim = list(bins) if isinstance(bins, (list, tuple)) else [bins] * dims
    if len(per_dim) != dims:
        raise ValueError(f"{op}: expected {dims} bins (one per dimension), got {len(per_dim)}")
    if span is not None and len(span) != 2 * dims:
        raise ValueError(f"{op}: range must hold 2 * {dims} numbers (min and max per dimension), got {len(span)}")
    edges = [_edges(op, points[:, d], b, None if span is None else span[2 * d:2 * d + 2], d, input.dtype)
             for d, b in enumerate(per_dim)]
    keep = numpy.ones(points.shape[0], dtype=bool)
    where = []
    for d, (e, b) in enumerate(zip(edges, per_dim)):
        x = points[:, d]
        inside = (x >= e[0]) & (x <= e[-1])  # (nans fail both)
        keep &= inside
        where.append(_bin_of(numpy.where(inside, x, e[0]), e, not isinstance(b, Tensor)))
    counts = numpy.zeros([len(e) - 1 for e in edges], dtype=input.dtype)
    w = None if weight is None else backend.to_numpy(weight._data).reshape(-1)[keep]
    if counts.size:
        numpy.add.at(counts, tuple(i[keep] for i in where), 1 if w is None else w)
    if density:
        widths = [numpy.diff(e) for e in edges]
        volume = functools.reduce(numpy.multiply, numpy.ix_(*widths))  # (the product of each bin's widths)
        with numpy.errstate(invalid="ignore", divide="ignore"):  # (no values: nan, as torch, without a warning)
            counts = (counts / counts.sum() / volume).astype(input.dtype)
    return counts, edges


def histogram(input: Tensor, bins: int | Tensor = 100, *, range: Sequence[float] | None = None,  # noqa: A002
              weight: Tensor | None = None, density: bool = False) -> Histogram:
    """(hist, bin_edges) of all of ``input``'s values: ``bins`` equal bins over ``range`` (the data's range when
    None) or the given increasing edges (a 1-D tensor); each bin holds [left, right), the last also its right edge;
    values outside (and nans) are left out. ``weight`` (input's shape and dtype) counts each value as its weight;
    ``density`` divides by the total and the bin widths. Floating input only; no gradient (as torch)."""
    counts, edges = _histogramdd("histogram", movement.reshape(input, (-1, 1)), [bins], range,
                                 None if weight is None else movement.reshape(weight, (-1,)), density)
    return Histogram(Tensor(counts, device=input.device), Tensor(edges[0], device=input.device))


def histogramdd(input: Tensor, bins: Any = 10, *, range: Sequence[float] | None = None,  # noqa: A002
                weight: Tensor | None = None, density: bool = False) -> HistogramDD:
    """(hist, bin_edges) of the points ``input`` (..., D) in D dims: ``bins`` an int (each dim), D ints, or D 1-D
    edge tensors; ``range`` D (min, max) pairs, flat; hist has one dim of bins per dim; as ``histogram`` else."""
    if input.ndim < 2:
        raise ValueError(f"histogramdd: an input of shape {input.shape} has too few dimensions; give (..., D) points")
    counts, edges = _histogramdd("histogramdd", input, bins, range, weight, density)
    return HistogramDD(Tensor(counts, device=input.device), tuple(Tensor(e, device=input.device) for e in edges))


# ---------------------------------------------------------------------------------------------- creation
def asarray(obj: Any, *, dtype: Any = None, device: Any = None, copy: bool | None = None,
            requires_grad: bool | None = None) -> Tensor:
    """``obj`` as a tensor, sharing memory where it can (a Tensor itself, or an array of the dtype and device asked;
    a Tensor converted keeps its graph), a copy with ``copy=True`` (a Tensor's is ``clone``'s); ``copy=False`` where
    a copy is needed raises (as torch); ``requires_grad=True`` sets it on the result (in place on a Tensor)."""
    out = creation.as_tensor(obj, dtype=dtype, device=device)
    shared = out is obj or (isinstance(obj, numpy.ndarray) and isinstance(out._data, numpy.ndarray)
                            and numpy.shares_memory(out._data, obj))
    if copy is False and not shared:
        raise ValueError("asarray: copy=False, but the data must be copied (its dtype, device or kind differs)")
    if copy and shared:
        out = movement.clone(out) if isinstance(obj, Tensor) else creation.tensor(out)
    if requires_grad:
        out.requires_grad_(True)
    return out


def frombuffer(buffer: Any, *, dtype: Any, count: int = -1, offset: int = 0, requires_grad: bool = False) -> Tensor:
    """A 1-D tensor of ``count`` (all when -1) values of ``dtype`` read from ``buffer`` (bytes, bytearray, memoryview,
    array.array) after ``offset`` bytes. Unlike torch, the values are copied: later writes into the buffer do not
    show in the tensor."""
    if not 0 <= int(offset) < memoryview(buffer).nbytes:
        raise ValueError(f"frombuffer: offset must lie in [0, {memoryview(buffer).nbytes}) (the buffer's bytes), got "
                         f"{offset}")
    data = numpy.frombuffer(buffer, dtype=numpy.dtype(dtype), count=int(count), offset=int(offset))
    return creation.tensor(data.copy(), requires_grad=requires_grad)


# ---------------------------------------------------------------------------------------------- torch.<nn function>
def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, reduction: int = 1) -> Tensor:
    from .nn import functional

    return functional.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                          reduction=_reduction("triplet_margin_loss", reduction))


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths: Any, target_lengths: Any, blank: int = 0,
             reduction: int = 1, zero_infinity: bool = False) -> Tensor:
    from .nn import functional

    return functional.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank,
                               _reduction("ctc_loss", reduction), zero_infinity)


def constant_pad_nd(input: Tensor, pad: Sequence[int], value: float = 0) -> Tensor:  # noqa: A002
    """``nn.functional.pad(input, pad, "constant", value)``: the last dim padded by pad[0], pad[1], the one before by
    pad[2], pad[3]...; negative pads cut."""
    from .nn import functional

    return functional.pad(input, pad, "constant", value)


# ---------------------------------------------------------------------------------------------- LU (torch's old names)
class LUUnpack(NamedTuple):
    """What ``lu_unpack`` returns (torch.return_types.lu_unpack)."""

    P: Tensor
    L: Tensor
    U: Tensor


def lu(A: Tensor, pivot: bool = True, get_infos: bool = False) -> tuple[Tensor, ...]:
    """torch.lu (deprecated there, with its warning): ``linalg.lu_factor_ex``'s (LU, pivots), with its info when
    ``get_infos``; a singular matrix factors without error either way, as torch 2.13's."""
    from . import linalg as la

    warnings.warn("torch.lu is deprecated; torch.linalg.lu_factor (or lu_factor_ex for the info too) replaces it",
                  UserWarning, stacklevel=2)
    factored = tuple(la.lu_factor_ex(A, pivot=pivot))
    return factored if get_infos else factored[:2]


def lu_unpack(LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True,
              unpack_pivots: bool = True) -> LUUnpack:
    """(P, L, U) from ``lu_factor``'s (LU, pivots); L and U differentiable in LU_data; an unpacked part is an empty
    tensor when its flag is False."""
    from . import linalg as la

    perm = la.permutation_of("lu_unpack", LU_pivots, LU_data.shape[-2]) if unpack_pivots else None
    return LUUnpack(*la.unpack("lu_unpack", LU_data, perm, unpack_data, unpack_pivots))


def lu_solve(self: Tensor, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:
    """torch.lu_solve(b, LU_data, LU_pivots) (deprecated there, with its warning): linalg.lu_solve(LU, pivots, b)."""
    from . import linalg as la

    warnings.warn("torch.lu_solve(b, LU, pivots) is deprecated; write torch.linalg.lu_solve(LU, pivots, b)",
                  UserWarning, stacklevel=2)
    return la.lu_solve(LU_data, LU_pivots, self)


# ---------------------------------------------------------------------------------------------- randomized SVD
def svd_lowrank(A: Tensor, q: int | None = 6, niter: int = 2, M: Tensor | None = None) -> tuple[Tensor, ...]:
    """(U (..., m, q), S (..., q), V (..., n, q)) of a rank-q approximation of A - M (A (..., m, n), M broadcasting),
    by Halko et al.'s randomized range finder: a Gaussian sketch, ``niter`` power iterations re-orthonormalised by
    QR, then the SVD of the small projection; q = min(q, m, n). Random (our generator, not torch's stream): exact
    where A - M has rank <= q. Differentiable through qr and svd."""
    from . import linalg as la

    x = A if M is None else elementwise.sub(A, M)
    m, n = x.shape[-2:]
    k = builtins.min(6 if q is None else int(q), m, n)
    sketch = creation.randn(n, k, dtype=x.dtype, device=x.device)
    basis = la.qr(x @ sketch).Q
    for _ in range(int(niter)):
        basis = la.qr(x @ la.qr(x.mT @ basis).Q).Q
    u, s, vh = la.svd(basis.mT @ x, full_matrices=False)
    return basis @ u, s, vh.mT


def pca_lowrank(A: Tensor, q: int | None = None, center: bool = True, niter: int = 2) -> tuple[Tensor, ...]:
    """``svd_lowrank`` of A (..., m, n) less its column means (``center``), q = min(6, m, n) by default."""
    mean = METHODS["mean"](A, -2, True) if center else None
    return svd_lowrank(A, q, niter, mean)


# ---------------------------------------------------------------------------------------------- Tensor methods
def angle(self: Tensor) -> Tensor:
    """The argument of each (real) value: pi for negatives, 0 otherwise, nan for nan; integers give float32; the
    gradient is zero (as torch's for real tensors)."""
    x = self if self.dtype.kind == "f" else elementwise.astype(self, DEFAULT_FLOAT)
    xp, a = x.xp, x._data
    out = xp.where(a < 0, a.dtype.type(math.pi), a.dtype.type(0))
    out = xp.where(xp.isnan(a), a, out)
    return record("angle", out, (x,), lambda g: (xp.zeros_like(g),))


def _continuous(op: str, self: Tensor, scale: float, name: str) -> None:
    from .methods import _continuous_only  # (one check and message for every continuous fill)
    _continuous_only(op, self)
    if not scale > 0:
        raise ValueError(f"{op} expects {name} > 0.0, but found {name}={scale}")


def cauchy_(self: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fill with Cauchy samples: median + sigma * tan(pi (u - 1/2)), u uniform in [0, 1)."""
    _continuous("cauchy_", self, sigma, "sigma")
    return inplace.inplace(self, "cauchy_", lambda a: Tensor(
        (median + sigma * a.xp.tan(math.pi * (uniform64(a.device, a.shape, generator) - 0.5))).astype(a.dtype),
        device=a.device))


def log_normal_(self: Tensor, mean: float = 1.0, std: float = 2.0, *, generator: Any = None) -> Tensor:
    """Fill with exp(mean + std * z), z standard normal."""
    _continuous("log_normal_", self, std, "std")
    return inplace.inplace(self, "log_normal_", lambda a: Tensor(a.xp.exp(
        mean + std * backend.standard_normal(a.device, a.shape, numpy.float64, _rng(generator, a.device))
    ).astype(a.dtype), device=a.device))


def _python_map(op: str, self: Tensor, fn: Callable[..., Any], *others: Tensor) -> Tensor:
    """Write ``fn(self's value, others' values...)`` (Python numbers, others broadcast to self's shape) into self."""
    for t in (self, *others):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected tensors, got {type(t).__name__}")
        if t.device != "cpu":
            raise RuntimeError(f"{op} is only implemented on CPU tensors (as torch)")
    columns = [numpy.broadcast_to(t._data, self.shape).reshape(-1).tolist() for t in (self, *others)]
    values = numpy.array([fn(*args) for args in zip(*columns)], dtype=object).reshape(self.shape)
    return inplace.inplace(self, op, lambda a: Tensor(values.astype(a.dtype), device=a.device))


def apply_(self: Tensor, callable: Callable[[Any], Any]) -> Tensor:  # noqa: A002 - torch's name
    """Replace each value v by ``callable(v)`` (a Python number in, one out), in place; CPU tensors only."""
    return _python_map("apply_", self, callable)


def map_(self: Tensor, tensor: Tensor, callable: Callable[[Any, Any], Any]) -> Tensor:  # noqa: A002
    """Replace each value v by ``callable(v, w)``, w the value of ``tensor`` (broadcast to self) there, in place."""
    return _python_map("map_", self, callable, tensor)


def map2_(self: Tensor, x: Tensor, y: Tensor, callable: Callable[[Any, Any, Any], Any]) -> Tensor:  # noqa: A002
    """Replace each value v by ``callable(v, x's value, y's value)`` (both broadcast to self), in place."""
    return _python_map("map2_", self, callable, x, y)


def resize(self: Tensor, *sizes: Any) -> Tensor:
    """torch's deprecated out-of-place ``x.resize(*sizes)`` (with its warning): x's values in the shape ``sizes``, of
    as many elements (differentiable); ``resize_`` is the in-place one that may change the count."""
    warnings.warn("non-inplace resize is deprecated", UserWarning, stacklevel=2)
    shape = tuple(int(n) for n in _sizes(sizes))
    if not shape:  # (torch's cannot make a 0-d tensor)
        raise TypeError("resize() needs the size: x.resize(2, 3)")
    if math.prod(shape) != self.numel():
        raise ValueError(f"resize: requested size {shape} ({math.prod(shape)} elements) but the tensor has "
                         f"{self.numel()} elements (shape {self.shape}); the out-of-place resize keeps the count")
    return movement.reshape(self, shape)


def resize_as(self: Tensor, tensor: Tensor) -> Tensor:
    """torch's deprecated out-of-place ``x.resize_as(other)``: ``resize(other.shape)``."""
    warnings.warn("non-inplace resize_as is deprecated", UserWarning, stacklevel=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return resize(self, tensor.shape)


# ---------------------------------------------------------------------------------------------- *_copy
def _copy_of(name: str, view: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """torch.<name>: what the view op (the method ``name`` without ``_copy``, or ``view``) gives, as new tensors (a
    tuple stays a tuple), not views; gradients flow."""
    method = name.removesuffix("_copy")

    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Any:  # noqa: A002 - torch's name
        out = view(input, *args, **kwargs) if view else getattr(input, method)(*args, **kwargs)
        return tuple(movement.clone(o) for o in out) if isinstance(out, (tuple, list)) else movement.clone(out)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}: a copy (not a view) of what ``{method}`` gives."
    return fn


def _slice_view(input: Tensor, dim: int = 0, start: int | None = None, end: int | None = None,  # noqa: A002
                step: int = 1) -> Tensor:
    if step < 1:
        raise ValueError(f"slice_copy: step must be positive, got {step}")
    return input[(slice(None),) * movement.wrap_dim("slice_copy", dim, input.ndim) + (slice(start, end, step),)]


def _expand_view(input: Tensor, size: Sequence[int], *, implicit: bool = False) -> Tensor:  # noqa: A002
    return input.expand(*size)


def _diagonal_view(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:  # noqa: A002
    return movement.diagonal(input, offset, dim1, dim2)


COPIES = {"slice_copy": _slice_view, "expand_copy": _expand_view, "diagonal_copy": _diagonal_view,
          "view_copy": lambda input, size: input.view(size), "alias_copy": lambda input: input}  # noqa: A006


def norm_except_dim(v: Tensor, pow: int = 2, dim: int = 0) -> Tensor:  # noqa: A002 - torch's name
    """``torch.norm_except_dim(v, pow, dim)``: weight norm's (``nn.utils.parametrizations.norm_except_dim``), with
    torch's integer ``pow`` (TypeError otherwise)."""
    if isinstance(pow, bool) or not isinstance(pow, numbers.Integral):
        raise TypeError(f"norm_except_dim: pow must be an int, got {type(pow).__name__}")
    from .nn.parametrizations import norm_except_dim as weight_norms  # (lazily: nn sits above this module)

    return weight_norms(v, pow, dim)


def fill(input: Tensor, value: TensorLike) -> Tensor:  # noqa: A002 - torch's name
    """``torch.fill(input, value)``: a new tensor of ``input``'s shape and dtype, every element ``value`` (a number
    or a 0-d tensor); the gradient to ``input`` is zero, to a tensor ``value`` the sum of the upstream one."""
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"fill: value must be a number or a 0-d tensor, got a {value.ndim}-d tensor; use expand or "
                           "copy_ for a tensor of values")
    scalar = value._data if isinstance(value, Tensor) else value
    out = input.xp.full(input.shape, scalar, dtype=input.dtype)
    parents = (input, value) if isinstance(value, Tensor) else (input,)

    def backward(g: Any) -> tuple[Any, ...]:
        grads = (input.xp.zeros(input.shape, dtype=g.dtype),)
        return grads + ((g.sum().astype(value.dtype),) if len(parents) == 2 else ())
    return record("fill", out, parents, backward)


VIEWS = ("permute", "transpose", "t", "select", "squeeze", "unsqueeze", "unfold", "unbind", "split",
         "split_with_sizes", "detach")

METHODS.update(angle=angle, cauchy_=cauchy_, log_normal_=log_normal_, apply_=apply_, map_=map_, map2_=map2_,
               histogram=histogram, lu=lu, lu_solve=lu_solve, resize=resize, resize_as=resize_as)
FUNCTIONS.update({name: _copy_of(name, view) for name, view in COPIES.items()})
FUNCTIONS.update({f"{name}_copy": _copy_of(f"{name}_copy") for name in VIEWS})
FUNCTIONS.update(
    var_mean=_with_mean("var"), std_mean=_with_mean("std"), rsub=rsub, scalar_tensor=scalar_tensor,
    randint_like=randint_like, result_type=result_type, unravel_index=unravel_index, vander=vander,
    trapezoid=trapezoid, trapz=trapezoid, gradient=gradient, histogram=histogram, histogramdd=histogramdd,
    asarray=asarray, frombuffer=frombuffer, triplet_margin_loss=triplet_margin_loss,
    ctc_loss=ctc_loss, constant_pad_nd=constant_pad_nd, rms_norm=_same_as_nn_function("rms_norm"),
    angle=_function("angle"), lu=lu, lu_unpack=lu_unpack, lu_solve=lu_solve, svd_lowrank=svd_lowrank,
    pca_lowrank=pca_lowrank, fill=fill, norm_except_dim=norm_except_dim, binomial=creation.binomial,
    empty_permuted=creation.empty_permuted)
