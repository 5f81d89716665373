"""Group / instance / local response norm and the margin, embedding and likelihood losses against PyTorch: values,
gradients with respect to every differentiable input (at ties, zeros, nan and inf too), dtypes, reductions, empty
batches and the errors for bad shapes."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional
REDUCTIONS = ("mean", "sum", "none")


def close(ours: tg.Tensor, theirs: torch.Tensor, tol: float) -> None:
    """Equal values (nan where torch has nan, the same infs), shape and dtype."""
    ref = theirs.detach().numpy()
    got = ours.numpy()
    assert got.shape == ref.shape and got.dtype == ref.dtype, (got.shape, got.dtype, ref.shape, ref.dtype)
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def both(ours: Callable, theirs: Callable, arrays: list[np.ndarray], grad_of: tuple[int, ...] = (0,),
         tol: float | None = None, seed: int = 0) -> None:
    """The same inputs through both: outputs and the gradients of sum(out * w) for each input in ``grad_of``."""
    xs = [tg.Tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    ts = [torch.tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    out, ref = ours(*xs), theirs(*ts)
    tol = tol if tol is not None else 1e-9 if out.dtype == np.float64 else 2e-5
    close(out, ref, tol)
    if not grad_of:
        return
    w = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    (out * tg.Tensor(w)).sum().backward()
    grads = torch.autograd.grad((ref * torch.tensor(w)).sum(), [ts[i] for i in grad_of], allow_unused=True)
    for i, g in zip(grad_of, grads):
        if g is None:
            assert xs[i].grad is None or not np.any(xs[i].grad.numpy()), i
        else:
            close(xs[i].grad, g, tol)


def raises(ours: Callable[[], object], theirs: Callable[[], object], match: str) -> None:
    """torch raises, and so do we, with a message naming the problem."""
    with pytest.raises((RuntimeError, ValueError, IndexError, TypeError)):
        theirs()
    with pytest.raises((ValueError, TypeError), match=match):
        ours()


dtypes = st.sampled_from([np.float32, np.float64])
reductions = st.sampled_from(REDUCTIONS)
# values with ties (small integers), zeros of both signs, large ones, and nan / inf where asked
ties = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, 0.5])
norm_values = st.floats(-10, 10, width=32) | ties
# float32 statistics differ by rounding (torch's are not exact for a constant group), amplified by 1 / sqrt(eps)


def norm_tol(dtype: type) -> float:
    return 1e-9 if dtype == np.float64 else 2e-3
finite = st.floats(-5, 5, width=32) | ties
special = finite | st.sampled_from([math.nan, math.inf, -math.inf, 80.0, -80.0])


def arrays(shape: tuple[int, ...], dtype: type, elements: st.SearchStrategy = finite) -> st.SearchStrategy:
    return hnp.arrays(dtype, shape, elements=elements)


# ---------------------------------------------------------------- group norm
@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(0, 3), groups=st.integers(1, 3), per_group=st.integers(1, 3),
       spatial=hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3), dtype=dtypes,
       affine=st.booleans(), eps=st.sampled_from([1e-5, 0.1]))
def test_group_norm_matches_torch(data: st.DataObject, n: int, groups: int, per_group: int,
                                  spatial: tuple[int, ...], dtype: type, affine: bool, eps: float) -> None:
    c = groups * per_group
    x = data.draw(arrays((n, c, *spatial), dtype, norm_values))
    if n * per_group * math.prod(spatial) == 1:  # one value per group: both refuse
        raises(lambda: F.group_norm(tg.Tensor(x), groups), lambda: TF.group_norm(torch.tensor(x), groups),
               "more than 1 value per group")
        return
    if not affine:
        both(lambda t: F.group_norm(t, groups, eps=eps), lambda t: TF.group_norm(t, groups, eps=eps), [x],
             tol=norm_tol(dtype))
        return
    w, b = (data.draw(arrays((c,), dtype)) for _ in range(2))
    both(lambda t, w, b: F.group_norm(t, groups, w, b, eps), lambda t, w, b: TF.group_norm(t, groups, w, b, eps),
         [x, w, b], grad_of=(0, 1, 2), tol=norm_tol(dtype))


def test_group_norm_module_and_errors() -> None:
    m, ref = nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)
    assert m.extra_repr() == ref.extra_repr()
    assert nn.GroupNorm(1, 3, affine=False).extra_repr() == torch.nn.GroupNorm(1, 3, affine=False).extra_repr()
    assert nn.GroupNorm(2, 4, bias=False).bias is None
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32)
    both(m, ref, [x])
    assert sorted(m.state_dict()) == sorted(ref.state_dict())
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(4, 6)
    raises(lambda: F.group_norm(tg.Tensor(x), 3), lambda: TF.group_norm(torch.tensor(x), 3), "num_groups=3")
    raises(lambda: F.group_norm(tg.Tensor(x), 2, tg.ones(3)), lambda: TF.group_norm(torch.tensor(x), 2, torch.ones(3)),
           "weight has shape")
    raises(lambda: F.group_norm(tg.Tensor(x[0, 0]), 1), lambda: TF.group_norm(torch.tensor(x[0, 0]), 1),
           r"\(N, C, \.\.\.\)")


# ---------------------------------------------------------------- instance norm
spatial_shapes = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4).filter(
    lambda s: math.prod(s) != 1)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(0, 3), c=st.integers(1, 3), spatial=spatial_shapes, dtype=dtypes,
       affine=st.booleans(), running=st.booleans(), momentum=st.sampled_from([0.1, 0.5]))
def test_instance_norm_matches_torch(data: st.DataObject, n: int, c: int, spatial: tuple[int, ...], dtype: type,
                                     affine: bool, running: bool, momentum: float) -> None:
    # an empty batch: torch fails with a weight (an IndexError) and makes running statistics nan (ours keep theirs)
    assume(n > 0 or not (affine or running))
    x = data.draw(arrays((n, c, *spatial), dtype, norm_values))
    w, b = (data.draw(arrays((c,), dtype)) for _ in range(2))
    stats = [data.draw(arrays((c,), dtype)), data.draw(arrays((c,), dtype, st.floats(0.125, 3, width=32)))]
    ours_stats = [tg.Tensor(s.copy()) for s in stats] if running else [None, None]
    ref_stats = [torch.tensor(s.copy()) for s in stats] if running else [None, None]
    params = (1, 2) if affine else ()
    both(lambda t, w, b: F.instance_norm(t, *ours_stats, w if affine else None, b if affine else None,
                                         momentum=momentum),
         lambda t, w, b: TF.instance_norm(t, *ref_stats, w if affine else None, b if affine else None,
                                          momentum=momentum),
         [x, w, b], grad_of=(0, *params), tol=norm_tol(dtype))
    if running:
        for ours, ref in zip(ours_stats, ref_stats):
            close(ours, ref, 1e-9 if dtype == np.float64 else 1e-4)
        # evaluation with the running statistics
        both(lambda t: F.instance_norm(t, *ours_stats, use_input_stats=False),
             lambda t: TF.instance_norm(t, *ref_stats, use_input_stats=False), [x], tol=norm_tol(dtype))


@pytest.mark.parametrize("cls,shape", [("InstanceNorm1d", (2, 3, 5)), ("InstanceNorm1d", (3, 5)),
                                       ("InstanceNorm2d", (2, 3, 4, 2)), ("InstanceNorm2d", (3, 4, 2))])
@pytest.mark.parametrize("affine,track", [(False, False), (True, False), (True, True), (False, True)])
def test_instance_norm_modules_match_torch(cls: str, shape: tuple[int, ...], affine: bool, track: bool) -> None:
    ours, ref = getattr(nn, cls)(3, affine=affine, track_running_stats=track), getattr(torch.nn, cls)(
        3, affine=affine, track_running_stats=track)
    assert ours.extra_repr() == ref.extra_repr()
    assert sorted(ours.state_dict()) == sorted(ref.state_dict())
    x = (np.random.default_rng(1).standard_normal(shape) * 3 + 1).astype(np.float32)
    for _ in range(2):
        both(ours, ref, [x], grad_of=(0,), tol=1e-4)
    if track:
        close(ours.running_mean, ref.running_mean, 1e-6)
        close(ours.running_var, ref.running_var, 1e-6)
        close(ours.num_batches_tracked, ref.num_batches_tracked, 0)
    ours.eval()
    ref.eval()
    both(ours, ref, [x], tol=1e-4)


def test_instance_norm_errors() -> None:
    x = np.zeros((2, 4, 5), dtype=np.float32)
    for shape in [(2, 4), (2, 4, 1)]:
        raises(lambda s=shape: F.instance_norm(tg.zeros(*s)), lambda s=shape: TF.instance_norm(torch.zeros(*s)),
               "2\\+ spatial positions")
    raises(lambda: F.instance_norm(tg.Tensor(x), weight=tg.ones(3)),
           lambda: TF.instance_norm(torch.tensor(x), weight=torch.ones(3)), "weight has shape")
    raises(lambda: F.instance_norm(tg.Tensor(x), use_input_stats=False),
           lambda: TF.instance_norm(torch.tensor(x), use_input_stats=False), "running_mean and running_var")
    raises(lambda: nn.InstanceNorm1d(3, affine=True)(tg.Tensor(x)),
           lambda: torch.nn.InstanceNorm1d(3, affine=True)(torch.tensor(x)), "to match num_features")
    raises(lambda: nn.InstanceNorm2d(4)(tg.Tensor(x[0])), lambda: torch.nn.InstanceNorm2d(4)(torch.tensor(x[0])),
           "3-d or 4-d")
    with pytest.warns(UserWarning, match="differs from num_features"):
        nn.InstanceNorm1d(3)(tg.Tensor(x))


# ---------------------------------------------------------------- local response norm
@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=hnp.array_shapes(min_dims=3, max_dims=4, min_side=1, max_side=4), dtype=dtypes,
       size=st.integers(1, 5), alpha=st.sampled_from([1e-4, 0.5]), beta=st.sampled_from([0.75, 1.0]),
       k=st.sampled_from([1.0, 2.0]))
def test_local_response_norm_matches_torch(data: st.DataObject, shape: tuple[int, ...], dtype: type, size: int,
                                           alpha: float, beta: float, k: float) -> None:
    x = data.draw(arrays(shape, dtype))
    both(lambda t: nn.LocalResponseNorm(size, alpha, beta, k)(t),
         lambda t: torch.nn.LocalResponseNorm(size, alpha, beta, k)(t), [x])
    assert nn.LocalResponseNorm(size, alpha, beta, k).extra_repr() == torch.nn.LocalResponseNorm(
        size, alpha, beta, k).extra_repr()


def test_local_response_norm_edges() -> None:
    both(lambda t: F.local_response_norm(t, 2), lambda t: TF.local_response_norm(t, 2), [np.zeros((0, 3, 2))])
    raises(lambda: F.local_response_norm(tg.zeros(2, 3), 2), lambda: TF.local_response_norm(torch.zeros(2, 3), 2),
           "3 or more dims")


# ---------------------------------------------------------------- pairwise losses
shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=shapes, dtype=dtypes, reduction=reductions, margin=st.sampled_from([0.0, 0.5, 1.0]))
def test_margin_ranking_loss_matches_torch(data: st.DataObject, shape: tuple[int, ...], dtype: type,
                                           reduction: str, margin: float) -> None:
    x1, x2 = (data.draw(arrays(shape, dtype, special)) for _ in range(2))
    y = data.draw(arrays(shape, dtype, st.sampled_from([1.0, -1.0, 0.5])))
    both(lambda a, b, t: nn.MarginRankingLoss(margin, reduction=reduction)(a, b, t),
         lambda a, b, t: TF.margin_ranking_loss(a, b, t, margin, reduction=reduction), [x1, x2, y],
         grad_of=(0, 1, 2))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=shapes, dtype=dtypes, reduction=reductions, margin=st.sampled_from([0.0, 1.0, 2.0]))
def test_hinge_embedding_loss_matches_torch(data: st.DataObject, shape: tuple[int, ...], dtype: type,
                                            reduction: str, margin: float) -> None:
    x = data.draw(arrays(shape, dtype, special))
    y = data.draw(arrays(shape, dtype, st.sampled_from([1.0, -1.0, 0.0])))
    both(lambda a, t: nn.HingeEmbeddingLoss(margin, reduction=reduction)(a, t),
         lambda a, t: TF.hinge_embedding_loss(a, t, margin, reduction=reduction), [x, y])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=shapes, dtype=dtypes, reduction=reductions)
def test_soft_margin_loss_matches_torch(data: st.DataObject, shape: tuple[int, ...], dtype: type,
                                        reduction: str) -> None:
    x = data.draw(arrays(shape, dtype, special | st.sampled_from([1000.0, -1000.0])))
    y = data.draw(arrays(shape, dtype, st.sampled_from([1.0, -1.0])))
    both(lambda a, t: nn.SoftMarginLoss(reduction=reduction)(a, t),
         lambda a, t: TF.soft_margin_loss(a, t, reduction=reduction), [x, y])


def test_soft_margin_loss_target_and_shapes() -> None:
    x = np.array([[1.0, -2.0]], dtype=np.float32)
    both(lambda a, t: F.soft_margin_loss(a, t, reduction="none"),
         lambda a, t: TF.soft_margin_loss(a, t, reduction="none"), [x, np.array([1.0, -1.0])])  # float64 target
    raises(lambda: F.soft_margin_loss(tg.Tensor(x), tg.Tensor(x[0, :1].repeat(3))),
           lambda: TF.soft_margin_loss(torch.tensor(x), torch.tensor(x[0, :1].repeat(3))), "broadcast")
    raises(lambda: F.soft_margin_loss(tg.Tensor(x), tg.Tensor(x, requires_grad=True)),
           lambda: TF.soft_margin_loss(torch.tensor(x), torch.tensor(x, requires_grad=True)), "target")


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=4), dtype=dtypes,
       reduction=reductions, weighted=st.booleans())
def test_multilabel_soft_margin_loss_matches_torch(data: st.DataObject, shape: tuple[int, ...], dtype: type,
                                                   reduction: str, weighted: bool) -> None:
    x = data.draw(arrays(shape, dtype, special))
    y = data.draw(arrays(shape, dtype, st.sampled_from([0.0, 1.0, 0.3])))
    w = data.draw(arrays(shape[-1:], dtype))
    both(lambda a, t, w: F.multilabel_soft_margin_loss(a, t, w if weighted else None, reduction=reduction),
         lambda a, t, w: TF.multilabel_soft_margin_loss(a, t, w if weighted else None, reduction=reduction),
         [x, y, w], grad_of=(0, 1, 2) if weighted else (0, 1))
    m = nn.MultiLabelSoftMarginLoss(tg.Tensor(w), reduction=reduction)
    both(m, lambda a, t: torch.nn.MultiLabelSoftMarginLoss(torch.tensor(w), reduction=reduction)(a, t), [x, y])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), batch=st.sampled_from([None, 0, 1, 3]), d=st.integers(1, 4), dtype=dtypes,
       reduction=reductions, margin=st.sampled_from([0.0, 0.5, -0.5]))
def test_cosine_embedding_loss_matches_torch(data: st.DataObject, batch: int | None, d: int, dtype: type,
                                             reduction: str, margin: float) -> None:
    shape = (d,) if batch is None else (batch, d)
    x1, x2 = (data.draw(arrays(shape, dtype, st.sampled_from([0.0, 1.0, -1.0, 2.0]) | finite)) for _ in range(2))
    y = data.draw(arrays(shape[:-1], np.int64, st.sampled_from([1, -1, 0])))
    both(lambda a, b, t: nn.CosineEmbeddingLoss(margin, reduction=reduction)(a, b, t),
         lambda a, b, t: TF.cosine_embedding_loss(a, b, t, margin, reduction=reduction), [x1, x2, y],
         grad_of=(0, 1), tol=1e-9 if dtype == np.float64 else 1e-4)


def test_cosine_embedding_loss_errors() -> None:
    a = np.ones((2, 3), dtype=np.float32)
    raises(lambda: F.cosine_embedding_loss(tg.Tensor(a), tg.Tensor(a), tg.ones(2, 1)),
           lambda: TF.cosine_embedding_loss(torch.tensor(a), torch.tensor(a), torch.ones(2, 1)), "0-d or 1-d target")
    raises(lambda: F.cosine_embedding_loss(tg.Tensor(a), tg.Tensor(a), tg.ones(())),
           lambda: TF.cosine_embedding_loss(torch.tensor(a), torch.tensor(a), torch.ones(())), "expects 1-d inputs")


@settings(max_examples=40, deadline=None)
@given(data=st.data(), batch=st.sampled_from([None, 0, 1, 3]), d=st.integers(1, 3), dtype=dtypes,
       reduction=reductions, p=st.sampled_from([1.0, 2.0, 3.0]), swap=st.booleans(),
       eps=st.sampled_from([1e-6, 0.0]), margin=st.sampled_from([0.5, 1.0]))
def test_triplet_margin_loss_matches_torch(data: st.DataObject, batch: int | None, d: int, dtype: type,
                                           reduction: str, p: float, swap: bool, eps: float, margin: float) -> None:
    shape = (d,) if batch is None else (batch, d)
    a, pos, neg = (data.draw(arrays(shape, dtype, ties)) for _ in range(3))
    if data.draw(st.booleans()):
        pos = a.copy()  # zero distance and (with swap) a tie of d(a, n) and d(p, n)
    both(lambda *t: nn.TripletMarginLoss(margin, p, eps, swap, reduction=reduction)(*t),
         lambda *t: TF.triplet_margin_loss(*t, margin=margin, p=p, eps=eps, swap=swap, reduction=reduction),
         [a, pos, neg], grad_of=(0, 1, 2))


def test_triplet_margin_loss_errors() -> None:
    a = tg.ones(2, 3)
    raises(lambda: F.triplet_margin_loss(a, a, tg.ones(3)),
           lambda: TF.triplet_margin_loss(torch.ones(2, 3), torch.ones(2, 3), torch.ones(3)), "how many dims")
    raises(lambda: F.triplet_margin_loss(a, a, a, margin=0),
           lambda: TF.triplet_margin_loss(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 3), margin=0),
           "is not positive")
    raises(lambda: F.margin_ranking_loss(tg.ones(2), tg.ones(1, 2), tg.ones(2)),
           lambda: TF.margin_ranking_loss(torch.ones(2), torch.ones(1, 2), torch.ones(2)), "how many dims")


# ---------------------------------------------------------------- classification margins
@settings(max_examples=40, deadline=None)
@given(data=st.data(), batch=st.sampled_from([None, 0, 1, 3]), c=st.integers(1, 4), dtype=dtypes,
       reduction=st.sampled_from(["sum", "none"]), p=st.sampled_from([1, 2]),
       margin=st.sampled_from([0.0, 1.0, 0.5]), weighted=st.booleans())
def test_multi_margin_loss_matches_torch(data: st.DataObject, batch: int | None, c: int, dtype: type,
                                         reduction: str, p: int, margin: float, weighted: bool) -> None:
    assume(batch != 0 or reduction == "none")  # torch's reduced loss of an empty batch is uninitialised memory
    shape = (c,) if batch is None else (batch, c)
    x = data.draw(arrays(shape, dtype, special))
    y = data.draw(arrays((1,) if batch is None else (batch,), np.int64, st.integers(0, c - 1)))
    w = data.draw(arrays((c,), dtype, st.floats(0, 3, width=32))) if weighted else None
    both(lambda a: nn.MultiMarginLoss(p, margin, None if w is None else tg.Tensor(w), reduction=reduction)(a, y),
         lambda a: TF.multi_margin_loss(a, torch.tensor(y), p, margin, None if w is None else torch.tensor(w),
                                        reduction=reduction), [x])


def test_multi_margin_loss_shapes_and_errors() -> None:
    both(lambda a: F.multi_margin_loss(a, tg.Tensor(np.int64(0)), reduction="none"),
         lambda a: TF.multi_margin_loss(a, torch.tensor(0), reduction="none"), [np.array([1.0, 0.0, 2.0])])
    both(lambda a: F.multi_margin_loss(a, np.array([0])), lambda a: TF.multi_margin_loss(a, torch.tensor([0])),
         [np.array(1.5)])
    x = tg.ones(2, 3)
    raises(lambda: F.multi_margin_loss(x, tg.Tensor(np.array([3, 0]))),
           lambda: TF.multi_margin_loss(torch.ones(2, 3), torch.tensor([3, 0])), r"in \[0, 3\)")
    raises(lambda: F.multi_margin_loss(x, tg.Tensor(np.array([0]))),
           lambda: TF.multi_margin_loss(torch.ones(2, 3), torch.tensor([0])), "one class index per sample")
    raises(lambda: F.multi_margin_loss(x, tg.Tensor(np.array([0, 1])), p=3),
           lambda: TF.multi_margin_loss(torch.ones(2, 3), torch.tensor([0, 1]), p=3), "p = 1 and p = 2")
    raises(lambda: F.multi_margin_loss(x, tg.Tensor(np.array([0, 1])), weight=tg.ones(2)),
           lambda: TF.multi_margin_loss(torch.ones(2, 3), torch.tensor([0, 1]), weight=torch.ones(2)),
           "one entry per class")
    raises(lambda: F.multi_margin_loss(tg.ones(1, 0), tg.Tensor(np.array([0]))),
           lambda: TF.multi_margin_loss(torch.ones(1, 0), torch.tensor([0])), "C > 0")
    raises(lambda: F.multi_margin_loss(x, tg.Tensor(np.array([0, 1])), weight=tg.ones(3, requires_grad=True)),
           lambda: TF.multi_margin_loss(torch.ones(2, 3), torch.tensor([0, 1]),
                                        weight=torch.ones(3, requires_grad=True)), "not differentiable")


def target_lists(batch: int, c: int) -> st.SearchStrategy:
    """Rows of class indices, each ended by -1 (or full), with repeats, as multilabel_margin_loss takes."""
    return hnp.arrays(np.int64, (batch, c), elements=st.integers(-1, c - 1))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), batch=st.sampled_from([None, 1, 3]), c=st.integers(1, 4), dtype=dtypes,
       reduction=reductions)
def test_multilabel_margin_loss_matches_torch(data: st.DataObject, batch: int | None, c: int, dtype: type,
                                              reduction: str) -> None:
    shape = (c,) if batch is None else (batch, c)
    x = data.draw(arrays(shape, dtype, special))
    y = data.draw(target_lists(1 if batch is None else batch, c)).reshape(shape)
    both(lambda a: nn.MultiLabelMarginLoss(reduction=reduction)(a, y),
         lambda a: TF.multilabel_margin_loss(a, torch.tensor(y), reduction=reduction), [x])


def test_multilabel_margin_loss_edges() -> None:
    both(lambda a: F.multilabel_margin_loss(a, np.int64(0), reduction="none"),
         lambda a: TF.multilabel_margin_loss(a, torch.tensor(0), reduction="none"), [np.array(0.5)])
    both(lambda a: F.multilabel_margin_loss(a, np.zeros((0, 4), np.int64), reduction="sum"),
         lambda a: TF.multilabel_margin_loss(a, torch.zeros(0, 4, dtype=torch.long), reduction="sum"),
         [np.zeros((0, 4))])
    x = np.array([0.1, 0.2, 0.4, 0.8])
    raises(lambda: F.multilabel_margin_loss(tg.Tensor(x), np.array([3, 4, -1, 1])),
           lambda: TF.multilabel_margin_loss(torch.tensor(x), torch.tensor([3, 4, -1, 1])), r"\[0, 4\) or -1")
    raises(lambda: F.multilabel_margin_loss(tg.Tensor(x), np.array([3, 1])),
           lambda: TF.multilabel_margin_loss(torch.tensor(x), torch.tensor([3, 1])), "must equal input shape")


# ---------------------------------------------------------------- likelihoods
@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3), dtype=dtypes,
       reduction=reductions, full=st.booleans(), eps=st.sampled_from([1e-6, 0.1]),
       var_form=st.sampled_from(["same", "last dim dropped", "one dim 1", "number"]))
def test_gaussian_nll_loss_matches_torch(data: st.DataObject, shape: tuple[int, ...], dtype: type, reduction: str,
                                         full: bool, eps: float, var_form: str) -> None:
    x, y = (data.draw(arrays(shape, dtype)) for _ in range(2))
    var_shape = {"same": shape, "last dim dropped": shape[:-1], "number": shape,
                 "one dim 1": tuple(1 if i == len(shape) - 1 else n for i, n in enumerate(shape))}[var_form]
    v = data.draw(arrays(var_shape, dtype, st.floats(0, 4, width=32) | st.sampled_from([0.0, 1e-7, 0.1])))
    if var_form == "number":
        number = float(v.flat[0]) if v.size else 0.5
        both(lambda a, b: nn.GaussianNLLLoss(full=full, eps=eps, reduction=reduction)(a, b, number),
             lambda a, b: TF.gaussian_nll_loss(a, b, number, full, eps, reduction), [x, y], grad_of=(0, 1))
        return
    both(lambda a, b, s: nn.GaussianNLLLoss(full=full, eps=eps, reduction=reduction)(a, b, s),
         lambda a, b, s: TF.gaussian_nll_loss(a, b, s, full, eps, reduction), [x, y, v], grad_of=(0, 1, 2))


def test_gaussian_nll_loss_errors() -> None:
    x = tg.ones(2, 3)
    raises(lambda: F.gaussian_nll_loss(x, x, tg.ones(2, 2)),
           lambda: TF.gaussian_nll_loss(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 2)), "incorrect size")
    raises(lambda: F.gaussian_nll_loss(x, x, -tg.ones(2, 3)),
           lambda: TF.gaussian_nll_loss(torch.ones(2, 3), torch.ones(2, 3), -torch.ones(2, 3)), "negative")
    raises(lambda: F.gaussian_nll_loss(x, x, -1.0),
           lambda: TF.gaussian_nll_loss(torch.ones(2, 3), torch.ones(2, 3), -1.0), "negative")
    raises(lambda: F.gaussian_nll_loss(x, x, x, reduction="bad"),
           lambda: TF.gaussian_nll_loss(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 3), reduction="bad"),
           "reduction")


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=shapes, dtype=dtypes, reduction=reductions, log_input=st.booleans(),
       full=st.booleans(), eps=st.sampled_from([1e-8, 0.5]))
def test_poisson_nll_loss_matches_torch(data: st.DataObject, shape: tuple[int, ...], dtype: type, reduction: str,
                                        log_input: bool, full: bool, eps: float) -> None:
    x = data.draw(arrays(shape, dtype, st.floats(-3, 3, width=32) | st.sampled_from([0.0, 1.0, math.nan]) if log_input
                         else st.floats(0, 5, width=32) | st.sampled_from([0.0, 1.0, 2.0])))
    y = data.draw(arrays(shape, dtype, st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 7.0])))
    both(lambda a, t: nn.PoissonNLLLoss(log_input, full, eps=eps, reduction=reduction)(a, t),
         lambda a, t: TF.poisson_nll_loss(a, t, log_input, full, eps=eps, reduction=reduction), [x, y],
         grad_of=(0, 1))


# ---------------------------------------------------------------- module surface
@pytest.mark.parametrize("name,args", [
    ("MarginRankingLoss", {"margin": 0.5}), ("HingeEmbeddingLoss", {"margin": 2.0}), ("SoftMarginLoss", {}),
    ("MultiLabelSoftMarginLoss", {}), ("CosineEmbeddingLoss", {"margin": 0.1}),
    ("TripletMarginLoss", {"p": 1.0, "swap": True}), ("MultiMarginLoss", {"p": 2}), ("MultiLabelMarginLoss", {}),
    ("GaussianNLLLoss", {"full": True}), ("PoissonNLLLoss", {"log_input": False, "full": True}),
])
def test_loss_modules_keep_torch_options(name: str, args: dict) -> None:
    ours, ref = getattr(nn, name)(reduction="sum", **args), getattr(torch.nn, name)(reduction="sum", **args)
    for key, value in args.items():
        assert getattr(ours, key) == getattr(ref, key) == value
    assert ours.reduction == "sum"
    with pytest.raises(ValueError, match="reduction"):
        getattr(nn, name)(reduction="bad", **args)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reductions_of_an_empty_batch(reduction: str) -> None:
    """The mean of no losses is nan and their sum 0, as torch (where torch's answer is defined)."""
    e = np.zeros((0, 3))
    both(lambda a, b, t: F.cosine_embedding_loss(a, b, t, reduction=reduction),
         lambda a, b, t: TF.cosine_embedding_loss(a, b, t, reduction=reduction), [e, e, np.zeros(0)],
         grad_of=(0, 1))
    both(lambda a, b: F.soft_margin_loss(a, b, reduction=reduction),
         lambda a, b: TF.soft_margin_loss(a, b, reduction=reduction), [e, e])
    both(lambda a, b, c: F.triplet_margin_loss(a, b, c, reduction=reduction),
         lambda a, b, c: TF.triplet_margin_loss(a, b, c, reduction=reduction), [e, e, e], grad_of=(0, 1, 2))


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float64, st.tuples(st.integers(2, 4), st.integers(1, 3)),
                    elements=st.floats(-3, 3) | st.sampled_from([np.inf, -np.inf, np.nan])))
def test_batch_norm_running_statistics_with_infinities_as_torch(x: np.ndarray) -> None:
    """A channel holding +-inf has an infinite mean (torch's), not the nan of a rounding correction inf - inf."""
    got, want = (lib.nn.BatchNorm1d(x.shape[1], momentum=0.5).double() for lib in (tg, torch))
    y, z = got(tg.tensor(x)), want(torch.tensor(x))
    np.testing.assert_allclose(got.running_mean.numpy(), want.running_mean.numpy(), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got.running_var.numpy(), want.running_var.numpy(), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(y.numpy(), z.detach().numpy(), rtol=1e-10, atol=1e-12, equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(z=hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(-50, 50)),
       y=hnp.arrays(np.float32, st.integers(1, 6), elements=st.floats(0, 1, width=32)))
def test_bce_with_logits_float64_logits_get_a_float64_gradient(z: np.ndarray, y: np.ndarray) -> None:
    """float64 logits with float32 targets: the loss is float32 (torch's), the logits' gradient torch's float64 one
    (it was formed from the logits rounded to float32)."""
    y = np.resize(y, z.shape)
    got, want = ((lib.tensor(z, requires_grad=True), lib.tensor(y)) for lib in (tg, torch))
    losses = [lib.nn.functional.binary_cross_entropy_with_logits(*pair, reduction="sum")
              for lib, pair in ((tg, got), (torch, want))]
    for loss in losses:
        loss.backward()
    assert str(losses[0].dtype) == "float32" and losses[1].dtype == torch.float32
    assert got[0].grad.dtype == np.float64
    np.testing.assert_allclose(got[0].grad.numpy(), want[0].grad.numpy(), rtol=1e-14, atol=1e-300)
