"""Image transforms as torchvision's, for ``MNIST(..., transform=...)``: ``ToTensor``, ``Normalize``, ``Compose``,
``Lambda``. Images are numpy arrays (H, W) or (H, W, C), which is what ``numpy.asarray`` of a PIL image gives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor


class Compose:
    """Apply ``transforms`` in order."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class ToTensor:
    """An image array (H, W) or (H, W, C) -> a Tensor (C, H, W); uint8 pixels become float32 in [0, 1] (divided by
    255), other dtypes are kept unscaled, as torchvision's ``ToTensor``."""

    def __call__(self, pic: Any) -> Tensor:
        a = np.asarray(pic)
        if a.ndim not in (2, 3):
            raise ValueError(f"ToTensor: expected an image of shape (H, W) or (H, W, C), got shape {a.shape}")
        chw = np.ascontiguousarray((a[:, :, None] if a.ndim == 2 else a).transpose(2, 0, 1))
        if chw.dtype == np.uint8:
            chw = chw.astype(np.float32)
            chw /= 255
        return Tensor(chw)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """(x - mean[c]) / std[c] for each channel c of a Tensor (..., C, H, W)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        self.mean, self.std = list(mean), list(std)
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std evaluated to zero, leading to division by zero: {self.std}")

    def __call__(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim < 3:
            raise TypeError(f"Normalize needs a Tensor image (..., C, H, W) (apply ToTensor first), got "
                            f"{type(x).__name__} {getattr(x, 'shape', '')}")
        if x.dtype.kind != "f":  # mean and std in an integer dtype would round (0.3081 -> 0): torchvision refuses
            raise TypeError(f"Normalize needs a floating image, got dtype {x.dtype}: convert first (ToTensor, or "
                            f"x.float() / 255)")
        mean = x.xp.asarray(np.asarray(self.mean, dtype=x.dtype).reshape(-1, 1, 1))
        std = x.xp.asarray(np.asarray(self.std, dtype=x.dtype).reshape(-1, 1, 1))
        if not x.requires_grad:  # the usual case, per image in a data pipeline: no graph, no op overhead
            return Tensor((x._data - mean) / std)
        return (x - Tensor(mean)) / Tensor(std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Lambda:
    """Apply a user function."""

    def __init__(self, lambd: Callable[[Any], Any]) -> None:
        if not callable(lambd):
            raise TypeError(f"Lambda: argument should be callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, x: Any) -> Any:
        return self.lambd(x)

    def __repr__(self) -> str:
        return "Lambda()"
