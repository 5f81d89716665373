"""``llama2c.py`` (Karpathy's llama2.c: model.py, export.py's version-0 ``model.bin``, tinystories.py's
PretokDataset and train.py's loop) run on torch and, imports swapped, on ours from torch's initial weights and the
same synthetic token shards (the dataset's ``random.Random`` shuffles are Python's, so the batches are the same;
dropout 0 where numbers are compared): the learning rates (warmup from 0 + cosine to 0), the losses of each
iteration (two accumulation micro-steps), the gradient norms (``clip_grad_norm_`` after the GradScaler's
``unscale_``), ``estimate_loss``'s train / val losses, the iteration lines but for their times, the final
parameters, ``model.bin`` and greedy (``temperature=0``) generation agree, with ``scaled_dot_product_attention(
is_causal=True)`` and, the attribute deleted, with the manual attention over the ``-inf`` ``triu`` mask buffer
(there under an enabled CPU GradScaler); a resume from the checkpoint equals the uninterrupted run bit for bit in
each library. Grouped-query attention throughout (4 heads, 2 kv heads). Sampled generation (``multinomial``, whose
draws differ between the generators) is checked for shape and validity: every drawn token is among the top k of
its prefix's logits. Dropout > 0 is checked to run, to change the training-mode numbers and to leave eval mode's.
The same warnings are raised (torch.cuda.amp.GradScaler deprecated, pin_memory without an accelerator). The first
run "dies" right after its iteration-5 checkpoint (``model_export`` raises), so its checkpoint's config is the
whole run's (train.py ties the cosine's length to max_iters).

Tolerances: float32; the runs differ by summation order in the matmuls and the attention. Measured over 11
iterations (lr up to 1e-2), either attention path: losses and eval losses within 4.8e-7 (of 3.6 to 4.2), gradient
norms within 1.2e-7, parameters and model.bin's floats within 1.3e-7; one forward / backward: logits within
1.2e-7, gradients within 3.1e-8; RoPE tables and rotated q / k within 3.6e-7 (of up to 4), RMSNorm within 3.3e-7
(float32 and float64 inputs, 1e30 and 1e-30 rows). We allow rtol 2e-6 with atol 1e-6 for the series, atol 1e-6 for
parameters, model.bin and RoPE, rtol 1e-5 with atol 1e-6 / 1e-7 for the one step's logits / gradients, rtol 1e-6
with atol 1e-7 for RMSNorm; learning rates, ``repeat_kv``, estimate_mfu and the greedy tokens are equal (the
greedy steps' gaps between the two largest logits are checked to be above 1e-3). A printed loss (four decimals)
could round the other way, so it is compared within 1.1e-4. Not compared: torch raises when a tensor made under
``inference_mode`` enters a graph later, ours lets it (README, Differences from PyTorch)."""

from __future__ import annotations

import inspect
import struct
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "llama2c.py"
TOL = {"rtol": 2e-6, "atol": 1e-6}
MODEL = {"dim": 32, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "vocab_size": 64, "multiple_of": 32,
         "max_seq_len": 16}
CONFIG = {**MODEL, "vocab_source": "custom", "batch_size": 4, "gradient_accumulation_steps": 2,
          "learning_rate": 1e-2, "max_iters": 10, "warmup_iters": 3, "eval_interval": 5, "eval_iters": 2,
          "log_interval": 1, "always_save_checkpoint": True, "device": "cpu", "dtype": "float32", "compile": False}


def make(m: types.ModuleType, **args: Any) -> Any:
    """The program's Transformer at the tiny size: dim 32, 2 layers, 4 heads over 2 kv heads, 64 tokens, 16 long."""
    return m.Transformer(m.ModelArgs(**{**MODEL, **args}))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Three ``tok64/data0i.bin`` shards of uint16 tokens (numpy only, the same for both libraries)."""
    with program(PATH, "torch") as t:
        t.make_shards(tmp_path / "data")
    return tmp_path / "data"


class Killed(Exception):
    """The first run's process ended right after its checkpoint at iteration 5."""


def agree(theirs: dict, ours: dict) -> None:
    """Two runs' logs: series within TOL, learning rates equal, log lines equal but for the loss's last digit and
    the times."""
    assert ours["lr"] == theirs["lr"]
    for key in ("loss", "norm", "eval"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=1e-6)
    assert len(ours["lines"]) == len(theirs["lines"])
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        got, want = got.split(" | "), want.split(" | ")
        assert float(got[1].split()[1]) == pytest.approx(float(want[1].split()[1]), abs=1.1e-4)
        assert got[0] == want[0] and got[2] == want[2]


def read_model_bin(path: Path) -> tuple[tuple[int, ...], np.ndarray]:
    """export.py's version-0 file: the seven int32 header fields and the float32 payload."""
    raw = path.read_bytes()
    return struct.unpack("iiiiiii", raw[:28]), np.frombuffer(raw[28:], dtype=np.float32)


def expected_payload(state: dict, freqs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """legacy_export's order: embedding, per-kind layer weights, final norm, cos / sin (the classifier shared)."""
    parts = [state["tok_embeddings.weight"]]
    for kind in ("attention_norm", "attention.wq", "attention.wk", "attention.wv", "attention.wo", "ffn_norm",
                 "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"):
        parts += [state[f"layers.{i}.{kind}.weight"] for i in range(2)]
    parts += [state["norm.weight"], *freqs]
    return np.concatenate([np.asarray(p, np.float32).ravel() for p in parts])


def test_llama2c_trains_resumes_and_generates_like_torch(one_torch_thread: None, data: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        whole, part = tmp_path / lib / "whole", tmp_path / lib / "part"
        start = make(m)
        start.load_state_dict({k: v.clone() for k, v in model.state_dict().items()})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = m.train(model, out_dir=str(whole), data_dir=str(data), **CONFIG)
        out["warnings"] = sorted({(w.category.__name__, str(w.message)) for w in caught})
        export = m.model_export

        def killed(*args: Any, **kwargs: Any) -> None:  # the process dies once the first checkpoint is written
            export(*args, **kwargs)
            raise Killed

        with monkeypatch.context() as patch, pytest.raises(Killed):
            patch.setattr(m, "model_export", killed)
            m.train(start, out_dir=str(part), data_dir=str(data), **CONFIG)
        checkpoint = m.torch.load(part / "ckpt.pt")
        assert checkpoint["iter_num"] == 5 and checkpoint["model_args"] == {**MODEL, "dropout": 0.0}
        assert checkpoint["config"] == {**m.DEFAULTS, **CONFIG, "out_dir": str(part)}
        assert float(checkpoint["best_val_loss"]) == out["eval"][1][2]
        header, payload = read_model_bin(part / "model.bin")
        assert header == (32, 96, 2, 4, 2, 64, 16)  # hidden 96: 2/3 of 4 * 32, rounded up to multiple_of 32
        out["bin"] = payload
        freqs = (start.freqs_cos.numpy(), start.freqs_sin.numpy())
        np.testing.assert_array_equal(payload, expected_payload(
            {k: v.numpy() for k, v in checkpoint["model"].items()}, freqs))
        resumed = m.train(out_dir=str(part), data_dir=str(data), init_from="resume", **CONFIG)
        tail = {k: out[k][5:] for k in ("lr", "loss", "norm")}
        assert_same_run({**tail, "eval": out["eval"][1:], "params": out["params"]},
                        {k: resumed[k] for k in (*tail, "eval", "params")})
        assert resumed["best_val_loss"] == out["best_val_loss"] == out["eval"][-1][2]

        fresh = make(m)
        fresh.load_state_dict({k: m.torch.from_numpy(v) for k, v in out["params"].items()}, strict=False)
        fresh.eval()
        prompt = m.torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
        greedy = fresh.generate(prompt, 16, temperature=0.0)  # past max_seq_len 16: the context is cropped
        out["greedy"] = greedy.numpy()
        assert greedy.is_inference() and not prompt.is_inference()
        if lib == "torch":  # ours lets inference tensors into a later graph (README, Differences from PyTorch)
            with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
                fresh(greedy[:, -16:])
        margins = []
        with m.torch.no_grad():
            for t in range(4, 20):  # each greedy step's gap between the two largest logits
                top = fresh(greedy[:, max(0, t - 16):t])[:, -1].topk(2)[0].numpy()
                margins.append((top[:, 0] - top[:, 1]).min())
            out["margin"] = min(margins)
            sampled = fresh.generate(prompt, 8, temperature=0.8, top_k=3)
            assert tuple(sampled.shape) == (2, 12) and not sampled.requires_grad
            assert (sampled[:, :4] == prompt).all()
            for t in range(4, 12):
                top3 = fresh(sampled[:, :t])[:, -1].topk(3)[1].numpy()
                assert all(sampled[b, t].item() in top3[b] for b in range(2))
        return out

    theirs, ours = from_torch_weights(PATH, make, run)
    agree(theirs, ours)
    np.testing.assert_allclose(ours["bin"], theirs["bin"], rtol=0, atol=1e-6)
    # deprecated GradScaler; pin_memory on a CPU: the same categories, each naming the same thing in its own words
    assert [c for c, _ in ours["warnings"]] == [c for c, _ in theirs["warnings"]] and len(ours["warnings"]) == 2
    for said in (ours["warnings"], theirs["warnings"]):
        assert "GradScaler" in said[0][1] and "'pin_memory'" in said[1][1], said
    assert ours["margin"] > 1e-3 and theirs["margin"] > 1e-3
    np.testing.assert_array_equal(ours["greedy"], theirs["greedy"])
    assert ours["lr"][:4] == [0.0, 1e-2 / 3, 2e-2 / 3, 1e-2] and ours["lr"][-1] == 0.0
    assert ours["loss"][-1] < 0.9 * ours["loss"][0]
    out = capsys.readouterr().out
    assert out.count("num decayed parameter tensors: 15, with 26,624 parameters") == 6
    assert out.count("Resuming training from") == 2 and out.count("using fused AdamW: False") == 6
    assert out.count("Created a PretokDataset with rng seed 42") > 0


def test_manual_attention_with_an_enabled_scaler(one_torch_thread: None, data: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Without ``F.scaled_dot_product_attention`` the layers register the ``-inf`` ``triu`` mask. train.py's
    ``torch.cuda.amp.GradScaler(enabled=True)`` on a CPU warns twice and disables itself in both libraries, so the
    float16 run's scaler is swapped for an enabled ``torch.amp.GradScaler('cpu')``: the losses are
    scaled by 2**16 and the gradients unscaled before clipping, in both libraries."""
    import tinygrad_adam

    def make_slow(m: types.ModuleType) -> Any:
        with monkeypatch.context() as patch:
            patch.delattr(m.torch.nn.functional, "scaled_dot_product_attention")
            model = make(m)
        assert not model.layers[0].attention.flash
        return model

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        mask = model.state_dict()["layers.1.attention.mask"].numpy()
        np.testing.assert_array_equal(mask[0, 0], np.triu(np.full((16, 16), -np.inf, np.float32), 1))
        assert "freqs_cos" not in model.state_dict()  # persistent=False
        with warnings.catch_warnings(record=True) as caught:  # train.py's own line with float16, on a CPU
            warnings.simplefilter("always")
            dtype = "float16"
            assert not m.torch.cuda.amp.GradScaler(enabled=(dtype == "float16")).is_enabled()
        scalers = []
        with monkeypatch.context() as patch:
            patch.setattr(m.torch.cuda.amp, "GradScaler",
                          lambda enabled: scalers.append(m.torch.amp.GradScaler("cpu", enabled=enabled)) or scalers[0])
            out = m.train(model, out_dir=str(tmp_path / lib), data_dir=str(data),
                          **dict(CONFIG, max_iters=6, dtype="float16"))
        assert scalers[0].is_enabled() and scalers[0].get_scale() == 2.0 ** 16
        out["warnings"] = [(w.category.__name__, str(w.message)) for w in caught]
        return out

    theirs, ours = from_torch_weights(PATH, make_slow, run)
    agree(theirs, ours)
    assert hasattr(tinygrad_adam.nn.functional, "scaled_dot_product_attention")  # put back
    assert [c for c, _ in ours["warnings"]] == [c for c, _ in theirs["warnings"]]  # the sentences are each library's
    assert "CUDA is not available" in theirs["warnings"][1][1]
    assert "GradScaler for 'cuda' needs a GPU" in ours["warnings"][1][1]
    assert capsys.readouterr().out.count("WARNING: using slow attention.") == 4


@pytest.mark.parametrize("flash", [True, False])
def test_model_pieces(one_torch_thread: None, flash: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """One forward / backward (either attention path) on targets with ``ignore_index=-1`` entries: logits,
    ``last_loss`` and the gradients (the tied embedding's summed); the inference-time last-position logits;
    RoPE's tables, ``apply_rotary_emb`` and ``repeat_kv`` on their own; configure_optimizers' groups; estimate_mfu."""
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 64, (3, 12))
    targets = np.roll(ids, -1, axis=1)
    targets[0, :3] = -1
    xq, xk = rng.standard_normal((2, 3, 12, 4, 8)).astype(np.float32)
    rms_inputs = [rng.standard_normal((2, 3, 8)).astype(np.float32), rng.standard_normal((4, 8)),  # float64 in
                  np.array([[1e30, -1e30, 0, 0, 1, 2, 3, 4], [0] * 8, [1e-30] * 8], np.float32), np.zeros((0, 8))]

    def make_either(m: types.ModuleType) -> Any:
        with monkeypatch.context() as patch:
            if not flash:
                patch.delattr(m.torch.nn.functional, "scaled_dot_product_attention")
            return make(m)

    def step(m: types.ModuleType, model: Any, lib: str) -> dict:
        assert model.output.weight is model.tok_embeddings.weight
        logits = model(m.torch.from_numpy(ids), m.torch.from_numpy(targets))
        loss = model.last_loss
        loss.backward()
        last = model(m.torch.from_numpy(ids))
        assert model.last_loss is None and tuple(last.shape) == (3, 1, 64)
        cos, sin = m.precompute_freqs_cis(8, 12)
        q, k = m.apply_rotary_emb(m.torch.from_numpy(xq), m.torch.from_numpy(xk), cos, sin)
        kv = m.repeat_kv(m.torch.from_numpy(xk), 2)
        optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95), "cpu")
        norm = m.RMSNorm(8, eps=1e-5)
        with m.torch.no_grad():
            norm.weight.mul_(m.torch.from_numpy(np.linspace(0.5, 2, 8, dtype=np.float32)))
        normed = [norm(m.torch.from_numpy(x)) for x in rms_inputs]
        return {"logits": logits.detach().numpy(), "last": last.detach().numpy(), "loss": loss.item(),
                "grads": {n: p.grad.numpy().copy() for n, p in model.named_parameters()},
                "rope": (cos.numpy(), sin.numpy(), q.numpy(), k.numpy()), "kv": kv.numpy(),
                "groups": [(len(g["params"]), g["weight_decay"]) for g in optimizer.param_groups],
                "mfu": model.estimate_mfu(8, 0.5),
                "rms": [(str(y.dtype).split(".")[-1], y.detach().numpy()) for y in normed],  # (README: str of dtypes)
                "fused": "fused" in inspect.signature(m.torch.optim.AdamW).parameters}

    theirs, ours = from_torch_weights(PATH, make_either, step)
    assert ours["groups"] == theirs["groups"] == [(15, 0.1), (5, 0.0)] and ours["mfu"] == theirs["mfu"]
    np.testing.assert_allclose(ours["logits"], theirs["logits"], rtol=1e-5, atol=1e-6)
    # gemv on the last position vs gemm on all: float32 kernels differ by CPU (an EPYC: 1.2e-7, 2 ulps of the 0.72 max)
    np.testing.assert_allclose(ours["last"], ours["logits"][:, -1:], rtol=0,
                               atol=4 * np.finfo(np.float32).eps * np.abs(ours["logits"]).max())
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-6)
    assert_params_close(ours["grads"], theirs["grads"], rtol=1e-5, atol=1e-7)
    for got, want in zip(ours["rope"], theirs["rope"], strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ours["kv"], theirs["kv"])
    np.testing.assert_array_equal(ours["kv"], np.repeat(xk, 2, axis=2))
    assert ours["fused"] == theirs["fused"]
    for (got_dtype, got), (want_dtype, want) in zip(ours["rms"], theirs["rms"], strict=True):
        assert got_dtype == want_dtype and got.dtype == want.dtype  # type_as(x) back to float64, times float32
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_dropout_runs_in_training_and_not_in_eval(one_torch_thread: None) -> None:
    """Dropout 0.2 (embedding, attention and residual): the generators differ, so training-mode numbers are only
    checked to run and to differ from eval mode's, whose logits agree with torch's; about a fifth of the embedding
    dropout's outputs are zero and the rest scaled by 1 / 0.8."""
    ids = np.random.default_rng(3).integers(0, 64, (4, 16))

    def step(m: types.ModuleType, model: Any, lib: str) -> dict:
        model.train()
        model(m.torch.from_numpy(ids), m.torch.from_numpy(ids))
        trained = model.last_loss
        trained.backward()
        assert all(np.isfinite(p.grad.numpy()).all() for p in model.parameters())
        model.eval()
        logits = model(m.torch.from_numpy(ids), m.torch.from_numpy(ids))
        assert trained.item() != model.last_loss.item()
        model.train()
        x = m.torch.ones(200, 100)
        dropped = model.dropout(x).numpy()
        assert set(np.unique(dropped).tolist()) <= {0.0, np.float32(1 / 0.8)}
        return {"logits": logits.detach().numpy(), "zeros": (dropped == 0).mean()}

    theirs, ours = from_torch_weights(PATH, lambda m: make(m, dropout=0.2), step)
    np.testing.assert_allclose(ours["logits"], theirs["logits"], rtol=1e-5, atol=1e-6)
    assert abs(ours["zeros"] - 0.2) < 0.02 and abs(theirs["zeros"] - 0.2) < 0.02
