"""``graph_transformer.py`` (hand-written GATv2 and TransformerConv-style layers on an edge list: ``index_select`` per
edge, a scatter softmax by ``scatter_reduce(reduce="amax", include_self=False)`` + ``index_add_``, a mean aggregation
by ``bincount`` in-degrees, a global mean pool over a batch vector, ``torch.unique(dim=1)`` undirected edges and
self-loops) run on torch and, imports swapped, on ours from torch's initial weights and the same numpy graphs: the
batched edge lists, the attention weights (summing to one per target), the logits and gradients of one backward, the
Adam losses / correct counts and the final parameters. The scatter softmax alone, on tied scores (several edges of a
target sharing the max) and on a target without edges, with its gradients; and the mean aggregation and pool on a
graph with an isolated node.

Tolerances: float32; the libraries differ by summation order (Linear, LayerNorm, index_add_). Measured: attention
and logits within 6e-8 absolute (2.3e-7 relative), losses within 1.2e-7 relative, gradients and parameters within
1.2e-7 absolute after 9 Adam steps at lr 0.01; we allow rtol 2e-6 / atol 1e-6 (gradients rtol 2e-5 / atol 1e-6).
Edge lists, batch vectors and correct counts compared exactly; the scatter softmax on small integers agreed exactly
(allowed 1e-6). The file takes about 3 s (torch on one thread)."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "graph_transformer.py"
TOL = {"rtol": 2e-6, "atol": 1e-6}


def random_graph(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """4-8 nodes with 4 features, a random (directed, maybe looped or repeated) edge list, a 0/1 label."""
    n = int(rng.integers(4, 9))
    edges = rng.integers(0, n, (2, int(rng.integers(n, 2 * n)))).astype(np.int64)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return x, edges, int(x[:, 0].mean() > 0) ^ int(len(np.unique(edges, axis=1).T) > n + 1)


def test_graph_classifier_trains_like_torch(one_torch_thread: None) -> None:
    rng = np.random.default_rng(0)
    raw = [[random_graph(rng) for _ in range(4)] for _ in range(3)]

    def run(m, model, lib: str) -> dict:
        batches = [[m.make_graph(*g) for g in batch] for batch in raw]
        x, edge_index, edge_attr, batch, labels = m.collate_graphs(batches[0])
        out = {"edges": edge_index.numpy().copy(), "batch": batch.numpy().copy(), "labels": labels.numpy().copy()}
        logits = model(x, edge_index, edge_attr, batch, 4)
        alpha = model.gat.last_attention
        loops = m.add_self_loops(edge_index, x.shape[0])
        sums = m.torch.zeros(x.shape[0], 2).index_add_(0, loops[1], alpha).numpy()
        np.testing.assert_allclose(sums, 1.0, rtol=1e-6)
        out["attention"], out["logits"] = alpha.numpy(), logits.detach().numpy()
        m.F.cross_entropy(logits, labels).backward()
        out["grads"] = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
        model.zero_grad()
        out.update(m.train(model, batches))
        out["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        return out

    theirs, ours = from_torch_weights(PATH, lambda m: m.GraphClassifier(), run)
    for key in ("edges", "batch", "labels"):
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    assert ours["correct"] == theirs["correct"]
    for key in ("attention", "logits", "loss"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert_params_close(ours["grads"], theirs["grads"], rtol=2e-5, atol=1e-6)
    assert_params_close(ours["params"], theirs["params"], **TOL)
    assert ours["loss"][-1] < 0.5 * ours["loss"][0]  # it learned


def test_scatter_softmax_ties_and_isolated_nodes_like_torch(one_torch_thread: None) -> None:
    scores = np.array([[1, 2], [3, 2], [3, -1], [0, 0], [5, 5], [5, 5]], np.float32)
    index = np.array([0, 0, 0, 2, 3, 3])  # target 1 has no edges; ties at targets 0 (head 0) and 3
    weights = np.arange(12, dtype=np.float32).reshape(6, 2)
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    edges = np.array([[0, 1, 3, 3], [1, 1, 0, 4]])  # nodes 2 and 3 without in-edges; node 2 isolated

    results = {}
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            t = m.torch
            s = t.tensor(scores, requires_grad=True)
            alpha = m.scatter_softmax(s, t.tensor(index), 5)
            (alpha * t.tensor(weights)).sum().backward()
            xt = t.tensor(x, requires_grad=True)
            agg = m.MeanAggregation(2, 2)
            agg.load_state_dict({"lin_self.weight": t.eye(2), "lin_self.bias": t.zeros(2),
                                 "lin_nbr.weight": 2 * t.eye(2)})
            h = agg(xt, t.tensor(edges))
            pooled = m.global_mean_pool(h, t.tensor([0, 0, 0, 2, 2]), 3)  # graph 1 is empty
            pooled.sum().backward()
            results[lib] = [alpha.detach().numpy(), s.grad.numpy(), h.detach().numpy(), pooled.detach().numpy(),
                            xt.grad.numpy()]
    for got, want in zip(results["ours"], results["torch"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(results["ours"][0][4:], 0.5)
    assert not results["ours"][3][1].any()
