"""``schnet_forces.py`` (a SchNet-style potential fitted to energies and to forces taken by
``autograd.grad(create_graph=True)``, so its loss backpropagates through a gradient of index_select / norm / exp /
cos / softplus / index_add / scatter_add; and learning-to-rank scorers under ListNet and LambdaRank, with ranks by
stable ``argsort``, NDCG@3 by ``topk`` + ``gather``, Adagrad with ``lr_decay``) run on torch and, imports swapped, on
ours from torch's initial weights and the same numpy data: per step the energy and force losses, the predicted
forces, the ranking losses and NDCGs, and every final parameter. The forces of each molecule sum to zero (the model
sees only distances), in each library.

Tolerances: float32; the libraries differ by summation order. Measured: losses within 2.4e-7 absolute, forces
within 7.5e-9 (of ~0.03), final parameters within 6e-8; we allow rtol 1e-5 and atol 1e-6 (forces atol 1e-7)."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, run_on_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-6}


def test_schnet_forces_and_rankers_match_torch(one_torch_thread: None) -> None:
    theirs, ours = run_on_torch_weights(HERE / "schnet_forces.py")
    for log in (theirs, ours):
        for forces in log["schnet"]["forces"]:
            np.testing.assert_allclose(forces.reshape(6, 4, 3).sum(1), 0.0, atol=1e-7)
            assert np.abs(forces).max() > 1e-3
    for part, keys in {"schnet": ("energy_loss", "force_loss"), "listnet": ("loss", "ndcg"),
                       "lambdarank": ("loss", "ndcg")}.items():
        assert ours[part].keys() == theirs[part].keys()
        for key in keys:
            np.testing.assert_allclose(ours[part][key], theirs[part][key], err_msg=f"{part} {key}", **TOL)
    np.testing.assert_allclose(ours["schnet"]["forces"], theirs["schnet"]["forces"], rtol=1e-5, atol=1e-7)
    for part in theirs["params"]:
        assert_params_close(ours["params"][part], theirs["params"][part], **TOL)
