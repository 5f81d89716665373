# ruff: noqa: UP006, UP035, UP045, B904, RUF012, RUF036 - the repository's own spellings
"""FT-Transformer as yandex-research/rtdl writes it (the ``rtdl`` package and ``bin/ft_transformer.py``), shrunk to
tiny sizes on synthetic numpy tables with numerical and categorical columns: ``_TokenInitialization`` ('uniform'
by ``1 / sqrt(d)``), ``NumericalFeatureTokenizer`` (``weight[None] * x[..., None] + bias``),
``CategoricalFeatureTokenizer`` (a ``category_offsets`` buffer from ``cumsum``, one ``nn.Embedding``),
``FeatureTokenizer``, ``CLSToken`` (``view`` / ``expand``, appended by ``torch.cat``), the hand-written
``MultiheadAttention`` (``W_q`` / ``W_k`` / ``W_v`` / ``W_out``, ``_reshape``, ``q @ k.transpose(1, 2)``, optional
key / value compression over the token axis with ``headwise`` / ``key-value`` / ``layerwise`` sharing), ReGLU /
GEGLU, the ``Transformer`` (pre-normalization without the first one, ``last_layer_query_idx=[-1]``, residual
dropout, the LayerNorm / ReLU / Linear head), ``FTTransformer.make_default``-like construction with
``optimization_param_groups`` and ``make_default_optimizer`` (AdamW 1e-4 / 1e-5), the training loop (MSE,
cross-entropy or BCE-with-logits; ``no_grad`` RMSE / accuracy; ``best.pt`` / ``checkpoint.pt``, patience, a resume
and the best model's final scores), and rtdl_num_embeddings' ``PiecewiseLinearEncoding`` (quantile bins,
``clamp`` / ``where``) and ``PeriodicEmbeddings`` (``_Periodic``, ``_NLinear``) under MLPs."""

import enum
import math
import os
from typing import Any, Callable, Dict, List, Optional, Union, cast

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

ModuleType = Union[str, Callable[..., nn.Module]]


def make_data(n=96, n_num=3, cards=(3, 5), seed=0):
    """Synthetic table: ``x_num`` (n, n_num) float32, ``x_cat`` (n, len(cards)) int64, a regression target,
    a 3-class label and a binary label."""
    rng = np.random.default_rng(seed)
    x_num = rng.normal(size=(n, n_num)).astype(np.float32)
    x_cat = np.stack([rng.integers(0, c, n) for c in cards], 1).astype(np.int64)
    effects = [rng.normal(size=c) for c in cards]
    score = x_num @ rng.normal(size=n_num) + sum(e[x_cat[:, i]] for i, e in enumerate(effects))
    y = (score + 0.1 * rng.normal(size=n)).astype(np.float32)
    y = (y - y.mean()) / y.std()
    cls = np.digitize(score, np.quantile(score, [0.33, 0.66])).astype(np.int64)
    binary = (score > np.median(score)).astype(np.float32)
    return {"x_num": x_num, "x_cat": x_cat, "y": y.astype(np.float32), "cls": cls, "bin": binary,
            "cards": list(cards)}


class _TokenInitialization(enum.Enum):
    UNIFORM = 'uniform'
    NORMAL = 'normal'

    @classmethod
    def from_str(cls, initialization: str) -> '_TokenInitialization':
        try:
            return cls(initialization)
        except ValueError:
            valid_values = [x.value for x in _TokenInitialization]
            raise ValueError(f'initialization must be one of {valid_values}')

    def apply(self, x: Tensor, d: int) -> None:
        d_sqrt_inv = 1 / math.sqrt(d)
        if self == _TokenInitialization.UNIFORM:
            nn.init.uniform_(x, a=-d_sqrt_inv, b=d_sqrt_inv)
        elif self == _TokenInitialization.NORMAL:
            nn.init.normal_(x, std=d_sqrt_inv)


class NumericalFeatureTokenizer(nn.Module):
    def __init__(self, n_features: int, d_token: int, bias: bool, initialization: str) -> None:
        super().__init__()
        initialization_ = _TokenInitialization.from_str(initialization)
        self.weight = nn.Parameter(Tensor(n_features, d_token))
        self.bias = nn.Parameter(Tensor(n_features, d_token)) if bias else None
        for parameter in [self.weight, self.bias]:
            if parameter is not None:
                initialization_.apply(parameter, d_token)

    @property
    def n_tokens(self) -> int:
        return len(self.weight)

    @property
    def d_token(self) -> int:
        return self.weight.shape[1]

    def forward(self, x: Tensor) -> Tensor:
        x = self.weight[None] * x[..., None]
        if self.bias is not None:
            x = x + self.bias[None]
        return x


class CategoricalFeatureTokenizer(nn.Module):
    category_offsets: Tensor

    def __init__(self, cardinalities: List[int], d_token: int, bias: bool, initialization: str) -> None:
        super().__init__()
        assert cardinalities, 'cardinalities must be non-empty'
        assert d_token > 0, 'd_token must be positive'
        initialization_ = _TokenInitialization.from_str(initialization)

        category_offsets = torch.tensor([0] + cardinalities[:-1]).cumsum(0)
        self.register_buffer('category_offsets', category_offsets, persistent=False)
        self.embeddings = nn.Embedding(sum(cardinalities), d_token)
        self.bias = nn.Parameter(Tensor(len(cardinalities), d_token)) if bias else None

        for parameter in [self.embeddings.weight, self.bias]:
            if parameter is not None:
                initialization_.apply(parameter, d_token)

    @property
    def n_tokens(self) -> int:
        return len(self.category_offsets)

    @property
    def d_token(self) -> int:
        return self.embeddings.embedding_dim

    def forward(self, x: Tensor) -> Tensor:
        x = self.embeddings(x + self.category_offsets[None])
        if self.bias is not None:
            x = x + self.bias[None]
        return x


class FeatureTokenizer(nn.Module):
    def __init__(self, n_num_features: int, cat_cardinalities: List[int], d_token: int) -> None:
        super().__init__()
        assert n_num_features >= 0, 'n_num_features must be non-negative'
        assert n_num_features or cat_cardinalities
        self.initialization = 'uniform'
        self.num_tokenizer = (
            NumericalFeatureTokenizer(n_features=n_num_features, d_token=d_token, bias=True,
                                      initialization=self.initialization)
            if n_num_features else None
        )
        self.cat_tokenizer = (
            CategoricalFeatureTokenizer(cat_cardinalities, d_token, True, self.initialization)
            if cat_cardinalities else None
        )

    @property
    def n_tokens(self) -> int:
        return sum(x.n_tokens for x in [self.num_tokenizer, self.cat_tokenizer] if x is not None)

    @property
    def d_token(self) -> int:
        return (self.cat_tokenizer.d_token if self.num_tokenizer is None else self.num_tokenizer.d_token)

    def forward(self, x_num: Optional[Tensor], x_cat: Optional[Tensor]) -> Tensor:
        assert x_num is not None or x_cat is not None
        x = []
        if self.num_tokenizer is not None:
            x.append(self.num_tokenizer(x_num))
        if self.cat_tokenizer is not None:
            x.append(self.cat_tokenizer(x_cat))
        return x[0] if len(x) == 1 else torch.cat(x, dim=1)


class CLSToken(nn.Module):
    def __init__(self, d_token: int, initialization: str) -> None:
        super().__init__()
        initialization_ = _TokenInitialization.from_str(initialization)
        self.weight = nn.Parameter(Tensor(d_token))
        initialization_.apply(self.weight, d_token)

    def expand(self, *leading_dimensions: int) -> Tensor:
        if not leading_dimensions:
            return self.weight
        new_dims = (1,) * (len(leading_dimensions) - 1)
        return self.weight.view(*new_dims, -1).expand(*leading_dimensions, -1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, self.expand(len(x), 1)], dim=1)


def reglu(x: Tensor) -> Tensor:
    assert x.shape[-1] % 2 == 0
    a, b = x.chunk(2, dim=-1)
    return a * F.relu(b)


def geglu(x: Tensor) -> Tensor:
    assert x.shape[-1] % 2 == 0
    a, b = x.chunk(2, dim=-1)
    return a * F.gelu(b)


class ReGLU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return reglu(x)


class GEGLU(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return geglu(x)


def _make_nn_module(module_type: ModuleType, *args) -> nn.Module:
    if isinstance(module_type, str):
        if module_type == 'ReGLU':
            return ReGLU()
        elif module_type == 'GEGLU':
            return GEGLU()
        else:
            try:
                cls = getattr(nn, module_type)
            except AttributeError as err:
                raise ValueError(f'Failed to construct the module {module_type} with the arguments {args}') from err
            return cls(*args)
    else:
        return module_type(*args)


class MultiheadAttention(nn.Module):
    def __init__(self, *, d_token: int, n_heads: int, dropout: float, bias: bool, initialization: str) -> None:
        super().__init__()
        if n_heads > 1:
            assert d_token % n_heads == 0, 'd_token must be a multiple of n_heads'
        assert initialization in ['kaiming', 'xavier']

        self.W_q = nn.Linear(d_token, d_token, bias)
        self.W_k = nn.Linear(d_token, d_token, bias)
        self.W_v = nn.Linear(d_token, d_token, bias)
        self.W_out = nn.Linear(d_token, d_token, bias) if n_heads > 1 else None
        self.n_heads = n_heads
        self.dropout = nn.Dropout(dropout) if dropout else None

        for m in [self.W_q, self.W_k, self.W_v]:
            # "kaiming" keeps nn.Linear's own init
            if initialization == 'xavier' and (m is not self.W_v or self.W_out is not None):
                nn.init.xavier_uniform_(m.weight, gain=1 / math.sqrt(2))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        if self.W_out is not None:
            nn.init.zeros_(self.W_out.bias)

    def _reshape(self, x: Tensor) -> Tensor:
        batch_size, n_tokens, d = x.shape
        d_head = d // self.n_heads
        return (
            x.reshape(batch_size, n_tokens, self.n_heads, d_head)
            .transpose(1, 2)
            .reshape(batch_size * self.n_heads, n_tokens, d_head)
        )

    def forward(self, x_q: Tensor, x_kv: Tensor, key_compression: Optional[nn.Linear],
                value_compression: Optional[nn.Linear]) -> Dict[str, Tensor]:
        assert _all_or_none([key_compression, value_compression])
        q, k, v = self.W_q(x_q), self.W_k(x_kv), self.W_v(x_kv)
        for tensor in [q, k, v]:
            assert tensor.shape[-1] % self.n_heads == 0
        if key_compression is not None:
            k = key_compression(k.transpose(1, 2)).transpose(1, 2)
            v = value_compression(v.transpose(1, 2)).transpose(1, 2)  # type: ignore

        batch_size = len(q)
        d_head_key = k.shape[-1] // self.n_heads
        d_head_value = v.shape[-1] // self.n_heads
        n_q_tokens = q.shape[1]

        q = self._reshape(q)
        k = self._reshape(k)
        attention_logits = q @ k.transpose(1, 2) / math.sqrt(d_head_key)
        attention_probs = F.softmax(attention_logits, dim=-1)
        if self.dropout is not None:
            attention_probs = self.dropout(attention_probs)
        x = attention_probs @ self._reshape(v)
        x = (
            x.reshape(batch_size, self.n_heads, n_q_tokens, d_head_value)
            .transpose(1, 2)
            .reshape(batch_size, n_q_tokens, self.n_heads * d_head_value)
        )
        if self.W_out is not None:
            x = self.W_out(x)
        return x, {
            'attention_logits': attention_logits,
            'attention_probs': attention_probs,
        }


def _all_or_none(values):
    return all(x is None for x in values) or all(x is not None for x in values)


class Transformer(nn.Module):
    WARNINGS = {'first_prenormalization': True, 'prenormalization': True}

    class FFN(nn.Module):
        def __init__(self, *, d_token: int, d_hidden: int, bias_first: bool, bias_second: bool, dropout: float,
                     activation: ModuleType):
            super().__init__()
            self.linear_first = nn.Linear(
                d_token,
                d_hidden * (2 if activation in ('ReGLU', 'GEGLU') else 1),
                bias_first,
            )
            self.activation = _make_nn_module(activation)
            self.dropout = nn.Dropout(dropout)
            self.linear_second = nn.Linear(d_hidden, d_token, bias_second)

        def forward(self, x: Tensor) -> Tensor:
            x = self.linear_first(x)
            x = self.activation(x)
            x = self.dropout(x)
            x = self.linear_second(x)
            return x

    class Head(nn.Module):
        def __init__(self, *, d_in: int, bias: bool, activation: ModuleType, normalization: ModuleType,
                     d_out: int):
            super().__init__()
            self.normalization = _make_nn_module(normalization, d_in)
            self.activation = _make_nn_module(activation)
            self.linear = nn.Linear(d_in, d_out, bias)

        def forward(self, x: Tensor) -> Tensor:
            x = x[:, -1]
            x = self.normalization(x)
            x = self.activation(x)
            x = self.linear(x)
            return x

    def __init__(self, *, d_token: int, n_blocks: int, attention_n_heads: int, attention_dropout: float,
                 attention_initialization: str, attention_normalization: str, ffn_d_hidden: int,
                 ffn_dropout: float, ffn_activation: str, ffn_normalization: str, residual_dropout: float,
                 prenormalization: bool, first_prenormalization: bool, last_layer_query_idx: Union[None, List[int],
                 slice], n_tokens: Optional[int], kv_compression_ratio: Optional[float],
                 kv_compression_sharing: Optional[str], head_activation: ModuleType,
                 head_normalization: ModuleType, d_out: int) -> None:
        super().__init__()
        if isinstance(last_layer_query_idx, int):
            raise ValueError('last_layer_query_idx must be None, list[int] or slice.')
        if not prenormalization:
            assert not first_prenormalization, 'If `prenormalization` is False, then `first_prenormalization`'
            ' must be False'
        assert _all_or_none([n_tokens, kv_compression_ratio, kv_compression_sharing])
        assert kv_compression_sharing in [None, 'headwise', 'key-value', 'layerwise']

        def make_kv_compression():
            assert n_tokens and kv_compression_ratio, 'error'
            # https://github.com/pytorch/fairseq/blob/1bba712622b8ae4efb3eb793a8a40da386fe11d0/examples/linformer/linformer_src/modules/multihead_linear_attention.py#L83
            return nn.Linear(n_tokens, int(n_tokens * kv_compression_ratio), bias=False)

        self.shared_kv_compression = (
            make_kv_compression()
            if kv_compression_ratio and kv_compression_sharing == 'layerwise'
            else None
        )

        self.prenormalization = prenormalization
        self.last_layer_query_idx = last_layer_query_idx

        self.blocks = nn.ModuleList([])
        for layer_idx in range(n_blocks):
            layer = nn.ModuleDict(
                {
                    'attention': MultiheadAttention(
                        d_token=d_token,
                        n_heads=attention_n_heads,
                        dropout=attention_dropout,
                        bias=True,
                        initialization=attention_initialization,
                    ),
                    'ffn': Transformer.FFN(
                        d_token=d_token,
                        d_hidden=ffn_d_hidden,
                        bias_first=True,
                        bias_second=True,
                        dropout=ffn_dropout,
                        activation=ffn_activation,
                    ),
                    'attention_residual_dropout': nn.Dropout(residual_dropout),
                    'ffn_residual_dropout': nn.Dropout(residual_dropout),
                    'output': nn.Identity(),  # for hooks-based introspection
                }
            )
            if layer_idx or not prenormalization or first_prenormalization:
                layer['attention_normalization'] = _make_nn_module(attention_normalization, d_token)
            layer['ffn_normalization'] = _make_nn_module(ffn_normalization, d_token)
            if kv_compression_ratio and self.shared_kv_compression is None:
                layer['key_compression'] = make_kv_compression()
                if kv_compression_sharing == 'headwise':
                    layer['value_compression'] = make_kv_compression()
                else:
                    assert kv_compression_sharing == 'key-value', 'INTERNAL: this branch should be unreachable'
            self.blocks.append(layer)

        self.head = Transformer.Head(
            d_in=d_token,
            d_out=d_out,
            bias=True,
            activation=head_activation,  # type: ignore
            normalization=head_normalization if prenormalization else 'Identity',
        )

    def _get_kv_compressions(self, layer):
        return (
            (self.shared_kv_compression, self.shared_kv_compression)
            if self.shared_kv_compression is not None
            else (layer['key_compression'], layer['value_compression'])
            if 'key_compression' in layer and 'value_compression' in layer
            else (layer['key_compression'], layer['key_compression'])
            if 'key_compression' in layer
            else (None, None)
        )

    def _start_residual(self, layer, stage, x):
        assert stage in ['attention', 'ffn'], 'INTERNAL: this branch should be unreachable'
        x_residual = x
        if self.prenormalization:
            norm_key = f'{stage}_normalization'
            if norm_key in layer:
                x_residual = layer[norm_key](x_residual)
        return x_residual

    def _end_residual(self, layer, stage, x, x_residual):
        assert stage in ['attention', 'ffn'], 'INTERNAL: this branch should be unreachable'
        x_residual = layer[f'{stage}_residual_dropout'](x_residual)
        x = x + x_residual
        if not self.prenormalization:
            x = layer[f'{stage}_normalization'](x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        assert x.ndim == 3, 'The input must have 3 dimensions: (n_objects, n_tokens, d_token)'
        self.attention_probs = []
        for layer_idx, layer in enumerate(self.blocks):
            layer = cast(nn.ModuleDict, layer)

            query_idx = (self.last_layer_query_idx if layer_idx + 1 == len(self.blocks) else None)
            x_residual = self._start_residual(layer, 'attention', x)
            x_residual, info = layer['attention'](
                x_residual if query_idx is None else x_residual[:, query_idx],
                x_residual,
                *self._get_kv_compressions(layer),
            )
            self.attention_probs.append(info['attention_probs'])
            if query_idx is not None:
                x = x[:, query_idx]
            x = self._end_residual(layer, 'attention', x, x_residual)

            x_residual = self._start_residual(layer, 'ffn', x)
            x_residual = layer['ffn'](x_residual)
            x = self._end_residual(layer, 'ffn', x, x_residual)
            x = layer['output'](x)

        x = self.head(x)
        return x


class FTTransformer(nn.Module):
    def __init__(self, feature_tokenizer: FeatureTokenizer, transformer: Transformer) -> None:
        super().__init__()
        if transformer.prenormalization:
            assert 'attention_normalization' not in transformer.blocks[0], (
                'In the prenormalization setting, FT-Transformer does not allow using the first normalization layer'
                ' in the first transformer block'
            )
        self.feature_tokenizer = feature_tokenizer
        self.cls_token = CLSToken(feature_tokenizer.d_token, feature_tokenizer.initialization)
        self.transformer = transformer

    @classmethod
    def get_baseline_transformer_subconfig(cls) -> Dict[str, Any]:
        return {
            'attention_n_heads': 8,
            'attention_initialization': 'kaiming',
            'ffn_activation': 'ReGLU',
            'attention_normalization': 'LayerNorm',
            'ffn_normalization': 'LayerNorm',
            'prenormalization': True,
            'first_prenormalization': False,
            'last_layer_query_idx': None,
            'n_tokens': None,
            'kv_compression_ratio': None,
            'kv_compression_sharing': None,
            'head_activation': 'ReLU',
            'head_normalization': 'LayerNorm',
        }

    @classmethod
    def make_default(cls, *, n_num_features: int, cat_cardinalities: Optional[List[int]], d_out: Optional[int],
                     n_blocks: int = 2, d_token: int = 16, n_heads: int = 4, attention_initialization='kaiming',
                     ffn_activation='ReGLU', attention_dropout: float = 0.0, ffn_dropout: float = 0.0,
                     residual_dropout: float = 0.0, kv_compression_ratio: Optional[float] = None,
                     kv_compression_sharing: Optional[str] = None, last_layer_query_idx=(-1,),
                     prenormalization: bool = True) -> 'FTTransformer':
        """``make_default`` shrunk: the paper's defaults are d_token 192 with 8 heads and 3 blocks."""
        transformer_config = cls.get_baseline_transformer_subconfig()
        transformer_config.update(
            attention_n_heads=n_heads,
            attention_initialization=attention_initialization,
            ffn_activation=ffn_activation,
            prenormalization=prenormalization,
            last_layer_query_idx=list(last_layer_query_idx) if last_layer_query_idx is not None else None,
        )
        if kv_compression_ratio is not None:
            transformer_config['n_tokens'] = n_num_features + len(cat_cardinalities or []) + 1
            transformer_config['kv_compression_ratio'] = kv_compression_ratio
            transformer_config['kv_compression_sharing'] = kv_compression_sharing
        return cls._make(n_num_features, cat_cardinalities, {
            'd_token': d_token,
            'n_blocks': n_blocks,
            'attention_dropout': attention_dropout,
            'ffn_d_hidden': int(d_token * 4 / 3),
            'ffn_dropout': ffn_dropout,
            'residual_dropout': residual_dropout,
            'd_out': d_out,
            **transformer_config,
        })

    @classmethod
    def _make(cls, n_num_features, cat_cardinalities, transformer_config):
        feature_tokenizer = FeatureTokenizer(
            n_num_features=n_num_features,
            cat_cardinalities=cat_cardinalities,
            d_token=transformer_config['d_token'],
        )
        if transformer_config['d_out'] is None:
            transformer_config['head_activation'] = None
        if transformer_config['kv_compression_ratio'] is not None:
            transformer_config['n_tokens'] = feature_tokenizer.n_tokens + 1
        return FTTransformer(feature_tokenizer, Transformer(**transformer_config))

    def optimization_param_groups(self) -> List[Dict[str, Any]]:
        no_wd_names = ['feature_tokenizer', 'normalization', '.bias']
        assert isinstance(getattr(self, no_wd_names[0], None), FeatureTokenizer)
        assert (
            sum(1 for name, _ in self.named_modules() if no_wd_names[1] in name)
            == len(self.transformer.blocks) * 2
            - int('attention_normalization' not in self.transformer.blocks[0])  # type: ignore
            + 1
        )

        def needs_wd(name):
            return all(x not in name for x in no_wd_names)

        return [
            {'params': [v for k, v in self.named_parameters() if needs_wd(k)]},
            {
                'params': [v for k, v in self.named_parameters() if not needs_wd(k)],
                'weight_decay': 0.0,
            },
        ]

    def make_default_optimizer(self) -> torch.optim.AdamW:
        return torch.optim.AdamW(self.optimization_param_groups(), lr=1e-4, weight_decay=1e-5)

    def forward(self, x_num: Optional[Tensor], x_cat: Optional[Tensor]) -> Tensor:
        x = self.feature_tokenizer(x_num, x_cat)
        x = self.cls_token(x)
        x = self.transformer(x)
        return x


# ---- rtdl's PiecewiseLinearEncoding (bins from quantiles), with an MLP on top --------------------------------------


def compute_bins(X: Tensor, n_bins: int = 4) -> List[Tensor]:
    """Quantile bin edges per column, as ``rtdl_num_embeddings.compute_bins`` without a tree."""
    return [
        q.unique()
        for q in torch.quantile(X, torch.linspace(0.0, 1.0, n_bins + 1).to(X), dim=0).T
    ]


class _PiecewiseLinearEncodingImpl(nn.Module):
    edges: Tensor
    width: Tensor
    mask: Tensor

    def __init__(self, bins: List[Tensor]) -> None:
        super().__init__()
        n_features = len(bins)
        n_bins = [len(x) - 1 for x in bins]
        max_n_bins = max(n_bins)
        self.register_buffer('edges', torch.full((n_features, max_n_bins), math.inf))
        self.register_buffer('width', torch.full((n_features, max_n_bins), math.nan))
        self.register_buffer('mask', torch.zeros(n_features, max_n_bins, dtype=torch.bool))
        for i, bin_edges in enumerate(bins):
            bin_width = bin_edges.diff()
            n_bins_i = len(bin_width)
            # left-aligned bins with the last one moved to the end: [0, ..., n - 2, pad, ..., pad, n - 1]
            self.edges[i, : n_bins_i - 1] = bin_edges[:-2]
            self.edges[i, -1] = bin_edges[-2]
            self.width[i, : n_bins_i - 1] = bin_width[:-1]
            self.width[i, -1] = bin_width[-1]
            self.mask[i, : n_bins_i - 1] = True
            self.mask[i, -1] = True
        self.single_bin_mask = torch.tensor(n_bins) == 1 if any(n == 1 for n in n_bins) else None

    def forward(self, x: Tensor) -> Tensor:
        x = (x[..., None] - self.edges) / self.width
        n_bins = x.shape[-1]
        if n_bins > 1:
            if self.single_bin_mask is None:
                x = torch.cat(
                    [
                        x[..., :1].clamp_max(1.0),
                        x[..., 1:-1].clamp(0.0, 1.0),
                        x[..., -1:].clamp_min(0.0),
                    ],
                    dim=-1,
                )
            else:
                x = torch.stack(
                    [
                        x[..., 0].clamp_max(1.0),
                        *x[..., 1:-1].clamp(0.0, 1.0).unbind(-1),
                        torch.where(self.single_bin_mask, x[..., -1], x[..., -1].clamp_min(0.0)),
                    ],
                    dim=-1,
                )
        return x


class PiecewiseLinearEncoding(nn.Module):
    def __init__(self, bins: List[Tensor]) -> None:
        super().__init__()
        self.impl = _PiecewiseLinearEncodingImpl(bins)

    def forward(self, x: Tensor) -> Tensor:
        x = self.impl(x)
        return x.flatten(-2) if self.impl.mask is None else x[:, self.impl.mask]


class _Periodic(nn.Module):
    def __init__(self, n_features: int, k: int, sigma: float) -> None:
        if sigma <= 0.0:
            raise ValueError(f'sigma must be positive, however: {sigma=}')
        super().__init__()
        self._sigma = sigma
        self.weight = nn.Parameter(torch.empty(n_features, k))
        self.reset_parameters()

    def reset_parameters(self):
        # NOTE[DIFF]: in the paper, there was no truncation.
        bound = self._sigma * 3
        nn.init.trunc_normal_(self.weight, 0.0, self._sigma, a=-bound, b=bound)

    def forward(self, x: Tensor) -> Tensor:
        x = 2 * math.pi * self.weight * x[..., None]
        x = torch.cat([torch.cos(x), torch.sin(x)], -1)
        return x


class _NLinear(nn.Module):
    """N separate linear layers for N feature embeddings."""

    def __init__(self, n: int, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(n, out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        d_in_rsqrt = self.weight.shape[-2] ** -0.5
        nn.init.uniform_(self.weight, -d_in_rsqrt, d_in_rsqrt)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -d_in_rsqrt, d_in_rsqrt)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3:
            raise ValueError('_NLinear supports only inputs with exactly one batch dimension')
        x = x.transpose(0, 1)
        x = x @ self.weight
        x = x.transpose(0, 1)
        if self.bias is not None:
            x = x + self.bias
        return x


class PeriodicEmbeddings(nn.Module):
    def __init__(self, n_features: int, d_embedding: int = 24, *, n_frequencies: int = 48,
                 frequency_init_scale: float = 0.01, activation: bool = True, lite: bool) -> None:
        super().__init__()
        self.periodic = _Periodic(n_features, n_frequencies, frequency_init_scale)
        self.linear: Union[nn.Linear, _NLinear]
        if lite:
            if not activation:
                raise ValueError('lite=True is allowed only when activation=True')
            self.linear = nn.Linear(2 * n_frequencies, d_embedding)
        else:
            self.linear = _NLinear(n_features, 2 * n_frequencies, d_embedding)
        self.activation = nn.ReLU() if activation else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.periodic(x)
        x = self.linear(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class PLEMLP(nn.Module):
    """An MLP over the numerical embeddings (piecewise-linear, or periodic when ``bins`` is None) and one-hot
    categories."""

    def __init__(self, bins: Optional[List[Tensor]], cards: List[int], d_out: int, d: int = 16,
                 n_num: int = 3, lite: bool = False) -> None:
        super().__init__()
        if bins is not None:
            self.encoding = PiecewiseLinearEncoding(bins)
            d_num = int(self.encoding.impl.mask.sum())
        else:
            self.encoding = nn.Sequential(
                PeriodicEmbeddings(n_num, 4, n_frequencies=6, frequency_init_scale=0.3, lite=lite),
                nn.Flatten(1),
            )
            d_num = n_num * 4
        self.cards = cards
        d_in = d_num + sum(cards)
        self.blocks = nn.Sequential(nn.Linear(d_in, d), nn.ReLU(), nn.Dropout(0.0), nn.Linear(d, d_out))

    def forward(self, x_num: Tensor, x_cat: Tensor) -> Tensor:
        x = [self.encoding(x_num)]
        x += [F.one_hot(column, c).float() for column, c in zip(x_cat.T, self.cards)]
        return self.blocks(torch.cat(x, dim=1))


# ---- bin/ft_transformer.py's loop ---------------------------------------------------------------------------------


def make_model(data, task, **kwargs):
    d_out = {'regression': 1, 'binclass': 1, 'multiclass': 3}[task]
    return FTTransformer.make_default(n_num_features=data['x_num'].shape[1], cat_cardinalities=data['cards'],
                                      d_out=d_out, **kwargs)


def train(model, data, task, n_epochs=3, batch_size=32, optimizer=None, n_train=64, n_val=16, orders=None,
          record=None, output=None, resume=False, patience=16):
    """The training loop of ``bin/ft_transformer.py`` on numpy batches: ``orders[epoch]`` is each epoch's row
    permutation. Records losses, gradient norms, token / attention tensors of the first step, parameters after
    each step and the evaluation metrics; with ``output`` (a folder) it keeps ``best.pt`` on each new best
    validation score and ``checkpoint.pt`` each epoch, resumes from the latter, stops after ``patience`` epochs
    without improvement and evaluates the best model on val / test at the end."""
    X_num = torch.from_numpy(data['x_num'])
    X_cat = torch.from_numpy(data['x_cat'])
    Y = torch.from_numpy({'regression': data['y'], 'binclass': data['bin'], 'multiclass': data['cls']}[task])
    loss_fn = (
        F.binary_cross_entropy_with_logits
        if task == 'binclass'
        else F.cross_entropy
        if task == 'multiclass'
        else F.mse_loss
    )
    optimizer = optimizer or model.make_default_optimizer()
    rec = record if record is not None else {}
    rec.setdefault('loss', []), rec.setdefault('grad', []), rec.setdefault('params', []), rec.setdefault('eval', [])

    def apply_model(idx):
        return model(X_num[idx], X_cat[idx])

    @torch.no_grad()
    def evaluate(part):
        model.eval()
        idx = {'train': torch.arange(n_train), 'val': torch.arange(n_train, n_train + n_val),
               'test': torch.arange(n_train + n_val, len(Y))}[part]
        prediction = apply_model(idx)
        target = Y[idx]
        if task == 'regression':
            prediction = prediction.squeeze(1)
            score = -((prediction - target) ** 2).mean().sqrt().item()  # -rmse
        elif task == 'binclass':
            score = ((prediction.squeeze(1) > 0).float() == target).float().mean().item()
        else:
            score = (prediction.argmax(1) == target).float().mean().item()
        return score, prediction.numpy().copy()

    progress_step, start_epoch, best_score, fail_count = 0, 0, -math.inf, 0
    if resume:
        checkpoint = torch.load(os.path.join(output, 'checkpoint.pt'))
        model.load_state_dict(checkpoint['model'])
        optimizer.load_state_dict(checkpoint['optimizer'])
        start_epoch = checkpoint['epoch'] + 1
        best_score, fail_count = checkpoint['best_score'], checkpoint['fail_count']
    for epoch in range(start_epoch, n_epochs):
        order = torch.from_numpy(orders[epoch])
        for batch_idx in order.split(batch_size):
            model.train()
            optimizer.zero_grad()
            x = model.feature_tokenizer(X_num[batch_idx], X_cat[batch_idx])
            if progress_step == 0 and not resume:
                rec['tokens'] = x.detach().numpy().copy()
                rec['with_cls'] = model.cls_token(x).detach().numpy().copy()
            out = apply_model(batch_idx)
            if progress_step == 0 and not resume:
                rec['attention'] = [p.detach().numpy().copy() for p in model.transformer.attention_probs]
                rec['logits'] = out.detach().numpy().copy()
            out = out.squeeze(-1) if task != 'multiclass' else out
            loss = loss_fn(out, Y[batch_idx])
            loss.backward()
            rec['grad'].append(
                torch.norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])).item())
            optimizer.step()
            progress_step += 1
            rec['loss'].append(loss.item())
            rec['params'].append({k: v.detach().numpy().copy() for k, v in model.named_parameters()})
        scores = {part: evaluate(part) for part in ['train', 'val']}
        rec['eval'].append({part: s for part, (s, _) in scores.items()})
        rec.setdefault('predictions', []).append(scores['val'][1])
        print(f'[epoch] {epoch} [loss] {loss.item():.4f} [train] {scores["train"][0]:.4f} '
              f'[val] {scores["val"][0]:.4f}')
        if output is None:
            continue
        if scores['val'][0] > best_score:
            best_score, fail_count = scores['val'][0], 0
            print('New best epoch!')
            torch.save({'model': model.state_dict(), 'epoch': epoch}, os.path.join(output, 'best.pt'))
        else:
            fail_count += 1
        torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'epoch': epoch,
                    'best_score': best_score, 'fail_count': fail_count}, os.path.join(output, 'checkpoint.pt'))
        if fail_count >= patience:
            print(f'early stop at epoch {epoch}')
            break
    if output is not None:
        best = torch.load(os.path.join(output, 'best.pt'))
        model.load_state_dict(best['model'])
        rec['final'] = {'best_epoch': best['epoch'], **{part: evaluate(part)[0] for part in ['val', 'test']}}
        print(f'[best epoch] {best["epoch"]} [val] {rec["final"]["val"]:.4f} [test] {rec["final"]["test"]:.4f}')
    return rec


def train_ple(data, bins_from=None, n_epochs=3, n_train=64, orders=None, batch_size=32, embedding='ple'):
    """An MLP on ``PiecewiseLinearEncoding`` (or ``PeriodicEmbeddings``: ``embedding='periodic'`` /
    ``'periodic-lite'``) trained by AdamW on MSE; returns the model, its record (bins, encodings) and tensors."""
    X_num = torch.from_numpy(data['x_num'])
    X_cat = torch.from_numpy(data['x_cat'])
    Y = torch.from_numpy(data['y'])
    if embedding == 'ple':
        bins = compute_bins(X_num[:n_train]) if bins_from is None else [torch.tensor(b) for b in bins_from]
    else:
        bins = None
    model = PLEMLP(bins, data['cards'], 1, lite=embedding == 'periodic-lite')
    rec = {'bins': [b.numpy().copy() for b in bins or []], 'loss': [], 'grad': []}
    if bins is not None:
        rec['encoding'] = model.encoding(X_num).numpy().copy()
    return model, rec, (X_num, X_cat, Y)


def fit_ple(model, rec, tensors, n_epochs=3, orders=None, batch_size=32, n_train=64):
    X_num, X_cat, Y = tensors
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-5)
    for epoch in range(n_epochs):
        for batch_idx in torch.from_numpy(orders[epoch]).split(batch_size):
            optimizer.zero_grad()
            loss = F.mse_loss(model(X_num[batch_idx], X_cat[batch_idx]).squeeze(-1), Y[batch_idx])
            loss.backward()
            rec['grad'].append(torch.nn.utils.clip_grad_norm_(model.parameters(), float('inf')).item())
            optimizer.step()
            rec['loss'].append(loss.item())
    rec['params'] = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    with torch.no_grad():
        rec['rmse'] = F.mse_loss(model(X_num[n_train:], X_cat[n_train:]).squeeze(-1), Y[n_train:]).sqrt().item()
    return rec
