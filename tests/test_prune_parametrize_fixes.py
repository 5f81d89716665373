"""``nn.utils.prune`` (new: it was missing, ``import torch.nn.utils.prune`` raised ModuleNotFoundError) against
torch on hypothesis-drawn weights: l1_unstructured / ln_structured masks (counts and fractions, 0 and all, every
dim), iterative pruning through a PruningContainer, global_unstructured, custom_from_mask, remove, and the
errors. Draws are distinct values (torch's order among ties is its topk kernel's)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

import tinygrad_adam.nn.utils.prune as oprune  # noqa: E402
import torch.nn.utils.prune as tprune  # noqa: E402

import tinygrad_adam as ours  # noqa: E402


@st.composite
def weights(draw: st.DrawFn, min_dims: int = 1) -> np.ndarray:
    """A float32 tensor of distinct magnitudes (extremes included), shape of 1 to 3 dims of 1 to 4."""
    shape = draw(st.lists(st.integers(1, 4), min_size=min_dims, max_size=3))
    n = int(np.prod(shape))
    mags = draw(st.lists(st.sampled_from([0.0, 1e-30, 1e-6, 0.5, 1.0, 3.0, 1e6, 3e38]) | st.floats(1e-3, 1e3),
                         min_size=n, max_size=n, unique=True))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n))
    return (np.array(mags) * np.array(signs)).astype(np.float32).reshape(shape)


def amounts(size: int) -> st.SearchStrategy:
    return st.integers(0, size) | st.floats(0.0, 1.0)


def pair(w: np.ndarray) -> tuple:
    """A torch and an our Linear-like holder of weight ``w`` (a Module with one Parameter)."""
    t, o = torch.nn.Module(), ours.nn.Module()
    t.weight = torch.nn.Parameter(torch.tensor(w))
    o.weight = ours.nn.Parameter(ours.tensor(w))
    return t, o


@settings(max_examples=60, deadline=None)
@given(w=weights(), data=st.data())
def test_l1_unstructured_then_ln_structured(w: np.ndarray, data: st.DataObject) -> None:
    t, o = pair(w)
    amount = data.draw(amounts(w.size))
    tprune.l1_unstructured(t, "weight", amount=amount)
    oprune.l1_unstructured(o, "weight", amount=amount)
    np.testing.assert_array_equal(o.weight_mask.numpy(), t.weight_mask.numpy())
    np.testing.assert_array_equal(o.weight.detach().numpy(), t.weight.detach().numpy())
    assert [n for n, _ in o.named_parameters()] == [n for n, _ in t.named_parameters()] == ["weight_orig"]
    if w.ndim > 1:
        dim = data.draw(st.integers(-w.ndim, w.ndim - 1))
        n = data.draw(st.sampled_from([1, 2, float("inf"), -float("inf")]))
        k = data.draw(amounts(w.shape[dim]))
        try:
            tprune.ln_structured(t, "weight", amount=k, n=n, dim=dim)
        except ValueError as e:  # (every slice already pruned: torch refuses the amount; so must ours)
            with pytest.raises(ValueError, match="entries there are to prune"):
                oprune.ln_structured(o, "weight", amount=k, n=n, dim=dim)
            assert "should be smaller" in str(e)
            return
        before = np.moveaxis(o.weight.detach().numpy(), dim, 0).reshape(w.shape[dim], -1).astype(np.float64)
        oprune.ln_structured(o, "weight", amount=k, n=n, dim=dim)
        assert isinstance(next(iter(o._forward_pre_hooks.values())), oprune.PruningContainer)
        got, want = o.weight_mask.numpy(), t.weight_mask.numpy()
        if not np.array_equal(got, want):  # slice norms tie where l1 left a 0 in each slice (n = -inf: min |x|):
            norms = np.linalg.norm(before, ord=n, axis=1)  # torch's topk picks its own among them (README); the
            kept = [np.moveaxis(m, dim, 0).reshape(len(norms), -1).any(axis=1) for m in (got, want)]  # same norms
            assert sorted(norms[~kept[0]]) == sorted(norms[~kept[1]])  # are pruned, only tied ones differ
            assert all((norms == norms[i]).sum() > 1 for i in np.flatnonzero(kept[0] != kept[1]))
            return
    tprune.remove(t, "weight")
    oprune.remove(o, "weight")
    np.testing.assert_array_equal(o.weight.detach().numpy(), t.weight.detach().numpy())
    assert [n for n, _ in o.named_parameters()] == ["weight"] and not list(o.named_buffers())
    assert not oprune.is_pruned(o)


@settings(max_examples=40, deadline=None)
@given(ws=st.lists(weights(), min_size=1, max_size=3), amount=st.floats(0.0, 1.0), data=st.data())
def test_global_unstructured_and_custom_mask(ws: list, amount: float, data: st.DataObject) -> None:
    offset = 0.0
    shifted = []
    for w in ws:  # distinct magnitudes across the tensors too
        shifted.append(np.where(w >= 0, w + offset, w - offset).astype(np.float32))
        offset += 7.0 * 1001
    magnitudes = np.abs(np.concatenate([w.ravel() for w in shifted]))
    assume(len(np.unique(magnitudes)) == magnitudes.size)  # (a shift can round 1e-6 away: a tie, either pick right)
    pairs = [pair(w) for w in shifted]
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=shifted[0].size, max_size=shifted[0].size)),
                    np.float32).reshape(shifted[0].shape)
    tprune.custom_from_mask(pairs[0][0], "weight", torch.tensor(mask))
    oprune.custom_from_mask(pairs[0][1], "weight", ours.tensor(mask))
    tprune.global_unstructured([(t, "weight") for t, _ in pairs], pruning_method=tprune.L1Unstructured, amount=amount)
    oprune.global_unstructured([(o, "weight") for _, o in pairs], pruning_method=oprune.L1Unstructured, amount=amount)
    for t, o in pairs:
        np.testing.assert_array_equal(o.weight_mask.numpy(), t.weight_mask.numpy())
        np.testing.assert_array_equal(o.weight.detach().numpy(), t.weight.detach().numpy())


def test_gradient_through_mask_and_empty_and_errors() -> None:
    w = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    t, o = pair(w)
    tprune.l1_unstructured(t, "weight", amount=0.5)
    oprune.l1_unstructured(o, "weight", amount=0.5)
    (t.weight * torch.tensor(w)).sum().backward()
    (o.weight * ours.tensor(w)).sum().backward()
    np.testing.assert_array_equal(o.weight_orig.grad.numpy(), t.weight_orig.grad.numpy())
    te, oe = pair(np.zeros((0, 3), np.float32))
    tprune.l1_unstructured(te, "weight", amount=0)
    oprune.l1_unstructured(oe, "weight", amount=0)
    assert oe.weight_mask.shape == tuple(te.weight_mask.shape)
    for lib in (tprune, oprune):
        with pytest.raises(ValueError):
            lib.L1Unstructured(amount=1.5)
        with pytest.raises(TypeError):
            lib.L1Unstructured(amount="a")
    for lib, m in ((tprune, pair(w)[0]), (oprune, pair(w)[1])):
        with pytest.raises(ValueError):
            lib.l1_unstructured(m, "weight", amount=7)
        assert [n for n, _ in m.named_parameters()] == ["weight"]  # restored after the failure
        with pytest.raises(ValueError):
            lib.remove(m, "weight")


@settings(max_examples=30, deadline=None)
@given(w=weights(min_dims=2), data=st.data())
def test_importance_scores_identity_and_random_structured(w: np.ndarray, data: st.DataObject) -> None:
    """l1_unstructured by importance scores (the weights reversed), an identity pruning before it, and
    random_structured's structure (its draw is each library's own): whole channels, as many as torch prunes."""
    scores = w.reshape(-1)[::-1].reshape(w.shape).copy()
    t, o = pair(w)
    tprune.identity(t, "weight")
    oprune.identity(o, "weight")
    np.testing.assert_array_equal(o.weight_mask.numpy(), np.ones_like(w))
    amount = data.draw(amounts(w.size))
    tprune.l1_unstructured(t, "weight", amount=amount, importance_scores=torch.tensor(scores))
    oprune.l1_unstructured(o, "weight", amount=amount, importance_scores=ours.tensor(scores))
    pruned = [np.sort(np.abs(scores[m.weight_mask.numpy() == 0])) for m in (o, t)]  # (which of two tied scores
    np.testing.assert_array_equal(*pruned)  # goes is torch's topk's choice: seed 47002, two -1e-3s)
    dim = data.draw(st.integers(0, w.ndim - 1))
    k = data.draw(amounts(w.shape[dim]))
    t2, o2 = pair(w)
    tprune.random_structured(t2, "weight", amount=k, dim=dim)
    oprune.random_structured(o2, "weight", amount=k, dim=dim)
    counts = []
    for m in (t2, o2):
        mask = np.moveaxis(m.weight_mask.numpy(), dim, 0).reshape(w.shape[dim], -1)
        assert ((mask == 0).all(1) | (mask == 1).all(1)).all()
        counts.append(int((mask == 0).all(1).sum()) if mask.size else 0)
    assert counts[0] == counts[1]


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_structured_after_pruned_channel_skips_it(dim: int) -> None:
    """ln_structured after a channel was masked out ranks only the channels still kept (torch's PruningContainer):
    the zeroed channel is not chosen again, so a second one goes."""
    w = np.arange(1, 25, dtype=np.float32).reshape(4, 6)
    mask = np.ones_like(w)
    np.moveaxis(mask, dim, 0)[0] = 0
    t, o = pair(w)
    tprune.custom_from_mask(t, "weight", torch.tensor(mask))
    oprune.custom_from_mask(o, "weight", ours.tensor(mask))
    tprune.ln_structured(t, "weight", amount=1, n=1, dim=dim)
    oprune.ln_structured(o, "weight", amount=1, n=1, dim=dim)
    np.testing.assert_array_equal(o.weight_mask.numpy(), t.weight_mask.numpy())
    assert (np.moveaxis(t.weight_mask.numpy(), dim, 0).reshape(w.shape[dim], -1) == 0).all(1).sum() == 2
