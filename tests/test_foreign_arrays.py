"""Another library's arrays as tensor data: ``Tensor`` / ``tensor`` / ``as_tensor`` of a torch tensor convert it
through numpy's protocol with its own dtype (``tensor`` copies; they raised AttributeError), and an object that
only has a ``dtype`` raises a TypeError instead of being stored as the tensor's "array" (``Tensor(obj)`` kept the
object itself). Sparse gradients and matrices keep their own paths (test_sparse_adam.py, test_gnn_fixes.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

DTYPES = st.sampled_from([np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_])


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)),
       make=st.sampled_from(["Tensor", "tensor", "as_tensor"]))
def test_a_torch_tensor_becomes_ours_with_its_dtype(x: np.ndarray, make: str) -> None:
    theirs = torch.tensor(x)
    ours = getattr(tg, make)(theirs)
    assert isinstance(ours._data, np.ndarray) and ours.dtype == x.dtype and ours.shape == x.shape
    np.testing.assert_array_equal(ours.numpy(), x)
    if make == "tensor" and x.size:  # a copy, as torch.tensor of an array
        theirs.view(-1)[0] = 1 - theirs.view(-1)[0] if x.dtype != np.bool_ else ~theirs.view(-1)[0]
        np.testing.assert_array_equal(ours.numpy(), x)


def test_dtype_converts_and_grad_refuses() -> None:
    assert tg.tensor(torch.ones(2), dtype=tg.float64).dtype == np.float64
    assert tg.Tensor(torch.arange(3), requires_grad=False).dtype == np.int64
    with pytest.raises(RuntimeError, match="requires grad"):  # torch's own refusal, as .numpy() of it
        tg.Tensor(torch.ones(2, requires_grad=True))


class OnlyADtype:
    dtype = np.float32


@pytest.mark.parametrize("make", ["Tensor", "tensor", "as_tensor"])
def test_what_is_not_an_array_of_numbers_raises(make: str) -> None:
    with pytest.raises(TypeError, match="must be numbers"):
        getattr(tg, make)(OnlyADtype())
