"""CIFAR-10 (Krizhevsky, 2009): 50,000 training and 10,000 test 32x32 colour images in 10 classes.

Read from the official *binary* release (no pickle): ``cifar10/cifar-10-binary.tar.gz`` (170,052,171 bytes,
MD5 c32a1d4ab5d03f1284b67883e8d87530, verified before use) holds ``cifar-10-batches-bin/data_batch_1.bin`` ..
``data_batch_5.bin`` and ``test_batch.bin``: records of 1 label byte (0..9) then 3072 pixel bytes, the 1024 red,
1024 green and 1024 blue values of the image's 32 rows in row-major order. The archive is read in place.

Section 6.3 of the paper trains its CNN on whitened images. We scale pixels to [0, 1] and apply ZCA whitening
fit on the training set only: with mean mu and covariance C = U diag(s) U^T of the training images (each a
3072-vector), x -> (x - mu) U diag(1 / sqrt(s + eps)) U^T. The paper does not give eps; ours is ZCA_EPSILON = 0.01
(on the [0, 1] scale), which leaves directions with variance well above 0.01 (the image structure) at unit variance
and damps the many near-zero-variance directions instead of amplifying their noise. ``zca_epsilon`` changes it.
The raw images and the fitted whitening are cached (like MNIST's arrays), so only the first load pays for the
checksum and the 3072x3072 eigendecomposition (a minute or so on a CPU).
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import cache
from .download import fetch
from .files import Checksum, DataCorruptError, file_hexdigest, read_verified, refetch
from .paths import DatasetFiles, locate
from .split import Split

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
ARCHIVE = "cifar-10-binary.tar.gz"
CHECKSUM = Checksum(170_052_171, "md5", "c32a1d4ab5d03f1284b67883e8d87530")  # of the archive file itself
TRAIN_MEMBERS = tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6))
TEST_MEMBER = "cifar-10-batches-bin/test_batch.bin"
RECORD = 1 + 3 * 32 * 32
ZCA_EPSILON = 0.01
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def check_archive(path: Path) -> None:
    """Raise DataCorruptError unless ``path`` is the official archive (size and MD5)."""
    size = path.stat().st_size
    if size != CHECKSUM.size:
        raise DataCorruptError(f"{path}: {size:,} bytes, expected {CHECKSUM.size:,}. " +
                               refetch(path))
    if (md5 := file_hexdigest(path, CHECKSUM.algorithm)) != CHECKSUM.hexdigest:
        raise DataCorruptError(f"{path}: md5 {md5}, expected {CHECKSUM.hexdigest}. " +
                               refetch(path))


def fetch_cifar10(folder: Path, mirrors: Sequence[str] = ()) -> None:
    """Download the binary release into ``folder`` from the first source that serves a verified copy: ``mirrors``
    (base URLs of data directories: ``<mirror>/cifar10/<archive>``), then the official URL."""
    fetch([f"{m}/cifar10/{ARCHIVE}" for m in mirrors] + [URL], folder / ARCHIVE, check_archive)


FILES = DatasetFiles("cifar10", (ARCHIVE,), "load_cifar10", URL, fetch_cifar10,
                     lambda folder: check_archive(folder / ARCHIVE))


def parse_batches(content: bytes, path: Path) -> dict[str, np.ndarray]:
    """uint8 images (N, 3, 32, 32) and labels (N,) of the training and test members of the archive's bytes."""
    arrays = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as tar:
            for split, members in (("train", TRAIN_MEMBERS), ("test", (TEST_MEMBER,))):
                records = []
                for name in members:
                    raw = tar.extractfile(name).read()
                    if len(raw) % RECORD:
                        raise DataCorruptError(f"{path}: {name} is {len(raw):,} bytes, not whole {RECORD}-byte records")
                    records.append(np.frombuffer(raw, np.uint8).reshape(-1, RECORD))
                table = np.concatenate(records)
                arrays[f"x_{split}"] = table[:, 1:].reshape(-1, 3, 32, 32)
                arrays[f"y_{split}"] = table[:, 0].copy()
    except (tarfile.TarError, KeyError, OSError, EOFError) as e:
        raise DataCorruptError(f"{path}: not the CIFAR-10 binary archive ({type(e).__name__}: {e}). " +
                               refetch(path)) from e
    for split in ("train", "test"):
        if arrays[f"y_{split}"].size and arrays[f"y_{split}"].max() >= len(CLASSES):
            raise DataCorruptError(f"{path}: a {split} label is {arrays[f'y_{split}'].max()}, outside 0..9")
    return arrays


def zca_fit(x: np.ndarray, epsilon: float = ZCA_EPSILON, scale: float = 1.0,
            chunk: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """ZCA whitening fit on ``scale * x`` (x: (N, D), any numeric dtype): the mean (D,) and the symmetric matrix
    W (D, D), float32, such that (scale * x - mean) @ W has covariance U diag(s / (s + epsilon)) U^T, where
    U diag(s) U^T is the (biased, 1/N) covariance: the identity when epsilon << every variance s.
    Accumulated in float64, ``chunk`` rows at a time. With fewer examples than dimensions (small or synthetic
    sets) the same W comes from the N x N Gram matrix, the covariance's null space getting 1 / sqrt(epsilon)."""
    n, d = x.shape
    if not epsilon >= 0 or (n <= d and epsilon == 0):
        raise ValueError(f"zca_epsilon must be >= 0 (> 0 with fewer examples than dimensions), got {epsilon}")
    if n < 2:
        raise ValueError(f"ZCA whitening needs at least 2 examples, got {n}")
    mean = np.zeros(d)
    for i in range(0, n, chunk):
        mean += x[i:i + chunk].sum(axis=0, dtype=np.float64) * scale
    mean /= n
    if n <= d:
        centred = x.astype(np.float64) * scale - mean
        s, q = np.linalg.eigh(centred @ centred.T / n)
        keep = s > s.max() * 1e-12
        u = centred.T @ (q[:, keep] / np.sqrt(n * s[keep]))  # the covariance's eigenvectors with s > 0
        w = (u / np.sqrt(s[keep] + epsilon)) @ u.T + (np.eye(d) - u @ u.T) / np.sqrt(epsilon)
        return mean.astype(np.float32), w.astype(np.float32)
    cov = np.zeros((d, d))
    for i in range(0, n, chunk):
        centred = x[i:i + chunk].astype(np.float64) * scale - mean
        cov += centred.T @ centred
    s, u = np.linalg.eigh(cov / n)
    w = (u / np.sqrt(np.maximum(s, 0) + epsilon)) @ u.T
    return mean.astype(np.float32), w.astype(np.float32)


def zca_apply(x: np.ndarray, mean: np.ndarray, w: np.ndarray, scale: float = 1.0, chunk: int = 5000) -> np.ndarray:
    """(scale * x - mean) @ w as float32 (x: (N, D), any numeric dtype), ``chunk`` rows at a time."""
    out = np.empty(x.shape, dtype=np.float32)
    for i in range(0, len(x), chunk):
        out[i:i + chunk] = (x[i:i + chunk].astype(np.float32) * np.float32(scale) - mean) @ w
    return out


def load_cifar10(root: str | os.PathLike[str] | None = None, download: bool = False, whiten: bool = True,
                 zca_epsilon: float = ZCA_EPSILON) -> tuple[Split, Split]:
    """The CIFAR-10 ``(train, test)`` splits; each is ``Split(x, y)``.

    x: (N, 3, 32, 32) float32, pixels in [0, 1] ZCA-whitened with the training set's statistics (``whiten=False``:
    the [0, 1] pixels); y: (N,) int64 classes 0..9 (``CLASSES``); N = 50,000 and 10,000. ``root`` and ``download``
    as in ``load_mnist``.
    """
    path = locate(FILES, root, download) / ARCHIVE
    key = cache.source_key({"dataset": "cifar10", "zca_epsilon": float(zca_epsilon)}, [path])
    arrays = cache.load("cifar10", key)
    if arrays is None:
        content = read_verified(path, CHECKSUM)  # before saying anything: a bad file is one line
        arrays = parse_batches(content, path)
        print(f"tinygrad_adam: first load of CIFAR-10: verified {path}; fitting the ZCA whitening (a minute or "
              f"so; cached in {cache.cache_dir()} for next time)", file=sys.stderr, flush=True)
        flat = arrays["x_train"].reshape(len(arrays["x_train"]), -1)
        arrays["zca_mean"], arrays["zca_w"] = zca_fit(flat, zca_epsilon, scale=1 / 255)
        cache.save("cifar10", key, arrays)

    def split(name: str) -> Split:
        images = arrays[f"x_{name}"]
        flat = images.reshape(len(images), -1)
        x = zca_apply(flat, arrays["zca_mean"], arrays["zca_w"], 1 / 255) if whiten else flat.astype(np.float32) / 255
        return Split(x.reshape(images.shape), arrays[f"y_{name}"].astype(np.int64))
    return split("train"), split("test")
