"""``time_sequence.py`` (pytorch/examples' time_sequence_prediction: two float64 ``LSTMCell``s stepped over
``chunk``ed sine waves, trained by LBFGS) run on torch and, imports swapped, on ours, from torch's initial weights and
the same numpy waves (``np.random.seed(2)``): every loss each ``closure()`` call printed, the loss ``step`` returned,
LBFGS's state after each step (``func_evals``, ``n_iter`` and the number of curvature pairs kept, exactly; the step
length ``t``, ``H_diag``, ``prev_loss`` and the direction ``d``), the test losses, the ``future`` predictions, the
final parameters and the printed lines (the 2017 ``Variable`` states predict the same, exactly); with the fixed
step (lr 0.8) and with ``line_search_fn="strong_wolfe"`` (which spends extra closure calls: 5 a step here, against
max_iter 4). A run stopped after its first step, ``torch.save``d (model and LBFGS state dicts) and resumed in fresh
objects equals the uninterrupted one exactly, in each library.

Tolerances: float64; the runs differ by rounding in the LSTM's matmuls, which 59 time steps and LBFGS's curvature
pairs carry on (the fixed-step run's loss jumps from 0.39 to 4.2 once, then falls). Measured over 2 steps each:
losses within 2.8e-15 relative, test losses 1.5e-15, t 5.4e-15, H_diag 2.2e-15 and prev_loss 1.1e-15 relative,
the direction 1.2e-15, parameters 8.9e-16 and predictions 3.2e-14 absolute (the 20 ``future`` steps amplify). We
allow rtol 1e-13 and atol 1e-13. Runtime: about 6 s of test calls while other runs share this 2-core machine
(2.5 s alone)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "time_sequence.py"
TOL = {"rtol": 1e-13, "atol": 1e-13}
COUNTS = ("func_evals", "n_iter", "pairs")


def run_both(tmp_path: Path, **options: object) -> tuple[dict, dict]:
    """``train`` on 20 waves of length 100 (17 to train on, 3 to test) from torch's initial weights, in each
    library, with what it printed as a list of lines under ``"stdout"``."""
    def run(m, seq, lib):
        m.generate_sine_wave(tmp_path / f"{lib}.pt", T=20, L=60, N=20)
        with contextlib.redirect_stdout(io.StringIO()) as out:
            log = m.train(seq, tmp_path / f"{lib}.pt", future=20, max_iter=4, **options)
        log["stdout"] = out.getvalue().splitlines()
        legacy = m.Sequence(legacy=True).double()  # the 2017 Variable states give the same prediction
        legacy.load_state_dict(seq.state_dict())
        test_input = m.torch.from_numpy(m.torch.load(tmp_path / f"{lib}.pt", weights_only=False)[:3, :-1])
        assert np.array_equal(legacy(test_input, future=20).data.numpy(), log["pred"][-1])
        return log
    return from_torch_weights(PATH, lambda m: m.Sequence(), run)


def agree(theirs: dict, ours: dict) -> None:
    assert [len(losses) for losses in ours["loss"]] == [len(losses) for losses in theirs["loss"]]
    for got, want in zip(ours["loss"], theirs["loss"]):
        np.testing.assert_allclose(got, want, **TOL)
    assert ours["returned"] == [losses[0] for losses in ours["loss"]]  # step returns the first closure's loss
    for got, want in zip(ours["lbfgs"], theirs["lbfgs"], strict=True):
        assert {k: got[k] for k in COUNTS} == {k: want[k] for k in COUNTS}
        np.testing.assert_allclose([got[k] for k in ("t", "H_diag", "prev_loss")],
                                   [want[k] for k in ("t", "H_diag", "prev_loss")], **TOL)
        np.testing.assert_allclose(got["d"], want["d"], **TOL)
    np.testing.assert_allclose(ours["test"], theirs["test"], **TOL)
    for got, want in zip(ours["pred"], theirs["pred"], strict=True):
        assert got.shape == want.shape == (3, 59 + 20) and got.dtype == want.dtype == np.float64
        np.testing.assert_allclose(got, want, **TOL)
    assert_params_close(ours["params"], theirs["params"], **TOL)
    assert len(ours["stdout"]) == len(theirs["stdout"])
    for got, want in zip(ours["stdout"], theirs["stdout"]):
        (got_text, got_number), (want_text, want_number) = got.rsplit(" ", 1), want.rsplit(" ", 1)
        assert got_text == want_text
        np.testing.assert_allclose(float(got_number), float(want_number), **TOL)


def test_time_sequence_prediction_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = run_both(tmp_path, steps=2)
    agree(theirs, ours)
    assert [s["func_evals"] for s in ours["lbfgs"]] == [4, 8] and ours["stdout"][:2] == ["STEP:  0", "loss: " +
                                                                                            repr(ours["loss"][0][0])]
    assert ours["test"][-1] < 0.1 * ours["test"][0] and ours["loss"][-1][-1] < 0.5 * ours["loss"][0][0]


def test_time_sequence_strong_wolfe_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = run_both(tmp_path, steps=2, line_search_fn="strong_wolfe")
    agree(theirs, ours)
    assert [(s["func_evals"], s["n_iter"]) for s in ours["lbfgs"]] == [(5, 4), (10, 6)]  # max_eval 5 a step
    assert ours["lbfgs"][-1]["t"] != 0.8  # the search moved off the first trial step


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_time_sequence_resume_is_exact(one_torch_thread: None, tmp_path: Path, lib: str,
                                       line_search_fn: str | None) -> None:
    """Stopped after step 1 of 3 with a checkpoint, resumed from it in a fresh model and LBFGS: each later closure
    loss, LBFGS state and the final parameters equal the uninterrupted run's."""
    data, checkpoint = tmp_path / "waves.pt", tmp_path / "checkpoint.pt"
    options = {"steps": 3, "future": 5, "max_iter": 2, "line_search_fn": line_search_fn}
    with program(PATH, lib) as m, contextlib.redirect_stdout(io.StringIO()):
        m.generate_sine_wave(data, T=20, L=30, N=6)
        runs = []
        for stop_at in (None, 1):
            m.torch.manual_seed(0)
            seq = m.Sequence()
            if stop_at is not None:
                m.train(seq, data, stop_at=stop_at, resume_from=checkpoint, **options)
                seq = m.Sequence()  # fresh weights: the checkpoint's replace them
            runs.append(m.train(seq, data, resume_from=None if stop_at is None else checkpoint, **options))
    whole, resumed = runs
    assert resumed["loss"] == whole["loss"][1:] and resumed["test"] == whole["test"][1:]
    for got, want in zip(resumed["lbfgs"], whole["lbfgs"][1:], strict=True):
        assert got.keys() == want.keys()
        assert all(np.array_equal(got[k], want[k]) for k in got)
    for name in whole["params"]:
        assert np.array_equal(resumed["params"][name], whole["params"][name]), name
