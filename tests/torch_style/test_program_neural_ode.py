"""``neural_ode.py`` (a neural ODE with hand-written Euler / RK4 fitted to the spiral, and a continuous normalizing
flow with the exact trace and Hutchinson's estimator) run on torch and, imports swapped, on ours, from torch's
initial weights and the same numpy noise: the spiral's true trajectory, the minibatch losses, gradient norms,
learning rates and function-evaluation counts, the test losses and predicted trajectories, the CNF's negative
log-likelihoods and gradient norms step by step, the exact log-likelihoods evaluated under ``no_grad`` +
``enable_grad`` with detached steps, samples pushed back from the base, the float64 ``autograd.gradcheck`` of both
divergences (double backward) and ``gradgradcheck`` of the field, the gradient of the exact trace, and the final
parameters.

Tolerances: float32 throughout; the gradcheck's float64 copy is of the trained float32 weights, which differ by
rounding. Both runs see the same numbers and differ by summation order only. Measured (12 spiral steps, 6 CNF
steps): losses within 2.4e-7 absolute (1.8e-7 relative), gradient norms 1.2e-7 relative, test losses and
trajectories 5e-7 relative, log-likelihoods 1.2e-7 absolute, z and samples 1.8e-7 absolute, the float64 trace
gradient 1.1e-8 absolute (1.7e-7 relative), final parameters 6e-8 absolute; learning rates, the spiral and the
function-evaluation counts equal. We allow rtol 1e-5 and atol 5e-7; the gradcheck verdicts must be equal."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL = {"rtol": 1e-5, "atol": 5e-7}
PATH = HERE / "neural_ode.py"


def params(model) -> dict:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def agree(theirs: dict, ours: dict, exact: tuple[str, ...] = ()) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key in exact:
            assert ours[key] == theirs[key], key
        elif key == "params":
            assert_params_close(ours[key], theirs[key], **TOL)
        else:
            np.testing.assert_allclose(np.asarray(ours[key]), np.asarray(theirs[key]), err_msg=key, **TOL)


@pytest.mark.parametrize("method", ["rk4", "euler"])
def test_spiral_fit_matches_torch(one_torch_thread: None, method: str) -> None:
    def run(m, func, lib):
        out = m.fit_spiral(func, method=method)
        return {**out, "params": params(func)}

    theirs, ours = from_torch_weights(PATH, lambda m: m.ODEFunc(), run)
    agree(theirs, ours, exact=("nfe",))
    assert ours["loss"][-1] < ours["loss"][0] and ours["test_loss"][-1] < ours["test_loss"][0]  # it learned


@pytest.mark.parametrize("estimator", ["exact", "hutchinson"])
def test_cnf_matches_torch(one_torch_thread: None, estimator: str) -> None:
    def run(m, model, lib):
        x = m.two_circles(np.random.RandomState(1), 12)
        ll_before = m.evaluate(model, m.torch.from_numpy(x))[0].numpy()
        out = m.train_cnf(model)
        ll, z = m.evaluate(model, m.torch.from_numpy(x))
        assert not ll.requires_grad and not z.requires_grad
        checks, trace_grad = m.check_divergence_gradients(model)
        return {**out, "ll_before": ll_before, "ll": ll.numpy(), "z": z.numpy(),
                "samples": m.sample(model, z).numpy(), "gradcheck": list(checks),
                "trace_grad": trace_grad, "params": params(model), "x": x}

    theirs, ours = from_torch_weights(PATH, lambda m: m.CNF(estimator=estimator), run)
    agree(theirs, ours, exact=("gradcheck",))
    assert ours["gradcheck"] == [True, True, True]
    assert ours["loss"][-1] < ours["loss"][0] and ours["ll"].mean() > ours["ll_before"].mean()  # it learned
    np.testing.assert_allclose(ours["samples"], ours["x"], atol=1e-3)  # pushing z back from t=1 returns x
