"""What the Bayes-by-Backprop program (``tests/torch_style/bayes_backprop.py``) led to, against torch 2.13: softplus,
the ``sigma = softplus(rho)`` of such posteriors, at its extremes.

- The gradient of ``softplus`` is torch's exp(beta x) / (exp(beta x) + 1), not 1 / (1 + exp(-beta x)): below beta x
  = -87 in float32 torch keeps a subnormal gradient (3.8e-44 at -100) where sigmoid gives 0, so a sigma = softplus(rho)
  that underflows to a subnormal gave ``nan`` (inf * 0) for the KL / entropy gradient where torch gives -inf / inf.
  Where exp(beta x) overflows (threshold above 88, or none), ours is 1 and torch's nan; and there, for a negative
  beta, ours is x (exact to rounding) where torch's value is log1p(inf) / beta = -inf.
- ``softplus`` with a negative beta and a large x is -0 in torch (log1p(exp(beta x)) / beta): ours gave +0.

Mutations run (each fails a test here):
- ``elementwise.softplus``'s backward back to ``sigmoid_array``: test_softplus_gradient_matches_torch,
  test_kl_through_underflowed_softplus_sigma_matches_torch.
- ``exp_ratio`` without ``z[big] = 1``: test_softplus_gradient_matches_torch (nan where exp overflows).
- the create_graph formula (``higher_order.softplus``) back to ``ew.sigmoid``: test_create_graph_gradient_is_the_same.
- ``exp(where(mask, 0, bx))`` back to ``exp(bx)`` there: test_create_graph_gradient_is_the_same (nan second order).
- ``softplus_array``'s final ``where`` back to ``out += maximum(x, 0) if beta > 0 else minimum(x, 0)``:
  test_softplus_value_matches_torch (sign of 0)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

EDGES = [0.0, -0.0, np.nan, np.inf, -np.inf, -100.0, -88.5, -103.0, -104.0, -745.0, 20.0, 20.5, 88.0, 95.0, 1e30, -1e30]
BETAS = [1.0, 2.0, 0.5, -1.0, -2.0]
THRESHOLDS = [20.0, 5.0, 100.0, 1e30]


def values(dtype: str) -> st.SearchStrategy[np.ndarray]:
    width = 32 if dtype == "float32" else 64
    floats = st.floats(allow_nan=True, allow_infinity=True, width=width) | st.sampled_from(EDGES)
    return st.lists(floats, min_size=0, max_size=12).map(lambda v: np.array(v, dtype=dtype))


def softplus_both(x: np.ndarray, beta: float, threshold: float, create_graph: bool = False) -> list:
    out = []
    for lib in (torch, tg):
        t = lib.tensor(x, requires_grad=True)
        y = lib.nn.functional.softplus(t, beta=beta, threshold=threshold)
        g, = lib.autograd.grad(y.sum(), t, create_graph=create_graph)
        out.append((y.detach().numpy(), g.detach().numpy()))
    return out


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(["float32", "float64"]).flatmap(values), st.sampled_from(BETAS), st.sampled_from(THRESHOLDS))
@example(np.array(EDGES, np.float32), 1.0, 100.0)
@example(np.array(EDGES), -1.0, 1e30)
def test_softplus_value_matches_torch(x: np.ndarray, beta: float, threshold: float) -> None:
    """Equal to torch's, sign of 0 included, but x where torch's log1p(exp(beta x)) overflows to inf (beta < 0), and
    within one unit of the smallest subnormal where the result is subnormal: torch's AVX2 kernel (as on an AMD EPYC
    without AVX-512) rounds exp(-100) in float32 to 28 units where the nearest is 27, as ours gives, and
    flushes exp(-103) (1.3 units) to 0."""
    (want, _), (got, _) = softplus_both(x, beta, threshold)
    overflow = np.isinf(want) & np.isfinite(x)
    assert np.all(got[overflow] == x[overflow]) and np.all(x[overflow] * beta > 88)
    got, want = got[~overflow], want[~overflow]
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=np.finfo(x.dtype).smallest_subnormal)
    zeros = (got == 0) & (want == 0)
    assert np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(["float32", "float64"]).flatmap(values), st.sampled_from(BETAS), st.sampled_from(THRESHOLDS))
@example(np.array(EDGES, np.float32), 1.0, 100.0)
@example(np.array(EDGES), -1.0, 1e30)
def test_softplus_gradient_matches_torch(x: np.ndarray, beta: float, threshold: float) -> None:
    """Equal to torch's (subnormals included), but 1 where torch's exp(beta x) / (exp(beta x) + 1) is inf / inf."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        (_, want), (_, got) = softplus_both(x, beta, threshold)
    overflow = np.isnan(want) & ~np.isnan(x)
    assert np.all(got[overflow] == 1) and np.all(x[overflow] * beta > 88)
    np.testing.assert_allclose(got[~overflow], want[~overflow], rtol=2e-6, atol=0)
    assert np.array_equal(got[~overflow] == 0, want[~overflow] == 0)  # a subnormal stays non-zero


@settings(deadline=None, max_examples=30)
@given(values("float32"), st.sampled_from(BETAS), st.sampled_from(THRESHOLDS))
def test_create_graph_gradient_is_the_same(x: np.ndarray, beta: float, threshold: float) -> None:
    """With create_graph the first-order gradient equals the plain one, and the second order has no nan torch lacks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, (_, plain) = softplus_both(x, beta, threshold)
        t = tg.tensor(x, requires_grad=True)
        g, = tg.autograd.grad(tg.nn.functional.softplus(t, beta=beta, threshold=threshold).sum(), t, create_graph=True)
        second, = tg.autograd.grad(g.sum(), t)
        w = torch.tensor(x, requires_grad=True)
        h, = torch.autograd.grad(torch.nn.functional.softplus(w, beta=beta, threshold=threshold).sum(), w,
                                 create_graph=True)
        want, = torch.autograd.grad(h.sum(), w)
    np.testing.assert_array_equal(g.detach().numpy(), plain)
    assert not np.any(np.isnan(second.numpy()) & ~np.isnan(want.numpy()))


@pytest.mark.parametrize("which", ["kl", "entropy", "log_prob"])
def test_kl_through_underflowed_softplus_sigma_matches_torch(which: str) -> None:
    """rho = -100: sigma = softplus(rho) is the subnormal 3.8e-44, 1 / sigma overflows, and d/d rho is +-inf."""
    grads = []
    for lib in (torch, tg):
        D = lib.distributions
        rho = lib.tensor([-100.0, -5.0], requires_grad=True)
        q = D.Normal(lib.tensor([0.2, -0.1]), lib.nn.functional.softplus(rho), validate_args=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow in 1 / sigma
            if which == "kl":
                out = D.kl_divergence(q, D.Normal(0.0, 1.0))
            else:
                out = q.entropy() if which == "entropy" else q.log_prob(lib.tensor([0.2, 0.3]))
            out.sum().backward()
        grads.append(rho.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5)
