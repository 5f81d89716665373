"""Bitwise ops on bool and integer tensors, as torch: ``& | ^`` (and, or, xor), ``~`` (not), ``<< >>`` (shifts).

Operands are broadcast and promoted as torch promotes them (``elementwise.result_type``: a bool tensor with an int64
one is int64, an int8 tensor with a Python int or a 0-d int64 tensor stays int8); a Python int takes the result's
dtype by wrapping around, as torch casts it (``int8 & 300`` is ``int8 & 44``). A floating operand or result raises
TypeError, as torch refuses them; so does a shift of two bools. The results are constants: no op here has a
gradient.

Shifts follow torch's CPU kernels for every amount: ``a << b`` is ``a`` shifted as an unsigned number of its width
(so it wraps: ``uint8 200 << 1`` is 144 and ``int64 1 << 63`` is the smallest int64), 0 when ``b`` is negative or at
least the width; ``a >> b`` is arithmetic (the sign fills in), and a negative ``b`` or one past the width shifts by
the width (-1 or 0 for signed, 0 for unsigned).
"""

from __future__ import annotations

from typing import Any

import numpy

from ..tensor import Array, Tensor, TensorLike, as_tensor, check_devices
from . import elementwise
from .factor import KernelDtypeError

NUMBERS = (int, float, complex)  # Python's (bool among the ints)
WIDE_UNSIGNED = (numpy.dtype(numpy.uint16), numpy.dtype(numpy.uint32), numpy.dtype(numpy.uint64))


def _number(x: Any) -> Any:
    """A Python int below 2**63 stays (int64 to torch); from 2**63 to 2**64 it is a uint64 number, as torch reads it
    (it wraps into an integer tensor's dtype and does not combine with bool); floats and numpy numbers stay."""
    if isinstance(x, numpy.bool_):
        raise TypeError("bitwise ops: a numpy bool is a float to torch (which then refuses it); pass a Python bool")
    if isinstance(x, int) and not -(2 ** 63) <= x < 2 ** 64:
        raise ValueError(f"bitwise ops: {x} does not fit in 64 bits; pass an integer in [-2**63, 2**64)")
    return numpy.uint64(x) if isinstance(x, int) and x >= 2 ** 63 else x


def _wrap(x: Any, dtype: numpy.dtype) -> int | bool:
    """An integer as the ``dtype`` value it casts to (two's complement wrap-around), a bool as itself."""
    return x if isinstance(x, bool) or dtype.kind == "b" else elementwise.wrap_int(int(x), dtype)


def operands(op: str, a: TensorLike, b: TensorLike, shift: bool = False) -> tuple[Tensor, Tensor]:
    """``a`` and ``b`` as tensors of torch's result dtype, which must be bool or integer (integer for a shift), on
    one device with broadcastable shapes. At least one must be a Tensor; the other may be a Python number (an
    integer wraps into the result's dtype, as torch casts it) or an array."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}: needs at least one Tensor, got {type(a).__name__} and {type(b).__name__}")
    like = a if isinstance(a, Tensor) else b
    a, b = (x if isinstance(x, Tensor) else _number(x) if isinstance(x, (*NUMBERS, numpy.number, numpy.bool_))
            else as_tensor(x, like=like) for x in (a, b))
    dtype = elementwise.result_type(a, b)
    if dtype.kind not in ("iu" if shift else "biu") or dtype in WIDE_UNSIGNED or any(
            isinstance(x, Tensor) and x.dtype in WIDE_UNSIGNED for x in (a, b)):
        kinds = "integer (int8 to int64, uint8)" if shift else "bool or integer (int8 to int64, uint8)"
        raise KernelDtypeError(f"{op}: needs {kinds} operands, got {operand_name(a)} and {operand_name(b)} (result "
                               f"dtype {dtype}); convert first, e.g. x.long()")
    a, b = (elementwise.cast(x if isinstance(x, Tensor) else _wrap(x, dtype), dtype, like) for x in (a, b))
    check_devices(op, a, b)
    if a.shape != b.shape:
        elementwise.broadcast_shape(op, a.shape, b.shape)
    return a, b


def operand_name(x: Any) -> str:
    """x's dtype, or its Python type for a non-tensor (for messages)."""
    return str(x.dtype) if isinstance(x, Tensor) else type(x).__name__


def _constant(data: Array, like: Tensor) -> Tensor:
    return Tensor(data, device=like.device)


def logic(op: str, input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002 - torch's name
    """``bitwise_and`` / ``bitwise_or`` / ``bitwise_xor`` (``op``) of two broadcast operands: the broadcast shape,
    torch's result dtype."""
    a, b = operands(op, input, other)
    return _constant(getattr(a.xp, op)(a._data, b._data), a)


def bitwise_not(input: Tensor) -> Tensor:  # noqa: A002
    """``~x``: every bit flipped (``not`` for bool); x's shape and dtype."""
    if not isinstance(input, Tensor) or input.dtype.kind not in "biu" or input.dtype in WIDE_UNSIGNED:
        raise KernelDtypeError(f"bitwise_not (~): needs a bool or integer Tensor, got {operand_name(input)}")
    return _constant(input.xp.invert(input._data), input)


def left_shift(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002
    """``input << other``, wrapping around in the width of the result dtype; 0 where ``other`` is negative or at
    least that width. The broadcast shape, torch's result dtype."""
    a, b = operands("bitwise_left_shift", input, other, shift=True)
    xp, bits, unsigned = a.xp, 8 * a.dtype.itemsize, elementwise.UNSIGNED[a.dtype.itemsize]
    inside = (b._data >= 0) & (b._data < bits)
    shifted = xp.left_shift(a._data.astype(unsigned), xp.where(inside, b._data, 0).astype(unsigned)).astype(a.dtype)
    return _constant(xp.where(inside, shifted, a.dtype.type(0)), a)


def right_shift(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002
    """``input >> other``, arithmetic (the sign bit fills in); a negative ``other`` or one past the width shifts by
    the width: -1 or 0 for signed dtypes, 0 for unsigned. The broadcast shape, torch's result dtype."""
    a, b = operands("bitwise_right_shift", input, other, shift=True)
    xp, bits = a.xp, 8 * a.dtype.itemsize
    inside = (b._data >= 0) & (b._data < bits)
    shifted = xp.right_shift(a._data, xp.where(inside, b._data, a.dtype.type(bits - 1)))  # by bits - 1: all sign bits
    return _constant(shifted if a.dtype.kind == "i" else xp.where(inside, shifted, a.dtype.type(0)), a)
