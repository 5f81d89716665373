"""Numerics against PyTorch float64: the softmax family and the logistic losses at any logit a float can hold,
inf/nan rows as torch gives them, and the smaller semantic differences torch users would hit."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam.ops import reduce

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def ulp(x: np.ndarray, dtype: type) -> np.ndarray:
    return np.spacing(np.abs(np.asarray(x, dtype=dtype)))


def assert_ulps(ours: np.ndarray, ref64: np.ndarray, dtype: type, ulps: float = 4,
                extra: np.ndarray | float = 0.0) -> None:
    """``ours`` within ``ulps`` units in the last place of torch's float64 answer (rounded to ``dtype``), plus an
    ``extra`` absolute error the function's own conditioning allows; nan and inf exactly where torch has them."""
    ref = np.asarray(ref64, dtype=np.float64).astype(dtype)
    assert ours.dtype == dtype and ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(ours[~finite], ref[~finite])
    err = np.abs(ours.astype(np.float64) - ref.astype(np.float64))[finite]
    bound = (ulps * ulp(ref, dtype) + extra)[finite] if np.ndim(extra) else ulps * ulp(ref, dtype)[finite] + extra
    bound = np.nan_to_num(bound, nan=0.0)  # an allowance inf * 0 (a huge spread times a zero answer) allows nothing
    assert (err <= bound).all(), f"worst {np.max(err / bound)} of the bound; ours {ours}, torch {ref}"


def run_both(ours: Callable, theirs: Callable, x: np.ndarray, *rest: np.ndarray) -> tuple:
    """Output and input gradient (of sum(out * w), w fixed) in ours (x's dtype) and torch (float64)."""
    w = np.linspace(-1.0, 2.0, ours(tg.Tensor(x), *rest).size).astype(x.dtype)
    t = tg.Tensor(x, requires_grad=True)
    out = ours(t, *rest)
    (out * tg.Tensor(w.reshape(out.shape))).sum().backward()
    tt = torch.tensor(x.astype(np.float64), requires_grad=True)
    ref = theirs(tt, *[torch.tensor(r) for r in rest])
    (ref * torch.tensor(w.astype(np.float64).reshape(ref.shape))).sum().backward()
    return out.numpy(), t.grad.numpy(), ref.detach().numpy(), tt.grad.numpy(), w


# ---------------------------------------------------------------- issue 11, item 2: the softmax family
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("v", [1e4, 1e8, 1e17, 3e38, -3e38])
def test_equal_large_logits_are_exact(dtype: type, v: float) -> None:
    # before: float32 cross-entropy at [1e4]*3 was 1.0986328, at [1e8]*3 it was 0.0 and softmax [1, 1, 1]
    x = np.full((1, 3), v, dtype=dtype)
    third = np.full((1, 3), 1 / 3)
    t = tg.Tensor(x, requires_grad=True)
    loss = F.cross_entropy(t, np.array([0]))
    loss.backward()
    assert_ulps(loss.numpy(), np.log(3.0), dtype, ulps=1)
    assert_ulps(t.grad.numpy(), third - [[1, 0, 0]], dtype, ulps=1)
    assert_ulps(tg.Tensor(x).softmax().numpy(), third, dtype, ulps=1)
    assert_ulps(tg.Tensor(x).log_softmax().numpy(), -np.log(third * 3 * 3), dtype, ulps=1)
    t = tg.Tensor(x, requires_grad=True)
    t.logsumexp().backward()
    assert_ulps(t.grad.numpy(), third, dtype, ulps=1)  # not exp(x - lse), which is exp(0) once lse rounds to x


def logits(dtype: type) -> st.SearchStrategy[np.ndarray]:
    big = float(np.float32(3e38)) if dtype == np.float32 else 1e308
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=5),
                      elements=st.floats(-big, big, width=32 if dtype == np.float32 else 64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_softmax_family_over_the_whole_float_range(dtype: type, data: st.DataObject) -> None:
    x = data.draw(logits(dtype))
    eps, n = np.finfo(dtype).eps, x.shape[1]
    d = np.abs(x.astype(np.float64) - x.max(axis=1, keepdims=True))  # |x - max|: exp's condition number
    d = np.minimum(d, np.finfo(np.float64).max)  # finite (-1e308 - 8e307 overflows), so d * 0 is 0, not nan
    tiny = np.finfo(dtype).smallest_subnormal * 4
    out, g, ref, tg_, w = run_both(lambda t: t.log_softmax(1), lambda t: torch.log_softmax(t, 1), x)
    assert_ulps(out, ref, dtype, extra=n * eps)  # log(s) has an absolute error of about n eps
    assert_ulps(g, tg_, dtype, extra=n * eps * (1 + np.abs(w).sum()))
    out, g, ref, tg_, _ = run_both(lambda t: t.softmax(1), lambda t: torch.softmax(t, 1), x)
    assert_ulps(out, ref, dtype, extra=(4 + d) * eps * np.abs(ref) + tiny)
    assert_ulps(g, tg_, dtype, extra=(4 + d) * (n * eps * 4) * np.abs(ref) + tiny + n * eps * np.abs(tg_))
    out, g, ref, _, w = run_both(lambda t: t.logsumexp(1), lambda t: torch.logsumexp(t, 1), x)
    assert_ulps(out, ref, dtype, extra=n * eps)
    # torch's own float64 gradient exp(x - lse) is off by |lse| eps64 (1e-6 at lse = 1e10): use w * softmax
    g_ref = w[:, None] * torch.softmax(torch.tensor(x.astype(np.float64)), 1).numpy()
    assert_ulps(g, g_ref, dtype, extra=(4 + d) * eps * np.abs(g_ref) + tiny)
    targets = data.draw(hnp.arrays(np.int64, (x.shape[0],), elements=st.integers(0, n - 1)))
    out, g, ref, tg_, w = run_both(lambda t, y: F.cross_entropy(t, y, reduction="none"),
                                   lambda t, y: TF.cross_entropy(t, y, reduction="none"), x, targets)
    assert_ulps(out, ref, dtype, extra=n * eps)
    assert_ulps(g, tg_, dtype, extra=(4 + d) * eps * np.abs(tg_) + n * eps * np.abs(w).max() + tiny)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_logistic_losses_and_softplus_over_the_whole_float_range(dtype: type, data: st.DataObject) -> None:
    x = data.draw(logits(dtype))
    y = data.draw(hnp.arrays(dtype, x.shape, elements=st.sampled_from([0.0, 1.0])))
    # F.softplus against torch's (both with the linear cut-off above 20; the Tensor method, which torch has not, is
    # the exact log1p(exp(x)) the losses below use, and differs from torch's cut-off by up to 2e-9 between 20 and 37)
    out, g, ref, tg_, _ = run_both(F.softplus, TF.softplus, x)
    assert_ulps(out, ref, dtype)
    assert_ulps(g, tg_, dtype)
    out, g, ref, tg_, w = run_both(lambda t, yy: F.binary_cross_entropy_with_logits(t, yy, reduction="none"),
                                   lambda t, yy: TF.binary_cross_entropy_with_logits(t, yy, reduction="none"), x, y)
    # torch's own float64 formula adds and cancels terms of size |z| (at z = -2, y = 0 it is 14 ulps off the
    # correctly rounded log1p(exp(-2)), which ours returns), so the reference is trusted to eps * |z| only
    assert_ulps(out, ref, dtype, extra=2 * np.finfo(np.float64).eps * np.abs(x))
    assert_ulps(g, tg_, dtype, extra=np.finfo(dtype).eps * np.abs(w).max())  # sigmoid(z) - y cancels near 1, times w
    out, g, ref, tg_, _ = run_both(
        lambda t, yy: F.bernoulli_log_likelihood(t, yy),
        lambda t, yy: torch.distributions.Bernoulli(logits=t).log_prob(yy).sum(-1), x, y)
    # a sum of n terms, each of torch's trusted to eps * |z| as above
    assert_ulps(out, ref, dtype, extra=x.shape[1] * np.finfo(dtype).eps * np.abs(ref)
                + 2 * np.finfo(np.float64).eps * np.abs(x).sum(-1))
    assert_ulps(g, tg_, dtype, extra=np.finfo(dtype).eps)


@pytest.mark.parametrize("row", [[np.inf, 1.0], [-np.inf, -np.inf], [np.inf, np.inf], [-np.inf, 1.0],
                                 [np.inf, -np.inf], [np.nan, 1.0], [2.0, 3e38, np.inf]])
def test_inf_and_nan_rows_as_torch(row: list[float]) -> None:
    x = np.array([row])
    for ours, theirs in [(lambda t: t.log_softmax(1), lambda t: torch.log_softmax(t, 1)),
                         (lambda t: t.softmax(1), lambda t: torch.softmax(t, 1)),
                         (lambda t: t.logsumexp(1), lambda t: torch.logsumexp(t, 1)),
                         (lambda t: F.cross_entropy(t, np.array([0])),
                          lambda t: TF.cross_entropy(t, torch.tensor([0]))),
                         (lambda t: F.cross_entropy(t, np.array([1])),
                          lambda t: TF.cross_entropy(t, torch.tensor([1])))]:
        out, g, ref, tg_, _ = run_both(ours, theirs, x)
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_array_equal(g, tg_)


# ---------------------------------------------------------------- issue 11, item 3: smaller differences
def test_max_gradient_goes_to_the_nan_element() -> None:
    # before: [nan, nan, nan]
    x = tg.Tensor([1.0, np.nan, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 0])
    for op in ("max", "min"):  # over given axes torch (amax/amin) gives a nan gradient to a nan slice
        x0 = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 5.0, 5.0, 1.0]])
        x = tg.Tensor(x0, requires_grad=True)
        getattr(reduce, op)(x, 1, False).sum().backward()
        t = torch.tensor(x0, requires_grad=True)
        getattr(torch, "a" + op)(t, 1).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
        x = tg.Tensor(x0, requires_grad=True)
        getattr(reduce, op)(x, None, False).backward()
        t = torch.tensor(x0, requires_grad=True)
        getattr(t, op)().backward()
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("row", [[1.0, np.nan, 3.0, np.nan, 0.0, 2.0], [np.nan, 1.0, 1.0, 2.0, 2.0, np.nan],
                                 [-np.inf] * 6, [2.0, 2.0, -np.inf, np.nan, 2.0, 2.0]])
@pytest.mark.parametrize(("kernel", "stride", "padding"), [((1, 3), (1, 3), 0), ((1, 3), (1, 2), (0, 1)),
                                                           ((1, 2), 1, (0, 1)), ((1, 6), 1, 0)])
def test_max_pool2d_nan_and_inf_route_the_gradient_as_torch(row: list[float], kernel: tuple, stride: tuple,
                                                            padding: tuple) -> None:
    # before: a NaN window sent its gradient to the window's first element; an all -inf window with padding to the
    # padding (so it was lost)
    x0 = np.array(row)[None, None, None, :]
    out, g, ref, tg_, _ = run_both(lambda t: F.max_pool2d(t, kernel, stride, padding),
                                   lambda t: TF.max_pool2d(t, kernel, stride, padding), x0)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(g, tg_)


def test_pow_zero_exponent_and_exponent_gradient_as_torch() -> None:
    # before: d/da a**0 at a = 0 was nan; d/db a**b at a < 0 was 0 (torch: nan) and at a = 0, b < 0 was 0 (-inf)
    a0, b0 = np.array([0.0, -1.0, 0.0, 2.0, 0.0, -2.0]), np.array([0.0, 0.0, -1.0, -0.5, 2.0, 3.0])
    out, g, ref, tg_, _ = run_both(lambda t: t ** 0, lambda t: t ** 0, a0)
    np.testing.assert_array_equal(g, tg_)
    for x, ours, theirs in [(b0, lambda t: tg.Tensor(a0) ** t, lambda t: torch.tensor(a0) ** t),
                            (a0, lambda t: t ** tg.Tensor(b0), lambda t: t ** torch.tensor(b0))]:
        out, g, ref, tg_, _ = run_both(ours, theirs, x)
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_allclose(g, tg_, rtol=1e-15)


def test_mean_losses_of_an_empty_batch_are_nan() -> None:
    # before: 0.0
    assert np.isnan(F.cross_entropy(tg.zeros(0, 3), np.zeros(0, np.int64)).item())
    assert np.isnan(F.nll_loss(tg.zeros(0, 3), np.zeros(0, np.int64)).item())
    assert np.isnan(F.binary_cross_entropy_with_logits(tg.zeros(0), tg.zeros(0)).item())
    assert F.cross_entropy(tg.zeros(0, 3), np.zeros(0, np.int64), reduction="sum").item() == 0.0
    x = tg.Tensor(np.zeros((0, 3)), requires_grad=True)
    F.cross_entropy(x, np.zeros(0, np.int64)).backward()
    assert x.grad.shape == (0, 3)


def test_tensor_of_none_raises_type_error() -> None:
    with pytest.raises(TypeError, match="None"):  # before: a nan tensor
        tg.Tensor(None)


@pytest.mark.parametrize("op", ["sum", "mean", "logsumexp", "max", "min"])
@pytest.mark.parametrize("axis", [0, -1, (0,), None])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_accept_axis_0_and_minus_1_on_0d_tensors(op: str, axis: object, keepdims: bool) -> None:
    # before: numpy's AxisError / IndexError
    x = tg.Tensor(np.array(2.5), requires_grad=True)
    out = getattr(reduce, op)(x, axis, keepdims)
    t = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    tfn = {"max": torch.amax, "min": torch.amin}.get(op, getattr(torch, op))
    ref = tfn(t, dim=axis if axis is not None else (), keepdim=keepdims) if axis is not None or op == "logsumexp" \
        else tfn(t)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy())
    out.backward()
    ref.backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())
    with pytest.raises(ValueError, match="out of range"):
        getattr(reduce, op)(x, 1, keepdims)


def test_batched_matmul_broadcast_error_names_the_op_and_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3, 4\).*\(5, 4, 2\)"):  # before: numpy's message
        tg.ones(2, 3, 4) @ tg.ones(5, 4, 2)
    with pytest.raises(TypeError, match=r"matmul.*float32.*float64"):  # torch: same dtype required
        tg.ones(2, 2) @ tg.Tensor(np.ones((2, 2)))


DTYPES = [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64]
OPERANDS = [("tensor", d) for d in DTYPES] + [("0-d", d) for d in DTYPES] + [("scalar", t) for t in (True, 3, 2.5)]


def operand(kind: str, v: object, lib: object) -> object:
    if kind == "scalar":
        return v
    a = np.array([1, 0, 2] if kind == "tensor" else 3).astype(v)
    return torch.from_numpy(a) if lib is torch else tg.Tensor(a)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "eq"])
def test_type_promotion_table_matches_torch(op: str) -> None:
    # before: int64 + float32 gave float64 (torch float32), int32 / int32 float64, bool + 1 gave True (or'd)
    ours_fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
               "div": lambda a, b: a / b, "maximum": tg.maximum, "eq": lambda a, b: a == b}[op]
    torch_fn = {"maximum": torch.maximum}.get(op, ours_fn)
    checked = 0
    for ka, va in OPERANDS:
        for kb, vb in OPERANDS:
            if ka == kb == "scalar" or (op == "maximum" and "scalar" in (ka, kb)):
                continue  # not a tensor op / torch.maximum takes tensors only
            try:
                ref = torch_fn(operand(ka, va, torch), operand(kb, vb, torch))
            except (RuntimeError, TypeError):
                with pytest.raises((TypeError, ValueError, RuntimeError)):
                    ours_fn(operand(ka, va, tg), operand(kb, vb, tg))
                continue
            with np.errstate(all="ignore"):
                out = ours_fn(operand(ka, va, tg), operand(kb, vb, tg))
            assert out.dtype == np.dtype(str(ref.dtype).removeprefix("torch.").replace("bool", "bool_")), \
                f"{op}({ka} {va}, {kb} {vb}): ours {out.dtype}, torch {ref.dtype}"
            np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-3)  # torch divides by a scalar as a * (1/b)
            checked += 1
    assert checked > 300


def test_math_of_integer_tensors_is_float32_and_gradients_keep_their_dtype() -> None:
    i = tg.Tensor(np.array([1, 2], np.int8))
    for fn in ("exp", "log", "sqrt", "tanh", "sigmoid", "softplus"):
        assert getattr(i, fn)().dtype == np.float32  # numpy: float16 for int8, float64 for int64
    a = tg.Tensor(np.ones(2, np.float32), requires_grad=True)
    b = tg.Tensor(np.array(2.0), requires_grad=True)  # a float64 0-d tensor does not promote a float32 one
    out = a * b
    assert out.dtype == np.float32
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


# ---------------------------------------------------------------- what the fuzzer (test_fuzz_vs_torch.py) found
X = np.array([[np.nan, -np.inf, np.inf, 0.0, -0.0, 2.0, -3.0, 1e-300]])


@pytest.mark.parametrize(("name", "ours", "theirs"), [
    ("relu", lambda t: t.relu(), torch.relu),
    ("abs", lambda t: t.abs(), torch.abs),
    ("clip", lambda t: t.clip(-1.0, 1.0), lambda t: torch.clamp(t, -1.0, 1.0)),
    ("maximum", lambda t: tg.maximum(t, tg.Tensor(X[:, ::-1].copy())),
     lambda t: torch.maximum(t, torch.tensor(X[:, ::-1].copy()))),
    ("minimum", lambda t: tg.minimum(t, 0.0), lambda t: torch.minimum(t, torch.tensor(0.0, dtype=torch.float64))),
    ("div", lambda t: tg.Tensor(X) / t, lambda t: torch.tensor(X) / t),
    ("max", lambda t: t.max(), lambda t: t.max()),
    ("1/x then maximum", lambda t: tg.maximum(1 / t, 0.0), lambda t: torch.maximum(1 / t, torch.tensor(0.0).double())),
])
def test_nan_and_inf_values_and_gradients_as_torch(name: str, ours: Callable, theirs: Callable) -> None:
    # before: relu(-inf) was nan and relu's gradient at nan 0; abs's gradient at nan nan; maximum(nan, 1) was 1;
    # an inf gradient times a 0 mask made nan where torch masks it to 0
    with np.errstate(all="ignore"):
        out, g, ref, tg_, _ = run_both(ours, theirs, X.copy())
    np.testing.assert_array_equal(out, ref, err_msg=name)
    np.testing.assert_array_equal(g, tg_, err_msg=name)


def test_empty_and_indexing_corner_cases_as_torch() -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    index = (0, slice(None), np.array([1, 2]))  # ints apply before integer arrays in torch (numpy moves dims)
    out, g, ref, tg_, _ = run_both(lambda t: t[index], lambda t: t[0, :, torch.tensor([1, 2])], x)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(g, tg_)
    empty = np.zeros((0, 3))
    out, g, ref, tg_, _ = run_both(lambda t: reduce.max(t, 1, False), lambda t: torch.amax(t, 1), empty)
    assert out.shape == ref.shape == (0,)
    out, g, ref, tg_, _ = run_both(lambda t: t.flatten(0, 0), lambda t: t.flatten(0, 0), np.zeros((0, 0)))
    assert out.shape == ref.shape and g.shape == tg_.shape
    w = np.ones((2, 3))
    out, g, ref, tg_, _ = run_both(lambda t: F.linear(t, tg.Tensor(w)), lambda t: TF.linear(t, torch.tensor(w)),
                                   np.zeros((0, 3)))
    assert out.shape == ref.shape == (0, 2)


@pytest.mark.parametrize(("stride", "padding"), [(1, 1), (2, 1), (1, 2)])
def test_conv2d_input_gradient_with_a_nan_weight_as_torch(stride: int, padding: int) -> None:
    # before: the zeros of the padded/dilated gradient times the nan weight made every dx nan
    w = np.array([[[[2.0, -2.0, 0.0], [0.0, -2.0, 1.0], [1.0, np.nan, 0.5]]]])
    x = np.array([[[[2.0, 0.0, 1.0], [1.0, -1.0, 3.0]]]])
    out, g, ref, tg_, _ = run_both(lambda t: F.conv2d(t, tg.Tensor(w), stride=stride, padding=padding),
                                   lambda t: TF.conv2d(t, torch.tensor(w), stride=stride, padding=padding), x)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    np.testing.assert_allclose(g, tg_, rtol=1e-12)


def test_bce_with_logits_at_infinite_logits_as_torch() -> None:
    # before: inf logit with target 0 gave nan (torch: inf), -inf with target 1 inf (torch: nan)
    z = np.array([np.inf, -np.inf, np.inf, -np.inf, np.nan, 3e38, -3e38])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.5, 0.5])
    out, g, ref, tg_, _ = run_both(lambda t, yy: F.binary_cross_entropy_with_logits(t, yy, reduction="none"),
                                   lambda t, yy: TF.binary_cross_entropy_with_logits(t, yy, reduction="none"), z, y)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(g, tg_)


def test_pow_exponent_gradient_under_an_inf_gradient_as_torch() -> None:
    # found by the fuzzer: torch multiplies g by the masked a^b log a, so an inf g at a = 0 gives nan, not 0
    b0 = np.array([1.3, 0.0, -1.0, 2.0])
    out, g, ref, tg_, _ = run_both(lambda t: (0.0 ** t).log(), lambda t: (0.0 ** t).log(), b0)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(g, tg_)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_backward_under_an_infinite_gradient_as_torch(dtype: type) -> None:
    """torch differentiates log_softmax then nll: p g - onehot g, so an inf g gives inf - inf = nan at the target
    (the fuzzer's FUZZ_SEED=15295); a finite g keeps the exact (p - onehot) g."""
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]], dtype=dtype)
    y = np.array([2, 0])
    ours = tg.Tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    for g in (np.array([np.inf, 2.0], dtype=dtype), np.array([1.0, -np.inf], dtype=dtype)):
        ours.grad, theirs.grad = None, None
        F.cross_entropy(ours, tg.Tensor(y), reduction="none").backward(g)
        TF.cross_entropy(theirs, torch.tensor(y), reduction="none").backward(torch.tensor(g))
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6)  # nan and inf where torch's


def test_pow_gradient_groups_as_torch_under_huge_values() -> None:
    """d/da a^b = g * (b a^(b-1)) as torch groups it: with g = 1e30, b = -1e300 and a^(b-1) = -0 the gradient is 0,
    where (g b) a^(b-1) would be inf * 0 = nan (the fuzzer's FUZZ_SEED=32342)."""
    a, b = np.array([-3.122, -2.037]), np.array([-1e300])
    ours, base = tg.Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (ours ** tg.Tensor(b)).backward(np.full(2, 1e30))
    (base ** torch.tensor(b)).backward(torch.full((2,), 1e30, dtype=torch.float64))
    np.testing.assert_array_equal(ours.grad.numpy(), base.grad.numpy())


@pytest.mark.parametrize("shape", [(0, 1, 0, 1), (2, 1, 0, 1), (0, 1, 3, 3), (2, 1, 3, 0)])
def test_conv2d_empty_spatial_dims_as_torch(shape: tuple[int, ...]) -> None:
    """torch convolves an empty batch even with an empty spatial dim (padding makes the output), and refuses an
    empty spatial dim otherwise (the fuzzer's FUZZ_SEED=37668)."""
    x, w = np.zeros(shape), np.ones((3, 1, 1, 2))
    try:
        expected = TF.conv2d(torch.tensor(x), torch.tensor(w), padding=(2, 1)).shape
    except RuntimeError:
        with pytest.raises(ValueError, match="empty spatial"):
            F.conv2d(tg.Tensor(x), tg.Tensor(w), padding=(2, 1))
    else:
        assert F.conv2d(tg.Tensor(x), tg.Tensor(w), padding=(2, 1)).shape == tuple(expected)
