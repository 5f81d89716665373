"""``hnn.py`` (greydanus' Hamiltonian Neural Networks and a torch port of Cranmer's Lagrangian Neural Network) run on
torch and, imports swapped, on ours, from torch's initial (orthogonal) weights and the same numpy data: the
permutation tensors, the fields at the initial weights (split into conservative and solenoidal parts), every step's
train / test loss, squared gradient norm and parameters under Adam(weight_decay=1e-4), the printed lines, the
trajectory the trained field gives by the hand-written RK4 and the energies along it; for the LNN, the predicted
accelerations, losses, gradient norms and parameters step by step, by ``autograd.functional`` + ``linalg.solve`` and
by ``torch.func`` (hessian / grad / jacrev under vmap) + ``linalg.pinv``, also under a penalty on the Jacobian of
the learned dynamics (through pinv's and solve's double backward).

Tolerances: float32; both runs see the same numbers and differ by summation order only. Measured: HNN losses 1.5e-7
relative, squared gradient norms 2.1e-7 relative, fields, RK4 increments, trajectories and energies 4.8e-7 absolute,
parameters 1.6e-7 absolute, the printed lines equal. The LNN's Hessian at the softplus initialisation is
ill-conditioned (the loss starts near 1e2, the gradient norm near 2e4), so float32 rounding is amplified by the
solve / pinv: losses 2.9e-6 relative, gradient norms 6.3e-6 relative, predictions 6.1e-5 absolute (4.8e-5
relative), parameters 3e-8 absolute (with and without the Jacobian penalty). Allowed: rtol 1e-5 / atol 1e-6
(HNN, and LNN parameters), rtol 1e-4 / atol 1e-5 (LNN losses, gradient norms, predictions).

The original's ``torch.Tensor(data['dx'])`` of a float64 array is float32 in torch but float64 in ours (README,
Differences from PyTorch: ``Tensor(ndarray)`` keeps its dtype), which would make ours' losses float64: the program
hands it the float32 array instead."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "hnn.py"
TOL = {"rtol": 1e-5, "atol": 1e-6}
LNN_TOL = {"rtol": 1e-4, "atol": 1e-5}

CONFIGS = {
    "spring": ({}, "spring", False),
    "baseline": ({"baseline": True}, "spring", False),
    "pendulum_both_levi_civita": ({"field_type": "both", "assume_canonical_coords": False,
                                   "nonlinearity": "softplus"}, "pendulum", False),
    "spring_rk4_swish": ({"nonlinearity": "swish"}, "spring", True),
}


def close(got, want, what: str, **tol: float) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, what
    np.testing.assert_allclose(got, want, err_msg=what, **(tol or TOL))


@pytest.mark.parametrize("config", list(CONFIGS))
def test_hnn_training_matches_torch(one_torch_thread: None, config: str) -> None:
    kwargs, system, use_rk4 = CONFIGS[config]

    def run(m, model, lib):
        data = m.get_dataset(seed=0, system=system)
        x = m.torch.tensor(data["x"], requires_grad=True, dtype=m.torch.float32)
        out = {"M": model.M.numpy().copy(), "field": model.time_derivative(x).detach().numpy()}
        if not model.baseline:
            out["parts"] = [f.detach().numpy() for f in model.time_derivative(x, separate_fields=True)]
            out["rk4"] = model.rk4_time_derivative(x, dt=0.25).detach().numpy()
        out.update(m.train(model, data, total_steps=5, print_every=2, use_rk4=use_rk4))
        path = m.integrate_model(model, np.array([0.5, 0.2]), dt=0.1, steps=10)
        out["path"] = path.numpy()
        out["true_energy"], out["learned_energy"] = m.energies(model, path, system)
        return out

    theirs, ours = from_torch_weights(PATH, lambda m: m.make_model(**kwargs), run)
    assert ours.keys() == theirs.keys()
    np.testing.assert_array_equal(ours["M"], theirs["M"])
    assert ours["lines"] == theirs["lines"]
    for key in ("field", "parts", "rk4", "train_loss", "test_loss", "grad_norm", "path", "true_energy",
                "learned_energy"):
        if key in theirs and theirs[key] is not None:
            close(ours[key], theirs[key], key)
    assert len(ours["params"]) == len(theirs["params"])
    for mine, want in zip(ours["params"], theirs["params"]):
        assert_params_close(mine, want, **TOL)
    assert ours["train_loss"][-1] < ours["train_loss"][0]  # it learned


def test_permutation_tensors_match_torch(one_torch_thread: None) -> None:
    def run(m, model, lib):
        out = {}
        for n in (2, 4, 6):
            for canonical in (True, False):
                model.assume_canonical_coords = canonical
                out[n, canonical] = model.permutation_tensor(n).numpy().copy()
        return out

    theirs, ours = from_torch_weights(PATH, lambda m: m.make_model(), run)
    for key in theirs:
        assert ours[key].dtype == theirs[key].dtype, key
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=str(key))


@pytest.mark.parametrize("use_func", [True, False], ids=["torch_func_pinv", "autograd_functional_solve"])
def test_lnn_matches_torch(one_torch_thread: None, use_func: bool) -> None:
    def run(m, model, lib):
        state, target = m.coupled_pendulum_data(np.random.RandomState(0), n_samples=4)
        return m.train_lnn(model, state, target, steps=3, use_func=use_func)

    theirs, ours = from_torch_weights(PATH, lambda m: m.LNN(), run)
    for key in ("loss", "grad_norm", "pred"):
        close(ours[key], theirs[key], key, **LNN_TOL)
    for mine, want in zip(ours["params"], theirs["params"], strict=True):
        assert_params_close(mine, want, **TOL)
    assert ours["loss"][-1] < ours["loss"][0]


def test_lnn_func_and_functional_agree(one_torch_thread: None) -> None:
    """The two LNN spellings give the same accelerations (pinv and solve of a well-posed Hessian), on both libraries."""
    def run(m, model, lib):
        state, _ = m.coupled_pendulum_data(np.random.RandomState(1), n_samples=3)
        x = m.torch.tensor(state, dtype=m.torch.float32)
        params = dict(model.named_parameters())
        by_func = m.torch.stack([m.lagrangian_eom_func(model, params, s) for s in x])
        by_functional = m.torch.stack([m.lagrangian_eom(model, s) for s in x])
        return {"func": by_func.detach().numpy(), "functional": by_functional.detach().numpy()}

    theirs, ours = from_torch_weights(PATH, lambda m: m.LNN(), run)
    for key in theirs:
        close(ours[key], theirs[key], key, **LNN_TOL)
    close(ours["func"], ours["functional"], "ours: func vs functional", rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("use_func", [True, False], ids=["torch_func_pinv", "autograd_functional_solve"])
def test_lnn_jacobian_penalty_matches_torch(one_torch_thread: None, use_func: bool) -> None:
    """A smoothness penalty on the learned dynamics' Jacobian (jacrev of the pinv eom under vmap, or
    autograd.functional.jacobian of the solve eom) trains through pinv's / solve's double backward (ours raised
    NotImplementedError for both before)."""
    def run(m, model, lib):
        state, target = m.coupled_pendulum_data(np.random.RandomState(0), n_samples=3 if use_func else 2)
        return m.train_lnn(model, state, target, steps=2, use_func=use_func, jac_weight=1e-3)

    theirs, ours = from_torch_weights(PATH, lambda m: m.LNN(), run)
    for key in ("loss", "grad_norm", "pred"):
        close(ours[key], theirs[key], key, **LNN_TOL)
    for mine, want in zip(ours["params"], theirs["params"], strict=True):
        assert_params_close(mine, want, **TOL)
