"""The CapsNet program (``capsnet.py``) on torch and, with the imports swapped, on ours: from torch's initial weights
and the same synthetic 12x12 images, two epochs of Adam (24 steps of 8 images), step by step: the total, margin and
reconstruction losses, the last routing iteration's coupling coefficients, the gradient norm over all parameters,
the batch accuracies and predicted classes (the one-hot mask through ``torch.sparse.torch.eye(10).index_select`` or
``torch.eye(10)[idx]``; the second variant's reconstruction loss is ``nn.MSELoss(size_average=False)``), then the
evaluation loss and accuracy under ``no_grad``, the final parameters and a ``torch.save`` / ``torch.load``
state_dict round trip into a fresh CapsNet that evaluates the same.

Tolerances, measured (float32 throughout): the two libraries differ by summation order only (the (B, 64, 10, 16, 8)
matmul, the routing sums, the convolutions), ~1e-7 relative per op; after 24 Adam steps the parameters agree within
7e-7 absolute, the losses within 2.3e-7 relative, the coupling coefficients within 5.4e-7 and the gradient norms
within 3.3e-7 relative (seen, both variants). We allow rtol 1e-5 and atol 1e-6 (2e-6 for the parameters: since
float32 sums over a strided axis accumulate in float64, one weight of 81920 is 1.1e-6 off, Adam's step on a near-zero
gradient whose rounding moved; 5e-6 since on an AMD EPYC with OpenBLAS's Haswell kernels 18 weights of 81920 are up
to 2.5e-6 off); the predicted classes and accuracies must be identical."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-6}


def run(m, model, lib: str) -> dict:
    images, labels = m.make_data()
    out = m.train(model, images, labels)
    out["evaluation"] = m.evaluate(model, images, labels)
    out["reloaded"] = m.evaluate(m.save_and_load(model), images, labels)
    out["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return out


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("use_eye_index, summed_mse", [(False, False), (True, True)],
                         ids=["sparse_torch_eye_index_select", "eye_getitem_summed_mse"])
def test_capsnet_matches_torch(use_eye_index: bool, summed_mse: bool) -> None:
    theirs, ours = from_torch_weights(HERE / "capsnet.py", lambda m: m.CapsNet(use_eye_index, summed_mse), run)
    for key in ("loss", "margin", "recon", "coupling", "norm"):
        np.testing.assert_allclose(np.array(ours[key]), np.array(theirs[key]), err_msg=key, **TOL)
    np.testing.assert_array_equal(np.array(ours["argmax"]), np.array(theirs["argmax"]))
    assert ours["accuracy"] == theirs["accuracy"]
    assert ours["evaluation"][0] == pytest.approx(theirs["evaluation"][0], rel=TOL["rtol"])
    assert ours["evaluation"][1] == theirs["evaluation"][1]
    assert ours["reloaded"] == ours["evaluation"]  # the round trip restores every parameter exactly
    assert_params_close(ours["params"], theirs["params"], rtol=TOL["rtol"], atol=5e-6)
    coupling = np.array(ours["coupling"])  # (steps, routes, capsules, 1): softmax over the routes (dim=1)
    np.testing.assert_allclose(coupling.sum(axis=1), 1.0, rtol=1e-5)
    assert ours["loss"][-1] < 0.7 * ours["loss"][0]  # it trained (routing over dim=1, the ports' softmax: slowly)
    assert len(np.unique(ours["argmax"])) > 3  # the mask picks varied classes, so the index_select is exercised
