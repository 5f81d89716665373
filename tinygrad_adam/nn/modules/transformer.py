"""torch.nn.modules.transformer's names, for code that reaches the transformer classes (or torch's helpers
``_get_clones``, ``_get_activation_fn``, ``_generate_square_subsequent_mask``) through that path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...tensor import Tensor
from .. import functional as F
from ..module import Module, ModuleList
from ..transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    _clones,
)


def _get_clones(module: Module, N: int) -> ModuleList:
    """``N`` independent deep copies of ``module`` in a ModuleList, as torch's."""
    return _clones(module, N)


def _get_activation_fn(activation: str) -> Callable[[Tensor], Tensor]:
    """``F.relu`` for "relu", ``F.gelu`` for "gelu"; RuntimeError otherwise, as torch's."""
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


def _generate_square_subsequent_mask(sz: int, device: str | None = None, dtype: Any = None) -> Tensor:
    """The causal mask (sz, sz): -inf above the diagonal, 0 elsewhere (as
    ``Transformer.generate_square_subsequent_mask``)."""
    return Transformer.generate_square_subsequent_mask(sz, device=device, dtype=dtype)


__all__ = ["Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerEncoderLayer"]
