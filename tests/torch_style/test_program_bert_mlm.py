"""``bert_mlm.py`` (a BERT-mini masked-LM pretraining program, 2019-2022 "BERT from scratch" style) run on torch and,
imports swapped, on ours from torch's initial weights and the same batches and masking draws (from numpy): the
masked inputs and labels, total and MLM losses, masked-token accuracies, learning rates, gradient norms, the
attention probabilities caught by forward hooks, the printed lines, the final parameters, a checkpoint resume
(which must equal the uninterrupted run, bit for bit, in each library), the tied decoder weight, and ``fill_mask``'s
top-5 after ``model.eval()`` with the returned attentions; for HF's current spelling (``finfo.min`` mask, a
``position_ids`` buffer, ``F.gelu``, NSP), the old one (``-10000.0``, ``arange(...).expand_as``, the hand-written
tanh GELU, no NSP) and ``nn.GELU(approximate='tanh')``. Dropout is 0 (the two generators differ); torch's own
``bernoulli`` / ``randint`` masking path runs on both for shapes, dtypes and the 80-10-10 rules.

Tolerances: float32; the runs differ by summation order in the matmuls and reductions. Measured over 10 AdamW
steps (lr 5e-3, warmup 2), all three variants: losses within 4.8e-7 (of ~4), gradient norms within 4.8e-7 (of
~2.5), attention probabilities within 3.8e-8, parameters within 1.3e-7, top-5 probabilities within 8e-9; over the
40-step learning run losses within 4.8e-7, norms within 2.4e-7, top-5 probabilities within 2.3e-8, parameters
within 1.1e-6 (one element; Adam's step divides by sqrt(v)). We allow rtol 1e-5 and atol 1e-6 for the series,
atol 1e-6 for probabilities and parameters (3e-6 for the 40 steps). Accuracies are counts over the masked tokens
and must be equal; the top-5 ids must be equal where the probabilities are not within 1e-5 of a tie. Learning
rates are computed from Python floats and must be equal."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-6}
VARIANTS = {"hf": {}, "old": {"mask_style": "10000", "position_buffer": False, "hidden_act": "gelu_new", "nsp": False},
            "gelu_tanh_module": {"hidden_act": "gelu_tanh"}}


def make_batches(m, n_batches: int = 4, batch_size: int = 8) -> list:
    """``n_batches`` of the program's corpus with masking draws from numpy: the ``train`` batch tuples."""
    ids, types, attention, nsp = m.make_corpus(n_batches * batch_size)
    rng, shape = np.random.default_rng(1), (batch_size, 12)
    batches = []
    for b in range(n_batches):
        rows = slice(batch_size * b, batch_size * (b + 1))
        draws = {key: rng.random(shape) for key in ("u_mask", "u_replace", "u_random")}
        draws["random_words"] = rng.integers(0, 30, shape)
        batches.append((ids[rows], types[rows], attention[rows], nsp[rows], draws))
    return batches


def both(total: int, save_at: int | None = None, **options: object) -> tuple[dict, dict]:
    def make(m):
        return m.BertForPreTraining(m.BertConfig(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **options))

    def run(m, model, lib):
        batches = make_batches(m)
        out = m.train(model, batches, total=total, save_at=save_at)
        word = model.embeddings.word_embeddings.weight
        out["tied"] = model.predictions.decoder.weight is word and sum(p is word for p in model.parameters()) == 1
        probe = m.torch.from_numpy(batches[0][0][:1].copy())
        probe[0, 3] = m.MASK
        values, indices, attentions = m.fill_mask(model, probe, m.torch.from_numpy(batches[0][2][:1]))
        out["fill"] = (values.numpy(), indices.numpy(), [a.numpy() for a in attentions], model.training)
        if save_at is not None:
            fresh = m.BertForPreTraining(model.config)
            out["resumed"] = m.train(fresh, batches, total=total, checkpoint=out["saved"])
            out["resumed"]["tied"] = fresh.predictions.decoder.weight is fresh.embeddings.word_embeddings.weight
        return out

    return from_torch_weights(HERE / "bert_mlm.py", make, run)


def agree(theirs: dict, ours: dict, param_atol: float = 1e-6) -> None:
    for key in ("loss", "mlm_loss", "norm"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert ours["acc"] == theirs["acc"] and ours["lr"] == theirs["lr"]
    assert [len(a) for a in ours["attn"]] == [len(a) for a in theirs["attn"]]
    for step, (got, want) in enumerate(zip(ours["attn"], theirs["attn"], strict=True)):
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape == (8, 2, 12, 12) and a.dtype == b.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6, err_msg=f"attention probabilities at step {step}")
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        got, want = got.split(), want.split()  # "step 1/10 loss 4.1078 acc 0.000 lr 2.50e-03"
        assert float(got.pop(3)) == pytest.approx(float(want.pop(3)), abs=1.1e-4) and got == want
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=param_atol)
    values, indices, attentions, training = ours["fill"]
    want_values, want_indices, want_attentions, _ = theirs["fill"]
    assert indices.dtype == want_indices.dtype == np.int64 and values.shape == (5,) and not training
    np.testing.assert_allclose(values, want_values, rtol=0, atol=1e-6)
    clear = np.append(np.diff(-want_values) > 1e-5, True)  # a near-tie may order either way
    assert (indices[clear] == want_indices[clear]).all()
    for a, b in zip(attentions, want_attentions, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
        np.testing.assert_allclose(a.sum(-1), 1, rtol=1e-6)
    assert ours["tied"] and theirs["tied"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_bert_mlm_pretraining_and_resume_match_torch(one_torch_thread: None, variant: str) -> None:
    theirs, ours = both(10, save_at=5, **VARIANTS[variant])
    agree(theirs, ours)
    for run in (theirs, ours):  # the resume reproduces the uninterrupted run exactly, in each library
        resumed = run["resumed"]
        assert resumed["tied"] and len(resumed["loss"]) == 5
        for key in ("loss", "acc", "lr", "norm", "lines"):
            assert resumed[key] == run[key][5:], key
        for name, p in run["params"].items():
            np.testing.assert_array_equal(resumed["params"][name], p, err_msg=name)
    assert ours["lr"][:3] == [0.0025, 0.005, 0.004375] and ours["lr"][-1] == 0.0


def test_bert_mlm_learns_like_torch(one_torch_thread: None) -> None:
    theirs, ours = both(40)
    agree(theirs, ours, param_atol=3e-6)
    assert np.mean(ours["mlm_loss"][-4:]) < 0.8 * np.mean(ours["mlm_loss"][:4])  # torch's run: 3.40 -> 2.49
    assert np.mean(ours["acc"][-4:]) > 0.4  # torch's run: 0.59


def test_codertimo_bert_matches_torch(one_torch_thread: None) -> None:
    """codertimo/BERT-pytorch's model and trainer: 16 Noam-scheduled Adam steps. Measured: losses within 4.8e-7,
    last-layer attention maps within 9e-8, parameters within 1.2e-7."""
    theirs, ours = from_torch_weights(HERE / "bert_mlm.py", lambda m: m.BERTLM(30),
                                      lambda m, model, lib: m.train_codertimo(model, make_batches(m), total=16))
    np.testing.assert_allclose(ours["loss"], theirs["loss"], **TOL)
    assert ours["lr"] == theirs["lr"] and ours["acc"] == theirs["acc"]
    for got, want in zip(ours["attn"], theirs["attn"], strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=1e-6)
    assert np.mean(ours["loss"][-4:]) < 0.8 * np.mean(ours["loss"][:4])  # torch's run: 4.7 -> 3.2


def test_mask_tokens_on_each_generator() -> None:
    """torch's own bernoulli / randint path in both libraries: shapes, dtypes and DataCollatorForLanguageModeling's
    rules; the numpy-draws path gives the same masks in both."""
    masked = {}
    for lib in ("torch", "ours"):
        with program(HERE / "bert_mlm.py", lib) as m:
            ids = m.make_corpus(200)[0]
            m.torch.manual_seed(0)
            inputs, labels = m.mask_tokens(m.torch.from_numpy(ids.copy()), 30)
            assert inputs.shape == labels.shape == ids.shape and inputs.dtype == labels.dtype == m.torch.int64
            inputs, labels = inputs.numpy(), labels.numpy()
            chosen = labels != -100
            special = np.isin(ids, [m.PAD, m.CLS, m.SEP])
            assert not (chosen & special).any() and (labels[chosen] == ids[chosen]).all()
            assert (inputs[~chosen] == ids[~chosen]).all() and ((inputs >= 0) & (inputs < 30)).all()
            assert 0.1 < chosen.sum() / (~special).sum() < 0.2  # 15% of the maskable tokens (binomial, n ~ 1400)
            assert 0.65 < (inputs[chosen] == m.MASK).mean() < 0.95
            batch = make_batches(m, 1, 200)[0]
            inputs, labels = m.mask_tokens(m.torch.from_numpy(batch[0].copy()), 30, draws=batch[4])
            masked[lib] = (inputs.numpy(), labels.numpy())
    for got, want in zip(masked["ours"], masked["torch"], strict=True):
        assert got.dtype == want.dtype == np.int64
        np.testing.assert_array_equal(got, want)


def test_dropout_trains_and_eval_is_deterministic() -> None:
    """The default config (dropout 0.1, which the two generators draw differently): on ours, train-mode forwards
    differ, ``model.eval()`` ones repeat, and ``fill_mask`` leaves the model in eval mode."""
    with program(HERE / "bert_mlm.py", "ours") as m:
        m.torch.manual_seed(0)
        model = m.BertForPreTraining(m.BertConfig())
        ids, types, attention, _ = (m.torch.from_numpy(a) for a in m.make_corpus(4))
        first, second = (model(ids, attention, types)[0].detach().numpy() for _ in range(2))
        assert not np.array_equal(first, second)
        _, indices, _ = m.fill_mask(model, ids[:1].masked_fill(ids[:1] == m.SEP, m.MASK), attention[:1])
        assert not model.training and indices.shape == (5,)
        again = [model(ids, attention, types)[0].detach().numpy() for _ in range(2)]
        np.testing.assert_array_equal(*again)
