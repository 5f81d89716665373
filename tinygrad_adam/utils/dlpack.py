"""``torch.utils.dlpack``: ``from_dlpack`` (a tensor sharing another library's memory) and ``to_dlpack`` (this
tensor's DLPack capsule, for a library that reads one)."""

from __future__ import annotations

from typing import Any

from ..creation import from_dlpack
from ..tensor import Tensor


def to_dlpack(tensor: Tensor) -> Any:
    """``tensor``'s DLPack capsule, sharing its memory (BufferError for one that requires grad)."""
    return tensor.__dlpack__()


__all__ = ["from_dlpack", "to_dlpack"]
