"""``torch.jit``: nothing is compiled here, so ``script`` and ``trace`` hand back what they were given (the same
module or function computes the same values) and the annotations pass through; ``save`` / ``load`` of a compiled
program raise (save a ``state_dict`` with ``tinygrad_adam.save`` instead)."""

from __future__ import annotations

from typing import Any, Final, TypeVar

__all__ = ["Final", "ScriptFunction", "ScriptModule", "annotate", "export", "fork", "ignore", "interface",
           "is_scripting", "is_tracing", "load", "save", "script", "trace", "trace_module", "unused", "wait"]

F = TypeVar("F")


def script(obj: F, *args: Any, **kwargs: Any) -> F:
    """``torch.jit.script``: ``obj`` itself (a module, function or class)."""
    return obj


def trace(func: F, example_inputs: Any = None, *args: Any, **kwargs: Any) -> F:
    """``torch.jit.trace``: ``func`` itself; ``example_inputs`` are not run (nothing is recorded)."""
    return func


def trace_module(mod: F, inputs: Any = None, *args: Any, **kwargs: Any) -> F:
    return mod


def ignore(drop: Any = False, **kwargs: Any) -> Any:
    """``@torch.jit.ignore`` or ``@torch.jit.ignore(drop=True)``: the function unchanged."""
    return drop if callable(drop) else (lambda fn: fn)


def unused(fn: F) -> F:
    return fn


def export(fn: F) -> F:
    return fn


def _overload_method(fn: F) -> F:
    """``@torch.jit._overload_method`` (torchvision's DenseNet marks its typed ``forward`` stubs so): the stub
    unchanged; the plain ``def`` that follows it in the class replaces it, as in eager torch."""
    return fn


def interface(obj: F) -> F:
    return obj


def annotate(the_type: Any, the_value: Any) -> Any:
    """``torch.jit.annotate(type, value)``: ``value``."""
    return the_value


def is_scripting() -> bool:
    """False: code never runs as TorchScript here."""
    return False


def is_tracing() -> bool:
    return False


def fork(func: Any, *args: Any, **kwargs: Any) -> Any:
    """``torch.jit.fork``: runs ``func`` now; ``wait`` returns its result."""
    return func(*args, **kwargs)


def wait(future: Any) -> Any:
    return future


class ScriptModule:
    """Never made here (``script`` returns the module itself): ``isinstance(m, ScriptModule)`` is False."""


class ScriptFunction:
    """Never made here, as ``ScriptModule``."""


def save(m: Any, f: Any, *args: Any, **kwargs: Any) -> None:
    raise NotImplementedError("torch.jit.save: there is no TorchScript here; save the weights with "
                              "tinygrad_adam.save(model.state_dict(), path) and rebuild the model in Python")


def load(f: Any, *args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("torch.jit.load: there is no TorchScript here; load weights saved with "
                              "tinygrad_adam.save via tinygrad_adam.load(path) and model.load_state_dict(...)")
