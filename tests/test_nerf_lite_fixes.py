"""Fixes found by porting nerf-pytorch's core (tests/torch_style/nerf_lite.py), each checked against torch.

- ``torch.meshgrid`` without ``indexing`` (nerf-pytorch's and the pre-1.10 tutorials' call) warns once per process
  in torch (a UserWarning that ``indexing`` will be required); ours was silent.

Mutations run (each made the test below fail, then was restored):
- methods.meshgrid: the ``warnings.warn`` removed -> test_meshgrid_without_indexing_warns_once_as_torch fails.
- methods.meshgrid: the once-per-process flag not set (warns on every call) -> the same test fails."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam
from tinygrad_adam import methods

torch = pytest.importorskip("torch")

MESSAGE = "torch.meshgrid called without indexing=: pass indexing='ij' or 'xy', as later releases will require it"


def torch_meshgrid_warning() -> list[warnings.WarningMessage]:
    """What torch warns for a meshgrid without ``indexing``: our message (and its internal-location suffix) on the
    first such call of the process, nothing after."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.meshgrid(torch.zeros(2), torch.zeros(3))
    return caught


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=3), st.sampled_from([None, "ij", "xy"]))
def test_meshgrid_without_indexing_warns_once_as_torch(lengths: list[int], indexing: str | None) -> None:
    theirs = torch_meshgrid_warning()
    assert all(w.category is UserWarning and "indexing argument" in str(w.message) for w in theirs)
    arrays = [np.arange(n, dtype=np.float32) for n in lengths]
    options = {} if indexing is None else {"indexing": indexing}
    methods._meshgrid_warned[0] = False  # a fresh process
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = tinygrad_adam.meshgrid(*[tinygrad_adam.tensor(a) for a in arrays], **options)
        again = tinygrad_adam.meshgrid(*[tinygrad_adam.tensor(a) for a in arrays], **options)
    want = torch.meshgrid(*[torch.from_numpy(a) for a in arrays], indexing=indexing or "ij")
    for got, second, expected in zip(ours, again, want, strict=True):
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
        np.testing.assert_array_equal(second.numpy(), expected.numpy())
    if indexing is None:
        assert [(w.category, str(w.message)) for w in caught] == [(UserWarning, MESSAGE)]
        assert caught[0].filename == __file__  # pointed at the caller's line
    else:
        assert not caught
