"""Fixes from probing optim.lr_scheduler and optim.swa_utils against torch 2.13 (scheduler programs with random
hyperparameters, Tensor lrs, state_dict round trips): each test runs the same program on torch and on ours."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FAST = settings(max_examples=20, deadline=None)
lrs_st = st.lists(st.floats(1e-6, 2.0, allow_subnormal=False), min_size=1, max_size=3)


def swa_of(lib: Any) -> Any:
    return torch.optim.swa_utils if lib is torch else tg.optim.swa_utils


def make_opt(lib: Any, lrs: list[float], name: str = "SGD", tensor_lr: bool = False) -> Any:
    """An optimizer with one group per lr (a 0-d float32 Tensor lr with ``tensor_lr``)."""
    groups = [{"params": [lib.zeros(2, requires_grad=True)], "lr": lib.tensor(lr) if tensor_lr else lr} for lr in lrs]
    kw = {"momentum": 0.9} if name == "SGD" else {"foreach": False}
    return getattr(lib.optim, name)(groups, **kw)


def value(x: Any) -> float:
    return float(x.item()) if hasattr(x, "item") else float(x)


def snapshot(opt: Any, sched: Any) -> list[Any]:
    """Every group's lr (value, and whether a Tensor), momentum / beta1, and get_last_lr()."""
    out: list[Any] = []
    for g in opt.param_groups:
        out += [value(g["lr"]), hasattr(g["lr"], "item"), g.get("momentum"), g.get("betas", (None,))[0]]
    return out + [[value(x) for x in sched.get_last_lr()]]


def same(a: list[Any], b: list[Any]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, float) and isinstance(y, float):
            assert x == y or (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=1e-15, abs=0), (x, y)
        elif isinstance(x, list):
            same(x, y)
        else:
            assert x == y


def both(program: Callable[[Any], list[Any]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same(program(torch), program(tg))


# --- step(epoch) uses a subclass's _get_closed_form_lr (torch's name), not its chainable get_lr ---------------------
@FAST
@given(lrs=lrs_st, gamma=st.floats(0.05, 1.0), jumps=st.lists(st.integers(0, 30), min_size=1, max_size=4),
       old_base=st.booleans())
def test_user_closed_form_is_used_by_step_epoch(lrs: list[float], gamma: float, jumps: list[int],
                                                old_base: bool) -> None:
    def program(lib: Any) -> list[Any]:
        base = lib.optim.lr_scheduler._LRScheduler if old_base else lib.optim.lr_scheduler.LRScheduler

        class Halving(base):  # type: ignore[misc, valid-type]
            def get_lr(self) -> list[float]:
                if self.last_epoch == 0:
                    return [g["lr"] for g in self.optimizer.param_groups]
                return [g["lr"] * gamma for g in self.optimizer.param_groups]

            def _get_closed_form_lr(self) -> list[float]:
                return [b * 0.5 ** self.last_epoch for b in self.base_lrs]

        opt = make_opt(lib, lrs)
        sched = Halving(opt)
        out = []
        for e in jumps:
            opt.step()
            sched.step(e)
            out += snapshot(opt, sched)
            opt.step()
            sched.step()
            out += snapshot(opt, sched)
        return out
    both(program)


# --- a Tensor lr stays the group's Tensor (filled in place, float32 values), for every schedule -------------------
def _tensor_lr_schedule(lib: Any, kind: str, opt: Any, n: int, p: dict[str, Any]) -> Any:
    lrs, swa = lib.optim.lr_scheduler, swa_of(lib)
    if kind == "OneCycleLR":
        return lrs.OneCycleLR(opt, max_lr=p["top"], total_steps=n + 1, anneal_strategy=p["anneal"],
                              three_phase=p["three"], div_factor=p["div"])
    if kind == "CyclicLR":
        return lrs.CyclicLR(opt, base_lr=p["top"] / p["div"], max_lr=p["top"], step_size_up=3,
                            mode="triangular2" if p["three"] else "exp_range", gamma=0.97)
    if kind == "ReduceLROnPlateau":
        return lrs.ReduceLROnPlateau(opt, patience=0, factor=1 / p["div"], min_lr=p["top"] / 1e4)
    if kind == "SWALR":
        return swa.SWALR(opt, swa_lr=p["top"], anneal_epochs=3, anneal_strategy=p["anneal"])
    if kind == "SequentialLR":
        return lrs.SequentialLR(opt, [lrs.LinearLR(opt, 1 / p["div"], total_iters=3),
                                      lrs.CosineAnnealingLR(opt, T_max=5)], milestones=[3])
    return lrs.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=p["top"] / 1e3)


@pytest.mark.parametrize("kind", ["OneCycleLR", "CyclicLR", "ReduceLROnPlateau", "SWALR", "SequentialLR",
                                  "CosineAnnealingWarmRestarts"])
@settings(max_examples=8, deadline=None)
@given(lrs=lrs_st, top=st.floats(1e-4, 1.0), div=st.floats(1.5, 100.0), anneal=st.sampled_from(["cos", "linear"]),
       three=st.booleans(), metrics=st.lists(st.sampled_from([1.0, 0.5, 2.0, float("nan")]), min_size=1, max_size=12))
def test_tensor_lr_is_filled_in_place(kind: str, lrs: list[float], top: float, div: float, anneal: str, three: bool,
                                      metrics: list[float]) -> None:
    def program(lib: Any) -> list[Any]:
        opt = make_opt(lib, lrs, "Adam", tensor_lr=True)
        lr_objects = [g["lr"] for g in opt.param_groups]
        sched = _tensor_lr_schedule(lib, kind, opt, len(metrics), dict(top=top, div=div, anneal=anneal, three=three))
        out = snapshot(opt, sched)
        for m in metrics:
            opt.step()
            sched.step(m) if kind == "ReduceLROnPlateau" else sched.step()
            out += snapshot(opt, sched)
        out.append([g["lr"] is t for g, t in zip(opt.param_groups, lr_objects)])  # the same objects
        out.append([g.get("initial_lr") is g["lr"] for g in opt.param_groups])  # initial_lr never aliases lr
        return out
    both(program)


# --- CyclicLR's state_dict has base_momentums / max_momentums only when it cycles the momentum, as torch's --------
@FAST
@given(cycle=st.booleans(), name=st.sampled_from(["SGD", "Adam"]))
def test_cyclic_state_dict_keys(cycle: bool, name: str) -> None:
    def keys(lib: Any) -> list[Any]:
        opt = make_opt(lib, [0.1, 0.2], name)
        sched = lib.optim.lr_scheduler.CyclicLR(opt, 0.01, 0.1, step_size_up=2, cycle_momentum=cycle)
        return sorted(k for k in sched.state_dict() if k != "_last_momentum")
    assert keys(torch) == keys(tg)


# --- get_swa_multi_avg_fn on integer buffers: RuntimeError, as torch's ---------------------------------------------
@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_swa_multi_avg_fn_refuses_integers_with_torchs_error(dtype: str) -> None:
    for lib in (torch, tg):
        fn = swa_of(lib).get_swa_multi_avg_fn()
        with pytest.raises(RuntimeError):
            fn([lib.zeros(3, dtype=getattr(lib, dtype))], [lib.ones(3, dtype=getattr(lib, dtype))], lib.tensor(1))


# --- an optimizer checkpoint whose scheduled lr ended below 0 loads, as in torch; a composite's resume -----------
def _composite(lib: Any, opt: Any, kind: str) -> Any:
    lrs = lib.optim.lr_scheduler
    if kind == "chained":  # two cosines chained go below 0 after 10 steps
        return lrs.ChainedScheduler([lrs.CosineAnnealingLR(opt, T_max=3, eta_min=0.05), lrs.CosineAnnealingLR(opt, 2)])
    return lrs.SequentialLR(opt, [lrs.LinearLR(opt, 0.1, total_iters=3), lrs.ExponentialLR(opt, 0.9),
                                  lrs.StepLR(opt, 2, 0.5)], milestones=[3, 6])


@pytest.mark.parametrize("kind", ["chained", "sequential"])
@pytest.mark.parametrize("tensor_lr", [False, True])
@settings(max_examples=6, deadline=None)
@given(stop=st.integers(1, 13))
@example(stop=12)  # the chained lrs are below 0 then
def test_composite_resume_and_negative_scheduled_lr(tensor_lr: bool, stop: int, kind: str) -> None:
    def program(lib: Any) -> list[Any]:
        opt = make_opt(lib, [0.1, 0.01], "Adam" if tensor_lr else "SGD", tensor_lr)
        sched = _composite(lib, opt, kind)
        for _ in range(stop):
            opt.step()
            sched.step()
        saved = copy.deepcopy((opt.state_dict(), sched.state_dict()))
        opt2 = make_opt(lib, [0.1, 0.01], "Adam" if tensor_lr else "SGD", tensor_lr)
        sched2 = _composite(lib, opt2, kind)
        opt2.load_state_dict(saved[0])
        sched2.load_state_dict(saved[1])
        out = snapshot(opt2, sched2)
        for _ in range(3):
            opt2.step()
            sched2.step()
            out += snapshot(opt2, sched2)
        return out
    both(program)


# --- loading one scheduler of several leaves the lrs the optimizer (or another scheduler) holds, as torch --------
@FAST
@given(epochs=st.integers(3, 20), swa_start=st.integers(0, 15), resume=st.integers(0, 20),
       anneal_epochs=st.integers(0, 5), strategy=st.sampled_from(["cos", "linear"]),
       first=st.sampled_from(["cos", "step", "warmup"]), tensor_lr=st.booleans())
def test_swa_recipe_resume_keeps_the_loaded_lrs(epochs: int, swa_start: int, resume: int, anneal_epochs: int,
                                                strategy: str, first: str, tensor_lr: bool) -> None:
    """torch's SWA recipe (a schedule, and SWALR made up front on the same optimizer), checkpointed and resumed with
    the optimizer's and both schedulers' state; also a scheduler's state loaded back into itself mid-run."""
    def program(lib: Any) -> list[Any]:
        def make() -> tuple[Any, Any, Any]:
            opt = make_opt(lib, [0.1, 0.05], "Adam" if tensor_lr else "SGD", tensor_lr)
            lrs = lib.optim.lr_scheduler
            sched = (lrs.CosineAnnealingLR(opt, T_max=epochs) if first == "cos" else lrs.StepLR(opt, 3, 0.5)
                     if first == "step" else lrs.LinearLR(opt, 0.1, total_iters=4))
            return opt, sched, swa_of(lib).SWALR(opt, swa_lr=0.01, anneal_epochs=anneal_epochs,
                                                 anneal_strategy=strategy)
        opt, sched, swa_sched = make()
        out: list[Any] = []
        for epoch in range(epochs):
            if epoch == resume:
                saved = copy.deepcopy((opt.state_dict(), sched.state_dict(), swa_sched.state_dict()))
                opt, sched, swa_sched = make()
                opt.load_state_dict(saved[0])
                sched.load_state_dict(saved[1])
                swa_sched.load_state_dict(saved[2])
                out += snapshot(opt, swa_sched)
            opt.step()
            (swa_sched if epoch >= swa_start else sched).step()
            if epoch % 4 == 3:  # the other scheduler's state back into itself
                other = sched if epoch >= swa_start else swa_sched
                other.load_state_dict(copy.deepcopy(other.state_dict()))
            out += snapshot(opt, sched) + snapshot(opt, swa_sched)
        return out
    both(program)


def test_fresh_scheduler_only_resume_still_continues() -> None:
    """The library's own extra (kept): a scheduler's state loaded into a fresh optimizer's scheduler, without the
    optimizer's state, sets the lrs to the restored step's, so the run goes on as the uninterrupted one."""
    opt = make_opt(tg, [0.1, 0.02])
    sched = tg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        opt.step()
        sched.step()
    opt2 = make_opt(tg, [0.1, 0.02])
    sched2 = tg.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(copy.deepcopy(sched.state_dict()))
    for _ in range(3):
        opt.step(), opt2.step()
        sched.step(), sched2.step()
        assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
    assert np.isfinite(sched2.get_last_lr()).all()
