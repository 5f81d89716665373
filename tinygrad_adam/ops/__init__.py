"""Differentiable ops, by family. Each op computes its output array with the backend's
array module and records a small ``backward(g)`` closure beside it.

- ``elementwise``: + - * / **, remainder, fmod, exp, log, sqrt, tanh, sigmoid, relu, softplus, abs, clip, maximum,
  minimum, where
- ``reduce``: sum, mean, max, min, logsumexp, log_softmax, softmax
- ``movement``: reshape, transpose, broadcast_to, squeeze, unsqueeze, getitem, concatenate, stack, pad, to(device)
- ``linalg``: matmul, einsum, outer, addmm, diag, diag_embed, block_diag; inv, det, slogdet, logdet, solve
- ``factor``: cholesky (with LAPACK's info), solve_triangular, cholesky_solve, cholesky_inverse, matrix_exp;
  the LU pivots behind inv_ex / solve_ex's info; LinAlgError
- ``spectral``: qr, eigh / eigvalsh, svd / svdvals, pinv, lstsq (LAPACK forward, torch's backward per output),
  householder_product (compact WY form)
- ``linear``: x @ W.T + b as one op (the Linear layer)
- ``sparse``: dropout and linear on CSR minibatches (bag-of-words inputs), touching only stored entries
- ``conv``: conv2d (im2col through strided views + GEMM)
- ``pool``: max_pool2d (argmax kept for backward; dilation), avg_pool2d
- ``sample``: grid_sample (bilinear, nearest, bicubic; zeros / border / reflection padding; 5-D input: trilinear and
  nearest) and affine_grid (2-D and 3-D maps)
- ``loss``: fused softmax cross-entropy, NLL, stable BCE-with-logits, BCE on probabilities, smooth L1 / Huber,
  KL divergence
- ``ctc``: the CTC loss (alpha recursion forward, torch's beta-recursion gradient)
- ``activation``: gelu (exact and tanh), silu, mish, leaky_relu / prelu, elu / selu / celu, hardtanh,
  hardsigmoid, hardswish, logsigmoid, threshold
- ``norm``: layer_norm, batch_norm (running statistics updated in place)
- ``unary``: sin, cos, tan, log2, log10, exp2, sign, round / floor / ceil / trunc, frac, log1p, expm1, erf, erfc,
  erfinv, ndtr, ndtri, log_ndtr, entr, reciprocal, nan_to_num, frexp
- ``binary``: atan2, hypot, logaddexp, copysign, ldexp, lerp, heaviside, isclose, nextafter, igamma / igammac
- ``statistics``: cumsum, cumprod, prod, var, std, cov, corrcoef, norm, renorm, histc
- ``index``: gather, scatter, scatter_add, scatter_reduce, index_reduce, index_put (``x[i] = v``; torch's index_put
  with accumulate), one_hot, index_select, nonzero, bincount, embedding (with embedding_renorm_; ``sparse=True``:
  the weight's gradient a ``SparseGrad``, see ``sparse_grad.py``)
- ``sort``: argsort, sort, topk, kthvalue, median, nanmedian, unique, unique_consecutive
- ``bitwise``: & | ^ ~ << >> on bool and integer tensors, torch's promotion and shift rules (no gradient)
- ``inplace``: the in-place write (``add_``, ``+=``, ``x[i] = v`` ...): torch's rules and the version check
- ``foreach``: torch's ``_foreach_*`` list ops (add / sub / mul / div / lerp), loops of the tensor ops

``movement`` also has clone, tril, triu, repeat, repeat_interleave, flip, roll, narrow, movedim, unbind and
diagonal. Torch's method names and call shapes are bound in ``methods.py``.
"""

from typing import Any

CUSTOM_OPS: dict[str, Any] = {}  # "ns::name" -> the op ``library.custom_op`` made (torch.ops.ns.name reads it)


class OpNamespace:
    """``torch.ops.<ns>``: the custom ops registered under that namespace, as attributes."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, op: str) -> Any:
        if f"{self.name}::{op}" not in CUSTOM_OPS:
            raise AttributeError(f"no custom op '{self.name}::{op}'; make it with library.custom_op first")
        return CUSTOM_OPS[f"{self.name}::{op}"]

    def __repr__(self) -> str:
        return f"<namespace of custom ops {self.name!r}>"


def __getattr__(name: str) -> Any:
    """``torch.ops.<ns>.<op>`` for the custom ops of namespace ``ns`` (this package also holds the library's own op
    families, whose module names are not namespaces)."""
    if any(key.partition("::")[0] == name for key in CUSTOM_OPS):
        return OpNamespace(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} (nor a custom op namespace of that name)")
