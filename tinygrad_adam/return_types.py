"""``torch.return_types``: the classes of the named tuples the ops return (``torch.return_types.max`` ...), for type
hints and ``isinstance``. Here ops of one result shape share one class: ``max``, ``min``, ``sort``, ``topk``, ... are
all ``ValuesIndices`` (values, indices), so ``isinstance(torch.sort(x), return_types.max)`` holds here (it does not
in torch, where each op has its own class)."""

from __future__ import annotations

from . import linalg
from .math_names import Histogram, HistogramDD, LUUnpack
from .methods import Frexp, MinMax, QrOld, SvdOld, TriangularSolve, ValuesIndices

max = min = sort = topk = kthvalue = median = nanmedian = mode = cummax = cummin = ValuesIndices  # noqa: A001
aminmax, frexp, qr, svd, triangular_solve = MinMax, Frexp, QrOld, SvdOld, TriangularSolve
histogram, histogramdd, lu_unpack = Histogram, HistogramDD, LUUnpack
slogdet = linalg_slogdet = linalg.SignLogAbsDet
linalg_qr, linalg_eigh, linalg_svd, linalg_lstsq = linalg.QR, linalg.Eigh, linalg.SVD, linalg.Lstsq
linalg_cholesky_ex, linalg_inv_ex, linalg_solve_ex = linalg.CholeskyEx, linalg.InvEx, linalg.SolveEx
linalg_lu_factor, linalg_lu_factor_ex, linalg_lu = linalg.LUFactor, linalg.LUFactorEx, linalg.PLU
linalg_ldl_factor, linalg_ldl_factor_ex = linalg.LDLFactor, linalg.LDLFactorEx

__all__ = ["aminmax", "cummax", "cummin", "frexp", "histogram", "histogramdd", "kthvalue", "linalg_cholesky_ex",
           "linalg_eigh", "linalg_inv_ex", "linalg_ldl_factor", "linalg_ldl_factor_ex", "linalg_lstsq", "linalg_lu",
           "linalg_lu_factor", "linalg_lu_factor_ex", "linalg_qr", "linalg_slogdet", "linalg_solve_ex", "linalg_svd",
           "lu_unpack", "max", "median", "min", "mode", "nanmedian", "qr", "slogdet", "sort", "svd", "topk",
           "triangular_solve"]
