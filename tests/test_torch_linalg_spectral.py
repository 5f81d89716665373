"""torch.linalg's spectral / orthogonal family against torch 2.13: qr, eigh, eigvalsh, svd, svdvals, pinv,
matrix_rank, lstsq, cond, matrix_norm ord 2 / -2 / "nuc", nuclear_norm, and the older torch.svd / torch.qr /
pinverse (values, dtypes, shapes, gradients, empty and batched inputs, NaN / inf, errors).

Eigen- and singular vectors are unique up to sign (and, for repeated values, up to a rotation), so values and
gradients are compared through quantities that do not depend on that choice: V diag(f(w)) V^T, U diag(f(S)) Vh,
projectors U U^T, |V|^2 for distinct eigenvalues. ``agree`` (tests/test_torch_movement_names.py) backpropagates a
fixed weighting of every output and compares values, dtypes, shapes and input gradients, or that both raise.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_torch_movement_names import agree, raises

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

KINDS = ("normal", "separated", "ill", "rank", "special")
DTYPES = (np.float64, np.float32)


def _orthogonal(rng: np.random.Generator, batch: tuple[int, ...], n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal(batch + (n, n)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


@st.composite
def matrices(draw: Any, kinds: tuple[str, ...] = KINDS, square: bool = False, symmetric: bool = False,
             dtypes: tuple[Any, ...] = DTYPES, min_side: int = 0) -> np.ndarray:
    """A batch (up to 2 dims of 0..2) of m x n matrices (0..4 each) of one kind: "normal" entries, "separated"
    singular (eigen) values 1, 3, 5.. (safe for gradients), "ill" (condition up to 1e4), "rank" (rank-deficient,
    exactly or through a product), "special" (NaN, inf, -0 entries). ``symmetric``: V diag(w) V^T."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch = tuple(draw(st.lists(st.integers(0, 2), max_size=2)))
    m = draw(st.integers(min_side, 4))
    n = m if square or symmetric else draw(st.integers(min_side, 4))
    kind, dtype = draw(st.sampled_from(kinds)), draw(st.sampled_from(dtypes))
    k = min(m, n)
    if symmetric:
        w = {"separated": 1.0 + 2 * np.arange(n), "ill": 10.0 ** -rng.uniform(0, 4, n) * rng.choice([-1, 1], n),
             "rank": np.where(np.arange(n) % 2, 0.0, 2.0 + np.arange(n)),  # repeated eigenvalues (0 and others)
             }.get(kind, rng.standard_normal(n) * 3)
        v = _orthogonal(rng, batch, n)
        a = (v * w) @ v.swapaxes(-1, -2)
        a = (a + a.swapaxes(-1, -2)) / 2
    elif kind in ("separated", "ill"):
        s = 1.0 + 2 * np.arange(k)[::-1] if kind == "separated" else np.sort(10.0 ** -rng.uniform(0, 4, k))[::-1]
        a = (_orthogonal(rng, batch, m)[..., :k] * s) @ _orthogonal(rng, batch, n)[..., :k, :]
    elif kind == "rank":
        r = draw(st.integers(0, max(k - 1, 0)))
        a = rng.standard_normal(batch + (m, r)) @ rng.standard_normal(batch + (r, n))
    else:
        a = rng.standard_normal(batch + (m, n)) * 3
    if kind == "special" and a.size:
        flat = a.reshape(-1)
        for i in draw(st.lists(st.integers(0, flat.size - 1), max_size=3)):
            flat[i] = draw(st.sampled_from([math.nan, math.inf, -math.inf, -0.0]))
    return a.astype(dtype)


def tol(a: np.ndarray) -> float:
    return 2e-3 if a.dtype == np.float32 else 1e-8


def _mT(x: Any) -> Any:  # noqa: N802
    return x.transpose(-1, -2)


def _finite(a: np.ndarray) -> bool:
    return bool(np.isfinite(a).all())


def agree_svd(f: Any, a: np.ndarray, **kwargs: Any) -> None:
    """``agree`` for an op built on the SVD; on a matrix holding an inf (and no NaN) torch's LAPACK call raises or
    returns NaN singular values, by where the inf sits, so ours always raises there."""
    if np.isinf(a).any() and not np.isnan(a).any():
        with pytest.raises(tg.linalg.LinAlgError, match="NaN or inf"):  # (a RuntimeError, as torch's)
            f(tg, tg.tensor(a))
        try:
            f(torch, torch.tensor(a))
        except RuntimeError as e:
            assert "converge" in str(e)
        return
    agree(f, a, **kwargs)


# ----------------------------------------------------------------------------------------------------------- svd
@settings(max_examples=80, deadline=None)
@given(a=matrices())
def test_svd_values_and_gauge_invariant_gradients(a: np.ndarray) -> None:
    k = min(a.shape[-2:])
    # singular values are differentiable where they are distinct and non-zero (elsewhere U, V are not unique)
    separated = a.dtype == np.float64 and _finite(a) and _separated(np.linalg.svd(a, compute_uv=False))
    agree_svd(lambda lib, t: lib.linalg.svdvals(t), a, rtol=tol(a), grads=separated)
    agree_svd(lambda lib, t: lib.linalg.svd(t).S, a, rtol=tol(a), grads=separated)

    def invariant(lib: Any, t: Any, full: bool) -> list[Any]:
        u, s, vh = lib.linalg.svd(t, full_matrices=full)
        u, vh = u[..., :k], vh[..., :k, :]
        products = [(u * s[..., None, :]) @ vh, (u * (s * s)[..., None, :]) @ vh]
        return products + [u @ _mT(u), _mT(vh) @ vh] if subspaces else products
    s = np.linalg.svd(a, compute_uv=False) if _finite(a) else np.zeros((0,))
    subspaces = bool(not s.size or (s[..., -1] > 1e-3 * s[..., 0]).all())  # else U, V partly arbitrary
    if _finite(a):
        for full in (False, True):
            agree(lambda lib, t, full=full: invariant(lib, t, full), a, rtol=tol(a) * 10, grads=separated)


def _separated(s: np.ndarray) -> bool:
    """Distinct, non-zero values with gaps that keep torch's 1 / (s_i^2 - s_j^2) well conditioned."""
    if not s.size:
        return True
    s = np.sort(np.abs(s), axis=-1)
    return bool((s[..., :1] > 0.1).all() and (np.diff(s, axis=-1) > 0.1).all())


@settings(max_examples=40, deadline=None)
@given(a=matrices(kinds=("separated",), dtypes=(np.float64,)), data=st.data())
def test_svd_vector_gradients(a: np.ndarray, data: st.DataObject) -> None:
    """Losses of U alone / Vh alone, invariant to the signs: each one's backward path of torch's formula."""
    k = min(a.shape[-2:])
    full = data.draw(st.booleans())

    def only_u(lib: Any, t: Any) -> Any:
        u = lib.linalg.svd(t, full_matrices=full).U[..., :k]
        return u @ _mT(u)

    def only_vh(lib: Any, t: Any) -> Any:
        vh = lib.linalg.svd(t, full_matrices=full).Vh[..., :k, :]
        return [_mT(vh) @ vh, vh ** 2]
    agree(only_u, a, rtol=1e-9)
    agree(lambda lib, t: lib.linalg.svd(t, full_matrices=full).U[..., :k] ** 4, a, rtol=1e-9)
    agree(only_vh, a, rtol=1e-9)


def test_svd_special_cases() -> None:
    for lib in (tg, torch):  # NaN: both raise linalg.LinAlgError
        with pytest.raises(lib.linalg.LinAlgError):
            lib.linalg.svd(lib.tensor([[1.0, math.nan], [2.0, 3.0]]))
    for a in ([[np.inf, 1.0], [2.0, 3.0]], [[np.inf, np.inf, 1.9], [0.3, -1.6, 1.1], [3.9, 2.8, -2.1]]):
        agree_svd(lambda lib, t: lib.linalg.svdvals(t), np.array(a))  # torch: NaN or an error; ours: an error
    for shape in ((0, 3), (3, 0), (2, 0, 0), (0, 2, 3)):
        for full in (True, False):
            agree(lambda lib, t, full=full: lib.linalg.svd(t, full_matrices=full), np.ones(shape), grads=False)
    # repeated singular values: torch's vector gradient divides by zero gaps, and so does ours
    agree(lambda lib, t: (lambda u, s, vh: u @ vh)(*lib.linalg.svd(t)), np.eye(3))
    agree(lambda lib, t: lib.linalg.svdvals(t), np.eye(3))
    agree(lambda lib, t: (lambda u, s, vh: u @ vh)(*lib.linalg.svd(t, full_matrices=False)), np.zeros((3, 2)))


# ---------------------------------------------------------------------------------------------------------- eigh
@settings(max_examples=80, deadline=None)
@given(a=matrices(symmetric=True), uplo=st.sampled_from(["L", "U", "l"]), noise=st.booleans())
def test_eigh_values_and_gradients(a: np.ndarray, uplo: str, noise: bool) -> None:
    if noise and a.size:  # the other triangle is never read
        other = np.triu(np.ones(a.shape[-2:]), 1) if uplo.upper() == "L" else np.tril(np.ones(a.shape[-2:]), -1)
        a = (a + other * 7.0).astype(a.dtype)
    w = np.linalg.eigvalsh(a, UPLO=uplo.upper()) if a.size and _finite(a) else np.zeros((0,))
    grads = a.dtype == np.float64 and _finite(a) and _separated_w(w)  # a repeated eigenvalue: not differentiable
    agree(lambda lib, t: lib.linalg.eigvalsh(t, UPLO=uplo), a, rtol=tol(a), grads=grads)
    agree(lambda lib, t: lib.linalg.eigh(t, UPLO=uplo).eigenvalues, a, rtol=tol(a), grads=grads)

    def invariant(lib: Any, t: Any) -> Any:
        w, v = lib.linalg.eigh(t, uplo)
        return [(v * w[..., None, :]) @ _mT(v), (v * (w ** 3)[..., None, :]) @ _mT(v)]
    agree(invariant, a, rtol=tol(a) * 10, grads=grads)
    if grads:
        agree(lambda lib, t: lib.linalg.eigh(t, uplo).eigenvectors ** 2, a, rtol=1e-7)


def _separated_w(w: np.ndarray) -> bool:
    return bool(not w.size or (np.diff(np.sort(w, axis=-1), axis=-1) > 0.1).all())


def test_eigh_repeated_eigenvalues_give_torchs_nan_and_errors() -> None:
    agree(lambda lib, t: [lib.linalg.eigh(t).eigenvectors.abs(), lib.linalg.eigh(t).eigenvalues], np.eye(3))
    agree(lambda lib, t: lib.linalg.eigvalsh(t), np.eye(3))  # the eigenvalues alone stay finite
    agree(lambda lib, t: lib.linalg.eigh(t), np.ones((0, 0)), grads=False)
    raises(lambda lib: lib.linalg.eigh(lib.ones(2, 3)))
    raises(lambda lib: lib.linalg.eigh(lib.ones(2, 2), UPLO="X"))
    raises(lambda lib: lib.linalg.eigvalsh(lib.ones(2, 2, dtype=lib.int64)))
    raises(lambda lib: lib.linalg.eigh(lib.ones(3)))


@settings(max_examples=40, deadline=None)
@given(a=matrices(kinds=("special",), square=True, dtypes=(np.float64,)))
def test_eigh_nonfinite_as_torch(a: np.ndarray) -> None:
    agree(lambda lib, t: lib.linalg.eigvalsh(t), a, grads=False)


# ------------------------------------------------------------------------------------------------------------ qr
@settings(max_examples=80, deadline=None)
@given(a=matrices(kinds=("normal", "separated", "ill", "rank")), mode=st.sampled_from(["reduced", "complete", "r"]))
def test_qr_values_and_gradients(a: np.ndarray, mode: str) -> None:
    """LAPACK's signs in both: Q and R compared as they are where the factorization is unique (full column rank
    of the leading columns); the gradient of reduced mode as torch's, torch's errors at backward otherwise."""
    m, n = a.shape[-2:]
    unique = np.linalg.matrix_rank(a[..., :, :min(m, n)]).min(initial=min(m, n)) == min(m, n) if a.size else True
    full_rank_ok = unique and np.all(np.linalg.svd(a, compute_uv=False)[..., -1:] > 1e-3) if a.size else True
    grads = a.dtype == np.float64 and bool(full_rank_ok)
    if unique:
        agree(lambda lib, t: lib.linalg.qr(t, mode=mode), a, rtol=tol(a) * 100, grads=grads)
    agree(lambda lib, t: (lambda q, r: q @ r if mode != "r" else _mT(r) @ r)(*lib.linalg.qr(t, mode=mode)), a,
          rtol=tol(a) * 100, grads=grads)


def test_qr_errors_empty_and_nonfinite() -> None:
    a = np.random.default_rng(0).standard_normal((4, 3))
    for mode in ("r", "complete"):  # torch raises at backward, so do we
        for lib in (torch, tg):
            t = lib.tensor(a, requires_grad=True)
            q, r = lib.linalg.qr(t, mode=mode)
            with pytest.raises((ValueError, RuntimeError)):
                r.sum().backward()
    agree(lambda lib, t: lib.linalg.qr(t, mode="complete"), a.T.copy())  # m < n: complete is differentiable
    raises(lambda lib: lib.linalg.qr(lib.ones(2, 2), mode="x"))
    raises(lambda lib: lib.linalg.qr(lib.ones(2)))
    raises(lambda lib: lib.linalg.qr(lib.ones(2, 2, dtype=lib.int64)))
    for shape in ((0, 3), (3, 0), (2, 3, 0), (0, 2, 2)):
        for mode in ("reduced", "complete"):
            agree(lambda lib, t, mode=mode: lib.linalg.qr(t, mode=mode), np.ones(shape), grads=False)
    # NaN / inf run through LAPACK (no error, as torch); the first column's Householder step is unaffected by a
    # non-finite entry to its right, as in torch
    b = np.array([[1.0, math.nan], [2.0, 3.0]])
    for lib in (tg, torch):
        q, r = lib.linalg.qr(lib.tensor(b))
        np.testing.assert_allclose(q.numpy(), [[-1 / 5**0.5, -2 / 5**0.5], [-2 / 5**0.5, 1 / 5**0.5]])
        assert np.isnan(r.numpy()[:, 1]).all()


def test_old_qr_and_svd() -> None:
    a = np.random.default_rng(1).standard_normal((2, 4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for some in (True, False):
            agree(lambda lib, t, some=some: lib.qr(t, some=some), a)
            agree(lambda lib, t, some=some: t.qr(some), a)
    with pytest.warns(UserWarning, match="deprecated"):  # (torch warns once per process)
        tg.qr(tg.tensor(a))

    def old_svd(lib: Any, t: Any, some: bool) -> list[Any]:
        u, s, v = lib.svd(t, some=some)
        assert u.shape == t.shape[:-2] + (4, 3 if some else 4) and v.shape == t.shape[:-2] + (3, 3)
        return [(u[..., :3] * s[..., None, :]) @ _mT(v), s]
    for some in (True, False):
        agree(lambda lib, t, some=some: old_svd(lib, t, some), a)
    agree(lambda lib, t: lib.svd(t, compute_uv=False), a)
    agree(lambda lib, t: (lambda u, s, v: (u * s[..., None, :]) @ _mT(v))(*t.svd()), a)


# ---------------------------------------------------------------------------------------------- pinv and rank
@settings(max_examples=80, deadline=None)
@given(a=matrices(kinds=("normal", "separated", "ill", "special")), data=st.data())
def test_pinv_values_and_gradients(a: np.ndarray, data: st.DataObject) -> None:
    grads = a.dtype == np.float64 and not np.isnan(a).any()
    agree_svd(lambda lib, t: lib.linalg.pinv(t), a, rtol=tol(a) * 100, grads=grads)
    agree_svd(lambda lib, t: lib.pinverse(t), a, rtol=tol(a) * 100, grads=grads)
    agree_svd(lambda lib, t: lib.linalg.matrix_rank(t), a)
    atol = data.draw(st.sampled_from([None, 0.0, 0.5, 2.0]))
    rtol = data.draw(st.sampled_from([None, 0.0, 0.1, 0.5]))
    if _finite(a):
        agree(lambda lib, t: lib.linalg.pinv(t, atol=atol, rtol=rtol), a, rtol=tol(a) * 100, grads=grads)
        agree(lambda lib, t: lib.linalg.matrix_rank(t, atol=atol, rtol=rtol), a)
        agree(lambda lib, t: lib.linalg.matrix_rank(t), a)


@settings(max_examples=60, deadline=None)
@given(a=matrices(kinds=("rank", "normal", "separated"), dtypes=(np.float64,)), data=st.data())
def test_rank_deficient_pinv_rank_with_clear_tolerance(a: np.ndarray, data: st.DataObject) -> None:
    """A tolerance far from both rounding noise and the kept singular values: the same rank and pseudoinverse."""
    agree(lambda lib, t: lib.linalg.pinv(t, rtol=1e-8), a, rtol=1e-7)
    agree(lambda lib, t: lib.linalg.pinv(t, 1e-8), a, rtol=1e-7)  # rcond, the older name of rtol
    agree(lambda lib, t: lib.linalg.matrix_rank(t, rtol=1e-8), a)
    agree(lambda lib, t: lib.linalg.matrix_rank(t, tol=1e-6), a)
    agree(lambda lib, t: lib.linalg.matrix_rank(t, atol=1e-6, rtol=1e-8), a)


@settings(max_examples=60, deadline=None)
@given(a=matrices(symmetric=True, kinds=("normal", "separated", "rank")))
def test_hermitian_pinv_and_rank(a: np.ndarray) -> None:
    agree(lambda lib, t: lib.linalg.pinv(t, hermitian=True, rtol=1e-5), a, rtol=tol(a) * 100,
          grads=a.dtype == np.float64)
    agree(lambda lib, t: lib.linalg.matrix_rank(t, hermitian=True, rtol=1e-5), a)


def test_pinv_rank_errors_and_tensor_tolerances() -> None:
    raises(lambda lib: lib.linalg.pinv(lib.ones(2, 3, dtype=lib.int64)))
    raises(lambda lib: lib.linalg.pinv(lib.ones(2, 3), hermitian=True))
    raises(lambda lib: lib.linalg.matrix_rank(lib.ones(2, 2, dtype=lib.int64)))
    raises(lambda lib: lib.linalg.pinv(lib.ones(3)))
    agree(lambda lib, t: lib.linalg.matrix_rank(t), np.ones((2, 3, 0)))
    agree(lambda lib, t: lib.linalg.pinv(t), np.ones((2, 0)))
    a = np.random.default_rng(2).standard_normal((3, 3))
    agree(lambda lib, t: lib.linalg.pinv(t, atol=lib.tensor([[0.1], [5.0]], dtype=lib.float64)), a)
    agree(lambda lib, t: lib.linalg.matrix_rank(t, rtol=lib.tensor([0.01, 0.5], dtype=lib.float64)),
          np.stack([a, a]))


# ------------------------------------------------------------------------------------------------------- lstsq
@settings(max_examples=80, deadline=None)
@given(a=matrices(kinds=("separated", "normal")), data=st.data())
def test_lstsq_as_torch(a: np.ndarray, data: st.DataObject) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    m = a.shape[-2]
    vector = data.draw(st.booleans())
    b_batch = a.shape[:-2] if vector else tuple(data.draw(st.sampled_from([a.shape[:-2], (1,) * (a.ndim - 2)])))
    b = rng.standard_normal(b_batch + ((m,) if vector else (m, data.draw(st.integers(0, 3))))).astype(a.dtype)
    driver = data.draw(st.sampled_from([None, "gelsy", "gelsd", "gelss", "gels"]))
    well = bool(not a.size or np.linalg.svd(a, compute_uv=False)[..., -1:].min(initial=1) > 0.1)
    if driver == "gels" and not well:
        return  # LAPACK's gels assumes full rank: no meaningful answer to compare
    if driver in ("gelsd", "gelss") and a.size and not b.size:  # torch: an internal error (gelsd), a crash (gelss)
        with pytest.raises(ValueError, match="without columns"):
            tg.linalg.lstsq(tg.tensor(a), tg.tensor(b), driver=driver)
        return
    grads = a.dtype == np.float64 and well
    agree(lambda lib, x, y: lib.linalg.lstsq(x, y, driver=driver), a, b, rtol=tol(a) * 100, grads=grads)


@settings(max_examples=40, deadline=None)
@given(a=matrices(kinds=("rank",), dtypes=(np.float64,), min_side=1), data=st.data())
def test_lstsq_rank_deficient(a: np.ndarray, data: st.DataObject) -> None:
    """Clear rank gaps (rcond 1e-8): every driver's minimum-norm solution and rank agree."""
    b = np.random.default_rng(3).standard_normal(a.shape[:-1] + (2,))
    driver = data.draw(st.sampled_from([None, "gelsd", "gelss"]))
    agree(lambda lib, x, y: lib.linalg.lstsq(x, y, rcond=1e-8, driver=driver), a, b, rtol=1e-6, grads=False)


def test_lstsq_fields_per_driver() -> None:
    """Which of residuals / rank / singular_values each CPU driver fills, for tall, wide and square A, batched and
    vector B; gradients through the solution and the residuals."""
    rng = np.random.default_rng(4)
    for m, n in ((5, 3), (3, 5), (3, 3)):
        a = rng.standard_normal((2, m, n))
        for b in (rng.standard_normal((2, m, 2)), rng.standard_normal((2, m)), rng.standard_normal((1, m, 1))):
            for driver in (None, "gelsy", "gelsd", "gelss", "gels"):
                agree(lambda lib, x, y, driver=driver: lib.linalg.lstsq(x, y, driver=driver), a, b, rtol=1e-8)


def test_tolerance_defaults_use_the_larger_side() -> None:
    """The default rtol is eps * max(m, n): a singular value between eps * min and eps * max counts as zero."""
    for dtype, small in ((np.float64, 6e-16), (np.float32, 3.5e-7)):
        a = np.zeros((4, 2), dtype=dtype)
        a[0, 0], a[1, 1] = 1, small
        for x in (a, a.T.copy()):
            agree(lambda lib, t: lib.linalg.matrix_rank(t), x)
            agree(lambda lib, t: lib.linalg.pinv(t), x, rtol=1e-6, grads=False)
            agree(lambda lib, t: lib.linalg.lstsq(t, lib.ones(t.shape[0], 1, dtype=t.dtype), driver="gelsd").rank,
                  x)


def test_lstsq_errors_and_edges() -> None:
    raises(lambda lib: lib.linalg.lstsq(lib.ones(3, 2), lib.ones(4, 1)))
    raises(lambda lib: lib.linalg.lstsq(lib.ones(2, 4, 3), lib.ones(4, 1)))  # one dim fewer: a vector batch
    raises(lambda lib: lib.linalg.lstsq(lib.ones(2, 4, 3), lib.ones(4)))
    raises(lambda lib: lib.linalg.lstsq(lib.ones(2, 4, 3), lib.ones(1, 4)))
    raises(lambda lib: lib.linalg.lstsq(lib.ones(3, 2), lib.ones(1, 3, 1, 1)))
    raises(lambda lib: lib.linalg.lstsq(lib.ones(3, 2), lib.ones(3, 1), driver="gesvd"))
    raises(lambda lib: lib.linalg.lstsq(lib.ones(3, 2), lib.ones(3, 1, dtype=lib.float64)))
    raises(lambda lib: lib.linalg.lstsq(lib.tensor([[1.0, math.nan], [0.0, 1.0]]), lib.ones(2, 1)))
    for shape_a, shape_b in (((0, 3), (0, 2)), ((3, 0), (3, 2)), ((2, 3, 2), (2, 3, 0)), ((0, 3, 2), (3, 1))):
        for driver in ("gelsy", "gelsd"):
            agree(lambda lib, x, y, driver=driver: lib.linalg.lstsq(x, y, driver=driver), np.ones(shape_a),
                  np.ones(shape_b))


# ------------------------------------------------------------------------------------------- cond and norms
@settings(max_examples=60, deadline=None)
@given(a=matrices(kinds=("separated", "normal", "rank", "special")), p=st.sampled_from([None, 2, -2, "fro", "nuc",
                                                                                        1, -1, math.inf, -math.inf]))
def test_cond(a: np.ndarray, p: Any) -> None:
    if a.shape[-1] != a.shape[-2] and (p in ("fro", "nuc") or (p not in (None, 2, -2) and a.size)):
        raises(lambda lib: lib.linalg.cond(lib.tensor(a), p))
        return
    s = np.linalg.svd(a, compute_uv=False) if _finite(a) else np.zeros((1,))
    if _finite(a) and s.size and (s[..., -1] < 1e-6 * s[..., 0]).any():  # (numerically) singular: huge or inf
        ours, theirs = tg.linalg.cond(tg.tensor(a), p).numpy(), torch.linalg.cond(torch.tensor(a), p).numpy()
        assert ours.shape == theirs.shape
        big = s[..., -1] < 1e-6 * s[..., 0]
        for c in (ours, theirs):  # p=-2: the reciprocal, near 0
            assert ((np.abs(c) < 1e-4) if p == -2 else (np.abs(c) > 1e4) | np.isnan(c))[big].all()
        return
    grads = a.dtype == np.float64 and _finite(a) and _separated(s)
    check = agree_svd if p in (None, 2, -2, "nuc") else agree
    check(lambda lib, t: lib.linalg.cond(t, p), a, rtol=tol(a) * 100, grads=grads and p in (None, 2, -2, "nuc"))


def test_cond_singular_and_errors() -> None:
    for p in (None, "fro", 1, math.inf, -2):
        agree(lambda lib, t, p=p: lib.linalg.cond(t, p), np.zeros((2, 2)), grads=False)
        agree(lambda lib, t, p=p: lib.linalg.cond(t, p), np.zeros((0, 0)), grads=False)
    raises(lambda lib: lib.linalg.cond(lib.ones(2, 2), 3))
    raises(lambda lib: lib.linalg.cond(lib.ones(2, 2, dtype=lib.int64)))


@settings(max_examples=60, deadline=None)
@given(a=matrices(kinds=("separated", "normal", "rank")), ord_=st.sampled_from([2, -2, "nuc"]),
       keepdim=st.booleans(), data=st.data())
def test_matrix_norm_singular_value_ords(a: np.ndarray, ord_: Any, keepdim: bool, data: st.DataObject) -> None:
    dims = tuple(data.draw(st.permutations(range(a.ndim)))[:2])
    grads = a.dtype == np.float64 and _separated(np.linalg.svd(np.moveaxis(a, dims, (-2, -1)), compute_uv=False))
    agree(lambda lib, t: lib.linalg.matrix_norm(t, ord_, dims, keepdim), a, rtol=tol(a), grads=grads)
    agree(lambda lib, t: lib.linalg.norm(t, ord_, dims, keepdim), a, rtol=tol(a), grads=grads)
    if ord_ == "nuc":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            agree(lambda lib, t: lib.nuclear_norm(t, dims, keepdim), a, rtol=tol(a), grads=grads)
            last = a.dtype == np.float64 and _separated(np.linalg.svd(a, compute_uv=False))
            agree(lambda lib, t: lib.nuclear_norm(t, keepdim=keepdim), a, rtol=tol(a), grads=last)


def test_matrix_norm_ties_and_empty() -> None:
    agree(lambda lib, t: lib.linalg.matrix_norm(t, 2), np.eye(3) * 2)  # tied largest: the gradient split
    agree(lambda lib, t: lib.linalg.matrix_norm(t, 2), np.ones((2, 0)))
    agree(lambda lib, t: lib.linalg.matrix_norm(t, "nuc"), np.ones((2, 0)))
    raises(lambda lib: lib.linalg.matrix_norm(lib.ones(2, 0), -2))
    raises(lambda lib: lib.linalg.matrix_norm(lib.ones(2, 2, dtype=lib.int64), "nuc"))


def test_integer_and_half_inputs_raise() -> None:
    for f in (lambda lib, t: lib.linalg.svd(t), lambda lib, t: lib.linalg.svdvals(t),
              lambda lib, t: lib.linalg.qr(t), lambda lib, t: lib.linalg.eigh(t)):
        raises(lambda lib, f=f: f(lib, lib.ones(2, 2, dtype=lib.int64)))
        raises(lambda lib, f=f: f(lib, lib.ones(2, 2, dtype=lib.float16)))
        raises(lambda lib, f=f: f(lib, lib.ones(2)))


# ------------------------------------------------------------------------------ householder_product, orthogonal
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_householder_product(data: st.DataObject) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    batch = tuple(data.draw(st.lists(st.integers(0, 2), max_size=2)))
    n = data.draw(st.integers(0, 4))
    m, k = n + data.draw(st.integers(0, 2)), data.draw(st.integers(0, n))
    dtype = data.draw(st.sampled_from(DTYPES))
    a, tau = rng.standard_normal(batch + (m, n)).astype(dtype), rng.standard_normal(batch + (k,)).astype(dtype)
    agree(lambda lib, x, t: lib.linalg.householder_product(x, t), a, tau, rtol=tol(a))
    agree(lambda lib, x, t: lib.orgqr(x, t), a, tau, rtol=tol(a))
    agree(lambda lib, x, t: x.orgqr(t), a, tau, rtol=tol(a))


def test_householder_product_errors() -> None:
    raises(lambda lib: lib.linalg.householder_product(lib.ones(2, 3), lib.ones(2)))  # m < n
    raises(lambda lib: lib.linalg.householder_product(lib.ones(3, 2), lib.ones(3)))  # k > n
    raises(lambda lib: lib.linalg.householder_product(lib.ones(2, 3, 2), lib.ones(2)))
    raises(lambda lib: lib.linalg.householder_product(lib.ones(3, 2), lib.ones(())))
    raises(lambda lib: lib.linalg.householder_product(lib.ones(3, 2), lib.ones(2, dtype=lib.float64)))
    raises(lambda lib: lib.linalg.householder_product(lib.ones(3, 2, dtype=lib.int64), lib.ones(2, dtype=lib.int64)))


def _orthogonal_linear(lib: Any, w: np.ndarray, omap: Any, triv: bool) -> Any:
    m = lib.nn.Linear(w.shape[1], w.shape[0])
    with lib.no_grad():
        m.weight.copy_(lib.tensor(w))
    return lib.nn.utils.parametrizations.orthogonal(m, orthogonal_map=omap, use_trivialization=triv)


@settings(max_examples=40, deadline=None)
@given(shape=st.sampled_from([(3, 3), (2, 4), (4, 2), (1, 1)]),
       omap=st.sampled_from([None, "matrix_exp", "cayley", "householder"]), triv=st.booleans(),
       seed=st.integers(0, 1000))
def test_orthogonal_parametrization_as_torch(shape: tuple[int, int], omap: Any, triv: bool, seed: int) -> None:
    """Registering, the weight, a step of the original, the gradient and assigning a new weight, as torch: values
    equal wherever the base is deterministic (square, or no trivialization); orthonormal everywhere."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(np.float32)
    ours, theirs = _orthogonal_linear(tg, w, omap, triv), _orthogonal_linear(torch, w, omap, triv)
    same = shape[0] == shape[1] or not triv
    small = min(shape)

    def orthonormal(x: np.ndarray) -> None:
        g = x @ x.T if shape[0] <= shape[1] else x.T @ x
        np.testing.assert_allclose(g, np.eye(small), atol=1e-5)
    for step in range(2):
        if step:  # move the original as an optimizer would (X's diagonal stays: householder reads its signs)
            x = rng.standard_normal(theirs.parametrizations.weight.original.shape).astype(np.float32) * 0.3
            x = np.where(np.eye(*x.shape, dtype=bool), theirs.parametrizations.weight.original.detach().numpy(), x)
            with torch.no_grad():
                theirs.parametrizations.weight.original.copy_(torch.tensor(x))
            with tg.no_grad():
                ours.parametrizations.weight.original.copy_(tg.tensor(x))
        if same:
            np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), atol=1e-4)
        if omap != "householder" or triv or step == 0:
            orthonormal(ours.weight.numpy())
    weights = np.cos(np.arange(w.size)).reshape(shape).astype(np.float32)
    (ours.weight * tg.tensor(weights)).sum().backward()
    (theirs.weight * torch.tensor(weights)).sum().backward()
    if same:
        np.testing.assert_allclose(ours.parametrizations.weight.original.grad.numpy(),
                                   theirs.parametrizations.weight.original.grad.numpy(), atol=1e-4)
    q = np.linalg.qr(rng.standard_normal((max(shape), max(shape))))[0][:shape[0], :shape[1]].astype(np.float32)
    square_map = omap in ("matrix_exp", "cayley") or (omap is None and shape[0] == shape[1])
    for m, lib in ((ours, tg), (theirs, torch)):
        with lib.no_grad():
            if square_map and not triv:  # no right inverse to these maps without the trivialization
                with pytest.raises(NotImplementedError):
                    m.weight = lib.tensor(q)
                continue
            m.weight = lib.tensor(q)  # right_inverse: a new base (or original)
    if square_map and not triv:
        return
    if same:
        np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), atol=1e-4)
        np.testing.assert_allclose(ours.weight.numpy(), q, atol=1e-5)


def test_orthogonal_errors() -> None:
    for lib in (tg, torch):
        pz = lib.nn.utils.parametrizations
        with pytest.raises(ValueError):
            pz.orthogonal(lib.nn.Linear(2, 2), orthogonal_map="qr")
        with pytest.raises(ValueError):
            pz.orthogonal(lib.nn.Linear(2, 2), name="nothing")
        m = lib.nn.Module()
        m.register_buffer("v", lib.ones(3))
        with pytest.raises(ValueError):
            pz.orthogonal(m, "v")
        m = pz.orthogonal(lib.nn.Linear(2, 3))
        with pytest.raises(ValueError), lib.no_grad():
            m.weight = lib.ones(2, 3)


def test_orthogonal_state_dict_as_torch() -> None:
    """torch's keys (the base is a buffer of the parametrization), and a round trip through load_state_dict."""
    keys = []
    for lib in (tg, torch):
        m = lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(3, 3))
        keys.append(sorted(m.state_dict()))
        m2 = lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(3, 3))
        m2.load_state_dict(m.state_dict())
        np.testing.assert_array_equal(np.asarray(m2.weight.detach().numpy()), np.asarray(m.weight.detach().numpy()))
    assert keys[0] == keys[1]
