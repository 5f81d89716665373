"""``torch.random`` as a namespace: seeding, the generators' state, and ``fork_rng``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from . import backend
from .backend import initial_seed, seed
from .creation import default_generator, manual_seed, state_dict, state_tensor
from .tensor import Tensor


def get_rng_state() -> Tensor:
    """Every device stream's state as a uint8 tensor, as torch's type (our bytes: JSON of the seed, the GPU
    restart key and the CPU stream's state); ``set_rng_state`` takes it back."""
    return state_tensor(backend.get_rng_state())


def set_rng_state(new_state: Tensor | dict[str, Any]) -> None:
    """Restore what ``get_rng_state`` returned (the CPU stream exactly; a dict, the earlier form, is taken too)."""
    backend.set_rng_state(state_dict(new_state))


@contextlib.contextmanager
def fork_rng(devices: Any = None, enabled: bool = True, **_: Any) -> Iterator[None]:
    """Random numbers drawn inside the block leave the generators as they were before it (``enabled=False``: a
    no-op). ``devices`` is accepted for torch's signature: every device's state is saved and restored."""
    if not enabled:
        yield
        return
    state = backend.get_rng_state()
    try:
        yield
    finally:
        backend.set_rng_state(state)


__all__ = ["default_generator", "fork_rng", "get_rng_state", "initial_seed", "manual_seed", "seed", "set_rng_state"]
