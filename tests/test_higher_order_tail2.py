"""Double backward (``create_graph=True``) of the second part of higher_order_tail against torch 2.13: atanh, acosh,
i0 (and its derivative i1), the piecewise-constant sign / sgn, angle, round (with decimals), floor, ceil, trunc, and
frac, nansum / nanmean, diag_embed / diag / diagonal and frexp's mantissa.

Each is checked by test_higher_order_tail's ``grad_of_grad`` (first gradients, which of them require grad, and the
gradients of their random weighted sum in the inputs and the incoming gradient; torch's None and our zeros count as
the same), float64 and float32, with hypothesis inputs holding the edges: atanh at +-1 and beyond, acosh at 1 and
below, i0 at and near 0 (torch's i1 derivative switches at eps), half-integers (rounding ties), nan, +-inf, -0,
empty and 0-d tensors. A third derivative is checked where the second one still depends on x.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_higher_order_grad import DTYPES, GRAD, NO_HUGE, typed
from test_higher_order_tail import SEEDS, grad_of_grad, third_derivatives_agree
from test_torch_movement_names import arrays, dim_of

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

EDGES = st.sampled_from([1.0, -1.0, 0.0, -0.0, 0.5, 2.0, -3.0, np.nan, np.inf, -np.inf])
HYPERBOLIC: dict[str, tuple[Any, Callable[..., Any]]] = {
    "atanh": (st.floats(-1.5, 1.5) | EDGES, lambda lib, x: x.atanh()),
    "atanh_of_square": (st.floats(-1.5, 1.5) | EDGES, lambda lib, x: (x * x).atanh() * x),
    "acosh": (st.floats(-0.5, 3) | EDGES | st.just(1.0000001), lambda lib, x: x.acosh()),
    "acosh_of_square": (st.floats(-0.5, 3) | EDGES, lambda lib, x: lib.acosh(x * x) * x),
    "i0": (NO_HUGE | st.sampled_from([1e-17, -1e-17, 2e-16, 1e-7, 30.0]), lambda lib, x: x.i0()),
    "i0_of_product": (NO_HUGE | st.sampled_from([1e-17, -1e-9, 1e-7]), lambda lib, x: (x * 0.5).i0() * x.sin()),
}


@pytest.mark.parametrize("name", sorted(HYPERBOLIC))
@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=SEEDS, dtype=DTYPES)
def test_atanh_acosh_i0(name: str, data: st.DataObject, seed: int, dtype: Any) -> None:
    elements, f = HYPERBOLIC[name]
    grad_of_grad(f, seed, typed(data.draw(arrays(elements=elements)), dtype))


TIES = NO_HUGE | st.sampled_from([0.5, 1.5, -2.5, 2.0, -0.5, 0.25, 0.05, 1e300])  # (1e300: inf in float32)
ROUNDING: dict[str, Callable[..., Any]] = {
    "sign": lambda lib, x: x.sign(), "sgn": lambda lib, x: x.sgn(), "angle": lambda lib, x: x.angle(),
    "round": lambda lib, x: x.round(), "floor": lambda lib, x: x.floor(), "ceil": lambda lib, x: lib.ceil(x),
    "trunc": lambda lib, x: x.trunc(), "fix": lambda lib, x: x.fix(), "frac": lambda lib, x: x.frac(),
    "round_1": lambda lib, x: x.round(decimals=1), "round_-1": lambda lib, x: lib.round(x, decimals=-1),
    "round_2": lambda lib, x: x.round(decimals=2),
}


@pytest.mark.parametrize("name", sorted(ROUNDING))
@settings(max_examples=20, deadline=None)
@given(x=arrays(elements=TIES), seed=SEEDS, dtype=DTYPES)
def test_piecewise_constant_and_frac(name: str, x: np.ndarray, seed: int, dtype: Any) -> None:
    """Alone (the first gradient is torch's zeros without history: nothing to differentiate), times x, and of x^2
    times sin x."""
    f, x = ROUNDING[name], typed(x, dtype)
    grad_of_grad(f, seed, x)
    grad_of_grad(lambda lib, a: f(lib, a) * a, seed, x)
    grad_of_grad(lambda lib, a: f(lib, a * a) * a.sin(), seed, x)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), seed=SEEDS, dtype=DTYPES, keepdim=st.booleans())
def test_nansum_nanmean(data: st.DataObject, seed: int, dtype: Any, keepdim: bool) -> None:
    x = typed(data.draw(arrays(elements=NO_HUGE | st.just(np.nan))), dtype)
    d = dim_of(data, x.ndim)
    grad_of_grad(lambda lib, a: a.nansum(), seed, x)
    grad_of_grad(lambda lib, a: (a * a).nansum(d, keepdim) * 2, seed, x)
    grad_of_grad(lambda lib, a: lib.nansum(a.sin() * a, d) ** 2, seed, x)
    grad_of_grad(lambda lib, a: (a * a).nanmean(d, keepdim) * 2, seed, x)
    grad_of_grad(lambda lib, a: lib.nanmean(a.exp() * a) ** 2, seed, x)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), seed=SEEDS, dtype=DTYPES, offset=st.integers(-2, 2))
def test_diag_embed_diag_diagonal(data: st.DataObject, seed: int, dtype: Any, offset: int) -> None:
    """diag_embed on 1- to 3-D input in two of its output's dims; diag of a vector and of a matrix; diagonal of a
    3-D tensor in two of its dims (empty diagonals too)."""
    x = typed(data.draw(arrays(min_dims=1, elements=NO_HUGE)), dtype)
    d1, d2 = data.draw(st.permutations(range(-x.ndim - 1, x.ndim + 1)).map(lambda p: p[:2]))
    if (d1 - d2) % (x.ndim + 1) == 0:  # the same dim twice: both raise (in the first forward)
        d2 = (d1 + 1) % (x.ndim + 1)
    grad_of_grad(lambda lib, a: lib.diag_embed(a * a, offset, d1, d2) * 2, seed, x)
    grad_of_grad(lambda lib, a: lib.diag_embed(a.sin(), offset) ** 2, seed, x)
    v, m = x.reshape(-1), x.reshape(len(x), x.size // max(len(x), 1))
    grad_of_grad(lambda lib, a: lib.diag(a * a, offset) ** 2, seed, v)
    grad_of_grad(lambda lib, a: lib.diag(a.sin() * a, offset) ** 2, seed, m)
    t = typed(data.draw(arrays(min_dims=3, elements=NO_HUGE)), dtype)
    e1, e2 = data.draw(st.permutations(range(3)).map(lambda p: p[:2]))
    grad_of_grad(lambda lib, a: (a * a).diagonal(offset, e1, e2) ** 2, seed, t)


FREXP = st.floats(-4, 4).filter(lambda v: v == 0 or abs(v) > 1e-30) | st.sampled_from(
    [0.0, -0.0, 0.5, -1.0, 3.0, np.nan, np.inf, -np.inf])


@settings(max_examples=40, deadline=None)
@given(x=arrays(elements=FREXP), seed=SEEDS, dtype=DTYPES)
def test_frexp_mantissa(x: np.ndarray, seed: int, dtype: Any) -> None:
    """Away from float32's denormals and torch's float32 power of two's range (README: the mantissa's gradient
    differs from torch's there)."""
    x = typed(x, dtype)
    grad_of_grad(lambda lib, a: lib.frexp(a)[0], seed, x)
    grad_of_grad(lambda lib, a: a.frexp()[0] * a, seed, x)
    grad_of_grad(lambda lib, a: lib.frexp(a * 3)[0] * a.sin(), seed, x)


THIRD: dict[str, Callable[..., Any]] = {
    "atanh": lambda lib, x: (x * 0.4).atanh() * x, "acosh": lambda lib, x: (x * x + 1.5).acosh(),
    "i0": lambda lib, x: (x * 2).i0() * x, "nansum": lambda lib, x: (x * x).nansum(0) * x,
    "diag_embed": lambda lib, x: lib.diag_embed(x * x, 1) ** 2, "diag": lambda lib, x: lib.diag(x.outer(x)) ** 2,
    "frac": lambda lib, x: (x * x * x).frac() * x, "round": lambda lib, x: (x * 3).round() * x * x,
}


@pytest.mark.parametrize("name", sorted(THIRD))
@settings(max_examples=15, deadline=None)
@given(x=st.lists(st.floats(-2, 2) | st.sampled_from([0.0, 0.5, 1e-17]), min_size=1, max_size=4), dtype=DTYPES)
def test_third_derivative(name: str, x: list[float], dtype: Any) -> None:
    third_derivatives_agree(THIRD[name], typed(np.array(x), dtype))


@pytest.mark.gpu
def test_double_backward_on_the_gpu_matches_the_cpu() -> None:
    """The atanh, acosh, rounding, nansum, diag_embed and diagonal backwards on the device (no i0: the fake cupy has
    no cupyx.scipy)."""
    def program(device: str) -> list[tg.Tensor]:
        x = tg.tensor(np.sin(np.arange(12.0)).reshape(3, 4) * 0.9, device=device, requires_grad=True)
        loss = (x.atanh() + (x * x + 1).acosh() + x.round(decimals=1) * x + x.frac() * x).sum()
        loss = loss + ((x * x).nansum(1) ** 2).sum() + (tg.diag_embed(x * x) ** 2).sum() + (x.diagonal(1) ** 3).sum()
        (gx,) = GRAD[tg](loss, x, create_graph=True)
        (gx * gx).sum().backward()
        return [gx, x.grad]
    for a, b in zip(program("cpu"), program("cuda"), strict=True):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-11)
