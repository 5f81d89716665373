"""``tinygrad_adam.cuda``, as ``torch.cuda``: is the GPU backend usable, how many devices, seeding, syncing."""

from __future__ import annotations

import sys

from . import backend
from .amp import cuda_amp as amp

sys.modules[amp.__name__] = amp  # `from tinygrad_adam.cuda.amp import GradScaler` as torch's submodule


def is_available() -> bool:
    """True when cupy imports and sees a GPU (the GPU backend is usable)."""
    return backend.cupy_available()


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """False: there is no bfloat16 dtype here, so a program choosing its dtype by this (nanoGPT's train.py) picks
    float16 (torch answers False on its CPU build and True on a GPU of compute capability 8 or more)."""
    return False


def device_count() -> int:
    if not is_available():
        return 0
    return int(backend.xp_of("cuda:0").cuda.runtime.getDeviceCount())


def current_device() -> int:
    return 0


def set_device(device: str | int) -> None:
    """torch's ``cuda.set_device`` (imagenet/main.py's ``--gpu N``): here one GPU serves the process, so it takes
    that one (``0``, ``"cuda"``, ``"cuda:0"``; it raises without a usable GPU, as torch) and refuses another."""
    name = backend.parse_device(device)
    if name == "cpu":
        raise ValueError(f"Expected a cuda device, but got: {device}")
    if name != "cuda:0":
        raise NotImplementedError(f"cuda.set_device({device!r}): one GPU per process here, cuda:0")


def manual_seed(seed: int) -> None:
    """Seed every device's stream (one seed for all devices here)."""
    backend.manual_seed(seed)


manual_seed_all = manual_seed


def synchronize(device: str | None = None) -> None:
    backend.synchronize("cuda" if device is None else str(device))


def empty_cache() -> None:
    """torch's ``cuda.empty_cache`` (Swin's ``load_checkpoint`` calls it after a resume): cupy's default memory pool
    hands its unused blocks back to the GPU; without a usable GPU nothing is cached and it does nothing, as torch's
    does before CUDA is initialised."""
    if is_available():
        backend.xp_of("cuda:0").get_default_memory_pool().free_all_blocks()
