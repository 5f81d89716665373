"""``tv_classification.py`` (torchvision's classification reference training its MobileNetV2 and an EfficientNet-B0
style net) run on torch and, imports swapped, on ours: from torch's initial weights and the same numpy data and
mixup / cutmix draws (the coin, the Dirichlet lambda, cutmix's box centre and RandomChoice's pick come from numpy),
the logits, losses, clipped gradient norms, lrs, top-1 / top-5, the printed meter lines (times and img/s left out),
the checkpoint dict (model, optimizer state, the SequentialLR state, epoch, args, the EMA model) agree, for SGD +
Nesterov under linear warmup + cosine with mixup / cutmix, label smoothing, the no-decay norm group, a bias group, the
disabled GradScaler and an EMA every step, and for RMSprop(eps=0.0316, alpha=0.9) / AdamW under constant warmup +
StepLR / ExponentialLR; ours resumed from the first epoch's checkpoint equals the uninterrupted run bit for bit;
``set_weight_decay``'s groups are torch's; StochasticDepth (``mode="row"`` / ``"batch"``) keeps or zeroes whole rows
scaled by 1 / survival, is the identity in eval and at p = 0; the transforms on the library's own generator give
convex soft targets.

Tolerances. MobileNetV2 runs in float64: at 32x32 its last stages see 1x1 maps, whose training-mode BatchNorm over a
batch of 4 amplifies float32 rounding (step-0 logits 2.4e-4 apart in float32, 6e-13 in float64, layer by layer the
gap growing only in those stages). AdamW runs in float64 too: a bias of a BatchNorm followed by conv + training-mode
BatchNorm gets a gradient that is rounding noise (the next BatchNorm removes the shift), and in float32 that noise
(~1e-9) rivals eps = 1e-8, so Adam's normalised step sends such biases (and the eval numbers) anywhere within +-lr
in either library. Measured over 2 epochs of one batch of 4 (4 validation images), the larger of two runs:
float64, logits 1.1e-11 absolute, losses 2.7e-13 and gradient norms 1.3e-10 relative, checkpoint parameters and the
EMA 1.5e-11, optimizer state 2.2e-11 absolute: we allow rtol 1e-9, atol 1e-10. float32 (RMSprop): logits 4.8e-7
absolute, losses and gradient norms 1.2e-7 relative, parameters and EMA 1.2e-7 absolute, RMSprop's momentum
buffers (steps divided by sqrt(square_avg) + 0.0316) 6.4e-6 absolute: we allow rtol 1e-6, atol 1e-5. Printed
4-decimal numbers within 1e-4. Accuracies (percentages of counts), lrs, the scheduler state and the checkpoint's
non-tensor entries are equal. The file takes 8.4-9 s (both libraries' first-run warm-up included) on the shared
2-core machine under a load near 3."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "tv_classification.py"
TOLS = {"float32": {"rtol": 1e-6, "atol": 1e-5}, "float64": {"rtol": 1e-9, "atol": 1e-10}}
N_TRAIN = 4  # one batch an epoch: the file's time
FLOAT64 = ("mobilenet_v2", "efficientnet_adamw")  # see the module docstring
TIMES = re.compile(r"(eta: \S+|img/s: \S+|time: \S+|data: \S+|Total time: \S+|Training time \S+)")
CONFIGS = {
    "mobilenet_v2": ["--opt", "sgd_nesterov", "--lr-scheduler", "cosineannealinglr", "--lr-warmup-epochs", "1",
                     "--lr-warmup-method", "linear", "--model-ema", "--model-ema-steps", "1", "--clip-grad-norm",
                     "1.0", "--amp", "--mixup-alpha", "0.2", "--cutmix-alpha", "1.0", "--label-smoothing", "0.1",
                     "--norm-weight-decay", "0.0", "--bias-weight-decay", "0.0", "--print-freq", "1"],
    "efficientnet_rmsprop": ["--opt", "rmsprop", "--lr", "0.01", "--lr-scheduler", "steplr", "--lr-step-size", "1",
                             "--lr-warmup-epochs", "1", "--model-ema", "--model-ema-steps", "2",
                             "--clip-grad-norm", "2.0", "--print-freq", "1"],
    "efficientnet_adamw": ["--opt", "adamw", "--lr", "0.01", "--wd", "0.05", "--lr-scheduler", "exponentiallr",
                           "--lr-gamma", "0.5", "--norm-weight-decay", "0.0", "--clip-grad-norm", "1.0",
                           "--label-smoothing", "0.1", "--mixup-alpha", "0.4", "--print-freq", "1"],
}


def make_model(m, name: str):
    """The tiny nets, their random parts switched off (dropout and stochastic depth 0) where numbers must match."""
    if name.startswith("mobilenet"):  # float64: see the module docstring
        return m.mobilenet_v2(num_classes=10, width_mult=0.25, dropout=0.0).double()
    model = m.efficientnet_tiny(num_classes=10, dropout=0.0, stochastic_depth_prob=0.0)
    return model.double() if name in FLOAT64 else model


def to_numpy(state: dict) -> dict:
    """A state_dict's tensors as float64 arrays (non-tensors kept)."""
    return {k: v.detach().numpy().astype(np.float64) if hasattr(v, "detach") else v for k, v in state.items()}


def train(m, model, lib: str, folder: Path, config: list[str], epochs: int = 2) -> dict:
    """train.py's main for ``epochs`` epochs of 2 batches of 4 (4 validation images) from numpy data and draws."""
    args = m.get_args_parser().parse_args([*config, "--epochs", str(epochs), "--output-dir", str(folder)])
    log = defaultdict(list)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dtype = np.float64 if model.classifier[1].weight.dtype == m.torch.float64 else np.float32
        data = m.make_data(N_TRAIN, dtype=dtype) + m.make_data(4, seed=1, dtype=dtype)
        m.main(args, data, model, m.NumpySource(0), log)
        checkpoint = m.torch.load(str(folder / "checkpoint.pth"), weights_only=True)
    out = dict(log)
    out["lines"] = [TIMES.sub("", line) for line in printed.getvalue().splitlines()]
    out["model"] = to_numpy(checkpoint["model"])
    out["model_ema"] = to_numpy(checkpoint["model_ema"]) if "model_ema" in checkpoint else None
    out["scheduler"] = checkpoint["lr_scheduler"]
    out["epoch"], out["args"], out["folder"] = checkpoint["epoch"], checkpoint["args"], folder
    state = checkpoint["optimizer"]["state"]
    out["opt_state"] = {f"{i}.{k}": np.asarray(v.numpy() if hasattr(v, "numpy") else v, np.float64)
                        for i, s in state.items() for k, v in s.items()}
    out["groups"] = [(g["weight_decay"], g["lr"], g["params"]) for g in checkpoint["optimizer"]["param_groups"]]
    return out


@pytest.fixture(scope="module", params=list(CONFIGS))
def both(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, str]:
    name = request.param
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        theirs, ours = from_torch_weights(
            PROGRAM, lambda m: make_model(m, name),
            lambda m, model, lib: train(m, model, lib, tmp_path_factory.mktemp(f"{name}_{lib}"), CONFIGS[name]))
    finally:
        torch.set_num_threads(threads)
    return theirs, ours, name


def same_line(got: str, want: str, TOL: dict) -> None:
    """Printed lines equal but for their numbers, each within ``TOL``."""
    words, want_words = re.split(r"([\s()]+)", got), re.split(r"([\s()]+)", want)
    assert len(words) == len(want_words), (got, want)
    for word, want_word in zip(words, want_words):
        try:
            number, want_number = float(word), float(want_word)
        except ValueError:
            assert word == want_word, (got, want)
        else:
            assert number == pytest.approx(want_number, rel=TOL["rtol"], abs=1e-4), (got, want)


def tol(name: str) -> dict:
    """The allowed differences for a configuration, by the dtype it runs in."""
    return TOLS["float64" if name in FLOAT64 else "float32"]


def test_training_matches_torch(both: tuple[dict, dict, str]) -> None:
    theirs, ours, name = both
    TOL = tol(name)
    for a, b in zip(ours["output"], theirs["output"], strict=True):
        np.testing.assert_allclose(a, b, err_msg="logits", **TOL)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=TOL["rtol"])
    np.testing.assert_allclose(ours["grad_norm"], theirs["grad_norm"], rtol=TOL["rtol"])
    assert ours["lr"] == theirs["lr"] and ours["acc"] == theirs["acc"] and ours["acc_ema"] == theirs["acc_ema"]
    assert len(ours["lines"]) == len(theirs["lines"])
    for got, want in zip(ours["lines"], theirs["lines"]):
        same_line(got, want, TOL)


def test_checkpoint_matches_torch(both: tuple[dict, dict, str]) -> None:
    theirs, ours, name = both
    TOL = tol(name)
    assert_params_close(ours["model"], theirs["model"], **TOL)
    if theirs["model_ema"] is not None:
        assert_params_close(ours["model_ema"], theirs["model_ema"], **TOL)
    assert ours["scheduler"] == theirs["scheduler"]
    assert ours["epoch"] == theirs["epoch"] == 1
    assert {**ours["args"], "output_dir": ""} == {**theirs["args"], "output_dir": ""}
    assert ours["groups"] == theirs["groups"]
    counted = {k: v for k, v in ours["opt_state"].items() if not k.endswith(".t")}  # (ours: SGD's step count)
    assert_params_close(counted, theirs["opt_state"], **TOL)


def test_resume_equals_the_uninterrupted_run(both: tuple[dict, dict, str], tmp_path: Path) -> None:
    """Ours resumed from the RMSprop run's first-epoch checkpoint (``model_0.pth``: model, optimizer, the
    SequentialLR past its constant warmup, epoch and the EMA model) trains the second epoch as the uninterrupted run
    did, bit for bit: its loss, gradient norm, accuracies, lr, final checkpoint and scheduler state."""
    _, ours, name = both
    if name != "efficientnet_rmsprop":
        pytest.skip("the configurations with mixup draw from a numpy source that a resumed run restarts")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with program(PROGRAM, "ours") as m:
            resumed = train(m, make_model(m, name), "ours", tmp_path,
                            [*CONFIGS[name], "--resume", str(ours["folder"] / "model_0.pth")])
    finally:
        torch.set_num_threads(threads)
    assert ours["epoch"] == resumed["epoch"] == 1
    for key in ("loss", "grad_norm"):
        assert resumed[key] == ours[key][N_TRAIN // 4:], key
    for key in ("acc", "acc_ema", "lr"):
        assert resumed[key] == ours[key][1:], key
    assert resumed["scheduler"] == ours["scheduler"] and resumed["groups"] == ours["groups"]
    for part in ("model", "model_ema", "opt_state"):
        assert resumed[part].keys() == ours[part].keys()
        for key, value in ours[part].items():
            assert np.array_equal(resumed[part][key], value), (part, key)


def test_set_weight_decay_groups_match_torch() -> None:
    """``set_weight_decay`` on a net holding every norm class it names (BatchNorm, LayerNorm, GroupNorm,
    InstanceNorm with affine, LocalResponseNorm has no parameters) and a frozen parameter: the groups' parameter
    names and decays are torch's, norm parameters in the no-decay group, biases in their custom-key group."""
    groups = []
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m:
            nn = m.nn
            net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.GroupNorm(2, 4),
                                nn.InstanceNorm2d(4, affine=True), nn.LocalResponseNorm(2), nn.Flatten(),
                                nn.LazyLinear(5) if False else nn.Linear(4, 5), nn.LayerNorm(5))
            net[0].bias.requires_grad_(False)
            names = {id(p): n for n, p in net.named_parameters()}
            for kwargs in ({}, {"norm_weight_decay": 0.0}, {"norm_weight_decay": 0.0,
                                                             "custom_keys_weight_decay": [("bias", 0.5)]}):
                got = m.set_weight_decay(net, 1e-4, **kwargs)
                groups.append([(g["weight_decay"], [names[id(p)] for p in g["params"]]) for g in got])
    assert groups[:3] == groups[3:]
    assert groups[1] == [(1e-4, ["0.weight", "6.weight", "6.bias"]),
                         (0.0, ["1.weight", "1.bias", "2.weight", "2.bias", "3.weight", "3.bias", "7.weight",
                                "7.bias"])]


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_statistics(mode: str) -> None:
    """torchvision.ops' StochasticDepth on the library's generator: each row (or the whole batch) kept and divided
    by the survival rate or zeroed, about a survival-rate share kept, the mean preserved; the identity in eval and
    at p = 0 (the same object), in both libraries."""
    x = np.random.default_rng(0).uniform(1, 2, (4000, 3, 2, 2)).astype(np.float32)
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m:
            m.torch.manual_seed(0)
            sd = m.StochasticDepth(0.25, mode)
            t = m.torch.from_numpy(x)
            ratio = sd(t).numpy() / x
            assert (np.isclose(ratio, 0) | np.isclose(ratio, 1 / 0.75, rtol=1e-6)).all()
            per_row = ratio.reshape(len(x), -1)
            assert np.allclose(per_row, per_row[:, :1], rtol=1e-6)
            if mode == "row":
                assert abs((per_row[:, 0] > 0).mean() - 0.75) < 0.03
                assert (per_row[:, 0] > 0).any() and (per_row[:, 0] == 0).any()
            else:
                assert np.allclose(per_row, per_row[0, 0], rtol=1e-6)
            sd.eval()
            assert sd(t) is t
            assert m.StochasticDepth(0.0, mode)(t) is t
            with pytest.raises(ValueError):
                m.stochastic_depth(t, 1.5, mode)


def test_mixup_cutmix_on_the_library_generator() -> None:
    """RandomMixup / RandomCutmix drawing from ``torch.rand`` / ``torch._sample_dirichlet`` / ``torch.randint``
    (ours: our generator): soft targets are convex mixes of a row's label and the rolled row's, the mixed images
    are the lambda mix (mixup) or a pasted box whose area gives the lambda (cutmix); reseeding repeats them."""
    x, y = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32), np.array([0, 1, 2, 3])
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m:
            batch, target = m.torch.from_numpy(x), m.torch.from_numpy(y)
            for cls in (m.RandomMixup, m.RandomCutmix):
                m.torch.manual_seed(1)
                images, soft = cls(10, p=1.0, alpha=1.0)(batch, target)
                m.torch.manual_seed(1)
                again, _ = cls(10, p=1.0, alpha=1.0)(batch, target)
                images, soft = images.numpy(), soft.numpy()
                assert np.array_equal(images, again.numpy()) and np.array_equal(batch.numpy(), x)  # not in place
                lam = soft[np.arange(4), y][0]
                np.testing.assert_allclose(soft.sum(1), 1, rtol=1e-6)
                np.testing.assert_allclose(soft[np.arange(4), np.roll(y, 1)], 1 - lam, rtol=1e-5, atol=1e-6)
                rolled = np.roll(x, 1, 0)
                if cls is m.RandomMixup:
                    np.testing.assert_allclose(images, lam * x + (1 - lam) * rolled, rtol=1e-5, atol=1e-6)
                else:
                    pasted = (images == rolled) & (images != x)
                    assert pasted.mean() == pytest.approx(1 - lam, abs=1e-6)
            assert cls(10, p=0.0)(batch, target)[0].numpy().tolist() == x.tolist()
