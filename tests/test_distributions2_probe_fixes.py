"""Fixes found by the second distributions probe (tinygrad_adam.distributions against torch.distributions):
``kl_divergence`` of two Wisharts raised NotImplementedError where torch computes the exponential-family Bregman
divergence from Wishart's natural parameters (-precision / 2, df / 2) and log normaliser."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam import distributions as D

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SETTINGS = settings(max_examples=12, deadline=None)
pytestmark = pytest.mark.filterwarnings("ignore:Low df values:UserWarning")


def _spd(rng: np.random.Generator, batch: tuple[int, ...], p: int, scale: float) -> np.ndarray:
    """A batch of symmetric positive-definite p x p matrices, eigenvalues spread over ``scale``."""
    a = rng.standard_normal((*batch, p, p))
    return a @ np.swapaxes(a, -1, -2) * scale + np.eye(p) * scale


@SETTINGS
@given(p=st.integers(1, 3), batch=st.sampled_from([(), (1,), (3,), (2, 3)]),
       df_extra=st.floats(0.0, 20.0) | st.sampled_from([0.0, 1e-3, 1e3]),
       scale=st.sampled_from([1e-3, 1.0, 1e3]), param=st.sampled_from(["covariance_matrix", "precision_matrix",
                                                                         "scale_tril"]),
       dtype=st.sampled_from(["float64", "float32"]), seed=st.integers(0, 2**16))
def test_wishart_kl_matches_torch(p: int, batch: tuple[int, ...], df_extra: float, scale: float, param: str,
                                  dtype: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    mats = [_spd(rng, batch, p, scale) for _ in range(2)]
    if param == "scale_tril":
        mats = [np.linalg.cholesky(m) for m in mats]
    dfs = [p - 1 + df_extra + rng.uniform(0.1, 3.0, batch) for _ in range(2)]
    up = rng.standard_normal(batch)
    res = {}
    for lib, dist in ((torch, torch.distributions), (tg, D)):
        leaves = [lib.tensor(np.asarray(x, dtype), requires_grad=True) for x in (*mats, *dfs)]
        kl = dist.kl_divergence(dist.Wishart(leaves[2], **{param: leaves[0]}),
                                dist.Wishart(leaves[3], **{param: leaves[1]}))
        kl.backward(lib.tensor(up.astype(dtype)))
        res[lib.__name__] = (kl.detach().numpy(), str(kl.dtype).split(".")[-1], tuple(kl.shape),
                             [None if x.grad is None else x.grad.numpy() for x in leaves])
    t, o = res["torch"], res["tinygrad_adam"]
    assert o[1:3] == t[1:3]
    rtol = 1e-6 if dtype == "float64" else 2e-3
    atol = rtol * max(1.0, float(np.abs(t[0]).max(initial=0.0)))
    np.testing.assert_allclose(o[0], t[0], rtol=rtol, atol=atol)
    for gt, go in zip(t[3], o[3]):
        assert (gt is None) == (go is None)
        if gt is not None:
            np.testing.assert_allclose(go, gt, rtol=rtol * 10, atol=rtol * 10 * max(1.0, float(np.abs(gt).max())))
