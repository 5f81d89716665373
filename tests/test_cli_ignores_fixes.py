"""Options the command line used to accept and then ignore: --momentum outside SGD-Nesterov, --channels outside the
CNN, --imdb-features outside IMDB, --flush-denormal on a GPU run, options every chosen curve fixes itself (compare,
tune), --temporal-average and a needless --momenta in tune; and train's tuned rate taken from a file searched under
other settings (now a warning, and config.json's "lr_source" says where the lr came from)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinygrad_adam import cli, experiments, tune, tuned
from tinygrad_adam.tensor import Tensor
from tinygrad_adam.train import OPTIMIZERS, USED_BY, Config, build_optimizer, unused_options

NOT_NESTEROV = [o for o in OPTIMIZERS if o != "nesterov"]


class _Stop(Exception):
    pass


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The one error line of a command line refused with argparse's usage (exit 2)."""
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


def _step(name: str, momentum: float) -> np.ndarray:
    """The weights after three steps of ``name`` built from a config with ``momentum``."""
    w = Tensor(np.array([1.0, -2.0, 3.0], np.float32), requires_grad=True)
    opt = build_optimizer(Config(optimizer=name, momentum=momentum).resolved(), [w])
    for _ in range(3):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    return w.numpy().copy()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_momentum_check_agrees_with_build_optimizer(name: str) -> None:
    # the refusal is right exactly where the update ignores the value (plain sgd too: it runs without momentum)
    reads = not np.array_equal(_step(name, 0.5), _step(name, 0.9))
    assert reads == USED_BY["momentum"][0](Config(optimizer=name))
    assert (unused_options([Config(optimizer=name)], {"momentum"}) == []) == reads


@pytest.mark.parametrize("name", NOT_NESTEROV)
def test_train_refuses_momentum_for_an_optimizer_without_it(name: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    line = _error(capsys, ["train", "--optimizer", name, "--momentum", "0.9", "--epochs", "1", "--out", str(out)])
    assert "--momentum" in line and f"with {name}" in line
    assert not out.exists()  # refused before a directory is made


@pytest.mark.parametrize("argv, flag", [
    (["--model", "mlp", "--channels", "8,8,8"], "--channels"),
    (["--model", "logreg", "--imdb-features", "counts"], "--imdb-features"),
    (["--model", "cnn", "--dataset", "mnist", "--imdb-features", "binary"], "--imdb-features"),  # given = default
    (["--device", "cuda", "--flush-denormal"], "--flush-denormal"),
])
def test_train_refuses_options_the_run_does_not_read(argv: list[str], flag: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(capsys, ["train", *argv, "--epochs", "1", "--out", str(tmp_path / "run")])
    assert line.split("error: ")[1].startswith(flag), line


def test_options_are_accepted_where_a_run_reads_them() -> None:
    runs = [Config(model="cnn", dataset="mnist", optimizer="nesterov"),
            Config(model="logreg", dataset="imdb", optimizer="nesterov")]
    for cfg in runs:
        assert unused_options([cfg], {"dropout", "lr_schedule", "weight_decay", "temporal_average", "limit"}) == []
    assert unused_options(runs, {"momentum", "channels", "imdb_features", "flush_denormal"}) == []
    assert unused_options([runs[0]], {"imdb_features"}) != []
    assert unused_options([runs[1]], {"channels"}) != []
    assert unused_options([Config(device="cuda:1")], {"flush_denormal"}) != []


def _train_until_run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str],
                     tmp_path: Path) -> tuple[str | None, str]:
    """(lr_source given to Run, stderr) of ``train argv``, stopped where the data would load."""
    seen = {}

    def stop(cfg: Config, command: str | None = None, lr_source: str | None = None) -> None:
        seen["lr_source"] = lr_source
        raise _Stop

    monkeypatch.setattr(cli, "Run", stop)
    with pytest.raises(_Stop):
        cli.main(["train", *argv, "--epochs", "1", "--out", str(tmp_path / "run")])
    return seen["lr_source"], capsys.readouterr().err


def test_train_warns_when_the_tuned_rate_was_searched_under_another_schedule(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    found = tuned.find("logreg", "mnist", "adagrad")
    assert found is not None and found[2]["chosen"][found[1]]["lr_schedule"] == "constant"
    source, err = _train_until_run(monkeypatch, capsys, ["--model", "logreg", "--optimizer", "adagrad",
                                                         "--lr-schedule", "inv-sqrt"], tmp_path)
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "lr schedule constant, here inv-sqrt" in warnings[0], err
    assert source.startswith(f"tuned: {found[0].name}") and "tuned under other settings" in source
    source, err = _train_until_run(monkeypatch, capsys, ["--model", "logreg", "--optimizer", "adagrad"], tmp_path)
    assert "warning" not in err and source.startswith("tuned: ") and "other settings" not in source
    source, err = _train_until_run(monkeypatch, capsys, ["--model", "logreg", "--optimizer", "adagrad",
                                                         "--lr-schedule", "inv-sqrt", "--lr", "0.1"], tmp_path)
    assert "warning" not in err and source == "given (--lr)"
    source, _ = _train_until_run(monkeypatch, capsys, ["--model", "logreg", "--optimizer", "sgd"], tmp_path)
    assert source.startswith("hand-searched fallback")  # no tuned file has plain SGD
    source, _ = _train_until_run(monkeypatch, capsys, ["--model", "vae", "--optimizer", "sgd"], tmp_path)
    assert source.startswith("default")


def test_lookup_reads_the_entry_find_names() -> None:
    for model, dataset, name in [("logreg", "mnist", "adagrad"), ("mlp", "mnist", "nesterov"),
                                 ("vae", "mnist", "adam")]:
        found = tuned.find(model, dataset, name)
        entry = found[2]["chosen"][found[1]] if found else {}
        assert not entry.get("overrides")  # a plain curve: Figure 2b's L2 run is not mnist-mlp's nesterov
        assert tuned.lookup(model, dataset, name) == {k: entry[k] for k in ("lr", "momentum") if entry.get(k)}


@pytest.mark.data("mnist")
def test_lr_source_is_recorded_and_an_adam_run_still_resumes(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    small = ["--model", "logreg", "--limit", "40", "--no-progress", "--out", str(out)]
    assert cli.main(["train", *small, "--epochs", "1", "--lr-schedule", "constant"]) == 0
    record = json.loads((out / "config.json").read_text())
    assert record["momentum"] == 0.9 and "lr schedule inv-sqrt, here constant" in record["lr_source"]
    assert "warning" in capsys.readouterr().err
    # the stored config has momentum 0.9 for adam, as every run's before: it resumes, and keeps its lr source
    assert cli.main(["train", "--resume", "--out", str(out), "--epochs", "2", "--no-progress"]) == 0
    again = json.loads((out / "config.json").read_text())
    assert again["lr_source"] == record["lr_source"] and len(again["resumed_with"]) == 1
    line = _error(capsys, ["train", "--resume", "--out", str(out), "--epochs", "3", "--momentum", "0.9"])
    assert "--momentum" in line  # given with the run's own value, but still no effect on adam


def _compare_error(capsys: pytest.CaptureFixture[str], tmp_path: Path, experiment: str, *argv: str) -> str:
    return _error(capsys, ["compare", "--experiment", experiment, *argv, "--out", str(tmp_path / "cmp")])


def test_compare_refuses_options_no_chosen_curve_reads(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _compare_error(capsys, tmp_path, "mnist-logreg", "--optimizers", "adam,adagrad", "--momentum", "0.5")
    assert "--momentum" in line
    line = _compare_error(capsys, tmp_path, "mnist-mlp-deterministic", "--dropout", "0.3")
    assert "--dropout is fixed by every curve" in line
    line = _compare_error(capsys, tmp_path, "mnist-cnn", "--optimizers", "adam-nodropout,nesterov-nodropout",
                          "--input-dropout", "0.1")
    assert "--input-dropout is fixed by every curve" in line
    line = _compare_error(capsys, tmp_path, "mnist-mlp", "--channels", "8,8,8")
    assert "--channels" in line
    assert not (tmp_path / "cmp").exists()


def test_compare_accepts_options_some_chosen_curve_reads() -> None:
    exp = experiments.EXPERIMENTS["mnist-cnn"]
    base = Config(momentum=0.5, dropout=0.3, input_dropout=0.1, channels=(8, 8, 8))
    assert experiments.ignored_options(exp, exp.curves, base, {"momentum", "dropout", "input_dropout", "channels"}) \
        == []
    exp = experiments.EXPERIMENTS["mnist-mlp-deterministic"]
    assert experiments.ignored_options(exp, exp.curves, Config(), {"lr_schedule", "batch_size"}) == []


def _tune(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base: Config, optimizers: list[str] | None,
          momenta: tuple[float, ...] = tune.MOMENTA) -> None:
    def stop(*args: object, **kwargs: object) -> None:
        raise _Stop

    monkeypatch.setattr(tune, "search", stop)  # where the first trial would start
    tune.tune("mnist-logreg", optimizers, base, tmp_path / "trials", tuned_file=tmp_path / "t.json",
              momenta=momenta)


def test_tune_refuses_a_temporal_average_and_needless_momenta(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="--temporal-average"):
        _tune(tmp_path, monkeypatch, Config(temporal_average=0.99), None)
    with pytest.raises(ValueError, match="--momenta"):
        _tune(tmp_path, monkeypatch, Config(), ["adam", "adagrad"], momenta=(0.9,))
    with pytest.raises(_Stop):  # a chosen curve searches momenta: accepted
        _tune(tmp_path, monkeypatch, Config(), ["adam", "nesterov"], momenta=(0.9,))
    with pytest.raises(_Stop):  # the default momenta, whatever the curves
        _tune(tmp_path, monkeypatch, Config(), ["adam"])


def test_tune_cli_refuses_imdb_features_on_mnist(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = _error(capsys, ["tune", "--experiment", "mnist-logreg", "--imdb-features", "counts",
                           "--tuned-file", str(tmp_path / "t.json"), "--out", str(tmp_path / "trials")])
    assert "--imdb-features" in line


def test_vae_example_help_states_its_default_epochs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        experiments.main_bias_correction(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default: 1;" in text and "10 and after 100" in text and "(the paper: 100)" not in text
