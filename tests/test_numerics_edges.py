"""Numerical edge cases against PyTorch 2.13 on generated inputs: var / std / var_mean / std_mean of float32 and
float16 (accumulated in float64, as torch's Welford kernel), float16 sigmoid / logsigmoid (float32 opmath) and
frexp's float16 gradient (all bit for bit), lerp's sign of zero, ldexp's gradient where torch's integer 2^e wraps,
RAdam after an infinite gradient, and Kumaraswamy's mean / variance in float32."""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
from tinygrad_adam.distributions import Kumaraswamy
from tinygrad_adam.optim.radam import RAdam

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"), pytest.mark.filterwarnings("ignore::UserWarning")]

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
SPECIALS = [0.0, -0.0, 1e-45, -3e-39, 2.3e-32, 1e-30, 1e20, -1e20, 3e38, -3e38, 6e-8, 1e-5, 65504.0,
            np.inf, -np.inf, np.nan]


@st.composite
def floats(draw: Any, dtype: Any, shape: Any = SHAPES, scale: bool = True) -> np.ndarray:
    """An array of ``dtype`` from a drawn shape: ordinary values times a drawn power of ten (tiny to huge), specials
    (subnormals, extremes, infs, nan, -0)."""
    shape = draw(shape) if not isinstance(shape, tuple) else shape
    power = 10.0 ** draw(st.sampled_from([0, -40, -30, -20, -5, 5, 20, 37]) if scale else st.just(0))
    x = draw(hnp.arrays(np.float64, shape, elements=st.floats(-10, 10).map(lambda v: v * power)
                        | st.floats(1e4, 1e4 + 1) | st.sampled_from(SPECIALS)))
    with np.errstate(over="ignore"):
        return x.astype(dtype)


def same_bits(ours: Any, theirs: Any) -> None:
    """Equal dtypes, shapes and values, nan where nan and the sign of zeros too."""
    o, r = ours.numpy(), theirs.detach().numpy()
    assert o.dtype == r.dtype and o.shape == r.shape, (o.dtype, r.dtype, o.shape, r.shape)
    np.testing.assert_array_equal(o, r)
    number = ~np.isnan(r)
    np.testing.assert_array_equal(np.signbit(o[number]), np.signbit(r[number]))


def midway_to_float32(v: Any) -> Any:
    """The float64 halfway point between the float32 nearest each of ``v`` and its float32 neighbour on v's side."""
    with np.errstate(over="ignore", invalid="ignore"):
        near = np.asarray(v).astype(np.float32)
        other = np.nextafter(near, np.where(v > near, np.float32(np.inf), np.float32(-np.inf)))
        return (near.astype(np.float64) + other.astype(np.float64)) / 2


def dims(draw: Any, ndim: int) -> Any:
    return draw(st.none() | st.integers(-ndim or -1, max(ndim - 1, 0)) if ndim else st.none())


# ---------------------------------------------------------------------------------------------- var / std
@settings(max_examples=120, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float16]), op=st.sampled_from(["var_mean", "std_mean"]),
       correction=st.sampled_from([0, 1, 2]), keepdim=st.booleans())
def test_var_std_mean_float32_float16_are_torchs_bit_for_bit(data: st.DataObject, dtype: Any, op: str,
                                                              correction: int, keepdim: bool) -> None:
    """torch's var_mean / std_mean accumulate a float32 input in float64 (Welford) and round once: ours too, so both
    results are torch's exactly, tiny (2.3e-32: std 1.6e-32, not 0) and huge (1e20) values too. For float16 torch
    accumulates in float32 and ours in float64: within a float16 ulp (a local hypothesis run met a tie)."""
    x = data.draw(floats(dtype))
    dim = dims(data.draw, x.ndim)
    ours = getattr(tg, op)(tg.tensor(x), dim, correction=correction, keepdim=keepdim)
    theirs = getattr(torch, op)(torch.tensor(x), dim, correction=correction, keepdim=keepdim)
    # torch's Welford mean of a slice with an inf is nan once a finite value follows it (inf + (0 - inf) / 2);
    # ours is the float64 mean (README; torch's float32 torch.mean of [-3e38, -3e38, inf] overflows to nan first)
    infinite = torch.isinf(torch.tensor(x)).any(dim, keepdim=keepdim) if dim is not None else \
        torch.tensor(bool(np.isinf(x).any())).reshape((1,) * x.ndim if keepdim else ())
    wide = torch.mean(torch.tensor(x, dtype=torch.float64), dim, keepdim=keepdim).to(theirs[1].dtype)
    mean = torch.where(infinite, wide, theirs[1])
    for o, t in zip(ours, (theirs[0], mean)):
        assert o.dtype == np.dtype(str(t.dtype).removeprefix("torch.")) and o.shape == tuple(t.shape)
    if dtype == np.float16:  # torch's Welford runs in float32 for float16 (README): the last bit can differ, as the
        # mean of [5e4, 6e-8, 1e4, 0]: torch's float32 sum loses the 6e-8 and rounds 14996 down to 14992 (a tie)
        for o, t in zip(ours, (theirs[0], mean)):
            o, t = o.numpy(), t.numpy()
            assert np.array_equal(np.isnan(o), np.isnan(t))
            np.testing.assert_array_max_ulp(o[~np.isnan(o)], t[~np.isnan(t)], maxulp=1)
        return
    # torch's float64 Welford result rounds once to float32; where it sits a float64 rounding error from a float32
    # tie (64 values, one 1e4: var 1538085.9375 exactly, torch's 1538085.93749999 rounds down, ours up) the two
    # may be a float32 ulp apart
    v64 = getattr(torch, op)(torch.tensor(x, dtype=torch.float64), dim, correction=correction,
                             keepdim=keepdim)[0].numpy()
    tie = np.abs(v64 - midway_to_float32(v64)) <= 1e-14 * np.abs(v64)
    np.testing.assert_array_equal(ours[0].numpy()[~tie], theirs[0].numpy()[~tie])
    np.testing.assert_array_max_ulp(ours[0].numpy()[tie], theirs[0].numpy()[tie], maxulp=1)
    # Welford's running mean is off by about eps64 |x| where values cancel ([1e20, -1e20, 0 ...]: 512 for 0); ours
    # is the float64 sum over n, exact there
    np.testing.assert_allclose(ours[1].numpy(), mean.numpy(), rtol=0, atol=1e-15 * magnitude(x.astype(np.float64)))


@settings(max_examples=120, deadline=None)
@given(data=st.data(), op=st.sampled_from(["var", "std"]), correction=st.sampled_from([0, 1]))
def test_var_std_are_the_float64_value_rounded_once(data: st.DataObject, op: str, correction: int) -> None:
    """float32 var / std: torch's over dims with several results (Welford in float64), bit for bit; over a whole
    tensor torch takes a float32 mean without correcting it (README), so there ours is checked against the float64
    value of the float32 input rounded once (and against torch within its error)."""
    x = data.draw(floats(np.float32, hnp.array_shapes(min_dims=2, max_dims=3, min_side=2, max_side=5)))
    dim = data.draw(st.integers(0, x.ndim - 1))
    ours = getattr(tg.tensor(x), op)(dim, correction=correction)
    same_bits(ours, getattr(torch.tensor(x), op)(dim, correction=correction))
    whole = getattr(tg.tensor(x), op)(correction=correction)
    with np.errstate(all="ignore"):
        ref = np.var(x.astype(np.float64), ddof=correction)
        ref = np.sqrt(ref) if op == "std" else ref
    np.testing.assert_array_equal(whole.numpy(), np.float32(ref))
    if np.abs(x.astype(np.float64)).sum() < 1e38:  # (else torch's float32 mean overflows: README)
        np.testing.assert_allclose(whole.numpy(), getattr(torch.tensor(x), op)(correction=correction).numpy(),
                                   rtol=1e-2, atol=1e-30)


def test_var_std_examples_torch_found() -> None:
    """The reported cases: float32 [2.3e-32, 0] (std 1.6263e-32, var 0: its square underflows), [1e20, -1e20] (std
    1.4e20, var inf), [3e38, 3e38] (0: no overflow in the float64 mean), a constant row (exactly 0)."""
    for x, std, var in (([2.3e-32, 0.0], 1.6263456e-32, 0.0), ([1e20, -1e20], 1.4142135e20, np.inf),
                        ([3e38, 3e38], 0.0, 0.0), ([0.1] * 1000, 0.0, 0.0)):
        t = tg.tensor(x)
        assert t.std().item() == pytest.approx(std, rel=1e-6) and t.var().item() == var
        assert tg.std_mean(t)[0].item() == torch.std_mean(torch.tensor(x))[0].item()


@settings(max_examples=60, deadline=None)
@given(data=st.data(), op=st.sampled_from(["var", "std"]))
def test_var_std_mean_gradients_match_torch(data: st.DataObject, op: str) -> None:
    """float32 gradients of var_mean / std_mean's two results: torch's formulas (var_backward 2 g (x - mean) / (n -
    correction), std's over 2 std, 0 where std is 0; the mean's g / n), computed by torch in float64 and rounded:
    ours takes x - mean from the float64 mean (torch's float32 takes its float32 mean: [1e4, 1e4 + 0.409] gets
    gradients 0.8% off)."""
    dtype = np.float32
    x = data.draw(floats(dtype, hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5), scale=False))
    dim = data.draw(st.none() | st.just(0))
    ours, theirs = tg.tensor(x, requires_grad=True), torch.tensor(x.astype(np.float64), requires_grad=True)
    s, m = getattr(tg, op + "_mean")(ours, dim)
    ts, tm = getattr(torch, op + "_mean")(theirs, dim)
    tiny = (ts.detach().numpy() > 0) & (ts.detach().numpy() < 1e-18)
    assume(op == "var" or not tiny.any())  # g / (2 std) overflows there, in torch too: both give inf / nan
    w = np.random.default_rng(x.size).standard_normal(s.shape).astype(dtype)
    (s * tg.tensor(w) + m * tg.tensor(w)).sum().backward()
    (ts * torch.tensor(w.astype(np.float64)) + tm * torch.tensor(w.astype(np.float64))).sum().backward()
    ref = theirs.grad.numpy().astype(dtype)
    over = np.isinf(s.detach().numpy())
    if op == "std" and over.any():  # a float32 std that overflowed: its share of the gradient, g (x - mean) / (std
        # (n - 1)), is 0 there, not the float64 value (see the test below)
        n = x.size if dim is None else x.shape[0]
        ref = np.where(np.broadcast_to(over, x.shape), np.broadcast_to(w / n, x.shape), ref).astype(dtype)
    assert ours.grad.dtype == dtype
    np.testing.assert_allclose(ours.grad.numpy(), ref, rtol=1e-4, atol=1e-6 * magnitude(ref))


def test_std_gradient_where_the_float32_std_overflows_as_torch() -> None:
    """std of [-3e38, 3e38] is 4.2e38, inf in float32 (hunt 49003): g (x - mean) / (std (n - 1)) is then 0, in
    torch's float32 too, and only the mean's share g / n is left."""
    x = np.array([[0.0, -3e38], [0.0, 3e38]], np.float32)
    w = np.array([[0.5, -0.25]], np.float32)
    grads = []
    for lib in (tg, torch):
        t = lib.tensor(x, requires_grad=True)
        s, m = lib.std_mean(t, 0, keepdim=True)
        (s * lib.tensor(w) + m * lib.tensor(w)).sum().backward()
        grads.append(t.grad.numpy())
    assert np.isinf(tg.tensor(x).std(0)[1].item())
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_array_equal(grads[0], np.broadcast_to(w / 2, x.shape))


def magnitude(a: np.ndarray) -> float:
    """The largest finite |value| of ``a``, at least 1."""
    return max(1.0, float(np.abs(a[np.isfinite(a)]).max(initial=0)))


def test_empty_and_zero_d_var_as_torch() -> None:
    for x, dim in ((np.zeros((0,), np.float32), None), (np.zeros((2, 0), np.float32), 1), (np.float32(3.0), None)):
        for op in ("var", "std", "var_mean", "std_mean"):
            ours, theirs = getattr(tg, op)(tg.tensor(x), dim), getattr(torch, op)(torch.tensor(x), dim)
            for o, t in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else
                            (theirs,)):
                np.testing.assert_array_equal(o.numpy(), t.numpy())


# ---------------------------------------------------------------------------------------------- sigmoid
@settings(max_examples=100, deadline=None)
@given(data=st.data(), op=st.sampled_from(["sigmoid", "logsigmoid"]))
def test_float16_sigmoid_logsigmoid_are_torchs_bit_for_bit(data: st.DataObject, op: str) -> None:
    """float16 computes in float32 and rounds once (as torch): sigmoid(-12) is the subnormal 6.1e-6, not 0 (float16's
    exp(12) overflows); the gradients are torch's kernels' too (sigmoid's in float16 steps, logsigmoid's from
    exp(-|x|) rounded to float16)."""
    x = data.draw(floats(np.float16, scale=False)) * np.float16(data.draw(st.sampled_from([1, 2, 4])))
    fn = {"sigmoid": (tg.sigmoid, torch.sigmoid), "logsigmoid": (tg.nn.functional.logsigmoid,
                                                                   torch.nn.functional.logsigmoid)}[op]
    ours, theirs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = fn[0](ours), fn[1](theirs)
    same_bits(out, ref)
    w = np.random.default_rng(x.size).standard_normal(x.shape).astype(np.float16)
    out.backward(tg.tensor(w))
    ref.backward(torch.tensor(w))
    same_bits(ours.grad, theirs.grad)


def test_sigmoid_subnormal_results() -> None:
    """float16: subnormal results down to x = -16.6; float32: sigmoid(-88.5) is the subnormal 3.67e-39 (torch's
    too), and sigmoid(-100) is 0 in both (exp(100) overflows float32 in torch's kernel too)."""
    x = np.array([-12.0, -14.0, -16.0], np.float16)
    assert (tg.sigmoid(tg.tensor(x)).numpy() > 0).all()
    x32 = np.array([-88.5, -100.0], np.float32)
    np.testing.assert_allclose(tg.sigmoid(tg.tensor(x32)).numpy(), torch.sigmoid(torch.tensor(x32)).numpy(),
                               rtol=1e-6, atol=0)


@settings(max_examples=60, deadline=None)
@given(x=floats(np.float32, scale=False))
def test_sigmoid_gradient_is_torchs_formula(x: np.ndarray) -> None:
    """The float32 gradient is torch's g (1 - s) s, in its order, from our s (torch's s may differ in its last bit:
    its exp is not numpy's)."""
    ours = tg.tensor(x, requires_grad=True)
    s = tg.sigmoid(ours)
    w = np.random.default_rng(x.size).standard_normal(x.shape).astype(np.float32)
    s.backward(tg.tensor(w))
    ref = torch.ops.aten.sigmoid_backward(torch.tensor(w), torch.tensor(s.numpy()))
    same_bits(ours.grad, ref)


# ---------------------------------------------------------------------------------------------- lerp, frexp, ldexp
def test_lerp_sign_of_zero_is_torchs_vectorised_kernel() -> None:
    """Every sign of zero for start, end and weight: ours is torch's vectorised kernel's (one fused multiply-add
    from the nearer end; torch's tensors of 16+ elements), whatever our length. torch's 0-d path differs at weight
    1 (lerp(0, -0, 1) is +0 there, -0 here and in its vectors): README."""
    for s, e, w in itertools.product([0.0, -0.0], [0.0, -0.0], [0.0, -0.0, 0.3, 0.7, 1.0]):
        theirs = torch.lerp(torch.full((32,), s), torch.full((32,), e), w)[0]
        for n in (0, 1, 32):
            shape = () if n == 0 else (n,)
            ours = tg.lerp(tg.full(shape, s), tg.full(shape, e), w).numpy().reshape(-1)[0]
            assert np.signbit(ours) == np.signbit(theirs.item()), (s, e, w, n)


@settings(max_examples=80, deadline=None)
@given(x=floats(np.float16, scale=False))
def test_frexp_float16_gradient_is_torchs(x: np.ndarray) -> None:
    """The mantissa's gradient g 2^-exponent is computed in float32 and rounded (torch's): for a float16 subnormal
    (exponent -16 and below) 2^16 overflows float16, but g 2^16 need not (1e-4 2^16 = 6.55, not inf)."""
    x = x * np.float16(1e-4)
    ours, theirs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (m, e), (tm, te) = tg.frexp(ours), torch.frexp(theirs)
    same_bits(m, tm)
    np.testing.assert_array_equal(e.numpy(), te.numpy())
    w = (np.random.default_rng(x.size).standard_normal(x.shape) * 1e-3).astype(np.float16)
    m.backward(tg.tensor(w))
    tm.backward(torch.tensor(w))
    same_bits(ours.grad, theirs.grad)


def test_frexp_float16_subnormal_example() -> None:
    x = tg.tensor(np.array([1e-5], np.float16), requires_grad=True)
    m, e = tg.frexp(x)
    m.backward(tg.tensor(np.array([1e-4], np.float16)))
    assert (m.item(), e.item()) == (np.float16(0.6562), -16) and np.isfinite(x.grad.item())


@pytest.mark.parametrize("dtype, bits", [(np.int32, 31), (np.int64, 63)])
def test_ldexp_gradient_sign_at_the_top_exponent(dtype: Any, bits: int) -> None:
    """x's gradient is g 2^e, exact and of g's sign (a float32 denormal x too); torch's is g times 2^e as an integer
    of e's dtype, which wraps to -2^(bits) at e = bits (README): the sign of the gradient, -0 included, flips."""
    x = np.array([1e-40, -1e-45, 0.0, 2.0], np.float32)
    g = np.array([1.0, -0.0, -2.0, 0.5], np.float32)
    ours = tg.tensor(x, requires_grad=True)
    tg.ldexp(ours, tg.tensor(np.full(4, bits, dtype))).backward(tg.tensor(g))
    np.testing.assert_array_equal(ours.grad.numpy(), g * np.float32(2.0**bits))
    np.testing.assert_array_equal(np.signbit(ours.grad.numpy()), np.signbit(g))
    theirs = torch.tensor(x, requires_grad=True)
    torch.ldexp(theirs, torch.full((4,), bits, dtype=getattr(torch, np.dtype(dtype).name))).backward(torch.tensor(g))
    np.testing.assert_array_equal(np.signbit(theirs.grad.numpy()), ~np.signbit(g))  # torch's wrapped power


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_ldexp_exponent_gradient_is_rounded_once(data: st.DataObject) -> None:
    """The gradient for a floating e, g x 2^e ln 2, is the float64 value rounded once to float32: at a denormal x
    torch's (g x) (2^e ln 2) rounds g x first (x = 1e-45, e = 0, g = -0.6: -1.4e-45 there, -0 here), and past
    float32's range it overflows (g = 2, x = 3e38, e = 0: inf there, 4.2e38 ln 2 here); elsewhere the two agree to
    rounding."""
    shape = data.draw(SHAPES)
    x = data.draw(floats(np.float32, shape))
    e = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(-30, 30, width=32) | st.integers(-130, 130)))
    w = np.random.default_rng(x.size).standard_normal(x.shape).astype(np.float32)
    es, et = tg.tensor(e, requires_grad=True), torch.tensor(e, requires_grad=True)
    tg.ldexp(tg.tensor(x), es).backward(tg.tensor(w))
    torch.ldexp(torch.tensor(x), et).backward(torch.tensor(w))
    with np.errstate(all="ignore"):
        scale = np.exp2(e).astype(np.float64)  # 2^e in float32, as the forward's
        ref = (w.astype(np.float64) * x * scale * np.log(2)).astype(np.float32)
    same_bits(es.grad, tg.tensor(ref))
    wide = w.astype(np.float64)
    with np.errstate(all="ignore"):  # (else a product of torch's overflows: inf where the gradient is finite; x 2^e
        # too: x = 3e38, e = 1, found by a local hypothesis run)
        fits = np.maximum.reduce([np.abs(wide * x), np.abs(wide * scale), np.abs(wide * x * scale),
                                  np.abs(x * scale)]) < 1e38
    np.testing.assert_allclose(es.grad.numpy()[fits], et.grad.numpy()[fits], rtol=1e-5, atol=3e-45, equal_nan=True)


def test_ldexp_exponent_gradient_denormal_example() -> None:
    e = tg.tensor(np.float32(0.0), requires_grad=True)
    tg.ldexp(tg.tensor(np.float32(1e-45)), e).backward(tg.tensor(np.float32(-0.6)))
    assert e.grad.item() == 0 and np.signbit(e.grad.item())


# ---------------------------------------------------------------------------------------------- RAdam
def _radam_run(grads: np.ndarray, p0: np.ndarray, impl: str, **kw: Any) -> np.ndarray:
    p = tg.tensor(p0.copy(), requires_grad=True)
    opt = RAdam([p], impl=impl, **kw)
    out = []
    for g in grads:
        p.grad = tg.tensor(g)
        opt.step()
        out.append(p.numpy().copy())
    return np.array(out)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), beta1=st.sampled_from([0.0, 0.5, 0.9]), beta2=st.sampled_from([0.5, 0.9, 0.999]),
       wd=st.sampled_from([0.0, 0.1]), decoupled=st.booleans())
def test_radam_after_an_infinite_gradient(data: st.DataObject, beta1: float, beta2: float, wd: float,
                                          decoupled: bool) -> None:
    """After an inf gradient m_t = beta1 m + (1 - beta1) g is inf (the algorithm as torch documents it): the
    weight goes to -+inf while the step is SGD-like (rho_t <= 5) and to nan once the adaptive step divides inf by
    sqrt(v) = inf. All our implementations agree; where torch's lerp_ gives no nan (1 - beta1 < 0.5 and a finite
    start), its inf/nan pattern is ours."""
    steps = data.draw(st.integers(1, 8))
    grads = np.random.default_rng(steps).standard_normal((steps, 3)).astype(np.float32)
    grads[data.draw(st.integers(0, steps - 1)), data.draw(st.integers(0, 2))] = data.draw(st.sampled_from(
        [np.inf, -np.inf]))
    p0 = np.array([0.5, -1.0, 2.0], np.float32)
    kw = {"lr": 0.1, "betas": (beta1, beta2), "weight_decay": wd, "decoupled_weight_decay": decoupled}
    runs = [_radam_run(grads, p0, impl, **kw) for impl in ("reference", "numpy", "numba")]
    for other in runs[1:]:  # (equal to rounding, as tests/test_radam.py checks them; inf and nan where they are)
        np.testing.assert_allclose(other, runs[0], rtol=1e-6, atol=0)
    first = int(np.argmax(~np.isfinite(grads).all(axis=1)))
    col = ~np.isfinite(grads[first])
    assert not np.isfinite(runs[0][first:, col]).any()  # the parameter never comes back
    p = torch.tensor(p0.copy(), requires_grad=True)
    opt = torch.optim.RAdam([p], **kw)
    for i, g in enumerate(grads):
        p.grad = torch.tensor(g)
        opt.step()
        if i == first and 1 - beta1 < 0.5:  # torch's m = lerp(m, inf, w) = m + w (inf - m) = inf: the same step
            theirs = p.detach().numpy()
            np.testing.assert_array_equal(np.isnan(theirs), np.isnan(runs[0][i]))
            np.testing.assert_array_equal(np.isinf(theirs), np.isinf(runs[0][i]))


def test_radam_inf_then_finite_stays_inf_where_torch_gives_nan() -> None:
    """The reported case: rho_t stays <= 5 (beta2 = 0.5), an inf gradient, then finite ones: ours keeps m = inf and
    the weight -inf; torch's lerp_(m, g, 0.01) = inf + 0.01 (g - inf) is nan (README)."""
    grads = np.array([[1.0], [np.inf], [1.0], [1.0]], np.float32)
    kw = {"lr": 0.1, "betas": (0.99, 0.5)}
    ours = _radam_run(grads, np.array([1.0], np.float32), "reference", **kw)
    assert (ours[1:] == -np.inf).all()
    p = torch.tensor([1.0], requires_grad=True)
    opt = torch.optim.RAdam([p], **kw)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    assert torch.isnan(p).all()


# ---------------------------------------------------------------------------------------------- Kumaraswamy
@settings(max_examples=80, deadline=None)
@given(a=st.floats(0.01, 100), b=st.floats(0.01, 100))
def test_kumaraswamy_moments_in_float32_at_least_as_accurate_as_torch(a: float, b: float) -> None:
    """mean and variance of float32 concentrations: the float64 value (of the float32 inputs) rounded once, so never
    further from it than torch's float32 (at a = b = 0.01 torch's variance is 0.041431, the value 0.041391); float32
    results, and the gradients to the concentrations flow (torch's float64 ones)."""
    a32, b32 = float(np.float32(a)), float(np.float32(b))
    ca, cb = tg.tensor(a32, requires_grad=True), tg.tensor(b32, requires_grad=True)
    ours = Kumaraswamy(ca, cb)
    ref = torch.distributions.Kumaraswamy(torch.tensor(a32, dtype=torch.float64, requires_grad=True),
                                          torch.tensor(b32, dtype=torch.float64, requires_grad=True))
    theirs = torch.distributions.Kumaraswamy(torch.tensor(a32), torch.tensor(b32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for stat in ("mean", "variance"):
            o, r, t = getattr(ours, stat), getattr(ref, stat), getattr(theirs, stat)
            assert o.dtype == np.float32
            exact = r.item()
            err = abs(o.item() - exact)
            assert err <= abs(t.item() - exact) + 4 * np.spacing(np.float32(abs(exact))), (stat, o.item(), exact)
        (ours.mean + ours.variance).backward()
        (ref.mean + ref.variance).backward()
    for mine, theirs_leaf in ((ca, ref.concentration1), (cb, ref.concentration0)):
        np.testing.assert_allclose(mine.grad.numpy(), theirs_leaf.grad.numpy(), rtol=1e-4, atol=1e-30)


def test_kumaraswamy_small_concentration_example() -> None:
    d = Kumaraswamy(tg.tensor(0.01), tg.tensor(0.01))
    ref = torch.distributions.Kumaraswamy(torch.tensor(np.float32(0.01).item(), dtype=torch.float64),
                                          torch.tensor(np.float32(0.01).item(), dtype=torch.float64))
    assert d.variance.item() == np.float32(ref.variance.item())
    assert d.mean.item() == np.float32(ref.mean.item())


# ---------------------------------------------------------------------------------------------- the GPU
def _edge_program(device: str) -> list[np.ndarray]:
    """Values and gradients of the ops changed here, on ``device``."""
    x = tg.tensor(np.array([[2.3e-32, 0.0, 1e20], [-12.0, 1e-5, 3.0]], np.float32), device=device, requires_grad=True)
    h = tg.tensor(np.array([-12.0, 1e-5, 6e-8, 3.0], np.float16), device=device, requires_grad=True)
    e = tg.tensor(np.array([0.5, -1.0, 2.0], np.float32), device=device, requires_grad=True)
    parts = [*tg.var_mean(x, 1), *tg.std_mean(x, 0), x.std(), x.var(1), tg.sigmoid(h), tg.nn.functional.logsigmoid(h),
             tg.frexp(h)[0], tg.ldexp(x[0], e)]
    tg.stack([p.float().sum() for p in parts]).sum().backward()
    return [p.numpy() for p in parts] + [x.grad.numpy(), h.grad.numpy(), e.grad.numpy()]


@pytest.mark.gpu
def test_gpu_gives_the_cpus_values_and_gradients() -> None:
    for gpu, cpu in zip(_edge_program("cuda"), _edge_program("cpu")):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-6, equal_nan=True)


def test_float32_var_at_a_tie_rounds_as_its_exact_value() -> None:
    """64 values, one of them 1e4: the variance is 1538085.9375, halfway between two float32s; ours rounds it to
    even (1538086), torch's float64 Welford is 2e-10 low (1538085.93749999) and rounds down to 1538085.875."""
    x = np.zeros(64, np.float32)
    x[37] = 1e4
    var, mean = tg.var_mean(tg.tensor(x), correction=0)
    assert var.item() == 1538086.0 and mean.item() == 156.25
