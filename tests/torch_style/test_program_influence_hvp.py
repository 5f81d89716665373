"""``influence_hvp.py`` (influence functions on a float64 tanh MLP regressor: Hessian-vector products by double
backward, ``torch.autograd.functional.hvp`` / ``vhp`` / ``hessian`` on a flat-parameter function built with
``parameters_to_vector`` / ``split`` / ``view_as`` / ``functional_call``, torch.func's ``jvp(grad(f))`` over the
parameter dict, ``vjp(grad(f))`` and ``hessian``; Pearlmutter's finite-difference check through
``vector_to_parameters``; the top eigenvalue by power iteration; LiSSA's damped and scaled inverse-HVP recursion
over numpy-drawn mini-batches; influence scores against the exact damped solve) run on torch and, imports swapped,
on ours from torch's initial weights and the same numpy data: every quantity agrees, and in each library the HVPs
agree with each other and with the Hessian, the finite difference, the eigen-decomposition and the exact solve.

Tolerances: float64. Measured between the libraries: SGD losses within 1.2e-16, HVPs / Hessians within 1.6e-15 (of
2), the finite-difference HVP within 3.1e-12, the top eigenvalue equal, LiSSA's s_test within 2.1e-15 and influence
scores within 2e-17 (of 8e-3): we allow rtol 1e-10 / atol 1e-12 (1e-9 for the finite difference). Within a library:
the HVP spellings within 1e-12 of each other and of ``H @ v``, the finite difference within 8.8e-10 (eps 1e-5; we
allow 1e-8), the power iteration within 1e-6 of ``eigvalsh``'s largest, LiSSA within 4.2% of the exact solve (we
allow 10%) and its influence scores correlated above 0.99 with the exact ones. About 1.5 s."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FILE = HERE / "influence_hvp.py"
TOL = {"rtol": 1e-10, "atol": 1e-12}
HVPS = ("hvp_double", "hvp", "vhp", "hvp_fwd_rev", "hvp_rev_rev")


def test_influence_functions_and_hessian_tools_match_torch(one_torch_thread: None) -> None:
    rng = np.random.default_rng(0)
    w = np.array([1.0, -0.5, 0.3])
    x = rng.standard_normal((32, 3))
    y = np.sin(x @ w) + 0.05 * rng.standard_normal(32)
    x_test = rng.standard_normal((4, 3))
    y_test = np.sin(x_test @ w)
    v = rng.standard_normal(26)

    want, got = from_torch_weights(FILE, lambda m: m.MLP().double(),
                                   lambda m, model, lib: m.analyse(model, x, y, x_test, y_test, v))
    assert want.keys() == got.keys()
    for key in want:
        if key == "most_helpful":
            assert got[key] == want[key]
        else:
            tol = {"rtol": 1e-9, "atol": 1e-9} if key == "hvp_fd" else TOL
            np.testing.assert_allclose(np.asarray(got[key]), np.asarray(want[key]), err_msg=key, **tol)
            assert np.asarray(got[key]).dtype == np.asarray(want[key]).dtype, key
    for run in (want, got):
        exact = run["hessian"] @ v
        for key in HVPS:
            np.testing.assert_allclose(run[key], exact, rtol=1e-12, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(run["hessian"], run["hessian"].T, rtol=0, atol=1e-14)
        np.testing.assert_allclose(run["func_hessian"], run["hessian"], atol=1e-12)
        np.testing.assert_allclose(run["hvp_fd"], exact, atol=1e-8)
        assert abs(run["top_eig"] - run["eigvals"][-1]) < 1e-6
        gap = np.linalg.norm(run["s_test"] - run["s_exact"]) / np.linalg.norm(run["s_exact"])
        assert gap < 0.1
        assert np.corrcoef(run["influence"], run["influence_exact"])[0, 1] > 0.99
