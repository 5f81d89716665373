"""``ebm_score.py`` on torch and, imports swapped, on ours, from torch's initial weights and the same numpy draws:
JEM's SGLD / replay-buffer / contrastive + cross-entropy loop under Adam + a warmup LambdaLR, IGEBM's spectral-normed
energy with its Langevin loop and Adam-state gradient clipping, and the score-matching losses (denoising, sliced,
variance-reduced sliced, exact with a trace loop, for a score net and an energy net, annealed denoising on a
noise-conditional net) with annealed Langevin sampling.

Compared each step: losses, gradient norms (and IGEBM's raw and clipped gradients), every parameter and buffer, SGLD
gradient norms, the replay buffer, the negative samples, Langevin samples and printed lines. Measured maxima
(float32, one torch thread): JEM losses 1.2e-7, parameters 1.5e-8, buffer 6e-8; IGEBM losses 2e-7 relative,
gradients 9.5e-7 of each tensor's largest entry (its 1e-10-std conv2 under spectral norm makes them ~1e9, with
cancellations), parameters 1.2e-7, negatives 1.2e-7; score matching losses 1.3e-8,
parameters 6e-8, Langevin samples 2.2e-6 (a 10x sigma ratio squared in the step). Allowed: rtol 1e-5 on losses and
gradient norms, atol 1e-6 on parameters and buffers, 5e-6 of the largest entry on IGEBM's gradients, atol 2e-5 on
samples.
Before the fix in ``optim/optimizer.py`` (torch's state names), IGEBM's ``clip_grad`` silently skipped every
parameter here (``"step" not in state``), so its clipped gradients differed by up to 35 where torch's were bounded.
The file takes about 5 s (torch on one thread) on a shared 2-core machine."""

from __future__ import annotations

import collections
import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "ebm_score.py"
RTOL, ATOL = 1e-5, 1e-6
ARGS = dict(n_classes=3, reinit_freq=0.3, batch_size=4, n_steps=3, sgld_lr=1.0, sgld_std=0.01, lr=1e-3,
            weight_decay=0.0, warmup_iters=3, buffer_size=12, n_iters=4, p_x_weight=1.0, p_y_given_x_weight=1.0,
            l2_energy_reg=0.1, clf_only=False)


def images(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes of 1x8x8 images in [-1, 1], told apart by their mean."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.uniform(-1, 1, (n, 1, 8, 8)) * 0.3 + (y[:, None, None, None] - 1) * 0.5
    return x.astype(np.float32), y


def same_states(ours: list[dict], theirs: list[dict], atol: float = ATOL, rtol: float = 0.0) -> None:
    assert len(ours) == len(theirs)
    for step, (got, want) in enumerate(zip(ours, theirs, strict=True)):
        assert list(got) == list(want)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=rtol, atol=atol, err_msg=f"{name} at step {step}")


def test_jem_matches_torch(one_torch_thread: None, capsys: pytest.CaptureFixture[str]) -> None:
    def run(m: object, model: object, lib: str) -> dict:
        history = collections.defaultdict(list)
        m.train_jem(model, images(1, 16), ARGS, history, np.random.default_rng(2))
        history["lines"] = capsys.readouterr().out.splitlines()
        return history

    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.CCF(3), run)
    for key in ("loss", "grad_norm", "fp", "fq", "sgld_grad"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL, err_msg=key)
    assert len(ours["sgld_grad"]) == ARGS["n_iters"] * ARGS["n_steps"]
    np.testing.assert_allclose(ours["energy"], theirs["energy"], rtol=RTOL)
    np.testing.assert_allclose(ours["buffer"], theirs["buffer"], rtol=0, atol=ATOL)
    same_states(ours["state"], theirs["state"])
    assert ours["acc"] == theirs["acc"]
    assert ours["lr"] == theirs["lr"] == pytest.approx([2e-3 / 3, 1e-3, 1e-3, 1e-3])
    assert len(ours["lines"]) == 4 and ours["lines"][0].startswith("P(x) | 0:0 f(x_p_d)=")
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):  # 9 decimals: the last may differ by an ulp
        assert got.split("=")[0] == want.split("=")[0]
        np.testing.assert_allclose([float(v.split()[0]) for v in got.split("=")[1:]],
                                   [float(v.split()[0]) for v in want.split("=")[1:]], rtol=RTOL)
    for out in (ours, theirs):  # the buffer moved where SGLD wrote it, and stayed in the clamp
        assert np.abs(out["buffer"][-1]).max() <= 1 and not np.array_equal(out["buffer"][0], out["buffer"][-1])


def test_igebm_matches_torch(one_torch_thread: None) -> None:
    def run(m: object, model: object, lib: str) -> dict:
        history = collections.defaultdict(list)
        x, y = images(1, 16)
        with warnings.catch_warnings():  # (torch warns of the deprecated add_(-step, grad) once per process only:
            warnings.simplefilter("ignore", UserWarning)  # an earlier test in the worker may have had it)
            m.train_igebm(model, (x + 1) / 2, y, history, np.random.default_rng(2))
        return history

    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.IGEBM(3), run)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=RTOL)
    np.testing.assert_allclose(ours["neg"], theirs["neg"], rtol=0, atol=ATOL)
    for key in ("raw_grad", "grad"):  # to each tensor's largest entry: the zero-std conv2 makes them ~1e9, summed
        for step, (got, want) in enumerate(zip(ours[key], theirs[key], strict=True)):
            assert list(got) == list(want)
            for name in want:
                scale = np.abs(want[name]).max()
                np.testing.assert_allclose(got[name], want[name], rtol=0, atol=5e-6 * scale,
                                           err_msg=f"{key} {name} at step {step}")
    same_states(ours["state"], theirs["state"], atol=ATOL)
    # clip_grad bounded the gradients from the second step on (Adam's state exists), in both
    for out in (ours, theirs):
        assert out["grad"][0]["linear.weight"].tolist() == out["raw_grad"][0]["linear.weight"].tolist()
        assert np.abs(out["grad"][1]["linear.weight"]).max() < np.abs(out["raw_grad"][1]["linear.weight"]).max()


def score_make(kind: str, spelling: str = "numpy") -> Callable[[object], object]:
    def make(m: object) -> object:
        if kind == "anneal":
            return m.ToyCondScoreNet(m.get_sigmas(spelling=spelling))
        return m.Energy() if kind == "esm_energy" else m.ScoreNet()
    return make


@pytest.mark.parametrize("kind", ["dsm", "ssm", "ssm_vr", "esm", "esm_energy", "anneal"])
def test_score_matching_matches_torch(one_torch_thread: None, kind: str) -> None:
    def run(m: object, model: object, lib: str) -> dict:
        history = collections.defaultdict(list)
        sigmas = model.sigmas if kind == "anneal" else None
        m.train_score(model, kind, history, np.random.default_rng(3), sigmas=sigmas)
        if kind == "anneal":
            rng = np.random.default_rng(4)
            x = m.torch.from_numpy(rng.uniform(-3, 3, (6, 2)).astype(np.float32))
            noises = [m.torch.from_numpy(rng.standard_normal((6, 2)).astype(np.float32)) for _ in range(15)]
            history["samples"] = [s.numpy() for s in m.anneal_Langevin_dynamics(x, model, model.sigmas,
                                                                                  noises=noises, step_lr=1e-3)]
        return history

    theirs, ours = from_torch_weights(PROGRAM, score_make(kind), run)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=RTOL, atol=1e-7)
    np.testing.assert_allclose(ours["grad_norm"], theirs["grad_norm"], rtol=RTOL)
    for key in ("loss1", "loss2"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=RTOL, atol=1e-7)
    same_states(ours["state"], theirs["state"])
    if kind == "anneal":
        assert len(ours["samples"]) == 15
        np.testing.assert_allclose(ours["samples"], theirs["samples"], rtol=0, atol=2e-5)


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_losses_agree_with_their_definitions(lib: str) -> None:
    """In each library: the sliced loss as the repo and as the per-sample spelling agree; the exact score matching
    of an energy net equals its score net's (the negated gradient) form; the two sigma spellings agree and are
    geometric; the conditional net divides by ``sigmas[labels]``; JEM's energy is ``-f(x)``."""
    with program(PROGRAM, lib) as m:
        t = m.torch
        t.manual_seed(0)
        net = m.ScoreNet()
        rng = np.random.default_rng(5)
        x = t.from_numpy(rng.standard_normal((6, 2)).astype(np.float32))
        v = t.from_numpy(rng.standard_normal((6, 2)).astype(np.float32))
        vn = v / t.norm(v, dim=-1, keepdim=True)
        repo, _, _ = m.sliced_score_estimation(net, x.clone(), n_particles=1, vectors=v)
        assert math.isclose(repo.item(), m.sliced_loss_as_brief(net, x, vn).item(), rel_tol=1e-5)

        energy = m.Energy()
        esm_energy = m.score_matching(energy, x.clone())

        def score_of_energy(z: object) -> object:
            return -t.autograd.grad(energy(z).sum(), z, create_graph=True)[0]
        esm_score = m.exact_score_matching(score_of_energy, x.clone(), train=True)
        assert math.isclose(esm_energy.item(), esm_score.item(), rel_tol=1e-5)

        a, b = m.get_sigmas(spelling="numpy"), m.get_sigmas(spelling="torch")
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
        np.testing.assert_allclose(a.numpy(), np.geomspace(1.0, 0.01, 5), rtol=1e-6)
        assert str(a.dtype).endswith("float32") and str(b.dtype).endswith("float32")

        cond = m.ToyCondScoreNet(a)
        labels = t.from_numpy(np.array([0, 4, 2, 4, 1, 0]))
        out = cond(x, labels)
        scaled = out * a[labels].view(6, 1)
        same = cond(x, t.zeros(6, dtype=t.long)) * a[0]
        np.testing.assert_allclose(scaled.detach().numpy()[[0, 5]], same.detach().numpy()[[0, 5]], rtol=1e-6)

        ccf = m.CCF(3)
        imgs = t.from_numpy(images(0, 5)[0])
        np.testing.assert_allclose(m.energy(ccf, imgs).detach().numpy(), -ccf(imgs).detach().numpy(), rtol=1e-6)
        y = t.from_numpy(np.array([0, 1, 2, 0, 1]))
        assert tuple(ccf(imgs, y).shape) == (5, 1)
