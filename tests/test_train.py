"""The training loop and the CLI, end to end on small subsets of the real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinygrad_adam import checkpoint, cli, train, tuned
from tinygrad_adam.tensor import Tensor


def run_cli(*args: str) -> int:
    return cli.main([str(a) for a in args])


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.data("mnist")
def test_train_writes_metrics_config_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run_cli("train", "--model", "logreg", "--dataset", "mnist", "--epochs", 2, "--limit", 600,
                   "--log-every", 2, "--no-progress", "--out", out) == 0
    metrics = read_jsonl(out / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert metrics[1]["iteration"] == 2 * 5  # ceil(600 / 128) batches per epoch
    for key in ("train_loss", "test_loss", "test_accuracy", "seconds"):
        assert all(np.isfinite(m[key]) for m in metrics), key
    assert metrics[1]["train_loss"] < metrics[0]["train_loss"]
    config = json.loads((out / "config.json").read_text())
    assert config["lr_schedule"] == "inv-sqrt" and config["weight_decay"] == 1e-4
    assert config["lr"] == tuned.lookup("logreg", "mnist", "adam").get("lr", train.DEFAULT_LR["adam"])
    # every 2 iterations and at the end of each epoch of 5: the mean loss since the last point
    assert [s["iteration"] for s in read_jsonl(out / "steps.jsonl")] == [2, 4, 5, 6, 8, 10]
    state = checkpoint.load(out / "checkpoint.npz")
    assert state["epoch"] == 2 and state["iteration"] == 10
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("done: logreg on mnist with adam, 2 epochs") and "test accuracy" in summary


@pytest.mark.data("mnist")
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_resume_equals_uninterrupted_run(tmp_path: Path, device: str) -> None:
    """MLP with dropout and temporal averaging: RNG, optimizer, average and data order all resume (on a GPU too,
    where the dropout generator restarts per epoch because cupy's cannot be saved)."""
    common = ["train", "--model", "mlp", "--limit", 192, "--batch-size", 64, "--no-progress",
              "--temporal-average", 0.9, "--seed", 3, "--device", device]
    assert run_cli(*common, "--epochs", 3, "--out", tmp_path / "straight") == 0
    assert run_cli(*common, "--epochs", 1, "--out", tmp_path / "split") == 0
    assert run_cli(*common, "--epochs", 3, "--out", tmp_path / "split", "--resume") == 0
    a = checkpoint.load(tmp_path / "straight" / "checkpoint.npz")
    b = checkpoint.load(tmp_path / "split" / "checkpoint.npz")
    assert a["iteration"] == b["iteration"] == 9
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key], b["model"][key], err_msg=key)
    ma, mb = read_jsonl(tmp_path / "straight" / "metrics.jsonl"), read_jsonl(tmp_path / "split" / "metrics.jsonl")
    assert [m["train_loss"] for m in ma] == [m["train_loss"] for m in mb]
    assert [m["test_loss"] for m in ma] == [m["test_loss"] for m in mb]


EXPECTED_CLASS = {"adam": "Adam", "amsgrad": "Adam", "adamw": "AdamW", "adamax": "Adamax", "nadam": "NAdam",
                  "sgd": "SGD", "nesterov": "SGD", "adagrad": "Adagrad", "rmsprop": "RMSprop", "adadelta": "Adadelta"}


@pytest.mark.parametrize("name", train.OPTIMIZERS)
def test_every_optimizer_name_builds_its_class_with_the_config(name: str) -> None:
    cfg = train.Config(optimizer=name, lr=0.05, weight_decay=0.01, betas=(0.8, 0.99))
    opt = train.build_optimizer(cfg, [Tensor(np.zeros(3), requires_grad=True)])
    group = opt.param_groups[0]
    assert type(opt).__name__ == EXPECTED_CLASS[name] and group["lr"] == 0.05 and group["weight_decay"] == 0.01
    assert group.get("amsgrad", False) == (name == "amsgrad") and group.get("nesterov", False) == (name == "nesterov")
    if "betas" in group:
        assert group["betas"] == (0.8, 0.99)
    assert name in train.DEFAULT_LR


@pytest.mark.data("mnist")
def test_nan_loss_stops_with_epoch_and_iteration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = train.Config(model="logreg", epochs=3, limit=256, batch_size=64, out=str(tmp_path), progress=False)
    run = train.Run(cfg, log=lambda s: None)
    real = train.batch_loss
    calls = {"n": 0}

    def poisoned(model, x, y):
        calls["n"] += 1
        loss, logits = real(model, x, y)
        return (loss * Tensor(np.float32("nan")) if calls["n"] == 6 else loss), logits

    monkeypatch.setattr(train, "batch_loss", poisoned)
    with pytest.raises(train.TrainingDiverged, match=r"nan at epoch 2, iteration 6; the last good checkpoint"):
        run.fit()
    assert checkpoint.load(tmp_path / "checkpoint.npz")["epoch"] == 1  # epoch 1's checkpoint is kept


@pytest.mark.parametrize(("args", "message"), [
    (["train", "--model", "resnet"], "invalid choice: 'resnet'"),
    (["train", "--model", "cnn", "--dataset", "imdb"], "works with --model logreg only"),
    (["train", "--lr", "-1"], "must be finite and >= 0, got -1"),
    (["train", "--dropout", "1.5", "--limit", "10"], "dropout must be in [0, 1), got 1.5"),
    (["train", "--epochs", "0"], "must be >= 1, got 0"),
    (["train", "--device", "tpu", "--limit", "10"], "unknown device 'tpu'"),
    (["compare", "--experiment", "mnist-logreg", "--optimizers", "adam,lbfgs"],
     "unknown optimizer(s) or curve(s) lbfgs"),
    (["plot", "/nonexistent/run"], "no run directory at /nonexistent/run"),
])
def test_bad_arguments_exit_2_with_message(args: list[str], message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        run_cli(*args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_data_is_a_clear_cli_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TINYGRAD_ADAM_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TINYGRAD_ADAM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as e:
        run_cli("train", "--limit", 10, "--out", tmp_path / "run")
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and str(tmp_path / "empty") in err


@pytest.mark.data("mnist")
def test_compare_writes_plot_and_table(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    assert run_cli("compare", "--experiment", "mnist-logreg", "--optimizers", "adam,adagrad", "--epochs", 1,
                   "--limit", 300, "--log-every", 1, "--no-progress", "--out", out) == 0
    assert (out / "mnist-logreg.png").stat().st_size > 5000
    table = (out / "results.md").read_text()
    assert "| Adam |" in table and "| AdaGrad |" in table
    # same seed: both optimizers start from the same weights and see the same first batch
    first = [read_jsonl(out / o / "seed0" / "steps.jsonl")[0]["train_loss"] for o in ("adam", "adagrad")]
    assert all(np.isfinite(first))


@pytest.mark.data("mnist")
def test_bias_correction_quick_sweep(tmp_path: Path) -> None:
    out = tmp_path / "bc"
    assert run_cli("bias-correction", "--quick", "--limit", 100, "--no-progress", "--out", out) == 0
    rows = json.loads((out / "sweep.json").read_text())
    assert len(rows) == 2 * 3 * 3 * 2
    assert (out / "bias_correction.png").stat().st_size > 5000
    assert "| 0.9 | 0.9999 |" in (out / "results.md").read_text()


@pytest.mark.data("mnist")
def test_plot_command_writes_pngs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run_cli("train", "--model", "mlp", "--epochs", 1, "--limit", 300, "--log-every", 1,
                   "--inspect-every", 1, "--no-progress", "--out", out) == 0
    internals = read_jsonl(out / "internals.jsonl")
    assert [r["iteration"] for r in internals] == [1, 2, 3]
    first = internals[0]["params"]["net.6.bias"]  # the output bias: every element has a nonzero gradient
    assert first["t"] == 1 and first["update_over_lr_mean"] == pytest.approx(1.0, abs=1e-3)  # step 1 moves by lr
    assert run_cli("plot", out) == 0
    assert (out / "curves.png").stat().st_size > 5000
    assert (out / "internals.png").stat().st_size > 5000
    (tmp_path / "notarun").mkdir()
    with pytest.raises(SystemExit):
        run_cli("plot", tmp_path / "notarun")
    assert "has no metrics.jsonl" in capsys.readouterr().err


@pytest.mark.data("imdb")
def test_imdb_logreg_trains(tmp_path: Path) -> None:
    assert run_cli("train", "--model", "logreg", "--dataset", "imdb", "--epochs", 1, "--limit", 2000,
                   "--no-progress", "--out", tmp_path / "imdb") == 0
    m = read_jsonl(tmp_path / "imdb" / "metrics.jsonl")[0]
    assert m["test_accuracy"] > 0.5 and np.isfinite(m["train_loss"])


@pytest.mark.data("mnist")
def test_missing_matplotlib_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # import matplotlib now fails
    assert run_cli("compare", "--experiment", "mnist-logreg", "--optimizers", "adam", "--epochs", 1,
                   "--limit", 200, "--no-progress", "--out", out) == 1
    assert 'pip install "tinygrad-adam[examples]"' in capsys.readouterr().err
    assert "| Adam |" in (out / "results.md").read_text()  # the runs and the table are still written
