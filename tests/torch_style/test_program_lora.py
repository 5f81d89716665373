"""``lora.py`` (microsoft/LoRA's loralib layers.py / utils.py and examples/NLG's GPT-2, shrunk) run on torch and,
imports swapped, on ours, from torch's initial weights and the same numpy token batches: the base model's Adam
pretraining losses (and ``CrossEntropyLoss(reduce=False)``'s deprecation warning); the LoRA model's ``strict=False``
load (missing / unexpected keys), which parameters require grad after ``mark_only_lora_as_trainable``; the AdamW +
warmup LambdaLR fine-tune's losses (label smoothing), clipped gradient norms, learning rates and LoRA parameters
after each step; the frozen base weights untouched; eval (merge) / train (unmerge) cycles with the merged weights,
the outputs merged against unmerged and the base weights restored after each unmerge; and the
``lora_state_dict``-only checkpoint restored into a fresh model from the pretrained weights. Besides: the README's
lora.Embedding (padding_idx) and lora.Linear (plain and fan_in_fan_out) under each ``bias=`` mode of
mark_only_lora_as_trainable / lora_state_dict, their inits, and an Embedding with ``max_norm`` renormalising its
weight (and lora_A, through its transpose) in F.embedding; a lone MergedLinear (enable_lora [False, True, True],
either fan_in_fan_out) with its gradients and merge.

Tolerances: float32, the runs differ by summation order in the matmuls, the conv1d merge and the attention.
Measured: pretraining losses equal, fine-tune losses within 9.9e-8 and clipped gradient norms within 1.5e-7
relative, LoRA parameters within 1.9e-7 and merged c_attn weights within 2.2e-7 absolute, probe logits within 1.7e-7;
in each library the merged outputs within 9e-8 (GPT-2) / 6e-8 (classifier) of the unmerged ones and the unmerged
base weights within 7.5e-9 / 1.2e-7 of the pretrained (the rounding of ``+=`` then ``-=``); the classifier's losses
equal and parameters within 1e-7; the lone MergedLinear's output within 2.4e-7 (of 4.2), gradients within 7.6e-6
(lora_A, of 68) and 6.3e-7 relative. We allow rtol 1e-6 / atol 1e-6 for the series and parameters, atol 1e-6 for
the logits, 5e-7 for the merge gaps and drifts, and rtol 2e-6 / atol 1e-6 for the lone layer. Key lists,
requires_grad names, learning rates and accuracies are compared exactly; the restored model equals the fine-tuned
one bit for bit in each library. The file takes about 4.5 s (torch on one thread) on a shared 2-core machine."""

from __future__ import annotations

import math
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "lora.py"
TOL = {"rtol": 1e-6, "atol": 1e-6}
SIZES = {"n_positions": 16, "n_ctx": 16, "n_embd": 16, "n_layer": 2, "n_head": 2}


def base(m: types.ModuleType) -> Any:
    """The pretrained model: the GPT-2 with ``lora_attn_dim=0`` (c_attn a MergedLinear without LoRA)."""
    return m.GPT2LMModel(m.GPT2Config(12, **SIZES))


def lora_config(m: types.ModuleType) -> Any:
    return m.GPT2Config(12, lora_attn_dim=2, lora_attn_alpha=4, merge_weights=True, **SIZES)


def test_lora_finetune_merge_and_restore_like_torch(one_torch_thread: None, tmp_path: Path) -> None:
    lora_init: dict = {}
    probe = np.random.default_rng(7).integers(0, 12, (3, 8))

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        torch_ = m.torch
        out: dict = {}
        pre, ckpt = tmp_path / f"{lib}_base.pt", tmp_path / f"{lib}_lora.pt"
        assert model.lm_head.decoder.weight is model.transformer.wte.weight
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out["pretrain"] = m.pretrain(model, m.make_batches(0, 3), pre)["loss"]
        out["warnings"] = sorted({(w.category.__name__, str(w.message)) for w in caught})
        pretrained = {k: v.numpy().copy() for k, v in torch_.load(pre).items()}
        assert pretrained["transformer.h.0.attn.c_attn.weight"].shape == (16, 48)  # fan_in_fan_out: (in, out)

        torch_.manual_seed(1)
        lm = m.GPT2LMModel(lora_config(m))
        c_attn = lm.transformer.h[0].attn.c_attn
        assert c_attn.scaling == 2.0 and c_attn.r == 2 and not c_attn.merged and c_attn.merge_weights
        assert c_attn.lora_ind.tolist() == [True] * 16 + [False] * 16 + [True] * 16
        assert tuple(c_attn.lora_A.shape) == (4, 16) and tuple(c_attn.lora_B.shape) == (32, 2)
        assert not c_attn.lora_B.detach().numpy().any()
        bound = 1 / math.sqrt(16)  # kaiming_uniform_(a=sqrt(5)) on fan_in 16
        assert np.abs(c_attn.lora_A.detach().numpy()).max() <= bound
        if lib == "torch":
            lora_init.update({k: v.numpy().copy() for k, v in m.lora_state_dict(lm).items()})
        else:  # torch's draws of lora_A
            lm.load_state_dict({k: torch_.from_numpy(v) for k, v in lora_init.items()}, strict=False)
        missing, unexpected = m.load_pretrained(lm, pre)
        out["keys"] = (list(missing), list(unexpected), list(lm.state_dict()))
        out["trainable"] = [n for n, p in lm.named_parameters() if p.requires_grad]

        history = m.finetune(lm, m.make_batches(1, 5), ckpt)
        out.update(history)
        weights = {k: v.numpy().copy() for k, v in lm.state_dict().items() if "lora_" not in k}
        for k, v in weights.items():  # the frozen weights did not move
            np.testing.assert_array_equal(v, pretrained[k], err_msg=k)

        x = torch_.from_numpy(probe)
        unmerged = lm(x)[0].detach().numpy()
        out["logits"], out["merged"], out["gap"], out["drift"] = unmerged, [], [], []
        for _ in range(3):
            lm.eval()
            assert all(b.attn.c_attn.merged for b in lm.transformer.h)
            out["merged"].append(lm.transformer.h[1].attn.c_attn.weight.detach().numpy().copy())
            with torch_.no_grad():
                merged = lm(x)[0].numpy()
            lm.train()
            assert not any(b.attn.c_attn.merged for b in lm.transformer.h)
            again = lm(x)[0].detach().numpy()
            out["gap"].append(max(np.abs(merged - unmerged).max(), np.abs(again - unmerged).max()))
            out["drift"].append(max(np.abs(lm.state_dict()[k].numpy() - v).max() for k, v in weights.items()))

        saved = torch_.load(ckpt)
        assert list(saved) == [k for k in lm.state_dict() if "lora_" in k]
        fresh = m.restore(lora_config(m), pre, ckpt)
        for k, v in fresh.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), history["lora"][-1][k] if "lora_" in k else pretrained[k])
        np.testing.assert_array_equal(fresh(x)[0].detach().numpy(), unmerged)
        ids, labels, mask = m.to_batch(m.make_batches(2, 1)[0])
        _, loss, t1, whole = fresh(ids, lm_labels=labels, lm_mask=mask, is_report_accuracy=True)
        out["accuracy"] = (loss.item(), t1.tolist(), whole.tolist())
        return out

    theirs, ours = from_torch_weights(PATH, base, run)
    assert ours["keys"] == theirs["keys"]
    assert ours["keys"][0] == [f"transformer.h.{i}.attn.c_attn.lora_{a}" for i in (0, 1) for a in "AB"]
    assert ours["keys"][1] == [] and ours["trainable"] == theirs["trainable"] == ours["keys"][0]
    assert ours["lr"] == theirs["lr"]
    # one UserWarning naming the legacy arguments and reduction='none' (each library's own sentence)
    for said in (ours["warnings"], theirs["warnings"]):
        assert [c for c, _ in said] == ["UserWarning"] and all(w in said[0][1] for w in ("size_average", "'none'"))
    assert ours["accuracy"][1:] == theirs["accuracy"][1:]
    assert ours["accuracy"][0] == pytest.approx(theirs["accuracy"][0], rel=1e-6)
    for key in ("pretrain", "loss", "norm"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    for got, want in zip(ours["lora"], theirs["lora"], strict=True):
        assert_params_close(got, want, **TOL)
    np.testing.assert_allclose(np.stack(ours["merged"]), np.stack(theirs["merged"]), **TOL)
    np.testing.assert_allclose(ours["logits"], theirs["logits"], rtol=0, atol=1e-6)
    for out in (ours, theirs):
        assert max(out["gap"]) < 5e-7 and max(out["drift"]) < 5e-7


def test_embedding_and_linear_layers_like_torch(one_torch_thread: None) -> None:
    """The README's layers: their inits, the three ``bias=`` modes, a few AdamW steps, merge / unmerge."""
    ids = np.random.default_rng(3).integers(0, 12, (6, 5))
    ids[:, 3:] = 0  # padding
    labels = np.arange(6) % 3

    def make(m: types.ModuleType) -> Any:
        return m.Classifier()

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        torch_ = m.torch
        fresh = m.Classifier()
        assert not fresh.emb.lora_A.detach().numpy().any() and fresh.emb.lora_B.detach().numpy().std() > 0.3
        assert not fresh.fc1.lora_B.detach().numpy().any() and tuple(fresh.fc1.weight.shape) == (8, 8)
        assert tuple(fresh.fc2.weight.shape) == (3, 8) and fresh.fc2.scaling == 4.0 and fresh.emb.scaling == 2.0
        assert fresh.fc1.lora_dropout(ids) is ids and isinstance(m.Linear(4, 4, r=1, lora_dropout=0.1).lora_dropout,
                                                                  m.nn.Dropout)
        out: dict = {"modes": {}}
        for bias in ("none", "all", "lora_only"):
            m.mark_only_lora_as_trainable(fresh, bias=bias)
            out["modes"][bias] = ([n for n, p in fresh.named_parameters() if p.requires_grad],
                                  list(m.lora_state_dict(fresh, bias=bias)))
        m.mark_only_lora_as_trainable(model, bias="lora_only")
        optimizer = torch_.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.05)
        x, y = torch_.from_numpy(ids), torch_.from_numpy(labels)
        out["loss"], out["params"] = [], []
        for _ in range(4):
            loss = torch_.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            out["loss"].append(loss.item())
            out["params"].append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
        assert not model.emb.lora_A.detach().numpy()[:, 0].any()  # padding_idx: no gradient into column 0
        unmerged = model(x).detach().numpy()
        weights = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        model.eval()
        out["merged"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        out["gap"] = np.abs(model(x).detach().numpy() - unmerged).max()
        model.train()
        out["drift"] = max(np.abs(v.detach().numpy() - weights[k]).max() for k, v in model.state_dict().items())

        unmerging = m.Classifier(merge_weights=False)
        before = {k: v.detach().numpy().copy() for k, v in unmerging.state_dict().items()}
        unmerging.eval()
        assert not unmerging.fc1.merged and not unmerging.training and not unmerging.emb.training
        for k, v in unmerging.state_dict().items():
            np.testing.assert_array_equal(v.detach().numpy(), before[k])

        renorm = m.Embedding(12, 4, r=2, max_norm=1.0)
        renorm.load_state_dict({"weight": torch_.from_numpy(weights["emb.weight"][:, :4].copy()),
                                "lora_A": torch_.from_numpy(weights["emb.lora_A"] * 10),
                                "lora_B": torch_.from_numpy(weights["emb.lora_B"][:4].copy())})
        out["renorm"] = renorm(torch_.from_numpy(ids[:2])).detach().numpy()
        out["renormed"] = renorm.weight.detach().numpy().copy()
        out["renormed_A"] = renorm.lora_A.detach().numpy().copy()  # F.embedding renormed lora_A.transpose(0, 1)
        assert np.abs(out["renormed_A"] - weights["emb.lora_A"] * 10).max() > 0.1
        return out

    theirs, ours = from_torch_weights(PATH, make, run)
    assert ours["modes"] == theirs["modes"]
    lora_keys = ["emb.lora_A", "emb.lora_B", "fc1.lora_A", "fc1.lora_B", "fc2.lora_A", "fc2.lora_B"]
    assert ours["modes"]["none"] == (lora_keys, lora_keys)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], **TOL)
    for got, want in zip(ours["params"], theirs["params"], strict=True):
        assert_params_close(got, want, **TOL)
    assert_params_close(ours["merged"], theirs["merged"], **TOL)
    assert max(ours["gap"], theirs["gap"], ours["drift"], theirs["drift"]) < 5e-7
    np.testing.assert_allclose(ours["renorm"], theirs["renorm"], **TOL)
    np.testing.assert_allclose(ours["renormed"], theirs["renormed"], **TOL)
    np.testing.assert_allclose(ours["renormed_A"], theirs["renormed_A"], **TOL)



@pytest.mark.parametrize("fan_in_fan_out", [False, True])
def test_merged_linear_like_torch(one_torch_thread: None, fan_in_fan_out: bool) -> None:
    """A MergedLinear with enable_lora [False, True, True] (lora_ind, the grouped conv1d B, zero_pad): the output and
    the gradients of lora_A / lora_B / bias with a nonzero B, then the merged weight and output."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 8)).astype(np.float32)
    b = rng.standard_normal((8, 2)).astype(np.float32)

    def make(m: types.ModuleType) -> Any:
        return m.MergedLinear(8, 12, r=2, lora_alpha=3, enable_lora=[False, True, True],
                              fan_in_fan_out=fan_in_fan_out)

    def run(m: types.ModuleType, layer: Any, lib: str) -> dict:
        assert layer.lora_ind.tolist() == [False] * 4 + [True] * 8
        assert tuple(layer.weight.shape) == ((8, 12) if fan_in_fan_out else (12, 8))
        with m.torch.no_grad():
            layer.lora_B.copy_(m.torch.from_numpy(b))
        y = layer(m.torch.from_numpy(x))
        (y * y).sum().backward()
        out = {"y": y.detach().numpy(), "delta": layer.merge_AB().detach().numpy()}
        out.update({n: p.grad.numpy().copy() for n, p in layer.named_parameters() if p.grad is not None})
        assert layer.weight.grad is None and not layer.weight.requires_grad
        layer.eval()
        out["merged"] = layer.weight.detach().numpy().copy()
        out["y_merged"] = layer(m.torch.from_numpy(x)).detach().numpy()
        return out

    theirs, ours = from_torch_weights(PATH, make, run)
    assert ours.keys() == theirs.keys() == {"y", "delta", "bias", "lora_A", "lora_B", "merged", "y_merged"}
    assert_params_close(ours, theirs, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(ours["y_merged"], ours["y"], rtol=0, atol=2e-6)
