"""Anomaly detection (``torch.autograd.detect_anomaly``, ``torch.set_anomaly_enabled``): while on, a backward step
that returns a NaN gradient raises a RuntimeError naming the op, as torch's (with ``check_nan``). The forward-pass
tracebacks torch also records are not kept here."""

from __future__ import annotations

import contextlib
from typing import Any

checking = False  # read by the engine (autograd.run_backward) at each node: on, and check_nan
_mode = {"enabled": False, "check_nan": True}


def set_anomaly_enabled(mode: bool, check_nan: bool = True) -> None:
    """``torch.set_anomaly_enabled``: anomaly detection on or off (for the whole program, as torch's)."""
    global checking
    _mode.update(enabled=bool(mode), check_nan=bool(check_nan))
    checking = _mode["enabled"] and _mode["check_nan"]


def is_anomaly_enabled() -> bool:
    return _mode["enabled"]


def is_anomaly_check_nan_enabled() -> bool:
    return _mode["check_nan"]


class set_detect_anomaly(contextlib.ContextDecorator):  # noqa: N801 - torch's name
    """``torch.autograd.set_detect_anomaly(mode, check_nan=True)``: set now; as a context manager, restored after."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.previous = (_mode["enabled"], _mode["check_nan"])
        set_anomaly_enabled(mode, check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        set_anomaly_enabled(*self.previous)


class detect_anomaly(contextlib.ContextDecorator):  # noqa: N801
    """``with torch.autograd.detect_anomaly():`` (or as a decorator): anomaly detection on inside."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        self._previous: list[tuple[bool, bool]] = []

    def __enter__(self) -> None:
        self._previous.append((_mode["enabled"], _mode["check_nan"]))
        set_anomaly_enabled(True, self.check_nan)

    def __exit__(self, *exc: object) -> None:
        set_anomaly_enabled(*self._previous.pop())


def check(node: Any, grads: Any) -> None:
    """A RuntimeError when one of the gradients ``node``'s backward returned holds a NaN."""
    for i, g in enumerate(grads):
        if g is not None and g.dtype.kind in "fc" and bool((g != g).any()):
            from .autograd import GradFn

            raise RuntimeError(f"Function '{GradFn(node).name()}' returned nan values in its {i}th output.")
