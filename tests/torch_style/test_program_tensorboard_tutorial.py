"""PyTorch's TensorBoard tutorial (``tensorboard_tutorial.py``) run on torch and, imports swapped, on ours, from
torch's initial weights; what each wrote read back with tensorboard's own reader. It ran once ``add_graph`` existed
(it raised NotImplementedError before).

Measured: training losses within 2.4e-7, class probabilities within 2.3e-8, the PR-curve tables and the projector's
tensors equal; the graph's op scopes (Net, Net/Conv2d[conv1], ... Net/MaxPool2d[pool]), its input and output nodes
and shapes (the names but for the tracer's ".1", see ``plain``), the projector's metadata, the image and figure tags
and the predictions equal. Tolerances: float32, summation order; rtol 1e-5, atol 1e-6."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_programs import HERE, run_on_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
pytest.importorskip("tensorboard", reason="SummaryWriter needs the tensorboard package (the test extra has it)")
pytest.importorskip("matplotlib", reason="the tutorial's figures need matplotlib (the test extra has it)")

EXACT = ("preds", "scopes", "metadata", "images")


def plain(io: list) -> list:
    """Input / output node names without the tracer's ".1" suffix: torch's names the tutorial's input ``x.1`` in a
    fresh process and ``x`` in CI's, after other tests (ours: ``x.1``, for an argument the forward assigns to)."""
    return [(re.sub(r"\.\d+$", "", name), shape) for name, shape in io]


def test_tensorboard_tutorial_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = run_on_torch_weights(HERE / "tensorboard_tutorial.py")
    for key in EXACT:
        assert ours[key] == theirs[key], key
    assert [s for s, _ in ours["scalars"]] == [s for s, _ in theirs["scalars"]] == [4, 9]
    np.testing.assert_allclose([v for _, v in ours["scalars"]], [v for _, v in theirs["scalars"]], rtol=1e-5)
    assert sorted(ours["curves"]) == sorted(theirs["curves"]) and len(theirs["curves"]) == 10
    for tag, table in theirs["curves"].items():
        np.testing.assert_allclose(ours["curves"][tag], table, rtol=1e-5, atol=1e-6, err_msg=tag)
    for key in ("probs", "test_probs", "projected"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert plain(ours["io"]) == plain(theirs["io"]) == [("input/x", [4, 1, 28, 28]), ("output/output", [4, 10])]
    assert "Net/MaxPool2d[pool]" in theirs["scopes"]
