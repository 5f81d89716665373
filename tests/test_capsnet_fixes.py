"""What the CapsNet program (``tests/torch_style/capsnet.py``) and the GitHub ports it follows needed, against torch
2.13: ``torch.sparse.torch`` (torch's sparse module imports torch, so ``torch.sparse.torch.eye(10)`` is
``torch.eye(10)``); torch's keyword ``index=`` in ``index_select``, ``gather``, ``scatter`` and ``scatter_add``
(methods, in-place forms and torch.* functions; ours named it ``index_``); and torch's deprecated ``size_average`` /
``reduce`` arguments of every loss that takes them (``nn.MSELoss(size_average=False)``,
``F.binary_cross_entropy(..., size_average=False)``: they override ``reduction``, with torch's warning, and sit at
torch's positions, so ``F.mse_loss(a, b, "sum")`` is torch's mean), where ours raised."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_torch_movement_names import agree, arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


# ------------------------------------------------------------------ torch.sparse.torch


def test_sparse_torch_is_the_top_level_module() -> None:
    assert tg.sparse.torch is tg and torch.sparse.torch is torch
    ours = tg.sparse.torch.eye(10).index_select(dim=0, index=tg.tensor([3, 0, 9]))
    theirs = torch.sparse.torch.eye(10).index_select(dim=0, index=torch.tensor([3, 0, 9]))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert str(ours.dtype) == "float32"
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        tg.sparse.nothing_here  # noqa: B018


# ------------------------------------------------------------------ index= keywords


@st.composite
def gathers(draw: Any, distinct: bool = False) -> tuple[np.ndarray, int, np.ndarray]:
    """x (at least 1-d, no empty side), a dim, and an int64 index no larger than x along every side, its values in
    range along dim (``distinct``: no repeats along dim, so scatter has one writer per place)."""
    x = draw(arrays(min_dims=1, min_side=1))
    dim = draw(st.integers(-x.ndim, x.ndim - 1))
    sides = [draw(st.integers(0, side)) for side in x.shape]
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    if distinct:
        full = list(sides)
        full[dim] = x.shape[dim]
        index = np.argsort(rng.random(full), axis=dim).take(np.arange(sides[dim]), axis=dim)
    else:
        index = rng.integers(0, x.shape[dim], sides)
    return x, dim, index.astype(np.int64)


INDEX_KEYWORD: dict[str, Callable[..., Any]] = {
    "gather": lambda lib, x, dim, i: x.gather(dim, index=i),
    "gather_all_keywords": lambda lib, x, dim, i: x.gather(dim=dim, index=i),
    "torch.gather": lambda lib, x, dim, i: lib.gather(x, dim, index=i),
    "scatter_value": lambda lib, x, dim, i: x.scatter(dim, index=i, value=-2.5),
    "scatter_add": lambda lib, x, dim, i: x.scatter_add(dim, index=i, src=x.gather(dim, i) * 3),
    "torch.scatter_add": lambda lib, x, dim, i: lib.scatter_add(x, dim, index=i, src=x.gather(dim, i).cos()),
    "scatter_add_": lambda lib, x, dim, i: (x * 1).scatter_add_(dim, index=i, src=x.gather(dim, i) * 2),
}
SCATTER_SRC: dict[str, Callable[..., Any]] = {  # one writer per place: torch's order among repeats is unspecified
    "scatter_src": lambda lib, x, dim, i: x.scatter(dim, index=i, src=x.gather(dim, i) * -3),
    "torch.scatter": lambda lib, x, dim, i: lib.scatter(x, dim, index=i, src=x.gather(dim, i).exp()),
    "scatter_": lambda lib, x, dim, i: (x * 2).scatter_(dim, index=i, src=x.gather(dim, i) + 1),
}


@pytest.mark.parametrize("name", sorted(INDEX_KEYWORD))
@settings(max_examples=25, deadline=None)
@given(case=gathers())
def test_index_keyword_of_gather_and_scatter(name: str, case: tuple[np.ndarray, int, np.ndarray]) -> None:
    x, dim, index = case
    agree(lambda lib, x, i: INDEX_KEYWORD[name](lib, x, dim, i), x, index, rtol=1e-10)


@pytest.mark.parametrize("name", sorted(SCATTER_SRC))
@settings(max_examples=25, deadline=None)
@given(case=gathers(distinct=True))
def test_index_keyword_of_scatter_with_a_source(name: str, case: tuple[np.ndarray, int, np.ndarray]) -> None:
    x, dim, index = case
    agree(lambda lib, x, i: SCATTER_SRC[name](lib, x, dim, i), x, index, rtol=1e-10)


@pytest.mark.parametrize("reduce", ["add", "multiply"])
@settings(max_examples=25, deadline=None)
@given(case=gathers())
def test_index_keyword_of_scatter_with_reduce(reduce: str, case: tuple[np.ndarray, int, np.ndarray]) -> None:
    """torch's deprecated ``reduce=`` of scatter (values only: it has no derivative)."""
    x, dim, index = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation warning of a tensor src
        agree(lambda lib, x, i: x.scatter(dim, index=i, src=x.gather(dim, i) * 0.5, reduce=reduce), x, index,
              grads=False, rtol=1e-10)
        agree(lambda lib, x, i: x.scatter(dim, index=i, value=-1.5, reduce=reduce), x, index, grads=False)


@settings(max_examples=25, deadline=None)
@given(x=arrays(min_dims=1, min_side=1), data=st.data())
def test_index_keyword_of_index_select(x: np.ndarray, data: st.DataObject) -> None:
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    index = np.array(data.draw(st.lists(st.integers(0, x.shape[dim] - 1), max_size=5)), np.int64)
    agree(lambda lib, x, i: x.index_select(dim=dim, index=i), x, index)
    agree(lambda lib, x, i: lib.index_select(x, dim, index=i), x, index)


def test_index_keyword_errors_as_torch() -> None:
    for lib in (torch, tg):
        x = lib.zeros(2, 3)
        with pytest.raises(TypeError):
            x.gather(1, idx=lib.zeros(2, 1, dtype=lib.int64))  # a wrong keyword still raises
        with pytest.raises((RuntimeError, IndexError, ValueError)):
            x.index_select(dim=0, index=lib.zeros(1, 1, dtype=lib.int64))  # index must be a vector


# ------------------------------------------------------------------ size_average / reduce

LEGACY = [(False, None), (None, False), (True, True), (False, True), (True, False), (False, False), (None, True),
          (True, None), (0, None)]


def loss_inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    x, y = rng.standard_normal((2, 4, 5))
    return {"x": x, "y": y, "z": rng.standard_normal((4, 5)), "p": rng.random((4, 5)), "cls": rng.integers(0, 5, 4),
            "sign": np.where(rng.random((4, 5)) < 0.5, -1.0, 1.0), "sign4": np.where(rng.random(4) < 0.5, -1.0, 1.0),
            "labels": np.array([[3, 0, -1, 1, 2], [1, -1, 0, 0, 0], [4, 2, 1, -1, 0], [0, 1, 2, 3, 4]]),
            "counts": rng.poisson(2.0, (4, 5)).astype(np.float64)}


# name: (nn class, arguments as (input names), the first one's transform into the loss's input)
LOSSES: dict[str, tuple[str, tuple[str, ...], Callable[[Any, Any], Any]]] = {
    "mse_loss": ("MSELoss", ("x", "y"), lambda lib, t: t),
    "l1_loss": ("L1Loss", ("x", "y"), lambda lib, t: t),
    "smooth_l1_loss": ("SmoothL1Loss", ("x", "y"), lambda lib, t: t),
    "binary_cross_entropy": ("BCELoss", ("x", "p"), lambda lib, t: t.sigmoid()),
    "binary_cross_entropy_with_logits": ("BCEWithLogitsLoss", ("x", "p"), lambda lib, t: t),
    "kl_div": ("KLDivLoss", ("x", "p"), lambda lib, t: t.log_softmax(1)),
    "cross_entropy": ("CrossEntropyLoss", ("x", "cls"), lambda lib, t: t),
    "nll_loss": ("NLLLoss", ("x", "cls"), lambda lib, t: t.log_softmax(1)),
    "margin_ranking_loss": ("MarginRankingLoss", ("x", "y", "sign"), lambda lib, t: t),
    "hinge_embedding_loss": ("HingeEmbeddingLoss", ("x", "sign"), lambda lib, t: t),
    "soft_margin_loss": ("SoftMarginLoss", ("x", "sign"), lambda lib, t: t),
    "multilabel_soft_margin_loss": ("MultiLabelSoftMarginLoss", ("x", "p"), lambda lib, t: t),
    "cosine_embedding_loss": ("CosineEmbeddingLoss", ("x", "y", "sign4"), lambda lib, t: t),
    "triplet_margin_loss": ("TripletMarginLoss", ("x", "y", "z"), lambda lib, t: t),
    "multi_margin_loss": ("MultiMarginLoss", ("x", "cls"), lambda lib, t: t),
    "multilabel_margin_loss": ("MultiLabelMarginLoss", ("x", "labels"), lambda lib, t: t),
    "poisson_nll_loss": ("PoissonNLLLoss", ("x", "counts"), lambda lib, t: t),
}


def legacy_loss(lib: Any, name: str, form: str, arrays_: dict[str, np.ndarray], **legacy: Any) -> tuple[Any, Any]:
    """The loss (functional or module ``form``) with the legacy arguments and ``reduction="none"`` (which they
    override), and the gradient of its sum in x; the warnings it gave are checked by the caller."""
    module, names, transform = LOSSES[name]
    x = lib.tensor(arrays_["x"], requires_grad=True)
    args = [transform(lib, x), *(lib.tensor(arrays_[n]) for n in names[1:])]
    if form == "functional":
        out = getattr(lib.nn.functional, name)(*args, reduction="none", **legacy)
    else:
        out = getattr(lib.nn, module)(reduction="none", **legacy)(*args)
    out.sum().backward()
    return out.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("form", ["functional", "module"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_legacy_size_average_and_reduce_as_torch(name: str, form: str) -> None:
    arrays_ = loss_inputs(np.random.default_rng(0))
    for size_average, reduce in LEGACY:
        legacy = {k: v for k, v in (("size_average", size_average), ("reduce", reduce)) if v is not None}
        results = []
        for lib in (torch, tg):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                results.append(legacy_loss(lib, name, form, arrays_, **legacy))
            said = [str(w.message) for w in caught]  # (kl_div's 'mean' warning: only where reduction= said it)
            assert sum("size_average" in m and "reduce" in m for m in said) == 1, (lib.__name__, legacy, said)
            results.append(said)
        (want, want_grad), want_said, (got, got_grad), got_said = results
        def gist(said: list[str]) -> list[str]:  # kl_div's 'mean' warning: each library words it its own way
            # and the legacy-argument warning too: compared by the reduction it names
            return ["kl_div mean" if "batchmean" in m else "legacy " + re.search(r"reduction='(\w+)'", m)[1]
                    if "size_average" in m else m for m in said]

        assert got.shape == want.shape and gist(got_said) == gist(want_said), (legacy, got.shape, got_said)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=str(legacy))
        np.testing.assert_allclose(got_grad, want_grad, rtol=1e-12, atol=1e-14, err_msg=str(legacy))


def test_without_legacy_arguments_no_warning_and_reduction_holds() -> None:
    x = tg.tensor([[0.5, -1.0], [2.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tg.nn.MSELoss(reduction="sum")(x, x * 0).item() == 5.25
        assert tg.nn.functional.l1_loss(x, x * 0, None, None, "none").shape == (2, 2)  # torch's positions
        assert tg.nn.BCELoss(None, None, None, "sum").reduction == "sum"
    with pytest.raises(ValueError, match="reduction"):
        tg.nn.MSELoss(reduction="average")


def test_a_positional_third_argument_is_size_average_as_in_torch() -> None:
    """``F.mse_loss(a, b, "sum")``: torch reads "sum" as a truthy size_average, so the mean (with the warning)."""
    x = np.array([[0.5, -1.0], [2.0, 0.0]])
    for f in (lambda lib, a: lib.nn.functional.mse_loss(a, a * 0, "sum"),
              lambda lib, a: lib.nn.functional.binary_cross_entropy(a.sigmoid(), a * 0, None, False)):
        with pytest.warns(UserWarning, match="size_average= and reduce= are deprecated"):
            agree(f, x)


@settings(max_examples=30, deadline=None)
@given(x=arrays(), data=st.data())
def test_mse_loss_size_average_false_sums_like_torch(x: np.ndarray, data: st.DataObject) -> None:
    """The CapsNet decoder's ``nn.MSELoss(size_average=False)`` on any values (nan, inf, -0.0, empty, 0-d)."""
    y = data.draw(arrays(elements=st.floats(-10, 10)).filter(lambda a: a.shape == x.shape) | st.just(-x * 0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agree(lambda lib, x, y: lib.nn.MSELoss(size_average=False)(x, y), x, y)
        agree(lambda lib, x, y: lib.nn.functional.l1_loss(x, y, size_average=False), x, y)
