"""DLPack (``from_dlpack``, ``Tensor.__dlpack__``, ``utils.dlpack``): tensors shared with torch and numpy both ways,
writes showing in both, dtypes, shapes and strides kept (hypothesis), and torch's BufferError for a tensor that
requires grad."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import tinygrad_adam as tg
from tinygrad_adam.utils import dlpack

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

DTYPES = st.sampled_from([np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
                          np.bool_])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=DTYPES, transpose=st.booleans())
def test_shared_with_torch_and_numpy_both_ways(data: st.DataObject, dtype: Any, transpose: bool) -> None:
    a = data.draw(arrays(dtype, array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
    a = a.T if transpose else a
    theirs = torch.from_numpy(np.array(a, order="C")).clone()
    if transpose and a.ndim > 1:  # the same values in Fortran order (strides torch keeps through DLPack)
        dims = tuple(reversed(range(a.ndim)))
        theirs = theirs.permute(dims).contiguous().permute(dims)
    ours = tg.from_dlpack(theirs)  # torch's memory, ours to read and write
    assert ours.dtype == a.dtype and tuple(ours.shape) == a.shape and ours.stride() == theirs.stride()
    np.testing.assert_array_equal(ours.numpy(), a)
    back = torch.from_dlpack(ours)  # and back: the same memory again
    assert back.dtype == theirs.dtype and back.stride() == theirs.stride()
    assert back.data_ptr() == theirs.data_ptr() or a.size == 0
    as_numpy = np.from_dlpack(tg.from_dlpack(a))  # numpy's, through ours
    assert as_numpy.dtype == a.dtype and as_numpy.shape == a.shape
    np.testing.assert_array_equal(as_numpy, a)
    if a.size and ours.is_contiguous():
        ours.view(-1)[0] = 1
        assert theirs.reshape(-1)[0].item() == 1  # the write shows in torch's tensor


def test_writes_show_both_ways_and_grad_refused() -> None:
    a = np.arange(4.0)
    t = tg.from_dlpack(a)
    t[0] = 9
    assert a[0] == 9
    x = torch.arange(6.0).reshape(2, 3)
    o = tg.from_dlpack(x)
    o[1, 2] = -1
    assert x[1, 2].item() == -1
    torch.from_dlpack(o)[0, 1] = 5
    assert o[0, 1].item() == 5
    alias = tg.from_dlpack(o)  # a Tensor: a detached alias
    alias[0, 0] = 3
    assert o[0, 0].item() == 3
    assert torch.utils.dlpack.from_dlpack(dlpack.to_dlpack(o)).data_ptr() == x.data_ptr()
    for lib in (tg, torch):
        with pytest.raises(BufferError, match="require gradient"):
            np.from_dlpack(lib.ones(2, requires_grad=True))
    with pytest.raises(TypeError, match="__dlpack__"):
        tg.from_dlpack([1, 2])


def test_a_0_d_result_is_exported_shared() -> None:
    """A 0-d result that numpy gave as a scalar: made an array in place first, so a write through torch's view of
    it reaches the tensor (as ``.data`` does)."""
    s = tg.tensor(3.0) * 2
    torch.from_dlpack(s).fill_(5.0)
    assert s.item() == 5.0
