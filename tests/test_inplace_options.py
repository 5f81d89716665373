"""torch's ``inplace=True`` on ReLU, SiLU, Dropout and Dropout2d (modules and functions: the result is written into
the input, gradients flow as torch's through the rewritten tensor, a leaf that needs a gradient is refused), and
BatchNorm's ``bias=False``; each against torch."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import nn

torch = pytest.importorskip("torch")

X = np.array([[-2.0, -0.0, 0.5], [3.0, -1e-3, np.inf]])


@pytest.mark.parametrize("name", ["ReLU", "SiLU"])
def test_inplace_activation_modules_match_torch(name: str) -> None:
    ours, theirs = getattr(nn, name)(inplace=True), getattr(torch.nn, name)(inplace=True)
    assert repr(ours).startswith(repr(theirs)) and repr(getattr(nn, name)()).startswith(repr(getattr(torch.nn, name)()))
    w_ours, w_torch = tg.Tensor(X.copy(), requires_grad=True), torch.tensor(X.copy(), requires_grad=True)
    h_ours, h_torch = w_ours * 2, w_torch * 2  # a non-leaf, rewritten in place
    out_ours, out_torch = ours(h_ours), theirs(h_torch)
    assert out_ours is h_ours and out_torch is h_torch
    np.testing.assert_allclose(h_ours.numpy(), h_torch.detach().numpy(), rtol=1e-12)
    g = np.cos(np.arange(X.size)).reshape(X.shape)
    (out_ours * tg.Tensor(g)).sum().backward()
    (out_torch * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(w_ours.grad.numpy(), w_torch.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("fn", ["relu", "silu", "dropout"])
def test_inplace_functions_write_into_their_input_and_refuse_a_leaf(fn: str) -> None:
    x = tg.Tensor(X.copy())
    tg.manual_seed(0)
    expected = getattr(F, fn)(tg.Tensor(X.copy()))
    tg.manual_seed(0)
    out = getattr(F, fn)(x, inplace=True)
    assert out is x
    np.testing.assert_array_equal(x.numpy(), expected.numpy())
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        getattr(F, fn)(tg.Tensor(X.copy(), requires_grad=True), inplace=True)


@pytest.mark.parametrize("name", ["Dropout", "Dropout2d"])
def test_inplace_dropout_modules(name: str) -> None:
    assert repr(getattr(nn, name)(0.25, inplace=True)).startswith(repr(getattr(torch.nn, name)(0.25, inplace=True)))
    x = tg.Tensor(np.ones((2, 3, 4, 4)))
    tg.manual_seed(1)
    expected = getattr(nn, name)(0.5)(tg.Tensor(np.ones((2, 3, 4, 4))))
    tg.manual_seed(1)
    assert getattr(nn, name)(0.5, inplace=True)(x) is x
    np.testing.assert_array_equal(x.numpy(), expected.numpy())
    assert set(np.unique(x.numpy())) <= {0.0, 2.0} and 0.0 in x.numpy() and 2.0 in x.numpy()
    kept = tg.Tensor(np.ones((1, 3, 2, 2)))
    assert getattr(nn, name)(0.5, inplace=True).eval()(kept) is kept and np.all(kept.numpy() == 1)


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_without_bias_matches_torch(affine: bool) -> None:
    ours = nn.BatchNorm1d(3, affine=affine, bias=False).double()
    theirs = torch.nn.BatchNorm1d(3, affine=affine, bias=False).double()
    assert repr(ours).startswith(repr(theirs)) and list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(nn.BatchNorm2d(3)).startswith(repr(torch.nn.BatchNorm2d(3)))
    if affine:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor([0.5, 2.0, -1.0]))
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3))
    xo, xt = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xo), theirs(xt)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = np.cos(np.arange(15.0)).reshape(5, 3)
    (out * tg.Tensor(g)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    if affine:
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-10)
        assert ours.bias is None and theirs.bias is None
