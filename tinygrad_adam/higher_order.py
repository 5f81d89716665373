"""Higher-order gradients: the backward pass run with ``create_graph=True``, so that it is itself recorded.

The first-order engine (``autograd.run_backward``) calls each node's closure on raw arrays and leaves no graph.
With ``create_graph=True`` it hands over to :func:`run_backward_graph`, which calls instead the node's
*differentiable backward*: a short function of Tensor ops, registered below by op name, that computes what the
op's closure computes, from what the op saved: its parents, its output (the node itself, which keeps its history,
as torch's saved outputs do) and attributes its closure captured (:func:`saved`). The gradients it returns are
Tensors with history (they require grad when anything they were computed from does), so they can be
differentiated again. An op without a differentiable backward raises NotImplementedError: never a missing term.
An in-place op that is not a twin (``F.leaky_relu(x, inplace=True)``, ``x.mul_(y)``: node ``leaky_relu_``, the op's
parents and closure) shares its op's formula only where that reads no output: the array was overwritten (``div_``
takes the quotient again from its inputs).
The nn ops' (activations, reductions, norms, convolutions, pools, losses) are in :mod:`higher_order_nn`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from . import anomaly, backend
from .autograd import (
    FREED,
    BackwardPass,
    _post_accumulate,
    _run_hooks,
    _run_node_hooks,
    enable_grad,
    freed_backward,
    needed_nodes,
    topological_order,
)
from .ops import elementwise as ew
from .ops import movement, reduce, unary
from .ops.activation import INV_SQRT_2PI, SQRT_2_OVER_PI
from .tensor import Array, Tensor, check_versions, constant, inplace_writes, record

DoubleBackward = Callable[[Tensor, Tensor], Sequence[Tensor | None]]
DIFFERENTIABLE: dict[str, DoubleBackward] = {}  # op name -> differentiable backward(node, g) -> one grad per parent


def differentiable(*ops: str) -> Callable[[DoubleBackward], DoubleBackward]:
    """Register the decorated ``backward(node, g)`` as the differentiable backward of ``ops``."""
    def register(fn: DoubleBackward) -> DoubleBackward:
        for op in ops:
            DIFFERENTIABLE[op] = fn
        return fn
    return register


def supported_ops() -> list[str]:
    """The ops that ``create_graph=True`` can differentiate through (the others raise)."""
    return sorted(op for op in DIFFERENTIABLE if not op.startswith("_"))


def saved(node: Tensor, name: str, default: Any = ..., fn: Any = None) -> Any:
    """The value named ``name`` that ``node``'s first-order backward closure (or the closure ``fn``) captured (an
    op's attribute: its axes, index, exponent...); ``default`` when the closure has none of that name (a fast path
    that did not need it)."""
    fn = node._backward if fn is None else fn
    names = getattr(getattr(fn, "__code__", None), "co_freevars", ())
    if name in names:
        return fn.__closure__[names.index(name)].cell_contents  # type: ignore[union-attr]
    if default is not ...:
        return default
    raise NotImplementedError(f"double backward through {node._op} is not supported here: its backward keeps no "
                              f"{name!r}; compute this part without create_graph=True")


# ---------------------------------------------------------------------------------------------------- the engine
def run_backward_graph(outputs: Sequence[Tensor], grads: Sequence[Tensor],
                       inputs: Sequence[Tensor] | None = None) -> dict[int, Tensor]:
    """``autograd.run_backward`` with Tensor gradients and recorded (differentiable) backwards.

    Without ``inputs``: accumulate into every reachable leaf's ``.grad`` (a Tensor with history); returns {}. With
    ``inputs``: only the part of the graph that leads to them runs and the result maps id(input) to its gradient.
    The graph is kept (as with ``retain_graph=True``): the new graph reads its nodes.
    """
    order = topological_order(outputs)
    pending: dict[int, Tensor] = {}
    for out, g in zip(outputs, grads):
        pending[id(out)] = g if id(out) not in pending else pending[id(out)] + g
    needed = None if inputs is None else needed_nodes(order, inputs)
    wanted = None if inputs is None else {id(t) for t in inputs}
    captured: dict[int, Tensor] = {}
    with BackwardPass(order, needed), enable_grad(), ew.ignore_fp_errors(outputs[0].xp):  # (torch's backward
        # never warns about inf or nan)
        for node in reversed(order):
            g = pending.pop(id(node), None)
            if g is None:
                continue
            if node._hooks and (needed is None or id(node) in needed):  # (only nodes leading to inputs run)
                g = _run_hooks(node, g)
            if wanted is not None:
                if id(node) in wanted:
                    captured[id(node)] = g
                if node._retains_grad and id(node) in needed:  # as torch's retain_grad hook
                    accumulate(node, g)
                if node._backward is not freed_backward and not any(id(p) in needed for p in node._parents):
                    continue
            elif node._backward is None:
                accumulate(node, g)
                continue
            elif node._retains_grad:
                accumulate(node, g)
            if node._backward is freed_backward:
                raise RuntimeError(FREED)
            if node._epoch != inplace_writes[0]:
                check_versions(node)
            backward = (getattr(node._backward, "graph", None)  # a custom Function's
                        or DIFFERENTIABLE.get(getattr(node._backward, "formula", ""))  # the op an in-place write ran
                        or DIFFERENTIABLE.get(node._op))
            if backward is None:
                raise NotImplementedError(
                    f"double backward through {node._op} is not supported; create_graph=True differentiates "
                    f"through {', '.join(supported_ops())}. Compute that part without create_graph=True")
            parent_grads = backward(node, g)
            if node._node_hooks:
                parent_grads = _run_node_hooks(node, parent_grads, g)
            if anomaly.checking:  # detect_anomaly: a NaN gradient raises here too, as torch's
                anomaly.check(node, [None if pg is None else pg._data for pg in parent_grads])
            for parent, pg in zip(node._parents, parent_grads):
                if pg is None or not parent.requires_grad:
                    continue
                if pg.dtype != parent.dtype:
                    pg = ew.astype(pg, parent.dtype)
                key = id(parent)
                pending[key] = pg if key not in pending else pending[key] + pg
    return captured


def accumulate(t: Tensor, g: Tensor) -> None:
    """Add ``g`` into ``t.grad`` as torch's AccumulateGrad does in grad mode: a clone first, a sum afterwards (both
    recorded), then the post-accumulate hooks of a leaf."""
    t._grad = movement.clone(g) if t._grad is None else t._grad + g
    if t._backward is None:
        for hook in t._post_accumulate_hooks:
            _post_accumulate(hook, t)


def root_tensors(outputs: Sequence[Tensor], grad_outputs: Sequence[Any], arrays: Sequence[Array]) -> list[Tensor]:
    """The engine's starting gradients as Tensors: a Tensor the caller gave stays itself (differentiating through
    it too, as torch's jvp trick does), cast to its output's dtype; anything else the checked ``arrays``."""
    return [(g if g.dtype == out.dtype else ew.astype(g, out.dtype)) if isinstance(g, Tensor) else constant(a)
            for out, g, a in zip(outputs, grad_outputs, arrays)]


# ------------------------------------------------------------------------------------------- helpers (Tensor ops)
def sum_to(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``unbroadcast`` as Tensor ops: sum ``g`` down to ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1)
    return movement.reshape(reduce.sum(g, axes, keepdims=True) if axes else g, shape)


def swap_last(t: Tensor) -> Tensor:
    """``t`` with its last two axes swapped (a matrix transpose over the batch)."""
    return movement.transpose(t, (*range(t.ndim - 2), t.ndim - 1, t.ndim - 2))


def masked(g: Tensor, factor: Array) -> Tensor:
    """``elementwise.masked`` as Tensor ops: g * factor, and 0 where factor is 0 even for an inf or nan g."""
    scaled = g if bool((factor == 1).all()) else g * constant(factor.astype(g.dtype))
    return ew.where(constant(factor != 0), scaled, 0)


def depends(value: Array, on: Tensor) -> Tensor:
    """``value`` as a Tensor that depends on ``on`` with a zero derivative (torch's sign, or a mask from a
    comparison inside a backward formula): so a gradient built from it requires grad as torch's does."""
    return record("_zero_derivative", value, (on,), lambda h: (on.xp.zeros(on.shape, h.dtype),))


@differentiable("_zero_derivative")
def _zero_derivative(node: Tensor, g: Tensor) -> tuple[Tensor]:
    (on,) = node._parents
    return (constant(on.xp.zeros(on.shape, g.dtype)),)


@differentiable("copy_")
def copy_(node: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
    """A value written over a tensor it does not depend on (``ops.inplace._keep_edge``): g for the value, a zero
    gradient for the tensor's previous value."""
    _, previous = node._parents
    return g, constant(previous.xp.zeros(previous.shape, g.dtype))


# --------------------------------------------------------------------------------------------------- arithmetic
@differentiable("add", "add_", "sub", "sub_")
def add(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """g for a; g, -g, or with ``alpha`` (``binary.add_scaled``, which sub calls with -alpha) g alpha for b."""
    a, b = node._parents
    alpha = saved(node, "alpha", None)
    gb = (g if node._op.startswith("add") else -g) if alpha is None else g * alpha
    return sum_to(g, a.shape) if a.requires_grad else None, sum_to(gb, b.shape) if b.requires_grad else None


@differentiable("mul", "mul_")
def mul(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    a, b = node._parents
    return (sum_to(g * b, a.shape) if a.requires_grad else None,
            sum_to(g * a, b.shape) if b.requires_grad else None)


@differentiable("div")
def div(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:  # g / b and -g (a / b) / b
    a, b = node._parents
    return (sum_to(g / b, a.shape) if a.requires_grad else None,
            sum_to(-g * (node / b), b.shape) if b.requires_grad else None)


@differentiable("div_")
def div_(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """``x.div_(y)`` (``x /= y``): div's formula with the quotient taken again from the inputs (x's array, the
    output, was overwritten)."""
    a, b = node._parents
    return (sum_to(g / b, a.shape) if a.requires_grad else None,
            sum_to(-g * (a / b / b), b.shape) if b.requires_grad else None)


@differentiable("neg")
def neg(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (-g,)


@differentiable("pow")
def pow(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:  # noqa: A001
    """torch's pow_backward: a number exponent e gives g (e a^(e-1)) (zeros for e = 0); a tensor one b gives
    g (b a^(b-1)) (0 where b == 0) for a and g (a^b log a) (0 where a == 0 and b >= 0) for b."""
    return _pow_grads(node, g, node)


@differentiable("pow_")
def pow_(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """``x.pow_(y)``: pow's formula with a^b taken again from the inputs (x's array, the output, was overwritten)."""
    a, b = node._parents
    return _pow_grads(node, g, ew.pow(a, b) if b.requires_grad else None)


def _pow_grads(node: Tensor, g: Tensor, power: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
    """pow's gradients, ``power`` standing for a^b (read only for a tensor exponent that requires grad)."""
    a, b = node._parents
    exponent = saved(node, "exponent")
    ga = gb = None
    if a.requires_grad:
        if exponent is None:
            ga = ew.where(constant(b._data == 0), 0, g * (b * ew.pow(a, b - 1)))
        elif exponent == 0:
            ga = constant(a.xp.zeros(a.shape, g.dtype))
        else:
            ga = g * (exponent * ew.pow(a, exponent - 1))
        ga = sum_to(ga, a.shape)
    if b.requires_grad:
        gb = sum_to(g * ew.where(constant((a._data == 0) & (b._data >= 0)), 0, power * ew.log(a)), b.shape)
    return ga, gb


@differentiable("astype")
def astype(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (ew.astype(g, node._parents[0].dtype),)


@differentiable("clone")
def clone(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g,)


# ------------------------------------------------------------------------------------------------ unary math
@differentiable("exp")
def exp(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g * node,)


@differentiable("log")
def log(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g / node._parents[0],)


@differentiable("sqrt")
def sqrt(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g / (2 * node),)


@differentiable("tanh")
def tanh(node: Tensor, g: Tensor) -> tuple[Tensor]:
    if node.dtype == "float16":  # in float32, rounded once (the first-order backward's, as torch's kernel)
        y = ew.astype(node, "float32")
        return (ew.astype(ew.astype(g, "float32") * (1 - y * y), "float16"),)
    return (g * (1 - node * node),)


@differentiable("sigmoid")
def sigmoid(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g * node * (1 - node),)


@differentiable("sin")
def sin(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g * unary.cos(node._parents[0]),)


@differentiable("cos")
def cos(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (-g * unary.sin(node._parents[0]),)


@differentiable("relu", "relu_")
def relu(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's threshold_backward(g, result, 0): g where x > 0 (or x is nan), else 0; a zero derivative in x."""
    x = node._parents[0]
    return (ew.where(constant(~(x._data <= 0)), g, depends(x.xp.zeros((), g.dtype), node)),)


@differentiable("abs")
def abs(node: Tensor, g: Tensor) -> tuple[Tensor]:  # noqa: A001
    """g * sgn(x), sgn(nan) = 0, as torch; sgn has a zero derivative."""
    x = node._parents[0]
    sign = (x._data > 0).astype(g.dtype)
    sign -= x._data < 0
    return (g * depends(sign, x),)


@differentiable("maximum", "minimum")
def select(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """g to the winner, g/2 to each on a tie, g to both where one is nan (elementwise._select's rule)."""
    a, b = node._parents
    a_loses = saved(node, "a_loses")
    half = (a._data == b._data).astype(g.dtype)
    half *= -0.5
    half += 1
    return (sum_to(masked(g, half * ~a_loses(a._data, b._data)), a.shape) if a.requires_grad else None,
            sum_to(masked(g, half * ~a_loses(b._data, a._data)), b.shape) if b.requires_grad else None)


@differentiable("where")
def where(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    a, b = node._parents
    c = constant(saved(node, "c"))
    return (sum_to(ew.where(c, g, 0), a.shape) if a.requires_grad else None,
            sum_to(ew.where(c, 0, g), b.shape) if b.requires_grad else None)


# -------------------------------------------------------------------------------------------------- activations
@differentiable("softplus")
def softplus(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g exp(beta x) / (exp(beta x) + 1), and g where beta x > threshold or exp(beta x) overflows (torch's
    softplus_backward, as the first-order ``elementwise.exp_ratio``)."""
    x, beta, linear = node._parents[0], saved(node, "beta"), saved(node, "linear")
    bx = x * beta if beta != 1 else x
    with ew.ignore_overflow(bx.xp):
        one = bx.xp.exp(bx._data) == bx.xp.inf
    mask = constant(one if linear is None else one | linear)
    z = ew.exp(ew.where(mask, 0, bx))  # finite everywhere: no inf * 0 in the second derivative
    slope = ew.where(mask, 1, z / (z + 1))
    threshold = saved(node, "threshold", None)
    if threshold is not None:  # torch's double backward is 0 where beta x == threshold (the slope there is not 1)
        edge = bx._data == threshold
        if edge.any():
            slope = ew.where(constant(edge), slope.detach(), slope)
    return (g * slope,)


@differentiable("silu", "silu_")
def silu(node: Tensor, g: Tensor) -> tuple[Tensor]:
    x = node._parents[0]
    s = ew.sigmoid(x)
    return (g * s * (1 + x * (1 - s)),)


@differentiable("gelu")
def gelu(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """gelu's first-order gradient, recorded as ``_gelu_backward`` of (g, x), whose own backward is torch's
    gelu_double_backward (it is not differentiable again: a third derivative through gelu raises)."""
    first_order, x = node._backward, node._parents[0]
    tanh_form = saved(node, "th", None) is not None

    def backward(h: Array) -> tuple[Array, Array]:  # d/dg: gelu's gradient again; d/dx: h g gelu''(x)
        with ew.ignore_fp_errors(x.xp):
            return first_order(h)[0], h * g._data * gelu_second_derivative(x._data, tanh_form)  # type: ignore[misc]
    return (record("_gelu_backward", first_order(g._data)[0], (g, x), backward),)  # type: ignore[misc]


def gelu_second_derivative(x: Array, tanh_form: bool) -> Array:
    """gelu''(x), grouped as torch's gelu_double_backward: exact (2 - x^2) phi(x); tanh form f'gh + f'gh + g'fh +
    h'fg of f = x / 2, g = 1 - tanh(u)^2, h = du/dx, u = c (x + 0.044715 x^3)."""
    xp = backend.get_array_module(x)
    if not tanh_form:
        square = x * x
        pdf = INV_SQRT_2PI * xp.exp(-0.5 * square)
        return 2 * pdf - square * pdf
    inner = SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)
    th, sech = xp.tanh(inner), 1 / xp.cosh(inner)
    f, g, h = 0.5 * x, 1 - th * th, SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
    f_prime_gh = 0.5 * g * h
    return f_prime_gh + f_prime_gh + f * h * ((2 * sech) * (-sech * th) * h) + f * g * (6 * 0.044715 * x *
                                                                                         SQRT_2_OVER_PI)


@differentiable("log_softmax")
def log_softmax(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: g - exp(out) sum(g)
    return (g - ew.exp(node) * reduce.sum(g, saved(node, "axes"), keepdims=True),)


@differentiable("softmax")
def softmax(node: Tensor, g: Tensor) -> tuple[Tensor]:  # out (g - sum(g out)); the fast path is over the last axis
    axes = saved(node, "axes", (node.ndim - 1,))
    return (node * (g - reduce.sum(g * node, axes, keepdims=True)),)


@differentiable("cross_entropy")
def cross_entropy(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """The fused softmax cross-entropy of logits (N, C) and class indices t (loss.cross_entropy): (p - onehot(t)) gl,
    p = softmax(x) taken as exp(log_softmax(x)) as torch's log_softmax backward does, gl each row's loss gradient
    (g / n broadcast over the rows when reduced); an inf gl gives torch's inf - inf = nan at the target only."""
    logits = node._parents[0]
    grads = saved(node, "grads", node._backward)  # reduced: the outer closure scales g and calls ``grads``
    rows, t = saved(node, "rows", fn=grads), saved(node, "t", fn=grads)
    n = saved(node, "n", None)
    gl = movement.reshape(g if n is None else movement.broadcast_to(g / n, (logits.shape[0],)), (-1, 1))
    onehot = logits.xp.zeros(logits.shape, bool)
    onehot[rows, t] = True
    p_gl = ew.exp(reduce.log_softmax(logits, 1)) * gl
    return (ew.where(constant(onehot), p_gl - gl, p_gl),)


# ------------------------------------------------------------------------------------------------- linear algebra
@differentiable("matmul")
def matmul(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """g b^T and a^T g, 1-D operands taken as a row / a column, batch dims summed back (linalg.matmul's rule)."""
    a, b = node._parents
    a2 = a if a.ndim > 1 else movement.reshape(a, (1, a.shape[0]))
    b2 = b if b.ndim > 1 else movement.reshape(b, (b.shape[0], 1))
    batch = ew.broadcast_shape("matmul", a2.shape[:-2], b2.shape[:-2])
    g2 = movement.reshape(g, batch + (a2.shape[-2], b2.shape[-1]))
    return (movement.reshape(sum_to(g2 @ swap_last(b2), a2.shape), a.shape) if a.requires_grad else None,
            movement.reshape(sum_to(swap_last(a2) @ g2, b2.shape), b.shape) if b.requires_grad else None)


@differentiable("linear")
def linear(node: Tensor, g: Tensor) -> tuple[Tensor | None, ...]:
    """x W^T + b: g W, g^T x and the batch sum of g."""
    x, weight, *bias = node._parents
    out_f, in_f = weight.shape
    rows = math.prod(x.shape[:-1])
    g2 = movement.reshape(g, (rows, out_f))
    grads = [movement.reshape(g2 @ weight, x.shape) if x.requires_grad else None,
             swap_last(g2) @ movement.reshape(x, (rows, in_f)) if weight.requires_grad else None]
    if bias:
        grads.append(reduce.sum(g2, 0) if bias[0].requires_grad else None)
    return tuple(grads)


# ------------------------------------------------------------------------------------------ reductions, movement
@differentiable("sum", "mean")
def sum_mean(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g broadcast back over the reduced axes (divided by their size for a mean)."""
    a, axes = node._parents[0], saved(node, "axes")
    if not saved(node, "keepdims"):
        g = movement.reshape(g, tuple(1 if i in axes else n for i, n in enumerate(a.shape)))
    if node._op == "mean":
        g = g / saved(node, "n")
    return (movement.broadcast_to(g, a.shape),)


@differentiable("reshape")
def reshape(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (movement.reshape(g, node._parents[0].shape),)


@differentiable("transpose")
def transpose(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (movement.transpose(g, saved(node, "inverse")),)


@differentiable("broadcast_to")
def broadcast_to(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (sum_to(g, node._parents[0].shape),)


@differentiable("repeat")
def repeat(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """The tiles of g summed: g seen as (r0, n0, r1, n1, ...), summed over the r axes."""
    tiles = saved(node, "tiles")
    if 0 in tiles[::2]:  # a repeat size 0: zeros outside the graph, as torch's
        return (constant(g.xp.zeros(node._parents[0].shape, g.dtype)),)
    summed = reduce.sum(movement.reshape(g, tiles), tuple(range(0, len(tiles), 2)))
    return (movement.reshape(summed, node._parents[0].shape),)


@differentiable("concatenate")
def concatenate(node: Tensor, g: Tensor) -> list[Tensor | None]:
    ax, spans = saved(node, "ax"), saved(node, "spans")
    return [None if not p.requires_grad else constant(g.xp.zeros((0,), g.dtype)) if s is None
            else movement.getitem(g, (slice(None),) * ax + (s,)) for p, s in zip(node._parents, spans)]


@differentiable("getitem")
def getitem(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """``g`` placed at the index in zeros of the input's shape (added up where an index repeats): recorded as the
    op ``_getitem_backward``, whose own backward is the indexing again."""
    first_order = node._backward
    index = saved(node, "index")
    return (record("_getitem_backward", first_order(g._data)[0], (g,),  # type: ignore[misc]
                   lambda h: (movement.getitem(constant(h), index)._data,)),)


@differentiable("_getitem_backward")
def getitem_backward(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (movement.getitem(g, saved(node, "index")),)


# register the other ops' differentiable backwards
from . import higher_order_linalg, higher_order_more, higher_order_nn, higher_order_tail  # noqa: E402,F401
