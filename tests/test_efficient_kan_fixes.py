"""What the efficient-kan program (tests/torch_style/efficient_kan.py) turned up, against torch: ``linspace`` with an
integer dtype (``update_grid``'s ``torch.linspace(0, batch - 1, grid_size + 1, dtype=torch.int64)`` picks the
quantile rows with it) was numpy's, which floors the values and adds ``start + i * step`` all the way; torch's kernel
truncates toward zero, fuses each ``start + step * i`` (first half) / ``end - step * (steps - 1 - i)`` (second half)
into one rounding to double, and first truncates float bounds to the dtype: ``linspace(-5, 30, 10, dtype=int64)``
was ``[-5, -2, ...]`` (torch ``[-5, -1, ...]``), ``linspace(-153, 145, 7)`` ``-4`` where torch has ``-3``,
``linspace(0.5, 10.7, 5)`` ``[0, 3, 5, 8, 10]`` (torch ``[0, 2, 5, 7, 10]``); and ``dtype=bool`` gave a bool ramp
where torch's kernel refuses it.

Mutations run (each made a test here fail, then was reverted):
- numpy's ``linspace(..., dtype=dt)`` for integer dtypes again (the old code): negative ranges and float bounds fail.
- ``numpy.floor`` for ``numpy.trunc``: negative values fail.
- the float64 values by numpy's plain ``linspace`` (no fused rounding, no halves): ``(-153, 145, 7)`` fails.
- the bounds not truncated (``float(v)`` for ``float(int(v))``): float bounds fail.
- the bool check removed: ``test_bool_dtype_is_refused`` fails."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

RANGES = {"int64": 2**40, "int32": 2**30, "int16": 2**14, "int8": 120, "uint8": 250}


@st.composite
def bounds(draw: st.DrawFn) -> tuple[str, float, float, int]:
    dtype = draw(st.sampled_from(sorted(RANGES)))
    low = 0 if dtype == "uint8" else -RANGES[dtype]
    bound = st.integers(low, RANGES[dtype]) | st.floats(low, RANGES[dtype], allow_nan=False)
    return dtype, draw(bound), draw(bound), draw(st.integers(0, 400))


@given(case=bounds())
@settings(deadline=None, max_examples=300)
def test_integer_linspace_matches_torch(case: tuple[str, float, float, int]) -> None:
    dtype, start, end, steps = case
    want = torch.linspace(start, end, steps, dtype=getattr(torch, dtype))
    got = tg.linspace(start, end, steps, dtype=getattr(tg, dtype))
    assert got.dtype == getattr(tg, dtype) and got.shape == tuple(want.shape)
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize(("start", "end", "steps"), [(-5, 30, 10), (-153, 145, 7), (0.5, 10.7, 5), (-0.5, -10.7, 5),
                                                     (3, -7, 4), (0, 63, 6), (7, 7, 3), (4, 9, 1), (-1, 3, 4)])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_integer_linspace_cases(start: float, end: float, steps: int, dtype: str) -> None:
    """Truncation toward zero, the fused halves, float bounds truncated first, one step, a uint8 -1 as 255."""
    if dtype == "uint8" and min(start, end) < -1:
        return
    want = torch.linspace(start, end, steps, dtype=getattr(torch, dtype)).tolist()
    assert tg.linspace(start, end, steps, dtype=getattr(tg, dtype)).tolist() == want


def test_quantile_rows_as_update_grid_picks_them() -> None:
    """efficient-kan's ``x_sorted[torch.linspace(0, batch - 1, grid_size + 1, dtype=torch.int64)]`` for the batch
    and grid sizes it meets: the same rows as torch."""
    for batch in range(2, 300):
        for grid_size in (3, 5, 7, 10, 20):
            want = torch.linspace(0, batch - 1, grid_size + 1, dtype=torch.int64).tolist()
            assert tg.linspace(0, batch - 1, grid_size + 1, dtype=tg.int64).tolist() == want, (batch, grid_size)


def test_bool_dtype_is_refused() -> None:
    with pytest.raises(RuntimeError, match="Bool"):
        torch.linspace(0, 1, 4, dtype=torch.bool)
    with pytest.raises(TypeError, match="bool"):
        tg.linspace(0, 1, 4, dtype=tg.bool)
    assert np.asarray(tg.linspace(0, 1, 0, dtype=tg.int64).numpy()).shape == (0,)
