"""torch.nn.modules.instancenorm's names, for code that reaches the base class through it (torchvision's
``set_weight_decay`` lists ``nn.modules.instancenorm._InstanceNorm`` among its norm classes)."""

from ..layers import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, _InstanceNorm
from ..lazy import LazyInstanceNorm1d, LazyInstanceNorm2d, LazyInstanceNorm3d

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d",
           "LazyInstanceNorm3d", "_InstanceNorm"]
