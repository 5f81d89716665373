"""Optimizers: Adam and AdaMax (Kingma & Ba 2015), NAdam, RAdam, the paper's baselines, L-BFGS, temporal averaging,
schedules.

    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss.backward(); opt.step(); opt.zero_grad()

Every optimizer has a readable reference update and fused fast paths (numpy, numba, cupy); ``impl=``
chooses (default "auto": the fastest available), see :class:`Optimizer`. ``optim.swa_utils`` (torch's SWA / EMA
of a whole model) loads on first use: it imports nn, which the rest of optim never does.
"""

from importlib import import_module
from typing import Any

from ..gradclip import clip_grad_norm_
from . import lr_scheduler
from .adadelta import Adadelta, adadelta_reference
from .adagrad import Adagrad, adagrad_reference
from .adam import Adam, AdamW, adam_reference
from .adamax import Adamax, adamax_reference
from .averaging import TemporalAverage
from .fused import FusedKernel, numba_available
from .inspector import Inspector
from .lbfgs import LBFGS
from .nadam import NAdam, nadam_reference
from .optimizer import Optimizer
from .radam import RAdam, radam_reference
from .rmsprop import RMSprop, rmsprop_reference
from .sgd import SGD, sgd_reference

__all__ = [
    "LBFGS", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "FusedKernel", "Inspector", "NAdam", "Optimizer",
    "RAdam", "RMSprop", "TemporalAverage",
    "adadelta_reference", "adagrad_reference", "adam_reference", "adamax_reference", "clip_grad_norm_", "lr_scheduler",
    "nadam_reference", "numba_available", "radam_reference", "rmsprop_reference", "sgd_reference",
]


def __getattr__(name: str) -> Any:
    """``optim.swa_utils`` on first use (``from tinygrad_adam.optim.swa_utils import ...`` works as well)."""
    if name == "swa_utils":
        return import_module(".swa_utils", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
