"""The torchvision-style ResNet program (``resnet.py``) on torch and on ours: from torch's initial weights and the
same synthetic CIFAR-sized batches (numpy), the same losses, learning rates, momenta, gradient norms, test outputs,
accuracies, trained weights and BatchNorm running statistics, and a state_dict that survives torch.save /
torch.load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # (conftest.py)

HERE = Path(__file__).resolve().parent
CLASSES = 4


def synthetic(rng: np.random.Generator, batches: int, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Batches of (size, 3, 32, 32) float32 images in [0, 1] and int64 labels: one template per class (a tint and
    a blob's position), plus noise, so a few steps can learn them."""
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    centres = np.random.default_rng(0).uniform(0.2, 0.8, (CLASSES, 2))
    colours = np.random.default_rng(1).uniform(0.1, 0.9, (CLASSES, 3))
    out = []
    for _ in range(batches):
        labels = rng.integers(0, CLASSES, size)
        blob = np.exp(-((yy - centres[labels, 0, None, None]) ** 2 + (xx - centres[labels, 1, None, None]) ** 2) / 0.02)
        tint = colours[labels][:, :, None, None]
        images = 0.6 * tint + 0.3 * blob[:, None] * tint + 0.1 * rng.standard_normal((size, 3, 32, 32))
        out.append((np.clip(images, 0, 1).astype(np.float32), labels.astype(np.int64)))
    return out


def check_init(model: Any) -> None:
    """Our own initialisation (replaced by torch's weights afterwards): Kaiming normal with fan_out for the convs,
    std sqrt(2 / (out_channels * kh * kw)), within sampling error (a 4-sigma band of the sample std), BN ones /
    zeros."""
    for name, value in model.state_dict().items():
        if value.ndim == 4:
            fan_out = value.shape[0] * value.shape[2] * value.shape[3]
            band = 4 / np.sqrt(2 * value.size)
            assert abs(value.std() / np.sqrt(2 / fan_out) - 1) < band, name
        elif "bn" in name or "downsample.1" in name:
            want = {"weight": 1, "bias": 0, "running_mean": 0, "running_var": 1, "num_batches_tracked": 0}
            np.testing.assert_array_equal(value, want[name.rsplit(".", 1)[1]], err_msg=name)


def train_both(double: bool) -> tuple[dict[str, Any], dict[str, Any], Any, Any]:
    """The program's ``run`` on ours and on torch (2 epochs of 4 batches of 8) from torch's initial weights; with
    ``double`` both models and their inputs are float64. Returns (ours' history, torch's, our model, torch's)."""
    rng = np.random.default_rng(11)
    train, test = synthetic(rng, 4, 8), synthetic(rng, 1, 16)
    with program(HERE / "resnet.py", "torch") as t, program(HERE / "resnet.py", "ours") as o:
        torch.manual_seed(0)
        theirs = t.resnet_small(num_classes=CLASSES)
        ours = o.resnet_small(num_classes=CLASSES)
        assert list(ours.state_dict()) == list(theirs.state_dict())  # the OrderedDict stem's names, BN buffers
        check_init(ours)
        ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()}, strict=True)
        groups = [t.param_groups(theirs, 5e-4), o.param_groups(ours, 5e-4)]
        assert [len(g["params"]) for g in groups[0]] == [len(g["params"]) for g in groups[1]] == [12, 23]
        if double:
            theirs.double()
            ours.double()
        want = t.run(theirs, train, test, dtype=torch.float64 if double else torch.float32)
        got = o.run(ours, train, test, dtype=o.torch.float64 if double else o.torch.float32)
    return got, want, ours, theirs


def check(got: dict[str, Any], want: dict[str, Any], ours: Any, theirs: Any, rtol: float, atol: float) -> None:
    np.testing.assert_allclose(got["lr"], want["lr"], rtol=1e-12)  # python floats on both sides
    np.testing.assert_allclose(got["momentum"], want["momentum"], rtol=1e-12)
    for key in ("loss", "norm", "test_loss"):
        np.testing.assert_allclose(got[key], want[key], rtol=rtol, err_msg=key)
    assert got["train_acc"] == want["train_acc"] and got["test_acc"] == want["test_acc"]
    np.testing.assert_allclose(got["test_outputs"], want["test_outputs"], rtol=rtol, atol=atol)
    np.testing.assert_array_equal(got["restored_outputs"], got["test_outputs"])  # the save / load round trip
    mine = ours.state_dict()
    for name, value in theirs.state_dict().items():  # weights, BN running mean / var, num_batches_tracked
        assert mine[name].dtype == value.numpy().dtype, name
        np.testing.assert_allclose(mine[name], value.numpy(), rtol=rtol, atol=atol, err_msg=name)
    assert int(mine["stem.bn.num_batches_tracked"]) == 8 and not ours.training
    assert got["loss"][-1] < 0.6 * got["loss"][0] and got["test_acc"][-1] > 0.5  # it learned (chance: 0.25)


def test_resnet_matches_torch() -> None:
    """The program as written (float32). Each step's reductions run over 8 x 1024 pixels in float32, in another
    order than torch's, so the two agree to float32's rounding: measured against a float64 run, torch's own float32
    run and ours stay within 3e-7 (relative) of it in losses, norms and outputs over these 8 steps, the trained
    weights within 1e-6 (absolute). The tolerance leaves room for other BLAS kernels (with batches of 16 instead
    of 8, the same float32 rounding grows to 1e-4 - 1e-3 within six steps, in torch against float64 as much as in
    ours);
    the float64 test below is the tight one."""
    check(*train_both(double=False), rtol=2e-5, atol=1e-6)


def test_resnet_matches_torch_in_float64() -> None:
    """The same program on float64 models and inputs: every number agrees to float64's rounding, which shows the
    float32 differences above are rounding, not a different computation."""
    got, want, ours, theirs = train_both(double=True)
    assert got["test_outputs"].dtype == np.float64
    check(got, want, ours, theirs, rtol=1e-10, atol=1e-12)
    ours.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in ours.parameters())
