"""``set_printoptions``: how ``repr(tensor)`` shows values (torch's options, applied through numpy's printer)."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy

PROFILES = {"default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
            "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
            "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80}}
options: dict[str, Any] = {**PROFILES["default"], "sci_mode": None}


def set_printoptions(precision: int | None = None, threshold: float | None = None, edgeitems: int | None = None,
                     linewidth: int | None = None, profile: str | None = None, sci_mode: bool | None = None) -> None:
    """As ``torch.set_printoptions``: ``profile`` ("default", "short", "full") first resets the four numbers, then
    each given option overrides; ``sci_mode`` True / False forces / forbids scientific notation, None decides."""
    if profile is not None:
        if profile not in PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(PROFILES)}, got {profile!r}")
        options.update(PROFILES[profile])
    given = {"precision": precision, "threshold": threshold, "edgeitems": edgeitems, "linewidth": linewidth}
    options.update({k: v for k, v in given.items() if v is not None})
    options["sci_mode"] = sci_mode


def array_string(array: numpy.ndarray, prefix: str) -> str:
    """``array`` as the body of a tensor's repr, under the current options."""
    precision, sci = options["precision"], options["sci_mode"]
    formatter = {"float_kind": lambda v: f"{v:.{precision}e}"} if sci else None
    if sci is False and array.dtype.kind == "f":  # numpy's suppress_small still writes 3e9 as 3.e+09
        spec = "{:.0f}." if _integral(array) else f"{{:.{precision}f}}"
        formatter = {"float_kind": lambda v: spec.format(v) if math.isfinite(v) else str(v)}
    threshold = options["threshold"]
    return numpy.array2string(array, separator=", ", prefix=prefix, precision=precision, suppress_small=sci is False,
                              threshold=sys.maxsize if threshold == math.inf else int(threshold),
                              edgeitems=options["edgeitems"], max_line_width=options["linewidth"],
                              formatter=formatter, floatmode=_float_mode(array, sci))


def _float_mode(array: numpy.ndarray, sci: bool | None) -> str:
    """numpy's ``floatmode`` that writes floats as torch does: ``precision`` digits always ("2.5000",
    "1.0000e-05"), except integral values printed without scientific notation ("1., 2.")."""
    if array.dtype.kind != "f" or sci:
        return "maxprec"
    if not _integral(array):
        return "fixed"
    finite = array[numpy.isfinite(array)]
    nonzero = numpy.abs(finite[finite != 0])  # integral: numpy's (and torch's) choice of scientific notation
    if sci is None and nonzero.size and (nonzero.max() >= 1e8 or nonzero.max() / nonzero.min() > 1000):
        return "fixed"
    return "maxprec"


def _integral(array: numpy.ndarray) -> bool:
    """Whether every finite value is a whole number (torch's "int mode": printed "1.", "2.")."""
    finite = array[numpy.isfinite(array)]
    return bool((finite == numpy.floor(finite)).all())

