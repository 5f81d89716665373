"""``tinygrad_adam.special``, as ``torch.special``: the special functions under torch's names there.

Most are the library's functions under another name (``expit`` is ``sigmoid``, ``gammaln`` is ``lgamma``, ``psi``
is ``digamma``); ``ndtr``, ``ndtri``, ``log_ndtr`` and ``entr`` live only here, as in torch. Integer and bool
inputs are computed in float32, as torch's.
"""

from __future__ import annotations

from collections.abc import Callable

from .methods import FUNCTIONS, _float_unary
from .ops import unary
from .tensor import Tensor

__all__ = ["digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln", "i0", "log1p",
           "log_ndtr", "log_softmax", "logit", "logsumexp", "ndtr", "ndtri", "polygamma", "psi", "round", "sinc",
           "softmax", "xlogy"]


def _as_function(op: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    method = _float_unary(op)

    def function(input: Tensor) -> Tensor:  # noqa: A002 - torch's name
        return method(input if isinstance(input, Tensor) else Tensor(input))
    function.__name__ = function.__qualname__ = op.__name__
    function.__doc__ = op.__doc__
    return function


ndtr = _as_function(unary.ndtr)
ndtri = _as_function(unary.ndtri)
log_ndtr = _as_function(unary.log_ndtr)
entr = _as_function(unary.entr)
expit = FUNCTIONS["sigmoid"]
gammaln = FUNCTIONS["lgamma"]
psi = digamma = FUNCTIONS["digamma"]
polygamma, xlogy, i0, sinc = FUNCTIONS["polygamma"], FUNCTIONS["xlogy"], FUNCTIONS["i0"], FUNCTIONS["sinc"]
erf, erfc, erfinv, logit = FUNCTIONS["erf"], FUNCTIONS["erfc"], FUNCTIONS["erfinv"], FUNCTIONS["logit"]
exp2, expm1, log1p = FUNCTIONS["exp2"], FUNCTIONS["expm1"], FUNCTIONS["log1p"]
softmax, log_softmax, logsumexp = FUNCTIONS["softmax"], FUNCTIONS["log_softmax"], FUNCTIONS["logsumexp"]
round = FUNCTIONS["round"]  # noqa: A001 - torch.special's name
