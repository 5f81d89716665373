"""``torch.autograd.graph.register_multi_grad_hook`` against torch 2.13: which backward runs call the hook, with
which gradients (None where a run computes none), mode "any", removal, create_graph, ``autograd.grad`` and the
errors.

Mutations (each reverted after the run):
- ``left`` not counted from the tensors the run reaches (set to len(tensors)): the hook fires only at the run's end,
  so test_all_fires_before_a_later_leaf_is_accumulated fails.
- no ``at_end`` fallback: test_a_tensor_the_run_reaches_without_a_gradient_gets_none fails (the hook never fires).
- every gradient taken as its run's first (no ``run`` check): test_any_gives_one_gradient_per_run fails (called
  twice), and test_all_mode_as_torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

VALUES = [np.array([1.5, -2.0]), np.array([0.5, 3.0, -1.0]), np.array(2.0)]


def leaves(lib: Any) -> list[Any]:
    return [lib.tensor(v, requires_grad=True) for v in VALUES]


def calls_in(lib: Any, used: list[list[int]], non_leaf: bool, hooked: list[int]) -> list[Any]:
    """Register a multi-grad hook on the ``hooked`` tensors, then run one backward per entry of ``used`` (the
    tensors its loss reads); the hook's calls, as lists of gradients (None kept)."""
    xs = leaves(lib)
    ts = [x * 1.0 for x in xs] if non_leaf else xs
    calls: list[Any] = []
    lib.autograd.graph.register_multi_grad_hook(
        [ts[i] for i in hooked], lambda grads: calls.append([None if g is None else g.tolist() for g in grads]))
    for k, run in enumerate(used):
        loss = sum(((ts[i] * (i + 2 + k)) ** 2).sum() for i in run) if run else None
        if loss is not None:
            loss.backward(retain_graph=True)
    return calls


@settings(max_examples=60, deadline=None)
@given(used=st.lists(st.lists(st.integers(0, 2), max_size=3), min_size=1, max_size=3), non_leaf=st.booleans(),
       hooked=st.lists(st.integers(0, 2), min_size=1, max_size=3))
def test_all_mode_as_torch(used: list[list[int]], non_leaf: bool, hooked: list[int]) -> None:
    ours, theirs = calls_in(tg, used, non_leaf, hooked), calls_in(torch, used, non_leaf, hooked)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert [g is None for g in o] == [g is None for g in t]
        for a, b in zip(o, t):
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-12)


def test_any_gives_one_gradient_per_run() -> None:
    for lib in (tg, torch):
        a, b, c = leaves(lib)
        got: list[Any] = []
        handle = lib.autograd.graph.register_multi_grad_hook((a, b), got.append, mode="any")
        ((a * 2).sum() + (b * 3).sum()).backward()
        assert len(got) == 1 and got[0].tolist() in ([2.0, 2.0], [3.0, 3.0, 3.0])  # (which one: the engine's order)
        (c * 2).backward()
        (b * 5).sum().backward()
        assert len(got) == 2 and got[1].tolist() == [5.0, 5.0, 5.0]
        handle.remove()
        (a * 2).sum().backward()
        assert len(got) == 2


@pytest.mark.parametrize("lib", [tg, torch], ids=["ours", "torch"])
@pytest.mark.parametrize("mode", ["all", "any"])
def test_what_the_hook_returns_is_ignored(lib: Any, mode: str) -> None:
    a, _, _ = leaves(lib)
    lib.autograd.graph.register_multi_grad_hook((a,), lambda g: [x * 100 for x in g] if mode == "all" else g * 100,
                                                mode=mode)
    (a * 2).sum().backward()
    assert a.grad.tolist() == [2.0, 2.0]


@pytest.mark.parametrize("lib", [tg, torch], ids=["ours", "torch"])
def test_all_fires_before_a_later_leaf_is_accumulated(lib: Any) -> None:
    """As torch: as soon as every gradient the run will compute is in (c is not on this run's graph), not at the
    end of the run: x's gradient comes before its parent a is accumulated."""
    a, _, c = leaves(lib)
    x = a * 1.0
    order: list[str] = []
    a.register_post_accumulate_grad_hook(lambda t: order.append("a accumulated"))
    lib.autograd.graph.register_multi_grad_hook((x, c), lambda g: order.append("hook"))
    (x * 2).sum().backward()
    assert order == ["hook", "a accumulated"]


def test_a_tensor_the_run_reaches_without_a_gradient_gets_none() -> None:
    """A custom Function that gives one input no gradient: torch's hook still fires, with None for it."""
    results = []
    for lib in (tg, torch):
        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, a: Any, b: Any) -> Any:
                return a * 2 + b.sum()

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                return None, g.sum().expand(3)

        a, b, _ = leaves(lib)
        got: list[Any] = []
        lib.autograd.graph.register_multi_grad_hook((a, b), got.append)
        F.apply(a, b).sum().backward()
        results.append([[None if g is None else g.tolist() for g in call] for call in got])
    assert results[0] == results[1] == [[None, [2.0, 2.0, 2.0]]]


@pytest.mark.parametrize("lib", [tg, torch], ids=["ours", "torch"])
def test_create_graph_hands_gradients_with_history(lib: Any) -> None:
    a, _, _ = leaves(lib)
    got: list[Any] = []
    lib.autograd.graph.register_multi_grad_hook((a,), lambda g: got.append(g[0].requires_grad))
    (a ** 2).sum().backward(create_graph=True)
    assert got == [True]


@pytest.mark.parametrize("lib", [tg, torch], ids=["ours", "torch"])
def test_autograd_grad_gives_none_off_the_inputs_path(lib: Any) -> None:
    a, b, _ = leaves(lib)
    x, y = a * 1.0, b * 1.0
    seen: list[Any] = []
    lib.autograd.graph.register_multi_grad_hook((x, y), lambda g: seen.append([v is None for v in g]))
    lib.autograd.grad((x * 3).sum() + (y * 2).sum(), [a])  # y leads to no input: it gets none
    assert seen == [[False, True]]


@pytest.mark.parametrize("lib", [tg, torch], ids=["ours", "torch"])
def test_the_same_tensor_twice(lib: Any) -> None:
    a, _, _ = leaves(lib)
    got: list[Any] = []
    lib.autograd.graph.register_multi_grad_hook((a, a), lambda g: got.append([v.tolist() for v in g]))
    (a * 2).sum().backward()
    assert got == [[[2.0, 2.0], [2.0, 2.0]]]


def test_errors() -> None:
    for lib in (tg, torch):
        a, _, _ = leaves(lib)
        with pytest.raises(ValueError, match="mode"):
            lib.autograd.graph.register_multi_grad_hook((a,), print, mode="every")
        with pytest.raises((RuntimeError, AssertionError)):  # (torch: an AssertionError)
            lib.autograd.graph.register_multi_grad_hook((a, lib.ones(2)), print)
    with pytest.raises(TypeError, match="sequence"):  # (torch iterates a tensor's rows)
        tg.autograd.graph.register_multi_grad_hook(tg.ones(2, requires_grad=True), print)
