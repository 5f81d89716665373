"""torch 2.13's scatter_reduce (sum, prod, mean, amax, amin; include_self; the in-place and function forms) and
unique_consecutive against torch: values, dtypes, shapes, gradients and errors, on hypothesis inputs with repeated
indices, ties, zeros, NaN, inf, -0, empty and 0-d tensors, in float32, float64, int64 and bool."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import FINITE, SPECIAL, agree, dim_of, raises

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

REDUCES = ["sum", "prod", "mean", "amax", "amin"]
TIES = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0])  # repeated values: ties for amax / amin, zeros for prod
DTYPES = [np.float64, np.float32, np.int64]


def values(data: st.DataObject, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    if dtype == np.int64:
        return data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-4, 4)))
    with np.errstate(over="ignore"):
        return data.draw(hnp.arrays(np.float64, shape, elements=TIES | FINITE | SPECIAL)).astype(dtype)


def problem(data: st.DataObject, dtype: type, bad: bool = False) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """(self, dim, index, src) that torch takes: index of self's dims (0-d and 1-d interchangeable), no larger than
    self but along dim, src at least index's shape; with ``bad``, indices may be out of range or negative."""
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    dim = dim_of(data, len(shape))
    sides = shape or (1,)
    n = sides[dim % len(sides)]
    if len(sides) == 1 and (n or bad) and data.draw(st.booleans()):
        index_shape: tuple[int, ...] = ()  # a 0-d index: one element
    else:
        index_shape = tuple(data.draw(st.integers(0, 5 if d == dim % len(sides) else n)) for d, n in enumerate(sides))
    top = n + 1 if bad else n - 1
    index = data.draw(hnp.arrays(np.int64, index_shape, elements=st.integers(-2 if bad else 0, max(top, 0))))
    if n == 0 and not bad:
        index = index[tuple(slice(0, 0) for _ in index_shape)] if index_shape else index  # nothing to point at
    if not index.shape:
        src_shape = data.draw(st.sampled_from([(), (1,), (2,)]))
    else:
        src_shape = tuple(k + data.draw(st.integers(0, 1)) if data.draw(st.booleans()) else k for k in index.shape)
    return values(data, shape, dtype), dim, index, values(data, src_shape, dtype)


def check(a: np.ndarray, dim: int, index: np.ndarray, src: np.ndarray, reduce: str, include_self: bool) -> None:
    """Ours against torch for the method, the function and the in-place form; gradients where torch has them (an
    src larger than index: torch's backward fails, ours pads with zeros, checked against torch on the part used)."""
    rtol = 1e-5 if a.dtype == np.float32 else 1e-12
    same = src.shape == index.shape
    agree(lambda lib, x, i, s: x.scatter_reduce(dim, i, s, reduce, include_self=include_self), a, index, src,
          rtol=rtol, grads=same)
    agree(lambda lib, x, i, s: lib.scatter_reduce(x, dim, i, s, reduce=reduce, include_self=include_self), a, index,
          src, rtol=rtol, grads=same)
    agree(lambda lib, x, i, s: (x * 1).scatter_reduce_(dim, i, s, reduce, include_self=include_self), a, index, src,
          rtol=rtol, grads=same)
    if not same and index.size and a.dtype != np.int64:  # (0-d counts as 1-d)
        used = tuple(slice(0, k) for k in index.shape or (1,))
        theirs_src = torch.tensor(src.reshape(src.shape or (1,))[used].reshape(index.shape), requires_grad=True)
        theirs_self = torch.tensor(a, requires_grad=True)
        up = np.cos(np.arange(a.size) + 1.0).reshape(a.shape)
        (theirs_self.scatter_reduce(dim, torch.tensor(index), theirs_src, reduce, include_self=include_self)
         * torch.tensor(up)).sum().backward()
        ours_src, ours_self = tg.tensor(src, requires_grad=True), tg.tensor(a, requires_grad=True)
        (ours_self.scatter_reduce(dim, tg.tensor(index), ours_src, reduce, include_self=include_self)
         * tg.tensor(up)).sum().backward()
        padded = np.zeros(src.shape or (1,), dtype=src.dtype)
        padded[used] = theirs_src.grad.numpy().reshape(padded[used].shape)
        np.testing.assert_allclose(ours_src.grad.numpy(), padded.reshape(src.shape), rtol=rtol, atol=rtol,
                                   equal_nan=True)
        np.testing.assert_allclose(ours_self.grad.numpy(), theirs_self.grad.numpy(), rtol=rtol, atol=rtol,
                                   equal_nan=True)


@settings(max_examples=120, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), reduce=st.sampled_from(REDUCES), include_self=st.booleans())
def test_scatter_reduce_matches_torch(data: st.DataObject, dtype: type, reduce: str, include_self: bool) -> None:
    check(*problem(data, dtype), reduce, include_self)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), reduce=st.sampled_from(REDUCES), include_self=st.booleans())
def test_scatter_reduce_many_repeats(data: st.DataObject, reduce: str, include_self: bool) -> None:
    """Many elements into few places (long runs of one index, int32 indices): every update applied, in order."""
    n, m = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 30))
    index = data.draw(hnp.arrays(np.int64, (2, m), elements=st.integers(0, n - 1)))
    for dtype in (np.float64, np.float32, np.int64):
        a, src = values(data, (2, n), dtype), values(data, (2, m), dtype)
        check(a, 1, index, src, reduce, include_self)
    agree(lambda lib, x, i, s: x.scatter_reduce(1, i.int(), s, reduce, include_self=include_self),
          values(data, (2, n), np.float64), index, values(data, (2, m), np.float64))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), reduce=st.sampled_from(REDUCES), include_self=st.booleans())
def test_scatter_reduce_bool(data: st.DataObject, reduce: str, include_self: bool) -> None:
    a, dim, index, _ = problem(data, np.int64)
    src_shape = index.shape
    a, src = a > 0, data.draw(hnp.arrays(np.bool_, src_shape))
    agree(lambda lib, x, i, s: x.scatter_reduce(dim, i, s, reduce, include_self=include_self), a, index, src)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES), reduce=st.sampled_from(REDUCES))
def test_scatter_reduce_refuses_what_torch_refuses(data: st.DataObject, dtype: type, reduce: str) -> None:
    a, dim, index, src = problem(data, dtype, bad=True)  # indices out of range or negative raise
    agree(lambda lib, x, i, s: x.scatter_reduce(dim, i, s, reduce), a, index, src, grads=False)


def test_scatter_reduce_errors() -> None:
    x, i, s = np.arange(4.0), np.array([0, 0, 2]), np.array([1.0, 2.0, 3.0])

    def call(*args: Any, **kwargs: Any) -> Any:
        return lambda lib: lib.tensor(x).scatter_reduce(*(lib.tensor(a) if isinstance(a, np.ndarray) else a
                                                          for a in args), **kwargs)
    raises(call(0, i, s, "add"))  # not a reduction's name
    raises(call(0, i, 1.0, "sum"))  # src must be a tensor
    raises(call(0, i, s.astype(np.float32), "sum"))  # dtypes differ
    raises(call(0, i.astype(np.int16), s, "sum"))  # index: int64 or int32 only
    raises(call(0, i.astype(np.float64), s, "sum"))
    raises(call(0, np.array([0, 4, 1]), s, "amax"))  # out of range
    raises(call(0, np.array([0, -1, 1]), s, "amax"))  # negative
    raises(call(0, i, s[:2], "sum"))  # index larger than src
    raises(call(0, i[None], s[None], "sum"))  # dims differ from self's
    raises(call(0, i, s[None], "sum"))  # src's dims differ from index's
    raises(call(1, i, s, "sum"))  # dim out of range
    raises(call(0, i, s, "sum", True))  # include_self is keyword-only
    raises(lambda lib: lib.scatter_reduce(lib.tensor(x), 0, lib.tensor(i), lib.tensor(s), "sum", True))
    raises(lambda lib: lib.tensor([True, False]).scatter_reduce(0, lib.tensor([1]), lib.tensor([True]), "mean"))
    raises(lambda lib: lib.zeros(2, 3).scatter_reduce(1, lib.tensor([[0], [1], [2]]), lib.zeros(3, 1), "sum"))
    raises(lambda lib: lib.ones(3, requires_grad=True).scatter_reduce_(0, lib.tensor(i), lib.tensor(s), "sum"))
    # (torch's undocumented "max" / "min" are taken as "amax" / "amin": test_s52_fixes.py)
    # an empty index: torch checks nothing more, scatters nothing, and so do we
    agree(lambda lib, a, s_: a.scatter_reduce(0, lib.tensor(np.zeros((0, 7), np.int16)), s_, "prod"),
          x.reshape(2, 2), s, grads=False)


def test_scatter_reduce_gradient_rules() -> None:
    """torch's documented special cases: prod's zeros, amax's ties shared (self counted even without
    include_self), mean's counts."""
    for reduce, inc, a, i, s in [("prod", True, [0.0, 2.0, 3.0], [0, 0, 1, 1, 1], [2.0, 3.0, 0.0, 4.0, 0.0]),
                                 ("prod", True, [0.0, 2.0, 3.0], [0, 1, 1], [2.0, 0.0, 4.0]),
                                 ("prod", False, [0.0, 2.0, 3.0], [0, 1, 1], [2.0, 0.0, 4.0]),
                                 ("prod", True, [np.inf, 2.0, 3.0], [0, 1, 1], [2.0, np.inf, 4.0]),
                                 ("amax", False, [5.0, 2.0, 3.0], [0, 0, 1], [5.0, 5.0, 1.0]),
                                 ("amin", True, [5.0, 2.0, 3.0], [0, 0, 1], [5.0, 5.0, 1.0]),
                                 ("amax", True, [np.nan, 2.0, 3.0], [0, 1, 1], [2.0, np.nan, 4.0]),
                                 ("mean", False, [5.0, 2.0, 3.0], [0, 0, 1], [5.0, 5.0, 1.0])]:
        agree(lambda lib, x, j, y, r=reduce, inc=inc: x.scatter_reduce(0, j, y, r, include_self=inc),
              np.array(a), np.array(i), np.array(s))


def test_scatter_reduce_keywords_and_int_mean() -> None:
    x, i, s = np.zeros(3, np.int64), np.array([0, 0, 1]), np.array([-3, -4, -5])
    for inc in (True, False):  # an integer mean floors (-7 / 3 -> -3)
        agree(lambda lib, a, j, b, inc=inc: a.scatter_reduce(dim=0, index=j, src=b, reduce="mean", include_self=inc),
              x, i, s)
    out = tg.zeros(3).scatter_reduce_(0, tg.tensor(i), tg.tensor([1.0, 2.0, 3.0]), "amax", include_self=False)
    assert out.tolist() == [2.0, 3.0, 0.0]


# ---------------------------------------------------------------- unique_consecutive
@settings(max_examples=80, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                    elements=st.sampled_from([0.0, -0.0, 1.0, 2.0, np.nan, np.inf])),
       data=st.data(), dtype=st.sampled_from([np.float64, np.float32, np.int64, np.bool_]),
       flags=st.tuples(st.booleans(), st.booleans()))
def test_unique_consecutive(x: np.ndarray, data: st.DataObject, dtype: type, flags: tuple[bool, bool]) -> None:
    x = np.nan_to_num(x, posinf=3.0).astype(dtype) if dtype in (np.int64, np.bool_) else x.astype(dtype)
    dim = data.draw(st.none() | st.integers(-max(x.ndim, 1) - 1, max(x.ndim, 1)))
    inverse, counts = flags
    # (keywords: torch.unique_consecutive's positional flags pick the wrong outputs, e.g. (x, False, True) gives
    # empty counts)
    agree(lambda lib, t: lib.unique_consecutive(t, return_inverse=inverse, return_counts=counts, dim=dim), x,
          grads=False)
    agree(lambda lib, t: t.unique_consecutive(return_inverse=inverse, return_counts=counts, dim=dim), x,
          grads=False)
    if x.ndim and dim is None:  # runs along a valid dim
        d = dim_of(data, x.ndim)
        agree(lambda lib, t: t.unique_consecutive(return_inverse=True, return_counts=True, dim=d), x, grads=False)


def test_unique_consecutive_has_no_gradient() -> None:
    x = tg.tensor([1.0, 1.0, 2.0], requires_grad=True)
    values, inverse, counts = tg.unique_consecutive(x, return_inverse=True, return_counts=True)
    assert not values.requires_grad  # torch marks it so, then raises in backward: no derivative
    assert values.tolist() == [1.0, 2.0] and inverse.tolist() == [0, 0, 1] and counts.tolist() == [2, 1]
    assert [t.tolist() for t in tg.unique_consecutive(x, False, True)] == [[1.0, 2.0], [2, 1]]  # positional flags
    raises(lambda lib: lib.unique_consecutive(lib.tensor(3.0), dim=0))
    raises(lambda lib: lib.unique_consecutive(lib.zeros(2, 0), dim=0))
