"""The four models of Kingma & Ba (2015), section 6, built only from ``tinygrad_adam.nn``."""

from .cnn import CNN
from .logistic import LogisticRegression
from .mlp import MLP
from .vae import VAE

__all__ = ["CNN", "MLP", "VAE", "LogisticRegression"]
