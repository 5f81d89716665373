"""Issue 15, section 2: torch's names and call shapes, each checked against torch (values, gradients, dtypes).

``run(lib, f, *arrays)`` calls ``f(lib, *tensors)`` with float64 leaf tensors that require grad, backpropagates a
fixed upstream gradient through every floating output, and returns the outputs and the input gradients; the
tests compare torch's run with ours.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

rng = np.random.default_rng(15)


def run(lib: Any, f: Callable[..., Any], *arrays: np.ndarray,
        weights: Callable[[np.ndarray], np.ndarray] = np.cos) -> tuple[list[np.ndarray], list[Any]]:
    """``f``'s outputs and the gradients of the outputs' sum, weighted by ``weights(1, 2, ...)``."""
    inputs = [lib.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = f(lib, *inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    values = [o.detach().numpy() if isinstance(o, torch.Tensor) else o.numpy() for o in outs]
    wanted = [o for o in outs if o.requires_grad]
    if wanted:
        total = sum((o * lib.tensor(weights(np.arange(o.numel()) + 1.0).reshape(tuple(o.shape)))).sum()
                    for o in wanted)
        total.backward()
    grads = [None if t.grad is None else (t.grad.numpy()) for t in inputs]
    return values, grads


def agree(f: Callable[..., Any], *arrays: np.ndarray, rtol: float = 1e-7, grads: bool = True) -> None:
    ours, theirs = run(tg, f, *arrays), run(torch, f, *arrays)
    for a, b in zip(ours[0], theirs[0]):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, equal_nan=True)
    if grads:
        for a, b in zip(ours[1], theirs[1]):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, equal_nan=True)


def normal(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


# ------------------------------------------------------------------ creation and dtypes
def test_tensor_infers_dtypes_as_torch() -> None:
    for data in (3, 2.5, True, [1, 2], [1.0, 2], [[True, False]], [], np.arange(3, dtype=np.int32),
                 np.ones(2, dtype=np.float64), [np.float32(1.5)]):
        assert tg.tensor(data).dtype == np.dtype(str(torch.tensor(data).dtype).removeprefix("torch.")), data
    t = tg.tensor([1, 2], dtype=tg.float64, requires_grad=True, device="cpu")
    assert t.dtype == tg.float64 and t.requires_grad and t.device == "cpu"
    source = tg.tensor([1.0, 2.0])
    copy = tg.tensor(source)
    copy += 1  # a copy, never the source's array
    assert source.tolist() == [1.0, 2.0]


def test_constructors_dtypes_and_values_as_torch() -> None:
    pairs = [(tg.arange(5), torch.arange(5)), (tg.arange(1, 7, 2), torch.arange(1, 7, 2)),
             (tg.arange(0.0, 1.0, 0.25), torch.arange(0.0, 1.0, 0.25)), (tg.arange(3.0), torch.arange(3.0)),
             (tg.linspace(0, 1, 5), torch.linspace(0, 1, 5)), (tg.full((2,), 7), torch.full((2,), 7)),
             (tg.full((2,), 0.5), torch.full((2,), 0.5)), (tg.full((1,), True), torch.full((1,), True)),
             (tg.zeros(2, 3, dtype=tg.long), torch.zeros(2, 3, dtype=torch.long)),
             (tg.full_like(tg.zeros(2, dtype=tg.int32), 4), torch.full_like(torch.zeros(2, dtype=torch.int32), 4)),
             (tg.ones_like(tg.arange(3)), torch.ones_like(torch.arange(3))), (tg.empty(2, 2), torch.zeros(2, 2))]
    for ours, theirs in pairs:
        assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch."))
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    for name in ("float32", "float", "float64", "double", "int64", "long", "int32", "int", "bool", "float16"):
        assert np.dtype(getattr(tg, name)) == np.dtype(str(getattr(torch, name)).removeprefix("torch."))


def test_random_constructors_ranges_dtypes_and_generators() -> None:
    r = tg.randint(3, 7, (1000,))
    assert r.dtype == tg.int64 and int(r.min()) == 3 and int(r.max()) == 6
    assert tg.randint(5, (2, 3)).shape == (2, 3)
    p = tg.randperm(10)
    assert p.dtype == tg.int64 and sorted(p.tolist()) == list(range(10))
    assert tg.randn_like(tg.zeros(2, 3)).shape == (2, 3)
    assert tg.rand_like(tg.zeros(4, dtype=tg.float64)).dtype == tg.float64
    draws = []
    for _ in range(2):
        g = tg.Generator().manual_seed(42)
        draws.append([tg.randn(3, generator=g).tolist(), tg.rand(2, generator=g).tolist(),
                      tg.randint(0, 100, (4,), generator=g).tolist(), tg.randperm(6, generator=g).tolist(),
                      tg.multinomial(tg.tensor([0.2, 0.8]), 5, replacement=True, generator=g).tolist()])
    assert draws[0] == draws[1]
    assert g.initial_seed() == 42
    tg.manual_seed(1)
    a = tg.randn(3).tolist()
    tg.manual_seed(1)
    assert tg.randn(3).tolist() == a


def test_multinomial_samples_follow_the_weights() -> None:
    w = tg.tensor([[0.0, 1.0, 3.0], [5.0, 0.0, 5.0]])
    s = tg.multinomial(w, 4000, replacement=True)
    assert s.shape == (2, 4000) and s.dtype == tg.int64
    counts = np.stack([np.bincount(row, minlength=3) for row in s.numpy()]) / 4000
    np.testing.assert_allclose(counts, [[0, 0.25, 0.75], [0.5, 0, 0.5]], atol=0.03)
    no_repeat = tg.multinomial(tg.tensor([1.0, 1.0, 1.0, 0.0]), 3)
    assert sorted(no_repeat.tolist()) == [0, 1, 2]
    one = tg.multinomial(tg.softmax(tg.tensor([0.0, 50.0]), dim=0), 1)
    assert one.tolist() == [1]
    for bad in (tg.tensor([1.0, -1.0]), tg.tensor([0.0, 0.0]), tg.tensor([1.0, math.nan])):
        with pytest.raises(ValueError):
            tg.multinomial(bad, 1)
    # torch draws the zero-weight categories once the others are out (random_protocol probe); more than C raises
    assert tg.multinomial(tg.tensor([1.0, 0.0]), 2).tolist() == [0, 1]
    with pytest.raises(ValueError):
        tg.multinomial(tg.tensor([1.0, 0.0]), 3)


def test_conversions_and_type_methods_as_torch() -> None:
    for method in ("float", "double", "long", "int", "bool", "half"):
        for data in ([1.7, -2.2, 0.0], [3, 0, -1]):
            ours, theirs = getattr(tg.tensor(data), method)(), getattr(torch.tensor(data), method)()
            assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch.")) and ours.tolist() == theirs.tolist()
    x = tg.tensor([1.5, 2.5], requires_grad=True)
    y = x.to(tg.float64)
    assert y.dtype == tg.float64 and x.to("cpu") is x and x.to(tg.device("cpu"), tg.float32) is x
    assert x.to(tg.tensor([1], dtype=tg.int64)).dtype == tg.int64 and x.type(tg.int32).dtype == tg.int32
    assert x.type() == "tinygrad_adam.FloatTensor" and tg.zeros(1, dtype=tg.long).type() == "tinygrad_adam.LongTensor"
    assert x.type_as(tg.zeros(1, dtype=tg.float64)).dtype == tg.float64
    (y * y).sum().backward()
    assert x.grad.dtype == tg.float32 and x.grad.tolist() == [3.0, 5.0]
    assert x.cpu() is x and not x.is_cuda and x.is_floating_point() and x.element_size() == 4


def test_devices_as_torch_spells_them() -> None:
    dev = tg.device("cuda" if tg.cuda.is_available() else "cpu")
    assert tg.zeros(2).to(dev).device == str(dev)
    assert tg.device("cpu").type == "cpu" and tg.device("cuda", 1) == "cuda:1" and tg.device("cuda:1").index == 1
    assert repr(tg.device("cuda", 0)) == "device(type='cuda', index=0)"
    with pytest.raises(tg.DeviceError):
        tg.device("tpu")
    assert tg.cuda.device_count() == (1 if tg.cuda.is_available() else 0) or tg.cuda.is_available()
    if not tg.cuda.is_available():
        with pytest.raises(tg.DeviceError, match="cupy"):
            tg.zeros(2).cuda()


# ------------------------------------------------------------------ shape
def test_size_numel_dim_and_shape_methods_as_torch() -> None:
    a = normal(2, 3, 4)
    t, x = tg.tensor(a), torch.tensor(a)
    assert t.size() == tuple(x.size()) and t.size(1) == x.size(1) and t.size(-1) == 4 and t.size().numel() == 24
    assert t.numel() == x.numel() and t.dim() == x.dim() and t.shape == tuple(x.shape)
    assert t.size == 24 and tg.zeros(0, 3).size == 0  # uncalled: numpy's element count, never a silent method
    agree(lambda lib, a, b: (a.view(4, 6), a.view(-1), a.reshape(3, -1), a.view_as(b), a.reshape_as(b),
                             a.flatten(), a.flatten(1), a.unsqueeze(0), a.unsqueeze(dim=-1), a[:, :1].squeeze(1),
                             a[:1].squeeze(), a.squeeze(1), a.permute(1, 2, 0), a.permute((2, 0, 1)), a.clone(),
                             a.contiguous(), a.detach(), a[:, :1].expand(2, 5, 4), a[:, :1].expand(-1, 3, -1),
                             a[:, :1, :1].expand_as(a)),
          a, normal(4, 6))
    agree(lambda lib, a: (*a.split(2, dim=1), *a.split([1, 3], dim=1), *a.chunk(2, dim=2), *lib.split(a, 3, 1)),
          normal(2, 4, 3))


# ------------------------------------------------------------------ method and function forms
def test_arithmetic_method_and_function_forms_as_torch() -> None:
    agree(lambda lib, a, b: (a.pow(2), a.pow(b), a.mul(b), a.add(b), a.add(b, alpha=2), a.sub(b), a.sub(b, alpha=3),
                             a.div(b), a.neg(), lib.pow(a, 3), lib.mul(a, 2.0), lib.add(a, b), lib.sub(a, b),
                             lib.div(a, b), lib.neg(a), a.clamp(-0.5, 0.5), a.clamp(min=0.1), a.clamp(max=0.0),
                             a.abs(), a.sqrt(), a.square(), a.rsqrt(), a.exp(), a.log(), lib.exp(a), lib.log(a),
                             lib.sigmoid(b), lib.tanh(b), lib.relu(b), lib.matmul(a, b.T), lib.clamp(b, -1, 1)),
          rng.uniform(0.5, 2.0, (3, 4)), normal(3, 4))
    agree(lambda lib, a, b: (a.eq(b), a.ne(b), a.lt(b), a.le(b), a.gt(b), a.ge(b), lib.eq(a, b), lib.lt(a, 0),
                             ~(a > 0), (a > 0) & (b > 0), (a > 0) | (b > 0)),
          np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 4.0]))
    agree(lambda lib, a, b: (a.div(b, rounding_mode="floor"), a.div(b, rounding_mode="trunc")),
          np.array([7, -7, 6, -6, 0]), np.array([2, 2, -4, 4, 3]))
    agree(lambda lib, a, b: (a.div(b, rounding_mode="floor"), a.div(b, rounding_mode="trunc")),
          np.array([7.5, -7.5]), np.array([2.0, 2.0]), grads=False)


@settings(max_examples=25, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                    elements=st.floats(-3, 3, allow_subnormal=False)))
def test_math_functions_as_torch(x: np.ndarray) -> None:
    agree(lambda lib, a: (a.sin(), a.cos(), a.tan(), lib.sin(a), lib.cos(a), lib.tan(a), a.exp2(), lib.exp2(a)), x)
    pos = np.abs(x) + 0.25
    agree(lambda lib, a: (a.log2(), a.log10(), lib.log2(a), lib.log10(a)), pos)



@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool"])
def test_sign_of_nan_is_zero_and_its_gradient_is_zero_as_torch(dtype: str) -> None:
    # numpy's sign of nan is nan (torch: 0), and sign was no graph node, so x.sign().sum().backward() raised
    values = [-2.0, 0.0, -0.0, math.nan, 3.0, -math.inf] if dtype.startswith("float") else [-2, 0, 3, 1]
    agree(lambda lib, a: (a.sign(), lib.sign(a[0]), a.sign() * a),
          np.array(values).astype(bool if dtype == "bool" else dtype))

def test_math_on_integer_tensors_gives_float32_as_torch() -> None:
    for name in ("sin", "cos", "exp", "log2", "sqrt", "sigmoid", "tanh", "exp2"):
        ours, theirs = getattr(tg.tensor([1, 2]), name)(), getattr(torch.tensor([1, 2]), name)()
        assert ours.dtype == tg.float32 and str(theirs.dtype) == "torch.float32"
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_reductions_with_dim_and_keepdim_as_torch(data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-3, 3, allow_subnormal=False)))
    x = x + np.linspace(0.0, 0.5, x.size).reshape(shape)  # no ties, no zero spread (ill-conditioned gradients)
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    k = data.draw(st.booleans())
    agree(lambda lib, a: (a.sum(dim=d, keepdim=k), a.mean(d, k), a.sum(), lib.sum(a, d), lib.mean(a),
                          a.std(d, keepdim=k), a.var(dim=d, unbiased=False), a.std(), lib.std(a, d),
                          a.var(d, correction=0, keepdim=k), a.norm(), a.norm(dim=d, keepdim=k),
                          a.norm(p=1, dim=d), lib.norm(a), a.prod(d, keepdim=k), a.prod(), lib.prod(a, d),
                          a.cumsum(d), lib.cumsum(a, dim=d), a.logsumexp(d, keepdim=k), a.softmax(d),
                          a.log_softmax(dim=d), a.amax(d), a.amin(dim=d, keepdim=k), a.argmax(d, keepdim=k),
                          a.argmin(dim=d), a.argmax(), lib.max(a), lib.min(a, d).values, a.max(d).indices),
          x, rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(value=st.floats(-2.0**50, 2.0**50, width=32), n=st.integers(1, 70))
def test_spread_of_a_constant_float32_row_is_zero_as_torch(value: float, n: int) -> None:
    """A constant row has variance and standard deviation 0 and normalises to 0 (torch's statistics are exact there;
    numpy's mean rounds for about half of the values, which left 1e-10 variances and LayerNorm outputs of +-0.005)."""
    x = np.full((2, n), value, np.float32)
    t = tg.tensor(x, requires_grad=True)
    assert (t.var(1, correction=0).numpy() == 0).all() and (t.std(1, correction=0).numpy() == 0).all()
    t.std(1, correction=0).sum().backward()
    assert (t.grad.numpy() == 0).all()
    F = tg.nn.functional
    assert (F.layer_norm(tg.tensor(x), (n,)).numpy() == 0).all()
    assert (F.group_norm(tg.tensor(x[None]), 1).numpy() == 0).all()
    if n > 1:  # (batch norm over the n rows of each column)
        assert (F.batch_norm(tg.tensor(x.T), None, None, training=True).numpy() == 0).all()


def test_axis_and_keepdims_still_work() -> None:
    t = tg.tensor(normal(2, 3))
    assert t.sum(axis=1, keepdims=True).shape == (2, 1) and t.mean(axis=(0, 1)).shape == ()
    assert t.max(axis=(1,)).shape == (2,) and t.softmax(axis=0).shape == (2, 3)  # axes as a tuple: numpy's call
    assert tg.cat([t, t], axis=1).shape == (2, 6) and tg.stack([t, t], axis=2).shape == (2, 3, 2)
    with pytest.raises(TypeError, match="both"):
        t.sum(dim=0, axis=1)


@settings(max_examples=80, deadline=None)
@given(a=hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
                    elements=st.sampled_from([0.0, -0.0, 1.0, -2.5, 3e38, -np.inf, np.inf, np.nan])),
       name=st.sampled_from(["max", "min"]), data=st.data(), keep=st.sampled_from([{}, {"keepdim": True},
                                                                                   {"keepdims": True}]))
def test_max_min_with_axis_are_torchs_dim(a: np.ndarray, name: str, data: st.DataObject, keep: dict) -> None:
    """``x.max(axis=d)`` is torch's alias of ``max(dim=d)``: (values, indices) and the gradient to the index, with
    ties, nan, infinities and keepdims= (it returned the values only, so ``v, i = x.max(axis=0)`` unpacked rows)."""
    axis = data.draw(st.integers(-a.ndim, a.ndim - 1))
    results = []
    for lib in (tg, torch):
        x = lib.tensor(a, requires_grad=True)
        values, indices = getattr(x, name)(axis=axis, **keep)
        values.sum().backward()
        function = getattr(lib, name)(lib.tensor(a), axis=axis, **keep)
        results.append([values.detach().numpy(), indices.numpy(), x.grad.numpy(), function.values.numpy()])
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_reductions_at_edges_as_torch() -> None:
    agree(lambda lib, a: (a.prod(1), a.prod(), a.norm(), a.norm(dim=1)), np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 1.0]]))
    agree(lambda lib, a: (a.std(), a.var(0), a.cumsum(0)), np.array([5.0]))
    agree(lambda lib, a: (a.sum(0), a.cumsum(0), a.prod(0)), np.array([[1, 2], [3, 4]]))
    agree(lambda lib, a: (a.sum(), a.sum(0)), np.array([[True, False], [True, True]]))
    for empty in (np.zeros((0, 3)), np.zeros((2, 0))):  # empty tensors
        agree(lambda lib, a: (a.sum(0), a.cumsum(0), a.cumsum(1), a.prod(0), a.prod(), *a.sort(dim=0),
                              a.argsort(dim=1), a.tril(), a.triu(1), a.norm(), a.norm(dim=0), a.var(0), a.std(),
                              a.masked_fill(a > 0, 1.0), a.transpose(0, 1), a.sin(), a.topk(0, dim=1).values),
              empty)
    agree(lambda lib, a: (a.std(), a.var(0), a.norm(dim=0), a.prod(), a.cumsum(0), *a.sort()),
          np.array(2.5))  # 0-d


# ------------------------------------------------------------------ masks, triangles, index, sort
def test_masked_fill_where_tril_triu_as_torch() -> None:
    x, y = normal(4, 4), normal(4, 4)
    mask = np.triu(np.ones((4, 4), dtype=bool), 1)
    agree(lambda lib, a, b, m: (a.masked_fill(m, float("-inf")).softmax(-1), a.masked_fill(m[0], 0.0),
                                lib.where(m, a, b), lib.where(a > 0, a, 0.0), a.where(m, b), a.tril(), a.triu(1),
                                lib.tril(a, -1), lib.triu(a), b.tril(diagonal=2)),
          x, y, mask)
    agree(lambda lib, a: (a.tril(), a.triu(-1), lib.tril(a[0], 1)), normal(2, 3, 5))
    agree(lambda lib, a, m: a.masked_fill(m, 7), np.arange(6).reshape(2, 3), mask[:2, :3])


@pytest.mark.parametrize("a, b", [(1, 0), (True, False), (True, 2), (1, 0.5), (True, 2.5), (1.5, 0)])
def test_where_of_two_python_numbers_has_torchs_dtype(a: Any, b: Any) -> None:
    # two ints gave float32 (torch: int64), two bools float32 (torch: bool)
    agree(lambda lib, m: (lib.where(m, a, b), lib.where(m[0], a, b)), np.array([True, False]))


def test_causal_attention_as_a_torch_user_writes_it() -> None:
    def attention(lib: Any, q: Any, k: Any, v: Any) -> Any:
        T = q.size(1)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(lib.tril(lib.ones(T, T)).view(1, T, T) == 0, float("-inf"))
        att = lib.softmax(att, dim=-1)
        return att @ v
    agree(attention, normal(2, 5, 4), normal(2, 5, 4), normal(2, 5, 4), rtol=1e-6)


def test_gather_scatter_one_hot_as_torch() -> None:
    idx = np.array([[0, 2, 2], [1, 0, 3]])
    agree(lambda lib, a, i: (a.gather(1, i), lib.gather(a, 1, i[:, :2]), a.gather(0, i[:, :1] % 2),
                             a.scatter(1, i, 5.0), a.scatter(1, i[:, :1], a[:, 2:3] * 2),
                             a.scatter_add(1, i, a[:, :3]), lib.scatter(a, 0, i % 2, a[:2, :3])),
          normal(2, 4), idx)
    ours = tg.one_hot(tg.tensor([0, 2, 1]), 4)
    theirs = torch.nn.functional.one_hot(torch.tensor([0, 2, 1]), 4)
    assert ours.dtype == tg.int64 and ours.tolist() == theirs.tolist()
    assert tg.one_hot(tg.tensor([[1], [3]])).shape == (2, 1, 4)
    with pytest.raises(IndexError):
        tg.tensor(normal(2, 3)).gather(1, tg.tensor([[3], [0]]))
    with pytest.raises(IndexError):
        tg.tensor(normal(2, 3)).gather(1, tg.tensor([[-1], [0]]))


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_gather_scatter_generated_as_torch(data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    index_shape = tuple(data.draw(st.integers(1, n + 2 if i == d % len(shape) else n)) for i, n in enumerate(shape))
    index = data.draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, shape[d] - 1)))
    x = rng.standard_normal(shape)
    agree(lambda lib, a, i: (a.gather(d, i), lib.gather(a, d, i)), x, index)
    unique = np.argsort(rng.random(index_shape[:d % len(shape)] + (shape[d],) + index_shape[d % len(shape) + 1:]),
                        axis=d)[tuple(slice(0, n) for n in index_shape)] if index_shape[d] <= shape[d] else None
    if unique is not None:  # scatter with distinct targets per line (torch leaves repeats unspecified)
        src = rng.standard_normal(index_shape)
        agree(lambda lib, a, i, s: (a.scatter(d, i, s), a.scatter_add(d, i, s), a.scatter(d, i, 2.0)), x, unique, src)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_sort_argsort_topk_as_torch(data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-2.0, -0.5, 0.0, 1.0, 3.0, math.nan,
                                                                          math.inf])))
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    desc = data.draw(st.booleans())
    k = data.draw(st.integers(0, shape[d]))
    agree(lambda lib, a: (*a.sort(dim=d, descending=desc, stable=True), a.argsort(dim=d, descending=desc, stable=True),
                          *lib.sort(a, dim=d, stable=True), *a.sort(stable=True)),
          x)
    # topk's order among equal values is unspecified in torch: compare the values and what the indices point to
    ours, theirs = tg.tensor(x).topk(k, d, largest=desc), torch.tensor(x).topk(k, d, largest=desc)
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    np.testing.assert_array_equal(np.take_along_axis(x, ours.indices.numpy(), d), ours.values.numpy())


def test_topk_gradient_goes_to_the_chosen_entries() -> None:
    agree(lambda lib, a: (a.topk(2).values, lib.topk(a, 1, dim=0, largest=False).values), normal(3, 5))


def test_tests_and_new_tensors_as_torch() -> None:
    agree(lambda lib, a: (a.isnan(), lib.isinf(a), lib.isfinite(a), a.new_zeros(2, 3), a.new_ones((2,)),
                          a.new_full((3,), 7.0), a.new_zeros(2, dtype=lib.int64)),
          np.array([1.0, math.nan, -math.inf, math.inf]))


# ------------------------------------------------------------------ top-level functions
def test_top_level_functions_as_torch() -> None:
    agree(lambda lib, a, b: (lib.cat([a, b]), lib.cat((a, b), dim=1), lib.stack([a, b]), lib.stack([a, b], 2),
                             lib.flatten(a), lib.flatten(lib.stack([a, b]), 1), lib.sum(a, 1, keepdim=True),
                             lib.mean(a, dim=0), lib.max(a), lib.max(a, 1).values, lib.min(a, dim=0)[0],
                             lib.zeros_like(a), lib.ones_like(b), lib.full_like(a, 2.5), lib.matmul(a, b.t()),
                             lib.transpose(a, 0, 1), lib.permute(a, (1, 0)), lib.squeeze(a[:1]),
                             lib.unsqueeze(a, 1), lib.reshape(a, (-1,)), lib.clone(a), lib.detach(a)),
          normal(2, 3), normal(2, 3))



JOIN_DTYPES = ["bool", "int32", "int64", "float32", "float64"]


@settings(max_examples=60, deadline=None)
@given(dtypes=st.lists(st.sampled_from(JOIN_DTYPES), min_size=1, max_size=3), join=st.sampled_from(["cat", "stack"]))
def test_cat_and_stack_promote_dtypes_as_torch(dtypes: list[str], join: str) -> None:
    # int64 (or int32) with float32 came out float64 (numpy's promotion); torch's is float32
    def program(lib: Any) -> tuple[np.ndarray, list[Any]]:
        xs = [lib.tensor(np.arange(1, 3) * (i + 1), dtype=getattr(lib, d)) for i, d in enumerate(dtypes)]
        xs = [x.requires_grad_() if x.is_floating_point() else x for x in xs]
        y = getattr(lib, join)(xs)
        if y.requires_grad:
            (y * y).sum().backward()
        value = y.detach().numpy() if isinstance(y, torch.Tensor) else y.numpy()
        return value, [None if x.grad is None else (str(x.grad.dtype).split(".")[-1], x.grad.numpy()) for x in xs]
    (ours, our_grads), (theirs, their_grads) = program(tg), program(torch)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)
    assert [g if g is None else g[0] for g in our_grads] == [g if g is None else g[0] for g in their_grads]
    for a, b in zip(our_grads, their_grads):
        if a is not None:
            np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("join", ["cat", "concat", "concatenate", "stack"])
def test_cat_and_stack_refuse_a_tensor_as_torch(join: str) -> None:
    """One tensor in place of the list: torch raises TypeError; numpy would join its rows (a (2, 3) tensor cat to
    (6,)), a silently different result before."""
    for lib in (torch, tg):
        with pytest.raises(TypeError, match="must be tuple of Tensors"):
            getattr(lib, join)(lib.ones(2, 3))
    assert tuple(getattr(tg, join)([tg.ones(2, 3)]).shape) == tuple(getattr(torch, join)([torch.ones(2, 3)]).shape)

@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
                    elements=st.sampled_from([0.0, -0.0, 1.0, -2.5, 1e-300, 1e300, 3.0])),
       p=st.sampled_from([0, -1, -2, -0.5, 0.0]), keepdim=st.booleans(), data=st.data())
def test_norm_of_zero_or_negative_p_as_torch(x: np.ndarray, p: float, keepdim: bool, data: Any) -> None:
    """torch.norm with p = 0 (the count of non-zeros) or p < 0 is the vector norm over the dims; it raised here. The
    gradient for p < 1 is torch's formula without a mask where the norm is 0 (nan where |x|^(p-1) overflows, as
    torch's; it was 0)."""
    dim = data.draw(st.sampled_from([None, 0, tuple(range(x.ndim))]))
    results = []
    for lib in (torch, tg):
        t = lib.tensor(x, requires_grad=True)
        y = lib.norm(t, p=p, dim=dim, keepdim=keepdim)
        if p == 0:  # (no gradient: torch's result keeps requires_grad and gives x none; ours is outside the graph)
            results.append((y.detach().numpy(),))
            continue
        y.sum().backward()
        results.append((y.detach().numpy(), t.grad.numpy()))
    for ours, theirs in zip(results[1], results[0]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, equal_nan=True)

# ------------------------------------------------------------------ save / load
def test_save_load_state_dicts_and_nested_containers(tmp_path: Any) -> None:
    state = {"weight": tg.randn(3, 2), "bias": tg.zeros(3, dtype=tg.float64), "steps": tg.tensor(7),
             "nested": [tg.arange(4), (tg.tensor([True, False]), {"lr": 0.1, "name": "adam", 2: None})]}
    path = tmp_path / "model.pt"
    tg.save(state, path)
    assert path.exists() and not (tmp_path / "model.pt.npz").exists()
    back = tg.load(path)
    assert back.keys() == state.keys() and back["nested"][1][1] == {"lr": 0.1, "name": "adam", 2: None}
    for a, b in ((back["weight"], state["weight"]), (back["bias"], state["bias"]), (back["steps"], state["steps"]),
                 (back["nested"][0], state["nested"][0]), (back["nested"][1][0], state["nested"][1][0])):
        assert isinstance(a, tg.Tensor) and a.dtype == b.dtype and a.tolist() == b.tolist()
    buffer = io.BytesIO()
    tg.save({"w": tg.ones(2, requires_grad=True)}, buffer)
    buffer.seek(0)
    w = tg.load(buffer, map_location="cpu", weights_only=True)["w"]
    assert w.requires_grad and w.tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="cannot be pickled"):
        tg.save({"f": lambda: 0}, tmp_path / "bad.pt")
    np.save(tmp_path / "evil.npy", np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        tg.load(tmp_path / "evil.npy")


def test_save_load_round_trips_a_module_state_dict(tmp_path: Any) -> None:
    net = tg.nn.Linear(3, 2)
    tg.save(net.state_dict(), tmp_path / "net.pt")
    other = tg.nn.Linear(3, 2)
    other.load_state_dict(tg.load(tmp_path / "net.pt"))
    x = tg.randn(4, 3)
    assert other(x).tolist() == net(x).tolist()


# ------------------------------------------------------------------ the GPU path
@pytest.mark.gpu
def test_new_ops_on_the_gpu_match_the_cpu() -> None:
    def program(device: str) -> list[Any]:
        g = tg.Generator(device).manual_seed(3)
        x = tg.tensor(np.linspace(-2, 2, 12).reshape(3, 4), device=device, requires_grad=True)
        idx = tg.tensor([[0, 3], [1, 1], [2, 0]], device=device)
        v, i = x.max(1)
        s = x.sort(dim=1, descending=True)
        h = x * 1
        h += x.tril()
        h.mul_(2)
        out = (v.sum() + s.values[:, 0].sum() + x.gather(1, idx).sum() + x.scatter(1, idx, 0.0).sum()
               + x.masked_fill(x > 1, 0.0).sum() + x.cumsum(1).sum() + x.prod(1).sum() + x.std(0).sum()
               + x.norm() + x.topk(2).values.sum() + x.sin().sum() + h.sum())
        out.backward()
        with tg.no_grad():
            z = tg.zeros(3, device=device)
            z.normal_(generator=g)
            z.uniform_(generator=g)
        draws = [z, tg.randint(0, 5, (4,), device=device, generator=g), tg.randperm(5, device=device, generator=g),
                 tg.multinomial(tg.ones(4, device=device), 2, generator=g)]
        return [out, x.grad, i, s.indices, tg.arange(3, device=device), tg.one_hot(idx)], draws
    (cpu, _), (gpu, draws) = program("cpu"), program("cuda")
    for a, b in zip(cpu, gpu):
        assert b.device.startswith("cuda") and a.dtype == b.dtype
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5)
    assert all(d.device.startswith("cuda") for d in draws) and sorted(draws[2].tolist()) == list(range(5))


REDUCTIONS_OF_EMPTY_AND_0D = [
    lambda lib, x: x.amax(1), lambda lib, x: x.amin(1, keepdim=True), lambda lib, x: tuple(x.max(1)),
    lambda lib, x: tuple(x.min(1, keepdim=True)), lambda lib, x: x.argmax(1), lambda lib, x: x.argmin(-1),
    lambda lib, x: lib.max(x, 1).values, lambda lib, x: x.sum(1), lambda lib, x: x.mean(1),
]


@pytest.mark.parametrize("f", REDUCTIONS_OF_EMPTY_AND_0D)
def test_reductions_over_a_non_empty_dim_of_an_empty_tensor_as_torch(f: Callable[..., Any]) -> None:
    agree(f, np.zeros((0, 3)))


@pytest.mark.parametrize("f", [lambda x: x.amax(0), lambda x: x.max(0), lambda x: x.min(0, keepdim=True),
                               lambda x: x.argmax(0), lambda x: x.amin(), lambda x: x.max()])
def test_max_min_over_an_empty_dim_raise_as_torch(f: Callable[..., Any]) -> None:
    with pytest.raises((IndexError, RuntimeError)):
        f(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="empty"):  # ValueError: README's "Differences from PyTorch"
        f(tg.zeros(0, 3))


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "logsumexp", "prod", "std", "var", "argmax",
                                  "max", "min", "norm"])
@pytest.mark.parametrize("dim", [0, -1, 1, -2])
def test_reductions_of_a_0d_tensor_take_dim_0_and_minus_1_as_torch(name: str, dim: int) -> None:
    def f(lib: Any, x: Any) -> Any:
        if name == "norm":
            return x.norm(dim=dim)
        out = getattr(x, name)(dim)
        return tuple(out) if name in ("max", "min") else out

    if dim in (0, -1):
        agree(f, np.array(3.0))
    else:
        with pytest.raises(IndexError):
            f(torch, torch.tensor(3.0))
        with pytest.raises(IndexError, match="out of range"):
            f(tg, tg.tensor(3.0))


def test_from_numpy_as_tensor_is_tensor_as_torch() -> None:
    for lib in (tg, torch):
        a = np.arange(3.0)
        t = lib.from_numpy(a)
        a[0] = 9.0  # from_numpy shares the array's memory
        assert t.tolist() == [9.0, 1.0, 2.0] and t.dtype == lib.float64
        assert lib.is_tensor(t) and not lib.is_tensor(a) and not lib.is_tensor([1.0])
        shared = lib.as_tensor(a)  # the same dtype and device: shared, not copied
        a[1] = 7.0
        assert shared.tolist() == [9.0, 7.0, 2.0]
        copied = lib.as_tensor(a, dtype=lib.float32)  # another dtype: a copy
        a[2] = 5.0
        assert copied.tolist() == [9.0, 7.0, 2.0] and copied.dtype == lib.float32
        assert lib.as_tensor(t) is t
        assert lib.as_tensor([1, 2]).dtype == lib.int64 and lib.as_tensor([1.0, 2]).dtype == lib.float32
        assert lib.as_tensor(True).dtype == lib.bool
        leaf = lib.ones(2, requires_grad=True)
        cast = lib.as_tensor(leaf, dtype=lib.float64)  # a differentiable cast, as .to(dtype)
        cast.sum().backward()
        assert leaf.grad.tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="ndarray"):
        tg.from_numpy([1.0, 2.0])


def test_inference_mode_records_no_graph_as_torch() -> None:
    for lib in (tg, torch):
        x = lib.ones(2, requires_grad=True)
        with lib.inference_mode():
            assert not (x * 2).requires_grad and not lib.is_grad_enabled()
        with lib.inference_mode(False):
            assert (x * 2).requires_grad
        assert lib.is_grad_enabled()

        @lib.inference_mode()
        def double(t: Any) -> Any:
            return t * 2

        assert not double(x).requires_grad and lib.is_grad_enabled()


def test_set_num_threads_records_the_value_as_torch() -> None:
    before = tg.get_num_threads()
    assert isinstance(before, int) and before >= 1
    try:
        tg.set_num_threads(3)
        assert tg.get_num_threads() == 3
        for bad in (0, -1, 1.5):
            with pytest.raises(ValueError, match="positive integer"):
                tg.set_num_threads(bad)
        assert tg.get_num_threads() == 3
    finally:
        tg.set_num_threads(before)


EINSUMS = [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]), ("ii->", [(3, 3)]), ("ii", [(3, 3)]), ("ii->i", [(3, 3)]), ("bii->b", [(2, 3, 3)]),
    ("iij->j", [(2, 2, 3)]), ("iii->", [(2, 2, 2)]), ("i,i->", [(3,), (3,)]), ("i,j->ij", [(3,), (4,)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (5, 3, 4)]), ("...ij->...ji", [(2, 3, 4)]), ("...", [(2, 3)]),
    ("ij->", [(2, 3)]), ("ij->j", [(2, 3)]), ("ba", [(2, 3)]), ("aB", [(2, 3)]),
    ("ijk,jil->kl", [(2, 3, 4), (3, 2, 5)]),
    ("i,i,i->i", [(3,), (3,), (3,)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("ij,ij->ij", [(1, 3), (2, 3)]),
    ("i->", [(0,)]), ("ij,jk->ik", [(2, 0), (0, 3)]), (" b i j , b j k -> b i k ", [(2, 3, 4), (2, 4, 5)]),
]


@pytest.mark.parametrize(("equation", "shapes"), EINSUMS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_einsum_values_and_gradients_as_torch(equation: str, shapes: list[tuple[int, ...]], dtype: Any) -> None:
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    agree(lambda lib, *xs: lib.einsum(equation, *xs), *arrays, rtol=1e-7 if dtype == np.float64 else 1e-5)
    agree(lambda lib, *xs: lib.einsum(equation, list(xs)), *arrays, rtol=1e-5)  # the operands as one list


@pytest.mark.parametrize(("equation", "shapes"), [("ij,jk", [(2, 3), (4, 5)]), ("ij", [(2, 3, 4)]),
                                                  ("ij,jk", [(2, 3)]), ("i1", [(2, 2)]), ("ij->k", [(2, 2)])])
def test_einsum_errors_as_torch(equation: str, shapes: list[tuple[int, ...]]) -> None:
    with pytest.raises(RuntimeError):
        torch.einsum(equation, *[torch.ones(s) for s in shapes])
    with pytest.raises(ValueError, match="einsum"):
        tg.einsum(equation, *[tg.ones(s) for s in shapes])
    with pytest.raises(TypeError, match="share a dtype"):
        tg.einsum("ij,jk", tg.ones(2, 2), tg.ones(2, 2, dtype=tg.float64))


@pytest.mark.gpu
def test_einsum_on_the_gpu_matches_the_cpu() -> None:
    def program(device: str) -> list[Any]:
        a = tg.tensor(np.linspace(-2, 2, 24).reshape(2, 3, 4), device=device, requires_grad=True)
        b = tg.tensor(np.linspace(1, 3, 9).reshape(3, 3), device=device, requires_grad=True)
        out = tg.einsum("bij,jk->bik", a.transpose(1, 2), b).sum() + tg.einsum("ii", b)
        out.backward()
        return [out, a.grad, b.grad]
    for x, y in zip(program("cpu"), program("cuda")):
        assert y.device.startswith("cuda") and x.dtype == y.dtype
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_einsum_generated_batched_products_and_traces_as_torch(data: st.DataObject) -> None:
    b, n, k, m = (data.draw(st.integers(0, 3)) for _ in range(4))
    values = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False, width=64) | st.floats(-3, 3)
    x = data.draw(hnp.arrays(np.float64, (b, n, k), elements=values))
    y = data.draw(hnp.arrays(np.float64, (b, k, m), elements=st.floats(-3, 3)))
    _agree_up_to_order(lambda lib, p, q: (lib.einsum("bnk,bkm->bmn", p, q), lib.einsum("...nk,...km", p, q)), x, y)
    sq = data.draw(hnp.arrays(np.float64, (b, n, n), elements=values))
    _agree_up_to_order(lambda lib, p: (lib.einsum("bii->b", p), lib.einsum("bii->bi", p), lib.einsum("bij->", p)), sq)


def _agree_up_to_order(f: Callable[..., Any], *arrays: np.ndarray) -> None:
    """``agree`` for a multilinear ``f`` (einsum), each value within 1e-6 of the sum of the absolute terms it adds
    (``f`` of |inputs|): terms of both signs round by the order a library adds them (6.4e16 + 3.4e38 - 3.4e38 is 0
    in one order, -3.4e23 in another and 6.4e16 exactly)."""
    ours, theirs = run(tg, f, *arrays), run(torch, f, *arrays)
    scale = run(torch, f, *[np.abs(a) for a in arrays], weights=lambda i: np.abs(np.cos(i)))
    for a, b, bound in [*zip(ours[0], theirs[0], scale[0]), *zip(ours[1], theirs[1], scale[1])]:
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        close = np.isclose(a, b, rtol=1e-6, atol=1e-6, equal_nan=True)
        with np.errstate(invalid="ignore"):  # inf - inf where both are inf (close)
            assert (close | (np.abs(a - b) <= 1e-6 * np.nan_to_num(bound, nan=0.0))).all(), (a, b, bound)


def test_einsum_output_changed_in_place_differentiates_as_torch() -> None:
    agree(lambda lib, a, b: lib.einsum("ij,jk->ik", a, b).add_(1).mul_(2), rng.standard_normal((2, 3)),
          rng.standard_normal((3, 2)))
