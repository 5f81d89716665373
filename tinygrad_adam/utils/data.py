"""``torch.utils.data``'s names at torch's path, so ``from torch.utils.data import DataLoader`` and
``torch.utils.data.DataLoader`` work after ``import tinygrad_adam as torch``; they live in ``tinygrad_adam.data``."""

from ..data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "default_collate", "random_split"]
