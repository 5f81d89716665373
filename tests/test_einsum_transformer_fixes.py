"""What the einsum Transformer program (``tests/torch_style/einsum_transformer.py``) met, against torch 2.13.

- A summed letter that one operand holds with size n and every other holder broadcasts (size 1), as in
  ``einsum("ij,ij->i", col, a)`` with col (3, 1): that operand's gradient came back in the broadcast shape (3, 1)
  instead of (3, 3), silently; that letter is now summed within its operand first, as torch does (below).
- One operand with a summed letter (``"i->"``, ``"ii"``, ``"ij->i"``) is torch's ``sum``: bool and integer operands
  give int64 (ours kept int8, which wrapped: 3 x 100 gave 44, and bool gave True for a count) and float32 sums are
  accumulated as ``sum`` does (ours summed 1e5 x 0.1 to 9999.96 where torch gives 10000.001).
- Several bool operands with a summed letter, and several integer operands (not int64) with a summed letter that
  only one of them holds (other than size 1), now raise TypeError: torch refuses the first (its bmm has no bool
  version) and sums the second in int64 first, then mixes int64 with the operands' dtype (an int64 result or an
  error, by its contraction order); ours wrapped in int8 silently.
- torch's sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` raised TypeError; an output letter repeated or held
  by no input is refused with our own message (was numpy's, naming a rewritten equation).
- The gradient of an operand with a repeated letter (``"ii->i"``, ``"ii,ij->j"``) was g times an identity matrix:
  NaN off the diagonal where g is inf or NaN; torch (and now ours) leaves zeros there.
- Several operands are contracted in torch's order (a letter only one operand holds summed within it first, then
  left to right), so inf, NaN and overflow meet as there: ``"ij,k,kl->l"`` gave NaN where torch gives inf. Left:
  BLAS kernels fuse multiply-adds differently (``fma(1e30, -1e30, inf)`` is inf, the unfused sum NaN), so an
  overflowing product beside an inf can still differ, and so can the gradients of three or more operands (not
  contracted in torch's backward order); the hypothesis tests keep overflow out for that reason.
- numpy's RuntimeWarnings (overflow, inf * 0) leaked from einsum; torch does not warn (this module turns them into
  errors).

Mutations run (each fails a test here, restored after):
- the single-operand ``sum`` path removed -> test_one_operand_sums_as_torch_sum (dtypes) and ..._float_sums_... (values)
- ``_refuse_integer_sums`` not called -> test_several_integer_operands_match_or_raise
- the sublist branch removed -> test_sublist_form_matches_the_equation
- the output-subscript check removed -> test_bad_output_subscripts_raise
- the diagonal gradient's zeros made NaN where g has NaN -> test_gradient_of_a_diagonal_is_zero_off_it
- ``_in_torch_order`` skipped -> test_a_letter_one_operand_holds_is_summed_first_as_torch and
  test_gradient_of_a_letter_the_others_broadcast (the (3, 1) gradient)
- the forward's ``ignore_fp_errors`` removed -> test_a_letter_one_operand_holds_is_summed_first_as_torch
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # torch's einsum never warns

VALUES = st.sampled_from([0.0, -0.0, 1.5, -2.25, 1e15, -1e-30, np.nan, np.inf, -np.inf])  # (no overflow: BLAS's FMA)
FINITE = st.sampled_from([0.0, -0.0, 1.5, -2.25, 1e5, -1e-30])
BROADCASTS = [  # equation, the operands' shapes: a summed letter that one holder broadcasts
    ("ij,ij->i", (3, 1), (3, 4)), ("ij,ij->i", (3, 4), (3, 1)), ("ij,ij->j", (1, 4), (3, 4)),
    ("ij,ij->", (3, 1), (3, 4)), ("bij,bjk->bik", (2, 2, 1), (2, 3, 4)), ("bij,bjk->bik", (2, 2, 3), (2, 1, 4)),
    ("ij,jk->ik", (2, 1), (3, 4)), ("...j,...j", (2, 1), (4,)), ("ij,kj->ik", (2, 1), (0, 3)),
    ("ij,jk,kl->il", (2, 3), (1, 4), (4, 2)), ("ij,jk,kl->il", (2, 3), (3, 4), (4, 2)),
    ("ij,k,kl->l", (2, 3), (2,), (2, 2)), ("ii,ij->j", (2, 2), (2, 3)), ("bi,bj->bij", (2, 1), (2, 3)),
]


def both(equation: str, arrays: list[np.ndarray], grad: bool = True) -> list[tuple]:
    """(output, [operand gradients]) from torch and from ours, the output weighted by ones before backward."""
    results = []
    for lib in (torch, tg):
        ts = [lib.tensor(a, requires_grad=grad) for a in arrays]
        out = lib.einsum(equation, *ts)
        if grad:
            out.backward(lib.ones_like(out))
        results.append((out, [t.grad for t in ts] if grad else []))
    return results


def assert_same(theirs: tuple, ours: tuple, scales: tuple | None = None) -> None:
    """Output and gradients within 1e-6 of torch's; with ``scales`` (torch's output and gradients for the operands'
    magnitudes), also within 1e-6 of those: the size of the products each element sums, whose rounding a
    cancellation leaves (three operands of 1e5 and 1.5 summed to -512 here, 0 in torch, from terms of 1e15)."""
    (out_t, grads_t), (out_o, grads_o) = theirs, ours
    assert str(out_o.dtype) == str(out_t.dtype).replace("torch.", "")
    assert tuple(out_o.shape) == tuple(out_t.shape)
    pairs = [(out_o.detach().numpy(), out_t.detach().numpy())]
    for g_o, g_t in zip(grads_o, grads_t, strict=True):
        assert tuple(g_o.shape) == tuple(g_t.shape)
        pairs.append((g_o.numpy(), g_t.numpy()))
    if scales is None:
        for o, t in pairs:
            np.testing.assert_allclose(o, t, rtol=1e-6, atol=1e-38)  # (underflow by order)
        return
    for (o, t), size in zip(pairs, [scales[0].detach().numpy(), *(g.numpy() for g in scales[1])], strict=True):
        assert np.all(np.abs(o.astype(np.float64) - t) <= 1e-6 * (np.abs(t) + size) + 1e-38), (o, t, size)


@settings(deadline=None, max_examples=40)
@given(st.sampled_from(BROADCASTS), st.data())
def test_gradient_of_a_letter_the_others_broadcast(case: tuple, data: st.DataObject) -> None:
    equation, *shapes = case
    values = VALUES if len(shapes) == 2 else FINITE  # (three: the gradients' inf / NaN differ, see the docstring)
    arrays = [np.array(data.draw(st.lists(values, min_size=int(np.prod(s)), max_size=int(np.prod(s)))),
                       dtype=np.float32).reshape(s) for s in shapes]
    with np.errstate(all="ignore"):
        scales = both(equation, [np.abs(a).astype(np.float64) for a in arrays])[0] if len(shapes) == 3 else None
        assert_same(*both(equation, arrays), scales)


@settings(deadline=None, max_examples=40)
@given(st.sampled_from(["i->", "ii", "ij->i", "ij->", "iij->j", "ii->i", "ij->ji", "...->"]),
       st.sampled_from(["int8", "uint8", "int32", "int64", "bool"]), st.integers(0, 3), st.integers(-128, 127))
def test_one_operand_sums_as_torch_sum(equation: str, dtype: str, n: int, value: int) -> None:
    shape = {"i->": (n,), "iij->j": (n, n, 2), "...->": ()}.get(equation, (n, n))
    array = np.full(shape, value % 256 if dtype == "uint8" else value).astype(dtype)
    theirs, ours = both(equation, [array], grad=False)
    assert_same(theirs, ours)


@pytest.mark.parametrize(("equation", "operands"), [
    ("ij,ij->i", [[[1e30]], [[1e30, -1e30, 0.0]]]), ("ij,kj->", [[[1e30, 1e30], [-1e30, -1e30]], [[1e30, 1e30]]]),
    ("ij,k,kl->l", [[[-1e30, 1.5], [1e30, 1.5]], [1e30, -1e30], [[1e30], [0.0]]]),
])
def test_a_letter_one_operand_holds_is_summed_first_as_torch(equation: str, operands: list) -> None:
    """torch sums it within that operand before any product (``"ij,k,kl->l"``: a sums to 3, then 3e30 * 1e30 +
    -3e30 * 0 = inf; a product first gives inf - inf = NaN), and contracts several operands left to right."""
    theirs, ours = both(equation, [np.array(a, np.float32) for a in operands])
    assert_same(theirs, ours)
    assert not np.isnan(ours[0].detach().numpy()).any()


def test_gradient_of_a_diagonal_is_zero_off_it() -> None:
    """torch lays the gradient on the diagonal and leaves zeros elsewhere; ours was g times an identity matrix,
    which gives NaN off the diagonal where g is inf or NaN."""
    square = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    for lib in (torch, tg):
        x = lib.tensor(square, requires_grad=True)
        (lib.einsum("ii->i", x) * lib.tensor([np.inf, np.nan])).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [[np.inf, 0.0], [0.0, np.nan]])
    assert_same(*both("ii,ij->j", [square, np.array([[np.inf, 1.0], [0.0, np.nan]], np.float32)]))


def test_one_operand_float_sums_as_torch_sum() -> None:
    big = np.full(100000, 0.1, np.float32)
    assert_same(*both("i->", [big]))
    assert_same(*both("ij->i", [big.reshape(10, 10000)]))
    half = np.full((64, 64), 0.1, np.float16)
    assert_same(*both("ij->", [half], grad=False))
    for special in (np.nan, np.inf, -np.inf):
        assert_same(*both("ii", [np.array([[special, 1.0], [2.0, 3.0]], np.float32)]))


@pytest.mark.parametrize(("equation", "shapes"), [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("i,i,i->", [(3,), (3,), (3,)]), ("ij,jk->ik", [(3, 1), (1, 3)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]), ("ij,j->j", [(3, 3), (3,)]), ("ij,kj->", [(3, 3), (3, 3)]),
    ("ij,ij->i", [(3, 1), (3, 3)]), ("ij,j->", [(3, 3), (3,)]), ("ij,ij->", [(1, 1), (1, 1)]),
])
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64", "bool"])
def test_several_integer_operands_match_or_raise(equation: str, shapes: list, dtype: str) -> None:
    """Where torch gives a result of the operands' dtype, ours is the same; where it raises or gives int64 (from a
    sum it does first), ours raises TypeError (int64 operands: always the same result)."""
    arrays = [np.full(s, 100 if dtype != "bool" else 1).astype(dtype) for s in shapes]
    try:
        same = torch.einsum(equation, *[torch.tensor(a) for a in arrays]).dtype == getattr(torch, dtype)
    except (RuntimeError, NotImplementedError):
        same = False
    if same:
        assert_same(*both(equation, arrays, grad=False))  # wrapping in the operands' dtype, as torch's bmm
    else:
        assert dtype != "int64"
        with pytest.raises(TypeError, match="einsum"):
            tg.einsum(equation, *[tg.tensor(a) for a in arrays])


def test_bool_product_without_a_sum_stays_bool() -> None:
    a, b = np.array([True, False, True]), np.array([True, True, False])
    assert_same(*both("i,i->i", [a, b], grad=False))
    assert_same(*both("i,j->ij", [a, b], grad=False))


def test_sublist_form_matches_the_equation() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    for args in (([0, 1], [1, 2], [0, 2]), ([0, 1], [1, 2]), ([Ellipsis, 27], [27, 30], [Ellipsis, 30]),
                 ([30, 1], [1, 3])):
        got, want = (lib.einsum(lib.tensor(a), args[0], lib.tensor(b), *args[1:]) for lib in (tg, torch))
        assert tuple(got.shape) == tuple(want.shape)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 52\)"):
        tg.einsum(tg.tensor(a), [0, 60])


@pytest.mark.parametrize("equation", ["ij->jj", "ij->k", "i->ii", "ij,jk->iz"])
def test_bad_output_subscripts_raise(equation: str) -> None:
    operands = [np.ones((2, 2), np.float32)] * equation.split("->")[0].count(",") + [np.ones((2, 2), np.float32)]
    if equation.startswith("i->"):
        operands = [np.ones(2, np.float32)]
    with pytest.raises(RuntimeError):
        torch.einsum(equation, *[torch.tensor(a) for a in operands])
    with pytest.raises(ValueError, match=f"output subscripts of {equation!r}"):
        tg.einsum(equation, *[tg.tensor(a) for a in operands])
