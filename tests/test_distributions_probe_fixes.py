"""Fixes found by the distributions probe (tinygrad_adam.distributions against torch.distributions): Beta /
Dirichlet draws clamped below 1 as torch's ``_sample_dirichlet`` (never exactly 1, where log_prob is inf), and
Bernoulli.log_prob of an integer value raising torch's RuntimeError family."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam import distributions as D

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SETTINGS = settings(max_examples=10, deadline=None)
SMALL = st.floats(1e-3, 0.05) | st.sampled_from([1e-3, 0.01, 0.02])
DTYPES = st.sampled_from([("float64", tg.float64, torch.float64), ("float32", tg.float32, torch.float32)])


@SETTINGS
@given(a=SMALL, b=SMALL, dtypes=DTYPES, seed=st.integers(0, 2**16))
def test_beta_samples_stay_below_one_as_torch(a: float, b: float, dtypes: tuple, seed: int) -> None:
    """Beta(a, b) with tiny concentrations: torch's draws lie in [tiny, nextafter(1, 0)], so log_prob(sample) is
    finite; ours used to hit exactly 1.0 (a third of the draws at a = 0.01), giving log_prob inf."""
    name, odt, tdt = dtypes
    tg.manual_seed(seed)
    torch.manual_seed(seed)
    ours = D.Beta(tg.tensor(a, dtype=odt), tg.tensor(b, dtype=odt)).sample((2000,)).numpy()
    ref = torch.distributions.Beta(torch.tensor(a, dtype=tdt), torch.tensor(b, dtype=tdt)).sample((2000,)).numpy()
    lo, hi = np.finfo(name).tiny, np.nextafter(np.ones((), name), np.zeros((), name))
    assert ours.dtype == ref.dtype
    assert ours.min() >= lo and ours.max() <= hi and ref.min() >= lo and ref.max() <= hi
    lp = torch.distributions.Beta(torch.tensor(a, dtype=tdt), torch.tensor(b, dtype=tdt)).log_prob(
        torch.from_numpy(ours))
    assert torch.isfinite(lp).all()


@SETTINGS
@given(c=st.lists(SMALL, min_size=2, max_size=4), seed=st.integers(0, 2**16))
def test_dirichlet_samples_clamped_as_torch(c: list[float], seed: int) -> None:
    """Dirichlet draws: every component in [tiny, nextafter(1, 0)], as torch's; rsample keeps its gradient."""
    tg.manual_seed(seed)
    conc = tg.tensor(np.array(c), requires_grad=True)
    x = D.Dirichlet(conc).rsample((500,))
    v = x.detach().numpy()
    assert v.min() >= np.finfo(np.float64).tiny and v.max() <= np.nextafter(1.0, 0.0)
    x.sum().backward()
    assert conc.grad is not None and np.all(np.isfinite(conc.grad.numpy()))


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_bernoulli_integer_value_raises_runtime_error(dtype: str) -> None:
    """torch: Bernoulli.log_prob(long value) raises RuntimeError (can't cast to Long); ours raises a class that is
    both RuntimeError (torch's) and TypeError (what it raised before)."""
    value = np.array([0, 1], dtype=dtype)
    with pytest.raises(RuntimeError):
        torch.distributions.Bernoulli(torch.tensor([0.2, 0.7])).log_prob(torch.from_numpy(value))
    with pytest.raises(RuntimeError):
        D.Bernoulli(tg.tensor(np.array([0.2, 0.7], dtype=np.float32))).log_prob(tg.tensor(value))
    with pytest.raises(TypeError):
        D.Bernoulli(tg.tensor(np.array([0.2, 0.7], dtype=np.float32))).log_prob(tg.tensor(value))
