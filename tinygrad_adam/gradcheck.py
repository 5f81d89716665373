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


def _check_zero_upstream(out: Tensor, wanted: list[Tensor], raise_exception: bool) -> bool:
    """Backward from a zero upstream gradient must give zero gradients (a backward that adds a constant, or
    ignores ``grad_output``, fails here even when its Jacobian is within tolerance), as torch's check."""
    if not out.requires_grad or out.numel() == 0:
        return True
    grads = autograd.grad(out, wanted, Tensor(numpy.zeros(out.shape, out.dtype), device="cpu"), retain_graph=True,
                          allow_unused=True)
    for i, g in enumerate(grads):
        if g is not None and bool(numpy.any(g.numpy() != 0)):
            if raise_exception:
                raise GradcheckError(f"gradcheck: backward gives a nonzero gradient for input {i} from a zero "
                                     "upstream gradient; it must multiply by grad_output (chain rule)")
            return False
    return True


def _jacobian_mismatch(analytic: numpy.ndarray, numeric: numpy.ndarray, i: int, shape: tuple[int, ...],
                       atol: float, rtol: float) -> str | None:
    """The report on the worst element where ``|analytic - numeric| > atol + rtol |numeric|``, or None."""
    err = numpy.abs(analytic - numeric) - (atol + rtol * numpy.abs(numeric))
    if not (err.size and err.max() > 0):
        return None
    k = numpy.unravel_index(int(err.argmax()), err.shape)
    where = f"output element {int(k[0])}, input element {int(k[1])}" if err.ndim == 2 else \
        f"index {tuple(int(c) for c in k)}"
    return (f"gradcheck failed for input {i} (shape {shape}) at {where}: analytic {analytic[k]:.8g}, numerical "
            f"{numeric[k]:.8g}, difference {abs(analytic[k] - numeric[k]):.3g} > atol {atol} + rtol {rtol} * "
            "|numerical|")


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-4, raise_exception: bool = True, in_float64: bool = True,
              fast_mode: bool = True) -> bool:
    """Check ``fn``'s gradients with respect to every input that requires grad.

    ``fn(*inputs)`` returns a Tensor of any shape. With ``fast_mode`` it is reduced as ``sum(out * w)`` with a fixed
    random ``w`` (one backward); without, the whole Jacobian is compared element by element (one backward per
    output element), as torch's default check. Either way backward from a zero upstream gradient must give zeros.
    Inputs are copied to the CPU, in float64 unless ``in_float64=False`` (then in their own dtype, as torch's check
    runs). Returns True, or raises :class:`GradcheckError` (or returns False when ``raise_exception=False``).
    """
    xs = [Tensor(numpy.array(backend.to_numpy(t._data), dtype=numpy.float64 if in_float64 else t.dtype),
                 requires_grad=t.requires_grad, device="cpu") if isinstance(t, Tensor) and t.dtype.kind == "f" else t
          for t in inputs]
    out = fn(*xs)
    wanted = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
    if not wanted:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check; mark at least "
                         "one input")
    if not _check_zero_upstream(out, wanted, raise_exception):
        return False
    w = numpy.random.default_rng(0).standard_normal(out.shape) if fast_mode else None

    def evaluate() -> numpy.ndarray:
        y = backend.to_numpy(fn(*xs)._data).astype(numpy.float64)
        return numpy.asarray((y * w).sum()) if fast_mode else y.reshape(-1)

    # autograd.grad, not backward: the Parameters fn closes over keep their .grad, as after torch's check
    if fast_mode:
        total = (out * Tensor(w, device="cpu")).sum()
        rows = [autograd.grad(total, wanted, allow_unused=True) if total.requires_grad else [None] * len(wanted)]
    else:  # one vector-Jacobian product per output element: row k of every input's Jacobian
        rows = []
        for k in range(out.numel() if out.requires_grad else 0):
            onehot = numpy.zeros(out.numel(), out.dtype)
            onehot[k] = 1
            rows.append(autograd.grad(out, wanted, Tensor(onehot.reshape(out.shape), device="cpu"),
                                      retain_graph=True, allow_unused=True))
    n_rows = 1 if fast_mode else out.numel()
    for n, x in enumerate(wanted):
        i = next(i for i, t in enumerate(xs) if t is x)
        analytic = numpy.zeros((n_rows, x.numel()))
        for k, r in enumerate(rows):
            if r[n] is not None:
                analytic[k] = r[n].numpy().reshape(-1)
        numeric = numpy.zeros((n_rows, x.numel()))
        for c, j in enumerate(numpy.ndindex(*x.shape)):  # (each place of x's own array: it may be a view)
            orig = x._data[j]
            x._data[j] = orig + eps
            hi = evaluate()
            x._data[j] = orig - eps
            lo = evaluate()
            x._data[j] = orig
            numeric[:, c] = (hi - lo) / (2 * eps)
        if fast_mode:
            analytic, numeric = analytic.reshape(x.shape), numeric.reshape(x.shape)
        report = _jacobian_mismatch(analytic, numeric, i, x.shape, atol, rtol)
        if report is not None:
            if raise_exception:
                raise GradcheckError(report)
            return False
    return True


def autograd_gradcheck(func: Callable[..., Any], inputs: Tensor | Sequence[Any], *, eps: float = 1e-6,
                       atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True, nondet_tol: float = 0.0,
                       check_undefined_grad: bool = True, check_grad_dtypes: bool = False,
                       check_batched_grad: bool = False, check_batched_forward_grad: bool = False,
                       check_forward_ad: bool = False, check_backward_ad: bool = True, fast_mode: bool = False,
                       masked: bool | None = None) -> bool:
    """``torch.autograd.gradcheck``: torch's defaults (rtol 1e-3), ``inputs`` one Tensor or a sequence, ``func``
    returning a Tensor or a sequence of them (checked together, flattened). Without ``fast_mode`` the whole
    Jacobian is compared element by element; with it, one random projection of it. An input that requires grad and
    is not float64 gets torch's warning, and the check runs in the inputs' own dtypes, as torch's (a float32 check
    mostly fails: its finite differences are rounding noise). An input with a stride-0 dimension (``expand``) is a
    RuntimeError, as in torch. Our forward-mode derivatives come from reverse mode, so ``check_forward_ad`` runs
    the same check as ``check_backward_ad`` (one of them must be True, as in torch). ``nondet_tol``,
    ``check_undefined_grad``, ``check_grad_dtypes``, ``check_batched_grad``, ``check_batched_forward_grad`` and
    ``masked`` are accepted and add no check (our backward is deterministic, gets no undefined gradients, keeps the
    inputs' dtypes, and there is no vmap to check)."""
    from .layouts import element_strides
    from .ops.movement import concatenate

    # (torch states these two with plain asserts, so a wrong combination is an AssertionError there too)
    if not (check_forward_ad or check_backward_ad):
        raise AssertionError("gradcheck: check_forward_ad and check_backward_ad are both False, so nothing would be "
                             "checked; leave check_backward_ad=True")
    if check_batched_forward_grad and not check_forward_ad:
        raise AssertionError("gradcheck: check_batched_forward_grad=True needs check_forward_ad=True")

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != numpy.float64:
            warnings.warn(f"input {i} requires grad but is not float64/complex128; finite differences in lower "
                          "precision usually make this check fail", UserWarning, stacklevel=2)
        if isinstance(x, Tensor) and x.requires_grad and any(
                st == 0 and n > 1 for st, n in zip(element_strides(x), x.shape)):
            raise RuntimeError(f"gradcheck: input {i} has a dimension of stride 0 (an expanded view), so its "
                               "elements overlap and finite differences are wrong; pass x.contiguous() instead")

    def joined(*xs: Any) -> Tensor:
        out = func(*xs)
        return out if isinstance(out, Tensor) else concatenate([o.reshape(-1) for o in out])

    return gradcheck(joined, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception,
                     in_float64=False, fast_mode=fast_mode)


def autograd_gradgradcheck(func: Callable[..., Any], inputs: Tensor | Sequence[Any],
                           grad_outputs: Tensor | Sequence[Tensor] | None = None, *, eps: float = 1e-6,
                           atol: float = 1e-5, rtol: float = 1e-3, gen_non_contig_grad_outputs: bool = False,
                           raise_exception: bool = True, nondet_tol: float = 0.0, check_undefined_grad: bool = True,
                           check_grad_dtypes: bool = False, check_batched_grad: bool = False,
                           check_fwd_over_rev: bool = False, check_rev_over_rev: bool = True,
                           fast_mode: bool = False, masked: bool = False) -> bool:
    """``torch.autograd.gradgradcheck``: :func:`autograd_gradcheck` of the vector-Jacobian product
    ``(inputs, grad_outputs) -> d(outputs)/d(inputs) . grad_outputs``, so the second derivatives are checked. Without
    ``grad_outputs``, uniform ones in [-1, 1) that require grad (from numpy, where torch draws from its generator).
    ``check_rev_over_rev=False`` checks nothing; the other flags are accepted as in :func:`autograd_gradcheck`."""
    if not check_rev_over_rev:
        return True
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
                              raise_exception=raise_exception, fast_mode=fast_mode)
