"""``torch.testing``: ``assert_close`` (tensors, numbers, and sequences / mappings of them) and ``make_tensor``."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy

from . import backend
from .creation import rand
from .layouts import contiguous, element_strides
from .tensor import Tensor

# (rtol, atol) by dtype, as torch's defaults; integers and bool compare exactly
TOLERANCES = {"float16": (1e-3, 1e-5), "float32": (1.3e-6, 1e-5), "float64": (1e-7, 1e-7),
              "complex64": (1.3e-6, 1e-5), "complex128": (1e-7, 1e-7)}
_SCALARS = (bool, int, float, complex, numpy.number, numpy.bool_)


def _tolerances(*dtypes: numpy.dtype) -> tuple[float, float]:
    pairs = [TOLERANCES.get(d.name, (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _scalar_dtype(x: Any) -> numpy.dtype:
    """A Python number's dtype as torch reads it: bool, int64, float64 or complex128."""
    if isinstance(x, (numpy.number, numpy.bool_)):
        return x.dtype
    return numpy.dtype({bool: numpy.bool_, int: numpy.int64, float: numpy.float64}.get(type(x), numpy.complex128))


def _fail(message: str, msg: str | Callable[[str], str] | None, where: str) -> None:
    message += f"\n\nThe failure occurred for item {where}" if where else ""
    raise AssertionError(msg(message) if callable(msg) else msg if msg is not None else message)


def _mismatch(a: numpy.ndarray, e: numpy.ndarray, rtol: float, atol: float, equal_nan: bool,
              scalar: bool) -> str | None:
    """The report on the values of ``a`` and ``e`` (same shape) that are not close, or None."""
    with numpy.errstate(all="ignore"):
        if a.dtype.kind in "fc":  # (numpy's isclose: infinities close only to themselves, as torch's)
            close = numpy.isclose(a, e, rtol=rtol, atol=atol, equal_nan=equal_nan)
        else:  # integers and bool: exact unless tolerances are given
            close = a == e if rtol == 0 and atol == 0 else numpy.isclose(a, e, rtol=rtol, atol=atol)
        if bool(close.all()):
            return None
        a64, e64 = (x.astype(numpy.complex128 if x.dtype.kind == "c" else numpy.float64) for x in (a, e))
        absolute = numpy.abs(a64 - e64)
        relative = absolute / numpy.abs(e64)
    exact = rtol == 0 and atol == 0
    kind = "equal" if exact else "close"
    limits = ("", "") if exact else (f" (up to {atol} allowed)", f" (up to {rtol} allowed)")
    if scalar:
        return (f"Scalars are not {kind}!\n\nExpected {e.item()} but got {a.item()}.\n"
                f"Absolute difference: {absolute.item()}{limits[0]}\nRelative difference: {relative.item()}{limits[1]}")

    def greatest(d: numpy.ndarray) -> str:
        at = numpy.unravel_index(int(numpy.argmax(numpy.where(numpy.isnan(d), numpy.inf, d))), d.shape)
        return f"{d[at]} at index {tuple(int(i) for i in at)}"
    bad = int((~close).sum())
    return (f"Tensor-likes are not {kind}!\n\nMismatched elements: {bad} / {a.size} ({100 * bad / a.size:.1f}%)\n"
            f"Greatest absolute difference: {greatest(absolute)}{limits[0]}\n"
            f"Greatest relative difference: {greatest(relative)}{limits[1]}")


def _compare_arrays(actual: Any, expected: Any, where: str, options: dict[str, Any]) -> None:
    msg = options["msg"]
    for name, a, e in (("shape", tuple(actual.shape), tuple(expected.shape)),
                       *((("device", actual.device, expected.device),) if options["check_device"] else ()),
                       *((("dtype", actual.dtype, expected.dtype),) if options["check_dtype"] else ()),
                       *((("stride()", element_strides(actual), element_strides(expected)),)
                         if options["check_stride"] else ())):
        if a != e:
            _fail(f"The values for attribute '{name}' do not match: {a} != {e}.", msg, where)
    a, e = (backend.to_numpy(x._data) for x in (actual, expected))
    common = numpy.promote_types(a.dtype, e.dtype)
    rtol, atol = options["tolerances"] or _tolerances(a.dtype, e.dtype)
    report = _mismatch(a.astype(common), e.astype(common), rtol, atol, options["equal_nan"], a.ndim == 0)
    if report is not None:
        _fail(report, msg, where)


def _compare(actual: Any, expected: Any, where: str, options: dict[str, Any]) -> None:
    msg = options["msg"]
    if isinstance(actual, Tensor) and isinstance(expected, Tensor):
        _compare_arrays(actual, expected, where, options)
    elif isinstance(actual, numpy.ndarray) and isinstance(expected, numpy.ndarray):
        _compare_arrays(Tensor(actual), Tensor(expected), where, options)
    elif isinstance(actual, _SCALARS) and isinstance(expected, _SCALARS):
        if options["check_dtype"] and type(actual) is not type(expected):
            _fail(f"The (d)types do not match: {type(actual)} != {type(expected)}.", msg, where)
        da, de = _scalar_dtype(actual), _scalar_dtype(expected)
        common = numpy.promote_types(da, de)
        rtol, atol = options["tolerances"] or _tolerances(da, de)
        report = _mismatch(numpy.asarray(actual, common), numpy.asarray(expected, common), rtol, atol,
                           options["equal_nan"], True)
        if report is not None:
            _fail(report, msg, where)
    elif isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            _fail(f"The keys of the mappings do not match:\nMissing keys in the actual mapping: "
                  f"{sorted(set(expected) - set(actual), key=repr)}\nAdditional keys in the actual mapping: "
                  f"{sorted(set(actual) - set(expected), key=repr)}", msg, where)
        for key in expected:
            _compare(actual[key], expected[key], f"{where}[{key!r}]", options)
    elif (isinstance(actual, Sequence) and isinstance(expected, Sequence)
          and not isinstance(actual, str) and not isinstance(expected, str)):
        if len(actual) != len(expected):
            _fail(f"The length of the sequences mismatch: {len(actual)} != {len(expected)}", msg, where)
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, f"{where}[{i}]", options)
    else:
        raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.")


def assert_close(actual: Any, expected: Any, *, allow_subclasses: bool = True, rtol: float | None = None,
                 atol: float | None = None, equal_nan: bool = False, check_device: bool = True,
                 check_dtype: bool = True, check_layout: bool = True, check_stride: bool = False,
                 msg: str | Callable[[str], str] | None = None) -> None:
    """Raise an AssertionError unless ``actual`` and ``expected`` are close: ``|actual - expected| <= atol + rtol *
    |expected|`` elementwise, infinities equal, NaN equal only with ``equal_nan``; shapes, devices and (with
    ``check_dtype``) dtypes must match. Without ``rtol`` / ``atol`` (give both or neither), torch's defaults by
    dtype (float32: 1.3e-6 / 1e-5; float64: 1e-7 / 1e-7; float16: 1e-3 / 1e-5; integers and bool: exact).
    Python numbers compare as scalars; sequences and mappings item by item. ``msg`` replaces the message (a
    callable receives the generated one)."""
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                         f"{'atol' if atol is None else 'rtol'}.")
    options = {"tolerances": None if rtol is None else (rtol, atol), "equal_nan": equal_nan, "msg": msg,
               "check_device": check_device, "check_dtype": check_dtype, "check_stride": check_stride}
    _compare(actual, expected, "", options)


# [low, high) by kind when not given, as torch's make_tensor
DEFAULT_RANGES = {"b": (0, 2), "u": (0, 10), "i": (-9, 10), "f": (-9, 9), "c": (-9, 9)}


def make_tensor(*shape: Any, dtype: Any, device: Any = None, low: float | None = None, high: float | None = None,
                requires_grad: bool = False, noncontiguous: bool = False, exclude_zero: bool = False,
                memory_format: Any = None) -> Tensor:
    """A tensor of ``shape`` with values uniform in [low, high) (defaults by dtype: floats [-9, 9), signed
    integers [-9, 10), unsigned [0, 10), bool {0, 1}); bounds are clamped to the dtype's range. ``noncontiguous``
    gives a tensor whose last dim has stride 2 (with two or more elements), ``memory_format`` a copy in that format;
    ``exclude_zero`` replaces zeros by 1 (integers) or the dtype's smallest normal number."""
    if noncontiguous and memory_format is not None:
        raise ValueError("make_tensor: noncontiguous and memory_format are mutually exclusive")
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    dt = numpy.dtype(dtype)
    if requires_grad and dt.kind not in "fc":
        raise ValueError(f"`requires_grad=True` is not supported for boolean and integral dtypes, but got dtype={dt}")
    lo, hi = DEFAULT_RANGES[dt.kind]
    low, high = lo if low is None else low, hi if high is None else high
    if math.isnan(low) or math.isnan(high):
        raise ValueError(f"`low` and `high` cannot be NaN, but got low={low} and high={high}")
    info = numpy.finfo(dt) if dt.kind in "fc" else numpy.iinfo(dt) if dt.kind in "iu" else None
    if info is not None:
        low, high = max(low, float(info.min)), min(high, float(info.max))
    if dt.kind in "iu":
        low, high = math.ceil(low), math.ceil(high)
    if low > high or (low == high and dt.kind not in "fc"):
        raise ValueError(f"`low` must be less than `high`, but got {low} >= {high}")
    if low == high:
        warnings.warn("make_tensor: low == high for a floating dtype gives a constant tensor (torch deprecates "
                      "this); use full()", FutureWarning, stacklevel=2)
    u = rand(*shape, dtype=numpy.float64, device=device)
    values = (u * (high - low) + low)._data
    if dt.kind in "iub":
        values = backend.get_array_module(values).floor(values)
    values = values.astype(dt)
    if exclude_zero:
        values[values == 0] = 1 if dt.kind in "iub" else numpy.finfo(dt).tiny
    out = Tensor(values)
    if noncontiguous and out._data.size > 1:
        xp = backend.get_array_module(values)
        out = Tensor(xp.repeat(values, 2, axis=-1)[..., ::2])
    elif memory_format is not None:
        out = contiguous(out, memory_format)
    return out.requires_grad_() if requires_grad else out
