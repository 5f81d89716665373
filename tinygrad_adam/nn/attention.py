"""``nn.MultiheadAttention`` as torch's: the same parameters (``in_proj_weight`` (3E, E), or ``q_proj_weight``
(E, E), ``k_proj_weight`` (E, kdim) and ``v_proj_weight`` (E, vdim) when keys or values have other sizes;
``in_proj_bias``, ``bias_k`` / ``bias_v``, ``out_proj``), masks and outputs, so a torch checkpoint loads as it is.

Queries, keys and values are projected with one weight cut in three, split into heads, attended with
``F.scaled_dot_product_attention`` (or, when the weights are asked for, the same computation written out, whose
weights are returned: softmax(q k^T / sqrt(d) + mask), after dropout, averaged over heads unless told not to),
joined and projected out.
"""

from __future__ import annotations

import math
from typing import Any

from ..creation import zeros
from ..ops import movement
from ..tensor import Tensor, TensorLike, as_tensor
from . import functional as F
from . import init
from .layers import Linear
from .module import Module, Parameter


class MultiheadAttention(Module):
    """Attention of query (L, N, E) to key (S, N, E) and value (S, N, E) (``batch_first``: (N, L, E) ...;
    unbatched: (L, E)) with ``num_heads`` heads of E / num_heads each -> (output (L, N, E), weights (N, L, S)
    averaged over heads, (N, num_heads, L, S) with ``average_attn_weights=False``, or None).

    ``attn_mask`` (L, S) or (N * num_heads, L, S) and ``key_padding_mask`` (N, S): bool (True: may NOT attend)
    or float (added to the scores), as torch's. Keys and values may have ``kdim`` / ``vdim`` features;
    ``add_bias_kv`` appends a learnt key and value (``bias_k``, ``bias_v``, (1, 1, E)) and ``add_zero_attn`` a zero
    one per head, after the projections: every query may attend them (S grows by one each).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: str | None = None,
                 dtype: Any = None) -> None:
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.dropout, self.batch_first, self.add_zero_attn = float(dropout), batch_first, add_zero_attn
        if self.kdim == self.vdim == embed_dim:
            self.in_proj_weight: Parameter | None = Parameter(zeros(3 * embed_dim, embed_dim, dtype=dtype,
                                                                    device=device))
            init.xavier_uniform_(self.in_proj_weight)
        else:  # torch's separate projections
            self.in_proj_weight = None
            for name, dim in (("q", embed_dim), ("k", self.kdim), ("v", self.vdim)):
                setattr(self, f"{name}_proj_weight", Parameter(zeros(embed_dim, dim, dtype=dtype, device=device)))
                init.xavier_uniform_(getattr(self, f"{name}_proj_weight"))
        self.in_proj_bias = Parameter(zeros(3 * embed_dim, dtype=dtype, device=device)) if bias else None
        self.bias_k = self.bias_v = None
        if add_bias_kv:
            self.bias_k, self.bias_v = (Parameter(zeros(1, 1, embed_dim, dtype=dtype, device=device)) for _ in "kv")
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: TensorLike | None = None,
                need_weights: bool = True, attn_mask: TensorLike | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention: is_causal=True is a hint about attn_mask; pass the causal mask too "
                             "(as torch requires)")
        unbatched = query.ndim == 2
        q, k, v = (self._batch_major(t, unbatched, dim, name) for t, dim, name in (
            (query, self.embed_dim, "query"), (key, self.kdim, "key"), (value, self.vdim, "value")))  # (N, L|S, *)
        n, n_l, n_s = q.shape[0], q.shape[1], k.shape[1]
        if self.in_proj_weight is not None:
            w_q, w_k, w_v = (self.in_proj_weight[i * self.embed_dim:(i + 1) * self.embed_dim] for i in range(3))
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        b_q, b_k, b_v = ((None,) * 3 if self.in_proj_bias is None else
                         (self.in_proj_bias[i * self.embed_dim:(i + 1) * self.embed_dim] for i in range(3)))
        q, k, v = (F.linear(t, w, b) for t, w, b in ((q, w_q, b_q), (k, w_k, b_k), (v, w_v, b_v)))
        if self.bias_k is not None:  # one learnt key and value more for every sample
            k = movement.concatenate([k, movement.broadcast_to(self.bias_k, (n, 1, self.embed_dim))], 1)
            v = movement.concatenate([v, movement.broadcast_to(self.bias_v, (n, 1, self.embed_dim))], 1)
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        if self.add_zero_attn:  # and a zero one per head
            k, v = (movement.concatenate([t, zeros(n, self.num_heads, 1, self.head_dim, dtype=t.dtype,
                                                   device=t.device)], 2) for t in (k, v))
        mask = self._mask(attn_mask, key_padding_mask, q, n, n_l, n_s, unbatched)
        if mask is not None and k.shape[2] > n_s:  # the appended keys may be attended by every query
            mask = F.pad(mask, (0, k.shape[2] - n_s))
        dropout_p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            scores = q @ movement.transpose(k, (0, 1, 3, 2)) * (1.0 / math.sqrt(self.head_dim))
            weights = F.softmax(scores if mask is None else scores + mask, dim=-1)  # a row with no key: nan, as torch
            if dropout_p > 0.0:
                weights = F.dropout(weights, dropout_p)
            out = weights @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        out = movement.reshape(movement.transpose(out, (0, 2, 1, 3)), (n, n_l, self.embed_dim))
        out = self.out_proj(out)
        out = movement.squeeze(out, (0,)) if unbatched else (out if self.batch_first else
                                                             movement.transpose(out, (1, 0, 2)))
        if weights is not None:
            if average_attn_weights:
                weights = weights.mean(dim=1)
            if unbatched:
                weights = movement.squeeze(weights, (0,))
        return out, weights

    def _batch_major(self, t: Tensor, unbatched: bool, dim: int, name: str) -> Tensor:
        if t.ndim != (2 if unbatched else 3) or t.shape[-1] != dim:
            raise ValueError(f"MultiheadAttention: expected {name} (L, N, {dim}) (or unbatched (L, {dim})), got "
                             f"shape {t.shape}")
        if unbatched:
            return movement.unsqueeze(t, 0)
        return t if self.batch_first else movement.transpose(t, (1, 0, 2))

    def _heads(self, t: Tensor) -> Tensor:
        """(N, T, E) -> (N, heads, T, head_dim)."""
        n, length, _ = t.shape
        return movement.transpose(movement.reshape(t, (n, length, self.num_heads, self.head_dim)), (0, 2, 1, 3))

    def _mask(self, attn_mask: TensorLike | None, key_padding_mask: TensorLike | None, like: Tensor, n: int,
              n_l: int, n_s: int, unbatched: bool) -> Tensor | None:
        """Both masks as one float mask (N, heads, L, S) or broadcastable to it: -inf where a bool mask is True."""
        merged = None
        if attn_mask is not None:
            m = self._float(attn_mask, like)
            if m.ndim == 3:
                m = movement.reshape(m, (n, self.num_heads, n_l, n_s))
            elif m.shape != (n_l, n_s):
                raise ValueError(f"MultiheadAttention: attn_mask must be ({n_l}, {n_s}) or "
                                 f"({n * self.num_heads}, {n_l}, {n_s}), got {m.shape}")
            merged = m
        if key_padding_mask is not None:
            m = self._float(key_padding_mask, like)
            if unbatched:
                m = movement.unsqueeze(m, 0)
            if m.shape != (n, n_s):
                raise ValueError(f"MultiheadAttention: key_padding_mask must be ({n}, {n_s}), got {m.shape}")
            m = movement.reshape(m, (n, 1, 1, n_s))
            merged = m if merged is None else merged + m
        return merged

    @staticmethod
    def _float(mask: TensorLike, like: Tensor) -> Tensor:
        m = as_tensor(mask, like)
        if m.dtype == bool:
            return F.where(m, -float("inf"), zeros(*m.shape, dtype=like.dtype, device=like.device))
        return m

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
