"""The one return type of the loaders: a split is inputs ``x`` and labels ``y`` with one row each per example."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .sparse import CSRMatrix


class Split(NamedTuple):
    """One split of a dataset. x: (N, ...) float32 array or (N, F) CSRMatrix; y: (N,) int64 labels.

    Unpacks like a tuple (``x, y = train``) and passes straight to ``DataLoader``.
    """

    x: np.ndarray | CSRMatrix
    y: np.ndarray
