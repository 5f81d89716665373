"""Fixes found by porting ``tests/torch_style/distill_mixup.py`` (knowledge distillation with mixup / CutMix under
OneCycleLR and CosineAnnealingWarmRestarts), each checked against torch.

- A scheduler's first ``step()`` before any ``optimizer.step()`` warns as torch's (UserWarning "Detected call of
  `lr_scheduler.step()` before `optimizer.step()`": the schedule's first lr is skipped), and "Seems like
  `optimizer.step()` has been overridden" where the optimizer's step was replaced after the scheduler was made;
  schedulers with their own step (CosineAnnealingWarmRestarts, ReduceLROnPlateau) stay silent, as torch's. Ours
  never warned.
- ``cross_entropy(..., label_smoothing=e)`` with e negative or nan computes the plain loss, as torch (it smooths
  only where e > 0 and refuses e > 1); ours raised ValueError.
- ``linear_cross_entropy(..., options=...)`` with label_smoothing != 0 (or non-int64 targets, or a K-dimensional
  loss) warns and takes the reference path, as torch's. Ours chunked it anyway, and with e negative, nan or > 1
  returned a silently wrong number (torch: the plain loss, the plain loss, a refusal); the chunks' own smoothing
  is gone.

Mutations run (each made the named test fail, then was restored):
- drop the ``_check_step_order`` call in ``LRScheduler.step``: test_step_order_warnings_match_torch
- drop ``_track_optimizer_steps(optimizer)`` in ``LRScheduler.__init__``: test_step_order_warnings_match_torch
- a plain function closing over the optimizer it was made for instead of a bound method:
  test_a_deep_copied_optimizer_steps_itself
- drop ``if not label_smoothing > 0.0: label_smoothing = 0.0`` in ``cross_entropy``: test_label_smoothing_matches_torch
- the old ``not 0 <= label_smoothing <= 1`` refusal back: test_label_smoothing_matches_torch
- drop ``label_smoothing != 0.0`` from ``linear_cross_entropy``'s fallback: test_linear_cross_entropy_options_fall_back
"""

from __future__ import annotations

import copy
import types
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SCHEDULERS: dict[str, Callable[[types.ModuleType, object], object]] = {
    "StepLR": lambda S, o: S.StepLR(o, 2),
    "OneCycleLR": lambda S, o: S.OneCycleLR(o, 0.1, total_steps=5),
    "CyclicLR": lambda S, o: S.CyclicLR(o, 0.01, 0.1),
    "LambdaLR": lambda S, o: S.LambdaLR(o, lambda e: 0.9 ** e),
    "CosineAnnealingLR": lambda S, o: S.CosineAnnealingLR(o, 4),
    "CosineAnnealingWarmRestarts": lambda S, o: S.CosineAnnealingWarmRestarts(o, 2),
    "ReduceLROnPlateau": lambda S, o: S.ReduceLROnPlateau(o),
    "SequentialLR": lambda S, o: S.SequentialLR(o, [S.ConstantLR(o), S.ExponentialLR(o, 0.9)], milestones=[2]),
    "ChainedScheduler": lambda S, o: S.ChainedScheduler([S.ConstantLR(o), S.ExponentialLR(o, 0.9)]),
}


def step_order_warnings(lib: types.ModuleType, name: str, order: str) -> list[tuple[str, str]]:
    """The (category, first words) of the step-order warnings while ``order`` runs: "o" an optimizer step, "s" a
    scheduler step, "r" the optimizer's step replaced by a fresh bound method."""
    p = lib.nn.Parameter(lib.ones(2))
    opt = lib.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sched = SCHEDULERS[name](lib.optim.lr_scheduler, opt)
        for what in order:
            if what == "o":
                opt.step()
            elif what == "r":
                opt.step = types.MethodType(type(opt).step, opt)
            else:
                sched.step(1.0) if name == "ReduceLROnPlateau" else sched.step()
    # which warning (category and kind), not each library's sentence
    return [(w.category.__name__, "replaced" if "overridden" in str(w.message) or "was replaced" in str(w.message)
             else "order") for w in caught
            if "lr_scheduler.step()" in str(w.message) or "optimizer.step()` " in str(w.message)]


@pytest.mark.parametrize("order", ["s", "ss", "os", "so", "oss", "rs", "ros"])
@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_step_order_warnings_match_torch(name: str, order: str) -> None:
    assert step_order_warnings(tg, name, order) == step_order_warnings(torch, name, order)


def test_step_order_warning_is_at_the_callers_line() -> None:
    opt = tg.optim.SGD([tg.nn.Parameter(tg.ones(2))], lr=0.1)
    sched = tg.optim.lr_scheduler.StepLR(opt, 2)
    with pytest.warns(UserWarning, match="before any `optimizer.step\\(\\)`") as caught:
        sched.step()
    assert caught[0].filename == __file__


def test_a_deep_copied_optimizer_steps_itself() -> None:
    """The step wrapper is bound to its optimizer: a deep copy's step moves the copy's parameters only."""
    p = tg.nn.Parameter(tg.ones(2))
    opt = tg.optim.SGD([p], lr=0.1)
    tg.optim.lr_scheduler.StepLR(opt, 2)
    twin = copy.deepcopy(opt)
    q = twin.param_groups[0]["params"][0]
    p.grad, q.grad = tg.ones(2), tg.ones(2)
    twin.step()
    np.testing.assert_array_equal(p.detach().numpy(), [1.0, 1.0])
    np.testing.assert_allclose(q.detach().numpy(), [0.9, 0.9])
    assert twin._opt_called and not getattr(opt, "_opt_called", False)


SMOOTHING = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.sampled_from([0.0, -0.0, 1.0]))


def loss_and_grad(lib: types.ModuleType, fn: Callable[..., object], arrays: list[np.ndarray],
                  **kwargs: object) -> tuple[np.ndarray, ...] | str:
    """``fn(*arrays, **kwargs)``'s value and the gradient of its sum in the first array, or the error's kind."""
    x = lib.tensor(arrays[0], requires_grad=True)
    rest = [lib.tensor(a) for a in arrays[1:]]
    try:
        loss = fn(lib)(x, *rest, **kwargs)
    except (ValueError, RuntimeError):
        return "raises"
    loss.sum().backward()
    return loss.detach().numpy(), x.grad.numpy()


def close(ours: tuple[np.ndarray, ...] | str, theirs: tuple[np.ndarray, ...] | str) -> None:
    assert isinstance(ours, str) == isinstance(theirs, str), (ours, theirs)
    if isinstance(theirs, str):
        return
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(smoothing=SMOOTHING, probabilities=st.booleans(), weighted=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none"]), seed=st.integers(0, 2**16),
       scale=st.sampled_from([1.0, 1e4]))
def test_label_smoothing_matches_torch(smoothing: float, probabilities: bool, weighted: bool, reduction: str,
                                       seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((4, 5)) * scale).astype(np.float32)
    target = rng.dirichlet(np.ones(5), 4).astype(np.float32) if probabilities else rng.integers(0, 5, 4)
    arrays = [logits, target] + ([rng.uniform(0.1, 2, 5).astype(np.float32)] if weighted else [])
    kwargs = {"reduction": reduction, "label_smoothing": smoothing}

    def fn(lib: types.ModuleType) -> Callable[..., object]:
        return lambda x, t, *w: lib.nn.functional.cross_entropy(x, t, *w, **kwargs)
    close(loss_and_grad(tg, fn, arrays), loss_and_grad(torch, fn, arrays))


@pytest.mark.parametrize("smoothing", [0.0, 0.2, 1.0, -0.5, float("nan"), 1.5])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_linear_cross_entropy_options_fall_back(smoothing: float, reduction: str) -> None:
    """torch chunks only label_smoothing == 0: else it warns and computes the reference loss."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((5, 4)).astype(np.float32),
              rng.integers(0, 5, 6)]

    def fn(lib: types.ModuleType) -> Callable[..., object]:
        return lambda x, w, t: lib.nn.functional.linear_cross_entropy(
            x, w, t, reduction=reduction, label_smoothing=smoothing,
            options=lib.nn.LinearCrossEntropyOptions(batch_chunk_size=2))
    results, warned = [], []
    for lib in (tg, torch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results.append(loss_and_grad(lib, fn, arrays))
        warned.append(any("options`` ignored" in str(warning.message) for warning in caught))
    close(*results)
    assert warned[0] == warned[1] == (smoothing != 0.0)
