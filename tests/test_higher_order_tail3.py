"""Double backward (``create_graph=True``) of tril / triu, ldexp, special.ndtr / log_ndtr / ndtri / entr, inv /
inverse, det, slogdet and logdet against torch 2.13 (``grad_of_grad``: first gradients, their requires_grad and the
gradients of their weighted sum), and third derivatives; heaviside raises, as torch (it has no derivative). det's
double backward raises NotImplementedError at a singular or near-singular matrix (torch's SVD rule is accurate
there, ours would not be) and at one holding nan or inf; slogdet's (logdet's) at a singular one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_higher_order_grad import DTYPES, GRAD, NO_HUGE, typed
from test_higher_order_tail import SEEDS, _run, grad_of_grad, third_derivatives_agree
from test_torch_movement_names import arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@settings(max_examples=40, deadline=None)
@given(x=arrays(min_dims=2, max_dims=4, elements=NO_HUGE), k=st.integers(-3, 3), seed=SEEDS, dtype=DTYPES)
def test_tril_triu(x: np.ndarray, k: int, seed: int, dtype: Any) -> None:
    x = typed(x, dtype)
    grad_of_grad(lambda lib, a: a.tril(k), seed, x)
    grad_of_grad(lambda lib, a: lib.triu(a * a, k) * a, seed, x)
    grad_of_grad(lambda lib, a: (a.sin().tril(k) + a.triu(k + 1)).exp(), seed, x)


def test_heaviside_raises_as_torch() -> None:
    """torch has no derivative for heaviside (in x or in values): first order raises, and so does create_graph."""
    for values in (tg.tensor([0.5], dtype=tg.float64), tg.tensor([0.5], dtype=tg.float64, requires_grad=True)):
        x = tg.tensor(np.array([0.5, 0.0, -1.0]), requires_grad=True)
        with pytest.raises(NotImplementedError, match="double backward through heaviside is not supported"):
            GRAD[tg]((tg.heaviside(x * x, values) * x).sum(), x, create_graph=True)
        with pytest.raises(RuntimeError, match="heaviside has no derivative"):
            GRAD[tg]((tg.heaviside(x * x, values) * x).sum(), x)
    grad_of_grad(lambda lib, a, v: lib.heaviside(a * a, v) * a, 0, np.array([0.5, 0.0, -1.0]), np.array([0.3]))


EXPONENTS = st.floats(-3, 3) | st.sampled_from([0.0, -0.0, 0.5, np.inf, -np.inf, np.nan])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), seed=SEEDS, dtype=DTYPES, b_dtype=st.sampled_from([None, np.float64, np.int64]))
def test_ldexp(data: st.DataObject, seed: int, dtype: Any, b_dtype: Any) -> None:
    """A floating exponent of a's dtype or float64 (torch's 2^b of a float32 b is rounded to float32 where ours
    takes the result's float64: a first-order difference, README), or an integer one."""
    a = typed(data.draw(arrays(max_dims=3, elements=NO_HUGE)), dtype)
    b = data.draw(hnp.arrays(np.float64, a.shape[data.draw(st.integers(0, a.ndim)):], elements=EXPONENTS))
    if b_dtype == np.int64:
        b = np.nan_to_num(np.round(b), posinf=60, neginf=-60).astype(np.int64)
        exponent = {tg: b, torch: b.astype(dtype)}  # (torch's 2^e of an integer e is an integer: 0 for e < 0, README)
        grad_of_grad(lambda lib, x: lib.ldexp(x * x, lib.tensor(exponent[lib])) * x, seed, a)
        return
    b = typed(b, b_dtype or dtype)
    grad_of_grad(lambda lib, x, e: lib.ldexp(x, e), seed, a, b)
    grad_of_grad(lambda lib, x, e: x.ldexp(e * x) * e, seed, a, b)


SPECIAL: dict[str, tuple[Callable[..., Any], Any]] = {
    "ndtr": (lambda lib, x: lib.special.ndtr(x), NO_HUGE | st.sampled_from([-40.0, 40.0, 8.0])),
    "ndtr_square": (lambda lib, x: lib.special.ndtr(x * x) * x, NO_HUGE),
    "log_ndtr": (lambda lib, x: lib.special.log_ndtr(x), NO_HUGE | st.sampled_from([-30.0, 10.0])),
    "log_ndtr_sin": (lambda lib, x: lib.special.log_ndtr(x.sin() * 3) * x, NO_HUGE),
    "ndtri": (lambda lib, x: lib.special.ndtri(x), st.floats(-0.2, 1.2) | st.sampled_from([0.0, 1.0, 0.5, np.nan])),
    "ndtri_square": (lambda lib, x: lib.special.ndtri(x * x) * x, st.floats(-1, 1) | st.sampled_from([0.0, -1.0])),
    "entr": (lambda lib, x: lib.special.entr(x), NO_HUGE | st.sampled_from([1.0, 0.5])),
    "entr_square": (lambda lib, x: lib.special.entr(x * x) * x, NO_HUGE),
}


@pytest.mark.parametrize("name", sorted(SPECIAL))
@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=SEEDS, dtype=DTYPES)
def test_special(name: str, data: st.DataObject, seed: int, dtype: Any) -> None:
    f, elements = SPECIAL[name]
    x = data.draw(arrays(elements=elements))
    if name == "log_ndtr" and dtype == np.float32:  # (beyond -10 torch's float32 second derivative loses digits to
        x = np.where(np.isfinite(x) & (x < -10), -10.0, x)  # cancellation: 0.6678 where the value is 0.6591, ours)
    grad_of_grad(f, seed, typed(x, dtype))


def _matrices(data: st.DataObject, dtype: Any, special: bool) -> np.ndarray:
    """A batch of square matrices: random ones, identities, singular (rank one) and near-singular ones (a rank-one
    matrix plus delta diag(1, 2, ...)), or, with ``special``, holding nan, inf and -0."""
    n = data.draw(st.integers(0, 4))
    batch = tuple(data.draw(st.lists(st.integers(0, 2), max_size=2)))
    elements = NO_HUGE if special else st.floats(-3, 3)
    x = data.draw(hnp.arrays(np.float64, (*batch, n, n), elements=elements))
    kind = data.draw(st.sampled_from(["random", "identity", "rank_one", "near_singular"]))
    if kind == "identity":
        x = np.broadcast_to(np.eye(n), x.shape).copy()
    elif kind != "random" and n:
        u = x[..., :, :1]
        x = u * np.swapaxes(x[..., :, 1:2] if n > 1 else u, -1, -2)
        if kind == "near_singular":
            x = x + data.draw(st.sampled_from([1e-1, 1e-3, 1e-6])) * np.diag(np.arange(1.0, n + 1))  # (distinct:
            # at a tiny multiple of I torch's det double backward is nan, test_det_of_tiny_scaled_identity)
    if x.size and np.isfinite(x).all():  # each matrix scaled by a power of two to entries near 1: where det(A)
        top = np.abs(x).max(axis=(-2, -1), keepdims=True)  # underflows torch takes its SVD rule (nan for a regular
        x = np.ldexp(x, -np.frexp(np.where(top > 0, top, 1))[1])  # A), and a tiny A's inverse squared overflows
    return typed(x, dtype)


def _ill_conditioned(x: np.ndarray) -> bool:
    """Whether our det / slogdet double backward refuses x: a nan or inf, or a condition number above eps^-1/3."""
    if x.size == 0:
        return False
    if not np.isfinite(x).all():
        return True
    s = np.linalg.svd(x, compute_uv=False)
    return bool((s[..., -1] <= s[..., 0] * float(np.finfo(x.dtype).eps) ** (1 / 3)).any())


DETERMINANTS: dict[str, Callable[..., Any]] = {
    "det": lambda lib, a: lib.linalg.det(a), "det_chain": lambda lib, a: lib.linalg.det(a.sin() + a) * a.sum(),
    "det_method": lambda lib, a: a.det().sin(), "slogdet": lambda lib, a: lib.linalg.slogdet(a)[1],
    "slogdet_sign": lambda lib, a: lib.linalg.slogdet(a.exp())[1] * lib.linalg.slogdet(a)[0],
    "logdet": lambda lib, a: a.logdet(),
}


@pytest.mark.parametrize("name", sorted(DETERMINANTS))
@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=SEEDS, dtype=DTYPES, special=st.booleans())
def test_determinants(name: str, data: st.DataObject, seed: int, dtype: Any, special: bool) -> None:
    x = _matrices(data, dtype, special)
    op = "det" if name.startswith("det") else "slogdet"
    inner = {"det_chain": np.sin(x) + x, "slogdet_sign": np.exp(x)}.get(name, x)  # (slogdet's sign: no derivative)
    if (op == "slogdet" or x.shape[-1] > 1) and _ill_conditioned(inner):  # (1 x 1: det's derivative is 1)
        with pytest.raises(NotImplementedError, match=f"double backward through {op} is not supported at a singular"):
            _run(tg, DETERMINANTS[name], seed, (x,))
        return
    if x.shape[-1] > 1 and (_condition(inner) > 30 or (name == "slogdet_sign" and _ill_conditioned(x))):
        _run(tg, DETERMINANTS[name], seed, (x,))  # computed, not compared: the second derivative's rounding grows
        return  # as the condition number squared, and the sign of a singular x is its rounding's
    grad_of_grad(DETERMINANTS[name], seed, x)


def _condition(x: np.ndarray) -> float:
    """The largest condition number (2-norm) in a batch of finite square matrices (0 for an empty batch)."""
    if x.size == 0:
        return 0.0
    s = np.linalg.svd(x.astype(np.float64), compute_uv=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nanmax(s[..., 0] / s[..., -1]))


@pytest.mark.parametrize("entry", [np.nan, np.inf, -np.inf])
def test_det_gradient_of_a_non_finite_1x1(entry: float) -> None:
    """d det / dA of a 1 x 1 matrix is 1 even for a nan or inf entry, as torch (the SVD of such a matrix failed)."""
    a = tg.tensor(np.array([[[entry]], [[2.0]]]), requires_grad=True)
    tg.linalg.det(a).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((2, 1, 1)))


def test_det_of_tiny_scaled_identity() -> None:
    """At 1e-6 I torch's double backward of det is nan (it takes its SVD rule where det is tiny, and the SVD's
    derivative is 0 / 0 at repeated singular values); ours is the true value, 1e-6 times torch's at I (det's second
    derivative is homogeneous of degree n - 2 = 1), README."""
    hvs = []
    for lib, scale in ((tg, 1e-6), (torch, 1.0)):
        a = lib.tensor(np.eye(3) * scale, requires_grad=True)
        (g,) = GRAD[lib](lib.linalg.det(a), a, create_graph=True)
        (h,) = GRAD[lib]((g * lib.tensor(np.arange(9.0).reshape(3, 3))).sum(), a)
        hvs.append(h.detach().numpy())
    np.testing.assert_allclose(hvs[0], hvs[1] * 1e-6, rtol=1e-9, atol=0)


INVERSES: dict[str, Callable[..., Any]] = {
    "inv": lambda lib, a: lib.linalg.inv(a), "inverse": lambda lib, a: (a * a).inverse() * a,
    "inv_of_exp": lambda lib, a: lib.linalg.inv(a.exp() + a).sum(-1).sin(),
}


@pytest.mark.parametrize("name", sorted(INVERSES))
@settings(max_examples=30, deadline=None)
@given(data=st.data(), seed=SEEDS, dtype=DTYPES, special=st.booleans())
def test_inverse(name: str, data: st.DataObject, seed: int, dtype: Any, special: bool) -> None:
    """Finite matrices (inv's forward at nan and inf is first-order matter: README), -0 among them."""
    x = _matrices(data, dtype, False)
    if special:
        x = np.where(x == 0, -0.0, x).astype(dtype)
    inverted = {"inv": x, "inverse": x * x, "inv_of_exp": np.exp(x) + x}[name]
    if _ill_conditioned(inverted) or _condition(inverted) > 30:  # (both raise where singular; near it the
        x = x + np.eye(x.shape[-1], dtype=dtype) * 4  # comparison would measure rounding, cond^2, not the formula)
    grad_of_grad(INVERSES[name], seed, x)


THIRD: dict[str, Callable[..., Any]] = {
    "tril": lambda lib, x: (x.reshape(2, 2) * x.reshape(2, 2).sin()).tril(),
    "ldexp": lambda lib, x: lib.ldexp(x * x, x.cos()),
    "ndtr": lambda lib, x: lib.special.ndtr(x * x), "log_ndtr": lambda lib, x: lib.special.log_ndtr(x) * x,
    "ndtri": lambda lib, x: lib.special.ndtri(x.sigmoid()), "entr": lambda lib, x: lib.special.entr(x * x + 0.1),
    "det": lambda lib, x: lib.linalg.det(x.reshape(2, 2) + lib.eye(2, dtype=x.dtype) * 3),
    "inv": lambda lib, x: lib.linalg.inv(x.reshape(2, 2) + lib.eye(2, dtype=x.dtype) * 3),
    "logdet": lambda lib, x: (x.reshape(2, 2) + lib.eye(2, dtype=x.dtype) * 3).logdet(),
}


@pytest.mark.parametrize("name", sorted(THIRD))
@settings(max_examples=15, deadline=None)
@given(x=hnp.arrays(np.float64, 4, elements=st.floats(-1, 1) | st.sampled_from([0.5, 0.0])), dtype=DTYPES)
def test_third_derivative(name: str, x: np.ndarray, dtype: Any) -> None:
    third_derivatives_agree(THIRD[name], typed(x, dtype))
