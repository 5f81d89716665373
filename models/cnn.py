"""Convolutional network (Kingma & Ba 2015, section 6.3): c64-c64-c128-1000.

Three stages of 5x5 convolution (padding 2) + ReLU + 3x3 max pooling with stride 2 (padding 1,
so 28 -> 14 -> 7 -> 4 and 32 -> 16 -> 8 -> 4), then a ReLU layer of ``fc`` units and the classifier.
The paper uses dropout on the input and on the fully connected layer; the rates are arguments
(0 turns a dropout off). Channel counts are arguments too, so a small network runs fast on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

from tinygrad_adam import Tensor, nn


def pooled_size(size: int, stages: int) -> int:
    """Spatial size after ``stages`` of 3x3 / stride 2 / padding 1 pooling (5x5 padded convs keep it)."""
    for _ in range(stages):
        size = (size - 1) // 2 + 1
    return size


class CNN(nn.Module):
    """Images (N, in_channels, image_size, image_size) -> logits (N, num_classes)."""

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (64, 64, 128), fc: int = 1000,
                 num_classes: int = 10, image_size: int = 28, input_dropout: float = 0.2,
                 dropout: float = 0.5) -> None:
        self.in_channels, self.image_size = in_channels, image_size
        layers: list[nn.Module] = [nn.Dropout(input_dropout)] if input_dropout else []
        width = in_channels
        for c in channels:
            layers += [nn.Conv2d(width, c, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1)]
            width = c
        side = pooled_size(image_size, len(channels))
        layers += [nn.Flatten(), nn.Linear(width * side * side, fc), nn.ReLU()]
        layers += [nn.Dropout(dropout)] if dropout else []
        layers.append(nn.Linear(fc, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or x.shape[1:] != expected:
            raise ValueError(f"CNN expects images of shape (N, {', '.join(map(str, expected))}), got {x.shape}")
        return self.net(x)
