"""Sampling an image at given points: torch's ``F.grid_sample`` (4-D input: modes 'bilinear', 'nearest' and
'bicubic'; 5-D input: 'bilinear' (trilinear) and 'nearest'; padding 'zeros', 'border' and 'reflection') and
``F.affine_grid`` (the points of a batch of 2-D or 3-D affine maps), as in the Spatial Transformer Network.

A grid point (x, y) in [-1, 1] is unnormalised to an input position, moved into the input by the padding mode and
read from its neighbours. The arithmetic follows torch's vectorised CPU kernel step by step, in the input's dtype:
coordinates out of the input (also NaN ones, and those too large for an integer) read zeros under 'zeros' padding,
while their weights still multiply (so a NaN or inf coordinate gives NaN for 'bilinear' and 'bicubic', 0 for
'nearest'); 'border' and 'reflection' clamp a NaN coordinate to 0. Forward gathers the corner values of each point
(channels last, so a point reads whole rows); backward scatter-adds the weighted output gradient onto the input and
gives the grid the derivative of the weights (zero for 'nearest'), times the derivative of the padding's map.

torch's kernel is compiled with fused multiply-adds where a product meets a sum; the two that decide which pixel a
point reads (unnormalising, and reflection's folding) are computed here with one rounding too, so points exactly on
a pixel boundary (nearest-mode downsampling) and far reflected points read the pixels torch reads; elsewhere the
values agree to an ulp or so. Where torch's bilinear backward reads and writes out of bounds (a NaN coordinate under
'border', a NaN or infinite one under 'reflection'), ours gives the input the gradient of the value it read (at
position 0) and the grid NaN.

5-D input follows torch's scalar 3-D kernel instead (``VolumeAxis``): no fused multiply-adds, and a coordinate that is
not finite (or beyond int32) after the padding's map reads zeros with finite weights, so NaN and inf points give 0
under 'zeros' padding; under 'border' and 'reflection' a NaN position reads the last pixel forward and passes no
gradient backward, as torch's.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from numbers import Integral

from .. import backend
from ..tensor import Array, Tensor, check_devices, constant, record
from .binary import fma
from .elementwise import ignore_fp_errors
from .linalg import matmul
from .movement import reshape, transpose

MODES = ("bilinear", "nearest", "bicubic")
PADDINGS = ("zeros", "border", "reflection")
CUBIC_A = -0.75  # the cubic convolution constant, as torch's bicubic interpolate
ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
                 "Please specify align_corners=True if the old behavior is desired. See the documentation of "
                 "grid_sample for details.")


class Axis:
    """One spatial axis of the input (``size`` positions) in precision ``t``: torch's ``ComputeLocation``."""

    def __init__(self, xp: object, size: int, padding: str, align_corners: bool, t: type) -> None:
        self.xp, self.size, self.padding, self.t = xp, size, padding, t
        self.top = t(size - 1)  # the last position, where coordinates are clipped
        if align_corners:  # -1 and 1 are the centres of the corner pixels; reflect over [0, size - 1]
            self.scale, self.shift, self.low, self.twice_span = t(size - 1) / t(2), None, t(0), t(size - 1) * t(2)
            self.empty = size <= 1
        else:  # -1 and 1 are the outer edges of the corner pixels; reflect over [-0.5, size - 0.5]
            self.scale, self.shift, self.low, self.twice_span = t(size) / t(2), t(0.5), t(-0.5), t(size) * t(2)
            self.empty = False

    def unnormalize(self, g: Array) -> Array:
        """Grid values in [-1, 1] as input positions in [0, size - 1] (align_corners) or [-0.5, size - 0.5]."""
        if self.shift is None:
            return (g + self.t(1)) * self.scale
        return fma(g + self.t(1), self.scale, -self.shift)

    def clip(self, c: Array) -> Array:
        """c clamped to [0, size - 1], NaN to 0 (torch's clamp with the operands in that order)."""
        return self.xp.minimum(self.xp.fmax(c, self.t(0)), self.top)

    def clip_grad(self, c: Array) -> Array:
        """d clip(c) / dc: 1 strictly inside (0, size - 1), 0 on and past the borders; NaN where c is NaN."""
        xp = self.xp
        return xp.where(xp.isnan(c), self.t("nan"), ((c > 0) & (c < self.top)).astype(self.t))

    def reflect(self, c: Array) -> tuple[Array, Array]:
        """c folded into the reflection span (twice the span taken off, then the far half mirrored), and the sign
        of d reflect / dc. Far points lose precision as in torch (the same float operations)."""
        xp = self.xp
        if self.empty:
            return xp.zeros_like(c), xp.zeros_like(c)
        d = c - self.low
        a = xp.abs(d)
        extra = fma(xp.trunc(a / self.twice_span), -self.twice_span, a)
        mirrored = self.twice_span - extra
        flip = extra > mirrored
        return xp.minimum(extra, mirrored) + self.low, xp.where(flip ^ (d < 0), self.t(-1), self.t(1))

    def fold(self, c: Array) -> Array:
        """A position after the padding map (torch's ``compute_coordinates``), without the gradient."""
        if self.padding == "border":
            return self.clip(c)
        if self.padding == "reflection":
            return self.clip(self.reflect(c)[0])
        return c

    def locate(self, g: Array) -> tuple[Array, Array]:
        """Grid values -> input positions after padding, and d position / d grid (torch's ``apply_get_grad``)."""
        u = self.unnormalize(g)
        scale = self.t(self.scale)
        if self.padding == "border":
            return self.clip(u), self.clip_grad(u) * scale
        if self.padding == "reflection":
            r, sign = self.reflect(u)
            return self.clip(r), self.clip_grad(r) * (sign * scale)
        return u, self.xp.full_like(u, scale)

    def inside(self, i: Array) -> Array:
        """Whether integer-valued positions i (floats: NaN and huge ones are outside) lie in the input."""
        return (i > -1) & (i < self.size)


class Reader:
    """Reads input (N, C, *spatial) at integer positions of L points per batch entry, channels last; ``axes`` (one
    per spatial dim, e.g. (ax_y, ax_x)) say which positions lie inside."""

    def __init__(self, data: Array, *axes: Axis | VolumeAxis) -> None:
        self.xp = backend.get_array_module(data)
        n, c, *spatial = data.shape
        size = math.prod(spatial)
        self.shape, self.rows = data.shape, self.xp.moveaxis(data.reshape(n, c, size), 1, 2).reshape(n * size, c)
        self.axes = axes
        self.base = (self.xp.arange(n) * size).reshape(n, 1)

    def where(self, *idx: Array) -> tuple[Array, Array]:
        """(rows (N, L) into the (N*H*W, C) table, mask (N, L)) for float positions (one array per spatial dim);
        masked points read row 0."""
        xp = self.xp
        mask = functools.reduce(lambda a, b: a & b, (ax.inside(i) for ax, i in zip(self.axes, idx)))
        flat = 0
        for i, n in zip(idx, self.shape[2:]):
            flat = flat * n + xp.where(mask, i, 0).astype(xp.int64)
        return self.base + flat, mask

    def read(self, *idx: Array) -> Array:
        """The input's values (N, L, C) at the positions ``idx`` ((iy, ix) or (iz, iy, ix)), zero outside."""
        rows, mask = self.where(*idx)
        return self.xp.where(mask[..., None], self.rows[rows], 0)

    def add(self, grad: Array, values: Array, *idx: Array) -> None:
        """grad (N*H*W, C) += values (N, L, C) at the positions ``idx`` inside the input."""
        rows, mask = self.where(*idx)
        values = self.xp.where(mask[..., None], values, 0)
        backend.scatter_add(grad, rows.reshape(-1), values.reshape(rows.size, grad.shape[1]))

    def unrows(self, grad: Array) -> Array:
        """A (N*H*W, C) gradient table back as (N, C, *spatial)."""
        n, c, *spatial = self.shape
        xp = self.xp
        return xp.ascontiguousarray(xp.moveaxis(grad.reshape(n, math.prod(spatial), c), 2, 1)).reshape(self.shape)


def cubic_weights(t: type, s: Array) -> list[Array]:
    """The four cubic convolution weights of the taps at -1, 0, 1, 2 for a fraction s in [0, 1)."""
    a = t(CUBIC_A)

    def far(x: Array) -> Array:  # 1 < x < 2
        return ((a * x - t(5) * a) * x + t(8) * a) * x - t(4) * a

    def near(x: Array) -> Array:  # x <= 1
        return ((a + t(2)) * x - (a + t(3))) * x * x + t(1)
    return [far(s + t(1)), near(s), near(t(1) - s), far(t(2) - s)]


def cubic_slopes(t: type, s: Array) -> list[Array]:
    """torch's derivatives of the four cubic weights, with its sign convention (the grid gradient subtracts)."""
    a = t(CUBIC_A)
    x0, x1, x2, x3 = t(-1) - s, t(0) - s, t(1) - s, t(2) - s
    return [(t(-3) * a * x0 - t(10) * a) * x0 - t(8) * a,
            (t(-3) * (a + t(2)) * x1 - t(2) * (a + t(3))) * x1,
            (t(3) * (a + t(2)) * x2 - t(2) * (a + t(3))) * x2,
            (t(3) * a * x3 - t(10) * a) * x3 + t(8) * a]


def bilinear(x: Tensor, gx: Array, gy: Array, ax_x: Axis, ax_y: Axis) -> tuple[Array, object]:
    """Output (N, L, C) and its backward for points (gx, gy) (N, L)."""
    xp, t = ax_x.xp, ax_x.t
    reader = Reader(x._data, ax_y, ax_x)
    (px, mx), (py, my) = ax_x.locate(gx), ax_y.locate(gy)
    x0, y0 = xp.floor(px), xp.floor(py)
    w = px - x0
    e = t(1) - w
    n = py - y0
    s = t(1) - n
    corners = [(y0, x0, s * e), (y0, x0 + t(1), s * w), (y0 + t(1), x0, n * e), (y0 + t(1), x0 + t(1), n * w)]
    vals = [reader.read(iy, ix) for iy, ix, _ in corners]
    out = sum(v * wt[..., None] for v, (_, _, wt) in zip(vals, corners))

    def backward(g: Array, grid_too: bool) -> tuple[Array | None, Array | None]:
        gin = None
        if x.requires_grad:
            gin = xp.zeros(reader.rows.shape, dtype=g.dtype)
            for iy, ix, wt in corners:
                reader.add(gin, wt[..., None] * g, iy, ix)
            gin = reader.unrows(gin)
        if not grid_too:
            return gin, None
        nw, ne, sw, se = vals
        dx = (((ne - nw) * s[..., None] + (se - sw) * n[..., None]) * g).sum(axis=2)
        dy = (((sw - nw) * e[..., None] + (se - ne) * w[..., None]) * g).sum(axis=2)
        return gin, xp.stack([dx * mx, dy * my], axis=-1)
    return out, backward


def nearest(x: Tensor, gx: Array, gy: Array, ax_x: Axis, ax_y: Axis) -> tuple[Array, object]:
    """Output (N, L, C) and its backward: the input at the nearest position (halves round to even)."""
    xp = ax_x.xp
    reader = Reader(x._data, ax_y, ax_x)
    ix, iy = xp.rint(ax_x.locate(gx)[0]), xp.rint(ax_y.locate(gy)[0])
    out = reader.read(iy, ix)

    def backward(g: Array, grid_too: bool) -> tuple[Array | None, Array | None]:
        gin = None
        if x.requires_grad:
            gin = xp.zeros(reader.rows.shape, dtype=g.dtype)
            reader.add(gin, g, iy, ix)
            gin = reader.unrows(gin)
        return gin, xp.zeros(gx.shape + (2,), dtype=g.dtype) if grid_too else None
    return out, backward


def bicubic(x: Tensor, gx: Array, gy: Array, ax_x: Axis, ax_y: Axis) -> tuple[Array, object]:
    """Output (N, L, C) and its backward: 4 x 4 taps around the point, each tap moved in by the padding."""
    xp, t = ax_x.xp, ax_x.t
    reader = Reader(x._data, ax_y, ax_x)
    px, py = ax_x.unnormalize(gx), ax_y.unnormalize(gy)
    x0, y0 = xp.floor(px), xp.floor(py)
    wx, wy = cubic_weights(t, px - x0), cubic_weights(t, py - y0)
    tx = [ax_x.fold(x0 + t(i - 1)) for i in range(4)]
    ty = [ax_y.fold(y0 + t(j - 1)) for j in range(4)]
    vals = [[reader.read(ty[j], tx[i]) for i in range(4)] for j in range(4)]  # vals[j][i]: row j, column i
    rows = [sum(wx[i][..., None] * vals[j][i] for i in range(4)) for j in range(4)]
    out = sum(wy[j][..., None] * rows[j] for j in range(4))

    def backward(g: Array, grid_too: bool) -> tuple[Array | None, Array | None]:
        gin = xp.zeros(reader.rows.shape, dtype=g.dtype) if x.requires_grad else None
        sx, sy = cubic_slopes(t, px - x0), cubic_slopes(t, py - y0)
        dx, dy = xp.zeros(gx.shape, dtype=g.dtype), xp.zeros(gx.shape, dtype=g.dtype)
        for i in range(4):
            for j in range(4):
                if gin is not None:
                    reader.add(gin, g * wx[i][..., None] * wy[j][..., None], ty[j], tx[i])
                if not grid_too:
                    continue
                vg = vals[j][i] * g
                dx = dx - (vg * sx[i][..., None] * wy[j][..., None]).sum(axis=2)
                dy = dy - (vg * sy[j][..., None] * wx[i][..., None]).sum(axis=2)
        gin = None if gin is None else reader.unrows(gin)
        return gin, xp.stack([dx * ax_x.scale, dy * ax_y.scale], axis=-1) if grid_too else None
    return out, backward


SAMPLERS = {"bilinear": bilinear, "nearest": nearest, "bicubic": bicubic}


class VolumeAxis:
    """One spatial axis of 5-D input in precision ``t``, as torch's scalar 3-D kernel computes it (not the vectorised
    2-D one): unnormalised by ((g + 1) / 2) (size - 1) or ((g + 1) size - 1) / 2, mirrored with fmod, and a position
    that is not finite or not an int32 moved to -100 (outside, so it reads zeros and passes no gradient). Forward
    and backward differ where the padded position is NaN: forward clips it to the last position (std::min of NaN),
    backward moves it outside."""

    def __init__(self, xp: object, size: int, padding: str, align_corners: bool, t: type) -> None:
        self.xp, self.size, self.padding, self.align, self.t = xp, size, padding, align_corners, t
        self.top, self.scale = t(size - 1), t(size - 1) / t(2) if align_corners else t(size) / t(2)
        self.twice = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)  # reflect over [low, high] / 2

    def unnormalize(self, g: Array) -> Array:
        t = self.t
        if self.align:
            return (g + t(1)) / t(2) * self.top
        return ((g + t(1)) * t(self.size) - t(1)) / t(2)

    def reflect(self, c: Array) -> tuple[Array, Array]:
        """torch's reflect_coordinates and the sign of its derivative: |c - low| folded by fmod; an odd number of
        folds mirrors it (as torch's int cast, a fold count beyond int32 counts as even)."""
        xp, t = self.xp, self.t
        lo, hi = self.twice
        if lo == hi:
            return xp.zeros_like(c), xp.zeros_like(c)
        low, span = t(lo) / t(2), t(hi - lo) / t(2)
        d = c - low
        a = xp.abs(d)
        extra = xp.fmod(a, span)
        flips = xp.floor(a / span)
        odd = (flips < 2.0 ** 31) & (xp.fmod(flips, 2) == 1)
        return xp.where(odd, span - extra + low, extra + low), xp.where(odd ^ (d < 0), t(-1), t(1))

    def locate(self, g: Array) -> tuple[Array, Array, Array]:
        """Grid values -> (forward positions, backward positions, d position / d grid)."""
        xp, t = self.xp, self.t
        u = self.unnormalize(g)
        if self.padding == "zeros":
            forward, backward, slope = u, u, xp.full_like(u, self.scale)
        else:
            r, sign = (u, t(1)) if self.padding == "border" else self.reflect(u)
            backward = xp.clip(r, t(0), self.top)  # NaN stays NaN: moved outside below
            forward = xp.where(xp.isnan(r), self.top, backward)
            slope = ((r > 0) & (r < self.top)).astype(self.t) * sign * self.scale
        return self.outside_if_not_int(forward), self.outside_if_not_int(backward), slope

    def outside_if_not_int(self, c: Array) -> Array:
        """torch's safe_downgrade_to_int_range: a position that is not finite or beyond int32 becomes -100."""
        xp = self.xp
        return xp.where(xp.isfinite(c) & (xp.abs(c) < 2.0 ** 31), c, self.t(-100))

    def inside(self, i: Array) -> Array:
        return (i > -1) & (i < self.size)


def trilinear(x: Tensor, points: Array, axes: tuple[VolumeAxis, ...]) -> tuple[Array, object]:
    """5-D 'bilinear': output (N, L, C) and its backward for points (N, L, 3) (x, y, z) and axes (z, y, x): the 8
    corners around each point, weighted by the products of the distances to the far corner, as torch's 3-D kernel."""
    xp, t = axes[0].xp, axes[0].t
    reader = Reader(x._data, *axes)
    located = [ax.locate(points[..., 2 - j]) for j, ax in enumerate(axes)]  # z, y, x

    def corners(pos: list[Array]) -> tuple[list[tuple[tuple[Array, ...], tuple[int, ...]]], list[tuple[Array, Array]]]:
        low = [xp.floor(p) for p in pos]
        far = [(lo + t(1) - p, p - lo) for lo, p in zip(low, pos)]  # (weight of the low corner, of the high one)
        spots = [((low[0] + c, low[1] + b, low[2] + a), (c, b, a)) for c in (0, 1) for b in (0, 1) for a in (0, 1)]
        return spots, far
    spots, far = corners([f for f, _, _ in located])
    fz, fy, fx = far
    out = sum(reader.read(*idx) * (fx[a] * fy[b] * fz[c])[..., None] for idx, (c, b, a) in spots)

    def backward(g: Array, grid_too: bool) -> tuple[Array | None, Array | None]:
        spots, (fz, fy, fx) = corners([b for _, b, _ in located])
        gin = xp.zeros(reader.rows.shape, dtype=g.dtype) if x.requires_grad else None
        dx, dy, dz = (xp.zeros(g.shape[:2], dtype=g.dtype) for _ in range(3))
        for idx, (c, b, a) in spots:
            if gin is not None:
                reader.add(gin, (fx[a] * fy[b] * fz[c])[..., None] * g, *idx)
            if grid_too:
                vg = (reader.read(*idx) * g).sum(axis=2)
                dx = dx + (2 * a - 1) * vg * fy[b] * fz[c]
                dy = dy + (2 * b - 1) * vg * fx[a] * fz[c]
                dz = dz + (2 * c - 1) * vg * fx[a] * fy[b]
        gin = None if gin is None else reader.unrows(gin)
        slopes = [s for _, _, s in located]
        return gin, xp.stack([dx * slopes[2], dy * slopes[1], dz * slopes[0]], axis=-1) if grid_too else None
    return out, backward


def nearest3d(x: Tensor, points: Array, axes: tuple[VolumeAxis, ...]) -> tuple[Array, object]:
    """5-D 'nearest': output (N, L, C) and its backward, the input at the nearest position (halves to even)."""
    xp = axes[0].xp
    reader = Reader(x._data, *axes)
    located = [ax.locate(points[..., 2 - j]) for j, ax in enumerate(axes)]
    out = reader.read(*(xp.rint(f) for f, _, _ in located))

    def backward(g: Array, grid_too: bool) -> tuple[Array | None, Array | None]:
        gin = None
        if x.requires_grad:
            gin = xp.zeros(reader.rows.shape, dtype=g.dtype)
            reader.add(gin, g, *(xp.rint(b) for _, b, _ in located))
            gin = reader.unrows(gin)
        return gin, xp.zeros(points.shape, dtype=g.dtype) if grid_too else None
    return out, backward


VOLUME_SAMPLERS = {"bilinear": trilinear, "nearest": nearest3d}


def check_align(op: str, align_corners: bool | None) -> bool:
    """align_corners as a bool: None warns (as torch) and means False; anything but a bool raises."""
    if align_corners is None:
        warnings.warn(ALIGN_WARNING, stacklevel=3)
        return False
    if not isinstance(align_corners, bool):
        raise TypeError(f"{op}: align_corners must be a bool (or None), got {type(align_corners).__name__}")
    return align_corners


def check_float(op: str, name: str, a: Tensor) -> None:
    """Only float32 and float64 are computed (torch's CPU kernels also take float16; we raise)."""
    if a.dtype not in ("float32", "float64"):
        raise TypeError(f"{op}: {name} of dtype {a.dtype} is not supported; convert it to float32 or float64 "
                        f"first (e.g. {name}.float())")


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear",  # noqa: A002 - torch's name
                padding_mode: str = "zeros", align_corners: bool | None = None) -> Tensor:
    """torch's ``F.grid_sample``: input (N, C, H_in, W_in) read at the points of grid (N, H_out, W_out, 2) ->
    (N, C, H_out, W_out), or 5-D input (N, C, D_in, H_in, W_in) at the points of grid (N, D_out, H_out, W_out, 3) ->
    (N, C, D_out, H_out, W_out). grid[..., 0] is x (along W), grid[..., 1] is y (along H), grid[..., 2] z (along
    D), each in [-1, 1] across the input (``align_corners``: -1 and 1 are the centres of the corner pixels, else
    their outer edges). ``mode`` 'bilinear' (trilinear for 5-D) | 'nearest' | 'bicubic' (4-D only, as torch);
    ``padding_mode`` says what points outside read: 'zeros', the nearest 'border' value, or the input mirrored at
    its edges ('reflection'). Differentiable in both input and grid."""
    if mode not in MODES:
        raise ValueError(f"grid_sample: unknown mode {mode!r}; choose 'bilinear', 'nearest' or 'bicubic'")
    if padding_mode not in PADDINGS:
        raise ValueError(f"grid_sample: unknown padding_mode {padding_mode!r} (choices: 'zeros', 'border', "
                         "'reflection')")
    align = check_align("grid_sample", align_corners)
    if not isinstance(input, Tensor) or not isinstance(grid, Tensor):
        raise TypeError(f"grid_sample: input and grid must be Tensors, got {type(input).__name__} and "
                        f"{type(grid).__name__}")
    check_devices("grid_sample", input, grid)
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise ValueError(f"grid_sample: expected 4-D input (N, C, H, W) with a 4-D grid (N, H_out, W_out, 2), or 5-D "
                         f"input (N, C, D, H, W) with a 5-D grid (N, D_out, H_out, W_out, 3), got input "
                         f"{input.shape} and grid {grid.shape}")
    dims = input.ndim - 2
    if dims == 3 and mode == "bicubic":
        raise ValueError("grid_sample: bicubic interpolation only supports 4-D input (as torch); use 'bilinear' or "
                         "'nearest' for 5-D input")
    if input.dtype != grid.dtype:
        raise TypeError(f"grid_sample: input ({input.dtype}) and grid ({grid.dtype}) must have the same dtype; "
                        f"convert one with .to(dtype)")
    check_float("grid_sample", "input", input)
    n, c = input.shape[:2]
    if grid.shape[0] != n:
        raise ValueError(f"grid_sample: grid {grid.shape} and input {input.shape} must have the same batch size")
    if grid.shape[-1] != dims:
        raise ValueError(f"grid_sample: grid {grid.shape} must have size {dims} ({'x, y, z'[:3 * dims - 2]}) in its "
                         f"last dimension")
    if 0 in input.shape[2:]:
        raise ValueError(f"grid_sample: input {input.shape} must have non-empty spatial dimensions")
    xp = input.xp
    t = xp.float64 if input.dtype == xp.float64 else xp.float32
    sizes = grid.shape[1:-1]
    points = grid._data.reshape(n, math.prod(sizes), dims)
    with ignore_fp_errors(xp):  # nan and inf points are expected
        if dims == 2:
            ax_x, ax_y = Axis(xp, input.shape[3], padding_mode, align, t), Axis(xp, input.shape[2], padding_mode,
                                                                                align, t)
            out, grads = SAMPLERS[mode](input, points[..., 0], points[..., 1], ax_x, ax_y)  # out (N, L, C)
        else:
            axes = tuple(VolumeAxis(xp, size, padding_mode, align, t) for size in input.shape[2:])  # (z, y, x)
            out, grads = VOLUME_SAMPLERS[mode](input, points, axes)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        with ignore_fp_errors(xp):
            gin, ggrid = grads(xp.moveaxis(g.reshape(n, c, points.shape[1]), 1, 2), grid.requires_grad)
        return gin, None if ggrid is None else ggrid.reshape(grid.shape)
    return record(f"grid_sample_{mode}", xp.ascontiguousarray(xp.moveaxis(out, 2, 1)).reshape(n, c, *sizes),
                  (input, grid), backward)


def base_line(xp: object, steps: int, align_corners: bool, dtype: object) -> Array:
    """affine_grid's points along one axis: torch's linspace(-1, 1, steps) (the second half counted from 1),
    times (steps - 1) / steps without align_corners; one step is at 0."""
    if steps <= 1:
        return xp.zeros(max(steps, 0), dtype=dtype)
    i = xp.arange(steps)
    step = dtype.type(2) / dtype.type(steps - 1)
    line = xp.where(i < steps // 2, fma(i.astype(dtype), step, -1),
                    fma((steps - 1 - i).astype(dtype), -step, 1))
    return line if align_corners else line * dtype.type(steps - 1) / dtype.type(steps)


def affine_grid(theta: Tensor, size: Sequence[int], align_corners: bool | None = None) -> Tensor:
    """torch's ``F.affine_grid``: theta (N, 2, 3), size (N, C, H, W) -> grid (N, H, W, 2), the image under theta of
    the normalised (x, y, 1) at each output pixel (``align_corners`` as in ``grid_sample``), for ``grid_sample``;
    3-D maps: theta (N, 3, 4), size (N, C, D, H, W) -> grid (N, D, H, W, 3) of (x, y, z, 1). Differentiable in
    theta."""
    align = check_align("affine_grid", align_corners)
    if not isinstance(theta, Tensor):
        raise TypeError(f"affine_grid: theta must be a Tensor, got {type(theta).__name__}")
    if theta.dtype.kind != "f":
        raise ValueError(f"affine_grid: expected theta to have a floating point dtype, got {theta.dtype}")
    size = tuple(size)
    if not all(isinstance(s, Integral) and not isinstance(s, bool) for s in size):
        raise TypeError(f"affine_grid: size must be a sequence of ints, got {size!r}")
    dims = len(size) - 2
    if dims not in (2, 3):
        raise NotImplementedError(f"affine_grid: only 4-D sizes (N, C, H, W) and 5-D sizes (N, C, D, H, W) are "
                                  f"supported, got size {size}")
    if theta.ndim != 3 or theta.shape[1:] != (dims, dims + 1):
        raise ValueError(f"affine_grid: expected a batch of {dims}-D affine matrices of shape (N, {dims}, {dims + 1}) "
                         f"for size {size}, got {theta.shape}")
    if align and min(size[2:]) == 1:
        warnings.warn("affine_grid with align_corners=True on a size-1 grid dimension: that dimension's only "
                      "point sits at -1 (torch >= 1.3.0 changed this case); use align_corners=False here", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"affine_grid: expected a non-zero, positive output size, got {size}")
    check_float("affine_grid", "theta", theta)
    n, spatial = int(size[0]), tuple(int(s) for s in size[2:])
    if n != theta.shape[0]:
        raise ValueError(f"affine_grid: size {size} asks for a batch of {n}, but theta {theta.shape} has "
                         f"{theta.shape[0]} matrices")
    xp, dtype = theta.xp, theta.dtype
    base = xp.empty((*spatial, dims + 1), dtype=dtype)
    for j, steps in enumerate(reversed(spatial)):  # x along W, y along H, z along D
        base[..., j] = base_line(xp, steps, align, dtype).reshape((-1,) + (1,) * j)
    base[..., dims] = 1
    grid = matmul(constant(base.reshape(1, math.prod(spatial), dims + 1)), transpose(theta, (0, 2, 1)))  # (N, L, dims)
    return reshape(grid, (n, *spatial, dims))
