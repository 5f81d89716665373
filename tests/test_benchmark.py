"""The benchmark's device plumbing (examples/benchmark.py and its sections), at tiny sizes: no timing asserts."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tinygrad_adam import backend

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))
import bench_common  # noqa: E402
import bench_layers  # noqa: E402
import bench_models  # noqa: E402
import bench_optim  # noqa: E402
import bench_overhead  # noqa: E402
import benchmark  # noqa: E402

SECTIONS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "machine": benchmark.machine, "models": bench_models.run, "layers": bench_layers.run, "optim": bench_optim.run,
    "overhead": bench_overhead.run}
# section -> (columns of ours, columns that need torch)
COLUMNS = {"machine": (["value"], []),
           "models": (["ms ours", "floor ms", "ours/floor"], ["ms torch", "ours/torch"]),
           "layers": (["ours ms", "floor ms", "ours/floor"], ["torch ms", "ours/torch"]),
           "optim": (["ms/step", "GB/s", "% copy bw"], ["x best torch"]),
           "overhead": (["us ours"], ["us torch", "ours/torch"])}


@pytest.fixture
def few(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fewer models and optimizers than the full tables (each kind of path still covered), and torch on one
    thread (its pool fights numpy's on a busy 2-core machine): a fast test."""
    monkeypatch.setattr(bench_models, "MODELS", ["makemore-mlp", "char-gpt", "logreg", "vae", "imdb-logreg"])
    monkeypatch.setattr(bench_optim, "OPTIMIZERS", [o for o in bench_optim.OPTIMIZERS if o[0] in ("Adam", "AdaMax")])
    torch = bench_common.torch_on("cpu")
    threads = torch.get_num_threads() if torch is not None else 0
    if torch is not None:
        torch.set_num_threads(1)
    yield
    if torch is not None:
        torch.set_num_threads(threads)


def check_rows(section: str, rows: list[dict[str, Any]], with_torch: bool) -> None:
    """Every row has positive finite times and ratios; the torch columns are there exactly when torch ran."""
    assert rows, f"{section}: no rows"
    ours, theirs = COLUMNS[section]
    for row in rows:
        for key in ours + theirs * with_torch:
            assert math.isfinite(row[key]) and row[key] > 0, (section, key, row)
        if not with_torch:
            assert not set(theirs) & set(row), (section, row)


@pytest.mark.parametrize("device", ["cuda", "tpu"])
def test_unusable_device_exits_2_with_one_clear_line(device: str) -> None:
    if device == "cuda" and backend.gpu_status()[0]:
        pytest.skip("a GPU is usable here")
    out = subprocess.run([sys.executable, str(EXAMPLES / "benchmark.py"), "--device", device, "--only", "machine"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out
    assert "Traceback" not in out.stdout + out.stderr
    assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert f"--device {device}:" in out.stderr
    if device == "cuda":
        assert backend.gpu_status()[1] in out.stderr


def test_compare_syncs_after_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    asked: list[str] = []

    def fake_sync(device: str) -> Callable[[], None]:
        asked.append(device)
        return lambda: events.append("sync")
    monkeypatch.setattr(bench_common, "device_sync", fake_sync)
    ms = bench_common.compare({"a": lambda: events.append("a"), "b": lambda: events.append("b")},
                              repeats=2, rounds=2, pause=0.0, device="cuda:3")
    assert asked == ["cuda:3"]
    # warm-up a, b; then per round a a, b b: every call, timed or not, is followed by one sync
    calls = ["a", "b"] + ["a", "a", "b", "b"] * 2
    assert events == [e for c in calls for e in (c, "sync")]
    assert set(ms) == {"a", "b"} and all(t >= 0 for t in ms.values())


def test_cpu_sync_is_a_noop_and_torch_status_says_why() -> None:
    assert bench_common.device_sync("cpu")() is None
    torch = pytest.importorskip("torch")
    assert bench_common.torch_on("cpu") is torch
    if not torch.cuda.is_available():
        assert bench_common.torch_on("cuda:0") is None
        assert "cannot run on cuda:0" in bench_common.torch_status("cuda:0")[1]
    env = bench_common.environment("cpu")
    assert env["device"] == "cpu" and env["torch"].startswith(torch.__version__)


@pytest.mark.parametrize("section", SECTIONS)
def test_sections_on_cpu_at_tiny_sizes(section: str, few: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with_torch = bench_common.torch_on("cpu") is not None
    bench_common.limits("cpu", True)  # measured once per process, before the syncs are counted
    asked: list[str] = []
    calls = [0]

    def counting_sync(device: str) -> Callable[[], None]:
        asked.append(device)

        def sync() -> None:
            calls[0] += 1
        return sync
    monkeypatch.setattr(bench_common, "device_sync", counting_sync)
    rows = SECTIONS[section](False, device="cpu", tiny=True)
    check_rows(section, rows, with_torch)
    assert asked and set(asked) == {"cpu"}
    if section in ("models", "layers"):  # ours (and torch, and a conv row's bare GEMMs): a warm-up and one timed
        blocks = (2 if with_torch else 1) * len(rows) + sum("GEMMs alone ms" in r for r in rows)  # call, each synced
        assert calls[0] == 2 * blocks
    if section == "layers":
        conv_rows = [r for r in rows if r["layer"].startswith("Conv2d")]
        assert conv_rows and all(r["GEMMs alone ms"] > 0 for r in conv_rows)
    else:
        assert calls[0] >= 2 * len(rows)
    if section == "optim":
        assert {r["impl"] for r in rows} >= {"ours numpy"}
        assert {r["layout"] for r in rows} == {"1 x 100k", "50 x 2k", "char GPT (28 tensors, 0.11M)"}
    if section in ("models", "layers"):  # every row says what its floor is made of
        assert all(r["floor from"].startswith(("GEMM", "0.", "1", "2", "3", "4", "5", "6", "7", "8", "9"))
                   for r in rows)
    if section == "overhead":
        assert all(math.isfinite(r["us numpy floor"]) and r["us numpy floor"] > 0 for r in rows)


def test_the_memory_row_without_mnist_says_it_was_skipped_and_why(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGRAD_ADAM_DATA", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(bench_models, "peak_rss_mb", lambda *a: pytest.fail("must not train without MNIST"))
    row = bench_models.peak_rss_row(quick=True)
    assert "skipped, MNIST not found" in row["model"] and str(tmp_path) in row["model"]
    assert "ms ours" not in row


def test_graph_work_counts_the_gemms_of_forward_and_backward() -> None:
    import tinygrad_adam as tg
    from tinygrad_adam import nn

    x = tg.randn(8, 3, 10, 10)  # no gradient: the first conv computes its output and its weight's gradient
    conv, lin = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(400, 5)
    loss = lin(nn.MaxPool2d(1)(conv(x)).reshape(8, 400)).sum()
    flops, nbytes = bench_common.graph_work(loss)
    conv_gemm = 2 * 8 * 4 * 10 * 10 * 3 * 3 * 3
    linear_gemm = 2 * 8 * 400 * 5
    assert flops == 2 * conv_gemm + 3 * linear_gemm
    assert nbytes == 2 * 2 * 8 * 4 * 10 * 10 * 4  # the pool's float32 input and output, each way


@pytest.mark.gpu
@pytest.mark.parametrize("section", SECTIONS)
def test_sections_on_cuda_at_tiny_sizes(section: str) -> None:
    device = backend.parse_device("cuda")
    with_torch = bench_common.torch_on(device) is not None
    rows = SECTIONS[section](False, device=device, tiny=True)
    check_rows(section, rows, with_torch)
    if section == "machine":
        assert rows[0]["what"].startswith("cupy float32 GEMM")
    if section == "models":
        assert not any("RSS" in r["model"] for r in rows)
    if section == "optim":
        assert {"ours cuda", "ours reference"} <= {r["impl"] for r in rows}
    assert "gpu" in bench_common.environment(device)
