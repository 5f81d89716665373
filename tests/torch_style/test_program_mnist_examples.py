"""pytorch/examples' MNIST program (``mnist_examples.py``) on torch and, with the imports swapped, on ours, over a
few hundred real MNIST digits. Dropout masks come from each library's own generator, so the step-by-step comparison
runs with ``--no-dropout`` (p set to 0 through model.apply, as a user would); with dropout on, ours trains and its
test loop (model.eval()) is deterministic."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import realdata
from test_programs import HERE, needs, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

ARGS = ["--epochs", "2", "--batch-size", "32", "--log-interval", "3", "--lr", "1.0", "--gamma", "0.7"]


def digits() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    from tinygrad_adam.data.mnist import mnist_arrays

    arrays = mnist_arrays(realdata.find("mnist"))
    return (arrays["x_train"][:192], arrays["y_train"][:192]), (arrays["x_test"][:200], arrays["y_test"][:200])


def numbers(printed: str) -> list[str]:
    """The printed lines with every number after a decimal point dropped (the losses' last digits may differ)."""
    return [re.sub(r"\.\d+", ".", line) for line in printed.splitlines() if line]


@needs("mnist")
@pytest.mark.usefixtures("one_torch_thread")
def test_mnist_example_matches_torch_step_by_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import tinygrad_adam

    train_arrays, test_arrays = digits()
    with program(HERE / "mnist_examples.py", "torch") as t, program(HERE / "mnist_examples.py", "ours") as o:
        torch.manual_seed(1)
        state = t.Net().state_dict()
        theirs, want = t.main([*ARGS, "--no-dropout", "--save-model", str(tmp_path / "t.pt")], train_arrays,
                              test_arrays, state)
        printed_t = capsys.readouterr().out
        ours, got = o.main([*ARGS, "--no-dropout", "--save-model", str(tmp_path / "o.pt")], train_arrays, test_arrays,
                           {k: v.numpy() for k, v in state.items()})
        printed_o = capsys.readouterr().out
    assert [m.p for m in (ours.dropout1, ours.dropout2)] == [0.0, 0.0]
    assert numbers(printed_o) == numbers(printed_t) and "Train Epoch: 2 [192/192" not in printed_o
    assert "[96/192 (50%)]" in printed_o and "Test set: Average loss: " in printed_o
    assert got["lr"] == pytest.approx([1.0, 0.7], rel=1e-12) and got["lr"] == pytest.approx(want["lr"], rel=1e-12)
    # float32 convolutions over 288 terms and a 9216-term matmul round differently (~1e-7 relative per op);
    # Adadelta's step is sqrt(acc_delta + eps) / sqrt(acc_grad + eps) * g, about lr * sqrt(eps) / |g| * g: bounded
    # and insensitive to rounding, so the runs stay within ~1e-6 over 12 steps (seen: losses 2e-7 relative, fc2's
    # weights 3e-8 absolute, test losses equal)
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-5)
    for step, (a, b) in enumerate(zip(got["fc2"], want["fc2"], strict=True)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"fc2.weight at step {step}")
    np.testing.assert_allclose(got["test_loss"], want["test_loss"], rtol=1e-5)
    assert all(abs(a - b) <= 1 for a, b in zip(got["correct"], want["correct"], strict=True))  # one borderline digit
    saved_t, saved_o = torch.load(tmp_path / "t.pt"), tinygrad_adam.load(tmp_path / "o.pt", map_location="cpu")
    assert list(saved_o) == list(saved_t) == list(theirs.state_dict())
    for name, p in saved_t.items():  # state_dict() values are arrays (README's "Differences from PyTorch")
        np.testing.assert_allclose(np.asarray(saved_o[name]), p.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    reloaded, again = o.Net(), {"test_loss": [], "correct": []}  # the saved file serves a fresh model
    reloaded.load_state_dict(saved_o)
    o.test(reloaded, tinygrad_adam.device("cpu"), o.DataLoader(o.MNISTArrays(*test_arrays), batch_size=1000), again)
    assert again["test_loss"] == got["test_loss"][-1:] and again["correct"] == got["correct"][-1:]
    # it learned: 12 steps take the loss from ln 10 to about half and the accuracy from chance (20 of 200) to ~45%
    assert got["loss"][-1] < 0.6 * got["loss"][0] and got["correct"][-1] > 80


@needs("mnist")
def test_mnist_example_trains_with_dropout_and_tests_deterministically(capsys: pytest.CaptureFixture[str]) -> None:
    import tinygrad_adam

    train_arrays, test_arrays = digits()
    with program(HERE / "mnist_examples.py", "ours") as o:
        model, history = o.main([*ARGS, "--dry-run"], train_arrays, test_arrays)
        printed = capsys.readouterr().out
        loader = o.DataLoader(o.MNISTArrays(*test_arrays), batch_size=1000)
        repeat = {"test_loss": [], "correct": []}
        o.test(model, tinygrad_adam.device("cpu"), loader, repeat)
        o.test(model, tinygrad_adam.device("cpu"), loader, repeat)
    assert [m.p for m in (model.dropout1, model.dropout2)] == [0.25, 0.5] and not model.training
    assert printed.count("Train Epoch") == 2 and len(history["loss"]) == 2  # --dry-run: one batch an epoch
    assert repeat["test_loss"][0] == repeat["test_loss"][1] == pytest.approx(history["test_loss"][-1], rel=1e-6)
    with tinygrad_adam.no_grad():
        model.train()
        x = o.MNISTArrays(*train_arrays)[0][0].unsqueeze(0)
        assert not np.array_equal(model(x).numpy(), model(x).numpy())  # dropout is live in train mode
