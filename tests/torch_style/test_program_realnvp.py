"""The RealNVP program (``realnvp.py``) on torch and, with the imports swapped, on ours: from torch's initial weights
(the weight-normed Linear's ``original0`` / ``original1``, the mask buffers and ActNorm's ``initialized`` buffer
included) and the same numpy minibatches, the ActNorm data-dependent initialisation (``copy_``, ``.data =``, new
``nn.Parameter``s), every training loss, gradient norm, largest gradient after ``clip_grad_value_``, ExponentialLR
rate (Adamax and Adam, MultivariateNormal and Independent(Normal) priors), the flow's log-det against
``autograd.functional.jacobian`` + ``linalg.slogdet`` / ``linalg.det``, ``inverse(forward(x))``, samples from fixed
z, held-out log-likelihoods, a torch.save / torch.load state_dict round trip, the final parameters, and a run
stopped at step 12 and resumed from its checkpoint (model, optimizer and scheduler state through torch.save /
torch.load), which must be the uninterrupted run bit for bit in each library; the notebook form (masks as an
``nn.Parameter(requires_grad=False)``, ``retain_graph=True``, ``get_total_norm``); and an ``nn.Sequential``
subclass walking ``self._modules`` with a BatchNormFlow whose running buffers are set by a momentum-0 pass after
each epoch (its running statistics and eval log-likelihoods compared too). Also a loss whose log-det comes from
slogdet of ``jacobian(create_graph=True)``: its value and parameter gradients against the layers' and torch's.

Tolerances: in float32 the runs differ by summation order in the matrix products and sums (~1e-7
relative per op). Measured over 30 steps (3 configurations and the notebook): losses within 5e-7, gradient norms
within 1e-6 (1e-6 relative), parameters within 2e-6 (Adam moves a weight ~lr a step whatever its gradient's last
bits), log-likelihoods within 1.1e-6 relative (2.3e-5 absolute on the ring's ~-20), samples, reconstructions and
round-trip z within 1.2e-6. We allow rtol 1e-5 and atol 1e-5. The Jacobian's log-dets are sums of ~10 log-scales
of O(1) that cancel to ~0.1, so they are compared with atol 2e-6 (seen: 4.2e-7); within one library the flow's
log-det, slogdet's and log|det| agree to 2e-6 (float32 LU of a 2 x 2 Jacobian, seen 4.8e-7), and inverse(forward(x))
is x to 2e-5 (seen 7e-7). float64 (two configurations): every difference is a few ulps (parameters within 6e-15,
the ring's log-likelihoods of ~-20 within 6.4e-14, relative differences at most 2e-14, the Jacobian's log-dets
within 7e-16): rtol 1e-12, atol 1e-12 (the log-dets 1e-13). The autograd log-det loss and its gradients are
within 3e-7 (float32) / 1e-15 (float64) of the layers' and of torch's, so the same atol holds. The learning rates
are Python floats computed the same way: equal exactly. The BatchNormFlow comes first in its model: after a
coupling it would cancel that coupling's last bias, and Adam turns such a zero true gradient into steps of +-lr
following the rounding noise (seen: 8e-3 apart after 12 steps)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from test_programs import HERE, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FILE = HERE / "realnvp.py"
TOL = {"rtol": 1e-5, "atol": 1e-5}
TOLS = {"float32": {**TOL, "jac": 2e-6, "inverse": 2e-5}, "float64": {"rtol": 1e-12, "atol": 1e-12, "jac": 1e-13,
                                                                      "inverse": 1e-12}}
STEPS = 30


def as_numpy(value) -> np.ndarray:
    return np.asarray(value.detach().numpy() if hasattr(value, "detach") else value)


def run(lib: str, weights: dict | None, kind: str, optimizer: str, init: str, clip: float | None, dtype: str):
    """Build the flow (torch's seed; ours loads ``weights``), train it and run every check; (weights, results)."""
    with program(FILE, lib) as m:
        torch.manual_seed(0)
        build = lambda: m.RealNVP(init=init).to(getattr(m.torch, dtype))  # noqa: E731
        model = build()
        if weights is None:
            weights = {k: as_numpy(v).copy() for k, v in model.state_dict().items()}
        else:
            assert list(model.state_dict()) == list(weights)
            model.load_state_dict(weights)
        data, prior = m.two_moons(512, dtype=dtype), m.make_prior(kind, dtype=getattr(m.torch, dtype))
        if init == "param":  # the new Parameters must exist before the optimizer takes them
            with m.torch.no_grad():
                model(m.torch.from_numpy(data[:64]))
        train = functools.partial(m.train, prior=prior, data=data, optimizer=optimizer, lr=3e-3, clip=clip)
        out = {"hist": train(model, steps=STEPS)}
        half = build()  # the same run stopped at step 12 and resumed from its checkpoint
        half.load_state_dict({k: m.torch.from_numpy(v) for k, v in weights.items()})
        if init == "param":
            with m.torch.no_grad():
                half(m.torch.from_numpy(data[:64]))
        first = train(half, steps=12)
        resumed = build()
        out["resumed"] = train(resumed, steps=STEPS, resume=first["checkpoint"])
        out["resumed"]["params"] = {k: as_numpy(v).copy() for k, v in resumed.named_parameters()}
        for key in ("loss", "norm", "lr", "clipped"):
            out["resumed"][key] = first[key] + out["resumed"][key]
        out["jac"] = m.jacobian_logdet(model, m.torch.from_numpy(data[:5])).numpy()
        z = np.random.default_rng(5).standard_normal((16, 2)).astype(dtype)
        out["held_out"] = m.two_moons(128, seed=1, dtype=dtype)
        out["eval"] = m.evaluate(model, prior, out["held_out"], z)
        out["eval"]["ring_ll"] = m.log_prob(model, prior, m.torch.from_numpy(m.ring(32, dtype=dtype))).detach().numpy()
        out["checkpoint"] = m.checkpoint_round_trip(model, build, prior, data[:8])
        out["params"] = {k: as_numpy(v).copy() for k, v in model.named_parameters()}
        out["prior_ll"] = [m.make_prior(k, dtype=getattr(m.torch, dtype)).log_prob(m.torch.from_numpy(z)).numpy()
                           for k in ("mvn", "indep")]
    return weights, out


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize(("kind", "optimizer", "init", "clip", "dtype"), [
    ("mvn", "adamax", "copy", 0.2, "float32"),
    ("indep", "adam", "param", None, "float32"),
    ("mvn", "adam", "data", 0.05, "float32"),
    ("mvn", "adamax", "copy", 0.2, "float64"),
    ("indep", "adam", "param", 0.05, "float64"),
])
def test_realnvp_matches_torch(kind: str, optimizer: str, init: str, clip: float | None, dtype: str) -> None:
    weights, want = run("torch", None, kind, optimizer, init, clip, dtype)
    _, got = run("ours", weights, kind, optimizer, init, clip, dtype)
    tol = {"rtol": TOLS[dtype]["rtol"], "atol": TOLS[dtype]["atol"]}
    for key in ("loss", "norm", "clipped"):
        np.testing.assert_allclose(got["hist"][key], want["hist"][key], err_msg=key, **tol)
    for run_ in (got, want):  # the resumed run is the uninterrupted one, bit for bit, in each library
        for key in ("loss", "norm", "lr", "clipped"):
            assert run_["resumed"][key] == run_["hist"][key], key
        for name, value in run_["params"].items():
            np.testing.assert_array_equal(run_["resumed"]["params"][name], value, err_msg=name)
    assert got["hist"]["lr"] == want["hist"]["lr"]
    if clip is not None:
        assert max(got["hist"]["clipped"]) == np.dtype(dtype).type(clip)  # it bit
    np.testing.assert_allclose(got["jac"], want["jac"], atol=TOLS[dtype]["jac"])
    for jac in (got["jac"], want["jac"]):  # the flow's log-det is log|det J|, by slogdet and by det
        np.testing.assert_allclose(jac[:, 1:3], jac[:, [0, 0]], atol=TOLS[dtype]["jac"])
        assert (jac[:, 3] == 1).all()  # exp(s) and the ActNorm scales are positive
    for key, value in want["eval"].items():
        np.testing.assert_allclose(got["eval"][key], value, err_msg=key, **tol)
    np.testing.assert_allclose(got["eval"]["recon"], got["held_out"], atol=TOLS[dtype]["inverse"])  # x again
    ll, flags = got["checkpoint"]
    np.testing.assert_allclose(ll, want["checkpoint"][0], **tol)
    assert flags == want["checkpoint"][1] == [1, 1, 1, 1]  # initialized travels with the state_dict
    assert got["params"].keys() == want["params"].keys()
    for name, value in want["params"].items():
        assert got["params"][name].dtype == np.dtype(dtype), name
        np.testing.assert_allclose(got["params"][name], value, err_msg=name, **tol)
    np.testing.assert_allclose(*got["prior_ll"], **tol)  # MultivariateNormal(0, I) == Independent(Normal, 1)
    np.testing.assert_allclose(got["prior_ll"][0], want["prior_ll"][0], **tol)
    loss = got["hist"]["loss"]
    assert np.mean(loss[-5:]) < np.mean(loss[:5]) - 0.1  # it learned
    assert got["eval"]["ll"] > np.mean(got["eval"]["ring_ll"])  # moons are likelier than a ring it never saw


@pytest.mark.usefixtures("one_torch_thread")
def test_notebook_realnvp_matches_torch() -> None:
    """Masks as a Parameter without grad (in the state_dict, left out of Adam), ``backward(retain_graph=True)``."""
    results, weights = [], None
    for lib in ("torch", "ours"):
        with program(FILE, lib) as m:
            torch.manual_seed(1)
            flow = m.masked_realnvp()
            if weights is None:
                weights = {k: as_numpy(v).copy() for k, v in flow.state_dict().items()}
            else:
                flow.load_state_dict(weights)
            assert "mask" in weights and not flow.mask.requires_grad
            history = m.train_masked(flow, m.two_moons(256), 25, lr=3e-3)
            z = np.random.default_rng(2).standard_normal((8, 2)).astype(np.float32)
            with m.torch.no_grad():
                history["samples"] = flow.g(m.torch.from_numpy(z)).numpy()
                history["z"] = flow.f(flow.g(m.torch.from_numpy(z)))[0].numpy()
                history["mask"] = flow.mask.numpy().copy()
            history["params"] = {k: as_numpy(v).copy() for k, v in flow.named_parameters()}
            results.append((history, z))
    (want, z), (got, _) = results
    for key in ("loss", "norm", "samples", "z", "mask"):
        np.testing.assert_allclose(got[key], want[key], err_msg=key, **TOL)
    np.testing.assert_array_equal(got["mask"], weights["mask"])  # never trained
    np.testing.assert_allclose(got["z"], z, atol=2e-5)  # f(g(z)) == z
    for name, value in want["params"].items():
        np.testing.assert_allclose(got["params"][name], value, err_msg=name, **TOL)
    assert np.mean(got["loss"][-5:]) < np.mean(got["loss"][:5])


@pytest.mark.usefixtures("one_torch_thread")
def test_flow_sequential_with_batch_norm_flow_matches_torch() -> None:
    """An nn.Sequential subclass walking ``self._modules.values()`` (reversed to sample), BatchNormFlow's running
    buffers (written through ``.data``) set by a momentum-0 pass after each epoch, eval log-likelihoods."""
    results, weights = [], None
    noise = np.random.default_rng(4).standard_normal((8, 2)).astype(np.float32)
    for lib in ("torch", "ours"):
        with program(FILE, lib) as m:
            torch.manual_seed(2)
            model = m.flow_sequential()
            if weights is None:
                weights = {k: as_numpy(v).copy() for k, v in model.state_dict().items()}
            else:
                model.load_state_dict(weights)
            history = m.train_flow_sequential(model, m.two_moons(256, seed=3), 3)
            with m.torch.no_grad():
                history["samples"] = model.sample(m.torch.from_numpy(noise)).numpy()
                history["noise"] = model(model.sample(m.torch.from_numpy(noise)))[0].numpy()
            history["state"] = {k: as_numpy(v).copy() for k, v in model.state_dict().items()}
            results.append(history)
    want, got = results
    for key in ("loss", "eval_ll", "samples", "noise"):
        np.testing.assert_allclose(got[key], want[key], err_msg=key, **TOL)
    np.testing.assert_allclose(got["noise"], noise, atol=2e-5)  # forward(sample(u)) == u
    assert got["state"].keys() == want["state"].keys()
    for name, value in want["state"].items():  # the parameters and the running statistics
        np.testing.assert_allclose(got["state"][name], value, err_msg=name, **TOL)
    assert got["eval_ll"][-1] > got["eval_ll"][0]


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_through_the_autograd_log_det_matches_torch(dtype: str) -> None:
    """The loss with slogdet of each sample's Jacobian (``jacobian(create_graph=True)``): its value and parameter
    gradients equal the layers' log-det loss's in each library (they are the same function), and torch's."""
    results, weights = [], None
    for lib in ("torch", "ours"):
        with program(FILE, lib) as m:
            torch.manual_seed(3)
            model = m.RealNVP().to(getattr(m.torch, dtype))
            if weights is None:
                weights = {k: as_numpy(v).copy() for k, v in model.state_dict().items()}
            else:
                model.load_state_dict(weights)
            data, prior = m.two_moons(256, dtype=dtype), m.make_prior("mvn", dtype=getattr(m.torch, dtype))
            m.train(model, prior, data, 5, lr=2e-2)  # away from the initialisation
            x, params = m.torch.from_numpy(data[:4]), list(model.parameters())
            out = []
            for loss in (m.autograd_nll(model, prior, x), -m.log_prob(model, prior, x).mean()):
                out.append([loss.item()] + [g.numpy().copy() for g in m.torch.autograd.grad(loss, params)])
            results.append(out)
    tol = TOLS[dtype]
    for by_jacobian, by_layers in results:  # the same function, two ways
        for a, b in zip(by_jacobian, by_layers):
            np.testing.assert_allclose(a, b, rtol=tol["rtol"] * 10, atol=tol["atol"])
    for got, want in zip(*results[::-1]):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=tol["rtol"], atol=tol["atol"])
