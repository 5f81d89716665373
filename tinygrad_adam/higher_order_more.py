"""Differentiable backwards (see :mod:`higher_order`) of the special functions, the two-argument math, median,
prod and cumprod (zeros included), p-norms (p < 1 too), the probability losses, prelu, interpolate and
grid_sample (4-D and 5-D, every mode).

Each is torch's derivative formula in Tensor ops (so it can be differentiated again), with torch's own handling of
the awkward points: a product holding zeros takes its cumprod formula, a median's gradient is split among its ties,
and where torch's double backward is a rule of its own (bce's eps form, prelu's x >= 0) the gradient is a recorded
op (``custom``) whose backward is that rule. hardsigmoid and cdist raise, as torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .autograd import no_grad
from .higher_order import DIFFERENTIABLE, depends, differentiable, run_backward_graph, saved, sum_to
from .higher_order_nn import element_grad, expand_back, first_order, linear_map, loss_part, split_evenly
from .ops import binary, movement, reduce, statistics, unary
from .ops import elementwise as ew
from .ops.loss import BCE_EPS
from .ops.resize import along
from .ops.sample import CUBIC_A, Reader
from .tensor import INTERPOLATIONS, Array, Tensor, constant, record

SQRT_PI = math.sqrt(math.pi)


def pair(a: Tensor, b: Tensor, ga: Callable[[], Tensor], gb: Callable[[], Tensor]) -> tuple[Tensor | None, ...]:
    """The gradients of a broadcasting two-argument op: ``ga()`` / ``gb()`` summed to each parent's shape (None for
    a parent that needs none)."""
    return (sum_to(ga(), a.shape) if a.requires_grad else None, sum_to(gb(), b.shape) if b.requires_grad else None)


def custom(op: str, value: Array, parents: tuple[Tensor, ...]) -> Tensor:
    """``value`` recorded as ``op`` of ``parents``, whose backward, first-order too, is the Tensor-op one registered
    for ``op`` (a gradient formula whose own derivative torch gives by a separate rule, at a kink or an eps)."""
    def backward(h: Array) -> tuple[Array | None, ...]:
        with no_grad():
            return tuple(None if t is None else t._data for t in DIFFERENTIABLE[op](out, constant(h)))
    out = record(op, value, parents, backward)
    return out


# ------------------------------------------------------------------------------------------------- unary math
@differentiable("erfc")
def erfc(node: Tensor, g: Tensor) -> tuple[Tensor]:
    x = node._parents[0]
    return (g * (-2 / SQRT_PI * ew.exp(-(x * x))),)


@differentiable("erfinv")
def erfinv(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: sqrt(pi) / 2 exp(erfinv(x)^2) g
    return (g * (SQRT_PI / 2 * ew.exp(node * node)),)


@differentiable("lgamma")
def lgamma(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g * unary.polygamma(0, node._parents[0]),)


@differentiable("polygamma")
def polygamma(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g * unary.polygamma(saved(node, "n") + 1, node._parents[0]),)


@differentiable("sinc")
def sinc(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """The first-order backward's derivative in Tensor ops: torch's g (pi x cos(pi x) - sin(pi x)) / (pi x^2) for
    |pi x| >= 1, below that pi times the series of (sin u / u)' at u = pi x (the closed form cancels). Each
    branch reads x only where it is taken (1 or 0 elsewhere), so the other's inf or nan never reaches a gradient."""
    x = node._parents[0]
    near = constant(x.xp.abs(x._data * math.pi) < 1)
    u, far = ew.where(near, x, 0.0) * math.pi, ew.where(near, 1.0, x)
    pf = far * math.pi
    slope = ew.where(near, unary.sinc_slope_series(u) * math.pi + 0.0,
                     (pf * unary.cos(pf) - unary.sin(pf)) / (pf * far))
    return (g * slope,)  # (+ 0.0: the slope at 0 is +0, the first order's, and its own slope there -pi^2 / 3)


@differentiable("logit")
def logit(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's infinitely differentiable logit backward: g / (x (1 - x)) inside [0, 1] (inside [eps, 1 - eps] with
    an eps), else nan (0 with an eps)."""
    x, eps = node._parents[0], saved(node, "eps")
    lo = 0.0 if eps is None else eps
    inside = (x._data >= x.dtype.type(lo)) & (x._data <= x.dtype.type(1 - lo))
    return (ew.where(constant(inside), g / (x * (1 - x)), math.nan if eps is None else 0.0),)


# -------------------------------------------------------------------------------------------- two-argument math
@differentiable("atan2")
def atan2(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """g b / (a^2 + b^2) and -g a / (a^2 + b^2), the reciprocal taken as 0 at the origin (as torch)."""
    a, b = node._parents
    denom = a * a + b * b
    recip = ew.where(constant(denom._data == 0), 0, 1 / denom)
    return pair(a, b, lambda: g * b * recip, lambda: g * -a * recip)


@differentiable("hypot")
def hypot(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    a, b = node._parents
    return pair(a, b, lambda: g * a / node, lambda: g * b / node)


@differentiable("logaddexp", "logaddexp2")
def logaddexp(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    a, b = node._parents
    power = ew.exp if node._op == "logaddexp" else unary.exp2
    return pair(a, b, lambda: g / (1 + power(b - a)), lambda: g / (1 + power(a - b)))


@differentiable("xlogy")
def xlogy(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """torch's: xlogy(g, b) for a (0 where a == 0 and b <= 0) and g a / b for b."""
    a, b = node._parents
    zero = constant((a._data == 0) & (b._data <= 0))
    return pair(a, b, lambda: ew.where(zero, 0, binary.xlogy(g, b)), lambda: g * a / b)


@differentiable("xlog1py")
def xlog1py(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """torch's: xlog1py(g, b) for a (0 where a == 0 and b <= -1) and g a / (1 + b) for b."""
    from .special import xlog1py as xlog1py_op  # (special imports the ops this module records through)

    a, b = node._parents
    zero = constant((a._data == 0) & (b._data <= -1))
    return pair(a, b, lambda: ew.where(zero, 0, xlog1py_op(g, b)), lambda: g * a / (b + 1))


@differentiable("lerp")
def lerp(node: Tensor, g: Tensor) -> tuple[Tensor | None, ...]:
    """g (1 - w) for start, g w for end, g (end - start) for a tensor weight w."""
    start, end, *weight = node._parents
    w = weight[0] if weight else saved(node, "w")
    grads = pair(start, end, lambda: g * (1 - w), lambda: g * w)
    if weight:
        grads += (sum_to(g * (end - start), w.shape) if w.requires_grad else None,)
    return grads


@differentiable("addcmul", "addcmul_")
def addcmul(node: Tensor, g: Tensor) -> tuple[Tensor | None, ...]:
    """torch's: g for self, g (t2 value) for t1, g (t1 value) for t2."""
    s, t1, t2 = node._parents
    value = saved(node, "value")
    return (sum_to(g, s.shape) if s.requires_grad else None, sum_to(g * (t2 * value), t1.shape)
            if t1.requires_grad else None, sum_to(g * (t1 * value), t2.shape) if t2.requires_grad else None)


@differentiable("addcdiv", "addcdiv_")
def addcdiv(node: Tensor, g: Tensor) -> tuple[Tensor | None, ...]:
    """torch's: g for self, g (value / t2) for t1, -g (value t1 / (t2 t2)) for t2."""
    s, t1, t2 = node._parents
    value = saved(node, "value")
    return (sum_to(g, s.shape) if s.requires_grad else None, sum_to(g * (value / t2), t1.shape)
            if t1.requires_grad else None, sum_to(-g * (t1 * value / (t2 * t2)), t2.shape)
            if t2.requires_grad else None)


# ------------------------------------------------------------------------------------ order statistics, products
@differentiable("median", "nanmedian")
def median(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """Over all elements: g split evenly among the elements equal to the result (among the nans when it is nan)."""
    return (split_evenly(g, node._parents[0], node._data),)


@differentiable("prod")
def prod(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's prod_backward: g (result / x) without zeros; with a zero, g times the product of the other elements
    of its slice, as cumprods from both ends (prod_safe_zeros_backward)."""
    a = node._parents[0]
    ax = saved(node, "ax", None)
    if ax is None:  # a 0-d input
        return (g,)
    flat, keep = saved(node, "flat"), saved(node, "keepdims")
    if bool((a._data == 0).any()):
        if flat:
            x = movement.reshape(a, (-1,))
            return (movement.reshape(movement.reshape(g, ()) * others_product(x, 0), a.shape),)
        return (expand_back(g, a.shape, (ax,), keep) * others_product(a, ax),)
    if flat:
        g, node = (movement.reshape(t, (1,) * a.ndim) for t in (g, node))
        keep = True
    return (expand_back(g, a.shape, (ax,), keep) * (expand_back(node, a.shape, (ax,), keep) / a),)


def others_product(x: Tensor, dim: int) -> Tensor:
    """For each element, the product of the other elements of its slice along ``dim``: the exclusive cumprods
    from the front and from the back, multiplied (no division, so zeros are fine)."""
    n = x.shape[dim]
    ones = constant(x.xp.ones(x.shape[:dim] + (1,) + x.shape[dim + 1:], x.dtype))
    front = statistics.cumprod(movement.concatenate([ones, movement.narrow(x, dim, 0, n - 1)], dim), dim)
    rest = movement.flip(movement.narrow(x, dim, 1, n - 1), (dim,))
    back = movement.flip(statistics.cumprod(movement.concatenate([ones, rest], dim), dim), (dim,))
    return front * back


@differentiable("cumprod")
def cumprod(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's cumprod_backward: the reversed cumsum of g y over x without zeros; with a zero, dx_k =
    sum_{i >= k} g_i prod_{j <= i, j != k} x_j, one k at a time (its differentiable path)."""
    a, dim = node._parents[0], saved(node, "dim", None)
    if dim is None or a.shape[dim] <= 1:
        return (g,)
    if not bool((a._data == 0).any()):
        return (movement.flip(statistics.cumsum(movement.flip(node * g, (dim,)), dim), (dim,)) / a,)
    n = a.shape[dim]
    ones = constant(a.xp.ones(a.shape[:dim] + (1,) + a.shape[dim + 1:], a.dtype))
    columns = []
    for k in range(n):
        before = statistics.prod(movement.narrow(a, dim, 0, k), dim, keepdims=True) if k else ones
        omitted = before
        if k < n - 1:
            after = statistics.cumprod(movement.narrow(a, dim, k + 1, n - k - 1), dim)
            omitted = movement.concatenate([before, before * after], dim)
        columns.append(reduce.sum(movement.narrow(g, dim, k, n - k) * omitted, dim))
    return (movement.stack(columns, dim),)


@differentiable("norm")
def norm(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's norm_backward: p = inf / -inf: g sgn(x) split among |x| == norm (and the nans); p = 1: g sgn(x);
    p = 2: g x / norm; p < 1 (negative too): g sgn(x) |x|^(p-1)
    norm^(1-p), 0 where x is 0; other p: g sgn(x) |x|^(p-1) / norm^(p-1) (x |x|^(p-2) for p > 2), 0 where the norm
    is 0."""
    a, p, axes, keep = node._parents[0], saved(node, "p"), saved(node, "axes"), saved(node, "keepdims")
    out = expand_back(node, a.shape, axes, keep)
    gs = expand_back(g, a.shape, axes, keep)
    sign = depends(sign_of(a._data, g.dtype), a)
    if math.isinf(p):  # sgn(x) g / count over |x| == norm or x nan (sgn(nan) = 0), a constant mask
        hit = (a.xp.abs(a._data) == out._data) | a.xp.isnan(a._data)
        return (gs * depends(sign_of(a._data, g.dtype) * hit / hit.sum(axis=axes, keepdims=True), a),)
    if p == 1:
        return (sign * gs,)
    if p == 2:
        return (gs * ew.where(constant(out._data == 0), 0, a / out),)
    if p < 1:
        grows = ew.where(constant(a._data == 0), 0, sign * ew.pow(ew.abs(a), p - 1))
        return (grows * gs * ew.pow(out, 1 - p),)
    scale = ew.where(constant(out._data == 0), 0, gs / ew.pow(out, p - 1))
    if p < 2:
        return (sign * ew.pow(ew.abs(a), p - 1) * scale,)
    return (a * ew.pow(ew.abs(a), p - 2) * scale,)


def sign_of(x: Array, dtype: object) -> Array:
    """torch's sgn of a real array in ``dtype``: -1, 0 or 1, 0 for nan."""
    sign = (x > 0).astype(dtype)
    sign -= x < 0
    return sign


# ------------------------------------------------------------------------------------------------------- losses
@differentiable("binary_cross_entropy")
def binary_cross_entropy(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """gl (p - y) / max(p (1 - p), eps) for p (``_bce_grad``: torch's double backward has its own eps form) and
    -gl logit(p) for y."""
    p, y = node._parents
    gl = element_grad(node, g, p.shape)
    gp = None
    if p.requires_grad:
        x, t = p._data, loss_part(node, "y")
        with ew.ignore_fp_errors(p.xp):
            gp = custom("_bce_grad", gl._data * (x - t) / p.xp.maximum(x * (1 - x), x.dtype.type(BCE_EPS)), (gl, p, y))
    return gp, -unary.logit(p) * gl if y.requires_grad else None


@differentiable("_bce_grad")
def bce_grad(node: Tensor, h: Tensor) -> tuple[Tensor | None, ...]:
    """torch's binary_cross_entropy double backwards (eps = 1e-12): h (p - y) / ((p + eps) (1 - p + eps)) for gl,
    h gl (p^2 - 2 p y + y) / ((p + eps)^2 (1 - p + eps)^2) for p, -h gl / max(p (1 - p), eps) for y (the clamp
    outside the graph)."""
    gl, p, y = node._parents
    eps = 1e-12
    low, high = p + eps, 1 - p + eps
    denom = (1 - p) * p
    clamped = denom + constant(p.xp.maximum(denom._data, denom.dtype.type(eps)) - denom._data)
    return ((h * (p - y) / (low * high)) if gl.requires_grad else None,
            h * gl * (p * p - 2 * p * y + y) / (low * low * high * high) if p.requires_grad else None,
            -h * gl / clamped if y.requires_grad else None)


@differentiable("kl_div")
def kl_div(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """The gradients of torch's composite: xlogy(y, y) - y x (the xlogy's two parts: 0 where y = 0, and y / y), or
    exp(y) (y - x) for a log target."""
    x, y = node._parents
    gl = element_grad(node, g, loss_part(node, "x").shape)
    if loss_part(node, "log_target"):
        e = ew.exp(y)
        return pair(x, y, lambda: -gl * e, lambda: gl * (y - x) * e + gl * e)
    zero = constant(y._data == 0)
    return pair(x, y, lambda: -gl * y, lambda: ew.where(zero, 0, binary.xlogy(gl, y)) + gl * y / y - gl * x)


@differentiable("soft_margin_loss")
def soft_margin_loss(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """-y z / (1 + z) gl, z = exp(-y x) (so y^2 z / (1 + z)^2 gl h, torch's double backward, in x)."""
    x = node._parents[0]
    y = constant(loss_part(node, "y"))
    z = ew.exp(-y * x)
    return (-y * z / (1 + z) * element_grad(node, g, x.shape),)


# -------------------------------------------------------------------------------------------------------- prelu
@differentiable("prelu")
def prelu(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """g where x > 0 else g w, and the sum of g x where x <= 0 for w: two recorded ops whose derivatives are torch's
    _prelu_kernel_backward's (which tests x >= 0)."""
    x, w = node._parents
    pos = x._data > 0
    with ew.ignore_fp_errors(x.xp):
        gx = custom("_prelu_grad_input", x.xp.where(pos, g._data, g._data * w._data), (g, x, w))
        gw = custom("_prelu_grad_weight", sum_to(constant(x.xp.where(pos, 0, x._data * g._data)), w.shape)._data,
                    (g, x, w))
    return gx if x.requires_grad else None, gw if w.requires_grad else None


@differentiable("_prelu_grad_input")
def prelu_grad_input(node: Tensor, h: Tensor) -> tuple[Tensor | None, ...]:
    g, x, w = node._parents
    nonneg = constant(x._data >= 0)
    return ew.where(nonneg, h, h * w), None, sum_to(ew.where(nonneg, 0, g * h), w.shape)


@differentiable("_prelu_grad_weight")
def prelu_grad_weight(node: Tensor, h: Tensor) -> tuple[Tensor | None, ...]:
    g, x, _ = node._parents
    nonneg, hb = constant(x._data >= 0), movement.broadcast_to(h, x.shape)
    return ew.where(nonneg, 0, hb * x), ew.where(nonneg, 0, g * hb), None


# -------------------------------------------------------------------------------------------------- interpolate
@differentiable(*INTERPOLATIONS)
def interpolate(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """The taps' adjoint spread of g; its adjoint is the resampling again (torch's upsample double backward)."""
    axes, taps, padded = saved(node, "axes"), saved(node, "taps"), saved(node, "padded", False)

    def resample(h: Array) -> Array:
        for axis, tap in zip(axes, taps):
            h = along(h, axis, tap, padded)
        return h
    return (linear_map(g, first_order(node), resample),)


# ------------------------------------------------------------------------------------------------- grid_sample
@differentiable("grid_sample_bilinear", "grid_sample_bicubic")
def grid_sample_taps(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """The gradients of the op rebuilt from Tensor ops (the 4 corners, 8 for 5-D input, 16 taps for bicubic, read
    by index, their weights from the grid through ``_grid_position``, whose derivative is the padding map's slope,
    constant as torch's), taken by the create_graph engine. A grid holding nan or inf raises."""
    x, grid = node._parents
    grads = saved(node, "grads")
    reader, corners = saved(node, "reader", fn=grads), saved(node, "corners", None, fn=grads)
    points = movement.reshape(grid, (x.shape[0], -1, x.ndim - 2))
    check_grid(grid, saved(node, "located", None, fn=grads))
    if node._op == "grid_sample_bicubic":
        taps = bicubic_taps(node, grads, points)
    elif x.ndim == 4:
        w = position(movement.getitem(points, (..., 0)), saved(node, "w", fn=grads), saved(node, "mx", fn=grads))
        v = position(movement.getitem(points, (..., 1)), saved(node, "n", fn=grads), saved(node, "my", fn=grads))
        taps = [((iy, ix), weight) for (iy, ix, _), weight in zip(corners, ((1 - v) * (1 - w), (1 - v) * w,
                                                                          v * (1 - w), v * w))]
    else:  # 5-D: (z, y, x) positions from the backward's (torch's) locations
        located = saved(node, "located", fn=grads)
        spots, far = corners([b for _, b, _ in located])
        high = [position(movement.getitem(points, (..., 2 - j)), f[1], slope)
                for j, (f, (_, _, slope)) in enumerate(zip(far, located))]
        taps = [(idx, (high[0] if c else 1 - high[0]) * (high[1] if b else 1 - high[1]) * (
            high[2] if a else 1 - high[2])) for idx, (c, b, a) in spots]
    table = movement.reshape(movement.transpose(movement.reshape(x, (*x.shape[:2], -1)), (0, 2, 1)), (-1, x.shape[1]))
    out = None
    for idx, weight in taps:
        rows, mask = reader.where(*idx)
        part = ew.where(constant(mask[..., None]), movement.getitem(table, rows), 0) * movement.reshape(
            weight, (*weight.shape, 1))
        out = part if out is None else out + part
    out = movement.reshape(movement.transpose(out, (0, 2, 1)), node.shape)
    wanted = [t for t in (x, grid) if t.requires_grad]
    found = run_backward_graph([out], [g], wanted)
    return tuple(found.get(id(t)) if t.requires_grad else None for t in (x, grid))  # type: ignore[return-value]


@differentiable("grid_sample_nearest")
def grid_sample_nearest(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """g added at each point's nearest input position, whose adjoint reads there (the sampling again); the grid's
    gradient is 0. A grid holding nan or inf raises."""
    x, grid = node._parents
    grads = saved(node, "grads")
    reader = saved(node, "reader", fn=grads)
    check_grid(grid, saved(node, "located", None, fn=grads))
    if x.ndim == 4:
        idx = saved(node, "iy", fn=grads), saved(node, "ix", fn=grads)
    else:
        idx = tuple(x.xp.rint(b) for _, b, _ in saved(node, "located", fn=grads))

    def read(h: Array) -> Array:
        return reader.xp.moveaxis(Reader(h, *reader.axes).read(*idx), 2, 1).reshape(node.shape)
    zero = depends(x.xp.zeros((), g.dtype), x) + depends(x.xp.zeros((), g.dtype), grid)  # (one op of all, as torch's)
    gx = linear_map(g, first_order(node), read) + zero if x.requires_grad else None
    return gx, movement.broadcast_to(zero, grid.shape) if grid.requires_grad else None


def bicubic_taps(node: Tensor, grads: Callable, points: Tensor) -> list[tuple[tuple[Array, Array], Tensor]]:
    """The 16 taps of bicubic sampling: ((row, column) positions after the padding, weight), the weight the product
    of the cubic convolution weights of the point's fractional positions, Tensors of the grid whose slope is the
    unnormalising scale."""
    def fraction(k: int, axis: str, p: str, low: str) -> Tensor:
        frac = saved(node, p, fn=grads) - saved(node, low, fn=grads)
        return position(movement.getitem(points, (..., k)), frac,
                        points.xp.full_like(frac, saved(node, axis, fn=grads).scale))
    wx, wy = cubic(fraction(0, "ax_x", "px", "x0")), cubic(fraction(1, "ax_y", "py", "y0"))
    tx, ty = saved(node, "tx", fn=grads), saved(node, "ty", fn=grads)
    return [((ty[j], tx[i]), wx[i] * wy[j]) for j in range(4) for i in range(4)]


def cubic(s: Tensor) -> list[Tensor]:
    """The cubic convolution weights of the taps at -1, 0, 1, 2 for fractions s in [0, 1), as Tensor ops."""
    a = CUBIC_A

    def far(d: Tensor) -> Tensor:  # 1 < d < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    def near(d: Tensor) -> Tensor:  # d <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1
    return [far(s + 1), near(s), near(1 - s), far(2 - s)]


def check_grid(grid: Tensor, located: list | None = None) -> None:
    """grid_sample's double backward covers finite points (torch's puts nan at some inputs where a point is nan or
    inf) whose 5-D forward and backward positions agree (an unnormalised point that overflows is read at the border
    but passes no gradient)."""
    if not bool(grid.xp.isfinite(grid._data).all()) or any(not bool((f == b).all()) for f, b, _ in located or ()):
        raise NotImplementedError("double backward through grid_sample is not supported for a grid holding nan or "
                                  "inf; compute that part without create_graph=True")


def position(coordinate: Tensor, frac: Array, slope: Array) -> Tensor:
    """A corner weight's fractional position ``frac`` as a Tensor of the grid ``coordinate`` with derivative
    ``slope`` (the unnormalising scale times the padding map's slope), recorded as ``_grid_position``."""
    return record("_grid_position", frac, (coordinate,), lambda h: (h * slope,))


@differentiable("_grid_position")
def grid_position(node: Tensor, h: Tensor) -> tuple[Tensor]:
    return (h * constant(saved(node, "slope")),)
