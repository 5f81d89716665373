"""torch.nn.modules' path, for code that reaches the module-wide hooks through it (``nn.modules.module``), the norm
base classes (``nn.modules.batchnorm._BatchNorm``, ``nn.modules.instancenorm._InstanceNorm``) or the conv classes
(``nn.modules.conv.Conv2d``), the activation, recurrent and transformer classes
(``nn.modules.activation``, ``nn.modules.rnn``, ``nn.modules.transformer``)."""

from . import activation, batchnorm, conv, instancenorm, module, rnn, transformer

__all__ = ["activation", "batchnorm", "conv", "instancenorm", "module", "rnn", "transformer"]
