"""``rwkv.py`` (BlinkDL/RWKV-LM's RWKV-4: src/model.py with the WKV as a plain-PyTorch loop over time, trainer.py's
loop and model_run.py's RNN mode) run on torch and, imports swapped, on ours from torch's initial weights (after
RWKV_Init) and the same token windows: twelve Adam steps of the RWKV model under RWKV-4neo's three lr groups
(time_decay 2x, time_first 3x) and of the ``RWKV-ffnPre`` model under v4's one group agree in the losses, gradient
norms (clip_grad_norm_, before clipping), every group's lr (warmup + exponential decay written into
``param_group['lr']``), the parameters after every step and the printed lines; in each library a run resumed from
the mid-run checkpoint (model + Adam + the token count) equals the whole run bit for bit; the RNN mode, loaded from
the saved ``.pth``, gives the GPT-mode logits token by token (and its ``save`` / ``load`` of the state reruns
exactly), in both libraries and across them. RWKV_Init's time_* parameters are torch's (2 ulps), its zero /
orthogonal / eye / normal branches and printed table agree; RUN_WKV on float64 extremes (keys of +-800, exact ties in
both ``torch.maximum`` calls, decays of 0 and -exp(6)) and L2Wrap's backward (tied maxima) agree with torch's.

Tolerances: float32 runs differ by summation order in the Linears, LayerNorms and cross-entropy. Measured over the
two 12-step runs: losses within 3.6e-7 (of 1.8 to 2.8), gradient norms within 9.5e-7 of norms 4 to 15 and 6.1e-5 of
the first step's 920 (the gradient through ln0 of the 1e-4-scale embedding; 6.6e-8 relative), parameters within
2.5e-6 (ffn.key, of size 0.8; most within 5e-7), printed ppl / loss (six decimals) within 4e-6 (4e-7 relative),
RNN against GPT logits within 2.4e-7 in each library, the RNN logits of the two libraries within 6.9e-7 (of 1.7); lrs
are equal. We allow atol 1e-6 on losses, rtol 1e-6 + atol 2e-6 on norms and printed values, atol 5e-6 on
parameters, 1e-6 for RNN against GPT and 4e-6 across libraries. float64 WKV outputs and gradients: within 1.1e-16
(allowed rtol 1e-13, atol 1e-15); L2Wrap's float32 logit gradients within 3e-8 (allowed rtol 1e-6, atol 1e-7).
The file takes about 4.5 s."""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "rwkv.py"
VOCAB, EMBD, LAYERS, CTX, BATCH = 13, 16, 2, 8, 4
STEPS, SAVE_AT = 12, 6


def config(m: types.ModuleType, model_type: str = "RWKV") -> Any:
    """train.py's GPTConfig at a tiny size."""
    return m.GPTConfig(VOCAB, CTX, model_type=model_type, n_layer=LAYERS, n_embd=EMBD)


def make(m: types.ModuleType, model_type: str = "RWKV") -> Any:
    """The program's GPT with RWKV_Init run (``RWKV_LOAD_MODEL=False``)."""
    return m.GPT(config(m, model_type))


def trainer_config(m: types.ModuleType, layerwise_lr: int) -> Any:
    """trainer.py's config: warmup over two steps' tokens, exponential decay to lr_final over the run."""
    tokens = BATCH * CTX
    return m.TrainerConfig(batch_size=BATCH, learning_rate=6e-3, lr_final=1e-3, betas=(0.9, 0.99), eps=1e-8,
                           grad_norm_clip=1.0, warmup_tokens=2 * tokens, final_tokens=STEPS * tokens,
                           layerwise_lr=layerwise_lr)


@pytest.fixture(autouse=True)
def init_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """GPT runs RWKV_Init only when ``RWKV_LOAD_MODEL`` is ``"False"``, as train.py sets it for a fresh model."""
    monkeypatch.setenv("RWKV_LOAD_MODEL", "False")
    monkeypatch.setenv("RWKV_JIT_ON", "0")


def rnn_logits(m: types.ModuleType, path: str, model_type: str, ctx: list[int]) -> np.ndarray:
    """model_run.py's RWKV_RNN fed ``ctx`` one token at a time: the logits after each token. Halfway its state is
    saved (``save``'s deep copies); after the rest it is loaded back and the second half rerun to the same logits."""
    rnn = m.RWKV_RNN(path, "cpu", model_type, LAYERS, EMBD, CTX)
    out, half, saved = [], len(ctx) // 2, types.SimpleNamespace()
    for k in range(1, len(ctx) + 1):
        out.append(rnn.run(ctx[:k]))
        if k == half:
            rnn.save(saved)
    rnn.load(saved)
    again = [rnn.run(ctx[:k]) for k in range(half + 1, len(ctx) + 1)]
    assert again == out[half:] and isinstance(out[0], list) and isinstance(out[0][0], float)
    return np.array(out, dtype=np.float32)


def train_and_resume(tmp: Path, layerwise_lr: int, model_type: str) -> Callable[[types.ModuleType, Any, str], dict]:
    """The whole run (saving a checkpoint before step SAVE_AT), a fresh model resumed from it (checked equal to
    the whole run here, in each library), and the trained model's GPT-mode logits and RNN-mode logits (from the
    ``.pth`` the epoch save writes) on the first CTX tokens."""
    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        tokens = m.make_tokens(600, VOCAB)
        cfg = trainer_config(m, layerwise_lr)
        ckpt = str(tmp / f"{lib}.ckpt")
        whole = m.train(model, m.Dataset(tokens, CTX, STEPS * BATCH), cfg, STEPS, save_at=SAVE_AT, save_path=ckpt)
        resumed = m.train(make(m, model_type), m.Dataset(tokens, CTX, STEPS * BATCH), cfg, STEPS, resume_from=ckpt)
        for key in ("loss", "norm", "lr", "params"):
            assert resumed[key] == whole[key][SAVE_AT:] if key != "params" else all(
                np.array_equal(a[n], b[n]) for a, b in zip(resumed[key], whole[key][SAVE_AT:], strict=True)
                for n in a), key
        assert resumed["tokens"] == whole["tokens"] == STEPS * BATCH * CTX and resumed["steps"] == STEPS
        assert [line.split(" : ")[0] + line.split(" lr ")[1] for line in resumed["lines"]] == [
            line.split(" : ")[0] + line.split(" lr ")[1] for line in whole["lines"][SAVE_AT:]]
        name = str(tmp / f"{lib}-trained")
        m.save_model(model, name)
        ctx = [int(t) for t in tokens[:CTX]]
        model.eval()
        with m.torch.no_grad():
            whole["gpt_logits"] = model(m.torch.tensor([ctx])).numpy()[0]
        whole["rnn_logits"] = rnn_logits(m, name, model_type, ctx)
        return whole
    return run


def numbers(line: str) -> tuple[str, list[float]]:
    """A trainer line's text with its ppl and loss taken out, and those two values."""
    words = line.split()
    return " ".join(words[:8] + words[11:]), [float(words[8]), float(words[10])]


@pytest.mark.parametrize(("layerwise_lr", "model_type"), [(1, "RWKV"), (0, "RWKV-ffnPre")])
def test_rwkv_trains_like_torch(one_torch_thread: None, tmp_path: Path, layerwise_lr: int, model_type: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """Twelve steps of trainer.py's loop: RWKV-4neo's three lr groups on the RWKV model, and v4's one group on the
    ``RWKV-ffnPre`` model (block 0 a channel mix in place of the time mix)."""
    theirs, ours = from_torch_weights(PATH, lambda m: make(m, model_type),
                                      train_and_resume(tmp_path, layerwise_lr, model_type))
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours["norm"], theirs["norm"], rtol=1e-6, atol=2e-6)
    assert theirs["norm"][0] > 100  # the first step's gradients through ln0 of a 1e-4-scale embedding
    assert ours["lr"] == theirs["lr"] and len(ours["lr"][0]) == (3 if layerwise_lr else 1)
    if layerwise_lr:
        assert [lr[1] / lr[0] for lr in ours["lr"]] == pytest.approx([2.0] * STEPS)
    assert ours["lr"][-1][0] == pytest.approx(1e-3) and ours["lr"][1][0] == pytest.approx(6e-3)
    for got, want in zip(ours["params"], theirs["params"], strict=True):
        assert_params_close(got, want, rtol=0, atol=5e-6)
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        (text, values), (want_text, want_values) = numbers(got), numbers(want)
        assert text == want_text
        np.testing.assert_allclose(values, want_values, rtol=1e-6, atol=2e-6)
    for run in (ours, theirs):
        np.testing.assert_allclose(run["rnn_logits"], run["gpt_logits"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours["rnn_logits"], theirs["rnn_logits"], rtol=0, atol=4e-6)  # EPYC: 2.06e-6
    assert ours["loss"][-1] < 0.8 * ours["loss"][0]
    out = capsys.readouterr().out
    assert out.count("DeepSpeed not found. Using torch optimizer instead (probably slower)") == 4
    assert out.count(f"number of parameters: {sum(v.size for v in ours['params'][0].values()):e}") == 4


def test_rwkv_init_and_printed_table(one_torch_thread: None, capsys: pytest.CaptureFixture[str]) -> None:
    """RWKV_Init in each library from its own generator: the layer-dependent time_* parameters agree with torch's,
    the ``scale_init = 0`` matrices are zeros, the others orthogonal with the repository's gains; the table it
    prints is the same. A Linear given ``scale_init = -999`` becomes the identity (``eye_``), one given a negative
    scale a normal draw with that std."""
    built = {}
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            m.torch.manual_seed(0)
            model = make(m)
            built[lib] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
            out = capsys.readouterr().out
            built[lib + "-out"] = out
            att, ffn = model.blocks[1].att, model.blocks[1].ffn
            att.output.scale_init, ffn.key.scale_init = -999, -0.05
            m.RWKV_Init(model, config(m))
            built[lib + "-eye"] = att.output.weight.detach().numpy().copy()
            built[lib + "-normal"] = ffn.key.weight.detach().numpy().copy()
            built[lib + "-again"] = capsys.readouterr().out
    theirs, ours = built["torch"], built["ours"]
    assert built["ours-out"] == built["torch-out"] and built["ours-again"] == built["torch-again"]
    assert "16    16    -999 blocks.1.att.output.weight" in built["ours-again"]
    assert "16    16    0    blocks.0.att.key.weight" in built["ours-out"]
    assert "64    16    1.0  blocks.0.ffn.key.weight" in built["ours-out"]
    assert list(ours) == list(theirs)
    gains = {"emb.weight": 4e-4, "head.weight": 0.5, "ffn.key.weight": 2.0, "att.value.weight": 1.0}
    for name, want in theirs.items():
        got = ours[name]
        assert got.shape == want.shape and got.dtype == want.dtype == np.float32, name
        if ".time_" in name or ".ln" in name or "ln_out" in name:
            # float32 pow kernels differ by CPU (an EPYC's numpy and torch: 1 ulp apart), so a few ulps
            np.testing.assert_array_max_ulp(got, want, maxulp=2)
            continue
        gain = next((g for k, g in gains.items() if name.endswith(k)), 0.0)
        for w in (got, want):
            if gain == 0:
                assert not w.any(), name
            else:
                small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
                np.testing.assert_allclose(small, gain ** 2 * np.eye(len(small)), rtol=0, atol=gain ** 2 * 1e-5,
                                           err_msg=name)
    for lib in ("torch", "ours"):
        np.testing.assert_array_equal(built[lib + "-eye"], np.eye(EMBD, dtype=np.float32))
        assert built[lib + "-normal"].shape == (4 * EMBD, EMBD) and 0.04 < built[lib + "-normal"].std() < 0.06
    t = theirs["blocks.1.att.time_decay"]
    assert t[0] == -5 and t[-1] == 3 and np.all(np.diff(t) > 0)


def test_wkv_loop_extremes_and_l2wrap(one_torch_thread: None) -> None:
    """RUN_WKV in float64 on keys up to 800 in size (exp would overflow without the max trick), exact ties in both
    ``torch.maximum`` calls, and decays from -exp(-20) to -exp(6); its outputs and the gradients of k, v, the decay
    and the bonus agree with torch's. L2Wrap's backward passes the loss's gradient through (a loss times 3) and adds
    ``1e-4 / (B * T) * max`` at the first of tied largest logits, unscaled."""
    rng = np.random.default_rng(3)
    B, T, C = 2, 6, 5
    k = rng.normal(0, 3, (B, T, C))
    k[0, :, 0] = [800.0, -800.0, 0.0, 700.0, -50.0, 1.0]
    k[1, :, 1] = 0.0  # with u = 0 and w + p = 0 below: ties
    v = rng.normal(0, 1, (B, T, C))
    decay = np.array([-20.0, -np.inf, 0.0, 2.0, 6.0])  # w = -exp(decay): -exp(-inf) = 0 ties w + p with k = p
    u = np.array([0.5, 0.0, -3.0, 2.0, 0.0])
    y = rng.normal(0, 1, (2, 3, 4)).astype(np.float32).round()
    target = rng.integers(0, 4, (2, 3))
    weights = rng.normal(0, 1, (B, T, C))
    results = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            tt = m.torch
            kk, vv, dd, uu = (tt.tensor(a, requires_grad=True) for a in (k, v, decay, u))
            out = m.RUN_WKV(B, T, C, -tt.exp(dd), uu, kk, vv)
            (out * tt.tensor(weights)).sum().backward()
            logits = tt.tensor(y, requires_grad=True)
            loss = tt.nn.functional.cross_entropy(logits.view(-1, 4), tt.tensor(target).view(-1))
            (3 * m.L2Wrap.apply(loss, logits)).backward()
            results.append({"out": out.detach().numpy(), "k": kk.grad.numpy(), "v": vv.grad.numpy(),
                            "decay": dd.grad.numpy(), "u": uu.grad.numpy(), "logits": logits.grad.numpy(),
                            "loss": loss.item()})
    theirs, ours = results
    assert np.isfinite(theirs["out"]).all() and np.isfinite(theirs["k"]).all()
    for key in ("out", "k", "v", "decay", "u"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-13, atol=1e-15, err_msg=key)
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-6)
    np.testing.assert_allclose(ours["logits"], theirs["logits"], rtol=1e-6, atol=1e-7)
    probs = np.exp(y - y.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    want = 3 * (probs - np.eye(4)[target]) / 6  # the cross-entropy's gradient, times 3
    first = y.argmax(-1)  # numpy's argmax takes the first of tied maxima, as torch.max does here
    assert (np.sort(y, -1)[..., -1] == np.sort(y, -1)[..., -2]).any()  # some rows have tied maxima
    np.put_along_axis(want, first[..., None], np.take_along_axis(want, first[..., None], -1)
                      + 1e-4 / 6 * y.max(-1, keepdims=True), -1)
    np.testing.assert_allclose(ours["logits"], want, rtol=1e-5, atol=1e-7)
