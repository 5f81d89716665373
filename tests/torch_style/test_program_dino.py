"""``dino.py`` (facebookresearch/dino's vision_transformer.py, main_dino.py and utils.py) run on torch and, imports
swapped, on ours: from torch's initial student weights and the same numpy multi-crops (two 16x16 global and two 8x8
local crops, so the position embedding is resized by the bicubic ``interpolate``), the DINO losses, the per-parameter
gradient norms of ``clip_gradients``, the gradients left after ``cancel_gradients_last_layer``, the lr / weight-decay
/ teacher-momentum schedules written into the groups, the ``center`` buffer, the student's and the EMA teacher's
parameters and buffers after every step, the printed log lines (timings left out), the epoch stats and ``log.txt``
agree, under AdamW (with the lr and teacher-temperature warmups and the frozen last layer of epoch 0), under utils'
LARS (``norm_last_layer=False``) and with BatchNorm heads made SyncBatchNorm; ours resumed from a run killed after
its first checkpoint equals the uninterrupted run exactly, under AdamW and LARS, printing torch's restart lines; the
ViT's pieces (``interpolate_pos_encoding`` at other sizes, square or not, ``get_last_selfattention``,
``get_intermediate_layers``, MultiCropWrapper's resolution groups) agree.

Tolerances: float32, the runs differing by summation order (convolutions, matmuls, LayerNorm, the softmaxes at
student temperature 0.1 and teacher temperature 0.04 - 0.07). Left out of the tight comparison, because exact
arithmetic gives them a zero gradient and their update is the sign of rounding noise in torch too: the key third of
each ``qkv.bias`` (a key bias adds the same number to all of a query's logits, which softmax ignores), and with the
BatchNorm head the biases feeding a BatchNorm (``backbone.norm.bias``, ``head.mlp.0.bias``, ``head.mlp.3.bias``);
under AdamW the key biases are checked to move by at most the summed learning rates instead. Measured, AdamW (4
steps): losses within 1.3e-6 relative, gradient norms 8.0e-6 relative (atol 1e-7), gradients 4.4e-6 absolute (of up
to 1.9), student parameters 1.7e-6 (AdamW's normalised steps magnify gradient noise on elements near zero), teacher
1.5e-8, center 4.5e-8; LARS (4 steps): losses 9.0e-7, norms 2.3e-6, gradients 2.1e-6, student 1.3e-7. We
allow rtol 1e-5 for losses and norms, atol 2e-5 for gradients and the student, 1e-6 for the teacher and the center.
The BatchNorm head (LARS, 4 steps) is ill-conditioned in torch alone: one ulp added to torch's ``pos_embed`` moves
its own losses by 4.5e-6 relative and the gradients by 8.7e-5; ours against torch: losses 1.8e-6, norms 7.1e-5,
gradients 1.5e-4, student 5.2e-6, so there we allow norms 2e-4 relative and gradients 5e-4 absolute. The ViT pieces
(tokens after the resized positions, their gradient, attention, intermediate layers, MultiCropWrapper) agree within
7.2e-7 absolute (we allow 1e-6 + 1e-5 relative). Learning rates, weight decays, momenta, the log's text and the
restart lines are compared exactly, the printed numbers (6 digits) within rtol 1e-5 / atol 2e-6. The file takes
about 5.5 s (torch on one thread; 2.5 s of it importing torch._dynamo, which torch's first optimizer does) on a
shared 2-core machine."""

from __future__ import annotations

import collections
import contextlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "dino.py"
ADAMW = ["--epochs", "2", "--warmup_epochs", "1", "--lr", "0.5", "--drop_path_rate", "0",
         "--warmup_teacher_temp_epochs", "2", "--teacher_temp", "0.07"]
LARS = ["--epochs", "2", "--warmup_epochs", "0", "--lr", "2", "--drop_path_rate", "0", "--optimizer", "lars",
        "--norm_last_layer", "false", "--freeze_last_layer", "0"]
RTOL, ATOL, EMA_ATOL = 1e-5, 2e-5, 1e-6
EMBED = 16
NUMBER = re.compile(r"\d+\.\d+")
TIMINGS = re.compile(r"(eta|time|data): [0-9.:]+|Total time: .*|Training time .*")


def train(tmp_path: Path, argv: list[str]) -> tuple[dict, dict]:
    """Both libraries' ``train_dino`` from torch's initial student, each into its own output folder."""
    def make(m: object) -> object:
        return m.build_student(m.get_args_parser().parse_args(argv))

    def run(m: object, model: object, lib: str) -> dict:
        out = tmp_path / lib
        out.mkdir()
        history = collections.defaultdict(list)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            m.train_dino(m.get_args_parser().parse_args([*argv, "--output_dir", str(out)]), model, m.make_images(8),
                         history)
        history["lines"] = [TIMINGS.sub("", line) for line in printed.getvalue().splitlines()]
        history["log"] = [json.loads(line) for line in (out / "log.txt").read_text().splitlines()]
        return history
    return from_torch_weights(PROGRAM, make, run)


def noise_only(name: str, bn_head: bool) -> np.ndarray | slice | None:
    """The slice of parameter ``name`` whose exact gradient is zero (see the module docstring), or None."""
    if name.endswith("qkv.bias"):
        return np.r_[EMBED:2 * EMBED]
    if bn_head and name in ("backbone.norm.bias", "head.mlp.0.bias", "head.mlp.3.bias"):
        return slice(None)
    return None


def close(got: dict, want: dict, atol: float, bn_head: bool, where: str) -> None:
    """Two state dicts within ``atol``, the noise-only slices left out."""
    assert got.keys() == want.keys()
    for name in want:
        a, b = np.array(got[name], dtype=np.float64), np.array(want[name], dtype=np.float64)
        skip = noise_only(name, bn_head)
        if skip is not None:
            a[..., skip], b[..., skip] = 0, 0
        np.testing.assert_allclose(a, b, rtol=0, atol=atol, err_msg=f"{name} {where}")


def agree(theirs: dict, ours: dict, bn_head: bool = False, norms: float = RTOL, grads: float = ATOL) -> None:
    """Everything ``train_one_epoch`` records, step by step (``norms`` / ``grads``: the tolerances of the gradient
    norms, relative, and of the gradients, absolute)."""
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=RTOL)
    with_grad = [n for n in theirs["grads"][0] if any(step[n] is not None for step in theirs["grads"])]
    keep = [i for i, n in enumerate(with_grad) if not isinstance(noise_only(n, bn_head), slice)]
    assert len(with_grad) == len(theirs["param_norms"][0])
    np.testing.assert_allclose(np.array(ours["param_norms"])[:, keep], np.array(theirs["param_norms"])[:, keep],
                               rtol=norms, atol=1e-7)
    assert ours["lr"] == theirs["lr"] and ours["wd"] == theirs["wd"] and ours["momentum"] == theirs["momentum"]
    np.testing.assert_allclose(ours["center"], theirs["center"], rtol=0, atol=EMA_ATOL)
    for step in range(len(theirs["loss"])):
        grads_t, grads_o = theirs["grads"][step], ours["grads"][step]
        assert [n for n, g in grads_o.items() if g is None] == [n for n, g in grads_t.items() if g is None]
        close({n: g for n, g in grads_o.items() if g is not None}, {n: g for n, g in grads_t.items() if g is not None},
              grads, bn_head, f"grad at step {step}")
        close(ours["student"][step], theirs["student"][step], ATOL, bn_head, f"student at step {step}")
        close(ours["teacher"][step], theirs["teacher"][step], EMA_ATOL, bn_head, f"teacher at step {step}")
    same_lines(ours["lines"], theirs["lines"])
    assert ours["log"] == theirs["log"] or all(
        o.keys() == t.keys() and np.allclose([o[k] for k in o], [t[k] for k in t], rtol=RTOL)
        for o, t in zip(ours["log"], theirs["log"], strict=True))
    assert ours["stats"] == ours["log"] and len(ours["log"]) == len(theirs["log"])


def same_lines(ours: list[str], theirs: list[str]) -> None:
    """The printed lines: the same text, their numbers within float32 noise (the last of 6 printed digits)."""
    assert len(ours) == len(theirs)
    for got, want in zip(ours, theirs, strict=True):
        assert NUMBER.split(got) == NUMBER.split(want), (got, want)
        np.testing.assert_allclose([float(x) for x in NUMBER.findall(got)], [float(x) for x in NUMBER.findall(want)],
                                   rtol=RTOL, atol=2e-6, err_msg=got)


def ema_holds(out: dict, bn_head: bool = False) -> None:
    """Each step the teacher is m * its old self + (1 - m) * the updated student (the BatchNorm statistics its own),
    and the noise-only slices move by at most the learning rates so far."""
    for step in range(1, len(out["student"])):
        m = out["momentum"][step]
        for name, old in out["teacher"][step - 1].items():
            if "running" in name or "num_batches" in name:
                continue
            want = m * old + (1 - m) * out["student"][step][name]
            np.testing.assert_allclose(out["teacher"][step][name], want, rtol=0, atol=2e-7, err_msg=name)
    budget = sum(lr[1] for lr in out["lr"]) * (1 + 1e-6)
    for name, value in out["student"][-1].items():
        skip = noise_only(name, bn_head)
        if skip is not None and not bn_head:
            assert np.abs(value[skip] - out["student"][0][name][skip]).max() <= budget, name


def test_dino_adamw_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    """AdamW, 3 epochs of 2 steps: the lr warmup (from 0), the teacher temperature warmup, clipping at 3.0, the last
    layer's gradients cancelled in epoch 0 and its ``weight_g`` frozen at 1."""
    theirs, ours = train(tmp_path, ADAMW)
    agree(theirs, ours)
    assert [lr[0] for lr in ours["lr"]] == [0.0, 0.0078125, 0.0078125, 0.00390675]
    assert all(wd[1] == 0.0 for wd in ours["wd"]) and ours["wd"][0][0] == pytest.approx(0.04)
    for out in (ours, theirs):
        ema_holds(out)
        grads = out["grads"]
        assert grads[0]["head.last_layer.weight_v"] is None and grads[2]["head.last_layer.weight_v"] is not None
        assert grads[2]["head.last_layer.weight_g"] is None  # frozen: requires_grad False, never a gradient
        assert all(np.all(s["head.last_layer.weight_g"] == 1) for s in out["student"])
        assert len(out["param_norms"][0]) == len(grads[0]) - 1  # every parameter with a gradient, before the cancel
    assert ours["lines"][4].startswith("Epoch: [0/2]  [0/2]    loss: 0.63")
    assert ours["lines"][7].startswith("Averaged stats: loss: 0.63") and "  wd: 0.040000 (" in ours["lines"][7]


def test_dino_lars_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    """utils' LARS (trust ratio by ``torch.where``, momentum buffers in ``self.state``), ``norm_last_layer=False``
    (``weight_g`` trained), no frozen epoch."""
    theirs, ours = train(tmp_path, LARS)
    agree(theirs, ours)
    for out in (ours, theirs):
        ema_holds(out)
        assert not np.all(out["student"][-1]["head.last_layer.weight_g"] == 1)
        assert out["grads"][0]["head.last_layer.weight_g"] is not None


def test_dino_batchnorm_head_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    """``use_bn_in_head``: BatchNorm1d layers in both heads, made SyncBatchNorm by ``convert_sync_batchnorm`` (the
    teacher then wrapped), their running statistics averaged into the teacher too, under LARS."""
    theirs, ours = train(tmp_path, [*LARS, "--use_bn_in_head", "true"])
    agree(theirs, ours, bn_head=True, norms=2e-4, grads=5e-4)
    for out in (ours, theirs):
        ema_holds(out, bn_head=True)
        assert "head.mlp.1.running_mean" in out["teacher"][-1] and "head.mlp.4.running_var" in out["student"][-1]
        assert not np.array_equal(out["teacher"][-1]["head.mlp.1.running_mean"],
                                  out["student"][-1]["head.mlp.1.running_mean"])


@contextlib.contextmanager
def interrupted(m: object, epoch: int | None) -> Iterator[None]:
    """``m.train_dino`` killed as it starts epoch ``epoch`` (after the previous epoch's checkpoint), or not at all."""
    real = m.train_one_epoch

    def one_epoch(*args: object) -> dict:
        if args[9] == epoch:
            raise KeyboardInterrupt
        return real(*args)
    m.train_one_epoch = one_epoch
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        m.train_one_epoch = real


def test_resume_equals_uninterrupted(one_torch_thread: None, tmp_path: Path) -> None:
    """Ours, under AdamW and under LARS (its own ``self.state`` of Tensors in the checkpoint): 2 epochs at once, or a
    run killed after its first epoch's checkpoint.pth and restarted, give the same numbers exactly; the restart
    prints the same lines as torch's (the optimizer's ``load_state_dict(strict=False)`` raising TypeError, then
    loading without it)."""
    printed_by = {}
    for lib in ("torch", "ours"):
        runs, restarts = [], []
        with program(PROGRAM, lib) as m:
            for optimizer in ("adamw", "lars") if lib == "ours" else ("adamw",):
                for interrupt in (False, True) if lib == "ours" else (True,):
                    out = tmp_path / f"{lib}_{optimizer}{interrupt}"
                    out.mkdir()  # main_dino's __main__ makes it
                    m.torch.manual_seed(0)
                    history = collections.defaultdict(list)
                    for stop in ((1, None) if interrupt else (None,)):
                        args = m.get_args_parser().parse_args([*ADAMW, "--optimizer", optimizer,
                                                               "--output_dir", str(out)])
                        printed = io.StringIO()
                        with contextlib.redirect_stdout(printed), interrupted(m, stop):
                            m.train_dino(args, m.build_student(args), m.make_images(8), history)
                        restarts.append([line.replace(str(out), "OUT") for line in printed.getvalue().splitlines()
                                         if "checkpoint" in line])
                    runs.append({"loss": history["loss"][-2:], "lr": history["lr"][-2:],
                                 "momentum": history["momentum"][-2:], "center": history["center"][-1].tolist(),
                                 "params": {**history["student"][-1],
                                            **{"teacher." + k: v for k, v in history["teacher"][-1].items()}}})
        if lib == "ours":
            for whole, resumed in zip(runs[::2], runs[1::2], strict=True):
                assert_same_run(whole, resumed)
        printed_by[lib] = restarts
    assert printed_by["ours"][1:3] == printed_by["torch"] and printed_by["ours"][4:] == printed_by["torch"]
    found = printed_by["ours"][2]
    matched = "from checkpoint 'OUT/checkpoint.pth' with msg <All keys matched successfully>"
    assert found == ["Found checkpoint at OUT/checkpoint.pth", f"=> loaded 'student' {matched}",
                     f"=> loaded 'teacher' {matched}", "=> loaded 'optimizer' from checkpoint: 'OUT/checkpoint.pth'",
                     "=> key 'fp16_scaler' not found in checkpoint: 'OUT/checkpoint.pth'",
                     f"=> loaded 'dino_loss' {matched}"]


SIZES = [(16, 16), (8, 8), (12, 12), (20, 20), (24, 16), (4, 12)]


def test_vit_pieces_match_torch(one_torch_thread: None) -> None:
    """From the same weights: the tokens with their resized positions (the ``+ 0.1`` scale factors of 2.1 / 4,
    3.1 / 4, 5.1 / 4, ... through the bicubic ``interpolate``) at square and oblong sizes and the positions' gradient
    through it, ``get_last_selfattention``, ``get_intermediate_layers(n=2)``, and MultiCropWrapper over crops of
    16, 16, 8, 8, 16 pixels: one backbone call per run of equal sizes (3), outputs in the crops' order."""
    rng = np.random.default_rng(0)
    images = {size: rng.normal(size=(2, 3, *size)).astype(np.float32) for size in SIZES}

    def run(m: object, model: object, lib: str) -> dict:
        vit, out = model.backbone, {}
        for size, x in images.items():
            x = m.torch.from_numpy(x)
            tokens = vit.prepare_tokens(x)
            out[f"tokens{size}"] = tokens.detach().numpy()
            if size == (12, 12):
                (tokens ** 2).sum().backward()
                out["pos_grad"] = vit.pos_embed.grad.numpy().copy()
                out["attn"] = vit.get_last_selfattention(x).detach().numpy()
                out["layers"] = [t.detach().numpy() for t in vit.get_intermediate_layers(x, n=2)]
        calls = []
        handle = vit.register_forward_pre_hook(lambda module, args: calls.append(tuple(args[0].shape)))
        crops = [m.torch.from_numpy(images[(s, s)][:1]) for s in (16, 16, 8, 8, 16)]
        out["multicrop"] = model(crops).detach().numpy()
        out["single"] = model(crops[2]).detach().numpy()
        handle.remove()
        out["calls"] = calls
        return out

    argv = ["--drop_path_rate", "0"]
    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.build_student(m.get_args_parser().parse_args(argv)), run)
    assert ours["calls"] == theirs["calls"] == [(2, 3, 16, 16), (2, 3, 8, 8), (1, 3, 16, 16), (1, 3, 8, 8)]
    for key in theirs:
        if key != "calls":
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert [ours[f"tokens{size}"].shape[1] for size in SIZES] == [17, 5, 10, 26, 25, 4]
    assert ours["attn"].shape == (2, 2, 10, 10) and len(ours["layers"]) == 2
    np.testing.assert_allclose(ours["single"], ours["multicrop"][2:3], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_init_and_drop_path(lib: str) -> None:
    """utils' ``trunc_normal_`` (uniform_, erfinv_, mul_, add_, clamp_) draws std 0.02 within [a, b], DINOHead's
    last layer starts with ``weight_g`` 1 (frozen with ``norm_last_layer``), and DropPath keeps or zeroes whole
    samples, scaled by 1 / keep_prob, only in training."""
    with program(PROGRAM, lib) as m:
        m.torch.manual_seed(0)
        t = m.trunc_normal_(m.torch.empty(20000), std=.02)
        assert abs(float(t.std()) - 0.02) < 0.001 and abs(float(t.mean())) < 0.001
        t = m.trunc_normal_(m.torch.empty(20000), std=1.0, a=-0.5, b=0.5)
        assert float(t.min()) >= -0.5 and float(t.max()) <= 0.5 and float(t.std()) < 0.35
        head = m.DINOHead(16, 32, hidden_dim=24, bottleneck_dim=8)
        assert not head.last_layer.weight_g.requires_grad and np.all(head.last_layer.weight_g.detach().numpy() == 1)
        assert m.DINOHead(16, 32, norm_last_layer=False, nlayers=1, bottleneck_dim=8).last_layer.weight_g.requires_grad
        assert not m.has_batchnorms(head) and m.has_batchnorms(m.DINOHead(16, 32, use_bn=True, hidden_dim=4))
        x = m.torch.ones(64, 3, 2)
        dropped = m.DropPath(0.5)
        y = dropped(x).numpy()
        assert set(np.unique(y)) <= {0.0, 2.0} and np.all(y == y[:, :1, :1]) and 10 < (y[:, 0, 0] == 0).sum() < 54
        assert np.array_equal(dropped.eval()(x).numpy(), x.numpy())


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_non_finite_loss_stops_training(lib: str, tmp_path: Path) -> None:
    """An image holding a NaN makes the first loss NaN: ``math.isfinite(loss.item())`` fails, the run prints
    "Loss is nan, stopping training" and exits with status 1 before any update."""
    with program(PROGRAM, lib) as m:
        images = m.make_images(8)
        images[1, 0, 5, 5] = np.nan
        args = m.get_args_parser().parse_args([*ADAMW, "--output_dir", str(tmp_path)])
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), pytest.raises(SystemExit) as exit_info:
            m.train_dino(args, m.build_student(args), images, collections.defaultdict(list))
    assert exit_info.value.code == 1
    assert printed.getvalue().splitlines()[-1] == "Loss is nan, stopping training"
    assert not (tmp_path / "checkpoint.pth").exists()
