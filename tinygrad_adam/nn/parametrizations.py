"""``nn.utils.parametrizations``, as torch's: ``weight_norm`` and ``spectral_norm`` as parametrizations (see
``parametrize.py``): the weight is recomputed from its originals on every access.

- ``weight_norm(m)``: ``m.weight = g v / ||v||``, ``g`` = ``parametrizations.weight.original0`` (the norms, one per
  slice along ``dim``), ``v`` = ``original1`` (the direction), torch's names and formula (``_weight_norm``).
- ``spectral_norm(m)``: ``m.weight = W / sigma(W)``, ``W`` = ``parametrizations.weight.original``, the largest
  singular value ``sigma`` estimated by power iteration with the buffers ``parametrizations.weight.0._u`` / ``_v``,
  which advance ``n_power_iterations`` steps on every access in training mode only (15 steps when registered).
- ``orthogonal(m)``: ``m.weight`` with orthonormal columns (rows), from ``original`` through the matrix exponential,
  the Cayley map or Householder reflectors of a skew / lower-triangular part, times the buffer
  ``parametrizations.weight.0.base`` (torch's trivialization).
"""

from __future__ import annotations

from typing import Any

import numpy

from .. import backend, linalg
from ..autograd import no_grad
from ..creation import randn
from ..ops import reduce, statistics
from ..ops.movement import concatenate, wrap_dim
from ..tensor import Tensor
from . import functional as F
from . import parametrize
from .layers import _ConvTransposeNd
from .module import Module


def _floating(op: str, t: Tensor) -> None:
    if t.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating-point tensor, got {t.dtype}; convert it first (e.g. .float())")


def _other_dims(op: str, v: Tensor, dim: int) -> tuple[int, ...]:
    """Every dim of ``v`` but ``dim`` (torch's IndexError when ``dim`` is out of range or ``v`` is 0-d)."""
    if v.ndim == 0:
        raise IndexError(f"{op}: dim {dim} given but the tensor is 0-d; use dim=-1 (or None) for the whole tensor")
    d = wrap_dim(op, dim, v.ndim)
    return tuple(i for i in range(v.ndim) if i != d)


def norm_except_dim(v: Tensor, pow: float = 2, dim: int = 0) -> Tensor:  # noqa: A002 - torch's name
    """torch.norm_except_dim: the ``pow``-norm of each slice of ``v`` along ``dim``, over all the other dims, kept as
    size-1 dims (shape (1, .., v.shape[dim], .., 1)); ``dim=-1``: the norm of the whole tensor (0-d)."""
    _floating("norm_except_dim", v)
    if dim == -1:
        return v.norm(pow)
    others = _other_dims("norm_except_dim", v, dim)
    if v.shape[dim] == 0:  # torch's reshape to (0, -1) fails here, so its weight_norm does too
        raise ValueError(f"norm_except_dim: dim {dim} of the tensor {v.shape} is empty; there are no slices to norm")
    return statistics.norm(v, float(pow), others, keepdims=True)  # (ops-level: no dims left is no reduction)


def _weight_norm(v: Tensor, g: Tensor, dim: int = 0) -> Tensor:
    """torch._weight_norm: v * (g / norm_except_dim(v, 2, dim)). For dim 0 and the last dim torch runs a fused
    kernel whose norm is sqrt(sum v^2) even over one element (so 1e-200 squares to 0), and which reads g as one
    value per slice whatever its shape: the same here."""
    if dim not in (0, v.ndim - 1):
        return v * (g / norm_except_dim(v, 2, dim))
    _floating("weight_norm", v)
    norm = reduce.sum(v * v, _other_dims("weight_norm", v, dim), keepdims=True).sqrt()  # (none left: no reduction)
    if v.dtype != g.dtype or g.numel() != norm.numel():
        raise ValueError(f"weight_norm: g must hold one {v.dtype} value per slice of v {v.shape} along dim {dim}, "
                         f"got {g.dtype} {g.shape}")
    return v * (g.reshape(norm.shape) / norm)


class _WeightNorm(Module):
    """weight = g v / ||v||, from (g, v) = (original0, original1); ``dim`` None or -1: one norm for all of v."""

    def __init__(self, dim: int | None = 0) -> None:
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalisation (Salimans & Kingma, 2016) of ``module.<name>`` as a parametrization: ``g`` (the norms of
    its slices along ``dim``, shape (n, 1, ...) for dim 0; one 0-d norm for dim None) and ``v`` (the tensor itself)
    become ``parametrizations.<name>.original0`` / ``original1``; returns ``module``. As in torch,
    ``load_state_dict`` also takes the hook-based weight_norm's keys ``<name>_g`` / ``<name>_v`` for them."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def legacy_keys(state_dict: dict[str, Any], prefix: str) -> None:
        g, v = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g in state_dict and v in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v)
    vars(module).setdefault("_load_state_dict_pre_hooks", []).append(legacy_keys)  # (see Module.load_state_dict)
    return module


class _SpectralNorm(Module):
    """weight / sigma, sigma = u . (W v) for W the weight as a matrix (dim ``dim`` first, the rest flattened); a 1-D
    weight is just normalised. ``_u`` (h,) and ``_v`` (w,) are buffers, moved on by the power method."""

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        ndim = weight.ndim
        if not -ndim <= dim < ndim:
            raise IndexError(f"spectral_norm: dim {dim} is out of range for a {ndim}-d weight (expected "
                             f"{-ndim}..{ndim - 1})")
        if n_power_iterations <= 0:
            raise ValueError(f"spectral_norm: n_power_iterations must be positive, got {n_power_iterations}")
        self.dim = dim % ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight)
            h, w = weight_mat.shape
            u = randn(h, dtype=weight.dtype, device=weight.device)
            v = randn(w, dtype=weight.dtype, device=weight.device)
            self.register_buffer("_u", F.normalize(u, dim=0, eps=eps))
            self.register_buffer("_v", F.normalize(v, dim=0, eps=eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        """u <- W v / |W v|, then v <- W^T u / |W^T u|, ``n_power_iterations`` times, in place, without a graph."""
        with no_grad():
            for _ in range(n_power_iterations):
                self._u.copy_(F.normalize(weight_mat.mv(self._v), dim=0, eps=self.eps))
                self._v.copy_(F.normalize(weight_mat.T.mv(self._u), dim=0, eps=self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u, v = self._u.clone(), self._v.clone()  # copies: a later step's in-place update leaves this graph valid
        return weight / u.dot(weight_mat.mv(v))

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def default_dim(module: Module) -> int:
    """The dim of the outputs in ``module``'s weight: 1 for a transposed convolution, else 0 (torch's rule)."""
    return 1 if isinstance(module, _ConvTransposeNd) else 0  # ConvTranspose1d / 2d / 3d, as torch


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: int | None = None) -> Module:
    """Spectral normalisation (Miyato et al., 2018) of ``module.<name>`` as a parametrization: the tensor, as a
    matrix with ``dim`` (default: the outputs' dim) first, is divided by its largest singular value, estimated by
    ``n_power_iterations`` steps of the power method on each access in training mode (the vectors are the buffers
    ``parametrizations.<name>.0._u`` / ``_v``; in eval mode they stay as they are). Returns ``module``."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter or buffer named {name!r}")
    _floating("spectral_norm", weight)
    dim = default_dim(module) if dim is None else dim
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


ORTHOGONAL_MAPS = ("matrix_exp", "cayley", "householder")


def _mT(x: Tensor) -> Tensor:  # noqa: N802 - torch's name
    return x.transpose(-2, -1)


def _make_orthogonal(a: Tensor) -> Tensor:
    """The Q of the QR factorization of the tall matrices A (..., n, k), its columns' signs set so that R's diagonal
    is >= 0 (a column with a zero there becomes zero, torch's sgn), as torch's _make_orthogonal (geqrf, orgqr)."""
    q, r = linalg.qr(a)
    return q * r.diagonal(0, -2, -1).sign().unsqueeze(-2)


def _is_orthogonal(q: Tensor) -> bool:
    n, k = q.shape[-2:]
    eye = Tensor(q.xp.eye(k, dtype=q.dtype), device=q.device)
    return bool((_mT(q) @ q).allclose(eye, atol=10.0 * n * float(numpy.finfo(q.dtype).eps)))


class _Orthogonal(Module):
    """torch's orthogonal parametrization: X (..., n, k) -> a matrix with orthonormal columns (rows, when n < k),
    through ``orthogonal_map``; with ``use_trivialization`` the result is ``base @ Q(X)``, ``base`` a buffer set by
    ``right_inverse`` (which then stores -I in the original)."""

    def __init__(self, weight: Tensor, orthogonal_map: str, *, use_trivialization: bool = True) -> None:
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x: Tensor) -> Tensor:
        n, k = x.shape[-2:]
        transposed = n < k
        if transposed:
            x, n, k = _mT(x), k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            x = x.tril()
            if n != k:  # embed into a square matrix
                x = concatenate([x, Tensor(x.xp.zeros(x.shape[:-1] + (n - k,), dtype=x.dtype), device=x.device)], -1)
            a = x - _mT(x)  # skew-symmetric
            if self.orthogonal_map == "matrix_exp":
                q = linalg.matrix_exp(a)
            else:  # the Cayley retraction (I + A/2)(I - A/2)^-1
                eye = Tensor(a.xp.eye(n, dtype=a.dtype), device=a.device)
                q = linalg.solve(eye - 0.5 * a, eye + 0.5 * a)
            q = q[..., :k] if n != k else q
        else:
            a = x.tril(-1)
            q = linalg.householder_product(a, 2.0 / (1.0 + (a * a).sum(-2)))
            # the diagonal of X holds 1s and -1s, neither differentiated nor updated (torch's .int())
            q = q * x.diagonal(0, -2, -1).detach().astype(numpy.int32).unsqueeze(-2)
        if getattr(self, "base", None) is not None:
            q = self.base @ q
        return _mT(q) if transposed else q

    def right_inverse(self, q: Tensor) -> Tensor:
        """The original that gives ``q``: with the trivialization, ``q`` orthogonalized (completed with random
        columns when not square) becomes ``base`` and the original is -I; without it (householder only), Q's
        compact QR (geqrf) with R's diagonal replaced by its signs."""
        if q.shape != self.shape:
            raise ValueError(f"orthogonal: right_inverse needs shape {self.shape}, not {q.shape}")
        with no_grad():
            q_init = q
            n, k = q.shape[-2:]
            transpose = n < k
            if transpose:
                q, n, k = _mT(q), k, n
            if not hasattr(self, "base"):
                if self.orthogonal_map != "householder":
                    raise NotImplementedError("orthogonal: assigning to the matrix exponential or the Cayley "
                                              "parametrization needs use_trivialization=True")
                h, tau = q.xp.linalg.qr(q._data, mode="raw")  # LAPACK's geqrf, transposed
                a = h.swapaxes(-1, -2).copy()
                diag = backend.diagonal(a, 0, -2, -1)
                diag[...] = q.xp.where(tau == 0, -q.xp.sign(diag), q.xp.sign(diag))
                a = Tensor(a, device=q.device)
                return _mT(a) if transpose else a
            if n == k:
                q = q.clone() if _is_orthogonal(q) else _make_orthogonal(q)
            else:  # complete Q into an n x n orthogonal matrix
                extra = randn(*(q.shape[:-1] + (n - k,)), dtype=q.dtype, device=q.device)
                q = _make_orthogonal(concatenate([q, extra], -1))
            self.base = q
            neg_eye = q_init.xp.zeros(q_init.shape, dtype=q_init.dtype)
            backend.diagonal(neg_eye, 0, -2, -1)[...] = -1
            return Tensor(neg_eye, device=q_init.device)


def orthogonal(module: Module, name: str = "weight", orthogonal_map: str | None = None, *,
               use_trivialization: bool = True) -> Module:
    """torch's orthogonal parametrization of ``module.<name>`` (a matrix or batch of matrices (..., n, k)): the
    tensor always has orthonormal columns (rows when n < k), through ``orthogonal_map`` "matrix_exp" (the default
    for square matrices), "cayley" or "householder" (the default otherwise). With ``use_trivialization`` (the
    default) the tensor is ``base @ map(original)``, ``base`` a buffer of the parametrization set when a value is
    assigned; a non-square one is completed with ``randn`` columns (our generator: the same seed gives torch's base
    only for square matrices). Returns ``module``."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"orthogonal: module {type(module).__name__} has no parameter or buffer named {name!r}")
    if weight.ndim < 2:
        raise ValueError(f"orthogonal: the weight has {weight.ndim} dims; it needs 2 or more (matrices, maybe batched)")
    _floating("orthogonal", weight)
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in ORTHOGONAL_MAPS:
        raise ValueError(f"orthogonal: unknown orthogonal_map {orthogonal_map!r} (choices: 'matrix_exp', 'cayley', "
                         "'householder')")
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module


__all__ = ["orthogonal", "spectral_norm", "weight_norm"]
