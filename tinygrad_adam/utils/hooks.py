"""``torch.utils.hooks``: ``RemovableHandle``, the class of what the ``register_*hook`` methods return."""

from __future__ import annotations

from ..autograd import RemovableHandle

__all__ = ["RemovableHandle"]
