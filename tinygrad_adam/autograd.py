"""The autograd engine: graph recording switches (``no_grad``, ``enable_grad``), the reverse pass that
``Tensor.backward`` runs, and :func:`grad`, which returns gradients instead of accumulating them.

The engine walks the recorded graph (each node: ``_parents`` and a ``_backward(g)`` closure) in reverse
topological order, iteratively so very deep chains work. Unless ``retain_graph``, each node it runs is then
freed: its closure (and the arrays it saved) is dropped and replaced by one that raises, as in PyTorch, so a
second backward through it is an error rather than a silently truncated gradient.
Kept apart from ``tensor.py`` so ops can ask "is grad on?" without importing the Tensor class.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import threading
import warnings
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from . import anomaly
from .anomaly import detect_anomaly, set_detect_anomaly  # noqa: F401 - torch.autograd's names

if TYPE_CHECKING:
    from .tensor import Tensor

class _GradState(threading.local):
    enabled = True  # each thread starts with gradients on (a class default: read without a getattr fallback)
    inference = False  # inside inference_mode() (is_inference_mode_enabled)


_state = _GradState()


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()``."""
    return _state.enabled


class _GradMode(contextlib.ContextDecorator):
    """Context manager and decorator that sets whether ops record a graph (reentrant: a stack). A decorated
    generator function runs each of its steps in the mode, not the code that consumes what it yields."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(is_grad_enabled())
        _state.enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev.pop()

    def __call__(self, func: Callable) -> Callable:  # type: ignore[override]
        if inspect.isgeneratorfunction(func):
            return functools.wraps(func)(lambda *args, **kwargs: _each_step_in(self, func(*args, **kwargs)))
        return super().__call__(func)


def _each_step_in(mode: _GradMode, gen: Generator) -> Generator:
    """``gen``, each resumption of it (send, throw, close) inside ``mode``."""
    resume, arg = gen.send, None
    while True:
        try:
            with mode:
                out = resume(arg)
        except StopIteration as stop:
            return stop.value
        try:
            resume, arg = gen.send, (yield out)
        except GeneratorExit:
            with mode:
                gen.close()
            raise
        except BaseException as exc:  # thrown in by the consumer: passed on to gen
            resume, arg = gen.throw, exc


class _ArgumentFreeMode(_GradMode):
    """A mode taking no arguments, so that it decorates bare as well (``@no_grad`` as ``@no_grad()``)."""

    def __new__(cls, orig_func: Callable | None = None) -> Any:  # torch's keyword
        return super().__new__(cls) if orig_func is None else cls()(orig_func)


class no_grad(_ArgumentFreeMode):  # noqa: N801 - named like torch.no_grad
    """``with no_grad():``, ``@no_grad()`` or ``@no_grad``: ops inside build no graph."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(_ArgumentFreeMode):  # noqa: N801
    """Turn graph recording back on inside a ``no_grad`` block."""

    def __init__(self) -> None:
        super().__init__(True)


class inference_mode(_GradMode):  # noqa: N801
    """``torch.inference_mode(mode=True)``: no graph inside, as ``no_grad`` (tensors made inside stay ordinary
    tensors, so unlike torch's they may enter a graph later); ``mode=False`` turns graph recording on, as torch's
    (even inside ``no_grad``). Either sets what ``is_inference_mode_enabled()`` answers inside."""

    def __new__(cls, mode: bool | Callable = True) -> Any:
        return super().__new__(cls) if isinstance(mode, bool) else cls()(mode)  # bare ``@inference_mode``

    def __init__(self, mode: bool = True) -> None:
        super().__init__(not mode)
        self.mode = mode
        self._prev_inference: list[bool] = []

    def __enter__(self) -> None:
        super().__enter__()
        self._prev_inference.append(_state.inference)
        _state.inference = bool(self.mode)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        _state.inference = self._prev_inference.pop()


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode()`` (and not inside an ``inference_mode(False)`` within it)."""
    return _state.inference


class set_grad_enabled(_GradMode):  # noqa: N801 - named like torch.set_grad_enabled
    """Record a graph or not, as ``mode`` says. As torch's, it sets the mode when called, so a bare
    ``set_grad_enabled(False)`` switches it until switched back; ``with`` restores the mode from before the call;
    as a decorator (``@set_grad_enabled(False)``) it sets the mode inside the function only."""

    def __init__(self, mode: bool) -> None:
        super().__init__(bool(mode))
        super().__enter__()
        self._set_when_built = True  # the first ``with`` finds the mode set already

    def __enter__(self) -> None:
        if not self._set_when_built:
            super().__enter__()
        self._set_when_built = False

    def __call__(self, func: Callable) -> Callable:  # type: ignore[override]
        if self._set_when_built:  # the decorator line itself changes nothing
            self.__exit__()
            self._set_when_built = False
        return super().__call__(func)


FREED = ("Trying to backward through the graph a second time (or directly access saved tensors after they have "
         "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
         "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if "
         "you need to access saved tensors after calling backward.")


def freed_backward(g: Any) -> Any:
    """The closure a freed node keeps: it is still not a leaf, but its saved arrays are gone."""
    raise RuntimeError(FREED)


class RemovableHandle:
    """What ``register_hook`` (and a Module's ``register_*_hook``) returns: ``handle.remove()`` unregisters the
    hook; ``with handle:`` removes it on leaving the block."""

    _next_id = 0

    def __init__(self, remove: Callable[[], None]) -> None:
        self._remove = remove
        self.id = RemovableHandle._next_id  # torch's: a number of its own
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._remove()

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _add_hook(t: Tensor, attr: str, hook: Callable[..., Any], before: type | None = None) -> RemovableHandle:
    """Register ``hook`` in ``t``'s tuple ``attr`` (before the first entry of type ``before``, if any), as its own
    entry: the handle removes this registration only, even when the same function is registered twice."""
    hooks = getattr(t, attr)
    entry = functools.partial(hook) if any(h is hook for h in hooks) else hook
    at = next((i for i, h in enumerate(hooks) if before is not None and isinstance(h, before)), len(hooks))
    setattr(t, attr, (*hooks[:at], entry, *hooks[at:]))

    def remove() -> None:
        setattr(t, attr, tuple(h for h in getattr(t, attr) if h is not entry))
    return RemovableHandle(remove)


class _NodePrehook:
    """A ``Node.register_prehook`` function as a gradient hook of the node's tensor: it runs after the tensor's
    own hooks (``Tensor.register_hook``), whenever those were registered, as torch's."""

    def __init__(self, fn: Callable[[tuple[Any, ...]], Any]) -> None:
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", repr(fn))

    def __call__(self, g: Tensor) -> Tensor | None:
        new = self.fn((g,))
        if new is None:
            return None
        new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
        if len(new) != 1:
            raise RuntimeError(f"prehook {self.__name__!r} returned {len(new)} gradients; return a 1-tuple (or "
                               "None to keep the gradient)")
        return new[0]


def register_hook(t: Tensor, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
    """Call ``hook(grad)`` with the gradient of ``t`` (a Tensor of t's shape) each time backward computes it; a
    Tensor it returns replaces the gradient from there on (for a leaf, before it is added into ``.grad``)."""
    if not t.requires_grad:
        raise RuntimeError(f"a hook needs requires_grad=True, and this tensor (shape {t.shape}) does not require grad")
    return _add_hook(t, "_hooks", hook, before=_NodePrehook)


def register_post_accumulate_grad_hook(t: Tensor, hook: Callable[[Tensor], None]) -> RemovableHandle:
    """Call ``hook(t)`` each time backward has added a gradient into the leaf ``t``'s ``.grad`` (after its
    ``register_hook`` hooks), as torch's: the hook reads or changes ``t.grad`` (and ``t``) and returns None."""
    if not t.requires_grad:
        raise RuntimeError(f"register_hook: this tensor (shape {t.shape}) does not require grad, so it gets no "
                           f"gradient to hook")
    if t._backward is not None:
        raise RuntimeError("register_post_accumulate_grad_hook works on leaf tensors only (non-leaves accumulate no "
                           ".grad)")
    return _add_hook(t, "_post_accumulate_hooks", hook)


class HookResultError(TypeError, RuntimeError):
    """A hook or a custom Function's backward returned what no gradient can be: torch raises TypeError or
    RuntimeError (by the case): this is both, and the TypeError ours raised before."""


def _post_accumulate(hook: Callable[[Tensor], Any], leaf: Tensor) -> None:
    if hook(leaf) is not None:
        raise HookResultError(f"post accumulate grad hook {getattr(hook, '__name__', hook)!r} returned a value; it "
                              f"must return None (change leaf.grad in place instead)")


def retain_grad(t: Tensor) -> None:
    """Keep the gradient of a non-leaf tensor in its ``.grad`` (accumulated, after its hooks); a leaf already
    keeps it."""
    if not t.requires_grad:
        raise RuntimeError(f"can't retain_grad on a tensor that has requires_grad=False (shape {t.shape})")
    if t._backward is not None:
        t._retains_grad = True


class Node:
    """``torch.autograd.graph.Node``: what ``grad_fn`` and ``next_functions`` show (a GradFn, or a leaf's
    AccumulateGrad); ``isinstance(t.grad_fn, Node)`` holds."""

    def name(self) -> str:
        raise NotImplementedError

    def register_prehook(self, fn: Callable[[tuple[Any, ...]], Any]) -> RemovableHandle:
        """torch's ``Node.register_prehook``: ``fn(grad_outputs)`` before this node runs, with the gradient it got
        (a 1-tuple), after the tensor's own hooks; a tuple it returns replaces it."""
        t = self._node_tensor()
        if not t.requires_grad:
            raise RuntimeError("register_hook: this tensor does not require grad, so it gets no gradient to hook")
        return _add_hook(t, "_hooks", _NodePrehook(fn))

    def _node_tensor(self) -> Tensor:
        raise NotImplementedError

    @property
    def metadata(self) -> dict[str, Any]:
        """A dict of the user's, kept with the node (``t.grad_fn.metadata`` is the same dict each time)."""
        return _node_entry(self._node_tensor())[2]

    def __repr__(self) -> str:
        return f"<{self.name()}>"


# id(tensor) -> [its op's backward when the entry was made, a weak reference to its node object, the node's
# metadata]: kept here, not on the tensor (whose attributes pickle and deepcopy), dropped when the tensor goes.
_nodes: dict[int, list[Any]] = {}


def _node_entry(t: Tensor) -> list[Any]:
    entry = _nodes.get(id(t))
    if entry is None:
        entry = _nodes[id(t)] = [t._backward, None, {}]
        weakref.finalize(t, _nodes.pop, id(t), None)
    elif entry[0] is not t._backward:  # an in-place op since: a new node
        entry[:] = [t._backward, None, {}]
    return entry


def _cached_node(t: Tensor, make: Callable[[], Node]) -> Node:
    """The node object for ``t``'s current op: the same object while the user holds it (as torch's grad_fn is
    one object), held weakly, so that no reference cycle keeps ``t``'s arrays alive."""
    entry = _node_entry(t)
    node = entry[1]() if entry[1] is not None else None
    if node is None:
        node = make()
        entry[1] = weakref.ref(node)
    return node


class GradFn(Node):
    """What ``tensor.grad_fn`` shows of a recorded op, as torch's node: ``name()`` ("MulBackward") and
    ``next_functions`` (the parents' nodes; ``AccumulateGrad`` for a leaf that requires grad, None otherwise)."""

    def __init__(self, tensor: Tensor) -> None:
        self._tensor = tensor

    def _node_tensor(self) -> Tensor:
        return self._tensor

    def name(self) -> str:
        op = self._tensor._op
        op = op[:-1] if op.endswith("_") and not op.endswith("__") else op  # add_: AddBackward, as out of place
        return op if op.endswith("Backward") else f"{op[:1].upper()}{op[1:]}Backward"

    @property
    def next_functions(self) -> tuple[tuple[Node | None, int], ...]:
        return tuple((grad_fn(p) if p._backward is not None else accumulate_grad(p) if p.requires_grad else None, 0)
                     for p in self._tensor._parents)

    def register_hook(self, fn: Callable[[tuple[Any, ...], tuple[Any, ...]], Any]) -> RemovableHandle:
        """torch's ``Node.register_hook``: ``fn(grad_inputs, grad_outputs)`` each time backward runs this op, with
        the gradients it computed for its inputs (None where an input wants none) and the one it got; a tuple it
        returns (one entry per input) replaces ``grad_inputs``."""
        return _add_hook(self._tensor, "_node_hooks", fn)


def _run_node_hooks(node: Tensor, grads: Sequence[Any], g: Any) -> list[Any]:
    """``grads`` (one array or None per parent of ``node``; Tensors with history under create_graph) through the
    hooks registered on ``node``'s grad_fn."""
    from .tensor import grad_tensor  # here: tensor.py imports this module

    graph = hasattr(g, "requires_grad")
    grad_inputs = tuple(None if pg is None or not p.requires_grad else pg if graph else grad_tensor(pg, p.device)
                        for p, pg in zip(node._parents, grads))
    grad_outputs = (g if graph else grad_tensor(g, node.device),)
    for hook in node._node_hooks:
        new = hook(grad_inputs, grad_outputs)
        if new is not None:
            new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
            if len(new) != len(grad_inputs):
                raise RuntimeError(f"hook '{getattr(hook, '__name__', hook)}' gave back {len(new)} values where "
                                   f"{len(grad_inputs)} are needed")
            grad_inputs = new
    return [None if t is None else t if graph else t._data for t in grad_inputs]


class AccumulateGrad(Node):
    """A leaf's place in ``next_functions``: ``.variable`` is the leaf."""

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable

    def _node_tensor(self) -> Tensor:
        return self.variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def register_hook(self, fn: Callable[[tuple[Any, ...], tuple[Any, ...]], Any]) -> RemovableHandle:
        """torch's hook on a leaf's AccumulateGrad: ``fn((), (grad,))`` after the gradient was added into
        ``.grad`` (what it returns is ignored, as there is no input to pass it to)."""
        seen: list[Any] = []
        first = _add_hook(self.variable, "_hooks", _NodePrehook(lambda go: seen.append(go[0])))

        def after(leaf: Tensor) -> None:
            fn((), (seen.pop() if seen else None,))
            seen.clear()
        second = _add_hook(self.variable, "_post_accumulate_hooks", after)

        def remove() -> None:
            first.remove()
            second.remove()
        return RemovableHandle(remove)


def accumulate_grad(t: Tensor) -> AccumulateGrad:
    """The leaf ``t``'s AccumulateGrad node (the same object while it is held)."""
    return _cached_node(t, lambda: AccumulateGrad(t))  # type: ignore[return-value]


def grad_fn(t: Tensor) -> GradFn | None:
    """The recorded op that made ``t`` (None for a leaf)."""
    return None if t._backward is None else _cached_node(t, lambda: GradFn(t))  # type: ignore[return-value]


def _run_hooks(node: Tensor, g: Any) -> Any:
    """``g`` through ``node``'s hooks in the order they were registered."""
    from .tensor import grad_tensor  # here: tensor.py imports this module

    graph = hasattr(g, "requires_grad")  # create_graph=True: g is a Tensor with history, and stays one
    for hook in node._hooks:
        out = hook(g if graph else grad_tensor(g, node.device))  # (a Tensor, or a leaf's sparse gradient as it is)
        if out is not None:
            if not hasattr(out, "shape"):
                raise HookResultError(f"hook {getattr(hook, '__name__', hook)!r} returned a {type(out).__name__}; a "
                                      f"hook returns a Tensor (the new gradient) or None")
            if tuple(out.shape) != node.shape:
                raise RuntimeError(f"hook {getattr(hook, '__name__', hook)!r} returned a gradient of shape "
                                   f"{tuple(out.shape)} for a tensor of shape {node.shape}")
            if out.dtype != node.dtype:  # as torch's check (the gradient was silently cast before)
                raise RuntimeError(f"hook {getattr(hook, '__name__', hook)!r} turned a {node.dtype} gradient into "
                                   f"{out.dtype}; a hook must keep the dtype")
            g = out if graph else out._data
    return g


def topological_order(roots: Sequence[Tensor]) -> list[Tensor]:
    """Nodes reachable from ``roots`` that need a gradient, each after all its parents."""
    from .tensor import inplace_writes, refresh_view, reroute_stale_parents  # here: tensor.py imports this module

    for r in roots:  # a view whose memory was written since its graph was set: regenerated, as in record
        if r._base is not None and r._vbox[0] > r._epoch:
            refresh_view(r)
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        node, finished = stack.pop()
        if finished:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if node._epoch != inplace_writes[0]:  # something was written in place since node was recorded
            reroute_stale_parents(node)
        stack.extend((p, False) for p in node._parents if p.requires_grad and id(p) not in seen)
    return order


def root_grads(outputs: Sequence[Tensor], grad_outputs: Sequence[Any]) -> list[Any]:
    """One gradient array per output: ones for a one-element output without one; errors as PyTorch words them."""
    grads = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            if out.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a scalar (one-element) output: output {i} "
                                   f"has shape {out.shape}; pass a gradient of that shape")
            g = out.xp.ones_like(out._data)
        else:
            if hasattr(g, "requires_grad") and g.device != out.device:
                raise RuntimeError(f"invalid gradient at index {i}: expected device {out.device} but got "
                                   f"{g.device}; move the gradient with .to({str(out.device)!r})")
            g = g._data if hasattr(g, "requires_grad") else out.xp.asarray(g, dtype=out.dtype)
            if tuple(g.shape) != out.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(g.shape)} and "
                                   f"output[{i}] has a shape of {out.shape}")
        grads.append(g if g.dtype == out.dtype else g.astype(out.dtype))
    return grads


def needed_nodes(order: Sequence[Tensor], inputs: Sequence[Tensor]) -> set[int]:
    """The ids of the nodes of ``order`` (parents first) that lead to one of ``inputs`` (or may: a freed node)."""
    wanted, needed = {id(t) for t in inputs}, set()
    for node in order:  # parents come first: a node is needed if an input is (or may be) at or above it
        if id(node) in wanted or node._backward is freed_backward or any(id(p) in needed for p in node._parents):
            needed.add(id(node))
    return needed


class BackwardPass:
    """One run of the engine, for hooks that must know it (``register_multi_grad_hook``): ``serial`` tells runs
    apart, ``reaches(t)`` says whether this run will hand t's hooks a gradient (t is on the graph it walks, and
    leads to its ``inputs`` if it has some), and ``at_end`` holds functions called once it has finished.
    ``with BackwardPass(order, needed):`` marks the run (``current_pass``); its ``at_end`` run if it succeeds."""

    serials = itertools.count()

    def __init__(self, order: Sequence[Tensor], needed: set[int] | None) -> None:
        self.serial, self.at_end = next(self.serials), []
        self._order, self._needed, self._ids = order, needed, None

    def reaches(self, t: Tensor) -> bool:
        if self._ids is None:
            self._ids = {id(n) for n in self._order if self._needed is None or id(n) in self._needed}
        return id(t) in self._ids

    def __enter__(self) -> BackwardPass:
        _passes.stack.append(self)
        return self

    def __exit__(self, kind: type | None, *exc: object) -> None:
        _passes.stack.pop()
        if kind is None:
            for fn in self.at_end:
                fn()


class _Passes(threading.local):
    def __init__(self) -> None:
        self.stack: list[BackwardPass] = []  # the runs in progress on this thread (a hook may start one)


_passes = _Passes()


def current_pass() -> BackwardPass | None:
    """The engine run this thread is inside (the innermost), or None."""
    return _passes.stack[-1] if _passes.stack else None


def run_backward(outputs: Sequence[Tensor], grads: Sequence[Any], retain_graph: bool,
                 inputs: Sequence[Tensor] | None = None, create_graph: bool = False) -> dict[int, Any]:
    """Propagate ``grads`` (arrays, one per output) back through the graph.

    Without ``inputs``: accumulate into every reachable leaf's ``.grad``; returns {}. With ``inputs``: only the
    part of the graph that leads to them runs, nothing is accumulated, and the result maps id(input) to its
    gradient array (inputs that no gradient reached are absent). ``create_graph``: ``grads`` are Tensors and the
    backward pass is recorded (higher_order.py), the gradients Tensors with history; the graph is kept.
    """
    if create_graph:
        from .higher_order import run_backward_graph

        return run_backward_graph(outputs, grads, inputs)
    order = topological_order(outputs)
    needed = None if inputs is None else needed_nodes(order, inputs)
    with BackwardPass(order, needed):
        return propagate(order, needed, outputs, grads, retain_graph, inputs)


def propagate(order: list[Tensor], needed: set[int] | None, outputs: Sequence[Tensor], grads: Sequence[Any],
              retain_graph: bool, inputs: Sequence[Tensor] | None) -> dict[int, Any]:
    """``run_backward``'s walk over ``order`` (parents first), ``needed`` the nodes that lead to ``inputs``."""
    pending: dict[int, Any] = {}
    for out, g in zip(outputs, grads):
        key = id(out)
        pending[key] = g if key not in pending else pending[key] + g
    wanted = None if inputs is None else {id(t) for t in inputs}
    from .tensor import check_versions, inplace_writes  # here: tensor.py imports this module

    captured: dict[int, Any] = {}
    handed_out = {id(g) for g in grads}  # the caller's gradients: a leaf's .grad copies them, never aliases them
    pieces: dict[int, object] = {}  # id(tensor) -> the split whose pieces' gradients its pending buffer holds
    for node in reversed(order):
        g = pending.pop(id(node), None)
        if g is not None and node._hooks and (needed is None or id(node) in needed):  # (as torch: only the nodes
            g0, g = g, _run_hooks(node, g)  # that lead to ``inputs`` run, so a hook elsewhere is not called)
            if g is not g0:  # a hook's own tensor (the user may hold it): a leaf's .grad copies it
                handed_out.add(id(g))
        if wanted is not None:
            if g is not None and id(node) in wanted:
                check_float(node)
                captured[id(node)] = g
            if g is not None and node._retains_grad and id(node) in needed:  # as torch's retain_grad hook: filled
                node._accumulate(g, handed_out | {id(g)})  # wherever computed (a copy: g may be returned too)
            if node._backward is not freed_backward and not any(id(p) in needed for p in node._parents):
                continue
        elif node._backward is None:
            if g is not None:
                check_float(node)
                node._accumulate(g, handed_out)
                for hook in node._post_accumulate_hooks:
                    _post_accumulate(hook, node)
            continue
        if g is not None:
            if node._retains_grad and wanted is None:
                node._accumulate(g, handed_out)
            if node._epoch != inplace_writes[0]:  # something was written in place since node was recorded
                check_versions(node)
            piece = getattr(node._backward, "piece", None)  # a piece of split / unbind: see write_piece
            if piece is not None and not node._node_hooks and not anomaly.checking:
                write_piece(pending, pieces, node._parents[0], piece, g)
                grads = ()
            elif node._detached_inputs:
                with as_recorded(node._detached_inputs):
                    grads = node._backward(g)
            else:
                grads = node._backward(g)
            if node._node_hooks:
                grads = _run_node_hooks(node, grads, g)
            if anomaly.checking:  # (detect_anomaly: a NaN gradient raises, naming the op)
                anomaly.check(node, grads)
            for parent, pg in zip(node._parents, grads):
                if pg is None or not parent.requires_grad:
                    continue
                if pg.dtype != parent.dtype:  # the gradient has its input's dtype, whatever the op computed in
                    pg = pg.astype(parent.dtype)
                key = id(parent)
                if key in pending:
                    pending[key] = pending[key] + pg
                    if pieces:  # (a fresh sum: later pieces must add to it, not overwrite)
                        pieces.pop(key, None)
                else:
                    pending[key] = pg
        if not retain_graph:
            node._backward, node._parents = freed_backward, ()
    return captured


@contextlib.contextmanager
def as_recorded(inputs: Sequence[Tensor]) -> Iterator[None]:
    """``inputs`` (cut by ``detach_()`` after an op used them) requiring grad again while that op's backward runs:
    its closure asks them whether to compute their gradients, which flow to their graph of that time (torch's
    edges)."""
    before = [t.requires_grad for t in inputs]
    for t in inputs:
        t.requires_grad = True
    try:
        yield
    finally:
        for t, flag in zip(inputs, before):
            t.requires_grad = flag


def check_float(leaf: Tensor) -> None:
    """Refuse a gradient for an integer or bool tensor: one can be told ``x.requires_grad = True`` by assignment
    (torch refuses that; checking the attribute on every read would cost each op), and its gradient would be the
    float gradient truncated to integers."""
    if leaf._data.dtype.kind not in "fc":
        raise RuntimeError(f"backward: a tensor of dtype {leaf.dtype} has requires_grad=True, but only floating point "
                           f"tensors can have gradients; use a float tensor (x.float()) or requires_grad=False")


def write_piece(pending: dict[int, Any], pieces: dict[int, object], parent: Tensor, piece: tuple[object, Any],
                g: Any) -> None:
    """The gradient ``g`` of one piece (``(split, index)``: ops.movement.split_pieces) of ``parent``, written at
    ``index`` into one buffer of ``parent``'s shape that all pieces of that split share, instead of a zero array
    per piece added up: the same sums (adding zeros changes no bit but a -0.0's sign, which torch's split keeps)."""
    if not parent.requires_grad:
        return
    split, index = piece
    key = id(parent)
    buf = pending.get(key)
    if buf is None:  # the first piece to arrive: the buffer is ours alone, zeros outside the pieces written
        buf = pending[key] = parent.xp.zeros(parent.shape, dtype=parent.dtype)
        pieces[key] = split
        buf[index] = g
    elif pieces.get(key) is split:  # pieces of one split never overlap: each writes its own zeros
        buf[index] = g
    else:  # a gradient from elsewhere (or another split) is pending: added as before, a zero array around g
        full = parent.xp.zeros(parent.shape, dtype=parent.dtype)
        full[index] = g
        pending[key] = buf + full
        pieces.pop(key, None)


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Tensor | Sequence[Tensor] | None = None) -> None:
    """torch.autograd.backward (``Tensor.backward`` calls it): add d(tensors)/d(leaf) into every leaf's ``.grad``,
    or only into ``inputs``' (tensors of the graph, leaves or not; a non-leaf one keeps its ``.grad`` from then on,
    as torch's). ``grad_tensors``: one gradient per tensor (None: ones for a one-element tensor). The graph is
    freed unless ``retain_graph``; ``create_graph`` records the backward (higher_order.py) and keeps the graph."""
    from .tensor import Tensor  # here, not at the top: tensor.py imports this module

    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    for t in tensors:
        if not t.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad: no input of the "
                               "ops that made it has requires_grad=True (or it was made under no_grad)")
    gradients = [None] * len(tensors) if grad_tensors is None else (
        [grad_tensors] if isinstance(grad_tensors, Tensor) else list(grad_tensors))
    grads = root_grads(tensors, gradients)
    if create_graph:
        from .higher_order import accumulate, root_tensors

        grads = root_tensors(tensors, gradients, grads)
    retain = bool(create_graph if retain_graph is None else retain_graph)
    if inputs is None:
        run_backward(tensors, grads, retain, None, create_graph)
        return
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not inputs:
        raise RuntimeError("backward(inputs=...) got an empty sequence; leave it out to accumulate into "
                           "every leaf")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"backward(inputs=...): input {i} is not a Tensor that requires grad")
        t._retains_grad = t._backward is not None  # as torch: a non-leaf input keeps its .grad from now on
    captured = run_backward(tensors, grads, retain, inputs, create_graph)
    handed_out = {id(g) for g in grads}  # the caller's own gradient is copied, never aliased into a .grad
    for t in inputs:
        g = captured.get(id(t))
        if g is None or t._backward is not None:  # a non-leaf input retains its grad: the engine filled it
            continue
        if create_graph:
            accumulate(t, g)
            continue
        t._accumulate(g, handed_out)
        if t._backward is None:
            for hook in t._post_accumulate_hooks:
                _post_accumulate(hook, t)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused: bool | None = None,
         is_grads_batched: bool = False, materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """d(outputs)/d(inputs) as a tuple of Tensors, one per input (shapes and dtypes of the inputs), without
    touching any ``.grad`` (torch.autograd.grad). ``is_grads_batched``: see :func:`_batched_grad`.

    ``grad_outputs``: one gradient per output (a Tensor, an array or None; None means ones for a one-element
    output). ``create_graph``: the backward pass is recorded, so the gradients (Tensors with history) can be
    differentiated again (higher_order.py lists the ops it covers; the others raise). The graph is freed unless
    ``retain_graph`` (by default ``create_graph``; with ``create_graph`` it is always kept). An input no gradient
    reaches is an error, or None with ``allow_unused=True`` (zeros with ``materialize_grads=True``, which implies
    it). ``only_inputs`` is torch's deprecated no-op.
    """
    from .tensor import Tensor, grad_tensor  # here, not at the top: tensor.py imports this module

    if materialize_grads:
        if allow_unused is False:
            raise ValueError("materialize_grads=True fills unused inputs with zeros, which contradicts "
                             "allow_unused=False; leave allow_unused out")
        result = grad(outputs, inputs, grad_outputs, retain_graph, create_graph, only_inputs, True, is_grads_batched)
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        return tuple(_zeros_for(t, create_graph) if g is None else g for t, g in zip(inputs, result))

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not inputs:
        raise RuntimeError("grad requires non-empty inputs.")
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad_outputs must have one entry per output: got {len(grad_outputs)} for "
                           f"{len(outputs)} outputs")
    if is_grads_batched:
        return _batched_grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused)
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"tensors[{i}] does not require grad and has no grad_fn: there is nothing to "
                               f"backpropagate from it")
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors (index {i}, shape {t.shape}) does not require "
                               f"grad")
    grads = root_grads(outputs, grad_outputs)
    if create_graph:
        from .higher_order import root_tensors

        grads = root_tensors(outputs, grad_outputs, grads)
    retain = create_graph if retain_graph is None else retain_graph
    captured = run_backward(outputs, grads, bool(retain), inputs, create_graph)
    result: list[Tensor | None] = []
    handed_out: set[int] = set()
    for i, t in enumerate(inputs):
        g = captured.get(id(t))
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"inputs[{i}] was not used to compute the outputs, so it has no gradient; pass "
                                   f"allow_unused=True to get None for it")
            result.append(None)
            continue
        if create_graph:  # a Tensor with history (the engine cast it to t's dtype)
            result.append(g)
            continue
        if g.dtype != t.dtype:
            g = g.astype(t.dtype)
        elif g.base is not None or id(g) in handed_out or any(t is o for o in outputs):
            g = g.copy()  # a view, the caller's own grad_output, or handed out already: results never alias
        handed_out.add(id(g))
        result.append(grad_tensor(g, t.device))
    return tuple(result)


def _zeros_for(t: Tensor, create_graph: bool) -> Tensor:
    """``materialize_grads``: zeros of the input's shape in place of its None, as torch's ``zeros_like(input)``
    (also under ``is_grads_batched``), requiring grad under ``create_graph``."""
    from .tensor import Tensor

    return Tensor(t.xp.zeros(t.shape, dtype=t.dtype), requires_grad=create_graph, device=t.device)


def _batched_grad(outputs: list[Tensor], inputs: list[Tensor], grad_outputs: list[Any], retain_graph: bool | None,
                  create_graph: bool, allow_unused: bool | None) -> tuple[Tensor | None, ...]:
    """``grad(..., is_grads_batched=True)``: each grad_output is a batch (B, *output.shape) of cotangents; one
    backward pass per batch entry (a loop, where torch vmaps), each input's B gradients stacked: (B, *input.shape)."""
    from .ops.movement import stack
    from .tensor import Tensor

    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(g, Tensor) or g.ndim == 0 or tuple(g.shape[1:]) != tuple(out.shape):
            raise RuntimeError(f"is_grads_batched: grad_outputs[{i}] must be a Tensor of shape (B, "
                               f"*{tuple(out.shape)}), got {getattr(g, 'shape', type(g).__name__)}")
    batch = {g.shape[0] for g in grad_outputs}
    if len(batch) != 1 or 0 in batch:
        raise RuntimeError(f"is_grads_batched: grad_outputs need one non-zero batch size, got {sorted(batch)}")
    n = batch.pop()
    rows = [grad(outputs, inputs, [g[b] for g in grad_outputs], True if b < n - 1 else retain_graph, create_graph,
                 allow_unused=allow_unused) for b in range(n)]
    return tuple(None if col[0] is None else stack(list(col), 0) for col in zip(*rows))


class _VariableMeta(type):
    def __instancecheck__(cls, other: Any) -> bool:
        from .tensor import Tensor
        return isinstance(other, Tensor)


def volatile(t: Tensor) -> bool:
    """torch's legacy ``x.volatile``: always False, with torch's warning (use ``no_grad``)."""
    warnings.warn("volatile is gone: reading it always gives False", UserWarning, stacklevel=2)
    return False


def set_volatile(t: Tensor, value: bool) -> None:
    """``x.volatile = ...`` of the 0.3 API: nothing but torch's warning."""
    warnings.warn("volatile is gone and setting it does nothing; use `with no_grad():` instead", UserWarning,
                  stacklevel=2)


class Variable(metaclass=_VariableMeta):
    """torch's legacy ``Variable(data, requires_grad=False, volatile=None)``: every Tensor is one (``isinstance``),
    and calling it returns ``data`` detached (a Tensor sharing its array, out of any graph) with ``requires_grad``
    set; no data gives an empty float32 tensor. ``volatile`` does nothing but warn (use ``no_grad``)."""

    def __new__(cls, data: Any = None, requires_grad: bool = False, volatile: bool | None = None) -> Any:
        from .creation import tensor
        from .tensor import Tensor

        if volatile is not None:
            warnings.warn("Variable's volatile argument has no effect; use `with no_grad():`", UserWarning,
                          stacklevel=2)
        if data is None:
            data = tensor([], dtype="float32")
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable() wraps a tensor; a {type(data).__name__} was given")
        return data.detach().requires_grad_(requires_grad)


# Submodules, as torch's package has (``import tinygrad_adam.autograd.functional``): this is a module, so its
# ``__path__`` names the folder that holds them, ``_autograd/`` beside it (see its __init__).
__path__ = [__file__.rpartition("autograd.py")[0] + "_autograd"]


def __getattr__(name: str) -> Any:
    """``autograd.Function`` (custom ops, function.py) loads on first use: it needs the Tensor class; so do
    ``autograd.functional`` (torch.autograd.functional, in _autograd/functional.py), ``autograd.function``
    (torch.autograd.function: ``once_differentiable``), ``autograd.forward_ad`` (dual tensors), ``grad_mode`` /
    ``variable`` (torch's paths of the grad switches and of ``Variable``) and
    ``autograd.gradcheck`` / ``gradgradcheck``, and ``autograd.profiler`` (torch's older profiling API)."""
    if name == "Function":
        from .function import Function
        return Function
    if name in ("gradcheck", "gradgradcheck"):
        from .gradcheck import autograd_gradcheck, autograd_gradgradcheck
        return autograd_gradcheck if name == "gradcheck" else autograd_gradgradcheck
    if name in ("functional", "function", "graph", "forward_ad", "profiler", "grad_mode", "variable"):
        from importlib import import_module
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'tinygrad_adam.autograd' has no attribute {name!r}")
