"""torch.nn.modules' path, for code that reaches the module-wide hooks through it (``nn.modules.module``) or the norm
base classes (``nn.modules.batchnorm._BatchNorm``, ``nn.modules.instancenorm._InstanceNorm``)."""

from . import batchnorm, instancenorm, module

__all__ = ["batchnorm", "instancenorm", "module"]
