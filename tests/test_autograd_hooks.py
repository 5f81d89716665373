"""Tensor.register_hook and retain_grad against torch: the same program on both, every .grad compared."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch")


def program(lib: Any, x0: np.ndarray, hooks: list[str], retain: bool, after: bool, twice: bool) -> dict[str, Any]:
    """y = x*3, z = y*y + y, loss = sum(z * w); hooks on x (leaf), y and z (non-leaf); returns every .grad."""
    x = lib.tensor(x0, requires_grad=True)
    y = x * 3
    z = y * y + y
    kinds: dict[str, Callable[[Any], Any]] = {"scale": lambda g: g * 2, "none": lambda g: None,
                                              "shift": lambda g: g + 1}
    if retain and not after:
        y.retain_grad()
    for i, name in enumerate(hooks):
        (x, y, z)[i % 3].register_hook(kinds[name])
    if retain and after:
        y.retain_grad()
    z.retain_grad()
    w = lib.tensor(np.linspace(-1, 1, x0.size).reshape(x0.shape))
    (z * w).sum().backward(retain_graph=twice)
    if twice:
        (z * w).sum().backward()
    return {"x": x.grad, "y": y.grad, "z": z.grad, "retains": y.retains_grad}


@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["scale", "none", "shift"]), max_size=5), st.booleans(), st.booleans(),
       st.booleans(), st.integers(0, 4))
def test_hooks_and_retain_grad_match_torch(hooks: list[str], retain: bool, after: bool, twice: bool, n: int) -> None:
    x0 = np.random.default_rng(n).standard_normal((n, 2)).astype(np.float32)
    ours = program(tg, x0, hooks, retain, after, twice)
    theirs = program(torch, x0, hooks, retain, after, twice)
    assert ours["retains"] == theirs["retains"]
    for k in ("x", "y", "z"):
        assert (ours[k] is None) == (theirs[k] is None), k
        if ours[k] is not None:
            np.testing.assert_allclose(ours[k].numpy(), theirs[k].numpy(), rtol=1e-6, atol=1e-6, err_msg=k)


def test_hook_sees_the_total_gradient_once_and_remove_works() -> None:
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    seen = []
    handle = y.register_hook(lambda g: seen.append(g.numpy().copy()))
    (y * y + y).sum().backward()  # y reaches the loss twice; its hook sees the sum, once
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], [3.0, 5.0])
    handle.remove()
    y2 = x * 1
    (y2 * 2).sum().backward()
    assert len(seen) == 1


def test_hooks_change_autograd_grad() -> None:
    x = tg.tensor([1.0, -2.0], requires_grad=True)
    y = x * x
    y.register_hook(lambda g: g * 0)
    (gx,) = tg.autograd.grad(y.sum(), x)
    np.testing.assert_array_equal(gx.numpy(), [0.0, 0.0])


def test_errors_name_the_problem() -> None:
    t = tg.tensor([1.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        t.register_hook(lambda g: g)
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        t.retain_grad()
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: g[:1])
    with pytest.raises(RuntimeError, match="shape"):
        y.sum().backward()
