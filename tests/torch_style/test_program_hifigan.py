"""hifigan.py on torch and, imports swapped, on ours, from torch's initial weights and the same numpy batches: the
discriminator, generator and mel losses of each step, the generator's output before and after ``remove_weight_norm``,
the state dicts' sizes and a spectral norm's ``u`` agree.

Tolerances: float32, the runs differing by summation order. Measured: losses within 3.8e-6 (up to 28), outputs 4.5e-8,
``u`` 1.2e-7. We allow rtol 1e-5 and atol 1e-6; the state dicts' sizes are compared exactly."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

EXACT = ("keys", "dkeys")


def test_hifigan_matches_torch(one_torch_thread: None) -> None:
    with program(HERE / "hifigan.py", "torch") as m:
        theirs = m.run()
    with program(HERE / "hifigan.py", "ours") as m:
        ours = m.run(weights=theirs.pop("weights"))
    ours.pop("weights")
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key in EXACT:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
        else:
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
