"""Found by attacking the command line's runs in the fifty-second stop (swapped and damaged run files, a user's
files in an output directory). The tests that train need MNIST: they skip without it, and fail instead with
``TINYGRAD_ADAM_REQUIRE_DATA=1`` (CI's first pass)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import realdata
from test_cli_probe_fixes import TINY, files, main, one_error_line

from tinygrad_adam import rundir
from tinygrad_adam.cli import main as cli_main
from tinygrad_adam.experiments import claim_out
from tinygrad_adam.inference import evaluate_run


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two finished one-epoch logreg runs on 256 MNIST examples that differ in seed and lr (copied by each test)."""
    realdata.require(("mnist",), os.environ.get(realdata.REQUIRE_ENV) == "1")
    root = tmp_path_factory.mktemp("runs")
    for name, extra in (("a", ()), ("b", ("--seed", "1", "--lr", "0.05"))):
        assert cli_main(["train", *TINY, *extra, "--out", str(root / name)]) == 0
    return root / "a", root / "b"


def test_another_runs_checkpoint_is_refused(two_runs: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Run a's checkpoint copied into run b: the resume continued a's training in b's directory (b's log cut
    mid-line at a's size, config.json rewritten with a's settings) and evaluate read a's weights as b's. Both
    refuse now, naming the settings that differ, and leave every file as it was."""
    a, b = two_runs
    mixed = tmp_path / "mixed"
    shutil.copytree(b, mixed)
    shutil.copy(a / "checkpoint.npz", mixed / "checkpoint.npz")
    before = files(mixed)
    line = one_error_line(main(capsys, "train", "--resume", "--out", mixed, "--epochs", "2", "--no-progress"))
    assert "is not this run's" in line and "seed 0 (config.json: 1)" in line and "--overwrite" in line
    assert files(mixed) == before
    line = one_error_line(main(capsys, "evaluate", mixed, "--limit", "64"))
    assert "is not this run's" in line
    with pytest.raises(Exception, match="is not this run's"):
        evaluate_run(mixed, limit=64)


@pytest.mark.parametrize("damage", ["short", "mid_record", "link", "directory"])
def test_a_log_the_checkpoint_was_not_written_beside_is_refused(two_runs: tuple[Path, Path], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str],
                                                                damage: str) -> None:
    """A resume cut the logs back to the checkpoint's sizes whatever they held: a log shorter than that was only
    warned about (the next epoch appended to a partial line), one longer but of another run was cut mid-record,
    a symlinked log was cut through the link (a user's file elsewhere), a directory was a traceback. Each refuses
    now in one line, before any log is cut."""
    run = tmp_path / "run"
    shutil.copytree(two_runs[0], run)
    log = run / "metrics.jsonl"
    outside = tmp_path / "mine.txt"
    if damage == "short":
        os.truncate(log, log.stat().st_size - 7)
    elif damage == "mid_record":
        log.write_text('{"x": 1}\n' + log.read_text())  # longer, and the recorded size falls inside a record
    elif damage == "link":
        outside.write_text(log.read_text() + "a user's line\n")
        log.unlink()
        log.symlink_to(outside)
    else:
        log.unlink()
        log.mkdir()
    steps = (run / "steps.jsonl").read_bytes()
    (run / "steps.jsonl").write_bytes(steps + b'{"later": 1}\n')  # a line a resume would cut, were it allowed
    before = files(run)
    kept = outside.read_text() if damage == "link" else None
    line = one_error_line(main(capsys, "train", "--resume", "--out", run, "--epochs", "2", "--no-progress"))
    assert "metrics.jsonl" in line and "--overwrite" in line
    assert files(run) == before
    if kept is not None:
        assert outside.read_text() == kept


@pytest.mark.parametrize("outputs", [("results.md",), ("results.md", "mnist-logreg.png")])
def test_a_users_file_named_as_an_output_is_refused(tmp_path: Path, outputs: tuple[str, ...]) -> None:
    """compare / bias-correction wrote their table and figure over a user's file of that name in ``--out`` (only
    run files were checked); refused now unless --overwrite (or --resume, which continues the command's own)."""
    for name in outputs:
        (tmp_path / name).write_text("my notes\n")
    with pytest.raises(rundir.RunDirError, match=r"results\.md.*--overwrite"):
        claim_out(tmp_path, resume=False, overwrite=False, outputs=outputs)
    assert claim_out(tmp_path, resume=True, overwrite=False, outputs=outputs) == tmp_path
    assert claim_out(tmp_path, resume=False, overwrite=True, outputs=outputs) == tmp_path
    assert all((tmp_path / name).read_text() == "my notes\n" for name in outputs)  # (claiming deletes none of them)


def test_compare_refuses_a_users_results_md(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command itself, before it trains anything."""
    (tmp_path / "results.md").write_text("my notes\n")
    line = one_error_line(main(capsys, "compare", "--experiment", "mnist-logreg", "--optimizers", "adam",
                               "--epochs", "1", "--limit", "64", "--no-progress", "--out", tmp_path))
    assert "results.md" in line and "--overwrite" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.md"]
