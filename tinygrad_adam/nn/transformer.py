"""The Transformer of Vaswani et al. (2017) as torch's ``nn.Transformer`` and its parts: ``TransformerEncoderLayer``,
``TransformerEncoder``, ``TransformerDecoderLayer``, ``TransformerDecoder``, with torch's arguments and parameter
names (``self_attn.in_proj_weight``, ``linear1.weight``, ``norm1.weight``, ``layers.0. ...``), so that a torch
state_dict loads as it is.

A layer is attention and a two-layer feed-forward block, each wrapped in a residual connection and a LayerNorm:
after the sum (post-norm, the paper's and torch's default) or, with ``norm_first``, on the block's input.
Attention is ``nn.MultiheadAttention``; masks are its own (bool: True may NOT attend; float: added to the scores).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import numpy

from ..autograd import is_grad_enabled
from ..creation import full
from ..ops import movement
from ..tensor import Tensor, TensorLike, as_tensor
from . import functional as F
from . import init
from .attention import MultiheadAttention
from .layers import GELU, Dropout, LayerNorm, Linear, ReLU
from .module import Module, ModuleList

Activation = str | Callable[[Tensor], Tensor]


class TransformerArgumentError(ValueError, RuntimeError):
    """A wrong argument to a Transformer class (torch raises RuntimeError for these); also a ValueError."""


def _activation(activation: Activation) -> Callable[[Tensor], Tensor]:
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise TransformerArgumentError(f"Transformer layer: activation should be 'relu', 'gelu' or a callable, not "
                                   f"{activation!r}")


class _Layer(Module):
    """What the encoder and decoder layers share: the attention modules' arguments, the feed-forward block and the
    residual wiring."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float, activation: Activation,
                 layer_norm_eps: float, batch_first: bool, norm_first: bool, bias: bool, device: str | None,
                 dtype: Any, n_norms: int) -> None:
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        if n_norms == 3:
            self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                     batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        for i in range(1, n_norms + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        for i in range(1, n_norms + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = _activation(activation)

    def _residual(self, x: Tensor, i: int, block: Callable[[Tensor], Tensor]) -> Tensor:
        """x + dropout_i(block(norm_i(x))) with ``norm_first``, else norm_i(x + dropout_i(block(x)))."""
        norm, drop = getattr(self, f"norm{i}"), getattr(self, f"dropout{i}")
        if self.norm_first:
            return x + drop(block(norm(x)))
        return norm(x + drop(block(x)))

    def _feed_forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))

    @staticmethod
    def _attend(attn: MultiheadAttention, x: Tensor, kv: Tensor, mask: TensorLike | None,
                key_padding_mask: TensorLike | None, is_causal: bool) -> Tensor:
        return attn(x, kv, kv, attn_mask=mask, key_padding_mask=key_padding_mask, need_weights=False,
                    is_causal=is_causal)[0]


class TransformerEncoderLayer(_Layer):
    """Self-attention then feed-forward, each with a residual connection and LayerNorm: src (S, N, E) (``batch_first``:
    (N, S, E); unbatched (S, E)) -> the same shape. ``src_mask`` (S, S) or (N * nhead, S, S) and
    ``src_key_padding_mask`` (N, S), bool or float, as ``MultiheadAttention``'s; ``is_causal`` is a hint that
    ``src_mask`` is the causal mask (which must still be given, as in torch)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: Activation = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: str | None = None, dtype: Any = None) -> None:
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                         norm_first, bias, device, dtype, n_norms=2)
        act = self.activation  # torch's flag: 1 for relu, 2 for gelu, 0 for any other activation
        self.activation_relu_or_gelu = 1 if act is F.relu or isinstance(act, ReLU) else \
            2 if act is F.gelu or isinstance(act, GELU) else 0

    def forward(self, src: Tensor, src_mask: TensorLike | None = None, src_key_padding_mask: TensorLike | None = None,
                is_causal: bool = False) -> Tensor:
        x = self._residual(src, 1, lambda h: self._attend(self.self_attn, h, h, src_mask, src_key_padding_mask,
                                                          is_causal))
        return self._residual(x, 2, self._feed_forward)


class TransformerDecoderLayer(_Layer):
    """Self-attention over tgt, attention to ``memory`` (the encoder's output), then feed-forward, each with a
    residual connection and LayerNorm: tgt (T, N, E), memory (S, N, E) (``batch_first``: (N, T, E), (N, S, E))
    -> tgt's shape. Masks: ``tgt_mask`` (T, T), ``memory_mask`` (T, S), key padding masks (N, T) and (N, S)."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: Activation = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: str | None = None, dtype: Any = None) -> None:
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first,
                         norm_first, bias, device, dtype, n_norms=3)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: TensorLike | None = None,
                memory_mask: TensorLike | None = None, tgt_key_padding_mask: TensorLike | None = None,
                memory_key_padding_mask: TensorLike | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        x = self._residual(tgt, 1, lambda h: self._attend(self.self_attn, h, h, tgt_mask, tgt_key_padding_mask,
                                                          tgt_is_causal))
        x = self._residual(x, 2, lambda h: self._attend(self.multihead_attn, h, memory, memory_mask,
                                                        memory_key_padding_mask, memory_is_causal))
        return self._residual(x, 3, self._feed_forward)


def _clones(layer: Module, num_layers: int) -> ModuleList:
    """``num_layers`` independent deep copies of ``layer`` (the same initial weights, as torch)."""
    return ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])


def _why_no_fast_path(layer: Module) -> str:
    """The first reason (in torch's order of checks) why ``layer`` keeps a TransformerEncoder off torch's
    nested-tensor path, in our words; '' if none."""
    if not isinstance(layer, TransformerEncoderLayer):
        return "encoder_layer is not a TransformerEncoderLayer"
    attn, activation = layer.self_attn, layer.activation
    reasons = ((layer.norm_first, "encoder_layer has norm_first=True"),
               (not attn.batch_first, "encoder_layer's self_attn is not batch_first (batch-first inputs also run "
                                      "faster at inference)"),
               (attn.in_proj_weight is None, "encoder_layer's self_attn has key / value sizes other than embed_dim"),
               (attn.in_proj_bias is None, "encoder_layer's self_attn has bias=False"),
               (not (activation in (F.relu, F.gelu) or isinstance(activation, ReLU | GELU)),
                "encoder_layer's activation is neither relu nor gelu"),
               (layer.norm1.eps != layer.norm2.eps, "encoder_layer's norm1 and norm2 have different eps"),
               (attn.num_heads % 2 == 1, "encoder_layer's self_attn has an odd number of heads"))
    return next((reason for failed, reason in reasons if failed), "")


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` applied in turn, then ``norm`` if given: src -> src's shape.
    As torch, ``enable_nested_tensor`` warns when the layer could not take torch's nested-tensor path
    (``use_nested_tensor`` then False). Where torch takes that path (see ``_nested_lengths``), sample i keeps only
    its first (number of unpadded positions) positions and the others come out as zeros (then ``norm``), as torch's;
    elsewhere positions masked by ``src_key_padding_mask`` hold their computed values, as in torch's training path.
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        why_not = _why_no_fast_path(encoder_layer)
        self.enable_nested_tensor = self.use_nested_tensor = enable_nested_tensor
        if enable_nested_tensor and why_not:
            warnings.warn(f"enable_nested_tensor=True has no effect here (use_nested_tensor is False): {why_not}",
                          stacklevel=2)
            self.use_nested_tensor = False
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers, self.norm, self.mask_check = num_layers, norm, mask_check

    def forward(self, src: Tensor, mask: TensorLike | None = None, src_key_padding_mask: TensorLike | None = None,
                is_causal: bool | None = None) -> Tensor:
        lengths = self._nested_lengths(src, mask, src_key_padding_mask)
        if lengths is not None:  # torch's nested tensor: each sample's first `length` positions, zeros after them
            kept = numpy.arange(src.shape[1])[None, :] < lengths[:, None]  # (N, S)
            src_key_padding_mask = as_tensor(~kept)
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        if lengths is not None:
            x = F.where(as_tensor(kept[:, :, None]), x, full((), 0.0, dtype=x.dtype, device=x.device))
        return x if self.norm is None else self.norm(x)

    def _nested_lengths(self, src: Tensor, mask: TensorLike | None,
                        src_key_padding_mask: TensorLike | None) -> numpy.ndarray | None:
        """Each sample's length (N,) where torch would run the stack on a nested tensor, else None: a batched src
        (``batch_first``, the only layout ``use_nested_tensor`` allows) with a key padding mask and no ``mask``, in
        eval mode, with no gradient to record (grad disabled, or neither src nor the first layer's weights require
        it), and, with ``mask_check``, a left-aligned mask (unpadded positions first). A length counts the positions
        the mask does not pad (bool False, float 0), wherever they are, as torch's."""
        first = self.layers[0] if len(self.layers) else None
        if (not self.use_nested_tensor or first is None or first.training or src.ndim != 3
                or src_key_padding_mask is None or mask is not None):
            return None
        kept = numpy.logical_not(as_tensor(src_key_padding_mask).numpy())  # (N, S)
        if kept.ndim != 2:
            return None
        lengths = kept.sum(axis=1)
        if self.mask_check and not numpy.array_equal(kept, numpy.arange(kept.shape[1])[None, :] < lengths[:, None]):
            return None
        attn = first.self_attn
        weights = (src, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj.weight, attn.out_proj.bias,
                   *(p for m in (first.norm1, first.norm2, first.linear1, first.linear2) for p in (m.weight, m.bias)))
        if is_grad_enabled() and any(t is not None and t.requires_grad for t in weights):
            return None
        return lengths


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer`` applied in turn (each attending to ``memory``), then ``norm``."""

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None) -> None:
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: TensorLike | None = None,
                memory_mask: TensorLike | None = None, tgt_key_padding_mask: TensorLike | None = None,
                memory_key_padding_mask: TensorLike | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """The encoder-decoder model: ``Transformer(d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
    dim_feedforward=2048, dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None,
    layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``; both stacks end with a LayerNorm, and
    every weight matrix is Xavier-uniform initialised, as torch's. forward(src (S, N, E), tgt (T, N, E), masks)
    -> (T, N, E)."""

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1, activation: Activation = "relu",
                 custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False, norm_first: bool = False,
                 bias: bool = True, device: str | None = None, dtype: Any = None) -> None:
        kw = {"dim_feedforward": dim_feedforward, "dropout": dropout, "activation": activation,
              "layer_norm_eps": layer_norm_eps, "batch_first": batch_first, "norm_first": norm_first, "bias": bias,
              "device": device, "dtype": dtype}
        norm = {"eps": layer_norm_eps, "bias": bias, "device": device, "dtype": dtype}
        self.encoder = custom_encoder or TransformerEncoder(TransformerEncoderLayer(d_model, nhead, **kw),
                                                            num_encoder_layers, LayerNorm(d_model, **norm))
        self.decoder = custom_decoder or TransformerDecoder(TransformerDecoderLayer(d_model, nhead, **kw),
                                                            num_decoder_layers, LayerNorm(d_model, **norm))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src: Tensor, tgt: Tensor, src_mask: TensorLike | None = None,
                tgt_mask: TensorLike | None = None, memory_mask: TensorLike | None = None,
                src_key_padding_mask: TensorLike | None = None, tgt_key_padding_mask: TensorLike | None = None,
                memory_key_padding_mask: TensorLike | None = None, src_is_causal: bool | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        batch = 0 if self.batch_first else 1
        if src.ndim == 3 and tgt.ndim == 3 and src.shape[batch] != tgt.shape[batch]:
            raise TransformerArgumentError(f"Transformer: src and tgt have different batch sizes ({src.shape} and "
                                           f"{tgt.shape})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise TransformerArgumentError(f"Transformer: the feature size of src and tgt must be "
                                           f"d_model={self.d_model}, got {src.shape} and {tgt.shape}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: str | None = None, dtype: Any = None) -> Tensor:
        """The causal mask (sz, sz): -inf above the diagonal (position i may not attend to j > i), 0 elsewhere."""
        return movement.triu(full((sz, sz), float("-inf"), dtype=dtype, device=device), 1)
