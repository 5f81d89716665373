"""``nerf_lite.py`` (nerf-pytorch's core on 8x8 views of a procedurally coloured sphere) run on torch and, imports
swapped, on ours from torch's initial weights (the coarse and fine networks) with the same numpy random numbers: the
losses, PSNRs (fine and coarse), learning rates, gradient norms, printed lines, the first step's stratified and
hierarchical z-values, the final parameters, and the maps and samples of a whole view rendered deterministically
afterwards; also with ``lindisp`` sampling, and coarse-only without view directions.

Tolerances: float32; the runs differ by summation order (matmuls, ``torch.sum``) and by numpy's float32 ``exp`` (off
by an ulp or two for ~40% of inputs, torch's for ~1%). Measured over 8 Adam steps with density noise: losses within
6e-8, PSNRs within 1e-6 (of ~10), gradient norms within 3e-8, z-values within 4.8e-7, parameters within 1.3e-5 (the
first layer of the coarse network, whose high-frequency inputs get tiny gradients that Adam scales up), the view's
maps within 5.4e-7; over 30 steps without noise losses within 2.4e-7, PSNRs within 1.4e-5, gradient norms within
3.3e-7, parameters within 1.4e-5, maps within 1.1e-5 (disparity relatively within 1.5e-5). We allow rtol 1e-5 and
atol 2e-6 for the series, rtol 5e-5 for the maps, atol 1e-4 for parameters (an AVX-512 EPYC's float32 kernels: one
fine-network weight of 1888 5.1e-5 apart after the 30 steps at lr 1e-2); learning rates are equal. (Since float32
sums over a strided axis, as ``rgb_map``'s over the samples, accumulate in float64, the 30 steps' depth map is within
4.5e-5 relatively: the rounding moved, the trajectory with it.)

The view's fine samples are rounding-decided in two ways. The deterministic ``sample_pdf`` draws ``u = 1`` exactly,
and the cdf's last entry is 1 or one ulp either side of it (``torch.sum``'s order): the last sample lands on the last
bin's edge or inside that bin (seen 3.9e-3 apart). And where a ray's weights are tiny, alpha = 1 - exp(-sigma *
dist) cancels: a weight of 2.4e-6 is known to one ulp of exp near 1 (6e-8, 2.4%: seen 2.34e-6 in torch, 2.39e-6 in
ours), which moves that ray's samples by up to 1.4e-3. So the last sample may differ by a bin width, the others by
5e-3, and 75% of the rays must agree within 1e-5; the maps of the rays whose samples moved are compared within 1e-3
(seen 9.1e-5), the others as above. Disparity is nan where no weight falls on a ray (0 / 0, as in nerf-pytorch):
the nans must be in the same places. Our ``/`` passes numpy's RuntimeWarning for 0 / 0 (README, Differences) and is
silenced here. The file runs in about 3 s."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 2e-6}
MAPS = {"rtol": 5e-5, "atol": 2e-6}


def run(m, models, nerf: dict, lindisp: bool, **options: object) -> dict:
    """``train`` with ``options``, then ``render_view`` of the second camera; ``nerf``: ``create_nerf``'s options."""
    query, viewdirs = m.create_nerf(**nerf)[1], nerf.get("use_viewdirs", True)
    log = m.train(models, query, use_viewdirs=viewdirs, lindisp=lindisp, **options)
    _, poses, H, W, focal = m.make_scene()
    K = np.array([[focal, 0, 0.5 * W], [0, focal, 0.5 * H], [0, 0, 1]])
    log["view"] = m.render_view(models, query, m.torch.Tensor(poses[1]), H, W, K, use_viewdirs=viewdirs,
                                lindisp=lindisp)
    return log


def both(nerf: dict | None = None, lindisp: bool = False, **options: object) -> tuple[dict, dict]:
    nerf = nerf or {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "torch.meshgrid: in an upcoming release")  # the old call, once per process
        warnings.filterwarnings("ignore", "torch.meshgrid called without indexing")  # ours, in our words
        warnings.filterwarnings("ignore", "invalid value encountered in divide", RuntimeWarning)  # ours: 0 / 0
        return from_torch_weights(HERE / "nerf_lite.py", lambda m: m.create_nerf(**nerf)[0],
                                  lambda m, models, lib: run(m, models, nerf, lindisp, **options))


def agree(theirs: dict, ours: dict) -> None:
    for key in ("loss", "psnr", "psnr0", "grad_norm", "z_vals", "z_samples"):
        assert (ours[key] is None) == (theirs[key] is None), key
        np.testing.assert_allclose(np.array(ours[key], float), np.array(theirs[key], float), err_msg=key, **TOL)
    assert ours["lr"] == theirs["lr"]
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):  # the numbers may round the other way
        assert got.split(":")[:2] == want.split(":")[:2]
        np.testing.assert_allclose([float(w) for w in got.split()[4::2]], [float(w) for w in want.split()[4::2]],
                                   **TOL)
    np.testing.assert_allclose(ours["view"]["z_coarse"], theirs["view"]["z_coarse"], **TOL)
    assert ours["view"].keys() == theirs["view"].keys()
    same = np.ones((8, 8), bool)  # the rays whose fine samples agree
    if "z_samples" in theirs["view"]:
        diff = np.abs(ours["view"]["z_samples"] - theirs["view"]["z_samples"])
        assert diff[..., :-1].max() <= 5e-3 and diff.max() <= 4 / 7  # the sample at u = 1: on or in the last bin
        same = diff.max(-1) <= 1e-5
        assert same.mean() > 0.75
    for key in ("rgb_map", "disp_map", "acc_map", "depth_map"):
        got, want = ours["view"][key], theirs["view"][key]
        assert got.shape == want.shape == (8, 8, 3 if key == "rgb_map" else 1), key
        assert got.dtype == want.dtype == np.float32, key
        np.testing.assert_allclose(got[same], want[same], err_msg=key, **MAPS)  # (nans in the same places)
        np.testing.assert_allclose(got[~same], want[~same], err_msg=key, rtol=1e-3, atol=1e-3)
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=1e-4)


def test_nerf_lite_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both(n_iters=8, raw_noise_std=1., old_meshgrid=True)
    agree(theirs, ours)
    assert len(ours["loss"]) == 8 and ours["z_vals"].shape == (16, 16) and ours["z_samples"].shape == (16, 8)
    assert np.all(np.diff(ours["z_vals"], axis=-1) >= 0)  # torch.sort of the coarse and fine samples
    assert ours["lr"][-1] == pytest.approx(5e-3 * 0.1 ** (8 / 1000))


def test_nerf_lite_learns_like_torch(one_torch_thread: None) -> None:
    theirs, ours = both(n_iters=30, lrate=1e-2)
    agree(theirs, ours)
    assert ours["psnr"][-1] > ours["psnr"][0] + 4  # torch's run: 7.5 -> 13.4 dB
    assert np.isnan(ours["view"]["disp_map"]).any() and (ours["view"]["acc_map"] > 0.99).any()


def test_rays_match_the_scene_and_meshgrid_spellings() -> None:
    with program(HERE / "nerf_lite.py", "ours") as o, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "torch.meshgrid: in an upcoming release")
        warnings.filterwarnings("ignore", "torch.meshgrid called without indexing")
        images, poses, H, W, focal = o.make_scene()
        K = np.array([[focal, 0, 0.5 * W], [0, focal, 0.5 * H], [0, 0, 1]])
        c2w = o.torch.Tensor(poses[2])
        rays_o, rays_d = o.get_rays(H, W, K, c2w)
        old_o, old_d = o.get_rays(H, W, K, c2w, old_meshgrid=True)
        assert rays_d.shape == rays_o.shape == (H, W, 3)
        np.testing.assert_array_equal(old_d.numpy(), rays_d.numpy())
        np.testing.assert_array_equal(old_o.numpy(), np.broadcast_to(poses[2][:3, 3], (H, W, 3)))
        centre = rays_d.numpy()[H // 2, W // 2]  # the pixel at the principal point looks at the origin
        np.testing.assert_allclose(centre / np.linalg.norm(centre), -poses[2][:3, 3] / 4, atol=1e-6)
        assert images.shape == (4, H, W, 3) and (images == 1).any() and (images < 1).any()


@pytest.mark.parametrize("variant", ["lindisp", "coarse_only_no_viewdirs"])
def test_nerf_lite_variants_match_torch(one_torch_thread: None, variant: str) -> None:
    nerf = {"N_importance": 0, "use_viewdirs": False} if variant.startswith("coarse") else {}
    theirs, ours = both(nerf, lindisp=variant == "lindisp", n_iters=6, raw_noise_std=0.5)
    agree(theirs, ours)
    fine = variant == "lindisp"
    assert (ours["z_samples"] is not None) == fine and len(ours["psnr0"]) == 6 * fine
    assert ours["z_vals"].shape == (16, 16 if fine else 8) and ("z_samples" in ours["view"]) == fine
