"""Multinomial logistic regression (Kingma & Ba 2015, section 6.1): one linear map to class logits.

The paper trains it on MNIST's 784 pixels and on IMDB bag-of-words vectors (with 50% input
dropout, applied by the training script); the L2 penalty is part of the training objective.
"""

from __future__ import annotations

from tinygrad_adam import Tensor, nn


class LogisticRegression(nn.Module):
    """x (N, in_features), or images (N, ...) flattened, -> class logits (N, num_classes)."""

    def __init__(self, in_features: int = 784, num_classes: int = 10) -> None:
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.flatten(1))
