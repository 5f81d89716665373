"""More two-argument elementwise math, as torch names it: atan2, hypot, logaddexp, xlogy, copysign, ldexp, lerp,
heaviside, isclose, nextafter and igamma / igammac.

Each broadcasts its operands and promotes their dtypes as torch does (``elementwise.operands``), and records its
derivative where torch has one (fmod sits with remainder in ``elementwise``).
"""

from __future__ import annotations

from typing import Any

import numpy

from .. import backend
from ..tensor import DEFAULT_FLOAT, Array, Tensor, TensorLike, check_devices, record, refuse_complex
from .bitwise import operand_name
from .elementwise import broadcast_shape, cast, floating, ignore_fp_errors, operands, result_type, unbroadcast
from .factor import ArgumentError, DtypeError, KernelDtypeError


def _grads(a: Tensor, b: Tensor, ga: Any, gb: Any) -> tuple[Array | None, Array | None]:
    """The two gradients ``ga()`` and ``gb()``, summed back to a's and b's shapes, each only where it is wanted."""
    with ignore_fp_errors(a.xp):
        return (unbroadcast(ga(), a.shape) if a.requires_grad else None,
                unbroadcast(gb(), b.shape) if b.requires_grad else None)


def _floating_operands(op: str, a: TensorLike, b: TensorLike) -> tuple[Tensor, Tensor]:
    """``operands``, refusing integer and bool results as torch does for hypot and logaddexp."""
    a, b = operands(op, a, b)
    if a.dtype.kind != "f":
        raise KernelDtypeError(f"{op}: not implemented for {a.dtype} tensors (as in torch); convert with .float() "
                               f"first")
    return a, b


def _same_dtype(op: str, a: TensorLike, b: TensorLike) -> None:
    """torch's check for heaviside and isclose: two tensors of different dtypes raise."""
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype != b.dtype:
        raise DtypeError(f"{op}: both tensors must have the same dtype (as in torch), got {a.dtype} and {b.dtype}; "
                         f"convert one with .to(dtype)")


def atan2(a: TensorLike, other: TensorLike) -> Tensor:
    """The angle of the point (b, a), atan(a / b) in (-pi, pi] (float32 for integers); derivatives b / (a^2 + b^2)
    for a and -a / (a^2 + b^2) for b, as torch computes them (both 0 at the origin)."""
    a, b = operands("atan2", a, other, floating=True)
    x, y, xp = a._data, b._data, a.xp

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        denom = x * x + y * y
        with ignore_fp_errors(xp):
            recip = xp.where(denom == 0, denom.dtype.type(0), xp.reciprocal(denom))
        return _grads(a, b, lambda: g * y * recip, lambda: g * -x * recip)
    return record("atan2", a.xp.arctan2(x, y), (a, b), backward)


def hypot(a: TensorLike, other: TensorLike) -> Tensor:
    """sqrt(a^2 + b^2) without overflow (floating only, as torch); derivatives a / out and b / out."""
    a, b = _floating_operands("hypot", a, other)
    out = a.xp.hypot(a._data, b._data)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return _grads(a, b, lambda: g * a._data / out, lambda: g * b._data / out)
    return record("hypot", out, (a, b), backward)


def logaddexp(a: TensorLike, other: TensorLike) -> Tensor:
    """log(exp(a) + exp(b)) without overflow (floating only, as torch); derivatives 1 / (1 + exp(b - a)) and
    1 / (1 + exp(a - b))."""
    return _log_add("logaddexp", a, other)


def logaddexp2(a: TensorLike, other: TensorLike) -> Tensor:
    """log2(2^a + 2^b) in base 2 throughout, as torch's kernel: max(a, b) + log2(1 + 2^-|a - b|), so exactly b
    where a is -inf (logaddexp of a ln 2 and b ln 2 over ln 2 rounded 3.75 to 3.7499998); derivatives
    1 / (1 + 2^(b - a)) and 1 / (1 + 2^(a - b))."""
    return _log_add("logaddexp2", a, other)


def _log_add(op: str, a: TensorLike, other: TensorLike) -> Tensor:
    """numpy's ``op`` ("logaddexp" or "logaddexp2") of two floating tensors, with its derivatives."""
    a, b = _floating_operands(op, a, other)
    x, y, xp = a._data, b._data, a.xp
    power = xp.exp if op == "logaddexp" else xp.exp2

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return _grads(a, b, lambda: g / (1 + power(y - x)), lambda: g / (1 + power(x - y)))
    return record(op, getattr(xp, op)(x, y), (a, b), backward)


def xlogy(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002 - torch's name
    """a log(b), 0 where a == 0 unless b is nan (float32 for integers, as torch); derivatives as torch's:
    xlogy(g, b) for a (0 where a == 0 and b <= 0) and g a / b for b."""
    a, b = operands("xlogy", input, other, floating=True)
    x, y, xp = a._data, b._data, a.xp
    with ignore_fp_errors(xp):
        out = _xlogy(x, y)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return _grads(a, b, lambda: xp.where((x == 0) & (y <= 0), x.dtype.type(0), _xlogy(g, y)), lambda: g * x / y)
    return record("xlogy", out, (a, b), backward)


def _xlogy(x: Array, y: Array) -> Array:
    xp = backend.get_array_module(x)
    return xp.where((x == 0) & ~xp.isnan(y), x.dtype.type(0), x * xp.log(y))


def copysign(a: TensorLike, other: TensorLike) -> Tensor:
    """|a| with b's sign bit (so -0 and negative nans count as negative); float32 for integers, as torch. The
    derivative is out / a for a (0 where a is 0, nan where a is infinite, as torch's) and 0 for b."""
    a, b = operands("copysign", a, other, floating=True)
    x, xp = a._data, a.xp
    out = xp.copysign(x, b._data)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        with ignore_fp_errors(xp):
            ratio = xp.where(x == 0, x.dtype.type(0), out / x)
        return _grads(a, b, lambda: g * ratio, lambda: xp.zeros(out.shape, out.dtype))
    return record("copysign", out, (a, b), backward)


def ldexp(a: Tensor, other: Tensor) -> Tensor:
    """a 2^b, broadcast: float32 for an integer a, else a's dtype, or torch's promotion with a floating b. An integer
    b scales exactly, as C's ldexp (1e-30 2^130 is 1.4e9 in float32); a floating b multiplies by 2^b computed in the
    result's dtype. Gradients 2^b for a and a 2^b ln 2 for a floating b (exact where torch's are not: README)."""
    b = other  # torch's keyword name
    if not isinstance(b, Tensor):
        raise TypeError(f"ldexp: the exponent must be a tensor (as torch), got {type(b).__name__}; wrap it: "
                        f"tensor({b!r})")
    if b.dtype.kind == "b" and isinstance(a, Tensor) and a.dtype.kind in "biu":  # (torch scales by 2 or 1 here)
        b = Tensor(b._data.astype(numpy.int8), device=b.device)
    if b.dtype.kind not in "iuf":
        raise KernelDtypeError(f"ldexp: exponents of dtype {b.dtype} are not supported for a {operand_name(a)} "
                               f"input (as torch); use an integer dtype")
    x = floating(a)
    check_devices("ldexp", x, b)
    broadcast_shape("ldexp", x.shape, b.shape)
    dtype = result_type(a, b) if b.dtype.kind == "f" else x.dtype  # (a's own dtype: an integer a takes a 0-d b's)
    xp, xs = x.xp, x._data.astype(dtype, copy=False)
    with ignore_fp_errors(xp):
        if b.dtype.kind == "f":
            scale = xp.exp2(b._data.astype(dtype, copy=False))
            out = xs * scale
        else:
            scale = xp.ldexp(xp.ones((), dtype), b._data.astype("int64", copy=False))
            out = xp.ldexp(xs, b._data.astype("int64", copy=False))

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return _grads(x, b, lambda: g * scale, lambda: _exponent_grad(g, xs, scale))
    return record("ldexp", out, (x, b), backward)


def _exponent_grad(g: Array, x: Array, scale: Array) -> Array:
    """g x 2^e ln 2, ldexp's gradient for a floating e. float32 / float16 compute in float64 and round once: a
    denormal g x rounded first would be off (1e-45 g ln 2 is -0 for g = -0.6, not the -1e-45 of (g x) ln 2)."""
    wide = numpy.float64 if g.dtype.itemsize < 8 else g.dtype
    return (g.astype(wide) * x.astype(wide) * scale.astype(wide) * 0.6931471805599453).astype(g.dtype, copy=False)


def lerp(start: Tensor, end: TensorLike, weight: TensorLike) -> Tensor:
    """start + weight (end - start), all three broadcast, computed from the nearer end as torch does (end - (end -
    start) (1 - weight) where |weight| >= 0.5). ``start`` floating; ``end`` a tensor of its dtype (or a number);
    ``weight`` a number, a 0-d tensor, or a tensor of start's dtype; the result has start's dtype, or torch's
    promotion of the three where all are 0-d. Gradients (1 - weight) g for start, weight g
    for end, (end - start) g for weight."""
    if start.dtype.kind != "f":
        raise KernelDtypeError(f"lerp: not implemented for {start.dtype} tensors (as in torch); convert with "
                               f".float() first")
    for name, x in (("end", end), ("weight", weight)):
        if isinstance(x, Tensor) and x.dtype != start.dtype and (name == "end" or x.ndim):
            raise DtypeError(f"lerp: {name} must have the input's dtype {start.dtype} (as in torch), got {x.dtype}; "
                             f"convert it with .to(dtype)")
    s, e = operands("lerp", start, end)
    if isinstance(weight, Tensor):
        dtype = result_type(s, e, weight)  # start's, unless all three are 0-d (then a float64 weight widens)
        s, e, t = (cast(x, dtype, s) for x in (s, e, weight))
        check_devices("lerp", s, t)
        diff = e._data - s._data
        broadcast_shape("lerp", diff.shape, t.shape)
        parents, w = (s, e, t), t._data
        out = _lerp(s._data, e._data, w)
    else:
        if isinstance(weight, complex):
            refuse_complex(numpy.dtype(complex))
        parents = (s, e)
        out = _lerp(s._data, e._data, _opmath(s.dtype).type(weight))  # the number in torch's compute dtype
        w = float(weight)  # torch's backward takes a number weight as a double

    def backward(g: Array) -> tuple[Array | None, ...]:
        grads = _grads(s, e, lambda: g * (1 - w), lambda: g * w)
        if len(parents) == 2:
            return grads
        return (*grads, unbroadcast(g * diff, t.shape) if t.requires_grad else None)
    return record("lerp", out, parents, backward)


def add_scaled(op: str, a: TensorLike, b: TensorLike, alpha: float) -> Tensor:
    """torch's ``add(a, b, alpha=)`` (``op`` "add"; "sub" passes -alpha) for a floating result: a + alpha b rounded
    once, as torch's CPU kernel is one fused multiply-add in the compute dtype (float32 for float16), with alpha first
    rounded to the result's dtype. Gradients: g for a, torch's ``grad * alpha`` for b."""
    a, b = operands(op, a, b)
    dtype, wide = a.dtype, _opmath(a.dtype)
    out = fma(b._data.astype(wide, copy=False), wide.type(dtype.type(alpha)), a._data.astype(wide, copy=False))
    if dtype == numpy.float16:
        out = _half_tails(out.astype(dtype), a._data, b._data, dtype.type(alpha))

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return (unbroadcast(g, a.shape) if ra else None, unbroadcast(_scaled(g, alpha), b.shape) if rb else None)
    result = record(op, out.astype(dtype, copy=False), (a, b), backward)
    ra, rb = a.requires_grad, b.requires_grad  # (after record, as elementwise.add: it may regenerate a stale view)
    return result


def _half_tails(out: Array, a: Array, b: Array, alpha: Any) -> Array:
    """torch's float16 ``add(alpha=)`` on the CPU fuses in its vector loop, 32 elements at a time along the innermost
    dimension (the whole tensor where no operand is broadcast along part of it), and rounds twice, a + (alpha b) in
    float16, in its scalar loop over each row's last ``n mod 32`` elements; ``out`` (the fused result) gets those
    elements so. Beyond 32768 elements torch splits the rows among its threads, each with its own tail: not followed
    (those few elements stay fused). A 0-d result is one scalar-loop element."""
    if out.size >= 32768:
        return out
    whole = out.ndim == 0 or all(x.ndim == 0 or x.shape == out.shape for x in (a, b))
    rows = out.reshape(1, -1) if whole else out.reshape(-1, out.shape[-1])
    n = rows.shape[1] % 32
    if n == 0 or rows.size == 0:
        return out
    xp = backend.get_array_module(out)
    pair = [(xp.broadcast_to(x, out.shape).reshape(rows.shape))[:, -n:] for x in (a, b)]
    with ignore_fp_errors(xp):
        rows[:, -n:] = pair[0] + pair[1] * alpha
    return out


def _scaled(x: Array, value: float) -> Array:
    """torch's ``x * value`` for a number ``value``: computed in x's compute dtype with value as that dtype, rounded
    once to x's dtype."""
    wide = _opmath(x.dtype)
    with ignore_fp_errors(backend.get_array_module(x)):
        return (x.astype(wide, copy=False) * wide.type(value)).astype(x.dtype, copy=False)


def addcmul(s: Tensor, t1: Tensor, t2: Tensor, value: float) -> Tensor:
    """torch's ``addcmul`` for floating tensors of one dtype, broadcast: s + (value t1) t2, its last multiply-add
    fused, in the compute dtype (float32 for float16; value as that dtype), rounded once to the dtype. Gradients by
    torch's formulas: g, g (t2 value), g (t1 value)."""
    parents = _three("addcmul", s, t1, t2)
    dtype, wide = s.dtype, _opmath(s.dtype)
    x1, x2 = (t._data.astype(wide, copy=False) for t in (t1, t2))
    with ignore_fp_errors(s.xp):
        out = fma(x1 * wide.type(value), x2, s._data.astype(wide, copy=False)).astype(dtype, copy=False)

    def backward(g: Array) -> tuple[Array | None, ...]:
        with ignore_fp_errors(s.xp):
            return (unbroadcast(g, s.shape) if wanted[0] else None,
                    unbroadcast(g * _scaled(t2._data, value), t1.shape) if wanted[1] else None,
                    unbroadcast(g * _scaled(t1._data, value), t2.shape) if wanted[2] else None)
    result = record("addcmul", out, parents, backward)
    wanted = [t.requires_grad for t in parents]
    return result


def addcdiv(s: Tensor, t1: Tensor, t2: Tensor, value: float) -> Tensor:
    """torch's ``addcdiv`` for floating tensors of one dtype, broadcast: s + (value t1) / t2, each step rounded in the
    compute dtype (float32 for float16; value as that dtype), then once to the dtype. Gradients by torch's formulas:
    g, g (value / t2), -g (value t1 / (t2 t2))."""
    parents = _three("addcdiv", s, t1, t2)
    dtype, wide = s.dtype, _opmath(s.dtype)
    x1, x2 = (t._data.astype(wide, copy=False) for t in (t1, t2))
    with ignore_fp_errors(s.xp):
        out = (s._data.astype(wide, copy=False) + x1 * wide.type(value) / x2).astype(dtype, copy=False)

    def backward(g: Array) -> tuple[Array | None, ...]:
        with ignore_fp_errors(s.xp):
            return (unbroadcast(g, s.shape) if wanted[0] else None,
                    unbroadcast(g * (dtype.type(value) / t2._data), t1.shape) if wanted[1] else None,
                    unbroadcast(-g * (_scaled(t1._data, value) / (t2._data * t2._data)), t2.shape)
                    if wanted[2] else None)
    result = record("addcdiv", out, parents, backward)
    wanted = [t.requires_grad for t in parents]
    return result


def _three(op: str, s: Tensor, t1: Tensor, t2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """addcmul's / addcdiv's operands, of one dtype already: on one device, their shapes broadcasting together."""
    check_devices(op, s, t1)
    check_devices(op, s, t2)
    broadcast_shape(op, broadcast_shape(op, s.shape, t1.shape), t2.shape)
    return s, t1, t2


def _opmath(dtype: Any) -> Any:
    """The dtype torch's CPU kernels compute a dtype in: float32 for float16, else the dtype itself."""
    return numpy.dtype(numpy.float32) if dtype == numpy.float16 else numpy.dtype(dtype)


def _lerp(s: Array, e: Array, w: Any) -> Array:
    """torch's lerp kernel, in s's dtype: one fused multiply-add from the nearer end, s + w (e - s) where |w| < 0.5,
    else e + (w - 1)(e - s); a float16 one computes in float32 and rounds to float32 first (as torch)."""
    xp, op, dtype = backend.get_array_module(s), _opmath(s.dtype), s.dtype
    s, e, w = s.astype(op, copy=False), e.astype(op, copy=False), w.astype(op, copy=False)
    small = xp.abs(w) < 0.5
    out = fma(xp.where(small, w, w - 1), e - s, xp.where(small, s, e))
    return out.astype(dtype, copy=False)


def fma(a: Array, b: Array, c: Array) -> Array:
    """a b + c with one rounding, as C's fma (a's dtype; b and c arrays or scalars of it). float16/32: see ``_fma32``.
    float64: Boldo and Melquiond's emulation, Dekker's exact product plus c, its error terms summed rounded to odd
    (factors beyond 2^995 scaled by 2^-30, and c with them; again where the product overflows); a b + c where a or b
    is 0 or anything is not finite, but c where only c is infinite (the exact a b is finite, however large); a tiny a b
    with a result below 2^-960, again scaled up by 2^600. A subnormal float64 result may be off in its last bit (it is
    rounded twice)."""
    xp = backend.get_array_module(a)
    with ignore_fp_errors(xp):
        if a.dtype.itemsize < 8:
            return _fma32(xp, a, b, c)
        finite = xp.isfinite(a) & xp.isfinite(b) & xp.isfinite(c) & (a != 0) & (b != 0)
        ka, kb = (xp.where(xp.abs(x) > 2.0 ** 995, 2.0 ** -30, 1.0) for x in (a, b))  # so 2^27 x cannot overflow
        k = ka * kb
        out = _fma64(a * ka, b * kb, c * k) / k  # (c k is exact where it matters: a b is not tiny there)
        redo = finite & ~xp.isfinite(out)
        if redo.any():  # a b overflowed (a b + c may not): again with a 2^-30 more (c is huge where it matters)
            k = k * 2.0 ** -30
            out = xp.where(redo, _fma64(a * ka * 2.0 ** -30, b * kb, c * k) / k, out)
        near = finite & (xp.abs(out) < 2.0 ** -960)
        if near.any():  # a b's error terms underflow below 2^-969: again with a and b scaled by 2^300 (a b tiny, so
            tiny = near & (xp.abs(a * b) < 2.0 ** -900)  # each factor is below 2^174), c by 2^600, all exactly
            out = xp.where(tiny, _fma64(a * 2.0 ** 300, b * 2.0 ** 300, c * 2.0 ** 600) * 2.0 ** -600, out)
        plain = xp.where(xp.isinf(c) & xp.isfinite(a) & xp.isfinite(b), c, a * b + c)  # (a or b 0: exact)
        return xp.where(finite & ~xp.isnan(out), out, plain)


def _fma32(xp: Any, a: Array, b: Array, c: Array) -> Array:
    """fma for float16 / float32: the product is exact in float64 and the sum s rounded there, so rounding s to the
    dtype is a b + c's one rounding, except where s lies exactly halfway between two values of the dtype (or in its
    subnormal range): those few elements are summed again exactly, rounded to odd, then to the dtype."""
    dtype = a.dtype
    p = a.astype(numpy.float64) * b
    s = xp.asarray(p + c)  # (0-d operands give a numpy scalar)
    out = s.astype(dtype)
    low = 52 - numpy.finfo(dtype).nmant  # float64's bits below the dtype's last one; a halfway s ends in 10...0
    halfway = (s.view(numpy.int64) & ((1 << low) - 1)) == 1 << (low - 1)
    check = halfway | ((xp.abs(out) < numpy.finfo(dtype).tiny) & (s != 0))  # (an s of 0 is exact: p = -c)
    if check.any():
        p, c = xp.broadcast_to(p, s.shape)[check], xp.broadcast_to(xp.asarray(c, numpy.float64), s.shape)[check]
        out[check] = _odd(*_two_sum(p, c)).astype(dtype)
    return out


def _fma64(a: Array, b: Array, c: Array) -> Array:
    p = a * b
    (ah, al), (bh, bl) = _split(a), _split(b)
    p_err = ((ah * bh - p) + ah * bl + al * bh) + al * bl  # a b - p, exactly
    s, s_err = _two_sum(p, c)
    v = _odd(*_two_sum(s_err, p_err))
    return backend.get_array_module(a).where(v == 0, s, s + v)  # (v == 0: s keeps the sign of a zero)


def _two_sum(x: Array, y: Array) -> tuple[Array, Array]:
    """x + y rounded, and its rounding error (exact)."""
    s = x + y
    t = s - x
    return s, (x - (s - t)) + (y - t)


def _odd(s: Array, err: Array) -> Array:
    """s + err (s the rounded sum, err its error) rounded to odd: s, or where inexact and s's last bit is even, the
    float64 next to it on err's side."""
    xp = backend.get_array_module(s)
    even = (xp.asarray(s).view(numpy.int64) & 1) == 0
    return xp.where((err != 0) & even, xp.nextafter(s, xp.where(err > 0, numpy.inf, -numpy.inf)), s)


def _split(x: Array) -> tuple[Array, Array]:
    """x as hi + lo with 26-bit halves (Veltkamp): products of halves are exact in float64."""
    t = 134217729.0 * x  # 2^27 + 1
    hi = t - (t - x)
    return hi, x - hi


def _wide(x: Any) -> Any:
    """float16/32 values as float64 (where a product of two of them is exact)."""
    return x.astype("float64") if getattr(x, "dtype", None) is not None and x.dtype.itemsize < 8 else x


def heaviside(a: Tensor, values: TensorLike) -> Tensor:
    """The step function: 0 where a < 0 (and where a is nan), ``values`` where a == 0, 1 where a > 0, in a's dtype
    (any dtype; ``values`` a tensor of a's dtype, or a number, taken in a's dtype), broadcast. It has no
    derivative, as in torch: backward through it raises."""
    values = cast(values, a.dtype, a) if not isinstance(values, Tensor) else values
    _same_dtype("heaviside", a, values)
    a, v = operands("heaviside", a, values)
    x = a._data
    out = a.xp.where(x == 0, v._data, x > 0).astype(a.dtype, copy=False)

    def backward(g: Array) -> tuple[Array | None, ...]:
        raise RuntimeError("heaviside has no derivative (as in torch); detach its input, or use a smooth step such "
                           "as sigmoid(k * x)")
    return record("heaviside", out, (a, v), backward)


def isclose(a: TensorLike, other: TensorLike, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """|a - b| <= atol + rtol |b| elementwise, or a == b (so inf matches inf of its sign), or both nan with
    ``equal_nan``, as a bool tensor of the broadcast shape. Computed as torch does, in the tensors' dtype (float32
    for integer and bool tensors); both must be Tensors of one dtype, and a negative or nan tolerance raises."""
    b = other  # torch's keyword name
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):  # torch takes no number, list or array here
        raise TypeError(f"isclose / allclose: both operands must be Tensors (as in torch), got {type(a).__name__} "
                        f"and {type(b).__name__}; wrap a number or array with torch.tensor(...)")
    _same_dtype("isclose", a, b)
    if not (rtol >= 0 and atol >= 0):  # (a nan tolerance too, as torch)
        raise ArgumentError(f"isclose: rtol and atol must be >= 0, got rtol={rtol} and atol={atol}")
    try:
        a, b = operands("isclose", a, b)
    except ValueError as e:  # shapes that do not broadcast: torch's RuntimeError (a ValueError too, as before)
        raise ArgumentError(str(e)) from None
    x, y, xp = a._data, b._data, a.xp
    close = x == y
    if equal_nan and x.dtype.kind == "f":
        close |= xp.isnan(x) & xp.isnan(y)
    if rtol or atol:
        if x.dtype.kind != "f":
            x, y = x.astype(DEFAULT_FLOAT), y.astype(DEFAULT_FLOAT)
        with ignore_fp_errors(xp):
            allowed = xp.abs(y * x.dtype.type(rtol)) + x.dtype.type(atol)
            actual = xp.abs(x - y)
            close |= xp.isfinite(actual) & (actual <= allowed)
    return Tensor(close, device=a.device)


def nextafter(a: TensorLike, other: TensorLike) -> Tensor:
    """The next floating-point value after a in the direction of b (floating only, broadcast, as torch). Its
    gradients are torch 2.13's: g for a where a != b (0 where they are equal), 0 for b."""
    a, b = _floating_operands("nextafter", a, other)
    x, y = a._data, b._data

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        return _grads(a, b, lambda: g * (x != y), lambda: a.xp.zeros_like(g))
    return record("nextafter", a.xp.nextafter(x, y), (a, b), backward)


def gamma_density(a: Any, x: Array) -> Array:
    """x^(a-1) e^-x / Gamma(a) in float64, torch's derivative of gammainc in x: exp((a - 1) log x - x - lgamma(a)),
    with torch's lgamma(-inf) = inf (scipy's is -inf). ``a`` as given, broadcastable to x: a float64 a beside a
    float32 x is not rounded to float32 first (1e-300 would be 0, and the density 0 / 0)."""
    xp = backend.get_array_module(x)
    a64, x64 = xp.asarray(a, dtype=numpy.float64), x.astype(numpy.float64)
    with ignore_fp_errors(xp):
        lgamma_a = xp.where(a64 == -numpy.inf, numpy.inf, backend.special("gammaln", a64))
        return xp.exp((a64 - 1) * xp.log(x64) - x64 - lgamma_a)


def igamma(a: TensorLike, other: TensorLike, upper: bool = False) -> Tensor:
    """The regularized lower incomplete gamma function P(a, x) (``upper``: Q(a, x) = 1 - P), scipy's gammainc /
    gammaincc with torch's values at the boundaries (nan for a < 0 or x < 0, a = 0 counts as P = 1 for x > 0, inf
    limits), floating only, broadcast. Only x has a derivative, +-exp((a - 1) log x - x - lgamma(a)) (torch's
    formula); backward for a raises, as in torch."""
    op = "igammac" if upper else "igamma"
    given = a._data if isinstance(a, Tensor) else a  # (the derivative reads a as given, as torch's formula does)
    a, x = _floating_operands(op, a, other)
    s, t, xp = a._data, x._data, a.xp
    one, zero, nan = s.dtype.type(1), s.dtype.type(0), s.dtype.type("nan")
    lower, higher = (zero, one) if upper else (one, zero)  # the values at x = inf and at a = inf (x finite)
    with ignore_fp_errors(xp):
        out = backend.special("gammaincc" if upper else "gammainc", s, t).astype(s.dtype, copy=False)
        # torch's cases, the first that holds deciding (applied here last to first): a nan passes the comparisons
        out = xp.where(xp.isinf(t), lower, out)
        out = xp.where(xp.isinf(s), xp.where(xp.isinf(t), nan, higher), out)
        out = xp.where(t == 0, higher, out)
        out = xp.where(s == 0, xp.where(t > 0, lower, nan), out)
        out = xp.where((s < 0) | (t < 0), nan, out)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        if a.requires_grad:
            raise RuntimeError(f"the derivative for {op} with respect to its first argument (input) is not "
                               f"implemented (as in torch); detach it")
        density = gamma_density(given, t).astype(t.dtype, copy=False)
        return None, unbroadcast(g * (-density if upper else density), x.shape)
    return record(op, out, (a, x), backward)
