"""Look inside an optimizer: per-parameter figures computed from its state, on demand.

``Inspector(opt, named_params=model.named_parameters()).report()`` reads the state the optimizer
already keeps (and the gradient still in ``.grad`` after ``step()``); it writes nothing, so inspecting
never changes the trajectory, and it costs nothing until ``report()`` is called.

Figures (only those the optimizer has):

- ``t``; ``lr`` (the group's current lr, i.e. the one the next step uses).
- Adam family (section 2.1): ``bias_correction1`` = 1 - beta1^t, ``bias_correction2`` = 1 - beta2^t;
  ``update_over_lr_mean`` / ``_max``: |Delta_t| / lr = |m_hat| / (sqrt(v_hat) + eps), with its bound
  ``update_bound`` = (1 - beta1) / sqrt(1 - beta2) (and usually <= 1); ``snr_mean`` / ``snr_median``:
  |m_hat| / sqrt(v_hat), which shrinks towards an optimum; ``effective_step_q10/median/q90``:
  lr / (sqrt(v_hat) + eps).
- NAdam: ``mu_product`` (mu_1 ... mu_t), ``bias_correction2`` and the effective step lr / (sqrt(v_hat) + eps);
  its update also uses the raw gradient, so the Adam ratios above are not reported.
- AdaMax: the same with u in place of sqrt(v_hat) (no correction on u), and ``u_mean`` / ``u_max``;
  its ``update_bound`` is (1 - beta1) / (1 - beta1 / beta2), about 1.009 with the defaults.
- AdaGrad: ``accumulator_mean`` / ``_max`` and the effective step lr_t / (sqrt(sum g^2) + eps).
- RMSprop: ``v_mean`` and the effective step lr / (sqrt(v) + eps); AdaDelta: its effective step
  sqrt(v_delta + eps) / sqrt(v + eps).
- SGD with momentum, Muon: ``momentum_norm``.
- Rprop: its per-coordinate step sizes as the effective step; ASGD: ``eta`` and ``mu``, the next step's step size
  and averaging weight. Adafactor: only ``t`` and ``lr``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import backend
from ..tensor import Array, Tensor
from .optimizer import Optimizer


def _stats(prefix: str, x: Array, quantiles: bool = False) -> dict[str, float]:
    """mean and max (or q10 / median / q90) of an array, as Python floats."""
    xp = backend.get_array_module(x)
    if quantiles:
        q10, q50, q90 = (float(v) for v in xp.quantile(x.astype("float64").ravel(), xp.asarray([0.1, 0.5, 0.9])))
        return {f"{prefix}_q10": q10, f"{prefix}_median": q50, f"{prefix}_q90": q90}
    return {f"{prefix}_mean": float(x.mean()), f"{prefix}_max": float(x.max())}


class Inspector:
    """Per-parameter diagnostics of ``optimizer``; names from ``named_params`` (name, tensor) pairs."""

    def __init__(self, optimizer: Optimizer, named_params: Iterable[tuple[str, Tensor]] | None = None) -> None:
        self.optimizer = optimizer
        self.names = {id(p): name for name, p in (named_params or [])}

    def report(self) -> dict[str, Any]:
        """``{"params": {name: {figure: value}}}`` for every parameter that has taken a step."""
        out: dict[str, dict[str, float]] = {}
        for gi, group in enumerate(self.optimizer.param_groups):
            for pi, p in enumerate(group["params"]):
                state = self.optimizer.state.get(p)
                if state and state.get("t", 0) > 0:
                    name = self.names.get(id(p), f"group{gi}.param{pi}")
                    out[name] = self.inspect(p, state, group)
        return {"params": out}

    def inspect(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> dict[str, float]:
        """The figures for one parameter from its optimizer ``state`` and ``group``."""
        xp = backend.get_array_module(p._data)
        eps = group.get("eps", 0.0)
        t, lr, eps = int(state["t"]), float(group["lr"]), 0.0 if isinstance(eps, (tuple, list)) else float(eps)
        fig: dict[str, float] = {"t": t, "lr": lr}
        if "mu_product" in state:                                             # NAdam: m_bar also needs g_t
            bc2 = 1 - group["betas"][1] ** t
            fig.update({"mu_product": float(state["mu_product"]), "bias_correction2": bc2})
            fig.update(_stats("effective_step", lr / (xp.sqrt(state["v"] / bc2) + eps), quantiles=True))
        elif "m" in state and ("v" in state or "u" in state):
            beta1, beta2 = group["betas"]
            corrected = group.get("bias_correction", True)
            bc1 = 1 - beta1**t if corrected or "u" in state else 1.0
            bc2 = 1 - beta2**t if corrected and "v" in state else 1.0
            m_hat = state["m"] / bc1                                          # m_hat_t = m_t / (1 - beta1^t)
            if "u" in state:                                                  # AdaMax: u_t, no correction
                scale = state["u"]
                fig.update(_stats("u", state["u"]))
                denom = scale
            else:
                v = state["v_max"] if "v_max" in state else state["v"]
                scale = xp.sqrt(v / bc2)                                      # sqrt(v_hat_t)
                denom = scale + eps
            ratio = xp.abs(m_hat) / xp.where(denom > 0, denom, 1)
            snr = xp.abs(m_hat) / xp.where(scale > 0, scale, 1)
            fig.update({"bias_correction1": bc1, "bias_correction2": bc2,
                        "update_bound": (1 - beta1) / (1 - beta2) ** 0.5 if "v" in state
                        else (1 - beta1) / (1 - beta1 / beta2)})  # AdaMax: about 1.009 (section 7.1)
            fig.update(_stats("update_over_lr", ratio))
            fig.update({"snr_mean": float(snr.mean()), "snr_median": float(xp.median(snr))})
            fig.update(_stats("effective_step", lr / xp.where(denom > 0, denom, xp.inf), quantiles=True))
        elif "sum_sq" in state:                                               # AdaGrad
            lr_t = lr / (1 + (t - 1) * group.get("lr_decay", 0.0))
            fig.update(_stats("accumulator", state["sum_sq"]))
            fig.update(_stats("effective_step", lr_t / (xp.sqrt(state["sum_sq"]) + eps), quantiles=True))
        elif "v_delta" in state:                                              # AdaDelta
            fig.update(_stats("effective_step", xp.sqrt(state["v_delta"] + eps) / xp.sqrt(state["v"] + eps),
                              quantiles=True))
        elif "v" in state:                                                    # RMSprop
            v = state["v"] - state["g_avg"] ** 2 if "g_avg" in state else state["v"]
            fig["v_mean"] = float(state["v"].mean())
            fig.update(_stats("effective_step", lr / (xp.sqrt(v) + eps), quantiles=True))
        elif "step_size" in state:                                            # Rprop: each coordinate's own
            fig.update(_stats("effective_step", state["step_size"], quantiles=True))
        elif "eta" in state:                                                  # ASGD
            fig.update({"eta": float(state["eta"]), "mu": float(state["mu"])})
        buf = state.get("buf", state.get("momentum_buffer"))                 # SGD / RMSprop / Muon momentum
        if buf is not None:
            fig["momentum_norm"] = float(xp.linalg.norm(buf.ravel()))
        return fig
