"""Multinomial logistic regression (Kingma & Ba 2015, section 6.1): one linear map to class logits.

The paper trains it on MNIST's 784 pixels and on IMDB bag-of-words vectors (with 50% input
dropout, applied by the training script); the L2 penalty is part of the training objective.
"""

from __future__ import annotations

from typing import Any

from tinygrad_adam import Tensor, nn
from tinygrad_adam.nn import functional as F


class LogisticRegression(nn.Module):
    """x (N, in_features), or images (N, ...) flattened, -> class logits (N, num_classes).

    ``x`` may also be a sparse CSR batch (N, in_features), e.g. bag-of-words rows: only its stored entries
    are read (see ``nn.functional.linear``).
    """

    def __init__(self, in_features: int = 784, num_classes: int = 10) -> None:
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, x: Tensor | Any) -> Tensor:
        return self.linear(x if F.is_csr(x) else x.flatten(1))
