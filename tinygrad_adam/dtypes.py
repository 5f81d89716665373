"""``torch.dtype``: the type every dtype is an instance of. Our dtypes are numpy's (``tinygrad_adam.float32`` is
``numpy.float32``, ``x.dtype`` a ``numpy.dtype``), so ``dtype`` is a class whose ``isinstance`` accepts both:
``isinstance(x.dtype, tinygrad_adam.dtype)`` and ``isinstance(tinygrad_adam.float32, tinygrad_adam.dtype)`` hold,
and it serves as a type hint. torch's dtypes that numpy has no type for (bfloat16, the float8s) are names only
(``UnsupportedDtype``): a program may mention them, compare with them and pass them around, and making a tensor of
one raises."""

from __future__ import annotations

from typing import Any

import numpy


class _DtypeType(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return (isinstance(obj, (numpy.dtype, UnsupportedDtype))
                or (isinstance(obj, type) and issubclass(obj, numpy.generic)))

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("cannot create 'tinygrad_adam.dtype' instances; use tinygrad_adam.float32, ... (numpy's)")


class dtype(metaclass=_DtypeType):  # noqa: N801 - torch's name
    """``torch.dtype``, for ``isinstance`` checks and type hints (see the module's docstring)."""


class UnsupportedDtype:
    """A torch dtype numpy has no type for: ``torch.bfloat16`` in nanoGPT's dtype table or an ``if x.dtype ==
    torch.bfloat16`` (False for every tensor here) work; a tensor or array of it raises NotImplementedError naming
    the fix, because numpy asks for its ``dtype`` to make one and that raises. Pickles by name."""

    is_floating_point, is_complex, is_signed = True, False, True  # (torch's dtype attributes)

    def __init__(self, name: str, itemsize: int) -> None:
        self.name, self.itemsize = name, itemsize

    @property
    def dtype(self) -> Any:
        raise NotImplementedError(f"{self.name} tensors are not supported here (numpy has no {self.name} type); use "
                                  f"float16 or float32 (torch.float16 / torch.float32)")

    def __repr__(self) -> str:
        return f"tinygrad_adam.{self.name}"

    def __reduce__(self) -> str:
        return self.name


bfloat16 = UnsupportedDtype("bfloat16", 2)
float8_e4m3fn = UnsupportedDtype("float8_e4m3fn", 1)
float8_e5m2 = UnsupportedDtype("float8_e5m2", 1)
float8_e4m3fnuz = UnsupportedDtype("float8_e4m3fnuz", 1)
float8_e5m2fnuz = UnsupportedDtype("float8_e5m2fnuz", 1)
UNSUPPORTED = {t.name: t for t in (bfloat16, float8_e4m3fn, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz)}
