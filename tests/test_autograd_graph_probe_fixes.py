"""Differences from torch found by the autograd-graph probe (hooks, grad_fn nodes, torch.autograd.graph,
torch.utils.checkpoint), each checked against torch: ``grad_fn`` is one object with a persistent ``metadata``
dict and is a ``torch.autograd.graph.Node``; ``Node.register_prehook`` (after the tensor's own hooks) and hooks on
a leaf's AccumulateGrad; removing one of two registrations of the same hook function removes only that one;
``torch.autograd.graph.saved_tensors_hooks`` / ``save_on_cpu`` / ``disable_saved_tensors_hooks``; the reentrant
checkpoint's floating-point outputs all require grad; ``detect_anomaly`` checks NaN gradients under
``create_graph=True``; a post-accumulate hook returning a value is a TypeError; an in-place op's node name."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.utils.checkpoint as tg_checkpoint

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
import torch.utils.checkpoint as torch_checkpoint  # noqa: E402

LIBS = [torch, tg]
CHECKPOINT = {torch: torch_checkpoint, tg: tg_checkpoint}

values = st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=1, max_size=6).map(
    lambda v: np.array(v, np.float32))


def arr(t: Any) -> Any:
    return None if t is None else t.detach().numpy().copy()


def both(program: Any, *args: Any) -> tuple[Any, Any]:
    return program(torch, *args), program(tg, *args)


def assert_same(a: Any, b: Any) -> None:
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    else:
        assert a == b


def test_grad_fn_is_one_node_with_metadata() -> None:
    for lib in LIBS:
        x = lib.ones(3, requires_grad=True)
        y = x * 2
        assert y.grad_fn is y.grad_fn
        assert y.grad_fn.next_functions[0][0] is y.grad_fn.next_functions[0][0]
        assert isinstance(y.grad_fn, lib.autograd.graph.Node)
        assert isinstance(y.grad_fn.next_functions[0][0], lib.autograd.graph.Node)
        y.grad_fn.metadata["k"] = 1
        assert y.grad_fn.metadata == {"k": 1}
        y.add_(1)  # a new node: its own metadata
        assert y.grad_fn.metadata == {}
        assert y.grad_fn.name().rstrip("0") == "AddBackward"


def prehook_program(lib: Any, x0: np.ndarray, scale: float, order: str) -> list[Any]:
    log: list[Any] = []
    x = lib.tensor(x0, requires_grad=True)
    y = x * 2
    y.retain_grad()

    def node_pre(go: tuple[Any, ...]) -> tuple[Any, ...]:
        log.append(("node", arr(go[0])))
        return (go[0] * scale,)

    def tensor_hook(g: Any) -> None:
        log.append(("tensor", arr(g)))
    if order == "node first":
        y.grad_fn.register_prehook(node_pre)
        y.register_hook(tensor_hook)
    else:
        y.register_hook(tensor_hook)
        y.grad_fn.register_prehook(node_pre)
    acc = y.grad_fn.next_functions[0][0]
    acc.register_prehook(lambda go: log.append(("acc pre", arr(go[0]))))
    acc.register_hook(lambda gi, go: log.append(("acc", len(gi), arr(go[0]), arr(x.grad))))
    (y * y).sum().backward()
    return [log, arr(x.grad)]


@settings(max_examples=25, deadline=None)
@given(values, st.sampled_from([0.0, -2.0, 0.5]), st.sampled_from(["node first", "tensor first"]))
def test_node_prehooks_and_accumulate_grad_hooks(x0: np.ndarray, scale: float, order: str) -> None:
    ours, theirs = prehook_program(tg, x0, scale, order), prehook_program(torch, x0, scale, order)
    assert [e[0] for e in ours[0]] == [e[0] for e in theirs[0]] == ["tensor", "node", "acc pre", "acc"]
    assert_same(theirs, ours)


def twice_program(lib: Any, kind: str, remove: str) -> list[Any]:
    calls: list[int] = []
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3

    def hook(*args: Any) -> None:
        calls.append(1)
    register = {"tensor": y.register_hook, "leaf": x.register_hook, "node": y.grad_fn.register_hook,
                "prehook": y.grad_fn.register_prehook, "post": x.register_post_accumulate_grad_hook}[kind]
    handles = [register(hook), register(hook)]
    if remove != "none":
        handles[0 if remove == "first" else 1].remove()
    y.sum().backward()
    return [len(calls), arr(x.grad)]


@pytest.mark.parametrize("kind", ["tensor", "leaf", "node", "prehook", "post"])
@pytest.mark.parametrize("remove", ["none", "first", "second"])
def test_removing_one_of_two_registrations_of_a_hook(kind: str, remove: str) -> None:
    theirs, ours = both(twice_program, kind, remove)
    assert_same(theirs, ours)


class Square:
    @staticmethod
    def make(lib: Any) -> Any:
        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, a: Any) -> Any:
                ctx.save_for_backward(a)
                return a * a

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                (a,) = ctx.saved_tensors
                return 2 * a * g
        return F


def saved_hooks_program(lib: Any, x0: np.ndarray, how: str) -> list[Any]:
    log: list[str] = []
    x = lib.tensor(x0, requires_grad=True)
    f = Square.make(lib)
    graph = lib.autograd.graph
    if how == "count":
        ctx = graph.saved_tensors_hooks(lambda t: log.append("pack") or t.clone(),
                                        lambda t: log.append("unpack") or t)
    elif how == "cpu":
        ctx = graph.save_on_cpu()
    else:
        ctx = graph.saved_tensors_hooks(lambda t: t, lambda t: t * 0 + 1)  # the custom Function reads the unpacked
    with ctx:
        y = f.apply(x) * 3  # (the only op here that saves a tensor is the custom Function: built-in ops keep
    y.sum().backward()  # their values as arrays, out of the hooks' reach, see README)
    return [log, arr(x.grad)]


@settings(max_examples=25, deadline=None)
@given(values.map(lambda v: np.clip(v, -5, 5)), st.sampled_from(["count", "cpu", "replace"]))
def test_saved_tensors_hooks_on_a_custom_function(x0: np.ndarray, how: str) -> None:
    theirs, ours = both(saved_hooks_program, x0, how)
    assert_same(theirs, ours)


def test_disable_saved_tensors_hooks_raises_as_torch() -> None:
    for lib in LIBS:
        graph = lib.autograd.graph
        with (graph.disable_saved_tensors_hooks("no hooks here"), pytest.raises(RuntimeError, match="no hooks here"),
              graph.saved_tensors_hooks(lambda t: t, lambda t: t)):
            pass
        with (graph.saved_tensors_hooks(lambda t: t, lambda t: t), pytest.raises(RuntimeError, match="outer"),
              graph.disable_saved_tensors_hooks("outer")):
            pass
        with graph.saved_tensors_hooks(lambda t: t, lambda t: t):  # usable again afterwards
            pass


def reentrant_program(lib: Any, x0: np.ndarray, reentrant: bool) -> list[Any]:
    x = lib.tensor(x0, requires_grad=True)
    out = CHECKPOINT[lib].checkpoint(lambda a: (a * 2, (a > 0).float(), a.argmax(), 3), x,
                                     use_reentrant=reentrant)
    (out[0] * out[1]).sum().backward()
    return [out[1].requires_grad, out[2].requires_grad, out[3], arr(x.grad), arr(out[1])]


@settings(max_examples=25, deadline=None)
@given(values, st.booleans())
def test_reentrant_checkpoint_float_outputs_require_grad(x0: np.ndarray, reentrant: bool) -> None:
    theirs, ours = both(reentrant_program, x0, reentrant)
    assert_same(theirs, ours)


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("how", ["grad", "backward"])
def test_anomaly_detection_checks_create_graph_backward(create_graph: bool, how: str) -> None:
    for lib in LIBS:
        x = lib.tensor([0.0, 1.0], requires_grad=True)
        with lib.autograd.detect_anomaly(), pytest.raises(RuntimeError, match="SqrtBackward"):
            y = (x.sqrt() * 0).sum()
            if how == "grad":
                lib.autograd.grad(y, x, create_graph=create_graph)
            else:
                y.backward(create_graph=create_graph)


def test_post_accumulate_hook_returning_a_value_is_a_type_error() -> None:
    for lib in LIBS:
        x = lib.ones(2, requires_grad=True)
        x.register_post_accumulate_grad_hook(lambda p: 1)
        with pytest.raises(TypeError):
            (x * 2).sum().backward()


def opaque_program(lib: Any, x0: np.ndarray, shape: str, reentrant: bool) -> list[Any]:
    x = lib.tensor(x0, requires_grad=True)

    def fn(a: Any) -> Any:
        y = (a * 2).exp().clamp(max=1e30)
        return {"list": [y, a], "dict": {"y": y}, "nested": (y, (y * 3, 1))}[shape]
    out = CHECKPOINT[lib].checkpoint(fn, x, use_reentrant=reentrant)
    found: list[Any] = []
    stack = [out]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
        elif hasattr(node, "requires_grad"):
            found.append((node.requires_grad, arr(node)))
    return [type(out).__name__, found]


@settings(max_examples=20, deadline=None)
@given(values.map(lambda v: np.clip(v, -20, 20)), st.sampled_from(["list", "dict", "nested"]), st.booleans())
def test_reentrant_checkpoint_passes_other_containers_unrecorded(x0: np.ndarray, shape: str, reentrant: bool) -> None:
    theirs, ours = both(opaque_program, x0, shape, reentrant)
    assert_same(theirs, ours)
