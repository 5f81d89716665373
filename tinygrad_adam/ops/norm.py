"""Normalisation layers as fused ops: layer norm (Ba et al., 2016), batch norm (Ioffe & Szegedy, 2015), group norm
(Wu & He, 2018) and instance norm (Ulyanov et al., 2016).

All normalise x over some axes, x_hat = (x - mean) / sqrt(var + eps) with the biased variance, then scale and
shift by per-feature ``weight`` and ``bias``. The backward of the normalisation over n values per group is

    dx = (dx_hat - mean(dx_hat) - x_hat mean(dx_hat x_hat)) / sqrt(var + eps),   dx_hat = g * weight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy

from .. import backend
from ..tensor import Array, Tensor, check_devices, record
from .elementwise import wide_sum
from .reduce import keepdims_mean, quiet


def _affine_grads(g: Array, x_hat: Array, axes: tuple[int, ...], weight: Tensor | None,
                  bias: Tensor | None) -> tuple[Array | None, Array | None]:
    """Gradients of weight and bias, summed over ``axes`` (the axes they are broadcast along)."""
    shape = weight.shape if weight is not None else bias.shape if bias is not None else None
    gw = wide_sum(g * x_hat, axes).reshape(shape) if weight is not None and weight.requires_grad else None
    gb = wide_sum(g, axes).reshape(shape) if bias is not None and bias.requires_grad else None
    return gw, gb


def _normalize(a: Tensor, axes: tuple[int, ...], mean: Array, var: Array, eps: float, weight: Tensor | None,
               bias: Tensor | None, feature_shape: tuple[int, ...], stats_have_grad: bool, op: str) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias, with ``mean``/``var`` broadcastable to x; recorded as ``op``.

    ``stats_have_grad``: the statistics were computed from x over ``axes`` (training), so backward goes through
    them; otherwise they are constants (batch norm in eval mode).
    """
    parents = tuple(t for t in (weight, bias) if t is not None)
    check_devices(op, a, *parents)
    rstd = 1.0 / a.xp.sqrt(var + eps)
    x_hat = (a._data - mean) * rstd
    out = x_hat * weight._data.reshape(feature_shape) if weight is not None else x_hat.copy()
    if bias is not None:
        out += bias._data.reshape(feature_shape)

    def backward(g: Array) -> tuple[Array | None, ...]:
        if g.dtype == numpy.float16:  # in float32, rounded once at the end, as torch's kernels (its row means in
            g = g.astype(numpy.float32)  # float16 put the input gradient a few ulps off)
        gx = None
        if a.requires_grad:
            d = g * weight._data.reshape(feature_shape) if weight is not None else g
            if stats_have_grad:
                d = d - keepdims_mean(d, axes) - x_hat * keepdims_mean(d * x_hat, axes)
            gx = d * rstd
        gw, gb = _affine_grads(g, x_hat, _broadcast_axes(a.ndim, feature_shape), weight, bias)
        return (gx, *([gw] if weight is not None else []), *([gb] if bias is not None else []))
    backward.eps = eps  # type: ignore[attr-defined]  # for higher_order_nn's double backward
    return record(op, out.astype(a.dtype, copy=False), (a, *parents), backward)


def _broadcast_axes(ndim: int, feature_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of an ndim-array along which a tensor of ``feature_shape`` (padded on the left) is broadcast."""
    lead = ndim - len(feature_shape)
    return tuple(i for i in range(ndim) if i < lead or feature_shape[i - lead] == 1)


def _stats(x: Array, axes: tuple[int, ...]) -> tuple[Array, Array]:
    """Mean and biased variance of ``x`` over ``axes``, kept for broadcasting: the corrected two-pass algorithm (Chan,
    Golub & LeVeque), whose mean of d = x - mean corrects the rounding of the first mean (torch's statistics are
    exact on a constant row, so that it normalises to 0, not to +-rounding / sqrt(eps)). float16 computes in
    float32, as torch's kernels (a float16 variance overflows past 255^2: a channel around 300 normalised to 0)."""
    if x.dtype == numpy.float16:
        x = x.astype(numpy.float32)
    mean = keepdims_mean(x, axes)
    d = x - mean
    c = keepdims_mean(d, axes)
    xp = backend.get_array_module(x)
    corrected = xp.where(xp.isinf(mean), mean, mean + c)  # an infinite mean has no rounding to correct (inf - inf)
    return corrected, (keepdims_mean(d * d, axes) - c * c).clip(0)  # (the difference may round below 0)


def _update_running(running_mean: Tensor | None, running_var: Tensor | None, mean: Array, var: Array,
                    momentum: float) -> None:
    """r <- (1 - momentum) r + momentum s in place, for per-channel ``mean`` and unbiased ``var`` (C,); float16
    running statistics blend in float32 and round once, as torch's (a float16 variance past 65504 would be inf)."""
    for r, s in ((running_mean, mean), (running_var, var)):
        if r is None:
            continue
        if r.dtype == numpy.float16:
            with quiet(r.xp):
                r._data[...] = momentum * s.astype(numpy.float32) + (1 - momentum) * r._data.astype(numpy.float32)
            continue
        r._data *= 1 - momentum
        r._data += momentum * s.astype(r.dtype, copy=False)


def _check_channels(op: str, c: int, shape: tuple[int, ...], **tensors: Tensor | None) -> None:
    for name, t in tensors.items():
        if t is not None and t.shape != (c,):
            raise ValueError(f"{op}: {name} has shape {t.shape}, expected ({c},) for input {shape}")


def _check_mixed_dtypes(op: str, a: Tensor, weight: Tensor | None, bias: Tensor | None,
                        *stats: Tensor | None) -> None:
    """torch's CPU rule for the affine parameters (and batch norm's running statistics ``stats``): the input's
    dtype, or all float32 under a float16 input (the mixed case, computed in float32); anything else raises
    RuntimeError there (a float16 LayerNorm under a float32 input, as ``model.half()`` with whisper's ``LayerNorm``
    that normalises ``x.float()``; a float32 BatchNorm under a float64 input). An integer or bool input raises
    NotImplementedError (a RuntimeError), as torch's kernels have none for it."""
    if a.dtype.kind != "f":
        raise NotImplementedError(f"{op}: not implemented for {a.dtype} inputs (as in torch); convert with .float()")
    params = [t for t in (weight, bias, *stats) if t is not None]
    if all(t.dtype == a.dtype for t in params):
        return
    if a.dtype == numpy.float16 and all(t.dtype == numpy.float32 for t in params):
        return
    named = (("weight", weight), ("bias", bias), *((f"running stat {i}", t) for i, t in enumerate(stats)))
    dtypes = ", ".join(f"{name} {t.dtype}" for name, t in named if t is not None)
    raise RuntimeError(f"{op}: input {a.dtype} with parameters of other dtypes ({dtypes}): the parameters "
                       "must have the input's dtype, or float32 under a float16 input")


def layer_norm(a: Tensor, normalized_shape: Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` axes of ``a`` (..., *normalized_shape)."""
    shape = tuple(int(n) for n in normalized_shape)
    if not shape or a.shape[a.ndim - len(shape):] != shape or len(shape) > a.ndim:
        raise ValueError(f"layer_norm: normalized_shape {shape} must be the trailing dims of input shape {a.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != shape:
            raise ValueError(f"layer_norm: {name} has shape {t.shape}, expected {shape}")
    _check_mixed_dtypes("layer_norm", a, weight, bias)
    if a.dtype == numpy.float32 and a.size and all(t is None or t.dtype == a.dtype for t in (weight, bias)) \
            and backend.device_of(a._data) == "cpu" and backend.numba_available():
        return _layer_norm_rows(a, math.prod(shape), weight, bias, eps)
    axes = tuple(range(a.ndim - len(shape), a.ndim))
    mean, var = _stats(a._data, axes)
    return _normalize(a, axes, mean, var, eps, weight, bias, shape, True, "layer_norm")


# float32 layer norm on the CPU with the ``fast`` extra: one compiled loop per direction over rows of n features
# instead of ~10 numpy passes (a row of 64 is too short for numpy's reductions to be quick). The statistics are
# summed in float64, where a float32 row's sums are exact enough that the plain two-pass variance needs no
# correction (a constant row sums exactly, so it normalises to exactly 0); numba may reorder those sums (it
# vectorises them), which changes only their last float64 bits. The elementwise arithmetic is float32.
def layer_norm_loop(x: Array, w: Array, b: Array, has_w: bool, has_b: bool, eps: float, out: Array, mean: Array,
                    rstd: Array) -> None:
    """Rows of x (R, n) float32: out = (x - mean) * rstd [* w] [+ b], and each row's mean and rstd (R,) float64."""
    rows, n = x.shape
    for r in range(rows):
        s = 0.0
        for j in range(n):
            s += x[r, j]
        m = s / n
        q = 0.0
        for j in range(n):
            d = x[r, j] - m
            q += d * d
        rs = 1.0 / math.sqrt(q / n + eps)
        mean[r], rstd[r] = m, rs
        m, rs = numpy.float32(m), numpy.float32(rs)  # the elementwise part in float32, as the numpy passes
        for j in range(n):
            y = (x[r, j] - m) * rs
            if has_w:
                y *= w[j]
            if has_b:
                y += b[j]
            out[r, j] = y


def layer_norm_gradient_loop(x: Array, mean: Array, rstd: Array, w: Array, has_w: bool, g: Array, gx: Array,
                             gw: Array, gb: Array) -> None:
    """The module docstring's dx for rows of x (R, n) and output gradient g (R, n) into gx; adds sum(g x_hat) and
    sum(g) over the rows into gw and gb (n,) float64."""
    rows, n = x.shape
    for r in range(rows):
        m, rs = numpy.float32(mean[r]), numpy.float32(rstd[r])  # float32 elementwise, float64 sums
        mean_d, mean_dx = 0.0, 0.0
        for j in range(n):
            x_hat = (x[r, j] - m) * rs
            d = g[r, j] * w[j] if has_w else g[r, j]
            mean_d += d
            mean_dx += d * x_hat
            gw[j] += g[r, j] * x_hat
            gb[j] += g[r, j]
        mean_d, mean_dx = numpy.float32(mean_d / n), numpy.float32(mean_dx / n)
        for j in range(n):
            x_hat = (x[r, j] - m) * rs
            d = g[r, j] * w[j] if has_w else g[r, j]
            gx[r, j] = (d - mean_d - x_hat * mean_dx) * rs


def _layer_norm_rows(a: Tensor, n: int, weight: Tensor | None, bias: Tensor | None, eps: float) -> Tensor:
    """``layer_norm`` of float32 ``a`` (..., normalized) over its last n elements by the compiled loops."""
    parents = tuple(t for t in (weight, bias) if t is not None)
    check_devices("layer_norm", a, *parents)
    x = numpy.ascontiguousarray(a._data).reshape(-1, n)
    rows = x.shape[0]
    w = weight._data.reshape(n) if weight is not None else x[:0, 0]  # (an unread placeholder of the right type)
    b = bias._data.reshape(n) if bias is not None else x[:0, 0]
    out, mean, rstd = numpy.empty_like(x), numpy.empty(rows), numpy.empty(rows)
    forward = backend.compiled(layer_norm_loop, reassociate=True)
    backend.split_work(lambda p: forward(x[p], w, b, weight is not None, bias is not None, eps, out[p], mean[p],
                                         rstd[p]), rows, x.nbytes)

    def backward(g: Array) -> tuple[Array | None, ...]:
        gflat = numpy.ascontiguousarray(numpy.broadcast_to(g, a.shape)).reshape(rows, n)  # (broadcast: strided, slow)
        gx = numpy.empty_like(x)
        parts: dict[int, tuple[Array, Array]] = {}  # each slice's sums, added in slice order

        def work(p: slice) -> None:
            sums = parts[p.start] = numpy.zeros(n), numpy.zeros(n)
            loop(x[p], mean[p], rstd[p], w, weight is not None, gflat[p], gx[p], *sums)
        loop = backend.compiled(layer_norm_gradient_loop, reassociate=True)
        backend.split_work(work, rows, x.nbytes)
        gw, gb = (sum(parts[k][i] for k in sorted(parts)).astype(numpy.float32).reshape(t.shape) if t is not None
                  and t.requires_grad else None for i, t in enumerate((weight, bias)))
        return (gx.reshape(a.shape) if a.requires_grad else None, *([gw] if weight is not None else []),
                *([gb] if bias is not None else []))
    backward.eps = eps  # type: ignore[attr-defined]  # for higher_order_nn's double backward
    return record("layer_norm", out.reshape(a.shape), (a, *parents), backward)


def batch_norm(a: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Normalise each channel (axis 1) of ``a`` (N, C, ...) over every other axis, as torch's ``batch_norm``.

    training: use this batch's statistics and, when given, update ``running_mean`` / ``running_var`` in place:
    r <- (1 - momentum) r + momentum s, with the unbiased batch variance for ``running_var``. Otherwise normalise
    with the running statistics (which must then be given).
    """
    if a.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, ...), got shape {a.shape}")
    c = a.shape[1]
    feature_shape = (c,) + (1,) * (a.ndim - 2)
    axes = (0, *range(2, a.ndim))
    _check_channels("batch_norm", c, a.shape, weight=weight, bias=bias, running_mean=running_mean,
                    running_var=running_var)
    _check_mixed_dtypes("batch_norm", a, weight, bias, running_mean, running_var)
    if training:
        n = a._data.size // max(c, 1)
        if n == 1:  # (torch's check: exactly one; an empty batch normalises to an empty output)
            raise ValueError(f"batch_norm in training needs 2+ values per channel to take a variance; input {a.shape} "
                             f"has one")
        if a._data.size == 0:  # no statistics: the running ones stay as they are, as torch's
            keep = a.xp.zeros(feature_shape, a.dtype if a.dtype.kind == "f" else numpy.float32)
            return _normalize(a, axes, keep, keep + 1, eps, weight, bias, feature_shape, True, "batch_norm")
        mean, var = _stats(a._data, axes)
        _update_running(running_mean, running_var, mean.reshape(c), var.reshape(c) * (n / (n - 1)),
                        momentum)
        return _normalize(a, axes, mean, var, eps, weight, bias, feature_shape, True, "batch_norm")
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
    check_devices("batch_norm", a, running_mean, running_var)
    mean, var = running_mean._data.reshape(feature_shape), running_var._data.reshape(feature_shape)
    return _normalize(a, axes, mean, var, eps, weight, bias, feature_shape, False, "batch_norm")


def group_norm(a: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Split the channels of ``a`` (N, C, ...) into ``num_groups`` groups of C / num_groups and normalise each
    group of each sample over its channels and every spatial position; then scale and shift per channel (C,)."""
    if a.ndim < 2:
        raise ValueError(f"group_norm: expected input of shape (N, C, ...), got shape {a.shape}")
    n, c = a.shape[:2]
    if num_groups < 1 or c % num_groups:
        raise ValueError(f"group_norm: the {c} channels of input {a.shape} must split into num_groups={num_groups} "
                         f"equal groups (C divisible by num_groups)")
    _check_channels("group_norm", c, a.shape, weight=weight, bias=bias)
    _check_mixed_dtypes("group_norm", a, weight, bias)
    if n * (c // num_groups) * math.prod(a.shape[2:]) == 1:  # torch's check
        raise ValueError(f"group_norm: expected more than 1 value per group, got input {a.shape} with {num_groups} "
                         f"groups")
    grouped = a.reshape(n, num_groups, c // num_groups, *a.shape[2:])
    axes = tuple(range(2, grouped.ndim))
    mean, var = _stats(grouped._data, axes)
    feature_shape = (num_groups, c // num_groups) + (1,) * (a.ndim - 2)
    return _normalize(grouped, axes, mean, var, eps, weight, bias, feature_shape, True, "group_norm").reshape(a.shape)


def instance_norm(a: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample of ``a`` (N, C, ...) over its spatial positions, then scale and shift
    per channel (C,). ``use_input_stats`` (training): those statistics, and when given ``running_mean`` /
    ``running_var`` (C,) are updated in place with their mean over the batch (the unbiased variance), as torch;
    otherwise the running statistics normalise (batch norm in evaluation)."""
    if a.ndim < 2:
        raise ValueError(f"instance_norm: expected input of shape (N, C, ...), got shape {a.shape}")
    if not use_input_stats:
        return batch_norm(a, running_mean, running_var, weight, bias, False, momentum, eps)
    c, spatial = a.shape[1], math.prod(a.shape[2:])
    if spatial == 1:
        raise ValueError(f"instance_norm in training needs 2+ spatial positions per instance; input {a.shape} "
                         f"has one")
    _check_channels("instance_norm", c, a.shape, weight=weight, bias=bias, running_mean=running_mean,
                    running_var=running_var)
    _check_mixed_dtypes("instance_norm", a, weight, bias)  # (torch casts the running statistics here)
    axes = tuple(range(2, a.ndim))
    with quiet(a.xp):  # no spatial positions: nan statistics (an empty output)
        mean, var = _stats(a._data, axes)
        if a.shape[0]:
            _update_running(running_mean, running_var, mean.mean(axis=0).reshape(c),
                            (var * (spatial / (spatial - 1))).mean(axis=0).reshape(c), momentum)
    feature_shape = (c,) + (1,) * (a.ndim - 2)
    return _normalize(a, axes, mean, var, eps, weight, bias, feature_shape, True, "instance_norm")


def cross_map_lrn2d(a: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """torch's legacy ``nn.CrossMapLRN2d`` (Lua torch's SpatialCrossMapLRN) of x (N, C, H, W): x * scale^-beta,
    scale = k + alpha / size * s, s the running sum of x^2 over channels that torch computes. That sum starts with
    channels [0, p) (p = int((size - 1) / 2 + 1)), then at channel c adds channel c + p - 1 and, only for c > p,
    drops channel c - p: channel c's window is channel 0 and channels max(1, c - p + 1) .. c + p - 1 (so this is not
    ``local_response_norm``), and the running sum's rounding (inf - inf = nan) is torch's too. The gradient is the
    exact one of this forward, the running sum's adjoint (torch's hand-written backward is one channel off, and fails
    for size 1)."""
    if a.ndim != 4:
        raise ValueError(f"CrossMapLRN2d: the input has {a.ndim} dims; it takes 4")
    if a.dtype.kind != "f":
        raise TypeError(f"CrossMapLRN2d: expected a floating-point input, got {a.dtype}")
    x, channels = a._data, a.shape[1]
    sq, scale = x * x, a.xp.zeros_like(x)
    pre_pad = int((size - 1) / 2 + 1)
    for c in range(min(pre_pad, channels)):
        scale[:, 0] += sq[:, c]
    for c in range(1, channels):
        scale[:, c] = scale[:, c - 1]
        if c < channels - pre_pad + 1:
            scale[:, c] += sq[:, c + pre_pad - 1]
        if c > pre_pad:
            scale[:, c] -= sq[:, c - pre_pad]
    scale *= x.dtype.type(alpha / size)
    scale += x.dtype.type(k)
    out = a.xp.power(scale, x.dtype.type(-beta)) * x

    def backward(g: Array) -> tuple[Array]:
        # t_c = g_c d out_c / d s_c; the running sum's adjoint is t's suffix sums (s_c feeds every later s), which
        # reach the channels where the forward added or dropped them (so a nan anywhere spreads as the sum's does)
        xp = a.xp
        t = g * x * xp.power(scale, x.dtype.type(-beta - 1)) * x.dtype.type(-beta * alpha / size)
        suffix = xp.flip(xp.cumsum(xp.flip(t, axis=1), axis=1), axis=1)
        dsq = xp.zeros_like(x)
        dsq[:, :pre_pad] += suffix[:, :1]  # the first sum's channels
        if channels > pre_pad:  # channel c + p - 1 added at step c = 1 .. C - p
            dsq[:, pre_pad:] += suffix[:, 1:channels - pre_pad + 1]
        if channels - pre_pad >= 2:  # channel c - p dropped at step c = p + 1 .. C - 1
            dsq[:, 1:channels - pre_pad] -= suffix[:, pre_pad + 1:]
        return (xp.power(scale, x.dtype.type(-beta)) * g + 2 * x * dsq,)
    return record("cross_map_lrn2d", out, (a,), backward)
