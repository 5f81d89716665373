"""``efficient_kan.py`` (Blealtan's efficient-kan: KANLinear's B-spline bases, ``curve2coeff`` by a batched
``linalg.lstsq``, ``update_grid`` under ``@torch.no_grad()``, the regularization loss, the KAN container) run on
torch and, imports swapped, on ours from torch's initial weights (the ``grid`` buffer included) and the same data:
the layer's pieces on fed inputs (bases, the least-squares fits of the initialisation (6 knots for 8 coefficients:
the minimum-norm solution) and of a grid update, the new knots, forward and the regularization's gradient); the
mnist example's classifier (AdamW, ExponentialLR, cross-entropy plus regularization, accuracy, grid updates every 4
steps, the validation print lines) step by step, with its knots and refitted spline weights after every update,
and a checkpoint resume equal to the uninterrupted run in each library; test_simple_math's LBFGS fit (strong Wolfe,
in float64: every closure call's loss) and the same fit by AdamW + ExponentialLR with the grid updated inside the
training forward. A grid update on a constant input column is checked against the minimum-norm fit (torch's
``gelsd``): torch 2.13's default ``gelsy`` can return zeros there (see the test).

Tolerances: float32 except the LBFGS fit. The first layer's knots come from sorted inputs and are equal; the rest
differs by summation order (matmuls, our SVD-based least squares against LAPACK's gelsy), and the refitted spline
weights carry the fit's conditioning. Measured: the layer pieces within 7.2e-7 absolute (bases equal, forward
1.2e-7, the fitted coefficients 1.9e-8 of ~0.1, the spline weights' gradient 7.2e-7 of ~0.7); the classifier (16
steps, 4 grid updates) losses within 1.2e-7 relative, gradient norms 7.4e-8, regularization 2.6e-7, knots 1.5e-6
absolute (of ~4.4), refitted spline weights 2.1e-7 absolute (of ~0.04), parameters 1.5e-6 absolute; the AdamW fit
(30 steps, 3 updates) losses 3.4e-7 relative, parameters 3e-7 absolute; the float64 LBFGS fit (92 closure calls)
1.6e-14 relative, 4.5e-16 absolute. We allow rtol 1e-5 / atol 4e-6 in float32 (2e-6 / 2e-6 for the pieces) and
rtol 1e-12 / atol 1e-14 in float64. Accuracies are batch fractions and the lrs are computed alike: equal. In
float32, LBFGS's strong-Wolfe line search tries a different step after ~50 calls (a comparison decided by rounding;
the steps' results still agree to 1e-7), so that fit is compared in float64, where the paths are the same.
torch's own runs are not bit-reproducible (MKL's gelsy: two identical runs' refits differ by 8e-9), so its resume
is checked within these tolerances and ours exactly. The upstream test's LBFGS(lr=1) without a line search, with
the grid updated inside the closure (every call of a step), diverges to NaN in torch within the first step (then
its lstsq fails on the NaNs, as ours refuses them): the program updates the grid before the step and uses strong
Wolfe."""

from __future__ import annotations

import numpy as np
import pytest
from test_programs import HERE, assert_params_close, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "efficient_kan.py"
TOL = {"rtol": 1e-5, "atol": 4e-6}
EXACT = ("accuracy", "lr")


def agree(theirs: dict, ours: dict, tol: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key == "params":
            assert_params_close(ours[key], theirs[key], **tol)
        elif key in ("grids", "splines"):  # after each update: one array per layer
            assert len(ours[key]) == len(theirs[key]), key
            for got, want in zip(ours[key], theirs[key]):
                for g, w in zip(got, want, strict=True):
                    assert g.dtype == w.dtype, key
                    np.testing.assert_allclose(g, w, err_msg=key, **tol)
        elif key == "lines":
            for got, want in zip(ours[key], theirs[key], strict=True):
                (got, got_acc), (want, want_acc) = got.rsplit(", ", 1), want.rsplit(", ", 1)
                assert got_acc == want_acc and got.rsplit(" ", 1)[0] == want.rsplit(" ", 1)[0]
                assert float(got.rsplit(" ", 1)[1]) == pytest.approx(float(want.rsplit(" ", 1)[1]), rel=tol["rtol"])
        elif key in EXACT:
            assert ours[key] == theirs[key], key
        else:
            assert len(ours[key]) == len(theirs[key]), key
            np.testing.assert_allclose(np.array(ours[key], float), np.array(theirs[key], float), err_msg=key, **tol)


def both(run: str, make=lambda m: m.KAN([64, 16, 4]), **kwargs: object) -> tuple[dict, dict]:
    return from_torch_weights(PATH, make, lambda m, model, lib: getattr(m, run)(model, **kwargs))


def test_classifier_matches_torch(one_torch_thread: None, capsys: pytest.CaptureFixture[str]) -> None:
    theirs, ours = both("train_classifier")
    agree(theirs, ours, TOL)
    assert len(ours["loss"]) == 16 and len(ours["grids"]) == 4
    assert ours["loss"][-1] < 0.5 * ours["loss"][0] and ours["val"][-1][1] > 0.9  # it learned
    assert capsys.readouterr().out.splitlines()[2:] == ours["lines"]


@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_classifier_checkpoint_resume_is_exact(one_torch_thread: None, tmp_path, lib: str) -> None:
    """Stopped after the first epoch (model, AdamW and ExponentialLR saved), resumed into a fresh model: every number
    equals the uninterrupted run's, the grids updated before the stop included (in torch: within rounding, as two
    uninterrupted torch runs differ there too)."""
    checkpoint = tmp_path / "kan.pt"
    with program(PATH, lib) as m:
        runs = []
        for stop_after in (None, 1):
            m.torch.manual_seed(0)
            log = m.train_classifier(m.KAN([64, 16, 4]), checkpoint=checkpoint if stop_after else None,
                                     stop_after=stop_after)
            if stop_after:
                m.torch.manual_seed(1)  # the fresh model's own weights are replaced by the checkpoint's
                log = m.train_classifier(m.KAN([64, 16, 4]), checkpoint=checkpoint, log=log)
            runs.append(log)
    whole, resumed = runs
    if lib == "torch":  # MKL's gelsy is not bit-reproducible from run to run (seen: refits 8e-9 apart)
        agree(whole, resumed, TOL)
        return
    assert whole.keys() == resumed.keys()
    for key in whole:
        if key == "params":
            for name in whole[key]:
                assert np.array_equal(whole[key][name], resumed[key][name]), name
        elif key in ("grids", "splines"):
            assert all(np.array_equal(a, b) for x, y in zip(whole[key], resumed[key], strict=True)
                       for a, b in zip(x, y, strict=True)), key
        else:
            assert whole[key] == resumed[key], key


def test_lbfgs_function_fit_float64_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both("fit_function", lambda m: m.KAN([2, 2, 1], base_activation=m.torch.nn.Identity).double(),
                        steps=6, update_every=2, batch=256)
    agree(theirs, ours, {"rtol": 1e-12, "atol": 1e-14})
    assert len(ours["loss"]) > 60 and ours["step"][-1] < 0.2 * ours["step"][0]


def test_adamw_function_fit_matches_torch(one_torch_thread: None) -> None:
    theirs, ours = both("fit_adamw", lambda m: m.KAN([2, 3, 1], grid_size=4, base_activation=m.torch.nn.Identity))
    agree(theirs, ours, TOL)
    assert len(ours["grids"]) == 3 and ours["loss"][-1] < 0.1 * ours["loss"][0]


@pytest.mark.parametrize("config", [{}, {"grid_size": 3, "spline_order": 2, "enable_standalone_scale_spline": False},
                                    {"grid_size": 7, "spline_order": 1, "grid_range": [-2, 3]}])
def test_layer_pieces_match_torch(one_torch_thread: None, config: dict) -> None:
    """KANLinear(3, 2) from torch's state: bases (inputs inside, outside and on the knots), the initialisation's
    minimum-norm fit on the inner knots, forward, the regularization loss and its gradient, then update_grid on
    inputs beyond the old grid: the new knots, the refitted weights, forward again."""
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1.5, (40, 3)).astype(np.float32)
    noise = rng.uniform(-0.05, 0.05, (config.get("grid_size", 5) + 1, 3, 2)).astype(np.float32)
    results = []
    for lib in ("torch", "ours"):
        with program(PATH, lib) as m:
            torch.manual_seed(0)
            layer = m.KANLinear(3, 2, **config)
            if not results:
                state = {k: v.numpy().copy() for k, v in layer.state_dict().items()}
            layer.load_state_dict({k: m.torch.from_numpy(v) for k, v in state.items()})
            t = m.torch
            knots = layer.grid.T[layer.spline_order:-layer.spline_order]
            xs = t.cat([t.from_numpy(x), knots])  # knots: the half-open intervals decide
            out = {"bases": layer.b_splines(xs), "init_fit": layer.curve2coeff(knots, t.from_numpy(noise))}
            y = layer(t.from_numpy(x))
            reg = layer.regularization_loss(1.0, 0.5)
            (y.square().mean() + reg).backward()
            out |= {"forward": y, "reg": reg, "grad_spline": layer.spline_weight.grad,
                    "grad_base": layer.base_weight.grad}
            layer.update_grid(t.from_numpy(x), margin=0.05)
            out |= {"grid": layer.grid, "refit": layer.spline_weight, "after": layer(t.from_numpy(x))}
            results.append({k: v.detach().numpy() for k, v in out.items()})
    theirs, ours = results
    for key in theirs:
        assert ours[key].shape == theirs[key].shape and ours[key].dtype == theirs[key].dtype, key
        np.testing.assert_allclose(ours[key], theirs[key], rtol=2e-6, atol=2e-6, err_msg=key)
    np.testing.assert_allclose(ours["after"], ours["forward"], atol=0.05)  # the refit kept the layer's function


def test_update_grid_on_a_constant_input_is_the_minimum_norm_fit(one_torch_thread: None) -> None:
    """A constant input column (an MNIST border pixel) makes the refit's A rank 1 (every row the same bases): ours
    is the minimum-norm least-squares solution, torch's ``gelsd`` driver's. torch 2.13's default ``gelsy`` can
    report rank 0 there and return zeros (its JPVT buffer is not reset: pytorch/pytorch#187411), which drops the
    column's spline; where its rank is right, it agrees."""
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1.5, (40, 3)).astype(np.float32)
    x[:, 1] = 0.0
    with program(PATH, "ours") as o:
        torch.manual_seed(0)
        layer = o.KANLinear(3, 2)
        xt = o.torch.from_numpy(x)
        splines = layer.b_splines(xt).permute(1, 0, 2)
        old = o.torch.bmm(splines, layer.scaled_spline_weight.permute(1, 2, 0)).detach().numpy()
        layer.update_grid(xt)
        bases = layer.b_splines(xt).transpose(0, 1).numpy()
        refit = layer.spline_weight.detach().numpy()
    want = torch.linalg.lstsq(torch.from_numpy(bases), torch.from_numpy(old), driver="gelsd").solution
    np.testing.assert_allclose(refit, want.permute(2, 0, 1).numpy(), rtol=1e-5, atol=1e-7)
    assert np.abs(refit[:, 1]).max() > 1e-3  # the constant column keeps its spline's value there
    fitted = np.einsum("bk,ok->bo", bases[1], refit[:, 1])
    np.testing.assert_allclose(fitted, old[1], rtol=1e-4, atol=1e-6)  # and fits it exactly (one equation)
