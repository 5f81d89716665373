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
    threshold = options["threshold"]
    return numpy.array2string(array, separator=", ", prefix=prefix, precision=precision, suppress_small=sci is False,
                              threshold=sys.maxsize if threshold == math.inf else int(threshold),
                              edgeitems=options["edgeitems"], max_line_width=options["linewidth"],
                              formatter=formatter)

