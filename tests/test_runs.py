"""Runs never lose or mix data: the ``train`` command run as a user runs it, as a subprocess, on small subsets.

Covers the run-directory rules (fresh directory per run, ``--resume``, ``--overwrite``), resuming with the
checkpoint's settings, crash consistency under SIGKILL, one-line errors, validated checkpoints, non-finite
results and the data cache. Needs the real MNIST files (marked data); the processed-array cache is one
temporary directory per module, so only the first command decodes the files.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import realdata

from tinygrad_adam import checkpoint, optim, rundir
from tinygrad_adam.tensor import Tensor
from tinygrad_adam.train import append_jsonl

REPO = Path(__file__).resolve().parent.parent
DATA = realdata.find("mnist") or REPO / "no-data"  # used by the tests marked data only
SMALL = ("--model", "logreg", "--limit", "300", "--epochs", "1", "--no-progress")
C = "checkpoint.npz"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {**os.environ, "TINYGRAD_ADAM_DATA": str(DATA),
            "TINYGRAD_ADAM_CACHE": str(tmp_path_factory.mktemp("cache"))}


def cli(*args: object, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m tinygrad_adam ARGS`` in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "tinygrad_adam", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a user-caused error prints (exit 2), after checking that it is exactly one line (besides
    warnings and what the data loaders say they are doing, "tinygrad_adam: first load ...")."""
    lines = [line for line in result.stderr.splitlines()
             if "Warning" not in line and not line.startswith(("  ", "tinygrad_adam: "))]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def snapshot(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir())}


def strict_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file, refusing NaN / Infinity (which are not JSON)."""
    def refuse(name: str) -> None:
        raise ValueError(f"{path} holds {name}, which is not JSON")
    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------- 1. a run is never overwritten
@pytest.mark.data("mnist")
def test_rerun_is_refused_and_overwrite_replaces(tmp_path: Path, env: dict[str, str]) -> None:
    run = tmp_path / "run"
    assert cli("train", *SMALL, "--out", run, cwd=tmp_path, env=env).returncode == 0
    before = snapshot(run)
    line = error_line(cli("train", *SMALL, "--seed", 1, "--out", run, cwd=tmp_path, env=env))
    assert "already holds a run" in line and "--resume" in line and "--overwrite" in line
    assert snapshot(run) == before
    # --overwrite replaces the run; a new run that diverges leaves no checkpoint of the old one behind
    result = cli("train", "--model", "mlp", "--optimizer", "sgd", "--lr", "1e3", "--limit", 1000, "--no-progress",
                 "--out", run, "--overwrite", cwd=tmp_path, env=env)
    assert result.returncode == 3 and f"no epoch finished, so {run} has no checkpoint" in result.stderr, result.stderr
    assert not (run / "checkpoint.npz").exists() and not (run / "metrics.jsonl").exists()
    assert json.loads((run / "config.json").read_text())["optimizer"] == "sgd"


@pytest.mark.data("mnist")
def test_without_out_each_run_gets_a_fresh_version_directory(tmp_path: Path, env: dict[str, str]) -> None:
    for n in range(2):
        result = cli("train", *SMALL, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        path = f"runs/logreg-mnist-adam/version_{n}"
        lines = result.stdout.strip().splitlines()
        assert path in lines[0] and path in lines[-1]
        assert (tmp_path / path / "checkpoint.npz").is_file()


@pytest.mark.data("mnist")
def test_a_run_that_fails_to_start_leaves_no_empty_directory(tmp_path: Path, env: dict[str, str]) -> None:
    result = cli("train", *SMALL, cwd=tmp_path, env={**env, "TINYGRAD_ADAM_DATA": str(tmp_path / "nothing"),
                                                      "HOME": str(tmp_path)})
    assert result.returncode == 2 and "mnist data not found" in result.stderr
    assert not any((tmp_path / "runs" / "logreg-mnist-adam").iterdir())


@pytest.mark.data("mnist")
def test_compare_refuses_an_out_that_holds_runs_unless_overwrite(tmp_path: Path, env: dict[str, str]) -> None:
    args = ("compare", "--experiment", "mnist-logreg", "--optimizers", "adam", "--epochs", 1, "--limit", 200,
            "--no-progress", "--out", tmp_path / "cmp")
    assert cli(*args, cwd=tmp_path, env=env).returncode == 0
    before = snapshot(tmp_path / "cmp" / "adam" / "seed0")
    line = error_line(cli(*args, "--seed", 1, cwd=tmp_path, env=env))
    assert "already holds 1 run(s)" in line and "--overwrite" in line and "--resume" in line
    assert snapshot(tmp_path / "cmp" / "adam" / "seed0") == before
    # --resume with another setting is refused before anything is written
    line = error_line(cli(*args, "--resume", "--lr", 0.5, cwd=tmp_path, env=env))
    assert "was trained with other settings" in line and "lr" in line
    assert snapshot(tmp_path / "cmp" / "adam" / "seed0") == before
    assert "contradict" in error_line(cli(*args, "--resume", "--overwrite", cwd=tmp_path, env=env))
    deep = tmp_path / "cmp" / "runs" / "mlp-mnist-adam" / "version_0"  # three levels down: not compare's
    deep.mkdir(parents=True)
    (deep / "metrics.jsonl").write_text("{}\n")
    assert cli(*args, "--seed", 1, "--overwrite", cwd=tmp_path, env=env).returncode == 0
    assert json.loads((tmp_path / "cmp" / "adam" / "seed1" / "config.json").read_text())["seed"] == 1
    replaced = tmp_path / "cmp" / "adam" / "seed0"  # the replaced run's files are gone
    assert not [f for f in ("checkpoint.npz", "metrics.jsonl", "result.json") if (replaced / f).exists()]
    assert (deep / "metrics.jsonl").read_text() == "{}\n"


@pytest.mark.data("mnist")
def test_compare_resume_rebuilds_a_damaged_result_json_and_plot_names_it(tmp_path: Path, env: dict[str, str]) -> None:
    args = ("compare", "--experiment", "mnist-logreg", "--optimizers", "adam", "--epochs", 1, "--limit", 200,
            "--no-progress", "--out", tmp_path / "cmp")
    assert cli(*args, cwd=tmp_path, env=env).returncode == 0
    result = tmp_path / "cmp" / "adam" / "seed0" / "result.json"
    good = json.loads(result.read_text())
    for damaged in ("{cut sh", "[]", '{"config": 1, "metrics": {}}'):
        result.write_text(damaged)
        line = error_line(cli("plot", tmp_path / "cmp", cwd=tmp_path, env=env))
        assert f"{result} is damaged" in line and "--resume" in line, line
        done = cli(*args, "--resume", cwd=tmp_path, env=env)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert json.loads(result.read_text()) == good


@pytest.mark.data("mnist")
def test_a_second_process_in_a_run_directory_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "tinygrad_adam", "train", "--model", "logreg", "--limit", "4000",
                              "--batch-size", "10", "--epochs", "100", "--no-progress", "--out", str(run)],
                             cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (run / C).exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before the test could race it"
        line = error_line(cli("train", "--resume", "--out", run, "--no-progress", cwd=tmp_path, env=env))
        assert "is in use: another process is training in it" in line
    finally:
        first.kill()
        first.wait()
    result = cli("train", "--resume", "--out", run, "--epochs", 2, "--no-progress", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr  # the lock ended with the killed process


@pytest.mark.data("mnist")
def test_compare_resume_leaves_a_run_another_process_holds_and_reads_it_back(tmp_path: Path,
                                                                              env: dict[str, str]) -> None:
    """Two copies of one ``compare --resume`` share its runs: a held run is skipped, then waited for."""
    args = ("compare", "--experiment", "mnist-logreg", "--optimizers", "adam,adagrad", "--seeds", 2, "--epochs", 1,
            "--limit", 300, "--no-progress", "--resume")
    alone = cli(*args, "--out", tmp_path / "alone", cwd=tmp_path, env=env)
    assert alone.returncode == 0, alone.stderr
    held = tmp_path / "shared" / "adam" / "seed1"
    held.mkdir(parents=True)
    with rundir.locked(held):  # as a second copy of the command would, while it trains this run
        second = subprocess.Popen([sys.executable, "-m", "tinygrad_adam", *map(str, args), "--out",
                                   str(tmp_path / "shared")], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        others = [tmp_path / "shared" / run / "result.json" for run in ("adam/seed0", "adagrad/seed0", "adagrad/seed1")]
        deadline = time.monotonic() + 300
        while not all(f.exists() for f in others) and second.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert second.poll() is None, "the command did not wait for the run held elsewhere"
        assert not (held / "result.json").exists()
    out, _ = second.communicate(timeout=300)  # let go: it reads the run back, or (as here) trains it itself
    assert second.returncode == 0, out
    assert f"{held}: another process is training it" in out, out
    for run in ("adam/seed0", "adam/seed1", "adagrad/seed0", "adagrad/seed1"):  # the same runs as one process's
        a, b = (json.loads((tmp_path / d / run / "result.json").read_text())["metrics"] for d in ("shared", "alone"))
        assert {k: a[k] for k in a if k not in ("seconds", "time")} == {k: b[k] for k in b if k not in ("seconds",
                                                                                                   "time")}, run
    assert (tmp_path / "shared" / "results.md").exists()


# ---------------------------------------------------------------- 2. resume runs with the checkpoint's settings
@pytest.mark.data("mnist")
def test_resume_refuses_changed_settings_and_extends_with_epochs(tmp_path: Path, env: dict[str, str]) -> None:
    run = tmp_path / "run"
    assert cli("train", *SMALL, "--lr", 0.05, "--out", run, cwd=tmp_path, env=env).returncode == 0
    line = error_line(cli("train", "--resume", "--out", run, "--lr", 0.5, "--no-bias-correction", "--optimizer",
                          "amsgrad", "--seed", 3, "--limit", 200, "--batch-size", 64, cwd=tmp_path, env=env))
    for flag in ("--lr 0.5", "--no-bias-correction", "--optimizer 'amsgrad'", "--seed 3", "--limit 200",
                 "--batch-size 64"):
        assert flag in line, line
    for extra in (["--optimizer", "nesterov"], ["--optimizer", "adamax"], ["--temporal-average", "0.9"],
                  ["--lr-schedule", "constant"]):
        assert extra[0] in error_line(cli("train", "--resume", "--out", run, *extra, cwd=tmp_path, env=env))
    # a finished run says so and how to extend it
    result = cli("train", "--resume", "--out", run, cwd=tmp_path, env=env)
    assert result.returncode == 0 and "finished" in result.stdout and "--epochs N with N > 1" in result.stdout
    # the safe flags, and unchanged values of the others, are accepted; the run continues with its own settings
    result = cli("train", "--resume", "--out", run, "--epochs", 2, "--device", "cpu", "--log-every", 1,
                 "--no-progress", "--lr", 0.05, "--model", "logreg", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert [m["epoch"] for m in strict_jsonl(run / "metrics.jsonl")] == [1, 2]
    stored = checkpoint.load(run / "checkpoint.npz")["config"]
    config = json.loads((run / "config.json").read_text())
    assert stored["lr"] == config["lr"] == 0.05 and stored["epochs"] == config["epochs"] == 2
    assert config["log_every"] == 1 and checkpoint.load(run / "checkpoint.npz")["version"]


@pytest.mark.data("mnist")
def test_help_lists_the_flags_a_resume_may_change(tmp_path: Path, env: dict[str, str]) -> None:
    text = " ".join(cli("train", "--help", cwd=tmp_path, env=env).stdout.split())
    assert "--epochs, --device, --log-every, --inspect-every, --data-dir, --download and the progress options" in text
    assert "--overwrite" in text and "version_N" in text


# ---------------------------------------------------------------- 3. a crash at any moment resumes exactly
# Logistic regression with input dropout (the RNG), the inv-sqrt schedule and temporal averaging: every piece of
# state a resume restores, at 80 iterations per epoch.
COMMON = ("train", "--model", "logreg", "--dropout", 0.5, "--limit", 4000, "--batch-size", 50, "--epochs", 4,
          "--log-every", 4, "--inspect-every", 7, "--temporal-average", 0.9, "--seed", 5, "--no-progress")
# Runs the CLI in-process and SIGKILLs itself at a chosen point: "save N" inside the N-th checkpoint write
# (after the data is written, before the rename), "before-save N" between epoch N's metrics line and its
# checkpoint, "step N" right after the N-th steps.jsonl line (mid-epoch).
KILLER = """
import os, signal, sys
import numpy
from tinygrad_adam import checkpoint, cli, train
where, n = sys.argv[1], int(sys.argv[2])
calls = {"n": 0}
def countdown():
    calls["n"] += 1
    if calls["n"] == n:
        os.kill(os.getpid(), signal.SIGKILL)
if where == "save":
    real_savez = numpy.savez
    def savez(f, *a, **k):
        real_savez(f, *a, **k)
        if "__tree__" in k:  # a checkpoint, not the data cache
            f.flush()
            countdown()
    checkpoint.numpy.savez = savez
elif where == "before-save":
    real_save = checkpoint.save
    checkpoint.save = lambda *a, **k: (countdown(), real_save(*a, **k))[1]
else:
    real_append = train.append_jsonl
    def append(path, record):
        real_append(path, record)
        if path.name == "steps.jsonl":
            countdown()
    train.append_jsonl = append
sys.exit(cli.main(sys.argv[3:]))
"""


@pytest.fixture(scope="module")
def kill_env(env: dict[str, str]) -> dict[str, str]:
    """No numba: each process would compile its kernels again (the numpy path is exact too)."""
    return {**env, "TINYGRAD_ADAM_NUMBA": "0"}


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory, kill_env: dict[str, str]) -> Path:
    """The uninterrupted run every interrupted one must equal."""
    out = tmp_path_factory.mktemp("straight") / "run"
    result = cli(*COMMON, "--out", out, cwd=out.parent, env=kill_env)
    assert result.returncode == 0, result.stderr
    return out


def assert_same_run(a: Path, b: Path) -> None:
    """Same logs (but the wall-clock seconds and time), same config (but the directory and the command lines),
    same checkpoint arrays."""
    def records(run: Path, name: str) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("seconds", "time")} for r in strict_jsonl(run / name)]
    for name in ("metrics.jsonl", "steps.jsonl", "internals.jsonl"):
        assert records(a, name) == records(b, name), name
    configs = [{k: v for k, v in json.loads((r / "config.json").read_text()).items()
                if k not in ("out", "command", "resumed_with")} for r in (a, b)]
    assert configs[0] == configs[1]
    sa, sb = checkpoint.load(a / "checkpoint.npz"), checkpoint.load(b / "checkpoint.npz")
    assert sa["epoch"] == sb["epoch"] == 4 and sa["iteration"] == sb["iteration"]
    for part in ("model", "optimizer", "average", "rng"):
        wa, wb = checkpoint._Writer(), checkpoint._Writer()
        assert json.dumps(checkpoint._encode(sa[part], wa)) == json.dumps(checkpoint._encode(sb[part], wb))
        for key in wa.arrays:
            np.testing.assert_array_equal(wa.arrays[key], wb.arrays[key], err_msg=f"{part} {key}")
    assert sorted(p.name for p in b.iterdir()) == sorted(p.name for p in a.iterdir())  # no temporary files left


@pytest.mark.data("mnist")
@pytest.mark.parametrize(("where", "n"), [("save", 2), ("before-save", 3), ("step", 30)])
def test_kill_at_a_chosen_point_then_resume_equals_uninterrupted(where: str, n: int, tmp_path: Path,
                                                                 kill_env: dict[str, str], straight: Path) -> None:
    run = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", KILLER, where, str(n), *map(str, COMMON), "--out", str(run)],
                            cwd=tmp_path, env=kill_env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if where == "save":
        assert list(run.glob(".checkpoint.npz.*.tmp"))  # the kill really was inside the write
    result = cli(*COMMON, "--out", run, "--resume", cwd=tmp_path, env=kill_env)
    assert result.returncode == 0, result.stderr
    assert_same_run(straight, run)


@pytest.mark.data("mnist")
def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(tmp_path: Path, kill_env: dict[str, str],
                                                                    straight: Path) -> None:
    """Each process (the first, then each resumed one) is killed at a random moment after it has trained a little
    (the first after its first checkpoint: before that there is nothing to resume); a last resume finishes. The
    moment is a random number of step-log lines on (then up to 5 ms), so that it falls inside training however fast
    the machine is."""
    rng = random.Random(int(os.environ.get("TINYGRAD_ADAM_KILL_SEED", "12")))
    run, steps = tmp_path / "run", tmp_path / "run" / "steps.jsonl"

    def lines() -> int:
        return steps.read_bytes().count(b"\n") if steps.exists() else 0

    interrupted = 0
    for attempt in range(4):
        resume = ["--resume"] if attempt else []
        target = lines() + rng.randint(1, 30)  # the run logs 20 step lines an epoch, 80 in all
        process = subprocess.Popen([sys.executable, "-m", "tinygrad_adam", *map(str, COMMON), "--out", str(run),
                                    *resume], cwd=tmp_path, env=kill_env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        while process.poll() is None and (lines() < target or not (run / C).exists()):
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.005))
        interrupted += process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert interrupted, "no kill landed while the run was training"
    result = cli(*COMMON, "--out", run, "--resume", cwd=tmp_path, env=kill_env)
    assert result.returncode == 0, result.stderr
    assert_same_run(straight, run)


@pytest.mark.data("mnist")
def test_ctrl_c_says_how_to_continue(tmp_path: Path, kill_env: dict[str, str], straight: Path) -> None:
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "tinygrad_adam", *map(str, COMMON), "--out", str(run)],
                               cwd=tmp_path, env=kill_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    while process.poll() is None and not (run / C).exists():
        time.sleep(0.002)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    if process.returncode == 0:
        pytest.skip("the run finished before the interrupt arrived")
    assert process.returncode == 130 and "Traceback" not in err, err
    assert f"interrupted; continue the run with: tinygrad-adam train --resume --out {run}" in err
    assert cli(*COMMON, "--out", run, "--resume", cwd=tmp_path, env=kill_env).returncode == 0
    assert_same_run(straight, run)


# ---------------------------------------------------------------- 4, 5. every user-caused error: one line, exit 2
@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    """A small finished run (logreg, one epoch) that each error case copies and damages."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert cli("train", *SMALL, "--out", out, cwd=out.parent, env=env).returncode == 0
    return out


def edit_tree(path: Path, change: object) -> None:
    """Rewrite the checkpoint at ``path`` with ``change(tree)`` applied (a valid file with changed contents)."""
    tree = checkpoint.load(path)
    change(tree)
    checkpoint.save(path, tree)


def raw_npz(path: Path, skeleton: str, **arrays: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.savez(f, __tree__=np.array(skeleton), **arrays)


def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def as_root_or_chmod(tmp: Path) -> Path:
    """A directory this process cannot create files in (as root, one under /sys)."""
    if os.geteuid() == 0:
        return Path("/sys/tinygrad_adam_test_run")
    locked = tmp / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked / "run"


CKPT_CASES = {  # damage done to a copy of a finished run -> what the one line must say
    "empty": (lambda p: p.write_bytes(b""), "not a readable checkpoint"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "not a readable checkpoint"),
    "crc": (flip_middle_byte, "not a readable checkpoint"),
    "text": (lambda p: p.write_text("hello"), "not a readable checkpoint"),
    "pickled": (lambda p: np.savez(p.open("wb"), __tree__=np.array([{"a": 1}], dtype=object)), "pickled data"),
    "npy": (lambda p: np.save(p.open("wb"), np.zeros(3)), "not an .npz archive"),
    "tree-not-json": (lambda p: raw_npz(p, "{not json"), "malformed"),
    "tree-missing-array": (lambda p: raw_npz(p, '{"__dict__": [["epoch", {"__array__": "a9"}]]}'), "malformed"),
    "tree-bad-tag": (lambda p: raw_npz(p, '{"__dict__": [["epoch", {"__bogus__": []}]]}'), "malformed"),
    "no-optimizer": (lambda p: edit_tree(p, lambda t: t.pop("optimizer")), "'optimizer'"),
    "epoch-a-string": (lambda p: edit_tree(p, lambda t: t.update(epoch="one")), "'epoch'"),
    "bad-log-sizes": (lambda p: edit_tree(p, lambda t: t["logs"].update({"metrics.jsonl": "big"})), "log sizes"),
    "no-config": (lambda p: edit_tree(p, lambda t: t.pop("config")), "stores no config"),
    "bad-config": (lambda p: edit_tree(p, lambda t: t["config"].update(model="resnet")), "unknown model 'resnet'"),
    "negative-lr": (lambda p: edit_tree(p, lambda t: t["optimizer"]["param_groups"][0].update(lr=-1000.0)),
                    "invalid lr=-1000.0"),
    "bad-betas": (lambda p: edit_tree(p, lambda t: t["optimizer"]["param_groups"][0].update(betas=(2, 7))),
                  "invalid betas=(2, 7)"),
}


@pytest.mark.data("mnist")
@pytest.mark.parametrize("case", CKPT_CASES)
def test_damaged_checkpoint_is_one_line_before_loading_data(case: str, tmp_path: Path, env: dict[str, str],
                                                            finished: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    damage, expected = CKPT_CASES[case]
    damage(run / C)
    nodata = {**env, "TINYGRAD_ADAM_DATA": str(tmp_path / "nodata"), "HOME": str(tmp_path)}  # data would fail
    line = error_line(cli("train", "--resume", "--out", run, "--epochs", 2, cwd=tmp_path, env=nodata))
    assert expected in line and str(run / C) in line, line
    assert "allow_pickle" not in line and "pickle.load" not in line


DIR_CASES = {  # (setup in tmp -> the train arguments) -> what the one line must say
    "out-is-a-file": (lambda t: (t / "f").write_text("x") and ["--out", t / "f"], "is a file"),
    "out-under-a-file": (lambda t: (t / "f").write_text("x") and ["--out", t / "f" / "run"], "which is a file"),
    "out-unwritable": (lambda t: ["--out", as_root_or_chmod(t)], "not writable"),
    "out-empty": (lambda t: ["--out", ""], "--out is empty"),
    "resume-nothing-there": (lambda t: ["--resume", "--out", t / "nothing"], "nothing to resume"),
    "resume-without-out": (lambda t: ["--resume"], "--resume needs --out"),
    "resume-and-overwrite": (lambda t: ["--resume", "--overwrite", "--out", t], "contradict"),
    "resume-no-checkpoint": (lambda t: (t / "config.json").write_text("{}") and ["--resume", "--out", t],
                             "never finished an epoch"),
    "fresh-into-a-run": (lambda t: (t / "metrics.jsonl").write_text("") or ["--out", t], "already holds a run"),
}


@pytest.mark.data("mnist")
@pytest.mark.parametrize("case", DIR_CASES)
def test_bad_run_directory_is_one_line_before_loading_data(case: str, tmp_path: Path, env: dict[str, str]) -> None:
    setup, expected = DIR_CASES[case]
    args = setup(tmp_path)
    nodata = {**env, "TINYGRAD_ADAM_DATA": str(tmp_path / "nodata"), "HOME": str(tmp_path)}
    line = error_line(cli("train", *SMALL, *args, cwd=tmp_path, env=nodata))
    assert expected in line, line


@pytest.mark.data("mnist")
def test_checkpoint_of_another_model_is_one_line(tmp_path: Path, env: dict[str, str], finished: Path) -> None:
    """Array shapes can only be checked against the model, after the data: still one line and exit 2."""
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    edit_tree(run / C, lambda t: t["model"].update({k: v[:, :5] if v.ndim == 2 else v for k, v in t["model"].items()}))
    line = error_line(cli("train", "--resume", "--out", run, "--epochs", 2, cwd=tmp_path, env=env))
    assert "does not fit this run" in line and "shape" in line, line


def test_optimizer_load_state_dict_checks_hyperparameters_like_the_constructor() -> None:
    p = Tensor(np.zeros(3, np.float32), requires_grad=True)
    opt = optim.Adam([p], lr=0.01)
    for bad, message in (({"betas": (2, 7)}, "invalid betas"), ({"lr": -1000.0}, "invalid lr"),
                         ({"eps": float("nan")}, "invalid eps"), ({"momentum": 0.9}, "unknown hyperparameter")):
        saved = opt.state_dict()
        saved["param_groups"][0].update(bad)
        with pytest.raises((ValueError, TypeError), match=message):
            opt.load_state_dict(saved)
        assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["betas"] == (0.9, 0.999)
    sched = optim.lr_scheduler.InverseSqrtLR(opt)
    with pytest.raises(ValueError, match="base_lr"):
        sched.load_state_dict({**sched.state_dict(), "base_lrs": [-1000.0]})
    avg = optim.TemporalAverage([p], beta=0.9)
    with pytest.raises(ValueError, match="invalid beta"):
        avg.load_state_dict({**avg.state_dict(), "beta": 7.0})


# ---------------------------------------------------------------- 6. non-finite results stop the run
@pytest.mark.data("mnist")
def test_nonfinite_test_loss_stops_the_run_and_logs_stay_json(tmp_path: Path, env: dict[str, str]) -> None:
    run = tmp_path / "run"
    result = cli("train", "--model", "logreg", "--optimizer", "sgd", "--lr", "1e30", "--lr-schedule", "constant",
                 "--limit", 100, "--batch-size", 100, "--epochs", 2, "--log-every", 1, "--no-progress", "--out", run,
                 cwd=tmp_path, env=env)
    assert result.returncode == 3, result.stderr
    assert "test loss became nan after epoch 2" in result.stderr
    assert f"the last good checkpoint is {run / C}" in result.stderr
    assert [m["epoch"] for m in strict_jsonl(run / "metrics.jsonl")] == [1]
    assert checkpoint.load(run / C)["epoch"] == 1
    strict_jsonl(run / "steps.jsonl")


def test_jsonl_writes_nonfinite_numbers_as_null(tmp_path: Path) -> None:
    append_jsonl(tmp_path / "x.jsonl", {"a": float("nan"), "b": [float("inf"), 1.5], "c": {"d": -float("inf")}})
    assert strict_jsonl(tmp_path / "x.jsonl") == [{"a": None, "b": [None, 1.5], "c": {"d": None}}]


# ---------------------------------------------------------------- 7. the data cache and the gzip files
@pytest.mark.data("mnist")
def test_tampered_cache_is_rebuilt_with_a_warning(tmp_path: Path, env: dict[str, str]) -> None:
    cache = tmp_path / "cache"
    fresh = {**env, "TINYGRAD_ADAM_CACHE": str(cache)}
    assert cli("train", *SMALL, "--out", tmp_path / "a", cwd=tmp_path, env=fresh).returncode == 0
    with np.load(cache / "mnist.npz") as entry:
        arrays = {k: entry[k] for k in entry.files}
    arrays["y_train"] = (arrays["y_train"] + 1) % 10  # shifted labels, same key and digest
    with open(cache / "mnist.npz", "wb") as f:
        np.savez(f, **arrays)
    result = cli("train", *SMALL, "--out", tmp_path / "b", cwd=tmp_path, env=fresh)
    assert result.returncode == 0 and "does not match the digest" in result.stderr, result.stderr
    with np.load(cache / "mnist.npz") as entry:
        assert entry["y_train"][:3].tolist() == [5, 0, 4]
    accuracy = [strict_jsonl(tmp_path / r / "metrics.jsonl")[0]["test_accuracy"] for r in ("a", "b")]
    assert accuracy[0] == accuracy[1] > 0.5


@pytest.mark.data("mnist")
def test_gzip_bomb_is_refused_without_inflating_it(tmp_path: Path, env: dict[str, str]) -> None:
    """A 2 MB file that inflates to 2 GiB in place of the 60,008-byte training labels: refused in bounded memory."""
    data = tmp_path / "data" / "mnist"
    data.mkdir(parents=True)
    for f in (DATA / "mnist").glob("*.gz"):
        (data / f.name).symlink_to(f)
    member = gzip.compress(bytes(64 << 20), compresslevel=9)  # 64 MiB of zeros, ~64 KB compressed
    (data / "train-labels-idx1-ubyte.gz").unlink()
    (data / "train-labels-idx1-ubyte.gz").write_bytes(member * 32)  # 32 gzip members: 2 GiB
    assert (data / "train-labels-idx1-ubyte.gz").stat().st_size < 3 << 20
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
    result = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "tinygrad_adam", "train", *SMALL,
                             "--out", tmp_path / "run"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env={**env, "TINYGRAD_ADAM_DATA": str(tmp_path / "data"),
                                 "TINYGRAD_ADAM_CACHE": str(tmp_path / "cache")})
    line = error_line(result)
    assert "train-labels-idx1-ubyte.gz: content is more than the expected 60,008 bytes" in line, line
    peak_kib = int(result.stdout.split()[-1])
    assert peak_kib < 1 << 20, f"peak RSS {peak_kib / 1024:.0f} MiB while refusing a 2 GiB gzip bomb"


@pytest.mark.data("mnist")
def test_library_resume_with_other_settings_is_refused(tmp_path: Path, env: dict[str, str], finished: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``Run(cfg).fit(resume=True)`` with a config that differs from the checkpoint's is refused, not mixed."""
    from tinygrad_adam import rundir, train

    for k in ("TINYGRAD_ADAM_DATA", "TINYGRAD_ADAM_CACHE"):
        monkeypatch.setenv(k, env[k])
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    saved = train.Config.from_json(checkpoint.load(run / C)["config"])
    other = train.Run(train.Config(**{**saved.to_json(), "lr": 0.5, "out": str(run), "epochs": 2}), log=print)
    with pytest.raises(rundir.RunDirError, match=r"lr=0.5 \(the run has 0.1\)"):
        other.fit(resume=True)
    same = train.Run(train.resume_config(saved, {"epochs": 2, "out": str(run)})[0], log=print)
    assert same.fit(resume=True)["epoch"] == 2


@pytest.mark.data("mnist")
def test_a_gpu_run_resumes_on_the_cpu_with_device(tmp_path: Path, env: dict[str, str], finished: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    edit_tree(run / C, lambda t: t["config"].update(device="cuda:0"))
    if "not usable" in (line := cli("train", "--resume", "--out", run, "--epochs", 2, cwd=tmp_path, env=env).stderr):
        assert "device 'cuda:0' is not usable" in line
    result = cli("train", "--resume", "--out", run, "--epochs", 2, "--device", "cpu", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert checkpoint.load(run / C)["config"]["device"] == "cpu"


def test_claim_tree_lets_a_resuming_command_continue_its_runs(tmp_path: Path) -> None:
    from tinygrad_adam import rundir

    (tmp_path / "adam").mkdir()
    (tmp_path / "adam" / "metrics.jsonl").write_text("{}\n")
    with pytest.raises(rundir.RunDirError, match="already holds 1 run"):
        rundir.claim_tree(tmp_path, overwrite=False)
    rundir.claim_tree(tmp_path, overwrite=False, resume=True)
    assert (tmp_path / "adam" / "metrics.jsonl").exists()
    with pytest.raises(rundir.RunDirError, match="contradict"):
        rundir.claim_tree(tmp_path, overwrite=True, resume=True)
    rundir.claim_tree(tmp_path, overwrite=True)
    assert not (tmp_path / "adam" / "metrics.jsonl").exists()
