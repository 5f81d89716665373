"""``torch.testing``: ``assert_close`` (tensors, numbers, and sequences / mappings of them) and ``make_tensor``."""

from __future__ import annotations

import cmath
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
_NUMBERS = (int, float, complex, numpy.number)


def _tolerances(*dtypes: numpy.dtype) -> tuple[float, float]:
    pairs = [TOLERANCES.get(d.name, (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


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
    if not (rtol >= 0 and atol >= 0):  # (nan too) as torch: tensor comparisons reject them, scalar ones do not
        raise RuntimeError(f"assert_close: rtol and atol must be non-negative numbers, got rtol={rtol}, atol={atol}")
    report = _mismatch(a.astype(common), e.astype(common), rtol, atol, options["equal_nan"], a.ndim == 0)
    if report is not None:
        _fail(report, msg, where)


def _python_number(x: Any) -> Any:
    """A numpy scalar as the Python number it holds (torch compares numpy scalars as Python numbers)."""
    return x.item() if isinstance(x, numpy.number) else x


def _compare_numbers(actual: Any, expected: Any, where: str, options: dict[str, Any]) -> None:
    """Two Python numbers: exact for ints (any size), float64 / complex128 tolerances otherwise."""
    msg = options["msg"]
    if isinstance(actual, bool) or isinstance(expected, bool):
        raise RuntimeError(f"assert_close cannot compare a bool with a number ({actual!r} and {expected!r}); "
                           "compare bools with bools, or convert with int() / float() first")
    actual, expected = _python_number(actual), _python_number(expected)
    if options["check_dtype"] and type(actual) is not type(expected):
        _fail(f"The (d)types do not match: {type(actual)} != {type(expected)}.", msg, where)
    kinds = {type(actual), type(expected)}
    rtol, atol = options["tolerances"] or ((0.0, 0.0) if kinds == {int} else (1e-7, 1e-7))
    if actual == expected:
        return
    nan = (cmath.isnan(actual) and cmath.isnan(expected)) if kinds & {float, complex} else False
    if nan and options["equal_nan"]:
        return
    finite = kinds <= {int} or (cmath.isfinite(actual) and cmath.isfinite(expected))
    if finite and abs(actual - expected) <= atol + rtol * abs(expected):
        return
    if kinds <= {int}:  # (Python ints of any size: no conversion to int64)
        report = (f"Scalars are not {'equal' if rtol == atol == 0 else 'close'}!\n\nExpected {expected} but got "
                  f"{actual}.\nAbsolute difference: {abs(actual - expected)}")
    else:
        common = numpy.complex128 if complex in kinds else numpy.float64
        report = _mismatch(numpy.asarray(actual, common), numpy.asarray(expected, common), rtol, atol,
                           options["equal_nan"], True)
    _fail(report or f"Scalars are not close: {actual} != {expected}", msg, where)


def _compare(actual: Any, expected: Any, where: str, options: dict[str, Any]) -> None:
    """Dispatch on the pair's types as torch: None, bools, numbers, tensors (or numpy arrays, never mixed),
    mappings, sequences; anything else is a TypeError."""
    msg = options["msg"]
    if actual is None or expected is None:
        if not (actual is None and expected is None):
            _fail(f"One side is None and the other is not: {actual!r} vs {expected!r}.", msg, where)
    elif isinstance(actual, (bool, numpy.bool_)) and isinstance(expected, (bool, numpy.bool_)):
        if bool(actual) != bool(expected):  # (bools compare exactly, whatever the tolerances)
            _fail(f"The booleans differ: {actual} vs {expected}.", msg, where)
    elif isinstance(actual, _NUMBERS) and isinstance(expected, _NUMBERS):
        _compare_numbers(actual, expected, where, options)
    elif _tensor_pair(actual, expected, options["allow_subclasses"]):
        if isinstance(actual, numpy.ndarray):
            actual, expected = Tensor(actual), Tensor(expected)
        _compare_arrays(actual, expected, where, options)
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
        raise TypeError(f"assert_close cannot compare {type(actual).__name__} with {type(expected).__name__}: "
                        "give two tensors, two numpy arrays, two numbers, or sequences / mappings of them")


def _tensor_pair(actual: Any, expected: Any, allow_subclasses: bool) -> bool:
    """Whether the pair is two tensors or two numeric numpy arrays (a tensor and an array do not pair, as in
    torch; without ``allow_subclasses`` the two types must be the same, so a Parameter does not pair a Tensor)."""
    if isinstance(actual, Tensor) and isinstance(expected, Tensor):
        return allow_subclasses or type(actual) is type(expected)
    return (isinstance(actual, numpy.ndarray) and isinstance(expected, numpy.ndarray)
            and all(x.dtype.kind in "biufc" for x in (actual, expected)))


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
        raise ValueError(f"rtol and atol go together: pass both or neither (missing: "
                         f"{'atol' if atol is None else 'rtol'})")
    options = {"tolerances": None if rtol is None else (rtol, atol), "equal_nan": equal_nan, "msg": msg,
               "allow_subclasses": allow_subclasses,
               "check_device": check_device, "check_dtype": check_dtype, "check_stride": check_stride}
    _compare(actual, expected, "", options)


# [low, high) by kind when not given, as torch's make_tensor
DEFAULT_RANGES = {"b": (0, 2), "u": (-9, 10), "i": (-9, 10), "f": (-9, 9), "c": (-9, 9)}  # (u: clamped to 0)


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
    if dtype is None or not all(isinstance(n, (int, numpy.integer)) for n in shape):
        raise TypeError(f"make_tensor: give the shape as ints (or one tuple / list of ints) and a dtype; got shape "
                        f"{shape} and dtype {dtype}")
    dt = numpy.dtype(dtype)
    if requires_grad and dt.kind not in "fc":
        raise ValueError(f"make_tensor: dtype={dt} cannot require grad (boolean and integer dtypes never do)")
    lo, hi = DEFAULT_RANGES[dt.kind]
    low, high = lo if low is None else low, hi if high is None else high
    if math.isnan(low) or math.isnan(high):
        raise ValueError(f"make_tensor: low={low} and high={high} must not be NaN")
    if low > high or (low == high and dt.kind not in "fc"):
        raise ValueError(f"make_tensor: low={low} is not below high={high}")
    if dt.kind in "fc":
        info = numpy.finfo(dt)
        low, high = max(low, float(info.min)), min(high, float(info.max))
    else:  # integers and bools (as the integers [0, 2)): clamped to the dtype, bounds rounded up, as torch
        lowest, highest = (0, 1) if dt.kind == "b" else (int(numpy.iinfo(dt).min), int(numpy.iinfo(dt).max))
        if high < lowest or low > highest:
            raise ValueError(f"make_tensor: [low, high) = [{low}, {high}) is outside what {dt} can hold "
                             f"([{lowest}, {highest}])")
        low, high = math.ceil(max(low, lowest)), math.ceil(min(high, 2 if dt.kind == "b" else highest))
        if low >= high:  # (a RuntimeError, as torch's randint)
            raise RuntimeError(f"make_tensor: no integer in [low, high) = [{low}, {high}) after rounding the bounds "
                               "up; widen the interval")
    if low == high:
        warnings.warn("make_tensor: low == high for a floating dtype gives a constant tensor (torch deprecates "
                      "this); use full()", FutureWarning, stacklevel=2)
    u = rand(*shape, dtype=numpy.float64, device=device)
    values = (u * (high - low) + low)._data
    if dt.kind in "iub":
        values = backend.get_array_module(values).floor(values)
    values = backend.get_array_module(values).asarray(values).astype(dt)  # (an array even for shape ())
    if exclude_zero:
        values[values == 0] = 1 if dt.kind in "iub" else numpy.finfo(dt).tiny
    out = Tensor(values)
    if noncontiguous and out._data.size > 1:
        xp = backend.get_array_module(values)
        out = Tensor(xp.repeat(values, 2, axis=-1)[..., ::2])
    elif memory_format is not None:
        out = contiguous(out, memory_format)
    return out.requires_grad_() if requires_grad else out


# assert_allclose's own (older, looser) defaults: (rtol, atol) by dtype
ALLCLOSE_TOLERANCES = {"float16": (1e-3, 1e-3), "float32": (1e-4, 1e-5), "float64": (1e-5, 1e-8)}


def assert_allclose(actual: Any, expected: Any, rtol: float | None = None, atol: float | None = None,
                    equal_nan: bool = True, msg: str = "") -> None:
    """The deprecated ``torch.testing.assert_allclose`` (FutureWarning; use :func:`assert_close`): numbers, lists
    and arrays become tensors, ``expected`` in ``actual``'s dtype; shapes must match (no broadcasting); dtypes
    need not; NaN equals NaN by default; default tolerances by dtype: float16 1e-3 / 1e-3, float32 1e-4 / 1e-5,
    float64 1e-5 / 1e-8, exact otherwise."""
    from .creation import as_tensor

    warnings.warn("assert_allclose is deprecated (as in torch); use torch.testing.assert_close", FutureWarning,
                  stacklevel=2)
    if not isinstance(actual, Tensor):
        actual = as_tensor(actual)
    if not isinstance(expected, Tensor):
        expected = as_tensor(expected, dtype=actual.dtype)
    if (rtol is None) != (atol is None):
        raise ValueError("assert_allclose: give both rtol and atol, or neither")
    if rtol is None:
        pairs = [ALLCLOSE_TOLERANCES.get(t.dtype.name, (0.0, 0.0)) for t in (actual, expected)]
        rtol, atol = max(p[0] for p in pairs), max(p[1] for p in pairs)
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=True,
                 check_dtype=False, check_stride=False, msg=msg or None)
