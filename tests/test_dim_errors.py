"""Out-of-range dims raise torch's exception type: ``size(d)``, ``stride(d)`` and the reductions give IndexError
(before: Python's bare "tuple index out of range" for size / stride, and ValueError from the reductions)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as ours

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def outcome(f: object) -> object:
    try:
        out = f()
        return out[0] if isinstance(out, tuple) else out  # (max(dim): values, indices)
    except (IndexError, TypeError) as e:
        return type(e)


@given(st.lists(st.integers(0, 3), max_size=4), st.one_of(st.integers(-6, 6), st.booleans(), st.just(1.0)),
       st.sampled_from(["size", "stride", "sum", "amax", "max", "argmax", "softmax"]))
@settings(max_examples=200, deadline=None)
def test_dims_in_and_out_of_range_as_torch(shape: list[int], dim: object, method: str) -> None:
    a = np.ones(shape, dtype=np.float32)
    x, t = ours.tensor(a), torch.tensor(a)
    got, want = outcome(lambda: getattr(x, method)(dim)), outcome(lambda: getattr(t, method)(dim))
    if isinstance(want, type):
        assert isinstance(got, type) and issubclass(got, want), (shape, dim, method, got)
    else:
        assert not isinstance(got, type), (shape, dim, method, got)
        np.testing.assert_array_equal(np.asarray(got.numpy() if hasattr(got, "numpy") else got),
                                      np.asarray(want.numpy() if hasattr(want, "numpy") else want))


def test_the_message_names_the_range() -> None:
    with pytest.raises(IndexError, match=r"size: dim 5 is out of range for a tensor with 2 dims \(expected -2\.\.1\)"):
        ours.zeros(2, 3).size(5)
    with pytest.raises(IndexError, match="dim 0 is out of range for a tensor with 0 dims"):
        ours.zeros(()).stride(0)
    assert ours.zeros(2, 3).size(ours.tensor(1)) == 3
