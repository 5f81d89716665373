"""Layers with PyTorch's argument names and weight layouts, so checkpoints and habits carry over."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import partial
from numbers import Integral
from typing import Any

from ..creation import full, ones, zeros
from ..ops.conv import IntPair, ints, pair, single
from ..ops.norm import cross_map_lrn2d
from ..tensor import Tensor, bump_version
from . import functional as F
from . import init
from .init import default_init_
from .module import Module, Parameter


def _positive(name: str, value: int) -> int:
    if not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _nonnegative(name: str, value: int) -> int:
    """``value`` as an int >= 0 (torch's Linear takes 0 features: an empty weight, the bias as the output)."""
    if not isinstance(value, Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


class Linear(Module):
    """y = x W^T + b for x (..., in_features) -> (..., out_features); weight (out, in), bias (out,).

    ``x`` may also be a sparse CSR batch (N, in_features): only its stored entries are read (``F.linear``).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: str | None = None,
                 dtype: Any = None) -> None:
        self.in_features = _nonnegative("in_features", in_features)
        self.out_features = _nonnegative("out_features", out_features)
        self.weight = Parameter(zeros(out_features, in_features, dtype=dtype, device=device))
        self.register_parameter("bias", Parameter(zeros(out_features, dtype=dtype, device=device)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default draws: Kaiming-uniform weight, bias uniform in +-1/sqrt(fan_in). ``__init__`` calls it, so
        a subclass's own ``reset_parameters`` makes the first weights, as in torch."""
        default_init_(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _sizes(dims: int, one: bool = False) -> Callable[[Any, str, int], tuple[int, ...]]:
    """A checked 1-tuple of sizes for 1-D layers, a pair for 2-D ones, a triple for 3-D ones (``ints``; ``one``: a
    1-tuple also stands for every dim, as torch's pools take it)."""
    return lambda v, name, least: ints(v, name, least, dims, one)


def conv_repr(m: Module) -> str:
    """A convolution layer's settings as torch prints them: the options away from their defaults."""
    n = m.dims
    text = f"{m.in_channels}, {m.out_channels}, kernel_size={m.kernel_size}, stride={m.stride}"
    for name, default in (("padding", (0,) * n), ("dilation", (1,) * n), ("output_padding", (0,) * n),
                          ("groups", 1)):
        value = getattr(m, name, default)
        text += f", {name}={value}" if value != default else ""
    text += ", bias=False" if m.bias is None else ""
    mode = getattr(m, "padding_mode", "zeros")
    return text + (f", padding_mode={mode}" if mode != "zeros" else "")


class _ConvNd(Module):
    """What Conv1d and Conv2d share: torch's arguments and checks, weight (out, in / groups, *kernel_size)."""

    dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair | str = 0, dilation: IntPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: str | None = None, dtype: Any = None) -> None:
        name, size = type(self).__name__, _sizes(self.dims)
        self.in_channels = _positive("in_channels", in_channels)
        self.out_channels = _positive("out_channels", out_channels)
        self.groups = _positive("groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                             f"divisible by groups ({groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.kernel_size = size(kernel_size, f"{name} kernel_size", 1)
        self.stride = size(stride, f"{name} stride", 1)
        self.dilation = size(dilation, f"{name} dilation", 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, 'same' or 'valid', got {padding!r}")
            if padding == "same" and any(st != 1 for st in self.stride):
                raise ValueError(f"{name}: padding='same' needs stride 1 (as torch), got stride {self.stride}")
            self.padding: tuple[int, ...] | str = padding
        else:
            self.padding = size(padding, f"{name} padding", 0)
        self.padding_mode = padding_mode
        self.transposed, self.output_padding = False, (0,) * self.dims  # torch's _ConvNd attributes
        self.weight = Parameter(zeros(out_channels, in_channels // groups, *self.kernel_size, dtype=dtype,
                                      device=device))
        self.register_parameter("bias", Parameter(zeros(out_channels, dtype=dtype, device=device)) if bias else None)
        self.reset_parameters()

    reset_parameters = Linear.reset_parameters

    def forward(self, x: Tensor) -> Tensor:
        """``self._conv_forward(x, self.weight, self.bias)``, as torch's (a subclass overriding ``_conv_forward``,
        as whisper's Conv1d casting the weight to the input's dtype, is heard)."""
        return self._conv_forward(x, self.weight, self.bias)

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """The convolution of ``x`` with the given ``weight`` and ``bias`` under this layer's settings."""
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[self.dims]
        if self.padding_mode == "zeros":
            return conv(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)
        return conv(F.pad(x, self._pads(), mode=self.padding_mode), weight, bias, self.stride, 0,
                    self.dilation, self.groups)

    def _pads(self) -> tuple[int, ...]:
        """``padding`` as F.pad's amounts (before, after; last dim first), for a padding_mode other than zeros."""
        if self.padding == "valid":
            return (0, 0) * self.dims
        if self.padding == "same":  # the odd one after, as F.conv2d's 'same'
            totals = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
            return tuple(v for t in reversed(totals) for v in (t // 2, t - t // 2))
        return tuple(v for q in reversed(self.padding) for v in (q, q))

    def extra_repr(self) -> str:
        return conv_repr(self)


class Conv2d(_ConvNd):
    """2-D cross-correlation of x (N, in_channels, H, W) or (in_channels, H, W) -> (N, out_channels, Ho, Wo);
    weight (out, in / groups, kh, kw). torch's arguments: padding an int, a pair, 'same' or 'valid'; dilation;
    groups; padding_mode 'zeros', 'reflect', 'replicate' or 'circular'."""

    dims = 2


class Conv1d(_ConvNd):
    """1-D cross-correlation of x (N, in_channels, L) or (in_channels, L) -> (N, out_channels, Lo); weight
    (out, in / groups, k) (``F.conv1d``); the arguments of Conv2d, each one int."""

    dims = 1


class Conv3d(_ConvNd):
    """3-D cross-correlation of x (N, in_channels, D, H, W) or (in_channels, D, H, W) -> (N, out_channels, Do, Ho,
    Wo); weight (out, in / groups, kd, kh, kw) (``F.conv3d``); the arguments of Conv2d, with triples for pairs."""

    dims = 3


class _MaxPoolNd(Module):
    """Max over kernel windows of NCHW (or unbatched CHW) input; ``stride`` defaults to ``kernel_size``. torch's
    arguments (``F.max_pool2d``)."""

    dims = 2

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                 dilation: IntPair = 1, return_indices: bool = False, ceil_mode: bool = False) -> None:
        stride = kernel_size if stride is None else stride
        checked = kernel_size if isinstance(stride, (tuple, list)) and not stride else stride  # ([]: the kernel's)
        for name, value, least in (("kernel_size", kernel_size, 1), ("stride", checked, 1), ("padding", padding, 0)):
            _sizes(self.dims, True)(value, f"{type(self).__name__} {name}", least)  # checked, kept as given, as torch
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x: Tensor) -> Any:
        pool = F.max_pool2d if self.dims == 2 else F.max_pool3d
        return pool(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                    self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool2d(_MaxPoolNd):  # MaxPool3d: its siblings, not subclasses (as torch)
    __doc__ = _MaxPoolNd.__doc__


class MaxPool3d(_MaxPoolNd):
    """Max over kd x kh x kw windows of (N, C, D, H, W) or (C, D, H, W) input (``F.max_pool3d``); the arguments of
    MaxPool2d, with triples for pairs."""

    dims = 3


class _DropoutNd(Module):
    """torch's base of every dropout module (``p``, ``inplace``): as torch, Dropout2d or AlphaDropout is a
    ``_DropoutNd`` but not a ``Dropout``, so ``isinstance(m, nn.Dropout)`` picks out plain dropout only."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        self.p, self.inplace = F.check_dropout_p(p), inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Inverted dropout with probability ``p`` in [0, 1] while training; the identity after ``eval()``.

    A sparse CSR batch stays sparse: its stored entries are dropped (``F.dropout``).
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.inplace)


class Softplus(Module):
    """log(1 + exp(beta x)) / beta."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Flatten(Module):
    """Merge dims ``start_dim``..``end_dim`` (by default all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input; like torch's, it takes and ignores any constructor arguments."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def forward(self, x: Tensor) -> Tensor:
        return x


class GELU(Module):
    """x Phi(x); ``approximate="tanh"`` for the tanh form."""

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """Softmax along ``dim`` (``dim=None``: torch's legacy choice, 0 for 0/1/3-d input, else 1, with its warning)."""

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmin(Module):  # not a Softmax subclass, as torch (isinstance(m, nn.Softmax) is False for it)
    """softmax(-x) along ``dim``."""

    __init__, extra_repr = Softmax.__init__, Softmax.extra_repr

    def forward(self, x: Tensor) -> Tensor:
        return F.softmin(x, self.dim)


class LogSoftmax(Module):  # not a Softmax subclass, as torch
    __init__, extra_repr = Softmax.__init__, Softmax.extra_repr

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)


class Softmax2d(Module):
    """Softmax over the channels of (N, C, H, W) or (C, H, W) input, at every position."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {x.shape}")
        return F.softmax(x, -3)


class Bilinear(Module):
    """y = x1^T A x2 + b for x1 (..., in1_features), x2 (..., in2_features) -> (..., out_features); weight
    (out, in1, in2) and bias (out,) uniform in +-1/sqrt(in1_features), as torch."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True,
                 device: str | None = None, dtype: Any = None) -> None:
        self.in1_features = _positive("in1_features", in1_features)
        self.in2_features = _positive("in2_features", in2_features)
        self.out_features = _positive("out_features", out_features)
        self.weight = Parameter(zeros(out_features, in1_features, in2_features, dtype=dtype, device=device))
        self.register_parameter("bias", Parameter(zeros(out_features, dtype=dtype, device=device)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight and bias uniform in +-1/sqrt(in1_features), as torch's (``__init__`` calls it)."""
        bound = 1 / self.weight.shape[1] ** 0.5
        for p in (self.weight, self.bias):
            if p is not None:
                init.uniform_(p, -bound, bound)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.bilinear(x1, x2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


def _embedding_table(op: str, num_embeddings: int, embedding_dim: int, _weight: Tensor | None, requires_grad: bool,
                     device: str | None, dtype: Any) -> Parameter:
    """An embedding layer's weight (num_embeddings, embedding_dim), as torch makes it: ``_weight`` itself (shared, not
    copied), or zeros that the layer's ``reset_parameters`` then fills."""
    if _weight is None:
        return Parameter(zeros(num_embeddings, embedding_dim, dtype=dtype, device=device),
                         requires_grad=requires_grad)
    if tuple(_weight.shape) != (num_embeddings, embedding_dim):
        raise ValueError(f"{op}: _weight has shape {tuple(_weight.shape)}, expected ({num_embeddings}, "
                         f"{embedding_dim}) (num_embeddings, embedding_dim)")
    return Parameter(_weight, requires_grad=requires_grad)


def _embedding_options(op: str, num_embeddings: int, embedding_dim: int, padding_idx: int | None,
                       sparse: bool) -> tuple[int, int, int | None]:
    """(num_embeddings, embedding_dim, padding_idx as a non-negative index or None), checked."""
    num, dim = _positive("num_embeddings", num_embeddings), _positive("embedding_dim", embedding_dim)
    return num, dim, F.check_embedding_options(op, num, padding_idx, sparse)


def _pretrained(op: str, embeddings: Tensor) -> tuple[int, int]:
    if embeddings.ndim != 2:
        raise ValueError(f"{op}.from_pretrained: embeddings must be 2-D (num_embeddings, embedding_dim), got shape "
                         f"{tuple(embeddings.shape)}")
    return embeddings.shape[0], embeddings.shape[1]


class _Table:
    """What Embedding and EmbeddingBag share: torch's ``reset_parameters`` (N(0, 1), the row ``padding_idx``
    zeroed), which their ``__init__`` calls unless given the table (``_weight``), so a subclass's own one runs."""

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0
            bump_version(self.weight)


def _options_repr(m: Module, *extras: tuple[str, Any]) -> str:
    """``num, dim`` and the options that differ from their defaults, in torch's order."""
    shown = [f"{name}={getattr(m, name)!r}" for name, default in extras if getattr(m, name) != default]
    return ", ".join([f"{m.num_embeddings}, {m.embedding_dim}", *shown])


class Embedding(_Table, Module):
    """A lookup table: integer indices (any shape) -> rows of ``weight`` (num_embeddings, embedding_dim), N(0, 1)
    initialised as in torch; the row ``padding_idx`` starts at zero and gets no gradient. ``max_norm``,
    ``norm_type`` and ``scale_grad_by_freq`` are ``F.embedding``'s; ``_weight`` (the table itself, shared, not
    copied) and ``_freeze`` (no gradient) are what ``from_pretrained`` passes."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Tensor | None = None, _freeze: bool = False,
                 device: str | None = None, dtype: Any = None) -> None:
        self.num_embeddings, self.embedding_dim, self.padding_idx = _embedding_options(
            "Embedding", num_embeddings, embedding_dim, padding_idx, sparse)
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        self.sparse = sparse
        self.weight = _embedding_table("Embedding", self.num_embeddings, self.embedding_dim, _weight, not _freeze,
                                       device, dtype)
        if _weight is None:
            self.reset_parameters()

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (num_embeddings, embedding_dim), shared as in torch (its row
        ``padding_idx`` is kept as it is); ``freeze`` (default) gives it no gradient."""
        return cls(*_pretrained("Embedding", embeddings), padding_idx=padding_idx, max_norm=max_norm,
                   norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=embeddings,
                   _freeze=freeze)

    def forward(self, x: Tensor) -> Tensor:
        return F.embedding(x, self.weight, self.padding_idx, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                           self.sparse)

    def extra_repr(self) -> str:
        return _options_repr(self, ("padding_idx", None), ("max_norm", None), ("norm_type", 2.0),
                             ("scale_grad_by_freq", False), ("sparse", False))


class EmbeddingBag(_Table, Module):
    """Bags of embeddings reduced to one row each (``F.embedding_bag``): ``forward(input, offsets=None,
    per_sample_weights=None)`` -> (B, embedding_dim) by ``mode`` "mean" (default), "sum" or "max"; ``weight``
    (num_embeddings, embedding_dim) is N(0, 1) initialised with the row ``padding_idx`` zeroed, as in torch."""

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                 _weight: Tensor | None = None, include_last_offset: bool = False, padding_idx: int | None = None,
                 device: str | None = None, dtype: Any = None) -> None:
        self.num_embeddings, self.embedding_dim, self.padding_idx = _embedding_options(
            "EmbeddingBag", num_embeddings, embedding_dim, padding_idx, sparse)
        if mode not in F.BAG_MODES:
            raise ValueError(f"EmbeddingBag: mode must be one of {F.BAG_MODES}, got {mode!r}")
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        self.sparse = sparse
        self.mode, self.include_last_offset = mode, include_last_offset
        self.weight = _embedding_table("EmbeddingBag", self.num_embeddings, self.embedding_dim, _weight, True, device,
                                       dtype)
        if _weight is None:
            self.reset_parameters()

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                        sparse: bool = False, include_last_offset: bool = False,
                        padding_idx: int | None = None) -> EmbeddingBag:
        """An EmbeddingBag whose weight is ``embeddings`` (num_embeddings, embedding_dim), shared as in torch;
        ``freeze`` (default) gives it no gradient."""
        bag = cls(*_pretrained("EmbeddingBag", embeddings), max_norm=max_norm, norm_type=norm_type,
                  scale_grad_by_freq=scale_grad_by_freq, mode=mode, sparse=sparse, _weight=embeddings,
                  include_last_offset=include_last_offset, padding_idx=padding_idx)
        bag.weight.requires_grad = not freeze
        return bag

    def forward(self, input: Tensor, offsets: Tensor | None = None,  # noqa: A002 - torch's name
                per_sample_weights: Tensor | None = None) -> Tensor:
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                               self.mode, self.sparse, per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self) -> str:
        return _options_repr(self, ("max_norm", None), ("norm_type", 2.0), ("scale_grad_by_freq", False),
                             ("mode", None), ("padding_idx", None))


class LayerNorm(Module):
    """Normalise over the trailing dims ``normalized_shape``; learnable ``weight`` (ones) and ``bias`` (zeros)."""

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: str | None = None, dtype: Any = None) -> None:
        shape = (normalized_shape,) if isinstance(normalized_shape, Integral) else tuple(normalized_shape)
        self.normalized_shape = tuple(_positive("normalized_shape", n) for n in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        affine = elementwise_affine
        self.register_parameter("weight", Parameter(ones(shape, dtype=dtype, device=device)) if affine else None)
        self.register_parameter("bias", Parameter(zeros(shape, dtype=dtype, device=device))
                                if affine and bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """weight ones, bias zeros (torch's; ``__init__`` calls it, so a subclass's own one runs)."""
        _ones_zeros(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        """torch 2.13's: the shape, eps, elementwise_affine and whether there is a bias."""
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing dims ``normalized_shape`` (``F.rms_norm``), with a learnable
    ``weight`` (ones, no bias); ``eps=None`` is the input dtype's machine epsilon, as in torch."""

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float | None = None,
                 elementwise_affine: bool = True, device: str | None = None, dtype: Any = None) -> None:
        shape = (normalized_shape,) if isinstance(normalized_shape, Integral) else tuple(normalized_shape)
        self.normalized_shape = tuple(_positive("normalized_shape", n) for n in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.register_parameter("weight", Parameter(ones(shape, dtype=dtype, device=device))
                                if elementwise_affine else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """weight ones (torch's; ``__init__`` calls it, so a subclass's own one runs)."""
        _ones_zeros(self.weight, None)

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


def _ones_zeros(weight: Tensor | None, bias: Tensor | None) -> None:
    """A norm layer's affine parameters back to weight 1, bias 0 (either may be None)."""
    if weight is not None:
        init.ones_(weight)
    if bias is not None:
        init.zeros_(bias)


def _keep_num_batches_tracked(module: _NormBase, state_dict: dict[str, Any], prefix: str) -> None:
    """A load_state_dict pre-hook: a state dict without ``num_batches_tracked`` (saved before torch 0.4.1 had it)
    leaves the module's count as it is instead of missing it, as torch does for a plain dict."""
    key = f"{prefix}num_batches_tracked"
    if key not in state_dict and module.num_batches_tracked is not None:
        state_dict[key] = module.num_batches_tracked._data


class _NormBase(Module):
    """The parameters and running statistics that batch and instance norms share (torch's ``_NormBase``: neither
    is the other's subclass, so ``isinstance(m, _BatchNorm)`` is False for an InstanceNorm, as in torch)."""

    dims: tuple[int, ...] = ()
    _version = 2  # torch's state_dict version of batch and instance norms (the one with num_batches_tracked)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: str | None = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        self.num_features = _positive("num_features", num_features)
        self.eps, self.momentum, self.affine, self.track_running_stats = eps, momentum, affine, track_running_stats
        self.register_parameter("weight", Parameter(ones(num_features, dtype=dtype, device=device)) if affine else None)
        self.register_parameter("bias", Parameter(zeros(num_features, dtype=dtype, device=device))
                                if affine and bias else None)
        self._bias = bias  # (torch's ``bias=False``: an affine scale without the shift)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", zeros((), dtype="int64", device=device))
            vars(self).setdefault("_load_state_dict_pre_hooks", []).append(partial(_keep_num_batches_tracked, self))
        else:  # None buffer slots, as torch's: a tensor set there later is a buffer
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:  # (written in place: a graph that saved them raises at backward, as torch's)
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        """The running statistics reset, weight ones, bias zeros (torch's; ``__init__`` calls it)."""
        self.reset_running_stats()
        _ones_zeros(self.weight, self.bias)


class _BatchNorm(_NormBase):
    """Per-channel normalisation with running statistics (buffers ``running_mean``, ``running_var`` and
    ``num_batches_tracked``, all in the state dict): batch statistics while training, running ones after ``eval()``.
    ``momentum=None`` makes the running statistics a cumulative average. ``load_state_dict`` of a dict without
    ``num_batches_tracked`` keeps the present count, as torch's."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self.dims:
            raise ValueError(f"{type(self).__name__}: expected {' or '.join(f'{d}-d' for d in self.dims)} input, "
                             f"got shape {x.shape}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked._data += 1
            bump_version(self.num_batches_tracked)  # (torch's add_; its kernel's running-stat writes do not count)
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked.item())
        # torch's rule: batch statistics while training (or without running ones); the running statistics are
        # updated only while training with track_running_stats (flipping it off after __init__ leaves them alone)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if keep else None, self.running_var if keep else None,
                            self.weight, self.bias, use_batch, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) or (N, C, L) input over N (and L)."""

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) input over N, H and W."""

    dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch norm of (N, C, D, H, W) input over N, D, H and W."""

    dims = (5,)


class SyncBatchNorm(_BatchNorm):
    """torch's ``SyncBatchNorm`` in one process: batch norm of (N, C, ...) input of any rank >= 2, as torch's falls
    back to when no process group exists; once ``init_process_group`` ran, a training forward of a CPU tensor raises
    ValueError, as torch's. ``process_group`` is only kept."""

    dims = range(2, 65)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group: Any = None, device: str | None = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2:
            raise ValueError(f"SyncBatchNorm: expected at least 2D input (got {x.ndim}D input)")
        if x.shape[1] == 0:
            raise ValueError("SyncBatchNorm: the input has 0 channels")
        from .. import distributed  # torch's syncs a training forward once a process group exists: not on CPU
        if self.training and distributed.is_initialized() and x.device.type == "cpu":
            raise ValueError("SyncBatchNorm: training over a process group needs the input on a GPU; on the CPU use "
                             "BatchNorm1d / 2d / 3d")
        return super().forward(x)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every BatchNorm layer in it replaced by a SyncBatchNorm that shares its parameters and
        buffers (a new module if ``module`` is one; instance norms are left alone), as torch's."""
        out = module
        if isinstance(module, _BatchNorm):  # (an InstanceNorm is none, as in torch)
            out = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                      process_group)
            if module.affine:
                out.weight, out.bias = module.weight, module.bias
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked, out.training = module.num_batches_tracked, module.training
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out


class GroupNorm(Module):
    """Group norm of (N, C, ...) input: ``num_groups`` groups of channels, each normalised per sample
    (``F.group_norm``); learnable per-channel ``weight`` (ones) and ``bias`` (zeros) when ``affine``."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: str | None = None, dtype: Any = None, *, bias: bool = True) -> None:
        self.num_groups = _positive("num_groups", num_groups)
        self.num_channels = _positive("num_channels", num_channels)
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.eps, self.affine = eps, affine
        self.register_parameter("weight", Parameter(ones(num_channels, dtype=dtype, device=device)) if affine else None)
        self.register_parameter("bias", Parameter(zeros(num_channels, dtype=dtype, device=device))
                                if affine and bias else None)
        self.reset_parameters()

    reset_parameters = LayerNorm.reset_parameters

    def forward(self, x: Tensor) -> Tensor:
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(_NormBase):
    """Instance norm (``F.instance_norm``): each channel of each sample normalised over its positions; an
    unbatched input (one dim fewer) is one sample. ``track_running_stats`` keeps running statistics (updated while
    training, used after ``eval()``), as torch."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device: str | None = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        if affine and not bias:
            self.bias = None

    def forward(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        if x.ndim not in self.dims:
            raise ValueError(f"{name}: expected {' or '.join(f'{d}-d' for d in self.dims)} input, got shape {x.shape}")
        if x.ndim == self.dims[0]:  # unbatched
            return self.forward(x.unsqueeze(0)).squeeze(0)
        if x.shape[1] != self.num_features:
            if self.affine:
                raise ValueError(f"{name}: expected input's size at dim=1 to match num_features "
                                 f"({self.num_features}), but got: {x.shape[1]}.")
            warnings.warn("the input's channel count (dim 1) differs from num_features, which affine=False leaves "
                          "unused anyway; drop num_features or fix it to end this warning", UserWarning, stacklevel=2)
        use_input_stats = self.training or not self.track_running_stats
        return F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_input_stats,
                               0.0 if self.momentum is None else self.momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance norm of (N, C, L) or unbatched (C, L) input over L."""

    dims = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Instance norm of (N, C, H, W) or unbatched (C, H, W) input over H and W."""

    dims = (3, 4)


class InstanceNorm3d(_InstanceNorm):
    """Instance norm of (N, C, D, H, W) or unbatched (C, D, H, W) input over D, H and W."""

    dims = (4, 5)


class LocalResponseNorm(Module):
    """x / (k + alpha mean(x^2 over ``size`` neighbouring channels))^beta (``F.local_response_norm``)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        self.size, self.alpha, self.beta, self.k = _positive("size", size), alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class CrossMapLRN2d(Module):
    """torch's legacy cross-channel LRN of (N, C, H, W) input (``ops.norm.cross_map_lrn2d``: its window and its
    gradient are not ``LocalResponseNorm``'s)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1) -> None:
        self.size, self.alpha, self.beta, self.k = _positive("size", size), alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        return cross_map_lrn2d(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class _Activation(Module):
    """An elementwise activation: ``forward(x)`` is ``function(x, **options)``, the options given to the constructor
    (kept as attributes, shown by ``repr``)."""

    function: Callable[..., Tensor]

    def __init__(self, **options: Any) -> None:
        self.__dict__.update(options)
        self._options = tuple(options)

    def forward(self, x: Tensor) -> Tensor:
        return type(self).function(x, **{name: getattr(self, name) for name in self._options})

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)}" for name in self._options
                         if name != "inplace" or getattr(self, name))


class LeakyReLU(_Activation):
    """x where x > 0, else negative_slope x."""

    function = staticmethod(F.leaky_relu)

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__(negative_slope=negative_slope, inplace=inplace)


class _ELUBase(_Activation):
    """x where x > 0, else alpha (exp(x) - 1)."""

    function = staticmethod(F.elu)

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(alpha=alpha, inplace=inplace)


class ELU(_ELUBase):  # CELU: its siblings, not subclasses (as torch)
    __doc__ = _ELUBase.__doc__


class CELU(_ELUBase):
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1))."""

    function = staticmethod(F.celu)


class _InplaceActivation(_Activation):
    """An activation whose only option is torch's ``inplace``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(inplace=inplace)


class SELU(_InplaceActivation):
    """scale elu(x, alpha), the self-normalising constants."""

    function = staticmethod(F.selu)


class Hardsigmoid(_InplaceActivation):
    """min(max(x + 3, 0), 6) / 6."""

    function = staticmethod(F.hardsigmoid)


class Hardswish(_InplaceActivation):
    """x min(max(x + 3, 0), 6) / 6."""

    function = staticmethod(F.hardswish)


class Mish(_InplaceActivation):
    """x tanh(softplus(x))."""

    function = staticmethod(F.mish)


class _ShrinkBase(_Activation):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""

    function = staticmethod(F.softshrink)

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__(lambd=lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Softshrink(_ShrinkBase):  # Hardshrink: its siblings, not subclasses (as torch)
    __doc__ = _ShrinkBase.__doc__


class Hardshrink(_ShrinkBase):
    """x where |x| > lambd, else 0."""

    function = staticmethod(F.hardshrink)


class RReLU(Module):
    """Randomized leaky relu (``F.rrelu``): a slope from U(lower, upper) per negative element while training, their
    mean after ``eval()``."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False) -> None:
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.rrelu(x, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")


class Tanhshrink(_Activation):
    """x - tanh(x)."""

    function = staticmethod(F.tanhshrink)


class ReLU(_InplaceActivation):
    """max(x, 0)."""

    function = staticmethod(F.relu)


class SiLU(_InplaceActivation):
    """x sigmoid(x)."""

    function = staticmethod(F.silu)


class Hardtanh(_Activation):
    """x clamped to [min_val, max_val]."""

    function = staticmethod(F.hardtanh)

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        """``min_value`` / ``max_value``: torch's deprecated spellings of ``min_val`` / ``max_val``."""
        for old, new in (("min_value", min_value), ("max_value", max_value)):
            if new is not None:
                warnings.warn(f"keyword argument `{old}` is deprecated and renamed to `{old[:-2]}`", FutureWarning,
                              stacklevel=2)
        min_val = min_val if min_value is None else min_value
        max_val = max_val if max_value is None else max_value
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
        super().__init__(min_val=min_val, max_val=max_val, inplace=inplace)


class ReLU6(Hardtanh):
    """min(max(x, 0), 6): torch's ReLU6 is a Hardtanh(0.0, 6.0) (``isinstance(m, nn.Hardtanh)`` holds)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Threshold(_Activation):
    """x where x > threshold, else value."""

    function = staticmethod(F.threshold)

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__(threshold=threshold, value=value, inplace=inplace)


class LogSigmoid(_Activation):
    """log(sigmoid(x)), stable for large |x|."""

    function = staticmethod(F.logsigmoid)


class Softsign(_Activation):
    """x / (1 + |x|)."""

    function = staticmethod(F.softsign)


class GLU(_Activation):
    """a sigmoid(b) of the two halves of the input along ``dim``."""

    function = staticmethod(F.glu)

    def __init__(self, dim: int = -1) -> None:
        super().__init__(dim=dim)


class CosineSimilarity(Module):
    """The cosine similarity of two inputs along ``dim``, which is reduced away (``F.cosine_similarity``)."""

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PReLU(Module):
    """x where x > 0, else w x with a learnable slope ``weight`` (num_parameters,), all ``init`` at first: one for
    every channel (num_parameters=1) or one per channel (dim 1) of the input."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: str | None = None,
                 dtype: Any = None) -> None:
        self.num_parameters = _positive("num_parameters", num_parameters)
        self.init = init
        self.weight = Parameter(full((num_parameters,), float(init), dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every slope back to ``init`` (torch's; ``__init__`` calls it, so a subclass's own one runs)."""
        init.constant_(self.weight, self.init)

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (one entry may be -1), the inverse of Flatten."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...]) -> None:
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x: Tensor) -> Tensor:
        d = self.dim % x.ndim
        return x.reshape(*x.shape[:d], *self.unflattened_size, *x.shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout2d(_DropoutNd):
    """Channel dropout while training: each channel map of (N, C, H, W) input is zeroed with probability ``p`` (the
    rest scaled by 1/(1-p)); the identity after ``eval()``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Channel dropout while training: each channel volume of (N, C, D, H, W) or (C, D, H, W) input is zeroed with
    probability ``p`` (the rest scaled by 1/(1-p)); the identity after ``eval()``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout3d(x, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Channel dropout while training: each channel row of (N, C, L) or (C, L) input is zeroed with probability ``p``
    (the rest scaled by 1/(1-p)); the identity after ``eval()``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout1d(x, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Dropout that keeps a SELU network's zero mean and unit variance (``F.alpha_dropout``), while training."""

    def forward(self, x: Tensor) -> Tensor:
        return F.alpha_dropout(x, self.p, self.training, self.inplace)


class FeatureAlphaDropout(_DropoutNd):
    """``AlphaDropout`` of whole channels (``F.feature_alpha_dropout``), while training."""

    def forward(self, x: Tensor) -> Tensor:
        return F.feature_alpha_dropout(x, self.p, self.training, self.inplace)


class _AvgPoolNd(Module):
    """Mean over kernel windows of NCHW input; ``stride`` defaults to ``kernel_size`` (``F.avg_pool2d``)."""

    dims = 2

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        stride = kernel_size if stride is None else stride
        checked = kernel_size if isinstance(stride, (tuple, list)) and not stride else stride  # ([]: the kernel's)
        for name, value, least in (("kernel_size", kernel_size, 1), ("stride", checked, 1), ("padding", padding, 0)):
            _sizes(self.dims, True)(value, f"{type(self).__name__} {name}", least)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, x: Tensor) -> Tensor:
        pool = F.avg_pool2d if self.dims == 2 else F.avg_pool3d
        return pool(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                    self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):  # AvgPool3d: its siblings, not subclasses (as torch)
    __doc__ = _AvgPoolNd.__doc__


class AvgPool3d(_AvgPoolNd):
    """Mean over kd x kh x kw windows of (N, C, D, H, W) or (C, D, H, W) input (``F.avg_pool3d``); the arguments of
    AvgPool2d, with triples for pairs."""

    dims = 3


class _AdaptiveAvgPoolNd(Module):
    """Mean pooling to spatial size ``output_size`` with torch's windows (``F.adaptive_avg_pool2d``)."""

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):  # AdaptiveAvgPool3d: its siblings, not subclasses (as torch)
    __doc__ = _AdaptiveAvgPoolNd.__doc__


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Mean pooling of (N, C, D, H, W) or (C, D, H, W) input to spatial size ``output_size`` (an int, or a triple
    whose None keeps that size) with torch's windows (``F.adaptive_avg_pool3d``)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool3d(x, self.output_size)


class _MaxUnpoolNd(Module):
    """The partial inverse of ``MaxPool2d`` (``F.max_unpool2d``): ``forward(input, indices, output_size=None)``."""

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> None:
        self.kernel_size = pair(kernel_size, "MaxUnpool2d kernel_size", 1)
        self.stride = self.kernel_size if stride is None else pair(stride, "MaxUnpool2d stride", 1)
        self.padding = pair(padding, "MaxUnpool2d padding", 0)

    def forward(self, x: Tensor, indices: Tensor, output_size: tuple[int, ...] | None = None) -> Tensor:
        return F.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool2d(_MaxUnpoolNd):  # MaxUnpool1d, MaxUnpool3d: its siblings, not subclasses (as torch)
    __doc__ = _MaxUnpoolNd.__doc__


class MaxUnpool1d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool1d`` (``F.max_unpool1d``)."""

    def __init__(self, kernel_size: int | tuple[int], stride: int | tuple[int] | None = None,
                 padding: int | tuple[int] = 0) -> None:
        self.kernel_size = (single(kernel_size, "MaxUnpool1d kernel_size", 1),)
        self.stride = self.kernel_size if stride is None else (single(stride, "MaxUnpool1d stride", 1),)
        self.padding = (single(padding, "MaxUnpool1d padding", 0),)

    def forward(self, x: Tensor, indices: Tensor, output_size: tuple[int, ...] | None = None) -> Tensor:
        return F.max_unpool1d(x, indices, self.kernel_size, self.stride, self.padding, output_size)


class MaxUnpool3d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool3d`` (``F.max_unpool3d``): ``forward(input, indices, output_size=None)``."""

    def __init__(self, kernel_size: int | tuple[int, int, int], stride: int | tuple[int, int, int] | None = None,
                 padding: int | tuple[int, int, int] = 0) -> None:
        self.kernel_size = ints(kernel_size, "MaxUnpool3d kernel_size", 1, 3)
        self.stride = self.kernel_size if stride is None else ints(stride, "MaxUnpool3d stride", 1, 3)
        self.padding = ints(padding, "MaxUnpool3d padding", 0, 3)

    def forward(self, x: Tensor, indices: Tensor, output_size: tuple[int, ...] | None = None) -> Tensor:
        return F.max_unpool3d(x, indices, self.kernel_size, self.stride, self.padding, output_size)


class _LPPoolNd(Module):
    """The ``norm_type``-norm of each window (``F.lp_pool2d``); ``stride`` defaults to ``kernel_size``."""

    def __init__(self, norm_type: float, kernel_size: IntPair, stride: IntPair | None = None,
                 ceil_mode: bool = False) -> None:
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return F.lp_pool2d(x, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool2d(_LPPoolNd):  # LPPool1d, LPPool3d: its siblings, not subclasses (as torch)
    __doc__ = _LPPoolNd.__doc__


class LPPool1d(_LPPoolNd):
    """The ``norm_type``-norm of each window of the last dim (``F.lp_pool1d``)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.lp_pool1d(x, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)


class LPPool3d(_LPPoolNd):
    """The ``norm_type``-norm of each kd x kh x kw window (``F.lp_pool3d``)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.lp_pool3d(x, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)


class _FractionalMaxPoolNd(Module):
    """Max over kernel windows at pseudo-random starts (``F.fractional_max_pool2d``): exactly one of
    ``output_size`` and ``output_ratio`` (each ratio in (0, 1)); ``_random_samples`` (N, C, 2), kept as a buffer,
    fixes the starts, else each call draws new ones."""

    dims = 2

    def __init__(self, kernel_size: int | Sequence[int], output_size: int | Sequence[int] | None = None,
                 output_ratio: float | Sequence[float] | None = None, return_indices: bool = False,
                 _random_samples: Tensor | None = None) -> None:
        name, dims = type(self).__name__, self.dims
        self.kernel_size = ints(kernel_size, f"{name} kernel_size", 1, dims)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        if (output_size is None) == (output_ratio is None):
            raise ValueError(f"{name}: give exactly one of output_size and output_ratio, got output_size="
                             f"{output_size!r} and output_ratio={output_ratio!r}")
        self.output_size = None if output_size is None else ints(output_size, f"{name} output_size", 0, dims)
        ratio = (output_ratio,) * dims if isinstance(output_ratio, (int, float)) else output_ratio
        if ratio is not None and (len(ratio) != dims or not all(0 < r < 1 for r in ratio)):
            raise ValueError(f"{name}: output_ratio={output_ratio!r} lies outside (0, 1)")
        self.output_ratio = None if ratio is None else tuple(ratio)

    def forward(self, x: Tensor) -> Any:
        fn = F.fractional_max_pool2d if self.dims == 2 else F.fractional_max_pool3d
        return fn(x, self.kernel_size, self.output_size, self.output_ratio, self.return_indices,
                  _random_samples=self._random_samples)


class FractionalMaxPool2d(_FractionalMaxPoolNd):  # FractionalMaxPool3d: its siblings, not subclasses (as torch)
    __doc__ = _FractionalMaxPoolNd.__doc__


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """``FractionalMaxPool2d`` over kd x kh x kw windows of (N, C, D, H, W) or (C, D, H, W) input
    (``F.fractional_max_pool3d``); ``_random_samples`` (N, C, 3)."""

    dims = 3


class ChannelShuffle(Module):
    """Regroups the channels of (N, C, *) input from (groups, C / groups) to (C / groups, groups) order."""

    def __init__(self, groups: int) -> None:
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        return F.channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class _AdaptiveMaxPoolNd(Module):
    """Max pooling to spatial size ``output_size`` over torch's adaptive windows (``F.adaptive_max_pool2d``)."""

    def __init__(self, output_size: int | tuple[int | None, int | None], return_indices: bool = False) -> None:
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x: Tensor) -> Any:
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):  # AdaptiveMaxPool1d / 3d are not subclasses of it, as torch
    __doc__ = _AdaptiveMaxPoolNd.__doc__


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) input to ``output_size`` (``F.adaptive_max_pool3d``)."""

    def forward(self, x: Tensor) -> Any:
        return F.adaptive_max_pool3d(x, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max pooling to length ``output_size`` (``F.adaptive_max_pool1d``)."""

    def forward(self, x: Tensor) -> Any:
        return F.adaptive_max_pool1d(x, self.output_size, self.return_indices)


class _ConvTransposeNd(_ConvNd):
    """What the transposed convolutions share (torch's ``_ConvTransposeNd``, a ``_ConvNd``; ConvTranspose1d and
    ConvTranspose3d are not ConvTranspose2d subclasses, as torch)."""

    dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair = 0, output_padding: IntPair = 0, groups: int = 1, bias: bool = True,
                 dilation: IntPair = 1, padding_mode: str = "zeros", device: str | None = None,
                 dtype: Any = None) -> None:
        name, size = type(self).__name__, _sizes(self.dims)
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported (as torch), got {padding_mode!r}")
        self.in_channels = _positive("in_channels", in_channels)
        self.out_channels = _positive("out_channels", out_channels)
        self.groups = _positive("groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                             f"divisible by groups ({groups})")
        self.kernel_size = size(kernel_size, f"{name} kernel_size", 1)
        self.stride = size(stride, f"{name} stride", 1)
        self.padding = size(padding, f"{name} padding", 0)
        self.output_padding = size(output_padding, f"{name} output_padding", 0)
        self.dilation = size(dilation, f"{name} dilation", 1)
        self.transposed, self.padding_mode = True, padding_mode  # torch's _ConvNd attributes
        self.weight = Parameter(zeros(in_channels, out_channels // groups, *self.kernel_size, dtype=dtype,
                                      device=device))
        self.register_parameter("bias", Parameter(zeros(out_channels, dtype=dtype, device=device)) if bias else None)
        self.reset_parameters()  # torch's fan_in is the weight's dim 1 here too: out_channels * k

    def forward(self, x: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        """The transposed convolution of x; ``output_size`` (the spatial sizes, or all of x's dims') picks the
        output_padding that gives it, as torch's."""
        fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[self.dims]
        return fn(x, self.weight, self.bias, self.stride, self.padding, self._output_padding(x, output_size),
                  self.groups, self.dilation)

    def _output_padding(self, x: Tensor, output_size: Sequence[int] | None) -> tuple[int, ...]:
        """``output_padding``, or torch's for an ``output_size``: its offset from the smallest output, which must be
        less than one stride away."""
        if output_size is None:
            return self.output_padding
        dims, name = self.dims, type(self).__name__
        size = tuple(int(n) if isinstance(n, Tensor) and n.ndim == 0 and n.dtype.kind in "iu" else n
                     for n in output_size)  # (0-d integer tensors count as ints, as torch's)
        if len(size) == x.ndim:  # (N, C, *spatial) or (C, *spatial), as torch
            size = size[x.ndim - dims:]
        if len(size) != dims or not all(isinstance(n, Integral) for n in size):
            raise ValueError(f"{name}: for {x.ndim}-D input, output_size must have {dims} or {x.ndim} ints, got "
                             f"{output_size!r}")
        smallest = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                    zip(x.shape[x.ndim - dims:], self.stride, self.padding, self.dilation, self.kernel_size)]
        largest = [m + s - 1 for m, s in zip(smallest, self.stride)]
        if not all(lo <= n <= hi for n, lo, hi in zip(size, smallest, largest)):
            raise ValueError(f"{name}: requested an output size of {list(size)}, but valid sizes range from "
                             f"{smallest} to {largest} (for an input of {tuple(x.shape[x.ndim - dims:])})")
        return tuple(int(n) - m for n, m in zip(size, smallest))

    def extra_repr(self) -> str:
        return conv_repr(self)


class ConvTranspose2d(_ConvTransposeNd):
    """The transpose of Conv2d: x (N, in_channels, H, W) -> (N, out_channels, Ho, Wo), Ho = (H - 1) * stride -
    2 * padding + dilation * (kh - 1) + output_padding + 1; weight (in, out / groups, kh, kw)
    (``F.conv_transpose2d``). Only padding_mode='zeros' (as torch)."""

    dims = 2


class ConvTranspose1d(_ConvTransposeNd):
    """The transpose of Conv1d: x (N, in_channels, L) -> (N, out_channels, Lo); weight (in, out, k)."""

    dims = 1


class ConvTranspose3d(_ConvTransposeNd):
    """The transpose of Conv3d: x (N, in_channels, D, H, W) or (in_channels, D, H, W) -> (N, out_channels, Do, Ho,
    Wo); weight (in, out / groups, kd, kh, kw) (``F.conv_transpose3d``); ConvTranspose2d's arguments, with triples."""

    dims = 3


class MaxPool1d(Module):
    """Max over windows of (N, C, L) input; ``stride`` defaults to ``kernel_size`` (``F.max_pool1d``)."""

    def __init__(self, kernel_size: int | tuple[int], stride: int | tuple[int] | None = None,
                 padding: int | tuple[int] = 0, dilation: int | tuple[int] = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        F._window_1d("MaxPool1d", kernel_size, stride, padding)  # checked here, kept as given, as torch
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = kernel_size if stride is None else stride
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x: Tensor) -> Any:
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)

    extra_repr = MaxPool2d.extra_repr  # torch's: kernel_size, stride, padding, dilation, ceil_mode


class AvgPool1d(Module):
    """Mean over windows of (N, C, L) input; ``stride`` defaults to ``kernel_size`` (``F.avg_pool1d``)."""

    def __init__(self, kernel_size: int | tuple[int], stride: int | tuple[int] | None = None,
                 padding: int | tuple[int] = 0, ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        (_, k), (_, st), (_, pad) = F._window_1d("AvgPool1d", kernel_size, stride, padding)
        # torch keeps them as 1-tuples (``_single``): ``kernel_size == (2,)``, ``kernel_size[0]``
        self.kernel_size, self.padding, self.count_include_pad = (k,), (pad,), count_include_pad
        self.stride, self.ceil_mode = (st,), ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(Module):
    """Mean pooling to length ``output_size`` with torch's windows (``F.adaptive_avg_pool1d``)."""

    def __init__(self, output_size: int | tuple[int]) -> None:
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool1d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _FoldBase(Module):
    """torch's im2col as a module: (N, C, H, W) -> (N, C*kh*kw, L) (``F.unfold``)."""

    def __init__(self, kernel_size: IntPair, dilation: IntPair = 1, padding: IntPair = 0, stride: IntPair = 1) -> None:
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, x: Tensor) -> Tensor:
        return F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Unfold(_FoldBase):  # Fold: its siblings, not subclasses (as torch)
    __doc__ = _FoldBase.__doc__


class Fold(_FoldBase):
    """torch's col2im as a module: (N, C*kh*kw, L) -> (N, C, *output_size) (``F.fold``)."""

    def __init__(self, output_size: IntPair, kernel_size: IntPair, dilation: IntPair = 1, padding: IntPair = 0,
                 stride: IntPair = 1) -> None:
        super().__init__(kernel_size, dilation, padding, stride)
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.fold(x, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, {super().extra_repr()}"


class Upsample(Module):
    """Resizing as a module (``F.interpolate``): modes 'nearest', 'nearest-exact', 'area', 'linear' (3-D input),
    'bilinear' and 'bicubic' (4-D) and 'trilinear' (5-D)."""

    def __init__(self, size: int | tuple[int, ...] | None = None, scale_factor: float | tuple[float, ...] | None = None,
                 mode: str = "nearest", align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        if isinstance(scale_factor, (tuple, list)):  # torch keeps floats: ``scale_factor == 2.0``
            scale_factor = tuple(float(f) for f in scale_factor)
        self.name, self.size, self.mode = type(self).__name__, size, mode
        self.scale_factor = float(scale_factor) if scale_factor and not isinstance(scale_factor, tuple) \
            else (scale_factor or None)
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is None:
            return f"size={self.size!r}, mode={self.mode!r}"
        scale = self.scale_factor
        scale = tuple(float(f) for f in scale) if isinstance(scale, (tuple, list)) else float(scale)
        return f"scale_factor={scale!r}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour resizing of (N, C, H, W) input (``Upsample(mode="nearest")``)."""

    def __init__(self, size: int | tuple[int, int] | None = None,
                 scale_factor: float | tuple[float, float] | None = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear resizing of (N, C, H, W) input with the corners aligned (``Upsample(mode="bilinear",
    align_corners=True)``), as torch's."""

    def __init__(self, size: int | tuple[int, int] | None = None,
                 scale_factor: float | tuple[float, float] | None = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r) (``F.pixel_shuffle``), r = ``upscale_factor``."""

    def __init__(self, upscale_factor: int) -> None:
        self.upscale_factor = upscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r^2, H, W) (``F.pixel_unshuffle``), r = ``downscale_factor``."""

    def __init__(self, downscale_factor: int) -> None:
        self.downscale_factor = downscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class PairwiseDistance(Module):
    """||x1 - x2 + eps||_p along the last dim (``F.pairwise_distance``)."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class _Pad(Module):
    """Padding as a module (``F.pad`` in ``mode``): ``padding`` is an int (every side of the last ``dims`` dims) or
    torch's tuple (left, right, top, bottom, front, back)."""

    dims, mode = 1, "constant"

    def __init__(self, padding: int | tuple[int, ...]) -> None:
        self.padding = (padding,) * (2 * self.dims) if isinstance(padding, int) else tuple(padding)

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.padding, self.mode)

    def extra_repr(self) -> str:
        return str(self.padding)


class _ConstantPadNd(_Pad):
    """Pads with ``value``."""

    def __init__(self, padding: int | tuple[int, ...], value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class _ZeroPad:
    """What ZeroPad1d / 2d / 3d add to the ConstantPad of their dims: the value 0."""

    def __init__(self, padding: int | tuple[int, ...]) -> None:
        super().__init__(padding, 0.0)  # type: ignore[call-arg]

    def extra_repr(self) -> str:
        return str(self.padding)  # type: ignore[attr-defined]


class _ReflectionPadNd(_Pad):
    """Pads by mirroring about the edges."""

    mode = "reflect"


class _ReplicationPadNd(_Pad):
    """Pads by repeating the edge values."""

    mode = "replicate"


class _CircularPadNd(_Pad):
    """Pads by wrapping around."""

    mode = "circular"

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (self.dims + 1, self.dims + 2):  # torch's module check (F.pad's is NotImplementedError)
            raise ValueError(f"{type(self).__name__}: takes a {self.dims + 1}-d or {self.dims + 2}-d input, got "
                             f"{x.ndim}-d")
        return super().forward(x)


def _padding_over(name: str, bases: tuple[type, ...], dims: int, doc: str) -> Any:
    """torch's ``name`` padding module over the last ``dims`` dims. As torch, the 1d / 2d / 3d modules of a mode are
    siblings (ReflectionPad2d is no ReflectionPad1d) and ZeroPad2d is a ConstantPad2d."""
    return type(name, bases, {"dims": dims, "__module__": __name__, "__qualname__": name,
                              "__doc__": doc if dims == 1 else f"{doc[:-1]} over the last {dims} dims."})


ConstantPad1d, ConstantPad2d, ConstantPad3d = (
    _padding_over(f"ConstantPad{d}d", (_ConstantPadNd,), d, "Pads with ``value``.") for d in (1, 2, 3))
ZeroPad1d, ZeroPad2d, ZeroPad3d = (_padding_over(f"ZeroPad{d}d", (_ZeroPad, c), d, "Pads with zeros.")
                                   for d, c in ((1, ConstantPad1d), (2, ConstantPad2d), (3, ConstantPad3d)))
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = (
    _padding_over(f"ReflectionPad{d}d", (_ReflectionPadNd,), d, "Pads by mirroring about the edges.")
    for d in (1, 2, 3))
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = (
    _padding_over(f"ReplicationPad{d}d", (_ReplicationPadNd,), d, "Pads by repeating the edge values.")
    for d in (1, 2, 3))
CircularPad1d, CircularPad2d, CircularPad3d = (
    _padding_over(f"CircularPad{d}d", (_CircularPadNd,), d, "Pads by wrapping around.") for d in (1, 2, 3))
