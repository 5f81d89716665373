"""``pytorch_examples_pairs.py`` (pytorch/examples' siamese_network and mnist_rnn on 1x12x12 synthetic digits) run
on torch and, imports swapped, on ours from torch's initial weights and the same unshuffled batches (the siamese
pairs drawn by Python's ``random``, seeded alike): each step's loss and gradient norm, each epoch's lr (StepLR), the
test losses and accuracies, the printed lines, the final parameters and buffers, mnist_rnn's ``torch.save`` /
``torch.load`` reload re-evaluated, and its 2-D ``Dropout2d`` warning. mnist_rnn's dropout is set to p=0 for the
numbers (the two libraries' generators differ); a separate check drops the expected fraction element-wise.

Tolerances: float32, summation order only. Measured (8 siamese steps, 12 mnist_rnn steps, both at lr 1): losses
within 2.4e-7, gradient norms within 1.2e-7, test losses within 2.4e-7, parameters within 1.2e-7 (BatchNorm's
running_var of the 0-255 images, ~2e3, within 4.9e-4, relative 2.3e-7). We allow rtol 2e-6 / atol 1e-6 for the
series and parameters.
Accuracies are counts and must be equal. A printed loss can round the other way in its sixth decimal (seen:
1.881562 / 1.881561), so the lines are compared as text up to that number, and it by value."""

from __future__ import annotations

import contextlib
import io
import random
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 2e-6, "atol": 1e-6}
PATH = HERE / "pytorch_examples_pairs.py"


def both(main: str, make: Callable, argv: list[str], folder: Path) -> tuple[dict, dict]:
    """``main(argv, model)`` of the program in torch and in ours, ``make(module)`` the model; its records, lines,
    UserWarnings and final state."""
    def run(m, model, lib: str) -> dict:
        random.seed(0)
        out = io.StringIO()
        with contextlib.redirect_stdout(out), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model, log = getattr(m, main)(argv, model, *([folder / lib] if main == "rnn_main" else []))
        # (torch's np.array(tensor) also raises numpy 2's DeprecationWarning about __array__'s copy keyword)
        log["warnings"] = sorted({(w.category.__name__, str(w.message)) for w in caught
                                  if issubclass(w.category, UserWarning)})
        log["lines"] = out.getvalue().splitlines()
        log["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        return log

    for lib in ("torch", "ours"):
        (folder / lib).mkdir()
    return from_torch_weights(PATH, make, run)


def agree(theirs: dict, ours: dict) -> None:
    for key in ("loss", "norm", "lr"):
        assert len(ours[key]) == len(theirs[key]), key
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    for (loss, correct), (want, want_correct) in zip(ours["test"], theirs["test"], strict=True):
        assert correct == want_correct and type(correct) is int
        assert loss == pytest.approx(want, **{"rel": TOL["rtol"], "abs": TOL["atol"]})
    assert len(ours["lines"]) == len(theirs["lines"])  # the same warnings, in our words
    assert [c for c, _ in ours["warnings"]] == [c for c, _ in theirs["warnings"]]
    for got, want in zip(ours["lines"], theirs["lines"]):
        if got.startswith("Train"):  # a loss may round the other way in its sixth decimal
            (got, got_loss), (want, want_loss) = got.rsplit(" ", 1), want.rsplit(" ", 1)
            assert float(got_loss) == pytest.approx(float(want_loss), abs=1.1e-6)
        assert got == want
    assert_params_close(ours["params"], theirs["params"], **TOL)


def test_siamese_network_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = both("siamese_main", lambda m: m.SiameseNetwork(), ["--epochs", "2"], tmp_path)
    agree(theirs, ours)
    assert len(ours["loss"]) == 8 and ours["lr"] == pytest.approx([1.0, 0.7])
    assert list(ours["params"])[:2] == ["resnet.0.weight", "resnet.1.weight"]  # conv1 kept its place, fc dropped
    assert ours["params"]["resnet.0.weight"].shape == (8, 1, 3, 3) and ours["params"]["fc.0.weight"].shape == (256, 32)
    assert ours["lines"][0] == "Train Epoch: 1 [0/64 (0%)]\tLoss: 0.698693"


def test_mnist_rnn_matches_torch_and_reloads(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = both("rnn_main", lambda m: m.Net(0.0, 0.0), ["--epochs", "3", "--lr", "1.0", "--save-model"],
                          tmp_path)
    agree(theirs, ours)
    assert len(ours["loss"]) == 12 and ours["reloaded"] == ours["test"][-1]  # the reload evaluates the same
    assert ours["test"][-1][1] >= 9 and ours["test"][-1][0] < ours["test"][0][0] - 0.05  # learning; torch: 3 -> 11
    assert (tmp_path / "ours" / "mnist_rnn.pt").exists()
    want = [("UserWarning", "dropout2d: a 2-d input is deprecated")]  # Dropout2d on (N, C), in both
    assert [(c, m[:36]) for c, m in ours["warnings"]] == want


def test_mnist_rnn_dry_run_and_dropout2d_on_2d(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = both("rnn_main", lambda m: m.Net(0.0, 0.0), ["--epochs", "1", "--dry-run"], tmp_path)
    assert len(ours["loss"]) == len(theirs["loss"]) == 1  # the break after the first logged step
    agree(theirs, ours)
    with program(PATH, "ours") as o:
        o.torch.manual_seed(0)
        layer = o.nn.Dropout2d(0.25)
        with pytest.warns(UserWarning, match="a 2-d input is deprecated"):
            out = layer(o.torch.ones(400, 50)).numpy()
        assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
        assert abs((out == 0).mean() - 0.25) < 0.02  # element-wise, as torch: ~25% of 20000 entries
        assert not (out == 0).all(axis=1).any() and not (out == 0).all(axis=0).any()  # not whole rows / columns
