"""Differences from torch found by the autograd API probe (the same small programs run in both libraries), each
checked against torch: a leaf's ``.grad`` is added into in place (the same Tensor, also a user's or a view, and
never the caller's ``gradient``), ``detach_()`` keeps the graph of ops recorded before it (and a saved
detached tensor raises), ``autograd.grad(materialize_grads=True)``, a hook that changes the gradient's dtype
raises, a custom Function's non-differentiable outputs get zero gradients, and ``enable_grad()`` inside
``inference_mode()`` records nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

LIBS = [torch, tg]


def arr(t: Any) -> np.ndarray:
    return t.detach().numpy()


def accumulate_program(lib: Any, x0: np.ndarray, scales: list[float], reset: str, dtype: str) -> dict[str, Any]:
    """Several backward calls into one leaf; references to .grad held between them; .grad reset in one of
    torch's ways before the last."""
    dt = getattr(lib, dtype)
    x = lib.tensor(x0, dtype=dt, requires_grad=True)
    out: dict[str, Any] = {}
    held = []
    for k in scales:
        (x * x * k).sum().backward()
        held.append(x.grad)
    base = None
    if reset == "zero":
        x.grad.zero_()
    elif reset == "none":
        x.grad = None
    elif reset == "assign":
        x.grad = lib.full(tuple(x0.shape), 0.5, dtype=dt)
        held.append(x.grad)
    elif reset == "view":
        base = lib.zeros((x0.shape[0] + 2, *x0.shape[1:]), dtype=dt)
        x.grad = base[1:-1]
    elif reset == "transposed":
        x.grad = lib.zeros(tuple(reversed(x0.shape)), dtype=dt).t()
    x.sin().sum().backward()
    out["grad"] = arr(x.grad)
    out["held"] = [arr(h) for h in held]
    out["same"] = [h is x.grad for h in held]
    if base is not None:
        out["base"] = arr(base)
    if reset == "transposed":
        out["contiguous"] = x.grad.is_contiguous()
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 2)), min_size=6, max_size=6),
       st.lists(st.sampled_from([0.5, 1.0, 2.0, -3.0]), min_size=1, max_size=3),
       st.sampled_from(["keep", "zero", "none", "assign", "view", "transposed"]),
       st.sampled_from(["float32", "float64"]))
def test_leaf_grad_accumulates_in_place_as_torch(values: list[float], scales: list[float], reset: str,
                                                  dtype: str) -> None:
    x0 = np.array(values).reshape(2, 3)
    ref, ours = (accumulate_program(lib, x0, scales, reset, dtype) for lib in LIBS)
    assert ours["same"] == ref["same"]
    tol = dict(rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours["grad"], ref["grad"], **tol)
    for a, b in zip(ours["held"], ref["held"], strict=True):
        np.testing.assert_allclose(a, b, **tol)
    if "base" in ref:
        np.testing.assert_allclose(ours["base"], ref["base"], **tol)
    assert ours.get("contiguous") == ref.get("contiguous")


@pytest.mark.parametrize("how", ["leaf", "through_add", "function"])
def test_callers_gradient_is_never_the_grad(how: str) -> None:
    """x.backward(g) (and (x + 0).backward(g)) copy g into x.grad: a second backward leaves g as it was."""
    res = []
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        g = lib.tensor([1.0, 10.0, 100.0])
        for _ in range(2):
            if how == "leaf":
                x.backward(g)
            elif how == "through_add":
                (x + 0).backward(g)
            else:
                lib.autograd.backward([x], [g])
        res.append((arr(g), arr(x.grad)))
    for a, b in zip(*res, strict=True):
        np.testing.assert_array_equal(a, b)


def test_user_grad_buffer_is_added_into_and_version_counts() -> None:
    res = []
    for lib in LIBS:
        p = lib.tensor([1.0, 2.0], requires_grad=True)
        buf = lib.tensor([10.0, 20.0])
        p.grad = buf
        v0 = buf._version
        (p * 3).sum().backward()
        res.append((arr(buf), p.grad is buf, buf._version - v0))
    assert res[1][1:] == res[0][1:]
    np.testing.assert_array_equal(res[1][0], res[0][0])


def detach_program(lib: Any, consumer: str, write: bool) -> Any:
    x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
    w = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
    z = x * 2
    out = {"unsaved": lambda: z * 1 + z.sum(), "sin": lambda: z.sin(), "mul": lambda: z * w}[consumer]()
    z.detach_()
    if write:
        z.mul_(3)
    try:
        (out.sum() + z.sum()).backward()
    except RuntimeError:
        return "raised"
    return arr(x.grad), z.requires_grad, z.is_leaf


@pytest.mark.parametrize("consumer", ["unsaved", "sin", "mul"])
@pytest.mark.parametrize("write", [False, True])
def test_detach_in_place_keeps_earlier_graph(consumer: str, write: bool) -> None:
    """torch's edges keep z's old grad_fn: an op that saved nothing of z still differentiates through it; one
    that saved z raises ("a saved tensor that has been detached in-place")."""
    ref, ours = (detach_program(lib, consumer, write) for lib in LIBS)
    if isinstance(ref, str):
        assert ours == ref
    else:
        assert not isinstance(ours, str)
        np.testing.assert_allclose(ours[0], ref[0])
        assert ours[1:] == ref[1:]


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("allow_unused", [None, True, False])
def test_grad_materialize_grads(create_graph: bool, batched: bool, allow_unused: bool | None) -> None:
    res = []
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        u = lib.tensor([[7.0, 1.0]], dtype=lib.float64, requires_grad=True)
        go = lib.eye(3, dtype=lib.float64) if batched else lib.ones(3, dtype=lib.float64)
        try:
            gs = lib.autograd.grad(x * x, [x, u], go, create_graph=create_graph, allow_unused=allow_unused,
                                   materialize_grads=True, is_grads_batched=batched)
        except ValueError:
            res.append("raised")
            continue
        res.append([(arr(g), tuple(g.shape), g.requires_grad) for g in gs])
    if res[0] == "raised":
        assert res[1] == "raised"
        return
    for (a, sa, ra), (b, sb, rb) in zip(res[0], res[1], strict=True):
        np.testing.assert_allclose(b, a)
        assert (sb, rb) == (sa, ra)


@pytest.mark.parametrize("leaf", [True, False])
def test_hook_changing_dtype_raises(leaf: bool) -> None:
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        t = x if leaf else x * 2
        t.register_hook(lambda g: g.double())
        with pytest.raises(RuntimeError, match="changed the type" if lib is torch else "a hook must keep the dtype"):
            (t * t).sum().backward()


@pytest.mark.parametrize("materialize", [True, False])
@pytest.mark.parametrize("create_graph", [False, True])
def test_function_non_differentiable_outputs_get_zero_grads(materialize: bool, create_graph: bool) -> None:
    res = []
    for lib in LIBS:
        seen: list[Any] = []

        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                ctx.set_materialize_grads(materialize)
                w = x * 1
                ctx.mark_non_differentiable(w)
                return x * 3, x.argmax(), w, 5, (x > 0).long()

            @staticmethod
            def backward(ctx: Any, gv: Any, gi: Any, gw: Any, g5: Any, gl: Any, seen: list = seen) -> Any:
                seen.extend(None if g is None else (g.tolist(), str(g.dtype).replace("torch.", ""))
                            for g in (gv, gi, gw, g5, gl))
                return None if gv is None else gv * 3

        x = lib.tensor([1.0, -2.0, 3.0], dtype=lib.float64, requires_grad=True)
        v = F.apply(x)[0]
        (g,) = lib.autograd.grad(v.sum(), x, create_graph=create_graph)
        res.append((seen, arr(g).tolist()))
    assert res[1] == res[0]


def test_enable_grad_inside_inference_mode_records_nothing() -> None:
    res = []
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with lib.no_grad(), lib.inference_mode(), lib.enable_grad():
            y = x * 2
            enabled = lib.is_grad_enabled()
        with lib.inference_mode(), lib.inference_mode(False):
            z = x * 2
        res.append((y.requires_grad, enabled, z.requires_grad))
    assert res[1] == res[0]


@pytest.mark.parametrize("source", ["saved", "ctx_attribute", "hook"])
def test_grad_added_in_place_never_writes_into_a_users_tensor(source: str) -> None:
    """A custom Function's backward returning a tensor it kept, or a hook returning its own tensor: the leaf's
    .grad is a copy, so the second backward's in-place add leaves that tensor as it was (as torch)."""
    res = []
    for lib in LIBS:
        keep = lib.tensor([5.0, 7.0])

        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any, keep: Any = keep) -> Any:
                ctx.save_for_backward(keep)
                ctx.k = keep
                return x * 1

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                return ctx.saved_tensors[0] if source == "saved" else ctx.k

        x = lib.tensor([1.0, 2.0], requires_grad=True)
        if source == "hook":
            x.register_hook(lambda g, keep=keep: keep)
        for _ in range(2):
            (x * 2 if source == "hook" else F.apply(x)).sum().backward()
        res.append((arr(keep), arr(x.grad)))
    for a, b in zip(*res, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("how", ["backward_inputs", "grad", "grad_create_graph"])
def test_hooks_off_the_path_to_inputs_are_not_called(how: str) -> None:
    """With ``inputs`` (backward(inputs=...) or autograd.grad), torch runs only the nodes that lead to them: a hook
    on another leaf (or a tensor only it needs) is not called."""
    res = []
    for lib in LIBS:
        calls: list[str] = []
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, -1.0], requires_grad=True)
        v = w * 2
        h = x * v
        for name, t in (("h", h), ("x", x), ("w", w), ("v", v)):
            t.register_hook(lambda g, name=name, calls=calls: calls.append(name))
        out = (h * h).sum()
        if how == "backward_inputs":
            out.backward(inputs=[x])
        else:
            lib.autograd.grad(out, x, create_graph=how == "grad_create_graph")
        res.append((calls, w.grad))
    assert res[1] == res[0]


def assign_grad(lib: Any, dtype: str, shape: tuple[int, ...], value: str) -> str:
    """Assign ``.grad`` a value of some kind; the exception type's name, or "ok"."""
    p = lib.zeros(3, dtype=getattr(lib, dtype), requires_grad=True)
    values = {"tensor": lambda: lib.ones(shape, dtype=getattr(lib, dtype)),
              "float64": lambda: lib.ones(shape, dtype=lib.float64),
              "float16": lambda: lib.ones(shape, dtype=lib.float16),
              "int64": lambda: lib.ones(shape, dtype=lib.int64), "self": lambda: p,
              "number": lambda: 1.0, "ndarray": lambda: np.ones(shape, dtype=dtype)}
    try:
        p.grad = values[value]()
    except Exception as e:  # the exception's type is what is compared
        return type(e).__name__
    return "ok"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(3,), (2,), (1, 3), ()])
@pytest.mark.parametrize("value", ["tensor", "float64", "float16", "int64", "self", "number", "ndarray"])
def test_grad_assignment_is_checked_as_torch(dtype: str, shape: tuple[int, ...], value: str) -> None:
    """``.grad`` of another dtype was accepted (a later backward or optimizer then worked in that dtype) and a
    number or an array was wrapped: torch refuses each, as ours now does with the same exception type."""
    assert assign_grad(tg, dtype, shape, value) == assign_grad(torch, dtype, shape, value)
