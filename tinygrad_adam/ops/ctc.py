"""CTC loss (connectionist temporal classification, Graves et al. 2006) as torch 2.13 computes it on the CPU.

Each target ``l`` (length L) is extended with blanks, ``l' = (blank, l1, blank, l2, ..., lL, blank)`` (S = 2L + 1
positions). In log space, over the time steps t of one input (length T):

- alpha[t, s] = logsumexp(alpha[t-1, s], alpha[t-1, s-1], alpha[t-1, s-2] where l'[s] != l'[s-2]) + lp[t, l'[s]],
  from alpha[0] = (lp[0, blank], lp[0, l1], -inf, ...); the loss is -logsumexp(alpha[T-1, S-1], alpha[T-1, S-2])
  (-alpha[T-1, 0] for an empty target; -0 for T = L = 0, inf for T = 0 < L).
- beta[t, s] is the same recursion run backwards from beta[T-1] = (..., -inf, lp[T-1, lL], lp[T-1, blank]).
- The gradient is torch's: exp(lp[t, c]) - exp(log sum_{s: l'[s] = c} alpha[t, s] beta[t, s] + loss - lp[t, c]),
  times the loss's gradient, for t < T (0 beyond). That is the gradient of the loss through a ``log_softmax`` that
  made ``lp`` (d loss / d logits), not d loss / d lp: the exp(lp) term would cancel in a ``log_softmax`` backward,
  so torch puts it in (as we do) and the result is right only for normalised log-probabilities.

The recursions run over all samples and label positions at once, with a Python loop over time.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Union

import numpy

from .. import backend
from ..tensor import Array, Tensor, TensorLike, constant, record
from .factor import KernelDtypeError
from .loss import REDUCTIONS, deprecated_mean
from .reduce import quiet

OP = "ctc_loss"
Lengths = Union[Tensor, Sequence[int]]


def ctc_loss(log_probs: Tensor, targets: TensorLike, input_lengths: Lengths, target_lengths: Lengths,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """The CTC loss of log-probabilities ``log_probs`` (T, N, C) (or (T, C) unbatched) against integer ``targets``:
    padded (N, S) or the N targets concatenated (sum(target_lengths),). ``input_lengths`` and ``target_lengths``
    (N entries each: both Tensors of an integer dtype, or both tuples/lists of ints) give each sample's T_n <= T
    and L_n. ``reduction``: ``"none"`` gives the N losses ((), unbatched), ``"sum"`` their sum, ``"mean"`` the
    mean over the batch of each loss divided by max(L_n, 1). ``zero_infinity`` sets infinite losses (targets that
    cannot fit their input) and their gradients to 0."""
    reduction = deprecated_mean(reduction)  # (torch's old "elementwise_mean")
    if reduction not in REDUCTIONS:
        raise ValueError(f"{OP}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    losses = _ctc_nll(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    lengths = numpy.maximum(_lengths("target_lengths", target_lengths), 1)  # (checked by _ctc_nll)
    return (losses / constant(losses.xp.asarray(lengths, dtype=losses.dtype))).mean()


def _lengths(name: str, lengths: Lengths) -> numpy.ndarray:
    """Host int64 lengths (flat, as torch reads any shape) from an integer Tensor or a tuple / list of ints."""
    if isinstance(lengths, Tensor):
        if lengths.dtype.kind not in "iu":
            raise TypeError(f"{OP}: {name} must be integral, got dtype {lengths.dtype}; convert with .long()")
        return backend.to_numpy(lengths._data).astype(numpy.int64).reshape(-1)
    if isinstance(lengths, (tuple, list)) and all(isinstance(v, Integral) and not isinstance(v, bool)
                                                   for v in lengths):
        return numpy.array(lengths, dtype=numpy.int64).reshape(-1)
    raise TypeError(f"{OP}: {name} must be an integer Tensor or a tuple/list of ints, got {type(lengths).__name__}")


def _check(log_probs: Tensor, targets: Array, input_lengths: Lengths, target_lengths: Lengths,
           blank: int) -> tuple[numpy.ndarray, numpy.ndarray]:
    """torch's argument checks (messages naming the fix); returns the host lengths."""
    if not isinstance(log_probs, Tensor):
        raise TypeError(f"{OP}: log_probs must be a Tensor, got {type(log_probs).__name__}")
    if log_probs.dtype not in (numpy.float32, numpy.float64):
        raise KernelDtypeError(f"{OP}: log_probs must be float32 or float64 (as torch's CPU kernel, which raises "
                               f"NotImplementedError), got {log_probs.dtype}")
    if log_probs.ndim not in (2, 3):
        raise ValueError(f"{OP}: log_probs must have shape (T, N, C) or (T, C), got {log_probs.shape}")
    if log_probs.size == 0:
        raise ValueError(f"{OP}: log_probs must not be empty, got shape {log_probs.shape}")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"{OP}: targets must be integer class indices, got dtype {targets.dtype} (torch would "
                        f"truncate them to int64; convert explicitly, e.g. targets.long())")
    if targets.ndim not in (1, 2):
        raise ValueError(f"{OP}: targets must be padded (N, S) or concatenated (sum(target_lengths),), got shape "
                         f"{targets.shape}")
    t_max, n, c = log_probs.shape if log_probs.ndim == 3 else (log_probs.shape[0], 1, log_probs.shape[1])
    if not 0 <= blank < c:
        raise ValueError(f"{OP}: blank must be a class index in [0, {c}), got {blank}")
    if isinstance(input_lengths, Tensor) != isinstance(target_lengths, Tensor):
        raise TypeError(f"{OP}: input_lengths and target_lengths must both be Tensors or both tuples/lists of ints")
    il, tl = _lengths("input_lengths", input_lengths), _lengths("target_lengths", target_lengths)
    for name, v in (("input_lengths", il), ("target_lengths", tl)):
        if v.size != n:
            raise ValueError(f"{OP}: {name} must have one entry per batch element ({n}), got {v.size}")
        if bool((v < 0).any()):
            raise ValueError(f"{OP}: {name} must be >= 0, got {v.tolist()}")
    if bool((il > t_max).any()):
        raise ValueError(f"{OP}: input_lengths must be at most the input's length {t_max}, got {il.tolist()}")
    if targets.ndim == 1 and targets.shape[0] != tl.sum():
        raise ValueError(f"{OP}: concatenated targets must have sum(target_lengths) = {tl.sum()} entries, got "
                         f"{targets.shape[0]} (pad them to (N, S) for padded targets)")
    if targets.ndim == 2 and (targets.shape[0] != n or targets.shape[1] < tl.max()):
        raise ValueError(f"{OP}: padded targets must have shape ({n}, S) with S >= max(target_lengths) = {tl.max()}, "
                         f"got {targets.shape}")
    return il, tl


def _extended_targets(targets: Array, tl: numpy.ndarray, blank: int, c: int) -> Array:
    """The blank-interleaved targets (N, 2 max(L) + 1), blank past each sample's own 2 L_n + 1 positions; checks
    that each label (within its length) is a class index other than the blank."""
    xp, n, lmax = backend.get_array_module(targets), tl.size, int(tl.max())
    cols = numpy.arange(lmax)
    inside = cols < tl[:, None]
    if targets.ndim == 2:
        labels = targets[:, :lmax]
    else:  # concatenated: sample i's labels start at the sum of the lengths before it
        starts = numpy.cumsum(tl) - tl
        labels = targets[xp.asarray(numpy.where(inside, starts[:, None] + cols, 0))]
    inside = xp.asarray(inside)
    labels = xp.where(inside, labels.astype(numpy.int64), blank)
    bad = labels[(labels < 0) | (labels >= c)]
    if bad.size:
        raise IndexError(f"{OP}: target labels must be class indices in [0, {c}), got {backend.to_numpy(bad)[:5]}")
    if bool(((labels == blank) & inside).any()):
        raise ValueError(f"{OP}: targets must not contain the blank index {blank} (within their target_lengths)")
    ext = xp.full((n, 2 * lmax + 1), blank, dtype=numpy.int64)
    ext[:, 1::2] = labels
    return ext


def _shift(a: Array, k: int) -> Array:
    """``a`` (N, S) moved k places along S (right for k > 0, left for k < 0), -inf shifted in."""
    xp = backend.get_array_module(a)
    out = xp.full(a.shape, -numpy.inf, dtype=a.dtype)
    if k > 0:
        out[:, k:] = a[:, :a.shape[1] - k]
    else:
        out[:, :k] = a[:, -k:]
    return out


def _logsumexp3(a: Array, b: Array, c: Array) -> Array:
    """log(e^a + e^b + e^c) shifted by their maximum (0 when all are -inf), torch's order of operations."""
    xp = backend.get_array_module(a)
    m = xp.maximum(xp.maximum(a, b), c)
    m[m == -numpy.inf] = 0
    return xp.log(xp.exp(a - m) + xp.exp(b - m) + xp.exp(c - m)) + m


def _ctc_nll(log_probs: Tensor, targets: TensorLike, input_lengths: Lengths, target_lengths: Lengths, blank: int,
             zero_infinity: bool) -> Tensor:
    """The per-sample losses (N,) (() unbatched), recorded with torch's gradient."""
    t_data = targets._data if isinstance(targets, Tensor) else targets
    t_data = backend.to_device(t_data, log_probs.device) if isinstance(log_probs, Tensor) else t_data
    il, tl = _check(log_probs, t_data, input_lengths, target_lengths, blank)
    xp, dtype, inf = log_probs.xp, log_probs.dtype, log_probs.dtype.type(numpy.inf)
    t_max, c = log_probs.shape[0], log_probs.shape[-1]
    n = tl.size
    lp = log_probs._data.reshape(t_max, n, c)
    ext = _extended_targets(t_data, tl, blank, c)
    s_len = ext.shape[1]
    rows, il_d, tl_d = xp.arange(n), xp.asarray(il), xp.asarray(tl)
    with quiet(xp):
        emit = lp[:, rows[:, None], ext]  # (T, N, S): lp[t, n, l'[n, s]]
        skip = xp.zeros((n, s_len), dtype=bool)  # alpha[t-1, s-2] feeds alpha[t, s]
        skip[:, 2:] = ext[:, 2:] != ext[:, :-2]
        alpha = xp.full((t_max, n, s_len), -inf, dtype=dtype)
        alpha[0, :, :2] = emit[0, :, :2]
        for t in range(1, t_max):
            a = alpha[t - 1]
            alpha[t] = _logsumexp3(a, _shift(a, 1), xp.where(skip, _shift(a, 2), -inf)) + emit[t]
        last = alpha[xp.maximum(il_d - 1, 0), rows]  # (N, S) at each sample's last step
        l1 = last[rows, 2 * tl_d]
        l2 = last[rows, xp.maximum(2 * tl_d - 1, 0)]
        m = xp.maximum(l1, l2)
        m[m == -inf] = 0
        log_likelihood = xp.where(tl_d == 0, l1, xp.log(xp.exp(l1 - m) + xp.exp(l2 - m)) + m)  # (one path end if L = 0)
        log_likelihood = xp.where(il_d == 0, xp.where(tl_d == 0, dtype.type(0), -inf), log_likelihood)
        nll = -log_likelihood
    zeroed = (nll == inf) if zero_infinity else xp.zeros(n, dtype=bool)
    out = xp.where(zeroed, dtype.type(0), nll)

    def backward(g: Array) -> tuple[Array]:
        with quiet(xp):
            beta = _beta(emit, ext, il_d, tl_d)
            occupied = _log_class_sums(alpha + beta, ext, il_d, tl_d, c)  # (T, N, C): log sum alpha beta per class
            grad = (xp.exp(lp) - xp.exp(occupied + nll[:, None] - lp)) * g.reshape(n)[:, None]
            keep = (xp.arange(t_max)[:, None] < il_d) & ~zeroed  # (T, N): time steps within each input
            grad = xp.where(keep[:, :, None], grad, dtype.type(0))
        return (grad.reshape(log_probs.shape),)
    return record(OP, out.reshape(()) if log_probs.ndim == 2 else out, (log_probs,), backward)


def _beta(emit: Array, ext: Array, il: Array, tl: Array) -> Array:
    """beta (T, N, S): from each sample's last step T_n - 1 back to 0, -inf after T_n - 1 and past 2 L_n."""
    xp = backend.get_array_module(emit)
    t_max, n, s_len = emit.shape
    inf = emit.dtype.type(numpy.inf)
    s = xp.arange(s_len)
    valid = s <= 2 * tl[:, None]
    ends = valid & (s >= 2 * tl[:, None] - 1)  # the last blank and the last label
    skip = xp.zeros((n, s_len), dtype=bool)  # beta[t+1, s+2] feeds beta[t, s]
    skip[:, :-2] = ext[:, 2:] != ext[:, :-2]
    beta = xp.full(emit.shape, -inf, dtype=emit.dtype)
    for t in range(t_max - 1, -1, -1):
        row = xp.where(ends, emit[t], -inf)
        if t < t_max - 1:
            b = beta[t + 1]
            rec = _logsumexp3(b, _shift(b, -1), xp.where(skip, _shift(b, -2), -inf)) + emit[t]
            row = xp.where((t == il - 1)[:, None], row, xp.where(valid, rec, -inf))
        beta[t] = xp.where((t > il - 1)[:, None], -inf, row)
    return beta


def _log_class_sums(lab: Array, ext: Array, il: Array, tl: Array, c: int) -> Array:
    """log sum over the positions s with l'[s] = c of exp(lab[t, n, s]) (T, N, C), over the positions torch's
    kernel visits: s <= 2 L_n for t < T_n - 1, the last two at T_n - 1; -inf where none (or all -inf)."""
    xp = backend.get_array_module(lab)
    t_max, n, s_len = lab.shape
    t = xp.arange(t_max)[:, None, None]
    s = xp.arange(s_len)
    last = (il - 1)[:, None]
    include = ((t < last[None]) & (s <= 2 * tl[:, None])) | ((t == last[None]) & (s >= 2 * tl[:, None] - 1)
                                                             & (s <= 2 * tl[:, None]))
    keys = ((t * n + xp.arange(n)[:, None]) * c + ext)[include]  # flat (t, n, class) of each included entry
    values = lab[include]
    top = xp.full(t_max * n * c, -numpy.inf, dtype=lab.dtype)
    backend.scatter_at("maximum", top, (keys,), values)
    top[top == -numpy.inf] = 0
    sums = xp.bincount(keys, weights=xp.exp(values - top[keys]), minlength=t_max * n * c)
    return (xp.log(sums) + top).astype(lab.dtype, copy=False).reshape(t_max, n, c)
