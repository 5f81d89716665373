"""Fixes found by the optim probe (optimizers against torch.optim): Adam's ``decoupled_weight_decay``, float16
parameters on the numba path, ``(name, parameter)`` pairs (torch 2.6's named parameters) and the optimizer hooks."""

from __future__ import annotations

import copy
import importlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
from tinygrad_adam import optim
from tinygrad_adam.optim import optimizer as optimizer_module

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SETTINGS = settings(max_examples=15, deadline=None)
FLOATS = st.floats(-1e3, 1e3, width=32) | st.sampled_from([0.0, -0.0, 1e-30, -1e20])


def arrays(dtype: Any) -> st.SearchStrategy[np.ndarray]:
    """Parameters / gradients: 0-d, empty and small tensors of ``dtype`` with extreme values."""
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4), elements=FLOATS)


def run_both(name: str, kwargs: dict[str, Any], p0: np.ndarray, grads: list[np.ndarray],
             impl: str = "auto") -> tuple[Any, Any, Any, Any]:
    """``len(grads)`` steps of optimizer ``name`` on torch and here; returns (torch's param, ours, torch's state,
    ours)."""
    tp = torch.tensor(p0.copy(), requires_grad=True)
    op = tg.tensor(p0.copy(), requires_grad=True)
    topt = getattr(torch.optim, name)([tp], **kwargs)
    oopt = getattr(optim, name)([op], impl=impl, **kwargs)
    for g in grads:
        tp.grad, op.grad = torch.tensor(g.copy()), tg.tensor(g.copy())
        topt.step()
        oopt.step()
    return tp, op, topt.state[tp], oopt.state[op]


def assert_close(a: Any, b: Any, dtype: Any) -> None:
    tol = {np.float16: 2e-3, np.float32: 1e-5, np.float64: 1e-12}[np.dtype(dtype).type]
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, tg.Tensor) else np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_allclose(b.astype(np.float64), a.astype(np.float64), rtol=tol, atol=tol)


# ---------------------------------------------------------------------- Adam(decoupled_weight_decay=True)
@SETTINGS
@given(p0=arrays(np.float64), wd=st.sampled_from([0.0, 0.1, 0.5]), amsgrad=st.booleans(),
       impl=st.sampled_from(["auto", "numpy", "reference"]))
def test_adam_decoupled_weight_decay(p0: np.ndarray, wd: float, amsgrad: bool, impl: str) -> None:
    """torch 2.13's Adam(decoupled_weight_decay=True) is AdamW; it was a TypeError here."""
    grads = [np.cos(np.arange(p0.size) + k).reshape(p0.shape) for k in range(4)]
    kwargs = {"lr": 0.01, "weight_decay": wd, "amsgrad": amsgrad, "decoupled_weight_decay": True}
    tp, op, _, _ = run_both("Adam", kwargs, p0, grads, impl)
    assert_close(tp, op, np.float64)
    opt = optim.Adam([tg.zeros(2, requires_grad=True)], decoupled_weight_decay=True)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True
    assert optim.AdamW([tg.zeros(2, requires_grad=True)]).param_groups[0]["decoupled_weight_decay"] is True
    assert optim.Adam([tg.zeros(2, requires_grad=True)]).param_groups[0]["decoupled_weight_decay"] is False


# ---------------------------------------------------------------------- float16 parameters
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0 / 0 where eps rounds to 0 in float16: nan, as torch's
@SETTINGS
@given(p0=hnp.arrays(np.float16, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5),
                     elements=st.floats(-100, 100, width=16)),
       name=st.sampled_from(["SGD", "Adam", "AdamW", "Adagrad", "RMSprop"]))
def test_float16_params(p0: np.ndarray, name: str) -> None:
    """A float16 parameter raised NotImplementedError on the numba path (numba has no float16); it takes the numpy
    fused path, as torch updates float16 parameters on the CPU."""
    grads = [np.sin(np.arange(p0.size, dtype=np.float64) + k).reshape(p0.shape).astype(np.float16)
             for k in range(3)]
    tp, op, _, _ = run_both(name, {"lr": 0.01}, p0, grads)
    assert op.dtype == tg.float16
    assert_close(tp, op, np.float16)


# ---------------------------------------------------------------------- named parameters
def linear_pair() -> tuple[Any, Any]:
    w = np.arange(6, dtype=np.float32).reshape(2, 3) / 5
    tm, om = torch.nn.Linear(3, 2), tg.nn.Linear(3, 2)
    with torch.no_grad(), tg.no_grad():
        for m, lib in ((tm, torch), (om, tg)):
            m.weight.copy_(lib.tensor(w))
            m.bias.copy_(lib.tensor(np.array([0.1, -0.2], np.float32)))
    return tm, om


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_named_parameters(name: str) -> None:
    """``Optimizer(model.named_parameters())`` and groups of (name, parameter) pairs (torch 2.6) raised TypeError;
    the names go to the group's ``param_names`` (and the state_dict), the parameters train as torch's."""
    tm, om = linear_pair()
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    results = []
    for lib, m in ((torch, tm), (tg, om)):
        opt = getattr(lib.optim, name)(m.named_parameters(), lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            (m(lib.tensor(x)) ** 2).sum().backward()
            opt.step()
        sd = opt.state_dict()
        results.append((m.weight.detach().numpy().copy(), sd["param_groups"][0]["param_names"]))
        opt.load_state_dict(copy.deepcopy(sd))
        assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-6, atol=1e-6)
    assert results[1][1:] == results[0][1:]


def test_named_parameter_groups_and_errors() -> None:
    tm, om = linear_pair()
    for lib, m in ((torch, tm), (tg, om)):
        opt = lib.optim.SGD([{"params": [("weight", m.weight)]}, {"params": [("bias", m.bias)], "lr": 0.5}], lr=0.1)
        assert [g["param_names"] for g in opt.param_groups] == [["weight"], ["bias"]]
        with pytest.raises(ValueError):  # named and unnamed in one group
            lib.optim.SGD([("weight", m.weight), m.bias])
        opt = lib.optim.SGD([("weight", m.weight)])
        with pytest.raises(ValueError):  # a group without names added to one with names
            opt.add_param_group({"params": [m.bias]})


# ---------------------------------------------------------------------- hooks
def hook_calls(lib: Any) -> list[Any]:
    """Every optimizer hook of ``lib`` registered, with what each saw."""
    p = (torch.tensor if lib is torch else tg.tensor)(np.ones(3, np.float32), requires_grad=True)
    opt = lib.optim.SGD([p], lr=0.1)
    calls: list[Any] = []

    def pre(o: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        calls.append(("pre", o is opt, len(args), sorted(kwargs)))
        return None

    opt.register_step_pre_hook(pre)
    handle = opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", float(p.detach()[0]))))
    opt.register_state_dict_pre_hook(lambda o: calls.append("sd pre"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    opt.register_state_dict_post_hook(lambda o, sd: calls.append(("sd post first", "extra" in sd)), prepend=True)
    opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append(("load pre", "extra" in sd)))
    opt.register_load_state_dict_post_hook(lambda o: calls.append("load post"))
    p.grad = (torch.tensor if lib is torch else tg.tensor)(np.ones(3, np.float32))
    opt.step()
    handle.remove()
    opt.step()
    sd = opt.state_dict()
    calls.append(("sd extra", sd.get("extra")))
    opt.load_state_dict(sd)
    # a pre hook that rewrites the arguments: step(closure) gets the hook's closure
    opt.register_step_pre_hook(lambda o, args, kwargs: ((args[0],), {"closure": lambda: 7.0}))
    calls.append(("closure loss", opt.step()))
    return calls


def test_optimizer_hooks() -> None:
    """register_step_pre_hook / register_step_post_hook / register_(load_)state_dict_pre/post_hook were missing
    (AttributeError): they run as torch's, in its order, and their handles remove them."""
    assert hook_calls(tg) == hook_calls(torch)


def test_global_step_hooks() -> None:
    calls: list[str] = []
    for lib, module in ((torch, importlib.import_module("torch.optim.optimizer")), (tg, optimizer_module)):
        pre = module.register_optimizer_step_pre_hook(lambda o, a, k, n=lib.__name__: calls.append(f"{n} pre"))
        post = module.register_optimizer_step_post_hook(lambda o, a, k, n=lib.__name__: calls.append(f"{n} post"))
        try:
            p = lib.zeros(2, requires_grad=True)
            opt = lib.optim.Adam([p])
            p.grad = lib.ones(2)
            opt.step()
        finally:
            pre.remove()
            post.remove()
        opt.step()
    assert calls == ["torch pre", "torch post", "tinygrad_adam pre", "tinygrad_adam post"]


# ---------------------------------------------------------------------- lr as a Tensor
@SETTINGS
@given(p0=arrays(np.float32), lr=st.sampled_from([1e-4, 0.01, 0.3, 1.0]),
       name=st.sampled_from(["SGD", "Adam", "AdamW", "RMSprop", "NAdam", "RAdam", "Adagrad", "Adamax", "ASGD"]))
def test_tensor_lr(p0: np.ndarray, lr: float, name: str) -> None:
    """``lr=torch.tensor(0.01)`` (torch takes a one-element Tensor lr) raised TypeError at construction here."""
    out = []
    for lib in (torch, tg):
        p = lib.tensor(p0.copy(), requires_grad=True)
        opt = getattr(lib.optim, name)([p], lr=lib.tensor(np.float32(lr)), foreach=False)
        for k in range(3):
            p.grad = lib.tensor(np.cos(np.arange(p0.size, dtype=np.float32) + k).reshape(p0.shape))
            opt.step()
        opt.load_state_dict(copy.deepcopy(opt.state_dict()))
        opt.step()
        out.append(p)
    assert_close(out[0], out[1], np.float32)


def test_tensor_lr_of_several_elements_raises() -> None:
    for lib in (torch, tg):
        with pytest.raises(ValueError):
            lib.optim.SGD([lib.zeros(2, requires_grad=True)], lr=lib.tensor([0.1, 0.2]))


# ---------------------------------------------------------------------- SWALR's state_dict
@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_swalr_state_dict_saves_and_resumes(strategy: str, tmp_path: Any) -> None:
    """SWALR's state_dict held ``anneal_func`` (a function), so ``torch.save(swalr.state_dict())`` raised here; as
    torch's it holds ``_anneal_strategy`` and a resumed SWALR anneals the same way."""
    lrs = []
    for lib, swa in ((torch, torch.optim.swa_utils), (tg, optim.swa_utils)):
        opt = lib.optim.SGD([lib.zeros(2, requires_grad=True)], lr=0.5)
        sched = swa.SWALR(opt, swa_lr=0.05, anneal_epochs=5, anneal_strategy=strategy)
        for _ in range(2):
            opt.step()
            sched.step()
        state = sched.state_dict()
        assert "anneal_func" not in state and state["_anneal_strategy"] == strategy
        lib.save({"sched": state, "opt": opt.state_dict()}, tmp_path / f"{lib.__name__}.pt")
        saved = lib.load(tmp_path / f"{lib.__name__}.pt", weights_only=False)
        opt = lib.optim.SGD([lib.zeros(2, requires_grad=True)], lr=0.5)
        sched = swa.SWALR(opt, swa_lr=0.05, anneal_epochs=5)  # the default "cos": the load restores the strategy
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        run = []
        for _ in range(5):
            opt.step()
            sched.step()
            run.append(opt.param_groups[0]["lr"])
        lrs.append(run)
    np.testing.assert_allclose(lrs[1], lrs[0], rtol=1e-12)


# ---------------------------------------------------------------------- a checkpoint torch wrote
CONVERTED = [("SGD", {"lr": 0.1, "momentum": 0.9}), ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
             ("Adam", {"lr": 0.1, "amsgrad": True}), ("AdamW", {}), ("RMSprop", {"centered": True, "momentum": 0.5}),
             ("NAdam", {"momentum_decay": 0.3}), ("RAdam", {}), ("Adamax", {}), ("Adadelta", {}), ("Adagrad", {}),
             ("ASGD", {"t0": 1, "lambd": 0.1}), ("Rprop", {})]


@pytest.mark.parametrize(("name", "kwargs"), CONVERTED)
def test_torch_checkpoint_converted_resumes(name: str, kwargs: dict[str, Any], tmp_path: Any) -> None:
    """An optimizer state_dict torch wrote, converted as the library's CheckpointError tells
    (``tinygrad_adam.save(torch.load(path), new_path)``), raised TypeError on its groups' ``foreach`` / ``fused`` /
    ``capturable`` / ``differentiable``, and its state has torch's names (``step`` as a tensor, ``exp_avg``, NAdam's
    0-d ``mu_product``, ...): it loads, and the resumed run continues as torch's."""
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    torch.manual_seed(0)  # (torch's layer drew from whatever state earlier tests left: with some draws, centered
    tm, om = torch.nn.Linear(3, 2), tg.nn.Linear(3, 2)  # RMSprop's g^2 - mean^2 cancels to 4e-5 apart)
    topt = getattr(torch.optim, name)(tm.parameters(), **kwargs)

    def step(lib: Any, model: Any, opt: Any) -> None:
        opt.zero_grad()
        (model(lib.tensor(x)) ** 2).sum().backward()
        opt.step()

    for _ in range(3):
        step(torch, tm, topt)
    tg.save({"model": tm.state_dict(), "opt": topt.state_dict()}, tmp_path / "converted.npz")
    saved = tg.load(tmp_path / "converted.npz")
    om.load_state_dict(saved["model"])
    oopt = getattr(optim, name)(om.parameters(), **kwargs)
    oopt.load_state_dict(saved["opt"])
    for _ in range(4):
        step(torch, tm, topt)
        step(tg, om, oopt)
    for tp, op in zip(tm.parameters(), om.parameters(), strict=True):
        np.testing.assert_allclose(op.detach().numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6)
    for key, value in topt.state[tm.weight].items():  # torch's names read the loaded state
        ours = oopt.state[om.weight][key]
        np.testing.assert_allclose(np.asarray(ours.numpy() if isinstance(ours, tg.Tensor) else ours),
                                   value.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_torch_lbfgs_checkpoint_converted_resumes(line_search_fn: str | None, tmp_path: Any) -> None:
    """torch's LBFGS state also holds ``al`` (the two-loop recursion's scratch list): a converted torch checkpoint
    raised ValueError (unknown entry); it loads and resumes as torch's."""
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    tm, om = torch.nn.Linear(3, 2), tg.nn.Linear(3, 2)
    topt = torch.optim.LBFGS(tm.parameters(), max_iter=3, line_search_fn=line_search_fn)

    def closure(lib: Any, model: Any, opt: Any) -> Any:
        def run() -> Any:
            opt.zero_grad()
            loss = ((model(lib.tensor(x)) - 1) ** 4).sum()
            loss.backward()
            return loss
        return run

    topt.step(closure(torch, tm, topt))
    assert "al" in topt.state_dict()["state"][0]
    tg.save({"model": tm.state_dict(), "opt": topt.state_dict()}, tmp_path / "lbfgs.npz")
    saved = tg.load(tmp_path / "lbfgs.npz")
    om.load_state_dict(saved["model"])
    oopt = optim.LBFGS(om.parameters(), max_iter=3, line_search_fn=line_search_fn)
    oopt.load_state_dict(saved["opt"])
    for _ in range(3):
        topt.step(closure(torch, tm, topt))
        oopt.step(closure(tg, om, oopt))
    np.testing.assert_allclose(om.weight.detach().numpy(), tm.weight.detach().numpy(), rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------- a scheduler checkpoint torch wrote
class Decay:
    """A callable object: torch's state_dict keeps its ``__dict__``."""

    def __init__(self) -> None:
        self.k = 0.5

    def __call__(self, x: float) -> float:
        return self.k**x


SCHEDULERS = {
    "cyclic": lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="triangular2"),
    "cyclic-fn": lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=3, scale_fn=Decay()),
    "onecycle": lambda m, o: m.OneCycleLR(o, 1.0, 20),
    "onecycle-3": lambda m, o: m.OneCycleLR(o, 1.0, 20, three_phase=True, anneal_strategy="linear"),
    "lambda-fn": lambda m, o: m.LambdaLR(o, Decay()),
}


@pytest.mark.parametrize("kind", sorted(SCHEDULERS))
def test_torch_scheduler_checkpoint_converted_resumes(kind: str, tmp_path: Any) -> None:
    """torch's OneCycleLR state holds ``_anneal_func_type`` / ``_schedule_phases`` (ours: ``anneal_strategy`` /
    ``phases``, so a converted torch checkpoint raised TypeError), and torch's CyclicLR keeps one ``_scale_fn_custom``
    entry, not a list (TypeError): both load, resume as torch's, and save torch's keys."""
    make = SCHEDULERS[kind]
    tm = torch.nn.Linear(2, 2)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    tsched = make(torch.optim.lr_scheduler, topt)
    for _ in range(4):
        topt.step()
        tsched.step()
    fn = getattr(tsched, "_scale_fn_custom", None) or getattr(tsched, "lr_lambdas", [None])[0]
    if fn is not None:
        fn.k = 0.7  # a changed callable's state travels in the checkpoint
    tg.save({"sched": tsched.state_dict(), "opt": topt.state_dict()}, tmp_path / "sched.npz")
    saved = tg.load(tmp_path / "sched.npz")
    oopt = optim.SGD(tg.nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    osched = make(optim.lr_scheduler, oopt)
    oopt.load_state_dict(saved["opt"])
    osched.load_state_dict(saved["sched"])
    for _ in range(8):
        topt.step()
        tsched.step()
        oopt.step()
        osched.step()
        for tg_group, torch_group in zip(oopt.param_groups, topt.param_groups, strict=True):
            assert tg_group["lr"] == pytest.approx(torch_group["lr"], rel=1e-12)
            assert tg_group["momentum"] == pytest.approx(torch_group["momentum"], rel=1e-12)
    ours, theirs = osched.state_dict(), tsched.state_dict()
    assert set(ours) - {"_last_momentum"} == set(theirs)
    for key in ("_scale_fn_custom", "lr_lambdas", "_schedule_phases", "_anneal_func_type"):
        assert ours.get(key) == theirs.get(key)


def test_onecycle_state_of_the_former_names_loads() -> None:
    """A OneCycleLR state_dict this library saved before (``anneal_strategy``, ``phases`` as tuples) still loads."""
    opt = optim.SGD([tg.zeros(2, requires_grad=True)], lr=0.1, momentum=0.9)
    sched = optim.lr_scheduler.OneCycleLR(opt, 1.0, 20, anneal_strategy="linear")
    for _ in range(3):
        opt.step()
        sched.step()
    state = sched.state_dict()
    old = {**{k: v for k, v in state.items() if k not in ("_anneal_func_type", "_schedule_phases")},
           "anneal_strategy": state["_anneal_func_type"],
           "phases": [tuple(phase.values()) for phase in state["_schedule_phases"]]}
    fresh = optim.lr_scheduler.OneCycleLR(optim.SGD([tg.zeros(2, requires_grad=True)], lr=0.1, momentum=0.9), 1.0, 20)
    fresh.load_state_dict(old)
    assert fresh._anneal_func_type == "linear" and fresh._schedule_phases == state["_schedule_phases"]
