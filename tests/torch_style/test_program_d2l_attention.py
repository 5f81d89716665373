"""``d2l_attention.py`` (Dive into Deep Learning's attention chapter: masked softmax, additive / dot-product /
multi-head attention on LazyLinear layers, the Bahdanau GRU encoder-decoder trained with MaskedSoftmaxCELoss, the
hand-written grad_clipping and Adam, greedy predict_seq2seq) run on torch and, imports swapped, on ours from torch's
initial weights (the materialised LazyLinear weights included): the per-sequence training losses, the gradient
norms before clipping, the epoch losses and printed lines, the translations, BLEU scores and attention weights of
greedy decoding, the decoder run without valid lengths, the final parameters, and the chapter's small examples.

Tolerances: float32; the runs differ by rounding in the GRU steps, the attention and Adam. Measured over 36 Adam
steps (lr 0.03, the gradients clipped from norms up to 6.9 to 1): per-sequence losses within 1.9e-6 (of ~2),
gradient norms within 1.2e-5 (2e-6 relative), epoch losses within 4.2e-8, attention weights within 3e-6, the
no-valid-lengths decoder outputs within 3.4e-6 (of ~7.5), parameters within 3.5e-6; the examples within 1.8e-7;
Nadaraya-Watson's kernel regression (5 SGD steps) within 3.5e-6 (its attention weights) and its printed losses
within 1e-7 relative. We allow rtol 1e-5 and atol 1e-5 (parameters atol 1e-5; printed losses rtol 1e-6).
Translations and BLEU must be equal; a printed line is compared without its tokens/sec. The file runs in about 4 s
of CPU time (both libraries)"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 1e-5}
PROGRAM = HERE / "d2l_attention.py"


def make_net(m: object) -> object:
    _, src_vocab, tgt_vocab = m.load_data_nmt(8, 7)
    return m.make_net(src_vocab, tgt_vocab)


def test_bahdanau_seq2seq_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = from_torch_weights(PROGRAM, make_net, lambda m, model, lib: m.run(model, num_epochs=6, lr=0.03))
    for key in ("loss", "norm", "epoch_loss", "attention", "no_valid_lens"):
        assert [np.shape(v) for v in ours[key]] == [np.shape(v) for v in theirs[key]], key
        assert [np.asarray(v).dtype for v in ours[key]] == [np.asarray(v).dtype for v in theirs[key]], key
        np.testing.assert_allclose(np.concatenate([np.ravel(v) for v in ours[key]]),
                                   np.concatenate([np.ravel(v) for v in theirs[key]]), err_msg=key, **TOL)
    assert ours["translations"] == theirs["translations"] and ours["bleu"] == theirs["bleu"]
    assert [line.split(", ")[0] for line in ours["lines"]] == [line.split(", ")[0] for line in theirs["lines"]]
    assert all(line.endswith("tokens/sec on cpu") for line in ours["lines"])
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=1e-5)
    assert ours["epoch_loss"][-1] < 0.6 * ours["epoch_loss"][0] and max(ours["norm"]) > 1  # learned; clipped


def test_attention_examples_match_torch(one_torch_thread: None) -> None:
    theirs, ours = from_torch_weights(PROGRAM, lambda m: m.make_attentions(),
                                      lambda m, model, lib: m.attention_demos(model))
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert ours[key].dtype == theirs[key].dtype and ours[key].shape == theirs[key].shape, key
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert ours["mask_int"].tolist() == [[1, 0, 0], [4, 5, 0]]
    np.testing.assert_allclose(ours["loss"], [np.log(10), np.log(10) / 2, 0], rtol=1e-6)
    assert (ours["softmax_empty"][0, 0] == 0.25).all()
    assert (ours["softmax_1d"][0, :, 2:] == 0).all() and (ours["multihead_weights"][4:, :, 2:] == 0).all()


def recording_warnings(fn: Callable[..., tuple], *args: object) -> tuple:
    """``fn(*args)``'s results and the messages of the warnings it raised, in order."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        return *fn(*args), [f"{w.category.__name__}: {w.message}" for w in caught]


def test_nadaraya_watson_matches_torch(one_torch_thread: None) -> None:
    """The book's ``float(l.sum())`` of a tensor that requires grad warns once a process in both (a UserWarning,
    so whether it shows here depends on the tests run before); nothing else warns."""
    (theirs, lines_t, warned_t), (ours, lines_o, warned_o) = from_torch_weights(
        PROGRAM, lambda m: m.NWKernelRegression(), lambda m, net, lib: recording_warnings(m.nadaraya_watson, net))
    once = ("UserWarning: Converting a tensor with requires_grad=True",  # torch's words
            "UserWarning: Reading a Python number from a tensor that requires grad")  # ours
    for warned in (warned_o, warned_t):
        assert all(w.startswith(once) for w in warned), warned
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert ours[key].dtype == theirs[key].dtype and ours[key].shape == theirs[key].shape, key
        np.testing.assert_allclose(ours[key], theirs[key], err_msg=key, **TOL)
    assert [line.rsplit(" ", 1)[0] for line in lines_o] == [line.rsplit(" ", 1)[0] for line in lines_t]
    np.testing.assert_allclose([float(line.rsplit(" ", 1)[1]) for line in lines_o],
                               [float(line.rsplit(" ", 1)[1]) for line in lines_t], rtol=1e-6)
    assert float(lines_o[-1].rsplit(" ", 1)[1]) < 0.5 * float(lines_o[0].rsplit(" ", 1)[1])


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_lazy_layers_become_linear_before_xavier_init(lib: str) -> None:
    """After the dummy forward, d2l's ``type(m) == nn.Linear`` holds for the LazyLinear layers, so xavier_uniform_
    (bound sqrt(6 / (16 + 16)) = 0.43 for W_k) replaces their kaiming init (bound 1 / sqrt(16) = 0.25); the GRU
    weights named in ``_flat_weights_names`` get it too (bound 0.33 for weight_ih_l0), its biases do not."""
    with program(PROGRAM, lib) as m:
        m.torch.manual_seed(0)
        net = make_net(m)
        attention = net.decoder.attention
        assert all(type(layer) is m.nn.Linear for layer in (attention.W_k, attention.W_q, attention.w_v))
        assert np.abs(attention.W_k.weight.detach().numpy()).max() > 0.25
        rnn = net.encoder.rnn
        assert rnn._flat_weights_names == [f"{kind}_l{layer}" for layer in (0, 1)
                                           for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        assert [p is getattr(rnn, name) for p, name in zip(rnn._flat_weights, rnn._flat_weights_names)] == [True] * 8
        assert np.abs(rnn.weight_ih_l0.detach().numpy()).max() > 0.25
        assert np.abs(rnn.bias_ih_l0.detach().numpy()).max() <= 0.25


def test_nmt_arrays_match_torch() -> None:
    """build_array_nmt's padded arrays and valid lengths (an int32 mask summed: int64, as torch)."""
    arrays = []
    for lib in ("torch", "ours"):
        with program(PROGRAM, lib) as m:
            batch = next(iter(m.load_data_nmt(8, 7)[0]))
            arrays.append([(x.numpy(), str(x.dtype).removeprefix("torch.")) for x in batch])
    for (got, got_dtype), (want, want_dtype) in zip(*arrays[::-1], strict=True):
        assert got_dtype == want_dtype and np.array_equal(got, want)
