"""A Module's hooks, as torch's: forward pre-hooks, forward hooks, full backward hooks and backward pre-hooks.

``Module.__call__`` runs ``forward`` directly until a hook is registered; then ``ModuleHooks.call`` runs the
pre-hooks (which may replace the positional arguments; registered ``with_kwargs=True`` they get
``(module, args, kwargs)`` and may return new ``(args, kwargs)``), ``forward``, the forward hooks (which may replace
the output; ``with_kwargs=True`` ones get ``(module, args, kwargs, output)``) and, for backward hooks, routes the
inputs that require grad and the outputs through identity ``autograd.Function``s, so that each backward pre-hook
gets ``(module, grad_output)`` and may return a replacement for it, then each backward hook gets
``(module, grad_input, grad_output)`` once per backward and may return a replacement for ``grad_input``. When
anything in that raises, the forward hooks registered ``always_call=True`` that have not run yet still run (with
the output so far, None if ``forward`` raised), and the error goes on.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Callable
from typing import Any

from ..autograd import RemovableHandle
from ..creation import zeros
from ..function import Function, FunctionCtx
from ..tensor import Tensor

_ids = itertools.count()


class ModuleHooks:
    """The hooks of one module, each kind in registration order (``prepend`` puts one first)."""

    def __init__(self) -> None:
        self.pre: dict[int, Callable[..., Any]] = {}
        self.post: dict[int, Callable[..., Any]] = {}
        self.backward: dict[int, Callable[..., Any]] = {}
        self.backward_pre: dict[int, Callable[..., Any]] = {}
        self.backward_old: dict[int, Callable[..., Any]] = {}  # register_backward_hook's (non-full) hooks
        # state_dict / load_state_dict hooks (kept in a module's ``_state_hooks``, apart from its call hooks)
        self.sd_pre: dict[int, Callable[..., Any]] = {}
        self.sd_post: dict[int, Callable[..., Any]] = {}
        self.load_pre: dict[int, Callable[..., Any]] = {}
        self.load_post: dict[int, Callable[..., Any]] = {}
        self.full: bool | None = None  # whether the module's backward hooks are full ones (None: it has none yet)
        self.with_kwargs: set[int] = set()  # the keys of hooks that also get (and a pre-hook may replace) kwargs
        self.always_call: set[int] = set()  # the keys of forward hooks that run even when the call raises

    def add(self, kind: str, hook: Callable[..., Any], prepend: bool, with_kwargs: bool = False,
            always_call: bool = False) -> RemovableHandle:
        table: dict[int, Callable[..., Any]] = getattr(self, kind)
        key = next(_ids)
        items = [(key, hook), *table.items()] if prepend else [*table.items(), (key, hook)]
        table.clear()
        table.update(items)
        if with_kwargs:
            self.with_kwargs.add(key)
        if always_call:
            self.always_call.add(key)
        return RemovableHandle(lambda: (table.pop(key, None), self.with_kwargs.discard(key),
                                        self.always_call.discard(key)))

    def call(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        output, called = None, set()
        try:
            for key, hook in list(self.pre.items()):
                if key in self.with_kwargs:
                    args, kwargs = _args_kwargs(hook(module, args, kwargs), args, kwargs)
                    continue
                new = hook(module, args)
                if new is not None:
                    args = new if isinstance(new, tuple) else (new,)
            state: dict[str, Any] = {"module": module, "hooks": list(self.backward.values()),
                                     "pre_hooks": list(self.backward_pre.values()), "n_in": 0}
            routed = bool(state["hooks"] or state["pre_hooks"])
            if routed:
                args = _route_inputs(args, state)
            output = module.forward(*args, **kwargs)
            for key, hook in list(self.post.items()):
                called.add(key)
                output = self._post(key, hook, module, args, kwargs, output)
            if routed:
                output = _route_outputs(output, state)
            if self.backward_old:
                _hook_last_node(module, args, output, list(self.backward_old.values()))
            return output
        except Exception:
            for key, hook in list(self.post.items()):
                if key in self.always_call and key not in called:
                    try:
                        output = self._post(key, hook, module, args, kwargs, output)
                    except Exception as e:  # the first error is the one that goes on, as in torch
                        warnings.warn(f"an always_call=True forward hook failed ({e}); that error is dropped because "
                                      f"forward had already raised one", stacklevel=2)
            raise

    def _post(self, key: int, hook: Callable[..., Any], module: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
              output: Any) -> Any:
        """The output after forward hook ``key``: the hook's return value, or ``output`` when it returns None."""
        new = hook(module, args, kwargs, output) if key in self.with_kwargs else hook(module, args, output)
        return output if new is None else new


GLOBAL = ModuleHooks()  # the hooks of every module (torch.nn.modules.module's), run before each module's own


def register_module_forward_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """``hook(module, args)`` before every module's forward, ahead of the module's own pre-hooks (as torch's)."""
    return GLOBAL.add("pre", hook, prepend=False)


def register_module_forward_hook(hook: Callable[..., Any], *, with_kwargs: bool = False,
                                 always_call: bool = False) -> RemovableHandle:
    """``hook(module, args, output)`` after every module's forward, ahead of the module's own forward hooks."""
    return GLOBAL.add("post", hook, prepend=False, with_kwargs=with_kwargs, always_call=always_call)


def register_module_full_backward_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """``hook(module, grad_output)`` in every module's backward, ahead of the module's own backward pre-hooks."""
    return GLOBAL.add("backward_pre", hook, prepend=False)


def register_module_full_backward_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """``hook(module, grad_input, grad_output)`` in every module's backward, ahead of the module's own."""
    return GLOBAL.add("backward", hook, prepend=False)


def with_global(own: ModuleHooks | None) -> ModuleHooks | None:
    """``own`` (a module's hooks, or None) with the global hooks put first; ``own`` when there are none."""
    if not (GLOBAL.pre or GLOBAL.post or GLOBAL.backward or GLOBAL.backward_pre):
        return own
    if own is None:
        return GLOBAL
    merged = ModuleHooks()
    for kind in ("pre", "post", "backward", "backward_pre", "backward_old"):
        setattr(merged, kind, {**getattr(GLOBAL, kind), **getattr(own, kind)})
    merged.with_kwargs, merged.always_call = GLOBAL.with_kwargs | own.with_kwargs, GLOBAL.always_call | own.always_call
    return merged


def _args_kwargs(new: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict]:
    """What a ``with_kwargs`` pre-hook returned: None keeps (args, kwargs), else it must be a new (args, kwargs)."""
    if new is None:
        return args, kwargs
    if not (isinstance(new, tuple) and len(new) == 2):
        raise RuntimeError(f"a with_kwargs forward pre-hook returned {new}; it has to return None or an "
                           f"(args, kwargs) pair")
    return new


def _hook_last_node(module: Any, args: tuple[Any, ...], output: Any, hooks: list[Callable[..., Any]]) -> None:
    """torch's non-full backward hooks: each registered on the grad_fn of the output's first Tensor (dict values
    and first items searched, as torch does), called as ``hook(module, grad_input, grad_output)``; torch's
    FutureWarnings where that node is not the whole module."""
    var = output
    while not isinstance(var, Tensor):
        var = next(v for v in var.values() if isinstance(v, Tensor)) if isinstance(var, dict) else var[0]
    node = var.grad_fn
    if node is None:
        return
    for hook in hooks:
        node.register_hook(functools.partial(_call_old, hook, module))
    _warn_non_full(args, output, var)


def _warn_non_full(args: tuple[Any, ...], output: Any, var: Tensor) -> None:
    """torch's ``_maybe_warn_non_full_backward_hook``: the cases where the hooked node's gradients are not the
    module's (outputs or inputs not Tensors, outputs from several nodes, inputs not the node's own inputs)."""
    def edge(t: Tensor) -> Any:  # torch's next_functions entry: the parent's node, AccumulateGrad, or None
        return ("node", id(t)) if t._backward is not None else ("leaf", id(t)) if t.requires_grad else None

    outputs = (output,) if isinstance(output, Tensor) else output
    if not (isinstance(outputs, tuple) and all(isinstance(r, Tensor) for r in outputs)):
        warnings.warn("register_backward_hook on a Module whose output is neither a Tensor nor a tuple of them is "
                      "deprecated: such a hook sees only part of grad_output. Switch to "
                      "register_full_backward_hook for complete gradients.",
                      FutureWarning, stacklevel=3)
        return
    if not all(isinstance(i, Tensor) for i in args):
        warnings.warn("register_backward_hook on a Module whose input is neither a Tensor nor a tuple of them is "
                      "deprecated: such a hook sees only part of grad_input. Switch to "
                      "register_full_backward_hook for complete gradients.", FutureWarning, stacklevel=3)
        return
    out_nodes = {id(r) for r in outputs if r._backward is not None}
    if not out_nodes or (len(out_nodes) == 1 and id(var) not in out_nodes):
        warnings.warn("register_backward_hook on a Module whose outputs sit inside Python containers is "
                      "deprecated: such a hook sees only part of grad_output.", FutureWarning, stacklevel=3)
    elif len(out_nodes) > 1:
        warnings.warn("register_backward_hook on a Module whose outputs come from more than one autograd node is "
                      "deprecated: such a hook sees only part of grad_output. Switch to "
                      "register_full_backward_hook for complete gradients.",
                      FutureWarning, stacklevel=3)
    elif {edge(i) for i in args if i._backward is not None} != {edge(p) for p in var._parents}:
        warnings.warn("register_backward_hook on a Module whose forward records several autograd nodes is "
                      "deprecated: such a hook sees only part of grad_input. Switch to "
                      "register_full_backward_hook for complete gradients.",
                      FutureWarning, stacklevel=3)


def _call_old(hook: Callable[..., Any], module: Any, grad_input: tuple[Any, ...],
              grad_output: tuple[Any, ...]) -> Any:
    return hook(module, grad_input, grad_output)


def _route_inputs(args: tuple[Any, ...], state: dict[str, Any]) -> tuple[Any, ...]:
    """The positional Tensor arguments that require grad, through one identity node whose backward runs the
    hooks on all of their gradients at once. As torch's, ``grad_input`` has one entry per positional argument:
    None for one that is not a Tensor, zeros for a Tensor that requires no grad or got none."""
    wanted = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    state["n_in"], state["slots"] = len(args), wanted
    # (shape, dtype, device) of each Tensor argument: the zeros of one that requires no grad or gets none
    state["specs"] = {i: (a.shape, a.dtype, a.device) for i, a in enumerate(args) if isinstance(a, Tensor)}
    if not wanted:
        return args
    routed = _Inputs.apply(state, *(args[i] for i in wanted))
    routed = routed if isinstance(routed, tuple) else (routed,)
    out = list(args)
    for i, t in zip(wanted, routed):
        out[i] = t
    return tuple(out)


def _route_outputs(output: Any, state: dict[str, Any]) -> Any:
    """The Tensor outputs through one identity node whose backward keeps their gradients for the hooks (and runs
    the hooks itself when no input wants a gradient, as torch does)."""
    if isinstance(output, Tensor):
        return _Outputs.apply(state, output) if output.requires_grad else output
    if isinstance(output, tuple) and any(isinstance(o, Tensor) and o.requires_grad for o in output):
        # (an output that requires no grad stays so, as torch's: its grad_output entry is None)
        state["constant"] = [i for i, o in enumerate(output) if isinstance(o, Tensor) and not o.requires_grad]
        return _Outputs.apply(state, *output)
    return output


def _run_hooks(state: dict[str, Any], grad_input: tuple[Any, ...]) -> tuple[Any, ...]:
    for hook in state["hooks"]:
        new = hook(state["module"], grad_input, state.get("grad_output", ()))
        if new is not None:
            if len(new) != len(grad_input):
                raise RuntimeError(f"a backward hook gave back {len(new)} grad_input entries where "
                                   f"{len(grad_input)} are needed")
            grad_input = tuple(new)
    return grad_input


class _Identity(Function):
    """The tensors themselves, as new graph nodes whose backward (the subclass's) sees all their gradients at once
    (None for a tensor that got none)."""

    @staticmethod
    def forward(ctx: FunctionCtx, state: dict[str, Any], *xs: Any) -> Any:
        ctx.state = state
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(*(xs[i] for i in state.pop("constant", ())))
        return xs if len(xs) > 1 else xs[0]


class _Inputs(_Identity):
    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        state = ctx.state
        grad_input: list[Any] = [None] * state["n_in"]
        got = dict(zip(state["slots"], grads))
        for k, (shape, dtype, device) in state["specs"].items():  # torch's zeros where a Tensor got no gradient
            grad_input[k] = zeros(shape, dtype=dtype, device=device) if got.get(k) is None else got[k]
        grad_input = _run_hooks(state, tuple(grad_input))
        return (None, *(grad_input[k] for k in state["slots"]))


class _Outputs(_Identity):
    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        state = ctx.state
        for hook in state["pre_hooks"]:
            new = hook(state["module"], grads)
            if new is not None:
                if len(new) != len(grads):
                    raise RuntimeError(f"a backward pre-hook gave back {len(new)} grad_output entries where "
                                       f"{len(grads)} are needed")
                grads = tuple(new)
        state["grad_output"] = grads
        if not state["slots"]:  # no input wants a gradient: torch warns, then runs the hooks here
            warnings.warn("Full backward hook is firing on the module outputs' gradients: none of the module's "
                          "inputs requires grad (so grad_input is all None)",
                          UserWarning, stacklevel=2)
            _run_hooks(state, (None,) * state["n_in"])
        return (None, *grads)
