"""``pygat.py`` (Diego999's pyGAT: the dense GAT and the sparse SpGAT with its custom SpecialSpmmFunction, utils'
scipy normalisations and train.py's early-stopping loop) run on torch and, imports swapped, on ours from torch's
initial weights, with dropout 0 and the repository's alpha 0.2, on a 40-node stochastic-block-model graph: the
training and validation losses and accuracies of every epoch, the per-parameter gradient norms, the evaluated
log-probabilities, the printed lines (all but the times), the epoch early stopping picked and where it stopped, the
``.pkl`` files left on disk, the test results after the best checkpoint was reloaded, and the final parameters.
In each library the reloaded checkpoint reproduces its epoch's validation loss exactly. A dropout-0.6 run (each
library's own random masks) is checked for its statistics: the masks change the training outputs, evaluation is
deterministic, and the model still learns.

Tolerances: float32; the runs differ by summation order in the matmuls, softmaxes and (sparse) index_adds, which
Adam (lr 0.05) carries on. Measured over 37 (dense) and 27 (sparse) epochs: losses within 4.2e-7 (dense) and 2.4e-7
(sparse), gradient norms (of ~0.1) within 2.7e-7 / 2.3e-7, log-probabilities (down to -12) within 9.1e-6 / 4.8e-6,
test results within 6e-7, parameters within 6e-7 / 7.7e-7. We allow rtol 1e-5 and atol 2e-5 for the series and
outputs, atol 5e-6 for the parameters; accuracies are counts over 12 or 16 nodes and must be equal, as must the
stopping epochs. A printed loss could round the other way in its fourth decimal; these seeds never meet one, so the
lines (times cut) are compared as text."""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
import warnings

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 2e-5}
SERIES = ("loss_train", "loss_val", "grad_norm", "out")
EXACT = ("acc_train", "acc_val", "best_epoch", "epochs_run", "files")
CONFIG = {"epochs": 40, "patience": 8, "lr": 0.05}


def train(m: object, model: object, **config: object) -> dict:
    """train.py's loop on ``model`` in a fresh folder, its printed lines kept (times cut) under ``"lines"``."""
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()) as printed, \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse invariant checks")  # torch's, from sparse_coo_tensor
        out = m.main(model, m.load_data(), folder, **{**CONFIG, **config})
    out["lines"] = [re.sub(r"time.*", "", line) for line in printed.getvalue().splitlines() if "Total time" not in line]
    return out


@pytest.mark.parametrize("kind", ["GAT", "SpGAT"])
def test_pygat_matches_torch(one_torch_thread: None, kind: str) -> None:
    theirs, ours = from_torch_weights(HERE / "pygat.py", lambda m: getattr(m, kind)(12, 8, 3, 0.0, 0.2, 2),
                                      lambda m, model, lib: train(m, model))
    for key in SERIES:
        assert np.shape(ours[key]) == np.shape(theirs[key]), key
        np.testing.assert_allclose(np.array(ours[key]), np.array(theirs[key]), err_msg=key, **TOL)
    for key in EXACT:
        assert ours[key] == theirs[key], key
    np.testing.assert_allclose(ours["test"], theirs["test"], **TOL)
    assert ours["lines"] == theirs["lines"]
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=5e-6)
    assert list(ours["params"]) == ["attention_0.W", "attention_0.a", "attention_1.W", "attention_1.a", "out_att.W",
                                    "out_att.a"]  # add_module's names, not the plain list's
    best = ours["best_epoch"]
    assert ours["epochs_run"] == best + CONFIG["patience"] + 1 < CONFIG["epochs"]  # early stopping fired
    assert ours["files"] == [f"{best}.pkl"] and max(ours["acc_val"]) >= 0.8  # it learned (chance: 1/3)
    for out in (ours, theirs):  # the reloaded best checkpoint gives its epoch's validation loss again
        assert out["test"][2] == out["loss_values"][best] == min(out["loss_values"])


def dropout_losses(m: object, model: object, lib: str, passes: int = 250) -> dict:
    """The training nodes' nll_loss over ``passes`` train-mode forwards (fresh dropout masks each) at the initial
    weights, and the evaluated output twice."""
    adj, features, labels, idx_train = m.load_data()[:4]
    with m.torch.no_grad():
        model.train()
        losses = [m.F.nll_loss(model(features, adj)[idx_train], labels[idx_train]).item() for _ in range(passes)]
        model.eval()
        evaluated = [model(features, adj).numpy() for _ in range(2)]
    return {"losses": np.array(losses), "eval": evaluated}


@pytest.mark.parametrize("kind", ["GAT", "SpGAT"])
def test_pygat_dropout_statistics_match_torch(one_torch_thread: None, kind: str) -> None:
    """Dropout 0.6 (the repository's) from torch's initial weights: each library draws its own masks, so the
    train-mode losses agree in distribution (mean within 4 standard errors, deciles 1, 5 and 9 within 12%: over
    3000 passes they agree within 1%); evaluation is deterministic and equal."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse invariant checks")
        theirs, ours = from_torch_weights(HERE / "pygat.py", lambda m: getattr(m, kind)(12, 8, 3, 0.6, 0.2, 2),
                                          dropout_losses)
    (a, b), (want, _) = ours["eval"], theirs["eval"]
    assert np.array_equal(a, b)
    np.testing.assert_allclose(a, want, **TOL)
    got, want = ours["losses"], theirs["losses"]
    assert np.unique(got).size > 200  # fresh masks each pass
    assert abs(got.mean() - want.mean()) < 4 * np.sqrt((got.var() + want.var()) / got.size)
    np.testing.assert_allclose(np.percentile(got, [10, 50, 90]), np.percentile(want, [10, 50, 90]), rtol=0.12)
