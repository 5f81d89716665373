"""``graphsage.py`` (GraphSAGE without PyG: a numpy neighbour sampler relabelled by
``torch.unique(return_inverse=True)`` / ``isin`` / ``searchsorted``, SAGEConv with ``index_reduce_`` mean,
``scatter_reduce`` amax pooling with ReLU ties and ``index_add_`` / ``bincount`` sum aggregators, a GIN on a coalesced
``sparse_coo_tensor`` through ``torch.sparse.mm``, Jumping Knowledge, Adam + PolynomialLR, layer-wise full-graph
inference, macro-F1, the random-walk negative-sampling loss under SGD + Nesterov, and scatter_reduce / index_reduce
probes) run on torch and, imports swapped, on ours from torch's initial weights and the same numpy graph, samples and
walks.

Tolerances: float32, summation order only. Measured: the reduction probes (values and gradients, ties included)
equal, sampled blocks equal, losses within 1.9e-7 relative (supervised) and 4.6e-7 (unsupervised), logits 2.4e-7,
parameters ~1e-6 absolute; we allow rtol 1e-5 / atol 1e-5. Accuracies, F1 and learning rates compared exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_programs import assert_params_close, run_on_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = Path(__file__).resolve().parent / "graphsage.py"


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_graphsage_trains_like_torch(one_torch_thread: None) -> None:
    theirs, ours = run_on_torch_weights(PROGRAM)
    assert ours["probes"].keys() == theirs["probes"].keys()
    for key, want in theirs["probes"].items():
        for part, got, exp in zip(("value", "grad_src", "grad_self"), ours["probes"][key], want):
            np.testing.assert_array_equal(got, exp, err_msg=f"{key} {part}")
    assert ours["blocks"] == theirs["blocks"]
    assert ours["adj_nnz"] == theirs["adj_nnz"]
    for key in ("lr", "acc", "f1"):
        assert ours[key] == theirs[key], key
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)
    np.testing.assert_allclose(ours["unsup"], theirs["unsup"], rtol=1e-5)
    np.testing.assert_allclose(ours["eps"], theirs["eps"], atol=1e-5)
    np.testing.assert_allclose(ours["logits"], theirs["logits"], rtol=1e-5, atol=1e-5)
    assert theirs["loss"][-1] < theirs["loss"][0] and theirs["unsup"][-1] < theirs["unsup"][0]
    assert_params_close(ours["params"], theirs["params"], rtol=1e-5, atol=1e-5)
