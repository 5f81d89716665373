"""torch's "infrastructure" names, registered into ``methods.METHODS`` / ``FUNCTIONS`` (imported by the package
before ``methods.attach()``): storage and strides (storage.py), memory formats (layouts.py), determinism and
matmul-precision switches, print options, anomaly detection, ``typename``, ``Tensor.is_inference``."""

from __future__ import annotations

import warnings
from typing import Any

from . import anomaly, layouts, storage
from .methods import FUNCTIONS, METHODS, _function
from .printing import set_printoptions
from .tensor import Tensor

_switches: dict[str, Any] = {"deterministic": False, "warn_only": False, "matmul_precision": "highest"}


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms``: recorded and reported. On the CPU every op here is deterministic;
    on the GPU, scatter-adds (embedding / index_add gradients) use atomics, whose float sums may differ in the last
    bits from run to run (torch would raise for them in this mode)."""
    _switches.update(deterministic=bool(mode), warn_only=bool(warn_only))


def are_deterministic_algorithms_enabled() -> bool:
    return _switches["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _switches["warn_only"]


def set_float32_matmul_precision(precision: str) -> None:
    """``"highest"``, ``"high"`` or ``"medium"``: recorded; float32 matmuls here are always full float32 (the
    "highest" answer, which every setting allows). Another value warns and changes nothing, as torch's."""
    if precision not in ("highest", "high", "medium"):
        warnings.warn(f"{precision!r} is not one of 'highest', 'high', or 'medium'; set_float32_matmul_precision "
                      f"has no effect", UserWarning, stacklevel=2)
        return
    _switches["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    return _switches["matmul_precision"]


def typename(obj: Any) -> str:
    """``torch.typename``: 'tinygrad_adam.FloatTensor' for a float32 tensor (as ``x.type()``), else the qualified
    class name ('int', 'tinygrad_adam.nn.layers.Linear')."""
    if isinstance(obj, Tensor):
        return obj.type()
    cls = type(obj)
    return cls.__qualname__ if cls.__module__ in ("builtins", "__builtin__") else f"{cls.__module__}.{cls.__qualname__}"


def _is_inference(self: Tensor) -> bool:
    """Whether this tensor was made inside ``inference_mode()``."""
    return self._inference


METHODS.update(
    storage_offset=storage.offset_of, untyped_storage=lambda self: storage.UntypedStorage(self),
    as_strided=storage.as_strided, as_strided_=storage.as_strided_, as_strided_scatter=storage.as_strided_scatter,
    new_empty_strided=storage.new_empty_strided, share_memory_=storage.share_memory_, is_shared=storage.is_shared,
    layout=property(lambda self: layouts.strided), is_inference=_is_inference,
    output_nr=property(lambda self: 0),  # each recorded node has one output here (split's pieces: one node each)
)
FUNCTIONS.update({name: _function(name) for name in ("as_strided", "as_strided_", "as_strided_scatter")})
FUNCTIONS.update(
    as_strided_copy=storage.as_strided_copy, empty_strided=storage.empty_strided, is_storage=storage.is_storage,
    typename=typename, use_deterministic_algorithms=use_deterministic_algorithms,
    are_deterministic_algorithms_enabled=are_deterministic_algorithms_enabled,
    is_deterministic_algorithms_warn_only_enabled=is_deterministic_algorithms_warn_only_enabled,
    set_float32_matmul_precision=set_float32_matmul_precision,
    get_float32_matmul_precision=get_float32_matmul_precision, set_printoptions=set_printoptions,
    set_anomaly_enabled=anomaly.set_anomaly_enabled, is_anomaly_enabled=anomaly.is_anomaly_enabled,
    is_anomaly_check_nan_enabled=anomaly.is_anomaly_check_nan_enabled,
)
