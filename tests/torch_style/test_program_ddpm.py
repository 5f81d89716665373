"""``ddpm.py`` (a minimal DDPM as lucidrains' denoising-diffusion-pytorch, the annotated-diffusion blog and dome272's
Diffusion-Models-pytorch write it) run on torch and, imports swapped, on ours: the schedules' buffers (linear,
quadratic, sigmoid and cosine, each registered as float32) and dome272's schedule, the sinusoidal embeddings,
``extract``; then from torch's initial weights and the same numpy draws (batches, timesteps, noise) the training
losses (l2 / huber / l1 / min-SNR weighted), gradient norms, the EMA's first parameter after each step
(``mul_().add_()``, ``lerp_`` and dome272's helper), the final and EMA parameters, the reverse trajectories of the
four samplers (the blog's, lucidrains' clipped one and DDIM, dome272's) and their uint8 images, for the plain
U-Net, the blog's (weight standardization, scale-shift, attention) and the 2-D point MLP; the resumed run equals
the uninterrupted one bit for bit in each library; and without handed-in draws the code's own ``torch.randint`` /
``torch.randn_like`` paths run.

Tolerances (measured, then allowed): betas, ``alphas_cumprod`` (float32 ``cumprod``: torch's CPU scan carries it in
float64, as ours now) and its shifted copy, dome272's schedule and ``extract`` are equal bit for bit; the buffers
through a float32 ``sqrt`` or ``log`` within 1.7e-7 relative (torch's are not always correctly rounded; ours are),
allowed 2.4e-7; the sigmoid schedule within 3.2e-7 (float32 sigmoids: torch's within 2.3 ulps of the true value,
ours within 3.3), allowed 1e-6. Embeddings of timesteps 0..999 within 1.5e-5 absolute (torch's float32 ``exp``
and numpy's differ by an ulp in a few frequencies, times t up to 999), allowed 3e-5. Over 6 Adam steps (U-Nets)
and 12 (MLP): losses within 2.4e-7, gradient norms within 1.5e-6 (of ~7), EMA and final parameters within 2e-7
absolute (2.0e-6 for one weight of the full U-Net on an AMD EPYC with OpenBLAS's Haswell kernels); allowed rtol 1e-5
/ atol 1e-6, 4e-6 for the final parameters. The reverse trajectories: each step within 3.4e-7 of that step's largest
value (the blog's sampler on the cosine schedule multiplies by 100 at its first step, so values reach 4000),
allowed 2e-6 of it (at least 2e-6 absolute). The uint8 images must be equal (a pixel could differ only where
x * 255 lies within rounding of an integer, which these seeds never meet)."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

T = 20
TOL = {"rtol": 1e-5, "atol": 1e-6}
PATH = HERE / "ddpm.py"
EXACT = ("betas", "alphas_cumprod", "alphas_cumprod_prev", "extract", "beta", "alpha_hat")


def draws(n: int, shape: tuple[int, ...], steps: int, seed: int) -> list:
    """(batch indices (8,), timesteps (8,) int64, noise (8, *shape) float32) per step."""
    rng = np.random.default_rng(seed)
    return [(rng.choice(n, 8, replace=False), rng.integers(0, T, 8),
             rng.standard_normal((8, *shape)).astype(np.float32)) for _ in range(steps)]


def test_schedules_embeddings_and_extract_match_torch(one_torch_thread: None) -> None:
    got = {}
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            out = {}
            for schedule in ("linear", "quadratic", "sigmoid", "cosine"):
                diffusion = m.GaussianDiffusion(m.MLPDenoiser(), timesteps=1000, beta_schedule=schedule)
                for name, buffer in diffusion.named_buffers():
                    assert buffer.dtype == m.torch.float32, name
                    out[f"{schedule}.{name}"] = buffer.numpy()
                t = m.torch.tensor([0, 999, 500])
                out[f"{schedule}.extract"] = m.extract(diffusion.posterior_variance, t, (3, 1, 8, 8)).numpy()
            dome = m.Diffusion(noise_steps=1000)
            out["dome.beta"], out["dome.alpha_hat"] = dome.beta.numpy(), dome.alpha_hat.numpy()
            out["embedding"] = m.SinusoidalPositionEmbeddings(32)(m.torch.arange(1000)).numpy()
            got[lib] = out
    assert got["ours"]["linear.extract"].shape == (3, 1, 1, 1)
    for name, want in got["torch"].items():
        assert got["ours"][name].dtype == want.dtype, name
        if name == "embedding":
            np.testing.assert_allclose(got["ours"][name], want, rtol=0, atol=3e-5)
        elif name.startswith("sigmoid"):  # float32 sigmoids: torch's within 2.3 ulps, ours within 3.3
            np.testing.assert_allclose(got["ours"][name], want, rtol=1e-6, atol=0, err_msg=name)
        elif name.split(".")[-1] in EXACT:
            np.testing.assert_array_equal(got["ours"][name], want, err_msg=name)
        else:  # torch's float32 sqrt and log are not always correctly rounded (ours are)
            np.testing.assert_allclose(got["ours"][name], want, rtol=2.4e-7, atol=0, err_msg=name)


def run(m, diffusion, images: bool, ema_style: str, steps: int) -> dict:
    data = m.make_images(32) if images else m.make_points(64)
    out, diffusion, ema = m.train(diffusion, data, draws(len(data), data.shape[1:], steps, 1), ema_style=ema_style)
    rng = np.random.default_rng(2)
    noises = [m.torch.from_numpy(n) for n in rng.standard_normal((T + 1, 4, *data.shape[1:]), dtype=np.float32)]
    out["samples"], out["trajectories"] = [], []
    for clipped, ddim in ((False, False), (True, False), (False, True)):
        image, trajectory = ema.sample(4, noises=noises, clipped=clipped, ddim=ddim)
        out["samples"].append(image.numpy())
        out["trajectories"].append(np.array(trajectory))
    if images:
        out["samples"].append(m.Diffusion(noise_steps=T).sample(ema.model, 4, noises=noises).numpy())
    return out


@pytest.mark.parametrize(("model", "schedule", "loss_type", "ema_style"), [
    ("Unet", "cosine", "huber", "lerp"), ("full Unet", "linear", "min_snr", "mul_add"),
    ("MLPDenoiser", "linear", "l2", "mul_add"), ("MLPDenoiser", "cosine", "l1", "dome")])
def test_ddpm_training_and_sampling_match_torch(one_torch_thread: None, model: str, schedule: str, loss_type: str,
                                                ema_style: str) -> None:
    images = model.endswith("Unet")

    def make(m):
        net = m.Unet(full=model == "full Unet") if images else m.MLPDenoiser()
        return m.GaussianDiffusion(net, timesteps=T, beta_schedule=schedule, loss_type=loss_type)
    theirs, ours = from_torch_weights(PATH, make, lambda m, diffusion, lib: run(m, diffusion, images, ema_style,
                                                                                 6 if images else 12))
    for key in ("loss", "norm", "ema"):
        np.testing.assert_allclose(np.array(ours[key]), np.array(theirs[key]), err_msg=key, **TOL)
    assert_params_close(ours["params"], theirs["params"], rtol=TOL["rtol"], atol=4e-6)
    assert_params_close(ours["ema_params"], theirs["ema_params"], **TOL)
    for got, want in zip(ours["trajectories"], theirs["trajectories"], strict=True):
        for step, (x, y) in enumerate(zip(got, want, strict=True)):  # rounding grows with the values' scale
            np.testing.assert_allclose(x, y, rtol=0, atol=2e-6 * max(1.0, np.abs(y).max()), err_msg=f"step {step}")
    for got, want in zip(ours["samples"], theirs["samples"], strict=True):
        assert got.dtype == want.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
    assert len(ours["samples"]) == (4 if images else 3) and ours["loss"][-1] < ours["loss"][0]
    if ema_style == "dome":  # the helper copies the model for its first two steps, then averages
        assert not np.array_equal(ours["ema"][-1], ours["params"][next(iter(ours["params"]))])


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_checkpoint_resume_is_exact(one_torch_thread: None, lib: str) -> None:
    """Stopped after 4 steps, the checkpoint dict (model, ema, opt, step) through torch.save / torch.load into fresh
    objects, trained on: every number equals the uninterrupted run's."""
    with program(PATH, lib) as m:
        data = m.make_points(64)
        steps = draws(64, (2,), 8, 3)
        runs = []
        for resume_at in (None, 4):
            def make():
                return m.GaussianDiffusion(m.MLPDenoiser(), timesteps=T, beta_schedule="cosine")
            m.torch.manual_seed(0)
            runs.append(m.train(make(), data, steps, ema_style="lerp", resume_at=resume_at, make=make)[0])
    whole, resumed = runs
    for key in ("loss", "norm", "ema"):
        assert np.array_equal(np.array(whole[key]), np.array(resumed[key])), key
    for key in ("params", "ema_params"):
        for name in whole[key]:
            assert np.array_equal(whole[key][name], resumed[key][name]), (key, name)


def test_the_programs_own_draws_run(one_torch_thread: None) -> None:
    """Without handed-in draws: ``torch.randint`` timesteps, ``torch.randn_like`` noise, ``torch.randn`` starts."""
    with program(PATH, "ours") as m:
        m.torch.manual_seed(0)
        diffusion = m.GaussianDiffusion(m.Unet(), timesteps=T)
        loss = diffusion(m.torch.from_numpy(m.make_images(4)))
        assert loss.shape == () and np.isfinite(loss.item())
        image, trajectory = diffusion.sample(2)
        assert image.shape == (2, 1, 8, 8) and image.dtype == m.torch.uint8 and len(trajectory) == T
        t = m.Diffusion(noise_steps=T).sample_timesteps(100)
        assert t.dtype == m.torch.int64 and int(t.min()) >= 1 and int(t.max()) < T
