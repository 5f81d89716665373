"""``ctr_embeddingbag.py`` (a DeepFM on multi-hot click logs: nn.EmbeddingBag in mode "sum" with per_sample_weights
and ``include_last_offset``, "mean" with ``padding_idx`` (also through ``from_pretrained(freeze=False)``), "max" via
``F.embedding_bag`` on a 2-D input, a 1-d wide table, the FM interaction, an MLP with BatchNorm1d, BCEWithLogitsLoss,
AUC by argsort ranks; Adagrad with lr_decay / initial_accumulator_value / weight_decay, Adagrad on sparse=True
tables, SparseAdam beside Adam) run on torch and, imports swapped, on ours from torch's initial weights and the same
batch order: per step the losses, per epoch the validation losses and AUCs, the optimizer states and the final
parameters agree.

Tolerances: float32, dropout 0. Measured: losses within ~1e-6 relative; we allow rtol 1e-4 / atol 1e-5."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, EpochOrder, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FILE = HERE / "ctr_embeddingbag.py"
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled:UserWarning")  # torch
FIELD_DIMS, N_TAGS, N_ITEMS = (5, 7, 3), 20, 15


def synthetic_log(seed: int, n: int) -> list:
    """Rows (fields, tags, tag weights, history, label): the click probability rises with field 0, tags below 5
    and history items above 10; histories may be empty or hold the padding item 0."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        fields = [int(rng.integers(d)) for d in FIELD_DIMS]
        tags = rng.choice(N_TAGS, size=int(rng.integers(1, 5)), replace=False).tolist()
        weights = (1.0 / (1 + rng.random(len(tags)))).round(3).tolist()
        history = rng.integers(0, N_ITEMS, size=int(rng.integers(0, 5))).tolist()
        z = 0.6 * fields[0] - 1.5 + sum(t < 5 for t in tags) - 0.5 * sum(t >= 15 for t in tags) \
            + 0.7 * sum(h > 10 for h in history)
        rows.append((fields, tags, weights, history, float(rng.random() < 1 / (1 + np.exp(-z)))))
    return rows


def run_both(setup: str, pretrained: bool = False, epochs: int = 3, lr: float = 0.1) -> tuple[dict, dict]:
    train, valid = synthetic_log(0, 256), synthetic_log(1, 128)
    sparse = setup != "adagrad"

    def make(m):
        items = None
        if pretrained:
            items = m.torch.from_numpy(np.random.default_rng(7).standard_normal((N_ITEMS, 4)).astype(np.float32))
        return m.DeepFM(FIELD_DIMS, N_TAGS, N_ITEMS, 4, (16, 8), sparse=sparse, pretrained_items=items)

    def run(m, model, lib: str) -> dict:
        history = m.train(model, m.ClickLog(train), m.ClickLog(valid), [EpochOrder(256, s) for s in range(epochs)],
                          setup=setup, lr=lr)
        history["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        return history

    return from_torch_weights(FILE, make, run)


def assert_same(want: dict, got: dict) -> None:
    assert got["grad_kinds"] == want["grad_kinds"]
    for key in ("loss", "valid_loss", "auc"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, err_msg=key)
    assert_params_close(got["params"], want["params"], rtol=1e-4, atol=1e-5)
    assert np.mean(got["loss"][-4:]) < np.mean(got["loss"][:4]) - 0.05  # it learned
    assert got["auc"][-1] > max(0.55, got["auc"][0])  # a weak signal in 256 rows: the AUC rises from ~0.5


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize(("setup", "pretrained"), [("adagrad", False), ("adagrad_sparse", True),
                                                   ("sparse_adam", False)])
def test_deepfm_matches_torch(setup: str, pretrained: bool) -> None:
    want, got = run_both(setup, pretrained)
    assert_same(want, got)
    assert got["grad_kinds"] == {setup != "adagrad"}
