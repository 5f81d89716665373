"""More reductions and scans, as torch names them: cumsum, cumprod, cummax, cummin, logcumsumexp, prod, var, std,
cov, corrcoef, norm, renorm, quantile and nanquantile, and the histogram histc.

Each has an exact backward: ``prod``'s uses products of the other elements (right where an input is 0), ``norm``'s
is 0 at the zero vector (the subgradient torch picks).
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral

import numpy

from .. import backend
from ..tensor import Array, Tensor, check_devices, record
from . import elementwise
from .binary import lerp
from .elementwise import WIDER, ignore_fp_errors, wide_sum
from .factor import DtypeError, KernelDtypeError
from .index import gather
from .linalg import _scaled, matmul
from .movement import broadcast_to, diagonal, movedim, reshape, squeeze, transpose, unsqueeze, wrap_dim
from .reduce import Axis, _axes, _expand_back, opmath, record_mean, rounded
from .reduce import sum as rsum
from .sort import sort


def cumsum(a: Tensor, dim: int) -> Tensor:
    """Running sums along ``dim``; backward is the reversed running sum of the gradient."""
    dim = wrap_dim("cumsum", dim, a.ndim)
    if a.ndim == 0:
        return record("cumsum", a._data.copy(), (a,), lambda g: (g,))
    out = _running_sum(a._data, dim)
    if a.shape[dim] == 1:  # torch's backward hands g back as it is there (a -0.0 stays -0.0)
        return record("cumsum", out, (a,), lambda g: (g,))
    return record("cumsum", out, (a,), lambda g: (_reversed_cumsum(g, dim),))


def _running_sum(x: Array, dim: int) -> Array:
    """cumsum along ``dim`` as torch's: from a +0 accumulator (a run of -0s sums to +0), float16 accumulated in
    float32 and float32 in float64, each sum rounded once (in float16 a running sum of 0.1s sticks at 256, in
    float32 a million 0.1s summed one by one come to 100958)."""
    xp = backend.get_array_module(x)
    if x.dtype.kind != "f":
        return xp.cumsum(x, axis=dim)
    with ignore_fp_errors(xp):  # inf - inf is nan and a sum past float16's range inf, as torch, silently
        out = xp.cumsum(x, axis=dim, dtype=WIDER.get(x.dtype))  # one precision up, as torch
        out += 0.0  # -0 + 0 = +0, nothing else changes
        return out.astype(x.dtype, copy=False)


def _reversed_cumsum(g: Array, dim: int) -> Array:
    """Sums of ``g`` from each position to the end of ``dim``."""
    xp = backend.get_array_module(g)
    return xp.flip(_running_sum(xp.flip(g, axis=dim), dim), axis=dim)


def cumprod(a: Tensor, dim: int) -> Tensor:
    """Running products along ``dim`` (same shape). Backward, as torch's: d/dx_k = sum_{i>=k} g_i y_i / x_k when
    no x is 0; with zeros, that before the first zero z of a slice, at z the product of x before z times
    sum_{z<=i<z2} g_i prod_{z<j<=i} x_j (z2 the second zero), and 0 after z."""
    dim = wrap_dim("cumprod", dim, a.ndim)
    if a.ndim == 0:
        return record("cumprod", a._data.copy(), (a,), lambda g: (g,))
    xp, x = a.xp, a._data
    wide = WIDER.get(x.dtype)  # (integers keep numpy's promotion: int32 -> int64, as before)
    with ignore_fp_errors(xp):
        out = xp.cumprod(x, axis=dim, dtype=wide)
        out = out if wide is None else out.astype(x.dtype, copy=False)

    def backward(g: Array) -> tuple[Array]:
        if a.shape[dim] <= 1:
            return (g,)
        w = out * g
        zero = x == 0
        if not bool(zero.any()):
            return (_reversed_cumsum(w, dim) / x,)
        seen = xp.cumsum(zero, axis=dim)  # how many zeros up to and including each position
        before, first = seen == 0, zero & (seen == 1)
        one = x.dtype.type(1)
        with ignore_fp_errors(xp):
            gx = xp.where(before, _reversed_cumsum(xp.where(before, w, 0), dim) / xp.where(before, x, one), 0)
            # prod_{z<j<=i} x_j, and at z the product of the x before it: one precision up, as torch's cumprod
            # (in float32, 1e-30 1e-20 1e30 1e30 would be 0, not 1e10)
            between = xp.cumprod(xp.where((seen == 1) & ~first, x, one), axis=dim, dtype=wide)
            tail = (xp.where(seen == 1, g, 0) * between.astype(x.dtype, copy=False)).sum(axis=dim, keepdims=True)
            head = xp.cumprod(xp.where(before, x, one), axis=dim, dtype=wide).astype(x.dtype, copy=False)
            return (xp.where(first, head * tail, gx),)
    return record("cumprod", out, (a,), backward)


def cumulative_extreme(op: str, a: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """cummax / cummin (``op``) along ``dim``: (the running largest (smallest) values, their int64 indices), as
    torch: a value equal to the running one takes its place (the index of the last tie), and NaN, once seen,
    stays (the index of the latest NaN). Gathered, so the gradient goes to those indices."""
    d = wrap_dim(op, dim, a.ndim)
    xp = a.xp
    if a.ndim == 0:
        idx = xp.zeros((), dtype="int64")
    else:
        x = a._data
        running = backend.accumulate("maximum" if op == "cummax" else "minimum", x, d)
        hit = x == running
        if x.dtype.kind == "f":
            hit |= xp.isnan(x)
        pos = xp.arange(x.shape[d]).reshape((-1,) + (1,) * (x.ndim - d - 1))
        idx = backend.accumulate("maximum", xp.where(hit, pos, 0), d).astype("int64", copy=False)
    indices = Tensor(idx, device=a.device)
    return gather(a, d, indices), indices


def logcumsumexp(a: Tensor, dim: int) -> Tensor:
    """log(cumsum(exp(x))) along ``dim`` without overflow (floating tensors only, as torch). float16 / float32 scan
    in float64 and round once, as torch's kernel (a float32 scan of 5000 values of spread 1 drifted 18 ulps; a
    float16 one stalls: 3000 terms of 0.1 gave 6.34 where torch gives 8.11). Backward as torch's formula, in the
    same float64: the positive and negative parts of g, each summed in the log domain."""
    d = wrap_dim("logcumsumexp", dim, a.ndim)
    if a.dtype.kind != "f":
        raise KernelDtypeError(f"logcumsumexp: not implemented for {a.dtype} tensors (as in torch); convert with "
                               f".float()")
    xp, x = a.xp, a._data.astype(numpy.float64, copy=False)
    with ignore_fp_errors(xp):
        out = backend.accumulate("logaddexp", x, d) if a.ndim else x.copy()
        if a.ndim:  # torch's scan starts from logaddexp(-inf, x_0) = x_0 + log1p(0): -0.0 becomes 0.0
            out += x.dtype.type(0)

    def backward(g: Array) -> tuple[Array]:
        if a.ndim == 0 or g.size == 0:
            return (g,)
        lowest = x.dtype.type(numpy.finfo(x.dtype).min)
        with ignore_fp_errors(xp):
            log_g = xp.log(xp.abs(g.astype(x.dtype, copy=False)))

            def part(sign: Array) -> Array:  # sum over j >= i of |g_j| exp(x_i - out_j) where g has that sign
                t = xp.flip(xp.where(sign, log_g, lowest) - out, axis=d)
                return xp.exp(xp.flip(backend.accumulate("logaddexp", t, d), axis=d) + x)
            return ((part(g > 0) - part(g < 0)).astype(a.dtype, copy=False),)
    return record("logcumsumexp", out.astype(a.dtype, copy=False), (a,), backward)


QUANTILE_MODES = ("linear", "lower", "higher", "nearest", "midpoint")


def quantile(a: Tensor, q: float | Tensor, dim: int | None = None, keepdim: bool = False,
             interpolation: str = "linear", ignore_nan: bool = False) -> Tensor:
    """torch.quantile (``ignore_nan``: nanquantile): the ``q``-th quantiles (a number, or a 0-d or 1-D tensor of
    the input's dtype, each in [0, 1]) of the flattened input or along ``dim``, as torch computes them: from the
    sorted values at rank q (n - 1) (n the count of non-NaN values for nanquantile; a slice with NaN gives NaN for
    quantile), between the two neighbours as ``interpolation`` says (linear, lower, higher, nearest: half to even,
    midpoint). Shape: the reduced shape (``keepdim``: with size-1 dims), after a leading dim of len(q) for a 1-D
    q. Float32 / float64 only; the gradient goes to the sorted values picked."""
    op = "nanquantile" if ignore_nan else "quantile"
    if a.dtype not in (numpy.float32, numpy.float64):
        raise DtypeError(f"{op}: input must be float32 or float64 (as in torch), got {a.dtype}; convert with .float()")
    if a._data.size == 0:
        raise ValueError(f"{op}: the input tensor must be non-empty")
    if interpolation not in QUANTILE_MODES:
        raise ValueError(f"{op}: interpolation must be one of {QUANTILE_MODES}, got {interpolation!r}")
    xp, dt = a.xp, a.dtype.type
    if isinstance(q, Tensor):
        check_devices(op, a, q)
        if q.ndim > 1 or q.dtype != a.dtype:
            raise ValueError(f"{op}: q must be a number or a 0-d / 1-D tensor of the input's dtype {a.dtype}, got "
                             f"shape {q.shape} and dtype {q.dtype}")
        qs = q._data
    else:
        qs = xp.asarray(q, dtype=a.dtype)
    if qs.ndim > 1 or not bool(((qs >= 0) & (qs <= 1)).all()):
        raise ValueError(f"{op}: q must be a number or a 1-D tensor with values in [0, 1]")
    if dim is None:
        x, kept = reshape(a, (-1,)), (1,) * a.ndim
    else:
        d = wrap_dim(op, dim, a.ndim)
        x = movedim(a, d, -1) if a.ndim else reshape(a, (1,))
        kept = a.shape[:d] + (1,) + a.shape[d + 1:] if a.ndim else ()
    ordered = sort(x, -1)[0]  # NaN last
    n = ordered.shape[-1]
    nan = xp.isnan(ordered._data)
    qb = qs.reshape((-1,) + (1,) * ordered.ndim)  # (Q, 1, ..., 1)
    with ignore_fp_errors(xp):
        if ignore_nan:
            ranks = qb * ((~nan).sum(axis=-1, keepdims=True) - 1).astype(a.dtype)
            ranks = xp.where(ranks < 0, dt(0), ranks)
        else:
            ranks = xp.where(nan.any(axis=-1, keepdims=True), dt(n - 1), qb * dt(n - 1))
    ranks = {"lower": xp.floor, "higher": xp.ceil, "nearest": xp.rint}.get(interpolation, lambda r: r)(ranks)
    below = ranks.astype("int64")
    spread = broadcast_to(ordered, ranks.shape[:-1] + (n,))  # (Q, ..., n)
    out = gather(spread, -1, Tensor(below, device=a.device))
    if interpolation in ("linear", "midpoint"):
        above = gather(spread, -1, Tensor(xp.ceil(ranks).astype("int64"), device=a.device))
        weight = Tensor(ranks - below.astype(a.dtype), device=a.device)
        if interpolation == "linear" and isinstance(q, Tensor) and q.requires_grad:  # the weight is q's: as torch,
            # rebuild it from q (q * scale - below; 0, with no gradient, where NaN pinned the rank) so q gets one
            scale = (xp.maximum((~nan).sum(axis=-1, keepdims=True) - 1, 0) if ignore_nan else
                     xp.where(nan.any(axis=-1, keepdims=True), 0, n - 1)).astype(a.dtype)
            free = (reshape(q, qb.shape) * Tensor(scale, device=a.device)
                    - Tensor(below.astype(a.dtype), device=a.device))
            weight = elementwise.where(Tensor(xp.broadcast_to(scale == 0, ranks.shape), device=a.device), weight, free)
        out = lerp(out, above, 0.5 if interpolation == "midpoint" else weight)
    shape = kept if keepdim else () if dim is None else a.shape[:d] + a.shape[d + 1:]
    return reshape(out, qs.shape + shape)


def prod(a: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Product over one axis (all elements when None); d/dx_i is the product of the other elements."""
    xp = a.xp
    flat = axis is None
    x = a._data.reshape(-1) if flat else a._data
    ax = 0 if flat else (*_axes(axis, a.ndim), None)[0]  # checks the axis; None for a 0-d tensor
    if ax is None:  # a 0-d tensor
        return record("prod", a._data.copy(), (a,), lambda g: (g,))
    out = x.prod(axis=ax, keepdims=keepdims and not flat)
    if flat and keepdims:
        out = out.reshape((1,) * a.ndim)

    def backward(g: Array) -> tuple[Array]:
        if x.shape[ax] == 0:  # an empty product is 1, whatever the (no) elements
            return (xp.zeros(a.shape, dtype=g.dtype),)
        zeros = int(xp.count_nonzero(x == 0))
        gb = _expand_back(g.reshape(()) if flat else g, x.shape, (ax,), keepdims and not flat)
        if zeros == 0:  # torch's branches: g (out / x) where no element is 0 (so inf / inf is nan, as torch; the
            with ignore_fp_errors(xp):  # quotient first: [1, 1, 1e-45] gives g at 1e-45, not (g 1e-45) / 1e-45)
                return ((gb * ((out.reshape(()) if flat else out if keepdims else xp.expand_dims(out, ax)) / x))
                        .reshape(a.shape),)
        if flat and zeros > 1:  # a full product with two zeros: 0 gradients (torch's shortcut, nan or inf elsewhere)
            return (xp.zeros(a.shape, dtype=g.dtype),)
        xm = xp.moveaxis(x, ax, -1)
        with ignore_fp_errors(xp):  # the products of the elements before / after i, one precision up (as torch's
            left = _exclusive_cumprod(xm)  # cumprod: 1e-45 1e-30 underflows in float32, then times inf is nan)
            right = xp.flip(_exclusive_cumprod(xp.flip(xm, axis=-1)), axis=-1)
            gx = gb * xp.moveaxis(left * right, -1, ax)
        return (gx.reshape(a.shape),)
    return record("prod", out, (a,), backward)


def _exclusive_cumprod(x: Array) -> Array:
    """(..., n) -> (..., n): at i the product of x[..., :i] (1 at 0), accumulated one precision up and rounded
    once, as torch's cumprod."""
    xp = backend.get_array_module(x)
    ones = xp.ones(x.shape[:-1] + (1,), dtype=x.dtype)
    return xp.cumprod(xp.concatenate([ones, x[..., :-1]], axis=-1), axis=-1,
                      dtype=WIDER.get(x.dtype)).astype(x.dtype, copy=False)


def var(a: Tensor, axis: Axis = None, correction: float = 1, keepdims: bool = False) -> Tensor:
    """Variance, sum((x - mean)^2) / (N - correction); backward 2 (x - mean) / (N - correction)."""
    return spread_mean("var", a, axis, correction, keepdims)[0]


def std(a: Tensor, axis: Axis = None, correction: float = 1, keepdims: bool = False) -> Tensor:
    """sqrt(var); backward var's / (2 std), taken as 0 where std is 0 (as torch)."""
    return spread_mean("std", a, axis, correction, keepdims)[0]


def spread_mean(op: str, a: Tensor, axis: Axis, correction: float, keepdims: bool,
                caller: str = "") -> tuple[Tensor, Tensor]:
    """(``op``, "var" or "std", and the mean) of ``a`` over ``axis``, both of the reduced shape. A float32 / float16
    input is accumulated in float64 (as torch's Welford kernel): squares of tiny or huge values neither underflow
    nor overflow, and each result is the float64 value rounded once (torch's var_mean / std_mean, bit for bit).
    Where N - correction <= 0 (N taken as 0 for an empty ``a``) it warns as torch, naming ``caller`` (or ``op``)."""
    axes = _axes(axis, a.ndim)
    xp = a.xp
    n = math.prod(a.shape[i] for i in axes)
    if (n if a._data.size else 0) - correction <= 0:  # torch's factor numel / out numel: 0 for an empty input
        warnings.warn(f"{caller or op}(): no degrees of freedom are left (the correction is not smaller than the "
                      "number of elements reduced per output), so the result is inf or nan", UserWarning,
                      stacklevel=3 if caller else 4)  # the user's line: via var_mean, or via methods.var and var
    denom = float(max(n - correction, 0)) if n else 0.0  # no elements: nan whatever the correction (as torch)
    wide = a.dtype.kind == "f" and a.dtype.itemsize < 8
    with ignore_fp_errors(xp):
        # sum / n is numpy's mean, bit for bit, without its "Mean of empty slice" warning where n = 0 (torch: none)
        mean = a._data.sum(axis=axes, keepdims=True, dtype=xp.float64 if wide else None) / n
        d = xp.subtract(a._data, mean, out=xp.empty(a.shape, mean.dtype))  # (out=: a 0-d one stays an array)
        if not wide:  # the corrected two-pass algorithm (as norm.py's statistics): the mean of d corrects the first
            shift = d.sum(axis=axes, keepdims=True) / n  # mean's rounding, so a constant float64 row has variance 0
            shift = xp.where(xp.isfinite(shift), shift, shift.dtype.type(0))  # (as torch's), not about 1e-26; none
            d -= shift  # next to an inf (x - mean: torch's gradient). A float64 mean of float32 values needs none.
            mean += shift
        out = xp.square(d, out=d).sum(axis=axes, keepdims=keepdims) / denom
        out = (xp.sqrt(out) if op == "std" else out).astype(a.dtype)

    def backward(g: Array) -> tuple[Array]:  # var: 2 g (x - mean) / denom; std: g (x - mean) / (denom std), 0
        with ignore_fp_errors(xp):  # where std is 0, with (x - mean) / std first (1 / std may overflow or be tiny)
            d = a._data - mean  # (float64 for a float32 / float16 input)
            if op == "std":
                s = _expand_back(out, a.shape, axes, keepdims)
                d /= s
            raw = n - correction  # torch's backward divides by N - correction itself (negative: a finite gradient)
            ge = _expand_back(g, a.shape, axes, keepdims)
            if raw <= 0 and (axis is None or a.ndim == 0):  # torch's no-dim branch: g' (nan where x is the mean,
                ge = ge / (2 * s) if op == "std" else ge  # inf elsewhere), g' = g / (2 std) for std (0 where std
                if op == "std":  # is 0): 0 * inf, nan wherever std is inf
                    ge = xp.where(s == 0, ge.dtype.type(0), ge)
                d = ge * xp.where(a._data == mean, math.nan, math.inf)
            else:
                d *= ge * ((2 if op == "var" else 1) / raw if raw else math.inf)
                if op == "std" and bool((s == 0).any()):
                    d = xp.where(s == 0, d.dtype.type(0), d)
            return (d.astype(a.dtype, copy=False),)
    reduced = mean if keepdims else mean.reshape(out.shape)
    return record(op, out, (a,), backward), record_mean(a, reduced.astype(a.dtype), axes, keepdims, n)


def cov(a: Tensor, correction: int = 1, fweights: Tensor | None = None, aweights: Tensor | None = None) -> Tensor:
    """torch.cov: the covariance of the variables in the rows of ``a`` (variables, observations), or of the one
    variable of a 1-D ``a``: (variables, variables), with size-1 dims squeezed (0-d for one variable), as torch.
    ``fweights`` (integer counts) and ``aweights`` (floating importances), one per observation, weight the mean and
    the sums; the divisor is sum(w) - correction (with aweights, sum(w) - correction sum(w aweights) / sum(w)), taken
    as 0 with a warning where it is not positive, so the entries are inf or nan, as torch's. One observation with one
    kind of weights gives zeros over that divisor (torch 2.13's corner case, less its zeroing of the input). Composed
    of differentiable ops in torch's order, so the gradients (to ``a`` and to aweights) are torch's."""
    if a.ndim > 2:
        raise ValueError(f"cov: expects a 0-, 1- or 2-D input (variables, observations), got shape {a.shape}")
    if a.dtype.kind not in "iuf":
        raise TypeError(f"cov: needs a numeric input (as torch), got {a.dtype}; convert with .float()")
    if isinstance(correction, bool) or not isinstance(correction, Integral):
        raise TypeError(f"cov: correction must be an int (as torch), got {correction!r}")
    x = a if a.ndim == 2 else reshape(a, (1, -1))
    n, w = x.shape[1], None
    for name, weights, kinds in (("fweights", fweights, "iu"), ("aweights", aweights, "f")):
        if weights is None:
            continue
        if not isinstance(weights, Tensor):
            raise TypeError(f"cov: {name} must be a Tensor, got {type(weights).__name__}")
        check_devices("cov", a, weights)
        if weights.ndim > 1 or math.prod(weights.shape) != n:
            raise ValueError(f"cov: {name} must be 0-D or 1-D with one weight per observation ({n}), got shape "
                             f"{weights.shape}")
        if weights.dtype.kind not in kinds:
            raise TypeError(f"cov: {name} must have {'an integer' if kinds == 'iu' else 'a floating'} dtype (as "
                            f"torch), got {weights.dtype}")
        if n and not bool(weights._data.min() >= 0):
            raise ValueError(f"cov: {name} cannot be negative (nor nan)")
        w = weights if w is None else elementwise.mul(w, weights)
    w_sum = elementwise.number(n, numpy.dtype(numpy.int64), x) if w is None else _total(w)
    if w is not None and not bool(w_sum._data != 0):
        raise ValueError("cov: the weights sum to zero, so the mean is undefined; give some observation a weight")
    with ignore_fp_errors(x.xp):  # as torch, no warnings for 0 / 0 and the like
        avg = elementwise.div(_total(x if w is None else elementwise.mul(x, w), 1), w_sum)
        divisor = _divisor(x, correction, w, w_sum, fweights, aweights)
        if bool(divisor._data <= 0):
            warnings.warn("cov(): no degrees of freedom are left (the correction is not smaller than the number of "
                          "observations), so the result is inf or nan", UserWarning, stacklevel=3)
            divisor = elementwise.number(0, divisor.dtype, divisor)
        if n == 1 and (fweights is None) != (aweights is None):
            # torch 2.13's corner case: one observation and one kind of weights centre to zeros (x - avg could round
            # to a little more); torch zeroes the input itself, in place, where we make new zeros (gradient 0)
            x = _scaled(x, 0) if x.dtype.kind == "f" else elementwise.astype(_scaled(x, 0), numpy.float32)
            if elementwise.result_type(x, w) != x.dtype:
                raise TypeError(f"cov: torch 2.13 refuses one observation of a {a.dtype} input with {w.dtype} "
                                f"weights (its matrix product meets two dtypes); cast the input to {w.dtype}")
        else:
            x = elementwise.sub(x, unsqueeze(avg, 1))
        c = matmul(x, transpose(x if w is None else elementwise.mul(x, w), (1, 0)))
        return squeeze(elementwise.div(c, divisor))


def _divisor(x: Tensor, correction: int, w: Tensor | None, w_sum: Tensor, fweights: Tensor | None,
             aweights: Tensor | None) -> Tensor:
    """cov's normalisation, torch 2.13's branches: n - correction, sum(w) - correction, or with aweights
    sum(w) - correction sum(w aweights) / sum(w) (0 for one observation with aweights alone and correction 1)."""
    if w is None:
        return elementwise.number(x.shape[1] - correction, numpy.dtype(numpy.int64), x)
    if correction == 0:
        return w_sum
    if aweights is None:
        return elementwise.sub(w_sum, correction)
    if fweights is None and x.shape[1] == 1 and correction == 1:
        return elementwise.number(0, numpy.dtype(numpy.int64), x)
    return elementwise.sub(w_sum, elementwise.div(elementwise.mul(correction, _total(elementwise.mul(w, aweights))),
                                                  w_sum))


def _total(t: Tensor, axis: int | None = None) -> Tensor:
    """torch's sum: integers (and bools) summed as int64."""
    return rsum(elementwise.astype(t, numpy.int64) if t.dtype.kind in "biu" else t, axis)


def corrcoef(a: Tensor) -> Tensor:
    """torch.corrcoef: Pearson's correlation coefficients of the rows of ``a`` (variables, observations), cov
    scaled by the standard deviations and clipped to [-1, 1] (shape as cov's); for a single variable c / c (1, or nan
    where the variance is 0, inf or nan), as torch."""
    if a.ndim > 2:
        raise ValueError(f"corrcoef: expects a 0-, 1- or 2-D input (variables, observations), got shape {a.shape}")
    c = cov(a)
    with ignore_fp_errors(c.xp):
        if c.ndim == 0:
            return elementwise.div(c, c)
        std = elementwise.sqrt(diagonal(c, 0, 0, 1))
        c = elementwise.div(elementwise.div(c, reshape(std, (-1, 1))), reshape(std, (1, -1)))
        return elementwise.clip(c, -1, 1)


def norm(a: Tensor, p: float = 2.0, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """(sum |x|^p)^(1/p) over ``axis`` for p > 0 (or < 0), |x| over one element. Backward as torch's:
    sgn(x) |x|^(p-1) / norm^(p-1), taken as 0 where the norm is 0 (and, for p < 1, where x is 0); for p = 2 that is
    x / norm."""
    axes = _axes(axis, a.ndim)
    x = a._data
    out = norm_of(x, p, axes)

    def backward(g: Array) -> tuple[Array]:
        # float16 in float32, rounded once: its |x|^(p-1) and norm^(p-1) underflow (p = 3 at |x| ~ 1e-4 gave -1, 0, 1
        # for -0.756, 0.166, 0.411; torch's float16 formula gives nan / inf there)
        (xs, half), norms, gs = opmath(x), opmath(out)[0], opmath(g)[0]
        gx = _expand_back(gs, a.shape, axes, keepdims) * norm_derivative(xs, norms, p, axes)
        if 1 < p < numpy.inf and p != 2:  # torch masks g / norm^(p-1) where the norm is 0: 0 even for a nan g,
            # times x |x|^(p-2) for p > 2, which keeps the sign of x there (-0.0, or a -1e-200 whose norm underflows)
            zero = gx.dtype.type(0)
            gx = a.xp.where(norms == 0, a.xp.copysign(zero, xs) if p > 2 else zero, gx)
        return (rounded(gx, half),)
    return record("norm", out if keepdims else out.reshape(tuple(n for i, n in enumerate(a.shape) if i not in axes)),
                  (a,), backward)


def norm_of(x: Array, p: float, axes: tuple[int, ...]) -> Array:
    """The p-norm of x over ``axes`` (kept dims): (sum |x|^p)^(1/p), max |x| for p = inf (min |x| for -inf), the
    count of non-zeros for p = 0, |x| over one element (exactly, as torch: no under- or overflow of x^p)."""
    xp = backend.get_array_module(x)
    with ignore_fp_errors(xp):
        if p == 0:
            return (x != 0).sum(axis=axes, keepdims=True).astype(x.dtype)
        if all(x.shape[i] == 1 for i in axes):
            return xp.abs(x)
        if numpy.isinf(p):
            if any(x.shape[i] == 0 for i in axes):
                raise RuntimeError(f"norm: the {p}-norm of an empty reduced dim has no identity (as torch)")
            return xp.abs(x).max(axis=axes, keepdims=True) if p > 0 else xp.abs(x).min(axis=axes, keepdims=True)
        if x.dtype == numpy.float16:  # in float32, as torch (300^2 overflows float16)
            return norm_of(x.astype(numpy.float32), p, axes).astype(x.dtype)
        if p == 2:
            return xp.sqrt(wide_sum(x * x, axes, keepdims=True))
        return wide_sum(xp.abs(x) ** p, axes, keepdims=True) ** (1.0 / p)


def norm_derivative(x: Array, out: Array, p: float, axes: tuple[int, ...]) -> Array:
    """d out / d x for out = the p-norm of x over ``axes`` (kept dims), as torch's norm backward: sgn(x) |x|^(p-1) /
    out^(p-1) (x / out for p = 2), 0 where out is 0; for p < 1 sgn(x) |x|^(p-1) out^(1-p), 0 at x = 0; for p = inf
    sgn(x) split evenly among the elements of largest |x|."""
    xp = backend.get_array_module(x)
    one, zero = x.dtype.type(1), x.dtype.type(0)
    with ignore_fp_errors(xp):
        if numpy.isinf(p):  # torch's mask: |x| == norm or x is nan (sgn(nan) = 0: a nan norm gives 0 gradients)
            hit = (xp.abs(x) == out) | xp.isnan(x)
            return xp.sign(xp.where(hit & ~(x == x), zero, x)) * hit / hit.sum(axis=axes, keepdims=True)  # no mask
        elif p == 2:
            scaled = x / xp.where(out == 0, one, out)
        else:
            if p == 1:  # torch's sgn(x): 0 at nan (so a nan entry gets 0, not nan); -0 kept
                return xp.sign(xp.where(x == x, x, zero)) * xp.ones_like(out)
            grows = x * xp.abs(x) ** (p - 2) if p >= 2 else xp.sign(x) * xp.abs(x) ** (p - 1)  # (torch's: -0 kept)
            if p < 1:  # torch's: no mask where the norm is 0 (so an overflowing |x|^(p-1) times a 0 norm is nan)
                return xp.where(x == 0, zero, grows) * out ** (1 - p)
            scaled = grows / xp.where(out == 0, one, out ** (p - 1))
        return xp.where(out == 0, zero, scaled)


def renorm(a: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """``a`` (at least 2-D, floating) with each slice along ``dim`` whose p-norm (over the other dims) exceeds
    ``maxnorm`` scaled by maxnorm / (norm + 1e-7), torch's factor, eps included; other slices unchanged. The
    gradient is torch's: through the factor and the norm in the scaled slices, g itself in the others."""
    if a.dtype.kind != "f":
        raise TypeError(f"renorm: only floating-point input is supported (as torch), got {a.dtype}")
    if not p > 0:
        raise ValueError(f"renorm: p must be positive (torch does not support p = {p})")
    if not maxnorm >= 0:
        raise ValueError(f"renorm: maxnorm must be >= 0, got {maxnorm}")
    if a.ndim < 2:
        raise ValueError(f"renorm: the input needs at least 2 dims (slices along dim), got shape {a.shape}")
    d = wrap_dim("renorm", dim, a.ndim)
    others = tuple(i for i in range(a.ndim) if i != d)
    if p == numpy.inf and a.size == 0 and a.shape[d]:
        raise ValueError(f"renorm: the inf norm of an empty slice is not defined (input {a.shape}, dim {dim}), as "
                         f"in torch")
    xp, x = a.xp, a._data
    with ignore_fp_errors(xp):
        size = norm_of(x, p, others)
        factor = x.dtype.type(maxnorm) / (size + x.dtype.type(1e-7))  # one rounding, as torch's kernel
        scaled = size > maxnorm
        out = x * xp.where(scaled, factor, x.dtype.type(1))

    def backward(g: Array) -> tuple[Array]:
        with ignore_fp_errors(xp):
            through_norm = wide_sum(x * g, others, keepdims=True) * norm_derivative(x, size, p, others)
            inverse = 1 / (size + x.dtype.type(1e-7))
            return (xp.where(scaled, factor * g - factor * inverse * through_norm, g),)
    backward.maxnorm = maxnorm  # type: ignore[attr-defined]  # for higher_order_tail's double backward
    return record("renorm", out, (a,), backward)


def histc(a: Tensor, bins: int = 100, min: float = 0.0, max: float = 0.0) -> Tensor:  # noqa: A002 - torch's names
    """Counts of ``a``'s elements in ``bins`` equal bins over [min, max] (as a tensor of a's floating dtype, no
    gradient), as torch: min == max takes the data's range, a range of no width is widened by 1 each way, elements
    outside the range and nans are left out, max itself counts in the last bin. Bin i holds x with floor((x - min)
    bins / (max - min)) = i, computed in a's dtype as torch computes it."""
    if a.dtype.kind != "f":
        raise KernelDtypeError(f"histc: only floating-point input is supported (as torch), got {a.dtype}; convert with "
                         f".float() first")
    if isinstance(bins, bool) or not isinstance(bins, Integral) or bins <= 0:
        raise ValueError(f"histc: bins must be a positive int, got {bins!r}")
    bins = int(bins)
    xp, x = a.xp, a._data.reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())  # (nan when a nan is present: refused below)
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (numpy.isfinite(lo) and numpy.isfinite(hi)):
        raise ValueError(f"histc: the range [{lo}, {hi}] is not finite; pass finite min and max (a nan or inf in "
                         f"the data makes its own range so)")
    if lo > hi:
        raise ValueError(f"histc: max ({hi}) must be larger than min ({lo})")
    left, right = x.dtype.type(lo), x.dtype.type(hi)
    inside = x[(x >= left) & (x <= right)]
    with ignore_fp_errors(xp):
        if right == left:  # widened by 1 each way, still no width in a's dtype (1e8 in float32): the last bin, as torch
            position = xp.full(inside.shape, bins - 1)
        elif numpy.isfinite((right - left) * x.dtype.type(bins)):
            position = (inside - left) * x.dtype.type(bins) / (right - left)
        else:  # the range (times bins) overflows the dtype (torch then counts nothing): halves, in float64
            position = (inside.astype("float64") / 2 - lo / 2) / (hi / 2 - lo / 2) * bins
    counts = xp.bincount(xp.minimum(position.astype("int64"), bins - 1), minlength=bins)
    return Tensor(counts.astype(a.dtype), device=a.device)
