"""nn.MultiheadAttention against torch's: torch's weights loaded, outputs, attention weights and gradients over
generated layouts, masks (bool and float, attn and key padding) and head counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam.nn.attention import MultiheadAttention

torch = pytest.importorskip("torch")


def run(lib: Any, m: Any, arrays: list[np.ndarray], masks: dict[str, Any], kw: dict[str, Any]) -> list[Any]:
    q, k, v = (lib.tensor(a, requires_grad=True) for a in arrays)
    out, weights = m(q, k, v, **{name: None if x is None else lib.tensor(x) for name, x in masks.items()}, **kw)
    (out * lib.tensor(np.linspace(-1, 1, out.numel()).reshape(out.shape))).sum().backward()
    got = [out.detach().numpy(), q.grad.numpy(), k.grad.numpy(), v.grad.numpy()]
    got += [None if weights is None else weights.detach().numpy()]
    return got + [p.grad.numpy() for p in m.parameters()]


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@settings(max_examples=50, deadline=None)
@given(st.sampled_from([1, 2, 4]), st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans(),
       st.sampled_from(["none", "bool", "float", "bool3d"]), st.sampled_from(["none", "bool", "float"]),
       st.integers(1, 4), st.integers(1, 4), st.integers(0, 10**6))
def test_matches_torch(heads: int, bias: bool, batch_first: bool, unbatched: bool, need_weights: bool,
                       average: bool, attn: str, padding: str, n_l: int, n_s: int, seed: int) -> None:
    theirs = torch.nn.MultiheadAttention(4, heads, bias=bias, batch_first=batch_first).double()
    ours = MultiheadAttention(4, heads, bias=bias, batch_first=batch_first)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(seed)
    n = 2

    def shape(length: int) -> tuple[int, ...]:
        return (length, 4) if unbatched else (n, length, 4) if batch_first else (length, n, 4)

    arrays = [rng.standard_normal(shape(n_l)), rng.standard_normal(shape(n_s)), rng.standard_normal(shape(n_s))]
    masks: dict[str, Any] = {"attn_mask": None, "key_padding_mask": None}
    keep = rng.random((n_l, n_s)) < 0.7
    keep[:, 0] = True  # every query keeps a key: a row with none is nan in torch's weights path (tested below)
    if attn == "bool":
        masks["attn_mask"] = ~keep
    elif attn == "float":
        masks["attn_mask"] = np.where(keep, rng.standard_normal((n_l, n_s)), -np.inf)
    elif attn == "bool3d" and not unbatched:
        masks["attn_mask"] = np.broadcast_to(~keep, (n * heads, n_l, n_s)).copy()
    pad = rng.random((n_s,) if unbatched else (n, n_s)) < 0.3
    pad[..., 0] = False
    if padding == "bool":
        masks["key_padding_mask"] = pad
    elif padding == "float":
        masks["key_padding_mask"] = np.where(pad, -1.5, 0.0)
    if padding == "float" and attn in ("bool", "bool3d"):
        masks["key_padding_mask"] = pad  # torch warns on mixed mask types; keep both bool
    kw = {"need_weights": need_weights, "average_attn_weights": average}
    ours_got, theirs_got = run(tg, ours, arrays, masks, kw), run(torch, theirs, arrays, masks, kw)
    for o, t in zip(ours_got, theirs_got, strict=True):
        assert (o is None) == (t is None)
        if o is not None:
            np.testing.assert_allclose(o, t, rtol=1e-9, atol=1e-12)


def test_errors_and_unsupported_options() -> None:
    with pytest.raises(ValueError, match="divisible"):
        MultiheadAttention(5, 2)
    with pytest.raises(ValueError, match=r"expected key \(L, N, 3\)"):
        MultiheadAttention(4, 2, kdim=3)(tg.ones(2, 1, 4), tg.ones(2, 1, 4), tg.ones(2, 1, 4))
    m = MultiheadAttention(4, 2)
    x = tg.ones(3, 1, 4)
    with pytest.raises(ValueError, match="pass the causal mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="key_padding_mask must be"):
        m(x, x, x, key_padding_mask=tg.zeros(2, 3, dtype=tg.bool))


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@settings(max_examples=40, deadline=None)
@given(st.sampled_from([1, 2]), st.sampled_from([None, 3, 4]), st.sampled_from([None, 2, 5]), st.booleans(),
       st.booleans(), st.booleans(), st.booleans(), st.sampled_from(["none", "bool", "float"]),
       st.sampled_from(["none", "bool"]), st.integers(1, 3), st.integers(1, 3), st.integers(0, 10**6))
def test_kdim_vdim_bias_kv_zero_attn_match_torch(heads: int, kdim: int | None, vdim: int | None, bias_kv: bool,
                                                 zero_attn: bool, batch_first: bool, need_weights: bool, attn: str,
                                                 padding: str, n_l: int, n_s: int, seed: int) -> None:
    """The options that change the parameters (kdim, vdim, add_bias_kv) or append keys (add_zero_attn): torch's
    state_dict loads, and outputs, weights and every gradient agree, masks included."""
    kw = {"kdim": kdim, "vdim": vdim, "add_bias_kv": bias_kv, "add_zero_attn": zero_attn, "batch_first": batch_first}
    theirs = torch.nn.MultiheadAttention(4, heads, **kw).double()
    ours = MultiheadAttention(4, heads, **kw)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.double()
    rng = np.random.default_rng(seed)
    n = 2

    def shape(length: int, dim: int | None) -> tuple[int, ...]:
        return (n, length, dim or 4) if batch_first else (length, n, dim or 4)

    arrays = [rng.standard_normal(shape(n_l, 4)), rng.standard_normal(shape(n_s, kdim)),
              rng.standard_normal(shape(n_s, vdim))]
    keep = rng.random((n_l, n_s)) < 0.7
    keep[:, 0] = True
    floats = np.where(keep, rng.standard_normal((n_l, n_s)), -np.inf)
    masks: dict[str, Any] = {"attn_mask": {"none": None, "bool": ~keep, "float": floats}[attn],
                             "key_padding_mask": None}
    if padding == "bool":
        pad = rng.random((n, n_s)) < 0.3
        pad[:, 0] = False
        masks["key_padding_mask"] = pad
    if padding == "bool" and attn == "float":
        masks["attn_mask"] = ~keep  # torch warns on mixed mask types; keep both bool
    got = run(tg, ours, arrays, masks, {"need_weights": need_weights})
    expected = run(torch, theirs, arrays, masks, {"need_weights": need_weights})
    for o, t in zip(got, expected, strict=True):
        assert (o is None) == (t is None)
        if o is not None:
            np.testing.assert_allclose(o, t, rtol=1e-9, atol=1e-12)


def test_kdim_vdim_and_bias_kv_initialise_as_torch() -> None:
    m = MultiheadAttention(6, 2, kdim=3, vdim=5, add_bias_kv=True)
    assert m.in_proj_weight is None and m.k_proj_weight.shape == (6, 3) and m.v_proj_weight.shape == (6, 5)
    bound = np.sqrt(6 / (6 + 3))  # xavier_uniform_ of k_proj_weight
    assert 0 < np.abs(m.k_proj_weight.numpy()).max() <= bound
    assert m.bias_k.shape == (1, 1, 6) and np.abs(m.bias_k.numpy()).max() > 0
    assert np.all(m.in_proj_bias.numpy() == 0) and np.all(m.out_proj.bias.numpy() == 0)
