"""``convnext.py`` (facebookresearch/ConvNeXt's model, optim_factory, utils, engine and main loop, on 3x32x32 synthetic
images, depths (1, 1, 2, 1), dims (8, 16, 24, 32), 10 classes, batches of 4) run on torch and, imports swapped, on
ours from torch's initial weights and the same batches: per step the losses, gradient norms (None on accumulation
steps), every group's learning rate (the numpy cosine schedule times each group's ``lr_scale``), the scheduled weight
decay, the class accuracy and the EMA head; per epoch the stats written to ``log.txt`` (train means, test loss / top-1
/ top-5, the EMA's); the printed lines (timings left out; the model repr less ours' ``# ... params`` comments; the
``Param groups`` JSON); the files written (``checkpoint-{epoch}`` / ``-best`` / ``-best-ema``); the last checkpoint
(AdamW's groups with ``lr_scale`` and moments, the disabled GradScaler's empty state, the EMA state, the args) and
the final parameters and EMA. Variants: ``amp_ema`` (the amp branch through the CUDA-less GradScaler with
``clip_grad_norm_``, layer-wise lr decay 0.8 into 12 groups, label smoothing, ModelEma 0.9 evaluated each epoch),
whose run auto-resumed from its first epoch's checkpoint equals the uninterrupted one bit for bit in each library;
``accum_mixup`` (``update_freq`` 2 through the amp branch's ``get_grad_norm_``, a batch mixup into
SoftTargetCrossEntropy; main re-seeds numpy, so a resume would draw other mixup lambdas, as there); ``full`` (the
full-precision branch, CrossEntropyLoss, a decaying weight decay, layer scale 0.1, ``head_init_scale`` 0.5). Beside
them: the layer ids and groups of ``get_parameter_groups``, the ``linspace`` drop-path rates (Identity at 0),
``gamma`` None at scale 0, the two LayerNorm formats against each other and torch, the eval logits of a
stochastic-depth model, DropPath's statistics and eval identity, and ``cosine_scheduler``.

Tolerances: float32, the runs differing by summation order in the convolutions, matmuls and LayerNorms. Measured over
2 epochs of 2 batches of 4 (4 AdamW updates at lr up to 4e-3; 3 epochs gave the same orders): losses within 2.4e-7
(of ~2.3), gradient norms 1.1e-7 relative (``get_grad_norm_``'s equal), epoch stats 1.1e-7 relative, parameters
5.0e-7, the EMA 1.7e-7, Adam's moments 8.6e-8 (exp_avg, of ~0.2) and 5.8e-10 (exp_avg_sq, of ~2e-3). We allow rtol
2e-6 with atol 5e-7 for the series and stats, 2e-6 for parameters and the EMA, 2e-7 / 2e-9 for the moments; printed
numbers within 1.1e-4 (their last digit). Learning rates, weight decays, class accuracies, top-1 / top-5, the group
layout and the args are equal. The file takes about 7.5 s (torch on one thread; about 2 s of it torch's first
``optim`` import, which loads ``torch._dynamo``) on a shared 2-core machine."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "convnext.py"
TOL = {"rtol": 2e-6, "atol": 5e-7}
PARAM_ATOL = 2e-6
ATOL = {"exp_avg": 2e-7, "exp_avg_sq": 2e-9}
N, N_VAL, EPOCHS = 8, 6, 2
VARIANTS = {
    "amp_ema": ["--use_amp", "true", "--clip_grad", "5.0", "--layer_decay", "0.8", "--model_ema", "true",
                "--model_ema_decay", "0.9", "--model_ema_eval", "true"],
    "accum_mixup": ["--use_amp", "true", "--update_freq", "2", "--mixup", "0.8", "--lr", "2e-3"],
    "full": ["--smoothing", "0", "--weight_decay_end", "0.01", "--layer_scale_init_value", "0.1",
             "--head_init_scale", "0.5"],
}
RESUMED = ("amp_ema",)  # main re-seeds numpy's generator, so a resumed mixup draws other lambdas (as there)
TIMINGS = re.compile(r"(eta|time|data): [0-9.:]+|Total time: .*|Training time .*")
NUMBER = re.compile(r"-?\d+\.\d+(e-?\d+)?")


def parse(m: object, variant: str, output: Path | str = "") -> object:
    return m.get_args_parser().parse_args([*VARIANTS[variant], "--epochs", str(EPOCHS), "--output_dir", str(output)])


def arrays(state: dict) -> dict:
    return {k: v.detach().numpy().copy() for k, v in state.items()}


def train(m: object, model: object, variant: str, folder: Path) -> dict:
    """``main`` into ``folder/whole``; then, where the variant resumes, ``main`` again on a fresh model whose output
    folder holds only the first epoch's checkpoint."""
    x, y = m.make_data(N)
    x_val, y_val = m.make_data(N_VAL, seed=1)
    (folder / "whole").mkdir(parents=True)
    printed = io.StringIO()
    log = defaultdict(list)
    with contextlib.redirect_stdout(printed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, _, ema = m.main(parse(m, variant, folder / "whole"), x, y, x_val, y_val, model=model, log=log)
    out = dict(log)
    out["lines"] = [TIMINGS.sub("", line.split("  # ")[0]) for line in
                    printed.getvalue().replace(str(folder), "OUT").splitlines()]
    out["params"] = arrays(model.state_dict())
    out["ema"] = None if ema is None else arrays(ema.ema.state_dict())
    out["checkpoint"] = m.torch.load(folder / "whole" / f"checkpoint-{EPOCHS - 1}.pth", weights_only=False)
    out["files"] = sorted(p.name for p in (folder / "whole").iterdir())
    out["log.txt"] = [json.loads(line) for line in (folder / "whole" / "log.txt").read_text().splitlines()]
    if variant in RESUMED:
        (folder / "resumed").mkdir()
        shutil.copy(folder / "whole" / "checkpoint-0.pth", folder / "resumed")
        resumed, resumed_log = m.convnext_tiny(num_classes=10), defaultdict(list)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, _, _, ema = m.main(parse(m, variant, folder / "resumed"), x, y, x_val, y_val, model=resumed,
                                  log=resumed_log)
        out["resumed"] = (dict(resumed_log), arrays(resumed.state_dict()),
                          None if ema is None else arrays(ema.ema.state_dict()))
        out["resumed_lines"] = [TIMINGS.sub("", line.split("  # ")[0]) for line in
                                printed.getvalue().replace(str(folder), "OUT").splitlines()]
    return out


def same_lines(ours: list[str], theirs: list[str]) -> None:
    """The printed lines: the same text, their numbers within float32 noise in the last printed digit."""
    assert [NUMBER.sub("#", line) for line in ours] == [NUMBER.sub("#", line) for line in theirs]
    for got, want in zip(ours, theirs, strict=True):
        np.testing.assert_allclose([float(v.group()) for v in NUMBER.finditer(got)],
                                   [float(v.group()) for v in NUMBER.finditer(want)], rtol=0, atol=1.1e-4,
                                   err_msg=got)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_convnext_matches_torch(one_torch_thread: None, variant: str, tmp_path: Path) -> None:
    def make(m: object) -> object:
        args = parse(m, variant)
        return m.convnext_tiny(num_classes=10, layer_scale_init_value=args.layer_scale_init_value,
                               head_init_scale=args.head_init_scale)

    theirs, ours = from_torch_weights(PROGRAM, make, lambda m, model, lib: train(m, model, variant, tmp_path / lib))
    accumulation = 2 if variant == "accum_mixup" else 1
    batches = EPOCHS * N // 4
    np.testing.assert_allclose(ours["loss"], theirs["loss"], **TOL)
    assert len(ours["loss"]) == batches
    assert [g is None for g in ours["grad_norm"]] == [g is None for g in theirs["grad_norm"]]
    if variant == "full":
        assert all(g is None for g in ours["grad_norm"])
    else:
        assert [g is None for g in ours["grad_norm"]] == [(i + 1) % accumulation != 0 for i in range(batches)]
    np.testing.assert_allclose([g for g in ours["grad_norm"] if g is not None],
                               [g for g in theirs["grad_norm"] if g is not None], **TOL)
    assert ours["lrs"] == theirs["lrs"] and ours["wd"] == theirs["wd"] and ours["class_acc"] == theirs["class_acc"]
    groups = 12 if variant == "amp_ema" else 2
    assert all(len(lrs) == groups for lrs in ours["lrs"]) and ours["lrs"][0] == [0.0] * groups
    if variant == "amp_ema":
        np.testing.assert_allclose(ours["ema_head"], theirs["ema_head"], **TOL)
    same_lines(ours["lines"], theirs["lines"])
    assert ours["files"] == theirs["files"]
    assert [sorted(s) for s in ours["log.txt"]] == [sorted(s) for s in theirs["log.txt"]]
    assert ours["stats"] == ours["log.txt"]
    for got, want in zip(ours["log.txt"], theirs["log.txt"], strict=True):
        np.testing.assert_allclose([got[k] for k in sorted(want)], [want[k] for k in sorted(want)], **TOL)
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=PARAM_ATOL)
    if variant == "amp_ema":
        assert_params_close(ours["ema"], theirs["ema"], rtol=0, atol=PARAM_ATOL)
    check, want = ours["checkpoint"], theirs["checkpoint"]
    assert sorted(check) == sorted(want)
    for key in ("epoch", "scaler"):
        assert check[key] == want[key], key
    assert check["args"].pop("output_dir").endswith("ours/whole")
    assert want["args"].pop("output_dir").endswith("torch/whole")
    assert check["args"] == want["args"] and check["args"]["weight_decay_end"] is not None
    assert check["scaler"] == {} and check["epoch"] == EPOCHS - 1
    if variant == "amp_ema":
        assert_params_close(arrays(check["model_ema"]), arrays(want["model_ema"]), rtol=0, atol=PARAM_ATOL)
    groups, want_groups = check["optimizer"]["param_groups"], want["optimizer"]["param_groups"]
    fields = ("params", "weight_decay", "lr", "lr_scale", "betas", "eps")
    assert [[g[f] for f in fields] for g in groups] == [[g[f] for f in fields] for g in want_groups]
    updates = batches // accumulation
    for i, state in want["optimizer"]["state"].items():
        mine = check["optimizer"]["state"][i]
        assert int(mine["step"]) == int(state["step"]) == updates
        for name in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(np.asarray(mine[name]), state[name].numpy(), rtol=0, atol=ATOL[name],
                                       err_msg=f"{i}.{name}")
    if variant in RESUMED:
        same_lines(ours["resumed_lines"], theirs["resumed_lines"])
        assert "Auto resume checkpoint: OUT/resumed/checkpoint-0.pth" in ours["resumed_lines"]
        assert "With optim & sched!" in ours["resumed_lines"]
        for result in (ours, theirs):  # the resumed run equals the uninterrupted one bit for bit
            log, params, ema = result["resumed"]
            skip = batches // EPOCHS
            for key in ("loss", "grad_norm", "lrs", "wd", "class_acc"):
                assert log[key] == result[key][skip:], key
            assert log["stats"] == result["stats"][1:]
            for name, value in params.items():
                np.testing.assert_array_equal(value, result["params"][name], err_msg=name)
            if ema is not None:
                for name, value in ema.items():
                    np.testing.assert_array_equal(value, result["ema"][name], err_msg=name)


def test_convnext_structure_matches_torch(one_torch_thread: None) -> None:
    """The layer ids of ``get_num_layer_for_convnext``, the groups and lr scales, the drop-path rates and modules,
    ``gamma`` None at scale 0, both LayerNorm formats, and the eval logits of a stochastic-depth model."""
    def run(m: object, model: object, lib: str) -> dict:
        tg = m.torch
        out = {"ids": [(n, m.get_num_layer_for_convnext(n)) for n, _ in model.named_parameters()]}
        out["rates"] = [getattr(blk.drop_path, "drop_prob", None) for stage in model.stages for blk in stage]
        out["kinds"] = [type(blk.drop_path).__name__ for stage in model.stages for blk in stage]
        assigner = m.LayerDecayValueAssigner([0.8 ** (13 - i) for i in range(14)])
        with contextlib.redirect_stdout(io.StringIO()):
            groups = m.get_parameter_groups(model, 0.05, (), assigner.get_layer_id, assigner.get_scale)
        out["groups"] = [(len(g["params"]), g["weight_decay"], g["lr_scale"]) for g in groups]
        out["no_gamma"] = [k for k in m.convnext_tiny(layer_scale_init_value=0).state_dict() if "gamma" in k]
        x = tg.from_numpy(np.random.default_rng(3).normal(2, 3, (2, 8, 5, 5)).astype(np.float32))
        first, last = m.LayerNorm(8, data_format="channels_first"), m.LayerNorm(8)
        with tg.no_grad():
            first.weight.copy_(tg.arange(8) / 4 - 1)
            first.bias.copy_(tg.arange(8) / 8)
            last.load_state_dict(first.state_dict())
        out["ln"] = (first(x).detach().numpy(), last(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).detach().numpy())
        model.eval()
        with tg.no_grad():
            out["eval"] = model(m.make_data(4)[0]).numpy()
        model.train()
        out["train"] = [model(m.make_data(4)[0]).detach().numpy() for _ in range(2)]
        return out

    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.convnext_tiny(num_classes=10, drop_path_rate=0.3,
                                                                     layer_scale_init_value=0.5), run)
    for key in ("ids", "kinds", "groups", "no_gamma"):
        assert ours[key] == theirs[key], key
    np.testing.assert_allclose(ours["rates"][1:], theirs["rates"][1:], rtol=1e-7)
    assert ours["rates"][0] is None and ours["kinds"] == ["Identity"] + ["DropPath"] * 4
    assert dict(ours["ids"])["head.weight"] == 13 and dict(ours["ids"])["downsample_layers.3.1.weight"] == 12
    assert dict(ours["ids"])["stages.2.1.gamma"] == 3 and ours["no_gamma"] == []
    assert [g[0] for g in ours["groups"]] == [1, 3, 9, 4, 15, 7, 9, 4, 6, 3, 3, 1] and ours["groups"][-1][2] == 1
    for got, want in zip(ours["ln"], theirs["ln"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours["ln"][0], ours["ln"][1], rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(ours["eval"], theirs["eval"], **TOL)
    assert not np.allclose(*ours["train"])


def test_drop_path_and_cosine_scheduler() -> None:
    """timm's drop_path keeps each sample whole with probability keep_prob, scaled by 1 / keep_prob, and is the
    identity in eval and at 0; ``cosine_scheduler``'s warmup (by epochs or by steps) and cosine tail."""
    with program(PROGRAM, "ours") as m, contextlib.redirect_stdout(io.StringIO()):
        ones = m.torch.ones(4000, 3, 2)
        dropped = m.drop_path(ones, 0.3, training=True).numpy()
        assert m.drop_path(ones, 0.3, training=False) is ones and m.drop_path(ones, 0., training=True) is ones
        schedule = m.cosine_scheduler(1.0, 0.1, 3, 4, warmup_epochs=1)
        by_steps = m.cosine_scheduler(1.0, 0.1, 3, 4, warmup_epochs=1, warmup_steps=2)
    assert (dropped == dropped[:, :1, :1]).all() and set(np.unique(dropped)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((dropped[:, 0, 0] > 0).mean() - 0.7) < 4 * np.sqrt(0.7 * 0.3 / 4000)
    np.testing.assert_allclose(schedule[:4], np.linspace(0, 1, 4))
    np.testing.assert_allclose(schedule[4:], 0.1 + 0.45 * (1 + np.cos(np.pi * np.arange(8) / 8)))
    np.testing.assert_allclose(by_steps[:2], [0, 1])
    assert len(by_steps) == 12 and by_steps[2] == 1.0
