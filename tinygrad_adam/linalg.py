"""``tinygrad_adam.linalg``, as ``torch.linalg``: vector_norm, matrix_norm, norm, inv, det, slogdet, solve.

The norms are built from the differentiable ops (``statistics.norm`` for p-norms, amax / amin, sums), so their
gradients are those ops'; inv, det, slogdet and solve are ``ops.linalg``'s.

Spectral / orthogonal family (``ops.spectral``, torch's gradients): qr, eigh, eigvalsh, svd, svdvals, pinv, lstsq,
householder_product; built on them: matrix_rank, cond, and matrix_norm's ord 2 / -2 / "nuc".

Factorizations and matrix functions (``ops.factor``, torch's gradients): cholesky, cholesky_ex, solve_triangular,
matrix_exp; inv_ex and solve_ex (LAPACK's ``info``); LinAlgError, what a failed factorization raises; built from
other ops: matrix_power, multi_dot, vecdot, diagonal, cross, vander.

LU (``ops.factor.lu``, torch's gradient, rectangular too): lu_factor, lu_factor_ex, lu; lu_solve, built from
solve_triangular.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy

from . import backend
from .ops import elementwise, factor, index, movement, reduce, spectral, statistics, unary
from .ops.factor import ArgumentError, DtypeError, LinAlgError
from .ops.linalg import det, inv, matmul, solve
from .ops.linalg import slogdet as _slogdet
from .out_arg import write_out
from .tensor import Tensor, record

__all__ = ["det", "inv", "matrix_norm", "norm", "slogdet", "solve", "vector_norm"]
__all__ += ["LinAlgError", "cholesky", "cholesky_ex", "cross", "diagonal", "inv_ex", "matrix_exp", "matrix_power",
            "multi_dot", "solve_ex", "solve_triangular", "vander", "vecdot"]
__all__ += ["lu", "lu_factor", "lu_factor_ex", "lu_solve"]
__all__ += ["ldl_factor", "ldl_factor_ex", "ldl_solve", "tensorinv", "tensorsolve"]
__all__ += ["cond", "eigh", "eigvalsh", "householder_product", "lstsq", "matrix_rank", "pinv", "qr", "svd", "svdvals"]


class SignLogAbsDet(NamedTuple):
    """What ``slogdet`` returns (torch.return_types.slogdet)."""

    sign: Tensor
    logabsdet: Tensor


def slogdet(A: Tensor) -> SignLogAbsDet:
    """(sign, log |det|) of each square matrix (..., n, n)."""
    return SignLogAbsDet(*_slogdet(A))


def _floating_input(op: str, x: Tensor, dtype: Any) -> Tensor:
    """``x`` checked to be floating (torch refuses an integer / bool input even with a floating ``dtype=``), then
    cast to ``dtype`` (a widening only, as torch)."""
    if x.dtype.kind != "f":
        raise DtypeError(f"linalg.{op}: expects a floating tensor (as in torch), got {x.dtype}; convert with "
                        f".float() first")
    if dtype is not None:
        if elementwise.promote_types(x.dtype, numpy.dtype(dtype)) != dtype:
            raise DtypeError(f"linalg.{op}: dtype={numpy.dtype(dtype)} would narrow the input's {x.dtype} (as torch, "
                            f"only a widening is allowed); cast the input first")
        x = elementwise.astype(x, dtype)
    return x


def vector_norm(x: Tensor, ord: float = 2, dim: int | Sequence[int] | None = None,  # noqa: A002 - torch's name
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """(sum |x|^ord)^(1 / ord) over ``dim`` (all elements when None): ord inf / -inf is the largest / smallest |x|
    (the gradient split among ties), 0 the count of non-zeros (outside the graph: torch gives it no gradient), any
    other number the p-norm."""
    x = _floating_input("vector_norm", x, dtype)
    d = None if dim is None else (int(dim) if isinstance(dim, int) else tuple(int(i) for i in dim))
    if d == ():  # no dims: all of them, as torch (not a reduction over none)
        d = None
    if (math.isinf(ord) or ord < 0) and any(x.shape[i] == 0 for i in reduce._axes(d, x.ndim)):
        raise ArgumentError(f"linalg.vector_norm: cannot compute the {ord} norm over an empty dim (it has no identity)")
    if math.isinf(ord):  # (norm's backward: torch's mask, 0 at nan entries and along a nan norm)
        return statistics.norm(x, float(ord), d, keepdim)
    if ord == 0:  # in the graph with no gradient (torch's: backward runs and leaves the input's grad None)
        count = reduce.sum(elementwise.astype(elementwise.compare(x, 0, "not_equal"), x.dtype), d, keepdim)
        return record("vector_norm", count._data, (x,), lambda g: (None,))
    return statistics.norm(x, float(ord), d, keepdim)


def matrix_norm(A: Tensor, ord: Any = "fro", dim: tuple[int, int] = (-2, -1),  # noqa: A002
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The norm of each matrix held in dims ``dim``: "fro" (the 2-norm of the entries), 1 / -1 (the largest /
    smallest column sum of |A|), inf / -inf (the largest / smallest row sum), 2 / -2 (the largest / smallest singular
    value; the gradient split among ties), "nuc" (their sum)."""
    A = _floating_input("matrix_norm", A, dtype)
    if A.ndim < 2:
        raise ArgumentError(f"linalg.matrix_norm: needs a tensor with at least 2 dims, got shape {A.shape}")
    d0, d1 = (movement.wrap_dim("matrix_norm", int(d), A.ndim) for d in dim)
    if d0 == d1:
        raise ArgumentError(f"linalg.matrix_norm: dims {dim} must be two different dims")
    if ord == "fro":
        return statistics.norm(A, 2.0, (d0, d1), keepdim)
    if ord in (1, -1, math.inf, -math.inf):
        summed, other = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = reduce.sum(elementwise.abs(A), summed, keepdims=True)
        pick = reduce.min if ord < 0 else reduce.sum if A.shape[other] == 0 else reduce.max  # an empty max is 0
        out = pick(sums, other, keepdims=True)
        return out if keepdim else movement.squeeze(out, (d0, d1))
    if ord in (2, -2, "nuc"):
        return _singular_value_norm(A, ord, (d0, d1), keepdim)
    raise ArgumentError(f"linalg.matrix_norm: ord={ord!r} is not supported (use 'fro', 'nuc', 1, -1, 2, -2, inf or "
                        f"-inf)")


def norm(A: Tensor, ord: Any = None, dim: int | Sequence[int] | None = None,  # noqa: A002
         keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """torch.linalg.norm: a vector norm over an int ``dim`` (or of the flattened tensor when ord and dim are None),
    a matrix norm over two dims (or of a 2-D tensor given an ord); ord None means 2 for vectors, "fro" for
    matrices."""
    if dim is not None and not isinstance(dim, int) and len(dim) not in (1, 2):
        raise ArgumentError(f"linalg.norm: dim must be an int or hold 1 or 2 dims, got {tuple(dim)}; use "
                            f"vector_norm for other dims")
    if dim is not None and not isinstance(dim, int) and len(dim) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, tuple(dim), keepdim, dtype=dtype)
    if dim is None and ord is not None:
        if A.ndim == 2:
            return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
        if A.ndim != 1:
            raise ArgumentError(f"linalg.norm: with ord and no dim the input must be 1-D or 2-D, got shape {A.shape}")
    if isinstance(ord, str):
        raise ArgumentError(f"linalg.norm: ord={ord!r} needs a matrix (two dims)")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


# ------------------------------------------------------------------------- spectral / orthogonal (ops.spectral)
class QR(NamedTuple):
    """What ``qr`` returns (torch.return_types.linalg_qr)."""

    Q: Tensor
    R: Tensor


class Eigh(NamedTuple):
    """What ``eigh`` returns (torch.return_types.linalg_eigh)."""

    eigenvalues: Tensor
    eigenvectors: Tensor


class SVD(NamedTuple):
    """What ``svd`` returns (torch.return_types.linalg_svd)."""

    U: Tensor
    S: Tensor
    Vh: Tensor


class Lstsq(NamedTuple):
    """What ``lstsq`` returns (torch.return_types.linalg_lstsq)."""

    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


def qr(A: Tensor, mode: str = "reduced") -> QR:
    """A = QR for A (..., m, n), k = min(m, n): ``"reduced"`` Q (..., m, k), R (..., k, n); ``"complete"`` Q
    (..., m, m), R (..., m, n); ``"r"`` R only, Q empty. LAPACK's signs (R's diagonal may be negative), as torch."""
    return QR(*spectral.qr(A, mode))


def eigh(A: Tensor, UPLO: str = "L") -> Eigh:
    """(eigenvalues (..., n) ascending, eigenvectors (..., n, n) as columns) of the symmetric matrices A (..., n, n),
    reading only the lower (``UPLO="L"``) or upper triangle. Eigenvectors are unique up to sign only."""
    return Eigh(*spectral.eigh(A, UPLO))


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues (..., n), ascending, of the symmetric matrices A (..., n, n) (one triangle read)."""
    return spectral.eigvalsh(A, UPLO)


def svd(A: Tensor, full_matrices: bool = True, *, driver: str | None = None) -> SVD:
    """A = U diag(S) Vh for A (..., m, n), k = min(m, n): U (..., m, m), S (..., k) descending, Vh (..., n, n); with
    ``full_matrices=False`` U (..., m, k), Vh (..., k, n). Singular vectors are unique up to sign only."""
    _cpu_driver("svd", driver)
    return SVD(*spectral.svd(A, full_matrices))


def svdvals(A: Tensor, *, driver: str | None = None) -> Tensor:
    """The singular values (..., min(m, n)) of A (..., m, n), descending."""
    _cpu_driver("svdvals", driver)
    return spectral.svdvals(A)


def householder_product(A: Tensor, tau: Tensor) -> Tensor:
    """The first n columns of the product of the Householder reflectors I - tau_i v_i v_i^T stored below the
    diagonal of A (..., m, n) (LAPACK's orgqr, torch.orgqr), tau (..., k), m >= n >= k: an (..., m, n) matrix with
    orthonormal columns when tau_i = 2 / |v_i|^2."""
    return spectral.householder_product(A, tau)


def _cpu_driver(op: str, driver: str | None) -> None:
    if driver is not None:
        raise ArgumentError(f"linalg.{op}: driver= chooses a cuSOLVER routine, which this library does not use; "
                            f"leave it None")


def pinv(A: Tensor, rcond: Any = None, hermitian: bool = False, *, atol: Any = None,
         rtol: Any = None) -> Tensor:
    """The pseudoinverse (..., n, m) of A (..., m, n): singular values at or below max(atol, rtol * largest) count
    as zero; rtol defaults to eps * max(m, n) (0 when an atol > 0 is given). ``rcond`` is torch's older name for
    rtol. ``hermitian``: A is symmetric (its lower triangle is read) and |eigenvalues| replace singular values."""
    if rcond is not None:
        if rtol is not None:
            raise ArgumentError("linalg.pinv: pass rtol or rcond (its older name), not both")
        rtol = rcond
    return spectral.pinv(A, atol, rtol, hermitian)


def matrix_rank(A: Tensor, tol: Any = None, hermitian: bool = False, *, atol: Any = None,
                rtol: Any = None) -> Tensor:
    """The number (int64, shape (...)) of singular values (|eigenvalues| when ``hermitian``) of A (..., m, n) above
    max(atol, rtol * largest), tolerances as ``pinv``'s; ``tol`` is torch's older name for atol (with rtol 0)."""
    if tol is not None:
        if atol is not None or rtol is not None:
            raise ArgumentError("linalg.matrix_rank: pass tol (the older name) or atol / rtol, not both")
        atol, rtol = tol, 0.0
    factor.matrices("linalg.matrix_rank", A, square=hermitian)
    s = elementwise.abs(eigvalsh(A.detach())) if hermitian else svdvals(A.detach())
    m, n = A.shape[-2:]
    s_max = s._data.max(axis=-1) if s.shape[-1] else A.xp.zeros(s.shape[:-1], dtype=s.dtype)
    over = s._data > spectral.tolerance("linalg.matrix_rank", s_max, m, n, atol, rtol)
    return Tensor(over.sum(axis=-1).astype(numpy.int64), device=A.device)


def lstsq(A: Tensor, B: Tensor, rcond: float | None = None, *, driver: str | None = None) -> Lstsq:
    """The least-squares solution X (..., n, k) of A X = B, A (..., m, n), B (..., m, k) or (..., m) (batch dims
    broadcast), as torch's CPU drivers ("gelsy" by default, "gels", "gelsd", "gelss") fill the fields: residuals
    (..., k), the squared residuals sum |AX - B|^2, only for m > n, driver other than "gelsy" and (for "gelsd" /
    "gelss") every A of full rank, else empty; rank (...) int64, empty for "gels"; singular_values (..., min(m, n))
    for "gelsd" / "gelss", else empty. Singular values at or below rcond * largest (rcond: eps * max(m, n) when None)
    are dropped ("gels" assumes full rank)."""
    return Lstsq(*spectral.lstsq(A, B, rcond, driver))


def cond(A: Tensor, p: Any = None) -> Tensor:
    """The condition number of A (..., m, n) in the norm ``p``, as torch computes it: None / 2 the largest singular
    value over the smallest, -2 the reverse (any m, n); "nuc" sum(S) * sum(1 / S); "fro", 1, -1, inf, -inf
    ``matrix_norm(A, p) * matrix_norm(inv(A), p)`` for square A, inf for a matrix LAPACK's LU finds exactly singular,
    and a NaN result made inf. Empty matrices give 0 (not part of the graph, as torch)."""
    if p not in (None, 2, -2, "fro", "nuc", 1, -1, math.inf, -math.inf):
        raise ArgumentError(f"linalg.cond: p={p!r} is not a supported norm (use None, 2, -2, 'fro', 'nuc', 1, -1, inf "
                            f"or -inf)")
    factor.matrices(f"linalg.cond(p={p})", A, square=p in ("fro", "nuc") or (p not in (None, 2, -2) and
                                                                                        A._data.size > 0))
    if not A._data.size:
        return Tensor(A.xp.zeros(A.shape[:-2], dtype=A.dtype), device=A.device)
    if p in (None, 2, -2, "nuc"):
        s = svdvals(A)
        if p == "nuc":
            return reduce.sum(s, -1) * reduce.sum(1 / s, -1)
        big, small = s[..., 0], s[..., -1]
        return big / small if p != -2 else small / big
    singular = Tensor(_exactly_singular(A), device=A.device)
    regular = elementwise.where(movement.reshape(singular, singular.shape + (1, 1)),
                                Tensor(A.xp.eye(A.shape[-1], dtype=A.dtype), device=A.device), A)
    value = elementwise.where(singular, math.inf, matrix_norm(A, p) * matrix_norm(inv(regular), p))
    return unary.nan_to_num(value, math.inf, math.inf, -math.inf)


def _exactly_singular(A: Tensor) -> Any:
    """Which matrices of the batch (...) LAPACK's LU finds exactly singular (a zero pivot: torch's inv_ex info > 0)."""
    xp, flat = A.xp, A._data.reshape((-1,) + A.shape[-2:])
    out = xp.zeros(flat.shape[0], dtype=bool)
    try:
        with elementwise.ignore_fp_errors(xp):
            xp.linalg.inv(flat)
    except numpy.linalg.LinAlgError:  # (cupy's too): find which ones
        for i in range(flat.shape[0]):
            try:
                with elementwise.ignore_fp_errors(xp):
                    xp.linalg.inv(flat[i])
            except numpy.linalg.LinAlgError:
                out[i] = True
    return out.reshape(A.shape[:-2])


def _singular_value_norm(A: Tensor, ord: Any, dims: tuple[int, int], keepdim: bool) -> Tensor:  # noqa: A002
    """matrix_norm's ord 2 / -2 / "nuc": the largest / smallest singular value / their sum over the matrices in
    ``dims``."""
    s = svdvals(movement.movedim(A, dims, (-2, -1)))
    if ord == -2 and not s.shape[-1]:
        raise IndexError("linalg.matrix_norm: ord=-2 of an empty matrix: the smallest of no singular values does not "
                         "exist")
    if ord == 2 and not s.shape[-1]:  # torch: zeros, outside the graph
        out = Tensor(A.xp.zeros(s.shape[:-1], dtype=s.dtype), device=A.device)
    else:
        out = (reduce.sum if ord == "nuc" else reduce.max if ord == 2 else reduce.min)(s, -1)
    for d in sorted(dims) if keepdim else ():
        out = movement.unsqueeze(out, d)
    return out


# ---------------------------------------------------------------------------------------------- factorizations
# cholesky, cholesky_ex, solve_triangular, matrix_exp, matrix_power, multi_dot, vecdot, diagonal, cross, vander,
# inv_ex, solve_ex (the ops, with torch's gradients, are ``ops.factor``'s; LinAlgError is torch.linalg's)
class CholeskyEx(NamedTuple):
    """What ``cholesky_ex`` returns (torch.return_types.linalg_cholesky_ex)."""

    L: Tensor
    info: Tensor


class InvEx(NamedTuple):
    """What ``inv_ex`` returns (torch.return_types.linalg_inv_ex)."""

    inverse: Tensor
    info: Tensor


class SolveEx(NamedTuple):
    """What ``solve_ex`` returns (torch.return_types.linalg_solve_ex)."""

    result: Tensor
    info: Tensor


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The Cholesky factor of each symmetric positive-definite matrix (..., n, n): L lower triangular with
    A = L L^T (``upper``: U = L^T), read from A's lower (upper) triangle only; a matrix that is not
    positive-definite raises LinAlgError naming it and its leading minor, as torch's."""
    out, info = factor.cholesky(A, upper)
    factor.check_info("linalg.cholesky", info, factor.not_positive_definite)
    return out


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False) -> CholeskyEx:
    """(L, info) as ``cholesky``, without raising unless ``check_errors``: info (..., int32) is the order of the first
    leading minor that is not positive-definite, 0 for a factored matrix; a failed matrix's L is all nan."""
    out, info = factor.cholesky(A, upper, "linalg.cholesky_ex")
    if check_errors:
        factor.check_info("linalg.cholesky_ex", info, factor.not_positive_definite)
    return CholeskyEx(out, Tensor(info, device=A.device))


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True,
                     unitriangular: bool = False) -> Tensor:
    """X with A X = B (``left=False``: X A = B), A (..., n, n) triangular (only its ``upper`` / lower triangle read,
    a unit diagonal assumed with ``unitriangular``), B (..., n, k), batch dims broadcast; see
    ``ops.factor.solve_triangular``."""
    return factor.solve_triangular(A, B, upper, left, unitriangular)


def inv_ex(A: Tensor, *, check_errors: bool = False) -> InvEx:
    """(inverse, info) of each square matrix (..., n, n): info (..., int32) is LAPACK's, the index of the first zero
    pivot of A's LU factorization (A is singular), 0 otherwise; a singular matrix's inverse is all nan (torch's holds
    what LAPACK left), one holding a nan or inf has torch's infs and nans. ``check_errors`` raises LinAlgError for
    a singular one, as torch's. The gradient is inv's; see ``ops.factor.inv_ex``."""
    inverse, info = factor.inv_ex(A)
    if check_errors:
        factor.check_info("linalg.inv_ex", info, factor.singular_diagonal)
    return InvEx(inverse, Tensor(info, device=A.device))


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False) -> SolveEx:
    """(result, info): ``solve(A, B, left=left)`` with info (A's batch shape, int32) as ``inv_ex``'s; the result for
    a singular A is all nan (one holding a nan or inf: torch's infs and nans). ``check_errors`` raises LinAlgError
    for a singular one, as torch's. The gradients are solve's; see ``ops.factor.solve_ex``."""
    result, info = factor.solve_ex(A, B, left)
    if check_errors:
        factor.check_info("torch.linalg.solve_ex", info,
                          lambda i: "the input is singular, so the system has no unique solution")
    return SolveEx(result, Tensor(info, device=A.device))


def matrix_exp(A: Tensor) -> Tensor:
    """The matrix exponential of each square matrix (..., n, n); see ``ops.factor.matrix_exp``."""
    return factor.matrix_exp(A)


def matrix_power(A: Tensor, n: int) -> Tensor:
    """Each square matrix (..., m, m) to the integer power n (n < 0: powers of the inverse); torch.matrix_power."""
    from .methods import matrix_power as power

    return power(A, n)


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:  # noqa: A002 - torch's name
    """The cross product of 3-vectors along ``dim`` (the last by default): two tensors of one ndim, each of size 3
    there, the other dims broadcast."""
    from .methods import cross as cross_product

    if input.ndim != other.ndim:
        raise ArgumentError(f"linalg.cross: shapes {input.shape} and {other.shape} differ in how many dims "
                            "they have")
    d = movement.wrap_dim("linalg.cross", dim, input.ndim)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise ArgumentError(f"linalg.cross: inputs dim {dim} must have length 3, got {input.shape[d]} and "
                            f"{other.shape[d]}")
    if input.dtype != other.dtype:
        raise DtypeError(f"linalg.cross: both inputs must have one dtype (as in torch), got {input.dtype} and "
                        f"{other.dtype}")
    return cross_product(input, other, d)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """torch.diagonal with the last two dims by default: the diagonal as a last dim, a view."""
    return movement.diagonal(A, offset, dim1, dim2)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """sum(x * y) along ``dim`` of the broadcast shape (two vectors: their dot product, whatever ``dim``, as torch's):
    floating tensors of one dtype."""
    if x.dtype.kind != "f" or y.dtype.kind != "f":
        raise DtypeError(f"linalg.vecdot: expects floating tensors (as torch), got {x.dtype} and {y.dtype}")
    if x.dtype != y.dtype:
        raise DtypeError(f"linalg.vecdot: x and y must have one dtype (as torch), got {x.dtype} and {y.dtype}")
    if x.ndim == 1 and y.ndim == 1:  # torch's vdot: dim is not looked at, and the lengths must match
        if x.shape != y.shape:
            raise ArgumentError(f"linalg.vecdot: two vectors of different lengths, {x.shape[0]} and {y.shape[0]}")
        return reduce.sum(elementwise.mul(x, y), 0, False)
    shape = elementwise.broadcast_shape("linalg.vecdot", x.shape, y.shape)
    return reduce.sum(elementwise.mul(x, y), movement.wrap_dim("linalg.vecdot", dim, len(shape)), False)


def multi_dot(tensors: Sequence[Tensor]) -> Tensor:
    """The product of a chain of matrices, in the cheapest order (dynamic programming over the shapes, as torch);
    the first may be a vector (n,) taken as a row, the last a vector taken as a column (dropped from the result)."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise ArgumentError(f"linalg.multi_dot: expected at least 2 tensors, got {len(tensors)}")
    if len({t.dtype for t in tensors}) > 1:
        raise DtypeError(f"linalg.multi_dot: all tensors must have one dtype, got {[str(t.dtype) for t in tensors]}")
    if tensors[0].dtype == numpy.bool_:
        raise DtypeError("linalg.multi_dot: bool tensors are not supported (as in torch); convert them first")
    for i, t in enumerate(tensors):
        allowed = (1, 2) if i in (0, len(tensors) - 1) else (2,)
        if t.ndim not in allowed:
            raise ArgumentError(f"linalg.multi_dot: tensor {i} must be {' or '.join(f'{k}-D' for k in allowed)}, got "
                                f"shape {t.shape}")
    rows = [tensors[0].shape[0] if tensors[0].ndim == 2 else 1] + [t.shape[-1] if t.ndim == 2 else 1
                                                                    for t in tensors]
    for i, (a, b) in enumerate(zip(tensors, tensors[1:])):
        if a.shape[-1] != b.shape[0]:
            raise ArgumentError(f"linalg.multi_dot: tensors {i} and {i + 1} with shapes {a.shape} and {b.shape} cannot "
                                f"be multiplied")
    count = len(tensors)
    cost = [[0] * count for _ in range(count)]
    split = [[0] * count for _ in range(count)]
    for length in range(1, count):
        for i in range(count - length):
            j = i + length
            cost[i][j], split[i][j] = min((cost[i][k] + cost[k + 1][j] + rows[i] * rows[k + 1] * rows[j + 1], k)
                                          for k in range(i, j))

    def chain(i: int, j: int) -> Tensor:
        return tensors[i] if i == j else matmul(chain(i, split[i][j]), chain(split[i][j] + 1, j))
    return chain(0, count - 1)


def vander(x: Tensor, *, N: int | None = None) -> Tensor:
    """The Vandermonde matrix of x (..., n): (..., n, N), column j holding x^j (N = n by default, at least 2), as
    running products (cumprod), so the gradient is cumprod's; integer dtypes give int64 and a 0-d x reads as
    (1,), as torch."""
    if x.dtype == numpy.bool_:
        raise DtypeError("linalg.vander: supports floating and integer tensors (as torch), got bool")
    if x.ndim == 0:
        x = movement.reshape(x, (1,))
    if x.dtype.kind in "iu" and x.dtype != numpy.int64:
        x = elementwise.astype(x, numpy.int64)
    n = x.shape[-1] if N is None else int(N)
    if n <= 1:
        raise ArgumentError(f"linalg.vander: N must be greater than 1, got {n}")
    column = movement.unsqueeze(x, -1)
    powers = statistics.cumprod(movement.broadcast_to(column, x.shape + (n - 1,)), -1)
    ones = Tensor(x.xp.ones(x.shape + (1,), dtype=x.dtype), device=x.device)
    return movement.concatenate([ones, powers], -1)


# ---------------------------------------------------------------------------------------------- LU
# lu_factor, lu_factor_ex, lu, lu_solve (the factorization and its gradient are ``ops.factor.lu``'s; lu_solve is
# built from solve_triangular, so its gradients are those)
class LUFactor(NamedTuple):
    """What ``lu_factor`` returns (torch.return_types.linalg_lu_factor)."""

    LU: Tensor
    pivots: Tensor


class LUFactorEx(NamedTuple):
    """What ``lu_factor_ex`` returns (torch.return_types.linalg_lu_factor_ex)."""

    LU: Tensor
    pivots: Tensor
    info: Tensor


class PLU(NamedTuple):
    """What ``lu`` returns (torch.return_types.linalg_lu)."""

    P: Tensor
    L: Tensor
    U: Tensor


def _rows_swapped(order: Any, j: int, p: Any) -> None:
    """Swap entries j and p (one per matrix of the flat batch) of ``order`` (B, m), in place."""
    rows = backend.get_array_module(order).arange(order.shape[0])
    held = order[rows, p].copy()
    order[rows, p] = order[:, j]
    order[:, j] = held


def pivots_of(perm: Any, k: int) -> Any:
    """LAPACK's pivots (..., k), int32 and 1-based (row j swapped with row pivots[j] at step j), of the row order
    ``perm`` (..., m) that A[perm] = L U gives."""
    xp, m = backend.get_array_module(perm), perm.shape[-1]
    flat = perm.reshape(math.prod(perm.shape[:-1]), m)
    current = xp.array(xp.broadcast_to(xp.arange(m), flat.shape))
    out = xp.zeros((flat.shape[0], k), dtype=numpy.int32)
    for j in range(k):
        p = xp.argmax(current == flat[:, j:j + 1], axis=-1)
        out[:, j] = p + 1
        _rows_swapped(current, j, p)
    return out.reshape(perm.shape[:-1] + (k,))


def permutation_of(op: str, pivots: Tensor, m: int) -> Any:
    """The row order perm (..., m) that LAPACK's ``pivots`` (..., k; 1-based, each in [1, m]) make."""
    if pivots.dtype.kind not in "iu" or pivots.ndim < 1 or pivots.shape[-1] > m:
        raise DtypeError(f"{op}: pivots must be an integer tensor (..., k), k <= {m}, got {pivots.dtype} of shape "
                        f"{pivots.shape}")
    xp, piv = pivots.xp, pivots._data.astype(numpy.int64)
    if piv.size and (int(piv.min()) < 1 or int(piv.max()) > m):
        raise ArgumentError(f"{op}: pivots must lie in [1, {m}] (LAPACK's, 1-based), got values in "
                            f"[{int(piv.min())}, {int(piv.max())}]")
    flat = piv.reshape(math.prod(piv.shape[:-1]), piv.shape[-1])
    perm = xp.array(xp.broadcast_to(xp.arange(m), (flat.shape[0], m)))
    for j in range(flat.shape[1]):
        _rows_swapped(perm, j, flat[:, j] - 1)
    return perm.reshape(piv.shape[:-1] + (m,))


def _no_pivot(op: str, pivot: bool) -> None:
    if not pivot:
        raise NotImplementedError(f"{op}: LU without pivoting is not implemented (torch has it on CUDA only)")


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False) -> LUFactorEx:
    """(LU, pivots, info) of each float matrix A (..., m, n), k = min(m, n): A = P L U (partial pivoting) with the
    unit lower L's multipliers and U packed in LU (..., m, n), LAPACK's pivots (..., k) int32, 1-based, and info
    (..., int32) the index of the first zero pivot (0 for none). Differentiable in A (``ops.factor.lu``)."""
    _no_pivot("linalg.lu_factor_ex", pivot)
    packed, perm, info = factor.lu(A)
    if check_errors:
        factor.check_info("torch.linalg.lu_factor_ex", info, _zero_pivot)
    return LUFactorEx(packed, Tensor(pivots_of(perm, min(A.shape[-2:])), device=A.device),
                      Tensor(info, device=A.device))


def _zero_pivot(i: int) -> str:
    return (f"the pivot U[{i},{i}] vanishes (the input is singular), and lu_solve would divide by it; "
            f"linalg.lu_factor_ex(A, pivot) factors it anyway and reports the pivot in its info")


def lu_factor(A: Tensor, *, pivot: bool = True) -> LUFactor:
    """(LU, pivots) as ``lu_factor_ex``; a matrix with a zero pivot (singular) raises LinAlgError, as torch's."""
    packed, pivots, info = lu_factor_ex(A, pivot=pivot)
    factor.check_info("torch.linalg.lu_factor", info._data, _zero_pivot)
    return LUFactor(packed, pivots)


def unpack(op: str, LU: Tensor, perm: Any, data: bool = True, pivots: bool = True) -> PLU:
    """(P (..., m, m), L (..., m, k) unit lower, U (..., k, n)) from the packed ``LU`` and its row order; L and U are
    differentiable in LU. ``data`` / ``pivots`` False: empty tensors in their place (as torch's lu_unpack)."""
    m, n = LU.shape[-2:]
    k = min(m, n)
    empty = Tensor(LU.xp.zeros(0, dtype=LU.dtype), device=LU.device)
    if not pivots:
        P = empty
    else:
        eye = LU.xp.broadcast_to(LU.xp.eye(m, dtype=LU.dtype), perm.shape[:-1] + (m, m))
        P = Tensor(LU.xp.take_along_axis(eye, perm[..., None, :], axis=-1), device=LU.device)
    if not data:
        return PLU(P, empty, empty)
    eye = Tensor(LU.xp.eye(m, k, dtype=LU.dtype), device=LU.device)
    return PLU(P, elementwise.add(LU[..., :k].tril(-1), eye), LU[..., :k, :].triu())


def lu(A: Tensor, *, pivot: bool = True) -> PLU:
    """(P, L, U) with A = P L U for each float matrix A (..., m, n): P (..., m, m) a permutation, L (..., m, k) unit
    lower, U (..., k, n) upper, k = min(m, n); singular matrices factor without error. Gradients as torch's."""
    _no_pivot("linalg.lu", pivot)
    packed, perm, _ = factor.lu(A)
    return unpack("linalg.lu", packed, perm)


def lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False) -> Tensor:
    """X with A X = B (``adjoint``: A^T X = B; ``left=False``: X A = B, X A^T = B) from A's ``lu_factor`` (LU, pivots),
    A (..., n, n), B (..., n, k) ((..., k, n) with left=False), batch dims broadcast. Built from ``solve_triangular``
    and row / column gathers, so differentiable in LU and B as torch's."""
    op = "linalg.lu_solve"
    factor.matrices(op, LU)
    if B.dtype != LU.dtype:
        raise DtypeError(f"{op}: LU and B must have one dtype (as torch), got {LU.dtype} and {B.dtype}")
    n = LU.shape[-1]
    if B.ndim < 2 or (B.shape[-2] if left else B.shape[-1]) != n:
        raise ArgumentError(f"{op}: incompatible shapes of LU {LU.shape} and B {B.shape} for the equation "
                            f"{'AX' if left else 'XA'} = B")
    if pivots.shape[:-1] != LU.shape[:-2] or pivots.shape[-1] != n:
        raise ArgumentError(f"{op}: pivots must have shape {LU.shape[:-2] + (n,)}, got {pivots.shape}")
    perm = permutation_of(op, pivots, n)
    xp = LU.xp
    inverse = xp.argsort(perm, axis=-1)
    batch = numpy.broadcast_shapes(LU.shape[:-2], B.shape[:-2])

    def gather(t: Tensor, order: Any) -> Tensor:  # rows (left) or columns of t in ``order``
        t = movement.broadcast_to(t, batch + t.shape[-2:])
        picks = xp.broadcast_to(order[..., :, None] if left else order[..., None, :], t.shape).astype(numpy.int64)
        return index.take_along_dim(t, Tensor(picks, device=t.device), -2 if left else -1)
    tri = factor.solve_triangular
    mt = movement.transpose(LU, tuple(range(LU.ndim - 2)) + (LU.ndim - 1, LU.ndim - 2))
    if left and not adjoint:  # P L U X = B: X = U^-1 L^-1 (P^T B)
        return tri(LU, tri(LU, gather(B, perm), False, True, True), True)
    if left:  # U^T L^T P^T X = B: X = P L^-T U^-T B
        return gather(tri(mt, tri(mt, B, False), True, True, True), inverse)
    if not adjoint:  # X P L U = B: X = B U^-1 L^-1 P^T
        return gather(tri(LU, tri(LU, B, True, False), False, False, True), inverse)
    return tri(mt, tri(mt, gather(B, perm), True, False, True), False, False)  # X U^T L^T P^T = B


def tensorinv(A: Tensor, ind: int = 2) -> Tensor:
    """The inverse of ``A`` read as a linear map from its last dims to its first ``ind`` dims (the product of each
    group must be equal): inv of A as a (prod(A.shape[:ind]), prod(A.shape[ind:])) matrix, shaped
    A.shape[ind:] + A.shape[:ind], as torch."""
    if isinstance(ind, bool) or int(ind) != ind or ind <= 0:
        raise ArgumentError(f"linalg.tensorinv: 'ind' must be an int of at least 1, not {ind!r}")
    ind = int(ind)
    rows, cols = math.prod(A.shape[:ind]), math.prod(A.shape[ind:])
    if rows != cols:
        raise ArgumentError(f"linalg.tensorinv: expected the product of the first {ind} dims {A.shape[:ind]} ({rows}) "
                            f"to equal that of the rest {A.shape[ind:]} ({cols})")
    return movement.reshape(inv(movement.reshape(A, (rows, cols))), A.shape[ind:] + A.shape[:ind])


def tensorsolve(A: Tensor, B: Tensor, dims: Sequence[int] | None = None) -> Tensor:
    """X with tensordot(A, X, X.ndim) = B, as torch: ``dims`` of A are first moved to its end; A is then read as a
    (prod(B.shape), prod(A.shape[B.ndim:])) matrix (the two products must be equal) and X has shape
    A.shape[B.ndim:]."""
    if dims is not None:
        dims = [int(d) for d in dims]
        A = movement.movedim(A, dims, list(range(A.ndim - len(dims), A.ndim)))
    rows, cols = math.prod(A.shape[:B.ndim]), math.prod(A.shape[B.ndim:])
    if rows != cols:
        raise RuntimeError(f"linalg.tensorsolve: expected prod(A.shape[B.ndim:]) == prod(A.shape[:B.ndim]) (as torch), "
                           f"but got {cols} != {rows}")
    x = solve(movement.reshape(A, (rows, cols)), movement.reshape(B, (rows,)))
    return movement.reshape(x, A.shape[B.ndim:])


class LDLFactor(NamedTuple):
    """What ``ldl_factor`` returns (torch.return_types.linalg_ldl_factor)."""

    LD: Tensor
    pivots: Tensor


class LDLFactorEx(NamedTuple):
    """What ``ldl_factor_ex`` returns (torch.return_types.linalg_ldl_factor_ex)."""

    LD: Tensor
    pivots: Tensor
    info: Tensor


def _lapack(op: str, name: str, t: Tensor) -> Any:
    """LAPACK's ``?<name>`` for ``t``'s dtype (``backend.lapack``: on the CPU only)."""
    routine = backend.lapack(name, t._data)
    if routine is None:
        raise RuntimeError(f"{op}: runs on the CPU only here (LAPACK's {name} through scipy); move the tensors there")
    return routine


def ldl_factor_ex(A: Tensor, *, hermitian: bool = False, check_errors: bool = False) -> LDLFactorEx:
    """(LD, pivots, info) of each symmetric matrix (..., n, n), LAPACK's Bunch-Kaufman ``sytrf`` of its lower
    triangle as torch returns it: LD the compact L and block-diagonal D (upper triangle zeroed), pivots (..., n)
    LAPACK's 1-based int32 (negative for 2x2 blocks), info its return (> 0: D is exactly singular). ``hermitian``
    changes nothing for real matrices. No gradient, as torch. ``check_errors`` raises LinAlgError where info != 0."""
    op = "linalg.ldl_factor_ex"
    factor.matrices(op, A)
    sytrf = _lapack(op, "sytrf", A)
    n = A.shape[-1]
    flat = numpy.ascontiguousarray(A._data).reshape(math.prod(A.shape[:-2]), n, n)
    ld, pivots = numpy.zeros_like(flat), numpy.zeros(flat.shape[:-1], numpy.int32)
    info = numpy.zeros(flat.shape[0], numpy.int32)
    for i in range(flat.shape[0] if n else 0):
        ld[i], pivots[i], info[i] = sytrf(flat[i], lower=1)
    batch = A.shape[:-2]
    info = info.reshape(batch)
    if check_errors:
        factor.check_info(op, info, lambda i: f"the input is singular: the factorization's block D[{i},{i}] vanishes")
    return LDLFactorEx(Tensor(numpy.tril(ld).reshape(A.shape)), Tensor(pivots.reshape(batch + (n,))),
                       Tensor(info))


def ldl_factor(A: Tensor, *, hermitian: bool = False) -> LDLFactor:
    """(LD, pivots): ``ldl_factor_ex`` without info (as torch, a singular D is not checked for here)."""
    LD, pivots, _ = ldl_factor_ex(A, hermitian=hermitian)
    return LDLFactor(LD, pivots)


def ldl_solve(LD: Tensor, pivots: Tensor, B: Tensor, *, hermitian: bool = False) -> Tensor:
    """X with A X = B from ``ldl_factor``'s (LD, pivots) of A, by LAPACK's ``sytrs``; B (..., n, k), batch dims
    broadcast. No gradient, as torch."""
    op = "linalg.ldl_solve"
    factor.matrices(op, LD)
    if B.ndim < 2:
        raise IndexError(f"{op}: B must have at least 2 dims (..., n, k), got shape {B.shape}")
    if B.dtype != LD.dtype:
        raise DtypeError(f"{op}: LD and B must have one dtype (as torch), got {LD.dtype} and {B.dtype}")
    if pivots.dtype != numpy.int32:
        raise DtypeError(f"{op}: pivots must be an int32 tensor (as torch's), got {pivots.dtype}")
    n = LD.shape[-1]
    if B.shape[-2] != n or pivots.shape[-1:] != (n,):
        raise ArgumentError(f"{op}: incompatible shapes of LD {LD.shape}, pivots {pivots.shape} and B {B.shape}")
    sytrs = _lapack(op, "sytrs", LD)
    batch = numpy.broadcast_shapes(LD.shape[:-2], pivots.shape[:-1], B.shape[:-2])
    k = math.prod(batch)
    lds = numpy.broadcast_to(LD._data, batch + (n, n)).reshape(k, n, n)
    pivs = numpy.broadcast_to(pivots._data, batch + (n,)).reshape(k, n)
    bs = numpy.broadcast_to(B._data, batch + B.shape[-2:]).reshape((k,) + B.shape[-2:])
    out = numpy.zeros(bs.shape, B.dtype)
    for i in range(bs.shape[0] if n and B.shape[-1] else 0):
        out[i] = sytrs(lds[i], pivs[i], bs[i], lower=1)[0]
    return Tensor(out.reshape(batch + B.shape[-2:]))


# ---- out=, as torch.linalg takes it on these (the result is computed, then written into out)
_WITH_OUT = ["cholesky", "cholesky_ex", "cond", "cross", "det", "eigh", "eigvalsh", "householder_product", "inv",
             "inv_ex", "ldl_factor", "ldl_factor_ex", "ldl_solve", "lu", "lu_factor", "lu_factor_ex", "lu_solve",
             "matmul", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv", "qr", "slogdet",
             "solve", "solve_ex", "solve_triangular", "svd", "svdvals", "tensorinv", "tensorsolve", "vecdot",
             "vector_norm"]


# ... of which these, as torch, take an ``out`` of the result's dtype only (the rest cast into it, as write_out's rule)
_EXACT_OUT = frozenset(["cholesky", "cross", "det", "eigvalsh", "inv", "matmul", "matrix_norm", "matrix_power",
                        "multi_dot", "norm", "solve", "solve_triangular", "svdvals", "vecdot", "vector_norm"])


def _with_out(name: str, fn: Any) -> Any:
    """``fn`` taking torch's ``out=`` (a tensor, or a tuple of them for the named-tuple results)."""
    @functools.wraps(fn)
    def function(*args: Any, out: Any = None, **kwargs: Any) -> Any:
        if out is None:
            return fn(*args, **kwargs)
        result = fn(*args, **kwargs)
        if name in _EXACT_OUT and isinstance(out, Tensor) and isinstance(result, Tensor) and out.dtype != result.dtype:
            raise RuntimeError(f"linalg.{name}: expected out tensor to have dtype {result.dtype}, but got {out.dtype} "
                               f"instead (as torch)")
        return write_out(f"linalg.{name}", result, out)
    return function


for _name in _WITH_OUT:
    globals()[_name] = _with_out(_name, globals()[_name])

# ---- torch's keyword names where they are not the documented ones ours use: torch.linalg.cholesky(input=A),
# lstsq(input=A, b=B), tensorsolve(input=A, other=B) (the Python binding's names; A= is refused there, kept here)
_TORCH_KEYWORDS: dict[str, dict[str, str]] = {
    **{name: {"input": "A"} for name in ("cholesky", "cholesky_ex", "cond", "eigh", "eigvalsh", "householder_product",
                                         "ldl_factor", "ldl_factor_ex", "matrix_exp", "matrix_norm", "matrix_power",
                                         "matrix_rank", "norm", "pinv", "solve_triangular", "tensorinv")},
    "lstsq": {"input": "A", "b": "B"}, "tensorsolve": {"input": "A", "other": "B"}, "vector_norm": {"input": "x"}}


def _torch_keywords(name: str, fn: Any) -> Any:
    """``fn`` also taking torch's keyword spellings of its arguments (``_TORCH_KEYWORDS[name]``)."""
    names = _TORCH_KEYWORDS[name]

    @functools.wraps(fn)
    def function(*args: Any, **kwargs: Any) -> Any:
        for theirs, ours in names.items():
            if theirs in kwargs:
                if ours in kwargs:
                    raise TypeError(f"linalg.{name}(): got both {theirs}= and {ours}= (the same argument); give one")
                kwargs[ours] = kwargs.pop(theirs)
        return fn(*args, **kwargs)
    return function


for _name in _TORCH_KEYWORDS:
    globals()[_name] = _torch_keywords(_name, globals()[_name])
del _name
