"""PyTorch's own tutorials (``official_tutorials.py``: Learning PyTorch with Examples, What is torch.nn really?, the
LSTM tagger, the names RNN, FGSM, and fusing convolution and batch norm with custom Functions) run on torch and,
imports swapped, on ours, from torch's initial weights. All of them agreed once ``torch.nn.grad`` (used by the fused
layer's backward) existed.

Measured: losses within 1e-3 of 4.7e3 (the RMSprop fit's sum-of-squares loss), otherwise 6.1e-5 (of 553) and below;
tag scores 1.2e-7; gradcheck True in both for the three Functions. Tolerances: float32, summation order; rtol 1e-5,
atol 1e-6. Predictions, tags, counts and the one-hot names are compared exactly (``EXACT``)."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, run_on_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

EXACT = ("dyn_string_len", "wrapped_batches", "tags", "names_guesses", "line_tensor", "fgsm_correct",
         "fgsm_preds", "gradcheck_conv", "gradcheck_bn", "gradcheck_fused")


def test_official_tutorials_match_torch(one_torch_thread: None) -> None:
    theirs, ours = run_on_torch_weights(HERE / "official_tutorials.py")
    for key in theirs:
        if key in EXACT:
            assert ours[key] == theirs[key] if not isinstance(theirs[key], np.ndarray) else \
                np.array_equal(ours[key], theirs[key]), key
        else:
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert theirs["gradcheck_fused"] is True and theirs["fgsm_correct"] != [6, 6, 6]
