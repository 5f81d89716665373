"""Resizing by interpolation, torch's ``F.interpolate`` for modes 'nearest', 'nearest-exact', 'linear', 'bilinear',
'trilinear', 'bicubic' and 'area' (and torch's ``antialias`` for 'bilinear' and 'bicubic').

Each spatial axis is resampled on its own: output position i along an axis reads input positions
``index[i]`` with weights ``weight[i]`` (one tap for nearest, two for linear, four for cubic, a window for area and
antialias), computed with torch's CPU rules (``area_pixel_compute_scale``, float32 index arithmetic for float32
input). Forward is a gather and a weighted sum per axis; backward scatter-adds the weighted gradient back, axis by
axis in reverse. Windows shorter than the longest read an appended zero (index ``in_size``), so an inf outside a
window never meets a zero weight.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

from .. import backend
from ..layouts import follow_format
from ..tensor import Array, Tensor, record
from .binary import fma
from .reduce import opmath, rounded
from .sample import cubic_weights

Taps = list[tuple[Array, Array | None]]  # (input index, weight or None) per tap, each (out_size,)
MODES = {"nearest": None, "nearest-exact": None, "area": None, "linear": 3, "bilinear": 4, "trilinear": 5,
         "bicubic": 4}  # the input rank a mode needs (None: 3-D to 5-D)


def source_scale(in_size: int, out_size: int, scale: float | None, align_corners: bool, t: type) -> object:
    """torch's area_pixel_compute_scale in precision ``t``: (in-1)/(out-1) with align_corners, else 1/scale when
    a scale factor is given, else in/out."""
    if align_corners:
        return t(in_size - 1) / t(out_size - 1) if out_size > 1 else t(0)
    return t(1.0 / scale) if scale is not None and scale > 0 else t(in_size) / t(out_size)


def nearest_taps(xp: object, in_size: int, out_size: int, scale: float | None, t: type, shortcuts: bool,
                 exact: bool = False) -> Taps:
    """torch's 'nearest' source of each output position: min(floor(dst * s), in - 1), s = 1/scale or in/out
    ('nearest-exact', ``exact``: the pixel centres', min(floor((dst + 0.5) * s), in - 1)). With ``shortcuts``
    (torch's 2-D kernel, ``nearest_idx``) an output of the input's size or twice it copies or halves the index
    whatever the scale factor."""
    if shortcuts and out_size in (in_size, 2 * in_size):
        return [(xp.arange(out_size) // (out_size // in_size), None)]
    src = (xp.arange(out_size, dtype=t) + t(0.5 if exact else 0)) * source_scale(in_size, out_size, scale, False, t)
    return [(xp.minimum(xp.floor(src.astype(xp.float32)).astype(xp.int64), in_size - 1), None)]  # floorf, as torch


def linear_taps(xp: object, in_size: int, out_size: int, scale: float | None, align_corners: bool, t: type,
                dtype: object) -> Taps:
    """torch's linear taps: source position src = dst * s (align_corners) or max((dst + 0.5) * s - 0.5, 0) (one
    rounding, as torch's kernel: at a pixel boundary an inf there meets a weight 0 or not), then
    index i0 = min(floor(src), in - 1), i1 = i0 + 1 (i0 at the last input), weights 1 - l and l = src - i0 (in
    ``dtype``, the input's)."""
    dst = xp.arange(out_size, dtype=t)
    if out_size == in_size:  # torch copies: the same index twice, weights 1 and 0
        index = dst.astype(xp.int64)
        return [(index, xp.ones(out_size, dtype=dtype)), (index, xp.zeros(out_size, dtype=dtype))]
    s = source_scale(in_size, out_size, scale, align_corners, t)
    src = dst * s if align_corners else xp.maximum(fma(dst + t(0.5), s, t(-0.5)), t(0))
    i0 = xp.minimum(xp.floor(src.astype(xp.float32)).astype(xp.int64), in_size - 1)
    lam = xp.clip(src - i0, 0, 1).astype(t)
    return [(i0, (1 - lam).astype(dtype)), (i0 + (i0 < in_size - 1), lam.astype(dtype))]


def cubic_taps(xp: object, in_size: int, out_size: int, scale: float | None, align_corners: bool, t: type,
               dtype: object) -> Taps:
    """torch's bicubic taps (cubic convolution, A = -0.75): source position src = dst * s (align_corners) or
    (dst + 0.5) * s - 0.5 (one rounding, not clamped at 0, unlike linear), i0 = min(floor(src), in - 1),
    l = clip(src - i0, 0, 1); the taps i0 - 1 .. i0 + 2, each clamped into [0, in - 1] (the border pixel repeats),
    weigh l + 1, l, 1 - l and 2 - l away."""
    dst = xp.arange(out_size, dtype=t)
    s = source_scale(in_size, out_size, scale, align_corners, t)
    src = dst * s if align_corners else fma(dst + t(0.5), s, t(-0.5))  # (as torch's kernel)
    i0 = xp.minimum(xp.floor(src.astype(xp.float32)).astype(xp.int64), in_size - 1)
    lam = xp.clip(src - i0, 0, 1).astype(t)
    return [(xp.clip(i0 + k - 1, 0, in_size - 1), w.astype(dtype)) for k, w in enumerate(cubic_weights(t, lam))]


def window(xp: object, start: Array, weights: list[Array], in_size: int, dtype: object) -> Taps:
    """Taps for windows of input positions start + k (k < len(weights)) whose weight list is ``weights`` (each
    (out_size,), NaN past a window's end): those past the end read the appended zero at index ``in_size``."""
    return [(xp.where(xp.isnan(w), in_size, start + k), xp.nan_to_num(w, nan=0.0).astype(dtype))
            for k, w in enumerate(weights)]


def area_taps(xp: object, in_size: int, out_size: int, t: type, dtype: object) -> Taps:
    """torch's adaptive average pooling windows (mode 'area'): output i averages inputs floor(i in / out) up to
    ceil((i + 1) in / out) - 1, each weighted 1 / (its window's length)."""
    i = xp.arange(out_size)
    start, end = i * in_size // out_size, -(-(i + 1) * in_size // out_size)
    length = end - start
    w = t(1) / length.astype(t)
    return window(xp, start, [xp.where(k < length, w, t("nan")) for k in range(int(length.max()))], in_size, dtype)


def antialias_taps(xp: object, in_size: int, out_size: int, scale: float | None, align_corners: bool, t: type,
                   dtype: object, cubic: bool) -> Taps:
    """torch's antialiased windows (PIL's resampling filters): output i is centred at c = s (i + 0.5) (any
    ``align_corners`` only changes s); inputs j from trunc(c - r + 0.5) to trunc(c + r + 0.5) - 1 (clipped to
    the input) weigh f((j - c + 0.5) / max(s, 1)), normalised to sum 1. r = max(s, 1) for the triangle filter f
    (bilinear), 2 max(s, 1) for Keys' cubic with a = -0.5 (bicubic). An axis that keeps its size is copied."""
    if in_size == out_size:
        return [(xp.arange(out_size), None)]
    s = source_scale(in_size, out_size, scale, align_corners, t)
    stretch = s if s >= 1 else t(1)
    support = t(2 if cubic else 1) * stretch
    centre = (s * (xp.arange(out_size) + 0.5)).astype(t)  # (torch: the product in float64, stored in t)
    first = xp.maximum(((centre - support).astype(xp.float64) + 0.5).astype(xp.int64), 0)
    count = xp.minimum(((centre + support).astype(xp.float64) + 0.5).astype(xp.int64), in_size) - first
    count = xp.clip(count, 0, 2 * math.ceil(support) + 1)
    inverse = t(1.0 / float(stretch))
    weights, total = [], xp.zeros(out_size, dtype=t)
    for k in range(int(count.max())):  # (total summed in order, as torch)
        x = xp.abs(((((first + k).astype(t) - centre).astype(xp.float64) + 0.5) * inverse).astype(t))
        w = xp.where(k < count, keys(x, t(-0.5)) if cubic else xp.maximum(t(1) - x, t(0)), t(0))
        weights.append(w)
        total = total + w
    total = xp.where(total == 0, t(1), total)  # (torch leaves all-zero weights as they are)
    return window(xp, first, [xp.where(k < count, w / total, t("nan")) for k, w in enumerate(weights)], in_size,
                  dtype)


def keys(x: Array, a: object) -> Array:
    """Keys' cubic convolution kernel with constant ``a`` at distances x >= 0 (zero from 2 on), each Horner step
    one fused multiply-add as in torch's compiled kernel: where x is a rounding away from a zero of the kernel (1
    and 2), the weight is then torch's tiny one (1e-32 in float64, 1e-14 in float32), not 0, so an inf there gives
    torch's inf, not nan. (``sample.cubic_weights`` keeps the plain products: torch's grid sampler is vector code
    that does not fuse, and fused weights put grid_sample 5x farther from torch's values.)"""
    t = type(a)
    near = fma(fma(x, a + t(2), -(a + t(3))) * x, x, t(1))
    far = fma(fma(fma(x, a, -t(5) * a), x, t(8) * a), x, -t(4) * a)
    return near * (x < 1) + far * ((x >= 1) & (x < 2))


def along(a: Array, axis: int, taps: Taps, padded: bool = False) -> Array:
    """``a`` resampled along ``axis``: the sum over taps of a gathered at the tap's indices, times its weight
    (``padded``: a zero appended along ``axis`` first, for windows)."""
    if padded:
        xp = backend.get_array_module(a)
        a = xp.concatenate([a, xp.zeros((*a.shape[:axis], 1, *a.shape[axis + 1:]), dtype=a.dtype)], axis=axis)
    shape = (-1,) + (1,) * (a.ndim - 1 - axis)
    out = None
    for index, weight in taps:
        part = a.take(index, axis=axis)
        if weight is not None:
            part = part * weight.reshape(shape)
        out = part if out is None else out + part
    return out


def along_adjoint(g: Array, axis: int, taps: Taps, in_size: int, padded: bool = False) -> Array:
    """The gradient of ``along``: each tap's weighted output gradient added back onto its input positions."""
    xp = backend.get_array_module(g)
    gm = xp.moveaxis(g, axis, 0)
    out = xp.zeros((in_size + padded, *gm.shape[1:]), dtype=g.dtype)
    for index, weight in taps:
        backend.scatter_add(out, index, gm if weight is None else gm * weight.reshape((-1,) + (1,) * (gm.ndim - 1)))
    return xp.moveaxis(out[:in_size], 0, axis)


def resample(x: Tensor, taps: list[Taps], op: str, padded: bool = False) -> Tensor:
    """x (N, C, *spatial) with its last ``len(taps)`` axes resampled by ``taps``, one axis after another
    (``padded``: taps may read index in_size, an appended zero)."""
    axes = list(range(x.ndim - len(taps), x.ndim))
    out, half = opmath(x._data)  # float16: every pass in float32, one rounding, as torch's (float32 weights: see
    for axis, tap in zip(axes, taps):  # ``interpolate``; a float16 pass rounded after each axis)
        out = along(out, axis, tap, padded)

    def backward(g: Array) -> tuple[Array]:
        g = opmath(g)[0]
        for axis, tap in reversed(list(zip(axes, taps))):
            g = along_adjoint(g, axis, tap, x.shape[axis], padded)
        return (rounded(g, half),)
    return record(op, follow_format(rounded(out, half), x), (x,), backward)


def spatial_list(name: str, value: object, dim: int, shape: tuple[int, ...]) -> list:
    """``value`` (one number or one per spatial axis) as a list of ``dim``; a ValueError otherwise."""
    if not isinstance(value, (list, tuple)):
        return [value] * dim
    if len(value) != dim:
        raise ValueError(f"interpolate: {name} {tuple(value)} must have one entry per spatial dimension of the "
                         f"input {shape[2:]}")
    return list(value)


def size_entry(value: object) -> int:
    """One output size as an int: an int, a numpy int or a one-element integer tensor (as torch); a TypeError for
    a bool or a float."""
    if isinstance(value, bool):
        raise TypeError(f"a size must be an int, got {value!r}")
    return operator.index(value)


def interpolate(input: Tensor, size: int | Sequence[int] | None = None,  # noqa: A002 - torch's name
                scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize (N, C, *spatial) input to spatial ``size``, or to floor(in * ``scale_factor``) per axis, as torch:
    'nearest' (3-D to 5-D input: source index floor(dst * s), s = 1/scale_factor unless it is recomputed, else
    in/out), 'nearest-exact' (floor((dst + 0.5) * s)), 'linear' (3-D), 'bilinear' (4-D) and 'trilinear' (5-D),
    which read the two nearest inputs along each axis (``align_corners``: the corner pixels' centres line up),
    'bicubic' (4-D, the four nearest along each axis) and 'area' (3-D to 5-D: adaptive average pooling to the
    output size). ``antialias`` (bilinear and bicubic): each output averages a window as wide as its share of the
    input, as torch (and PIL). Floating input only, but uint8 for the nearest modes; 'lanczos' raises
    NotImplementedError."""
    if mode not in MODES:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not implemented; use 'nearest', 'nearest-exact', "
                                  f"'area', 'linear' (3-D input), 'bilinear' or 'bicubic' (4-D) or 'trilinear' (5-D)")
    if antialias and (mode not in ("bilinear", "bicubic") or input.ndim != 4):
        raise ValueError(f"interpolate: antialias=True needs mode 'bilinear' or 'bicubic' and 4-D input, got mode "
                         f"{mode!r} and shape {input.shape} (as torch)")
    if mode in ("nearest", "nearest-exact", "area") and align_corners is not None:
        raise ValueError("interpolate: align_corners only applies to modes 'linear', 'bilinear', 'bicubic' and "
                         "'trilinear'; leave it None")
    rank = MODES[mode]
    if input.ndim not in (3, 4, 5) or (rank is not None and input.ndim != rank):
        need = "3-D to 5-D" if rank is None else f"{rank}-D"
        raise NotImplementedError(f"interpolate: got {input.ndim}-D input {input.shape}, but mode {mode!r} needs "
                                  f"{need} input (N, C, *spatial)")
    dim, spatial = input.ndim - 2, input.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None and recompute_scale_factor:
        raise ValueError("interpolate: recompute_scale_factor goes with scale_factor, not with size")
    if size is not None:
        out_sizes, scales = spatial_list("size", size, dim, input.shape), [None] * dim
        try:  # numpy ints and one-element integer tensors too, as torch
            out_sizes = [size_entry(s) for s in out_sizes]
        except TypeError:
            raise TypeError(f"interpolate: size must be an int or a tuple of ints, got {size!r}") from None
    else:
        scales = [float(s) for s in spatial_list("scale_factor", scale_factor, dim, input.shape)]
        out_sizes = [int(n * s) for n, s in zip(spatial, scales)]  # truncation, as torch
        if recompute_scale_factor:  # torch then uses in/out, not 1/scale_factor
            scales = [None] * dim
    if input.shape[1] == 0 or 0 in spatial or min(out_sizes) < 1:
        raise ValueError(f"interpolate: input {input.shape} and output size {tuple(out_sizes)} must be non-empty "
                         f"(only the batch may be empty)")
    if input.dtype.kind != "f" and not (mode.startswith("nearest") and input.dtype == "uint8"):
        raise TypeError(f"interpolate: mode {mode!r} is not implemented for dtype {input.dtype}; convert first, e.g. "
                        f"x.float()")
    xp = input.xp
    t = xp.float64 if input.dtype == xp.float64 else xp.float32
    weights = xp.float32 if input.dtype == xp.float16 else input.dtype  # (float16: float32 weights, as torch's)
    if mode.startswith("nearest"):
        exact = mode == "nearest-exact"
        taps = [nearest_taps(xp, n, m, s, t, dim == 2 and not exact, exact)
                for n, m, s in zip(spatial, out_sizes, scales)]
    elif mode == "area":
        taps = [area_taps(xp, n, m, t, weights) for n, m in zip(spatial, out_sizes)]
    elif antialias:
        taps = [antialias_taps(xp, n, m, s, bool(align_corners), t, weights, mode == "bicubic")
                for n, m, s in zip(spatial, out_sizes, scales)]
    else:
        make = cubic_taps if mode == "bicubic" else linear_taps
        taps = [make(xp, n, m, s, bool(align_corners), t, weights) for n, m, s in zip(spatial, out_sizes, scales)]
    op = f"interpolate_{mode.replace('-', '_')}{'_antialias' if antialias else ''}"
    return resample(input, taps, op, mode == "area" or antialias)
