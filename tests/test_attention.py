"""F.scaled_dot_product_attention against torch's: values and gradients for generated shapes, masks (bool,
float with -inf, causal, rows no key may attend to), scales and grouped-query heads."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F

torch = pytest.importorskip("torch")


def attend(lib: Any, fn: Any, arrays: list[np.ndarray], mask: Any, kw: dict[str, Any]) -> list[np.ndarray]:
    q, k, v = (lib.tensor(a, requires_grad=True) for a in arrays)
    m = None if mask is None else lib.tensor(mask)
    out = fn(q, k, v, attn_mask=m, **kw)
    w = lib.tensor(np.linspace(-1, 1, out.numel()).reshape(out.shape))
    (out * w).sum().backward()
    return [out.detach().numpy(), q.grad.numpy(), k.grad.numpy(), v.grad.numpy()]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2), st.integers(0, 4), st.integers(1, 5), st.integers(1, 4), st.integers(1, 3),
       st.sampled_from(["none", "bool", "float", "causal"]), st.one_of(st.none(), st.floats(0.1, 2.0)),
       st.booleans(), st.integers(0, 10**6))
def test_matches_torch(batch: int, n_l: int, n_s: int, n_e: int, n_ev: int, mask_kind: str, scale: float | None,
                       gqa: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lead = (2,) * batch
    hq, hk = (4, 2) if gqa else (2, 2)
    q = rng.standard_normal((*lead, hq, n_l, n_e))
    k = rng.standard_normal((*lead, hk, n_s, n_e))
    v = rng.standard_normal((*lead, hk, n_s, n_ev))
    mask = None
    if mask_kind == "bool":
        mask = rng.random((n_l, n_s)) < 0.6  # some rows end up with no key at all
    elif mask_kind == "float":
        mask = np.where(rng.random((n_l, n_s)) < 0.3, -np.inf, rng.standard_normal((n_l, n_s)))
    kw = {"scale": scale, "is_causal": mask_kind == "causal", "enable_gqa": gqa}
    ours = attend(tg, F.scaled_dot_product_attention, [q, k, v], mask, kw)
    theirs = attend(torch, torch.nn.functional.scaled_dot_product_attention, [q, k, v], mask, kw)
    for o, t, name in zip(ours, theirs, ["out", "dq", "dk", "dv"]):
        np.testing.assert_allclose(o, t, rtol=1e-9, atol=1e-12, err_msg=name)


def test_nan_propagates_and_dropout_is_applied() -> None:
    q = tg.tensor(np.array([[[np.nan, 0.0], [1.0, 0.0]]]))
    out = F.scaled_dot_product_attention(q, q, q)
    t = torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(q.numpy()),) * 3)
    np.testing.assert_array_equal(np.isnan(out.numpy()), np.isnan(t.numpy()))
    x = tg.ones(1, 8, 4)
    tg.manual_seed(0)
    dropped = F.scaled_dot_product_attention(x, x, x, dropout_p=0.5)
    # weights 1/8 each; a kept one counts 2/8, so each row is (kept of 8) / 4: not all 1 as without dropout
    assert dropped.shape == (1, 8, 4) and not np.allclose(dropped.numpy(), 1.0)
    np.testing.assert_array_equal(dropped.numpy() * 4 % 1, 0)


def test_errors() -> None:
    x = tg.ones(1, 2, 3, 4)
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(x, x, x, attn_mask=tg.ones(3, 3), is_causal=True)
    with pytest.raises(ValueError, match="not a multiple"):
        F.scaled_dot_product_attention(tg.ones(1, 3, 3, 4), x, x, enable_gqa=True)
