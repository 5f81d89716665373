"""``imagenet_loop.py`` (pytorch/examples' imagenet/main.py harness around a tiny CNN on synthetic 3x16x16 images)
run on torch and, imports swapped, on ours, from torch's initial weights and the same batches: the training losses,
the meters' averages (0-d accuracy tensors, as main.py feeds them), the validation summaries, the lr per epoch under
StepLR, ``best_acc1`` and the ``model_best.pth.tar`` copies, the printed progress lines, the seed warning and the
final parameters; ``nn.DataParallel`` around the whole model (``module.`` keys) or around ``features`` (main.py's
alexnet branch); a run stopped after 3 epochs and resumed with ``--resume`` into a freshly initialised model equals
the uninterrupted one exactly in each library; ``--evaluate`` on a saved checkpoint; and ``--gpu 0`` on a machine
without a GPU (main.py trains on the CPU, and its resume, mapped to 'cuda:0', raises in both).

Tolerances: float32; the two runs differ by summation order in the convolutions and matmuls. Measured over 5 epochs
of 3 SGD steps (lr 0.1 then 0.01, 0.001; momentum 0.9, weight decay 1e-4): losses within 4.8e-7 (of ~2.3), the
validation loss meters' averages within 2.4e-7, parameters and BatchNorm buffers within 6e-8. We allow rtol 1e-5
and atol 2e-6 for the series, atol 1e-6 for parameters. Accuracies are multiples of 100 / 16 or 100 / 8 and must be
equal, as must the printed lines but for the timings (masked) and the losses (4 significant digits, which could
round the other way: compared by value within 2 units of the last digit)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, program

import tinygrad_adam

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 2e-6}
TIMING = re.compile(r"(Time|Data) +[\d.]+ \( *[\d.]+\)")
LOSS = re.compile(r"\d\.\d{4}e[+-]\d\d")


def initial_weights(arch: str) -> dict:
    """torch's initial weights of ``arch`` (after ``manual_seed(0)``) as numpy arrays."""
    with program(HERE / "imagenet_loop.py", "torch") as m:
        torch.manual_seed(0)
        return {k: v.numpy().copy() for k, v in m.models[arch]().state_dict().items()}


def run(lib: str, folder: Path, argv: list[str], weights: dict | None = None) -> dict:
    """``main(argv)`` of a freshly loaded program (a new process: ``best_acc1 = 0``) in ``folder``, its model given
    ``weights`` (None: as initialised): ``history``, the printed lines, the warnings, the model (unwrapped) and
    ``model_best.pth.tar`` if one was written."""
    folder.mkdir()
    os.chdir(folder)
    with program(HERE / "imagenet_loop.py", lib) as m:
        arch, made = argv[argv.index("-a") + 1], []

        def make() -> object:
            made.append(m.TinyNet())
            if weights is not None:
                made[0].load_state_dict({k: m.torch.from_numpy(v.copy()) for k, v in weights.items()})
            return made[0]

        m.models[arch] = make
        out = io.StringIO()
        with contextlib.redirect_stdout(out), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m.main(argv)
        best = m.torch.load("model_best.pth.tar") if os.path.exists("model_best.pth.tar") else None
        return dict(m.history, lines=[TIMING.sub(r"\1", line) for line in out.getvalue().splitlines()],
                    warnings=[(w.category, str(w.message)) for w in caught], model=made[0], best=best)


def both(folder: Path, argv: list[str]) -> tuple[dict, dict]:
    """torch's run of ``argv`` and ours, in ``folder/torch`` and ``folder/ours``, both from torch's initial weights."""
    folder.mkdir()
    weights = initial_weights(argv[argv.index("-a") + 1])
    return run("torch", folder / "torch", argv, weights), run("ours", folder / "ours", argv, weights)


def floats(series: list) -> list:
    return [[float(v) for v in item] if isinstance(item, tuple) else float(item) for item in series]


def params(log: dict) -> dict:
    return {k: v.detach().numpy() for k, v in log["model"].state_dict().items()}


def same_lines(ours: list[str], theirs: list[str]) -> None:
    """Equal (timings masked by ``run``) but for the losses: by value, 2 units of their 4th significant digit."""
    assert len(ours) == len(theirs)
    for got, want in zip(ours, theirs, strict=True):
        for a, b in zip(LOSS.findall(got), LOSS.findall(want), strict=True):
            assert float(a) == pytest.approx(float(b), rel=2.1e-4, abs=0), (got, want)
        assert LOSS.sub("L", got) == LOSS.sub("L", want)


def agree(ours: dict, theirs: dict) -> None:
    for key in ("loss", "val"):
        np.testing.assert_allclose(floats(ours[key]), floats(theirs[key]), err_msg=key, **TOL)
    for key in ("top1", "top5", "best_acc1", "lr"):
        assert floats(ours[key]) == floats(theirs[key]), key
    assert all(np.shape(v) == () and not isinstance(v, float) for v in ours["top1"])  # 0-d tensors, as torch's
    same_lines(ours["lines"], theirs["lines"])
    assert ours["warnings"] == theirs["warnings"]
    assert_params_close(params(ours), params(theirs), rtol=0, atol=1e-6)


def test_training_matches_torch_and_resumes_exactly(one_torch_thread: None, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["-a", "tinynet", "--seed", "1", "--dp"]
    theirs, ours = both(tmp_path / "whole", [*argv, "--epochs", "5"])
    agree(ours, theirs)
    assert ours["lr"] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
    assert len(ours["warnings"]) == 1 and ours["warnings"][0][0] is UserWarning
    assert ours["loss"][-1] < ours["loss"][0] and ours["best_acc1"][-1] > 10  # it learned (chance: 10)
    for log in (ours, theirs):  # model_best.pth.tar: the epoch of the best acc@1, its 0-d tensor, ``module.`` keys
        best = log["best"]
        assert best["epoch"] == 1 + log["best_acc1"].index(log["best_acc1"][-1]) and best["arch"] == "tinynet"
        assert float(best["best_acc1"]) == log["best_acc1"][-1] and np.shape(best["best_acc1"]) == ()
        assert next(iter(best["state_dict"])) == "module.features.0.weight"
    weights = initial_weights("tinynet")
    for lib, whole in (("ours", ours), ("torch", theirs)):
        stopped = run(lib, tmp_path / f"{lib}_stopped", [*argv, "--epochs", "3"], weights)
        resume = ["--resume", f"../{lib}_stopped/checkpoint.pth.tar"]
        resumed = run(lib, tmp_path / f"{lib}_resumed", [*argv, "--epochs", "5", *resume])  # into fresh weights
        for key in ("loss", "top1", "top5", "lr", "val", "best_acc1"):
            assert floats(stopped[key] + resumed[key]) == floats(whole[key]), key
        loading = [f"=> loading checkpoint '{resume[1]}'", f"=> loaded checkpoint '{resume[1]}' (epoch 3)"]
        assert resumed["lines"][2:4] == loading
        assert resumed["lines"][:2] == whole["lines"][:2] and stopped["lines"] + resumed["lines"][4:] == whole["lines"]
        for name, value in params(whole).items():
            assert np.array_equal(params(resumed)[name], value), name


def test_dataparallel_features_and_evaluate_match_torch(one_torch_thread: None, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    theirs, ours = both(tmp_path / "trained", ["-a", "alexnet_tiny", "--epochs", "2", "-p", "1"])
    agree(ours, theirs)
    for log in (ours, theirs):
        assert type(log["model"].features).__name__ == "DataParallel"
        assert list(log["model"].state_dict())[:2] == ["features.module.0.weight", "features.module.0.bias"]
    argv = ["-a", "alexnet_tiny", "-e", "-p", "1", "--resume", "../model_best.pth.tar"]
    evaluated = [run(lib, tmp_path / "trained" / lib / "evaluate", argv) for lib in ("torch", "ours")]
    for log, trained in zip(evaluated, (theirs, ours), strict=True):
        assert log["loss"] == [] and len(log["val"]) == 1
        best_epoch = trained["best"]["epoch"]
        assert floats(log["val"]) == floats(trained["val"][best_epoch - 1:best_epoch])
    same_lines(evaluated[1]["lines"], evaluated[0]["lines"])


@pytest.mark.skipif(tinygrad_adam.cuda.is_available(), reason="checks the run without a GPU")
def test_gpu_flag_on_a_machine_without_one_matches_torch(one_torch_thread: None, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``--gpu 0`` without a GPU: main.py warns, prints "Use GPU: 0", trains on the CPU (its first device branch),
    and its ``--resume`` maps the checkpoint to 'cuda:0', which both libraries refuse."""
    monkeypatch.chdir(tmp_path)
    theirs, ours = both(tmp_path / "trained", ["-a", "tinynet", "--epochs", "1", "--gpu", "0"])
    agree(ours, theirs)
    assert ours["lines"][0] == "Use GPU: 0 for training"
    assert [message[:40] for _, message in ours["warnings"]] == ["You have chosen a specific GPU. This wil"]
    for lib in ("torch", "ours"):
        with pytest.raises(RuntimeError, match=r"(?i)cuda"):
            run(lib, tmp_path / "trained" / lib / "resume", ["-a", "tinynet", "-e", "--gpu", "0", "--resume",
                                                            "../checkpoint.pth.tar"])
