"""Pytrees (``torch.utils._pytree``, which imports this): nested containers taken apart into their leaves and put
back together, as torch's; ``func``'s transforms take their arguments and results apart with it. The containers are
lists, tuples, named tuples, dicts (``OrderedDict`` and ``defaultdict`` too) and deques; anything else is a leaf,
None included (torch 2's rule). Dicts give their values in insertion order.

    leaves, spec = tree_flatten({"w": [w1, w2], "b": b})   # [w1, w2, b]
    tree_unflatten([2 * x for x in leaves], spec)          # {"w": [2 w1, 2 w2], "b": 2 b}
    tree_map(lambda x: x.detach(), state)                  # the same structure, each leaf mapped
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["LeafSpec", "TreeSpec", "tree_all", "tree_any", "tree_flatten", "tree_iter", "tree_leaves", "tree_map",
           "tree_map_only", "tree_structure", "tree_unflatten"]


class TreeSpec:
    """A pytree's structure without its leaves: the container ``type``, what rebuilding it needs (``context``: a
    dict's keys, a named tuple's class, a defaultdict's factory) and one spec per child; ``num_leaves`` leaves."""

    def __init__(self, type: Any, context: Any, children_specs: list[TreeSpec]) -> None:  # noqa: A002 - torch's
        self.type, self.context, self.children_specs = type, context, children_specs
        self.num_leaves: int = sum(c.num_leaves for c in children_specs)

    def is_leaf(self) -> bool:
        return False

    def unflatten(self, leaves: Any) -> Any:
        return tree_unflatten(leaves, self)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TreeSpec) and self.is_leaf() == other.is_leaf() and self.type is other.type
                and self.context == other.context and self.children_specs == other.children_specs)

    def __hash__(self) -> int:
        return hash((self.type, len(self.children_specs)))

    def __repr__(self) -> str:
        if self.is_leaf():
            return "*"
        return f"TreeSpec({self.type.__name__}, {self.context!r}, [{', '.join(map(repr, self.children_specs))}])"


class LeafSpec(TreeSpec):
    """The spec of a leaf."""

    def __init__(self) -> None:
        super().__init__(None, None, [])
        self.num_leaves = 1

    def is_leaf(self) -> bool:
        return True


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def is_leaf(node: Any) -> bool:
    """Whether ``node`` is a leaf, not a container."""
    return _children(node) is None


def _children(node: Any) -> tuple[list[Any], Any] | None:
    """(children, context) of a container node, or None for a leaf."""
    if type(node) in (list, collections.deque):
        return list(node), node.maxlen if isinstance(node, collections.deque) else None
    if type(node) is tuple or _is_namedtuple(node):
        return list(node), type(node) if _is_namedtuple(node) else None
    if type(node) in (dict, collections.OrderedDict, collections.defaultdict):
        context = list(node)
        return [node[k] for k in context], (node.default_factory, context) if type(node) is collections.defaultdict \
            else context
    return None


def _rebuild(kind: type, context: Any, children: list[Any]) -> Any:
    if kind is list:
        return children
    if kind is collections.deque:
        return collections.deque(children, maxlen=context)
    if kind is tuple:
        return tuple(children)
    if issubclass(kind, tuple):  # a named tuple
        return kind(*children)
    if kind is collections.defaultdict:
        factory, keys = context
        return collections.defaultdict(factory, zip(keys, children))
    return kind(zip(context, children))


def tree_flatten(tree: Any) -> tuple[list[Any], TreeSpec]:
    """(the leaves in order, the structure): ``tree_unflatten(leaves, spec)`` rebuilds ``tree``."""
    leaves: list[Any] = []

    def walk(node: Any) -> TreeSpec:
        found = _children(node)
        if found is None:
            leaves.append(node)
            return LeafSpec()
        children, context = found
        return TreeSpec(type(node), context, [walk(c) for c in children])

    return leaves, walk(tree)


def tree_unflatten(leaves: Any, treespec: TreeSpec) -> Any:
    """The pytree of structure ``treespec`` holding ``leaves`` in order; ValueError when their number differs."""
    if not isinstance(treespec, TreeSpec):
        raise TypeError(f"tree_unflatten(leaves, treespec): expected a TreeSpec, got {type(treespec).__name__}")
    leaves = list(leaves)
    if len(leaves) != treespec.num_leaves:
        raise ValueError(f"treespec.unflatten(leaves): `leaves` has length {len(leaves)} but the spec refers to a "
                         f"pytree that holds {treespec.num_leaves} items ({treespec})")
    items = iter(leaves)

    def build(spec: TreeSpec) -> Any:
        if spec.is_leaf():
            return next(items)
        return _rebuild(spec.type, spec.context, [build(c) for c in spec.children_specs])

    return build(treespec)


def tree_leaves(tree: Any) -> list[Any]:
    return tree_flatten(tree)[0]


def tree_iter(tree: Any) -> Iterator[Any]:
    return iter(tree_leaves(tree))


def tree_structure(tree: Any) -> TreeSpec:
    return tree_flatten(tree)[1]


def dict_keys(spec: TreeSpec) -> list[Any] | None:
    """A dict node's keys, in order; None for other nodes and leaves."""
    if spec.type is collections.defaultdict:
        return spec.context[1]
    return spec.context if spec.type in (dict, collections.OrderedDict) else None


def fits(spec: TreeSpec, node: Any) -> list[Any] | None:
    """``node``'s children when it is the container ``spec`` describes (its type, length and dict keys), else
    None."""
    found = _children(node)
    if found is None or type(node) is not spec.type or len(found[0]) != len(spec.children_specs) or (
            isinstance(node, dict) and list(node) != dict_keys(spec)):
        return None
    return found[0]


def _up_to(spec: TreeSpec, tree: Any) -> list[Any]:
    """``tree``'s subtrees at ``spec``'s leaves (``tree`` has ``spec`` as a prefix); ValueError when it does not."""
    if spec.is_leaf():
        return [tree]
    children = fits(spec, tree)
    if children is None:
        raise ValueError(f"tree_map: a further tree does not have the first one's structure ({spec}) as a prefix")
    return [x for child, s in zip(children, spec.children_specs) for x in _up_to(s, child)]


def tree_map(func: Callable[..., Any], tree: Any, *rests: Any) -> Any:
    """``tree``'s structure with each leaf ``x`` replaced by ``func(x, *(r's subtree at x's place for r in
    rests))``; each tree in ``rests`` has ``tree``'s structure, or it as a prefix."""
    leaves, spec = tree_flatten(tree)
    others = [_up_to(spec, r) for r in rests]
    return tree_unflatten([func(*xs) for xs in zip(leaves, *others)], spec)


def _matches(kind: Any) -> Callable[[Any], bool]:
    kinds = tuple(kind) if isinstance(kind, (tuple, list)) else (kind,)
    return lambda x: isinstance(x, kinds)


def tree_map_only(type_or_types: Any, func: Callable[[Any], Any], tree: Any) -> Any:
    """``tree_map`` over the leaves of the given type(s) only; the others stay as they are."""
    hit = _matches(type_or_types)
    return tree_map(lambda x: func(x) if hit(x) else x, tree)


def tree_all(pred: Callable[[Any], bool], tree: Any) -> bool:
    return all(map(pred, tree_leaves(tree)))


def tree_any(pred: Callable[[Any], bool], tree: Any) -> bool:
    return any(map(pred, tree_leaves(tree)))
