"""``torch.autograd.forward_ad``: dual tensors (a primal with a tangent) inside a ``dual_level()``, and
``unpack_dual(y)``, the tangent of y: its Jacobian-vector product with the duals' tangents.

This library has reverse mode only, so the tangent is taken by the double-vjp trick (as ``func.jvp``), when
``unpack_dual`` asks for it: ``make_dual`` records the dual's source (a fresh tensor that requires grad, the only
way into the dual) and its tangent; for a cotangent u of y's shape, the vjp ``J^T u`` is linear in u, so its own
vjp with the tangents, ``d/du (J^T u . t)``, is ``J t``. So y must be reached from the duals by ops with a double
backward (see README). Differences from torch: the dual is a copy of its primal, not a view (an in-place write to
it moves the tangent as torch's, but leaves the primal alone), and it and what is computed from it require grad
(the graph the tangent is read from); ``unpack_dual``'s primal is detached where no primal required grad."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from ..autograd import enable_grad, grad, is_grad_enabled
from ..creation import zeros_like
from ..tensor import Tensor, version_box


class UnpackedDualTensor(NamedTuple):
    """``unpack_dual``'s result: the primal and its tangent (None where there is none)."""

    primal: Tensor
    tangent: Tensor | None


class _Level:
    """The open dual level: each dual's source, tangent and its version when made (``duals`` by the dual's id)."""

    def __init__(self) -> None:
        self.duals: dict[int, tuple[Tensor, Tensor, Tensor, int]] = {}  # id(dual): (dual, source, tangent, version)
        self.real_grad = False  # some primal required grad (unpack_dual's primal then keeps its graph)


_level: list[_Level] = []


def enter_dual_level() -> int:
    """Open the (one) dual level; returns its index, 0. Nested levels raise RuntimeError, as in torch."""
    if _level:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    _level.append(_Level())
    return 0


def exit_dual_level(*, level: int | None = None) -> None:
    """Close the dual level: its duals lose their tangents."""
    if level not in (None, 0) or not _level:
        raise RuntimeError(f"Trying to exit a forward AD level ({level}) that was not the last one entered")
    _level.clear()


@contextmanager
def dual_level() -> Iterator[int]:
    """``with dual_level():`` the scope in which dual tensors have tangents."""
    level = enter_dual_level()
    try:
        yield level
    finally:
        exit_dual_level()


def make_dual(tensor: Tensor, tangent: Tensor, *, level: int | None = None) -> Tensor:
    """A dual tensor: ``tensor``'s values, carrying ``tangent`` (of the same shape) for ``unpack_dual``."""
    if not _level or level not in (None, 0):
        raise RuntimeError("Trying to create a dual Tensor for forward AD but no level exists, make sure to "
                           "enter_dual_level() first (with forward_ad.dual_level():)")
    for name, t in (("primal", tensor), ("tangent", tangent)):
        if not isinstance(t, Tensor):
            raise TypeError(f"make_dual: the {name} must be a Tensor, got {type(t).__name__}")
        if t.dtype.kind != "f":
            raise ValueError(f"Expected {name} to be floating point or complex, but got: {t.dtype}")
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError(f"Trying to set a forward gradient that has a different size than that of the original "
                           f"Tensor, this is not supported. Tensor is of size {list(tensor.shape)} while the given "
                           f"forward gradient is of size {list(tangent.shape)}.")
    state = _level[0]
    if id(tensor) in state.duals and state.duals[id(tensor)][0] is tensor:
        raise RuntimeError("Making a dual Tensor based on a Tensor that already has a forward gradient at the same "
                           "level 0 is not supported.")
    with enable_grad():
        source = tensor.view_as(tensor) if tensor.requires_grad else tensor.detach().requires_grad_()
        dual = source.clone()
    state.real_grad |= tensor.requires_grad
    state.duals[id(dual)] = (dual, source, tangent, version_box(dual)[0])
    return dual


def unpack_dual(tensor: Tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """(primal, tangent) of ``tensor``: the tangent is J t over the open level's duals, None where ``tensor`` does
    not depend on them (or is not floating, or no level is open)."""
    state = _level[0] if _level and level in (None, 0) else None
    if state is None or not state.duals or tensor.dtype.kind != "f" or not tensor.requires_grad:
        return UnpackedDualTensor(tensor, None)
    primal = tensor if state.real_grad else tensor.detach()
    own = state.duals.get(id(tensor))
    if own is not None and own[0] is tensor and version_box(tensor)[0] == own[3]:  # a dual itself, unwritten
        return UnpackedDualTensor(primal, own[2])
    _, sources, tangents, _ = zip(*state.duals.values())
    with enable_grad():
        u = zeros_like(tensor, requires_grad=True)
        vjps = grad(tensor, sources, u, retain_graph=True, create_graph=True, allow_unused=True)
        used = [(v, t) for v, t in zip(vjps, tangents) if v is not None]
        if not used:
            return UnpackedDualTensor(primal, None)
        keep = is_grad_enabled() and (state.real_grad or any(t.requires_grad for _, t in used))
        vs, ts = zip(*used)
        jvp = grad(vs, u, ts, retain_graph=True, create_graph=keep, allow_unused=True)[0]
    return UnpackedDualTensor(primal, zeros_like(tensor) if jvp is None else jvp)


__all__ = ["UnpackedDualTensor", "dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual"]
