"""``torch.utils.checkpoint`` at torch's path: ``checkpoint`` and ``checkpoint_sequential``.

Activation checkpointing trades compute for memory, as in torch: a checkpointed segment runs once in forward, and
only the tensors it reads from outside (its Tensor arguments and the parameters it reaches) are kept, not its
activations; backward runs the segment again, in grad mode, on detached copies of those arguments (under the RNG
state forward saw, unless ``preserve_rng_state=False``, and inside ``context_fn``'s second context manager) and
differentiates that. As in torch, whatever the segment does to modules' state happens again then: a BatchNorm in
training mode updates its running statistics (and ``num_batches_tracked``) a second time. Tensors the segment
reads without being given them (parameters, an activation it closes over) are kept as they are and get their
gradients through the segment's node; ``create_graph=True`` differentiates the recomputation again.

The reentrant variant (``use_reentrant=True``, the default when it is not passed) keeps torch's visible quirk: when
no positional Tensor argument requires grad, the segment runs under ``no_grad`` (a warning says gradients will be
None), so parameters inside it get no gradient.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from ..autograd import enable_grad, grad, is_grad_enabled, no_grad
from ..backend import get_rng_state, set_rng_state
from ..function import Function, FunctionCtx
from ..tensor import Tensor, inplace_writes

__all__ = ["checkpoint", "checkpoint_sequential", "noop_context_fn"]

_DETERMINISM_CHECKS = ("default", "none")


def noop_context_fn() -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
    """``checkpoint``'s default ``context_fn``: two empty context managers (forward, recomputation)."""
    return contextlib.nullcontext(), contextlib.nullcontext()


def _unpassed(name: str) -> None:
    warnings.warn(f"{name}: say use_reentrant= explicitly; False is the better choice, True keeps "
                  "today's default (torch 2.13 warns here too)",
                  stacklevel=3)


def _map_tensors(node: Any, fn: Callable[[Tensor], Any]) -> Any:
    """``node`` (a Tensor, or lists / tuples / dicts of them and other values) with ``fn`` applied to each Tensor."""
    if isinstance(node, Tensor):
        return fn(node)
    if isinstance(node, (list, tuple)):
        items = [_map_tensors(v, fn) for v in node]
        return items if isinstance(node, list) else type(node)(*items) if hasattr(node, "_fields") else tuple(items)
    if isinstance(node, dict):
        return {k: _map_tensors(v, fn) for k, v in node.items()}
    return node


def _tensors(node: Any) -> list[Tensor]:
    """The Tensors in ``node`` (nested lists / tuples / dicts), in order."""
    found: list[Tensor] = []
    _map_tensors(node, found.append)
    return found


def _outer_tensors(outputs: list[Tensor], given: set[int], mark: int) -> list[Tensor]:
    """The tensors requiring grad that the segment read from outside without being given them (parameters, and
    activations it closed over), in the order a depth-first walk of ``outputs``' graph meets them: leaves, and
    nodes made before the segment ran (a clock below ``mark``); the walk stops at them and at the ``given`` ones."""
    found: list[Tensor] = []
    seen: set[int] = set(given)
    stack = [o for o in reversed(outputs) if o.requires_grad]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node._backward is None or node._epoch < mark:
            found.append(node)
            continue
        stack.extend(p for p in reversed(node._parents) if p.requires_grad and id(p) not in seen)
    return found


class _Segment:
    """What backward needs to run a segment again: the function, its arguments, the RNG state and context."""

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 rng: dict[str, Any] | None, context_fn: Callable[[], tuple[Any, Any]]) -> None:
        self.function, self.args, self.kwargs, self.rng, self.context_fn = function, args, kwargs, rng, context_fn
        self.values: tuple[Tensor, ...] = ()  # forward's differentiable outputs, only until they are recorded
        self.slots: list[int] = []  # where they sit among the function's (flattened) outputs
        self.shapes: list[tuple[tuple[int, ...], Any]] = []
        self.check = True  # determinism_check="default": compare the recomputed outputs' shapes and dtypes
        self.read: list[tuple[Tensor, int]] = []  # the tensors it reads from outside, at their versions


def _flat(output: Any) -> list[Any]:
    return list(output) if isinstance(output, (tuple, list)) else [output]


class CheckpointFunction(Function):
    """The recorded segment: parents are its Tensor arguments and outer parameters that require grad; backward runs
    the segment again and differentiates the recomputed outputs."""

    @staticmethod
    def forward(ctx: FunctionCtx, segment: _Segment, *boundary: Tensor) -> tuple[Tensor, ...]:
        ctx.segment, ctx.boundary = segment, boundary
        return segment.values

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        segment: _Segment = ctx.segment
        boundary = ctx.boundary
        for t, version in segment.read:
            if t._version != version:
                raise RuntimeError(f"checkpoint: an inplace op modified a tensor saved for backward: a tensor of shape "
                                   f"{t.shape} that a checkpointed segment read is at version {t._version}; expected "
                                   f"version {version} instead (the "
                                   f"segment runs again in backward and would read the new values)")
        copies: dict[int, Tensor] = {}

        def detach(t: Tensor) -> Tensor:
            if id(t) not in copies:
                copies[id(t)] = t.detach().requires_grad_(t.requires_grad)
            return copies[id(t)]

        args, kwargs = _map_tensors(segment.args, detach), _map_tensors(segment.kwargs, detach)
        state = get_rng_state() if segment.rng is not None else None
        try:
            if segment.rng is not None:
                set_rng_state(segment.rng)
            _, recompute_context = segment.context_fn()
            with enable_grad(), recompute_context:
                flat = _flat(segment.function(*args, **kwargs))
        finally:
            if state is not None:
                set_rng_state(state)
        outs = [flat[i] if i < len(flat) else None for i in segment.slots]
        if any(not isinstance(o, Tensor) or (segment.check and (o.shape, o.dtype) != s)
               for o, s in zip(outs, segment.shapes)):
            raise RuntimeError("torch.utils.checkpoint: the rerun of the checkpointed function gave other outputs than "
                               "the forward pass's (a different number, shape or dtype of outputs): the function "
                               "must compute the same thing when it runs again")
        pairs = [(o, g) for o, g in zip(outs, grads) if g is not None and o.requires_grad]
        if not pairs:
            return (None,) + (None,) * len(boundary)
        inputs: list[Tensor] = []
        for t in boundary:  # the detached copy of an argument, and the original (reached through a closure)
            inputs.extend((copies[id(t)], t) if id(t) in copies else (t,))
        cut = [(t, t._parents, t._backward) for t in boundary if t._backward is not None]
        try:  # the segment's outer tensors as leaves: no gradient goes on through their own graph from here
            for t, _, _ in cut:
                t._parents, t._backward = (), None
            found = grad([o for o, _ in pairs], inputs, [g for _, g in pairs], allow_unused=True,
                         create_graph=ctx.in_graph)
        finally:
            for t, parents, backward in cut:
                t._parents, t._backward = parents, backward
        if ctx.in_graph:  # double backward: the gradients' history continues from each copy to its original
            for t in boundary:
                if id(t) in copies:
                    _link(copies[id(t)], t)
        result: list[Tensor | None] = []
        k = 0
        for t in boundary:
            parts = [g for g in found[k:k + (2 if id(t) in copies else 1)] if g is not None]
            k += 2 if id(t) in copies else 1
            result.append(None if not parts else parts[0] if len(parts) == 1 else parts[0] + parts[1])
        return (None, *result)


def _link(copy: Tensor, original: Tensor) -> None:
    """Make the detached ``copy`` a node whose gradient passes to ``original`` unchanged (once the first-order
    gradients are made: under ``create_graph`` they are recorded on ``copy``, and differentiating them again must
    reach the argument the segment was given)."""
    def backward(g: Any) -> tuple[Any]:
        return (g,)
    backward.graph = lambda node, g: (g,)  # type: ignore[attr-defined]
    copy._parents, copy._backward, copy._op = (original,), backward, "CheckpointInputBackward"


def _opaque(node: Any, mark: int) -> Any:
    """What torch's reentrant checkpoint (one autograd Function) passes through unrecorded: only a Tensor output
    or a tuple's Tensors come out of it with history; those inside anything else (a list, a dict, a nested
    tuple) are as computed under no_grad: the ones the segment made (recorded after ``mark``) detached, the
    others (an argument returned as it is) unchanged."""
    return _map_tensors(node, lambda t: t.detach() if t._backward is not None and t._epoch >= mark else t)


def _run_recorded(function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], preserve: bool,
                  context_fn: Callable[[], tuple[Any, Any]], check: bool = True, reentrant: bool = False) -> Any:
    """``function(*args, **kwargs)`` with its graph replaced by one CheckpointFunction node per differentiable
    output, whose backward recomputes it. ``reentrant``: every floating-point Tensor output is one (torch's
    reentrant checkpoint is one autograd Function, all of whose outputs require grad)."""
    rng = get_rng_state() if preserve else None
    inplace_writes[0] += 1  # a tick of the write clock (no write): what the segment makes is recorded after it
    mark = inplace_writes[0]
    forward_context, _ = context_fn()
    with forward_context:
        output = function(*args, **kwargs)
    if reentrant:
        if not isinstance(output, (Tensor, tuple)):
            return _opaque(output, mark)
        if not isinstance(output, Tensor):
            items = [o if isinstance(o, Tensor) else _opaque(o, mark) for o in output]
            output = type(output)(*items) if hasattr(output, "_fields") else tuple(items)
    if not is_grad_enabled():
        return output
    flat = _flat(output)
    slots = [i for i, o in enumerate(flat) if isinstance(o, Tensor)
             and (o.requires_grad or (reentrant and o.dtype.kind in "fc"))]
    if not slots:
        return output
    given = [t for t in _tensors((args, kwargs)) if t.requires_grad]
    given = list({id(t): t for t in given}.values())
    boundary = given + _outer_tensors([flat[i] for i in slots], {id(t) for t in given}, mark)
    segment = _Segment(function, args, kwargs, rng, context_fn)
    segment.values, segment.slots = tuple(flat[i] for i in slots), slots
    segment.shapes = [(flat[i].shape, flat[i].dtype) for i in slots]
    segment.check = check
    segment.read = [(t, t._version) for t in {id(t): t for t in _tensors((args, kwargs)) + boundary}.values()]
    recorded = CheckpointFunction.apply(segment, *boundary)
    segment.values = ()  # forward's graph goes: only the boundary is kept
    for i, r in zip(slots, recorded):
        flat[i] = r
    if isinstance(output, tuple):
        return type(output)(*flat) if hasattr(output, "_fields") else tuple(flat)
    return flat if isinstance(output, list) else flat[0]


def checkpoint(function: Callable[..., Any], *args: Any, use_reentrant: bool | None = None,
               context_fn: Callable[[], tuple[Any, Any]] = noop_context_fn, determinism_check: str = "default",
               debug: bool = False, early_stop: bool = True, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` as torch's activation checkpoint computes it: same outputs and gradients, only
    the segment's inputs kept, its forward run again in backward (see the module docstring). ``use_reentrant`` not
    passed warns and means True, as in torch; the reentrant variant takes no keyword arguments, ``context_fn`` or
    ``debug`` (a ValueError) and runs under ``no_grad`` when no positional Tensor argument requires grad. The
    non-reentrant one runs ``function`` inside the first context manager ``context_fn()`` returns, and its
    recomputation inside the second. ``preserve_rng_state`` (a keyword, default True) replays forward's random
    numbers in the recomputation."""
    if use_reentrant is None:
        _unpassed("torch.utils.checkpoint")
        use_reentrant = True
    preserve = bool(kwargs.pop("preserve_rng_state", True))
    if use_reentrant:
        if kwargs:
            raise ValueError(f"Unexpected keyword arguments: {','.join(kwargs)} (the reentrant checkpoint passes "
                             "none to the function; use use_reentrant=False)")
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError("context_fn= and debug= need use_reentrant=False")
        if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            warnings.warn("no input of the checkpointed function requires grad, so its gradients come back as None",
                          stacklevel=2)
            with no_grad():
                return function(*args)
        return _run_recorded(function, args, {}, preserve, noop_context_fn, reentrant=True)
    if debug and context_fn is not noop_context_fn:
        raise ValueError("checkpoint: debug=True works only with the default context_fn")
    if determinism_check not in _DETERMINISM_CHECKS:
        raise ValueError(f"determinism_check should be one of {list(_DETERMINISM_CHECKS)}, but got "
                         f"{determinism_check}")
    return _run_recorded(function, args, kwargs, preserve, context_fn, determinism_check == "default")


def checkpoint_sequential(functions: Any, segments: int, input: Any,  # noqa: A002 - torch's name
                          use_reentrant: bool | None = None, **kwargs: Any) -> Any:
    """``functions`` (an ``nn.Sequential`` or a list of modules / one-argument functions) applied in turn to
    ``input``, cut into ``segments`` parts of ``len(functions) // segments`` (the last takes the rest) of which all
    but the last go through ``checkpoint``, as torch does (each recomputed in backward). Only ``preserve_rng_state`` is
    accepted as a keyword (a ValueError otherwise); ``segments`` must be in 1..len(functions)."""
    if use_reentrant is None:
        _unpassed("torch.utils.checkpoint.checkpoint_sequential")
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError(f"Unexpected keyword arguments: {','.join(kwargs)} (only preserve_rng_state is accepted)")
    parts: Sequence[Any] = list(functions)  # an nn.Sequential (or ModuleList) iterates over its modules
    if isinstance(segments, bool) or not isinstance(segments, int) or not 1 <= segments <= len(parts):
        raise ValueError(f"checkpoint_sequential: segments must be an int in 1..{len(parts)} (the number of "
                         f"functions), got {segments!r}")

    def run(start: int, stop: int) -> Callable[[Any], Any]:
        def forward(x: Any) -> Any:
            for f in parts[start:stop]:
                x = f(x)
            return x
        return forward

    size, x = len(parts) // segments, input
    for start in range(0, size * (segments - 1), size):
        x = checkpoint(run(start, start + size), x, use_reentrant=use_reentrant, preserve_rng_state=preserve)
    return run(size * (segments - 1), len(parts))(x)
