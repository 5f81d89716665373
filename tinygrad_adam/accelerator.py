"""``tinygrad_adam.accelerator``, as ``torch.accelerator``: the device-neutral view of the GPU backend, whose only
accelerator is CUDA (through cupy). Programs written for it (pytorch/examples' current MNIST picks its device with
``torch.accelerator.current_accelerator()``) run unchanged."""

from __future__ import annotations

from . import backend, cuda


def is_available() -> bool:
    """True when the CUDA backend is usable."""
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> backend.device | None:
    """``device("cuda")`` when the CUDA backend is usable, else None (``check_available`` changes nothing: the
    backend is only known to exist once cupy sees a GPU)."""
    return backend.device("cuda") if is_available() else None


def device_count() -> int:
    return cuda.device_count()


def _require() -> None:
    if not is_available():
        raise backend.DeviceError(f"no accelerator is available: {backend.gpu_status()[1]}")


def current_device_index() -> int:
    """The current CUDA device's index; raises RuntimeError when there is no accelerator (as torch)."""
    _require()
    return cuda.current_device()


def synchronize(device: str | int | None = None) -> None:
    """Wait for the accelerator's queued work (``device``: None, an index or a name); raises RuntimeError when there
    is no accelerator (as torch)."""
    _require()
    cuda.synchronize(None if device is None else backend.device("cuda", device) if isinstance(device, int) else device)
