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

``forward`` runs without recording a graph; ``apply`` records one node whose backward calls ``backward``. Several
outputs share one hidden node, so ``backward`` is called once with a gradient for each output (zeros for an output
that got none, unless ``ctx.set_materialize_grads(False)``, which passes None). torch's newer form, a ``forward``
without ``ctx`` and a ``setup_context(ctx, inputs, output)``, works too.

Under ``create_graph=True`` (double backward, as torch): ``backward`` runs in grad mode on gradients that have a
history, and ``ctx.saved_tensors`` gives a saved output as the recorded output (a saved input is the input itself),
so what ``backward`` computes with Tensor ops is differentiated again; a tensor forward made and saved is a
constant there, as in torch. A ``backward`` marked ``@once_differentiable`` runs without a graph, and
differentiating its result again raises.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable
from typing import Any

from . import backend
from .autograd import HookResultError, enable_grad, is_grad_enabled, no_grad
from .higher_order import sum_to
from .ops import elementwise as ew
from .ops import movement
from .ops.elementwise import broadcast_shape
from .ops.inplace import _become, _snapshot
from .tensor import Array, Tensor, bump_version, constant, record, version_box

ONCE = "trying to differentiate twice a function that was marked with @once_differentiable"


class FunctionCtx:
    """What ``forward`` and ``backward`` share: ``save_for_backward``, ``saved_tensors``, ``needs_input_grad``,
    ``mark_non_differentiable``, ``set_materialize_grads``, and any attribute you set."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self.to_save: tuple[Any, ...] = ()
        self.saved_versions: list[tuple[list[int], int]] = []  # (version counter, count) of each saved tensor
        self.dirty_tensors: tuple[Tensor, ...] = ()
        self.non_differentiable: set[int] = set()
        self.materialize_grads = True
        self.recorded: dict[int, Callable[[], Tensor | None]] = {}  # id(forward's output) -> its recorded node
        self.in_graph = False  # True while backward runs under create_graph=True

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep Tensors (sparse COO matrices too, as torch) or None for ``backward``'s ``saved_tensors``."""
        from .sparse import SparseCOOTensor

        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, (Tensor, SparseCOOTensor)):
                raise TypeError(f"save_for_backward can only save Tensors or None, got a {type(t).__name__} at "
                                f"position {i}; keep other values as attributes of ctx")
        self.to_save = tensors
        from .autograd import graph  # torch.autograd.graph.saved_tensors_hooks: packed now, unpacked when read

        hooks = graph.current_hooks()
        if hooks is not None:
            self._packed = (hooks[1], tuple(None if t is None else hooks[0](t) for t in tensors))

    def save_for_forward(self, *tensors: Tensor | None) -> None:
        """Keep Tensors (or None) for a ``jvp`` staticmethod, as torch. Our forward mode (``func.jvp``) runs
        through ``backward`` twice instead of calling ``jvp``, so they are kept but not read here."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_forward takes Tensors or None; position {i} holds a "
                                f"{type(t).__name__} (keep other values as attributes of ctx)")
        self.saved_for_forward = tensors

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        for box, count in self.saved_versions:
            if box[1] != count:
                raise RuntimeError("a tensor saved by save_for_backward was modified by an in-place operation after "
                                   "the custom Function ran; compute the update out of place (x = x + y) or do it "
                                   "after backward()")
        if not self.in_graph:
            packed = getattr(self, "_packed", None)
            return self.to_save if packed is None else tuple(None if p is None else packed[0](p) for p in packed[1])
        return tuple(t if t is None or id(t) not in self.recorded else _alive(self.recorded[id(t)]())
                     for t in self.to_save)

    def mark_non_differentiable(self, *outputs: Tensor) -> None:
        self.non_differentiable.update(id(t) for t in outputs)

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors: Tensor) -> None:
        """Declare inputs that ``forward`` wrote into in place (and returns): each becomes that output, recorded
        as the Function's, as torch's."""
        self.dirty_tensors = tensors


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
        if hasattr(cls, "setup_context"):  # forward's defaults and keywords become inputs, as torch's
            args, kwargs = _bound_inputs(cls.forward, args, kwargs), {}
        ctx = FunctionCtx(tuple(isinstance(a, Tensor) and a.requires_grad for a in args))
        with no_grad():
            if hasattr(cls, "setup_context"):  # torch's newer form: forward(*args), then setup_context
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)  # type: ignore[attr-defined]
            else:
                output = cls.forward(ctx, *args, **kwargs)
        outputs = output if isinstance(output, tuple) else (output,)
        for t in ctx.dirty_tensors:  # forward wrote into them: ops recorded before that read them now raise
            bump_version(t)
        if not (is_grad_enabled() and any(ctx.needs_input_grad)):
            return output
        args, dirty = _rebase_dirty(ctx, args, outputs)
        wrapped = list(_record(cls, ctx, args, tuple(a for a in args if isinstance(a, Tensor)), outputs))
        for i, (t, prior) in dirty.items():  # the written input is the output, its history the Function's
            if isinstance(wrapped[i], Tensor) and wrapped[i].requires_grad:
                _become(t, wrapped[i], wrapped[i]._op, prior)
            wrapped[i] = t
            ctx.recorded[id(t)] = weakref.ref(t)
        ctx.saved_versions = _saved_versions(ctx, {id(o): w for o, w in zip(outputs, wrapped) if isinstance(o, Tensor)})
        for w in wrapped:  # an output that is a view of an input: an in-place write into it would bypass backward
            if isinstance(w, Tensor) and w.requires_grad and w._base is not None and id(w) not in ctx.recorded:
                w._made_by_function = cls.__name__  # (ops.inplace refuses it, as torch)
        return tuple(wrapped) if isinstance(output, tuple) else wrapped[0]


@functools.lru_cache(maxsize=256)
def _signature(forward: Callable[..., Any]) -> tuple[inspect.Signature, int]:
    """``forward``'s signature and how many plain positional parameters it has (-1 with ``*args`` or keyword-only
    ones: every call is bound)."""
    sig = inspect.signature(forward)
    kinds = [p.kind for p in sig.parameters.values()]
    plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    bound = inspect.Parameter.VAR_POSITIONAL in kinds or inspect.Parameter.KEYWORD_ONLY in kinds
    return sig, (-1 if bound else sum(k in plain for k in kinds))


def _bound_inputs(forward: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The inputs of a ``setup_context`` Function as torch hands them to ``forward`` and ``setup_context``: keyword
    arguments put in their positions and omitted defaults filled in."""
    sig, plain = _signature(forward)
    if not kwargs and len(args) == plain:  # (the common call: every input given by position)
        return args
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    if bound.kwargs:  # (keyword-only inputs have no position to take; torch refuses them too)
        raise TypeError(f"{forward.__qualname__}: a Function with setup_context takes its inputs by position or "
                        f"name, not keyword-only ({', '.join(bound.kwargs)})")
    return bound.args


def _rebase_dirty(ctx: FunctionCtx, args: tuple[Any, ...],
                  outputs: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[int, tuple[Tensor, Tensor]]]:
    """The arguments with each input ``ctx.mark_dirty`` named replaced by a tensor standing for its graph before
    forward wrote into it; {output position: (that input, its stand-in)}. Checked as torch: a dirty tensor must be
    returned, and must not be a leaf that requires grad."""
    if not ctx.dirty_tensors:
        return args, {}
    dirty: dict[int, tuple[Tensor, Tensor]] = {}
    for t in ctx.dirty_tensors:
        where = [i for i, o in enumerate(outputs) if o is t]
        if not where:
            raise RuntimeError("mark_dirty: a tensor marked dirty in forward was not returned as an output; return "
                               "each input forward writes into")
        if t.requires_grad and t.is_leaf:
            raise RuntimeError("a leaf tensor that requires grad was written in place by a custom Function "
                               "(mark_dirty); clone it first, or call it inside `with no_grad():`")
        if t._base is not None and t._base.requires_grad:
            raise NotImplementedError("mark_dirty on a view of a tensor in a graph is not supported; pass the "
                                      "tensor it views, or a clone of the view")
        dirty[where[0]] = (t, _snapshot(t))
    stand_in = {id(t): prior for t, prior in dirty.values()}
    return tuple(stand_in.get(id(a), a) for a in args), dirty


def _record(cls: type[Function], ctx: FunctionCtx, args: tuple[Any, ...], parents: tuple[Tensor, ...],
            outputs: tuple[Any, ...]) -> tuple[Any, ...]:
    """The outputs as graph nodes. One output is one node; several are pieces of one hidden node (their data laid
    end to end), so that ``cls.backward`` runs once, with every output's gradient. Each node's backward carries a
    ``graph`` twin for ``create_graph=True`` (see ``higher_order.run_backward_graph``)."""
    name = f"{cls.__name__}Backward"
    slots = [i for i, o in enumerate(outputs)
             if isinstance(o, Tensor) and o.dtype.kind in "fc" and id(o) not in ctx.non_differentiable]
    wrapped = [constant(o._data) if isinstance(o, Tensor) else o for o in outputs]
    if not slots:
        return tuple(wrapped)
    if len(outputs) == 1:
        def backward(g: Array) -> tuple[Array | None, ...]:
            return _arrays(_input_grads(cls, ctx, args, name, [constant(g)]), ctx, args)
        backward.graph = lambda node, g: _input_grads(cls, ctx, args, name, [g], graph=True)  # type: ignore[attr-defined]
        wrapped[0] = record(name, outputs[0]._data, parents, _checks_saved(backward))
        _remember(ctx, args, outputs[0], wrapped[0])
        return tuple(wrapped)
    xp = outputs[slots[0]].xp
    joint = xp.concatenate([outputs[i]._data.ravel().astype(xp.result_type(*(outputs[j].dtype for j in slots)))
                            for i in slots])
    ends = [0]
    for i in slots:
        ends.append(ends[-1] + outputs[i]._data.size)
    received: set[int] = set()

    def split(g: Tensor, graph: bool = False) -> tuple[Any, ...]:
        """The hidden node's gradient cut into the outputs' (None for one that got none, unless materialized)."""
        grads: list[Tensor | None] = [None] * len(outputs)
        for k, i in enumerate(slots):
            if i in received or ctx.materialize_grads:
                grads[i] = ew.astype(movement.reshape(g[ends[k]:ends[k + 1]], outputs[i].shape), outputs[i].dtype)
        if ctx.materialize_grads:  # a non-differentiable output (an integer one, or marked) gets zeros, as torch
            for i, o in enumerate(outputs):
                if grads[i] is None and isinstance(o, Tensor):
                    grads[i] = constant(o.xp.zeros_like(o._data))
        return _input_grads(cls, ctx, args, name, grads, graph)

    hidden = record(name, joint, parents, _checks_saved(lambda g: _arrays(split(constant(g)), ctx, args)))
    hidden._backward.graph = lambda node, g: split(g, graph=True)  # type: ignore[union-attr]
    for k, i in enumerate(slots):
        piece = _checks_saved(_piece(i, ends[k], ends[k + 1], joint, received))
        wrapped[i] = record(name, outputs[i]._data, (hidden,), piece)
        _remember(ctx, args, outputs[i], wrapped[i])
    return tuple(wrapped)


def _checks_saved(backward: Any) -> Any:
    """Mark a Function node's ``backward`` as reading no input or output array of its own (``tensor.reads_input``,
    ``saves_output``): ``ctx.saved_tensors`` checks the tensors ``save_for_backward`` kept when backward unpacks
    them, as torch's; a write into any other input or output leaves its gradient right. Returns ``backward``."""
    backward.checks_saved = True
    return backward


def _saved_versions(ctx: FunctionCtx, returned: dict[int, Tensor]) -> list[tuple[list[int], int]]:
    """The version counters of the tensors ``ctx`` saved, as the caller sees them (a saved output: the tensor
    ``apply`` returned for it, in ``returned`` by the id of forward's), each with its count now, for
    ``saved_tensors`` to check."""
    boxes = []
    for t in ctx.to_save:
        if isinstance(t, Tensor):
            box = version_box(returned.get(id(t), t))
            boxes.append((box, box[1]))
    return boxes


def _remember(ctx: FunctionCtx, args: tuple[Any, ...], output: Tensor, node: Tensor) -> None:
    """Let ``ctx.saved_tensors`` give ``output`` as its recorded ``node`` under ``create_graph=True`` (an input that
    forward returned as it is stays a saved input; a weak reference: the node holds ctx through its backward)."""
    if all(output is not a for a in args):
        ctx.recorded[id(output)] = weakref.ref(node)


def _piece(i: int, start: int, stop: int, joint: Array, received: set[int]) -> Any:
    """The backward of output ``i``: its gradient placed in the hidden node's (zeros elsewhere); its ``graph`` twin
    pads the recorded gradient instead."""
    def backward(g: Array) -> tuple[Array]:
        received.add(i)
        out = backend.get_array_module(joint).zeros_like(joint)
        out[start:stop] = g.ravel()
        return (out,)

    def graph(node: Tensor, g: Tensor) -> tuple[Tensor]:
        received.add(i)
        flat = ew.astype(movement.reshape(g, (-1,)), joint.dtype)
        return (movement.pad(flat, [(start, joint.size - stop)]),)
    backward.graph = graph  # type: ignore[attr-defined]
    return backward


def _input_grads(cls: type[Function], ctx: FunctionCtx, args: tuple[Any, ...], name: str,
                 grads: list[Tensor | None], graph: bool = False) -> tuple[Tensor | None, ...]:
    """``cls.backward`` on the output gradients, checked as torch checks it: one result per argument of forward
    (extra trailing Nones dropped), None for the non-Tensor ones, each of its input's shape (or broadcastable to it:
    then summed down). One result per Tensor argument. ``graph``: in grad mode, saved outputs recorded
    (``create_graph=True``)."""
    once = getattr(cls.backward, "once_differentiable", False)
    if graph and not once:
        ctx.in_graph = True
        try:
            with enable_grad():
                result = cls.backward(ctx, *grads)
        finally:
            ctx.in_graph = False
    else:
        values = [None if g is None else constant(g._data) for g in grads] if graph else grads  # (once: no history)
        with no_grad():
            result = cls.backward(ctx, *values)
    result = result if isinstance(result, tuple) else (result,)
    if len(result) > len(args) and all(r is None for r in result[len(args):]):
        result = result[:len(args)]  # extra trailing Nones pass, as torch's (a backward for an omitted default)
    if len(result) != len(args):
        raise RuntimeError(f"function {name}'s backward gave {len(result)} gradients where forward took "
                           f"{len(args)} inputs")
    out: list[Tensor | None] = []
    for i, (a, r) in enumerate(zip(args, result)):
        if not isinstance(a, Tensor):
            if r is not None:
                raise RuntimeError(f"function {name} gave a gradient at position {i}, where forward had no Tensor "
                                   "input; return None there")
            continue
        if r is not None and not isinstance(r, Tensor):
            raise HookResultError(f"function {name} returned a {type(r).__name__} as the gradient at position {i}; "
                                  f"return a Tensor or None")
        if r is None or not a.requires_grad:
            out.append(None)
            continue
        if r.shape != a.shape:
            if not _expands_to(a.shape, r.shape):
                raise RuntimeError(f"function {name} returned an invalid gradient at index {i} - got shape "
                                   f"{r.shape} but expected shape compatible with {a.shape}")
            with enable_grad() if graph else no_grad():
                r = sum_to(r, a.shape)
        out.append(_delayed_error(r, grads) if graph and once else r)
    return tuple(out)


def _arrays(grads: tuple[Tensor | None, ...], ctx: FunctionCtx, args: tuple[Any, ...]) -> tuple[Array | None, ...]:
    """The gradients' arrays; one that a tensor kept by ``ctx`` or passed to ``apply`` holds is copied, so that a
    leaf's ``.grad``, added into in place, never writes into it (torch's AccumulateGrad clones such a gradient)."""
    kept = {id(t._data) for t in (*ctx.to_save, *vars(ctx).values(), *args) if isinstance(t, Tensor)}
    return tuple(None if g is None else g._data.copy() if id(g._data) in kept else g._data for g in grads)


def _delayed_error(r: Tensor, grads: list[Tensor | None]) -> Tensor:
    """A once-differentiable backward's result under ``create_graph=True``: its value, recorded on the incoming
    gradients that have a history (as torch's DelayedError node), so that differentiating it again raises."""
    def fail(*_: Any) -> Any:
        raise RuntimeError(ONCE)
    fail.graph = fail  # type: ignore[attr-defined]
    return record("DelayedError", r._data, tuple(g for g in grads if g is not None), fail)


def _alive(node: Tensor | None) -> Tensor:
    """A saved output's recorded node; it is gone when nothing kept that output of a several-output Function."""
    if node is None:
        raise RuntimeError("a custom Function's backward read a saved output that was freed (the output was "
                           "dropped before backward); keep every output it saves to differentiate it twice")
    return node


def once_differentiable(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``torch.autograd.function.once_differentiable``: the decorated ``backward`` always computes without a graph;
    under ``create_graph=True`` its results carry a node that raises when they are differentiated again."""
    @functools.wraps(fn)
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        with no_grad():
            return fn(ctx, *grads)
    backward.once_differentiable = True  # type: ignore[attr-defined]
    return backward


def _expands_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts to ``target`` (so a gradient of ``target``'s shape sums down to it)."""
    try:
        return broadcast_shape("backward", shape, target) == target
    except ValueError:
        return False
