"""``mamba_minimal.py`` (johnma2006's mamba-minimal with a training loop around it) run on torch and, imports
swapped, on ours from torch's initial weights and the same token batches: the losses, gradient norms (after
clip_grad_norm_), learning rates (linear warmup + cosine LambdaLR), accuracies, printed lines, final parameters and
greedy generations agree; a resume from a mid-run checkpoint (model + AdamW + LambdaLR through ``torch.save`` /
``torch.load``) equals the uninterrupted run bit for bit in each library; one forward / backward agrees in the
logits and every parameter's gradient for a second configuration (``bias=True``, ``conv_bias=False``, an int
``dt_rank``, no vocabulary padding), in float32 and after ``model.double()``; a state_dict round trip keeps the
tied lm_head and the outputs; and the demo's top-k sampling (``probs[probs < values[:, -1, None]] = 0``,
``sum(axis=1, keepdims=True)``, multinomial) draws only top-k tokens.

Tolerances: float32 (and one float64 forward / backward); the runs differ by summation order in the matmuls, the
depthwise Conv1d and the einsums. Measured over 30 AdamW steps (lr 1e-2): losses within 1e-6 absolute (of 1.3 to
15), gradient norms within 3.9e-6 (of ~4), parameters within 2.4e-7, accuracies and learning rates equal; one
forward / backward: logits within 1.9e-6 (of ~13), gradients within 1.8e-7; in float64, logits within 5.7e-11 and
gradients within 7e-13 (A is float32 in both, so the A_log gradient is rounded to float32 on its way). We allow
rtol 1e-5 and atol 2e-5 for the series, atol 2e-6 for the parameters, rtol 1e-5 with atol 1e-6 for logits and
gradients (float64: rtol 1e-9, atol 1e-11). A printed loss (four decimals) could round the other way, so it is
compared by value within 1.1e-4 and the rest of each line as text. Generations are argmaxes of logits far apart
after training (checked at every step: the top two differ by more than 1e-3; measured at least 0.018), so they
must be equal."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "mamba_minimal.py"
TOL = {"rtol": 1e-5, "atol": 2e-5}
STEPS, SAVE_AT = 30, 15
PROMPT = np.array([[1, 3, 5], [2, 4, 6], [7, 8, 9]])


def make(m: types.ModuleType) -> Any:
    """The program's Mamba: d_model 16, two layers, vocabulary 13 (padded to 16), d_state 4."""
    return m.Mamba(m.ModelArgs(d_model=16, n_layer=2, vocab_size=13, d_state=4))


def train_and_resume(m: types.ModuleType, model: Any, lib: str) -> dict:
    """The whole run (saving at SAVE_AT), its greedy generations with the smallest gap between the top two logits
    over their steps, and the run resumed from the checkpoint (checked equal here)."""
    batches = m.make_batches(STEPS, 4, 12, 13)
    whole = m.train(model, batches, lr=1e-2, save_at=SAVE_AT, log_interval=5)
    generated = m.generate(model, m.torch.from_numpy(PROMPT), 6, sample=False, top_k=4)
    whole["generated"] = generated.numpy()
    with m.torch.no_grad():
        logits = np.stack([model(generated[:, :k])[:, -1].numpy() for k in range(3, 9)])
    whole["margin"] = np.diff(np.sort(logits, axis=-1)[..., -2:], axis=-1).min()
    resumed = m.train(make(m), batches, lr=1e-2, checkpoint=whole.pop("saved"), log_interval=5)
    tail = {k: v[SAVE_AT:] for k, v in whole.items() if k in ("loss", "norm", "lr", "acc")}
    assert_same_run({**tail, "params": whole["params"]}, {k: resumed[k] for k in (*tail, "params")})
    assert resumed["lines"] == [line for line in whole["lines"] if int(line.split()[1]) >= SAVE_AT]
    return whole


def test_mamba_trains_and_generates_like_torch(one_torch_thread: None, capsys: pytest.CaptureFixture[str]) -> None:
    theirs, ours = from_torch_weights(PATH, make, train_and_resume)
    for key in ("loss", "norm", "lr", "acc"):
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert ours["lr"] == theirs["lr"] and ours["acc"] == theirs["acc"]
    assert len(ours["lines"]) == len(theirs["lines"]) == STEPS // 5
    for got, want in zip(ours["lines"], theirs["lines"], strict=True):
        got, want = got.split(" | "), want.split(" | ")
        assert float(got[1].split()[1]) == pytest.approx(float(want[1].split()[1]), abs=1.1e-4)
        assert got[:1] + got[2:] == want[:1] + want[2:]
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=2e-6)
    assert len(ours["params"]) == 22  # the tied lm_head.weight is embedding.weight, listed once
    assert ours["margin"] > 1e-3 and theirs["margin"] > 1e-3
    np.testing.assert_array_equal(ours["generated"], theirs["generated"])
    assert ours["generated"].dtype == np.int64 and ours["generated"].shape == (3, 9)
    assert ours["loss"][-1] < 0.2 * ours["loss"][0] and max(ours["acc"][-5:]) > 0.5  # it learned the strides
    out = capsys.readouterr().out
    assert out.count("num decayed parameter tensors: 11, with 4,224 parameters") == 4  # both libraries, two runs each
    assert out.count("num non-decayed parameter tensors: 11, with 496 parameters") == 4


@pytest.mark.parametrize("dtype", ["float", "double"])
def test_forward_backward_of_another_configuration(one_torch_thread: None, dtype: str) -> None:
    """bias=True, conv_bias=False, dt_rank=3, d_state 16, vocabulary 24 (a multiple of 8: no padding); in float32,
    and after ``model.double()``, where the scan's float32 ``A`` meets float64 ``delta`` in an einsum."""
    ids = np.random.default_rng(1).integers(0, 24, (2, 9))

    def make_other(m):
        args = m.ModelArgs(d_model=8, n_layer=1, vocab_size=24, dt_rank=3, bias=True, conv_bias=False)
        return getattr(m.Mamba(args), dtype)()

    def step(m, model, lib):
        assert model.args.d_inner == 16 and model.args.dt_rank == 3 and model.args.vocab_size == 24
        mixer = model.layers[0].mixer
        assert mixer.conv1d.bias is None and mixer.in_proj.bias is not None
        assert str(mixer.A_log.dtype).endswith(f"float{32 if dtype == 'float' else 64}")
        assert mixer.A_log.shape == (16, 16)
        logits = model(m.torch.from_numpy(ids))
        logits.logsumexp(-1).mean().backward()
        return {"logits": logits.detach().numpy(),
                "grads": {n: p.grad.numpy().copy() for n, p in model.named_parameters()}}

    theirs, ours = from_torch_weights(PATH, make_other, step)
    assert ours["logits"].shape == (2, 9, 24) and ours["logits"].dtype == theirs["logits"].dtype
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == "float" else {"rtol": 1e-9, "atol": 1e-11}
    np.testing.assert_allclose(ours["logits"], theirs["logits"], **tol)
    assert_params_close(ours["grads"], theirs["grads"], **tol)


def test_args_tied_weights_and_state_dict_round_trip(one_torch_thread: None) -> None:
    with program(PATH, "torch") as t:
        want = list(make(t).state_dict())
    with program(PATH, "ours") as o:
        args = o.ModelArgs(d_model=20, n_layer=1, vocab_size=13)
        assert (args.d_inner, args.dt_rank, args.vocab_size) == (40, 2, 16)  # ceil(20 / 16), padded to 8
        model = make(o)
        assert list(model.state_dict()) == want and want[-1] == "lm_head.weight"
        assert model.lm_head.weight is model.embedding.weight
        a_log = model.layers[0].mixer.A_log.detach().numpy()
        np.testing.assert_array_equal(a_log[3], np.log(np.arange(1, 5, dtype=np.float32)))
        ids = o.torch.from_numpy(PROMPT)
        model.eval()
        with o.torch.no_grad():
            before = model(ids).numpy()
            fresh = o.save_and_load(model)
            np.testing.assert_array_equal(fresh(ids).numpy(), before)
        assert fresh.lm_head.weight is fresh.embedding.weight
        greedy = o.generate(model, ids, 3, sample=False, top_k=None).numpy()
        np.testing.assert_array_equal(o.generate(fresh, ids, 3, sample=False, top_k=None).numpy(), greedy)
        o.torch.manual_seed(0)
        drawn = o.generate(model, ids, 4, top_k=3)
        with o.torch.no_grad():  # each drawn token is among the top 3 of its step's logits
            top = [model(drawn[:, :k])[:, -1].topk(3)[1].numpy() for k in range(3, 7)]
        assert all(drawn.numpy()[i, 3 + k] in top[k][i] for i in range(3) for k in range(4))
