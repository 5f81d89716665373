"""What the WGAN-GP program (``tests/torch_style/wgan_gp.py``) needed, against torch 2.13: the gradient penalty
differentiates through a critic of ``nn.LeakyReLU(0.2, inplace=True)``, so ``create_graph=True`` passes in-place
activations (``F.<act>(x, inplace=True)``, node ``<act>_``) and ``x.add_ / sub_ / mul_ / div_ / clamp_`` (``+= -=
*= /=``), as torch's (second-order gradients compared); in-place ops whose formula would read the overwritten output
still raise. And what such programs meet around it: ``requires_grad_(False)`` on a computed tensor raises, the
legacy ``autograd.Variable``, and a gradient on another device than its output raises (``backward(mone)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_higher_order_grad import DTYPES, F, second_order, small_arrays, typed
from test_torch_movement_names import arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

INPLACE: dict[str, Callable[..., Any]] = {  # (x * 1.5) is a non-leaf, so it may be written in place
    "relu": lambda lib, x: F[lib].relu(x * 1.5, inplace=True) * x,
    "leaky_relu": lambda lib, x: F[lib].leaky_relu(x * 1.5, 0.2, inplace=True) * x,
    "module_leaky_relu": lambda lib, x: lib.nn.LeakyReLU(0.2, inplace=True)(F[lib].layer_norm(x * x, x.shape[-1:])),
    "silu": lambda lib, x: F[lib].silu(x * 1.5, inplace=True),
    "add_": lambda lib, x: (x * x).add_(x.sin(), alpha=2.0) * x,
    "sub_": lambda lib, x: (x * x).sub_(x.cos()) * x,
    "mul_": lambda lib, x: (x * 1.5).mul_(x.tanh()),
    "mul_number": lambda lib, x: (x * x).mul_(-0.5) * x,
    "div_": lambda lib, x: (x * x).div_(x.exp()) * x,
    "div_number": lambda lib, x: (x * x).div_(-4.0) * x,
    "itruediv": lambda lib, x: (lambda y: (y.__itruediv__(x.cos() + 2)) * x)(x * 1.5),
    "clamp_": lambda lib, x: (x * x).clamp_(-1.0, 2.0) * x,
    "chain": lambda lib, x: F[lib].leaky_relu((x * 1.5).mul_(x).add_(x.sin()), 0.1, inplace=True) * x,
}
NO_NAN = {  # torch's scalar loop (under 16 elements) gives g (scale) for a nan x where ours gives nan (as out of place)
    "elu": lambda lib, x: F[lib].elu(x * 1.5, 0.7, inplace=True),
    "selu": lambda lib, x: F[lib].selu(x * 1.5, inplace=True),
    "celu": lambda lib, x: F[lib].celu(x * 1.5, 0.5, inplace=True),  # (alpha 1.3: torch rounds 1 / alpha to float32)
    "hardtanh": lambda lib, x: F[lib].hardtanh(x * 1.5, -1.0, 2.0, inplace=True) * x,
    "relu6": lambda lib, x: F[lib].relu6(x * 3.0, inplace=True) * x,
    "mish": lambda lib, x: F[lib].mish(x * 1.5, inplace=True),
    "hardswish": lambda lib, x: F[lib].hardswish(x * 1.5, inplace=True) * x,
}


@pytest.mark.parametrize("name", sorted(INPLACE))
@settings(max_examples=20, deadline=None)
@given(x=small_arrays(min_dims=1), dtype=DTYPES)
def test_double_backward_through_in_place_ops(name: str, x: np.ndarray, dtype: Any) -> None:
    second_order(INPLACE[name], typed(x, dtype))


@pytest.mark.parametrize("name", sorted(NO_NAN))
@settings(max_examples=20, deadline=None)
@given(x=arrays(min_dims=1, elements=st.floats(-20, 20) | st.sampled_from([0.0, -0.0, 2.0, -2.0, 4.0, -4.0])),
       dtype=DTYPES)
def test_double_backward_through_in_place_activations_without_nan(name: str, x: np.ndarray, dtype: Any) -> None:
    second_order(NO_NAN[name], typed(x, dtype))


@pytest.mark.parametrize("op", [  # (pow_ is twice differentiable since the thirty-seventh stop: test_opinfo_d_fixes)
    lambda x: F[tg].hardsigmoid(x * 1.5, inplace=True),  # no differentiable backward, in place or not
])
def test_in_place_ops_without_a_safe_formula_still_raise(op: Callable[[Any], Any]) -> None:
    x = tg.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    with pytest.raises(NotImplementedError, match="double backward through"):
        tg.autograd.grad(op(x).sum(), x, create_graph=True)


def test_gradient_penalty_of_an_in_place_leaky_relu_critic_matches_torch() -> None:
    """The program's penalty, ((||d critic / d x||_2 - 1) ** 2).mean(), and its gradient in the critic's weights."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.LayerNorm(8), torch.nn.LeakyReLU(0.2, inplace=True),
                                 torch.nn.Linear(8, 1))
    ours = tg.nn.Sequential(tg.nn.Linear(3, 8), tg.nn.LayerNorm(8), tg.nn.LeakyReLU(0.2, inplace=True),
                            tg.nn.Linear(8, 1))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    results = []
    for lib, net in ((torch, theirs), (tg, ours)):
        inputs = lib.tensor(x, requires_grad=True)
        out = net(inputs)
        grads = lib.autograd.grad(out, inputs, grad_outputs=lib.ones_like(out), create_graph=True)[0]
        penalty = ((grads.norm(2, dim=1) - 1) ** 2).mean()
        penalty.backward()
        results.append([penalty.item()] + [p.grad.numpy() for p in net.parameters() if p.grad is not None])
    for a, b in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_requires_grad_false_on_a_computed_tensor_raises_as_torch() -> None:
    """torch refuses to unmark a non-leaf (it would cut the graph silently); a leaf, or a result made under
    no_grad, may be unmarked; requires_grad_(True) on a non-leaf is allowed."""
    for lib, error in ((torch, RuntimeError), (tg, RuntimeError)):
        x = lib.ones(3, requires_grad=True)
        y = x * 2
        assert y.requires_grad_(True) is y and y.requires_grad
        with pytest.raises(error, match="leaf"):
            y.requires_grad_(False)
        assert not x.requires_grad_(False).requires_grad
        with lib.no_grad():
            z = lib.ones(3, requires_grad=True) * 2
        assert not z.requires_grad_(False).requires_grad


@pytest.mark.parametrize("order", ["computed first", "computed second"])
def test_requires_grad_assigned_false_on_a_computed_tensor_is_refused(order: str) -> None:
    """``y = x * 2; y.requires_grad = False; (y * x).sum().backward()`` gave x.grad = 2x where the product's
    derivative is 4x: the gradient stopped at y without a word. torch raises at the assignment; ours at the first op
    that takes y (the attribute is a plain slot), in either operand position; detach() is the way."""
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.requires_grad = False
    with pytest.raises(RuntimeError, match="detach"):
        y * x if order == "computed first" else x * y
    with pytest.raises(RuntimeError, match="leaf"):
        t = torch.ones(2, requires_grad=True) * 2
        t.requires_grad = False
    (x * (x * 2).detach()).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_legacy_variable_as_torch() -> None:
    """``autograd.Variable`` (old WGAN-GP code: ``Variable(Tensor(...), requires_grad=False)``): a detached Tensor
    sharing the array, with requires_grad as asked; every Tensor is an instance; volatile only warns."""
    for lib in (torch, tg):
        Variable = lib.autograd.Variable
        data = lib.ones(3) * 2
        v = Variable(data, requires_grad=True)
        assert type(v) is lib.Tensor and v is not data and v.requires_grad and v.is_leaf and not data.requires_grad
        with lib.no_grad():
            v[0] = 5.0  # the same memory
        assert data[0].item() == 5.0
        computed = lib.ones(2, requires_grad=True) * 3
        detached = Variable(computed)
        assert detached.is_leaf and not detached.requires_grad and detached.tolist() == [3.0, 3.0]
        assert isinstance(data, Variable) and isinstance(computed, Variable) and not isinstance(2.0, Variable)
        assert tuple(Variable().shape) == (0,) and Variable().dtype == lib.float32
        with pytest.warns(UserWarning, match="volatile"):
            assert not Variable(data, volatile=True).requires_grad
        for bad in (2.0, [1.0]):
            said = "has to be a tensor" if lib is torch else "Variable\\(\\) wraps a tensor"  # each library's words
            with pytest.raises(TypeError, match=said):
                Variable(bad)
        x = Variable(lib.tensor([1.0, -2.0]), requires_grad=True)  # it differentiates as a leaf
        (x ** 2).sum().backward()
        assert x.grad.tolist() == [2.0, -4.0]


@pytest.mark.gpu
def test_a_gradient_on_another_device_raises_as_torch() -> None:
    """``D_real.backward(mone)`` with ``mone`` left on the CPU for a GPU critic: torch's RuntimeError (invalid
    gradient, expected device cuda:0), for backward and for autograd.grad's grad_outputs; on the right device it
    runs."""
    x = tg.tensor([1.0, -2.0], device="cuda", requires_grad=True)
    for call in (lambda y, g: y.backward(g), lambda y, g: tg.autograd.grad(y, x, grad_outputs=g)):
        with pytest.raises(RuntimeError, match="invalid gradient at index 0: expected device cuda:0 but got cpu"):
            call((x * 2).mean(), tg.tensor(-1.0))
    (x * 2).mean().backward(tg.tensor(-1.0, device="cuda"))
    assert x.grad.device.type == "cuda" and x.grad.cpu().tolist() == [-1.0, -1.0]
