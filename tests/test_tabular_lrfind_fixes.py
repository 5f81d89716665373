"""What the tabular LR-finder program (``tests/torch_style/tabular_lrfind.py``) met, against torch 2.13.

- A OneCycleLR with ``anneal_strategy='linear'`` stepped once per batch leaves, after its last batch, an lr below
  0 in each group (step ``total_steps`` lies past the anneal's end; torch's value, ours the same). Saving the
  optimizer then and loading the state_dict into a fresh one (the end-of-training checkpoint) works in torch;
  ours raised ``ValueError: invalid lr=...: must be >= 0``, though our step takes such an lr as torch's does. A
  loaded lr below 0 in a group that OneCycleLR drove (it carries ``min_lr``) is now taken as torch takes it; one
  in any other group (a damaged checkpoint: tests/test_runs.py), a NaN lr or a non-number is still refused.
- ``torch.optim.lr_scheduler._LRScheduler`` (torch's pre-2.0 name of ``LRScheduler``, which torch-lr-finder's
  schedules and many notebooks subclass) was missing: AttributeError / ImportError.
- Silently different: ``optimizer.load_state_dict`` of a state saved before a scheduler was made (the LR finder's
  ``copy.deepcopy(optimizer.state_dict())`` restored after its ExponentialLR / OneCycleLR) kept that scheduler's
  ``initial_lr`` (and OneCycleLR's ``max_lr`` ...) in the groups; torch replaces each group by the saved one. A
  scheduler made afterwards took the stale ``initial_lr`` as its base lr: a LambdaLR / CosineAnnealingLR after the
  finder ran from the finder's first lr (1e-5 instead of 0.1). Those keys are now dropped when the saved group
  lacks them.

Mutations (each made by hand, the named test seen failing, then restored):
- optimizer.py's ``check_saved_group`` checking the saved lr as given (no ``scheduled`` case):
  test_state_after_a_linear_one_cycle_loads_as_torch
- ``scheduled`` without ``"min_lr" in saved``: test_other_bad_lrs_in_a_state_dict_still_refused[-0.01-False]
- ``scheduled`` true for any lr: test_other_bad_lrs_in_a_state_dict_still_refused (all four)
- lr_scheduler.py without ``class _LRScheduler``: test_lr_finder_schedule_subclassing_lrscheduler_as_torch
- optimizer.py's ``load_state_dict`` without the ``group.pop(key, None)`` loop:
  test_schedule_after_a_restored_finder_starts_from_the_restored_lr
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

OPTIMIZERS = {"SGD": {"momentum": 0.9, "nesterov": True}, "AdamW": {}, "Adam": {"betas": (0.9, 0.99)},
              "RMSprop": {"momentum": 0.5}}


def one_cycle_then_reload(lib: object, name: str, total: int, max_lr: float, three_phase: bool) -> tuple:
    """A linear OneCycleLR run to its end on a (3,) parameter, its optimizer state loaded into a fresh optimizer
    that then takes one step: (the loaded group's lr and momentum / betas, the parameter after that step)."""
    p = lib.nn.Parameter(lib.tensor([1.0, -2.0, 0.5]))
    opt = getattr(lib.optim, name)([p], lr=1e-3, **OPTIMIZERS[name])
    sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total, anneal_strategy="linear",
                                              three_phase=three_phase)
    for _ in range(total):
        p.grad = lib.tensor([0.1, -0.3, 1.0])
        opt.step()
        sched.step()
    q = lib.nn.Parameter(lib.tensor([1.0, -2.0, 0.5]))
    fresh = getattr(lib.optim, name)([q], lr=1e-3, **OPTIMIZERS[name])
    fresh.load_state_dict(opt.state_dict())
    q.grad = lib.tensor([0.1, -0.3, 1.0])
    fresh.step()
    group = fresh.param_groups[0]
    return group["lr"], group.get("momentum"), tuple(group.get("betas", ())), q.detach().numpy().copy()


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(sorted(OPTIMIZERS)), st.integers(4, 30), st.floats(1e-4, 10.0), st.booleans())
def test_state_after_a_linear_one_cycle_loads_as_torch(name: str, total: int, max_lr: float,
                                                       three_phase: bool) -> None:
    theirs = one_cycle_then_reload(torch, name, total, max_lr, three_phase)
    ours = one_cycle_then_reload(tg, name, total, max_lr, three_phase)
    assert theirs[0] < 0 and ours[:3] == theirs[:3]
    np.testing.assert_allclose(ours[3], theirs[3], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("lr", "cycled"), [(-0.01, False), (math.nan, True), ("0.1", True), (math.nan, False)])
def test_other_bad_lrs_in_a_state_dict_still_refused(lr: object, cycled: bool) -> None:
    """A negative lr without OneCycleLR's keys, or a NaN / non-number lr even with them."""
    opt = tg.optim.SGD([tg.nn.Parameter(tg.ones(2))], lr=0.1, momentum=0.9)
    if cycled:
        tg.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=5)
    saved = opt.state_dict()
    saved["param_groups"][0]["lr"] = lr
    with pytest.raises((ValueError, TypeError), match="lr"):
        tg.optim.SGD([tg.nn.Parameter(tg.ones(2))], lr=0.1).load_state_dict(saved)


def finder_lrs(lib: object, end_lr: float, num_iter: int) -> list[float]:
    """torch-lr-finder's ExponentialLR (a subclass of ``_LRScheduler``) over ``num_iter`` SGD steps: its lrs."""
    class ExponentialLR(lib.optim.lr_scheduler._LRScheduler):
        def __init__(self, optimizer: object, end_lr: float, num_iter: int) -> None:
            self.end_lr, self.num_iter = end_lr, num_iter
            super().__init__(optimizer)

        def get_lr(self) -> list[float]:
            r = (self.last_epoch + 1) / self.num_iter
            return [base_lr * (self.end_lr / base_lr) ** r for base_lr in self.base_lrs]

    p = lib.nn.Parameter(lib.ones(2))
    opt = lib.optim.SGD([p], lr=1e-5, momentum=0.9)
    sched = ExponentialLR(opt, end_lr, num_iter)
    lrs = []
    for _ in range(num_iter):
        p.grad = lib.ones(2)
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    return lrs


@settings(max_examples=10, deadline=None)
@given(st.floats(1e-3, 100.0), st.integers(2, 20))
def test_lr_finder_schedule_subclassing_lrscheduler_as_torch(end_lr: float, num_iter: int) -> None:
    assert finder_lrs(tg, end_lr, num_iter) == finder_lrs(torch, end_lr, num_iter)


FINDERS = {"exponential": lambda m, o: m.ExponentialLR(o, gamma=2.0),
           "one_cycle": lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=10)}
AFTER = {"lambda": lambda m, o: m.LambdaLR(o, lambda e: 0.9 ** e),
         "cosine": lambda m, o: m.CosineAnnealingLR(o, T_max=5),
         "step": lambda m, o: m.StepLR(o, step_size=2, gamma=0.5),
         "linear": lambda m, o: m.LinearLR(o, start_factor=0.5, total_iters=3)}


def restored_then_scheduled(lib: object, lr: float, finder: str, after: str, name: str) -> tuple:
    """An optimizer's state saved, a finder schedule run on it, the state loaded back, then another schedule
    made and stepped: (the restored group's keys but params, the second schedule's base lrs and lrs)."""
    p = lib.nn.Parameter(lib.ones(2))
    opt = getattr(lib.optim, name)([p], lr=lr)
    saved = copy.deepcopy(opt.state_dict())
    opt.param_groups[0]["lr"] = 1e-5
    sched = FINDERS[finder](lib.optim.lr_scheduler, opt)
    for _ in range(4):
        p.grad = lib.ones(2)
        opt.step()
        sched.step()
    opt.load_state_dict(saved)
    keys = set(opt.param_groups[0]) - {"params"}
    sched = AFTER[after](lib.optim.lr_scheduler, opt)
    lrs = []
    for _ in range(6):
        p.grad = lib.ones(2)
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    return keys, sched.base_lrs, lrs


@settings(max_examples=16, deadline=None)
@given(st.floats(1e-4, 10.0), st.sampled_from(sorted(FINDERS)), st.sampled_from(sorted(AFTER)),
       st.sampled_from(["SGD", "AdamW"]))
def test_schedule_after_a_restored_finder_starts_from_the_restored_lr(lr: float, finder: str, after: str,
                                                                    name: str) -> None:
    ours, theirs = (restored_then_scheduled(lib, lr, finder, after, name) for lib in (tg, torch))
    finders = {"initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"}
    assert not ours[0] & finders and not theirs[0] & finders
    np.testing.assert_allclose(ours[1] + ours[2], theirs[1] + theirs[2], rtol=1e-12)
