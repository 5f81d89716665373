"""What the fine-tuning program (tests/torch_style/finetune.py) needed, against torch: ``utils.data.ConcatDataset``
(and ``Dataset + Dataset``), and ``load_state_dict``'s refusal catchable as torch's RuntimeError."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam.nn.module import StateDictError
from tinygrad_adam.utils.data import ConcatDataset, DataLoader, Dataset, TensorDataset

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
tdata = torch.utils.data


def outcome(get, index: int):
    """``get(index)``, or the type of what it raised."""
    try:
        return get(index)
    except (IndexError, ValueError) as e:
        return type(e)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 4), min_size=1, max_size=4), data=st.data())
def test_concat_dataset_indexes_as_torch(sizes: list[int], data: st.DataObject) -> None:
    """Lengths, cumulative sizes, every index from -n - 2 to n + 1 (empty parts included, negative indices from the
    end, IndexError past the end, ValueError below -n) give torch's items."""
    starts = np.cumsum([0, *sizes])
    parts = [np.arange(10 * s, 10 * s + k) for s, k in zip(starts, sizes)]
    ours = ConcatDataset(TensorDataset(p) for p in parts)  # any iterable, as torch
    theirs = tdata.ConcatDataset([tdata.TensorDataset(torch.from_numpy(p)) for p in parts])
    n = sum(sizes)
    assert len(ours) == len(theirs) == n and ours.cumulative_sizes == theirs.cumulative_sizes
    for i in data.draw(st.lists(st.integers(-n - 2, n + 1), max_size=8)) + [0, -1, n, -n - 1]:
        got = outcome(lambda j: int(ours[j][0]), i)
        assert got == outcome(lambda j: int(theirs[j][0]), i), i


def test_concat_dataset_of_custom_datasets_loads_as_torch() -> None:
    """A ConcatDataset of user Datasets (and ``a + b``, nested) batched by DataLoader: torch's batches."""

    def make(base: type) -> type:
        class Squares(base):
            def __init__(self, start: int, n: int) -> None:
                self.start, self.n = start, n

            def __len__(self) -> int:
                return self.n

            def __getitem__(self, i: int) -> tuple[float, int]:
                if not 0 <= i < self.n:
                    raise IndexError(i)
                return float((self.start + i) ** 2), self.start + i

        return Squares

    ours_cls, theirs_cls = make(Dataset), make(tdata.Dataset)
    ours = ConcatDataset([ours_cls(0, 3) + ours_cls(10, 2), ours_cls(20, 4)])
    theirs = tdata.ConcatDataset([theirs_cls(0, 3) + theirs_cls(10, 2), theirs_cls(20, 4)])
    assert type(ours.datasets[0]) is ConcatDataset and len(ours) == len(theirs) == 9
    got = [[b.numpy() for b in batch] for batch in DataLoader(ours, batch_size=4, drop_last=True)]
    want = [[b.numpy() for b in batch] for batch in tdata.DataLoader(theirs, batch_size=4, drop_last=True)]
    assert len(got) == len(want) == 2
    for g, w in zip(got, want, strict=True):
        for a, b in zip(g, w, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_concat_dataset_refuses_nothing() -> None:
    with pytest.raises(ValueError, match="no datasets were given"):  # torch: AssertionError
        ConcatDataset([])
    with pytest.raises(AssertionError):
        tdata.ConcatDataset([])


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["ok", "missing", "unexpected", "shape", "shape_and_missing"]), strict=st.booleans())
def test_load_state_dict_refuses_where_torch_raises_runtime_error(kind: str, strict: bool) -> None:
    """The same keys reported, and a refusal (missing / unexpected keys when strict, a shape mismatch always) that
    ``except RuntimeError`` catches, as torch's."""
    results = []
    for lib in (tg, torch):
        model = lib.nn.Sequential(lib.nn.Linear(3, 2), lib.nn.ReLU(), lib.nn.Linear(2, 4))
        state = {k: np.asarray(v).copy() for k, v in model.state_dict().items()}
        if kind in ("missing", "shape_and_missing"):
            del state["2.bias"]
        if kind == "unexpected":
            state["3.weight"] = np.zeros(2, np.float32)
        if kind.startswith("shape"):
            state["2.weight"] = np.zeros((5, 2), np.float32)
        try:
            keys = model.load_state_dict({k: lib.tensor(v) for k, v in state.items()}, strict=strict)
            results.append((keys.missing_keys, keys.unexpected_keys))
        except RuntimeError as e:
            results.append(type(e))
    ours, theirs = results
    assert (ours is StateDictError) == (theirs is RuntimeError) and (ours == theirs or ours is StateDictError)
    assert issubclass(StateDictError, ValueError)
