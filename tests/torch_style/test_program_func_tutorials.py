"""``func_tutorials.py`` (PyTorch's torch.func tutorials: per-sample gradients by a loop of autograd.grad and by
vmap(grad(...)) over functional_call, model ensembling with stack_module_state and vmap, and the Jacobians / Hessians
/ hvp / vjp / jvp tutorial with jacrev / jacfwd / hessian, argnums, vmap-batched Jacobians and Hessians,
autograd.functional.jacobian, and parameter Jacobians, an NTK and parameter Hessians through
torch.func.functional_call) run on torch and, imports swapped, on ours, from torch's initial weights and the same
numpy inputs: every gradient, Jacobian, Hessian, output and the tutorials' own ``allclose`` checks agree.

Left out: the ensembling tutorial's ``base_model.to('meta')`` (we have no meta device; ours raises DeviceError).

Tolerances: float32; the two libraries differ only by rounding. Measured: per-sample gradients within 9e-8
(entries up to 1), ensemble outputs within 1.4e-7, Jacobians and jvps within 6.7e-7, Hessians within 1.1e-6 and
the batched Hessian within 2.2e-6 (entries up to about 1.6), the NTK within 2.4e-7 (up to 2.3), parameter
gradients and Hessians within 5e-8. We allow rtol 1e-5 and atol 4e-6; shapes, the boolean checks and the
``requires_grad`` flags must be equal."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "func_tutorials.py"
TOL = {"rtol": 1e-5, "atol": 4e-6}


def agree(theirs: object, ours: object, key: str = "") -> None:
    """Nested dicts / lists of arrays equal within TOL; lists of bools and ints exactly."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and ours.keys() == theirs.keys(), key
        for k in theirs:
            agree(theirs[k], ours[k], f"{key}.{k}")
    elif isinstance(theirs, list) and all(isinstance(v, (bool, int)) for v in theirs):
        assert ours == theirs, key
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), key
        for i, (t, o) in enumerate(zip(theirs, ours)):
            agree(t, o, f"{key}[{i}]")
    else:
        assert np.shape(ours) == np.shape(theirs), key
        np.testing.assert_allclose(np.asarray(ours, float), np.asarray(theirs, float), err_msg=key, **TOL)


def both(make: str, run: str) -> tuple[dict, dict]:
    return from_torch_weights(PATH, lambda m: getattr(m, make)(), lambda m, model, lib: getattr(m, run)(model))


def test_per_sample_gradients_match_torch(one_torch_thread: None) -> None:
    theirs, ours = both("SimpleCNN", "per_sample_grads")
    agree(theirs, ours)
    assert all(ours["checks"])


def test_model_ensembling_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both("make_ensemble", "ensembling")
    agree(theirs, ours)
    assert all(ours["checks"]) and ours["requires_grad"] == [True] * 6


def test_jacobians_hessians_hvp_match_torch(one_torch_thread: None) -> None:
    with program(PATH, "torch") as t, program(PATH, "ours") as o:
        theirs, ours = t.jacobians(), o.jacobians()
    agree(theirs, ours)
    assert all(ours["checks"]) and ours["batch_hessian_shape"] == [6, 7, 5, 5]


def test_parameter_jacobians_through_functional_call_match_torch(one_torch_thread: None) -> None:
    theirs, ours = both("SimpleMLP", "param_jacobians")
    agree(theirs, ours)
    assert ours["params_unchanged"] and ours["requires_grad"] == [True] * 6  # fc1 / fc2 still require grad
