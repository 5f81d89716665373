"""What the RWKV-4 program (``tests/torch_style/rwkv.py``) met, against torch 2.13: ``torch.square`` of a bool
tensor. torch computes square as ``pow(x, 2)``, so a bool tensor's square is int64 (True -> 1) and ``square_`` on a
bool tensor raises; ours multiplied the tensor by itself and returned bool, a silently different dtype (then
``square(mask) - 1`` or ``square(mask) * 300`` differ) and ``square_`` passed. Integer, float and the other
dtypes keep their dtype, as before; the gradient of a float square is unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
DTYPES = ("bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64")


def array(dtype: str, data: st.DataObject, shape: tuple[int, ...]) -> np.ndarray:
    """An array of ``dtype`` with extreme values where the dtype has them (inf, nan, -0.0, the int bounds)."""
    if dtype == "bool":
        elements = st.booleans()
    elif dtype.startswith("float"):
        elements = st.floats(width=int(dtype[5:]), allow_nan=True, allow_infinity=True)
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
    return data.draw(hnp.arrays(dtype, shape, elements=elements))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # numpy's, on float squares (torch: none)
@settings(deadline=None, max_examples=60)
@given(st.sampled_from(DTYPES), SHAPES, st.data())
def test_square_dtype_and_values_as_torch(dtype: str, shape: tuple[int, ...], data: st.DataObject) -> None:
    x = array(dtype, data, shape)
    for fn in (lambda lib, t: lib.square(t), lambda lib, t: t.square()):
        theirs, ours = fn(torch, torch.from_numpy(x.copy())), fn(tg, tg.from_numpy(x.copy()))
        assert str(ours.dtype).replace("tinygrad_adam.", "") == str(theirs.dtype).replace("torch.", "")
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@settings(deadline=None, max_examples=30)
@given(SHAPES, st.data())
def test_square_of_a_bool_tensor_is_int64_and_square__refuses(shape: tuple[int, ...], data: st.DataObject) -> None:
    x = array("bool", data, shape)
    got = tg.square(tg.from_numpy(x))
    assert got.dtype == tg.int64 and torch.square(torch.from_numpy(x)).dtype == torch.int64
    np.testing.assert_array_equal((got - 1).numpy(), (torch.square(torch.from_numpy(x)) - 1).numpy())
    with pytest.raises(RuntimeError):
        torch.from_numpy(x.copy()).square_()
    with pytest.raises(RuntimeError):
        tg.from_numpy(x.copy()).square_()


@settings(deadline=None, max_examples=30)
@given(hnp.arrays("float64", SHAPES, elements=st.floats(-1e150, 1e150)))
def test_square_gradient_as_torch(x: np.ndarray) -> None:
    grads = []
    for lib in (torch, tg):
        t = lib.tensor(x, requires_grad=True)
        lib.square(torch.relu(t) if lib is torch else tg.relu(t)).sum().backward()
        grads.append(t.grad.numpy())
    np.testing.assert_array_equal(grads[1], grads[0])
