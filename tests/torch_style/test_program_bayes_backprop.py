"""``bayes_backprop.py`` (Bayes by Backprop as the blog notebooks write it: ``Gaussian`` posteriors with
``sigma = log1p(exp(rho))``, a scale-mixture prior, log-probabilities kept by each layer's forward, the ELBO over
stacked samples with ``size_average=False``, Adam and the ensemble test; and the closed-form
``kl_divergence(Normal, Normal)`` variant) run on torch and, imports swapped, on ours: from torch's initial weights
and the same epsilon draws (each ``Gaussian``'s ``normal`` is replaced by one numpy generator's standard normals), the
ELBO terms, losses, gradient norms, ensemble and per-sample accuracies, printed lines and final parameters agree.

Tolerances: float32. The first steps agree to rounding (measured: every series within 4e-7 relative over the first
5 steps). The mixture prior's second component has sigma e^-6, so d log p / dw reaches w / sigma^2 ~ 1.6e5 w near
0: a rounding-level difference in a weight becomes a gradient difference 1e5 times larger, which Adam carries on.
This is the program's own sensitivity: torch against itself from weights moved by one ulp differs by 6.6e-4 in the
gradient norms, 6.7e-5 in the losses and 5.5e-4 in the parameters after 24 steps; ours against torch measured 3.6e-4,
3e-5 and 2.5e-4. We allow rtol 2e-6 on the first 5 steps, then rtol 2e-3 (1e-3 on loss and ELBO terms) and atol 2e-3
on parameters. The closed-form KL variant has no such spike: measured within 2.8e-7 relative (parameters 1e-6
absolute) over 24 steps; we allow rtol 2e-6 and atol 5e-6. Accuracies are counts and must be equal."""

from __future__ import annotations

import io
import types
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

EARLY = 5
SERIES = ("loss", "nll", "grad_norm", "log_prior", "log_variational_posterior", "kl")


class NumpyNormal:
    """Stands in for a ``Gaussian``'s ``Normal(0, 1)``: ``sample(size)`` is float32 standard normals from ``rng``."""

    def __init__(self, lib: object, rng: np.random.Generator) -> None:
        self.lib, self.rng = lib, rng

    def sample(self, size: tuple[int, ...]) -> object:
        return self.lib.tensor(self.rng.standard_normal(tuple(size)).astype(np.float32))


def make(m: types.ModuleType, kl: bool) -> object:
    """The program's network, after making every ``Gaussian`` of this module (this one and any a resume builds)
    draw its epsilons from one numpy generator seeded 1."""
    rng, init = np.random.default_rng(1), m.Gaussian.__init__

    def with_numpy_noise(self: object, mu: object, rho: object) -> None:
        init(self, mu, rho)
        self.normal = NumpyNormal(m.torch, rng)

    m.Gaussian.__init__ = with_numpy_noise  # the module is loaded afresh for each run
    return m.BayesianNetwork(m.BayesianLinearKL if kl else m.BayesianLinear)


def run_logged(m: types.ModuleType, net: object, **options: object) -> dict:
    """``m.run(net, **options)``, its printed lines under ``"lines"`` and its warnings under ``"warnings"``."""
    out = io.StringIO()
    with redirect_stdout(out), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log = m.run(net, **options)
    log["lines"] = out.getvalue().splitlines()
    log["warnings"] = sorted({(w.category.__name__, "size_average" if "size_average" in str(w.message)
                               else str(w.message)[:40]) for w in caught})  # (each library's own sentence)
    return log


def both(kl: bool) -> tuple[dict, dict]:
    return from_torch_weights(HERE / "bayes_backprop.py", lambda m: make(m, kl),
                              lambda m, net, lib: run_logged(m, net, kl=kl))


def agree(theirs: dict, ours: dict, rtol: float, atol: float) -> None:
    for key in ("ensemble", "corrects", "lines", "warnings"):
        assert ours[key] == theirs[key], key
    for key in SERIES:
        assert len(ours[key]) == len(theirs[key]), key
        np.testing.assert_allclose(ours[key][:EARLY], theirs[key][:EARLY], rtol=2e-6, err_msg=key)
        loose = 2 * rtol if key == "grad_norm" else rtol
        np.testing.assert_allclose(ours[key], theirs[key], rtol=loose, err_msg=key)
    assert_params_close(ours["params"], theirs["params"], rtol=0, atol=atol)


def test_scale_mixture_elbo_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both(kl=False)
    agree(theirs, ours, rtol=1e-3, atol=2e-3)
    assert ours["warnings"] and ours["warnings"][0][0] == "UserWarning"  # size_average's deprecation, as torch
    assert ours["nll"][-1] < 0.7 * ours["nll"][0] and ours["ensemble"][-1] >= 18  # of 24: it learned


def test_closed_form_kl_variant_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both(kl=True)
    agree(theirs, ours, rtol=2e-6, atol=5e-6)
    assert ours["kl"][-1] < 0.7 * ours["kl"][0]


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_checkpoint_resume_is_exact(one_torch_thread: None, tmp_path: Path, lib: str) -> None:
    """Saved after the first epoch, loaded into a fresh network (whose Gaussians hold its new Parameters) and a fresh
    Adam, and trained on: every number equals the uninterrupted run's."""
    runs = []
    for resume_at in (None, 1):
        with program(HERE / "bayes_backprop.py", lib) as m:
            m.torch.manual_seed(0)
            runs.append(run_logged(m, make(m, kl=False), epochs=2, resume_at=resume_at, path=tmp_path / "ckpt.pt"))
    assert_same_run(*runs)


def test_gaussian_draws_from_normal() -> None:
    """Unpatched, a Gaussian's ``sample()`` draws through ``Normal(0, 1).sample(rho.size())``: float32, rho's shape."""
    with program(HERE / "bayes_backprop.py", "ours") as m:
        layer = m.BayesianLinear(3, 2)
        weight = layer.weight.sample()
        assert weight.shape == (2, 3) and weight.dtype == m.torch.float32 and weight.requires_grad
        assert layer.weight.normal.sample(layer.weight_rho.size()).shape == (2, 3)
