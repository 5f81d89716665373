"""torch's ``out=`` keyword on the top-level functions: ``torch.add(a, b, out=c)``, ``torch.clamp(d, -5, 5, out=d)``,
``torch.max(x, 1, out=(values, indices))``, ``torch.arange(5, out=t)``.

The result is computed as without ``out``, then written into it, and ``out`` itself is returned. As torch:
- an ``out`` of another shape is resized to the result's (with torch's deprecation warning unless it was empty);
- the result is cast to ``out``'s dtype only within torch's rules (no float into an integer tensor, nothing but a bool
  into a bool one); for a tuple of outputs each dtype must be the result's;
- while grad mode is on, a result that requires grad (or an ``out`` that does) raises: these writes are not
  differentiable;
- ``sum``, ``prod``, ``cumsum``, ``cumprod``, ``mean`` and ``nansum`` compute in ``out``'s dtype (as their ``dtype=``);
  the creation functions (``zeros``, ``arange``, ``randn``, ...) make the result in ``out``'s dtype and device.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy

from .autograd import is_grad_enabled, no_grad
from .storage import check_overlap
from .tensor import Tensor

# The top-level functions torch gives an ``out=`` (those this package has), ...
COMPUTING = frozenset([
    "abs", "absolute", "acos", "acosh", "add", "addbmm", "addcdiv", "addcmul", "addmm", "addmv", "addr", "all", "amax",
    "amin", "angle", "any", "argmax", "argmin", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2",
    "arctanh", "argsort", "asin", "asinh", "atan", "atan2", "atanh", "baddbmm", "bitwise_and", "bitwise_left_shift",
    "bitwise_not", "bitwise_or", "bitwise_right_shift", "bitwise_xor", "bmm", "bucketize", "cat", "ceil", "clamp",
    "clamp_max", "clamp_min", "clip", "column_stack", "concat", "concatenate", "copysign", "cos", "cosh", "cross",
    "cummax", "cummin", "cumprod", "cumsum", "deg2rad", "diag", "diff", "digamma", "div", "divide", "dot", "dstack",
    "eq", "erf", "erfc", "erfinv", "exp", "exp2", "expm1", "fix", "float_power", "floor", "floor_divide", "fmax",
    "fmin", "fmod", "frac", "gather", "gcd", "ge", "greater", "greater_equal", "gt", "heaviside", "histc", "hstack",
    "hypot", "i0", "igamma", "igammac", "index_select", "inner", "inverse", "isin", "isneginf", "isposinf", "kron",
    "kthvalue", "lcm",
    "ldexp", "le", "lerp", "less", "less_equal", "lgamma", "log", "log10", "log1p", "log2", "log_softmax", "logaddexp",
    "logaddexp2", "logcumsumexp", "logical_and", "logical_not", "logical_or", "logical_xor", "logit", "logsumexp", "lt",
    "masked_select", "matmul", "max", "maximum", "mean", "median", "min", "minimum", "mm", "mode", "msort", "mul",
    "multinomial", "multiply", "mv", "nan_to_num", "nanmean", "nanmedian", "nanquantile", "nansum", "ne", "neg",
    "negative", "nextafter", "norm", "not_equal", "outer", "pow", "prod", "quantile", "rad2deg", "reciprocal",
    "remainder", "round", "rsqrt", "searchsorted", "sgn", "sigmoid", "sign", "signbit", "sin", "sinc", "sinh",
    "softmax", "sort", "sqrt", "square", "stack", "std", "sub", "subtract", "sum", "take_along_dim", "tan", "tanh",
    "tensordot", "topk", "tril", "triu", "true_divide", "trunc", "var", "vdot", "vstack", "where", "xlogy",
    "nonzero", "take", "bernoulli",
])
# ... of which these accumulate in out's dtype (as with their ``dtype=``: ``sum(x, 1, out=longs)`` sums longs) ...
ACCUMULATING = frozenset(["sum", "prod", "cumsum", "cumprod", "mean", "nansum"])
# ... and the creation functions, whose result takes ``out``'s dtype and device.
CREATING = frozenset(["zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "eye", "rand", "randn",
                      "randint", "randperm"])
# Writing ``out`` from an input whose memory overlaps it: torch refuses any overlap for these, ...
WHOLE_OVERLAP = frozenset(["cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "column_stack",
                           "cross", "gather", "index_select", "take", "take_along_dim"])
# ... does not look for these (reductions, products, sorting by index: they read what they have written) ...
UNCHECKED = frozenset(["all", "amax", "amin", "any", "argmax", "argmin", "argsort", "bernoulli", "bmm", "bucketize",
                       "cummax",
                       "cummin", "diag", "diff", "dot", "histc", "inner", "inverse", "log_softmax", "logsumexp",
                       "matmul", "max", "mean", "median", "min", "mm", "multinomial", "mv", "nanmean", "nanmedian",
                       "nanquantile", "nansum", "norm", "prod", "quantile", "searchsorted", "softmax", "std", "sum",
                       "tensordot", "tril", "triu", "var", "vdot"])
# ... nor at the factors of these (only at the tensor added) ...
PRODUCTS = frozenset(["addmm", "addbmm", "baddbmm", "addmv"])
# ... and refuses a partial overlap for the rest (its elementwise kernels' check).
# These take an out of the result's dtype only (torch: "Expected out tensor to have dtype long int").
EXACT = frozenset(["argmax", "argmin", "multinomial", "nonzero", "take"])
# These resize an out of another shape without torch's warning.
QUIET_RESIZE = (CREATING - {"arange"}) | {"topk", "kthvalue"}


def _can_cast(src: Any, dst: Any) -> bool:
    """torch's rule for writing a result into ``out``: no float into an integer tensor, only bools into a bool one."""
    rank = {"b": 0, "u": 1, "i": 1, "f": 2}
    return rank[src.kind] <= rank[dst.kind] and (dst.kind != "b" or src.kind == "b")


def _check(name: str, result: Any, out: Any, exact: bool, differentiable: bool = False) -> None:
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if not isinstance(result, Tensor):
        raise TypeError(f"{name}(): this result ({type(result).__name__}) cannot be written into out=")
    if is_grad_enabled() and (result.requires_grad or differentiable or out.requires_grad):
        raise RuntimeError(f"{name}(): autograd cannot follow a write into out=, and an argument here requires grad; "
                           "call it under no_grad() or drop out=")
    if exact and out.dtype != result.dtype:
        raise RuntimeError(f"{name}(): expected out tensor to have dtype {result.dtype}, but got {out.dtype} instead")
    if not _can_cast(result.dtype, out.dtype):
        raise RuntimeError(f"{name}(): a {result.dtype} result does not cast safely into an out of dtype "
                           f"{out.dtype} (as torch); pass an out of dtype {result.dtype}")
    if out.device != result.device:
        raise RuntimeError(f"{name}(): out is on {out.device} but the result is on {result.device}; move one of them")


def _write(name: str, result: Tensor, out: Tensor) -> None:
    if out.shape != result.shape:
        if out.numel() and name not in QUIET_RESIZE:
            warnings.warn(f"out= of shape {list(out.shape)} was resized to the result's shape {list(result.shape)}; "
                          "resizing a non-empty out is deprecated, so pass one of the right shape or an empty one "
                          "(t.resize_(0))", UserWarning, stacklevel=4)
        out.resize_(result.shape)
        out._vbox[1] -= 1  # (torch counts the resize and the write into out as one change of its version)
    with no_grad():
        out.copy_(result)


def write_out(name: str, result: Any, out: Any, differentiable: bool = False) -> Any:
    """``result`` (a tensor, or a tuple of them such as ``max``'s values and indices) written into ``out`` (a tensor,
    or a tuple / list of as many); returns ``out`` (a tuple result: a tuple of the same type holding the outs).
    ``differentiable``: the call had an input requiring grad even if the result (cast to an integer dtype) does not."""
    if not isinstance(result, tuple):
        _check(name, result, out, exact=name in EXACT, differentiable=differentiable)
        _write(name, result, out)
        return out
    if not isinstance(out, (tuple, list)) or len(out) != len(result):
        raise TypeError(f"{name}(): out must be a tuple of {len(result)} tensors, got {type(out).__name__}")
    for r, o in zip(result, out):
        _check(name, r, o, exact=True)
    for r, o in zip(result, out):
        _write(name, r, o)
    return type(result)(*out) if hasattr(result, "_fields") else tuple(out)


def _computing(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def function(*args: Any, out: Any = None, **kwargs: Any) -> Any:
        if out is None:
            return fn(*args, **kwargs)
        if name not in UNCHECKED:
            for o in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(o, Tensor):
                    inputs = [*args[:1], kwargs.get("input")] if name in PRODUCTS else [*args, *kwargs.values()]
                    check_overlap(o._data, inputs, name, name in WHOLE_OVERLAP)
        differentiable = False
        if name in ACCUMULATING and isinstance(out, Tensor) and kwargs.get("dtype") is None:
            kwargs["dtype"] = out.dtype
            differentiable = bool(args) and isinstance(args[0], Tensor) and args[0].requires_grad
        return write_out(name, fn(*args, **kwargs), out, differentiable)
    return function


def _creating(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def function(*args: Any, out: Any = None, **kwargs: Any) -> Any:
        if out is None:
            return fn(*args, **kwargs)
        if not isinstance(out, Tensor):
            raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
        dtype = kwargs.get("dtype")
        if dtype is None:
            kwargs["dtype"] = out.dtype
        elif out.dtype != numpy.dtype(dtype):
            raise RuntimeError(f"{name}(): dtype={numpy.dtype(dtype)} disagrees with the out tensor's "
                               f"{out.dtype}")
        kwargs.setdefault("device", out.device)
        return write_out(name, fn(*args, **kwargs), out)
    return function


def with_out_keyword(namespace: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    """The functions of ``namespace`` that torch gives an ``out=``, each wrapped to take it (see the module doc)."""
    wrapped = {name: _computing(name, namespace[name]) for name in COMPUTING if name in namespace}
    wrapped.update({name: _creating(name, namespace[name]) for name in CREATING if name in namespace})
    return wrapped
