"""``tinygrad_adam.cpu``, as ``torch.cpu``: the CPU device's queries (always there, one device) and ``amp``,
torch.cpu.amp's deprecated ``autocast`` / ``GradScaler`` (``tinygrad_adam.amp``'s with the "cpu" device fixed)."""

from __future__ import annotations

import sys
from typing import Any

from .amp import cpu_amp as amp

sys.modules[amp.__name__] = amp  # `from tinygrad_adam.cpu.amp import autocast` as torch's submodule


def is_available() -> bool:
    """Always True, as torch's."""
    return True


def device_count() -> int:
    """1, as torch's."""
    return 1


def current_device() -> str:
    """"cpu", as torch's."""
    return "cpu"


def synchronize(device: Any = None) -> None:
    """Nothing to wait for: CPU ops finish before they return."""
    return None


def set_device(device: Any) -> None:
    """Accepted and ignored, as torch's."""
    return None


__all__ = ["amp", "current_device", "device_count", "is_available", "set_device", "synchronize"]
