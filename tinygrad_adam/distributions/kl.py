"""``kl_divergence(p, q)`` and ``register_kl``: closed-form KL(p || q) looked up by the two types (the most
specific registered pair, as torch), for Normal, Bernoulli, Categorical, Uniform and Independent pairs."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

from ..creation import full_like
from ..methods import FUNCTIONS
from ..nn.functional import softplus
from ..tensor import Tensor
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .independent import Independent
from .normal import Normal
from .uniform import Uniform
from .utils import sum_rightmost

__all__ = ["kl_divergence", "register_kl"]

KLFunction = Callable[[Distribution, Distribution], Tensor]
_REGISTRY: dict[tuple[type, type], KLFunction] = {}
_MEMO: dict[tuple[type, type], KLFunction | None] = {}
_where = FUNCTIONS["where"]


def register_kl(type_p: type, type_q: type) -> Callable[[KLFunction], KLFunction]:
    """Decorator: ``@register_kl(P, Q) def kl_p_q(p, q): ...`` makes ``kl_divergence`` use it for (subclasses of)
    P and Q, unless a more specific pair is registered."""
    for t in (type_p, type_q):
        if not (isinstance(t, type) and issubclass(t, Distribution)):
            raise TypeError(f"register_kl: expected a Distribution subclass, got {t!r}")

    def decorator(fun: KLFunction) -> KLFunction:
        _REGISTRY[type_p, type_q] = fun
        _MEMO.clear()
        return fun
    return decorator


def _dispatch(type_p: type, type_q: type) -> KLFunction | None:
    """The registered function for the most specific pair, p's class first; warn if q's class first disagrees."""
    mro_p, mro_q = type_p.__mro__, type_q.__mro__
    left = next((_REGISTRY[a, b] for a in mro_p for b in mro_q if (a, b) in _REGISTRY), None)
    right = next((_REGISTRY[a, b] for b in mro_q for a in mro_p if (a, b) in _REGISTRY), None)
    if left is not right:
        warnings.warn(f"Ambiguous kl_divergence({type_p.__name__}, {type_q.__name__}): register_kl a function for "
                      f"this pair to break the tie", RuntimeWarning, stacklevel=3)
    return left


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p || q) for each distribution in the broadcast batch: shape broadcast(p.batch_shape, q.batch_shape).
    NotImplementedError when no function is registered for the two types."""
    key = (type(p), type(q))
    if key not in _MEMO:
        _MEMO[key] = _dispatch(*key)
    fun = _MEMO[key]
    if fun is None:
        raise NotImplementedError(f"No KL(p || q) is implemented for p type {type(p).__name__} and q type "
                                  f"{type(q).__name__}; register one with register_kl")
    return fun(p._on(q._device), q._on(p._device))  # one made from numbers meets the other's device


@register_kl(Normal, Normal)
def _kl_normal_normal(p: Normal, q: Normal) -> Tensor:
    var_ratio = (p.scale / q.scale).pow(2)
    t1 = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p: Bernoulli, q: Bernoulli) -> Tensor:
    """Through softplus of the logits (stable); inf where q gives 0 to an outcome p gives weight, 0 where p does not."""
    t1 = p.probs * (softplus(-q.logits) - softplus(-p.logits))  # torch's softplus: linear above 20
    t1 = _where(p.probs == 0, 0.0, _where(q.probs == 0, math.inf, t1))
    t2 = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    t2 = _where(p.probs == 1, 0.0, _where(q.probs == 1, math.inf, t2))
    return t1 + t2


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p: Categorical, q: Categorical) -> Tensor:
    t = p.probs * (p.logits - q.logits)
    t = _where(p.probs == 0, 0.0, _where(q.probs == 0, math.inf, t))
    return t.sum(-1)


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p: Uniform, q: Uniform) -> Tensor:
    result = ((q.high - q.low) / (p.high - p.low)).log()
    return _where((q.low > p.low) | (q.high < p.high), math.inf, result)


@register_kl(Normal, Uniform)
def _kl_normal_uniform(p: Normal, q: Uniform) -> Tensor:
    """inf (a Normal puts weight outside any interval), shaped as p's loc."""
    return full_like(p.loc, math.inf)


@register_kl(Uniform, Normal)
def _kl_uniform_normal(p: Uniform, q: Normal) -> Tensor:
    width = p.high - p.low
    t1 = (math.sqrt(math.pi * 2) * q.scale / width).log()
    t2 = width.pow(2) / 12
    t3 = ((p.high + p.low - 2 * q.loc) / 2).pow(2)
    return t1 + 0.5 * (t2 + t3) / q.scale.pow(2)


@register_kl(Independent, Independent)
def _kl_independent_independent(p: Independent, q: Independent) -> Tensor:
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError("kl_divergence of Independent distributions with different "
                                  "reinterpreted_batch_ndims is not implemented")
    return sum_rightmost(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)
