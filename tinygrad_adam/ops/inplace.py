"""In-place updates (``x += y``, ``add_``, ``zero_``, ``x[i] = v`` ...) with torch's semantics.

An in-place op runs its out-of-place twin and writes the result into the tensor's own array, so every view of
that array sees it. Then:

- a leaf that requires grad may only be updated under ``no_grad`` (as in torch: ``with no_grad(): w -= lr * g``);
- when a graph is recorded, the tensor becomes the output of that op, whose input is its previous value;
- the tensor's version counter (shared with its views) goes up by one, and ``backward`` raises when an op
  recorded earlier needs an array that has changed since (``tensor.check_versions``): never a wrong gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy

from ..autograd import is_grad_enabled
from ..tensor import Tensor, bump_version, constant, inplace_writes, saves_output


def inplace(a: Tensor, op: str, compute: Callable[[Tensor], Tensor], *operands: Any, twin: bool = False,
            reshape: bool = False) -> Tensor:
    """Write ``compute(a)`` (one out-of-place op of ``a`` and ``operands``, of ``a``'s shape) into ``a``'s array;
    returns ``a``. With ``twin``, ``a``'s node takes the name of that op (``exp`` for ``exp_``, torch's
    ExpBackward0), so a later write into ``a`` raises at backward where that op's gradient reads its output, as in
    torch (``x.exp_(); x += 1`` cannot be differentiated).

    With ``reshape`` (``squeeze_``, ``unsqueeze_``, ``t_``), ``compute`` is a view op: ``a`` takes its shape as a
    view of its own array (no value changes; other views of the array keep their shapes); the version counter still
    moves, as in torch."""
    grad = is_grad_enabled()
    if grad and a.requires_grad and a._backward is None:
        raise RuntimeError(f"{op}: a leaf tensor that requires grad cannot be modified in place while gradients are "
                           f"recorded; do the update inside `with no_grad():`")
    tracked = grad and (a.requires_grad or any(isinstance(x, Tensor) and x.requires_grad for x in operands))
    previous = _previous_value(a) if tracked else a
    stale = previous._vbox if tracked else None  # (taken now: a view of ``previous`` made by ``compute`` gets its own)
    out = compute(previous)
    if reshape:
        a._data = (compute(constant(a._data)) if tracked else out)._data
    else:
        _check_write(a, op, out)
        if isinstance(a._data, numpy.generic):  # a 0-d result numpy handed out as a scalar (immutable, unshared)
            a._data = numpy.array(a._data)
        a._data[...] = out._data
    bump_version(a)
    if out.requires_grad:  # ``a`` is now the op's output; its previous value lives on in ``previous``
        a._parents, a._backward, a.requires_grad = out._parents, out._backward, True
        a._op, a._epoch = out._op if twin or reshape else op, inplace_writes[0]
        if stale is not None:  # its maker's backward reads the array just overwritten: stale
            stale[0] = inplace_writes[0]
    elif tracked:  # overwritten by a constant (fill_, zero_, normal_...): no gradient flows back
        a._parents, a._backward, a.requires_grad = (), None, False
    return a


def _check_write(a: Tensor, op: str, out: Tensor) -> None:
    """``out`` can be written into ``a``: its shape, a dtype that casts, and no view recorded in a graph."""
    if out.shape != a.shape:
        raise RuntimeError(f"{op}: the result has shape {out.shape}, which cannot be written into a tensor of "
                           f"shape {a.shape} in place")
    signed_to_unsigned = out.dtype.kind == "i" and a.dtype.kind == "u"  # allowed in torch (one category)
    if out.dtype != a.dtype and not numpy.can_cast(out.dtype, a.dtype, "same_kind") and not signed_to_unsigned:
        raise RuntimeError(f"{op}: result type {out.dtype} cannot be cast to the tensor's dtype {a.dtype} in place; "
                           f"convert first (e.g. x = x.float())")
    if out.requires_grad and a._base is not None:
        raise RuntimeError(f"{op}: in-place update of a view of another tensor while gradients are recorded is not "
                           f"supported; update the tensor it views, or use an out-of-place op")


def _previous_value(a: Tensor) -> Tensor:
    """A tensor standing for ``a`` before the write: its graph and a copy of its values (the op's backward may read
    them after the write, e.g. ``mul_``'s gradient for the other operand).

    Its version counter is its own (nothing else writes into the copy), except that when the op that made ``a``
    reads its own output in backward (exp, sigmoid, ...), it is marked stale: that array is being overwritten.
    """
    old = Tensor.__new__(Tensor)
    old._data, old._grad, old.requires_grad, old._epoch = a._data.copy(), None, a.requires_grad, a._epoch
    old._parents, old._backward, old._op = a._parents, a._backward, a._op
    if a._backward is not None and saves_output(a._op):
        old._vbox = [0]  # marked stale after the write (see inplace)
    return old
