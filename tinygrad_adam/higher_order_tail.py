"""Differentiable backwards (see :mod:`higher_order`) of the long tail: asin, acos, atanh, acosh, i0 (through i1),
copysign, fmod, remainder, nan_to_num, logcumsumexp, nansum, diagonal / diag_embed, frexp's mantissa, frac, and the
piecewise-constant sign, angle, round, floor, ceil and trunc; tril / triu, ldexp, inv, linalg.pinv, linalg.solve,
special.ndtr / log_ndtr / ndtri / entr, and det / slogdet / logdet away from singular matrices (heaviside has none:
torch has no derivative for it); div with a rounding_mode, fill, index_fill, nextafter, vector_norm(ord=0),
matrix_power(x, 0), renorm, special.i0e / i1e / erfcx, as_strided and householder_product without a reflector.

Each is torch's derivative formula in Tensor ops, so its second derivative is the one torch's autograd takes of
that formula, edge values included: asin's and acos's rsqrt(1 - x^2) is inf at +-1 and nan beyond; copysign's
result / x is masked to 0 at x = 0; the rounded quotient of fmod and remainder has a zero derivative (torch's
rounding division); nan_to_num's mask isfinite(x) is a constant; logcumsumexp's gradient is its log-domain sum of
the positive and negative parts of g, built of logcumsumexp itself (so it can be differentiated any number of
times). The piecewise-constant ops' gradient is zeros without history (torch's zeros_like(grad)); diagonal's
is g laid on the diagonal of zeros, a linear op of g whose own backward is diagonal again.
"""

from __future__ import annotations

import math

import numpy

from . import backend
from .higher_order import DIFFERENTIABLE, depends, differentiable, saved, sum_mean, sum_to, swap_last
from .higher_order_more import custom, pair, sign_of
from .higher_order_nn import first_order, linear_map
from .ops import elementwise as ew
from .ops import linalg, movement, reduce, spectral, statistics, unary
from .ops.activation import INV_SQRT_2PI
from .tensor import Tensor, constant, record

SQRT_2PI = math.sqrt(2 * math.pi)


def rsqrt(t: Tensor) -> Tensor:
    """1 / sqrt(t) as Tensor ops (inf at 0, nan below, as torch's rsqrt)."""
    return 1 / ew.sqrt(t)


def _one_minus_square(x: Tensor) -> Tensor:
    """1 - x^2 with the first order's value, (1 - x)(1 + x) (x^2 rounds away its last term near |x| = 1), and the
    derivative of 1 - x^2, -2x: the factored form's product rule is inf * 0 = nan at x = +-1, torch's -+inf."""
    u = 1 - x * x
    with ew.ignore_fp_errors(x.xp):
        exact = unary.one_minus_square(x._data)
        return u + constant(x.xp.where(exact == u._data, 0, exact - u._data))  # (b - a is exact: a + (b - a) = b)


@differentiable("asin")
def asin(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: g rsqrt(1 - x^2)
    x = node._parents[0]
    return (g * rsqrt(_one_minus_square(x)),)


@differentiable("acos")
def acos(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: g -rsqrt(1 - x^2)
    x = node._parents[0]
    return (g * -rsqrt(_one_minus_square(x)),)


@differentiable("atanh")
def atanh(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: g / (1 - x^2)
    x = node._parents[0]
    return (g / _one_minus_square(x),)


@differentiable("acosh")
def acosh(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: g rsqrt(x^2 - 1)
    x = node._parents[0]
    return (g * rsqrt(0 - _one_minus_square(x)),)


@differentiable("i0")
def i0(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g i1(x), i1 an op of its own (differentiable again)."""
    x = node._parents[0]
    return (g * custom("i1", backend.special("i1", x._data).astype(x.dtype, copy=False), (x,)),)


@differentiable("i1")
def i1(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's i1_backward: g (i0(x) - i1(x) / x), and g / 2 where |x| <= eps (x there replaced by the constant
    eps, so that part has no derivative in x)."""
    x = node._parents[0]
    eps = float(numpy.finfo(x.dtype).eps)
    not_tiny = constant(x.xp.abs(x._data) > eps)
    safe = ew.where(not_tiny, x, eps)
    return (g * ew.where(not_tiny, unary.i0(safe) - node * (1 / safe), 0.5),)


def _zeros(t: Tensor, g: Tensor) -> Tensor:
    """Zeros of ``t``'s shape in ``g``'s dtype, without history (torch's zeros_like)."""
    return constant(g.xp.zeros(t.shape, g.dtype))


@differentiable("sign", "angle", "round", "floor", "ceil", "trunc", "identity_like")
def piecewise_constant(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """Zeros without history, as torch's zeros_like(grad) (identity_like: a matrix to the power 0)."""
    return (_zeros(g, g),)


@differentiable("div_rounded")
def div_rounded(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """``div`` with a ``rounding_mode``: zeros without history for both operands (torch's)."""
    a, b = node._parents
    return pair(a, b, lambda: _zeros(a, g), lambda: _zeros(b, g))


@differentiable("frac")
def frac(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (g,)


@differentiable("frexp")
def frexp(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """The mantissa's g 2^-exponent (a constant: the exponent has no derivative)."""
    with ew.ignore_fp_errors(g.xp):
        return (g * constant(g.xp.ldexp(g.xp.ones((), g.dtype), -saved(node, "exponent"))),)


@differentiable("nansum")
def nansum(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g broadcast back, times the constant mask "x is not nan" (a product: an inf g gives nan at a nan, as torch)."""
    x = node._parents[0]
    return (sum_mean(node, g)[0] * constant((~x.xp.isnan(x._data)).astype(g.dtype)),)


@differentiable("diag_embed")
def diag_embed(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (movement.diagonal(g, saved(node, "offset"), saved(node, "d1"), saved(node, "d2")),)


@differentiable("diagonal")
def diagonal(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g (..., n) laid on the diagonal of zeros shaped as x, recorded with the backward diagonal(h)."""
    shape, offset, d1, d2 = node._parents[0].shape, saved(node, "offset"), saved(node, "d1"), saved(node, "d2")
    full = g.xp.zeros(shape, g.dtype)
    backend.diagonal(full, offset, d1, d2)[...] = g._data
    return (record("_onto_diagonal", full, (g,), lambda h: (backend.diagonal(h, offset, d1, d2),)),)


@differentiable("_onto_diagonal")
def onto_diagonal(node: Tensor, g: Tensor) -> tuple[Tensor]:
    return (movement.diagonal(g, saved(node, "offset"), saved(node, "d1"), saved(node, "d2")),)


@differentiable("copysign")
def copysign(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """g (result / a), 0 where a is 0 (torch's copysign_tensor_self_backward: the result keeps its history), and
    zeros for b (torch's zeros_like: no history)."""
    a, b = node._parents
    ratio = ew.where(constant(a._data == 0), 0, node / a)
    return pair(a, b, lambda: g * ratio, lambda: constant(a.xp.zeros(node.shape, g.dtype)))


@differentiable("fmod", "remainder")
def modulo(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """g for a and -g q for b, q the rounded quotient (truncated for fmod, floored for remainder), whose derivative
    is 0 (torch's div with a rounding mode)."""
    a, b = node._parents
    with ew.ignore_fp_errors(a.xp):
        q = saved(node, "quotient")(a._data, b._data)
    return pair(a, b, lambda: g, lambda: -g * depends(q.astype(g.dtype, copy=False), b))


@differentiable("nan_to_num")
def nan_to_num(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g isfinite(x): a constant mask (nan where g is nan or inf at a non-finite x, as torch)."""
    x = node._parents[0]
    return (g * constant(x.xp.isfinite(x._data).astype(g.dtype)),)


@differentiable("logcumsumexp")
def logcumsumexp(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's logcumsumexp_backward: exp(x_i + log sum_{j >= i} |g_j| exp(-out_j)) over the positive g_j, minus
    the same over the negative ones, each sum a reversed logcumsumexp (g itself for a 0-d or empty input)."""
    x = node._parents[0]
    if x.ndim == 0 or g.size == 0:
        return (g,)
    d = saved(node, "d")
    log_g = ew.log(ew.abs(g))

    def part(sign: object) -> Tensor:
        t = movement.flip(ew.where(constant(sign), log_g, float(numpy.finfo(g.dtype).min)) - node, (d,))
        return ew.exp(movement.flip(statistics.logcumsumexp(t, d), (d,)) + x)
    return (part(g._data > 0) - part(g._data < 0),)


@differentiable("tril", "triu")
def triangle(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g's triangle (the forward's mask ``keep`` of the last two dims): a linear op of g, differentiable again."""
    return (ew.where(constant(saved(node, "keep")), g, 0),)


@differentiable("ldexp")
def ldexp(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """torch's: g 2^b for a (2^b an exp2 of b, a constant for an integer b, which has no gradient) and (g result)
    ln 2 for a floating b."""
    x, b = node._parents
    if b.dtype.kind == "f":
        scale = unary.exp2(b if b.dtype == node.dtype else ew.astype(b, node.dtype))
    else:
        scale = constant(saved(node, "scale"))
    return pair(x, b, lambda: g * scale, lambda: (g * node) * math.log(2))


@differentiable("ndtr")
def ndtr(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: g exp(-x^2 / 2) / sqrt(2 pi)
    x = node._parents[0]
    return (g * (ew.exp(x * x * -0.5) * INV_SQRT_2PI),)


@differentiable("log_ndtr")
def log_ndtr(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's g exp(-(result + x^2 / 2)) / sqrt(2 pi), in the input's dtype (the first-order backward forms it in
    float64)."""
    x = node._parents[0]
    return (g * INV_SQRT_2PI * ew.exp(-(node + x * x * 0.5)),)


@differentiable("ndtri")
def ndtri(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: g sqrt(2 pi) exp(result^2 / 2)
    return (g * SQRT_2PI * ew.exp(node * node * 0.5),)


@differentiable("entr")
def entr(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: g -(1 + log x)
    return (g * -(1 + ew.log(node._parents[0])),)


@differentiable("inv")
def inv(node: Tensor, g: Tensor) -> tuple[Tensor]:  # torch's: -A^-T (g A^-T)
    inverse_t = swap_last(node)
    return (-(inverse_t @ (g @ inverse_t)),)


@differentiable("linalg_pinv")
def pinv(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's pinv_backward (Golub and Pereyra), ``ops.spectral.pinv_backward`` in Tensor ops on P = pinv(A) with
    its history (the same formula for ``hermitian``)."""
    return (pinv_backward(g, node, node._parents[0]),)


def pinv_backward(g: Tensor, p: Tensor, a: Tensor) -> Tensor:
    """torch's pinv_backward on Tensors with their history: g the gradient of P = pinv(A)."""
    return spectral.pinv_backward(g, p, a, swap_last)


@differentiable("solve")
def solve(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """torch's linalg_solve_backward under create_graph: gB = solve(A^T, g), gA = -gB X^T on X = the node with its
    history (a vector B as a column), each summed back over broadcast batch dims."""
    a, b = node._parents
    vector = saved(node, "vector")
    gm = movement.reshape(g, g.shape + (1,)) if vector else g
    xm = movement.reshape(node, node.shape + (1,)) if vector else node
    gb = linalg.solve(swap_last(a), gm)
    ga = sum_to(-(gb @ swap_last(xm)), a.shape) if a.requires_grad else None
    gb_out = sum_to(movement.reshape(gb, gb.shape[:-1]) if vector else gb, b.shape) if b.requires_grad else None
    return ga, gb_out


def _conditioned_inverse_t(op: str, a: Tensor) -> Tensor:
    """A^-T (a Tensor with history) of a batch of well-conditioned matrices; NotImplementedError for one that is
    singular, near it (condition number above eps^-1/3, where A^-T loses the digits torch's SVD rule keeps and its
    LU solve fails or loses too) or holds a nan or inf."""
    xp = a.xp
    if a.size == 0:
        return swap_last(linalg.inv(a))
    s = xp.linalg.svd(a._data, compute_uv=False) if bool(xp.isfinite(a._data).all()) else None
    if s is None or bool((s[..., -1] <= s[..., 0] * float(numpy.finfo(a.dtype).eps) ** (1 / 3)).any()):
        raise NotImplementedError(f"double backward through {op} is not supported at a singular or near-singular "
                                  f"matrix, or one holding nan or inf; compute this part without create_graph=True")
    return swap_last(linalg.inv(a))


@differentiable("det")
def det(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g det(A) A^-T (torch's formula for an invertible A), g itself for 1 x 1 matrices; raises where A is singular
    or near it (see _conditioned_inverse_t)."""
    a = node._parents[0]
    if a.size == 0:  # (torch's zeros, without history)
        return (_zeros(a, g),)
    column = movement.reshape(g, g.shape + (1, 1))
    if a.shape[-1] == 1:  # d det = 1
        return (column,)
    return ((column * movement.reshape(node, node.shape + (1, 1))) * _conditioned_inverse_t("det", a),)


@differentiable("slogdet")
def slogdet(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's g A^-T (logdet's too); raises where A is singular or near it (see _conditioned_inverse_t)."""
    return (movement.reshape(g, g.shape + (1, 1)) * _conditioned_inverse_t("slogdet", node._parents[0]),)


# ------------------------------------------- fill, index_fill, nextafter, ord-0 norm, matrix power 0, renorm, i0e ...
@differentiable("fill")
def fill(node: Tensor, g: Tensor) -> tuple[Tensor | None, ...]:
    """Zeros without history for the input; a 0-d tensor value gets the sum of g."""
    grads: tuple[Tensor | None, ...] = (_zeros(node._parents[0], g) if node._parents[0].requires_grad else None,)
    if len(node._parents) == 2:
        value = node._parents[1]
        total = reduce.sum(g) if value.dtype == g.dtype else ew.astype(reduce.sum(g), value.dtype)
        grads += (total if value.requires_grad else None,)
    return grads


@differentiable("index_fill")
def index_fill(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """g with zeros in the filled slices for the input; the sum of g over those slices (each once) for the value."""
    a, v = node._parents
    filled = g.xp.zeros(a.shape, bool)
    filled.reshape(a.shape or (1,))[saved(node, "key")] = True  # (a contiguous reshape: a view of ``filled``)
    mask = constant(filled)
    return (ew.where(mask, 0, g) if a.requires_grad else None,
            reduce.sum(ew.where(mask, g, 0)) if v.requires_grad else None)


@differentiable("nextafter")
def nextafter(node: Tensor, g: Tensor) -> tuple[Tensor | None, Tensor | None]:
    """g where a != b (0 where equal) for a, zeros without history for b (torch 2.13's)."""
    a, b = node._parents
    moved = constant(a._data != b._data)
    return pair(a, b, lambda: ew.where(moved, g, 0), lambda: _zeros(node, g))


@differentiable("vector_norm", "linalg_householder_product")
def no_gradient(node: Tensor, g: Tensor) -> tuple[None, ...]:
    """``vector_norm(x, 0)`` (the count of non-zeros) and ``householder_product`` without a reflector (the
    identity's columns): no gradient (torch's backward leaves the inputs' None)."""
    return (None,) * len(node._parents)


@differentiable("renorm")
def renorm(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's renorm_backward in Tensor ops: factor g - factor / (norm + 1e-7) nb in the slices whose norm
    exceeds maxnorm (factor = maxnorm / (norm + 1e-7), nb the norm's backward of sum(x g) over the slice), g in the
    others."""
    x, p = node._parents[0], saved(node, "p")
    maxnorm, others = float(node._backward.maxnorm), saved(node, "others")
    size = statistics.norm(x, float(p), others, True)
    nb = DIFFERENTIABLE["norm"](size, reduce.sum(x * g, others, True))[0]
    inverse = 1 / (size + 1e-7)
    factor = inverse * maxnorm
    return (ew.where(constant(size._data > maxnorm), factor * g - factor * inverse * nb, g),)


@differentiable("erfcx")
def erfcx(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """g (2 x erfcx(x) - 2 / sqrt(pi))."""
    return (g * (2 * node._parents[0] * node - 2 / math.sqrt(math.pi)),)


def _scaled_bessel(name: str, x: Tensor) -> Tensor:
    """special.i0e / i1e of ``x`` as a node whose backward is the differentiable one registered for ``name``."""
    with ew.ignore_fp_errors(x.xp):
        return custom(name, backend.special(name, x._data).astype(x.dtype, copy=False), (x,))


@differentiable("i0e")
def i0e(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's: g (i1e(x) - sgn(x) i0e(x)), i1e an op of its own (differentiable again)."""
    x = node._parents[0]
    return (g * (_scaled_bessel("i1e", x) - depends(sign_of(x._data, g.dtype), x) * node),)


@differentiable("i1e")
def i1e(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """torch's i1e_backward: g (i0e(x) - i1e(x) (sgn(x) + 1 / x)), and g / 2 where |x| <= eps or x is nan (x there
    replaced by the constant eps)."""
    x = node._parents[0]
    not_tiny = constant(x.xp.abs(x._data) > float(numpy.finfo(x.dtype).eps))
    safe = ew.where(not_tiny, x, float(numpy.finfo(x.dtype).eps))
    slope = _scaled_bessel("i0e", safe) - node * (depends(sign_of(x._data, g.dtype), x) + 1 / safe)
    return (g * ew.where(not_tiny, slope, 0.5),)


@differentiable("as_strided")
def as_strided(node: Tensor, g: Tensor) -> tuple[Tensor]:
    """The first-order backward (a scatter-add into the storage read back at the input's places), a linear map of g
    recorded with its transpose (``storage.as_strided``'s ``adjoint``)."""
    return (linear_map(g, first_order(node), node._backward.adjoint),)
