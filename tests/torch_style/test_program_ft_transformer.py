"""``ft_transformer.py`` (yandex-research/rtdl's FT-Transformer: feature tokenizers, the CLS token, hand-written
attention with optional key / value compression, ReGLU / GEGLU, ``last_layer_query_idx=[-1]``, the no-decay
parameter groups under AdamW, bin/ft_transformer.py's loop with ``best.pt`` / ``checkpoint.pt``, patience and the
best model's final evaluation, and MLPs on the piecewise-linear encoding or periodic embeddings) run on torch
and, imports swapped, on ours: from torch's initial weights and the same numpy batch orders, the first step's tokens
(with the CLS token), attention probabilities of every block and logits, then each step's loss, gradient norm and
parameters, the per-epoch RMSE / accuracy, validation predictions, printed lines (early stops, best epochs) and the
reloaded best model's val / test scores agree; a resume from ``checkpoint.pt`` equals the uninterrupted run exactly
in each library.

Tolerances: float32. Measured over up to 4 epochs of 2 batches (regression / ReGLU; multiclass with headwise
compression and binclass with GEGLU, xavier and layerwise compression, both early-stopped after 3; a 3-block
post-norm regression with key-value compression and every query kept): tokens equal exactly, attention
probabilities within 9e-8, logits 1.8e-7, losses 1.9e-7 relative, gradient norms 2e-7 relative, parameters 3.3e-8
absolute, scores and predictions within 1.8e-7. We allow rtol 1e-5, atol 1e-6. The blocks' ``W_k.bias`` are the
exception: their true gradient is zero (a bias on the keys adds the same ``q . b`` to every logit of a query, which
the softmax cancels), so each library's gradient is rounding noise that Adam rescales to steps of up to lr = 1e-4
of either sign; they are compared within 8 steps' lr, 8e-4 (measured 7.5e-5 apart). The PLE bins and encodings
are equal exactly; the embedding MLPs' losses, gradient norms and RMSE within 2e-7 relative, parameters 6e-8
(allowed rtol 1e-5, atol 1e-6 / parameters 1e-5). The file takes about 8 s on the shared 2-core machine under a
load of 4 (where test_program_tabular_lrfind.py takes 7 s), most of it torch's one-time imports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-6}
PATH = HERE / "ft_transformer.py"
ORDERS = [np.random.default_rng(e).permutation(64) for e in range(4)]
NOISE_GRAD = "attention.W_k.bias"  # a zero true gradient: Adam steps on rounding noise


def both(task: str, capsys: pytest.CaptureFixture, tmp_path: Path, **kwargs: object) -> tuple[dict, dict]:
    """``train`` on torch, then on ours from torch's initial weights (4 epochs, patience 2, checkpoints in a
    folder per library); each record gets its printed lines."""

    def make(m: object) -> object:
        m.data = m.make_data()
        return m.make_model(m.data, task, **kwargs)

    def run(m: object, model: object, lib: str) -> dict:
        capsys.readouterr()
        output = tmp_path / lib
        output.mkdir()
        rec = m.train(model, m.data, task, n_epochs=4, orders=ORDERS, output=str(output), patience=2)
        groups = model.optimization_param_groups()
        rec["groups"] = [(len(g["params"]), g.get("weight_decay")) for g in groups]
        return {**rec, "printed": capsys.readouterr().out}

    return from_torch_weights(PATH, make, run)


def agree(theirs: dict, ours: dict) -> None:
    np.testing.assert_array_equal(ours["tokens"], theirs["tokens"])
    np.testing.assert_array_equal(ours["with_cls"], theirs["with_cls"])
    assert len(ours["attention"]) == len(theirs["attention"])
    for mine, ref in zip(ours["attention"], theirs["attention"]):
        assert mine.shape == ref.shape
        np.testing.assert_allclose(mine, ref, **TOL)
    np.testing.assert_allclose(ours["logits"], theirs["logits"], **TOL)
    for key in ("loss", "grad"):
        assert len(ours[key]) == len(theirs[key]) == 2 * ours["printed"].count("[epoch]")
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    for step, (mine, ref) in enumerate(zip(ours["params"], theirs["params"])):
        assert list(mine) == list(ref)
        for name in ref:
            tol = {"rtol": 0, "atol": 8e-4} if name.endswith(NOISE_GRAD) else TOL
            np.testing.assert_allclose(mine[name], ref[name], err_msg=f"{step} {name}", **tol)
    for mine, ref in zip(ours["eval"], theirs["eval"]):
        np.testing.assert_allclose([mine["train"], mine["val"]], [ref["train"], ref["val"]], **TOL)
    for mine, ref in zip(ours["predictions"], theirs["predictions"]):
        np.testing.assert_allclose(mine, ref, **TOL)
    assert ours["groups"] == theirs["groups"]
    assert ours["printed"] == theirs["printed"] and "[best epoch]" in ours["printed"]
    assert ours["final"]["best_epoch"] == theirs["final"]["best_epoch"]
    np.testing.assert_allclose([ours["final"]["val"], ours["final"]["test"]],
                               [theirs["final"]["val"], theirs["final"]["test"]], **TOL)


@pytest.mark.parametrize(("task", "kwargs"), [
    ("regression", {}),
    ("multiclass", {"kv_compression_ratio": 0.5, "kv_compression_sharing": "headwise"}),
    ("binclass", {"ffn_activation": "GEGLU", "attention_initialization": "xavier", "kv_compression_ratio": 0.5,
                  "kv_compression_sharing": "layerwise"}),
    ("regression", {"kv_compression_ratio": 0.7, "kv_compression_sharing": "key-value", "n_blocks": 3,
                    "prenormalization": False, "last_layer_query_idx": None}),
])
def test_ft_transformer_matches_torch(one_torch_thread: None, capsys: pytest.CaptureFixture, tmp_path: Path,
                                      task: str, kwargs: dict) -> None:
    theirs, ours = both(task, capsys, tmp_path, **kwargs)
    agree(theirs, ours)
    n_tokens = 3 + 2 + 1
    last = (32 * 4, 1 if kwargs.get("last_layer_query_idx", (-1,)) else n_tokens)
    assert ours["with_cls"].shape == (32, n_tokens, 16) and ours["attention"][-1].shape[:2] == last
    assert ours["groups"][1][1] == 0.0 and ours["groups"][0][0] > 0


def test_dropout_runs_and_eval_is_deterministic() -> None:
    """With attention / ffn / residual dropout on, ours trains (its masks differ from torch's) and its ``no_grad``
    evaluation in ``eval()`` mode is deterministic."""
    with program(PATH, "ours") as m:
        m.torch.manual_seed(0)
        data = m.make_data()
        model = m.make_model(data, "regression", attention_dropout=0.2, ffn_dropout=0.1, residual_dropout=0.1)
        rec = m.train(model, data, "regression", n_epochs=2, orders=ORDERS)
        again = m.train(model, data, "regression", n_epochs=0, orders=ORDERS)
        assert np.isfinite(rec["loss"]).all()
        model.eval()
        with m.torch.no_grad():
            x_num, x_cat = m.torch.from_numpy(data["x_num"]), m.torch.from_numpy(data["x_cat"])
            np.testing.assert_array_equal(model(x_num, x_cat).numpy(), model(x_num, x_cat).numpy())
        assert again["loss"] == []


@pytest.mark.parametrize(("embedding", "bins_from"), [
    ("ple", None), ("ple", [[-3.0, -0.5, 0.5, 3.0], [-2.0, 2.0], [-4.0, 0.0, 1.0, 2.0, 4.0]]),
    ("periodic", None), ("periodic-lite", None)])
def test_numerical_embeddings_match_torch(one_torch_thread: None, embedding: str, bins_from: list | None) -> None:
    """PiecewiseLinearEncoding's quantile bins (or given edges, one column with a single bin: the ``torch.where``
    branch) and encodings, and an MLP fitted on them, or on PeriodicEmbeddings (``_NLinear`` or lite) from
    torch's weights: losses, gradient norms, final parameters and RMSE agree."""
    recs = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            data = m.make_data()
            m.torch.manual_seed(0)
            model, rec, tensors = m.train_ple(data, bins_from=bins_from, embedding=embedding)
            recs.append((model, rec, tensors, m))
    (model_t, rec_t, tensors_t, m_t), (model_o, rec_o, tensors_o, m_o) = recs
    assert list(model_o.state_dict()) == list(model_t.state_dict())
    model_o.load_state_dict({k: v.detach().numpy().copy() for k, v in model_t.state_dict().items()})
    assert len(rec_o["bins"]) == len(rec_t["bins"]) == (3 if embedding == "ple" else 0)
    for mine, ref in zip(rec_o["bins"], rec_t["bins"]):
        np.testing.assert_allclose(mine, ref, rtol=1e-6, atol=1e-6)
    if embedding == "ple":
        np.testing.assert_allclose(rec_o["encoding"], rec_t["encoding"], rtol=1e-6, atol=1e-6)
        assert np.isfinite(rec_t["encoding"]).all() and rec_t["encoding"].min() < 0 < rec_t["encoding"].max()
    out_t = m_t.fit_ple(model_t, rec_t, tensors_t, orders=ORDERS)
    out_o = m_o.fit_ple(model_o, rec_o, tensors_o, orders=ORDERS)
    for key in ("loss", "grad"):
        np.testing.assert_allclose(out_o[key], out_t[key], rtol=1e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(out_o["rmse"], out_t["rmse"], rtol=1e-5)
    for name, value in out_t["params"].items():
        np.testing.assert_allclose(out_o["params"][name], value, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_checkpoint_resume_is_exact(one_torch_thread: None, tmp_path: Path, lib: str) -> None:
    """Stopped after 2 epochs, a fresh model and optimizer resumed from ``checkpoint.pt`` (model, AdamW state, epoch,
    best score, fail count) train on to the same numbers as the uninterrupted run, and reload the same ``best.pt``."""
    runs = []
    with program(PATH, lib) as m:
        data = m.make_data()
        for name, stops in (("whole", [4]), ("resumed", [2, 4])):
            (tmp_path / name).mkdir()
            rec: dict = {}
            for i, n_epochs in enumerate(stops):
                m.torch.manual_seed(i)  # the resumed model's own init is overwritten by the checkpoint
                model = m.make_model(data, "binclass", kv_compression_ratio=0.5, kv_compression_sharing="headwise")
                rec = m.train(model, data, "binclass", n_epochs=n_epochs, orders=ORDERS, output=str(tmp_path / name),
                              resume=i > 0, record=rec)
            runs.append(rec)
    whole, resumed = runs
    assert whole["loss"] == resumed["loss"] and whole["grad"] == resumed["grad"] and len(whole["loss"]) == 8
    assert whole["eval"] == resumed["eval"] and whole["final"] == resumed["final"]
    for mine, ref in zip(resumed["params"], whole["params"]):
        for name in ref:
            np.testing.assert_array_equal(mine[name], ref[name])
