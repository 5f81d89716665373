"""``torch.autograd.graph``: ``Node`` (what ``grad_fn`` is an instance of), ``saved_tensors_hooks``,
``save_on_cpu``, ``disable_saved_tensors_hooks`` and ``register_multi_grad_hook``.

The built-in ops here keep their saved values as arrays inside their backward closures, not as tensors, so the
pack / unpack hooks of ``saved_tensors_hooks`` apply to what custom ``autograd.Function``s save with
``ctx.save_for_backward`` (packed when saved, unpacked when ``ctx.saved_tensors`` is read); built-in ops keep
their values as they are, which gives the same gradients for hooks that follow torch's contract (unpack returns a
tensor equal to the one packed). ``save_on_cpu`` is therefore a no-op here (the values stay where they are).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..autograd import AccumulateGrad, GradFn, Node, RemovableHandle, current_pass, register_hook

if TYPE_CHECKING:
    from ..tensor import Tensor

__all__ = ["AccumulateGrad", "GradFn", "Node", "disable_saved_tensors_hooks", "register_multi_grad_hook",
           "save_on_cpu", "saved_tensors_hooks"]


class _HookState(threading.local):
    def __init__(self) -> None:
        self.stack: list[tuple[Callable[[Any], Any], Callable[[Any], Any]]] = []
        self.disabled: str | None = None  # disable_saved_tensors_hooks's message while inside it


_state = _HookState()


def current_hooks() -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
    """The innermost (pack, unpack) pair in effect, or None."""
    return _state.stack[-1] if _state.stack else None


class saved_tensors_hooks:  # noqa: N801 - torch's name
    """``with saved_tensors_hooks(pack_hook, unpack_hook):`` tensors saved for backward inside go through
    ``pack_hook`` when saved and ``unpack_hook`` when backward reads them (see the module docstring)."""

    def __init__(self, pack_hook: Callable[[Any], Any], unpack_hook: Callable[[Any], Any]) -> None:
        self.pack_hook, self.unpack_hook = pack_hook, unpack_hook

    def __enter__(self) -> saved_tensors_hooks:
        if _state.disabled is not None:
            raise RuntimeError(_state.disabled)
        _state.stack.append((self.pack_hook, self.unpack_hook))
        return self

    def __exit__(self, *exc: object) -> None:
        _state.stack.pop()


class save_on_cpu(saved_tensors_hooks):  # noqa: N801
    """``with save_on_cpu(pin_memory=False, device_type="cuda"):`` saved tensors kept on the CPU (here they are
    packed as CPU tensors and moved back to their device when unpacked)."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        def pack(t: Any) -> tuple[str, Any]:
            return str(t.device), t.to("cpu")

        def unpack(packed: tuple[str, Any]) -> Any:
            device, t = packed
            return t.to(device)
        super().__init__(pack, unpack)


class disable_saved_tensors_hooks:  # noqa: N801
    """``with disable_saved_tensors_hooks(message):`` entering ``saved_tensors_hooks`` inside raises a
    RuntimeError with ``message`` (as torch's; also when hooks are already in effect on entry)."""

    def __init__(self, error_message: str) -> None:
        self.error_message = error_message

    def __enter__(self) -> None:
        if _state.stack:
            raise RuntimeError(self.error_message)
        self.previous, _state.disabled = _state.disabled, self.error_message

    def __exit__(self, *exc: object) -> None:
        _state.disabled = self.previous

    def __call__(self, func: Callable) -> Callable:
        import functools

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)
        return wrapper


def register_multi_grad_hook(tensors: Sequence[Tensor], fn: Callable[[Any], Any], *, mode: str = "all"
                             ) -> RemovableHandle:
    """Call ``fn`` once per backward run that computes a gradient of one of ``tensors`` (each must require grad).
    mode "all": ``fn(grads)``, one entry per tensor (None where this run computes none), as soon as the run has
    computed every gradient of them it will (at its end, should one it reaches get no gradient). mode "any":
    ``fn(grad)`` with the first of them the run computes. What fn returns is ignored, as in torch; the handle
    removes the hook from every tensor."""
    if mode not in ("all", "any"):
        raise ValueError(f"register_multi_grad_hook: mode must be 'all' or 'any', got {mode!r}")
    if hasattr(tensors, "requires_grad"):
        raise TypeError("register_multi_grad_hook takes a sequence of tensors; pass (t,) for one tensor")
    tensors = tuple(tensors)
    state: dict[str, Any] = {"run": None, "grads": [], "left": 0, "done": True}

    def finish() -> None:
        if not state["done"]:
            state["done"] = True
            fn(list(state["grads"]))

    def hook_for(i: int) -> Callable[[Tensor], None]:
        def hook(grad: Tensor) -> None:
            run = current_pass()
            if state["run"] != run.serial:  # this run's first gradient of one of them
                state.update(run=run.serial, grads=[None] * len(tensors), done=False)
                if mode == "any":
                    fn(grad)
                    return
                state["left"] = sum(run.reaches(t) for t in tensors)
                run.at_end.append(finish)
            if mode == "all" and not state["done"]:
                state["grads"][i] = grad
                state["left"] -= 1
                if state["left"] <= 0:
                    finish()
        return hook

    handles = [register_hook(t, hook_for(i)) for i, t in enumerate(tensors)]

    def remove() -> None:
        for h in handles:
            h.remove()
    return RemovableHandle(remove)
