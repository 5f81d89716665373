"""Fixes found by porting pytorch/examples' siamese_network and mnist_rnn (tests/torch_style/pytorch_examples_pairs.py).

- ``F.dropout2d`` / ``nn.Dropout2d`` on an input of rank other than 3 or 4 (mnist_rnn drops its (N, C) LSTM
  features with it): torch warns (UserWarning, deprecated) and drops per (N, C) entry, element-wise for 2-d; a 1-d
  input raises RuntimeError only when an element would be drawn (training, 0 < p < 1). Ours raised ValueError.

Mutations run (each makes a test here fail):
- the 2-d / 5-d ValueError restored: every rank >= 2 case fails.
- the warning dropped: ``test_dropout2d_any_rank_as_torch`` fails on the warning list.
- the 2-d input's mask made per row (spatial 1 instead of 0): both tests fail on the mask's structure.
- the 1-d RuntimeError check removed: the (3,) example fails (ours returns, torch raises).
- its ``x.numel()`` condition removed: the (0,) example fails (ours raises, torch returns)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def outcome(fn, x):
    """(result or exception type, [UserWarning categories]); numpy's RuntimeWarning from inf * 0 (ours
    warns so in every multiply) is not compared."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(x)
        except (RuntimeError, ValueError) as error:
            result = type(error)
    return result, [w.category for w in caught if issubclass(w.category, UserWarning)]


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple),
       p=st.sampled_from([0.0, 0.3, 1.0]), training=st.booleans(),
       fill=st.sampled_from([1.0, -2.5, np.inf, 3e38]))
@example(shape=(0,), p=0.3, training=True, fill=1.0)  # empty 1-d: returned, as torch
@example(shape=(3,), p=0.3, training=True, fill=1.0)  # 1-d: RuntimeError
@example(shape=(2, 3, 2, 2, 2), p=0.3, training=True, fill=-2.5)  # 5-d: per (N, C) volume
def test_dropout2d_any_rank_as_torch(shape: tuple[int, ...], p: float, training: bool, fill: float) -> None:
    x = np.full(shape, fill, np.float32)
    ours, ours_warned = outcome(lambda a: F.dropout2d(tg.tensor(a), p, training), x)
    theirs, their_warned = outcome(lambda a: torch.nn.functional.dropout2d(torch.tensor(a), p, training), x)
    assert ours_warned == their_warned
    if isinstance(theirs, type):
        assert ours is theirs
        return
    got, want = ours.numpy(), theirs.numpy()
    assert got.shape == want.shape and got.dtype == want.dtype
    if not training or p in (0.0, 1.0):  # deterministic: compare the values
        np.testing.assert_array_equal(got, want)
    elif x.size:  # as torch: kept entries times float32 1/(1-p), dropped ones times 0 (inf -> nan, -2.5 -> -0.0);
        with np.errstate(over="ignore", invalid="ignore"):  # the mask constant over each (N, C) entry's trailing dims
            keep, drop = x * np.float32(1 / 0.7), x * np.float32(0)
        kept = got == keep
        np.testing.assert_array_equal(np.where(kept, drop, got), drop)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(np.where(kept, keep, drop)))
        per = kept.reshape(shape[:2] + (-1,))
        assert (per.min(axis=2) == per.max(axis=2)).all()


def test_dropout2d_2d_input_drops_elementwise() -> None:
    tg.manual_seed(0)
    x = tg.ones(300, 40, requires_grad=True)
    with pytest.warns(UserWarning, match="a 2-d input is deprecated"):
        out = tg.nn.Dropout2d(0.5)(x)
    kept = out.numpy() != 0
    assert abs(kept.mean() - 0.5) < 0.02 and not kept.all(axis=1).any() and kept.any(axis=1).all()
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.numpy())
