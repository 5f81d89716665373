"""Optimizers: Adam and AdaMax (Kingma & Ba 2015), NAdam, RAdam, the paper's baselines, Rprop, ASGD, Adafactor,
Muon, L-BFGS, temporal averaging, schedules.

    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss.backward(); opt.step(); opt.zero_grad()

Every optimizer has a readable reference update and fused fast paths (numpy, numba, cupy); ``impl=``
chooses (default "auto": the fastest available), see :class:`Optimizer` (Adafactor, whose step needs whole-tensor
reductions, and Muon, whose step is matrix products, run their readable updates on every path). ``optim.swa_utils``
(torch's SWA / EMA of a whole model) loads on first use: it imports nn, which the rest of optim never does.
"""

import sys
from importlib import import_module
from typing import Any

from ..gradclip import clip_grad_norm_
from . import lr_scheduler
from .adadelta import Adadelta, adadelta_reference
from .adafactor import Adafactor, adafactor_reference
from .adagrad import Adagrad, adagrad_reference
from .adam import Adam, AdamW, adam_reference
from .adamax import Adamax, adamax_reference
from .asgd import ASGD, asgd_reference
from .averaging import TemporalAverage
from .fused import FusedKernel, numba_available
from .inspector import Inspector
from .lbfgs import LBFGS
from .muon import Muon, muon_reference
from .nadam import NAdam, nadam_reference
from .optimizer import Optimizer
from .radam import RAdam, radam_reference
from .rmsprop import RMSprop, rmsprop_reference
from .rprop import Rprop, rprop_reference
from .sgd import SGD, sgd_reference
from .sparse_adam import SparseAdam, sparse_adam_reference

sys.modules[f"{__name__}.adamw"] = sys.modules[AdamW.__module__]  # torch's module path of AdamW (``optim.adamw``)

__all__ = [
    "ASGD", "LBFGS", "SGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "FusedKernel", "Inspector",
    "Muon", "NAdam", "Optimizer",
    "RAdam", "RMSprop", "Rprop", "SparseAdam", "TemporalAverage",
    "adadelta_reference", "adafactor_reference", "adagrad_reference", "adam_reference", "adamax_reference",
    "asgd_reference", "clip_grad_norm_", "lr_scheduler", "muon_reference", "nadam_reference", "numba_available",
    "radam_reference", "rmsprop_reference", "rprop_reference", "sgd_reference", "sparse_adam_reference",
]


def __getattr__(name: str) -> Any:
    """``optim.swa_utils`` on first use (``from tinygrad_adam.optim.swa_utils import ...`` works as well)."""
    if name == "swa_utils":
        return import_module(".swa_utils", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
