"""``pointer_generator.py`` (See et al.'s pointer-generator with coverage: a shared embedding, a BiLSTM encoder over
``pack_padded_sequence(enforce_sorted=False)``, ReduceState, an LSTMCell decoder with coverage-fed Bahdanau
attention renormalised under the padding mask, p_gen by sigmoid(Linear), the final distribution by ``torch.cat`` of
zeros for the source OOVs and ``scatter_add`` of the copy weights, ``gather`` of the targets, -log(p + eps) plus the
coverage loss sum(min(attn, coverage)), masked and length-averaged; Adagrad with initial_accumulator_value=0.1 and
``clip_grad_norm_`` per module; greedy decoding under ``no_grad`` feeding OOV picks back as UNK; beam search by
``topk`` over the log final distribution, the encoder outputs ``expand``ed / ``repeat``ed over the live beams) run
on torch and, imports swapped, on ours from torch's initial weights and the same numpy batches (ragged sources with
OOV words, ragged targets copying from them). Compared: the first loss, its per-step p_gen and coverage losses and
gradients; per step the losses and the three clipped norms; the final parameters and Adagrad sums; the greedy
decodes before and after training, and (float64, pointer on) each source's best beam and its average
log-probability. Also with coverage off, and with the pointer off (attention seq2seq, OOV targets as UNK). In each
library the final distributions sum to 1 over the extended vocabulary and the copy mass lands on the source ids.

Tolerances: in float32 the runs differ by summation order (LSTM gates, matmuls, softmax, the scatter_add sums).
Measured: first losses, p_gen and coverage losses within 1.2e-7 relative, first gradients within 3e-8 absolute; per
step losses within 2.4e-7 (8e-8 relative), clipped norms, parameters and Adagrad sums after 6 steps within 2.4e-7
absolute; we allow rtol 2e-6 / atol 1e-6. With coverage on, float32 compares only the first backward: at torch's
init the attention barely moves between steps, so min(attn_t, coverage_t) meets near-ties (a gap of 4.5e-8 in the
float64 run, one float32 ulp) that rounding resolves differently, moving half of one coverage-loss gradient (0.042)
to the other operand; so the coverage runs train in float64 (the model ``.double()``, the program's zeros made by
``new_zeros`` / ``dtype=``), where everything agrees within 9e-16 absolute (5e-16 relative) and we allow 1e-12.
Decodes are compared exactly. The file takes about 2 s (torch on one thread) beyond the imports."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "pointer_generator.py"
TOL = {"rtol": 2e-6, "atol": 1e-6}
TOL64 = {"rtol": 1e-12, "atol": 1e-12}
VOCAB = 20


def batches(seed: int, n: int = 3, size: int = 4, src_len: int = 8, tgt_len: int = 5) -> list[tuple]:
    """(src ids with OOVs as UNK, lengths, extended src ids, n_oov, decoder inputs, extended targets, target mask)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        n_oov = int(rng.integers(1, 4))
        lens = rng.integers(3, src_len + 1, size)
        lens[1] = src_len
        ext = np.zeros((size, src_len), np.int64)
        tgt = np.zeros((size, tgt_len), np.int64)
        mask = np.zeros((size, tgt_len), np.float32)
        for b in range(size):
            ext[b, :lens[b]] = rng.integers(4, VOCAB + n_oov, lens[b])
            k = int(rng.integers(1, tgt_len))
            copied = rng.random(k) < 0.6  # most target words copied from the source
            words = np.where(copied, ext[b, rng.integers(0, lens[b], k)], rng.integers(4, VOCAB, k))
            tgt[b, :k], tgt[b, k] = words, 3  # STOP
            mask[b, :k + 1] = 1
        src = np.where(ext >= VOCAB, 1, ext)  # UNK
        dec_in = np.concatenate([np.full((size, 1), 2), np.where(tgt >= VOCAB, 1, tgt)[:, :-1]], 1)
        dec_in = dec_in * (mask > 0)
        out.append((src, lens, ext, n_oov, dec_in, tgt, mask))
    return out


def tensors(t: types.ModuleType, batch: tuple) -> tuple:
    return tuple(x if isinstance(x, int) else t.from_numpy(x) for x in batch)


def make(variant: dict, double: bool):
    def build(m: types.ModuleType) -> Any:
        model = m.PointerGenerator(**variant)
        return model.double() if double else model

    return build


@pytest.mark.parametrize("double", [False, True], ids=["float32", "float64"])
@pytest.mark.parametrize("variant", [{}, {"use_coverage": False}, {"pointer_gen": False}],
                         ids=["coverage", "no_coverage", "no_pointer"])
def test_pointer_generator_trains_and_decodes_like_torch(one_torch_thread: None, variant: dict, double: bool) -> None:
    data = batches(0)
    # float32 with coverage: the coverage loss min(attn_t, coverage_t) meets near-ties (attention barely moves
    # between steps) that rounding breaks either way, so only the first backward is compared there
    coverage = variant.get("use_coverage", True)
    steps = 0 if coverage and not double else 6

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        t = m.torch
        bs = [tensors(t, b) for b in data]
        out: dict = {}
        src, lens, ext, n_oov = bs[0][:4]
        out["decode0"] = m.greedy_decode(model, src, lens, ext, n_oov).tolist()
        assert model.training
        loss, log = m.batch_loss(model, bs[0])
        loss.backward()
        out["loss0"] = loss.item()
        out["p_gen"] = [p.numpy() for p in log["p_gen"]]
        out["cov"] = [c.numpy() for c in log["cov"]]
        out["grads"] = {n: p.grad.numpy().copy() for n, p in model.named_parameters() if p.grad is not None}
        model.zero_grad()

        if variant.get("pointer_gen", True):  # one step's final distribution by hand
            enc_out, feats, hidden = model.encoder(src, lens)
            state = model.reduce_state(hidden)
            mask = (src != 0).to(enc_out.dtype)
            final, *_, attn, p_gen, _ = model.decoder(
                bs[0][4][:, 0], state, enc_out, feats, mask, enc_out.new_zeros(4, 12), enc_out.new_zeros(4, n_oov),
                ext, enc_out.new_zeros(src.size()))
            final, attn, p_gen = final.detach().numpy(), attn.detach().numpy(), p_gen.detach().numpy()
            np.testing.assert_allclose(final.sum(1), 1, rtol=1e-6)
            assert final.shape == (4, VOCAB + n_oov) and not attn[data[0][0] == 0].any()
            copy = np.zeros_like(final)
            np.add.at(copy, (np.arange(4)[:, None], data[0][2]), (1 - p_gen) * attn)
            assert np.abs(final[:, VOCAB:] - copy[:, VOCAB:]).max() < 1e-7

        optimizer, log = m.train(model, (bs * 2)[:steps])
        out.update(log)
        out["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        out["sums"] = {n: optimizer.state[p]["sum"].numpy().copy() for n, p in model.named_parameters()
                       if p in optimizer.state}
        assert optimizer.param_groups[0]["initial_accumulator_value"] == 0.1
        out["decode"] = [m.greedy_decode(model, *b[:4]).tolist() for b in bs]
        if double and variant.get("pointer_gen", True):  # beam search needs no near-ties: float64 only
            out["beams"] = [m.beam_search(model, src[i:i + 1], lens[i:i + 1], ext[i:i + 1], n_oov)
                            for i in range(4)]
        return out

    theirs, ours = from_torch_weights(PATH, make(variant, double), run)
    tol = TOL64 if double else TOL
    assert ours["loss0"] == pytest.approx(theirs["loss0"], rel=tol["rtol"])
    for key in ("p_gen", "cov", "loss", "norms"):
        assert len(ours[key]) == len(theirs[key]) == {"p_gen": 0 if "pointer_gen" in variant else 5,
                                                      "cov": 5 * coverage}.get(key, steps)
        if ours[key]:
            np.testing.assert_allclose(np.stack(ours[key]), np.stack(theirs[key]), err_msg=key, **tol)
    for key in ("grads", "params", "sums"):
        assert ours[key].keys() == theirs[key].keys()
        assert_params_close(ours[key], theirs[key], **tol)
    assert ours["decode0"] == theirs["decode0"] and ours["decode"] == theirs["decode"]
    if "beams" in theirs:
        assert [b[0] for b in ours["beams"]] == [b[0] for b in theirs["beams"]]
        np.testing.assert_allclose([b[1] for b in ours["beams"]], [b[1] for b in theirs["beams"]], **tol)
        assert any(t >= VOCAB for b in theirs["beams"] for t in b[0])  # some beam copied a source OOV
