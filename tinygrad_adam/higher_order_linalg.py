"""Differentiable backwards (see :mod:`higher_order`) of the factorizations and matrix functions: linalg.cholesky
(torch.cholesky, cholesky_ex), linalg.eigh / eigvalsh, linalg.svd / svdvals (so matrix_norm's ord 2 / -2 / "nuc"),
linalg.qr, linalg.lu_factor / lu (lu_factor_ex), linalg.solve_triangular (so lu_solve), cholesky_solve,
cholesky_inverse, linalg.lstsq (solution and residuals), linalg.matrix_exp, linalg.solve_ex and linalg.inv_ex.

Each is torch's derivative formula (FunctionsManual.cpp: cholesky_backward, linalg_eig_backward with
is_hermitian, svd_backward, linalg_qr_backward, lu_factor_ex_backward, linalg_solve_triangular_backward,
cholesky_solve_backward, cholesky_inverse_backward, linalg_lstsq_backward, linalg_matrix_exp_differential,
linalg_solve_backward) in Tensor ops on the outputs with their history, so its derivative is the one torch's
autograd takes of that formula (the gaps of repeated eigen / singular values give inf / nan, as torch's).

The factorizations with several outputs (eigh's L and V, svd's U, S and Vh, qr's Q and R) are one node per output,
whose closure keeps the arrays of the others: a formula that needs another output with its history records it
again as a *sibling* (:func:`sibling`): the same array, the same op of the same input, whose backward (first
order too) is the formula registered here, so the gradient flowing into it reaches the input as torch's does
through the saved output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .autograd import no_grad
from .higher_order import DIFFERENTIABLE, differentiable, saved, sum_to, swap_last
from .higher_order_tail import pinv_backward
from .ops import elementwise as ew
from .ops import factor, linalg, movement, spectral
from .tensor import Array, Tensor, constant, record


def sibling(op: str, arrays: tuple[Array, ...], index: int, parents: tuple[Tensor, ...]) -> Tensor:
    """``arrays[index]`` recorded as ``op`` of ``parents`` (an output of a factorization computed once), whose
    backward, first-order too, is the Tensor-op one registered for ``op``; it keeps ``arrays`` (all the outputs)
    and ``index`` (which one it is) as attributes of its closure."""
    def backward(h: Array) -> tuple[Array | None, ...]:
        with no_grad(), ew.ignore_fp_errors(out.xp):
            return tuple(None if t is None else t._data for t in DIFFERENTIABLE[op](out, constant(h)))
    backward.arrays, backward.index = arrays, index  # type: ignore[attr-defined]
    out = record(op, arrays[index], parents, backward)
    return out


def _sibling_info(node: Tensor) -> tuple[tuple[Array, ...], int] | None:
    arrays = getattr(node._backward, "arrays", None)
    return None if arrays is None else (arrays, node._backward.index)  # type: ignore[union-attr]


def _eye_mask(xp: Any, n: int) -> Tensor:
    return constant(xp.eye(n, dtype=bool))


def _gaps(w: Tensor) -> Tensor:
    """E[..., i, j] = w_j - w_i with ones on the diagonal (torch's Etmp / E), with w's history."""
    e = movement.unsqueeze(w, -2) - movement.unsqueeze(w, -1)
    return ew.where(_eye_mask(w.xp, w.shape[-1]), 1, e)


# ---------------------------------------------------------------------------------------------------- cholesky
@differentiable("slogdet_sign")
def slogdet_sign(node: Tensor, g: Tensor) -> tuple[None]:
    """No gradient (None, as torch's undefined one): slogdet's sign is piecewise constant."""
    return (None,)


@differentiable("cholesky")
def cholesky(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's cholesky_backward: P = tril(L^T gL), P = (P + tril(P, -1)^T) / 2, gA = L^-T P L^-1 as two triangular
    solves (U = L^T and gU^T for ``upper``)."""
    upper = saved(node, "upper")
    low, gl = (swap_last(node), swap_last(g)) if upper else (node, g)
    p = movement.tril(swap_last(low) @ gl)
    p = 0.5 * (p + swap_last(movement.tril(p, -1)))
    p = factor.solve_triangular(swap_last(low), p, True, True)
    return (factor.solve_triangular(low, p, False, False),)


# -------------------------------------------------------------------------------------------------------- eigh
def _eigh_arrays(node: Tensor) -> tuple[tuple[Array, Array], int]:
    """((w, v), which output ``node`` is: 0 the eigenvalues, 1 the eigenvectors)."""
    info = _sibling_info(node)
    if info is not None:
        return info  # type: ignore[return-value]
    if node.ndim == node._parents[0].ndim - 1:
        return (node._data, saved(node, "v")), 0
    return (saved(node, "w"), saved(node, "v")), 1


@differentiable("linalg_eigh", "linalg_eigvalsh")
def eigh(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's linalg_eig_backward (is_hermitian): V diag(gL) V^T for the eigenvalues, V (skew(V^T gV) / 2 / E) V^T
    (E_ij = L_j - L_i, a zero diagonal) for the eigenvectors."""
    a = node._parents[0]
    arrays, which = _eigh_arrays(node)
    v = node if which == 1 and node._op == "linalg_eigh" else sibling("linalg_eigh", arrays, 1, (a,))
    if which == 0:
        return (v @ (movement.unsqueeze(g, -1) * swap_last(v)),)
    w = sibling("linalg_eigh", arrays, 0, (a,))
    vhgv = swap_last(v) @ g
    inner = (0.5 * (vhgv - swap_last(vhgv))) / _gaps(w)
    inner = ew.where(_eye_mask(a.xp, a.shape[-1]), 0, inner)
    return (v @ (inner @ swap_last(v)),)


# --------------------------------------------------------------------------------------------------------- svd
def _svd_arrays(node: Tensor) -> tuple[tuple[Array, Array, Array], int]:
    """((U, S, Vh) reduced to k = min(m, n) columns / rows, which output ``node`` is: 0 U, 1 S, 2 Vh)."""
    info = _sibling_info(node)
    if info is not None:
        return info  # type: ignore[return-value]
    fn = node._backward
    name = getattr(fn, "__name__", "")
    if name in ("back_u", "back_vh"):
        return (saved(node, "uk"), saved(node, "s"), saved(node, "vhk")), 0 if name == "back_u" else 2
    return (saved(node, "u"), node._data, saved(node, "vh")), 1


def svd_backward(gu: Tensor | None, gs: Tensor | None, gvh: Tensor | None, u: Tensor, s: Tensor,
                 vh: Tensor) -> Tensor:
    """torch's svd_backward on the reduced U (..., m, k), S (..., k), Vh (..., k, n) with their history."""
    m, n = u.shape[-2], vh.shape[-1]
    if gu is None and gvh is None:
        return u @ (movement.unsqueeze(gs, -1) * vh) if m >= n else (u * movement.unsqueeze(gs, -2)) @ vh
    s2 = s * s
    e = _gaps(s2)
    if gu is not None:
        uhgu = swap_last(u) @ gu
        inner = (uhgu - swap_last(uhgu)) * movement.unsqueeze(s, -2) / e
    else:
        vhgv = vh @ swap_last(gvh)
        inner = movement.unsqueeze(s, -1) * (vhgv - swap_last(vhgv)) / e
    if gs is not None:
        inner = inner + linalg.diag_embed(gs)
    if m > n and gu is not None:
        gusinv = gu / movement.unsqueeze(s, -2)
        return (u @ inner + gusinv - u @ (swap_last(u) @ gusinv)) @ vh
    if m < n and gvh is not None:
        sinvgvh = gvh / movement.unsqueeze(s, -1)
        return u @ (inner @ vh + sinvgvh - (sinvgvh @ swap_last(vh)) @ vh)
    return u @ (inner @ vh) if m >= n else (u @ inner) @ vh


@differentiable("linalg_svd", "linalg_svdvals")
def svd(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's svd_backward (``svd_backward``) with the gradient of the one output ``node`` (U's and Vh's narrowed
    to k columns / rows when full), on the reduced outputs recorded again (siblings)."""
    a = node._parents[0]
    arrays, which = _svd_arrays(node)
    k = arrays[1].shape[-1]
    u, s, vh = (sibling("linalg_svd", arrays, i, (a,)) for i in range(3))
    grads: list[Tensor | None] = [None, None, None]
    grads[which] = (g if g.shape[-1] == k else movement.getitem(g, (..., slice(0, k)))) if which == 0 else \
        (g if g.shape[-2] == k else movement.getitem(g, (..., slice(0, k), slice(None)))) if which == 2 else g
    return (svd_backward(*grads, u, s, vh),)


# ---------------------------------------------------------------------------------------------------------- qr
def _qr_arrays(node: Tensor) -> tuple[tuple[Array, Array], int]:
    """((Q, R), which output ``node`` is: 0 Q, 1 R); torch's errors for mode "r" and "complete" with m > n."""
    info = _sibling_info(node)
    if info is not None:
        return info  # type: ignore[return-value]
    if getattr(node._backward, "__name__", "") == "refuse":
        node._backward(g=None)  # type: ignore[misc]  # raises torch's ValueError
    inner = saved(node, "backward")
    q, r = saved(node, "q", fn=inner), saved(node, "r", fn=inner)
    return (q, r), 0 if node._data is q else 1


def _copyltu(x: Tensor) -> Tensor:
    return movement.triu(x) + swap_last(movement.triu(x, 1))


def _qr_square_backward(q: Tensor, r: Tensor, gq: Tensor | None, gr: Tensor | None) -> Tensor:
    """m >= n: X R^T = gQ + Q copyltu(M), M = gR R^T - Q^T gQ (R^T lower: a triangular solve on the right)."""
    m_ = (gr @ swap_last(r)) if gr is not None else None
    if gq is not None:
        m_ = -(swap_last(q) @ gq) if m_ is None else m_ - swap_last(q) @ gq
    top = q @ _copyltu(m_)
    if gq is not None:
        top = top + gq
    return factor.solve_triangular(swap_last(r), top, False, False)


@differentiable("linalg_qr")
def qr(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's linalg_qr_backward: m >= n ``_qr_square_backward``; m < n, A = [X | Y], R = [U | V]: gY = Q gV and X's
    gradient with gQ + Y gV^T for Q's and gU for R's."""
    a = node._parents[0]
    arrays, which = _qr_arrays(node)
    q, r = (sibling("linalg_qr", arrays, i, (a,)) for i in range(2))
    gq, gr = (g, None) if which == 0 else (None, g)
    m, n = a.shape[-2:]
    if m >= n:
        return (_qr_square_backward(q, r, gq, gr),)
    if gr is None:  # Y's gradient: zeros
        gx = _qr_square_backward(q, movement.getitem(r, (..., slice(0, m))), gq, None)
        return (movement.concatenate([gx, constant(a.xp.zeros(a.shape[:-1] + (n - m,), g.dtype))], -1),)
    gv = movement.getitem(gr, (..., slice(m, None)))
    y = movement.getitem(a, (..., slice(m, None)))
    gx = _qr_square_backward(q, movement.getitem(r, (..., slice(0, m))), y @ swap_last(gv),
                             movement.getitem(gr, (..., slice(0, m))))
    return (movement.concatenate([gx, q @ gv], -1),)


# ---------------------------------------------------------------------------------------------------------- lu
@differentiable("lu_factor")
def lu_factor(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's lu_factor_ex_backward (linalg_lu_backward on L, U unpacked from the packed LU with its history; square,
    wide and tall in one form): with k = min(m, n), L = [L1; L2], U = [U1, U2], gL, gU g's strictly lower and upper
    parts, P [L1^-T [G U1^-T, gU2]; gL2 U1^-T] with G = tril(L1^T gL1 - gU2 U2^T, -1) + triu(gU1 U1^T - L2^T gL2)."""
    a = node._parents[0]
    xp, (m, n) = a.xp, a.shape[-2:]
    k = min(m, n)
    perm = saved(node, "perm")

    def block(t: Tensor, rows: slice, cols: slice) -> Tensor:
        return movement.getitem(t, (..., rows, cols))
    head, tail, everything = slice(0, k), slice(k, None), slice(None)
    lower = movement.tril(block(node, everything, head), -1) + constant(xp.eye(m, k, dtype=node.dtype))
    upper = movement.triu(block(node, head, everything))
    gl, gu = movement.tril(block(g, everything, head), -1), movement.triu(block(g, head, everything))
    l1, l2, u1, u2 = block(lower, head, everything), block(lower, tail, everything), block(upper, everything, head), \
        block(upper, everything, tail)
    gl1, gl2, gu1, gu2 = block(gl, head, everything), block(gl, tail, everything), block(gu, everything, head), \
        block(gu, everything, tail)
    inner = movement.tril(swap_last(l1) @ gl1 - gu2 @ swap_last(u2), -1) + \
        movement.triu(gu1 @ swap_last(u1) - swap_last(l2) @ gl2)
    u1t = swap_last(u1)
    top = factor.solve_triangular(swap_last(l1), movement.concatenate(
        [factor.solve_triangular(u1t, inner, False, False), gu2], -1), True, True, True)
    bottom = factor.solve_triangular(u1t, gl2, False, False)  # (tall A; wide: no rows)
    bottom = movement.concatenate([bottom, constant(xp.zeros(bottom.shape[:-1] + (n - k,), g.dtype))], -1)
    eye = xp.broadcast_to(xp.eye(m, dtype=g.dtype), perm.shape[:-1] + (m, m))
    return (constant(xp.take_along_axis(eye, perm[..., None, :], axis=-1)) @ movement.concatenate([top, bottom], -2),)


# ------------------------------------------------------------------------------------------- triangular solves
@differentiable("solve_triangular")
def solve_triangular(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """torch's linalg_solve_triangular_backward: gB = solve_triangular(A^T, g) (the other triangle), gA = -gB X^T
    (left=False: -X^T gB) on A's triangle (strictly, for unitriangular), each summed back over broadcast dims."""
    a, b = node._parents
    upper, left, unit = saved(node, "upper"), saved(node, "left"), saved(node, "unitriangular")
    gb = factor.solve_triangular(swap_last(a), g, not upper, left, unit)
    ga = None
    if a.requires_grad:
        ga = -(gb @ swap_last(node)) if left else -(swap_last(node) @ gb)
        ga = sum_to(movement.triu(ga, int(unit)) if upper else movement.tril(ga, -int(unit)), a.shape)
    return ga, sum_to(gb, b.shape) if b.requires_grad else None


@differentiable("cholesky_solve")
def cholesky_solve(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """torch's cholesky_solve_backward: gB = cholesky_solve(g, L), C = gB X^T + X gB^T, gL = -C L (-L C for
    ``upper``; not restricted to a triangle, as torch's)."""
    b, low = node._parents
    upper = saved(node, "upper")
    gb = factor.cholesky_solve(g, low, upper)
    gl = None
    if low.requires_grad:
        c = gb @ swap_last(node)
        c = c + swap_last(c)
        gl = sum_to(-(low @ c) if upper else -(c @ low), low.shape)
    return sum_to(gb, b.shape) if b.requires_grad else None, gl


@differentiable("cholesky_inverse")
def cholesky_inverse(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's cholesky_inverse_backward: C = out (g + g^T) out on the output with its history, gL = -C L (-L C
    for ``upper``)."""
    low = node._parents[0]
    c = node @ ((g + swap_last(g)) @ node)
    return (-(low @ c) if saved(node, "upper") else -(c @ low),)


# ------------------------------------------------------------------------------------------------------ lstsq
@differentiable("linalg_lstsq")
def lstsq(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """torch's linalg_lstsq_backward for the solution X: gA = pinv_backward(gX B^T, pinv(A), A), gB = pinv(A)^T gX
    (a vector B / X as a column); an empty problem's zeros (its residuals': 2 B gL for B). The residuals': gA =
    2 (R gL) X^T, gB = -2 R gL with R = A X - B (torch's, on X = pinv(A) B with its history); none where no
    residuals were computed."""
    a, b = node._parents
    name = getattr(node._backward, "__name__", "")
    if name == "zero":
        return tuple(constant(a.xp.zeros(p.shape, g.dtype)) if p.requires_grad else None for p in (a, b))
    if name == "none":  # residuals that were not computed (spectral._no_residuals)
        return None, None
    vector = saved(node, "vector")
    bm = movement.unsqueeze(b, -1) if vector else b
    if name == "empty_residuals":  # an empty problem's |B|^2 (zeros for "gels"): 2 B gL for B, as torch's
        gb = sum_to(2 * movement.unsqueeze(g, -2) * bm, bm.shape) if b.requires_grad else None
        return (constant(a.xp.zeros(a.shape, g.dtype)) if a.requires_grad else None,
                None if gb is None else movement.reshape(gb, b.shape) if vector else gb)
    p = spectral.pinv(a)
    if name == "back_residuals":  # the solution with its history is pinv(A) B (A has full column rank here)
        x = p @ bm
        gr = (a @ x - bm) * movement.unsqueeze(g, -2)
        ga = sum_to(2 * (gr @ swap_last(x)), a.shape) if a.requires_grad else None
        gb = sum_to(-2 * gr, bm.shape) if b.requires_grad else None
        return ga, None if gb is None else movement.reshape(gb, b.shape) if vector else gb
    gm = movement.unsqueeze(g, -1) if vector else g
    ga = sum_to(pinv_backward(gm @ swap_last(bm), p, a), a.shape) if a.requires_grad else None
    gb = None
    if b.requires_grad:
        gb = sum_to(swap_last(p) @ gm, bm.shape)
        gb = movement.reshape(gb, b.shape) if vector else gb
    return ga, gb


@differentiable("inv_ex")
def inv_ex(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's (inv's): -A^-T (g A^-T), on the inverse's history
    inverse_t = swap_last(node)
    return (-(inverse_t @ (g @ inverse_t)),)


# ------------------------------------------------------------------------------------------------- matrix_exp
@differentiable("matrix_exp")
def matrix_exp(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's linalg_matrix_exp_differential (adjoint): the upper right block of exp([[A^T, g], [0, A^T]])."""
    a = node._parents[0]
    n = a.shape[-1]
    at = swap_last(a)
    zeros = constant(a.xp.zeros(a.shape, g.dtype))
    block = movement.concatenate([movement.concatenate([at, g], -1), movement.concatenate([zeros, at], -1)], -2)
    return (movement.getitem(factor.matrix_exp(block), (..., slice(0, n), slice(n, None))),)


# --------------------------------------------------------------------------------------------------- solve_ex
@differentiable("solve_ex")
def solve_ex(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """torch's linalg_solve_backward under create_graph: gB = solve(A^T, g, left), gA = -gB X^T (left=False:
    -X^T gB), a vector B / X as a column, each summed back over broadcast batch dims."""
    a, b = node._parents
    left, vector = saved(node, "left"), saved(node, "vector")
    column: Callable[[Tensor], Tensor] = (lambda t: movement.unsqueeze(t, -1)) if vector else (lambda t: t)
    gb = linalg.solve(swap_last(a), column(g), left=left)
    ga = None
    if a.requires_grad:
        x = column(node)
        ga = sum_to(-(gb @ swap_last(x)) if left else -(swap_last(x) @ gb), a.shape)
    gb_out = None
    if b.requires_grad:
        gb_out = sum_to(movement.reshape(gb, gb.shape[:-1]) if vector else gb, b.shape)
    return ga, gb_out
