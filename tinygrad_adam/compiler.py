"""``torch.compiler``: nothing is compiled here (``tinygrad_adam.compile`` returns the model), so code never runs
under the compiler: ``disable`` passes functions through, ``is_compiling`` is False."""

from __future__ import annotations

from typing import Any

__all__ = ["allow_in_graph", "assume_constant_result", "disable", "is_compiling", "is_dynamo_compiling", "reset"]


def disable(fn: Any = None, recursive: bool = True, **kwargs: Any) -> Any:
    """``@torch.compiler.disable`` or ``disable(fn)``: the function unchanged."""
    return (lambda f: f) if fn is None else fn


def allow_in_graph(fn: Any) -> Any:
    return fn


def assume_constant_result(fn: Any) -> Any:
    return fn


def is_compiling() -> bool:
    return False


def is_dynamo_compiling() -> bool:
    return False


def reset() -> None:
    """Clears compilation caches: there are none."""


class Settings:
    """A compiler's settings (``torch._dynamo.config``, ``torch._inductor.config``): a script may set them and read
    them back, and nothing here compiles, so they change nothing. Reading a name that was neither set nor given a
    default raises AttributeError, as torch's does for an unknown setting."""

    def __init__(self, name: str, **defaults: Any) -> None:
        self.__dict__.update(defaults, _name=name)

    def __getattr__(self, key: str) -> Any:  # only for a name never set
        raise AttributeError(f"{self._name} has no setting {key!r} here (nothing is compiled, so settings change "
                             f"nothing; set it before reading it)")
