"""In-place updates (``x += y``, ``add_``, ``zero_``, ``x[i] = v`` ...) with torch's semantics.

An in-place op runs its out-of-place twin and writes the result into the tensor's own array, so every view of
that array sees it. Then:

- a leaf that requires grad may only be updated under ``no_grad`` (as in torch: ``with no_grad(): w -= lr * g``);
- when a graph is recorded, the tensor becomes the output of that op, whose input is its previous value; when
  it is a view, the tensor it views (following views to the one owning the memory) becomes, as in torch, a copy of
  its previous value with the view's new values scattered in, so ``x = x.clone(); x[:, 0] += 1`` differentiates;
- the tensor's version counter (shared with its views) goes up by one, and ``backward`` raises when an op
  recorded earlier needs an array that has changed since (``tensor.check_versions``): never a wrong gradient.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy

from .. import backend
from ..autograd import is_grad_enabled, no_grad
from ..backend import data_ptr
from ..layouts import element_strides
from ..storage import _inside, _positions, _span, check_overlap, offset_of
from ..tensor import (
    Tensor,
    bump_version,
    constant,
    expanded,
    inplace_writes,
    reads_input,
    record,
    repeats,
    saves_output,
    storage_root,
)
from . import index, movement


def inplace(a: Tensor, op: str, compute: Callable[[Tensor], Tensor], *operands: Any, twin: bool = False,
            reshape: bool = False) -> Tensor:
    """Write ``compute(a)`` (one out-of-place op of ``a`` and ``operands``, of ``a``'s shape) into ``a``'s array;
    returns ``a``. With ``twin``, ``a``'s node takes the name of that op (``exp`` for ``exp_``, torch's
    ExpBackward0), so a later write into ``a`` raises at backward where that op's gradient reads its output, as in
    torch (``x.exp_(); x += 1`` cannot be differentiated).

    With ``reshape`` (``squeeze_``, ``unsqueeze_``, ``t_``), ``compute`` is a view op: ``a`` takes its shape as a
    view of its own array (no value changes; other views of the array keep their shapes); the version counter still
    moves, as in torch."""
    aliased = not reshape and _check_operands(a, op, operands)
    grad = is_grad_enabled()
    if grad:
        _refuse_function_view(a, op)
    if grad and a.requires_grad and a._backward is None:
        raise RuntimeError(f"{op}: a leaf tensor that requires grad cannot be modified in place while gradients are "
                           f"recorded; do the update inside `with no_grad():`")
    tracked = grad and (a.requires_grad or any(isinstance(x, Tensor) and x.requires_grad for x in operands))
    root = storage_root(a) if tracked and a._base is not None and not reshape else None  # a view of a tensor in a graph
    if root is not None and not _inside(a._data, root._data):  # its owner's array was replaced (``.data = t``):
        root = None  # a's own memory only, as torch's writes a's storage alone
    if root is not None and aliased:  # (fill_ ... into an expand of a tensor in a graph): as torch, the values are
        _refuse_leaf_view(root, op)  # written, and a backward through the write raises
        with no_grad():
            inplace(a, op, compute, *operands)
        prior = _snapshot(root)
        _become(root, _unregenerable(root, prior, f"backward through {op} into a view whose places share memory (an "
                                     f"expand): its gradient has a single memory location for several places; "
                                     f"clone() the view before writing it"), "stale_view", prior)
        return a
    if root is not None:  # a's values are read from (and written back into) a copy of the tensor it views
        places, old = _writable(a, root, op), _previous_value(root)
        stale = old._vbox  # (taken now: views of ``old`` made below get a version counter of their own)
        previous = index.take(old, constant(places))
        _reroute_copies(operands, root, old)
    else:
        previous = _previous_value(a) if tracked else a
        stale = previous._vbox if tracked else None  # (taken now: a view of it made by ``compute`` gets its own)
        if tracked:
            _reroute_copies(operands, a, previous)
    out = compute(previous)
    if reshape:
        a._data = (compute(constant(a._data)) if tracked else out)._data
    else:
        _check_write(a, op, out)
        if root is not None:
            new = movement.reshape(index.index_put(movement.reshape(old, (-1,)), constant(places.reshape(-1)),
                                                   movement.reshape(out, (-1,))), root.shape)
            root._data[...] = new._data  # (a's elements among them)
        else:
            if isinstance(a._data, numpy.generic):  # a 0-d result numpy handed out as a scalar (immutable, unshared)
                a._data = numpy.array(a._data)
            dst = _writable_array(a)
            if dst.size == 0:  # nothing to write (an empty expand's array is numpy's read-only broadcast)
                pass
            elif aliased:  # (an expand written by fill_, masked_fill_, ...)
                _write_aliased(dst, out._data)
            elif isinstance(out._data, numpy.generic):  # (numpy will not wrap a wider int scalar into the
                dst[...] = numpy.asarray(out._data)  # array, an int8 given int16 191; from an array it does)
            else:
                dst[...] = out._data
    bump_version(a)
    if root is not None and new.requires_grad:  # the viewed tensor is now its old value with a's new one inside
        _become(root, new, op, old)
        _hand_hooks(root, old)
        _retake_views(a._base, root)
    if stale is not None:  # its maker's backward reads the array just overwritten (by a constant too: zero_,
        stale[0] = inplace_writes[0]  # fill_): stale
    if out.requires_grad:  # ``a`` is now the op's output; its previous value lives on in ``previous``
        unread = not reshape and _unloop(out, a, previous)
        if root is None and not reshape and previous.requires_grad and all(p is not previous for p in out._parents):
            out = _keep_edge(out, previous)  # (``x.copy_(z)``: x's old value gets a zero gradient, as torch's)
        # (after a reshape, ops recorded before read a's old shape: no prior, so backward through them raises)
        _become(a, out, out._op if twin or reshape else op,
                None if reshape else previous if root is None else _snapshot(a))
        if root is None and not reshape:
            _hand_hooks(a, previous)
        if unread:  # (the clock moves past a's epoch, so backward checks a's node: see ``_unloop``)
            inplace_writes[0] += 1
    elif root is not None and new.requires_grad:  # a view overwritten by a constant: still a view of its base's
        _become(a, view_of(root, places), "view_of", _snapshot(a))  # graph (zero gradient), as torch's
    elif tracked and root is None and a.requires_grad:  # overwritten by a constant (fill_, zero_...): as torch's
        _become(a, _zero_derivative(previous, out), "_zero_derivative", previous)  # FillBackward, a zero gradient
        _hand_hooks(a, previous)
    elif tracked:  # a stale view of a constant: a constant
        if a.requires_grad:
            _set_prior(a, _snapshot(a))
            a._epoch = inplace_writes[0]
        a._parents, a._backward, a.requires_grad = (), None, False
    return a


PRIORS = 1024  # (a decoder's running sum written at each of its steps: torch keeps every graph; 8 was too few)


def _refuse_function_view(a: Tensor, op: str) -> None:
    """torch's refusal of an in-place write into a custom Function's output that is a view of its input (or into a
    view of such an output): the write would reach the input around the Function's backward."""
    t: Tensor | None = a
    while t is not None:
        name = t.__dict__.get("_made_by_function")
        if name is not None:
            raise RuntimeError(f"{op}: output of {name} is a view of its input and is being modified in place; the "
                               f"gradient would bypass {name}.backward. Return a clone from forward (or clone the "
                               f"output before writing it)")
        t = t._base


def _become(t: Tensor, out: Tensor, op: str, prior: Tensor | None) -> None:
    """``t`` takes ``out``'s place in the graph, as the output of ``op`` recorded at the latest write; ``prior``
    stands for its graph before (the input of the ops recorded earlier: ``tensor.reroute_stale_parents``)."""
    _set_prior(t, prior)
    if out._op != op and out._op:  # named after ``op`` (as torch's CopySlices), differentiated as out's op (its
        out._backward.formula = out._op  # backward's): see higher_order
    t._parents, t._backward, t.requires_grad, t._op, t._epoch = out._parents, out._backward, True, op, inplace_writes[0]


def _hand_hooks(t: Tensor, prior: Tensor) -> None:
    """The gradient hooks registered on ``t`` before an in-place write stay with its value before the write
    (``prior``), as torch's stay on the old grad_fn: they see the gradient with respect to the old value."""
    if t._hooks:
        prior._hooks, t._hooks = t._hooks, ()


def _unloop(out: Tensor, a: Tensor, previous: Tensor) -> bool:
    """``a.add_(a)``: ``a`` is an operand of the op it is about to become, so ``out`` would be its own input (a loop,
    whose backward dropped the operand's gradient: half of ``x += x``'s, none of ``x.copy_(x)``'s). The operand is
    ``a`` before the write, ``previous``, as torch's edge points at a's old grad_fn; where the op's backward reads
    its values (``x.mul_(x)``), they are gone, so that input is marked as written (backward raises, as torch's).
    Returns whether it was."""
    box = a._vbox
    if not any(p is a or (box is not None and p._vbox is box) for p in out._parents):
        return False
    parents, unread = list(out._parents), False
    for i, p in enumerate(parents):
        if p is a or (box is not None and p._vbox is box):  # a, or an alias: a view of it, its detach()
            if reads_input(out, i):
                parents[i] = _snapshot(previous if p is a else p)
                parents[i]._vbox, unread = [math.inf, 1], True  # (written after any node: check_versions raises)
            elif p is a:
                parents[i] = previous
    out._parents = tuple(parents)
    return unread


def _set_prior(t: Tensor, prior: Tensor | None) -> None:
    """``t._prior = prior``, the chain of earlier graphs cut after PRIORS of them (a long-lived tensor written in
    place at every step would otherwise keep every step's graph; a node recorded before more graph changes of its
    input than that raises at backward)."""
    t._prior = prior
    for _ in range(PRIORS):
        if prior is None:
            break
        prior, last = prior._prior, prior
    else:
        last._prior = None


def _snapshot(t: Tensor) -> Tensor:
    """A tensor standing for ``t``'s graph as it is now (its array shared: the ops rerouted to it read no values)."""
    old = Tensor.__new__(Tensor)
    old._data, old._grad, old.requires_grad, old._epoch = t._data, None, t.requires_grad, t._epoch
    old._parents, old._backward, old._op, old._prior = t._parents, t._backward, t._op, t._prior
    old._vbox = t._vbox  # (so a backward reading t's output still raises after a write, as before)
    return old


def refresh_view(view: Tensor) -> None:
    """A view whose memory was written in place (through another view, or its base) after its graph was set, read
    again from the tensor owning that memory before an op uses it, as torch regenerates a view's grad_fn from its
    base: its gradient then goes through the write; a constant when that owner has no graph. The graph it had stays
    its ``_prior`` (the input of the ops recorded with it before)."""
    root = storage_root(view)
    if root is view:
        return
    if not root.requires_grad:  # its memory's owner is a constant: so is the view (its old graph is its prior)
        if view.requires_grad:
            _set_prior(view, _snapshot(view))
            view._parents, view._backward, view.requires_grad, view._op = (), None, False, ""
        view._epoch = inplace_writes[0]
        return
    prior = _snapshot(view)
    if view.dtype != root.dtype or (view._data.size and not _inside(view._data, root._data)):  # (.data = t, a
        _become(view, _unregenerable(view, prior), "stale_view", prior)  # view of another dtype)
        return
    places = _places(view, root)
    if places.size and int(places.min()) < 0:
        _become(view, _unregenerable(view, prior), "stale_view", prior)
    else:
        _become(view, view_of(root, places), "view_of", prior)


def _zero_derivative(previous: Tensor, out: Tensor) -> Tensor:
    """``out`` (a constant written over ``previous``) recorded as depending on ``previous`` with a zero gradient (the
    op higher_order.depends records, whose derivative it knows)."""
    shape, xp = previous.shape, previous.xp
    data = out._data if out._data.dtype == previous.dtype else out._data.astype(previous.dtype)  # (x.gt_(y): bool)
    return record("_zero_derivative", data, (previous,), lambda g: (xp.zeros(shape, g.dtype),))


def _keep_edge(out: Tensor, previous: Tensor) -> Tensor:
    """``out`` (a value written over ``previous`` that does not depend on it, as ``copy_``'s) recorded as also
    depending on ``previous`` with a zero gradient, as torch's CopyBackwards: the graph before the write still gets
    its (zero) gradient, so a leaf there gets a zero ``.grad``, not None."""
    shape, xp = previous.shape, previous.xp
    return record("copy_", out._data, (out, previous), lambda g: (g, xp.zeros(shape, g.dtype)))


def view_of(root: Tensor, places: Any) -> Tensor:
    """A copy of ``root``'s elements at ``places`` (flat row-major indices, as ``_places``), recorded so that its
    backward reads no values (torch's AsStridedBackward of a regenerated view)."""
    flat, shape, xp = places.reshape(-1), root.shape, root.xp
    unique = xp.unique(flat).size == flat.size

    def backward(g: Any) -> tuple[Any]:
        full = xp.zeros(math.prod(shape), dtype=g.dtype)
        if unique:
            full[flat] = g.reshape(-1)
        else:
            numpy.add.at(full, flat, g.reshape(-1)) if xp is numpy else full.scatter_add(flat, g.reshape(-1))
        return (full.reshape(shape),)
    return record("view_of", xp.ascontiguousarray(root._data).reshape(-1)[flat].reshape(places.shape), (root,),
                  backward)


def _unregenerable(view: Tensor, prior: Tensor, why: str = "backward through a view whose memory was modified by "
                   "an in-place operation after it was made, and which cannot be regenerated from the tensor owning "
                   "that memory; clone it first") -> Tensor:
    """A node standing for a view that cannot be read again from its memory's owner: backward through it raises
    ``why`` (never the stale graph's gradient)."""
    def backward(g: Any) -> tuple[Any]:
        raise RuntimeError(why)
    prior.requires_grad = True  # (its backward raises, whatever graph it had)
    return record("stale_view", view._data.copy(), (prior,), backward)


def _reroute_copies(operands: tuple[Any, ...], a: Tensor, previous: Tensor, visits: int = 16) -> None:
    """Copies indexed out of ``a``'s present value (advanced indexing: ``a[idx] += v`` stores back such a copy,
    updated in place) among the last ``visits`` nodes behind ``operands`` take ``previous``, a's value before the
    write, as their input: their backward reads only a's shape, so the write need not make them stale (torch lets
    them pass). Other nodes that read ``a`` still raise at backward."""
    todo = [x for x in operands if isinstance(x, Tensor) and x.requires_grad]
    seen: set[int] = set()
    while todo and len(seen) < visits:
        node = todo.pop()
        if id(node) in seen or node is a:
            continue
        seen.add(id(node))
        if node._op == "getitem" and node._base is None and len(node._parents) == 1 and node._parents[0] is a and (
                a._vbox is None or a._vbox[0] <= node._epoch):  # (copied from a's present value: not stale)
            node._parents = (previous,)
        else:
            todo.extend(node._parents)


def _retake_views(view: Tensor, root: Tensor) -> None:
    """The views from ``view`` up to ``root`` (which has just been rewritten), read again from ``root`` so their
    gradients reach its new graph (torch regenerates them too); other views of ``root`` keep their graphs, so a
    backward through them raises."""
    while view is not root:
        places = _places(view, root) if view.dtype == root.dtype else None
        if places is not None and (not places.size or int(places.min()) >= 0):
            _become(view, view_of(root, places), "view_of", _snapshot(view))
        view = view._base


def _places(a: Tensor, root: Tensor) -> Any:
    """Where each element of the view ``a`` sits in ``root``, the tensor owning its memory (of the same dtype):
    indices into ``root`` taken flat in row-major order, an int64 array of ``a``'s shape (-1 for memory between
    ``root``'s elements)."""
    xp = a.xp
    mine = _positions(xp, a.shape, element_strides(a), offset_of(a))  # places in the storage
    if root._data.flags.c_contiguous:  # (the storage is root's elements in row-major order)
        return mine
    owner = xp.full(_span(root._data)[1] // root.dtype.itemsize, -1, dtype=numpy.int64)  # storage place -> index
    owner[_positions(xp, root.shape, element_strides(root), offset_of(root))] = xp.arange(root._data.size).reshape(
        root.shape)
    return owner[mine]


def _writable(a: Tensor, root: Tensor, op: str) -> Any:
    """``_places(a, root)`` for a view ``a`` that may be written in place while a graph is recorded. As torch, a
    view of a leaf that requires grad may not, nor one whose elements share memory (an ``expand``)."""
    _refuse_leaf_view(root, op)
    if a.dtype != root.dtype:
        raise NotImplementedError(f"{op}: in-place update of a {a.dtype} view of a {root.dtype} tensor while "
                                  f"gradients are recorded; update a converted copy (x.to(dtype)) instead")
    places = _places(a, root)
    if a.xp.unique(places).size != places.size:
        raise RuntimeError(f"{op}: several elements of the tensor written in place (shape {a.shape}) share "
                           f"overlapping memory (as after expand()); clone it first")
    if places.size and int(places.min()) < 0:  # (an as_strided view reaching between the elements of its base)
        raise NotImplementedError(f"{op}: in-place update, while gradients are recorded, of a view reaching memory "
                                  f"outside the elements of the tensor it views; clone that tensor first")
    return places


def _refuse_leaf_view(root: Tensor, op: str) -> None:
    """As torch, no in-place write into a view of ``root`` while a graph is recorded where it is a leaf that requires
    grad."""
    if root.requires_grad and root._backward is None:
        raise RuntimeError(f"{op}: a view of a leaf tensor that requires grad cannot be modified in place while "
                           f"gradients are recorded; do the update inside `with no_grad():`, or on a clone")


def _check_write(a: Tensor, op: str, out: Tensor) -> None:
    """``out`` can be written into ``a``: its shape and a dtype that casts."""
    if out.shape != a.shape:
        raise RuntimeError(f"{op}: the result has shape {out.shape}, which cannot be written into a tensor of "
                           f"shape {a.shape} in place")
    signed_to_unsigned = out.dtype.kind == "i" and a.dtype.kind == "u"  # allowed in torch (one category)
    if out.dtype != a.dtype and not numpy.can_cast(out.dtype, a.dtype, "same_kind") and not signed_to_unsigned:
        raise RuntimeError(f"{op}: result type {out.dtype} cannot be cast to the tensor's dtype {a.dtype} in place; "
                           f"convert first (e.g. x = x.float())")


def _previous_value(a: Tensor) -> Tensor:
    """A tensor standing for ``a`` before the write: its graph and a copy of its values (the op's backward may read
    them after the write, e.g. ``mul_``'s gradient for the other operand).

    Its version counter is its own (nothing else writes into the copy), except that when the op that made ``a``
    reads its own output in backward (exp, sigmoid, ...), it is marked stale: that array is being overwritten.
    """
    old = Tensor.__new__(Tensor)
    old._data, old._grad, old.requires_grad, old._epoch = a._data.copy(), None, a.requires_grad, a._epoch
    old._parents, old._backward, old._op, old._prior = a._parents, a._backward, a._op, a._prior
    if a._backward is not None and saves_output(a):
        old._vbox = [0, 0]  # marked stale after the write (see inplace)
    return old


def stores_itself(a: Tensor, key: Any, value: Any) -> bool:
    """Whether ``a[key] = value`` would write ``value`` onto its own memory: ``value`` is the view ``a[key]``, as
    when Python's ``a[key] += v`` stores back the view it has just updated in place. Nothing is left to do then
    (recording it would make ``value`` an input of ``a``, so the next write into ``a`` would mark it stale)."""
    if not isinstance(value, Tensor) or value._base is None or storage_root(value) is not storage_root(a):
        return False
    target = movement.getitem(constant(a._data), key)
    return target._base is not None and target.shape == value.shape and \
        target._data.strides == value._data.strides and data_ptr(target._data) == data_ptr(value._data)


# torch's kernels that refuse any overlap between the tensor they write and an operand (``at::assert_no_overlap``),
# and the in-place ops that read a 0-d tensor operand as its number or do not look (``masked_scatter_``, the
# products); the other in-place ops refuse a partial overlap, as torch's elementwise kernels do (TensorIterator's)
WHOLE_OVERLAP = frozenset({"index_add_", "index_copy_", "index_reduce_", "scatter_", "scatter_add_",
                           "scatter_reduce_", "index_put_", "put_"})
UNCHECKED = frozenset({"__setitem__", "masked_fill_", "fill_", "index_fill_", "fill_diagonal_", "masked_scatter_",
                       "addmm_", "addbmm_", "baddbmm_", "addmv_"})


# the ops torch lets write into a tensor whose places share elements (an ``expand``): each writes one number at the
# places it picks, so every alias of a written element gets that number (with ``accumulate``, index_put_ refuses);
# conj_physical_ of a real tensor changes no element
ALIASED_WRITES = frozenset({"fill_", "zero_", "masked_fill_", "index_fill_", "index_put_", "tril_", "triu_",
                            "fill_diagonal_", "__setitem__", "conj_physical_"})


def refuse_repeats(a: Tensor, op: str) -> None:
    """Raise where ``a`` holds an element at several places (an ``expand``), which ``op`` may not write."""
    if repeats(a._data):
        raise RuntimeError(f"{op}: several places of the tensor written in place share overlapping memory (an "
                           f"expand, or a view of one), so they cannot take different values; clone() it first")


def _check_operands(a: Tensor, op: str, operands: tuple[Any, ...]) -> bool:
    """``a`` is about to be written in place from ``operands``: torch's memory checks (see ``check_overlap``), and
    no element of ``a`` shared by several of its places (an ``expand``) unless ``op`` is one torch lets write
    there; returns whether it is such a write (see ``_write_aliased``)."""
    data = a._data
    aliased = repeats(data)
    if aliased and (op not in ALIASED_WRITES or (op == "index_put_" and len(operands) > 2 and bool(operands[2]))):
        refuse_repeats(a, op)
    if op in UNCHECKED or isinstance(data, numpy.generic):
        return aliased
    for x in operands:  # (two arrays that each own their memory cannot overlap: the usual case, decided here)
        if isinstance(x, (list, tuple)) or (isinstance(x, Tensor) and (
                x._data is data or x._data.base is not None or data.base is not None)):
            check_overlap(data, x, op, op in WHOLE_OVERLAP)
    return aliased


def _writable_array(a: Tensor) -> Any:
    """``a``'s array, or where it is read-only only because it is, or views, an expand, a writable array on the same
    memory with the same strides: numpy marks broadcasts (and strided views of them) read-only, which keeps writes
    that bypass these checks (an optimizer step, an init) out of repeated elements, as torch refuses them; the writes
    torch allows there were let through by _check_operands."""
    data = a._data
    if not isinstance(data, numpy.ndarray) or data.flags.writeable or not expanded(a):
        return data
    owner = data
    while not owner.flags.owndata:  # up to the array owning the memory (past as_strided's DummyArray)
        base = owner.base if isinstance(owner.base, numpy.ndarray) else getattr(owner.base, "base", None)
        if not isinstance(base, numpy.ndarray):
            break
        owner = base
    if not owner.flags.writeable:  # (memory that is read-only in itself: numpy's error at the write)
        return data
    return numpy.ndarray(data.shape, data.dtype, buffer=owner, offset=data_ptr(data) - data_ptr(owner),
                         strides=data.strides)


def _write_aliased(dst: Any, out: Any) -> None:
    """Write ``out`` into ``dst``, whose places share elements, at the places where it changed ``dst``'s bits: the
    places the op wrote (each with its one number, so no alias gets another value written after it)."""
    xp, out = backend.get_array_module(dst), out.astype(dst.dtype, copy=False)
    width = dst.dtype.itemsize
    old, new = (xp.ascontiguousarray(x).view(numpy.uint8).reshape(x.shape + (width,)) for x in (dst, out))
    changed = (old != new).any(axis=-1)
    dst[changed] = out[changed]


def check_setitem_overlap(a: Tensor, key: Any, value: Any) -> None:
    """``a[key] = value`` where ``a[key]`` is a view: torch copies ``value`` into it, refusing a partial overlap."""
    if not isinstance(value, Tensor) or type(value._data) is not type(a._data) or not a._data.size or \
            not value._data.size or isinstance(a._data, numpy.generic):  # (a numpy scalar owns its memory)
        return
    if not backend.may_share_memory(a._data, value._data):  # apart in memory (the usual case): no view of a to take
        return
    # (as torch: True adds a dim, False selects nothing, a 0-d integer tensor is an integer)
    parts = tuple(None if k is True else int(k.item()) if isinstance(k, Tensor) and k.ndim == 0 and
                  k.dtype.kind in "iu" else k for k in (key if isinstance(key, tuple) else (key,)))
    if any(k is False for k in parts):
        return
    if not all(_basic(k) for k in parts):  # torch takes the view of the key's basic parts, then its index_put_
        target = a._data[tuple(x for k in parts for x in _viewed(k))]  # refuses any overlap with that view
        if isinstance(target, type(a._data)):
            check_overlap(target, value, "__setitem__", whole=True)
        return
    target = a._data[parts]
    # (a single element, a numpy scalar, cannot overlap in part; torch expands a value broadcast to more elements
    # before its copy, and a stride of 0 is not dense: no check, where copy_ checks it as it is)
    if isinstance(target, type(a._data)) and target.size == value._data.size:
        check_overlap(target, value, "__setitem__")


def view_to_set(a: Tensor, key: Any) -> Tensor | None:
    """For ``a[key] = value`` into an ``a`` that repeats elements (an expand) with a key of basic parts: the view
    ``a[key]`` to write instead, as torch, refused where it repeats elements too. None otherwise (an advanced key is
    torch's index_put_, allowed on ``a`` itself)."""
    if not repeats(a._data):
        return None
    parts = key if isinstance(key, tuple) else (key,)
    if not all(_basic(k) for k in parts):
        return None
    view = movement.getitem(a, (*parts, Ellipsis) if Ellipsis not in parts else parts)  # (a 0-d view, not a copy)
    refuse_repeats(view, "__setitem__")
    return view


def _basic(k: Any) -> bool:
    """Whether the index ``k`` takes a view (torch's basic indexing)."""
    return k is None or k is Ellipsis or isinstance(k, slice) or (isinstance(k, numbers.Integral) and
                                                                  not isinstance(k, bool))


def _viewed(k: Any) -> tuple[Any, ...]:
    """The index ``k`` as the view torch takes before its index_put_: an advanced index keeps the dims it spans."""
    if _basic(k):
        return (k,)
    ndim = k.ndim if getattr(getattr(k, "dtype", None), "kind", None) == "b" else 1
    return (slice(None),) * ndim if ndim else (None,)
