"""``gradcheck``: compare backward() with central finite differences, in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy

from . import backend
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree; the message names the worst element."""


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-4, raise_exception: bool = True) -> bool:
    """Check ``fn``'s gradients with respect to every input that requires grad.

    ``fn(*inputs)`` returns a Tensor of any shape; it is reduced as ``sum(out * w)`` with a fixed
    random ``w`` so every output element counts. Inputs are copied to float64 on the CPU. Returns True,
    or raises :class:`GradcheckError` (or returns False when ``raise_exception=False``).
    """
    xs = [Tensor(numpy.array(backend.to_numpy(t._data), dtype=numpy.float64), requires_grad=t.requires_grad,
                 device="cpu") if isinstance(t, Tensor) and t.dtype.kind == "f" else t for t in inputs]
    out = fn(*xs)
    w = numpy.random.default_rng(0).standard_normal(out.shape)

    def scalar() -> float:
        return float((backend.to_numpy(fn(*xs)._data).astype(numpy.float64) * w).sum())

    (out * Tensor(w, device="cpu")).sum().backward()
    for i, x in enumerate(xs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        analytic = numpy.zeros(x.shape) if x.grad is None else x.grad.numpy()
        numeric = numpy.zeros(x.shape)
        flat = x._data.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            hi = scalar()
            flat[j] = orig - eps
            lo = scalar()
            flat[j] = orig
            numeric.reshape(-1)[j] = (hi - lo) / (2 * eps)
        err = numpy.abs(analytic - numeric) - (atol + rtol * numpy.abs(numeric))
        if err.size and err.max() > 0:
            k = numpy.unravel_index(int(err.argmax()), x.shape)
            msg = (f"gradcheck failed for input {i} (shape {x.shape}) at index {tuple(int(c) for c in k)}: "
                   f"analytic {analytic[k]:.8g}, numerical {numeric[k]:.8g}, "
                   f"difference {abs(analytic[k] - numeric[k]):.3g} > atol {atol} + rtol {rtol} * |numerical|")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True
