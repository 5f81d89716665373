"""``tinygrad_adam.distributions``, a core of ``torch.distributions``: ``Normal``, ``Bernoulli``, ``Categorical``,
``Uniform``, ``Independent`` on the ``Distribution`` base, and ``kl_divergence`` / ``register_kl``.

Parameters broadcast as torch's (Python numbers accepted); everything is built from the library's differentiable
ops, so ``Normal(mu, std).rsample()`` and ``kl_divergence(q, Normal(0, 1))`` carry gradients back to ``mu`` and
``std`` (a VAE's reparameterisation). Samples come from the library's seeded streams (``manual_seed``), so they
differ from torch's numbers for the same seed. Validation is on by default, as in torch: invalid parameters and
values outside the support raise ValueError (``validate_args=False`` or
``Distribution.set_default_validate_args(False)`` turns it off).
"""

from . import constraints
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .independent import Independent
from .kl import kl_divergence, register_kl
from .normal import Normal
from .uniform import Uniform

__all__ = ["Bernoulli", "Categorical", "Distribution", "Independent", "Normal", "Uniform", "constraints",
           "kl_divergence", "register_kl"]
