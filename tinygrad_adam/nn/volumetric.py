"""The 3-D and fractional members of ``nn.functional`` (re-exported there): ``conv_transpose3d``,
``adaptive_max_pool3d``, ``max_unpool3d``, ``lp_pool3d`` and ``fractional_max_pool2d`` / ``fractional_max_pool3d``,
each built on the 2-D ops and the differentiable gathers, so their gradients are those ops' gradients.

Fractional max pooling (Graham, "Fractional Max-Pooling", 2014) places its kh x kw windows at torch's pseudo-random
starts: for a sample u in [0, 1) per plane and axis, alpha = (in - k) / (out - 1) and start i = int((i + u) alpha)
- int(u alpha) for i < out - 1, the last window ending at the input's end (computed in the input's dtype, as torch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy

from .. import backend
from ..creation import rand, zeros
from ..ops import index as index_op
from ..ops import movement
from ..ops.conv import check_conv, ints
from ..ops.conv import conv_transpose2d as conv_transpose2d_op
from ..tensor import Array, Tensor, check_devices
from .functional import (
    IntTriple,
    _adaptive_sizes,
    _batched,
    _extreme_magnitude,
    _lp_tail,
    _max_unpool,
    _torch_argmax,
    _with_indices,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool3d,
    max_pool3d,
    pad,
)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntTriple = 1,  # noqa: A002
                     padding: IntTriple = 0, output_padding: IntTriple = 0, groups: int = 1,
                     dilation: IntTriple = 1) -> Tensor:
    """The transpose of conv3d on (N, C, D, H, W) or (C, D, H, W) input, weight (C, O / groups, kd, kh, kw), bias
    (O,) -> (N, O, Do, Ho, Wo), Do = (D - 1) * stride - 2 * padding + dilation * (kd - 1) + output_padding + 1.

    One conv_transpose2d over the N * D input depths gives each depth's kd kernel taps as planes (the kd taps are
    extra output channels, weight (C, kd * O / groups, kh, kw)); input depth z's tap i then lands at output depth
    z * sd + i * dd - pd, so the taps are spread by the stride, shifted by i * dd and summed."""
    st, pd = ints(stride, "conv_transpose3d stride", 1, 3, True), ints(padding, "conv_transpose3d padding", 0, 3, True)
    op = ints(output_padding, "conv_transpose3d output_padding", 0, 3, True)
    dl = ints(dilation, "conv_transpose3d dilation", 1, 3, True)
    if any(p >= max(s, d) for p, s, d in zip(op, st, dl)):
        raise ValueError(f"conv_transpose3d: output_padding {op} must be smaller than the stride {st} or the "
                         f"dilation {dl}")

    def run(x: Tensor) -> Tensor:
        check_conv("conv_transpose3d", x, weight, bias, transposed=True, groups=groups, dims=3)
        if x.dtype == numpy.float16:  # its taps are summed across depths: in float32, one rounding (torch's opmath;
            # in float16 up to 29 units off)
            return conv_transpose3d(x.float(), weight.float(), None if bias is None else bias.float(), st, pd, op,
                                    groups, dl).half()
        (n, c, d, h, w), (_, og, kd, kh, kw) = x.shape, weight.shape
        spread = (d - 1) * st[0] + 1  # the input depths spaced by the stride
        full = spread + dl[0] * (kd - 1) + op[0]  # every depth a tap reaches, before the padding is cut off
        if full - 2 * pd[0] < 1:
            raise ValueError(f"conv_transpose3d: input depth {d} gives output depth {full - 2 * pd[0]}, which is too "
                             f"small (padding {pd[0]} trims more than the kernel {kd} adds); use less padding")
        kernel = weight.transpose(1, 2).reshape(c, kd * og, kh, kw)  # each group's outputs in (tap, channel) order
        planes = conv_transpose2d_op(x.transpose(1, 2).reshape(n * d, c, h, w), kernel, None, st[1:], pd[1:],
                                     op[1:], groups, dl[1:])  # (N * D, groups * kd * O / groups, Ho, Wo)
        ho, wo = planes.shape[2:]
        taps = planes.reshape(n, d, groups, kd, og, ho, wo).transpose(1, 3)  # (N, kd, groups, D, O / groups, ...)
        if st[0] > 1:  # stride - 1 zero depths after each input depth, then the last ones dropped
            gaps = zeros(n, kd, groups, d, og * (st[0] - 1), ho, wo, dtype=planes.dtype, device=planes.device)
            taps = movement.concatenate([taps, gaps], 4).reshape(n, kd, groups, d * st[0], og, ho, wo)[:, :, :,
                                                                                                    :spread]
        taps = taps.transpose(3, 4).reshape(n, kd, groups * og, spread, ho, wo)
        out = sum(pad(taps[:, i], (0, 0, 0, 0, i * dl[0], full - spread - i * dl[0])) for i in range(kd))
        out = out[:, :, pd[0]:full - pd[0]]
        return out if bias is None else out + bias.reshape(groups * og, 1, 1, 1)
    return _batched("conv_transpose3d", input, 5, run)


def adaptive_max_pool3d(input: Tensor, output_size: int | Sequence[int | None],  # noqa: A002
                        return_indices: bool = False) -> Any:
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) input to spatial ``output_size`` (an int, or a triple whose
    None keeps that size) over torch's adaptive windows; with ``return_indices`` also each maximum's int64 index
    d * H * W + h * W + w in its input volume.

    ``adaptive_max_pool2d`` over (H, W) of each depth slice, then ``adaptive_max_pool1d`` over depth of those maxima:
    each picks as torch's 3-D kernel does in (d, h, w) order (the first maximum, the last NaN), so values, indices
    and gradients are torch's."""
    d, h, w, od, oh, ow = _adaptive_sizes("adaptive_max_pool3d", input, output_size, 3)

    def run(x: Tensor) -> Any:
        n, c = x.shape[:2]
        planes, plane_index = adaptive_max_pool2d(x.reshape(n, c * d, h, w), (oh, ow), True)
        columns = planes.reshape(n, c, d, oh * ow).transpose(2, 3).reshape(n, c * oh * ow, d)
        depths, depth_index = adaptive_max_pool1d(columns, od, True)  # (N, C * oh * ow, od)
        values = depths.reshape(n, c, oh * ow, od).transpose(2, 3).reshape(n, c, od, oh, ow)
        if not return_indices:
            return values
        xp = x.xp
        at = depth_index._data.reshape(n, c, oh * ow, od).transpose(0, 1, 3, 2)  # (N, C, od, oh * ow)
        index = xp.take_along_axis(plane_index._data.reshape(n, c, d, oh * ow), at, axis=2) + at * (h * w)
        return values, Tensor(index.reshape(n, c, od, oh, ow), device=x.device)
    return _batched("adaptive_max_pool3d", input, 5, run)


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size: IntTriple, stride: IntTriple | None = None,  # noqa: A002
                 padding: IntTriple = 0, output_size: Sequence[int] | None = None) -> Tensor:
    """The partial inverse of ``max_pool3d``: each value of (N, C, D, H, W) or (C, D, H, W) input placed at its index
    (``max_pool3d``'s ``return_indices``) in a zero (Do * Ho * Wo) volume, Do = (D - 1) stride - 2 padding + kernel
    (or ``output_size``, within one stride of that), as ``max_unpool2d``."""
    k, p = ints(kernel_size, "max_unpool3d kernel_size", 1, 3), ints(padding, "max_unpool3d padding", 0, 3)
    s = k if stride is None else ints(stride, "max_unpool3d stride", 1, 3)
    return _max_unpool("max_unpool3d", input, indices, k, s, p, output_size)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size: IntTriple, stride: IntTriple | None = None,  # noqa: A002
              ceil_mode: bool = False) -> Tensor:
    """The ``norm_type``-norm of each kd x kh x kw window of (N, C, D, H, W) or (C, D, H, W) input, computed as
    torch's ``lp_pool2d`` (the mean of x^p, sign times relu, times the window's size, to the power 1/p; p = inf the
    largest |x|, p = -inf the smallest)."""
    kd, kh, kw = ints(kernel_size, "lp_pool3d kernel_size", 1, 3)
    if math.isinf(norm_type):
        return _extreme_magnitude(lambda t: max_pool3d(t, (kd, kh, kw), stride, 0, ceil_mode=ceil_mode), input,
                                  norm_type)
    return _lp_tail(avg_pool3d(input ** norm_type, (kd, kh, kw), stride, 0, ceil_mode), kd * kh * kw, norm_type)


def fractional_starts(samples: Array, size: int, out: int, pool: int) -> Array:
    """torch's pseudo-random window starts along one axis: samples (N, C) in the input's dtype -> (N, C, out) int64;
    start i = int((i + u) alpha) - int(u alpha), alpha = (size - pool) / (out - 1), and the last is size - pool."""
    xp, t = backend.get_array_module(samples), samples.dtype.type
    starts = xp.full((*samples.shape, out), size - pool, dtype=xp.int64)
    if out > 1:
        alpha = t(size - pool) / t(out - 1)
        steps = xp.arange(out - 1, dtype=samples.dtype)
        starts[..., :-1] = ((steps + samples[..., None]) * alpha).astype(xp.int64) - \
            (samples * alpha).astype(xp.int64)[..., None]
    return starts


def _fractional_max_pool(op: str, input: Tensor, kernel_size: Any, output_size: Any,  # noqa: A002
                         output_ratio: Any, return_indices: bool, samples: Tensor | None, dims: int) -> Any:
    """fractional_max_pool2d / 3d: ``dims`` spatial dims; the samples' last axis holds one sample per spatial axis,
    in torch's order (W, H for 2-D; D, H, W for 3-D)."""
    k = ints(kernel_size, f"{op} kernel_size", 1, dims)
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op}: give output_size or output_ratio (neither was given)")
    if input.ndim not in (dims + 1, dims + 2) or 0 in input.shape[-dims - 1:]:
        raise ValueError(f"{op}: expected a non-empty {dims + 1}-D or {dims + 2}-D input (only the batch may be "
                         f"empty), got shape {input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: not implemented for dtype {input.dtype} (as in torch); convert first, e.g. x.float()")
    spatial = input.shape[-dims:]
    if output_size is None:
        ratio = (output_ratio,) * dims if isinstance(output_ratio, (int, float)) else tuple(output_ratio)
        if len(ratio) != dims or not all(isinstance(r, (int, float)) for r in ratio):
            raise ValueError(f"{op}: output_ratio must be a number or {dims} numbers, got {output_ratio!r}")
        output_size = tuple(int(n * r) for n, r in zip(spatial, ratio))
    out = ints(output_size, f"{op} output_size", 0, dims)
    for name, n, o, q in zip(("depth", "height", "width")[-dims:], spatial, out, k):
        if o + q - 1 > n - (dims == 3):  # torch's 3-D check is strict: the last window never reaches the end
            raise ValueError(f"{op}: pool {name} {q} too large relative to input {name} {n} for output {name} {o}; "
                             f"use a smaller kernel or output")
    batch, channels = (1 if input.ndim == dims + 1 else input.shape[0]), input.shape[-dims - 1]
    if samples is None:
        samples = rand(batch, channels, dims, dtype=input.dtype, device=input.device)
    if not isinstance(samples, Tensor) or samples.ndim != 3 or samples.shape[0] < batch or \
            samples.shape[1] != channels or samples.shape[2] != dims:
        raise ValueError(f"{op}: _random_samples must be a Tensor of shape (N, C, {dims}) = ({batch}, {channels}, "
                         f"{dims}) for input {input.shape}, got {getattr(samples, 'shape', samples)}")
    check_devices(op, input, samples)
    if samples.dtype != input.dtype:
        raise TypeError(f"{op}: _random_samples ({samples.dtype}) must have the input's dtype ({input.dtype})")
    u = samples._data[:batch]
    order = (1, 0) if dims == 2 else (0, 1, 2)  # the sample of each spatial axis, as torch reads them
    starts = [fractional_starts(u[..., j], n, o, q) for j, n, o, q in zip(order, spatial, out, k)]
    if any(bool((s < 0).any()) or bool((s > n - q).any()) for s, n, q in zip(starts, spatial, k)):
        raise ValueError(f"{op}: _random_samples {samples.shape} put a window outside the input {spatial}; "
                         f"the samples must lie in [0, 1]")

    def run(x: Tensor) -> Any:
        xp = x.xp
        n, c = x.shape[:2]
        position = xp.zeros((n, c) + (1,) * (2 * dims), dtype=xp.int64)  # (N, C, *out, *kernel) flat positions
        for axis, (s, q, stride) in enumerate(zip(starts, k, (math.prod(spatial[a + 1:]) for a in range(dims)))):
            along = (s[..., None] + xp.arange(q)) * stride  # (N, C, out, q)
            shape = [n, c] + [1] * (2 * dims)
            shape[2 + axis], shape[2 + dims + axis] = out[axis], q
            position = position + along.reshape(shape)
        position = xp.broadcast_to(position, (n, c, *out, *k)).reshape(n, c, math.prod(out), math.prod(k))
        flat = x.reshape(n, c, math.prod(spatial))
        window = xp.take_along_axis(flat._data[:, :, None, :], position, axis=3)  # (N, C, outputs, window)
        index = xp.take_along_axis(position, _torch_argmax(window)[..., None], axis=3)[..., 0]
        values = index_op.gather(flat, -1, Tensor(index, device=x.device)).reshape(n, c, *out)
        return (values, Tensor(index.reshape(n, c, *out), device=x.device)) if return_indices else values
    return _batched(op, input, dims + 2, run)


def fractional_max_pool2d(input: Tensor, kernel_size: int | Sequence[int],  # noqa: A002
                          output_size: int | Sequence[int] | None = None,
                          output_ratio: float | Sequence[float] | None = None, return_indices: bool = False,
                          _random_samples: Tensor | None = None) -> Any:
    """Max over kh x kw windows of (N, C, H, W) or (C, H, W) input at torch's pseudo-random starts -> (N, C, oh, ow)
    (``output_size``, or floor(H * ratio) with ``output_ratio``); with ``return_indices`` also each maximum's int64
    index h * W + w. ``_random_samples`` (N, C, 2) in the input's dtype (W's, then H's) fix the starts; without it
    they are drawn from the library's generator. As torch, the first maximum wins and a NaN beats every number."""
    return _fractional_max_pool("fractional_max_pool2d", input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples, 2)


def fractional_max_pool3d(input: Tensor, kernel_size: int | Sequence[int],  # noqa: A002
                          output_size: int | Sequence[int] | None = None,
                          output_ratio: float | Sequence[float] | None = None, return_indices: bool = False,
                          _random_samples: Tensor | None = None) -> Any:
    """``fractional_max_pool2d`` over kd x kh x kw windows of (N, C, D, H, W) or (C, D, H, W) input -> (N, C, od,
    oh, ow); ``_random_samples`` (N, C, 3) hold D's, H's and W's samples; indices d * H * W + h * W + w."""
    return _fractional_max_pool("fractional_max_pool3d", input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples, 3)


max_pool3d_with_indices, adaptive_max_pool3d_with_indices, fractional_max_pool2d_with_indices, \
    fractional_max_pool3d_with_indices = (_with_indices(fn) for fn in (max_pool3d, adaptive_max_pool3d,
                                                                      fractional_max_pool2d, fractional_max_pool3d))

__all__ = ["adaptive_max_pool3d", "adaptive_max_pool3d_with_indices", "conv_transpose3d", "fractional_max_pool2d",
           "fractional_max_pool2d_with_indices", "fractional_max_pool3d", "fractional_max_pool3d_with_indices",
           "lp_pool3d", "max_pool3d_with_indices", "max_unpool3d"]
