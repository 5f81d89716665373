"""``sam_optimizer.py`` (davda54/sam's structure: a ``torch.optim.Optimizer`` subclass that builds its base SGD on
its own param_groups, ``first_step`` / ``second_step`` / ``step(closure)`` under ``@torch.no_grad()`` with
``torch.enable_grad()`` around the closure, the ASAM ``adaptive`` variant, ``smooth_crossentropy`` by
``full_like`` + ``scatter_`` + ``kl_div``, BatchNorm momentum zeroed for the second pass) on a Conv2d + BatchNorm2d
net, run on torch and, imports swapped, on ours from torch's initial weights and the same numpy batches, for SAM and
ASAM, with the two explicit steps and with ``step(closure)``: per step both passes' losses, the gradient norm, the
BatchNorm running mean and ``num_batches_tracked`` (the second pass leaves the statistics as they were), per epoch
the StepLR learning rate as the SAM and the base optimizer see it (one shared list of groups), the final
parameters, the scheduler's warning when ``step`` is never called, SAM's state (``old_p``) and hyperparameters, and
a state_dict round trip into a fresh SAM. Ours refused to build the base SGD on SAM's groups (they hold ``rho``,
also Adadelta's hyperparameter, and ``adaptive``): a group of another live optimizer now keeps its entries.

Tolerances: float32. Measured: losses within 1.2e-7 (of ~1.4), gradient norms within 6e-8, running means within
2.4e-9, parameters within 6e-8. We allow rtol 1e-6 / atol 1e-6; learning rates, counts, flags, state keys and
warnings are compared exactly. About 1.5 s."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FILE = HERE / "sam_optimizer.py"
TOL = {"rtol": 1e-6, "atol": 1e-6}
SHARED = ("rho", "adaptive", "lr", "momentum", "weight_decay", "nesterov", "maximize", "initial_lr")


@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("use_closure", [False, True])
def test_sam_and_asam_match_torch(one_torch_thread: None, adaptive: bool, use_closure: bool) -> None:
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((8, 1, 6, 6)).astype(np.float32), rng.integers(0, 4, 8)) for _ in range(3)]

    def run(m, model, lib: str) -> dict:
        optimizer = m.make_optimizer(model, adaptive=adaptive)
        assert optimizer.base_optimizer.param_groups is optimizer.param_groups
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = m.train(model, optimizer, batches, use_closure=use_closure)
        history["warned"] = sorted({w.category.__name__ for w in caught})
        history["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        saved = optimizer.state_dict()
        history["group"] = {k: saved["param_groups"][0][k] for k in SHARED}
        history["state_keys"] = sorted({k for s in saved["state"].values() for k in s})
        first = next(model.parameters())
        assert np.array_equal(optimizer.state[first]["old_p"].numpy(), first.detach().numpy())  # restored to w
        fresh = m.make_optimizer(model, adaptive=adaptive)
        fresh.load_state_dict(saved)
        assert fresh.base_optimizer.param_groups is fresh.param_groups
        history["fresh_lr"] = fresh.base_optimizer.param_groups[0]["lr"]
        return history

    want, got = from_torch_weights(FILE, lambda m: m.Net(), run)
    for key in ("lr", "base_lr", "tracked", "bn_steady", "warned", "group", "state_keys", "fresh_lr"):
        assert got[key] == want[key], key
    assert want["lr"] == [0.05, 0.025] and want["tracked"][-1] == 12 and all(want["bn_steady"])
    assert want["warned"] == ([] if use_closure else ["UserWarning"])
    for key in ("loss", "loss2", "grad_norm"):
        np.testing.assert_allclose(got[key], want[key], err_msg=key, **TOL)
    for a, b in zip(got["bn_mean"], want["bn_mean"], strict=True):
        np.testing.assert_allclose(a, b, **TOL)
    assert_params_close(got["params"], want["params"], **TOL)
