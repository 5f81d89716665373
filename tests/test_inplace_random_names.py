"""In-place math (``exp_`` ... ``addcmul_``), shape-changing in-place ops (``squeeze_``, ``t_``), the index and mask
ops (``index_fill``/``index_add``/``index_copy``, ``masked_select``/``masked_scatter``, ``take``,
``take_along_dim``) and random sampling (``normal``, ``bernoulli``, ``poisson``, ``exponential_``, ``random_``...).

Deterministic ops run as one program on torch and on tinygrad_adam (values, dtypes, gradients through in-place ops on
non-leaf tensors, and the version-counter errors torch raises). Samplers cannot match torch's stream, so their
distributions, shapes, dtypes, determinism and argument errors are checked instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_semantics import as_numpy, check

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def same(program: Callable[[Any], Any], rtol: float = 1e-6) -> None:
    """``program`` run with torch and with tinygrad_adam as its library gives the same results."""
    with np.errstate(all="ignore"):
        ours = as_numpy(program(tg))
    check(ours, as_numpy(program(torch)), rtol)


def both_raise(program: Callable[[Any], Any], ours: type[Exception] | tuple[type[Exception], ...] = RuntimeError,
               ) -> None:
    with pytest.raises(Exception):  # noqa: B017 - torch's class varies (RuntimeError, IndexError...)
        program(torch)
    with pytest.raises(ours):
        program(tg)


FLOATS = hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                    elements=st.floats(-1e3, 1e3) | st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 1e300]))


# ---------------------------------------------------------------------------------------------- in-place math
UNARY = ["exp_", "log_", "sqrt_", "tanh_", "sigmoid_", "sin_", "cos_", "tan_", "log2_", "log10_", "exp2_", "rsqrt_",
         "square_", "sign_", "sgn_", "relu_", "abs_", "absolute_", "neg_", "negative_", "floor_", "ceil_", "round_",
         "trunc_", "fix_", "frac_", "log1p_", "expm1_", "erf_", "reciprocal_", "nan_to_num_"]


@pytest.mark.parametrize("name", UNARY)
@settings(max_examples=40, deadline=None)
@given(x=FLOATS)
def test_unary_in_place_on_a_non_leaf_matches_torch(name: str, x: np.ndarray) -> None:
    def program(lib: Any) -> Any:
        leaf = lib.tensor(x, requires_grad=True)
        h = leaf * 1
        out = getattr(h, name)()
        (h * lib.tensor(np.arange(x.size, dtype=np.float64).reshape(x.shape) - 1.5)).sum().backward()
        return out is h, h, leaf.grad
    same(program, rtol=1e-9)


@pytest.mark.parametrize(("name", "args"), [
    ("lerp_", (np.linspace(-2, 2, 6).reshape(2, 3), 0.3)), ("fmod_", (1.5,)), ("remainder_", (-1.5,)),
    ("clamp_min_", (0.0,)), ("clamp_max_", (0.5,)), ("atan2_", (np.ones((2, 3)),)), ("hypot_", (np.ones(3),)),
    ("addcmul_", (np.arange(3.0), np.ones((2, 3)))),
    ("pow_", (2,)), ("round_", ()),
])
@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float64, (2, 3), elements=st.floats(-10, 10) | st.sampled_from([0.0, -0.0, np.nan])))
def test_binary_in_place_with_tensor_operands_gets_their_gradient_too(name: str, args: tuple, x: np.ndarray) -> None:
    def program(lib: Any) -> Any:
        leaf = lib.tensor(x, requires_grad=True)
        ops = [lib.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) else a for a in args]
        h = leaf * 1
        getattr(h, name)(*ops)
        (h * h).sum().backward()
        return [h, leaf.grad] + [o.grad for o in ops if not isinstance(o, (int, float))]
    same(program, rtol=1e-9)


def test_addcmul_addcdiv_value_and_round_decimals_keywords() -> None:
    def program(lib: Any) -> Any:
        x = lib.tensor([[1.0, -2.0, 3.5]], requires_grad=True)
        t1 = lib.tensor([[0.5], [2.0]], requires_grad=True)
        t2 = lib.tensor([4.0, -1.0, 0.25], requires_grad=True)
        h = (x * 1).expand(2, 3) * 1
        h.addcdiv_(t1, t2, value=-0.5).addcmul_(t2, t1, value=3)
        g = x * 1.2345
        g.round_(decimals=2)
        (h * h).sum().backward()
        return h, g, x.grad, t1.grad, t2.grad
    same(program)


def test_in_place_math_dtypes_and_float32() -> None:
    def program(lib: Any) -> Any:
        i = lib.tensor([-3, 0, 5])
        f = lib.tensor([0.1, 2.5, -1.25], dtype=lib.float32)
        return i.neg_(), i.abs_(), i.square_(), f.exp_(), f.sqrt_(), f.sigmoid_(), f.addcmul_(f, f, value=0.1)
    same(program)
    both_raise(lambda lib: lib.tensor([1, 2]).exp_())  # a float result cannot be written into int64
    both_raise(lambda lib: lib.ones(3).addcmul_(lib.ones(2, 1), lib.ones(3)))  # broadcast beyond self's shape


def test_in_place_on_a_leaf_that_requires_grad_raises_outside_no_grad() -> None:
    both_raise(lambda lib: lib.ones(3, requires_grad=True).exp_())
    both_raise(lambda lib: lib.ones(1, 3, requires_grad=True).squeeze_())
    both_raise(lambda lib: lib.ones(3, requires_grad=True).index_fill_(0, lib.tensor([0]), 2.0))

    def under_no_grad(lib: Any) -> Any:
        w = lib.tensor([1.0, 4.0], requires_grad=True)
        with lib.no_grad():
            w.sqrt_().addcmul_(w, w, value=0.5)
        return w, w.requires_grad, w.is_leaf
    same(under_no_grad)


@pytest.mark.parametrize("name", ["exp_", "sigmoid_", "tanh_", "sqrt_", "exp2_"])
def test_writing_into_an_output_its_gradient_needs_raises_as_torch(name: str) -> None:
    def program(lib: Any) -> Any:
        x = lib.tensor([0.5, 1.5], requires_grad=True)
        h = x * 1
        getattr(h, name)()
        h.add_(1)
        h.sum().backward()
    both_raise(program)

    def input_saved_elsewhere(lib: Any) -> Any:
        x = lib.tensor([0.5, 1.5], requires_grad=True)
        h = x * 1
        y = h * h  # saves h
        getattr(h, name)()
        y.sum().backward()
    both_raise(input_saved_elsewhere)

    def through_twice(lib: Any) -> Any:
        x = lib.tensor([0.5, 1.5], requires_grad=True)
        h = x.exp()  # exp saves its output, which name_ overwrites
        getattr(h, name)()
        h.sum().backward()
    both_raise(through_twice)


@pytest.mark.parametrize("name", ["abs_", "neg_", "log_", "floor_", "sin_", "cos_", "log2_", "square_"])
def test_writing_after_ops_that_do_not_need_their_output_is_fine(name: str) -> None:
    def program(lib: Any) -> Any:
        x = lib.tensor([0.5, 1.5, 3.0], requires_grad=True)
        h = x * 2
        getattr(h, name)()
        h.mul_(3)
        (h * x).sum().backward()
        return h, x.grad
    same(program)


# ---------------------------------------------------------------------------------------------- shape in place
def test_squeeze_unsqueeze_t_transpose_in_place() -> None:
    def program(lib: Any) -> Any:
        a = lib.arange(6.0).reshape(2, 1, 3)
        view = a.reshape(6)
        out = a.squeeze_()
        b = lib.arange(4.0)
        b.unsqueeze_(-1).unsqueeze_(0)
        c = lib.arange(6.0).reshape(2, 3)
        c.t_()
        d = lib.ones(2, 1, 3)
        d.squeeze_(0).squeeze_(1)
        e = lib.arange(24.0).reshape(2, 3, 4)
        e.transpose_(0, 2)
        view.mul_(10)  # still a view of a's memory
        return out is a, a.shape, a, view.shape, b.shape, c, d.shape, e, tuple(lib.tensor(2.0).t_().shape)
    same(program)


def test_shape_in_place_differentiates_and_bumps_the_version() -> None:
    def program(lib: Any) -> Any:
        x = lib.arange(6.0).reshape(2, 3).requires_grad_()
        h = x * 2
        h.t_().unsqueeze_(0)
        (h * lib.arange(6.0).reshape(1, 3, 2)).sum().backward()
        return h, x.grad
    same(program)

    def saved_then_reshaped(lib: Any) -> Any:
        x = lib.ones(2, 3, requires_grad=True)
        h = x * 2
        y = h * h
        h.t_()
        y.sum().backward()
    both_raise(saved_then_reshaped)

    both_raise(lambda lib: lib.ones(2, 3, 4).t_(), ValueError)


# ---------------------------------------------------------------------------------------------- addcmul / addcdiv
def test_addcmul_addcdiv_out_of_place_dtypes_and_errors() -> None:
    def program(lib: Any) -> Any:
        i = lib.arange(3)
        f64 = lib.ones(3, dtype=lib.float64)
        return (lib.addcmul(i, lib.tensor([1, 2, 3]), lib.tensor([1, 1, 1]), value=2.5),
                i.addcmul(lib.tensor([1.0, 2, 3]), lib.tensor([1, 1, 1])),
                f64.addcmul(lib.ones(3), lib.ones(3), value=0.1), lib.ones(3).addcdiv(f64, lib.ones(3) * 3),
                lib.ones(3).addcmul(lib.ones(2, 1), lib.ones(3)),
                lib.addcdiv(lib.tensor(1.0), lib.ones(2), lib.ones(2)))
    same(program)
    both_raise(lambda lib: lib.arange(3).addcdiv(lib.tensor([1, 2, 3]), lib.tensor([1, 1, 1])), TypeError)


@settings(max_examples=40, deadline=None)
@given(x=FLOATS, value=st.floats(-3, 3), div=st.booleans())
def test_addcmul_addcdiv_match_torch_with_gradients(x: np.ndarray, value: float, div: bool) -> None:
    t1 = np.linspace(-1, 2, x.shape[-1] if x.ndim else 1)
    t2 = np.full((1,) * max(x.ndim - 1, 0) + t1.shape, 0.75)

    def program(lib: Any) -> Any:
        a, b, c = (lib.tensor(v, requires_grad=True) for v in (x, t1, t2))
        out = getattr(lib, "addcdiv" if div else "addcmul")(a, b, c, value=value)
        (out * out).sum().backward()
        return out, a.grad, b.grad, c.grad
    same(program, rtol=1e-9)


# ---------------------------------------------------------------------------------------------- index_*
@st.composite
def along_dim(draw: Any) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """(input, dim, int64 index with repeats, source of the input's shape with len(index) along dim)."""
    x = draw(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4),
                        elements=st.floats(-100, 100)))
    dim = draw(st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1))
    n = x.shape[dim] if x.ndim else 1
    idx = np.array(draw(st.lists(st.integers(0, n - 1), min_size=0 if x.ndim else 1, max_size=5 if x.ndim else 1)),
                   dtype=np.int64)
    if x.ndim == 0 and draw(st.booleans()):
        idx = idx.reshape(())
    shape = list(x.shape) or [1]
    shape[dim] = idx.size
    src = np.arange(np.prod(shape), dtype=np.float64).reshape(shape if x.ndim else ()) - 2
    return x, dim, idx, src


@settings(max_examples=40, deadline=None)
@given(case=along_dim(), alpha=st.sampled_from([1, 2.5, -1]))
def test_index_add_and_index_fill_match_torch(case: tuple, alpha: float) -> None:
    x, dim, idx, src = case

    def program(lib: Any) -> Any:
        a, s, v = lib.tensor(x, requires_grad=True), lib.tensor(src, requires_grad=True), lib.tensor(1.5,
                                                                                                     dtype=lib.float64)
        v.requires_grad_()
        w = lib.tensor(np.arange(x.size, dtype=np.float64).reshape(x.shape))
        out = a.index_add(dim, lib.tensor(idx), s, alpha=alpha)
        filled = lib.index_fill(a, dim, lib.tensor(idx), v)
        h = a * 1
        h.index_add_(dim, lib.tensor(idx), s * 2, alpha=alpha).index_fill_(dim, lib.tensor(idx.reshape(-1)[:1]), -7.0)
        ((out + filled) * w).sum().backward()
        (h * h).sum().backward()
        return out, filled, h, a.grad, s.grad, v.grad
    same(program, rtol=1e-9)


@settings(max_examples=40, deadline=None)
@given(case=along_dim())
def test_index_copy_matches_torch(case: tuple) -> None:
    x, dim, idx, src = case
    idx = np.unique(idx).reshape(idx.shape) if idx.ndim == 0 else np.unique(idx)  # repeats: which write wins is unset
    shape = list(src.shape)
    if src.ndim:
        shape[dim] = idx.size
    src = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) - 2

    def program(lib: Any) -> Any:
        a, s = lib.tensor(x, requires_grad=True), lib.tensor(src, requires_grad=True)
        out = a.index_copy(dim, lib.tensor(idx), s)
        h = a * 1
        h.index_copy_(dim, lib.tensor(idx), s * 3)
        ((out + h) * lib.tensor(np.arange(x.size, dtype=np.float64).reshape(x.shape))).sum().backward()
        return out, h, a.grad, s.grad
    same(program, rtol=1e-9)


def test_index_ops_details_as_torch() -> None:
    def program(lib: Any) -> Any:
        x = lib.arange(6.0).reshape(2, 3)
        i = lib.arange(5)
        return (x.index_fill(1, lib.tensor([-1]), 9.0), i.index_fill(0, lib.tensor([0, 0]), 2.7),
                x.index_add(1, lib.tensor([0, 0], dtype=lib.int32), lib.ones(2, 2)),
                i.index_add(0, lib.tensor([4]), lib.tensor([1]), alpha=2.5), x.index_copy(0, lib.tensor(1),
                                                                                          lib.ones(1, 3)),
                x.index_fill(1, lib.tensor([], dtype=lib.int64), 9.0),
                x.index_add(0, lib.tensor([], dtype=lib.int64), lib.ones(0, 3)),
                lib.tensor(1.0).index_add(0, lib.tensor(0), lib.tensor(2.0)))
    same(program)


@pytest.mark.parametrize("program", [
    lambda lib: lib.ones(2, 3).index_fill(1, lib.tensor([0], dtype=lib.int32), 1.0),
    lambda lib: lib.ones(2, 3).index_fill(1, lib.tensor([[0]]), 1.0),
    lambda lib: lib.ones(2, 3).index_fill(1, lib.tensor([3]), 1.0),
    lambda lib: lib.ones(2, 3).index_fill(1, lib.tensor([0]), lib.ones(1)),
    lambda lib: lib.ones(2, 3).index_fill(2, lib.tensor([0]), 1.0),
    lambda lib: lib.ones(2, 3).index_add(1, lib.tensor([-1]), lib.ones(2, 1)),
    lambda lib: lib.ones(2, 3).index_add(1, lib.tensor([0]), lib.ones(2, 2)),
    lambda lib: lib.ones(2, 3).index_add(1, lib.tensor([0]), lib.ones(2, 1, dtype=lib.float64)),
    lambda lib: lib.ones(2, 3).index_add(1, lib.tensor([0.0]), lib.ones(2, 1)),
    lambda lib: lib.ones(2, 3).index_copy(1, lib.tensor([-1]), lib.ones(2, 1)),
    lambda lib: lib.ones(2, 3).index_copy(1, lib.tensor([0], dtype=lib.int32), lib.ones(2, 1)),
    lambda lib: lib.ones(2, 3).index_copy(0, lib.tensor([0]), lib.ones(1, 2)),
    lambda lib: lib.tensor(1.0).index_add(0, lib.tensor([0, 0]), lib.tensor([1.0, 2.0])),
])
def test_index_op_errors_as_torch(program: Callable[[Any], Any]) -> None:
    both_raise(program, (TypeError, ValueError, IndexError))


# ---------------------------------------------------------------------------------------------- masks, take
@settings(max_examples=40, deadline=None)
@given(x=FLOATS, data=st.data())
def test_masked_select_and_masked_scatter_match_torch(x: np.ndarray, data: st.DataObject) -> None:
    mshape = data.draw(hnp.broadcastable_shapes(x.shape, min_dims=0, max_dims=3, min_side=0))
    mask = data.draw(hnp.arrays(np.bool_, mshape))
    out_shape = np.broadcast_shapes(x.shape, mshape)
    src = np.arange(np.prod(out_shape) + 2, dtype=np.float64) * 0.5

    def program(lib: Any) -> Any:
        a, s = lib.tensor(x, requires_grad=True), lib.tensor(src, requires_grad=True)
        m = lib.tensor(mask)
        sel = lib.masked_select(a, m)
        sc = a.masked_scatter(m, s)
        (sel.sum() + (sc * sc).sum()).backward()
        return sel, sc, a.grad, s.grad
    same(program, rtol=1e-9)


def test_masked_scatter_in_place_and_mask_errors() -> None:
    def program(lib: Any) -> Any:
        x = lib.arange(6.0).reshape(2, 3).requires_grad_()
        s = lib.tensor([[10.0, 20.0], [30.0, 40.0]], requires_grad=True)
        h = x * 1
        h.masked_scatter_(lib.tensor([True, False, True]), s)
        (h * h).sum().backward()
        return h, x.grad, s.grad
    same(program)
    both_raise(lambda lib: lib.ones(3).masked_select(lib.tensor([1, 0, 1], dtype=lib.uint8)), TypeError)
    both_raise(lambda lib: lib.ones(3).masked_scatter(lib.tensor([True, True]), lib.ones(3)), ValueError)
    both_raise(lambda lib: lib.ones(3).masked_scatter(lib.tensor([True, False, True]), lib.ones(1)), ValueError)
    both_raise(lambda lib: lib.ones(3).masked_scatter(lib.tensor([True, True, True]), lib.arange(3)), TypeError)
    both_raise(lambda lib: lib.ones(3).masked_scatter_(lib.tensor([[True], [False]]), lib.ones(6)))


@settings(max_examples=40, deadline=None)
@given(x=FLOATS, data=st.data())
def test_take_and_take_along_dim_match_torch(x: np.ndarray, data: st.DataObject) -> None:
    n = x.size
    flat = data.draw(hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3),
                                elements=st.integers(-n, n - 1))) if n else np.zeros((0,), np.int64)
    dim = data.draw(st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1))
    size = x.shape[dim] if x.ndim else 1
    ishape = tuple(data.draw(st.sampled_from([1, s])) if d != dim % max(x.ndim, 1) else
                   data.draw(st.integers(0, 3 if size else 0)) for d, s in enumerate(x.shape))
    along = data.draw(hnp.arrays(np.int64, ishape, elements=st.integers(-size, max(size - 1, 0))))
    if x.ndim == 0:  # torch: a 0-d tensor has no dim to take along
        both_raise(lambda lib: lib.take_along_dim(lib.tensor(x), lib.tensor(along), dim), ValueError)
        along, dim = np.zeros(1, np.int64), None

    def program(lib: Any) -> Any:
        a = lib.tensor(x, requires_grad=True)
        t = lib.take(a, lib.tensor(flat))
        u = lib.take_along_dim(a, lib.tensor(along), dim)
        v = a.take_along_dim(lib.tensor(np.where(flat < 0, flat + n, flat)))  # without dim, no negatives
        (t.sum() + (u * u).sum() + v.sum() * 3).backward()
        return t, u, v, a.grad
    same(program, rtol=1e-9)


def test_take_along_dim_broadcasts_the_input_and_errors() -> None:
    def program(lib: Any) -> Any:
        a = lib.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
        out = lib.take_along_dim(a, lib.tensor([[0], [2], [-1]]), 1)
        (out * lib.tensor([[1.0], [2.0], [3.0]])).sum().backward()
        return out, a.grad
    same(program)
    both_raise(lambda lib: lib.ones(2, 3).take(lib.tensor([6])), IndexError)
    both_raise(lambda lib: lib.ones(2, 3).take(lib.tensor([0], dtype=lib.int32)), TypeError)
    both_raise(lambda lib: lib.take_along_dim(lib.ones(2, 3), lib.tensor([0]), 1), ValueError)
    both_raise(lambda lib: lib.take_along_dim(lib.ones(3), lib.tensor([-1])), IndexError)
    same(lambda lib: lib.take_along_dim(lib.arange(6.0).reshape(2, 3), lib.tensor([[3, -4, 100]]), 1))  # modulo 3
    both_raise(lambda lib: lib.take_along_dim(lib.ones(2, 3), lib.tensor([[0]], dtype=lib.int32), 1), TypeError)


# ---------------------------------------------------------------------------------------------- random sampling
def moments(x: tg.Tensor) -> tuple[float, float]:
    a = x.numpy().astype(np.float64)
    return float(a.mean()), float(a.var())


def test_normal_forms_shapes_dtypes_and_moments() -> None:
    mean = tg.tensor([[-2.0], [3.0]])
    std = tg.tensor([0.5, 1.0, 2.0], dtype=tg.float32)
    out = tg.normal(mean, std)
    assert out.shape == (2, 3) and out.dtype == np.float32
    big = tg.normal(tg.full((200000,), 3.0, dtype=tg.float64), 2.0)
    assert big.dtype == np.float64 and abs(moments(big)[0] - 3) < 0.03 and abs(moments(big)[1] - 4) < 0.06
    s = tg.normal(1.0, tg.full((200000,), 0.5))
    assert abs(moments(s)[0] - 1) < 0.01 and abs(moments(s)[1] - 0.25) < 0.01
    f = tg.normal(-1.0, 3.0, (100000,))
    assert f.dtype == np.float32 and abs(moments(f)[0] + 1) < 0.05 and abs(moments(f)[1] - 9) < 0.2
    assert tg.normal(0.0, 1.0, (2,), dtype=tg.float64).dtype == np.float64
    assert tg.normal(0.0, 0.0, (3,)).tolist() == [0.0, 0.0, 0.0]
    assert tg.normal(tg.zeros(0, 2), 1.0).shape == torch.normal(torch.zeros(0, 2), 1.0).shape


def test_bernoulli_poisson_exponential_geometric_random_moments() -> None:
    n = 200000
    b = tg.bernoulli(tg.full((n,), 0.3))
    assert b.dtype == np.float32 and set(np.unique(b.numpy())) <= {0.0, 1.0} and abs(moments(b)[0] - 0.3) < 0.01
    assert tg.bernoulli(tg.full((n,), 0.5, dtype=tg.float64), 0.9).dtype == np.float64
    assert abs(moments(tg.ones(n).bernoulli(0.2))[0] - 0.2) < 0.01
    assert tg.bernoulli(tg.tensor([0.0, 1.0, 1.0, 0.0])).tolist() == [0.0, 1.0, 1.0, 0.0]
    p = tg.tensor([0.1, 0.9])
    bb = tg.zeros(n, 2, dtype=tg.int64).bernoulli_(p)
    assert bb.dtype == np.int64 and np.allclose(bb.numpy().mean(axis=0), [0.1, 0.9], atol=0.01)
    assert tg.zeros(3, dtype=tg.bool).bernoulli_(1.0).tolist() == [True, True, True]
    po = tg.poisson(tg.full((n,), 4.0))
    assert po.dtype == np.float32 and abs(moments(po)[0] - 4) < 0.05 and abs(moments(po)[1] - 4) < 0.1
    assert tg.poisson(tg.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    e = tg.zeros(n, dtype=tg.float64).exponential_(2.0)
    assert e.numpy().min() >= 0 and abs(moments(e)[0] - 0.5) < 0.01 and abs(moments(e)[1] - 0.25) < 0.01
    g = tg.zeros(n, dtype=tg.int64).geometric_(0.25)
    assert g.numpy().min() >= 1 and abs(moments(g)[0] - 4) < 0.05 and abs(moments(g)[1] - 12) < 0.5
    r = tg.zeros(n).random_(-3, 5)
    assert r.dtype == np.float32 and set(np.unique(r.numpy())) == set(range(-3, 5))
    assert set(np.unique(tg.zeros(1000, dtype=tg.int64).random_(4).numpy())) == {0, 1, 2, 3}
    assert set(np.unique(tg.zeros(100, dtype=tg.bool).random_().numpy())) == {False, True}
    i8 = tg.zeros(n, dtype=tg.int8).random_().numpy()
    assert i8.min() >= 0 and i8.max() == 127
    f = tg.zeros(n).random_(5, None).numpy()
    assert f.min() >= 5 and f.max() <= 2 ** 24 and f.max() > 2 ** 23


def test_samplers_follow_manual_seed_and_generators() -> None:
    def draw(**kw: Any) -> list[np.ndarray]:
        x = tg.zeros(50)
        return [tg.normal(tg.zeros(50), 1.0, **kw).numpy(), tg.normal(0.0, 1.0, (5,), **kw).numpy(),
                tg.bernoulli(tg.full((50,), 0.5), **kw).numpy(), tg.poisson(tg.full((50,), 3.0), **kw).numpy(),
                x.bernoulli_(0.5, **kw).numpy().copy(), x.exponential_(**kw).numpy().copy(),
                x.geometric_(0.5, **kw).numpy().copy(), x.random_(100, **kw).numpy().copy()]

    tg.manual_seed(7)
    first = draw()
    tg.manual_seed(7)
    for a, b in zip(first, draw()):
        np.testing.assert_array_equal(a, b)
    gen = [draw(generator=tg.Generator().manual_seed(3)) for _ in range(2)]
    for a, b, c in zip(gen[0], gen[1], first):
        np.testing.assert_array_equal(a, b)
        assert a.size < 10 or not np.array_equal(a, c)


def test_samples_carry_a_zero_gradient_as_torch() -> None:
    def program(lib: Any) -> Any:
        m = lib.tensor([0.0, 1.0], requires_grad=True)
        s = lib.tensor([1.0, 2.0], requires_grad=True)
        p = lib.tensor([0.2, 0.7], requires_grad=True)
        r = lib.tensor([1.0, 3.0], requires_grad=True)
        out = lib.normal(m, s).sum() + lib.normal(m, 1.0).sum() + lib.bernoulli(p).sum() + lib.poisson(r).sum()
        out.backward()
        return m.grad, s.grad, p.grad, r.grad
    same(program)


@pytest.mark.parametrize("program", [
    lambda lib: lib.normal(lib.zeros(2), -1.0),
    lambda lib: lib.normal(lib.zeros(2), lib.tensor([1.0, float("nan")])),
    lambda lib: lib.normal(0.0, -1.0, (2,)),
    lambda lib: lib.bernoulli(lib.full((3,), 1.5)),
    lambda lib: lib.bernoulli(lib.full((3,), float("nan"))),
    lambda lib: lib.ones(3).bernoulli_(-0.1),
    lambda lib: lib.ones(2, 3).bernoulli_(lib.full((3,), 1.3)),
    lambda lib: lib.ones(3).bernoulli_(lib.full((2, 3), 0.3)),
    lambda lib: lib.poisson(-lib.ones(3)),
    lambda lib: lib.ones(3).exponential_(0),
    lambda lib: lib.ones(3).geometric_(1),
    lambda lib: lib.ones(3).geometric_(0),
    lambda lib: lib.ones(3).random_(3, 3),
    lambda lib: lib.ones(3, dtype=lib.uint8).random_(0, 300),
    lambda lib: lib.ones(3, dtype=lib.uint8).random_(-1, 3),
    lambda lib: lib.ones(3, dtype=lib.bool).random_(0, 3),
])
def test_sampler_argument_errors_as_torch(program: Callable[[Any], Any]) -> None:
    both_raise(program, ValueError)


@pytest.mark.parametrize("program", [
    lambda lib: lib.normal(0.0, 1.0),
    lambda lib: lib.normal(lib.zeros(2), 1.0, (2,)),
    lambda lib: lib.normal(lib.zeros(2, dtype=lib.int64), 1.0),
    lambda lib: lib.bernoulli(lib.ones(3, dtype=lib.int64)),
    lambda lib: lib.poisson(lib.ones(3, dtype=lib.int64)),
    lambda lib: lib.ones(3, dtype=lib.int64).exponential_(),
])
def test_sampler_type_errors_as_torch(program: Callable[[Any], Any]) -> None:
    both_raise(program, TypeError)


def test_random_fills_on_a_non_leaf_and_a_leaf() -> None:
    x = tg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x.exponential_()
    with tg.no_grad():
        assert x.bernoulli_(0.0).tolist() == [0.0, 0.0, 0.0]
    h = x * 2
    h.random_(0, 1)
    assert h.tolist() == [0.0, 0.0, 0.0]
