"""Adam (Kingma & Ba 2015, Algorithm 1), with AMSGrad (Reddi et al. 2018) and AdamW (Loshchilov & Hutter 2019)."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any, ClassVar

from .. import backend
from ..tensor import Array, Tensor
from .fused import FusedKernel
from .optimizer import Group, Optimizer, State, check_betas, check_nonnegative


def adam_reference(p: Array, g: Array, m: Array, v: Array, t: int, *, lr: float, beta1: float, beta2: float,
                   eps: float, weight_decay: float = 0, decoupled: bool = False, amsgrad: bool = False,
                   v_max: Array | None = None, bias_correction: bool = True) -> None:
    """One step of Algorithm 1, in place on ``p``, ``m``, ``v`` (and ``v_max``), all of ``p``'s shape.

    ``t`` is the step number, starting at 1. ``weight_decay`` adds an L2 term to the gradient, or with
    ``decoupled`` shrinks the weights directly (AdamW). ``bias_correction=False`` drops the two hat lines
    (section 6.4: RMSProp with momentum). ``amsgrad`` divides by the running maximum of v.
    """
    xp = backend.get_array_module(p)
    if decoupled:
        p *= 1 - lr * weight_decay                       # AdamW: decay the weights, not the gradient
    elif weight_decay:
        g = g + weight_decay * p                         # L2 penalty folded into the gradient
    m[...] = beta1 * m + (1 - beta1) * g                 # m_t = beta1 m_{t-1} + (1 - beta1) g_t
    v[...] = beta2 * v + (1 - beta2) * g * g             # v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    if amsgrad:
        assert v_max is not None
        v_max[...] = xp.maximum(v_max, v)                # AMSGrad: never let the denominator shrink
        v = v_max
    m_hat = m / (1 - beta1**t) if bias_correction else m  # m_hat_t = m_t / (1 - beta1^t)
    v_hat = v / (1 - beta2**t) if bias_correction else v  # v_hat_t = v_t / (1 - beta2^t)
    p -= lr * m_hat / (xp.sqrt(v_hat) + eps)             # theta_t = theta_{t-1} - alpha m_hat_t / (sqrt(v_hat_t) + eps)


def moment_program(l2: bool, decoupled: bool) -> tuple[str, list[str]]:
    """The kernel lines Adam and its variants share: weight decay, then the moments m and v. Returns the name
    of the (decayed) gradient and the lines."""
    gw = "gw" if l2 else "g"
    return gw, [
        "p = p * decay" if decoupled else "",
        "gw = g + weight_decay * p" if l2 else "",
        f"m = m * beta1 + {gw} * one_minus_beta1",
        f"v = v * beta2 + {gw} * {gw} * one_minus_beta2",
    ]


@functools.cache
def adam_kernel(l2: bool, decoupled: bool, amsgrad: bool) -> FusedKernel:
    """Algorithm 1 per element, in the paper's "efficient" form: alpha_t = alpha sqrt(1 - beta2^t) / (1 - beta1^t)
    with eps_hat = eps sqrt(1 - beta2^t), which is algebraically the same update (end of section 2)."""
    vv = "v_max" if amsgrad else "v"
    _, lines = moment_program(l2, decoupled)
    body = "\n".join([
        *lines,
        "v_max = max(v_max, v)" if amsgrad else "",
        f"p = p - m * alpha_t / (sqrt({vv}) + eps_hat)",
    ])
    return FusedKernel(f"adam_{int(l2)}{int(decoupled)}{int(amsgrad)}", "p m v v_max" if amsgrad else "p m v",
                       "g", "decay weight_decay beta1 one_minus_beta1 beta2 one_minus_beta2 alpha_t eps_hat", body)


class Adam(Optimizer):
    """Adam: ``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
    bias_correction=True, impl="auto")``.

    State per parameter (shape of the parameter): ``m`` (first moment), ``v`` (second raw moment), ``v_max``
    (AMSGrad only), and the step count ``t``. ``weight_decay`` is an L2 term added to the gradient, as in
    torch.optim.Adam; ``decoupled_weight_decay=True`` (torch 2.13's keyword) decays the weights directly, as
    :class:`AdamW`. ``impl``: see :class:`Optimizer`.
    """
    torch_state_names: ClassVar[dict[str, str]] = {"step": "t", "exp_avg": "m", "exp_avg_sq": "v",
                                                     "max_exp_avg_sq": "v_max"}

    sparse_refusal = "Adam does not support sparse gradients, please consider SparseAdam instead"  # (AdamW's too)

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 amsgrad: bool = False, bias_correction: bool = True, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False, impl: str = "auto",
                 **flags: Any) -> None:
        # torch's execution options are named in the signature, as torch's: nanoGPT / llama2.c detect ``fused`` by
        # ``inspect.signature(torch.optim.AdamW).parameters``; they change nothing here (see check_torch_flags)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "bias_correction": bias_correction, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults, impl, maximize, foreach=foreach, capturable=capturable,
                         differentiable=differentiable, fused=fused, **flags)

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr", "eps", "weight_decay")
        check_betas(group)
        if len({isinstance(b, Tensor) for b in group["betas"]}) > 1:  # torch's Adam / AdamW check
            raise ValueError(f"invalid betas={group['betas']!r}: give two numbers or two Tensors, not one of each")

    def init_state(self, p: Array, group: Group) -> State:
        xp = backend.get_array_module(p)
        names = ("m", "v", "v_max") if group["amsgrad"] else ("m", "v")
        return {name: xp.zeros_like(p) for name in names}

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        beta1, beta2 = group["betas"]
        adam_reference(p, g, state["m"], state["v"], state["t"], lr=group["lr"], beta1=beta1, beta2=beta2,
                       eps=group["eps"], weight_decay=group["weight_decay"], decoupled=group["decoupled_weight_decay"],
                       amsgrad=group["amsgrad"], v_max=state.get("v_max"), bias_correction=group["bias_correction"])

    def fused(self, state: State, group: Group) -> tuple[FusedKernel, dict[str, float]]:
        lr, (beta1, beta2), t = group["lr"], group["betas"], state["t"]
        bc1, bc2 = (1 - beta1**t, 1 - beta2**t) if group["bias_correction"] else (1.0, 1.0)
        wd = group["weight_decay"]
        decoupled = bool(group["decoupled_weight_decay"])
        kernel = adam_kernel(bool(wd) and not decoupled, decoupled, group["amsgrad"])
        return kernel, {"decay": 1 - lr * wd, "weight_decay": wd, "beta1": beta1, "one_minus_beta1": 1 - beta1,
                        "beta2": beta2, "one_minus_beta2": 1 - beta2, "alpha_t": lr * math.sqrt(bc2) / bc1,
                        "eps_hat": group["eps"] * math.sqrt(bc2)}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr * weight_decay`` before each
    Adam step, instead of adding ``weight_decay * p`` to the gradient. Default ``weight_decay=1e-2``."""

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, bias_correction: bool = True, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, impl: str = "auto", **flags: Any) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, bias_correction, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True, impl=impl, **flags)

