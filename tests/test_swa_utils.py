"""optim.swa_utils against torch.optim.swa_utils: AveragedModel (SWA and EMA, buffers averaged or copied),
SWALR's lr sequence, update_bn's BatchNorm statistics, state_dict keys, and the errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_lr_scheduler_torch import run
from test_torch_movement_names import SPECIAL, raises

import tinygrad_adam as tg
from tinygrad_adam.optim import lr_scheduler, swa_utils

torch = pytest.importorskip("torch")

DTYPES = st.sampled_from([np.float32, np.float64])
# (name, how to make the averaging arguments from a swa_utils module)
MODES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "swa": lambda m: {},
    "swa_avg_fn": lambda m: {"avg_fn": m.get_swa_avg_fn()},
    "swa_multi": lambda m: {"multi_avg_fn": m.get_swa_multi_avg_fn()},
    "ema_avg_fn": lambda m: {"avg_fn": m.get_ema_avg_fn(0.9)},
    "ema_multi": lambda m: {"multi_avg_fn": m.get_ema_multi_avg_fn(0.75)},
}


def models(dtype: Any, seed: int) -> tuple[Any, Any]:
    """The same Linear-BatchNorm-ReLU-Linear model in torch and here, with torch's initial weights."""
    torch.manual_seed(seed)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                                 torch.nn.Linear(4, 2)).to(torch.float64 if dtype == np.float64 else torch.float32)
    ours = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.BatchNorm1d(4), tg.nn.ReLU(), tg.nn.Linear(4, 2)).to(
        dtype=dtype)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def same_state(ours: Any, theirs: Any, rtol: float, exact: bool = False, atol: float | None = None) -> None:
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for k in b:
        got, want = np.asarray(tg.Tensor(a[k]).numpy()), b[k].numpy()
        assert got.dtype == want.dtype and got.shape == want.shape, k
        if exact:
            np.testing.assert_array_equal(got, want, err_msg=k)  # NaN == NaN, but -0 == 0 here
            real = ~np.isnan(want)  # a NaN's sign bit means nothing
            assert np.array_equal(np.signbit(got[real]), np.signbit(want[real])), k
        else:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol if atol is None else atol, err_msg=k)


@settings(deadline=None, max_examples=20)
@given(dtype=DTYPES, mode=st.sampled_from(sorted(MODES)), use_buffers=st.booleans(),
       opt=st.sampled_from(["SGD", "Adam"]), steps=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_averaged_model_follows_torch_through_training(dtype: Any, mode: str, use_buffers: bool, opt: str,
                                                       steps: int, seed: int) -> None:
    assume(not (mode == "swa_multi" and use_buffers))  # num_batches_tracked: refused, see test_refuses_...
    ours, theirs = models(dtype, seed)
    avg_ours = swa_utils.AveragedModel(ours, use_buffers=use_buffers, **MODES[mode](swa_utils))
    avg_theirs = torch.optim.swa_utils.AveragedModel(theirs, use_buffers=use_buffers,
                                                     **MODES[mode](torch.optim.swa_utils))
    opt_ours = getattr(tg.optim, opt)(ours.parameters(), lr=0.1)
    opt_theirs = getattr(torch.optim, opt)(theirs.parameters(), lr=0.1)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = rng.standard_normal((5, 3)).astype(dtype)
        for lib, model, o in ((tg, ours, opt_ours), (torch, theirs, opt_theirs)):
            o.zero_grad()
            (model(lib.tensor(x)) ** 2).mean().backward()
            o.step()
        # Adam magnifies rounding in the gradients (a dead ReLU unit's 0 vs 1e-9): start each average from torch's
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
        avg_ours.update_parameters(ours), avg_theirs.update_parameters(theirs)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    same_state(avg_ours, avg_theirs, rtol)
    assert avg_ours.n_averaged.item() == avg_theirs.n_averaged.item() == steps
    assert avg_ours.n_averaged.dtype == np.int64 and avg_ours.n_averaged.shape == ()
    same_state(ours, theirs, 0, exact=True)  # the model itself is untouched by the averaging
    x = rng.standard_normal((4, 3)).astype(dtype)
    avg_ours.eval(), avg_theirs.eval()
    np.testing.assert_allclose(avg_ours(tg.tensor(x)).numpy(), avg_theirs(torch.tensor(x)).detach().numpy(),
                               rtol=rtol, atol=rtol)


@settings(deadline=None, max_examples=30)
@given(dtype=DTYPES, mode=st.sampled_from(sorted(MODES)), use_buffers=st.booleans(),
       values=st.lists(st.lists(st.floats(-1e3, 1e3) | SPECIAL, min_size=3, max_size=3), min_size=1, max_size=4))
def test_averages_are_torchs_bit_for_bit(dtype: Any, mode: str, use_buffers: bool, values: list[list[float]]) -> None:
    """The averaging formulas themselves (NaN, inf, -0 included): set the weights, update, compare exactly."""
    ours, theirs = tg.nn.Linear(3, 1).to(dtype=dtype), torch.nn.Linear(3, 1).to(
        torch.float64 if dtype == np.float64 else torch.float32)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    avg_ours = swa_utils.AveragedModel(ours, use_buffers=use_buffers, **MODES[mode](swa_utils))
    avg_theirs = torch.optim.swa_utils.AveragedModel(theirs, use_buffers=use_buffers,
                                                     **MODES[mode](torch.optim.swa_utils))
    for row in values:
        w = np.array([row], dtype=dtype)
        ours.weight.data[...] = w
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(w))
        avg_ours.update_parameters(ours)
        avg_theirs.update_parameters(theirs)
        # torch's float64 lerp is one fused multiply-add, ours rounds twice (ulps of the inputs; float32 is exact)
        lerp64 = mode.endswith("multi") and dtype == np.float64
        scale = max((abs(v) for r in values for v in r if np.isfinite(v)), default=1.0)
        same_state(avg_ours, avg_theirs, 1e-14, exact=not lerp64, atol=1e-14 * scale)


def test_state_dict_keys_gradients_and_device() -> None:
    ours, theirs = models(np.float32, 0)
    avg_ours, avg_theirs = swa_utils.AveragedModel(ours, device="cpu"), torch.optim.swa_utils.AveragedModel(theirs)
    assert list(avg_ours.state_dict()) == list(avg_theirs.state_dict())
    assert avg_ours.module is not ours and avg_ours.module[0].weight is not ours[0].weight
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    (avg_ours(tg.tensor(x)) ** 2).sum().backward()
    (avg_theirs(torch.tensor(x)) ** 2).sum().backward()
    for (name, p), q in zip(avg_ours.named_parameters(), avg_theirs.parameters()):
        # (a bias gradient that cancels to ~0: 1.2e-6 of float32 rounding seen on an AVX-512 machine)
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=5e-6, err_msg=name)
    # a round trip through the state_dict, n_averaged included
    avg_ours.update_parameters(ours)
    fresh = swa_utils.AveragedModel(ours)
    fresh.load_state_dict(avg_ours.state_dict())
    assert fresh.n_averaged.item() == 1


def test_importing_optim_does_not_load_nn() -> None:
    code = ("import sys, tinygrad_adam.optim as o; assert not [m for m in sys.modules if m.startswith("
            "'tinygrad_adam.nn')]; assert o.swa_utils.AveragedModel; assert 'tinygrad_adam.nn' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 3, 10])
@pytest.mark.parametrize("last_epoch", [-1, 4])
@pytest.mark.parametrize("swa_lr", [0.02, [0.5, 0.001]])
def test_swalr_learning_rates(strategy: str, anneal_epochs: int, last_epoch: int, swa_lr: Any) -> None:
    def make(module: Any, optimizer: Any) -> Any:
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        swa = swa_utils if module is lr_scheduler else torch.optim.swa_utils
        return swa.SWALR(optimizer, swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy,
                         last_epoch=last_epoch)
    run(make, steps=15)


def test_swalr_resumes_from_its_state_dict() -> None:
    opt = tg.optim.SGD([tg.zeros(2, requires_grad=True)], lr=0.1)
    sched = swa_utils.SWALR(opt, 0.01, anneal_epochs=5)
    sched.step(), sched.step()
    state = sched.state_dict()
    lrs = [(sched.step(), opt.param_groups[0]["lr"])[1] for _ in range(4)]
    sched.load_state_dict(state)
    assert [(sched.step(), opt.param_groups[0]["lr"])[1] for _ in range(4)] == lrs


@pytest.mark.parametrize("batches", ["tensors", "tuples"])
@pytest.mark.parametrize("was_training", [True, False])
def test_update_bn(batches: str, was_training: bool) -> None:
    ours, theirs = models(np.float64, 3)
    norm_ours, norm_theirs = tg.nn.InstanceNorm1d(1, track_running_stats=True).double(), torch.nn.InstanceNorm1d(
        1, track_running_stats=True).double()
    ours, theirs = tg.nn.Sequential(ours, tg.nn.Unflatten(1, (1, 2)), norm_ours), torch.nn.Sequential(
        theirs, torch.nn.Unflatten(1, (1, 2)), norm_theirs)
    norm_ours.running_var.data[...] = 5.0  # InstanceNorm is not reset (its momentum is kept), as in torch
    with torch.no_grad():
        norm_theirs.running_var.fill_(5.0)
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((n, 3)) for n in (4, 7, 2)]
    ours.train(was_training), theirs.train(was_training)
    swa_utils.update_bn([x_ours if batches == "tensors" else (x_ours, 0) for x_ours in map(tg.tensor, xs)], ours,
                        device="cpu")
    torch.optim.swa_utils.update_bn([x if batches == "tensors" else (x, 0) for x in map(torch.tensor, xs)], theirs)
    same_state(ours, theirs, 1e-12)
    assert ours.training == theirs.training == was_training and ours[0][1].momentum == 0.1


def test_update_bn_of_an_averaged_model_and_without_batchnorm() -> None:
    ours, theirs = models(np.float32, 5)
    avg_ours, avg_theirs = swa_utils.AveragedModel(ours), torch.optim.swa_utils.AveragedModel(theirs)
    avg_ours.update_parameters(ours), avg_theirs.update_parameters(theirs)
    xs = [np.random.default_rng(i).standard_normal((6, 3)).astype(np.float32) for i in range(3)]
    swa_utils.update_bn(map(tg.tensor, xs), avg_ours)
    torch.optim.swa_utils.update_bn(map(torch.tensor, xs), avg_theirs)
    same_state(avg_ours, avg_theirs, 1e-5)
    plain = tg.nn.Linear(2, 2)
    swa_utils.update_bn([tg.zeros(1, 2)], plain)  # nothing to do, no error


def test_refuses_what_torch_refuses() -> None:
    def opt(lib: Any) -> Any:
        return lib.optim.SGD([lib.zeros(2, requires_grad=True), ], lr=0.1)

    def swa(lib: Any) -> Any:
        return torch.optim.swa_utils if lib is torch else swa_utils

    raises(lambda lib: swa(lib).SWALR(opt(lib), 0.1, anneal_strategy="exp"))
    raises(lambda lib: swa(lib).SWALR(opt(lib), 0.1, anneal_epochs=-1))
    raises(lambda lib: swa(lib).SWALR(opt(lib), 0.1, anneal_epochs=2.5))
    raises(lambda lib: swa(lib).SWALR(opt(lib), [0.1, 0.2]))
    for lib in (torch, tg):  # no initial_lr to resume from
        with pytest.raises(KeyError):
            swa(lib).SWALR(opt(lib), 0.1, last_epoch=3)

    def swa_multi_with_buffers(lib: Any) -> None:
        model = lib.nn.BatchNorm1d(2)
        avg = swa(lib).AveragedModel(model, use_buffers=True, multi_avg_fn=swa(lib).get_swa_multi_avg_fn())
        avg.update_parameters(model), avg.update_parameters(model)
    raises(swa_multi_with_buffers)  # the int64 num_batches_tracked
    for bad in (-0.1, 1.5):
        raises(lambda lib, bad=bad: swa(lib).get_ema_avg_fn(bad))
        raises(lambda lib, bad=bad: swa(lib).get_ema_multi_avg_fn(bad))
    with pytest.raises(AssertionError):  # torch asserts; a ValueError here
        torch.optim.swa_utils.AveragedModel(torch.nn.Linear(1, 1), avg_fn=torch.optim.swa_utils.get_swa_avg_fn(),
                                            multi_avg_fn=torch.optim.swa_utils.get_swa_multi_avg_fn())
    with pytest.raises(ValueError, match="not both"):
        swa_utils.AveragedModel(tg.nn.Linear(1, 1), avg_fn=swa_utils.get_swa_avg_fn(),
                                multi_avg_fn=swa_utils.get_swa_multi_avg_fn())
    with pytest.raises(ValueError, match="tensors to average"):
        swa_utils.AveragedModel(tg.nn.Linear(1, 1)).update_parameters(tg.nn.Linear(1, 1, bias=False))
