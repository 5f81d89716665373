"""``tabnet.py`` (dreamquark-ai's pytorch-tabnet: the Sparsemax / Entmax15 / Entmoid15 autograd Functions, ghost
batch norm, GLU blocks over shared layers, attentive transformers with priors, the encoder's sparsity loss, the
embedding generator and the explain masks, trained as its classifier trains) run on torch and, imports swapped, on
ours from torch's initial weights and the same batches: per step the losses, ``M_loss`` terms and gradient norms,
per epoch the validation accuracies, learning rates and printed lines, then the softmax predictions, explain
matrices, per-step masks, feature importances and final parameters (BatchNorm running stats included); the same for
the self-supervised pretraining and the classifier it initialises; one step of the multi-task classifier and of the
regressor; at the library's learning rate, where whole runs part (below), every step's loss, norm and clipped
gradients from torch's own state; the custom Functions' values, gradients and in-place habit against torch's
directly, and gradcheck; and a checkpoint resume equal to the uninterrupted run bit for bit.

Tolerances: float32. TabNet's float32 gradients are ill-conditioned: ghost batches of 16 feed BatchNorms whose
backward cancels, so torch's own float32 gradients lie up to 2e-4 (relative to the largest entry; 8e-4 after
pretraining) from its float64 ones, and ours as far (measured from the same states: both 5e-6 to 1e-3, no sign
flips). Adam at the library's lr 2e-2 turns that into different runs within a few steps (grad norms 12 apart at
step 5, of 64), so the whole-run comparisons use lr 2e-3. Measured there (10 and 15 steps): losses within 1.4e-5,
M_loss 4.4e-6, gradient norms 3.6e-3 (of up to 36), probabilities 1.4e-5, explain 5.6e-5 (of 4.5), masks 2.5e-5,
importances 4.7e-7, parameters and running stats 3.8e-5; we allow rtol 5e-4 and atol 2e-4 (parameters atol 2e-4).
A printed loss may round the other way in its fifth decimal (seen: 1.94583 / 1.94582; threads change torch's by
1e-5), so the lines are compared as text around it, it within 3e-5. Accuracies are counts over 40 rows: equal. The
pretraining (10 steps, gradient norms reaching 214): losses within 4.3e-5, gradient norms 7.4e-4 relative, the
loaded classifier's explain 8.3e-5 (of 8); we allow rtol 5e-4 (norms 1.5e-3). Synced steps at lr 2e-2 (10 of 24
rows): losses and M_loss within 1.4e-6, gradient norms 1.4e-4 relative (of up to 15), clipped gradients 1.2e-5 (of
up to 0.24; 5.5e-5 on an AVX-512 EPYC); we allow atol 1e-5, rtol 5e-4 and atol 1e-4. One multi-task / regressor step:
losses within 1.4e-6, outputs 5.1e-5, gradients 4.6e-5 (of up to 2.4); we allow atol 1e-5, the series' tolerance and
atol 1e-4. The Functions alone agree within 1.2e-7 (float32) and 2.3e-16 (float64)"""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "tabnet.py"
TOL = {"rtol": 5e-4, "atol": 2e-4}
SERIES = ("loss", "m_loss", "grad_norm", "lr", "proba", "explain", "masks", "importances")


def both(make: dict, **options: object) -> tuple[dict, dict]:
    return from_torch_weights(PATH, lambda m: m.make_model(**make), lambda m, model, lib: m.run(model, **options))


def agree(theirs: dict, ours: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key in SERIES:
        assert np.shape(ours[key]) == np.shape(theirs[key]), key
        np.testing.assert_allclose(np.asarray(ours[key], float), np.asarray(theirs[key], float), err_msg=key, **TOL)
    assert ours["accuracy"] == theirs["accuracy"]
    assert len(ours["lines"]) == len(theirs["lines"])
    for got, want in zip(ours["lines"], theirs["lines"]):
        (head, loss, tail), (want_head, want_loss, want_tail) = got.split(" | ", 2), want.split(" | ", 2)
        assert (head, tail) == (want_head, want_tail) and loss[:6] == want_loss[:6] == "loss: "
        assert float(loss[6:]) == pytest.approx(float(want_loss[6:]), abs=3e-5)
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=2e-4)


def test_tabnet_sparsemax_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both({}, epochs=2, lr=2e-3, step_size=1)
    agree(theirs, ours)
    assert len(ours["loss"]) == 10 and ours["lr"] == pytest.approx([2e-3, 1.8e-3])
    masks = np.asarray(ours["masks"])  # (steps, rows, columns): sparsemax zeroes some columns, rows sum to 1
    assert masks.shape == (3, 40, 8) and (masks == 0).mean() > 0.2
    np.testing.assert_allclose(masks.sum(-1), 1, atol=1e-5)  # the embedded columns summed back by the csc matrix
    assert ours["importances"].sum() == pytest.approx(1) and ours["m_loss"][0] < 0  # sum M log M


def test_tabnet_entmax_without_shared_layers_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both({"mask_type": "entmax", "cat_emb_dim": 1, "n_shared": 0, "virtual_batch_size": 16},
                        epochs=2, lr=2e-3, cat_emb_dim=1)
    agree(theirs, ours)


def test_tabnet_resume_equals_the_whole_run() -> None:
    with program(PATH, "ours") as m:
        whole, resumed = (run_from_seed(m, resume_at) for resume_at in (None, 1))
    assert whole.keys() == resumed.keys() and whole["lr"] == pytest.approx([2e-3, 2e-3, 1.8e-3])  # StepLR carried
    for key in whole:
        pairs = [(whole[key][k], resumed[key][k]) for k in whole[key]] if key == "params" else [
            (np.asarray(whole[key]), np.asarray(resumed[key]))]
        assert all(np.array_equal(a, b) for a, b in pairs), key


def run_from_seed(m: object, resume_at: int | None) -> dict:
    m.torch.manual_seed(0)
    return m.run(m.make_model(), epochs=3, lr=2e-3, resume_at=resume_at)


def test_tabnet_pretraining_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = from_torch_weights(PATH, lambda m: m.torch.nn.ModuleList([m.make_model(), m.make_pretrainer()]),
                                      lambda m, models, lib: m.run_pretrained(models[0], models[1]))
    agree(theirs, ours)  # the classifier after load_weights_from_unsupervised: predictions, masks, importances
    for key, rtol in (("pretrain_loss", 5e-4), ("valid_loss", 5e-4), ("pretrain_norm", 1.5e-3)):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=rtol, atol=2e-4, err_msg=key)
    assert len(ours["pretrain_loss"]) == 10 and ours["valid_loss"][-1] < ours["pretrain_loss"][0]


def test_multi_task_and_regression_steps_match_torch(one_torch_thread: None) -> None:
    theirs, ours = from_torch_weights(PATH, lambda m: m.make_multi_task_and_regressor(),
                                      lambda m, models, lib: m.multi_task_and_regression_step(models))
    for name in ("multi_task", "regressor"):
        assert ours["loss_" + name] == pytest.approx(theirs["loss_" + name], abs=1e-5)
        assert [o.shape for o in ours["outputs_" + name]] == [o.shape for o in theirs["outputs_" + name]]
        for got, want in zip(ours["outputs_" + name], theirs["outputs_" + name]):
            np.testing.assert_allclose(got, want, **TOL)
        assert_params_close(ours["grads_" + name], theirs["grads_" + name], rtol=0, atol=1e-4)


def test_library_learning_rate_steps_from_torch_state(one_torch_thread: None) -> None:
    steps = []
    with program(PATH, "torch") as m:
        torch.manual_seed(0)
        clf = m.TabNetClassifierLite(m.make_model(), m.CAT_IDXS, [3, 2])  # lr 2e-2, clip_value 1
        X, y = m.make_data()
        clf.network.train()
        for start in range(0, 240, 24):
            state = {k: v.detach().numpy().copy() for k, v in clf.network.state_dict().items()}
            loss = clf._train_batch(torch.tensor(X[start:start + 24]), torch.tensor(y[start:start + 24]))["loss"]
            grads = {k: p.grad.numpy().copy() for k, p in clf.network.named_parameters() if p.grad is not None}
            steps.append((state, loss, clf.log["grad_norm"][-1], clf.log["m_loss"][-1], grads))
    with program(PATH, "ours") as m:
        clf = m.TabNetClassifierLite(m.make_model(), m.CAT_IDXS, [3, 2])
        clf.network.train()
        for start, (state, loss, norm, m_loss, grads) in zip(range(0, 240, 24), steps):
            clf.network.load_state_dict(state)
            got = clf._train_batch(m.torch.tensor(X[start:start + 24]), m.torch.tensor(y[start:start + 24]))["loss"]
            assert got == pytest.approx(loss, abs=1e-5) and clf.log["m_loss"][-1] == pytest.approx(m_loss, abs=1e-5)
            assert clf.log["grad_norm"][-1] == pytest.approx(norm, rel=5e-4)
            ours = {k: p.grad.numpy() for k, p in clf.network.named_parameters() if p.grad is not None}
            assert_params_close(ours, grads, rtol=0, atol=1e-4)
    assert max(s[2] for s in steps) > 10  # clipping was active


CASES = {"random": (np.random.RandomState(1).randn(5, 7), -1),
         "ties": ([[1, 1, 1, 0], [2, 2, -1, -1], [0, 0, 0, 0], [3, 1, 1, 1]], -1),
         "dim0": (np.random.RandomState(2).randn(6, 4), 0),
         "3d_dim1": (np.random.RandomState(3).randn(2, 5, 3), 1),
         "large": (np.random.RandomState(4).randn(4, 6) * 1e4, -1),
         "one_column": ([[3.0], [1.0]], -1)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_custom_functions_match_torch(case: str, dtype: str) -> None:
    values, dim = CASES[case]
    values = np.asarray(values, dtype)
    weights = np.random.RandomState(5).randn(*values.shape).astype(dtype)
    results = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            for fn in (m.sparsemax, m.entmax15):
                x = m.torch.tensor(values, requires_grad=True)
                inner = x * 1.0
                out = fn(inner, dim) if dim != -1 else fn(inner)  # dim omitted: backward's (grad, None) is one extra
                (out * m.torch.tensor(weights)).sum().backward()
                results.append((out.detach().numpy(), x.grad.numpy(), inner.detach().numpy()))  # forward's `-=`
            x = m.torch.tensor(values.ravel(), requires_grad=True)
            out = m.entmoid15(x * 1.0)
            out.sum().backward()
            results.append((out.detach().numpy(), x.grad.numpy()))
    tol = 1.2e-7 if dtype == "float32" else 3e-16
    for got, want in zip(results[3:], results[:3]):
        for a, b in zip(got, want):
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=0, atol=tol * max(1, np.abs(b).max()))


def test_custom_functions_pass_gradcheck() -> None:
    values = np.random.RandomState(3).randn(4, 6)
    with program(PATH, "ours") as m:
        for fn, dim in ((m.sparsemax, -1), (m.sparsemax, 0), (m.entmax15, -1), (m.entmax15, 0)):
            x = m.torch.tensor(values, requires_grad=True)
            assert m.torch.autograd.gradcheck(lambda t, fn=fn, dim=dim: fn(t * 1.0, dim), (x,), eps=1e-6, atol=1e-5)
        x = m.torch.tensor(values[0] * 2, requires_grad=True)
        assert m.torch.autograd.gradcheck(lambda t: m.entmoid15(t * 1.0), (x,), eps=1e-6, atol=1e-5)
        module = m.Sparsemax(dim=0)  # sets ``dim`` before Module.__init__, as the library does
        assert module.dim == 0 and list(module.parameters()) == []


def test_initialize_glu_and_non_glu_gains() -> None:
    """Ours draws its own weights (the other tests load torch's): xavier_normal_ with the library's computed gains
    gives each Linear the std gain * sqrt(2 / (fan_in + fan_out)) (torch's draws: ratios 0.94-1.08, mean 1.004)."""
    with program(PATH, "ours") as m:
        m.torch.manual_seed(0)
        ratios = []
        for name, module in m.make_model().named_modules():
            if isinstance(module, m.Linear):
                fan_out, fan_in = module.weight.shape
                glu = "glu_layers" in name or "shared_layers" in name
                gain = np.sqrt((fan_in + fan_out) / np.sqrt(fan_in if glu else 4 * fan_in))
                ratios.append(module.weight.detach().numpy().std() / (gain * np.sqrt(2 / (fan_in + fan_out))))
    assert len(ratios) == 14 and abs(np.mean(ratios) - 1) < 0.03 and min(ratios) > 0.8 and max(ratios) < 1.2
