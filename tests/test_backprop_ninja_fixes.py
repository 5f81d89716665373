"""What the Backprop Ninja program (``tests/torch_style/backprop_ninja.py``) met, against torch 2.13: its batchnorm
calibration takes ``hpreact.mean(0, keepdim=True)`` over the whole training set, and ours summed a float32 column
one term at a time in float32 (numpy's loop along a strided axis): the mean of 3e6 rows of 0.1 was 0.0969, their sum
290774.78 (torch: 299999.75), and a float16 column of 5000 ones summed to 2048 (torch accumulates float16 in float32:
5000). The same sum gave the gradient of a bias broadcast over many rows. numpy sums pairwise (as accurate as
torch's cascade) only over the trailing axes of a C-contiguous array; elsewhere float32 sums and means of more than
``SHORT_SUM`` (4) terms now accumulate in float64 (float16 ones too), rounded once (``ops.elementwise.
sums_in_order`` / ``wide_sum``); up to 4 terms numpy's float32 loop has torch's bits (tests compare them exactly).

Mutations run (each failed the tests named; the fix restored):
- ``wide_sum`` without its ``dtype=wide`` (numpy's accumulator): the column-sum test and both long-column tests fail.
- ``reduce.mean``'s sum without ``dtype=float64``: the column-mean test and both long-column tests fail.
- ``unbroadcast`` back to ``g.sum(axis=axes, keepdims=True)``: both long-column tests fail (the bias gradient).
- ``sums_in_order`` taking trailing axes as pairwise without ``c_contiguous``: both long-column tests fail (``.T``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
from tinygrad_adam.ops.elementwise import SHORT_SUM

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FLOATS = {"float32": st.floats(-1e6, 1e6, width=32) | st.sampled_from([0.1, -0.0, 1e-30, np.nan, np.inf, -np.inf]),
          "float16": st.floats(-1e3, 1e3, width=16) | st.sampled_from([0.1, 1.0, -0.0, np.nan, np.inf, -np.inf])}


def columns(dtype: str) -> st.SearchStrategy[np.ndarray]:
    """(rows, cols) arrays, rows up to 400 (0 included), their values drawn or a constant."""
    shape = st.tuples(st.integers(0, 400), st.integers(1, 3))
    return shape.flatmap(lambda s: hnp.arrays(dtype, s, elements=FLOATS[dtype])
                         | FLOATS[dtype].map(lambda v: np.full(s, v, dtype)))


def within_rounding(ours: np.ndarray, x: np.ndarray, divide: int = 1) -> None:
    """``ours`` is x's column sums (over ``divide`` when a mean) to a rounding of the float64 ones, after the
    accumulator's own rounding (bounded here by float32's for float16, float64's for float32 past SHORT_SUM rows,
    else float32's, each within rows * eps of the terms' size); non-finite as torch's float64 (an overflow is inf
    in both)."""
    exact = torch.tensor(x.astype(np.float64)).sum(0).numpy() / max(divide, 1)
    assert ours.dtype == x.dtype
    finite = np.isfinite(exact) & (np.abs(exact) <= np.finfo(x.dtype).max)
    wide = np.float64 if x.dtype == np.float32 and len(x) > SHORT_SUM else np.float32
    scale = np.abs(x.astype(np.float64)).sum(0) / max(divide, 1) * len(x) * np.finfo(wide).eps
    spacing = np.finfo(x.dtype).smallest_subnormal  # a subnormal result rounds to a grid eps does not bound (a
    half = float(spacing) * 0.5000001  # tie, [2.1e-44, 0]'s mean, lands exactly half a step away)
    assert np.all(np.abs(ours[finite] - exact[finite])
                  <= np.finfo(x.dtype).eps * np.abs(exact[finite]) + scale[finite] + half)
    np.testing.assert_array_equal(np.isnan(ours[~finite]), np.isnan(exact[~finite]) if divide else False)


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(sorted(FLOATS)).flatmap(columns))
def test_float_column_sum_rounds_once_as_torch(x: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inf - inf, an overflow: silent, as torch
        ours = tg.tensor(x).sum(0).numpy()
    theirs = torch.tensor(x).sum(0).numpy()
    within_rounding(ours, x)
    both = np.isfinite(ours) & np.isfinite(theirs)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    scale = np.abs(x[:, both].astype(np.float64)).sum(0)
    assert np.all(np.abs(ours[both] - theirs[both]) <= 20 * np.finfo(x.dtype).eps * scale)  # torch's cascade's


@settings(deadline=None, max_examples=60)
@given(columns("float32"))
def test_float32_column_mean_rounds_once_as_torch(x: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the mean of no rows is nan without numpy's warning, as torch
        ours = tg.tensor(x).mean(0, keepdim=True).numpy()
    theirs = torch.tensor(x).mean(0, keepdim=True).numpy()
    assert ours.shape == theirs.shape
    if len(x):
        within_rounding(ours[0], x, len(x))
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))  # (these terms are too small to overflow)


@pytest.mark.parametrize(("dtype", "rows"), [("float32", 3_000_000), ("float16", 5000)])
def test_long_columns_as_torch(dtype: str, rows: int) -> None:
    """The cases that showed it: a constant column, and the gradient of a bias added to every row."""
    x = np.full((rows, 2), 0.1 if dtype == "float32" else 1.0, dtype)
    np.testing.assert_allclose(tg.tensor(x).sum(0).numpy(), torch.tensor(x).sum(0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(tg.tensor(x).mean(0).numpy(), torch.tensor(x).mean(0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(tg.tensor(x).T.sum(1).numpy(), torch.tensor(x).T.sum(1).numpy(), rtol=1e-6)  # a view
    grads = []
    for lib in (tg, torch):
        b = lib.zeros(2, dtype=getattr(lib, dtype), requires_grad=True)
        (lib.tensor(x) + b).backward(lib.tensor(x))
        grads.append(b.grad.numpy())
    np.testing.assert_allclose(*grads, rtol=1e-6)
