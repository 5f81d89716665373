"""What the image-captioning program (``tests/torch_style/captioning.py``) met, against torch 2.13: a mean
``cross_entropy`` / ``nll_loss`` whose targets carry no weight (all equal to ``ignore_index``, as a batch of padding
with ``CrossEntropyLoss(ignore_index=<pad>)``; all of a class weighted 0; an empty batch with label smoothing) is
0 / 0 = nan with zero gradients at the ignored rows, silently in torch; ours gave the same numbers but numpy's
``RuntimeWarning: invalid value encountered in divide`` (an error under ``-W error``), from the forward and again
from the backward.

Mutations run (each made a test here fail, then was reverted):
- ``weightless`` forced False (the plain ``values.sum() / total``): the RuntimeWarning is back.
- ``values.sum() * math.nan`` also taken when ``total`` is 0 but weights are not (``weightless = not total``): the
  loss of weights summing to 0 over nonzero terms is nan, torch's is -inf / inf.
- ``values.sum() * 0.0`` for the weightless mean: the loss is 0, not torch's nan.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

BIG = float(np.float32(1e30))
FINITE = st.floats(-BIG, BIG, width=32) | st.sampled_from([0.0, -0.0, 1e-38, 88.0, -88.0])


def loss_and_grad(lib, fn: str, logits: np.ndarray, targets: np.ndarray, **kwargs: object) -> tuple:
    """(loss, the logits' gradient, the warnings' categories) of a mean ``fn`` on ``lib``."""
    x = lib.tensor(logits, requires_grad=True)
    if "weight" in kwargs:
        kwargs["weight"] = lib.tensor(kwargs["weight"])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        loss = getattr(lib.nn.functional, fn)(x, lib.tensor(targets), **kwargs)
        loss.backward()
    return float(loss.item()), x.grad.numpy(), [w.category for w in seen]


@settings(deadline=None, max_examples=60)
@given(st.integers(0, 5), st.integers(1, 4), st.data(), st.sampled_from(["cross_entropy", "nll_loss"]),
       st.sampled_from([0.0, 0.1]), st.sampled_from(["ignore", "zero_weight", "both"]))
def test_weightless_mean_is_nan_without_a_warning(m: int, c: int, data: st.DataObject, fn: str, smoothing: float,
                                                  how: str) -> None:
    """Every target ignored and / or of a class weighted 0 (and empty batches): torch's nan loss and gradient
    (zeros at ignored rows, nan at zero-weight rows), and no warning, as torch."""
    logits = np.array(data.draw(st.lists(FINITE, min_size=m * c, max_size=m * c)), np.float32).reshape(m, c)
    ignore = data.draw(st.integers(0, c - 1))
    kwargs: dict = {"ignore_index": ignore}
    targets = np.full(m, ignore, np.int64)
    if how != "ignore":
        weight = np.array(data.draw(st.lists(st.sampled_from([0.5, 2.0]), min_size=c, max_size=c)), np.float32)
        weight[ignore] = 0.0
        kwargs = {"weight": weight} if how == "zero_weight" else {"weight": weight, "ignore_index": (ignore + 1) % c}
        targets[: m // 2] = (ignore + 1) % c if how == "both" else ignore
    if smoothing and fn == "cross_entropy":
        kwargs["label_smoothing"] = smoothing
    theirs, ours = (loss_and_grad(lib, fn, logits, targets, **kwargs) for lib in (torch, tg))
    assert np.isnan(theirs[0]) and np.isnan(ours[0])
    np.testing.assert_array_equal(ours[1], theirs[1])  # (nan where torch's is nan)
    assert ours[2] == theirs[2] == []


def test_weights_summing_to_zero_still_divide() -> None:
    """Negative and positive weights summing to 0 over nonzero terms: x / 0, torch's -inf and inf / nan gradient."""
    logits, targets = np.array([[0.0, 1.0], [2.0, 0.0]], np.float32), np.array([0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's at x / 0 (torch is silent; README lists it)
        theirs, ours = (loss_and_grad(lib, "cross_entropy", logits, targets, weight=np.array([1.0, -1.0],
                                                                                              np.float32))
                        for lib in (torch, tg))
    assert ours[0] == theirs[0] == -np.inf
    np.testing.assert_array_equal(ours[1], theirs[1])
