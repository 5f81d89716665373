"""``torch.utils.checkpoint`` at torch's path: ``checkpoint`` and ``checkpoint_sequential``.

In torch, activation checkpointing trades compute for memory: a checkpointed segment keeps only its inputs, and its
activations are recomputed in backward. Here the segment simply runs once, with its whole graph kept: the values and
gradients are torch's, but NO memory is saved (nothing is recomputed, so ``preserve_rng_state`` and
``determinism_check`` have nothing to act on). The arguments are checked, and warned about, as torch 2.13 does.

The reentrant variant (``use_reentrant=True``, the default when it is not passed) keeps torch's visible quirk: when
no positional Tensor argument requires grad, the segment runs under ``no_grad`` (a warning says gradients will be
None), so parameters inside it get no gradient.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from ..autograd import no_grad
from ..tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential", "noop_context_fn"]

_DETERMINISM_CHECKS = ("default", "none")


def noop_context_fn() -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
    """``checkpoint``'s default ``context_fn``: two empty context managers (forward, recomputation)."""
    return contextlib.nullcontext(), contextlib.nullcontext()


def _unpassed(name: str) -> None:
    warnings.warn(f"{name}: the use_reentrant parameter should be passed explicitly. use_reentrant=False is "
                  "recommended, but if you need to preserve the current default behavior, you can pass "
                  "use_reentrant=True (as torch 2.13 warns; tinygrad_adam runs both the same way, without recomputing)",
                  stacklevel=3)


def checkpoint(function: Callable[..., Any], *args: Any, use_reentrant: bool | None = None,
               context_fn: Callable[[], tuple[Any, Any]] = noop_context_fn, determinism_check: str = "default",
               debug: bool = False, early_stop: bool = True, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, as torch's activation checkpoint computes it (same outputs and gradients), but
    run once with its graph kept: no memory is saved. ``use_reentrant`` not passed warns and means True, as in torch;
    the reentrant variant takes no keyword arguments, ``context_fn`` or ``debug`` (a ValueError) and runs under
    ``no_grad`` when no positional Tensor argument requires grad. The non-reentrant one runs ``function`` inside the
    first context manager ``context_fn()`` returns. ``preserve_rng_state`` (a keyword) is accepted."""
    if use_reentrant is None:
        _unpassed("torch.utils.checkpoint")
        use_reentrant = True
    kwargs.pop("preserve_rng_state", True)
    if use_reentrant:
        if kwargs:
            raise ValueError(f"Unexpected keyword arguments: {','.join(kwargs)} (the reentrant checkpoint passes "
                             "none to the function; use use_reentrant=False)")
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError("Passing `context_fn` or `debug` is only supported when use_reentrant=False.")
        if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2)
            with no_grad():
                return function(*args)
        return function(*args)
    if debug and context_fn is not noop_context_fn:
        raise ValueError("debug=True is incompatible with non-default context_fn")
    if determinism_check not in _DETERMINISM_CHECKS:
        raise ValueError(f"determinism_check should be one of {list(_DETERMINISM_CHECKS)}, but got "
                         f"{determinism_check}")
    forward_context, _ = context_fn()
    with forward_context:
        return function(*args, **kwargs)


def checkpoint_sequential(functions: Any, segments: int, input: Any,  # noqa: A002 - torch's name
                          use_reentrant: bool | None = None, **kwargs: Any) -> Any:
    """``functions`` (an ``nn.Sequential`` or a list of modules / one-argument functions) applied in turn to
    ``input``, cut into ``segments`` parts of ``len(functions) // segments`` (the last takes the rest) of which all
    but the last go through ``checkpoint``, as torch does; no memory is saved. Only ``preserve_rng_state`` is
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
