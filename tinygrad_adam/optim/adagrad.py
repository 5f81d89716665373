"""AdaGrad (Duchi et al. 2011): per-coordinate steps scaled by the root of the summed squared gradients."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, ClassVar

from .. import backend
from ..tensor import Array, Tensor
from .fused import FusedKernel
from .optimizer import Group, Optimizer, State, check_nonnegative


def adagrad_reference(p: Array, g: Array, sum_sq: Array, t: int, *, lr: float, lr_decay: float = 0,
                      weight_decay: float = 0, eps: float = 1e-10) -> None:
    """One AdaGrad step, in place on ``p`` and ``sum_sq`` (the running sum of g^2, ``p``'s shape)."""
    xp = backend.get_array_module(p)
    if weight_decay:
        g = g + weight_decay * p                        # L2 penalty folded into the gradient
    lr_t = lr / (1 + (t - 1) * lr_decay)                # optional 1/t decay of the step size
    sum_sq += g * g                                     # G_t = G_{t-1} + g_t^2
    p -= lr_t * g / (xp.sqrt(sum_sq) + eps)             # theta_t = theta_{t-1} - lr_t g_t / (sqrt(G_t) + eps)


@functools.cache
def adagrad_kernel(l2: bool) -> FusedKernel:
    """AdaGrad per element."""
    gw = "gw" if l2 else "g"
    body = "\n".join([
        "gw = g + weight_decay * p" if l2 else "",
        f"sum_sq = sum_sq + {gw} * {gw}",
        f"p = p - {gw} * lr_t / (sqrt(sum_sq) + eps)",
    ])
    return FusedKernel(f"adagrad_{int(l2)}", "p sum_sq", "g", "weight_decay lr_t eps", body)


class Adagrad(Optimizer):
    """AdaGrad: ``Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
    impl="auto")``. State per parameter: ``sum_sq`` (starts at ``initial_accumulator_value``), step count ``t``.
    """
    torch_state_names: ClassVar[dict[str, str]] = {"step": "t", "sum": "sum_sq"}

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0, eps: float = 1e-10, *,
                 maximize: bool = False, impl: str = "auto", **flags: Any) -> None:
        defaults = {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "eps": eps}
        super().__init__(params, defaults, impl, maximize, **flags)
        # torch's Adagrad makes every parameter's state (step 0, the accumulator) here, not at its first step, so a
        # parameter that never gets a gradient is still in state_dict()["state"] and opt.state[p]["sum"] reads
        for group in self.param_groups:
            for p in group["params"]:
                self.state_of(p, group)

    sparse_grads = "rows"  # torch's sparse Adagrad: only the gradient's rows (and their sum_sq) change

    def check_grad(self, grad: Any, group: Group) -> None:
        if grad.is_sparse and group["weight_decay"]:
            raise RuntimeError("Adagrad: weight_decay cannot be applied to a sparse gradient")

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def init_state(self, p: Array, group: Group) -> State:
        # as torch's: the constructor's initial_accumulator_value (the defaults') for every parameter; a group's own
        # value is kept in the group but starts no sum
        return {"sum_sq": backend.get_array_module(p).full_like(p, self.defaults["initial_accumulator_value"])}

    def share_memory(self) -> None:
        """torch's ``Adagrad.share_memory()``: every parameter's ``sum`` in shared memory (Hogwild training: processes
        forked afterwards update one accumulator). The state is made here (step 0), as torch's is at construction."""
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state_of(p, group)
                shared = Tensor(state["sum_sq"], device=p.device).share_memory_()
                dict.__setitem__(state, "sum_sq", shared._data)

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        adagrad_reference(p, g, state["sum_sq"], state["t"], lr=group["lr"], lr_decay=group["lr_decay"],
                          weight_decay=group["weight_decay"], eps=group["eps"])

    def fused(self, state: State, group: Group) -> tuple[FusedKernel, dict[str, float]]:
        lr_t = group["lr"] / (1 + (state["t"] - 1) * group["lr_decay"])
        return adagrad_kernel(bool(group["weight_decay"])), {"weight_decay": group["weight_decay"], "lr_t": lr_t,
                                                             "eps": group["eps"]}
