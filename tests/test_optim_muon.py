"""optim.Muon against torch.optim.Muon (hypothesis: several steps, several parameter groups with their own options,
tall / wide / square / 1xN / Nx1 parameters, float32 and float64, nesterov on and off, each adjust_lr_fn, weight
decay, zero / nan / inf / -0 gradients, skipped parameters), the Newton-Schulz iteration's bfloat16 rounding,
checkpoints (ours and torch's), options and errors, the inspector and the GPU.

Tolerance: torch runs Newton-Schulz in bfloat16; ours rounds each op's float32 result to bfloat16 as torch's CPU
kernels do, so the orthogonalized update O_t agrees bit for bit except where a float32 sum of a matrix product, summed
in another order than torch's, lands on the other side of a bfloat16 rounding boundary. Such a flip is one bfloat16
unit (2^-8 relative) in one entry, which the later iterations spread; measured against torch on 150 random matrices
of each size, the largest difference in O (whose entries stay below about 1.2: its singular values end in about
[0.7, 1.2]) was 2^-14 for sides up to 8, 2^-12.5 up to 16, 1.5 bfloat16 units (of 1.0) up to 32 and 3 units up to
128. So each step may move a parameter by up to ``TOL_O`` = 4 units (2^-6) times its adjusted lr away from torch's,
and the differences add up over the steps (weight decay only shrinks them). Everything else rounds as torch: float32
bit for bit; float64 to an ulp, since torch fuses the multiply-adds of its lerp and of p - lr O, which float64 cannot.
``test_newton_schulz_rounds_as_torch`` checks that the rounding is torch's: bit for bit on almost all matrices.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_radam import torch64

import tinygrad_adam as tg
from tinygrad_adam import backend, optim
from tinygrad_adam.optim import muon

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

TOL_O = 2.0**-6  # 4 bfloat16 units at 1.0, the scale of the entries of O (see the module docstring)
FINITE_GRADS = st.floats(-10, 10) | st.sampled_from([0.0, -0.0, 1.0, -2.0, 1e-30, 3e4])
GRAD_VALUES = FINITE_GRADS | st.sampled_from([np.nan, np.inf, -np.inf])
PARAM_VALUES = st.sampled_from([-0.0, 0.0, 1.0, -3.0]) | st.floats(-5, 5)
SHAPES = st.sampled_from([(1, 1), (1, 5), (5, 1), (3, 3), (2, 6), (6, 2), (4, 7), (8, 3), (1, 8)]) | st.tuples(
    st.integers(1, 8), st.integers(1, 8))
OPTIONS = st.fixed_dictionaries({}, optional={
    "lr": st.sampled_from([0.0, 1e-3, 0.02, 0.5]), "weight_decay": st.sampled_from([0.0, 0.1, 0.5]),
    "momentum": st.sampled_from([0.0, 0.3, 0.5, 0.95]), "nesterov": st.booleans(),
    "adjust_lr_fn": st.sampled_from([None, "original", "match_rms_adamw"]),
    "ns_steps": st.sampled_from([0, 1, 3, 5]), "eps": st.sampled_from([1e-7, 0.0, 1.0]),
    "ns_coefficients": st.sampled_from([(3.4445, -4.7750, 2.0315), (1.5, -0.5, 0.0)])})


@st.composite
def problems(draw: st.DrawFn, specials: bool = True) -> dict[str, Any]:
    """1-3 parameter groups of 1-2 matrices, each group with its options, and 1-4 steps of gradients (None now and
    then: that parameter sits the step out); nan / inf in a gradient now and then."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    groups = []
    for _ in range(draw(st.integers(1, 3))):
        shapes = draw(st.lists(SHAPES, min_size=1, max_size=2))
        groups.append(([draw(hnp.arrays(dtype, s, elements=PARAM_VALUES)) for s in shapes], draw(OPTIONS)))
    flat = [v for values, _ in groups for v in values]
    elements = GRAD_VALUES if specials and draw(st.integers(0, 3)) == 0 else FINITE_GRADS
    steps = [[draw(hnp.arrays(dtype, v.shape, elements=elements)) if draw(st.integers(0, 5)) else None for v in flat]
             for _ in range(draw(st.integers(1, 4)))]
    return {"dtype": dtype, "groups": groups, "steps": steps}


def run(lib: Any, problem: dict[str, Any], **extra: Any) -> tuple[list[list[np.ndarray]], list[dict], Any]:
    """The parameters after each step, each parameter's state at the end (torch's without a step count), and the
    optimizer."""
    groups = [([lib.tensor(v.copy(), requires_grad=True) for v in values], kw) for values, kw in problem["groups"]]
    opt = lib.optim.Muon([{"params": ps, **kw} for ps, kw in groups], **extra)
    flat = [p for ps, _ in groups for p in ps]
    path = []
    for grads in problem["steps"]:
        for p, g in zip(flat, grads):
            p.grad = None if g is None else lib.tensor(g.copy())
        opt.step()
        path.append([(p.detach() if lib is torch else p).numpy().copy() for p in flat])
    states = [{k: v.numpy().copy() if isinstance(v, torch.Tensor) else v for k, v in opt.state.get(p, {}).items()}
              for p in flat]
    return path, states, opt


def allowed_drift(problem: dict[str, Any]) -> list[list[float]]:
    """Per step and parameter: how far the parameter may be from torch's (TOL_O times the adjusted lrs so far)."""
    options = [kw for values, kw in problem["groups"] for _ in values]
    shapes = [v.shape for values, _ in problem["groups"] for v in values]
    drift, out = [0.0] * len(shapes), []
    for grads in problem["steps"]:
        for i, (g, kw, shape) in enumerate(zip(grads, options, shapes)):
            if g is not None and (shape[1] or kw.get("adjust_lr_fn") == "match_rms_adamw"):
                drift[i] += muon.adjusted_lr(kw.get("lr", 1e-3), kw.get("adjust_lr_fn"), shape) * TOL_O
        out.append(list(drift))
    return out


def same(ours: np.ndarray, theirs: np.ndarray, dtype: Any, atol: float, what: str) -> None:
    """Equal shapes and dtypes, nan and inf in the same places, values within atol (plus float rounding)."""
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == dtype, what
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def compare(problem: dict[str, Any], impl: str = "auto") -> None:
    theirs = run(torch, problem)
    ours = run(tg, problem, impl=impl)
    dtype = problem["dtype"]
    for step, (a, b, drift) in enumerate(zip(ours[0], theirs[0], allowed_drift(problem)), start=1):
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, dtype, drift[i], f"step {step} parameter {i}")
    for i, (x, y) in enumerate(zip(ours[1], theirs[1])):
        assert set(x) == set(y) | ({"t"} if y else set()), (x.keys(), y.keys())
        if y:
            if dtype == np.float32:  # torch's lerp, bit for bit
                np.testing.assert_array_equal(x["momentum_buffer"], y["momentum_buffer"], err_msg=f"buffer {i}")
            else:  # (torch fuses lerp's multiply-add)
                same(x["momentum_buffer"], y["momentum_buffer"], dtype, 1e-12, f"buffer {i}")


# ---------------------------------------------------------------------- against torch
@settings(max_examples=80, deadline=None)
@given(problem=problems())
def test_matches_torch(problem: dict[str, Any]) -> None:
    compare(problem)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("adjust_lr_fn", [None, "original", "match_rms_adamw"])
@pytest.mark.parametrize("nesterov", [True, False])
def test_long_trajectory_matches_torch(dtype: Any, adjust_lr_fn: str | None, nesterov: bool) -> None:
    """30 steps on tall, wide, square and 1xN matrices (up to 40 x 24), gradients spanning 1e-3 .. 1e3, defaults
    otherwise (weight decay 0.1, momentum 0.95)."""
    rng = np.random.default_rng(3)
    values = [rng.standard_normal(s).astype(dtype) for s in [(40, 24), (9, 33), (16, 16), (1, 20), (20, 1)]]
    steps = [[(rng.standard_normal(v.shape) * 10.0 ** rng.uniform(-3, 3)).astype(dtype) for v in values]
             for _ in range(30)]
    compare({"dtype": dtype, "groups": [(values, {"lr": 0.02, "adjust_lr_fn": adjust_lr_fn, "nesterov": nesterov})],
             "steps": steps})


def test_newton_schulz_rounds_as_torch() -> None:
    """The orthogonalized update (a step from 0 with lr 1, no momentum, no decay: p = -AdjustLR(1) O) is torch's bit
    for bit on at least 95 of 100 random matrices of sides 1 .. 16 in both dtypes, and within TOL_O on the rest.
    Rounding to bfloat16 one op too many or too few, or not at all, moves almost every entry."""
    rng = np.random.default_rng(5)
    exact, worst = 0, 0.0
    for trial in range(100):
        dtype = (np.float32, np.float64)[trial % 2]
        shape = tuple(int(n) for n in rng.integers(1, 17, 2))
        g = (rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3, shape)).astype(dtype)
        problem = {"dtype": dtype, "groups": [([np.zeros(shape, dtype)], {"lr": 1.0, "momentum": 0.0,
                                                                          "weight_decay": 0.0, "nesterov": False})],
                   "steps": [[g]]}
        ours, theirs = run(tg, problem)[0][0][0], run(torch, problem)[0][0][0]
        exact += np.array_equal(ours, theirs)
        worst = max(worst, float(np.abs(ours - theirs).max()) / muon.adjusted_lr(1.0, None, shape))  # |O - O_torch|
    assert exact >= 95 and worst <= TOL_O, (exact, worst)


def test_round_to_bfloat16_is_torchs() -> None:
    """Ties to even, the largest values to inf, subnormals, -0, nan, and float64 through float32, as torch's cast."""
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32)
    x = np.concatenate([bits.view(np.float32), np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, 3.3895314e38, 1e-45,
                                                           1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, -(1.0 + 2.0**-8)])])
    for a in (x, x.astype(np.float64) * (1 + 2.0**-30)):
        ours = muon.round_to_bfloat16(a)
        theirs = torch.from_numpy(a).bfloat16().float().numpy()
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours, theirs)
        assert np.array_equal(np.signbit(ours[~np.isnan(ours)]), np.signbit(theirs[~np.isnan(theirs)]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_nan_and_inf_gradients_as_torch(dtype: Any) -> None:
    """A zero gradient leaves only the decay (O = 0: 0 / max(0, eps)); a nan makes the whole matrix nan; an inf too,
    except without Newton-Schulz steps, where it gives nan in its place and 0 elsewhere (inf / inf, x / inf); a
    1x1 matrix's huge gradient normalizes to +-1 (torch's norm of one entry), a larger one's overflows to inf."""
    cases = [
        ({}, np.zeros((3, 4))), ({}, -np.zeros((4, 3))), ({}, np.full((2, 3), np.nan)),
        ({}, np.array([[1.0, np.nan, 2.0]])), ({}, np.array([[1.0, np.inf], [3.0, -1.0]])),
        ({"ns_steps": 0, "momentum": 0.0, "nesterov": False}, np.array([[1.0, np.inf, -np.inf, 0.0, -2.0]])),
        ({"momentum": 0.0}, np.array([[1e30]])), ({"momentum": 0.0}, np.array([[1e30, 1.0]])),
        ({"momentum": 0.0}, np.array([[1e-30, -1e-30]])),
    ]
    for kw, g in cases:
        compare({"dtype": dtype, "groups": [([np.ones(g.shape, dtype)], {"lr": 0.1, **kw})],
                 "steps": [[g.astype(dtype)], [np.ones(g.shape, dtype)]]})


@pytest.mark.parametrize("shape", [(0, 3), (0, 0), (3, 0)])
@pytest.mark.parametrize("adjust_lr_fn", [None, "match_rms_adamw"])
def test_empty_parameters(shape: tuple[int, int], adjust_lr_fn: str | None) -> None:
    """Empty matrices step as in torch, except where torch's "original" lr scale divides by the zero number of columns
    (ZeroDivisionError): ValueError here, saying why."""
    for lib in (torch, tg):
        p = lib.zeros(shape, requires_grad=True)
        opt = lib.optim.Muon([p], adjust_lr_fn=adjust_lr_fn)
        p.grad = lib.zeros(shape)
        if shape[1] == 0 and adjust_lr_fn is None:
            with pytest.raises(ZeroDivisionError if lib is torch else ValueError):
                opt.step()
        else:
            opt.step()
            assert tuple(p.shape) == shape


# ---------------------------------------------------------------------- impls, checkpoints, groups, inspector
def test_every_impl_runs_the_readable_update() -> None:
    problem = {"dtype": np.float32, "groups": [([np.ones((3, 5), np.float32)], {})],
               "steps": [[np.sin(np.arange(15, dtype=np.float32) + t).reshape(3, 5)] for t in range(3)]}
    reference = run(tg, problem, impl="reference")[0]
    for impl in ("auto", "numpy", "numba"):
        opt_path = run(tg, problem, impl=impl)
        assert opt_path[2].impl == "reference"
        for a, b in zip(opt_path[0], reference):
            np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError):
        optim.Muon([tg.zeros((2, 2), requires_grad=True)], impl="fast")


def test_state_dict_resumes_bit_for_bit() -> None:
    rng = np.random.default_rng(11)
    values = [rng.standard_normal(s) for s in [(3, 4), (5, 2), (1, 6), (4, 4)]]
    grads = [[rng.standard_normal(v.shape) for v in values] for _ in range(8)]

    def fresh(vals: list[np.ndarray]) -> tuple[list[tg.Tensor], optim.Optimizer]:
        ps = [tg.Tensor(v.copy(), requires_grad=True) for v in vals]
        return ps, optim.Muon([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.05, "nesterov": False,
                                                      "adjust_lr_fn": "match_rms_adamw"}], lr=0.02)

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
    assert all(set(saved["state"][i]) == {"t", "momentum_buffer"} for i in range(4))
    assert saved["param_groups"][1]["adjust_lr_fn"] == "match_rms_adamw" and saved["param_groups"][1]["lr"] == 0.05
    second, opt2 = fresh([p.numpy() for p in first])
    opt2.load_state_dict(copy.deepcopy(saved))
    steps(second, opt2, grads[3:])
    for a, b in zip(straight, second):
        assert np.array_equal(a.numpy(), b.numpy())


def test_torch_state_dict_loads() -> None:
    """torch's state name is ours (a torch checkpoint, as numpy, with our step count added, resumes here where torch
    goes on); its groups' hyperparameters are ours."""
    rng = np.random.default_rng(14)
    values = [rng.standard_normal(s) for s in [(3, 4), (6, 2)]]
    grads = [[rng.standard_normal(v.shape) for v in values] for _ in range(6)]
    with torch64():
        theirs = [torch.tensor(v.copy(), requires_grad=True) for v in values]
        topt = torch.optim.Muon(theirs, lr=0.05)
        for t, step in enumerate(grads):
            if t == 3:
                saved = copy.deepcopy(topt.state_dict())
                at_three = [p.detach().numpy().copy() for p in theirs]
            for p, g in zip(theirs, step):
                p.grad = torch.tensor(g)
            topt.step()
    ours = [tg.Tensor(v, requires_grad=True) for v in at_three]
    opt = optim.Muon(ours, lr=0.05)
    assert set(saved["param_groups"][0]) - {"params"} == set(opt.defaults) - {"maximize"}
    state = {i: {"t": 3, **{k: v.numpy() for k, v in s.items()}} for i, s in saved["state"].items()}
    opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    for step in grads[3:]:
        for p, g in zip(ours, step):
            p.grad = tg.Tensor(g)
        opt.step()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12, atol=3 * 0.05 * 2 * TOL_O)


def test_load_state_dict_checks_hyperparameters() -> None:
    p = tg.Tensor(np.ones((2, 3)), requires_grad=True)
    opt = optim.Muon([p])
    p.grad = tg.Tensor(np.ones((2, 3)))
    opt.step()
    saved = opt.state_dict()
    before = copy.deepcopy(opt.state_dict())
    for bad in ({"adjust_lr_fn": "rms"}, {"ns_steps": 100}, {"momentum": -1.0}, {"ns_coefficients": (1.0, 2.0)}):
        broken = copy.deepcopy(saved)
        broken["param_groups"][0].update(bad)
        with pytest.raises(ValueError):
            opt.load_state_dict(broken)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    assert np.array_equal(after["state"][0]["momentum_buffer"], before["state"][0]["momentum_buffer"])


def test_add_param_group_and_skipped_parameters() -> None:
    """A group added later takes the defaults; a parameter without a gradient keeps its value and gets no state."""
    problem = {"dtype": np.float64, "groups": [([np.ones((2, 3)), np.ones((3, 2))], {"lr": 0.1})],
               "steps": [[np.full((2, 3), 0.5), None], [np.full((2, 3), -1.0), np.eye(3, 2)]]}
    compare(problem)
    for lib in (torch, tg):
        a, b = lib.ones((2, 2), requires_grad=True), lib.ones((4, 2), requires_grad=True)
        opt = lib.optim.Muon([a], lr=0.1, weight_decay=0.0)
        opt.add_param_group({"params": [b], "nesterov": False})
        assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["nesterov"] is False
        assert opt.param_groups[1]["weight_decay"] == 0.0


def test_inspector_reports_momentum() -> None:
    p = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    opt = optim.Muon([p], lr=0.1)
    p.grad = tg.Tensor(np.full((2, 3), 2.0))
    opt.step()
    figures = optim.Inspector(opt).report()["params"]["group0.param0"]
    assert figures == {"t": 1, "lr": 0.1, "momentum_norm": pytest.approx(0.05 * 2.0 * 6**0.5)}


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), (), (1, 1, 1)])
def test_refuses_parameters_that_are_not_matrices(shape: tuple[int, ...]) -> None:
    for lib in (torch, tg):
        with pytest.raises(ValueError, match="2D parameters" if lib is torch else "2-d parameters"):
            lib.optim.Muon([lib.zeros((2, 2), requires_grad=True), lib.zeros(shape, requires_grad=True)])
    # a group added later: torch raises at the step ("Param gradient must be a 2D matrix"), we at once
    p = tg.zeros(shape, requires_grad=True)
    opt = optim.Muon([tg.zeros((2, 2), requires_grad=True)])
    with pytest.raises(ValueError, match="2-d parameters"):
        opt.add_param_group({"params": [p]})


@pytest.mark.parametrize("kw", [{"lr": -1e-3}, {"lr": float("nan")}, {"momentum": -0.1}, {"weight_decay": -0.1},
                                {"adjust_lr_fn": "rms"}, {"adjust_lr_fn": "Original"}])
def test_bad_hyperparameters_raise_as_torch(kw: dict[str, Any]) -> None:
    for lib in (torch, tg):
        with pytest.raises(ValueError):
            lib.optim.Muon([lib.zeros((2, 2), requires_grad=True)], **kw)
    with pytest.raises(ValueError):  # in a group too (torch takes a group's values unchecked)
        optim.Muon([{"params": [tg.zeros((2, 2), requires_grad=True)], **kw}])


@pytest.mark.parametrize("kw", [{"ns_steps": 100}, {"ns_coefficients": (1.0, 2.0)}, {"eps": 3.4e38},
                                {"eps": -1e39}])
def test_what_torch_refuses_at_the_step_raises_at_once(kw: dict[str, Any]) -> None:
    p = torch.zeros((2, 2), requires_grad=True)
    opt = torch.optim.Muon([p], **kw)
    p.grad = torch.ones((2, 2))
    with pytest.raises((ValueError, RuntimeError)):  # (an eps past bfloat16's range: RuntimeError)
        opt.step()
    with pytest.raises(ValueError):
        optim.Muon([tg.zeros((2, 2), requires_grad=True)], **kw)


@pytest.mark.parametrize("kw", [{"maximize": True}, {"foreach": True}, {"fused": True}, {"capturable": True},
                                {"differentiable": False}, {"betas": (0.9, 0.99)}])
def test_options_torch_does_not_have_raise_type_error(kw: dict[str, Any]) -> None:
    for lib in (torch, tg):
        with pytest.raises(TypeError):
            lib.optim.Muon([lib.zeros((2, 2), requires_grad=True)], **kw)


def test_other_refusals() -> None:
    p = tg.zeros((2, 2), requires_grad=True)
    with pytest.raises(ValueError, match="maximize"):  # torch silently ignores a group's maximize
        optim.Muon([{"params": [p], "maximize": True}])
    with pytest.raises(TypeError, match="ns_steps"):
        optim.Muon([p], ns_steps=2.5)
    with pytest.raises(TypeError, match="ns_coefficients"):
        optim.Muon([p], ns_coefficients=(1.0, "b", 2.0))
    emb = tg.nn.Embedding(4, 3, sparse=True)
    opt = optim.Muon(emb.parameters())
    emb(tg.tensor(np.array([0, 2]))).sum().backward()
    with pytest.raises(RuntimeError, match="Muon does not support sparse gradients"):
        opt.step()


def test_signature_and_defaults_are_torchs() -> None:
    ours = optim.Muon([tg.zeros((2, 2), requires_grad=True)]).defaults
    theirs = torch.optim.Muon([torch.zeros((2, 2), requires_grad=True)]).defaults
    assert {k: v for k, v in ours.items() if k != "maximize"} == theirs
    names = list(inspect.signature(optim.Muon).parameters)
    assert names == [*inspect.signature(torch.optim.Muon).parameters, "impl"]
    for lib in (torch, tg):  # eps at bfloat16's largest number and inf are taken (inf: every update 0)
        for eps in (3.3895313892515355e38, float("inf")):
            lib.optim.Muon([lib.zeros((2, 2), requires_grad=True)], eps=eps)


def test_float16_within_tolerance() -> None:
    """float16 parameters (the update still in bfloat16): torch's within the drift of O plus a float16 unit per step
    (torch's lerp weighs in float32)."""
    rng = np.random.default_rng(9)
    values = [rng.standard_normal(s).astype(np.float16) for s in [(5, 3), (2, 7)]]
    steps = [[rng.standard_normal(v.shape).astype(np.float16) for v in values] for _ in range(4)]
    problem = {"dtype": np.float16, "groups": [(values, {"lr": 0.1, "weight_decay": 0.2})], "steps": steps}
    ours, theirs = run(tg, problem)[0], run(torch, problem)[0]
    for step, (a, b, drift) in enumerate(zip(ours, theirs, allowed_drift(problem)), start=1):
        for x, y, d in zip(a, b, drift):
            assert x.dtype == y.dtype == np.float16
            np.testing.assert_allclose(x, y, rtol=step * 2.0**-10, atol=d, err_msg=f"step {step}")


# ---------------------------------------------------------------------- GPU
def gpu_program(device: str) -> list[Any]:
    """Three steps on tall / wide / 1xN float32 matrices, a nan in one gradient."""
    ps = [tg.tensor(np.sin(np.arange(int(np.prod(s)), dtype=np.float32) + 1).reshape(s), device=device,
                    requires_grad=True) for s in ((6, 4), (3, 7), (1, 5))]
    opt = optim.Muon([{"params": ps[:2]}, {"params": ps[2:], "adjust_lr_fn": "match_rms_adamw"}], lr=0.05)
    for step in range(3):
        for i, p in enumerate(ps):
            g = np.cos(np.arange(p.numel(), dtype=np.float32) * (step + 1) + i).reshape(p.shape)
            if i == 2 and step == 1:
                g[0, 0] = np.nan
            p.grad = tg.tensor(g, device=device)
        opt.step()
    return [*ps, *(s["momentum_buffer"] for s in opt.state.values())]


@pytest.mark.gpu
def test_gpu_matches_the_cpu() -> None:
    for i, (a, b) in enumerate(zip(gpu_program("cpu"), gpu_program("cuda"), strict=True)):
        if isinstance(a, tg.Tensor):
            assert b.device.startswith("cuda")
            a, b = a.numpy(), b.numpy()
        else:
            b = backend.to_numpy(b)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=3 * 0.05 * 2 * TOL_O, equal_nan=True, err_msg=str(i))
