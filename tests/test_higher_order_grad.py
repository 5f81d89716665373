"""Higher-order gradients (``create_graph=True`` in ``autograd.grad`` and ``Tensor.backward``) against torch 2.13:
first derivatives through the recorded backward, Hessian-vector products grad(<grad(f), v>), third derivatives,
a WGAN-GP gradient penalty, MAML's inner step, hooks, retain_grad, ``.grad`` accumulation, ``backward(inputs=...)``,
and the NotImplementedError of ops without a differentiable backward.

``second_order(f, *arrays)`` runs in both libraries: y = sum(w * f(x...)) with fixed weights w, g = grad(y, x,
create_graph=True), then grad(sum(g_i * v_i), x) with fixed v: the Hessian-vector product. Values, dtypes, shapes,
which gradients require grad, and which are None must agree (nan where torch has nan).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import FINITE, SPECIAL, arrays, dim_of

import tinygrad_adam as tg
import tinygrad_adam.autograd as tga

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
F = {torch: torch.nn.functional, tg: tg.nn.functional}
GRAD = {torch: torch.autograd.grad, tg: tga.grad}
TOL = {np.float64: 1e-9, np.float32: 2e-4}
DTYPES = st.sampled_from([np.float64, np.float32])


def _fixed(shape: tuple[int, ...], phase: float) -> np.ndarray:
    return np.cos(np.arange(int(np.prod(shape))) * 0.7 + phase).reshape(shape)


def _np(t: Any) -> np.ndarray | None:
    return None if t is None else (t.detach().numpy(force=True) if isinstance(t, torch.Tensor) else t.numpy())


def _hvp(lib: Any, f: Callable[..., Any], arrays_: tuple[np.ndarray, ...]) -> tuple[list, list, list]:
    xs = [lib.tensor(a, requires_grad=True) for a in arrays_]
    out = f(lib, *xs)
    y = (out * lib.tensor(_fixed(tuple(out.shape), 0.3).astype(arrays_[0].dtype))).sum()
    gs = GRAD[lib](y, xs, create_graph=True, allow_unused=True)
    live = [(g, lib.tensor(_fixed(tuple(g.shape), 1.1).astype(g.numpy().dtype if lib is tg else
                                                                 g.detach().numpy().dtype)))
            for g in gs if g is not None and g.requires_grad]
    hv: list[Any] = [None] * len(xs)
    if live:
        z = sum((g * v).sum() for g, v in live)
        hv = list(GRAD[lib](z, xs, allow_unused=True))
    return [_np(g) for g in gs], [g is not None and g.requires_grad for g in gs], [_np(h) for h in hv]


def _close(a: np.ndarray | None, b: np.ndarray | None, rtol: float, atol: float | None = None) -> None:
    if a is None or b is None:  # torch's None and our zeros (or the reverse) are both "no dependence"
        other = b if a is None else a
        assert other is None or not np.any(other), (a, b)
        return
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol if atol is None else atol, equal_nan=True)


def _at_the_edge(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """``a`` with each finite entry within a factor of 16 of the largest float taken as ``b``'s where that is an
    infinity of its sign: near the edge of the range torch's formula overflows an intermediate where ours does not
    (rsqrt's first derivative at x = 2.4e-206 is -1.2965e308, ours; torch's -g y^3 / 2 overflows to -inf: hunt
    50018)."""
    if a is None or b is None or a.shape != b.shape or a.dtype.kind != "f":
        return a
    edge = np.isfinite(a) & np.isinf(b) & (np.sign(a) == np.sign(b)) & (np.abs(a) > np.finfo(a.dtype).max / 16)
    return np.where(edge, b, a) if edge.any() else a


def _scale(values: list[np.ndarray | None]) -> float:
    """The largest finite magnitude among ``values`` (at least 1): a Hessian-vector product adds terms of every
    size, so its rounding error is relative to the largest of them (float32: 43381 - 43385 is 4 +- 0.01)."""
    finite = [np.abs(v[np.isfinite(v)]).max() for v in values if v is not None and np.isfinite(v).any()]
    return max([1.0, *finite])


def second_order(f: Callable[..., Any], *arrays_: np.ndarray) -> None:
    """Gradients with create_graph, which of them require grad, and the Hessian-vector product agree with torch
    (or both raise); the create_graph gradient equals our first-order one."""
    try:
        theirs = _hvp(torch, f, arrays_)
    except (RuntimeError, ValueError, IndexError, TypeError):
        with pytest.raises((RuntimeError, ValueError, IndexError, TypeError)):
            _hvp(tg, f, arrays_)
        return
    ours = _hvp(tg, f, arrays_)
    rtol = TOL[arrays_[0].dtype.type]
    for a, b in zip(ours[0], theirs[0]):
        _close(_at_the_edge(a, b), b, rtol)
    assert ours[1] == theirs[1], ("requires_grad of the gradients", ours[1], theirs[1])
    scale = _scale(theirs[0] + theirs[2])
    for i, (a, b) in enumerate(zip(ours[2], theirs[2])):
        try:
            _close(a, b, rtol, rtol * scale)
        except AssertionError:  # float32 where torch's own product is off: ours no farther from torch's float64
            if arrays_[0].dtype != np.float32 or a is None or b is None or (np.isnan(a) != np.isnan(b)).any():
                raise  # (batch_norm's on a column of variance 0.01: torch's float32 3.2e-4 off, ours 1.7e-5)
            exact = _hvp(torch, f, tuple(x.astype(np.float64) for x in arrays_))[2][i]
            with np.errstate(invalid="ignore"):
                assert np.nanmax(np.abs(a - exact)) <= np.nanmax(np.abs(b - exact)), (a, b, exact)
    firsts = []  # first order, as before: torch's first-order gradient (its kernel where it has one: logit at -0.0
    for lib in (tg, torch):  # is g * inf there, its create_graph formula's g / -0.0)
        xs = [lib.tensor(a, requires_grad=True) for a in arrays_]
        out = f(lib, *xs)
        weights = lib.tensor(_fixed(tuple(out.shape), 0.3).astype(arrays_[0].dtype))
        firsts.append([_np(g) for g in GRAD[lib]((out * weights).sum(), xs, allow_unused=True)])
    for a, b in zip(*firsts):
        _close(_at_the_edge(a, b), b, rtol)


def typed(x: np.ndarray, dtype: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        return x.astype(dtype)


ELEMENTS = st.floats(-4, 4) | SPECIAL  # moderate values with the special ones (nan, inf, +-0, huge) mixed in


NO_HUGE = st.floats(-4, 4) | st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan])


def small_arrays(**kw: Any) -> Any:
    return arrays(elements=ELEMENTS, **kw)


UNARY: dict[str, Callable[..., Any]] = {
    "exp": lambda lib, x: x.exp(), "log": lambda lib, x: x.log(), "sqrt": lambda lib, x: x.sqrt(),
    "tanh": lambda lib, x: x.tanh(), "sigmoid": lambda lib, x: x.sigmoid(), "relu": lambda lib, x: x.relu(),
    "abs": lambda lib, x: x.abs(), "sin": lambda lib, x: x.sin(), "cos": lambda lib, x: x.cos(),
    "neg": lambda lib, x: -x * x, "square": lambda lib, x: x * x, "cube": lambda lib, x: x ** 3,
    "pow_half": lambda lib, x: x ** 0.5, "pow_neg": lambda lib, x: x ** -1.5, "pow_zero": lambda lib, x: x ** 0,
    "pow_two": lambda lib, x: x ** 2, "rpow": lambda lib, x: 2.0 ** x, "rdiv": lambda lib, x: 1 / x,
    "softplus": lambda lib, x: F[lib].softplus(x), "softplus_beta": lambda lib, x: F[lib].softplus(x, 2.0, 3.0),
    "gelu": lambda lib, x: F[lib].gelu(x), "gelu_tanh": lambda lib, x: F[lib].gelu(x, approximate="tanh"),
    "silu": lambda lib, x: F[lib].silu(x), "clone": lambda lib, x: x.clone() * x,
    "f32_to_f64": lambda lib, x: (x.float() * x).double(),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=25, deadline=None)
@given(x=small_arrays(), dtype=DTYPES)
def test_unary(name: str, x: np.ndarray, dtype: Any) -> None:
    if name == "softplus_beta":  # at x beta == threshold exactly, torch's double backward is 0 (its first-order
        x = np.where(x * 2.0 == 3.0, 1.25, x)  # branch is the softplus one): ours is softplus's (README)
    second_order(UNARY[name], typed(x, dtype))


BINARY: dict[str, Callable[..., Any]] = {
    "add": lambda lib, a, b: (a + b) * a, "sub": lambda lib, a, b: (a - b) * b, "mul": lambda lib, a, b: a * b,
    "div": lambda lib, a, b: a / b, "pow": lambda lib, a, b: a ** b,
    "maximum": lambda lib, a, b: lib.maximum(a, b) * a, "minimum": lambda lib, a, b: lib.minimum(a, b) * b,
    "where": lambda lib, a, b: lib.where(a > b, a * a, b * a),
    "mse": lambda lib, a, b: F[lib].mse_loss(a * b, (a * b).tanh()),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_binary_broadcasting(name: str, data: st.DataObject, dtype: Any) -> None:
    a = data.draw(small_arrays(max_dims=3))
    # b broadcasts against a: a suffix of a's shape with some sides set to 1
    tail = a.shape[data.draw(st.integers(0, a.ndim)):]
    b = data.draw(hnp.arrays(np.float64, tuple(1 if data.draw(st.booleans()) else n for n in tail), elements=ELEMENTS))
    if data.draw(st.booleans()):
        a, b = b, a
    second_order(BINARY[name], typed(a, dtype), typed(b, dtype))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_matmul_and_linear(data: st.DataObject, dtype: Any) -> None:
    n, k, m = (data.draw(st.integers(0, 3)) for _ in range(3))
    batch = data.draw(st.sampled_from([(), (2,), (1, 2)]))
    el = st.floats(-3, 3) | st.sampled_from([0.0, -0.0])  # (BLAS's inf - inf is not always nan: a forward matter)

    def draw(shape: tuple[int, ...]) -> np.ndarray:
        return data.draw(hnp.arrays(np.float64, shape, elements=el))
    for sa, sb in [(batch + (n, k), (k, m)), ((k,), (k, m)), ((n, k), (k,)), ((k,), (k,)), ((n, k), batch + (k, m))]:
        a, b = typed(draw(sa), dtype), typed(draw(sb), dtype)
        second_order(lambda lib, x, y: (x @ y).tanh() if (x @ y).ndim else (x @ y) * (x @ y), a, b)
    x, w, bias = typed(draw(batch + (n, k)), dtype), typed(draw((m, k)), dtype), typed(draw((m,)), dtype)
    second_order(lambda lib, x, w, b: F[lib].linear(x, w, b).tanh() * x.sum(), x, w, bias)
    second_order(lambda lib, x, w: F[lib].linear(x, w) ** 2, x, w)


@settings(max_examples=60, deadline=None)
@given(x=arrays(elements=NO_HUGE), data=st.data(), dtype=DTYPES)  # (1e300 - 1e300 + 1 + ...: summation order)
def test_reductions_and_movement(x: np.ndarray, data: st.DataObject, dtype: Any) -> None:
    x = typed(x, dtype)
    d, keep = dim_of(data, x.ndim), data.draw(st.booleans())
    dims = data.draw(st.lists(st.integers(0, max(x.ndim, 1) - 1), unique=True, min_size=1, max_size=max(x.ndim, 1)))
    second_order(lambda lib, t: t.sum() * t.sin(), x)
    second_order(lambda lib, t: t.sum(d, keepdim=keep).tanh() * t.mean(d, keepdim=keep), x)
    if x.ndim:
        second_order(lambda lib, t: t.mean(dims, keepdim=keep).exp(), x)
        second_order(lambda lib, t: t.sum(dims).sin(), x)
    second_order(lambda lib, t: t.reshape(-1).tanh() * t.view(-1), x)
    second_order(lambda lib, t: t.unsqueeze(d if x.ndim else 0).tanh().squeeze(), x)
    perm = data.draw(st.permutations(range(x.ndim)))
    second_order(lambda lib, t: t.permute(tuple(perm)).tanh() * t.permute(tuple(perm)), x)
    if x.ndim >= 2:
        second_order(lambda lib, t: t.transpose(0, -1).sin() * t.mT.sum(), x)
    second_order(lambda lib, t: t.expand(2, *x.shape).tanh() * t, x)
    second_order(lambda lib, t: lib.broadcast_to(t, (3,) + x.shape).cos().sum(0), x)
    other = typed(data.draw(hnp.arrays(np.float64, x.shape, elements=NO_HUGE)), dtype)
    if x.ndim:
        second_order(lambda lib, a, b: lib.cat([a * a, b, a * b], d).tanh(), x, other)
    second_order(lambda lib, a, b: lib.stack([a * b, b.exp()], d if x.ndim else 0).sin(), x, other)


@settings(max_examples=60, deadline=None)
@given(x=small_arrays(min_dims=1, min_side=1), data=st.data(), dtype=DTYPES)
def test_getitem(x: np.ndarray, data: st.DataObject, dtype: Any) -> None:
    x = typed(x, dtype)
    slices = tuple(slice(data.draw(st.integers(-n, n)), data.draw(st.integers(-n, n)), data.draw(st.integers(1, 2)))
                   for n in x.shape)
    second_order(lambda lib, t: t[slices].tanh() * t[slices], x)
    second_order(lambda lib, t: t[0].exp() * t[..., -1:].sum(), x)
    idx = np.asarray(data.draw(st.lists(st.integers(0, x.shape[0] - 1), max_size=5)), dtype=np.int64)
    second_order(lambda lib, t: (t[lib.tensor(idx)] ** 3) * t[None, 0], x)  # repeated rows add up


@settings(max_examples=40, deadline=None)
@given(x=small_arrays(min_dims=1), data=st.data(), dtype=DTYPES)
def test_softmax_family(x: np.ndarray, data: st.DataObject, dtype: Any) -> None:
    x = typed(x, dtype)
    d = dim_of(data, x.ndim)
    second_order(lambda lib, t: F[lib].log_softmax(t, dim=d), x)
    second_order(lambda lib, t: F[lib].softmax(t, dim=d), x)
    second_order(lambda lib, t: F[lib].softmax(t * t, dim=-1) * t, x)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_cross_entropy(data: st.DataObject, dtype: Any) -> None:
    n, c = data.draw(st.integers(0, 4)), data.draw(st.integers(1, 4))
    x = typed(data.draw(hnp.arrays(np.float64, (n, c), elements=ELEMENTS)), dtype)
    t = np.asarray(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    probs = typed(data.draw(hnp.arrays(np.float64, (n, c), elements=st.floats(0, 1))), dtype)
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    second_order(lambda lib, z: F[lib].cross_entropy(z * z, lib.tensor(t), reduction=reduction), x)
    second_order(lambda lib, z: F[lib].cross_entropy(z.tanh() * 3, lib.tensor(probs), reduction=reduction), x)
    w = typed(np.linspace(0.5, 2, c), dtype)
    smooth, ignore = data.draw(st.sampled_from([0.0, 0.2])), data.draw(st.sampled_from([-100, 0]))
    second_order(lambda lib, z: F[lib].cross_entropy(z.sin(), lib.tensor(t), lib.tensor(w), ignore_index=ignore,
                                                     label_smoothing=smooth, reduction=reduction), x)


@pytest.mark.parametrize("f", [lambda lib, x: x.tanh(), lambda lib, x: x.exp(), lambda lib, x: x ** 3,
                               lambda lib, x: x ** 2.5, lambda lib, x: x ** x, lambda lib, x: F[lib].softplus(x).sin(),
                               lambda lib, x: (x @ x.T).sigmoid() * F[lib].silu(x).sum()])
@settings(max_examples=20, deadline=None)
@given(x=arrays(min_dims=2, max_dims=2, elements=st.floats(0.1, 2) | st.sampled_from([0.0, np.inf, np.nan])),
       dtype=DTYPES)
def test_third_derivative(f: Callable[..., Any], x: np.ndarray, dtype: Any) -> None:
    x = typed(x, dtype)
    results = []
    for lib in (torch, tg):
        t = lib.tensor(x, requires_grad=True)
        (g1,) = GRAD[lib](f(lib, t).sum(), t, create_graph=True)
        (g2,) = GRAD[lib](g1.sum(), t, create_graph=True)
        (g3,) = GRAD[lib](g2.sum(), t)
        results.append([_np(g) for g in (g1, g2, g3)])
    for a, b in zip(*results):
        _close(b, a, TOL[x.dtype.type] * 10)


def _mlp(lib: Any, seed: int, dtype: Any) -> list[Any]:
    rng = np.random.default_rng(seed)
    shapes = [(5, 3), (5,), (1, 5), (1,)]
    return [lib.tensor(rng.normal(size=s).astype(dtype), requires_grad=True) for s in shapes]


@settings(max_examples=15, deadline=None)
@given(x=arrays(min_dims=2, max_dims=2, elements=FINITE).filter(lambda a: a.shape[1] == 3 or a.size == 0),
       seed=st.integers(0, 9), dtype=DTYPES)
def test_gradient_penalty(x: np.ndarray, seed: int, dtype: Any) -> None:
    """WGAN-GP: ((|grad_x D(x)| - 1)^2).mean() backpropagated into D's weights."""
    x = typed(np.resize(x, (x.shape[0], 3)) / 100, dtype)
    grads = []
    for lib in (torch, tg):
        w1, b1, w2, b2 = params = _mlp(lib, seed, dtype)
        t = lib.tensor(x, requires_grad=True)
        d = F[lib].linear(F[lib].softplus(F[lib].linear(t, w1, b1)) * F[lib].gelu(t).sum(), w2, b2)
        (g,) = GRAD[lib](d.sum(), t, create_graph=True)
        penalty = ((g.norm(2, dim=1) - 1) ** 2).mean() + d.mean()
        penalty.backward()
        grads.append([_np(p.grad) for p in params] + [_np(t.grad)])
    for a, b in zip(*grads):
        _close(b, a, TOL[x.dtype.type] * 10)


def test_maml_inner_step() -> None:
    """w' = w - lr grad(L(w)) with create_graph; L'(w').backward() reaches w through the inner gradient."""
    x = np.linspace(-1, 1, 12).reshape(4, 3)
    grads = []
    for lib in (torch, tg):
        w, b, w2, b2 = _mlp(lib, 0, np.float64)
        loss = F[lib].mse_loss(F[lib].linear(F[lib].linear(lib.tensor(x), w, b).tanh(), w2, b2), lib.tensor(x[:, :1]))
        gw, gb = GRAD[lib](loss, [w, b], create_graph=True)
        w_new, b_new = w - 0.1 * gw, b - 0.1 * gb
        outer = F[lib].linear(F[lib].relu(F[lib].linear(lib.tensor(x * 2), w_new, b_new)), w2, b2).pow(2).mean()
        outer.backward()
        grads.append([_np(p.grad) for p in (w, b, w2, b2)])
    for a, b in zip(*grads):
        _close(b, a, 1e-10)


def _pinn(lib: Any) -> list[np.ndarray]:
    """A physics-informed residual: u'' + u of u(t) = MLP(t), d/dt twice with create_graph, into the weights."""
    w1, b1, w2, b2 = params = _mlp(lib, 3, np.float64)
    w1 = w1[:, :1]
    t = lib.tensor(np.linspace(0, 1, 6).reshape(6, 1), requires_grad=True)
    u = F[lib].linear(F[lib].linear(t, w1, b1).tanh(), w2, b2)
    (du,) = GRAD[lib](u.sum(), t, create_graph=True)
    (ddu,) = GRAD[lib](du.sum(), t, create_graph=True)
    ((ddu + u) ** 2).mean().backward()
    return [_np(p.grad) for p in params]


def test_physics_informed_loss() -> None:
    for a, b in zip(_pinn(tg), _pinn(torch)):
        _close(a, b, 1e-10)


def test_backward_create_graph_then_grad_of_grad() -> None:
    """backward(create_graph=True): x.grad has history; x.grad.sum().backward() adds its gradient into x.grad."""
    results = []
    for lib in (torch, tg):
        x = lib.tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
        w = lib.tensor(np.array([[1.0, 2.0, -1.0], [0.5, 0.1, 3.0]]), requires_grad=True)
        ((w @ x).tanh() ** 2).sum().backward(create_graph=True)
        first = [_np(x.grad), _np(w.grad), x.grad.requires_grad, w.grad.requires_grad]
        gx = x.grad
        x.grad = None
        w.grad = None
        (gx * gx).sum().backward()
        results.append([*first, _np(x.grad), _np(w.grad)])
        # accumulation: a create_graph backward adds into .grad with history, as torch's
        y = (x * x * w).sum()
        y.backward(create_graph=True)
        y.backward(create_graph=True)
        results[-1] += [_np(x.grad), x.grad.requires_grad]
    for a, b in zip(*results):
        if isinstance(a, bool):
            assert a == b
        else:
            _close(b, a, 1e-12)


def _hooked(x: Any, seen: list[bool]) -> tuple[Any, Any]:
    """h = sin(x) with a hook that notes whether its gradient requires grad and returns it times h; sum(h^3)."""
    h = x.sin()
    h.register_hook(lambda grad: seen.append(grad.requires_grad) or grad * h)  # the result keeps its history
    return h, (h ** 3).sum()


def test_hooks_retain_grad_and_retain_graph() -> None:
    results = []
    for lib in (torch, tg):
        x = lib.tensor(np.array([0.5, -0.25, 1.5]), requires_grad=True)
        seen: list[bool] = []

        h, y = _hooked(x, seen)
        (g,) = GRAD[lib](y, x, create_graph=True)
        (gg,) = GRAD[lib](g.sum(), x, retain_graph=True)  # through y's graph, kept: retain_graph=create_graph
        (gy,) = GRAD[lib](y, x)  # and once more
        h, y = _hooked(x, seen)
        h.retain_grad()
        y.backward(create_graph=True)
        results.append([_np(g), _np(gg), _np(gy), _np(h.grad), h.grad.requires_grad, seen, _np(x.grad),
                        x.grad.requires_grad])
    for a, b in zip(*results):
        if isinstance(a, (bool, list)):
            assert a == b
        else:
            _close(b, a, 1e-12)


def test_grad_outputs_with_history() -> None:
    """A grad_output that requires grad is differentiated through too (the double-backward jvp trick)."""
    results = []
    for lib in (torch, tg):
        x = lib.tensor(np.array([[0.5, -0.25], [1.5, 2.0]]), requires_grad=True)
        y = (x @ x).tanh()
        u = lib.zeros_like(y, requires_grad=True)
        (vjp,) = GRAD[lib](y, x, grad_outputs=u, create_graph=True)
        (jvp,) = GRAD[lib](vjp, u, grad_outputs=lib.ones_like(x))
        results.append([_np(vjp), _np(jvp)])
    for a, b in zip(*results):
        _close(b, a, 1e-12)


def test_backward_inputs() -> None:
    results = []
    for lib in (torch, tg):
        x = lib.tensor(np.array([0.5, -0.25]), requires_grad=True)
        w = lib.tensor(np.array([2.0, 3.0]), requires_grad=True)
        h = x * w
        (h.exp().sum()).backward(inputs=[x, h], retain_graph=True)
        first = [_np(x.grad), _np(h.grad)]
        x.grad = h.grad = None
        (h.exp().sum()).backward(inputs=w, create_graph=True)
        first += [w.grad.requires_grad, _np(w.grad)]
        x.grad = h.grad = None
        x.grad = h.grad = w.grad = None
        (h * h).sum().backward()  # h was an input: it keeps its .grad from now on, as with retain_grad
        results.append([*first, _np(x.grad), _np(h.grad)])
        with pytest.raises(RuntimeError):
            h.sum().backward(inputs=[])
    for a, b in zip(*results):
        if isinstance(a, bool):
            assert a == b
        else:
            _close(b, a, 1e-12)


@pytest.mark.parametrize("op, f", [
    ("hardsigmoid", lambda lib, x: lib.nn.functional.hardsigmoid(x)),  # (torch: not implemented either)
    ("cdist", lambda lib, x: lib.cdist(x[None, :, None], x[None, :2, None])),  # (torch: not implemented either)
])
def test_unsupported_ops_raise(op: str, f: Callable[[Any, Any], Any]) -> None:
    x = tg.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    with pytest.raises(NotImplementedError, match=f"double backward through {op} is not supported"):
        tga.grad(f(tg, x).sum(), x, create_graph=True)
    with pytest.raises(NotImplementedError, match=f"double backward through {op}"):
        f(tg, x).sum().backward(create_graph=True)
    (g,) = tga.grad(f(tg, x).sum(), x)  # first order: unchanged
    xt = torch.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    np.testing.assert_allclose(g.numpy(), torch.autograd.grad(f(torch, xt).sum(), xt)[0].numpy(), rtol=1e-12)


def test_signatures_and_errors() -> None:
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    (g,) = tga.grad(y, [x], None, None, True)  # torch's positional order: ..., retain_graph, create_graph
    assert g.requires_grad and g.grad_fn is not None
    (g2,) = tga.grad(y, x, retain_graph=False)  # retain_graph defaulted to True above; now freed
    np.testing.assert_allclose(g2.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        tga.grad(y, x)
    z = (x * x).sum()
    z.backward(create_graph=False)
    with pytest.raises(RuntimeError, match="second time"):
        z.backward()


@settings(max_examples=25, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
                    elements=st.floats(-3, 3)), inputs=st.booleans(), create=st.booleans())
def test_autograd_backward_of_several_tensors_as_torch(x: np.ndarray, inputs: bool, create: bool) -> None:
    """torch.autograd.backward(tensors, grad_tensors, inputs=...), which Tensor.backward calls."""
    results = []
    for lib in (torch, tg):
        a = lib.tensor(x, requires_grad=True)
        b = lib.tensor(x * 2 + 1, requires_grad=True)
        outs = [(a * b).sum(), a.tanh() * b]
        seed = lib.tensor(np.cos(np.arange(x.size)).reshape(x.shape))
        lib.autograd.backward(outs, [None, seed], create_graph=create, inputs=[a] if inputs else None)
        results.append([None if t.grad is None else t.grad.detach().numpy() for t in (a, b)])
    for ours, theirs in zip(results[1], results[0], strict=True):
        assert (ours is None) == (theirs is None)
        if ours is not None:
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
