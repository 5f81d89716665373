"""``bidaf_qa.py`` (BiDAF: frozen word vectors + a character CNN (Embedding, Conv1d, max over time), a two-layer
highway network, BiLSTM encoders over ``pack_padded_sequence(enforce_sorted=False)`` / ``pad_packed_sequence
(total_length=)`` (or, the older spelling, sorted by ``lengths.sort(descending=True)`` and unsorted by indexing),
the trilinear similarity with C2Q / Q2C attention under masked softmaxes (``masked_fill`` with -1e30, or -inf before
the paper's row-wise max), a two-layer modeling LSTM, start / end log-probabilities, the loss CE(start) + CE(end) by
``nll_loss(ignore_index=-1)``, Adadelta with weight decay and ``clip_grad_norm_``, an EMA of the weights swapped in
through ``param.data`` for evaluation, span decoding by the outer product, ``triu`` / ``tril``, the flattened max /
argmax and floor division + remainder, and a ``torch.save`` checkpoint of model / optimizer / EMA) run on torch and,
imports swapped, on ours from torch's initial weights and the same numpy batches (ragged contexts and questions, one
example per batch with its answer cut off). Compared: the log-probabilities and gradients of one backward, per
step the losses and clipped norms, the final parameters and EMA shadows, the evaluation losses / spans / exact
matches under the EMA weights, the decoded spans of sharp random distributions, and a checkpoint resume (3 + 3
steps: bit for bit the 6-step run in each library, Adadelta's state like torch's). In each library: padded encoder
steps are zero, padded positions get probability 0, the live weights come back after evaluation, and dropout is off
in eval mode.

Tolerances: at torch's init (float32) the runs differ by summation order (LSTM gates, matmuls, softmax). Measured:
log-probabilities and eval losses within 4.8e-7 (3e-7 relative), per-step losses within 1.2e-7 relative, clipped
norms within 2.1e-7 relative, gradients, parameters after 6 Adadelta steps and EMA shadows within 7.5e-8 absolute;
we allow rtol 2e-6 / atol 1e-6 (gradients atol 2e-6). At torch's init the model is near uniform (the two Q2C forms
agree to 6e-6), so each test also runs in float64 with every weight doubled (peaked attention, spans that differ
between examples): there everything agrees within 2.5e-15 (1.6e-15 relative) and we allow 1e-12. (With weights
times 4 the float32 runs drift apart by 5e-5 relative, each library as far from the float64 run as the other: that
regime amplifies rounding about 1e4 times, so it is not used.) Spans and exact matches are compared exactly (the
peaked random distributions have no near-ties). The checkpoint resume: losses within 1.2e-7 relative, Adadelta's
running averages within 2.8e-6 of each one's largest entry (we allow 1e-5), except the biases that shift a softmax's
logits alike, whose true gradient is 0 (square_avg ~1e-19 .. 1e-10 of rounding noise): not compared. The file takes
about 3 s (torch on one thread) beyond the imports."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "bidaf_qa.py"
TOL = {"rtol": 2e-6, "atol": 1e-6}
TOL64 = {"rtol": 1e-12, "atol": 1e-12}
# biases that shift every logit of a softmax alike: their true gradient is 0, what each library computes is rounding
SHIFT_INVARIANT = {"att.bias", "out.att_linear_1.bias", "out.mod_linear_1.bias", "out.att_linear_2.bias",
                   "out.mod_linear_2.bias"}
VOCAB, CHARS, WIDTH = 15, 20, 5
VECTORS = np.random.default_rng(9).standard_normal((VOCAB, 6)).astype(np.float32)
VECTORS[0] = 0


def batches(seed: int, n: int = 3, size: int = 4, c_len: int = 9, q_len: int = 5) -> list[tuple]:
    """(context words, context chars, question words, question chars, start, end); id 0 pads words and chars."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        cl, ql = rng.integers(3, c_len + 1, size), rng.integers(2, q_len + 1, size)
        cl[0] = c_len
        cw, qw = np.zeros((size, c_len), np.int64), np.zeros((size, q_len), np.int64)
        cc, qc = np.zeros((size, c_len, WIDTH), np.int64), np.zeros((size, q_len, WIDTH), np.int64)
        for b in range(size):
            for words, chars, n_words in ((cw, cc, cl[b]), (qw, qc, ql[b])):
                words[b, :n_words] = rng.integers(1, VOCAB, n_words)
                for i in range(n_words):
                    k = rng.integers(1, WIDTH + 1)
                    chars[b, i, :k] = rng.integers(1, CHARS, k)
        y1 = np.array([rng.integers(0, c) for c in cl])
        y2 = np.minimum(y1 + rng.integers(0, 3, size), cl - 1)
        y1[-1] = y2[-1] = -1  # the answer fell off the truncated context
        out.append((cw, cc, qw, qc, y1, y2))
    return out


def make(q2c: str, sharp: bool, presort: bool = False):
    """float32 at torch's init, or (``sharp``) float64 with every weight times 2: peaked attention and spans."""

    def build(m: types.ModuleType) -> Any:
        model = m.BiDAF(m.torch.from_numpy(VECTORS), q2c=q2c, presort=presort)
        if sharp:
            model.double()
            with m.torch.no_grad():
                for p in model.parameters():
                    p.mul_(2.0)
        return model

    return build


@pytest.mark.parametrize(("q2c", "sharp", "presort"), [("dcn", False, False), ("paper", False, False),
                                                        ("dcn", True, False), ("paper", True, True)],
                         ids=["dcn-init32", "paper-init32", "dcn-sharp64", "paper-sharp64-presorted"])
def test_bidaf_trains_and_decodes_like_torch(one_torch_thread: None, q2c: str, sharp: bool, presort: bool) -> None:
    data = batches(0)
    rng = np.random.default_rng(5)
    peaked = [rng.standard_normal((4, 9)).astype(np.float32) * 4 for _ in range(2)]

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        t = m.torch
        bs = [tuple(t.from_numpy(a) for a in b) for b in data]
        cw, cc, qw, qc, y1, y2 = bs[0]
        out: dict = {}
        emb = model.emb(cw, cc)
        enc = model.enc(emb, (cw != 0).sum(-1)).detach().numpy()
        assert enc.shape == (4, 9, 16) and not enc[cw.numpy() == 0].any()
        model.enc.presort = not presort  # sorting by hand and enforce_sorted=False agree
        np.testing.assert_allclose(model.enc(emb, (cw != 0).sum(-1)).detach().numpy(), enc, rtol=0, atol=1e-12)
        model.enc.presort = presort
        log_p1, log_p2 = model(cw, cc, qw, qc)
        assert (log_p1.exp().detach().numpy()[cw.numpy() == 0] == 0).all()
        m.qa_loss(log_p1, log_p2, y1, y2).backward()
        out["log_p"] = np.stack([log_p1.detach().numpy(), log_p2.detach().numpy()])
        out["grads"] = {n: p.grad.numpy().copy() for n, p in model.named_parameters() if p.grad is not None}
        assert model.emb.word.weight.grad is None and not model.emb.word.weight.requires_grad
        model.zero_grad()

        optimizer, ema, log = m.train(model, bs * 2)
        assert type(optimizer).__name__ == "Adadelta" and optimizer.param_groups[0]["rho"] == 0.9
        out.update(log)
        out["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        out["shadow"] = {k: v.numpy().copy() for k, v in ema.shadow.items()}
        out["eval"] = m.evaluate(model, ema, bs)
        out["eval"]["prob"] = np.concatenate([p.numpy() for p in out["eval"]["prob"]])
        for k, v in model.state_dict().items():  # the live weights are back
            np.testing.assert_array_equal(v.detach().numpy(), out["params"][k], err_msg=k)
        assert model.training

        mask = t.from_numpy(data[0][0] != 0)
        p1, p2 = (m.masked_softmax(t.from_numpy(s), mask) for s in peaked)
        start, end, _ = m.discretize(p1, p2, max_len=3)
        assert t.equal(t.stack(m.discretize_divmod(p1, p2, max_len=3)), t.stack([start, end]))
        out["sharp"] = (start.tolist(), end.tolist())
        assert all(0 <= e - s < 3 for s, e in zip(*out["sharp"]))

        model.eval()  # dropout is off in eval mode
        dropping = m.BiDAF(t.from_numpy(VECTORS), drop_prob=0.4, q2c=q2c, presort=presort)
        dropping.to(model.emb.proj.weight.dtype)
        dropping.load_state_dict(model.state_dict())
        dropping.eval()
        with t.no_grad():
            np.testing.assert_array_equal(dropping(cw, cc, qw, qc)[0].numpy(), model(cw, cc, qw, qc)[0].numpy())
        return out

    theirs, ours = from_torch_weights(PATH, make(q2c, sharp, presort), run)
    tol = TOL64 if sharp else TOL
    np.testing.assert_allclose(ours["log_p"], theirs["log_p"], **tol)
    assert ours["grads"].keys() == theirs["grads"].keys()
    assert_params_close(ours["grads"], theirs["grads"], **(tol if sharp else {"rtol": 2e-6, "atol": 2e-6}))
    for key in ("loss", "norm"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **tol)
    for key in ("params", "shadow"):
        assert_params_close(ours[key], theirs[key], **tol)
    np.testing.assert_allclose(ours["eval"]["loss"], theirs["eval"]["loss"], **tol)
    np.testing.assert_allclose(ours["eval"]["prob"], theirs["eval"]["prob"], **tol)
    if sharp:  # the trained model tells spans apart
        assert len({tuple(s) for s in ours["eval"]["start"]}) > 1
    for key in ("start", "end", "em"):
        assert ours["eval"][key] == theirs["eval"][key], key
    assert ours["sharp"] == theirs["sharp"]


def test_masked_fill_minus_inf_max_gradient_like_torch(one_torch_thread: None) -> None:
    """The paper's Q2C pieces alone: -inf fill, the row max (gradient to the arg max only) and a masked softmax."""
    rng = np.random.default_rng(2)
    s = rng.standard_normal((2, 5, 3)).astype(np.float32)
    q_mask = np.array([[True, True, False], [True, False, False]])
    c_mask = np.array([[True] * 5, [True, True, True, False, False]])
    got = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            t = m.torch
            x = t.from_numpy(s).requires_grad_()
            row = x.masked_fill(~t.from_numpy(q_mask).unsqueeze(1), float("-inf")).max(dim=2).values
            beta = m.masked_softmax(row, t.from_numpy(c_mask), dim=1)
            (beta * t.arange(5.0)).sum().backward()
            got.append((beta.detach().numpy(), x.grad.numpy()))
    for a, b in zip(*got, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not got[1][1][..., 2].any() and not got[1][1][1, :, 1].any()


def test_bidaf_checkpoint_resume_like_torch(one_torch_thread: None, tmp_path: Path) -> None:
    """Three steps, ``torch.save`` of the model / Adadelta / EMA shadows / step, a fresh model loading it, three more
    steps: the same losses, parameters, Adadelta state and shadows as six uninterrupted steps (bit for bit in each
    library), and the same as torch's."""
    data = batches(1, n=6)

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        t = m.torch
        bs = [tuple(t.from_numpy(a) for a in b) for b in data]
        start = {k: v.clone() for k, v in model.state_dict().items()}
        runs = []
        for resume in (False, True):
            model.load_state_dict(start)
            if resume:
                optimizer, ema, log = m.train(model, bs[:3])
                m.save_checkpoint(tmp_path / f"{lib}.pt", model, optimizer, ema, log["step"])
                model = make("dcn", False)(m)
                optimizer, ema, step = m.load_checkpoint(tmp_path / f"{lib}.pt", model)
                assert step == 12 and set(optimizer.state_dict()["state"]) == set(range(len(optimizer.state)))
                _, ema, rest = m.train(model, bs[3:], optimizer=optimizer, ema=ema, step=step)
                losses = log["loss"] + rest["loss"]
            else:
                optimizer, ema, rest = m.train(model, bs)
                losses = rest["loss"]
            adadelta = {f"{n}.{k}": optimizer.state[p][k].numpy().copy() for n, p in model.named_parameters()
                        if p.requires_grad for k in ("square_avg", "acc_delta")}
            params = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
            runs.append({"loss": losses, "params": params,
                         "shadow": {k: v.numpy().copy() for k, v in ema.shadow.items()}, "adadelta": adadelta,
                         "steps": {float(s["step"]) for s in optimizer.state.values()}})
        whole, resumed = runs
        assert whole["loss"] == resumed["loss"] and whole["steps"] == resumed["steps"] == {6.0}
        for key in ("params", "shadow", "adadelta"):
            for k, v in whole[key].items():
                np.testing.assert_array_equal(resumed[key][k], v, err_msg=k)
        return whole

    theirs, ours = from_torch_weights(PATH, make("dcn", False), run)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], **TOL)
    for key in ("params", "shadow"):
        assert_params_close(ours[key], theirs[key], **TOL)
    for name, want in theirs["adadelta"].items():  # running averages of g^2 and dx^2: relative to each one's scale
        if name.rsplit(".", 1)[0] not in SHIFT_INVARIANT:
            np.testing.assert_allclose(ours["adadelta"][name] / np.abs(want).max(), want / np.abs(want).max(),
                                       rtol=0, atol=1e-5, err_msg=name)
