"""autograd.Function (custom ops) against torch.autograd.Function: the same classes on both, gradients compared."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch")


def functions(lib: Any) -> dict[str, Any]:
    """Custom Functions written once, for either library."""

    class Exp(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (y,) = ctx.saved_tensors
            return g * y

    class ScaledMul(lib.autograd.Function):  # a number argument, and a gradient left broadcast for b (1, n)
        @staticmethod
        def forward(ctx: Any, a: Any, b: Any, k: float) -> Any:
            ctx.save_for_backward(a, b)
            ctx.k = k
            return a * b * k

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            a, b = ctx.saved_tensors
            ga = g * b * ctx.k if ctx.needs_input_grad[0] else None
            return ga, g * a * ctx.k, None

    class SplitSquare(lib.autograd.Function):  # two outputs, one of them often unused
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.save_for_backward(x)
            return x * x, x * 3

        @staticmethod
        def backward(ctx: Any, g1: Any, g2: Any) -> Any:
            (x,) = ctx.saved_tensors
            return g1 * 2 * x + g2 * 3

    class NoMaterialize(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.set_materialize_grads(False)
            return x * 2, x * 5

        @staticmethod
        def backward(ctx: Any, g1: Any, g2: Any) -> Any:
            out = 0
            if g1 is not None:
                out = out + g1 * 2
            if g2 is not None:
                out = out + g2 * 5
            return out

    class Cube(lib.autograd.Function):  # torch's newer form: forward without ctx, then setup_context
        @staticmethod
        def forward(x: Any) -> Any:
            return x ** 3

        @staticmethod
        def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    return {"Exp": Exp, "ScaledMul": ScaledMul, "SplitSquare": SplitSquare, "NoMaterialize": NoMaterialize,
            "Cube": Cube}


def run(lib: Any, case: str, a0: np.ndarray, b0: np.ndarray, use: int, b_grad: bool) -> list[Any]:
    f = functions(lib)
    a = lib.tensor(a0, requires_grad=True)
    b = lib.tensor(b0, requires_grad=b_grad)
    if case == "Exp":
        loss = (f["Exp"].apply(a) * b).sum()
    elif case == "ScaledMul":
        loss = f["ScaledMul"].apply(a, b, 0.5).sum()
    elif case == "Cube":
        loss = (f["Cube"].apply(a) * b).sum()
    else:
        y1, y2 = f[case].apply(a)
        loss = (y1 * b).sum() if use == 0 else (y2 * b).sum() if use == 1 else (y1 * b + y2).sum()
    loss.backward()
    return [loss.detach(), a.grad, b.grad]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["Exp", "ScaledMul", "SplitSquare", "NoMaterialize", "Cube"]), st.integers(0, 2),
       st.booleans(), st.integers(0, 3), st.integers(0, 10**6))
def test_custom_functions_match_torch(case: str, use: int, b_grad: bool, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a0 = rng.uniform(-2, 2, (n, 3))
    b0 = rng.uniform(-2, 2, (1, 3) if case == "ScaledMul" else (n, 3))
    ours, theirs = run(tg, case, a0, b0, use, b_grad), run(torch, case, a0, b0, use, b_grad)
    for o, t in zip(ours, theirs):
        assert (o is None) == (t is None)
        if o is not None:
            np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-12, atol=1e-12)


def test_no_graph_without_grad_and_non_differentiable_outputs() -> None:
    f = functions(tg)
    x = tg.tensor([1.0, 2.0])
    assert not f["Exp"].apply(x).requires_grad

    class ArgMax(tg.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            i = x.argmax()
            v = x.max()
            ctx.mark_non_differentiable(i)
            return v, i

        @staticmethod
        def backward(ctx: Any, gv: Any, gi: Any) -> Any:
            return gv * tg.tensor([0.0, 1.0])

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    v, i = ArgMax.apply(x)
    assert v.requires_grad and not i.requires_grad
    v.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0])


@pytest.mark.parametrize(("result", "message"), [
    (lambda g: (g, g), "gradients where forward took"),
    (lambda g: g[:1], "invalid gradient at index 0"),
    (lambda g: 2.0, "return a Tensor or None"),
])
def test_bad_backward_results_raise(result: Any, message: str) -> None:
    class Bad(tg.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return result(g)

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises((RuntimeError, TypeError), match=message):
        Bad.apply(x).sum().backward()


def test_gradient_for_a_number_argument_raises() -> None:
    class Bad(tg.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, k: float) -> Any:
            return x * k

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g, g

    x = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="no Tensor input"):
        Bad.apply(x, 2.0).sum().backward()
