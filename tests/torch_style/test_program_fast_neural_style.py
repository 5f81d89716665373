"""``fast_neural_style.py`` (pytorch/examples' fast neural style: TransformerNet, the frozen VGG-like loss net, Adam,
checkpoints and ``stylize``) run on torch and, imports swapped, on ours from torch's initial weights (transformer
and loss net) and the same uint8 images: the style gram matrices, every step's content / style / total losses,
gradient norm and output mean, the printed lines, the final parameters, the stylized output (float and uint8, from a
checkpoint carrying the deprecated InstanceNorm ``running_*`` keys that ``stylize`` deletes) agree; a run resumed
from a mid-epoch checkpoint equals the uninterrupted one in each library; a checkpoint whose old keys are not
deleted is refused by ``load_state_dict`` in both.

Tolerances: float32; the runs differ by summation order in the convolutions, the instance norms and the bmm. Measured
over 4 Adam steps (lr 1e-3, the example's weights 1e5 / 1e10): content losses equal, style and total losses within
4.6e-7 relative (3 of 6.9e6), gradient norms within 3.8e-7 relative, output means within 2.4e-7, style grams within
7.5e-9 (of 0.019), parameters within 7.1e-7. We allow rtol 2e-6 and atol 1e-6. The conv biases in front of an instance
norm (and the residual blocks' ``in2.bias``, a constant per channel that reaches one through the sums and a conv) have
an exactly zero gradient in exact arithmetic: each library's is rounding noise, which Adam scales to a step of about lr,
so they are only checked to be within 2.4 lr a step (measured 7.6e-3 apart after 4 steps). ``stylize`` runs a checkpoint
whose last conv is scaled to a trained model's output range (-45 to 288, so ``clamp(0, 255)`` cuts both ends): outputs
within 1.2e-3 (allowed 4e-3), uint8 images equal (allowed: 1, where a value lies within rounding of an integer). The
printed numbers are compared by value (rtol 1e-6), the rest of each line as text."""

from __future__ import annotations

import re
import types
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 2e-6, "atol": 1e-6}
LR, EPOCHS = 1e-3, 2
SERIES = ("content", "style", "total", "grad_norm", "y_mean")
NUMBER = re.compile(r"\d+\.\d+")
rng = np.random.default_rng(0)
IMAGES = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(6)]  # batches of 4 and 2
STYLE, CONTENT = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)


def args(folder: Path, **options: object) -> types.SimpleNamespace:
    """The example's command-line arguments (its defaults for lr and the loss weights)."""
    return types.SimpleNamespace(**{"cuda": False, "seed": 42, "dataset": IMAGES, "batch_size": 4, "lr": LR,
                                    "epochs": EPOCHS, "style_image": STYLE, "content_weight": 1e5,
                                    "style_weight": 1e10, "log_interval": 1, "checkpoint_model_dir": folder,
                                    "checkpoint_interval": 1, "save_model_dir": folder, "resume": None,
                                    "content_image": CONTENT, **options})


def make(m: types.ModuleType) -> object:
    return m.torch.nn.ModuleDict({"transformer": m.TransformerNet(), "vgg": m.Vgg16(requires_grad=False)})


def train_and_stylize(m: types.ModuleType, model: object, folder: Path) -> dict:
    out = m.train(args(folder), model["transformer"], model["vgg"])
    assert not any(p.requires_grad for p in model["vgg"].parameters())
    state = m.torch.load(out["model"])
    state["in1.running_mean"], state["res1.in2.running_var"] = m.torch.zeros(8), m.torch.ones(32)  # a 0.3 model
    state["deconv3.conv2d.weight"] *= 150  # outputs of a trained model's range (4 steps leave them near 0)
    state["deconv3.conv2d.bias"] -= 60  # and past both ends of [0, 255]
    m.torch.save(state, folder / "old.model")
    out["output"], out["image"] = m.stylize(args(folder, model=str(folder / "old.model")))
    with pytest.raises(Exception, match="running_mean"):  # RuntimeError in torch, ours: see README
        m.TransformerNet().load_state_dict(state)
    return out


def dead(name: str) -> bool:
    """Parameters whose exact gradient is zero: a constant per channel in front of an instance norm."""
    in_front_of_norm = name.endswith("conv2d.bias") and not name.startswith("deconv3")
    return in_front_of_norm or re.fullmatch(r"res\d\.in2\.bias", name) is not None


def test_fast_neural_style_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    (tmp_path / "torch").mkdir(), (tmp_path / "ours").mkdir()
    theirs, ours = from_torch_weights(HERE / "fast_neural_style.py", make,
                                      lambda m, model, lib: train_and_stylize(m, model, tmp_path / lib))
    for got, want in zip(ours["gram_style"], theirs["gram_style"], strict=True):
        assert got.shape == want.shape == (4, want.shape[1], want.shape[1])
        np.testing.assert_allclose(got, want, **TOL)
    for key in SERIES:
        assert len(ours[key]) == len(theirs[key]) == EPOCHS * 2, key
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert len(ours["lines"]) == len(theirs["lines"]) == EPOCHS * 2
    for got, want in zip(ours["lines"], theirs["lines"]):
        assert NUMBER.sub("#", got) == NUMBER.sub("#", want)
        np.testing.assert_allclose([float(v) for v in NUMBER.findall(got)],
                                   [float(v) for v in NUMBER.findall(want)], rtol=1e-6)
    assert [Path(p).name for p in ours["checkpoints"]] == [Path(p).name for p in theirs["checkpoints"]]
    live = {k for k in theirs["params"] if not dead(k)}
    assert_params_close({k: ours["params"][k] for k in live}, {k: theirs["params"][k] for k in live}, **TOL)
    assert_params_close({k: v for k, v in ours["params"].items() if k not in live},
                        {k: v for k, v in theirs["params"].items() if k not in live},
                        rtol=0, atol=2 * LR * EPOCHS * 2 * 1.2)
    np.testing.assert_allclose(ours["output"], theirs["output"], rtol=0, atol=4e-3)
    assert theirs["output"].min() < 0 and theirs["output"].max() > 255
    assert ours["image"].dtype == theirs["image"].dtype == np.uint8 and ours["image"].shape == (16, 16, 3)
    assert np.abs(ours["image"].astype(int) - theirs["image"]).max() <= 1


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_resume_is_exact(one_torch_thread: None, tmp_path: Path, lib: str) -> None:
    """Restarted from the checkpoint after the first batch of the second epoch (model and Adam state): the steps
    after it and the final parameters equal the uninterrupted run's."""
    with program(HERE / "fast_neural_style.py", lib) as m:
        m.torch.manual_seed(0)
        model = make(m)
        whole = m.train(args(tmp_path), model["transformer"], model["vgg"])
        m.torch.manual_seed(1)  # other initial weights: all of them must come from the checkpoint
        resumed = m.train(args(tmp_path, resume=str(tmp_path / "ckpt_epoch_1_batch_id_1.pth")),
                          m.TransformerNet(), model["vgg"])
    for key in SERIES:
        assert resumed[key] == whole[key][3:], key
    assert all(np.array_equal(resumed["params"][k], v) for k, v in whole["params"].items())
