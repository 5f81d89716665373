"""Run directories: where a training run writes, and the rules that keep one run's files from another's.

- Without ``--out`` each run gets a fresh ``runs/<model>-<dataset>-<optimizer>/version_N`` (N = 0, 1, ... as in
  PyTorch Lightning): two runs never share a directory by accident.
- A directory that holds a run (any of ``RUN_FILES``) is written only to continue that run (``--resume``) or to
  replace it (``--overwrite``, which deletes those files, the run's plots and its stale temporary files, and
  nothing else). Other files in the directory are never touched.
- ``--out`` must name a directory, or a path where one can be made: not empty, not a file, not under a file,
  and writable. The checks run before any data is loaded; each failure is a RunDirError with a one-line message.
- One process at a time: a training process holds a lock on its directory (``.tinygrad-adam.lock``, an advisory
  ``flock`` the system releases when the process ends, even by SIGKILL), so a second one is refused, not interleaved
  (the commands that train many runs leave such a run to the process that holds it: see ``experiments.fit_each``).
- On resume the JSON-lines logs are cut back to the sizes the checkpoint recorded, so a crash at any moment
  (mid-epoch, between a log line and the checkpoint, inside the checkpoint write) resumes into the same files
  an uninterrupted run writes.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, and so no guard against two processes in one directory
    fcntl = None  # type: ignore[assignment]

from . import durable
from .data.files import atomic_path

# result.json: the config and last metrics of a finished run of compare, tune or bias-correction
RUN_FILES = ("checkpoint.npz", "config.json", "metrics.jsonl", "steps.jsonl", "internals.jsonl", "result.json")
LOGS = ("metrics.jsonl", "steps.jsonl", "internals.jsonl")
LOCK = ".tinygrad-adam.lock"  # held by the process training in the directory (see ``locked``)
PLOTS = ("curves.png", "internals.png")  # what ``tinygrad-adam plot`` draws from a run's logs


class RunDirError(ValueError):
    """A run directory that cannot be used as asked; the message names the problem and the fix."""


def holds_run(path: Path) -> bool:
    """Whether ``path`` holds (some of) a training run's files."""
    return any((path / name).exists() for name in RUN_FILES)


def fresh_dir(root: Path, name: str) -> Path:
    """Create and return ``root/name/version_N`` with the smallest N above every existing version."""
    base = root / name
    usable(base)
    taken = [int(m.group(1)) for d in (base.iterdir() if base.is_dir() else ())
             if (m := re.fullmatch(r"version_(\d+)", d.name))]
    n = max(taken, default=-1) + 1
    while True:  # another process may take the same N between the scan and the mkdir
        path = base / f"version_{n}"
        try:
            path.mkdir()
        except FileExistsError:
            n += 1
            continue
        except OSError as e:
            raise RunDirError(f"cannot create the run directory {path}: {e.strerror}; "
                              f"give a writable directory with --out") from None
        return path


def usable(out: str | os.PathLike[str], *, create: bool = True) -> Path:
    """Check that ``out`` is (or can become) a writable directory, creating it when ``create``; returns its Path."""
    text = os.fspath(out)
    if not text.strip():
        raise RunDirError("--out is empty: give a directory, or leave --out out for the default one")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out {text} is a file, not a directory: give a directory (or a new path)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RunDirError(f"--out {text} is under {parent}, which is a file: give a path in a directory")
            break
    if not create and not path.is_dir():
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise RunDirError(f"--out {text} is not writable ({e.strerror}): give a directory you can write "
                          f"to") from None
    return path


def claim(path: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse a fresh run into a directory that holds one, unless ``overwrite``; ``resume`` needs a run there."""
    if resume and overwrite:
        raise RunDirError("--resume and --overwrite contradict each other: --resume continues the run in --out, "
                          "--overwrite replaces it; give one")
    if resume:
        if not (path / "checkpoint.npz").is_file():
            if holds_run(path):
                raise RunDirError(f"{path} holds a run that never finished an epoch (no checkpoint.npz), so there "
                                  f"is nothing to resume: start it again with --overwrite")
            raise RunDirError(f"nothing to resume in {path}: it holds no run (no checkpoint.npz); check --out, or "
                              f"drop --resume to start a run there")
    elif holds_run(path) and not overwrite:
        raise RunDirError(f"{path} already holds a run: add --resume to continue it, --overwrite to replace it, "
                          f"or give another --out (without --out every run gets a fresh directory)")


class InUse(RunDirError):
    """Another process holds the run directory (see ``locked``)."""


_held: set[Path] = set()  # the run directories this process holds


@contextlib.contextmanager
def locked(path: Path, wait: bool = False) -> Iterator[None]:
    """Hold the run directory ``path`` for this process during the block (the lock also ends with the process,
    however it ends). If another process holds it: InUse, or with ``wait`` block until it lets go. A block
    nested in one that holds ``path`` already just runs."""
    key = path.resolve()
    if key in _held or fcntl is None:
        yield
        return
    with open(path / LOCK, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            raise InUse(f"{path} is in use: another process is training in it; wait for it to end (or stop it), "
                        f"or give another --out") from None
        _held.add(key)
        try:
            yield
        finally:
            _held.discard(key)


def claim_tree(root: Path, overwrite: bool, resume: bool = False) -> None:
    """For commands that write several runs under ``root`` (compare, bias-correction): refuse when runs are there
    already, unless ``overwrite``, which clears each of them, or ``resume`` (the command continues them). Only
    ``root`` and the two levels below it are looked at (where such commands write), so ``--out .`` cannot reach
    the runs of ``runs/<name>/version_N``."""
    usable(root)
    if resume and overwrite:
        claim(root, resume=True, overwrite=True)  # raises: the two contradict each other
    if resume:
        return
    runs = [d for d in (root, *root.glob("*"), *root.glob("*/*")) if d.is_dir() and holds_run(d)]
    if runs and not overwrite:
        raise RunDirError(f"{root} already holds {len(runs)} run(s) ({runs[0]}, ...): add --resume to continue "
                          f"them, --overwrite to replace them, or give another --out")
    with contextlib.ExitStack() as held:  # a run another process is training: refused before anything is deleted
        for d in runs:
            held.enter_context(locked(d))
        for d in runs:
            clear(d)


def clear(path: Path) -> None:
    """Delete a run's files from ``path`` (its RUN_FILES, plots and temporary files), nothing else."""
    for name in (*RUN_FILES, *PLOTS):
        (path / name).unlink(missing_ok=True)
    remove_temporaries(path)


def remove_temporaries(path: Path) -> None:
    """Delete the temporary files a killed process left behind while writing one of this run's files."""
    for name in RUN_FILES:
        for tmp in path.glob(f".{name}.*"):
            if tmp.suffix in (".tmp", ".part") and tmp.is_file():
                tmp.unlink(missing_ok=True)


def log_sizes(path: Path) -> dict[str, int]:
    """The byte size of each log file (0 if absent): what a checkpoint written now covers. Each log is synced to
    disk first, so that after a crash of the machine the logs still hold what the checkpoint says they do."""
    sizes = dict.fromkeys(LOGS, 0)
    for name in LOGS:
        if (path / name).exists():
            durable.sync_file(path / name)
            sizes[name] = (path / name).stat().st_size
    return sizes


def cut_logs(path: Path, sizes: dict[str, int]) -> None:
    """Cut each log back to the size a checkpoint recorded (dropping lines written after it). Before anything is
    cut, a RunDirError where a log is not the one the checkpoint was written beside: shorter than recorded
    (records it covers are missing: edited or removed), not ending a record at that size (another run's log or
    checkpoint), or not a plain file."""
    for name in LOGS:
        file, size = path / name, int(sizes.get(name, 0))
        if file.is_symlink() or (file.exists() and not file.is_file()):
            raise RunDirError(f"{file} is not a plain file (a link or a directory), so resuming would write "
                              f"elsewhere: put the run's own log there, or start again with --overwrite")
        have = file.stat().st_size if file.exists() else 0
        if have < size:
            raise RunDirError(f"{file} has {have} bytes but the checkpoint covers {size}: records are missing from "
                              f"it; restore the file, or start the run again with --overwrite")
        if size and have > size:
            with open(file, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    raise RunDirError(f"{file} does not end a record where the checkpoint says (byte {size}): the "
                                      f"log or the checkpoint is another run's; put back the run's own, or start "
                                      f"again with --overwrite")
    for name in LOGS:
        file, size = path / name, int(sizes.get(name, 0))
        if file.exists() and file.stat().st_size > size:
            os.truncate(file, size)


def write_text(path: Path, text: str) -> None:
    """Replace the file ``path`` with ``text`` in one step (readers see the old or the new file, never half)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
