"""Matrix product: 1-D, 2-D and batched N-D, with numpy's matmul semantics; einsum; outer, addmm and diag."""

from __future__ import annotations

import string
from collections.abc import Sequence

from .. import backend
from ..tensor import Array, Tensor, TensorLike, as_tensor, check_devices, record
from . import elementwise, movement
from .elementwise import broadcast_shape, unbroadcast
from .linear import check_dtypes


def matmul(a: TensorLike, b: TensorLike) -> Tensor:
    """``a @ b``. Shapes (..., n, k) @ (..., k, m) -> (..., m); 1-D operands act as row/column vectors."""
    a = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    b = as_tensor(b, like=a)
    check_devices("matmul", a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                         f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})")
    batch_a, batch_b = a.shape[:-2], b.shape[:-2]
    if batch_a and batch_b and any(x != y and x != 1 and y != 1 for x, y in zip(batch_a[::-1], batch_b[::-1])):
        raise ValueError(f"matmul: the batch dimensions of shapes {a.shape} and {b.shape} cannot be broadcast "
                         f"together ({batch_a} and {batch_b})")
    check_dtypes("matmul", a, b)
    out = a.data @ b.data

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        # 1-D operands become a row / a column so one formula covers every case
        a2 = a.data if a.ndim > 1 else a.data[None, :]  # (..., n, k)
        b2 = b.data if b.ndim > 1 else b.data[:, None]  # (..., k, m)
        g2 = g.reshape(broadcast_shape("matmul", a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1]))
        ga = unbroadcast(g2 @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape) if a.requires_grad else None  # g b^T
        gb = unbroadcast(a2.swapaxes(-1, -2) @ g2, b2.shape).reshape(b.shape) if b.requires_grad else None  # a^T g
        return ga, gb
    return record("matmul", out, (a, b), backward)


def _einsum_subscripts(op: str, equation: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """The input and output subscripts of ``equation`` with each ``...`` spelled out in unused letters (right-aligned,
    as broadcasting aligns them) and the implicit output (no ``->``) made explicit, as torch and numpy read it."""
    inputs, arrow, output = equation.replace(" ", "").partition("->")
    subs = inputs.split(",")
    if len(subs) != len(shapes):
        raise ValueError(f"{op}: equation {equation!r} names {len(subs)} operands, got {len(shapes)}")
    named = [s.replace("...", "") for s in subs]
    if not all(c.isalpha() for c in "".join(named) + output.replace("...", "")):
        raise ValueError(f"{op}: subscripts must be letters (and '...'), got {equation!r}")
    free = [c for c in string.ascii_letters if c not in equation]
    n_ell = max((len(shape) - len(n) for s, n, shape in zip(subs, named, shapes) if "..." in s), default=0)
    ell = "".join(free[:n_ell])
    full = []
    for s, n, shape in zip(subs, named, shapes):
        k = len(shape) - len(n)
        if ("..." not in s and k != 0) or k < 0:
            raise ValueError(f"{op}: subscripts {s!r} do not match an operand of shape {shape}")
        full.append(s.replace("...", ell[n_ell - k:]))
    if arrow:
        out = output.replace("...", ell)
    else:  # implicit: the broadcast dims, then the letters seen once, sorted
        letters = "".join(named)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return full, out


def einsum(equation: str, *operands: Tensor | Sequence[Tensor]) -> Tensor:
    """Einstein summation, as ``torch.einsum("bij,bjk->bik", a, b)`` (operands may also come as one list).

    Backward: the gradient of operand i is another einsum, of the output gradient with the other operands, onto
    operand i's subscripts; a letter repeated in them (a diagonal, ``"ii->"``) is reached through an identity
    matrix, a letter only they hold (summed away) through a ones vector, and broadcast size-1 dims are summed."""
    tensors = list(operands[0]) if len(operands) == 1 and isinstance(operands[0], (list, tuple)) else list(operands)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError("einsum: operands must be one or more Tensors")
    check_devices("einsum", *tensors)
    if len({t.dtype for t in tensors}) > 1:
        raise TypeError(f"einsum: operands must share a dtype, got {sorted({str(t.dtype) for t in tensors})}")
    subs, out_sub = _einsum_subscripts("einsum", equation, [t.shape for t in tensors])
    xp, arrays = tensors[0].xp, [t.data for t in tensors]
    try:
        out = xp.asarray(xp.einsum(f"{','.join(subs)}->{out_sub}", *arrays, optimize=len(arrays) > 1))
    except ValueError as e:
        raise ValueError(f"einsum: {equation!r} with shapes {[t.shape for t in tensors]}: {e}") from None
    sizes: dict[str, int] = {}
    for s, a in zip(subs, arrays):
        for c, n in zip(s, a.shape):
            sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]  # a size 1 broadcasts (to 0 as well)

    def gradient(i: int, g: Array) -> Array:
        terms = [(out_sub, g)] + [(s, a) for j, (s, a) in enumerate(zip(subs, arrays)) if j != i]
        target, spare = "", [c for c in string.ascii_letters if c not in sizes]
        for c in subs[i]:
            if c in target:  # a repeated letter: a fresh one, tied to it by an identity matrix
                fresh = spare.pop()
                terms.append((c + fresh, xp.eye(sizes[c], dtype=g.dtype)))
                c = fresh
            target += c
        held = "".join(s for s, _ in terms)
        terms += [(c, xp.ones(sizes[c], dtype=g.dtype)) for c in dict.fromkeys(subs[i]) if c not in held]
        grad = xp.einsum(f"{','.join(s for s, _ in terms)}->{target}", *(a for _, a in terms),
                         optimize=len(terms) > 1)
        kept = tuple(k for k, n in enumerate(arrays[i].shape) if n != grad.shape[k])  # broadcast size-1 dims
        return xp.asarray(grad.sum(axis=kept, keepdims=True) if kept else grad)

    def backward(g: Array) -> tuple[Array | None, ...]:
        return tuple(gradient(i, g) if t.requires_grad else None for i, t in enumerate(tensors))
    return record("einsum", out, tuple(tensors), backward)


def outer(a: Tensor, b: Tensor) -> Tensor:
    """The outer product of two 1-D tensors, (n,) and (m,) -> (n, m), ``a[i] * b[j]`` (dtypes promoted as ``*``)."""
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"outer: needs two 1-D tensors, got shapes {a.shape} and {b.shape}")
    return elementwise.mul(movement.reshape(a, (-1, 1)), movement.reshape(b, (1, -1)))


def _scaled(t: Tensor, factor: float) -> Tensor:
    """``factor * t``; a factor of 0 gives zeros even where t holds NaN or inf (BLAS's and torch's convention)."""
    if factor == 1:
        return t
    if factor == 0:
        return elementwise.where(Tensor(t.xp.zeros((), dtype=bool), device=t.device), t, 0)
    return elementwise.mul(t, factor)


def addmm(input: Tensor, m1: Tensor, m2: Tensor, beta: float = 1, alpha: float = 1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * (m1 @ m2)``: m1 (n, k), m2 (k, m), input broadcastable to (n, m); with beta = 0
    (alpha = 0) that term is left out, NaN and inf in it too, as in torch. All three share one dtype."""
    if m1.ndim != 2 or m2.ndim != 2:
        raise ValueError(f"addmm: m1 and m2 must be matrices, got shapes {m1.shape} and {m2.shape}")
    check_dtypes("addmm", input, m1, m2)
    if input.dtype.kind != "f" and not (float(beta).is_integer() and float(alpha).is_integer()):
        raise TypeError(f"addmm: {input.dtype} tensors need integer beta and alpha, got {beta} and {alpha}")
    shape = (m1.shape[0], m2.shape[1])
    if broadcast_shape("addmm", input.shape, shape) != shape:
        raise ValueError(f"addmm: input of shape {input.shape} does not broadcast to the product's shape {shape}")
    return elementwise.add(_scaled(input, beta), _scaled(matmul(m1, m2), alpha))


def diag(a: Tensor, diagonal: int = 0) -> Tensor:
    """torch.diag: a 1-D tensor (n,) -> the (n + |diagonal|) square matrix with it on that diagonal (above the main
    one for diagonal > 0); a 2-D tensor -> a copy of that diagonal, 1-D."""
    if a.ndim == 2:
        return movement.clone(movement.diagonal(a, diagonal))
    if a.ndim != 1:
        raise ValueError(f"diag: needs a 1-D or 2-D tensor, got shape {a.shape}")
    n = a.shape[0] + abs(int(diagonal))
    out = a.xp.zeros((n, n), dtype=a.dtype)
    backend.diagonal(out, int(diagonal), 0, 1)[...] = a.data
    return record("diag", out, (a,), lambda g: (backend.diagonal(g, int(diagonal), 0, 1),))
