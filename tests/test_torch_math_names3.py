"""The eleventh stop's tensor functions against PyTorch on generated inputs, NaN, inf, -0, empty and 0-d ones
included (values, dtypes, shapes, gradients, or both raising): aminmax, diff, nansum, nanmean, logit, positive,
signbit, deg2rad / rad2deg, float_power, gcd / lcm, new_empty, and the real-tensor identities conj, H, mH, real,
imag."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import agree, arrays, dim_of, raises

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
# sums: no 1e300 beside -1e300, whose cancellation depends on the order of the additions
SUMMABLE = arrays(elements=st.floats(-1e3, 1e3) | st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan]))
INTS = hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4),
                  elements=st.integers(-30, 30))


@settings(max_examples=60, deadline=None)
@given(x=SUMMABLE, data=st.data(), keepdim=st.booleans())
def test_reductions_that_skip_nan(x: np.ndarray, data: st.DataObject, keepdim: bool) -> None:
    dim = dim_of(data, x.ndim)
    for name in ("nansum", "nanmean"):
        agree(lambda L, t, name=name: getattr(L, name)(t), x)
        agree(lambda L, t, name=name: getattr(t, name)(dim, keepdim), x)
        agree(lambda L, t, name=name: getattr(L, name)(t, dim=dim, keepdim=keepdim, dtype=L.float32), x, rtol=1e-5)
    agree(lambda L, t: L.nansum(t.long()), np.nan_to_num(x).clip(-99, 99))
    raises(lambda L: L.nanmean(L.tensor([1, 2])))
    if x.size:
        agree(lambda L, t: L.aminmax(t), x)
    if x.ndim and x.shape[dim]:
        agree(lambda L, t: t.aminmax(dim=dim, keepdim=keepdim), x)


@settings(max_examples=60, deadline=None)
@given(x=arrays(min_dims=1), data=st.data(), n=st.integers(0, 3), ends=st.booleans())
def test_diff(x: np.ndarray, data: st.DataObject, n: int, ends: bool) -> None:
    dim = dim_of(data, x.ndim)
    agree(lambda L, t: L.diff(t, n, dim), x)
    agree(lambda L, t: L.diff(t > 0, n, dim), x, grads=False)
    if ends:
        side = list(x.shape)
        side[dim] = 2
        pre, post = np.ones(side), np.full(side, np.nan)
        agree(lambda L, t, a, b: t.diff(n, dim, prepend=a, append=b), x, pre, post)


@settings(max_examples=60, deadline=None)
@given(x=arrays(), eps=st.sampled_from([None, 0.0, 1e-6, 0.25]))
def test_logit_and_angle_conversions(x: np.ndarray, eps: float | None) -> None:
    p = np.where(np.isfinite(x), np.abs(np.tanh(x)), x)  # mostly inside [0, 1], with the specials kept
    # with eps, torch's gradient at a NaN input is 0 in its vectorised loop and NaN in its scalar one: not compared
    at_nan = eps is not None and bool(np.isnan(p).any())
    agree(lambda L, t: L.logit(t, eps), p, rtol=1e-9, grads=not at_nan)
    agree(lambda L, t: t.logit(eps), np.nan_to_num(p, nan=0.5).astype(np.float32), rtol=1e-5)
    for name in ("deg2rad", "rad2deg"):
        agree(lambda L, t, name=name: getattr(L, name)(t), x)
        agree(lambda L, t, name=name: getattr(L, name)(t.long()), np.nan_to_num(x).clip(-99, 99), grads=False,
              rtol=1e-6)
    agree(lambda L, t: L.signbit(t), x, grads=False)
    agree(lambda L, t: L.positive(t), x)
    raises(lambda L: L.positive(L.tensor([True])))


@settings(max_examples=60, deadline=None)
@given(x=arrays(max_dims=2), e=st.sampled_from([2, 0.5, -1.0, 3]), tensor_exponent=st.booleans())
def test_float_power(x: np.ndarray, e: float, tensor_exponent: bool) -> None:
    if tensor_exponent:
        agree(lambda L, t, y: L.float_power(t.float(), y), x, np.full(x.shape, float(e)), rtol=1e-6)
    else:
        agree(lambda L, t: t.float_power(e), x.astype(np.float32), rtol=1e-6)
    agree(lambda L, t: L.float_power(t.long(), 2), np.nan_to_num(x).clip(-99, 99), grads=False)


@settings(max_examples=40, deadline=None)
@given(a=INTS, b=st.integers(-30, 30))
def test_gcd_and_lcm(a: np.ndarray, b: int) -> None:
    for name in ("gcd", "lcm"):
        agree(lambda L, t, name=name: getattr(L, name)(t, L.tensor(b)), a, grads=False)
        agree(lambda L, t, name=name: getattr(t, name)(t.flip(tuple(range(t.ndim)))), a, grads=False)
    raises(lambda L: L.gcd(L.tensor([1.5]), L.tensor([2.0])))


def test_real_tensor_identities_and_new_empty() -> None:
    x = np.arange(6.0).reshape(2, 3)
    for f in (lambda L, t: t.conj(), lambda L, t: L.conj_physical(t), lambda L, t: t.resolve_conj().resolve_neg(),
              lambda L, t: t.H, lambda L, t: t.mH, lambda L, t: t.real, lambda L, t: L.real(t)):
        agree(f, x)
    agree(lambda L, t: t.reshape(3, 1, 2).mH, x)
    for name in ("is_conj", "is_neg", "is_complex"):
        assert getattr(tg.tensor(x), name)() is getattr(torch.tensor(x), name)() is False
    raises(lambda L: L.tensor(x).imag)
    raises(lambda L: L.tensor(x[0]).H)
    e = tg.tensor(x, dtype=tg.float32).new_empty((4, 5))
    assert e.shape == (4, 5) and e.dtype == np.float32 and not e.requires_grad
    assert tg.tensor(x).new_empty(2, 3, dtype=tg.int64, requires_grad=False).dtype == np.int64


def test_pow_by_a_half_has_torchs_gradient_at_minus_zero_and_minus_inf() -> None:
    """torch takes x ** 0.5's derivative through rsqrt: -inf at -0 and NaN at -inf (C's pow gives inf and 0)."""
    x = np.array([-0.0, -np.inf, 0.0, 4.0, np.inf])
    agree(lambda L, t: t ** 0.5, x)
    agree(lambda L, t: L.float_power(t.float(), 0.5), x, rtol=1e-6)


@pytest.mark.parametrize("exponent", [0.5, -0.5, 1.5, 0.5001, 2.0, -1.0, 2.5, 3])
@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("shape", [(), (5,)])
def test_pow_is_torchs_for_numbers_and_tensors_of_any_shape(exponent: float, as_tensor: bool,
                                                            shape: tuple[int, ...]) -> None:
    """A number exponent is torch's scalar pow (0.5 as sqrt, -0.5 as rsqrt, and b - 1 likewise in the gradient: x **
    1.5 at -inf has a NaN gradient), a tensor exponent C's pow, whether x is an array or the 0-d result of another op
    (numpy makes that a scalar, whose ** skips numpy's sqrt shortcut: FUZZ_SEED=7414977 gave an inf gradient)."""
    x = np.array([-np.inf, -0.0, 0.0, -2.0, 4.0, np.inf, np.nan, 0.25])[:max(1, sum(shape))].reshape(shape)
    for value in ([x] if shape else [np.array(v) for v in (-np.inf, -0.0, 0.0, -2.0, 4.0, np.inf, 0.25)]):
        def f(L: Any, t: Any, value: np.ndarray = value) -> Any:
            return (t * 1.0) ** (L.tensor(exponent, dtype=L.float64) if as_tensor else exponent)
        agree(f, value)
