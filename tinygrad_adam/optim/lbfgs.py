"""L-BFGS as ``torch.optim.LBFGS``: each ``step(closure)`` runs up to ``max_iter`` iterations of the limited-memory
BFGS direction (Nocedal & Wright, Numerical Optimization, Algorithm 7.4: the two-loop recursion over the last
``history_size`` pairs s = x' - x, y = g' - g, with the initial Hessian gamma I, gamma = s'y / y'y, eq. 7.20),
stepping lr along it (the very first step lr * min(1, 1 / |g|_1)), or, with ``line_search_fn="strong_wolfe"``,
as far along it as a line search that starts from that step and stops at the strong Wolfe conditions (eq. 3.7).

All parameters are one vector (one group only, as torch); the closure re-evaluates the loss and its gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy

from .. import backend
from ..autograd import enable_grad, no_grad
from ..tensor import Array, Tensor, bump_version
from .optimizer import Group, Optimizer, State, _number, _to_param, check_nonnegative

LBFGS_STATE = ("func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss")


class LBFGS(Optimizer):
    """``LBFGS(params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
    history_size=100, line_search_fn=None)``; ``step(closure)`` returns the closure's first loss.

    Stops a step after ``max_iter`` iterations or ``max_eval`` closure calls (default max_iter * 5 // 4), or when
    the largest gradient entry is at most ``tolerance_grad``, or when the step, or the change of the loss, is
    below ``tolerance_change``. ``line_search_fn="strong_wolfe"`` searches each step's length (:func:`strong_wolfe`;
    every trial point costs one closure call, counted in ``max_eval``).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None) -> None:
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn={line_search_fn!r} is not known; use None (a fixed step of lr) "
                             f"or 'strong_wolfe'")
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_iter * 5 // 4 if max_eval is None else max_eval,
                    "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
                    "history_size": history_size, "line_search_fn": line_search_fn}
        super().__init__(params, defaults, "reference")

    def add_param_group(self, group: Group) -> None:
        """The one group; a second raises (torch takes it, then its step fails; ours stepped only the first)."""
        if self.param_groups:
            raise ValueError("LBFGS takes a single parameter group (as torch), not several")
        super().add_param_group(group)

    def check_group(self, group: Group) -> None:
        check_nonnegative(group, "lr", "tolerance_grad", "tolerance_change")
        for name in ("max_iter", "max_eval", "history_size"):
            if isinstance(group[name], bool) or not isinstance(group[name], int) or group[name] < 1:
                raise ValueError(f"invalid {name}={group[name]!r}: must be a positive int")

    # ------------------------------------------------------------------ the parameters as one vector
    def _flat_grad(self) -> Array:
        """Every parameter's gradient, flattened and joined (zeros for a parameter without one)."""
        params = self.param_groups[0]["params"]
        xp = backend.get_array_module(params[0]._data)
        return xp.concatenate([xp.zeros(p.numel(), p.dtype) if p.grad is None else p.grad._data.reshape(-1)
                               if not p.grad.is_sparse else p.grad.to_dense()._data.reshape(-1) for p in params])

    def _add(self, t: float, d: Array) -> None:
        """x += t d, in place, parameter by parameter."""
        offset = 0
        for p in self.param_groups[0]["params"]:
            p._data += t * d[offset:offset + p.numel()].reshape(p.shape)
            bump_version(p)
            offset += p.numel()

    def _evaluate(self, closure: Callable[[], Any]) -> tuple[Any, float, Array]:
        """The closure's loss (as it returned it, and as a float) and the flat gradient it left. The float is read
        with grad mode off, as in torch's step (a no_grad function): the once-per-process warning about converting a
        tensor that requires grad is left for the program's own ``float(loss)``."""
        with enable_grad():
            loss = closure()
        with no_grad():
            value = float(loss)
        return loss, value, self._flat_grad()

    def _probe(self, closure: Callable[[], Any], d: Array) -> Callable[[Any], Probe]:
        """The line search's trial point at x + t d, for the parameters x as they are now: evaluated there, then
        the parameters are put back."""
        params = self.param_groups[0]["params"]
        x = [p._data.copy() for p in params]

        def probe(t: Any) -> Probe:
            self._add(t, d)
            _, f, g = self._evaluate(closure)
            for p, x_p in zip(params, x):
                p._data[...] = x_p
                bump_version(p)
            return Probe(t, f, g, g @ d)
        return probe

    # ------------------------------------------------------------------ stepping
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]  # the closure is required
        """Up to ``max_iter`` L-BFGS iterations; ``closure`` zeroes the gradients, computes the loss, calls
        backward and returns the loss."""
        group = self.param_groups[0]
        # (a Tensor lr, as torch takes, read as its number)
        lr, history_size, tol_change = _number("lr", group["lr"]), group["history_size"], group["tolerance_change"]
        state = self.state.setdefault(group["params"][0], {"func_evals": 0, "n_iter": 0})
        first_loss, loss, g = self._evaluate(closure)
        evals = 1
        state["func_evals"] += 1
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
            gtd = g @ d
            if gtd > -tol_change:  # not a descent direction
                break
            at_optimum, probes = False, 0
            if group["line_search_fn"] == "strong_wolfe":
                found, probes = strong_wolfe(self._probe(closure, d), d, Probe(0.0, loss, g, gtd), t,
                                             max_ls=group["max_eval"] - evals)  # (torch's search: tolerance 1e-9)
                loss, g, t = found.f, found.g, found.t
                self._add(t, d)
                at_optimum = bool(abs(g).max() <= group["tolerance_grad"])
            else:
                self._add(t, d)
                if n_iter != group["max_iter"]:  # the last iteration's loss is the next step's first
                    _, loss, g = self._evaluate(closure)
                    at_optimum, probes = bool(abs(g).max() <= group["tolerance_grad"]), 1
            evals += probes
            state["func_evals"] += probes
            if n_iter == group["max_iter"] or evals >= group["max_eval"] or at_optimum:
                break
            if abs(d * t).max() <= tol_change or abs(loss - loss_prev) < tol_change:  # no more progress
                break
        state.update(d=d, t=t, old_dirs=ys_, old_stps=ss_, ro=rho, H_diag=gamma, prev_flat_grad=g_prev,
                     prev_loss=loss_prev)
        return first_loss

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """torch's layout: the one state (keyed 0, the first parameter's index; its arrays and 0-d numbers as
        Tensors of copies, as torch's) and the group."""
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        group["params"] = list(range(len(self.param_groups[0]["params"])))
        state = {0: {k: _as_tensors(v) for k, v in s.items()} for s in self.state.values()}  # noqa: B035 (one)
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (hyperparameters checked as the constructor's)."""
        saved = state_dict["param_groups"]
        if len(saved) != 1 or len(saved[0]["params"]) != len(self.param_groups[0]["params"]):
            raise ValueError(f"the state_dict is not of an LBFGS over these {len(self.param_groups[0]['params'])} "
                             f"parameters")
        self.check_saved_group(0, saved[0])
        states: list[State] = list(state_dict["state"].values())
        unknown = {k for s in states for k in s} - {*LBFGS_STATE, "al"}
        if len(states) > 1 or unknown:
            raise ValueError(f"the state_dict's state is not an LBFGS state (unknown entries {sorted(unknown)})")
        # torch's state also keeps "al", the two-loop recursion's scratch list, which each step here recomputes
        kept = {k: _restore(v, self.param_groups[0]["params"][0]) for k, v in states[0].items() if k != "al"} \
            if states else None
        self.state = {self.param_groups[0]["params"][0]: kept} if kept is not None else {}
        self.param_groups[0].update({k: v for k, v in saved[0].items() if k != "params"})


def _as_tensors(value: Any) -> Any:
    """A state entry for state_dict: an array or numpy scalar as a Tensor of a copy, lists entry by entry."""
    if isinstance(value, list):
        return [_as_tensors(v) for v in value]
    if isinstance(value, numpy.generic):
        return Tensor(numpy.array(value))
    return Tensor(value.copy()) if backend.is_array(value) else value


def _restore(value: Any, p: Tensor) -> Any:
    """A saved LBFGS state entry as this optimizer keeps it: arrays (from a Tensor too, as a torch checkpoint holds
    them: ``d``, ``old_dirs``, ``H_diag``...) fresh on p's device in p's dtype, lists of them entry by entry."""
    if isinstance(value, list):
        return [_restore(v, p) for v in value]
    if isinstance(value, Tensor):
        value = value.detach()._data
    return _to_param(value, p, "LBFGS state", tuple(value.shape)) if hasattr(value, "shape") else value


@dataclass
class Probe:
    """A point of the line search: the step length t, the loss f at x + t d, its gradient g and slope g'd."""
    t: Any
    f: float
    g: Array
    gtd: Any


def strong_wolfe(probe: Callable[[Any], Probe], d: Array, start: Probe, t: Any, tolerance_change: float = 1e-9,
                 c1: float = 1e-4, c2: float = 0.9, max_ls: int = 25) -> tuple[Probe, int]:
    """The first point found along d from ``start`` (t = 0) that meets the strong Wolfe conditions, f <= f0 + c1 t
    f0' and |f'| <= c2 |f0'| (Nocedal & Wright eq. 3.7), and the number of ``probe`` calls spent. Algorithms 3.5
    and 3.6 with torch's choices: trial steps grow by cubic interpolation within [t + (t - t_prev) / 100, 10 t]
    until a bracket holds a good point; the bracket then shrinks around its lower end by cubic interpolation, a
    trial within a tenth of the bracket of an end moved a tenth inside at the second time in a row. After
    ``max_ls`` probes, or once the bracket is shorter than ``tolerance_change`` along d, the bracket's lower end (if
    the probes ran out while stepping out: the lower of t = 0 and the last trial). A nan loss counts as too high, so
    the search backs off to where the loss is defined (torch's accepts such a point, or fails with an IndexError)."""
    def too_high(p: Probe) -> bool:  # not the sufficient decrease (Armijo) condition; a nan loss is too high
        return not p.f <= start.f + c1 * p.t * start.gtd

    def curvature(p: Probe) -> bool:
        return abs(p.gtd) <= -c2 * start.gtd

    prev, new, tries = start, probe(t), 0  # tries: probes after the first
    while tries < max_ls:  # Algorithm 3.5: step out until [prev, new] brackets a good point
        if too_high(new) or (tries > 1 and new.f >= prev.f):  # (a rise counts from the third probe on, as torch's)
            break
        if curvature(new):
            return new, tries + 1
        if new.gtd >= 0:
            break
        t = cubic_minimum(prev, new, (new.t + 0.01 * (new.t - prev.t), new.t * 10))
        prev, new, tries = new, probe(t), tries + 1
    bracket = [prev, new] if tries < max_ls else [start, new]
    low, high = ends(bracket)
    too_close = False  # the last trial was too close to an end of the bracket
    d_norm = abs(d).max()
    while tries < max_ls:  # Algorithm 3.6 ("zoom"): shrink the bracket around its lower end
        if abs(bracket[1].t - bracket[0].t) * d_norm < tolerance_change:
            break
        t = cubic_minimum(bracket[0], bracket[1])
        lo, hi = min(bracket[0].t, bracket[1].t), max(bracket[0].t, bracket[1].t)
        margin = 0.1 * (hi - lo)
        near_end = min(hi - t, t - lo) < margin
        if near_end and (too_close or t >= hi or t <= lo):  # twice in a row, or outside: a tenth inside
            t = hi - margin if abs(t - hi) < abs(t - lo) else lo + margin
            too_close = False
        else:
            too_close = near_end
        new, tries = probe(t), tries + 1
        if too_high(new) or new.f >= bracket[low].f:
            bracket[high] = new
            low, high = ends(bracket)
            continue
        if curvature(new):
            return new, tries + 1
        if new.gtd * (bracket[high].t - bracket[low].t) >= 0:
            bracket[high] = bracket[low]
        bracket[low] = new
    return bracket[low], tries + 1


def ends(bracket: list[Probe]) -> tuple[int, int]:
    """(low, high): the positions of the bracket's lower and higher loss (the first on a tie; a nan loss high)."""
    return (1, 0) if bracket[1].f < bracket[0].f or math.isnan(bracket[0].f) else (0, 1)


def cubic_minimum(a: Probe, b: Probe, bounds: tuple[Any, Any] | None = None) -> Any:
    """The minimiser of the cubic through (a.t, a.f) and (b.t, b.f) with slopes a.gtd and b.gtd (Nocedal & Wright
    eq. 3.59), clamped to ``bounds`` (default: between a.t and b.t); their middle when the cubic has none."""
    lo, hi = bounds if bounds is not None else (min(a.t, b.t), max(a.t, b.t))
    if a.t == b.t:  # a bracket of no width (tolerance_change=0 lets the search get there)
        return a.t
    d1 = a.gtd + b.gtd - 3 * (a.f - b.f) / (a.t - b.t)
    d2_square = d1 ** 2 - a.gtd * b.gtd
    if not d2_square >= 0:  # (nan too)
        return (lo + hi) / 2
    d2 = backend.get_array_module(d2_square).sqrt(d2_square)  # (correctly rounded, as torch's; ** 0.5 is not)
    if a.t > b.t:
        a, b = b, a
    num, den = b.gtd + d2 - d1, b.gtd - a.gtd + 2 * d2
    if num == 0 and den == 0:  # torch's form is 0/0 here (its step nan); the same minimiser, written from a's end
        den = d1 + a.gtd - d2
        return min(max(a.t + (b.t - a.t) * (a.gtd / den), lo), hi) if den != 0 else (lo + hi) / 2
    return min(max(b.t - (b.t - a.t) * (num / den), lo), hi)


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
