"""Fused losses: each computes per-element losses and its gradient in one op, then reduces.

- ``cross_entropy``: log-softmax + negative log-likelihood; backward is softmax minus one-hot.
- ``nll_loss``: negative log-likelihood of given log-probabilities.
- ``binary_cross_entropy_with_logits``: (1 - y) z - min(z, 0) + log(1 + exp(-|z|)), stable for any |z|;
  backward sigmoid(z) - y.
- ``binary_cross_entropy``: the same loss from probabilities, logs clamped at -100 as in torch.
- ``smooth_l1_loss`` (and Huber): quadratic near 0, linear beyond; ``kl_div``: pointwise KL divergence.

``reduction`` is ``"mean"`` (over all elements), ``"sum"`` or ``"none"``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Sequence

import numpy

from .. import backend
from ..autograd import is_grad_enabled, no_grad
from ..tensor import Array, Tensor, TensorLike, check_devices, record
from .activation import logsigmoid
from .elementwise import (
    broadcast_shape,
    cast,
    exp_neg_abs,
    ignore_fp_errors,
    log1p_small,
    minimum,
    operands,
    sigmoid_array,
    unbroadcast,
    where,
)
from .factor import ArgumentError
from .reduce import float_input, opmath, quiet, rounded, shifted_exp

REDUCTIONS = ("mean", "sum", "none")


class ClassTargetError(IndexError, ValueError):
    """A class target outside [0, C): torch raises IndexError; also the ValueError ours raised before."""


def deprecated_mean(reduction: str) -> str:
    """torch's old spelling ``reduction="elementwise_mean"`` read as "mean", with a deprecation warning."""
    if isinstance(reduction, str) and reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated: pass reduction='mean' (same result).",
                      UserWarning, stacklevel=3)
        return "mean"
    return reduction


class NotDifferentiableError(ValueError, RuntimeError):
    """An argument that a loss has no derivative for requires grad: torch's RuntimeError, also the ValueError ours
    raised before."""


def not_differentiable(op: str, name: str, t: object) -> None:
    """Raise where ``t``, a tensor, requires grad while grad mode is on, as torch does for a loss argument it has
    no derivative for (class weights, pos_weight, soft_margin_loss's target); under ``no_grad`` it is taken."""
    if isinstance(t, Tensor) and t.requires_grad and is_grad_enabled():
        raise NotDifferentiableError(f"{op}: not differentiable with respect to {name} (as in torch); pass "
                                     f"{name}.detach(), or compute the loss under no_grad()")


BCE_EPS = float(numpy.float32(1e-12))  # torch's EPSILON: the BCE gradient clamp, cosine_embedding_loss's norm term


def record_loss(op: str, losses: Array, parents: tuple[Tensor, ...], reduction: str,
                grads: Callable[[Array], Sequence[Array | None]]) -> Tensor:
    """Reduce per-element ``losses`` and record the op; ``grads(gl)`` maps the gradient of each element loss
    (``losses``' shape) to one gradient per parent."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    xp = backend.get_array_module(losses)
    if reduction == "none":
        return record(op, losses, parents, grads)
    n = losses.dtype.type(losses.size if reduction == "mean" else 1)
    with quiet(xp):  # the mean of nothing is 0 / 0 = nan, as in PyTorch
        out = xp.asarray(losses.sum() / n)

    def backward(g: Array) -> Sequence[Array | None]:
        with quiet(xp):
            g = g / n
        return grads(xp.broadcast_to(g, losses.shape))
    return record(op, out, parents, backward)


def class_targets(op: str, scores: Tensor, targets: TensorLike) -> Array:
    """Integer class indices (N,) for scores (N, C), on the scores' device; errors name the bad shapes/values.

    A private copy when a graph is recorded: the backward reads the targets, and the version check does not see
    them (they are no parent), so a write into them before backward must not reach the gradient."""
    if scores.ndim != 2:
        raise ValueError(f"{op}: expected input of shape (N, C), got shape {scores.shape}")
    if isinstance(targets, Tensor):
        check_devices(op, scores, targets)
        t = targets._data
    else:
        t = backend.to_device(targets, scores.device)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: targets must be integer class indices, got dtype {t.dtype}")
    n, c = scores.shape
    if t.shape != (n,):
        raise ValueError(f"{op}: targets must have shape ({n},) to match input {scores.shape}, got {t.shape}")
    bad = (t < 0) | (t >= c)
    if bool(bad.any()):
        raise ClassTargetError(f"{op}: class targets must lie in [0, {c}), got {backend.to_numpy(t[bad])[:5].tolist()}")
    return t.copy() if is_grad_enabled() and scores.requires_grad else t


def cross_entropy(logits: Tensor, targets: TensorLike, reduction: str = "mean") -> Tensor:
    """-log softmax(logits)[target] for logits (N, C) and integer targets (N,)."""
    float_input("cross_entropy", logits)  # (torch has no integer log-softmax)
    t = class_targets("cross_entropy", logits, targets)
    xp, rows = logits.xp, logits.xp.arange(logits.shape[0])
    _, d, e, s = shifted_exp(logits._data, 1, finite_shift=False)  # d = x - max, e = exp(d), s = sum(e): (N, 1)
    with quiet(xp):
        losses = -(d[rows, t] - xp.log(s[:, 0]))  # -log_softmax[t], its two parts kept apart (-(0) = -0 as torch)

    def grads(gl: Array) -> tuple[Array]:
        with quiet(xp):
            p = e / s  # softmax
            if bool(xp.isfinite(gl).all()):
                p[rows, t] -= 1  # (p - onehot) g: the subtraction is exact near p = 1
                p *= gl[:, None]
            else:  # torch's order, p g - onehot g, so an inf g gives its inf - inf = nan at the target
                p *= gl[:, None]
                p[rows, t] -= gl
        return (p,)
    return record_loss("cross_entropy", losses, (logits,), reduction, grads)


def nll_loss(log_probs: Tensor, targets: TensorLike, reduction: str = "mean") -> Tensor:
    """-log_probs[target] for log-probabilities (N, C) and integer targets (N,)."""
    t = class_targets("nll_loss", log_probs, targets)
    xp, rows = log_probs.xp, log_probs.xp.arange(log_probs.shape[0])

    def grads(gl: Array) -> tuple[Array]:
        full = xp.zeros(log_probs.shape, dtype=gl.dtype)
        full[rows, t] = -gl
        return (full,)
    return record_loss("nll_loss", -log_probs._data[rows, t], (log_probs,), reduction, grads)


def binary_cross_entropy_with_logits(logits: Tensor, targets: TensorLike, reduction: str = "mean") -> Tensor:
    """-[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] elementwise, for logits z and targets y of one shape."""
    float_input("binary_cross_entropy_with_logits", logits)  # (integer targets are taken, as binary_cross_entropy)
    y = targets if isinstance(targets, Tensor) else Tensor(backend.to_device(targets, logits.device))
    check_devices("binary_cross_entropy_with_logits", logits, y)
    if y.shape != logits.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: targets shape {y.shape} must equal input shape "
                         f"{logits.shape}")
    # the loss has the targets' dtype when they are floating, as in PyTorch (its in-place arithmetic on 1 - y); the
    # logits' gradient is formed from the logits as given, in the wider dtype (torch's derivative formula)
    dtype = y.dtype if y.dtype.kind == "f" else logits.dtype
    given, y = logits, cast(y, dtype, logits)
    xp, z, yd = logits.xp, cast(logits, dtype, logits)._data, y._data
    with quiet(xp):  # (1 - y) z - log sigmoid(z), as PyTorch (so also its inf/nan: inf at z = inf, y = 0)
        losses = (1 - yd) * z  # the large parts first, so the small log1p term is not rounded away
        losses -= xp.minimum(z, 0)
    losses += log1p_small(exp_neg_abs(z))

    def grads(gl: Array) -> tuple[Array | None, Array | None]:
        gz = None
        if given.requires_grad:
            gz = sigmoid_array(given._data) - yd
            gz *= gl
        gy = -z * gl if y.requires_grad else None
        return gz, gy
    return record_loss("binary_cross_entropy_with_logits", losses, (given, y), reduction, grads)


def binary_cross_entropy(probs: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """-[y log p + (1 - y) log(1 - p)] for probabilities p, each log clamped at -100 as torch does (so p = 0 or 1
    gives a finite loss); backward (p - y) / max(p (1 - p), eps), torch's formula and eps (1e-12 in float32). p and
    y outside [0, 1], or nan, raise ArgumentError (torch's RuntimeError, also a ValueError)."""
    check_devices("binary_cross_entropy", probs, targets)
    float_input("binary_cross_entropy", probs)
    xp, p, y = probs.xp, probs._data, targets._data.astype(probs.dtype, copy=False)
    if not bool(((p >= 0) & (p <= 1)).all()):  # (a nan is refused too, as torch)
        raise ArgumentError("binary_cross_entropy: input values must be probabilities in [0, 1] (apply sigmoid, or "
                            "use binary_cross_entropy_with_logits on the raw scores)")
    if not bool(((y >= 0) & (y <= 1)).all()):
        raise ArgumentError("binary_cross_entropy: target values must lie in [0, 1] (as torch); use "
                            "binary_cross_entropy_with_logits for other targets")
    with xp.errstate(divide="ignore") if hasattr(xp, "errstate") else contextlib.nullcontext():  # log(0) = -inf
        log_p, log_q = xp.maximum(xp.log(p), -100), xp.maximum(xp.log1p(-p), -100)
    losses = -(y * log_p + (1 - y) * log_q)

    def grads(gl: Array) -> tuple[Array | None, Array | None]:
        gp = None
        if probs.requires_grad:  # float16 in float32, rounded once, as torch's (with a mean's 1 / N, gl (p - y)
            (pw, half), yw, gw = opmath(p), opmath(y)[0], opmath(gl)[0]  # in float16 went subnormal: 9 units off)
            gp = rounded(gw * (pw - yw) / xp.maximum(pw * (1 - pw), BCE_EPS), half)
        with quiet(xp):  # -logit(p) unclamped, as torch's: +-inf at p = 0 or 1
            gy = (gl * (xp.log1p(-p) - xp.log(p))).astype(targets.dtype, copy=False) if targets.requires_grad else None
        return gp, gy
    return record_loss("binary_cross_entropy", losses.astype(p.dtype, copy=False), (probs, targets), reduction, grads)


def smooth_l1_loss(input: Tensor, target: Tensor, beta: float, reduction: str = "mean",  # noqa: A002
                   huber: bool = False) -> Tensor:
    """Quadratic for |d| < beta, linear beyond, d = input - target (same shapes, beta > 0), as torch's kernels:
    smooth L1 is 0.5 d^2 / beta or |d| - 0.5 beta with gradient clip(d / beta, -1, 1); ``huber`` (delta = beta) is
    0.5 d^2 or delta (|d| - 0.5 delta) with gradient clip(d, -delta, delta). A nan d gives a nan gradient."""
    op = "huber_loss" if huber else "smooth_l1_loss"
    # torch's huber keeps the input's dtype; smooth L1 promotes the two
    a, b = (input, cast(target, input.dtype, input)) if huber else operands(op, input, target)
    float_input(op, a)  # (two integer operands, or huber's integer input: torch has no integer kernel)
    xp = a.xp
    wide = huber and target.dtype.kind == "f" and target.dtype.itemsize > a.dtype.itemsize
    d = a._data.astype(target.dtype) - target._data if wide else a._data - b._data  # (torch computes huber with a
    t = d.dtype.type  # wider target in that dtype, rounding the loss and its gradient once)
    z = xp.abs(d)
    if huber:
        quadratic, linear, slope = z * z * t(0.5), (z - t(0.5 * beta)) * t(beta), t(beta)
    else:
        quadratic, linear, slope = z * z * t(0.5) / t(beta), z - t(0.5 * beta), t(1)
    losses = xp.where(z < beta, quadratic, linear).astype(a.dtype, copy=False)

    def grads(gl: Array) -> tuple[Array | None, Array | None]:
        inner = gl * d if huber else gl * d / t(beta)
        gd = xp.where(d < -beta, -gl * slope, xp.where(d > beta, gl * slope, inner)).astype(a.dtype, copy=False)
        return (gd if a.requires_grad else None), (-gd if b.requires_grad else None)
    return record_loss(op, losses, (a, b), reduction, grads)


def kl_div(input: Tensor, target: Tensor, reduction: str = "mean", log_target: bool = False) -> Tensor:  # noqa: A002
    """Pointwise KL divergence of log-probabilities ``input`` from ``target`` (broadcast together):
    xlogy(t, t) - t x (0 where t = 0), or exp(t) (t - x) for a ``log_target``. The gradients are those of torch's
    composite form, so the target's gradient at t = 0 is nan (t / t) as in torch."""
    for x in (input, target):  # torch refuses an integer or bool operand, even beside a floating one
        if isinstance(x, Tensor):
            float_input("kl_div", x)
    a, y = operands("kl_div", input, target, floating=True)
    xp = a.xp
    shape = broadcast_shape("kl_div", a.shape, y.shape)
    x, t = xp.broadcast_to(a._data, shape), xp.broadcast_to(y._data, shape)
    with quiet(xp):
        if log_target:
            e = xp.exp(t)
            losses = e * (t - x)
        else:
            losses = xp.where(t == 0, t.dtype.type(0), t * xp.log(t))  # xlogy(t, t); nan stays nan
            losses -= t * x

    def grads(gl: Array) -> tuple[Array | None, Array | None]:
        gx = gy = None
        with quiet(xp):
            if a.requires_grad:
                gx = unbroadcast(-gl * (e if log_target else t), a.shape)
            if y.requires_grad:
                if log_target:
                    gy = gl * (t - x) * e + gl * e
                else:
                    gy = gl * xp.where(t != 0, xp.log(t), t.dtype.type(0)) + gl * t / t - gl * x
                gy = unbroadcast(gy, y.shape)
        return gx, gy
    return record_loss("kl_div", losses, (a, y), reduction, grads)


# Margin, embedding and likelihood losses. All but soft margin are composed of differentiable ops exactly as torch
# composes them (or as its kernels compute them), so the gradients, at ties and for nan/inf too, are torch's. Each
# returns the unreduced losses; ``nn.functional`` reduces them.

def _same_ndim(op: str, *tensors: Tensor) -> None:
    if len({t.ndim for t in tensors}) > 1:
        raise ValueError(f"{op}: the inputs differ in how many dims they have (they broadcast only within "
                         "one rank): shapes "
                         f"{', '.join(str(t.shape) for t in tensors)}")


def margin_ranking_loss(x1: Tensor, x2: Tensor, target: Tensor, margin: float) -> Tensor:
    """max(0, -y (x1 - x2) + margin) elementwise; the three inputs have one ndim and broadcast together."""
    _same_ndim("margin_ranking_loss", x1, x2, target)
    return (-target * (x1 - x2) + margin).clamp(min=0)


def hinge_embedding_loss(x: Tensor, target: Tensor, margin: float) -> Tensor:
    """x where y = 1, max(0, margin - x) where y = -1 (both terms for any other y, as torch), broadcast."""
    float_input("hinge_embedding_loss", x)
    hinge = (margin - x).clamp(min=0)
    return where(target != 1, hinge, 0) + where(target != -1, x, 0)


def soft_margin_loss(x: Tensor, target: Tensor, reduction: str) -> Tensor:
    """log(1 + exp(-y x)) elementwise for y broadcast to x's shape, in x's dtype; backward torch's kernel's
    -y z / (1 + z), z = exp(-y x) (so nan where z overflows, as there). Not differentiable in y, as torch."""
    op = "soft_margin_loss"
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got {x.dtype}; convert first, e.g. input.float()")
    not_differentiable(op, "target", target)
    check_devices(op, x, target)
    if broadcast_shape(op, x.shape, target.shape) != x.shape:
        raise ValueError(f"{op}: target shape {target.shape} must broadcast to input shape {x.shape}")
    xp = x.xp
    y = xp.broadcast_to(target._data.astype(x.dtype, copy=False), x.shape)
    with ignore_fp_errors(xp):
        z = xp.exp(-y * x._data)
        losses = xp.log1p(z)

    def grads(gl: Array) -> tuple[Array]:
        with ignore_fp_errors(xp):
            return (-y * z / (1 + z) * gl,)
    return record_loss(op, losses, (x,), reduction, grads)


def multilabel_soft_margin_loss(x: Tensor, target: Tensor, weight: Tensor | None) -> Tensor:
    """-mean over the last (class) dim of y log sigmoid(x) + (1 - y) log sigmoid(-x), each class term times
    ``weight`` when given: (..., C) -> (...)."""
    if x.ndim == 0:
        raise ValueError("multilabel_soft_margin_loss: expected input of shape (C,) or (N, C), got a 0-d tensor")
    losses = -(target * logsigmoid(x) + (1 - target) * logsigmoid(-x))
    if weight is not None:
        losses = losses * weight
    return losses.sum(x.ndim - 1) / x.shape[-1]  # x's class dim, as torch: a weight of more dims adds leading ones


def cosine_embedding_loss(x1: Tensor, x2: Tensor, target: Tensor, margin: float) -> Tensor:
    """1 - cos(x1, x2) where y = 1, max(0, cos - margin) where y = -1 (0 otherwise), cos along the last dim of
    (N, D) inputs with y (N,), or of (D,) inputs with a 0-d y; torch's cos, x1.x2 / sqrt((|x1|^2 + e)(|x2|^2 + e))
    with e = 1e-12 (float32)."""
    op = "cosine_embedding_loss"
    if target.ndim > 1:
        raise ValueError(f"{op}: expected a 0-d or 1-d target, got shape {target.shape} (multi-target is not "
                         f"supported)")
    if x1.ndim != target.ndim + 1:
        raise ValueError(f"{op}: a {target.ndim}-d target expects {target.ndim + 1}-d inputs, got shapes "
                         f"{x1.shape} and {x2.shape}")
    d = target.ndim
    cos = (x1 * x2).sum(d) / (((x1 * x1).sum(d) + BCE_EPS) * ((x2 * x2).sum(d) + BCE_EPS)).sqrt()
    return where(target == 1, 1 - cos, 0) + where(target == -1, (cos - margin).clamp(min=0), 0)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p along the last dim of the broadcast inputs, torch's ``pairwise_distance``."""
    d = x1 - x2 + eps
    return d.norm(p, None if d.ndim == 0 else -1, keepdim)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float, p: float, eps: float,
                        swap: bool) -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) with torch's ``pairwise_distance`` d along the last dim; ``swap``
    replaces d(a, n) by min(d(a, n), d(p, n)). The inputs have one ndim and broadcast together."""
    _same_ndim("triplet_margin_loss", anchor, positive, negative)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return (pairwise_distance(anchor, positive, p, eps) + margin - d_neg).clamp(min=0)


def multi_margin_loss(x: Tensor, target: Array, p: int, margin: float, weight: Tensor | None) -> Tensor:
    """sum over classes j != y of max(0, margin - x[y] + x[j])^p / C (times weight[y]) for scores (N, C) and
    class indices (N,) -> (N,). A nan margin term counts as 0, as in torch's kernel."""
    float_input("multi_margin_loss", x)
    xp, c = x.xp, x.shape[1]
    z = margin - x.gather(1, Tensor(target[:, None], device=x.device)) + x
    keep = (z._data > 0) & (xp.arange(c) != target[:, None])
    h = where(Tensor(keep, device=x.device), z, 0)
    if p == 2:
        h = h * h
    if weight is not None:  # weighs the kept terms only, so an inf weight leaves 0 terms 0 (torch's kernel)
        h = h * Tensor(xp.where(keep, weight._data[target][:, None], 0), device=x.device)
    return h.sum(1) / c


def multilabel_margin_loss(x: Tensor, target: Array) -> Tensor:
    """sum over target classes j and non-target classes i of max(0, 1 - (x[j] - x[i])) / C for scores (N, C) and
    targets (N, C): the class indices before the first -1 in each row (a repeated one counts again, as in torch's
    kernel) -> (N,). A nan term counts as 0."""
    float_input("multilabel_margin_loss", x)
    xp, c = x.xp, x.shape[1]
    listed = xp.cumprod(target >= 0, axis=1).astype(bool)  # the entries before the first -1
    counts = ((target[:, :, None] == xp.arange(c)) & listed[:, :, None]).sum(1).astype(x.dtype)  # (N, C)
    is_target = counts > 0
    z = 1 - x.unsqueeze(2) + x.unsqueeze(1)  # (N, j, i)
    keep = (z._data > 0) & is_target[:, :, None] & ~is_target[:, None, :]
    h = where(Tensor(keep, device=x.device), z, 0) * Tensor(counts[:, :, None], device=x.device)
    return h.sum((1, 2)) / c


def gaussian_nll_loss(x: Tensor, target: Tensor, var: Tensor, full: bool, eps: float) -> Tensor:
    """(log v + (x - y)^2 / v) / 2 (+ log(2 pi) / 2 when ``full``), v = max(var, eps) clamped without a gradient
    through the clamp (torch's), broadcast together."""
    v = var.clone()
    with no_grad():
        v.clamp_(min=eps)
    losses = (v.log() + (x - target) ** 2 / v) * 0.5
    return losses + 0.5 * math.log(2 * math.pi) if full else losses


def poisson_nll_loss(x: Tensor, target: Tensor, log_input: bool, full: bool, eps: float) -> Tensor:
    """exp(x) - y x (``log_input``) or x - y log(x + eps), broadcast; ``full`` adds the Stirling term
    y log y - y + log(2 pi y) / 2 where y > 1."""
    losses = x.exp() - target * x if log_input else x - target * (x + eps).log()
    if full:
        stirling = target * target.log() - target + 0.5 * (2 * math.pi * target).log()
        losses = losses + stirling.masked_fill(target <= 1, 0)
    return losses
