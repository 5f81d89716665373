"""``torch.autograd.profiler``, the older profiling API: ``profile(enabled=True, use_cuda=False, ...)`` and
``record_function``, over ``tinygrad_adam.profiler`` (what it records: the named blocks; see there), and
``emit_nvtx`` / ``emit_itt``, which do nothing here (no NVTX or ITT ranges)."""

from __future__ import annotations

import contextlib
from typing import Any

from .. import profiler as _profiler
from ..profiler import EventList, FunctionEvent, record_function

__all__ = ["EventList", "FunctionEvent", "emit_itt", "emit_nvtx", "profile", "record_function"]


class profile(_profiler.profile):  # noqa: N801 - torch's name
    """``with autograd.profiler.profile() as prof:`` ... ``prof.key_averages().table()``: a profile that records
    from entry to exit; ``enabled=False`` records nothing. The other options are torch's and change nothing (a CUDA
    request warns, as in ``profiler.profile``)."""

    def __init__(self, enabled: bool = True, *, use_cuda: bool = False, use_device: str | None = None,
                 record_shapes: bool = False, with_flops: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, with_modules: bool = False, use_kineto: bool = False, use_cpu: bool = True,
                 **_: Any) -> None:
        super().__init__(use_cuda=use_cuda or use_device == "cuda", record_shapes=record_shapes,
                         profile_memory=profile_memory, with_stack=with_stack)
        self.enabled = enabled

    def start(self) -> None:
        if self.enabled:
            super().start()

    @property
    def function_events(self) -> EventList:
        """The recorded events (torch's attribute; ``events()`` too)."""
        return self.events()


def emit_nvtx(enabled: bool = True, record_shapes: bool = False) -> contextlib.AbstractContextManager[None]:
    """A no-op context (there are no NVTX ranges to emit without CUDA)."""
    return contextlib.nullcontext()


def emit_itt(enabled: bool = True, record_shapes: bool = False) -> contextlib.AbstractContextManager[None]:
    """A no-op context (no Intel ITT here)."""
    return contextlib.nullcontext()
