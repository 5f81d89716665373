"""torch.nn.modules' path, for code that reaches the module-wide hooks through it (``nn.modules.module``)."""

from . import module

__all__ = ["module"]
