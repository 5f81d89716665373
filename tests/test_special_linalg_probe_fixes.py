"""Differences from torch found by the torch.special / torch.linalg probe, each checked against torch: the special
functions the library lacked (erfcx, i0e, i1, i1e, the Bessel functions, airy_ai, spherical_bessel_j0, xlog1py,
zeta, multigammaln, gammainc / gammaincc, the orthogonal polynomials) with their values, dtypes and gradients;
``out=`` on torch.special's and torch.linalg's functions; linalg.tensorinv and linalg.tensorsolve; and
``vector_norm(x, 0)``'s backward (it runs, leaving no gradient)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

EDGES = [0.0, -0.0, 1e-30, -1e-30, 1e-8, 0.5, -0.5, 1.0, -1.0, 3.0, -3.5, 30.0, -30.0, 104.0, 700.0, -700.0, 1e30,
         1e10,
         -1e30, float("inf"), float("-inf"), float("nan")]
FLOATS = st.floats(-60, 60, allow_nan=False, width=32)
UNARY = ["erfcx", "i0e", "i1", "i1e", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_i0",
         "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1", "scaled_modified_bessel_k0",
         "scaled_modified_bessel_k1", "spherical_bessel_j0", "airy_ai"]
DIFFERENTIABLE = ["erfcx", "i0e", "i1", "i1e"]
POLYNOMIALS = ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
               "hermite_polynomial_h", "hermite_polynomial_he", "laguerre_polynomial_l", "legendre_polynomial_p",
               "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
               "shifted_chebyshev_polynomial_w"]


def arr(t: Any) -> np.ndarray:
    return t.detach().numpy()


def same(ours: Any, ref: Any, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Same dtype, shape and values (nan and inf in the same places)."""
    assert str(ours.dtype) == str(ref.dtype).replace("torch.", ""), (ours.dtype, ref.dtype)
    assert tuple(ours.shape) == tuple(ref.shape)
    np.testing.assert_allclose(arr(ours).astype(np.float64), arr(ref).astype(np.float64), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_edges(name: str, dtype: str) -> None:
    x = np.array(EDGES, dtype=dtype)
    far = np.isfinite(x) & ((x < -1e9) if name == "airy_ai" else (np.abs(x) > 1e9))
    x = x[~far]  # beyond 1e9 torch's kernels and scipy's keep different noise (airy_ai: 0 far right in both)
    rtol = 1e-4 if dtype == "float32" else 1e-6  # torch's float32 kernels lose digits at |x| = 700
    same(getattr(tg.special, name)(tg.tensor(x)), getattr(torch.special, name)(torch.tensor(x)), rtol=rtol, atol=1e-30)


@pytest.mark.parametrize("name", UNARY)
def test_unary_integer_and_empty_inputs(name: str) -> None:
    for x in (np.array([-2, 0, 1, 5]), np.array([True, False]), np.zeros((0, 2), np.float32), np.array(0.5)):
        same(getattr(tg.special, name)(tg.tensor(x)), getattr(torch.special, name)(torch.tensor(x)))


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@settings(max_examples=8, deadline=None)
@given(st.lists(FLOATS, min_size=1, max_size=6))
def test_unary_gradients(name: str, values: list[float]) -> None:
    x = np.array(values + [-2.5, 0.0, 1.5], np.float64)
    up = np.linspace(-1, 2, x.size)
    grads = []
    for lib in (tg, torch):
        t = lib.tensor(x, requires_grad=True)
        (getattr(lib.special, name)(t) * lib.tensor(up)).sum().backward()
        grads.append(arr(t.grad))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 5, width=32), st.floats(-0.75, 6, width=32)), min_size=1, max_size=5))
def test_xlog1py_and_zeta(pairs: list[tuple[float, float]]) -> None:
    a = np.array([p[0] for p in pairs] + [0.0, 0.0, 2.0], np.float64)
    b = np.array([p[1] for p in pairs] + [np.nan, -1.0, -1.0], np.float64)
    for name in ("xlog1py", "zeta"):
        ref, ours = (getattr(lib.special, name)(lib.tensor(a), lib.tensor(b)) for lib in (torch, tg))
        same(ours, ref, rtol=1e-6, atol=1e-9)
    x, q = np.array([2.0, 3.5, 1.5]), np.array([0.7, 2.0, 5.0])
    for name, both in (("xlog1py", True), ("zeta", False)):
        grads = []
        for lib in (tg, torch):
            s, t = lib.tensor(x, requires_grad=both), lib.tensor(q, requires_grad=True)
            (getattr(lib.special, name)(s, t) * lib.tensor([1.0, -2.0, 0.5])).sum().backward()
            grads.append([arr(t.grad)] + ([arr(s.grad)] if both else []))
        for ours, ref in zip(*grads):
            np.testing.assert_allclose(ours, ref, rtol=1e-6)
    same(tg.special.xlog1py(tg.tensor([0, 1, 2]), 2.0), torch.special.xlog1py(torch.tensor([0, 1, 2]), 2.0))


def test_multigammaln_and_incomplete_gamma() -> None:
    x = np.array([2.0, 3.5, 10.0], np.float64)
    for p in (1, 2, 3):
        ts, tt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ours, ref = tg.special.multigammaln(ts, p), torch.special.multigammaln(tt, p)
        same(ours, ref, rtol=1e-6)
        ours.sum().backward()
        ref.sum().backward()
        np.testing.assert_allclose(arr(ts.grad), arr(tt.grad), rtol=1e-6)
    a, z = np.array([0.5, 1.0, 3.0, 0.0]), np.array([1.0, 0.0, 2.5, 1.0])
    for name in ("gammainc", "gammaincc"):
        same(getattr(tg.special, name)(tg.tensor(a), tg.tensor(z)),
             getattr(torch.special, name)(torch.tensor(a), torch.tensor(z)))


@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomials(name: str) -> None:
    x = np.array([-1.5, -1.0, -0.5, 0.0, 0.3, 0.5, 0.75, 1.0, 2.0, 1e3, np.inf, -np.inf], np.float32)
    for n in (-1, 0, 1, 2, 3, 4, 5, 7, 9, 12):
        same(getattr(tg.special, name)(tg.tensor(x), n), getattr(torch.special, name)(torch.tensor(x), n),
             rtol=2e-4, atol=1e-5)
    n = np.array([0, 1, 2, 6, 9, -2])
    x64 = np.array([0.1, -1.0, 0.0, 0.4, 1.0, 0.3])
    same(getattr(tg.special, name)(tg.tensor(x64), tg.tensor(n)),
         getattr(torch.special, name)(torch.tensor(x64), torch.tensor(n)), rtol=1e-9)
    same(getattr(tg.special, name)(tg.tensor([0, 1, 2]), 3), getattr(torch.special, name)(torch.tensor([0, 1, 2]), 3))


@settings(max_examples=10, deadline=None)
@given(st.lists(st.floats(-3, 3, width=32), min_size=1, max_size=4),
       st.sampled_from(["erf", "erfcx", "i1", "ndtr", "gammaln", "expit", "bessel_j0", "entr", "sinc"]))
def test_special_out(values: list[float], name: str) -> None:
    x = np.array(values, np.float32)
    outs = []
    for lib in (tg, torch):
        o = lib.empty(0)
        r = getattr(lib.special, name)(lib.tensor(x), out=o)
        assert r is o
        outs.append(o)
    same(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    for lib in (tg, torch):
        o = lib.empty(0)
        lib.special.xlogy(lib.tensor([1.0, 2.0]), 3.0, out=o)
        outs.append(o)
        o = lib.empty(0)
        lib.special.polygamma(1, lib.tensor([1.0, 2.0]), out=o)
        outs.append(o)
        o = lib.empty(0, dtype=lib.float64)
        lib.special.logsumexp(lib.tensor([[1.0, 2.0]], dtype=lib.float64), 1, out=o)
        outs.append(o)
    for ours, ref in zip(outs[2:5], outs[5:]):
        same(ours, ref)
    with pytest.raises(RuntimeError):  # a result needing grad cannot be written into out, in both
        tg.special.erf(tg.tensor([1.0], requires_grad=True), out=tg.empty(0))
    with pytest.raises(TypeError):
        tg.special.softmax(tg.tensor([1.0]), 0, out=tg.empty(0))


def test_linalg_out() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 3))
    spd = a @ a.T + 3 * np.eye(3)
    for name, args in [("inv", (a,)), ("det", (a,)), ("vector_norm", (a,)), ("matrix_norm", (a, "nuc")),
                       ("norm", (a,)), ("cholesky", (spd,)), ("eigvalsh", (spd,)), ("svdvals", (a,)),
                       ("pinv", (a,)), ("matrix_power", (a, 3)), ("solve", (a, a[0])), ("cross", (a, a[::-1])),
                       ("vecdot", (a, a)), ("cond", (a,)), ("tensorinv", (a, 1))]:
        outs = []
        for lib in (tg, torch):
            o = lib.empty(0, dtype=lib.float64)
            conv = [lib.tensor(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x for x in args]
            assert getattr(lib.linalg, name)(*conv, out=o) is o
            outs.append(o)
        same(outs[0], outs[1], rtol=1e-9, atol=1e-12)
    for name, dtypes in [("slogdet", ("float64", "float64")), ("inv_ex", ("float64", "int32")),
                         ("lu_factor", ("float64", "int32")), ("cholesky_ex", ("float64", "int32")),
                         ("lu", ("float64", "float64", "float64"))]:
        results = []
        for lib in (tg, torch):
            outs = tuple(lib.empty(0, dtype=getattr(lib, d)) for d in dtypes)
            r = getattr(lib.linalg, name)(lib.tensor(spd), out=outs)
            assert all(x is y for x, y in zip(r, outs))
            results.append(outs)
        for ours, ref in zip(*results):
            same(ours, ref, rtol=1e-9, atol=1e-12)
    with pytest.raises(RuntimeError):
        tg.linalg.inv(tg.tensor(a, requires_grad=True), out=tg.empty(0, dtype=tg.float64))


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([((4, 6, 8, 3), 2), ((6, 2, 3), 1), ((2, 3, 6), 2), ((1, 1), 1)]), st.integers(0, 2 ** 16))
def test_tensorinv_tensorsolve(case: tuple[tuple[int, ...], int], seed: int) -> None:
    shape, ind = case
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    up = rng.standard_normal(shape[ind:] + shape[:ind])
    res = []
    for lib in (tg, torch):
        t = lib.tensor(a, requires_grad=True)
        r = lib.linalg.tensorinv(t, ind=ind)
        (r * lib.tensor(up)).sum().backward()
        res.append((r, arr(t.grad)))
    same(res[0][0], res[1][0], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-6, atol=1e-8)
    for kw, b in [({}, rng.standard_normal(shape[:ind]))] + ([({"dims": (0,)}, rng.standard_normal(shape[1:]))]
                                                            if ind == 1 else []):
        same(tg.linalg.tensorsolve(tg.tensor(a), tg.tensor(b), **kw),
             torch.linalg.tensorsolve(torch.tensor(a), torch.tensor(b), **kw), rtol=1e-7, atol=1e-9)
    with pytest.raises(RuntimeError):
        tg.linalg.tensorinv(tg.zeros(4, 2, 2), ind=1)
    with pytest.raises(RuntimeError):
        tg.linalg.tensorsolve(tg.zeros(6, 4, 4, 3, 2), tg.zeros(4, 3), dims=(0, 2))


def test_vector_norm_ord0_backward() -> None:
    for lib in (tg, torch):
        x = lib.tensor([1.0, 0.0, -2.0], requires_grad=True)
        y = lib.linalg.vector_norm(x, 0)
        assert y.requires_grad and float(y.detach()) == 2.0
        y.backward()
        assert x.grad is None
        z = lib.tensor([3.0, 4.0], requires_grad=True)
        (lib.linalg.vector_norm(z, 0) + lib.linalg.vector_norm(z)).backward()
        np.testing.assert_allclose(arr(z.grad), [0.6, 0.8])


def test_linalg_dtype_errors_are_runtime_errors() -> None:
    """torch raises RuntimeError (NotImplementedError for float16) on a dtype its linalg refuses; ours is both a
    TypeError (as before) and a RuntimeError."""
    cases = [("det", (np.eye(2, dtype=np.int64),)), ("inv", (np.eye(2, dtype=np.float16),)),
             ("vector_norm", (np.arange(3),)), ("matrix_exp", (np.eye(2, dtype=np.int64),)),
             ("solve", (np.eye(2, dtype=np.float32), np.ones(2))), ("vecdot", (np.ones(2), np.ones(2, np.float32))),
             ("vander", (np.array([True]),)), ("cholesky", (np.eye(2, dtype=np.int32),)),
             ("lstsq", (np.eye(2), np.ones((2, 1), np.float32)))]
    for name, args in cases:
        for lib in (torch, tg):
            with pytest.raises(RuntimeError):
                getattr(lib.linalg, name)(*(lib.tensor(a) for a in args))
        with pytest.raises(TypeError):
            getattr(tg.linalg, name)(*(tg.tensor(a) for a in args))


@pytest.mark.parametrize("name", ["inv", "det", "vector_norm", "matrix_norm", "cholesky", "solve", "svdvals"])
def test_linalg_out_dtype_must_match(name: str) -> None:
    """These take an out of the result's dtype only, as torch; pinv casts into a float32 out, as torch."""
    a = np.eye(3) * 2.0
    args = (a, a) if name == "solve" else (a,)
    for lib in (torch, tg):
        with pytest.raises(RuntimeError):
            getattr(lib.linalg, name)(*(lib.tensor(x) for x in args), out=lib.empty(0))
    outs = [lib.linalg.pinv(lib.tensor(a), out=lib.empty(0)) for lib in (tg, torch)]
    same(outs[0], outs[1])


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([(3, 3), (2, 4, 4), (0, 3, 3), (2, 0, 0), (1, 1)]), st.sampled_from(["float32", "float64"]),
       st.integers(0, 2 ** 16))
def test_ldl_factor_and_solve(shape: tuple[int, ...], dtype: str, seed: int) -> None:
    """linalg.ldl_factor / ldl_factor_ex / ldl_solve, which the library lacked: LAPACK's compact LD and pivots."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    a = (a + np.swapaxes(a, -1, -2)).astype(dtype)
    b = rng.standard_normal(shape[:-1] + (2,)).astype(dtype)
    res = []
    for lib in (tg, torch):
        ld, piv, info = lib.linalg.ldl_factor_ex(lib.tensor(a))
        res.append((ld, piv, info, lib.linalg.ldl_solve(ld, piv, lib.tensor(b))))
    tol = 1e-4 if dtype == "float32" else 1e-9
    for ours, ref in zip(*res):
        same(ours, ref, rtol=tol, atol=tol)
    singular = [lib.linalg.ldl_factor_ex(lib.zeros(2, 2, dtype=lib.float64)) for lib in (tg, torch)]
    for ours, ref in zip(*singular):
        same(ours, ref)


def test_linalg_argument_errors_are_runtime_errors() -> None:
    """torch raises RuntimeError on a shape or argument its linalg refuses; ours is both a ValueError (as before)
    and a RuntimeError."""
    cases = [("inv", (np.ones((2, 3)),), {}), ("solve", (np.eye(2), np.ones((3, 2))), {}),
             ("cross", (np.ones((4, 2)), np.ones((4, 2))), {}), ("matrix_norm", (np.ones(3),), {}),
             ("vector_norm", (np.ones((2, 0)),), {"ord": float("inf"), "dim": 1}),
             ("vander", (np.ones(1),), {}), ("cond", (np.ones((3, 4)),), {"p": 1}),
             ("cholesky", (np.ones(3),), {}), ("matmul", (np.ones((2, 3)), np.ones((2, 3))), {})]
    for name, args, kw in cases:
        for lib in (torch, tg):
            with pytest.raises(RuntimeError):
                getattr(lib.linalg, name)(*(lib.tensor(a) for a in args), **kw)
        with pytest.raises(ValueError):
            getattr(tg.linalg, name)(*(tg.tensor(a) for a in args), **kw)
