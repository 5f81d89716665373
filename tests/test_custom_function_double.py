"""Double backward through custom ``autograd.Function``s (``create_graph=True``), against torch.

torch runs a Function's ``backward`` in grad mode under ``create_graph=True``, and a saved output comes back as the
recorded output, so a backward written with Tensor ops is differentiated again; ``@once_differentiable`` computes
without a graph and raises when its result is differentiated again. Ours raised NotImplementedError for every
custom Function. The chunked ``linear_cross_entropy`` (a Function inside the library) reused its forward's
logsumexp as a constant, which would have made its second derivative silently wrong; it takes it again there.

Mutations run (each made a test here fail):
- the engine ignoring a node's ``graph`` twin (run_backward_graph reads DIFFERENTIABLE only): every test raises.
- ``saved_tensors`` giving the raw forward output under create_graph: test_saved_output, test_several_outputs.
- backward run under no_grad in graph mode: every second derivative is missing (grad raises / differs).
- ``_piece``'s graph twin padding at 0 instead of ``start``: test_several_outputs.
- ``once_differentiable`` results recorded without the failing node (plain constants): test_once_differentiable.
  (torch's failing node hangs off a detached copy of the result, so ``autograd.grad(g, x)`` never reaches it and
  drops the Function's term silently; ours raises there too, listed in README's Differences.)
- the chunked loss's backward reusing the saved logsumexp under create_graph: test_linear_cross_entropy_chunked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

LIBS = (tg, torch)


def functions(lib: Any) -> dict[str, Any]:
    """The same custom Functions written for ``lib`` (torch or ours), as a user writes them."""
    class Cube(lib.autograd.Function):  # saves its input
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    class Exp(lib.autograd.Function):  # saves its output (the docstring example of both libraries)
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (y,) = ctx.saved_tensors
            return g * y

    class SinCos(lib.autograd.Function):  # two outputs, both saved; a gradient that may be None
        @staticmethod
        def forward(ctx: Any, x: Any, w: Any) -> Any:
            s, c = (x * w).sin(), (x * w).cos()
            ctx.save_for_backward(x, w, s, c)
            ctx.set_materialize_grads(False)
            return s, c

        @staticmethod
        def backward(ctx: Any, gs: Any, gc: Any) -> Any:
            x, w, s, c = ctx.saved_tensors
            d = 0 * x * w
            if gs is not None:
                d = d + gs * c
            if gc is not None:
                d = d - gc * s
            return d * w, (d * x).sum(0)  # w's gradient in a broadcast shape... summed to (n,) by us and torch

    return {"Cube": Cube, "Exp": Exp, "SinCos": SinCos}


def second(lib: Any, name: str, x_np: np.ndarray, w_np: np.ndarray, drop: bool = False) -> list[np.ndarray]:
    """Gradients of a function of the first derivatives (g^2 + sin g, summed) by create_graph, for ``lib``."""
    fns = functions(lib)
    x = lib.tensor(x_np, requires_grad=True)
    w = lib.tensor(w_np, requires_grad=True)
    if name == "SinCos":
        s, c = fns[name].apply(x, w)
        y = (s * s).sum() if drop else (s * c).sum() + (c * 3).sum()
        gx, gw = lib.autograd.grad(y, (x, w), create_graph=True)
        z = (gx * gx).sum() + gw.sin().sum()
        return [v.detach().numpy() for v in lib.autograd.grad(z, (x, w))]
    y = (fns[name].apply(x * w) * x).sum()
    gx, gw = lib.autograd.grad(y, (x, w), create_graph=True)
    z = (gx * gx).sum() + gw.sin().sum()
    return [v.detach().numpy() for v in lib.autograd.grad(z, (x, w))]


def compare(name: str, x: np.ndarray, w: np.ndarray, drop: bool = False) -> None:
    ours, theirs = (second(lib, name, x, w, drop) for lib in LIBS)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)


values = arrays(np.float64, (3, 2), elements=st.floats(-3, 3, allow_nan=False) | st.sampled_from([0.0, -0.0]))


@settings(max_examples=40, deadline=None)
@given(values, arrays(np.float64, (2,), elements=st.floats(-2, 2)))
def test_saved_input(x: np.ndarray, w: np.ndarray) -> None:
    compare("Cube", x, w)


@settings(max_examples=40, deadline=None)
@given(values, arrays(np.float64, (2,), elements=st.floats(-2, 2)))
def test_saved_output(x: np.ndarray, w: np.ndarray) -> None:
    compare("Exp", x, w)


@settings(max_examples=40, deadline=None)
@given(values, arrays(np.float64, (2,), elements=st.floats(-2, 2)), st.booleans())
def test_several_outputs(x: np.ndarray, w: np.ndarray, drop: bool) -> None:
    compare("SinCos", x, w, drop)


@pytest.mark.parametrize("special", [np.inf, -np.inf, np.nan, 1e300, -1e-310])
def test_extreme_values(special: float) -> None:
    x = np.array([[special, 1.0], [0.0, -2.0], [0.5, special]])
    for name in ("Cube", "Exp", "SinCos"):
        compare(name, x, np.array([1.5, -0.5]))


@pytest.mark.parametrize("shape", [(), (0,), (0, 3)])
def test_empty_and_0d(shape: tuple[int, ...]) -> None:
    x = np.full(shape, 0.7)
    for name in ("Cube", "Exp"):
        compare(name, x, np.array(1.3))


def test_once_differentiable() -> None:
    """First derivatives come back under create_graph; differentiating them again raises torch's error."""
    results = []
    for lib in LIBS:
        from_module = __import__(f"{lib.__name__}.autograd.function", fromlist=["once_differentiable"])

        class Square(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            @from_module.once_differentiable
            def backward(ctx: Any, g: Any) -> Any:
                (x,) = ctx.saved_tensors
                return 2 * x * g

        x = lib.tensor([1.5, -2.0], requires_grad=True)
        (g,) = lib.autograd.grad((Square.apply(x) * x).sum(), x, create_graph=True)
        assert g.requires_grad  # through the product's own (differentiable) backward
        if lib is tg:  # torch's error node hangs off a detached copy, so grad(..., x) skips it and silently drops
            with pytest.raises(RuntimeError, match="marked with @once_differentiable"):  # Square's term: ours raises
                lib.autograd.grad(g.sum(), x, retain_graph=True)
        with pytest.raises(RuntimeError, match="marked with @once_differentiable"):
            g.sum().backward()
        (g1,) = lib.autograd.grad(Square.apply(x).sum(), x)  # first order: unchanged
        results.append((g.detach().numpy(), g1.numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_gradgradcheck() -> None:
    """torch's gradgradcheck of a custom Function passes in both (it raised NotImplementedError here)."""
    for lib in LIBS:
        cube = functions(lib)["Cube"]
        x = lib.tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
        assert lib.autograd.gradgradcheck(cube.apply, (x,))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_linear_cross_entropy_chunked(reduction: str) -> None:
    """The chunked path's second derivatives equal those of torch's reference path, cross_entropy(linear(...))."""
    rng = np.random.default_rng(3)
    arrays_ = rng.standard_normal((6, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    target = np.array([0, 1, 2, 3, 4, -100])
    results = []
    for lib in LIBS:
        x, w, b = (lib.tensor(a, requires_grad=True) for a in arrays_)
        if lib is tg:
            loss = tg.nn.functional.linear_cross_entropy(x, w, tg.tensor(target), linear_bias=b, reduction=reduction,
                                                         options=tg.nn.LinearCrossEntropyOptions(batch_chunk_size=2))
        else:  # the definition (torch's own chunked path gives a first derivative that has no graph)
            loss = torch.nn.functional.cross_entropy(torch.nn.functional.linear(x, w, b), torch.tensor(target),
                                                     reduction=reduction)
        (gw,) = lib.autograd.grad(loss, w, create_graph=True)
        results.append([v.detach().numpy() for v in lib.autograd.grad((gw * gw).sum() + gw.sin().sum(), (x, w, b))])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_full_backward_hook_under_create_graph() -> None:
    """Module full backward hooks run through custom Functions; their gradients keep their history (a gradient
    penalty through a hooked layer), as torch's."""
    rng = np.random.default_rng(4)
    w_np, x_np = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    results = []
    for lib in LIBS:
        layer = lib.nn.Linear(4, 3).double()
        with lib.no_grad():
            layer.weight.copy_(lib.tensor(w_np))
            layer.bias.zero_()
        seen: list[bool] = []
        layer.register_full_backward_hook(lambda m, gi, go, seen=seen: seen.append(go[0].requires_grad))
        x = lib.tensor(x_np, requires_grad=True)
        (gx,) = lib.autograd.grad(layer(x).tanh().sum(), x, create_graph=True)
        penalty = ((gx.norm(dim=1) - 1) ** 2).mean()
        penalty.backward()
        results.append((layer.weight.grad.numpy(), seen))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-9)
    assert results[0][1] == results[1][1] == [True, False]  # the hook runs in both backward passes
