"""Differences from torch found by the second-derivative sweep (op_db reference inputs, float64): each program runs
the same code on torch and on tinygrad_adam (``lib``) and compares first gradients taken with ``create_graph=True``
and second derivatives (of w . g, in the inputs and in a cotangent that requires grad).

Fixed: ``div`` with a ``rounding_mode`` under ``create_graph=True`` took true division's formula (g / b: a silent
wrong first gradient; torch's is zeros); double backward through ``fill``, ``index_fill``, ``nextafter``,
``vector_norm(ord=0)``, ``matrix_power(x, 0)``, ``renorm``, ``special.i0e`` / ``i1e`` / ``erfcx`` and
``as_strided`` (they raised NotImplementedError)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

Program = Callable[[Any, list[Any]], Any]


def _arr(t: Any) -> Any:
    return None if t is None else t.detach().numpy().copy()


def derivatives(lib: Any, program: Program, inputs: list[np.ndarray], seed: int = 0) -> tuple[list, list, list]:
    """(first gradients, their requires_grad, second derivatives in the inputs and the cotangent) of
    ``program(lib, leaves)`` in float64, with fixed random cotangents."""
    leaves = [lib.tensor(x, dtype=lib.float64, requires_grad=True) for x in inputs]
    out = program(lib, leaves)
    rng = np.random.default_rng(seed)
    v = lib.tensor(rng.standard_normal(tuple(out.shape)), dtype=lib.float64, requires_grad=True)
    g = lib.autograd.grad(out, leaves, v, create_graph=True, allow_unused=True)
    live = [t for t in g if t is not None and t.requires_grad]
    second: list = []
    if live:
        w = [lib.tensor(rng.standard_normal(tuple(t.shape)), dtype=lib.float64) for t in live]
        second = list(lib.autograd.grad(live, leaves + [v], w, allow_unused=True))
    return [_arr(t) for t in g], [t is not None and t.requires_grad for t in g], [_arr(t) for t in second]


def same(a: Any, b: Any) -> None:
    if a is None or b is None:  # None and zeros are the same gradient
        assert np.all((b if a is None else a) == 0) if (a is not None or b is not None) else True
        return
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


def check(program: Program, inputs: list[np.ndarray]) -> None:
    (gt, ht, st_), (go, ho, so) = (derivatives(lib, program, inputs) for lib in (torch, tg))
    assert len(gt) == len(go)
    for a, b in zip(gt, go):
        same(a, b)
    assert ht == ho  # which first gradients have history
    assert len(st_) == len(so)
    for a, b in zip(st_, so):
        same(a, b)


floats = st.floats(-8, 8, allow_nan=False).filter(lambda f: abs(f) > 1e-3)
vectors = st.lists(floats, min_size=1, max_size=5).map(np.array)


@settings(max_examples=30, deadline=None)
@given(vectors, vectors, st.sampled_from(["trunc", "floor"]), st.booleans())
def test_rounded_div_has_a_zero_gradient_under_create_graph(a: np.ndarray, b: np.ndarray, mode: str,
                                                            inplace: bool) -> None:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]

    def program(lib: Any, t: list[Any]) -> Any:
        if inplace:
            return (t[0] * 1).div_(t[1], rounding_mode=mode) * t[0]
        return lib.div(t[0], t[1], rounding_mode=mode) * t[0]
    check(program, [a, b])


@settings(max_examples=20, deadline=None)
@given(st.lists(floats, min_size=4, max_size=4).map(lambda v: np.array(v).reshape(2, 2)), floats)
def test_fill_and_index_fill_second_derivatives(x: np.ndarray, value: float) -> None:
    check(lambda lib, t: lib.fill(t[0] * t[0], t[1] * t[1]) * t[0], [x, np.array(value)])
    check(lambda lib, t: (t[0] * t[0]).index_fill(1, lib.tensor([1, 1]), t[1] * t[1]) * t[0], [x, np.array(value)])
    check(lambda lib, t: (t[0] * t[0]).index_fill(0, lib.tensor(0), 2.5) * t[0], [x])


@settings(max_examples=20, deadline=None)
@given(vectors, vectors)
def test_nextafter_second_derivative(a: np.ndarray, b: np.ndarray) -> None:
    n = min(len(a), len(b))
    b = b[:n].copy()
    b[0] = a[0] * a[0]  # one equal pair: no gradient there
    check(lambda lib, t: lib.nextafter(t[0] * t[0], t[1]) * t[1], [a[:n], b])


@settings(max_examples=20, deadline=None)
@given(st.lists(floats, min_size=6, max_size=6).map(lambda v: np.array(v).reshape(2, 3)),
       st.sampled_from([1.0, 2.0, 3.0, 0.5]), st.sampled_from([0, 1]), st.sampled_from([0.5, 4.0, 100.0]))
def test_renorm_second_derivative(x: np.ndarray, p: float, dim: int, maxnorm: float) -> None:
    check(lambda lib, t: lib.renorm(t[0], p, dim, maxnorm) * t[0], [x])


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(-30, 30, allow_nan=False).filter(lambda f: abs(f) > 0.1), min_size=1, max_size=5).map(
    np.array),  # (near 0, i1e's 1 / x terms cancel: the libraries' i0e / i1e roundings differ there)
       st.sampled_from(["i0e", "i1e", "erfcx"]))
def test_scaled_special_functions_second_derivatives(x: np.ndarray, name: str) -> None:
    x = np.concatenate([x, [0.0, 1e-17]]) if name == "i1e" else x  # (torch's 1/2 at |x| <= eps)
    check(lambda lib, t: getattr(lib.special, name)(t[0]), [x])


def test_third_derivative_of_i0e_goes_through_i1e() -> None:
    def third(lib: Any) -> Any:
        x = lib.tensor([-2.0, 0.5, 3.0], dtype=lib.float64, requires_grad=True)
        (g,) = lib.autograd.grad(lib.special.i0e(x).sum(), x, create_graph=True)
        (h,) = lib.autograd.grad(g.sum(), x, create_graph=True)
        return lib.autograd.grad(h.sum(), x)[0].numpy()
    np.testing.assert_allclose(third(tg), third(torch), rtol=1e-9)


def test_count_norm_and_matrix_power_zero_second_derivatives() -> None:
    x = np.array([[1.0, 0.0], [2.0, -3.0]])
    check(lambda lib, t: lib.linalg.vector_norm(t[0], 0, dim=1) * t[0][:, 0] ** 2, [x])
    check(lambda lib, t: lib.linalg.matrix_power(t[0], 0) * t[0] ** 2, [x])
    check(lambda lib, t: lib.linalg.matrix_power(t[0], 0), [x])  # (torch's zero gradient has no history)
    check(lambda lib, t: lib.linalg.householder_product(t[0], t[1]) * t[0], [x, np.zeros(0)])  # (no reflector)


@pytest.mark.parametrize("size,stride,offset", [((2, 2), (1, 2), 0), ((3,), (2,), 1), ((2, 2), (1, 1), 0)])
def test_as_strided_second_derivative(size: tuple, stride: tuple, offset: int) -> None:
    x = np.arange(1.0, 7.0).reshape(2, 3)
    check(lambda lib, t: lib.as_strided(t[0], size, stride, offset) ** 3, [x])
    # of a view whose elements share places (an expand of 3 values): the gradient is divided among them
    small = ((2, 2), (1, 1)) if len(size) == 2 else ((2,), (1,))
    check(lambda lib, t: lib.as_strided((t[0][:1] * 1).expand(2, 3), *small, 0) ** 3, [x])


def test_normal_of_numbers_takes_layout_and_pin_memory() -> None:
    for lib in (torch, tg):
        out = lib.normal(1.5, 0.25, (3, 2), dtype=lib.float64, layout=lib.strided, device="cpu", pin_memory=False)
        assert tuple(out.shape) == (3, 2) and out.dtype == lib.float64
        with pytest.raises(TypeError):  # (a tensor mean takes no layout, as torch)
            lib.normal(lib.zeros(2), 1.0, layout=lib.strided)
        with pytest.raises(NotImplementedError):  # (no sparse sampling)
            lib.normal(0.0, 1.0, (2,), layout=lib.sparse_coo)


@pytest.mark.parametrize("m,n", [(2, 3), (4, 3), (3, 0)])
@pytest.mark.parametrize("driver", ["gels", "gelsy", "gelsd"])
def test_lstsq_residuals_in_the_graph_and_differentiable_twice(m: int, n: int, driver: str) -> None:
    """Residuals that lstsq does not compute are an empty tensor in the graph (a backward through them gives None);
    an empty problem's residuals (|B|^2) can be differentiated twice."""
    rng = np.random.default_rng(m * 10 + n)
    a, b = rng.standard_normal((m, n)), rng.standard_normal((m, 2))

    def results(lib: Any) -> list:
        ta, tb = (lib.tensor(x, requires_grad=True) for x in (a, b))
        r = lib.linalg.lstsq(ta, tb, driver=driver)
        v = lib.tensor(np.arange(1.0, 1 + r.residuals.numel()).reshape(tuple(r.residuals.shape)), requires_grad=True)
        g = lib.autograd.grad(r.residuals, [ta, tb], v, create_graph=True, allow_unused=True)
        live = [t for t in g if t is not None and t.requires_grad]
        gg = lib.autograd.grad([t.sum() for t in live], [ta, tb, v], allow_unused=True) if live else []
        return [r.residuals.requires_grad] + [_arr(t) for t in [*g, *gg]]
    for x, y in zip(results(torch), results(tg), strict=True):
        if isinstance(x, bool):
            assert x == y
        else:
            same(x, y)
