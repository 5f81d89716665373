"""Stateless layers and losses (``import tinygrad_adam.nn.functional as F``), thin wrappers over ``ops``.

Images are NCHW. Losses take ``reduction="mean" | "sum" | "none"``. The VAE pieces follow
Kingma & Welling (2014): ``reparameterize`` draws z = mu + exp(logvar / 2) * eps, ``gaussian_kl``
is KL(N(mu, sigma^2) || N(0, I)) in closed form, and ``bernoulli_log_likelihood`` is log p(x | z)
for a Bernoulli decoder given its logits.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..creation import rand, randn
from ..ops import linear as dense
from ..ops import sparse
from ..ops.conv import conv2d as conv2d
from ..ops.loss import REDUCTIONS
from ..ops.loss import binary_cross_entropy_with_logits as binary_cross_entropy_with_logits
from ..ops.loss import cross_entropy as cross_entropy
from ..ops.loss import nll_loss as nll_loss
from ..ops.pool import max_pool2d as max_pool2d
from ..ops.sparse import CSRBatch as CSRBatch
from ..ops.sparse import is_csr as is_csr
from ..tensor import Tensor, TensorLike, as_tensor, check_devices

Input = Any  # a Tensor, or a CSR batch (an object with indptr, indices, data and shape; see ops/sparse.py)


def relu(x: Tensor) -> Tensor:
    return x.relu()


def softplus(x: Tensor, beta: float = 1.0) -> Tensor:
    """log(1 + exp(beta x)) / beta."""
    return x.softplus(beta)


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return x.log_softmax(axis)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return x.softmax(axis)


def check_dropout_p(p: float) -> float:
    """``p`` as a float in [0, 1); a ValueError naming it otherwise."""
    if not 0.0 <= float(p) < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
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


def dropout(x: Input, p: float = 0.5, training: bool = True) -> Input:
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by 1/(1-p).

    The mask comes from the device's seeded generator (``manual_seed`` makes it repeatable);
    in evaluation (``training=False``) or with p = 0 this is the identity. A sparse CSR batch stays
    sparse: each stored entry is dropped with probability ``p`` (a :class:`CSRBatch` of the rest comes back).
    """
    p = check_dropout_p(p)
    if not training or p == 0.0:
        return x
    if is_csr(x):
        device = backend.device_of(x.data)
        keep = rand(len(x.indices), device=device).data >= p
        return sparse.dropout(x, keep, p)
    mask = (rand(x.shape, dtype=x.dtype, device=x.device).data >= p).astype(x.dtype)
    mask *= 1.0 / (1.0 - p)
    return x * Tensor(mask, device=x.device)


def reduce_loss(losses: Tensor, reduction: str) -> Tensor:
    """Mean, sum or keep per-element ``losses``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return losses if reduction == "none" else losses.mean() if reduction == "mean" else losses.sum()


def mse_loss(input: Tensor, target: TensorLike, reduction: str = "mean") -> Tensor:  # noqa: A002 - torch's name
    """(input - target)^2, reduced; the shapes must match."""
    target = as_tensor(target, like=input)
    check_devices("mse_loss", input, target)
    if target.shape != input.shape:
        raise ValueError(f"mse_loss: target shape {target.shape} must equal input shape {input.shape}")
    d = input - target
    return reduce_loss(d * d, reduction)


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
    "CSRBatch", "bernoulli_log_likelihood", "binary_cross_entropy_with_logits", "conv2d", "cross_entropy", "dropout",
    "gaussian_kl", "is_csr", "linear", "log_softmax", "max_pool2d", "mse_loss", "nll_loss", "reduce_loss", "relu",
    "reparameterize", "sigmoid", "softmax", "softplus", "tanh",
]
