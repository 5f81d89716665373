"""``reformer_lsh.py`` (a tiny Reformer language model: LSH attention and reversible residual layers) run on torch
and, imports swapped, on ours, from torch's initial weights, the same fixed rotations and the same numpy token
batches: four Adam steps on a copy task, with the losses, the gradient norms, the hash buckets of every layer at
every step, and the final parameters; the reversible model (a ``torch.autograd.Function`` whose backward rebuilds
each block's input and calls ``torch.autograd.backward`` on recomputed f / g) against the same blocks under
ordinary autograd, in each library; the rows fetched by ``gather`` and by the batched ``index_select`` alike; and
one LSHAttention call's output and input gradients (sort(stable=True) / argsort / gather / roll / the self and
causal masks / logsumexp), with the bucket ids, against torch's, and ``torch.autograd.gradcheck`` of it in float64
passing in each library.

The bucket ids come from ``argmax`` over rotated vectors; they are compared exactly, so a rounding difference that
flipped a near tie would show there first (none in these runs).

Tolerances: float32; the runs differ by summation order in the einsums, the matmuls and LayerNorm. Measured: losses
within 4.8e-7 (of 2.6), gradient norms within 6e-8 (of 0.7), parameters within 6e-8, the lone attention's output
within 3.6e-7 (of 2.1) and its input gradients within 2.4e-7 (of 3.4); in each library the reversible run's losses
within 2.4e-7, gradient norms within 6e-8 and parameters within 6.8e-8 of the plain run's (the recomputing backward
adds the parameter gradients in another order; equal losses at the first step). We allow rtol 1e-6 / atol 1e-6;
bucket ids are compared exactly. The file takes about 4 s (torch on one thread)."""

from __future__ import annotations

import functools
import itertools
import types
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "reformer_lsh.py"
TOL = {"rtol": 1e-6, "atol": 1e-6}


def train_both(m: types.ModuleType, model: Any) -> dict:
    """The program's training from ``model``'s weights, reversible, then plain with the same start."""
    start = {k: v.clone() for k, v in model.state_dict().items()}
    out = m.train(model, m.copy_batches(0, 4))
    out["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    assert all(block.f.fn.attn.sorts_agree is True for block in model.blocks)
    for name, use_checkpoint in (("plain", None), ("reentrant", True), ("checkpoint", False)):
        plain = m.ReformerLM(m.make_rotations(0), reversible=False, use_checkpoint=use_checkpoint)
        plain.load_state_dict(start)
        out[name] = m.train(plain, m.copy_batches(0, 4))
        out[name]["params"] = {k: v.detach().numpy().copy() for k, v in plain.state_dict().items()}
    return out


@pytest.mark.parametrize("use_index_select", [False, True], ids=["gather", "index_select"])
def test_reformer_trains_like_torch(one_torch_thread: None, use_index_select: bool) -> None:
    def make(m: types.ModuleType) -> Any:
        return m.ReformerLM(m.make_rotations(0), use_index_select=use_index_select)

    def run(m: types.ModuleType, model: Any, lib: str) -> dict:
        assert model.reversible
        return train_both(m, model)

    theirs, ours = from_torch_weights(PATH, make, run)
    assert ours["buckets"] == theirs["buckets"]
    first = np.array(theirs["buckets"][0][0])  # layer 0 at step 0: (B * heads, n_hashes * T)
    assert len(np.unique(first)) >= 6  # the tokens spread over many buckets (8 per hash round)
    for key in ("loss", "norm"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert_params_close(ours["params"], theirs["params"], **TOL)
    for out, other in itertools.product((ours, theirs), ("plain", "reentrant", "checkpoint")):
        assert out[other]["buckets"] == out["buckets"]
        np.testing.assert_allclose(out[other]["loss"], out["loss"], err_msg=other, **TOL)
        np.testing.assert_allclose(out[other]["norm"], out["norm"], err_msg=other, **TOL)
        assert_params_close(out[other]["params"], out["params"], **TOL)
    for out in (ours, theirs):  # recomputing the same ops in the same order: the plain run's numbers exactly
        assert out["checkpoint"]["loss"] == out["plain"]["loss"] and out["reentrant"]["norm"] == out["plain"]["norm"]


@pytest.mark.parametrize("causal", [False, True])
def test_lsh_attention_like_torch(causal: bool) -> None:
    rng = np.random.default_rng(5)
    qk = rng.standard_normal((3, 16, 4)).astype(np.float32)
    v = rng.standard_normal((3, 16, 4)).astype(np.float32)
    rotations = rng.standard_normal((4, 3, 2)).astype(np.float32)  # 3 hash rounds of 4 buckets
    weight = rng.standard_normal((3, 16, 4)).astype(np.float32)
    results = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            t = m.torch
            q, val = t.tensor(qk, requires_grad=True), t.tensor(v, requires_grad=True)
            attn = m.LSHAttention(bucket_size=4, causal=causal)
            out = attn(q, val, t.from_numpy(rotations))
            (out * t.from_numpy(weight)).sum().backward()
            assert attn.sorts_agree is True
            q64, v64 = (t.tensor(a[:1, :8].astype(np.float64), requires_grad=True) for a in (qk, v))
            rot64 = t.from_numpy(rotations.astype(np.float64))
            assert t.autograd.gradcheck(functools.partial(attn, rotations=rot64), (q64, v64))
            results.append({"out": out.detach().numpy(), "dq": q.grad.numpy(), "dv": val.grad.numpy(),
                            "buckets": attn.last_buckets.numpy()})
    theirs, ours = results
    np.testing.assert_array_equal(ours["buckets"], theirs["buckets"])
    assert ours["buckets"].dtype == np.int64 and ours["buckets"].max() < 12
    for key in ("out", "dq", "dv"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
