"""``torch.utils._pytree``'s path for :mod:`tinygrad_adam.pytree` (nested containers taken apart into leaves and
put back together, as torch's; ``func``'s transforms use the same)."""

from ..pytree import (
    LeafSpec,
    TreeSpec,
    tree_all,
    tree_any,
    tree_flatten,
    tree_iter,
    tree_leaves,
    tree_map,
    tree_map_only,
    tree_structure,
    tree_unflatten,
)

__all__ = ["LeafSpec", "TreeSpec", "tree_all", "tree_any", "tree_flatten", "tree_iter", "tree_leaves", "tree_map",
           "tree_map_only", "tree_structure", "tree_unflatten"]
