"""What the 2017 seq2seq tutorial port (``tests/torch_style/old_seq2seq_tutorial.py``) met, against torch 2.13:
a one-element tensor inside a nested list is read as its number at any depth, as torch reads it
(``torch.LongTensor([[topi[0]]])`` is shape (1, 1), not (1, 1, 1)), by ``tensor``, the legacy ``LongTensor`` /
``FloatTensor`` constructors and ``Tensor``; a tensor of more elements there raises in both. And the deprecation
warning of an implicit softmax dim names the function called (``log_softmax``, ``softmin``), as torch's."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FLOATS = st.sampled_from([0.0, -0.0, 1.5, -2.25, math.inf, -math.inf, math.nan, 3.0])
LEAF_SHAPES = [(), (1,), (1, 1), (1, 1, 1)]  # one element each: torch reads any of them as a number


@st.composite
def nests(draw: Any) -> tuple[Any, Any, str]:
    """(torch's nest, ours, the element kind): a rectangular nest 1..3 deep of Python numbers, some replaced by
    one-element tensors of either library (int64, float32 or float64)."""
    kind = draw(st.sampled_from(["int", "float"]))
    shape = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    count = int(np.prod(shape))
    values = draw(st.lists(st.integers(-5, 5) if kind == "int" else FLOATS, min_size=count, max_size=count))
    tensor_at = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    dtype = "int64" if kind == "int" else draw(st.sampled_from(["float32", "float64"]))
    leaf_shape = draw(st.sampled_from(LEAF_SHAPES))

    def leaf(lib: Any, i: int) -> Any:
        if not tensor_at[i]:
            return values[i]
        return lib.tensor(np.full(leaf_shape, values[i], dtype=dtype))

    def build(lib: Any) -> Any:
        flat = [leaf(lib, i) for i in range(count)]
        for n in reversed(shape[1:]):
            flat = [flat[j:j + n] for j in range(0, len(flat), n)]
        return flat

    return build(torch), build(tg), kind


def same(ours: tg.Tensor, theirs: Any) -> None:
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert np.array_equal(np.signbit(ours.numpy()), np.signbit(theirs.numpy()))  # -0.0 kept


@settings(deadline=None, max_examples=60)
@given(nests())
def test_tensors_in_nested_lists_are_numbers(case: tuple[Any, Any, str]) -> None:
    theirs_nest, ours_nest, kind = case
    same(tg.tensor(ours_nest), torch.tensor(theirs_nest))
    same(tg.Tensor(ours_nest), torch.Tensor(theirs_nest))
    same(tg.FloatTensor(ours_nest), torch.FloatTensor(theirs_nest))
    same(tg.as_tensor(ours_nest), torch.as_tensor(theirs_nest))
    if kind == "int":
        same(tg.LongTensor(ours_nest), torch.LongTensor(theirs_nest))


def test_the_tutorials_decoder_input() -> None:
    """``ni = topi[0]`` (shape (1,)) in ``LongTensor([[ni]])``: the (1, 1) decoder input, as torch's."""
    scores = np.array([[0.1, 0.7, 0.2]], dtype=np.float32)
    ni_theirs, ni_ours = torch.tensor(scores).data.topk(1)[1][0], tg.tensor(scores).data.topk(1)[1][0]
    same(tg.LongTensor([[ni_ours]]), torch.LongTensor([[ni_theirs]]))
    same(tg.tensor([[ni_ours, 2]]), torch.tensor([[ni_theirs, 2]]))
    same(tg.tensor([[tg.tensor(True)]]), torch.tensor([[torch.tensor(True)]]))
    same(tg.tensor([[tg.tensor(-0.0)], [1.0]]), torch.tensor([[torch.tensor(-0.0)], [1.0]]))
    same(tg.tensor([[]]), torch.tensor([[]]))  # empty nests unchanged


@pytest.mark.parametrize("value", [[[np.zeros(2)]], [[[1, 2]]]])
def test_several_elements_in_a_nest_raise(value: Any) -> None:
    leaf = value[0][0]
    with pytest.raises((TypeError, ValueError)):
        torch.tensor([[torch.tensor(leaf)]])
    with pytest.raises(ValueError, match="one element"):
        tg.tensor([[tg.tensor(leaf)]])
    with pytest.raises(ValueError, match="one element"):
        tg.Tensor([[tg.tensor(leaf)]])


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
def test_implicit_dim_warning_names_the_function(name: str) -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with pytest.warns(UserWarning, match=f"choice for {name} has"):
        theirs = getattr(torch.nn.functional, name)(torch.tensor(x))
    with pytest.warns(UserWarning, match=f"{name} without dim= picks"):
        ours = getattr(tg.nn.functional, name)(tg.tensor(x))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    module = {"softmax": "Softmax", "log_softmax": "LogSoftmax", "softmin": "Softmin"}[name]
    with pytest.warns(UserWarning, match=f"{name} without dim= picks"):
        getattr(tg.nn, module)()(tg.tensor(x))


@pytest.mark.gpu
def test_on_the_gpu_a_nest_of_gpu_tensors_is_numbers() -> None:
    """``LongTensor([[ni]])`` with ``ni`` a GPU tensor of shape (1,): the (1, 1) tensor, on the default device as
    torch's legacy constructor makes it; ``tensor(..., device="cuda")`` keeps the device."""
    ni = tg.tensor([3], device="cuda")
    out = tg.LongTensor([[ni]])
    assert tuple(out.shape) == (1, 1) and out.tolist() == [[3]] and out.dtype == np.int64
    out = tg.tensor([[ni, 1.5]], device="cuda")
    assert tuple(out.shape) == (1, 2) and out.device == "cuda:0" and out.tolist() == [[3.0, 1.5]]
