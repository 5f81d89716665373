"""``torch.quasirandom``: ``SobolEngine``, Sobol' low-discrepancy sequences (scipy's generator, with the same
Joe-Kuo direction numbers as torch's: unscrambled points equal torch's). Scrambled points are a valid scrambled
Sobol' sequence too, from scipy's scrambling seeded by ``seed``: not torch's numbers for the same seed."""

from __future__ import annotations

import warnings
from typing import Any

import numpy

from .tensor import Tensor

__all__ = ["SobolEngine"]


class SobolEngine:
    """``SobolEngine(dimension, scramble=False, seed=None)``: ``draw(n)`` the next ``n`` points of the sequence as
    an (n, dimension) tensor (float32 unless ``dtype``), ``draw_base2(m)`` the next 2**m, ``fast_forward(n)``
    skips ``n``, ``reset()`` starts over; ``num_generated`` counts the points drawn."""

    MAXBIT = 30
    MAXDIM = 21201

    def __init__(self, dimension: int, scramble: bool = False, seed: int | None = None) -> None:
        if not 0 < dimension <= self.MAXDIM:
            raise ValueError(f"SobolEngine: dimension must be in [1, {self.MAXDIM}], got {dimension}")
        from scipy.stats import qmc

        self.dimension, self.scramble, self.seed = dimension, scramble, seed
        self._engine = qmc.Sobol(dimension, scramble=scramble, seed=seed)
        self.num_generated = 0

    def draw(self, n: int = 1, out: Tensor | None = None, dtype: Any = None) -> Tensor:
        """The next ``n`` points, shape (n, dimension); written into ``out`` when given."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (scipy's note on n not a power of 2: torch's draw does not warn)
            points = self._engine.random(n)
        self.num_generated += n
        result = Tensor(points.astype(numpy.float32 if dtype is None else dtype))
        if out is not None:
            out.resize_as_(result).copy_(result)
            return out
        return result

    def draw_base2(self, m: int, out: Tensor | None = None, dtype: Any = None) -> Tensor:
        """The next ``2**m`` points; ValueError when the total drawn would not stay a power of 2, as torch's."""
        n = 2 ** m
        total = self.num_generated + n
        if total & (total - 1):
            raise ValueError(f"draw_base2: {self.num_generated} points drawn so far + 2**{m} = {total} is not a "
                             "power of 2, which Sobol' balance needs; use draw(n) for any count")
        return self.draw(n, out, dtype)

    def reset(self) -> SobolEngine:
        self._engine.reset()
        self.num_generated = 0
        return self

    def fast_forward(self, n: int) -> SobolEngine:
        if n > 0:  # (scipy's fast_forward(0) overflows)
            self._engine.fast_forward(n)
            self.num_generated += n
        return self

    def __repr__(self) -> str:
        return f"SobolEngine(dimension={self.dimension}, scramble={self.scramble}, seed={self.seed})"
