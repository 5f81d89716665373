"""whisper_model.py (OpenAI whisper's model.py at a tiny ModelDimensions, with decoding.py's kv-cached greedy loop and
timing.py's cross-attention weights) run on torch and, imports swapped, on ours, from torch's initial weights and
the same numpy log-mels / token ids.

The data: 4-sample batches of (8 mels x 32 frames) whose first 4 n frames hold a codebook row per token of a random
body of n tokens (2..7, from 6 ids) over noise; tokens ``SOT body`` padded with EOT, labels ``body EOT`` padded with
-100. Six AdamW steps of teacher forcing, then greedy decoding of the first batch with and without the kv cache
(after the first pass only the last token is fed, its position offset read from the cache), by
``scaled_dot_product_attention`` and by the manual ``mask[:n_ctx, :n_ctx]`` path (``disable_sdpa``).

Tolerances: float32, the runs differ by summation order. Measured: losses within 4.8e-7 (of 2.6 to 3.5), gradient
norms within 4.8e-7; parameters within 7.9e-6, already after the first step and no more after the sixth: AdamW's
first update is ``lr * g / (|g| + eps)``, and on gradient entries of 1e-8..3e-8 (``decoder.blocks.1.attn.key``,
whose gradient cancels as softmax does not see a shift of the keys; a few MLP weights behind near-dead GELUs) a
float32 rounding difference of 3e-9 in g moves that update by up to 8e-6 of lr 3e-3. Decoding: each library's
cached logits equal its uncached ones within 7.2e-7 (summed log-probs within 9.5e-7), the SDPA and manual paths
within 4.8e-7 of each other, ours within 7.2e-7 of torch's; the smallest gap between the two largest logits of a
live step is checked above 1e-3 (measured 1.7e-3), so the tokens must be equal. A beam-like run (two hypotheses
per audio, ``rearrange_kv_cache([1, 1, 2, 2])``, two more steps; gaps 0.042): cached logits within 3.6e-7 of the
uncached ones, ours within 6.0e-7 of torch's, the same tokens. The manual path's QK scores within 4.8e-7;
timing.py's weights within 2.6e-5 (softmaxed, then divided by their std over the tokens, which is small).
We allow rtol 2e-6 / atol 1e-6 on the series, atol 2e-5 on parameters, atol 1e-5 on logits, log-probabilities and
scores, and 6e-5 on the standardised weights.

Float16: torch's CPU ``layer_norm`` refuses float16 weights under the float32 input whisper's LayerNorm hands it
("mixed dtype (CPU)"), so ``model.half()`` alone raises on torch's CPU, and on ours (checked; whisper itself falls
back to float32 there); run instead are float16 mels through the float32 model (whisper's Linear / Conv1d cast
their weights to the input's dtype, its LayerNorm computes in float32) and ``model.half()`` with the LayerNorms
put back to float32. Measured: audio features within 4.9e-3 (of up to 3.0; 2.5 float16 steps), logits within
2.0e-3 (of up to 1.5; 2 steps); allowed 1e-2 / 4e-3. The greedy tokens (gaps above 0.13, checked above 0.05) are
equal."""

from __future__ import annotations

import base64
import gzip
import types
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "whisper_model.py"
V, SOT, EOT = 40, 38, 39
TOL = {"rtol": 2e-6, "atol": 1e-6}


def make(m: types.ModuleType) -> Any:
    """A 2-layer, 2-head Whisper of width 32 over 8 mels; the decoder's ``torch.empty`` positions (loaded from a
    checkpoint in whisper) and its token embedding drawn small, as a fine-tuning start."""
    dims = m.ModelDimensions(n_mels=8, n_audio_ctx=16, n_audio_state=32, n_audio_head=2, n_audio_layer=2,
                             n_vocab=V, n_text_ctx=12, n_text_state=32, n_text_head=2, n_text_layer=2)
    model = m.Whisper(dims)
    with m.torch.no_grad():
        model.decoder.positional_embedding.normal_(0, 0.02)
        model.decoder.token_embedding.weight.normal_(0, 0.1)
    return model


def batches(n: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``n`` (mel (4, 8, 32) float32, tokens (4, 9), labels (4, 9) with -100) batches."""
    rng = np.random.default_rng(seed)
    codebook = rng.standard_normal((V, 8)).astype(np.float32)
    out = []
    for _ in range(n):
        mel = 0.1 * rng.standard_normal((4, 8, 32)).astype(np.float32)
        tokens, labels = np.full((4, 9), EOT), np.full((4, 9), -100)
        for b in range(4):
            body = rng.integers(0, 6, rng.integers(2, 8))
            mel[b, :, :4 * len(body)] += np.repeat(codebook[body].T, 4, axis=1)
            seq = np.concatenate([[SOT], body, [EOT]])
            tokens[b, :len(seq) - 1], labels[b, :len(seq) - 1] = seq[:-1], seq[1:]
        out.append((mel, tokens, labels))
    return out


def decoded(m: types.ModuleType, model: Any, mel: Any, cached: bool) -> dict:
    """greedy_decode's results as numpy, with the smallest top-2 gap of the steps whose row was still live."""
    out = m.greedy_decode(model, mel, (SOT,), EOT, 10, cached=cached)
    logits, tokens = out["logits"].numpy(), out["tokens"].numpy()
    top = np.sort(logits, axis=-1)
    live = tokens[:, :logits.shape[1]] != EOT
    return {"logits": logits, "tokens": tokens, "sum_logprobs": out["sum_logprobs"].numpy(),
            "cache_len": sorted(out["cache_len"].values()), "gap": (top[..., -1] - top[..., -2])[live].min()}


def rearranged(m: types.ModuleType, model: Any, mel: Any) -> dict:
    """Beam-search-like use of PyTorchInference: two hypotheses per audio (the best and the second-best first
    token), then ``rearrange_kv_cache([1, 1, 2, 2])`` keeps one of each audio's, two more greedy steps; each step's
    cached logits, and the uncached logits of the final tokens."""
    inference = m.PyTorchInference(model, 1)
    with m.torch.no_grad():
        audio = model.embed_audio(mel[[0, 0, 1, 1]])
        tokens = m.torch.tensor([[SOT]] * 4)
        steps = [inference.logits(tokens, audio)[:, -1]]
        first = steps[-1].topk(2, dim=-1).indices[m.torch.arange(4), m.torch.tensor([0, 1, 0, 1])]
        tokens = m.torch.cat([tokens, first[:, None]], dim=-1)
        for i in range(3):
            if i == 1:
                tokens = tokens[[1, 1, 2, 2]]
                inference.rearrange_kv_cache([1, 1, 2, 2])
            steps.append(inference.logits(tokens, audio)[:, -1])
            tokens = m.torch.cat([tokens, steps[-1].argmax(dim=-1)[:, None]], dim=-1)
        inference.cleanup_caching()
        full = model.decoder(tokens[:, :-1], audio)
    return {"cached": m.torch.stack(steps, dim=1).numpy(), "full": full.numpy(), "tokens": tokens.numpy()}


def fine_tune_and_decode(m: types.ModuleType, model: Any, lib: str) -> dict:
    """Six AdamW steps, then greedy decoding (cached and not, SDPA and manual), a rearranged cache, the manual
    path's masked QK scores of a teacher-forced pass, and timing.py's cross-attention weights of the alignment
    heads."""
    data = batches(6)
    out = m.train(model, data)
    model.eval()
    mel = m.torch.from_numpy(data[0][0])
    out["sdpa"] = {c: decoded(m, model, mel, c) for c in (True, False)}
    out["beams"] = rearranged(m, model, mel)
    with m.disable_sdpa():
        assert not m.MultiHeadAttention.use_sdpa
        out["manual"] = {c: decoded(m, model, mel, c) for c in (True, False)}
        caught = []
        hook = model.decoder.blocks[0].attn.register_forward_hook(lambda mod, i, o: caught.append(o[1]))
        model.logits(m.torch.from_numpy(data[0][1]), model.embed_audio(mel))
        hook.remove()
        assert caught[0].requires_grad is False and tuple(caught[0].shape) == (4, 2, 9, 9)
        out["qk"] = caught[0].numpy()
    assert m.MultiHeadAttention.use_sdpa
    tokens = m.torch.from_numpy(out["sdpa"][True]["tokens"][2])
    weights, probs = m.cross_attention_weights(model, mel[2], tokens)
    out["weights"], out["probs"] = weights.numpy(), probs.numpy()
    assert not model.decoder.blocks[0].cross_attn._forward_hooks  # the hooks were removed
    return out


def test_whisper_fine_tunes_and_decodes_like_torch(one_torch_thread: None) -> None:
    theirs, ours = from_torch_weights(PATH, make, fine_tune_and_decode)
    for key in ("loss", "norm"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    for step, (got, want) in enumerate(zip(ours["params"], theirs["params"], strict=True)):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=2e-5, err_msg=f"{step} {name}")
    assert ours["loss"][-1] < 0.8 * ours["loss"][0]
    for out in (theirs, ours):
        for path in ("sdpa", "manual"):
            cached, full = out[path][True], out[path][False]
            np.testing.assert_allclose(cached["logits"], full["logits"], rtol=0, atol=1e-5)
            np.testing.assert_array_equal(cached["tokens"], full["tokens"])
            np.testing.assert_allclose(cached["sum_logprobs"], full["sum_logprobs"], rtol=0, atol=1e-5)
            steps = cached["logits"].shape[1]  # self-attention keys / values grow by one a step; cross ones stay
            assert cached["cache_len"] == [steps] * 4 + [16] * 4 and full["cache_len"] == []
            assert cached["gap"] > 1e-3
        np.testing.assert_allclose(out["sdpa"][True]["logits"], out["manual"][True]["logits"], rtol=0, atol=1e-5)
    for path in ("sdpa", "manual"):
        for cached in (True, False):
            got, want = ours[path][cached], theirs[path][cached]
            np.testing.assert_array_equal(got["tokens"], want["tokens"])
            np.testing.assert_allclose(got["logits"], want["logits"], rtol=0, atol=1e-5)
            np.testing.assert_allclose(got["sum_logprobs"], want["sum_logprobs"], rtol=0, atol=1e-5)
    assert (ours["sdpa"][True]["tokens"][:, 1:] != EOT).any(axis=1).all()  # each row decoded a token
    for out in (theirs, ours):  # after the rearrangement the cache still gives the uncached logits
        beams = out["beams"]
        np.testing.assert_allclose(beams["cached"][:, 2:], beams["full"][:, 2:], rtol=0, atol=1e-5)
        assert beams["tokens"][0, 1] == beams["tokens"][1, 1] != beams["tokens"][2, 1]  # the second-best, twice
    np.testing.assert_array_equal(ours["beams"]["tokens"], theirs["beams"]["tokens"])
    np.testing.assert_allclose(ours["beams"]["cached"], theirs["beams"]["cached"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours["qk"], theirs["qk"], rtol=0, atol=1e-5)
    assert np.isneginf(ours["qk"][0, 0][np.triu_indices(9, 1)]).all()  # the mask's -inf above the diagonal
    np.testing.assert_allclose(ours["weights"], theirs["weights"], rtol=0, atol=6e-5)
    np.testing.assert_allclose(ours["probs"], theirs["probs"], rtol=0, atol=1e-6)


def heads_and_float16(m: types.ModuleType, model: Any, lib: str) -> dict:
    """The default and a set ``alignment_heads``, then float16 mels through the float32 model and through
    ``model.half()`` (LayerNorms back in float32): audio features, logits, greedy decoding."""
    mel, tokens, _ = batches(1, seed=3)[0]
    dump = base64.b85encode(gzip.compress(np.array([[True, False], [False, True]]).tobytes()))
    heads = model.alignment_heads
    assert heads.is_sparse and heads.dtype == m.torch.bool and tuple(heads.shape) == (2, 2)
    assert "alignment_heads" not in model.state_dict() and "decoder.mask" not in model.state_dict()
    assert [n for n, _ in model.named_buffers()] == ["alignment_heads", "encoder.positional_embedding",
                                                    "decoder.mask"]
    out = {"default": heads.indices().numpy()}
    model.set_alignment_heads(dump)
    out["set"] = model.alignment_heads.indices().numpy()
    out["sinusoids"] = model.encoder.positional_embedding.numpy()
    model.eval()
    half_mel = m.torch.from_numpy(mel).half()
    for how in ("input", "model"):
        if how == "model":
            model.half()
            with pytest.raises(RuntimeError, match=r"mixed dtype|parameters of other dtypes"):  # float16 weights
                model.embed_audio(half_mel)
            for module in model.modules():
                if isinstance(module, m.LayerNorm):
                    module.float()
            assert model.decoder.token_embedding.weight.dtype == m.torch.float16
            assert model.alignment_heads.dtype == m.torch.bool and model.alignment_heads.is_sparse
            assert model.decoder.mask.dtype == m.torch.float16
        with m.torch.no_grad():
            audio = model.embed_audio(half_mel)
            logits = model.logits(m.torch.from_numpy(tokens), audio)
        assert audio.dtype == m.torch.float16 and logits.dtype == m.torch.float32
        out[how] = {"audio": audio.float().numpy(), "logits": logits.numpy(),
                    "decoded": [decoded(m, model, half_mel, c) for c in (True, False)]}
    return out


def test_alignment_heads_and_float16(one_torch_thread: None) -> None:
    theirs, ours = from_torch_weights(PATH, make, heads_and_float16)
    np.testing.assert_array_equal(ours["default"], [[1, 1], [0, 1]])  # the last half of the layers, every head
    np.testing.assert_array_equal(theirs["default"], ours["default"])
    np.testing.assert_array_equal(ours["set"], [[0, 1], [0, 1]])
    np.testing.assert_array_equal(theirs["set"], ours["set"])
    np.testing.assert_allclose(ours["sinusoids"], theirs["sinusoids"], rtol=0, atol=1e-6)
    for how in ("input", "model"):
        got, want = ours[how], theirs[how]
        np.testing.assert_allclose(got["audio"], want["audio"], rtol=0, atol=1e-2)
        np.testing.assert_allclose(got["logits"], want["logits"], rtol=0, atol=4e-3)
        for g, w in zip(got["decoded"], want["decoded"], strict=True):
            assert g["gap"] > 0.05 and w["gap"] > 0.05
            np.testing.assert_array_equal(g["tokens"], w["tokens"])
            np.testing.assert_allclose(g["logits"], w["logits"], rtol=0, atol=4e-3)
