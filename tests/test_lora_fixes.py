"""What the LoRA program (``tests/torch_style/lora.py``) met, against torch 2.13: how ``Module.train`` recurses.

- ``Module.train(mode)`` (and ``eval()``, which calls it) set ``training`` on every module of ``modules()`` directly,
  never calling a submodule's own ``train``. torch sets ``self.training`` and calls ``child.train(mode)`` on each
  child, so an override runs: loralib's Linear / Embedding / MergedLinear merge their LoRA product into the weight
  on ``model.eval()`` and subtract it on ``model.train()``. Ours silently skipped both (no error, ``merged`` stayed
  False; the outputs happened to be the same, but the merged weights, the ``merged`` flags and any code reading the
  weights after ``eval()`` differed from torch's). A SILENT wrong answer. A non-bool mode now raises torch's
  ValueError.

Mutations (each makes a test here fail; the fix restored):
- ``train`` back to ``for m in self.modules(): m.training = mode`` -> test_train_calls_each_childs_override
- the ``isinstance(mode, bool)`` check removed -> test_train_mode_must_be_a_bool
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

# a tree: each node is (overrides train?, children); the root is a plain Module
TREES = st.recursive(st.tuples(st.booleans(), st.just(())),
                     lambda kids: st.tuples(st.booleans(), st.lists(kids, max_size=3).map(tuple)), max_leaves=8)


def build(lib: Any, tree: tuple, log: list, name: str = "root") -> Any:
    """``tree`` as nested modules of ``lib``; the overriding ones log ``(name, mode, training before)`` and then
    call the base ``train`` (as loralib does with ``nn.Linear.train(self, mode)``)."""
    override, children = tree

    class Logged(lib.nn.Module):
        def train(self, mode: bool = True) -> Any:
            log.append((name, mode, self.training))
            return lib.nn.Module.train(self, mode)

    module = Logged() if override else lib.nn.Module()
    for i, child in enumerate(children):
        module.add_module(f"c{i}", build(lib, child, log, f"{name}.{i}"))
    return module


def run(lib: Any, tree: tuple, modes: list, shared: bool) -> tuple:
    """train / eval calls on the tree (one child also held under a second name when ``shared``): the log of the
    overrides' calls, each module's flag after every call, and what the calls returned."""
    log: list = []
    root = build(lib, tree, log)
    kids = list(root.children())
    if shared and kids:
        root.add_module("again", kids[0])
    flags, returned = [], []
    for mode in modes:
        out = root.eval() if mode is None else root.train(mode)
        returned.append(out is root)
        flags.append([m.training for _, m in root.named_modules(remove_duplicate=False)])
    return log, flags, returned


@settings(max_examples=60, deadline=None)
@given(tree=TREES, modes=st.lists(st.sampled_from([True, False, None]), min_size=1, max_size=4), shared=st.booleans())
def test_train_calls_each_childs_override(tree: tuple, modes: list, shared: bool) -> None:
    assert run(tg, tree, modes, shared) == run(torch, tree, modes, shared)


def test_a_merging_override_runs_on_eval() -> None:
    """loralib's pattern: a Linear whose ``train`` adds a delta into ``weight.data`` on eval and takes it off on train,
    inside a Sequential."""
    results = []
    for lib in (torch, tg):
        class Merging(lib.nn.Linear):
            def train(self, mode: bool = True) -> Any:
                super().train(mode)
                if not mode and not getattr(self, "merged", False):
                    self.weight.data += 1.0
                    self.merged = True
                elif mode and getattr(self, "merged", False):
                    self.weight.data -= 1.0
                    self.merged = False
                return self

        net = lib.nn.Sequential(lib.nn.Sequential(Merging(2, 2)), lib.nn.ReLU())
        with lib.no_grad():
            net[0][0].weight.zero_()
        net.eval()
        merged = (net[0][0].merged, net[0][0].weight.detach().numpy().tolist(), net.training, net[0].training)
        net.train()
        results.append((merged, net[0][0].merged, net[0][0].weight.detach().numpy().tolist(), net[1].training))
    assert results[1] == results[0]
    assert results[0][0][0] and results[0][0][1] == [[1.0, 1.0], [1.0, 1.0]]


@pytest.mark.parametrize("mode", [1, 0, "yes", None, 1.0])
def test_train_mode_must_be_a_bool(mode: Any) -> None:
    for lib in (torch, tg):
        with pytest.raises(ValueError, match="training mode is expected to be boolean"):
            lib.nn.Linear(2, 2).train(mode)
