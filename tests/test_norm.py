"""Tensor.norm against torch: values and gradients for every p, zero rows and zero elements included (a norm of
0 has gradient 0 in torch; composing pow(sum(|x|^p), 1/p) gave nan there)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch")


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([0.5, 1, 1.5, 2, "fro", 3, 4.5, math.inf, -math.inf]), st.sampled_from([None, 0, 1, (0, 1)]),
       st.booleans(), st.integers(0, 10**6), st.floats(0, 1))
def test_norm_matches_torch(p: object, dim: object, keepdim: bool, seed: int, zeros: float) -> None:
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal((3, 4)) * (rng.random((3, 4)) >= zeros)  # some elements (or whole rows) zero
    x0[1] = 0.0
    x, t = tg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    if p == "fro" and dim is not None and not isinstance(dim, tuple):
        dim = (dim,)
    ours, theirs = x.norm(p, dim=dim, keepdim=keepdim), t.norm(p, dim=dim, keepdim=keepdim)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12, atol=0)
    w = np.linspace(0.5, 1.5, ours.numel()).reshape(ours.shape)
    (ours * tg.tensor(w)).sum().backward()
    (theirs * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_unsupported_p_raises() -> None:
    """A negative p is torch's vector norm now (test_torch_api); a p that is not a number or 'fro' still raises."""
    with pytest.raises(ValueError, match="not supported"):
        tg.ones(3).norm("nuclear")
    with pytest.raises(ValueError, match="not supported"):
        tg.ones(3).norm(float("nan"))
