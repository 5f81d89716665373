"""Storage, as torch describes a tensor's memory: ``storage_offset``, ``untyped_storage``, ``as_strided`` (and its
``_`` / ``_copy`` / ``_scatter`` forms), ``empty_strided``, ``share_memory_``.

A tensor's storage is the memory of the tensor it is a view of (following ``_base`` to a tensor that is no view):
that tensor's array, from its lowest to its highest address. Offsets and strides count elements of the tensor's
dtype, as torch's. So storage-relative reads (``as_strided`` with an explicit offset) match torch's where our ops make
views exactly where torch's do (tests/test_torch_infrastructure.py checks the view and copy ops against torch).
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from typing import Any

import numpy

from . import backend
from .autograd import is_grad_enabled
from .layouts import check_layout, element_strides, preserved_strides, span, strided_array
from .tensor import Tensor, bump_version, constant, record, storage_root, version_box


def _span(array: Any) -> tuple[int, int]:
    """(address of the lowest byte, number of bytes) that ``array``'s elements cover."""
    if array.size == 0:
        return backend.data_ptr(array), 0
    low = sum(s * (n - 1) for s, n in zip(array.strides, array.shape) if s < 0)
    high = sum(s * (n - 1) for s, n in zip(array.strides, array.shape) if s > 0)
    return backend.data_ptr(array) + low, high - low + array.itemsize


class StorageLink:
    """A tensor's ``_storage_link``: the array of the whole storage it lies in, where that is more than its own array
    and no autograd base says so: the ``detach()`` / ``.data`` / ``Parameter`` of a view, a tensor ``load`` read as
    one of the views of a saved storage. Such a tensor has its storage offset and ``untyped_storage()`` in that
    storage, as torch's, while keeping its own graph and version counter (only the array is held, not the tensor it
    came from). A deep copy or a pickle of the tensor owns its own memory, so the link does not go with it."""

    def __init__(self, array: Any) -> None:
        self.array = array

    def __deepcopy__(self, memo: dict[int, Any]) -> None:
        return None

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return type(None), ()


def storage_array(t: Tensor) -> Any:
    """The array of ``t``'s whole storage: that of the tensor it is a view of (``storage_root``), or the one that
    tensor is linked to (``StorageLink``; not once its array has been replaced by one outside it)."""
    root = storage_root(t)
    link = root.__dict__.get("_storage_link")
    if link is not None and _inside(root._data, link.array):
        return link.array
    return root._data


def link_storage(alias: Tensor, source: Tensor) -> None:
    """``alias``, which shares ``source``'s array, lies in source's storage (see ``StorageLink``)."""
    whole = storage_array(source)
    if _span(whole) != _span(alias._data):
        alias._storage_link = StorageLink(whole)


def _flat_storage(t: Tensor) -> Any:
    """The storage of ``t`` as a 1-D array of ``t``'s dtype (a view: writes reach ``t`` and its views)."""
    from .ops.movement import own_array

    root, array = storage_root(t), storage_array(t)
    if array is root._data:
        array = own_array(root)  # (a 0-d numpy scalar becomes an array first: the view then shares its memory)
    _, nbytes = _span(array)
    lowest = array[tuple(slice(n - 1, n) if s < 0 else slice(0, 1) for s, n in zip(array.strides, array.shape))
                   if array.ndim else None]  # (0-d: x[None], a view; x[()] would be a copied scalar)
    xp = backend.get_array_module(array)
    flat = xp.lib.stride_tricks.as_strided(lowest, (nbytes // array.itemsize,), (array.itemsize,))
    if flat.dtype == t.dtype:
        return flat
    return flat[: nbytes // t.dtype.itemsize * t.dtype.itemsize // array.itemsize].view(t.dtype)  # (x.view(dtype))


def _inside(view: Any, owner: Any) -> bool:
    """Whether the array ``view``'s elements lie within the memory of ``owner``'s (false once the tensor a view was
    made of has had its array replaced by ``.data = t``)."""
    if backend.device_of(view) != backend.device_of(owner):
        return False
    (start, n), (low, m) = _span(view), _span(owner)
    return low <= start and start + n <= low + m


def offset_of(t: Tensor) -> int:
    """Where ``t``'s first element sits in its storage, in elements."""
    if t._data.size == 0 and getattr(t, "_offset", None) is not None:  # an empty as_strided view: anywhere
        return t._offset
    start, _ = _span(storage_array(t))
    return (backend.data_ptr(t._data) - start) // t.dtype.itemsize


def _check_geometry(op: str, size: Sequence[int], stride: Sequence[int], offset: int, storage_size: int,
                    itemsize: int) -> None:
    """torch's checks of a view of a storage of ``storage_size`` elements; a RuntimeError as torch's."""
    if len(size) != len(stride):
        raise RuntimeError(f"{op}: {len(stride)} strides do not fit size {list(size)} (one per dim)")
    if any(n < 0 for n in size):
        raise RuntimeError(f"{op}: negative size in {list(size)}")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"{op}: negative strides are not supported (as in torch), got strides {list(stride)}")
    if offset < 0:
        raise RuntimeError(f"{op}: invalid storage offset {offset}")
    needed = 0 if 0 in size else offset + span(size, stride)
    if needed > storage_size:
        raise RuntimeError(f"{op}: sizes {list(size)}, strides {list(stride)} and storage offset {offset} need a "
                           f"storage of {needed * itemsize} bytes; the tensor's storage has {storage_size * itemsize}")


def _positions(xp: Any, size: Sequence[int], stride: Sequence[int], offset: int) -> Any:
    """The storage index of every element of a (size, stride, offset) view, an int64 array of shape ``size``."""
    pos = xp.full(tuple(size), offset, dtype=numpy.int64)
    for d, (n, s) in enumerate(zip(size, stride)):
        pos = pos + (xp.arange(n, dtype=numpy.int64) * s).reshape((n,) + (1,) * (len(size) - d - 1))
    return pos


def _view(flat: Any, size: tuple[int, ...], stride: tuple[int, ...], offset: int) -> Any:
    xp = backend.get_array_module(flat)
    return xp.lib.stride_tricks.as_strided(flat[offset:], size, tuple(s * flat.itemsize for s in stride))


def _geometry(t: Tensor, op: str, size: Sequence[int], stride: Sequence[int],
              offset: int | None) -> tuple[Any, tuple[int, ...], tuple[int, ...], int]:
    flat = _flat_storage(t)
    size, stride = tuple(int(n) for n in size), tuple(int(s) for s in stride)
    offset = offset_of(t) if offset is None else int(offset)
    _check_geometry(op, size, stride, offset, flat.size, t.dtype.itemsize)
    return flat, size, stride, offset


def as_strided(t: Tensor, size: Sequence[int], stride: Sequence[int], storage_offset: int | None = None) -> Tensor:
    """A view of ``t``'s storage with ``size``, ``stride`` (elements, >= 0) from ``storage_offset`` (default: t's
    own). Differentiable: the gradient is summed into the storage and read back at ``t``'s elements (divided by how
    many of t's elements share a place, when t overlaps itself), as torch's."""
    flat, size, stride, offset = _geometry(t, "as_strided", size, stride, storage_offset)
    xp = t.xp
    mine = (_positions(xp, t.shape, element_strides(t), offset_of(t)) if t.requires_grad
            else None)

    def shared_out(a: Any) -> Any:  # ``a`` (t's shape) divided by how many of t's elements share each one's place
        shared = xp.bincount(mine.reshape(-1), minlength=flat.size)[mine]
        return a / shared if int(shared.max(initial=1)) > 1 else a

    def backward(g: Any) -> tuple[Any]:
        into = xp.zeros(flat.size, dtype=g.dtype)
        backend.scatter_add(into, _positions(xp, size, stride, offset).reshape(-1), g.reshape(-1))
        return (shared_out(into[mine]),)

    def adjoint(h: Any) -> Any:  # backward's transpose (t's shape -> the view's), for the double backward
        into = xp.zeros(flat.size, dtype=h.dtype)
        backend.scatter_add(into, mine.reshape(-1), shared_out(h).reshape(-1))
        return into[_positions(xp, size, stride, offset)]
    backward.adjoint = adjoint  # type: ignore[attr-defined]  # (higher_order_tail)

    out = record("as_strided", _view(flat, size, stride, offset), (t,), backward)
    out._vbox, out._base = version_box(t), t  # a view: it shares t's version counter and storage (tensor.record)
    if not out._data.size:  # (no element to point at: torch allows any offset, even past the storage's end)
        out._offset = offset
    return out


def as_strided_(t: Tensor, size: Sequence[int], stride: Sequence[int], storage_offset: int | None = None) -> Tensor:
    """In place: ``t`` becomes ``t.as_strided(...)``, a view of the same storage (and, recorded, of t before)."""
    if t.requires_grad and t._backward is None and is_grad_enabled():
        raise RuntimeError("as_strided_: a leaf tensor that requires grad cannot be modified in place while "
                           "gradients are recorded; do it inside `with no_grad():`")
    bump_version(t)
    old = constant(t._data)  # t as it was: the same array, graph and storage
    old.requires_grad, old._parents, old._backward, old._op = t.requires_grad, t._parents, t._backward, t._op
    old._vbox, old._base = t._vbox, t._base
    out = as_strided(old, size, stride, storage_offset)
    t._data, t._base = out._data, old
    if out.requires_grad:
        t._parents, t._backward, t._op, t._epoch = out._parents, out._backward, out._op, out._epoch
    return t


def as_strided_copy(input: Tensor, size: Sequence[int], stride: Sequence[int],  # noqa: A002 - torch's name
                    storage_offset: int | None = None) -> Tensor:
    """``as_strided``'s values in a tensor of their own (contiguous)."""
    from .ops import movement

    return movement.clone(as_strided(input, size, stride, storage_offset))


def as_strided_scatter(t: Tensor, src: Tensor, size: Sequence[int], stride: Sequence[int],
                       storage_offset: int | None = None) -> Tensor:
    """A copy of ``t`` (its strides kept when it is dense, else contiguous, as torch's ``clone``) with ``src``
    written where ``copy.as_strided(size, stride, storage_offset)`` looks. Differentiable in both."""
    size, stride = tuple(int(n) for n in size), tuple(int(s) for s in stride)
    offset = 0 if storage_offset is None else int(storage_offset)
    if tuple(src.shape) != size:
        raise RuntimeError(f"as_strided_scatter: src has shape {src.shape}, expected {size}")
    xp, mine = t.xp, preserved_strides(t)
    storage = span(t.shape, mine)
    _check_geometry("as_strided_scatter", size, stride, offset, storage, t.dtype.itemsize)
    where, into = _positions(xp, t.shape, mine, 0), _positions(xp, size, stride, offset)
    if any(n > 1 and s == 0 for n, s in zip(size, stride)):  # (other overlaps: some write wins, as in torch)
        raise RuntimeError(f"as_strided_scatter: sizes {list(size)} with strides {list(stride)} write each place of a "
                           f"zero-stride dim more than once (refused, as torch)")
    flat = xp.zeros(storage, dtype=t.dtype)
    flat[where] = t._data
    flat[into] = src._data.astype(t.dtype, copy=False)

    def backward(g: Any) -> tuple[Any, Any]:
        spread = xp.zeros(storage, dtype=g.dtype)
        spread[where] = g
        picked = spread[into]
        spread[into] = 0
        return spread[where], picked

    return record("as_strided_scatter", _view(flat, t.shape, mine, 0), (t, src), backward)


def empty_strided(size: Sequence[int], stride: Sequence[int], *, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False, layout: Any = None, pin_memory: bool = False) -> Tensor:
    """A zero-filled tensor of ``size`` laid out with ``stride`` (elements) in a storage of its own."""
    from .creation import zeros

    size, stride = tuple(int(n) for n in size), tuple(int(s) for s in stride)
    check_layout("empty_strided", layout)
    _check_geometry("empty_strided", size, stride, 0, span(size, stride), 1)
    like = zeros(0, dtype=dtype, device=device)._data
    return Tensor(strided_array(like, size, stride, like.dtype), requires_grad=requires_grad)


def new_empty_strided(t: Tensor, size: Sequence[int], stride: Sequence[int], *, dtype: Any = None,
                      device: Any = None, requires_grad: bool = False, layout: Any = None,
                      pin_memory: bool = False) -> Tensor:
    """``empty_strided`` with ``t``'s dtype and device unless told."""
    return empty_strided(size, stride, dtype=t.dtype if dtype is None else dtype, layout=layout,
                         device=t.device if device is None else device, requires_grad=requires_grad)


class UntypedStorage:
    """What ``untyped_storage()`` returns: the bytes of a tensor's storage (``data_ptr()``, ``nbytes()``,
    ``size()``, ``device``); equal ``data_ptr()`` means shared memory, as in torch."""

    def __init__(self, t: Tensor) -> None:
        self._ptr, self._nbytes = _span(storage_array(t))
        self.device = t.device

    def data_ptr(self) -> int:
        return self._ptr

    def nbytes(self) -> int:
        return self._nbytes

    size = __len__ = nbytes

    def element_size(self) -> int:
        return 1

    def __repr__(self) -> str:
        return f"UntypedStorage(data_ptr={self._ptr:#x}, nbytes={self._nbytes}, device='{self.device}')"


def is_storage(obj: Any) -> bool:
    return isinstance(obj, UntypedStorage)


def is_shared(t: Tensor) -> bool:
    """Whether other processes can see ``t``'s memory: a GPU array, or host memory ``share_memory_`` mapped."""
    if t.device != "cpu":
        return True
    base = storage_array(t)
    while isinstance(base, numpy.ndarray):
        base = base.base
    return isinstance(getattr(base, "obj", base), mmap.mmap)  # (numpy holds the mapping through a memoryview)


def share_memory_(t: Tensor) -> Tensor:
    """Move ``t``'s values into shared memory (an anonymous shared mapping, inherited by processes forked later:
    their writes are seen here and theirs here); a no-op on the GPU and when already shared. Views of ``t``
    made before keep the old memory, so call it on the base tensor first thing, as ``Module.share_memory``."""
    if is_shared(t):
        return t
    if t._base is not None:
        raise RuntimeError(f"share_memory_: the tensor (shape {t.shape}) is a view of another; share that one")
    buffer = mmap.mmap(-1, max(1, t._data.nbytes))
    array = numpy.frombuffer(buffer, dtype=t.dtype, count=t._data.size).reshape(t.shape)
    array[...] = t._data
    t._data = array
    return t


def _dense(array: Any) -> bool:
    """Whether ``array``'s elements fill its span without gaps or repeats (torch's is_non_overlapping_and_dense)."""
    dims = sorted((abs(s), n) for s, n in zip(array.strides, array.shape, strict=True) if n != 1)
    expected = array.itemsize
    for stride, size in dims:
        if stride != expected:
            return False
        expected *= size
    return True


def check_overlap(target: Any, value: Any, op: str, whole: bool = False) -> None:
    """Raise, as torch does, when the array ``target`` is written from a tensor ``value`` (or a list of them) whose
    memory overlaps it in part (both dense, the ranges meeting but not the same elements in the same order; with
    ``whole``, any overlap): the result would depend on the order of the writes. Where memory is not dense both
    pass (torch's "too hard" case)."""
    if isinstance(value, (list, tuple)):
        for v in value:
            check_overlap(target, v, op, whole)
        return
    if not isinstance(value, Tensor) or type(value._data) is not type(target) or not target.size or \
            not value._data.size or not backend.may_share_memory(target, value._data) or not _dense(target) or \
            not _dense(value._data):
        return
    if not whole and _span(target) == _span(value._data) and target.strides == value._data.strides:
        return  # the same elements in the same order: each is read before it is written
    raise RuntimeError(f"{op}: the destination and an input share overlapping memory, so values would be read "
                       f"after being overwritten; clone() the input first")

