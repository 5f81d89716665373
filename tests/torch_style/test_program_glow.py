"""``glow.py`` (rosinality/glow-pytorch's model.py and train.py) run on torch and, imports swapped, on ours: from
torch's initial weights (the numpy / scipy LU buffers and the uint8 ``initialized`` flags included), the same numpy
batches, dequantisation noise and sampling z, the ActNorm data-dependent initialisation, the per-step loss / logP /
logdet in bits per dimension, the warmup learning rates, every parameter's gradient, the parameters and buffers
after each step, the temperature samples from ``reverse`` and the printed lines agree, for affine coupling with the
LU and the plain invertible 1x1 convolutions and for additive coupling; ``reverse(forward(x), reconstruct=True)``
gives x back in both, and a resume from the ``torch.save``d model and optimizer equals the uninterrupted run.

Tolerances: float32, the runs differing by summation order in the convolutions, the 12x12 / 24x24 matrix products,
``inverse`` and the reductions. Measured over 5 steps (lr 0.05 under the ``i / 50`` warmup), in the three variants:
losses, logP and logdet within 2.1e-7 relative (the evaluation's per-image log_p / logdet 1.6e-7); parameters and
buffers within 4.8e-7 absolute; gradients within 9.7e-6 of each tensor's largest gradient (the worst the ZeroConv
``scale``s and ``w_s``, whose gradients are sums over many terms); samples within 8.6e-7 and reconstructions within
4.8e-7 absolute (each library's reconstruction is within 3.6e-7 of x). We allow rtol 1e-6 on the scalars, atol 2e-6
on the parameters, 3e-5 of each tensor's scale on the gradients and atol 5e-6 on samples and reconstructions. The
printed lines round to 5 decimals, and a value a few ulps from a rounding boundary prints differently (logP
-1.991185 as -1.99119 / -1.99118), so their numbers are compared within 1e-5 and their text exactly otherwise. The
file takes about 6 s (torch on one thread) on a shared 2-core machine."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "glow.py"
RTOL, ATOL, GRAD, SAMPLE = 1e-6, 2e-6, 3e-5, 5e-6
NUMBER = re.compile(r"-?\d+\.\d+")


def make(m: object, affine: bool, conv_lu: bool) -> object:
    """The tiny Glow: 3 channels, n_flow 2, n_block 2 (numpy seeded for InvConv2dLU's random rotation)."""
    np.random.seed(0)
    return m.Glow(3, 2, 2, affine=affine, conv_lu=conv_lu)


def feed_noise(m: object, rng: np.random.Generator) -> None:
    """The program's ``rand_like`` hook fed numpy uniforms (the libraries' generators differ)."""
    m.rand_like = lambda t: m.torch.from_numpy(rng.uniform(size=tuple(t.shape)).astype(np.float32))


def train_both(tmp_path: Path, argv: list[str], affine: bool, conv_lu: bool) -> tuple[dict, dict]:
    def run(m: object, model: object, lib: str) -> dict:
        feed_noise(m, np.random.default_rng(3))
        history = collections.defaultdict(list)
        (tmp_path / lib).mkdir()
        m.main([*argv, "--checkpoint", str(tmp_path / lib)], model, m.make_images(), history)
        x = m.torch.from_numpy(m.make_images(4, seed=9) - 0.5)
        with m.torch.no_grad():
            log_p, logdet, z_outs = model(x)
            history["recon"] = model.reverse(z_outs, reconstruct=True).numpy()
            history["x"] = x.numpy()
            history["eval"] = [log_p.numpy(), logdet.numpy()]
        return history
    return from_torch_weights(PROGRAM, lambda m: make(m, affine, conv_lu), run)


def agree(theirs: dict, ours: dict) -> None:
    """Scalars, lr, gradients, parameters and buffers after every step, samples, lines and the reconstruction."""
    for key in ("loss", "log_p", "logdet"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL, err_msg=key)
    assert ours["lr"] == theirs["lr"]
    for step, (got, want) in enumerate(zip(ours["grads"], theirs["grads"], strict=True)):
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=GRAD * np.abs(want[name]).max(),
                                       err_msg=f"grad {name} at step {step}")
    for step, (got, want) in enumerate(zip(ours["state"], theirs["state"], strict=True)):
        assert list(got) == list(want)
        for name in want:
            assert got[name].dtype == want[name].dtype, name
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=ATOL, err_msg=f"{name} at step {step}")
    assert len(ours["samples"]) == len(theirs["samples"]) == 2
    for got, want in zip(ours["samples"], theirs["samples"], strict=True):
        assert got.shape == want.shape == (3, 3, 8, 8)
        np.testing.assert_allclose(got, want, rtol=0, atol=SAMPLE)
    np.testing.assert_allclose(ours["recon"], theirs["recon"], rtol=0, atol=SAMPLE)
    for got, want in zip(ours["eval"], theirs["eval"], strict=True):
        np.testing.assert_allclose(got, want, rtol=RTOL)
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        assert NUMBER.sub("#", got) == NUMBER.sub("#", want)
        np.testing.assert_allclose([float(v) for v in NUMBER.findall(got)],
                                   [float(v) for v in NUMBER.findall(want)], rtol=0, atol=1.01e-5, err_msg=got)


def learned(out: dict) -> None:
    """The run did something: every step moved the weights, ActNorm was initialised, and reverse inverts forward."""
    first, last = out["state"][0], out["state"][-1]
    assert all(int(v) == 1 for k, v in last.items() if k.endswith("initialized"))
    assert not np.allclose(first["blocks.0.prior.conv.weight"], last["blocks.0.prior.conv.weight"])
    np.testing.assert_allclose(out["recon"], out["x"], rtol=0, atol=2e-5)


@pytest.mark.parametrize(("argv", "affine", "conv_lu"), [
    (["--affine"], True, True),
    (["--affine", "--no_lu"], True, False),
    ([], False, True),
], ids=["affine-lu", "affine-plain", "additive-lu"])
def test_glow_matches_torch(one_torch_thread: None, tmp_path: Path, argv: list[str], affine: bool,
                            conv_lu: bool) -> None:
    theirs, ours = train_both(tmp_path, argv, affine, conv_lu)
    agree(theirs, ours)
    assert ours["lr"] == pytest.approx([0.001, 0.002, 0.003, 0.004, 0.005])
    assert ours["lines"][0].startswith("Loss: ") and ours["lines"][0].endswith("; lr: 0.0010000")
    for out in (ours, theirs):
        learned(out)
    names = list(ours["state"][0])
    assert ("blocks.0.flows.0.invconv.w_p" in names) == conv_lu and "blocks.1.flows.0.invconv.w_p" in names
    assert ("blocks.0.flows.0.invconv.weight" in names) == (not conv_lu)
    assert sorted(p.name for p in (tmp_path / "ours").iterdir()) == ["model_000004.pt", "optim_000004.pt"]


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    """Ours: 6 iterations at once, or 4, the iteration-3 checkpoint (``module.``-prefixed keys, Adam's state) loaded
    into a fresh model and optimizer, and the last 2 (the noise continued by hand), give the same numbers exactly."""
    runs = []
    with program(PROGRAM, "ours") as m:
        for split in (False, True):
            folder = tmp_path / str(split)
            folder.mkdir()
            feed_noise(m, np.random.default_rng(3))
            m.torch.manual_seed(0)
            history = collections.defaultdict(list)
            parts = [["--iter", "4"], ["--iter", "6", "--resume", "3"]] if split else [["--iter", "6"]]
            for extra in parts:
                m.main(["--affine", "--checkpoint", str(folder), *extra], make(m, True, True), m.make_images(),
                       history)
            runs.append({"loss": history["loss"][-2:], "lr": history["lr"][-2:], "lines": history["lines"][-2:],
                         "samples": [s.tolist() for s in history["samples"][-1:]],
                         "params": history["state"][-1]})
        keys = list(m.torch.load(str(tmp_path / "True" / "model_000004.pt")))
    assert keys[0] == "module.blocks.0.flows.0.actnorm.loc" and "module.blocks.0.flows.0.actnorm.initialized" in keys
    assert runs[0]["lr"] == pytest.approx([0.004, 0.005])
    assert_same_run(*runs)


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_glow_structure(lib: str) -> None:
    """What both libraries must build and compute: the z shapes, ActNorm's data-dependent initialisation (zero mean,
    unit std per channel of the squeezed input), the orthogonal initial 1x1 convolutions with zero logdet, the LU
    weight equal to the plain one's form, the zero-initialised priors, and reverse inverting forward."""
    with program(PROGRAM, lib) as m:
        m.torch.manual_seed(0)
        model = make(m, True, False)
        assert m.calc_z_shapes(3, 8, 2, 2) == [(6, 4, 4), (24, 2, 2)]
        flow = model.blocks[0].flows[0]
        assert str(flow.actnorm.initialized.dtype).endswith("uint8") and flow.actnorm.initialized.item() == 0
        w = flow.invconv.weight.detach().squeeze().numpy()
        np.testing.assert_allclose(w @ w.T, np.eye(12), atol=1e-5)
        lu = model.blocks[1].flows[0].invconv
        for name in ("w_p", "u_mask", "l_mask", "s_sign", "l_eye"):
            assert name in dict(lu.named_buffers()) and name not in dict(lu.named_parameters())
        wl = lu.calc_weight().detach().squeeze().numpy()
        np.testing.assert_allclose(wl @ wl.T, np.eye(24), atol=1e-5)
        assert abs(lu.w_s.detach().sum().item()) < 1e-5

        x = m.torch.from_numpy(m.make_images(4) - 0.5)
        log_p, logdet, z_outs = model(x)
        assert [tuple(z.shape) for z in z_outs] == [(4, 6, 4, 4), (4, 24, 2, 2)]
        assert tuple(log_p.shape) == (4,) and tuple(logdet.shape) == (4,)
        squeezed = x.numpy().reshape(4, 3, 4, 2, 4, 2).transpose(0, 1, 3, 5, 2, 4).reshape(4, 12, 4, 4)
        np.testing.assert_allclose(flow.actnorm.loc.detach().numpy().ravel(), -squeezed.mean((0, 2, 3)), atol=1e-6)
        np.testing.assert_allclose(flow.actnorm.scale.detach().numpy().ravel(),
                                   1 / (squeezed.std((0, 2, 3), ddof=1) + 1e-6), rtol=1e-5)
        assert flow.actnorm.initialized.item() == 1
        _, det = flow.invconv(m.torch.zeros(1, 12, 4, 4))
        assert abs(det.item()) < 1e-4
        with m.torch.no_grad():
            back = model.reverse(z_outs, reconstruct=True)
        np.testing.assert_allclose(back.numpy(), x.numpy(), atol=2e-5)


def test_invconv_rotation_matches_torch() -> None:
    """``InvConv2d``'s initial rotation: ours' ``torch.qr`` (and ``torch.linalg.qr``) of the same matrix gives torch's
    Q (the same column signs), so a torch-seeded weight would be the same rotation."""
    rng = np.random.default_rng(1)
    with program(PROGRAM, "torch") as t, program(PROGRAM, "ours") as o:
        for n in (12, 24):
            weight = rng.standard_normal((n, n)).astype(np.float32)
            with pytest.warns(UserWarning, match="torch.qr is deprecated"):
                got = o.torch.qr(o.torch.from_numpy(weight))[0].numpy()
            want = t.torch.linalg.qr(t.torch.from_numpy(weight))[0].numpy()
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
            np.testing.assert_allclose(o.torch.linalg.qr(o.torch.from_numpy(weight))[0].numpy(), want, atol=1e-6)
