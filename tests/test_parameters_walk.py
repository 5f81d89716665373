"""``Module.parameters()`` walks the tree without building names: the same parameters, in the same order, as
``named_parameters()`` (which is checked against torch elsewhere) for any tree, shared modules and parameters,
lists, and a module inside itself; a subclass that changes how parameters are found is still followed, as torch's
``parameters()`` calls ``named_parameters()``."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam import nn

ACTIONS = st.lists(st.tuples(st.sampled_from(["param", "child", "share_child", "share_param", "plain_list",
                                              "module_list", "param_list", "cycle", "buffer", "none"]),
                             st.integers(0, 50)), min_size=1, max_size=25)


def build(actions: list[tuple[str, int]]) -> nn.Module:
    """A tree grown by ``actions``: each adds to the module picked by its number (among those made so far)."""
    root = nn.Module()
    modules: list[nn.Module] = [root]
    params: list[nn.Parameter] = []
    for i, (what, k) in enumerate(actions):
        at = modules[k % len(modules)]
        name = f"a{i}"
        if what == "param":
            params.append(nn.Parameter(tg.ones(1) * i))
            setattr(at, name, params[-1])
        elif what == "child":
            modules.append(nn.Module())
            setattr(at, name, modules[-1])
        elif what == "share_child" and len(modules) > 1:
            setattr(at, name, modules[1 + k % (len(modules) - 1)])
        elif what == "share_param" and params:
            setattr(at, name, params[k % len(params)])
        elif what == "plain_list":
            modules.append(nn.Module())
            params.append(nn.Parameter(tg.zeros(2)))
            setattr(at, name, [modules[-1], params[-1], 3])
        elif what == "module_list":
            modules.extend([nn.Module(), nn.Linear(1, 1)])
            setattr(at, name, nn.ModuleList(modules[-2:]))
        elif what == "param_list":
            params.extend([nn.Parameter(tg.ones(3)), nn.Parameter(tg.ones(1))])
            setattr(at, name, nn.ParameterList(params[-2:]))
        elif what == "cycle":
            setattr(at, name, modules[k % len(modules)])  # possibly an ancestor, or itself
        elif what == "buffer":
            at.register_buffer(name, tg.ones(2))
        else:
            setattr(at, name, None)
    return root


@settings(max_examples=300, deadline=None)
@given(actions=ACTIONS)
def test_parameters_are_named_parameters_in_order(actions: list[tuple[str, int]]) -> None:
    root = build(actions)
    named = [p for _, p in root.named_parameters()]
    fast = list(root.parameters())
    assert len(fast) == len(named) and all(a is b for a, b in zip(fast, named))
    assert len({id(p) for p in fast}) == len(fast)
    own = [p for _, p in root.named_parameters(recurse=False)]
    assert [id(p) for p in root.parameters(recurse=False)] == [id(p) for p in own]


def test_a_subclass_that_finds_parameters_its_own_way_is_followed() -> None:
    class OnlyBias(nn.Linear):
        def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Any:
            return ((n, p) for n, p in super().named_parameters(prefix, recurse, remove_duplicate) if n == "bias")

    class Renamed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Linear(2, 2)

        def named_modules(self, *args: Any, **kwargs: Any) -> Any:  # hides its children, as a wrapper might
            yield "", self

    layer = OnlyBias(2, 3)
    assert [p is layer.bias for p in layer.parameters()] == [True]
    assert list(Renamed().parameters()) == []
    assert len(list(nn.Sequential(layer).parameters())) == 2  # a child's override: torch ignores it too
