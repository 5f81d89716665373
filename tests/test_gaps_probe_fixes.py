"""Known gaps closed by the gaps probe, each checked against torch: writes into an ``expand`` that torch allows
(fill_, zero_, masked_fill_, index_fill_, index_put_, tril_ / triu_, fill_diagonal_, writes through views of an
expand without repeated elements) and the ones it refuses; ``binary_cross_entropy``'s RuntimeError."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="the gaps probe's fixes are checked against torch")

# each case writes into ``e``, the (3, 4) expand of a (3, 1) column, through the library ``m``
EXPAND_WRITES: dict[str, Callable[[Any, Any], Any]] = {
    "fill_": lambda m, e: e.fill_(5.0),
    "fill_bool": lambda m, e: e.fill_(True),
    "zero_": lambda m, e: e.zero_(),
    "masked_fill_all": lambda m, e: e.masked_fill_(m.ones(3, 4, dtype=m.bool), 2.0),
    "masked_fill_part": lambda m, e: e.masked_fill_(m.tensor([[True, False, False, False]] * 3), 2.0),
    "masked_fill_rows": lambda m, e: e.masked_fill_(m.tensor([[False] * 4, [False, True, False, False],
                                                              [False] * 4]), m.tensor(-1.0)),
    "masked_fill_none": lambda m, e: e.masked_fill_(m.zeros(3, 4, dtype=m.bool), 2.0),
    "masked_fill_0d": lambda m, e: e.masked_fill_(m.tensor(True), 2.0),
    "index_fill_cols": lambda m, e: e.index_fill_(1, m.tensor([0]), 9.0),
    "index_fill_row": lambda m, e: e.index_fill_(0, m.tensor([2]), 9.0),
    "index_put_": lambda m, e: e.index_put_((m.tensor([0, 1]), m.tensor([0, 1])), m.tensor([7.0, 8.0])),
    "setitem_advanced": lambda m, e: e.__setitem__(m.tensor([0, 2]), 5.0),
    "setitem_mask": lambda m, e: e.__setitem__(m.tensor([[True, False, False, False]] * 3), 5.0),
    "setitem_element": lambda m, e: e.__setitem__((1, 1), 5.0),
    "setitem_element_tensor": lambda m, e: e.__setitem__((2, 3), m.tensor(4.0)),
    "setitem_column": lambda m, e: e.__setitem__((slice(None), 0), 3.0),
    "tril_": lambda m, e: e.tril_(),
    "tril_-1": lambda m, e: e.tril_(-1),
    "triu_1": lambda m, e: e.triu_(1),
    "fill_diagonal_": lambda m, e: e.fill_diagonal_(0.0),
    "row_view_zero_": lambda m, e: e[1].zero_(),
    "column_view_add_": lambda m, e: e[:, 2].add_(10),
    "diagonal_view_mul_": lambda m, e: e.diagonal().mul_(10),
    "transposed_fill_": lambda m, e: e.t().fill_(1.0),
    "unsqueezed_fill_": lambda m, e: e.unsqueeze(0).fill_(4.0),
    "data_fill_": lambda m, e: e.data.fill_(6.0),
    # refused by torch: a write that could give aliases different values
    "add_": lambda m, e: e.add_(1),
    "mul_": lambda m, e: e.mul_(2),
    "clamp_": lambda m, e: e.clamp_(0, 1),
    "copy_": lambda m, e: e.copy_(m.ones(3, 4)),
    "copy_broadcast": lambda m, e: e.copy_(m.tensor(7.0)),
    "fill_tensor": lambda m, e: e.fill_(m.tensor(4.0)),
    "setitem_all": lambda m, e: e.__setitem__(slice(None), 3.0),
    "setitem_row": lambda m, e: e.__setitem__(0, 3.0),
    "setitem_ellipsis": lambda m, e: e.__setitem__(Ellipsis, 3.0),
    "uniform_": lambda m, e: e.uniform_(),
    "scatter_": lambda m, e: e.scatter_(1, m.zeros(3, 1, dtype=m.long), 2.0),
    "masked_scatter_": lambda m, e: e.masked_scatter_(m.ones(3, 4, dtype=m.bool), m.ones(12)),
    "row_view_add_": lambda m, e: e[0].add_(1),
}


def _expand_write(m: Any, write: Callable[[Any, Any], Any], dtype: Any) -> Any:
    """The column's values after ``write`` into its expand, or the exception class raised."""
    base = m.tensor([[1.0], [-2.0], [3.0]], dtype=dtype)
    e = base.expand(3, 4)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (torch's deprecation warnings for some of these writes)
            write(m, e)
    except RuntimeError:
        return RuntimeError
    return np.asarray(e.tolist()), np.asarray(base.tolist())


@pytest.mark.parametrize("name", list(EXPAND_WRITES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_writes_into_an_expand_as_torch(name: str, dtype: str) -> None:
    want = _expand_write(torch, EXPAND_WRITES[name], getattr(torch, dtype))
    got = _expand_write(tg, EXPAND_WRITES[name], getattr(tg, dtype))
    if want is RuntimeError or got is RuntimeError:
        assert got is want, (name, want, got)
        return
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


# writes that do not go through an in-place op's checks: torch refuses them into an expand (ours: numpy's read-only
# ValueError, kept by leaving broadcasts read-only outside the in-place writes allowed above)
DIRECT_WRITES: dict[str, Callable[[Any, Any], Any]] = {
    "adam_step": lambda m, e: m.optim.Adam([e], lr=0.1).step(),
    "sgd_step": lambda m, e: m.optim.SGD([e], lr=0.1, momentum=0.9).step(),
    "init_normal_": lambda m, e: m.nn.init.normal_(e),
}


@pytest.mark.parametrize("name", list(DIRECT_WRITES))
def test_direct_writes_into_an_expand_are_refused_as_torch(name: str) -> None:
    for m in (torch, tg):
        base = m.zeros(3)
        e = m.nn.Parameter(base.expand(2, 3))
        e.grad = m.ones(2, 3)
        with pytest.raises((RuntimeError, ValueError)):
            DIRECT_WRITES[name](m, e)
        assert base.tolist() == [0.0, 0.0, 0.0], (m.__name__, name)


def test_init_constant_fills_an_expand_as_torch() -> None:
    """nn.init.constant_ is torch's fill_ under no_grad, which an expand takes."""
    for m in (torch, tg):
        base = m.zeros(3)
        m.nn.init.constant_(m.nn.Parameter(base.expand(2, 3)), 2.0)
        assert base.tolist() == [2.0, 2.0, 2.0], m.__name__


def test_fill_of_an_expand_writes_plus_zero_over_minus_zero() -> None:
    """The aliased write compares bits, so +0.0 written over -0.0 lands (a value compare would skip it)."""
    for m in (torch, tg):
        base = m.tensor([[-0.0], [1.0]])
        base.expand(2, 3).zero_()
        assert not np.signbit(np.asarray(base.tolist())).any()


def test_int_and_bool_expands_take_fills() -> None:
    for dtype in ("int64", "int32", "bool"):
        for write in (lambda m, e: e.fill_(1), lambda m, e: e.masked_fill_(m.tensor([[False, True]] * 2), 0)):
            results = []
            for m in (torch, tg):
                base = m.tensor([[0], [1]]).to(getattr(m, dtype))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    write(m, base.expand(2, 2))
                results.append(base.tolist())
            assert results[0] == results[1], (dtype, results)


# writes into an expand of a tensor in a graph: torch refuses the ones repeating elements, differentiates the others
GRAPH_WRITES: list[Callable[[Any, Any], Any]] = [
    lambda m, e: e.fill_(5.0),
    lambda m, e: e.zero_(),
    lambda m, e: e.masked_fill_(m.tensor([[True, False, False, False]] * 3), 2.0),
    lambda m, e: e.index_fill_(0, m.tensor([0]), 9.0),
    lambda m, e: e[0].fill_(7.0),
    lambda m, e: e[:, 0].mul_(2.0),
    lambda m, e: e[:, 1].add_(e[:, 1]),
    lambda m, e: e.diagonal().mul_(m.tensor([1.0, 2.0, 3.0])),
    lambda m, e: e.__setitem__((1, 2), 5.0),
    lambda m, e: e.t()[2].mul_(3.0),
    lambda m, e: e[1:, 0].mul_(m.tensor([4.0, 5.0])),
]


def _graph_write(m: Any, write: Callable[[Any, Any], Any]) -> Any:
    """The values after the write, then the leaf's gradient (or the class of what backward raised: torch writes an
    expand repeating elements and refuses the backward through that write)."""
    x = m.tensor([[1.0], [2.0], [3.0]], dtype=m.float64, requires_grad=True)
    y = x * 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write(m, y.expand(3, 4))
    values = y.tolist()
    try:
        (y * m.tensor([[1.0], [10.0], [100.0]], dtype=m.float64)).sum().backward()
    except RuntimeError:
        return values, RuntimeError
    return values, x.grad.tolist()


@pytest.mark.parametrize("case", range(len(GRAPH_WRITES)))
def test_expand_writes_in_a_graph_as_torch(case: int) -> None:
    assert _graph_write(tg, GRAPH_WRITES[case]) == _graph_write(torch, GRAPH_WRITES[case])


def test_expand_of_a_leaf_that_requires_grad_refuses() -> None:
    for m in (torch, tg):
        w = m.ones(3, 1, requires_grad=True)
        with pytest.raises(RuntimeError):
            w.expand(3, 4).fill_(1.0)


@pytest.mark.parametrize("probs, target", [([1.5], [1.0]), ([-0.5], [1.0]), ([float("nan")], [1.0]),
                                           ([0.5], [1.5]), ([0.5], [-0.1]), ([0.5], [float("nan")])])
def test_binary_cross_entropy_out_of_range_is_a_runtime_error(probs: list[float], target: list[float]) -> None:
    with pytest.raises(RuntimeError):
        torch.nn.functional.binary_cross_entropy(torch.tensor(probs), torch.tensor(target))
    with pytest.raises(RuntimeError) as info:
        tg.nn.functional.binary_cross_entropy(tg.tensor(probs), tg.tensor(target))
    assert isinstance(info.value, ValueError)  # (what it raised before, still caught by old callers)


def _prod_second_derivatives(m: Any, case: dict[str, Any]) -> Any:
    """scatter_reduce(prod)'s gradients (create_graph) and the gradients of a weighted sum of them, or "raise"."""
    a = m.tensor(case["a"], dtype=m.float64, requires_grad=True)
    s = m.tensor(case["src"], dtype=m.float64, requires_grad=True)
    out = a.scatter_reduce(case["dim"], m.tensor(case["index"]), s, "prod", include_self=case["include_self"])
    ga, gs = m.autograd.grad((out * m.tensor(case["w"], dtype=m.float64)).sum(), (a, s), create_graph=True)
    total = (ga * m.tensor(case["wa"], dtype=m.float64)).sum() + (gs * m.tensor(case["ws"], dtype=m.float64)).sum()
    first = [np.asarray(x.detach().tolist()) for x in (ga, gs)]
    try:
        second = m.autograd.grad(total, (a, s), allow_unused=True)
    except RuntimeError:
        return [*first, "raise"]
    return first + [None if x is None else np.asarray(x.detach().tolist()) for x in second]


def _prod_cases(count: int) -> list[dict[str, Any]]:
    """Seeded scatter_reduce(prod) cases: zeros in a and src (single and several per place), both include_self."""
    rng, cases = np.random.default_rng(7), []
    for _ in range(count):
        ndim = int(rng.integers(1, 3))
        shape = tuple(int(n) for n in rng.integers(1, 4, ndim))
        dim = int(rng.integers(0, ndim))
        ishape = list(shape)
        ishape[dim] = int(rng.integers(1, 5))
        cases.append({"a": rng.choice([0.0, 0.5, -1.5, 2.0, 3.0], shape).tolist(),
                      "src": rng.choice([0.0, 0.5, -2.0, 1.5, 3.0], ishape).tolist(),
                      "index": rng.integers(0, shape[dim], ishape).tolist(), "dim": dim,
                      "include_self": bool(rng.integers(0, 2)), "w": rng.normal(size=shape).tolist(),
                      "wa": rng.normal(size=shape).tolist(), "ws": rng.normal(size=ishape).tolist()})
    return cases


def test_scatter_reduce_prod_double_backward_matches_torch() -> None:
    raised = 0
    for case in _prod_cases(120):
        want, got = _prod_second_derivatives(torch, case), _prod_second_derivatives(tg, case)
        for w, g in zip(want[:2], got[:2], strict=True):  # the first derivatives
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=str(case))
        if isinstance(want[-1], str) or isinstance(got[-1], str):  # (several zeros of src in one place: torch
            assert isinstance(want[-1], str) and isinstance(got[-1], str), case  # refuses the second pass)
            raised += 1
            continue
        for w, g in zip(want[2:], got[2:], strict=True):
            if w is None or g is None:  # (an unused input: None on one side, zeros on the other)
                assert not (w if g is None else g).any(), case
            else:
                np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=str(case))
    assert 0 < raised < 60  # both kinds of case were drawn


@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_prod_gradgradcheck_with_a_larger_src(include_self: bool) -> None:
    """src larger than index (only its indexed part is reduced; torch's own backward refuses this shape), and the
    in-place form: the second derivatives agree with finite differences."""
    a = tg.tensor([[1.5, 0.0, 2.0], [0.5, 3.0, -1.0]], dtype=tg.float64, requires_grad=True)
    s = tg.tensor([[2.0, 0.0, 1.5, 7.0], [0.5, -2.0, 3.0, 9.0]], dtype=tg.float64, requires_grad=True)
    index = tg.tensor([[0, 2, 0], [1, 1, 2]])
    assert tg.autograd.gradgradcheck(lambda a, s: a.scatter_reduce(1, index, s, "prod", include_self=include_self),
                                     (a, s))
    assert tg.autograd.gradgradcheck(
        lambda a, s: a.clone().scatter_reduce_(1, index, s, "prod", include_self=include_self), (a, s))


F_TORCH, F_TG = torch.nn.functional, tg.nn.functional
MASKED_GRADIENTS: dict[str, Callable[[Any, Any, Any], Any]] = {  # (library, its functional, x)
    "relu": lambda m, f, x: m.relu(x),
    "relu_method_inplace": lambda m, f, x: (x * 1).relu_(),
    "relu6": lambda m, f, x: f.relu6(x),
    "clamp": lambda m, f, x: x.clamp(-1, 1),
    "clamp_min": lambda m, f, x: x.clamp(min=0),
    "clamp_max_tensor": lambda m, f, x: x.clamp(max=m.zeros_like(x)),
    "hardtanh": lambda m, f, x: f.hardtanh(x),
    "maximum": lambda m, f, x: m.maximum(x, m.zeros_like(x)),
    "minimum": lambda m, f, x: m.minimum(x, m.zeros_like(x)),
    "hinge": lambda m, f, x: (1 - x).clamp(min=0),
    "margin_ranking": lambda m, f, x: f.margin_ranking_loss(x, m.zeros_like(x), m.ones_like(x), reduction="none"),
    "where": lambda m, f, x: m.where(x > 0, x, 0.0),
    "masked_fill": lambda m, f, x: x.masked_fill(x < 0, 0.0),
    "amax_ties": lambda m, f, x: x.amax(0, keepdim=True).expand(x.shape),
    "max_all": lambda m, f, x: x.max(),
    "min_all": lambda m, f, x: x.min(),
    "median_all": lambda m, f, x: x.median(),
}


@pytest.mark.parametrize("name", list(MASKED_GRADIENTS))
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_masked_gradients_have_torch_zero_signs(name: str, dtype: str) -> None:
    """Where torch's gradient is a where / masked_fill (relu, clamp, maximum) its zeros are +0.0, even under a
    negative or -0.0 incoming gradient; where it multiplies by a mask (amax's ties) -0.0 stays: compared bit for
    bit, with nan and inf incoming gradients too."""
    rng = np.random.default_rng(3)
    for trial in range(8):
        x = rng.choice([-2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 3.0], 12)
        g = rng.choice([-1.0, -0.0, 0.0, 1.0, 2.0] + [float("inf"), float("nan")] * (trial % 2), 12)
        results = []
        for m, f in ((torch, F_TORCH), (tg, F_TG)):
            xt = m.tensor(x, dtype=getattr(m, dtype), requires_grad=True)
            y = MASKED_GRADIENTS[name](m, f, xt)
            m.autograd.backward(y, m.tensor(g[:y.numel()], dtype=getattr(m, dtype)).reshape(y.shape))
            results.append(np.asarray(xt.grad.tolist()))
        want, got = results
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want), err_msg=f"{name} x={x} g={g}")
        np.testing.assert_array_equal(got, want)
