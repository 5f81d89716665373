"""Progress: plain lines every few seconds when stderr is not a terminal, a tqdm bar with the loss on one."""

from __future__ import annotations

import io
import re
import time

import pytest

from tinygrad_adam.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGRAD_ADAM_PROGRESS_EVERY", "0")
    stream = io.StringIO()
    with Progress(4, "epoch 1/2", stream=stream) as bar:
        for i in range(4):
            bar.update(loss=1.0 / (i + 1))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    assert re.fullmatch(r"epoch 1/2: 2/4 it \(50%\), loss 0\.5000, [\d.]+ it/s, ETA \d+:\d\d", lines[1]), lines
    assert lines[3].startswith("epoch 1/2: 4/4 it (100%), loss 0.2500,") and lines[3].endswith("ETA 0:00")


def test_plain_lines_wait_for_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGRAD_ADAM_PROGRESS_EVERY", "3600")
    stream = io.StringIO()
    with Progress(1000, "epoch 1/1", stream=stream) as bar:
        for _ in range(1000):
            bar.update(loss=0.1)
    assert stream.getvalue() == ""
    bytes_line = Progress(2_000_000, "x.gz", unit="B", stream=stream)
    bytes_line.update(500_000)
    assert re.fullmatch(r"x\.gz: 0\.5 MB/2\.0 MB \(25%\), [\d.]+ MB/s, ETA \d+:\d\d", bytes_line.line())


def test_disabled_prints_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGRAD_ADAM_PROGRESS_EVERY", "0")
    stream = Terminal()
    with Progress(3, "epoch 1/1", enabled=False, stream=stream) as bar:
        bar.update(loss=1.0)
    assert stream.getvalue() == ""


def test_the_bar_on_a_terminal_shows_the_running_loss() -> None:
    pytest.importorskip("tqdm")
    stream = Terminal()
    with Progress(10, "epoch 3/5", stream=stream) as bar:
        bar.update(loss=2.0)
        time.sleep(0.6)
        bar.update(loss=1.23456)
        time.sleep(0.2)
        bar.update(loss=1.5)
    out = stream.getvalue()
    assert "epoch 3/5" in out and "loss=1.2346" in out and "/10" in out, out
