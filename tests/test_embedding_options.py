"""torch's Embedding options: max_norm (with norm_type), scale_grad_by_freq, padding_idx, from_pretrained, _weight /
_freeze, against torch on generated tables and indices (nan, inf, huge and tiny rows; empty and 0-d indices)."""

from __future__ import annotations

import math
from typing import Any

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
    if p == 0:
        return (rows != 0).sum(axis=1).astype(np.float64)
    if math.isinf(p):
        return np.abs(rows).max(axis=1) if p > 0 else np.abs(rows).min(axis=1)
    with np.errstate(all="ignore"):
        return (np.abs(rows) ** p).sum(axis=1) ** (1 / p)


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(1, 6), st.integers(1, 4), st.sampled_from([np.float32, np.float64]),
       hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5))
def test_embedding_options_match_torch(data: st.DataObject, n: int, dim: int, dtype: type,
                                       idx_shape: tuple[int, ...]) -> None:
    weight = data.draw(hnp.arrays(dtype, (n, dim), elements=VALUES.map(dtype)))
    idx = data.draw(hnp.arrays(np.int64, idx_shape, elements=st.integers(0, n - 1)))
    padding_idx = data.draw(st.none() | st.integers(-n, n - 1))
    max_norm = data.draw(st.none() | st.sampled_from([0.0, 0.5, 1.0, 3.0]) | st.floats(0, 20))
    norm_type = data.draw(st.sampled_from([2.0, 1.0, 3.0, 0.5, math.inf, 0.0, -math.inf, -1.0]))
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
    # (sparse=True is supported since SparseAdam: tests/test_sparse_adam.py)
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


# ---------------------------------------------------------------- embedding_bag
def torch_bag_reference(idx: Any, w: Any, offsets: Any, mode: str, psw: Any, padding_idx: int | None) -> Any:
    """torch's bags through torch's embedding (whose scale_grad_by_freq divides by the true frequency) and index_add:
    torch 2.13's own embedding_bag backward on the CPU divides some rows by another row's count (pytorch#190063)."""
    flat = idx.reshape(-1)
    if idx.ndim == 2:
        bag = torch.arange(idx.shape[0]).repeat_interleave(idx.shape[1])
        bags = idx.shape[0]
    else:
        bag, bags = torch.searchsorted(offsets, torch.arange(len(flat)), right=True) - 1, len(offsets)
    keep = flat != padding_idx if padding_idx is not None else torch.ones(len(flat), dtype=torch.bool)
    rows = torch.nn.functional.embedding(flat[keep], w, scale_grad_by_freq=True)
    if psw is not None:
        rows = rows * psw.reshape(-1)[keep, None]
    total = torch.zeros(bags, w.shape[1], dtype=w.dtype).index_add(0, bag[keep], rows)
    counts = torch.bincount(bag[keep], minlength=bags).clamp(min=1).to(w.dtype)[:, None]
    return total if mode == "sum" else total / counts


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(1, 6), st.integers(1, 3), st.sampled_from([np.float32, np.float64]),
       st.sampled_from(["sum", "mean", "max"]), st.booleans())
def test_embedding_bag_matches_torch(data: st.DataObject, n: int, dim: int, dtype: type, mode: str,
                                     two_d: bool) -> None:
    weight = data.draw(hnp.arrays(dtype, (n, dim), elements=st.integers(-3, 3).map(float) | st.floats(-10, 10)
                                  | st.sampled_from([np.inf, -np.inf, 1e30])))
    if two_d:
        idx = data.draw(hnp.arrays(np.int64, st.tuples(st.integers(0, 4), st.integers(0, 4)),
                                   elements=st.integers(0, n - 1)))
        offsets = None
    else:
        idx = data.draw(hnp.arrays(np.int64, st.integers(0, 8), elements=st.integers(0, n - 1)))
        cuts = sorted(data.draw(st.lists(st.integers(0, len(idx)), max_size=4)))
        offsets = np.array([0, *cuts] if cuts or data.draw(st.booleans()) else [], dtype=np.int64)
    include_last = offsets is not None and data.draw(st.booleans())
    padding_idx = data.draw(st.none() | st.integers(-n, n - 1))
    psw = data.draw(st.none() | hnp.arrays(dtype, idx.shape, elements=st.floats(-2, 2))) if mode == "sum" else None
    scale = mode != "max" and data.draw(st.booleans())
    last = None if offsets is None else np.append(offsets, len(idx)) if include_last else offsets

    w_ours, w_torch = tg.Tensor(weight.copy(), requires_grad=True), torch.tensor(weight.copy(), requires_grad=True)
    p_ours, p_torch = (None, None) if psw is None else (tg.Tensor(psw.copy(), requires_grad=True),
                                                        torch.tensor(psw.copy(), requires_grad=True))
    options = {"mode": mode, "padding_idx": padding_idx, "include_last_offset": include_last}
    out = F.embedding_bag(tg.Tensor(idx), w_ours, None if last is None else tg.Tensor(last),
                          per_sample_weights=p_ours, scale_grad_by_freq=scale, **options)
    if (two_d and idx.shape[1] == 0) or (not two_d and len(offsets) == 0):
        # torch raises "step must be nonzero" for bags of no entries, and with no bags its backward crashes (a
        # segmentation fault: mean and max) or raises (include_last_offset): README
        np.testing.assert_array_equal(out.numpy(), np.zeros((idx.shape[0] if two_d else 0, dim)))
        return
    ref = torch.nn.functional.embedding_bag(torch.tensor(idx), w_torch, None if last is None else torch.tensor(last),
                                            per_sample_weights=p_torch, **options)
    if scale:  # the gradient from torch's correct per-row path (its values are the same)
        w_torch = torch.tensor(weight.copy(), requires_grad=True)
        p_torch = None if psw is None else torch.tensor(psw.copy(), requires_grad=True)
        pad = None if padding_idx is None else padding_idx % n
        ref = torch_bag_reference(torch.tensor(idx), w_torch, None if offsets is None else torch.tensor(offsets),
                                  mode, p_torch, pad)
    rtol = 1e-5 if dtype is np.float32 else 1e-12
    assert out.shape == tuple(ref.shape) and out.dtype == dtype
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=rtol, atol=1e-6 if dtype is np.float32 else 0)
    g = np.cos(np.arange(out.numel())).reshape(out.shape).astype(dtype)
    (out * tg.Tensor(g)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(w_ours.grad.numpy(), w_torch.grad.numpy(), rtol=rtol, atol=1e-6)
    if psw is not None:
        np.testing.assert_allclose(p_ours.grad.numpy(), p_torch.grad.numpy(), rtol=rtol, atol=1e-6)


def test_embedding_bag_by_hand() -> None:
    """Bags [1, 2], [] and [0, 3, 3, 1] of rows 0..3 (row r = 3r, 3r+1, 3r+2), padding 3 left out of the mean."""
    w = tg.Tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    idx, offsets = tg.Tensor(np.array([1, 2, 0, 3, 3, 1])), tg.Tensor(np.array([0, 2, 2]))
    out = F.embedding_bag(idx, w, offsets, mode="mean", padding_idx=3)
    np.testing.assert_allclose(out.numpy(), [[4.5, 5.5, 6.5], [0, 0, 0], [1.5, 2.5, 3.5]])
    out.sum().backward()
    np.testing.assert_allclose(w.grad.numpy()[:, 0], [0.5, 1.0, 0.5, 0.0])
    top = F.embedding_bag(tg.Tensor(np.array([[0, 2], [1, 1]])), tg.Tensor(np.array([[1.0, 5.0], [4.0, 2.0],
                                                                                    [3.0, 3.0]])), mode="max")
    np.testing.assert_array_equal(top.numpy(), [[3, 5], [4, 2]])
    # a NaN anywhere in a bag makes its max NaN, as torch.max (torch's embedding_bag keeps a running max by `>`,
    # so there a NaN counts only as a bag's first entry: README); the gradient goes to the NaN
    table = tg.Tensor(np.array([[1.0, np.nan], [np.nan, 2.0], [3.0, -np.inf]]), requires_grad=True)
    top = F.embedding_bag(tg.Tensor(np.array([[0, 1, 2], [2, 0, 0]])), table, mode="max")
    np.testing.assert_array_equal(top.numpy(), [[np.nan, np.nan], [3.0, np.nan]])
    top.sum().backward()
    np.testing.assert_array_equal(table.grad.numpy(), [[0, 2], [1, 0], [1, 0]])


def test_embedding_bag_refusals() -> None:
    w = tg.Tensor(np.ones((5, 2)), requires_grad=True)
    idx = tg.Tensor(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="needs offsets"):
        F.embedding_bag(idx, w)
    with pytest.raises(ValueError, match="offsets must be None"):
        F.embedding_bag(tg.Tensor(np.array([[0, 1]])), w, tg.Tensor(np.array([0])))
    with pytest.raises(ValueError, match="must start at 0 and not decrease"):
        F.embedding_bag(idx, w, tg.Tensor(np.array([1, 2])))
    with pytest.raises(ValueError, match="must start at 0 and not decrease"):
        F.embedding_bag(idx, w, tg.Tensor(np.array([0, 2, 1])))
    with pytest.raises(ValueError, match="must start at 0 and not decrease"):
        F.embedding_bag(idx, w, tg.Tensor(np.array([0, 4])))
    with pytest.raises(ValueError, match="the last offset must be the input's length 3, got 2"):
        F.embedding_bag(idx, w, tg.Tensor(np.array([0, 2])), include_last_offset=True)
    with pytest.raises(NotImplementedError, match="per_sample_weights go with mode='sum' alone"):
        F.embedding_bag(idx, w, tg.Tensor(np.array([0])), per_sample_weights=tg.ones(3, dtype="float64"))
    with pytest.raises(ValueError, match="does not support scale_grad_by_freq"):
        F.embedding_bag(idx, w, tg.Tensor(np.array([0])), mode="max", scale_grad_by_freq=True)
    with pytest.raises(ValueError, match="mode must be one of"):
        nn.EmbeddingBag(5, 2, mode="median")
    with pytest.raises(ValueError, match="per_sample_weights must have the input's shape"):
        F.embedding_bag(idx, w, tg.Tensor(np.array([0])), mode="sum", per_sample_weights=tg.ones(2, dtype="float64"))


def test_embedding_bag_module_as_torch() -> None:
    tg.manual_seed(0)
    ours = nn.EmbeddingBag(6, 3, mode="sum", padding_idx=2)
    assert ours.weight.requires_grad and np.all(ours.weight.numpy()[2] == 0)
    theirs = torch.nn.EmbeddingBag(6, 3, mode="sum", padding_idx=2)
    theirs.load_state_dict({"weight": torch.tensor(ours.weight.numpy())})
    idx, offsets = np.array([0, 2, 5, 5, 1]), np.array([0, 3])
    np.testing.assert_allclose(ours(tg.Tensor(idx), tg.Tensor(offsets)).numpy(),
                               theirs(torch.tensor(idx), torch.tensor(offsets)).detach().numpy(), rtol=1e-6)
    table = tg.Tensor(np.arange(6.0).reshape(3, 2))
    frozen = nn.EmbeddingBag.from_pretrained(table, mode="max")
    assert not frozen.weight.requires_grad and frozen.weight._data is table._data
    assert repr(frozen).startswith(repr(torch.nn.EmbeddingBag.from_pretrained(torch.zeros(3, 2), mode="max")))


@pytest.mark.gpu
def test_embedding_refuses_indices_offsets_and_weights_on_another_device() -> None:
    from tinygrad_adam.backend import DeviceError

    table = tg.ones(5, 2, device="cuda")
    with pytest.raises(DeviceError, match="different devices"):
        F.embedding(tg.tensor([0, 1]), table)
    idx = tg.tensor([0, 1, 2], device="cuda")
    with pytest.raises(DeviceError, match="different devices"):
        F.embedding_bag(idx, table, tg.tensor([0, 1]))
    with pytest.raises(DeviceError, match="different devices"):
        F.embedding_bag(idx, table, tg.tensor([0], device="cuda"), mode="sum", per_sample_weights=tg.ones(3))
    assert F.embedding_bag(idx, table, tg.tensor([0, 1], device="cuda")).device.startswith("cuda")
