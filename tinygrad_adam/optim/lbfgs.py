"""L-BFGS as ``torch.optim.LBFGS`` with its default fixed step (no line search): each ``step(closure)`` runs up to
``max_iter`` iterations of the limited-memory BFGS direction (Nocedal & Wright, Numerical Optimization, Algorithm
7.4: the two-loop recursion over the last ``history_size`` pairs s = x' - x, y = g' - g, with the initial Hessian
gamma I, gamma = s'y / y'y, eq. 7.20), stepping lr along it (the very first step lr * min(1, 1 / |g|_1)).

All parameters are one vector (one group only, as torch); the closure re-evaluates the loss and its gradients.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from .. import backend
from ..autograd import enable_grad
from ..tensor import Array, Tensor, bump_version
from .optimizer import Group, Optimizer, State, check_nonnegative

LBFGS_STATE = ("func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss")


class LBFGS(Optimizer):
    """``LBFGS(params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
    history_size=100, line_search_fn=None)``; ``step(closure)`` returns the closure's first loss.

    Stops a step after ``max_iter`` iterations or ``max_eval`` closure calls (default max_iter * 5 // 4), or when
    the largest gradient entry is at most ``tolerance_grad``, or when the step, or the change of the loss, is
    below ``tolerance_change``. ``line_search_fn="strong_wolfe"`` is not implemented (it raises).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1.0, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None) -> None:
        if line_search_fn is not None:
            raise NotImplementedError(f"LBFGS: line_search_fn={line_search_fn!r} is not implemented; use the default "
                                      f"None (a fixed step of lr)")
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_iter * 5 // 4 if max_eval is None else max_eval,
                    "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
                    "history_size": history_size, "line_search_fn": None}
        super().__init__(params, defaults, "reference")
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups), as torch")

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr", "tolerance_grad", "tolerance_change")
        for name in ("max_iter", "max_eval", "history_size"):
            if isinstance(group[name], bool) or not isinstance(group[name], int) or group[name] < 1:
                raise ValueError(f"invalid {name}={group[name]!r}: must be a positive int")

    # ------------------------------------------------------------------ the parameters as one vector
    def _flat_grad(self) -> Array:
        """Every parameter's gradient, flattened and joined (zeros for a parameter without one)."""
        params = self.param_groups[0]["params"]
        xp = backend.get_array_module(params[0].data)
        return xp.concatenate([xp.zeros(p.numel(), p.dtype) if p.grad is None else p.grad.data.reshape(-1)
                               for p in params])

    def _add(self, t: float, d: Array) -> None:
        """x += t d, in place, parameter by parameter."""
        offset = 0
        for p in self.param_groups[0]["params"]:
            p.data += t * d[offset:offset + p.numel()].reshape(p.shape)
            bump_version(p)
            offset += p.numel()

    # ------------------------------------------------------------------ stepping
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]  # the closure is required
        """Up to ``max_iter`` L-BFGS iterations; ``closure`` zeroes the gradients, computes the loss, calls
        backward and returns the loss."""
        group = self.param_groups[0]
        lr, history_size, tol_change = group["lr"], group["history_size"], group["tolerance_change"]
        state = self.state.setdefault(group["params"][0], {"func_evals": 0, "n_iter": 0})
        with enable_grad():
            first_loss = closure()
        loss, evals = float(first_loss), 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if abs(g).max() <= group["tolerance_grad"]:  # already optimal
            return first_loss
        d, t, g_prev, loss_prev = state.get("d"), state.get("t"), state.get("prev_flat_grad"), state.get("prev_loss")
        ys_, ss_, rho, gamma = state.get("old_dirs"), state.get("old_stps"), state.get("ro"), state.get("H_diag")
        for n_iter in range(1, group["max_iter"] + 1):
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d, ys_, ss_, rho, gamma = -g, [], [], [], 1.0
            else:
                y, s = g - g_prev, d * t  # the gradient's change over the last step, and that step
                ys = y @ s
                if ys > 1e-10:  # the curvature condition: keep the pair (else the memory stays as it was)
                    if len(ys_) == history_size:
                        del ys_[0], ss_[0], rho[0]
                    ys_.append(y)
                    ss_.append(s)
                    rho.append(1.0 / ys)
                    gamma = ys / (y @ y)  # eq. 7.20
                d = two_loop(g, ss_, ys_, rho, gamma)
            g_prev, loss_prev = g.copy(), loss
            t = min(1.0, 1.0 / abs(g).sum()) * lr if state["n_iter"] == 1 else lr
            if g @ d > -tol_change:  # not a descent direction
                break
            self._add(t, d)
            at_optimum = False
            if n_iter != group["max_iter"]:  # the last iteration's loss is the next step's first
                with enable_grad():
                    loss = float(closure())
                g = self._flat_grad()
                at_optimum = bool(abs(g).max() <= group["tolerance_grad"])
                evals += 1
                state["func_evals"] += 1
            if n_iter == group["max_iter"] or evals >= group["max_eval"] or at_optimum:
                break
            if abs(d * t).max() <= tol_change or abs(loss - loss_prev) < tol_change:  # no more progress
                break
        state.update(d=d, t=t, old_dirs=ys_, old_stps=ss_, ro=rho, H_diag=gamma, prev_flat_grad=g_prev,
                     prev_loss=loss_prev)
        return first_loss

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """torch's layout: the one state (keyed 0, the first parameter's index) and the group (a deep copy)."""
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        group["params"] = list(range(len(self.param_groups[0]["params"])))
        state = {0: copy.deepcopy(s) for s in self.state.values()}  # noqa: B035  (at most one state)
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (hyperparameters checked as the constructor's)."""
        saved = state_dict["param_groups"]
        if len(saved) != 1 or len(saved[0]["params"]) != len(self.param_groups[0]["params"]):
            raise ValueError(f"the state_dict is not of an LBFGS over these {len(self.param_groups[0]['params'])} "
                             f"parameters")
        self.check_saved_group(0, saved[0])
        states: list[State] = list(state_dict["state"].values())
        unknown = {k for s in states for k in s} - set(LBFGS_STATE)
        if len(states) > 1 or unknown:
            raise ValueError(f"the state_dict's state is not an LBFGS state (unknown entries {sorted(unknown)})")
        self.state = {self.param_groups[0]["params"][0]: copy.deepcopy(states[0])} if states else {}
        self.param_groups[0].update({k: v for k, v in saved[0].items() if k != "params"})


def two_loop(g: Array, s: list[Array], y: list[Array], rho: list[Any], gamma: Any) -> Array:
    """The L-BFGS direction -H g (Nocedal & Wright, Algorithm 7.4): H is the inverse Hessian built from the pairs
    (s_i, y_i), rho_i = 1 / y_i's_i, on top of gamma I."""
    q, alpha = -g, [None] * len(s)
    for i in reversed(range(len(s))):  # newest pair first
        alpha[i] = rho[i] * (s[i] @ q)
        q = q - alpha[i] * y[i]
    r = gamma * q
    for i in range(len(s)):  # oldest pair first
        r = r + s[i] * (alpha[i] - rho[i] * (y[i] @ r))
    return r
