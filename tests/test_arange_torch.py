"""``arange`` against torch on generated bounds and steps, ints and floats mixed, for every dtype.

torch's kernel, which ours follows: the count is ceil((end - start) / step) in double, and the values start + i * step
in double, cast; for an integer dtype start and step are first truncated to integers, and for int64 the count comes
from the truncated bounds as well (so ``arange(0, 2.5, 1, dtype=int64)`` is [0, 1] and a step truncated to 0 raises,
while int32 counts 3 and repeats the start). Until this stop ours used numpy's arange, which gave
``arange(1.7, 5.2, 1.5, dtype=int64)`` as [1, 3, 5] (torch: [1, 2, 3, 4]) and ``arange(-0.5, 3, 1, dtype=int64)`` as
[0, 0, 0, 0], and an empty tensor where torch raises for an end on the wrong side of start.

Float values may differ from torch's in the last bit: torch's vectorised kernel adds steps within a SIMD chunk in the
dtype itself, ours rounds start + i * step from double (float16: torch's half-precision adds drift further, so it is
left out here). Mutations run (each failed here): numpy's arange back for integer dtypes; int64 counted as the
narrower types; the wrong-side check dropped."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

NUMBER = st.integers(-20, 20) | st.floats(-20, 20).map(lambda v: round(v, 3))
STEP = st.integers(-5, 5) | st.floats(-5, 5).map(lambda v: round(v, 3))


def run(lib: object, args: tuple, dtype: str | None) -> np.ndarray | str:
    try:
        return lib.arange(*args, **({} if dtype is None else {"dtype": getattr(lib, dtype)})).numpy()
    except (RuntimeError, ValueError) as e:
        return type(e).__name__


@settings(max_examples=600, deadline=None)
@given(start=NUMBER, end=NUMBER, step=STEP, only_end=st.booleans(),
       dtype=st.sampled_from([None, "int64", "int32", "int16", "uint8", "float32", "float64"]))
def test_arange_matches_torch(start: float, end: float, step: float, only_end: bool, dtype: str | None) -> None:
    args = (end,) if only_end else (start, end, step)
    theirs, ours = run(torch, args, dtype), run(tg, args, dtype)
    if isinstance(theirs, str):
        assert ours == "ValueError", (args, dtype, ours)  # torch's RuntimeError: ours is a ValueError (bad arguments)
        return
    assert not isinstance(ours, str), (args, dtype, ours)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    if ours.dtype.kind == "f":
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(ours, theirs)


def test_arange_refuses_what_torch_refuses() -> None:
    for args in [(5, 0, 1), (0, 5, -1), (0, 1, 0), (0, float("inf"), 1)]:
        with pytest.raises(ValueError):
            tg.arange(*args)
    with pytest.raises(ValueError, match="int64 step"):
        tg.arange(0.5, 3, 0.5, dtype=tg.int64)
    assert tg.arange(0.5, 3, 0.5, dtype=tg.int32).tolist() == [0] * 5  # (torch's int32 kernel repeats the start)
