"""torch's ``torch._foreach_*`` list ops (``_foreach_mul_``, ``_foreach_addcdiv_``, ``_foreach_sqrt``,
``_foreach_norm``, ...), the building blocks of hand-written multi-tensor optimizers: the same op on each tensor of a
list, each a loop of the tensor's own op, so the numbers, dtype rules, in-place checks and autograd are those of the
single op. A second operand is a Python number or a 0-d tensor (applied to every tensor), a list of numbers or a
list of tensors (one each, the lengths equal). In-place forms return the input list itself, others a tuple, as torch;
an empty list raises, as torch. Two of torch's overload rules show in the numbers: add (without alpha), sub, pow,
the clamps, maximum / minimum and lerp read a 0-d tensor without grad as the Number it holds, so a 0-d list element
keeps its dtype; and the in-place ``_foreach_mul_`` by a number rounds it to float16 first for a float16 tensor
(``mul_`` does not)."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy

from ..tensor import Tensor

# the ops of one tensor, each with an in-place twin: ``_foreach_<op>(self)`` / ``_foreach_<op>_(self)``
UNARY = ("abs", "acos", "asin", "atan", "ceil", "cos", "cosh", "erf", "erfc", "exp", "expm1", "floor", "frac",
         "lgamma", "log", "log10", "log1p", "log2", "neg", "reciprocal", "round", "rsqrt", "sigmoid", "sign", "sin",
         "sinh", "sqrt", "tan", "tanh", "trunc")
# ops with one more operand; maximum / minimum by a number are clamp_min / clamp_max (torch.maximum takes tensors)
BINARY = ("add", "sub", "mul", "div", "pow", "clamp_min", "clamp_max", "maximum", "minimum")
BY_NUMBER = {"maximum": "clamp_min", "minimum": "clamp_max"}
# the ops with a 0-d Tensor overload (add's only with alpha, its Number one coming first); the others take a 0-d
# tensor without grad as the Number it holds (a 0-d list element keeps its dtype), as torch's argument parser
TENSOR_OVERLOAD = ("mul", "div")


def _check(self: Sequence[Tensor], name: str) -> list[Tensor]:
    tensors = list(self)
    if not tensors:
        raise RuntimeError(f"{name}: the list of tensors is empty")
    return tensors


def _same_length(name: str, tensors: list[Tensor], *others: Sequence[Any]) -> list[list[Any]]:
    """Each further tensor list as a list, its length that of ``tensors``."""
    out = [list(o) for o in others]
    for o in out:
        if len(o) != len(tensors):
            raise RuntimeError(f"{name}: the tensor lists differ in length ({len(tensors)} vs {len(o)})")
    return out


def _operands(other: Any, n: int) -> list[Any]:
    """The operand per tensor: a number / 0-d tensor repeated, a list taken as one per tensor."""
    if isinstance(other, numbers.Number):
        return [other] * n
    if isinstance(other, Tensor):
        if other.ndim != 0:
            raise RuntimeError(f"the scalar operand must be a 0-d tensor; this one is {other.ndim}-d with "
                               f"{other.numel()} elements")
        return [other] * n
    others = list(other)
    if len(others) != n:
        raise RuntimeError(f"{len(others)} scalars for {n} tensors; give one scalar per tensor")
    return others


def _done(given: Any, tensors: list[Tensor], out: list[Any], in_place: bool) -> Any:
    """An out-of-place form's results as a tuple; an in-place form returns the list (or tuple) it was given, that
    very object, as torch."""
    if not in_place:
        return tuple(out)
    return given if isinstance(given, (list, tuple)) else tensors


def _unary(op: str, in_place: bool) -> Callable[..., Any]:
    """``torch._foreach_<op>`` / ``_foreach_<op>_``: ``t.<op>()`` for each tensor ``t``."""
    method = f"{op}_" if in_place else op
    name = f"_foreach_{method}"

    def fn(self: Sequence[Tensor]) -> Any:
        tensors = _check(self, name)
        return _done(self, tensors, [getattr(t, method)() for t in tensors], in_place)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}: ``t.{method}()`` for each tensor of the list."
    return fn


def _binary(op: str, in_place: bool) -> Callable[..., Any]:
    """``torch._foreach_<op>`` / ``_foreach_<op>_``: ``t.<op>(other[, alpha=])`` for each tensor ``t``; ``pow``
    also takes a number first (``_foreach_pow(2.0, exponents)``)."""
    name = f"_foreach_{op}{'_' if in_place else ''}"

    def method(o: Any) -> str:
        base = BY_NUMBER.get(op, op) if in_place or not isinstance(o, Tensor) else op
        return f"{base}_" if in_place else base

    def fn(self: Any, other: Any, *, alpha: Any = None) -> Any:
        if op == "pow" and not in_place and isinstance(self, numbers.Number):
            exponents = _check(other, name)
            return tuple(self ** e for e in exponents)
        tensors = _check(self, name)
        other = _other(op, name, other, alpha)
        kwargs = {} if alpha is None else {"alpha": alpha}
        operands = _operands(other, len(tensors))
        if op == "mul" and in_place:
            operands = [_as_half(t, o) for t, o in zip(tensors, operands)]
        out = [getattr(t, method(o))(o, **kwargs) for t, o in zip(tensors, operands)]
        return _done(self, tensors, out, in_place)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}: ``t.{op}{'_' if in_place else ''}(other)`` for each tensor of the list."
    return fn


def _other(op: str, name: str, other: Any, alpha: Any) -> Any:
    """The shared operand as torch's overload resolution reads it: ``alpha`` only where another tensor list (add,
    sub) or a 0-d tensor (add) is given; a 0-d tensor without grad is a Number except for mul / div (and add with
    alpha); one with grad raises where no Tensor overload takes it."""
    if not isinstance(other, (Tensor, numbers.Number)):
        other = list(other)
    tensor_list = isinstance(other, list) and any(isinstance(o, Tensor) for o in other)
    takes_alpha = (op in ("add", "sub") and tensor_list) or (op == "add" and isinstance(other, Tensor))
    if alpha is not None and not takes_alpha:
        raise TypeError(f"{name}() received an invalid combination of arguments - got an alpha with a "
                        f"{type(other).__name__} operand")
    if not isinstance(other, Tensor) or op in TENSOR_OVERLOAD or (op == "add" and alpha is not None):
        return other
    if other.ndim != 0:
        return other  # (raises in _operands, as torch)
    if other.requires_grad:
        if op == "add":
            return other
        raise TypeError(f"{name}() received an invalid combination of arguments - got (list, Tensor) with a "
                        "tensor that requires grad, expected a Number")
    return other.item()


def _as_half(t: Tensor, o: Any) -> Any:
    """torch's in-place ``_foreach_mul_`` by a number (or a list of them) rounds the number to a float16 tensor's
    dtype first (its out-of-place form and ``mul_`` do not): 1e5 becomes inf, 0.9999 becomes 1."""
    if isinstance(o, Tensor) or not isinstance(o, numbers.Real) or t.dtype != numpy.float16:
        return o
    with numpy.errstate(over="ignore"):
        return float(numpy.float16(o))


def _pointwise(op: str, in_place: bool) -> Callable[..., Any]:
    """``torch._foreach_addcmul`` / ``addcdiv`` (and their in-place forms): ``t.<op>(t1, t2, value=s)``, the values a
    number, a list of numbers or a 1-D tensor of them."""
    method = f"{op}_" if in_place else op
    name = f"_foreach_{method}"

    def fn(self: Sequence[Tensor], tensor1: Sequence[Tensor], tensor2: Sequence[Tensor], scalars: Any = 1, *,
           value: Any = None) -> Any:
        tensors = _check(self, name)
        first, second = _same_length(name, tensors, tensor1, tensor2)
        if value is not None:
            scalars = value
        if isinstance(scalars, Tensor):
            if scalars.ndim != 1 or scalars.numel() != len(tensors):
                raise RuntimeError(f"{len(tensors)} tensors need {len(tensors)} scalars, but "
                                   f"{scalars.numel()} were given")
            scalars = scalars.tolist()
        values = _operands(scalars, len(tensors))
        out = [getattr(t, method)(a, b, value=v) for t, a, b, v in zip(tensors, first, second, values)]
        return _done(self, tensors, out, in_place)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}: ``t.{method}(tensor1, tensor2, value=s)`` for each tensor of the list."
    return fn


def _lerp(in_place: bool) -> Callable[..., Any]:
    """``torch._foreach_lerp`` / ``_foreach_lerp_``: ``t.lerp(end, weight)``, the weights a number, a 0-d tensor or
    a list."""
    name = "_foreach_lerp_" if in_place else "_foreach_lerp"

    def fn(self: Sequence[Tensor], tensors1: Sequence[Tensor], weight: Any) -> Any:
        tensors = _check(self, name)
        (ends,) = _same_length(name, tensors, tensors1)
        if isinstance(weight, Tensor):  # no Tensor overload: torch reads a 0-d one without grad as its Number
            if weight.ndim != 0 or weight.requires_grad:
                raise TypeError(f"{name}() received an invalid combination of arguments - got (list, list, Tensor), "
                                "expected a Number, a list of Numbers or a list of Tensors as the weight")
            weight = weight.item()
        weights = _operands(weight, len(tensors))
        out = [(t.lerp_ if in_place else t.lerp)(e, w) for t, e, w in zip(tensors, ends, weights)]
        return _done(self, tensors, out, in_place)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}: ``t.lerp{'_' if in_place else ''}(end, weight)`` for each tensor of the list."
    return fn


def _foreach_zero_(self: Sequence[Tensor]) -> Sequence[Tensor]:
    """torch._foreach_zero_: ``t.zero_()`` for each tensor of the list."""
    tensors = _check(self, "_foreach_zero_")
    for t in tensors:
        t.zero_()
    return _done(self, tensors, [], True)


def _foreach_copy_(self: Sequence[Tensor], src: Sequence[Tensor], non_blocking: bool = False) -> Sequence[Tensor]:
    """torch._foreach_copy_: ``t.copy_(s)`` for each pair (``non_blocking`` has nothing to wait for here)."""
    tensors = _check(self, "_foreach_copy_")
    (sources,) = _same_length("_foreach_copy_", tensors, src)
    for t, s in zip(tensors, sources):
        t.copy_(s)
    return _done(self, tensors, [], True)


def _foreach_clone(self: Sequence[Tensor], *, memory_format: Any = None) -> tuple[Tensor, ...]:
    """torch._foreach_clone: a copy of each tensor."""
    return tuple(t.clone() for t in _check(self, "_foreach_clone"))


def _foreach_mm(self: Sequence[Tensor], mat2: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """torch._foreach_mm: ``a.mm(b)`` for each pair of matrices, (n, k) @ (k, m) -> (n, m)."""
    tensors = _check(self, "_foreach_mm")
    (others,) = _same_length("_foreach_mm", tensors, mat2)
    return tuple(a.mm(b) for a, b in zip(tensors, others))


def _foreach_max(self: Sequence[Tensor]) -> tuple[Tensor, ...]:
    """torch._foreach_max: the largest element of each tensor, 0-d (nan where a tensor has one; an empty one
    raises)."""
    return tuple(t.max() for t in _check(self, "_foreach_max"))


def _foreach_norm(self: Sequence[Tensor], ord: float = 2, dtype: Any = None) -> tuple[Tensor, ...]:  # noqa: A002
    """torch._foreach_norm: ``linalg.vector_norm(t, ord, dtype=dtype)`` of each tensor, 0-d."""
    from .. import linalg  # the norm family sits over ops; imported at the call as methods.py's torch.func names

    return tuple(linalg.vector_norm(t, ord, dtype=dtype) for t in _check(self, "_foreach_norm"))


def _foreach_powsum(self: Sequence[Tensor], ord: float = 2, dtype: Any = None) -> tuple[Tensor, ...]:  # noqa: A002
    """torch._foreach_powsum: sum |t|^ord of each tensor (cast to ``dtype`` first), 0-d; ``ord`` 0 counts every
    element, as |x|^0 = 1. float16 computes in float32 and rounds once (as torch: the powers of [1, 0, 3, 2] to 0.5
    sum to 4.14453 there, where float16 terms tie at 4.146484375 and round to 4.14844). An integer / bool tensor
    without a floating ``dtype`` sums in int64, for which torch has no kernel: it raises, except for an empty tensor
    (an int64 zero, as torch)."""
    tensors = _check(self, "_foreach_powsum")
    targets = [numpy.dtype(dtype) if dtype is not None else t.dtype if t.is_floating_point() else
               numpy.dtype(numpy.int64) for t in tensors]
    for t, target in zip(tensors, targets):
        if target.kind != "f" and t.numel():
            raise NotImplementedError(f"_foreach_powsum: there is no {target} kernel (as in torch); pass a floating "
                                      f"dtype= or convert the tensors with .float()")
    def powsum(t: Tensor, target: Any) -> Tensor:
        wide = numpy.dtype(numpy.float32) if target == numpy.float16 else target
        return t.to(target).to(wide).abs().pow(ord).sum().to(target)
    return tuple(powsum(t, target) if target.kind == "f" else t.new_zeros((), dtype=target)
                 for t, target in zip(tensors, targets))


FOREACH: dict[str, Callable[..., Any]] = {}
for _in_place in (False, True):
    _suffix = "_" if _in_place else ""
    for _op in UNARY:
        FOREACH[f"_foreach_{_op}{_suffix}"] = _unary(_op, _in_place)
    for _op in BINARY:
        FOREACH[f"_foreach_{_op}{_suffix}"] = _binary(_op, _in_place)
    for _op in ("addcmul", "addcdiv"):
        FOREACH[f"_foreach_{_op}{_suffix}"] = _pointwise(_op, _in_place)
    FOREACH[f"_foreach_lerp{_suffix}"] = _lerp(_in_place)
for _fn in (_foreach_zero_, _foreach_copy_, _foreach_clone, _foreach_mm, _foreach_max, _foreach_norm,
            _foreach_powsum):
    FOREACH[_fn.__name__] = _fn
