"""Stateless layers and losses (``import tinygrad_adam.nn.functional as F``), thin wrappers over ``ops``.

Images are NCHW. Losses take ``reduction="mean" | "sum" | "none"``. The VAE pieces follow
Kingma & Welling (2014): ``reparameterize`` draws z = mu + exp(logvar / 2) * eps, ``gaussian_kl``
is KL(N(mu, sigma^2) || N(0, I)) in closed form, and ``bernoulli_log_likelihood`` is log p(x | z)
for a Bernoulli decoder given its logits.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from .. import backend
from ..autograd import is_grad_enabled
from ..creation import rand, randn
from ..ops import activation, elementwise, movement, norm, sparse
from ..ops import linear as dense
from ..ops import loss as fused
from ..ops.conv import conv2d as conv2d
from ..ops.elementwise import where
from ..ops.index import one_hot as one_hot
from ..ops.loss import REDUCTIONS
from ..ops.pool import max_pool2d as max_pool2d
from ..ops.sparse import CSRBatch as CSRBatch
from ..ops.sparse import is_csr as is_csr
from ..tensor import Tensor, TensorLike, as_tensor, check_devices

Input = Any  # a Tensor, or a CSR batch (an object with indptr, indices, data and shape; see ops/sparse.py)


def relu(x: Tensor) -> Tensor:
    return x.relu()


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x where beta x > threshold (torch's linear cut-off; the losses built on
    softplus inside the library use the exact form everywhere)."""
    return elementwise.softplus(x, beta, threshold)


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x Phi(x) (exact, ``approximate="none"``) or its tanh approximation (``"tanh"``)."""
    return activation.gelu(x, approximate)


def silu(x: Tensor) -> Tensor:
    """x sigmoid(x)."""
    return activation.silu(x)


def softmax_dim(x: Tensor, dim: int | None, axis: int | None = None) -> int:
    """The dim a softmax runs along: ``dim`` (or numpy's ``axis``); when neither is given, torch's legacy implicit
    choice (dim 0 for 0-, 1- and 3-d input, else dim 1), with torch's deprecation warning."""
    if dim is not None or axis is not None:
        return dim if axis is None else axis
    warnings.warn("Implicit dimension choice for softmax has been deprecated. Change the call to include dim=X "
                  "as an argument.", UserWarning, stacklevel=3)
    return 0 if x.ndim in (0, 1, 3) else 1


def log_softmax(x: Tensor, dim: int | None = None, dtype: Any = None, *, axis: int | None = None) -> Tensor:
    """log softmax along ``dim`` (numpy's name ``axis`` works too), computed in ``dtype`` when given."""
    return (x if dtype is None else x.astype(dtype)).log_softmax(softmax_dim(x, dim, axis))


def softmax(x: Tensor, dim: int | None = None, dtype: Any = None, *, axis: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (numpy's name ``axis`` works too), computed in ``dtype`` when given."""
    return (x if dtype is None else x.astype(dtype)).softmax(softmax_dim(x, dim, axis))


def layer_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing dims ``normalized_shape`` of x (..., *normalized_shape), then scale and shift."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    return norm.layer_norm(x, shape, weight, bias, eps)


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Per-channel normalisation of x (N, C, ...); ``training`` uses batch statistics and updates the running ones."""
    return norm.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:  # noqa: A002 - torch's name
    """Rows of ``weight`` (num_embeddings, dim) picked by the integer ``input`` (any shape) -> (*input.shape, dim).

    The row ``padding_idx`` gets no gradient.
    """
    idx = input.data if isinstance(input, Tensor) else weight.xp.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer tensor (e.g. int64), got dtype {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (int(idx.min()) < -n or int(idx.max()) >= n):
        raise IndexError(f"embedding: index out of range for {n} embeddings (got indices from {int(idx.min())} "
                         f"to {int(idx.max())})")
    out = weight[idx]
    if padding_idx is None:
        return out
    keep = Tensor((idx != padding_idx % n)[..., None], device=weight.device)
    return where(keep, out, weight.detach()[idx])


def check_dropout_p(p: float) -> float:
    """``p`` as a float in [0, 1] (torch's range; 1 drops everything); a ValueError naming it otherwise."""
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    return float(p)


def linear(x: Input, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x (..., in) @ weight (out, in).T + bias (out,) -> (..., out).

    ``x`` may be a sparse CSR batch (N, in) (e.g. a ``CSRMatrix`` minibatch, on any device): then only its
    stored entries are read, the result is a dense (N, out) Tensor, and the weight gradient comes from the
    columns present in the batch.
    """
    if is_csr(x):
        return sparse.linear(x, weight, bias)
    return dense.linear(x, weight, bias)


def dropout(x: Input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Input:
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by 1/(1-p).

    The mask comes from the device's seeded generator (``manual_seed`` makes it repeatable);
    in evaluation (``training=False``) or with p = 0 this is the identity. A sparse CSR batch stays
    sparse: each stored entry is dropped with probability ``p`` (a :class:`CSRBatch` of the rest comes back).
    ``inplace`` is accepted for torch's signature; the result is always a new tensor.
    """
    p = check_dropout_p(p)
    if not training or p == 0.0:
        return x
    if is_csr(x):
        device = backend.device_of(x.data)
        keep = rand(len(x.indices), device=device).data >= p
        return sparse.dropout(x, keep, p)
    mask = (rand(x.shape, dtype=x.dtype, device=x.device).data >= p).astype(x.dtype)
    if p < 1.0:  # p = 1 keeps nothing: x * 0, as torch (a nan or inf element gives nan)
        mask *= 1.0 / (1.0 - p)
    return x * Tensor(mask, device=x.device)


def reduce_loss(losses: Tensor, reduction: str) -> Tensor:
    """Mean, sum or keep per-element ``losses``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return losses if reduction == "none" else losses.mean() if reduction == "mean" else losses.sum()


def _target(input: Tensor, target: TensorLike, raw: bool = False) -> Tensor:  # noqa: A002
    """``target`` as a Tensor (``raw``: keeping an array's own dtype, else as an operand of ``input``). An array the
    Tensor would share becomes a private copy when a graph is recorded: the version check cannot see a write into a
    raw numpy / cupy array made before backward, and such a write must not change the gradient."""
    if isinstance(target, Tensor):
        return target
    t = Tensor(backend.to_device(target, input.device)) if raw else as_tensor(target, like=input)
    if is_grad_enabled() and input.requires_grad and (t.data is target or t.data.base is target):
        return Tensor(t.data.copy(), device=t.device)
    return t


def _same_shape(op: str, input: Tensor, target: TensorLike) -> Tensor:  # noqa: A002
    target = _target(input, target)
    check_devices(op, input, target)
    if target.shape != input.shape:
        raise ValueError(f"{op}: target shape {target.shape} must equal input shape {input.shape}")
    return target


def mse_loss(input: Tensor, target: TensorLike, reduction: str = "mean") -> Tensor:  # noqa: A002 - torch's name
    """(input - target)^2, reduced; the shapes must match."""
    d = input - _same_shape("mse_loss", input, target)
    return reduce_loss(d * d, reduction)


def l1_loss(input: Tensor, target: TensorLike, reduction: str = "mean") -> Tensor:  # noqa: A002
    """|input - target|, reduced; the shapes must match."""
    return reduce_loss((input - _same_shape("l1_loss", input, target)).abs(), reduction)


def binary_cross_entropy(input: Tensor, target: TensorLike, weight: TensorLike | None = None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """-[y log p + (1 - y) log(1 - p)] for probabilities p = ``input`` in [0, 1]; each log is clamped at -100
    as in torch. ``weight`` rescales each element's loss (broadcast to the input's shape)."""
    target = _same_shape("binary_cross_entropy", input, target)
    if weight is None:
        return fused.binary_cross_entropy(input, target, reduction)
    return reduce_loss(fused.binary_cross_entropy(input, target, "none") * as_tensor(weight, like=input), reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: TensorLike, weight: TensorLike | None = None,  # noqa: A002
                                     reduction: str = "mean", pos_weight: TensorLike | None = None) -> Tensor:
    """BCE of sigmoid(input) against ``target``, stable for any logit. ``weight`` rescales each element's loss;
    ``pos_weight`` (broadcast along the last dim) weighs the positive term: -[w_pos y log s + (1 - y) log(1 - s)]."""
    target = _target(input, target, raw=True)
    if weight is None and pos_weight is None:
        return fused.binary_cross_entropy_with_logits(input, target, reduction)
    if pos_weight is None:
        losses = fused.binary_cross_entropy_with_logits(input, target, "none")
    else:  # log s = -softplus(-z), log(1 - s) = -softplus(z)
        y = _same_shape("binary_cross_entropy_with_logits", input, target)
        losses = (-input).softplus() * y * as_tensor(pos_weight, like=input) + input.softplus() * (1 - y)
    return reduce_loss(losses if weight is None else losses * as_tensor(weight, like=input), reduction)


def _class_last(op: str, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor, tuple[int, ...]]:  # noqa: A002
    """Scores (N, C, d1, ...) and targets (N, d1, ...) as (M, C) and (M,) rows (probability targets (M, C)),
    with the shape a ``reduction="none"`` result takes; (C,) scores with a 0-d target become one row."""
    if input.ndim == 0:
        raise ValueError(f"{op}: expected input of shape (N, C) or (N, C, d1, ...), got a 0-d tensor")
    probabilities = target.dtype.kind == "f"
    if input.ndim == 1:
        return input.unsqueeze(0), target.unsqueeze(0), ()
    batch_shape = (input.shape[0], *input.shape[2:])
    expected = input.shape if probabilities else batch_shape
    if target.shape != expected:
        hint = "; class indices must be an integer tensor" if probabilities else ""
        raise ValueError(f"{op}: target shape {target.shape} does not match input shape {input.shape} (expected "
                         f"{expected} for {'probabilities' if probabilities else 'class indices'}{hint})")
    if input.ndim == 2:
        return input, target, batch_shape
    c = input.shape[1]
    perm = (0, *range(2, input.ndim), 1)
    rows = movement.transpose(input, perm).reshape(-1, c)
    target = movement.transpose(target, perm).reshape(-1, c) if probabilities else target.reshape(-1)
    return rows, target, batch_shape


def _class_weights(op: str, weight: TensorLike | None, input: Tensor) -> Tensor | None:  # noqa: A002
    if weight is None:
        return None
    w = as_tensor(weight, like=input).detach()
    w = w if w.dtype == input.dtype else w.astype(input.dtype)  # the loss keeps the scores' dtype
    if w.shape != (input.shape[1],):
        raise ValueError(f"{op}: weight must have one entry per class, shape ({input.shape[1]},), got {w.shape}")
    return w


def _weighted_nll(op: str, log_probs: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int,
                  reduction: str, label_smoothing: float = 0.0) -> Tensor:
    """NLL (and torch's label-smoothing term) of log-probabilities (M, C), class targets (M,), class weights and
    ignored targets: both means divide by the total weight of the targets that count (their number when
    unweighted), as torch does."""
    xp, t = log_probs.xp, target.data
    m, c = log_probs.shape
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= c))
    if bool(bad.any()):
        raise ValueError(f"{op}: class targets must lie in [0, {c}) (or equal ignore_index={ignore_index}), got "
                         f"{backend.to_numpy(t[bad])[:5].tolist()}")
    safe = xp.where(keep, t, 0)
    w_t = keep.astype(log_probs.dtype) if weight is None else weight.data[safe] * keep
    picked = log_probs[xp.arange(m), safe]
    counts = Tensor(keep, device=log_probs.device)  # where, not * 0: an ignored row's -inf must not make a NaN
    zero = Tensor(xp.zeros((), dtype=log_probs.dtype), device=log_probs.device)
    losses = where(counts, -picked * Tensor(w_t, device=log_probs.device), zero)
    total = float(w_t.sum())

    def reduced(values: Tensor) -> Tensor:
        if reduction == "none":
            return values
        return values.sum() if reduction == "sum" else values.sum() / total

    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    out = reduced(losses)
    if label_smoothing:
        per_class = log_probs if weight is None else log_probs * weight
        smooth = where(counts, -per_class.sum(1), zero)
        out = out * (1 - label_smoothing) + reduced(smooth) * (label_smoothing / c)
    return out


def _int_targets(op: str, input: Tensor, target: TensorLike) -> Tensor:  # noqa: A002
    t = _target(input, target, raw=True)
    check_devices(op, input, t)
    return t


def cross_entropy(input: Tensor, target: TensorLike, weight: TensorLike | None = None,  # noqa: A002
                  size_average: None = None, ignore_index: int = -100, reduce: None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of scores (N, C) or (N, C, d1, ...) against class indices (N,) / (N, d1, ...) or class
    probabilities (input's shape), as ``torch.nn.functional.cross_entropy``.

    ``weight`` (C,) weighs each class; targets equal to ``ignore_index`` count for nothing (the mean is over the
    weight of the others); ``label_smoothing`` eps mixes the target with the uniform distribution: (1 - eps) y + eps/C.
    (``size_average``/``reduce`` are torch's deprecated arguments and must stay None.)
    """
    reject_legacy_args("cross_entropy", size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    rows, t, shape = _class_last("cross_entropy", input, _int_targets("cross_entropy", input, target))
    weight = _class_weights("cross_entropy", weight, rows)
    if t.dtype.kind == "f":  # class probabilities
        if ignore_index >= 0:  # torch's check (a negative one, as the default -100, is let pass)
            raise ValueError(f"cross_entropy: ignore_index={ignore_index} is not supported for class-probability "
                             "(float) targets")
        c = rows.shape[1]
        y = t if not label_smoothing else t * (1 - label_smoothing) + label_smoothing / c
        log_probs = rows.log_softmax(1)
        per_class = log_probs * y if weight is None else log_probs * y * weight
        losses = -per_class.sum(1)
        return reduce_loss(losses, reduction).reshape(shape) if reduction == "none" else reduce_loss(losses, reduction)
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices or float probabilities, got {t.dtype}")
    if weight is None and not label_smoothing and not bool((t.data == ignore_index).any()):
        out = fused.cross_entropy(rows, t, reduction)  # the fused kernel: one pass, softmax - onehot backward
    else:
        out = _weighted_nll("cross_entropy", rows.log_softmax(1), t, weight, ignore_index, reduction, label_smoothing)
    return out.reshape(shape) if reduction == "none" else out


def nll_loss(input: Tensor, target: TensorLike, weight: TensorLike | None = None,  # noqa: A002
             size_average: None = None, ignore_index: int = -100, reduce: None = None,
             reduction: str = "mean") -> Tensor:
    """-input[target] for log-probabilities (N, C) or (N, C, d1, ...) and class indices, with torch's ``weight``
    and ``ignore_index`` (the mean is over the weight of the targets that count)."""
    reject_legacy_args("nll_loss", size_average, reduce)
    rows, t, shape = _class_last("nll_loss", input, _int_targets("nll_loss", input, target))
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: targets must be integer class indices, got dtype {t.dtype}")
    weight = _class_weights("nll_loss", weight, rows)
    if weight is None and not bool((t.data == ignore_index).any()):
        out = fused.nll_loss(rows, t, reduction)
    else:
        out = _weighted_nll("nll_loss", rows, t, weight, ignore_index, reduction)
    return out.reshape(shape) if reduction == "none" else out


def reject_legacy_args(op: str, size_average: None, reduce: None) -> None:
    if size_average is not None or reduce is not None:
        raise ValueError(f"{op}: size_average and reduce are deprecated in torch and not supported; use reduction=")


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) from the seeded generator; differentiable in mu, logvar."""
    if mu.shape != logvar.shape:
        raise ValueError(f"reparameterize: mu {mu.shape} and logvar {logvar.shape} must have the same shape")
    eps = randn(mu.shape, dtype=mu.dtype, device=mu.device)
    return mu + (logvar * 0.5).exp() * eps


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per example: -1/2 sum(1 + logvar - mu^2 - exp(logvar)) over the last axis."""
    if mu.shape != logvar.shape:
        raise ValueError(f"gaussian_kl: mu {mu.shape} and logvar {logvar.shape} must have the same shape")
    return (1 + logvar - mu * mu - logvar.exp()).sum(axis=-1) * -0.5


def bernoulli_log_likelihood(logits: Tensor, x: TensorLike) -> Tensor:
    """log p(x | logits) of independent Bernoulli pixels, summed over the last axis: one value per example."""
    return -binary_cross_entropy_with_logits(logits, x, reduction="none").sum(axis=-1)


__all__ = [
    "CSRBatch", "batch_norm", "bernoulli_log_likelihood", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "conv2d", "cross_entropy", "dropout", "embedding", "gaussian_kl", "gelu", "is_csr", "l1_loss", "layer_norm",
    "linear", "log_softmax", "max_pool2d", "mse_loss", "nll_loss", "one_hot", "reduce_loss", "relu", "reparameterize",
    "sigmoid", "silu", "softmax", "softplus", "tanh",
]
