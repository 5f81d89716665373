"""Optimizers against torch.optim step by step, and every fast path against the readable reference."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import backend, checkpoint, optim
from tinygrad_adam.optim import fused

IMPLS = ["reference", "numpy"] + (["numba"] if optim.numba_available() else [])

# (optimizer name, options): every option of every optimizer is switched on in at least one case
CASES = [
    ("Adam", {}),
    ("Adam", {"lr": 1e-2, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"amsgrad": True, "weight_decay": 0.05, "eps": 1e-6}),
    ("AdamW", {}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
    ("Adamax", {}),
    ("Adamax", {"betas": (0.5, 0.9), "weight_decay": 0.1, "eps": 1e-4}),
    ("SGD", {"lr": 1e-2}),
    ("SGD", {"lr": 1e-2, "momentum": 0.9}),
    ("SGD", {"lr": 1e-2, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1}),
    ("SGD", {"lr": 1e-2, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.01, "weight_decay": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-6}),
    ("RMSprop", {}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.9, "alpha": 0.9}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.95, "weight_decay": 0.1, "eps": 1e-4}),
    ("NAdam", {}),
    ("NAdam", {"lr": 1e-2, "betas": (0.8, 0.99), "weight_decay": 0.1, "momentum_decay": 0.05}),
    ("NAdam", {"weight_decay": 0.05, "decoupled_weight_decay": True, "eps": 1e-6}),
    # torch's maximize=True (ascend) on every optimizer, with weight decay where it changes the sign's reach
    ("Adam", {"maximize": True, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"maximize": True}),
    ("Adamax", {"maximize": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 1e-2, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01, "maximize": True}),
    ("Adagrad", {"maximize": True, "weight_decay": 0.1}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "maximize": True}),
    ("Adadelta", {"maximize": True, "weight_decay": 0.1}),
    ("NAdam", {"maximize": True, "decoupled_weight_decay": True, "weight_decay": 0.05}),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for name, kw in CASES]


def random_grads(steps: int, shape: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    """Gradients whose scale spans 1e-4 .. 1e2 (element by element, step by step)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) * 10.0 ** rng.uniform(-4, 2, shape) for _ in range(steps)]


def run_ours(name: str, kw: dict, p0: np.ndarray, grads: list[np.ndarray], impl: str,
             device: str = "cpu") -> np.ndarray:
    """The parameter after each step (p0's shape and dtype, stacked)."""
    p = tg.Tensor(p0.copy(), requires_grad=True, device=device)
    opt = getattr(optim, name)([p], **kw, impl=impl)
    path = []
    for g in grads:
        p.grad = tg.Tensor(g.astype(p0.dtype), device=device)
        opt.step()
        path.append(p.numpy().copy())
    return np.array(path)


@pytest.fixture
def torch64() -> Iterator[Any]:
    """torch with float64 as its default dtype, so that its scalar state (NAdam's mu_product) is float64 as ours;
    with float32 that product alone moves NAdam's trajectory by up to 7e-7 relative."""
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(previous)


@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
def test_trajectory_matches_torch(name: str, kw: dict, torch64: Any) -> None:
    torch = torch64
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal((3, 5))
    grads = random_grads(120, p0.shape)
    tp = torch.tensor(p0, requires_grad=True)
    topt = getattr(torch.optim, name)([tp], **kw)
    expected = []
    for g in grads:
        tp.grad = torch.tensor(g)
        topt.step()
        expected.append(tp.detach().numpy().copy())
    for impl in IMPLS:
        np.testing.assert_allclose(run_ours(name, kw, p0, grads, impl), np.array(expected), rtol=1e-6, atol=1e-12,
                                   err_msg=f"impl={impl}")


@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_paths_equal_reference(name: str, kw: dict, dtype: type) -> None:
    """Chunked numpy (with a ragged last chunk and several chunks) and numba equal the readable update."""
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal(2 * fused.CHUNK + 7).astype(dtype)
    grads = [g.astype(dtype) for g in random_grads(4, p0.shape, seed=3)]
    ref = run_ours(name, kw, p0, grads, "reference")
    tol = {"rtol": 1e-5, "atol": 1e-7} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-15}
    for impl in IMPLS[1:]:
        np.testing.assert_allclose(run_ours(name, kw, p0, grads, impl), ref, **tol, err_msg=f"impl={impl}")


@pytest.mark.gpu
@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_kernels_equal_cpu_reference(name: str, kw: dict, dtype: type) -> None:
    """Each cupy ElementwiseKernel (impl="auto" on a GPU parameter) equals the readable update on the CPU."""
    rng = np.random.default_rng(9)
    p0 = rng.standard_normal((33, 65)).astype(dtype)
    grads = [g.astype(dtype) for g in random_grads(5, p0.shape, seed=10)]
    tol = {"rtol": 1e-5, "atol": 1e-7} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-15}
    np.testing.assert_allclose(run_ours(name, kw, p0, grads, "auto", device="cuda"),
                               run_ours(name, kw, p0, grads, "reference"), **tol)
    np.testing.assert_allclose(run_ours(name, kw, p0, grads, "reference", device="cuda"),
                               run_ours(name, kw, p0, grads, "reference"), **tol)


@pytest.mark.gpu
@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_multi_tensor_launch_equals_cpu_reference(name: str, kw: dict, dtype: type,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Several GPU parameters (sizes around the launch's block, an empty and a 0-d one) go by one launch of the
    multi-tensor kernel a step, and each equals the readable update on the CPU."""
    launches = []

    def counted(code: str, name: str) -> Any:
        kernel = raw_kernel(code, name)
        return lambda *args: (launches.append(name), kernel(*args))
    raw_kernel = backend.raw_kernel
    monkeypatch.setattr(backend, "raw_kernel", counted)
    shapes = [(fused.MULTI_BLOCK - 1,), (fused.MULTI_BLOCK + 1,), (0, 3), (), (3, 700)]
    rng = np.random.default_rng(11)
    params = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
    grads = [random_grads(3, shape, seed=k) for k, shape in enumerate(shapes)]
    tol = {"rtol": 1e-5, "atol": 1e-7} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-15}
    results = {}
    for device, impl in (("cuda", "auto"), ("cpu", "reference")):
        tensors = [tg.Tensor(p.copy(), requires_grad=True, device=device) for p in params]
        opt = getattr(optim, name)(tensors, **kw, impl=impl)
        for step in range(3):
            for t, g in zip(tensors, grads):
                t.grad = tg.Tensor(g[step].astype(dtype), device=device)
            opt.step()
        results[device] = [t.numpy() for t in tensors]
    assert len(launches) == 3
    for k, (a, b) in enumerate(zip(results["cuda"], results["cpu"])):
        np.testing.assert_allclose(a, b, **tol, err_msg=f"parameter {k} of shape {shapes[k]}")


@pytest.mark.skipif(not optim.numba_available(), reason="numba is not installed")
def test_numba_parallel_loop_equals_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fused, "PARALLEL_MIN", 1000)
    p0 = np.random.default_rng(4).standard_normal(5000).astype(np.float32)
    grads = random_grads(3, p0.shape, seed=5)
    np.testing.assert_allclose(run_ours("Adam", {}, p0, grads, "numba"), run_ours("Adam", {}, p0, grads, "numpy"),
                               rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("impl", IMPLS)
def test_non_contiguous_parameter_and_gradient(impl: str) -> None:
    base = np.random.default_rng(6).standard_normal((6, 8))
    p = tg.Tensor(base.T, requires_grad=True)  # a transposed view: not C-contiguous
    p.grad = tg.Tensor(np.ones((6, 8))[:, ::1].T * np.arange(6.0))
    expected = base.T.copy()
    optim.adam_reference(expected, p.grad.numpy(), np.zeros_like(expected), np.zeros_like(expected), 1, lr=0.1,
                         beta1=0.9, beta2=0.999, eps=1e-8)
    optim.Adam([p], lr=0.1, impl=impl).step()
    np.testing.assert_allclose(p.data, expected, rtol=1e-12)
    assert np.shares_memory(p.data, base)  # updated in place


def test_state_dict_resumes_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    p0, grads = rng.standard_normal((4, 3)), random_grads(20, (4, 3), seed=8)
    b0 = rng.standard_normal(3)

    def make(pw: np.ndarray, pb: np.ndarray) -> tuple[list[tg.Tensor], optim.Optimizer]:
        w, b = tg.Tensor(pw.copy(), requires_grad=True), tg.Tensor(pb.copy(), requires_grad=True)
        return [w, b], optim.Adam([{"params": [w]}, {"params": [b], "lr": 1e-2}], amsgrad=True)

    def train(params: list[tg.Tensor], opt: optim.Optimizer, gs: list[np.ndarray]) -> None:
        for g in gs:
            params[0].grad, params[1].grad = tg.Tensor(g), tg.Tensor(g[0])
            opt.step()

    params, opt = make(p0, b0)
    train(params, opt, grads)
    straight = [p._data.copy() for p in params]

    params, opt = make(p0, b0)
    train(params, opt, grads[:8])
    blob, weights = pickle.dumps(opt.state_dict()), [p._data.copy() for p in params]
    train(params, opt, grads[8:9])  # the saved copy must not see later steps
    assert set(pickle.loads(blob)["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}

    params, opt = make(*weights)
    opt.load_state_dict(pickle.loads(blob))
    assert opt.param_groups[1]["lr"] == 1e-2 and opt.state[params[0]]["t"] == 8
    train(params, opt, grads[8:])
    for a, b in zip(params, straight):
        assert np.array_equal(a.data, b)


def test_a_state_dict_under_the_papers_names_still_loads() -> None:
    """A checkpoint written before state_dict took torch's names (the paper's ``t``, ``m``, ``v``, ``v_max``, numpy
    arrays, an int step) loads and resumes bit for bit, so an earlier run still resumes. A step count past 2**24
    survives state_dict exactly: a float64 ``step`` there, where float32 would round 2**24 + 1 to 2**24."""
    rng = np.random.default_rng(9)
    w0, grads = rng.standard_normal((3, 2)), random_grads(10, (3, 2), seed=10)

    def make(w: np.ndarray) -> tuple[tg.Tensor, optim.Optimizer]:
        p = tg.Tensor(w.copy(), requires_grad=True)
        return p, optim.Adam([p], lr=1e-2, amsgrad=True)

    def train(p: tg.Tensor, opt: optim.Optimizer, gs: list[np.ndarray]) -> None:
        for g in gs:
            p.grad = tg.Tensor(g)
            opt.step()

    p, opt = make(w0)
    train(p, opt, grads)
    straight = p.numpy().copy()
    p, opt = make(w0)
    train(p, opt, grads[:4])
    saved = opt.state_dict()
    names = {"step": "t", "exp_avg": "m", "exp_avg_sq": "v", "max_exp_avg_sq": "v_max"}
    old = {**saved, "state": {0: {names[k]: int(v.item()) if k == "step" else v.numpy().copy()
                                  for k, v in saved["state"][0].items()}}}
    p, opt = make(p.numpy())
    opt.load_state_dict(old)
    train(p, opt, grads[4:])
    assert np.array_equal(p.numpy(), straight)

    for t, dtype in ((2**24, np.float32), (2**24 + 1, np.float64)):
        dict.__setitem__(opt.state[p], "t", t)
        step = opt.state_dict()["state"][0]["step"]
        assert step.dtype == dtype and step.item() == t
        again = make(p.numpy())[1]
        again.load_state_dict(opt.state_dict())
        assert again.state[again.param_groups[0]["params"][0]]["t"] == t


@pytest.mark.parametrize("impl", IMPLS)
def test_nadam_state_dict_resumes_bit_for_bit_through_a_checkpoint(impl: str, tmp_path: Path) -> None:
    """NAdam's state includes mu_1 ... mu_t, a float64 host scalar; it must survive the checkpoint file exactly."""
    rng = np.random.default_rng(11)
    p0, grads = rng.standard_normal(6), random_grads(12, (6,), seed=12)

    def train(p: tg.Tensor, opt: optim.Optimizer, gs: list[np.ndarray]) -> None:
        for g in gs:
            p.grad = tg.Tensor(g)
            opt.step()

    def make(weights: np.ndarray) -> tuple[tg.Tensor, optim.Optimizer]:
        p = tg.Tensor(weights.copy(), requires_grad=True)
        return p, optim.NAdam([p], lr=1e-2, weight_decay=0.1, momentum_decay=0.05, impl=impl)

    p, opt = make(p0)
    train(p, opt, grads)
    straight = p._data.copy()

    p, opt = make(p0)
    train(p, opt, grads[:5])
    checkpoint.save(tmp_path / "opt.npz", opt.state_dict())
    mu = [0.9 * (1 - 0.5 * 0.96 ** (t * 0.05)) for t in range(1, 6)]  # mu_t = beta1 (1 - 0.5 * 0.96^(t psi))
    assert opt.state[p]["mu_product"] == np.prod(mu)
    resumed, opt = make(p._data)
    opt.load_state_dict(checkpoint.load(tmp_path / "opt.npz"))
    assert opt.state[resumed]["t"] == 5 and opt.state[resumed]["mu_product"] == np.prod(mu)
    train(resumed, opt, grads[5:])
    assert np.array_equal(resumed.data, straight)


def test_nadam_mu_product_matches_torch_state(torch64: Any) -> None:
    """torch keeps mu_product as a 0-d tensor of its default dtype; in float64 it equals ours exactly."""
    tp = torch64.zeros(3, requires_grad=True)
    topt = torch64.optim.NAdam([tp], momentum_decay=0.1)
    p = tg.Tensor(np.zeros(3), requires_grad=True)
    opt = optim.NAdam([p], momentum_decay=0.1)
    for g in random_grads(7, (3,), seed=13):
        tp.grad, p.grad = torch64.tensor(g), tg.Tensor(g)
        topt.step()
        opt.step()
        assert opt.state[p]["mu_product"] == topt.state[tp]["mu_product"].item()


def test_load_state_dict_rejects_a_different_model() -> None:
    a, b = tg.Tensor(np.ones(3), requires_grad=True), tg.Tensor(np.ones(4), requires_grad=True)
    opt = optim.Adam([a])
    a.grad = tg.Tensor(np.ones(3))
    opt.step()
    with pytest.raises(ValueError, match=r"state 'm' has shape \(3,\), but its parameter has shape \(4,\)"):
        optim.Adam([b]).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="1 parameter groups, this optimizer has 2"):
        optim.Adam([{"params": [a]}, {"params": [b]}]).load_state_dict(opt.state_dict())


def test_param_groups_use_their_own_lr_and_none_grads_are_skipped() -> None:
    w, b, frozen = (tg.Tensor(np.zeros(2), requires_grad=True) for _ in range(3))
    opt = optim.SGD([{"params": [w, frozen]}, {"params": b, "lr": 0.5}], lr=0.1)
    w.grad, b.grad = tg.Tensor(np.ones(2)), tg.Tensor(np.ones(2))
    opt.step()
    np.testing.assert_array_equal(w.data, [-0.1, -0.1])
    np.testing.assert_array_equal(b.data, [-0.5, -0.5])
    np.testing.assert_array_equal(frozen.data, [0.0, 0.0])
    assert frozen not in opt.state and len(opt.state) == 2
    opt.add_param_group({"params": [tg.Tensor(np.zeros(1), requires_grad=True)], "momentum": 0.9})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.9


def test_zero_grad() -> None:
    p = tg.Tensor(np.zeros(2), requires_grad=True)
    p.grad = tg.Tensor(np.ones(2))
    opt = optim.Adam([p])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


def test_step_with_closure_returns_the_loss() -> None:
    x = tg.Tensor(np.array([3.0]), requires_grad=True)
    opt = optim.SGD([x], lr=0.25)

    def closure() -> tg.Tensor:
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 9.0
    np.testing.assert_allclose(x.data, [1.5])  # 3 - 0.25 * 6


@pytest.mark.parametrize(("name", "kw", "message"), [
    ("Adam", {"lr": -1e-3}, r"invalid lr=-0.001: must be >= 0"),
    ("Adam", {"betas": (0.9, 1.0)}, r"invalid betas=\(0.9, 1.0\): must be in \[0, 1\)"),
    ("Adam", {"betas": (-0.1, 0.9)}, r"invalid betas=\(-0.1, 0.9\)"),
    ("Adam", {"betas": (0.9,)}, r"invalid betas=\(0.9,\): must be a pair"),
    ("Adam", {"eps": -1.0}, r"invalid eps=-1.0: must be >= 0"),
    ("AdamW", {"weight_decay": float("nan")}, r"invalid weight_decay=nan"),
    ("Adamax", {"betas": (1.5, 0.9)}, r"invalid betas=\(1.5, 0.9\)"),
    ("SGD", {"momentum": -0.5}, r"invalid momentum=-0.5"),
    ("SGD", {"nesterov": True}, r"nesterov momentum needs momentum > 0 and dampening = 0, got momentum=0,"),
    ("Adagrad", {"lr_decay": -1}, r"invalid lr_decay=-1"),
    ("RMSprop", {"alpha": 1.2}, r"invalid alpha=1.2: must be in \[0, 1\)"),
    ("Adadelta", {"rho": 1.0}, r"invalid rho=1.0"),
    ("NAdam", {"momentum_decay": -4e-3}, r"invalid momentum_decay=-0.004: must be >= 0"),
    ("NAdam", {"betas": (0.9, 1.0)}, r"invalid betas=\(0.9, 1.0\)"),
])
def test_bad_hyperparameters_are_named(name: str, kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        getattr(optim, name)([tg.Tensor(np.zeros(2), requires_grad=True)], **kw)


def test_bad_parameters() -> None:
    p = tg.Tensor(np.zeros(2), requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors or of group dicts, not a Tensor"):
        optim.Adam(p)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="appears in more than one parameter group"):
        optim.Adam([{"params": [p]}, {"params": [p]}])
    with pytest.raises(TypeError, match="dtype int64; only floating-point"):
        optim.Adam([tg.Tensor(np.zeros(2, dtype=np.int64))])
    with pytest.raises(TypeError, match="is a ndarray, not a Tensor"):
        optim.Adam([np.zeros(2)])
    with pytest.raises(TypeError, match=r"unknown hyperparameter\(s\) \['momentum'\] for Adam"):
        optim.Adam([{"params": [p], "momentum": 0.9}])
    with pytest.raises(TypeError, match=r"invalid lr='0.1': must be a real number"):
        optim.Adam([p], lr="0.1")
    with pytest.raises(ValueError, match="invalid impl='fast'"):
        optim.Adam([p], impl="fast")
    opt = optim.Adam([p])
    with pytest.raises(RuntimeError, match="assigned grad has dtype float32, but the tensor has dtype float64"):
        p.grad = tg.Tensor(np.zeros(2, dtype=np.float32))
    p.grad = tg.Tensor(np.zeros(2))
    p.grad.data = tg.Tensor(np.zeros(2, dtype=np.float32))          # .data may change a tensor's dtype, as torch's
    with pytest.raises(TypeError, match="has dtype float64 but its grad has dtype float32"):
        opt.step()


def test_kernel_language_is_checked() -> None:
    with pytest.raises(SyntaxError, match="no literals"):
        fused.FusedKernel("k", "p", "g", "", "p = p - 0.1 * g")
    with pytest.raises(SyntaxError, match="'g' is read-only"):
        fused.FusedKernel("k", "p", "g", "lr", "g = g * lr")
    with pytest.raises(NameError, match="'q' is used before it is defined"):
        fused.FusedKernel("k", "p", "g", "", "p = q")
    with pytest.raises(SyntaxError, match="the name 'n' is reserved"):
        fused.FusedKernel("k", "p", "n", "", "p = p * n")
    with pytest.raises(SyntaxError, match="'exp\\(g\\)' is not allowed"):
        fused.FusedKernel("k", "p", "g", "", "p = exp(g)")


def test_kernel_sources_are_generated_from_one_program() -> None:
    k = optim.adam.adam_kernel(True, False, True)
    assert "T gw = (g + (weight_decay * p));" in k.cuda_source
    assert "v_max = fmax(v_max, v);" in k.cuda_source
    assert "numpy.maximum(v_max, v, out=v_max)" in k.numpy_source
    assert "v_max = numpy.maximum(v_max, v)" in k.numba_source
    assert k.registers <= 3  # the CPU chunk needs only a few scratch registers


@pytest.mark.parametrize("impl", IMPLS)
def test_maximize_leaves_the_gradient_and_ascends(impl: str) -> None:
    """maximize=True steps along +grad and leaves .grad as it was (torch negates a copy)."""
    p = tg.Tensor(np.zeros(5, np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.5, maximize=True, impl=impl)
    g = np.arange(5, dtype=np.float32)
    p.grad = tg.Tensor(g.copy())
    opt.step()
    np.testing.assert_array_equal(p.grad.numpy(), g)
    np.testing.assert_array_equal(p.numpy(), 0.5 * g)
    assert opt.state_dict()["param_groups"][0]["maximize"] is True


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adamax", "SGD", "Adagrad", "RMSprop", "Adadelta", "NAdam"])
def test_torch_execution_flags(name: str) -> None:
    """foreach / fused / capturable are accepted (same update); differentiable=True and unknown keywords raise."""
    p = tg.Tensor(np.ones(3, np.float32), requires_grad=True)
    getattr(optim, name)([p], lr=0.1, foreach=True, fused=None, capturable=False)
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        getattr(optim, name)([p], lr=0.1, differentiable=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        getattr(optim, name)([p], lr=0.1, foo=1)


def test_default_hyperparameters_have_torchs_types() -> None:
    """A group's defaults are torch's values of torch's types (momentum 0, not 0.0: a state_dict or a printout reads
    the same; found by a sweep of torch's OptimizerInfo inputs)."""
    torch = pytest.importorskip("torch")
    for name in ("SGD", "RMSprop", "Adagrad", "Adam", "AdamW", "Adamax", "Adadelta", "RAdam", "NAdam", "ASGD", "LBFGS"):
        theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)]).param_groups[0]
        ours = getattr(optim, name)([tg.zeros(2, requires_grad=True)]).param_groups[0]
        for key, value in theirs.items():
            if key != "params" and key in ours and not isinstance(value, bool):
                assert (type(ours[key]), ours[key]) == (type(value), value), (name, key)
