"""Every differentiable op: gradient vs finite differences (gradcheck, float64) and vs torch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

rng = np.random.default_rng(1234)


def positive(shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(0.5, 2.0, shape)


def normal(shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def away_from_zero(shape: tuple[int, ...]) -> np.ndarray:
    """Values with |x| >= 0.2, so kinks (relu, abs, clip) are far from finite-difference steps."""
    x = rng.uniform(0.2, 2.0, shape)
    return x * rng.choice([-1.0, 1.0], shape)


# name: (ours, torch's, input makers). Each function takes the same positional inputs.
CASES: dict[str, tuple[Callable, Callable, list]] = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, [(normal, (3, 4)), (normal, (4,))]),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, [(normal, (3, 1)), (normal, (1, 4))]),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, [(normal, (2, 3, 4)), (normal, (3, 1))]),
    "div": (lambda a, b: a / b, lambda a, b: a / b, [(normal, (3, 4)), (positive, (3, 4))]),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b, [(positive, (3, 4)), (normal, (4,))]),
    "scalar_ops": (lambda a: (2.0 - a) * 3 / (a + 5) + 1 / (a * a + 1) - a ** 2,
                   lambda a: (2.0 - a) * 3 / (a + 5) + 1 / (a * a + 1) - a ** 2, [(normal, (5,))]),
    "neg": (lambda a: -a, lambda a: -a, [(normal, (3, 2))]),
    "exp": (lambda a: a.exp(), lambda a: a.exp(), [(normal, (3, 4))]),
    "log": (lambda a: a.log(), lambda a: a.log(), [(positive, (3, 4))]),
    "sqrt": (lambda a: a.sqrt(), lambda a: a.sqrt(), [(positive, (3, 4))]),
    "tanh": (lambda a: a.tanh(), lambda a: a.tanh(), [(normal, (3, 4))]),
    "sigmoid": (lambda a: a.sigmoid(), lambda a: a.sigmoid(), [(normal, (3, 4))]),
    "relu": (lambda a: a.relu(), lambda a: a.relu(), [(away_from_zero, (3, 4))]),
    "softplus": (lambda a: a.softplus(), lambda a: __import__("torch").nn.functional.softplus(a),
                 [(normal, (3, 4))]),
    "softplus_beta": (lambda a: a.softplus(beta=2.0), lambda a: __import__("torch").nn.functional.softplus(a, beta=2.0),
                      [(normal, (3, 4))]),
    "abs": (lambda a: a.abs(), lambda a: a.abs(), [(away_from_zero, (3, 4))]),
    "clip": (lambda a: a.clip(-0.5, 0.7), lambda a: a.clamp(-0.5, 0.7), [(normal, (4, 5))]),
    "maximum": (lambda a, b: a.maximum(b), lambda a, b: __import__("torch").maximum(a, b),
                [(normal, (3, 4)), (normal, (4,))]),
    "minimum": (lambda a, b: a.minimum(b), lambda a, b: __import__("torch").minimum(a, b),
                [(normal, (3, 4)), (normal, (3, 1))]),
    "where": (lambda a, b: tg.where(a > 0, a, b), lambda a, b: __import__("torch").where(a > 0, a, b),
              [(away_from_zero, (3, 4)), (normal, (4,))]),
    "sum": (lambda a: a.sum(axis=1), lambda a: a.sum(dim=1), [(normal, (3, 4, 2))]),
    "sum_keepdims": (lambda a: a.sum(axis=(0, 2), keepdims=True), lambda a: a.sum(dim=(0, 2), keepdim=True),
                     [(normal, (3, 4, 2))]),
    "sum_all": (lambda a: a.sum(), lambda a: a.sum(), [(normal, (3, 4))]),
    "mean": (lambda a: a.mean(axis=-1), lambda a: a.mean(dim=-1), [(normal, (3, 4))]),
    "max": (lambda a: a.max(axis=(1,)), lambda a: a.amax(dim=1), [(normal, (3, 5))]),
    "min_all": (lambda a: a.min(), lambda a: a.amin(), [(normal, (3, 5))]),
    "logsumexp": (lambda a: a.logsumexp(axis=1), lambda a: a.logsumexp(dim=1), [(normal, (3, 5))]),
    "log_softmax": (lambda a: a.log_softmax(axis=-1), lambda a: a.log_softmax(dim=-1), [(normal, (3, 5))]),
    "log_softmax_axis0": (lambda a: a.log_softmax(axis=0), lambda a: a.log_softmax(dim=0), [(normal, (3, 5))]),
    "softmax": (lambda a: a.softmax(axis=1), lambda a: a.softmax(dim=1), [(normal, (2, 4, 3))]),
    "matmul_2d": (lambda a, b: a @ b, lambda a, b: a @ b, [(normal, (3, 4)), (normal, (4, 5))]),
    "matmul_vec_mat": (lambda a, b: a @ b, lambda a, b: a @ b, [(normal, (4,)), (normal, (4, 5))]),
    "matmul_mat_vec": (lambda a, b: a @ b, lambda a, b: a @ b, [(normal, (3, 4)), (normal, (4,))]),
    "matmul_vec_vec": (lambda a, b: a @ b, lambda a, b: a @ b, [(normal, (4,)), (normal, (4,))]),
    "matmul_batched": (lambda a, b: a @ b, lambda a, b: a @ b, [(normal, (2, 3, 4)), (normal, (4, 2))]),
    "matmul_broadcast": (lambda a, b: a @ b, lambda a, b: a @ b, [(normal, (2, 1, 3, 4)), (normal, (3, 4, 2))]),
    "reshape": (lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), [(normal, (2, 3, 2))]),
    "permute": (lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), [(normal, (2, 3, 4))]),
    "T": (lambda a: a.T, lambda a: a.T, [(normal, (2, 3))]),
    "flatten": (lambda a: a.flatten(1), lambda a: a.flatten(1), [(normal, (2, 3, 4))]),
    "expand": (lambda a: a.expand(3, 2, 4), lambda a: a.expand(3, 2, 4), [(normal, (2, 1))]),
    "squeeze": (lambda a: a.squeeze(1), lambda a: a.squeeze(1), [(normal, (2, 1, 3))]),
    "unsqueeze": (lambda a: a.unsqueeze(-1), lambda a: a.unsqueeze(-1), [(normal, (2, 3))]),
    "getitem_slices": (lambda a: a[1:, ::2], lambda a: a[1:, ::2], [(normal, (3, 5))]),
    "getitem_int": (lambda a: a[1], lambda a: a[1], [(normal, (3, 5))]),
    "getitem_gather": (lambda a: a[np.array([0, 2, 0]), np.array([1, 1, 4])],
                       lambda a: a[[0, 2, 0], [1, 1, 4]], [(normal, (3, 5))]),
    "getitem_rows_repeated": (lambda a: a[np.array([2, 2, 0])], lambda a: a[[2, 2, 0]], [(normal, (3, 2))]),
    "concatenate": (lambda a, b: tg.concatenate([a, b], axis=1),
                    lambda a, b: __import__("torch").cat([a, b], dim=1), [(normal, (2, 3)), (normal, (2, 2))]),
    "stack": (lambda a, b: tg.stack([a, b], axis=1),
              lambda a, b: __import__("torch").stack([a, b], dim=1), [(normal, (2, 3)), (normal, (2, 3))]),
    "pad": (lambda a: a.pad(((1, 0), (2, 1))), lambda a: __import__("torch").nn.functional.pad(a, (2, 1, 1, 0)),
            [(normal, (2, 3))]),
}


def make_inputs(spec: list) -> list[np.ndarray]:
    return [maker(shape) for maker, shape in spec]


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name: str) -> None:
    ours, _, spec = CASES[name]
    xs = [tg.Tensor(x, requires_grad=True) for x in make_inputs(spec)]
    assert tg.gradcheck(ours, xs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs, spec = CASES[name]
    arrays = make_inputs(spec)
    xs = [tg.Tensor(x, requires_grad=True) for x in arrays]
    ts = [torch.tensor(x, requires_grad=True) for x in arrays]
    out, ref = ours(*xs), theirs(*ts)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    w = rng.standard_normal(out.shape)
    (out * tg.Tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


# -------------------------------------------------------------- broadcasting, generated by hypothesis
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b}


@settings(max_examples=40, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_broadcasting_binary_vs_torch(shapes, op: str, seed: int) -> None:
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(seed)
    a = r.standard_normal(shapes.input_shapes[0])
    b = r.uniform(0.5, 2.0, shapes.input_shapes[1])  # positive, so div is smooth
    ta, tb = tg.Tensor(a, requires_grad=True), tg.Tensor(b, requires_grad=True)
    pa, pb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, ref = BINARY[op](ta, tb), BINARY[op](pa, pb)
    assert out.shape == tuple(ref.shape) == shapes.result_shape
    w = r.standard_normal(out.shape)
    (out * tg.Tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape
    np.testing.assert_allclose(ta.grad.numpy(), pa.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), pb.grad.numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4, max_side=4),
                    elements=st.floats(-3, 3)),
       data=st.data(), keepdims=st.booleans(), op=st.sampled_from(["sum", "mean", "logsumexp"]))
def test_reductions_random_axes_vs_torch(x: np.ndarray, data, keepdims: bool, op: str) -> None:
    torch = pytest.importorskip("torch")
    axes = data.draw(st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim, unique=True))
    t, p = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = getattr(t, op)(axis=tuple(axes), keepdims=keepdims)
    ref = getattr(p, op)(dim=tuple(axes), keepdim=keepdims)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = np.random.default_rng(0).standard_normal(out.shape)
    (out * tg.Tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-12)


# -------------------------------------------------------------- documented choices and stability
def test_max_splits_gradient_evenly_among_ties() -> None:
    x = tg.Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    x.max(axis=(1,)).sum().backward()  # numpy's call (a tuple of axes); amax's gradient
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0.5], [1, 0, 0]])


def test_maximum_splits_gradient_on_ties() -> None:
    a = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = tg.Tensor(np.array([1.0, 0.0]), requires_grad=True)
    a.maximum(b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 1.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 0.0])


def test_softplus_and_sigmoid_stable_for_large_inputs() -> None:
    x = tg.Tensor(np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=np.float32), requires_grad=True)
    y = x.softplus()
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), [0.0, np.log1p(np.exp(-50.0)), np.log(2.0), 50.0, 1e4], rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-7)
    assert np.all(np.isfinite(x.sigmoid().numpy()))


def test_logsumexp_and_log_softmax_stable() -> None:
    x = tg.Tensor(np.array([[1000.0, 1000.0], [-1000.0, -1001.0]]), requires_grad=True)
    np.testing.assert_allclose(x.logsumexp(axis=1).numpy(), [1000 + np.log(2), -1000 + np.log1p(np.exp(-1))])
    ls = x.log_softmax(axis=1)
    assert np.all(np.isfinite(ls.numpy()))
    ls.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_float32_stays_float32() -> None:
    x = tg.Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    w = tg.Tensor(np.ones((3, 4), np.float32), requires_grad=True)
    y = ((x @ w).relu() * 2.0 + 1).log_softmax().exp().sum() / 3
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_comparisons_are_not_differentiable() -> None:
    x = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for c in (x > 1.5, x >= 2, x < 2, x <= 2, x == 2, x != 2):
        assert c.dtype == np.bool_ and not c.requires_grad
    np.testing.assert_array_equal((x == 2).numpy(), [False, True, False])
