"""Fixes from the data-errors probe (/work/scratch/data_errors_probe.py): every data error the user can fix is one
line (on stderr from the CLI, in the exception from Python) naming the problem and the fix, a failed download
leaves no directory it made, and no damaged or oversized file is read whole or trained on.

No test here needs the network: download sources are dead ``file://`` URLs. Only the last test needs the real
data; it skips without it (and fails with TINYGRAD_ADAM_REQUIRE_DATA=1, as in CI's first pass).
"""

from __future__ import annotations

import errno
import gzip
import os
import pathlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tinygrad_adam import cli as cli_module
from tinygrad_adam.data import (
    DataCorruptError,
    DataNotFoundError,
    DownloadError,
    fetch_dataset,
    load_cifar10,
    load_imdb,
    load_mnist,
    load_tinyshakespeare,
)
from tinygrad_adam.data import files as files_module
from tinygrad_adam.data import mnist as mnist_module
from tinygrad_adam.data import shakespeare as shakespeare_module
from tinygrad_adam.data.paths import DATA_ENV, data_dirs

MNIST_FILES = tuple(mnist_module.CHECKSUMS)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No data directory but the ones a test passes, a private cache, no mirror, and no public source."""
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.delenv("TINYGRAD_ADAM_MIRROR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TINYGRAD_ADAM_CACHE", str(tmp_path / "cache"))
    dead = (tmp_path / "nowhere").as_uri() + "/"
    monkeypatch.setattr(mnist_module, "MIRRORS", (dead, dead + "second/"))
    monkeypatch.setattr(shakespeare_module, "URL", dead + "input.txt")


def fake_mnist(root: Path, damaged: bytes = b"") -> Path:
    """``root/mnist`` with all four file names; the first one (verified first) holds ``damaged``."""
    (root / "mnist").mkdir(parents=True)
    for name in MNIST_FILES:
        (root / "mnist" / name).write_bytes(damaged if name == MNIST_FILES[0] else gzip.compress(b"x"))
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file and directory under ``root`` with its mode, and for files their mtime and bytes, to prove that
    nothing changed (a directory's mtime moves when a sub-directory is made and removed again)."""
    return {str(p): (p.stat().st_mode, p.stat().st_mtime_ns if p.is_file() else 0,
                     p.read_bytes() if p.is_file() else b"") for p in [root, *root.rglob("*")]}


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``tinygrad-adam ARGV`` in this process: the exit status and stderr."""
    try:
        code = cli_module.main(argv)
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().err


# ---------------------------------------------------------------- 1: the missing-data message is one line


def test_missing_data_is_one_line_naming_each_directory_and_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    partial = tmp_path / "env"
    (partial / "mnist").mkdir(parents=True)
    (partial / "mnist" / MNIST_FILES[3]).write_bytes(b"")
    monkeypatch.setenv(DATA_ENV, str(partial))
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(tmp_path / "root")
    message = str(info.value)
    assert "\n" not in message and message.startswith("mnist data not found: it needs 4 files ")
    assert f"{tmp_path / 'root' / 'mnist'} (root argument): does not exist" in message
    assert f"{partial / 'mnist'} (${DATA_ENV}): missing 3 of 4 files" in message
    assert f"{tmp_path / 'home' / '.cache' / 'tinygrad_adam' / 'mnist'} (default): does not exist" in message
    assert f"`tinygrad-adam download mnist --data-dir {tmp_path / 'root'}`" in message
    assert "load_mnist(download=True)" in message and f"point ${DATA_ENV} at" in message
    (tmp_path / "a_file").write_text("the user's")
    code, err = run_cli(["train", "--limit", "10", "--out", str(tmp_path / "run"), "--data-dir",
                         str(tmp_path / "a_file")], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("tinygrad-adam train: error: mnist data not found")
    assert f"(root argument): does not exist ({tmp_path / 'a_file'} is a file)" in err
    assert not (tmp_path / "run").exists() and (tmp_path / "a_file").read_text() == "the user's"


def test_an_unsearchable_data_directory_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    locked = tmp_path / "locked"
    (locked / "mnist").mkdir(parents=True)
    real_is_file, real_exists = pathlib.Path.is_file, pathlib.Path.exists

    def denied(check: Callable[[Path], bool]) -> Callable[[Path], bool]:  # as for a directory without +x
        def patched(self: Path) -> bool:
            if str(self).startswith(str(locked / "mnist") + os.sep):
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return check(self)
        return patched

    monkeypatch.setattr(pathlib.Path, "is_file", denied(real_is_file))
    monkeypatch.setattr(pathlib.Path, "exists", denied(real_exists))
    with pytest.raises(DataNotFoundError, match=r"\(root argument\): cannot be read \(Permission denied\)"):
        load_mnist(locked)
    with pytest.raises(PermissionError, match=r"mnist: cannot be read \(Permission denied\); give yourself read"):
        fetch_dataset("mnist", locked)


# ---------------------------------------------------------------- 2: a failed download is one line, leaves nothing


def test_failed_download_is_one_line_and_removes_only_the_directories_it_made(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.txt").write_text("the user's")
    before = snapshot(tmp_path / "keep")
    code, err = run_cli(["download", "mnist", "--data-dir", str(tmp_path / "keep" / "new" / "deeper")], capsys)
    assert code == 1 and err.count("\n") == 1, err  # no "downloading" line for a source that never answered
    assert err.startswith(f"tinygrad-adam download: could not download {MNIST_FILES[0]}; tried ")
    assert f"nowhere/{MNIST_FILES[0]}: URLError: " in err and f"nowhere/second/{MNIST_FILES[0]}: URLError: " in err
    assert "Retry later" in err and f"copy {', '.join(MNIST_FILES)} into {tmp_path / 'keep' / 'new'}" in err
    assert snapshot(tmp_path / "keep") == before  # "new/deeper/mnist" made for the download, and removed again
    (tmp_path / "had" / "mnist").mkdir(parents=True)  # a dataset directory that was there before stays
    with pytest.raises(DownloadError) as info:
        load_mnist(tmp_path / "had", download=True)
    assert "\n" not in str(info.value) and len(info.value.attempts) == 2
    assert (tmp_path / "had" / "mnist").is_dir() and list((tmp_path / "had" / "mnist").iterdir()) == []
    with pytest.raises(DownloadError):
        load_tinyshakespeare(tmp_path / "fresh", download=True)
    assert not (tmp_path / "fresh").exists()


def test_download_under_a_file_is_refused_before_any_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a_file").write_text("the user's")

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a source was tried")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    with pytest.raises(NotADirectoryError, match=r"a_file is a file, not a directory"):
        load_mnist(tmp_path / "a_file" / "below", download=True)
    assert (tmp_path / "a_file").read_text() == "the user's"


# ---------------------------------------------------------------- 3: a damaged file is the only line on stderr


def test_a_damaged_file_is_the_only_stderr_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = fake_mnist(tmp_path / "data", damaged=gzip.compress(b"not mnist"))
    before = snapshot(root)
    code, err = run_cli(["train", "--limit", "10", "--epochs", "1", "--out", str(tmp_path / "run"), "--data-dir",
                         str(root)], capsys)
    assert code == 2 and err.count("\n") == 1, err  # no "first load ..." line before it
    assert f"{MNIST_FILES[0]}: content is 9 bytes, expected 47,040,016" in err
    assert "`tinygrad-adam download mnist`, or download=True in Python" in err
    assert snapshot(root) == before and not (tmp_path / "run").exists()
    (tmp_path / "imdb" / "imdb").mkdir(parents=True)
    (tmp_path / "imdb" / "imdb" / "imdb_reviews.jsonl.gz").write_bytes(gzip.compress(b"{}\n"))
    with pytest.raises(DataCorruptError, match="content is 3 bytes"):
        load_imdb(tmp_path / "imdb")
    (tmp_path / "cifar" / "cifar10").mkdir(parents=True)
    (tmp_path / "cifar" / "cifar10" / "cifar-10-binary.tar.gz").write_bytes(b"garbage")
    with pytest.raises(DataCorruptError, match="7 bytes, expected 170,052,171"):
        load_cifar10(tmp_path / "cifar")
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------- 4: a wrong-size file is refused before it is read


@pytest.mark.parametrize("dataset", ["tinyshakespeare", "cifar10"])
def test_a_huge_wrong_size_file_is_refused_without_reading_it(dataset: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    name = "input.txt" if dataset == "tinyshakespeare" else "cifar-10-binary.tar.gz"
    (tmp_path / dataset).mkdir()
    with open(tmp_path / dataset / name, "wb") as f:
        f.truncate(3_000_000_000)  # sparse: no disk used, but read whole it would take 3 GB of memory

    def no_read(self: Path) -> bytes:
        raise AssertionError(f"{self} was read whole")

    monkeypatch.setattr(pathlib.Path, "read_bytes", no_read)
    loader = load_tinyshakespeare if dataset == "tinyshakespeare" else load_cifar10
    with pytest.raises(DataCorruptError, match=r"3,000,000,000 bytes, expected"):
        loader(tmp_path)


# ---------------------------------------------------------------- 5: an unreadable file is not "corrupt"


def test_an_unreadable_file_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    root = fake_mnist(tmp_path / "data")
    real_open = gzip.open

    def denied(path: object, *args: object, **kwargs: object) -> object:
        if Path(str(path)).name == MNIST_FILES[0]:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(files_module.gzip, "open", denied)
    with pytest.raises(PermissionError) as info:
        load_mnist(root)
    assert str(info.value) == (f"{root / 'mnist' / MNIST_FILES[0]}: cannot be read (Permission denied); give "
                               f"yourself read permission on it (and its directory), or copy the data to a directory "
                               f"you can read")
    code, err = run_cli(["train", "--limit", "10", "--out", str(tmp_path / "run"), "--data-dir", str(root)], capsys)
    assert code == 2 and err == f"tinygrad-adam train: error: {info.value}\n"


# ---------------------------------------------------------------- 6: download verifies what is already there


def test_download_names_a_damaged_file_already_there_and_keeps_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = fake_mnist(tmp_path / "data", damaged=b"\x1f\x8b truncated")
    before = snapshot(root)
    code, err = run_cli(["download", "mnist", "--data-dir", str(root)], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"tinygrad-adam download: error: {root / 'mnist' / MNIST_FILES[0]}: cannot be decompressed")
    assert snapshot(root) == before
    (tmp_path / "ts" / "tinyshakespeare").mkdir(parents=True)
    (tmp_path / "ts" / "tinyshakespeare" / "input.txt").write_text("To be")
    with pytest.raises(DataCorruptError, match="5 bytes, expected 1,115,394"):
        fetch_dataset("tinyshakespeare", tmp_path / "ts")


def test_download_of_an_intact_copy_says_already_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # see the environment the suite runs in to find the real data
    found = next((p for p, _ in data_dirs() if (p / "tinyshakespeare" / "input.txt").is_file()), None)
    if found is None:
        if os.environ.get("TINYGRAD_ADAM_REQUIRE_DATA") == "1":  # (CI's first pass: the data must be there)
            pytest.fail(f"the real Tiny Shakespeare file is missing (set ${DATA_ENV}); this run requires the data")
        pytest.skip(f"needs the real Tiny Shakespeare file: set ${DATA_ENV} to the shared data directory")
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").symlink_to(found / "tinyshakespeare" / "input.txt")
    assert fetch_dataset("tinyshakespeare", tmp_path) == (tmp_path / "tinyshakespeare", False)
