"""Fixes found by probing sorting / searching / set / comparison ops against torch (the sort_search probe)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as ours

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)

f16_values = st.lists(st.one_of(st.floats(-4, 4, width=16), st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan])),
                      min_size=0, max_size=40)


@pytest.mark.filterwarnings("error")  # (an empty histogram's density is nan, without numpy's warning, as torch)
@SETTINGS
@given(f16_values, st.integers(1, 12), st.sampled_from([(0.0, 1.0), (-2.0, 2.0), (-1.5, 0.7), (-3.0, 3.0),
                                                          (0.1, 0.30000001), (2.0, 2.0)]),
       st.booleans(), st.booleans())
def test_histogram_float16_with_a_range(values: list[float], bins: int, span: tuple[float, float], density: bool,
                                        weighted: bool) -> None:
    """torch.histogram takes float16 where the range is given: the same edges (float16 linspace, each product and
    sum rounded to float16) and counts; it used to raise."""
    x = np.array(values, np.float16)
    w = np.linspace(0.5, 2.0, x.size).astype(np.float16)
    got = ours.histogram(ours.tensor(x), bins=bins, range=span, density=density,
                         weight=ours.tensor(w) if weighted else None)
    want = torch.histogram(torch.tensor(x), bins=bins, range=span, density=density,
                           weight=torch.tensor(w) if weighted else None)
    for g, t in zip(got, want):
        assert g.dtype == ours.float16
        np.testing.assert_array_equal(g.numpy(), t.numpy())


@SETTINGS
@given(f16_values, st.lists(st.floats(-3, 3, width=16), min_size=2, max_size=8, unique=True))
def test_histogram_float16_with_edges(values: list[float], edges: list[float]) -> None:
    x, e = np.array(values, np.float16), np.sort(np.array(edges, np.float16))
    got = ours.histogram(ours.tensor(x), bins=ours.tensor(e))
    want = torch.histogram(torch.tensor(x), bins=torch.tensor(e))
    for g, t in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), t.numpy())


def test_histogram_float16_without_a_range_still_raises_as_torch() -> None:
    x = np.array([0.5, 1.0], np.float16)
    with pytest.raises(RuntimeError):
        torch.histogram(torch.tensor(x), bins=3)
    with pytest.raises(RuntimeError):
        ours.histogram(ours.tensor(x), bins=3)


def _bool(lib: Any) -> Any:
    return lib.tensor([True, False, True])


REFUSALS: dict[str, Callable[[Any], Any]] = {
    "isin-bool": lambda L: L.isin(_bool(L), _bool(L)),
    "kthvalue-bool": lambda L: L.kthvalue(_bool(L), 1),
    "median-dim-bool": lambda L: L.median(_bool(L), 0),
    "median-bool": lambda L: L.median(_bool(L)),
    "nanmedian-bool": lambda L: L.nanmedian(_bool(L)),
    "histc-int": lambda L: L.histc(L.tensor([1, 2, 3]), 3),
    "histogram-int": lambda L: L.histogram(L.tensor([1, 2, 3]), 3),
    "argmax-bool": lambda L: L.argmax(_bool(L)),
    "argmin-bool-dim": lambda L: _bool(L).argmin(0),
    "isclose-dtypes": lambda L: L.isclose(L.tensor([1, 2]), L.tensor([1.0, 2.0])),
    "allclose-dtypes": lambda L: L.allclose(L.tensor([1.0], dtype=L.float64), L.tensor([1.0])),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_dtype_refusals_are_runtime_errors_as_torch(name: str) -> None:
    """A dtype torch refuses raises its RuntimeError family (still a TypeError, as before)."""
    with pytest.raises(RuntimeError):
        REFUSALS[name](torch)
    with pytest.raises(RuntimeError) as info:
        REFUSALS[name](ours)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("fn", ["argmax", "argmin"])
@pytest.mark.parametrize("shape", [(0,), (2, 0), (0, 3)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_arg_extreme_of_empty_without_dim_is_an_index_error(fn: str, shape: tuple[int, ...], keepdim: bool) -> None:
    with pytest.raises(IndexError):
        getattr(torch, fn)(torch.zeros(shape), keepdim=keepdim)
    with pytest.raises(IndexError):
        getattr(ours, fn)(ours.zeros(shape), keepdim=keepdim)


@SETTINGS
@given(st.lists(st.integers(0, 3), min_size=1, max_size=10), st.integers(0, 6), st.sampled_from(["float32", "float64"]))
def test_mode_counts_each_nan_once(values: list[int], nans: int, dtype: str) -> None:
    """NaN != NaN, so torch's mode counts each NaN once: [0, 0, nan, nan, nan] has mode 0 (ours gave nan, counting
    the NaNs together). The NaNs are put last, where torch's sort leaves them (it has no order for NaN)."""
    x = np.array(values + [np.nan] * nans, dtype)
    tv, ti = torch.mode(torch.tensor(x))
    ov, oi = ours.mode(ours.tensor(x))
    np.testing.assert_array_equal(ov.numpy(), tv.numpy())
    assert int(oi) == int(ti)


def test_mode_counts_each_nan_once_along_a_dim() -> None:
    n = np.nan
    x = np.array([[n, n, n, 0, 0, 1], [2, 2, n, n, n, n], [1, 1, 3, 3, n, n]], np.float32)
    for dim in (1, -1):
        tv, ti = torch.mode(torch.tensor(x), dim)
        ov, oi = ours.mode(ours.tensor(x), dim)
        np.testing.assert_array_equal(ov.numpy(), tv.numpy())
        np.testing.assert_array_equal(oi.numpy(), ti.numpy())


@pytest.mark.parametrize("fn", ["isclose", "allclose"])
@pytest.mark.parametrize("tols", [{"atol": float("nan")}, {"rtol": float("nan")}, {"rtol": -1e-3}])
def test_isclose_refuses_a_nan_tolerance_as_torch(fn: str, tols: dict[str, float]) -> None:
    """A nan rtol / atol raises in torch (ours compared with it, all False or True)."""
    x = np.array([1.0, 2.0], np.float32)
    with pytest.raises(RuntimeError):
        getattr(torch, fn)(torch.tensor(x), torch.tensor(x), **tols)
    with pytest.raises(ValueError):
        getattr(ours, fn)(ours.tensor(x), ours.tensor(x), **tols)


@pytest.mark.parametrize("value", [True, False])
@pytest.mark.parametrize("dim", [0, -1])
def test_kthvalue_of_a_0d_bool_tensor(value: bool, dim: int) -> None:
    """torch's kthvalue takes a 0-d bool tensor (the value itself, index 0); ours raised. Other bool tensors still
    raise, as torch."""
    tv, ti = torch.kthvalue(torch.tensor(value), 1, dim)
    ov, oi = ours.kthvalue(ours.tensor(value), 1, dim)
    assert ov.dtype == ours.bool and ov.shape == () and bool(ov) == bool(tv) and int(oi) == int(ti) == 0
    with pytest.raises(RuntimeError):
        ours.kthvalue(ours.tensor([value]), 1, dim)
