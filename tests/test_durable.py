"""A finished file survives a crash of the machine: its bytes are synced before the rename that puts it in place,
and its directory (where the rename is recorded) after it; a checkpoint also syncs the logs it says it covers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from tinygrad_adam import checkpoint, durable, rundir


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Record each fsync (of a directory, or of a file by its inode) and each rename, in order."""
    seen: list[tuple[str, object]] = []
    fsync, replace = os.fsync, os.replace

    def recorded_fsync(fd: int) -> None:
        st = os.fstat(fd)
        seen.append(("sync dir", None) if stat.S_ISDIR(st.st_mode) else ("sync file", st.st_ino))
        fsync(fd)

    def recorded_replace(src: str, dst: str) -> None:
        seen.append(("rename", os.stat(src).st_ino))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", recorded_fsync)
    monkeypatch.setattr(os, "replace", recorded_replace)
    return seen


def synced_then_renamed(seen: list[tuple[str, object]], path: Path) -> bool:
    """Whether the file now at ``path`` was synced, then renamed into place, then its directory synced."""
    inode = path.stat().st_ino
    return seen[-3:] == [("sync file", inode), ("rename", inode), ("sync dir", None)]


def test_checkpoint_save_syncs_file_then_directory(tmp_path: Path, events: list) -> None:
    path = checkpoint.save(tmp_path / "ckpt.npz", {"w": np.arange(3.0)})
    assert path is not None and synced_then_renamed(events, path)


def test_atomic_writes_sync_file_then_directory(tmp_path: Path, events: list) -> None:
    rundir.write_text(tmp_path / "config.json", "{}\n")  # the run's files, tune's and experiments' results
    assert synced_then_renamed(events, tmp_path / "config.json")


def test_checkpoint_log_sizes_sync_the_logs(tmp_path: Path, events: list) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n')
    sizes = rundir.log_sizes(tmp_path)
    assert sizes == {"metrics.jsonl": 13, "steps.jsonl": 0, "internals.jsonl": 0}
    assert events == [("sync file", (tmp_path / "metrics.jsonl").stat().st_ino)]


def test_directory_that_cannot_be_synced_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def einval(fd: int) -> None:
        raise OSError(22, "Invalid argument")

    (tmp_path / "new").write_text("x")
    monkeypatch.setattr(os, "fsync", einval)
    durable.replace(tmp_path / "new", tmp_path / "dest")
    assert (tmp_path / "dest").read_text() == "x"
