"""``vit_mixer.py`` (a ViT and an MLP-Mixer written without einops, on 3x16x16 synthetic images in 4x4 patches) run on
torch and, imports swapped, on ours from torch's initial weights and the same batches: per step the losses
(label-smoothed), accuracies, learning rates (warmup + cosine through LambdaLR) and clipped gradient norms, the printed
lines, the evaluation, the attention maps caught by forward hooks, their rollout and their gradient-weighted version
(full backward hooks), the checkpoint (AdamW's two param groups and moments, LambdaLR's and the disabled GradScaler's
state) and the final parameters; a run resumed from the first epoch's checkpoint equals the uninterrupted one bit for
bit in each library. Variants: conv patches + class-token pooling with all four attentions (hand-written,
``nn.MultiheadAttention``, ``F.scaled_dot_product_attention``, einsum), unfold patches + mean pooling with trunc_normal_
positions and hand-written attention in every block, and the Mixer (token mixing by transposed Linear and by Conv1d).

Tolerances: float32, the runs differing by summation order in matmuls, convolutions and LayerNorm. Measured over 6 AdamW
steps (lr 1e-3, warmup 2): losses within 1.2e-7, gradient norms 2.4e-7 (of ~1), the evaluation loss 9e-8 relative,
attention maps 4.1e-8, rollouts 1.2e-7, gradient-weighted maps 1.2e-9 (of 1.2e-4), Adam's moments 1.9e-7 (exp_avg, of
~0.05) and 1.6e-10 (exp_avg_sq, of ~3e-4), parameters 7.3e-7 but for one element: Adam's first step divides a gradient
by |g| + eps, and where |g| is near eps (seen 5e-9, a float32 sum that nearly cancels: torch's and ours are 6% and 21%
off float64) rounding decides the fraction of a step taken (seen 1.8e-5; torch's own run is 6.7e-6 off its float64 run
there). Parameters whose exact gradient is zero move by Adam's normalised rounding noise (up to lr per step, seen
6.5e-4): the key biases of ``nn.MultiheadAttention`` / the sdpa and einsum blocks (a constant added to a whole softmax
row of scores) and the Mixer's token-mixing output biases (a constant added to a token's channels, which every LayerNorm
after removes); they are compared within steps x lr. We allow rtol 2e-5, atol 2e-6 for the series, maps and rollouts,
atol 4e-5 for parameters, 3e-9 for the gradient-weighted maps, 4e-7 and 4e-10 for the moments. Learning rates,
accuracies and the LambdaLR state are equal. The file takes 4-7 s (torch on one thread) on a shared 2-core machine."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "vit_mixer.py"
TOL = {"rtol": 2e-5, "atol": 2e-6}
GRAD_MAP_ATOL = 3e-9  # attention x its gradient, of ~1e-4
PARAM_ATOL = 4e-5  # see the docstring: Adam near eps
ATOL = {"exp_avg": 4e-7, "exp_avg_sq": 4e-10}  # Adam's moments
N, EPOCHS, LR = 32, 3, 1e-3
STEPS = TOTAL = EPOCHS * N // 16
VARIANTS = {"conv_cls": lambda m: m.ViT(),
            "unfold_mean": lambda m: m.ViT(embed="unfold", pool="mean", kinds=("manual",), depth=3, trunc_pos=True),
            "mixer": lambda m: m.MLPMixer()}
NUMBER = re.compile(r"\d+\.\d+")


def split_noise_moved(params: dict) -> tuple[dict, dict]:
    """(the rest, those moved by noise): the parameters or slices whose exact gradient is zero, the key biases and the
    token-mixing output biases, taken out of a copy of ``params``."""
    rest, moved = {k: v.copy() for k, v in params.items()}, {}
    for name, value in params.items():
        if name.endswith((".in_proj_bias", ".qkv.bias")):
            dim = value.shape[0] // 3
            moved[name] = value[dim:2 * dim]
            rest[name][dim:2 * dim] = 0
        elif name.endswith((".k.bias", "token_mix.fc2.bias", "token_mix.2.bias")):
            moved[name] = rest.pop(name)
    return rest, moved


def arrays(state: dict) -> dict:
    return {k: v.detach().numpy().copy() for k, v in state.items()}


def run(m: object, model: object, make: object, folder: Path) -> dict:
    """Train EPOCHS epochs (a checkpoint each), evaluate, hook the attention maps and roll them out; then resume a
    fresh ``make(m)`` from the first epoch's checkpoint."""
    x, y = m.make_data(N)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        out = {k: np.array(v) for k, v in m.train(model, x, y, epochs=EPOCHS, total=TOTAL, ckpt_dir=folder).items()}
        lines = printed.getvalue().splitlines()
        resumed = make(m)
        resumed_log = m.train(resumed, x, y, epochs=EPOCHS, total=TOTAL, checkpoint=folder / "ckpt_0.pt")
    out["lines"] = lines
    out["eval"] = m.evaluate(model, x, y)
    maps = m.attention_maps(model, x[:4])
    out["maps"] = [a.numpy() for a in maps]
    out["rollout"] = m.attention_rollout(maps).numpy() if maps else None
    out["grad_maps"] = [a.numpy() for a in m.attention_grad_maps(model, x[:4], 1)]
    out["params"] = arrays(model.state_dict())
    out["resumed"] = ({k: np.array(v) for k, v in resumed_log.items()}, arrays(resumed.state_dict()))
    out["checkpoint"] = m.torch.load(folder / f"ckpt_{EPOCHS - 1}.pt")
    return out


def both(variant: str, tmp_path: Path) -> tuple[dict, dict]:
    make = VARIANTS[variant]
    return from_torch_weights(PROGRAM, make, lambda m, model, lib: run(m, model, make, tmp_path / lib))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_vit_mixer_matches_torch(one_torch_thread: None, variant: str, tmp_path: Path) -> None:
    for lib in ("torch", "ours"):
        (tmp_path / lib).mkdir()
    theirs, ours = both(variant, tmp_path)
    for key in ("loss", "grad_norm"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert ours["lr"].tolist() == theirs["lr"].tolist() and ours["acc"].tolist() == theirs["acc"].tolist()
    assert len(ours["loss"]) == STEPS and ours["lr"][0] == LR / 2 and max(ours["lr"]) == LR and ours["lr"][-1] < LR / 4
    assert [NUMBER.sub("#", line) for line in ours["lines"]] == [NUMBER.sub("#", line) for line in theirs["lines"]]
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        np.testing.assert_allclose([float(v) for v in NUMBER.findall(got)], [float(v) for v in NUMBER.findall(want)],
                                   rtol=0, atol=1.1e-4)  # a printed 4th decimal may round the other way
    assert ours["eval"][1] == theirs["eval"][1] and ours["eval"][0] == pytest.approx(theirs["eval"][0], rel=2e-6)
    assert len(ours["maps"]) == len(theirs["maps"]) == {"conv_cls": 1, "unfold_mean": 3, "mixer": 0}[variant]
    for got, want in zip(ours["maps"], theirs["maps"]):
        assert got.shape == (4, 4, 17, 17)
        np.testing.assert_allclose(got, want, **TOL)
        np.testing.assert_allclose(got.sum(-1), 1, rtol=0, atol=1e-6)
    assert len(ours["grad_maps"]) == len(ours["maps"])
    for got, want in zip(ours["grad_maps"], theirs["grad_maps"]):
        assert got.shape == (4, 17, 17) and got.max() > 0
        np.testing.assert_allclose(got, want, rtol=TOL["rtol"], atol=GRAD_MAP_ATOL)
    if ours["maps"]:
        assert ours["rollout"].shape == (4, 4, 4) and ours["rollout"].max() == 1
        np.testing.assert_allclose(ours["rollout"], theirs["rollout"], **TOL)
    (rest, moved), (want_rest, want_moved) = split_noise_moved(ours["params"]), split_noise_moved(theirs["params"])
    assert_params_close(rest, want_rest, rtol=0, atol=PARAM_ATOL)
    assert_params_close(moved, want_moved, rtol=0, atol=STEPS * LR)
    check, want = ours["checkpoint"], theirs["checkpoint"]
    assert check["epoch"] == want["epoch"] == EPOCHS - 1 and check["scaler"] == want["scaler"] == {}
    assert check["scheduler"] == want["scheduler"]
    groups, want_groups = check["optimizer"]["param_groups"], want["optimizer"]["param_groups"]
    assert [(g["params"], g["weight_decay"], g["lr"]) for g in groups] == \
        [(g["params"], g["weight_decay"], g["lr"]) for g in want_groups]
    assert len(want_groups[1]["params"]) > len(want_groups[0]["params"])  # biases, norms, pos, cls: no decay
    for i, state in want["optimizer"]["state"].items():
        mine = check["optimizer"]["state"][i]
        assert int(mine["step"]) == int(state["step"]) == STEPS
        for name in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(np.asarray(mine[name]), state[name].numpy(), rtol=0, atol=ATOL[name],
                                       err_msg=f"{i}.{name}")
    for result in (ours, theirs):  # the resumed run equals the uninterrupted one bit for bit
        log, params = result["resumed"]
        for key in ("loss", "acc", "lr", "grad_norm"):
            assert log[key].tolist() == result[key][STEPS // EPOCHS:].tolist(), key
        for name, value in params.items():
            np.testing.assert_array_equal(value, result["params"][name], err_msg=name)


def test_vit_with_dropout_evaluates_as_torch(one_torch_thread: None) -> None:
    """With dropout everywhere (embedding, attention of each kind, MLP), eval() turns it all off: torch's logits;
    train() draws new masks at each call."""
    def run(m: object, model: object, lib: str) -> dict:
        x, _ = m.make_data(8)
        model.eval()
        with m.torch.no_grad():
            logits = model(x).numpy()
        model.train()
        return {"eval": logits, "train": [model(x).detach().numpy() for _ in range(2)]}

    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.ViT(dropout=0.1, emb_dropout=0.1), run)
    np.testing.assert_allclose(ours["eval"], theirs["eval"], **TOL)
    assert ours["eval"].shape == (8, 4) and not np.allclose(*ours["train"])
