"""``numerics.py`` (k-means, Gaussian-process regression, a hand-written ranking loss, a conditional VAE with
torch.distributions) run on torch and, imports swapped, on ours: every recorded number agrees.

Tolerances: float32 series agree to rtol 2e-5 (measured: at most 1.4e-6 after a few optimizer steps, where sums of
a few hundred float32 terms may round differently), near-zero gradients to an absolute 1e-6; the float64 GP fitted
by LBFGS (strong Wolfe) agrees to rtol 1e-9 (measured 1e-14; gradients near 1e-5 to 1e-8 relative) with an absolute
1e-10 beside entries of about 3 (on an AMD EPYC with OpenBLAS's Haswell kernels an entry of 0.014 differed by 2e-11,
1.4e-9 of itself). Counts, hits, buckets, histograms and picked indices are exact."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

F32 = {"rtol": 2e-5, "atol": 1e-6}


def both(fn):
    """``fn(module)`` run on the program loaded with torch's imports, then ours: (theirs, ours)."""
    results = []
    for lib in ("torch", "ours"):
        with program(HERE / "numerics.py", lib) as m:
            results.append(fn(m))
    return results


def agree(theirs: dict, ours: dict, exact: tuple[str, ...] = (), **tol: float) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key in exact:
            assert ours[key] == theirs[key], key
        else:
            np.testing.assert_allclose(np.asarray(ours[key], float), np.asarray(theirs[key], float), err_msg=key,
                                       **tol)


def test_kmeans_matches_torch() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [4, 0], [0, 4]], np.float32)
    points = (centres[rng.integers(0, 3, 60)] + rng.normal(0, 0.6, (60, 2))).astype(np.float32)
    init = np.concatenate([points[[0, 1, 2]], [[20, 20]]]).astype(np.float32)  # the last one never wins a point
    theirs, ours = both(lambda m: m.kmeans(points, init))
    agree(theirs, ours, exact=("counts",), **F32)
    assert ours["counts"][-1][-1] == 0 and ours["centroids"][-1][-1].tolist() == [20, 20]  # kept by torch.where
    assert ours["inertia"][-1] < ours["inertia"][0] and ours["moved"][-1] == 0  # converged
    assert ours["soft"][-1] < ours["soft"][0] and np.abs(ours["soft_grad"][0]).max() > 1e-2


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_gaussian_process_matches_torch(optimizer: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, (20, 2))
    y = np.sin(2 * x[:, 0]) + 0.5 * np.cos(x[:, 1]) + 0.1 * rng.normal(size=20)
    xs = rng.uniform(-2, 2, (5, 2))
    if optimizer == "adam":  # float32 throughout
        x, y, xs = x.astype(np.float32), y.astype(np.float32), xs.astype(np.float32)
    theirs, ours = both(lambda m: m.gp_fit(x, y, xs, optimizer, steps=4 if optimizer == "lbfgs" else 6))
    tol = {"rtol": 1e-9, "atol": 1e-10} if optimizer == "lbfgs" else F32
    agree(theirs, ours, **tol)
    assert ours["loss"][-1] < 0.9 * ours["loss"][0] and np.all(ours["var"] > 0)


def test_ranking_loss_matches_torch() -> None:
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(16, 5)).astype(np.float32)
    targets = rng.integers(0, 5, 16)
    w0 = (0.1 * rng.normal(size=(5, 5))).astype(np.float32)
    theirs, ours = both(lambda m: m.ranking_fit(feats, targets, w0))
    agree(theirs, ours, exact=("hit",), **F32)
    assert ours["loss"][-1] < 0.7 * ours["loss"][0] and ours["hit"][-1] > ours["hit"][0]


def test_conditional_vae_matches_torch() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(12, 6)).astype(np.float32), rng.choice(3, 12, p=[0.6, 0.3, 0.1])
    batches = [(x, y, rng.normal(size=(12, 2)).astype(np.float32)) for _ in range(6)]  # one batch, new noise

    def fit(m):
        torch.manual_seed(0)
        model = m.CVAE()
        if m.torch is torch:
            fit.weights = {k: v.numpy().copy() for k, v in model.state_dict().items()}
        else:
            model.load_state_dict(fit.weights)
        return m.vae_fit(model, batches)

    theirs, ours = both(fit)
    agree(theirs, ours, exact=("buckets", "hist", "picked"), **F32)
    assert ours["loss"][-1] < ours["loss"][0] and len(set(ours["weights"][0])) == 3
