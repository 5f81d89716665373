"""The schedulers people use, against torch.optim.lr_scheduler: the same lr (and momentum) sequence step by step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import optim
from tinygrad_adam.optim import lr_scheduler

torch = pytest.importorskip("torch")


def groups(lib: Any, make_param: Callable) -> list[dict]:
    return [{"params": [make_param()]}, {"params": [make_param()], "lr": 0.05}]


def run(make: Callable[[Any, Any], Any], optimizer: str = "SGD", steps: int = 30,
        metrics: list[float] | None = None, **opt_kw: Any) -> None:
    """Step our scheduler and torch's side by side; every group's lr (and momentum/beta1) must agree each step."""
    ours_opt = getattr(optim, optimizer)(groups(tg, lambda: tg.Tensor(np.zeros(2), requires_grad=True)), lr=0.1,
                                         **opt_kw)
    theirs_opt = getattr(torch.optim, optimizer)(groups(torch, lambda: torch.zeros(2, requires_grad=True)), lr=0.1,
                                                 **opt_kw)
    ours, theirs = make(lr_scheduler, ours_opt), make(torch.optim.lr_scheduler, theirs_opt)

    def check(step: int) -> None:
        for a, b in zip(ours_opt.param_groups, theirs_opt.param_groups):
            assert a["lr"] == pytest.approx(b["lr"], rel=1e-12, abs=1e-15), f"lr at step {step}"
            for key in ("momentum", "betas"):
                if key in b:
                    assert np.allclose(a[key], b[key], rtol=1e-12), f"{key} at step {step}"

    check(0)
    for i in range(steps):
        theirs_opt.step()
        if metrics is None:
            ours.step(), theirs.step()
        else:
            ours.step(metrics[i]), theirs.step(metrics[i])
        check(i + 1)
    assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr())


def test_multistep() -> None:
    run(lambda m, o: m.MultiStepLR(o, milestones=[3, 7, 7, 12], gamma=0.5))


def test_exponential() -> None:
    run(lambda m, o: m.ExponentialLR(o, gamma=0.9))


@pytest.mark.parametrize("kw", [{}, {"start_factor": 0.1, "end_factor": 0.5, "total_iters": 8},
                                {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 10}])
def test_linear(kw: dict) -> None:
    run(lambda m, o: m.LinearLR(o, **kw))


@pytest.mark.parametrize("kw", [{"anneal_strategy": "cos"}, {"anneal_strategy": "linear", "pct_start": 0.4},
                                {"three_phase": True}, {"max_lr": [0.5, 0.2], "div_factor": 10}])
@pytest.mark.parametrize("optimizer,opt_kw", [("SGD", {"momentum": 0.9}), ("Adam", {}), ("AdamW", {})])
def test_one_cycle(kw: dict, optimizer: str, opt_kw: dict) -> None:
    kw = {"max_lr": 1.0, **kw}
    run(lambda m, o: m.OneCycleLR(o, total_steps=30, **kw), optimizer, steps=29, **opt_kw)
    run(lambda m, o: m.OneCycleLR(o, epochs=3, steps_per_epoch=10, **kw), optimizer, steps=29, **opt_kw)


def test_one_cycle_past_total_steps_raises() -> None:
    opt = optim.SGD([tg.Tensor(np.zeros(1), requires_grad=True)], lr=0.1, momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    sched.step(), sched.step(), sched.step()
    with pytest.raises(ValueError, match="total_steps"):
        sched.step()


def test_sequential_warmup_then_decay() -> None:
    def make(m: Any, o: Any) -> Any:
        return m.SequentialLR(o, [m.LinearLR(o, start_factor=0.1, total_iters=4), m.ExponentialLR(o, gamma=0.8),
                                  m.MultiStepLR(o, milestones=[2, 4])], milestones=[5, 12])
    run(make)


@pytest.mark.parametrize("kw", [{}, {"mode": "max", "threshold_mode": "abs", "threshold": 0.1},
                                {"patience": 2, "cooldown": 2, "factor": 0.5, "min_lr": [0.01, 0.02]}])
def test_reduce_on_plateau(kw: dict) -> None:
    metrics = list(np.r_[np.linspace(1, 0.5, 6), np.full(30, 0.5), np.linspace(0.5, 0.3, 5), np.full(20, 0.3)])
    run(lambda m, o: m.ReduceLROnPlateau(o, **kw), steps=len(metrics), metrics=metrics)


def test_state_dict_round_trip_of_sequential() -> None:
    def make(o: Any) -> Any:
        return lr_scheduler.SequentialLR(o, [lr_scheduler.LinearLR(o, total_iters=3),
                                             lr_scheduler.ExponentialLR(o, gamma=0.5)], milestones=[3])
    opt = optim.SGD([tg.Tensor(np.zeros(1), requires_grad=True)], lr=1.0)
    sched = make(opt)
    for _ in range(5):
        sched.step()
    saved, lr = sched.state_dict(), opt.param_groups[0]["lr"]
    opt2 = optim.SGD([tg.Tensor(np.zeros(1), requires_grad=True)], lr=1.0)
    again = make(opt2)
    again.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == lr
    sched.step(), again.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
