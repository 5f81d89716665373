"""The U-Net program (``unet.py``) on torch and, with the imports swapped, on ours: from torch's initial weights and
the same numpy images, the same training losses (BCEWithLogitsLoss with pos_weight + soft Dice), clip_grad_norm_'s
total norms, OneCycleLR's learning rates and AdamW beta1s (stepped per accumulated pair of batches), BatchNorm
running statistics after each epoch, validation loss / IoU / Dice / pixel accuracy in eval mode under no_grad, the
printed log lines (0-d tensors formatted with ``f"{loss:.4f}"``), the final state_dict (buffers included), and
eval-mode predictions on odd-sized images (27 and 17 pixels: the ``F.pad`` of each up block is non-zero). The
checkpoint dict (model, optimizer, scheduler, epoch) goes through torch.save / torch.load to a tmp_path file after
the first epoch, and the run resumed from fresh objects equals the uninterrupted one exactly, in each library.
The same program in float64 (``model.double()``), channels-last and on 27 x 27 images agrees to rounding.

Tolerances: float32 throughout. The two libraries sum convolutions and batch statistics in different orders
(~1e-7 relative per op); AdamW moves each weight by about lr whatever the rounding of its gradient, so the
differences stay near that level. Measured over 6 AdamW steps: losses within 1.6e-7 relative, gradient norms
2.2e-7, validation losses 4e-8, running statistics 1.9e-7, eval logits on the odd sizes 1.7e-7 absolute (3e-4
relative on a logit of 5e-4); parameters 1.1e-6 absolute on a weight of 0.056 (2e-5 relative, where Adam's
m / sqrt(v) divides two small numbers), within 1e-6 + 1e-6 relative elsewhere; on an AVX-512 machine, whose BLAS
kernels round otherwise, one weight of 1.3e-4 differed by 1.35e-6. We allow rtol 1e-5 and atol 1e-6 (parameters
rtol 1e-4 and atol 3e-6). Thresholded metrics (IoU, Dice, pixel accuracy) and the predicted masks count pixels whose
sigmoid crosses 0.5: equal exactly in these runs (the odd-size logits nearest 0 are 2e-4 away, 1000 times the
difference), and so are the learning rates, the betas (pure Python in both) and ``num_batches_tracked``."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

import tinygrad_adam  # noqa: E402

PROGRAM = HERE / "unet.py"
LIBS = {"torch": torch, "ours": tinygrad_adam}
TOL = {"rtol": 1e-5, "atol": 1e-6}
PARAM_TOL = {"rtol": 1e-4, "atol": 3e-6}
TOL64 = {"rtol": 1e-12, "atol": 1e-13}  # float64: seen 1.3e-14 on the parameters, 2e-15 elsewhere
EPOCHS = 3


def initial_weights() -> dict[str, np.ndarray]:
    with program(PROGRAM, "torch") as t:
        torch.manual_seed(0)
        return {k: v.numpy().copy() for k, v in t.UNet().state_dict().items()}


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    return initial_weights()


def run(lib: str, weights: dict, folder: Path, stop_after: int | None = None, dtype: str = "float32",
        size: int = 32, channels_last: bool = False) -> dict:
    """``fit`` on 16 training and 8 validation images (size x size) from ``weights``; then predictions on odd-sized
    images."""
    with program(PROGRAM, lib) as m:
        dt = getattr(m.torch, dtype)
        model = m.UNet() if dtype == "float32" else m.UNet().double()
        model.load_state_dict({k: LIBS[lib].tensor(v) for k, v in weights.items()})
        train_set = m.ShapesDataset(*m.make_shapes(16, size=size, seed=0), dtype=dt)
        val_set = m.ShapesDataset(*m.make_shapes(8, size=size, seed=1), dtype=dt)
        memory_format = m.torch.channels_last if channels_last else m.torch.contiguous_format
        model, history = m.fit(model, train_set, val_set, epochs=EPOCHS, checkpoint=folder / f"{lib}.pt",
                               stop_after=stop_after, memory_format=memory_format)
        weight = model.inc.double_conv[3].weight  # (8, 8, 3, 3): channels-last strides differ
        assert weight.is_contiguous(memory_format=memory_format) and weight.is_contiguous() != channels_last
        odd = {}
        for size in (27, 17):
            images = m.torch.from_numpy(m.make_shapes(2, size=size, seed=size)[0]).unsqueeze(1).to(dt)
            logits, masks = m.predict(model, images)
            odd[size] = (logits.numpy(), masks.numpy())
        assert not model.training  # predict left it in eval mode
    state = {k: np.asarray(v).copy() for k, v in model.state_dict().items()}
    return {"history": history, "state": state, "odd": odd}


def assert_same_run(got: dict, want: dict, exact: bool = False, dtype: str = "float32") -> None:
    """Every series of ``got`` against ``want``: within the tolerances, or bit for bit with ``exact``."""
    tolerance, param_tol = (TOL, PARAM_TOL) if dtype == "float32" else (TOL64, TOL64)

    def close(a: Any, b: Any, what: str, tol: dict | None = None) -> None:
        tol = tolerance if tol is None else tol
        if exact:
            np.testing.assert_array_equal(a, b, err_msg=what)
        else:
            np.testing.assert_allclose(a, b, err_msg=what, **tol)

    hg, hw = got["history"], want["history"]
    for key in ("lr", "beta1"):
        assert hg[key] == hw[key], key
    for key in ("loss", "norm", "running_mean", "running_var"):
        assert len(hg[key]) == len(hw[key]), key
        close(np.array(hg[key]), np.array(hw[key]), key)
    assert [sorted(v) for v in hg["val"]] == [sorted(v) for v in hw["val"]]
    for key in ("iou", "dice", "acc"):
        close([v[key] for v in hg["val"]], [v[key] for v in hw["val"]], f"val {key}", {"rtol": 1e-12, "atol": 0})
    close([v["loss"] for v in hg["val"]], [v["loss"] for v in hw["val"]], "val loss")
    assert list(got["state"]) == list(want["state"])
    for name, value in want["state"].items():
        assert got["state"][name].dtype == value.dtype, name
        assert value.dtype == (np.int64 if name.endswith("num_batches_tracked") else dtype), name
        close(got["state"][name], value, name, {"rtol": 0, "atol": 0} if value.dtype.kind == "i" else param_tol)
    for size, (logits, masks) in want["odd"].items():
        assert got["odd"][size][0].shape == logits.shape == (2, 1, size, size)
        close(got["odd"][size][0], logits, f"logits {size}")
        np.testing.assert_array_equal(got["odd"][size][1], masks, err_msg=f"masks {size}")


def both_runs(weights: dict, folder: Path, **options: Any) -> dict[str, tuple[dict, str]]:
    """The uninterrupted runs of both libraries (torch on one thread) and what each printed."""
    results = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for lib in LIBS:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                results[lib] = run(lib, weights, folder, **options), out.getvalue()
    finally:
        torch.set_num_threads(threads)
    return results


@pytest.fixture(scope="module")
def whole(weights: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, str]]:
    return both_runs(weights, tmp_path_factory.mktemp("unet"))


def test_unet_matches_torch(whole: dict) -> None:
    (got, printed), (want, printed_by_torch) = whole["ours"], whole["torch"]
    assert printed == printed_by_torch and printed.count("\n") == EPOCHS  # f"{loss:.4f}" of 0-d tensors
    assert_same_run(got, want)
    history = got["history"]
    assert len(history["loss"]) == 4 * EPOCHS and len(history["norm"]) == len(history["lr"]) == 2 * EPOCHS
    assert history["beta1"][0] < 0.86 and max(history["lr"]) > 5e-3  # OneCycleLR cycled beta1 and lr
    assert history["loss"][-1] < history["loss"][0] and history["val"][-1]["dice"] > 0.8  # it learned
    assert got["state"]["inc.double_conv.1.num_batches_tracked"] == 4 * EPOCHS  # eval forwards did not count


def test_unet_resumes_exactly_from_a_checkpoint(weights: dict, whole: dict, tmp_path: Path,
                                               one_torch_thread: None) -> None:
    """A checkpoint after the first epoch, loaded into fresh objects: the same numbers as without it, bit for bit
    in each library; and the checkpoint file holds the state torch's holds."""
    resumed = {}
    for lib in LIBS:
        with contextlib.redirect_stdout(io.StringIO()) as out:
            resumed[lib] = run(lib, weights, tmp_path, stop_after=0)
        assert out.getvalue() == whole[lib][1]
        assert_same_run(resumed[lib], whole[lib][0], exact=True)
    assert_same_run(resumed["ours"], resumed["torch"])
    saved = {lib: LIBS[lib].load(tmp_path / f"{lib}.pt") for lib in LIBS}
    assert sorted(saved["ours"]) == sorted(saved["torch"]) == ["epoch", "model", "optimizer", "scheduler"]
    assert saved["ours"]["epoch"] == saved["torch"]["epoch"] == 0
    assert list(saved["ours"]["model"]) == list(saved["torch"]["model"])
    for name, value in saved["torch"]["model"].items():
        np.testing.assert_allclose(np.asarray(saved["ours"]["model"][name]), value.numpy(), err_msg=name,
                                   **PARAM_TOL)
    groups = saved["ours"]["optimizer"]["param_groups"], saved["torch"]["optimizer"]["param_groups"]
    for key in ("lr", "betas", "weight_decay", "initial_lr", "max_lr", "min_lr", "params"):
        assert [g[key] for g in groups[0]] == [g[key] for g in groups[1]], key
    scheduler = saved["ours"]["scheduler"], saved["torch"]["scheduler"]
    for key in ("total_steps", "last_epoch", "base_lrs", "_last_lr"):
        assert scheduler[0][key] == scheduler[1][key], key


def test_unet_in_float64_channels_last_on_odd_sizes_matches_torch_to_rounding(weights: dict, tmp_path: Path) -> None:
    """``model.double()`` and float64 batches (``.to(dtype)``; BCEWithLogitsLoss's float32 pos_weight promotes),
    trained channels-last (milesial's ``.to(memory_format=torch.channels_last)`` of model and batches) on 27 x 27
    images, so that every up block pads (and its gradient crops): the two libraries agree to 1e-13 (seen: 1.3e-14 on
    the parameters), so a difference in an algorithm (AdamW, OneCycleLR, the pads, bilinear upsampling, BatchNorm's
    statistics) would show where float32 might hide it."""
    results = both_runs(weights, tmp_path, dtype="float64", size=27, channels_last=True)
    (got, printed), (want, printed_by_torch) = results["ours"], results["torch"]
    assert printed == printed_by_torch
    assert_same_run(got, want, dtype="float64")
