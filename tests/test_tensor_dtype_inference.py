"""What the actor-critic program (``tests/torch_style/actor_critic.py``, ``torch.tensor([R])`` of a 0-d tensor)
showed about ``tensor()`` of Python data, checked against torch 2.13 on generated nests:

- a list holding 0-d tensors or numpy scalars takes their dtypes, promoted as ``torch.promote_types`` (a float64
  0-d tensor gave float32, an int32 one int64, a numpy float64 float32: precision lost silently);
- Python ints are int64 however large, so one beyond int64 raises as in torch (``tensor(2**70)`` and
  ``tensor([1, 2**63])`` silently gave float32), while beside a Python float it is a float, as in torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
PYTHON = st.one_of(st.booleans(), st.integers(-100, 100),
                   st.floats(allow_nan=True, allow_infinity=True, width=16) | st.sampled_from([0.0, -0.0, 1e30]))


@st.composite
def leaves(draw: st.DrawFn) -> tuple[str, Any, str]:
    """(kind, value, dtype): a Python number, a numpy scalar or a 0-d tensor (built per library later)."""
    kind = draw(st.sampled_from(["python", "numpy", "tensor"]))
    dtype = draw(st.sampled_from(DTYPES))
    value = draw(PYTHON)
    if kind != "python":  # a value the dtype holds (torch and numpy disagree on out-of-range casts)
        if dtype == "bool":
            value = bool(value)
        elif dtype[0] != "f":  # an integer dtype: a finite value in its range (nan / inf: 1)
            value = int(np.clip(value, 0 if dtype == "uint8" else -100, 100)) if np.isfinite(value) else 1
    return kind, value, dtype


def build(lib: Any, leaf: tuple[str, Any, str]) -> Any:
    kind, value, dtype = leaf
    if kind == "python":
        return value
    if kind == "numpy":
        return np.array(value).astype(dtype)[()]
    return lib.tensor(value, dtype=getattr(lib, dtype))


def nest(lib: Any, rows: list[list[tuple[str, Any, str]]], flat: bool) -> Any:
    return [build(lib, leaf) for leaf in rows[0]] if flat else [[build(lib, leaf) for leaf in row] for row in rows]


@settings(max_examples=150, deadline=None)
@given(rows=st.integers(1, 4).flatmap(lambda n: st.lists(st.lists(leaves(), min_size=n, max_size=n), min_size=1,
                                                         max_size=3)),
       flat=st.booleans())
def test_tensor_of_a_nest_takes_torchs_dtype(rows: list, flat: bool) -> None:
    try:
        want = torch.tensor(nest(torch, rows, flat))
    except TypeError as e:  # torch cannot store a numpy bool into an integer tensor; ours stores 0 / 1
        assert "numpy.bool" in str(e)
        assume(False)
    got = tg.tensor(nest(tg, rows, flat))
    assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert np.array_equal(np.signbit(got.numpy()), np.signbit(want.numpy()))  # -0.0 kept


@pytest.mark.parametrize("data", [[], [[], []], (), [True, 2], [1, 2.5], ((1, 2), (3, 4)), [1.5, 2**70], range(3),
                                  [2**63 - 1], [-2**63], 3, True, -0.0, 2.5])
def test_tensor_of_python_data_as_torch(data: Any) -> None:
    want, got = torch.tensor(data), tg.tensor(data)
    assert str(got.dtype) == str(want.dtype).removeprefix("torch.") and got.tolist() == want.tolist()


@pytest.mark.parametrize("data", [2**63, 2**70, -2**63 - 1, [1, 2**63], [[1], [2**70]], [True, 2**64]])
def test_an_int_beyond_int64_raises_as_torch(data: Any) -> None:
    with pytest.raises(ValueError, match="Overflow"):
        torch.tensor(data)
    with pytest.raises(OverflowError):
        tg.tensor(data)


def test_an_explicit_dtype_still_decides() -> None:
    got = tg.tensor([tg.tensor(0.1, dtype=tg.float64), np.float16(2)], dtype=tg.float32)
    want = torch.tensor([torch.tensor(0.1, dtype=torch.float64), np.float16(2)], dtype=torch.float32)
    assert got.dtype == np.float32 and got.tolist() == want.tolist()


@pytest.mark.gpu
def test_tensor_of_gpu_scalars_keeps_their_dtype() -> None:
    got = tg.tensor([tg.tensor(0.1, dtype=tg.float64, device="cuda"), 1.0, np.float16(2)], device="cuda")
    assert got.dtype == np.float64 and got.device.type == "cuda" and got.tolist() == [0.1, 1.0, 2.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_full_with_a_0d_tensor_value_takes_its_kind_as_torch(dtype: str) -> None:
    """torch reads a tensor fill value as a Python number of its kind: full((2,), tensor(3, int32)) is int64 (ours
    gave float32, from numpy's object array of the Tensor)."""
    value = np.array(1 if dtype != "bool" else True, dtype=dtype)
    ours, theirs = tg.full((2,), tg.tensor(value)), torch.full((2,), torch.from_numpy(value))
    assert ours.dtype == theirs.numpy().dtype and ours.tolist() == theirs.tolist()
