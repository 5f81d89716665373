"""hf_gpt2.py (Hugging Face's modeling_gpt2 in plain PyTorch) on torch and, imports swapped, on ours, from torch's
initial weights and the same numpy token ids.

Forward: the logits of a whole sequence equal those computed with the past (a prefix, then one token at a time through
``layer_past`` / ``torch.cat`` presents), in each library and against torch's; left-padded rows under the ``(1.0 - mask)
* finfo.min`` attention mask with cumsum position ids give the logits of the same rows unpadded; the attention
probabilities of padded keys are zero; the shifted loss with -100 labels and its gradients; the same in float64 (exact)
and float16. ``reorder_and_upcast_attn`` (``baddbmm(beta=0)`` into ``torch.empty`` under a disabled autocast) with
``scale_attn_by_inverse_layer_idx`` and a per-layer ``head_mask``, in float32 and float16.
``attn_implementation="sdpa"`` (``F.scaled_dot_product_attention`` with ``is_causal``, with the 4-D float mask of
``_prepare_4d_causal_attention_mask_for_sdpa`` whose fully masked rows are unmasked, or with neither after the past)
against the eager model. GPT2ForSequenceClassification's two poolings of the last non-pad token and its three losses.
Generation: greedy (cached and uncached give the same tokens; with a repetition penalty; a left-padded batch), top-k /
top-p sampling with the draws from numpy uniforms, beam search's sequences and length-penalised scores (penalties 1 and
0.5, an eos token), the newer logits processors (TopP, Typical, Eta, MinLength) on logits with -inf, near-uniform and
one-hot rows, and ``top_k_top_p_filtering`` alone (tie-free logits for top-p: torch's unstable sort orders ties its own
way, ours stably, see README). Training: losses, gradient norms, learning rates, every parameter's gradient and value
after each of 8 AdamW steps; ``save_pretrained`` (the tied key left out) / ``from_pretrained`` (``strict=False``) keep
the tie and the logits, and so does ``resize_token_embeddings`` for the old tokens.

Ours warns ``RuntimeWarning: overflow encountered in add`` where HF adds ``finfo.min`` to a causally masked
``finfo.min`` (torch is silent; both give -inf there, and the rows' softmax agrees), and ``invalid value encountered in
multiply`` where TypicalLogitsWarper's entropy multiplies -inf by 0 (nan, which ``nansum`` skips, in both); the tests
let them through.

Tolerances (float32; summation order in the matmuls), measured / allowed: logits, cached logits, padded logits and
attention probabilities 1.2e-7 / 1e-6 (cached vs uncached and padded vs unpadded within a library, the same); the loss
9.5e-7 of 3.9 / rtol 1e-6; one backward's gradients 5.2e-8 / 1e-7; float64 logits 0 / 1e-12; float16 logits 4.9e-4 /
2e-3; the upcast path 1.2e-7 / 1e-6 (float32) and 4.9e-4 / 2e-3 (float16), its gradients 6e-8 / 1e-7 and 2.4e-4 / 1e-3;
the sdpa model's logits 1.5e-7 / 1e-6 (sdpa vs eager 1.2e-7 / 1e-6) and gradients 6e-8 / 1e-7; the processors' outputs
equal; the classifier's pooled logits and gradients 4.9e-7 / 2e-6 of the largest; greedy scores 1.2e-7, sampling
probabilities 3e-8 / 1e-6; beam scores 0 / 1e-6; over the 8 steps losses 7.2e-7 / rtol 1e-6, gradient norms 2.4e-7 /
rtol 1e-6, gradients 1.2e-7 / 3e-7, parameters 1.1e-7 / 1e-6, reloaded logits 2.4e-7 / 1e-6; learning rates equal. The
greedy steps' gaps between the two largest scores are checked to be above 1e-4 (measured 7.7e-3) and the sampling
uniforms' distances to the CDF steps above 1e-5 (measured 1.3e-4), so the tokens must be equal."""

from __future__ import annotations

import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "hf_gpt2.py"


def make(m: types.ModuleType) -> Any:
    """The tiny GPT-2 (n_embd 32, 4 heads, 2 layers, vocab 50, 16 positions) with dropout off."""
    return m.GPT2LMHeadModel(m.GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))


def close(ours: Any, theirs: Any, rtol: float = 0, atol: float = 1e-6, msg: str = "") -> None:
    """assert_allclose in float64 (of arrays, lists of arrays or numbers)."""
    np.testing.assert_allclose(np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64),
                               rtol=rtol, atol=atol, err_msg=msg)


def test_forward_cache_padding_and_loss(one_torch_thread: None) -> None:
    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        T = m.torch
        sd = model.state_dict()
        assert model.lm_head.weight is model.transformer.wte.weight
        assert "lm_head.weight" in sd and not any(k.endswith((".attn.bias", ".attn.masked_bias")) for k in sd)
        assert model.transformer.h[0].attn.bias.dtype == T.bool and model.transformer.h[0].attn.bias.shape == (
            1, 1, 16, 16)
        ids, mask, labels = m.make_batches(seed=1)[0]
        model.eval()
        out: dict = {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lg = model(T.from_numpy(ids))[0]
            out["logits"] = lg.detach().numpy()
            logits, past = model(T.from_numpy(ids[:, :5]), use_cache=True)
            steps = [logits]
            for t in range(5, ids.shape[1]):  # one token at a time through the past
                logits, past = model(T.from_numpy(ids[:, t:t + 1]), past_key_values=past, use_cache=True)
                steps.append(logits)
            assert len(past) == 2 and past[0][0].shape == (4, 4, 12, 8)
            out["cached"] = T.cat(steps, dim=1).detach().numpy()
            # left padding: the mask, cumsum positions; each row against itself unpadded
            am = T.from_numpy(mask)
            pos = am.long().cumsum(-1) - 1
            pos.masked_fill_(am == 0, 1)
            padded, _, attn = model(T.from_numpy(ids), attention_mask=am, position_ids=pos, use_cache=True,
                                    output_attentions=True)
            out["padded"] = padded.detach().numpy()
            out["attn"] = [a.detach().numpy() for a in attn]
            out["alone"] = [model(T.from_numpy(ids[i:i + 1, mask[i] == 1]))[0].detach().numpy()[0] for i in range(4)]
            loss = model(T.from_numpy(ids), attention_mask=am, position_ids=pos,
                                  labels=T.from_numpy(labels))[0]
            loss.backward()
            out["loss"] = loss.item()
            out["grads"] = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
            for dtype in ("double", "half"):
                low = make(m)
                low.load_state_dict(sd)
                getattr(low, dtype)().eval()
                whole = low(T.from_numpy(ids), attention_mask=am)[0]
                _, past = low(T.from_numpy(ids[:, :-1]), attention_mask=am[:, :-1], use_cache=True)
                last = low(T.from_numpy(ids[:, -1:]), past_key_values=past, attention_mask=am, use_cache=True)[0]
                assert whole.dtype == last.dtype == getattr(T, "float64" if dtype == "double" else "float16")
                out[dtype] = whole.detach().float().numpy()
                out[dtype + "_last"] = last.detach().float().numpy()
        out["warnings"] = {(w.category.__name__, str(w.message)) for w in caught}
        return out

    theirs, ours = from_torch_weights(PATH, make, run)
    assert theirs["warnings"] == set()
    assert ours["warnings"] <= {("RuntimeWarning", "overflow encountered in add")}  # torch is silent (see above)
    for out in (theirs, ours):
        close(out["cached"], out["logits"], msg="cached")
        mask = make_mask()
        for i in range(4):
            close(out["padded"][i, mask[i] == 1], out["alone"][i], msg=f"padded row {i}")
            for a in out["attn"]:  # no attention on the padding, rows sum to one
                assert (a[i][:, :, mask[i] == 0][:, mask[i] == 1] == 0).all()
                close(a.sum(-1), 1.0, atol=1e-6)
        np.testing.assert_allclose(out["double_last"][:, 0], out["double"][:, -1], rtol=0, atol=1e-12)
    for key in ("logits", "cached", "padded", "attn"):
        close(ours[key], theirs[key], msg=key)
    for i in range(4):
        close(ours["alone"][i], theirs["alone"][i])
    np.testing.assert_allclose(ours["double"], theirs["double"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["double_last"], theirs["double_last"], rtol=0, atol=1e-12)
    close(ours["half"], theirs["half"], atol=2e-3)
    close(ours["half_last"], theirs["half_last"], atol=2e-3)
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-6)
    assert_params_close(ours["grads"], theirs["grads"], rtol=0, atol=1e-7)
    assert set(ours["grads"]) == set(theirs["grads"]) and "lm_head.weight" not in ours["grads"]  # tied: one leaf


def make_mask() -> np.ndarray:
    """The attention mask of make_batches(seed=1)'s first batch."""
    with program(PATH, "torch") as t:
        return t.make_batches(seed=1)[0][1]


def test_init_weights() -> None:
    """Our own _init_weights (no torch weights): normal(0.02), c_proj weights by 1/sqrt(2 * n_layer), zero biases,
    LayerNorms at one, the tie."""
    with program(PATH, "ours") as m:
        m.torch.manual_seed(0)
        model = m.GPT2LMHeadModel(m.GPT2Config(n_embd=64, n_layer=2))
        sd = {k: v.numpy() for k, v in model.state_dict().items()}
    proj = np.concatenate([sd[f"transformer.h.{i}.{k}.c_proj.weight"].ravel()
                           for i in range(2) for k in ("attn", "mlp")])
    assert abs(proj.std() - 0.02 / 2) < 0.0005
    assert abs(sd["transformer.h.0.attn.c_attn.weight"].std() - 0.02) < 0.001
    assert abs(sd["transformer.wte.weight"].std() - 0.02) < 0.002
    assert abs(sd["transformer.wpe.weight"].std() - 0.02) < 0.002
    assert (sd["transformer.h.1.mlp.c_fc.bias"] == 0).all() and (sd["transformer.ln_f.weight"] == 1).all()
    np.testing.assert_array_equal(sd["lm_head.weight"], sd["transformer.wte.weight"])


def test_generation(one_torch_thread: None) -> None:
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal((5, 50)) * 2).astype(np.float32)
    ties = logits.copy()
    ties[0, :10] = 1.0
    uniforms = np.random.default_rng(1).random((6, 4))

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        T = m.torch
        model.eval()
        ids, mask, _ = m.make_batches(seed=2, seq_len=8)[0]
        prompt = T.from_numpy(ids[:, -4:])
        out: dict = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # ours' overflow warning (see the module docstring)
            out["greedy"], out["scores"] = (x.numpy() for x in m.greedy_search(model, prompt, 8))
            uncached = m.greedy_search(model, prompt, 8, use_cache=False)
            np.testing.assert_array_equal(uncached[0].numpy(), out["greedy"])
            close(uncached[1].numpy(), out["scores"], msg="uncached scores")
            out["penalised"], out["p_scores"] = (x.numpy() for x in m.greedy_search(model, prompt, 8,
                                                                                     repetition_penalty=1.3))
            out["left"], out["l_scores"] = (x.numpy() for x in m.greedy_search(
                model, T.from_numpy(ids), 4, attention_mask=T.from_numpy(mask)))
            out["sample"], out["probs"] = (x.numpy() for x in m.sample(
                model, T.from_numpy(ids), 6, uniforms, temperature=0.7, top_k=10, top_p=0.9, repetition_penalty=1.2,
                attention_mask=T.from_numpy(mask)))
            for penalty in (1.0, 0.5):
                seqs, scores = m.beam_search(model, T.from_numpy(ids[:2, -3:]), 10, num_beams=3,
                                             length_penalty=penalty, eos_token_id=7)
                out[f"beam{penalty}"] = [s.numpy() for s in seqs]
                out[f"beam_scores{penalty}"] = scores
        for k, p in [(0, 0.8), (5, 1.0), (3, 0.5), (0, 0.3)]:
            out[f"filter{k}{p}"] = m.top_k_top_p_filtering(T.from_numpy(logits), top_k=k, top_p=p).numpy()
        out["filter_min"] = m.top_k_top_p_filtering(T.from_numpy(logits), top_p=0.1, min_tokens_to_keep=3).numpy()
        out["filter_ties"] = m.top_k_top_p_filtering(T.from_numpy(ties), top_k=16).numpy()
        warped = logits.copy()
        warped[1, :20] = -np.inf  # already filtered tokens: -inf * 0 in the entropies (nansum skips them)
        warped[2] *= 1e-3  # nearly uniform
        warped[3, 5] = 60.0  # one certain token
        for name, warper in [("top_p", m.TopPLogitsWarper(0.8)),
                             ("top_p2", m.TopPLogitsWarper(0.05, min_tokens_to_keep=2)),
                             ("typical", m.TypicalLogitsWarper(0.9)),
                             ("typical2", m.TypicalLogitsWarper(0.2, min_tokens_to_keep=3)),
                             ("eta", m.EtaLogitsWarper(0.01)), ("eta2", m.EtaLogitsWarper(3e-4, min_tokens_to_keep=4)),
                             ("min_length", m.MinLengthLogitsProcessor(5, 7)),
                             ("min_length2", m.MinLengthLogitsProcessor(2, [7, 9]))]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # ours' invalid-value warning for -inf * 0
                out["filter_" + name] = warper(T.zeros((5, 3), dtype=T.long), T.from_numpy(warped)).numpy()
        previous = T.from_numpy(np.array([[1, 2, 2], [0, 0, 0], [4, 5, 6], [7, 8, 9], [1, 1, 1]]))
        out["repetition"] = m.apply_repetition_penalty(previous, T.from_numpy(logits.copy()), 1.5).numpy()
        return out

    theirs, ours = from_torch_weights(PATH, make, run)
    for out in (theirs, ours):
        for key in ("scores", "p_scores", "l_scores"):
            top = np.sort(out[key], axis=-1)
            assert (top[..., -1] - top[..., -2]).min() > 1e-4, key
        cdf = np.cumsum(out["probs"], axis=-1)
        assert np.abs(cdf - uniforms.T[:, :, None]).min() > 1e-5
        assert np.isfinite(out["filter_ties"][0]).sum() == 24  # the 16th largest is one of 10 ties: all are kept
        kept = {k: np.isfinite(v).sum(-1).tolist() for k, v in out.items() if k.startswith("filter_")}
        assert kept["filter_min_length"] == [49, 30, 49, 49, 49]  # eos gone, before min_length
        assert kept["filter_min_length2"] == [50, 30, 50, 50, 50]
        assert kept["filter_eta"][2] == 50 and kept["filter_typical"][3] == 1 and kept["filter_top_p2"][0] == 2
    for key in ("greedy", "penalised", "left", "sample"):
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    assert not (ours["penalised"] == ours["greedy"]).all()
    for key in ("scores", "p_scores", "l_scores", "probs"):
        close(ours[key], theirs[key], msg=key)
    for penalty in (1.0, 0.5):
        for got, want in zip(ours[f"beam{penalty}"], theirs[f"beam{penalty}"], strict=True):
            np.testing.assert_array_equal(got, want)
        close(ours[f"beam_scores{penalty}"], theirs[f"beam_scores{penalty}"], msg="beam scores")
    for key in [k for k in theirs if k.startswith("filter")] + ["repetition"]:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_training_and_save_pretrained(one_torch_thread: None, tmp_path: Path) -> None:
    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        T = m.torch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # ours' overflow warning (see the module docstring)
            log = m.train(model, m.make_batches(seed=0))
            model.save_pretrained(str(tmp_path / lib))
            saved = T.load(str(tmp_path / lib / "pytorch_model.bin"))
            assert "lm_head.weight" not in saved and len(saved) == len(model.state_dict()) - 1
            loaded = m.GPT2LMHeadModel.from_pretrained(str(tmp_path / lib), model.config)
            result = m.GPT2LMHeadModel(model.config).load_state_dict(saved, strict=False)
            assert result.missing_keys == ["lm_head.weight"] and result.unexpected_keys == []
            assert loaded.lm_head.weight is loaded.transformer.wte.weight and not loaded.training
            for k, v in loaded.state_dict().items():
                np.testing.assert_array_equal(v.numpy(), log["params"][-1][k], err_msg=k)
            ids = T.from_numpy(m.make_batches(seed=5)[0][0])
            model.eval()
            log["reloaded"] = loaded(ids)[0].detach().numpy()
            np.testing.assert_array_equal(log["reloaded"], model(ids)[0].detach().numpy())
            # resize_token_embeddings: six new rows drawn by _init_weights, the old ones kept, the tie renewed
            loaded.resize_token_embeddings(56)
            wte = loaded.transformer.wte.weight
            assert loaded.lm_head.weight is wte and loaded.lm_head.out_features == 56 and wte.shape == (56, 32)
            np.testing.assert_array_equal(wte[:50].detach().numpy(), log["params"][-1]["transformer.wte.weight"])
            assert 0.005 < wte[50:].std().item() < 0.05
            resized = loaded(ids)[0]
            assert resized.shape == (4, 12, 56)
            close(resized[..., :50].detach().numpy(), log["reloaded"], atol=1e-6)  # (another matmul blocking)
        return log

    theirs, ours = from_torch_weights(PATH, make, run)
    assert ours["lr"] == theirs["lr"] and len(ours["lr"]) == 8
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-6)
    np.testing.assert_allclose(ours["norm"], theirs["norm"], rtol=1e-6)
    for step in range(8):
        assert_params_close(ours["grads"][step], theirs["grads"][step], rtol=0, atol=3e-7)
        assert_params_close(ours["params"][step], theirs["params"][step], rtol=0, atol=1e-6)
    close(ours["reloaded"], theirs["reloaded"])
    assert ours["loss"][-1] < 0.95 * ours["loss"][0]


@pytest.mark.parametrize("dtype", ["float", "half"])
def test_upcast_reordered_attention_and_head_mask(one_torch_thread: None, dtype: str) -> None:
    """``reorder_and_upcast_attn`` (``torch.baddbmm`` into a ``torch.empty`` with ``beta=0`` under a disabled
    ``torch.amp.autocast``, float32 attention cast back by ``.type``) with ``scale_attn_by_inverse_layer_idx``,
    against the plain path, and a (n_layer, n_head) ``head_mask`` through ``get_head_mask``; in float32 and float16."""
    ids, mask, labels = make_batches_np()
    head_mask = np.array([[1, 0, 1, 1], [0.5, 1, 1, 0]], np.float32)

    def make_upcast(m: types.ModuleType) -> Any:
        return m.GPT2LMHeadModel(m.GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                              scale_attn_by_inverse_layer_idx=True, reorder_and_upcast_attn=True))

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        T = m.torch
        plain = m.GPT2LMHeadModel(m.GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                               scale_attn_by_inverse_layer_idx=True))
        plain.load_state_dict(model.state_dict())
        out: dict = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # ours' overflow warning (see the module docstring)
            for name, net in (("upcast", model), ("plain", plain)):
                getattr(net, dtype)()
                kw = {"attention_mask": T.from_numpy(mask), "head_mask": T.from_numpy(head_mask)}
                loss, logits, _, attn = net(T.from_numpy(ids), labels=T.from_numpy(labels), use_cache=True,
                                            output_attentions=True, **kw)
                assert attn[0].dtype == logits.dtype == getattr(T, "float16" if dtype == "half" else "float32")
                loss.backward()
                out[name] = logits.detach().float().numpy()
                out[name + "_attn"] = [a.detach().float().numpy() for a in attn]
                out[name + "_loss"] = loss.item()
                out[name + "_grads"] = {n: p.grad.float().numpy().copy() for n, p in net.named_parameters()}
        return out

    theirs, ours = from_torch_weights(PATH, make_upcast, run)
    atol = 2e-3 if dtype == "half" else 1e-6
    for out in (theirs, ours):
        assert (out["upcast_attn"][0][:, 1] == 0).all() and (out["upcast_attn"][1][:, 3] == 0).all()  # masked heads
        # (at the padding, fp16's finfo.min + finfo.min = -inf on the plain path only: there they differ)
        close(out["upcast"][mask == 1], out["plain"][mask == 1], atol=atol)
    for key in ("upcast", "plain", "upcast_attn", "plain_attn"):
        close(ours[key], theirs[key], atol=atol, msg=key)
    for key in ("upcast", "plain"):
        assert ours[key + "_loss"] == pytest.approx(theirs[key + "_loss"], rel=1e-3 if dtype == "half" else 1e-6)
        assert_params_close(ours[key + "_grads"], theirs[key + "_grads"], rtol=0,
                            atol=1e-3 if dtype == "half" else 1e-7)


def make_batches_np() -> tuple:
    """make_batches(seed=4)'s first batch (numpy only)."""
    with program(PATH, "torch") as t:
        return t.make_batches(seed=4)[0]


@pytest.mark.parametrize("old_pooling", [False, True])
def test_sequence_classification(one_torch_thread: None, old_pooling: bool) -> None:
    """GPT2ForSequenceClassification: the last non-pad token pooled by ``torch.eq(...).int().argmax(-1) - 1`` modulo
    the length (old) or by the int32 ``token_indices * non_pad_mask`` argmax (new), under right padding (and one
    unpadded row, where the old way wraps -1 to the last token), indexed by ``logits[torch.arange(b), idx]``; the
    single-label, multi-label and regression losses and their gradients."""
    rng = np.random.default_rng(6)
    ids = rng.integers(0, 49, (4, 10))
    lengths = np.array([10, 7, 3, 1])
    ids[np.arange(10)[None] >= lengths[:, None]] = 49
    targets = {"single_label_classification": (rng.integers(0, 3, 4), 3),
               "multi_label_classification": ((rng.random((4, 3)) > 0.5).astype(np.float32), 3),
               "regression": (rng.standard_normal(4).astype(np.float32), 1)}

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        T = m.torch
        out: dict = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # ours' overflow warning (see the module docstring)
            for problem, (y, num_labels) in targets.items():
                T.manual_seed(1)
                net = m.GPT2ForSequenceClassification(model.config, num_labels=num_labels, old_pooling=old_pooling)
                net.transformer.load_state_dict(model.transformer.state_dict())
                net.score.weight.data.copy_(T.from_numpy(np.sin(np.arange(num_labels * 32, dtype=np.float32))
                                                        .reshape(num_labels, 32)))
                loss, pooled = net(T.from_numpy(ids), attention_mask=T.from_numpy((ids != 49).astype(np.int64)),
                                   labels=T.from_numpy(y))
                assert net.problem_type == problem
                loss.backward()
                full = net.score(net.transformer(T.from_numpy(ids))[0])
                out[problem] = (loss.item(), pooled.detach().numpy(), net.score.weight.grad.numpy().copy(),
                                net.transformer.wte.weight.grad.numpy().copy())
                out[problem + "_full"] = full.detach().numpy()
        return out

    theirs, ours = from_torch_weights(PATH, make_classifier_config, run)
    for problem in targets:
        assert ours[problem][0] == pytest.approx(theirs[problem][0], rel=1e-6)
        for got, want in zip(ours[problem][1:], theirs[problem][1:], strict=True):  # within 2e-6 of the largest
            close(got, want, atol=2e-6 * np.abs(want).max())
        for out in (ours, theirs):  # the pooled row is the last real token's (with the padding masked out)
            np.testing.assert_array_equal(out[problem][1][3], out[problem + "_full"][3, 0])


def make_classifier_config(m: types.ModuleType) -> Any:
    """The base model whose ``transformer`` and ``config`` (pad token 49) the classifiers take."""
    return m.GPT2LMHeadModel(m.GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, pad_token_id=49))


def test_sdpa_attention(one_torch_thread: None) -> None:
    """``attn_implementation="sdpa"``: ``F.scaled_dot_product_attention`` with ``is_causal=True`` (no mask), with
    the 4-D float mask of ``_prepare_4d_causal_attention_mask_for_sdpa`` (``finfo.min``, the past's zero columns,
    the fully masked rows of left padding unmasked by ``mul(~torch.all(...))``), and with neither (one query after
    the past), against the eager model and torch's: logits, the loss's gradients, and a left-padded greedy search."""
    ids, mask, labels = make_batches_np()

    def make_sdpa(m: types.ModuleType) -> Any:
        return m.GPT2LMHeadModel(m.GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                              attn_implementation="sdpa"))

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        T = m.torch
        eager = make(m)
        eager.load_state_dict(model.state_dict())
        assert type(model.transformer.h[1].attn).__name__ == "GPT2SdpaAttention"
        out: dict = {}
        am = T.from_numpy(mask)
        pos = am.long().cumsum(-1) - 1
        pos.masked_fill_(am == 0, 1)
        four_d = m._prepare_4d_causal_attention_mask_for_sdpa(am[:, :9], (4, 3), model.transformer.wte.weight, 6)
        out["mask"] = four_d.numpy()
        whole = m._prepare_4d_causal_attention_mask_for_sdpa(am, (4, 12), model.transformer.wte.weight, 0).numpy()
        assert (whole[3, 0, :6] == 0).all() and (whole[3, 0, 6:, :6] < -1e38).all()  # padding rows: all keys
        out["whole_mask"] = whole
        assert m._prepare_4d_causal_attention_mask_for_sdpa(None, (4, 1), model.transformer.wte.weight, 5) is None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # ours' overflow warning (see the module docstring)
            for name, net in (("sdpa", model), ("eager", eager)):
                out[name + "_causal"] = net(T.from_numpy(ids))[0].detach().numpy()
                loss, logits, past = net(T.from_numpy(ids[:, :-1]), attention_mask=am[:, :-1],
                                         position_ids=pos[:, :-1], labels=T.from_numpy(labels[:, :-1]),
                                         use_cache=True)
                loss.backward()
                out[name + "_padded"] = logits.detach().numpy()
                out[name + "_grads"] = {n: p.grad.numpy().copy() for n, p in net.named_parameters()}
                out[name + "_step"] = net(T.from_numpy(ids[:, -1:]), past_key_values=past, attention_mask=am,
                                          position_ids=pos[:, -1:])[0].detach().numpy()
                out[name + "_nomask_step"] = net(T.from_numpy(ids[:, -1:]), past_key_values=past,
                                                 position_ids=pos[:, -1:])[0].detach().numpy()
                out[name + "_greedy"] = m.greedy_search(net, T.from_numpy(ids[:, :8]), 5,
                                                        attention_mask=am[:, :8])[0].numpy()
        return out

    theirs, ours = from_torch_weights(PATH, make_sdpa, run)
    for out in (theirs, ours):
        rows = mask == 1
        for key in ("causal", "step"):
            close(out["sdpa_" + key], out["eager_" + key], msg=key)
        full = rows.all(1)  # unmasked, a padded row's step sees the pads' past, which the two paths fill differently
        close(out["sdpa_nomask_step"][full], out["eager_nomask_step"][full], msg="nomask_step")
        close(out["sdpa_padded"][rows[:, :-1]], out["eager_padded"][rows[:, :-1]], msg="padded")
        np.testing.assert_array_equal(out["sdpa_greedy"], out["eager_greedy"])
        assert (out["mask"][:3, ..., :6] == 0).all() and out["mask"].shape == (4, 1, 3, 9)  # the past, unpadded
    np.testing.assert_array_equal(ours["mask"], theirs["mask"])
    np.testing.assert_array_equal(ours["whole_mask"], theirs["whole_mask"])
    for key in [k for k in theirs if k.startswith(("sdpa_", "eager_")) and not k.endswith(("_grads", "_greedy"))]:
        close(ours[key], theirs[key], msg=key)
    for name in ("sdpa", "eager"):
        assert_params_close(ours[name + "_grads"], theirs[name + "_grads"], rtol=0, atol=1e-7)
        np.testing.assert_array_equal(ours[name + "_greedy"], theirs[name + "_greedy"])
