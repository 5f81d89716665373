"""``nflows.py`` (bayesiains/nflows' neural spline flow: rational-quadratic coupling layers with linear tails,
ResidualNet conditioners, LULinear, ReversePermutation, CompositeTransform, StandardNormal, Flow) run on torch and,
imports swapped, on ours from torch's initial weights and the same numpy two-moons batches: per Adam step the
losses, clip_grad_norm_'s norms, CosineAnnealingLR's rates, the parameters and the printed lines; a run stopped with
a checkpoint and resumed in fresh objects equals the uninterrupted one bit for bit in each library; in eval mode the
log-probs, the noise, inverse(forward(x)) (equal to x), the two logabsdets (summing to 0), samples from the same fed
noise and their log-probs, and LULinear's ``weight() @ weight_inverse()``. In float64 the spline itself (forward
and inverse, values, logabsdets and gradients) at its edge inputs: exactly on the knots, at +-tail_bound, outside
the interval, and the whole flow's log-prob and gradients.

Tolerances: float32 runs differ by summation order. Measured over 6 steps (lr 5e-3; and 3 steps of the parity-mask
flow): losses within 7.2e-7 (relative 2.6e-7), norms 1.2e-5 (of about 4 to 13, relative 3.3e-6), parameters 2.4e-7;
eval log-probs 2.9e-6, noise 3.3e-6, logabsdets 2.5e-6, samples 1.4e-6, their log-probs 2.6e-6, LULinear's W W^-1
6e-8; the round trip is within 8.3e-7 of x in each library. We allow rtol 1e-5 with atol 1e-6 for the series and
parameters, atol 2e-5 for the eval arrays, 2e-6 for the round trips (5e-6 for the logabsdets': ours seen 2.6e-6 on an
AVX-512 EPYC, of logabsdets up to 1.3; each library's float32 logabsdets are 2e-6 (ours) and 5.2e-6 (torch's inverse)
from its float64 ones on the same weights, whose round trip is within 8e-16). Float64: the spline's outputs and
logabsdets within 1.7e-13 (values near 0 and up to 2), its gradients within 2.1e-12 (of values up to 3e3, relative
3e-13) (rtol 1e-12 with atol 1e-13 allowed); the two libraries' softmax can differ in the last bit, so each library's
knots are its own (they agree within 1e-15); the flow's log-probs within 3.6e-15 and gradients 8.9e-16 (rtol 1e-11, atol
1e-12); learning rates within 1e-15."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "nflows.py"
TOL = {"rtol": 1e-5, "atol": 1e-6}
EVAL = {"rtol": 0, "atol": 2e-5}
F64 = {"rtol": 1e-12, "atol": 1e-13}
X = None  # the eval points and noise, made once
NOISE = np.random.default_rng(3).standard_normal((16, 2)).astype(np.float32)


def eval_points() -> np.ndarray:
    """Held-out moons plus points in the tails (outside +-tail_bound = 3)."""
    with program(PATH, "torch") as t:
        x = t.make_moons(12, seed=99)
    return np.concatenate([x, np.array([[3.5, 0.0], [-4.0, 1.0], [0.0, -3.2], [5.0, 5.0]], np.float32)])


def test_nflows_trains_resumes_and_samples_like_torch(one_torch_thread: None) -> None:
    x = eval_points()

    def run(m: types.ModuleType, flow: Any, lib: str) -> dict:
        start = {k: v.clone() for k, v in flow.state_dict().items()}
        out = m.train(flow, num_iter=6)
        out.update(m.evaluate(flow, x, NOISE))
        part = m.create_flow()
        part.load_state_dict(start)
        first = m.train(part, num_iter=6, stop=3)
        fresh = m.create_flow()
        resumed = m.train(fresh, num_iter=6, state=m.torch.load(first["checkpoint"]))
        assert first["loss"] == out["loss"][:3]
        assert_same_run({k: out[k][3:] for k in ("loss", "norm", "lr", "lines")},
                        {k: resumed[k] for k in ("loss", "norm", "lr", "lines")})
        for a, b in zip(out["params"][3:], resumed["params"], strict=True):
            assert all(np.array_equal(a[n], b[n]) for n in a)
        assert "_distribution._log_z" not in flow.state_dict()  # persistent=False
        assert flow._distribution._log_z.dtype == m.torch.float64
        out["sampled"] = tuple(flow.sample(5).shape)
        out["log_prob_dtype"] = str(out["log_prob"].dtype)
        return out

    theirs, ours = from_torch_weights(PATH, lambda m: m.create_flow(), run)
    for key in ("loss", "norm"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    np.testing.assert_allclose(ours["lr"], theirs["lr"], rtol=1e-15, atol=1e-18)
    for a, b in zip(ours["params"], theirs["params"], strict=True):
        assert_params_close(a, b, **TOL)
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        assert got.split(",")[0] == want.split(",")[0]
        assert float(got.split()[-1]) == pytest.approx(float(want.split()[-1]), abs=1.1e-4)
    for key in ("log_prob", "z", "back", "logabsdet", "inv_logabsdet", "samples", "sample_log_prob", "eye"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **EVAL)
    for out in (ours, theirs):
        np.testing.assert_allclose(out["back"], x, rtol=0, atol=2e-6)
        np.testing.assert_allclose(out["logabsdet"] + out["inv_logabsdet"], 0, atol=5e-6)
        np.testing.assert_allclose(out["eye"], np.eye(2), atol=1e-6)
        assert out["sampled"] == (5, 2) and out["log_prob_dtype"] == "float32"
    np.testing.assert_array_equal(ours["z"][12:][[0, 3], 0] != 0, True)  # the tails are the identity but for LULinear
    assert ours["loss"][-1] < ours["loss"][0]


def test_parity_mask_flow_steps(one_torch_thread: None) -> None:
    """The ``torch.arange`` parity mask, three coupling layers, two residual blocks: three steps agree."""
    def make(m: types.ModuleType) -> Any:
        return m.create_flow(num_layers=3, num_blocks=2, mask="parity", num_bins=5)

    def run(m: types.ModuleType, flow: Any, lib: str) -> dict:
        assert [t.identity_features.tolist() for t in flow._transform._transforms[2::3]] == [[0], [1], [0]]
        return m.train(flow, num_iter=3)

    theirs, ours = from_torch_weights(PATH, make, run)
    for key in ("loss", "norm"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert_params_close(ours["params"][-1], theirs["params"][-1], **TOL)


def spline_inputs(lib: types.ModuleType, rng: np.random.Generator, n: int, bins: int, bound: float) -> dict:
    """Float64 spline parameters and inputs at the edges: the forward and the inverse knots (as ``lib``'s own
    softmax / cumsum make them: the libraries' knots may differ in the last bit), +-tail_bound, its neighbours,
    outside the interval, 0 and ordinary points; one row of parameters per input."""
    w, h, d = (rng.standard_normal((n, bins)) * 2, rng.standard_normal((n, bins)) * 2,
               rng.standard_normal((n, bins - 1)))
    x = rng.uniform(-bound, bound, n)
    pick = rng.integers(1, bins, n // 3)
    edges = np.array([bound, -bound, bound + 1, -bound - 2, 0.0, np.nextafter(bound, 0), -np.nextafter(bound, 0),
                      np.nextafter(bound, 9)])
    out = {"w": w, "h": h, "d": d}
    for key, u in (("x", w), ("xi", h)):
        soft = lib.nn.functional.softmax(lib.tensor(u), dim=-1)
        cum = lib.nn.functional.pad(lib.cumsum(1e-3 + (1 - 1e-3 * bins) * soft, dim=-1), pad=(1, 0))
        knots = ((2 * bound) * cum - bound).numpy()
        out[key] = x.copy()
        out[key][: n // 3] = knots[np.arange(n // 3), pick]
        out[key][-len(edges):] = edges
    return out


def test_spline_float64_edges() -> None:
    """unconstrained_rational_quadratic_spline in float64, forward and inverse, at the knots, +-tail_bound and
    outside; values, logabsdets and the gradients of their sum with respect to inputs and all three parameter
    sets; and the bounded spline's InputOutsideDomain / ValueError."""
    results = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            data = spline_inputs(m.torch, np.random.default_rng(0), 30, 5, 2.0)
            out = {"data": data}
            for inverse in (False, True):
                ts = {k: m.torch.tensor(v, requires_grad=True) for k, v in data.items()}
                inputs = ts["xi"] if inverse else ts["x"]
                y, lad = m.unconstrained_rational_quadratic_spline(inputs, ts["w"], ts["h"], ts["d"], inverse=inverse,
                                                                   tails="linear", tail_bound=2.0)
                assert y.dtype == m.torch.float64
                ((y * 1.3).sum() + lad.sum()).backward()
                key = "inv" if inverse else "fwd"
                out[key] = [y.detach().numpy(), lad.detach().numpy(), inputs.grad.numpy(), ts["w"].grad.numpy(),
                            ts["h"].grad.numpy(), ts["d"].grad.numpy()]
                if not inverse:  # the round trip
                    back, inv_lad = m.unconstrained_rational_quadratic_spline(
                        y.detach(), ts["w"], ts["h"], ts["d"], inverse=True, tails="linear", tail_bound=2.0)
                    np.testing.assert_allclose(back.detach().numpy(), data["x"], rtol=0, atol=1e-10)
                    np.testing.assert_allclose((lad + inv_lad).detach().numpy(), 0, atol=1e-10)
            one = m.torch.zeros(1, 3, dtype=m.torch.float64)
            with pytest.raises(m.InputOutsideDomain):
                m.rational_quadratic_spline(m.torch.tensor([1.5], dtype=m.torch.float64), one, one,
                                            m.torch.zeros(1, 4, dtype=m.torch.float64))
            with pytest.raises(ValueError, match="Minimal bin width"):
                m.rational_quadratic_spline(m.torch.tensor([0.5]), m.torch.zeros(1, 3), m.torch.zeros(1, 3),
                                            m.torch.zeros(1, 4), min_bin_width=0.5)
            with pytest.raises(RuntimeError, match="tails are not implemented"):
                m.unconstrained_rational_quadratic_spline(m.torch.zeros(1), one, one, m.torch.zeros(1, 2),
                                                          tails="circular")
            results.append(out)
    theirs, ours = results
    np.testing.assert_allclose(ours["data"]["x"], theirs["data"]["x"], rtol=0, atol=1e-15)
    for key in ("fwd", "inv"):
        for i, (a, b) in enumerate(zip(ours[key], theirs[key], strict=True)):
            np.testing.assert_allclose(a, b, err_msg=f"{key} {i}", **F64)
        inputs = ours["data"]["x" if key == "fwd" else "xi"]
        outside = np.abs(inputs) > 2.0
        np.testing.assert_array_equal(ours[key][0][outside], inputs[outside])  # the linear tails: the identity
        np.testing.assert_array_equal(ours[key][1][outside], 0)
        np.testing.assert_array_equal(ours[key][0][-8:-6], [2.0, -2.0])  # the interval's ends map to themselves


def test_flow_float64_log_prob_and_gradients(one_torch_thread: None) -> None:
    """The flow in float64 (``.double()``), non-identity LULinear: log-probs and parameter gradients agree."""
    x = eval_points().astype(np.float64)

    def make(m: types.ModuleType) -> Any:
        flow = m.create_flow(num_bins=6)
        for t in flow._transform._transforms[1::3]:
            t._initialize(identity_init=False)
        return flow.double()

    def run(m: types.ModuleType, flow: Any, lib: str) -> dict:
        lp = flow.log_prob(m.torch.from_numpy(x))
        assert lp.dtype == m.torch.float64
        (-lp.mean()).backward()
        return {"lp": lp.detach().numpy(), "grads": {n: p.grad.numpy().copy() for n, p in flow.named_parameters()}}

    theirs, ours = from_torch_weights(PATH, make, run)
    np.testing.assert_allclose(ours["lp"], theirs["lp"], rtol=1e-11, atol=1e-12)
    assert_params_close(ours["grads"], theirs["grads"], rtol=1e-11, atol=1e-12)
