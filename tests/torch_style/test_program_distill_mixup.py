"""``distill_mixup.py`` (a conv teacher trained with mixup or CutMix under label-smoothed cross-entropy and SGD +
Nesterov + weight decay stepped by OneCycleLR or by CosineAnnealingWarmRestarts with fractional epochs, then an MLP
student distilled from it by Hinton's loss in its ``reduction='batchmean'``, ``size_average=False`` and
``log_target=True`` spellings, with and without mixup) run on torch and, imports swapped, on ours from torch's
initial weights and the same numpy draws: the losses, gradient norms, learning rates and momenta per step, the mixing
coefficients, the mixed training accuracy, the test losses, correct counts and top-1 / top-3 accuracies per epoch,
the printed lines and the final parameters (BatchNorm's running statistics included) agree; a checkpoint resume
equals the uninterrupted run bit for bit in each library; and the models learned.

Tolerances: float32; the runs differ by summation order in the convolutions and matmuls. Measured over the three
teacher runs (18 steps each) and the three distillations (12 teacher + 18 student steps): losses within 1.3e-6
absolute (7e-6 relative), gradient norms within 3.9e-7, test losses within 1.2e-7, parameters within 1.2e-7 (a
weight near zero: 3e-4 relative). We allow rtol 1e-5 and atol 5e-6 for the series, atol 1e-6 for the parameters.
Learning rates, momenta, mixing coefficients (numpy's), correct counts and top-k accuracies (sums of whole examples)
must be equal, and the printed lines (four decimals) too. Exact ties in the logits would make top-k rounding-decided
(torch's order among equal values is its kernel's); these runs meet none."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 5e-6}
EXACT = ("lr", "momentum", "lam", "correct", "top1", "top3", "lines")


def agree(theirs: dict, ours: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key == "params":
            assert_params_close(ours[key], theirs[key], rtol=0, atol=1e-6)
        elif key in EXACT:
            assert ours[key] == theirs[key], key
        else:
            np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)


@pytest.mark.parametrize("config", [{"aug": "mixup"}, {"aug": "cutmix"}, {"aug": "cutmix", "schedule": "cosine"}])
def test_teacher_with_mixup_or_cutmix_matches_torch(one_torch_thread: None, config: dict) -> None:
    theirs, ours = from_torch_weights(HERE / "distill_mixup.py", lambda m: m.Teacher(),
                                      lambda m, model, lib: m.train_teacher(model, **config))
    agree(theirs, ours)
    assert ours["correct"][-1] >= 40 and ours["loss"][-1] < ours["loss"][0]


@pytest.mark.parametrize("config", [{}, {"kind": "size_average", "mix": True},
                                    {"kind": "log_target", "schedule": "cosine"}])
def test_distilled_student_matches_torch(one_torch_thread: None, config: dict) -> None:
    """The teacher trained for two epochs, then the student distilled from it (the teacher in eval mode)."""
    def run(m: object, models: object, lib: str) -> dict:
        teacher = m.train_teacher(models["teacher"], epochs=2)
        return {"teacher": teacher, "student": m.train_student(models["student"], models["teacher"], **config)}

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "size_average and reduce args")  # the old spelling, as torch warns
        theirs, ours = from_torch_weights(
            HERE / "distill_mixup.py", lambda m: m.nn.ModuleDict({"teacher": m.Teacher(), "student": m.Student()}),
            run)
    agree(theirs["teacher"], ours["teacher"])
    agree(theirs["student"], ours["student"])
    student = ours["student"]
    assert student["correct"][-1] > student["correct"][0] and student["loss"][-1] < student["loss"][0]


@pytest.mark.parametrize("lib", ["torch", "ours"])
@pytest.mark.parametrize("config", [{"aug": "mixup"}, {"aug": "cutmix", "schedule": "cosine"}])
def test_checkpoint_resume_is_exact(one_torch_thread: None, lib: str, config: dict) -> None:
    """Saved after two epochs (model, optimizer, scheduler, numpy's generator), loaded into fresh objects and
    trained on: every number equals the uninterrupted run's."""
    with program(HERE / "distill_mixup.py", lib) as m:
        runs = []
        for resume_at in (None, 2):
            m.torch.manual_seed(0)
            runs.append(m.train_teacher(m.Teacher(), resume_at=resume_at, **config))
    assert_same_run(*runs)
