"""``nanogpt.py`` (Karpathy's nanoGPT: model.py, and the core of prepare.py, train.py and sample.py) run on torch
and, imports swapped, on ours from torch's initial weights and the same character batches (numpy offsets, dropout
0): the learning rates (warmup + cosine ``get_lr``), the losses of each iteration (two accumulation micro-steps),
the gradient norms (``clip_grad_norm_`` after the GradScaler's ``unscale_``), ``estimate_loss``'s train / val losses
and their printed lines, the iteration lines but for their times, the final parameters and sample.py's greedy
(``top_k=1``) samples agree, with ``scaled_dot_product_attention(is_causal=True)`` and, the attribute deleted, with
the manual attention over the ``tril`` buffer (there after ``crop_block_size``, under an enabled CPU GradScaler); a
resume from a checkpoint whose keys carry ``_orig_mod.`` equals the uninterrupted run bit for bit in each library;
the same warnings are raised; ``from_pretrained`` copies a GPT-2-layout state_dict (Conv1D weights transposed)
through ``state_dict()`` views in both attention paths.

Sampling: the libraries' generators differ, so two kinds are compared. sample.py's with ``top_k=1`` (the crop
leaves one token, ``multinomial`` must draw it): the gaps between the two largest logits of those greedy steps are
checked to be above 1e-3 (measured 6.2e-3, against differences of 1e-7), so the samples must be equal. And
``generate(temperature=0.8, top_k=3)`` with ``torch.multinomial`` replaced, in both libraries, by the inverse CDF
of the same numpy uniforms: the probabilities handed to it agree and the drawn tokens are equal (a uniform within
1e-7 of a CDF step could split them; these seeds do not meet one).

Tolerances: float32; the runs differ by summation order in the matmuls and the attention. Measured over 11
iterations (lr up to 1e-2), either attention path: losses and eval losses within 2.4e-7 (of 1.6 to 2.4), gradient
norms within 1.2e-7 (of about 1), parameters within 2.4e-7, sampling probabilities within 1.2e-7; one forward /
backward: logits within 2.3e-8, gradients within 4.5e-8; from_pretrained's logits (weights of std 0.3) within
1.6e-6. We allow rtol 2e-6 with atol 1e-6 for the series, atol 1e-6 for parameters and probabilities, rtol 1e-5
with atol 1e-6 / 1e-7 for the one step's logits / gradients, and atol 5e-6 for from_pretrained; learning rates
are equal. A printed loss (four decimals) could round the other way, so it is compared within 1.1e-4."""

from __future__ import annotations

import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "nanogpt.py"
TOL = {"rtol": 2e-6, "atol": 1e-6}
CONFIG = {"gradient_accumulation_steps": 2, "batch_size": 4, "block_size": 16, "n_layer": 2, "n_head": 2,
          "n_embd": 16, "learning_rate": 1e-2, "max_iters": 10, "warmup_iters": 3, "lr_decay_iters": 10,
          "min_lr": 1e-3, "eval_interval": 5, "eval_iters": 2, "log_interval": 1}


def make(m: types.ModuleType, block_size: int = 16) -> Any:
    """The program's GPT on prepare's 10 characters: two layers, two heads, n_embd 16, no biases (train.py's)."""
    return m.GPT(m.GPTConfig(block_size=block_size, vocab_size=10, n_layer=2, n_head=2, n_embd=16, bias=False))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """prepare.py's train.bin / val.bin / meta.pkl (numpy only, the same for both libraries)."""
    with program(PATH, "torch") as t:
        t.prepare(tmp_path)
    return tmp_path


def agree(theirs: dict, ours: dict) -> None:
    """Two runs' logs: series within TOL, learning rates equal, log lines equal but for the loss's last digit and
    the times."""
    assert ours["lr"] == theirs["lr"]
    for key in ("loss", "norm", "eval"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=1e-6)
    assert len(ours["lines"]) == len(theirs["lines"])
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        got, want = got.split(), want.split()
        assert float(got[3].rstrip(",")) == pytest.approx(float(want[3].rstrip(",")), abs=1.1e-4)
        assert got[:3] + got[4:5] + got[6:7] == want[:3] + want[4:5] + want[6:7]


def same_draws(lib: types.ModuleType, probs: list, rng: np.random.Generator) -> Any:
    """A ``torch.multinomial(probs, num_samples=1)`` stand-in for ``lib``: the inverse CDF of numpy uniforms from
    ``rng`` (the same in both libraries); each call's probabilities are kept in ``probs``."""
    def multinomial(p: Any, num_samples: int) -> Any:
        probs.append(p.numpy().copy())
        below = np.cumsum(probs[-1], axis=-1) < rng.random((len(probs[-1]), 1))
        return lib.from_numpy(np.minimum(below.sum(-1, keepdims=True), p.shape[-1] - 1))
    return multinomial


def prefix_checkpoint(m: types.ModuleType, out_dir: Path) -> None:
    """A compiled model's checkpoint: every state_dict key under ``_orig_mod.``, as train.py's resume expects."""
    checkpoint = m.torch.load(out_dir / "ckpt.pt")
    checkpoint["model"] = {"_orig_mod." + k: v for k, v in checkpoint["model"].items()}
    m.torch.save(checkpoint, out_dir / "ckpt.pt")


def test_nanogpt_trains_resumes_and_samples_like_torch(one_torch_thread: None, data: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        whole, part = tmp_path / lib / "whole", tmp_path / lib / "part"
        start = make(m)
        start.load_state_dict({k: v.clone() for k, v in model.state_dict().items()})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = m.train(model, out_dir=str(whole), data_dir=str(data), **CONFIG)
        out["warnings"] = [(w.category, str(w.message)) for w in caught]
        first = m.train(start, out_dir=str(part), data_dir=str(data), **dict(CONFIG, max_iters=5))
        prefix_checkpoint(m, part)
        resumed = m.train(out_dir=str(part), data_dir=str(data), init_from="resume", **CONFIG)
        assert first["eval"] == out["eval"][:2] and first["loss"] == out["loss"][:6]
        tail = {k: out[k][5:] for k in ("lr", "loss", "norm")}
        assert_same_run({**tail, "eval": out["eval"][1:], "params": out["params"]},
                        {k: resumed[k] for k in (*tail, "eval", "params")})
        assert resumed["best_val_loss"] == out["best_val_loss"] == out["eval"][-1][2]
        out["samples"] = m.sample(out_dir=str(whole), data_dir=str(data), start="the ", num_samples=2,
                                  max_new_tokens=20, top_k=1)
        fresh = make(m)
        fresh.load_state_dict({k: m.torch.from_numpy(v) for k, v in out["params"].items()}, strict=False)
        fresh.eval()
        x = m.torch.tensor([[9, 5, 4, 1]])  # "the "
        margins = []
        for _ in range(20):  # the greedy steps' gaps between the two largest logits
            logits, _ = fresh(x[:, -16:])
            top = logits[0, -1].topk(2)[0].detach().numpy()
            margins.append(top[0] - top[1])
            x = m.torch.cat((x, logits[:, -1].argmax(-1, keepdim=True)), dim=1)
        out["margin"] = min(margins)
        with monkeypatch.context() as patch:
            draws = same_draws(m.torch, out.setdefault("probs", []), np.random.default_rng(5))
            patch.setattr(m.torch, "multinomial", draws)
            drawn = fresh.generate(m.torch.tensor([[9, 5, 4, 1], [3, 8, 9, 1]]), 20, temperature=0.8, top_k=3)
        out["drawn"] = drawn.numpy()
        return out

    theirs, ours = from_torch_weights(PATH, make, run)
    agree(theirs, ours)
    # deprecated, and disabled on a CPU: the same categories, each naming GradScaler (in each library's words)
    assert [c for c, _ in ours["warnings"]] == [c for c, _ in theirs["warnings"]] and len(ours["warnings"]) == 2
    assert all("GradScaler" in m for _, m in ours["warnings"] + theirs["warnings"])
    assert ours["margin"] > 1e-3 and theirs["margin"] > 1e-3
    assert ours["samples"] == theirs["samples"] and ours["samples"][0].startswith("the ") and len(ours["samples"]) == 2
    np.testing.assert_allclose(np.stack(ours["probs"]), np.stack(theirs["probs"]), rtol=0, atol=1e-6)
    assert ((np.stack(ours["probs"]) > 0).sum(-1) == 3).all()  # the top-k crop left three tokens at each step
    np.testing.assert_array_equal(ours["drawn"], theirs["drawn"])
    assert ours["loss"][-1] < 0.8 * ours["loss"][0]
    out = capsys.readouterr().out
    steps = [[float(v.rstrip(",")) for v in line.split()[4::3]] for line in out.splitlines()
             if line.startswith("step ")]
    assert len(steps) == 14  # three evaluations in the whole run, two before and two after the resume, per library
    np.testing.assert_allclose(steps[7:], steps[:7], rtol=0, atol=1.1e-4)
    assert out.count("num decayed parameter tensors: 10, with 6,560 parameters") == 6
    assert out.count("Resuming training from") == 2 and out.count("using fused AdamW: False") == 6


def test_manual_attention_after_crop_with_a_scaler(one_torch_thread: None, data: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Without ``F.scaled_dot_product_attention`` (PyTorch < 2.0) the blocks register the ``tril`` buffer; a model
    built for 32 positions is cropped to train's block_size 16 (wpe re-made as a Parameter, the buffers sliced).
    The float16 run's ``torch.cuda.amp.GradScaler`` is swapped for an enabled ``torch.amp.GradScaler('cpu')``: the
    losses are scaled by 2**16 and the gradients unscaled before clipping, in both libraries."""
    import tinygrad_adam

    def make_slow(m: types.ModuleType) -> Any:
        with monkeypatch.context() as patch:
            patch.delattr(m.torch.nn.functional, "scaled_dot_product_attention")
            model = make(m, block_size=32)
        assert not model.transformer.h[0].attn.flash
        return model

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        assert model.state_dict()["transformer.h.1.attn.bias"].shape == (1, 1, 32, 32)
        scalers = []
        with monkeypatch.context() as patch:
            patch.setattr(m.torch.cuda.amp, "GradScaler",
                          lambda enabled: scalers.append(m.torch.amp.GradScaler("cpu", enabled=enabled)) or scalers[0])
            out = m.train(model, out_dir=str(data / lib), data_dir=str(data), **dict(CONFIG, max_iters=6))
        assert scalers[0].is_enabled() and scalers[0].get_scale() == 2.0 ** 16
        assert model.config.block_size == 16 and model.transformer.wpe.weight.shape == (16, 16)
        assert model.state_dict()["transformer.h.0.attn.bias"].shape == (1, 1, 16, 16)
        assert model.transformer.wpe.weight.is_leaf and model.transformer.wpe.weight.requires_grad
        return out

    theirs, ours = from_torch_weights(PATH, make_slow, run)
    agree(theirs, ours)
    assert hasattr(tinygrad_adam.nn.functional, "scaled_dot_product_attention")  # put back
    assert capsys.readouterr().out.count("WARNING: using slow attention.") == 4


def test_model_pieces(one_torch_thread: None) -> None:
    """One forward / backward in eval mode of a model with dropout 0.1 (off there, as in SDPA's ``dropout_p``),
    four heads and no biases, on targets with ``ignore_index=-1`` entries; the inference-time last-position logits;
    get_num_params with and without the position embeddings; estimate_mfu."""
    ids = np.random.default_rng(1).integers(0, 12, (3, 8))
    targets = np.roll(ids, -1, axis=1)
    targets[0, :3] = -1

    def make_other(m: types.ModuleType) -> Any:
        return m.GPT(m.GPTConfig(block_size=8, vocab_size=12, n_layer=1, n_head=4, n_embd=8, dropout=0.1,
                                 bias=False))

    def step(m: types.ModuleType, model: Any, lib: str) -> dict:
        assert model.transformer.ln_f.bias is None and model.lm_head.weight is model.transformer.wte.weight
        model.eval()
        logits, loss = model(m.torch.from_numpy(ids), m.torch.from_numpy(targets))
        loss.backward()
        last, none = model(m.torch.from_numpy(ids))
        assert none is None and tuple(last.shape) == (3, 1, 12)
        return {"logits": logits.detach().numpy(), "last": last.detach().numpy(), "loss": loss.item(),
                "grads": {n: p.grad.numpy().copy() for n, p in model.named_parameters()},
                "counts": (model.get_num_params(), model.get_num_params(False), model.estimate_mfu(10, 0.5))}

    theirs, ours = from_torch_weights(PATH, make_other, step)
    assert ours["counts"] == theirs["counts"] and ours["counts"][:2] == (888, 952)
    np.testing.assert_allclose(ours["logits"], theirs["logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours["last"], ours["logits"][:, -1:])
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-6)
    assert_params_close(ours["grads"], theirs["grads"], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("flash", [True, False])
def test_from_pretrained_transposes_conv1d_weights(one_torch_thread: None, flash: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``from_pretrained`` on a GPT-2-layout state_dict (Conv1D weights stored transposed, the ``attn.bias`` /
    ``attn.masked_bias`` buffers skipped) copies through ``state_dict()`` views under no_grad: the parameters are
    the given arrays (transposed where GPT-2's are) and the logits agree with torch's."""
    rng = np.random.default_rng(2)
    with program(PATH, "torch") as t:
        config = t.GPTConfig(block_size=16, vocab_size=10, n_layer=2, n_head=2, n_embd=16, bias=True)
        shapes = {k: tuple(v.shape) for k, v in t.GPT(config).state_dict().items()}
    conv1d = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
    hf = {}
    for k in shapes:
        shape = shapes[k][::-1] if k.endswith(conv1d) else shapes[k]
        hf[k] = rng.standard_normal(shape).astype(np.float32) * (0.3 if len(shape) > 1 else 1)
        if k.endswith("ln_1.weight"):
            hf[k.replace("ln_1.weight", "attn.bias")] = np.tril(np.ones((16, 16), np.float32))[None, None]
            hf[k.replace("ln_1.weight", "attn.masked_bias")] = np.array(-1e4, np.float32)
    hf["lm_head.weight"] = hf["transformer.wte.weight"]
    ids = rng.integers(0, 10, (2, 12))
    results = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m, monkeypatch.context() as patch:
            if not flash:
                patch.delattr(m.torch.nn.functional, "scaled_dot_product_attention")
            model = m.GPT.from_pretrained("gpt2-mini", {"dropout": 0.0},
                                          sd_hf={k: m.torch.from_numpy(v) for k, v in hf.items()})
            got = {k: v.numpy() for k, v in model.state_dict().items() if not k.endswith(".attn.bias")}
            assert got.keys() == {k for k in hf if not k.endswith((".attn.bias", ".attn.masked_bias"))}
            for k, v in got.items():
                np.testing.assert_array_equal(v, hf[k].T if k.endswith(conv1d) else hf[k], err_msg=k)
            assert model.lm_head.weight is model.transformer.wte.weight
            logits, _ = model(m.torch.from_numpy(ids), m.torch.from_numpy(ids))
            results.append(logits.detach().numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=5e-6)
