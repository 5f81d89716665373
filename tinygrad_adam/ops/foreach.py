"""torch's ``torch._foreach_*`` list ops (``_foreach_mul_``, ``_foreach_lerp_``, ``_foreach_div``, ...): the same
op on each tensor of a list, each a loop of the tensor's own op, so the numbers, dtype rules, in-place checks and
autograd are those of the single op. The second operand is a Python number or a 0-d tensor (applied to every
tensor), a list of numbers or a list of tensors (one each, the lengths equal). In-place forms return the list,
out-of-place ones a tuple, as torch; an empty list raises, as torch."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

from ..tensor import Tensor


def _check(self: Sequence[Tensor], name: str) -> list[Tensor]:
    tensors = list(self)
    if not tensors:
        raise RuntimeError(f"{name}: Tensor list must have at least one tensor.")
    return tensors


def _operands(other: Any, n: int) -> list[Any]:
    """The second operand per tensor: a number / 0-d tensor repeated, a list taken as one per tensor."""
    if isinstance(other, (numbers.Number, Tensor)):
        return [other] * n
    others = list(other)
    if len(others) != n:
        raise RuntimeError("Tensor list must have same number of elements as scalar list.")
    return others


def _binary(op: str, in_place: bool) -> Callable[..., Any]:
    """``torch._foreach_<op>`` / ``_foreach_<op>_``: ``t.<op>(other[, alpha=])`` for each tensor ``t``."""
    method = f"{op}_" if in_place else op
    name = f"_foreach_{method}"

    def fn(self: Sequence[Tensor], other: Any, *, alpha: Any = None) -> Any:
        tensors = _check(self, name)
        kwargs = {} if alpha is None else {"alpha": alpha}
        out = [getattr(t, method)(o, **kwargs) for t, o in zip(tensors, _operands(other, len(tensors)))]
        return tensors if in_place else tuple(out)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}: ``t.{method}(other)`` for each tensor of the list."
    return fn


def _lerp(in_place: bool) -> Callable[..., Any]:
    """``torch._foreach_lerp`` / ``_foreach_lerp_``: ``t.lerp(end, weight)``, the weights a number, a 0-d tensor or
    a list."""
    name = "_foreach_lerp_" if in_place else "_foreach_lerp"

    def fn(self: Sequence[Tensor], tensors1: Sequence[Tensor], weight: Any) -> Any:
        tensors = _check(self, name)
        ends = list(tensors1)
        if len(ends) != len(tensors):
            raise RuntimeError(f"Tensor lists must have the same number of tensors, got {len(tensors)} and "
                               f"{len(ends)}")
        weights = _operands(weight, len(tensors))
        out = [(t.lerp_ if in_place else t.lerp)(e, w) for t, e, w in zip(tensors, ends, weights)]
        return tensors if in_place else tuple(out)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}: ``t.lerp{'_' if in_place else ''}(end, weight)`` for each tensor of the list."
    return fn


FOREACH: dict[str, Callable[..., Any]] = {}
for _op in ("add", "sub", "mul", "div"):
    FOREACH[f"_foreach_{_op}"] = _binary(_op, in_place=False)
    FOREACH[f"_foreach_{_op}_"] = _binary(_op, in_place=True)
FOREACH["_foreach_lerp"] = _lerp(in_place=False)
FOREACH["_foreach_lerp_"] = _lerp(in_place=True)
