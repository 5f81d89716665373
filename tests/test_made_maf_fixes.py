"""What the MADE / MAF program (``tests/torch_style/made_maf.py``) met, against torch 2.13: ikostrikov's
``for data in train_loader: if isinstance(data, list): data = data[0]``. torch's default collation turns a
``TensorDataset``'s tuple examples into a list of batched tensors; ours took a fast path for array-backed datasets
that yielded a tuple, so the check failed and the program passed the whole tuple on.

Mutation run (reverted after seeing this file fail):
- ``DataLoader._iterate``'s fast path yielding ``tuple(...)`` again: the batch-type test fails."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 7), width=st.integers(1, 3), batch_size=st.integers(1, 4), drop_last=st.booleans())
def test_tensor_dataset_batches_are_lists_as_torch(n: int, width: int, batch_size: int, drop_last: bool) -> None:
    """Each batch of a TensorDataset of ``width`` tensors (n, 2) is a list of (batch, 2) tensors, equal values."""
    arrays = [np.arange(n * 2, dtype=np.float32).reshape(n, 2) + k for k in range(width)]
    loaders = [lib.utils.data.DataLoader(lib.utils.data.TensorDataset(*(lib.from_numpy(a) for a in arrays)),
                                         batch_size=batch_size, drop_last=drop_last) for lib in (torch, tg)]
    theirs, ours = (list(loader) for loader in loaders)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert type(a) is type(b) is list and len(a) == len(b) == width
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_collate_of_tuple_examples_is_a_list() -> None:
    """The slow path (a user collate-free dataset of tuples) agrees: a list, as torch's default_collate."""
    rows = [(np.float32(i), np.arange(2, dtype=np.float32) + i) for i in range(3)]
    ours = tg.utils.data.DataLoader(rows, batch_size=2)
    theirs = torch.utils.data.DataLoader(rows, batch_size=2)
    for a, b in zip(ours, theirs, strict=True):
        assert type(a) is type(b) is list
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x.numpy(), y.numpy())
