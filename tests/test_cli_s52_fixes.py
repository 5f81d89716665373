"""Found by attacking the command line's runs in the fifty-second stop (swapped and damaged run files, a user's
files in an output directory). The tests that train need MNIST: they skip without it, and fail instead with
``TINYGRAD_ADAM_REQUIRE_DATA=1`` (CI's first pass)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
from pathlib import Path

import numpy
import pytest
import realdata
from test_cli_probe_fixes import TINY, files, main, one_error_line

from tinygrad_adam import checkpoint, cli, rundir
from tinygrad_adam.checkpoint import CheckpointError
from tinygrad_adam.cli import main as cli_main
from tinygrad_adam.experiments import bias_correction_sweep, claim_out
from tinygrad_adam.inference import evaluate_run
from tinygrad_adam.train import Config


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


def test_a_zip_member_flagged_encrypted_is_a_checkpoint_error(tmp_path: Path) -> None:
    """One bit of the zip's central directory (encrypted, or another compression method) made zipfile raise
    RuntimeError / NotImplementedError, which came out of load as a traceback."""
    path = tmp_path / "c.npz"
    checkpoint.save(path, {"a": numpy.arange(3)})
    good = path.read_bytes()
    where = good.find(b"PK\x01\x02")
    for offset, bit in ((8, 1), (10, 0x40)):  # the general-purpose flag's "encrypted" bit; the compression method
        data = bytearray(good)
        data[where + offset] |= bit
        path.write_bytes(bytes(data))
        with pytest.raises(CheckpointError, match="not a readable checkpoint"):
            checkpoint.load(path)


@pytest.mark.parametrize("name", ["config.json", ".tinygrad-adam.lock"])
def test_a_directory_where_a_run_file_goes_is_one_line(two_runs: tuple[Path, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str], name: str) -> None:
    """IsADirectoryError (and any file system error: a full or read-only disk, a name too long) was a traceback;
    it is one line naming the file and what to do, exit 2."""
    run = tmp_path / "run"
    shutil.copytree(two_runs[0], run)
    (run / name).unlink()
    (run / name).mkdir()
    line = one_error_line(main(capsys, "train", "--resume", "--out", run, "--epochs", "2", "--no-progress"))
    assert "Is a directory" in line and name in line and "move that directory away" in line


@pytest.mark.parametrize("code, fix", [(errno.ENOSPC, "free some space"), (errno.EROFS, "writable disk"),
                                       (errno.ENAMETOOLONG, "shorter path"), (errno.EIO, "check that path")])
def test_file_system_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch, code: int, fix: str) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), str(tmp_path / "x"))

    monkeypatch.setattr(rundir, "usable", fail)
    line = one_error_line(main(capsys, "train", "--model", "logreg", "--out", tmp_path / "x", "--no-progress"))
    assert os.strerror(code) in line and fix in line


def test_ctrl_c_while_the_parser_is_built_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C in the first second (building the parser reads the tuned files) was a KeyboardInterrupt traceback."""
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli_main(["info"]) == 130
    assert capsys.readouterr().err.strip() == "tinygrad-adam: interrupted before the command started; nothing " \
                                              "was written"


def test_resumed_with_that_is_not_a_list_is_replaced(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    """A config.json whose resumed_with is not a list (hand-edited) was a TypeError on resume."""
    run = tmp_path / "run"
    shutil.copytree(two_runs[0], run)
    record = json.loads((run / "config.json").read_text())
    record["resumed_with"] = 5
    (run / "config.json").write_text(json.dumps(record))
    assert cli_main(["train", "--resume", "--out", str(run), "--epochs", "2", "--no-progress"]) == 0
    assert len(json.loads((run / "config.json").read_text())["resumed_with"]) == 1


def test_run_files_follow_the_umask(two_runs: tuple[Path, Path]) -> None:
    """config.json (like result.json and downloads, through atomic_path) was created 0o600 by mkstemp while the
    checkpoint and the logs follow the umask, as files a user makes do."""
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in two_runs[0].iterdir() if p.suffix in (".json", ".npz")}
    umask = os.umask(0)
    os.umask(umask)
    assert modes == dict.fromkeys(modes, 0o666 & ~umask) and "config.json" in modes


def test_bias_correction_refuses_a_column_twice(tmp_path: Path) -> None:
    """--beta2s 0.99,0.99 trained the first column and then stopped at its own run ("add --resume")."""
    with pytest.raises(ValueError, match=r"0\.99 given more than once"):
        bias_correction_sweep(Config(), tmp_path / "bc", beta2s=(0.99, 0.99))
    assert not (tmp_path / "bc").exists()


def test_load_of_a_damaged_file_gives_the_api_users_remedy(tmp_path: Path) -> None:
    """tg.load of a damaged file advised "--overwrite", the command line's flag, to a Python user."""
    import tinygrad_adam as tg

    path = tmp_path / "weights.pt"
    tg.save({"w": tg.ones(3)}, path)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CheckpointError) as caught:
        tg.load(path)
    assert "--overwrite" not in str(caught.value) and "save it again" in str(caught.value)
