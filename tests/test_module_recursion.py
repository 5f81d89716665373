"""``Module.to`` / ``double`` / ``half`` / ``float`` and ``state_dict`` as torch's recursions: ``_apply`` and
``_save_to_state_dict`` / ``state_dict`` run on each child, so a subclass overriding them is heard. Before, ``to``
converted every parameter and buffer of the tree directly, so an ``_apply`` override that converts a cached tensor
of its own (a rotary-embedding table, say) never ran: after ``model.double()`` the cache stayed float32 and mixed into
float64 activations, silently; and ``state_dict`` walked the tree itself, so an override adding or dropping entries
was skipped, silently. Generated module trees, each node maybe with such overrides, against torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def node_class(lib: Any, log: list[str]) -> type:
    """A module kind whose instances may override ``_apply`` (moving a cache), ``_save_to_state_dict`` (adding an
    entry) and ``state_dict`` (dropping its own bias), each logging its call."""

    class Node(lib.nn.Module):
        def __init__(self, tag: str, kids: list[Any], overrides: tuple[bool, bool, bool]) -> None:
            super().__init__()
            self.tag, self.overrides = tag, overrides
            self.lin = lib.nn.Linear(2, 2)
            self.register_buffer("steps", lib.zeros(2, dtype=lib.int64))
            self.register_buffer("scale", lib.ones(2), persistent=len(kids) % 2 == 0)
            self.cache = lib.arange(3, dtype=lib.float32) / 7
            for i, kid in enumerate(kids):
                self.add_module(f"k{i}", kid)

        def _apply(self, fn: Any, recurse: bool = True) -> Any:
            super()._apply(fn, recurse)
            if self.overrides[0]:
                log.append(f"apply {self.tag}")
                self.cache = fn(self.cache)
            return self

        def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
            super()._save_to_state_dict(destination, prefix, keep_vars)
            if self.overrides[1]:
                log.append(f"save {self.tag}")
                destination[prefix + "extra"] = self.cache * 2

        def state_dict(self, *args: Any, **kwargs: Any) -> Any:
            out = super().state_dict(*args, **kwargs)
            if self.overrides[2]:
                log.append(f"state_dict {self.tag}")
                out.pop(kwargs.get("prefix", "") + "lin.bias", None)
            return out

    return Node


TREES = st.recursive(st.tuples(st.tuples(st.booleans(), st.booleans(), st.booleans()), st.just(())),
                     lambda kids: st.tuples(st.tuples(st.booleans(), st.booleans(), st.booleans()),
                                            st.lists(kids, max_size=3).map(tuple)), max_leaves=6)


def build(lib: Any, node: Any, log: list[str], tag: str = "r") -> Any:
    overrides, kids = node
    lib.manual_seed(0)
    return node_class(lib, log)(tag, [build(lib, k, log, f"{tag}{i}") for i, k in enumerate(kids)], overrides)


def entries(sd: Any) -> list[tuple[str, str, list[float]]]:
    return [(k, str(v.dtype).replace("torch.", ""), v.detach().double().numpy().ravel().tolist())
            for k, v in sd.items()]


def caches(model: Any) -> list[tuple[str, str]]:
    return [(m.tag, str(m.cache.dtype).replace("torch.", "")) for m in model.modules() if hasattr(m, "tag")]


@settings(max_examples=40, deadline=None)
@given(tree=TREES, casts=st.lists(st.sampled_from(["double", "half", "float", "to64", "to32"]), min_size=1,
                                  max_size=3), keep_vars=st.booleans())
def test_conversions_and_state_dict_hear_the_overrides_as_torch(tree: Any, casts: list[str], keep_vars: bool) -> None:
    seen = []
    for lib in (tg, torch):
        log: list[str] = []
        model = build(lib, tree, log)
        for cast in casts:
            if cast.startswith("to"):
                model.to(lib.float64 if cast == "to64" else lib.float32)
            else:
                getattr(model, cast)()
        sd = model.state_dict(keep_vars=keep_vars)
        seen.append((log, caches(model), [(k, d) for k, d, _ in entries(sd)],
                     str(model.lin.weight.dtype).replace("torch.", ""), str(model.steps.dtype).replace("torch.", "")))
    assert seen[0] == seen[1]


def test_state_dict_values_and_prefix_destination_as_torch() -> None:
    got = []
    for lib in (tg, torch):
        model = build(lib, ((True, True, True), (((False, True, False), ()), ((True, False, True), ()))), [])
        dest: dict[str, Any] = {}
        out = model.state_dict(destination=dest, prefix="net.")
        assert out is dest
        got.append(entries(out))
    assert [e[:2] for e in got[0]] == [e[:2] for e in got[1]]
    for (key, _, a), (_, _, b) in zip(*got):
        if ".lin." not in f".{key}":  # (the Linear weights come from each library's own generator)
            np.testing.assert_allclose(a, b, rtol=1e-6)


def test_to_keeps_the_parameter_objects_and_converts_gradients() -> None:
    for lib in (tg, torch):
        model = lib.nn.Linear(2, 3)
        weight = model.weight
        model(lib.ones(1, 2)).sum().backward()
        model.double()
        assert model.weight is weight and str(weight.grad.dtype).endswith("float64")
        model.half()
        assert str(weight.dtype).endswith("float16") and str(weight.grad.dtype).endswith("float16")
