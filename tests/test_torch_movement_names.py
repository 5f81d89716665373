"""torch's movement, indexing, order-statistic and small linalg names against torch 2.13: repeat, repeat_interleave,
index_select, flip, roll, unbind, narrow, movedim, broadcast_to, outer, addmm, diag, diagonal, cumprod, nonzero,
where(cond), kthvalue, median, nanmedian, unique, bincount, histc, renorm (values, gradients, dtypes, empty and 0-d
tensors, errors).

``agree(f, *arrays)`` calls ``f(lib, *tensors)`` in both libraries (float leaves require grad), backpropagates a fixed
upstream gradient through every differentiable output, and compares outputs, dtypes, shapes and input gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

ERRORS = (ValueError, IndexError, TypeError, RuntimeError, NotImplementedError)
SPECIAL = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, 1e300, -1e300, np.inf, -np.inf, np.nan])
FINITE = st.floats(-1e3, 1e3)


def arrays(min_dims: int = 0, max_dims: int = 3, min_side: int = 0, elements: Any = None) -> Any:
    shapes = hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=4)
    return hnp.arrays(np.float64, shapes, elements=FINITE | SPECIAL if elements is None else elements)


def _flat(out: Any) -> list[Any]:
    return [x for o in out for x in _flat(o)] if isinstance(out, (tuple, list)) else [out]


def run(lib: Any, f: Callable[..., Any], arrays_: tuple[np.ndarray, ...], grads: bool) -> tuple[list, list]:
    inputs = [lib.tensor(a, requires_grad=grads and a.dtype.kind == "f") for a in arrays_]
    outs = _flat(f(lib, *inputs))
    values = [o.detach().numpy() if lib is torch else o.numpy() for o in outs]
    wanted = [o for o in outs if grads and o.requires_grad]
    if wanted:
        total = sum((o * lib.tensor(np.cos(np.arange(o.numel()) + 1.0).reshape(tuple(o.shape)))).sum()
                    for o in wanted)
        total.backward()
    return values, [None if t.grad is None else t.grad.numpy() for t in inputs]


def agree(f: Callable[..., Any], *arrays_: np.ndarray, grads: bool = True, rtol: float = 1e-12) -> None:
    """Same values, dtypes, shapes and gradients; or both raise."""
    try:
        theirs = run(torch, f, arrays_, grads)
    except ERRORS:
        with pytest.raises(ERRORS):
            run(tg, f, arrays_, grads)
        return
    ours = run(tg, f, arrays_, grads)
    assert len(ours[0]) == len(theirs[0])
    for a, b in zip(ours[0], theirs[0]):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, equal_nan=True)
    for a, b in zip(ours[1], theirs[1]):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, equal_nan=True)


def raises(f: Callable[[Any], Any]) -> None:
    """torch raises on ``f(torch)``, and so do we on ``f(tg)``."""
    with pytest.raises(ERRORS):
        f(torch)
    with pytest.raises(ERRORS):
        f(tg)


def dim_of(data: st.DataObject, ndim: int) -> int:
    """A valid dim, negative half the time (0 or -1 for a 0-d tensor)."""
    n = max(ndim, 1)
    return data.draw(st.integers(-n, n - 1))


# ---------------------------------------------------------------- movement
@settings(max_examples=40, deadline=None)
@given(x=arrays(), data=st.data())
def test_repeat(x: np.ndarray, data: st.DataObject) -> None:
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=x.ndim, max_size=x.ndim + 2))
    agree(lambda lib, t: t.repeat(*sizes), x)
    agree(lambda lib, t: t.repeat(sizes), x)


@settings(max_examples=40, deadline=None)
@given(x=arrays(), data=st.data())
def test_repeat_interleave(x: np.ndarray, data: st.DataObject) -> None:
    r = data.draw(st.integers(0, 3))
    dim = data.draw(st.none() | st.integers(-4, 3))
    agree(lambda lib, t: t.repeat_interleave(r, dim=dim), x)
    agree(lambda lib, t: lib.repeat_interleave(t, r, dim), x)
    if x.ndim:
        d = dim_of(data, x.ndim)
        counts = np.asarray(data.draw(st.lists(st.integers(0, 3), min_size=x.shape[d], max_size=x.shape[d])),
                            dtype=np.int64)
        agree(lambda lib, t: t.repeat_interleave(lib.tensor(counts), dim=d), x)


@settings(max_examples=40, deadline=None)
@given(x=arrays(), data=st.data())
def test_flip_roll_movedim(x: np.ndarray, data: st.DataObject) -> None:
    n = max(x.ndim, 1)
    dims = data.draw(st.lists(st.integers(-n - 1, n), max_size=3))
    agree(lambda lib, t: t.flip(dims), x)
    agree(lambda lib, t: lib.flip(t, dims=dims), x)
    shifts = data.draw(st.lists(st.integers(-6, 6), min_size=len(dims), max_size=len(dims)))
    if x.size or all(-n <= d < n for d in dims):  # torch skips its dim check for an empty tensor; we do not
        agree(lambda lib, t: t.roll(shifts, dims), x)
    agree(lambda lib, t: lib.roll(t, shifts[0] if shifts else 3), x)  # dims=None: over the flattened tensor
    dst = data.draw(st.permutations(dims))
    agree(lambda lib, t: t.movedim(dims, dst), x)
    agree(lambda lib, t: lib.moveaxis(t, dims[0] if dims else 0, -1), x)


@settings(max_examples=40, deadline=None)
@given(x=arrays(), data=st.data())
def test_unbind_narrow_broadcast_to(x: np.ndarray, data: st.DataObject) -> None:
    d = dim_of(data, x.ndim)
    agree(lambda lib, t: t.unbind(d), x)
    agree(lambda lib, t: lib.unbind(t, dim=d), x)
    size = x.shape[d] if x.ndim else 0
    start = data.draw(st.integers(-size - 1, size + 1))
    length = data.draw(st.integers(-1, size + 1))
    agree(lambda lib, t: t.narrow(d, start, length), x)
    shape = data.draw(st.lists(st.integers(0, 3), max_size=2)) + [data.draw(st.sampled_from([n, 1]))
                                                                    for n in x.shape]
    agree(lambda lib, t: lib.broadcast_to(t, shape), x)


def test_narrow_and_diagonal_are_views_as_in_torch() -> None:
    for lib in (tg, torch):
        x = lib.zeros(3, 4)
        x.narrow(1, 1, 2).add_(1)
        x.diagonal(1).fill_(5)
        np.testing.assert_array_equal(x.numpy(), [[0, 5, 1, 0], [0, 1, 5, 0], [0, 1, 1, 5]])
        y = lib.ones(2)
        y.flip(0).add_(1)  # a copy: y is unchanged
        assert y.tolist() == [1.0, 1.0]


# ---------------------------------------------------------------- indexing
@settings(max_examples=40, deadline=None)
@given(x=arrays(), data=st.data(), dtype=st.sampled_from([np.int64, np.int32]))
def test_index_select(x: np.ndarray, data: st.DataObject, dtype: type) -> None:
    d = dim_of(data, x.ndim)
    n = x.shape[d] if x.ndim else 1
    idx = np.asarray(data.draw(st.lists(st.integers(0, n - 1), max_size=5) if n else st.just([])), dtype=dtype)
    agree(lambda lib, t: t.index_select(d, lib.tensor(idx)), x)  # repeated indices: the gradient adds up
    agree(lambda lib, t: lib.index_select(t, d, lib.tensor(idx)), x)
    if n:
        i = data.draw(st.integers(0, n - 1))
        agree(lambda lib, t: t.index_select(d, lib.tensor(i)), x)  # a 0-d index
    bad = data.draw(st.sampled_from([-1, n]))
    raises(lambda lib: lib.tensor(x).index_select(d, lib.tensor([bad])))
    raises(lambda lib: lib.tensor(x).index_select(d, lib.tensor([0.0])))
    raises(lambda lib: lib.tensor(x).index_select(x.ndim + 1, lib.tensor([0])))


@settings(max_examples=40, deadline=None)
@given(x=arrays(elements=st.sampled_from([0.0, -0.0, 1.0, np.nan, -2.0])))
def test_nonzero_and_one_argument_where(x: np.ndarray) -> None:
    agree(lambda lib, t: t.nonzero(), x)
    agree(lambda lib, t: lib.nonzero(t, as_tuple=True), x)
    agree(lambda lib, t: lib.where(t != 0), x)
    agree(lambda lib, t: lib.argwhere(t), x)


@settings(max_examples=40, deadline=None)
@given(counts=hnp.arrays(np.int64, st.integers(0, 8), elements=st.integers(0, 6)), minlength=st.integers(0, 9),
       wdtype=st.sampled_from([None, np.float32, np.float64, np.int64]))
def test_bincount(counts: np.ndarray, minlength: int, wdtype: Any) -> None:
    w = np.linspace(-1.5, 2.25, counts.size).astype(wdtype) if wdtype else None
    agree(lambda lib, c: lib.bincount(c, None if w is None else lib.tensor(w), minlength), counts, rtol=1e-6)
    agree(lambda lib, c: c.bincount(minlength=minlength), counts)


def test_bincount_refuses_what_torch_refuses() -> None:
    raises(lambda lib: lib.bincount(lib.tensor([1, -1])))
    raises(lambda lib: lib.bincount(lib.tensor([[1]])))
    raises(lambda lib: lib.bincount(lib.tensor([1.0])))
    raises(lambda lib: lib.bincount(lib.tensor([1, 2]), lib.tensor([1.0])))
    raises(lambda lib: lib.bincount(lib.tensor([1, 2]), minlength=-1))


# ---------------------------------------------------------------- small linalg
@settings(max_examples=40, deadline=None)
@given(a=arrays(1, 1), b=arrays(1, 1), dtypes=st.sampled_from([(np.float64, np.float64), (np.int64, np.float32),
                                                                (np.float32, np.float64), (np.int64, np.int64)]))
def test_outer(a: np.ndarray, b: np.ndarray, dtypes: tuple[type, type]) -> None:
    with np.errstate(invalid="ignore", over="ignore"):
        a, b = np.nan_to_num(a).astype(dtypes[0]), np.nan_to_num(b).astype(dtypes[1])
    agree(lambda lib, x, y: lib.outer(x, y), a, b, rtol=1e-6)
    agree(lambda lib, x, y: x.ger(y), a, b, rtol=1e-6)
    raises(lambda lib: lib.outer(lib.ones(2, 2), lib.ones(2)))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 3), k=st.integers(0, 3), m=st.integers(0, 3), data=st.data(),
       beta=st.sampled_from([1.0, 0.0, 2.5, -1.0]), alpha=st.sampled_from([1.0, 0.0, 0.5]))
def test_addmm(n: int, k: int, m: int, data: st.DataObject, beta: float, alpha: float) -> None:
    shape = data.draw(st.sampled_from([(n, m), (m,), (1, m), (n, 1), ()]))
    inp = data.draw(hnp.arrays(np.float64, shape, elements=FINITE | SPECIAL))
    m1 = data.draw(hnp.arrays(np.float64, (n, k), elements=FINITE | st.just(np.nan)))
    m2 = data.draw(hnp.arrays(np.float64, (k, m), elements=FINITE))
    agree(lambda lib, i, x, y: lib.addmm(i, x, y, beta=beta, alpha=alpha), inp, m1, m2, rtol=1e-9)
    agree(lambda lib, i, x, y: i.addmm(x, y), inp, m1, m2, rtol=1e-9)


def test_addmm_refuses_what_torch_refuses() -> None:
    raises(lambda lib: lib.addmm(lib.ones(2, 3), lib.ones(2), lib.ones(2, 3)))
    raises(lambda lib: lib.addmm(lib.ones(2, 3, dtype=lib.float64), lib.ones(2, 2), lib.ones(2, 3)))
    raises(lambda lib: lib.addmm(lib.ones(2, 3, 1), lib.ones(2, 2), lib.ones(2, 3)))


@settings(max_examples=40, deadline=None)
@given(x=arrays(0, 3), offset=st.integers(-4, 4), data=st.data())
def test_diag_and_diagonal(x: np.ndarray, offset: int, data: st.DataObject) -> None:
    agree(lambda lib, t: lib.diag(t, offset), x)
    agree(lambda lib, t: t.diag(diagonal=offset), x)
    d1, d2 = dim_of(data, x.ndim), dim_of(data, x.ndim)
    agree(lambda lib, t: t.diagonal(offset, d1, d2), x)


# ---------------------------------------------------------------- scans and order statistics
@settings(max_examples=40, deadline=None)
@given(x=arrays(elements=st.sampled_from([0.0, 0.0, -1.0, 2.0, 0.5, -3.0, 1.25])), data=st.data())
def test_cumprod_with_zeros(x: np.ndarray, data: st.DataObject) -> None:
    """Zeros anywhere (none, one, several per slice): torch's gradient, not 0 / 0."""
    d = dim_of(data, x.ndim)
    agree(lambda lib, t: t.cumprod(d), x)
    agree(lambda lib, t: lib.cumprod(t, dim=d), x)


@pytest.mark.parametrize("x", [[0.0, 2.0, 3.0], [2.0, 0.0, 3.0, 4.0], [2.0, 3.0, 0.0], [0.0, 0.0, 5.0],
                               [1.5, 0.0, 2.0, 0.0, 3.0], [3.0], [0.0]])
def test_cumprod_gradient_at_zeros(x: list[float]) -> None:
    agree(lambda lib, t: t.cumprod(0), np.asarray(x))


@settings(max_examples=40, deadline=None)
@given(x=arrays(elements=FINITE | SPECIAL), data=st.data(),
       dtype=st.sampled_from([None, np.float32, np.int64, np.int32, np.bool_]))
def test_cumprod_dtypes_and_specials(x: np.ndarray, data: st.DataObject, dtype: Any) -> None:
    d = dim_of(data, x.ndim)
    if dtype is not None:
        with np.errstate(invalid="ignore", over="ignore"):
            x = np.nan_to_num(np.clip(x, -3, 3)).astype(dtype)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    agree(lambda lib, t: t.cumprod(d), x, rtol=rtol)
    agree(lambda lib, t: t.cumprod(d, dtype=lib.float64), x, rtol=rtol)
    raises(lambda lib: lib.tensor(x).cumprod(max(x.ndim, 1)))


def distinct(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Values without ties (torch's index among equal values is unspecified)."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.5 - 3.0


@settings(max_examples=40, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5), data=st.data(),
       keepdim=st.booleans())
def test_kthvalue_and_median_along_a_dim(shape: tuple[int, ...], data: st.DataObject, keepdim: bool) -> None:
    x = distinct(shape, np.random.default_rng(len(shape)))
    d = dim_of(data, x.ndim)
    k = data.draw(st.integers(0, (x.shape[d] if x.ndim else 1) + 1))
    agree(lambda lib, t: t.kthvalue(k, d, keepdim), x)
    agree(lambda lib, t: lib.kthvalue(t, k, dim=d, keepdim=keepdim), x)
    agree(lambda lib, t: t.median(d, keepdim), x)
    agree(lambda lib, t: lib.median(t, dim=d), x)


@settings(max_examples=40, deadline=None)
@given(x=arrays(elements=st.sampled_from([1.0, 2.0, -1.0, np.nan, np.inf])), data=st.data())
def test_kthvalue_and_median_with_ties_and_nan(x: np.ndarray, data: st.DataObject) -> None:
    """Values as torch's; the index points at an element holding the value (which of equal ones is unspecified;
    a slice with a NaN has median NaN at its first NaN, as in torch)."""
    d = dim_of(data, x.ndim)
    n = x.shape[d] if x.ndim else 1
    if n == 0:
        raises(lambda lib: lib.tensor(x).median(d))
        return
    for name, args in [("kthvalue", (data.draw(st.integers(1, n)), d)), ("median", (d,))]:
        ours = getattr(tg.tensor(x), name)(*args)
        theirs = getattr(torch.tensor(x), name)(*args)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        assert ours.indices.dtype == np.int64 and ours.indices.shape == tuple(theirs.indices.shape)
        picked = np.take_along_axis(x, np.expand_dims(ours.indices.numpy(), d % max(x.ndim, 1)), d % max(x.ndim, 1)) \
            if x.ndim else x
        np.testing.assert_array_equal(picked.reshape(ours.values.shape), ours.values.numpy())
    nan_slices = np.isnan(x).any(axis=d) if x.ndim else np.isnan(x)
    if nan_slices.any():
        np.testing.assert_array_equal(tg.tensor(x).median(d).indices.numpy()[nan_slices],
                                      torch.tensor(x).median(d).indices.numpy()[nan_slices])


@settings(max_examples=40, deadline=None)
@given(x=arrays(elements=st.sampled_from([1.0, 2.0, -1.0, 3.5, np.nan])))
def test_median_of_all_elements(x: np.ndarray) -> None:
    """The lower median (even counts), NaN with a NaN or when empty; the gradient is split among equal elements."""
    agree(lambda lib, t: t.median(), x)
    agree(lambda lib, t: lib.median(t), x)
    if x.size:
        agree(lambda lib, t: t.median(), x.astype(np.int64) if not np.isnan(x).any() else x.astype(np.float32))


def test_order_statistics_refuse_what_torch_refuses() -> None:
    raises(lambda lib: lib.tensor([1.0, 2.0]).kthvalue(0))
    raises(lambda lib: lib.tensor([1.0, 2.0]).kthvalue(3))
    raises(lambda lib: lib.tensor([1.0, 2.0]).kthvalue(1, 1))
    raises(lambda lib: lib.ones(2, 0).median(1))
    raises(lambda lib: lib.tensor([True]).median())


def with_nans(shape: tuple[int, ...], rng: np.random.Generator, fraction: float) -> np.ndarray:
    """Distinct values with about ``fraction`` of them NaN (whole slices all-NaN now and then)."""
    x = np.array(distinct(shape, rng))
    x[rng.random(shape) < fraction] = np.nan
    return x


@settings(max_examples=60, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5), data=st.data(),
       keepdim=st.booleans(), fraction=st.sampled_from([0.0, 0.3, 0.7, 1.0]))
def test_nanmedian_along_a_dim_and_over_all(shape: tuple[int, ...], data: st.DataObject, keepdim: bool,
                                            fraction: float) -> None:
    """The lower median of the non-NaN values, indices and gradients as torch's (an all-NaN slice gives NaN, at
    an index torch leaves unspecified: ours is its first); over all elements a 0-d tensor (NaN when empty or all
    NaN); integers as median."""
    x = with_nans(shape, np.random.default_rng(len(shape) + int(10 * fraction)), fraction)
    d = dim_of(data, x.ndim)
    all_nan = np.isnan(x).all(axis=d % max(x.ndim, 1), keepdims=keepdim) if x.ndim and x.shape[d] else False
    if not np.any(all_nan):
        agree(lambda lib, t: t.nanmedian(d, keepdim), x)
        agree(lambda lib, t: lib.nanmedian(t, dim=d), x)
    elif x.ndim:
        ours, theirs = tg.tensor(x).nanmedian(d, keepdim), torch.tensor(x).nanmedian(d, keepdim)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        np.testing.assert_array_equal(ours.indices.numpy()[~all_nan], theirs.indices.numpy()[~all_nan])
        first = np.argmax(np.isnan(x), axis=d % x.ndim)
        np.testing.assert_array_equal(ours.indices.numpy()[all_nan], (first if not keepdim else
                                                                      np.expand_dims(first, d))[all_nan])
    agree(lambda lib, t: t.nanmedian(), x)
    agree(lambda lib, t: lib.nanmedian(t), x.astype(np.float32))
    if x.size:  # (distinct integers: which of equal values' indices is unspecified)
        agree(lambda lib, t: t.nanmedian(d), (np.array(distinct(shape, np.random.default_rng(0))) * 2).astype(np.int64))


@settings(max_examples=40, deadline=None)
@given(x=arrays(elements=st.sampled_from([1.0, 2.0, -1.0, 3.5, np.nan])))
def test_nanmedian_of_all_elements_with_ties(x: np.ndarray) -> None:
    """The gradient split among the elements equal to the median (among the NaNs when all are NaN)."""
    agree(lambda lib, t: t.nanmedian(), x)


def test_nanmedian_refuses_what_torch_refuses() -> None:
    raises(lambda lib: lib.ones(2, 0).nanmedian(1))
    raises(lambda lib: lib.tensor([True]).nanmedian())
    raises(lambda lib: lib.ones(2, 3).nanmedian(2))


# ---------------------------------------------------------------- histc and renorm
EDGES = st.sampled_from([0.0, 1.0, -1.0, 0.5, 0.1, 0.2, 0.3, 0.7, 2.0, 3.0, 1e-3, np.nan, np.inf, -np.inf])


@settings(max_examples=80, deadline=None)
@given(x=arrays(elements=FINITE | EDGES | st.integers(-6, 6).map(float)), bins=st.integers(1, 12),
       lo=st.sampled_from([0.0, -1.0, 1.0, -3.0, 0.1]), width=st.sampled_from([0.0, 1.0, 2.0, 6.0, 0.7, -1.0]),
       dtype=st.sampled_from([np.float64, np.float32, np.int64]))
def test_histc(x: np.ndarray, bins: int, lo: float, width: float, dtype: type) -> None:
    """Counts as torch's, bin edges and float32 rounding included (values drawn on and near the edges); min == max
    takes the data's range (torch refuses a nan or inf there), an empty range widens, integers refused."""
    if dtype == np.int64:
        x = np.nan_to_num(x, posinf=7, neginf=-7)
    x = x.astype(dtype)
    agree(lambda lib, t: lib.histc(t, bins=bins, min=lo, max=lo + width), x, grads=False)
    agree(lambda lib, t: t.histc(bins, lo, lo + width), x, grads=False)
    agree(lambda lib, t: t.histc(bins), x, grads=False)


def test_histc_over_a_range_wider_than_the_dtype_counts_every_element() -> None:
    """(max - min) bins overflows float32 here, and torch's float32 formula then counts nothing; ours counts in
    float64 then, as numpy.histogram does."""
    x = np.array([0.0, 1e38, 2.9e38, -1e38, 3e38], np.float32)
    for bins in (2, 10):
        edges = (float(np.float32(-1e38)), float(np.float32(3e38)))  # the range in x's dtype, as torch's
        want = np.histogram(x.astype(np.float64), bins=bins, range=edges)[0]
        np.testing.assert_array_equal(tg.histc(tg.tensor(x), bins, -1e38, 3e38).numpy(), want)
    assert torch.histc(torch.tensor(x), 2, -1e38, 3e38).sum() == 0  # (torch's, for the record)
    x = np.array([0.0, 1e308, -1.7e308, 1.7e308])
    np.testing.assert_array_equal(tg.histc(tg.tensor(x), 4, -1.7e308, 1.7e308).numpy(), [1, 0, 1, 2])


def test_histc_refuses_what_torch_refuses() -> None:
    raises(lambda lib: lib.histc(lib.tensor([1.0]), bins=0))
    raises(lambda lib: lib.histc(lib.tensor([1.0]), bins=2, min=np.nan, max=1.0))
    raises(lambda lib: lib.histc(lib.tensor([1.0]), bins=2, min=0.0, max=np.inf))
    raises(lambda lib: lib.histc(lib.tensor([1.0, 2.0]), bins=2, min=3.0, max=1.0))
    raises(lambda lib: lib.histc(lib.tensor([1, 2]), bins=2))
    np.testing.assert_array_equal(tg.histc(tg.tensor([1.0, 2.0, 3.0]), np.int64(3)).numpy(), [1, 1, 1])
    with pytest.raises(ValueError, match="bins must be a positive int"):
        tg.histc(tg.tensor([1.0]), 2.5)


@settings(max_examples=60, deadline=None)
@given(x=arrays(min_dims=2, elements=FINITE | st.sampled_from([0.0, -0.0, 1.0, -2.0, 1e-3])), data=st.data(),
       p=st.sampled_from([1.0, 2.0, 3.0, 0.5, np.inf]), maxnorm=st.sampled_from([0.0, 0.5, 1.0, 5.0, 1e3]))
def test_renorm(x: np.ndarray, data: st.DataObject, p: float, maxnorm: float) -> None:
    """Slices along dim with p-norm above maxnorm scaled to it (torch's 1e-7 included); the gradient through the
    norm as torch's; float32 too."""
    d = dim_of(data, x.ndim)
    agree(lambda lib, t: t.renorm(p, d, maxnorm), x, rtol=1e-9)
    # (float32 values whose p-th powers underflow are left out: torch's forward finds their norm 0 and leaves the
    # slice, its backward scales it, so its gradient there is 0 where its own forward says 1; ours follows its
    # forward. At p=3 that is from 2.2e-16 down: [2.2e-16, 0] with maxnorm 0)
    with np.errstate(all="ignore"):
        under = np.abs(x) ** (p if p != np.inf else 1.0) < 1e-37
    small = np.where(under, 0.0, x).astype(np.float32)
    # (nor a slice whose norm is within float32 rounding of maxnorm: whether it is scaled, and so its gradient,
    # depends on the last bit of each library's norm; [0.00390625, 1] at p=3 is 1 + 2e-8, which ours rounds to
    # 1.0 and leaves while torch's float32 norm comes out above 1 and scales)
    n = small.shape[d]
    rows = np.abs(np.moveaxis(small, d, 0).reshape(n, small.size // max(n, 1)).astype(np.float64))
    norms = rows.max(axis=1, initial=0.0) if p == np.inf else (rows**p).sum(axis=1) ** (1 / p)
    if not np.any(np.abs(norms - maxnorm) <= 1e-6 * maxnorm):
        agree(lambda lib, t: lib.renorm(t, p, d, maxnorm), small, rtol=2e-5)


def test_renorm_refuses_what_torch_refuses() -> None:
    raises(lambda lib: lib.ones(3).renorm(2, 0, 1.0))
    raises(lambda lib: lib.ones(2, 3).renorm(0, 0, 1.0))
    raises(lambda lib: lib.ones(2, 3).renorm(-1, 0, 1.0))
    raises(lambda lib: lib.ones(2, 3).renorm(2, 0, -1.0))
    raises(lambda lib: lib.ones(2, 3).renorm(2, 2, 1.0))
    raises(lambda lib: lib.ones(2, 3, dtype=lib.int64).renorm(2, 0, 1.0))
    raises(lambda lib: lib.ones(2, 0).renorm(np.inf, 0, 1.0))
    with pytest.raises(ValueError, match="inf norm of an empty slice"):
        tg.ones(2, 0).renorm(np.inf, 0, 1.0)


# ---------------------------------------------------------------- unique
@settings(max_examples=40, deadline=None)
@given(x=arrays(elements=st.sampled_from([0.0, 3.0, -1.0, 2.5, np.nan, np.inf])), inverse=st.booleans(),
       counts=st.booleans(), dtype=st.sampled_from([np.float64, np.float32, np.int64]))
def test_unique(x: np.ndarray, inverse: bool, counts: bool, dtype: type) -> None:
    if dtype == np.int64:
        x = np.nan_to_num(x, posinf=7).astype(np.int64)
    x = x.astype(dtype)
    if inverse and np.isnan(x).any():
        # each NaN is its own value, and which of them an element maps to follows torch's unstable sort: the
        # inverse is unspecified there, so check that it rebuilds x instead
        u, inv = tg.unique(tg.tensor(x), return_inverse=True)
        np.testing.assert_array_equal(u.numpy()[inv.numpy()], x)
        inverse = False
    agree(lambda lib, t: lib.unique(t, return_inverse=inverse, return_counts=counts), x, grads=False)
    agree(lambda lib, t: t.unique(sorted=True, return_inverse=inverse, return_counts=counts), x, grads=False)


# ---------------------------------------------------------------- errors
def test_movement_refuses_what_torch_refuses() -> None:
    raises(lambda lib: lib.ones(2, 3).repeat(2))
    raises(lambda lib: lib.ones(2).repeat(-1))
    raises(lambda lib: lib.ones(2).repeat_interleave(-1))
    raises(lambda lib: lib.ones(2, 3).repeat_interleave(2, dim=2))
    raises(lambda lib: lib.tensor(5.0).repeat_interleave(2, dim=0))
    raises(lambda lib: lib.ones(2, 3).flip((0, 0)))
    raises(lambda lib: lib.ones(2, 3).flip(2))
    raises(lambda lib: lib.ones(2, 3).roll((1, 2), (0,)))
    raises(lambda lib: lib.ones(2, 3).roll(1, 2))
    raises(lambda lib: lib.tensor(5.0).roll(1, 0))
    raises(lambda lib: lib.tensor(5.0).unbind(0))
    raises(lambda lib: lib.ones(2).unbind(1))
    raises(lambda lib: lib.ones(5).narrow(0, 3, 3))
    raises(lambda lib: lib.ones(5).narrow(0, -6, 0))
    raises(lambda lib: lib.ones(5).narrow(0, 1, -1))
    raises(lambda lib: lib.tensor(5.0).narrow(0, 0, 1))
    raises(lambda lib: lib.ones(2, 3).movedim((0, 0), (1, 0)))
    raises(lambda lib: lib.ones(2, 3).movedim((0, 1), (1,)))
    raises(lambda lib: lib.ones(2, 3).movedim(0, 2))
    raises(lambda lib: lib.broadcast_to(lib.ones(2, 3), (3, 3)))
    raises(lambda lib: lib.diag(lib.tensor(5.0)))
    raises(lambda lib: lib.diag(lib.ones(2, 2, 2)))
    raises(lambda lib: lib.ones(2, 2).diagonal(0, 1, 1))
    raises(lambda lib: lib.where(lib.ones(2) > 0, lib.ones(2)))


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
                    elements=st.sampled_from([0.0, -0.0, 1.0, 2.0, -np.inf, np.inf])), data=st.data(),
       flags=st.tuples(st.booleans(), st.booleans()))
def test_unique_along_a_dim(x: np.ndarray, data: st.DataObject, flags: tuple[bool, bool]) -> None:
    """unique(dim=): the distinct slices in lexicographic order, the inverse (a.shape[dim],) and the counts, as
    torch; torch's errors for a 0-d input or an empty dim besides ``dim``."""
    dim = dim_of(data, x.ndim)
    inverse, counts = flags
    agree(lambda lib, t: lib.unique(t, return_inverse=inverse, return_counts=counts, dim=dim), x, grads=False)
    agree(lambda lib, t: t.long().unique(sorted=False, dim=dim), x.clip(-5, 5), grads=False)
    raises(lambda lib: lib.unique(lib.tensor(3.0), dim=0))


def test_unique_along_a_dim_puts_nan_slices_last_each_distinct() -> None:
    """torch orders slices holding NaN by comparisons that NaN makes false (here first); ours sorts NaN last, as
    1-D unique does, and like torch never merges two slices holding NaN."""
    x = tg.tensor([[np.nan, 1.0], [np.nan, 1.0], [0.0, 2.0], [-0.0, 2.0]])
    values, inverse, counts = tg.unique(x, dim=0, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(values.numpy(), [[0.0, 2.0], [np.nan, 1.0], [np.nan, 1.0]])
    np.testing.assert_array_equal(inverse.numpy(), [1, 2, 0, 0])
    np.testing.assert_array_equal(counts.numpy(), [2, 1, 1])
