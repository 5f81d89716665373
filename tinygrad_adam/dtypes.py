"""``torch.dtype``: the type every dtype is an instance of. Our dtypes are numpy's (``tinygrad_adam.float32`` is
``numpy.float32``, ``x.dtype`` a ``numpy.dtype``), so ``dtype`` is a class whose ``isinstance`` accepts both:
``isinstance(x.dtype, tinygrad_adam.dtype)`` and ``isinstance(tinygrad_adam.float32, tinygrad_adam.dtype)`` hold,
and it serves as a type hint."""

from __future__ import annotations

from typing import Any

import numpy


class _DtypeType(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, numpy.dtype) or (isinstance(obj, type) and issubclass(obj, numpy.generic))

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("cannot create 'tinygrad_adam.dtype' instances; use tinygrad_adam.float32, ... (numpy's)")


class dtype(metaclass=_DtypeType):  # noqa: N801 - torch's name
    """``torch.dtype``, for ``isinstance`` checks and type hints (see the module's docstring)."""
