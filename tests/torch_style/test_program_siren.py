"""``siren.py`` (vsitzmann/siren's explore_siren notebook with modules.py / diff_operators.py / loss_functions.py /
training.py pieces) on torch and, imports swapped, on ours, from torch's initial weights and the same numpy image
and signal: per step the losses, the loss gradient's norm, every parameter's gradient and value after Adam, the
printed lines, and at each summary the output, the gradient (and its norm) and the Laplacian fields of the network;
for the image fit (both ``meshgrid`` spellings, and with a final SineLayer), the Poisson fits from Sobel gradients
(two loss spellings) and from the Laplacian (third derivatives of the sine network in the training gradient), and
the audio Siren (``first_omega_0=3000``); the datasets' ground truths and grids; SIREN's init bounds on our own
draws; ``forward_with_activations`` with ``retain_grad`` and the notebook's activation / gradient histograms; a
checkpoint resume equal to the uninterrupted run exactly (on each library); ``gradient`` / ``divergence`` /
``laplace`` alone on hypothesis inputs (float32 / float64, coordinates from 1e-6 to 1e3, a batch dim, 1-D to 3-D
points and a 1-D x) with their gradients through ``create_graph=True``, and on a float64 Siren at coordinates up to
1e4 with the Laplacian loss's parameter gradients; diff_operators' ``hessian`` / ``jacobian`` (index assignment into
``torch.zeros``); loss_functions' ``sdf`` fitted; and modules.py's SingleBVPNet / FCBlock (sine, tanh, relu) fitted
through loss dicts; nan / inf / 1e30 / signed-zero coordinates.

Tolerances: float32 unless stated; the runs differ by summation order in the matmuls and by numpy's float32
``sin`` / ``cos`` against torch's (an ulp apart). Over the 6-step fits: losses, gradient norms and printed losses seen
within 2.2e-7 relatively, allowed 1e-6 (printed with "%0.6f": plus 1.01e-6 absolute for the rounding); arrays
(gradients, parameters, output, gradient and Laplacian fields, activations and their retained grads, hessian /
jacobian) seen within 1.5e-6 of each array's largest entry, allowed 5e-6 of it. The operators and the float64
Siren: see ``OPS_TOL`` and ``SIREN_TOL``. The sdf fit: see its test (its normal term is ill-conditioned in float32).
The file runs in about 6 s (2 s of it the first test's imports)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_programs import HERE, assert_same_run, from_torch_weights, program

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

PATH = HERE / "siren.py"
TOL = {"rtol": 1e-6, "atol": 0}  # losses and gradient norms (seen 2.2e-7 relatively)
FIELD = 5e-6  # arrays (gradients, parameters, fields): within FIELD times the array's largest entry (seen 1.4e-6)
MEASURE = False  # True: agree() records the maxima without asserting


def quiet():
    """The notebook's ``indexing``-less meshgrid and ``"%f" % loss`` of a tensor that requires grad warn in torch."""
    w = warnings.catch_warnings()
    w.__enter__()
    warnings.filterwarnings("ignore", "torch.meshgrid: in an upcoming release")
    warnings.filterwarnings("ignore", "Converting a tensor with requires_grad=True to a scalar")
    warnings.filterwarnings("ignore", "'pin_memory' argument is set as true but no accelerator")
    warnings.filterwarnings("ignore", "torch.meshgrid called without indexing")  # ours, in our words
    warnings.filterwarnings("ignore", "Reading a Python number from a tensor that requires grad")
    warnings.filterwarnings("ignore", "'pin_memory' is True, yet there is no GPU")
    return w


def run_fit(mode: str, audio: bool = False, indexing: str | None = None, steps: int = 6,
            outermost_linear: bool = True) -> tuple[dict, dict]:
    """The fit ``mode`` on both libraries from torch's initial Siren."""
    def make(m):
        if audio:
            return m.Siren(1, 32, 2, 1, outermost_linear=True, first_omega_0=3000)
        return m.Siren(2, 32, 2, 1, outermost_linear=outermost_linear)

    def run(m, model, lib):
        data = m.AudioFile(64) if audio else m.ImageFitting(16, indexing) if mode == "image" else m.PoissonEqn(16)
        return m.fit(model, m.loader(data), mode, total_steps=steps)

    w = quiet()
    try:
        return from_torch_weights(PATH, make, run)
    finally:
        w.__exit__(None, None, None)


def agree(theirs: dict, ours: dict, tol: dict = TOL, field_tol: float = FIELD) -> dict:
    """Every series of the two logs within ``tol``, every array within ``field_tol`` of its largest entry; returns the
    maxima seen (relative, the arrays' to their largest entry)."""
    seen = {}

    def close(got, want, what, t, field=False):
        got, want = np.asarray(got, float), np.asarray(want, float)
        assert got.shape == want.shape, what
        scale = np.abs(want).max(initial=0) if field else np.abs(want)  # a field: relative to its largest value
        seen[what] = max(seen.get(what, 0), float(np.max(np.abs(got - want) / (scale + 1e-30), initial=0)))
        if MEASURE:
            return
        if field:
            np.testing.assert_allclose(got, want, err_msg=what, rtol=0, atol=field_tol * scale)
        else:
            np.testing.assert_allclose(got, want, err_msg=what, **t)

    close(ours["loss"], theirs["loss"], "loss", tol)
    close(ours["norm"], theirs["norm"], "norm", tol)
    for step, (g, w) in enumerate(zip(ours["grads"], theirs["grads"], strict=True)):
        assert g.keys() == w.keys()
        for name in w:
            assert (g[name] is None) == (w[name] is None), (step, name)
            if w[name] is not None:
                close(g[name], w[name], "grads", tol, field=True)
    for g, w in zip(ours["params"], theirs["params"], strict=True):
        for name in w:
            close(g[name], w[name], "params", tol, field=True)
    assert len(ours["lines"]) == len(theirs["lines"])
    for g, w in zip(ours["lines"], theirs["lines"]):
        assert g.split(",")[0] == w.split(",")[0]
        close(float(g.split()[-1]), float(w.split()[-1]), "lines", {"rtol": tol["rtol"], "atol": 1.01e-6})  # "%0.6f"
    assert len(ours["fields"]) == len(theirs["fields"])
    for g, w in zip(ours["fields"], theirs["fields"]):
        for a, b, what in zip(g, w, ("output", "grad_norm", "grad", "laplacian")):
            close(a, b, what, tol, field=True)
    return seen


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize(("indexing", "outermost_linear"), [(None, True), ("ij", True), (None, False)])
def test_image_fit_matches_torch(indexing: str | None, outermost_linear: bool) -> None:
    theirs, ours = run_fit("image", indexing=indexing, outermost_linear=outermost_linear)
    agree(theirs, ours)
    assert ours["loss"][-1] < ours["loss"][0]


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("mode", ["grads", "grads_mean", "laplace"])
def test_poisson_fits_match_torch(mode: str) -> None:
    theirs, ours = run_fit(mode)
    agree(theirs, ours)
    assert ours["grads"][0]["net.3.bias"] is None  # the derivative losses do not see the final bias
    assert ours["loss"][-1] < ours["loss"][0]


@pytest.mark.usefixtures("one_torch_thread")
def test_audio_fit_matches_torch() -> None:
    """The audio Siren's first_omega_0 = 3000 multiplies each rounding of its first layer's w x + b by 3000 inside
    sin: on an AMD EPYC the runs agreed as the image fits do (2.2e-7), on an Intel Xeon, where torch's float32 GEMMs
    round differently, the losses 2.5e-6 apart, the gradient norms 1.4e-4, gradients and parameters 7e-4 and 6e-5 of
    their largest entries."""
    theirs, ours = run_fit("audio", audio=True)
    agree(theirs, ours, {"rtol": 5e-4, "atol": 0}, 2e-3)
    assert ours["loss"][-1] < ours["loss"][0]


def test_datasets_and_grids_match_torch() -> None:
    w = quiet()
    try:
        with program(PATH, "torch") as t, program(PATH, "ours") as o:
            for dim, n in ((1, 7), (2, 5), (3, 4)):
                for indexing in (None, "ij", "xy"):
                    np.testing.assert_array_equal(o.get_mgrid(n, dim, indexing).numpy(),
                                                  t.get_mgrid(n, dim, indexing).numpy())
            pt, po = t.PoissonEqn(16), o.PoissonEqn(16)
            for key in ("pixels", "grads", "laplace", "coords"):
                np.testing.assert_array_equal(getattr(po, key).numpy(), getattr(pt, key).numpy(), err_msg=key)
                assert getattr(po, key).numpy().dtype == getattr(pt, key).numpy().dtype == np.float32, key
                assert getattr(po, key).shape == tuple(getattr(pt, key).shape)
            (ci, gi), (ct, _) = next(iter(o.loader(po))), next(iter(t.loader(pt)))
            assert ci.shape == tuple(ct.shape) == (1, 256, 2) and gi["grads"].shape == (1, 256, 2)
            at, ao = t.AudioFile(64)[0], o.AudioFile(64)[0]
            for a, b in zip(ao, at):
                np.testing.assert_array_equal(a.numpy(), b.numpy())
                assert a.numpy().dtype == b.numpy().dtype == np.float32
            assert o.AudioFile(64).get_num_samples() == 64
    finally:
        w.__exit__(None, None, None)


def test_siren_init_bounds() -> None:
    """Our own draws (not torch's weights) stay within SIREN's uniform bounds."""
    with program(PATH, "ours") as o:
        model = o.Siren(2, 32, 2, 1, outermost_linear=True)
        audio = o.Siren(1, 32, 1, 1, outermost_linear=False, first_omega_0=3000)
    first = model.net[0].linear.weight.numpy()
    assert np.abs(first).max() <= 1 / 2 and np.abs(first).max() > 0.4
    hidden = np.sqrt(6 / 32) / 30
    for layer in (model.net[1].linear, model.net[2].linear, model.net[3], audio.net[-1].linear):
        assert np.abs(layer.weight.numpy()).max() <= hidden and np.abs(layer.weight.numpy()).max() > 0.8 * hidden
    assert np.abs(model.net[1].linear.bias.numpy()).max() <= 1 / np.sqrt(32)  # nn.Linear's own bias init
    assert audio.net[0].omega_0 == 3000 and audio.net[0].is_first and not audio.net[1].is_first
    assert model.net[0].linear.weight.requires_grad and model.net[0].linear.weight.grad is None


@pytest.mark.usefixtures("one_torch_thread")
def test_forward_with_activations_and_retain_grad_match_torch() -> None:
    def run(m, model, lib):
        acts = model.forward_with_activations(m.get_mgrid(4, indexing="ij"), retain_grad=True)
        out = list(acts.values())[-1]
        (out ** 2).sum().backward()
        keys = [k.split("_")[-1] + ("" if k == "input" else k.split("'")[1].split(".")[-1]) for k in acts]
        return {"keys": keys, "values": [v.detach().numpy() for v in acts.values()],
                "grads": [None if v.grad is None else v.grad.numpy() for v in acts.values()],
                "inter": model.net[0].forward_with_intermediate(m.get_mgrid(3, indexing="ij"))[1].detach().numpy()}

    theirs, ours = from_torch_weights(PATH, lambda m: m.Siren(2, 32, 2, 1, outermost_linear=True), run)
    assert ours["keys"] == theirs["keys"] and len(ours["keys"]) == 8

    def close(a, b) -> None:
        np.testing.assert_allclose(a, b, rtol=0, atol=FIELD * np.abs(b).max())

    close(ours["inter"], theirs["inter"])
    for a, b in zip(ours["values"], theirs["values"]):
        close(a, b)
    assert all(g is not None for g in theirs["grads"])  # the detached input is a leaf requiring grad: it gets one
    for a, b in zip(ours["grads"], theirs["grads"]):
        assert (a is None) == (b is None)
        if b is not None:
            close(a, b)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("lib", ["torch", "ours"])
def test_checkpoint_resume_is_exact(lib: str, tmp_path) -> None:
    w = quiet()
    try:
        with program(PATH, lib) as m:
            data = m.loader(m.PoissonEqn(16))
            torch.manual_seed(0)
            model = m.Siren(2, 32, 2, 1, outermost_linear=True)
            state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
            whole = m.fit(model, data, "laplace", total_steps=6, checkpoint_dir=str(tmp_path))
            model = m.Siren(2, 32, 2, 1, outermost_linear=True)
            model.load_state_dict({k: m.torch.from_numpy(v) for k, v in state.items()})
            first = m.fit(model, data, "laplace", total_steps=6, stop=4)
            fresh = m.Siren(2, 32, 2, 1, outermost_linear=True)
            optim, step = m.resume(fresh, str(tmp_path / "model_step_0004.pth"))
            assert step == 4
            resumed = m.fit(fresh, data, "laplace", total_steps=6, optim=optim, start=step, log=first)
    finally:
        w.__exit__(None, None, None)
    assert_same_run({k: v for k, v in whole.items() if k not in ("grads", "params", "fields")},
                    {k: v for k, v in resumed.items() if k not in ("grads", "params", "fields")})
    for key in ("grads", "params"):
        for a, b in zip(whole[key], resumed[key], strict=True):
            for name in a:
                assert (a[name] is None and b[name] is None) or np.array_equal(a[name], b[name]), (key, name)
    for a, b in zip(whole["fields"], resumed["fields"], strict=True):
        for x, y in zip(a, b):
            assert np.array_equal(x, y)


# ------------------------------------------------------------------ the operators alone

@pytest.fixture(scope="module")
def ops():
    """Both programs (loaded, then out of ``sys.modules`` so that other tests may load them again), torch on one
    thread (as ``one_torch_thread``, which hypothesis cannot take per example)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with program(PATH, "torch") as t, program(PATH, "ours") as o:
        pass
    yield t, o
    torch.set_num_threads(threads)


def field(lib, m, x_np: np.ndarray, w_np: np.ndarray, dtype: str) -> list[np.ndarray]:
    """y = sin(x @ w) * (x ** 2).sum(-1, keepdim=True) on ``lib``'s leaf x (for a 1-D x, elementwise: sin(x w) x^2):
    its gradient (ones and 0.5 as grad_outputs), the divergence of that, the Laplacian, and the gradient of
    ``(lap ** 2).sum() + (g * g2).sum()`` with respect to x and w (through create_graph=True)."""
    x = lib.tensor(x_np, dtype=getattr(lib, dtype), requires_grad=True)
    w = lib.tensor(w_np, dtype=getattr(lib, dtype), requires_grad=True)
    y = lib.sin(x * w[0, 0]) * x ** 2 if x.dim() == 1 else lib.sin(x @ w) * (x ** 2).sum(-1, keepdim=True)
    g = m.gradient(y, x)
    g2 = m.gradient(y, x, grad_outputs=lib.full_like(y, 0.5))
    div = m.divergence(g, x)
    lap = m.laplace(y, x)
    total = (lap ** 2).sum() + (g * g2).sum()
    dx, dw = lib.autograd.grad(total, (x, w))
    return [v.detach().numpy() for v in (y, g, g2, div, lap, dx, dw)]


# relative to each array's largest entry; over 2 x 300 random examples seen 1.7e-14 (float64) and 3.8e-6 (float32,
# the gradient with respect to w)
OPS_TOL = {"float64": 1e-12, "float32": 3e-5}
OPS_SEEN: dict = {}


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["float32", "float64"]), st.sampled_from([(), (5,), (4, 3), (2, 3, 4)]),
       st.integers(1, 3), st.sampled_from([1e-6, 1e-2, 1.0, 30.0, 1e3]), st.integers(0, 2 ** 31 - 1))
def test_operators_match_torch(ops, dtype: str, lead: tuple, dim: int, scale: float, seed: int) -> None:
    """``lead`` () is a 1-D x of ``dim`` + 2 points; otherwise a batch of ``dim``-D points (1-D to 3-D inputs)."""
    t, o = ops
    import tinygrad_adam

    rng = np.random.default_rng(seed)
    x = rng.uniform(-scale, scale, lead + (dim,) if lead else (dim + 2,))
    w = rng.standard_normal((dim, 1)) / scale
    got = field(tinygrad_adam, o, x, w, dtype)
    want = field(torch, t, x, w, dtype)
    for a, b, what in zip(got, want, ("y", "gradient", "gradient(grad_outputs)", "divergence", "laplace", "d/dx",
                                              "d/dw")):
        assert a.shape == b.shape and a.dtype == b.dtype, what
        top = np.abs(b).max(initial=0)
        err = np.abs(a - b).max(initial=0) / top if top else np.abs(a).max(initial=0)
        OPS_SEEN[dtype, what] = max(OPS_SEEN.get((dtype, what), 0), err)
        assert err <= OPS_TOL[dtype], (what, err)


# relative to each array's largest entry, by coordinate scale; over 100 examples seen 1.1e-14, 1.3e-14, 1.8e-13,
# 6.3e-13, 1.5e-10 (the sines' arguments grow with the coordinates, and so do their rounding errors)
SIREN_TOL = {1e-8: 1e-13, 1e-2: 1e-13, 1.0: 1e-12, 1e2: 5e-12, 1e4: 1e-9}
SIREN_SEEN: dict = {}


@pytest.fixture(scope="module")
def sirens(ops):
    """A float64 Siren on each library, ours loaded with torch's weights."""
    t, o = ops
    torch.manual_seed(0)
    theirs = t.Siren(2, 32, 2, 1, outermost_linear=True).double()
    ours = o.Siren(2, 32, 2, 1, outermost_linear=True).double()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return theirs, ours


@settings(max_examples=15, deadline=None)
@given(st.sampled_from([1e-8, 1e-2, 1.0, 1e2, 1e4]), st.integers(1, 6), st.integers(0, 2 ** 31 - 1))
def test_siren_derivatives_match_torch_in_float64(ops, sirens, scale: float, n: int, seed: int) -> None:
    """The network's output, gradient, Laplacian and the Laplacian loss's parameter gradients (third derivatives)
    at float64 coordinates up to 1e4 (sine arguments up to ~1e6: a float64 still holds them to ~1e-10)."""
    t, o = ops
    import tinygrad_adam

    coords = np.random.default_rng(seed).uniform(-scale, scale, (1, n, 2))
    results = []
    for lib, m, model in ((tinygrad_adam, o, sirens[1]), (torch, t, sirens[0])):
        model.zero_grad()
        out, x = model(lib.tensor(coords))
        grad, lap = m.gradient(out, x), m.laplace(out, x)
        m.laplace_mse(out, x, lib.zeros_like(lap)).backward()
        results.append([out.detach().numpy(), grad.detach().numpy(), lap.detach().numpy()]
                       + [p.grad.numpy() for p in list(model.parameters())[:-1]])
    for a, b in zip(*results, strict=True):
        err = np.abs(a - b).max() / np.abs(b).max()
        SIREN_SEEN[scale] = max(SIREN_SEEN.get(scale, 0), err)
        assert err <= SIREN_TOL[scale], (scale, err)


@pytest.mark.usefixtures("one_torch_thread")
def test_hessian_and_jacobian_match_torch() -> None:
    """diff_operators' hessian / jacobian (rows written into ``torch.zeros`` by index assignment) on a 2-output
    Siren over a batch of 2, their traces against ``laplace`` / ``divergence``, and a loss through them."""
    def run(m, model, lib):
        coords = m.torch.tensor(np.random.default_rng(4).uniform(-1, 1, (2, 5, 2)).astype(np.float32))
        out, x = model(coords)
        h, status_h = m.hessian(out, x)
        j, status_j = m.jacobian(out, x)
        lap = m.laplace(out[..., :1], x)
        (h.pow(2).sum() + j.pow(2).sum()).backward()
        return {"h": h.detach().numpy(), "j": j.detach().numpy(), "lap": lap.detach().numpy(),
                "status": (status_h, status_j), "grads": snapshot_grads(model)}

    theirs, ours = from_torch_weights(PATH, lambda m: m.Siren(2, 32, 2, 2, outermost_linear=True), run)
    assert ours["status"] == theirs["status"] == (0, 0)
    assert ours["h"].shape == theirs["h"].shape == (2, 5, 2, 2, 2) and ours["j"].shape == (2, 5, 2, 2)
    for key in ("h", "j", "lap"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=0, atol=FIELD * np.abs(theirs[key]).max(), err_msg=key)
    for name, g in theirs["grads"].items():
        np.testing.assert_allclose(ours["grads"][name], g, rtol=0, atol=FIELD * np.abs(g).max(), err_msg=name)
    trace = ours["h"][..., 0, 0, 0] + ours["h"][..., 0, 1, 1]
    np.testing.assert_allclose(trace, ours["lap"][..., 0], rtol=1e-5, atol=1e-5 * np.abs(trace).max())


def snapshot_grads(model) -> dict:
    return {name: p.grad.numpy().copy() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.usefixtures("one_torch_thread")
def test_sdf_fit_matches_torch() -> None:
    """loss_functions.sdf (torch.where constraints, cosine_similarity of the network's gradient to the normals, the
    eikonal term) summed as training.py does, on a circle's points: terms, losses, gradient norms, parameters.

    The normal term's parameter gradient is ill-conditioned in float32 (torch's own float32 gradient norm is 5e-5
    from its float64 one; in float64 ours and torch's agree to 6e-14 of the largest entry): the first step's
    gradient norms are seen 9.7e-6 apart relatively; allowed 3e-5. Terms and losses: seen 2e-6, allowed 1e-5.
    Parameters: seen 7.5e-6 of each array's largest entry (an AVX-512 EPYC's float32 kernels), allowed 2e-5."""
    def run(m, model, lib):
        coords, gt = m.circle_sdf_batch(16)
        return m.fit_sdf(model, coords, gt)

    theirs, ours = from_torch_weights(PATH, lambda m: m.Siren(2, 32, 2, 1, outermost_linear=True), run)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)
    np.testing.assert_allclose(ours["norm"], theirs["norm"], rtol=3e-5)
    for got, want in zip(ours["terms"], theirs["terms"], strict=True):
        assert got.keys() == want.keys()
        np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-5)
    for got, want in zip(ours["params"], theirs["params"], strict=True):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=2e-5 * np.abs(want[name]).max())
    assert ours["loss"][-1] < ours["loss"][0]


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize(("nonlinearity", "loss"), [("sine", "laplace"), ("tanh", "laplace"), ("relu", "image")])
def test_single_bvp_net_matches_torch(nonlinearity: str, loss: str) -> None:
    """modules.py's SingleBVPNet / FCBlock (``Module.apply`` of the sine, kaiming or xavier inits, one shared
    activation module in every block) fitted through training.py's loss dicts."""
    def run(m, model, lib):
        w = quiet()
        try:
            return m.fit_bvp(model, m.loader(m.PoissonEqn(16)), loss=loss)
        finally:
            w.__exit__(None, None, None)

    theirs, ours = from_torch_weights(PATH, lambda m: m.SingleBVPNet(type=nonlinearity, hidden_features=32,
                                                                       num_hidden_layers=2), run)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], **TOL)
    np.testing.assert_allclose(ours["norm"], theirs["norm"], **TOL)
    for got, want in zip(ours["params"], theirs["params"], strict=True):
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=FIELD * np.abs(want[name]).max())
    assert ours["loss"][-1] < ours["loss"][0]


def test_fcblock_inits() -> None:
    """Our own FCBlock draws: the sine bounds by ``apply``, kaiming / xavier normal scales."""
    with program(PATH, "ours") as o:
        o.torch.manual_seed(0)
        sine = o.FCBlock(2, 1, 2, 256, outermost_linear=True, nonlinearity='sine')
        relu = o.FCBlock(2, 1, 2, 256, nonlinearity='relu')
        tanh = o.FCBlock(2, 1, 2, 256, nonlinearity='tanh')
    first = sine.net[0][0].weight.numpy()
    assert 0.45 < np.abs(first).max() <= 0.5
    hidden = sine.net[1][0].weight.numpy()
    assert 0.95 * np.sqrt(6 / 256) / 30 < np.abs(hidden).max() <= np.sqrt(6 / 256) / 30
    assert sine.net[0][1] is sine.net[1][1]  # the one Sine module
    assert relu.net[1][0].weight.numpy().std() == pytest.approx(np.sqrt(2 / 256), rel=0.02)
    assert tanh.net[1][0].weight.numpy().std() == pytest.approx(np.sqrt(2 / 512), rel=0.02)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.filterwarnings("ignore:invalid value encountered in sin:RuntimeWarning")
def test_extreme_coordinates_match_torch() -> None:
    """nan / inf / 1e30 / signed-zero / tiny coordinates through the float32 Siren: the output, gradient, Laplacian
    and hessian are nan in the same places (and the hessian's status says so), the rest agree. Our ``sin`` of inf
    passes numpy's "invalid value" RuntimeWarning where torch is silent (README, Differences): filtered here."""
    coords = np.array([[[np.nan, 0.0], [np.inf, 0.0], [1e30, 0.0], [0.0, -0.0], [1e-30, 1.0], [-1.0, 1e-38]]],
                      np.float32)

    def run(m, model, lib):
        out, x = model(m.torch.tensor(coords))
        grad, lap = m.gradient(out, x), m.laplace(out, x)
        h, status = m.hessian(out, x)
        return {"out": out.detach().numpy(), "grad": grad.detach().numpy(), "lap": lap.detach().numpy(),
                "h": h.detach().numpy(), "status": status}

    theirs, ours = from_torch_weights(PATH, lambda m: m.Siren(2, 32, 2, 1, outermost_linear=True), run)
    assert ours["status"] == theirs["status"] == -1
    for key in ("out", "grad", "lap", "h"):
        got, want = ours[key], theirs[key]
        assert np.array_equal(np.isnan(got), np.isnan(want)), key
        assert np.isnan(want[0, :2]).all() and np.isfinite(want[0, 2:]).all(), key
        finite = want[0, 2:]
        np.testing.assert_allclose(got[0, 2:], finite, rtol=0, atol=FIELD * np.abs(finite).max(), err_msg=key)


@pytest.mark.usefixtures("one_torch_thread")
def test_activation_histograms_match_torch() -> None:
    """The notebook's activation-distribution plots' data for a deeper 1-D Siren: every activation's values and
    retained gradients (within FIELD of their largest), and the 256-bin density histograms of them counting alike
    but for values within rounding of a bin edge (the densities themselves differ as the edges do)."""
    theirs, ours = from_torch_weights(PATH, lambda m: m.Siren(1, 32, 4, 1, outermost_linear=True),
                                      lambda m, net, lib: m.activation_histograms(net))
    assert list(ours) == list(theirs) and len(ours) == 12
    for key in theirs:
        for (got_hist, got_edges), (hist, edges), got, want in zip(ours[key][:2], theirs[key][:2], ours[key][2:],
                                                                   theirs[key][2:]):
            top = np.abs(want).max()
            np.testing.assert_allclose(got, want, rtol=0, atol=FIELD * top, err_msg=key)
            np.testing.assert_allclose(got_edges, edges, rtol=0, atol=FIELD * top, err_msg=key)
            counts = np.rint(hist * np.diff(edges) * want.size)
            got_counts = np.rint(got_hist * np.diff(got_edges) * got.size)
            assert counts.sum() == got_counts.sum() == want.size, key
            near = (np.abs(want[:, None] - edges[None, 1:-1]).min(1) <= FIELD * top).sum()  # values on a bin edge
            assert np.abs(got_counts - counts).sum() <= 2 * near, key
