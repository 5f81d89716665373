"""SparseAdam: Adam (Kingma & Ba 2015, Algorithm 1) for sparse gradients, as ``torch.optim.SparseAdam``.

Only the rows a sparse gradient holds (``embedding(..., sparse=True)``: the rows looked up in the batch) are
updated, their m and v included; the other rows keep their parameters and their moments, which are therefore not
decayed on the steps that do not touch them (the "lazy" Adam of large embedding tables). The step count ``t`` is
one per parameter and advances at every step that parameter has a gradient, as torch's.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, ClassVar

from .. import backend
from ..tensor import Array, Tensor
from .optimizer import Group, Optimizer, State, check_betas


def sparse_adam_reference(p: Array, g: Array, m: Array, v: Array, t: int, *, lr: float, beta1: float,
                          beta2: float, eps: float) -> None:
    """One SparseAdam step, in place on ``p``, ``m``, ``v``: the rows (k, dim) of the parameter and its moments that
    the coalesced gradient's values ``g`` (k, dim) belong to. ``t`` is the step number, starting at 1.

    The moments are torch's "old += (1 - beta) (new - old)" form of Algorithm 1's lines, and the step is the form
    at the end of section 2: alpha_t = alpha sqrt(1 - beta2^t) / (1 - beta1^t), theta -= alpha_t m / (sqrt(v) + eps)
    (eps outside the bias correction, as torch's SparseAdam; Adam puts eps after it).
    """
    xp = backend.get_array_module(p)
    m += (g - m) * (1 - beta1)                               # m_t = beta1 m_{t-1} + (1 - beta1) g_t
    v += (g * g - v) * (1 - beta2)                           # v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    alpha_t = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)  # alpha_t = alpha sqrt(1 - beta2^t) / (1 - beta1^t)
    p -= alpha_t * (m / (xp.sqrt(v) + eps))                  # theta_t = theta_{t-1} - alpha_t m_t / (sqrt(v_t) + eps)


class SparseAdam(Optimizer):
    """``SparseAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False)``: Adam on the rows of sparse
    gradients only (a dense gradient raises, as torch's). State per parameter: ``t``, ``m``, ``v`` (``p``'s shape).
    The update is the readable reference on the picked rows, whatever ``impl`` (no fused kernel: a batch touches few
    rows, and gathering them is the cost)."""
    torch_state_names: ClassVar[dict[str, str]] = {"step": "t", "exp_avg": "m", "exp_avg_sq": "v"}

    sparse_grads = "rows"

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps}, "reference", maximize)

    def check_group(self, group: Group) -> None:
        for name in ("lr", "eps"):  # torch's SparseAdam wants both strictly positive
            if isinstance(group[name], bool) or not isinstance(group[name], numbers.Real) or not group[name] > 0:
                raise ValueError(f"invalid {name}={group[name]!r}: must be a number > 0")
        check_betas(group)

    def check_grad(self, grad: Any, group: Group) -> None:
        if not grad.is_sparse:
            raise RuntimeError("SparseAdam got a dense gradient; it is meant for sparse ones (use Adam for dense)")

    def init_state(self, p: Array, group: Group) -> State:
        xp = backend.get_array_module(p)
        return {"m": xp.zeros_like(p), "v": xp.zeros_like(p)}

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        beta1, beta2 = group["betas"]
        sparse_adam_reference(p, g, state["m"], state["v"], state["t"], lr=group["lr"], beta1=beta1, beta2=beta2,
                              eps=group["eps"])
