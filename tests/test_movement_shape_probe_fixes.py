"""Fixes found by probing movement / shape ops against torch (the movement_shape probe)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as ours

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)
LIBS = (torch, ours)
ERRORS = (ValueError, RuntimeError, TypeError, IndexError)

shapes = st.lists(st.integers(0, 4), min_size=1, max_size=3).map(tuple)
dtypes = st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.bool_])
extreme = st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 65504.0, 1e-30])


def data(shape: tuple[int, ...], dtype: Any, seed: int = 0, special: float | None = None) -> np.ndarray:
    """Seeded values of ``shape`` and ``dtype`` (an extreme value put first, where given and there is room)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3
    if special is not None and x.size:
        x.reshape(-1)[0] = special
    with np.errstate(all="ignore"):
        return (x > 0) if dtype == np.bool_ else x.astype(dtype)


def both(fn: Callable[[Any, Any], Any], x: np.ndarray) -> tuple[Any, Any]:
    """fn(lib, tensor of x) for torch and ours, each result or the exception type raised."""
    out = []
    for lib in LIBS:
        try:
            out.append(fn(lib, lib.tensor(x.copy())))
        except ERRORS as e:
            out.append(type(e))
    return out[0], out[1]


def same(t: Any, o: Any) -> None:
    """Results (a tensor or a tuple of them) equal in values, dtype and shape; or both raised."""
    if isinstance(t, type):
        assert isinstance(o, type), f"torch raised {t.__name__}, ours returned"
        return
    assert not isinstance(o, type), f"ours raised {o.__name__}, torch returned"
    if isinstance(t, (tuple, list)):
        assert isinstance(o, (tuple, list)) and len(t) == len(o)
        for a, b in zip(t, o):
            same(a, b)
        return
    assert tuple(t.shape) == tuple(o.shape)
    assert str(t.dtype).split(".")[-1] == str(o.dtype).split(".")[-1]
    np.testing.assert_array_equal(o.detach().numpy(), t.detach().numpy())


# ---------------------------------------------------------------------------------------------- tensor_split
@SETTINGS
@given(shapes, dtypes, st.integers(-4, 6), st.data())
def test_tensor_split_with_a_0d_tensor_is_a_number_of_sections(shape: tuple[int, ...], dtype: Any, n: int,
                                                               d: st.DataObject) -> None:
    """A 0-d int64 tensor is the number of sections, as an int (ours took it as one index: 1 piece, silently)."""
    dim = d.draw(st.integers(-len(shape), len(shape) - 1))
    x = data(shape, dtype)
    same(*both(lambda T, t: T.tensor_split(t, T.tensor(n), dim), x))
    same(*both(lambda T, t: t.tensor_split(T.tensor(n), dim=dim), x))


@SETTINGS
@given(shapes, st.lists(st.integers(-6, 6), max_size=4), st.integers(1, 5))
def test_tensor_split_keywords_and_index_tensors(shape: tuple[int, ...], idx: list[int], n: int) -> None:
    """torch's keyword overloads (sections= / indices= / tensor_indices_or_sections=), 1-D int64 index tensors,
    numpy integers; float or 2-D index tensors raise, as torch."""
    x = data(shape, np.float32)
    same(*both(lambda T, t: T.tensor_split(t, sections=n), x))
    same(*both(lambda T, t: T.tensor_split(t, indices=idx), x))
    same(*both(lambda T, t: t.tensor_split(tensor_indices_or_sections=T.tensor(idx, dtype=T.int64)), x))
    same(*both(lambda T, t: t.tensor_split(np.int64(n)), x))
    same(*both(lambda T, t: t.tensor_split(T.tensor([1.0])), x))
    same(*both(lambda T, t: t.tensor_split(T.tensor([[1]])), x))
    same(*both(lambda T, t: t.tensor_split(T.tensor(n, dtype=T.int32)), x))


# ---------------------------------------------------------------------------------------------- split / chunk
@SETTINGS
@given(shapes, st.integers(-3, 3), st.lists(st.integers(-2, 3), min_size=1, max_size=3))
def test_split_negative_sizes_raise(shape: tuple[int, ...], size: int, sizes: list[int]) -> None:
    """A negative split size raises, as torch (``split(-1)`` gave one empty piece, silently)."""
    x = data(shape, np.float32)
    same(*both(lambda T, t: t.split(size), x))
    same(*both(lambda T, t: T.split(t, sizes), x))


@SETTINGS
@given(shapes, st.integers(1, 5))
def test_chunk_takes_a_numpy_integer(shape: tuple[int, ...], n: int) -> None:
    x = data(shape, np.float32)
    same(*both(lambda T, t: t.chunk(np.int64(n)), x))
    same(*both(lambda T, t: T.chunk(t, np.int32(n), -1), x))


# ---------------------------------------------------------------------------------------------- scatter of 0-d
@SETTINGS
@given(extreme, extreme, st.sampled_from(["scatter", "scatter_add"]))
def test_scatter_of_a_0d_tensor_backward(a: float, s: float, op: str) -> None:
    """backward of scatter / scatter_add of 0-d tensors (ours raised TypeError there)."""
    grads = []
    for T in LIBS:
        x = T.tensor(np.float32(a), requires_grad=True)
        src = T.tensor(np.float32(s), requires_grad=True)
        out = getattr(x, op)(0, T.tensor(0), src)
        (out * 1.5).sum().backward()
        grads.append((out.detach().numpy(), x.grad.numpy(), src.grad.numpy()))
    for t, o in zip(*grads):
        np.testing.assert_array_equal(o, t)


# ---------------------------------------------------------------------------------------------- broadcast_to -1
@SETTINGS
@given(st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple), st.lists(st.integers(1, 3), max_size=2),
       st.data())
def test_broadcast_to_minus_one_keeps_a_dim(shape: tuple[int, ...], lead: list[int], d: st.DataObject) -> None:
    """-1 in broadcast_to's size keeps that dim (as expand); ours raised."""
    keep = d.draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)))
    size = tuple(lead) + tuple(-1 if k else n for k, n in zip(keep, shape))
    x = data(shape, np.float32)
    same(*both(lambda T, t: T.broadcast_to(t, size), x))
    same(*both(lambda T, t: t.broadcast_to(size=size), x))
    same(*both(lambda T, t: t.expand(size=size), x))
    same(*both(lambda T, t: T.broadcast_to(t, (-1,) + size), x))


# ---------------------------------------------------------------------------------------------- repeat_interleave
@SETTINGS
@given(st.lists(st.integers(0, 4), max_size=6), st.sampled_from([np.int64, np.int32]), st.booleans())
def test_repeat_interleave_of_repeats_alone(reps: list[int], dtype: Any, sized: bool) -> None:
    """torch.repeat_interleave(repeats): each position i repeated repeats[i] times, in repeats' dtype."""
    r = np.array(reps, dtype)
    same(*both(lambda T, t: T.repeat_interleave(t, output_size=sum(reps) if sized else None), r))
    same(*both(lambda T, t: T.repeat_interleave(t.float()), r))
    same(*both(lambda T, t: T.repeat_interleave(t.reshape(1, -1)), r))


# ---------------------------------------------------------------------------------------------- 0-d transposes
@pytest.mark.parametrize("name", ["mT", "mH", "H"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.bool_])
def test_matrix_transposes_of_0d_are_the_tensor(name: str, dtype: Any) -> None:
    """x.mT / x.mH / x.H of a 0-d tensor are x (with torch's deprecation warning); ours raised."""
    x = data((), dtype)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        same(*both(lambda T, t: getattr(t, name), x))
    assert any(f"{name} on a 0-d tensor is deprecated" in str(w.message) for w in caught)  # (ours; torch's too)
    for shape in [(3,), (2, 3), (2, 2, 3)]:  # 1-D raises (mT, mH, H), 3-D only for H, as torch
        same(*both(lambda T, t: getattr(t, name), data(shape, dtype)))
    with pytest.raises(ValueError):  # (torch's RuntimeError; not IndexError)
        getattr(ours.tensor(data((3,), dtype)), name)


@SETTINGS
@given(dtypes, st.lists(st.integers(0, 3), max_size=2).map(tuple))
def test_tile_of_0d(dtype: Any, reps: tuple[int, ...]) -> None:
    """tile(()) of a 0-d tensor is a copy of it (ours raised); other reps as torch."""
    x = data((), dtype)
    same(*both(lambda T, t: t.tile(reps), x))
    same(*both(lambda T, t: T.tile(t, dims=reps), x))


# ---------------------------------------------------------------------------------------------- nonzero
@SETTINGS
@given(shapes, dtypes, st.integers(0, 8), st.integers(-5, 5), st.sampled_from([None, 0.0, np.nan, -0.0]))
def test_nonzero_static_and_out(shape: tuple[int, ...], dtype: Any, size: int, fill: int, special: Any) -> None:
    x = data(shape, dtype, special=special)
    same(*both(lambda T, t: T.nonzero_static(t, size=size, fill_value=fill), x))
    same(*both(lambda T, t: t.nonzero_static(size=size), x))
    same(*both(lambda T, t: T.nonzero(t, out=T.empty(0, dtype=T.int64)), x))
    same(*both(lambda T, t: T.nonzero(t, out=T.empty(0)), x))


# ---------------------------------------------------------------------------------------------- unflatten
@SETTINGS
@given(st.lists(st.integers(0, 4), min_size=1, max_size=3).map(tuple), st.data())
def test_unflatten_infers_minus_one_from_its_dim(shape: tuple[int, ...], d: st.DataObject) -> None:
    """-1 in unflatten's sizes is read from that dim alone (a (2, -1) of a dim of 2 is (2, 1) though another dim
    is 0); ours raised there. A 0-d tensor raises, as torch."""
    dim = d.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    factor = d.draw(st.sampled_from([k for k in range(1, 5) if n % k == 0] if n else [0, 1, 2]))
    x = data(shape, np.float32)
    same(*both(lambda T, t: t.unflatten(dim, (factor, -1)), x))
    same(*both(lambda T, t: T.unflatten(t, dim, (-1, factor)), x))
    same(*both(lambda T, t: t.unflatten(0, (1,)), data((), np.float32)))


# ---------------------------------------------------------------------------------------------- keywords
KEYWORD_CALLS = {
    "transpose": lambda T, t: t.transpose(dim0=0, dim1=-1),
    "torch.transpose": lambda T, t: T.transpose(t, dim0=1, dim1=0),
    "swapaxes": lambda T, t: T.swapaxes(t, axis0=0, axis1=1),
    "swapdims": lambda T, t: t.swapdims(dim0=-1, dim1=0),
    "permute": lambda T, t: t.permute(dims=(2, 0, 1)),
    "torch.permute": lambda T, t: T.permute(t, dims=[1, 2, 0]),
    "expand": lambda T, t: t[:, :1].expand(size=(2, 3, 4)),
    "repeat": lambda T, t: t.repeat(repeats=(1, 2, 1, 1)),
    "tile": lambda T, t: t.tile(dims=(2, 1)),
    "torch.tile": lambda T, t: T.tile(t, dims=(2,)),
    "broadcast_to": lambda T, t: T.broadcast_to(t, size=(2, 2, 3, 4)),
    "unfold": lambda T, t: t.unfold(dimension=2, size=2, step=1),
    "hsplit": lambda T, t: T.hsplit(t, sections=3),
    "hsplit indices": lambda T, t: t.hsplit(indices=[1]),
    "vsplit": lambda T, t: T.vsplit(t, indices=[1]),
    "dsplit": lambda T, t: t.dsplit(sections=2),
    "gather sparse_grad": lambda T, t: T.gather(t, 2, T.zeros(2, 3, 1, dtype=T.int64), sparse_grad=False),
    "Tensor.gather sparse_grad": lambda T, t: t.gather(1, T.zeros(1, 1, 4, dtype=T.int64), sparse_grad=True),
}


@pytest.mark.parametrize("name", sorted(KEYWORD_CALLS))
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_keyword_spellings(name: str, dtype: Any) -> None:
    """torch's keyword names of the shape ops' arguments (ours raised TypeError)."""
    same(*both(KEYWORD_CALLS[name], data((2, 3, 4), dtype)))


def test_keyword_gradients() -> None:
    """The keyword spellings keep the gradient (a weighted sum's, w.r.t. the input)."""
    x = data((2, 3, 4), np.float32)
    for name in ("transpose", "permute", "expand", "repeat", "unfold", "gather sparse_grad"):
        grads = []
        for T in LIBS:
            t = T.tensor(x, requires_grad=True)
            out = KEYWORD_CALLS[name](T, t)
            w = T.tensor(np.arange(out.numel(), dtype=np.float32).reshape(tuple(out.shape)))
            (out * w).sum().backward()
            grads.append(t.grad.numpy())
        np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6)


# ---------------------------------------------------------------------------------------------- in-place through views
ZERO_D_VIEWS: dict[str, Callable[[Any, Any], Any]] = {
    "view(-1)": lambda T, t: t.view(-1), "reshape(1, 1)": lambda T, t: t.reshape(1, 1),
    "unsqueeze": lambda T, t: t.unsqueeze(0), "flatten": lambda T, t: t.flatten(), "squeeze": lambda T, t: t.squeeze(),
    "t": lambda T, t: t.t(), "expand(())": lambda T, t: t.expand(()), "x[None]": lambda T, t: t[None],
    "x[...]": lambda T, t: t[...], "unfold": lambda T, t: t.unfold(0, 1, 1), "movedim": lambda T, t: t.movedim(0, 0),
    "atleast_2d": lambda T, t: T.atleast_2d(t), "as_strided": lambda T, t: t.as_strided((1,), (1,)),
    "view_as": lambda T, t: t.view_as(t),
}


@SETTINGS
@given(st.sampled_from(sorted(ZERO_D_VIEWS)), st.floats(-1e4, 1e4, width=32), st.floats(-3, 3, width=32),
       st.sampled_from([np.float32, np.float64]))
def test_write_through_a_view_of_a_computed_0d_tensor(name: str, value: float, w: float, dtype: Any) -> None:
    """A view of a 0-d tensor computed by an op (numpy hands its result out as a scalar) shares its memory: an
    in-place write through it reaches the tensor and its gradient (ours wrote a copy: the tensor kept its value and
    the gradient missed the write)."""
    got = []
    for T in LIBS:
        leaf = T.tensor(np.asarray(value, dtype), requires_grad=True)
        x = leaf * 1.5
        view = ZERO_D_VIEWS[name](T, x)
        view.mul_(3.0)
        view.add_(1.0)
        (x * float(w)).sum().backward()
        got.append((x.detach().numpy(), leaf.grad.numpy(), x._version))
    for t, o in zip(*got):
        np.testing.assert_allclose(o, t, rtol=1e-6)


@SETTINGS
@given(st.integers(1, 7), st.data())
def test_in_place_write_through_unfold_windows(n: int, d: st.DataObject) -> None:
    """Tensor.unfold's windows are a view: an in-place write through non-overlapping windows reaches the tensor's
    graph and version counter (ours gave the gradient as if nothing had been written, silently)."""
    size = d.draw(st.integers(1, n))
    step = d.draw(st.integers(size, size + 2))  # (no overlap: torch leaves overlapping writes undefined)
    x0 = data((2, n), np.float32, seed=n)
    got = []
    for T in LIBS:
        leaf = T.tensor(x0, requires_grad=True)
        x = leaf * 2
        before = x._version
        x.unfold(1, size, step).mul_(3)
        weights = T.tensor(np.arange(2 * n, dtype=np.float32).reshape(2, n))
        (x * weights).sum().backward()
        got.append((x.detach().numpy(), leaf.grad.numpy(), x._version - before))
    for t, o in zip(*got):
        np.testing.assert_array_equal(o, t)


@SETTINGS
@given(st.sampled_from([(6.0,), (2.0, 3), (2.5, -1), (-1.0, 2)]), st.sampled_from(["view", "reshape"]))
def test_float_sizes_raise(sizes: tuple[float, ...], method: str) -> None:
    """A float size raises TypeError, as torch (ours truncated it: ``x.view(2.0, 3)`` gave shape (2, 3))."""
    x = data((2, 3), np.float32)
    t, o = both(lambda T, t: getattr(t, method)(*sizes), x)
    assert t is TypeError and o is TypeError
