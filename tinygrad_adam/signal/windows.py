"""``torch.signal.windows``: window functions of length ``M`` (``sym=True``: symmetric, for filter design;
``sym=False``: periodic, for spectral analysis), as float32 tensors unless ``dtype`` (float32 / float64 only, as
torch). Computed with scipy's ``signal.windows`` (the same definitions) in float64, then cast."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy

from ..creation import tensor
from ..layouts import strided
from ..tensor import Tensor

__all__ = ["bartlett", "blackman", "cosine", "exponential", "gaussian", "general_cosine", "general_hamming",
           "hamming", "hann", "kaiser", "nuttall"]


def _window(name: str, M: int, make: Any, dtype: Any, layout: Any, device: Any, requires_grad: bool) -> Tensor:
    """Check ``M``, ``dtype`` and ``layout`` as torch does (ValueError), then the window ``make()`` gives, as a
    tensor."""
    if M < 0:
        raise ValueError(f"{name}: the window length M must be >= 0, got {M}")
    if layout is not None and layout is not strided:
        raise ValueError(f"{name}: windows are dense tensors (layout=tinygrad_adam.strided), got layout={layout!r}")
    out_dtype = numpy.dtype(numpy.float32 if dtype is None else dtype)
    if out_dtype not in (numpy.float32, numpy.float64):
        raise ValueError(f"{name}: windows are float32 or float64, got {out_dtype}")
    values = numpy.zeros(0) if M == 0 else numpy.ones(1) if M == 1 else make()
    return tensor(numpy.asarray(values, dtype=numpy.float64).astype(out_dtype), device=device,
                  requires_grad=requires_grad)


def _scipy() -> Any:
    from scipy.signal import windows

    return windows


def general_cosine(M: int, *, a: Iterable[float], sym: bool = True, dtype: Any = None, layout: Any = None,
                   device: Any = None, requires_grad: bool = False) -> Tensor:
    """sum_k (-1)**k a[k] cos(2 pi k n / (M - 1)) (periodic: M in place of M - 1)."""
    coefficients = list(a)
    if not coefficients:
        raise ValueError("general_cosine: the coefficients a must not be empty (a[0] is the window's constant term)")
    return _window("general_cosine", M, lambda: _scipy().general_cosine(M, coefficients, sym=sym), dtype, layout,
                   device, requires_grad)


def general_hamming(M: int, *, alpha: float = 0.54, sym: bool = True, dtype: Any = None, layout: Any = None,
                    device: Any = None, requires_grad: bool = False) -> Tensor:
    """alpha - (1 - alpha) cos(2 pi n / (M - 1))."""
    return _window("general_hamming", M, lambda: _scipy().general_hamming(M, alpha, sym=sym), dtype, layout, device,
                   requires_grad)


def _named(name: str) -> Any:
    def window(M: int, *, sym: bool = True, dtype: Any = None, layout: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
        return _window(name, M, lambda: getattr(_scipy(), name)(M, sym=sym), dtype, layout, device, requires_grad)
    window.__name__ = window.__qualname__ = name
    window.__doc__ = f"The {name} window of length ``M``."
    return window


bartlett, blackman, cosine, hamming, hann, nuttall = (_named(n) for n in ("bartlett", "blackman", "cosine", "hamming",
                                                                          "hann", "nuttall"))


def exponential(M: int, *, center: float | None = None, tau: float = 1.0, sym: bool = True, dtype: Any = None,
                layout: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """exp(-|n - center| / tau); ``center`` only for a periodic window (ValueError otherwise, as torch)."""
    if sym and center is not None:
        raise ValueError("exponential: a symmetric window sets its own center; leave center=None or pass sym=False")
    if tau <= 0:
        raise ValueError(f"exponential: tau must be > 0, got {tau}")
    return _window("exponential", M, lambda: _scipy().exponential(M, center, tau, sym=sym), dtype, layout, device,
                   requires_grad)


def gaussian(M: int, *, std: float = 1.0, sym: bool = True, dtype: Any = None, layout: Any = None,
             device: Any = None, requires_grad: bool = False) -> Tensor:
    """exp(-(n - (M - 1) / 2)**2 / (2 std**2))."""
    if std <= 0:
        raise ValueError(f"gaussian: std must be > 0, got {std}")
    return _window("gaussian", M, lambda: _scipy().gaussian(M, std, sym=sym), dtype, layout, device, requires_grad)


def kaiser(M: int, *, beta: float = 12.0, sym: bool = True, dtype: Any = None, layout: Any = None,
           device: Any = None, requires_grad: bool = False) -> Tensor:
    """I0(beta sqrt(1 - (2 n / (M - 1) - 1)**2)) / I0(beta)."""
    if beta < 0:
        raise ValueError(f"kaiser: beta must be >= 0, got {beta}")
    return _window("kaiser", M, lambda: _scipy().kaiser(M, beta, sym=sym), dtype, layout, device, requires_grad)
