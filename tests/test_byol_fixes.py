"""What the BYOL program (``tests/torch_style/byol.py``) met, against torch 2.13: how a Module lists its children.

- ``named_children()`` / ``children()`` list a child held under two names once (torch keeps a memo): BYOL holds its
  augmentation as ``augment1`` and ``augment2``, so ours listed one more child, and ``list(net.children())[-2]``
  (byol's hidden layer by index) could name another layer. ``_modules``, ``named_modules(remove_duplicate=False)``,
  ``Sequential``'s run and ``repr`` still see every name, as torch's.
- A Parameter or Module set over a plain ``None`` attribute is listed after the others of its kind, as torch
  registers it anew; only a None that holds a registered place (set over a Parameter / child, or by
  ``register_parameter(name, None)`` / ``register_module(name, None)``) keeps that place. Ours kept every None's
  place, so ``self.target_encoder = None`` in ``__init__`` put the lazily made target encoder before the predictor:
  the state_dict's and parameters' order differed from torch's.
- ``del module.buf`` left the name listed as a buffer: registered again it kept its old place, and
  ``register_buffer`` over a child later set under that name was let through (torch: KeyError).
- ``register_parameter(name, ...)`` over a child or a plain attribute, and ``register_module(name, ...)`` over a plain
  ``None`` attribute, replaced it; torch raises KeyError ("attribute ... already exists").

Mutations (each makes a test here fail; the fixes restored):
- ``named_children`` without its ``seen`` memo -> test_a_child_under_two_names_is_listed_once
- ``Sequential._sequence`` over ``children()`` -> test_a_child_under_two_names_is_listed_once (runs once, not twice)
- the move condition back to ``old is not None or name in flags`` -> test_attribute_order_matches_torch,
  test_a_lazily_set_child_and_a_kept_slot
- ``register_module`` not recording the None slot -> both of those; ``register_parameter`` not recording it ->
  test_attribute_order_matches_torch
- ``Module.__delattr__`` not forgetting the slot -> test_attribute_order_matches_torch
- ``Module.__delattr__`` not forgetting the buffer flag -> test_a_deleted_buffer_is_forgotten
- ``register_parameter`` without the KeyError, ``add_module`` accepting any None -> test_attribute_order_matches_torch
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

NAMES = ("a", "b", "c")
OPS = ("module", "param", "none", "int", "del", "register_module", "register_parameter", "buffer")


def apply_op(lib: object, m: object, op: str, name: str) -> None:
    nn = lib.nn
    if op == "module":
        setattr(m, name, nn.Identity())
    elif op == "param":
        setattr(m, name, nn.Parameter(lib.zeros(1)))
    elif op == "none":
        setattr(m, name, None)
    elif op == "int":
        setattr(m, name, 3)
    elif op == "del":
        delattr(m, name)
    elif op == "buffer":
        m.register_buffer(name, lib.zeros(1))
    else:
        getattr(m, op)(name, None)


def listing(m: object) -> tuple:
    """The children and parameters in order, and what each name holds."""
    kinds = tuple(type(getattr(m, n, "absent")).__name__.replace("Identity", "Module") for n in NAMES)
    return [n for n, _ in m.named_children()], [n for n, _ in m.named_parameters()], list(m.state_dict()), kinds


@settings(deadline=None, max_examples=150)
@given(st.lists(st.tuples(st.sampled_from(OPS), st.sampled_from(NAMES)), max_size=9))
def test_attribute_order_matches_torch(ops: list[tuple[str, str]]) -> None:
    """Any sequence of assignments, deletions and ``register_*(name, None)``: each raises in both or in neither, and
    the children, the parameters (their order) and what each name holds agree after every step."""
    mods = [lib.nn.Module() for lib in (torch, tg)]
    for op, name in ops:
        raised = []
        for lib, m in zip((torch, tg), mods):
            try:
                apply_op(lib, m, op, name)
                raised.append(None)
            except (TypeError, KeyError, AttributeError) as e:
                raised.append(type(e).__name__)
        assert raised[0] == raised[1], (op, name)
        assert listing(mods[1]) == listing(mods[0]), (op, name)


def test_a_lazily_set_child_and_a_kept_slot() -> None:
    """byol's pattern (``self.target_encoder = None``, a child made later) and torch's slots (a child set to None and
    back; ``register_module(name, None)``): the state_dict's keys in torch's order."""
    keys = []
    for lib in (torch, tg):
        nn = lib.nn
        m = nn.Module()
        m.net = nn.Linear(2, 2)
        m.target = None
        m.slot = nn.Linear(2, 1)
        m.register_module("later", None)
        m.head = nn.Linear(1, 1)
        m.slot = None
        m.target = nn.Linear(2, 3)
        m.later = nn.Linear(3, 3)
        m.slot = nn.Linear(2, 4)
        keys.append(list(m.state_dict()))
    assert keys[1] == keys[0]
    assert [k.split(".")[0] for k in keys[1][::2]] == ["net", "slot", "later", "head", "target"]


def test_a_child_under_two_names_is_listed_once() -> None:
    results = []
    for lib in (torch, tg):
        nn = lib.nn
        shared, calls = nn.Linear(2, 2), []
        shared.register_forward_hook(lambda *_, calls=calls: calls.append(1))
        seq = nn.Sequential(shared, nn.ReLU(), shared)
        holder = nn.Module()
        holder.first, holder.mid, holder.second = shared, nn.Tanh(), shared
        visited = []
        holder.apply(lambda mod, visited=visited: visited.append(type(mod).__name__))
        seq(lib.ones(1, 2))
        results.append(([n for n, _ in seq.named_children()], len(list(seq.children())), len(seq), len(calls),
                        list(seq._modules), [n for n, _ in seq.named_modules(remove_duplicate=False)],
                        [n for n, _ in holder.named_children()], type(list(holder.children())[-1]).__name__,
                        list(holder._modules), visited, list(seq.state_dict()), len(seq[0:3]),
                        [line for line in repr(holder).splitlines() if line.strip().startswith("(")]))
    ours, theirs = results[1], results[0]
    assert ours[:-1] == theirs[:-1]
    assert [line.split(":")[0] for line in ours[-1]] == [line.split(":")[0] for line in theirs[-1]]  # our repr adds
    assert ours[0] == ["0", "1"] and ours[3] == 2 and ours[6] == ["first", "mid"]  # notes on parameters


def test_a_deleted_buffer_is_forgotten() -> None:
    """``del module.buf`` ends the buffer, as torch's: registered again it is listed after the others, and the name
    then taken by a child can no longer be registered as a buffer."""
    for lib in (torch, tg):
        m = lib.nn.Module()
        m.register_buffer("a", lib.zeros(1))
        del m.a
        m.register_buffer("b", lib.zeros(1))
        m.register_buffer("a", lib.zeros(1))
        assert list(m.state_dict()) == ["b", "a"], lib.__name__
        del m.a
        m.a = lib.nn.Identity()
        with pytest.raises(KeyError, match="already exists"):
            m.register_buffer("a", lib.zeros(1))
