"""``nn.MultiheadAttention`` as torch's: the same parameters (``in_proj_weight`` (3E, E), or ``q_proj_weight``
(E, E), ``k_proj_weight`` (E, kdim) and ``v_proj_weight`` (E, vdim) when keys or values have other sizes;
``in_proj_bias``, ``bias_k`` / ``bias_v``, ``out_proj``), masks and outputs, so a torch checkpoint loads as it is.

The computation is torch's functional form, ``multi_head_attention_forward`` (also ``F.``'s), which the module
calls: queries, keys and values are projected with one weight cut in three, split into heads, attended with
``F.scaled_dot_product_attention`` (or, when the weights are asked for, the same computation written out, whose
weights are returned: softmax(q k^T / sqrt(d) + mask), after dropout, averaged over heads unless told not to),
joined and projected out.

It is also torch's ``torch.nn.attention`` path: ``SDPBackend`` and the ``sdpa_kernel`` context manager, which here
selects nothing (``F.scaled_dot_product_attention`` has one implementation, torch's math kernel's values).
"""

from __future__ import annotations

import contextlib
import enum
import math
import warnings
from collections.abc import Iterator
from typing import Any

from ..backends import sdp_switches
from ..creation import zeros
from ..ops import movement
from ..tensor import Tensor, TensorLike, as_tensor
from . import functional as F
from . import init
from .layers import Linear
from .module import Module, Parameter


class AttentionError(ValueError, RuntimeError, AssertionError):
    """A wrong argument to ``MultiheadAttention`` / ``multi_head_attention_forward``. torch raises RuntimeError for
    some of these and AssertionError (its plain asserts) for most; this is all three, and a ValueError."""


class AttentionMaskTypeError(TypeError, RuntimeError, AssertionError):
    """A mask of a dtype attention cannot take (torch: AssertionError for integer masks, RuntimeError for a float
    mask of another dtype than the query's); also a TypeError."""


class NonDynamicallyQuantizableLinear(Linear):
    """torch's class of ``MultiheadAttention.out_proj``: a Linear (``isinstance`` holds) whose type is not Linear, so
    ``type(m) is nn.Linear`` loops (and reprs) treat it as torch's do."""


class MultiheadAttention(Module):
    """Attention of query (L, N, E) to key (S, N, E) and value (S, N, E) (``batch_first``: (N, L, E) ...;
    unbatched: (L, E)) with ``num_heads`` heads of E / num_heads each -> (output (L, N, E), weights (N, L, S)
    averaged over heads, (N, num_heads, L, S) with ``average_attn_weights=False``, or None).

    ``attn_mask`` (L, S) or (N * num_heads, L, S) and ``key_padding_mask`` (N, S): bool (True: may NOT attend)
    or float (added to the scores), as torch's. Keys and values may have ``kdim`` / ``vdim`` features;
    ``add_bias_kv`` appends a learnt key and value (``bias_k``, ``bias_v``, (1, 1, E)) and ``add_zero_attn`` a zero
    one per head, after the projections: every query may attend them (S grows by one each). ``is_causal`` is
    torch's hint that attn_mask is the causal mask (see ``multi_head_attention_forward``, which forward runs).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: str | None = None,
                 dtype: Any = None) -> None:
        if embed_dim % num_heads:
            raise AttentionError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by num_heads "
                                 f"{num_heads}")
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.dropout, self.batch_first, self.add_zero_attn = float(dropout), batch_first, add_zero_attn
        self._qkv_same_embed_dim = self.kdim == self.vdim == embed_dim  # torch's flag: one in_proj_weight
        if self._qkv_same_embed_dim:
            self.in_proj_weight: Parameter | None = Parameter(zeros(3 * embed_dim, embed_dim, dtype=dtype,
                                                                    device=device))
            init.xavier_uniform_(self.in_proj_weight)
            for name in "qkv":  # registered as None, as torch does
                self.register_parameter(f"{name}_proj_weight", None)
        else:  # torch's separate projections
            self.register_parameter("in_proj_weight", None)
            for name, dim in (("q", embed_dim), ("k", self.kdim), ("v", self.vdim)):
                setattr(self, f"{name}_proj_weight", Parameter(zeros(embed_dim, dim, dtype=dtype, device=device)))
                init.xavier_uniform_(getattr(self, f"{name}_proj_weight"))
        self.register_parameter("in_proj_bias", Parameter(zeros(3 * embed_dim, dtype=dtype, device=device))
                                if bias else None)
        self.bias_k = self.bias_v = None
        if add_bias_kv:
            self.bias_k, self.bias_v = (Parameter(zeros(1, 1, embed_dim, dtype=dtype, device=device)) for _ in "kv")
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: TensorLike | None = None,
                need_weights: bool = True, attn_mask: TensorLike | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        if self.batch_first and query.ndim == 3:
            query, key, value = (movement.transpose(t, (1, 0, 2)) for t in (query, key, value))
        separate = self.in_proj_weight is None
        out, weights = multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias, self.bias_k,
            self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight, self.out_proj.bias,
            training=self.training, key_padding_mask=key_padding_mask, need_weights=need_weights,
            attn_mask=attn_mask, use_separate_proj_weight=separate,
            q_proj_weight=self.q_proj_weight if separate else None,
            k_proj_weight=self.k_proj_weight if separate else None,
            v_proj_weight=self.v_proj_weight if separate else None, average_attn_weights=average_attn_weights,
            is_causal=is_causal)
        return (movement.transpose(out, (1, 0, 2)) if self.batch_first and query.ndim == 3 else out), weights

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"


def multi_head_attention_forward(
        query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
        in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None, bias_v: Tensor | None,
        add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor, out_proj_bias: Tensor | None,
        training: bool = True, key_padding_mask: TensorLike | None = None, need_weights: bool = True,
        attn_mask: TensorLike | None = None, use_separate_proj_weight: bool = False,
        q_proj_weight: Tensor | None = None, k_proj_weight: Tensor | None = None, v_proj_weight: Tensor | None = None,
        static_k: Tensor | None = None, static_v: Tensor | None = None, average_attn_weights: bool = True,
        is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
    """torch's ``F.multi_head_attention_forward``: query (L, N, E), key (S, N, kdim), value (S, N, vdim), time
    first (unbatched: (L, E), ...) -> (output (L, N, E), weights (N, L, S') averaged over heads,
    (N, num_heads, L, S') with ``average_attn_weights=False``, or None without ``need_weights``).

    Projections: ``in_proj_weight`` (3E, E) cut in three, or with ``use_separate_proj_weight`` ``q_proj_weight``
    (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim); ``in_proj_bias`` (3E,). ``static_k`` /
    ``static_v`` (N * num_heads, S', E / num_heads) replace the projected keys / values. ``bias_k`` / ``bias_v``
    (1, 1, E) append one key and value after the projections, ``add_zero_attn`` a zero one per head (S' grows by
    one each; the masks let every query attend them). ``attn_mask`` (L, S) or (N * num_heads, L, S) and
    ``key_padding_mask`` (N, S): bool (True: may NOT attend) or float (added to the scores). With
    ``need_weights`` a query no key may attend to gives nan, without it zeros (as torch's kernels). ``dropout_p``
    drops attention weights when ``training``. ``is_causal`` is a hint that ``attn_mask`` is causal: with no
    ``key_padding_mask`` and no weights asked for, the causal mask (top left aligned over S') is used in its place.
    """
    unbatched = _check_shapes(query, key, value, key_padding_mask, attn_mask)
    _warn_mixed_masks(key_padding_mask, attn_mask)
    if unbatched:
        query, key, value = (movement.unsqueeze(t, 1) for t in (query, key, value))
    n_l, n, e = query.shape
    if e != embed_dim_to_check:
        raise AttentionError(f"multi_head_attention_forward: expected query (L, N, {embed_dim_to_check}), got {e} "
                             f"features (embed_dim_to_check)")
    if e % num_heads:
        raise AttentionError(f"multi_head_attention_forward: embed_dim {e} must be divisible by num_heads {num_heads}")
    head_dim = e // num_heads
    pad_mask = None if key_padding_mask is None else _float_mask(key_padding_mask, query, "key_padding_mask")
    if pad_mask is not None and unbatched:
        pad_mask = movement.unsqueeze(pad_mask, 0)
    if is_causal and attn_mask is None:
        raise AttentionError("multi_head_attention_forward: is_causal=True is a hint about attn_mask; pass the causal "
                             "mask too (as torch requires)")
    causal = is_causal and pad_mask is None and not need_weights  # torch then drops attn_mask for the causal one
    mask = None if attn_mask is None or causal else _float_mask(attn_mask, query, "attn_mask")
    q, k, v = _in_projection(query, key, value, in_proj_weight, in_proj_bias, use_separate_proj_weight,
                             q_proj_weight, k_proj_weight, v_proj_weight)  # (L, N, E), (S, N, E), (S, N, E)
    n_s = k.shape[0]
    if mask is not None:  # -> (1 | N, 1 | heads, L, S)
        if mask.shape not in ((n_l, n_s), (n * num_heads, n_l, n_s)):
            raise AttentionError(f"multi_head_attention_forward: attn_mask must be ({n_l}, {n_s}) or "
                                 f"({n * num_heads}, {n_l}, {n_s}), got {mask.shape}")
        mask = movement.reshape(mask, (1, 1, n_l, n_s) if mask.ndim == 2 else (n, num_heads, n_l, n_s))
    k, v = _keys_values(k, v, bias_k, bias_v, static_k, static_v, add_zero_attn, num_heads)  # (N, heads, S', d)
    q = _heads(q, None, n, num_heads, head_dim, "query")
    appended = (bias_k is not None) + add_zero_attn  # keys every query may attend
    if pad_mask is not None and pad_mask.shape != (n, k.shape[2] - appended):
        raise AttentionError(f"multi_head_attention_forward: key_padding_mask must be ({n}, {k.shape[2] - appended}), "
                             f"got {pad_mask.shape}")
    if appended:
        mask, pad_mask = (None if m is None else F.pad(m, (0, appended)) for m in (mask, pad_mask))
    if pad_mask is not None:
        pad_mask = movement.reshape(pad_mask, (n, 1, 1, k.shape[2]))
        mask = pad_mask if mask is None else mask + pad_mask
    out, weights = _attend(q, k, v, mask, causal, float(dropout_p) if training else 0.0, need_weights)
    if weights is not None:
        weights = weights.mean(dim=1) if average_attn_weights else weights
        weights = movement.squeeze(weights, (0,)) if unbatched else weights
    out = F.linear(movement.reshape(movement.transpose(out, (2, 0, 1, 3)), (n_l, n, e)), out_proj_weight,
                   out_proj_bias)  # (L, N, E)
    return (movement.squeeze(out, (1,)) if unbatched else out), weights


def _keys_values(k: Tensor, v: Tensor, bias_k: Tensor | None, bias_v: Tensor | None, static_k: Tensor | None,
                 static_v: Tensor | None, add_zero_attn: bool, heads: int) -> tuple[Tensor, Tensor]:
    """The projected keys and values (S, N, E) -> (N, heads, S', E / heads): ``bias_k`` / ``bias_v`` appended,
    ``static_k`` / ``static_v`` in their place, then a zero key and value per head with ``add_zero_attn``."""
    n, e = k.shape[1], k.shape[2]
    if (bias_k is None) != (bias_v is None):
        raise AttentionError("multi_head_attention_forward: give both bias_k and bias_v, or neither")
    if bias_k is not None:  # one learnt key and value more for every sample
        if static_k is not None or static_v is not None:
            raise AttentionError("multi_head_attention_forward: bias_k / bias_v cannot be added to static_k / static_v")
        k, v = (movement.concatenate([t, movement.broadcast_to(b, (1, n, e))], 0) for t, b in ((k, bias_k),
                                                                                             (v, bias_v)))
    k, v = (_heads(t, static, n, heads, e // heads, name) for t, static, name in (
        (k, static_k, "static_k"), (v, static_v, "static_v")))
    if add_zero_attn:  # and a zero one per head
        k, v = (movement.concatenate([t, zeros(n, heads, 1, e // heads, dtype=t.dtype, device=t.device)], 2)
                for t in (k, v))
    return k, v


def _attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool, dropout_p: float,
            need_weights: bool) -> tuple[Tensor, Tensor | None]:
    """q (N, heads, L, d), k and v (N, heads, S, d), a float mask broadcastable to (N, heads, L, S) -> (the heads'
    outputs (N, heads, L, d), their weights (N, heads, L, S) after dropout, or None without ``need_weights``)."""
    if not need_weights:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=causal), None
    scores = (q * (1.0 / math.sqrt(q.shape[-1]))) @ movement.transpose(k, (0, 1, 3, 2))
    weights = F.softmax(scores if mask is None else scores + mask, dim=-1)  # a row with no key: nan, as torch
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    return weights @ v, weights


def _warn_mixed_masks(key_padding_mask: TensorLike | None, attn_mask: TensorLike | None) -> None:
    """torch's deprecation warning for a bool mask beside a float one (or two float dtypes): both still work."""
    if key_padding_mask is None or attn_mask is None:
        return
    pad_dtype, mask_dtype = getattr(key_padding_mask, "dtype", None), getattr(attn_mask, "dtype", None)
    if pad_dtype != mask_dtype:
        warnings.warn(f"key_padding_mask ({pad_dtype}) and attn_mask ({mask_dtype}) differ in dtype; mixing mask "
                      "dtypes is deprecated: give both as bool or both as float", UserWarning, stacklevel=3)


def _check_shapes(query: Tensor, key: Tensor, value: Tensor, key_padding_mask: TensorLike | None,
                  attn_mask: TensorLike | None) -> bool:
    """Whether the inputs are unbatched; raises where their ranks disagree (torch's rules)."""
    if query.ndim not in (2, 3):
        raise AttentionError(f"multi_head_attention_forward: expected query (L, N, E) or unbatched (L, E), got shape "
                             f"{query.shape}")
    unbatched = query.ndim == 2
    for name, t in (("key", key), ("value", value)):
        if t.ndim != query.ndim:
            raise AttentionError(f"multi_head_attention_forward: expected {name} with {query.ndim} dims as query "
                                 f"{query.shape}, got shape {t.shape}")
    pad_ndim = getattr(key_padding_mask, "ndim", None)
    if key_padding_mask is not None and pad_ndim != (1 if unbatched else 2):
        raise AttentionError(f"multi_head_attention_forward: key_padding_mask must be ({'S' if unbatched else 'N, S'}) "
                             f"for {'unbatched' if unbatched else 'batched'} inputs, got {pad_ndim} dims")
    mask_ndim = getattr(attn_mask, "ndim", None)
    if attn_mask is not None and mask_ndim not in (2, 3):
        raise AttentionError(f"multi_head_attention_forward: attn_mask must have 2 or 3 dims, got {mask_ndim}")
    return unbatched


def _in_projection(query: Tensor, key: Tensor, value: Tensor, in_proj_weight: Tensor | None,
                   in_proj_bias: Tensor | None, separate: bool, q_proj_weight: Tensor | None,
                   k_proj_weight: Tensor | None, v_proj_weight: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """query, key and value through their projections: (L, N, E), (S, N, E), (S, N, E)."""
    e = query.shape[-1]
    if separate:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AttentionError("multi_head_attention_forward: use_separate_proj_weight=True needs q_proj_weight, "
                                 "k_proj_weight and v_proj_weight")
        if key.shape[:2] != value.shape[:2]:
            raise AttentionError(f"multi_head_attention_forward: key's sequence and batch dims {key.shape[:2]} do not "
                                 f"match value's {value.shape[:2]}")
        weights = (q_proj_weight, k_proj_weight, v_proj_weight)
    else:
        if in_proj_weight is None:
            raise AttentionError("multi_head_attention_forward: in_proj_weight is None; pass it, or "
                                 "use_separate_proj_weight=True with q/k/v_proj_weight")
        if key.shape != value.shape:
            raise AttentionError(f"multi_head_attention_forward: key shape {key.shape} does not match value shape "
                                 f"{value.shape}")
        weights = tuple(in_proj_weight[i * e:(i + 1) * e] for i in range(3))
    biases = (None,) * 3 if in_proj_bias is None else tuple(in_proj_bias[i * e:(i + 1) * e] for i in range(3))
    for t, w, name in ((query, weights[0], "query"), (key, weights[1], "key"), (value, weights[2], "value")):
        if t.shape[-1] != w.shape[-1]:
            raise AttentionError(f"multi_head_attention_forward: expected {name} (L, N, {w.shape[-1]}) (or unbatched "
                                 f"(L, {w.shape[-1]})), got shape {t.shape}")
    return tuple(F.linear(t, w, b) for t, w, b in zip((query, key, value), weights, biases))  # type: ignore


def _heads(t: Tensor, static: Tensor | None, n: int, heads: int, head_dim: int, name: str) -> Tensor:
    """(T, N, E) (or ``static`` (N * heads, T, head_dim) in its place) -> (N, heads, T, head_dim)."""
    if static is not None:
        if static.ndim != 3 or static.shape[0] != n * heads or static.shape[2] != head_dim:
            raise AttentionError(f"multi_head_attention_forward: expected {name} ({n * heads}, S, {head_dim}), got "
                                 f"shape {static.shape}")
        return movement.reshape(static, (n, heads, static.shape[1], head_dim))
    return movement.transpose(movement.reshape(t, (t.shape[0], n, heads, head_dim)), (1, 2, 0, 3))


def _float_mask(mask: TensorLike, like: Tensor, name: str) -> Tensor:
    """A bool mask as -inf where True, 0 elsewhere (in ``like``'s dtype); a float mask as it is."""
    m = as_tensor(mask, like)
    if m.dtype == bool:
        return F.where(m, -float("inf"), zeros(*m.shape, dtype=like.dtype, device=like.device))
    if m.dtype.kind != "f":
        raise AttentionMaskTypeError(f"multi_head_attention_forward: only bool and floating {name} are supported, "
                                     f"got {m.dtype}")
    if m.dtype != like.dtype:  # torch refuses it too
        raise AttentionMaskTypeError(f"multi_head_attention_forward: a float {name} must have the query's dtype "
                                     f"{like.dtype}, got {m.dtype}; cast it (mask.to(query.dtype)) or pass a bool mask")
    return m


class SDPBackend(enum.IntEnum):
    """torch's names (and values) of its attention kernels, for ``sdpa_kernel``."""

    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


WARN_FOR_UNFUSED_KERNELS = False


@contextlib.contextmanager
def sdpa_kernel(backends: SDPBackend | list[SDPBackend], set_priority: bool = False) -> Iterator[dict[str, Any]]:
    """torch's ``with sdpa_kernel(SDPBackend.FLASH_ATTENTION): ...``: checks its argument and runs the block; every
    backend gives the same values here (one implementation), so the choice changes nothing. (torch may raise "No
    available kernel" where the chosen kernels do not fit the inputs; this never does.)"""
    chosen = backends if isinstance(backends, list) else [backends]
    if not isinstance(backends, (list, SDPBackend)) or not all(isinstance(b, SDPBackend) for b in chosen):
        raise TypeError(f"sdpa_kernel: backends must be an SDPBackend or a list of them, got {backends!r}")
    kernels = {SDPBackend.FLASH_ATTENTION: "flash", SDPBackend.EFFICIENT_ATTENTION: "mem_efficient",
               SDPBackend.MATH: "math", SDPBackend.CUDNN_ATTENTION: "cudnn"}
    with sdp_switches(**{name: backend in chosen for backend, name in kernels.items()}):  # what torch.backends reads
        yield {}
