"""torch.nn.modules.batchnorm's names, for code that reaches the base class through it (torchvision's
``set_weight_decay`` lists ``nn.modules.batchnorm._BatchNorm`` among its norm classes)."""

from ..layers import BatchNorm1d, BatchNorm2d, BatchNorm3d, SyncBatchNorm, _BatchNorm, _NormBase
from ..lazy import LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
           "SyncBatchNorm", "_BatchNorm", "_NormBase"]
