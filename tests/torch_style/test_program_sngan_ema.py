"""``sngan_ema.py`` (a small SN-GAN as pytorch-spectral-normalization-gan / mimicry write it: spectral norm by the
hook API or the parametrization, the hinge, Wasserstein or BCEWithLogits loss, Adam(0, 0.9) with two D steps per G
step under ExponentialLR, an EMA generator through ``AveragedModel`` + ``get_ema_multi_avg_fn`` (parameters only or
``use_buffers=True``) and ``update_bn``, and a checkpoint resume) run on torch and, imports swapped, on ours: from
torch's initial weights (spectral norm's u and v vectors included, as they are in the state dict) and the same numpy
batches, the D and G losses, each layer's sigma estimate u . W v after every D step, G's gradient norm, the EMA
parameters after every G step, the lr, the eval-mode samples of G and of the EMA copy after ``update_bn``, and the
final state dicts (``weight_orig`` / ``_u`` / ``_v``, ``n_averaged``) agree; and in each library a run saved after
the second G step, reloaded into fresh objects and trained on equals the uninterrupted one bit for bit.

Tolerances: float32 throughout. Measured over 4 G steps (8 D steps), all four configurations: losses within 2.4e-7,
sigmas within 1.8e-7, G's gradient norm within 1.8e-7, EMA parameters within 1.5e-8, samples within 2.4e-7 (values
up to 1), G's and the EMA copy's parameters and buffers within 6e-8, lrs equal. D's parameters and u / v are within
1.2e-7 but for one entry of ``conv4.bias`` in the hook-hinge run: its exact gradient at the first D step is 0,
torch's rounding leaves -4.7e-10 there, ours 0, and Adam's first step (beta1 = 0) moves it by
lr * g / (|g| + eps) = 8.9e-6 in torch. We allow atol 2e-6 (rtol 1e-5), and 2e-5 for D's final state. The
generator's transposed convolutions before BatchNorm have no bias, as the DCGAN tutorial writes them: such a bias
has an exact gradient of 0, and Adam would turn each library's rounding there into steps of lr (7e-5 seen).
Runtime about 3.5 s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

STEPS, N_DIS, BATCH, STOP_AT = 4, 2, 8, 1
TOL = {"rtol": 1e-5, "atol": 2e-6}
SERIES = ("disc_loss", "gen_loss", "sigmas", "grad_G", "ema", "lr", "samples", "ema_samples")
CONFIGS = {  # the spectral-norm API, the loss and whether the EMA averages BatchNorm's buffers too
    "hook-hinge": {"parametrized": False, "loss": "hinge", "ema_buffers": False},
    "parametrization-hinge": {"parametrized": True, "loss": "hinge", "ema_buffers": False},
    "hook-bce-ema_buffers": {"parametrized": False, "loss": "bce", "ema_buffers": True},
    "parametrization-wasserstein": {"parametrized": True, "loss": "wasserstein", "ema_buffers": False},
}
STATES = ("G", "D", "ema_state")


def batches() -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """Images in (-1, 1) (STEPS, N_DIS, B, 3, 8, 8), noises (STEPS, N_DIS + 1, B, 16), update_bn's noise batches
    and the fixed noise, all float32."""
    rng = np.random.default_rng(0)
    images = np.tanh(rng.standard_normal((STEPS, N_DIS, BATCH, 3, 8, 8))).astype(np.float32)
    noises = rng.standard_normal((STEPS, N_DIS + 1, BATCH, 16), dtype=np.float32)
    bn_noises = [rng.standard_normal((BATCH, 16), dtype=np.float32) for _ in range(3)]
    return images, noises, bn_noises, rng.standard_normal((6, 16), dtype=np.float32)


def assert_same(whole: dict, resumed: dict) -> None:
    assert whole.keys() == resumed.keys()
    for key, value in whole.items():
        if isinstance(value, dict):
            assert value.keys() == resumed[key].keys(), key
            assert all(np.array_equal(value[k], resumed[key][k]) for k in value), key
        else:
            assert np.array_equal(np.asarray(value), np.asarray(resumed[key])), key


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_sngan_ema_matches_torch_and_resumes_exactly(one_torch_thread: None, tmp_path: Path, config: str) -> None:
    import tinygrad_adam

    data, options = batches(), CONFIGS[config]
    parametrized = options["parametrized"]
    runs = {}
    for lib in ("torch", "ours"):
        with program(HERE / "sngan_ema.py", lib) as m:
            if lib == "torch":
                torch.manual_seed(0)
                G, D, *_ = m.build(parametrized)
                weights = {"G": G.state_dict(), "D": D.state_dict()}
            else:
                weights = {net: {k: v.numpy() for k, v in state.items()} for net, state in weights.items()}
            runs[lib] = m.run(weights, *data, N_DIS, **options)
            runs[lib + " resumed"] = m.run(weights, *data, N_DIS, **options, checkpoint=tmp_path / f"{lib}.pt",
                                           stop_at=STOP_AT)
    for lib in ("torch", "ours"):
        assert_same(runs[lib], runs[lib + " resumed"])
    theirs, ours = runs["torch"], runs["ours"]
    for key in SERIES:
        assert len(ours[key]) == len(theirs[key]) == (STEPS * N_DIS if key in ("disc_loss", "sigmas") else
                                                       STEPS if key in ("gen_loss", "grad_G", "ema", "lr") else 6), key
        np.testing.assert_allclose(np.asarray(ours[key]), np.asarray(theirs[key]), err_msg=key, **TOL)
    assert_params_close(ours["G"], theirs["G"], **TOL)
    assert_params_close(ours["ema_state"], theirs["ema_state"], **TOL)
    assert_params_close(ours["D"], theirs["D"], rtol=1e-5, atol=2e-5)
    assert ours["n_averaged"] == theirs["n_averaged"] == STEPS
    saved = tinygrad_adam.load(tmp_path / "ours.pt")
    suffixes = ("parametrizations.weight.original", "parametrizations.weight.0._u", "parametrizations.weight.0._v") \
        if parametrized else ("weight_orig", "weight_u", "weight_v")
    assert list(saved["D"]) == list(torch.load(tmp_path / "torch.pt")["D"]) == [
        f"{layer}.{key}" for layer in ("conv1", "conv2", "conv3", "conv4", "fc") for key in ("bias", *suffixes)]
    assert list(saved["ema"]) == ["n_averaged", *(f"module.{k}" for k in ours["G"])]
    assert saved["step"] == STOP_AT
