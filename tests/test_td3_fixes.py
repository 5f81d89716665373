"""What the TD3 / DDPG program (``tests/torch_style/td3.py``) found, against torch 2.13: torch's legacy
constructors (``torch.FloatTensor(arr)``, ``DoubleTensor``, ``LongTensor``, ... as sfujim's ReplayBuffer and
``select_action`` call them) share the memory of a numpy array of their own dtype, so a later write to either shows
in the other; ours copied it (a silent wrong answer for code that fills the array after wrapping it, or writes into
the tensor expecting the buffer to change). An array of another dtype is still converted (a copy), in both."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

CTORS = {"FloatTensor": np.float32, "DoubleTensor": np.float64, "LongTensor": np.int64, "IntTensor": np.int32,
         "ByteTensor": np.uint8, "BoolTensor": np.bool_, "Tensor": np.float32}
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


def values(dtype: type) -> st.SearchStrategy:
    """Elements of ``dtype`` including the extremes (inf, nan, -0.0, the integer bounds)."""
    if np.dtype(dtype).kind == "f":
        return st.floats(width=np.dtype(dtype).itemsize * 8, allow_nan=True, allow_infinity=True)
    if np.dtype(dtype).kind == "b":
        return st.booleans()
    info = np.iinfo(dtype)
    return st.integers(int(info.min), int(info.max))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(CTORS)), shape=SHAPES, strided=st.booleans())
def test_legacy_constructor_shares_a_same_dtype_array(data: st.DataObject, name: str, shape: tuple[int, ...],
                                                      strided: bool) -> None:
    """A write into the array shows in the tensor and one into the tensor shows in the array, as in torch; empty,
    0-d and strided arrays, inf / nan / integer-bound values too."""
    dtype = CTORS[name]
    assume(shape or np.dtype(dtype).kind == "f")  # torch reads a 0-d integer array as a size (``__index__``)
    strided = strided and len(shape) > 0
    big = data.draw(hnp.arrays(dtype, (*shape[:-1], 2 * shape[-1]) if strided else shape, elements=values(dtype)))
    first, second = data.draw(values(dtype)), data.draw(values(dtype))
    seen = []
    for lib in (torch, tg):
        arr = big.copy()
        view = arr[..., ::2] if strided else arr
        t = getattr(lib, name)(view)
        assert str(t.dtype).split(".")[-1] == str(np.dtype(dtype)).replace("bool_", "bool")
        record = [t.numpy().copy()]
        if view.size:
            at = (0,) * view.ndim
            view[at] = first  # the array written: the tensor sees it
            record.append(t.numpy().copy())
            t[at] = second  # the tensor written: the array sees it
            record.append(arr.copy())
        seen.append(record)
    theirs, ours = seen
    assert len(ours) == len(theirs)
    for mine, ref in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(mine, ref)


@settings(max_examples=30, deadline=None)
@given(x=hnp.arrays(np.float64, SHAPES, elements=values(np.float64)))
def test_legacy_constructor_copies_another_dtype(x: np.ndarray) -> None:
    """``FloatTensor(float64 array)`` (sfujim's buffer) converts: later writes to the array do not show."""
    with np.errstate(over="ignore"):
        expected = x.astype(np.float32)
    for lib in (torch, tg):
        arr = x.copy()
        with np.errstate(over="ignore"):
            t = lib.FloatTensor(arr)
        arr[...] = 7.0
        np.testing.assert_array_equal(t.numpy(), expected)


def test_legacy_constructor_copies_a_read_only_array() -> None:
    """torch shares a read-only array too (warning that writes are undefined); ours copies it, so in-place ops on
    the tensor still work (and the array is left alone)."""
    arr = np.arange(3, dtype=np.float32)
    arr.flags.writeable = False
    t = tg.FloatTensor(arr)
    t.add_(1)
    assert t.tolist() == [1.0, 2.0, 3.0] and arr.tolist() == [0.0, 1.0, 2.0]
