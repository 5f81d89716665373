"""``swin.py`` (microsoft/Swin-Transformer's model, timm's pieces it imports and its optimizer / scheduler / scaler /
checkpoint / main loop, on 3x16x16 synthetic images in 2x2 patches, windows of 4) run on torch and, imports swapped,
on ours from torch's initial weights and the same batches: per step the label-smoothed losses, clipped gradient norms
(None on accumulation steps), both param groups' learning rates (timm's per-update warmup + cosine), the validation
(loss, top-1, top-5), the printed lines, the checkpoints (AdamW's groups with ``initial_lr`` and moments, the
scheduler's ``__dict__``, the disabled GradScaler's empty state, epoch, max accuracy) and the final parameters and
buffers; a run auto-resumed from the first epoch's checkpoint equals the uninterrupted one bit for bit in each library.
Variants: plain (no accumulation), and the absolute position embedding + ``torch.utils.checkpoint`` blocks + gradient
accumulation over 2 batches. Beside them: the relative position index and shifted-window mask buffers against torch's,
the missing mask buffer where the shift is 0, the window clamp at the second stage (and at both with window 8, where
the logits are compared), ``flops()``, the module reprs, the no-weight-decay split, the warnings both libraries give
(meshgrid without ``indexing``, the CUDA-less GradScaler and autocast, checkpoint's ``use_reentrant``), DropPath's
statistics and eval identity, and timm's ``trunc_normal_``.

Tolerances: float32, the runs differing by summation order in matmuls, the patch convolution and LayerNorm. Measured
over 3 epochs of 2 batches of 4 (6 AdamW updates at lr up to 5e-4, or 3 of 2 accumulated batches at up to 1e-3, clip
5): losses within 2.4e-7 (of ~1.4), gradient norms 1.2e-7 relative, validation losses 1.2e-7, Adam's moments 1.1e-8
(exp_avg, of ~0.06) and 5.1e-11 (exp_avg_sq, of ~4e-4), parameters 5.7e-7. The qkv key biases have an exact gradient
of zero (a constant added to a whole softmax row), so Adam moves them only by its normalised rounding noise, which can
reach lr per update; seen 1.8e-7 here, they are compared within updates x lr. We allow rtol 2e-6 with atol 5e-7 for
the series, 4e-6 for parameters, 5e-8 / 2e-10 for the moments. Learning rates, accuracies, the scheduler state and the
group layout are equal. The file takes about 6 s (torch on one thread; most of it torch's first imports, as
``torch.utils.checkpoint`` loads ``torch._dynamo``) on a shared 2-core machine."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "swin.py"
TOL = {"rtol": 2e-6, "atol": 5e-7}
PARAM_ATOL = 4e-6
ATOL = {"exp_avg": 5e-8, "exp_avg_sq": 2e-10}
N, N_VAL, EPOCHS = 8, 8, 3  # batches of 4 (wider ones start OpenBLAS threads, slow on a loaded machine)
VARIANTS = {"plain": {"batch_size": 4},  # 2 updates an epoch at lr 5e-4 (Swin's linear scaling)
            "ape_ckpt_accum": {"ape": True, "use_checkpoint": True, "accumulation_steps": 2, "batch_size": 4}}
LR = {"plain": 5e-4, "ape_ckpt_accum": 1e-3}  # 1 update of 2 accumulated batches an epoch, lr x 2
NUMBER = re.compile(r"-?\d+\.\d+(e-?\d+)?")


def config(m: object, output: Path | str = "", **kw: object) -> object:
    return m.scale_lr(m.get_config(output=str(output), epochs=EPOCHS, **kw))


def arrays(state: dict) -> dict:
    return {k: v.detach().numpy().copy() for k, v in state.items()}


def new_log() -> dict:
    return {"loss": [], "grad_norm": [], "lr": [], "wd_lr": [], "val": []}


def run(m: object, model: object, variant: str, folder: Path) -> dict:
    """``main`` for EPOCHS epochs (a checkpoint each) into ``folder/whole``, then ``main`` again on a fresh model
    whose output folder holds only the first epoch's checkpoint (auto-resumed)."""
    kw = VARIANTS[variant]
    x, y = m.make_data(N)
    x_val, y_val = m.make_data(N_VAL, seed=1)
    (folder / "whole").mkdir(parents=True)
    (folder / "resumed").mkdir()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log = new_log()
        m.main(config(m, folder / "whole", **kw), x, y, x_val, y_val, model=model, log=log)
        shutil.copy(folder / "whole" / "ckpt_epoch_0.pth", folder / "resumed")
        resumed, resumed_log = m.build_model(config(m, **kw)), new_log()
        m.main(config(m, folder / "resumed", **kw), x, y, x_val, y_val, model=resumed, log=resumed_log)
    out = dict(log)
    out["lines"] = printed.getvalue().replace(str(folder), "OUT").splitlines()
    out["params"] = arrays(model.state_dict())
    out["resumed"] = (resumed_log, arrays(resumed.state_dict()))
    out["checkpoint"] = m.torch.load(folder / "whole" / f"ckpt_epoch_{EPOCHS - 1}.pth")
    return out


def split_key_biases(params: dict) -> tuple[dict, dict]:
    """(the rest, the qkv key biases): the key third of each ``qkv.bias`` has an exact gradient of zero."""
    rest, keys = {k: v.copy() for k, v in params.items()}, {}
    for name, value in params.items():
        if name.endswith(".qkv.bias"):
            dim = value.shape[0] // 3
            keys[name] = value[dim:2 * dim]
            rest[name][dim:2 * dim] = 0
    return rest, keys


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_swin_matches_torch(one_torch_thread: None, variant: str, tmp_path: Path) -> None:
    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.build_model(config(m, **VARIANTS[variant])),
                                      lambda m, model, lib: run(m, model, variant, tmp_path / lib))
    accumulation = VARIANTS[variant].get("accumulation_steps", 1)
    batches = EPOCHS * N // VARIANTS[variant].get("batch_size", 8)
    updates = batches // accumulation
    np.testing.assert_allclose(ours["loss"], theirs["loss"], **TOL)
    assert len(ours["loss"]) == batches
    assert [g is None for g in ours["grad_norm"]] == [g is None for g in theirs["grad_norm"]] == \
        [(i + 1) % accumulation != 0 for i in range(batches)]
    np.testing.assert_allclose([g for g in ours["grad_norm"] if g is not None],
                               [g for g in theirs["grad_norm"] if g is not None], **TOL)
    assert ours["lr"] == theirs["lr"] and ours["wd_lr"] == theirs["wd_lr"] == ours["lr"]
    assert max(ours["lr"]) == pytest.approx(LR[variant]) and ours["lr"][0] < LR[variant] / 100
    np.testing.assert_allclose([v[0] for v in ours["val"]], [v[0] for v in theirs["val"]], **TOL)
    assert [v[1:] for v in ours["val"]] == [v[1:] for v in theirs["val"]]
    assert [NUMBER.sub("#", line) for line in ours["lines"]] == [NUMBER.sub("#", line) for line in theirs["lines"]]
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        np.testing.assert_allclose([float(v.group()) for v in NUMBER.finditer(got)],
                                   [float(v.group()) for v in NUMBER.finditer(want)], rtol=0, atol=1.1e-4)
    assert "<All keys matched successfully>" in ours["lines"]
    (rest, keys), (want_rest, want_keys) = split_key_biases(ours["params"]), split_key_biases(theirs["params"])
    assert_params_close(rest, want_rest, rtol=0, atol=PARAM_ATOL)
    assert_params_close(keys, want_keys, rtol=0, atol=updates * LR[variant])
    check, want = ours["checkpoint"], theirs["checkpoint"]
    for key in ("epoch", "max_accuracy", "config", "scaler", "lr_scheduler"):
        assert check[key] == want[key], key
    assert check["scaler"] == {} and check["lr_scheduler"]["warmup_t"] == updates // EPOCHS
    groups, want_groups = check["optimizer"]["param_groups"], want["optimizer"]["param_groups"]
    fields = ("params", "weight_decay", "lr", "initial_lr", "betas", "eps")
    assert [[g[f] for f in fields] for g in groups] == [[g[f] for f in fields] for g in want_groups]
    assert want_groups[1]["weight_decay"] == 0 and want_groups[0]["weight_decay"] == 0.05
    for i, state in want["optimizer"]["state"].items():
        mine = check["optimizer"]["state"][i]
        assert int(mine["step"]) == int(state["step"]) == updates
        for name in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(np.asarray(mine[name]), state[name].numpy(), rtol=0, atol=ATOL[name],
                                       err_msg=f"{i}.{name}")
    for result in (ours, theirs):  # the resumed run equals the uninterrupted one bit for bit
        log, params = result["resumed"]
        skip = batches // EPOCHS
        for key in ("loss", "grad_norm", "lr", "wd_lr"):
            assert log[key] == result[key][skip:], key
        assert log["val"] == result["val"]  # the resume validates epoch 0's weights first
        for name, value in params.items():
            np.testing.assert_array_equal(value, result["params"][name], err_msg=name)


def test_swin_structure_matches_torch(one_torch_thread: None) -> None:
    """The buffers built at construction, the window clamp, flops, reprs, the weight-decay split, the warnings, and
    the logits with window 8 (clamped to the 8x8 and 4x4 resolutions, no shift anywhere)."""
    def build(m: object, lib: str) -> dict:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = m.build_model(config(m))
        # (meshgrid's warning without indexing= comes once per process in both libraries, in other words: whether
        # it shows here depends on which tests this worker ran first)
        out = {"warned": sorted({str(w.message)[:60] for w in caught if "meshgrid" not in str(w.message)})}
        blocks = [blk for layer in model.layers for blk in layer.blocks]
        out["windows"] = [(blk.window_size, blk.shift_size, blk.attn_mask is None) for blk in blocks]
        out["index"] = [blk.attn.relative_position_index.numpy() for blk in blocks]
        out["index_dtype"] = blocks[0].attn.relative_position_index.dtype == m.torch.int64
        out["mask"] = blocks[1].attn_mask.numpy()
        out["keys"] = list(model.state_dict())
        out["flops"] = model.flops()
        out["repr"] = [line.split("  # ")[0] for line in repr(model).splitlines()]  # ours adds counts (README)
        with_ape = m.build_model(config(m, ape=True))
        optimizer = m.build_optimizer(config(m, ape=True), with_ape)
        out["groups"] = [len(g["params"]) for g in optimizer.param_groups]
        out["skip"] = sorted(n for n, p in with_ape.named_parameters()
                             if any(p is q for q in optimizer.param_groups[1]["params"]))
        x = m.torch.arange(2 * 8 * 8 * 3, dtype=m.torch.float32).reshape(2, 8, 8, 3)
        windows = m.window_partition(x, 4)
        out["windows_roundtrip"] = (tuple(windows.shape), bool((m.window_reverse(windows, 4, 8, 8) == x).all()))
        return out

    def logits(m: object, model: object, lib: str) -> np.ndarray:
        model.eval()
        with m.torch.no_grad():
            return model(m.make_data(4)[0]).numpy()

    outs = []
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m:
            outs.append(build(m, lib))
    theirs, ours = outs
    for key in ("warned", "windows", "index_dtype", "keys", "flops", "repr", "groups", "skip", "windows_roundtrip"):
        assert ours[key] == theirs[key], key
    assert ours["windows"] == [(4, 0, True), (4, 2, False), (4, 0, True), (4, 0, True)]
    for got, want in zip(ours["index"], theirs["index"], strict=True):
        assert np.array_equal(got, want) and got.shape == (16, 16) and got.max() == 48
    assert np.array_equal(ours["mask"], theirs["mask"]) and ours["mask"].shape == (4, 16, 16)
    assert set(np.unique(ours["mask"])) == {-100.0, 0.0} and not ours["mask"][0].any()
    assert not any("attn_mask" in k for k in ours["keys"] if k.startswith(("layers.0.blocks.0", "layers.1")))
    assert "absolute_pos_embed" in ours["skip"] and "patch_embed.proj.bias" in ours["skip"]
    assert all(n.endswith(("bias", "weight", "table", "embed")) for n in ours["skip"])
    assert not any(n.endswith(("qkv.weight", "reduction.weight", "proj.weight")) for n in ours["skip"])

    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.build_model(config(m, window_size=8)), logits)
    np.testing.assert_allclose(ours, theirs, **TOL)


def test_drop_path_statistics_and_eval(one_torch_thread: None) -> None:
    """timm's drop_path: each sample kept whole with probability keep_prob and scaled by 1 / keep_prob, or zeroed;
    identity in eval (a stochastic-depth Swin then gives torch's logits) and with drop_prob 0."""
    def run(m: object, model: object, lib: str) -> dict:
        x = m.make_data(4)[0]
        model.eval()
        with m.torch.no_grad():
            evaluated = model(x).numpy()
        model.train()
        trained = [model(x).detach().numpy() for _ in range(2)]
        ones = m.torch.ones(4000, 3, 2)
        dropped = m.drop_path(ones, 0.3, training=True).numpy()
        same = (m.drop_path(ones, 0.3, training=False) is ones, m.drop_path(ones, 0., training=True) is ones)
        return {"eval": evaluated, "train": trained, "dropped": dropped, "same": same,
                "repr": repr(model.layers[1].blocks[1].drop_path)}

    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.build_model(config(m, drop_path_rate=0.3)), run)
    np.testing.assert_allclose(ours["eval"], theirs["eval"], **TOL)
    assert not np.allclose(*ours["train"]) and ours["same"] == theirs["same"] == (True, True)
    assert ours["repr"] == theirs["repr"] == "DropPath(drop_prob=0.300)"
    dropped = ours["dropped"]
    assert (dropped == dropped[:, :1, :1]).all()  # one draw per sample
    assert set(np.unique(dropped)).issubset({0.0, np.float32(1 / 0.7)})
    kept = (dropped[:, 0, 0] > 0).mean()
    assert abs(kept - 0.7) < 4 * np.sqrt(0.7 * 0.3 / 4000)
    assert abs(dropped.mean() - 1) < 0.05


def test_trunc_normal_statistics() -> None:
    """timm's trunc_normal_ (uniform_, erfinv_, mul_, add_, clamp_ under no_grad) and nn.init.trunc_normal_: std .02
    within [-2, 2], and a tight [a, b] that cuts the tails."""
    import tinygrad_adam

    with program(PROGRAM, "ours") as m:
        w = m.trunc_normal_(tinygrad_adam.zeros(200, 100), std=.02).numpy()
        cut = m.trunc_normal_(tinygrad_adam.zeros(20000), mean=0.01, std=1., a=-0.5, b=0.5).numpy()
        init = m.nn.init.trunc_normal_(tinygrad_adam.zeros(20000), std=.02).numpy()
    for values in (w, init):
        assert abs(values.mean()) < 1e-3 and abs(values.std() - .02) < 1e-3 and np.abs(values).max() < 0.1
    assert cut.min() >= -0.5 and cut.max() <= 0.5 and cut.std() > 0.25  # near-uniform on [-0.5, 0.5]
    assert abs(cut.std() - 0.5 / np.sqrt(3)) < 0.01
