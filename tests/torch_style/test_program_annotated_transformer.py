"""``annotated_transformer.py`` (the Annotated Transformer of Harvard NLP, 2018, at d_model 16, 2 heads, 2 layers,
vocabulary 11) run on torch and, imports swapped, on ours: from torch's initial weights and the same numpy copy-task
batches, the per-batch losses, NoamOpt's rates, token counts, epoch losses (training and evaluation), the first
decoder layer's self-attention weights, LabelSmoothing's target distribution, the greedy decodings and the final
parameters agree; a state_dict round trip gives the same outputs; and the helpers (masks, the positional encoding,
label smoothing over padded rows, ``loss.data[0]``) agree with torch's on their own.

Tolerances: float32 throughout. The attention's key bias (``linears[1].bias``) has a gradient that is zero in exact
arithmetic (a bias added to every key shifts each row of scores by one constant, which softmax ignores); both
libraries compute it as rounding noise, about 1e-9 against 1e-2 for the key weights, and different noise in each.
Adam with eps=1e-9 turns that noise into steps of about lr, so those six biases wander apart by up to the sum of the
rates (measured 0.086 against a bound of 0.30 over 24 steps) while changing the outputs only by rounding. The
wandering feeds back into rounding and grows with training (measured: other parameters within 4e-7 after 24 steps,
9e-6 after 40, 2e-3 after 72), so the run is kept to 4 epochs of 6 batches. Measured after it: losses within 3e-7,
attention weights within 3e-7, other parameters within 4e-7; we allow rtol 1e-5 and atol 1e-5 (parameters 1e-5).
The rates are computed in Python from the step count, the target distributions are set, not computed: both equal
exactly. Decodings must be equal: argmax ties never come near in these runs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-5}
PATH = HERE / "annotated_transformer.py"
V = 11


def tiny(m):
    """make_model at the tiny size; the post's attention keeps its default dropout 0.1 whatever ``dropout`` says, and
    the two generators differ, so every Dropout is set to 0."""
    model = m.make_model(V, V, N=2, d_model=16, d_ff=32, h=2, dropout=0.0, max_len=32)
    for module in model.modules():
        if isinstance(module, m.nn.Dropout):
            module.p = 0.0
    return model


@pytest.fixture(scope="module")
def runs() -> tuple[dict, dict]:
    torch.set_num_threads(1)  # the one_torch_thread fixture is function-scoped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # size_average=False: deprecated in both
        return from_torch_weights(PATH, tiny, lambda m, model, lib: m.train_copy(model, 4))


def close(key: str, theirs: dict, ours: dict) -> None:
    flat = [np.concatenate([np.ravel(v) for v in r[key]]).astype(float) for r in (ours, theirs)]
    np.testing.assert_allclose(*flat, err_msg=key, **TOL)


def test_copy_task_matches_torch(runs: tuple[dict, dict]) -> None:
    theirs, ours = runs
    assert ours.keys() == theirs.keys()
    for key in ("ntokens", "lr", "decoded", "buffers"):
        assert ours[key] == theirs[key], key
    np.testing.assert_array_equal(np.stack(ours["true_dist"]), np.stack(theirs["true_dist"]))
    for key in ("loss", "epoch", "eval", "attn"):
        close(key, theirs, ours)
    assert [a.shape for a in ours["attn"]] == [(8, 2, 9, 9)] * 4
    key_bias = [k for k in theirs["params"] if k.endswith("linears.1.bias")]
    assert len(key_bias) == 6
    assert_params_close({k: v for k, v in ours["params"].items() if k not in key_bias},
                        {k: v for k, v in theirs["params"].items() if k not in key_bias}, rtol=0, atol=1e-5)
    for k in key_bias:  # see the module docstring: zero gradient in exact arithmetic, Adam steps on the noise
        np.testing.assert_allclose(ours["params"][k], theirs["params"][k], rtol=0, atol=sum(theirs["lr"]))
    assert ours["reloaded"] == theirs["reloaded"] == 0.0
    assert ours["buffers"] == ["src_embed.1.pe", "tgt_embed.1.pe"]
    assert ours["epoch"][-1] < 0.92 * ours["epoch"][0] and ours["eval"][-1] < ours["eval"][0]  # it learned
    assert ours["lr"][:3] == pytest.approx([16 ** -0.5 * s * 40 ** -1.5 for s in (1, 2, 3)])


def test_helpers_match_torch() -> None:
    """The masks, the positional encoding, label smoothing over padded rows (none, one: a 0-d index, several) and
    ``loss.data[0]`` on a 0-d loss (IndexError in both since torch 0.4) on their own."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, V)).astype(np.float32)
    out = {}
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            t = m.torch
            src = t.from_numpy(np.array([[1, 4, 5, 0, 0], [1, 2, 0, 0, 0]]))
            b = m.Batch(src, src, 0)
            r = {"sub": m.subsequent_mask(4).numpy(), "src_mask": b.src_mask.numpy(), "trg_mask": b.trg_mask.numpy(),
                 "ntokens": b.ntokens.item(), "pe": m.PositionalEncoding(6, 0.0, 9).pe.numpy()}
            crit = m.LabelSmoothing(V, 0, 0.2)
            logp = m.F.log_softmax(t.from_numpy(x), dim=-1)
            for pads in ([], [3], [0, 4, 5]):
                target = np.array([2, 7, 1, 9, 3, 10])
                target[pads] = 0
                loss = crit(logp, t.from_numpy(target))
                r[f"loss{pads}"], r[f"dist{pads}"] = loss.item(), crit.true_dist.numpy().copy()
                with pytest.raises(IndexError, match="0-dim"):
                    loss.data[0]
            out[lib] = r
    for key in out["torch"]:
        np.testing.assert_allclose(out["ours"][key], out["torch"][key], rtol=1e-6, err_msg=key)
    assert out["ours"]["ntokens"] == 3 and out["ours"]["trg_mask"].shape == (2, 4, 4)
