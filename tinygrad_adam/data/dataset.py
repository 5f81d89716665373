"""Datasets as torch's ``torch.utils.data``: a ``Dataset`` is anything with ``__getitem__(i)`` and ``__len__``.

``TensorDataset(x, y)`` pairs tensors (or arrays) along their first dim; ``Subset`` and ``random_split`` cut one,
``ConcatDataset`` (or ``a + b``) joins several.
Array-backed datasets also offer ``rows(indices)``, the whole batch's arrays at once, which ``DataLoader`` uses
instead of collating one example at a time (same result, without a Python loop over the examples).
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor


def as_key(i: Any) -> Any:
    """A sampler's key as a dataset is given it: numpy and 0-d tensor integers as ints, any other key as it is
    (torch passes keys through: a string key works, a float is not truncated)."""
    if isinstance(i, np.integer) or (isinstance(i, Tensor) and i.ndim == 0 and i.dtype.kind in "iu"):
        return int(i)
    return i


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other: Any) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of iterable-style datasets: subclasses define ``__iter__``, which ``DataLoader`` calls afresh at
    each pass and batches in the order it yields (no sampler, no shuffle). ``a + b`` chains two of them."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __len__(self) -> int:
        """A TypeError, as ``len`` of an object without one (subclasses that know their length define it)."""
        raise TypeError(f"object of type '{type(self).__name__}' has no len()")

    def __add__(self, other: Any) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """The examples of the iterable ``datasets`` one after the other (torch's ``ChainDataset``)."""

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            total += len(d)
        return total


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerInfo:
    """What ``get_worker_info()`` answers inside a DataLoader worker, as torch's (frozen): the worker's ``id`` (0 to
    ``num_workers - 1``), ``num_workers``, its ``seed`` and ``dataset``, the worker's own copy of the dataset."""

    id: int
    num_workers: int
    seed: int
    dataset: Any
    rng: Any = None
    worker_method: str | None = "multiprocessing"


_worker_info: list[WorkerInfo | None] = [None]  # set by DataLoader while one of its emulated workers runs


def get_worker_info() -> WorkerInfo | None:
    """The current DataLoader worker's ``WorkerInfo``, or None in the main process, as torch's (so
    ``worker_info.id if worker_info else 0`` picks worker 0). With ``num_workers > 0``, ``DataLoader`` runs its
    workers one after the other in this process, and this answers for the one running."""
    return _worker_info[0]


class _AssertionValueError(ValueError, AssertionError):
    """A dataset's argument check that torch makes with ``assert``: caught as AssertionError (torch's) or
    ValueError."""


class _IndexValueError(ValueError, IndexError):
    """A dataset's argument check where torch fails indexing: caught as IndexError (torch's) or ValueError."""


class TensorDataset(Dataset):
    """Example i is ``(t[i] for t in tensors)``; every tensor must have the same first dimension."""

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise _IndexValueError("TensorDataset needs at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(np.asarray(t), dtype=np.asarray(t).dtype)
                             for t in tensors)
        for i, t in enumerate(self.tensors):
            if t.ndim == 0:
                raise _IndexValueError(f"TensorDataset: tensor {i} is 0-d, so it has no first dimension to index "
                                       f"samples by")
        n = len(self.tensors[0])
        for i, t in enumerate(self.tensors):
            if len(t) != n:
                raise _AssertionValueError(f"Size mismatch between tensors: tensor 0 has {n} rows but tensor {i} "
                                           f"has shape {t.shape}")

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(Tensor(t._data[index]) for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def rows(self, indices: np.ndarray) -> tuple[Any, ...]:
        """The arrays of examples ``indices``, one per tensor (a batch, as default collation would build it)."""
        return tuple(t._data[backend.to_device(indices, t.device)] for t in self.tensors)


class Subset(Dataset):
    """The examples ``indices`` of ``dataset``, in that order."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, [as_key(i) for i in indices]

    def __getitem__(self, index: int | list[int]) -> Any:
        if isinstance(index, list):  # torch's: the dataset is given the list of keys
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        """Examples ``indices`` at once, through the dataset's own ``__getitems__`` where it has one (torch's)."""
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """The examples of ``datasets`` one after the other; ``cumulative_sizes[i]`` is the length of the first i + 1."""

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise _AssertionValueError("ConcatDataset: no datasets were given")
        if any(isinstance(d, IterableDataset) for d in self.datasets):
            raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            if -index > len(self):
                raise ValueError("a negative index reaches past the start of the dataset")
            index += len(self)
        i = bisect.bisect_right(self.cumulative_sizes, index)
        if i == len(self.datasets):
            raise IndexError(f"ConcatDataset: index {index} is out of range for {len(self)} examples")
        return self.datasets[i][index - (self.cumulative_sizes[i - 1] if i else 0)]

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]


class StackDataset(Dataset):
    """Several datasets of one length side by side, as torch's: ``StackDataset(a, b)[i]`` is ``(a[i], b[i])``,
    ``StackDataset(x=a, y=b)[i]`` is ``{"x": a[i], "y": b[i]}`` (positional or keyword datasets, not both)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise ValueError("StackDataset takes its datasets either positionally (tuple samples) or by keyword "
                             "(dict samples), not both")
        if not args and not kwargs:
            raise ValueError("StackDataset: no datasets were given")
        parts = list(args or kwargs.values())
        self._length = len(parts[0])
        if any(self._length != len(d) for d in parts):
            raise ValueError("Size mismatch between datasets")
        self.datasets: tuple | dict = args or kwargs

    def __getitem__(self, index: int) -> Any:
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __getitems__(self, indices: list[int]) -> list[Any]:
        """Examples ``indices`` at once (tuples or dicts, as ``__getitem__``'s), each dataset read through its own
        ``__getitems__`` where it has one, as torch's."""
        parts = self.datasets if isinstance(self.datasets, dict) else dict(enumerate(self.datasets))
        columns = {}
        for key, d in parts.items():
            getitems = getattr(d, "__getitems__", None)
            columns[key] = getitems(indices) if callable(getitems) else [d[i] for i in indices]
            if len(columns[key]) != len(indices):
                raise ValueError(f"Nested dataset's output size mismatch. Expected {len(indices)}, got "
                                 f"{len(columns[key])}")
        if isinstance(self.datasets, dict):
            return [{key: col[j] for key, col in columns.items()} for j in range(len(indices))]
        return [tuple(col[j] for col in columns.values()) for j in range(len(indices))]

    def __len__(self) -> int:
        return self._length


def random_split(dataset: Any, lengths: Sequence[int | float], generator: Any = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths (or fractions summing to 1,
    the remainder dealt round-robin as torch does). The permutation comes from ``generator`` (see ``DataLoader``)."""
    n = len(dataset)
    sizes = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:  # fractions, as torch reads them (each in [0, 1])
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        sizes = [math.floor(n * f) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, k in enumerate(sizes):
            if k == 0:
                warnings.warn(f"random_split: split {i} gets no items, so that subset is empty",
                              stacklevel=2)
    if sum(sizes) != n:  # before any rounding: lengths 0.5 and 0.6 of an empty dataset are torch's error too
        raise ValueError(f"random_split: the lengths {list(lengths)} do not add up to the dataset's {n} "
                         f"examples")
    if any(k != int(k) for k in sizes):  # 2.5 and 7.5 add up to 10, but no subset can hold half an example
        raise TypeError(f"random_split: lengths must be whole numbers of examples or fractions adding up to 1, got "
                        f"{list(lengths)}")
    sizes = [int(k) for k in sizes]
    order = permutation(n, generator).tolist()
    out, start = [], 0
    for k in sizes:
        out.append(Subset(dataset, order[start:start + k]))
        start += k
    return out


def permutation(n: int, generator: Any = None) -> np.ndarray:
    """A random permutation of 0..n-1 (int64) from ``generator`` (see ``draw_from``)."""
    return backend.to_numpy(backend.permutation("cpu", n, draw_from(generator)))


def draw_from(generator: Any) -> Any:
    """The numpy generator that ``generator`` (a CPU ``tinygrad_adam.Generator`` or a numpy Generator) draws from,
    or None: the global CPU stream that ``manual_seed`` seeds."""
    rng = getattr(generator, "rng", generator)  # a Generator object draws from its own numpy generator
    if rng is not None and not hasattr(rng, "permutation"):
        raise TypeError(f"generator must be a tinygrad_adam.Generator or a numpy Generator, got "
                        f"{type(generator).__name__}")
    return rng
