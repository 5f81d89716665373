"""``torch.utils.data``'s names at torch's path, so ``from torch.utils.data import DataLoader`` and
``torch.utils.data.DataLoader`` work after ``import tinygrad_adam as torch``; they live in ``tinygrad_adam.data``,
except ``WeightedRandomSampler``, defined here (it draws with ``multinomial``, which the data layer may not import)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import backend
from ..creation import multinomial
from ..data import (
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)
from ..data.samplers import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
)
from ..tensor import Tensor

# torch's submodule paths, ``from torch.utils.data.dataset import random_split`` (the text classification tutorial's
# line), ``from torch.utils.data.dataloader import default_collate`` and ``import torch.utils.data.distributed``
# (imagenet/main.py's): the modules that define those names
dataset, dataloader = sys.modules[Dataset.__module__], sys.modules[DataLoader.__module__]
sys.modules[f"{__name__}.dataset"], sys.modules[f"{__name__}.dataloader"] = dataset, dataloader
distributed = sys.modules[f"{__name__}.distributed"] = sys.modules[DistributedSampler.__module__]
sys.modules[f"{__name__}.sampler"] = sys.modules[__name__]  # torch.utils.data.sampler's samplers are all here

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "DistributedSampler",
           "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler", "StackDataset", "Subset",
           "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler", "default_collate", "default_convert",
           "get_worker_info", "random_split"]


class _WeightsError(ValueError, RuntimeError):
    """WeightedRandomSampler's weights check, raised at construction: a ValueError, and a RuntimeError as the error
    torch's ``multinomial`` raises for them at the first pass."""


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices into ``range(len(weights))`` drawn with probabilities proportional to ``weights``
    (a 1-D sequence or Tensor, kept as the float64 Tensor ``self.weights``), as torch's: with ``replacement`` an
    index can come again; without, each comes at most once. Each pass (``iter``) draws afresh from ``generator``
    (a CPU ``tinygrad_adam.Generator``) or the global CPU stream that ``manual_seed`` seeds, and yields Python ints;
    ``len`` is ``num_samples``. Pass it to ``DataLoader(..., sampler=...)``.

    The weights are checked here, not at the first pass as in torch: finite, non-negative, with a positive sum, and
    without replacement at least ``num_samples`` of them non-zero (torch 2.13 would go on to draw zero-weight
    indices once the others are used up). The error is a ValueError and a RuntimeError, the family of the error
    torch's ``multinomial`` raises at the first pass."""

    def __init__(self, weights: Any, num_samples: int, replacement: bool = True, generator: Any = None) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples={num_samples!r} is not a positive integer")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement={replacement!r} is not a bool")
        w = backend.to_numpy(weights._data if isinstance(weights, Tensor) else np.asarray(weights)).astype(np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights must be 1-d, not of shape {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise _WeightsError("WeightedRandomSampler: weights must be finite and non-negative, with a positive sum")
        if not replacement and np.count_nonzero(w) < num_samples:
            raise _WeightsError(f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement from "
                                f"{np.count_nonzero(w)} non-zero weights; lower num_samples or pass replacement=True")
        self.weights, self.num_samples, self.replacement = Tensor(w), num_samples, replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        yield from multinomial(self.weights, self.num_samples, self.replacement, generator=self.generator).tolist()

    def __len__(self) -> int:
        return self.num_samples
