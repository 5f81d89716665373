"""``ArrayLoader``: minibatches of numpy arrays, in an order that is a pure function of (seed, epoch).

The paper's experiments (``train.py``) use it: runs resume exactly and IMDB batches can stay sparse. Programs
written for torch use ``DataLoader`` (``dataloader.py``) over a ``Dataset`` instead.

Epoch k's order is ``numpy.random.default_rng([seed, k]).permutation(N)``, so a run resumed at epoch k (or at
batch b of it, via ``set_epoch(k, start_batch=b)``) sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .sparse import CSRMatrix
from .split import Split

Batch = tuple[Any, ...]


class ArrayLoader:
    """Iterate ``(x_batch, y_batch, ...)`` tuples over arrays that share their first dimension N.

    arrays: a tuple of numpy arrays and/or CSRMatrix (a ``Split`` works), each with N rows. A batch holds the
    same rows of each array: numpy arrays keep their dtype; a CSRMatrix becomes a dense float32 (B, F) array,
    or stays a CSRMatrix with ``sparse=True``. ``len(loader)`` is the number of batches per epoch; the last
    one is smaller unless ``drop_last``. Each ``iter(loader)`` runs epoch ``loader.epoch`` (0 at first) and moves
    ``loader.epoch`` on by one; ``set_epoch`` jumps (a training loop resuming from a checkpoint).
    seed: int >= 0; None draws one at random (read it back from ``loader.seed`` to reproduce the run).
    """

    def __init__(self, arrays: Sequence[np.ndarray | CSRMatrix], batch_size: int = 128, shuffle: bool = True,
                 drop_last: bool = False, seed: int | None = None, sparse: bool = False) -> None:
        if isinstance(arrays, Split):
            arrays = (arrays.x, arrays.y)
        if not isinstance(arrays, tuple | list) or not arrays:
            raise TypeError(f"ArrayLoader needs a non-empty tuple of arrays such as (x, y), got "
                            f"{type(arrays).__name__}")
        for i, a in enumerate(arrays):
            if not (isinstance(a, CSRMatrix) or (isinstance(a, np.ndarray) and a.ndim > 0)):
                raise TypeError(f"ArrayLoader: arrays[{i}] must be a numpy array with a first dimension or a "
                                f"CSRMatrix, got {type(a).__name__}")
            if len(a) != len(arrays[0]):
                raise ValueError(f"ArrayLoader: arrays[0] has {len(arrays[0])} rows but arrays[{i}] has {len(a)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size <= 0:
            raise ValueError(f"ArrayLoader: batch_size must be a positive integer, got {batch_size!r}")
        if seed is None:
            seed = int(np.random.SeedSequence().entropy)
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"ArrayLoader: seed takes None or an int of 0 or more, not {seed!r}")
        self.arrays, self.batch_size, self.shuffle, self.drop_last = tuple(arrays), int(batch_size), shuffle, drop_last
        self.seed, self.sparse, self.num_rows = int(seed), sparse, len(arrays[0])
        if len(self) == 0:
            raise ValueError(f"ArrayLoader: {self.num_rows} rows give no batch of {self.batch_size}"
                             + (" with drop_last=True" if drop_last else ""))
        self.epoch, self.start_batch = 0, 0

    def __len__(self) -> int:
        full, rest = divmod(self.num_rows, self.batch_size)
        return full + (rest > 0 and not self.drop_last)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Make the next ``iter(loader)`` yield epoch ``epoch``'s batches from batch ``start_batch`` on (resume)."""
        if epoch < 0 or not 0 <= start_batch <= len(self):
            raise ValueError(f"ArrayLoader.set_epoch: need epoch >= 0 and 0 <= start_batch <= {len(self)}, "
                             f"got epoch={epoch}, start_batch={start_batch}")
        self.epoch, self.start_batch = int(epoch), int(start_batch)

    def order(self, epoch: int) -> np.ndarray:
        """The (N,) row order of epoch ``epoch``: a permutation fixed by (seed, epoch), or 0..N-1 unshuffled."""
        if not self.shuffle:
            return np.arange(self.num_rows)
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_rows)

    def __iter__(self) -> Iterator[Batch]:
        order, start = self.order(self.epoch), self.start_batch
        self.epoch, self.start_batch = self.epoch + 1, 0
        return (self.batch(order[b * self.batch_size:(b + 1) * self.batch_size]) for b in range(start, len(self)))

    def batch(self, rows: np.ndarray) -> Batch:
        """The given rows of every array, as yielded by iteration."""
        return tuple(a[rows] if isinstance(a, np.ndarray) or self.sparse else a[rows].toarray(np.float32)
                     for a in self.arrays)
