"""The seventeenth audit for silent wrong answers, against PyTorch: regressions for what it found and fixed.

- ``autograd.grad`` / ``backward(inputs=...)`` fill the ``.grad`` of a tensor that called ``retain_grad()`` wherever
  its gradient is computed (torch's retain_grad hook), and only there;
- ``permute()`` needs one dim per dim (no dims raised in torch, ours reversed them);
- float16 ``*``, ``/``, ``//`` by a number or a 0-d tensor of another dtype compute in float32 with the scalar as a
  float32 ("opmath") and round once, as torch's CPU kernels;
- ``lerp`` is torch's kernel bit for bit: one fused multiply-add from the nearer end, float16 in float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
from tinygrad_adam import autograd

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def same_bits(ours: Any, theirs: Any) -> None:
    """Equal dtype, shape and values, nan where nan, and the sign of every zero."""
    o, t = np.asarray(ours.numpy() if hasattr(ours, "numpy") else ours), theirs.detach().numpy()
    assert o.dtype == t.dtype and o.shape == t.shape, (o.dtype, t.dtype, o.shape, t.shape)
    nan = np.isnan(t)
    np.testing.assert_array_equal(np.isnan(o), nan)
    np.testing.assert_array_equal(o[~nan], t[~nan])
    np.testing.assert_array_equal(np.signbit(o[~nan]), np.signbit(t[~nan]))


# ------------------------------------------------------------------------------------- retain_grad with grad()
def chain(lib: Any, retained: str) -> tuple[Any, ...]:
    """x -> y = 2x -> u = 3y -> loss = sum(u u), with ``retained`` ("y", "u") calling retain_grad()."""
    x = lib.ones(2, requires_grad=True)
    y = x * 2
    u = y * 3
    dict(y=y, u=u)[retained].retain_grad()
    return x, y, u, (u * u).sum()


@pytest.mark.parametrize("retained", ["y", "u"])
@pytest.mark.parametrize("wrt", ["x", "y", "u"])
@pytest.mark.parametrize("how", ["grad", "backward", "grad_create_graph"])
def test_retain_grad_is_filled_where_the_gradient_is_computed(retained: str, wrt: str, how: str) -> None:
    results = []
    for lib, run in ((tg, autograd), (torch, torch.autograd)):
        x, y, u, loss = chain(lib, retained)
        inputs = [dict(x=x, y=y, u=u)[wrt]]
        if how == "backward":
            loss.backward(inputs=inputs)
            got = inputs[0].grad
        else:
            got, = run.grad(loss, inputs, create_graph=how == "grad_create_graph")
        held = dict(y=y, u=u)[retained].grad
        results.append((got.detach().numpy(), None if held is None else held.detach().numpy(),
                        None if held is None else held.requires_grad))
    (g_ours, h_ours, r_ours), (g_torch, h_torch, r_torch) = results
    np.testing.assert_array_equal(g_ours, g_torch)
    assert (h_ours is None) == (h_torch is None), (h_ours, h_torch)
    if h_torch is not None:
        np.testing.assert_array_equal(h_ours, h_torch)
        assert r_ours == r_torch


def test_retain_grad_by_grad_accumulates_and_never_aliases_the_result() -> None:
    x = tg.ones(2, requires_grad=True)
    y = x * 2
    y.retain_grad()
    g, = autograd.grad((y * y).sum(), [y], retain_graph=True)
    g.data[0] = 99.0  # the returned gradient is not y.grad's array
    np.testing.assert_array_equal(y.grad.numpy(), [4.0, 4.0])
    autograd.grad((y * y).sum(), [x])
    np.testing.assert_array_equal(y.grad.numpy(), [8.0, 8.0])
    assert x.grad is None


def test_retain_grad_off_the_path_to_the_inputs_stays_none() -> None:
    x, w = tg.ones(2, requires_grad=True), tg.ones(2, requires_grad=True)
    y = w * 2
    y.retain_grad()
    autograd.grad((y * x).sum(), [x])
    assert y.grad is None and w.grad is None


# ------------------------------------------------------------------------------------------------------ permute
@pytest.mark.parametrize("shape", [(), (2, 3), (2, 3, 4)])
def test_permute_without_dims_raises_as_torch(shape: tuple[int, ...]) -> None:
    with pytest.raises(TypeError):
        torch.ones(shape).permute()
    with pytest.raises(TypeError):
        tg.ones(shape).permute()


@pytest.mark.parametrize(("shape", "dims"), [((2, 3), ()), ((2, 3), (0,)), ((2, 3, 4), (1, 0)), ((), (0,))])
def test_permute_with_the_wrong_number_of_dims_raises(shape: tuple[int, ...], dims: tuple[int, ...]) -> None:
    with pytest.raises((RuntimeError, IndexError)):
        torch.ones(shape).permute(dims)
    with pytest.raises((ValueError, IndexError)):
        tg.ones(shape).permute(dims)


def test_permute_of_a_0d_tensor_with_empty_dims() -> None:
    assert tg.tensor(3.0).permute(()).shape == () and tg.tensor(3.0).permute([]).shape == ()
    assert tg.ones(2, 3, 4).permute(2, 0, 1).shape == (4, 2, 3) == tg.ones(2, 3, 4).permute((2, 0, 1)).shape


# ----------------------------------------------------------------------------- float16 by a scalar: float32 opmath
HALVES = hnp.arrays(np.float16, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5),
                    elements=st.floats(width=16, allow_nan=True, allow_infinity=True))
SCALARS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                    st.integers(-5000, 5000), st.sampled_from([0.1, 1.1, 3.3, -0.7, 1e-8, 7.77, 2049]))

HALF_OPS = {
    "mul": lambda x, s: x * s, "rmul": lambda x, s: s * x, "div": lambda x, s: x / s,
    "floordiv": lambda x, s: x // s, "mul_": lambda x, s: x.clone().mul_(s), "div_": lambda x, s: x.clone().div_(s),
    "imul": lambda x, s: x.clone().__imul__(s), "div_floor": lambda x, s: x.div(s, rounding_mode="floor"),
    "div_trunc": lambda x, s: x.div(s, rounding_mode="trunc"),
}


@settings(max_examples=150, deadline=None)
@given(x=HALVES, s=SCALARS, op=st.sampled_from(sorted(HALF_OPS)), zero_d=st.sampled_from([None, "float32", "float64"]))
def test_float16_times_a_scalar_computes_in_float32(x: np.ndarray, s: float, op: str, zero_d: str | None) -> None:
    f = HALF_OPS[op]
    if zero_d is not None:  # the scalar as a 0-d tensor of another dtype: the same float32 opmath in torch
        if op == "rmul":
            return  # a 0-d tensor first is cast to float16 by torch (a number first is __rmul__: opmath)
        ours_s = tg.tensor(float(s), dtype=getattr(tg, zero_d))
        torch_s = torch.tensor(float(s), dtype=getattr(torch, zero_d))
    else:
        ours_s = torch_s = s
    try:
        expected = f(torch.from_numpy(x.copy()), torch_s)
    except RuntimeError:  # e.g. a float16 0-d tensor by a float64 0-d one: torch refuses the in-place result dtype
        with pytest.raises((RuntimeError, TypeError, ValueError)):
            f(tg.tensor(x), ours_s)
        return
    with np.errstate(all="ignore"):
        got = f(tg.tensor(x), ours_s)
    same_bits(got, expected)


def test_float16_scalar_examples_from_the_brief() -> None:
    x = tg.tensor([1.1, 2.2], dtype=tg.float16)
    assert (x * 0.1).numpy().tolist() == [0.1099853515625, 0.219970703125]
    p = x.clone()
    p *= 0.1
    assert p.numpy().tolist() == [0.1099853515625, 0.219970703125]
    assert (tg.tensor([1.5], dtype=tg.float16) * 2049).item() == 3074.0  # float16(2049) would give 3072


def test_float16_times_a_scalar_gradient_is_rounded_once() -> None:
    x = np.array([1.1, 2.2, -3.3], dtype=np.float16)
    a, b = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (a * 0.1).backward(tg.tensor(x))
    (b * 0.1).backward(torch.tensor(x))
    same_bits(a.grad, b.grad)


# ------------------------------------------------------------------------------------------------ lerp, bit exact
def lerp_values(dtype: type, shape: Any, big: bool = True) -> st.SearchStrategy[np.ndarray]:
    """Values of ``dtype`` (drawn as float64, rounded): ordinary, huge, nan and inf, no subnormal (a subnormal float64
    result can be off by its last bit: see binary.fma)."""
    top = float(np.finfo(dtype).max)
    low = float(np.finfo(dtype).tiny) * 2.0 ** (4 if dtype == np.float16 else 40)
    elements = st.one_of(st.floats(-1e6, 1e6), st.floats(low, 1.0),
                         st.sampled_from([0.0, -0.0, 1.0, -1.0]))
    if big:
        elements = st.one_of(elements, st.floats(-top / 4, top / 4), st.sampled_from([np.inf, -np.inf, np.nan, top]))
    return hnp.arrays(np.float64, shape, elements=elements).map(lambda a: a.astype(dtype))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float64, np.float32, np.float16]),
       weight=st.one_of(st.sampled_from([0.1, 0.5, -0.5, 0.49999, 0.3333, -0.7, 1.1, 2.0, 0.0, -0.0, 1.0]),
                        st.floats(-3, 3), st.just("tensor")))
def test_lerp_is_torchs_fused_multiply_add(data: Any, dtype: type, weight: Any) -> None:
    with np.errstate(over="ignore"):
        s = data.draw(lerp_values(dtype, st.integers(0, 12)))
        e = data.draw(lerp_values(dtype, s.shape, big=False))
    if weight == "tensor":
        w = data.draw(hnp.arrays(np.float64, s.shape, elements=st.floats(-3, 3))).astype(dtype)
        ours_w, torch_w = tg.tensor(w), torch.from_numpy(w)
    else:
        ours_w = torch_w = weight
    with np.errstate(all="ignore"):
        got = tg.lerp(tg.tensor(s), tg.tensor(e), ours_w)
    expected = torch.lerp(torch.from_numpy(s), torch.from_numpy(e), torch_w)
    finite = np.isfinite(expected.numpy()) & (np.abs(expected.numpy()) >= np.finfo(dtype).tiny)
    zero = expected.numpy() == 0  # torch's sign of an exact zero depends on the element's place (vector or tail)
    o, t = got.numpy(), expected.numpy()
    assert o.dtype == t.dtype and o.shape == t.shape
    np.testing.assert_array_equal(o[finite], t[finite])
    np.testing.assert_array_equal(np.isnan(o), np.isnan(t))
    assert (o[zero] == 0).all()


@pytest.mark.parametrize(("s", "e", "w"), [
    (2247857324598931.5, 1e-310, -0.5),  # an exact tie before the tiny addend: needs the single rounding
    (4.69809543775799e-13, 1e308, -1.3773748347668981),  # (w - 1)(e - s) overflows; the fma does not
    (-0.02892284645923461, -1e308, 1e-300),  # e - s beyond 2^996: split scaled
    (5e-324, -1e308, 0.0),
])
def test_lerp_float64_hard_cases(s: float, e: float, w: float) -> None:
    expected = torch.lerp(torch.tensor([s], dtype=torch.float64), torch.tensor([e], dtype=torch.float64),
                          torch.tensor([w], dtype=torch.float64))
    same_bits(tg.lerp(tg.tensor([s], dtype=tg.float64), tg.tensor([e], dtype=tg.float64),
                      tg.tensor([w], dtype=tg.float64)), expected)


def test_lerp_float32_tie_with_a_tiny_end() -> None:
    s = np.array([-0.000173963, 8.833172e+10, 1.437156e+17], dtype=np.float32)
    e = np.array([-9.1478954e-21, -7.968043e-10, -6.64936e-26], dtype=np.float32)
    same_bits(tg.lerp(tg.tensor(s), tg.tensor(e), -0.5), torch.lerp(torch.from_numpy(s), torch.from_numpy(e), -0.5))


# ------------------------------------------------------------------------- reductions' dtype=, uint8, any / all
INT_ARRAYS = st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_]).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4)))
REDUCERS = {
    "sum": lambda x, d: x.sum(dtype=d), "sum0": lambda x, d: x.sum(0, dtype=d) if x.ndim else x.sum(dtype=d),
    "prod": lambda x, d: x.prod(dtype=d), "cumsum": lambda x, d: x.cumsum(0, dtype=d),
    "cumprod": lambda x, d: x.cumprod(0, dtype=d), "nansum": lambda x, d: x.nansum(dtype=d),
}


@settings(max_examples=150, deadline=None)
@given(x=INT_ARRAYS, op=st.sampled_from(sorted(REDUCERS)),
       dtype=st.sampled_from([None, "int8", "int16", "int32", "int64", "uint8", "float32", "float64"]))
@example(x=np.array([[16777211, 1, 1, 1], [1, 1, 1, 1]], dtype=np.int32), op="nansum", dtype="float32")
def test_integer_reductions_honour_dtype_as_torch(x: np.ndarray, op: str, dtype: str | None) -> None:
    """dtype=int32 accumulates in int32 (wrapping), uint8 and bool sum to int64 (numpy: uint64)."""
    f = REDUCERS[op]
    expected = f(torch.from_numpy(np.array(x)), None if dtype is None else getattr(torch, dtype))
    with np.errstate(all="ignore"):
        got = f(tg.tensor(x), None if dtype is None else getattr(tg, dtype))
    if dtype in ("float32", "float64"):  # float sums / products round in each library's own order:
        o = got.numpy()  # [16777211] + [1] * 7 in float32 is the exact 16777218 here, torch's one-at-a-time 16777216
        assert o.dtype == expected.numpy().dtype and o.shape == tuple(expected.shape)
        np.testing.assert_allclose(o, expected.numpy(), rtol=max(x.size, 1) * np.finfo(dtype).eps, atol=0)
        return
    same_bits(got, expected)


@settings(max_examples=60, deadline=None)
@given(x=INT_ARRAYS, dim=st.sampled_from([None, 0, -1]), keepdim=st.booleans())
def test_any_all_of_uint8_are_uint8(x: np.ndarray, dim: int | None, keepdim: bool) -> None:
    for name in ("any", "all"):
        t = torch.from_numpy(np.array(x))
        if dim is not None and not x.ndim:
            continue
        expected = getattr(t, name)() if dim is None else getattr(t, name)(dim, keepdim)
        ours = tg.tensor(x)
        same_bits(getattr(ours, name)() if dim is None else getattr(ours, name)(dim, keepdim), expected)


@pytest.mark.parametrize("name", ["gcd", "lcm"])
@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "uint8"])
def test_gcd_lcm_keep_the_tensor_dtype_against_a_0d_tensor(name: str, dtype: str) -> None:
    a = np.array([4, 6, 9, 0, 12], dtype=dtype)
    expected = getattr(torch, name)(torch.from_numpy(a), torch.tensor(6))
    same_bits(getattr(tg, name)(tg.tensor(a), tg.tensor(6)), expected)


# ------------------------------------------------------------------------------------ inverse / solve of a NaN
@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(1, 4), batch=st.sampled_from([(), (2,), (2, 1)]),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_inverse_and_solve_of_a_matrix_holding_nan_are_all_nan(data: Any, n: int, batch: tuple[int, ...],
                                                                dtype: type) -> None:
    a = (np.random.default_rng(n).standard_normal(batch + (n, n)) + 3 * np.eye(n)).astype(dtype)
    where = tuple(data.draw(st.integers(0, s - 1)) for s in a.shape)
    a[where] = np.nan
    b = np.ones(batch + (n, 2), dtype=dtype)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    pairs = [(tg.linalg.inv(tg.tensor(a)), torch.linalg.inv(ta)),
             (tg.linalg.solve(tg.tensor(a), tg.tensor(b)), torch.linalg.solve(ta, tb)),
             (tg.linalg.matrix_power(tg.tensor(a), -1), torch.linalg.matrix_power(ta, -1))]
    for got, expected in pairs:
        assert got.dtype == expected.detach().numpy().dtype
        np.testing.assert_array_equal(np.isnan(got.numpy()), np.isnan(expected.numpy()))
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)


def inverse_and_gradients(lib: Any, a: np.ndarray, b: np.ndarray | None) -> Any:
    """inv(A) (b None) or solve(A, B) and the gradients of their sum, as arrays; "singular" where it raises."""
    ta = lib.tensor(a, requires_grad=True)
    tb = None if b is None else lib.tensor(b, requires_grad=True)
    try:
        x = lib.linalg.inv(ta) if tb is None else lib.linalg.solve(ta, tb)
    except Exception:  # torch: LinAlgError (a RuntimeError); ours: the same, also a ValueError
        return "singular"
    x.sum().backward()
    return [x.detach().numpy(), ta.grad.numpy()] + ([] if tb is None else [tb.grad.numpy()])


@settings(max_examples=150, deadline=None)
@given(a=hnp.arrays(np.float64, st.tuples(st.sampled_from([1, 2]), st.integers(1, 3), st.integers(1, 3)).map(
    lambda s: (s[0], s[1], s[1])), elements=st.sampled_from([0.0, 1.0, -1.0, 2.0, 3.0, np.nan, np.inf, -np.inf])),
    dtype=st.sampled_from([np.float64, np.float32]))
@example(a=np.array([[[np.nan, 1.0], [1.0, 1.0]]]), dtype=np.float32)
@example(a=np.array([[[0.0, 0.0], [np.nan, 1.0]]]), dtype=np.float64)
@example(a=np.array([[[np.nan, 0.0], [0.0, 0.0]]]), dtype=np.float32)
@example(a=np.array([[[np.inf, 0.0], [np.inf, 2.0]]]), dtype=np.float64)
def test_inverse_solve_and_pivots_of_matrices_holding_nan_inf_and_zeros_as_torch(a: np.ndarray, dtype: type) -> None:
    """Where a nan or inf meets zero pivots, what comes out depends on the pivot order and the operations: torch's
    (BLAS's i?amax) passes a nan over unless it is the column's first element; numpy's LAPACK raised "singular" for
    [[nan, 1], [1, 1]] (torch: all nan), gave nan for [[0, 0], [nan, 1]] (torch raises) and a finite inverse of
    [[inf, 0], [inf, 2]] (torch: nan). Values, nan positions, gradients, pivots and info as torch's."""
    a = a.astype(dtype)
    b = np.arange(a.shape[-1] * 2, dtype=dtype).reshape(a.shape[-1], 2)
    # A matrix singular in exact arithmetic whatever its nan / inf entries stand for (small integers: the det is
    # exact; two stand-ins for those entries) keeps a pivot that is 0 up to rounding, and each LAPACK's rounding (an
    # FMA or not: 1 - fl(1/3) * 3 is 0 or 5.6e-17) decides whether it raises, and its pivots and info
    exactly_singular = np.ones(a.shape[0], bool)
    for stand_in in (0.37, -1.91):
        exactly_singular &= np.abs(np.linalg.det(np.where(np.isfinite(a), a, stand_in).astype(np.float64))) < 1e-9
    for rhs in (None, b):
        got, expected = inverse_and_gradients(tg, a, rhs), inverse_and_gradients(torch, a, rhs)
        if exactly_singular.any() and isinstance(got, str) != isinstance(expected, str):
            continue
        assert isinstance(got, str) == isinstance(expected, str), (a, got, expected)
        for ours, theirs in zip(got, expected) if isinstance(got, list) else ():
            np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
            # float32: an exact 0 beside entries of 21 is torch's rounding noise of their size (1.4e-6), ours 0
            scale = np.nanmax(np.abs(np.where(np.isinf(theirs), 0, theirs)), initial=1.0)
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6 * (scale if dtype == np.float32 else 1))
    ours, theirs = tg.linalg.lu_factor_ex(tg.tensor(a)), torch.linalg.lu_factor_ex(torch.from_numpy(a))
    kept = ~exactly_singular
    np.testing.assert_array_equal(ours.pivots.numpy()[kept], theirs.pivots.numpy()[kept])
    np.testing.assert_array_equal(ours.info.numpy()[kept], theirs.info.numpy()[kept])
    np.testing.assert_array_equal(tg.linalg.inv_ex(tg.tensor(a)).info.numpy()[kept],
                                  torch.linalg.inv_ex(torch.from_numpy(a)).info.numpy()[kept])


@settings(max_examples=150, deadline=None)
@given(a=hnp.arrays(np.float64, st.tuples(st.sampled_from([1, 2]), st.integers(1, 4)).map(lambda s: (s[0], s[1], s[1])),
                    elements=st.sampled_from([0.0, 1.0, -1.0, 2.0, -3.0, np.nan, np.inf, -np.inf])),
       dtype=st.sampled_from([np.float64, np.float32]))
@example(a=np.array([[[0.0, np.inf], [np.nan, 1.0]]]), dtype=np.float64)
@example(a=np.array([[[1.0, 1.0], [-np.inf, np.inf]]]), dtype=np.float32)
def test_det_and_slogdet_of_matrices_holding_inf_or_nan_as_torch(a: np.ndarray, dtype: type) -> None:
    """torch factors A^T for det / slogdet, and where an inf or nan is in the matrix that decides the answer: numpy's
    LAPACK gave det 0 for [[0, inf], [nan, 1]] (torch nan) and nan for [[1, 1], [-inf, inf]] (torch inf). det, sign,
    log |det| and (where the sign is not 0) log |det|'s gradient as torch's; finite matrices to rounding."""
    a = a.astype(dtype)
    got, expected = [], []
    for lib, out in ((tg, got), (torch, expected)):
        x = lib.tensor(a, requires_grad=True)
        sign, logabs = lib.linalg.slogdet(x)
        logabs.sum().backward()
        sign = sign.detach().numpy()
        out += [lib.linalg.det(lib.tensor(a)).numpy(), sign, logabs.detach().numpy(),
                np.where((sign != 0)[..., None, None], x.grad.numpy(), 0)]
    # A finite matrix that is exactly singular (its integer det is 0) has a det of rounding noise, whose sign torch's
    # LAPACK decides by how its kernels round (on AVX-512 machines det [[-3, 1], [-3, 1]] is -1.7e-16, sign -1):
    # there only the det itself is compared.
    noise = np.array([np.isfinite(m).all() and exact_det(m) == 0 for m in a])
    for k, (ours, theirs) in enumerate(zip(got, expected)):
        if k > 0:
            ours, theirs = ours[~noise], theirs[~noise]
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        np.testing.assert_allclose(ours, theirs, rtol=2e-6 if dtype == np.float64 else 2e-5, atol=1e-6)


def exact_det(m: np.ndarray) -> int:
    """The determinant of a small matrix of integers, exactly (Laplace expansion along the first row)."""
    if len(m) == 1:
        return int(m[0, 0])
    return sum((-1) ** j * int(m[0, j]) * exact_det(np.delete(m[1:], j, axis=1)) for j in range(len(m)))


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float64, st.tuples(st.integers(0, 3), st.just(1), st.just(1)),
                    elements=st.floats(min_value=-800, max_value=800)
                    | st.sampled_from([np.inf, -np.inf, np.nan, 88.8, -104.0])),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_matrix_exp_of_a_1x1_matrix_is_exp_as_torch(x: np.ndarray, dtype: type) -> None:
    """A 1 x 1 matrix's exponential is exp of its entry, inf and -inf included (0 and inf as torch; ours gave nan
    through the Pade approximant's all-nan rule for non-finite matrices). The gradient stays the block formula's,
    nan at +-inf in both."""
    x = x.astype(dtype)
    got, expected = [], []
    for lib, out in ((tg, got), (torch, expected)):
        t = lib.tensor(x, requires_grad=True)
        y = lib.linalg.matrix_exp(t)
        y.sum().backward()
        out += [y.detach().numpy(), t.grad.numpy()]
    # (float32's subnormal range: at -92.5 torch's block formula gives the gradient 6.7316e-41, 40 subnormal steps
    # from exp(-92.5) = 6.7261e-41, which ours gives)
    atol = 1e-300 if dtype == np.float64 else 1e-3 * float(np.finfo(np.float32).tiny)
    with np.errstate(over="ignore"):
        exact = np.exp(x.astype(np.float64))  # (the value and, for a 1 x 1 matrix, the gradient too)
    for ours, theirs in zip(got, expected):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        rtol = 3e-7 if dtype == np.float64 else 3e-4
        close = np.isclose(ours, theirs, rtol=rtol, atol=atol, equal_nan=True)
        with np.errstate(invalid="ignore"):  # or no farther from exp(x) than torch's: float32 [[-80.]]'s gradient
            close |= np.abs(ours - exact) <= np.abs(theirs - exact)  # is 1.4e-4 off here, 5.4e-4 in torch
        assert close.all(), (ours, theirs, exact)


# ------------------------------------------------------------------------------ nn.init on zero-element tensors
@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0), (2, 0, 3, 3)])
@pytest.mark.parametrize("init", ["kaiming_uniform_", "kaiming_normal_", "orthogonal_"])
def test_init_of_a_zero_element_tensor_is_a_no_op_as_torch(shape: tuple[int, ...], init: str) -> None:
    t = torch.empty(shape)
    with pytest.warns(UserWarning) if init != "orthogonal_" else np.errstate():
        getattr(torch.nn.init, init)(t)
    ours = tg.empty(*shape)
    with pytest.warns(UserWarning) if init != "orthogonal_" else np.errstate():
        assert getattr(tg.nn.init, init)(ours) is ours
    assert ours.shape == tuple(t.shape)


# ------------------------------------------------------------------------- float16 cumsum accumulates in float32
@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 2500)),
                    elements=st.floats(-100, 100)).map(lambda a: a.astype(np.float16)),
       dim=st.sampled_from([0, 1, -1]))
@example(x=np.zeros((1, 3), np.float16), dim=0)
def test_float16_cumsum_values_and_gradient_as_torch(x: np.ndarray, dim: int) -> None:
    a, b = tg.tensor(x, requires_grad=True), torch.from_numpy(x).requires_grad_(True)
    w = np.random.default_rng(x.size).standard_normal(x.shape).astype(np.float16)
    w.flat[-1] = -0.0  # (over a dim of size 1 torch's backward hands g back as it is: -0.0 stays -0.0)
    out, expected = a.cumsum(dim), b.cumsum(dim)
    same_bits(out, expected)
    with np.errstate(over="ignore"):
        (out * tg.tensor(w)).sum().backward()
    (expected * torch.from_numpy(w)).sum().backward()
    same_bits(a.grad, b.grad)


def test_float16_cumsum_of_many_tenths_does_not_stick_at_256() -> None:
    assert tg.tensor(np.full(3000, 0.1, np.float16)).cumsum(0)[-1].item() == 300.0


# ------------------------------------------------------------------------------ the same on the GPU (fake cupy)
def gpu_program(device: str) -> list[Any]:
    """This audit's fixes on one device: float16 opmath, lerp's fma, integer reductions, uint8 any, NaN inverse,
    float16 cumsum and its gradient."""
    s = tg.tensor([2247857324598931.5, 0.3, -7.0], dtype=tg.float64, device=device)
    e = tg.tensor([1e-310, 1e308, 2.0], dtype=tg.float64, device=device)
    h = tg.tensor(np.linspace(-3, 3, 7, dtype=np.float16), device=device, requires_grad=True)
    a = tg.tensor([[np.nan, 1.0], [2.0, 3.0]], dtype=tg.float64, device=device)
    i8 = tg.tensor([100, 100, -7], dtype=tg.int8, device=device)
    c = h.cumsum(0)
    c.sum().backward()
    return [h * 0.1, h / 3.3, h // 0.7, tg.lerp(s, e, -0.5), tg.lerp(s, e, tg.full_like(s, 0.3)),
            tg.lerp(h.detach(), h.detach() * 2, 0.3), i8.sum(dtype=tg.int8), i8.cumsum(0, dtype=tg.int16),
            tg.tensor([0, 3], dtype=tg.uint8, device=device).any(), tg.linalg.inv(a), c, h.grad]


@pytest.mark.gpu
def test_this_audits_fixes_on_the_gpu_match_the_cpu() -> None:
    for i, (a, b) in enumerate(zip(gpu_program("cpu"), gpu_program("cuda"), strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=str(i))
