"""torch's deprecated overloads that still run (with a UserWarning): the scalar factors passed positionally before
the tensors, as older code writes them. ``x.add_(-lr, grad)`` is ``x.add_(grad, alpha=-lr)``,
``exp_avg_sq.addcmul_(1 - beta2, grad, grad)`` is ``addcmul_(grad, grad, value=1 - beta2)``,
``dist.addmm_(1, -2, x, y.t())`` is ``addmm_(x, y.t(), beta=1, alpha=-2)`` (and ``addmm(beta, mat1, mat2)``), and
``torch.addmm(beta, input, alpha, mat1, mat2)`` the same with the input second; likewise sub, addcdiv, addmv, addr,
baddbmm and addbmm. Imported by the package before ``methods.attach()``; it wraps those names in ``methods.METHODS``
/ ``FUNCTIONS``.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable
from typing import Any

from .methods import ADD_PRODUCTS, FUNCTIONS, METHODS, _function
from .sparse_grad import SparseGrad
from .tensor import Tensor

# name: (the scalars' keywords in the order the old overload takes them, how many tensors follow them)
LEADING_SCALARS = {"add": (("alpha",), 1), "sub": (("alpha",), 1), "addcmul": (("value",), 2),
                   "addcdiv": (("value",), 2), **{name: (("beta", "alpha"), 2) for name in ("addmm", *ADD_PRODUCTS)}}


def _is_scalar(x: Any) -> bool:
    return isinstance(x, numbers.Number) or (isinstance(x, Tensor) and x.ndim == 0)


def _leading_scalars(name: str, method: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``method`` that also takes the deprecated ``(scalar..., tensor...)`` positional form, warning as torch does."""
    keywords, n_tensors = LEADING_SCALARS[name.removesuffix("_")]

    def op(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        lead = len(args) - n_tensors
        if (0 < lead <= len(keywords) and all(_is_scalar(a) for a in args[:lead])
                and all(isinstance(a, (Tensor, SparseGrad)) for a in args[lead:])):
            warnings.warn(f"This overload of {name} is deprecated: {name}({', '.join(keywords[:lead])}, tensor...); "
                          f"pass {' and '.join(keywords[:lead])} by keyword after the tensors", UserWarning,
                          stacklevel=2)
            return method(self, *args[lead:], **dict(zip(keywords, args[:lead])), **kwargs)
        return method(self, *args, **kwargs)
    op.__name__, op.__doc__ = method.__name__, method.__doc__
    return op


def _input_second(name: str, function: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``torch.<add-product>`` that also takes ``(beta, input, [alpha,] x, y)``; ``(input, beta, x, y)`` raises."""
    def fn(*args: Any, **kwargs: Any) -> Tensor:
        if len(args) <= 3:  # (input, x, y)
            return function(*args, **kwargs)
        if not (_is_scalar(args[0]) and isinstance(args[1], Tensor)):
            raise TypeError(f"{name}: the scalars go first, {name}(beta, input, [alpha,] x, y) (deprecated), or by "
                            f"keyword, {name}(input, x, y, beta=..., alpha=...)")
        return function(args[1], args[0], *args[2:], **kwargs)  # the method's deprecated form, beta first
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = function.__doc__
    return fn


for _name, (_keywords, _) in LEADING_SCALARS.items():
    METHODS[_name] = _leading_scalars(_name, METHODS[_name])
    METHODS[f"{_name}_"] = _leading_scalars(f"{_name}_", METHODS[f"{_name}_"])
    if _name in FUNCTIONS:  # built again over the wrapped method
        FUNCTIONS[_name] = _input_second(_name, _function(_name)) if "beta" in _keywords else _function(_name)
