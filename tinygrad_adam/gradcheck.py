"""``gradcheck``: compare backward() with central finite differences, in float64."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy

from . import autograd, backend
from .tensor import Tensor


class GradcheckError(AssertionError, RuntimeError):
    """Analytic and numerical gradients disagree; the message names the worst element. A RuntimeError too, as
    torch's ``torch.autograd.gradcheck.GradcheckError``."""


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-4, raise_exception: bool = True, in_float64: bool = True) -> bool:
    """Check ``fn``'s gradients with respect to every input that requires grad.

    ``fn(*inputs)`` returns a Tensor of any shape; it is reduced as ``sum(out * w)`` with a fixed
    random ``w`` so every output element counts. Inputs are copied to the CPU, in float64 unless
    ``in_float64=False`` (then in their own dtype, as torch's check runs). Returns True,
    or raises :class:`GradcheckError` (or returns False when ``raise_exception=False``).
    """
    xs = [Tensor(numpy.array(backend.to_numpy(t._data), dtype=numpy.float64 if in_float64 else t.dtype),
                 requires_grad=t.requires_grad, device="cpu") if isinstance(t, Tensor) and t.dtype.kind == "f" else t
          for t in inputs]
    out = fn(*xs)
    w = numpy.random.default_rng(0).standard_normal(out.shape)

    def scalar() -> float:
        return float((backend.to_numpy(fn(*xs)._data).astype(numpy.float64) * w).sum())

    wanted = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
    if not wanted:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but none of them have "
                         "requires_grad=True.")
    total = (out * Tensor(w, device="cpu")).sum()
    # autograd.grad, not backward: the Parameters fn closes over keep their .grad, as after torch's check
    grads = iter(autograd.grad(total, wanted, allow_unused=True) if total.requires_grad else [None] * len(wanted))
    for i, x in enumerate(xs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        g = next(grads)
        analytic = numpy.zeros(x.shape) if g is None else g.numpy()
        numeric = numpy.zeros(x.shape)
        for j in numpy.ndindex(*x.shape):  # (each place of x's own array: it may be a view, not C-ordered)
            orig = x._data[j]
            x._data[j] = orig + eps
            hi = scalar()
            x._data[j] = orig - eps
            lo = scalar()
            x._data[j] = orig
            numeric[j] = (hi - lo) / (2 * eps)
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


def autograd_gradcheck(func: Callable[..., Any], inputs: Tensor | Sequence[Any], *, eps: float = 1e-6,
                       atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True, nondet_tol: float = 0.0,
                       fast_mode: bool = False) -> bool:
    """``torch.autograd.gradcheck``: torch's defaults (rtol 1e-3), ``inputs`` one Tensor or a sequence, ``func``
    returning a Tensor or a sequence of them (checked together, flattened). An input that requires grad and is not
    float64 gets torch's warning, and the check runs in the inputs' own dtypes, as torch's (a float32 check mostly
    fails: its finite differences are rounding noise). ``nondet_tol`` and ``fast_mode`` are accepted (our backward
    is deterministic; the check is always the full one)."""
    from .ops.movement import concatenate

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != numpy.float64:
            warnings.warn(f"Input #{i} requires gradient and is not a double precision floating point or complex. "
                          "This check will likely fail if all the inputs are not of double precision floating point "
                          "or complex. ", UserWarning, stacklevel=2)

    def joined(*xs: Any) -> Tensor:
        out = func(*xs)
        return out if isinstance(out, Tensor) else concatenate([o.reshape(-1) for o in out])

    return gradcheck(joined, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception,
                     in_float64=False)


def autograd_gradgradcheck(func: Callable[..., Any], inputs: Tensor | Sequence[Any],
                           grad_outputs: Tensor | Sequence[Tensor] | None = None, *, eps: float = 1e-6,
                           atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
                           nondet_tol: float = 0.0, fast_mode: bool = False) -> bool:
    """``torch.autograd.gradgradcheck``: :func:`autograd_gradcheck` of the vector-Jacobian product
    ``(inputs, grad_outputs) -> d(outputs)/d(inputs) . grad_outputs``, so the second derivatives are checked. Without
    ``grad_outputs``, uniform ones in [-1, 1) that require grad (from numpy, where torch draws from its generator)."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)

    def differentiable(xs: Sequence[Any]) -> list[Tensor]:
        out = func(*xs)
        return [o for o in ((out,) if isinstance(out, Tensor) else out) if o.requires_grad]

    if grad_outputs is None:
        rng = numpy.random.default_rng(0)
        grad_outputs = tuple(Tensor(rng.uniform(-1, 1, o.shape).astype(o.dtype), requires_grad=True)
                             for o in differentiable(inputs))
    grad_outputs = (grad_outputs,) if isinstance(grad_outputs, Tensor) else tuple(grad_outputs)

    def vjp(*args: Any) -> tuple[Tensor, ...]:
        xs, gs = args[:len(inputs)], args[len(inputs):]
        wanted = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        grads = autograd.grad(differentiable(xs), wanted, gs, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return autograd_gradcheck(vjp, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                              raise_exception=raise_exception)
