"""Fixes found by fault-injecting and misusing the ``tinygrad-adam`` command line (runs, checkpoints, resume).

Each test is one problem the probe found: an edited or damaged checkpoint that resumed into a traceback, a
silently different run or a truncated log, and a bad ``bias-correction`` setting that left directories behind.
The tests that resume a real run need MNIST: they skip without it, and fail instead with
``TINYGRAD_ADAM_REQUIRE_DATA=1`` (CI's first pass).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import realdata

from tinygrad_adam import backend, checkpoint, rundir
from tinygrad_adam.cli import main as cli_main
from tinygrad_adam.train import Config, load_checkpoint

TINY = ("--model", "logreg", "--limit", "256", "--batch-size", "64", "--epochs", "1", "--log-every", "2",
        "--no-progress")


def cli(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m tinygrad_adam ARGS`` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "tinygrad_adam", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def main(capsys: pytest.CaptureFixture[str], *args: object) -> subprocess.CompletedProcess[str]:
    """The command line run in this process (faster than a new one): its exit status and output."""
    capsys.readouterr()
    try:
        code = cli_main([str(a) for a in args])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line of a user-caused error (exit 2, no traceback; argparse's usage line allowed above it)."""
    lines = [ln for ln in result.stderr.splitlines() if not ln.startswith(("usage:", "  ", "tinygrad_adam: "))]
    assert result.returncode == 2 and "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    return lines[0]


def files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch logreg run on 256 MNIST examples (copied by each test that edits it)."""
    realdata.require(("mnist",), os.environ.get(realdata.REQUIRE_ENV) == "1")
    out = tmp_path_factory.mktemp("runs") / "run"
    result = cli("train", *TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def edited(run: Path, tmp_path: Path, edit: Any) -> Path:
    """A copy of ``run`` whose checkpoint tree went through ``edit`` (as a user's or a tool's edit would)."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    tree = checkpoint.load(copy / "checkpoint.npz")
    edit(tree)
    checkpoint.save(copy / "checkpoint.npz", tree)
    return copy


@pytest.mark.parametrize("field, value", [("log_every", 0), ("limit", "a"), ("limit", -3), ("inspect_every", -1),
                                          ("flush_denormal", "yes"), ("seed", 1.5), ("channels", 5)])
def test_config_refuses_values_no_flag_could_give(field: str, value: object) -> None:
    """A config read back from a file is checked as the flags are: before, log_every=0 was a ZeroDivisionError
    mid-epoch, limit="a" a TypeError and limit=-3 trained on all but 3 examples."""
    with pytest.raises(ValueError, match=field):
        Config(model="logreg", **{field: value}).resolved()
    assert Config(model="logreg", limit=None, inspect_every=0, betas=[0.9, 0.99]).resolved().limit is None


def test_config_refuses_betas_outside_the_unit_interval() -> None:
    with pytest.raises(ValueError, match="betas"):
        Config(model="vae", betas=(0.9, 1.5)).resolved()


@pytest.mark.parametrize("field, value", [("log_every", 0), ("limit", "a"), ("limit", -3), ("inspect_every", -1)])
def test_resume_of_a_checkpoint_with_an_impossible_config_is_one_line_and_writes_nothing(
        finished_run: Path, tmp_path: Path, field: str, value: object, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: a traceback after config.json was rewritten, or a resumed run on other data than the run's."""
    run = edited(finished_run, tmp_path, lambda tree: tree["config"].__setitem__(field, value))
    before = files(run)
    line = one_error_line(main(capsys, "train", "--resume", "--out", run, "--epochs", "2", "--no-progress"))
    assert "stores an invalid config" in line and field in line
    assert files(run) == before


def test_resume_refuses_a_checkpoint_missing_a_log_size(finished_run: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Before: a log whose size the checkpoint lacks read as size 0, and the resume emptied metrics.jsonl."""
    run = edited(finished_run, tmp_path, lambda tree: tree["logs"].pop("metrics.jsonl"))
    before = files(run)
    assert "its log sizes are" in one_error_line(main(capsys, "train", "--resume", "--out", run, "--epochs", "2",
                                                      "--no-progress"))
    assert files(run) == before and before["metrics.jsonl"]


@pytest.mark.parametrize("rng", [{"x": 1}, {"seed": 0, "gpu_key": 0, "cpu": {"bit_generator": "PCG64"}}, None])
def test_resume_refuses_a_damaged_generator_state(finished_run: Path, tmp_path: Path, rng: object) -> None:
    """Before: a generator state without its CPU stream was accepted and the resumed run drew other dropout masks
    and batch orders than an uninterrupted one, silently."""
    run = edited(finished_run, tmp_path, lambda tree: tree.__setitem__("rng", rng))
    with pytest.raises(checkpoint.CheckpointError, match="malformed"):
        load_checkpoint(run / "checkpoint.npz")
    assert not backend.valid_rng_state(rng)
    assert backend.valid_rng_state(checkpoint.load(finished_run / "checkpoint.npz")["rng"])


def test_bias_correction_refuses_a_bad_beta2_before_making_a_directory(tmp_path: Path) -> None:
    """Before: the refusal came after ``--out`` and the first run's directory were made."""
    out = tmp_path / "sweep"
    line = one_error_line(cli("bias-correction", "--beta2s", "0.99,1.5", "--out", out, "--limit", "64",
                              env={"TINYGRAD_ADAM_DATA": str(tmp_path / "no-data")}))
    assert "betas" in line and "1.5" in line
    assert not out.exists()


METRICS = '{"epoch": 1, "iteration": 4, "train_loss": 1.0, "test_loss": 1.2, "test_accuracy": 0.5, "seconds": 0.1}\n'


@pytest.mark.parametrize("internals", ['{"iteration": 1}\n{"iteration": 2, "params": {"w": {"snr_mean": 1}}}\n',
                                       '{"iteration": 1, "params": [1]}\n',
                                       '{"iteration": 1, "params": {"w": {"snr_mean": "x"}}}\n'])
def test_plot_of_a_damaged_internals_log_is_one_line_and_draws_nothing(tmp_path: Path, internals: str,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Before: a KeyError / AttributeError traceback, after curves.png had been drawn over."""
    (tmp_path / "metrics.jsonl").write_text(METRICS)
    (tmp_path / "internals.jsonl").write_text(internals)
    assert "internals.jsonl is damaged" in one_error_line(main(capsys, "plot", tmp_path))
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("sweep", ["{{\n", "[{}]\n", '{"a": 1}\n', '[{"beta1": 0.9, "beta2": 0.99, "log10_lr": -3, '
                                   '"bias_correction": "yes", "train_loss": 1}]\n'])
def test_plot_of_a_damaged_sweep_json_is_one_line(tmp_path: Path, sweep: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Before: a KeyError / TypeError traceback, or a JSON parser's message under a usage line."""
    (tmp_path / "sweep.json").write_text(sweep)
    line = one_error_line(main(capsys, "plot", tmp_path))
    assert "sweep.json is damaged" in line and "--resume" in line


@pytest.mark.parametrize("command, args, hint", [
    ("compare", ("--experiment", "mnist-logreg"), "--resume"),
    ("bias-correction", (), "--resume"),
    ("tune", ("--experiment", "mnist-logreg"), "run the same command again")])
def test_ctrl_c_in_a_many_run_command_is_one_line_saying_how_to_continue(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str,
        args: tuple[str, ...], hint: str) -> None:
    """Before: Ctrl-C in compare, tune or bias-correction printed a KeyboardInterrupt traceback."""
    from tinygrad_adam import experiments, tune

    def interrupted(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt

    for module, name in ((experiments, "compare"), (experiments, "bias_correction_sweep"), (tune, "tune")):
        monkeypatch.setattr(module, name, interrupted)
    result = main(capsys, command, *args, "--out", tmp_path / "out")
    assert result.returncode == 130 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0] and hint in lines[0], lines


@pytest.mark.skipif(rundir.fcntl is None, reason="no advisory locks on this system")
def test_overwrite_of_a_tree_refuses_a_run_another_process_is_training_before_deleting_anything(
        tmp_path: Path) -> None:
    """Before: ``compare --overwrite`` (and bias-correction's) deleted the files of a run another process was
    training (a ``compare --resume`` sharing the runs), then stopped with "in use": that run lost its config.json
    and went on writing a mixed directory."""
    runs = [tmp_path / "adam" / "seed0", tmp_path / "sgd" / "seed0"]
    for run in runs:
        run.mkdir(parents=True)
        (run / "config.json").write_text("{}\n")
        (run / "metrics.jsonl").write_text(METRICS)
    with open(runs[1] / rundir.LOCK, "a") as held:  # as the other process holds it (flock is per open file)
        rundir.fcntl.flock(held, rundir.fcntl.LOCK_EX)
        with pytest.raises(rundir.InUse, match="in use"):
            rundir.claim_tree(tmp_path, overwrite=True)
    assert all((run / "config.json").exists() and (run / "metrics.jsonl").exists() for run in runs)
    rundir.claim_tree(tmp_path, overwrite=True)  # once it lets go
    assert not any((run / "config.json").exists() for run in runs)


def test_compare_with_a_bad_tuned_file_makes_no_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: ``--out`` was made, then the damaged tuned file refused."""
    (tmp_path / "t.json").write_text("{")
    line = one_error_line(main(capsys, "compare", "--experiment", "mnist-logreg", "--tuned-file", tmp_path / "t.json",
                               "--out", tmp_path / "out"))
    assert "t.json" in line and not (tmp_path / "out").exists()


def test_tune_with_a_momentum_outside_the_unit_interval_makes_no_directory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the first trial's directories were made, then the optimizer refused momentum 1.5."""
    line = one_error_line(main(capsys, "tune", "--experiment", "mnist-logreg", "--optimizers", "nesterov",
                               "--momenta", "0.9,1.5", "--tuned-file", tmp_path / "t.json", "--out", tmp_path / "out"))
    assert "--momenta" in line and "1.5" in line and not (tmp_path / "out").exists()
