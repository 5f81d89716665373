"""torch's elementwise math, comparison and logical names (round ... fmod, copysign, ldexp, frexp, lerp, logical_*,
isclose, nan_to_num),
each against PyTorch on generated inputs: values, gradients, dtypes, nan / inf / -0, empty and 0-d tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch")
# numpy warns of the nans and infs that torch (and these tests) expect
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

FLOATS = [np.float32, np.float64]
INTS = [np.int64, np.int32, np.uint8, np.bool_]
SPECIALS = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1.0, -1.0, 1e-30, -1e-30, 3e38, -3e38, 1e300, -1e300,
            np.inf, -np.inf, np.nan]
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
ERRORS = (TypeError, ValueError, ZeroDivisionError, RuntimeError)
# torch's backward computes -a, a^2 + b^2 (atan2) and b - a (logaddexp) of uint8 and bool operands in their own dtype
# (-1 is 255, 16^2 is 0, and bool raises): ours in float32, which is right; gradients are compared elsewhere
TORCH_BACKWARD_WRONG = {"atan2": "ub", "arctan2": "ub", "logaddexp": "b"}  # dtype kinds


@st.composite
def arrays(draw: Any, dtype: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Values of ``dtype`` (floats with specials, extremes and ties at .5), of a drawn shape unless given."""
    shape = draw(SHAPES) if shape is None else shape
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        x = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1e4, 1e4) | st.sampled_from(SPECIALS)
                            | st.integers(-4, 4).map(float)))
        with np.errstate(over="ignore"):
            return x.astype(dtype)
    elements = st.booleans() if dtype.kind == "b" else st.integers(0, 255) if dtype.kind == "u" else \
        st.integers(-300, 300)
    return draw(hnp.arrays(dtype, shape, elements=elements))


def same(ours: Any, theirs: Any, rtol: float, atol: Any = 0.0, signed_zeros: bool = True) -> None:
    """Equal values (nan where nan, the sign of zeros too unless told), shapes and dtypes; ``atol`` may be an
    array of ``theirs``'s shape."""
    o, r = ours.numpy(), theirs.detach().numpy(force=True)  # force: torch may give a ZeroTensor
    assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch.")), (ours.dtype, theirs.dtype)
    assert o.shape == r.shape
    if o.dtype.kind != "f":
        np.testing.assert_array_equal(o, r)
        return
    ok = np.isclose(o, r, rtol=rtol, atol=atol, equal_nan=True)
    assert ok.all(), f"ours {o[~ok]} != torch's {r[~ok]}"
    zeros = (o == 0) & (r == 0) & signed_zeros
    np.testing.assert_array_equal(np.signbit(o[zeros]), np.signbit(r[zeros]))


def magnitude(*arrays: np.ndarray) -> float:
    """The largest finite |value| in ``arrays``, at least 1."""
    return max([1.0] + [float(np.abs(a[np.isfinite(a)]).max(initial=0)) for a in arrays])


def tol(dtype: Any) -> float:
    """A few ulps of ``dtype`` (0 for exact integer and bool results)."""
    return {"f": 1e-3 if dtype == np.float16 else 2e-6 if dtype == np.float32 else 1e-12}.get(np.dtype(dtype).kind, 0)


def check(ours: Callable[..., Any], theirs: Callable[..., Any], inputs: list[Any], rtol: float | None = None,
          atol: float = 0.0, grad_atol: float | None = None, grads: bool = True, grad_zero_signs: bool = True,
          zero_signs: bool = True) -> None:
    """The same inputs (arrays become tensors, floating ones requiring grad; numbers stay numbers) through both:
    either both raise, or values, dtypes and the gradients of sum(out * w) agree (to ``grad_atol``, ``atol``
    unless given; the signs of zero gradients unless ``grad_zero_signs`` is False)."""
    xs = [tg.Tensor(a.copy(), requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in inputs]
    ts = [torch.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in inputs]
    try:
        ref = theirs(*ts)
    except (RuntimeError, TypeError, IndexError, NotImplementedError):
        with pytest.raises(ERRORS):
            ours(*xs)
        return
    out = ours(*xs)
    same(out, ref, tol(out.dtype) if rtol is None else rtol, atol, signed_zeros=zero_signs)
    if not (grads and ref.requires_grad):
        return
    w = np.random.default_rng(out.size).standard_normal(out.shape).astype(out.dtype)
    (out * tg.Tensor(w)).sum().backward()
    # torch on the inputs expanded to the output's shape: each gradient is the sum of those terms (summed in
    # another order than ours, so it agrees to a rounding of the sum of their magnitudes); a 0-d tensor of another
    # dtype stays 0-d, which promotion treats apart
    big = [t.detach().expand(ref.shape if t.ndim or t.dtype == ref.dtype else ()).requires_grad_()
           if isinstance(t, torch.Tensor) and t.requires_grad else t for t in ts]
    (theirs(*big) * torch.tensor(w)).sum().backward()
    # torch's backward reads each operand in its own dtype, ours the promoted ones: where dtypes meet, gradients
    # agree to the least precise one, and the sign of a zero may differ (torch's -0 of an integer is +0)
    kinds = {x.dtype for x in xs if isinstance(x, tg.Tensor)}
    grad_rtol = max(map(tol, kinds)) if rtol is None else rtol
    for x, t, e in zip(xs, ts, big):
        if isinstance(x, tg.Tensor) and x.requires_grad:
            summed = e.shape != t.shape  # torch's sum of -0 terms is +0, numpy's -0: no sign for those zeros
            bound = e.grad.abs().sum_to_size(t.shape).numpy(force=True) * grad_rtol
            same(x.grad, e.grad.sum_to_size(t.shape) if summed else e.grad, grad_rtol,
                 bound + (atol if grad_atol is None else grad_atol),
                 signed_zeros=grad_zero_signs and len(kinds) == 1 and not summed)


# ---------------------------------------------------------------- rounding
@settings(max_examples=40, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("name", ["round", "floor", "ceil", "trunc", "fix", "frac"])
def test_rounding_matches_torch(name: str, data: st.DataObject) -> None:
    """Values (ties to even, -0, nan, inf), zero gradients (frac's passes), integers unchanged, bool and an
    integer frac raising: as torch, as a function and as a method."""
    x = data.draw(arrays(data.draw(st.sampled_from(FLOATS + INTS))))
    check(getattr(tg, name), getattr(torch, name), [x])
    check(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), [x])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), decimals=st.integers(-4, 5), dtype=st.sampled_from([np.float16, *FLOATS, np.int64]))
def test_round_decimals_matches_torch(data: st.DataObject, decimals: int, dtype: type) -> None:
    x = data.draw(arrays(dtype))
    check(lambda t: tg.round(t, decimals=decimals), lambda t: torch.round(t, decimals=decimals), [x])


def test_round_decimals_ties_and_extremes() -> None:
    x = np.array([0.125, 0.375, 2.675, -2.5, 1234.5678, 3e38, 1e-40, -0.0], np.float32)
    for d in (-40, -3, -1, 0, 2, 40, 400):
        check(lambda t, d=d: t.round(decimals=d), lambda t, d=d: t.round(decimals=d), [x])
    assert tg.round(tg.tensor([2, -3])).tolist() == [2, -3]


# ---------------------------------------------------------------- one-argument math
@settings(max_examples=40, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("name", ["log1p", "expm1", "erf", "reciprocal", "sgn", "nan_to_num"])
def test_float_math_matches_torch(name: str, data: st.DataObject) -> None:
    """Integer and bool inputs give float32 (sgn and nan_to_num keep the dtype); gradients as torch's formulas."""
    x = data.draw(arrays(data.draw(st.sampled_from(FLOATS + INTS))))
    # expm1's gradient is out + 1, which cancels for x < 0: an ulp of 1 in out, times |g|
    atol, grad_atol = (1e-300, 1e-14) if x.dtype == np.float64 else (1e-37, 1e-5)
    check(getattr(tg, name), getattr(torch, name), [x], atol=atol, grad_atol=grad_atol)
    check(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), [x], atol=atol, grad_atol=grad_atol)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), nan=st.sampled_from([0.0, -1.5, 7.0]), posinf=st.sampled_from([None, 2.0, 1e300]),
       neginf=st.sampled_from([None, -3.0, -1e300]))
def test_nan_to_num_values_and_gradient(data: st.DataObject, nan: float, posinf: float | None,
                                        neginf: float | None) -> None:
    x = data.draw(arrays(data.draw(st.sampled_from([np.float16, *FLOATS, np.int64]))))
    check(lambda t: tg.nan_to_num(t, nan, posinf, neginf), lambda t: torch.nan_to_num(t, nan, posinf, neginf), [x])
    check(lambda t: t.nan_to_num(nan=nan, neginf=neginf), lambda t: t.nan_to_num(nan=nan, neginf=neginf), [x])


def test_nan_to_num_gradient_with_non_finite_upstream_gradient() -> None:
    """g * isfinite(x): an inf or nan g where x was replaced gives nan, as torch."""
    x = np.array([np.nan, np.inf, -np.inf, 1.0, 2.0], np.float32)
    g = np.array([np.inf, np.nan, 2.0, 3.0, np.nan], np.float32)
    ours, theirs = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    tg.nan_to_num(ours).backward(tg.Tensor(g))
    torch.nan_to_num(theirs).backward(torch.tensor(g))
    same(ours.grad, theirs.grad, 0)


# ---------------------------------------------------------------- two-argument math
@st.composite
def pairs(draw: Any, dtypes: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays of broadcastable shapes (one may be 0-d or empty) and drawn dtypes."""
    (sa, sb), _ = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0,
                                                           max_side=3))
    return draw(arrays(draw(st.sampled_from(dtypes)), sa)), draw(arrays(draw(st.sampled_from(dtypes)), sb))


def finite_quotients(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` with |a / b| below float32's range where both are finite: torch's vectorised fmod computes a -
    trunc(a / b) b, nan where a / b overflows (fmod(3e38, 0.5) is nan there; ours, C's fmod, is exact: 0)."""
    if a.dtype.kind == "f":
        a = np.where(np.isfinite(a) & (np.abs(a) > 1e30), np.sign(a) * 1e30, a).astype(a.dtype)
    if b.dtype.kind == "f":
        b = np.where((np.abs(b) < 1e-3) & (b != 0), 1, b).astype(b.dtype)
    return a, b


@settings(max_examples=40, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("name", ["atan2", "arctan2", "logaddexp", "hypot", "fmod", "copysign", "logical_and",
                                  "logical_or", "logical_xor"])
def test_binary_matches_torch(name: str, data: st.DataObject) -> None:
    """Broadcasting, torch's type promotion (int with float, float32 with float64, 0-d with dims), the integer
    and bool refusals, both gradients."""
    a, b = data.draw(pairs(FLOATS + INTS))
    if name == "fmod":
        a, b = finite_quotients(a, b)
        if b.dtype.kind in "iub" and a.dtype.kind in "iub":
            b = np.where(b == 0, 1, b).astype(b.dtype)  # an integer divisor of zero raises (tested below)
    grads = not set(TORCH_BACKWARD_WRONG.get(name, "")) & {a.dtype.kind, b.dtype.kind}
    if name in ("atan2", "arctan2") and a.dtype != b.dtype and np.float32 in (a.dtype, b.dtype):
        with np.errstate(all="ignore"):  # torch squares the float32 operand in float32 for its gradient: a value
            tiny = [np.abs(v[(v != 0) & np.isfinite(v)]) for v in (a, b)]  # below 1e-19 gives 0 (ours: 1 / x)
        grads = grads and not any(t.size and t.min() < 1e-19 for t in tiny)
    check(getattr(tg, name), getattr(torch, name), [a, b], atol=1e-300 if a.dtype == b.dtype == np.float64
          else 1e-37, grads=grads)
    check(lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), [a, b], atol=1e-37, grads=grads)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), number=st.sampled_from([2, -3, 2.5, -0.5, 0.0, True]))
@pytest.mark.parametrize("name", ["atan2", "logaddexp", "hypot", "fmod", "copysign", "logical_and", "heaviside"])
def test_python_number_operand_promotes_as_torch(name: str, data: st.DataObject, number: Any) -> None:
    """A Python number as the second operand gives torch's dtype for a Python scalar (torch itself takes one only
    in fmod; for the others it is compared with torch on the number as a 0-d tensor of its default dtype)."""
    x = data.draw(arrays(data.draw(st.sampled_from(FLOATS + INTS))))
    if x.dtype == np.uint8 and number < 0 and name != "atan2":
        return  # out of uint8's range: torch wraps it around in integer ops, ours raises OverflowError (all ops)
    if name == "heaviside":  # torch wants values of x's dtype
        check(lambda t: tg.heaviside(t, number), lambda t: torch.heaviside(t, torch.tensor(number, dtype=t.dtype)),
              [x], grads=False)
        return
    if name == "fmod":
        x, _ = finite_quotients(x, np.asarray(number))
    wrapped = number if name == "fmod" else torch.tensor(number)
    # torch's backward cannot subtract or negate the bool tensor that True becomes here
    check(lambda t: getattr(tg, name)(t, number), lambda t: getattr(torch, name)(t, wrapped), [x],
          grads=not isinstance(number, bool))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_frexp_matches_torch(data: st.DataObject) -> None:
    """Mantissa and int32 exponent (0, -0, inf, nan and denormals included), integer input refused; the mantissa's
    gradient g 2^-exponent, torch's where its float32 power of two is exact (|exponent| <= 126), exact elsewhere
    (torch's is 0 or inf there, a difference README lists)."""
    x = data.draw(arrays(data.draw(st.sampled_from([np.float16, *FLOATS, np.int64]))))
    if x.dtype.kind != "f":
        with pytest.raises(TypeError, match="frexp: only floating-point"):
            tg.frexp(tg.Tensor(x))
        with pytest.raises(RuntimeError):
            torch.frexp(torch.tensor(x))
        return
    ours, theirs = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (m, e), (tm, te) = ours.frexp(), torch.frexp(theirs)
    same(m, tm, 0)
    same(e, te, 0)
    w = np.random.default_rng(x.size).standard_normal(x.shape).astype(x.dtype)
    (m * tg.Tensor(w)).sum().backward()
    (tm * torch.tensor(w)).sum().backward()
    exponent = e.numpy()
    wide = np.float32 if x.dtype == np.float16 else x.dtype  # float16's in float32, rounded once (as torch)
    with np.errstate(over="ignore"):  # (ldexp rounds w 2^-e once: a denormal's 2^128 alone is inf in float32)
        np.testing.assert_array_equal(ours.grad.numpy(), np.ldexp(w.astype(wide), -exponent).astype(x.dtype))
    torch_exact = np.abs(exponent) <= 126
    np.testing.assert_array_equal(ours.grad.numpy()[torch_exact], theirs.grad.numpy()[torch_exact])


@settings(max_examples=60, deadline=None)
@given(data=st.data(), exponent_dtype=st.sampled_from([np.int64, np.int32, np.uint8, np.float32, np.float64]))
def test_ldexp_matches_torch_and_is_exact(data: st.DataObject, exponent_dtype: type) -> None:
    """Values and dtypes as torch's, broadcast (integer exponents exact, floating ones as x 2^e), and against the
    exact float64 value. Gradients (on operands of one shape): 2^e for x and x 2^e ln 2 for a floating e, exactly;
    torch's agree where they are right: for x where an integer exponent is in [0, 62] (torch's 2^e is an integer
    power of e's dtype: 0 below 0, wrapping past its bits), and where 2^e is exact in float32 for a floating one."""
    (sa, sb), _ = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3))
    x = data.draw(arrays(data.draw(st.sampled_from(FLOATS + [np.int64])), sa))
    kind = np.dtype(exponent_dtype).kind
    elements = st.integers(-140, 140) if kind == "i" else st.integers(0, 140) if kind == "u" else \
        st.integers(-120, 120).map(float) | st.floats(-20, 20)
    e = data.draw(hnp.arrays(exponent_dtype, sb, elements=elements))
    if kind == "f" and np.float64 in (x.dtype, e.dtype):
        e = np.round(e)  # torch computes 2^e in float32 even for a float64 result: alike only where that is exact
    out, ref = tg.ldexp(tg.Tensor(x), tg.Tensor(e)), torch.ldexp(torch.tensor(x), torch.tensor(e))
    if x.dtype.kind != "f":  # torch scales an integer x by 2^e computed in float32: 0 * inf = nan from e = 128 (README)
        zero_by_inf = np.broadcast_to(x == 0, out.shape) & np.broadcast_to(e.astype(np.float64) >= 128, out.shape)
        ref = torch.where(torch.tensor(zero_by_inf), torch.zeros_like(ref), ref)
    same(out, ref, tol(out.dtype))
    with np.errstate(over="ignore", invalid="ignore"):
        xr = x.astype(out.dtype) if x.dtype.kind == "f" else x  # (a 0-d float64 x with a float32 e: float32 first)
        exact = xr.astype(np.float64) * np.exp2(e.astype(np.float64))
        np.testing.assert_allclose(out.numpy(), exact.astype(out.dtype), rtol=tol(out.dtype))
    if x.dtype.kind != "f":
        return
    x, e = (np.ascontiguousarray(np.broadcast_to(a, out.shape)) for a in (x, e))
    xs, es = tg.Tensor(x, requires_grad=True), tg.Tensor(e, requires_grad=kind == "f")
    xt, et = torch.tensor(x, requires_grad=True), torch.tensor(e, requires_grad=kind == "f")
    w = np.random.default_rng(out.size).standard_normal(out.shape)
    (tg.ldexp(xs, es) * tg.Tensor(w.astype(out.dtype))).sum().backward()
    (torch.ldexp(xt, et) * torch.tensor(w.astype(out.dtype))).sum().backward()
    with np.errstate(over="ignore", invalid="ignore"):
        scale = np.exp2(e.astype(np.float64)).astype(out.dtype)  # 2^e in the result's dtype (inf past its range)
        np.testing.assert_allclose(xs.grad.numpy(), (w.astype(out.dtype) * scale).astype(x.dtype),
                                   rtol=tol(out.dtype), equal_nan=True)
        if kind == "f":
            np.testing.assert_allclose(es.grad.numpy(), (w * exact * np.log(2)).astype(e.dtype),
                                       rtol=tol(out.dtype), equal_nan=True)
    right = (e >= 0) & (e < 8 * e.itemsize - 1) if kind in "iu" else np.abs(e) <= 120  # (torch's integer 2^e wraps)
    np.testing.assert_allclose(xs.grad.numpy()[right], xt.grad.numpy()[right], rtol=tol(out.dtype), equal_nan=True)
    if kind == "f":  # torch's where it is finite or the exact one is not: its g x overflows before the 2^e ln 2
        with np.errstate(over="ignore", invalid="ignore"):  # (g 1.35 x 3e38 x ln 2 is 2.8e38 in float32, torch's inf)
            keep = np.isfinite(et.grad.numpy()) | ~np.isfinite((w * exact * np.log(2)).astype(e.dtype))
        ours_e, torch_e = es.grad.numpy()[keep], et.grad.numpy()[keep]
        assert es.grad.numpy().dtype == et.grad.numpy().dtype
        assert np.isclose(ours_e, torch_e, rtol=tol(out.dtype), atol=1e-30, equal_nan=True).all(), (ours_e, torch_e)
        assert (np.signbit(ours_e) == np.signbit(torch_e))[(ours_e == 0) & (torch_e == 0)].all()


def test_ldexp_refuses_what_torch_refuses() -> None:
    for other in (3, 2.5):
        with pytest.raises(TypeError, match="the exponent must be a tensor"):
            tg.ldexp(tg.tensor([1.0]), other)
        with pytest.raises(TypeError):
            torch.ldexp(torch.tensor([1.0]), other)
    with pytest.raises(TypeError, match="not supported"):
        tg.ldexp(tg.tensor([1.0]), tg.tensor([True]))
    with pytest.raises(NotImplementedError):
        torch.ldexp(torch.tensor([1.0]), torch.tensor([True]))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
def test_integer_fmod_by_zero_raises_and_bool_fmod_refused(dtype: type) -> None:
    x = tg.tensor(np.array([5, 7], dtype))
    with pytest.raises(ZeroDivisionError, match="fmod"):
        tg.fmod(x, 0)
    with pytest.raises(ZeroDivisionError, match="fmod"):
        x.fmod(tg.tensor(np.array([1, 0], dtype)))
    assert tg.fmod(tg.tensor([-7, 7]), 3).tolist() == [-1, 1]
    assert tg.fmod(tg.tensor([-7.0, 7.0]), 0).isnan().all()
    with pytest.raises(TypeError, match="bool"):
        tg.fmod(tg.tensor([True]), tg.tensor([True]))
    with pytest.raises(TypeError, match="bool"):
        tg.remainder(tg.tensor([True]), tg.tensor([True]))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), weight_kind=st.sampled_from(["number", "tensor", "0-d other dtype"]),
       number=st.sampled_from([0.0, 0.3, -0.4, 0.5, 0.75, 1.0, 2.5, -1.0, np.nan]))
def test_lerp_matches_torch(data: st.DataObject, weight_kind: str, number: float) -> None:
    """Three-way broadcasting; a number, a tensor or a 0-d tensor of another dtype as weight; all gradients."""
    dtype = data.draw(st.sampled_from(FLOATS))
    shapes, _ = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=0,
                                                            max_side=3))
    start, end = (data.draw(arrays(dtype, s)) for s in shapes[:2])
    if weight_kind == "number":
        weight: Any = number
    elif weight_kind == "tensor":
        weight = data.draw(arrays(dtype, shapes[2]))
    else:
        weight = np.array(number, np.float64 if dtype == np.float32 else np.float32)
    # torch's kernel fuses the multiply-add: allow a rounding of |end - start| |weight|
    atol = 2 * tol(dtype) * magnitude(start, end) * magnitude(np.asarray(weight, dtype))
    # the sign of a zero result is torch's vectorised kernel's, not its short tensors' (README; test_numerics_edges)
    check(tg.lerp, torch.lerp, [start, end, weight], atol=atol, zero_signs=False)
    check(lambda s, e, w: s.lerp(e, w), lambda s, e, w: s.lerp(e, w), [start, end, weight], atol=atol,
          zero_signs=False)


def test_lerp_refuses_what_torch_refuses() -> None:
    f = tg.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match=r"lerp.*end"):
        tg.lerp(f, f.double(), 0.5)
    with pytest.raises(TypeError, match=r"lerp.*weight"):
        tg.lerp(f, f, f.double())
    with pytest.raises(TypeError, match="lerp"):
        tg.lerp(tg.tensor([1, 2]), tg.tensor([1, 2]), 0.5)
    assert tg.lerp(f, f * 3, tg.tensor(1)).tolist() == [3.0, 6.0]  # a 0-d weight of any dtype, as torch


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_heaviside_matches_torch_and_has_no_derivative(data: st.DataObject) -> None:
    dtype = data.draw(st.sampled_from(FLOATS + INTS))
    (sa, sb), _ = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0,
                                                              max_side=3))
    x, v = data.draw(arrays(dtype, sa)), data.draw(arrays(dtype, sb))
    ours, theirs = tg.heaviside(tg.Tensor(x), tg.Tensor(v)), torch.heaviside(torch.tensor(x), torch.tensor(v))
    same(ours, theirs, 0)
    same(tg.Tensor(x).heaviside(tg.Tensor(v)), theirs, 0)
    if dtype in FLOATS:
        t = tg.Tensor(x, requires_grad=True)
        with pytest.raises(RuntimeError, match="heaviside"):
            tg.heaviside(t, tg.Tensor(v)).sum().backward()
        other = np.float64 if dtype == np.float32 else np.float32
        with pytest.raises(TypeError, match=r"heaviside.*dtype"):
            tg.heaviside(tg.Tensor(x), tg.Tensor(v.astype(other)))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), lo=st.sampled_from([0, -1.5, 2.5, np.nan, "tensor"]), which=st.sampled_from(["min", "max"]))
def test_clamp_min_and_clamp_max_match_torch(data: st.DataObject, lo: Any, which: str) -> None:
    x = data.draw(arrays(data.draw(st.sampled_from(FLOATS + [np.int64]))))
    bound = data.draw(arrays(x.dtype, x.shape[1:])) if lo == "tensor" else lo
    name = f"clamp_{which}"
    # clamp's gradient is g times a 0/1 mask (so -0 where g < 0 is cut off): torch's is where(mask, g, 0); and a
    # tie of +0 and -0 with a tensor bound gives x in torch's scalar loop, the bound in its vectorised one (as its
    # minimum / maximum: see README, "Differences from PyTorch"), so the signs of zero results are not compared
    check(getattr(tg, name), getattr(torch, name), [x, bound], grad_zero_signs=False, zero_signs=False)
    check(lambda t, b: getattr(t, name)(b), lambda t, b: getattr(t, name)(b), [x, bound], grad_zero_signs=False,
          zero_signs=False)


# ---------------------------------------------------------------- logical and comparisons
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_logical_not_is_bool_for_every_dtype(data: st.DataObject) -> None:
    x = data.draw(arrays(data.draw(st.sampled_from(FLOATS + INTS))))
    check(tg.logical_not, torch.logical_not, [x])
    check(lambda t: t.logical_not(), lambda t: t.logical_not(), [x])
    if x.dtype.kind in "iub":  # ~ stays bitwise for integers
        same(~tg.Tensor(x), ~torch.tensor(x), 0)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), rtol=st.sampled_from([0.0, 1e-5, 0.1, 1.0]), atol=st.sampled_from([0.0, 1e-8, 0.5, 3.0]),
       equal_nan=st.booleans())
def test_isclose_allclose_match_torch(data: st.DataObject, rtol: float, atol: float, equal_nan: bool) -> None:
    dtype = data.draw(st.sampled_from(FLOATS + INTS))
    (sa, sb), _ = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0,
                                                              max_side=3))
    a, b = data.draw(arrays(dtype, sa)), data.draw(arrays(dtype, sb))
    if data.draw(st.booleans()) and a.shape == b.shape and dtype in FLOATS:  # close but not equal
        b = (a * (1 + data.draw(st.sampled_from([1e-7, 1e-5, 1e-3, 0.5])))).astype(dtype)
    kw = dict(rtol=rtol, atol=atol, equal_nan=equal_nan)
    ta, tb = torch.tensor(a), torch.tensor(b)
    same(tg.isclose(tg.Tensor(a), tg.Tensor(b), **kw), torch.isclose(ta, tb, **kw), 0)
    same(tg.Tensor(a).isclose(tg.Tensor(b), **kw), torch.isclose(ta, tb, **kw), 0)
    ours = tg.allclose(tg.Tensor(a), tg.Tensor(b), **kw)
    assert type(ours) is bool and ours == torch.allclose(ta, tb, **kw)
    assert tg.Tensor(a).allclose(tg.Tensor(b), **kw) == ours


def test_isclose_refuses_what_torch_refuses() -> None:
    f = tg.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match=r"isclose.*dtype"):
        tg.isclose(f, f.double())
    with pytest.raises(TypeError, match=r"isclose.*dtype"):
        tg.allclose(tg.tensor([1, 2]), f)
    with pytest.raises(ValueError, match="rtol"):
        tg.isclose(f, f, rtol=-1)
    with pytest.raises(ValueError, match="atol"):
        f.isclose(f, atol=-1)
    with pytest.raises(ValueError, match="isclose"):
        tg.isclose(f, tg.tensor([1.0, 2.0, 3.0]))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_equal_matches_torch(data: st.DataObject) -> None:
    """Same shape and values after promotion (an int64 1 equals a float32 1.0, nan never, -0 equals 0)."""
    a = data.draw(arrays(data.draw(st.sampled_from(FLOATS + INTS))))
    b = data.draw(st.sampled_from(["copy", "other dtype", "changed", "other shape"]))
    if b == "copy":
        b = a.copy()
    elif b == "other dtype":
        b = a.astype(np.float64 if a.dtype != np.float64 else np.float32)
    elif b == "changed" and a.size:
        b = a.copy()
        b.ravel()[0] = not b.ravel()[0] if a.dtype == np.bool_ else b.ravel()[0] // 2 + 1
    else:
        b = data.draw(arrays(a.dtype))
    ours = tg.equal(tg.Tensor(a), tg.Tensor(b))
    assert type(ours) is bool and ours == torch.equal(torch.tensor(a), torch.tensor(b))
    assert tg.Tensor(a).equal(tg.Tensor(b)) == ours
    with pytest.raises(TypeError, match="equal"):
        tg.equal(tg.Tensor(a), a.tolist())


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_count_nonzero_matches_torch(data: st.DataObject) -> None:
    x = data.draw(arrays(data.draw(st.sampled_from(FLOATS + INTS))))
    n = max(x.ndim, 1)
    dim = data.draw(st.none() | st.integers(-n, n - 1) | st.lists(st.integers(0, n - 1), max_size=n, unique=True)
                    .map(tuple))
    ours = tg.count_nonzero(tg.Tensor(x), dim=dim) if dim is not None else tg.count_nonzero(tg.Tensor(x))
    theirs = torch.count_nonzero(torch.tensor(x), dim=dim)
    same(ours, theirs, 0)
    same(tg.Tensor(x).count_nonzero(dim), theirs, 0)
    with pytest.raises(ValueError):
        tg.count_nonzero(tg.Tensor(x), dim=n)


# ---------------------------------------------------------------- graph bookkeeping
def test_in_place_write_into_an_output_raises_only_where_torch_saves_it() -> None:
    """floor / erf / atan2 do not keep their output for backward (writing into it is fine, as in torch); expm1,
    reciprocal and hypot do (backward then raises, as torch's does)."""
    for fn, saved in [(tg.floor, False), (tg.erf, False), (lambda t: tg.atan2(t, t), False), (tg.expm1, True),
                      (tg.reciprocal, True), (lambda t: tg.hypot(t, t), True)]:
        x = tg.tensor([0.5, 2.0], requires_grad=True)
        out = fn(x)
        out.add_(1)
        if saved:
            with pytest.raises(RuntimeError, match="in-place"):
                out.sum().backward()
        else:
            out.sum().backward()
            assert x.grad is not None


@pytest.mark.gpu
def test_on_cuda_as_on_the_cpu() -> None:
    """Every new name gives the CPU's values, dtypes and gradients on the GPU (the erf kernel included)."""
    x = np.array([[-2.5, -0.0, 0.5, 1.5], [np.nan, np.inf, -np.inf, 3.25]], np.float32)
    y = np.array([2.0, -0.5, 0.0, 1e-3], np.float32)
    ops: list[Callable[..., Any]] = [
        lambda a, b: a.round(), lambda a, b: a.round(decimals=1), lambda a, b: a.floor() + a.ceil() + a.trunc(),
        lambda a, b: a.frac(), lambda a, b: a.log1p(), lambda a, b: a.expm1(), lambda a, b: a.erf(),
        lambda a, b: a.reciprocal(), lambda a, b: a.sgn(), lambda a, b: a.nan_to_num(posinf=9.0),
        tg.atan2, tg.hypot, tg.logaddexp, tg.fmod, lambda a, b: tg.lerp(a, b, 0.75), lambda a, b: tg.lerp(a, b, b),
        lambda a, b: a.clamp_min(b), lambda a, b: a.clamp_max(0.5), lambda a, b: tg.heaviside(a.detach(), b.detach()),
        tg.logical_and, tg.logical_xor, lambda a, b: a.logical_not(), tg.isclose,
        lambda a, b: tg.count_nonzero(a, dim=1), lambda a, b: tg.fmod(a.long(), 3),
    ]
    for op in ops:
        results = []
        for device in ("cpu", "cuda"):
            a = tg.Tensor(x, device=device, requires_grad=True)
            b = tg.Tensor(y, device=device, requires_grad=True)
            out = op(a, b)
            if out.requires_grad:
                out.sum().backward()
            results.append([out.numpy()] + [t.grad.numpy() for t in (a, b) if t.grad is not None])
        for cpu, gpu in zip(*results):
            assert cpu.dtype == gpu.dtype
            np.testing.assert_allclose(gpu, cpu, rtol=1e-6, atol=1e-30)
    ours = tg.Tensor(x, device="cuda")
    assert tg.allclose(ours, ours, equal_nan=True) and not tg.equal(ours, ours)


@pytest.mark.skipif(tg.cuda.is_available(), reason="with a GPU, pin_memory copies (test_cuda_types_events...)")
def test_pinned_memory_is_refused_in_one_line_as_torch_without_a_gpu() -> None:
    x = tg.ones(2)
    assert x.is_pinned() is False and torch.ones(2).is_pinned() is False
    with pytest.raises(RuntimeError, match=r"^pin_memory needs a usable GPU \(as torch's\); without one, leave"):
        x.pin_memory()
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError):  # torch without a GPU, too
            torch.ones(2).pin_memory()


def test_ldexp_result_dtype_as_torch_for_every_pairing() -> None:
    """The result dtype over input and exponent dtypes and 0-d / 1-d shapes: an integer input takes a 0-d floating
    exponent's dtype (int64 x (1,) with a float64 0-d e is float64), as torch's promotion does."""
    for xd in (np.float32, np.int64, np.float16, np.int32, np.float64):
        for ed in (np.float64, np.float32, np.int64):
            for xs in ((), (1,)):
                for es in ((), (1,)):
                    x, e = np.zeros(xs, xd), np.full(es, 3, ed)
                    ours, theirs = tg.ldexp(tg.Tensor(x), tg.Tensor(e)), torch.ldexp(torch.tensor(x), torch.tensor(e))
                    assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch.")), (xd, ed, xs, es)
