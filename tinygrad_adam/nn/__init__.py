"""Neural-network building blocks: ``Module`` and ``Parameter``, layers, ``functional`` (F) and ``init``.

    from tinygrad_adam import nn
    import tinygrad_adam.nn.functional as F
    model = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
    loss = F.cross_entropy(model(x), y)
"""

from . import functional, init
from .layers import Conv2d, Dropout, Flatten, Identity, Linear, MaxPool2d, ReLU, Sigmoid, Softplus, Tanh
from .module import Module, Parameter, Sequential

__all__ = [
    "Conv2d", "Dropout", "Flatten", "Identity", "Linear", "MaxPool2d", "Module", "Parameter", "ReLU", "Sequential",
    "Sigmoid", "Softplus", "Tanh", "functional", "init",
]
