"""``tinygrad_adam.utils._pytree`` against torch 2.13's ``torch.utils._pytree``: the leaves, rebuilding, ``tree_map``
(with further trees), ``tree_map_only``, ``tree_all`` / ``tree_any`` over random nested lists, tuples, named tuples,
dicts, OrderedDicts, defaultdicts and deques, None among the leaves."""

from __future__ import annotations

import collections
import importlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

from tinygrad_adam.utils import _pytree as ours

theirs = importlib.import_module("torch.utils._pytree")
Pair = collections.namedtuple("Pair", "left right")
LEAVES = st.one_of(st.integers(-5, 5), st.none(), st.text("ab", max_size=2), st.floats(-1, 1))
KEYS = st.lists(st.sampled_from("abcde"), unique=True, max_size=4)


def trees(leaves: Any = LEAVES) -> Any:
    def extend(children: Any) -> Any:
        return st.one_of(
            st.lists(children, max_size=3),
            st.lists(children, max_size=3).map(tuple),
            st.tuples(children, children).map(lambda t: Pair(*t)),
            KEYS.flatmap(lambda ks: st.tuples(*[children] * len(ks)).map(lambda vs: dict(zip(ks, vs)))),
            KEYS.flatmap(lambda ks: st.tuples(*[children] * len(ks)).map(
                lambda vs: collections.OrderedDict(zip(ks, vs)))),
            KEYS.flatmap(lambda ks: st.tuples(*[children] * len(ks)).map(
                lambda vs: collections.defaultdict(list, zip(ks, vs)))),
            st.lists(children, max_size=3).map(collections.deque))
    return st.recursive(leaves, extend, max_leaves=12)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same container types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple, collections.deque)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)


@settings(max_examples=300, deadline=None)
@given(tree=trees())
def test_flatten_unflatten_and_map_as_torchs(tree: Any) -> None:
    leaves, spec = ours.tree_flatten(tree)
    want, their_spec = theirs.tree_flatten(tree)
    assert same(leaves, want) and spec.num_leaves == their_spec.num_leaves == len(want)
    assert same(ours.tree_unflatten(leaves, spec), tree)
    marked = [("leaf", i) for i in range(len(leaves))]
    assert same(ours.tree_unflatten(marked, spec), theirs.tree_unflatten(marked, their_spec))
    assert same(ours.tree_map(repr, tree), theirs.tree_map(repr, tree))
    assert same(ours.tree_map(lambda x, y: (x, y), tree, tree), theirs.tree_map(lambda x, y: (x, y), tree, tree))
    assert same(ours.tree_map_only(int, lambda x: x + 100, tree), theirs.tree_map_only(int, lambda x: x + 100, tree))
    for check in (lambda x: x is None, lambda x: isinstance(x, int)):
        assert ours.tree_all(check, tree) == theirs.tree_all(check, tree)
        assert ours.tree_any(check, tree) == theirs.tree_any(check, tree)
    assert ours.tree_structure(tree) == spec and list(ours.tree_iter(tree)) == leaves
    with pytest.raises(ValueError):
        ours.tree_unflatten([*leaves, 0], spec)
    with pytest.raises(ValueError):
        theirs.tree_unflatten([*leaves, 0], their_spec)


def test_map_with_a_deeper_second_tree_as_torchs() -> None:
    tree, deeper = [1, {"a": 2}], [[10, 20], {"a": (30,)}]
    for lib in (ours, theirs):
        assert lib.tree_map(lambda x, y: (x, y), tree, deeper) == [(1, [10, 20]), {"a": (2, (30,))}]
        with pytest.raises(ValueError):
            lib.tree_map(lambda x, y: x, tree, [1])
