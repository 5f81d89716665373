"""``tinygrad_adam.distributions``, a core of ``torch.distributions``: ``Normal``, ``Bernoulli``, ``Categorical``,
``Uniform``, ``Independent``, ``Exponential``, ``Laplace``, ``Poisson``, ``Geometric``, ``Binomial``,
``OneHotCategorical``, ``Gamma``, ``Chi2``, ``Beta``, ``Dirichlet``, ``StudentT``, ``TransformedDistribution`` (with
``transforms``), ``LogNormal``, ``MultivariateNormal``, ``Cauchy``, ``HalfNormal``, ``HalfCauchy``, ``Gumbel``,
``Weibull``, ``Pareto``, ``NegativeBinomial``, ``Multinomial``, ``MixtureSameFamily``, ``RelaxedBernoulli`` and
``RelaxedOneHotCategorical`` (their logit / log bases in ``relaxed``), ``LogisticNormal`` on the ``Distribution``
base, and ``kl_divergence`` / ``register_kl``.

Parameters broadcast as torch's (Python numbers accepted); everything is built from the library's differentiable
ops, so ``Normal(mu, std).rsample()`` and ``kl_divergence(q, Normal(0, 1))`` carry gradients back to ``mu`` and
``std`` (a VAE's reparameterisation). Samples come from the library's seeded streams (``manual_seed``), so they
differ from torch's numbers for the same seed. Validation is on by default, as in torch: invalid parameters and
values outside the support raise ValueError (``validate_args=False`` or
``Distribution.set_default_validate_args(False)`` turns it off).
"""

from . import constraint_registry, constraints, transforms
from .bernoulli import Bernoulli
from .beta import Beta
from .binomial import Binomial
from .categorical import Categorical
from .cauchy import Cauchy
from .constraint_registry import biject_to, transform_to
from .continuous_bernoulli import ContinuousBernoulli
from .dirichlet import Dirichlet
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .exponential import Exponential
from .fishersnedecor import FisherSnedecor
from .gamma import Chi2, Gamma
from .generalized_pareto import GeneralizedPareto
from .geometric import Geometric
from .gumbel import Gumbel, Pareto, Weibull
from .half_normal import HalfCauchy, HalfNormal, LogisticNormal
from .independent import Independent
from .inverse_gamma import InverseGamma
from .kl import kl_divergence, register_kl
from .kumaraswamy import Kumaraswamy
from .laplace import Laplace
from .lkj_cholesky import LKJCholesky
from .lowrank_multivariate_normal import LowRankMultivariateNormal
from .mixture_same_family import MixtureSameFamily
from .multinomial import Multinomial
from .multivariate_normal import MultivariateNormal
from .negative_binomial import NegativeBinomial
from .normal import Normal
from .one_hot_categorical import OneHotCategorical, OneHotCategoricalStraightThrough
from .poisson import Poisson
from .relaxed import RelaxedBernoulli, RelaxedOneHotCategorical
from .student_t import StudentT
from .transformed_distribution import LogNormal, TransformedDistribution
from .transforms import (
    AbsTransform,
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CorrCholeskyTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StackTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    identity_transform,
)
from .uniform import Uniform
from .von_mises import VonMises
from .wishart import Wishart

__all__ = ["AbsTransform", "AffineTransform", "Bernoulli", "Beta", "Binomial", "Categorical", "Cauchy", "Chi2",
           "ComposeTransform", "Dirichlet", "Distribution", "ExpTransform", "Exponential", "Gamma", "Geometric",
           "Gumbel", "HalfCauchy", "HalfNormal", "Independent", "Laplace", "LogNormal", "LogisticNormal",
           "MixtureSameFamily", "Multinomial", "MultivariateNormal", "NegativeBinomial", "Normal",
           "OneHotCategorical", "Pareto", "Poisson", "PowerTransform", "RelaxedBernoulli", "RelaxedOneHotCategorical",
           "SigmoidTransform", "StickBreakingTransform", "StudentT", "TanhTransform", "Transform",
           "TransformedDistribution", "Uniform", "Weibull", "constraints", "kl_divergence", "register_kl",
           "transforms"]
__all__ += ["CatTransform", "CorrCholeskyTransform", "CumulativeDistributionTransform", "IndependentTransform",
            "LowerCholeskyTransform", "PositiveDefiniteTransform", "ReshapeTransform", "SoftmaxTransform",
            "SoftplusTransform", "StackTransform", "biject_to", "constraint_registry", "identity_transform",
            "transform_to"]
__all__ += ["ContinuousBernoulli", "ExponentialFamily", "FisherSnedecor", "GeneralizedPareto", "InverseGamma",
            "Kumaraswamy", "LKJCholesky", "LowRankMultivariateNormal", "OneHotCategoricalStraightThrough", "VonMises"]
__all__ += ["Wishart"]
