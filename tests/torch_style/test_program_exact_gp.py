"""``exact_gp.py`` (exact GP regression by hand: softplus-constrained raw hyperparameters, an RBF kernel by
``cdist`` or the expanded square, cholesky / cholesky_solve, the negative log marginal likelihood under Adam(lr=0.1)
or as ``-MultivariateNormal(mean, K).log_prob(y)``, predictions by solve_triangular, MultivariateNormal log_prob of
held-out points, a batch of 3 outputs, the 2019 spelling with ``torch.cholesky`` / ``torch.triangular_solve``, data
with duplicate inputs over 25 points (torch's cdist then takes its matmul path), and a jittered cholesky_ex on
near-singular kernels) run on torch and, imports swapped, on ours from torch's initial raw parameters: at every one
of 30 steps the loss, the gradient of each raw parameter and the printed line, then the predictive mean, variance,
covariance, bands, joint and marginal log_probs, posterior draws from fed noise, a linspace grid's mean and band,
the RMSE and the final parameters.

Tolerances: float64 runs differ only by rounding in the matmuls and triangular solves (most in the expanded
square). Measured: losses within 2.9e-14 absolute, gradients within 1.4e-13 (1.2e-11 relative), predictions within
5.2e-14 (1.2e-10 relative for a band near 0, 1.1e-11 for the smallest covariances), log_probs within 6.7e-13,
parameters within 7.1e-14. We allow rtol 1e-9 and atol 1e-11. The float32 run (Adam carries rounding on): losses
within 5.7e-7, gradients within 1.3e-6, predictions within 3.6e-6, log_probs within 8.6e-6, parameters within
2.4e-6; we allow rtol 1e-4 and atol 2e-5. Printed lines (3 decimals) must be equal.

Near-singular kernels (duplicate inputs first, so the zero pivot is exact, not decided by rounding): cholesky's
error text, cholesky_ex's info per batch entry, the jitter the GPyTorch-style retry settles on and cholesky_ex's info
for a NaN must be equal. Measured: the factor of the well-conditioned entry within 8e-16 (float64) and 4.7e-7
(float32), the float64 jittered factor within 1.1e-13 (its 1e-4 pivot amplifies rounding) and the solve through it
(values ~1e8) within 1.7e-8 relative; we allow 1e-14, 1e-6, 3e-13 and 5e-8. The float32 jittered factor (pivot
~1e-6) is rounding-decided: torch's is 3.8e-5 from the float64 factor of the same matrix, ours 2.5e-8, so it is
checked against that float64 factor instead (within 1e-7).

Runtime about 4 s."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program
from test_torch_linalg_factor import same_failure

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "exact_gp.py"
TOL64 = {"rtol": 1e-9, "atol": 1e-11}
TOL32 = {"rtol": 1e-4, "atol": 2e-5}
RAW = (0.3, -0.2, -1.0)  # raw lengthscale, outputscale, noise: softplus gives 0.85, 0.60, 0.31
VARIANTS = {
    "cdist": ({}, {"init": RAW}),
    "expanded": ({}, {"values": (0.5, 1.0, 0.1), "expanded": True}),
    "old_api": ({}, {"init": RAW, "old_api": True}),
    "float32": ({}, {"init": RAW, "dtype": "float32"}),
    "batch": ({"outputs": 3}, {"init": RAW, "batch": 3}),
    "duplicates": ({"n": 30, "duplicates": True}, {"init": RAW}),  # (over 25 points: torch's cdist takes its mm path)
    "mvn_loss": ({}, {"init": RAW, "mvn_loss": True}),
    "batch_mvn_loss": ({"outputs": 3}, {"init": RAW, "batch": 3, "mvn_loss": True}),
    "batch_expanded": ({"outputs": 3}, {"init": RAW, "batch": 3, "expanded": True}),
}
SERIES = ("loss", "raw_lengthscale", "raw_outputscale", "raw_noise", "mean_constant")
PREDICTIONS = ("mean", "var", "cov", "lower", "upper", "log_prob", "marginal", "samples", "grid_mean", "grid_band")


def both(variant: str) -> tuple[dict, dict]:
    data_options, options = VARIANTS[variant]
    with program(PATH, "torch") as m:
        x, y, xs, ys = m.make_data(**data_options)

    def make(m: object) -> object:
        opts = dict(options)
        if "dtype" in opts:
            opts["dtype"] = getattr(m.torch, opts["dtype"])
        return m.build(x, y, **opts)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "torch.cholesky is deprecated")  # torch warns once per process
        warnings.filterwarnings("ignore", "torch.triangular_solve is deprecated")
        return from_torch_weights(PATH, make, lambda m, model, lib: m.run(model, xs, ys))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_exact_gp_matches_torch(one_torch_thread: None, variant: str) -> None:
    theirs, ours = both(variant)
    tol = TOL32 if variant == "float32" else TOL64
    for key in SERIES + PREDICTIONS:
        assert np.shape(ours[key]) == np.shape(theirs[key]), key
        np.testing.assert_allclose(np.array(ours[key]), np.array(theirs[key]), err_msg=key, **tol)
    assert ours["rmse"] == pytest.approx(theirs["rmse"], rel=tol["rtol"])
    assert ours["lines"] == theirs["lines"]
    assert_params_close(ours["params"], theirs["params"], **tol)
    dtype = np.float32 if variant == "float32" else np.float64
    assert all(v.dtype == dtype for v in ours["params"].values()) and ours["mean"].dtype == dtype
    assert len(ours["loss"]) == 30 and ours["loss"][-1] < ours["loss"][0] - 0.5  # it learned
    assert ours["rmse"] < 0.3 and (ours["var"] > 0).all()


def test_old_spelling_warns_as_torch() -> None:
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            x, y, xs, _ = m.make_data(n=6, n_test=3)
            m.build(x, y, old_api=True).predict(m.torch.tensor(xs))
        if lib == "ours":  # torch warns once per process, so only ours is sure to warn here
            messages = [str(w.message).split(" is deprecated")[0] + " is deprecated" for w in caught
                        if w.category is UserWarning]
            assert messages.count("torch.cholesky is deprecated") == 1
            assert messages.count("torch.triangular_solve is deprecated") == 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_near_singular_kernel_matches_torch(one_torch_thread: None, dtype: str) -> None:
    results = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            results.append(m.near_singular(getattr(m.torch, dtype)))
    theirs, ours = results
    for key in ("info", "jitter", "nan_info"):
        assert ours[key] == theirs[key], key
    for key in ("error", "batch_error", "nan_error"):  # the same failure (op, batch entry, order), in our words
        assert (ours[key] is None) == (theirs[key] is None), key
        assert theirs[key] is None or same_failure(ours[key], theirs[key]), key
    assert theirs["info"] == [2, 0, 0 if dtype == "float64" else 2] and theirs["error"].endswith("order 2 is not "
                                                                                                "positive-definite).")
    assert theirs["jitter"] == (1e-8 if dtype == "float64" else 1e-6) and theirs["nan_info"] == 3
    np.testing.assert_allclose(ours["L_ok"], theirs["L_ok"], rtol=0, atol=1e-14 if dtype == "float64" else 1e-6)
    if dtype == "float64":
        np.testing.assert_allclose(ours["L_jitter"], theirs["L_jitter"], rtol=0, atol=3e-13)
        np.testing.assert_allclose(ours["solve_jitter"], theirs["solve_jitter"], rtol=5e-8)
    else:
        jittered = theirs["K"] + np.float32(theirs["jitter"]) * np.eye(6, dtype=np.float32)  # as add_ rounds it
        exact = np.linalg.cholesky(jittered.astype(np.float64))
        np.testing.assert_allclose(ours["L_jitter"], exact, rtol=0, atol=1e-7)
        assert np.abs(theirs["L_jitter"] - exact).max() < 1e-4
