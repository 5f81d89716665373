"""``old_vae.py`` (the pytorch/examples VAE in its 2017-2018 spelling, and a conditional variant) run on torch and,
imports swapped, on ours, from torch's initial weights, the same numpy images and the same numpy noise: step by step
the losses, KLD terms and gradient norms agree, and so do the per-epoch train / test losses, the ``torch.cat``
comparison grids, the decoded samples, the final parameters and the ``torch.save`` / ``load_state_dict`` round trip;
``loss.data[0]`` raises on the 0-d loss in both.

Tolerances: float32, summed (not averaged) BCE + KLD losses of about 700 per batch, Adam over 18 steps; the runs
differ by summation order only: measured at most 1.8e-7 relative on losses, 1.5e-7 on gradient norms, 6.3e-7 on
KLD terms, 1.2e-7 absolute on reconstructions and samples (in [0, 1]) and 3e-8 on parameters. We allow rtol 1e-5 on
the series and atol 1e-6 on arrays. The idioms torch 2.13 warns about (``size_average=``, ``volatile=``) warn here
too; the test ignores those warnings."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "old_vae.py"
SERIES = {"rtol": 1e-5, "atol": 0}
ARRAYS = {"rtol": 0, "atol": 1e-6}


@pytest.mark.filterwarnings("ignore:size_average", "ignore:volatile", "ignore:Variable")
@pytest.mark.parametrize("cond", [False, True], ids=["vae", "cvae"])
def test_old_vae_matches_torch(one_torch_thread: None, tmp_path, cond: bool) -> None:
    def run(m, model, lib):
        images, labels = m.make_data()
        return m.run(model, images, labels, path=tmp_path / f"{lib}.pt", cond=cond)

    theirs, ours = from_torch_weights(PATH, lambda m: m.CVAE() if cond else m.VAE(), run)
    assert theirs["data0_raises"] and ours["data0_raises"]
    assert theirs["same"] and ours["same"]
    for key in ("loss", "kld", "norm", "train", "test"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **SERIES)
    for key in [k for k in theirs if k.startswith(("comparison", "sample"))] + ["reloaded"]:
        assert ours[key].shape == theirs[key].shape and ours[key].dtype == np.float32, key
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **ARRAYS)
    assert_params_close(ours["params"], theirs["params"], **ARRAYS)
    assert ours["train"][-1] < ours["train"][0]  # it learned
