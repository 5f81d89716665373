"""``torch.autograd.graph``: ``Node`` (what ``grad_fn`` is an instance of), ``saved_tensors_hooks``,
``save_on_cpu`` and ``disable_saved_tensors_hooks``.

The built-in ops here keep their saved values as arrays inside their backward closures, not as tensors, so the
pack / unpack hooks of ``saved_tensors_hooks`` apply to what custom ``autograd.Function``s save with
``ctx.save_for_backward`` (packed when saved, unpacked when ``ctx.saved_tensors`` is read); built-in ops keep
their values as they are, which gives the same gradients for hooks that follow torch's contract (unpack returns a
tensor equal to the one packed). ``save_on_cpu`` is therefore a no-op here (the values stay where they are).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..autograd import AccumulateGrad, GradFn, Node

__all__ = ["AccumulateGrad", "GradFn", "Node", "disable_saved_tensors_hooks", "save_on_cpu", "saved_tensors_hooks"]


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
