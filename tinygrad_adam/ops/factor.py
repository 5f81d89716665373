"""torch.linalg's factorizations and matrix functions, batched over leading dims: cholesky (with its ``info``),
solve_triangular, cholesky_solve, cholesky_inverse and matrix_exp, each with torch's gradient; and ``lu_info``, the
pivots of an LU factorization behind inv_ex / solve_ex's ``info``.

Triangular solves are substitutions in the array module (row by row, vectorised over the batch and the right-hand
sides), so a zero pivot gives infs and nans as LAPACK's trsm does, and a GPU runs the same code. The factorization
checks torch makes (a non positive-definite matrix, an exactly singular one) raise :class:`LinAlgError` with
torch's message, or come back as ``info`` from the ``_ex`` variants.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy

from .. import backend
from ..tensor import Array, Tensor, check_devices, record
from .elementwise import broadcast_shape, ignore_fp_errors, mT, unbroadcast


class LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError: a factorization failed (a matrix not positive-definite, or singular)."""


class ArgumentError(ValueError, RuntimeError):
    """A shape or argument torch's linalg functions refuse: torch raises a RuntimeError; also a ValueError, what they
    raised before, so callers catching that keep working."""


class DtypeError(TypeError, RuntimeError):
    """A dtype torch's linalg functions refuse (an integer, bool or float16 input, two inputs of different dtypes):
    torch raises a RuntimeError; also a TypeError, what they raised before, so callers catching that keep working."""


class KernelDtypeError(DtypeError, NotImplementedError):
    """A dtype an op has no kernel for (a bool or integer input to a floating-only op, a float to a bitwise one):
    torch raises NotImplementedError, or a RuntimeError from its in-place / out= forms (NotImplementedError is
    one); also a TypeError, what ours raised before."""


class DivisionByZeroError(ZeroDivisionError, RuntimeError):
    """An integer division (``//``, ``%``, fmod) by zero: torch raises RuntimeError; also a ZeroDivisionError, what
    ours raised before."""


class SingularError(LinAlgError, ValueError):
    """What inv / solve raise for a singular matrix: torch.linalg.LinAlgError (a RuntimeError), as torch's; also a
    ValueError, what they raised before, so callers catching that keep working."""


def matrices(op: str, a: Tensor, square: bool = True) -> None:
    """The checks torch's factorizations make: a float32 / float64 batch of (square) matrices (..., n, n)."""
    if a.dtype not in (numpy.float32, numpy.float64):
        raise DtypeError(f"{op}: expects a float32 or float64 tensor (as torch's factorizations), got {a.dtype}; "
                        f"convert with .float() or .double()")
    if a.ndim < 2:
        raise ArgumentError(f"{op}: the input must have at least 2 dims (..., n, n), got shape {a.shape}")
    if square and a.shape[-1] != a.shape[-2]:
        raise ArgumentError(f"{op}: needs batches of square matrices, got {a.shape[-2]} by {a.shape[-1]} matrices")


def _same_dtype(op: str, a: Tensor, b: Tensor) -> None:
    check_devices(op, a, b)
    if a.dtype != b.dtype:
        raise DtypeError(f"{op}: both inputs must have one dtype (as in torch), got {a.dtype} and {b.dtype}")


def check_info(op: str, info: Array, problem: Callable[[int], str]) -> None:
    """Raise LinAlgError (torch's class) for the first failed matrix (``info`` non-zero), naming it by its flat batch
    index when there is a batch: ``"{op}: batch entry 3: {problem(info)}"``."""
    flat = backend.to_numpy(info).reshape(-1)
    bad = numpy.flatnonzero(flat)
    if bad.size:
        batch = f"batch entry {bad[0]}: " if info.ndim else ""
        raise LinAlgError(f"{op}: {batch}{problem(int(flat[bad[0]]))}")


def not_positive_definite(order: int) -> str:
    return f"the input is not positive-definite (the factorization failed at its leading block of size {order})"


def singular_diagonal(i: int) -> str:
    return f"the input is singular (its factor's diagonal entry {i} vanishes), so it has no inverse"


# ---------------------------------------------------------------------------------------------- triangular solves
def trsolve(a: Array, b: Array, lower: bool, unit: bool = False) -> Array:
    """X with A X = B, A (..., n, n) triangular (only its ``lower`` or upper triangle read; ``unit``: its diagonal
    taken as ones), B (..., n, k), batch dims broadcast: substitution row by row, with IEEE division as LAPACK's
    trsm (a zero pivot gives inf / nan, no error)."""
    xp = backend.get_array_module(a)
    n = a.shape[-1]
    x = xp.zeros(broadcast_shape("solve_triangular", a.shape[:-2], b.shape[:-2]) + b.shape[-2:], dtype=b.dtype)
    with ignore_fp_errors(xp):
        for i in range(n) if lower else range(n - 1, -1, -1):
            done = slice(0, i) if lower else slice(i + 1, n)
            r = b[..., i, :] - (a[..., i:i + 1, done] @ x[..., done, :])[..., 0, :]
            x[..., i, :] = r if unit else r / a[..., i, i, None]
    return x


def _triangular(a: Array, b: Array, upper: bool, left: bool, unit: bool) -> Array:
    """torch's solve_triangular on arrays: A X = B (``left``) or X A = B."""
    if left:
        return trsolve(a, b, not upper, unit)
    return mT(trsolve(mT(a), mT(b), upper, unit))  # X A = B is A^T X^T = B^T, the other triangle


def _triangle(x: Array, upper: bool, unit: bool) -> Array:
    xp = backend.get_array_module(x)
    return xp.triu(x, int(unit)) if upper else xp.tril(x, -int(unit))


def solve_triangular(a: Tensor, b: Tensor, upper: bool, left: bool = True, unitriangular: bool = False) -> Tensor:
    """X with A X = B (``left=False``: X A = B) for A (..., n, n) triangular, only its ``upper`` or lower triangle
    read (``unitriangular``: ones on its diagonal assumed), B (..., n, k) ((..., k, n) with left=False), batch dims
    broadcast; no check for zeros on the diagonal (infs and nans come out, as in torch). Gradients as torch's:
    gB = solve_triangular(A^T, g) and gA = -gB X^T (-X^T gB for left=False) on A's triangle."""
    op = "linalg.solve_triangular"
    matrices(op, a)
    _same_dtype(op, a, b)
    if b.ndim < 2:
        raise ArgumentError(f"{op}: B must have at least 2 dims (..., n, k), got shape {b.shape}")
    n = a.shape[-1]
    if (b.shape[-2] if left else b.shape[-1]) != n:
        raise ArgumentError(f"{op}: A is {n}x{n} and B is {b.shape[-2]}x{b.shape[-1]}, which do not fit "
                            f"{'AX' if left else 'XA'} = B")
    x = _triangular(a._data, b._data, upper, left, unitriangular)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        gb = _triangular(mT(a._data), g, not upper, left, unitriangular)
        ga = None
        if a.requires_grad:
            ga = unbroadcast(_triangle(-(gb @ mT(x) if left else mT(x) @ gb), upper, unitriangular), a.shape)
        return ga, unbroadcast(gb, b.shape) if b.requires_grad else None
    return record("solve_triangular", x, (a, b), backward)


# ---------------------------------------------------------------------------------------------- cholesky
def _cholesky_columns(s: Array) -> tuple[Array, Array]:
    """(L, info) of symmetric matrices s (..., n, n), column by column: info is the order of the first leading minor
    that is not positive-definite (a pivot <= 0 or nan), 0 where the factorization completes."""
    xp = backend.get_array_module(s)
    n = s.shape[-1]
    low, info = xp.zeros_like(s), xp.zeros(s.shape[:-2], dtype=numpy.int32)
    with ignore_fp_errors(xp):
        for j in range(n):
            col = s[..., j:, j] - (low[..., j:, :j] @ low[..., j, :j, None])[..., 0]
            pivot = col[..., 0]
            info = xp.where((info == 0) & ~(pivot > 0), numpy.int32(j + 1), info)
            root = xp.sqrt(pivot)
            low[..., j, j] = root  # (not pivot / root: inf for an infinite pivot, as LAPACK)
            low[..., j + 1:, j] = col[..., 1:] / root[..., None]
    return low, info


def cholesky(a: Tensor, upper: bool = False, op: str = "linalg.cholesky") -> tuple[Tensor, Array]:
    """(L, info): L lower triangular with A = L L^T (``upper``: U = L^T, A = U^T U), from A's lower (upper) triangle
    only, as LAPACK reads it; info (..., int32) is the order of the first leading minor that is not
    positive-definite, 0 where it succeeded, and such a matrix's factor is all nan. The gradient is torch's: with
    P = tril(L^T gL), its diagonal halved and mirrored to be symmetric, gA = L^-T P L^-1."""
    matrices(op, a)
    xp = a.xp
    low = mT(a._data) if upper else a._data  # the triangle read, as a lower one
    s = xp.tril(low) + mT(xp.tril(low, -1))
    try:
        fac = xp.linalg.cholesky(s)
        diag = backend.diagonal(fac, 0, -2, -1)
        ok = bool(xp.all(diag > 0)) and bool(xp.isfinite(fac).all())
    except Exception:  # numpy's LinAlgError: find which matrices failed, and where
        ok = False
    if ok:
        info = xp.zeros(a.shape[:-2], dtype=numpy.int32)
    else:
        fac, info = _cholesky_columns(s)
        fac = xp.where((info != 0)[..., None, None], a.dtype.type(math.nan), fac)
    out = mT(fac) if upper else fac

    def backward(g: Array) -> tuple[Array]:
        p = xp.tril(mT(fac) @ (mT(g) if upper else g))
        p = (p + mT(xp.tril(p, -1))) * g.dtype.type(0.5)
        return (mT(trsolve(mT(fac), mT(trsolve(mT(fac), p, lower=False)), lower=False)),)
    return record("cholesky", out, (a,), backward), info


def _lower_factor(l: Tensor, upper: bool) -> Array:
    """The factor's triangle as a lower one, L with A = L L^T (from U with A = U^T U when ``upper``)."""
    return mT(l._data) if upper else l._data


def cholesky_solve(b: Tensor, l: Tensor, upper: bool = False) -> Tensor:
    """X with (L L^T) X = B, given the Cholesky factor L (..., n, n) (``upper``: U with A = U^T U), only its triangle
    read, and B (..., n, k); batch dims broadcast. Gradients as torch's: gB = cholesky_solve(g, L) and, with
    C = gB X^T + X gB^T, gL = -C L (-U C)."""
    op = "cholesky_solve"
    matrices(op, l)
    _same_dtype(op, b, l)
    if b.ndim < 2:
        raise ArgumentError(f"{op}: B needs 2 or more dims (..., n, k), not shape {b.shape}")
    if b.shape[-2] != l.shape[-1]:
        raise ArgumentError(f"{op}: incompatible shapes of B {b.shape} and the factor {l.shape} (B needs "
                            f"{l.shape[-1]} rows)")
    low = _lower_factor(l, upper)

    def solve(rhs: Array) -> Array:
        return trsolve(mT(low), trsolve(low, rhs, lower=True), lower=False)
    x = solve(b._data)

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        gb = solve(g)
        gl = None
        if l.requires_grad:
            c = gb @ mT(x)
            c = c + mT(c)
            gl = unbroadcast(-(l._data @ c) if upper else -(c @ l._data), l.shape)
        return unbroadcast(gb, b.shape) if b.requires_grad else None, gl
    return record("cholesky_solve", x, (b, l), backward)


def cholesky_inverse(l: Tensor, upper: bool = False) -> Tensor:
    """(L L^T)^-1 from the Cholesky factor L (..., n, n) (``upper``: (U^T U)^-1), only its triangle read; a zero on
    its diagonal raises LinAlgError, as torch's. The gradient is torch's: with C = out (g + g^T) out,
    gL = -C L (-U C)."""
    op = "cholesky_inverse"
    matrices(op, l)
    xp = l.xp
    low = _lower_factor(l, upper)
    n = l.shape[-1]
    zero = backend.diagonal(low, 0, -2, -1) == 0
    first = xp.where(zero.any(axis=-1), xp.argmax(zero, axis=-1) + 1, 0) if n else xp.zeros(l.shape[:-2], int)
    check_info(op, first, singular_diagonal)
    inv_low = trsolve(low, xp.broadcast_to(xp.eye(n, dtype=l.dtype), low.shape), lower=True)
    out = mT(inv_low) @ inv_low

    def backward(g: Array) -> tuple[Array]:
        c = out @ (g + mT(g)) @ out
        return (-(l._data @ c) if upper else -(c @ l._data),)
    return record("cholesky_inverse", out, (l,), backward)


# ---------------------------------------------------------------------------------------------- matrix_exp
# Higham (2005), "The scaling and squaring method for the matrix exponential revisited": the [13/13] Pade
# approximant's coefficients, and the 1-norm up to which it is accurate to double precision.
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0, 129060195264000.0,
           10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def expm(a: Array) -> Array:
    """exp of each square matrix (..., n, n): scaled by 2^-s to 1-norm <= theta_13, the [13/13] Pade approximant,
    squared back s times (s per matrix); a matrix holding a nan or inf gives all nan, as torch's, except a 1 x 1
    one, whose exponential is exp's (exp(inf) = inf, exp(-inf) = 0), also as torch's."""
    xp = backend.get_array_module(a)
    n = a.shape[-1]
    if a.size == 0:
        return a.copy()
    if n == 1:
        with ignore_fp_errors(xp):
            return xp.exp(a)
    finite = xp.isfinite(a).all(axis=(-2, -1))
    a = xp.where(finite[..., None, None], a, a.dtype.type(0))
    norm = xp.abs(a).sum(axis=-2).max(axis=-1)
    with ignore_fp_errors(xp):
        s = xp.maximum(xp.ceil(xp.log2(norm / _THETA13)), 0)
    s = xp.where(norm > 0, s, 0).astype(numpy.int64)
    x = a * xp.exp2(-s.astype(a.dtype))[..., None, None]
    b = [a.dtype.type(c) for c in _PADE13]
    eye = xp.eye(n, dtype=a.dtype)
    x2 = x @ x
    x4 = x2 @ x2
    x6 = x4 @ x2
    with ignore_fp_errors(xp):
        u = x @ (x6 @ (b[13] * x6 + b[11] * x4 + b[9] * x2) + b[7] * x6 + b[5] * x4 + b[3] * x2 + b[1] * eye)
        v = x6 @ (b[12] * x6 + b[10] * x4 + b[8] * x2) + b[6] * x6 + b[4] * x4 + b[2] * x2 + b[0] * eye
        r = xp.linalg.solve(v - u, v + u)
        for k in range(int(s.max()) if s.size else 0):
            r = xp.where((k < s)[..., None, None], r @ r, r)
    return xp.where(finite[..., None, None], r, a.dtype.type(math.nan))


def matrix_exp(a: Tensor) -> Tensor:
    """The matrix exponential of each square matrix (..., n, n). The gradient is torch's: the upper right block of
    exp([[A^T, g], [0, A^T]])."""
    matrices("linalg.matrix_exp", a)
    out = expm(a._data)

    def backward(g: Array) -> tuple[Array]:
        n, xp = a.shape[-1], a.xp
        at = mT(a._data)
        block = xp.concatenate([xp.concatenate([at, g], axis=-1),
                                xp.concatenate([xp.zeros_like(at), at], axis=-1)], axis=-2)
        return (expm(block)[..., :n, n:],)
    return record("matrix_exp", out, (a,), backward)


# ---------------------------------------------------------------------------------------------- LU: inv_ex, solve_ex
def lu_factor(a: Array) -> tuple[Array, Array, Array]:
    """LAPACK getf2's LU factorization with partial pivoting of each matrix (..., m, n): (lu, perm, info),
    A[perm] = L U with U (k, n) and the unit lower L's (m, k) multipliers packed in lu (..., m, n), k = min(m, n),
    the row order perm (..., m), and info (..., int32) the 1-based index of the first exactly-zero pivot (a square
    A is singular), 0 where there is none."""
    xp = backend.get_array_module(a)
    batch, (m, n) = a.shape[:-2], a.shape[-2:]
    if a.size == 0:
        return a.copy(), xp.broadcast_to(xp.arange(m), batch + (m,)).copy(), xp.zeros(batch, dtype=numpy.int32)
    u = a.reshape((-1, m, n)).copy()
    rows = xp.arange(u.shape[0])
    perm = xp.array(xp.broadcast_to(xp.arange(m), (u.shape[0], m)))
    info = xp.zeros(u.shape[0], dtype=numpy.int32)
    with ignore_fp_errors(xp):
        for j in range(min(m, n)):
            # BLAS's i?amax, as torch's LAPACK: the first largest |x|, where a nan is passed over unless it comes
            # first (its scan starts from the first element and takes only a strictly larger one)
            col = xp.abs(u[:, j:, j])
            largest = xp.argmax(xp.where(xp.isnan(col), col.dtype.type(-1), col), axis=1)
            p = xp.where(xp.isnan(col[:, 0]), 0, largest) + j
            for x in (u, perm):  # swap rows j and p
                pivot_row = x[rows, p].copy()
                x[rows, p] = x[:, j]
                x[:, j] = pivot_row
            pivot = u[:, j, j]
            info = xp.where((info == 0) & (pivot == 0), numpy.int32(j + 1), info)
            # getf2 scales by the reciprocal (unless that overflows): the same roundings, so the same exact zeros as
            # torch's in most cases (only a singular matrix has them, and rounding may decide which)
            safe = xp.where(pivot == 0, pivot.dtype.type(1), pivot)[:, None]
            column = u[:, j + 1:, j]
            u[:, j + 1:, j] = xp.where(xp.abs(safe) < numpy.finfo(u.dtype).tiny, column / safe, column * (1 / safe))
            u[:, j + 1:, j + 1:] -= u[:, j + 1:, j, None] * u[:, j, None, j + 1:]
    return u.reshape(a.shape), perm.reshape(batch + (m,)), info.reshape(batch)


def lu(a: Tensor) -> tuple[Tensor, Array, Array]:
    """(LU, perm, info): ``lu_factor`` of each float matrix (..., m, n) as a differentiable op. With k = min(m, n),
    L = [L1; L2] (L1 k x k), U = [U1, U2] (U1 k x k) and gL, gU the gradient's strictly lower and upper parts,
    torch's gradient: P [L1^-T G U1^-T, L1^-T gU2; gL2 U1^-T] with G = tril(L1^T gL1 - gU2 U2^T, -1)
    + triu(gU1 U1^T - L2^T gL2) (exact where A's leading k x k block is invertible)."""
    matrices("linalg.lu_factor", a, square=False)
    xp = a.xp
    packed, perm, info = lu_factor(a._data)
    k = min(a.shape[-2:])

    def backward(g: Array) -> tuple[Array]:
        lower = xp.tril(packed[..., :k], -1) + xp.eye(a.shape[-2], k, dtype=a.dtype)
        upper = xp.triu(packed[..., :k, :])
        gl, gu = xp.tril(g[..., :k], -1), xp.triu(g[..., :k, :])
        l1, l2, u1, u2 = lower[..., :k, :], lower[..., k:, :], upper[..., :k], upper[..., k:]
        gl1, gl2, gu1, gu2 = gl[..., :k, :], gl[..., k:, :], gu[..., :k], gu[..., k:]
        inner = xp.tril(mT(l1) @ gl1 - gu2 @ mT(u2), -1) + xp.triu(gu1 @ mT(u1) - mT(l2) @ gl2)
        with ignore_fp_errors(xp):
            top = trsolve(mT(l1), xp.concatenate([mT(trsolve(u1, mT(inner), lower=False)), gu2], axis=-1),
                          lower=False, unit=True)  # L1^-T [G U1^-T, gU2]
            bottom = mT(trsolve(u1, mT(gl2), lower=False))  # gL2 U1^-T (tall A; wide: no rows)
        bottom = xp.concatenate([bottom, xp.zeros(bottom.shape[:-1] + gu2.shape[-1:], dtype=g.dtype)], axis=-1)
        block = xp.concatenate([top, bottom], axis=-2)
        return (xp.take_along_axis(block, xp.argsort(perm, axis=-1)[..., None], axis=-2),)  # P block
    return record("lu_factor", packed, (a,), backward), perm, info


def lu_substitute(lu: Array, perm: Array, b: Array, transposed: bool = False) -> Array:
    """X with A X = B (``transposed``: A^T X = B) from A's ``lu_factor``; B (..., n, k), batch dims broadcast."""
    xp = backend.get_array_module(b)
    batch = broadcast_shape("solve", lu.shape[:-2], b.shape[:-2])
    lu, b = xp.broadcast_to(lu, batch + lu.shape[-2:]), xp.broadcast_to(b, batch + b.shape[-2:])
    perm = xp.broadcast_to(perm, batch + perm.shape[-1:])[..., None]
    if not transposed:  # L U X = B[perm]
        return trsolve(lu, trsolve(lu, xp.take_along_axis(b, perm, axis=-2), lower=True, unit=True), lower=False)
    w = trsolve(mT(lu), trsolve(mT(lu), b, lower=True), lower=False, unit=True)  # U^T L^T X[perm] = B
    return xp.take_along_axis(w, xp.argsort(perm, axis=-2), axis=-2)


def _failed(info: Array) -> Array:
    """(..., 1, 1): where the result is all nan: a singular matrix (info != 0; torch's holds what LAPACK left). A
    matrix holding a nan or inf gets the substitutions' infs and nans, torch's pattern (its LU pivots and divides
    as this one)."""
    return (info != 0)[..., None, None]


def inv_ex(a: Tensor) -> tuple[Tensor, Array]:
    """(inverse, info) of each square matrix (..., n, n), from its LU factorization: info as ``lu_factor``'s, and a
    singular matrix's inverse all nan (one holding a nan or inf: torch's infs and nans). Backward -A^-T g A^-T."""
    matrices("linalg.inv_ex", a)
    xp = a.xp
    lu, perm, info = lu_factor(a._data)
    out = lu_substitute(lu, perm, xp.broadcast_to(xp.eye(a.shape[-1], dtype=a.dtype), a.shape))
    out = xp.where(_failed(info), a.dtype.type(math.nan), out)
    return record("inv_ex", out, (a,), lambda g: (-(mT(out) @ g @ mT(out)),)), info


def solve_ex(a: Tensor, b: Tensor, left: bool = True) -> tuple[Tensor, Array]:
    """(X, info): X with A X = B (``left=False``: X A = B) from A's LU factorization, A (..., n, n), B (..., n, k) or
    a vector batch (..., n) when B is 1-D or has A's batch shape without a last dim (left only, as torch), batch dims
    broadcast; info (A's batch shape) as ``lu_factor``'s, and X all nan for a singular A (one holding a nan or inf:
    torch's infs and nans). Gradients as torch's: gB = A^-T g, gA = -gB X^T (left=False: gB = g A^-T, gA = -X^T gB)."""
    op = "linalg.solve_ex"
    matrices(op, a)
    _same_dtype(op, a, b)
    n = a.shape[-1]
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    if not left and vector:
        raise ArgumentError(f"{op}: a vector B is not supported with left=False (as torch); use B / A.squeeze(-1)")
    bm = b._data[..., None] if vector else b._data
    if bm.ndim < 2 or (bm.shape[-2] if left else bm.shape[-1]) != n:
        raise ArgumentError(f"{op}: incompatible shapes of A {a.shape} and B {b.shape} for the equation "
                            f"{'AX' if left else 'XA'} = B")
    xp = a.xp
    lu, perm, info = lu_factor(a._data)
    failed = _failed(info)

    def solve(rhs: Array, transposed: bool) -> Array:  # A X = rhs (A^T X = rhs), or X A = rhs (X A^T = rhs)
        if left:
            return lu_substitute(lu, perm, rhs, transposed)
        return mT(lu_substitute(lu, perm, mT(rhs), not transposed))
    x = xp.where(failed, a.dtype.type(math.nan), solve(bm, False))

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        gm = g[..., None] if vector else g
        gb = solve(gm, True)
        ga = unbroadcast(-(gb @ mT(x) if left else mT(x) @ gb), a.shape) if a.requires_grad else None
        return ga, unbroadcast(gb[..., 0] if vector else gb, b.shape) if b.requires_grad else None
    return record("solve_ex", x[..., 0] if vector else x, (a, b), backward), info
