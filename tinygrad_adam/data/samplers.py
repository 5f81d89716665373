"""torch's index samplers for ``DataLoader(sampler=...)`` / ``DataLoader(batch_sampler=...)``: each is an iterable
of dataset indices (Python ints), or of lists of them (``BatchSampler``), with a ``len``.

The random ones draw from ``generator`` (a CPU ``tinygrad_adam.Generator`` or a numpy Generator) or from the global
CPU stream that ``manual_seed`` seeds, afresh at each pass; the order differs from torch's for the same seed (the
generators differ), as ``DataLoader(shuffle=True)``'s does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import Any

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
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement!r}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples!r}")

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
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last!r}")
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
