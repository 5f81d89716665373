"""Fixes found by the Transformer-modules probe (``nn.Transformer``, ``TransformerEncoder`` / ``Decoder`` and their
layers, ``nn.MultiheadAttention`` as a module, against torch). Values, gradients and state_dicts already matched
torch off its inference fast path; the fixes are exception types: where torch raises RuntimeError (``is_causal``
without a mask, an attn_mask of the wrong shape, a float mask of another dtype, an unknown activation, src / tgt
batch or feature mismatch) or AssertionError (embed_dim not divisible by num_heads, an integer mask), ours raised
ValueError / TypeError, so ``except RuntimeError`` in a PyTorch program missed them. Ours now raise classes that
are both (still ValueError / TypeError)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn as tnn

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SETTINGS = settings(max_examples=12, deadline=None)


def _raises_as_torch(ref: Callable[[], Any], ours: Callable[[], Any]) -> None:
    """Both raise, and ours is an instance of torch's exception type."""
    with pytest.raises(Exception) as ref_info:
        ref()
    with pytest.raises(type(ref_info.value)):
        ours()


@SETTINGS
@given(e=st.integers(2, 9), heads=st.integers(2, 4), cls=st.sampled_from(["MultiheadAttention",
                                                                       "TransformerEncoderLayer",
                                                                       "TransformerDecoderLayer"]))
def test_heads_not_dividing_embed_dim_raises_as_torch(e: int, heads: int, cls: str) -> None:
    """torch: AssertionError; ours was a plain ValueError."""
    if e % heads == 0:
        e += 1
    _raises_as_torch(lambda: getattr(torch.nn, cls)(e, heads), lambda: getattr(tnn, cls)(e, heads))


@SETTINGS
@given(seq=st.integers(1, 4), batch=st.integers(1, 3), scale=st.sampled_from([1.0, 1e-30, 1e30, -0.0]),
       case=st.sampled_from(["causal_no_mask", "mask_shape", "int_mask", "f64_mask", "f64_kpm", "layer_causal",
                             "encoder_causal"]))
def test_attention_argument_errors_raise_as_torch(seq: int, batch: int, scale: float, case: str) -> None:
    """Each wrong argument raises an exception of torch's type (RuntimeError or AssertionError)."""
    x = (np.random.default_rng(seq).standard_normal((seq, batch, 4)) * scale).astype(np.float32)
    torch.manual_seed(0)
    ref_mha, ref_layer = torch.nn.MultiheadAttention(4, 2), torch.nn.TransformerEncoderLayer(4, 2, 8, 0.0)
    ref_enc = torch.nn.TransformerEncoder(ref_layer, 1, enable_nested_tensor=False)
    mha, layer = tnn.MultiheadAttention(4, 2), tnn.TransformerEncoderLayer(4, 2, 8, 0.0)
    enc = tnn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
    kwargs = {"causal_no_mask": lambda lib: {"is_causal": True},
              "mask_shape": lambda lib: {"attn_mask": lib.zeros(seq + 1, seq, dtype=lib.bool)},
              "int_mask": lambda lib: {"attn_mask": lib.zeros(seq, seq, dtype=lib.int64)},
              "f64_mask": lambda lib: {"attn_mask": lib.zeros(seq, seq, dtype=lib.float64)},
              "f64_kpm": lambda lib: {"key_padding_mask": lib.zeros(batch, seq, dtype=lib.float64)}}
    if case in kwargs:
        _raises_as_torch(lambda: ref_mha(*[torch.tensor(x)] * 3, **kwargs[case](torch)),
                         lambda: mha(*[tg.tensor(x)] * 3, **kwargs[case](tg)))
    elif case == "layer_causal":
        _raises_as_torch(lambda: ref_layer(torch.tensor(x), is_causal=True),
                         lambda: layer(tg.tensor(x), is_causal=True))
    else:
        _raises_as_torch(lambda: ref_enc(torch.tensor(x), is_causal=True), lambda: enc(tg.tensor(x), is_causal=True))


@SETTINGS
@given(activation=st.sampled_from(["tanh", "Relu", "", "silu"]), decoder=st.booleans())
def test_unknown_activation_raises_as_torch(activation: str, decoder: bool) -> None:
    """torch: RuntimeError; ours was a plain ValueError."""
    name = "TransformerDecoderLayer" if decoder else "TransformerEncoderLayer"
    _raises_as_torch(lambda: getattr(torch.nn, name)(4, 2, activation=activation),
                     lambda: getattr(tnn, name)(4, 2, activation=activation))


@SETTINGS
@given(batch=st.integers(1, 3), extra=st.integers(1, 2), features=st.booleans(), batch_first=st.booleans())
def test_transformer_src_tgt_mismatch_raises_as_torch(batch: int, extra: int, features: bool,
                                                     batch_first: bool) -> None:
    """src and tgt with different batch sizes or feature sizes: torch RuntimeError; ours was a plain ValueError."""
    kw = {"d_model": 4, "nhead": 2, "num_encoder_layers": 1, "num_decoder_layers": 1, "dim_feedforward": 4,
          "batch_first": batch_first}
    src = np.zeros((batch, 3, 4) if batch_first else (3, batch, 4), np.float32)
    if features:
        tgt = src[..., :4 - extra]
    else:
        tgt = np.zeros((batch + extra, 2, 4) if batch_first else (2, batch + extra, 4), np.float32)
    ref, ours = torch.nn.Transformer(**kw), tnn.Transformer(**kw)
    _raises_as_torch(lambda: ref(torch.tensor(src), torch.tensor(tgt)), lambda: ours(tg.tensor(src), tg.tensor(tgt)))


@settings(max_examples=10, deadline=None)
@given(heads=st.sampled_from([1, 2]), batch_first=st.booleans(), norm_first=st.booleans(), bias=st.booleans(),
       activation=st.sampled_from(["relu", "gelu"]), mask=st.sampled_from(["none", "bool", "float", "full_row"]),
       train=st.booleans(), scale=st.sampled_from([1.0, 1e-20, 1e3]))
def test_decoder_layer_values_and_grads_as_torch(heads: int, batch_first: bool, norm_first: bool, bias: bool,
                                                 activation: str, mask: str, train: bool, scale: float) -> None:
    """A regression guard for what the probe found equal: the decoder layer's output and every gradient, with
    bool / float / fully masked memory masks (torch off its fast path: a row with no key gives finite values).
    The reference is torch's layer in float64: at scale 1e3 the attention logits reach 1e6 and the softmax is one-hot,
    so the query and key projections' gradients are 1e-12 there, 0 in ours, and rounding noise of 2e-3 in torch's
    float32 layer (a hypothesis run found it)."""
    rng = np.random.default_rng(heads)
    kw = {"dim_feedforward": 6, "dropout": 0.0, "activation": activation, "batch_first": batch_first,
          "norm_first": norm_first, "bias": bias}
    torch.manual_seed(0)
    ref, ours = torch.nn.TransformerDecoderLayer(4, heads, **kw), tnn.TransformerDecoderLayer(4, heads, **kw)
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    ref = ref.double()
    ref.train(train)
    ours.train(train)
    tgt = (rng.standard_normal((2, 3, 4) if batch_first else (3, 2, 4)) * scale).astype(np.float32)
    mem = rng.standard_normal((2, 5, 4) if batch_first else (5, 2, 4)).astype(np.float32)
    m = rng.random((3, 5)) < 0.4
    m[:, 0] = mask == "full_row"
    if mask == "full_row":
        m[0] = True
    masks = {"none": None, "bool": m, "full_row": m, "float": np.where(m, -1e9, 0.5).astype(np.float32)}[mask]
    rt, rm = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in (tgt, mem))
    ot, om = tg.tensor(tgt, requires_grad=True), tg.tensor(mem, requires_grad=True)
    r = ref(rt, rm, memory_mask=None if masks is None else torch.tensor(masks if mask != "float" else
                                                                         masks.astype(np.float64)))
    o = ours(ot, om, memory_mask=None if masks is None else tg.tensor(masks))
    np.testing.assert_allclose(o.detach().numpy(), r.detach().numpy(), rtol=1e-4, atol=1e-4)
    up = rng.standard_normal(r.shape).astype(np.float32)
    (r * torch.tensor(up.astype(np.float64))).sum().backward()
    (o * tg.tensor(up)).sum().backward()
    np.testing.assert_allclose(ot.grad.numpy(), rt.grad.numpy(), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(om.grad.numpy(), rm.grad.numpy(), rtol=1e-3, atol=1e-3)
    params = dict(ours.named_parameters())
    assert list(params) == [n for n, _ in ref.named_parameters()]
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(params[name].grad.numpy(), p.grad.numpy(), rtol=1e-3, atol=1e-3, err_msg=name)


@SETTINGS
@given(mask_check=st.booleans(), nested=st.booleans(), layers=st.integers(1, 3))
def test_encoder_keeps_mask_check_as_torch(mask_check: bool, nested: bool, layers: int) -> None:
    """``TransformerEncoder(..., mask_check=False).mask_check`` is read by torch code; ours had no such attribute
    (AttributeError)."""
    ref = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(4, 2, 8, batch_first=True), layers,
                                      enable_nested_tensor=nested, mask_check=mask_check)
    ours = tnn.TransformerEncoder(tnn.TransformerEncoderLayer(4, 2, 8, batch_first=True), layers,
                                  enable_nested_tensor=nested, mask_check=mask_check)
    assert ours.mask_check is ref.mask_check
    assert ours.use_nested_tensor is ref.use_nested_tensor
    assert list(ours.state_dict()) == list(ref.state_dict())


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(0, 4), min_size=1, max_size=3), shuffle=st.booleans(), mask_check=st.booleans(),
       float_mask=st.booleans(), use_norm=st.booleans(), no_grad=st.booleans(), train=st.booleans(),
       scale=st.sampled_from([1.0, 1e-20, 1e3]))
@example(lengths=[0], shuffle=False, mask_check=True, float_mask=False, use_norm=True, no_grad=True, train=False,
         scale=1.0)
def test_encoder_nested_tensor_path_as_torch(lengths: list[int], shuffle: bool, mask_check: bool, float_mask: bool,
                                             use_norm: bool, no_grad: bool, train: bool, scale: float) -> None:
    """torch's TransformerEncoder (batch_first, post-norm, a padding mask, eval, nothing to differentiate) runs a
    nested tensor: padded positions come out as zeros (then the final norm), and with ``mask_check=False`` a mask
    that is not left-aligned keeps each sample's first (unpadded count) positions. Ours computed every position (a
    silent difference under ``no_grad``); elsewhere both compute every position."""
    rng = np.random.default_rng(len(lengths) + 7 * sum(lengths))
    kept = np.arange(4)[None, :] < np.array(lengths)[:, None]
    if shuffle:
        kept = rng.permuted(kept, axis=1)
    if not mask_check and (~kept).all(axis=1).any():
        kept[:, 0] = True  # torch's layer fast path gives nan for a sample with no key (ours: finite)
    pad = np.where(kept, 0.0, -np.inf).astype(np.float32) if float_mask else ~kept
    x = (rng.standard_normal((len(lengths), 4, 4)) * scale).astype(np.float32)
    torch.manual_seed(0)
    ref = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(4, 2, 6, 0.0, batch_first=True), 2,
                                      torch.nn.LayerNorm(4) if use_norm else None, mask_check=mask_check)
    ours = tnn.TransformerEncoder(tnn.TransformerEncoderLayer(4, 2, 6, 0.0, batch_first=True), 2,
                                  tnn.LayerNorm(4) if use_norm else None, mask_check=mask_check)
    state = {k: v.detach().numpy() + (0.1 if k.endswith("norm.bias") else 0.0) for k, v in ref.state_dict().items()}
    ref.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    ours.load_state_dict(state)
    ref.train(train)
    ours.train(train)
    if mask_check and not train and no_grad and (~kept).all(axis=1).any() and shuffle:
        return  # not left-aligned: torch's layer fast path, nan for the sample with no key (ours: finite)
    with torch.no_grad() if no_grad else torch.enable_grad():
        try:
            r = ref(torch.tensor(x), src_key_padding_mask=torch.tensor(pad)).detach().numpy()
        except RuntimeError as e:  # every position padded: torch's nested path raises, ours gives its zeros (README)
            assert "non-zero numel" in str(e) and not kept.any()
            r = ref.norm(torch.zeros(x.shape)).detach().numpy() if use_norm else np.zeros_like(x)
    with tg.no_grad() if no_grad else tg.enable_grad():
        o = ours(tg.tensor(x), src_key_padding_mask=tg.tensor(pad)).detach().numpy()
    np.testing.assert_allclose(o, r, rtol=1e-4, atol=1e-4)
