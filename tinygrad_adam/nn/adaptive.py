"""``nn.AdaptiveLogSoftmaxWithLoss`` as torch's (Grave et al., 2016, "Efficient softmax approximation for GPUs"):
the frequent classes ``[0, cutoffs[0])`` get a row each in the ``head`` Linear, which also has one row per tail
cluster; cluster i (classes ``[cutoffs[i], cutoffs[i+1])``) is scored by ``tail[i]``, a Sequential of two
bias-free Linears through ``in_features // div_value ** (i + 1)`` features. log p(class) = log p_head(cluster) +
log p_cluster(class). Parameter names (``head.weight``, ``tail.0.0.weight`` ...) are torch's, so its state dicts
load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..creation import zeros
from ..ops import movement
from ..tensor import Tensor
from . import functional as F
from .init import default_init_
from .layers import Linear
from .module import Module, ModuleList, Parameter, Sequential


class _ASMoutput(NamedTuple):
    """What ``AdaptiveLogSoftmaxWithLoss`` returns (torch's named tuple): each target's log-probability (N,) (or 0-d)
    and the loss, their negated mean."""

    output: Tensor
    loss: Tensor


def _linear(in_features: int, out_features: int, dtype: Any, device: str | None) -> Linear:
    """A bias-free Linear, also with zero features (a tail projection of ``in_features // div_value ** k == 0``
    features, which torch makes and our Linear's constructor refuses)."""
    if in_features and out_features:
        return Linear(in_features, out_features, bias=False, device=device, dtype=dtype)
    layer = Linear.__new__(Linear)
    layer.in_features, layer.out_features, layer.bias = in_features, out_features, None
    layer.weight = Parameter(zeros(out_features, in_features, dtype=dtype, device=device))
    return layer


class AdaptiveLogSoftmaxWithLoss(Module):
    """Adaptive softmax over ``n_classes`` classes sorted by decreasing frequency, clustered at ``cutoffs``
    (increasing, unique, in [1, n_classes - 1]).

    ``forward(input (N, in_features) or (in_features,), target (N,) or () of ints)`` -> ``(output, loss)``:
    output (N,) (or 0-d) each target's log-probability, loss the mean of -output. ``log_prob(input (N,
    in_features))`` -> (N, n_classes) every class's log-probability; ``predict(input)`` -> (N,) int64, the most
    likely class of each row.
    """

    def __init__(self, in_features: int, n_classes: int, cutoffs: Sequence[int], div_value: float = 4.0,
                 head_bias: bool = False, device: str | None = None, dtype: Any = None) -> None:
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs must hold at least one class boundary (got an empty sequence)")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError(f"cutoffs={list(cutoffs)!r}: give strictly increasing whole numbers, each from 1 to "
                             f"n_classes - 1 = {n_classes - 1}")
        self.in_features, self.n_classes = in_features, n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value, self.head_bias = div_value, head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, device=device, dtype=dtype)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(in_features // (div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(_linear(in_features, hsz, dtype, device), _linear(hsz, osz, dtype, device)))

    def reset_parameters(self) -> None:
        """Draw every weight (and the head's bias) again, as the constructor (torch's Linear default)."""
        for layer in [self.head, *(m for seq in self.tail for m in seq)]:
            if layer.weight.numel():
                default_init_(layer.weight, layer.bias)

    def forward(self, input_: Tensor, target_: Tensor) -> _ASMoutput:
        """input (N, in_features) with target (N,), or input (in_features,) with a 0-d target -> (output (N,) or
        0-d: log p(target), loss: mean of -output (nan for N = 0))."""
        if not isinstance(target_, Tensor) or target_.dtype not in ("int32", "int64"):
            raise TypeError(f"AdaptiveLogSoftmaxWithLoss: target must be an int64 (or int32) Tensor of class indices, "
                            f"got {getattr(target_, 'dtype', type(target_).__name__)}")
        if target_.ndim == 1:
            if input_.shape[0] != target_.shape[0]:
                raise ValueError(f"AdaptiveLogSoftmaxWithLoss: input {input_.shape} and target {target_.shape} hold "
                                 f"different numbers of samples")
            if input_.ndim != 2:
                raise ValueError(f"AdaptiveLogSoftmaxWithLoss: a 1-d target expects a 2-d input, got shape "
                                 f"{input_.shape}")
        elif target_.ndim == 0:
            if input_.ndim != 1:
                raise ValueError(f"AdaptiveLogSoftmaxWithLoss: a 0-d target expects a 1-d input, got shape "
                                 f"{input_.shape}")
        else:
            raise ValueError(f"AdaptiveLogSoftmaxWithLoss: a 0-d or 1-d target is expected (multi-target is not "
                             f"supported), got shape {target_.shape}")
        batched = target_.ndim > 0
        x = input_ if batched else movement.unsqueeze(input_, 0)
        t = target_._data.reshape(-1)
        xp, n = x.xp, t.shape[0]
        if n and not ((t >= 0) & (t < self.n_classes)).all():
            raise ValueError(f"AdaptiveLogSoftmaxWithLoss: target values should be in [0, {self.n_classes - 1}], but "
                             f"values in range [{t.min()}, {t.max()}] were found")
        gather = t.astype("int64")  # each row's column of the head: its class, or its cluster's row
        rows, pieces = [], []  # each cluster's rows, and their log p within the cluster (0 for the shortlist)
        for i, (low, high) in enumerate(zip([0, *self.cutoffs], self.cutoffs)):
            r = xp.nonzero((t >= low) & (t < high))[0]
            if r.size == 0:
                continue
            rows.append(r)
            if i == 0:
                pieces.append(zeros(r.size, dtype=x.dtype, device=x.device))
                continue
            logp = F.log_softmax(self.tail[i - 1](x[r]), dim=1)
            pieces.append(logp[xp.arange(r.size), t[r] - low])
            gather[r] = self.shortlist_size + i - 1
        head_logprob = F.log_softmax(self.head(x), dim=1)
        if rows:  # back to the batch's order
            order = xp.empty(n, dtype="int64")
            order[xp.concatenate(rows)] = xp.arange(n)
            local = movement.concatenate(pieces, 0)[order]
        else:
            local = zeros(0, dtype=head_logprob.dtype, device=x.device)
        output = local + head_logprob[xp.arange(n), gather]
        loss = (-output).mean()
        return _ASMoutput(output if batched else movement.squeeze(output, (0,)), loss)

    def _full_log_prob(self, input: Tensor, head_output: Tensor) -> Tensor:  # noqa: A002 - torch's name
        """(N, n_classes) log-probabilities of input (N, in_features), given the head's output (N, head_size)."""
        head_logprob = F.log_softmax(head_output, dim=1)
        parts = [head_logprob[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster = self.shortlist_size + i
            parts.append(F.log_softmax(self.tail[i](input), dim=1) + head_logprob[:, cluster:cluster + 1])
        return movement.concatenate(parts, 1)

    def _check_batch(self, input: Tensor) -> None:  # noqa: A002 - torch's name
        if input.ndim != 2:
            raise ValueError(f"AdaptiveLogSoftmaxWithLoss: expected input (N, {self.in_features}), got shape "
                             f"{input.shape}")

    def log_prob(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        """Every class's log-probability: input (N, in_features) -> (N, n_classes)."""
        self._check_batch(input)
        return self._full_log_prob(input, self.head(input))

    def predict(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        """The most likely class of each row (the first on ties; a NaN counts as the largest): input (N,
        in_features) -> (N,) int64. Rows whose best head entry is in the shortlist need no tail."""
        self._check_batch(input)
        head_output = self.head(input)
        best = head_output._data.argmax(axis=1)
        outside = best >= self.shortlist_size
        if outside.any():
            rows = input.xp.nonzero(outside)[0]
            best[rows] = self._full_log_prob(input[rows], head_output[rows])._data.argmax(axis=1)
        return Tensor(best.astype("int64"), device=input.device)
