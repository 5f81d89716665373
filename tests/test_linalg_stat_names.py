"""torch 2.13's diag_embed, cov, corrcoef, logdet and block_diag against torch: values, dtypes, shapes and gradients
(float32 and float64), NaN / inf / -0, empty and 0-d inputs, batched, singular and negative-determinant matrices,
torch's warnings and its refusals. ``agree`` (see test_torch_movement_names.py) runs a call in both libraries and
compares outputs and input gradients, or checks that both raise.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_math_names2 import matrices
from test_torch_movement_names import agree, arrays, raises

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

# Halves in [-8, 8]: sums and products are exact, so a 0 variance is exactly 0 in both libraries and only the order
# of a matrix product's sums can differ (a last-bit difference, far inside the tolerances below). No huge values:
# where a product of two overflows, numpy's BLAS (fused multiply-adds: inf plus an exact -2e399 stays inf) and
# torch's differ (inf against nan), as for any matrix product; test_cov_overflow has a case where they agree.
HALVES = st.integers(-16, 16).map(lambda i: i / 2)
ODD = st.sampled_from([np.inf, -np.inf, np.nan, -0.0])
SAMPLES = st.one_of(HALVES, HALVES, HALVES, ODD)
F32 = 1e-4  # float32 tolerance
F64 = 1e-9


@pytest.fixture(autouse=True)
def _no_warnings() -> Any:
    with warnings.catch_warnings():  # torch's and our degrees-of-freedom warning: tested on its own below
        warnings.simplefilter("ignore")
        yield


# ---------------------------------------------------------------- diag_embed
@settings(max_examples=60, deadline=None)
@given(x=arrays(max_dims=3), data=st.data())
def test_diag_embed(x: np.ndarray, data: st.DataObject) -> None:
    offset = data.draw(st.integers(-3, 3))
    n = x.ndim + 1
    d1, d2 = data.draw(st.integers(-n - 1, n)), data.draw(st.integers(-n - 1, n))  # out of range and equal too
    agree(lambda lib, t: lib.diag_embed(t, offset, d1, d2), x)
    agree(lambda lib, t: t.diag_embed(offset=offset, dim1=d1, dim2=d2), x)
    agree(lambda lib, t: t.float().diag_embed(offset), x, rtol=F32)
    agree(lambda lib, t: t.diag_embed(), x)
    ints = np.nan_to_num(x, nan=0, posinf=7, neginf=-7).clip(-1e6, 1e6).astype(np.int64)
    agree(lambda lib, t: lib.diag_embed(t, offset, d1, d2), ints)
    agree(lambda lib, t: (t > 0).diag_embed(offset, dim1=d2, dim2=d1), ints)


def test_diag_embed_layout_and_diag() -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    for args in [(0, 0, 2), (2, 3, 1), (-1, -1, 0), (1, -3, -1)]:
        agree(lambda lib, t, args=args: lib.diag_embed(t, *args), x)
    for k in (-2, 0, 3):  # diag of a vector now goes through diag_embed
        agree(lambda lib, t, k=k: lib.diag(t, k), np.array([1.0, -2.0, np.nan]))
    raises(lambda L: L.diag_embed(L.tensor(1.0)))  # a 0-d input has no last dim to lay down
    raises(lambda L: L.ones(2, 3).diag_embed(0, 1, -2))


# ---------------------------------------------------------------- block_diag
DTYPES = [np.float64, np.float32, np.int64, np.int32, np.bool_]


@st.composite
def blocks(draw: Any) -> list[np.ndarray]:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=draw(st.sampled_from([2, 2, 2, 3])), min_side=0,
                                      max_side=3))
        dtype = draw(st.sampled_from(DTYPES))
        x = draw(hnp.arrays(np.float64, shape, elements=SAMPLES | st.sampled_from([1e300, -1e-300])))
        out.append(x.astype(dtype) if dtype in (np.float64, np.float32) else
                   np.nan_to_num(x, nan=0, posinf=5, neginf=-5).clip(-9, 9).astype(dtype))
    return out


@settings(max_examples=80, deadline=None)
@given(xs=blocks())
def test_block_diag(xs: list[np.ndarray]) -> None:
    rtol = F32 if any(x.dtype == np.float32 for x in xs) else F64
    empty_row = any(x.shape == (0,) for x in xs)  # torch's gradient is off there: see the test below
    agree(lambda lib, *ts: lib.block_diag(*ts), *xs, rtol=rtol, grads=not empty_row)
    agree(lambda lib, *ts: lib.block_diag(*(t.reshape(1, 0) if t.shape == (0,) else t for t in ts)), *xs, rtol=rtol)


def test_block_diag_gradient_after_an_empty_vector() -> None:
    """An empty 1-D block takes a (1, 0) row, so the blocks after it move down a row, in torch's forward too; torch
    2.13's backward forgets that row and hands each later block the gradient of the row above its own."""
    g = [[10.0], [20.0]]
    for lib, expected in ((tg, 20.0), (torch, 10.0)):
        a, b = lib.tensor([], requires_grad=True), lib.tensor(5.0, requires_grad=True)
        out = lib.block_diag(a, b)
        assert out.tolist() == [[0.0], [5.0]]
        out.backward(lib.tensor(g))
        assert b.grad.item() == expected and a.grad.shape == (0,)


def test_block_diag_cases() -> None:
    agree(lambda lib: lib.block_diag())  # an empty (1, 0) float32 matrix
    agree(lambda lib, a, b, c: lib.block_diag(a, b, c), np.array(2.0), np.zeros(0), np.ones((2, 0)))
    agree(lambda lib, a, b: lib.block_diag(a, b), np.array([1, 2]), np.array(2.5))  # a 0-d float promotes ints
    agree(lambda lib, a, b: lib.block_diag(a, b), np.array([1.0, 2.0], np.float32), np.array(2.5))  # float32 stays
    agree(lambda lib, a, b: lib.block_diag(a, b), np.array([True]), np.array([[3]], np.int8))
    raises(lambda L: L.block_diag(L.ones(1, 1, 1)))
    raises(lambda L: L.block_diag([L.ones(1)]))


# ---------------------------------------------------------------- cov and corrcoef
def observations(x: np.ndarray) -> int:
    return x.shape[-1] if x.ndim else 1


@settings(max_examples=80, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5), elements=SAMPLES),
       data=st.data())
def test_cov(x: np.ndarray, data: st.DataObject) -> None:
    correction = data.draw(st.integers(-2, 6))
    n = observations(x) + data.draw(st.sampled_from([0, 0, 0, 0, 1]))  # sometimes one weight too many
    fw = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(-1, 4) if data.draw(st.booleans())
                              else st.integers(0, 3)))
    fw = fw.astype(data.draw(st.sampled_from([np.int64, np.int64, np.int32, np.int8, np.uint8])))
    aw = data.draw(hnp.arrays(np.float64, (n,), elements=st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 4.0])
                              | st.sampled_from([-0.5, np.nan, np.inf, -0.0])))
    agree(lambda lib, t: lib.cov(t, correction=correction), x, rtol=F64)
    agree(lambda lib, t: t.cov(), x, rtol=F64)
    agree(lambda lib, t: t.float().cov(correction=correction), x, rtol=F32)
    # torch 2.13 raises an in-place error for one weighted observation of a leaf (see the test below): a clone there
    leaf = (lambda t: t.clone()) if observations(x) == 1 else (lambda t: t)
    agree(lambda lib, t, f: leaf(t).cov(correction=correction, fweights=f), x, fw, rtol=F64)
    agree(lambda lib, t, a: lib.cov(leaf(t), correction=correction, aweights=a), x, aw, rtol=F64)
    agree(lambda lib, t, f, a: lib.cov(leaf(t), correction=correction, fweights=f, aweights=a), x, fw, aw, rtol=F64)
    agree(lambda lib, t, f, a: leaf(t).float().cov(fweights=f, aweights=a.float()), x, fw, aw, rtol=F32)
    agree(lambda lib, t, a: leaf(t).float().cov(aweights=a), x, aw, rtol=F64)  # float32 data, float64 weights
    ints = np.nan_to_num(x, nan=0, posinf=9, neginf=-9).clip(-9, 9).astype(np.int64)
    agree(lambda lib, t, f: t.cov(fweights=f), ints, fw, rtol=F32)  # integer data: a float32 result
    if n == 1:  # 0-d weights stand for one observation
        agree(lambda lib, t, a: leaf(t).cov(aweights=a.reshape(())), x, aw, rtol=F64)


def test_cov_of_one_weighted_observation() -> None:
    """torch 2.13's corner case for one observation and one kind of weights: the centred data are zeros, made by
    zeroing the input in place. So torch changes the caller's tensor, raises for a leaf that requires grad, and
    raises where the zeros' dtype meets other weights in its matrix product. Ours gives the same values and
    gradients (zeros, 0 for an inf input too), leaves the input alone, computes for leaves, and raises there too."""
    x, w = np.array([[1.5], [np.inf]]), np.array([2])
    theirs = torch.tensor(x)
    torch.cov(theirs, fweights=torch.tensor(w))
    assert theirs.tolist() == [[0.0], [0.0]]  # torch's side effect
    with pytest.raises(RuntimeError, match="in-place"):
        torch.cov(torch.tensor(x, requires_grad=True), fweights=torch.tensor(w), correction=0)
    agree(lambda lib, t, f: t.clone().cov(fweights=f, correction=0), x, w)
    ours = tg.tensor(x, requires_grad=True)
    out = tg.cov(ours, fweights=tg.tensor(w), correction=0)
    out.sum().backward()
    assert out.tolist() == [[0.0, 0.0], [0.0, 0.0]] and ours.grad.tolist() == [[0.0], [0.0]]
    assert ours.tolist() == [[1.5], [np.inf]]
    raises(lambda L: L.cov(L.tensor([[1.5]]), aweights=L.tensor([0.5], dtype=L.float64)))
    raises(lambda L: L.cov(L.tensor([[1]]), aweights=L.tensor([0.5], dtype=L.float64)))
    agree(lambda lib, t, a: t.cov(aweights=a), np.array([[1]]), np.array([0.5], np.float32))
    agree(lambda lib, t, a: t.cov(aweights=a, correction=-1), np.array([[1]]), np.array([0.5], np.float32))


@st.composite
def exact_samples(draw: Any, counts: tuple[int, ...] = (0, 1, 2, 4)) -> np.ndarray:
    """(variables, observations), (observations,) or 0-d, with a power of two observations: means and every sum
    are then exact, so the correlations (and where they touch +-1, clip's gradient) are the same bits in both."""
    n = draw(st.sampled_from(counts))
    shape = draw(st.sampled_from([(draw(st.integers(0, 4)), n), (n,), ()]))
    return draw(hnp.arrays(np.float64, shape, elements=SAMPLES))


@settings(max_examples=80, deadline=None)
@given(x=exact_samples(), y=exact_samples((3, 5)))
def test_corrcoef(x: np.ndarray, y: np.ndarray) -> None:
    agree(lambda lib, t: lib.corrcoef(t), x, rtol=F64)
    agree(lambda lib, t: t.float().corrcoef(), x, rtol=F32)
    agree(lambda lib, t: t.corrcoef(), (x + 3).astype(np.int64) if np.isfinite(x).all() else x, rtol=F32)
    agree(lambda lib, t: t.corrcoef(), y, rtol=F64, grads=False)  # values within rounding, which clip may cut
    agree(lambda lib, t: t.corrcoef(), np.stack([y, 2 * y]) if y.ndim == 1 else y, rtol=F64, grads=False)
    ours = tg.corrcoef(tg.tensor(y)).numpy()
    assert (np.abs(ours[np.isfinite(ours)]) <= 1).all()


def test_corrcoef_clips_to_one() -> None:
    x = np.array([[0.6, 0.04, -0.29], [3 * 0.6, 3 * 0.04, 3 * -0.29]])  # unclipped, 1.0000000000000002 here
    agree(lambda lib, t: lib.corrcoef(t), x)
    assert (tg.corrcoef(tg.tensor(x)).numpy() == 1).all()


def test_cov_warns_and_refuses_as_torch() -> None:
    for lib in (torch, tg):
        with pytest.warns(UserWarning, match="degrees of freedom"):
            lib.cov(lib.tensor([1.0, 2.0]), correction=2)
        with pytest.warns(UserWarning, match="degrees of freedom"):
            lib.corrcoef(lib.ones(2, 1))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            lib.cov(lib.tensor([[1.0, 2.0], [0.0, 5.0]]))
    agree(lambda lib, t: lib.cov(t, correction=3), np.array([[1.0, 2.0], [-1.0, 3.0]]))  # inf and nan, as torch
    agree(lambda lib, t: lib.cov(t), np.zeros((2, 0)))
    agree(lambda lib, t: lib.corrcoef(t), np.zeros((0, 3)))
    x = np.array([[1.0, 2.0, 4.0], [0.5, -1.0, 3.0]])
    for call in [lambda L: L.cov(L.ones(2, 2, 2)), lambda L: L.corrcoef(L.ones(1, 1, 1)),
                 lambda L: L.cov(L.tensor([True, False])), lambda L: L.cov(L.tensor(x), correction=1.0),
                 lambda L: L.cov(L.tensor(x), correction=True),
                 lambda L: L.cov(L.tensor(x), fweights=L.tensor([1.0, 2.0, 3.0])),
                 lambda L: L.cov(L.tensor(x), fweights=L.tensor([True, True, False])),
                 lambda L: L.cov(L.tensor(x), fweights=L.tensor([1, -2, 3])),
                 lambda L: L.cov(L.tensor(x), fweights=L.tensor([1, 2])),
                 lambda L: L.cov(L.tensor(x), fweights=L.tensor([[1, 2, 3]])),
                 lambda L: L.cov(L.tensor(x), fweights=L.tensor([0, 0, 0])),
                 lambda L: L.cov(L.tensor(x), fweights=[1, 2, 3]),
                 lambda L: L.cov(L.tensor(x), aweights=L.tensor([1, 2, 3])),
                 lambda L: L.cov(L.tensor(x), aweights=L.tensor([1.0, float("nan"), 3.0])),
                 lambda L: L.cov(L.tensor(x), aweights=L.tensor([0.0, 0.0, 0.0])),
                 lambda L: L.cov(L.tensor([]), fweights=L.tensor([], dtype=L.int64))]:
        raises(call)


def test_cov_divisors() -> None:
    """torch 2.13's branches for the divisor: sum(w) itself for correction 0 (not sum(w) - 0 * inf), and 0 for one
    observation with aweights alone and correction 1 (rounding leaves 12.9 - 12.9^2 / 12.9 at 1.8e-15)."""
    x = np.array([[1.0, 2.0, 4.0], [0.5, -1.0, 3.0]])
    agree(lambda lib, t, a: lib.cov(t, correction=0, aweights=a), x, np.array([1e200, 1.0, 2.0]))
    agree(lambda lib, t, a: lib.cov(t, correction=0, aweights=a), x, np.array([1e30, 1.0, 2.0], np.float32))
    for aw in (12.9, 0.1, 0.3):
        agree(lambda lib, t, a: lib.cov(t.clone(), aweights=a), np.array([[2.0], [-1.0]]), np.array([aw]))
        agree(lambda lib, t, a: lib.cov(t.clone(), aweights=a), np.array([[2.0]], np.float32),
              np.array([aw], np.float32))
    for dtype in (np.uint8, np.int8, np.int16):  # the weights' sum is an int64, as torch's: 2 - 3 is -1, not 2^64 - 1
        agree(lambda lib, t, f: lib.cov(t, fweights=f, correction=3), x, np.array([1, 0, 1], dtype))
        agree(lambda lib, t, f: lib.cov(t.clone(), fweights=f, correction=2), x[:, :1], np.array([1], dtype))


def test_cov_overflow() -> None:
    x = np.array([[1e200, 0.0, 3.0], [1.0, 2.0, 4.0]])  # the first variance overflows to inf, the rest is finite
    agree(lambda lib, t: lib.cov(t), x, rtol=F64)
    agree(lambda lib, t: lib.corrcoef(t), x, rtol=F64)
    agree(lambda lib, t: lib.cov(t), np.array([1e-200, -1e-200, 0.0]), rtol=F64)  # underflows to 0


def test_cov_integer_overflow_wraps_as_torch() -> None:
    agree(lambda lib, t, f: lib.cov(t, fweights=f), np.array([[1, 2, 3]], np.int8), np.array([100] * 3, np.int8))
    agree(lambda lib, t: lib.cov(t), np.array([[200, 3, 255], [0, 1, 2]], np.uint8))


# ---------------------------------------------------------------- logdet (and slogdet, which it reuses)
@settings(max_examples=60, deadline=None)
@given(a=matrices(3), data=st.data())
def test_logdet(a: np.ndarray, data: st.DataObject) -> None:
    n = a.shape[-1]
    well = a + 4 * n * np.eye(n)  # diagonally dominant with a positive diagonal: det > 0
    flipped = well[..., ::-1, :].copy()  # rows reversed: det < 0 where n % 4 is 2 or 3, so nan and a zero gradient
    for m in (well, -well, flipped):
        agree(lambda lib, t: lib.logdet(t), m, rtol=F64)
        agree(lambda lib, t: t.logdet(), m, rtol=F64)
        agree(lambda lib, t: t.float().logdet(), m, rtol=F32)
        agree(lambda lib, t: tuple(lib.linalg.slogdet(t)), m, rtol=F64)
    if n:  # a nan anywhere: nan (sign 0), and nan gradients, as torch
        i, j = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
        poisoned = well.copy()
        poisoned[..., i, j] = np.nan
        agree(lambda lib, t: lib.logdet(t), poisoned)
        agree(lambda lib, t: tuple(lib.linalg.slogdet(t)), poisoned)
        agree(lambda lib, t: t.float().logdet(), poisoned)


@settings(max_examples=40, deadline=None)
@given(a=matrices(3), data=st.data())
def test_logdet_of_singular_matrices(a: np.ndarray, data: st.DataObject) -> None:
    """-inf (sign 0) as torch; the gradient, where torch's LU solve leaves an arbitrary pattern of infs and nans
    (numbers here and there), is nan throughout here."""
    n = a.shape[-1]
    if n == 0:
        return
    i = data.draw(st.integers(0, n - 1))
    singular = np.where(np.abs(a) < 1e-30, 0.0, a)  # no float32 subnormals: MKL's 1 / pivot overflows on them (nan)
    if data.draw(st.booleans()):  # a zero row or column: a zero pivot in any LU (two equal rows need not give one:
        singular[..., i, :] = 0  # MKL divides by a pivot as a multiplication by its reciprocal, off by an ulp)
    else:
        singular[..., :, i] = data.draw(st.sampled_from([0.0, -0.0]))
    for dtype in (np.float64, np.float32):
        agree(lambda lib, t: lib.logdet(t), singular.astype(dtype), grads=False)
        t = tg.tensor(singular.astype(dtype), requires_grad=True)
        tg.logdet(t).sum().backward()
        assert np.isnan(t.grad.numpy()).all()
        theirs = torch.tensor(singular.astype(dtype), requires_grad=True)
        torch.logdet(theirs).sum().backward()
        assert theirs.grad.numel() == 0 or not np.isfinite(theirs.grad.numpy()).all()


def test_logdet_cases() -> None:
    agree(lambda lib, t: lib.logdet(t), np.zeros((0, 0)))
    agree(lambda lib, t: lib.logdet(t), np.zeros((2, 0, 0)))
    agree(lambda lib, t: lib.logdet(t), np.zeros((0, 3, 3)))
    agree(lambda lib, t: lib.logdet(t), np.array([[1.0, 2.0], [3.0, 4.0]]))  # det -2: nan, gradient 0
    agree(lambda lib, t: lib.logdet(t), np.array([[1e-300, 0.0], [0.0, 1e-300]]))  # gradient 1e300
    # ill-conditioned (not singular): the gradient is A^-T exactly, 1e16 here (a pseudo-inverse would give 0)
    agree(lambda lib, t: lib.logdet(t), np.array([[1.0, 0.0], [0.0, 1e-16]]))
    agree(lambda lib, t: lib.logdet(t), np.array([[1.0, 0.0], [0.0, 1e-8]], np.float32), rtol=F32)
    agree(lambda lib, t: lib.logdet(t), np.array([[np.inf, 1.0], [1.0, 1.0]]))  # inf; gradient [[0, 0], [0, 1]]
    agree(lambda lib, t: lib.logdet(t), np.array([[-np.inf, 1.0], [1.0, 1.0]]))  # det -inf: nan, gradient 0
    agree(lambda lib, t: lib.linalg.slogdet(t).logabsdet, np.array([[np.nan, 1.0], [1.0, 1.0]]))
    for call in [lambda L: L.logdet(L.ones(2, 2, dtype=L.int64)), lambda L: L.logdet(L.ones(2, 3)),
                 lambda L: L.logdet(L.ones(3))]:
        raises(call)


def test_names_are_bound() -> None:
    for name in ("diag_embed", "cov", "corrcoef", "logdet"):
        assert callable(getattr(tg.Tensor, name)) and callable(getattr(tg, name))
    assert callable(tg.block_diag) and not hasattr(torch.Tensor, "block_diag")
    assert not hasattr(tg.Tensor, "block_diag")
