"""``poincare.py`` (facebookresearch/poincare-embeddings' hype: the Poincaré distance as an autograd Function with its
hand-written backward, the ``renorm_`` projection under ``no_grad`` on the embedding's output, the Riemannian
gradient, RiemannianSGD, the negative-sampling cross entropy, burn-in, mean rank / MAP, a checkpoint resume) run on
torch and, imports swapped, on ours: from torch's initial weights and the same numpy batches, the losses, distances,
gradient norms, learning rates, printed lines, ranks, MAP and final embeddings agree step by step, in float64 (as
the repo runs) and float32; a resumed run equals the uninterrupted one bit for bit; and points within 1e-5 of the
boundary (where the clamps at 1 - eps and ``sqrt(z^2 - 1)`` decide everything) give the same distances, gradients
and Riemannian steps.

Tolerances, measured over 8 epochs of 10 batches (10 rows of 1 positive and 6 negatives, 5-d embeddings of a
20-node tree): float64 losses within 1.2e-15 (relative 7e-16), gradient norms within 3e-14 relative, distances
within 2.4e-13 relative, embeddings within 4.4e-15 absolute; float32 losses within 6e-7 absolute, gradient norms
5e-6 relative, distances 4e-6 absolute (8e-5 relative: arcosh near 1 loses the relative precision of tiny
distances, and sums of squares round differently), embeddings 8.3e-7 absolute. We allow rtol 1e-12 / atol 1e-14
(float64) and rtol 2e-4 / atol 5e-6 (float32). Ranks and MAP agreed exactly; they are compared within one
borderline rank (1e-2 and 2e-3) as they are decided by comparisons of rounded distances. At the boundary both
libraries now agree bit for bit in both dtypes; one ulp in a float32 coordinate there moves a distance by about
5e-4 relative, so the allowed 1e-6 (float32) and 1e-13 (float64) pin that agreement."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"float64": {"rtol": 1e-12, "atol": 1e-14}, "float32": {"rtol": 2e-4, "atol": 5e-6}}
RANK_TOL = {"rank": 1e-2, "map": 2e-3}
EPOCHS = 8


def epochs(m: object) -> list:
    """EPOCHS epochs of shuffled (10, 8) batches of the tree's closure with 6 negatives a row, from numpy."""
    n, pairs = m.tree_closure()
    rng = np.random.default_rng(0)
    return [m.batches(n, pairs, 6, 10, rng) for _ in range(EPOCHS)]


def both(dtype: str, manifold: str, lr: float) -> tuple[dict, dict]:
    return from_torch_weights(HERE / "poincare.py", lambda m: m.make(manifold=manifold, dtype=getattr(m.torch, dtype)),
                              lambda m, model, lib: m.run(model, epochs(m), lr=lr, burnin=2))


def agree(theirs: dict, ours: dict, dtype: str) -> None:
    assert ours.keys() == theirs.keys()
    tol = TOL[dtype]
    assert ours["lines"] == theirs["lines"] and ours["lr"] == theirs["lr"]
    assert_params_close(ours["params"], theirs["params"], **tol)
    for key in ("loss", "grad_norm", "max_norm"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **tol)
    np.testing.assert_allclose(np.concatenate(ours["dists"]), np.concatenate(theirs["dists"]), **tol)
    for key, atol in RANK_TOL.items():
        np.testing.assert_allclose(ours[key], theirs[key], rtol=0, atol=atol, err_msg=key)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_poincare_embedding_matches_torch(one_torch_thread: None, dtype: str) -> None:
    theirs, ours = both(dtype, "poincare", 0.3)
    agree(theirs, ours, dtype)
    assert ours["lr"][:3] == [0.003, 0.003, 0.3]  # burn-in: lr * 0.01 for two epochs
    assert ours["map"][-1] > ours["map"][0] + 0.2 and ours["rank"][-1] < 2  # the hierarchy is reconstructed
    assert ours["max_norm"] < 1 - 1e-5


def test_euclidean_embedding_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both("float64", "euclidean", 1.0)
    agree(theirs, ours, "float64")
    assert ours["map"][-1] > ours["map"][0] + 0.2


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_checkpoint_resume_is_exact(one_torch_thread: None, lib: str) -> None:
    """Saved after epoch 3 (th.save of the state_dict), loaded into a fresh model and optimizer: the same run."""
    with program(HERE / "poincare.py", lib) as m:
        runs = []
        for resume_at in (None, 3):
            m.torch.manual_seed(0)
            runs.append(m.run(m.make(), epochs(m)[:5], resume_at=resume_at))
    whole, resumed = runs
    whole["dists"], resumed["dists"] = [d.tolist() for d in whole["dists"]], [d.tolist() for d in resumed["dists"]]
    assert_same_run(whole, resumed)


def near_boundary(dtype: str, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """16 pairs of 4-d points with norms 1 - eps * {0.1 ... 100}: a pair of equal points (z = 1, the backward's clamp
    at eps), one a rounding apart, some beyond the 1 - eps clamp of the squared norms."""
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=(2, 16, 4))
    radius = 1 - eps * rng.choice([0.1, 0.5, 1.0, 1.5, 3.0, 100.0], size=(16, 1))
    u *= radius / np.linalg.norm(u, axis=1, keepdims=True)
    v *= radius[::-1] / np.linalg.norm(v, axis=1, keepdims=True)
    v[0] = u[0]
    v[1] = u[1] * (1 + 1e-9)
    return u.astype(dtype), v.astype(dtype)


@pytest.mark.parametrize(("dtype", "rtol"), [("float64", 1e-13), ("float32", 1e-6)])
def test_near_the_boundary_matches_torch(dtype: str, rtol: float) -> None:
    results = []
    for lib in ("torch", "ours"):
        with program(HERE / "poincare.py", lib) as m:
            results.append(m.boundary(*near_boundary(dtype), steps=3))
    theirs, ours = results
    for key in theirs:
        np.testing.assert_allclose(np.array(ours[key]), np.array(theirs[key]), rtol=rtol, atol=0, err_msg=key)
    assert all(np.isfinite(g).all() for g in ours["gu"] + ours["gv"])
    assert ours["dist"][0][0] == 0  # equal points: sqrt(z^2 - 1) = 0, the backward's clamp at eps kept it finite
    assert np.linalg.norm(ours["u"][-1], axis=1).max() <= np.float32(1 - 1e-5) * (1 + 1e-6)  # renorm_ projected
