"""``mae.py`` (facebookresearch/mae's MaskedAutoencoderViT at img 8x8, patch 2, embed 16, depth 2, decoder depth 1, 2
heads, mask ratio 0.75; main_pretrain / engine_pretrain; main_finetune / engine_finetune with models_vit's global
pool) run on torch and, imports swapped, on ours from torch's initial weights, the same numpy images and the same
numpy masking noise: per step the losses, the masks, the gradient norms (None on accumulation steps), every group's
learning rate and every parameter; per epoch ``log.txt``; the printed lines (timings, the model repr's ``#``
comments and the optimizer's repr left out); the checkpoints (AdamW's moments, the disabled GradScaler's empty
state, the args); a ``--resume`` from the first epoch's checkpoint equal bit for bit to the uninterrupted run in
each library. Fine-tuning loads the pretrained checkpoint with ``strict=False`` (its missing / unexpected keys
asserted), draws its head init from numpy in both (the libraries' generators differ), and trains under
``param_groups_lrd``'s 8 groups with mixup + SoftTargetCrossEntropy and ``clip_grad_norm_``, or label smoothing
with the cls token. Beside them: ``patchify`` / ``unpatchify``, ``random_masking``'s ids_restore / mask / kept
tokens, the sin-cos tables, and ``interpolate_pos_embed``'s bicubic resize.

Tolerances: float32, the runs differing by summation order. The key third of each ``qkv.bias`` gets a gradient that
is exactly zero in exact arithmetic (softmax ignores a per-row constant) and rounding noise of ~1e-9 in practice,
which AdamW (eps 1e-8) turns into updates of up to the lr in either direction, differently in each library: those 16
entries per block are only held within the summed learning rates (measured 8.9e-4 of an allowed 4.7e-3 with
norm_pix, 1.9e-3 of 1.9e-2 with accumulation, 5.4e-5 of 2.3e-3 fine-tuning). Measured otherwise over 3 epochs (6 or
12 steps; fine-tuning 2 epochs after one of pretraining): losses 4.8e-7 (of ~2), gradient norms 2.1e-7 relative,
log.txt / epoch stats 1.4e-7 relative, parameters 1.2e-7 (pretraining) / 3.0e-8 (fine-tuning), Adam's moments
6.0e-8 (exp_avg, of ~0.25) and 7.5e-8 (exp_avg_sq, of ~0.13), 1.6e-6 relative where above the atol. Allowed: rtol
2e-6 with atol 5e-7 on the series and stats, 1e-6 on parameters, rtol 4e-6 with atol 2e-8 / 1e-10 on the moments,
printed numbers within 1.1e-4 (their last digit). Masks, ids_restore, the kept tokens, patchify / unpatchify, the
sin-cos tables, learning rates, the group layout, accuracies and the resumed runs are equal. The file takes about 6
s on a shared 2-core machine (torch on one thread; about 2 s of it torch's first ``optim`` import)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "mae.py"
TOL = {"rtol": 2e-6, "atol": 5e-7}
PARAM_ATOL = 1e-6
MOMENT_TOL = {"exp_avg": {"rtol": 4e-6, "atol": 2e-8}, "exp_avg_sq": {"rtol": 4e-6, "atol": 1e-10}}
EPOCHS = 3
VARIANTS = {"norm_pix": ["--norm_pix_loss"], "accum": ["--accum_iter", "2", "--batch_size", "2", "--blr", "0.2"]}
TIMINGS = re.compile(r"(eta|time|data): [0-9.:]+|Total time: .*|Training time .*")
NUMBER = re.compile(r"-?\d+\.\d+(e-?\d+)?")


def quiet(call: object, *args: object, **kwargs: object) -> tuple[object, list[str]]:
    """``call(*args, **kwargs)`` with its printed lines captured (the CUDA-less amp warnings silenced)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = call(*args, **kwargs)
    return out, printed.getvalue().splitlines()


def clean(lines: list[str], folder: Path) -> list[str]:
    """The printed lines without timings, the model repr's ``#`` comments, the optimizer repr (each library prints
    its own) and the run folder."""
    out, skip = [], False
    for line in lines:
        if line.startswith("AdamW"):
            skip = True
        elif line.startswith(("Start training", "Resume checkpoint", "criterion")):
            skip = False
        if not skip:
            out.append(TIMINGS.sub("", line.split("  # ")[0]).replace(str(folder), "OUT"))
    return out


def same_lines(ours: list[str], theirs: list[str]) -> None:
    """The same text, the numbers within float32 noise in their last printed digit."""
    assert [NUMBER.sub("#", line) for line in ours] == [NUMBER.sub("#", line) for line in theirs]
    for got, want in zip(ours, theirs, strict=True):
        np.testing.assert_allclose([float(v.group()) for v in NUMBER.finditer(got)],
                                   [float(v.group()) for v in NUMBER.finditer(want)], rtol=0, atol=1.1e-4,
                                   err_msg=got)


def arrays(state: dict) -> dict:
    return {k: v.detach().numpy().copy() for k, v in state.items()}


def pretrain(m: object, model: object, variant: str, folder: Path, epochs: int = EPOCHS) -> dict:
    """main_pretrain into ``folder/whole``; then main again, ``--resume``d from the first epoch's checkpoint, on a
    fresh model (whose own init is overwritten by the checkpoint)."""
    x, _ = m.make_data(8)
    (folder / "whole").mkdir(parents=True)
    log = defaultdict(list)
    args = m.get_args_parser().parse_args([*VARIANTS[variant], "--epochs", str(epochs), "--output_dir",
                                           str(folder / "whole")])
    _, lines = quiet(m.main, args, x, model=model, log=log)
    out = dict(log)
    out["lines"] = clean(lines, folder)
    out["log.txt"] = [json.loads(line) for line in (folder / "whole" / "log.txt").read_text().splitlines()]
    out["checkpoint"] = m.torch.load(folder / "whole" / f"checkpoint-{epochs - 1}.pth", weights_only=False)
    out["files"] = sorted(p.name for p in (folder / "whole").iterdir())
    if epochs > 1:
        (folder / "resumed").mkdir()
        resumed_log = defaultdict(list)
        args = m.get_args_parser().parse_args([*VARIANTS[variant], "--epochs", str(epochs), "--output_dir",
                                               str(folder / "resumed"), "--resume",
                                               str(folder / "whole" / "checkpoint-0.pth")])
        _, lines = quiet(m.main, args, x, model=m.mae_vit_tiny_patch2_dec16d1b(norm_pix_loss=args.norm_pix_loss),
                         log=resumed_log)
        out["resumed"] = dict(resumed_log)
        out["resumed_lines"] = clean(lines, folder)
    return out


def compare_params(ours: list[dict], theirs: list[dict], lrs: list[list[float]], start: float = 0.0) -> None:
    """Parameters after each step within PARAM_ATOL, the key biases' rounding-noise updates within the lrs so far
    (plus ``start``, what earlier training spent)."""
    for step, (got, want) in enumerate(zip(ours, theirs, strict=True)):
        assert got.keys() == want.keys()
        budget = (start + sum(max(g) for g in lrs[:step + 1])) * 1.01
        for name in want:
            a, b = got[name].copy(), want[name].copy()
            if name.endswith("qkv.bias"):
                third = len(b) // 3
                np.testing.assert_allclose(a[third:2 * third], b[third:2 * third], rtol=0, atol=budget,
                                           err_msg=f"{name} step {step}")
                a[third:2 * third] = b[third:2 * third] = 0
            np.testing.assert_allclose(a, b, rtol=0, atol=PARAM_ATOL, err_msg=f"{name} step {step}")


def compare_moments(got: dict, want: dict, updates: int) -> None:
    """AdamW's step counts and moments."""
    assert got["state"].keys() == want["state"].keys()
    for i, state in want["state"].items():
        mine = got["state"][i]
        assert int(mine["step"]) == int(state["step"]) == updates
        for name in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(np.asarray(mine[name]), state[name].numpy(), err_msg=f"{i}.{name}",
                                       **MOMENT_TOL[name])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_mae_pretrain_matches_torch(one_torch_thread: None, variant: str, tmp_path: Path) -> None:
    norm_pix = variant == "norm_pix"
    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.mae_vit_tiny_patch2_dec16d1b(norm_pix_loss=norm_pix),
                                      lambda m, model, lib: pretrain(m, model, variant, tmp_path / lib))
    accum = 2 if variant == "accum" else 1
    steps = EPOCHS * 8 // (4 // accum)
    assert len(ours["loss"]) == steps
    np.testing.assert_allclose(ours["loss"], theirs["loss"], **TOL)
    assert all(np.array_equal(a, b) for a, b in zip(ours["mask"], theirs["mask"], strict=True))
    assert all(mask.shape == (4 // accum, 16) and (mask.sum(1) == 12).all() for mask in ours["mask"])
    assert [g is None for g in ours["grad_norm"]] == [(i + 1) % accum != 0 for i in range(steps)]
    assert [g is None for g in theirs["grad_norm"]] == [g is None for g in ours["grad_norm"]]
    np.testing.assert_allclose([g for g in ours["grad_norm"] if g is not None],
                               [g for g in theirs["grad_norm"] if g is not None], **TOL)
    assert ours["lrs"] == theirs["lrs"] and ours["lrs"][0] == [0.0, 0.0]
    compare_params(ours["params"], theirs["params"], ours["lrs"])
    same_lines(ours["lines"], theirs["lines"])
    assert ours["files"] == theirs["files"] == ["checkpoint-0.pth", "checkpoint-1.pth", "checkpoint-2.pth", "log.txt"]
    for got, want in zip(ours["log.txt"], theirs["log.txt"], strict=True):
        assert sorted(got) == sorted(want) == ["epoch", "train_loss", "train_lr"]
        np.testing.assert_allclose([got[k] for k in sorted(want)], [want[k] for k in sorted(want)], **TOL)
    check, want = ours["checkpoint"], theirs["checkpoint"]
    assert sorted(check) == sorted(want) == ["args", "epoch", "model", "optimizer", "scaler"]
    assert check["epoch"] == want["epoch"] == EPOCHS - 1 and check["scaler"] == want["scaler"] == {}
    assert check["args"].pop("output_dir").endswith("ours/whole")
    assert want["args"].pop("output_dir").endswith("torch/whole")
    assert check["args"] == want["args"]
    fields = ("params", "weight_decay", "lr", "betas", "eps")
    groups, want_groups = check["optimizer"]["param_groups"], want["optimizer"]["param_groups"]
    assert [[g[f] for f in fields] for g in groups] == [[g[f] for f in fields] for g in want_groups]
    compare_moments(check["optimizer"], want["optimizer"], steps // accum)
    final = arrays(check["model"])
    compare_params([final], [arrays(want["model"])], [[sum(max(g) for g in ours["lrs"])]])
    for result in (ours, theirs):  # the resumed run equals the uninterrupted one bit for bit
        resumed, skip = result["resumed"], steps // EPOCHS
        for key in ("loss", "grad_norm", "lrs"):
            assert resumed[key] == result[key][skip:], key
        for got, whole in zip(resumed["mask"] + resumed["params"], result["mask"][skip:] + result["params"][skip:],
                              strict=True):
            if isinstance(got, dict):
                assert all(np.array_equal(got[k], whole[k]) for k in whole)
            else:
                assert np.array_equal(got, whole)
        assert "With optim & sched!" in result["resumed_lines"]
    same_lines(ours["resumed_lines"], theirs["resumed_lines"])


FINETUNE = {"mixup_gap": ["--mixup", "0.8", "--clip_grad", "1.0"],
            "smoothing_cls": ["--cls_token", "--accum_iter", "2", "--batch_size", "2"]}


def finetune(m: object, model: object, variant: str, folder: Path) -> dict:
    """One pretraining epoch, then main_finetune from its checkpoint (the head's init drawn from numpy)."""
    x, _ = m.make_data(8)
    (folder / "pre").mkdir(parents=True)
    pre = defaultdict(list)
    quiet(m.main, m.get_args_parser().parse_args(["--epochs", "1", "--output_dir", str(folder / "pre")]), x,
          model=model, log=pre)
    head = np.random.default_rng(5).normal(0, 2e-5, (10, 16)).astype(np.float32)
    args = m.get_finetune_args_parser().parse_args([*FINETUNE[variant], "--finetune",
                                                    str(folder / "pre" / "checkpoint-0.pth")])
    x, y = m.make_data(8, seed=1)
    x_val, y_val = m.make_data(6, seed=2)
    log = defaultdict(list)
    vit = m.vit_tiny_patch2(num_classes=10, global_pool=args.global_pool)
    m.trunc_normal_ = lambda tensor, std: tensor.data.copy_(m.torch.from_numpy(head))  # the generators differ
    (_, optimizer, stats), lines = quiet(m.main_finetune, args, x, y, x_val, y_val, model=vit, log=log)
    out = dict(log)
    out["stats"] = stats
    out["pretrain_lr"] = sum(max(g) for g in pre["lrs"])
    out["lines"] = clean(lines, folder)
    out["groups"] = [(len(g["params"]), g["lr_scale"], g["weight_decay"]) for g in optimizer.param_groups]
    return out


@pytest.mark.parametrize("variant", sorted(FINETUNE))
def test_mae_finetune_matches_torch(one_torch_thread: None, variant: str, tmp_path: Path) -> None:
    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.mae_vit_tiny_patch2_dec16d1b(),
                                      lambda m, model, lib: finetune(m, model, variant, tmp_path / lib))
    accum = 2 if variant == "smoothing_cls" else 1
    np.testing.assert_allclose(ours["loss"], theirs["loss"], **TOL)
    assert len(ours["loss"]) == 2 * 8 // (4 // accum)
    assert [g is None for g in ours["grad_norm"]] == [g is None for g in theirs["grad_norm"]]
    np.testing.assert_allclose([g for g in ours["grad_norm"] if g is not None],
                               [g for g in theirs["grad_norm"] if g is not None], **TOL)
    assert ours["lrs"] == theirs["lrs"]
    assert ours["groups"] == theirs["groups"] and len(ours["groups"]) == 8
    compare_params(ours["params"], theirs["params"], ours["lrs"], ours["pretrain_lr"])
    assert [sorted(s) for s in ours["stats"]] == [sorted(s) for s in theirs["stats"]]
    for got, want in zip(ours["stats"], theirs["stats"], strict=True):
        np.testing.assert_allclose([got[k] for k in sorted(want)], [want[k] for k in sorted(want)], **TOL)
    same_lines(ours["lines"], theirs["lines"])
    missing = ("head.weight', 'head.bias', 'fc_norm.weight', 'fc_norm.bias'" if variant == "mixup_gap"
               else "head.weight', 'head.bias'")
    assert any(line.startswith(f"_IncompatibleKeys(missing_keys=['{missing}]") for line in ours["lines"])


def test_mae_pieces_match_torch(one_torch_thread: None) -> None:
    """patchify / unpatchify, random_masking (ids_restore, mask, kept tokens), the sin-cos tables,
    interpolate_pos_embed's bicubic resize from a 3x3 grid, and each library's own init (the conv weight's xavier
    bound reached through ``w.view``, zero biases, unit LayerNorms, the frozen tables, 0.02 tokens)."""
    rng = np.random.default_rng(7)
    imgs = rng.normal(size=(3, 3, 8, 8)).astype(np.float32)
    noise = rng.random((3, 16)).astype(np.float32)
    tokens = rng.normal(size=(3, 16, 5)).astype(np.float32)
    old = rng.normal(size=(1, 10, 16)).astype(np.float32)
    results = {}
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m:
            tg = m.torch
            model = m.mae_vit_tiny_patch2_dec16d1b()
            patches = model.patchify(tg.from_numpy(imgs))
            back = model.unpatchify(patches)
            kept, mask, ids_restore = model.random_masking(tg.from_numpy(tokens), 0.75, tg.from_numpy(noise))
            vit = m.vit_tiny_patch2(num_classes=10)
            checkpoint = {"pos_embed": tg.from_numpy(old)}
            quiet(m.interpolate_pos_embed, vit, checkpoint)
            w = model.patch_embed.proj.weight.detach().numpy()  # xavier through the view, not the conv default
            assert 12 ** -0.5 < np.abs(w).max() <= (6 / 28) ** 0.5, lib
            assert all(blk.attn.qkv.bias.abs().max().item() == 0 for blk in model.blocks)
            assert model.norm.weight.min().item() == 1 and not model.pos_embed.requires_grad
            assert 0.01 < model.cls_token.std().item() < 0.04 and 0.01 < model.mask_token.std().item() < 0.04
            results[lib] = [t.numpy() for t in (patches, back, kept, mask, ids_restore, model.pos_embed.detach(),
                                                model.decoder_pos_embed.detach(), checkpoint["pos_embed"])]
    theirs, ours = results["torch"], results["ours"]
    np.testing.assert_array_equal(ours[1], imgs)
    for i, (got, want) in enumerate(zip(ours, theirs, strict=True)):
        assert got.dtype == want.dtype and got.shape == want.shape, i
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 if i == 7 else 0, err_msg=str(i))
    assert ours[4].dtype == np.int64 and ours[7].shape == (1, 17, 16)
