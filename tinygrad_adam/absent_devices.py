"""``torch.mps``, ``torch.xpu`` and ``torch.mtia``: devices this library has no backend for. Device-picking code
(``torch.xpu.is_available()``, ``torch.mps.empty_cache()``) runs and finds none; anything that needs the device
raises RuntimeError naming it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, NoReturn


def _absent(name: str) -> SimpleNamespace:
    """The module of device ``name``: not available, no devices; its cache and seeds have nothing to act on."""

    def needs_device(*_: Any, **__: Any) -> NoReturn:
        raise RuntimeError(f"torch.{name}: this library has no {name} backend (its devices are 'cpu' and 'cuda')")

    return SimpleNamespace(is_available=lambda: False, device_count=lambda: 0, is_initialized=lambda: False,
                           empty_cache=lambda: None, manual_seed=lambda seed: None, manual_seed_all=lambda seed: None,
                           synchronize=needs_device, current_device=needs_device, set_device=needs_device,
                           get_device_name=needs_device, memory_allocated=needs_device)


mps, xpu, mtia = _absent("mps"), _absent("xpu"), _absent("mtia")
