"""``tinygrad_adam.amp``, as ``torch.amp``: ``GradScaler`` (loss scaling with torch's schedule) and ``autocast``.

There is no mixed precision here: ``autocast`` runs its block with every op in its inputs' own dtypes (float32 where
torch would compute some ops in float16 or bfloat16), and says so once with a warning when it is enabled. So a
torch training loop written for mixed precision runs unchanged, in full precision. ``GradScaler`` does what torch's
does, step for step: it multiplies the loss by the scale, divides the gradients by it before the optimizer's step,
skips the step when a gradient is inf or nan, and halves the scale then, or doubles it after ``growth_interval``
good steps. (With float32 gradients the scaling changes nothing but the skipping; it is kept so that the loop, its
checkpoints and its skipped steps behave as torch's.) ``torch.cuda.amp``'s old names are ``tinygrad_adam.cuda.amp``.
"""

from __future__ import annotations

import functools
import math
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy

from . import backend
from .tensor import Tensor

__all__ = ["GradScaler", "autocast"]


class autocast:  # noqa: N801 - torch's name
    """``with autocast(device_type, dtype=None, enabled=True, cache_enabled=None):`` (also a decorator): accepted,
    and the block runs in the tensors' own dtypes (see the module's docstring); warns once when enabled. A "cuda"
    one on a machine without a GPU disables itself with torch's warning."""

    _warned = False

    def __init__(self, device_type: str, dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:
        if not isinstance(device_type, str):
            raise ValueError(f"autocast: device_type must be a string such as 'cpu' or 'cuda', got {device_type!r}")
        self.device_type, self.dtype, self.enabled = device_type, dtype, bool(enabled)
        if self.enabled and device_type == "cuda" and not backend.cupy_available():  # torch disables it so
            warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.", UserWarning,
                          stacklevel=2)
            self.enabled = False

    def __enter__(self) -> autocast:
        if self.enabled and not autocast._warned:
            autocast._warned = True
            warnings.warn("autocast: tinygrad_adam has no mixed precision; the block runs in the tensors' own dtypes "
                          "(float32 where torch would use float16 / bfloat16)", UserWarning, stacklevel=2)
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)
        return wrapped


class GradScaler:
    """``GradScaler(device="cuda", init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
    enabled=True)``: torch's loss scaling (the scale is kept in float32, as torch's). A "cuda" scaler on a machine
    without a GPU disables itself with torch's warning; ``device="cpu"`` works anywhere."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True) -> None:
        if enabled and str(device).startswith("cuda") and not backend.cupy_available():
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                          UserWarning, stacklevel=2)
            enabled = False
        self._enabled = bool(enabled)
        if self._enabled:
            if growth_factor <= 1.0:
                raise ValueError(f"GradScaler: growth_factor must be > 1.0, got {growth_factor}")
            if not 0.0 < backoff_factor < 1.0:
                raise ValueError(f"GradScaler: backoff_factor must be < 1.0 (and > 0), got {backoff_factor}")
            if not isinstance(growth_interval, int) or growth_interval <= 0:
                raise ValueError(f"GradScaler: growth_interval must be a positive int, got {growth_interval!r}")
        self._scale = numpy.float32(init_scale)
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval, self._growth_tracker = growth_interval, 0
        self._stages: dict[int, tuple[str, bool]] = {}  # id(optimizer) -> ("unscaled" | "stepped", found inf)

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        """The current scale (1.0 when disabled)."""
        return float(self._scale) if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a Tensor, or lists / tuples of them) times the scale; unchanged when disabled."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * Tensor(backend.to_device(numpy.asarray(self._scale), outputs.device),
                                    device=outputs.device)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError("GradScaler.scale: outputs must be a Tensor or an iterable of Tensors")

    def unscale_(self, optimizer: Any) -> None:
        """Divide the gradients of ``optimizer``'s parameters by the scale, in place, and note whether any is inf or
        nan (then ``step`` skips the optimizer's step). Once per optimizer between two ``update`` calls."""
        if not self._enabled:
            return
        stage = self._stages.get(id(optimizer), ("ready", False))[0]
        if stage == "unscaled":
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if stage == "stepped":
            raise RuntimeError("unscale_() is being called after step().")
        inverse = numpy.float32(1.0 / float(self._scale))  # the reciprocal in float64, then float32, as torch's
        found = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse and p.grad.dtype == numpy.float16:  # as torch: summed first, so that the check
                    p.grad = p.grad.coalesce()                          # sees the sums that will be used
                g = p.grad._values()._data if p.grad.is_sparse else p.grad._data  # (a sparse grad's values, shared)
                found = found or not bool(backend.get_array_module(g).isfinite(g).all())  # before, as torch
                g *= g.dtype.type(inverse)
        self._stages[id(optimizer)] = ("unscaled", found)

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """``optimizer.step()`` on the unscaled gradients, skipped when one of them is inf or nan."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        if self._stages.get(id(optimizer), ("ready", False))[0] == "stepped":
            raise RuntimeError("step() has already been called since the last update().")
        if id(optimizer) not in self._stages:
            self.unscale_(optimizer)
        found = self._stages[id(optimizer)][1]
        self._stages[id(optimizer)] = ("stepped", found)
        return None if found else optimizer.step(*args, **kwargs)

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Set the scale for the next iteration: ``new_scale`` if given, else torch's schedule (times
        ``backoff_factor`` after a skipped step, times ``growth_factor`` after ``growth_interval`` good ones)."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = numpy.float32(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
        else:
            if not self._stages:
                raise RuntimeError("GradScaler.update: no inf checks were recorded prior to update(); call "
                                   "scaler.step(optimizer) (or unscale_) first")
            if any(found for _, found in self._stages.values()):
                self._scale = numpy.float32(float(self._scale) * self._backoff_factor)  # in float64, as torch
                self._growth_tracker = 0
            elif self._growth_tracker + 1 == self._growth_interval:
                with numpy.errstate(over="ignore"):
                    grown = numpy.float32(float(self._scale) * self._growth_factor)
                self._scale = grown if math.isfinite(grown) else self._scale
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
        self._stages = {}

    def state_dict(self) -> dict[str, Any]:
        """torch's keys (empty when disabled)."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        self._scale = numpy.float32(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


def _deprecated(name: str) -> None:
    warnings.warn(f"`torch.cuda.amp.{name}(args...)` is deprecated. Please use `torch.amp.{name}('cuda', args...)` "
                  "instead.", FutureWarning, stacklevel=3)


class _CudaAutocast(autocast):
    """``torch.cuda.amp.autocast(enabled=True, dtype=torch.float16, cache_enabled=True)``: deprecated, as torch's."""

    def __init__(self, enabled: bool = True, dtype: Any = None, cache_enabled: bool = True) -> None:
        _deprecated("autocast")
        super().__init__("cuda", dtype, enabled, cache_enabled)


class _CudaGradScaler(GradScaler):
    """``torch.cuda.amp.GradScaler(init_scale, growth_factor, backoff_factor, growth_interval, enabled)``:
    deprecated, as torch's."""

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        _deprecated("GradScaler")
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


# torch.cuda.amp's deprecated names, the "cuda" device fixed: a module, so `from torch.cuda.amp import ...` works
cuda_amp = types.ModuleType("tinygrad_adam.cuda.amp", "torch.cuda.amp's deprecated names for tinygrad_adam.amp.")
cuda_amp.autocast, cuda_amp.GradScaler = _CudaAutocast, _CudaGradScaler
