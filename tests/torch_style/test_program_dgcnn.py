"""``dgcnn.py`` (WangYueFt/dgcnn's model and training loop: ``knn`` by matmul + ``topk``, ``get_graph_feature``'s
flat gather with ``idx_base``, EdgeConv blocks max-pooled over neighbours, adaptive max / avg pooling, ``cal_loss``'s
label smoothing by ``scatter``, SGD + CosineAnnealingLR) run on torch and, imports swapped, on ours from torch's
initial weights and the same numpy point clouds: the neighbour indices and edge features, per step the losses,
per epoch the learning rate and the train, test and class-balanced accuracies, and every final parameter and
BatchNorm statistic (the state_dict holds each BatchNorm twice, as ``bn1`` and ``conv1.1``, in both).

Tolerances: float32; the libraries differ by summation order. Measured: neighbour indices and edge features
equal, losses within 4.8e-7 absolute, final parameters within 1.3e-6 and running means within 1.1e-5 (of ~1.5)
after 12 steps; we allow rtol 1e-4 and atol 5e-5. Accuracies and learning rates compared exactly."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, run_on_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def test_dgcnn_trains_like_torch(one_torch_thread: None) -> None:
    theirs, ours = run_on_torch_weights(HERE / "dgcnn.py")
    np.testing.assert_array_equal(ours["knn"], theirs["knn"])
    np.testing.assert_allclose(ours["graph_feature"], theirs["graph_feature"], rtol=1e-6, atol=1e-7)
    assert ours["graph_feature"].shape == (2, 6, 24, 4)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-4, atol=5e-5)
    for key in ("lr", "train_acc", "test_acc", "test_bal"):
        assert ours[key] == theirs[key], key
    assert theirs["loss"][-1] < theirs["loss"][0]
    assert {"bn1.weight", "conv1.1.weight"} <= set(ours["params"])
    assert_params_close(ours["params"], theirs["params"], rtol=1e-4, atol=5e-5)
