"""``where``, ``masked_fill`` (and ``masked_fill_``) and ``clamp`` with Tensor bounds on shapes that may not broadcast:
the same result as torch's, or, where torch raises, a ValueError naming the op and both shapes (before: numpy's
unlabelled "operands could not be broadcast" for where / masked_fill / clamp)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SHAPES = st.lists(st.sampled_from([0, 1, 2, 3]), max_size=3).map(tuple)


def run(lib: Any, op: str, x: np.ndarray, other: np.ndarray) -> Any:
    t, o = lib.tensor(x), lib.tensor(other)
    if op == "where":
        return lib.where(o > 0, t, -t)
    if op == "where_mask_last":
        return lib.where(t > 0, t, o)
    if op == "masked_fill":
        return t.masked_fill(o > 0, 7.0)
    if op == "masked_fill_":
        return t.clone().masked_fill_(o > 0, 7.0)
    if op == "clamp_min":
        return lib.clamp(t, min=o)
    return lib.clamp(t, o - 1, o + 1)


@settings(max_examples=150, deadline=None)
@given(op=st.sampled_from(["where", "where_mask_last", "masked_fill", "masked_fill_", "clamp_min", "clamp"]),
       shape=SHAPES, other_shape=SHAPES, seed=st.integers(0, 2**16))
def test_shapes_broadcast_or_raise_as_torch(op: str, shape: tuple[int, ...], other_shape: tuple[int, ...],
                                            seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, other = (rng.standard_normal(s).astype(np.float32) for s in (shape, other_shape))
    try:
        want = run(torch, op, x, other).numpy()
    except RuntimeError:
        name = op.rstrip("_").split("_m")[0]  # where, masked_fill, clamp
        with pytest.raises(RuntimeError) as raised:  # torch's class (a shape error is a ValueError too)
            run(tg, op, x, other)
        message = str(raised.value)  # a shape error, or in place the result's shape (a RuntimeError only)
        assert message.startswith(name) and (f"{other.shape}" in message or f"{x.shape}" in message), message
        assert ("cannot be broadcast together" in message) == issubclass(raised.type, ValueError), message
        return
    np.testing.assert_array_equal(run(tg, op, x, other).numpy(), want)
