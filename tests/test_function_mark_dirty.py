"""``ctx.mark_dirty`` in a custom Function (an input written in place by ``forward`` and returned), against torch:
the returned tensor is the input itself, now recorded as the Function's output; an op recorded earlier that
reads the input's old values, or whose gradient reads its own output, raises at backward; a write after the
Function leaves its gradient right unless ``save_for_backward`` kept the tensor. A custom Function's node reads
only what ``ctx.save_for_backward`` kept, as torch's saved-variable check (ours raised for any later write into
an input or output of a Function)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def functions(lib: Any) -> dict[str, Any]:
    """Three Functions: one that doubles its input in place, one that also saves it, one with two outputs."""
    class DoubleInPlace(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.mark_dirty(x)
            return x.mul_(2)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g * 2

    class SquareInPlace(lib.autograd.Function):  # saves the written tensor: later writes into it must raise
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.mark_dirty(x)
            ctx.root = x.sqrt()
            x.mul_(x)
            ctx.save_for_backward(x)
            return x

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            (y,) = ctx.saved_tensors
            return g * 2 * y.sqrt()

    class AddInto(lib.autograd.Function):  # writes y into x; returns x and a new tensor
        @staticmethod
        def forward(ctx: Any, x: Any, y: Any) -> Any:
            ctx.mark_dirty(x)
            x.add_(y)
            return x, y * 3

        @staticmethod
        def backward(ctx: Any, gx: Any, gz: Any) -> Any:
            return gx, gx + gz * 3

    return {"double": DoubleInPlace, "square": SquareInPlace, "add_into": AddInto}


def program(lib: Any, w0: np.ndarray, maker: str, reader: str, fn: str, after: str) -> Any:
    """Make x from a leaf, maybe read it, write it through a Function, maybe write it again; the leaves'
    gradients, the identity of the output, or the exception's type."""
    w = lib.tensor(w0, requires_grad=True)
    v = lib.tensor(w0[::-1].copy(), requires_grad=True)
    x = {"mul": lambda: w * 3, "exp": lambda: w.exp(), "clone": lambda: w.clone(),
         "constant": lambda: lib.tensor(w0.copy())}[maker]()
    extra = {"none": lambda: 0, "add": lambda: (x + 1).sum(), "mul": lambda: (x * x).sum()}[reader]()
    f = functions(lib)[fn]
    try:
        outs = f.apply(x, v) if fn == "add_into" else (f.apply(x if maker != "constant" else x + v),)
        same = outs[0] is x
        if after == "mul_":
            outs[0].mul_(5)
        elif after == "again":
            outs = (functions(lib)["double"].apply(outs[0]), *outs[1:])
        loss = sum((o * o).sum() for o in outs) + extra
        loss.backward()
    except RuntimeError as e:
        return "RuntimeError", str(e)[:0]
    grads = [None if t.grad is None else t.grad.numpy().tolist() for t in (w, v)]
    return same, grads


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.25, 4.0), min_size=1, max_size=4),
       st.sampled_from(["mul", "exp", "clone", "constant"]), st.sampled_from(["none", "add", "mul"]),
       st.sampled_from(["double", "square", "add_into"]), st.sampled_from(["none", "mul_", "again"]))
def test_mark_dirty_programs_match_torch(w0: list[float], maker: str, reader: str, fn: str, after: str) -> None:
    w = np.array(w0)
    ours, theirs = program(tg, w, maker, reader, fn, after), program(torch, w, maker, reader, fn, after)
    if theirs[0] == "RuntimeError" or ours[0] == "RuntimeError":
        assert ours == theirs
        return
    assert ours[0] == theirs[0]
    for a, b in zip(ours[1], theirs[1]):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("lib", [tg, torch])
def test_mark_dirty_refusals(lib: Any) -> None:
    """A dirty leaf that requires grad, and a dirty tensor forward does not return, raise as torch's."""
    class NotReturned(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.mark_dirty(x)
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g

    w = lib.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        functions(lib)["double"].apply(w)
    with pytest.raises(RuntimeError, match="not returned"):
        NotReturned.apply(w * 1)
    with lib.no_grad():  # outside grad mode a leaf may be written
        functions(lib)["double"].apply(w)
    np.testing.assert_array_equal(w.detach().numpy(), [4.0, 8.0])  # (the refused leaf was written, as torch's)


@pytest.mark.parametrize("save", ["nothing", "output", "input"])
@pytest.mark.parametrize("unpack", [False, True])
@pytest.mark.parametrize("write", ["input", "output", "output_view", "both"])
def test_function_saved_tensors_are_checked_when_unpacked(save: str, unpack: bool, write: str) -> None:
    """Without mark_dirty: a write into a Function's input or output after it ran raises only where its backward
    unpacks a saved tensor that was written, as torch's (ours raised for any write into an input or output)."""
    def run(lib: Any) -> Any:
        class Scale(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                y = x * 2
                ctx.save_for_backward(*{"nothing": (), "output": (y,), "input": (x,)}[save])
                return y

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                if unpack:
                    _ = ctx.saved_tensors
                return g * 2

        w = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        x = w * 1
        y = Scale.apply(x)
        if write in ("input", "both"):
            x.add_(1)
        if write in ("output", "both"):
            y.mul_(3)
        if write == "output_view":
            y[1:].mul_(3)
        try:
            (y * y).sum().backward()
        except RuntimeError:
            return "RuntimeError"
        return w.grad.numpy().tolist()
    assert run(tg) == run(torch)


@pytest.mark.parametrize("lib", [tg, torch])
def test_mark_dirty_double_backward(lib: Any) -> None:
    """A dirty tensor saved and differentiated twice (create_graph): ours equals torch's."""
    w = lib.tensor([0.5, 1.5, 2.0], dtype=lib.float64, requires_grad=True)
    y = functions(lib)["square"].apply(w * 3)
    (g,) = lib.autograd.grad(y.sum(), w, create_graph=True)
    (h,) = lib.autograd.grad((g * g).sum(), w)
    np.testing.assert_allclose(g.detach().numpy(), 18 * np.array([0.5, 1.5, 2.0]))
    np.testing.assert_allclose(h.detach().numpy(), 2 * 18 * 18 * np.array([0.5, 1.5, 2.0]))


@pytest.mark.parametrize("write", [False, True])
def test_saved_non_differentiable_output_is_checked(write: bool) -> None:
    """A saved integer output (returned as a constant) written in place before backward unpacks it raises as
    torch's; unwritten, the gradients agree."""
    def run(lib: Any) -> Any:
        class Gate(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                idx = (x > 0).long()
                ctx.mark_non_differentiable(idx)
                ctx.save_for_backward(idx)
                return x * 2, idx

            @staticmethod
            def backward(ctx: Any, g: Any, gi: Any) -> Any:
                (idx,) = ctx.saved_tensors
                return g * idx

        w = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y, i = Gate.apply(w * 1)
        if write:
            i.add_(1)
        try:
            y.sum().backward()
        except RuntimeError:
            return "RuntimeError"
        return w.grad.numpy().tolist()
    assert run(tg) == run(torch)
