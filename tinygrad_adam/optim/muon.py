"""Muon (Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural networks"), as torch.optim.Muon:
momentum SGD on 2-D parameters whose update is orthogonalized by a few Newton-Schulz iterations before it is applied,
with decoupled weight decay and a learning rate scaled by the matrix's shape (Keller Jordan's, or Moonshot's
"match_rms_adamw" from Liu et al. 2025, "Muon is Scalable for LLM Training").

No fused kernel: Newton-Schulz is matrix products over the whole update, which a per-element program cannot hold, so
every ``impl`` runs the readable update (vectorised array code, on any device).

Precision: torch runs the Newton-Schulz iteration in bfloat16, which numpy and cupy do not have. Here each of its ops
computes in float32 and rounds the result to bfloat16 (round to nearest even, :func:`round_to_bfloat16`), as torch's
CPU kernels do (they compute in float32 and round once per op), so the orthogonalized update has torch's bfloat16
values; it can differ where a float32 sum of a matrix product, summed in another order than torch's, lands on the
other side of a bfloat16 rounding boundary (one bfloat16 unit, 2^-8 relative, in that entry, which the next
iterations carry along).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

from .. import backend
from ..ops.binary import _wide
from ..ops.elementwise import ignore_fp_errors
from ..tensor import Array, Tensor
from .adafactor import _lerp
from .optimizer import Group, Optimizer, State, _number, check_nonnegative

# Keller Jordan's quintic coefficients (a, b, c), steps and eps, torch's defaults
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
EPS = 1e-7
ADJUST_LR_FNS = (None, "original", "match_rms_adamw")
BFLOAT16_MAX = 3.3895313892515355e38  # (2 - 2^-7) 2^127: a finite eps past it cannot be clamped to in bfloat16


def round_to_bfloat16(x: Array) -> Array:
    """``x`` (any float dtype, any shape) rounded to bfloat16, kept as float32: round to nearest even on the top 16
    bits of the float32 value, as torch's conversion (a float64 goes through float32 first, as torch's does); nan
    stays nan, values past bfloat16's largest become inf."""
    xp = backend.get_array_module(x)
    x = x.astype(xp.float32)
    bits = x.view(xp.uint32)
    half = xp.uint32(0x7FFF) + ((bits >> xp.uint32(16)) & xp.uint32(1))  # ties go to the even top half
    rounded = ((bits + half) & xp.uint32(0xFFFF0000)).view(xp.float32)
    return xp.where(xp.isnan(x), x, rounded)


def _frobenius_norm(x: Array) -> Array:
    """torch's norm of a bfloat16 matrix on the CPU, as a 0-d float32 array: squares summed in float32 (inf past
    float32's range, 0 below it, as torch's), the one entry's absolute value for a 1x1 matrix."""
    xp = backend.get_array_module(x)
    if x.size == 1:
        return xp.abs(x).reshape(())
    return xp.sqrt((x * x).sum())


def zeropower_via_newtonschulz(g: Array, coefficients: tuple[float, float, float], steps: int, eps: float) -> Array:
    """The orthogonalized ``g`` (shape (A, B), any float dtype): ``steps`` iterations of the quintic
    X <- a X + (b X X^T + c (X X^T)^2) X from X_0 = G / max(||G||_F, eps), which push every singular value of G
    towards 1 (to about [0.7, 1.2]: Jordan's coefficients trade exactness for speed). Computed on the wide side
    (G^T for a tall G) and in bfloat16, as torch's; returns float32 holding bfloat16 values, shape (A, B)."""
    xp = backend.get_array_module(g)
    a, b, c = coefficients
    bf16 = round_to_bfloat16
    with ignore_fp_errors(xp):
        x = bf16(g)
        tall = x.shape[0] > x.shape[1]
        if tall:
            x = x.T                                                   # X X^T is then the smaller Gram matrix
        norm = xp.maximum(bf16(_frobenius_norm(x)), eps)
        x = bf16(x / bf16(norm))                                      # X_0 = G / max(||G||_F, eps): spectral norm <= 1
        for _ in range(steps):
            gram = bf16(x @ x.T)                                      # A = X X^T
            poly = bf16(b * gram + c * (gram @ gram))                 # B = b A + c A^2 (one addmm)
            x = bf16(a * x + poly @ x)                                # X <- a X + B X (one addmm)
    return x.T if tall else x


def adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: tuple[int, ...]) -> float:
    """The lr the orthogonalized update of a (A, B) parameter is applied with: Keller Jordan's ("original", the default
    None) lr sqrt(max(1, A / B)), or Moonshot's ("match_rms_adamw") 0.2 lr sqrt(max(A, B)), which gives the update
    AdamW's RMS so that AdamW's lr and weight decay carry over."""
    rows, cols = shape
    if adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(rows, cols))
    else:
        if cols == 0:
            raise ValueError(f"Muon cannot scale the lr of a parameter of shape {shape} (A / B divides by zero; torch "
                             f"raises ZeroDivisionError): leave it out, or use adjust_lr_fn='match_rms_adamw'")
        ratio = math.sqrt(max(1, rows / cols))
    return lr * ratio


def muon_reference(p: Array, g: Array, buf: Array, *, lr: float, weight_decay: float, momentum: float,
                   nesterov: bool, ns_coefficients: tuple[float, float, float], ns_steps: int, eps: float,
                   adjust_lr_fn: str | None) -> None:
    """One step of torch's Muon algorithm box, in place on ``p`` and the momentum buffer ``buf`` (both shape (A, B),
    as ``g``)."""
    step = adjusted_lr(lr, adjust_lr_fn, p.shape)
    buf[...] = _lerp(buf, g, 1 - momentum)                  # B_t = mu B_{t-1} + (1 - mu) g_t (torch's lerp)
    update = _lerp(g, buf, momentum) if nesterov else buf   # B~_t = (1 - mu) g_t + mu B_t with Nesterov, else B_t
    o = zeropower_via_newtonschulz(update, ns_coefficients, ns_steps, eps)  # O_t = NS_k^(a,b,c)(B~_t; eps)
    if weight_decay:
        p[...] = _wide(p) * _opmath(1 - lr * weight_decay, p)  # theta_t = theta_{t-1} - gamma lambda theta_{t-1}
    p[...] = _wide(p) - _opmath(step, p) * _wide(o)         # theta_t = theta_t - AdjustLR(gamma) O_t, one rounding


def _opmath(x: float, p: Array) -> float:
    """A number as torch's CPU kernels take it for ``p``'s dtype: rounded to float32 unless p is float64."""
    return x if p.dtype.itemsize == 8 else float(backend.get_array_module(p).float32(x))


class Muon(Optimizer):
    """Muon: ``Muon(params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True, ns_coefficients=(3.4445,
    -4.7750, 2.0315), eps=1e-7, ns_steps=5, adjust_lr_fn=None, *, impl="auto")``, for 2-D parameters only (optimize
    biases, embeddings and the rest with e.g. AdamW). ``adjust_lr_fn``: None / "original" or "match_rms_adamw", see
    :func:`adjusted_lr`. As torch's, it has no ``maximize`` and no ``foreach`` / ``fused`` / ``capturable`` /
    ``differentiable`` options (TypeError).

    State per parameter, named as torch's: ``momentum_buffer`` (the parameter's shape), and the step count ``t``.
    Every ``impl`` runs the readable update (see the module docstring).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1e-3, weight_decay: float = 0.1,
                 momentum: float = 0.95, nesterov: bool = True,
                 ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS, eps: float = EPS,
                 ns_steps: int = NS_STEPS, adjust_lr_fn: str | None = None, *, impl: str = "auto") -> None:
        defaults = {"lr": lr, "weight_decay": weight_decay, "momentum": momentum, "nesterov": nesterov,
                    "ns_coefficients": ns_coefficients, "eps": eps, "ns_steps": ns_steps, "adjust_lr_fn": adjust_lr_fn}
        super().__init__(params, defaults, impl)
        self.impl = "reference"  # (impl was checked above) no fused kernel, see the module docstring

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr", "momentum", "weight_decay")
        if math.isfinite(_number("eps", group["eps"])) and abs(group["eps"]) > BFLOAT16_MAX:
            raise ValueError(f"invalid eps={group['eps']!r}: Newton-Schulz clamps in bfloat16, whose largest number is "
                             f"{BFLOAT16_MAX:.6g} (torch raises at the step)")
        if group["adjust_lr_fn"] not in ADJUST_LR_FNS:
            raise ValueError(f"Adjust learning rate function {group['adjust_lr_fn']!r} is not supported: use None, "
                             f"'original' or 'match_rms_adamw'")
        coefficients = group["ns_coefficients"]
        if not isinstance(coefficients, (tuple, list)) or len(coefficients) != 3:
            raise ValueError(f"ns_coefficients={coefficients!r}: Muon's Newton-Schulz step takes three numbers "
                             f"(a, b, c)")
        for value in coefficients:
            _number("ns_coefficients", value)
        steps = group["ns_steps"]
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
            raise TypeError(f"invalid ns_steps={steps!r}: must be an integer")
        if steps >= 100:
            raise ValueError(f"invalid ns_steps={steps}: the number of Newton-Schulz steps must be less than 100")
        if group["maximize"]:
            raise ValueError("Muon has no maximize option (torch.optim.Muon has none): minimize the negated loss")
        for p in group["params"]:  # (a loaded state_dict's group holds indices of parameters checked here before)
            if isinstance(p, Tensor) and p.ndim != 2:
                raise ValueError(f"Muon orthogonalises matrices, so it takes 2-d parameters only; this one has shape "
                                 f"{tuple(p.shape)}: optimize it with another optimizer such as AdamW")

    def init_state(self, p: Array, group: Group) -> State:
        return {"momentum_buffer": backend.get_array_module(p).zeros_like(p)}

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        muon_reference(p, g, state["momentum_buffer"], lr=group["lr"], weight_decay=group["weight_decay"],
                       momentum=group["momentum"], nesterov=group["nesterov"],
                       ns_coefficients=group["ns_coefficients"], ns_steps=group["ns_steps"], eps=group["eps"],
                       adjust_lr_fn=group["adjust_lr_fn"])

