"""``ExponentialFamily``: the base of the distributions with density exp(<t(x), theta> - F(theta) + k(x)), whose
entropy and same-family KL divergence follow from the log-normalizer F by automatic differentiation (a Bregman
divergence), as torch's."""

from __future__ import annotations

from ..autograd import grad
from ..tensor import Tensor
from .distribution import Distribution
from .utils import sum_rightmost


def _log_normalizer_and_grads(d: ExponentialFamily) -> tuple[Tensor, list[Tensor], tuple[Tensor | None, ...]]:
    """F(theta) at ``d``'s natural parameters (detached, fresh leaves), those leaves, and dF/dtheta (with a graph,
    so the results can be differentiated again)."""
    params = [p.detach().requires_grad_() for p in d._natural_params]
    log_norm = d._log_normalizer(*params)
    return log_norm, params, grad(log_norm.sum(), params, create_graph=True)


class ExponentialFamily(Distribution):
    """A distribution of an exponential family. Subclasses give ``_natural_params`` (a tuple of tensors theta),
    ``_log_normalizer(*theta)`` (F, shape ``batch_shape``) and ``_mean_carrier_measure`` (E[k(x)]); then
    ``entropy()`` is F - <theta, dF/dtheta> - E[k(x)] (most subclasses override it with a closed form)."""

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        raise NotImplementedError(f"{type(self).__name__} does not define _natural_params")

    def _log_normalizer(self, *natural_params: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define _log_normalizer")

    @property
    def _mean_carrier_measure(self) -> float:
        raise NotImplementedError(f"{type(self).__name__} does not define _mean_carrier_measure")

    def entropy(self) -> Tensor:
        """F(theta) - <theta, grad F(theta)> - E[k(x)]: shape ``batch_shape``. Gradients of the result do not reach
        the distribution's parameters (theta is detached, as in torch)."""
        log_norm, params, grads = _log_normalizer_and_grads(self)
        result = log_norm - self._mean_carrier_measure
        for theta, g in zip(params, grads):
            result = result - sum_rightmost(theta * g, theta.ndim - len(self._batch_shape))
        return result


def kl_expfamily_expfamily(p: ExponentialFamily, q: ExponentialFamily) -> Tensor:
    """The Bregman divergence F(theta_q) - F(theta_p) - <theta_q - theta_p, grad F(theta_p)> of two members of one
    family; NotImplementedError for two different families. Gradients reach q's parameters only (as torch)."""
    if type(p) is not type(q):
        raise NotImplementedError(f"{type(p).__name__} and {type(q).__name__} are different exponential "
                                  f"families, so no Bregman divergence links them; register_kl a closed form for "
                                  "the pair")
    log_norm, p_params, grads = _log_normalizer_and_grads(p)
    result = q._log_normalizer(*q._natural_params) - log_norm
    for theta_p, theta_q, g in zip(p_params, q._natural_params, grads):
        result = result - sum_rightmost((theta_q - theta_p) * g, len(q.event_shape))
    return result
