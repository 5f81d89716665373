"""tinygrad_adam.amp against torch.amp: GradScaler's scale schedule, skipped steps, unscaled gradients, state_dict
and errors over generated runs (gradients with inf, nan and float32 overflow among them); autocast runs its block
in full precision and says so."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
FACTORS = st.floats(-4, 4) | st.sampled_from([np.inf, -np.inf, np.nan, 3e38, 1e-45, 0.0])


def _train(lib: Any, factors: list[float], options: dict[str, Any], unscale_first: bool) -> tuple[list, dict]:
    w = lib.nn.Parameter(lib.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)))
    opt = lib.optim.Adam([w], lr=0.1)
    scaler = lib.amp.GradScaler("cpu", **options)
    trace = []
    for f in factors:
        opt.zero_grad()
        loss = (w * lib.tensor(np.float32(f))).sum() + (w * w).sum()
        scaler.scale(loss).backward()
        if unscale_first:
            scaler.unscale_(opt)
            trace.append(w.grad.numpy().copy() if lib is tg else w.grad.detach().numpy().copy())
        scaler.step(opt)
        scaler.update()
        trace += [scaler.get_scale(), w.detach().numpy().copy()]
    return trace, scaler.state_dict()


@settings(max_examples=40, deadline=None)
@given(factors=st.lists(FACTORS, min_size=1, max_size=8), init=st.sampled_from([1.0, 8.0, 2.0 ** 16, 3.0, 1e-3]),
       interval=st.integers(1, 3), growth=st.sampled_from([2.0, 1.5, 3.0]), backoff=st.sampled_from([0.5, 0.3]),
       unscale_first=st.booleans())
def test_grad_scaler_runs_as_torch(factors: list[float], init: float, interval: int, growth: float, backoff: float,
                                   unscale_first: bool) -> None:
    options = {"init_scale": init, "growth_interval": interval, "growth_factor": growth, "backoff_factor": backoff}
    ours, theirs = _train(tg, factors, options, unscale_first), _train(torch, factors, options, unscale_first)
    assert ours[1] == theirs[1]  # the scale schedule exactly
    for a, b in zip(ours[0], theirs[0], strict=True):  # the steps taken and skipped (Adam's own rounding aside)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_a_scale_that_would_overflow_float32_stays_as_torch() -> None:
    """At 3e38 the next growth is not finite: torch keeps the scale (the gradients here are tiny, so that no
    overflow depends on the order of the additions)."""
    scales = []
    for lib in (tg, torch):
        w = lib.nn.Parameter(lib.ones(2))
        opt = lib.optim.SGD([w], lr=0.1)
        scaler = lib.amp.GradScaler("cpu", init_scale=3e38, growth_interval=1)
        for _ in range(2):
            opt.zero_grad()
            scaler.scale((w * 1e-20).sum()).backward()
            scaler.step(opt)
            scaler.update()
        scales.append((scaler.get_scale(), w.detach().numpy().tolist()))
    assert scales[0] == scales[1] and scales[0][0] == float(np.float32(3e38))


def test_grad_scaler_errors_disabled_and_state_as_torch() -> None:
    for lib in (tg, torch):
        w = lib.nn.Parameter(lib.ones(3))
        opt = lib.optim.SGD([w], lr=0.1)
        scaler = lib.amp.GradScaler("cpu")
        with pytest.raises((RuntimeError, AssertionError)):
            scaler.update()  # no step recorded
        scaler.scale(w.sum()).backward()
        scaler.unscale_(opt)
        with pytest.raises(RuntimeError):
            scaler.unscale_(opt)
        scaler.step(opt)
        with pytest.raises(RuntimeError):
            scaler.step(opt)
        with pytest.raises(RuntimeError):
            scaler.unscale_(opt)
        with pytest.raises(RuntimeError):
            scaler.step(opt, closure=lambda: 0.0)
        scaler.update(new_scale=4.0)
        assert scaler.get_scale() == 4.0
        off = lib.amp.GradScaler("cpu", enabled=False)
        loss = w.sum()
        assert off.scale(loss) is loss and off.get_scale() == 1.0 and off.state_dict() == {}
        with pytest.raises((ValueError, AssertionError)):
            lib.amp.GradScaler("cpu", growth_factor=1.0)
        restored = lib.amp.GradScaler("cpu")
        restored.load_state_dict(scaler.state_dict())
        assert restored.state_dict() == scaler.state_dict()
        with pytest.raises(RuntimeError):
            restored.load_state_dict({})
    if not tg.cuda.is_available():
        with pytest.warns(UserWarning, match="needs a GPU"):
            assert not tg.cuda.amp.GradScaler(init_scale=4.0).is_enabled()


def test_autocast_runs_the_block_in_full_precision_and_says_so() -> None:
    x = tg.randn(4, 3)
    w = tg.randn(3, 2, requires_grad=True)
    tg.amp.autocast._warned = False
    with pytest.warns(UserWarning, match="no mixed precision"), tg.autocast("cpu", dtype=tg.float16):
        y = x @ w
    assert y.dtype == tg.float32
    np.testing.assert_array_equal(y.numpy(), (x @ w).numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once only, and never when disabled
        with tg.amp.autocast("cpu"), tg.amp.autocast("cuda", enabled=False):
            pass
    with pytest.warns(FutureWarning, match=r"torch\.cuda\.amp\.autocast\(args\.\.\.\)` is deprecated"):
        tg.cuda.amp.autocast(enabled=False)  # torch.cuda.amp's names are deprecated, as in torch

    @tg.autocast("cpu", enabled=False)
    def f(a: tg.Tensor) -> tg.Tensor:
        return a * 2
    np.testing.assert_array_equal(f(x).numpy(), (x * 2).numpy())
    with pytest.raises(ValueError):
        tg.autocast(3)
