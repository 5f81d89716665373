"""The return type of the array loaders: a split is inputs ``x`` and labels ``y`` with one row each per example."""

from __future__ import annotations

from typing import Any

import numpy as np

from .dataset import Dataset
from .sparse import CSRMatrix


class Split(Dataset):
    """One split of a dataset. x: (N, ...) float32 array or (N, F) CSRMatrix; y: (N,) int64 labels.

    A ``Dataset``: ``split[i]`` is example i as the pair ``(x[i], y[i])`` (a CSR row comes dense), ``len(split)``
    is N, and ``DataLoader(split, batch_size=64)`` yields Tensors. ``split.x`` and ``split.y`` are the arrays.
    """

    def __init__(self, x: np.ndarray | CSRMatrix, y: np.ndarray) -> None:
        if len(x) != len(y):
            raise ValueError(f"Split: x has {len(x)} rows but y has {len(y)}")
        self.x, self.y = x, y

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if not isinstance(index, int | np.integer):
            raise TypeError(f"Split indices must be integers, got {type(index).__name__}; use split.x and split.y "
                            f"for the arrays")
        if isinstance(self.x, CSRMatrix):
            return self.x[[index]].toarray()[0], self.y[index]
        return self.x[index], self.y[index]

    def __len__(self) -> int:
        return len(self.y)

    def rows(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x and y of examples ``indices`` (a CSR batch made dense float32)."""
        x = self.x[indices]
        return (x.toarray() if isinstance(x, CSRMatrix) else x), self.y[indices]

    def __repr__(self) -> str:
        return f"Split(x {type(self.x).__name__} {tuple(self.x.shape)}, y {tuple(self.y.shape)})"
