"""The part of torchvision this library has, at torchvision's paths, for ``tinygrad_adam.as_torch`` (which answers
``import torchvision...`` from here): ``datasets.MNIST`` and ``transforms`` (``Compose``, ``ToTensor``,
``Normalize``, ``Lambda``), both from ``tinygrad_adam.data``. Anything else of torchvision (``models``, ``utils``,
other datasets) is not here: importing it is a ModuleNotFoundError naming it."""

from __future__ import annotations

import sys
import types

from .data import transforms
from .data.mnist import MNIST

__all__ = ["datasets", "transforms"]
# a package with no folder: ``torchvision.models`` is then "no module named ...", not "not a package"
__path__: list[str] = []

datasets = types.ModuleType(f"{__name__}.datasets", "torchvision.datasets' datasets this library has: MNIST.")
datasets.MNIST = MNIST  # type: ignore[attr-defined]
datasets.__all__ = ["MNIST"]  # type: ignore[attr-defined]
sys.modules[datasets.__name__] = datasets
sys.modules[f"{__name__}.transforms"] = transforms
