"""Datasets and minibatches.

Two ways in. As in torch (``Dataset``, ``DataLoader`` yielding Tensors, torchvision's ``MNIST`` and ``transforms``):

    from tinygrad_adam.data import DataLoader, MNIST, transforms
    train = MNIST(train=True, transform=transforms.ToTensor())
    for x, y in DataLoader(train, batch_size=64, shuffle=True):    # x (64, 1, 28, 28) float32, y (64,) int64
        ...

and the array loaders of the paper's experiments (numpy out, resumable order):

    train, test = load_mnist()                      # Split(x (60000, 1, 28, 28) float32, y (60000,) int64), ...
    for x, y in ArrayLoader(train, batch_size=128, seed=0):
        ...

``load_cifar10()`` reads the official binary CIFAR-10 release and ZCA-whitens it (section 6.3).
Files are searched in ``root``, ``$TINYGRAD_ADAM_DATA``, then ``~/.cache/tinygrad_adam`` (see ``paths``).
"""

from . import transforms
from .cifar10 import load_cifar10
from .dataloader import DataLoader, default_collate, default_convert
from .dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    get_worker_info,
    random_split,
)
from .download import DownloadError
from .fetch import DATASETS, fetch_dataset
from .files import DataCorruptError
from .imdb import load_imdb, load_imdb_vocabulary, tokenize
from .loader import ArrayLoader
from .mnist import MNIST, load_mnist
from .paths import DataNotFoundError, cache_dir, data_dirs
from .shakespeare import load_tinyshakespeare
from .sparse import CSRMatrix
from .split import Split

__all__ = [
    "DATASETS", "MNIST", "ArrayLoader", "CSRMatrix", "ChainDataset", "ConcatDataset", "DataCorruptError",
    "DataLoader", "DataNotFoundError", "Dataset", "DownloadError", "IterableDataset", "Split", "StackDataset", "Subset",
    "TensorDataset", "cache_dir", "data_dirs", "default_collate", "default_convert", "fetch_dataset", "get_worker_info",
    "load_cifar10", "load_imdb", "load_imdb_vocabulary", "load_mnist", "load_tinyshakespeare", "random_split",
    "tokenize", "transforms",
]
