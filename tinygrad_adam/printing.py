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
    precision, sci, edgeitems = options["precision"], options["sci_mode"], options["edgeitems"]
    threshold = sys.maxsize if options["threshold"] == math.inf else int(options["threshold"])
    if array.size > threshold:  # summarised: only the items shown set the format, as torch's (and numpy's)
        array, threshold = _shown_items(array, edgeitems), 0
    if array.dtype.kind == "f" and array.dtype.itemsize < 8:  # written through their double values, as torch's
        array = array.astype(numpy.float64)  # (numpy turns float16 scientific from 1e3 up, float32 from about 1e6)
    mode, spec = _notation(array, sci, precision)
    formatter = {"float_kind": lambda v: f"{v:.{precision}e}"} if sci else None
    if spec is not None:
        formatter = {"float_kind": lambda v: spec.format(v) if math.isfinite(v) else str(v)}
    return numpy.array2string(array, separator=", ", prefix=prefix, precision=precision, suppress_small=sci is False,
                              threshold=threshold, edgeitems=edgeitems, max_line_width=options["linewidth"],
                              formatter=formatter, floatmode=mode)


def _shown_items(array: numpy.ndarray, edgeitems: int) -> numpy.ndarray:
    """What a summary of ``array`` shows, small: along each dim longer than 2 ``edgeitems`` its first and last
    ``edgeitems``, with one of the first repeated between them for numpy to write as "..." (so it changes no
    decision). numpy writes the result, summarised, exactly as it writes ``array``; nothing else is copied."""
    for d, n in enumerate(array.shape):
        if n > 2 * edgeitems:
            array = numpy.take(array, [*range(edgeitems), max(edgeitems - 1, 0), *range(n - edgeitems, n)], axis=d)
    return array


def _notation(array: numpy.ndarray, sci: bool | None, precision: int) -> tuple[str, str | None]:
    """numpy's ``floatmode`` that writes floats as torch does (``precision`` digits always: "2.5000",
    "1.0000e-05"; integral values "1., 2."), and a format for each finite value where numpy's choice of notation
    is not torch's (None where it is)."""
    if array.dtype.kind != "f" or sci:
        return "maxprec", None
    integral = _integral(array)
    if sci is False:  # numpy's suppress_small still writes 3e9 as 3.e+09
        return ("maxprec", "{:.0f}.") if integral else ("fixed", f"{{:.{precision}f}}")
    finite = array[numpy.isfinite(array)]
    nonzero = numpy.abs(finite[finite != 0])
    if not nonzero.size:
        return ("maxprec" if integral else "fixed"), None
    big, small = float(nonzero.max()), float(nonzero.min())  # torch decides in double precision
    if integral:  # torch: scientific past 1e8 or a ratio of 1000; numpy's turns scientific at 1e8 itself
        if big > 1e8 or big / small > 1000:
            return "fixed", None
        return "maxprec", "{:.0f}." if big == 1e8 else None
    torch_sci = big > 1e8 or small < 1e-4 or big / small > 1000  # (numpy's rule for doubles: the same, from 1e8)
    return "fixed", f"{{:.{precision}f}}" if big == 1e8 and not torch_sci else None


def _integral(array: numpy.ndarray) -> bool:
    """Whether every finite value is a whole number (torch's "int mode": printed "1.", "2.")."""
    finite = array[numpy.isfinite(array)]
    return bool((finite == numpy.floor(finite)).all())

