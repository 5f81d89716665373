"""``torch.library.custom_op`` (PyTorch's "Custom Python Operators" tutorial): an op whose body is numpy, its
registered autograd formula (first and second derivatives), several outputs with a non-Tensor argument and a default,
an in-place op named in ``mutates_args``, per-device kernels, ``opcheck``, and torch's errors (no formula at
backward, an output aliasing an input, a non-Tensor output, a parameter without an annotation), and
``torch.ops.ns.name``."""

# (no ``from __future__ import annotations``: torch evaluates the ops' annotations, which must then be types)

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

_made: dict[Any, dict[str, Any]] = {}


def ops(lib: Any) -> dict[str, Any]:
    """The same ops made with ``lib``'s custom_op (once per library: torch keeps its registry for the process)."""
    if lib in _made:
        return _made[lib]
    ns = "tgtest" if lib is tg else "torchtest"

    @lib.library.custom_op(f"{ns}::numpy_sin", mutates_args=())
    def numpy_sin(x: lib.Tensor) -> lib.Tensor:
        return lib.from_numpy(np.asarray(np.sin(x.numpy())))

    def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
        x, = inputs
        ctx.save_for_backward(x)

    def backward(ctx: Any, grad: Any) -> Any:
        x, = ctx.saved_tensors
        return grad * x.cos()  # differentiable: a second derivative goes through it

    numpy_sin.register_autograd(backward, setup_context=setup_context)

    @lib.library.custom_op(f"{ns}::two", mutates_args=())
    def two(x: lib.Tensor, y: lib.Tensor, k: float = 2.0) -> tuple[lib.Tensor, lib.Tensor]:
        return x * k, x * y

    def two_setup(ctx: Any, inputs: tuple, output: Any) -> None:
        ctx.save_for_backward(inputs[0], inputs[1])
        ctx.k = inputs[2]

    def two_backward(ctx: Any, ga: Any, gb: Any) -> Any:
        x, y = ctx.saved_tensors
        return ga * ctx.k + gb * y, gb * x, None

    lib.library.register_autograd(f"{ns}::two", two_backward, setup_context=two_setup)

    @lib.library.custom_op(f"{ns}::plain", mutates_args=())
    def plain(x: lib.Tensor) -> lib.Tensor:
        return x * 2

    @lib.library.custom_op(f"{ns}::add_", mutates_args=("x",))
    def add_(x: lib.Tensor, n: float) -> None:
        x.add_(n)

    @lib.library.custom_op(f"{ns}::sneaky", mutates_args=())
    def sneaky(x: lib.Tensor) -> lib.Tensor:
        x.add_(1)
        return x + 0

    for op, fake in ((two, lambda x, y, k=2.0: (lib.empty_like(x), lib.empty_like(x))), (add_, lambda x, n: None),
                     (sneaky, lambda x: lib.empty_like(x))):
        op.register_fake(fake)  # (torch's opcheck runs its fake-tensor test with it; ours keeps it unused)
    _made[lib] = {"numpy_sin": numpy_sin, "two": two, "plain": plain, "add_": add_, "sneaky": sneaky}
    return _made[lib]


@settings(max_examples=30, deadline=None)
@given(x=arrays(np.float64, array_shapes(min_dims=0, max_dims=3, max_side=4), elements=st.floats(-5, 5)),
       k=st.floats(-3, 3))
def test_custom_ops_and_their_gradients_as_torch(x: np.ndarray, k: float) -> None:
    results = []
    for lib in (torch, tg):
        op = ops(lib)
        a = lib.tensor(x, requires_grad=True)
        b = lib.tensor(x[::-1].copy() if x.ndim else x, requires_grad=True)
        y = op["numpy_sin"](a)
        (g,) = lib.autograd.grad(y.sum(), a, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), a)  # -sin x, through the registered backward
        p, q = op["two"](a, b, k=k)
        p2, _ = op["two"](a, b)  # k's default
        (p.sum() + 2 * q.sum() + p2.sum()).backward()
        results.append([t.detach().numpy() for t in (y, g, gg, p, q, p2, a.grad, b.grad)])
    for ours, theirs in zip(*reversed(results)):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_torch_ops_namespace_as_torch() -> None:
    """``torch.ops.ns.name`` and ``.default`` are the op (ours: ``tinygrad_adam.ops``, beside the op families)."""
    x = np.linspace(-2, 2, 5)
    for lib in (torch, tg):
        ns = "tgtest" if lib is tg else "torchtest"
        made = ops(lib)
        namespace = getattr(lib.ops, ns)
        np.testing.assert_array_equal(namespace.numpy_sin(lib.tensor(x)).numpy(), np.sin(x))
        np.testing.assert_array_equal(namespace.two.default(lib.tensor(x), lib.tensor(x), 3.0)[0].numpy(), 3 * x)
        assert lib is torch or namespace.plain is made["plain"]
        with pytest.raises(AttributeError):
            namespace.no_such_op  # noqa: B018
    with pytest.raises(AttributeError, match="custom op namespace"):  # (torch makes any namespace on first use)
        tg.ops.no_such_namespace  # noqa: B018
    assert callable(tg.ops.elementwise.mul)  # the op families are still there


def test_errors_as_torch() -> None:
    for lib in (torch, tg):
        ns = "tgerr" if lib is tg else "torcherr"
        with pytest.raises(RuntimeError, match="no autograd formula was registered"):
            ops(lib)["plain"](lib.ones(2, requires_grad=True)).sum().backward()
        assert ops(lib)["plain"](lib.ones(2)).tolist() == [2.0, 2.0]  # (no grad wanted: no formula needed)

        @lib.library.custom_op(f"{ns}::alias", mutates_args=())
        def alias(x: lib.Tensor) -> lib.Tensor:
            return x
        with pytest.raises(RuntimeError, match="alias"):
            alias(lib.ones(2))

        @lib.library.custom_op(f"{ns}::number", mutates_args=())
        def number(x: lib.Tensor) -> lib.Tensor:
            return x.sum().item()
        with pytest.raises(RuntimeError):
            number(lib.ones(2))
        with pytest.raises(ValueError, match="type annotation"):
            lib.library.custom_op(f"{ns}::bare", mutates_args=())(lambda x: x)
        with pytest.raises(TypeError):
            lib.library.custom_op(f"{ns}::nomut")(lambda x: x)


def test_mutation_kernels_and_opcheck() -> None:
    for lib in (torch, tg):
        op = ops(lib)
        t = lib.zeros(2)
        before = t._version
        assert op["add_"](t, 2.0) is None
        assert t.tolist() == [2.0, 2.0] and t._version > before
        leaf = lib.zeros(2, requires_grad=True)
        op["add_"](leaf, 1.0)  # (below autograd, as torch runs the body)
        assert leaf.tolist() == [1.0, 1.0]
        ns = "tgk" if lib is tg else "torchk"

        @lib.library.custom_op(f"{ns}::kern", mutates_args=(), device_types="cpu")
        def kern(x: lib.Tensor) -> lib.Tensor:
            return x * 2
        assert kern(lib.ones(1)).tolist() == [2.0]

        @kern.register_kernel("cpu")
        def _(x: Any) -> Any:
            return x * 3
        assert kern(lib.ones(1)).tolist() == [3.0]
        checked = lib.library.opcheck(op["two"], (lib.ones(2, requires_grad=True), lib.ones(2), 3.0))
        assert checked["test_schema"] == checked["test_autograd_registration"] == "SUCCESS"
        assert lib.library.opcheck(op["add_"], (lib.zeros(2), 1.0))["test_schema"] == "SUCCESS"
        with pytest.raises(Exception, match=r"(?i)mutat|wrote|alias|not declared"):  # writes an input it does not name
            lib.library.opcheck(op["sneaky"], (lib.zeros(2),))


@pytest.mark.gpu
def test_a_gpu_input_runs_the_cuda_kernel() -> None:
    @tg.library.custom_op("tggpu::scaled", mutates_args=())
    def scaled(x: tg.Tensor) -> tg.Tensor:
        return x * 2

    @scaled.register_kernel("cuda")
    def _(x: Any) -> Any:
        return x * 3

    scaled.register_autograd(lambda ctx, g: g * 2)
    x = tg.ones(2, device="cuda", requires_grad=True)
    y = scaled(x)
    assert str(y.device).startswith("cuda") and y.cpu().tolist() == [3.0, 3.0]
    y.sum().backward()
    assert x.grad.cpu().tolist() == [2.0, 2.0]
    assert scaled(tg.ones(2)).tolist() == [2.0, 2.0]
