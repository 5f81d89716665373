"""``DataLoader`` as torch's: batches of a ``Dataset`` collated into Tensors.

    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    for xb, yb in loader:            # Tensors, the last batch smaller unless drop_last=True
        ...

Defaults are torch's (batch_size=1, shuffle=False, drop_last=False). Shuffling draws a new permutation each
epoch from ``generator`` (a ``tinygrad_adam.Generator``) or else from the global CPU stream, so ``manual_seed``
makes the order repeatable. An ``IterableDataset`` is batched in the order its ``__iter__`` yields, afresh each
pass, with no sampler. ``pin_memory`` is accepted (``pin_memory=True`` warns without a GPU, as torch's).

Loading runs in the calling process. With ``num_workers > 0`` the workers are emulated one after the other in it,
so that the batches are torch's: each worker has its own (shallow) copy of the dataset, its ``WorkerInfo`` from
``get_worker_info()`` while it runs (None otherwise), its own Python / numpy / tinygrad_adam random streams (seeded
from a base seed drawn once per pass, or once with ``persistent_workers``, so its draws leave the main process's
streams as they were), and ``worker_init_fn(worker_id)`` called first; batch k is the work of worker
``k % num_workers``, and an ``IterableDataset``'s batches come round-robin from the workers' own ``__iter__``s
(a worker that runs out drops out), so a dataset that shards itself by ``get_worker_info()`` is read once, one
that does not is read once per worker, as in torch.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import multiprocessing
import random
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..tensor import Tensor
from . import dataset as _dataset
from .dataset import IterableDataset, WorkerInfo, as_key, draw_from, permutation
from .samplers import BatchSampler, RandomSampler, Sampler, SequentialSampler
from .sparse import CSRMatrix
from .split import Split


def default_convert(data: Any) -> Any:
    """One uncollated example as ``torch.utils.data.default_convert`` leaves it: numpy arrays (but of strings or
    objects) and numpy scalars become Tensors of their dtype, tuples become lists (a namedtuple keeps its type),
    dicts and lists are converted item by item, anything else is returned as it is."""
    strings = isinstance(data, np.str_ | np.bytes_) or (isinstance(data, np.ndarray) and data.dtype.kind in "USO")
    if isinstance(data, np.ndarray | np.generic) and not strings:
        return Tensor(np.asarray(data))
    if isinstance(data, Mapping):
        return _same_mapping(data, {key: default_convert(data[key]) for key in data})
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


_END = object()  # a worker's (or the main process's) iterable dataset ran out


class _Worker:
    """One emulated DataLoader worker, as torch's process holds it: its own shallow copy of the dataset, its
    ``WorkerInfo`` (what ``get_worker_info()`` answers while it runs) and its own Python / numpy / tinygrad_adam
    random streams, seeded from ``seed`` at its first run and swapped in only while it runs."""

    def __init__(self, dataset: Any, worker_id: int, num_workers: int, seed: int,
                 init_fn: Callable[[int], None] | None) -> None:
        self.dataset = copy.copy(dataset)
        self.info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=self.dataset)
        self.iterator: Iterator[Any] | None = None
        self._states: tuple[Any, Any, Any] | None = None
        if init_fn is not None:
            with self.running():
                init_fn(worker_id)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """The block runs as this worker; the main process's streams and worker info are restored after it."""
        main = (random.getstate(), np.random.get_state(), backend.get_rng_state())
        previous = _dataset._worker_info[0]
        if self._states is None:
            random.seed(self.info.seed)
            np.random.seed(self.info.seed % 2**32)
            backend.manual_seed(self.info.seed)
        else:
            random.setstate(self._states[0])
            np.random.set_state(self._states[1])
            backend.set_rng_state(self._states[2])
        _dataset._worker_info[0] = self.info
        try:
            yield
        finally:
            self._states = (random.getstate(), np.random.get_state(), backend.get_rng_state())
            random.setstate(main[0])
            np.random.set_state(main[1])
            backend.set_rng_state(main[2])
            _dataset._worker_info[0] = previous


class _InfiniteConstantSampler(Sampler):
    """An IterableDataset loader's ``sampler``: None forever (torch's; the dataset itself decides the order)."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


def _same_mapping(elem: Mapping, items: dict) -> Any:
    """``items`` in a mapping of ``elem``'s type, as torch's collation keeps it: a mutable mapping is copied and
    updated (so a ``defaultdict`` keeps its factory), another is rebuilt from a dict, a plain dict where neither
    works."""
    if type(elem) is dict:
        return items
    try:
        if isinstance(elem, MutableMapping):
            clone = copy.copy(elem)
            clone.update(items)
            return clone
        return type(elem)(items)
    except TypeError:
        return items


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}  # torch's promotion: a higher kind's dtype wins outright


def _stack_dtype(dtypes: list[Any]) -> np.dtype:
    """The dtype ``torch.stack`` gives examples of ``dtypes``: their promotion, in which a higher kind's dtype wins
    (float32 with int64 is float32, not numpy's float64) and one kind's dtypes promote as numpy's."""
    out = np.dtype(dtypes[0])
    for dt in map(np.dtype, dtypes[1:]):
        if dt != out:
            a, b = _CATEGORY[out.kind], _CATEGORY[dt.kind]
            out = dt if b > a else out if a > b else np.promote_types(out, dt)
    return out


def _number_dtype(x: Any) -> np.dtype:
    """The dtype ``torch.tensor`` infers for one number: bool, int64 for an int, float32 (the default) for a float,
    complex64 for a complex, a numpy scalar's own."""
    if isinstance(x, np.generic):
        return x.dtype
    for kind, dtype in ((bool, np.bool_), (int, np.int64), (float, np.float32), (complex, np.complex64)):
        if isinstance(x, kind):
            return np.dtype(dtype)
    return np.asarray(x).dtype


def _python_numbers(batch: Sequence[Any]) -> Tensor:
    """``torch.tensor(batch)`` of a batch whose first example is a Python int (or bool): the examples' own dtypes
    (int64, bool, float32 for a Python float) promoted as torch does, so ``[1, 2.5]`` is float32, not truncated."""
    kinds = {type(b) for b in batch}
    if kinds == {int} or kinds == {bool}:  # the common batch, without a dtype per example
        return Tensor(np.array(batch, dtype=np.int64 if int in kinds else bool))
    return Tensor(np.array(batch, dtype=_stack_dtype([_number_dtype(b) for b in batch])))


def _same_shapes(shapes: list[tuple[int, ...]]) -> None:
    """torch.stack's RuntimeError (its message) when the examples' shapes differ."""
    for i, shape in enumerate(shapes):
        if tuple(shape) != tuple(shapes[0]):
            raise RuntimeError(f"default_collate: tensors of shape {list(shapes[0])} (entry 0) and {list(shape)} "
                               f"(entry {i}) cannot be stacked into one batch")


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of examples into a batch, as ``torch.utils.data.default_collate``.

    Tensors and numpy arrays are stacked into a Tensor (a new first dim); numpy scalars become a Tensor of their
    dtype; Python floats float64, ints int64 and bools bool Tensors; strings stay a list; tuples and lists are
    collated field by field into a list (a namedtuple keeps its type), dicts key by key.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        xp = elem.xp
        for i, t in enumerate(batch):
            if not isinstance(t, Tensor):
                raise TypeError(f"default_collate: example {i} is a {type(t).__name__} where example 0 is a Tensor: "
                                f"give every example the same type")
        _same_shapes([t.shape for t in batch])
        stacked = xp.stack([t._data for t in batch])
        dtypes = {t._data.dtype for t in batch}  # (one, the usual batch: numpy's stack is torch's)
        return Tensor(stacked if len(dtypes) == 1 else stacked.astype(_stack_dtype(list(dtypes)), copy=False))
    if isinstance(elem, np.ndarray | np.generic) and elem.dtype.kind not in "USO":
        arrays = [np.asarray(b) for b in batch]
        _same_shapes([a.shape for a in arrays])
        stacked = np.stack(arrays)
        dtypes = {a.dtype for a in arrays}
        return Tensor(stacked if len(dtypes) == 1 else stacked.astype(_stack_dtype(list(dtypes)), copy=False))
    if isinstance(elem, int):  # torch.tensor(batch): int64, bool if all are bools, float32 if a float is among them
        return _python_numbers(batch)
    if isinstance(elem, float):
        return Tensor(np.array(batch, dtype=np.float64))
    if isinstance(elem, str | bytes):
        return batch  # as given: a tuple where a tuple's field was transposed, as torch's
    if isinstance(elem, Mapping):
        return _same_mapping(elem, {key: default_collate([b[key] for b in batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(field) for field in zip(*batch)))
    if isinstance(elem, Sequence):
        if any(len(b) != len(elem) for b in batch):
            raise RuntimeError("default_collate: the sequences in this batch differ in length, so they cannot be "
                               "zipped field by field")
        return [default_collate(field) for field in zip(*batch)]
    raise TypeError(f"default_collate cannot batch a {type(elem).__name__}: it handles tensors, numpy "
                    f"arrays, numbers, strings, dicts, sequences")


def _reads_rows(dataset: Any) -> bool:
    """Whether a batch of ``dataset`` is its arrays' rows: a TensorDataset or Split whose examples are read as
    theirs (a subclass that changes ``__getitem__`` or adds ``__getitems__``, to augment, is read through them)."""
    for owner in (_dataset.TensorDataset, Split):
        if isinstance(dataset, owner):
            kind = type(dataset)
            return kind.__getitem__ is owner.__getitem__ and not hasattr(kind, "__getitems__")
    return False


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
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 multiprocessing_context: Any = None, pin_memory_device: str = "", in_order: bool = True) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, int | np.integer) or num_workers < 0:
            raise ValueError(f"num_workers={num_workers!r}: give a whole number >= 0 (0 loads in the main process)")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor applies only to worker processes: with num_workers=0 leave it None, "
                             "or set num_workers > 0")
        if num_workers == 0 and persistent_workers:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None:  # torch's checks; the workers run in this process (README)
            if num_workers == 0:
                raise ValueError("multiprocessing_context applies only to worker processes: with num_workers=0 "
                                 "leave it None, or set num_workers > 0")
            if isinstance(multiprocessing_context, str):
                methods = multiprocessing.get_all_start_methods()
                if multiprocessing_context not in methods:
                    raise ValueError(f"multiprocessing_context={multiprocessing_context!r} is not a start method; "
                                     f"give one of {methods}")
                multiprocessing_context = multiprocessing.get_context(multiprocessing_context)
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
            raise ValueError(f"batch_size={batch_size!r} is not a positive integer")
        if batch_size is None and drop_last:
            raise ValueError("drop_last=True has no meaning with batch_size=None (no batching)")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: give sampler or shuffle=True, not both (they are mutually exclusive)")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("DataLoader: a batch_sampler already makes the batches, so leave batch_size, shuffle, "
                             "sampler and drop_last at their defaults")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, bool(shuffle), drop_last
        self._default_order = sampler is None  # drawn here, as the samplers torch would make draw them
        if self._iterable:
            sampler = _InfiniteConstantSampler()
        elif sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        # torch's attributes: a given batch_sampler sets batch_size None and drop_last False; otherwise batching makes
        # one of sampler (iterated here by _batches, which draws the default order itself)
        self._auto_batches = batch_sampler is None
        if batch_sampler is not None:
            self.batch_size, self.drop_last = None, False
        elif batch_size is not None:
            batch_sampler = BatchSampler(sampler, int(batch_size), bool(drop_last))
        self.sampler, self.batch_sampler, self.generator = sampler, batch_sampler, generator
        self.collate_fn, self.num_workers, self.pin_memory = collate_fn, int(num_workers), pin_memory
        self.worker_init_fn, self.persistent_workers, self.timeout = worker_init_fn, persistent_workers, timeout
        self.prefetch_factor = 2 if num_workers and prefetch_factor is None else prefetch_factor
        self.multiprocessing_context, self.pin_memory_device = multiprocessing_context, pin_memory_device
        self.in_order = in_order  # the batches come in order either way
        self._workers: list[_Worker] | None = None  # kept between passes with persistent_workers

    def _indices(self) -> Iterable[int]:
        if not self._default_order:
            return self.sampler
        n = len(self.dataset)
        return permutation(n, self.generator) if self.shuffle else np.arange(n)

    def _batches(self) -> Iterator[Sequence[int]]:
        if not self._auto_batches:
            yield from self.batch_sampler  # type: ignore[misc]
            return
        indices = self._indices()
        if not isinstance(indices, np.ndarray):  # a sampler's keys, as they are (see _fetch)
            indices = list(indices)
        size = self.batch_size or 1
        stop = len(indices) - len(indices) % size if self.drop_last else len(indices)
        for start in range(0, stop, size):
            yield indices[start:start + size]

    def __iter__(self) -> Iterator[Any]:
        """The batches; with ``pin_memory`` and no GPU, warns at each iteration's start as torch's does."""
        if self.pin_memory and not backend.cupy_available():
            warnings.warn("'pin_memory' is True, yet there is no GPU here to pin memory for; batches stay "
                          "unpinned.", UserWarning, stacklevel=2)
        return self._iterate()

    def _start_workers(self) -> list[_Worker]:
        """This pass's emulated workers (the kept ones with ``persistent_workers``), seeded from a base seed drawn
        from ``generator`` or the global stream, as torch's, and each initialised by ``worker_init_fn``."""
        if self._workers is not None:
            return self._workers
        rng = draw_from(self.generator) or backend.generator("cpu")
        draw = rng.integers if hasattr(rng, "integers") else rng.randint  # a numpy Generator, or a RandomState
        base = int(draw(0, 2**62))
        workers = [_Worker(self.dataset, w, self.num_workers, base + w, self.worker_init_fn)
                   for w in range(self.num_workers)]
        if self.persistent_workers:
            self._workers = workers
        return workers

    def _fetch(self, dataset: Any, idx: Sequence[int]) -> Any:
        """The batch of examples ``idx`` of ``dataset`` (a worker's copy, or the loader's own)."""
        if isinstance(idx, np.ndarray):  # a slice of the default order (int64): no per-key work
            rows, keys = idx, None
        else:  # a sampler's keys reach the dataset as they are (numpy / 0-d tensor integers as ints)
            keys = [as_key(i) for i in idx]
            rows = np.asarray(keys, dtype=np.int64) if all(type(i) is int for i in keys) else None
        if self.collate_fn is None and self.batch_size is not None and rows is not None and _reads_rows(dataset):
            # array-backed: one fancy index per array; a list, as default collation of tuples gives
            return [Tensor(a) for a in type(dataset).rows(dataset, rows)]
        if keys is None:
            keys = idx.tolist()
        if self.batch_size is None and self._auto_batches:  # one example, not collated: converted
            return (self.collate_fn or default_convert)(dataset[keys[0]])
        getitems = getattr(dataset, "__getitems__", None)  # a dataset's batched read, as torch's fetcher uses it
        examples = getitems(keys) if getitems else [dataset[i] for i in keys]
        return (self.collate_fn or default_collate)(examples)

    def _iterate(self) -> Iterator[Any]:
        if self._iterable:
            yield from self._iterate_iterable()
            return
        workers = self._start_workers() if self.num_workers else None
        for k, idx in enumerate(self._batches()):
            if workers is None:
                yield self._fetch(self.dataset, idx)
                continue
            worker = workers[k % len(workers)]  # torch hands batch k to worker k % num_workers
            with worker.running():
                batch = self._fetch(worker.dataset, idx)
            yield batch

    def _next_from(self, examples: Iterator[Any]) -> Any:
        """The next batch of an IterableDataset's iterator, or ``_END``: ``batch_size`` examples collated (a short
        last one unless ``drop_last``), or with ``batch_size=None`` one example through ``collate_fn``, or else
        ``default_convert``."""
        if self.batch_size is None:
            example = next(examples, _END)
            return example if example is _END else (self.collate_fn or default_convert)(example)
        batch = list(itertools.islice(examples, self.batch_size))
        if not batch or (self.drop_last and len(batch) < self.batch_size):
            return _END
        return (self.collate_fn or default_collate)(batch)

    def _iterate_iterable(self) -> Iterator[Any]:
        """An IterableDataset's examples in the order it yields them (a new ``iter`` each pass), batched by
        ``_next_from``; with workers, each worker's own batches, round-robin, a worker that runs out dropping out."""
        if not self.num_workers:
            examples = iter(self.dataset)
            while (batch := self._next_from(examples)) is not _END:
                yield batch
            return
        active = self._start_workers()
        for worker in active:
            with worker.running():
                worker.iterator = iter(worker.dataset)
        active, turn = list(active), 0
        while active:
            worker = active[turn]
            with worker.running():
                batch = self._next_from(worker.iterator)  # type: ignore[arg-type]
            if batch is _END:
                del active[turn]
                turn = turn % len(active) if active else 0
                continue
            yield batch
            turn = (turn + 1) % len(active)

    def __len__(self) -> int:
        if self._iterable:  # the dataset's own length (a TypeError without one), in batches
            n, size = len(self.dataset), self.batch_size or 1
            return n // size if self.drop_last else -(-n // size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        n = len(self.sampler)  # type: ignore[arg-type]
        size = self.batch_size or 1
        return n // size if self.drop_last else -(-n // size)
