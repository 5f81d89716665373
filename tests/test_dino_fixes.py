"""What the DINO program (``tests/torch_style/dino.py``) met, against torch 2.13: utils' ``LARS``, an Optimizer
subclass with its own ``@torch.no_grad() step`` that keeps a momentum Tensor in ``self.state[p]['mu']``.

- ``self.state[p]`` for a parameter not seen before: torch's ``Optimizer.state`` is a ``defaultdict(dict)``, so it is
  an empty dict; ours was a plain dict and raised KeyError (loud), on the first step.
- ``state_dict`` / ``load_state_dict`` of such an optimizer: ours required a step count ``"t"`` in every
  parameter's state (ValueError for LARS's ``{"mu": ...}``), and turned Tensors in the state into arrays on loading
  (so ``mu.mul_`` after a resume failed), and the loaded state was a plain dict again. Now a subclass with its own
  step gets its state back as it saved it (Tensors as Tensors on the parameter's device, floating ones in its dtype,
  as torch casts them) in a defaultdict, and a resumed run continues exactly as the uninterrupted one, as torch's."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def lars_class(lib: object) -> type:
    """DINO utils' LARS over ``lib`` (torch or ours), as the repository writes it."""

    class LARS(lib.optim.Optimizer):
        def __init__(self, params, lr=0, weight_decay=0, momentum=0.9, eta=0.001):
            super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, eta=eta))

        @lib.no_grad()
        def step(self) -> None:
            for g in self.param_groups:
                for p in g["params"]:
                    dp = p.grad
                    if dp is None:
                        continue
                    if p.ndim != 1:
                        dp = dp.add(p, alpha=g["weight_decay"])
                        param_norm, update_norm = lib.norm(p), lib.norm(dp)
                        one = lib.ones_like(param_norm)
                        q = lib.where(param_norm > 0., lib.where(update_norm > 0, (g["eta"] * param_norm / update_norm),
                                                                  one), one)
                        dp = dp.mul(q)
                    param_state = self.state[p]
                    if "mu" not in param_state:
                        param_state["mu"] = lib.zeros_like(p)
                    mu = param_state["mu"]
                    mu.mul_(g["momentum"]).add_(dp)
                    p.add_(mu, alpha=-g["lr"])
    return LARS


FLOATS = st.floats(-1e6, 1e6, allow_nan=False, width=32) | st.sampled_from([0.0, -0.0, 1e-30, 3e38, -3e38])
SHAPES = st.sampled_from([(), (0,), (3,), (2, 3), (1, 1, 4)])


def run(lib: object, shapes: list[tuple[int, ...]], values: list[float], steps: int, resume_at: int | None,
        dtype: str) -> list[np.ndarray]:
    """``steps`` LARS steps on parameters of ``shapes`` (gradients from ``values``, deterministic per step), the
    optimizer rebuilt from its state_dict (through save / load) at step ``resume_at``; the final parameters."""
    rng = np.random.default_rng(0)
    params = [lib.tensor(rng.normal(size=s).astype(dtype), requires_grad=True) for s in shapes]
    LARS = lars_class(lib)
    opt = LARS(params, lr=0.1, weight_decay=1e-3)
    for step in range(steps):
        if step == resume_at:
            buffer = io.BytesIO()
            lib.save(opt.state_dict(), buffer)
            buffer.seek(0)
            opt = LARS(params, lr=0.1, weight_decay=1e-3)
            opt.load_state_dict(lib.load(buffer, weights_only=False) if lib is torch else lib.load(buffer))
        for i, p in enumerate(params):
            grad = np.resize(np.array(values, dtype=dtype), p.shape) * (step + 1 + i)
            p.grad = lib.tensor(grad.astype(dtype))
        opt.step()
    return [p.detach().numpy().copy() for p in params]


@settings(deadline=None, max_examples=30)
@given(st.lists(SHAPES, min_size=1, max_size=3), st.lists(FLOATS, min_size=1, max_size=6), st.integers(1, 3),
       st.sampled_from(["float32", "float64"]))
def test_subclass_state_steps_and_resumes_as_torch(shapes: list, values: list, steps: int, dtype: str) -> None:
    """A LARS step on a fresh ``self.state[p]`` and a resume from its state_dict agree with torch's, and the resumed
    run equals the uninterrupted one exactly."""
    with np.errstate(all="ignore"):
        want = run(torch, shapes, values, steps + 1, None, dtype)
        got = run(tg, shapes, values, steps + 1, None, dtype)
        resumed = run(tg, shapes, values, steps + 1, steps, dtype)
    rtol = 2e-5 if dtype == "float32" else 1e-12
    for g, r, w in zip(got, resumed, want, strict=True):
        np.testing.assert_array_equal(r, g)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * np.nanmax(np.abs(w), initial=1.0))


def test_state_is_a_defaultdict_and_keeps_tensors() -> None:
    """``opt.state[p]`` is {} for an unseen parameter, in torch and ours, before and after a load; the loaded ``mu``
    is a Tensor in the parameter's dtype, a copy (not the saved object)."""
    for lib in (torch, tg):
        p = lib.zeros(3, requires_grad=True)
        opt = lars_class(lib)([p], lr=0.1)
        assert opt.state[p] == {}
        p.grad = lib.ones(3)
        opt.step()
        saved = opt.state_dict()
        assert isinstance(saved["state"][0]["mu"], lib.Tensor) and "t" not in saved["state"][0]
        if lib is tg:  # ours copies the state it hands out, Tensors as its arrays (torch's aliases it)
            opt.step()
            assert saved["state"][0]["mu"].tolist() == [-1.0] * 3 or saved["state"][0]["mu"].tolist() == [1.0] * 3
            assert opt.state[p]["mu"].tolist() != saved["state"][0]["mu"].tolist()
        q = lib.zeros(3, requires_grad=True)
        again = lars_class(lib)([q], lr=0.1)
        mu = lib.ones(3, dtype=lib.float64)
        again.load_state_dict({"state": {0: {"mu": mu}}, "param_groups": saved["param_groups"]})
        loaded = again.state[q]["mu"]
        assert isinstance(loaded, lib.Tensor) and loaded.dtype == lib.float32
        loaded.mul_(2)
        assert mu.tolist() == [1.0, 1.0, 1.0]
        assert again.state[lib.zeros(1)] == {}


def test_builtin_optimizers_still_check_their_step_count() -> None:
    """Our own optimizers' state must still count steps: a state without ``"step"`` (torch's name in state_dict) is
    refused, as torch's Adam refuses it; it was taken as step 1 while state_dict kept the paper's ``t``."""
    p = tg.zeros(2, requires_grad=True)
    opt = tg.optim.Adam([p])
    p.grad = tg.ones(2)
    opt.step()
    saved = opt.state_dict()
    del saved["state"][0]["step"]
    with pytest.raises(ValueError, match="invalid step count"):
        tg.optim.Adam([p]).load_state_dict(saved)


def test_reading_the_state_of_a_parameter_before_its_first_step() -> None:
    """``opt.state[p]`` before the first step is torch's empty dict, left in the state; the first step then starts
    p's state as usual, and a state_dict holding the empty entry loads back (as torch's)."""
    for lib in (tg, torch):
        p = lib.nn.Parameter(lib.ones(3))
        opt = lib.optim.Adam([p], lr=0.1)
        assert len(opt.state[p]) == 0
        lib.optim.Adam([p], lr=0.1).load_state_dict(opt.state_dict())
        p.grad = lib.ones(3)
        opt.step()
        assert int(opt.state[p]["step"] if lib is torch else opt.state[p]["t"]) == 1
        np.testing.assert_allclose(p.detach().numpy(), np.full(3, 0.9, np.float32), rtol=1e-6)
