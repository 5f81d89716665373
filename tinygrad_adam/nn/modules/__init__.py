"""torch.nn.modules' path, for code that reaches the module-wide hooks through it (``nn.modules.module``), the norm
base classes (``nn.modules.batchnorm._BatchNorm``, ``nn.modules.instancenorm._InstanceNorm``) or the conv classes
(``nn.modules.conv.Conv2d``)."""

from . import batchnorm, conv, instancenorm, module

__all__ = ["batchnorm", "conv", "instancenorm", "module"]
