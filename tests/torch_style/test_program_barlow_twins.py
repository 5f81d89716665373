"""``barlow_twins.py`` (facebookresearch/barlowtwins' main.py, evaluate.py and hubconf.py's loading) run on torch and,
imports swapped, on ours: from torch's initial weights and the same numpy views, the Barlow Twins losses, gradient
norms, both groups' learning rates and every parameter / BatchNorm statistic after each LARS step agree, as do the
JSON stats lines in ``stats.txt``, the checkpoint dicts and the final backbone file; an interrupted run resumed from
its checkpoint equals the uninterrupted one exactly; the linear evaluation (``--weights freeze`` and ``finetune``)
agrees from the same backbone weights; and ``off_diagonal``, the loss, the LARS step and hubconf / evaluate's
``strict=False`` loads hold against numpy.

Tolerances: float32, the runs differing by summation order in convolutions, BatchNorm and the matmuls. Measured over
6 steps (2 epochs of 3, warmup 1 epoch, the repository's lr 0.2 / 0.0048): losses within 1.1e-6 relative, gradient
norms 4.2e-6, parameters / statistics within 2.4e-7 absolute, the checkpoint's LARS momenta within 1.7e-5 of each
one's largest entry; linear evaluation (2 epochs of 2 steps) losses within 7.0e-8 (freeze) / 7.2e-8 (finetune)
relative, its weights within 1.6e-8 / 2.4e-7. We allow losses rtol 5e-6, gradient norms 2e-5, parameters atol 1e-6,
momenta 3e-5 of their scale. The learning rates are kept small on purpose: at main.py's batch of 4 with lr 2.0 / 0.5
one ulp added to torch's own initial weights grows to 5e-3 in 6 steps, in torch alone as ours against torch's does
(evaluate's finetune at 0.05 / 0.3 likewise grows ours against torch's from 1e-6 to 9e-4 in 9 steps). Learning
rates, accuracies, epochs / steps of the printed lines are compared exactly. The file takes about 6-7.5 s (torch on
one thread) on a shared 2-core machine."""

from __future__ import annotations

import collections
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "barlow_twins.py"
ARGS = ["--epochs", "2", "--batch-size", "4", "--projector", "16-16-16", "--print-freq", "1",
        "--warmup-epochs", "1", "--weight-decay", "1e-4"]
EVAL = ["--epochs", "2", "--batch-size", "4", "--lr-backbone", "0.01", "--lr-classifier", "0.1", "--print-freq", "2"]
LOSS_RTOL, GRAD_RTOL, ATOL, MU_RTOL = 5e-6, 2e-5, 1e-6, 3e-5


def make(m: object) -> object:
    return m.BarlowTwins(m.parser.parse_args(ARGS))


def stats(path: Path) -> list[dict]:
    """The JSON lines of a ``stats.txt`` (the first line is the command line)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def close_stats(ours: list[dict], theirs: list[dict]) -> None:
    """The same keys and values, the losses within LOSS_RTOL, the elapsed seconds small, the rest exactly."""
    assert len(ours) == len(theirs)
    for got, want in zip(ours, theirs, strict=True):
        assert got.keys() == want.keys()
        for key in want:
            if key == "loss":
                np.testing.assert_allclose(got[key], want[key], rtol=LOSS_RTOL)
            elif key == "time":  # whole seconds since the start: 0, or 1 on a busy machine
                assert isinstance(got[key], int) and 0 <= got[key] <= 5
            else:
                assert got[key] == want[key], key


def pretrain(tmp_path: Path) -> tuple[dict, dict]:
    def run(m: object, model: object, lib: str) -> dict:
        history = collections.defaultdict(list)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GradScaler / autocast: deprecated, and disabled without CUDA
            wrapped = m.main([*ARGS, "--checkpoint-dir", str(tmp_path / lib)], m.make_images(12), history, model)
        history["types"] = sorted({type(module).__name__ for module in wrapped.modules()})
        return history
    return from_torch_weights(PROGRAM, make, run)


def test_pretrain_and_linear_eval_match_torch(one_torch_thread: None, tmp_path: Path) -> None:
    import tinygrad_adam

    theirs, ours = pretrain(tmp_path)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=LOSS_RTOL)
    np.testing.assert_allclose(ours["grad_norm"], theirs["grad_norm"], rtol=GRAD_RTOL)
    assert len(ours["state"]) == 6
    for step, (got, want) in enumerate(zip(ours["state"], theirs["state"], strict=True)):
        assert list(got) == list(want)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=ATOL, err_msg=f"{name} at step {step}")
    base = 4 / 256
    q = 0.5 * (1 + np.cos(np.pi * np.arange(3) / 3))
    lrs = [base * s / 3 for s in range(3)] + list(base * q + base * 0.001 * (1 - q))
    np.testing.assert_allclose(np.array(theirs["lr"]), np.outer(lrs, [0.2, 0.0048]), rtol=1e-15)
    assert ours["lr"] == theirs["lr"]
    assert ours["types"] == theirs["types"] and "SyncBatchNorm" in ours["types"] and "BatchNorm2d" not in ours["types"]
    close_stats(stats(tmp_path / "ours" / "stats.txt"), stats(tmp_path / "torch" / "stats.txt"))
    assert [(s["epoch"], s["step"]) for s in stats(tmp_path / "ours" / "stats.txt")] == [
        (0, 0), (0, 1), (0, 2), (1, 3), (1, 4), (1, 5)]

    ckpt = tinygrad_adam.load(tmp_path / "ours" / "checkpoint.pth")
    ref = torch.load(tmp_path / "torch" / "checkpoint.pth")
    assert ckpt["epoch"] == ref["epoch"] == 2 and list(ckpt["model"]) == list(ref["model"])
    assert all(k.startswith("module.") for k in ref["model"])
    for group, want in zip(ckpt["optimizer"]["param_groups"], ref["optimizer"]["param_groups"], strict=True):
        assert group == want
    for index, want in ref["optimizer"]["state"].items():
        scale = float(want["mu"].abs().max())  # the momenta of raw gradients (the 1-d groups': up to ~200)
        np.testing.assert_allclose(ckpt["optimizer"]["state"][index]["mu"].numpy(), want["mu"].numpy(), rtol=0,
                                   atol=MU_RTOL * scale, err_msg=str(index))
    backbone = tinygrad_adam.load(tmp_path / "ours" / "resnet50.pth")
    ref_backbone = torch.load(tmp_path / "torch" / "resnet50.pth")
    assert list(backbone) == list(ref_backbone) and not any(k.startswith("fc.") for k in ref_backbone)
    for name, want in ref_backbone.items():
        np.testing.assert_allclose(backbone[name].numpy(), want.numpy(), rtol=0, atol=ATOL, err_msg=name)

    # evaluate.py from the same (torch's) backbone weights, converted once for ours
    converted = tmp_path / "converted.pth"
    tinygrad_adam.save({k: tinygrad_adam.from_numpy(v.numpy()) for k, v in ref_backbone.items()}, converted)
    for weights in ("freeze", "finetune"):
        runs = []
        for lib, path in (("torch", tmp_path / "torch" / "resnet50.pth"), ("ours", converted)):
            with program(PROGRAM, lib) as m:
                history = collections.defaultdict(list)
                fc = None if lib == "torch" else runs[0]["fc_init"]
                m.linear_eval([str(path), "--weights", weights, *EVAL, "--checkpoint-dir",
                               str(tmp_path / f"{lib}_{weights}")], m.make_images(8, 1), m.make_images(8, 2),
                              history, fc_weight=fc)
                runs.append(history)
        want, got = runs
        np.testing.assert_allclose(got["loss"], want["loss"], rtol=LOSS_RTOL)
        assert got["lr"] == want["lr"] and got["acc"] == want["acc"]
        for name in want["state"]:
            np.testing.assert_allclose(got["state"][name], want["state"][name], rtol=0, atol=ATOL,
                                       err_msg=f"{weights}: {name}")
        close_stats(stats(tmp_path / f"ours_{weights}" / "stats.txt"),
                    stats(tmp_path / f"torch_{weights}" / "stats.txt"))
        cosine = [0.5 * (1 + np.cos(np.pi * e / 2)) for e in range(2)]
        lr = [0.1 * c for c in cosine] if weights == "freeze" else [[0.1 * c, 0.01 * c] for c in cosine]
        np.testing.assert_allclose(np.array(want["lr"]).reshape(2, 2, -1)[:, 0], np.array(lr).reshape(2, -1))
        if weights == "freeze":  # the frozen backbone, BatchNorm statistics included, is the file's
            for name, value in ref_backbone.items():
                np.testing.assert_array_equal(got["state"][name], value.numpy(), err_msg=name)
        else:
            assert not np.array_equal(got["state"]["bn1.running_mean"], ref_backbone["bn1.running_mean"].numpy())


class Interrupt(list):
    """A list whose ``append`` raises after ``n`` items: the run preempted (main.py's SIGUSR1 / requeue)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def append(self, item: object) -> None:
        if len(self) == self.n:
            raise KeyboardInterrupt
        super().append(item)


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    """Ours: 2 epochs at once, or stopped in the second epoch and restarted on the same directory (main.py's
    automatic resume from ``checkpoint.pth``), give the same numbers exactly; the same for evaluate.py."""
    runs = []
    with program(PROGRAM, "ours") as m, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, stop in (("whole", None), ("resumed", 4)):
            history = collections.defaultdict(list)
            argv = [*ARGS, "--checkpoint-dir", str(tmp_path / name)]
            if stop is not None:
                history["loss"] = Interrupt(stop)
                m.torch.manual_seed(0)
                with pytest.raises(KeyboardInterrupt):
                    m.main(argv, m.make_images(12), history, make(m))
                history = collections.defaultdict(list)
            m.torch.manual_seed(0)
            m.main(argv, m.make_images(12), history, make(m))
            runs.append({"loss": history["loss"][-3:], "lr": history["lr"][-3:], "params": history["state"][-1],
                         "stats": [{k: v for k, v in s.items() if k != "time"}
                                   for s in stats(tmp_path / name / "stats.txt")][-3:]})
        assert_same(*runs)
        assert len(stats(tmp_path / "resumed" / "stats.txt")) == 4 + 3  # steps 0-3, then 3-5 again

        runs = []
        for name, stop in (("whole_eval", None), ("resumed_eval", 3)):
            history = collections.defaultdict(list)
            argv = [str(tmp_path / "whole" / "resnet50.pth"), "--weights", "finetune", *EVAL, "--checkpoint-dir",
                    str(tmp_path / name)]
            data = m.make_images(8, 1), m.make_images(8, 2)
            if stop is not None:
                history["loss"] = Interrupt(stop)
                m.torch.manual_seed(0)
                with pytest.raises(KeyboardInterrupt):
                    m.linear_eval(argv, *data, history)
                history = collections.defaultdict(list)
            m.torch.manual_seed(0)
            m.linear_eval(argv, *data, history)
            runs.append({"loss": history["loss"][-2:], "lr": history["lr"][-2:], "params": history["state"],
                         "acc": history["acc"][-1:]})
        assert_same(*runs)
        assert runs[1]["acc"][-1]["epoch"] == 1


def lars_reference(p: np.ndarray, grad: np.ndarray | float, lars: bool, steps: int = 2) -> np.ndarray:
    """main.py's LARS in float64 numpy (lr 0.5, weight decay 0.1, eta 0.001, momentum 0.9) for ``steps`` steps with
    a fixed gradient; ``lars=False``: a 1-d parameter, neither decayed nor adapted."""
    p, mu = p.astype(np.float64), 0.0
    for _ in range(steps):
        dp = grad + 0.1 * p if lars else grad + 0 * p
        if lars and np.linalg.norm(p) > 0 and np.linalg.norm(dp) > 0:
            dp = dp * 0.001 * np.linalg.norm(p) / np.linalg.norm(dp)
        mu = 0.9 * mu + dp
        p = p - 0.5 * mu
    return p


def assert_same(whole: dict, resumed: dict) -> None:
    """Everything equal exactly, the ``params`` dict of arrays by array_equal."""
    assert whole.keys() == resumed.keys()
    for key in whole:
        if key == "params":
            for name in whole[key]:
                assert np.array_equal(whole[key][name], resumed[key][name]), name
        else:
            assert whole[key] == resumed[key], key


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_barlow_twins_pieces(one_torch_thread: None, lib: str, tmp_path: Path) -> None:
    """What both libraries must compute: ``off_diagonal``, the model's layout and its loss against numpy, one LARS
    step against numpy, the disabled GradScaler, hubconf's load and evaluate's ``strict=False`` assertion."""
    with program(PROGRAM, lib) as m:
        t = m.torch
        x = t.from_numpy(np.arange(25, dtype=np.float32).reshape(5, 5))
        want = np.arange(25).reshape(5, 5)[~np.eye(5, dtype=bool)]
        np.testing.assert_array_equal(m.off_diagonal(x).numpy(), want)
        np.testing.assert_array_equal(m.off_diagonal(t.ones(1, 1)).numpy(), np.zeros(0))
        with pytest.raises(AssertionError):
            m.off_diagonal(t.ones(2, 3))

        t.manual_seed(0)
        model = make(m)
        assert type(model.backbone.fc).__name__ == "Identity"
        layers = [type(layer).__name__ for layer in model.projector]
        assert layers == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]
        assert model.projector[0].bias is None and tuple(model.projector[0].weight.shape) == (16, 64)
        assert model.bn.weight is None and not model.bn.affine
        blocks = (model.backbone.layer1[0], model.backbone.layer4[0])
        assert all(float(b.bn2.weight.detach().abs().sum()) == 0 for b in blocks)  # zero_init_residual

        images = m.make_images(4)[0]
        y1, y2 = t.from_numpy(images), t.from_numpy(images[:, :, :, ::-1].copy())
        loss = model(y1, y2)
        with t.no_grad():
            z1 = model.projector(model.backbone(y1)).numpy().astype(np.float64)
            z2 = model.projector(model.backbone(y2)).numpy().astype(np.float64)
        n1 = (z1 - z1.mean(0)) / np.sqrt(z1.var(0) + 1e-5)
        n2 = (z2 - z2.mean(0)) / np.sqrt(z2.var(0) + 1e-5)
        c = n1.T @ n2 / 4
        want = ((np.diag(c) - 1) ** 2).sum() + 0.0051 * (c[~np.eye(16, dtype=bool)] ** 2).sum()
        np.testing.assert_allclose(float(loss), want, rtol=1e-5)

        # one LARS step on a 2-d weight (decay + trust ratio), a 1-d bias (neither) and a zero weight (ratio 1)
        rng = np.random.default_rng(0)
        w0, b0, g_w, g_b = (rng.normal(size=s).astype(np.float32) for s in [(3, 4), (4,), (3, 4), (4,)])
        w, b, z = (t.from_numpy(a.copy()).requires_grad_() for a in (w0, b0, np.zeros((2, 2), np.float32)))
        opt = m.LARS([{"params": [w, z]}, {"params": [b]}], lr=0.5, weight_decay=0.1, weight_decay_filter=True,
                     lars_adaptation_filter=True)
        w.grad, b.grad, z.grad = t.from_numpy(g_w), t.from_numpy(g_b), t.ones(2, 2)
        for _ in range(2):
            opt.step()
        for got, start, grad, lars in ((w, w0, g_w, True), (b, b0, g_b, False), (z, np.zeros((2, 2)), 1.0, True)):
            np.testing.assert_allclose(got.detach().numpy(), lars_reference(start, grad, lars), rtol=1e-6, atol=1e-7)
        assert set(opt.state[w]) == {"mu"}

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scaler = t.cuda.amp.GradScaler()
            with t.cuda.amp.autocast():
                out = loss * 1
        assert not scaler.is_enabled() and scaler.scale(out) is out
        assert any(("CUDA is not available" if lib == "torch" else "needs a GPU") in str(w.message) for w in caught)

        # hubconf / evaluate: the backbone file loads with strict=False, only fc missing
        backbone = model.backbone.state_dict()
        t.save(backbone, tmp_path / "resnet50.pth")
        hub = m.resnet50(path=tmp_path / "resnet50.pth")
        for name, value in hub.state_dict().items():
            np.testing.assert_array_equal(value.numpy(), backbone[name].numpy())
        missing, unexpected = m.resnet_tiny(num_classes=6).load_state_dict(backbone, strict=False)
        assert missing == ["fc.weight", "fc.bias"] and unexpected == []
        history = collections.defaultdict(list)
        linear = m.linear_eval([str(tmp_path / "resnet50.pth"), "--epochs", "1", "--batch-size", "4",
                                "--checkpoint-dir", str(tmp_path / "lincls")], m.make_images(4, 1),
                               m.make_images(4, 2), history)
        assert 0.003 < history["fc_init"].std() < 0.03  # normal_(0, 0.01), this library's own draw
        assert [n for n, p in linear.named_parameters() if p.requires_grad] == ["module.fc.weight", "module.fc.bias"]
        assert not linear.training
        checkpoint = t.load(tmp_path / "lincls" / "checkpoint.pth", weights_only=False)
        assert checkpoint["epoch"] == 1 and set(checkpoint["best_acc"]) == {"top1", "top5"}
