"""The PINN program (``pinn.py``) on torch and, with the imports swapped, on ours, in float32 and float64: from
torch's initial weights, the same collocation points, derivatives (u, u_x, u_t, u_xx), residuals, Adam losses,
ExponentialLR rates, gradient norms, every loss LBFGS's strong-Wolfe closure evaluates, and final parameters; the
Poisson Laplacian by autograd and by torch.func (hessian, jacrev(jacrev), grad under vmap of functional_call)."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

# float64: the two runs differ by summation order only (~1e-15 per op); 20 LBFGS iterations grow that to ~1e-10
# (seen). float32: ~1e-7 per op; Adam keeps the parameters within 3e-7 (seen). LBFGS's curvature pairs on the
# Burgers loss's flat stretch (successive losses equal to 4 digits) are float32 noise (y = g' - g loses 3 of 7
# digits), so after 5 iterations the two libraries' parameters drift ~3e-4 apart (seen; float64 holds to 1e-10):
# the float32 Burgers runs stop after 2 LBFGS iterations
TOL = {"float64": {"rtol": 1e-8, "atol": 1e-12}, "float32": {"rtol": 1e-4, "atol": 1e-6}}
SERIES = ("loss", "pde", "bc", "lr", "norm", "lbfgs")


def dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")  # ours prints float64, torch torch.float64


def models(t, o, dtype: str, activation: str):
    torch.manual_seed(0)
    theirs = t.PINN(activation=activation).to(getattr(torch, dtype))
    ours = o.PINN(activation=activation).to(getattr(o.torch, dtype))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return theirs, ours


def assert_close(got, want, dtype: str, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=what)


def assert_same_params(ours, theirs, dtype: str) -> None:
    for name, p in theirs.named_parameters():
        mine = dict(ours.named_parameters())[name]
        assert dtype_name(mine.dtype) == dtype, name
        assert_close(mine.detach().numpy(), p.detach().numpy(), dtype, name)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("activation", ["tanh", "sin"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_burgers_pinn_matches_torch(dtype: str, activation: str) -> None:
    with program(HERE / "pinn.py", "torch") as t, program(HERE / "pinn.py", "ours") as o:
        theirs, ours = models(t, o, dtype, activation)
        data_t, data_o = t.burgers_data(9, getattr(torch, dtype)), o.burgers_data(9, getattr(o.torch, dtype))
        for a, b, what in zip(data_o, data_t, ("xt", "xt_b", "u_b")):
            assert a.requires_grad == b.requires_grad and dtype_name(a.dtype) == dtype_name(b.dtype), what
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy(), err_msg=what)  # torch's linspace
        for a, b, what in zip(o.burgers_residual(ours, data_o[0]), t.burgers_residual(theirs, data_t[0]),
                              ("residual", "u", "u_x", "u_t", "u_xx")):
            assert a.requires_grad and b.requires_grad, what  # create_graph: the residual trains
            assert_close(a.detach().numpy(), b.detach().numpy(), dtype, what)
        lbfgs = 2 if dtype == "float32" else 20
        want = t.train(theirs, lambda m: t.burgers_loss(m, data_t), 20, lbfgs, lr=2e-2)
        got = o.train(ours, lambda m: o.burgers_loss(m, data_o), 20, lbfgs, lr=2e-2)
    for key in SERIES:
        assert_close(got[key], want[key], dtype, key)
    assert got["final"] == pytest.approx(want["final"], rel=TOL[dtype]["rtol"])
    assert_same_params(ours, theirs, dtype)
    assert min(got["lbfgs"]) < (0.7 if dtype == "float64" else 0.97) * got["loss"][0]  # it trained


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_poisson_pinn_and_torch_func_laplacian_match_torch(dtype: str) -> None:
    with program(HERE / "pinn.py", "torch") as t, program(HERE / "pinn.py", "ours") as o:
        theirs, ours = models(t, o, dtype, "tanh")
        data_t, data_o = t.poisson_data(6, getattr(torch, dtype)), o.poisson_data(6, getattr(o.torch, dtype))
        for a, b, what in zip(data_o, data_t, ("interior", "f", "xy_b", "u_b")):
            if what == "f":  # sin: numpy's and torch's float32 kernels differ in the last bit or two
                assert_close(a.numpy(), b.numpy(), dtype, what)
            else:  # the grid itself: torch's linspace, bit for bit
                np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy(), err_msg=what)
        lap_t, du_t = t.laplacian_autograd(theirs, data_t[0])
        lap_o, du_o = o.laplacian_autograd(ours, data_o[0])
        assert_close(lap_o.detach().numpy(), lap_t.detach().numpy(), dtype, "laplacian")
        assert_close(du_o.detach().numpy(), du_t.detach().numpy(), dtype, "du")
        for how in ("hessian", "jacrev"):
            by_func = o.laplacian_func(ours, data_o[0], how)
            assert_close(by_func.detach().numpy(), lap_t.detach().numpy(), dtype, how)
            assert_close(t.laplacian_func(theirs, data_t[0], how).detach().numpy(), lap_t.detach().numpy(), dtype,
                         f"torch's {how}")
        assert_close(o.grad_func(ours, data_o[0]).numpy(), du_t.detach().numpy(), dtype, "grad")
        want = t.train(theirs, lambda m: t.poisson_loss(m, data_t, use_func=True), 30, 6, lr=2e-2)
        got = o.train(ours, lambda m: o.poisson_loss(m, data_o, use_func=True), 30, 6, lr=2e-2)
    for key in SERIES:
        assert_close(got[key], want[key], dtype, key)
    assert_same_params(ours, theirs, dtype)
    assert got["lbfgs"][-1] < 0.05 * got["loss"][0]  # it trained
