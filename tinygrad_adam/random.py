"""``torch.random`` as a namespace: seeding, the generators' state, and ``fork_rng``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .backend import get_rng_state, initial_seed, seed, set_rng_state
from .creation import default_generator, manual_seed


@contextlib.contextmanager
def fork_rng(devices: Any = None, enabled: bool = True, **_: Any) -> Iterator[None]:
    """Random numbers drawn inside the block leave the generators as they were before it (``enabled=False``: a
    no-op). ``devices`` is accepted for torch's signature: every device's state is saved and restored."""
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


__all__ = ["default_generator", "fork_rng", "get_rng_state", "initial_seed", "manual_seed", "seed", "set_rng_state"]
