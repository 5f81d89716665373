"""Spectral and orthogonal factorizations of batches of matrices (..., m, n), as torch.linalg computes them: qr,
eigh / eigvalsh, svd / svdvals, pinv and lstsq.

The forward is the array module's LAPACK routine (numpy.linalg / cupy.linalg, batched). The backward is torch's
formula, split output by output: each output is its own node whose closure maps that output's gradient to the
input's (the formulas are linear in the output gradients, so the sum is torch's), and an output the loss does not
use adds nothing, as an undefined gradient in torch (``svdvals`` alone never divides by S_i^2 - S_j^2). Where torch's
formula divides by a zero gap (repeated eigen / singular values) the result is inf / nan, as torch's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy
from numpy.linalg import LinAlgError as LapackError  # what numpy's and cupy's linalg raise

from .. import backend
from ..tensor import Array, Tensor, check_devices, constant, record
from . import elementwise, linalg, movement
from .elementwise import broadcast_shape, ignore_fp_errors, mT, unbroadcast
from .factor import ArgumentError, DtypeError, LinAlgError, matrices


def _lapack(op: str, f: Callable[..., Any], x: Array, *args: Any) -> Any:
    try:
        with ignore_fp_errors(backend.get_array_module(x)):
            return f(x, *args)
    except LapackError as e:
        raise LinAlgError(f"{op}: the algorithm failed to converge ({e}), as torch's does on such input; check the "
                          f"matrix for NaN / inf or extreme scales") from None


def _gaps(w: Array) -> Array:
    """E[..., i, j] = w_j - w_i with ones on the diagonal (torch's denominator for eigh and, on S^2, for svd)."""
    e = w[..., None, :] - w[..., :, None]
    backend.diagonal(e, 0, -2, -1)[...] = 1
    return e


def _skew(x: Array) -> Array:
    return x - mT(x)


# ---------------------------------------------------------------------------------------------------------- svd
def svd_arrays(op: str, x: Array, full_matrices: bool = False, compute_uv: bool = True) -> Any:
    """numpy's svd, refusing NaN and inf: torch's LAPACK call raises on NaN and on some matrices holding an inf, and
    returns NaN for others, by where the inf sits; no rule reproduces that, so any non-finite entry raises."""
    xp = backend.get_array_module(x)
    if not xp.isfinite(x).all():
        raise LinAlgError(f"{op}: the input holds NaN or inf; torch's SVD fails to converge on it (or, for some "
                          f"inf inputs, returns NaN); replace the non-finite entries first")
    return _lapack(op, xp.linalg.svd, x, full_matrices, compute_uv)


def _svd_backward_s(u: Array, vh: Array) -> Callable[[Array], tuple[Array]]:
    return lambda g: ((u * g[..., None, :]) @ vh,)  # U diag(gS) Vh


def svd(a: Tensor, full_matrices: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """A = U diag(S) Vh for A (..., m, n): U (..., m, m or k), S (..., k) descending, Vh (..., n or k, n), k = min(m,
    n). Gradients as torch's (for full_matrices the extra columns of U / rows of Vh get none)."""
    matrices("linalg.svd", a, square=False)
    u, s, vh = svd_arrays("linalg.svd", a._data, full_matrices)
    m, n = a.shape[-2:]
    k = min(m, n)
    uk, vhk = u[..., :k], vh[..., :k, :]
    s2 = s * s

    def back_u(g: Array) -> tuple[Array]:
        g = g[..., :k]
        with ignore_fp_errors(a.xp):
            inner = (_skew(mT(uk) @ g) / _gaps(s2)) * s[..., None, :]
            if m > n:
                gs = g / s[..., None, :]
                return ((uk @ inner + gs - uk @ (mT(uk) @ gs)) @ vhk,)
            return (uk @ inner @ vhk,)

    def back_vh(g: Array) -> tuple[Array]:
        g = g[..., :k, :]
        with ignore_fp_errors(a.xp):
            inner = s[..., :, None] * (_skew(vhk @ mT(g)) / _gaps(s2))
            if m < n:
                gs = g / s[..., :, None]
                return (uk @ (inner @ vhk + gs - (gs @ mT(vhk)) @ vhk),)
            return (uk @ inner @ vhk,)
    return (record("linalg_svd", u, (a,), back_u), record("linalg_svd", s, (a,), _svd_backward_s(uk, vhk)),
            record("linalg_svd", vh, (a,), back_vh))


def svdvals(a: Tensor) -> Tensor:
    """The singular values (..., min(m, n)) of A (..., m, n), descending; gradient U diag(g) Vh, as torch's."""
    matrices("linalg.svdvals", a, square=False)
    if not a.requires_grad:
        return constant(svd_arrays("linalg.svdvals", a._data, compute_uv=False))
    u, s, vh = svd_arrays("linalg.svdvals", a._data)
    return record("linalg_svdvals", s, (a,), _svd_backward_s(u, vh))


# --------------------------------------------------------------------------------------------------------- eigh
def _uplo(uplo: str) -> str:
    if not isinstance(uplo, str) or uplo.upper() not in ("L", "U"):
        raise ArgumentError(f"linalg.eigh: UPLO must be 'L' or 'U', got {uplo!r}")
    return uplo.upper()


def _eigh_backward_w(v: Array) -> Callable[[Array], tuple[Array]]:
    return lambda g: ((v * g[..., None, :]) @ mT(v),)  # V diag(gL) V^T


def eigh(a: Tensor, uplo: str = "L") -> tuple[Tensor, Tensor]:
    """Eigenvalues (..., n), ascending, and orthonormal eigenvectors (columns of (..., n, n)) of the symmetric
    matrices A (..., n, n), read from the lower (``uplo="L"``) or upper triangle only, as torch. The eigenvector
    gradient divides by the gaps lambda_j - lambda_i: inf / nan for repeated eigenvalues, as torch's."""
    matrices("linalg.eigh", a)
    w, v = _lapack("linalg.eigh", a.xp.linalg.eigh, a._data, _uplo(uplo))

    def back_v(g: Array) -> tuple[Array]:
        with ignore_fp_errors(a.xp):
            inner = (0.5 * _skew(mT(v) @ g)) / _gaps(w)
            backend.diagonal(inner, 0, -2, -1)[...] = 0  # zero already, but nan for an infinite g (torch's gL
            # replaces it)
            return (v @ inner @ mT(v),)
    return record("linalg_eigh", w, (a,), _eigh_backward_w(v)), record("linalg_eigh", v, (a,), back_v)


def eigvalsh(a: Tensor, uplo: str = "L") -> Tensor:
    """The eigenvalues (..., n), ascending, of the symmetric matrices A (..., n, n) (one triangle read, as eigh);
    gradient V diag(g) V^T."""
    matrices("linalg.eigvalsh", a)
    if not a.requires_grad:
        return constant(_lapack("linalg.eigvalsh", a.xp.linalg.eigvalsh, a._data, _uplo(uplo)))
    w, v = _lapack("linalg.eigvalsh", a.xp.linalg.eigh, a._data, _uplo(uplo))
    return record("linalg_eigvalsh", w, (a,), _eigh_backward_w(v))


# ----------------------------------------------------------------------------------------------------------- qr
def solve_upper(r: Array, b: Array) -> Array:
    """Z with R Z = B for upper-triangular R (..., n, n), B (..., n, k), by back substitution (a zero on R's
    diagonal gives inf / nan, as torch's triangular solve, instead of an error)."""
    z = b.copy()
    with ignore_fp_errors(backend.get_array_module(r)):
        for i in range(r.shape[-1] - 1, -1, -1):
            z[..., i, :] = (z[..., i, :] - (r[..., i:i + 1, i + 1:] @ z[..., i + 1:, :])[..., 0, :]) / r[..., i, i,
                                                                                                    None]
    return z


def _copyltu(x: Array) -> Array:
    """triu(X) + triu(X, 1)^T: the symmetric matrix with X's upper triangle."""
    xp = backend.get_array_module(x)
    return xp.triu(x) + mT(xp.triu(x, 1))


def _qr_square_backward(q: Array, r: Array, gq: Array | None, gr: Array | None) -> Array:
    """A = QR with Q (..., m, n), R (..., n, n), m >= n: (gQ + Q copyltu(M)) R^-T, M^T = gR R^T - Q^T gQ."""
    with ignore_fp_errors(backend.get_array_module(q)):
        x = (gr @ mT(r) if gr is not None else 0) - (mT(q) @ gq if gq is not None else 0)
        top = q @ _copyltu(x) + (gq if gq is not None else 0)
        return mT(solve_upper(r, mT(top)))


def qr(a: Tensor, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    """A = QR for A (..., m, n), LAPACK's signs (R's diagonal may be negative): ``mode="reduced"`` Q (..., m, k),
    R (..., k, n), k = min(m, n); ``"complete"`` Q (..., m, m), R (..., m, n); ``"r"`` R only (Q empty). Gradients as
    torch's; torch's errors for mode "r" and for "complete" with m > n are raised at backward."""
    matrices("linalg.qr", a, square=False)
    if mode not in ("reduced", "complete", "r"):
        raise ArgumentError(f"linalg.qr: mode must be 'reduced' (the default), 'complete' or 'r', got {mode!r}")
    xp = a.xp
    m, n = a.shape[-2:]
    if mode == "r":
        r = _lapack("linalg.qr", xp.linalg.qr, a._data, "r")
        q = xp.zeros((0,), dtype=a.dtype)
    else:
        q, r = _lapack("linalg.qr", xp.linalg.qr, a._data, mode)

    def refuse(g: Array) -> tuple[Array]:
        if mode == "r":
            raise ArgumentError("linalg.qr: the derivative depends on Q, which mode='r' does not compute; use "
                                "mode='reduced' to differentiate through linalg.qr")
        raise ArgumentError("linalg.qr: with mode='complete' and m > n, Q's extra columns are arbitrary, so there is "
                            "no gradient; use mode='reduced'")

    def backward(gq: Array | None, gr: Array | None) -> Array:
        if m >= n:
            return _qr_square_backward(q, r, gq, gr)
        # A = [X | Y], X = Q U (U square): gY = Q gV, X's gradient with gQ + Y gV^T for Q's
        gv = gr[..., m:] if gr is not None else None
        y = a._data[..., m:]
        gq_total = gq if gv is None else (y @ mT(gv) + (gq if gq is not None else 0))
        gx = _qr_square_backward(q, r[..., :m], gq_total, gr[..., :m] if gr is not None else None)
        gy = q @ gv if gv is not None else xp.zeros(y.shape, dtype=a.dtype)
        return xp.concatenate([gx, gy], axis=-1)

    differentiable = mode == "reduced" or (mode == "complete" and m <= n)
    return (record("linalg_qr", q, (a,), (lambda g: (backward(g, None),)) if differentiable else refuse),
            record("linalg_qr", r, (a,), (lambda g: (backward(None, g),)) if differentiable else refuse))


# ---------------------------------------------------------------------------------------------- pinv and lstsq
def tolerance(op: str, s_max: Array, m: int, n: int, atol: Any, rtol: Any) -> Array:
    """torch's cut-off for pinv / matrix_rank: max(atol, rtol * S_max); rtol defaults to eps * max(m, n), or 0 when
    atol > 0 is given. atol / rtol may be numbers or arrays broadcasting against the batch (...). Shape (..., 1)."""
    xp = backend.get_array_module(s_max)
    dtype = s_max.dtype

    def arr(t: Any) -> Array:
        return xp.asarray(t._data if isinstance(t, Tensor) else t, dtype=dtype)
    if rtol is None:
        given = atol is not None and bool((arr(atol) > 0).any())  # torch: "atol larger than zero"
        rtol = 0.0 if given else float(numpy.finfo(dtype).eps) * max(m, n)
    tol = xp.maximum(arr(0.0 if atol is None else atol), arr(rtol) * s_max)
    return tol[..., None]


def pinv_backward(g: Any, p: Any, a: Any, transpose: Callable[[Any], Any] = mT) -> Any:
    """torch's gradient of the pseudoinverse P = pinv(A) (Golub and Pereyra), for A (..., m, n), P (..., n, m): on
    arrays, or on Tensors with their history (double backward) given their ``transpose`` of the last two dims."""
    gh, ph = transpose(g), transpose(p)
    if a.shape[-2] <= a.shape[-1]:
        k = gh @ p
        kph = k @ ph
        return -transpose(p @ k) + kph - (a @ p) @ kph + (ph @ p) @ (gh - k @ a)
    k = p @ gh
    phk = ph @ k
    return -transpose(k @ p) + (gh - a @ k) @ p @ ph + phk - phk @ p @ a


def pinv(a: Tensor, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Tensor:
    """The Moore-Penrose pseudoinverse (..., n, m) of A (..., m, n): singular values (|eigenvalues| when
    ``hermitian``, reading A's lower triangle) at or below max(atol, rtol * largest) count as zero. Gradient as
    torch's (``pinv_backward``)."""
    matrices("linalg.pinv", a, square=hermitian)
    xp = a.xp
    m, n = a.shape[-2:]
    with ignore_fp_errors(xp):
        if hermitian:
            w, v = _lapack("linalg.pinv", xp.linalg.eigh, a._data)
            s = xp.abs(w)
            s_max = s.max(axis=-1) if n else xp.zeros(s.shape[:-1], dtype=s.dtype)
            keep = s > tolerance("linalg.pinv", s_max, m, n, atol, rtol)
            out = (v * xp.where(keep, 1 / xp.where(keep, w, 1), 0)[..., None, :]) @ mT(v)
        else:
            u, s, vh = svd_arrays("linalg.pinv", a._data)
            s_max = s[..., 0] if min(m, n) else xp.zeros(s.shape[:-1], dtype=s.dtype)
            keep = s > tolerance("linalg.pinv", s_max, m, n, atol, rtol)
            out = (mT(vh) * xp.where(keep, 1 / xp.where(keep, s, 1), 0)[..., None, :]) @ mT(u)
    out = out.astype(a.dtype, copy=False)

    def backward(g: Array) -> tuple[Array]:
        with ignore_fp_errors(xp):
            return (unbroadcast(pinv_backward(g, out, a._data), a.shape),)
    return record("linalg_pinv", out, (a,), backward)


DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(a: Tensor, b: Tensor, rcond: float | None = None,
          driver: str | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Least squares min ||A X - B|| for A (..., m, n), B (..., m, k) or (..., m) (one dim fewer than A), batch dims
    broadcast: (solution (..., n, k), residuals, rank, singular_values) as torch's CPU drivers fill them (see
    ``linalg.lstsq``). The minimum-norm solution through the SVD, singular values at or below rcond * largest
    dropped (all kept for "gels"). Gradients as torch's: the solution's through pinv(A), the residuals' 2 r X^T."""
    matrices("linalg.lstsq", a, square=False)
    check_devices("linalg.lstsq", a, b)
    if b.dtype != a.dtype:
        raise DtypeError(f"linalg.lstsq: A and B must have one dtype (as in torch), got {a.dtype} and {b.dtype}")
    vector = b.ndim == 1 or b.shape == a.shape[:-1]
    if b.ndim != a.ndim and not vector:
        raise ArgumentError(f"linalg.lstsq: B must be (..., m, k) with as many dims as A, or (..., m) with A's batch "
                            f"shape, got shapes {a.shape} and {b.shape}")
    if not 0 <= a.ndim - b.ndim <= 1:
        raise ArgumentError(f"linalg.lstsq: B must have as many dims as A or one fewer, got shapes {a.shape} and "
                            f"{b.shape}")
    driver = "gelsy" if driver is None else driver
    if driver not in DRIVERS:
        raise ArgumentError(f"linalg.lstsq: driver must be one of {DRIVERS} on the CPU, got {driver!r}")
    xp = a.xp
    bm = b._data[..., None] if vector else b._data
    m, n = a.shape[-2:]
    if bm.shape[-2] != m:
        raise ArgumentError(f"linalg.lstsq: B of shape {b.shape} does not have A's {m} rows (A is {a.shape})")
    batch = broadcast_shape("linalg.lstsq", a.shape[:-2], bm.shape[:-2])
    ab, bb = xp.broadcast_to(a._data, batch + (m, n)), xp.broadcast_to(bm, batch + bm.shape[-2:])
    if xp.isnan(bb).any():
        raise ArgumentError("linalg.lstsq: B holds NaN (torch's LAPACK call rejects it); remove the NaNs first")
    if not ab.size or not bb.size:
        if ab.size and driver in ("gelsd", "gelss"):
            raise ArgumentError(f"linalg.lstsq: driver {driver!r} cannot take a B without columns (torch's LAPACK call "
                                f"rejects it); use driver='gelsy'")
        return _lstsq_empty(a, b, ab, bb, driver, vector)
    u, s, vh = svd_arrays("linalg.lstsq", ab)
    rcond = float(numpy.finfo(a.dtype).eps) * max(m, n) if rcond is None else float(rcond)
    with ignore_fp_errors(xp):
        keep = s > rcond * s[..., :1] if driver != "gels" else xp.ones(s.shape, dtype=bool)
        x = mT(vh) @ (xp.where(keep, 1 / xp.where(keep, s, 1), 0)[..., None] * (mT(u) @ bb))
        resid = ab @ x - bb
    rank = keep.sum(axis=-1).astype(numpy.int64)
    empty = xp.zeros((0,), dtype=a.dtype)

    def back_x(g: Array) -> tuple[Array | None, Array | None]:
        g = g[..., None] if vector else g
        p = pinv(Tensor(a._data))._data
        ga = unbroadcast(pinv_backward(g @ mT(bb), p, a._data), a.shape) if a.requires_grad else None
        gb = _unvector(unbroadcast(mT(p) @ g, bm.shape), vector) if b.requires_grad else None
        return ga, gb

    def back_residuals(g: Array) -> tuple[Array | None, Array | None]:
        gr = g[..., None, :] * resid
        ga = unbroadcast(2 * gr @ mT(x), a.shape) if a.requires_grad else None
        gb = _unvector(unbroadcast(-2 * gr, bm.shape), vector) if b.requires_grad else None
        return ga, gb

    full_rank = driver == "gels" or bool((rank == n).all())
    extra = len(batch) - (a.ndim - 2)  # rank and singular values keep A's own batch shape, as torch's (not B's
    own = (0,) * extra + tuple(slice(None) if d == e else slice(0, 1)  # broadcast batch dims)
                               for d, e in zip(a.shape[:-2], batch[extra:]))
    rank, s = rank[own], s[own]
    residuals = (record("linalg_lstsq", (resid * resid).sum(axis=-2), (a, b), back_residuals)
                 if m > n and driver != "gelsy" and full_rank else _no_residuals(a, b))
    return (record("linalg_lstsq", _unvector(x, vector), (a, b), back_x), residuals,
            constant(rank if driver != "gels" else xp.zeros((0,), dtype=numpy.int64)),
            constant(s if driver in ("gelsd", "gelss") else empty))


def _no_residuals(a: Tensor, b: Tensor) -> Tensor:
    """lstsq's residuals when it computes none: an empty (0,) tensor in A's and B's graph with no gradient (as
    torch's, so a backward through it gives None rather than raising)."""
    def none(g: Array) -> tuple[None, None]:  # (the name tells higher_order_linalg's lstsq which output this is)
        return None, None
    return record("linalg_lstsq", a.xp.zeros((0,), dtype=a.dtype), (a, b), none)


def _unvector(x: Array, vector: bool) -> Array:
    return x[..., 0] if vector else x


def _lstsq_empty(a: Tensor, b: Tensor, ab: Array, bb: Array, driver: str,
                 vector: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """lstsq where A or B has no elements, as torch's CPU drivers leave it: a zero solution, rank 0 (empty for
    "gels"), no singular values (an empty (..., min(m, n)) for "gelsd" / "gelss"); residuals |B|^2 for m > n
    ("gelsd" / "gelss"; zeros for "gels")."""
    xp, (m, n), k = a.xp, ab.shape[-2:], bb.shape[-1]
    empty = xp.zeros((0,), dtype=a.dtype)
    def zero(g: Array) -> tuple[Array | None, Array | None]:
        return (xp.zeros(a.shape, dtype=a.dtype) if a.requires_grad else None,
                xp.zeros(b.shape, dtype=a.dtype) if b.requires_grad else None)
    x = record("linalg_lstsq", _unvector(xp.zeros(ab.shape[:-2] + (n, k), dtype=a.dtype), vector), (a, b), zero)
    if m > n and driver != "gelsy":
        sq = (bb * bb).sum(axis=-2) if driver != "gels" else xp.zeros(bb.shape[:-2] + (k,), dtype=a.dtype)
        def empty_residuals(g: Array) -> tuple[Array | None, Array | None]:  # (named for higher_order_linalg)
            return (xp.zeros(a.shape, dtype=a.dtype) if a.requires_grad else None,
                    _unvector(unbroadcast(2 * g[..., None, :] * bb, b.shape if not vector else b.shape + (1,)), vector)
                    if b.requires_grad else None)
        residuals = record("linalg_lstsq", sq, (a, b), empty_residuals)
    else:
        residuals = _no_residuals(a, b)
    rank = xp.zeros((0,) if driver == "gels" else a.shape[:-2], dtype=numpy.int64)  # (r = AX - B = -B; A's own
    s = xp.zeros(a.shape[:-2] + (min(m, n),), dtype=a.dtype) if driver in ("gelsd", "gelss") else empty  # batch)
    return x, residuals, constant(rank), constant(s)


# --------------------------------------------------------------------------------------------- householder_product
def householder_product(a: Tensor, tau: Tensor) -> Tensor:
    """The first n columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^T, v_i the i-th column of A (..., m, n) below the
    diagonal with a 1 on it (LAPACK's orgqr; m >= n >= k, tau (..., k)). Built as the compact WY form
    I - V T V^T with T = (I + diag(tau) striu(V^T V))^-1 diag(tau), so the gradient is that of differentiable ops
    (A's diagonal and upper triangle get none, as in torch)."""
    matrices("linalg.householder_product", a, square=False)
    check_devices("linalg.householder_product", a, tau)
    m, n = a.shape[-2:]
    if tau.dtype != a.dtype:
        raise DtypeError(f"linalg.householder_product: tau must have A's dtype {a.dtype}, got {tau.dtype}")
    if tau.ndim != a.ndim - 1 or tau.shape[:-1] != a.shape[:-2] or not m >= n >= tau.shape[-1]:
        raise ArgumentError(f"linalg.householder_product: needs A (..., m, n) and tau (..., k) with m >= n >= k and "
                            f"the same batch dims, got {a.shape} and {tau.shape}")
    k, xp = tau.shape[-1], a.xp
    if not k or not a._data.size:  # no reflector (or no matrix): the identity's columns, no gradient (as torch)
        eye = xp.array(xp.broadcast_to(xp.eye(m, n, dtype=a.dtype), a.shape))
        return record("linalg_householder_product", eye, (a, tau), lambda g: (None, None))
    eye = Tensor(xp.eye(m, k, dtype=a.dtype), device=a.device)
    v = elementwise.add(movement.tril(movement.getitem(a, (..., slice(0, k))), -1), eye)  # (..., m, k)
    vt = movement.transpose(v, (*range(v.ndim - 2), v.ndim - 1, v.ndim - 2))
    upper = movement.triu(linalg.matmul(vt, v), 1)
    scaled = elementwise.add(Tensor(xp.eye(k, dtype=a.dtype), device=a.device),
                             elementwise.mul(movement.unsqueeze(tau, -1), upper))  # unit upper triangular
    t = linalg.solve(scaled, linalg.diag_embed(tau))
    head = movement.getitem(vt, (..., slice(0, n)))  # V^T E: V's first n rows, transposed (..., k, n)
    return elementwise.sub(Tensor(xp.eye(m, n, dtype=a.dtype), device=a.device),
                           linalg.matmul(linalg.matmul(v, t), head))
