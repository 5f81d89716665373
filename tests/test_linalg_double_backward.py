"""Double backward (``create_graph=True``) through the factorizations and matrix functions against torch 2.13:
linalg.cholesky (torch.cholesky), eigh / eigvalsh, svd / svdvals (matrix_norm ord 2 / "nuc"), qr, lu_factor / lu,
solve_triangular (lu_solve), cholesky_solve, cholesky_inverse, lstsq (solution and residuals), matrix_exp, solve_ex
and inv_ex; third derivatives of a few.

``_check(f, seed, *arrays)`` runs in both libraries: g = grad(f(x...), x, grad_outputs=w, create_graph=True) with
random incoming gradients w that require grad themselves, then grad(sum(v_i g_i + c g_i^2), (x..., w)) (a
gradgradcheck-style double backward of a random weighting, plus a nonlinear function of the first gradient).
Inputs are hypothesis-chosen (seed, shape, batch or not, float32 / float64, scale 1e-3..1e3, 1 x 1 and empty
matrices where torch takes them) and well conditioned: SPD matrices with eigenvalues in [1, 3] times the scale,
symmetric ones with eigenvalues at least 0.5 apart, singular values at least 0.5 apart, triangular factors with a
diagonal of magnitude [1, 2]. Functions of eigen / singular vectors are sign-invariant (V * V, U @ Vh, ...).

Tolerances (measured over 30 to 60 examples per test): each result to rtol with atol = rtol * (the largest finite
magnitude of torch's first and second gradients, at least 1): float64 rtol 1e-12 (largest error seen 1.2e-13, qr;
3e-14 matrix_exp; under 7e-15 the others), float32 rtol 1e-3 (largest seen 4.7e-5, qr; under 6e-6 the others).
A wide qr input has a well-conditioned leading block too (the formula inverts R's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.autograd as tga

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

GRAD = {torch: torch.autograd.grad, tg: tga.grad}
RTOL = {np.float64: 1e-12, np.float32: 1e-3}
SEEDS = st.integers(0, 2**32 - 1)
DTYPES = st.sampled_from([np.float64, np.float32])
SCALES = st.sampled_from([1e-3, 0.1, 1.0, 10.0, 1e3])
BATCHES = st.sampled_from([(), (2,), (1, 2)])


def _np(t: Any) -> np.ndarray | None:
    return None if t is None else (t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy())


def _run(lib: Any, f: Callable[..., Any], seed: int, arrays: tuple[np.ndarray, ...]) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    dtype = arrays[0].dtype
    xs = [lib.tensor(a, requires_grad=True) for a in arrays]
    outs = f(lib, *xs)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    ws = [lib.tensor(rng.standard_normal(tuple(o.shape)).astype(dtype), requires_grad=True) for o in outs]
    gs = GRAD[lib](outs, xs, grad_outputs=ws, create_graph=True, allow_unused=True)
    live = [(g, lib.tensor(rng.standard_normal(tuple(g.shape)).astype(dtype))) for g in gs
            if g is not None and g.requires_grad]
    hv: list[Any] = []
    if live:
        c = float(rng.standard_normal())
        z = sum((g * v).sum() + c * (g * g).sum() for g, v in live)
        hv = list(GRAD[lib](z, [*xs, *ws], allow_unused=True))
    return [_np(g) for g in gs], [_np(h) for h in hv]


def _scale(values: list[np.ndarray | None]) -> float:
    finite = [np.abs(v[np.isfinite(v)]).max() for v in values if v is not None and np.isfinite(v).any()]
    return max([1.0, *finite])


def _check(f: Callable[..., Any], seed: int, *arrays: np.ndarray, widen: float = 1.0) -> None:
    """First and second gradients (inputs and incoming gradients) agree with torch's, or both raise (to the dtype's
    tolerance times ``widen``)."""
    try:
        theirs = _run(torch, f, seed, arrays)
    except (RuntimeError, ValueError, IndexError):
        with pytest.raises((RuntimeError, ValueError, IndexError)):
            _run(tg, f, seed, arrays)
        return
    ours = _run(tg, f, seed, arrays)
    rtol = RTOL[arrays[0].dtype.type] * widen
    atol = rtol * _scale(theirs[0] + theirs[1])
    assert len(ours[1]) == len(theirs[1])
    for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1], strict=True):
        if a is None or b is None:
            assert not np.any(b if a is None else a), (a, b)
            continue
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ------------------------------------------------------------------------------------------------ inputs
def _orthogonal(rng: np.random.Generator, batch: tuple[int, ...], n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal(batch + (n, n)))
    return q * np.sign(np.diagonal(r, 0, -2, -1))[..., None, :] if n else q


def _symmetric(rng: np.random.Generator, batch: tuple[int, ...], n: int, values: np.ndarray) -> np.ndarray:
    q = _orthogonal(rng, batch, n)
    return (q * values[..., None, :]) @ np.swapaxes(q, -1, -2)


def spd(rng: np.random.Generator, batch: tuple[int, ...], n: int, scale: float, dtype: Any) -> np.ndarray:
    a = _symmetric(rng, batch, n, scale * rng.uniform(1, 3, batch + (n,)))
    return ((a + np.swapaxes(a, -1, -2)) / 2).astype(dtype)


def spread(rng: np.random.Generator, batch: tuple[int, ...], k: int, scale: float, positive: bool) -> np.ndarray:
    """k values at least 0.5 * scale apart (positive: in [1, 1 + 1.5 k] * scale)."""
    steps = rng.uniform(0.5, 1.5, batch + (k,))
    values = np.cumsum(steps, -1) + (0.5 if positive else -0.75 * k)
    return scale * values


def matrix(rng: np.random.Generator, batch: tuple[int, ...], m: int, n: int, scale: float, dtype: Any) -> np.ndarray:
    """A (..., m, n) with singular values at least 0.5 * scale apart, in [1, 1 + 1.5 k] * scale."""
    k = min(m, n)
    u = _orthogonal(rng, batch, m)[..., :k]
    v = _orthogonal(rng, batch, n)[..., :k]
    return ((u * spread(rng, batch, k, scale, True)[..., None, :]) @ np.swapaxes(v, -1, -2)).astype(dtype)


def triangular(rng: np.random.Generator, batch: tuple[int, ...], n: int, scale: float, dtype: Any,
               upper: bool) -> np.ndarray:
    t = rng.uniform(-0.3, 0.3, batch + (n, n)) / max(n, 1)
    t += np.eye(n) * rng.uniform(1, 2, batch + (n, 1)) * rng.choice([-1.0, 1.0], batch + (n, 1))
    t = np.triu(t) if upper else np.tril(t)
    return (t * scale + rng.standard_normal(t.shape) * (np.triu(np.ones((n, n)), 1) if not upper else
                                                          np.tril(np.ones((n, n)), -1))).astype(dtype)


def dense(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


COMMON = dict(seed=SEEDS, dtype=DTYPES, scale=SCALES, batch=BATCHES)


# ------------------------------------------------------------------------------------------------- cholesky
CHOLESKY: dict[str, Callable[..., Any]] = {
    "lower": lambda lib, a: lib.linalg.cholesky(a),
    "upper_squared": lambda lib, a: lib.linalg.cholesky(a, upper=True) ** 2,
    "torch_cholesky_logdiag": lambda lib, a: lib.cholesky(a).diagonal(0, -2, -1).log(),
    "ex": lambda lib, a: lib.linalg.cholesky_ex(a).L.sin(),
}


@pytest.mark.parametrize("name", sorted(CHOLESKY))
@settings(max_examples=10, deadline=None)
@given(n=st.integers(0, 4), **COMMON)
def test_cholesky(name: str, n: int, seed: int, dtype: Any, scale: float, batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    a = spd(rng, batch, n, scale, dtype)
    _check(CHOLESKY[name], seed, a)


def test_cholesky_reads_one_triangle_as_torch() -> None:
    """A non-symmetric input (only its lower triangle read): torch's symmetric formula, differentiated as torch's."""
    rng = np.random.default_rng(1)
    a = spd(rng, (2,), 3, 1.0, np.float64) + np.triu(rng.standard_normal((3, 3)), 1)
    _check(lambda lib, x: lib.linalg.cholesky(x) ** 2, 2, a)


# ---------------------------------------------------------------------------------------------------- eigh
EIGH: dict[str, Callable[..., Any]] = {
    "eigvalsh": lambda lib, a: lib.linalg.eigvalsh(a),
    "values_and_squares": lambda lib, a: (lib.linalg.eigh(a)[0], lib.linalg.eigh(a)[1] ** 2),
    "vectors_only": lambda lib, a: lib.linalg.eigh(a).eigenvectors ** 2,
    "rebuilt": lambda lib, a: (lambda w, v: (v * (w * w).unsqueeze(-2)) @ v.mT)(*lib.linalg.eigh(a)),
    "upper": lambda lib, a: lib.linalg.eigh(a, UPLO="U")[1].abs() * lib.linalg.eigvalsh(a, UPLO="U").unsqueeze(-1),
}


@pytest.mark.parametrize("name", sorted(EIGH))
@settings(max_examples=10, deadline=None)
@given(n=st.integers(0, 4), **COMMON)
def test_eigh(name: str, n: int, seed: int, dtype: Any, scale: float, batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    a = _symmetric(rng, batch, n, spread(rng, batch, n, scale, False))
    _check(EIGH[name], seed, ((a + np.swapaxes(a, -1, -2)) / 2).astype(dtype))


def test_eigh_nonsymmetric_input_as_torch() -> None:
    rng = np.random.default_rng(3)
    a = _symmetric(rng, (), 4, spread(rng, (), 4, 1.0, False)) + 0.1 * np.triu(rng.standard_normal((4, 4)), 1)
    _check(EIGH["values_and_squares"], 4, a)


# ----------------------------------------------------------------------------------------------------- svd
SVD: dict[str, Callable[..., Any]] = {
    "svdvals": lambda lib, a: lib.linalg.svdvals(a),
    "all": lambda lib, a: (lambda u, s, vh: (u * u, s, vh * vh, u @ vh))(*lib.linalg.svd(a, full_matrices=False)),
    "u_only": lambda lib, a: lib.linalg.svd(a, full_matrices=False)[0] ** 2,
    "vh_only": lambda lib, a: lib.linalg.svd(a, full_matrices=False)[2] ** 2,
    "norm_2": lambda lib, a: lib.linalg.matrix_norm(a, ord=2),
    "norm_nuc": lambda lib, a: lib.linalg.matrix_norm(a, ord="nuc") ** 2,
}


@pytest.mark.parametrize("name", sorted(SVD))
@settings(max_examples=10, deadline=None)
@given(m=st.integers(1, 4), n=st.integers(1, 4), **COMMON)
def test_svd(name: str, m: int, n: int, seed: int, dtype: Any, scale: float, batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    _check(SVD[name], seed, matrix(rng, batch, m, n, scale, dtype))


def test_svd_full_matrices_square_and_empty() -> None:
    rng = np.random.default_rng(5)
    full = lambda lib, a: (lambda u, s, vh: (u @ vh, s))(*lib.linalg.svd(a))  # noqa: E731
    _check(full, 6, matrix(rng, (2,), 3, 3, 1.0, np.float64))
    _check(SVD["svdvals"], 7, np.zeros((2, 0, 3)))


# ------------------------------------------------------------------------------------------------------ qr
QR: dict[str, Callable[..., Any]] = {
    "both": lambda lib, a: tuple(lib.linalg.qr(a)),
    "q_only": lambda lib, a: lib.linalg.qr(a).Q ** 2,
    "r_only": lambda lib, a: lib.linalg.qr(a).R * lib.linalg.qr(a).R,
    "complete": lambda lib, a: tuple(lib.linalg.qr(a, mode="complete")),
}


@pytest.mark.parametrize("name", sorted(QR))
@settings(max_examples=10, deadline=None)
@given(m=st.integers(1, 4), n=st.integers(1, 4), **COMMON)
def test_qr(name: str, m: int, n: int, seed: int, dtype: Any, scale: float, batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    a = matrix(rng, batch, m, n, scale, dtype)
    if m < n:  # the formula inverts R's leading m x m block: A's leading block well conditioned too
        a = np.concatenate([matrix(rng, batch, m, m, scale, dtype), a[..., m:]], -1)
    _check(QR[name], seed, a)


LU: dict[str, Callable[..., Any]] = {
    "lu_factor": lambda lib, a: lib.linalg.lu_factor(a).LU ** 2,
    "lu": lambda lib, a: (lambda p, low, up: (low.sin(), up * up))(*lib.linalg.lu(a)),
    "upper_only": lambda lib, a: lib.linalg.lu(a).U ** 2,
}


@pytest.mark.parametrize("name", sorted(LU))
@settings(max_examples=8, deadline=None)
@given(m=st.integers(1, 4), n=st.integers(1, 4), **COMMON)
def test_lu(name: str, m: int, n: int, seed: int, dtype: Any, scale: float, batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    _check(LU[name], seed, matrix(rng, batch, m, n, scale, dtype))


# --------------------------------------------------------------------------------------- triangular solves
@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 4), k=st.integers(1, 3), upper=st.booleans(), left=st.booleans(), unit=st.booleans(),
       broadcast=st.booleans(), **COMMON)
def test_solve_triangular(n: int, k: int, upper: bool, left: bool, unit: bool, broadcast: bool, seed: int,
                          dtype: Any, scale: float, batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    a = triangular(rng, () if broadcast else batch, n, scale, dtype, upper)
    b = dense(rng, batch + ((n, k) if left else (k, n)), dtype)
    _check(lambda lib, x, y: lib.linalg.solve_triangular(x, y, upper=upper, left=left, unitriangular=unit) ** 2,
           seed, a, b)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 4), left=st.booleans(), adjoint=st.booleans(), **COMMON)
def test_lu_solve(n: int, left: bool, adjoint: bool, seed: int, dtype: Any, scale: float,
                  batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    a = matrix(rng, batch, n, n, scale, dtype)
    lu, pivots = torch.linalg.lu_factor(torch.tensor(a))
    b = dense(rng, batch + ((n, 2) if left else (2, n)), dtype)

    def f(lib: Any, x: Any, y: Any) -> Any:
        return lib.linalg.lu_solve(x, lib.tensor(pivots.numpy()), y, left=left, adjoint=adjoint) ** 2
    _check(f, seed, lu.numpy(), b)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 4), upper=st.booleans(), **COMMON)
def test_cholesky_solve(n: int, upper: bool, seed: int, dtype: Any, scale: float, batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    factor = np.linalg.cholesky(spd(rng, batch, n, scale, np.float64)) if n else np.zeros(batch + (0, 0))
    factor = (np.swapaxes(factor, -1, -2) if upper else factor).astype(dtype)
    b = dense(rng, batch + (n, 2), dtype)
    _check(lambda lib, y, low: lib.cholesky_solve(y, low, upper=upper) ** 2, seed, b, factor)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(0, 4), upper=st.booleans(), **COMMON)
def test_cholesky_inverse(n: int, upper: bool, seed: int, dtype: Any, scale: float, batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    factor = triangular(rng, batch, n, 1.0, np.float64, upper) * np.sqrt(scale)
    _check(lambda lib, low: lib.cholesky_inverse(low, upper=upper) ** 2, seed, factor.astype(dtype))


# --------------------------------------------------------------------------------- lstsq, matrix_exp, solve_ex
@settings(max_examples=15, deadline=None)
@given(m=st.integers(1, 4), n=st.integers(1, 4), vector=st.booleans(), **COMMON)
def test_lstsq(m: int, n: int, vector: bool, seed: int, dtype: Any, scale: float, batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    a = matrix(rng, batch, m, n, scale, dtype)
    b = dense(rng, batch + ((m,) if vector else (m, 2)), dtype)
    _check(lambda lib, x, y: lib.linalg.lstsq(x, y).solution ** 2, seed, a, b)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 3), k=st.integers(1, 3), vector=st.booleans(),
       driver=st.sampled_from(["gelsd", "gelss", "gels"]), **COMMON)
def test_lstsq_residuals(n: int, k: int, vector: bool, driver: str, seed: int, dtype: Any, scale: float,
                         batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    a = matrix(rng, batch, n + k, n, scale, dtype)
    b = dense(rng, batch + ((n + k,) if vector else (n + k, 2)), dtype)
    _check(lambda lib, x, y: (lambda r: (r.solution, r.residuals))(lib.linalg.lstsq(x, y, driver=driver)), seed, a, b)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(0, 4), **COMMON)
def test_inv_ex(n: int, seed: int, dtype: Any, scale: float, batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    _check(lambda lib, x: lib.linalg.inv_ex(x).inverse ** 2, seed, matrix(rng, batch, n, n, scale, dtype))


def _third(lib: Any, f: Callable[..., Any], a: np.ndarray) -> list[np.ndarray]:
    x = lib.tensor(a, requires_grad=True)
    y = (f(lib, x) ** 2).sum()
    (g1,) = GRAD[lib](y, [x], create_graph=True)
    (g2,) = GRAD[lib]((g1 * g1).sum(), [x], create_graph=True)
    (g3,) = GRAD[lib]((g2 * g1).sum(), [x])
    return [_np(g1), _np(g2), _np(g3)]


THIRD: dict[str, Callable[..., Any]] = {
    "cholesky": lambda lib, a: lib.linalg.cholesky(a), "eigvalsh": lambda lib, a: lib.linalg.eigvalsh(a),
    "eigh": lambda lib, a: lib.linalg.eigh(a)[1] ** 2, "svdvals": lambda lib, a: lib.linalg.svdvals(a),
    "qr": lambda lib, a: lib.linalg.qr(a).R, "matrix_exp": lambda lib, a: lib.linalg.matrix_exp(a * 0.3),
    "solve_triangular": lambda lib, a: lib.linalg.solve_triangular(a.tril() + 3 * lib.eye(3, dtype=a.dtype), a,
                                                                   upper=False),
}


@pytest.mark.parametrize("name", sorted(THIRD))
def test_third_derivatives(name: str) -> None:
    """The double backward is itself differentiable (its siblings and solves record again), as torch's."""
    rng = np.random.default_rng(8)
    a = spd(rng, (2,), 3, 1.0, np.float64) if name.startswith(("cholesky", "eig")) else matrix(rng, (2,), 3, 3, 1.0,
                                                                                               np.float64)
    if name.startswith("eig"):
        a = _symmetric(rng, (2,), 3, spread(rng, (2,), 3, 1.0, False))
    for ours, theirs in zip(_third(tg, THIRD[name], a), _third(torch, THIRD[name], a), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10 * _scale([theirs]))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 4), seed=SEEDS, dtype=DTYPES, scale=st.sampled_from([1e-3, 0.1, 1.0, 2.0]), batch=BATCHES)
def test_matrix_exp(n: int, seed: int, dtype: Any, scale: float, batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)  # (scaling and squaring: a float64 norm-10 matrix's second derivatives of
    # 4e7 were 5e-12 apart relatively, in a local hypothesis run)
    _check(lambda lib, x: lib.linalg.matrix_exp(x), seed, (scale * rng.standard_normal(batch + (n, n))).astype(dtype),
           widen=100.0 if scale >= 1 and dtype == np.float64 else 1.0)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 4), left=st.booleans(), vector=st.booleans(), broadcast=st.booleans(), **COMMON)
def test_solve_ex(n: int, left: bool, vector: bool, broadcast: bool, seed: int, dtype: Any, scale: float,
                  batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(seed)
    a = matrix(rng, () if broadcast else batch, n, n, scale, dtype)
    b = dense(rng, batch + ((n,) if vector and left else (n, 2) if left else (2, n)), dtype)
    _check(lambda lib, x, y: lib.linalg.solve_ex(x, y, left=left).result ** 2, seed, a, b)
