"""What the Spatial Transformer program (``tests/torch_style/spatial_transformer.py``) met, against torch 2.13: the
tutorial itself ran as torch's, but STN-style code slices shapes (``x.size()[1:]``, ``x.shape[:2] + (h, w)``), and
a ``Size`` sliced, added to a tuple or repeated was a plain tuple here, so torch's legacy sizes forms
``torch.Tensor(x.size()[1:])`` and ``x.new(x.size()[2:])`` silently made a tensor of the sizes' values. Now those
stay Sizes, as torch's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=5)
indices = st.one_of(st.none(), st.integers(-6, 6))
extra = st.lists(st.integers(0, 3), max_size=3).map(tuple)


def both_sizes(shape: list[int]) -> tuple[object, object]:
    return tg.zeros(shape).size(), torch.zeros(shape).size()


def same(ours: object, theirs: object) -> None:
    assert type(ours).__name__ == type(theirs).__name__ == "Size" and tuple(ours) == tuple(theirs)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, start=indices, stop=indices, step=st.sampled_from([None, 1, 2, -1, -2]), more=extra,
       n=st.integers(0, 3))
def test_size_slices_sums_and_repeats_stay_sizes(shape: list[int], start: int | None, stop: int | None,
                                                 step: int | None, more: tuple[int, ...], n: int) -> None:
    ours, theirs = both_sizes(shape)
    cut = slice(start, stop, step)
    same(ours[cut], theirs[cut])
    same(ours[:], theirs[:])
    same(ours + more, theirs + more)
    same(more + ours, more + theirs)
    same(ours + ours, theirs + theirs)
    same(ours * n, theirs * n)
    same(n * ours, theirs * n)
    assert ours[cut].numel() == theirs[cut].numel()
    for i in range(-len(shape), len(shape)):
        assert type(ours[i]) is int and ours[i] == theirs[i]


def test_size_plus_an_array_is_numpys_sum() -> None:
    ours, theirs = both_sizes([2, 3])
    np.testing.assert_array_equal(ours + np.array([1, 1]), theirs + np.array([1, 1]))
    np.testing.assert_array_equal(np.array([1, 1]) + ours, np.array([1, 1]) + theirs)


@pytest.mark.parametrize("bad", [lambda s: s + [1], lambda s: [1] + s, lambda s: s * 1.5, lambda s: s[9]])
def test_size_operations_that_torch_refuses_raise(bad) -> None:
    ours, theirs = both_sizes([2, 3])
    with pytest.raises((TypeError, IndexError)) as want:
        bad(theirs)
    with pytest.raises(want.type):
        bad(ours)


@pytest.mark.parametrize("make", [lambda t, x: t.Tensor(x.size()[1:]), lambda t, x: x.new(x.size()[2:]),
                                  lambda t, x: t.Tensor(x.shape[:1] + (3,)), lambda t, x: t.Tensor((2,) + x.shape[2:]),
                                  lambda t, x: t.FloatTensor(x.size()[1:])])
def test_legacy_sizes_forms_take_sliced_sizes(make) -> None:
    ours, theirs = make(tg, tg.ones(2, 3, 4)), make(torch, torch.ones(2, 3, 4))
    assert ours.shape == theirs.shape and ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
    assert not ours.numpy().any()  # zeros here; torch's memory is uninitialised


@pytest.mark.parametrize("make", [lambda t, x: t.tensor(x.size()[1:]), lambda t, x: t.Tensor(tuple(x.size()[1:])),
                                  lambda t, x: t.tensor(x.shape[:1] + (7,))])
def test_sizes_as_values_stay_values(make) -> None:
    ours, theirs = make(tg, tg.ones(2, 3, 4)), make(torch, torch.ones(2, 3, 4))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
