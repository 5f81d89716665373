"""Fixes found by the ties / kinks probe (gradients at ties and at non-differentiable points against torch): the
1-norm's gradient at a nan entry (torch's sgn(nan) = 0), linalg.vector_norm's inf / -inf norm gradient with nan
entries and the sign of its zero gradients where the norm is 0, special.xlog1py's gradient for its first input at
0 (and its double backward), float16 gelu computed in float32 (torch's opmath), float16 tanh's gradient in float32
and float16 logsumexp's gradient step by step in float16, as torch's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as tF

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
import torch.nn.functional as F  # noqa: E402

SETTINGS = settings(max_examples=25, deadline=None)
EDGE = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, 1e30, -1e-30, np.inf, -np.inf, np.nan])
VALUES = st.floats(-4, 4, width=32) | EDGE
DTYPES = st.sampled_from(["float32", "float64"])


@st.composite
def arrays(draw: st.DrawFn, dtype: str, min_dims: int = 0, max_dims: int = 3, values=VALUES) -> np.ndarray:
    """An array of up to ``max_dims`` dims of sizes 0..3 drawn from ``values``."""
    shape = tuple(draw(st.lists(st.integers(0, 3), min_size=min_dims, max_size=max_dims)))
    n = int(np.prod(shape))
    with np.errstate(over="ignore"):  # (1e30 is inf in float16)
        return np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=dtype).reshape(shape)


def both(fn, *xs: np.ndarray, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``fn(lib, F, *tensors)``'s output and the inputs' grads, in torch then in ours, backward from one seeded
    random gradient."""
    res = []
    for lib, fl in ((torch, F), (tg, tF)):
        ts = [lib.tensor(x.copy(), requires_grad=True) for x in xs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(lib, fl, *ts)
            g = np.random.default_rng(seed).standard_normal(tuple(out.shape)).astype(xs[0].dtype)
            out.backward(lib.tensor(g))
        res.append([out.detach().numpy(), *[t.grad.numpy() for t in ts]])
    return res[0], res[1]


def same(ours: np.ndarray, ref: np.ndarray, rtol: float = 2e-6, atol: float = 1e-30) -> None:
    """Equal up to rounding, nan where torch's is nan, and the same sign of each zero."""
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    np.testing.assert_allclose(ours.astype(np.float64), ref.astype(np.float64), rtol=rtol, atol=atol,
                               equal_nan=True)
    z = (ref == 0) & (ours == 0)
    assert (np.signbit(ours[z]) == np.signbit(ref[z])).all(), (ours, ref)


def check(fn, *xs: np.ndarray, seed: int = 0, rtol: float = 2e-6, atol: float = 1e-30) -> None:
    """Values and gradients of ``fn`` in ours equal torch's."""
    ref, ours = both(fn, *xs, seed=seed)
    for o, t in zip(ours, ref):
        same(o, t, rtol, atol)


@SETTINGS
@given(d=st.data(), dtype=DTYPES, keepdim=st.booleans(), seed=st.integers(0, 99))
def test_one_norm_grad_is_zero_at_nan(d: st.DataObject, dtype: str, keepdim: bool, seed: int) -> None:
    """linalg.vector_norm / norm(dim=) / dist with p = 1: torch's gradient sgn(x) g is 0 at a nan entry (ours was
    nan: numpy's sign(nan))."""
    x = d.draw(arrays(dtype, min_dims=1))
    dim = d.draw(st.sampled_from([None, *range(-x.ndim, x.ndim)]))
    check(lambda T, F_, a: T.linalg.vector_norm(a, 1, dim, keepdim), x, seed=seed)
    if dim is not None:
        check(lambda T, F_, a: a.norm(1, dim, keepdim), x, seed=seed)
    y = d.draw(arrays(dtype, min_dims=x.ndim, max_dims=x.ndim).filter(lambda y: y.shape == x.shape))
    check(lambda T, F_, a, b: T.dist(a, b, 1), x, y, seed=seed)


def test_one_norm_grad_examples() -> None:
    """The probe's case: a nan entry gets 0, the others sgn(x) g, also where the norm itself is nan."""
    x = np.array([[1.0, np.nan, 3.0, np.nan], [-2.0, 0.0, -0.0, np.inf]], np.float32)
    check(lambda T, F_, a: T.linalg.vector_norm(a, 1, -1), x)
    check(lambda T, F_, a: T.linalg.vector_norm(a * 0, 1), x)
    check(lambda T, F_, a, b: T.dist(a, b, 1), x, x.copy())


@SETTINGS
@given(d=st.data(), dtype=st.sampled_from(["float32", "float64", "float16"]), p=st.sampled_from([np.inf, -np.inf]),
       keepdim=st.booleans(), zeros=st.booleans(), seed=st.integers(0, 99))
def test_vector_norm_inf_grad_with_nan_and_zero_norm(d: st.DataObject, dtype: str, p: float, keepdim: bool,
                                                     zeros: bool, seed: int) -> None:
    """linalg.vector_norm(ord=+-inf) backward as torch's norm: 0 at nan entries and along a nan norm (ours was nan,
    through max / min), ties split evenly; and where the norm is 0 its zero gradients keep g's sign (ours masked
    them to +0, as for 1 < p < inf)."""
    x = d.draw(arrays(dtype, min_dims=1, values=st.sampled_from([0.0, -0.0]) if zeros else VALUES))
    dim = d.draw(st.sampled_from([*range(-x.ndim, x.ndim)] + ([None] if x.size else [])))
    if x.shape and dim is not None and x.shape[dim] == 0:
        return  # (an empty reduced dim raises in both)
    check(lambda T, F_, a: T.linalg.vector_norm(a, p, dim, keepdim), x, seed=seed)
    if dim is not None:
        check(lambda T, F_, a: T.linalg.norm(a, p, dim, keepdim), x, seed=seed)
        check(lambda T, F_, a: a.norm(p, dim, keepdim), x, seed=seed)


def test_vector_norm_inf_examples() -> None:
    """The probe's cases: a row holding nan, a row of zeros times 0 and a nan row of x * 0."""
    x = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 2.0, np.inf, np.inf], [-np.inf, -np.inf, 0.0, -0.0]])
    for p in (np.inf, -np.inf):
        check(lambda T, F_, a, p=p: T.linalg.vector_norm(a, p, -1), x)
        check(lambda T, F_, a, p=p: T.linalg.vector_norm(a * 0, p, -1), x)
        check(lambda T, F_, a, b, p=p: T.dist(a, b, p), x[:1], x[:1].copy())
    check(lambda T, F_, a: T.linalg.vector_norm(a, np.inf, -1), np.zeros((2, 3)), seed=3)


@SETTINGS
@given(d=st.data(), dtype=DTYPES, seed=st.integers(0, 99))
def test_xlog1py_grad_of_input_at_zero(d: st.DataObject, dtype: str, seed: int) -> None:
    """special.xlog1py's gradient for input is torch's xlog1py(g, other), 0 only where input is 0 and other <= -1
    (ours was 0 wherever input was 0)."""
    x = d.draw(arrays(dtype, min_dims=1, max_dims=1, values=st.sampled_from([0.0, -0.0, 1.0, -2.5]) | VALUES))
    y = d.draw(arrays(dtype, min_dims=1, max_dims=1, values=st.sampled_from([-1.0, -2.0, 1.0, 0.0]) | VALUES)
               .filter(lambda y: y.shape == x.shape))
    check(lambda T, F_, a, b: T.special.xlog1py(a, b), x, y, seed=seed)


def test_xlog1py_grad_examples() -> None:
    """Input 0: log1p(other) g for other > -1 (inf at other = inf), 0 at other <= -1; nan other gives nan."""
    x = np.array([0.0, -0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 2.0])
    y = np.array([1.0, 1.0, -1.0, np.inf, np.nan, -1.0, -2.0, 3.0])
    check(lambda T, F_, a, b: T.special.xlog1py(a, b), x, y)


def rounded_once(fn, x: np.ndarray, seed: int) -> list[np.ndarray]:
    """torch's float64 ``fn`` of float16 ``x`` (value, gradient from ``both``'s seeded float16 output gradient), each
    rounded once to float16: the reference for "computed in float32, rounded once". torch's own float16 / float32
    gelu is CPU-dependent: where it runs its AVX-512 code it is 2 ulps off at x = -4 and flushes the gradient below
    x = -6.15 to +0; its vectorised kernel gives nan at +inf (its float64 one inf)."""
    t = torch.tensor(x.astype(np.float64), requires_grad=True)
    out = fn(torch, F, t)
    out.backward(torch.tensor(np.random.default_rng(seed).standard_normal(tuple(out.shape)).astype(x.dtype)
                              .astype(np.float64)))
    with np.errstate(over="ignore"):
        return [out.detach().numpy().astype(x.dtype), t.grad.numpy().astype(x.dtype)]


@SETTINGS
@given(d=st.data(), approximate=st.sampled_from(["none", "tanh"]), seed=st.integers(0, 99))
def test_gelu_float16_in_float32(d: st.DataObject, approximate: str, seed: int) -> None:
    """float16 gelu (value and gradient) is computed in float32 and rounded once, as torch's opmath (ours was 8% off
    at x = -3: 1 + erf(x / sqrt 2) in float16): within an ulp of the float64 value rounded once."""
    x = d.draw(arrays("float16", values=st.floats(-8, 8, width=16) | EDGE))
    # (the float32 fit is within 3 ulp of x, not of the value (README), as the float32 test's atol 2e-6: at x = -5
    # ours is -1.07e-6, torch's -1.49e-6, the true value -1.43e-6; found by a local hypothesis run)
    for fn in (lambda T, F_, a: F_.gelu(a, approximate=approximate), lambda T, F_, a: T.nn.GELU(approximate)(a)):
        ours = both(fn, x, seed=seed)[1]
        for o, t in zip(ours, rounded_once(fn, x, seed)):  # (not the sign of a zero: a float32 step may underflow
            # where float64 keeps the sign, gelu_tanh(-6)'s gradient +0 against -0)
            assert o.dtype == t.dtype
            np.testing.assert_allclose(o.astype(np.float64), t.astype(np.float64), rtol=1e-3, atol=2e-6,
                                       equal_nan=True)


def test_gelu_float16_left_tail() -> None:
    """The probe's case: gelu(-3) in float16 is -0.00405 (torch's), not -0.00439; every value is the float64 one
    rounded once."""
    x = np.array([-3.0, -2.5, -4.0, -1.0, 0.0, -0.0, 1.0, 3.0, -7.0], np.float16)
    ours, ref = both(lambda T, F_, a: F_.gelu(a), x)[1], rounded_once(lambda T, F_, a: F_.gelu(a), x, 0)
    np.testing.assert_array_equal(ours[0], ref[0])
    same(ours[1], ref[1], rtol=1e-3)
    assert ours[0][0] == np.float16(-0.00405)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_gelu_at_infinity_is_infinite(dtype: str) -> None:
    """gelu(inf) = inf, gelu(-inf) = nan (-inf times 0), and gradient nan at both, as torch's float64 gelu."""
    x = np.array([np.inf, -np.inf, np.nan, 10.0], dtype)
    ref = both(lambda T, F_, a: F_.gelu(a), x.astype(np.float64))[0]
    ours = both(lambda T, F_, a: F_.gelu(a), x)[1]
    assert ref[0][0] == np.inf
    for o, t in zip(ours, ref):
        same(o, t.astype(dtype), rtol=1e-3)


@SETTINGS
@given(d=st.data(), seed=st.integers(0, 99))
def test_tanh_float16_backward_in_float32(d: st.DataObject, seed: int) -> None:
    """float16 tanh's gradient g (1 - y^2) is computed in float32 and rounded once, as torch's kernel (ours rounded
    y^2 and 1 - y^2 in float16: 0.6% off near |x| = 3), also through create_graph (its second derivative)."""
    x = d.draw(arrays("float16", min_dims=1, values=st.floats(-5, 5, width=16) | EDGE))
    check(lambda T, F_, a: a.tanh(), x, seed=seed, rtol=0)
    grads = []
    for lib in (torch, tg):
        t = lib.tensor(x.copy(), requires_grad=True)
        (g,) = lib.autograd.grad(t.tanh().sum(), t, create_graph=True)
        (h,) = lib.autograd.grad((g * 0.5).sum(), t)
        grads.append((g.detach().numpy(), h.numpy()))
    for o, r in zip(grads[1], grads[0]):
        same(o, r, rtol=2e-3)


@SETTINGS
@given(d=st.data(), dtype=DTYPES, seed=st.integers(0, 99))
def test_xlog1py_differentiates_twice(d: st.DataObject, dtype: str, seed: int) -> None:
    """special.xlog1py under create_graph=True: first and second derivatives as torch's (ours raised
    NotImplementedError: no double backward)."""
    x = d.draw(arrays(dtype, min_dims=1, max_dims=1, values=st.sampled_from([0.0, -0.0, 1.0, -2.5]) | VALUES))
    y = d.draw(arrays(dtype, min_dims=1, max_dims=1, values=st.sampled_from([-1.0, -2.0, 1.0, 0.0]) | VALUES)
               .filter(lambda y: y.shape == x.shape))
    w = np.random.default_rng(seed).standard_normal(x.shape).astype(dtype)
    res = []
    for lib in (torch, tg):
        a, b = lib.tensor(x.copy(), requires_grad=True), lib.tensor(y.copy(), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ga, gb = lib.autograd.grad((lib.special.xlog1py(a, b) * lib.tensor(w)).sum(), (a, b), create_graph=True)
            ha, hb = lib.autograd.grad((ga * ga).sum() + (gb * a).sum(), (a, b))
        res.append([t.detach().numpy() for t in (ga, gb, ha, hb)])
    for o, r in zip(res[1], res[0]):
        same(o, r)


@SETTINGS
@given(d=st.data(), keepdim=st.booleans(), seed=st.integers(0, 99))
def test_logsumexp_float16_backward_as_torch(d: st.DataObject, keepdim: bool, seed: int) -> None:
    """float16 logsumexp's gradient is torch's g exp(x - lse), each step in float16 (ours was the softmax e / s,
    0.3% off in most entries); +-inf and nan entries as torch's."""
    x = d.draw(arrays("float16", min_dims=1, values=st.floats(-12, 12, width=16) | EDGE))
    dim = d.draw(st.sampled_from([*range(-x.ndim, x.ndim), tuple(range(x.ndim))]))
    check(lambda T, F_, a: T.logsumexp(a, dim, keepdim), x, seed=seed, rtol=0)
