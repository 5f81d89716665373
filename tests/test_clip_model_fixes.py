"""What the CLIP program (``tests/torch_style/clip_model.py``) met, against torch 2.13.

- ``nn.MultiheadAttention`` with kdim == vdim == embed_dim had no ``q_proj_weight`` / ``k_proj_weight`` /
  ``v_proj_weight`` attributes (torch registers them as None parameters): CLIP's ``convert_weights`` reads them by
  ``getattr`` and raised AttributeError (loud).
- float16 ``F.linear`` with a bias rounded the products to float16 and then the sum with the bias again; torch's
  addmm adds the bias to the float32 products and rounds once, so ours was an ulp off in about half the outputs of
  CLIP's fp16 (``convert_weights``) model: a silent wrong answer (small, but a different number without an error)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

ATTRS = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "bias_k", "bias_v")
EXTREMES = [0.0, -0.0, 1.0, -1.5, 65504.0, -65504.0, 2.0 ** -14, -(2.0 ** -24), 3.140625, 1000.0, -0.099975586]


@settings(deadline=None, max_examples=30)
@given(st.sampled_from([(4, 1), (4, 2), (6, 3), (8, 4)]), st.sampled_from([None, 3, 4]),
       st.sampled_from([None, 5, 4]), st.booleans(), st.booleans())
def test_mha_registers_every_projection_attribute(dims: tuple, kdim: int | None, vdim: int | None, bias: bool,
                                                  add_bias_kv: bool) -> None:
    """Each of the attributes ``convert_weights`` reads exists in both, None in the same cases, with the same shape
    otherwise, and the parameter names agree."""
    embed_dim, heads = dims
    kwargs = dict(bias=bias, add_bias_kv=add_bias_kv, kdim=kdim, vdim=vdim)
    theirs = torch.nn.MultiheadAttention(embed_dim, heads, **kwargs)
    ours = tg.nn.MultiheadAttention(embed_dim, heads, **kwargs)
    for attr in ATTRS:
        want, got = getattr(theirs, attr), getattr(ours, attr)
        assert (want is None) == (got is None), attr
        if want is not None:
            assert tuple(got.shape) == tuple(want.shape), attr
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())


def _grid(draw: st.DrawFn, shape: tuple) -> np.ndarray:
    """float16 values k / 16 with |k| <= 1024: their products and sums of up to 16 of them are exact in float32."""
    size = int(np.prod(shape))
    return (np.array(draw(st.lists(st.integers(-1024, 1024), min_size=size, max_size=size)), np.float16)
            .reshape(shape) / np.float16(16))


@st.composite
def grid_linear(draw: st.DrawFn) -> tuple:
    lead = draw(st.sampled_from([(), (0,), (1,), (3,), (2, 3)]))
    in_f, out_f = draw(st.integers(0, 16)), draw(st.integers(1, 6))
    return _grid(draw, (*lead, in_f)), _grid(draw, (out_f, in_f)), _grid(draw, (out_f,))


@settings(deadline=None, max_examples=60)
@given(grid_linear(), st.booleans())
def test_half_linear_rounds_once(args: tuple, with_bias: bool) -> None:
    """float16 linear on exactly summable values (so the float32 sum does not depend on its order): bit for bit as
    torch, with and without a bias, over empty batches, no input features, 1-D inputs."""
    x, w, b = args
    b = b if with_bias else None
    want = torch.nn.functional.linear(*(None if a is None else torch.from_numpy(a) for a in (x, w, b))).numpy()
    got = tg.nn.functional.linear(*(None if a is None else tg.from_numpy(a) for a in (x, w, b))).numpy()
    assert got.dtype == np.float16 and got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))


@settings(deadline=None, max_examples=60)
@given(st.lists(st.sampled_from(EXTREMES), min_size=3, max_size=3), st.sampled_from([(), (2,)]))
def test_half_linear_extremes(values: list, lead: tuple) -> None:
    """One input feature (one exact float32 product, one float32 add, one rounding in both), extreme float16 values:
    overflow to inf, the largest finite, subnormals, signed zeros."""
    x = np.full((*lead, 1), values[0], np.float16)
    w, b = np.full((2, 1), values[1], np.float16), np.array([values[2], -values[2]], np.float16)
    want = torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)).numpy()
    got = tg.nn.functional.linear(tg.from_numpy(x), tg.from_numpy(w), tg.from_numpy(b)).numpy()
    np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))


def test_half_nn_linear_module_and_gradients() -> None:
    """The module path, and float16 gradients still flowing (the backward is unchanged)."""
    rng = np.random.default_rng(0)
    x = (rng.integers(-64, 64, (5, 7)) / 16).astype(np.float16)
    layers = []
    for lib in (torch, tg):
        layer = lib.nn.Linear(7, 3).half()
        with lib.no_grad():
            layer.weight.copy_(lib.from_numpy((rng.integers(-64, 64, (3, 7)) / 16).astype(np.float16)) * 0
                               + lib.from_numpy(np.arange(21, dtype=np.float16).reshape(3, 7) / 16))
            layer.bias.copy_(lib.from_numpy(np.array([0.5, -1.25, 3.0], np.float16)))
        xs = lib.from_numpy(x).requires_grad_(True)
        out = layer(xs)
        out.sum().backward()
        layers.append((out.detach().numpy(), xs.grad.numpy(), layer.weight.grad.numpy(), layer.bias.grad.numpy()))
    for want, got in zip(*layers, strict=True):
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got, want)
