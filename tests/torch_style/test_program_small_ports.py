"""Three small ports run on torch and, imports swapped, on ours, from torch's initial weights and the same numpy
batches (each program's ``run(weights)``); all three agreed before any change to the library.

- ``mobilenet_espcn_aspp.py``: the losses of each step, the eval logits, a BatchNorm's running mean and batch count,
  ESPCN's losses and PSNR, the segmentation losses, pixel accuracy and mIoU. Measured: losses within 2.4e-7 (up to
  2.5), eval logits 7.5e-9, segmentation metrics 1.2e-7.
- ``hash_grid_t5_transe.py``: the hash of int64 coordinates past 2**31 and of their negatives, the T5 buckets
  (bidirectional and causal) and the bias they index, the hash grid's losses, TransE's losses and distances, and its
  entity rows renormalised to norm 1. Measured: losses within 4.8e-7 (up to 6.3), embeddings 6e-8.
- ``hifigan.py``: the discriminator, generator and mel losses of each step, the generator's output before and after
  ``remove_weight_norm``, the state dicts' sizes and a spectral norm's ``u``. Measured: losses within 3.8e-6 (up to
  28), outputs 4.5e-8, ``u`` 1.2e-7.

Tolerances: float32, the runs differing by summation order; we allow rtol 1e-5 and atol 1e-6. Counts, hashes and
buckets (``EXACT``) are compared exactly."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, run_on_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

EXACT = {"mobilenet_espcn_aspp": ("nbt",), "hash_grid_t5_transe": ("hash", "hash_neg", "t5_bucket", "t5u_bucket"),
         "hifigan": ("keys", "dkeys")}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_small_port_matches_torch(name: str, one_torch_thread: None) -> None:
    theirs, ours = run_on_torch_weights(HERE / f"{name}.py")
    for key in theirs:
        if key in EXACT[name]:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
        else:
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
