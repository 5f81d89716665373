"""The reproduction's settings (section 6 of the paper): each fixed setting, tune -> compare, seeds, resume,
Figure 4's diverged runs, and CIFAR-10 on a small synthetic archive in the official layout."""

from __future__ import annotations

import hashlib
import io
import json
import math
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tinygrad_adam import cli, data, nn, plots, train, tuned
from tinygrad_adam.data import cifar10
from tinygrad_adam.experiments import EXPERIMENTS, curve_series, label, read_records, select_curves, sweep_table
from tinygrad_adam.tensor import Tensor


def run_cli(*args: object) -> int:
    return cli.main([str(a) for a in args])


# ---------------------------------------------------------------- fixed settings
def cnn_config(**kw: object) -> train.Config:
    return train.Config(model="cnn", channels=(2, 2, 2), **kw).resolved()


def test_cnn_honours_dropout_and_input_dropout() -> None:
    split = data.Split(np.zeros((4, 1, 28, 28), np.float32), np.zeros(4, np.int64))
    rates = lambda m: [layer.p for layer in m.modules() if isinstance(layer, nn.Dropout)]  # noqa: E731
    assert rates(train.build_model(cnn_config(), split)) == [0.2, 0.5]  # the paper's input and FC dropout
    assert rates(train.build_model(cnn_config(dropout=0.3, input_dropout=0.1), split)) == [0.1, 0.3]
    model = train.build_model(cnn_config(dropout=0.0, input_dropout=0.0), split)
    assert rates(model) == []
    x = Tensor(np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32))
    model.train()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())  # no dropout left: training is deterministic
    noisy = train.build_model(cnn_config(dropout=0.5, input_dropout=0.0), split)
    assert not np.array_equal(noisy(x).numpy(), noisy(x).numpy())


@pytest.mark.data("mnist")
def test_cli_dropout_reaches_the_cnn_and_its_config(tmp_path: Path) -> None:
    out = tmp_path / "cnn"
    assert run_cli("train", "--model", "cnn", "--channels", "2,2,2", "--dropout", 0, "--input-dropout", 0.1,
                   "--epochs", 1, "--limit", 64, "--no-progress", "--out", out) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["dropout"] == 0.0 and config["input_dropout"] == 0.1
    with pytest.raises(SystemExit):
        run_cli("train", "--model", "mlp", "--input-dropout", 0.2, "--limit", 10, "--out", tmp_path / "mlp")


@pytest.mark.data("mnist")
def test_section_6_1_decays_all_but_adagrad(tmp_path: Path) -> None:
    schedule = {o: train.Config(model="logreg", optimizer=o).resolved().lr_schedule
                for o in ("adam", "nesterov", "rmsprop", "adagrad")}
    assert schedule == {"adam": "inv-sqrt", "nesterov": "inv-sqrt", "rmsprop": "inv-sqrt", "adagrad": "constant"}
    other = train.Config(model="logreg", optimizer="adagrad", lr_schedule="inv-sqrt").resolved()
    assert other.lr_schedule == "inv-sqrt"  # the other reading, by flag
    assert train.Config(model="mlp", optimizer="adam").resolved().lr_schedule == "constant"  # 6.1 only
    run = train.Run(train.Config(model="logreg", optimizer="adagrad", lr=0.03, epochs=1, limit=256,
                                 out=str(tmp_path), progress=False), log=lambda s: None)
    run.fit()
    assert run.scheduler is None and run.optimizer.param_groups[0]["lr"] == 0.03  # undecayed after 2 steps


def test_logreg_rates_outside_the_tuned_files_suit_the_decay() -> None:
    """Optimizers no tuned file covers keep the hand-searched rates found under alpha/sqrt(t) (FALLBACK_LR), not
    DEFAULT_LR, which that decay makes far too small; a tuned value, and an explicit lr, come first."""
    lr = {o: train.Config(model="logreg", optimizer=o).resolved().lr for o in ("amsgrad", "adamw", "adamax", "sgd")}
    assert lr == {"amsgrad": 0.1, "adamw": 0.1, "adamax": 0.2, "sgd": 0.5}
    assert train.Config(model="logreg", dataset="imdb", optimizer="amsgrad").resolved().lr == 0.01
    committed = tuned.read(tuned.path_of("mnist-logreg"))["chosen"]
    assert train.Config(model="logreg", optimizer="nesterov").resolved().lr == committed["nesterov"]["lr"]
    assert train.Config(model="logreg", optimizer="sgd", lr=0.02).resolved().lr == 0.02
    # the fallback belongs to the schedule it was found under: AdaGrad on IMDB (constant) takes the tuned file's
    # rate, and the MLP (no decay, no tuned file) the default
    imdb_adagrad = train.Config(model="logreg", dataset="imdb", optimizer="adagrad").resolved()
    imdb_tuned = tuned.read(tuned.path_of("imdb-logreg"))["chosen"]["adagrad"]
    assert imdb_adagrad.lr_schedule == "constant" == imdb_tuned["lr_schedule"] and imdb_adagrad.lr == imdb_tuned["lr"]
    assert train.Config(model="mlp", optimizer="amsgrad").resolved().lr == train.DEFAULT_LR["amsgrad"]


def test_imdb_features_option() -> None:
    assert train.Config(model="logreg", dataset="imdb", imdb_features="counts").resolved().imdb_features == "counts"
    with pytest.raises(ValueError, match="unknown IMDB features 'tfidf'"):
        train.Config(model="logreg", dataset="imdb", imdb_features="tfidf").resolved()


# ---------------------------------------------------------------- tune -> compare, seeds, resume
@pytest.mark.data("mnist")
def test_tune_writes_a_file_that_compare_uses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tuned_file, trials = tmp_path / "mnist-logreg.json", tmp_path / "trials"
    args = ["tune", "--experiment", "mnist-logreg", "--optimizers", "adam,nesterov", "--epochs", 1, "--limit", 256,
            "--lrs", "1e-2,1e-1", "--momenta", "0.5,0.9", "--max-widen", 1, "--tuned-file", tuned_file, "--out", trials]
    assert run_cli(*args) == 0
    content = json.loads(tuned_file.read_text())
    assert content["budget"]["epochs"] == 1 and content["budget"]["limit"] == 256
    assert set(content["chosen"]) == {"adam", "nesterov"}
    for key, chosen in content["chosen"].items():
        rows = content["trials"][key]
        best = min(rows, key=lambda r: r["score"])
        assert (chosen["lr"], chosen["momentum"], chosen["score"]) == (best["lr"], best["momentum"], best["score"])
        assert {r["log10_lr"] for r in rows} >= {-2.0, -1.0} and len(rows) >= 3  # widened once: best was on an edge
    assert {r["momentum"] for r in content["trials"]["nesterov"]} == {0.5, 0.9}
    assert {r["momentum"] for r in content["trials"]["adam"]} == {None}
    assert content["chosen"]["adam"]["lr_schedule"] == "inv-sqrt"

    out = tmp_path / "cmp"
    assert run_cli("compare", "--experiment", "mnist-logreg", "--optimizers", "adam,nesterov", "--epochs", 1,
                   "--limit", 256, "--log-every", 1, "--no-progress", "--tuned-file", tuned_file, "--out", out) == 0
    for key in ("adam", "nesterov"):
        config = json.loads((out / key / "seed0" / "config.json").read_text())
        assert config["lr"] == content["chosen"][key]["lr"]
        if key == "nesterov":
            assert config["momentum"] == content["chosen"][key]["momentum"]
    assert tuned_file.name in (out / "results.md").read_text()
    # a curve the file has no values for is refused, not run at the default rate under a "tuned" caption
    with pytest.raises(SystemExit):
        run_cli("compare", "--experiment", "mnist-logreg", "--optimizers", "adagrad", "--epochs", 1, "--limit", 256,
                "--no-progress", "--tuned-file", tuned_file, "--out", tmp_path / "cmp2")
    assert "has no tuned values for adagrad" in capsys.readouterr().err

    # a second search refuses to replace the file, and with --overwrite reads its trials back instead of training
    with pytest.raises(SystemExit):
        run_cli(*args)
    assert "pass --overwrite" in capsys.readouterr().err
    stamps = {p: p.stat().st_mtime_ns for p in trials.rglob("checkpoint.npz")}
    assert run_cli(*args, "--overwrite") == 0
    assert {p: p.stat().st_mtime_ns for p in trials.rglob("checkpoint.npz")} == stamps
    assert json.loads(tuned_file.read_text())["chosen"] == content["chosen"]


@pytest.mark.data("mnist")
def test_compare_seeds_band_table_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    common = ["compare", "--experiment", "mnist-logreg", "--optimizers", "adam,adagrad", "--limit", 300,
              "--log-every", 1, "--no-progress", "--seeds", 2, "--lr", 0.05, "--out", out]
    assert run_cli(*common, "--epochs", 1) == 0
    table = (out / "results.md").read_text()
    assert "| Adam | 0.05 |" in table and "| AdaGrad | 0.05 |" in table and " ± " in table
    assert "alpha/sqrt(t): Adam; constant alpha: AdaGrad" in table
    assert (out / "mnist-logreg.png").stat().st_size > 5000
    first = [read_records(out / "adam" / f"seed{s}" / "steps.jsonl", "iteration")[0]["train_loss"] for s in (0, 1)]
    assert first[0] != first[1]  # two seeds: two initialisations
    # resume with more epochs continues each run from its checkpoint; a third call trains nothing
    assert run_cli(*common, "--epochs", 2, "--resume") == 0
    metrics = read_records(out / "adam" / "seed1" / "metrics.jsonl", "epoch")
    assert [m["epoch"] for m in metrics] == [1, 2] and metrics[1]["iteration"] == 2 * metrics[0]["iteration"]
    stamp = (out / "adam" / "seed1" / "checkpoint.npz").stat().st_mtime_ns
    assert run_cli(*common, "--epochs", 2, "--resume") == 0
    assert (out / "adam" / "seed1" / "checkpoint.npz").stat().st_mtime_ns == stamp
    with pytest.raises(SystemExit):  # another lr in the same directory: refused, not mixed into the old runs
        run_cli(*[a if a != 0.05 else 0.01 for a in common], "--epochs", 3, "--resume")
    assert "was trained with other settings (lr 0.05, now 0.01)" in capsys.readouterr().err
    results = {k: {"label": k, "config": {"optimizer": k}, "dirs": [str(out / k / f"seed{s}") for s in (0, 1)],
                   "runs": [{}, {}]} for k in ("adam", "adagrad")}
    for s in curve_series(results):
        assert s["seeds"] == 2 and np.all(s["lo"] <= s["mean"]) and np.all(s["mean"] <= s["hi"])
        assert s["epoch"][-1] == pytest.approx(2.0) and np.all(np.diff(s["seconds"]) > 0)


def test_figure_3_has_six_curves_in_the_paper_s_names() -> None:
    exp = EXPERIMENTS["cifar10-cnn"]
    labels = []
    for curve in exp.curves:
        cfg = train.Config(model=exp.model, optimizer=curve.optimizer, **dict(curve.overrides)).resolved()
        labels.append(label(cfg))
    assert labels == ["AdaGrad", "AdaGrad+dropout", "SGDNesterov", "SGDNesterov+dropout", "Adam", "Adam+dropout"]
    assert exp.panels == (("epoch", 3), ("epoch", None))
    assert dict(EXPERIMENTS["mnist-mlp-deterministic"].overrides) == {"dropout": 0.0, "weight_decay": 1e-4}


def test_curves_are_chosen_by_optimizer_key_or_dropout_name() -> None:
    exp = EXPERIMENTS["mnist-cnn"]
    keys = lambda names: [c.key for c in select_curves(exp, names)]  # noqa: E731
    assert keys(["nesterov"]) == ["nesterov-nodropout", "nesterov"]  # an optimizer: both of its curves
    assert keys(["nesterov-dropout"]) == ["nesterov"]  # only the curve with dropout
    assert keys(["adam-nodropout", "adagrad-dropout"]) == ["adagrad", "adam-nodropout"]  # in the figure's order
    assert keys(["adam", "adam-dropout"]) == ["adam-nodropout", "adam"]
    with pytest.raises(ValueError, match=r"unknown optimizer\(s\) or curve\(s\) rmsprop for Figure 3"):
        select_curves(exp, ["rmsprop"])
    with pytest.raises(ValueError, match=r"curve\(s\) adam-dropout for Figure 2 \(a\)"):  # no -nodropout twin there
        select_curves(EXPERIMENTS["mnist-mlp"], ["adam-dropout"])


def test_figure_4_diverged_runs_are_markers_not_line_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"beta1": 0.9, "beta2": 0.9999, "log10_lr": e, "bias_correction": c, "train_loss": loss}
            for c in (True, False) for e, loss in zip((-4, -3, -2, -1), (130.0, 125.0, math.inf if not c else 900.0,
                                                                          math.nan))]
    drawn = []
    real = plots.pyplot

    def spy() -> object:
        plt = real()
        original = plt.Axes.plot

        def plot(self, *args, **kw):
            drawn.append((list(args[0]), list(args[1]), args[2] if len(args) > 2 else "", kw.get("ls")))
            return original(self, *args, **kw)
        monkeypatch.setattr(plt.Axes, "plot", plot)
        return plt
    monkeypatch.setattr(plots, "pyplot", spy)
    plots.bias_correction_grid(rows, tmp_path / "f4.png", title="Figure 4: 1 epoch on 100 examples")
    lines = [d for d in drawn if "-" in d[2] and d[3] != "none"]
    markers = {(tuple(round(v) for v in d[0]), d[2]) for d in drawn if d[3] == "none" and d[0]}
    offsets = {round(v - round(v), 2) for d in drawn if d[3] == "none" for v in d[0]}
    assert offsets <= {-0.08, 0.08} and offsets  # with (left) and without (right) correction never hide each other
    for _, y, _, _ in lines:  # joined points are finite and on scale; the rest are NaN gaps
        assert [v for v in y if not math.isnan(v)] == [130.0, 125.0]
    assert ((-2, -1), "x") in markers and ((-1,), "x") in markers  # diverged (inf, NaN): crosses at the top
    assert ((-2,), "^") in markers  # finite but off the scale: a triangle
    assert (tmp_path / "f4.png").stat().st_size > 5000


# ---------------------------------------------------------------- CIFAR-10 on a synthetic archive
def synthetic_cifar(folder: Path, per_batch: int = 12, seed: int = 0) -> tuple[Path, dict[str, np.ndarray]]:
    """A cifar-10-binary.tar.gz in the official layout with ``per_batch`` random records per batch file."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    records = {}
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in (*cifar10.TRAIN_MEMBERS, cifar10.TEST_MEMBER):
            table = rng.integers(0, 256, (per_batch, cifar10.RECORD), dtype=np.uint8)
            table[:, 0] %= 10
            records[name] = table
            info = tarfile.TarInfo(name)
            info.size = table.nbytes
            tar.addfile(info, io.BytesIO(table.tobytes()))
    path = folder / "cifar10" / cifar10.ARCHIVE
    path.parent.mkdir(parents=True)
    path.write_bytes(buffer.getvalue())
    return path, records


@pytest.fixture
def fake_cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, np.ndarray]]:
    path, records = synthetic_cifar(tmp_path / "data")
    content = path.read_bytes()
    monkeypatch.setattr(cifar10, "CHECKSUM", data.files.Checksum(len(content), "md5", hashlib.md5(content).hexdigest()))
    monkeypatch.setenv("TINYGRAD_ADAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TINYGRAD_ADAM_DATA", str(tmp_path / "data"))
    return path, records


def test_cifar10_layout_labels_and_pixels(fake_cifar: tuple[Path, dict[str, np.ndarray]]) -> None:
    _, records = fake_cifar
    train_split, test_split = data.load_cifar10(whiten=False)
    assert train_split.x.shape == (60, 3, 32, 32) and test_split.x.shape == (12, 3, 32, 32)
    assert train_split.x.dtype == np.float32 and train_split.y.dtype == np.int64
    batch2 = records[cifar10.TRAIN_MEMBERS[1]]
    i = 12 + 5  # record 5 of data_batch_2
    assert train_split.y[i] == batch2[5, 0]
    assert train_split.x[i, 0, 0, 0] * 255 == pytest.approx(batch2[5, 1])  # red, row 0, column 0
    assert train_split.x[i, 1, 2, 3] * 255 == pytest.approx(batch2[5, 1 + 1024 + 2 * 32 + 3])  # green, row 2, col 3
    assert train_split.x[i, 2, 31, 31] * 255 == pytest.approx(batch2[5, 3072])  # blue, last pixel
    np.testing.assert_array_equal(test_split.y, records[cifar10.TEST_MEMBER][:, 0])


def test_cifar10_rejects_a_wrong_checksum(fake_cifar: tuple[Path, dict[str, np.ndarray]],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = fake_cifar
    good = cifar10.CHECKSUM
    monkeypatch.setattr(cifar10, "CHECKSUM", good._replace(hexdigest="0" * 32))
    with pytest.raises(data.DataCorruptError, match="md5 of the content is"):
        data.load_cifar10()
    monkeypatch.setattr(cifar10, "CHECKSUM", good)
    content = bytearray(path.read_bytes())
    content[100] ^= 1
    path.write_bytes(bytes(content))
    with pytest.raises(data.DataCorruptError):
        data.load_cifar10()
    with pytest.raises(data.DataCorruptError, match="expected 170,052,171"):  # the official size, for downloads
        monkeypatch.setattr(cifar10, "CHECKSUM", good._replace(size=170_052_171))
        cifar10.check_archive(path)


def test_cifar10_whitening_is_fit_on_the_training_set(fake_cifar: tuple[Path, dict[str, np.ndarray]]) -> None:
    raw_train, raw_test = data.load_cifar10(whiten=False)
    train_split, test_split = data.load_cifar10()
    mean, w = cifar10.zca_fit(raw_train.x.reshape(60, -1), cifar10.ZCA_EPSILON)
    np.testing.assert_allclose(train_split.x.reshape(60, -1), cifar10.zca_apply(raw_train.x.reshape(60, -1), mean, w),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(test_split.x.reshape(12, -1), cifar10.zca_apply(raw_test.x.reshape(12, -1), mean, w),
                               rtol=1e-4, atol=1e-4)
    assert np.abs(train_split.x.reshape(60, -1).mean(axis=0)).max() < 1e-4  # centred by the training mean
    assert np.abs(test_split.x.mean()) > 1e-3  # the test set is not re-centred on itself


@pytest.mark.parametrize("n", [4000, 30])
def test_zca_whitens_to_identity_covariance(n: int) -> None:
    """n > D: the covariance path; n < D: the Gram path, the same W (checked against the covariance path on
    repeated rows, which leave the covariance unchanged)."""
    rng = np.random.default_rng(1)
    d = 48
    x = (rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 3).astype(np.float32)
    mean, w = cifar10.zca_fit(x, epsilon=1e-9 if n > d else 1e-4)  # float32 data: the null space gets eps^-1/2
    white = cifar10.zca_apply(x, mean, w).astype(np.float64)
    cov = np.cov(white, rowvar=False, bias=True)
    if n > d:
        np.testing.assert_allclose(cov, np.eye(d), atol=2e-3)
        np.testing.assert_allclose(w, w.T, atol=1e-4)  # ZCA: the symmetric whitening
    else:
        eig = np.linalg.eigvalsh(cov)
        np.testing.assert_allclose(eig[-(n - 1):], 1, atol=2e-3)  # unit variance on the data's n-1 directions
        _, w_cov = cifar10.zca_fit(np.repeat(x, 3, axis=0), epsilon=1e-2)
        _, w_gram = cifar10.zca_fit(x, epsilon=1e-2)
        np.testing.assert_allclose(w_gram, w_cov, rtol=1e-3, atol=1e-3 * np.abs(w_cov).max())


def test_download_cifar10_from_a_mirror(fake_cifar: tuple[Path, dict[str, np.ndarray]], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """``tinygrad-adam download cifar10``: fetched from a mirror laid out like a data directory, verified, kept."""
    path, _ = fake_cifar
    dest = tmp_path / "downloaded"
    mirror = (tmp_path / "data").as_uri()
    assert run_cli("download", "cifar10", "--data-dir", dest, "--mirror", mirror) == 0
    assert (dest / "cifar10" / cifar10.ARCHIVE).read_bytes() == path.read_bytes()
    assert run_cli("download", "cifar10", "--data-dir", dest, "--mirror", mirror) == 0
    assert "cifar10: already in" in capsys.readouterr().out
    other = tmp_path / "other"  # a mirror serving a file with another checksum: refused, nothing left behind
    (other / "cifar10").mkdir(parents=True)
    (other / "cifar10" / cifar10.ARCHIVE).write_bytes(path.read_bytes()[:-1] + b"x")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(cifar10, "URL", (tmp_path / "absent.tar.gz").as_uri())
        assert run_cli("download", "cifar10", "--data-dir", tmp_path / "d2", "--mirror", other.as_uri()) == 1
    assert "DataCorruptError" in capsys.readouterr().err
    assert not list((tmp_path / "d2").rglob("*.tar.gz*"))


def test_cnn_trains_on_cifar10_unchanged(fake_cifar: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_cli("train", "--model", "cnn", "--dataset", "cifar10", "--channels", "2,2,2", "--epochs", 1,
                   "--batch-size", 20, "--no-progress", "--out", out) == 0
    metrics = read_records(out / "metrics.jsonl", "epoch")
    assert metrics[0]["iteration"] == 3 and np.isfinite(metrics[0]["train_loss"])


def test_tuned_lookup_reads_plain_curves_only(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"model": "cnn", "dataset": "mnist", "chosen": {
        "adam-nodropout": {"optimizer": "adam", "overrides": {"dropout": 0.0}, "lr": 1.0, "momentum": None},
        "adam": {"optimizer": "adam", "overrides": {}, "lr": 3e-4, "momentum": None}}}))
    assert tuned.lookup("cnn", "mnist", "adam", folder=tmp_path) == {"lr": 3e-4}
    assert tuned.lookup("cnn", "cifar10", "adam", folder=tmp_path) == {}
    (tmp_path / "b.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"b\.json is not a tuned file"):
        tuned.lookup("cnn", "mnist", "adam", folder=tmp_path)



@pytest.mark.data("mnist")
def test_bias_correction_one_column_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "bc"
    args = ["bias-correction", "--quick", "--limit", 100, "--beta2s", 0.9999, "--no-progress", "--out", out]
    assert run_cli(*args) == 0
    rows = json.loads((out / "sweep.json").read_text())
    assert len(rows) == 2 * 1 * 3 * 2 and {r["beta2"] for r in rows} == {0.9999}
    table = (out / "results.md").read_text()
    assert "| 0.9 | 0.9999 |" in table and "| 0.9 | 0.999 |" not in table
    assert "epoch(s) on 100 examples" in (out / "title.txt").read_text()  # what `plot` titles the figure again with
    monkeypatch.setattr(train.Run, "fit", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert run_cli(*args, "--resume") == 0
    assert json.loads((out / "sweep.json").read_text()) == rows


def test_bias_correction_table_has_a_row_for_every_setting_run() -> None:
    rows = [{"beta1": b1, "beta2": 0.5, "bias_correction": c, "train_loss": 100.0 + i, "log10_lr": -3.0}
            for i, (b1, c) in enumerate([(0.0, True), (0.0, False), (0.9, True), (0.9, False)])]
    table = sweep_table(rows)  # a --beta2s outside the paper's three had no row
    assert "| 0.0 | 0.5 | 100.00 (1e-3) | 101.00 (1e-3) |" in table and "| 0.9 | 0.5 | 102.00" in table


@pytest.mark.data("mnist")
def test_compare_reads_the_committed_tuned_file(tmp_path: Path) -> None:
    committed = tuned.read(tuned.path_of("mnist-logreg"))["chosen"]
    out = tmp_path / "cmp"
    assert run_cli("compare", "--experiment", "mnist-logreg", "--optimizers", "nesterov,adagrad", "--epochs", 1,
                   "--limit", 128, "--no-progress", "--out", out) == 0
    for key in ("nesterov", "adagrad"):
        config = json.loads((out / key / "seed0" / "config.json").read_text())
        assert config["lr"] == committed[key]["lr"] and config["lr_schedule"] == committed[key]["lr_schedule"]
    assert json.loads((out / "nesterov" / "seed0" / "config.json").read_text())["momentum"] == \
        committed["nesterov"]["momentum"]
    assert "lr: mnist-logreg.json (tuned for 2 epoch(s) on all examples" in (out / "results.md").read_text()
