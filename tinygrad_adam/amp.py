"""``tinygrad_adam.amp``, as ``torch.amp``: ``GradScaler`` (loss scaling with torch's schedule) and ``autocast``.

There is no mixed precision here: ``autocast`` runs its block with every op in its inputs' own dtypes (float32 where
torch would compute some ops in float16 or bfloat16), and says so once with a warning when it is enabled. So a
torch training loop written for mixed precision runs unchanged, in full precision. ``GradScaler`` does what torch's
does, step for step: it multiplies the loss by the scale, divides the gradients by it before the optimizer's step,
skips the step when a gradient is inf or nan, and halves the scale then, or doubles it after ``growth_interval``
good steps. (With float32 gradients the scaling changes nothing but the skipping; it is kept so that the loop, its
checkpoints and its skipped steps behave as torch's.) ``torch.cuda.amp``'s old names are ``tinygrad_adam.cuda.amp``,
``torch.cpu.amp``'s ``tinygrad_adam.cpu.amp``.

The autocast state is torch's all the same (per thread and device type: ``is_autocast_enabled``; a CPU autocast
to a dtype other than float16 or bfloat16 disables itself with torch's warning), so ``custom_fwd(cast_inputs=...)`` /
``custom_bwd`` decorate a custom Function as torch's do: under an enabled autocast its forward gets its
floating-point inputs cast (float64 ones kept) and runs with autocast off, its backward in forward's state.
"""

from __future__ import annotations

import functools
import math
import threading
import types
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy

from . import backend, dtypes
from .tensor import Tensor

__all__ = ["GradScaler", "autocast", "custom_bwd", "custom_fwd", "is_autocast_available"]

# torch's device types (the ones its device strings may start with); autocast refuses any other
_DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia",
                 "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")
_AUTOCAST_TYPES = ("cpu", "cuda", "ipu", "xpu", "maia", "xla", "mps", "hpu", "mtia", "privateuseone")


class _AutocastState(threading.local):
    def __init__(self) -> None:
        self.enabled: dict[str, bool] = {}  # device type -> whether an autocast block for it is on
        self.dtype: dict[str, Any] = {}


_autocast_state = _AutocastState()


def _check_device_type(device_type: str) -> str:
    """The type of ``device_type`` ("cuda" of "cuda:0"); RuntimeError for one torch does not know."""
    kind = device_type.split(":")[0]
    if kind not in _DEVICE_TYPES:
        raise RuntimeError(f"device string {device_type!r} does not start with a known device type "
                           f"({', '.join(_DEVICE_TYPES)})")
    return kind


def is_autocast_available(device_type: str) -> bool:
    """``torch.amp.is_autocast_available``: True for a known device type (RuntimeError for an unknown one)."""
    return _check_device_type(device_type) in _AUTOCAST_TYPES


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """``torch.is_autocast_enabled(device_type=None)``: whether an enabled ``autocast`` block for that device type
    ("cuda" when None, as torch) is open in this thread (it computes in full precision all the same)."""
    return _autocast_state.enabled.get("cuda" if device_type is None else _check_device_type(device_type), False)


_DEFAULT_DTYPES = {"cpu": dtypes.bfloat16}  # torch's (a name only here: the block computes in full precision all
# the same); every other device type: float16, as torch's


def get_autocast_dtype(device_type: str) -> Any:
    """``torch.get_autocast_dtype(device_type)``: the dtype an autocast block for that type casts to (the one set by
    ``set_autocast_dtype`` / an open block, else torch's default: bfloat16 for "cpu", float16 for the others)."""
    kind = _check_device_type(device_type)
    return _autocast_state.dtype.get(kind) or _DEFAULT_DTYPES.get(kind, numpy.float16)


def set_autocast_dtype(device_type: str, dtype: Any) -> None:
    """``torch.set_autocast_dtype(device_type, dtype)``: the dtype ``get_autocast_dtype`` reports for that type."""
    _autocast_state.dtype[_check_device_type(device_type)] = dtype


def set_autocast_enabled(*args: Any) -> None:
    """``torch.set_autocast_enabled(device_type, enabled)`` (or the old ``set_autocast_enabled(enabled)``, for
    cuda): switch the autocast state of that device type, as ``is_autocast_enabled`` reports it."""
    if len(args) == 1:
        device_type, enabled = "cuda", args[0]
    elif len(args) == 2:
        device_type, enabled = args
    else:
        raise TypeError(f"set_autocast_enabled() takes (device_type, enabled) or (enabled), got {len(args)} arguments")
    _autocast_state.enabled[_check_device_type(device_type)] = bool(enabled)


def _deprecated_cpu_gpu(old: str, new: str) -> None:
    warnings.warn(f"torch.{old}() is deprecated. Please use torch.{new} instead.", DeprecationWarning, stacklevel=3)


def is_autocast_cpu_enabled() -> bool:
    """Deprecated (as torch's): ``is_autocast_enabled('cpu')``."""
    _deprecated_cpu_gpu("is_autocast_cpu_enabled", "is_autocast_enabled('cpu')")
    return is_autocast_enabled("cpu")


def get_autocast_cpu_dtype() -> Any:
    """Deprecated (as torch's): ``get_autocast_dtype('cpu')``."""
    _deprecated_cpu_gpu("get_autocast_cpu_dtype", "get_autocast_dtype('cpu')")
    return get_autocast_dtype("cpu")


def get_autocast_gpu_dtype() -> Any:
    """Deprecated (as torch's): ``get_autocast_dtype('cuda')``."""
    _deprecated_cpu_gpu("get_autocast_gpu_dtype", "get_autocast_dtype('cuda')")
    return get_autocast_dtype("cuda")


def set_autocast_cpu_enabled(enabled: bool) -> None:
    """Deprecated (as torch's): ``set_autocast_enabled('cpu', enabled)``."""
    _deprecated_cpu_gpu("set_autocast_cpu_enabled", "set_autocast_enabled('cpu', enabled)")
    set_autocast_enabled("cpu", enabled)


class autocast:  # noqa: N801 - torch's name
    """``with autocast(device_type, dtype=None, enabled=True, cache_enabled=None):`` (also a decorator): accepted,
    and the block runs in the tensors' own dtypes (see the module's docstring); warns once when enabled. A "cuda"
    one on a machine without a GPU disables itself with torch's warning."""

    _warned = False

    def __init__(self, device_type: str, dtype: Any = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:
        if not isinstance(device_type, str):
            raise ValueError(f"autocast: device_type must be a string such as 'cpu' or 'cuda', got {device_type!r}")
        if not is_autocast_available(device_type):
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
        self.device_type, self.dtype, self.enabled = device_type, dtype, bool(enabled)
        self._kind = _check_device_type(device_type)  # the state is kept per type ("cuda" for "cuda:0")
        self._prev: list[tuple[bool, Any]] = []
        if self.enabled and device_type == "cuda" and not backend.cupy_available():  # torch disables it so
            warnings.warn("autocast for 'cuda' needs a GPU and none is here; this autocast region is turned "
                          "off", UserWarning, stacklevel=2)
            self.enabled = False
        if (self.enabled and device_type == "cpu" and dtype is not None and dtype is not dtypes.bfloat16
                and numpy.dtype(dtype) != numpy.float16):
            warnings.warn("CPU autocast works with torch.bfloat16 or torch.float16 only; this autocast region is "
                          "turned off", UserWarning, stacklevel=2)
            self.enabled = False

    def __enter__(self) -> autocast:
        if self.enabled and not autocast._warned:
            autocast._warned = True
            warnings.warn("autocast: tinygrad_adam has no mixed precision; the block runs in the tensors' own dtypes "
                          "(float32 where torch would use float16 / bfloat16)", UserWarning, stacklevel=2)
        state, device = _autocast_state, self._kind
        self._prev.append((state.enabled.get(device, False), state.dtype.get(device)))
        state.enabled[device] = self.enabled
        if self.dtype is not None:
            state.dtype[device] = self.dtype
        return self

    def __exit__(self, *exc: object) -> None:
        _autocast_state.enabled[self._kind], _autocast_state.dtype[self._kind] = self._prev.pop()
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
            warnings.warn("GradScaler for 'cuda' needs a GPU and none is here; the scaler is turned off",
                          UserWarning, stacklevel=2)
            enabled = False
        self._enabled = bool(enabled)
        if self._enabled:  # torch's only checks (AssertionError, as its asserts)
            if not growth_factor > 1.0:
                raise AssertionError("GradScaler: growth_factor has to exceed 1.0")
            if not backoff_factor < 1.0:
                raise AssertionError("GradScaler: backoff_factor has to stay below 1.0")
        self._scale = numpy.float32(init_scale)
        self._scaled = False  # torch makes its scale tensor at the first scale(); step / update need it
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

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval

    def _check_scaled(self, api: str) -> None:
        if not getattr(self, "_scaled", True):
            raise AssertionError(f"{api} found no scale factor set: call scaler.scale(loss) (and backward) earlier in "
                                 f"this iteration")

    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a Tensor, or lists / tuples of them) times the scale; unchanged when disabled."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            self._scaled = True
            return outputs * Tensor(backend.to_device(numpy.asarray(self._scale), outputs.device),
                                    device=outputs.device)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        if isinstance(outputs, Iterable):  # torch: any other iterable gives a lazy map over it
            return map(self.scale, outputs)
        raise ValueError("scale() works on one Tensor or on an iterable holding Tensors")

    def unscale_(self, optimizer: Any) -> None:
        """Divide the gradients of ``optimizer``'s parameters by the scale, in place, and note whether any is inf or
        nan (then ``step`` skips the optimizer's step). Once per optimizer between two ``update`` calls."""
        if not self._enabled:
            return
        self._check_scaled("unscale_")
        stage = self._stages.get(id(optimizer), ("ready", False))[0]
        if stage == "unscaled":
            raise RuntimeError("unscale_() ran twice for this optimizer without an update() in between")
        if stage == "stepped":
            raise RuntimeError("unscale_() is being called after step().")
        with numpy.errstate(divide="ignore"):  # the reciprocal in float64, then float32, as torch's (inf for 0)
            inverse = numpy.float32(numpy.float64(1.0) / numpy.float64(self._scale))
        found = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse and p.grad.dtype == numpy.float16:  # as torch: summed first, so that the check
                    p.grad = p.grad.coalesce()                          # sees the sums that will be used
                g = p.grad._values()._data if p.grad.is_sparse else p.grad._data  # (a sparse grad's values, shared)
                found = found or not bool(backend.get_array_module(g).isfinite(g).all())  # before, as torch
                with numpy.errstate(invalid="ignore", over="ignore"):
                    g *= g.dtype.type(inverse)
        self._stages[id(optimizer)] = ("unscaled", found)

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """``optimizer.step()`` on the unscaled gradients, skipped when one of them is inf or nan."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("an enabled GradScaler cannot step with a closure; call the closure yourself, then step")
        self._check_scaled("step")
        if self._stages.get(id(optimizer), ("ready", False))[0] == "stepped":
            raise RuntimeError("step() ran already for this optimizer; call update() before the next step()")
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
        self._check_scaled("update")
        if new_scale is not None:
            self._scale = numpy.float32(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
        else:
            if not self._stages:
                raise AssertionError("update(): no step() or unscale_() checked any gradients for inf since the "
                                     "last update")
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
            raise RuntimeError("GradScaler.load_state_dict got an empty dict (was it saved by a disabled GradScaler?)")
        self._scale = numpy.float32(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


def _cast(value: Any, device_type: str, dtype: Any) -> Any:
    """``value`` with each floating-point Tensor on ``device_type`` (float64 excepted) cast to ``dtype``, inside
    dicts, lists and tuples too (custom_fwd's ``cast_inputs``)."""
    if isinstance(value, Tensor):
        eligible = value.is_floating_point() and value.device.type == device_type and value.dtype != numpy.float64
        return value.to(dtype) if eligible else value
    if isinstance(value, dict):
        return {_cast(k, device_type, dtype): _cast(v, device_type, dtype) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_cast(v, device_type, dtype) for v in value)
    return value


def custom_fwd(fwd: Callable[..., Any] | None = None, *, device_type: str, cast_inputs: Any = None) -> Any:
    """``torch.amp.custom_fwd``: decorates a custom ``Function``'s ``forward``. With ``cast_inputs`` and an
    enabled autocast for ``device_type``, forward runs on its floating-point tensors cast to ``cast_inputs``
    (float64 ones kept) with autocast off; the autocast state it ran in is kept on ctx for :func:`custom_bwd`."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args: Any, **kwargs: Any) -> Any:
        ctx, enabled = args[0], is_autocast_enabled(device_type)
        ctx._dtype = _autocast_state.dtype.get(device_type)
        ctx._fwd_used_autocast = enabled and cast_inputs is None
        if cast_inputs is None or not enabled:
            return fwd(*args, **kwargs)
        with autocast(device_type, enabled=False):
            return fwd(*_cast(args, device_type, cast_inputs), **_cast(kwargs, device_type, cast_inputs))

    return decorate_fwd


def custom_bwd(bwd: Callable[..., Any] | None = None, *, device_type: str) -> Any:
    """``torch.amp.custom_bwd``: decorates a custom ``Function``'s ``backward`` to run in the autocast state its
    :func:`custom_fwd` forward ran in."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args: Any, **kwargs: Any) -> Any:
        ctx = args[0]
        with autocast(device_type, dtype=getattr(ctx, "_dtype", None),
                      enabled=getattr(ctx, "_fwd_used_autocast", False)):
            return bwd(*args, **kwargs)

    return decorate_bwd


def _deprecated(name: str, device: str = "cuda") -> None:
    warnings.warn(f"`torch.{device}.amp.{name}(args...)` is deprecated; write `torch.amp.{name}('{device}', "
                  "args...)`", FutureWarning, stacklevel=3)


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


def _cuda_custom_fwd(fwd: Callable[..., Any] | None = None, *, cast_inputs: Any = None) -> Any:
    """``torch.cuda.amp.custom_fwd``: deprecated, as torch's; :func:`custom_fwd` for "cuda"."""
    warnings.warn("torch.cuda.amp.custom_fwd is deprecated; write torch.amp.custom_fwd(..., device_type='cuda')",
                  FutureWarning, stacklevel=2)
    return custom_fwd(fwd, device_type="cuda", cast_inputs=cast_inputs)


def _cuda_custom_bwd(bwd: Callable[..., Any] | None = None) -> Any:
    """``torch.cuda.amp.custom_bwd``: deprecated, as torch's; :func:`custom_bwd` for "cuda"."""
    warnings.warn("torch.cuda.amp.custom_bwd is deprecated; write torch.amp.custom_bwd(..., device_type='cuda')",
                  FutureWarning, stacklevel=2)
    return custom_bwd(bwd, device_type="cuda")


class _CpuAutocast(autocast):
    """``torch.cpu.amp.autocast(enabled=True, dtype=torch.bfloat16, cache_enabled=True)``: deprecated, as torch's
    (the block computes in full precision, as every autocast here)."""

    def __init__(self, enabled: bool = True, dtype: Any = dtypes.bfloat16, cache_enabled: bool = True) -> None:
        _deprecated("autocast", "cpu")
        super().__init__("cpu", dtype, enabled, cache_enabled)


class _CpuGradScaler(GradScaler):
    """``torch.cpu.amp.GradScaler(init_scale, growth_factor, backoff_factor, growth_interval, enabled)``:
    deprecated, as torch's."""

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        _deprecated("GradScaler", "cpu")
        super().__init__("cpu", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


# torch.cpu.amp's deprecated names, the "cpu" device fixed (tinygrad_adam.cpu.amp)
cpu_amp = types.ModuleType("tinygrad_adam.cpu.amp", "torch.cpu.amp's deprecated names for tinygrad_adam.amp.")
cpu_amp.autocast, cpu_amp.GradScaler = _CpuAutocast, _CpuGradScaler

# torch.cuda.amp's deprecated names, the "cuda" device fixed: a module, so `from torch.cuda.amp import ...` works
cuda_amp = types.ModuleType("tinygrad_adam.cuda.amp", "torch.cuda.amp's deprecated names for tinygrad_adam.amp.")
cuda_amp.autocast, cuda_amp.GradScaler = _CudaAutocast, _CudaGradScaler
cuda_amp.custom_fwd, cuda_amp.custom_bwd = _cuda_custom_fwd, _cuda_custom_bwd
