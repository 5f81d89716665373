"""Multi-layer perceptron (Kingma & Ba 2015, section 6.2): 784-1000-1000-10 with ReLU and dropout."""

from __future__ import annotations

from collections.abc import Sequence

from tinygrad_adam import Tensor, nn


class MLP(nn.Module):
    """x (N, in_features), or images flattened, -> logits (N, num_classes).

    Each hidden layer is Linear -> ReLU -> Dropout(``dropout``); ``dropout=0`` leaves dropout out.
    """

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (1000, 1000), num_classes: int = 10,
                 dropout: float = 0.5) -> None:
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))
