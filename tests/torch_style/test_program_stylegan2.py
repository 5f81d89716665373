"""``stylegan2.py`` (rosinality/stylegan2-pytorch's model.py with op/'s ``upfirdn2d_native`` and CPU
``fused_leaky_relu``, and train.py's losses, R1 and path-length penalties, lazy regularisation, Adam with the
``0 ** ratio`` / ``0.99 ** ratio`` betas, the ``accumulate`` EMA into g_ema and a checkpoint resume) run on torch and,
imports swapped, on ours: from torch's initial weights (G, D and g_ema's ``noise_*`` buffers) and the same numpy
latents / layer noise / path noise and Python-``random`` style mixing, 4 iterations at 8x8 with batch 4 (R1 and the
path penalty on iterations 0 and 2), in the fused (grouped conv / grouped ``conv_transpose2d``) and the unfused
ModulatedConv2d. Compared after every iteration: D / G losses, real / fake scores, r1, path penalty, path length,
mean_path_length, the gradient norms of each backward, the printed line, every G / D / g_ema state entry; then the
g_ema samples (truncation 0.7 around ``mean_latent``, a fixed inject index, the stored noise buffers) and the two
checkpoints; and in each library a run saved after iteration 2, reloaded into fresh objects and trained on equals the
uninterrupted one bit for bit. projector.py's loop is checked on g_ema too (its own docstring).

The native ``upfirdn2d`` is also checked alone, with its input gradient, at pads below zero (the program's own
blur pads are all >= 0).

Tolerances: float32. Measured (both configurations): losses / scores / penalties within 2.4e-7, gradient norms
within 2e-7 relative (the path-penalty backward's norm ~10 within 1.9e-6 absolute), parameters and buffers within
2.4e-7 but for the mapping network's weights (``randn / lr_mul``, entries ~100) in the unfused run, within 3.8e-6
(4e-8 relative), samples within 1.5e-6 (values up to ~3), printed lines equal; upfirdn2d within 1e-6. Allowed:
rtol 1e-5 / atol 1e-6 for the series and states, atol 1e-5 for the samples. A 16x16, channel_multiplier 1 run
(checked by hand, too slow for this file) agreed as closely. Runtime about 5.5 s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

ITERS, STOP_AT, SEED = 4, 2, 1
TOL = {"rtol": 1e-5, "atol": 1e-6}
SCALARS = ("d", "real_score", "fake_score", "r1", "g", "path", "path_length", "mean_path_length",
           "grad_d", "grad_r1", "grad_g", "grad_path")
STATES = ("params_g", "params_d", "params_g_ema")


def images() -> np.ndarray:
    """Real batches in (-1, 1): (ITERS, 4, 3, 8, 8) float32."""
    rng = np.random.default_rng(0)
    return np.tanh(rng.standard_normal((ITERS, 4, 3, 8, 8))).astype(np.float32)


def assert_same(whole: dict, resumed: dict) -> None:
    """One library's resumed run equals its uninterrupted one exactly."""
    assert whole.keys() == resumed.keys()
    for key in whole:
        if key in STATES:
            for a, b in zip(whole[key], resumed[key], strict=True):
                assert all(np.array_equal(a[n], b[n]) for n in a), key
        elif key == "samples":
            assert all(np.array_equal(a, b) for a, b in zip(whole[key], resumed[key], strict=True))
        else:
            assert whole[key] == resumed[key], key


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
def test_stylegan2_matches_torch_and_resumes_exactly(one_torch_thread: None, tmp_path: Path, fused: bool) -> None:
    import tinygrad_adam

    data, runs = images(), {}
    for lib in ("torch", "ours"):
        with program(HERE / "stylegan2.py", lib) as m:
            args = type("Args", (m.Args,), {"fused": fused})
            if lib == "torch":
                torch.manual_seed(0)
                nets = m.build(args)[:3]
                weights = {n: {k: v.numpy().copy() for k, v in net.state_dict().items()}
                           for n, net in zip(("g", "d", "g_ema"), nets, strict=True)}
                given = {n: {k: torch.from_numpy(v) for k, v in s.items()} for n, s in weights.items()}
            else:
                given = weights
            runs[lib] = m.run(given, data, SEED, args)
            runs[lib + " resumed"] = m.run(given, data, SEED, type("Args", (args,), {}),
                                           checkpoint=tmp_path / f"{lib}.pt", stop_at=STOP_AT)
    for lib in ("torch", "ours"):
        assert_same(runs[lib], runs[lib + " resumed"])
    theirs, ours = runs["torch"], runs["ours"]
    assert len(ours["grad_r1"]) == len(ours["grad_path"]) == ITERS // 2 and len(ours["d"]) == ITERS
    for key in SCALARS:
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert ours["lines"] == theirs["lines"]
    for key in STATES:
        for step, (a, b) in enumerate(zip(ours[key], theirs[key], strict=True)):
            assert list(a) == list(b)
            for name in b:
                np.testing.assert_allclose(a[name], b[name], err_msg=f"{key}[{step}].{name}", **TOL)
    for a, b in zip(ours["samples"], theirs["samples"], strict=True):
        assert a.shape == b.shape == (4, 3, 8, 8)
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert ours["mean_path_length"][-1] > 0 and ours["r1"][0] > 0  # the penalties ran
    checkpoints_agree(torch.load(tmp_path / "torch.pt"),
                      tinygrad_adam.load(tmp_path / "ours.pt", map_location="cpu"))


def checkpoints_agree(theirs: dict, ours: dict) -> None:
    """The saved g / d / g_ema states, Adam states, betas and lrs agree."""
    assert ours.keys() == theirs.keys() and ours["iter"] == theirs["iter"] == STOP_AT
    np.testing.assert_allclose(float(ours["mean_path_length"]), float(theirs["mean_path_length"]), rtol=1e-6)
    for name in ("g", "d", "g_ema"):
        assert list(ours[name]) == list(theirs[name])
        for key, value in theirs[name].items():
            np.testing.assert_allclose(ours[name][key].numpy(), value.numpy(), err_msg=f"{name}.{key}", **TOL)
    for name in ("g_optim", "d_optim"):
        group_o, group_t = ours[name]["param_groups"][0], theirs[name]["param_groups"][0]
        assert (group_o["lr"], tuple(group_o["betas"]), group_o["params"]) == (group_t["lr"], group_t["betas"],
                                                                                 group_t["params"])
        assert group_t["betas"][0] == 0.0 and group_t["lr"] == pytest.approx(0.002 * 2 / 3)
        assert ours[name]["state"].keys() == theirs[name]["state"].keys()
        for i, state in theirs[name]["state"].items():
            mine = ours[name]["state"][i]
            assert int(mine["step"]) == int(state["step"])
            for key, atol in (("exp_avg", 1e-7), ("exp_avg_sq", 1e-10)):
                np.testing.assert_allclose(np.asarray(mine[key]), state[key].numpy(), rtol=1e-4, atol=atol)


@pytest.mark.parametrize(("up", "down", "pad"), [(2, 1, (2, 1)), (1, 2, (1, 1)), (1, 1, (-1, 1)), (2, 2, (0, -2)),
                                                 (1, 2, (-1, 0)), (2, 1, (-2, 3))])
def test_upfirdn2d_native_with_negative_pads(one_torch_thread: None, up: int, down: int,
                                             pad: tuple[int, int]) -> None:
    """``upfirdn2d`` (the native path: zero-insertion by ``F.pad``, positive pads then the negative-pad crop, the
    flipped-kernel ``conv2d``, strided slicing) and its input gradient agree, pads below zero included."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    weights = rng.standard_normal((2, 3)).astype(np.float32)
    outs = {}
    for lib in ("torch", "ours"):
        with program(HERE / "stylegan2.py", lib) as m:
            kernel = m.make_kernel([1, 3, 3, 1]) * up ** 2
            kernel = kernel + m.torch.arange(16, dtype=m.torch.float32).view(4, 4) / 100  # not symmetric
            inp = m.torch.from_numpy(x).requires_grad_()
            out = m.upfirdn2d(inp, kernel, up=up, down=down, pad=pad)
            (out * m.torch.from_numpy(np.resize(weights, out.shape[2:]).astype(np.float32))).sum().backward()
            outs[lib] = (out.detach().numpy(), inp.grad.numpy())
    assert outs["ours"][0].shape == outs["torch"][0].shape
    for a, b in zip(outs["ours"], outs["torch"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_projector_matches_torch(one_torch_thread: None) -> None:
    """projector.py's loop (mse in place of LPIPS) on g_ema from torch's weights: ``latent_std`` from the mapping
    network, fed noises ``repeat``ed per image, a w+ latent, Adam over ``[latent_in] + noises`` with get_lr's ramp
    written into ``param_groups[0]["lr"]``, ``noise_regularize`` (``torch.roll``, the 2x2 mean pyramid) and the
    in-place ``noise_normalize_`` through ``.data``. Measured: losses (~1e4) within 2.4e-7 relative, latents 3.6e-7
    and noises 5.4e-7 absolute; allowed rtol 1e-5 / atol 1e-5."""
    rng = np.random.default_rng(0)
    imgs = np.tanh(rng.standard_normal((2, 3, 8, 8))).astype(np.float32)
    runs = {}
    for lib in ("torch", "ours"):
        with program(HERE / "stylegan2.py", lib) as m:
            if lib == "torch":
                torch.manual_seed(0)
                g_ema = m.build(m.Args)[2]
                weights = {k: v.numpy().copy() for k, v in g_ema.state_dict().items()}
            else:
                g_ema = m.build(m.Args)[2]
                g_ema.load_state_dict(weights)
            runs[lib] = m.project(g_ema, m.torch.from_numpy(imgs), 5)
    theirs, ours = runs["torch"], runs["ours"]
    assert ours["lr"] == theirs["lr"] and ours["lr"][0] == 0.0
    for key in ("loss", "n_loss", "mse"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, err_msg=key)
    assert ours["loss"][-1] < 0.5 * ours["loss"][0]
    for step, (a, b) in enumerate(zip(ours["latent"], theirs["latent"], strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=f"latent {step}")
    for step, (a, b) in enumerate(zip(ours["noises"], theirs["noises"], strict=True)):
        for layer, (x, y) in enumerate(zip(a, b, strict=True)):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5, err_msg=f"noise {layer} at step {step}")
