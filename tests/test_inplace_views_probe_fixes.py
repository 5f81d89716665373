"""Differences from torch found by the in-place / views / autograd probe, each checked against torch: a gradient hook
registered before an in-place write sees the gradient of the value before the write; ops whose backward reads only
their output, a mask or their indices (sigmoid, softmax, max / sort / topk, cumsum, ...) let their input be written
in place before backward, and ops whose backward reads only their input let their output be (and matmul / linear
read an operand only for the other's gradient, never the bias); ``view`` refuses a shape that needs a copy (it
returned an unshared copy); ``Tensor._is_view()``; ``Tensor.broadcast_to(*sizes)``."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

LIBS = [torch, tg]
FLOATS = st.floats(-3, 3, width=32, allow_subnormal=False)


def arr(t: Any) -> np.ndarray | None:
    return None if t is None else np.array(t.detach().numpy())


def same(a: Any, b: Any) -> None:
    if a is None or b is None:
        assert a is None and b is None
    else:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ hooks registered before an in-place write
WRITES = ["x.copy_(w)", "x.copy_(w[0])", "x[...] = w", "x.copy_(w.double())", "x.mul_(k)", "x.add_(w)", "x.exp_()",
          "x.zero_()", "x.fill_(k)", "x[0].mul_(k)", "x[:, 1:] += w[:, 1:]", "x.t()[0].copy_(w[0])", "x.sigmoid_()",
          "x.clamp_(-0.5, 0.5)", "x *= w"]


def hook_program(lib: Any, x0: np.ndarray, w0: np.ndarray, k: float, write: str) -> dict[str, Any]:
    leaf = lib.tensor(x0, requires_grad=True)
    w = lib.tensor(w0, requires_grad=True)
    x = leaf * 1
    seen: list[np.ndarray] = []
    x.register_hook(lambda g: seen.append(arr(g)))
    exec(write, {"x": x, "w": w, "k": k})
    late: list[np.ndarray] = []
    x.register_hook(lambda g: late.append(arr(g)))
    (x * lib.tensor(np.arange(x0.size, dtype=np.float32).reshape(x0.shape))).sum().backward()
    return {"seen": seen, "late": late, "leaf": arr(leaf.grad), "w": arr(w.grad)}


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float32, (3, 3), elements=FLOATS), hnp.arrays(np.float32, (3, 3), elements=FLOATS),
       FLOATS, st.sampled_from(WRITES))
def test_hook_before_an_in_place_write_sees_the_old_values_gradient(x0: np.ndarray, w0: np.ndarray, k: float,
                                                                     write: str) -> None:
    want, got = (hook_program(lib, x0, w0, k, write) for lib in LIBS)
    for key in ("seen", "late"):
        assert len(want[key]) == len(got[key]), key
        for a, b in zip(want[key], got[key]):
            same(a, b)
    same(want["leaf"], got["leaf"])
    same(want["w"], got["w"])


# ------------------------------------------------------------------ the version counter: no false raise
INPUT_FREE = {  # ops whose backward reads no value of the input (torch saves their output, or indices, or nothing)
    "sigmoid": "x.sigmoid()", "tanh": "x.tanh()", "reciprocal": "x.reciprocal()", "rdiv": "2 / x",
    "expm1": "x.expm1()", "relu": "x.relu()", "softmax": "x.softmax(-1)", "log_softmax": "x.log_softmax(0)",
    "inv": "torch.linalg.inv(x + 4 * torch.eye(3))", "cross_entropy": "F.cross_entropy(x, torch.tensor([0, 2, 1]))",
    "max": "x.max(1).values", "sort": "x.sort(0).values", "topk": "x.topk(2).values",
    "kthvalue": "x.kthvalue(2).values",
    "cumsum": "x.cumsum(1)", "mean": "x.mean(0)", "trace": "x.trace()", "diag": "x.diag()", "tril": "x.tril()",
    "triu": "x.triu(1)", "floor": "x.floor()", "round": "x.round()", "ceil": "x.ceil()", "trunc": "x.trunc()",
    "sign": "x.sign()", "frac": "x.frac()", "fmod": "x.fmod(0.7)", "remainder": "x.remainder(0.7)",
    "matmul_const": "x @ c", "linear_const": "F.linear(x, c)",
}
OUTPUT_FREE = {  # ops whose backward reads no value of the output (torch saves their input)
    "sinh": "x.sinh()", "cosh": "x.cosh()", "var": "x.var(0)", "sign": "x.sign()", "prelu": "F.prelu(x, p)",
    "leaky_relu": "F.leaky_relu(x, 0.2)",
}
MODS = ["x.add_(s)", "x[0].zero_()", "x.detach().mul_(s)", "x.t()[1].add_(s)"]


def version_program(lib: Any, x0: np.ndarray, s: float, expr: str, mod: str) -> dict[str, Any]:
    F = lib.nn.functional
    leaf = lib.tensor(x0, requires_grad=True)
    c = lib.tensor(np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3))
    p = lib.tensor([0.25], requires_grad=True)
    x = leaf * 1
    out = eval(expr, {"x": x, "torch": lib, "F": F, "c": c, "p": p})
    exec(mod, {"x": x, "out": out, "s": s})
    try:
        (out * lib.tensor(np.float32(1.5))).sum().backward()
    except RuntimeError:
        return {"raised": True}
    return {"raised": False, "g": arr(leaf.grad), "p": arr(p.grad)}


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, (3, 3), elements=FLOATS, unique=True), st.floats(0.125, 2, width=32),
       st.sampled_from(sorted(INPUT_FREE)), st.sampled_from(MODS))
def test_writing_an_input_the_backward_does_not_read(x0: np.ndarray, s: float, name: str, mod: str) -> None:
    want, got = (version_program(lib, x0, s, INPUT_FREE[name], mod) for lib in LIBS)
    assert want["raised"] is False
    assert got["raised"] is False
    same(want["g"], got["g"])


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float32, (3, 3), elements=FLOATS, unique=True), st.floats(0.125, 2, width=32),
       st.sampled_from(sorted(OUTPUT_FREE)))
def test_writing_an_output_the_backward_does_not_read(x0: np.ndarray, s: float, name: str) -> None:
    want, got = (version_program(lib, x0, s, OUTPUT_FREE[name], "out.add_(s)") for lib in LIBS)
    assert want["raised"] is False
    assert got["raised"] is False
    same(want["g"], got["g"])
    same(want["p"], got["p"])


@pytest.mark.parametrize("expr, mod", [
    ("x.exp()", "x.add_(1)"), ("x.sigmoid()", "out.add_(1)"), ("x.softmax(0)", "out[0].zero_()"),
    ("x.pow(3)", "x.mul_(2)"), ("x.sqrt()", "out.detach().zero_()"), ("x @ x", "x.add_(1)"),
    ("x @ c", "x.add_(1)"), ("x * x", "x[1].zero_()"), ("x.sinh()", "x.add_(1)"), ("x.var(0)", "x.add_(1)"),
    ("F.linear(x, p.expand(3, 3))", "x.add_(1)"), ("x.tanh()", "out.mul_(2)"), ("x.relu().sum()", "x.add_(1)"),
])
def test_writing_what_the_backward_reads_still_raises(expr: str, mod: str) -> None:
    x0 = np.linspace(0.5, 2, 9, dtype=np.float32).reshape(3, 3)
    want, got = (version_program(lib, x0, 1.0, expr, mod) for lib in LIBS)
    assert want["raised"] == got["raised"]
    if not want["raised"]:
        same(want["g"], got["g"])


@pytest.mark.parametrize("update", ["lin.bias.add_(1)", "lin.weight.add_(1)"])
def test_a_linear_bias_updated_before_backward(update: str) -> None:
    """An optimizer-like update of the bias between forward and backward is fine in torch (addmm saves no bias)."""
    res = []
    for lib in LIBS:
        lib.manual_seed(0)
        lin = lib.nn.Linear(3, 2)
        lin.weight.data = lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 7)
        x = lib.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
        y = lin(x)
        with lib.no_grad():
            exec(update, {"lin": lin})
        try:
            y.sum().backward()
            res.append(arr(x.grad))
        except RuntimeError:
            res.append("raised")
    if isinstance(res[0], str):
        assert res[1] == "raised"
    else:
        same(res[0], res[1])


# ------------------------------------------------------------------ view never copies
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_view_is_a_view_or_raises(shape: list[int], data: st.DataObject) -> None:
    base0 = np.arange(int(np.prod(shape)) * 2, dtype=np.float32).reshape(*shape[:-1], shape[-1] * 2)
    how = data.draw(st.sampled_from(["t", "step", "narrow", "perm", "plain"]))
    sizes = list(base0.shape) if how in ("t", "perm", "plain") else shape
    target = data.draw(st.sampled_from([(-1,), (int(np.prod(sizes)),), (1, -1), (-1, 1), tuple(reversed(sizes))]))
    results = []
    for lib in LIBS:
        base = lib.tensor(base0)
        src = {"t": lambda b: b.transpose(0, -1), "step": lambda b: b[..., ::2], "narrow": lambda b: b[..., :shape[-1]],
               "perm": lambda b: b.permute(*reversed(range(b.ndim))), "plain": lambda b: b}[how](base)
        try:
            v = src.view(*target)
        except RuntimeError:
            results.append("raised")
            continue
        v.mul_(-1)
        results.append((tuple(v.shape), arr(base), v._is_view()))
    assert type(results[0]) is type(results[1])
    if results[0] != "raised":
        assert results[0][0] == results[1][0]
        np.testing.assert_array_equal(results[0][1], results[1][1])
        assert results[0][2:] == results[1][2:]


@pytest.mark.parametrize("expr", ["x[1:]", "x.t()", "x.view(8)", "x.diagonal()", "x.unsqueeze(0)", "x.clone()",
                                  "x.t().contiguous()", "x.reshape(8)", "x.t().reshape(8)", "x.detach()", "x",
                                  "x.expand(2, 2, 4)", "x.broadcast_to(3, 2, 4)", "x.broadcast_to((2, 4))"])
def test_is_view_and_broadcast_to_sizes(expr: str) -> None:
    got = []
    for lib in LIBS:
        x = lib.tensor(np.arange(8, dtype=np.float32).reshape(2, 4))
        v = eval(expr, {"x": x})
        got.append((v._is_view(), tuple(v.shape), arr(v).tolist()))
    assert got[0] == got[1]


# ------------------------------------------------------------------ exception classes as torch's
@pytest.mark.parametrize("code", [
    "torch.zeros(3).copy_(torch.ones(2, 3))", "torch.zeros(3, 1).copy_(torch.ones(3))", "torch.zeros(6).copy_(x23)",
    "torch.zeros(3) + torch.ones(4)", "y = torch.zeros(6); y += x23", "torch.ones(2, 3).broadcast_to(3, 2)",
    "torch.zeros(3, dtype=torch.int64).requires_grad_()", "torch.tensor([1, 2], requires_grad=True)",
    "w = torch.ones(2, requires_grad=True); w.data = torch.zeros(2, dtype=torch.int64)",
    "w = torch.ones(2, requires_grad=True); w.data = torch.zeros(2, dtype=torch.bool)",
    "w = torch.ones(2, requires_grad=True) * 2; w.data = torch.zeros(2, dtype=torch.int64)",
])
def test_raises_runtime_error_as_torch(code: str) -> None:
    for lib in LIBS:
        with pytest.raises(RuntimeError):
            exec(code, {"torch": lib, "x23": lib.ones(2, 3)})


@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_data_of_another_float_dtype_is_taken(dtype: str) -> None:
    for lib in LIBS:
        w = lib.ones(2, requires_grad=True)
        w.data = lib.zeros(2, dtype=getattr(lib, dtype))
        assert str(w.dtype).split(".")[-1] == dtype and w.requires_grad


@pytest.mark.parametrize("call", ["torch.add(a, 1, out=o)", "torch.cat([a, a], out=o)", "torch.sum(m, 0, out=o)",
                                  "torch.mm(m, m.t(), out=o)", "torch.neg(a, out=o)"])
@pytest.mark.parametrize("n", [0, 1, 3, 5])
def test_out_resized_counts_one_version(call: str, n: int) -> None:
    """An out of another shape is resized and written: one change of its version, as torch's."""
    got = []
    for lib in LIBS:
        o = lib.zeros(n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (torch's deprecation warning for a resized non-empty out)
            r = eval(call, {"torch": lib, "a": lib.ones(3), "m": lib.ones(2, 3), "o": o})
        got.append((r is o, tuple(o.shape), o._version, arr(o).tolist()))
    assert got[0] == got[1]


@pytest.mark.parametrize("write", ["x.copy_(z)", "x.copy_(z[0])", "x[...] = z", "x[:] = z", "x.copy_(z.t())",
                                   "x.copy_(c)", "x[...] = c"])
def test_overwritten_value_still_gets_a_zero_gradient(write: str) -> None:
    """After ``x.copy_(z)`` the graph of x's old value gets zeros (torch's CopyBackwards): a leaf there has a zero
    ``.grad``, not None, so an optimizer with momentum or weight decay still steps it."""
    got = []
    for lib in LIBS:
        leaf = lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
        z = lib.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3) * 3, requires_grad=True)
        c = lib.tensor(np.full((2, 3), 0.5, np.float32))
        x = leaf * 2
        exec(write, {"x": x, "z": z if "t()" not in write else z.t().contiguous(), "c": c})
        (x * x).sum().backward()
        opt = lib.optim.SGD([leaf], lr=0.1, momentum=0.9, weight_decay=0.1)
        opt.step()
        got.append((arr(leaf.grad), arr(z.grad) if z.grad is not None else None, arr(leaf)))
    for a, b in zip(*got):
        same(a, b)


def test_view_of_a_computed_result_laid_out_otherwise_than_torchs() -> None:
    """numpy's einsum may hand back a strided result where torch's is contiguous: view still works there."""
    got = []
    for lib in LIBS:
        s = lib.tensor(np.arange(40, dtype=np.float32).reshape(2, 5, 4))
        got.append(arr(lib.einsum("bij,bkj->bik", s, s).view(2, 25)))
    same(*got)


@pytest.mark.parametrize("write", ["y.copy_(z * z)", "y[...] = z * z"])
def test_second_derivative_through_a_copy_over_a_non_leaf_as_torch(write: str) -> None:
    """The zero-gradient edge a copy keeps to the value it overwrote (so that value's leaf gets a zero ``.grad``)
    could not be differentiated again: create_graph through ``y.copy_(...)`` raised NotImplementedError."""
    results = []
    for lib in (torch, tg):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        z = lib.tensor([3.0, -4.0], dtype=lib.float64, requires_grad=True)
        y = x * 2
        exec(write, {"y": y, "z": z})
        gx, gz = lib.autograd.grad((y * y).sum(), (x, z), create_graph=True)
        (hz,) = lib.autograd.grad(gz.sum(), z)
        results.append((gx.tolist(), gz.tolist(), hz.tolist()))
    assert results[1] == results[0]
