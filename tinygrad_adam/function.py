"""Custom differentiable operations, as ``torch.autograd.Function``: write ``forward`` and ``backward``, call
``apply``.

    class Exp(tinygrad_adam.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_y):
            (y,) = ctx.saved_tensors
            return grad_y * y

    y = Exp.apply(x)

``forward`` runs without recording a graph; ``apply`` records one node whose backward calls ``backward`` (also
without a graph: these functions are differentiable once). Several outputs share one hidden node, so
``backward`` is called once with a gradient for each output (zeros for an output that got none, unless
``ctx.set_materialize_grads(False)``, which passes None). torch's newer form, a ``forward`` without ``ctx`` and a
``setup_context(ctx, inputs, output)``, works too.
"""

from __future__ import annotations

from typing import Any

from . import backend
from .autograd import is_grad_enabled, no_grad
from .ops.elementwise import broadcast_shape, unbroadcast
from .tensor import Array, Tensor, constant, record


class FunctionCtx:
    """What ``forward`` and ``backward`` share: ``save_for_backward``, ``saved_tensors``, ``needs_input_grad``,
    ``mark_non_differentiable``, ``set_materialize_grads``, and any attribute you set."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self.to_save: tuple[Any, ...] = ()
        self.non_differentiable: set[int] = set()
        self.materialize_grads = True

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save Tensors or None, got a {type(t).__name__} at "
                                f"position {i}; keep other values as attributes of ctx")
        self.to_save = tensors

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        return self.to_save

    def mark_non_differentiable(self, *outputs: Tensor) -> None:
        self.non_differentiable.update(id(t) for t in outputs)

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors: Tensor) -> None:
        raise NotImplementedError("mark_dirty: a custom Function that writes into its inputs is not supported; "
                                  "return a new tensor from forward instead")


class Function:
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)``; call ``apply(*args)``.
    ``backward`` returns one gradient (a Tensor of that input's shape, or broadcastable to it) or None per
    argument of ``forward``."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a custom Function must define a static forward")

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        raise NotImplementedError("a custom Function must define a static backward")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        ctx = FunctionCtx(tuple(isinstance(a, Tensor) and a.requires_grad for a in args))
        with no_grad():
            if hasattr(cls, "setup_context"):  # torch's newer form: forward(*args), then setup_context
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)  # type: ignore[attr-defined]
            else:
                output = cls.forward(ctx, *args, **kwargs)
        parents = tuple(a for a in args if isinstance(a, Tensor))
        outputs = output if isinstance(output, tuple) else (output,)
        if not (is_grad_enabled() and any(ctx.needs_input_grad)):
            return output
        wrapped = _record(cls, ctx, args, parents, outputs)
        return wrapped if isinstance(output, tuple) else wrapped[0]


def _record(cls: type[Function], ctx: FunctionCtx, args: tuple[Any, ...], parents: tuple[Tensor, ...],
            outputs: tuple[Any, ...]) -> tuple[Any, ...]:
    """The outputs as graph nodes. One output is one node; several are pieces of one hidden node (their data laid
    end to end), so that ``cls.backward`` runs once, with every output's gradient."""
    name = f"{cls.__name__}Backward"
    slots = [i for i, o in enumerate(outputs)
             if isinstance(o, Tensor) and o.dtype.kind in "fc" and id(o) not in ctx.non_differentiable]
    wrapped = [constant(o._data) if isinstance(o, Tensor) else o for o in outputs]
    if not slots:
        return tuple(wrapped)
    if len(outputs) == 1:
        wrapped[0] = record(name, outputs[0]._data, parents, lambda g: _input_grads(cls, ctx, args, name, [Tensor(g)]))
        return tuple(wrapped)
    xp = outputs[slots[0]].xp
    joint = xp.concatenate([outputs[i]._data.ravel().astype(xp.result_type(*(outputs[j].dtype for j in slots)))
                            for i in slots])
    ends = [0]
    for i in slots:
        ends.append(ends[-1] + outputs[i]._data.size)
    received = set()

    def backward(g: Array) -> tuple[Array | None, ...]:
        grads: list[Tensor | None] = [None] * len(outputs)
        for k, i in enumerate(slots):
            if i in received or ctx.materialize_grads:
                grads[i] = Tensor(g[ends[k]:ends[k + 1]].reshape(outputs[i].shape).astype(outputs[i].dtype))
        return _input_grads(cls, ctx, args, name, grads)

    hidden = record(name, joint, parents, backward)
    for k, i in enumerate(slots):
        wrapped[i] = record(name, outputs[i]._data, (hidden,), _piece(i, ends[k], ends[k + 1], joint, received))
    return tuple(wrapped)


def _piece(i: int, start: int, stop: int, joint: Array, received: set[int]) -> Any:
    """The backward of output ``i``: its gradient placed in the hidden node's (zeros elsewhere)."""
    def backward(g: Array) -> tuple[Array]:
        received.add(i)
        out = backend.get_array_module(joint).zeros_like(joint)
        out[start:stop] = g.ravel()
        return (out,)
    return backward


def _input_grads(cls: type[Function], ctx: FunctionCtx, args: tuple[Any, ...], name: str,
                 grads: list[Tensor | None]) -> tuple[Array | None, ...]:
    """``cls.backward`` on the output gradients, checked as torch checks it: one result per argument of forward,
    None for the non-Tensor ones, each of its input's shape (or broadcastable to it: then summed down)."""
    with no_grad():
        result = cls.backward(ctx, *grads)
    result = result if isinstance(result, tuple) else (result,)
    if len(result) != len(args):
        raise RuntimeError(f"function {name} returned an incorrect number of gradients (expected {len(args)}, "
                           f"got {len(result)})")
    out: list[Array | None] = []
    for i, (a, r) in enumerate(zip(args, result)):
        if not isinstance(a, Tensor):
            if r is not None:
                raise RuntimeError(f"function {name} returned a gradient different than None at position {i}, but "
                                   f"the corresponding forward input was not a Tensor")
            continue
        if r is not None and not isinstance(r, Tensor):
            raise TypeError(f"function {name} returned a {type(r).__name__} as the gradient at position {i}; return "
                            f"a Tensor or None")
        if r is None or not a.requires_grad:
            out.append(None)
            continue
        if r.shape != a.shape:
            if not _expands_to(a.shape, r.shape):
                raise RuntimeError(f"function {name} returned an invalid gradient at index {i} - got shape "
                                   f"{r.shape} but expected shape compatible with {a.shape}")
            r = Tensor(unbroadcast(r._data, a.shape))
        out.append(r._data)
    return tuple(out)


def _expands_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts to ``target`` (so a gradient of ``target``'s shape sums down to it)."""
    try:
        return broadcast_shape("backward", shape, target) == target
    except ValueError:
        return False
