"""torch's Embedding options: max_norm (with norm_type), scale_grad_by_freq, padding_idx, from_pretrained, _weight /
_freeze, against torch on generated tables and indices (nan, inf, huge and tiny rows; empty and 0-d indices)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import nn

torch = pytest.importorskip("torch")

VALUES = st.floats(-10, 10) | st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 1e-30, 3e38])


def picked_norms(weight: np.ndarray, idx: np.ndarray, p: float) -> np.ndarray:
    """The float64 p-norms of the rows ``idx`` picks (what decides whether a row is scaled)."""
    rows = weight[np.unique(idx)].astype(np.float64)
    with np.errstate(all="ignore"):
        return np.abs(rows).max(axis=1) if p == math.inf else (np.abs(rows) ** p).sum(axis=1) ** (1 / p)


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(1, 6), st.integers(1, 4), st.sampled_from([np.float32, np.float64]),
       hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5))
def test_embedding_options_match_torch(data: st.DataObject, n: int, dim: int, dtype: type,
                                       idx_shape: tuple[int, ...]) -> None:
    weight = data.draw(hnp.arrays(dtype, (n, dim), elements=VALUES.map(dtype)))
    idx = data.draw(hnp.arrays(np.int64, idx_shape, elements=st.integers(0, n - 1)))
    padding_idx = data.draw(st.none() | st.integers(-n, n - 1))
    max_norm = data.draw(st.none() | st.sampled_from([0.0, 0.5, 1.0, 3.0]) | st.floats(0, 20))
    norm_type = data.draw(st.sampled_from([2.0, 1.0, 3.0, 0.5, math.inf]))
    if idx.size and data.draw(st.booleans()):  # max_norm just above or below a picked row's norm
        norm = picked_norms(weight, idx, norm_type)[0]
        if math.isfinite(norm):
            max_norm = norm * data.draw(st.sampled_from([0.999, 1.001, 0.9, 1.1]))
    scale = data.draw(st.booleans())
    if max_norm is not None and idx.size:  # a row whose norm lies at max_norm to rounding may go either way
        norms = picked_norms(weight, idx, norm_type)
        close = np.abs(norms - max_norm) <= 1e-5 * max(max_norm, 1e-30)
        if dtype is np.float32:  # float32 sums of squares may over- or underflow differently in the two libraries
            with np.errstate(all="ignore"):
                close |= (norms > 1e18) | ((norms < 1e-18) & (norms > 0))
        if close.any():
            return
    g = data.draw(hnp.arrays(dtype, (*idx_shape, dim), elements=st.floats(-5, 5) | st.sampled_from([np.inf, np.nan])))

    w_ours, w_torch = tg.Tensor(weight.copy(), requires_grad=True), torch.tensor(weight.copy(), requires_grad=True)
    options = {"padding_idx": padding_idx, "max_norm": max_norm, "norm_type": norm_type, "scale_grad_by_freq": scale}
    out = F.embedding(tg.Tensor(idx), w_ours, **options)
    ref = torch.nn.functional.embedding(torch.tensor(idx), w_torch, **options)
    rtol = 1e-6 if dtype is np.float32 else 1e-12
    np.testing.assert_allclose(w_ours.numpy(), w_torch.detach().numpy(), rtol=rtol, atol=0)  # the renormed table
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=rtol, atol=0)
    assert out.dtype == dtype and out.shape == tuple(ref.shape)
    (out * tg.Tensor(g)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(w_ours.grad.numpy(), w_torch.grad.numpy(), rtol=rtol, atol=1e-30)


def test_scale_grad_by_freq_and_padding_by_hand() -> None:
    """Row 1 picked three times gets the mean of its three gradients; the padding row none (even an inf one)."""
    idx = np.array([[1, 1, 2], [4, 1, 0]])
    g = np.arange(18.0).reshape(2, 3, 3)
    g[0, 2, 0] = np.inf  # row 2's gradient, dropped when 2 is the padding row
    for padding_idx, row2 in [(None, [np.inf, 7, 8]), (2, [0, 0, 0])]:
        w = tg.Tensor(np.ones((5, 3)), requires_grad=True)
        out = F.embedding(tg.Tensor(idx), w, padding_idx=padding_idx, scale_grad_by_freq=True)
        (out * tg.Tensor(g)).sum().backward()
        np.testing.assert_allclose(w.grad.numpy(), [[15, 16, 17], [5, 6, 7], row2, [0, 0, 0], [9, 10, 11]], rtol=1e-15)


def test_max_norm_scales_the_picked_rows_in_place() -> None:
    table = np.array([[3.0, 4.0], [0.0, 0.0], [6.0, 8.0], [30.0, 40.0]])
    w = tg.Tensor(table.copy(), requires_grad=True)
    out = F.embedding(tg.Tensor(np.array([0, 1, 0, 2])), w, max_norm=1.0)
    scaled = [[3 / 5.0000001, 4 / 5.0000001], [0, 0], [6 / 10.0000001, 8 / 10.0000001], [30, 40]]
    np.testing.assert_allclose(w.numpy(), scaled, rtol=1e-15)  # row 3, not picked, keeps its norm of 50
    np.testing.assert_allclose(out.numpy(), np.array(scaled)[[0, 1, 0, 2]], rtol=1e-15)
    out.sum().backward()  # no gradient through the scaling: each pick adds its upstream gradient once
    np.testing.assert_array_equal(w.grad.numpy(), [[2, 2], [1, 1], [1, 1], [0, 0]])


def test_max_norm_after_a_graph_saved_the_weight_raises_at_its_backward() -> None:
    w = tg.Tensor(np.full((3, 2), 5.0), requires_grad=True)
    saved = (w * w).sum()
    F.embedding(tg.Tensor(np.array([0])), w, max_norm=1.0)
    with pytest.raises(RuntimeError, match="modified"):
        saved.backward()


def test_embedding_refusals() -> None:
    w = tg.Tensor(np.ones((5, 2)), requires_grad=True)
    with pytest.raises(IndexError, match="negative indices are not allowed"):
        F.embedding(tg.Tensor(np.array([-1])), w)  # torch raises too; numpy would wrap to the last row
    with pytest.raises(IndexError, match="out of range"):
        F.embedding(tg.Tensor(np.array([5])), w)
    with pytest.raises(ValueError, match="max_norm must be >= 0"):
        F.embedding(tg.Tensor(np.array([0])), w, max_norm=-1.0)
    with pytest.raises(ValueError, match="padding_idx 5 must be within"):
        F.embedding(tg.Tensor(np.array([0])), w, padding_idx=5)
    with pytest.raises(NotImplementedError, match="sparse=True"):
        F.embedding(tg.Tensor(np.array([0])), w, sparse=True)
    with pytest.raises(NotImplementedError, match="sparse=True"):
        nn.Embedding(5, 2, sparse=True)
    with pytest.raises(ValueError, match=r"_weight has shape \(5, 2\), expected \(4, 2\)"):
        nn.Embedding(4, 2, _weight=w)
    with pytest.raises(ValueError, match="must be 2-D"):
        nn.Embedding.from_pretrained(tg.ones(3))


def test_from_pretrained_shares_the_table_as_torch_does() -> None:
    table = np.array([[3.0, 4.0], [1.0, 2.0], [0.5, 0.5]], dtype=np.float32)
    ours, theirs = tg.Tensor(table.copy()), torch.tensor(table.copy())
    e, t = nn.Embedding.from_pretrained(ours, padding_idx=1, max_norm=2.0), \
        torch.nn.Embedding.from_pretrained(theirs, padding_idx=1, max_norm=2.0)
    assert not e.weight.requires_grad and not t.weight.requires_grad
    np.testing.assert_array_equal(e.weight.numpy()[1], [1, 2])  # the padding row is kept, not zeroed
    idx = np.array([0, 1])
    np.testing.assert_allclose(e(tg.Tensor(idx)).numpy(), t(torch.tensor(idx)).numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)  # the caller's table was renormed in both
    assert ours.numpy()[0, 0] != 3.0
    trainable = nn.Embedding.from_pretrained(tg.Tensor(table.copy()), freeze=False)
    assert trainable.weight.requires_grad
    frozen = nn.Embedding(3, 2, _weight=tg.Tensor(table), _freeze=True)
    assert not frozen.weight.requires_grad and np.shares_memory(frozen.weight.numpy(), table)
    assert repr(nn.Embedding(5, 3, padding_idx=1, max_norm=2.0, scale_grad_by_freq=True)).startswith(
        repr(torch.nn.Embedding(5, 3, padding_idx=1, max_norm=2.0, scale_grad_by_freq=True)))
