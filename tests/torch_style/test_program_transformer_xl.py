"""``transformer_xl.py`` (kimiyoung/transformer-xl's mem_transformer.py, proj_adaptive_softmax.py, LMOrderedIterator
and train.py) run on torch and, imports swapped, on ours: from torch's initial weights and the same numpy corpus,
the losses, gradient norms, learning rates (manual warmup, then CosineAnnealingLR stepped with ``train_step``), every
parameter after every step, the memory lengths, validation losses under ``reset_length`` and the printed lines
(with their ``math.exp`` perplexities) agree, for the default post-norm causal model (div_val 2, tied embeddings and
projections) and for the ``pre_lnorm`` / ``same_length`` / ``clamp_len`` / ``keep_order`` variant; a restart from
the epoch-1 checkpoint equals the uninterrupted run exactly; the pieces (``_rel_shift``, the 2-d and 3-d masks, tying,
``torch.ger``, uint8 masks refused, one-token clusters through ``nonzero().squeeze()``) behave as torch's.

Tolerances: float32, the runs differing by summation order in the einsums, matmuls and LayerNorm. Measured over 6
steps (default) and 3 (variant): losses within 1.1e-7 relative, gradient norms 1.5e-7, validation losses 9.0e-8,
parameters within 4.8e-7 absolute (default; an Adam first step on a near-zero gradient entry) and 1.1e-6 (variant).
We allow rtol 1e-6 (losses, norms) and atol 2e-6 (parameters). Learning rates, memory lengths and printed lines are
compared exactly. The file takes about 6 s on the loaded shared machine (3 s of it torch's first-call warm-up)."""

from __future__ import annotations

import collections
import warnings
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PROGRAM = HERE / "transformer_xl.py"
RTOL, ATOL = 1e-6, 2e-6
CORPUS = 96  # 3 training segments of 8 x 3 per epoch, validation segments of 4 and 1


def both(tmp_path: Path, n_epoch: int = 2, **config: object) -> tuple[dict, dict]:
    def run(m: object, model: object, lib: str) -> dict:
        history = collections.defaultdict(list)
        m.train_run(m.Args(max_step=6, **config), model, m.make_corpus(CORPUS, 40), history, n_epoch=n_epoch,
                    checkpoint=str(tmp_path / f"{lib}.pt"))
        return history
    return from_torch_weights(PROGRAM, lambda m: m.build(m.Args(max_step=6, **config)), run)


def agree(theirs: dict, ours: dict) -> None:
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=RTOL)
    np.testing.assert_allclose(ours["grad_norm"], theirs["grad_norm"], rtol=RTOL)
    np.testing.assert_allclose(ours["val_loss"], theirs["val_loss"], rtol=RTOL)
    assert ours["lr"] == theirs["lr"] and ours["lines"] == theirs["lines"]
    assert ours["mem_len"] == theirs["mem_len"] and ours["eval_mem_len"] == theirs["eval_mem_len"]
    for step, (got, want) in enumerate(zip(ours["params"], theirs["params"], strict=True)):
        assert list(got) == list(want)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=ATOL, err_msg=f"{name} at step {step}")


def test_transformer_xl_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = both(tmp_path)
    agree(theirs, ours)
    assert ours["lr"][:2] == [0.01 / 3, 0.02 / 3] and ours["lr"][-1] == 0.001  # warmup, then cosine to eta_min
    assert ours["mem_len"] == [8] * 6 and ours["eval_mem_len"] == [5]  # mem_len 8 + 8 - 4 in eval, 4 + 1 tokens
    assert ours["lines"][0].startswith("| epoch   1 step        2 |      2 batches | lr 0.00667 ")
    assert ours["lines"][3].startswith("| Eval   1 at step        4 |") and "valid ppl" in ours["lines"][3]
    assert ours["loss"][-1] < ours["loss"][0]


def test_pre_lnorm_same_length_clamp_keep_order_match_torch(one_torch_thread: None, tmp_path: Path) -> None:
    theirs, ours = both(tmp_path, n_epoch=1, pre_lnorm=True, same_length=True, clamp_len=4, keep_order=True)
    agree(theirs, ours)
    assert len(ours["loss"]) == 3


@pytest.mark.parametrize("lib", ["ours", "torch"])
def test_restart_equals_uninterrupted(one_torch_thread: None, lib: str, tmp_path: Path) -> None:
    """2 epochs at once, or epoch 1, its checkpoint (model + optimizer state_dicts) and a restart for epoch 2."""
    runs = []
    with program(PROGRAM, lib) as m:
        args = m.Args(max_step=6)
        for restart in (False, True):
            m.torch.manual_seed(0)
            history = collections.defaultdict(list)
            corpus = m.make_corpus(CORPUS, 40)
            if restart:
                m.train_run(args, m.build(args), corpus, history, n_epoch=1, checkpoint=str(tmp_path / "ck.pt"))
                m.torch.manual_seed(1)  # the restarted model's own init is overwritten by the checkpoint
                m.train_run(args, m.build(args), corpus, history, n_epoch=2, restart=str(tmp_path / "ck.pt"))
            else:
                m.train_run(args, m.build(args), corpus, history, n_epoch=2)
            runs.append({"loss": history["loss"][-3:], "lr": history["lr"][-3:], "lines": history["lines"][-4:],
                         "val_loss": history["val_loss"], "params": history["params"][-1]})
    assert_same_run(*runs)


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_pieces(one_torch_thread: None, lib: str) -> None:
    """_rel_shift against its definition, the 3-d mask (the 2-d branch refused as torch refuses it), ``torch.ger``
    as ``outer``, uint8 masks refused, tied weights / projections shared, and a cluster holding one token (a 0-d
    index from ``squeeze()``)."""
    with program(PROGRAM, lib) as m:
        t = m.torch
        m.torch.manual_seed(0)
        attn = m.RelPartialLearnableMultiHeadAttn(2, 16, 8, 0.0)
        x = t.from_numpy(np.arange(3 * 5 * 2 * 2, dtype=np.float32).reshape(3, 5, 2, 2))
        shifted = attn._rel_shift(x).numpy()
        flat = np.concatenate([np.zeros((3, 1, 2, 2), np.float32), x.numpy()], 1).reshape(6, 3, 2, 2)[1:]
        np.testing.assert_array_equal(shifted, flat.reshape(3, 5, 2, 2))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # deprecated in the docs only: torch 2.13's ger does not warn
            np.testing.assert_array_equal(t.ger(t.arange(3.0), t.arange(2.0)).numpy(),
                                          np.outer(np.arange(3), np.arange(2)))
        opt = m.optim.Adam([t.nn.Parameter(t.ones(2))], lr=0.01)
        sched = m.optim.lr_scheduler.CosineAnnealingLR(opt, 6, eta_min=0.001)
        opt.step()
        with pytest.warns(UserWarning, match="epoch"):  # train.py's scheduler.step(train_step)
            sched.step(3)
        assert opt.param_groups[0]["lr"] == pytest.approx(0.0055, rel=1e-12)

        rng = np.random.default_rng(0)
        w, r = t.from_numpy(rng.normal(size=(4, 3, 16)).astype(np.float32)), t.zeros(6, 16)
        mems = t.from_numpy(rng.normal(size=(2, 3, 16)).astype(np.float32))
        bias = t.zeros(2, 8)
        mask = t.triu(w.new_ones(4, 6), diagonal=3)
        out3 = attn(w, r, bias, bias, attn_mask=mask.bool()[:, :, None], mems=mems)
        assert tuple(out3.shape) == (4, 3, 16) and np.isfinite(out3.detach().numpy()).all()
        with pytest.raises((RuntimeError, ValueError), match=r"must match the size|broadcast"):  # the 2-d
            # branch's [None, :, :, None] only broadcasts when klen is 1 or bsz
            attn(w, r, bias, bias, attn_mask=mask.bool(), mems=mems)
        with pytest.raises((RuntimeError, TypeError), match=r"(?i)bool"):
            attn(w, r, bias, bias, attn_mask=mask.byte()[:, :, None], mems=mems)  # the 2019 spelling

        model = m.build(m.Args())
        for i in range(3):
            assert model.crit.out_layers[i].weight is model.word_emb.emb_layers[i].weight
        assert model.crit.out_projs[0] is not model.word_emb.emb_projs[0]
        assert model.crit.out_projs[1] is model.word_emb.emb_projs[1]
        data = t.from_numpy(np.array([[0, 1], [2, 25], [3, 4]]))  # one token in the last cluster
        target = t.from_numpy(np.array([[1, 15], [2, 3], [4, 39]]))  # one in the middle, one in the tail
        loss, *new_mems = model(data, target)
        assert tuple(loss.shape) == (3, 2) and len(new_mems) == 3 and tuple(new_mems[0].shape) == (3, 2, 16)
        assert np.isfinite(loss.detach().numpy()).all()
        model.crit.keep_order = True
        kept = model(data, target)[0].detach().numpy()
        order = np.argsort(np.digitize(target.numpy().reshape(-1), [10, 20]), kind="stable")
        np.testing.assert_allclose(loss.detach().numpy().reshape(-1), kept.reshape(-1)[order], rtol=1e-6)


def test_single_token_clusters_match_torch(one_torch_thread: None) -> None:
    """Embedding and loss for a batch where clusters hold one token each, from torch's weights."""
    outs = []
    weights = None
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m:
            m.torch.manual_seed(0)
            model = m.build(m.Args())
            if weights is None:
                weights = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
            else:
                model.load_state_dict(weights)
            t = m.torch
            data = t.from_numpy(np.array([[0, 11], [2, 25], [3, 4]]))
            target = t.from_numpy(np.array([[1, 15], [2, 3], [4, 39]]))
            ret = model(data, target)
            ret[0].mean().backward()
            head_only = model(data % 10, target % 10, *ret[1:])  # empty clusters skipped, memories fed back
            outs.append((ret[0].detach().numpy(), model.word_emb.emb_projs[2].grad.numpy(),
                         head_only[0].detach().numpy(), head_only[1].numpy()))
    for got, want in zip(outs[1], outs[0], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=5e-9)  # measured: 9.6e-8 relative, 1.9e-9 abs
