"""Resizing by interpolation, torch's ``F.interpolate`` for modes 'nearest', 'nearest-exact', 'linear', 'bilinear'
and 'trilinear'.

Each spatial axis is resampled on its own: output position i along an axis reads input positions
``index[i]`` with weights ``weight[i]`` (one tap for nearest, two for linear), computed with torch's CPU rules
(``area_pixel_compute_scale``, float32 index arithmetic for float32 input). Forward is a gather and a weighted
sum per axis; backward scatter-adds the weighted gradient back, axis by axis in reverse.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import backend
from ..tensor import Array, Tensor, record

Taps = list[tuple[Array, Array | None]]  # (input index, weight or None) per tap, each (out_size,)
MODES = {"nearest": None, "nearest-exact": None, "linear": 3, "bilinear": 4, "trilinear": 5}  # the input rank a mode
# needs (None: 3-D to 5-D)


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
    """torch's linear taps: source position src = dst * s (align_corners) or max((dst + 0.5) * s - 0.5, 0), then
    index i0 = min(floor(src), in - 1), i1 = i0 + 1 (i0 at the last input), weights 1 - l and l = src - i0 (in
    ``dtype``, the input's)."""
    dst = xp.arange(out_size, dtype=t)
    if out_size == in_size:  # torch copies: the same index twice, weights 1 and 0
        index = dst.astype(xp.int64)
        return [(index, xp.ones(out_size, dtype=dtype)), (index, xp.zeros(out_size, dtype=dtype))]
    s = source_scale(in_size, out_size, scale, align_corners, t)
    src = dst * s if align_corners else xp.maximum((dst + t(0.5)) * s - t(0.5), t(0))
    i0 = xp.minimum(xp.floor(src.astype(xp.float32)).astype(xp.int64), in_size - 1)
    lam = xp.clip(src - i0, 0, 1).astype(t)
    return [(i0, (1 - lam).astype(dtype)), (i0 + (i0 < in_size - 1), lam.astype(dtype))]


def along(a: Array, axis: int, taps: Taps) -> Array:
    """``a`` resampled along ``axis``: the sum over taps of a gathered at the tap's indices, times its weight."""
    shape = (-1,) + (1,) * (a.ndim - 1 - axis)
    out = None
    for index, weight in taps:
        part = a.take(index, axis=axis)
        if weight is not None:
            part = part * weight.reshape(shape)
        out = part if out is None else out + part
    return out


def along_adjoint(g: Array, axis: int, taps: Taps, in_size: int) -> Array:
    """The gradient of ``along``: each tap's weighted output gradient added back onto its input positions."""
    xp = backend.get_array_module(g)
    gm = xp.moveaxis(g, axis, 0)
    out = xp.zeros((in_size, *gm.shape[1:]), dtype=g.dtype)
    for index, weight in taps:
        backend.scatter_add(out, index, gm if weight is None else gm * weight.reshape((-1,) + (1,) * (gm.ndim - 1)))
    return xp.moveaxis(out, 0, axis)


def resample(x: Tensor, taps: list[Taps], op: str) -> Tensor:
    """x (N, C, *spatial) with its last ``len(taps)`` axes resampled by ``taps``, one axis after another."""
    axes = list(range(x.ndim - len(taps), x.ndim))
    out = x.data
    for axis, tap in zip(axes, taps):
        out = along(out, axis, tap)

    def backward(g: Array) -> tuple[Array]:
        for axis, tap in reversed(list(zip(axes, taps))):
            g = along_adjoint(g, axis, tap, x.shape[axis])
        return (g,)
    return record(op, out, (x,), backward)


def spatial_list(name: str, value: object, dim: int, shape: tuple[int, ...]) -> list:
    """``value`` (one number or one per spatial axis) as a list of ``dim``; a ValueError otherwise."""
    if not isinstance(value, (list, tuple)):
        return [value] * dim
    if len(value) != dim:
        raise ValueError(f"interpolate: {name} {tuple(value)} must have one entry per spatial dimension of the "
                         f"input {shape[2:]}")
    return list(value)


def interpolate(input: Tensor, size: int | Sequence[int] | None = None,  # noqa: A002 - torch's name
                scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize (N, C, *spatial) input to spatial ``size``, or to floor(in * ``scale_factor``) per axis, as torch:
    'nearest' (3-D to 5-D input: source index floor(dst * s), s = 1/scale_factor unless it is recomputed, else
    in/out), 'nearest-exact' (floor((dst + 0.5) * s)), 'linear' (3-D), 'bilinear' (4-D) and 'trilinear' (5-D),
    which read the two nearest inputs along each axis (``align_corners``: the corner pixels' centres line up).
    Other modes and ``antialias`` raise NotImplementedError."""
    if mode not in MODES:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not implemented; use 'nearest', 'nearest-exact', "
                                  f"'linear' (3-D input), 'bilinear' (4-D) or 'trilinear' (5-D)")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not implemented; leave it False")
    if mode.startswith("nearest") and align_corners is not None:
        raise ValueError("interpolate: align_corners only applies to modes 'linear', 'bilinear' and 'trilinear'; "
                         "leave it None")
    rank = MODES[mode]
    if input.ndim not in (3, 4, 5) or (rank is not None and input.ndim != rank):
        need = "3-D to 5-D" if rank is None else f"{rank}-D"
        raise NotImplementedError(f"interpolate: got {input.ndim}-D input {input.shape}, but mode {mode!r} needs "
                                  f"{need} input (N, C, *spatial)")
    dim, spatial = input.ndim - 2, input.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None and recompute_scale_factor:
        raise ValueError("interpolate: recompute_scale_factor is not meaningful with an explicit size")
    if size is not None:
        out_sizes, scales = spatial_list("size", size, dim, input.shape), [None] * dim
        if not all(isinstance(s, int) for s in out_sizes):
            raise TypeError(f"interpolate: size must be an int or a tuple of ints, got {size!r}")
    else:
        scales = [float(s) for s in spatial_list("scale_factor", scale_factor, dim, input.shape)]
        out_sizes = [int(n * s) for n, s in zip(spatial, scales)]  # truncation, as torch
        if recompute_scale_factor:  # torch then uses in/out, not 1/scale_factor
            scales = [None] * dim
    if input.shape[1] == 0 or 0 in spatial or min(out_sizes) < 1:
        raise ValueError(f"interpolate: input {input.shape} and output size {tuple(out_sizes)} must be non-empty "
                         f"(only the batch may be empty)")
    if input.dtype.kind != "f" and not (mode.startswith("nearest") and input.dtype == "uint8"):
        raise TypeError(f"interpolate: mode {mode!r} is not implemented for dtype {input.dtype} (as in torch); convert "
                        f"first, e.g. x.float()")
    xp = input.xp
    t = xp.float64 if input.dtype == xp.float64 else xp.float32
    if mode.startswith("nearest"):
        exact = mode == "nearest-exact"
        taps = [nearest_taps(xp, n, m, s, t, dim == 2 and not exact, exact)
                for n, m, s in zip(spatial, out_sizes, scales)]
    else:
        taps = [linear_taps(xp, n, m, s, bool(align_corners), t, input.dtype)
                for n, m, s in zip(spatial, out_sizes, scales)]
    return resample(input, taps, f"interpolate_{mode.replace('-', '_')}")
