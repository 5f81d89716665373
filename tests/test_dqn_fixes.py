"""What the DQN program (``tests/torch_style/dqn.py``) needed, against torch 2.13: the 2017 tutorial's
``ByteTensor`` non-final mask indexes as a bool mask (``x[uint8]`` and ``x[uint8] = v``, torch's deprecation
warning; before, numpy read it as integer positions: a silent wrong answer), and one value written through a lone
uint8 mask raises as torch's masked_fill_ does; a 0-d computed tensor can be written (``y[()] = v`` raised);
``x.type('torch.FloatTensor')`` takes a type name; and ``torch.load(f, map_location=...)`` takes torch's function
``(storage, location)`` and dict forms."""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import agree, arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

MASK_VALUES = st.sampled_from([0, 1, 2, 255])  # any nonzero byte is True
TYPE_NAMES = ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor", "CharTensor",
              "ByteTensor", "BoolTensor"]


def masks(data: st.DataObject, shape: tuple[int, ...]) -> np.ndarray:
    return data.draw(hnp.arrays(np.uint8, shape, elements=MASK_VALUES))


def write(lib: Any, x: Any, index: Any) -> Any:
    """``y[index] = y[index] * 2 + 1`` then ``y[index] = 0.5`` again on another copy, on a non-leaf copy of x."""
    y, z = x * 1, x * 1
    y[index] = y[index] * 2 + 1
    z[index] = 0.5
    return y, z


@settings(max_examples=40, deadline=None)
@given(data=st.data(), x=arrays(min_dims=0))
def test_uint8_mask_indexes_as_bool(data: st.DataObject, x: np.ndarray) -> None:
    """A uint8 mask over the leading dims, alone and after a slice: read, written, values and gradients."""
    mask = masks(data, x.shape[:data.draw(st.integers(0, x.ndim))])
    inner = masks(data, x.shape[1:1 + data.draw(st.integers(0, max(x.ndim - 1, 0)))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        agree(lambda lib, t, m: t[m], x, mask)
        agree(lambda lib, t, m: write(lib, t, m), x, mask)
        if x.ndim:
            agree(lambda lib, t, m: t[:, m], x, inner)
            agree(lambda lib, t, m: write(lib, t, (slice(None), m)), x, inner)


def test_uint8_mask_warns_and_bool_does_not() -> None:
    for lib in (torch, tg):
        x, m = lib.arange(4.0), lib.tensor([1, 0, 3, 0], dtype=lib.uint8)
        with pytest.warns(UserWarning, match="uint8"):
            assert x[m].tolist() == [0.0, 2.0]
        with pytest.warns(UserWarning, match="uint8"):
            x[m] = lib.tensor([7.0, 8.0])
        assert x.tolist() == [7.0, 1.0, 8.0, 3.0]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert x[m != 0].tolist() == [7.0, 8.0]
            assert x[m.long()].tolist() == [1.0, 7.0, 3.0, 7.0]  # int64: positions, as before


@pytest.mark.parametrize("write", [
    lambda lib, x, m: x.__setitem__(m, 5.0),
    lambda lib, x, m: x.__setitem__(m, lib.tensor([5.0])),
    lambda lib, x, m: x.__setitem__((slice(None), m[:1]), 5.0),
    lambda lib, x, m: x.__setitem__((m, 0), lib.tensor(5.0, dtype=lib.float64)),
    lambda lib, x, m: x.__setitem__(lib.ones(2, 1, dtype=lib.uint8), 5.0),
    lambda lib, x, m: x.__setitem__(m * 0, 5.0),  # even when it selects nothing
])
def test_one_value_through_a_uint8_mask_raises(write: Any) -> None:
    """torch writes a single value through a lone mask with masked_fill_, which refuses uint8 masks."""
    for lib in (torch, tg):
        with pytest.raises((RuntimeError, TypeError), match="masked_fill_"):
            write(lib, lib.zeros(2, 1), lib.tensor([1, 0], dtype=lib.uint8))
        x, m = lib.zeros(2, 1), lib.tensor([1, 0], dtype=lib.uint8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            x[m, lib.tensor([0])] = 5.0  # two index tensors: no masked_fill_
            x[m.bool()] = 6.0
        assert x.tolist() == [[6.0], [0.0]]


@pytest.mark.parametrize("index", [(), Ellipsis, "mask"])
def test_write_into_a_0d_computed_tensor(index: Any) -> None:
    """A 0-d tensor computed by an op (its array a numpy scalar here) can be written, and its gradient flows."""
    grads = []
    for lib in (torch, tg):
        x = lib.tensor(0.5, dtype=lib.float64, requires_grad=True)
        y = x * 3
        key = lib.tensor(True) if index == "mask" else index
        y[key] = y[key] * 2 + x
        y.backward()
        grads.append((y.item(), x.grad.item()))
    assert grads[0] == grads[1] == (3.5, 7.0)


def test_old_tutorial_non_final_mask() -> None:
    """``next_state_values[ByteTensor(tuple(map(lambda s: s is not None, ...)))] = target(...).max(1)[0]``."""
    next_states = [np.ones((1, 2)), None, 2 * np.ones((1, 2)), None]
    results = []
    for lib in (torch, tg):
        q = lib.tensor([[1.0, 2.0], [4.0, 3.0]])
        values = lib.zeros(4)
        with pytest.warns(UserWarning, match="uint8"):
            values[lib.ByteTensor(tuple(map(lambda s: s is not None, next_states)))] = q.max(1)[0]
        results.append(values.tolist())
    assert results[0] == results[1] == [2.0, 0.0, 4.0, 0.0]


@pytest.mark.parametrize("name", TYPE_NAMES)
@pytest.mark.parametrize("prefix", ["torch.", "tinygrad_adam."])
def test_type_with_a_type_name(name: str, prefix: str) -> None:
    floats = name in ("FloatTensor", "DoubleTensor", "HalfTensor")
    data = np.array([[-1.5, 0.0, 2.7], [np.inf if floats else 100.0, -0.0, np.nan if floats else 3.0]])
    theirs = torch.tensor(data).type(f"torch.{name}")
    ours = tg.tensor(data).type(prefix + name)
    assert ours.dtype == tg.tensor(data).to(getattr(tg, name)).dtype
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert ours.type() == f"tinygrad_adam.{name}"


def test_type_name_keeps_the_graph_and_refuses_other_names() -> None:
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    x.type("torch.DoubleTensor").sum().backward()
    assert x.grad.dtype == tg.float32 and x.grad.tolist() == [1.0, 1.0]
    for bad in ("FloatTensor", "torch.Foo", "torch.float32", "torch.cuda.Foo", ""):
        if "cuda" not in bad:  # (torch without CUDA fails to initialise it first)
            with pytest.raises(ValueError, match="invalid type"):
                torch.ones(1).type(bad)
        with pytest.raises(ValueError, match="invalid type"):
            tg.ones(1).type(bad)


@pytest.mark.gpu
def test_cuda_type_name_moves_to_the_gpu() -> None:
    x = tg.tensor([1, 2]).type("torch.cuda.FloatTensor")
    assert x.device.type == "cuda" and x.dtype == tg.float32
    back = x.type("torch.LongTensor")
    assert back.device.type == "cpu" and back.tolist() == [1, 2]


def saved(lib: Any) -> io.BytesIO:
    buffer = io.BytesIO()
    lib.save({"w": lib.tensor([[1.0, -0.0], [np.nan, 2.0]]), "rest": [lib.tensor([3]), (1, "x")], "n": 7}, buffer)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("map_location", [
    lambda storage, loc: storage,
    lambda storage, loc: storage.cpu(),
    lambda storage, loc: None,
    {"cuda:0": "cpu"},
    {"cpu": "cpu"},
    "cpu",
])
def test_load_map_location_forms(map_location: Any) -> None:
    theirs = torch.load(saved(torch), map_location=map_location)
    ours = tg.load(saved(tg), map_location=map_location)
    assert ours.keys() == theirs.keys() and ours["n"] == theirs["n"] == 7
    assert ours["rest"][1] == theirs["rest"][1] and type(ours["rest"]) is type(theirs["rest"])
    np.testing.assert_array_equal(ours["w"].numpy(), theirs["w"].numpy())
    assert ours["rest"][0].tolist() == theirs["rest"][0].tolist() and ours["rest"][0].dtype == tg.int64


def test_load_map_location_function_sees_each_tensor_and_its_location() -> None:
    seen: list[tuple[tuple[int, ...], str]] = []
    tg.load(saved(tg), map_location=lambda storage, loc: seen.append((tuple(storage.shape), loc)))
    assert sorted(seen) == [((1,), "cpu"), ((2, 2), "cpu")]
    with pytest.raises(TypeError, match="map_location returned a int"):
        tg.load(saved(tg), map_location=lambda storage, loc: 3)


@pytest.mark.parametrize("data", [np.float32(1.5), np.float64(2.0), np.bool_(True), 1.5, True, np.array(1.5),
                                  np.array([1.5, -0.0]), (True, False), (np.float32(0.5), np.nan), np.int64(3), 2])
def test_legacy_constructor_data_and_sizes(data: Any) -> None:
    """``FloatTensor(np.float32(state))`` works on arrays; torch refuses scalars (numpy's too): so do we."""
    try:
        theirs = torch.FloatTensor(data)
    except TypeError:
        with pytest.raises(TypeError, match="sequence"):
            tg.FloatTensor(data)
        return
    ours = tg.FloatTensor(data)
    assert tuple(ours.shape) == tuple(theirs.shape) and ours.dtype == tg.float32
    if not isinstance(data, int | np.integer):  # (sizes: uninitialised)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
