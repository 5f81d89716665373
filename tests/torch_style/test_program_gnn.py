"""``gnn.py`` (GCN and GAT node classification on a stochastic-block-model graph, without torch_geometric) run on
torch and, imports swapped, on ours: from torch's initial weights and the same numpy graph, every epoch's training
loss, gradient norm, validation loss and train / val / test accuracies agree, early stopping stops at the same
epoch, the best state (``copy.deepcopy(state_dict())`` through ``torch.save`` / ``torch.load``) restores the
same numbers, and the final parameters agree; for each GCN aggregation (``index_add_``, ``scatter_add_`` with a
``bincount`` degree, a dense ``index_put_(accumulate=True)`` adjacency, ``torch.sparse.mm`` of a
``sparse_coo_tensor``) and for GAT (concatenated and averaged heads, a ``scatter_reduce`` amax segment softmax).

Tolerances: float32 throughout, and the sums over edges run in another order in each library (torch's index_add
and scatter kernels, its sparse addmm, against numpy's), so each layer's output differs by rounding (~1e-7
relative), which Adam carries on. Measured over the full runs (74 GCN epochs at lr 0.02, 20 GAT epochs): losses and
norms within 7.3e-6 relative (the largest at the last epochs' training losses of ~0.02, 1.5e-7 apart), parameters
within 3e-7 absolute. We allow rtol 2e-5 and atol 1e-6. Accuracies, the
best epoch and the stopping epoch must be equal exactly (a prediction could flip only where two log-probabilities
tie to rounding, which this graph never meets). Dropout is p=0 in the training runs (the two generators differ);
with p > 0, eval mode gives the same numbers and training mode only its own mask."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 2e-5, "atol": 1e-6}
EXACT = ("train_acc", "val_acc", "test_acc", "best_epoch", "epochs", "best_val_acc", "best_test_acc")


def both(net: str, **kwargs) -> tuple[list, list]:
    """``net(16, 8, 3, **kwargs)`` and the graph in the program with torch's imports, then with ours, from torch's
    initial weights (the same state_dict keys): [(module, model, data)] for (torch, ours)."""
    runs, weights = [], None
    graph = None
    for lib in ("torch", "ours"):
        with program(HERE / "gnn.py", lib) as m:
            graph = graph or m.sbm_graph()
            data = m.make_data(*graph)
            torch.manual_seed(0)
            model = getattr(m, net)(data.num_features, 8, data.num_classes, **kwargs)
            if weights is None:
                weights = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
            else:
                assert list(model.state_dict()) == list(weights)
                model.load_state_dict(weights)
            runs.append((m, model, data))
    return runs[0], runs[1]


def fit_both(net: str, **kwargs) -> tuple[dict, dict]:
    results = []
    for m, model, data in both(net, dropout=0.0, **kwargs):
        history = m.fit(model, data, lr=0.02)
        history["params"] = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
        results.append(history)
    return results[0], results[1]


def agree(theirs: dict, ours: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key in EXACT:
            assert ours[key] == theirs[key], key
        elif key == "params":
            assert_params_close(ours[key], theirs[key], **TOL)
        else:
            np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    # the checkpoint round trip restored the best epoch's weights: its validation loss again, bit for bit
    assert ours["best_val_loss"] == min(ours["val_loss"]) and ours["best_epoch"] < ours["epochs"]


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("aggr, degree", [("index_add", "scatter"), ("scatter", "bincount"), ("dense", "scatter"),
                                          ("sparse", "bincount")])
def test_gcn_matches_torch(aggr: str, degree: str) -> None:
    theirs, ours = fit_both("GCN", aggr=aggr, degree=degree)
    agree(theirs, ours)
    assert ours["loss"][-1] < 0.1 * ours["loss"][0] and ours["best_test_acc"] > 0.9  # it learned the communities


@pytest.mark.usefixtures("one_torch_thread")
def test_gat_matches_torch() -> None:
    theirs, ours = fit_both("GAT")
    agree(theirs, ours)
    assert ours["loss"][-1] < 0.1 * ours["loss"][0] and ours["best_test_acc"] > 0.75


@pytest.mark.usefixtures("one_torch_thread")
def test_graph_pieces_match_torch() -> None:
    """The normalisation of a graph with isolated nodes (deg 0: pow(-0.5) gives inf, set to 0), self loops, the
    attention coefficients of both GAT layers (a softmax over each node's incoming edges), and dropout p > 0: in eval
    mode the same log-probabilities, in training mode each library's own mask (zeros, or x / (1 - p))."""
    (t, gat_t, data_t), (o, gat_o, data_o) = both("GAT", dropout=0.5)
    edges_t, edges_o = data_t.edge_index, data_o.edge_index
    upper = edges_o.numpy()[0] < edges_o.numpy()[1]  # directed i -> j for i < j: the last sources have degree 0
    for degree in ("scatter", "bincount"):
        for e_t, e_o in ((edges_t, edges_o), (edges_t[:, torch.from_numpy(upper)], edges_o[:, o.torch.tensor(upper)])):
            norm_t, norm_o = t.gcn_norm(e_t, 120, degree), o.gcn_norm(e_o, 120, degree)
            np.testing.assert_allclose(norm_o.numpy(), norm_t.numpy(), rtol=1e-6)
        assert (norm_o.numpy() == 0).sum() > 10  # deg_inv_sqrt's infs, set to 0
        looped_o = o.add_self_loops(edges_o, 120)
        np.testing.assert_array_equal(looped_o.numpy(), t.add_self_loops(edges_t, 120).numpy())
        assert looped_o.dtype == o.torch.int64
        loops = o.gcn_norm(looped_o, 120, degree).numpy()[-2:]  # the isolated nodes: 1 / sqrt(1 * 1)
        assert loops.tolist() == [1.0, 1.0]
    assert {118, 119}.isdisjoint(edges_o.numpy().ravel())  # the last two nodes have no edges
    with torch.no_grad():
        gat_t.eval()
        gat_o.eval()
        np.testing.assert_allclose(gat_o(data_o.x, edges_o).numpy(), gat_t(data_t.x, edges_t).numpy(), **TOL)
        hidden_t, alpha_t = gat_t.conv1(data_t.x, edges_t, return_attention=True)
        hidden_o, alpha_o = gat_o.conv1(data_o.x, edges_o, return_attention=True)
        np.testing.assert_allclose(alpha_o.numpy(), alpha_t.numpy(), **TOL)
        np.testing.assert_allclose(hidden_o.numpy(), hidden_t.numpy(), **TOL)
        _, alpha2 = gat_o.conv2(o.F.elu(hidden_o), edges_o, return_attention=True)
        np.testing.assert_allclose(alpha2.numpy(), gat_t.conv2(t.F.elu(hidden_t), edges_t, True)[1].numpy(), **TOL)
    targets = o.add_self_loops(edges_o, 120)[0].numpy()
    for alpha in (alpha_o.numpy(), alpha2.numpy()):
        sums = np.stack([np.bincount(targets, alpha[:, h], 120) for h in range(alpha.shape[1])], 1)
        np.testing.assert_allclose(sums, 1, rtol=1e-6)  # each node's incoming attention sums to one, per head
    gat_o.train()
    kept = o.F.dropout(data_o.x, p=0.5, training=gat_o.training).numpy()
    x = data_o.x.numpy()
    assert np.all((kept == 0) | np.isclose(kept, 2 * x)) and 0.3 < (kept == 0).mean() < 0.7
    assert np.isfinite(gat_o(data_o.x, edges_o).detach().numpy()).all()
