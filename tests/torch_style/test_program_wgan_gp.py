"""The WGAN-GP program (``wgan_gp.py``) on torch and, with the imports swapped, on ours: from torch's initial
weights (for the spectral-norm critics their random power-iteration vectors too, ``weight_u`` / ``weight_v`` or
``parametrizations.weight.0._u`` / ``_v``, through the state_dict) and the same numpy batches, noise and
interpolation ``alpha``, the same critic costs, Wasserstein estimates, gradient penalties, input-gradient norms,
parameter-gradient norms, generator costs, final weights and samples, step by step."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

BATCH = 32
SERIES = ("D_cost", "W_D", "GP", "GP_norm", "D_real", "D_fake", "gradD", "G_cost", "gradG", "frozen_gradD")


def feeds(shape: tuple[int, ...], seed: int) -> tuple[Callable, Callable, Callable]:
    """``data()``, ``noise(b)`` and ``alphas(b)`` for the program, from one numpy generator: 2-D points of the eight
    Gaussians (shape (2,)), or 8 x 8 images with one bright row (shape (1, 8, 8), pixels in [-1, 1])."""
    rng = np.random.default_rng(seed)
    centers = np.array([(np.cos(a), np.sin(a)) for a in np.arange(8) * np.pi / 4]) * 2 / np.sqrt(2)

    def data() -> np.ndarray:
        if shape == (2,):
            return (centers[rng.integers(0, 8, BATCH)] + 0.02 * rng.standard_normal((BATCH, 2))).astype(np.float32)
        images = np.full((BATCH, *shape), -1, np.float32)
        images[np.arange(BATCH), 0, rng.integers(0, 8, BATCH), :] = 1
        return images

    return (data, lambda b: rng.standard_normal((b, 8), dtype=np.float32),
            lambda b: rng.random(b, dtype=np.float32))


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize(("shape", "sn", "rmsprop", "iters"), [
    ((2,), None, False, 10), ((1, 8, 8), "hook", True, 4), ((2,), "parametrization", False, 8)],
    ids=["toy_adam", "images_spectral_norm_rmsprop", "toy_parametrized_spectral_norm_adam"])
def test_wgan_gp_matches_torch(shape: tuple[int, ...], sn: str | None, rmsprop: bool, iters: int) -> None:
    with program(HERE / "wgan_gp.py", "torch") as t, program(HERE / "wgan_gp.py", "ours") as o:
        torch.manual_seed(0)
        netG, netD, _, _ = t.build(shape, sn)
        weights = {"netG": netG.state_dict(), "netD": netD.state_dict()}
        ours_G, ours_D, _, _ = o.build(shape, sn)
        assert list(ours_D.state_dict()) == list(netD.state_dict())  # weight_orig, weight_u, weight_v with sn
        assert list(ours_G.state_dict()) == list(netG.state_dict())
        want, want_G, want_D, want_samples = t.run(weights, shape, *feeds(shape, 1), iters, sn, rmsprop)
        mine = {name: {k: v.numpy() for k, v in state.items()} for name, state in weights.items()}
        got, got_G, got_D, got_samples = o.run(mine, shape, *feeds(shape, 1), iters, sn, rmsprop)
    steps = iters * t.CRITIC_ITERS
    assert [len(got[k]) for k in SERIES] == [steps] * 7 + [iters] * 3
    # float32 sums over a 64-wide critic round differently (~1e-7 relative per op); lr = 1e-4 steps keep the two
    # runs within ~1e-6 (seen). D_cost = D_fake - D_real + GP passes near 0: an absolute tolerance of 1e-5 there
    for key in SERIES:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-5, err_msg=key)
    # the critic's parameters were frozen in the generator step: its gradients are still the last critic step's
    assert got["frozen_gradD"] == got["gradD"][t.CRITIC_ITERS - 1::t.CRITIC_ITERS]
    for name, ours_state, theirs_state in (("netG", got_G, want_G), ("netD", got_D, want_D)):
        assert list(ours_state) == list(theirs_state)  # (ours holds raw arrays: README, Differences)
        for key, value in theirs_state.items():
            np.testing.assert_allclose(np.asarray(ours_state[key]), value.numpy(), rtol=1e-4, atol=1e-6,
                                       err_msg=f"{name}.{key}")
            moved = not np.array_equal(np.asarray(ours_state[key]), mine[name][key])
            # all but the critic's output bias, whose gradient -mean(1) + mean(1) is 0 (W = E D(real) - E D(fake)),
            # and the output layer's u, a unit vector of one element
            fixed = name == "netD" and key.startswith("main.5.") and key.endswith(("bias", "_u"))
            assert moved != fixed, f"{name}.{key}"
    np.testing.assert_allclose(got_samples, want_samples, atol=1e-5)
    assert got_samples.shape == (64, *shape)
    first, last = slice(0, t.CRITIC_ITERS), slice(-t.CRITIC_ITERS, None)  # it trained: the critic's cost and
    assert np.mean(got["D_cost"][last]) < np.mean(got["D_cost"][first]) - 0.5  # the penalty fell, the input-
    assert np.mean(got["GP"][last]) < 0.5 * np.mean(got["GP"][first])  # gradient norms moved towards 1
    distance = np.abs(np.subtract(got["GP_norm"], 1))
    assert np.mean(distance[last]) < np.mean(distance[first])


@pytest.mark.gpu
@pytest.mark.parametrize("sn", [None, "hook"])
def test_wgan_gp_on_the_gpu_gives_the_cpu_numbers(sn: str | None) -> None:
    """The program on our GPU (its ``device``): the double backward of the penalty, in-place LeakyReLU, LayerNorm,
    spectral norm's power iteration, Adam / RMSprop and the requires_grad toggling give the CPU's numbers."""
    import tinygrad_adam as tg

    shape, iters, runs = (1, 8, 8), 2, {}
    with program(HERE / "wgan_gp.py", "ours") as o:
        tg.manual_seed(0)
        netG, netD, _, _ = o.build(shape, sn)
        weights = {"netG": netG.state_dict(), "netD": netD.state_dict()}
        for device in ("cpu", "cuda"):
            o.device = tg.device(device)
            runs[device] = o.run(weights, shape, *feeds(shape, 2), iters, sn, sn is not None)
        steps = iters * o.CRITIC_ITERS
    (log_cpu, g_cpu, d_cpu, samples_cpu), (log_gpu, g_gpu, d_gpu, samples_gpu) = runs["cpu"], runs["cuda"]
    for key in SERIES:
        np.testing.assert_allclose(log_gpu[key], log_cpu[key], rtol=1e-4, atol=1e-4, err_msg=key)
    for name, cpu, gpu in (("netG", g_cpu, g_gpu), ("netD", d_cpu, d_gpu)):
        for key, value in cpu.items():
            assert tg.tensor(gpu[key]).device.type == "cuda"
            # a LayerNorm bias whose every sample's unit has one LeakyReLU slope gets a gradient of exactly
            # -slope w + slope w = 0 on the CPU, +-1e-9 in another summation order: Adam / RMSprop turn that into a
            # step of about +-lr, so there the two may part by 2 lr a step
            atol = 2 * 1e-4 * steps if key == "main.3.bias" else 1e-5
            np.testing.assert_allclose(tg.tensor(gpu[key]).cpu().numpy(), value, rtol=1e-4, atol=atol,
                                       err_msg=f"{name}.{key}")
    np.testing.assert_allclose(samples_gpu, samples_cpu, atol=1e-4)
