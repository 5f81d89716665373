"""What the nn.Transformer translation program (tests/torch_style/transformer_translation.py) turned up, against
torch: the tutorial's float -inf causal ``tgt_mask`` beside a bool ``tgt_key_padding_mask`` draws torch's deprecation
warning (mixed mask dtypes) from every attention that gets both; ours was silent. Ours now warns (in its own words)
exactly where torch does: a bool mask beside a float one (or two float dtypes); never for masks of one dtype."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

X = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
CAUSAL = np.triu(np.ones((3, 3), bool), 1)
PADDED = np.array([[0, 0, 1], [0, 0, 0]], bool)
# a mask (L, S) or padding mask (N, S) of each kind, from the bool "may not attend" pattern
KINDS = {
    "none": lambda lib, m: None,
    "bool": lambda lib, m: lib.tensor(m),
    "float32": lambda lib, m: lib.tensor(np.where(m, -np.inf, 0.0).astype(np.float32)),
}


def mixed_mask_warnings(lib, module: str, mask: str, pad: str, evaluate: bool) -> int:
    """How many mixed-mask warnings one forward of ``module`` with those masks gives (every warning recorded)."""
    lib.manual_seed(0)
    x, m, p = lib.tensor(X), KINDS[mask](lib, CAUSAL), KINDS[pad](lib, PADDED)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with lib.no_grad() if evaluate else contextlib.nullcontext():
            if module == "mha":
                attention = lib.nn.MultiheadAttention(4, 2, batch_first=True).train(not evaluate)
                attention(x, x, x, key_padding_mask=p, attn_mask=m)
            elif module == "decoder":
                layer = lib.nn.TransformerDecoderLayer(4, 2, 8, 0.0, batch_first=True)
                lib.nn.TransformerDecoder(layer, 2).train(not evaluate)(x, x, tgt_mask=m, tgt_key_padding_mask=p,
                                                                         memory_key_padding_mask=p)
            else:
                model = lib.nn.Transformer(4, 2, 1, 1, 8, 0.0, batch_first=True).train(not evaluate)
                model(x, x, src_mask=m, tgt_mask=m, src_key_padding_mask=p,
                      tgt_key_padding_mask=p, memory_key_padding_mask=p)
    return sum("mismatched" in str(w.message) or "differ in dtype" in str(w.message) for w in caught)


@given(module=st.sampled_from(["mha", "decoder", "transformer"]), mask=st.sampled_from(list(KINDS)),
       pad=st.sampled_from(["none", "bool", "float32"]), evaluate=st.booleans())
@settings(deadline=None, max_examples=24)
def test_mixed_mask_dtypes_warn_where_torch_warns(module: str, mask: str, pad: str, evaluate: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's other warnings, about nested tensors)
        want = mixed_mask_warnings(torch, module, mask, pad, evaluate) > 0
    assert (mixed_mask_warnings(tg, module, mask, pad, evaluate) > 0) == want
    assert want == (mask != "none" and pad != "none" and mask != pad)


def test_the_tutorial_masks_warn_and_give_the_same_numbers() -> None:
    """The tutorial's pair (float causal mask, bool padding mask) warns once per attention that gets both, and the
    numbers equal those of the all-float pair (which is silent)."""
    layer = tg.nn.TransformerDecoderLayer(4, 2, 8, 0.0)
    x = tg.tensor(X.transpose(1, 0, 2))
    mask = tg.nn.Transformer.generate_square_subsequent_mask(3)
    with pytest.warns(UserWarning, match="differ in dtype; mixing mask dtypes is deprecated"):
        mixed = layer(x, x, tgt_mask=mask, tgt_key_padding_mask=tg.tensor(PADDED))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = layer(x, x, tgt_mask=mask, tgt_key_padding_mask=KINDS["float32"](tg, PADDED))
    np.testing.assert_array_equal(mixed.detach().numpy(), same.detach().numpy())
