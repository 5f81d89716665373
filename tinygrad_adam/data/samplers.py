"""torch's index samplers for ``DataLoader(sampler=...)`` / ``DataLoader(batch_sampler=...)``: each is an iterable
of dataset indices (Python ints), or of lists of them (``BatchSampler``), with a ``len``.

The random ones draw from ``generator`` (a CPU ``tinygrad_adam.Generator`` or a numpy Generator) or from the global
CPU stream that ``manual_seed`` seeds, afresh at each pass; the order differs from torch's for the same seed (the
generators differ), as ``DataLoader(shuffle=True)``'s does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import Any

import numpy as np

from .. import backend
from .dataset import draw_from, permutation


class Sampler:
    """Base class: subclasses define ``__iter__`` (and ``__len__`` where they know it)."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """``num_samples`` (default: the dataset's length) random indices into ``data_source``: without
    ``replacement``, whole permutations one after another (the last one cut short); with it, independent uniform
    draws."""

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples: int | None = None,
                 generator: Any = None) -> None:
        self.data_source, self.replacement, self._num_samples = data_source, replacement, num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement={replacement!r} is not a bool")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples={self.num_samples!r} is not a positive integer")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n, k = len(self.data_source), self.num_samples
        if self.replacement:
            yield from backend.to_numpy(backend.integers("cpu", 0, n, (k,), draw_from(self.generator))).tolist()
            return
        for _ in range(k // n):
            yield from permutation(n, self.generator).tolist()
        yield from permutation(n, self.generator)[:k % n].tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order."""

    def __init__(self, indices: Iterable[int], generator: Any = None) -> None:
        self.indices, self.generator = indices, generator

    def __iter__(self) -> Iterator[int]:
        indices = list(self.indices)
        for i in permutation(len(indices), self.generator).tolist():
            yield indices[i]

    def __len__(self) -> int:
        return len(self.indices)  # type: ignore[arg-type]


class BatchSampler(Sampler):
    """``sampler``'s indices in lists of ``batch_size`` (the last one shorter unless ``drop_last``)."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size={batch_size!r} is not a positive integer")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last={drop_last!r} is not a bool")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class DistributedSampler(Sampler):
    """torch's ``utils.data.distributed.DistributedSampler(dataset, num_replicas, rank, shuffle=True, seed=0,
    drop_last=False)``: replica ``rank``'s share of the indices, ``indices[rank::num_replicas]`` of an order padded
    by repeating its start (or, with ``drop_last``, cut) to a multiple of ``num_replicas``; ``len`` is that share's
    size. Shuffled, the order is a permutation fixed by ``seed + epoch`` (``set_epoch``), the same for every replica,
    drawn from our generator (not torch's order). ``num_replicas`` and ``rank`` left out are read from
    ``torch.distributed``'s default group (world size 1, rank 0), which raises ValueError before
    ``init_process_group``, as torch's."""

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from .. import distributed  # (lazily: the data layer stays light)
            num_replicas = distributed.get_world_size() if num_replicas is None else num_replicas
            rank = distributed.get_rank() if rank is None else rank
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} lies outside 0..{num_replicas - 1}")
        self.dataset, self.num_replicas, self.rank, self.shuffle, self.seed = dataset, num_replicas, rank, shuffle, seed
        self.drop_last, self.epoch = drop_last, 0
        n = len(dataset)
        uneven = drop_last and n % num_replicas != 0
        self.num_samples = -(-(n - num_replicas) // num_replicas) if uneven else -(-n // num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose permutation the next pass takes (call it before each epoch's loop, as torch's)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        order = (permutation(n, np.random.default_rng(self.seed + self.epoch)).tolist() if self.shuffle
                 else list(range(n)))
        if self.drop_last:
            order = order[:self.total_size]
        elif order:
            order = (order * -(-self.total_size // n))[:self.total_size]  # padded with the order's start, as torch
        return iter(order[self.rank::self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples
