"""MNIST (LeCun, Cortes & Burges): 60,000 training and 10,000 test 28x28 grey digits in gzipped IDX files.

IDX format: a 4-byte magic (0x0803 images, 0x0801 labels), one big-endian uint32 per dimension, then uint8
values in row-major order. Files are verified by the published MD5 of their decompressed content.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..tensor import Tensor
from . import cache
from .dataset import Dataset
from .download import fetch
from .files import Checksum, read_gzip_verified
from .paths import DatasetFiles, locate
from .split import Split

MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")

CHECKSUMS = {  # of the decompressed IDX files
    "train-images-idx3-ubyte.gz": Checksum(47_040_016, "md5", "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte.gz": Checksum(60_008, "md5", "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte.gz": Checksum(7_840_016, "md5", "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte.gz": Checksum(10_008, "md5", "27ae3e4e09519cfbb04c329615203637"),
}


def fetch_mnist(folder: Path, mirrors: Sequence[str] = ()) -> None:
    """Download the missing MNIST files into ``folder`` from the first source that serves a verified copy:
    ``mirrors`` (base URLs of data directories: ``<mirror>/mnist/<file>``), then the public MIRRORS."""
    for name, expected in CHECKSUMS.items():
        if not (folder / name).is_file():
            urls = [f"{m}/mnist/{name}" for m in mirrors] + [m + name for m in MIRRORS]
            fetch(urls, folder / name, lambda p, e=expected: read_gzip_verified(p, e))


def verify_mnist(folder: Path) -> None:
    """Raise DataCorruptError (or PermissionError) unless every MNIST file in ``folder`` has the expected content."""
    for name, expected in CHECKSUMS.items():
        read_gzip_verified(folder / name, expected)


FILES = DatasetFiles("mnist", tuple(CHECKSUMS), "load_mnist", MIRRORS[0], fetch_mnist, verify_mnist)


def parse_idx(content: bytes) -> np.ndarray:
    """The uint8 array stored in an IDX file's bytes, shaped by its header."""
    ndim = content[3]
    dims = [int.from_bytes(content[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(content, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(root: str | os.PathLike[str] | None = None, download: bool = False) -> tuple[Split, Split]:
    """The MNIST ``(train, test)`` splits; each is ``Split(x, y)``.

    x: (N, 1, 28, 28) float32 pixels in [0, 1] (ink = 1); y: (N,) int64 digits 0..9; N = 60,000 and 10,000.
    ``root``: a data directory holding ``mnist/`` (searched before ``$TINYGRAD_ADAM_DATA`` and
    ``~/.cache/tinygrad_adam``); ``download=True`` fetches missing files. The first load verifies and decodes the
    files (~1 s) and caches the decoded arrays, so later loads only read the cache.
    """
    arrays = mnist_arrays(root, download)
    return to_split(arrays["x_train"], arrays["y_train"]), to_split(arrays["x_test"], arrays["y_test"])


def mnist_arrays(root: str | os.PathLike[str] | None = None, download: bool = False) -> dict[str, np.ndarray]:
    """The raw uint8 arrays {x_train (60000, 28, 28), y_train, x_test, y_test}, verified and cached."""
    folder = locate(FILES, root, download)
    sources = [folder / name for name in CHECKSUMS]
    key = cache.source_key({"dataset": "mnist"}, sources)
    arrays = cache.load("mnist", key)
    if arrays is None:
        contents = [read_gzip_verified(p, CHECKSUMS[p.name]) for p in sources]  # a bad file: one line, no more
        print(f"tinygrad_adam: first load of MNIST: verified {folder}; decoding it (cached in {cache.cache_dir()} "
              f"for next time)", file=sys.stderr, flush=True)
        images_tr, labels_tr, images_te, labels_te = (parse_idx(c) for c in contents)
        arrays = {"x_train": images_tr, "y_train": labels_tr, "x_test": images_te, "y_test": labels_te}
        cache.save("mnist", key, arrays)
    return arrays


def to_split(images: np.ndarray, labels: np.ndarray) -> Split:
    """(N, 28, 28) uint8 images and (N,) uint8 labels as a Split of (N, 1, 28, 28) float32 in [0, 1] and int64."""
    x = images[:, None].astype(np.float32)
    x /= 255
    return Split(x, labels.astype(np.int64))


class MNIST(Dataset):
    """MNIST in torchvision's shape: ``MNIST(root, train=True, transform=None, target_transform=None,
    download=False)``; ``ds[i]`` is ``(image, label)`` with the image a (28, 28) uint8 array (what torchvision's PIL
    image holds; ``transforms.ToTensor()`` makes it a (1, 28, 28) float32 Tensor in [0, 1]) and the label an int.

    ``root`` is a data directory holding ``mnist/`` as for ``load_mnist`` (torchvision's is ``root/MNIST/raw``).
    ``.data`` (N, 28, 28) uint8 and ``.targets`` (N,) int64 are Tensors, as torchvision's.
    """

    classes: ClassVar[list[str]] = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
                                    "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root: str | os.PathLike[str] | None = None, train: bool = True,
                 transform: Callable[[Any], Any] | None = None, target_transform: Callable[[Any], Any] | None = None,
                 download: bool = False) -> None:
        arrays = mnist_arrays(root, download)
        part = "train" if train else "test"
        self.train, self.transform, self.target_transform = train, transform, target_transform
        self.data = Tensor(arrays[f"x_{part}"], device="cpu")
        self.targets = Tensor(arrays[f"y_{part}"].astype(np.int64), device="cpu")

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image, label = self.data._data[index], int(self.targets._data[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def __len__(self) -> int:
        return len(self.targets)

    def __repr__(self) -> str:
        return f"Dataset MNIST\n    Number of datapoints: {len(self)}\n    Split: {'Train' if self.train else 'Test'}"
