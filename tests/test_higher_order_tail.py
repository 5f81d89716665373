"""Double backward (``create_graph=True``) of higher_order_tail's ops against torch 2.13: asin, acos, copysign, fmod,
remainder, nan_to_num and logcumsumexp; and grid_sample's 5-D (trilinear, nearest) and bicubic modes.

``grad_of_grad(f, seed, *arrays)`` runs in both libraries: g = grad(f(x...), x, grad_outputs=w, create_graph=True)
with a random incoming gradient w (zeros mixed in) that requires grad itself, then grad(sum(g_i * v_i), (x..., w))
with random v. Values, dtypes, shapes, which first gradients require grad, and which are None must agree (nan where
torch has nan), or both raise. Inputs are hypothesis arrays with the edges: asin / acos at and beyond +-1, zero
divisors, -0 and negative nan signs, nan and inf with custom replacements, -inf / inf rows, empty and 0-d tensors.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_higher_order_grad import DTYPES, GRAD, NO_HUGE, TOL, F, _close, _np, _scale, typed
from test_torch_movement_names import arrays, dim_of

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SEEDS = st.integers(0, 2**32 - 1)
NEG_NAN = float(np.copysign(np.nan, -1.0))


def _random(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Normal values with about a fifth of them exactly 0 (a zero incoming gradient is an edge of its own)."""
    v = rng.standard_normal(shape)
    v[rng.random(shape) < 0.2] = 0.0
    return v.astype(dtype)


def _run(lib: Any, f: Callable[..., Any], seed: int, arrays_: tuple[np.ndarray, ...]) -> tuple[list, list, list]:
    rng = np.random.default_rng(seed)
    xs = [lib.tensor(a, requires_grad=True) for a in arrays_]
    out = f(lib, *xs)
    w = lib.tensor(_random(rng, tuple(out.shape), arrays_[0].dtype), requires_grad=True)
    gs = GRAD[lib](out, xs, grad_outputs=w, create_graph=True, allow_unused=True)
    live = [(g, lib.tensor(_random(rng, tuple(g.shape), arrays_[0].dtype))) for g in gs
            if g is not None and g.requires_grad]
    hv: list[Any] = [None] * (len(xs) + 1)
    if live:
        z = sum((g * v).sum() for g, v in live)
        hv = list(GRAD[lib](z, [*xs, w], allow_unused=True))
    return [_np(g) for g in gs], [g is not None and g.requires_grad for g in gs], [_np(h) for h in hv]


def grad_of_grad(f: Callable[..., Any], seed: int, *arrays_: np.ndarray, oracle: Any = None) -> None:
    """The first gradients and the gradients of their random weighted sum in the inputs and the incoming gradient
    agree with torch's (or both raise); with an ``oracle`` dtype, torch's computed in it (float64 where torch's
    float32 formula is the less accurate one), then rounded."""
    try:
        theirs = _run(torch, f, seed, arrays_) if oracle is None else [
            [None if a is None else a.astype(arrays_[0].dtype) if isinstance(a, np.ndarray) else a for a in part]
            for part in _run(torch, f, seed, tuple(a.astype(oracle) for a in arrays_))]
    except (RuntimeError, ValueError, IndexError, TypeError):
        with pytest.raises((RuntimeError, ValueError, IndexError, TypeError)):
            _run(tg, f, seed, arrays_)
        return
    ours = _run(tg, f, seed, arrays_)
    rtol = TOL[arrays_[0].dtype.type]
    for a, b in zip(ours[0], theirs[0], strict=True):
        _close(a, b, rtol, rtol * _scale([b]))
    assert ours[1] == theirs[1], ("requires_grad of the gradients", ours[1], theirs[1])
    scale = _scale(theirs[0] + theirs[2])
    for a, b in zip(ours[2], theirs[2], strict=True):
        _close(a, b, rtol, rtol * scale)


EDGES = st.floats(-1.5, 1.5) | st.sampled_from([1.0, -1.0, 0.0, -0.0, 0.5, 2.0, -3.0, np.nan, np.inf, -np.inf])
INVERSE_TRIG: dict[str, Callable[..., Any]] = {
    "asin": lambda lib, x: x.asin(), "acos": lambda lib, x: x.acos(),
    "asin_times_x": lambda lib, x: x.asin() * x, "acos_of_square": lambda lib, x: (x * x).acos(),
    "asin_acos": lambda lib, x: lib.asin(x * 0.5) * lib.acos(x),
}


@pytest.mark.parametrize("name", ["asin", "acos", "atanh", "acosh"])
def test_inverse_trig_gradients_near_one(name: str) -> None:
    """1 - x^2 (x^2 - 1 for acosh) as (1 - x)(1 + x): the gradients near |x| = 1 within a few ulps, plain and under
    create_graph (torch's 1 - x^2 loses x^2's last term: 5e-5 relatively off at 0.9999 in float32, 2.8e-10 at
    1 - 1e-8 in float64), and torch's second derivative at the boundary."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    slope = {"asin": lambda v: 1 / mp.sqrt(1 - v * v), "acos": lambda v: -1 / mp.sqrt(1 - v * v),
             "atanh": lambda v: 1 / (1 - v * v), "acosh": lambda v: 1 / mp.sqrt(v * v - 1)}[name]
    near = [1 + 1e-8, 1 + 1e-4, 1 + 2.0 ** -20, 1.5] if name == "acosh" else [1 - 1e-8, -1 + 1e-8, 1 - 1e-4, 0.3]
    for dtype, rtol in ((np.float64, 1e-15), (np.float32, 2e-7)):
        xs = np.array(near, dtype=dtype)
        xs = xs[np.abs(xs) != 1]
        want = np.array([float(slope(mp.mpf(float(v)))) for v in xs])
        x = tg.tensor(xs, requires_grad=True)
        (g,) = tg.autograd.grad(getattr(tg, name)(x).sum(), [x], create_graph=True)
        plain = tg.tensor(xs, requires_grad=True)
        getattr(tg, name)(plain).sum().backward()
        np.testing.assert_allclose(plain.grad.numpy(), want, rtol=rtol)
        np.testing.assert_allclose(g.detach().numpy(), want, rtol=rtol)
    edge = [1.0, -1.0] if name != "acosh" else [1.0]
    ours, theirs = (lib.tensor(edge, dtype=lib.float64, requires_grad=True) for lib in (tg, torch))
    for lib, t in ((tg, ours), (torch, theirs)):
        (g,) = lib.autograd.grad(getattr(lib, name)(t).sum(), [t], create_graph=True)
        g.sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())  # (-+inf, not the product rule's nan)


@pytest.mark.parametrize("name", sorted(INVERSE_TRIG))
@settings(max_examples=30, deadline=None)
@given(x=arrays(elements=EDGES), seed=SEEDS, dtype=DTYPES)
def test_asin_acos(name: str, x: np.ndarray, seed: int, dtype: Any) -> None:
    grad_of_grad(INVERSE_TRIG[name], seed, typed(x, dtype))


def _broadcasting_pair(data: st.DataObject, a_elements: Any, b_elements: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays whose shapes broadcast (either one the larger)."""
    a = data.draw(arrays(max_dims=3, elements=a_elements))
    tail = a.shape[data.draw(st.integers(0, a.ndim)):]
    b = data.draw(hnp.arrays(np.float64, tuple(1 if data.draw(st.booleans()) else n for n in tail),
                             elements=b_elements))
    return (b, a) if data.draw(st.booleans()) else (a, b)


SIGNED = NO_HUGE | st.sampled_from([NEG_NAN, 1.0, -1.0])  # (-0 and a negative nan: negative signs)
TWO_ARGUMENT: dict[str, Callable[..., Any]] = {
    "copysign": lambda lib, a, b: lib.copysign(a, b), "copysign_square": lambda lib, a, b: lib.copysign(a * a, b) * a,
    "copysign_of_b": lambda lib, a, b: lib.copysign(a, b * a) * b,
    "fmod": lambda lib, a, b: lib.fmod(a, b), "fmod_times": lambda lib, a, b: lib.fmod(a * b, b) * a,
    "remainder": lambda lib, a, b: lib.remainder(a, b),
    "remainder_times": lambda lib, a, b: lib.remainder(a, b * b) * b,
}


@pytest.mark.parametrize("name", sorted(TWO_ARGUMENT))
@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=SEEDS, dtype=DTYPES)
def test_copysign_fmod_remainder(name: str, data: st.DataObject, seed: int, dtype: Any) -> None:
    divisors = SIGNED | st.sampled_from([0.0, -0.0, 2.0, 0.5])  # (zero divisors: nan values, inf quotients)
    if name.startswith("copysign"):  # torch's second derivative at a tiny nonzero a is noise (README, Differences)
        divisors = divisors.filter(lambda v: not 0 < abs(v) < 1e-3)
    a, b = _broadcasting_pair(data, divisors if name.startswith("copysign") else SIGNED, divisors)
    grad_of_grad(TWO_ARGUMENT[name], seed, typed(a, dtype), typed(b, dtype))


@pytest.mark.parametrize("number", [0.0, -0.0, 2.5, -1.0, np.inf, np.nan])
@settings(max_examples=10, deadline=None)
@given(x=arrays(elements=SIGNED), seed=SEEDS, dtype=DTYPES)
def test_number_second_argument(number: float, x: np.ndarray, seed: int, dtype: Any) -> None:
    x = typed(x, dtype)
    grad_of_grad(lambda lib, a: lib.copysign(a * a, number) * a, seed, x)
    grad_of_grad(lambda lib, a: lib.fmod(a * a, number) * a, seed, x)
    grad_of_grad(lambda lib, a: lib.remainder(a, number) * a, seed, x)


REPLACEMENTS = st.tuples(st.sampled_from([0.0, 1.5, -2.0]), st.sampled_from([None, 3.0, 1e300]),
                         st.sampled_from([None, -4.0, -1e300]))  # (1e300: inf in float32, as torch casts)


@settings(max_examples=40, deadline=None)
@given(x=arrays(elements=NO_HUGE | st.sampled_from([1e300, -1e300])), values=REPLACEMENTS, seed=SEEDS, dtype=DTYPES)
def test_nan_to_num(x: np.ndarray, values: tuple[float, float | None, float | None], seed: int, dtype: Any) -> None:
    nan, posinf, neginf = values
    x = typed(x, dtype)
    grad_of_grad(lambda lib, a: a.nan_to_num(nan, posinf, neginf), seed, x)
    grad_of_grad(lambda lib, a: lib.nan_to_num(a * a, nan=nan, posinf=posinf, neginf=neginf) * a, seed, x)
    grad_of_grad(lambda lib, a: (a.exp() * 2).nan_to_num(nan, posinf, neginf).sin(), seed, x)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), seed=SEEDS, dtype=DTYPES)
def test_logcumsumexp(data: st.DataObject, seed: int, dtype: Any) -> None:
    x = typed(data.draw(arrays(elements=NO_HUGE | st.sampled_from([-np.inf, 30.0, -30.0]))), dtype)
    d = dim_of(data, x.ndim)
    # float32: ours scans in float64 (README), where torch's float32 formula cancels (at x = 30, (x^2).logcumsumexp()
    # * x's second derivative is 1.3% off in torch); compared with torch's float64 there
    oracle = np.float64 if dtype == np.float32 else None
    grad_of_grad(lambda lib, a: a.logcumsumexp(d), seed, x, oracle=oracle)
    grad_of_grad(lambda lib, a: (a * a).logcumsumexp(d) * a, seed, x, oracle=oracle)
    grad_of_grad(lambda lib, a: lib.logcumsumexp(a.sin(), d).exp(), seed, x, oracle=oracle)


def test_float32_logcumsumexp_second_derivative_of_a_cube() -> None:
    """(x^2).logcumsumexp(0) * x is x^3 for one element: at x = 30 float32 its second derivative (times w) is
    6 x w = 306 for w = 1.7 (torch's float32 formula: 301.9)."""
    x, w = tg.tensor([30.0], requires_grad=True), tg.tensor([1.7], requires_grad=True)
    (g,) = tg.autograd.grad((x * x).logcumsumexp(0) * x, [x], grad_outputs=w, create_graph=True)
    hx, hw = tg.autograd.grad(g.sum(), [x, w])
    np.testing.assert_allclose([g.item(), hx.item(), hw.item()], [2700 * 1.7, 180 * 1.7, 2700], rtol=2e-5)


THIRD: dict[str, Callable[..., Any]] = {
    "asin": lambda lib, x: (x * 0.4).asin(), "acos": lambda lib, x: (x * 0.4).acos() * x,
    "copysign": lambda lib, x: lib.copysign(x * x, x - 1) * x, "fmod": lambda lib, x: lib.fmod(x * x, x + 0.3) * x,
    "nan_to_num": lambda lib, x: (x * x).nan_to_num() * x, "logcumsumexp": lambda lib, x: (x * x).logcumsumexp(0),
}


@pytest.mark.parametrize("name", sorted(THIRD))
@settings(max_examples=15, deadline=None)
@given(x=hnp.arrays(np.float64, st.integers(1, 4), elements=st.floats(-2, 2) | st.sampled_from([0.5, 1.0])),
       dtype=DTYPES)
def test_third_derivative(name: str, x: np.ndarray, dtype: Any) -> None:
    third_derivatives_agree(THIRD[name], typed(x, dtype))


def third_derivatives_agree(f: Callable[[Any, Any], Any], x: np.ndarray) -> None:
    """The first three derivatives of f(lib, x).sum() (each through the square of the one before) agree with torch's."""
    results = []
    for lib in (torch, tg):
        t = lib.tensor(x, requires_grad=True)
        (g1,) = GRAD[lib](f(lib, t).sum(), t, create_graph=True)
        (g2,) = GRAD[lib]((g1 * g1).sum(), t, create_graph=True)
        (g3,) = GRAD[lib](g2.sum(), t, allow_unused=True)
        results.append([_np(g) for g in (g1, g2, g3)])
    for a, b in zip(*results, strict=True):
        rtol = TOL[x.dtype.type] * 10
        _close(b, a, rtol, rtol * _scale([a]))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), seed=SEEDS, dtype=DTYPES)
def test_grid_sample_5d_and_bicubic(data: st.DataObject, seed: int, dtype: Any) -> None:
    """5-D trilinear / nearest and 4-D bicubic, every padding, both align_corners: points at corners, centres and
    edges, and beyond them."""
    mode = data.draw(st.sampled_from(["bilinear", "nearest", "bicubic"]))
    dims = 2 if mode == "bicubic" else data.draw(st.sampled_from([2, 3]))
    sides = st.lists(st.integers(1, 3), min_size=dims, max_size=dims)
    x = typed(data.draw(hnp.arrays(np.float64, (data.draw(st.integers(1, 2)), 2, *data.draw(sides)),
                                   elements=st.floats(-2, 2))), dtype)
    points = st.floats(-1.4, 1.4) | st.sampled_from([-1.0, 0.0, 1.0, 0.5, -0.5, 3.0, -2.5])
    grid = typed(data.draw(hnp.arrays(np.float64, (x.shape[0], *data.draw(sides), dims), elements=points)), dtype)
    pad, align = data.draw(st.sampled_from(["zeros", "border", "reflection"])), data.draw(st.booleans())

    def sample(lib: Any, a: Any, b: Any) -> Any:
        return F[lib].grid_sample(a, b, mode=mode, padding_mode=pad, align_corners=align)
    grad_of_grad(sample, seed, x, grid)
    grad_of_grad(lambda lib, a, b: sample(lib, a * a, b * b) * b.sum(), seed, x, grid)
    grad_of_grad(lambda lib, b: sample(lib, lib.tensor(x), b.sin()) ** 2, seed, grid)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e308])
def test_grid_sample_5d_raises_where_torch_differs(mode: str, bad: float) -> None:
    """A grid holding nan or inf, or (5-D, reflection) a point whose unnormalised position overflows: torch's double
    backward puts nan at some inputs, ours raises rather than differ."""
    x = tg.tensor(np.arange(8.0).reshape(1, 1, 2, 2, 2), requires_grad=True)
    grid = tg.tensor(np.array([0.1, -0.3, bad]).reshape(1, 1, 1, 1, 3), requires_grad=True)
    out = F[tg].grid_sample(x, grid, mode=mode, padding_mode="reflection", align_corners=False)
    with pytest.raises(NotImplementedError, match="double backward through grid_sample is not supported"):
        GRAD[tg]((out ** 2).sum(), (x, grid), create_graph=True)


def tail_program(lib: Any, device: str) -> list[Any]:
    """Each new double backward in one loss (the 5-D and bicubic grid_sample too); its gradient's squared norm
    differentiated again."""
    x = lib.tensor(np.sin(np.arange(24.0)).reshape(2, 3, 4) * 0.9, device=device, requires_grad=True)
    f, volume = F[lib], x.reshape(1, 1, 2, 3, 4)
    loss = (x.asin() * x.acos() + lib.copysign(x * x, x.cos() - 0.8) + lib.fmod(x * 3, x + 0.1)
            + lib.remainder(x, x - 1.5) + (x * 4).log().nan_to_num(1.5, neginf=-2.0) + (x * 2).logcumsumexp(2)).sum()
    loss = loss + (f.grid_sample(volume, x[:, :2, :3].reshape(1, 2, 2, 1, 3), align_corners=False) ** 2).sum()
    loss = loss + f.grid_sample(volume * volume, x[1, :2, :3].reshape(1, 2, 1, 1, 3), mode="nearest",
                                padding_mode="border", align_corners=True).sum()
    loss = loss + (f.grid_sample(x[None], x[1, :2, :2].reshape(1, 2, 1, 2), mode="bicubic",
                                 padding_mode="reflection", align_corners=True) ** 2).sum()
    (gx,) = GRAD[lib](loss, x, create_graph=True)
    ((gx * gx).sum()).backward()
    return [gx, x.grad]


@pytest.mark.gpu
def test_double_backward_on_the_gpu_matches_the_cpu() -> None:
    for i, (a, b) in enumerate(zip(tail_program(tg, "cpu"), tail_program(tg, "cuda"), strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-11, err_msg=str(i))


def test_tail_program_matches_torch() -> None:
    """The GPU program's values on the CPU against torch (so the GPU comparison checks right numbers)."""
    if os.environ.get("TINYGRAD_ADAM_FAKE_GPU"):
        pytest.skip("a CPU check")
    for a, b in zip(tail_program(tg, "cpu"), tail_program(torch, "cpu"), strict=True):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-9, atol=1e-11)


def test_copysign_second_derivative_at_a_tiny_a_is_zero() -> None:
    """d/da of copysign's gradient g sign(a) sign(b) is 0, also at a = 1.2e-281, where torch's is 3.2e265."""
    a, b = tg.tensor(np.array([1.2e-281]), requires_grad=True), tg.tensor(np.zeros((2, 3, 1)))
    (g,) = tg.autograd.grad(tg.copysign(a, b), [a], grad_outputs=tg.tensor(np.full((2, 3, 1), 0.7)),
                            create_graph=True)
    np.testing.assert_allclose(g.numpy(), [4.2])
    (h,) = tg.autograd.grad(g.sum(), [a])
    np.testing.assert_array_equal(h.numpy(), [0.0])
