"""What an indexing probe against torch 2.13 (getitem / setitem with every index kind and their mixes, index_*,
gather / scatter / scatter_reduce, take / take_along_dim / put, masked_*, where, nonzero, narrow / select / unbind,
on 0-d, empty and non-contiguous inputs, values and gradients) found different, each checked here against torch:

- ``x[i, ..., arr]`` / ``x[None, i, None, arr]`` (an int with an index array and None or Ellipsis) and a bool
  (``True`` / ``False`` / a 0-d bool tensor) with an index array followed numpy's rules, which broadcast the ints and
  bools with the arrays: silently another shape (``x[0, ..., [1, 2]]`` was (2, 5), torch (5, 2)); the same keys in
  ``x[key] = v`` wrote other places; a list holding a list (``x[[[0], [1]]]``, torch's tuple reading) was one
  index array; ``x[[]]`` and a list of floats (``x[[0.0, 1.5]]``, torch's int64 list, truncated) raised; several
  Ellipses (``x[..., 0, ...]``, which torch reads) raised;
- ``x[t]`` with a 0-d integer tensor ``t`` (or a 0-d numpy array) was a copy, where torch selects a view: an
  in-place write into it (``x[t].mul_(2)``, ``x[t][0] = v``) silently left ``x`` unchanged;
- ``x[False] = v`` recorded a write of nothing, giving ``v`` a zero gradient where torch leaves it None;
- ``take_along_dim`` with a dim raised on an index out of range, where torch 2.13 takes it modulo the length, and
  without a dim refused int32 indices;
- ``gather`` / ``scatter`` / ``scatter_add`` of a 1-D input with a 0-d index (or the reverse) raised; torch reads
  the 0-d one as 1-D.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SHAPE = (4, 5, 6)
# index parts as builders of a module's objects (the same index for torch and for us)
PARTS: list[Callable[[Any], Any]] = [
    lambda T: 0, lambda T: -1, lambda T: 3, lambda T: slice(None), lambda T: slice(1, 100),
    lambda T: slice(None, None, 2), lambda T: slice(-100, 2), lambda T: None, lambda T: Ellipsis, lambda T: True,
    lambda T: False,
    lambda T: [0, 2], lambda T: [[0], [1]], lambda T: T.tensor([0, 2, -1]), lambda T: T.tensor(1),
    lambda T: T.tensor(True), lambda T: T.tensor(False), lambda T: T.tensor([], dtype=T.int64),
    lambda T: np.array([1, 0], dtype=np.int32), lambda T: T.tensor([[0, 1], [3, 2]]),
]


def values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Floats with the edge values among them."""
    a = rng.standard_normal(shape).astype(np.float32)
    edges = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e38, 1e-45], np.float32)
    a.reshape(-1)[: min(a.size, 7)] = edges[: min(a.size, 7)]
    return a


def outcome(fn: Callable[[Any], Any], T: Any) -> tuple[str, Any]:
    """("ok", what fn returns) or ("raise", the exception family)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", fn(T)
    except (IndexError, ValueError, TypeError, RuntimeError) as e:
        return "raise", type(e).__name__


def assert_same(ours: Any, ref: Any) -> None:
    """Tensors (or None, or tuples of them) equal in shape, dtype and value (nan where nan)."""
    if ref is None:
        assert ours is None
        return
    if isinstance(ref, (tuple, list)):
        assert len(ours) == len(ref)
        for o, r in zip(ours, ref):
            assert_same(o, r)
        return
    assert tuple(ours.shape) == tuple(ref.shape)
    assert str(ours.dtype) == str(ref.dtype).replace("torch.", "")
    a, b = ours.detach().numpy(), ref.detach().numpy()
    if b.dtype.kind == "f":  # (a gradient summed over a broadcast value: the order of the sum may differ, and up
        # to 120 float32 terms of about 1 cancel: -0.0039661 here, -0.0039673 in torch, hunt 48004)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=2e-5, equal_nan=True)
    else:
        np.testing.assert_array_equal(a, b)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, len(PARTS) - 1), min_size=1, max_size=4), st.integers(0, 2**31 - 1),
       st.booleans())
def test_getitem_mixed_index_kinds_as_torch(picks: list[int], seed: int, noncontig: bool) -> None:
    """x[key]'s shape, values and gradient for any mix of ints, slices, None, Ellipsis, bools and index arrays."""
    rng = np.random.default_rng(seed)
    data = values(rng, SHAPE)

    def run(T: Any) -> tuple[Any, Any]:
        x = T.tensor(np.ascontiguousarray(data.transpose(2, 1, 0)) if noncontig else data, requires_grad=True)
        src = x.permute(2, 1, 0) if noncontig else x
        y = src[tuple(PARTS[p](T) for p in picks)]
        y.backward(T.tensor(rng_up.standard_normal(tuple(y.shape)).astype(np.float32)))
        return y, x.grad

    rng_up = np.random.default_rng(seed)
    ref = outcome(run, torch)
    rng_up = np.random.default_rng(seed)
    ours = outcome(run, tg)
    assert ours[0] == ref[0], (ours, ref)
    if ref[0] == "ok":
        assert_same(ours[1], ref[1])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, len(PARTS) - 1), min_size=1, max_size=4), st.integers(0, 2**31 - 1),
       st.sampled_from(["scalar", "full", "row"]))
@example(picks=[19], seed=581175, kind="row")
def test_setitem_mixed_index_kinds_as_torch(picks: list[int], seed: int, kind: str) -> None:
    """y[key] = v on a non-leaf: the values written and the gradients of the written tensor and of v."""
    rng = np.random.default_rng(seed)
    data, vdata = values(rng, SHAPE), rng.standard_normal(200).astype(np.float32)
    up = rng.standard_normal(SHAPE).astype(np.float32)

    def run(T: Any) -> tuple[Any, Any, Any]:
        x, v = T.tensor(data, requires_grad=True), T.tensor(vdata, requires_grad=True)
        y = x * 1
        key = tuple(PARTS[p](T) for p in picks)
        shape = tuple(y[key].shape)
        value = {"scalar": -2.5, "full": v[: int(np.prod(shape))].reshape(shape) * 1 if shape else v[0],
                 "row": v[: shape[-1]] if shape else v[0]}[kind]
        y[key] = value
        y.backward(T.tensor(up))
        return y, x.grad, v.grad

    ref, ours = outcome(run, torch), outcome(run, tg)
    assert ours[0] == ref[0], (ours, ref)
    if ref[0] == "ok":
        assert_same(ours[1], ref[1])


@pytest.mark.parametrize("key", [
    lambda T: (0, Ellipsis, [1, 2]), lambda T: (None, 0, None, [1, 2]), lambda T: (0, None, slice(None), [1]),
    lambda T: ([[0], [1]],), lambda T: [[0], [1]], lambda T: [], lambda T: (True, slice(1, 100), T.tensor([0, 2, -1])),
    lambda T: (T.tensor(1), slice(None, None, 3), True), lambda T: (np.array([1, 0], dtype=np.int32), True),
    lambda T: (True, T.tensor([], dtype=T.int64), 0), lambda T: (1, Ellipsis, [0, 5]),
    lambda T: (Ellipsis, 0, Ellipsis), lambda T: (0, Ellipsis, 1, Ellipsis), lambda T: (Ellipsis, [0, 1], Ellipsis),
    lambda T: (Ellipsis, None, Ellipsis, slice(None)), lambda T: [-1.5, 2.7], lambda T: ([0.9, 1.2], 0)])
def test_probe_keys(key: Callable[[Any], Any]) -> None:
    """The keys the probe found: getitem's result and setitem's writes."""
    data = np.arange(120, dtype=np.float32).reshape(SHAPE)
    results = []
    for T in (torch, tg):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = T.tensor(data)
            got = x[key(T)]
            y = x.clone()
            y[key(T)] = -T.ones(()) if got.numel() == 0 else -T.arange(got.numel(), dtype=T.float32).reshape(got.shape)
        results.append((got, y))
    assert_same(results[1][0], results[0][0])
    assert_same(results[1][1], results[0][1])


def test_setitem_false_records_nothing() -> None:
    """x[False] = v: nothing written, nothing checked, v's gradient stays None (as torch)."""
    for T in (torch, tg):
        x, v = T.ones(3, requires_grad=True), T.ones(5, requires_grad=True)
        y = x * 2
        y[False] = v * 3  # (a value of any shape: torch looks at nothing)
        y.sum().backward()
        assert v.grad is None
        np.testing.assert_array_equal(x.grad.numpy(), [2, 2, 2])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([0, 1, -1, None]), st.integers(-30, 30), st.booleans())
def test_take_along_dim_as_torch(seed: int, dim: int | None, bound: int, int32: bool) -> None:
    """take_along_dim: indices out of range taken modulo the length with a dim; int32 allowed without one."""
    rng = np.random.default_rng(seed)
    data = values(rng, (3, 4))
    if dim is None:
        idx = rng.integers(0, 12, size=rng.integers(0, 6))
    else:
        idx = rng.integers(-abs(bound) - 1, abs(bound) + 1, size=(1, 4) if dim == 0 else (3, 1))
    idx = idx.astype(np.int32 if int32 and dim is None else np.int64)
    up = rng.standard_normal(5)

    def run(T: Any) -> tuple[Any, Any]:
        x = T.tensor(data, requires_grad=True)
        y = T.take_along_dim(x, T.tensor(idx), dim) if dim is not None else x.take_along_dim(T.tensor(idx))
        y.backward(T.tensor(np.resize(up, tuple(y.shape)).astype(np.float32)))
        return y, x.grad

    ref, ours = outcome(run, torch), outcome(run, tg)
    assert ours[0] == ref[0]
    if ref[0] == "ok":
        assert_same(ours[1], ref[1])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 5), st.booleans())
def test_gather_scatter_0d_with_1d_as_torch(seed: int, n: int, index_0d: bool) -> None:
    """gather / scatter / scatter_add / scatter_reduce of a 1-D input with a 0-d index, and of a 0-d input with a
    1-element 1-D index: values and gradients."""
    rng = np.random.default_rng(seed)
    data = values(rng, (n,)) if index_0d else values(rng, ())
    i = int(rng.integers(0, n if index_0d else 1))
    idx, sv = (np.array(i), np.float32(rng.standard_normal())) if index_0d else (np.array([0]), np.ones(1, np.float32))

    def run(T: Any) -> tuple[Any, ...]:
        x, s = T.tensor(data, requires_grad=True), T.tensor(sv, requires_grad=True)
        outs = [x.gather(0, T.tensor(idx)), x.scatter(0, T.tensor(idx), 2.5), x.scatter(0, T.tensor(idx), s),
                x.scatter_add(0, T.tensor(idx), s), x.scatter_reduce(0, T.tensor(idx), s, "amax")]
        sum((o * (k + 1)).sum() for k, o in enumerate(outs)).backward()
        return (*outs, x.grad, s.grad)

    ref, ours = outcome(run, torch), outcome(run, tg)
    assert ours[0] == ref[0]
    if ref[0] == "ok":
        for o, r in zip(ours[1], ref[1]):
            assert tuple(o.shape) == tuple(r.shape)
            np.testing.assert_allclose(o.detach().numpy(), r.detach().numpy(), rtol=1e-6, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0, 3, 4, 7, 8, 14]), min_size=1, max_size=3), st.integers(0, 2**31 - 1))
def test_write_through_getitem_view_as_torch(picks: list[int], seed: int) -> None:
    """x[key] of ints, 0-d integer tensors, slices, None and ... is a view, as torch's (a 0-d integer tensor selects
    like an int): an in-place write into it reaches x, and x's gradient sees it."""
    data = values(np.random.default_rng(seed), SHAPE)

    def run(T: Any) -> tuple[Any, Any]:
        x = T.tensor(data, requires_grad=True)
        y = x * 1
        view = y[tuple(PARTS[p](T) for p in picks)]
        view.mul_(2.0)
        (y * T.tensor(np.arange(120, dtype=np.float32).reshape(SHAPE))).sum().backward()
        return y, x.grad

    ref, ours = outcome(run, torch), outcome(run, tg)
    assert ours[0] == ref[0]
    if ref[0] == "ok":
        assert_same(ours[1], ref[1])


@pytest.mark.parametrize("shape", [(0, 2), (0, 0, 3), (1, 0), (0,), (2,), ()])
@pytest.mark.parametrize("op", ["gather", "scatter", "scatter_value", "scatter_add"])
def test_zero_d_input_takes_an_empty_index_of_any_shape_as_torch(op: str, shape: tuple[int, ...]) -> None:
    """A 0-d input beside an empty index of any shape: gather gives the index's empty shape, a scatter writes
    nothing, and the gradients are torch's (a ValueError here asked for the input's dims)."""
    results = []
    for lib in (torch, tg):
        x = lib.tensor(3.0, requires_grad=True)
        src = lib.full(shape, 2.0, requires_grad=True)
        index = lib.zeros(shape, dtype=lib.int64)
        if op == "gather":
            out = x.gather(0, index)
        elif op == "scatter_value":
            out = x.scatter(0, index, 5.0)
        else:
            out = getattr(x, op)(0, index, src)
        (out * 1.5).sum().backward()
        grads = [None if t.grad is None else t.grad.tolist() for t in (x, src)]
        results.append([tuple(out.shape), out.tolist(), grads])
    assert results[0] == results[1]


E = Ellipsis
ELLIPSIS_KEYS = [
    (slice(None), [0, 2], E, [1, 3]), (slice(None), [[0], [2]], E, [1, 3]), ([0, 2], E, [1, 3]),
    (slice(None), [0, 2], E, [1, 3], None), (0, [0, 2], E, [1, 3]), (slice(None), [0, 2], E, True, [1, 3]),
    (E, E, 0, slice(None)), (E, E, [0, 1], slice(None)), (E, E, 0, 1, slice(None)), (0, E, E), (E, E, 0, 1),
    (E, [0, 1], E, [0, 1]), (E, None, E, 0), (E, E, None, 0, slice(None)), (slice(None), E, E, False),
]


@pytest.mark.parametrize("key", ELLIPSIS_KEYS, ids=repr)
def test_ellipsis_reads_as_torch(key: tuple[Any, ...]) -> None:
    """An Ellipsis of no dims does not part two index arrays (x[:, [0, 2], ..., [1, 3]] of a (4, 5, 6) x is (4, 2);
    numpy's reading gave (2, 4)); several Ellipses each skip the dims the other parts leave, as torch's: values,
    gradients and setitem as torch's, or an IndexError where torch raises."""
    data = np.arange(120, dtype=np.float32).reshape(4, 5, 6)
    results = []
    for lib in (torch, tg):
        x = lib.tensor(data, requires_grad=True)
        try:
            y = x[key]
        except IndexError:
            results.append("IndexError")
            continue
        y.backward(lib.tensor(np.cos(np.arange(y.numel())).reshape(tuple(y.shape)).astype(np.float32)))
        z = lib.tensor(data)
        z[key] = -1.0
        results.append((tuple(y.shape), y.tolist(), x.grad.tolist(), z.tolist()))
    assert results[1] == results[0]
