"""Graph recording switches: ``no_grad`` and ``enable_grad``.

Kept apart from ``tensor.py`` so ops can ask "is grad on?" without importing the Tensor class.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()``."""
    return getattr(_state, "enabled", True)


class _GradMode(contextlib.ContextDecorator):
    """Context manager and decorator that sets whether ops record a graph (reentrant: a stack)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(is_grad_enabled())
        _state.enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._prev.pop()


class no_grad(_GradMode):  # noqa: N801 - named like torch.no_grad
    """``with no_grad():`` or ``@no_grad()``: ops inside build no graph."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(_GradMode):  # noqa: N801
    """Turn graph recording back on inside a ``no_grad`` block."""

    def __init__(self) -> None:
        super().__init__(True)


@contextlib.contextmanager
def set_grad_enabled(mode: bool) -> Iterator[None]:
    """Record a graph or not, as ``mode`` says."""
    with _GradMode(mode):
        yield
