"""The neural style transfer program (``style_transfer.py``) on torch and, with the imports swapped, on ours, in
float64 and float32, with max- and average-pooling feature nets: from torch's initial weights and the same numpy
content / style images, the model built from ``cnn.children()`` (its module names, its trim after the last loss),
every loss LBFGS's closure evaluates (style, content, total variation, total), the loss each ``step`` returns, the
image after each step and the final clamped image; the forward-hook variant's Adam losses, gradient norms and images.

Tolerances (measured): float64 agrees to ~1e-15 per closure at first; LBFGS feeds each difference back through its
curvature pairs, and the relative difference grows about tenfold every four closures (seen: ~1e-13 after 20, up to
3e-7 on the style loss after 40 as the loss falls 500-fold, 1e-7 after 60), so the float64 runs take two LBFGS steps
(40 closures): the first step's 20 closures under rtol 1e-10, all 40 under rtol 1e-5, the pixels (in [0, 1])
within 1e-6 (seen 4e-8). float32 starts at ~5e-7 and is ~1e-5 after 5 closures and ~1e-2 after 20 (seen), so the
float32 runs take one LBFGS step of 5 closures under rtol 1e-4, pixels within 3e-5 (seen 3.4e-6). Adam (10 steps,
hooks) keeps float64 within 3e-15 and float32 within 1e-6 (seen)."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"float64": {"rtol": 1e-5, "atol": 1e-12}, "float32": {"rtol": 1e-4, "atol": 1e-6}}
FIRST_STEP_TOL = {"rtol": 1e-10, "atol": 1e-14}  # float64's first 20 closures
IMAGE_TOL = {"float64": {"rtol": 0, "atol": 1e-6}, "float32": {"rtol": 0, "atol": 3e-5}}  # pixels in [0, 1]
ADAM_TOL = {"float64": {"rtol": 1e-11, "atol": 1e-14}, "float32": {"rtol": 1e-4, "atol": 1e-6}}
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def images(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """A smooth content image (gradients and a disc) and a striped style image, (3, 24, 24) in [0, 1]."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:24, 0:24] / 23.0
    disc = ((yy - 0.5) ** 2 + (xx - 0.4) ** 2 < 0.08).astype(float)
    content = np.stack([xx, yy, 0.6 * disc + 0.2]) + 0.05 * rng.standard_normal((3, 24, 24))
    style = 0.5 + 0.4 * np.sin(np.stack([6 * xx + 2 * yy, 3 * yy, 5 * (xx - yy)]) * np.pi)
    return tuple(np.clip(a, 0, 1).astype(dtype) for a in (content, style))


def run(m, lib, cnn, dtype: str, pool: str, **kw) -> dict:
    """The program's two runs on one library: LBFGS over inserted loss modules, Adam over hooks."""
    content, style = (m.image_loader(a, getattr(lib, dtype)) for a in images(dtype))
    mean, std = lib.tensor(MEAN), lib.tensor(STD)
    model = m.get_style_model_and_losses(cnn, mean, std, style, content)[0]
    image, history = m.run_style_transfer(cnn, mean, std, content, style, content.clone(), **kw)
    hooked, adam = m.run_with_hooks(cnn, mean, std, content, style, content)
    return {"names": [name for name, _ in model.named_children()], "image": image, "history": history,
            "hooked": hooked, "adam": adam, "cnn": cnn}


def numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy()


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("pool", ["max", "avg"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_style_transfer_matches_torch(dtype: str, pool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    steps = {"float64": 39, "float32": 4}[dtype]  # closures: 2 x 20 LBFGS evaluations; 1 x 5
    with program(HERE / "style_transfer.py", "torch") as t, program(HERE / "style_transfer.py", "ours") as o:
        if dtype == "float32":
            monkeypatch.setattr(t, "MAX_ITER", 5)
            monkeypatch.setattr(o, "MAX_ITER", 5)
        torch.manual_seed(0)
        cnn_t = t.make_cnn(pool).to(getattr(torch, dtype))
        cnn_o = o.make_cnn(pool).to(getattr(o.torch, dtype))
        assert list(cnn_o.state_dict()) == list(cnn_t.state_dict())
        cnn_o.load_state_dict({k: v.numpy() for k, v in cnn_t.state_dict().items()})
        with pytest.warns(UserWarning, match="copy construct"):  # Normalization's torch.tensor(a tensor)
            want = run(t, torch, cnn_t, dtype, pool, num_steps=steps, tv_weight=1e-3)
        with pytest.warns(UserWarning, match="copy construct"):
            got = run(o, o.torch, cnn_o, dtype, pool, num_steps=steps, tv_weight=1e-3)
    assert got["names"] == want["names"]
    assert want["names"][-3:] == ["conv_5", "style_loss_5"] or want["names"][-2:] == ["conv_5", "style_loss_5"]
    assert "relu_5" not in want["names"] and want["names"].index("content_loss_4") == 12  # trimmed: the last loss
    history, expected = got["history"], want["history"]
    assert len(history["loss"]) == len(expected["loss"]) == {"float64": 40, "float32": 5}[dtype]
    for key in ("style", "content", "tv", "loss", "step_loss"):
        np.testing.assert_allclose(history[key], expected[key], **TOL[dtype], err_msg=key)
        if dtype == "float64":
            np.testing.assert_allclose(history[key][:20], expected[key][:20], **FIRST_STEP_TOL, err_msg=key)
    assert len(history["images"]) == len(expected["images"])
    for step, (a, b) in enumerate(zip(history["images"], expected["images"])):
        assert a.shape == b.shape == (3, 24, 24)
        np.testing.assert_allclose(numpy(a), numpy(b), **IMAGE_TOL[dtype], err_msg=f"image after step {step}")
    image = numpy(got["image"])
    assert str(got["image"].dtype).removeprefix("torch.") == dtype and got["image"].requires_grad
    np.testing.assert_allclose(image, numpy(want["image"]), **IMAGE_TOL[dtype], err_msg="final image")
    assert image.min() >= 0 and image.max() <= 1  # the final clamp_
    assert min(history["loss"]) < 0.3 * history["loss"][0]  # it stylised
    for key in ("style", "content", "loss", "grad_norm"):
        np.testing.assert_allclose(got["adam"][key], want["adam"][key], **ADAM_TOL[dtype], err_msg=key)
    for step, (a, b) in enumerate(zip(got["adam"]["images"], want["adam"]["images"])):
        np.testing.assert_allclose(numpy(a), numpy(b), **ADAM_TOL[dtype], err_msg=f"Adam image {step}")
    np.testing.assert_allclose(numpy(got["hooked"]), numpy(want["hooked"]), **ADAM_TOL[dtype])
    assert got["adam"]["loss"][-1] < 0.5 * got["adam"]["loss"][0]
    for name, p in history["model"].named_parameters():  # model.requires_grad_(False): no gradient kept
        assert not p.requires_grad and p.grad is None, name
    # the feature net: still frozen, its weights untouched
    for (name, p), q in zip(cnn_t.named_parameters(), got["cnn"].parameters()):
        assert not p.requires_grad and not q.requires_grad and q.grad is None, name
        np.testing.assert_array_equal(numpy(q), numpy(p), err_msg=name)
