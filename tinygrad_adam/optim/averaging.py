"""Temporal averaging of the parameters (Kingma & Ba 2015, section 7.2), with bias correction."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy

from .. import backend
from ..tensor import Tensor, bump_version
from .fused import FusedKernel, check_impl, resolve_impl

EMA_KERNEL = FusedKernel("temporal_average", "theta_bar", "theta", "beta one_minus_beta",
                         "theta_bar = theta_bar * beta + theta * one_minus_beta")


class TemporalAverage:
    """An exponential moving average of the parameters: ``TemporalAverage(params, beta=0.999)``.

    Call :meth:`update` after each optimizer step: theta_bar_t = beta theta_bar_{t-1} + (1 - beta) theta_t
    with theta_bar_0 = 0. :meth:`averages` are the bias-corrected estimates theta_bar_t / (1 - beta^t), and
    ``with avg.swapped():`` evaluates the model with them in place of the parameters.
    """

    def __init__(self, params: Iterable[Tensor], beta: float = 0.999, *, impl: str = "auto") -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("TemporalAverage got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or p.dtype.kind != "f":
                raise TypeError(f"parameter {i} is not a floating-point Tensor: {p!r:.80}")
        if not 0 <= beta < 1:
            raise ValueError(f"invalid beta={beta!r}: must be in [0, 1)")
        self.beta = float(beta)
        self.impl = check_impl(impl)
        self.t = 0
        self.theta_bar = [p.xp.zeros_like(p._data) for p in self.params]
        self._scratch: dict[Any, list[numpy.ndarray]] = {}

    def update(self) -> None:
        """Fold the current parameter values into the average (one step)."""
        self.t += 1
        together: dict[str, list[dict[str, Any]]] = {}  # the fast paths: one call for all (on a GPU, one launch)
        for p, bar in zip(self.params, self.theta_bar):
            impl = resolve_impl(self.impl, p.device)
            if impl == "reference":
                bar[...] = self.beta * bar + (1 - self.beta) * p._data  # theta_bar_t = beta theta_bar + (1-beta) theta
            else:
                together.setdefault(impl, []).append({"theta_bar": bar, "theta": p._data})
        for impl, tensors in together.items():
            EMA_KERNEL.run_many(impl, tensors, {"beta": self.beta, "one_minus_beta": 1 - self.beta}, self._scratch)

    def averages(self) -> list[Tensor]:
        """The bias-corrected averages theta_bar_t / (1 - beta^t), one Tensor per parameter, in order."""
        if self.t == 0:
            raise RuntimeError("TemporalAverage.averages() before any update(): there is nothing to average yet")
        correction = 1 - self.beta**self.t
        return [Tensor(bar / correction, device=p.device) for p, bar in zip(self.params, self.theta_bar)]

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        """Put the averages into the parameters for the duration of the block, then restore them."""
        saved = [p._data.copy() for p in self.params]
        for p, avg in zip(self.params, self.averages()):
            p._data[...] = avg._data
            bump_version(p)  # (graphs recorded before the swap, or inside it, raise at backward after it)
        try:
            yield
        finally:
            for p, old in zip(self.params, saved):
                p._data[...] = old
                bump_version(p)

    def state_dict(self) -> dict[str, Any]:
        """A copy of the average: ``{"beta": float, "t": int, "theta_bar": [arrays in parameter order]}``."""
        return {"beta": self.beta, "t": self.t, "theta_bar": [bar.copy() for bar in self.theta_bar]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        bars = state["theta_bar"]
        if len(bars) != len(self.params):
            raise ValueError(f"the state_dict averages {len(bars)} parameters, this TemporalAverage has "
                             f"{len(self.params)}")
        for i, (p, bar) in enumerate(zip(self.params, bars)):
            if tuple(bar.shape) != p.shape:
                raise ValueError(f"average {i} has shape {tuple(bar.shape)}, but its parameter has shape {p.shape}")
        beta, t = state["beta"], state["t"]
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < 1:
            raise ValueError(f"invalid beta={beta!r}: must be in [0, 1)")
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise ValueError(f"invalid t={t!r}: must be an integer >= 0")
        self.beta, self.t = float(beta), t
        self.theta_bar = [p.xp.array(backend.to_device(bar, p.device), dtype=p.dtype)
                          for p, bar in zip(self.params, bars)]
