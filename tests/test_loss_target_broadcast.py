"""The regression losses (``mse_loss``, ``l1_loss``, ``smooth_l1_loss``, ``huber_loss``) against torch on a target
of another shape. torch broadcasts the two with a warning; where that grows the input ((N, 1) against (N,) makes an
(N, N) loss) ours raises (README, Differences), and where it does not ((1, 1) against (1,): aitorzip's CycleGAN
with its default batch of 1; (3, 4) against (4,)) ours now broadcasts as torch, with the warning: values and
gradients of both inputs as torch's. Until this stop every shape difference raised, so that CycleGAN script failed.

Mutation run (failed here): ``_same_shape`` without its broadcast branch (every difference raising again)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SHAPE = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"]), a=SHAPE, b=SHAPE,
       reduction=st.sampled_from(["mean", "sum", "none"]), seed=st.integers(0, 2**16))
def test_target_broadcast_as_torch_unless_it_grows_the_input(name: str, a: tuple, b: tuple, reduction: str,
                                                              seed: int) -> None:
    try:
        grows = np.broadcast_shapes(a, b) != a
    except ValueError:
        grows = True
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(a), rng.standard_normal(b)
    results = []
    for lib in (torch, tg):
        xt, yt = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                loss = getattr(lib.nn.functional, name)(xt, yt, reduction=reduction)
            except (RuntimeError, ValueError) as e:
                results.append(type(e))
                continue
        loss.sum().backward()
        warned = any("Using a target size" in str(w.message) for w in caught)
        results.append((loss.detach().numpy(), xt.grad.numpy(), yt.grad.numpy(), warned))
    theirs, ours = results
    if grows or isinstance(theirs, type):
        assert ours is ValueError
        return
    assert not isinstance(ours, type)
    for got, want in zip(ours[:3], theirs[:3]):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert ours[3] == theirs[3] == (a != b)
