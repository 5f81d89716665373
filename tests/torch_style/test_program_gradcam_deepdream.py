"""``gradcam_deepdream.py`` (jacobgil/pytorch-grad-cam's core: ActivationsAndGradients, BaseCAM, GradCAM / GradCAM++
/ XGradCAM / EigenCAM; and a tutorial DeepDream with jitter, clamping and octaves) run on torch and, imports
swapped, on ours from torch's initial weights and the same numpy images: the model outputs, every activation and
gradient the hooks saved (in their prepended order, one or two target layers), the CAMs, the parameter gradient
left by ``loss.backward(retain_graph=True)``, the hooks' release; and every dream iteration's loss, input gradient
and image, the octave shapes and the final deprocessed image.

Tolerances: float32; the runs differ by summation order in the convolutions. Measured: outputs within 1.9e-9,
activations within 4.5e-8, gradients within 3.5e-10, the parameter gradient within 1.5e-8, CAMs (normalised to
[0, 1]) within 3e-7 (6e-7 for other categories); dream losses within 2.4e-7 (of ~4), input gradients within
8.2e-9, images within 4.8e-7 (of ~2), final images within 1.2e-7. We allow rtol 1e-5 with atol 1e-6, atol 2e-6
for CAMs and dream images, which scale_cam_image's division by the max and the ascent's division by the mean
gradient magnify. The argmax targets must be equal: the top two logits lie 0.046 apart, far above rounding. The
jitter comes from one numpy RandomState in both runs, as numpy integers (what the tutorials hand to ``roll``).
EigenCAM's SVD runs with each singular vector's sign fixed (``signed_svd``), in both runs: LAPACK leaves it open."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-6}
IMAGE_TOL = {"rtol": 1e-5, "atol": 2e-6}
PATH = HERE / "gradcam_deepdream.py"
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def close(ours: object, theirs: object, what: str, tol: dict) -> None:
    assert np.shape(ours) == np.shape(theirs), what
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float), err_msg=what, **tol)


def signed_svd(svd: Any) -> Any:
    """``np.linalg.svd`` with each singular vector's sign fixed (its largest entry positive). EigenCAM projects on the
    first right singular vector, whose sign LAPACK leaves open: with OpenBLAS's Haswell kernels (an AMD EPYC) inputs
    7e-8 apart gave opposite signs, and so unrelated images, in torch's run and ours. Both runs get this one."""
    def fixed(a: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        u, s, vt = svd(a, *args, **kwargs)
        flip = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
        vt = vt * flip[:, None]
        u = u.copy()
        u[:, :len(flip)] *= flip
        return u, s, vt
    return fixed


@pytest.mark.parametrize("categories", [None, [1, 2, 3]])
def test_cams_match_torch(one_torch_thread: None, categories: list[int] | None,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(np.linalg, "svd", signed_svd(np.linalg.svd))
    images = np.random.default_rng(0).uniform(-1, 1, (3, 3, 16, 16)).astype(np.float32)
    theirs, ours = from_torch_weights(PATH, lambda m: m.SmallCNN(), lambda m, model, lib: m.run_cams(model, images,
                                                                                                     categories))
    assert ours.keys() == theirs.keys()
    assert ours["recorded_after_release"] == theirs["recorded_after_release"] == [2, 0]
    close(ours["weight_grad"], theirs["weight_grad"], "weight_grad", TOL)
    for key in theirs:
        if key.count("/") == 2:  # activations, gradients, outputs
            assert len(ours[key]) == len(theirs[key]), key
            for got, want in zip(ours[key], theirs[key]):
                close(got, want, key, TOL)
        elif key.count("/") == 1:
            cam = ours[key]
            assert cam.dtype == np.float32 and cam.shape == (3, 16, 16) and cam.min() >= 0 and cam.max() <= 1, key
            close(cam, theirs[key], key, IMAGE_TOL)
    # two target layers: both activations in forward order, the gradients prepended as backward reaches them
    assert [a.shape for a in ours["gradcam/two/activations"]] == [(3, 16, 8, 8), (3, 24, 8, 8)]
    assert [g.shape for g in ours["gradcam/two/gradients"]] == [(3, 16, 8, 8), (3, 24, 8, 8)]
    assert ours["eigencam/two/gradients"] == []  # EigenCAM does not backpropagate
    assert all(ours[f"{name}/last"].max() > 0.99 for name in ("gradcam++", "eigencam"))


@pytest.mark.parametrize("variant", ["truncated_norm", "hook_norm", "truncated_mean"])
def test_deep_dream_matches_torch(one_torch_thread: None, variant: str) -> None:
    array = np.random.default_rng(1).random((20, 20, 3)).astype(np.float32)

    def run(m: object, model: object, lib: str) -> dict:
        model.eval()
        if variant == "hook_norm":
            return m.deep_dream(model, array, layer=model.features[7])
        return m.deep_dream(m.truncated(model, 7), array, loss_kind=variant.split("_")[1])

    theirs, ours = from_torch_weights(PATH, lambda m: m.SmallCNN(), run)
    assert ours["octaves"] == theirs["octaves"] == [(1, 3, 10, 10), (1, 3, 14, 14), (1, 3, 20, 20)]
    close(ours["loss"], theirs["loss"], "loss", TOL)
    assert len(ours["grad"]) == len(ours["image"]) == 9
    for step, (got, want) in enumerate(zip(ours["grad"], theirs["grad"])):
        close(got, want, f"grad {step}", TOL)
    for step, (got, want) in enumerate(zip(ours["image"], theirs["image"])):
        close(got, want, f"image {step}", IMAGE_TOL)
    close(ours["result"], theirs["result"], "result", IMAGE_TOL)
    for octave in range(3):  # each octave's dream raised its objective
        assert ours["loss"][3 * octave + 2] > ours["loss"][3 * octave]
    lower, upper = (-MEAN / STD).reshape(1, 3, 1, 1), ((1 - MEAN) / STD).reshape(1, 3, 1, 1)
    image = ours["image"][-1]  # the clamp to the normalised pixel range held, and bit (about 100 pixels)
    assert (image >= lower).all() and (image <= upper).all()
    assert (np.isclose(image, lower, rtol=1e-6, atol=0) | np.isclose(image, upper, rtol=1e-6, atol=0)).sum() > 50
