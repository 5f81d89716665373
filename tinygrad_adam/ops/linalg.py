"""Matrix product: 1-D, 2-D and batched N-D, with numpy's matmul semantics; einsum, tensordot, kron, block_diag;
outer, addmm, diag, diag_embed; cdist; and the square-matrix functions inv, det, slogdet, logdet and solve (batched
over leading dims)."""

from __future__ import annotations

import math
import numbers
import string
from collections.abc import Callable, Sequence

import numpy
from numpy.linalg import LinAlgError  # (cupy.linalg raises it too)

from .. import backend
from ..tensor import Array, Tensor, TensorLike, as_tensor, check_devices, record
from . import elementwise, movement
from .elementwise import broadcast_shape, ignore_fp_errors, mT, unbroadcast, wide_sum
from .factor import ArgumentError, DtypeError, KernelDtypeError, SingularError, lu_factor, lu_substitute
from .linear import check_dtypes
from .reduce import opmath, rounded


def matmul(input: TensorLike, other: TensorLike) -> Tensor:  # noqa: A002 - torch's name
    """``a @ b``. Shapes (..., n, k) @ (..., k, m) -> (..., m); 1-D operands act as row/column vectors. A sparse COO
    ``a`` (sparse.py): its product with the dense ``b``."""
    a = input  # torch's keyword name
    b = other  # torch's keyword name
    if not isinstance(a, Tensor) and getattr(a, "is_sparse", False):
        return a @ b
    if not isinstance(b, Tensor) and hasattr(type(b), "dense_operand"):  # dense @ sparse COO: its dense form
        b = b.dense_operand("matmul", a)
    a = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    b = as_tensor(b, like=a)
    check_devices("matmul", a, b)
    ad, bd = a._data, b._data
    sa, sb = ad.shape, bd.shape  # the arrays' own attributes: cheaper than the Tensor properties on a hot path
    if not sa or not sb:
        raise ArgumentError(f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
    if sa[-1] != sb[-2 if len(sb) > 1 else 0]:
        raise ArgumentError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                            f"({sa[-1]} != {sb[-2 if len(sb) > 1 else 0]})")
    batch_a, batch_b = sa[:-2], sb[:-2]
    if batch_a and batch_b and any(x != y and x != 1 and y != 1 for x, y in zip(batch_a[::-1], batch_b[::-1])):
        raise ArgumentError(f"matmul: the batch dimensions of shapes {a.shape} and {b.shape} cannot be broadcast "
                            f"together ({batch_a} and {batch_b})")
    if ad.dtype != bd.dtype:
        check_dtypes("matmul", a, b)
    elif ad.dtype.kind == "b":
        raise KernelDtypeError("matmul: not implemented for bool tensors (as in torch); convert them with .long() or "
                               ".float() first")
    out = ad @ bd

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        # 1-D operands become a row / a column so one formula covers every case
        a2 = a._data if a.ndim > 1 else a._data[None, :]  # (..., n, k)
        b2 = b._data if b.ndim > 1 else b._data[:, None]  # (..., k, m)
        g2 = g.reshape(broadcast_shape("matmul", a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1]))
        ga = summed_product(g2, b2.swapaxes(-1, -2), a2.shape).reshape(a.shape) if a.requires_grad else None  # g b^T
        gb = summed_product(a2.swapaxes(-1, -2), g2, b2.shape).reshape(b.shape) if b.requires_grad else None  # a^T g
        return ga, gb
    return record("matmul", out, (a, b), backward)


def summed_product(x: Array, y: Array, shape: tuple[int, ...]) -> Array:
    """``x @ y`` summed down to ``shape`` (the gradient of an operand broadcast over batches). float16 products that
    are summed go in float32 and round once, as torch's (each batch's product rounded first was up to 17 units off
    the float64 value)."""
    if numpy.broadcast_shapes(x.shape[:-2], y.shape[:-2]) == tuple(shape[:-2]):  # nothing to sum
        return unbroadcast(x @ y, shape)
    (xw, half), yw = opmath(x), opmath(y)[0]
    return rounded(unbroadcast(xw @ yw, shape), half)


def _einsum_subscripts(op: str, equation: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """The input and output subscripts of ``equation`` with each ``...`` spelled out in unused letters (right-aligned,
    as broadcasting aligns them) and the implicit output (no ``->``) made explicit, as torch and numpy read it."""
    inputs, arrow, output = equation.replace(" ", "").partition("->")
    subs = inputs.split(",")
    if len(subs) != len(shapes):
        raise ArgumentError(f"{op}: equation {equation!r} names {len(subs)} operands, got {len(shapes)}")
    named = [s.replace("...", "") for s in subs]
    if not all(c.isalpha() for c in "".join(named) + output.replace("...", "")):
        raise ArgumentError(f"{op}: subscripts must be letters (and '...'), got {equation!r}")
    free = [c for c in string.ascii_letters if c not in equation]
    n_ell = max((len(shape) - len(n) for s, n, shape in zip(subs, named, shapes) if "..." in s), default=0)
    ell = "".join(free[:n_ell])
    full = []
    for s, n, shape in zip(subs, named, shapes):
        k = len(shape) - len(n)
        if ("..." not in s and k != 0) or k < 0:
            raise ArgumentError(f"{op}: subscripts {s!r} do not match an operand of shape {shape}")
        full.append(s.replace("...", ell[n_ell - k:]))
    if arrow:
        out = output.replace("...", ell)
    else:  # implicit: the broadcast dims, then the letters seen once, sorted
        letters = "".join(named)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(set(out)) != len(out) or not set(out) <= set("".join(full)):
        raise ArgumentError(f"{op}: the output subscripts of {equation!r} must be distinct letters of the inputs")
    return full, out


def _refuse_integer_sums(equation: str, subs: list[str], shapes: list[tuple[int, ...]], summed: str,
                         dtype: object) -> None:
    """Raise where torch's einsum of several bool or integer (not int64) operands gives no ``dtype`` sum: a summed
    letter that only one operand holds (other than size 1) torch sums first with ``sum``, in int64, then mixes that
    with the other operands' dtype (an int64 result, or an error), and its bmm has no bool version. (A letter all
    operands hold with size 1 it squeezes.)"""
    for c in summed:
        holders = sum(any(k == c and n != 1 for k, n in zip(s, shape)) for s, shape in zip(subs, shapes))
        if dtype == "bool" and holders:
            raise KernelDtypeError(f"einsum: {equation!r} sums over bool operands, which torch does not implement; "
                                   "convert them to an integer or float dtype first")
        if holders == 1:
            raise DtypeError(f"einsum: {equation!r} sums letter {c!r} of one {dtype} operand alone, which torch "
                             "does in int64 and then mixes with the others' dtype; convert the operands to int64 first")


def _sublist_equation(args: tuple) -> tuple[str, list]:
    """torch's sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` (operands each followed by its subscripts as
    integers in [0, 52) or ``...``, then the output's, optional) as an equation and its operands."""
    def letters(sub: Sequence) -> str:
        if not all(s is Ellipsis or (isinstance(s, int) and 0 <= s < 52) for s in sub):
            raise ArgumentError(f"einsum: a sublist holds integers in [0, 52) and ..., got {sub!r}")
        return "".join("..." if s is Ellipsis else string.ascii_uppercase[s] if s < 26 else
                       string.ascii_lowercase[s - 26] for s in sub)
    pairs, output = (args, None) if len(args) % 2 == 0 else (args[:-1], args[-1])
    equation = ",".join(letters(sub) for sub in pairs[1::2]) + ("" if output is None else "->" + letters(output))
    return equation, list(pairs[::2])


def _promoted_product(equation: str, subs: list[str], tensors: list[Tensor], out_sub: str) -> list[Tensor]:
    """Two floating operands of two dtypes, cast (differentiably) to their promoted dtype where torch takes them:
    a pair that sums no letter both hold (other than size 1) is an elementwise product there (``*``, which
    promotes: mamba's ``einsum('bld,dn->bldn', delta, A.float())`` in a half or double model); a contraction goes
    through bmm, which refuses two dtypes."""
    held = [{c for c, n in zip(s, t.shape) if n != 1} for s, t in zip(subs, tensors)]
    if any(c not in out_sub for c in held[0] & held[1]):
        raise DtypeError(f"einsum: operands must share a dtype where {equation!r} contracts them (torch's bmm), got "
                         f"{sorted({str(t.dtype) for t in tensors})}")
    dtype = elementwise.result_type(*tensors)
    return [elementwise.cast(t, dtype, t) for t in tensors]


def _in_torch_order(subs: list[str], tensors: list[Tensor], out_sub: str) -> Tensor | None:
    """The operands (subscripts ``subs``) contracted onto ``out_sub`` in torch's order, as einsums of one or two
    operands, so that inf, NaN, overflow and underflow meet as there in the forward pass: a summed letter that only
    this operand holds other than size 1 is summed within it first, then the operands are contracted left to
    right, each pair summing the letters that neither a later operand nor the output holds (other than size 1).
    None where that is a single einsum of two operands."""
    held = [{c for c, n in zip(s, t.shape) if n != 1} for s, t in zip(subs, tensors)]
    alone = ["".join(c for c in dict.fromkeys(s) if c in held[i] and c not in out_sub
                     and not any(c in h for j, h in enumerate(held) if j != i)) for i, s in enumerate(subs)]
    if len(tensors) == 2 and not any(alone):
        return None
    names = ["".join(c for c in dict.fromkeys(s) if c not in a) if a else s for s, a in zip(subs, alone)]
    parts = [einsum(f"{s}->{n}", t) if a else t for s, n, a, t in zip(subs, names, alone, tensors)]
    sub, out = names[0], parts[0]
    for k in range(1, len(parts)):
        later = set(out_sub).union(*held[k + 1:])
        keep = "".join(c for c in dict.fromkeys(sub + names[k]) if c in later)
        out, sub = einsum(f"{sub},{names[k]}->{keep}", out, parts[k]), keep
    return out if sub == out_sub else einsum(f"{sub}->{out_sub}", out)


def einsum(equation: str, *operands: Tensor | Sequence[Tensor]) -> Tensor:
    """Einstein summation, as ``torch.einsum("bij,bjk->bik", a, b)`` (operands may also come as one list, or in
    torch's sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``).

    Backward: the gradient of operand i is another einsum, of the output gradient with the other operands, onto
    operand i's subscripts; a letter repeated in them (a diagonal, ``"ii->"``) gets it on that diagonal and zeros
    elsewhere, a letter only they hold (summed away) is reached through a ones vector, and broadcast size-1 dims are
    summed."""
    if not isinstance(equation, str):
        equation, tensors = _sublist_equation((equation, *operands))
    else:
        tensors = list(operands[0]) if len(operands) == 1 and isinstance(operands[0], (list, tuple)) else list(operands)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError("einsum: operands must be one or more Tensors")
    check_devices("einsum", *tensors)
    mixed = len({t.dtype for t in tensors}) > 1
    if mixed and not all(t.dtype.kind == "f" for t in tensors):
        raise DtypeError(f"einsum: operands must share a dtype, got {sorted({str(t.dtype) for t in tensors})}")
    subs, out_sub = _einsum_subscripts("einsum", equation, [t.shape for t in tensors])
    summed = "".join(dict.fromkeys(c for c in "".join(subs) if c not in out_sub))
    if len(tensors) == 1 and summed:  # torch's sum: integers and bool to int64, float16 accumulated in float32
        kept = einsum(f"{subs[0]}->{out_sub}{summed}", tensors[0])
        return kept.sum(dim=tuple(range(len(out_sub), kept.ndim)))
    if summed and tensors[0].dtype.kind in "biu" and tensors[0].dtype != "int64":
        _refuse_integer_sums(equation, subs, [t.shape for t in tensors], summed, tensors[0].dtype)
    if len(tensors) > 1 and (ordered := _in_torch_order(subs, tensors, out_sub)) is not None:
        return ordered
    if mixed:
        tensors = _promoted_product(equation, subs, tensors, out_sub)
    xp, arrays = tensors[0].xp, [t._data for t in tensors]
    try:
        with ignore_fp_errors(xp):  # (inf * 0, overflow: torch does not warn)
            out = xp.asarray(xp.einsum(f"{','.join(subs)}->{out_sub}", *arrays, optimize=len(arrays) > 1))
    except ValueError as e:
        raise ArgumentError(f"einsum: {equation!r} with shapes {[t.shape for t in tensors]}: {e}") from None
    sizes: dict[str, int] = {}
    for s, a in zip(subs, arrays):
        for c, n in zip(s, a.shape):
            sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]  # a size 1 broadcasts (to 0 as well)

    def gradient(i: int, g: Array) -> Array:
        terms = [(out_sub, g)] + [(s, a) for j, (s, a) in enumerate(zip(subs, arrays)) if j != i]
        letters, held = "".join(dict.fromkeys(subs[i])), "".join(s for s, _ in terms)
        terms += [(c, xp.ones(sizes[c], dtype=g.dtype)) for c in letters if c not in held]
        grad = xp.einsum(f"{','.join(s for s, _ in terms)}->{letters}", *(a for _, a in terms),
                         optimize=len(terms) > 1)
        if len(letters) < len(subs[i]):  # a repeated letter: laid on that diagonal, zeros elsewhere (not times eye)
            full = xp.zeros(tuple(sizes[c] for c in subs[i]), dtype=grad.dtype)
            full[tuple(xp.arange(sizes[c]).reshape([-1 if d == c else 1 for d in letters]) for c in subs[i])] = grad
            grad = full
        kept = tuple(k for k, n in enumerate(arrays[i].shape) if n != grad.shape[k])  # broadcast size-1 dims
        return xp.asarray(wide_sum(grad, kept, keepdims=True) if kept else grad)

    def backward(g: Array) -> tuple[Array | None, ...]:
        with ignore_fp_errors(xp):
            return tuple(gradient(i, g) if t.requires_grad else None for i, t in enumerate(tensors))
    return record("einsum", out, tuple(tensors), backward)


def outer(a: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two 1-D tensors, (n,) and (m,) -> (n, m), ``a[i] * vec2[j]`` (dtypes promoted as ``*``)."""
    if a.ndim != 1 or vec2.ndim != 1:
        raise ArgumentError(f"outer: needs two 1-D tensors, got shapes {a.shape} and {vec2.shape}")
    return elementwise.mul(movement.reshape(a, (-1, 1)), movement.reshape(vec2, (1, -1)))


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
        raise ArgumentError(f"addmm: m1 and m2 must be matrices, got shapes {m1.shape} and {m2.shape}")
    return add_product("addmm", input, m1, m2, matmul, beta, alpha)


def add_product(op: str, input: Tensor, x: Tensor, y: Tensor, product: Callable[[Tensor, Tensor], Tensor],  # noqa: A002
                beta: float, alpha: float) -> Tensor:
    """``beta * input + alpha * product(x, y)``, input broadcastable to the product's shape; with beta = 0 (alpha = 0)
    that term is left out, NaN and inf in it too, as in torch (addmm, addmv, addr, baddbmm, addbmm), except that
    torch's addr multiplies its outer product by an alpha of 0 (a NaN or inf in it gives NaN). All three share one
    dtype; integer ones need integer beta and alpha (a float one of an integer value is one, except in addr, as in
    torch; torch truncates a fractional one where ours raises); bool ones raise. addr first promotes the three to
    one dtype, as torch's does (its others refuse a mix)."""
    if op == "addr" and not input.dtype == x.dtype == y.dtype:
        dt = elementwise.result_type(input, x, y)
        input, x, y = (t if t.dtype == dt else elementwise.astype(t, dt) for t in (input, x, y))  # noqa: A001
    check_dtypes(op, input, x, y)
    if input.dtype.kind == "b":  # (torch's addr takes them, as logical and / or: not here)
        raise KernelDtypeError(f"{op}: bool tensors are not supported; convert them to an integer or float dtype first")
    if input.dtype.kind in "iu" and not all(isinstance(s, numbers.Integral) for s in (beta, alpha)):
        if op == "addr" or not all(float(s).is_integer() for s in (beta, alpha)):  # (torch's others truncate)
            raise TypeError(f"{op}: for {input.dtype} tensors beta and alpha must be integers, not floating point "
                            f"numbers, got {beta!r} and {alpha!r}")
        beta, alpha = int(beta), int(alpha)
    if op == "addr" and any(isinstance(s, bool) for s in (beta, alpha)):
        raise TypeError(f"addr: a bool beta or alpha needs bool tensors (as in torch), got {beta!r} and {alpha!r}")
    if input.dtype == numpy.float16 and op in ("addmm", "baddbmm", "addmv"):  # torch's float16 kernels keep the
        # products and the sum in float32 and round once (here the product rounded to float16 before the add: a
        # quarter of the elements an ulp off); torch's addr and addbmm round in float16 between their steps. addmv
        # takes beta and alpha as float16, and unless alpha is 1 rounds beta * input to float16 before the product
        # adds (measured against torch 2.13)
        if op == "addmv":
            beta, alpha = float(numpy.float16(beta)), float(numpy.float16(alpha))
            if beta != 0 and alpha != 1:
                input, beta = _scaled(input, beta), 1.0  # noqa: A001
        wide = [elementwise.astype(t, numpy.float32) for t in (input, x, y)]
        return elementwise.astype(add_product(op, *wide, product, beta, alpha), numpy.float16)
    out = product(x, y)
    if broadcast_shape(op, input.shape, out.shape) != out.shape:
        raise ArgumentError(f"{op}: input of shape {input.shape} does not broadcast to the product's shape {out.shape}")
    term = elementwise.mul(out, alpha) if op == "addr" and alpha == 0 else _scaled(out, alpha)
    return elementwise.add(_scaled(input, beta), term)


def identity_like(a: Tensor) -> Tensor:
    """Identity matrices of square ``a``'s shape (..., m, m) and dtype, with a zero gradient to ``a`` (a matrix to the
    power 0, as torch differentiates it)."""
    xp = a.xp
    eye = xp.array(xp.broadcast_to(xp.eye(a.shape[-1], dtype=a.dtype), a.shape))
    return record("identity_like", eye, (a,), lambda g: (xp.zeros_like(g),))


def diag(a: Tensor, diagonal: int = 0) -> Tensor:
    """torch.diag: a 1-D tensor (n,) -> the (n + |diagonal|) square matrix with it on that diagonal (above the main
    one for diagonal > 0); a 2-D tensor -> a copy of that diagonal, 1-D."""
    if a.ndim == 2:
        return movement.clone(movement.diagonal(a, diagonal))
    if a.ndim != 1:
        raise ArgumentError(f"diag: needs a 1-D or 2-D tensor, got shape {a.shape}")
    return diag_embed(a, diagonal, 0, 1)


def diag_embed(a: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """torch.diag_embed: each vector of ``a``'s last dim (..., n) laid on the ``offset`` diagonal (above the main one
    for offset > 0) of the matrices in dims ``dim1``, ``dim2`` of the output, zeros elsewhere. The output has
    a.ndim + 1 dims (the dims are counted in it): n + |offset| in dim1 and dim2, ``a``'s leading dims in the others,
    in order. Backward: that diagonal of the gradient."""
    ndim = a.ndim + 1
    d1, d2 = (movement.wrap_dim("diag_embed", int(d), ndim) for d in (dim1, dim2))
    if d1 == d2:
        raise ArgumentError(f"diag_embed: dim1 and dim2 must name two different dims, got {dim1} and {dim2}")
    offset, lead = int(offset), iter(a.shape[:-1])
    n = a.shape[-1] + abs(offset)
    out = a.xp.zeros(tuple(n if i in (d1, d2) else next(lead) for i in range(ndim)), dtype=a.dtype)
    backend.diagonal(out, offset, d1, d2)[...] = a._data
    return record("diag_embed", out, (a,), lambda g: (backend.diagonal(g, offset, d1, d2),))


def tensordot(a: Tensor, b: Tensor, dims: int | Sequence[Sequence[int]] = 2) -> Tensor:
    """Sum over the last ``dims`` dims of ``a`` against the first ``dims`` of ``b`` (or over the dims named by the
    pair of lists ``dims``): shape a's other dims, then b's. One dtype for both, as torch; an einsum underneath. A
    contracted dim of size 1 facing a larger one broadcasts, as torch's."""
    if a.dtype != b.dtype:
        raise DtypeError(f"tensordot: {a.dtype} and {b.dtype} inputs do not mix (as in torch); cast one")
    if isinstance(dims, int):
        if not 0 <= dims <= min(a.ndim, b.ndim):
            raise ArgumentError(f"tensordot: dims={dims} must lie in 0..{min(a.ndim, b.ndim)} for shapes {a.shape} and "
                                f"{b.shape}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da = [movement.wrap_dim("tensordot", int(d), a.ndim) for d in dims[0]]
        db = [movement.wrap_dim("tensordot", int(d), b.ndim) for d in dims[1]]
        if len(da) != len(db) or len(set(da)) != len(da) or len(set(db)) != len(db):
            raise ArgumentError(f"tensordot: dims {dims} must name as many distinct dims of each input")
    if any(1 != a.shape[i] != b.shape[j] != 1 for i, j in zip(da, db)):
        raise ArgumentError(f"tensordot: contracted dims {da} of {a.shape} and {db} of {b.shape} differ in size")
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(a.ndim)]
    sb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(da, db):
        if a.shape[i] == b.shape[j]:  # else one is 1: torch broadcasts it, so both letters are summed on their own
            sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in da] + [c for j, c in enumerate(sb) if j not in db]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def kron(a: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: ``a`` and ``other`` (b) padded with leading 1s to k dims each,
    out[i * n_b + j] = a[i] b[j] in every dim, shape (a_d b_d per dim); dtypes promoted as ``*``."""
    k = max(a.ndim, other.ndim)
    sa, sb = (1,) * (k - a.ndim) + a.shape, (1,) * (k - other.ndim) + other.shape
    product = elementwise.mul(movement.reshape(a, tuple(x for n in sa for x in (n, 1))),
                              movement.reshape(other, tuple(x for n in sb for x in (1, n))))
    return movement.reshape(product, tuple(m * n for m, n in zip(sa, sb)))


def block_diag(*tensors: Tensor) -> Tensor:
    """torch.block_diag: the tensors as blocks along the diagonal of one matrix, zeros elsewhere; a 2-D (r, c) block
    as it is, a 1-D (c,) one as a row (1, c), a 0-d one as (1, 1). Shape (sum of r, sum of c), in the dtype torch
    promotes them all to; no tensors give an empty (1, 0) float32 matrix, as torch."""
    if not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError("block_diag: takes tensors as separate arguments, block_diag(a, b, ...); unpack a list "
                        "with block_diag(*tensors)")
    if not tensors:
        return Tensor([[]])  # (1, 0) float32, on the default device
    check_devices("block_diag", *tensors)
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise ArgumentError(f"block_diag: blocks must have 2 or fewer dims, tensor {i} has shape {t.shape}")
    dtype = elementwise.result_type(*tensors)
    blocks = [elementwise.cast(t if t.ndim == 2 else movement.reshape(t, (1, -1)), dtype, t) for t in tensors]
    width, left = sum(b.shape[1] for b in blocks), 0
    rows = []
    for b in blocks:
        rows.append(movement.pad(b, ((0, 0), (left, width - left - b.shape[1]))))
        left += b.shape[1]
    return movement.concatenate(rows, axis=0)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0) -> Tensor:
    """Pairwise p-norm distances between the rows of x1 (..., P, M) and of x2 (..., R, M): (..., P, R), the batch
    dims broadcast. p = 0 counts the differing coordinates, p = inf takes the largest difference. Computed from
    the differences, as torch does for up to 25 rows (for more, torch's default switches to a less exact matrix
    product for p = 2). Gradients as torch's: 0 where a distance is 0; for p = inf each coordinate reaching the
    maximum gets the whole gradient; none (zeros) for p = 0. A nan coordinate makes the distance nan for every p
    (torch's cdist passes it over for p = inf, its pdist does not)."""
    check_devices("cdist", x1, x2)
    if x1.dtype.kind != "f" or x2.dtype != x1.dtype:  # (float16 computes, as torch's CUDA cdist; its CPU one raises)
        raise KernelDtypeError(f"cdist: needs two floating tensors of one dtype (as in torch), got "
                               f"{x1.dtype} and {x2.dtype}")
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise ArgumentError(f"cdist: needs (..., P, M) and (..., R, M) with the same M, got {x1.shape} and {x2.shape}")
    if not p >= 0:
        raise ArgumentError(f"cdist: p must be >= 0, got {p}")
    batch = broadcast_shape("cdist", x1.shape[:-2], x2.shape[:-2])
    xp, p = x1.xp, float(p)
    with ignore_fp_errors(xp):  # (inf - inf)
        diff = x1._data[..., :, None, :] - x2._data[..., None, :, :]  # (..., P, R, M)
    ad = xp.abs(diff)
    dtype = diff.dtype.type
    with ignore_fp_errors(xp):
        if p == 0:  # (a nan coordinate makes the count nan, as torch's)
            out = xp.minimum(xp.ceil(ad), dtype(1)).sum(axis=-1)
        elif p == math.inf:
            out = ad.max(axis=-1) if ad.shape[-1] else xp.zeros(ad.shape[:-1], dtype=diff.dtype)
        elif p == 1:
            out = ad.sum(axis=-1)
        elif p == 2:
            out = xp.sqrt((diff * diff).sum(axis=-1))
        else:
            out = (ad ** dtype(p)).sum(axis=-1) ** dtype(1 / p)
    out = xp.broadcast_to(out, batch + out.shape[-2:]).copy() if out.shape[:-2] != batch else out

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        dist, gd = out[..., None], g[..., None]
        zero = dtype(0)
        with ignore_fp_errors(xp):
            if p == 0:
                per = xp.zeros(diff.shape, dtype=diff.dtype)
            elif p == 1:
                per = xp.sign(diff) * gd
            elif p == 2:
                per = xp.where(dist == 0, zero, gd * diff / dist)
            elif p == math.inf:
                per = gd * xp.sign(diff) * (ad == dist)
            elif p < 2:
                per = xp.where((dist == 0) | ((diff == 0) & (p < 1)), zero,
                               xp.sign(diff) * ad ** dtype(p - 1) * gd / dist ** dtype(p - 1))
            else:
                per = xp.where(dist == 0, zero, diff * ad ** dtype(p - 2) * gd / dist ** dtype(p - 1))
        g1 = unbroadcast(wide_sum(per, -2), x1.shape) if x1.requires_grad else None
        g2 = unbroadcast(wide_sum(-per if p else per, -3), x2.shape) if x2.requires_grad else None  # (torch's +0s)
        return g1, g2
    return record("cdist", out, (x1, x2), backward)


def _square(op: str, a: Tensor) -> None:
    """The check torch makes of inv / det / slogdet / solve: a float32 / float64 batch of square matrices."""
    if a.dtype not in (numpy.float32, numpy.float64):
        raise DtypeError(f"{op}: needs a float32 or float64 tensor (as in torch), got {a.dtype}; convert with .float()")
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ArgumentError(f"{op}: needs a batch of square matrices (..., n, n), got shape {a.shape}")


def inv(A: Tensor) -> Tensor:
    """The inverse of each square matrix (..., n, n); a singular one raises, as in torch (``_solve_arrays``).
    Backward -A^-T g A^-T."""
    _square("inv", A)
    try:
        out = _solve_arrays(A._data, A.xp.broadcast_to(A.xp.eye(A.shape[-1], dtype=A.dtype), A.shape))
    except LinAlgError as e:
        raise SingularError(f"inv: a matrix is singular, it has no inverse ({e}); use pinv or solve a regularised "
                            f"system") from None
    return record("inv", out, (A,), lambda g: (-(mT(out) @ g @ mT(out)),))


def _solve_arrays(a: Array, b: Array, transposed: bool = False) -> Array:
    """X with A X = B (``transposed``: A^T X = B) for A (..., n, n) and B (..., n, k) of one batch shape; LinAlgError
    for a singular A. LAPACK
    (numpy's or cupy's) solves the finite matrices; one holding a nan or inf goes through ``lu_factor`` and its
    triangular solves, which give torch's answer there (its pattern of infs and nans, and "singular" where its LU
    meets an exact zero pivot first): LAPACK as numpy has it pivots otherwise around a nan and divides otherwise
    by an inf (it raised for [[nan, 1], [1, 1]], where torch's inverse is all nan, and inverted [[inf, 0], [inf, 2]],
    where torch's is nan)."""
    xp = backend.get_array_module(a)
    odd = ~xp.isfinite(a).all(axis=(-2, -1))
    if not bool(odd.any()):
        return xp.linalg.solve(mT(a) if transposed else a, b)
    lu, perm, info = lu_factor(a[odd])
    if bool((info != 0).any()):
        raise LinAlgError("Singular matrix")
    x = xp.empty(b.shape, dtype=b.dtype)
    with ignore_fp_errors(xp):
        x[odd] = lu_substitute(lu, perm, b[odd], transposed)
    x[~odd] = xp.linalg.solve(mT(a[~odd]) if transposed else a[~odd], b[~odd])
    return x


def _adjugate_t(x: Array) -> Array:
    """The transposed adjugate of each matrix, d det / dA, from the SVD A = U S V^T: det(U) det(V) U diag(product of
    the other singular values) V^T (no division, so accurate near singular matrices)."""
    xp = backend.get_array_module(x)
    u, s, vh = xp.linalg.svd(x)
    ones = xp.ones(s.shape[:-1] + (1,), dtype=s.dtype)
    before = xp.concatenate([ones, xp.cumprod(s[..., :-1], axis=-1)], axis=-1)
    after = xp.flip(xp.concatenate([ones, xp.cumprod(xp.flip(s, axis=-1)[..., :-1], axis=-1)], axis=-1), axis=-1)
    sign = xp.linalg.det(u) * xp.linalg.det(vh)
    return (u * (before * after)[..., None, :]) @ vh * sign[..., None, None]


def _lu_of_transpose(a: Array) -> tuple[Array, Array, Array, Array]:
    """(diagonal of U (k, n), sign of the row permutation (k,), lu, perm) of the LU factorization of each matrix
    A^T of ``a`` (k, n, n): torch's det and slogdet factor A^T (LAPACK reads the row-major A as its transpose), which
    for a matrix holding an inf or nan decides where the infs and nans go."""
    xp = backend.get_array_module(a)
    with ignore_fp_errors(xp):
        lu, perm, _ = lu_factor(mT(a))
    later = xp.triu(xp.ones((a.shape[-1],) * 2, dtype=bool), 1)
    inversions = ((perm[..., :, None] > perm[..., None, :]) & later).sum(axis=(-2, -1))  # its parity is perm's sign
    return xp.diagonal(lu, axis1=-2, axis2=-1), (1 - 2 * (inversions % 2)).astype(a.dtype), lu, perm


def det(A: Tensor) -> Tensor:
    """The determinant of each square matrix (..., n, n) -> (...); gradient g adj(A)^T, taken from the SVD (accurate
    near singular matrices and right at them, where torch's is 0), nan for a matrix holding a nan or inf (n > 1).
    LAPACK computes it, except for a matrix holding an inf or nan, which goes through ``_lu_of_transpose`` as
    torch's (numpy's LAPACK gave 0 for det([[0, inf], [nan, 1]]), torch nan, and nan for [[1, 1], [-inf, inf]],
    torch inf)."""
    _square("det", A)
    xp = A.xp
    with ignore_fp_errors(xp):  # (an inf or nan: replaced below)
        out = xp.asarray(xp.linalg.det(A._data))
    odd = ~xp.isfinite(A._data).all(axis=(-2, -1))
    if bool(odd.any()):
        diagonal, sign, _, _ = _lu_of_transpose(A._data[odd])
        with ignore_fp_errors(xp):
            out[odd] = sign * xp.prod(diagonal, axis=-1)

    def backward(g: Array) -> tuple[Array]:
        adjugate = _adjugate_t(xp.where(odd[..., None, None], 0, A._data))
        return (xp.where(~odd[..., None, None] | (A.shape[-1] == 1), g[..., None, None] * adjugate,
                         A.dtype.type("nan")),)  # 1 x 1: 1
    return record("det", out, (A,), backward)


def slogdet(a: Tensor) -> tuple[Tensor, Tensor]:
    """(sign, log |det|) of each square matrix (..., n, n); a matrix holding an inf or nan goes through
    ``_lu_of_transpose`` as torch's (sign 0 where a nan reaches U's diagonal: torch's sign(nan) is 0). The gradient
    of log |det| is g A^-T (the sign has none), nan throughout for a singular matrix (sign 0), where log |det| is -inf
    and torch's LU solve gives infs and nans."""
    _square("slogdet", a)
    xp = a.xp
    with ignore_fp_errors(xp):  # (an inf or nan: replaced below)
        sign, logabs = (xp.asarray(x) for x in xp.linalg.slogdet(a._data))
    odd = ~xp.isfinite(a._data).all(axis=(-2, -1))
    if bool(odd.any()):
        diagonal, parity, lu, perm = _lu_of_transpose(a._data[odd])
        with ignore_fp_errors(xp):
            sign[odd] = parity * xp.prod((diagonal > 0).astype(a.dtype) - (diagonal < 0), axis=-1)
            logabs[odd] = xp.sum(xp.log(xp.abs(diagonal)), axis=-1)

    def backward(g: Array) -> tuple[Array]:
        regular = (sign != 0)[..., None, None]
        with ignore_fp_errors(xp):  # (infinite entries)
            inverse_t = mT(xp.linalg.inv(xp.where(regular & ~odd[..., None, None], a._data,
                                                  xp.eye(a.shape[-1], dtype=a.dtype))))
            if bool(odd.any()):  # A^-T from the LU of A^T, as torch's
                inverse_t[odd] = lu_substitute(lu, perm, xp.broadcast_to(xp.eye(a.shape[-1], dtype=a.dtype), lu.shape))
            return (xp.where(regular, g[..., None, None] * inverse_t, g.dtype.type(math.nan)),)
    def sign_backward(g: Array) -> tuple[None]:  # the sign is piecewise constant: no gradient (None), as torch's
        return (None,)
    return record("slogdet_sign", sign, (a,), sign_backward), record("slogdet", logabs, (a,), backward)


def logdet(a: Tensor) -> Tensor:
    """log det of each square matrix (..., n, n) -> (...): log |det| where det > 0, nan where det < 0, -inf where
    it is 0, as torch; the gradient is slogdet's, g A^-T, and 0 where the result is that nan."""
    _square("logdet", a)
    sign, logabs = slogdet(a)
    return elementwise.where(elementwise.compare(sign, -1, "equal"), math.nan, logabs)


def solve(A: Tensor, B: Tensor, left: bool = True) -> Tensor:
    """X with A X = B (``left=False``: X A = B), A (..., n, n), B (..., n, k) or a vector batch (..., n) when B is
    1-D or has A's batch shape without a last dim, as torch reads it; batch dims broadcast. Gradients as torch's:
    gB = A^-T g (solved), gA = -gB X^T."""
    _square("solve", A)
    check_devices("solve", A, B)
    if B.dtype != A.dtype:
        raise DtypeError(f"solve: A and B must have one dtype (as in torch), got {A.dtype} and {B.dtype}")
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1])
    if not left:
        if vector or B.shape[-1] != A.shape[-1]:
            raise ArgumentError(f"solve: with left=False, B must be a (batch of) matrices (..., k, n) for X A = B (a "
                                f"vector B is refused, as torch: use B / A.squeeze(-1)), got shapes {A.shape} and "
                                f"{B.shape}")
        x = solve(movement.transpose(A, _swap_last(A.ndim)), movement.transpose(B, _swap_last(B.ndim)))
        return movement.transpose(x, _swap_last(x.ndim))  # (x has the broadcast batch dims)
    bm = B._data[..., None] if vector else B._data
    if bm.ndim < 2 or bm.shape[-2] != A.shape[-1]:
        raise ArgumentError(f"solve: B of shape {B.shape} does not fit A of shape {A.shape}")
    batch = broadcast_shape("solve", A.shape[:-2], bm.shape[:-2])
    xp = A.xp
    ab = xp.broadcast_to(A._data, batch + A.shape[-2:])
    try:
        x = _solve_arrays(ab, xp.broadcast_to(bm, batch + bm.shape[-2:]))
    except LinAlgError as e:
        raise SingularError(f"solve: a matrix A is singular ({e}); the system has no unique solution") from None

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        gm = g[..., None] if vector else g
        gb = _solve_arrays(ab, xp.broadcast_to(gm, batch + gm.shape[-2:]), transposed=True)
        ga = unbroadcast(-(gb @ mT(x)), A.shape) if A.requires_grad else None
        gb = unbroadcast(gb[..., 0] if vector else gb, B.shape) if B.requires_grad else None
        return ga, gb
    return record("solve", x[..., 0] if vector else x, (A, B), backward)


def _swap_last(ndim: int) -> tuple[int, ...]:
    return (*range(ndim - 2), ndim - 1, ndim - 2)
