"""``tinygrad_adam.cuda``, as ``torch.cuda``: is the GPU backend usable, how many devices, seeding, syncing."""

from __future__ import annotations

from . import backend


def is_available() -> bool:
    """True when cupy imports and sees a GPU (the GPU backend is usable)."""
    return backend.cupy_available()


def device_count() -> int:
    if not is_available():
        return 0
    return int(backend.xp_of("cuda:0").cuda.runtime.getDeviceCount())


def current_device() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """Seed every device's stream (one seed for all devices here)."""
    backend.manual_seed(seed)


manual_seed_all = manual_seed


def synchronize(device: str | None = None) -> None:
    backend.synchronize("cuda" if device is None else str(device))


def __getattr__(name: str) -> object:
    """``tinygrad_adam.cuda.amp``: torch.cuda.amp's old names for ``tinygrad_adam.amp`` (loaded on first use)."""
    if name == "amp":
        from .amp import cuda_amp

        return cuda_amp
    raise AttributeError(f"module 'tinygrad_adam.cuda' has no attribute {name!r}")
