"""Module hooks (forward pre / forward / full backward), get_submodule and Sequential editing, against torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch")


def model(lib: Any) -> Any:
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2)).double()  # float64: exact


def run(lib: Any, kinds: list[str], x_grad: bool, state: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """Hooks of the chosen kinds on layers 0 and 2; returns (output, grads) and everything the hooks saw."""
    m = model(lib)
    if state:
        m.load_state_dict(state)
    seen: list[Any] = []

    def pre(mod: Any, args: Any) -> Any:
        seen.append(("pre", args[0].detach().numpy().copy()))
        return (args[0] * 2,)

    def post(mod: Any, args: Any, out: Any) -> Any:
        seen.append(("post", out.detach().numpy().copy()))
        return out + 1

    def back(mod: Any, grad_in: Any, grad_out: Any) -> Any:
        seen.append(("back", [None if g is None else g.numpy().copy() for g in grad_in],
                     [g.numpy().copy() for g in grad_out]))
        return None if grad_in[0] is None else (grad_in[0] * 3,)

    hooks = {"pre": ("register_forward_pre_hook", pre), "post": ("register_forward_hook", post),
             "back": ("register_full_backward_hook", back)}
    for k in kinds:
        name, fn = hooks[k]
        getattr(m[0], name)(fn)
        getattr(m[2], name)(fn)
    x = lib.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=x_grad)
    y = m(x)
    (y * y).sum().backward()
    grads = [p.grad.numpy() for p in m.parameters()] + ([x.grad.numpy()] if x_grad else [])
    return [y.detach().numpy(), *grads], seen


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["pre", "post", "back"]), max_size=4), st.booleans())
def test_hooks_match_torch(kinds: list[str], x_grad: bool) -> None:
    state = {k: v.detach().numpy() for k, v in model(torch).state_dict().items()}
    ours, our_seen = run(tg, kinds, x_grad, state)
    theirs, their_seen = run(torch, kinds, x_grad, {k: torch.tensor(v) for k, v in state.items()})
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(o, t, rtol=1e-10, atol=1e-12)
    assert [s[0] for s in our_seen] == [s[0] for s in their_seen]
    for o, t in zip(our_seen, their_seen):
        if o[0] == "back":
            assert [g is None for g in o[1]] == [g is None for g in t[1]]
            for a, b in zip([*o[1], *o[2]], [*t[1], *t[2]]):
                if a is not None:
                    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        else:
            np.testing.assert_allclose(o[1], t[1], rtol=1e-10, atol=1e-12)


def test_remove_prepend_and_unsupported_options() -> None:
    layer = tg.nn.Linear(2, 2)
    order: list[str] = []
    h1 = layer.register_forward_hook(lambda m, a, o: order.append("first"))
    layer.register_forward_hook(lambda m, a, o: order.append("prepended"), prepend=True)
    layer(tg.ones(1, 2))
    assert order == ["prepended", "first"]
    h1.remove()
    order.clear()
    layer(tg.ones(1, 2))
    assert order == ["prepended"]
    # the deprecated non-full hook is supported now (r9y9/wavenet_vocoder; tests/test_wavenet_fixes.py), and, as
    # torch, refuses to join full ones on one module
    layer.register_backward_hook(lambda m, gi, go: None).remove()
    with pytest.raises(RuntimeError, match="cannot be mixed on one Module"):
        layer.register_full_backward_hook(lambda m, gi, go: None)


def test_get_submodule_and_sequential_editing() -> None:
    m = tg.nn.Sequential(tg.nn.Linear(2, 3), tg.nn.ReLU())
    assert m.get_submodule("0") is m[0] and m.get_submodule("") is m
    assert m.get_parameter("0.bias") is m[0].bias
    with pytest.raises(AttributeError, match="no submodule '5'"):
        m.get_submodule("5")
    m.append(tg.nn.Linear(3, 1))
    m.insert(0, tg.nn.Identity())
    assert [type(x).__name__ for x in m] == ["Identity", "Linear", "ReLU", "Linear"]
    assert list(m.state_dict()) == ["1.weight", "1.bias", "3.weight", "3.bias"]
    del m[0]
    assert m(tg.ones(4, 2)).shape == (4, 1)
    assert m.half()[0].weight.dtype == np.float16
