"""``DataLoader`` as torch's: batches of a ``Dataset`` collated into Tensors.

    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    for xb, yb in loader:            # Tensors, the last batch smaller unless drop_last=True
        ...

Defaults are torch's (batch_size=1, shuffle=False, drop_last=False). Shuffling draws a new permutation each
epoch from ``generator`` (a ``tinygrad_adam.Generator``) or else from the global CPU stream, so ``manual_seed``
makes the order repeatable. Loading runs in the calling process: ``num_workers`` and ``pin_memory`` are
accepted and ignored (``pin_memory=True`` warns without a GPU, as torch's; ``get_worker_info()`` is None). An
``IterableDataset`` is batched in the order its ``__iter__`` yields, afresh each pass, with no sampler.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor
from .dataset import IterableDataset, permutation
from .samplers import RandomSampler, Sampler, SequentialSampler
from .sparse import CSRMatrix


def default_convert(data: Any) -> Any:
    """One uncollated example as ``torch.utils.data.default_convert`` leaves it: numpy arrays (but of strings or
    objects) and numpy scalars become Tensors of their dtype, tuples become lists (a namedtuple keeps its type),
    dicts and lists are converted item by item, anything else is returned as it is."""
    strings = isinstance(data, np.str_ | np.bytes_) or (isinstance(data, np.ndarray) and data.dtype.kind in "USO")
    if isinstance(data, np.ndarray | np.generic) and not strings:
        return Tensor(np.asarray(data))
    if isinstance(data, Mapping):
        return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


class _InfiniteConstantSampler(Sampler):
    """An IterableDataset loader's ``sampler``: None forever (torch's; the dataset itself decides the order)."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of examples into a batch, as ``torch.utils.data.default_collate``.

    Tensors and numpy arrays are stacked into a Tensor (a new first dim); numpy scalars become a Tensor of their
    dtype; Python floats float64, ints int64 and bools bool Tensors; strings stay a list; tuples and lists are
    collated field by field into a list (a namedtuple keeps its type), dicts key by key.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        xp = elem.xp
        return Tensor(xp.stack([t._data for t in batch]))
    if isinstance(elem, np.ndarray | np.generic) and elem.dtype.kind not in "USO":
        return Tensor(np.stack([np.asarray(b) for b in batch]))
    if isinstance(elem, bool):
        return Tensor(np.array(batch, dtype=bool))
    if isinstance(elem, int):
        return Tensor(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return Tensor(np.array(batch, dtype=np.float64))
    if isinstance(elem, str | bytes):
        return list(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([b[key] for b in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, Sequence):
        if any(len(b) != len(elem) for b in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain Tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` examples, collated by ``collate_fn``.

    ``sampler`` (an iterable of indices) replaces the sequential/shuffled order (without one, ``loader.sampler`` is
    a SequentialSampler or a RandomSampler of ``generator``, as torch's); ``batch_sampler`` (an iterable of index
    lists) replaces batching too. ``batch_size=None`` yields single examples, uncollated batches of one.
    ``len(loader)`` is the number of batches. The dataset stays reachable as ``loader.dataset``.
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Iterable[int] | None = None, batch_sampler: Iterable[Sequence[int]] | None = None,
                 num_workers: int = 0, collate_fn: Callable[[list[Any]], Any] | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None, generator: Any = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False) -> None:
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:  # torch's checks: an iterable dataset decides its own order
            for name, given in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
                if given not in (None, False):
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, but "
                                     f"got {name}={given}")
        elif not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(f"DataLoader needs a map-style dataset (with __getitem__ and __len__), got "
                            f"{type(dataset).__name__}")
        if isinstance(dataset, tuple) and dataset and all(isinstance(a, np.ndarray | CSRMatrix) for a in dataset):
            raise TypeError("DataLoader got a tuple of arrays, which it would read as a dataset of "
                            f"{len(dataset)} examples; pass TensorDataset(x, y), or use ArrayLoader((x, y)) for "
                            "numpy minibatches")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer)
                                       or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size!r}")
        if batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                             "sampler, and drop_last")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, bool(shuffle), drop_last
        self._default_order = sampler is None  # drawn here, as the samplers torch would make draw them
        if self._iterable:
            sampler = _InfiniteConstantSampler()
        elif sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        self.sampler, self.batch_sampler, self.generator = sampler, batch_sampler, generator
        self.collate_fn, self.num_workers, self.pin_memory = collate_fn, num_workers, pin_memory

    def _indices(self) -> Iterable[int]:
        if not self._default_order:
            return self.sampler
        n = len(self.dataset)
        return permutation(n, self.generator) if self.shuffle else np.arange(n)

    def _batches(self) -> Iterator[Sequence[int]]:
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        indices = np.fromiter((int(i) for i in self._indices()), dtype=np.int64)
        size = self.batch_size or 1
        stop = len(indices) - len(indices) % size if self.drop_last else len(indices)
        for start in range(0, stop, size):
            yield indices[start:start + size]

    def __iter__(self) -> Iterator[Any]:
        """The batches; with ``pin_memory`` and no GPU, warns at each iteration's start as torch's does."""
        if self.pin_memory and not backend.cupy_available():
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then device pinned "
                          "memory won't be used.", UserWarning, stacklevel=2)
        return self._iterate()

    def _iterate(self) -> Iterator[Any]:
        if self._iterable:
            yield from self._iterate_iterable()
            return
        fast = self.collate_fn is None and self.batch_size is not None and hasattr(self.dataset, "rows")
        for idx in self._batches():
            if fast:  # array-backed: one fancy index per array; a list, as default collation of tuples gives
                yield [Tensor(a) for a in self.dataset.rows(np.asarray(idx, dtype=np.int64))]
            elif self.batch_size is None and self.batch_sampler is None:  # one example, not collated: converted
                yield (self.collate_fn or default_convert)(self.dataset[int(idx[0])])
            else:
                yield (self.collate_fn or default_collate)([self.dataset[int(i)] for i in idx])

    def _iterate_iterable(self) -> Iterator[Any]:
        """An IterableDataset's examples in the order it yields them (a new ``iter`` each pass), ``batch_size`` at a
        time and collated, the last batch short unless ``drop_last``; with ``batch_size=None``, one at a time
        through ``collate_fn``, or else ``default_convert``."""
        examples = iter(self.dataset)
        if self.batch_size is None:
            for example in examples:
                yield (self.collate_fn or default_convert)(example)
            return
        while batch := list(itertools.islice(examples, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield (self.collate_fn or default_collate)(batch)

    def __len__(self) -> int:
        if self._iterable:  # the dataset's own length (a TypeError without one), in batches
            n, size = len(self.dataset), self.batch_size or 1
            return n // size if self.drop_last else -(-n // size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        n = len(self.sampler)  # type: ignore[arg-type]
        size = self.batch_size or 1
        return n // size if self.drop_last else -(-n // size)
