"""``tcn.py`` (locuslab/TCN: Chomp1d, TemporalBlock with weight-normed dilated causal convs, TemporalConvNet, the
adding problem and the sequential-MNIST classifier) run on torch and, imports swapped, on ours, from torch's initial
weights, with the old hook-based ``weight_norm`` and with the parametrization: per step the losses, every
parameter's gradient norm before clipping (``weight_g`` / ``weight_v`` or ``original0`` / ``original1`` included),
the learning rates (divided by 10 through ``param_group['lr']``), the test losses and correct counts, the printed
lines and the final parameters agree; the state_dict has torch's keys, the shared ``conv1`` / ``net.0`` under both
names (a torch checkpoint loads strictly); the old keys load into the parametrized model; and a run stopped after
one epoch, saved and loaded into fresh objects, equals the uninterrupted one exactly in each library.

Tolerances: float32 throughout, dropout 0 (the two libraries' generators differ). Measured: losses within 2.4e-7
absolute, gradient norms within 4.5e-6 relative, final parameters within 3e-8 absolute, test losses within 2.4e-7;
learning rates and correct counts equal. We allow rtol 1e-4 and atol 1e-6; the printed lines are equal but for the
printed numbers, which may differ by one in their last digit (a loss of 2.2984255 prints as ...25 or ...26).
"""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-4, "atol": 1e-6}
OLD = pytest.mark.filterwarnings("ignore:.*weight_norm`? is deprecated:FutureWarning",
                                 "ignore:size_average and reduce args will be deprecated:UserWarning")
TASKS = {"adding": ((2, 1, [6, 6, 6], 3, 0.0), {}, "train_adding"),
         "mnist": ((1, 10, [6, 6, 6, 6], 3, 0.0), {"classify": True}, "train_mnist")}


def make(m, task: str, parametrized: bool):
    args, kwargs, _ = TASKS[task]
    return m.TCN(*args, parametrized=parametrized, **kwargs)


def train(m, model, task: str, parametrized: bool, **kwargs: object) -> dict:
    """The task's loop on ``model``; the history with the printed lines under ``"printed"``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        history = getattr(m, TASKS[task][2])(model, make_model=lambda: make(m, task, parametrized), **kwargs)
    return {**history, "printed": out.getvalue().splitlines()}


def printed_agree(ours: list[str], theirs: list[str]) -> None:
    """The same lines with the numbers cut out, and the numbers within a unit in the last printed digit."""
    number = re.compile(r"-?\d+\.?\d*")
    assert [number.sub("#", line) for line in ours] == [number.sub("#", line) for line in theirs]
    for a, b in zip(ours, theirs, strict=True):
        for x, y in zip(number.findall(a), number.findall(b), strict=True):
            assert abs(float(x) - float(y)) <= 1.01 * 10.0 ** -len(y.partition(".")[2]), (a, b)


@OLD
@pytest.mark.parametrize("parametrized", [False, True])
@pytest.mark.parametrize("task", ["adding", "mnist"])
def test_tcn_matches_torch(one_torch_thread: None, task: str, parametrized: bool) -> None:
    theirs, ours = from_torch_weights(HERE / "tcn.py", lambda m: make(m, task, parametrized),
                                      lambda m, model, lib: train(m, model, task, parametrized))
    assert ours.keys() == theirs.keys()
    assert ours["lr"] == theirs["lr"] and ours.get("correct") == theirs.get("correct")
    printed_agree(ours["printed"], theirs["printed"])
    for key in ("loss", "test"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert [list(g) for g in ours["grad"]] == [list(g) for g in theirs["grad"]]
    np.testing.assert_allclose([list(g.values()) for g in ours["grad"]], [list(g.values()) for g in theirs["grad"]],
                               **TOL)
    assert_params_close(ours["params"], theirs["params"], **TOL)
    names = list(theirs["params"])
    weight = "weight_v" if not parametrized else "parametrizations.weight.original1"
    assert f"tcn.network.0.net.0.{weight}" in names and f"tcn.network.0.conv1.{weight}" in names
    if task == "mnist":
        assert theirs["lr"] == [2e-3] * 6 + [2e-3 / 10] * 6  # 3 steps an epoch, decayed after epoch 2
    else:
        assert ours["test"][-1] < ours["test"][0]  # learned something


@OLD
@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_old_weight_norm_keys_load_into_parametrized_model(one_torch_thread: None, lib: str) -> None:
    """A checkpoint of the hook-based model (``weight_g`` / ``weight_v``) loads into the parametrized one, which
    then computes the same output."""
    with program(HERE / "tcn.py", lib) as m:
        m.torch.manual_seed(0)
        old, new = make(m, "adding", False), make(m, "adding", True)
        new.load_state_dict(old.state_dict())
        x, _ = m.data_generator(4, 24)
        np.testing.assert_array_equal(new(x).detach().numpy(), old(x).detach().numpy())


@OLD
@pytest.mark.parametrize("lib", ["torch", "ours"])
@pytest.mark.parametrize(("task", "parametrized"), [("adding", False), ("mnist", True)])
def test_checkpoint_resume_is_exact(one_torch_thread: None, lib: str, task: str, parametrized: bool) -> None:
    with program(HERE / "tcn.py", lib) as m:
        runs = []
        for resume_at in (None, 1):
            m.torch.manual_seed(0)
            runs.append(train(m, make(m, task, parametrized), task, parametrized, resume_at=resume_at))
    assert_same_run(*runs)
