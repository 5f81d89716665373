"""``pointnet2.py`` (yanx27/Pointnet_Pointnet2_pytorch's pointnet2_utils, the SSG / MSG classifiers, the SSG part
segmenter, provider.py and the two training scripts) on torch and, imports swapped, on ours: from torch's initial
weights, the same numpy clouds, augmentations, farthest-point starts and dropout masks (fed by forward hooks on the
``nn.Dropout`` modules), the printed lines, learning rates, BatchNorm momenta, test accuracies / mIoUs, the
farthest-point and ball-query indices of every call, the losses and gradient norms of every step and the parameters
and BatchNorm statistics after every step agree; the SSG run stops after its first epoch and a fresh model resumes
from ``best_model.pth`` (loaded into a fresh model, it predicts what the trained one does).

Tolerances, measured, float32 (the program makes its tensors with ``torch.Tensor`` / ``torch.ones``, so float32 is
the only dtype it runs in). Many gradients here are zero in exact arithmetic: every conv / Linear bias feeds a
BatchNorm, a set-abstraction layer's last BatchNorm bias feeds (through ReLU and max) another BatchNorm, and fp1's
one-hot category columns are constant over a batch of one category; the float64 truth is ~1e-15, each library's
float32 value rounding noise of ~1e-8, and Adam's first steps turn that noise into steps of up to lr either way
(torch against itself with its weights moved by one ulp: 3.8e-4 after one step). Those parameters and the running
means they shift differ by up to 3.0e-3 after 6 steps; we allow 2x the summed learning rates (the bound). The rest:
losses within 9.2e-6 relative (torch against its one-ulp self: 7.1e-6), gradient norms 2.5e-5, other parameters and
running variances 1.1e-5 absolute, the segmenter's eval log-probabilities 1.9e-5; we allow rtol 3e-5, rtol 1e-4,
atol 5e-5 and atol 1e-4. The gradients are also checked from the same state: from torch's state before the first and
the last SSG and segmenter steps, on its input, fps starts and dropout masks, ours' gradients are as close to torch's
float64 truth as torch's float32 ones are (SSG 9.8e-6 against 2.0e-5 absolute at most, segmenter 2.2e-6 against
1.6e-5); we allow 3x torch's own float32 error + 1e-6. Accuracies, mIoUs, indices and printed lines are compared
exactly. (Near-ties decide max-pool choices in float32. With the provider's jitter on top of the point dropout,
points nearly coincide: in one MSG step a max over 8 grouped points had two values 6e-7 apart in float64 that
rounded to equal in our float32 (torch's float32 kept their order), and from torch's state that step's gradients
then differed from the truth by 1.2e-2 in ours and 7.6e-6 in torch's, so jitter is not used in these runs. Such
flips, fed by the zero-gradient parameters' noise, also made an uninterrupted 2-epoch SSG run's sixth step
differ by 22% in its gradients, its loss by 3e-6; from torch's state, that step's gradients agreed as above.)
The file takes about 8 s alone on a shared 2-core machine (torch on one thread), half of it one-time imports
(torch._dynamo on Adam's first use, a numba kernel cache)."""

from __future__ import annotations

import collections
import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "pointnet2.py"
LOSS_RTOL, NORM_RTOL, PARAM_ATOL, LOGITS_ATOL = 3e-5, 1e-4, 5e-5, 1e-4


def zero_gradient(name: str) -> bool:
    """Parameters (and running means) whose gradients vanish in exact arithmetic: biases feeding a BatchNorm and
    the BatchNorm statistics they shift, a set-abstraction layer's last BatchNorm bias, and fp1's first conv (the
    columns of its one-hot category input, constant over a batch of one category, act as a bias)."""
    return (name.endswith("bias") and "bn" not in name and not name.startswith(("fc3", "conv2"))) or \
        name.endswith(("running_mean", "mlp_bns.2.bias", "bn_blocks.0.2.bias", "bn_blocks.1.2.bias",
                       "bn_blocks.2.2.bias")) or name == "fp1.mlp_convs.0.weight"


def make(kind: str):
    def build(m: object) -> object:
        if kind == "ssg":
            return m.get_model(3, normal_channel=True)
        if kind == "msg":
            return m.get_model_msg(3, normal_channel=True)
        model = m.get_model_partseg(6, normal_channel=False)
        model.apply(m.weights_init)  # (ours' draws are replaced by torch's weights)
        return model
    return build


def train(kind: str, tmp_path: Path, epochs: int = 2, resume: bool = False, flags: tuple[str, ...] = ()
          ) -> tuple[dict, dict]:
    """Both libraries' training run, each with its history: losses, norms, states, printed lines, the fps / ball
    query indices of every call and, for the truth check, each step's input, numpy state and dropout masks. With
    ``resume``, classification stops after the first epoch and a fresh model goes on from ``best_model.pth``."""
    def run(m: object, model: object, lib: str) -> dict:
        np.random.seed(0)
        rng = np.random.default_rng(7)
        h = collections.defaultdict(list)

        def dropout(mod: object, inp: tuple, out: object) -> object:
            if not mod.training:
                return out
            mask = (rng.random(tuple(inp[0].shape)) >= mod.p).astype(np.float32)
            h["masks"].append(mask)
            return inp[0] * m.torch.from_numpy(mask) / (1 - mod.p)

        def record(mod: object, inp: tuple) -> None:
            if mod.training:
                h["inputs"].append([np.asarray(x).copy() for x in inp])
                h["np_state"].append(np.random.get_state())

        def attach(model: object) -> object:
            for mod in model.modules():
                if isinstance(mod, m.nn.Dropout):
                    mod.register_forward_hook(dropout)
            model.register_forward_pre_hook(record)
            return model

        fps, ball = m.farthest_point_sample, m.query_ball_point
        m.farthest_point_sample = lambda *a: h["fps"].append(fps(*a)) or h["fps"][-1]
        m.query_ball_point = lambda *a: h["ball"].append(ball(*a)) or h["ball"][-1]
        folder = tmp_path / lib
        folder.mkdir()
        argv = ["--log_dir", str(folder), *flags]
        with contextlib.redirect_stdout(io.StringIO()) as out, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if kind == "seg":
                model = m.train_partseg(["--epoch", str(epochs), *argv], attach(model),
                                        m.PartNormalDataset(8, seed=0), m.PartNormalDataset(4, seed=1), h)
            else:
                data = m.ModelNetDataLoader(8, seed=0), m.ModelNetDataLoader(4, seed=1)
                model = m.train_classification(["--epoch", str(1 if resume else epochs), *argv], attach(model), *data,
                                               h)
                if resume:
                    torch.manual_seed(1)
                    model = m.train_classification(["--epoch", str(epochs), *argv], attach(make(kind)(m)), *data, h,
                                                   resume=True)
        h["printed"] = out.getvalue().replace(str(folder), "<log_dir>")
        early = "lr_scheduler.step()` before `optimizer.step()"
        h["early_step_warnings"] = sum(early in str(w.message) or "ran before any `optimizer.step()`" in str(w.message)
                                       for w in caught)  # torch's words or ours
        h["fps"] = [np.asarray(i).copy() for i in h["fps"]]
        h["ball"] = [np.asarray(i).copy() for i in h["ball"]]
        h["model"] = model
        return h
    return from_torch_weights(PROGRAM, make(kind), run)


def agree(theirs: dict, ours: dict) -> None:
    assert ours["printed"] == theirs["printed"]
    for key in ("lr", "momentum"):
        assert ours[key] == theirs[key], key
    assert len(ours["test"]) == len(theirs["test"]) and str(ours["test"]) == str(theirs["test"])
    for key in ("fps", "ball"):
        assert len(ours[key]) == len(theirs[key]) > 0
        for got, want in zip(ours[key], theirs[key], strict=True):
            np.testing.assert_array_equal(got, want, err_msg=key)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=LOSS_RTOL)
    np.testing.assert_allclose(ours["norm"], theirs["norm"], rtol=NORM_RTOL)
    steps = len(theirs["loss"]) // len(theirs["lr"])
    lrs = np.cumsum(np.repeat(theirs["lr"], steps))
    for step, (got, want) in enumerate(zip(ours["state"], theirs["state"], strict=True)):
        assert list(got) == list(want)
        for name in want:
            atol = 2 * lrs[step] + 1e-5 if zero_gradient(name) else PARAM_ATOL
            if name.endswith("num_batches_tracked"):
                assert got[name] == want[name] == step + 1, name
            else:
                np.testing.assert_allclose(got[name], want[name], rtol=0, atol=atol, err_msg=f"{name} at {step}")


def test_pointnet2_ssg_classification_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    """The first epoch, then a fresh model resumed from its ``best_model.pth`` (a fresh Adam and StepLR)."""
    theirs, ours = train("ssg", tmp_path, resume=True)
    agree(theirs, ours)
    assert ours["lr"] == [0.0005, 0.0005] and len(ours["loss"]) == 6  # StepLR stepped before the epoch
    assert ours["printed"].count("Saving at") == 2 and ours["printed"].count("Use pretrain model") == 1
    assert ours["early_step_warnings"] == theirs["early_step_warnings"] == 2  # (each StepLR stepped before Adam)
    for lib, h in (("torch", theirs), ("ours", ours)):  # best_model.pth reloads into a fresh model
        with program(PROGRAM, lib) as m:
            kwargs = {"weights_only": False} if lib == "torch" else {}  # (numpy floats in the dict)
            saved = m.torch.load(str(tmp_path / lib / "best_model.pth"), **kwargs)
            assert saved["epoch"] == 2
            fresh = m.get_model(3)
            fresh.load_state_dict(saved["model_state_dict"])
            fresh.eval()
            h["model"].eval()
            points = m.torch.from_numpy(h["inputs"][0][0])
            np.random.seed(1)
            want = h["model"](points)[0].detach().numpy()
            np.random.seed(1)
            np.testing.assert_array_equal(fresh(points)[0].detach().numpy(), want)
    for step in (0, 5):  # (the first step, and the last, after the resume)
        gradients_as_close_to_the_truth(theirs, step)


def gradients_as_close_to_the_truth(theirs: dict, step: int, kind: str = "ssg") -> None:
    """From torch's state before ``step``, on its input, fps starts and dropout masks: torch float64 (the truth),
    torch float32 and ours; ours' gradients within 3x torch's float32 error + 1e-6."""
    batch = step % 3
    state = theirs["state"][step - 1] if step else None
    grads = {}
    for lib, dtype in (("torch", "float64"), ("torch", "float32"), ("ours", "float32")):
        with program(PROGRAM, lib) as m:
            torch.manual_seed(0)
            model = make(kind)(m)
            if state is None:
                state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
            model.load_state_dict({k: m.torch.from_numpy(v) for k, v in state.items()})
            model = model.to(getattr(m.torch, dtype))
            per = len(theirs["masks"]) // len(theirs["loss"])  # (dropout layers)
            masks = iter([mask.astype(dtype) for mask in theirs["masks"][per * step: per * step + per]])
            for mod in model.modules():
                if isinstance(mod, m.nn.Dropout):
                    mod.register_forward_hook(
                        lambda mod, inp, out, m=m, masks=masks: inp[0] * m.torch.from_numpy(next(masks)) / (1 - mod.p))
            np.random.set_state(theirs["np_state"][step])
            if kind == "seg":
                data = m.PartNormalDataset(8, seed=0)
                targets = np.concatenate([data[i][2] for i in range(8 * batch, 8 * batch + 8)]).astype(np.int64)
            else:
                targets = np.repeat(np.arange(3), 8)[8 * batch: 8 * batch + 8]
            if dtype == "float64":
                torch.set_default_dtype(torch.float64)
            try:
                pred, _ = model(*(m.torch.from_numpy(x.astype(dtype)) for x in theirs["inputs"][step]))
                m.F.nll_loss(pred.reshape(len(targets), -1), m.torch.from_numpy(targets)).backward()
            finally:
                torch.set_default_dtype(torch.float32)
            grads[lib + dtype] = {n: p.grad.numpy().astype(np.float64) for n, p in model.named_parameters()}
    truth = grads["torchfloat64"]
    for name, want in truth.items():
        torch_err = np.abs(grads["torchfloat32"][name] - want).max()
        np.testing.assert_allclose(grads["oursfloat32"][name], want, rtol=0, atol=3 * torch_err + 1e-6,
                                   err_msg=f"{name} at step {step}")


def test_pointnet2_msg_classification_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = train("msg", tmp_path, epochs=1)
    agree(theirs, ours)
    assert len(ours["ball"]) == 5 * 2 * 3  # three radii in each of the two Msg layers, per step and test batch (3 + 2)
    assert ours["model"].sa2.conv_blocks[2][0].in_channels == 48 + 3


def test_pointnet2_part_segmentation_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = train("seg", tmp_path)
    agree(theirs, ours)
    assert ours["momentum"] == [0.1, 0.05] and "Learning rate:0.000500" in ours["printed"]
    assert ours["printed"].count("eval mIoU of") == 6
    for got, want in zip(ours["test_logits"], theirs["test_logits"], strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=LOGITS_ATOL)
    for step in (0, 5):
        gradients_as_close_to_the_truth(theirs, step, "seg")
