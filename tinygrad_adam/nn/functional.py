"""Stateless layers and losses (``import tinygrad_adam.nn.functional as F``), thin wrappers over ``ops``.

Images are NCHW. Losses take ``reduction="mean" | "sum" | "none"``. The VAE pieces follow
Kingma & Welling (2014): ``reparameterize`` draws z = mu + exp(logvar / 2) * eps, ``gaussian_kl``
is KL(N(mu, sigma^2) || N(0, I)) in closed form, and ``bernoulli_log_likelihood`` is log p(x | z)
for a Bernoulli decoder given its logits.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any

import numpy

from .. import backend
from ..autograd import is_grad_enabled, no_grad
from ..creation import full, full_like, rand, randn, zeros
from ..ops import activation, elementwise, movement, norm, pool, sparse
from ..ops import index as index_op
from ..ops import inplace as inplace_op
from ..ops import linalg as linalg_op
from ..ops import linear as dense
from ..ops import loss as fused
from ..ops.conv import IntPair, check_conv, ints, pair, single, span
from ..ops.conv import conv2d as conv2d_op
from ..ops.conv import conv_transpose2d as conv_transpose2d_op
from ..ops.conv import fold as fold_op
from ..ops.conv import output_size as conv_output_size
from ..ops.conv import unfold as unfold_op
from ..ops.ctc import ctc_loss as ctc_loss
from ..ops.elementwise import where
from ..ops.factor import ArgumentError, DtypeError
from ..ops.index import one_hot as one_hot
from ..ops.loss import REDUCTIONS, deprecated_mean, not_differentiable
from ..ops.pool import max_pool2d as max_pool2d_op
from ..ops.reduce import float_input
from ..ops.resize import interpolate as interpolate
from ..ops.sample import affine_grid as affine_grid
from ..ops.sample import grid_sample as grid_sample
from ..ops.sparse import CSRBatch as CSRBatch
from ..ops.sparse import is_csr as is_csr
from ..out_arg import write_out
from ..tensor import Array, Tensor, TensorLike, as_tensor, bump_version, check_devices

Input = Any  # a Tensor, or a CSR batch (an object with indptr, indices, data and shape; see ops/sparse.py)


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    return _maybe_inplace(input, inplace, "relu", lambda a: a.relu())


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002 - torch's name
    """log(1 + exp(beta x)) / beta, and x where beta x > threshold (torch's linear cut-off; the losses built on
    softplus inside the library use the exact form everywhere)."""
    _floating_input("softplus", input)
    return elementwise.softplus(input, beta, threshold)


def _floating_input(op: str, x: Tensor) -> None:
    """torch's activation kernels that have no integer or bool version (softplus, glu) raise NotImplementedError
    (a RuntimeError) for such an input; ours computed it in float32."""
    if isinstance(x, Tensor) and x.dtype.kind not in "fc":
        raise NotImplementedError(f"{op}: not implemented for {x.dtype} tensors (as in torch); convert with .float()")


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002 - torch's name
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:  # noqa: A002 - torch's name
    return input.tanh()


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002 - torch's name
    """x Phi(x) (exact, ``approximate="none"``) or its tanh approximation (``"tanh"``)."""
    return activation.gelu(input, approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """x sigmoid(x)."""
    return _maybe_inplace(input, inplace, "silu", activation.silu)


def _maybe_inplace(x: Tensor, inplace: bool, op: str, fn: Callable[[Tensor], Tensor]) -> Tensor:
    """``fn(x)``, written into ``x`` itself when ``inplace`` (torch's ``inplace=True``, with its rules)."""
    return inplace_op.inplace(x, f"{op}_", fn) if inplace else fn(x)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """x where x > 0, else negative_slope x (gradient: the slope at 0 and for nan, as torch)."""
    return _maybe_inplace(input, inplace, "leaky_relu", lambda a: activation.leaky_relu(a, negative_slope))


def prelu(input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002 - torch's name
    """x where x > 0, else weight x; ``weight`` (1,) or (C,), one slope per channel (dim 1) of x (N, C, ...); a
    0-d or 1-D x has one channel."""
    return activation.prelu(input, weight)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """x where x > 0, else alpha (exp(x) - 1)."""
    return _maybe_inplace(input, inplace, "elu", lambda a: activation.elu(a, alpha))


def selu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """scale elu(x, alpha) with torch's constants (alpha 1.6733, scale 1.0507)."""
    return _maybe_inplace(input, inplace, "selu", activation.selu)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1))."""
    return _maybe_inplace(input, inplace, "celu", lambda a: activation.celu(a, alpha))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """x clamped to [min_val, max_val]; the gradient is 0 at both bounds (torch's convention)."""
    return _maybe_inplace(input, inplace, "hardtanh", lambda a: activation.hardtanh(a, min_val, max_val))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """min(max(x, 0), 6) = hardtanh(x, 0, 6): gradient 0 at x = 0 and x = 6, as torch."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """min(max(x + 3, 0), 6) / 6."""
    return _maybe_inplace(input, inplace, "hardsigmoid", activation.hardsigmoid)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """x min(max(x + 3, 0), 6) / 6."""
    return _maybe_inplace(input, inplace, "hardswish", activation.hardswish)


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002 - torch's name
    """log(sigmoid(x)), finite for any finite x."""
    return activation.logsigmoid(input)


def softsign(input: Tensor) -> Tensor:  # noqa: A002 - torch's name
    """x / (1 + |x|), composed as torch composes it (so +-inf gives nan, as there)."""
    return input / (input.abs() + 1)


def mish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """x tanh(softplus(x))."""
    return _maybe_inplace(input, inplace, "mish", activation.mish)


def glu(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002 - torch's name
    """a sigmoid(b) for the two halves a, b of x along ``dim`` (whose size must be even): the size halves."""
    if input.ndim == 0:
        raise ValueError("glu: does not support 0-d tensors, the halved dim must have an even size")
    _floating_input("glu", input)
    d = dim % input.ndim
    half = input.shape[d] // 2
    if input.shape[d] % 2:
        raise ValueError(f"glu: halving dimension must be even, but dim {dim} of shape {input.shape} has size "
                         f"{input.shape[d]}")
    if input.dtype == numpy.float16:  # torch's float16 roundings (its value in float32, rounded once)
        return activation.glu_half(input, d)
    lead = (slice(None),) * d
    return input[(*lead, slice(0, half))] * input[(*lead, slice(half, None))].sigmoid()


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """x where x > threshold, else ``value``."""
    return _maybe_inplace(input, inplace, "threshold", lambda a: activation.threshold(a, threshold, value))


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,  # noqa: A002 - torch's name
          inplace: bool = False) -> Tensor:
    """Randomized leaky relu (Xu et al. 2015): x where x > 0, else x times a slope drawn from U(lower, upper) per
    element while ``training`` (torch's default for this function is False), the fixed slope (lower + upper) / 2
    otherwise."""
    if not lower <= upper:
        raise ValueError(f"rrelu: expected lower <= upper, got lower={lower}, upper={upper}")
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    u = rand(input.shape, dtype=input.dtype, device=input.device)._data
    slopes = Tensor((u * (upper - lower) + lower).astype(input.dtype), device=input.device)
    return _maybe_inplace(input, inplace, "rrelu", lambda a: activation.leaky("rrelu", a, slopes))


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002 - torch's name
    """x - lambd above lambd, x + lambd below -lambd, 0 between (``lambd`` >= 0)."""
    return activation.softshrink(input, lambd)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002 - torch's name
    """x where |x| > lambd, else 0."""
    return activation.hardshrink(input, lambd)


def tanhshrink(input: Tensor) -> Tensor:  # noqa: A002 - torch's name
    """x - tanh(x)."""
    return input - input.tanh()


def softmax_dim(x: Tensor, dim: int | None, axis: int | None = None, name: str = "softmax") -> int:
    """The dim a softmax runs along: ``dim`` (or numpy's ``axis``); when neither is given, torch's legacy implicit
    choice (dim 0 for 0-, 1- and 3-d input, else dim 1), with torch's deprecation warning naming ``name``."""
    if dim is not None or axis is not None:
        return dim if axis is None else axis
    warnings.warn(f"{name} without dim= picks the dimension by itself, which is deprecated; pass dim= "
                  "explicitly", UserWarning, stacklevel=3)
    return 0 if x.ndim in (0, 1, 3) else 1


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None, *,  # noqa: A002
                axis: int | None = None) -> Tensor:
    """log softmax along ``dim`` (numpy's name ``axis`` works too), computed in ``dtype`` when given
    (``_stacklevel`` is torch's, for its implicit-dim warning; taken and unused)."""
    return (input if dtype is None else input.astype(dtype)).log_softmax(softmax_dim(input, dim, axis, "log_softmax"))


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None, *,  # noqa: A002
            axis: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (numpy's name ``axis`` works too), computed in ``dtype`` when given
    (``_stacklevel`` is torch's, for its implicit-dim warning; taken and unused)."""
    return (input if dtype is None else input.astype(dtype)).softmax(softmax_dim(input, dim, axis))


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None, *,  # noqa: A002
            axis: int | None = None) -> Tensor:
    """softmax(-x) along ``dim``, computed in ``dtype`` when given (``_stacklevel``: as ``softmax``)."""
    x = input if dtype is None else input.astype(dtype)
    return (-x).softmax(softmax_dim(x, dim, axis, "softmin"))


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,  # noqa: A002 - torch's name
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing dims ``normalized_shape`` of x (..., *normalized_shape), then scale and shift."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    return norm.layer_norm(input, shape, weight, bias, eps)


def rms_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,  # noqa: A002
             eps: float | None = None) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over the trailing dims ``normalized_shape`` of x (..., *normalized_shape), times
    ``weight`` (normalized_shape), in x's dtype; ``eps=None`` is the machine epsilon of the dtype computed in
    (float16 is computed in float32, as torch). The same operations in the same order as torch's CPU composite:
    x * rsqrt(mean(x^2) + eps), then * weight."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or len(shape) > input.ndim or tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise ValueError(f"rms_norm: normalized_shape {shape} must be the trailing dims of input shape {input.shape} "
                         f"(at least one)")
    if weight is not None and tuple(weight.shape) != shape:
        raise ValueError(f"rms_norm: weight has shape {weight.shape}, expected normalized_shape {shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"rms_norm: needs a floating-point input, got dtype {input.dtype}")
    x = input.astype("float32") if input.dtype.itemsize < 4 else input  # float16 in float32, as torch's opmath
    eps = float(numpy.finfo(x.dtype).eps) if eps is None else eps
    mean_square = (x * x).mean(tuple(range(x.ndim - len(shape), x.ndim)), keepdim=True)
    out = x * (mean_square + eps).rsqrt()
    if weight is not None:  # times the weight before the one rounding to the input's dtype, as torch's (a float16
        # input rounded twice put a quarter of the outputs an ulp off, and its weight gradient 1e-3 off)
        out = out * weight
    return out.astype(input.dtype)  # torch: the input's dtype


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,  # noqa: A002 - torch's name
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Per-channel normalisation of x (N, C, ...); ``training`` uses batch statistics and updates the running ones.
    As torch, a training call refuses eps <= 0 (a constant channel would divide by zero), an evaluation one eps < 0
    (the running variance plus eps could be negative or zero: inf or nan)."""
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm: eps has to be above 0 when training, got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm: eps must not be negative, got {eps}")
    return norm.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,  # noqa: A002
               eps: float = 1e-5) -> Tensor:
    """Normalise each of ``num_groups`` channel groups of each sample of x (N, C, ...) over the group's channels and
    positions, then scale and shift per channel (weight, bias (C,))."""
    return norm.group_norm(input, num_groups, weight, bias, eps)


def instance_norm(input: Tensor, running_mean: Tensor | None = None,  # noqa: A002
                  running_var: Tensor | None = None, weight: Tensor | None = None, bias: Tensor | None = None,
                  use_input_stats: bool = True, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample of x (N, C, ...) over its positions (``use_input_stats``, updating
    running statistics (C,) when given), or with the running statistics; then scale and shift per channel."""
    return norm.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,  # noqa: A002
                        k: float = 1.0) -> Tensor:
    """x / (k + alpha mean(x^2 over ``size`` neighbouring channels, zero padded))^beta for x (N, C, ...), the
    window starting size // 2 channels before each one, as torch."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected input of 3 or more dims (N, C, ...), got shape {input.shape}")
    if input.numel() == 0:
        return input
    c = input.shape[1]
    squares = pad(input * input, [0, 0] * (input.ndim - 2) + [size // 2, (size - 1) // 2])
    window = squares[:, :c]
    for i in range(1, size):  # the window's channels, each a whole shifted slice
        window = window + squares[:, i:i + c]
    return input / (window / size * alpha + k) ** beta


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,  # noqa: A002 - torch's name
              max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by the integer ``input`` (any shape, values in
    [0, num_embeddings)) -> (*input.shape, dim), with torch's options: the row ``padding_idx`` gets no gradient;
    ``max_norm`` first scales each picked row whose ``norm_type``-norm exceeds it down to that norm, in place in
    ``weight`` (as torch; no gradient flows through the scaling); ``scale_grad_by_freq`` divides each row's gradient
    by how often the row is picked in ``input``. ``sparse=True``: the weight's ``.grad`` is a sparse gradient of
    the picked rows (``SparseGrad``, for ``optim.SparseAdam``; ``scale_grad_by_freq`` then raises in backward, as
    torch)."""
    idx = _embedding_indices("embedding", input, weight)  # (first: it checks that the weight is 2-D)
    padding_idx = check_embedding_options("embedding", weight.shape[0], padding_idx, sparse)
    _renorm("embedding", weight, idx, max_norm, norm_type)
    return index_op.embedding(weight, idx, padding_idx, scale_grad_by_freq, bool(sparse))


def _embedding_indices(op: str, input: TensorLike, weight: Tensor) -> Any:  # noqa: A002
    """The index array of ``input``, checked as torch: integers in [0, num_embeddings) of a 2-D weight."""
    if isinstance(input, Tensor):
        check_devices(op, weight, input)
    idx = input._data if isinstance(input, Tensor) else weight.xp.asarray(input)
    if idx.dtype.kind not in "iu":  # (int16 / uint8 indices are taken: README, Differences)
        raise DtypeError(f"{op}: indices must be an integer tensor (e.g. int64), got dtype {idx.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    n = weight.shape[0]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise IndexError(f"{op}: index out of range for {n} embeddings (got indices from {int(idx.min())} "
                         f"to {int(idx.max())}; as in torch, negative indices are not allowed)")
    return idx


def check_embedding_options(op: str, num_embeddings: int, padding_idx: int | None, sparse: bool) -> int | None:
    """``padding_idx`` as a non-negative row (or None), checked to lie within ``num_embeddings`` (embedding layers
    and functions share these checks; ``sparse``, any value, only picks the gradient's layout)."""
    if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{op}: padding_idx {padding_idx} must be within num_embeddings ({num_embeddings})")
    return None if padding_idx is None else padding_idx % num_embeddings


def _renorm(op: str, weight: Tensor, idx: Any, max_norm: float | None, norm_type: float) -> None:
    """``max_norm``: the rows ``idx`` picks scaled down in place to that norm, as torch's embedding_renorm_."""
    if max_norm is None:
        return
    if not max_norm >= 0:
        raise ValueError(f"{op}: max_norm must be >= 0, got {max_norm} (torch would flip the rows' signs)")
    index_op.embedding_renorm_(weight._data, idx, float(max_norm), float(norm_type))
    bump_version(weight)  # a graph that saved the weight before and is differentiated after raises, as in torch


BAG_MODES = ("sum", "mean", "max")


def embedding_bag(input: TensorLike, weight: Tensor, offsets: TensorLike | None = None,  # noqa: A002
                  max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                  mode: str = "mean", sparse: bool = False, per_sample_weights: Tensor | None = None,
                  include_last_offset: bool = False, padding_idx: int | None = None) -> Tensor:
    """The sum, mean or max of each bag of rows of ``weight`` (num_embeddings, dim) -> (B, dim), as torch: the bags
    are the rows of a 2-D ``input`` (B, N), or of a 1-D one the runs input[offsets[i]:offsets[i + 1]], the last to
    the end (``include_last_offset``: offsets has B + 1 entries and the last bag ends at offsets[B]). An entry equal to
    ``padding_idx`` is left out of its bag; an empty bag gives zeros. ``per_sample_weights`` (input's shape; mode
    "sum" only) scales each entry's row. ``max_norm``, ``norm_type`` and ``scale_grad_by_freq`` are ``embedding``'s
    (the last not with "max"); the gradient of "max" goes to the first of tied entries."""
    if mode not in BAG_MODES:
        raise ValueError(f"embedding_bag: mode must be one of {BAG_MODES}, got {mode!r}")
    idx = _embedding_indices("embedding_bag", input, weight)  # (first: it checks that the weight is 2-D)
    if weight.dtype.kind != "f":  # (torch's kernel: floating weights only)
        raise TypeError(f"embedding_bag: the weight must be floating (float16, float32, float64), got {weight.dtype}")
    padding_idx = check_embedding_options("embedding_bag", weight.shape[0], padding_idx, sparse)
    if mode == "max" and sparse:
        raise ValueError("embedding_bag: mode='max' cannot be combined with sparse=True (as in torch)")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights go with mode='sum' alone (as in "
                                  f"torch), not mode={mode!r}")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError("embedding_bag: mode='max' does not support scale_grad_by_freq (as in torch)")
    check_devices("embedding_bag", weight, *(t for t in (offsets, per_sample_weights) if isinstance(t, Tensor)))
    xp = weight.xp
    bag, bags, inside = _bag_numbers(idx, offsets, include_last_offset, xp)
    if per_sample_weights is not None and (per_sample_weights.shape != idx.shape
                                           or per_sample_weights.dtype != weight.dtype):
        raise ValueError(f"embedding_bag: per_sample_weights must have the input's shape {idx.shape} and the "
                         f"weight's dtype {weight.dtype}, got {per_sample_weights.shape} {per_sample_weights.dtype}")
    idx = idx.reshape(-1)
    _renorm("embedding_bag", weight, idx, max_norm, norm_type)
    keep = xp.nonzero(inside & (idx != padding_idx) if padding_idx is not None else inside)[0]
    rows = index_op.embedding(weight, idx[keep], None, scale_grad_by_freq, sparse)  # (K, dim): the entries in bags
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1)[Tensor(keep, device=weight.device)].reshape(-1, 1)
    bag = bag[keep]
    counts = xp.bincount(bag, minlength=bags)
    if mode == "max":
        return _bag_max(rows, bag, counts, bags)
    total = index_op.index_add(zeros(bags, weight.shape[1], dtype=weight.dtype, device=weight.device), 0,
                               Tensor(bag, device=weight.device), rows)  # (float16 bags add in float32, as torch's)
    if mode == "sum":
        return total
    return total / Tensor(xp.maximum(counts, 1).astype(weight.dtype)[:, None], device=weight.device)


def _bag_numbers(idx: Any, offsets: TensorLike | None, include_last_offset: bool, xp: Any) -> tuple[Any, int, Any]:
    """(the bag of each entry of the flattened input, the number of bags, which entries lie in a bag: all of them when
    there is one), with torch's checks of ``offsets``."""
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: a 2-D input is a batch of equal bags, one per row; offsets must be None")
        return xp.repeat(xp.arange(idx.shape[0]), idx.shape[1]), idx.shape[0], xp.ones(idx.size, dtype=bool)
    if idx.ndim != 1:
        raise ValueError(f"embedding_bag: input must be 1-D (with offsets) or 2-D (bags as rows), got {idx.shape}")
    if offsets is None:
        raise ValueError("embedding_bag: a 1-D input needs offsets, a 1-D tensor of where each bag starts")
    starts = offsets._data if isinstance(offsets, Tensor) else xp.asarray(offsets)
    if starts.ndim != 1 or starts.dtype.kind not in "iu":
        raise ValueError(f"embedding_bag: offsets must be a 1-D integer tensor, got shape {starts.shape} and dtype "
                         f"{starts.dtype}")
    if include_last_offset and len(starts):
        if int(starts[-1]) != len(idx):  # torch 2.13 on the CPU folds what follows into the last bag
            raise ValueError(f"embedding_bag: with include_last_offset the last offset must be the input's length "
                             f"{len(idx)}, got {int(starts[-1])}")
        starts = starts[:-1]
    if len(starts) and (int(starts[0]) != 0 or bool((xp.diff(starts) < 0).any()) or int(starts[-1]) > len(idx)):
        raise ValueError(f"embedding_bag: offsets must start at 0 and not decrease, up to the input's length "
                         f"{len(idx)}, got {starts.tolist()}")
    positions = xp.arange(len(idx))
    return xp.searchsorted(starts, positions, side="right") - 1, len(starts), xp.full(len(idx), len(starts) > 0)


def _bag_max(rows: Tensor, bag: Any, counts: Any, bags: int) -> Tensor:
    """The elementwise max of each bag's rows (K, dim) -> (bags, dim), 0 for an empty bag: the rows laid out as
    (bags, longest bag, dim), the gaps -inf, and the max along the bag with the gradient to the first maximum."""
    xp = backend.get_array_module(bag)
    longest = max(int(counts.max()) if bags else 0, 1)
    first = xp.cumsum(counts) - counts  # where each bag's entries start among the rows
    layout = xp.full((bags, longest), len(bag))  # the gaps point at an extra row of -inf
    layout[bag, xp.arange(len(bag)) - first[bag]] = xp.arange(len(bag))
    padded = movement.concatenate([rows, full((1, rows.shape[1]), -float("inf"), dtype=rows.dtype,
                                                    device=rows.device)], 0)
    values = padded[Tensor(layout, device=rows.device)].max(dim=1).values
    return where(Tensor(counts[:, None] > 0, device=rows.device), values, 0.0)


def check_dropout_p(p: float) -> float:
    """``p`` as a float in [0, 1] (torch's range; 1 drops everything); a ValueError naming it otherwise."""
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    return float(p)


def linear(input: Input, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002 - torch's name
    """x (..., in) @ weight (out, in).T + bias (out,) -> (..., out).

    ``x`` may be a sparse CSR batch (N, in) (e.g. a ``CSRMatrix`` minibatch, on any device): then only its
    stored entries are read, the result is a dense (N, out) Tensor, and the weight gradient comes from the
    columns present in the batch.
    """
    if is_csr(input):
        return sparse.linear(input, weight, bias)
    return dense.linear(input, weight, bias)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y[..., o] = input1 (..., in1) @ weight[o] (in1, in2) @ input2 (..., in2) + bias[o] -> (..., out); one GEMM
    of input1 against the weight laid out (in1, out*in2), then a product with input2 summed over in2."""
    if weight.ndim != 3:
        raise ValueError(f"bilinear: weight must be 3-D (out_features, in1_features, in2_features), got {weight.shape}")
    out_f, in1, in2 = weight.shape
    if input1.ndim == 0 or input1.shape[-1] != in1 or input2.shape[:-1] != input1.shape[:-1] \
            or input2.shape[-1] != in2:
        raise ValueError(f"bilinear: inputs {input1.shape} and {input2.shape} must share their leading dimensions and "
                         f"end in in1_features={in1} and in2_features={in2} (weight {weight.shape})")
    lead = input1.shape[:-1]
    t = input1.reshape(-1, in1) @ weight.permute(1, 0, 2).reshape(in1, out_f * in2)  # (N, out*in2)
    if t.dtype == numpy.float16:  # the product and its sum in float32, rounded once, as torch's
        y = (t.float().reshape(-1, out_f, in2) * input2.float().reshape(-1, 1, in2)).sum(-1).half()
    else:
        prod = t.reshape(-1, out_f, in2) * input2.reshape(-1, 1, in2)
        y = prod.sum(-1, dtype=prod.dtype)  # (an integer sum would widen to int64; torch's won't)
    y = y.reshape(*lead, out_f)
    return y if bias is None else y + bias


def dropout(input: Input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Input:  # noqa: A002 - torch's name
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by 1/(1-p).

    The mask comes from the device's seeded generator (``manual_seed`` makes it repeatable);
    in evaluation (``training=False``) or with p = 0 this is the identity. A sparse CSR batch stays
    sparse: each stored entry is dropped with probability ``p`` (a :class:`CSRBatch` of the rest comes back).
    ``inplace`` writes the result into ``x`` (a dense tensor), with torch's in-place rules.
    """
    p = check_dropout_p(p)
    if not training or p == 0.0:
        return input
    if is_csr(input):
        device = backend.device_of(input.data)
        keep = rand(len(input.indices), device=device)._data >= p
        return sparse.dropout(input, keep, p)
    mask = _keep_mask(input, input.shape, p)
    return _maybe_inplace(input, inplace, "dropout", lambda a: a * mask)


def _keep_mask(x: Tensor, shape: tuple[int, ...], p: float) -> Tensor:
    """A dropout mask of ``shape`` (broadcast against x): 0 with probability p, else 1 / (1 - p)."""
    mask = _kept(x, shape, p)
    if p < 1.0:  # p = 1 keeps nothing: x * 0, as torch (a nan or inf element gives nan)
        mask *= 1.0 / (1.0 - p)
    return Tensor(mask, device=x.device)


def _kept(x: Tensor, shape: tuple[int, ...], p: float) -> Any:
    """An array of ``shape`` in x's dtype: 0 with probability p, else 1, from the device's seeded generator."""
    return (rand(shape, dtype=x.dtype, device=x.device)._data >= p).astype(x.dtype)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """Channel dropout of x (N, C, L) or unbatched (C, L): each channel's whole row is zeroed with probability ``p``,
    the rest scaled by 1/(1-p). The identity when not ``training``."""
    if input.ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected a 2-d (C, L) or 3-d (N, C, L) input, got shape {input.shape}")
    return _channel_dropout("dropout1d", input, 1, p, training, inplace)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """Channel dropout of x (N, C, D, H, W) or unbatched (C, D, H, W): each whole channel volume is zeroed with
    probability ``p``, the rest scaled by 1/(1-p). The identity when not ``training``."""
    if input.ndim not in (4, 5):
        raise ValueError(f"dropout3d: expected a 4-d (C, D, H, W) or 5-d (N, C, D, H, W) input, got shape "
                         f"{input.shape}")
    return _channel_dropout("dropout3d", input, 3, p, training, inplace)


def _channel_dropout(op: str, x: Tensor, spatial: int, p: float, training: bool, inplace: bool) -> Tensor:
    """Zero each channel of x (its last ``spatial`` dims are one channel's values) with probability ``p``, scale
    the rest by 1/(1-p); the identity when not ``training``."""
    p = check_dropout_p(p)
    if not training or p == 0.0:
        return x
    mask = _keep_mask(x, x.shape[:x.ndim - spatial] + (1,) * spatial, p)
    return _maybe_inplace(x, inplace, op, lambda a: a * mask)


SELU_SATURATION = 1.7580993408473766  # -(SELU's scale * alpha): the value alpha dropout sets dropped inputs to


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """Dropout for SELU networks (Klambauer et al. 2017): each element is set with probability ``p`` to SELU's
    saturation value -1.7581, then the whole affinely rescaled so that zero mean and unit variance are kept:
    a (x kept or -1.7581) + b with a = 1 / sqrt((1.7581^2 p + 1) (1 - p)), as torch. Note torch's default
    ``training=False`` for this function (the module passes its own mode)."""
    return _alpha_dropout("alpha_dropout", input, p, training, inplace, input.shape)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """``alpha_dropout`` of whole channels of x (N, C, ...): one draw per (sample, channel). As torch, a 0-d or 1-d
    input is refused only when something would be drawn (training, 0 < p < 1)."""
    if input.ndim < 2 and training and 0 < p < 1:
        raise ValueError(f"feature_alpha_dropout: expected an input with a channel dim (N, C, ...), got {input.shape}")
    shape = input.shape[:2] + (1,) * (input.ndim - 2)
    return _alpha_dropout("feature_alpha_dropout", input, p, training, inplace, shape)


def _alpha_dropout(op: str, x: Tensor, p: float, training: bool, inplace: bool, shape: tuple[int, ...]) -> Tensor:
    p = check_dropout_p(p)
    if not training or p == 0.0:
        return x
    if p == 1.0:  # as torch: everything dropped gives zeros
        return _maybe_inplace(x, inplace, op, lambda t: t * 0.0)
    keep = _kept(x, shape, p)
    a = 1.0 / math.sqrt((SELU_SATURATION ** 2 * p + 1.0) * (1.0 - p))
    scale = Tensor((keep * a).astype(x.dtype), device=x.device)
    shift = Tensor(((keep - 1) * (SELU_SATURATION * a) + SELU_SATURATION * a * p).astype(x.dtype), device=x.device)
    return _maybe_inplace(x, inplace, op, lambda t: t * scale + shift)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002 - torch's name
    """Channel dropout of x (N, C, H, W): each whole channel map is zeroed with probability ``p``, the rest scaled by
    1/(1-p). A 3-d input is taken as (N, C, L), with torch's warning; any other rank warns as torch (deprecated) and,
    as torch, drops per (N, C) entry: a 2-d (N, C) input element-wise, a 5-d one per (N, C) volume; a non-empty 1-d
    or 0-d input raises when an element would be drawn. The identity when not ``training``."""
    p = check_dropout_p(p)
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: a {input.ndim}-d input is deprecated (torch warns the same and plans to refuse "
                      "it); dropout2d drops whole channels of (C, H, W) or (N, C, H, W) inputs: use dropout for "
                      "element-wise dropout", UserWarning, stacklevel=2)
        if input.ndim < 2 and input.numel() and training and 0.0 < p < 1.0:
            raise RuntimeError(f"dropout2d: channel dropout needs at least 2 dims (N, C, ...), got shape "
                               f"{input.shape}; use dropout for a 1-d or 0-d input")
    if input.ndim == 3:
        warnings.warn("dropout2d: a 3-d input is read as (N, C, L) and each (N, C) row is dropped whole, as torch "
                      "does today; torch plans to read it as unbatched (C, H, W) instead: use dropout1d for (N, C, L)",
                      UserWarning, stacklevel=2)
    return _channel_dropout("dropout2d", input, max(input.ndim - 2, 0), p, training, inplace)


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
    if is_grad_enabled() and input.requires_grad and (t._data is target or t._data.base is target):
        return Tensor(t._data.copy(), device=t.device)
    return t


def _same_shape(op: str, input: Tensor, target: TensorLike, broadcast: bool = False) -> Tensor:  # noqa: A002
    """``target`` as a tensor of ``input``'s shape. With ``broadcast`` (the regression losses), a target that
    broadcasts to that shape without growing it ((1, 1) against (1,), (3, 4) against (4,)) is expanded, with torch's
    warning; one that would grow it ((N, 1) against (N,), an (N, N) loss in torch) raises, as does any other."""
    target = _target(input, target)
    check_devices(op, input, target)
    if target.shape == input.shape:
        return target
    if broadcast and target.ndim <= input.ndim and all(t in (1, n) for t, n in zip(target.shape[::-1],
                                                                                    input.shape[::-1])):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}) "
                      f"in {op}: it is broadcast (as torch does), which is rarely what is meant", UserWarning,
                      stacklevel=3)
        return movement.broadcast_to(target, input.shape)
    raise ValueError(f"{op}: target shape {target.shape} must equal input shape {input.shape}; torch would "
                     f"broadcast them (with a warning), rarely what is meant (e.g. (N, 1) against (N,) gives an "
                     f"(N, N) loss): make them equal, e.g. target.reshape(input.shape)")


def _sample_weighted(op: str, losses: Tensor, weight: TensorLike | None, input: Tensor,  # noqa: A002
                     reduction: str) -> Tensor:
    """``losses`` reduced; with ``weight`` (the input's shape, as torch checks) each loss is scaled by it and the
    mean is the weighted mean, sum(w l) / sum(w): torch's ``mse_loss`` / ``l1_loss`` ``weight``."""
    if weight is None:
        return reduce_loss(losses, reduction)
    w = _target(input, weight, raw=True)
    check_devices(op, input, w)
    if w.shape != input.shape:
        raise ValueError(f"{op}: weight shape {w.shape} must equal input shape {input.shape} (as torch)")
    weighted = losses * w
    return weighted.sum() / w.sum() if reduction == "mean" else reduce_loss(weighted, reduction)


def mse_loss(input: Tensor, target: TensorLike, size_average: bool | None = None,  # noqa: A002 - torch's name
             reduce: bool | None = None, reduction: str = "mean", weight: TensorLike | None = None) -> Tensor:
    """(input - target)^2, reduced (``weight``: see ``_sample_weighted``); the shapes must match."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    target = _same_shape("mse_loss", input, target, broadcast=True)
    if target.dtype == bool:  # torch's mse_loss takes a bool target as 0 / 1 (its l1_loss refuses one)
        target = target.astype(input.dtype)
    d = input - target
    return _sample_weighted("mse_loss", d * d, weight, input, reduction)


def l1_loss(input: Tensor, target: TensorLike, size_average: bool | None = None,  # noqa: A002
            reduce: bool | None = None, reduction: str = "mean", weight: TensorLike | None = None) -> Tensor:
    """|input - target|, reduced (``weight``: see ``_sample_weighted``); the shapes must match."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    d = input - _same_shape("l1_loss", input, target, broadcast=True)
    return _sample_weighted("l1_loss", d.abs(), weight, input, reduction)


def smooth_l1_loss(input: Tensor, target: TensorLike, size_average: bool | None = None, reduce: bool | None = None,  # noqa: A002
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, d = input - target (equal shapes); beta = 0 is L1."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    target = _same_shape("smooth_l1_loss", input, target, broadcast=True)
    if beta == 0:  # as torch, which takes L1 itself then (so the gradient at d = 0 or nan is 0)
        return l1_loss(input, target, reduction=reduction)
    return fused.smooth_l1_loss(input, target, beta, reduction)


def huber_loss(input: Tensor, target: TensorLike, reduction: str = "mean", delta: float = 1.0,  # noqa: A002
               weight: TensorLike | None = None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = input - target (equal shapes), in the input's
    dtype as torch; ``weight`` rescales each element's loss (broadcast to the input's shape)."""
    reduction = deprecated_mean(reduction)
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    target = _same_shape("huber_loss", input, target, broadcast=True)
    if weight is None:
        return fused.smooth_l1_loss(input, target, delta, reduction, huber=True)
    return reduce_loss(fused.smooth_l1_loss(input, target, delta, "none", huber=True) * as_tensor(weight, like=input),
                       reduction)


KL_REDUCTIONS = (*REDUCTIONS, "batchmean")


def kl_div(input: Tensor, target: TensorLike, size_average: bool | None = None, reduce: bool | None = None,  # noqa: A002
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL(target || exp(input)) pointwise for log-probabilities ``input`` and probabilities ``target`` (or
    log-probabilities with ``log_target``), broadcast together as torch does, then reduced. ``"batchmean"`` divides
    the sum by the batch size input.shape[0] (the KL divergence); ``"mean"`` divides by the element count (torch's
    value, with torch's warning)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if reduction not in KL_REDUCTIONS:
        raise ValueError(f"kl_div: reduction must be one of {KL_REDUCTIONS}, got {reduction!r}")
    if reduction == "mean" and size_average is None and reduce is None:  # (torch's legacy path skips the warning)
        warnings.warn("kl_div with reduction='mean' averages over every element, not only over the batch; the "
                      "mathematical KL divergence per sample is reduction='batchmean' (torch plans to make 'mean' "
                      "act like 'batchmean' later)",
                      UserWarning, stacklevel=2)
    target = _target(input, target, raw=True)
    check_devices("kl_div", input, target)
    if reduction != "batchmean":
        return fused.kl_div(input, target, reduction, log_target)
    total = fused.kl_div(input, target, "sum", log_target)
    return total / input.shape[0] if input.ndim else total


def binary_cross_entropy(input: Tensor, target: TensorLike, weight: TensorLike | None = None,  # noqa: A002
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """-[y log p + (1 - y) log(1 - p)] for probabilities p = ``input`` in [0, 1]; each log is clamped at -100
    as in torch. ``weight`` rescales each element's loss (broadcast to the input's shape)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    target = _same_shape("binary_cross_entropy", input, target)
    not_differentiable("binary_cross_entropy", "weight", weight)
    if weight is None:
        return fused.binary_cross_entropy(input, target, reduction)
    return reduce_loss(fused.binary_cross_entropy(input, target, "none") *
                       _elementwise_weight("binary_cross_entropy", "weight", weight, input), reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: TensorLike, weight: TensorLike | None = None,  # noqa: A002
                                     size_average: bool | None = None, reduce: bool | None = None,
                                     reduction: str = "mean", pos_weight: TensorLike | None = None) -> Tensor:
    """BCE of sigmoid(input) against ``target``, stable for any logit. ``weight`` rescales each element's loss;
    ``pos_weight`` (broadcast along the last dim) weighs the positive term: -[w_pos y log s + (1 - y) log(1 - s)]."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    target = _target(input, target, raw=True)
    not_differentiable("binary_cross_entropy_with_logits", "weight", weight)
    not_differentiable("binary_cross_entropy_with_logits", "pos_weight", pos_weight)
    if weight is None and pos_weight is None:
        return fused.binary_cross_entropy_with_logits(input, target, reduction)
    if pos_weight is None:
        losses = fused.binary_cross_entropy_with_logits(input, target, "none")
    else:  # log s = -softplus(-z), log(1 - s) = -softplus(z)
        y = _same_shape("binary_cross_entropy_with_logits", input, target)
        w_pos = _elementwise_weight("binary_cross_entropy_with_logits", "pos_weight", pos_weight, input)
        losses = (-input).softplus() * y * w_pos + input.softplus() * (1 - y)
    if weight is not None:
        losses = losses * _elementwise_weight("binary_cross_entropy_with_logits", "weight", weight, input)
    return reduce_loss(losses, reduction)


def _elementwise_weight(op: str, name: str, weight: TensorLike, input: Tensor) -> Tensor:  # noqa: A002
    """``weight`` as a tensor that broadcasts to the input's shape without growing it (torch: "output with shape
    ... doesn't match the broadcast shape"; a grown loss would be reduced over the wrong elements)."""
    w = as_tensor(weight, like=input)
    if elementwise.broadcast_shape(op, input.shape, w.shape) != input.shape:
        raise ValueError(f"{op}: {name} of shape {w.shape} does not broadcast to the input's shape {input.shape} "
                         f"without growing it")
    return w


def _class_last(op: str, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor, tuple[int, ...]]:  # noqa: A002
    """Scores (N, C, d1, ...) and targets (N, d1, ...) as (M, C) and (M,) rows (probability targets (M, C)),
    with the shape a ``reduction="none"`` result takes; (C,) scores with a 0-d target become one row."""
    if input.ndim == 0:
        raise ValueError(f"{op}: a 0-d input has no class dim; give (N, C) or (N, C, d1, ...)")
    probabilities = target.dtype.kind == "f"
    if input.ndim == 1:
        if not probabilities and target.shape == (1,):  # one sample's class as a 1-element target, as torch takes
            target = target.reshape(())  # (an M5-style `output.squeeze()` on a last batch of one)
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


def _class_weights(op: str, weight: TensorLike | None, input: Tensor,  # noqa: A002
                   differentiable: bool = False) -> Tensor | None:
    """``weight`` as a (C,) tensor of the scores' dtype. Only the class-probability cross-entropy has a derivative
    for it (as torch): elsewhere one that requires grad raises (with grad mode on) and it is detached."""
    if weight is None:
        return None
    if not differentiable:
        not_differentiable(op, "weight", weight)
    w = as_tensor(weight, like=input)
    w = w if differentiable else w.detach()
    w = w if w.dtype == input.dtype else w.astype(input.dtype)  # the loss keeps the scores' dtype
    if w.shape != (input.shape[1],):
        raise ValueError(f"{op}: weight must have one entry per class, shape ({input.shape[1]},), got {w.shape}")
    return w


def _weighted_nll(op: str, log_probs: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int,
                  reduction: str, label_smoothing: float = 0.0) -> Tensor:
    """NLL (and torch's label-smoothing term) of log-probabilities (M, C), class targets (M,), class weights and
    ignored targets: both means divide by the total weight of the targets that count (their number when
    unweighted), as torch does."""
    xp, t = log_probs.xp, target._data
    m, c = log_probs.shape
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= c))
    if bool(bad.any()):
        raise ValueError(f"{op}: class targets must lie in [0, {c}) (or equal ignore_index={ignore_index}), got "
                         f"{backend.to_numpy(t[bad])[:5].tolist()}")
    safe = xp.where(keep, t, 0)
    w_t = keep.astype(log_probs.dtype) if weight is None else weight._data[safe] * keep
    picked = log_probs[xp.arange(m), safe]
    counts = Tensor(keep, device=log_probs.device)  # where, not * 0: an ignored row's -inf must not make a NaN
    zero = Tensor(xp.zeros((), dtype=log_probs.dtype), device=log_probs.device)
    losses = where(counts, -picked * Tensor(w_t, device=log_probs.device), zero)
    total = float(w_t.sum())
    weightless = not total and not bool(w_t.any())  # every target ignored, or weighs 0: the mean is 0 / 0

    def reduced(values: Tensor) -> Tensor:
        if reduction == "none":
            return values
        if reduction == "sum":
            return values.sum()
        return values.sum() * math.nan if weightless else values.sum() / total  # nan, without numpy's warning

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
                  size_average: bool | None = None, ignore_index: int = -100, reduce: bool | None = None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of scores (N, C) or (N, C, d1, ...) against class indices (N,) / (N, d1, ...) or class
    probabilities (input's shape), as ``torch.nn.functional.cross_entropy``.

    ``weight`` (C,) weighs each class; targets equal to ``ignore_index`` count for nothing (the mean is over the
    weight of the others); ``label_smoothing`` eps mixes the target with the uniform distribution: (1 - eps) y + eps/C.
    (torch's deprecated ``size_average`` / ``reduce`` override ``reduction``, see ``legacy_reduction``.)
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    if label_smoothing > 1.0:
        raise ValueError(f"cross_entropy: label_smoothing={label_smoothing} lies outside [0, 1]")
    if not label_smoothing > 0.0:  # torch: a negative or nan label_smoothing smooths nothing
        label_smoothing = 0.0
    rows, t, shape = _class_last("cross_entropy", input, _int_targets("cross_entropy", input, target))
    weight = _class_weights("cross_entropy", weight, rows, differentiable=t.dtype.kind == "f")
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
    # float16 over (N, C, d1, ...): log_softmax (in float32, one rounding) then nll_loss, as torch there (the fused
    # kernel's float16 steps were up to 100 units off; torch's own (N, C) kernel takes float16 steps too)
    spatial_half = input.dtype == numpy.float16 and input.ndim > 2
    if weight is None and not label_smoothing and not spatial_half and not bool((t._data == ignore_index).any()):
        out = fused.cross_entropy(rows, t, reduction)  # the fused kernel: one pass, softmax - onehot backward
    else:
        out = _weighted_nll("cross_entropy", rows.log_softmax(1), t, weight, ignore_index, reduction, label_smoothing)
    return out.reshape(shape) if reduction == "none" else out


def linear_cross_entropy(input: Tensor, linear_weight: Tensor, target: TensorLike, *,  # noqa: A002 - torch's
                         linear_bias: Tensor | None = None, weight: TensorLike | None = None, reduction: str = "mean",
                         ignore_index: int | None = None, label_smoothing: float = 0.0, options: Any = None) -> Tensor:
    """``cross_entropy(linear(input, linear_weight, linear_bias), target, ...)``, torch's reference path: input
    (in,) or (N, in); linear_weight (C, in), or (C, d1, ..., dK, in) for a K-dimensional loss (batched input
    only) with linear_bias (C, d1, ..., dK); target class indices or probabilities as ``cross_entropy``'s for
    logits (N, C, d1, ..., dK). ``ignore_index=None`` is -100 for class indices and may not be set with
    probabilities. ``options`` a ``LinearCrossEntropyOptions``: torch's chunked path, the same loss computed a
    chunk of rows at a time (never the whole (N, C) logits) for 2-D input and class indices (the rest: the
    reference path, as torch)."""
    if input.ndim not in (1, 2):
        raise ValueError(f"linear_cross_entropy: input has {input.ndim} dims; it takes 1 or 2")
    if linear_weight.ndim < 2:
        raise ValueError(f"linear_cross_entropy: linear_weight has {linear_weight.ndim} dims; it needs 2 or "
                         "more")
    in_features, num_classes, out_features = input.shape[-1], linear_weight.shape[0], linear_weight.shape[1:-1]
    if linear_weight.shape[-1] != in_features:
        raise ValueError(f"linear_cross_entropy: input ends in {in_features} features but linear_weight "
                         f"in {linear_weight.shape[-1]}; the last dims must agree")
    if linear_bias is not None and tuple(linear_bias.shape) != (num_classes, *out_features):
        raise ValueError(f"linear_cross_entropy: expected linear_bias shape {(num_classes, *out_features)}, got "
                         f"{tuple(linear_bias.shape)}")
    if out_features and input.ndim == 1:
        raise ValueError(f"linear_cross_entropy: a K-dimensional loss (linear_weight {linear_weight.shape}) needs "
                         f"batched input (N, {in_features}), got {input.shape}")
    logits_shape = (*input.shape[:-1], num_classes, *out_features)
    if tuple(getattr(target, "shape", ())) == logits_shape and ignore_index is not None:
        raise ValueError("linear_cross_entropy: ignore_index has no meaning for a target of class probabilities")
    target_dtype = getattr(target, "dtype", None)
    if options is not None and (out_features or reduction not in REDUCTIONS or label_smoothing != 0.0
                                or target_dtype != numpy.int64):
        warnings.warn(f"linear_cross_entropy: ``options`` ignored, as torch's: its chunked path needs reduction in "
                      f"{REDUCTIONS}, label_smoothing == 0, int64 targets and out_features == (); got "
                      f"reduction={reduction!r}, label_smoothing={label_smoothing}, target dtype {target_dtype}, "
                      f"out_features={tuple(out_features)}", UserWarning, stacklevel=2)
        options = None
    if options is not None:
        chunked = linear_cross_entropy_chunked(input, linear_weight, linear_bias, target, weight, reduction,
                                               -100 if ignore_index is None else ignore_index, options)
        if chunked is not None:
            return chunked
    rows = math.prod(out_features, start=num_classes)
    logits = linear(input, linear_weight.reshape(rows, in_features),
                    None if linear_bias is None else linear_bias.reshape(rows))
    return cross_entropy(logits.reshape(logits_shape), target, weight, reduction=reduction,
                         ignore_index=-100 if ignore_index is None else ignore_index, label_smoothing=label_smoothing)


def nll_loss(input: Tensor, target: TensorLike, weight: TensorLike | None = None,  # noqa: A002
             size_average: bool | None = None, ignore_index: int = -100, reduce: bool | None = None,
             reduction: str = "mean") -> Tensor:
    """-input[target] for log-probabilities (N, C) or (N, C, d1, ...) and class indices, with torch's ``weight``
    and ``ignore_index`` (the mean is over the weight of the targets that count)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    float_input("nll_loss", input)  # (torch has no integer nll_loss, weighted or not)
    rows, t, shape = _class_last("nll_loss", input, _int_targets("nll_loss", input, target))
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: targets must be integer class indices, got dtype {t.dtype}")
    weight = _class_weights("nll_loss", weight, rows)
    if weight is None and not bool((t._data == ignore_index).any()):
        out = fused.nll_loss(rows, t, reduction)
    else:
        out = _weighted_nll("nll_loss", rows, t, weight, ignore_index, reduction)
    return out.reshape(shape) if reduction == "none" else out


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str,
                     elementwise_mean: bool = True) -> str:
    """The ``reduction`` torch's deprecated ``size_average`` / ``reduce`` mean (either given: they override it, with
    torch's warning): reduce=False keeps each loss ("none"), else size_average=False sums, else the mean.
    ``elementwise_mean``: the loss takes torch's deprecated ``reduction="elementwise_mean"`` as "mean" (warning)."""
    if size_average is None and reduce is None:
        return deprecated_mean(reduction) if elementwise_mean else reduction
    keep_all, summed = reduce is not None and not reduce, size_average is not None and not size_average
    legacy = "none" if keep_all else "sum" if summed else "mean"
    warnings.warn(f"size_average= and reduce= are deprecated; say reduction='{legacy}'",
                  UserWarning, stacklevel=3)
    return legacy


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _loss_inputs(op: str, input: Tensor, *others: TensorLike) -> list[Tensor]:  # noqa: A002
    """``others`` (targets and second inputs) as Tensors on ``input``'s device, keeping their dtypes."""
    tensors = [_target(input, t, raw=True) for t in others]
    check_devices(op, input, *tensors)
    return tensors


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: TensorLike, margin: float = 0.0,
                        size_average: bool | None = None, reduce: bool | None = None,
                        reduction: str = "mean") -> Tensor:
    """max(0, -y (x1 - x2) + margin) for y = 1 (x1 should rank higher) or -1; inputs of one ndim, broadcast."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction("margin_ranking_loss", reduction)
    input2, target = _loss_inputs("margin_ranking_loss", input1, input2, target)
    return reduce_loss(fused.margin_ranking_loss(input1, input2, target, margin), reduction)


def hinge_embedding_loss(input: Tensor, target: TensorLike, margin: float = 1.0, size_average: bool | None = None,  # noqa: A002
                         reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """x where y = 1, max(0, margin - x) where y = -1, for distances x and labels y (broadcast)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction("hinge_embedding_loss", reduction)
    (target,) = _loss_inputs("hinge_embedding_loss", input, target)
    return reduce_loss(fused.hinge_embedding_loss(input, target, margin), reduction)


def soft_margin_loss(input: Tensor, target: TensorLike, size_average: bool | None = None, reduce: bool | None = None,  # noqa: A002
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-y x)) for labels y = +-1 (broadcast to the input's shape), in the input's dtype."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    (target,) = _loss_inputs("soft_margin_loss", input, target)
    return fused.soft_margin_loss(input, target, reduction)


def multilabel_soft_margin_loss(input: Tensor, target: TensorLike, weight: TensorLike | None = None,  # noqa: A002
                                size_average: bool | None = None, reduce: bool | None = None,
                                reduction: str = "mean") -> Tensor:
    """Per-sample mean over the C classes (last dim) of the logistic loss of scores x against 0/1 targets y,
    -[y log sigmoid(x) + (1 - y) log sigmoid(-x)] (times ``weight`` (C,)): (N, C) -> (N,) before reduction."""
    reduction = legacy_reduction(size_average, reduce, reduction, elementwise_mean=False)  # (torch: not here)
    _check_reduction("multilabel_soft_margin_loss", reduction)
    (target,) = _loss_inputs("multilabel_soft_margin_loss", input, target)
    w = None if weight is None else as_tensor(weight, like=input)
    return reduce_loss(fused.multilabel_soft_margin_loss(input, target, w), reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: TensorLike, margin: float = 0.0,
                          size_average: bool | None = None, reduce: bool | None = None,
                          reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1; x1, x2 (N, D) with y (N,), or
    (D,) with a 0-d y."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction("cosine_embedding_loss", reduction)
    input2, target = _loss_inputs("cosine_embedding_loss", input1, input2, target)
    return reduce_loss(fused.cosine_embedding_loss(input1, input2, target, margin), reduction)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:  # noqa: A002 - torch's name
    """(*, C r^2, H, W) -> (*, C, H r, W r): each r x r block of the output gathers r^2 channels of one pixel."""
    r = _positive_factor("pixel_shuffle", upscale_factor)
    if input.ndim < 3 or input.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: expected input (*, C * {r * r}, H, W) (channels divisible by "
                         f"upscale_factor^2 = {r * r}), got shape {input.shape}")
    *batch, c, h, w = input.shape
    n = len(batch)
    blocks = input.reshape(*batch, c // (r * r), r, r, h, w).permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return movement.fresh(blocks.reshape(*batch, c // (r * r), h * r, w * r), input)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:  # noqa: A002 - torch's name
    """The inverse of ``pixel_shuffle``: (*, C, H r, W r) -> (*, C r^2, H, W)."""
    r = _positive_factor("pixel_unshuffle", downscale_factor)
    if input.ndim < 3 or input.shape[-2] % r or input.shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: expected input (*, C, H, W) with H and W divisible by downscale_factor "
                         f"{r}, got shape {input.shape}")
    *batch, c, h, w = input.shape
    n = len(batch)
    blocks = input.reshape(*batch, c, h // r, r, w // r, r).permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return movement.fresh(blocks.reshape(*batch, c * r * r, h // r, w // r), input)


def _positive_factor(op: str, factor: int) -> int:
    if isinstance(factor, bool) or not isinstance(factor, Integral) or factor < 1:
        raise ValueError(f"{op}: the factor must be a positive int, got {factor!r}")
    return int(factor)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p along the last dim (x1, x2 broadcast)."""
    return fused.pairwise_distance(x1, x2, p, eps, keepdim)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2.0,
                        eps: float = 1e-6, swap: bool = False, size_average: bool | None = None,
                        reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) with d = ``pairwise_distance`` (p-norm of the difference + eps) over the
    last dim of (N, D) or (D,) inputs; ``swap`` uses min(d(a, n), d(p, n)) for the negative distance."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if margin <= 0:
        raise ValueError(f"triplet_margin_loss: margin={margin} is not positive")
    _check_reduction("triplet_margin_loss", reduction)
    positive, negative = _loss_inputs("triplet_margin_loss", anchor, positive, negative)
    return reduce_loss(fused.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap), reduction)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
                                      margin: float = 1.0, swap: bool = False, reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)) with any distance ``d`` (default ``pairwise_distance``); ``swap`` uses
    min(d(a, n), d(p, n)) for the negative distance."""
    if margin <= 0:
        raise ValueError(f"triplet_margin_with_distance_loss: margin={margin} is not positive")
    _check_reduction("triplet_margin_with_distance_loss", reduction)
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise ValueError(f"triplet_margin_with_distance_loss: anchor, positive and negative differ in how many "
                         f"dims they have (as torch): shapes {anchor.shape}, {positive.shape} and {negative.shape}")
    distance = pairwise_distance if distance_function is None else distance_function
    to_positive, to_negative = distance(anchor, positive), distance(anchor, negative)
    if swap:
        to_negative = elementwise.minimum(to_negative, distance(positive, negative))
    return reduce_loss((margin + to_positive - to_negative).clamp_min(0), reduction)  # (torch's: gradient 1 at 0)


def _class_scores(op: str, input: Tensor) -> Tensor:  # noqa: A002
    """Scores (N, C), (C,) or 0-d (one class) as rows (N, C), C > 0."""
    if not (input.ndim == 0 or (input.ndim in (1, 2) and input.shape[-1] != 0)):
        raise ValueError(f"{op}: expected scores (N, C) or (C,) with C > 0 (or 0-d), got shape {input.shape}")
    return input.reshape(-1, 1 if input.ndim == 0 else input.shape[-1])


def multi_margin_loss(input: Tensor, target: TensorLike, p: int = 1, margin: float = 1.0,  # noqa: A002
                      weight: TensorLike | None = None, size_average: bool | None = None, reduce: bool | None = None,
                      reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss of scores (N, C), (C,) or 0-d against class indices (N,) (or one): sum over j != y of
    max(0, margin - x[y] + x[j])^p / C, times weight[y] (``weight`` (C,), not differentiable, as torch)."""
    op = "multi_margin_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p = 1 and p = 2 are supported, got p={p}")
    _check_reduction(op, reduction)
    rows = _class_scores(op, input)
    (t,) = _loss_inputs(op, input, target)
    if t.ndim > 1 or t.numel() != rows.shape[0]:
        raise ValueError(f"{op}: target must be 1-d with one class index per sample ({rows.shape[0]}) for input "
                         f"{input.shape}, got shape {t.shape}")
    w = None
    if weight is not None:
        w = as_tensor(weight, like=input)
        if w.ndim != 1 or w.shape[0] != rows.shape[1]:
            raise ValueError(f"{op}: weight must have one entry per class, shape ({rows.shape[1]},), got {w.shape}")
        not_differentiable(op, "weight", w)
    indices = fused.class_targets(op, rows, t.reshape(-1))
    return reduce_loss(fused.multi_margin_loss(rows, indices, p, margin, w).reshape(t.shape), reduction)


def multilabel_margin_loss(input: Tensor, target: TensorLike, size_average: bool | None = None,  # noqa: A002
                           reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss of scores (N, C), (C,) or 0-d against targets of the same shape holding the target
    class indices, ended by the first -1: sum over target j, non-target i of max(0, 1 - (x[j] - x[i])) / C."""
    op = "multilabel_margin_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(op, reduction)
    rows = _class_scores(op, input)
    (t,) = _loss_inputs(op, input, target)
    if t.shape != input.shape:
        raise ValueError(f"{op}: target shape {t.shape} must equal input shape {input.shape}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: targets must be integer class indices, got dtype {t.dtype}")
    c = rows.shape[1]
    indices = t._data.reshape(-1, c)
    if bool(((indices < -1) | (indices >= c)).any()):
        raise ValueError(f"{op}: target entries must be class indices in [0, {c}) or -1 (the end of the list)")
    losses = fused.multilabel_margin_loss(rows, indices)
    return reduce_loss(losses if input.ndim == 2 else losses.reshape(()), reduction)


def gaussian_nll_loss(input: Tensor, target: TensorLike, var: TensorLike, full: bool = False,  # noqa: A002
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """(log v + (x - y)^2 / v) / 2 (+ log(2 pi) / 2 when ``full``), v = max(var, eps) (no gradient through the
    clamp). ``var`` has the input's shape, or one dim of size 1 (or misses the last dim), or is a number."""
    op = "gaussian_nll_loss"
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError(f"{op}: var has negative entry/entries, got {var}")
        var = full_like(input, float(var))
    target, var = _loss_inputs(op, input, target, var)
    if bool((var._data < 0).any()):
        raise ValueError(f"{op}: var has negative entry/entries")
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var.unsqueeze(-1)
        elif not (var.ndim == input.ndim and sum(v for x, v in zip(input.shape, var.shape) if x != v) == 1):
            raise ValueError(f"{op}: var of shape {var.shape} is of incorrect size for input {input.shape}: give it "
                             f"the input's shape, or one dim of size 1, or drop the last dim")
    _check_reduction(op, reduction)
    return reduce_loss(fused.gaussian_nll_loss(input, target, var, full, eps), reduction)


def poisson_nll_loss(input: Tensor, target: TensorLike, log_input: bool = True, full: bool = False,  # noqa: A002
                     size_average: bool | None = None, eps: float = 1e-8, reduce: bool | None = None,
                     reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of Poisson targets y with rate exp(x) (``log_input``) or x: exp(x) - y x, or
    x - y log(x + eps); ``full`` adds Stirling's y log y - y + log(2 pi y) / 2 where y > 1 (broadcast)."""
    reduction = legacy_reduction(size_average, reduce, reduction, elementwise_mean=False)  # (torch: not here)
    _check_reduction("poisson_nll_loss", reduction)
    (target,) = _loss_inputs("poisson_nll_loss", input, target)
    return reduce_loss(fused.poisson_nll_loss(input, target, log_input, full, eps), reduction)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle between x1 and x2 (broadcast together) along ``dim``, which is reduced away: the sum of
    x1 / max(||x1||, eps) times x2 / max(||x2||, eps), as torch computes it (each norm is clamped without a gradient
    through the clamp, so the gradient at a zero vector is torch's too)."""
    dtype = elementwise.result_type(x1, x2)
    if dtype.kind != "f":
        raise DtypeError(f"cosine_similarity: expected floating inputs, got {x1.dtype} and {x2.dtype}; convert first")
    x1, x2 = (x if x.dtype.kind == "f" else x.astype(dtype) for x in (x1, x2))
    shape = elementwise.broadcast_shape("cosine_similarity", x1.shape, x2.shape)
    x1, x2 = (x if x.shape == shape else x.broadcast_to(shape) for x in (x1, x2))
    n1, n2 = (x.norm(2, dim, keepdim=True).clone() for x in (x1, x2))
    with no_grad():
        n1.clamp_(min=eps)
        n2.clamp_(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,  # noqa: A002
              out: Tensor | None = None) -> Tensor:
    """input / max(||input||_p, eps), the norm taken along ``dim`` (kept for broadcasting); ``out``: written into
    it, as torch's ``torch.div(..., out=out)`` (not differentiable)."""
    if input.dtype.kind != "f":
        raise DtypeError(f"normalize: expected a floating input, got {input.dtype}; convert first, e.g. x.float()")
    result = input / input.norm(p, dim, keepdim=True).clamp(min=eps)
    return result if out is None else write_out("normalize", result, out)


PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """Pad (or, with negative amounts, crop) the last len(pad) / 2 dims, torch's order: (before, after) of the last
    dim first, then of the one before it... ``mode`` "constant" fills with ``value`` (0); "reflect" mirrors about
    the edge, "replicate" repeats it, "circular" wraps around: these three pad the last 1, 2 or 3 dims of a (C, ...)
    or (N, C, ...) input, as torch."""
    widths = [int(p) for p in pad]
    if len(widths) % 2:
        raise ValueError(f"pad: {len(widths)} padding values do not form (before, after) pairs; give an even count")
    k = len(widths) // 2
    if k > input.ndim:
        raise ValueError(f"pad: padding length {len(widths)} is more than two per dim of the {input.ndim}-d input")
    if mode not in PAD_MODES:
        raise ValueError(f"pad: mode must be one of {PAD_MODES}, got {mode!r}")
    pairs = {input.ndim - 1 - i: (widths[2 * i], widths[2 * i + 1]) for i in range(k)}  # dim -> (before, after)
    if mode == "constant":
        crop = tuple(slice(-min(lo, 0), n + min(hi, 0)) for n, (lo, hi) in
                     ((input.shape[d], pairs.get(d, (0, 0))) for d in range(input.ndim)))
        bad = [d for d, (lo, hi) in pairs.items() if input.shape[d] + lo + hi < 0]
        if bad:
            raise ValueError(f"pad: padding {pad} would give dim {bad[0]} of shape {input.shape} a negative size")
        cropped = input[crop] if any(lo < 0 or hi < 0 for lo, hi in pairs.values()) else input
        if input.ndim == 0:  # nothing to pad (torch: a copy)
            return input.clone()
        grow = [(max(lo, 0), max(hi, 0)) for lo, hi in (pairs.get(d, (0, 0)) for d in range(input.ndim))]
        return movement.pad(cropped, grow, 0 if value is None else value)
    if value:
        raise ValueError(f"pad: mode {mode!r} does not take a value argument")
    if k not in (1, 2, 3) or input.ndim not in (k + 1, k + 2):
        raise NotImplementedError(f"pad: mode {mode!r} pads the last 1, 2 or 3 dims of a (C, ...) or (N, C, ...) "
                                  f"input (as torch); got {len(widths)} pad values for a {input.ndim}-d input")
    sizes = [input.shape[d] + lo + hi for d, (lo, hi) in pairs.items()]
    if mode != "circular" and max(sizes) < 1:  # torch's check: some padded dim must keep an element
        raise ValueError(f"pad: padding {pad} leaves the padded dims of shape {input.shape} the sizes {sizes} in mode "
                         f"{mode!r}, which needs at least 1 in one of them")
    xp, out = input.xp, input
    for d, (lo, hi) in pairs.items():  # one gather per padded dim; its backward adds up the repeated elements
        n = input.shape[d]
        if (mode == "reflect" and max(lo, hi) >= n) or (mode == "circular" and max(lo, hi) > n) or n == 0:
            raise ValueError(f"pad: padding ({lo}, {hi}) of dim {d} (size {n}) is too large for mode {mode!r} (it "
                             f"allows {'less than' if mode == 'reflect' else 'at most'} the dim's size)")
        if mode == "circular":  # as torch: crop first, then wrap around what is left
            start, m = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
            if n + lo + hi < 0:
                raise ValueError(f"pad: negative padding ({lo}, {hi}) of dim {d} (size {n}) results in a negative size")
            if m < 1 and max(lo, hi) > 0:
                raise ValueError(f"pad: negative padding ({lo}, {hi}) leaves nothing of dim {d} (size {n}) to wrap")
            idx = xp.arange(-max(lo, 0), m + max(hi, 0)) % max(m, 1) + start  # cropped to nothing: empty, as torch
        else:
            idx = xp.arange(-lo, n + hi)
            if mode == "reflect":
                idx = xp.abs(idx)
                idx = xp.where(idx >= n, 2 * (n - 1) - idx, idx)
            else:
                idx = xp.clip(idx, 0, n - 1)
        out = out[(slice(None),) * d + (idx,)]
    return out


def avg_pool2d(input: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over kernel windows of (N, C, H, W) or (C, H, W) input, zero padded (at most half the kernel);
    ``stride`` defaults to the kernel size; ``ceil_mode`` as torch's."""
    if input.ndim == 3:
        return avg_pool2d(input.unsqueeze(0), kernel_size, stride, padding, ceil_mode, count_include_pad,
                          divisor_override).squeeze(0)
    return pool.avg_pool2d(input, kernel_size, stride, padding, count_include_pad, divisor_override, ceil_mode)


def adaptive_avg_pool2d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:  # noqa: A002
    """Mean pooling of (N, C, H, W) or (C, H, W) input to spatial ``output_size`` (an int, or a pair whose None
    keeps that size): output row i averages input rows floor(i H / oh) to ceil((i + 1) H / oh) - 1, as torch's
    (even windows when oh divides H: one avg_pool2d), and so for columns."""
    h, w, oh, ow = _adaptive_sizes("adaptive_avg_pool2d", input, output_size)
    if h % oh == 0 and w % ow == 0:
        return avg_pool2d(input, (h // oh, w // ow))
    if input.dtype == numpy.float16:  # two means, rounded once (torch's opmath; in float16 up to 24 units off)
        return adaptive_avg_pool2d(input.float(), output_size).half()
    # uneven windows: the mean over each window's rows, then over its columns (the mean of the window, and only
    # its own elements meet: an inf or nan stays in its windows)
    rows = movement.stack([input[..., _window(i, h, oh), :].mean(-2) for i in range(oh)], -2)
    return movement.stack([rows[..., _window(j, w, ow)].mean(-1) for j in range(ow)], -1)


def _adaptive_sizes(op: str, input: Tensor, output_size: int | Sequence[int | None],  # noqa: A002
                    dims: int = 2) -> tuple[int, ...]:
    """(H, W, oh, ow) of (N, C, H, W) or (C, H, W) input pooled to ``output_size``: an int, or a pair whose None
    keeps that size ((D, H, W, od, oh, ow) and a triple with ``dims=3``, for floating input with no empty dim but
    the batch)."""
    if input.ndim not in (dims + 1, dims + 2):
        raise ValueError(f"{op}: expected {dims + 1}-d or {dims + 2}-d input, got shape {input.shape}")
    if dims == 3 and input.dtype.kind != "f":
        raise TypeError(f"{op}: not implemented for dtype {input.dtype} (as in torch); convert first, e.g. x.float()")
    if dims == 3 and 0 in input.shape[-4:]:
        raise ValueError(f"{op}: input {input.shape} has an empty channel or spatial dim (only the batch may be "
                         f"empty, as in torch)")
    sizes = input.shape[-dims:]
    size = (output_size,) * dims if isinstance(output_size, int) else tuple(output_size)
    kind = "pair" if dims == 2 else "triple"
    if len(size) != dims:
        raise ValueError(f"{op}: output_size must be a positive int or {kind}, got {output_size!r}")
    outs = tuple(n if o is None else int(o) for o, n in zip(size, sizes))
    if min(outs) < 1:
        raise ValueError(f"{op}: output_size must be a positive int or {kind}, got {output_size!r}")
    return (*sizes, *outs)


def _window(i: int, n: int, out: int) -> slice:
    """torch's adaptive window i of ``out`` over a length n: floor(i n / out) to ceil((i + 1) n / out) - 1."""
    return slice(i * n // out, -(-(i + 1) * n // out))


def adaptive_max_pool2d(input: Tensor, output_size: int | Sequence[int | None],  # noqa: A002
                        return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling of (N, C, H, W) or (C, H, W) input to spatial ``output_size`` over torch's adaptive windows (those
    of ``adaptive_avg_pool2d``; uneven ones may overlap). With ``return_indices`` also the int64 index of each max in
    its H * W plane. As torch's kernel, the first of tied maxima wins and a nan beats every number, the window's last
    nan; the gradient goes to that element."""
    h, w, oh, ow = _adaptive_sizes("adaptive_max_pool2d", input, output_size)
    if h == 0 or w == 0:
        raise ArgumentError(f"adaptive_max_pool2d: the input's H and W must be non-zero, got shape {input.shape}")
    if h % oh == 0 and w % ow == 0 and input.numel() and input.dtype.kind == "f":  # even windows: one max pool
        return max_pool2d(input, (h // oh, w // ow), return_indices=return_indices)
    xp, x = input.xp, input._data
    index = xp.empty((*x.shape[:-2], oh, ow), dtype="int64")
    for i in range(oh):
        rows = _window(i, h, oh)
        for j in range(ow):
            cols = _window(j, w, ow)
            width = cols.stop - cols.start
            at = _torch_argmax(x[..., rows, cols].reshape(*x.shape[:-2], (rows.stop - rows.start) * width))
            index[..., i, j] = (rows.start + at // width) * w + cols.start + at % width
    flat = input.reshape(*x.shape[:-2], h * w)
    picks = Tensor(index.reshape(*x.shape[:-2], oh * ow), device=input.device)
    out = index_op.gather(flat, -1, picks).reshape(*x.shape[:-2], oh, ow)
    return (out, Tensor(index, device=input.device)) if return_indices else out


def _torch_argmax(window: Array) -> Array:
    """The element torch's max-pool kernels pick along the last axis of ``window``: the first maximum (``>`` keeps
    the earlier of equals), or the last NaN (a NaN always replaces the running max)."""
    xp = backend.get_array_module(window)
    nan = xp.isnan(window)
    last_nan = window.shape[-1] - 1 - xp.argmax(nan[..., ::-1], axis=-1)
    return xp.where(nan.any(axis=-1), last_nan, xp.argmax(window, axis=-1))


def adaptive_max_pool1d(input: Tensor, output_size: int | tuple[int],  # noqa: A002
                        return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling of (N, C, L) or (C, L) input to length ``output_size`` (``adaptive_max_pool2d`` on the (N, C, 1, L)
    view; indices into L)."""
    if input.ndim not in (2, 3):
        raise ArgumentError(f"adaptive_max_pool1d: expected 2-D or 3-D input, got shape {input.shape}")
    size = single(output_size, "adaptive_max_pool1d output_size", 1)
    return _each(adaptive_max_pool2d(input.unsqueeze(-2), (1, size), return_indices), lambda t: t.squeeze(-2))


def _each(out: Any, fn: Callable[[Tensor], Tensor]) -> Any:
    """``fn`` of a result, or of each result of a tuple (max pooling's values and indices)."""
    return tuple(fn(t) for t in out) if isinstance(out, tuple) else fn(out)


def _batched(op: str, input: Tensor, ndim: int, fn: Callable[[Tensor], Any]) -> Any:  # noqa: A002
    """``fn`` of ``ndim``-D batched input, or of (ndim-1)-D unbatched input as a batch of one (as torch)."""
    if input.ndim == ndim - 1:
        return _each(fn(input.unsqueeze(0)), lambda t: t.squeeze(0))
    if input.ndim != ndim:
        raise ArgumentError(f"{op}: expected {ndim - 1}-D (unbatched) or {ndim}-D (batched) input, got shape "
                            f"{input.shape}")
    return fn(input)


def max_pool2d(input: Tensor, kernel_size: IntPair, stride: IntPair | None = None,  # noqa: A002
               padding: IntPair = 0, dilation: IntPair = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """Max over windows of (N, C, H, W) or (C, H, W) input -> (N, C, Ho, Wo) (and, with ``return_indices``, each
    maximum's flat index in its input plane); ``stride`` defaults to the kernel, padding at most half the kernel,
    ``ceil_mode`` and ``dilation`` as torch's."""
    return _batched("max_pool2d", input, 4,
                    lambda x: max_pool2d_op(x, kernel_size, stride, padding, ceil_mode, return_indices, dilation))


def conv_padding(op: str, x: Tensor, kernel: tuple[int, ...], padding: IntPair | str, stride: tuple[int, ...],
                 dilation: tuple[int, ...]) -> tuple[Tensor, tuple[int, ...]]:
    """A convolution's ``padding`` (an int, one per spatial dim (a pair, a triple), 'valid' or 'same') as
    (x, symmetric padding per dim): 'same' (stride 1 only, as torch) pads d (k - 1) in all, half on each side and
    the odd one at the end (bottom / right / back), which is added to x here."""
    dims = len(kernel)
    if padding == "valid":
        return x, (0,) * dims
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' needs stride 1 (as torch), got stride {stride}; give the padding "
                             f"as numbers")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if any(t % 2 for t in total):
            x = pad(x, tuple(v for t in reversed(total) for v in (0, t % 2)))
        return x, tuple(t // 2 for t in total)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int, {'a pair' if dims == 2 else 'a triple'} of ints, 'valid' or "
                         f"'same', got {padding!r}")
    return x, ints(padding, f"{op} padding", 0, dims, True)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,  # noqa: A002
           padding: IntPair | str = 0, dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """Cross-correlation of (N, C, H, W) or (C, H, W) input with weight (O, C / groups, kh, kw) plus bias (O,) ->
    (N, O, Ho, Wo); ``padding`` an int, a pair, 'valid' or 'same' (see ``conv_padding``)."""
    if weight.ndim != 4:
        raise ArgumentError(f"conv2d: expected 4-D weight (out_channels, in_channels / groups, kh, kw), got shape "
                            f"{weight.shape}")
    st, dl = pair(stride, "conv2d stride", 1, True), pair(dilation, "conv2d dilation", 1, True)

    def run(x: Tensor) -> Tensor:
        x, pd = conv_padding("conv2d", x, weight.shape[2:], padding, st, dl)
        return conv2d_op(x, weight, bias, st, pd, dl, groups)
    return _batched("conv2d", input, 4, run)


def _weight_1d(op: str, weight: Tensor, layout: str) -> Tensor:
    if weight.ndim != 3:
        raise ValueError(f"{op}: expected 3-D weight ({layout}, kernel_size), got shape {weight.shape}")
    return weight.unsqueeze(2)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple[int] = 1,  # noqa: A002
           padding: int | tuple[int] | str = 0, dilation: int | tuple[int] = 1, groups: int = 1) -> Tensor:
    """Cross-correlation of (N, C, L) or (C, L) input with weight (O, C / groups, k) plus bias (O,) -> (N, O, Lo):
    conv2d on the (N, C, 1, L) view; ``padding`` an int, 'valid' or 'same'."""
    st, dl = single(stride, "conv1d stride", 1), single(dilation, "conv1d dilation", 1)
    pd = padding if isinstance(padding, str) else (0, single(padding, "conv1d padding", 0))
    w = _weight_1d("conv1d", weight, "out_channels, in_channels / groups")
    return _batched("conv1d", input, 3, lambda x: conv2d(x.unsqueeze(2), w, bias, (1, st), pd, (1, dl),
                                                         groups).squeeze(2))


def conv_tbc(input: Tensor, weight: Tensor, bias: Tensor, pad: int = 0) -> Tensor:  # noqa: A002 - torch's name
    """torch's time-first 1-D convolution: input (T, N, C_in), weight (k, C_in, C_out), bias (C_out,), ``pad``
    steps of zeros at both ends of time (negative: cropped) -> (T + 2 pad - k + 1, N, C_out); ``conv1d``."""
    if input.ndim != 3 or weight.ndim != 3 or bias.shape != weight.shape[2:] or input.shape[2] != weight.shape[1]:
        raise ArgumentError(f"conv_tbc: expected input (T, N, C_in), weight (k, C_in, C_out) and bias (C_out,), got "
                            f"{input.shape}, {weight.shape} and {bias.shape}")
    if input.shape[0] + 2 * pad < weight.shape[0]:  # torch: an error below k - 1, an empty result at k - 1
        raise ArgumentError(f"conv_tbc: {input.shape[0]} steps padded by {pad} at each end are fewer than the kernel's "
                            f"{weight.shape[0]}: no output step")
    x = input.permute(1, 2, 0)  # (N, C_in, T)
    if pad < 0:
        x = x[..., -pad:x.shape[2] + pad]
    return conv1d(x, weight.permute(2, 1, 0), bias, padding=max(pad, 0)).permute(2, 0, 1)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,  # noqa: A002
                     padding: IntPair = 0, output_padding: IntPair = 0, groups: int = 1,
                     dilation: IntPair = 1) -> Tensor:
    """The transpose of conv2d on (N, C, H, W) or (C, H, W) input, weight (C, O / groups, kh, kw), bias (O,) ->
    (N, O, Ho, Wo), Ho = (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1."""
    return _batched("conv_transpose2d", input, 4,
                    lambda x: conv_transpose2d_op(x, weight, bias, stride, padding, output_padding, groups, dilation))


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple[int] = 1,  # noqa: A002
                     padding: int | tuple[int] = 0, output_padding: int | tuple[int] = 0, groups: int = 1,
                     dilation: int | tuple[int] = 1) -> Tensor:
    """The transpose of conv1d on (N, C, L) or (C, L) input, weight (C, O / groups, k), bias (O,) -> (N, O, Lo),
    Lo = (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1: conv_transpose2d on the
    (N, C, 1, L) view."""
    st, pd = single(stride, "conv_transpose1d stride", 1), single(padding, "conv_transpose1d padding", 0)
    op, dl = single(output_padding, "conv_transpose1d output_padding", 0), single(dilation, "conv_transpose1d "
                                                                                           "dilation", 1)
    w = _weight_1d("conv_transpose1d", weight, "in_channels, out_channels / groups")
    return _batched("conv_transpose1d", input, 3, lambda x: conv_transpose2d_op(
        x.unsqueeze(2), w, bias, (1, st), (0, pd), (0, op), groups, (1, dl)).squeeze(2))


def _window_1d(op: str, kernel_size: int | tuple[int], stride: int | tuple[int] | None,
               padding: int | tuple[int]) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """A 1-D pool's kernel, stride (None or empty, torch's default: the kernel) and padding as the (1, k) pairs of the
    2-D pool."""
    k = single(kernel_size, f"{op} kernel_size", 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else single(stride, f"{op} stride", 1)
    return (1, k), (1, s), (0, single(padding, f"{op} padding", 0))


def max_pool1d(input: Tensor, kernel_size: int | tuple[int], stride: int | tuple[int] | None = None,  # noqa: A002
               padding: int | tuple[int] = 0, dilation: int | tuple[int] = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor:
    """Max over windows of (N, C, L) or (C, L) input -> (N, C, Lo) (and the maxima's indices): max_pool2d on the
    (N, C, 1, L) view; padding at most half the kernel, ``dilation`` as torch's."""
    k, s, p = _window_1d("max_pool1d", kernel_size, stride, padding)
    d = (1, single(dilation, "max_pool1d dilation", 1))
    return _batched("max_pool1d", input, 3, lambda x: _each(
        max_pool2d_op(x.unsqueeze(2), k, s, p, ceil_mode, return_indices, d), lambda t: t.squeeze(2)))


def avg_pool1d(input: Tensor, kernel_size: int | tuple[int], stride: int | tuple[int] | None = None,  # noqa: A002
               padding: int | tuple[int] = 0, ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Mean over windows of (N, C, L) or (C, L) input -> (N, C, Lo): avg_pool2d on the (N, C, 1, L) view (its
    count_include_pad rule and ceil_mode)."""
    if input.ndim not in (2, 3):
        raise ArgumentError(f"avg_pool1d: expected 2-D (unbatched) or 3-D (batched) input, got shape {input.shape}")
    k, s, p = _window_1d("avg_pool1d", kernel_size, stride, padding)
    return avg_pool2d(input.unsqueeze(-2), k, s, p, ceil_mode, count_include_pad).squeeze(-2)


def adaptive_avg_pool1d(input: Tensor, output_size: int | tuple[int]) -> Tensor:  # noqa: A002
    """Mean pooling of (N, C, L) or (C, L) input to length ``output_size`` (adaptive_avg_pool2d on the
    (N, C, 1, L) view: torch's windows)."""
    if input.ndim not in (2, 3):
        raise ArgumentError(f"adaptive_avg_pool1d: expected 2-D or 3-D input, got shape {input.shape}")
    size = single(output_size, "adaptive_avg_pool1d output_size", 1)
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, size)).squeeze(-2)


# 3-D (N, C, D, H, W) layers, built on the 2-D ops (whose backward they reuse)
IntTriple = int | Sequence[int]


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntTriple = 1,  # noqa: A002
           padding: IntTriple | str = 0, dilation: IntTriple = 1, groups: int = 1) -> Tensor:
    """Cross-correlation of (N, C, D, H, W) or (C, D, H, W) input with weight (O, C / groups, kd, kh, kw) plus bias
    (O,) -> (N, O, Do, Ho, Wo); ``padding`` an int, a triple, 'valid' or 'same' (see ``conv_padding``).

    One conv2d over the N * Do output depths: the kd (zero padded) input depths output depth z reads,
    z * sd + i * dd, are stacked as kd * C channels, which the weight meets as (O, kd * C / groups, kh, kw)."""
    st, dl = ints(stride, "conv3d stride", 1, 3, True), ints(dilation, "conv3d dilation", 1, 3, True)

    def run(x: Tensor) -> Tensor:
        check_conv("conv3d", x, weight, bias, transposed=False, groups=groups, dims=3)
        if x.dtype == numpy.float16:  # the kd taps' gradients summed in float32, one rounding (as torch's)
            return conv3d(x.float(), weight.float(), None if bias is None else bias.float(), st, padding, dl,
                          groups).half()
        x, pd = conv_padding("conv3d", x, weight.shape[2:], padding, st, dl)
        (n, c, _, h, w), (o, cg, kd, kh, kw) = x.shape, weight.shape
        do = conv_output_size("conv3d", x.shape[2:], span(weight.shape[2:], dl), st, pd)[0]
        x = pad(x, (0, 0, 0, 0, pd[0], pd[0])) if pd[0] else x

        def depths(i: int) -> Tensor:  # the input depths of kernel offset i, as (N, Do, groups, C / groups, H, W)
            taken = x[:, :, i * dl[0]:i * dl[0] + (do - 1) * st[0] + 1:st[0]]
            return taken.transpose(1, 2).reshape(n, do, groups, cg, h, w)
        taps = movement.stack([depths(i) for i in range(kd)], 3).reshape(n * do, kd * c, h, w)
        kernel = weight.transpose(1, 2).reshape(o, kd * cg, kh, kw)  # channels (kd, C / groups), as the taps
        planes = conv2d_op(taps, kernel, bias, st[1:], pd[1:], dl[1:], groups)  # (N * Do, O, Ho, Wo)
        return planes.reshape(n, do, o, *planes.shape[2:]).transpose(1, 2)
    return _batched("conv3d", input, 5, run)


def _padding_only(size: tuple[int, ...], k: tuple[int, ...], st: tuple[int, ...], pd: tuple[int, ...],
                  dl: tuple[int, ...], out: tuple[int, ...]) -> bool:
    """Whether some pooling window holds only padding (a dilation can step over the whole input)."""
    return any(all(not 0 <= o * s - p + i * q < n for i in range(kk))
               for n, kk, s, p, q, m in zip(size, k, st, pd, dl, out) for o in range(m))


def max_pool3d(input: Tensor, kernel_size: IntTriple, stride: IntTriple | None = None,  # noqa: A002
               padding: IntTriple = 0, dilation: IntTriple = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """Max over kd x kh x kw windows of (N, C, D, H, W) or (C, D, H, W) input -> (N, C, Do, Ho, Wo) (and, with
    ``return_indices``, each maximum's flat index d * H * W + h * W + w in its input volume, int64); ``stride``
    defaults to the kernel, padding (-inf) at most half the kernel, ``dilation`` and ``ceil_mode`` as torch's.

    Two 2-D max pools: over (H, W) of each depth slice, then over depth of those maxima (a (kd, 1) pool of the
    (N, C, D, Ho * Wo) view). Each picks what torch's 3-D kernel picks in (d, h, w) order: the first maximum, the
    last NaN, the first element inside the input of an all -inf window; so the gradient goes where torch's does."""
    dl = ints(dilation, "max_pool3d dilation", 1, 3, True)

    def run(x: Tensor) -> Any:
        k, st, pd, out, _ = pool.pool_window("max_pool3d", x, kernel_size, stride, padding, ceil_mode, dl, dims=3)
        if return_indices and _padding_only(x.shape[2:], k, st, pd, dl, out):
            raise ArgumentError(f"max_pool3d: with dilation {dl} and padding {pd}, some window of the input "
                                f"{x.shape[2:]} holds only padding, so it has no maximum to index; use less padding "
                                f"or dilation, or return_indices=False (such a window's max is -inf and passes no "
                                f"gradient)")
        (n, c, d, h, w), (do, ho, wo) = x.shape, out
        planes = max_pool2d_op(x.reshape(n, c * d, h, w), k[1:], st[1:], pd[1:], ceil_mode, return_indices, dl[1:])
        planes, plane_index = planes if return_indices else (planes, None)
        depth = max_pool2d_op(planes.reshape(n, c, d, ho * wo), (k[0], 1), (st[0], 1), (pd[0], 0), ceil_mode,
                              return_indices, (dl[0], 1))
        if not return_indices:
            return depth.reshape(n, c, do, ho, wo)
        values, at = depth[0], depth[1]._data // (ho * wo)  # the input depth of each maximum
        index = x.xp.take_along_axis(plane_index._data.reshape(n, c, d, ho * wo), at, axis=2) + at * (h * w)
        return values.reshape(n, c, do, ho, wo), Tensor(index.reshape(n, c, do, ho, wo))
    return _batched("max_pool3d", input, 5, run)


def avg_pool3d(input: Tensor, kernel_size: IntTriple, stride: IntTriple | None = None,  # noqa: A002
               padding: IntTriple = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over kd x kh x kw windows of (N, C, D, H, W) or (C, D, H, W) input -> (N, C, Do, Ho, Wo), zero padded
    (at most half the kernel); ``stride`` defaults to the kernel; ``ceil_mode``, ``count_include_pad`` and
    ``divisor_override`` as torch's.

    Two 2-D average pools: over (H, W) of each depth slice, then over depth (a (kd, 1) pool of the
    (N, C, D, Ho * Wo) view). torch divides each window's sum by the product of its counts along the three dims,
    so this mean of means is its mean; with ``divisor_override`` the first pool only sums."""
    def run(x: Tensor) -> Tensor:
        k, st, pd, out, _ = pool.pool_window("avg_pool3d", x, kernel_size, stride, padding, ceil_mode, dims=3)
        if x.dtype.kind != "f" and x.dtype != "int64":  # (torch's CPU kernel: floating and int64 only)
            raise TypeError(f"avg_pool3d: needs a floating or int64 input, got dtype {x.dtype}; convert first, e.g. "
                            f"x.float()")
        pool.check_divisor("avg_pool3d", divisor_override)
        integer = x.dtype.kind != "f"  # int64: each window's sum divided once, rounding toward zero (as torch)
        divisor = 1 if integer else divisor_override
        if any(size < q for size, q in zip(x.shape[2:], k)):  # torch's check, which leaves out the padding
            raise ArgumentError(f"avg_pool3d: the input {x.shape[2:]} is smaller than the kernel {k} (as torch, "
                                f"padding does not count); use a smaller kernel")
        (n, c, d, h, w), (do, ho, wo) = x.shape, out
        planes = pool.avg_pool2d(x.reshape(n, c * d, h, w), k[1:], st[1:], pd[1:], count_include_pad,
                                 None if divisor is None else 1, ceil_mode)
        depth = pool.avg_pool2d(planes.reshape(n, c, d, ho * wo), (k[0], 1), (st[0], 1), (pd[0], 0),
                                count_include_pad, divisor, ceil_mode).reshape(n, c, do, ho, wo)
        if not integer:
            return depth
        counts = divisor_override
        if counts is None:  # each window's count: its sum of ones over its mean of ones
            ones = Tensor(x.xp.ones((1, 1, d, h, w), dtype=x.xp.float64))
            sums, means = (avg_pool3d(ones, kernel_size, stride, padding, ceil_mode, count_include_pad, one)
                           for one in (1, None))
            counts = x.xp.rint(sums._data / means._data).astype(x.xp.int64)
        return Tensor(pool.truncating_divide(x.xp, depth._data, counts))
    return _batched("avg_pool3d", input, 5, run)


def adaptive_avg_pool3d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:  # noqa: A002
    """Mean pooling of (N, C, D, H, W) or (C, D, H, W) input to spatial ``output_size`` (an int, or a triple whose
    None keeps that size) over torch's adaptive windows (those of ``adaptive_avg_pool2d`` along each dim):
    adaptive_avg_pool2d over (H, W) of each depth slice, then adaptive_avg_pool1d over depth (the windows are boxes,
    so the mean of the means is the mean)."""
    d, h, w, od, oh, ow = _adaptive_sizes("adaptive_avg_pool3d", input, output_size, 3)

    def run(x: Tensor) -> Tensor:
        if x.dtype == numpy.float16:  # the two pools' means rounded once, as torch's opmath
            return run(x.float()).half()
        n, c = x.shape[:2]
        planes = adaptive_avg_pool2d(x.reshape(n, c * d, h, w), (oh, ow)).reshape(n, c, d, oh * ow)
        depths = adaptive_avg_pool1d(planes.transpose(2, 3).reshape(n, c * oh * ow, d), od)  # (N, C * oh * ow, od)
        return depths.reshape(n, c, oh * ow, od).transpose(2, 3).reshape(n, c, od, oh, ow)
    return _batched("adaptive_avg_pool3d", input, 5, run)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: IntPair, stride: IntPair | None = None,  # noqa: A002
                 padding: IntPair = 0, output_size: Sequence[int] | None = None) -> Tensor:
    """The partial inverse of ``max_pool2d``: each value of (N, C, H, W) or (C, H, W) input placed at its index
    (``max_pool2d``'s ``return_indices``) in a zero (Ho * Wo) plane, Ho = (H - 1) stride - 2 padding + kernel (or the
    last two of ``output_size``, within one stride of that); of indices that repeat, the last value stays, and each
    input gets the gradient at its index, as torch's."""
    k, p = pair(kernel_size, "max_unpool2d kernel_size", 1), pair(padding, "max_unpool2d padding", 0)
    s = k if stride is None else pair(stride, "max_unpool2d stride", 1)
    return _max_unpool("max_unpool2d", input, indices, k, s, p, output_size)


def _max_unpool(op: str, input: Tensor, indices: Tensor, k: tuple[int, ...], s: tuple[int, ...],  # noqa: A002
                p: tuple[int, ...], output_size: Sequence[int] | None) -> Tensor:
    """max_unpool2d / 3d over the last ``len(k)`` dims of batched or unbatched input: torch's default output size
    (in - 1) s - 2 p + k, or ``output_size`` (``len(k)`` sizes, or ``len(k) + 2`` with (N, C) first) within one
    stride of it; the values scattered to their indices in each zero output plane / volume."""
    dims = len(k)
    layout = "(N, C, H, W) or (C, H, W)" if dims == 2 else "(N, C, D, H, W) or (C, D, H, W)"
    if input.ndim not in (dims + 1, dims + 2) or tuple(indices.shape) != tuple(input.shape) or \
            indices.dtype.kind not in "iu":
        raise ValueError(f"{op}: expected {layout} input and integer indices of its shape, got {input.shape} and "
                         f"{indices.shape} {indices.dtype}")
    spatial = input.shape[-dims:]
    default = tuple((n - 1) * st - 2 * pd + q for n, st, pd, q in zip(spatial, s, p, k))
    size = default if output_size is None else tuple(int(n) for n in output_size)
    if len(size) == dims + 2:
        size = size[2:]
    if len(size) != dims:
        raise ValueError(f"{op}: output_size should have {dims} or {dims + 2} elements, got {output_size!r}")
    if not all(d - st < n < d + st for n, d, st in zip(size, default, s)):
        raise ValueError(f"{op}: output_size {tuple(size)} must lie strictly within one stride {s} of the default "
                         f"{default}")
    plane = math.prod(size)
    if indices.numel() and (int(indices._data.min()) < 0 or int(indices._data.max()) >= plane):
        raise IndexError(f"{op}: an index is outside the {' x '.join(map(str, size))} output (indices from "
                         f"{int(indices._data.min())} to {int(indices._data.max())})")
    batch, inner = tuple(input.shape[:-dims]), math.prod(spatial)
    out = zeros(*batch, plane, dtype=input.dtype, device=input.device)
    out = index_op.scatter(out, -1, indices.reshape(*batch, inner), input.reshape(*batch, inner))
    return out.reshape(*batch, *size)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size: int | tuple[int],  # noqa: A002
                 stride: int | tuple[int] | None = None, padding: int | tuple[int] = 0,
                 output_size: Sequence[int] | None = None) -> Tensor:
    """``max_unpool2d`` along the last dim of (N, C, L) or (C, L) input (``max_pool1d``'s indices)."""
    k = single(kernel_size, "max_unpool1d kernel_size", 1)
    s = k if stride is None else single(stride, "max_unpool1d stride", 1)
    size = None if output_size is None else (1, int(tuple(output_size)[-1]))
    return max_unpool2d(input.unsqueeze(-2), indices.unsqueeze(-2), (1, k), (1, s),
                        (0, single(padding, "max_unpool1d padding", 0)), size).squeeze(-2)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size: IntPair, stride: IntPair | None = None,  # noqa: A002
              ceil_mode: bool = False) -> Tensor:
    """The ``norm_type``-norm of each window of (N, C, H, W) or (C, H, W) input, (sum x^p)^(1/p), as torch computes
    it: the mean of x^p over the window (``avg_pool2d``), its sign times relu of its magnitude, times kh * kw, to the
    power 1/p (so a negative x with a fractional p gives nan, as in torch); p = inf is the window's largest |x|,
    p = -inf its smallest."""
    kh, kw = pair(kernel_size, "lp_pool2d kernel_size", 1)
    if math.isinf(norm_type):
        return _extreme_magnitude(lambda t: max_pool2d(t, (kh, kw), stride, 0, ceil_mode=ceil_mode), input, norm_type)
    return _lp_tail(avg_pool2d(input ** norm_type, (kh, kw), stride, 0, ceil_mode), kh * kw, norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: int, stride: int | None = None,  # noqa: A002
              ceil_mode: bool = False) -> Tensor:
    """``lp_pool2d`` over windows of the last dim of (N, C, L) or (C, L) input."""
    k = single(kernel_size, "lp_pool1d kernel_size", 1)
    if math.isinf(norm_type):
        return _extreme_magnitude(lambda t: max_pool1d(t, k, stride, 0, ceil_mode=ceil_mode), input, norm_type)
    return _lp_tail(avg_pool1d(input ** norm_type, k, stride, 0, ceil_mode), k, norm_type)


def _lp_tail(mean: Tensor, size: int, p: float) -> Tensor:
    """torch's last step of an LP pool from the windows' mean of x^p: (sign * relu(|mean|) * size)^(1/p)."""
    return ((mean.sign() * relu(mean.abs())) * size) ** (1.0 / p)


def _extreme_magnitude(max_pool: Callable[[Tensor], Tensor], input: Tensor, p: float) -> Tensor:  # noqa: A002
    """torch's LP pool for p = inf (the max pool of |x|) and p = -inf (minus the max pool of -|x|)."""
    return max_pool(input.abs()) if p > 0 else -max_pool(-input.abs())


def channel_shuffle(input: Tensor, groups: int) -> Tensor:  # noqa: A002 - torch's name
    """(N, C, *) with C = groups * k: the channels regrouped from (groups, k) to (k, groups) order (ShuffleNet)."""
    if input.ndim < 3 or not isinstance(groups, int) or groups < 1 or input.shape[1] % groups:
        raise ValueError(f"channel_shuffle: expected (N, C, *) input with C divisible by groups, got shape "
                         f"{input.shape} and groups={groups!r}")
    n, c, *rest = input.shape
    return movement.fresh(input.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(n, c, *rest), input)


native_channel_shuffle = channel_shuffle  # torch's kernel-level name for the same function


def pdist(input: Tensor, p: float = 2.0) -> Tensor:  # noqa: A002 - torch's name
    """The p-norm distances between the rows of (N, M) input, pairs i < j in row-major order -> (N (N - 1) / 2,)
    (``cdist`` of each pair, as a batch of 1 x 1 distances: the gradient reaches a row only through its pairs, so an
    inf in a row is not spread by the distance of the row to itself, inf - inf)."""
    if input.ndim != 2:
        raise ValueError(f"pdist: expected 2-D input (N, M), got shape {input.shape}")
    rows = index_op.triangle_indices("pdist", input.shape[0], input.shape[0], 1, device=input.device)
    return linalg_op.cdist(input[rows[0]].unsqueeze(1), input[rows[1]].unsqueeze(1), p).reshape(-1)


def gumbel_softmax(logits: Tensor, tau: float = 1.0, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Tensor:
    """A sample of softmax((logits + g) / tau) along ``dim``, g Gumbel(0, 1) noise from the seeded generator
    (-log of Exponential(1) draws); ``hard``: the one-hot of its argmax forward, the soft sample's gradient
    (straight through). ``eps`` is accepted for torch's signature and unused, as in torch."""
    gumbels = -logits.detach().clone().exponential_().log()
    soft = ((logits + gumbels) / tau).softmax(dim)
    if not hard:
        return soft
    if soft.ndim == 0:  # one category: its one-hot is 1
        return Tensor(soft.xp.ones((), dtype=soft.dtype), device=logits.device) - soft.detach() + soft
    xp, axis = soft.xp, dim % soft.ndim
    positions = xp.arange(soft.shape[axis]).reshape([-1 if a == axis else 1 for a in range(soft.ndim)])
    one_hot = (positions == xp.expand_dims(soft._data.argmax(axis=axis), axis)).astype(soft.dtype)
    return Tensor(one_hot, device=logits.device) - soft.detach() + soft


def unfold(input: Tensor, kernel_size: IntPair, dilation: IntPair = 1, padding: IntPair = 0,  # noqa: A002
           stride: IntPair = 1) -> Tensor:
    """torch's im2col: sliding blocks of (N, C, H, W) or (C, H, W) input as columns -> (N, C*kh*kw, L)."""
    return _batched("unfold", input, 4, lambda x: unfold_op(x, kernel_size, dilation, padding, stride))


def fold(input: Tensor, output_size: IntPair, kernel_size: IntPair, dilation: IntPair = 1,  # noqa: A002
         padding: IntPair = 0, stride: IntPair = 1) -> Tensor:
    """torch's col2im: columns (N, C*kh*kw, L) or (C*kh*kw, L) summed into images (N, C, *output_size)."""
    return _batched("fold", input, 3, lambda x: fold_op(x, output_size, kernel_size, dilation, padding, stride))


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


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: TensorLike | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(query key^T * scale + mask) value for query (..., L, E), key (..., S, E), value (..., S, Ev) ->
    (..., L, Ev), as torch's: ``scale`` defaults to 1/sqrt(E); ``attn_mask`` is a bool mask (True takes part) or
    a float one added to the scores, broadcast to (..., L, S); ``is_causal`` masks the upper triangle (aligned at
    the top left); ``dropout_p`` drops attention weights whatever the module's mode (pass 0 when evaluating, as
    with torch); ``enable_gqa`` repeats each key/value head for its group of query heads (dim -3). A query row
    that no key may attend to gives zeros (and a zero gradient), as torch's CPU kernels do. float16 inputs are
    computed in float32 and rounded once at the end (torch's CPU kernel keeps its scores in float32 too)."""
    if query.dtype == numpy.float16 and key.dtype == numpy.float16 and value.dtype == numpy.float16:
        mask16 = isinstance(attn_mask, Tensor) and attn_mask.dtype == numpy.float16
        return scaled_dot_product_attention(
            query.astype("float32"), key.astype("float32"), value.astype("float32"),
            attn_mask.astype("float32") if mask16 else attn_mask, dropout_p, is_causal, scale,
            enable_gqa).astype("float16")
    n_e, n_l, n_s = query.shape[-1], query.shape[-2], key.shape[-2]
    if enable_gqa and key.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        heads, hk = query.shape[-3], key.shape[-3]
        if heads % hk:
            raise ValueError(f"scaled_dot_product_attention(enable_gqa=True): {heads} query heads are not a multiple "
                             f"of {hk} key/value heads")
        key, value = (movement.repeat_interleave(t, heads // hk, -3) for t in (key, value))
    scale = 1.0 / n_e ** 0.5 if scale is None else float(scale)
    scores = query @ movement.transpose(key, (*range(key.ndim - 2), key.ndim - 1, key.ndim - 2)) * scale
    xp = query.xp
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass attn_mask or is_causal=True, not both")
        attn_mask = Tensor(xp.tril(xp.ones((n_l, n_s), dtype=bool)), device=query.device)
    blocked = None
    if attn_mask is not None:
        mask = as_tensor(attn_mask, query)
        if mask.dtype != bool and mask.dtype.kind != "f" and mask.dtype != query.dtype:
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or floating (or the query's "
                            f"dtype), got {mask.dtype}")
        if mask.ndim > scores.ndim or any(m not in (1, n) for m, n in zip(mask.shape[::-1], scores.shape[::-1])):
            raise RuntimeError(f"scaled_dot_product_attention: attn_mask {mask.shape} does not broadcast to the "
                               f"scores' shape {scores.shape}")
        scores = where(mask, scores, -float("inf")) if mask.dtype == bool else scores + mask
        rows = xp.all(scores._data == -xp.inf, axis=-1, keepdims=True)  # queries no key may attend to
        blocked = Tensor(rows, device=query.device) if bool(rows.any()) else None
    if blocked is None:
        weights = softmax(scores, dim=-1)
    else:  # their softmax would be nan: zeros instead, as torch's CPU kernels
        weights = where(blocked, 0.0, softmax(where(blocked, 0.0, scores), dim=-1))
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return weights @ value



# ---------------------------------------------------------------- torch's other names for the functions above
def _inplace_version(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """torch's ``relu_`` for ``relu``: the function with ``inplace=True``."""
    def inplace_fn(input: Tensor, *args: Any, **kwargs: Any) -> Tensor:  # noqa: A002 - torch's name
        return fn(input, *args, inplace=True, **kwargs)
    inplace_fn.__name__ = inplace_fn.__qualname__ = f"{fn.__name__}_"
    inplace_fn.__doc__ = f"``{fn.__name__}(x, ..., inplace=True)``: the result written into x."
    return inplace_fn


relu_, elu_, celu_, selu_, leaky_relu_, hardtanh_, threshold_, rrelu_ = (
    _inplace_version(fn) for fn in (relu, elu, celu, selu, leaky_relu, hardtanh, threshold, rrelu))


def _with_indices(fn: Callable[..., Any]) -> Callable[..., tuple[Tensor, Tensor]]:
    """torch's ``max_pool2d_with_indices`` for ``max_pool2d``: the function with ``return_indices=True``."""
    def with_indices(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
        return fn(*args, **{**kwargs, "return_indices": True})
    with_indices.__name__ = with_indices.__qualname__ = f"{fn.__name__}_with_indices"
    with_indices.__doc__ = f"``{fn.__name__}(..., return_indices=True)``: (values, int64 indices)."
    return with_indices


max_pool1d_with_indices, max_pool2d_with_indices, adaptive_max_pool1d_with_indices, \
    adaptive_max_pool2d_with_indices = (_with_indices(fn) for fn in (max_pool1d, max_pool2d, adaptive_max_pool1d,
                                                                    adaptive_max_pool2d))


# the 3-D and fractional pools and conv_transpose3d, built on the functions above
# (and torch's functional attention, nn.MultiheadAttention's computation)
from .attention import multi_head_attention_forward as multi_head_attention_forward  # noqa: E402
from .chunked_loss import linear_cross_entropy_chunked  # noqa: E402
from .volumetric import (  # noqa: E402
    adaptive_max_pool3d,
    adaptive_max_pool3d_with_indices,
    conv_transpose3d,
    fractional_max_pool2d,
    fractional_max_pool2d_with_indices,
    fractional_max_pool3d,
    fractional_max_pool3d_with_indices,
    lp_pool3d,
    max_pool3d_with_indices,
    max_unpool3d,
)


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",  # noqa: A002
             align_corners: bool | None = None) -> Tensor:
    """torch's deprecated name for ``interpolate`` (with its warning)."""
    warnings.warn("upsample is deprecated; nn.functional.interpolate takes the same arguments", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:  # noqa: A002
    """torch's deprecated ``interpolate(mode="nearest")`` (with its warning)."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated; call nn.functional.interpolate(mode='nearest')",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size: Any = None, scale_factor: Any = None) -> Tensor:  # noqa: A002
    """torch's deprecated ``interpolate(mode="bilinear", align_corners=True)`` (with its warning)."""
    warnings.warn("upsample_bilinear is deprecated; call nn.functional.interpolate(mode='bilinear', "
                  "align_corners=True)",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


__all__ = [
    "CSRBatch", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
    "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices",
    "affine_grid", "alpha_dropout",
    "avg_pool1d", "avg_pool2d", "batch_norm", "bernoulli_log_likelihood", "bilinear", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "celu", "celu_", "channel_shuffle", "conv1d", "conv2d", "conv_transpose1d",
    "conv_transpose2d", "cosine_embedding_loss", "cosine_similarity", "cross_entropy", "ctc_loss", "dropout",
    "dropout1d", "dropout2d", "dropout3d", "elu", "elu_", "embedding", "embedding_bag", "feature_alpha_dropout", "fold",
    "gaussian_kl", "gaussian_nll_loss", "gelu", "glu", "grid_sample", "group_norm", "gumbel_softmax", "hardshrink",
    "hardsigmoid",
    "hardswish", "hardtanh", "hardtanh_", "hinge_embedding_loss", "huber_loss", "instance_norm", "interpolate",
    "is_csr", "kl_div", "l1_loss", "layer_norm", "leaky_relu", "leaky_relu_", "linear", "local_response_norm",
    "log_softmax", "logsigmoid", "lp_pool1d", "lp_pool2d", "margin_ranking_loss", "max_pool1d",
    "max_pool1d_with_indices", "max_pool2d", "max_pool2d_with_indices", "max_unpool1d", "max_unpool2d", "mish",
    "mse_loss", "multi_margin_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss", "nll_loss", "normalize",
    "one_hot", "pad", "pairwise_distance", "pdist", "pixel_shuffle", "pixel_unshuffle", "poisson_nll_loss", "prelu",
    "reduce_loss", "relu", "relu6", "relu_", "reparameterize", "rms_norm", "rrelu", "rrelu_",
    "scaled_dot_product_attention", "selu", "selu_", "sigmoid", "silu", "smooth_l1_loss", "soft_margin_loss",
    "softmax", "softmin", "softplus", "softshrink", "softsign", "tanh", "tanhshrink", "threshold", "threshold_",
    "triplet_margin_loss", "triplet_margin_with_distance_loss", "unfold", "upsample", "upsample_bilinear",
    "upsample_nearest",
]
__all__ += ["adaptive_max_pool3d", "adaptive_max_pool3d_with_indices", "conv_transpose3d", "fractional_max_pool2d",
            "fractional_max_pool2d_with_indices", "fractional_max_pool3d", "fractional_max_pool3d_with_indices",
            "lp_pool3d", "max_pool3d_with_indices", "max_unpool3d"]
__all__ += ["conv_tbc", "multi_head_attention_forward", "native_channel_shuffle"]
