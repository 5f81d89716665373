"""Differentiable backwards (see :mod:`higher_order`) of the elementwise math, activations, reductions,
normalisations and convolutions a conv-net critic, a physics-informed MLP and the common losses reach.

Each is torch's derivative formula written with Tensor ops of the op's parents, its output (the node) and what its
first-order closure captured, so its result can be differentiated again. A kink's mask (x > 0, a clamp's bounds) is
a constant; where torch's backward is a separate op whose input derivative is zero (leaky_relu_backward,
hardtanh_backward), the gradient still depends on x (``depends``), so it requires grad as torch's does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from . import backend
from .higher_order import depends, differentiable, masked, saved, sum_to
from .ops import conv, movement, reduce, unary
from .ops import elementwise as ew
from .ops.conv import pad_spatial, windows
from .ops.statistics import cumsum as running
from .tensor import Array, Tensor, constant, record


def factor(g: Tensor, x: Tensor, d: Array) -> tuple[Tensor]:
    """g times the constant derivative array ``d`` of x (a piecewise-linear op), depending on x with derivative 0."""
    return (g * depends(d.astype(g.dtype, copy=False), x),)


def times_zero(value: Array, on: Tensor) -> Tensor:
    """``value`` (``on``'s shape) as a Tensor whose derivative in ``on`` is 0 times the incoming gradient (nan for an
    inf one), as a formula that multiplies by a 0/1 mask (torch's smooth_l1_loss_double_backward)."""
    return record("_times_zero", value, (on,), lambda h: (h * h.dtype.type(0),))


@differentiable("_times_zero")
def _times_zero(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g * 0,)


def only(mask: Array, x: Tensor) -> Tensor:
    """x where ``mask``, else 0: a branch whose other side may overflow (exp of a large x) without a nan gradient."""
    return ew.where(constant(mask), x, 0)


# ------------------------------------------------------------------------------------------------ unary math
@differentiable("log1p")
def log1p(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g / (node._parents[0] + 1),)


@differentiable("expm1")
def expm1(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: g (result + 1)
    return (g * (node + 1),)


@differentiable("exp2")
def exp2(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g * node * math.log(2),)


@differentiable("log2", "log10")
def log_base(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g / (node._parents[0] * math.log(2 if node._op == "log2" else 10)),)


@differentiable("reciprocal")
def reciprocal(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: -g result^2
    return (-g * (node * node),)


@differentiable("erf")
def erf(node: Tensor, g: Tensor) -> tuple[Tensor]:
    x = node._parents[0]
    return (g * (2 / math.sqrt(math.pi) * ew.exp(-(x * x))),)


@differentiable("tan")
def tan(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: g (1 + result^2)
    return (g * (1 + node * node),)


@differentiable("atan")
def atan(node: Tensor, g: Tensor) -> tuple[Tensor]:
    x = node._parents[0]
    return (g / (x * x + 1),)


@differentiable("sinh")
def sinh(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g * unary.cosh(node._parents[0]),)


@differentiable("cosh")
def cosh(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g * unary.sinh(node._parents[0]),)


@differentiable("asinh")
def asinh(node: Tensor, g: Tensor) -> tuple[Tensor]:
    x = node._parents[0]
    return (g / ew.sqrt(x * x + 1),)


# -------------------------------------------------------------------------------------------------- activations
@differentiable("leaky_relu", "leaky_relu_")
def leaky_relu(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g where x > 0, else g slope (torch's leaky_relu_backward, whose derivative in x is zero)."""
    x = node._parents[0]
    return factor(g, x, x.xp.where(x._data > 0, 1, saved(node, "w")))


@differentiable("hardtanh", "hardtanh_")
def hardtanh(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g strictly inside the bounds, else 0 (also for an inf or nan g); a zero derivative in x."""
    x = node._parents[0]
    return (ew.where(constant(saved(node, "inside")), g, depends(x.xp.zeros((), g.dtype), x)),)


def _pass_where(node: Tensor, g: Tensor, name: str, passes: bool) -> tuple[Tensor]:
    """g where the first-order closure's mask ``name`` is ``passes``, else 0 (also for an inf or nan g); a zero
    derivative in x: the backward of the piecewise-linear threshold / softshrink / hardshrink (torch's
    threshold_backward and shrink backwards)."""
    x = node._parents[0]
    mask = saved(node, name)
    zero = depends(x.xp.zeros((), g.dtype), x)
    return (ew.where(constant(mask if passes else ~mask), g, zero),)


@differentiable("threshold", "threshold_")
def threshold(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g where x > threshold, else 0."""
    return _pass_where(node, g, "below", passes=False)


@differentiable("softshrink")
def softshrink(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g outside [-lambd, lambd] (and for nan x), else 0."""
    return _pass_where(node, g, "outside", passes=True)


@differentiable("hardshrink")
def hardshrink(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g where |x| > lambd (and for nan x), else 0."""
    return _pass_where(node, g, "keep", passes=True)


@differentiable("rrelu")
def rrelu(node: Tensor, g: Tensor) -> tuple[Tensor, None]:
    """Training-mode rrelu (a leaky relu with one drawn slope per element, the op's second parent): g where x > 0,
    else g times the slope; a zero derivative in x (torch's rrelu_with_noise_backward)."""
    x, slopes = node._parents
    return (*factor(g, x, x.xp.where(x._data > 0, 1, slopes._data)), None)


@differentiable("elu", "selu", "celu", "elu_", "selu_", "celu_")
def elu(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's elu_backward: g scale where x > 0, g scale alpha input_scale exp(input_scale x) where x <= 0; its
    x-derivative (elu_double_backward) is 0 where x > 0 and for nan."""
    x, pos = node._parents[0], saved(node, "pos")
    scale, coef, t = saved(node, "scale"), saved(node, "coef"), x._data.dtype.type
    neg, input_scale = x._data <= 0, node._backward.input_scale
    at_neg = g * coef * ew.exp(only(x._data < 0, x) * t(input_scale))  # (torch: no second derivative at 0)
    rest = factor(g, x, x.xp.where(pos, t(scale), x.xp.where(neg, t(0), t("nan"))))[0]  # nan x: nan, as 1st order
    return (ew.where(constant(neg), at_neg, rest),)


@differentiable("logsigmoid")
def logsigmoid(node: Tensor, g: Tensor) -> tuple[Tensor]:  # d/dx log sigmoid(x) = sigmoid(-x)
    return (g * ew.sigmoid(-node._parents[0]),)


@differentiable("mish", "mish_")
def mish(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's infinitely_differentiable_mish_backward: g (t + x sigmoid(x) (1 - t^2)), t = tanh(softplus(x))."""
    x = node._parents[0]
    t = ew.tanh(ew.softplus(x, 1.0, 20.0))
    return (g * (t + x * ew.sigmoid(x) * (1 - t * t)),)


@differentiable("hardswish", "hardswish_")
def hardswish(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g (x / 3 + 1/2) strictly inside (-3, 3) (so g g' / 3 in x), g where x >= 3, 0 where x <= -3, nan for nan;
    the x-derivative outside (-3, 3) is 0, as torch's hardswish_backward derivative."""
    x = node._parents[0]
    xs, t = x._data, x._data.dtype.type
    inside = (xs > -3) & (xs < 3)
    outside = x.xp.where(xs >= 3, t(1), x.xp.where(xs == xs, t(0), t("nan")))  # 0 at or below -3 (and inside)
    return (ew.where(constant(inside), g * (only(inside, x) / 3 + 0.5), factor(g, x, outside)[0]),)


@differentiable("clip", "clamp_")
def clip(node: Tensor, g: Tensor) -> tuple[Tensor | None, ...]:
    """torch's clamp_backward (and clamp_backward_min_max): g where lo <= x <= hi, to lo below, to hi above; masks
    of where, so no derivative in x (the result depends on g only, as torch's)."""
    a = node._parents[0]
    x, lo_t, hi_t = saved(node, "x"), saved(node, "lo_t"), saved(node, "hi_t")
    lo, hi = (None if b is None else b._data for b in (lo_t, hi_t))
    inside = x <= hi if lo is None else x >= lo if hi is None else (x >= lo) & (x <= hi)
    grads = [sum_to(masked(g, inside), a.shape) if a.requires_grad else None]
    if lo_t is not None:
        below = x < lo if hi is None else (x < lo) & (lo < hi)
        grads.append(sum_to(masked(g, below), lo_t.shape) if lo_t.requires_grad else None)
    if hi_t is not None:
        above = x > hi if lo is None else (x > hi) | (hi < lo)
        grads.append(sum_to(masked(g, above), hi_t.shape) if hi_t.requires_grad else None)
    return tuple(grads)


# ---------------------------------------------------------------------------------------------------- reductions
def expand_back(g: Tensor, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> Tensor:
    """``reduce._expand_back`` as Tensor ops: a reduced ``g`` reshaped (when not keepdims) and broadcast to
    ``shape``."""
    if not keepdims:
        g = movement.reshape(g, tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return movement.broadcast_to(g, shape)


@differentiable("logsumexp")
def logsumexp(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's logsumexp_backward: g exp(x - result) (nan at a +inf input, 0 beside it)."""
    x, axes, keep = node._parents[0], saved(node, "axes"), saved(node, "keepdims")
    return (expand_back(g, x.shape, axes, keep) * ew.exp(x - expand_back(node, x.shape, axes, keep)),)


@differentiable("max", "min")
def extreme(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """Over all elements (torch's max()): g / count at the ties (at the nans when the result is nan), 0 elsewhere
    even for an inf g; over axes (amax): (g / count) hit, torch's scale_grad_by_count. Masks: no x-derivative."""
    a, axes, keep, kept = node._parents[0], saved(node, "axes"), saved(node, "keepdims"), saved(node, "kept")
    if saved(node, "axis") is None:
        return (split_evenly(g, a, kept),)
    hit = a._data == kept
    count = constant(hit.sum(axis=axes, keepdims=True).astype(g.dtype))
    return (expand_back(g, a.shape, axes, keep) / count * constant(hit.astype(g.dtype)),)


def split_evenly(g: Tensor, a: Tensor, value: Array) -> Tensor:
    """torch's evenly_distribute_backward (max(), min(), median()): g / count at the elements equal to ``value``
    (at the nans when it is nan), 0 elsewhere even for an inf g; masks, so no x-derivative."""
    hit = a.xp.isnan(a._data) if bool(a.xp.isnan(value).any()) else a._data == value
    return masked(movement.broadcast_to(movement.reshape(g / int(hit.sum()), (1,) * a.ndim), a.shape), hit)


@differentiable("var", "std")
def spread(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's var_backward: g (2 / (n - correction)) (x - mean x), n - correction as it is (negative too); with
    no dim (or a 0-d x) and n - correction <= 0, g times nan where x is its mean, inf elsewhere; std_backward: var's
    of g / (2 result), 0 where the result is 0."""
    x, axes, keep = node._parents[0], saved(node, "axes"), saved(node, "keepdims")
    raw = saved(node, "n") - saved(node, "correction")
    if node._op == "std":
        g = ew.where(constant(node._data == 0), 0, g / (node * 2))
    mean = reduce.mean(x, axes, keepdims=True)
    if raw <= 0 and (saved(node, "axis") is None or x.ndim == 0):
        return (expand_back(g, x.shape, axes, keep) * constant(x.xp.where(x._data == mean._data, math.nan,
                                                                           math.inf).astype(x.dtype)),)
    return (expand_back(g, x.shape, axes, keep) * (2 / raw if raw else math.inf) * (x - mean),)


@differentiable("cumsum")
def cumsum(node: Tensor, g: Tensor) -> tuple[Tensor]:  # the reversed running sum, as flips and a cumsum
    dim = saved(node, "dim", None)
    if dim is None:  # a 0-d input
        return (g,)
    return (movement.flip(running(movement.flip(g, dim), dim), dim),)


@differentiable("flip")
def flip(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (movement.flip(g, saved(node, "axes")),)


@differentiable("roll")
def roll(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (movement.roll(g, saved(node, "back"), saved(node, "axes")),)


# ---------------------------------------------------------------------------------------------- normalisations
@differentiable("layer_norm", "batch_norm", "group_norm", "instance_norm")
def normalize(node: Tensor, g: Tensor) -> tuple[Tensor | None, ...]:
    """(x - mean) rstd [* w] [+ b] differentiated as torch's infinitely differentiable norm backwards: the
    statistics recomputed from x with Tensor ops (training), or constants (batch norm in eval mode)."""
    x, *params = node._parents
    weight, bias = saved(node, "weight"), saved(node, "bias")
    eps = getattr(node._backward, "eps", None)
    if eps is None:
        raise NotImplementedError(f"double backward through {node._op} is not supported here: its backward keeps "
                                  f"no eps")
    feature_shape = saved(node, "feature_shape", None)
    if feature_shape is None:  # the compiled float32 layer_norm rows: normalised over trailing dims of n elements
        n = saved(node, "n")
        k = next(k for k in range(1, x.ndim + 1) if math.prod(x.shape[x.ndim - k:]) == n)
        feature_shape, axes, stats = x.shape[x.ndim - k:], tuple(range(x.ndim - k, x.ndim)), True
    else:
        axes, stats = saved(node, "axes"), saved(node, "stats_have_grad")
    if stats:  # the corrected two passes of norm._stats: a constant row centres to exactly 0, as torch's
        centered = x - reduce.mean(x, axes, keepdims=True)
        centered = centered - reduce.mean(centered, axes, keepdims=True)
        rstd = 1 / ew.sqrt(reduce.mean(centered * centered, axes, keepdims=True) + eps)
        x_hat = centered * rstd
    else:  # eval batch norm: x_hat = (x - mean) rstd with constant statistics
        rstd = constant(saved(node, "rstd"))
        x_hat = constant(saved(node, "x_hat")) + (x - constant(x._data)) * rstd
    w = None if weight is None else movement.reshape(weight, feature_shape)
    d = g if w is None else g * w
    if stats:
        d = d - reduce.mean(d, axes, keepdims=True) - x_hat * reduce.mean(d * x_hat, axes, keepdims=True)
    grads: list[Tensor | None] = [d * rstd if x.requires_grad else None]
    # torch's norm backward is one op of x too: the bias gradient requires grad even when g does not
    for t, grad in ((weight, lambda: g * x_hat), (bias, lambda: g + depends(x.xp.zeros((), g.dtype), x))):
        if t is not None:
            grads.append(movement.reshape(sum_to(grad(), feature_shape), t.shape) if t.requires_grad else None)
    assert len(grads) == 1 + len(params)
    return tuple(grads)


# -------------------------------------------------------------------------------------------------- convolution
def fit_padding(size: tuple[int, ...], out: tuple[int, ...], kernel: tuple[int, ...], st: tuple[int, int],
                pd: tuple[int, int], dl: tuple[int, int]) -> tuple[int, int]:
    """The output_padding that makes conv_transpose2d of an (.., *out) map come back to ``size`` (H, W)."""
    return tuple(n - ((o - 1) * s - 2 * p + d * (k - 1) + 1)  # type: ignore[return-value]
                 for n, o, k, s, p, d in zip(size, out, kernel, st, pd, dl))


def weight_of(x: Tensor, g: Tensor, kernel: tuple[int, int], st: tuple[int, int], pd: tuple[int, int],
              dl: tuple[int, int], groups: int) -> Tensor:
    """conv2d's weight gradient (O, C / groups, kh, kw) of input x (N, C, H, W) and output gradient g (N, O, Ho, Wo),
    recorded as ``_conv2d_weight`` of (x, g): bilinear, its gradients are a conv_transpose2d and a conv2d."""
    h, w = x.shape[2:]
    xpad = conv.channels_last(x._data, (h + 2 * pd[0], w + 2 * pd[1]), pd)

    def backward(k: Array) -> tuple[Array, Array]:  # (x may have a row more than g reaches: conv_transpose2d's)
        return (conv.input_gradient(g._data, k, x.shape, st, pd, dl, groups),
                conv.correlate(x._data, k, None, st, pd, dl, groups)[0][:, :, :g.shape[2], :g.shape[3]])
    return record("_conv2d_weight", conv.weight_gradient(xpad, g._data, kernel, st, dl, groups), (x, g), backward)


@differentiable("_conv2d_weight")
def conv2d_weight(node: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    x, g = node._parents
    st, pd, dl, groups = (saved(node, n) for n in ("st", "pd", "dl", "groups"))
    out_pad = fit_padding(x.shape[2:], g.shape[2:], k.shape[2:], st, pd, dl)
    return (conv.conv_transpose2d(g, k, None, st, pd, out_pad, groups, dl),
            crop(conv.conv2d(x, k, None, st, pd, dl, groups), g.shape))


def crop(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``t`` (N, C, H, W) cut to the spatial size of ``shape`` (a conv2d of a conv_transpose2d's output may reach
    one row or column further than its input had, when an output_padding added it)."""
    if t.shape == shape:
        return t
    return movement.getitem(t, (slice(None), slice(None), slice(0, shape[2]), slice(0, shape[3])))


@differentiable("conv2d")
def conv2d(node: Tensor, g: Tensor) -> tuple[Tensor | None, ...]:
    """dx = conv_transpose2d(g, W) (its output_padding fitted to x), dW = ``weight_of(x, g)``, db = sum g."""
    x, weight, *bias = node._parents
    st, pd, dl, groups = (saved(node, n) for n in ("st", "pd", "dl", "groups"))
    out_pad = fit_padding(x.shape[2:], g.shape[2:], weight.shape[2:], st, pd, dl)
    grads = [conv.conv_transpose2d(g, weight, None, st, pd, out_pad, groups, dl) if x.requires_grad else None,
             weight_of(x, g, weight.shape[2:], st, pd, dl, groups) if weight.requires_grad else None]
    if bias:
        grads.append(reduce.sum(g, (0, 2, 3)) if bias[0].requires_grad else None)
    return tuple(grads)


@differentiable("conv_transpose2d")
def conv_transpose2d(node: Tensor, g: Tensor) -> tuple[Tensor | None, ...]:
    """dx = conv2d(g, W) (cropped to x: an output_padding may leave one more row), dW = ``weight_of(g, x)``."""
    x, weight, *bias = node._parents
    st, pd, dl, groups = (saved(node, n) for n in ("st", "pd", "dl", "groups"))
    gx = None
    if x.requires_grad:
        gx = crop(conv.conv2d(g, weight, None, st, pd, dl, groups), x.shape)
    grads = [gx, weight_of(g, x, weight.shape[2:], st, pd, dl, groups) if weight.requires_grad else None]
    if bias:
        grads.append(reduce.sum(g, (0, 2, 3)) if bias[0].requires_grad else None)
    return tuple(grads)


# ------------------------------------------------------------------------------ linear maps: index, pool, embed
def linear_map(t: Tensor, f: Callable[[Array], Array], adjoint: Callable[[Array], Array]) -> Tensor:
    """``f(t)`` for a linear map ``f`` of arrays whose adjoint (transpose) is ``adjoint``, recorded as
    ``_linear_map``: its backward is the adjoint, its differentiable backward the adjoint recorded the same way (so
    derivatives of any order work)."""
    maps = (f, adjoint)  # the backward keeps f too: the differentiable backward below maps by it again
    return record("_linear_map", f(t._data), (t,), lambda h: (maps[1](h),))


@differentiable("_linear_map")
def _linear_map(node: Tensor, h: Tensor) -> tuple[Tensor]:
    f, adjoint = saved(node, "maps")
    return (linear_map(h, adjoint, f),)


def first_order(node: Tensor) -> Callable[[Array], Array]:
    """The op's own first-order backward of its one parent, as a map of arrays."""
    backward = node._backward
    return lambda g: backward(g)[0]  # type: ignore[misc]


@differentiable("pad")
def pad(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (movement.getitem(g, saved(node, "inner")),)


@differentiable("gather")
def gather(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's gather_backward: g scatter-added at the index (a composite of g only); its adjoint is the gather."""
    mesh = saved(node, "mesh")
    return (linear_map(g, first_order(node), lambda h: h[mesh] if mesh else h.copy()),)


@differentiable("scatter_add", "scatter")
def scatter(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """torch's scatter / scatter_add backward (also ``scatter_add_``'s, recorded as its twin): the input's gradient
    is g (scatter: g with the written places zeroed, its own adjoint), the source's g gathered at the index into its
    leading block (adjoint: scatter-added back), so gradients of gradients through message passing (forces as
    -dE/dx of a GNN's energy) work."""
    a, s = node._parents
    mesh, lead = saved(node, "mesh"), saved(node, "taken")  # (taken: the source's block the index covers)
    ga = gs = None
    if a.requires_grad:
        if saved(node, "op") == "scatter_add":
            ga = g
        else:
            def unwritten(h: Array) -> Array:
                out = backend.get_array_module(h).array(h, copy=True)  # (an array: a 0-d h may be a numpy scalar)
                out[mesh] = 0
                return out
            ga = linear_map(g, unwritten, unwritten)
    if s.requires_grad:
        def pick(h: Array) -> Array:
            out = backend.get_array_module(h).zeros(s.shape, dtype=h.dtype)
            out[lead] = h[mesh].reshape(out[lead].shape)  # (an empty index may have another shape)
            return out

        def spread(k: Array) -> Array:
            full = backend.get_array_module(k).zeros(g.shape, dtype=k.dtype)
            if k[lead].size:  # (an empty index adds nothing)
                backend.scatter_add(full, mesh, k[lead])
            return full
        gs = linear_map(g, pick, spread)
    return ga, gs


@differentiable("index_add", "index_copy")
def index_slices(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """torch's index_add / index_copy backward (``index_add_`` / ``index_copy_`` too): the input's gradient is g
    (index_copy: g with the written slices zeroed), the source's g's slices at the index (times ``alpha``), whose
    adjoint adds them back at the index: the segment sums of message passing written with ``index_add_``."""
    from .ops.index import _at_least_1d

    a, source = node._parents
    key, d = saved(node, "key"), saved(node, "d")
    ga = gs = None
    if a.requires_grad:
        if node._op == "index_copy":
            def unwritten(h: Array) -> Array:
                out = backend.get_array_module(h).array(h)
                _at_least_1d(out)[key] = 0
                return out
            ga = linear_map(g, unwritten, unwritten)
        else:
            ga = g
    if source.requires_grad:
        shape = source.shape

        def pick(h: Array) -> Array:
            return backend.get_array_module(h).take(_at_least_1d(h), key[-1], axis=d).reshape(shape)

        def spread(k: Array) -> Array:
            full = backend.get_array_module(k).zeros(g.shape, dtype=k.dtype)
            wide = _at_least_1d(full)
            backend.scatter_add(wide, key, k.reshape(wide.shape[:d] + (key[-1].size,) + wide.shape[d + 1:]))
            return full
        gs = linear_map(g, pick, spread)
        if saved(node, "alpha", 1) != 1:
            gs = gs * saved(node, "scale").item()
    return ga, gs


@differentiable("index_put", "__setitem__")
def index_put(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """``index_put`` / ``x[idx] = v`` / ``x.index_put_(..., accumulate=True)``: the input's gradient is g (zero at
    the written places unless accumulating, its own adjoint), the value's g at the places, summed to its shape;
    the adjoint of that pick adds back at the places (any index form, through their flat positions; ``idx``: the
    keys of ``movement.torch_keys``)."""
    from .ops.movement import assign_with, index_with

    a, v = node._parents
    idx, target_shape = saved(node, "idx"), saved(node, "target_shape")
    ga = gv = None
    if a.requires_grad:
        if saved(node, "accumulate"):
            ga = g
        else:
            def unwritten(h: Array) -> Array:
                out = backend.get_array_module(h).array(h)
                assign_with(out, idx, 0)
                return out
            ga = linear_map(g, unwritten, unwritten)
    if v.requires_grad:
        def pick(h: Array) -> Array:
            return index_with(h, idx).reshape(target_shape)

        def spread(k: Array) -> Array:
            xp = backend.get_array_module(k)
            full = xp.zeros(g.shape, dtype=k.dtype)
            places = index_with(xp.arange(full.size).reshape(full.shape), idx)
            backend.scatter_at("add", full.reshape(-1), (places.reshape(-1),), k.reshape(-1))
            return full
        gv = sum_to(linear_map(g, pick, spread), v.shape)
    return ga, gv


@differentiable("scatter_reduce")
def scatter_reduce(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """scatter_reduce's backward for "sum", "mean", "amax" and "amin" (``scatter_reduce_`` too): linear in g, with
    the counts (mean) and the tie masks (amax / amin) held constant, as torch's double backward holds them; each
    gradient is the first-order map of g recorded with its adjoint. "prod" (whose gradient also moves with the
    values): see ``_scatter_prod``."""
    reduce = saved(node, "reduce")
    if reduce == "prod":
        return _scatter_prod(node, g)
    a, src = node._parents
    first = node._backward
    mesh, taken, a1, values, out = (saved(node, n) for n in ("mesh", "taken", "a1", "values", "out"))
    xp = backend.get_array_module(a1)
    with ew.ignore_fp_errors(xp):
        scale = xp.ones(a1.shape, dtype=g.dtype)  # what g is multiplied by in a's shape before the gather
        on_src = None
        if reduce == "mean":
            scale = scale / saved(node, "count")
        elif reduce in ("amax", "amin"):
            on_src = values == out[mesh]
            ties = (a1 == out).astype(g.dtype)
            backend.scatter_at("add", ties, mesh, on_src.astype(g.dtype))
            scale = scale / ties
    ga = gs = None
    if a.requires_grad:  # an elementwise map of g: its own adjoint
        ga = linear_map(g, lambda h: first(h)[0], lambda h: first(h)[0])
    if src.requires_grad:
        def spread(k: Array) -> Array:
            picked = k.reshape(saved(node, "s1").shape)[taken]
            if on_src is not None:
                picked = on_src * picked
            full = xp.zeros(a1.shape, dtype=k.dtype)
            backend.scatter_at("add", full, mesh, picked)
            return (full * scale).reshape(node.shape)
        gs = linear_map(g, lambda h: first(h)[1], spread)
    return ga, gs


def _scatter_prod(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """scatter_reduce(prod)'s backward as Tensor ops (torch's formula, as ``ops.index._prod_grads``): a's gradient
    g * (the product with a's zeros taken as 1) / a (zeros as 1); a value's g * out / itself, except the only zero
    reduced into a place, whose gradient is g times the product with it taken as 1. The zero masks are constants;
    the products are scatter_reduce(prod)s of the flattened tensors. Where several zeros meet in one place, the
    values' gradient raises when differentiated again (as torch's)."""
    from .ops.index import index_put as index_put_op
    from .ops.index import scatter_reduce as reduced

    a, src = node._parents
    mesh, taken, a1, values, s1 = (saved(node, n) for n in ("mesh", "taken", "a1", "values", "s1"))
    include_self, xp = saved(node, "include_self"), backend.get_array_module(a1)
    steps = [int(math.prod(a1.shape[d + 1:])) for d in range(a1.ndim)]
    flat = sum((m * st for m, st in zip(mesh, steps, strict=True)), xp.zeros(values.shape, dtype="int64"))
    places = constant(flat.reshape(-1))  # each reduced value's place in the flattened a

    def product(base: Tensor, vals: Tensor) -> Tensor:  # scatter_reduce(prod) of the flattened tensors, a1's shape
        return movement.reshape(reduced(movement.reshape(base, (-1,)), 0, places, movement.reshape(vals, (-1,)),
                                        "prod", include_self), a1.shape)

    def at_places(x: Tensor) -> Tensor:  # x (a1's shape) at each value's place: values' shape
        return movement.reshape(movement.getitem(movement.reshape(x, (-1,)), places), values.shape)

    g1, a_t = movement.reshape(g, a1.shape), movement.reshape(a, a1.shape)
    v_t = movement.getitem(movement.reshape(src, s1.shape), taken)
    ga = gs = None
    if a.requires_grad:
        a_ones = ew.where(constant(a1 == 0), 1, a_t)
        ga = g1 * product(a_ones, v_t) / a_ones
        if not include_self:  # a place reduced into leaves a's value out
            kept = xp.ones(a1.shape, dtype=g.dtype)
            kept[mesh] = 0
            ga = ga * constant(kept)
        ga = movement.reshape(ga, a.shape)
    if src.requires_grad:
        zero = values == 0
        zeros_at = xp.zeros(a1.shape, dtype="int64")
        backend.scatter_at("add", zeros_at, mesh, zero.astype("int64"))
        alone = constant(zero & (zeros_at[mesh] == 1))
        others = product(a_t, ew.where(alone, 1, v_t))
        gv = ew.where(alone, at_places(g1 * others), at_places(g1 * movement.reshape(node, a1.shape))
                      / ew.where(constant(zero), 1, v_t))
        if bool((zeros_at > 1).any()):
            gv = refused_again(gv, "differentiating scatter_reduce(reduce='prod') twice where several zeros of src "
                                   "meet in one place is not supported (as in torch)")
        size = int(math.prod(s1.shape))  # gv goes to each value's position in the flattened src, 0 elsewhere
        spots = constant(xp.arange(size).reshape(s1.shape)[taken].reshape(-1))
        gs = index_put_op(constant(xp.zeros(size, dtype=g.dtype)), (spots,), movement.reshape(gv, (-1,)))
        gs = movement.reshape(gs, src.shape)
    return ga, gs


def refused_again(x: Tensor, why: str) -> Tensor:
    """``x`` recorded so that a backward through it raises RuntimeError ``why`` (torch's DelayedError: a gradient
    that may be used, but not differentiated)."""
    def backward(h: Array) -> tuple[Array]:
        raise RuntimeError(why)
    return record("_refused_again", x._data, (x,), backward)


@differentiable("einsum")
def einsum(node: Tensor, g: Tensor) -> tuple[Tensor | None, ...]:
    """einsum's backward as einsums of Tensors: operand i's gradient is g contracted with the other operands (and
    ones for the letters only operand i holds) onto its letters, laid on the diagonal for a repeated letter, summed
    over its broadcast size-1 dims, as the first-order closure computes it."""
    from .ops.linalg import einsum as contract

    gradient = saved(node, "gradient")
    subs, out_sub, sizes = (saved(node, name, fn=gradient) for name in ("subs", "out_sub", "sizes"))
    grads: list[Tensor | None] = []
    for i, t in enumerate(node._parents):
        if not t.requires_grad:
            grads.append(None)
            continue
        terms = [(out_sub, g)] + [(s, p) for j, (s, p) in enumerate(zip(subs, node._parents)) if j != i]
        letters, held = "".join(dict.fromkeys(subs[i])), "".join(s for s, _ in terms)
        terms += [(c, constant(t.xp.ones(sizes[c], dtype=g.dtype))) for c in letters if c not in held]
        grad = contract(f"{','.join(s for s, _ in terms)}->{letters}", *(p for _, p in terms))
        if len(letters) < len(subs[i]):  # a repeated letter: on that diagonal, zeros elsewhere
            xp = t.xp
            diagonal = tuple(xp.arange(sizes[c]).reshape([-1 if d == c else 1 for d in letters]) for c in subs[i])
            full_shape = tuple(sizes[c] for c in subs[i])

            def place(h: Array, diagonal: tuple = diagonal, full_shape: tuple = full_shape) -> Array:
                full = backend.get_array_module(h).zeros(full_shape, dtype=h.dtype)
                full[diagonal] = h
                return full
            grad = linear_map(grad, place, lambda k, diagonal=diagonal: k[diagonal])
        grads.append(sum_to(grad, t.shape))
    return tuple(grads)


@differentiable("embedding")
def embedding(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """The dense embedding gradient (rows of g added at their indices, the padding row left out); its adjoint is
    the lookup again (torch's embedding_dense_double_backward). Sparse and scale_grad_by_freq ones raise."""
    if saved(node, "sparse") or saved(node, "scale_grad_by_freq"):
        raise NotImplementedError("double backward through embedding is not supported with sparse=True or "
                                  "scale_grad_by_freq=True; compute that part without create_graph=True")
    flat, pad_idx, shape = saved(node, "flat"), saved(node, "padding_idx"), g.shape

    def lookup(h: Array) -> Array:
        rows = h[flat]
        if pad_idx is not None:
            rows = backend.get_array_module(h).where((flat != pad_idx)[:, None], rows, h.dtype.type(0))
        return rows.reshape(shape)
    return (linear_map(g, first_order(node), lookup),)


@differentiable("avg_pool2d")
def avg_pool2d(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g / divisor spread over each window; its adjoint is the window sum / divisor (avg_pool2d again). As torch's
    avg_pool2d_backward, the result also depends on x with a zero derivative."""
    x = node._parents[0]
    k, st, pd, extra, divisor = (saved(node, n) for n in ("k", "st", "pd", "extra", "divisor"))

    def pool(h: Array) -> Array:
        return windows(pad_spatial(h, pd, 0.0, extra), k, st, g.shape[2:]).sum(axis=(0, 1)) / divisor
    return (linear_map(g, first_order(node), pool) + depends(x.xp.zeros((), g.dtype), x),)


@differentiable("max_pool2d")
def max_pool2d(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g added at each window's (first) maximum; its adjoint reads h at those maxima (torch's
    max_pool_double_backward); a zero derivative in x."""
    x = node._parents[0]
    first, k, st, pd, dl = (saved(node, n) for n in ("first", "k", "st", "pd", "dl"))
    hp, wp, extra = saved(node, "hp"), saved(node, "wp"), (saved(node, "hp") - x.shape[2] - 2 * pd[0],
                                                          saved(node, "wp") - x.shape[3] - 2 * pd[1])
    n, c, ho, wo = g.shape
    xp = x.xp
    offsets = (xp.arange(k[0] * k[1]) // k[1]) * (dl[0] * wp) + xp.arange(k[0] * k[1]) % k[1] * dl[1]
    corner = (xp.arange(n * c).reshape(n, c, 1, 1) * (hp * wp) + (xp.arange(ho) * (st[0] * wp))[:, None]
              + xp.arange(wo) * st[1])
    at = corner + offsets[first]  # each maximum's flat position in the padded input

    def read(h: Array) -> Array:
        return pad_spatial(h, pd, 0.0, extra).reshape(-1)[at]
    return (linear_map(g, first_order(node), read) + depends(xp.zeros((), g.dtype), x),)


# -------------------------------------------------------------------------------------------------------- losses
def element_grad(node: Tensor, g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """The gradient of each element loss (``shape``) from the loss's g: g itself, or g / n broadcast (reduced)."""
    n = saved(node, "n", None)
    return g if n is None else movement.broadcast_to(g / n, shape)


def loss_part(node: Tensor, name: str) -> object:
    """A value the loss's per-element ``grads`` closure captured (record_loss wraps it when reducing)."""
    return saved(node, name, fn=saved(node, "grads", node._backward))


@differentiable("nll_loss")
def nll_loss(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """-g at each row's target, 0 elsewhere; a zero derivative in the log-probabilities (nll_loss_backward's)."""
    lp, t, rows = node._parents[0], loss_part(node, "t"), loss_part(node, "rows")
    onehot = lp.xp.zeros(lp.shape, bool)
    onehot[rows, t] = True
    gl = movement.reshape(element_grad(node, g, (lp.shape[0],)), (-1, 1))
    return (ew.where(constant(onehot), -gl, 0) + depends(lp.xp.zeros((), g.dtype), lp),)  # torch: self's is 0


@differentiable("binary_cross_entropy_with_logits")
def bce_with_logits(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """torch's (sigmoid(z) - y) g for the logits and -z g for the targets."""
    z, y = node._parents
    gl = element_grad(node, g, z.shape)
    return ((ew.sigmoid(z) - y) * gl if z.requires_grad else None, -z * gl if y.requires_grad else None)


@differentiable("smooth_l1_loss", "huber_loss")
def smooth_l1(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """g d / beta (huber: g d) where |d| < beta, else g sgn(d) (huber: g delta sgn(d)), d = a - b; the second
    derivative is 1 / beta (1) strictly inside, 0 outside (torch's smooth_l1_loss_double_backward)."""
    a, b = node._parents
    beta, huber = loss_part(node, "beta"), node._op == "huber_loss"
    d = loss_part(node, "d")
    t = d.dtype.type
    inside = a.xp.abs(d) < beta
    with ew.ignore_fp_errors(a.xp):
        outside = a.xp.where(d < -beta, t(-beta if huber else -1), a.xp.where(d > beta, t(beta if huber else 1),
                                                                           d if huber else d / t(beta)))
    diff = a - b
    linear = only(inside, diff)
    slope = ew.where(constant(inside), linear if huber else linear / t(beta), times_zero(outside, diff))
    gd = element_grad(node, g, d.shape) * slope
    return (gd if a.requires_grad else None, -gd if b.requires_grad else None)


@differentiable("unfold")
def unfold(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """Tensor.unfold's and F.unfold's (im2col) backward: the windows added back into place, linear in g; its
    adjoint is the unfold itself, taken again of the incoming array."""
    blocks = saved(node, "blocks", None)
    if blocks is not None:  # F.unfold: im2col, backward col2im
        return (linear_map(g, first_order(node), lambda h: conv.im2col(h, blocks)),)
    d, where, x_shape = saved(node, "d"), saved(node, "where"), saved(node, "x").shape
    count, size, out_shape = saved(node, "count"), saved(node, "size"), tuple(node.shape)

    def windows_of(h: Array) -> Array:
        picked = h.reshape(x_shape)[(slice(None),) * d + (where,)]
        split = picked.reshape(x_shape[:d] + (count, size) + x_shape[d + 1:])
        return node.xp.moveaxis(split, d + 1, -1).reshape(out_shape)
    return (linear_map(g, first_order(node), windows_of),)


@differentiable("fold")
def fold(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """F.fold's (col2im) backward: im2col of g (N, C, H, W) -> (N, C*kh*kw, L), linear in g; its adjoint is the
    fold (col2im into the (H, W) output) again."""
    blocks, size = saved(node, "blocks"), tuple(node.shape[-2:])
    return (linear_map(g, first_order(node), lambda h: conv.col2im(h, size, blocks)),)


@differentiable("masked_select")
def masked_select(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """masked_select's backward (g put at the mask's places of a zero tensor, summed to the input's shape) is
    linear in g; its adjoint is the masked_select of the broadcast incoming array."""
    where, shape = saved(node, "where"), saved(node, "shape")
    return (linear_map(g, first_order(node), lambda h: node.xp.broadcast_to(h, shape)[where]),)


@differentiable("masked_scatter")
def masked_scatter(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """masked_scatter's backward: the input's gradient is g zeroed where the mask holds, the source's g at the
    mask's places in its first elements; both linear in g, each recorded with its adjoint."""
    a, source = node._parents
    where, count = saved(node, "where"), saved(node, "count")
    shape = where.shape
    backward = node._backward
    ga = gs = None
    if a.requires_grad:
        ga = linear_map(g, lambda h: backward(h)[0],  # type: ignore[misc]
                        lambda h: node.xp.where(where, 0, node.xp.broadcast_to(h, shape)))
    if source.requires_grad:
        def spread(h: Array) -> Array:
            full = node.xp.zeros(shape, dtype=h.dtype)
            full[where] = h.reshape(-1)[:count]
            return full
        gs = linear_map(g, lambda h: backward(h)[1], spread)  # type: ignore[misc]
    return ga, gs
