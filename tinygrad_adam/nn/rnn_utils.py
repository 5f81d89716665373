"""``nn.utils.rnn`` as torch's: padding a list of variable-length sequences into one tensor and back, and
``PackedSequence``, the time-major packing of a padded batch that ``nn.RNN`` / ``LSTM`` / ``GRU`` accept.

A packed batch keeps, for each time step t, the rows of the sequences still running at t, the longest sequences
first: ``data`` (sum of lengths, *) and ``batch_sizes[t]`` (how many sequences are longer than t). Packing and
unpacking are one gather each, so gradients flow through both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy

from .. import backend
from ..creation import full, tensor
from ..ops import movement
from ..tensor import Tensor, TensorLike


class PackingError(ValueError, RuntimeError):
    """A batch that cannot be padded or packed (no sequences, lengths out of range or unsorted, ...): torch raises a
    RuntimeError; a ValueError too, what this module raised before."""


class _PackedFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedFields):
    """A packed batch (see the module): ``data`` (sum of lengths, *), ``batch_sizes`` (max length,) int64 on the
    CPU, and the permutation that sorted the batch by length (``sorted_indices``) and its inverse
    (``unsorted_indices``), both None when the batch came sorted (``enforce_sorted=True``).

    As torch's constructor: ``PackedSequence(data, batch_sizes, sorted_indices)`` fills ``unsorted_indices`` with
    the inverse of ``sorted_indices``, and ``PackedSequence((data, batch_sizes))`` takes the pair as one argument.
    """

    __slots__ = ()

    def __new__(cls, data: Any, batch_sizes: Tensor | None = None, sorted_indices: Tensor | None = None,
                unsorted_indices: Tensor | None = None) -> PackedSequence:
        if batch_sizes is None:
            if not isinstance(data, (list, tuple)) or len(data) != 2:
                raise TypeError("PackedSequence: without batch_sizes, the first argument must be the pair "
                                "(data, batch_sizes)")
            data, batch_sizes = data
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def lengths(self) -> numpy.ndarray:
        """Each sequence's length, in the batch's original order (a host int64 array)."""
        sizes = self.batch_sizes.numpy()
        by_rank = (sizes[None, :] > numpy.arange(sizes[0] if sizes.size else 0)[:, None]).sum(1)
        return by_rank if self.unsorted_indices is None else by_rank[self.unsorted_indices.numpy()]

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``data`` moved / converted as ``Tensor.to`` (``self`` when nothing changes); the index tensors follow
        data's device, ``batch_sizes`` stays on the CPU (as torch's)."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, *(None if t is None else t.to(data.device) for t in
                                                    (self.sorted_indices, self.unsorted_indices)))

    def cuda(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``data`` (and the index tensors) on the accelerator, as ``Tensor.cuda``."""
        return self.to(self.data.cuda(*args, **kwargs))

    def cpu(self) -> PackedSequence:
        """``data`` (and the index tensors) on the CPU."""
        return self.to("cpu")

    def is_pinned(self) -> bool:
        """Whether ``data`` is in pinned memory (as ``Tensor.is_pinned``)."""
        return self.data.is_pinned()

    def pin_memory(self) -> PackedSequence:
        """``data`` pinned, as ``Tensor.pin_memory``."""
        return self._replace(data=self.data.pin_memory())

    @property
    def is_cuda(self) -> bool:
        return self.data.device != "cpu"


def _converter(method: str) -> Any:
    """torch's ``PackedSequence.<method>()``: ``data`` converted as ``Tensor.<method>()``."""
    def convert(self: PackedSequence) -> PackedSequence:
        return self.to(getattr(self.data, method)())
    convert.__name__ = convert.__qualname__ = method
    convert.__doc__ = f"``data`` as ``Tensor.{method}()`` (``self`` when it already is)."
    return convert


for _method in ("double", "float", "half", "long", "int", "short", "char", "byte"):
    setattr(PackedSequence, _method, _converter(_method))


def pad_sequence(sequences: Sequence[Tensor] | Tensor, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Sequences (L_i, *) stacked as (max L, B, *) (``batch_first``: (B, max L, *)), each padded with
    ``padding_value`` on the right (``padding_side="left"``: on the left), in the first sequence's dtype; ``*`` is
    the first sequence's trailing dims (the others must broadcast to them, as torch's)."""
    if padding_side not in ("left", "right"):
        raise PackingError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    sequences = list(sequences)
    if not sequences:
        raise PackingError("pad_sequence: received an empty list of sequences")
    if any(s.ndim == 0 for s in sequences):
        raise PackingError("pad_sequence: every sequence needs a time dim (got a 0-d tensor)")
    dtype, tail = sequences[0].dtype, sequences[0].shape[1:]
    for i, s in enumerate(sequences):
        if s.shape[1:] != tail:  # torch copies each into its slot, so one that broadcasts to it is taken
            target = (s.shape[0], *tail)
            try:
                if numpy.broadcast_shapes(s.shape, target) != target:
                    raise ValueError
            except ValueError:
                raise PackingError(f"pad_sequence: sequence {i} of shape {s.shape} does not fit the trailing dims "
                                   f"{tail} of the first one (nor broadcast to them)") from None
            sequences[i] = movement.broadcast_to(s, target)
    longest = max(s.shape[0] for s in sequences)
    padded = [movement.pad(s if s.dtype == dtype else s.to(dtype),
                           [(0, longest - s.shape[0]) if padding_side == "right" else (longest - s.shape[0], 0)]
                           + [(0, 0)] * len(tail), value=padding_value) for s in sequences]
    return movement.stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths: TensorLike, batch_first: bool = False) -> list[Tensor]:
    """The inverse of ``pad_sequence`` (right padding): the list of sequences (L_i, *)."""
    x = padded_sequences if batch_first else movement.transpose(
        padded_sequences, (1, 0, *range(2, padded_sequences.ndim)))
    n = _host_lengths(lengths)
    if n.shape != (x.shape[0],):
        raise ValueError(f"unpad_sequence: expected {x.shape[0]} lengths (one per sequence), got shape {n.shape}")
    return [x[i, :int(k)] for i, k in enumerate(n)]


def pack_padded_sequence(input: Tensor, lengths: TensorLike, batch_first: bool = False,  # noqa: A002 - torch's
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *) (``batch_first``: (B, T, *)) whose sequence b has ``lengths[b]`` real steps.

    With ``enforce_sorted`` the lengths must be decreasing; otherwise the batch is sorted by length first (a stable
    sort: equal lengths keep their batch order, where torch's order of ties is unspecified past 16 sequences) and
    the permutation is kept on the result.
    """
    n = _host_lengths(lengths)
    x = movement.transpose(input, (1, 0, *range(2, input.ndim))) if batch_first else input
    if n.ndim != 1 or n.shape[0] != x.shape[1]:
        raise PackingError(f"pack_padded_sequence: expected {x.shape[1]} lengths (one per sequence), got {n.shape}")
    if not n.size:
        raise PackingError("pack_padded_sequence: the batch is empty (no sequences to pack)")
    if n.min() <= 0:
        raise PackingError("pack_padded_sequence: every length must be > 0, but found one that is <= 0")
    if n.max() > x.shape[0]:
        raise PackingError(f"pack_padded_sequence: a length {n.max()} exceeds the padded length {x.shape[0]}")
    if enforce_sorted:
        if numpy.any(n[1:] > n[:-1]):
            raise PackingError("pack_padded_sequence: `lengths` must go from longest to shortest while "
                             "`enforce_sorted` is True; pass enforce_sorted=False to sort the batch here")
        order = None
    else:
        order = numpy.argsort(-n, kind="stable")
    return pack_with_order(x, n, order)


def pack_with_order(x: Tensor, lengths: numpy.ndarray, order: numpy.ndarray | None) -> PackedSequence:
    """Pack the time-major ``x`` (T, B, *) whose sequences (in x's order) have ``lengths``, after putting them in
    ``order`` (host indices, or None: x is sorted already)."""
    ranked = lengths if order is None else lengths[order]
    steps = int(ranked[0]) if ranked.size else 0
    running = ranked[None, :] > numpy.arange(steps)[:, None]          # (T, B): sequence b is still running at t
    batch_sizes = tensor(running.sum(1).astype(numpy.int64), device="cpu")
    t, b = numpy.nonzero(running)                                     # time-major, longest sequences first
    rows = t * x.shape[1] + (b if order is None else order[b])        # rows of x flattened to (T * B, *)
    flat = movement.reshape(x[:steps], (-1, *x.shape[2:]))
    data = flat[_on(rows, x)]
    if order is None:
        return PackedSequence(data, batch_sizes)
    inverse = numpy.empty_like(order)
    inverse[order] = numpy.arange(order.size)
    return PackedSequence(data, batch_sizes, tensor(order.astype(numpy.int64), device=x.device),
                          tensor(inverse.astype(numpy.int64), device=x.device))


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """The inverse of ``pack_padded_sequence``: (padded (T, B, *) in the batch's original order (``batch_first``:
    (B, T, *)), each sequence's length as an int64 tensor). T is the longest length, or ``total_length``."""
    data = sequence.data
    lengths = sequence.lengths()
    steps = int(lengths.max()) if lengths.size else 0
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is less than the longest sequence "
                             f"({steps})")
        steps = total_length
    batch = lengths.size
    running = lengths[None, :] > numpy.arange(steps)[:, None]         # (T, B), original order
    ranks = numpy.arange(batch) if sequence.unsorted_indices is None else numpy.argsort(
        sequence.unsorted_indices.numpy(), kind="stable")  # the batch's order by length, as unsorted_indices says
    # where each packed row goes: packed order is time-major over the sequences in rank order
    t, r = numpy.nonzero(running[:, ranks])
    source = numpy.full(steps * batch, data.shape[0])                 # every slot reads the padding row ...
    source[t * batch + ranks[r]] = numpy.arange(data.shape[0])        # ... except the real steps
    pad_row = full((1, *data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    padded = movement.reshape(movement.concatenate([data, pad_row], 0)[_on(source, data)],
                              (steps, batch, *data.shape[1:]))
    if batch_first:
        padded = movement.transpose(padded, (1, 0, *range(2, padded.ndim)))
    return padded, tensor(lengths.astype(numpy.int64), device="cpu")


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """``pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=...)``."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The inverse of ``pack_sequence``: the list of sequences (L_i, *), in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation (``out[permutation[i]] = i``), of its dtype and device; None for None."""
    if permutation is None:
        return None
    order = _host_lengths(permutation)
    inverse = numpy.empty_like(order)
    inverse[order] = numpy.arange(order.size)
    return tensor(inverse, dtype=permutation.dtype, device=permutation.device)


def _host_lengths(lengths: TensorLike) -> numpy.ndarray:
    """Lengths (a list, an array or a tensor on any device) as a host int64 array."""
    raw = lengths._data if isinstance(lengths, Tensor) else lengths
    return numpy.asarray(backend.to_device(raw, "cpu") if hasattr(raw, "shape") else raw).astype(numpy.int64)


def _on(indices: numpy.ndarray, like: Tensor) -> Any:
    """Host indices as an index array on ``like``'s device."""
    return backend.to_device(indices.astype(numpy.int64), like.device)


__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
           "pad_sequence", "unpack_sequence", "unpad_sequence"]
