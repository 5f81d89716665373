"""``nn.parallel`` as torch's on a machine without GPUs: ``DataParallel`` wraps a module and calls it as it is
(``.module`` holds it, so a state_dict's keys gain the prefix ``module.``, as torch's), ``data_parallel`` raises;
``DistributedDataParallel`` wraps a module over the one-process group of ``torch.distributed``. Splitting a batch
over several GPUs is not implemented: with a GPU present, ``DataParallel`` asks for the module itself (or
``device_ids=[]``, which torch also runs as it is).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
    """torch's ``nn.parallel.DistributedDataParallel`` over the one-process group of ``torch.distributed`` (world
    size 1): ``init_process_group`` must have run (ValueError before, as torch's), the module needs a parameter that
    requires grad (RuntimeError otherwise), ``device_ids`` must be None for a CPU module (ValueError otherwise).
    ``forward`` calls the module; averaging gradients over one rank leaves them as they are, so ``backward`` gives
    the bare module's gradients, with or without ``no_sync()``. ``.module`` holds the module, so state_dict keys gain
    the prefix ``module.``."""

    def __init__(self, module: Module, device_ids: Sequence[Any] | None = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool | None = None, init_sync: bool = True,
                 process_group: Any = None, bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False, static_graph: bool = False,
                 delay_all_reduce_named_params: Any = None, param_to_hook_all_reduce: Any = None,
                 mixed_precision: Any = None, device_mesh: Any = None, skip_all_reduce_unused_params: bool = False,
                 bucket_cap_mb_list: list[int] | None = None, batched_grad_copy: bool = False,
                 forward_sync_buffers: bool | None = None) -> None:
        from .. import distributed
        if not any(p.requires_grad for p in module.parameters()):
            raise RuntimeError("DistributedDataParallel: the module has no parameter that requires grad, so there "
                               "is nothing to synchronise; call the module itself")
        if device_ids is not None or output_device is not None:
            raise ValueError(f"DistributedDataParallel: device_ids={device_ids} / output_device={output_device} "
                             "are for GPU modules; leave them out (None) for a CPU module")
        group = distributed.new_group() if process_group is None else process_group  # ValueError before init
        super().__init__()
        self.module, self.process_group = module, (distributed.group.WORLD if process_group is None else group)
        self.device_ids, self.output_device, self.dim = None, None, dim
        sync = forward_sync_buffers if forward_sync_buffers is not None else broadcast_buffers  # torch 2.13's rule
        self.broadcast_buffers = True if sync is None else bool(sync)
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view, self.static_graph = gradient_as_bucket_view, static_graph
        self.require_backward_grad_sync, self.require_forward_param_sync = True, True
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Skip the gradient all-reduce inside the block (nothing to skip over one rank)."""
        old, self.require_backward_grad_sync = self.require_backward_grad_sync, False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    @contextmanager
    def join(self, divide_by_initial_world_size: bool = True, enable: bool = True,
             throw_on_early_termination: bool = False) -> Iterator[None]:
        """Uneven inputs over ranks: one rank never waits, so nothing to do."""
        yield

    def register_comm_hook(self, state: Any, hook: Any) -> None:
        """Refused: torch runs a communication hook on each gradient bucket even over one rank (a hook that
        compresses or scales changes the gradients), and there are no buckets here to run it on."""
        raise NotImplementedError("DistributedDataParallel.register_comm_hook: communication hooks are not "
                                  "implemented (no gradient buckets here); apply the change to p.grad after "
                                  "backward() instead")

    def _set_static_graph(self) -> None:
        self.static_graph = True


_NO_SCATTER = ("{name}: splitting a batch over GPUs is not implemented (one device per process here); move the "
               "module with .to('cuda') and call it directly, or pass device_ids=[] to run it as it is")

# torch's submodule paths: ``from torch.nn.parallel.distributed import DistributedDataParallel`` and so on
sys.modules[f"{__name__}.distributed"] = sys.modules[f"{__name__}.data_parallel"] = sys.modules[__name__]

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel"]
