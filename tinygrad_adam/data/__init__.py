"""Datasets and minibatches (numpy only; nothing here imports the tensor, nn or optim layers).

    from tinygrad_adam.data import DataLoader, load_mnist
    train, test = load_mnist()                      # Split(x (60000, 1, 28, 28) float32, y (60000,) int64), ...
    for x, y in DataLoader(train, batch_size=128, seed=0):
        ...

``load_cifar10()`` reads the official binary CIFAR-10 release and ZCA-whitens it (section 6.3).
Files are searched in ``root``, ``$TINYGRAD_ADAM_DATA``, then ``~/.cache/tinygrad_adam`` (see ``paths``).
"""

from .cifar10 import load_cifar10
from .download import DownloadError
from .fetch import DATASETS, fetch_dataset
from .files import DataCorruptError
from .imdb import load_imdb, load_imdb_vocabulary, tokenize
from .loader import DataLoader
from .mnist import load_mnist
from .paths import DataNotFoundError, cache_dir, data_dirs
from .sparse import CSRMatrix
from .split import Split

__all__ = [
    "DATASETS", "CSRMatrix", "DataCorruptError", "DataLoader", "DataNotFoundError", "DownloadError", "Split",
    "cache_dir", "data_dirs", "fetch_dataset", "load_cifar10", "load_imdb", "load_imdb_vocabulary", "load_mnist",
    "tokenize",
]
