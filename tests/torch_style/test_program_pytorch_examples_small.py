"""``pytorch_examples_small.py`` (pytorch/examples' time_sequence_prediction, regression and super_resolution in their
2017-2019 spelling) run on torch and, imports swapped, on ours, from torch's initial weights and the same numpy data.

- time_sequence_prediction (float64, LBFGS): every loss the closure printed, the test losses, the predictions with
  their ``future`` extrapolation, LBFGS's state (counts, H_diag, t), the final parameters and the printed lines;
  the 2019 ``split`` / ``cat`` spelling gives the 2017 ``chunk`` / ``stack`` one's numbers.
- regression (float32, manual updates through ``param.data``, the 2018 and 2017 spellings): ``W_target`` /
  ``b_target`` and every batch's draw handed in from numpy. The fit is chaotic (lr 0.1 on x^4 features: a 1e-7
  nudge of torch's own initial weights grows to 1e-5 relative by batch 110 and to several percent by batch 130; torch
  with x^4 computed as (x^2)^2 is 1.3% off its own losses by batch 400 and 27% by 600), so the losses and gradient
  norms are compared over the first 80 batches; then both must converge (loss under 1e-3, not at the same batch:
  741 and 1169 on an AMD EPYC with OpenBLAS's Haswell kernels, 742 and 744 on a Xeon) close to the actual function.
  The ``torch.randn`` paths run on both for shapes and dtypes.
- super_resolution (float32, Adam): losses, gradient norms, both PSNRs, the printed lines, the final parameters and
  ``super_resolve``'s output; a run resumed from the epoch-1 checkpoint equals the uninterrupted one exactly in
  each library; ours's ``orthogonal_`` init is orthogonal with the ReLU gain.

Tolerances, measured. time_sequence (float64; LBFGS overshoots twice, the loss rising from 0.07 to 1.6, which
amplifies the rounding): losses within 8.8e-10 relative, test losses 2.9e-10, predictions 1.3e-10 and parameters
1.3e-10 absolute; we allow rtol 5e-9 and atol 5e-10. regression: the first 80 losses within 1.6e-6 relative,
gradient norms 8.4e-6 (we allow 2e-5); at the end each run's parameters and printed coefficients within 0.14 of the
target (we allow 0.2; on the Xeon the two runs were within 0.012 of each other). super_resolution: losses within
1.3e-7 relative, gradient norms 5e-7, PSNRs 6e-8, parameters 2.3e-7 and luminance 6.6e-7 absolute, the uint8 image
equal; we allow rtol 2e-6, atol 2e-6 on parameters and 5e-6 on the luminance, and 1 on the uint8 image (a value on an
integer edge may truncate the other way). Runtime: about 4 s of test calls alone on this 2-core machine, 7 s while
other test runs share it (ours's LBFGS and convolutions then wait on OpenBLAS's second thread)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "pytorch_examples_small.py"


def printed(fn: Callable[..., dict], *args: Any, **kwargs: Any) -> dict:
    """``fn(*args, **kwargs)``'s result dict with what it printed, as a list of lines, under ``"stdout"``."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        out = fn(*args, **kwargs)
    out["stdout"] = buffer.getvalue().splitlines()
    return out


def same_lines(ours: list[str], theirs: list[str], **tol: float) -> None:
    """Printed lines equal but for the numbers in them, which agree within ``tol``."""
    assert len(ours) == len(theirs)
    for got, want in zip(ours, theirs):
        got_words, want_words = got.split(), want.split()
        assert len(got_words) == len(want_words), (got, want)
        for g, w in zip(got_words, want_words):
            try:
                assert float(g) == pytest.approx(float(w), **tol), (got, want)
            except ValueError:
                assert g == w, (got, want)


def test_time_sequence_prediction_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    def run(m, seq, lib):
        m.generate_sine_wave(tmp_path / f"{lib}.pt", T=20, L=12, N=5)
        out = printed(m.train_sequence, seq, tmp_path / f"{lib}.pt", steps=2, future=4)
        data = m.torch.from_numpy(m.torch.load(tmp_path / f"{lib}.pt", weights_only=False)[:3, :-1])
        new = m.Sequence(new_spelling=True).double()
        new.load_state_dict(seq.state_dict())
        with m.torch.no_grad():
            np.testing.assert_array_equal(new(data, future=4).numpy(), out["pred"][-1])
        return out

    theirs, ours = from_torch_weights(PATH, lambda m: m.Sequence(), run)
    assert len(ours["loss"]) == len(theirs["loss"]) == 40  # LBFGS's max_iter=20 closure calls per step
    for key in ("loss", "test"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=5e-9, err_msg=key)
    for got, want in zip(ours["pred"], theirs["pred"], strict=True):
        assert got.shape == want.shape == (3, 11 + 4) and got.dtype == want.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=0, atol=5e-10)
    assert ours["lbfgs"][:2] == theirs["lbfgs"][:2] == [40, 40]  # closure calls and iterations
    np.testing.assert_allclose(ours["lbfgs"][2:], theirs["lbfgs"][2:], rtol=5e-9)  # H_diag and the last step t
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=5e-10)
    same_lines(ours["stdout"], theirs["stdout"], rel=5e-9)
    assert ours["stdout"][:2] == ["STEP:  0", f"loss: {ours['loss'][0]}"] and ours["test"][-1] < 0.5 * ours["loss"][0]


def regression_draws(lib_module: Any, seed: int) -> Iterator[np.ndarray]:
    """(W_target, b_target) numpy arrays set into the program's globals, and an endless generator of its draws."""
    rng = np.random.default_rng(seed)
    W, b = (rng.standard_normal(shape).astype(np.float32) * 5 for shape in ((4, 1), (1,)))
    lib_module.W_target, lib_module.b_target = lib_module.torch.from_numpy(W), lib_module.torch.from_numpy(b)
    return (rng.standard_normal(32).astype(np.float32) for _ in count())


def coefficients(line: str) -> np.ndarray:
    """The numbers of a ``poly_desc`` line ('... y = +0.97 x^1 -2.65 x^2 ... +8.99'): w1 .. w4, b."""
    return np.array(line.split("y = ")[1].replace(" x^", " ").split()[::2], float)


@pytest.mark.parametrize("legacy", [False, True], ids=["2018", "2017"])
def test_regression_matches_torch(one_torch_thread: None, legacy: bool) -> None:
    def run(m, fc, lib):
        return m.fit(fc, regression_draws(m, 2), legacy=legacy, max_batches=2000)

    theirs, ours = from_torch_weights(PATH, lambda m: m.torch.nn.Linear(m.W_target.size(0), 1), run)
    for key in ("loss", "norm"):
        np.testing.assert_allclose(ours[key][:80], theirs[key][:80], rtol=2e-5, err_msg=key)
    assert len(ours["loss"]) < 2000 and ours["loss"][-1] < 1e-3 and theirs["loss"][-1] < 1e-3  # both converged
    first = ours["lines"][0]
    assert first.startswith("Loss: 0.000") and first.endswith(f"after {len(ours['loss'])} batches")
    assert ours["lines"][2] == theirs["lines"][2]  # the actual function
    target = coefficients(ours["lines"][2])
    for out in (ours, theirs):  # each converged to it (where, along the flat valley, depends on the rounding)
        np.testing.assert_allclose(coefficients(out["lines"][1]), target, rtol=0, atol=0.2)
        found = np.concatenate([out["params"]["weight"].reshape(-1), out["params"]["bias"]])
        np.testing.assert_allclose(found, target, rtol=0, atol=0.2)


def test_regression_torch_randn_path(one_torch_thread: None) -> None:
    """The program's own draws (each library's generator): the shapes and dtypes of its globals and batches."""
    for lib, legacy in (("torch", False), ("torch", True), ("ours", False), ("ours", True)):
        with program(PATH, lib) as m:
            assert m.W_target.shape == (4, 1) and m.b_target.shape == (1,)
            x, y = m.get_batch()
            assert x.shape == (32, 4) and y.shape == (32, 1) and x.dtype == y.dtype == m.torch.float32
            np.testing.assert_allclose(x.numpy()[:, 3], x.numpy()[:, 0] ** 4, rtol=1e-6)
            fc = m.torch.nn.Linear(m.W_target.size(0), 1)
            out = m.fit(fc, legacy=legacy, max_batches=5)
            assert len(out["loss"]) == 5 and out["lines"][1].startswith("==> Learned function:\ty = ")


def super_resolution(m: Any, model: Any, folder: Path) -> dict:
    """The training run (3 epochs, lr 1e-3) and ``super_resolve`` of a 6x6 RGB image in both spellings."""
    folder.mkdir()
    out = printed(m.run_super_resolution, model, folder, epochs=3, lr=1e-3)
    img = np.random.default_rng(5).integers(0, 256, (6, 6, 3)).astype(np.uint8)
    with m.torch.no_grad():
        out["image"], out["luminance"] = m.super_resolve(out["model"], img)
        legacy = m.super_resolve(out["model"], img, legacy=True)
    np.testing.assert_array_equal(legacy[0], out["image"])
    return out


def test_super_resolution_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = from_torch_weights(PATH, lambda m: m.Net(upscale_factor=2),
                                      lambda m, model, lib: super_resolution(m, model, tmp_path / lib))
    for key in ("loss", "norm", "psnr", "psnr_torch"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=2e-6, err_msg=key)
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=2e-6)
    same_lines(ours["stdout"], theirs["stdout"], abs=1.01e-4)  # a 4-decimal loss may round the other way
    assert ours["image"].shape == (12, 12, 3) and ours["image"].dtype == np.uint8
    assert np.abs(ours["image"].astype(int) - theirs["image"]).max() <= 1
    np.testing.assert_allclose(ours["luminance"], theirs["luminance"], rtol=0, atol=5e-6)
    assert ours["psnr"][-1] > ours["psnr"][0] and ours["loss"][-1] < 0.5 * ours["loss"][0]


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_super_resolution_resume_is_exact(one_torch_thread: None, tmp_path: Path, lib: str) -> None:
    """Resumed from the epoch-1 checkpoint (model and Adam state dicts, loaded into fresh objects): the same losses,
    PSNRs and parameters as the uninterrupted run, bit for bit."""
    with program(PATH, lib) as m:
        m.torch.manual_seed(0)
        whole = printed(m.run_super_resolution, m.Net(upscale_factor=2), tmp_path, epochs=3, lr=1e-3)
        m.torch.manual_seed(1)  # a fresh model with other weights: the checkpoint must replace them
        resumed = printed(m.run_super_resolution, m.Net(upscale_factor=2), tmp_path, epochs=3, lr=1e-3, resume_epoch=1)
    assert resumed["loss"] == whole["loss"][2:] and resumed["psnr"] == whole["psnr"][1:]
    assert resumed["stdout"] == whole["stdout"][6:]
    for name, value in whole["params"].items():
        np.testing.assert_array_equal(resumed["params"][name], value, err_msg=name)


def test_orthogonal_init_with_relu_gain() -> None:
    with program(PATH, "ours") as m:
        net = m.Net(upscale_factor=3)
        for conv, gain in ((net.conv1, 2 ** 0.5), (net.conv2, 2 ** 0.5), (net.conv3, 2 ** 0.5), (net.conv4, 1.0)):
            w = conv.weight.detach().numpy().reshape(conv.weight.size(0), -1).astype(np.float64)
            gram = w.T @ w if w.shape[0] > w.shape[1] else w @ w.T  # the smaller side is orthonormal
            np.testing.assert_allclose(gram, gain ** 2 * np.eye(len(gram)), atol=1e-5)
        assert net.conv4.weight.shape == (9, 32, 3, 3) and net(m.torch.zeros(1, 1, 4, 5)).shape == (1, 1, 12, 15)
