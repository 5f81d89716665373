"""The DCGAN tutorial program (``dcgan.py``) on torch and, with the imports swapped, on ours: from torch's initial
weights (after the tutorial's ``weights_init``) and the same numpy noise, the same losses, D outputs, gradient norms
and samples step by step; and a run stopped after an epoch, saved with ``save``, loaded into fresh networks and
optimizers and trained on equals the uninterrupted run exactly (no step of the run is lost or changed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import realdata
from test_programs import HERE, needs, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

EPOCHS, BATCH, IMAGES, STOP_AFTER = 3, 32, 96, 1
SERIES = ("lossD", "lossG", "D_x", "D_G_z1", "D_G_z2", "gradD", "gradG")


def as_arrays(state: dict) -> dict:
    return {k: v.numpy() for k, v in state.items()}


@needs("mnist")
def test_dcgan_matches_torch_and_resumes_exactly(tmp_path: Path) -> None:
    import tinygrad_adam
    from tinygrad_adam.data.mnist import mnist_arrays

    images = mnist_arrays(realdata.find("mnist"))["x_train"][:IMAGES]
    rng = np.random.default_rng(0)
    with program(HERE / "dcgan.py", "torch") as t, program(HERE / "dcgan.py", "ours") as o:
        noises = rng.standard_normal((EPOCHS, IMAGES // BATCH, BATCH, t.nz, 1, 1), dtype=np.float32)
        fixed = rng.standard_normal((16, t.nz, 1, 1), dtype=np.float32)

        def noise(epoch: int, i: int, b: int) -> np.ndarray:
            return noises[epoch, i, :b]

        torch.manual_seed(0)
        netG, netD, _, _ = t.build()
        weights = {"netG": netG.state_dict(), "netD": netD.state_dict()}
        want = t.run(images, weights, noise, fixed, EPOCHS, BATCH, tmp_path / "torch.pt", STOP_AFTER)
        mine = {name: as_arrays(state) for name, state in weights.items()}
        whole = o.run(images, mine, noise, fixed, EPOCHS, BATCH)
        resumed = o.run(images, mine, noise, fixed, EPOCHS, BATCH, tmp_path / "ours.pt", STOP_AFTER)
        checkpoints = torch.load(tmp_path / "torch.pt"), tinygrad_adam.load(tmp_path / "ours.pt", map_location="cpu")
    for key in SERIES:  # ours resumed = ours uninterrupted, bit for bit
        assert resumed[key] == whole[key], key
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(resumed["samples"], whole["samples"], strict=True))
    # float32 convolutions of a few hundred terms round differently (~1e-7 relative per op); Adam's first steps
    # move each weight by about lr whatever the gradient's size, so the runs stay within ~1e-5 relative (seen)
    for key in SERIES:
        np.testing.assert_allclose(resumed[key], want[key], rtol=1e-4, err_msg=key)
    assert len(resumed["samples"]) == EPOCHS
    for epoch, (a, b) in enumerate(zip(resumed["samples"], want["samples"], strict=True)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-5, err_msg=f"samples after epoch {epoch}")
    steps = EPOCHS * IMAGES // BATCH
    assert len(resumed["lossG"]) == steps
    lossD, lossG, D_x = (resumed[k] for k in ("lossD", "lossG", "D_x"))  # it trained: D learns to tell
    assert lossD[-1] < 0.9 * lossD[0] and D_x[-1] > D_x[0] + 0.1 and lossG[-1] < lossG[0]  # real digits from G's
    assert not np.allclose(resumed["samples"][0].numpy(), resumed["samples"][-1].numpy(), atol=1e-3)
    checkpoints_agree(*checkpoints, steps=(STOP_AFTER + 1) * IMAGES // BATCH)


def checkpoints_agree(theirs: dict, ours: dict, steps: int) -> None:
    """The two saved checkpoints hold the same epoch, history, network states and Adam states (ours names the step
    count and moments ``t``, ``m``, ``v``)."""
    assert ours.keys() == theirs.keys() and ours["epoch"] == theirs["epoch"] == STOP_AFTER
    assert {k: v for k, v in ours["history"].items() if k != "samples"}.keys() == set(SERIES)
    for name in ("netG", "netD"):
        assert list(ours[name]) == list(theirs[name])
        for key, value in theirs[name].items():
            np.testing.assert_allclose(np.asarray(ours[name][key]), value.numpy(), rtol=1e-4, atol=1e-6,
                                       err_msg=f"{name}.{key}")
        counts = {int(v) for k, v in ours[name].items() if k.endswith("num_batches_tracked")}
        assert counts == {steps if name == "netG" else 3 * steps}  # D sees a real, a fake and again a fake batch
    for name in ("optG", "optD"):
        group_o, group_t = ours[name]["param_groups"][0], theirs[name]["param_groups"][0]
        assert (group_o["lr"], tuple(group_o["betas"]), group_o["params"]) == (group_t["lr"], group_t["betas"],
                                                                                 group_t["params"])
        assert ours[name]["state"].keys() == theirs[name]["state"].keys()
        for i, state in theirs[name]["state"].items():
            mine = ours[name]["state"][i]
            assert int(mine["step"]) == int(state["step"]) == steps
            np.testing.assert_allclose(mine["exp_avg"].numpy(), state["exp_avg"].numpy(), rtol=1e-3, atol=1e-7)
            np.testing.assert_allclose(mine["exp_avg_sq"].numpy(), state["exp_avg_sq"].numpy(), rtol=1e-3,
                                       atol=1e-10)


def test_weights_init_follows_the_tutorial() -> None:
    """Ours draws its own numbers, so only the distribution is torch's: conv weights N(0, 0.02^2), batch-norm
    weights N(1, 0.02^2) and biases 0, written in place through ``.data`` (our raw array) by ``Module.apply``."""
    import tinygrad_adam

    with program(HERE / "dcgan.py", "ours") as o:
        tinygrad_adam.manual_seed(0)
        netG, netD, _, _ = o.build()
    for net in (netG, netD):
        for module in net.modules():
            kind = type(module).__name__
            if "Conv" in kind:
                w = module.weight.data
                assert module.bias is None and abs(w.mean()) < 0.004 and 0.018 < w.std() < 0.022, kind
            elif "BatchNorm" in kind:
                assert abs(module.weight.data.mean() - 1) < 0.01 and 0.01 < module.weight.data.std() < 0.03
                assert not module.bias.data.any() and module.weight.requires_grad
