"""Fixes found porting rosinality/glow-pytorch (``tests/torch_style/glow.py``), each against torch.

- A singular matrix in ``inverse`` / ``torch.inverse`` / ``linalg.inv`` / ``linalg.solve`` (Glow's ``reverse`` of
  an invertible 1x1 convolution that has become singular) raised a plain ``ValueError``: a program catching
  ``torch.linalg.LinAlgError`` or ``RuntimeError``, as torch raises, did not catch it. It now raises
  ``torch.linalg.LinAlgError`` (a RuntimeError), still a ValueError too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygrad_adam

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

CALLS: dict[str, Callable[[Any, Any], Any]] = {
    "Tensor.inverse": lambda lib, a: a.inverse(),
    "torch.inverse": lambda lib, a: lib.inverse(a),
    "linalg.inv": lambda lib, a: lib.linalg.inv(a),
    "linalg.solve": lambda lib, a: lib.linalg.solve(a, lib.ones(*a.shape[:-1], 2, dtype=a.dtype)),
}


def outcome(lib: Any, call: str, a: np.ndarray) -> Any:
    """The call's result as an array, or the exception it raised."""
    try:
        return CALLS[call](lib, lib.tensor(a)).numpy()
    except Exception as e:  # compared below
        return e


@settings(max_examples=60, deadline=None)
@given(a=hnp.arrays(np.float64, st.tuples(st.integers(0, 2), st.integers(0, 3)).map(lambda s: (s[0], s[1], s[1])),
                    elements=st.sampled_from([0.0, 1.0, -1.0, 2.0, 1e300, -1e-300])),
       call=st.sampled_from(sorted(CALLS)), dtype=st.sampled_from([np.float64, np.float32]))
@example(a=np.full((1, 2, 2), -1e-300), call="Tensor.inverse", dtype=np.float64)  # (both found by a local run)
@example(a=np.array([[[1e300, 1e300], [1e300, 0.0]]]), call="Tensor.inverse", dtype=np.float64)
@example(a=np.array([[[-1.0, -1, -1], [-1, 2, 0], [-1, 0, -1]]]), call="Tensor.inverse", dtype=np.float64)
@example(a=np.array([[[1.0, 0, 1], [0, 1e300, 1], [1, 1, 1]]]), call="Tensor.inverse", dtype=np.float64)
@example(a=np.array([[[-1e-300] * 3, [-1e-300] * 3, [-1e-300, -1e-300, 0.0]]]), call="Tensor.inverse",
         dtype=np.float64)
@example(a=np.array([[[2.0, 2, 2], [-1, 2, 2], [1, -1, -1]]]), call="Tensor.inverse", dtype=np.float64)  # (hunt
@example(a=np.array([[[1.0, 1, 1], [-1e-300, 1, 1], [1, -1e-300, -1e-300]]]), call="Tensor.inverse",  # 48002)
         dtype=np.float64)
@example(a=np.array([[[2.0, 1e300, 1e300], [0, 1, 2], [2, 2, 2]]]), call="Tensor.inverse", dtype=np.float64)
def test_singular_raises_linalg_error_as_torch(a: np.ndarray, call: str, dtype: type) -> None:
    """Where torch raises torch.linalg.LinAlgError ours raises tinygrad_adam.linalg.LinAlgError (a RuntimeError,
    and a ValueError as before); elsewhere the same values (empty batches and 0 x 0 matrices included)."""
    a = a.astype(dtype) if dtype is np.float64 else np.clip(a, -1e30, 1e30).astype(dtype)
    want, got = outcome(torch, call, a), outcome(tinygrad_adam, call, a)
    # numpy's LAPACK multiplies by the pivot's reciprocal where torch's divides, so at 1e-300 an exact zero pivot of
    # torch's can be a subnormal one here: inf instead of the raise, and rounding noise instead of a 0 (README);
    # 1e300's inverse works at 1e-300 too
    subnormal = dtype is np.float64 and bool(np.isin(np.abs(a), (1e-300, 1e300)).any())
    if dtype is np.float32 and (np.abs(a) == np.float32(1e30)).any() and a.size:
        with np.errstate(all="ignore"):
            cond = np.linalg.cond(a.astype(np.float64))
        if not (cond < 1e6).all():  # 1e30 beside 1 in float32: 1e30 + 1 rounds and 1e30^2 overflows, so whether a
            if isinstance(got, Exception):  # pivot rounds to 0, and where an inf appears, is rounding in both
                assert isinstance(got, tinygrad_adam.linalg.LinAlgError) and "singular" in str(got), repr(got)
            return  # ([[1e30, 1e30, 1e30], [0, 1, 0], [0, 1e30, 1]]^-1 holds 1e30 - 1: ours, where torch's is inf)
    if isinstance(want, Exception):
        assert isinstance(want, torch.linalg.LinAlgError)
        if not isinstance(got, Exception):  # torch's zero pivot is rounding noise in numpy's LU (a fused multiply-add
            # in OpenBLAS: [[2, 2, 2], [-1, 2, 2], [1, -1, -1]]'s -2 + 3 (2/3) is -1.1e-16, torch's 0; or a subnormal
            # at 1e-300, README): then the "inverse" shows it, infinite or at least 1 / (n eps) times 1 / max |a|
            with np.errstate(all="ignore"):
                blown = np.abs(got).max() * np.abs(a).max() >= 1 / (a.shape[-1] * np.finfo(dtype).eps)
            assert not np.isfinite(got).all() or blown, got
            return
        assert isinstance(got, tinygrad_adam.linalg.LinAlgError), repr(got)
        assert isinstance(got, RuntimeError) and isinstance(got, ValueError)
        assert "singular" in str(got)
    else:
        if subnormal and isinstance(got, tinygrad_adam.linalg.LinAlgError):  # a condition number (at least
            with np.errstate(all="ignore"):  # |A| |A^-1|) past 1e200: [[1, 0, 1], [0, 1e300, 1], [1, 1, 1]]'s
                cond = np.abs(want).max() * np.abs(a).max()  # is 1e600; numpy's pivot rounds to 0, torch's does
            assert not cond < 1e200, got  # not (README)
            return
        assert not isinstance(got, Exception), repr(got)
        if subnormal and not np.isfinite(want).all():  # a singular matrix whose zero pivot neither LAPACK saw (each
            assert not np.isfinite(got).all(), got  # rounds it to a subnormal of its own): inf / nan in both, the
            return  # finite entries beside them rounding noise of 1e300 (-1e300 against 0 at 1e-300's [[-1]*3]*2 + ...)
        if subnormal and np.isfinite(got).all():
            with np.errstate(all="ignore"):
                cond = np.abs(want[np.isfinite(want)]).max(initial=0.0) * np.abs(a).max(initial=0.0)
            if not cond < 1e200:  # so ill-conditioned that either answer may be off by cond * eps relative: torch's
                # inverse of [[2, 1e300, 1e300], [0, 1, 2], [2, 2, 2]] holds -3.7e283 where the exact (and our)
                # entry is 0 (1e300 * 2 - 1e300 * 2); ours is checked by its residual, which LU's backward error
                # bounds (hunt 50016)
                n = a.shape[-1]
                b = np.ones((*a.shape[:-1], 2)) if call == "linalg.solve" else np.broadcast_to(np.eye(n), a.shape)
                with np.errstate(all="ignore"):
                    residual = np.abs(a @ got - b).max(initial=0.0)
                assert residual <= 8 * n * np.finfo(dtype).eps * (np.abs(a).max() * np.abs(got).max() + 1), residual
                return
        # rounding noise at the scale of the largest entry or of solve's right side of ones (an exact 0 of torch's
        # is -7.8e-17 in solve([[0, 1e300], [1, 1e300]], ones), whose solution is [0, 1e-300])
        top = max(np.abs(want[np.isfinite(want)]).max(initial=0.0), 1.0 if call == "linalg.solve" else 0.0)
        noise = 4 * np.finfo(dtype).eps * max(top, np.finfo(dtype).tiny)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=noise, equal_nan=True)


@pytest.mark.parametrize("call", sorted(CALLS))
def test_glow_reverse_of_a_singular_weight(call: str) -> None:
    """The program's pattern, a 1x1 weight ``squeeze().inverse()`` for ``reverse``, caught as torch's error."""
    for lib in (torch, tinygrad_adam):
        weight = lib.zeros(3, 3, 1, 1)
        with pytest.raises(lib.linalg.LinAlgError):
            CALLS[call](lib, weight.squeeze())
        with pytest.raises(RuntimeError):
            CALLS[call](lib, weight.squeeze())
