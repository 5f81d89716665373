"""Fixes from the "leftovers" probe (small differences other probes found and left), each checked against torch:

- ``isclose`` / ``allclose`` (function and method) refuse a Python number, a list or a numpy array as either
  operand with TypeError (before: computed); a negative / nan tolerance or shapes that do not broadcast raise an
  error that is torch's RuntimeError and still a ValueError (before: ValueError only);
- class weights (and ``pos_weight``) that require grad, with grad mode on, raise in ``cross_entropy`` with class
  indices, ``nll_loss``, ``binary_cross_entropy`` and ``binary_cross_entropy_with_logits`` as torch does (before:
  computed, and the weight got no gradient); ``cross_entropy`` with class probabilities gives the weight its
  gradient, as torch (before: detached, no gradient); ``soft_margin_loss``'s target and ``multi_margin_loss``'s
  weight raise a RuntimeError that is still a ValueError;
- an integer / bool input to a floating-only kernel (kl_div, softmax, the losses, activations: the shared
  ``float_input``) raises torch's NotImplementedError / RuntimeError, still a TypeError;
- a number that does not fit an integer dtype (``tensor([nan], dtype=int64)``, ``fill_``, ``full``, ``pad``) raises
  torch's RuntimeError, still an OverflowError (the shared ``check_fits``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as tF

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
F = torch.nn.functional

FLOATS = st.one_of(st.floats(-1e6, 1e6, width=32), st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan]))


def _raises(fn: Callable[[], Any]) -> type[BaseException] | None:
    """The exception class ``fn`` raises, or None."""
    try:
        fn()
    except Exception as e:  # any: compared with torch's below
        return type(e)
    return None


# ------------------------------------------------------------------------------------------- isclose / allclose
OTHERS = {"float": lambda a: 1.0, "int": lambda a: 1, "bool": lambda a: True, "list": lambda a: a.tolist(),
          "ndarray": lambda a: a}


@pytest.mark.parametrize("fn", ["isclose", "allclose"])
@pytest.mark.parametrize("kind", sorted(OTHERS))
@pytest.mark.parametrize("where", ["function other", "method other", "function input"])
def test_isclose_refuses_a_non_tensor_operand(fn: str, kind: str, where: str) -> None:
    """torch takes only Tensors for both operands (TypeError); ours compared with the number / list / array."""
    a = np.array([1.0, 2.0, math.nan], np.float32)
    other = OTHERS[kind](a)
    calls = {"function other": lambda L, t: getattr(L, fn)(t, other),
             "method other": lambda L, t: getattr(t, fn)(other),
             "function input": lambda L, t: getattr(L, fn)(other, t)}
    for L in (torch, tg):
        with pytest.raises(TypeError, match=None if L is torch else "Tensor"):
            calls[where](L, L.tensor(a))


@pytest.mark.parametrize("fn", ["isclose", "allclose"])
@pytest.mark.parametrize("tols", [{"rtol": -1.0}, {"atol": -1e-30}, {"rtol": math.nan}, {"atol": math.nan},
                                  {"rtol": -math.inf}])
def test_isclose_bad_tolerance_is_runtime_and_value_error(fn: str, tols: dict[str, float]) -> None:
    x = np.array([1.0, 2.0], np.float32)
    with pytest.raises(RuntimeError):
        getattr(torch, fn)(torch.tensor(x), torch.tensor(x), **tols)
    for error in (RuntimeError, ValueError):
        with pytest.raises(error, match="isclose"):
            getattr(tg, fn)(tg.tensor(x), tg.tensor(x), **tols)
        with pytest.raises(error, match="isclose"):
            getattr(tg.tensor(x), fn)(tg.tensor(x), **tols)


@settings(max_examples=40, deadline=None)
@given(a=arrays(np.float32, st.sampled_from([(2,), (3,), (2, 3), (0,), (0, 3), ()]), elements=FLOATS),
       b=arrays(np.float32, st.sampled_from([(2,), (3,), (3, 2), (1,), (0,), ()]), elements=FLOATS),
       rtol=st.sampled_from([0.0, 1e-5, 0.5]), atol=st.sampled_from([0.0, 1e-8, 1.0]), equal_nan=st.booleans())
def test_isclose_matches_torch_or_raises_the_same(a: np.ndarray, b: np.ndarray, rtol: float, atol: float,
                                                  equal_nan: bool) -> None:
    """Values where shapes broadcast; a RuntimeError (and ValueError) where they do not, as torch."""
    kw = {"rtol": rtol, "atol": atol, "equal_nan": equal_nan}
    try:
        want = torch.isclose(torch.tensor(a), torch.tensor(b), **kw).numpy()
    except RuntimeError:
        for fn in ("isclose", "allclose"):
            with pytest.raises(RuntimeError):
                getattr(tg, fn)(tg.tensor(a), tg.tensor(b), **kw)
            with pytest.raises(ValueError):
                getattr(tg.tensor(a), fn)(tg.tensor(b), **kw)
        return
    np.testing.assert_array_equal(tg.isclose(tg.tensor(a), tg.tensor(b), **kw).numpy(), want)
    assert tg.allclose(tg.tensor(a), tg.tensor(b), **kw) == torch.allclose(torch.tensor(a), torch.tensor(b), **kw)


def test_isclose_keyword_operands_and_tensor_tolerance() -> None:
    a = np.array([1.0, 2.5, -3.0], np.float32)
    want = torch.isclose(input=torch.tensor(a), other=torch.tensor(a) + 0.5, rtol=torch.tensor(0.3)).numpy()
    got = tg.isclose(input=tg.tensor(a), other=tg.tensor(a) + 0.5, rtol=tg.tensor(0.3)).numpy()
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------------- loss weights that require grad
def _loss_cases(L: Any, FL: Any, x: Any, w: Any, target: np.ndarray, y: np.ndarray) -> dict[str, Callable[[], Any]]:
    t = L.tensor(target)
    yy = L.tensor(y)
    return {
        "cross_entropy": lambda: FL.cross_entropy(x, t, weight=w),
        "cross_entropy smoothed": lambda: FL.cross_entropy(x, t, weight=w, label_smoothing=0.1),
        "nll_loss": lambda: FL.nll_loss(x, t, weight=w, reduction="sum"),
        "binary_cross_entropy": lambda: FL.binary_cross_entropy(x.sigmoid(), yy, weight=w),
        "bce_with_logits weight": lambda: FL.binary_cross_entropy_with_logits(x, yy, weight=w),
        "bce_with_logits pos_weight": lambda: FL.binary_cross_entropy_with_logits(x, yy, pos_weight=w),
        "multi_margin_loss": lambda: FL.multi_margin_loss(x, t, weight=w),
        "CrossEntropyLoss": lambda: L.nn.CrossEntropyLoss(weight=w)(x, t),
        "NLLLoss": lambda: L.nn.NLLLoss(weight=w)(x, t),
    }


CASES = sorted(_loss_cases(torch, F, None, None, np.zeros(1, np.int64), np.zeros(1)))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("input_grad", [True, False])
def test_weight_that_requires_grad_raises_as_torch(case: str, input_grad: bool) -> None:
    """torch: the loss has no derivative for the weight, so a weight that requires grad raises (RuntimeError) with
    grad mode on, even for an input that does not; under no_grad it is taken. Ours: computed, weight without grad."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    w = np.array([0.5, 1.0, 2.0], np.float32)
    target, y = np.array([0, 2, 1, 2]), (rng.random((4, 3)) > 0.5).astype(np.float32)
    values = []
    for L, FL in ((torch, F), (tg, tF)):
        tx, tw = L.tensor(x, requires_grad=input_grad), L.tensor(w, requires_grad=True)
        call = _loss_cases(L, FL, tx, tw, target, y)[case]
        for error in ((RuntimeError,) if L is torch else (RuntimeError, ValueError)):
            with pytest.raises(error):
                call()
        with L.no_grad():
            values.append(call().numpy())
        tw2 = tw.detach()
        values.append(_loss_cases(L, FL, tx, tw2, target, y)[case]().detach().numpy())
    np.testing.assert_allclose(values[2], values[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(values[3], values[1], rtol=1e-5, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(x=arrays(np.float32, (3, 4), elements=st.floats(-30, 30, width=32)),
       p=arrays(np.float32, (3, 4), elements=st.floats(1 / 1024, 1, width=32)),
       w=arrays(np.float32, (4,), elements=st.floats(0, 10, width=32)),
       smoothing=st.sampled_from([0.0, 0.25]), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_probabilities_give_the_weight_its_gradient(x: np.ndarray, p: np.ndarray, w: np.ndarray,
                                                                  smoothing: float, reduction: str) -> None:
    """With class-probability targets torch's cross_entropy is differentiable in the weight; ours detached it."""
    p = p / p.sum(1, keepdims=True)
    g = np.linspace(-1, 1, 3, dtype=np.float32) if reduction == "none" else None
    grads = []
    for L, FL in ((torch, F), (tg, tF)):
        tx, tw = L.tensor(x, requires_grad=True), L.tensor(w, requires_grad=True)
        out = FL.cross_entropy(tx, L.tensor(p), weight=tw, reduction=reduction, label_smoothing=smoothing)
        (out * L.tensor(g)).sum().backward() if g is not None else out.backward()
        assert tw.grad is not None
        grads.append((out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()))
    for ours, want in zip(grads[1], grads[0], strict=True):
        np.testing.assert_allclose(ours, want, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_soft_margin_target_that_requires_grad_raises_runtime_error(reduction: str) -> None:
    x = np.array([[0.5, -1.0], [2.0, 0.0]], np.float32)
    y = np.array([[1.0, -1.0], [-1.0, 1.0]], np.float32)
    with pytest.raises(RuntimeError):
        F.soft_margin_loss(torch.tensor(x), torch.tensor(y, requires_grad=True), reduction=reduction)
    for error in (RuntimeError, ValueError):
        with pytest.raises(error, match="soft_margin_loss"):
            tF.soft_margin_loss(tg.tensor(x), tg.tensor(y, requires_grad=True), reduction=reduction)
    with tg.no_grad():
        got = tF.soft_margin_loss(tg.tensor(x), tg.tensor(y, requires_grad=True), reduction=reduction).numpy()
    with torch.no_grad():
        want = F.soft_margin_loss(torch.tensor(x), torch.tensor(y, requires_grad=True), reduction=reduction).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_multilabel_soft_margin_weight_keeps_its_gradient() -> None:
    """Not every weight is refused: torch's multilabel_soft_margin_loss is differentiable in its weight, ours too."""
    x = np.array([[0.5, -1.0, 3.0], [2.0, 0.0, -0.5]], np.float32)
    y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], np.float32)
    w = np.array([0.5, 2.0, 1.0], np.float32)
    grads = []
    for L, FL in ((torch, F), (tg, tF)):
        tw = L.tensor(w, requires_grad=True)
        FL.multilabel_soft_margin_loss(L.tensor(x), L.tensor(y), weight=tw).backward()
        grads.append(tw.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5)


# ----------------------------------------------------------------------------- integer inputs, float-only kernels
FLOAT_ONLY = {
    "kl_div input": lambda L, FL, i, f: FL.kl_div(i, f, reduction="sum"),
    "kl_div target": lambda L, FL, i, f: FL.kl_div(f, i, reduction="sum"),
    "softmax": lambda L, FL, i, f: FL.softmax(i, 1),
    "log_softmax": lambda L, FL, i, f: FL.log_softmax(i, 1),
    "gelu": lambda L, FL, i, f: FL.gelu(i),
    "mish": lambda L, FL, i, f: FL.mish(i),
    "cross_entropy": lambda L, FL, i, f: FL.cross_entropy(i, L.tensor([0])),
    "nll_loss": lambda L, FL, i, f: FL.nll_loss(i, L.tensor([0])),
    "bce_with_logits": lambda L, FL, i, f: FL.binary_cross_entropy_with_logits(i, f),
    "multi_margin_loss": lambda L, FL, i, f: FL.multi_margin_loss(i, L.tensor([0])),
    "hinge_embedding_loss": lambda L, FL, i, f: FL.hinge_embedding_loss(i, f),
}


@pytest.mark.parametrize("case", sorted(FLOAT_ONLY))
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_integer_input_to_a_float_only_kernel_raises_torchs_class(case: str, dtype: str) -> None:
    """torch: NotImplementedError (kl_div, hinge: RuntimeError); ours: that class and still a TypeError."""
    i, f = np.array([[1, 0, 1]]).astype(dtype), np.array([[0.2, 0.3, 0.5]], np.float32)
    want = _raises(lambda: FLOAT_ONLY[case](torch, F, torch.tensor(i), torch.tensor(f)))
    assert want is not None and issubclass(want, RuntimeError)
    got = _raises(lambda: FLOAT_ONLY[case](tg, tF, tg.tensor(i), tg.tensor(f)))
    assert got is not None and issubclass(got, want) and issubclass(got, TypeError), (got, want)


# ----------------------------------------------------------------------- numbers that do not fit an integer dtype
@settings(max_examples=30, deadline=None)
@given(value=st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, 300, -129, 2.0**64, 1e19, 1.5]),
                       st.floats(-1e20, 1e20).filter(lambda v: v != 2.0**63)),
       dtype=st.sampled_from(["int64", "int32", "int8", "uint8"]), nested=st.booleans())
def test_tensor_of_a_number_that_does_not_fit_raises_like_torch(value: float, dtype: str, nested: bool) -> None:
    """torch.tensor([nan], dtype=torch.int64) and the like: torch's RuntimeError (ours: OverflowError only). (2.0**63
    is left out: torch gives int64's minimum for it, ours raises.)"""
    data = [value] if nested else value
    try:
        want = torch.tensor(data, dtype=getattr(torch, dtype)).numpy()
    except RuntimeError:
        for error in (RuntimeError, OverflowError):
            with pytest.raises(error, match="overflow"):
                tg.tensor(data, dtype=getattr(tg, dtype))
        return
    np.testing.assert_array_equal(tg.tensor(data, dtype=getattr(tg, dtype)).numpy(), want)


@pytest.mark.parametrize("call", [
    lambda L: L.zeros(2, dtype=L.int64).fill_(math.nan),
    lambda L: L.full((2,), math.inf, dtype=L.int32),
    lambda L: (F if L is torch else tF).pad(L.tensor([1, 2]), (1, 1), value=math.nan),
    lambda L: L.tensor([1, 2]).__setitem__(0, math.nan),
    lambda L: L.tensor([1.5, math.nan], dtype=L.int64),
], ids=["fill_", "full", "pad", "setitem", "tensor-mixed"])
def test_fill_values_that_do_not_fit_raise_runtime_error(call: Callable[[Any], Any]) -> None:
    with pytest.raises(RuntimeError):
        call(torch)
    for error in (RuntimeError, OverflowError):
        with pytest.raises(error):
            call(tg)
