"""The training cost of a run with weight decay is the objective its optimizer minimises: the minibatch loss plus
the L2 term weight_decay / 2 * ||theta||^2 (Figures 1 and 2b: "L2-regularised"), logged as ``train_l2``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import optim
from tinygrad_adam.experiments import results_table, run_curve
from tinygrad_adam.train import Config, Run, l2_penalty, training_cost


def test_l2_penalty_is_half_the_decay_times_the_squared_norm_per_group() -> None:
    a = tg.tensor(np.array([[1.0, -2.0], [3.0, 0.5]], dtype=np.float32), requires_grad=True)
    b = tg.tensor(np.array([4.0], dtype=np.float32), requires_grad=True)
    opt = optim.SGD([{"params": [a], "weight_decay": 0.1}, {"params": [b]}], lr=0.1)
    assert l2_penalty(opt) == pytest.approx(0.05 * (1 + 4 + 9 + 0.25))
    # its gradient is what the optimizer adds: one SGD step on a zero loss moves a by lr * weight_decay * a
    a.grad, b.grad = tg.Tensor(np.zeros((2, 2), np.float32)), tg.Tensor(np.zeros(1, np.float32))
    before = a._data.copy()
    opt.step()
    np.testing.assert_allclose(a.data, before * (1 - 0.1 * 0.1), rtol=1e-6)
    assert training_cost({"train_loss": 0.25, "train_l2": 0.5}) == 0.75
    assert training_cost({"train_loss": 0.25}) == 0.25


def run(tmp_path: Path, **fields: object) -> Path:
    cfg = Config(model="logreg", dataset="mnist", epochs=1, limit=256, log_every=1, progress=False,
                 out=str(tmp_path / "run"), **fields)
    Run(cfg, log=lambda s: None).fit()
    return tmp_path / "run"


@pytest.mark.data("mnist")
def test_a_run_with_weight_decay_logs_its_l2_term_and_figures_add_it(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from tinygrad_adam import train

    seen: list[float] = []  # the penalty of the weights each step starts from, as the optimizer sees them
    step = train.optim.Adam.step
    monkeypatch.setattr(train.optim.Adam, "step", lambda self: (seen.append(l2_penalty(self)), step(self))[1])
    folder = run(tmp_path, optimizer="adam", weight_decay=1e-3)
    steps = [json.loads(line) for line in (folder / "steps.jsonl").read_text().splitlines()]
    assert [s["train_l2"] for s in steps] == pytest.approx(seen, rel=1e-6)  # log_every 1: one point per step
    epoch = json.loads((folder / "metrics.jsonl").read_text().splitlines()[-1])
    assert epoch["train_l2"] == pytest.approx(np.mean(seen))
    curve = run_curve(folder)
    assert curve is not None
    np.testing.assert_allclose(curve["loss"], [s["train_loss"] + s["train_l2"] for s in steps])
    config = json.loads((folder / "config.json").read_text())
    table = results_table("mnist-logreg", {"adam": {"label": "Adam", "config": config, "dirs": [str(folder)],
                                                    "runs": [epoch]}})
    assert f"| {epoch['train_loss'] + epoch['train_l2']:.4f} |" in table


@pytest.mark.data("mnist")
@pytest.mark.parametrize("fields", [{"weight_decay": 0.0}, {"optimizer": "adamw", "weight_decay": 1e-2}])
def test_no_l2_term_without_coupled_weight_decay(tmp_path: Path, fields: dict[str, object]) -> None:
    folder = run(tmp_path, **fields)  # AdamW's decoupled decay minimises no penalty
    records = [json.loads(line) for line in (folder / "steps.jsonl").read_text().splitlines()]
    records.append(json.loads((folder / "metrics.jsonl").read_text()))
    assert not any("train_l2" in r for r in records)
