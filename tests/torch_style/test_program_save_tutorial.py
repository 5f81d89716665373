"""``save_tutorial.py`` (PyTorch's "Saving and Loading Models" tutorial) on torch and, imports swapped, on ours,
from torch's initial weights: every way the tutorial saves and loads gives the same outputs, keys and resumed
training in both. Before the 46th stop ours refused ``torch.save(model, PATH)`` (no pickle), and the optimizer's
state_dict held the paper's names, so the general checkpoint was our .npz, not torch's format.

Tolerances: float32 convolutions in a different summation order: outputs within 2.7e-8 (values up to 0.15); the
resumed and uninterrupted parameters are equal exactly within each library, and within 1e-6 across them."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, run_on_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def test_save_load_tutorial_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = run_on_torch_weights(HERE / "save_tutorial.py")
    for key in ("keys", "opt_keys", "ck_epoch", "ck_loss_rg", "multi_keys", "missing", "unexpected"):
        assert ours[key] == theirs[key], key
    assert theirs["missing"] == ["fc9.bias", "fc9.weight"] and theirs["ck_loss_rg"]
    np.testing.assert_allclose(ours["ck_loss"], theirs["ck_loss"], rtol=1e-6)
    for key in ("sd_out", "whole_out", "m5"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-7, err_msg=key)
    for log in (ours, theirs):
        np.testing.assert_array_equal(log["resumed"], log["straight"])
        np.testing.assert_array_equal(log["whole_out"], log["sd_out"])
    np.testing.assert_allclose(ours["resumed"], theirs["resumed"], rtol=1e-5, atol=1e-6)
