"""What the SimCLR program (``tests/torch_style/simclr.py``, sthalles/SimCLR's code) met, against torch 2.13.

- ``from torch.cuda.amp import GradScaler, autocast`` failed (``tinygrad_adam.cuda.amp`` was an attribute, not an
  importable module), and its names did not warn: torch's are deprecated with a FutureWarning each. A "cuda"
  autocast on a machine without a GPU (sthalles's ``fp16_precision=True`` on a CPU) warns and disables itself in
  torch; ours said it had no mixed precision instead (the numbers were the same: float32 either way).
- ``scheduler.get_lr()`` called outside ``step()`` (sthalles logs the lr with it) did not warn; torch's built-in
  schedules say to use ``get_last_lr()``. Silently different: right after a scheduler is rebuilt with
  ``last_epoch=k`` (imagenet's resume), torch's ``CosineAnnealingLR.get_lr()`` gives the closed form at step k (its
  ``_step_count == 1`` branch), ours gave the recursive formula's next step; the step count is now the base class's,
  as torch's (``_step_count`` in the state_dict, SWALR's own counter gone).
- ``float(loss)`` of a tensor that requires grad warns once per process in torch; ours did not.
- ``DataLoader(pin_memory=True)`` warns at each iteration's start without an accelerator in torch, and keeps
  ``loader.pin_memory``; ours dropped it silently.

Mutations (each made by hand, the named test seen failing, then restored):
- cuda.py without ``sys.modules[amp.__name__] = amp``: test_cuda_amp_imports_and_warns_as_torch
- amp.py's ``_CudaGradScaler`` without ``_deprecated(...)``: test_cuda_amp_imports_and_warns_as_torch
- amp.py's autocast without the "cuda" disabling: test_cuda_autocast_and_scaler_without_a_gpu_as_torch
- lr_scheduler.py's ``__init_subclass__`` not wrapping get_lr: test_get_lr_outside_step_warns_as_torch
- ``_update_lr`` without ``with self._within_step()``: test_get_lr_outside_step_warns_as_torch
- CosineAnnealingLR.get_lr without the ``_step_count == 1 and t > 0`` branch: test_cosine_get_lr_after_resume_...
- ``step()`` without ``self._step_count += 1``: test_cosine_get_lr_after_resume_..., test_step_count_as_torch
- methods.py's ``_float`` without the warning: test_float_of_a_tensor_requiring_grad_warns_once
- dataloader.py's ``__iter__`` without the warning: test_pin_memory_warns_as_torch
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam import methods

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

LIBS = {"ours": tg, "torch": torch}


def caught(fn) -> list[tuple[str, str]]:
    """(category, first line of message) of every warning ``fn()`` gives, in order."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fn()
    return [(w.category.__name__, str(w.message).splitlines()[0]) for w in seen]


def assert_same_warnings(ours: list[tuple[str, str]], theirs: list[tuple[str, str]], names: tuple[str, ...]) -> None:
    """The same categories in order, each message naming the same of ``names`` (the sentences are each library's)."""
    assert [c for c, _ in ours] == [c for c, _ in theirs], (ours, theirs)
    for (_, mine), (_, torchs) in zip(ours, theirs, strict=True):
        assert {n for n in names if n in mine} == {n for n in names if n in torchs}, (mine, torchs)


def test_cuda_amp_imports_and_warns_as_torch() -> None:
    from tinygrad_adam.cuda.amp import GradScaler, autocast
    from torch.cuda.amp import GradScaler as TorchScaler
    from torch.cuda.amp import autocast as torch_autocast

    for make in (lambda: GradScaler(enabled=False), lambda: autocast(enabled=False)):
        assert len(caught(make)) == 1
    names = ("GradScaler", "autocast", "torch.amp")
    assert_same_warnings(caught(lambda: GradScaler(enabled=False)), caught(lambda: TorchScaler(enabled=False)), names)
    assert_same_warnings(caught(lambda: autocast(enabled=False)), caught(lambda: torch_autocast(enabled=False)), names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scaler = GradScaler(enabled=False)
        loss = tg.tensor(2.0, requires_grad=True) * 3
        assert isinstance(scaler, tg.amp.GradScaler) and not scaler.is_enabled() and scaler.scale(loss) is loss
        with autocast(enabled=False):
            assert (loss * 2).item() == 12.0
    assert tg.cuda.amp.GradScaler is GradScaler


SCHEDULES = {
    "StepLR": lambda L, o: L.StepLR(o, 2, 0.5), "MultiStepLR": lambda L, o: L.MultiStepLR(o, [1, 3]),
    "ExponentialLR": lambda L, o: L.ExponentialLR(o, 0.9), "CosineAnnealingLR": lambda L, o: L.CosineAnnealingLR(o, 3),
    "LambdaLR": lambda L, o: L.LambdaLR(o, lambda e: 0.9 ** e), "MultiplicativeLR": lambda L, o: L.MultiplicativeLR(
        o, lambda e: 0.9), "ConstantLR": lambda L, o: L.ConstantLR(o), "LinearLR": lambda L, o: L.LinearLR(o),
    "PolynomialLR": lambda L, o: L.PolynomialLR(o), "OneCycleLR": lambda L, o: L.OneCycleLR(o, 0.1, total_steps=9),
    "CyclicLR": lambda L, o: L.CyclicLR(o, 0.01, 0.1, cycle_momentum=False),
    "CosineAnnealingWarmRestarts": lambda L, o: L.CosineAnnealingWarmRestarts(o, 2),
    "SWALR": lambda L, o: LIB_OF[L].optim.swa_utils.SWALR(o, 0.05, anneal_epochs=2),
}
LIB_OF = {tg.optim.lr_scheduler: tg, torch.optim.lr_scheduler: torch}


def scheduler(lib, name: str, lr: float = 0.1):
    p = lib.nn.Parameter(lib.zeros(2))
    opt = lib.optim.SGD([p], lr=lr, momentum=0.9)
    return opt, SCHEDULES[name](lib.optim.lr_scheduler, opt)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_get_lr_outside_step_warns_as_torch(name: str) -> None:
    """Built-in schedules warn when get_lr() is called by the user, never in their own steps; a user's subclass with
    its own get_lr does not warn (in torch neither)."""
    for lib in LIBS.values():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # construction and steps: silent
            opt, sched = scheduler(lib, name)
            for _ in range(3):
                opt.step()
                sched.step()
        ((category, message),) = caught(sched.get_lr)  # one warning, naming get_last_lr() (in each library's words)
        assert category == "UserWarning" and "`get_last_lr()`" in message, lib.__name__

    class Halving(tg.optim.lr_scheduler.LRScheduler):
        def get_lr(self) -> list[float]:
            return [g["lr"] / 2 for g in self.optimizer.param_groups]

    opt, _ = scheduler(tg, "StepLR")
    assert caught(Halving(opt).get_lr) == []


@settings(max_examples=40, deadline=None)
@given(t_max=st.integers(1, 8), resume_at=st.integers(0, 20), steps=st.integers(0, 3),
       eta_min=st.sampled_from([0.0, 1e-3]))
def test_cosine_get_lr_after_resume_and_step_count_as_torch(t_max: int, resume_at: int, steps: int,
                                                             eta_min: float) -> None:
    """A CosineAnnealingLR rebuilt with ``last_epoch=resume_at`` (the optimizer holding ``initial_lr``), stepped
    ``steps`` times: get_lr() (the deprecated call, outside step), get_last_lr() and the state_dict's step count
    equal torch's."""
    results = []
    for lib in LIBS.values():
        opt, _ = scheduler(lib, "StepLR", lr=0.1)
        opt.param_groups[0]["initial_lr"] = 0.1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, t_max, eta_min=eta_min, last_epoch=resume_at)
            for _ in range(steps):
                opt.step()
                sched.step()
            state = sched.state_dict()
            results.append((sched.get_lr(), sched.get_last_lr(), state["_step_count"], state["last_epoch"]))
    (got, got_last, count, epoch), (want, want_last, want_count, want_epoch) = results
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-18)
    np.testing.assert_allclose(got_last, want_last, rtol=1e-13, atol=1e-18)
    assert (count, epoch) == (want_count, want_epoch)


@pytest.mark.parametrize("name", ["CosineAnnealingLR", "CosineAnnealingWarmRestarts", "SWALR", "StepLR"])
def test_step_count_as_torch(name: str) -> None:
    counts = []
    for lib in LIBS.values():
        opt, sched = scheduler(lib, name)
        counts.append([sched.state_dict()["_step_count"]])
        for _ in range(2):
            opt.step()
            sched.step()
            counts[-1].append(sched.state_dict()["_step_count"])
    assert counts[0] == counts[1]


def test_float_of_a_tensor_requiring_grad_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """As torch: the first float() of a tensor that requires grad, with grad mode on, warns; later ones do not."""
    monkeypatch.setattr(methods, "_float_warned", [False])
    x = tg.tensor(2.0, requires_grad=True)
    with tg.no_grad():
        assert caught(lambda: float(x)) == []
    assert caught(lambda: float(tg.tensor([3.0]))) == []
    message = ("Reading a Python number from a tensor that requires grad drops it from the graph; detach() it first "
               "to say that is meant")
    assert caught(lambda: float(x * 2)) == [("UserWarning", message)]
    assert caught(lambda: float(x)) == [] and float(x * 2) == 4.0
    assert caught(lambda: (int(x), x.item(), f"{x}")) == []


@pytest.mark.parametrize("pin_memory", [False, True])
def test_pin_memory_warns_as_torch(pin_memory: bool) -> None:
    seen = []
    for lib in LIBS.values():
        data = lib.utils.data.TensorDataset(lib.arange(4.0))
        loader = lib.utils.data.DataLoader(data, batch_size=2, pin_memory=pin_memory)
        assert loader.pin_memory is pin_memory
        seen.append(caught(lambda loader=loader: [b[0].tolist() for b in loader] + [b[0].tolist() for b in loader]))
    if tg.cuda.is_available() != torch.accelerator.is_available():
        pytest.skip("one library sees an accelerator, the other not")
    assert_same_warnings(seen[0], seen[1], ("'pin_memory'",))
    assert len(seen[0]) == 2 * pin_memory


@pytest.mark.parametrize("make", ["{}.cuda.amp.GradScaler()", "{}.cuda.amp.autocast()", "{}.autocast('cuda')",
                                  "{}.amp.autocast('cuda', enabled=False)", "{}.cuda.amp.GradScaler(enabled=False)"])
def test_cuda_autocast_and_scaler_without_a_gpu_as_torch(make: str) -> None:
    """sthalles's ``fp16_precision=True`` on a CPU: torch's "cuda" autocast and GradScaler warn and disable
    themselves; ours say the same (the deprecation first) and are disabled too."""
    if tg.cuda.is_available() or torch.cuda.is_available():
        pytest.skip("a GPU: nothing is disabled")
    made = []
    ours_said = caught(lambda: made.append(eval(make.format("tg"))))
    assert_same_warnings(ours_said, caught(lambda: eval(make.format("torch"))), ("GradScaler", "autocast", "torch.amp"))
    ours = made[0]
    assert not (ours.is_enabled() if hasattr(ours, "is_enabled") else ours.enabled)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # disabled: no "no mixed precision" warning either
        if not hasattr(ours, "is_enabled"):
            with ours:
                pass
