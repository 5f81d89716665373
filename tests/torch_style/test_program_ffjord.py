"""``ffjord.py`` (rtqichen/ffjord's train_toy.py with lib/layers' ConcatSquashLinear / ConcatLinear ODEnet, ODEfunc,
RegularizedODEfunc, CNF and SequentialFlow, on a plain-torch fixed-step torchdiffeq ``odeint``) run on torch and,
imports swapped, on ours, from torch's initial weights and the same numpy data, Hutchinson noise (Rademacher or
Gaussian) and prior draws: the losses (with the regularizers), the integrated regularizer states, gradient norms,
which parameters get no gradient (the trainable ``sqrt_end_time``, cut off by ``torch.tensor([0.0, T])``), the
forward / backward NFE counts, the parameters after every Adam step, the test losses and NFEs under ``no_grad`` +
``eval()`` (the brute-force 2-D hack inside ``set_grad_enabled(True)``), the densities on the grid and the samples
integrated back from the prior, the log lines, and the best checkpoint read back.

Tolerances: float32; both runs see the same numbers and differ by summation order only. Measured (3 steps in each
of the three configurations): losses within 4.8e-7 absolute (1.0e-7 relative), gradient norms 9.4e-8 relative,
regularizer states 1.6e-7 relative, parameters after each step and in the checkpoint 1.5e-8 absolute, test losses
8.3e-8 relative, grid densities equal, samples 6e-8 absolute (2.3e-7 relative); NFE counts and the parameters
without a gradient equal. We allow rtol 1e-5 and atol 1e-6. Log lines are compared with their numbers parsed, each
within 2e-6 (a 6-decimal loss rounds the other way: 5.578411 against 5.578412). The file takes about 5 s (torch on
one thread) on a shared 2-core machine."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import numpy as np
import pytest
from test_programs import HERE, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "ffjord.py"
TOL = {"rtol": 1e-5, "atol": 1e-6}
NUMBER = re.compile(r"-?\d+\.\d+|-?\d+")


def make(m: object, argv: list[str]) -> object:
    """train_toy.py's model for ``argv``: its regularizers wrapped into every CNF."""
    args = m.get_parser().parse_args(argv)
    fns, _ = m.create_regularization_fns(args)
    return m.build_model_tabular(args, 2, fns if fns else None)


def train(tmp_path: Path, argv: list[str]) -> tuple[dict, dict]:
    """Both libraries' training runs, the noise (data, e, prior draws) from the same numpy seeds."""
    def run(m: object, model: object, lib: str) -> dict:
        data, noise, prior = (np.random.RandomState(s) for s in (0, 1, 2))
        m.sample_rademacher_like = lambda y: m.torch.from_numpy(noise.randint(0, 2, size=tuple(y.shape))).to(y) * 2 - 1
        m.sample_gaussian_like = lambda y: m.torch.from_numpy(noise.randn(*y.shape).astype(np.float32))
        history = collections.defaultdict(list)
        ticks = iter(range(100))
        with pytest.warns(UserWarning, match="sourceTensor.detach"):  # ODEfunc's torch.tensor(t) of a tensor
            best = m.main([*argv, "--save", str(tmp_path / lib)], model, data, history,
                          prior_sample=lambda *shape: m.torch.from_numpy(prior.randn(*shape)),
                          clock=lambda: float(next(ticks)), log=history["lines"].append)
        checkpoint = m.torch.load(str(tmp_path / lib / "checkpt.pth"))
        history["checkpoint"] = {k: v.numpy() for k, v in checkpoint["state_dict"].items()}
        history["best"] = best
        assert checkpoint["args"]["niters"] == 3
        return history
    return from_torch_weights(PATH, lambda m: make(m, argv), run)


def agree(theirs: dict, ours: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key in theirs:
        if key in ("nfe", "test_nfe", "no_grad"):
            assert ours[key] == theirs[key], key
        elif key == "lines":
            assert len(ours[key]) == len(theirs[key])
            for got, want in zip(ours[key], theirs[key], strict=True):
                assert NUMBER.sub("#", got) == NUMBER.sub("#", want)
                np.testing.assert_allclose([float(x) for x in NUMBER.findall(got)],
                                           [float(x) for x in NUMBER.findall(want)], rtol=0, atol=2e-6, err_msg=got)
        elif key in ("state", "checkpoint"):
            pairs = zip(ours[key], theirs[key], strict=True) if key == "state" else [(ours[key], theirs[key])]
            for step, (got, want) in enumerate(pairs):
                assert got.keys() == want.keys()
                for name in want:
                    np.testing.assert_allclose(got[name], want[name], err_msg=f"{key} {name} {step}", **TOL)
        else:
            np.testing.assert_allclose(np.asarray(ours[key], dtype=np.float64),
                                       np.asarray(theirs[key], dtype=np.float64), err_msg=key, **TOL)


def test_brute_force_concatsquash_tanh_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    """The exact divergence in training, a trainable T (its gradient None in both), RK4 at step 0.25."""
    theirs, ours = train(tmp_path, ["--niters", "3", "--val_freq", "2", "--viz_freq", "3"])
    agree(theirs, ours)
    assert ours["nfe"] == [(8.0, 0.0)] * 3 and ours["test_nfe"] == [8.0, 8.0]  # 2 RK4 steps of 4 evaluations
    assert ours["no_grad"] == [["chain.0.sqrt_end_time"]] * 3
    assert ours["lines"][1].startswith("Iter 0001 | Time 1.0000(1.0000) | Loss ")
    assert ours["lines"][3].startswith("[TEST] Iter 0002 | Test Loss ")
    assert ours["lines"][-1] == "Training has finished."
    assert ours["density"][0].shape == (6, 6) and ours["samples"][0].shape == (36, 2)


def test_hutchinson_regularized_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    """Rademacher Hutchinson on softplus ConcatLinear layers, two stacked CNFs, and the kinetic energy, the e-based
    Jacobian norm and FFJORD's Jacobian Frobenius regularizers integrated as states, under Euler steps."""
    argv = ["--niters", "3", "--divergence_fn", "approximate", "--rademacher", "True", "--nonlinearity",
            "softplus", "--layer_type", "concat", "--num_blocks", "2", "--train_T", "False", "--solver", "euler",
            "--kinetic_energy", "0.1", "--jacobian_norm2", "0.1", "--JFrobint", "0.01", "--val_freq", "3",
            "--viz_freq", "5", "--data", "checkerboard"]
    theirs, ours = train(tmp_path, argv)
    agree(theirs, ours)
    assert ours["nfe"] == [(4.0, 0.0)] * 3 and ours["no_grad"] == [[]] * 3
    assert len(ours["reg"][0]) == 3 and " | kinetic_energy: " in ours["lines"][1]


def test_gaussian_hutchinson_residual_swish_matches_torch(one_torch_thread: None, tmp_path: Path) -> None:
    """Gaussian e on a residual swish ODEnet (its ``beta`` parameter trained; the divergence lowered in place by the
    dimension), 2spirals, and the l2 / directional regularizers."""
    argv = ["--niters", "3", "--divergence_fn", "approximate", "--nonlinearity", "swish", "--dims", "6",
            "--residual", "True",
            "--step_size", "0.5", "--l2int", "0.1", "--dl2int", "0.1", "--val_freq", "3", "--viz_freq", "5",
            "--data", "2spirals"]
    theirs, ours = train(tmp_path, argv)
    agree(theirs, ours)
    assert ours["nfe"] == [(4.0, 0.0)] * 3


def test_flow_inverts_and_counts(tmp_path: Path) -> None:
    """Ours: integrating forward then in reverse returns the input, log-densities cancel, ``before_odeint`` resets
    the counter each call, and the eval-mode density is the exact one (brute force) whatever the estimator."""
    with program(PATH, "ours") as m:
        m.torch.manual_seed(0)
        model = make(m, ["--divergence_fn", "approximate", "--step_size", "0.05"])
        x = m.torch.from_numpy(m.inf_train_gen("8gaussians", np.random.RandomState(3), 8))
        zero = m.torch.zeros(8, 1)
        model.eval()
        with m.torch.no_grad():
            z, dlogp = model(x, zero)
            assert m.count_nfe(model) == 40.0 and not z.requires_grad and not dlogp.requires_grad
            x_back, dlogp_back = model(z, dlogp, reverse=True)
        assert m.count_nfe(model) == 40.0 and z.requires_grad  # ODEfunc's requires_grad_ on the no-grad leaf
        np.testing.assert_allclose(x_back.numpy(), x.numpy(), atol=1e-5)
        np.testing.assert_allclose(dlogp_back.numpy(), 0, atol=1e-5)
        assert m._flip(m.torch.tensor([0.0, 0.5]), 0).tolist() == [0.5, 0.0]
