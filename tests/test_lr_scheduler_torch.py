"""The schedulers people use, against torch.optim.lr_scheduler: the same lr (and momentum) sequence step by step."""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

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


# ---------------------------------------------------------------------- ConstantLR, PolynomialLR, MultiplicativeLR,
# CosineAnnealingWarmRestarts, CyclicLR, ChainedScheduler; step(epoch), last_epoch resume, state_dict, errors
def make_opts(optimizer: str, lrs: tuple[float, ...] = (0.1, 0.05), **opt_kw: Any) -> tuple[Any, Any]:
    """Our optimizer and torch's, one parameter group per lr."""
    def build(opt_mod: Any, make_param: Callable) -> Any:
        return getattr(opt_mod, optimizer)([{"params": [make_param()], "lr": lr} for lr in lrs], **opt_kw)
    return (build(optim, lambda: tg.Tensor(np.zeros(2), requires_grad=True)),
            build(torch.optim, lambda: torch.zeros(2, requires_grad=True)))


def same_groups(ours_opt: Any, theirs_opt: Any, where: str) -> None:
    """Every group's lr and momentum / beta1 equal torch's, bit for bit."""
    for a, b in zip(ours_opt.param_groups, theirs_opt.param_groups, strict=True):
        assert a["lr"] == b["lr"], f"lr {where}: {a['lr']!r} vs {b['lr']!r}"
        for key in ("momentum", "betas"):
            if key in b:
                assert tuple(np.atleast_1d(a[key])) == tuple(np.atleast_1d(b[key])), f"{key} {where}"


def lockstep(make: Callable[[Any, Any], Any], optimizer: str = "SGD", actions: int | list = 40,
             opts: tuple[Any, Any] | None = None, **opt_kw: Any) -> tuple[Any, Any, Any, Any]:
    """Build ``make(module, optimizer)`` on both sides and apply ``actions`` (a count of ``step()`` calls, or a list
    of None = ``step()`` / a number = ``step(epoch)``); the groups and ``get_last_lr()`` must agree after each.
    Returns (ours, ours_opt, theirs, theirs_opt) to go on with."""
    ours_opt, theirs_opt = opts or make_opts(optimizer, **opt_kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "lr_scheduler.step() before optimizer.step()" from nested ones
        ours, theirs = make(lr_scheduler, ours_opt), make(torch.optim.lr_scheduler, theirs_opt)
    same_groups(ours_opt, theirs_opt, "after construction")
    assert ours.get_last_lr() == theirs.get_last_lr()
    for i, epoch in enumerate([None] * actions if isinstance(actions, int) else actions):
        theirs_opt.step()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raised = [step_raises(s, epoch) for s in (ours, theirs)]
        assert raised[0] == raised[1], f"action {i} ({epoch}): ours raised {raised[0]}, torch {raised[1]}"
        if raised[0]:  # both refuse to go on (cosine past a fractional epoch lands on 0/0 in both)
            break
        same_groups(ours_opt, theirs_opt, f"after action {i} ({epoch})")
        assert ours.get_last_lr() == theirs.get_last_lr(), f"get_last_lr after action {i}"
        assert getattr(ours, "last_epoch", None) == getattr(theirs, "last_epoch", None)
    return ours, ours_opt, theirs, theirs_opt


def step_raises(scheduler: Any, epoch: float | None) -> str | None:
    """``scheduler.step()`` (or ``step(epoch)``); the name of the exception it raised, or None."""
    try:
        scheduler.step() if epoch is None else scheduler.step(epoch)
    except ArithmeticError as e:
        return type(e).__name__
    return None


@settings(max_examples=40, deadline=None)
@given(st.floats(0.05, 1.0), st.integers(0, 12))
def test_constant_lr(factor: float, total_iters: int) -> None:
    lockstep(lambda m, o: m.ConstantLR(o, factor=factor, total_iters=total_iters), actions=20)


def test_constant_and_polynomial_defaults() -> None:
    lockstep(lambda m, o: m.ConstantLR(o), actions=10)
    lockstep(lambda m, o: m.PolynomialLR(o), actions=10)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 15), st.floats(0.1, 3.0))
def test_polynomial_lr(total_iters: int, power: float) -> None:
    lockstep(lambda m, o: m.PolynomialLR(o, total_iters=total_iters, power=power), actions=25)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.5, 1.2), min_size=1, max_size=5), st.booleans())
def test_multiplicative_lr(factors: list[float], per_group: bool) -> None:
    def f(t: int) -> float:
        return factors[t % len(factors)]

    lockstep(lambda m, o: m.MultiplicativeLR(o, [f, lambda t: 0.9] if per_group else f), actions=30)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(1, 3), st.sampled_from([0, 0.0, 1e-3, 0.02]))
def test_cosine_warm_restarts_steps(T_0: int, T_mult: int, eta_min: float) -> None:
    lockstep(lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0, T_mult=T_mult, eta_min=eta_min), actions=60)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3),
       st.lists(st.one_of(st.none(), st.floats(0, 60), st.integers(0, 60)), min_size=1, max_size=25))
def test_cosine_warm_restarts_fractional_and_interleaved_epochs(T_0: int, T_mult: int, actions: list) -> None:
    lockstep(lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0, T_mult=T_mult, eta_min=1e-3), actions=actions)


def test_cosine_warm_restarts_documented_batch_loop() -> None:
    """torch's docstring: step(epoch + i / iters) inside each epoch."""
    iters = 7
    lockstep(lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
             actions=[epoch + i / iters for epoch in range(20) for i in range(iters)])


CYCLIC_MODES = st.sampled_from([{"mode": "triangular"}, {"mode": "triangular2"},
                                {"mode": "exp_range", "gamma": 0.97},
                                {"scale_fn": lambda x: 1 / (1 + x), "scale_mode": "cycle"},
                                {"scale_fn": lambda x: 0.99**x, "scale_mode": "iterations", "mode": "whatever"}])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.one_of(st.none(), st.integers(0, 6)), CYCLIC_MODES,
       st.sampled_from([("SGD", {"momentum": 0.9}), ("SGD", {}), ("Adam", {}), ("AdamW", {}), ("RMSprop", {}),
                        ("NAdam", {})]),
       st.booleans(), st.booleans())
def test_cyclic_lr(up: int, down: int | None, mode: dict, opt: tuple[str, dict], per_group: bool,
                   custom_momentum: bool) -> None:
    kw: dict[str, Any] = {"base_lr": [0.01, 0.002] if per_group else 0.01, "max_lr": [0.1, 0.3] if per_group else 0.1,
                          "step_size_up": up, "step_size_down": down, **mode}
    if custom_momentum:
        kw.update(base_momentum=[0.7, 0.85] if per_group else 0.75, max_momentum=0.95)
    lockstep(lambda m, o: m.CyclicLR(o, **kw), opt[0], actions=50, **opt[1])


@pytest.mark.parametrize("optimizer", ["SGD", "Adagrad", "Adam"])
def test_cyclic_lr_without_cycling_momentum_and_defaults(optimizer: str) -> None:
    lockstep(lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=5, cycle_momentum=False), optimizer, actions=30)
    if optimizer != "Adagrad":
        lockstep(lambda m, o: m.CyclicLR(o, 0.001, 0.006), optimizer, actions=30)


CHAINS = {
    "constant-exponential": lambda m, o: [m.ConstantLR(o, factor=0.1, total_iters=2), m.ExponentialLR(o, 0.9)],
    "linear-step-multistep": lambda m, o: [m.LinearLR(o, 0.2, total_iters=4), m.StepLR(o, 3, gamma=0.5),
                                           m.MultiStepLR(o, [2, 5, 5, 9], gamma=0.7)],
    "cosine-polynomial-multiplicative": lambda m, o: [m.CosineAnnealingLR(o, T_max=6, eta_min=1e-3),
                                                      m.PolynomialLR(o, total_iters=8, power=2.0),
                                                      m.MultiplicativeLR(o, lambda t: 0.97)],
    "lambda-then-constant": lambda m, o: [m.LambdaLR(o, lambda t: 1 / (t + 1)), m.ConstantLR(o, 0.5, 3)],
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_chained_scheduler(name: str) -> None:
    lockstep(lambda m, o: m.ChainedScheduler(CHAINS[name](m, o)), actions=40)
    lockstep(lambda m, o: m.ChainedScheduler(CHAINS[name](m, o), optimizer=o), actions=5)


def test_chained_inside_sequential_and_sequential_of_new_schedules() -> None:
    lockstep(lambda m, o: m.SequentialLR(o, [m.ChainedScheduler([m.ConstantLR(o, 0.5, 2), m.ExponentialLR(o, 0.9)]),
                                             m.PolynomialLR(o, 6), m.CyclicLR(o, 0.01, 0.05, 3)],
                                         milestones=[5, 12]), actions=30)
    lockstep(lambda m, o: m.SequentialLR(o, [m.ConstantLR(o, 0.1, 20), m.CosineAnnealingWarmRestarts(o, 4)],
                                         milestones=[20]), actions=40)


CLOSED_FORMS = {
    "step": lambda m, o: m.StepLR(o, 3, gamma=0.5), "multistep": lambda m, o: m.MultiStepLR(o, [2, 4, 4, 9]),
    "constant": lambda m, o: m.ConstantLR(o, 0.25, 4), "linear": lambda m, o: m.LinearLR(o, 0.3, 0.9, 6),
    "exponential": lambda m, o: m.ExponentialLR(o, 0.8), "polynomial": lambda m, o: m.PolynomialLR(o, 7, 1.5),
    "cosine": lambda m, o: m.CosineAnnealingLR(o, 5, 0.01), "lambda": lambda m, o: m.LambdaLR(o, lambda t: 0.9**t),
    "multiplicative": lambda m, o: m.MultiplicativeLR(o, lambda t: 0.9),
    "cyclic": lambda m, o: m.CyclicLR(o, 0.01, 0.1, 4, mode="triangular2"),
    "onecycle": lambda m, o: m.OneCycleLR(o, 0.5, total_steps=80),
}


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
@settings(max_examples=40, deadline=None)
@given(actions=st.lists(st.one_of(st.none(), st.integers(0, 30), st.floats(0, 30)), max_size=20))
@example(actions=[1e-12])  # cosine then reaches 0/0 in the recursive form: both raise ZeroDivisionError
def test_step_with_epoch_uses_torchs_closed_form(name: str, actions: list) -> None:
    """Also long runs past the schedules' ends (cosine over several periods)."""
    lockstep(CLOSED_FORMS[name], "SGD", actions=actions + [None] * 25, momentum=0.9)


@pytest.mark.parametrize("name", [n for n in CLOSED_FORMS if n != "onecycle"] + ["warm-restarts"])
@pytest.mark.parametrize("resume_at", [0, 3, 11])
def test_last_epoch_resume_matches_torch(name: str, resume_at: int) -> None:
    """A scheduler made with last_epoch=k on an optimizer whose groups carry initial_lr (and the lr torch had
    there) goes on as torch's does, quirks included."""
    make = CLOSED_FORMS.get(name, lambda m, o: m.CosineAnnealingWarmRestarts(o, 4, T_mult=2))
    _, _, theirs, theirs_opt = lockstep(make, "SGD", actions=resume_at, momentum=0.9)
    opts = make_opts("SGD", lrs=tuple(g["lr"] for g in theirs_opt.param_groups), momentum=0.9)
    for o in opts:
        for g, base in zip(o.param_groups, theirs.base_lrs):
            g["initial_lr"] = base
    lockstep(lambda m, o: resume_like(make, m, o, theirs.last_epoch), opts=opts, actions=20)


def resume_like(make: Callable[[Any, Any], Any], module: Any, opt: Any, last_epoch: int) -> Any:
    """``make(module, opt)`` with ``last_epoch=`` added to the constructor call."""
    class Resuming:
        def __getattr__(self, name: str) -> Any:
            cls = getattr(module, name)
            return lambda *a, **k: cls(*a, **k, last_epoch=last_epoch)
    return make(Resuming(), opt)


class Decay:
    """A callable object with state: state_dict keeps its __dict__ (as torch's)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def __call__(self, t: int) -> float:
        return self.rate


ROUND_TRIPS = {
    **CLOSED_FORMS,
    "warm-restarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, 3, T_mult=2, eta_min=1e-3),
    "cyclic-exp-range": lambda m, o: m.CyclicLR(o, [0.01, 0.02], 0.1, 3, 5, mode="exp_range", gamma=0.95,
                                                base_momentum=[0.8, 0.7]),
    "cyclic-object-scale": lambda m, o: m.CyclicLR(o, 0.01, 0.1, 2, scale_fn=Decay(0.5), scale_mode="iterations"),
    "multiplicative-object": lambda m, o: m.MultiplicativeLR(o, [Decay(0.9), Decay(0.8)]),
    "chained": lambda m, o: m.ChainedScheduler(CHAINS["cosine-polynomial-multiplicative"](m, o)),
    "sequential": lambda m, o: m.SequentialLR(o, [m.ChainedScheduler(CHAINS["constant-exponential"](m, o)),
                                                  m.CyclicLR(o, 0.01, 0.1, 2), m.ConstantLR(o, 0.5, 3)],
                                              milestones=[4, 9]),
}


@pytest.mark.parametrize("name", list(ROUND_TRIPS))
@pytest.mark.parametrize("optimizer,opt_kw", [("SGD", {"momentum": 0.9}), ("Adam", {})])
@pytest.mark.parametrize("stop", [1, 7, 12])
def test_state_dict_round_trip_mid_sequence_continues_identically(name: str, optimizer: str, opt_kw: dict,
                                                                  stop: int) -> None:
    """Save ours mid-run (pickled), load into a fresh optimizer + scheduler: lr and momentum go on exactly as the
    uninterrupted torch run's."""
    make = ROUND_TRIPS[name]
    ours, _, theirs, theirs_opt = lockstep(make, optimizer, actions=stop, **opt_kw)
    saved = pickle.loads(pickle.dumps(ours.state_dict()))
    fresh_opt = make_opts(optimizer, **opt_kw)[0]
    fresh = make(lr_scheduler, fresh_opt)
    if "object" in name:  # the callable objects' state comes back too
        for fn in fresh.lr_lambdas if hasattr(fresh, "lr_lambdas") else [fresh._scale_fn_custom]:
            fn.rate = 123.0
    fresh.load_state_dict(saved)
    same_groups(fresh_opt, theirs_opt, "after load_state_dict")
    assert fresh.get_last_lr() == theirs.get_last_lr()
    for i in range(25):
        theirs_opt.step()
        fresh.step(), theirs.step()
        same_groups(fresh_opt, theirs_opt, f"step {i} after the resume")
        assert fresh.get_last_lr() == theirs.get_last_lr()


@pytest.mark.parametrize("name", [n for n in ROUND_TRIPS if "cyclic" not in n and n not in ("onecycle",
                                                                                              "sequential")])
def test_state_dict_round_trip_in_torchs_order(name: str) -> None:
    """torch's resume recipe: scheduler made on a fresh optimizer, then the optimizer's and the scheduler's state
    loaded (OneCycleLR / CyclicLR groups carry keys our Optimizer.load_state_dict refuses, so not them)."""
    make = ROUND_TRIPS[name]
    ours, ours_opt, theirs, theirs_opt = lockstep(make, "SGD", actions=6, momentum=0.9)
    fresh_opt = make_opts("SGD", momentum=0.9)[0]
    fresh = make(lr_scheduler, fresh_opt)
    fresh_opt.load_state_dict(pickle.loads(pickle.dumps(ours_opt.state_dict())))
    fresh.load_state_dict(pickle.loads(pickle.dumps(ours.state_dict())))
    for i in range(20):
        theirs_opt.step()
        fresh.step(), theirs.step()
        same_groups(fresh_opt, theirs_opt, f"step {i} after the resume")


def exponential(m: Any, o: Any) -> Any:
    return m.ExponentialLR(o, 0.9)


BAD_ARGUMENTS: dict[str, tuple[Callable[[Any, Any], Any], str, type[Exception], str]] = {
    # name: (factory, optimizer, our exception, our message); torch must raise too
    "constant-factor>1": (lambda m, o: m.ConstantLR(o, factor=1.5), "SGD", ValueError, "factor must be in"),
    "constant-factor<0": (lambda m, o: m.ConstantLR(o, factor=-0.1), "SGD", ValueError, "factor must be in"),
    "linear-start-0": (lambda m, o: m.LinearLR(o, start_factor=0), "SGD", ValueError, "start_factor"),
    "warm-T_0-0": (lambda m, o: m.CosineAnnealingWarmRestarts(o, 0), "SGD", ValueError, "positive integer T_0"),
    "warm-T_0-float": (lambda m, o: m.CosineAnnealingWarmRestarts(o, 2.5), "SGD", ValueError, "T_0"),
    "warm-T_mult-0": (lambda m, o: m.CosineAnnealingWarmRestarts(o, 2, 0), "SGD", ValueError, "T_mult >= 1"),
    "warm-T_mult-float": (lambda m, o: m.CosineAnnealingWarmRestarts(o, 2, 1.5), "SGD", ValueError, "T_mult"),
    "warm-eta_min-str": (lambda m, o: m.CosineAnnealingWarmRestarts(o, 2, eta_min="0"), "SGD", ValueError,
                         "eta_min"),
    "cyclic-mode": (lambda m, o: m.CyclicLR(o, 0.01, 0.1, mode="sine"), "SGD", ValueError, "mode must be"),
    "cyclic-base_lr-count": (lambda m, o: m.CyclicLR(o, [0.01] * 3, 0.1), "SGD", ValueError,
                             "got 3 base_lrs for 2 parameter groups"),
    "cyclic-max_lr-count": (lambda m, o: m.CyclicLR(o, 0.01, [0.1]), "SGD", ValueError, "max_lrs"),
    "cyclic-momentum-count": (lambda m, o: m.CyclicLR(o, 0.01, 0.1, max_momentum=[0.9]), "SGD", ValueError,
                              "max_momentums"),
    "cyclic-no-momentum": (lambda m, o: m.CyclicLR(o, 0.01, 0.1), "Adagrad", ValueError, "cycle_momentum=False"),
    "cyclic-step_size_up-0": (lambda m, o: m.CyclicLR(o, 0.01, 0.1, 0), "SGD", ValueError, "step_size_up > 0"),
    "onecycle-no-momentum": (lambda m, o: m.OneCycleLR(o, 1.0, 10), "Adagrad", ValueError, "cycle_momentum"),
    "onecycle-pct_start-int": (lambda m, o: m.OneCycleLR(o, 1.0, 10, pct_start=0), "SGD", ValueError,
                               "pct_start"),
    "onecycle-pct_start>1": (lambda m, o: m.OneCycleLR(o, 1.0, 10, pct_start=1.5), "SGD", ValueError, "pct_start"),
    "onecycle-epochs-0": (lambda m, o: m.OneCycleLR(o, 1.0, epochs=0, steps_per_epoch=3), "SGD", ValueError,
                          "epochs"),
    "onecycle-total-float": (lambda m, o: m.OneCycleLR(o, 1.0, total_steps=10.0), "SGD", ValueError, "total_steps"),
    "onecycle-no-length": (lambda m, o: m.OneCycleLR(o, 1.0), "SGD", ValueError, "total_steps"),
    "onecycle-max_lr-count": (lambda m, o: m.OneCycleLR(o, [1.0] * 3, 10), "SGD", ValueError, "max_lrs"),
    "onecycle-anneal": (lambda m, o: m.OneCycleLR(o, 1.0, 10, anneal_strategy="exp"), "SGD", ValueError,
                        "anneal_strategy"),
    "multiplicative-not-callable": (lambda m, o: m.MultiplicativeLR(o, 0.9), "SGD", TypeError,
                                    "takes a callable"),
    "lambda-count": (lambda m, o: m.LambdaLR(o, [abs] * 3), "SGD", ValueError, "got 3 lr_lambdas"),
    "chained-empty": (lambda m, o: m.ChainedScheduler([]), "SGD", ValueError, "list of schedulers is empty"),
    "chained-plateau": (lambda m, o: m.ChainedScheduler([m.ReduceLROnPlateau(o)]), "SGD", ValueError,
                        "ReduceLROnPlateau"),
    "chained-not-a-scheduler": (lambda m, o: m.ChainedScheduler([o]), "SGD", TypeError, "no optimizer attribute"),
    "sequential-plateau": (lambda m, o: m.SequentialLR(o, [exponential(m, o), m.ReduceLROnPlateau(o)], [2]), "SGD",
                           ValueError, "ReduceLROnPlateau"),
    "sequential-milestones": (lambda m, o: m.SequentialLR(o, [exponential(m, o)], [2]), "SGD", ValueError,
                              "milestones"),
    "sequential-empty": (lambda m, o: m.SequentialLR(o, [], []), "SGD", ValueError, "list of schedulers is empty"),
    "not-an-optimizer": (lambda m, o: m.StepLR([o], 3), "SGD", TypeError, "needs an Optimizer"),
    "plateau-factor": (lambda m, o: m.ReduceLROnPlateau(o, factor=1.0), "SGD", ValueError, "factor should be"),
    "plateau-mode": (lambda m, o: m.ReduceLROnPlateau(o, mode="up"), "SGD", ValueError, "mode must be"),
    "plateau-min_lr-count": (lambda m, o: m.ReduceLROnPlateau(o, min_lr=[0.1]), "SGD", ValueError, "min_lrs"),
    "resume-without-initial_lr": (lambda m, o: m.ExponentialLR(o, 0.9, last_epoch=3), "SGD", KeyError,
                                  "initial_lr"),
    "verbose-gone-in-torch-2.13": (lambda m, o: m.StepLR(o, 3, verbose="deprecated"), "SGD", TypeError,
                                   "verbose"),
    "warm-negative-epoch": (lambda m, o: m.CosineAnnealingWarmRestarts(o, 2).step(-1), "SGD", ValueError,
                            "non-negative epoch"),
    "chained-at-a-milestone": (lambda m, o: [s.step() for s in [m.SequentialLR(o, [
        exponential(m, o), m.ChainedScheduler([exponential(m, o)])], [1])]], "SGD", NotImplementedError,
        "only be first"),
}


@pytest.mark.parametrize("name", list(BAD_ARGUMENTS))
def test_bad_arguments_raise_like_torch(name: str) -> None:
    make, optimizer, error, message = BAD_ARGUMENTS[name]
    ours_opt, theirs_opt = make_opts(optimizer)
    with pytest.raises(error, match=message):
        make(lr_scheduler, ours_opt)
    with pytest.raises(Exception):  # noqa: B017 - torch's types vary (ZeroDivisionError for a 0 step size)
        make(torch.optim.lr_scheduler, theirs_opt)


def test_schedulers_must_share_the_optimizer() -> None:
    (a, ta), (b, tb) = make_opts("SGD"), make_opts("SGD")
    with pytest.raises(ValueError, match="belongs to another optimizer"):
        lr_scheduler.ChainedScheduler([exponential(lr_scheduler, a), exponential(lr_scheduler, b)])
    with pytest.raises(ValueError):
        torch.optim.lr_scheduler.ChainedScheduler([exponential(torch.optim.lr_scheduler, ta),
                                                   exponential(torch.optim.lr_scheduler, tb)])
    with pytest.raises(ValueError, match="belongs to another optimizer"):
        lr_scheduler.SequentialLR(a, [exponential(lr_scheduler, b)], [])


def test_step_with_an_epoch_warns_as_torch() -> None:
    opt = make_opts("SGD")[0]
    sched = lr_scheduler.StepLR(opt, 2)
    with pytest.warns(UserWarning, match="deprecated"):
        sched.step(3)
    plateau = lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.warns(UserWarning, match="deprecated"):
        plateau.step(1.0, epoch=5)
    assert plateau.last_epoch == 5
    assert isinstance(plateau, lr_scheduler.LRScheduler)


@pytest.mark.parametrize("min_lr", [0.001, [0.001, 0.002]])
def test_plateau_with_an_epoch_and_a_group_added_later(min_lr: float | list[float]) -> None:
    """torch: a scalar min_lr extends to a group added after construction; a list raises RuntimeError."""
    (ours_opt, theirs_opt) = make_opts("SGD")
    ours, theirs = (m.ReduceLROnPlateau(o, patience=1, min_lr=min_lr) for m, o in
                    ((lr_scheduler, ours_opt), (torch.optim.lr_scheduler, theirs_opt)))
    ours_opt.add_param_group({"params": [tg.Tensor(np.zeros(1), requires_grad=True)], "lr": 0.3})
    theirs_opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": 0.3})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, metric in enumerate([1.0, 1.0, 1.0, 1.0, 1.0]):
            if isinstance(min_lr, list) and i == 2:
                with pytest.raises(RuntimeError, match="min_lr"):
                    ours.step(metric, epoch=10 + i)
                with pytest.raises(RuntimeError):
                    theirs.step(metric, epoch=10 + i)
                return
            ours.step(metric, epoch=10 + i), theirs.step(metric, epoch=10 + i)
            same_groups(ours_opt, theirs_opt, f"step {i}")
            assert ours.get_last_lr() == theirs.get_last_lr() and ours.last_epoch == theirs.last_epoch


def test_load_state_dict_checks_before_changing_anything() -> None:
    opt = make_opts("SGD")[0]
    chained = lr_scheduler.ChainedScheduler([lr_scheduler.ConstantLR(opt), lr_scheduler.ExponentialLR(opt, 0.9)])
    chained.step()
    saved, lrs = chained.state_dict(), list(chained.get_last_lr())
    bad = {**saved, "_schedulers": [saved["_schedulers"][0], {**saved["_schedulers"][1], "last_epoch": -5}]}
    with pytest.raises(ValueError, match="last_epoch"):
        chained.load_state_dict(bad)
    with pytest.raises(ValueError, match="list of 2 states"):
        chained.load_state_dict({**saved, "_schedulers": saved["_schedulers"][:1]})
    with pytest.raises(TypeError, match="unknown ConstantLR state"):
        chained.load_state_dict({**saved, "_schedulers": [{"gamma": 2}, saved["_schedulers"][1]]})
    assert chained.get_last_lr() == lrs and chained._schedulers[1].last_epoch == 1


@pytest.mark.parametrize("kind", ["OneCycleLR", "CyclicLR"])
def test_optimizer_checkpoint_with_cycling_scheduler_resumes(kind: str) -> None:
    """The group keys these schedulers add (max_lr, min_lr, max_momentum, base_momentum) load back with the
    optimizer's state_dict, and the resumed run follows the uninterrupted one."""
    def make() -> tuple[Any, Any, Any]:
        p = tg.zeros(3, requires_grad=True)
        opt = tg.optim.SGD([p], lr=0.1, momentum=0.9)
        sched = (lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=30) if kind == "OneCycleLR" else
                 lr_scheduler.CyclicLR(opt, 0.01, 0.1, step_size_up=4))
        return p, opt, sched

    def steps(p: Any, opt: Any, sched: Any, n: int) -> list[tuple[float, float]]:
        out = []
        for _ in range(n):
            p.grad = tg.ones(3)
            opt.step()
            sched.step()
            out.append((opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]))
        return out

    p, opt, sched = make()
    steps(p, opt, sched, 7)
    saved = (opt.state_dict(), sched.state_dict())
    expected = steps(p, opt, sched, 10)
    p2, opt2, sched2 = make()
    opt2.load_state_dict(saved[0])
    sched2.load_state_dict(saved[1])
    assert steps(p2, opt2, sched2, 10) == expected
