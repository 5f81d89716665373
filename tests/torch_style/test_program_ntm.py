"""``ntm.py`` (loudinthecloud/pytorch-ntm: NTMMemory's content / interpolated / shifted / sharpened addressing and
erase-add writes, the read and write heads, the LSTM controller with learned initial states, EncapsulatedNTM, and
train.py's copy-task loop with BCELoss, RMSprop, clamped gradients, the cost in bits by ``apply_`` and a
checkpoint) run on torch and, imports swapped, on ours: from torch's initial weights (the read bias buffer, the
memory bias held by three modules) and the same numpy / ``random`` sequences, the per-batch losses, costs,
outputs, largest gradient entries, the report lines, the no_grad evaluation (outputs and read weights) and the
final parameters agree; a run stopped, saved and resumed equals the uninterrupted one bit for bit in each library.

Tolerances: float32 throughout. Measured over 12 batches: outputs within 6e-8 (relative 1.8e-7), the evaluation's
read weights within 4e-8, losses within 6e-8, gradients' largest entries within 1.5e-8 (entries up to 0.14),
final parameters within 9e-7 (RMSprop with momentum moves each weight by about lr = 1e-4 whatever the gradient's
rounding). We allow rtol 1e-4 and atol 2e-6. The costs (whole bits) and the report lines must be equal: an
output would have to lie within rounding of 0.5 to flip one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-4, "atol": 2e-6}


def run(m, net, lib: str) -> dict:
    out = m.train(net, 12)
    x, y = next(iter(m.dataloader(1, 2, 4, 5, 5)))[1:]
    out["eval"] = m.evaluate(net, m.nn.BCELoss(), x, y)
    return out


def test_copy_task_matches_torch(one_torch_thread: None, capsys: pytest.CaptureFixture[str]) -> None:
    theirs, ours = from_torch_weights(HERE / "ntm.py", lambda m: m.make_net(), run)
    printed = capsys.readouterr().out.splitlines()
    assert printed[:len(printed) // 2] == printed[len(printed) // 2:]
    assert ours["costs"] == theirs["costs"] and ours["lines"] == theirs["lines"]
    for key in ("losses", "grads", "outputs"):
        np.testing.assert_allclose(np.concatenate([np.ravel(v) for v in ours[key]]),
                                   np.concatenate([np.ravel(v) for v in theirs[key]]), err_msg=key, **TOL)
    assert_params_close(ours["params"], theirs["params"], **TOL)
    assert ours["eval"]["cost"] == theirs["eval"]["cost"]
    for key in ("loss", "y_out", "weights"):
        np.testing.assert_allclose(np.ravel(ours["eval"][key]), np.ravel(theirs["eval"][key]), err_msg=key, **TOL)
    assert max(max(g) for g in ours["grads"]) <= 10.0


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_checkpoint_resume_is_exact(one_torch_thread: None, tmp_path: Path, lib: str) -> None:
    """Stopped after 4 batches (the net, RMSprop's state, the history saved) and resumed in a fresh net."""
    path = tmp_path / "ntm.pt"
    with program(HERE / "ntm.py", lib) as m:
        m.torch.manual_seed(0)
        whole = m.train(m.make_net(), 8)
        m.torch.manual_seed(0)
        m.train(m.make_net(), 8, checkpoint=4, resume_from=path)
        m.torch.manual_seed(1)  # other initial weights: the checkpoint must replace them all
        resumed = m.train(m.make_net(), 8, resume_from=path)
    assert resumed["losses"] == whole["losses"] and resumed["costs"] == whole["costs"]
    for key in ("grads", "outputs", "lines"):
        whole[key] = whole[key][len(whole[key]) - len(resumed[key]):]
    assert_same_run({k: v for k, v in whole.items() if k != "outputs"},
                    {k: v for k, v in resumed.items() if k != "outputs"})
    assert all(np.array_equal(a, b) for a, b in zip(whole["outputs"], resumed["outputs"], strict=True))
