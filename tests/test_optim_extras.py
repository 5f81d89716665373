"""Temporal averaging (section 7.2), learning-rate schedules and gradient clipping."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import optim
from tinygrad_adam.optim import lr_scheduler

IMPLS = ["reference", "numpy"] + (["numba"] if optim.numba_available() else [])


# ---------------------------------------------------------------------- TemporalAverage
@pytest.mark.parametrize("impl", [*IMPLS, pytest.param("auto-cuda", marks=pytest.mark.gpu)])
def test_temporal_average_is_the_bias_corrected_ema(impl: str) -> None:
    device, impl = ("cuda", "auto") if impl == "auto-cuda" else ("cpu", impl)
    rng = np.random.default_rng(0)
    path = [rng.standard_normal((3, 4)) for _ in range(25)]
    p = tg.Tensor(path[0].copy(), device=device)
    avg = optim.TemporalAverage([p], beta=0.9, impl=impl)
    bar = np.zeros((3, 4))
    for t, theta in enumerate(path, start=1):
        p.data[...] = avg.params[0].xp.asarray(theta)
        avg.update()
        bar = 0.9 * bar + 0.1 * theta                           # theta_bar_t
        np.testing.assert_allclose(avg.averages()[0].numpy(), bar / (1 - 0.9**t), rtol=1e-12)
    assert avg.t == 25


def test_temporal_average_of_a_constant_is_the_constant() -> None:
    """Bias correction removes the pull towards theta_bar_0 = 0 from the first step on."""
    p = tg.Tensor(np.full(5, 3.0))
    avg = optim.TemporalAverage([p])
    for _ in range(3):
        avg.update()
        np.testing.assert_allclose(avg.averages()[0].numpy(), 3.0, rtol=1e-12)


def test_swapped_puts_the_averages_in_and_restores_the_weights() -> None:
    w, b = tg.Tensor(np.array([1.0, 2.0])), tg.Tensor(np.array([5.0]))
    avg = optim.TemporalAverage([w, b], beta=0.5)
    avg.update()                                               # averages: [1, 2], [5]
    w.data[...], b.data[...] = [3.0, 4.0], [7.0]
    avg.update()                                               # (0.25 x + 0.5 y) / 0.75
    with avg.swapped():
        np.testing.assert_allclose(w.data, [(0.25 + 1.5) / 0.75, (0.5 + 2.0) / 0.75])
        np.testing.assert_allclose(b.data, [(1.25 + 3.5) / 0.75])
    np.testing.assert_array_equal(w.data, [3.0, 4.0])
    np.testing.assert_array_equal(b.data, [7.0])
    with pytest.raises(KeyError), avg.swapped():
        raise KeyError("restored even when the block fails")
    np.testing.assert_array_equal(w.data, [3.0, 4.0])


def test_temporal_average_state_dict_and_errors() -> None:
    p = tg.Tensor(np.arange(3.0))
    avg = optim.TemporalAverage([p], beta=0.99)
    with pytest.raises(RuntimeError, match="before any update"):
        avg.averages()
    avg.update()
    blob = pickle.dumps(avg.state_dict())
    avg.update()
    other = optim.TemporalAverage([tg.Tensor(np.arange(3.0))], beta=0.5)
    other.load_state_dict(pickle.loads(blob))
    other.update()
    np.testing.assert_array_equal(other.averages()[0].data, avg.averages()[0].data)
    with pytest.raises(ValueError, match=r"average 0 has shape \(3,\), but its parameter has shape \(2,\)"):
        optim.TemporalAverage([tg.Tensor(np.zeros(2))]).load_state_dict(avg.state_dict())
    with pytest.raises(ValueError, match=r"invalid beta=1.0: must be in \[0, 1\)"):
        optim.TemporalAverage([p], beta=1.0)
    with pytest.raises(TypeError, match="parameter 0 is not a floating-point Tensor"):
        optim.TemporalAverage([np.zeros(2)])


# ---------------------------------------------------------------------- schedules
SCHEDULES: list[tuple[str, Callable[..., object], Callable[..., object]]] = [
    ("lambda", lambda o: lr_scheduler.LambdaLR(o, lambda t: 0.95**t),
     lambda o, ts: ts.LambdaLR(o, lambda t: 0.95**t)),
    ("step", lambda o: lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
     lambda o, ts: ts.StepLR(o, step_size=7, gamma=0.5)),
    ("cosine", lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=1e-4),
     lambda o, ts: ts.CosineAnnealingLR(o, T_max=20, eta_min=1e-4)),
    ("inverse-sqrt", lambda o: lr_scheduler.InverseSqrtLR(o),
     lambda o, ts: ts.LambdaLR(o, lambda t: 1 / np.sqrt(t + 1))),
]


@pytest.mark.parametrize(("name", "ours", "theirs"), SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedules_match_torch(name: str, ours: Callable[..., object], theirs: Callable[..., object]) -> None:
    torch = pytest.importorskip("torch")
    w, b = tg.Tensor(np.zeros(2), requires_grad=True), tg.Tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.3}], lr=0.1)
    tw, tb = torch.zeros(2, requires_grad=True), torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([{"params": [tw]}, {"params": [tb], "lr": 0.3}], lr=0.1)
    sched, tsched = ours(opt), theirs(topt, torch.optim.lr_scheduler)
    for _ in range(30):
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-9, atol=1e-15)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()


def test_inverse_sqrt_is_alpha_over_sqrt_t_and_scheduler_state_resumes() -> None:
    opt = optim.Adam([tg.Tensor(np.zeros(1), requires_grad=True)], lr=0.5)
    sched = lr_scheduler.InverseSqrtLR(opt)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    np.testing.assert_allclose(lrs, [0.5 / np.sqrt(t) for t in (1, 2, 3, 4)])
    resumed_opt = optim.Adam([tg.Tensor(np.zeros(1), requires_grad=True)], lr=0.5)
    resumed_opt.load_state_dict(opt.state_dict())
    resumed = lr_scheduler.InverseSqrtLR(resumed_opt)
    resumed.load_state_dict(pickle.loads(pickle.dumps(sched.state_dict())))
    assert resumed.get_last_lr() == sched.get_last_lr() == [0.5 / np.sqrt(5)]
    resumed.step()
    assert resumed.get_last_lr() == [0.5 / np.sqrt(6)]
    with pytest.raises(KeyError, match="no 'initial_lr'"):
        lr_scheduler.StepLR(optim.SGD([tg.Tensor(np.zeros(1), requires_grad=True)]), 3, last_epoch=5)
    with pytest.raises(ValueError, match="invalid step_size=0"):
        lr_scheduler.StepLR(opt, 0)
    with pytest.raises(ValueError, match="got 2 lr_lambdas for 1 parameter groups"):
        lr_scheduler.LambdaLR(opt, [abs, abs])


# ---------------------------------------------------------------------- clipping
@pytest.mark.parametrize(("max_norm", "norm_type"), [(1.0, 2.0), (100.0, 2.0), (0.5, float("inf")), (2.0, 1.0),
                                                   (0.3, 3.0)])
def test_clip_grad_norm_matches_torch(max_norm: float, norm_type: float) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(s) for s in [(3, 4), (5,), (2, 2, 2)]]
    ours = [tg.Tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    for p, g in zip(ours, grads):
        p.grad = tg.Tensor(g.copy())
    no_grad = tg.Tensor(np.zeros(3), requires_grad=True)  # ignored
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(theirs, grads):
        p.grad = torch.tensor(g)
    total = optim.clip_grad_norm_([*ours, no_grad], max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(total, expected.item(), rtol=1e-12)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.data, q.grad.numpy(), rtol=1e-12)


NON_FINITE = {  # one gradient per parameter; the second parameter's NaN must not be lost by the inf norm
    "inf": [[np.inf, 1.0, -2.0], [3.0, 0.0]],
    "-inf": [[1.0, -np.inf, 0.5], [3.0, -1.0]],
    "nan": [[1.0, 2.0, 0.0], [np.nan, 1.0]],
    "inf-and-nan": [[np.inf, 1.0, 2.0], [np.nan, -4.0]],
    "overflow": [[1e200, -3e200, 0.0], [1.0, 2.0]],  # finite entries, but their squares overflow float64
}


@pytest.mark.parametrize("case", NON_FINITE)
@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, float("inf")])
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_clip_grad_norm_non_finite_matches_torch(case: str, norm_type: float) -> None:
    """An inf norm zeroes finite entries (inf * 0 = NaN), a NaN norm makes every entry NaN: torch's behaviour."""
    torch = pytest.importorskip("torch")
    grads = [np.array(g) for g in NON_FINITE[case]]
    ours = [tg.Tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = tg.Tensor(g.copy()), torch.tensor(g)
    total = optim.clip_grad_norm_(ours, 1.0, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type).item()
    np.testing.assert_equal(total, expected)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.data, q.grad.numpy())  # NaNs in the same places
    if not np.isfinite(expected):
        assert not all(np.array_equal(p.grad.data, g) for p, g in zip(ours, grads))  # touched, as torch does


@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
def test_clip_grad_norm_error_if_nonfinite(norm_type: float) -> None:
    p = tg.Tensor(np.zeros(3), requires_grad=True)
    p.grad = tg.Tensor(np.array([np.inf, 1.0, np.nan]))
    with pytest.raises(RuntimeError, match=f"total norm of order {norm_type} of the gradients is nan"):
        optim.clip_grad_norm_(p, 1.0, norm_type, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad.data, [np.inf, 1.0, np.nan])  # untouched
    p.grad = tg.Tensor(np.array([-np.inf, 1.0, 0.0]))
    with pytest.raises(RuntimeError, match="is inf, so they cannot be clipped"):
        optim.clip_grad_norm_(p, 1.0, norm_type, error_if_nonfinite=True)
    p.grad = tg.Tensor(np.array([3.0, 4.0, 0.0]))
    assert optim.clip_grad_norm_(p, 1.0, 2.0, error_if_nonfinite=True) == 5.0  # finite: no error


def test_clip_grad_norm_sums_float32_gradients_in_float64() -> None:
    """(Name kept; the behaviour is torch's since the serialization_utils probe.) Squares of 1e20 overflow float32:
    torch then reports inf and zeroes the gradients, and so does this library now."""
    p = tg.Tensor(np.zeros(2, dtype=np.float32), requires_grad=True)
    p.grad = tg.Tensor(np.array([1e20, -3e20], dtype=np.float32))
    total = optim.clip_grad_norm_(p, 2.0)
    assert total == float("inf")
    assert p.grad.dtype == np.float32
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, -0.0])


@pytest.mark.gpu
@pytest.mark.parametrize("norm_type", [1.0, 2.0, float("inf")])
def test_clip_grad_norm_on_cuda_equals_cpu(norm_type: float) -> None:
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(30, 40), (7,)]]
    totals, clipped = [], []
    for device in ("cpu", "cuda"):
        params = [tg.Tensor(np.zeros_like(g), requires_grad=True, device=device) for g in grads]
        for p, g in zip(params, grads):
            p.grad = tg.Tensor(g.copy(), device=device)
        totals.append(optim.clip_grad_norm_(params, 0.5, norm_type))
        clipped.append([p.grad.numpy() for p in params])
    assert isinstance(totals[1], float)
    np.testing.assert_allclose(totals[1], totals[0], rtol=1e-6)  # float32 sums, in different orders
    for a, b in zip(*clipped):
        np.testing.assert_allclose(b, a, rtol=1e-6)


def test_clip_grad_norm_errors() -> None:
    p = tg.Tensor(np.zeros(2), requires_grad=True)
    p.grad = tg.Tensor(np.array([1.0, 1.0]))
    for bad in (-1, float("nan")):  # torch checks nothing: -1 would flip the gradients' sign, NaN make them NaN
        with pytest.raises(ValueError, match="invalid max_norm"):
            optim.clip_grad_norm_(p, bad)
    np.testing.assert_array_equal(p.grad.numpy(), np.ones(2))
    assert optim.clip_grad_norm_(p, 100.0, 0.5) == pytest.approx(4.0)  # p = 0.5: a quasi-norm, (1 + 1)^2
