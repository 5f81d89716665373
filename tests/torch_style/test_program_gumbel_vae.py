"""``gumbel_vae.py`` (a categorical VAE through the Gumbel-softmax relaxation: Gumbel noise -log(-log(U + eps) + eps)
from uniforms handed in as numpy, the softmax at a temperature annealed per step by exp decay clamped at tau_min,
the hand-written straight-through hard sample ``y_hard - y.detach() + y`` with ``argmax`` + ``scatter_``, BCE with
logits plus the KL to the uniform categorical, Adam) run on torch and, imports swapped, on ours from torch's initial
weights, the same binarised random images and the same uniforms: per step the losses, their BCE / KL parts and the
temperatures; the gradients of one backward; the final parameters; hard reconstructions and latent codes. The
hand-written hard sample is one-hot in the forward pass and carries the soft sample's gradient (in each library, and
the same across them). ``F.gumbel_softmax`` draws from each library's own generator, so it is checked within each
library: ``hard=True`` from the same seed as ``hard=False`` gives the one-hot of the soft sample's argmax and exactly
its gradient, the soft sample lies on the simplex, and the hard class frequencies over 20000 rows match
softmax(logits) (the Gumbel-max trick) within 0.015 (about 4 binomial standard deviations). Besides, through
torch.distributions: kl_divergence(Categorical, uniform Categorical) against the hand-written KL, the
RelaxedOneHotCategorical log-density of shared soft samples at three temperatures (with its gradient), and
OneHotCategoricalStraightThrough's one-hot rsample with the probabilities' gradient, log_prob and entropy.

Tolerances: float32; the runs differ by summation order (the Linear layers, softmax, the BCE sum). Measured: losses
and their BCE parts within 2.3e-7 relative, the KL parts within 6e-8 absolute (of ~0.05), gradients, parameters after
8 Adam steps and reconstructions within 6e-8 absolute, the hand-written samples and gradients within 1.7e-7; we allow
rtol 2e-6 / atol 1e-6. The RelaxedOneHotCategorical log-densities (values up to 48, terms that cancel) differ by up
to 3.6e-6 absolute, each library as far from the float64 density as the other; we allow atol 5e-6 there.
Temperatures, one-hot samples and latent codes are compared exactly. The file takes about 1.5 s (torch on one
thread) beyond the imports."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "gumbel_vae.py"
TOL = {"rtol": 2e-6, "atol": 1e-6}
N, K, PIXELS, BATCH, STEPS = 3, 4, 24, 6, 8


def images(seed: int) -> list[np.ndarray]:
    """Binarised images: each pixel on with its own probability, so there is something to learn."""
    rng = np.random.default_rng(seed)
    p = rng.random(PIXELS)
    return [(rng.random((BATCH, PIXELS)) < p).astype(np.float32) for _ in range(STEPS)]


def uniforms(seed: int, n: int = STEPS) -> list[np.ndarray]:
    return [np.random.default_rng([seed, i]).random((BATCH, N, K)).astype(np.float32) for i in range(n)]


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_gumbel_vae_trains_like_torch(one_torch_thread: None, hard: bool) -> None:
    xs, us, probe_u = images(0), uniforms(1), uniforms(2, 1)[0]

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        t = m.torch
        x, u = t.from_numpy(xs[0]), t.from_numpy(us[0])
        out: dict = {}
        recon, qy = model(x, 0.7, hard, u)
        loss, _, _ = m.loss_function(recon, x, qy, K)
        loss.backward()
        out["loss0"] = loss.item()
        out["grads"] = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
        model.zero_grad()
        out.update(m.train(model, [t.from_numpy(b) for b in xs], [t.from_numpy(b) for b in us], hard))
        out["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        means, codes = m.reconstruct(model, x, t.from_numpy(probe_u))
        out["means"], out["codes"] = means.numpy(), codes.tolist()
        return out

    theirs, ours = from_torch_weights(PATH, lambda m: m.GumbelVAE(), run)
    assert ours["temp"] == theirs["temp"]
    temps = theirs["temp"]
    assert temps[0] == 1.0 and temps[5:] == [0.5] * 3 and 0.5 < temps[4] < temps[3]  # decayed, then clamped
    assert ours["loss0"] == pytest.approx(theirs["loss0"], rel=2e-6)
    for key in ("loss", "bce", "kld"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert_params_close(ours["grads"], theirs["grads"], **TOL)
    assert_params_close(ours["params"], theirs["params"], **TOL)
    np.testing.assert_allclose(ours["means"], theirs["means"], **TOL)
    assert ours["codes"] == theirs["codes"]


def test_hand_written_straight_through_like_torch(one_torch_thread: None) -> None:
    """``gumbel_softmax(hard=True)`` by hand: one-hot forward, the soft sample's gradient, equal across libraries."""
    rng = np.random.default_rng(3)
    logits, u = rng.standard_normal((5, N, K)).astype(np.float32), rng.random((5, N, K)).astype(np.float32)
    weight = rng.standard_normal((5, N * K)).astype(np.float32)
    got = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            t = m.torch
            out = []
            for hard in (False, True):
                x = t.from_numpy(logits).requires_grad_(True)
                y = m.gumbel_softmax(x, 0.6, hard=hard, u=t.from_numpy(u))
                (y * t.from_numpy(weight)).sum().backward()
                out.append((y.detach().numpy(), x.grad.numpy()))
            (soft, g_soft), (one_hot, g_hard) = out
            soft3 = soft.reshape(5, N, K)
            np.testing.assert_array_equal(one_hot.reshape(5, N, K), np.eye(K, dtype=np.float32)[soft3.argmax(-1)])
            np.testing.assert_array_equal(g_hard, g_soft)
            got.append(out)
    for (y_t, g_t), (y_o, g_o) in zip(*got, strict=True):
        np.testing.assert_allclose(y_o, y_t, **TOL)
        np.testing.assert_allclose(g_o, g_t, **TOL)


@pytest.mark.parametrize("tau", [0.3, 1.0, 5.0])
def test_f_gumbel_softmax_straight_through_in_each_library(one_torch_thread: None, tau: float) -> None:
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((7, K)).astype(np.float32)
    weight = rng.standard_normal((7, K)).astype(np.float32)
    probs = np.exp(logits[0]) / np.exp(logits[0]).sum()
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            t = m.torch
            (soft, g_soft), (one_hot, g_hard) = m.gumbel_softmax_pair(t.from_numpy(logits), tau, t.from_numpy(weight))
            soft, one_hot, g_soft, g_hard = soft.numpy(), one_hot.numpy(), g_soft.numpy(), g_hard.numpy()
            assert one_hot.dtype == soft.dtype == np.float32, lib
            np.testing.assert_allclose(soft.sum(-1), 1, rtol=1e-6, err_msg=lib)
            assert (soft >= 0).all() and (soft > 0).sum() > 7, lib
            np.testing.assert_array_equal(one_hot, np.eye(K, dtype=np.float32)[soft.argmax(-1)], err_msg=lib)
            np.testing.assert_array_equal(g_hard, g_soft, err_msg=lib)
            assert np.abs(g_soft).max() > 1e-3, lib
            freq = m.gumbel_max_frequencies(t.from_numpy(logits[:1]), 20000, tau).numpy()
            np.testing.assert_allclose(freq, probs, atol=0.015, err_msg=lib)  # the argmax does not depend on tau


def test_distributions_kl_concrete_and_straight_through_like_torch(one_torch_thread: None) -> None:
    """kl_divergence(Categorical, uniform Categorical) against the hand-written KL (and its gradient), the
    RelaxedOneHotCategorical log-density of shared soft samples at three temperatures, and
    OneHotCategoricalStraightThrough's rsample: one-hot, with the gradient of the probabilities (sample-free, so
    compared across libraries) and log_prob / entropy consistent with its probabilities."""
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((5, N, K)).astype(np.float32) * 3
    logits[0, 0] = [30.0, -30.0, 0.0, 1.0]  # a near-degenerate latent
    u = rng.random((5, N, K)).astype(np.float32)
    weight = rng.standard_normal((5, N, K)).astype(np.float32)
    got = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            t = m.torch
            F = m.F
            out: dict = {}
            x = t.from_numpy(logits).requires_grad_(True)
            kl = m.kl_by_distributions(x)
            kl.backward()
            out["kl"], out["kl_grad"] = kl.item(), x.grad.numpy().copy()
            x.grad = None
            qy = F.softmax(x, dim=-1)
            by_hand = (qy * (t.log(qy) + np.log(K))).sum(-1).sum(-1).mean()
            by_hand.backward()
            assert abs(by_hand.item() - kl.item()) < 2e-6 * kl.item(), lib
            np.testing.assert_allclose(x.grad.numpy(), out["kl_grad"], rtol=1e-5, atol=1e-6, err_msg=lib)
            for temp in (0.3, 1.0, 2.5):
                x = t.from_numpy(logits).requires_grad_(True)
                y = m.gumbel_softmax_sample(t.from_numpy(logits), temp, u=t.from_numpy(u))
                log_p, tau, probs = m.relaxed_log_prob(x, temp, y)
                log_p.sum().backward()
                assert float(tau) == pytest.approx(temp) and tuple(log_p.shape) == (5, N), lib
                np.testing.assert_allclose(probs.detach().numpy().sum(-1), 1, rtol=1e-6)
                out[f"concrete_{temp}"], out[f"concrete_grad_{temp}"] = log_p.detach().numpy(), x.grad.numpy()
            y, grad, log_p, entropy = m.straight_through_by_distribution(t.from_numpy(logits), t.from_numpy(weight))
            y, probs = y.numpy(), F.softmax(t.from_numpy(logits), dim=-1).numpy()
            assert ((y == 0) | (y == 1)).all() and (y.sum(-1) == 1).all(), lib
            np.testing.assert_allclose(log_p.numpy(), np.log((probs * y).sum(-1)), rtol=1e-5, atol=1e-6)
            out["st_grad"], out["entropy"] = grad.numpy(), entropy.numpy()
            got.append(out)
    theirs, ours = got
    assert ours.keys() == theirs.keys()
    for key in theirs:  # the Concrete log-density sums terms of ~10 that cancel: atol 5e-6 there
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key,
                                   **({"rtol": 2e-6, "atol": 5e-6} if key.startswith("concrete_") else TOL))
