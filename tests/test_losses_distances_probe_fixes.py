"""Fixes from the second losses / distances probe (tinygrad_adam vs torch), each checked against torch:

- the losses torch routes through its reduction enum take the deprecated ``reduction="elementwise_mean"`` as
  "mean" with a UserWarning (before: ValueError, a PyTorch program stopped); the ones torch checks by hand
  (multilabel_soft_margin_loss, poisson_nll_loss, gaussian_nll_loss, triplet_margin_with_distance_loss) still
  refuse it, as torch does;
- ``torch.cdist`` refuses an unknown ``compute_mode`` with ValueError (before: silently accepted);
- ``nn.CosineSimilarity`` prints as torch does, ``CosineSimilarity()`` (before: ``CosineSimilarity(dim=1,
  eps=1e-08)``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tinygrad_adam as tg
import tinygrad_adam.nn as tnn
import tinygrad_adam.nn.functional as tF

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
LIB = {"torch": (torch, torch.nn.functional, torch.nn), "tg": (tg, tF, tnn)}

ELEMS = st.one_of(st.floats(-50, 50, width=32), st.sampled_from([0.0, -0.0, 1e-30, 30.0, -30.0]))


def _inputs(L: Any, x: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """The tensors a loss below takes, built from the drawn scores ``x`` and probabilities ``p`` (N, C)."""
    n, c = x.shape
    idx = np.arange(n) % c
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0).astype(x.dtype)
    lp = np.log(np.full((5, n, c), 1.0 / c, x.dtype))
    return {"x": L.tensor(x, requires_grad=True), "p": L.tensor(p), "idx": L.tensor(idx), "sign": L.tensor(sign),
            "sign_c": L.tensor(np.where(p > 0.5, 1.0, -1.0).astype(x.dtype)),
            "mlm": L.tensor(np.tile(np.r_[np.arange(c - 1, -1, -1)[:2], -np.ones(max(c - 2, 0), int)][:c], (n, 1))),
            "lp": L.tensor(lp, requires_grad=True), "ctc_t": L.tensor(np.ones((n, 1), np.int64) * (c > 1)),
            "ctc_il": L.tensor(np.full(n, 5)), "ctc_tl": L.tensor(np.ones(n, np.int64))}


LOSSES: dict[str, Callable[..., Any]] = {
    "l1_loss": lambda F, i, r: F.l1_loss(i["x"], i["p"], reduction=r),
    "mse_loss": lambda F, i, r: F.mse_loss(i["x"], i["p"], reduction=r),
    "smooth_l1_loss": lambda F, i, r: F.smooth_l1_loss(i["x"], i["p"], reduction=r, beta=0.5),
    "huber_loss": lambda F, i, r: F.huber_loss(i["x"], i["p"], reduction=r, delta=0.5),
    "nll_loss": lambda F, i, r: F.nll_loss(i["x"], i["idx"], reduction=r),
    "cross_entropy": lambda F, i, r: F.cross_entropy(i["x"], i["idx"], reduction=r, label_smoothing=0.1),
    "binary_cross_entropy": lambda F, i, r: F.binary_cross_entropy(i["x"].sigmoid(), i["p"], reduction=r),
    "binary_cross_entropy_with_logits": lambda F, i, r: F.binary_cross_entropy_with_logits(i["x"], i["p"], reduction=r),
    "kl_div": lambda F, i, r: F.kl_div(i["x"], i["p"], reduction=r),
    "soft_margin_loss": lambda F, i, r: F.soft_margin_loss(i["x"], i["sign_c"], reduction=r),
    "hinge_embedding_loss": lambda F, i, r: F.hinge_embedding_loss(i["x"], i["sign_c"], reduction=r),
    "margin_ranking_loss": lambda F, i, r: F.margin_ranking_loss(i["x"][:, 0], i["p"][:, 0], i["sign"], reduction=r),
    "cosine_embedding_loss": lambda F, i, r: F.cosine_embedding_loss(i["x"], i["p"], i["sign"], reduction=r),
    "multi_margin_loss": lambda F, i, r: F.multi_margin_loss(i["x"], i["idx"], reduction=r),
    "multilabel_margin_loss": lambda F, i, r: F.multilabel_margin_loss(i["x"], i["mlm"], reduction=r),
    "triplet_margin_loss": lambda F, i, r: F.triplet_margin_loss(i["x"], i["p"], i["x"] * 2, reduction=r),
    "ctc_loss": lambda F, i, r: F.ctc_loss(i["lp"], i["ctc_t"], i["ctc_il"], i["ctc_tl"], reduction=r),
}
REFUSING: dict[str, Callable[..., Any]] = {
    "multilabel_soft_margin_loss": lambda F, i, r: F.multilabel_soft_margin_loss(i["x"], i["p"], reduction=r),
    "poisson_nll_loss": lambda F, i, r: F.poisson_nll_loss(i["x"], i["p"], reduction=r),
    "gaussian_nll_loss": lambda F, i, r: F.gaussian_nll_loss(i["x"], i["p"], i["p"] + 1, reduction=r),
    "triplet_margin_with_distance_loss": lambda F, i, r: F.triplet_margin_with_distance_loss(
        i["x"], i["p"], i["x"] * 2, reduction=r),
}


def _run(lib: str, fn: Callable[..., Any], x: np.ndarray, p: np.ndarray, reduction: str
         ) -> tuple[np.ndarray, list[np.ndarray], list[type]]:
    """The loss, the gradients of its float inputs and the warning categories raised."""
    L, F, _ = LIB[lib]
    i = _inputs(L, x, p)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(F, i, reduction)
    out.backward()
    grads = [t.grad.numpy() for t in (i["x"], i["lp"]) if t.grad is not None]
    return out.detach().numpy(), grads, [w.category for w in caught if "elementwise_mean" in str(w.message)]


@settings(deadline=None, max_examples=25)
@given(st.sampled_from(sorted(LOSSES)), st.sampled_from([np.float32, np.float64]), st.integers(1, 4),
       st.integers(2, 4), st.data())
def test_elementwise_mean_is_the_mean_with_a_warning(name: str, dtype: type, n: int, c: int,
                                                     data: st.DataObject) -> None:
    x = data.draw(arrays(dtype, (n, c), elements=ELEMS))
    p = data.draw(arrays(dtype, (n, c), elements=st.floats(0.01, 0.99)))
    vt, gt, wt = _run("torch", LOSSES[name], x, p, "elementwise_mean")
    vo, go, wo = _run("tg", LOSSES[name], x, p, "elementwise_mean")
    vm, _, _ = _run("tg", LOSSES[name], x, p, "mean")
    assert wt and wo == [UserWarning] * len(wo) and wo
    assert vo.dtype == vt.dtype and vo.shape == vt.shape == ()
    np.testing.assert_allclose(vo, vt, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(vo, vm)
    assert len(go) == len(gt)
    for o, t in zip(go, gt):
        np.testing.assert_allclose(o, t, rtol=1e-4, atol=1e-6)


def test_elementwise_mean_through_the_modules() -> None:
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    y = np.array([0, 3, 1])
    res = []
    for L, _, nn in LIB.values():
        with pytest.warns(UserWarning, match="elementwise_mean"):
            res.append((nn.CrossEntropyLoss(reduction="elementwise_mean")(L.tensor(x), L.tensor(y)).item(),
                        nn.HuberLoss(reduction="elementwise_mean")(L.tensor(x), L.tensor(x * 2)).item()))
    np.testing.assert_allclose(res[1], res[0], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(REFUSING))
def test_elementwise_mean_still_refused_where_torch_refuses(name: str) -> None:
    x = np.full((2, 3), 0.5, np.float32)
    with pytest.raises(ValueError):
        _run("torch", REFUSING[name], x, x, "elementwise_mean")
    with pytest.raises(ValueError):
        _run("tg", REFUSING[name], x, x, "elementwise_mean")


@pytest.mark.parametrize("bad", ["elementwise_sum", "MEAN", "batchmean"])
def test_other_reductions_still_refused(bad: str) -> None:
    x = np.full((2, 3), 0.5, np.float32)
    for name in ("l1_loss", "huber_loss", "ctc_loss", "multi_margin_loss"):
        with pytest.raises(ValueError):
            _run("torch", LOSSES[name], x, x, bad)
        with pytest.raises(ValueError):
            _run("tg", LOSSES[name], x, x, bad)


@settings(deadline=None, max_examples=20)
@given(st.sampled_from([None, "use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                        "donot_use_mm_for_euclid_dist", "foo", "", "use_mm"]),
       arrays(np.float64, st.tuples(st.integers(0, 3), st.integers(1, 3)), elements=st.floats(-1e3, 1e3)),
       st.sampled_from([0.0, 1.0, 2.0, 0.5, float("inf")]))
def test_cdist_compute_mode_checked(mode: str | None, a: np.ndarray, p: float) -> None:
    b = np.ascontiguousarray(a[::-1]) + 1.0
    try:
        ref = torch.cdist(torch.tensor(a), torch.tensor(b), p=p, compute_mode=mode).numpy()
    except ValueError:
        with pytest.raises(ValueError, match="compute_mode"):
            tg.cdist(tg.tensor(a), tg.tensor(b), p=p, compute_mode=mode)
        return
    ours = tg.cdist(tg.tensor(a), tg.tensor(b), p=p, compute_mode=mode).numpy()
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kw", [{}, {"dim": 0}, {"dim": -1, "eps": 0.5}])
def test_cosine_similarity_module_repr(kw: dict[str, Any]) -> None:
    assert repr(tnn.CosineSimilarity(**kw)) == repr(torch.nn.CosineSimilarity(**kw))
