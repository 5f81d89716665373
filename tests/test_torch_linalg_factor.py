"""torch 2.13's linalg factorization family against torch: cholesky / cholesky_ex / torch.cholesky, solve_triangular,
cholesky_solve, cholesky_inverse, matrix_exp, matrix_power, multi_dot, vecdot, diagonal, cross, vander, inv_ex and
solve_ex. Values, dtypes, shapes and gradients (float32 and float64) on hypothesis-drawn matrices (positive-definite
ones as B B^T + eps I, triangular ones, ill-conditioned ones by diagonal scaling, nan / inf entries, 0 x 0 matrices
and empty batches, broadcast batch dims), LAPACK's ``info`` and torch's LinAlgError messages, and the refusals.
``agree`` (see test_torch_movement_names.py) runs a call in both libraries and compares outputs and input gradients,
or checks that both raise.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import agree, raises

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

DTYPES = st.sampled_from([np.float32, np.float64])
ENTRIES = st.floats(-3, 3, width=32)  # exact in float32 too
BATCH = hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3)
ODD = [np.nan, np.inf, -np.inf, -0.0, 0.0]


def same_failure(ours: BaseException, theirs: BaseException) -> bool:
    """Whether two LinAlgErrors name the same failure in their own words: the same op before the first colon and
    the same numbers (batch entry, pivot or order), in order."""
    a, b = str(ours), str(theirs)
    return a.split(":")[0] == b.split(":")[0] and re.findall(r"\d+", a) == re.findall(r"\d+", b)


def tol(dtype: Any) -> float:
    return 2e-3 if dtype == np.float32 else 1e-8


@pytest.fixture(autouse=True)
def _no_warnings() -> Any:
    with warnings.catch_warnings():  # torch.cholesky's deprecation warning: tested on its own below
        warnings.simplefilter("ignore")
        yield


@st.composite
def spd(draw: Any, batch: tuple[int, ...] | None = None, scaled: bool = False) -> np.ndarray:
    """B B^T + eps I (..., n, n) in float64; ``scaled``: D (B B^T + eps I) D with D spanning 1e-3..1e3 (badly
    conditioned, but harmless to Cholesky)."""
    shape = draw(BATCH) if batch is None else batch
    n = draw(st.integers(0, 5))
    b = draw(hnp.arrays(np.float64, shape + (n, n), elements=ENTRIES))
    eps = draw(st.sampled_from([0.1, 1.0, 10.0]))
    s = b @ np.swapaxes(b, -1, -2) + eps * np.eye(n)
    if scaled:
        d = 10.0 ** draw(hnp.arrays(np.float64, (n,), elements=st.integers(-3, 3).map(float)))
        s = d[:, None] * s * d[None, :]
    return s


@st.composite
def triangular(draw: Any, batch: tuple[int, ...], n: int) -> np.ndarray:
    """A full (..., n, n) matrix (both triangles filled) whose diagonal is kept away from 0."""
    a = draw(hnp.arrays(np.float64, batch + (n, n), elements=ENTRIES))
    diagonal = draw(hnp.arrays(np.float64, (n,), elements=st.sampled_from([-4.0, -2.0, -1.0, 1.0, 2.0, 4.0])))
    a[..., np.arange(n), np.arange(n)] = diagonal
    return a


def _cast(x: np.ndarray, dtype: Any) -> np.ndarray:
    return x.astype(dtype)


# ---------------------------------------------------------------- cholesky
@settings(max_examples=60, deadline=None)
@given(s=spd(), dtype=DTYPES, upper=st.booleans())
def test_cholesky(s: np.ndarray, dtype: Any, upper: bool) -> None:
    x = _cast(s, dtype)
    agree(lambda lib, a: lib.linalg.cholesky(a, upper=upper), x, rtol=tol(dtype))
    agree(lambda lib, a: lib.linalg.cholesky_ex(a, upper=upper), x, rtol=tol(dtype))  # L, and info (no grad)
    agree(lambda lib, a: a.cholesky(upper), x, rtol=tol(dtype))
    agree(lambda lib, a: lib.cholesky(a, upper=upper), x, rtol=tol(dtype))
    ours = tg.linalg.cholesky_ex(tg.tensor(x))
    assert ours.info.dtype == np.int32 and ours.info.shape == x.shape[:-2] and not ours.info.numpy().any()


@settings(max_examples=40, deadline=None)
@given(s=spd(scaled=True), upper=st.booleans())
def test_cholesky_ill_conditioned(s: np.ndarray, upper: bool) -> None:
    d = np.sqrt(np.diagonal(s, 0, -2, -1))[..., None]  # compare scaled back to O(1), where the errors are relative
    ours = tg.linalg.cholesky(tg.tensor(s), upper=upper).numpy()
    theirs = torch.linalg.cholesky(torch.tensor(s), upper=upper).numpy()
    scale = np.swapaxes(d, -1, -2) if upper else d
    np.testing.assert_allclose(ours / scale, theirs / scale, rtol=1e-8, atol=1e-8)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=DTYPES, upper=st.booleans())
def test_cholesky_not_positive_definite(data: st.DataObject, dtype: Any, upper: bool) -> None:
    """Symmetric integer matrices (most not positive-definite), some with nan / inf: LAPACK's info, the factor where
    it succeeded, and a LinAlgError naming what torch's does."""
    batch, n = data.draw(BATCH), data.draw(st.integers(1, 4))
    a = data.draw(hnp.arrays(np.float64, batch + (n, n), elements=st.integers(-2, 3).map(float)))
    a = a + np.swapaxes(a, -1, -2) + data.draw(st.sampled_from([0.0, 4.0])) * np.eye(n)
    if data.draw(st.booleans()) and a.size:
        odd = data.draw(st.sampled_from(ODD if dtype == np.float64 else [np.nan, -np.inf, -0.0]))
        i, j = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
        a[..., i, j] = a[..., j, i] = odd  # (float32: +inf on the diagonal differs, see the README)
    x = _cast(a, dtype)
    ours, theirs = tg.linalg.cholesky_ex(tg.tensor(x), upper=upper), torch.linalg.cholesky_ex(torch.tensor(x),
                                                                                             upper=upper)
    info = theirs.info.numpy()
    # a singular leading block ([[6, 6], [6, 6]], alone or heading a larger matrix) leaves a pivot that is 0 up to
    # rounding, so each LAPACK's rounding decides whether it fails there: such matrices are not compared
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(a).all(axis=(-2, -1))
        clean = np.where(finite[..., None, None], a, 0)
        scale = 1e-9 * np.maximum(1.0, np.abs(a).max(axis=(-2, -1), initial=0))
        edge = np.zeros(finite.shape, dtype=bool)
        for k in range(1, n + 1):
            edge |= finite & (np.abs(np.linalg.eigvalsh(clean[..., :k, :k])) < scale[..., None]).any(axis=-1)
    np.testing.assert_array_equal(ours.info.numpy()[~edge], info[~edge])
    assert ours.info.dtype == np.int32
    if edge.any():
        return
    good = info == 0
    np.testing.assert_allclose(ours.L.numpy()[good], theirs.L.numpy()[good], rtol=tol(dtype), atol=tol(dtype))
    assert np.isnan(ours.L.numpy()[~good]).all()
    for name in ("linalg.cholesky", "linalg.cholesky_ex"):
        call = {"linalg.cholesky": lambda lib, t: lib.linalg.cholesky(t, upper=upper),
                "linalg.cholesky_ex": lambda lib, t: lib.linalg.cholesky_ex(t, upper=upper, check_errors=True)}[name]
        try:
            call(torch, torch.tensor(x))
        except torch.linalg.LinAlgError as e:
            with pytest.raises(tg.linalg.LinAlgError) as ours_error:
                call(tg, tg.tensor(x))
            assert same_failure(ours_error.value, e)
        else:
            call(tg, tg.tensor(x))


def test_cholesky_errors_and_warning() -> None:
    assert issubclass(tg.linalg.LinAlgError, RuntimeError)
    raises(lambda L: L.linalg.cholesky(L.ones(2, 3)))
    raises(lambda L: L.linalg.cholesky(L.ones(3)))
    raises(lambda L: L.linalg.cholesky(L.ones(3, 3, dtype=L.int64)))
    raises(lambda L: L.linalg.cholesky(L.ones(2, 2, dtype=L.float16)))
    raises(lambda L: L.cholesky(L.tensor([[1.0, 2.0], [2.0, 1.0]])))
    with pytest.warns(UserWarning, match="torch.cholesky is deprecated"):
        tg.cholesky(tg.eye(2))
    # only the lower (upper) triangle is read, as LAPACK: the other may hold anything
    x = np.array([[4.0, np.nan], [1.5, 9.0]])
    agree(lambda lib, a: lib.linalg.cholesky(a), x)
    agree(lambda lib, a: lib.linalg.cholesky(a, upper=True), x.T)
    for shape in [(0, 0), (2, 0, 0), (0, 3, 3), (2, 0, 1, 1)]:
        agree(lambda lib, a: lib.linalg.cholesky_ex(a), np.ones(shape))


# ---------------------------------------------------------------- solve_triangular
@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=DTYPES, upper=st.booleans(), left=st.booleans(), unit=st.booleans())
def test_solve_triangular(data: st.DataObject, dtype: Any, upper: bool, left: bool, unit: bool) -> None:
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, min_side=0, max_side=3)).input_shapes
    n, k = data.draw(st.integers(0, 4)), data.draw(st.integers(0, 3))
    a = _cast(data.draw(triangular(shapes[0], n)), dtype)
    b = _cast(data.draw(hnp.arrays(np.float64, shapes[1] + ((n, k) if left else (k, n)), elements=ENTRIES)), dtype)
    agree(lambda lib, t, r: lib.linalg.solve_triangular(t, r, upper=upper, left=left, unitriangular=unit), a, b,
          rtol=tol(dtype))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), upper=st.booleans(), left=st.booleans())
def test_solve_triangular_zero_pivots_and_odd_values(data: st.DataObject, upper: bool, left: bool) -> None:
    """No error for a zero on the diagonal: infs and nans come out, as from torch's trsm."""
    n = data.draw(st.integers(1, 3))
    a = data.draw(hnp.arrays(np.float64, (n, n), elements=st.integers(-2, 2).map(float)))
    b = data.draw(hnp.arrays(np.float64, (n, 2) if left else (2, n), elements=st.integers(-2, 2).map(float) |
                             st.sampled_from([np.nan, np.inf, -np.inf])))
    agree(lambda lib, t, r: lib.linalg.solve_triangular(t, r, upper=upper, left=left), a, b, grads=False)


def test_solve_triangular_errors() -> None:
    eye = np.eye(2)
    raises(lambda L: L.linalg.solve_triangular(L.tensor(eye), L.ones(2, dtype=L.float64), upper=False))
    raises(lambda L: L.linalg.solve_triangular(L.tensor(eye), L.ones(3, 1, dtype=L.float64), upper=False))
    raises(lambda L: L.linalg.solve_triangular(L.tensor(eye), L.ones(2, 1, dtype=L.float64), upper=True, left=False))
    raises(lambda L: L.linalg.solve_triangular(L.ones(2, 3, dtype=L.float64), L.ones(2, 1, dtype=L.float64),
                                               upper=True))
    raises(lambda L: L.linalg.solve_triangular(L.ones(2, 2, dtype=L.int64), L.ones(2, 1, dtype=L.int64), upper=True))
    raises(lambda L: L.linalg.solve_triangular(L.ones(2, 2, 2), L.ones(3, 2, 1), upper=True))  # batch (2,) vs (3,)
    with pytest.raises(TypeError):  # one dtype: torch promotes here, we refuse rather than guess
        tg.linalg.solve_triangular(tg.eye(2), tg.ones(2, 1, dtype=tg.float64), upper=False)


# ---------------------------------------------------------------- cholesky_solve / cholesky_inverse
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=DTYPES, upper=st.booleans())
def test_cholesky_solve(data: st.DataObject, dtype: Any, upper: bool) -> None:
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, min_side=0, max_side=3)).input_shapes
    n, k = data.draw(st.integers(0, 4)), data.draw(st.integers(0, 3))
    factor = _cast(data.draw(triangular(shapes[1], n)), dtype)  # the unread triangle is filled too
    b = _cast(data.draw(hnp.arrays(np.float64, shapes[0] + (n, k), elements=ENTRIES)), dtype)
    agree(lambda lib, r, f: lib.cholesky_solve(r, f, upper), b, factor, rtol=tol(dtype))
    agree(lambda lib, r, f: r.cholesky_solve(f, upper=upper), b, factor, rtol=tol(dtype))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=DTYPES, upper=st.booleans())
def test_cholesky_inverse(data: st.DataObject, dtype: Any, upper: bool) -> None:
    factor = _cast(data.draw(triangular(data.draw(BATCH), data.draw(st.integers(0, 4)))), dtype)
    agree(lambda lib, f: lib.cholesky_inverse(f, upper), factor, rtol=tol(dtype))
    agree(lambda lib, f: f.cholesky_inverse(upper=upper), factor, rtol=tol(dtype))
    # a factor from cholesky itself, and the round trip through cholesky_solve
    s = data.draw(spd())
    agree(lambda lib, a: lib.cholesky_inverse(lib.linalg.cholesky(a, upper=upper), upper=upper), s, rtol=1e-7)
    agree(lambda lib, a: lib.cholesky_solve(a, lib.linalg.cholesky(a, upper=upper), upper=upper), s, rtol=1e-7)


def test_cholesky_solve_inverse_errors() -> None:
    singular = np.array([[[1.0, 0.0], [2.0, 3.0]], [[1.0, 0.0], [2.0, 0.0]]])
    with pytest.raises(torch.linalg.LinAlgError) as theirs:
        torch.cholesky_inverse(torch.tensor(singular))
    with pytest.raises(tg.linalg.LinAlgError) as ours:
        tg.cholesky_inverse(tg.tensor(singular))
    assert same_failure(ours.value, theirs.value)
    agree(lambda lib, f: lib.cholesky_inverse(f, upper=True), singular)  # the upper triangle has no zero pivot
    agree(lambda lib, r, f: lib.cholesky_solve(r, f), np.ones((2, 1)), singular[1], grads=False)  # infs, no error
    raises(lambda L: L.cholesky_solve(L.ones(2), L.eye(2)))
    raises(lambda L: L.cholesky_solve(L.ones(3, 1), L.eye(2)))
    raises(lambda L: L.cholesky_solve(L.ones(2, 1, dtype=L.int64), L.eye(2, dtype=L.int64)))
    raises(lambda L: L.cholesky_inverse(L.ones(3)))
    raises(lambda L: L.cholesky_inverse(L.ones(2, 3)))
    raises(lambda L: L.cholesky_inverse(L.ones(2, 2, dtype=L.int64)))
    with pytest.raises(TypeError):  # torch: "Expected b and A to have the same dtype"
        tg.cholesky_solve(tg.ones(2, 1), tg.eye(2, dtype=tg.float64))


# ---------------------------------------------------------------- matrix_exp, matrix_power
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_matrix_exp(data: st.DataObject, dtype: Any) -> None:
    n = data.draw(st.integers(0, 4))
    a = data.draw(hnp.arrays(np.float64, data.draw(BATCH) + (n, n), elements=ENTRIES))
    a = _cast(a * data.draw(st.sampled_from([0.0, 1e-3, 0.3, 1.0, 3.0])), dtype)
    scale = max(1.0, float(np.abs(torch.linalg.matrix_exp(torch.tensor(a)).numpy()).max(initial=0)))
    agree(lambda lib, t: lib.linalg.matrix_exp(t) / scale, a, rtol=tol(dtype))
    agree(lambda lib, t: lib.matrix_exp(t) / scale, a, rtol=tol(dtype))
    agree(lambda lib, t: t.matrix_exp() / scale, a, rtol=tol(dtype))


def test_matrix_exp_special() -> None:
    for odd in (np.nan, np.inf, -np.inf, 1e10):  # all nan, as torch's
        x = np.array([[[odd, 0.0], [0.0, 1.0]], [[0.0, 1.0], [-1.0, 0.0]]])
        agree(lambda lib, t: lib.linalg.matrix_exp(t), x, grads=False)
        agree(lambda lib, t: lib.linalg.matrix_exp(t), x.astype(np.float32), grads=False, rtol=1e-5)
    rotation = np.array([[0.0, -np.pi / 3], [np.pi / 3, 0.0]])
    agree(lambda lib, t: lib.linalg.matrix_exp(t), rotation)
    agree(lambda lib, t: lib.linalg.matrix_exp(t), 40 * rotation + np.eye(2), rtol=1e-9)  # scaled, squared 6 times
    raises(lambda L: L.linalg.matrix_exp(L.ones(2, 2, dtype=L.int64)))
    raises(lambda L: L.linalg.matrix_exp(L.ones(3)))
    raises(lambda L: L.linalg.matrix_exp(L.ones(2, 3)))


@settings(max_examples=40, deadline=None)
@given(s=spd(), n=st.integers(-3, 4), dtype=DTYPES)
def test_matrix_power(s: np.ndarray, n: int, dtype: Any) -> None:
    x = _cast(s / 10, dtype)
    agree(lambda lib, t: lib.linalg.matrix_power(t, n), x, rtol=tol(dtype) * 10)
    ints = np.round(s[..., :3, :3] % 3).astype(np.int64)
    agree(lambda lib, t: lib.linalg.matrix_power(t, n), ints)  # n < 0 raises for integers, as torch


# ---------------------------------------------------------------- multi_dot, vecdot, diagonal, cross, vander
@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64, np.int64]))
def test_multi_dot(data: st.DataObject, dtype: Any) -> None:
    count = data.draw(st.integers(2, 5))
    sizes = data.draw(st.lists(st.integers(0, 4), min_size=count + 1, max_size=count + 1))
    vector_first, vector_last = data.draw(st.booleans()), data.draw(st.booleans())
    shapes = [(sizes[i], sizes[i + 1]) for i in range(count)]
    if vector_first:
        shapes[0] = shapes[0][1:]
    if vector_last:
        shapes[-1] = shapes[-1][:1]
    arrays = [_cast(data.draw(hnp.arrays(np.float64, s, elements=st.integers(-3, 3).map(float))), dtype)
              for s in shapes]
    agree(lambda lib, *ts: lib.linalg.multi_dot(ts), *arrays, rtol=tol(dtype))
    agree(lambda lib, *ts: lib.linalg.multi_dot(list(ts)), *arrays, rtol=tol(dtype))


def test_multi_dot_errors() -> None:
    raises(lambda L: L.linalg.multi_dot([L.ones(2)]))
    raises(lambda L: L.linalg.multi_dot([L.ones(2), L.ones(2, dtype=L.float64)]))
    raises(lambda L: L.linalg.multi_dot([L.ones(2, 2, 2), L.ones(2, 2)]))
    raises(lambda L: L.linalg.multi_dot([L.ones(2, 2), L.ones(2), L.ones(2, 2)]))
    raises(lambda L: L.linalg.multi_dot([L.ones(2, 3), L.ones(2, 2)]))
    raises(lambda L: L.linalg.multi_dot([L.ones(2, dtype=L.bool), L.ones(2, dtype=L.bool)]))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_vecdot_diagonal_cross(data: st.DataObject, dtype: Any) -> None:
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, min_side=0,
                                                         max_side=3)).input_shapes
    odd = st.floats(-3, 3, width=32) | st.sampled_from(ODD)
    x, y = (_cast(data.draw(hnp.arrays(np.float64, s, elements=odd)), dtype) for s in shapes)
    dim = data.draw(st.integers(-4, 3))
    agree(lambda lib, a, b: lib.linalg.vecdot(a, b, dim=dim), x, y, rtol=tol(dtype))
    agree(lambda lib, a: lib.linalg.diagonal(a, offset=dim, dim1=0, dim2=-1), x)
    agree(lambda lib, a: lib.linalg.diagonal(a), x)
    if len(shapes[0]) == len(shapes[1]):
        u, v = (_cast(data.draw(hnp.arrays(np.float64, s[:-1] + (3,), elements=odd)), dtype) for s in shapes)
        agree(lambda lib, a, b: lib.linalg.cross(a, b), u.copy(), v.copy(), rtol=tol(dtype))
        agree(lambda lib, a, b: lib.linalg.cross(a, b, dim=0), np.moveaxis(u, -1, 0).copy(),
              np.moveaxis(v, -1, 0).copy(), rtol=tol(dtype))
    raises(lambda L: L.linalg.vecdot(L.ones(2, dtype=L.int64), L.ones(2, dtype=L.int64)))
    raises(lambda L: L.linalg.vecdot(L.ones(2), L.ones(2, dtype=L.float64)))
    raises(lambda L: L.linalg.vecdot(L.ones(1), L.ones(3)))  # two vectors: no broadcasting (torch's vdot)
    raises(lambda L: L.linalg.cross(L.ones(3, 2), L.ones(3, 2)))
    raises(lambda L: L.linalg.cross(L.ones(2, 3), L.ones(3)))
    raises(lambda L: L.linalg.cross(L.ones(1, 3), L.ones(1, 3, dtype=L.float64)))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64, np.int64, np.int32]))
def test_vander(data: st.DataObject, dtype: Any) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    x = _cast(data.draw(hnp.arrays(np.float64, shape, elements=st.integers(-3, 3).map(float) | st.floats(-2, 2))),
              dtype)
    count = data.draw(st.none() | st.integers(-1, 5))
    agree(lambda lib, t: lib.linalg.vander(t, N=count), x, rtol=tol(dtype))
    raises(lambda L: L.linalg.vander(L.tensor(2.0)))
    raises(lambda L: L.linalg.vander(L.tensor([True, False])))


# ---------------------------------------------------------------- inv_ex, solve_ex
@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=DTYPES, left=st.booleans())
def test_inv_ex_solve_ex(data: st.DataObject, dtype: Any, left: bool) -> None:
    """Small integer matrices, often singular: where a matrix is well-conditioned, info 0 and torch's values and
    gradients; where it is singular (exactly, or up to rounding, which decides whether LAPACK meets an exact zero
    pivot) the result is nan wherever info is not 0."""
    batch, n = data.draw(BATCH), data.draw(st.integers(0, 4))
    a = _cast(data.draw(hnp.arrays(np.float64, batch + (n, n), elements=st.integers(-2, 2).map(float))), dtype)
    a = a + data.draw(st.sampled_from([0.0, 5.0])) * np.eye(n, dtype=dtype)
    vector = data.draw(st.booleans())
    b = _cast(data.draw(hnp.arrays(np.float64, (n,) if vector else (n, 2) if left else (2, n), elements=ENTRIES)),
              dtype)
    cond = np.linalg.cond(a.astype(np.float64)) if n else np.ones(batch)
    regular = cond < 1e4
    for call in [lambda lib, t, r: lib.linalg.inv_ex(t), lambda lib, t, r: lib.linalg.solve_ex(t, r, left=left)]:
        try:
            theirs = call(torch, torch.tensor(a), torch.tensor(b))
        except RuntimeError:  # shapes torch refuses (left=False with a vector B)
            with pytest.raises((ValueError, RuntimeError)):
                call(tg, tg.tensor(a), tg.tensor(b))
            continue
        ours = call(tg, tg.tensor(a), tg.tensor(b))
        info = ours[1].numpy()
        assert ours[1].dtype == np.int32 and info.shape == batch and ours[0].shape == tuple(theirs[0].shape)
        assert not info[regular].any() and not theirs[1].numpy()[regular].any()
        mine, expand = ours[0].numpy(), (1,) * (ours[0].ndim - info.ndim)
        keep, nan = (np.broadcast_to(m.reshape(m.shape + expand), mine.shape) for m in (regular, info != 0))
        np.testing.assert_allclose(mine[keep], theirs[0].numpy()[keep], rtol=tol(dtype) * 100, atol=tol(dtype) * 100)
        assert np.isnan(mine[nan]).all()
    if regular.all():
        agree(lambda lib, t: lib.linalg.inv_ex(t, check_errors=True), a, rtol=tol(dtype) * 100)
        agree(lambda lib, t, r: lib.linalg.solve_ex(t, r, left=left, check_errors=True), a, b, rtol=tol(dtype) * 100)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inv_ex_solve_ex_singular(dtype: Any) -> None:
    """Exactly singular matrices (a zero or repeated row or column): LAPACK's info and torch's LinAlgError. Each
    is singular in floating point too (its elimination subtracts exact multiples): [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    was here, and whether its last pivot rounds to 0 depends on the machine's BLAS kernels (AVX-512: not in float32)."""
    singular = [[[1, 2], [2, 4]], [[0, 0], [0, 1]], [[0, 1], [0, 2]], [[1, 0], [0, 1]], [[2, 1], [1, 1]],
                [[1, 2], [0, 0]]]
    cases = [np.array(singular, dtype=dtype), np.array([[1, 2, 3], [2, 4, 6], [1, 0, 1]], dtype=dtype),
             np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[3, 1, 2], [6, 2, 4], [1, 5, 9]]], dtype=dtype),
             np.array([[4, 2, 1, 1], [1, 3, -1, 0], [0, -2, 5, -2], [2, -2, -2, 3]], dtype=dtype)]  # (roundings)
    for a in cases:
        b = np.ones(a.shape[-1:], dtype=dtype)
        for name, call in [("inv_ex", lambda lib, t, r, c: lib.linalg.inv_ex(t, check_errors=c)),
                           ("solve_ex", lambda lib, t, r, c: lib.linalg.solve_ex(t, r, check_errors=c))]:
            theirs, ours = call(torch, torch.tensor(a), torch.tensor(b), False), call(tg, tg.tensor(a), tg.tensor(b),
                                                                                      False)
            np.testing.assert_array_equal(ours[1].numpy(), theirs[1].numpy(), err_msg=name)
            if not theirs[1].numpy().any():  # (the 4 x 4 is regular)
                continue
            with pytest.raises(torch.linalg.LinAlgError) as their_error:
                call(torch, torch.tensor(a), torch.tensor(b), True)
            with pytest.raises(tg.linalg.LinAlgError) as our_error:
                call(tg, tg.tensor(a), tg.tensor(b), True)
            assert same_failure(our_error.value, their_error.value)


def test_inv_ex_solve_ex_errors() -> None:
    raises(lambda L: L.linalg.inv_ex(L.ones(2, 3)))
    raises(lambda L: L.linalg.inv_ex(L.ones(2, 2, dtype=L.int64)))
    raises(lambda L: L.linalg.solve_ex(L.ones(2, 2), L.ones(3)))
    x = np.array([[np.nan, 2.0], [2.0, 4.0]])
    agree(lambda lib, t: lib.linalg.inv_ex(t), x, grads=False)


def test_names() -> None:
    mine = ["LinAlgError", "cholesky", "cholesky_ex", "cross", "diagonal", "inv_ex", "matrix_exp", "matrix_power",
            "multi_dot", "solve_ex", "solve_triangular", "vander", "vecdot"]
    assert set(mine) <= set(tg.linalg.__all__) and set(mine) <= set(dir(torch.linalg))
    assert all(callable(getattr(tg.linalg, name)) for name in mine)
    for name in ("cholesky", "cholesky_solve", "cholesky_inverse", "matrix_exp", "matrix_power"):
        assert hasattr(tg, name) and hasattr(tg.Tensor, name) and hasattr(torch.Tensor, name)
