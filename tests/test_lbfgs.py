"""optim.LBFGS against torch.optim.LBFGS (its default: no line search): the same losses, parameters and step
counts step after step on generated least-squares problems and on Rosenbrock's function, its stopping rules, a
state_dict round trip that continues exactly, and the errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam import optim

torch = pytest.importorskip("torch")


def least_squares(lib: Any, a: np.ndarray, b: np.ndarray, w0: np.ndarray, opt_kw: dict[str, Any]) -> Any:
    """(params, optimizer, closure) for 0.5 |A w + c - b|^2 + 0.1 |w|^2 on ``lib``."""
    w = lib.tensor(w0.copy(), requires_grad=True)
    c = lib.tensor(np.zeros(len(b), w0.dtype), requires_grad=True)
    opt = (optim.LBFGS if lib is tg else torch.optim.LBFGS)([w, c], **opt_kw)
    a_t, b_t = lib.tensor(a), lib.tensor(b)

    def closure() -> Any:
        opt.zero_grad()
        r = a_t @ w + c - b_t
        loss = 0.5 * (r * r).sum() + 0.1 * (w * w).sum()
        loss.backward()
        return loss
    return [w, c], opt, closure


def assert_same_run(problem: Any, steps: int, rtol: float, atol: float) -> None:
    ours, theirs = problem(tg), problem(torch)
    for i in range(steps):
        got, expected = ours[1].step(ours[2]), theirs[1].step(theirs[2])
        np.testing.assert_allclose(float(got), float(expected), rtol=rtol, atol=atol, err_msg=f"loss, step {i}")
        for p, q in zip(ours[0], theirs[0], strict=True):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=rtol, atol=atol, err_msg=f"step {i}")
        s, t = ours[1].state[ours[0][0]], theirs[1].state[theirs[0][0]]
        assert (s["func_evals"], s["n_iter"]) == (t["func_evals"], t["n_iter"]), i


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from([0.05, 0.1, 0.3]), st.integers(1, 10), st.sampled_from([None, 7]),
       st.integers(1, 6), st.sampled_from([1e-7, 1e-3]), st.sampled_from([1e-9, 1e-4]))
def test_matches_torch_on_least_squares(seed: int, lr: float, max_iter: int, max_eval: int | None, history: int,
                                        tol_grad: float, tol_change: float) -> None:
    rng = np.random.default_rng(seed)
    a, b, w0 = rng.standard_normal((6, 4)), rng.uniform(-0.9, 0.9, 6), rng.standard_normal(4)
    kw = {"lr": lr, "max_iter": max_iter, "max_eval": max_eval, "history_size": history,
          "tolerance_grad": tol_grad, "tolerance_change": tol_change}
    # the closures' matrix products round differently in numpy and torch, and without a line search the
    # iterations amplify that where a curvature pair is nearly flat (gamma = s'y / y'y jumps): up to 20 of them
    assert_same_run(lambda lib: least_squares(lib, a, b, w0, kw), 2, rtol=1e-6, atol=1e-8)


def test_matches_torch_in_float32_and_on_rosenbrock() -> None:
    rng = np.random.default_rng(1)
    a, b, w0 = (x.astype(np.float32) for x in (rng.standard_normal((8, 5)), rng.uniform(-0.9, 0.9, 8),
                                                 rng.standard_normal(5)))
    # (float32 rounding grows chaotically over tens of iterations of this problem: 2 steps of 4)
    assert_same_run(lambda lib: least_squares(lib, a, b, w0, {"lr": 0.1, "history_size": 3, "max_iter": 4}), 2,
                    rtol=1e-4, atol=1e-5)

    def rosenbrock(lib: Any) -> Any:
        xy = lib.tensor(np.array([-1.5, 2.0]), requires_grad=True)
        opt = (optim.LBFGS if lib is tg else torch.optim.LBFGS)([xy], lr=0.05, history_size=10, max_iter=10)

        def closure() -> Any:
            opt.zero_grad()
            loss = (1 - xy[0]) ** 2 + 100 * (xy[1] - xy[0] ** 2) ** 2
            loss.backward()
            return loss
        return [xy], opt, closure
    assert_same_run(rosenbrock, 4, rtol=1e-7, atol=1e-9)


def test_state_dict_round_trip_continues_exactly() -> None:
    rng = np.random.default_rng(2)
    a, b, w0 = rng.standard_normal((6, 4)), rng.uniform(-0.9, 0.9, 6), rng.standard_normal(4)
    kw = {"lr": 0.5, "max_iter": 4, "history_size": 3}
    params, opt, closure = least_squares(tg, a, b, w0, kw)
    opt.step(closure)
    saved = opt.state_dict()
    assert list(saved["state"]) == [0] and saved["param_groups"][0]["params"] == [0, 1]
    opt.step(closure)
    after = [p.numpy().copy() for p in params]
    assert saved["state"][0]["n_iter"] == 4  # a copy: the second step did not change it
    params2, opt2, closure2 = least_squares(tg, a, b, w0, kw)  # a fresh run: its first step, then the saved state
    opt2.step(closure2)
    opt2.load_state_dict(saved)
    opt2.step(closure2)
    for p, q in zip(params2, after):
        np.testing.assert_array_equal(p.numpy(), q)


def test_stops_at_once_at_a_stationary_point_and_errors() -> None:
    w = tg.zeros(3, requires_grad=True)
    opt = optim.LBFGS([w])

    def closure() -> Any:
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss
    assert float(opt.step(closure)) == 0.0 and opt.state[w]["func_evals"] == 1 and opt.state[w]["n_iter"] == 0
    with pytest.raises(NotImplementedError, match="strong_wolfe"):
        optim.LBFGS([w], line_search_fn="strong_wolfe")
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [w]}, {"params": [tg.zeros(2, requires_grad=True)]}])
    with pytest.raises(ValueError, match="history_size"):
        optim.LBFGS([w], history_size=0)
    with pytest.raises(ValueError, match="lr"):
        optim.LBFGS([w], lr=-1.0)
    with pytest.raises(TypeError):
        opt.step()  # the closure is required, as torch's


def three_steps_on(device: str) -> tuple[list[float], np.ndarray, str]:
    rng = np.random.default_rng(4)
    a, b, w0 = rng.standard_normal((6, 4)), rng.uniform(-0.9, 0.9, 6), rng.standard_normal(4)
    w = tg.tensor(w0, device=device, requires_grad=True)
    a_t, b_t = tg.tensor(a, device=device), tg.tensor(b, device=device)
    opt = optim.LBFGS([w], lr=0.3, max_iter=5, history_size=3)

    def closure() -> Any:
        opt.zero_grad()
        r = a_t @ w - b_t
        loss = 0.5 * (r * r).sum()
        loss.backward()
        return loss
    return [float(opt.step(closure)) for _ in range(3)], w.numpy(), w.device


@pytest.mark.gpu
def test_on_the_gpu_matches_the_cpu() -> None:
    (cpu_losses, cpu_w, _), (gpu_losses, gpu_w, device) = three_steps_on("cpu"), three_steps_on("cuda")
    assert device.startswith("cuda")
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-9)
    np.testing.assert_allclose(gpu_w, cpu_w, rtol=1e-9, atol=1e-12)
