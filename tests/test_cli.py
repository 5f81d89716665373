"""The command line as a newcomer meets it, each test in a fresh process (``python -m tinygrad_adam``):
help and defaults, errors, downloads, progress without a terminal, run records, evaluate and plot."""

from __future__ import annotations

import datetime
import functools
import http.server
import json
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import realdata
from cli_process import cli

import tinygrad_adam as tg
from tinygrad_adam import cli as cli_module
from tinygrad_adam import plots, tuned
from tinygrad_adam.data import mnist as mnist_module
from tinygrad_adam.optim import numba_available
from tinygrad_adam.train import OPTIMIZERS, Config

MNIST_FILES = tuple(mnist_module.CHECKSUMS)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def no_data(tmp_path: Path) -> dict[str, str]:
    """An environment where no data is found: an empty data directory and an empty home."""
    return {"TINYGRAD_ADAM_DATA": str(tmp_path / "empty"), "HOME": str(tmp_path / "home"),
            "TINYGRAD_ADAM_CACHE": str(tmp_path / "cache")}


@pytest.fixture
def http_mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving a fresh directory: (its URL, the directory)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- 5: --help, defaults, usage on errors


def test_help_shows_every_default_and_the_per_model_table() -> None:
    out = cli("train", "--help")
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    for shown in ("--epochs EPOCHS passes over the training data (default: 10)", "(default: 50)",
                  "(default: a fresh runs/<model>-<dataset>-<optimizer>/version_N)", "(default: mlp)",
                  "(default: adam)", "(default: cpu)", "(default: 64,64,128)",
                  "minibatch size (default: per model, see the table below)"):
        assert shown in text, shown
    table = out.stdout[out.stdout.index("defaults per model"):]
    assert re.search(r"logreg +128 +0\.0 +0\.0 +inv-sqrt +0\.0001", table), table  # ... input-dropout, lr-schedule
    assert re.search(r"vae +100 +0\.0 +0\.0 +constant", table)
    # per optimizer: the default, then what train uses on each experiment (a tuned file's rate where there is one)
    lines = table[table.index("  optimizer  default"):].splitlines()
    columns = lines[0].split()[1:]
    rows = {line.split()[0]: dict(zip(columns, line.split()[1:])) for line in lines[1:] if line.strip()}
    for model, dataset in (("logreg", "imdb"), ("logreg", "mnist"), ("mlp", "mnist"), ("cnn", "mnist")):
        experiment = f"{dataset}-{model}"
        if tuned.path_of(experiment).exists():
            lr = tuned.read(tuned.path_of(experiment))["chosen"]["adam"]["lr"]
            assert rows["adam"][f"{model}/{dataset}"] == f"{lr:g}", (experiment, table)
    assert rows["adam"]["default"] == "0.001" and set(rows["adadelta"].values()) == {"1"}
    assert (rows["amsgrad"]["logreg/imdb"], rows["amsgrad"]["logreg/mnist"]) == ("0.01", "0.1"), table  # fallbacks


def test_every_option_has_help_and_states_its_default() -> None:
    parser = cli_module.build_parser()
    assert all(action.help for action in parser._actions), "a top-level argument has no help"
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) >= {"info", "train", "compare", "bias-correction", "plot", "download", "evaluate"}
    for name, sub in commands.items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            assert action.help, f"{name} {action.dest} has no help"
            shown = formatter._get_help_string(action)
            if action.option_strings and action.default not in (None, False, "==SUPPRESS=="):
                assert "default" in shown, f"{name} {action.option_strings[0]}: {shown}"
            if action.option_strings and action.default is None and action.dest != "help":
                assert "default" in shown or action.required, f"{name} {action.option_strings[0]}: {shown}"


def test_bias_correction_help_lists_only_its_options() -> None:
    out = cli("bias-correction", "--help")
    assert out.returncode == 0
    for used in ("--epochs", "--batch-size", "--seed", "--limit", "--quick", "--out", "--data-dir"):
        assert used in out.stdout
    for unused in ("--lr ", "--channels", "--dropout", "--temporal-average", "--weight-decay", "--lr-schedule",
                   "--optimizer"):
        assert unused not in out.stdout, unused


@pytest.mark.parametrize(("args", "usage", "message"), [
    (["train", "--device", "tpu", "--limit", "10"], "usage: tinygrad-adam train", "unknown device 'tpu'"),
    (["train", "--dropout", "1.5"], "usage: tinygrad-adam train", "dropout must be in [0, 1)"),
    (["compare", "--experiment", "mnist-logreg", "--optimizers", "adam,lbfgs"], "usage: tinygrad-adam compare",
     "unknown optimizer(s) or curve(s) lbfgs"),
    (["download", "cifar"], "usage: tinygrad-adam download", "invalid choice: 'cifar'"),
    (["train", "--lr", "inf"], "usage: tinygrad-adam train", "must be finite and >= 0, got inf"),
    (["train", "--seed", "-1"], "usage: tinygrad-adam train", "seed must be in [0, 2**32), got -1"),
    (["train", "--model", "cnn", "--channels", "64,0,128"], "usage: tinygrad-adam train",
     "channels must be three ints >= 1 (the CNN's convolutions), got (64, 0, 128)"),
    (["tune", "--experiment", "mnist-logreg", "--optimizers", ","], "usage: tinygrad-adam tune",
     "expected comma-separated names such as adam,adagrad, got ','"),
])
def test_bad_option_values_print_the_subcommands_usage(args: list[str], usage: str, message: str) -> None:
    out = cli(*args)
    assert out.returncode == 2 and out.stderr.startswith(usage), out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("command", ["plot", "evaluate"])
def test_a_missing_directory_is_one_line(command: str) -> None:
    out = cli(command, "/nonexistent/run")
    assert out.returncode == 2, out.stderr
    assert out.stderr == f"tinygrad-adam {command}: error: no run directory at /nonexistent/run\n"


@pytest.mark.parametrize("config", ["[1, 2]", '{"model": "mlp", "lr": "big"}', "{bad", "\udcff"])
def test_evaluate_a_damaged_config_json_is_one_line(config: str, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(config.encode(errors="surrogateescape"))
    out = cli("evaluate", tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith(f"tinygrad-adam evaluate: error: {tmp_path / 'config.json'} is damaged (")
    assert len(out.stderr.splitlines()) == 1


@pytest.mark.parametrize("command", [["compare", "--experiment", "mnist-logreg"], ["bias-correction", "--quick"],
                                     ["tune", "--experiment", "mnist-logreg"]])
@pytest.mark.parametrize(("out", "message"), [("", "--out is empty"), ("file", "is a file, not a directory"),
                                              ("file/runs", "which is a file")])
def test_a_multi_run_out_that_is_empty_or_a_file_is_one_line(command: list[str], out: str, message: str,
                                                            tmp_path: Path) -> None:
    (tmp_path / "file").write_text("the user's")
    out_arg = str(tmp_path / out) if out else ""
    result = cli(*command, "--tuned-file", tmp_path / "t.json", "--out", out_arg, cwd=tmp_path) \
        if command[0] == "tune" else cli(*command, "--out", out_arg, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert message in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"] and (tmp_path / "file").read_text() == "the user's"


def test_tune_refuses_an_infinite_learning_rate_in_its_grid(tmp_path: Path) -> None:
    out = cli("tune", "--experiment", "mnist-logreg", "--lrs", "1e-3,inf", "--tuned-file", tmp_path / "t.json",
              "--out", tmp_path / "trials")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "learning rates must be finite and > 0, got [0.001, inf]" in out.stderr
    assert not (tmp_path / "trials").exists() and not (tmp_path / "t.json").exists()


@pytest.mark.parametrize(("where", "message"), [("dir", "is a directory"),
                                               ("file/t.json", "a folder above it is a file")])
@pytest.mark.parametrize("curves", [["--experiment", "mnist-logreg"],
                                    ["--experiment", "mnist-cnn", "--optimizers", "nesterov-dropout,adam"]])
def test_tune_refuses_a_tuned_file_it_cannot_write_before_training(where: str, message: str, curves: list[str],
                                                                   tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("the user's")
    out = cli("tune", *curves, "--lrs", "1e-2", "--max-widen", 0, "--overwrite",
              "--tuned-file", tmp_path / where, "--out", tmp_path / "trials",
              env={"TINYGRAD_ADAM_DATA": "/nonexistent"})  # the check comes first: no data is needed
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert message in out.stderr.splitlines()[-1] and not (tmp_path / "trials").exists()
    assert (tmp_path / "file").read_text() == "the user's"


TUNED_CASES = {  # a --tuned-file compare cannot use -> what its one line says
    "a-directory": (lambda p: p.mkdir(), "cannot read the tuned file"),
    "not-utf8": (lambda p: p.write_bytes(b"\xff\xfe"), "not UTF-8"),
    "entry-not-a-dict": (lambda p: p.write_text('{"chosen": {"adam": 3}}'), "its chosen 'adam' is 3"),
    "lr-not-a-number": (lambda p: p.write_text('{"chosen": {"adam": {"lr": "big"}}}'), "a numeric 'lr'"),
}


@pytest.mark.parametrize("case", TUNED_CASES)
def test_a_broken_tuned_file_is_one_line(case: str, tmp_path: Path) -> None:
    make, message = TUNED_CASES[case]
    make(tmp_path / "t.json")
    out = cli("compare", "--experiment", "mnist-logreg", "--optimizers", "adam", "--tuned-file", tmp_path / "t.json",
              "--out", tmp_path / "cmp")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert message in out.stderr.splitlines()[-1] and str(tmp_path / "t.json") in out.stderr


def test_a_tuned_file_without_a_budget_is_captioned_as_such() -> None:
    from tinygrad_adam.experiments import describe_budget

    assert describe_budget(None) == describe_budget({"epochs": "2"}) == "budget not recorded"
    assert describe_budget({"epochs": 2, "limit": 500, "seeds": [0]}) == \
        "tuned for 2 epoch(s) on 500 examples, 1 seed(s)"


# ---------------------------------------------------------------- 3: download, --data-dir, --download


def test_missing_data_message_gives_the_one_command_to_run(no_data: dict[str, str], tmp_path: Path) -> None:
    out = cli("train", "--limit", 10, "--out", tmp_path / "run", env=no_data)
    assert out.returncode == 2 and out.stderr.startswith("tinygrad-adam train: error: mnist data not found: ")
    assert "Fix: run `tinygrad-adam download mnist` (" in out.stderr and out.stderr.count("\n") == 1
    out = cli("train", "--limit", 10, "--out", tmp_path / "run", "--data-dir", tmp_path / "d", env=no_data)
    assert f"Fix: run `tinygrad-adam download mnist --data-dir {tmp_path / 'd'}` (" in out.stderr


@pytest.mark.data("mnist")
def test_download_from_an_http_mirror_with_progress(http_mirror: tuple[str, Path], no_data: dict[str, str],
                                                    tmp_path: Path) -> None:
    url, served = http_mirror
    shutil.copytree(realdata.find("mnist") / "mnist", served / "mnist")
    env = {**no_data, "TINYGRAD_ADAM_PROGRESS_EVERY": "0"}
    out = cli("download", "mnist", "--data-dir", tmp_path / "data", "--mirror", url, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"mnist: downloaded and verified in {tmp_path / 'data' / 'mnist'}"
    for name in MNIST_FILES:
        assert (tmp_path / "data" / "mnist" / name).read_bytes() == (served / "mnist" / name).read_bytes()
        assert f"downloading {url}/mnist/{name}" in out.stderr
    assert re.search(r"train-images-idx3-ubyte\.gz: [\d.]+ MB/[\d.]+ MB \(\d+%\), [\d.]+ MB/s", out.stderr), out.stderr
    assert re.search(r"t10k-labels-idx1-ubyte\.gz: [\d.]+ kB/[\d.]+ kB \(100%\)", out.stderr), out.stderr
    assert list((tmp_path / "data").rglob("*.part")) == []
    again = cli("download", "all", "--data-dir", tmp_path / "data", "--mirror", url, env=env)
    assert again.returncode == 1 and "mnist: already in" in again.stdout  # imdb is not on this mirror ...
    assert f"{url}/imdb/imdb_reviews.jsonl.gz: HTTPError: HTTP Error 404" in again.stderr  # ... and says so


def test_download_failure_lists_every_source_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_mirror: tuple[str, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    url, served = http_mirror
    (served / "mnist").mkdir()
    (served / "mnist" / MNIST_FILES[0]).write_bytes(b"\x1f\x8b not really gzip")
    dead = (tmp_path / "nowhere").as_uri() + "/"
    monkeypatch.setattr(mnist_module, "MIRRORS", (dead,))  # no public source in a test
    assert cli_module.main(["download", "mnist", "--data-dir", str(tmp_path / "d"), "--mirror", url]) == 1
    err = capsys.readouterr().err
    assert f"\ntinygrad-adam download: could not download {MNIST_FILES[0]}; tried " in err
    assert f"{url}/mnist/{MNIST_FILES[0]}: DataCorruptError: " in err and f"; {dead}{MNIST_FILES[0]}: " in err
    assert not (tmp_path / "d" / "mnist" / MNIST_FILES[0]).exists() and list(tmp_path.rglob("*.part")) == []


def test_download_into_a_data_dir_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("the user's")
    for where in ("afile", "afile/below"):
        out = cli("download", "mnist", "--data-dir", tmp_path / where)
        assert out.returncode == 2, out.stderr
        assert out.stderr == (f"tinygrad-adam download: error: {tmp_path / 'afile'} is a file, not a directory: give "
                              "a data directory that is one\n")
    assert (tmp_path / "afile").read_text() == "the user's"


@pytest.mark.data("mnist")
def test_compare_and_train_with_data_dir_and_download(tmp_path: Path, no_data: dict[str, str]) -> None:
    mirror = realdata.find("mnist").as_uri()  # a file:// mirror laid out like a data directory
    env = {**no_data, "TINYGRAD_ADAM_MIRROR": mirror}
    out = cli("compare", "--experiment", "mnist-logreg", "--optimizers", "adam", "--epochs", 1, "--limit", 200,
              "--no-progress", "--data-dir", tmp_path / "data", "--download", "--out", tmp_path / "cmp", env=env)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir()) == sorted(MNIST_FILES)
    out = cli("train", "--model", "logreg", "--epochs", 1, "--limit", 200, "--no-progress", "--data-dir",
              tmp_path / "data", "--out", tmp_path / "run", env=no_data)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data_dir"] == str(tmp_path / "data")


# ---------------------------------------------------------------- 4: progress without a terminal


@pytest.mark.data("mnist")
def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    out = cli("train", "--model", "logreg", "--epochs", 1, "--limit", 640, "--out", tmp_path / "run",
              env={"TINYGRAD_ADAM_PROGRESS_EVERY": "0"})
    assert out.returncode == 0, out.stderr
    lines = re.findall(r"^epoch 1/1: (\d+)/5 it \(\d+%\), loss (\d+\.\d{4}), [\d.]+ it/s, ETA \d+:\d\d$",
                       out.stderr, re.M)
    assert [int(n) for n, _ in lines] == [1, 2, 3, 4, 5], out.stderr
    assert float(lines[-1][1]) == pytest.approx(read_jsonl(tmp_path / "run" / "metrics.jsonl")[0]["train_loss"],
                                                abs=1e-4)  # the running loss is the epoch's mean so far


# ---------------------------------------------------------------- 6, 8, 9: run records, plots, evaluate


@pytest.mark.data("mnist")
def test_short_run_records_and_evaluate(tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = cli("train", "--model", "mlp", "--epochs", 2, "--limit", 300, "--temporal-average", 0.9, "--no-progress",
              "--out", run)
    assert out.returncode == 0, out.stderr
    # 6: three iterations per epoch, fewer than --log-every 50: still one curve point per epoch
    assert [(s["iteration"]) for s in read_jsonl(run / "steps.jsonl")] == [3, 6]
    # 9: version, command line, timestamps, lr and training accuracy
    config = json.loads((run / "config.json").read_text())
    assert config["tinygrad_adam_version"] == tg.__version__
    assert config["command"].startswith("tinygrad-adam train --model mlp --epochs 2")
    metrics = read_jsonl(run / "metrics.jsonl")
    for m in metrics:
        stamp = datetime.datetime.fromisoformat(m["time"])
        assert stamp.tzinfo is not None and abs(datetime.datetime.now(datetime.timezone.utc) - stamp).days == 0
        assert m["lr"] == 1e-3 and 0 < m["train_accuracy"] < 1
    # 8: evaluate on the same examples gives the run's own test figures (with the averaged weights)
    out = cli("evaluate", run, "--limit", 300)
    assert out.returncode == 0, out.stderr
    last = metrics[-1]
    assert out.stdout.strip() == (f"{run}: test split, 300 examples: loss {last['test_loss']:.4f}, "
                                  f"accuracy {100 * last['test_accuracy']:.2f}%")
    out = cli("evaluate", run, "--split", "train")
    assert out.returncode == 0 and "train split, 60000 examples: loss " in out.stdout, out.stderr
    # a resume keeps the command that started the run and adds its own
    assert cli("train", "--resume", "--out", run, "--epochs", 3, "--no-progress").returncode == 0
    resumed = json.loads((run / "config.json").read_text())
    assert resumed["command"] == config["command"]
    assert resumed["resumed_with"] == [f"tinygrad-adam train --resume --out {run} --epochs 3 --no-progress"]


@pytest.mark.data("mnist")
def test_load_run_rebuilds_the_trained_model(tmp_path: Path) -> None:
    from tinygrad_adam.data import load_mnist
    from tinygrad_adam.train import subset

    run = tmp_path / "run"
    assert cli_module.main(["train", "--model", "cnn", "--channels", "2,2,4", "--epochs", "1", "--limit", "200",
                            "--no-progress", "--out", str(run)]) == 0
    model = tg.load_run(run)
    assert not model.training and type(model).__name__ == "CNN"
    _, test = load_mnist()
    test = subset(test, 200)
    with tg.no_grad():
        logits = model(tg.Tensor(test.x))
    accuracy = float((logits.numpy().argmax(axis=1) == test.y).mean())
    assert accuracy == read_jsonl(run / "metrics.jsonl")[-1]["test_accuracy"]


@pytest.mark.parametrize("line", ["[1]", '{"epoch": 1}', "{cut", "\udcff"])
def test_plot_of_a_damaged_metrics_file_is_one_line(line: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    good = '{"epoch": 1, "iteration": 5, "train_loss": 0.5, "test_loss": 0.4}'
    (run / "metrics.jsonl").write_text(f"{good}\n{line}\n", errors="surrogateescape")
    out = cli("plot", str(run))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr == (f"tinygrad-adam plot: error: {run / 'metrics.jsonl'} is damaged: line 2 is not a JSON "
                          "object with the numbers epoch, iteration, train_loss, test_loss; restore it from a copy\n")


def test_plot_refuses_to_save_an_empty_figure(tmp_path: Path) -> None:
    empty = {"epoch": np.zeros(0), "seconds": np.zeros(0), "mean": np.zeros(0), "lo": np.zeros(0), "hi": np.zeros(0)}
    with pytest.raises(ValueError, match="no training-curve points"):
        plots.comparison([{"label": "Adam", "optimizer": "adam", **empty},
                          {"label": "SGD", "optimizer": "sgd", **empty}], tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()


def test_plot_accepts_compare_and_bias_correction_directories(tmp_path: Path) -> None:
    cmp = tmp_path / "cmp"
    for k, name in enumerate(("adam", "adagrad")):  # compare's layout: <curve>/seed<N>/ with a result.json
        run = cmp / name / "seed0"
        run.mkdir(parents=True)
        (run / "steps.jsonl").write_text("".join(
            json.dumps({"iteration": i, "train_loss": 1.0 / (i + k)}) + "\n" for i in (1, 2, 3)))
        (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "iteration": 3, "seconds": 1.5}) + "\n")
        config = Config(model="mlp", optimizer=name).resolved().to_json()
        (run / "result.json").write_text(json.dumps({"config": config, "metrics": {"train_loss": 0.5}}))
    (cmp / "results.md").write_text("### mnist-mlp\n\nFigure 2 (a) of Kingma & Ba  \n\n| curve |\n")
    out = cli("plot", cmp)
    assert out.returncode == 0 and out.stdout.strip() == str(cmp / "mnist-mlp.png"), out.stderr
    assert (cmp / "mnist-mlp.png").stat().st_size > 5000
    sweep = [{"beta1": b1, "beta2": b2, "log10_lr": e, "bias_correction": c, "train_loss": 100.0 + e}
             for b1 in (0.0, 0.9) for b2 in (0.99, 0.999) for e in (-4, -3) for c in (True, False)]
    (tmp_path / "bc").mkdir()
    (tmp_path / "bc" / "sweep.json").write_text(json.dumps(sweep))
    out = cli("plot", tmp_path / "bc")
    assert out.returncode == 0 and (tmp_path / "bc" / "bias_correction.png").stat().st_size > 5000, out.stderr


def test_info_lists_optional_components_and_the_auto_path() -> None:
    out = cli("info")
    assert out.returncode == 0, out.stderr
    for name in ("numba", "tqdm", "matplotlib", "graphviz", "torch", "cupy"):
        assert re.search(rf"^  {name} +\S", out.stdout, re.M), name
    path = "numba" if numba_available() else "numpy"
    assert f'impl="auto" runs the {path} path on the CPU' in out.stdout
    off = cli("info", env={"TINYGRAD_ADAM_NUMBA": "0"})
    assert 'impl="auto" runs the numpy path on the CPU' in off.stdout


def test_info_names_the_kernels_numpy_s_openblas_runs() -> None:
    """``info`` says which kernels numpy's OpenBLAS chose, and that OPENBLAS_CORETYPE forced them when it did (this
    workplace's machines set it to Haswell: AVX2 kernels on an AVX-512 CPU, half the GEMM speed)."""
    from tinygrad_adam import backend

    if backend.openblas_kernels() is None:
        pytest.skip("numpy's BLAS here is not an OpenBLAS that names its kernels")
    for core in ("Haswell", "Sandybridge"):
        out = cli("info", env={"OPENBLAS_CORETYPE": core})
        assert f"{core} kernels (OPENBLAS_CORETYPE={core} in the environment)" in out.stdout, out.stdout


def test_readme_is_not_stale() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    words = {9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}
    assert f"{words[len(OPTIMIZERS)]} optimizers" in " ".join(readme.split())
    assert "a minute or so" not in readme
    assert "## Use a trained model" in readme and "tg.load_run(" in readme and "tinygrad-adam evaluate" in readme
    for example in ("mnist_logreg", "imdb_logreg", "mnist_mlp", "mnist_cnn", "vae_bias_correction", "adam_internals"):
        assert re.search(rf"`python examples/{example}\.py --quick` \| [\d.]+ (s|min)", readme), example


@pytest.mark.data("mnist")
def test_readme_use_a_trained_model_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("## Use a trained model"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    assert cli_module.main(["train", "--model", "mlp", "--epochs", "1", "--limit", "200", "--no-progress",
                            "--out", "runs/mlp"]) == 0
    capsys.readouterr()
    exec(compile(code, "README.md", "exec"), {})
    predicted, labels = capsys.readouterr().out.strip().split("] [")
    assert labels.rstrip("]").split() == ["7", "2", "1", "0", "4", "1", "4", "9"] and len(predicted.split()) == 8
