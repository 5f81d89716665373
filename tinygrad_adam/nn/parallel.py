"""``nn.parallel`` as torch's on a machine without GPUs: ``DataParallel`` wraps a module and calls it as it is
(``.module`` holds it, so a state_dict's keys gain the prefix ``module.``, as torch's), ``data_parallel`` and
``DistributedDataParallel`` raise. Splitting a batch over several GPUs is not implemented: with a GPU present,
``DataParallel`` asks for the module itself (or ``device_ids=[]``, which torch also runs as it is).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import cuda
from .module import Module


class DataParallel(Module):
    """torch's ``nn.DataParallel(module, device_ids=None, output_device=None, dim=0)``. Without a GPU, as torch's
    on such a machine: ``device_ids`` (whatever was passed) becomes [] and ``forward`` is ``module(*inputs,
    **kwargs)``. With a GPU only ``device_ids=[]`` is accepted (the same plain call); scattering the batch over
    devices raises NotImplementedError."""

    def __init__(self, module: Module, device_ids: Sequence[Any] | None = None, output_device: Any = None,
                 dim: int = 0) -> None:
        if cuda.is_available() and (device_ids is None or len(device_ids)):
            raise NotImplementedError(_NO_SCATTER.format(name="DataParallel"))
        self.module, self.device_ids = module, []

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)


def data_parallel(module: Module, inputs: Any, device_ids: Sequence[Any] | None = None, output_device: Any = None,
                  dim: int = 0, module_kwargs: Any = None) -> Any:
    """torch's ``nn.parallel.data_parallel``: it needs GPUs to scatter over (without one torch raises "device type
    could not be determined"), so it raises here; call ``module(*inputs)``."""
    if not cuda.is_available():
        raise RuntimeError("data_parallel: no GPU to scatter the batch over (torch raises here too); call "
                           "module(*inputs) directly")
    raise NotImplementedError(_NO_SCATTER.format(name="data_parallel"))


class DistributedDataParallel(Module):
    """torch's ``nn.parallel.DistributedDataParallel``: there are no process groups (``torch.distributed``) here,
    so making one raises, as torch's does before ``init_process_group``."""

    def __init__(self, module: Module, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("DistributedDataParallel: torch.distributed (process groups) is not implemented; "
                                  "train in one process with the module itself")


_NO_SCATTER = ("{name}: splitting a batch over GPUs is not implemented (one device per process here); move the "
               "module with .to('cuda') and call it directly, or pass device_ids=[] to run it as it is")

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel"]
