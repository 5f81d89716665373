"""optim.Rprop, optim.ASGD and optim.Adafactor against torch.optim's (hypothesis: several steps, several parameter
groups, 0-d / empty / 1-D / 2-D / 3-D parameters, float32 and float64, nan / inf / -0 gradients, sign flips, skipped
parameters, maximize, weight decay, t0), their fused paths (chunked numpy, numba, the CUDA kernel compiled on the host)
against their readable updates, the kernel language's select, checkpoints, add_param_group and errors."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from cuda_host import NVCC, HostElementwiseKernel, Spec, build
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_optim import IMPLS, random_grads, run_ours
from test_radam import torch64

import tinygrad_adam as tg
from tinygrad_adam import backend, optim
from tinygrad_adam.optim import asgd, fused, rprop
from tinygrad_adam.optim import optimizer as optimizer_module

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

NAMES = ["Rprop", "ASGD", "Adafactor"]
# gradient entries: small values that flip sign often, zeros of both signs, nan and inf
GRAD_VALUES = st.sampled_from([-2.0, -1.0, -0.0, 0.0, 0.5, 3.0, np.nan, np.inf, -np.inf]) | st.floats(-10, 10)
PARAM_VALUES = st.sampled_from([-0.0, 0.0, 1.0, -3.0]) | st.floats(-5, 5)
# group options torch takes, per optimizer (every option switched on somewhere)
OPTIONS = {
    "Rprop": st.fixed_dictionaries({}, optional={
        "lr": st.sampled_from([0.0, 1e-3, 0.1, 0.7]),
        "etas": st.tuples(st.sampled_from([0.3, 0.5, 0.1]), st.sampled_from([1.2, 1.7, 3.0])),
        "step_sizes": st.sampled_from([(1e-6, 50.0), (0.01, 0.02), (0.0, 1.0), (0.5, 0.1), (0.0, np.inf)]),
        "maximize": st.booleans()}),
    "ASGD": st.fixed_dictionaries({}, optional={
        "lr": st.sampled_from([0.0, 1e-3, 0.1, 0.5]), "lambd": st.sampled_from([0.0, 1e-4, 0.1, 1.0]),
        "alpha": st.sampled_from([0.75, 0.0, 0.5, 2.0]), "t0": st.sampled_from([0.0, 1.0, 2.5, -3.0, 1e6]),
        "weight_decay": st.sampled_from([0.0, 0.1]), "maximize": st.booleans()}),
    "Adafactor": st.fixed_dictionaries({}, optional={
        "lr": st.sampled_from([0.0, 1e-2, 0.1, 0.5]), "beta2_decay": st.sampled_from([-0.8, -0.5, 0.0]),
        "eps": st.sampled_from([(None, 1e-3), (1e-30, 1e-3), (1e-3, 0.0), (0.0, 0.1)]),
        "d": st.sampled_from([1.0, 2.0]), "weight_decay": st.sampled_from([0.0, 0.1]), "maximize": st.booleans()}),
}


def state_keys(name: str, ndim: int) -> set[str]:
    """torch's state names for a parameter of ``ndim`` dims (besides its step count ``step``)."""
    return {"Rprop": {"prev", "step_size"}, "ASGD": {"eta", "mu", "ax"},
            "Adafactor": {"row_var", "col_var"} if ndim > 1 else {"variance"}}[name]


@st.composite
def problems(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """Parameter groups (1-3 groups of 1-3 parameters, each with its options), initial values and a few steps of
    gradients (None now and then: that parameter sits the step out)."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    min_side = 1 if name == "Adafactor" else 0  # (an empty parameter: torch's Adafactor divides by zero, see below)
    groups = []
    for _ in range(draw(st.integers(1, 3))):
        shapes = draw(st.lists(hnp.array_shapes(min_dims=0, max_dims=3, min_side=min_side, max_side=4),
                               min_size=1, max_size=3))
        values = [draw(hnp.arrays(dtype, s, elements=PARAM_VALUES)) for s in shapes]
        groups.append((values, draw(OPTIONS[name])))
    flat = [v for values, _ in groups for v in values]
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        steps.append([draw(hnp.arrays(dtype, v.shape, elements=GRAD_VALUES)) if draw(st.integers(0, 5)) else None
                      for v in flat])
    return {"dtype": dtype, "groups": groups, "steps": steps}


def run(lib: Any, name: str, problem: dict[str, Any], **extra: Any) -> tuple[list[list[np.ndarray]], list[dict]]:
    """The parameters after each step, and each parameter's state at the end (torch's "step" as our "t")."""
    groups = [([lib.tensor(v.copy(), requires_grad=True) for v in values], kw) for values, kw in problem["groups"]]
    opt = getattr(lib.optim, name)([{"params": ps, **kw} for ps, kw in groups], **extra)
    flat = [p for ps, _ in groups for p in ps]
    path = []
    for grads in problem["steps"]:
        for p, g in zip(flat, grads):
            p.grad = None if g is None else lib.tensor(g.copy())
        opt.step()
        path.append([(p.detach() if lib is torch else p).numpy().copy() for p in flat])
    states = []
    for p in flat:
        s = opt.state.get(p, {})
        states.append({("t" if k == "step" else k): v.numpy().copy() if isinstance(v, torch.Tensor) else v
                       for k, v in s.items()})
    return path, states


def tolerance(name: str, dtype: type) -> dict[str, float] | None:
    """None: bit for bit. Rprop only multiplies, compares and adds +-step; ASGD rounds as torch except where torch's
    multiply-add is fused; Adafactor's norms and means sum in another order."""
    if name == "Rprop":
        return None
    if dtype == np.float32:
        return {"rtol": 2e-5, "atol": 1e-6}
    return {"rtol": 1e-10, "atol": 1e-12}


def same(ours: Any, theirs: Any, tol: dict[str, float] | None, what: str) -> None:
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, what
    if tol is None:
        np.testing.assert_array_equal(ours, theirs, err_msg=what)
        both = ~np.isnan(ours) & ~np.isnan(theirs)
        assert np.array_equal(np.signbit(ours[both]), np.signbit(theirs[both])), f"{what}: the sign of a zero"
    else:
        np.testing.assert_allclose(ours, theirs, **tol, equal_nan=True, err_msg=what)


def compare(name: str, problem: dict[str, Any], impls: list[str] = IMPLS) -> None:
    with torch64():  # torch's host numbers (ASGD's eta and mu, the step) in float64, as ours
        theirs = run(torch, name, problem)
    tol = tolerance(name, problem["dtype"])
    for impl in impls:
        ours = run(tg, name, problem, impl=impl)
        for step, (a, b) in enumerate(zip(ours[0], theirs[0]), start=1):
            for i, (x, y) in enumerate(zip(a, b)):
                assert x.dtype == y.dtype == problem["dtype"]
                same(x, y, tol, f"impl={impl} step {step} parameter {i}")
        for i, (x, y) in enumerate(zip(*[r[1] for r in (ours, theirs)])):
            assert set(x) == set(y), (x.keys(), y.keys())
            for k in x:
                same(x[k], y[k], tol, f"impl={impl} state {k!r} of parameter {i}")


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_matches_torch(name: str, data: st.DataObject) -> None:
    compare(name, data.draw(problems(name)))


@pytest.mark.parametrize("name", NAMES)
def test_long_trajectory_matches_torch(name: str) -> None:
    """100 steps of gradients spanning 1e-4 .. 1e2 (ASGD from t0 = 20 on averages)."""
    rng = np.random.default_rng(1)
    values = [np.asarray(rng.standard_normal(s)) for s in [(3, 5), (7,), (), (2, 3, 4)]]
    kw = {"t0": 20, "lambd": 1e-3, "weight_decay": 0.01} if name == "ASGD" else {}
    steps = [[np.asarray(random_grads(1, v.shape, seed=100 * t + i)[0]) for i, v in enumerate(values)]
             for t in range(100)]
    for dtype in (np.float32, np.float64):
        compare(name, {"dtype": dtype, "groups": [([v.astype(dtype) for v in values], kw)],
                       "steps": [[g.astype(dtype) for g in gs] for gs in steps]})


def test_rprop_sign_flips_and_nan() -> None:
    """The algorithm box by hand: a flip shrinks the step and skips the move (and the next test); a nan gradient
    (g prev nan: torch's sign 0) leaves the step size and the parameter alone."""
    p = tg.Tensor(np.zeros(4), requires_grad=True)
    opt = optim.Rprop([p], lr=0.1, etas=(0.5, 2.0), step_sizes=(0.01, 0.3))
    for g in ([1.0, 1.0, 1.0, 1.0], [1.0, -1.0, np.nan, 0.0], [1.0, 1.0, 1.0, 1.0]):
        p.grad = tg.Tensor(np.array(g))
        opt.step()
    np.testing.assert_allclose(opt.state[p]["step_size"], [0.3, 0.05, 0.1, 0.1])
    np.testing.assert_allclose(p.numpy(), [-0.1 - 0.2 - 0.3, -0.1 - 0.05, -0.1 - 0.1, -0.1 - 0.1])


def test_asgd_averages_from_t0() -> None:
    """ax is the last iterate through step t0 + 2 (mu_t = 1 / max(1, t - 1 - t0)), then the running mean of the
    iterates from there on."""
    p = tg.Tensor(np.array([1.0]), requires_grad=True)
    opt = optim.ASGD([p], lr=0.1, lambd=0.0, t0=2)
    iterates = []
    for _ in range(6):
        p.grad = tg.Tensor(np.array([1.0]))
        opt.step()
        iterates.append(p.item())
    np.testing.assert_allclose(opt.state[p]["ax"], [np.mean(iterates[3:])])
    assert opt.state[p]["mu"] == 1 / 4 and opt.state[p]["eta"] == 0.1


def test_adafactor_group_takes_eps1_from_its_first_parameter() -> None:
    """torch's eps1=None is the machine epsilon of the dtype of the first parameter (with a gradient) in the group,
    for the whole group: a float64 parameter after a float32 one uses float32's."""
    problem = {"dtype": None, "groups": [([np.zeros((2, 3), np.float32), np.zeros((3, 2)), np.zeros(3)], {})],
               "steps": [[np.full((2, 3), 1e-9, np.float32), np.full((3, 2), 1e-9), np.full(3, 1e-9)]] * 3}
    with torch64():
        theirs = run(torch, "Adafactor", problem)[0]
    ours = run(tg, "Adafactor", problem)[0]
    for a, b in zip(ours, theirs):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-5)


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0, 3)])
def test_adafactor_empty_parameter_raises(shape: tuple[int, ...]) -> None:
    """torch divides by its size (ZeroDivisionError); we say why."""
    for lib, error in ((torch, ZeroDivisionError), (tg, ValueError)):
        p = lib.zeros(shape, requires_grad=True)
        opt = lib.optim.Adafactor([p])
        p.grad = lib.zeros(shape)
        with pytest.raises(error):
            opt.step()


# ---------------------------------------------------------------------- fused paths against the readable update
FUSED_CASES = [
    ("Rprop", {}),
    ("Rprop", {"lr": 0.3, "etas": (0.3, 1.7), "step_sizes": (1e-3, 0.5), "maximize": True}),
    ("Rprop", {"step_sizes": (0.5, 0.1)}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.1, "lambd": 0.1, "alpha": 0.5, "t0": 2, "weight_decay": 0.1}),
    ("ASGD", {"t0": 0, "maximize": True}),
]
FUSED_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for n, kw in FUSED_CASES]


def special_grads(steps: int, shape: tuple[int, ...], dtype: type, seed: int) -> list[np.ndarray]:
    """random_grads with some entries nan, inf, -inf, 0 or -0."""
    rng = np.random.default_rng(seed)
    out = []
    for g in random_grads(steps, shape, seed=seed):
        holes = rng.random(shape) < 0.01
        g[holes] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0], size=int(holes.sum()))
        out.append(g.astype(dtype))
    return out


@pytest.mark.parametrize(("name", "kw"), FUSED_CASES, ids=FUSED_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_paths_equal_reference(name: str, kw: dict, dtype: type) -> None:
    """Chunked numpy (a ragged last chunk, several chunks) and numba: the readable update bit for bit."""
    p0 = np.random.default_rng(2).standard_normal(2 * fused.CHUNK + 7).astype(dtype)
    grads = special_grads(6, p0.shape, dtype, seed=3)
    ref = run_ours(name, kw, p0, grads, "reference")
    for impl in IMPLS[1:]:
        same(run_ours(name, kw, p0, grads, impl), ref, None, f"impl={impl}")


def test_adafactor_every_impl_runs_the_readable_update() -> None:
    p0 = np.random.default_rng(4).standard_normal((5, 6))
    grads = random_grads(5, p0.shape, seed=5)
    ref = run_ours("Adafactor", {}, p0, grads, "reference")
    for impl in IMPLS[1:] + ["auto"]:
        assert np.array_equal(run_ours("Adafactor", {}, p0, grads, impl), ref)


@pytest.fixture
def gpu_emulated(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[HostElementwiseKernel]]:
    """The "auto" update routed to the "cuda" path, served by the kernels compiled by nvcc for the host (see
    tests/cuda_host.py)."""
    if NVCC is None:
        pytest.skip("the CUDA toolkit (nvcc) is not installed")
    build([Spec.of(rprop.RPROP_KERNEL), Spec.of(LANGUAGE),
           *(Spec.of(asgd.asgd_kernel(l2, avg)) for l2, avg in np.ndindex(2, 2))])
    made: list[HostElementwiseKernel] = []

    def factory(in_params: str, out_params: str, operation: str, name: str) -> HostElementwiseKernel:
        made.append(HostElementwiseKernel(in_params, out_params, operation, name))
        return made[-1]

    monkeypatch.setattr(backend, "elementwise_kernel", factory)
    monkeypatch.setattr(optimizer_module, "resolve_impl", lambda impl, device: "cuda")
    yield made
    assert made and all(k.calls for k in made), "the cuda path was not taken"


@pytest.mark.parametrize(("name", "kw"), FUSED_CASES, ids=FUSED_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_kernel_on_host_equals_reference(name: str, kw: dict, dtype: type,
                                              gpu_emulated: list[HostElementwiseKernel]) -> None:
    p0 = np.random.default_rng(9).standard_normal((33, 65)).astype(dtype)
    grads = special_grads(6, p0.shape, dtype, seed=10)
    reference = run_ours(name, kw, p0, grads, "reference")
    same(run_ours(name, kw, p0, grads, "auto"), reference, None, "cuda")


# ---------------------------------------------------------------------- the kernel language's select
LANGUAGE = fused.FusedKernel("select", "p q", "g", "a b", """
    p = a if g < p else (b if g > p else g)
    q = (q if g <= a else -q) + (a if g >= b else b) * (p if g == q else (q if g != b else a))
""")


def select_expected(p: np.ndarray, q: np.ndarray, g: np.ndarray, a: float, b: float) -> tuple[np.ndarray, ...]:
    new_p = np.where(g < p, a, np.where(g > p, b, g))
    new_q = np.where(g <= a, q, -q) + np.where(g >= b, a, b) * np.where(g == q, new_p, np.where(g != b, q, a))
    return new_p, new_q


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_select_in_every_path(dtype: type, gpu_emulated: list[HostElementwiseKernel]) -> None:
    """Every comparison, nested selects, nan (every comparison false but !=) on both sides, in numpy, numba and
    the CUDA body."""
    rng = np.random.default_rng(6)
    pool = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, 1.0, -1.0, 2.0], dtype)
    start = {n: rng.choice(pool, 3000) for n in "pqg"}
    start["q"][:100] = start["g"][:100]  # some g == q
    a, b = dtype(0.5), dtype(2.0)
    expected = select_expected(start["p"], start["q"], start["g"], a, b)
    for impl in ["numpy", "cuda"] + (["numba"] if optim.numba_available() else []):
        arrays = {n: v.copy() for n, v in start.items()}
        LANGUAGE.run(impl, arrays, {"a": 0.5, "b": 2.0}, {})
        for got, want in zip((arrays["p"], arrays["q"]), expected):
            np.testing.assert_array_equal(got, want, err_msg=impl)


@pytest.mark.parametrize("body", ["p = g if g < p < g else p", "p = g < p", "p = g if g else p",
                                  "p = g if (g < p) + p else p", "p = g if g is p else p"])
def test_select_takes_one_comparison(body: str) -> None:
    with pytest.raises(SyntaxError, match="is not allowed"):
        fused.FusedKernel("bad", "p", "g", "", body)


# ---------------------------------------------------------------------- checkpoints, groups, options, errors
@pytest.mark.parametrize("name", NAMES)
def test_state_dict_resumes_bit_for_bit(name: str) -> None:
    rng = np.random.default_rng(11)
    values = [np.asarray(rng.standard_normal(s)) for s in [(3, 4), (5,), (), (2, 3, 2)]]
    grads = [[rng.standard_normal(v.shape) for v in values] for _ in range(8)]
    kw = {"t0": 2} if name == "ASGD" else {}

    def fresh(vals: list[np.ndarray]) -> tuple[list[tg.Tensor], optim.Optimizer]:
        ps = [tg.Tensor(v.copy(), requires_grad=True) for v in vals]
        return ps, getattr(optim, name)([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.05}], **kw)

    def steps(ps: list[tg.Tensor], opt: optim.Optimizer, gs: list[list[np.ndarray]]) -> None:
        for step in gs:
            for p, g in zip(ps, step):
                p.grad = tg.Tensor(g)
            opt.step()

    straight, opt = fresh(values)
    steps(straight, opt, grads)
    first, opt1 = fresh(values)
    steps(first, opt1, grads[:3])
    saved = opt1.state_dict()
    for i, p in enumerate(first):
        assert set(saved["state"][i]) == {"step"} | state_keys(name, p.ndim)
    second, opt2 = fresh([p.numpy() for p in first])
    opt2.load_state_dict(saved)
    steps(second, opt2, grads[3:])
    for a, b in zip(straight, second):
        assert np.array_equal(a.numpy(), b.numpy())


def test_adafactor_state_dict_shapes_are_checked() -> None:
    p = tg.Tensor(np.zeros((3, 4)), requires_grad=True)
    opt = optim.Adafactor([p])
    p.grad = tg.Tensor(np.ones((3, 4)))
    opt.step()
    saved = opt.state_dict()
    assert saved["state"][0]["row_var"].shape == (3, 1) and saved["state"][0]["col_var"].shape == (1, 4)
    bad = {**saved, "state": {0: {**saved["state"][0], "col_var": np.zeros((3, 1))}}}
    with pytest.raises(ValueError, match=r"state 'col_var' has shape \(3, 1\).*must have shape \(1, 4\)"):
        opt.load_state_dict(bad)
    bad = {**saved, "state": {0: {"t": 1, "variance": np.zeros((3, 4))}}}
    with pytest.raises(ValueError, match=r"Adafactor keeps \['col_var', 'row_var'\]"):
        opt.load_state_dict(bad)


@pytest.mark.parametrize("name", NAMES)
def test_add_param_group_midway_matches_torch(name: str) -> None:
    rng = np.random.default_rng(12)
    a0, b0 = rng.standard_normal((3, 2)), rng.standard_normal(4)
    grads = [(rng.standard_normal(a0.shape), rng.standard_normal(b0.shape)) for _ in range(6)]
    results = []
    for lib in (torch, tg):
        with torch64():
            a, b = lib.tensor(a0.copy(), requires_grad=True), lib.tensor(b0.copy(), requires_grad=True)
            opt = getattr(lib.optim, name)([a], lr=0.05)
            for t, (ga, gb) in enumerate(grads):
                if t == 2:
                    opt.add_param_group({"params": [b], "lr": 0.2, "maximize": True})
                a.grad, b.grad = lib.tensor(ga), lib.tensor(gb)
                opt.step()
            results.append([(x.detach() if lib is torch else x).numpy() for x in (a, b)])
    for x, y in zip(*results):
        np.testing.assert_allclose(y, x, rtol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_lr_changed_between_steps_as_torch(name: str) -> None:
    """A scheduler's new lr: ASGD's next eta is the one its last step computed with the old lr (torch keeps eta in
    the state), the step after uses the new one; Rprop's lr only starts the step sizes; Adafactor's caps rho_t."""
    rng = np.random.default_rng(13)
    p0, grads = rng.standard_normal((2, 3)), [rng.standard_normal((2, 3)) for _ in range(5)]
    results = []
    for lib in (torch, tg):
        with torch64():
            p = lib.tensor(p0.copy(), requires_grad=True)
            opt = getattr(lib.optim, name)([p], lr=0.1, **({"lambd": 0.5} if name == "ASGD" else {}))
            for t, g in enumerate(grads):
                opt.param_groups[0]["lr"] = [0.1, 0.1, 0.4, 0.02, 0.02][t]
                p.grad = lib.tensor(g)
                opt.step()
            results.append((p.detach() if lib is torch else p).numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)


def test_asgd_takes_torchs_positional_options() -> None:
    """torch's ASGD(params, lr, lambd, alpha, t0, weight_decay, foreach, maximize, ...): maximize is the 8th."""
    p = tg.Tensor(np.zeros(2), requires_grad=True)
    opt = optim.ASGD([p], 0.1, 0.0, 0.75, 1e6, 0.0, None, True)
    assert opt.param_groups[0]["maximize"] is True
    p.grad = tg.Tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(p.numpy(), [0.1, 0.1])


@pytest.mark.parametrize("name", NAMES)
def test_torch_flags(name: str) -> None:
    p = tg.Tensor(np.zeros(2), requires_grad=True)
    getattr(optim, name)([p], foreach=True)  # changes nothing here
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        getattr(optim, name)([p], differentiable=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'momentum'"):
        getattr(optim, name)([p], momentum=0.9)


BAD = [
    ("Rprop", {"lr": -1.0}, "lr"), ("Rprop", {"etas": (1.5, 2.0)}, "etas"), ("Rprop", {"etas": (0.5, 0.9)}, "etas"),
    ("Rprop", {"etas": (0.0, 1.2)}, "etas"), ("Rprop", {"lr": float("nan")}, "lr"),
    ("ASGD", {"lr": -1.0}, "lr"), ("ASGD", {"weight_decay": -0.1}, "weight_decay"),
    ("Adafactor", {"lr": -1.0}, "lr"), ("Adafactor", {"beta2_decay": 0.5}, "beta2_decay"),
    ("Adafactor", {"eps": (-1.0, 1e-3)}, "eps1"), ("Adafactor", {"eps": (None, -1.0)}, "eps2"),
    ("Adafactor", {"d": 0.5}, "d"), ("Adafactor", {"weight_decay": -0.1}, "weight_decay"),
    ("Adafactor", {"d": float("nan")}, "d"),
]


@pytest.mark.parametrize(("name", "kw", "param"), BAD, ids=[f"{n}-{k}" for n, k, _ in BAD])
def test_bad_hyperparameters_raise_as_torch(name: str, kw: dict, param: str) -> None:
    """torch raises ValueError; so do we, naming the value (in add_param_group and load_state_dict too)."""
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError, match=f"invalid {param}="):
        getattr(optim, name)([tg.Tensor(np.zeros(2), requires_grad=True)], **kw)
    opt = getattr(optim, name)([tg.Tensor(np.zeros(2), requires_grad=True)])
    with pytest.raises(ValueError, match=f"invalid {param}="):
        opt.add_param_group({"params": [tg.Tensor(np.zeros(2), requires_grad=True)], **kw})
    saved = opt.state_dict()
    saved["param_groups"][0].update(kw)
    with pytest.raises(ValueError, match=f"invalid {param}="):
        opt.load_state_dict(saved)


@pytest.mark.parametrize(("name", "kw"), [("Rprop", {"etas": 0.5}), ("Rprop", {"step_sizes": (1e-6,)}),
                                          ("Rprop", {"step_sizes": (float("nan"), 1.0)}),
                                          ("Adafactor", {"eps": 1e-3})])
def test_malformed_pairs_are_refused(name: str, kw: dict) -> None:
    """Not pairs (torch fails later, unpacking them) and a nan step size bound (torch's steps would all be nan)."""
    with pytest.raises(ValueError, match=r"invalid (etas|step_sizes|eps)="):
        getattr(optim, name)([tg.Tensor(np.zeros(2), requires_grad=True)], **kw)


@pytest.mark.parametrize(("name", "kw"), [("Rprop", {"etas": ("a", 2.0)}), ("ASGD", {"lambd": "x"}),
                                          ("ASGD", {"t0": None}), ("Adafactor", {"d": True})])
def test_non_numbers_are_a_type_error(name: str, kw: dict) -> None:
    with pytest.raises(TypeError, match="real number"):
        getattr(optim, name)([tg.Tensor(np.zeros(2), requires_grad=True)], **kw)


def test_asgd_negative_base_raises() -> None:
    """1 + lambd lr t < 0 with a fractional alpha: torch would take the real part of a complex eta."""
    p = tg.Tensor(np.zeros(2), requires_grad=True)
    opt = optim.ASGD([p], lr=1.0, lambd=-2.0)
    p.grad = tg.Tensor(np.ones(2))
    with pytest.raises(ValueError, match="use lambd >= 0"):
        opt.step()


def test_inspector_reports_them() -> None:
    figures = {}
    for name in NAMES:
        p = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        opt = getattr(optim, name)([p], lr=0.1)
        for sign in (1.0, -1.0):
            p.grad = tg.Tensor(np.full((2, 3), sign))
            opt.step()
        figures[name] = optim.Inspector(opt).report()["params"]["group0.param0"]
    assert figures["Rprop"]["effective_step_median"] == pytest.approx(0.05)  # a flip halved the step
    assert figures["ASGD"]["eta"] == pytest.approx(0.1 / (1 + 1e-4 * 0.1 * 2) ** 0.75) and figures["ASGD"]["mu"] == 1
    assert figures["Adafactor"] == {"t": 2, "lr": 0.1}


@pytest.mark.parametrize("name", NAMES)
def test_torch_state_dict_loads(name: str) -> None:
    """torch's state names are ours (its "step" is our "t", ASGD's 0-d eta and mu are numbers here): a torch
    checkpoint, as numpy, resumes here where torch goes on."""
    rng = np.random.default_rng(14)
    values = [np.asarray(rng.standard_normal(s)) for s in [(3, 4), (5,), (), (2, 3, 2)]]
    grads = [[np.asarray(rng.standard_normal(v.shape)) for v in values] for _ in range(6)]
    kw = {"t0": 1} if name == "ASGD" else {}
    with torch64():
        theirs = [torch.tensor(v.copy(), requires_grad=True) for v in values]
        topt = getattr(torch.optim, name)(theirs, **kw)
        for t, step in enumerate(grads):
            if t == 3:
                saved = copy.deepcopy(topt.state_dict())  # (torch's holds its live state tensors)
            for p, g in zip(theirs, step):
                p.grad = torch.tensor(g)
            topt.step()
    ours = [tg.Tensor(p.detach().numpy().copy(), requires_grad=True) for p in theirs]  # (overwritten below)
    opt = getattr(optim, name)(ours, **kw)
    state = {i: {("t" if k == "step" else k): (int(v.item()) if k == "step" else v.item() if k in ("eta", "mu")
                                               else v.numpy()) for k, v in s.items()}
             for i, s in saved["state"].items()}
    groups = [{k: v for k, v in g.items() if k in opt.defaults or k == "params"} for g in saved["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})
    replay = [tg.Tensor(v.copy(), requires_grad=True) for v in values]  # the parameters at step 3, by replaying
    ropt = getattr(optim, name)(replay, **kw)
    for step in grads[:3]:
        for p, g in zip(replay, step):
            p.grad = tg.Tensor(g)
        ropt.step()
    for p, r in zip(ours, replay):
        p.data[...] = r.data
    for step in grads[3:]:
        for p, g in zip(ours, step):
            p.grad = tg.Tensor(g)
        opt.step()
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12)
