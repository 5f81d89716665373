"""The autograd graph as DOT text, its summary, and rendering."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import viz


def small_graph() -> tuple[tg.Tensor, dict[str, tg.Tensor]]:
    x = tg.Tensor(np.ones((4, 3), np.float32))
    w = tg.Tensor(np.ones((3, 2), np.float32), requires_grad=True)
    b = tg.Tensor(np.zeros(2, np.float32), requires_grad=True)
    loss = (x @ w + b).relu().log_softmax(axis=1).mean()
    return loss, {"w": w, "b": b}


def test_dot_names_every_op_once_and_parses() -> None:
    loss, params = small_graph()
    dot = viz.to_dot(loss, params)
    assert dot.startswith("digraph autograd {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}") and dot.count("[") == dot.count("]")
    labels = re.findall(r'n(\d+) \[label="([^"]*)"', dot)
    ops = [text.split("\\n")[0] for _, text in labels]
    for op in ("matmul", "add", "relu", "log_softmax", "mean"):
        assert ops.count(op) == 1, (op, ops)
    assert "w" in ops and "b" in ops and "input" in ops
    assert len({node for node, _ in labels}) == len(labels) == 8  # 5 ops + 3 leaves, one node each
    edges = re.findall(r"n(\d+) -> n(\d+);", dot)
    assert len(edges) == 7  # matmul(x, w), add(., b), relu, log_softmax, mean
    ids = {node for node, _ in labels}
    assert all(a in ids and b in ids for a, b in edges)
    assert "4x2 float32" in dot and "scalar float32" in dot


def test_summary_counts_ops_and_saved_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    loss, _ = small_graph()
    info = viz.summary(loss)
    assert info["ops"] == {"matmul": 1, "add": 1, "relu": 1, "log_softmax": 1, "mean": 1}
    assert info["num_leaves"] == 3 and info["num_parameters"] == 2
    # saved: x and w (matmul), the pre-add output and b (add), relu mask (4x2 bool), log_softmax output
    assert info["saved_bytes"] >= 4 * 3 * 4 + 3 * 2 * 4 + 4 * 2 * 4
    assert "5 ops" in capsys.readouterr().out


def test_render_without_graphviz_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    loss, _ = small_graph()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        viz.render(loss, tmp_path / "g.svg")
    with pytest.raises(ValueError, match="unsupported file type"):
        viz.render(loss, tmp_path / "g.txt")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed (optional)")
def test_render_svg(tmp_path) -> None:
    loss, params = small_graph()
    out = viz.render(loss, tmp_path / "g.svg", params)
    assert out.read_text().lstrip().startswith(("<?xml", "<svg")) and "log_softmax" in out.read_text()
