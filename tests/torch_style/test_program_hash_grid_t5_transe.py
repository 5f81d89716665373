"""hash_grid_t5_transe.py on torch and, imports swapped, on ours, from torch's initial weights and the same numpy
batches: the hash of int64 coordinates past 2**31 and their negatives, the T5 buckets (bidirectional and causal) and the
bias they index, the hash grid's losses, TransE's losses and distances, and its entity rows renormalised to norm 1
agree.

Tolerances: float32, the runs differing by summation order. Measured: losses within 4.8e-7 (up to 6.3), embeddings 6e-8.
We allow rtol 1e-5 and atol 1e-6; the hashes and the buckets are compared exactly."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

EXACT = ("hash", "hash_neg", "t5_bucket", "t5u_bucket")


def test_hash_grid_t5_transe_matches_torch(one_torch_thread: None) -> None:
    with program(HERE / "hash_grid_t5_transe.py", "torch") as m:
        theirs = m.run()
    with program(HERE / "hash_grid_t5_transe.py", "ours") as m:
        ours = m.run(weights=theirs.pop("weights"))
    ours.pop("weights")
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key in EXACT:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
        else:
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
