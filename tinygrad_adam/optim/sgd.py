"""Stochastic gradient descent with momentum and Nesterov momentum (the paper's SGD-Nesterov baseline)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, ClassVar

from .. import backend
from ..tensor import Array, Tensor
from .fused import FusedKernel
from .optimizer import Group, Optimizer, State, check_nonnegative


def sgd_reference(p: Array, g: Array, buf: Array | None, t: int, *, lr: float, momentum: float = 0,
                  dampening: float = 0, weight_decay: float = 0, nesterov: bool = False) -> None:
    """One SGD step, in place on ``p`` and the momentum buffer ``buf`` (``p``'s shape; None without momentum)."""
    if weight_decay:
        g = g + weight_decay * p                             # L2 penalty folded into the gradient
    if momentum:
        assert buf is not None
        buf[...] = g if t == 1 else momentum * buf + (1 - dampening) * g  # b_t = mu b_{t-1} + (1 - tau) g_t
        g = g + momentum * buf if nesterov else buf          # Nesterov looks one momentum step ahead
    p -= lr * g                                              # theta_t = theta_{t-1} - lr b_t


@functools.cache
def sgd_kernel(l2: bool, momentum: bool, nesterov: bool) -> FusedKernel:
    """SGD per element. On the first step the scalars are mu = 0 and damp = 1, so that b_1 = g_1."""
    gw = "gw" if l2 else "g"
    step = (f"{gw} + buf * momentum" if nesterov else "buf") if momentum else gw
    body = "\n".join([
        "gw = g + weight_decay * p" if l2 else "",
        f"buf = buf * mu + {gw} * damp" if momentum else "",
        f"p = p - ({step}) * lr",
    ])
    return FusedKernel(f"sgd_{int(l2)}{int(momentum)}{int(nesterov)}", "p buf" if momentum else "p", "g",
                       "weight_decay mu damp momentum lr", body)


class SGD(Optimizer):
    """SGD: ``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, impl="auto")``.

    With momentum the state holds ``buf`` (the velocity, ``p``'s shape); b_1 = g_1, as in torch.optim.SGD.
    """
    torch_state_names: ClassVar[dict[str, str]] = {"momentum_buffer": "buf"}

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False, impl: str = "auto", **flags: Any) -> None:
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov}
        super().__init__(params, defaults, impl, maximize, **flags)

    sparse_grads = "dense"  # torch's SGD takes a sparse gradient; its update has the dense one's values

    def check_grad(self, grad: Any, group: Group) -> None:
        if grad.is_sparse and group["weight_decay"]:  # torch's grad.add(param) of a sparse grad raises so
            raise RuntimeError("SGD: weight_decay is not supported with sparse gradients (torch: add(sparse, dense) is "
                               "not supported); use weight_decay=0 or sparse=False")

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr", "momentum", "dampening", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"nesterov momentum needs momentum > 0 and dampening = 0, got momentum="
                             f"{group['momentum']!r}, dampening={group['dampening']!r}")

    def init_state(self, p: Array, group: Group) -> State:
        return {"buf": backend.get_array_module(p).zeros_like(p)} if group["momentum"] else {}

    def _update(self, p: Tensor, group: Group, together: dict[tuple[Any, ...], list[dict[str, Array]]],
                kernels: dict[tuple[Any, ...], tuple[FusedKernel, dict[str, float]]]) -> None:
        """As the base class's; a parameter stepped before its group's momentum was set (``param_groups[0]
        ["momentum"] = 0.9`` mid-run) gets its buffer now, started from this step's gradient as torch's."""
        state = self.state.get(p)
        if state and group["momentum"] and "buf" not in state:
            with backend.device_context(p.device):
                dict.__setitem__(state, "buf", backend.get_array_module(p._data).zeros_like(p._data))
            dict.__setitem__(state, "t", 0)  # (t counts the buffer's steps: step 1 sets b = g)
        super()._update(p, group, together, kernels)

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        sgd_reference(p, g, state.get("buf"), state["t"], lr=group["lr"], momentum=group["momentum"],
                      dampening=group["dampening"], weight_decay=group["weight_decay"], nesterov=group["nesterov"])

    def fused(self, state: State, group: Group) -> tuple[FusedKernel, dict[str, float]]:
        momentum, first = group["momentum"], state["t"] == 1
        kernel = sgd_kernel(bool(group["weight_decay"]), bool(momentum), group["nesterov"])
        return kernel, {"weight_decay": group["weight_decay"], "mu": 0.0 if first else momentum,
                        "damp": 1.0 if first else 1 - group["dampening"], "momentum": momentum, "lr": group["lr"]}
