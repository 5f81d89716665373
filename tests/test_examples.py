"""The example scripts write under runs/ unless asked to update the committed figures."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FIGURES = EXAMPLES / "figures"
KEYS = ("update_over_lr_mean", "update_over_lr_max", "snr_median", "bias_correction1", "bias_correction2", "u_mean",
        "effective_step_median")


def fake_train(make_opt: object, iterations: int, loss_scale: float = 1.0) -> list[dict]:
    """Reports shaped like Inspector's, without data or training."""
    layer = {k: 0.5 for k in KEYS}
    return [{"loss": 1.0, "params": {"net.0.weight": layer, "net.3.weight": layer}} for _ in range(iterations)]


@pytest.fixture
def adam_internals(monkeypatch: pytest.MonkeyPatch) -> object:
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("adam_internals", EXAMPLES / "adam_internals.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "train", fake_train)
    return module


def test_adam_internals_writes_under_runs_not_the_committed_figures(adam_internals: object, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    committed = {p.name: p.stat().st_mtime_ns for p in FIGURES.glob("internals_*.png")}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["adam_internals.py", "--quick"])
    adam_internals.main()
    written = sorted(p.name for p in (tmp_path / "runs" / "adam_internals").iterdir())
    assert written == ["internals_adamax.png", "internals_bias_correction.png", "internals_first_steps.png",
                       "internals_snr.png"]
    assert {p.name: p.stat().st_mtime_ns for p in FIGURES.glob("internals_*.png")} == committed


def test_adam_internals_updates_the_figures_only_when_asked(adam_internals: object, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    saved: list[Path] = []
    monkeypatch.setattr(adam_internals, "finish", lambda fig, axes, path: saved.append(path))
    monkeypatch.setattr(sys, "argv", ["adam_internals.py", "--quick", "--update-figures"])
    adam_internals.main()
    assert {p.parent for p in saved} == {FIGURES} and len(saved) == 4
