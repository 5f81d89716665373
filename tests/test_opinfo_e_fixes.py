"""Found by the common_nn sweep (torch.testing._internal.common_nn's module, new-module and criterion tests run
against tinygrad_adam.nn, with reduction variants, no-batch-dim inputs and double backward), against torch 2.13:
a gradient taken with ``create_graph=True`` through ``F.fold`` / ``nn.Fold`` (col2im) raised NotImplementedError
where torch differentiates it (a gradient penalty through a patch-merging fold); and a third derivative through any
op whose second derivative is a recorded linear map (F.unfold, Tensor.unfold, avg / max pools, interpolate,
gather, ...) raised NotImplementedError (the map's record did not keep the map itself, only its adjoint)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def _fixed(shape: tuple[int, ...], phase: float) -> np.ndarray:
    return np.cos(np.arange(int(np.prod(shape))) * 0.7 + phase).reshape(shape)


def _fold_second(lib: Any, x: np.ndarray, size: tuple[int, int], k: tuple[int, int], dil: tuple[int, int],
                 pad: tuple[int, int], stride: tuple[int, int], penalty: bool) -> list[np.ndarray]:
    """The first gradient of sum(w * fold(x * x) ** 2) and the gradient of sum(g * v) (penalty: sum(g ** 2)): the
    squared output makes fold's incoming gradient depend on x, so its recorded adjoint is used."""
    t = lib.tensor(x, requires_grad=True)
    out = lib.nn.Fold(size, k, dil, pad, stride)(t * t)
    y = (out * out * lib.tensor(_fixed(tuple(out.shape), 0.3))).sum()
    (g,) = lib.autograd.grad(y, t, create_graph=True)
    z = (g ** 2).sum() if penalty else (g * lib.tensor(_fixed(tuple(g.shape), 1.1))).sum()
    (h,) = lib.autograd.grad(z, t)
    return [np.asarray(out.detach().numpy()), np.asarray(g.detach().numpy()), np.asarray(h.detach().numpy())]


@settings(max_examples=25, deadline=None)
@given(data=st.data(), hw=st.tuples(st.integers(2, 5), st.integers(2, 5)), c=st.integers(1, 2),
       k=st.tuples(st.integers(1, 2), st.integers(1, 3)), dil=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       pad=st.tuples(st.integers(0, 1), st.integers(0, 1)), stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       batched=st.booleans(), penalty=st.booleans())
def test_fold_second_derivative(data: st.DataObject, hw: tuple[int, int], c: int, k: tuple[int, int],
                                dil: tuple[int, int], pad: tuple[int, int], stride: tuple[int, int], batched: bool,
                                penalty: bool) -> None:
    blocks = [(hw[i] + 2 * pad[i] - dil[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(2)]
    if min(blocks) < 1:
        return
    shape = ((2,) if batched else ()) + (c * k[0] * k[1], blocks[0] * blocks[1])
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-10, 10, allow_nan=False, width=64)))
    want = _fold_second(torch, x, hw, k, dil, pad, stride, penalty)
    got = _fold_second(tg, x, hw, k, dil, pad, stride, penalty)
    for w, o in zip(want, got):
        np.testing.assert_allclose(o, w, rtol=1e-7, atol=1e-9)


def _third(lib: Any, f: Any, shape: tuple[int, ...]) -> list[np.ndarray]:
    """g = d/dx sum(f(x^3)^2), h = d/dx sum(g) and d/dx sum(h * v): three derivatives, each with create_graph."""
    x = lib.tensor(_fixed(shape, 0.5), requires_grad=True)
    out = f(lib, x ** 3)
    (g,) = lib.autograd.grad((out * out).sum(), x, create_graph=True)
    (h,) = lib.autograd.grad(g.sum(), x, create_graph=True)
    (t,) = lib.autograd.grad((h * lib.tensor(_fixed(shape, 2.0))).sum(), x)
    return [np.asarray(v.detach().numpy()) for v in (g, h, t)]


THIRD = {
    "F.unfold": (lambda lib, x: lib.nn.functional.unfold(x, 2, stride=1), (1, 2, 4, 4)),
    "Tensor.unfold": (lambda lib, x: x.unfold(1, 2, 1), (2, 5)),
    "avg_pool2d": (lambda lib, x: lib.nn.functional.avg_pool2d(x, 2, 1), (1, 2, 4, 4)),
    "max_pool2d": (lambda lib, x: lib.nn.functional.max_pool2d(x, 2, 1), (1, 2, 4, 4)),
    "avg_pool3d": (lambda lib, x: lib.nn.functional.avg_pool3d(x, 2, 1), (1, 1, 3, 3, 3)),
    "max_pool1d": (lambda lib, x: lib.nn.functional.max_pool1d(x, 2, 1), (1, 2, 5)),
    "bilinear": (lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=2, mode="bilinear"), (1, 2, 3, 3)),
    "fold": (lambda lib, x: lib.nn.functional.fold(x, (3, 2), (2, 1)), (1, 4, 4)),  # 2 channels, 2 x 2 blocks
    "gather": (lambda lib, x: x.gather(1, lib.tensor(np.array([[0, 1, 1], [2, 0, 0]]))), (2, 3)),
}


@pytest.mark.parametrize("name", sorted(THIRD))
def test_third_derivative_through_a_linear_map(name: str) -> None:
    f, shape = THIRD[name]
    for w, o in zip(_third(torch, f, shape), _third(tg, f, shape)):
        np.testing.assert_allclose(o, w, rtol=1e-8, atol=1e-10)
