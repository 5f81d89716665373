"""torch's chunked ``linear_cross_entropy`` (``options=LinearCrossEntropyOptions(...)``): the loss of
``cross_entropy(linear(input, W, b), target)`` computed a chunk of rows at a time, so the full (N, C) logits never
exist at once. Forward keeps one log-sum-exp per row; backward recomputes each chunk's logits from it.

For a row with target y and class weights w (1 without), with log-probabilities lp: loss = w_y (-lp_y) (0 for an
ignored row), whose gradient in the logits is w_y (p - onehot_y). As in torch, only label_smoothing == 0 is chunked
(``linear_cross_entropy`` computes the rest by the reference path).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..autograd import is_grad_enabled
from ..creation import zeros
from ..function import Function, FunctionCtx
from ..ops import index, movement
from ..tensor import Tensor, TensorLike, as_tensor
from . import functional as F

ACC_POLICIES = ("accurate", "balanced", "compact", "auto")


@dataclass
class LinearCrossEntropyOptions:
    """torch's options of the chunked ``linear_cross_entropy``: ``batch_chunk_size`` rows per chunk (None: twice
    in_features). The others choose torch's kernels and accumulation precision; here every chunk is computed in the
    input's dtype, and they are checked but change nothing."""

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: str = "auto"
    acc_dtype: Any = None

    def __post_init__(self) -> None:
        size = self.batch_chunk_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(f"LinearCrossEntropyOptions: batch_chunk_size must be a positive int or None, got "
                             f"{size!r}")
        if self.acc_policy not in ACC_POLICIES:
            raise ValueError(f"LinearCrossEntropyOptions: acc_policy must be one of {ACC_POLICIES}, got "
                             f"{self.acc_policy!r}")


def linear_cross_entropy_chunked(input: Tensor, linear_weight: Tensor, linear_bias: Tensor | None,  # noqa: A002
                                 target: TensorLike, weight: TensorLike | None, reduction: str, ignore_index: int,
                                 options: LinearCrossEntropyOptions) -> Tensor | None:
    """``linear_cross_entropy``'s loss a chunk of rows at a time, for input (N, in), linear_weight (C, in),
    linear_bias (C,) or None and class-index targets (N,); None for what the chunks do not cover (1-D input, a
    K-dimensional loss, probabilities, no rows), which the reference path computes (torch falls back there too)."""
    if not isinstance(options, LinearCrossEntropyOptions):
        raise TypeError(f"linear_cross_entropy: options must be a LinearCrossEntropyOptions or None, got "
                        f"{type(options).__name__}")
    F._check_reduction("linear_cross_entropy", reduction)
    t = as_tensor(target, input)
    if input.ndim != 2 or linear_weight.ndim != 2 or t.dtype.kind not in "iu" or t.shape != input.shape[:1] or \
            not input.shape[0]:
        return None
    n_classes = linear_weight.shape[0]
    bad = ((t._data < 0) | (t._data >= n_classes)) & (t._data != ignore_index)
    if bool(bad.any()):
        raise IndexError(f"linear_cross_entropy: target {int(t._data[bad][0])} is out of bounds for {n_classes} "
                         f"classes")
    w = F._class_weights("linear_cross_entropy", weight, input.new_zeros(1, n_classes))
    size = options.batch_chunk_size or max(1, 2 * input.shape[1])
    losses = _Chunked.apply(input, linear_weight, linear_bias, t, w, ignore_index, size)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    _, _, w_y = _row_terms(t, w, ignore_index, input)  # the mean divides by the weight of the rows that count
    return losses.sum() / w_y.sum()


def _chunks(x: Tensor, w: Tensor, b: Tensor | None, size: int) -> Iterator[tuple[slice, Tensor]]:
    """(rows, their logits (rows, C)) for each chunk of ``size`` rows of x."""
    for start in range(0, x.shape[0], size):
        rows = slice(start, start + size)
        logits = x[rows] @ movement.transpose(w, (1, 0))
        yield rows, logits if b is None else logits + b


def _row_terms(t: Tensor, weight: Tensor | None, ignore_index: int, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(the target with ignored rows set to class 0, 1 for a row that counts and 0 for an ignored one, w_y times
    that), each (rows,)."""
    keep = t != ignore_index
    counts = keep.to(like.dtype)
    return t * keep, counts, counts if weight is None else weight[t * keep] * counts


class _Chunked(Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, w: Tensor, b: Tensor | None, target: Tensor, weight: Tensor | None,
                ignore_index: int, size: int) -> Tensor:
        losses, lses = [], []
        for rows, logits in _chunks(x, w, b, size):
            lse = logits.logsumexp(1)
            lp = logits - lse.unsqueeze(1)
            safe, _, w_y = _row_terms(target[rows], weight, ignore_index, x)
            losses.append(-w_y * lp.gather(1, safe.unsqueeze(1)).squeeze(1))
            lses.append(lse)
        ctx.save_for_backward(x, w, b, target, weight, movement.concatenate(lses, 0))
        ctx.ignore_index, ctx.size = ignore_index, size
        return movement.concatenate(losses, 0)

    @staticmethod
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Any, ...]:
        x, w, b, target, weight, lse = ctx.saved_tensors
        n_classes = w.shape[0]
        dx, dw, db = [], zeros(*w.shape, dtype=w.dtype, device=w.device), zeros(n_classes, dtype=w.dtype,
                                                                                device=w.device)
        again = is_grad_enabled()  # create_graph=True: the logsumexp taken again, so that it is differentiated too
        for rows, logits in _chunks(x, w, b, ctx.size):
            p = (logits - (logits.logsumexp(1) if again else lse[rows]).unsqueeze(1)).exp()
            safe, counts, w_y = _row_terms(target[rows], weight, ctx.ignore_index, x)
            d = w_y.unsqueeze(1) * (p - index.one_hot(safe.long(), n_classes).to(p.dtype))
            d = d * F.where(counts != 0, grad[rows], 0.0).unsqueeze(1)  # an ignored row: 0, even where the mean is nan
            dx.append(d @ w)
            dw = dw + movement.transpose(d, (1, 0)) @ x[rows]
            db = db + d.sum(0)
        return movement.concatenate(dx, 0), dw, None if b is None else db, None, None, None, None
