"""Fixes found porting the ``torch.utils.data`` patterns (tests/torch_style/data_pipelines.py), each against torch.

- ``DataLoader(num_workers > 0)`` ignored the workers: ``get_worker_info()`` was always None and ``worker_init_fn``
  was never called, so an ``IterableDataset`` that shards itself by worker (torch's documented pattern, in
  ``__iter__`` or in a ``worker_init_fn`` narrowing ``worker_info.dataset``) came out in one sequential run, and one
  that does not shard came out once instead of once per worker. A silent difference: other batches (e.g. torch's
  ``[3, 4], [7, 8], [5, 6], [9]`` for 3..9 over 2 workers, ours ``[3, 4], [5, 6], [7, 8], [9]``), other losses.
  Now the workers are emulated in the calling process: each with a shallow copy of the dataset, a frozen
  ``WorkerInfo``, ``worker_init_fn`` called first (once with ``persistent_workers``), its own Python / numpy /
  tinygrad_adam random streams (the main process's left as they were, as with torch's processes); map-style batch k
  is worker ``k % num_workers``'s, iterable batches come round-robin from the workers' own iterators.
- ``DataLoader`` accepted ``num_workers < 0``, ``prefetch_factor`` without workers and ``persistent_workers``
  without workers; torch raises ValueError (same messages now).
- ``default_collate`` of tensors / arrays of different shapes raised numpy's ValueError ("all input arrays must have
  the same shape"); torch raises RuntimeError("stack expects each tensor to be equal size, but got [2] at entry 0
  and [3] at entry 1"), and for lists of different lengths "each element in list of batch should be of equal size"
  (ours had a prefix). Loud differences (another exception type / message).
- ``torch.utils.data.StackDataset`` was missing (an AttributeError).
- A dataset's ``__getitems__`` (a batched read, which torch's fetcher calls instead of ``__getitem__`` per index)
  was ignored: a silent difference where the two differ."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as ours

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
LIBS = (torch, ours)
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")  # torch's, on 2 cores


def plain(obj: Any) -> Any:
    """Tensors as (dtype name, shape, values); lists / tuples / dicts item by item."""
    if isinstance(obj, torch.Tensor | ours.Tensor):
        return (str(obj.dtype).split(".")[-1], tuple(obj.shape), obj.tolist())
    if isinstance(obj, list | tuple):
        return type(obj).__name__, [plain(o) for o in obj]
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    return obj


def streams(lib: Any) -> tuple[type, type]:
    """``lib``'s sharding stream (0..n - 1 strided over the workers, tagged with the worker id) and its whole
    range (each worker reads it all unless a worker_init_fn narrows ``start`` / ``end``)."""
    data = lib.utils.data

    class Strided(data.IterableDataset):
        def __init__(self, n: int) -> None:
            self.n = n

        def __iter__(self) -> Iterator[Any]:
            info = data.get_worker_info()
            wid, k = (info.id, info.num_workers) if info is not None else (0, 1)
            for x in range(wid, self.n, k):
                yield x, wid

    class Whole(data.IterableDataset):
        def __init__(self, start: int, end: int) -> None:
            self.start, self.end = start, end

        def __iter__(self) -> Iterator[int]:
            return iter(range(self.start, self.end))

    return Strided, Whole


def narrow(lib: Any) -> Any:
    """The torch docs' worker_init_fn splitting ``start``..``end`` between the workers."""
    def init(worker_id: int) -> None:
        info = lib.utils.data.get_worker_info()
        d = info.dataset
        per = -(-(d.end - d.start) // info.num_workers)
        d.start, d.end = d.start + worker_id * per, min(d.start + (worker_id + 1) * per, d.end)
    return init


loader_args = st.fixed_dictionaries({
    "num_workers": st.integers(1, 3), "batch_size": st.one_of(st.none(), st.integers(1, 4)),
    "drop_last": st.booleans(), "persistent_workers": st.booleans()})


@settings(max_examples=6, deadline=None)
@given(n=st.integers(0, 9), kw=loader_args)
def test_iterable_workers_shard_like_torch(n: int, kw: dict) -> None:
    """Self-sharding, unsharded and worker_init_fn-narrowed streams over 1-3 workers (empty streams, short and
    dropped last batches, batch_size=None, persistent workers over two passes)."""
    if kw["batch_size"] is None:
        kw["drop_last"] = False
    got = []
    for lib in LIBS:
        strided, whole = streams(lib)
        loaders = [lib.utils.data.DataLoader(strided(n), **kw), lib.utils.data.DataLoader(whole(0, n), **kw),
                   lib.utils.data.DataLoader(whole(2, 2 + n), worker_init_fn=narrow(lib), **kw)]
        got.append([[plain(b) for b in loader] for loader in loaders for _ in range(2)])
    assert got[1] == got[0]


def test_worker_shards_of_3_to_9() -> None:
    got = [[plain(b)[2] for b in lib.utils.data.DataLoader(streams(lib)[1](3, 10), batch_size=2, num_workers=2,
                                                          worker_init_fn=narrow(lib))] for lib in LIBS]
    assert got[1] == got[0] == [[3, 4], [7, 8], [5, 6], [9]]


@settings(max_examples=4, deadline=None)
@given(n=st.integers(0, 7), kw=loader_args)
def test_map_style_workers_like_torch(n: int, kw: dict) -> None:
    """Batch k of a map-style dataset is worker ``k % num_workers``'s: what get_worker_info() says in __getitem__
    (with the worker's dataset copy), the values as without workers; the main process sees None."""
    if kw["batch_size"] is None:
        kw["drop_last"] = False
    got = []
    for lib in LIBS:
        loader = lib.utils.data.DataLoader(tagged(lib, n), **kw)
        got.append([[plain(b) for b in loader] for _ in range(2)])
        assert lib.utils.data.get_worker_info() is None
    assert got[1] == got[0]


def tagged(lib: Any, n: int) -> Any:
    """A map-style dataset of ``lib`` whose example i is (i, the worker's id, 10 * num_workers + whether the
    worker's dataset is a copy)."""
    data = lib.utils.data

    class Tagged(data.Dataset):
        def __len__(self) -> int:
            return n

        def __getitem__(self, i: int) -> tuple[int, int, int]:
            info = data.get_worker_info()
            return i, info.id, info.num_workers * 10 + (info.dataset is not self)

    return Tagged()


def test_worker_init_fn_leaves_the_main_streams_alone(tmp_path: Path) -> None:
    """A worker_init_fn reseeding numpy / random (a common one) and a dataset drawing from them change nothing in the
    main process, as torch's worker processes do not; it is called once per worker per pass (once with
    persistent_workers)."""
    import random

    for lib in LIBS:
        data = lib.utils.data
        log = tmp_path / f"{lib.__name__}.calls"  # torch calls it in its worker processes
        draws, init = drawing(lib, log)
        for persistent in (False, True):
            np.random.seed(0)
            random.seed(0)
            lib.manual_seed(0)
            loader = data.DataLoader(draws, batch_size=2, num_workers=2, worker_init_fn=init,
                                     persistent_workers=persistent, generator=lib.Generator().manual_seed(1))
            log.write_text("")
            for _ in range(2):
                assert len(list(loader)) == 3
            del loader  # (torch's persistent workers end with it)
            assert sorted(log.read_text().split()) == (["0", "1"] if persistent else ["0", "0", "1", "1"]), lib
            after = np.random.rand(), random.random(), lib.rand(1).item()
            np.random.seed(0)
            random.seed(0)
            lib.manual_seed(0)
            assert after == (np.random.rand(), random.random(), lib.rand(1).item()), lib


def drawing(lib: Any, log: Path) -> tuple[Any, Any]:
    """A dataset of ``lib`` drawing from numpy's, Python's and ``lib``'s global streams, and a worker_init_fn that
    logs its call to ``log`` and reseeds numpy and Python."""
    import random

    class Draws(lib.utils.data.Dataset):
        def __len__(self) -> int:
            return 6

        def __getitem__(self, i: int) -> float:
            return float(np.random.rand() + random.random()) + float(lib.rand(1))

    def init(worker_id: int) -> None:
        with open(log, "a") as f:
            f.write(f"{worker_id}\n")
        np.random.seed(worker_id)
        random.seed(worker_id)

    return Draws(), init


def test_worker_info_is_frozen() -> None:
    seen = [list(lib.utils.data.DataLoader(frozen_probe(lib), batch_size=None, num_workers=1)) for lib in LIBS]
    assert seen[1] == seen[0]


def frozen_probe(lib: Any) -> Any:
    """An iterable dataset of ``lib`` yielding what assigning to its WorkerInfo raised, then the info's fields."""
    data = lib.utils.data

    class One(data.IterableDataset):
        def __iter__(self) -> Iterator[Any]:
            info = data.get_worker_info()
            try:
                info.id = 5
                yield "assigned"
            except Exception as e:
                yield type(e).__name__
            yield (info.id, info.num_workers, isinstance(info.seed, int), type(info.dataset).__name__)

    return One()


@pytest.mark.parametrize("kw", [{"num_workers": -1}, {"prefetch_factor": 2}, {"persistent_workers": True}])
def test_worker_options_refused_like_torch(kw: dict) -> None:
    messages = []
    for lib in LIBS:
        with pytest.raises(ValueError) as e:
            lib.utils.data.DataLoader(range(3), **kw)
        messages.append(str(e.value))
    assert all(next(iter(kw)) in m for m in messages), messages  # both name the option (each in its own words)


shapes = st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple)


class Raised(NamedTuple):
    kind: str
    shapes: list
    entries: list


@settings(max_examples=40, deadline=None)
@given(batch_shapes=st.lists(shapes, min_size=1, max_size=4), as_numpy=st.booleans(), dtype=st.sampled_from(
    [np.float32, np.float64, np.int64, np.bool_]), big=st.booleans())
def test_default_collate_shapes_like_torch(batch_shapes: list, as_numpy: bool, dtype: type, big: bool) -> None:
    """Equal shapes (0-d and empty included) stack to torch's values; different ones raise torch's RuntimeError."""
    rng = np.random.default_rng(len(batch_shapes))
    scale = np.finfo(np.float32).max / 2 if big and dtype is not np.bool_ and dtype is not np.int64 else 5
    arrays = [(rng.standard_normal(s) * scale).astype(dtype) for s in batch_shapes]
    outcome = []
    for lib in LIBS:
        batch = arrays if as_numpy else [lib.tensor(a) for a in arrays]
        try:
            outcome.append(plain(lib.utils.data.default_collate(batch)))
        except (RuntimeError, TypeError) as e:
            # the shapes and entries named, not each library's sentence
            outcome.append(Raised(type(e).__name__, re.findall(r"\[[^\]]*\]", str(e)),
                                  re.findall(r"entry (\d+)", str(e))))
    if isinstance(outcome[0], Raised) and outcome[0].kind == "TypeError":
        # torch's TypeError: a numpy scalar first sends the batch down its numbers path, which then meets an array;
        # ours names the two shapes (RuntimeError, as torch's own message for arrays)
        assert isinstance(outcome[1], Raised) and outcome[1].kind == "RuntimeError"
    else:
        assert outcome[1] == outcome[0]


@pytest.mark.parametrize("batch", [[[1, 2], [1, 2, 3]], [(1,), (1, 2)], [[], [1]]])
def test_default_collate_ragged_lists_like_torch(batch: list) -> None:
    messages = []
    for lib in LIBS:
        with pytest.raises(RuntimeError) as e:
            lib.utils.data.default_collate(batch)
        messages.append(str(e.value))
    assert "differ in length" in messages[1], messages  # the same RuntimeError, in our own words


@settings(max_examples=15, deadline=None)
@given(lengths=st.lists(st.integers(0, 4), min_size=1, max_size=3), keywords=st.booleans(),
       batch_size=st.integers(1, 3))
def test_stack_dataset_like_torch(lengths: list, keywords: bool, batch_size: int) -> None:
    """Items and loader batches of StackDataset(*datasets) / StackDataset(**datasets); size mismatches raise."""
    outcome = []
    for lib in LIBS:
        parts = [lib.utils.data.TensorDataset(lib.arange(float(k)) + 10 * j) for j, k in enumerate(lengths)]
        try:
            stack = (lib.utils.data.StackDataset(**{f"d{j}": p for j, p in enumerate(parts)}) if keywords
                     else lib.utils.data.StackDataset(*parts))
        except ValueError as e:
            outcome.append(str(e))
            continue
        items = [plain(stack[i]) for i in range(len(stack))]
        outcome.append((len(stack), items, [plain(b) for b in lib.utils.data.DataLoader(stack, batch_size)]))
    assert outcome[1] == outcome[0]


def test_stack_dataset_refusals_like_torch() -> None:
    for args, kwargs in (((), {}), (([1],), {"a": [1]})):
        messages = []
        for lib in LIBS:
            with pytest.raises(ValueError) as e:
                lib.utils.data.StackDataset(*args, **kwargs)
            messages.append(str(e.value))
        said = ("At least one dataset", "no datasets were given") if not (args or kwargs) else ("both", "both")
        assert all(s in m for s, m in zip(said, messages, strict=True)), messages  # (ours in its own words)


def test_getitems_is_the_batched_read() -> None:
    got = []
    for lib in LIBS:
        class Batched(lib.utils.data.Dataset):
            def __len__(self) -> int:
                return 5

            def __getitem__(self, i: int) -> int:
                return i

            def __getitems__(self, indices: list) -> list:
                assert type(indices) is list and all(type(i) is int for i in indices)
                return [100 + i for i in indices]

        got.append([plain(b) for b in lib.utils.data.DataLoader(Batched(), batch_size=2)]
                   + [plain(b) for b in lib.utils.data.DataLoader(Batched(), batch_size=None)])
    assert got[1] == got[0]
