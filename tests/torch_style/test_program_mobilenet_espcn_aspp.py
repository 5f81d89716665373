"""mobilenet_espcn_aspp.py on torch and, imports swapped, on ours, from torch's initial weights and the same numpy
batches: the losses of each step, the eval logits, a BatchNorm's running mean and batch count, ESPCN's losses and PSNR,
the segmentation losses, pixel accuracy and mIoU agree.

Tolerances: float32, the runs differing by summation order. Measured: losses within 2.4e-7 (up to 2.5), eval logits
7.5e-9, segmentation metrics 1.2e-7. We allow rtol 1e-5 and atol 1e-6; the batch count is compared exactly."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

EXACT = ("nbt",)


def test_mobilenet_espcn_aspp_matches_torch(one_torch_thread: None) -> None:
    with program(HERE / "mobilenet_espcn_aspp.py", "torch") as m:
        theirs = m.run()
    with program(HERE / "mobilenet_espcn_aspp.py", "ours") as m:
        ours = m.run(weights=theirs.pop("weights"))
    ours.pop("weights")
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key in EXACT:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
        else:
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
