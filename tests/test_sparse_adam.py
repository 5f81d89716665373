"""Sparse embedding gradients (``embedding(..., sparse=True)``, ``EmbeddingBag(sparse=True)``) and
``optim.SparseAdam`` against torch 2.13: the same tables, the same index batches (repeats, padding_idx, max_norm),
several steps; gradients compared as torch keeps them (row lists in order, uncoalesced) and after ``coalesce()``,
parameters and optimizer state step by step; what the other optimizers, clipping, ``zero_grad``, GradScaler and
``Module.to`` do with a sparse gradient; and the errors.

Gradient coefficients are multiples of 1/4 (and inf, nan, -0): their sums are exact in any order, so the coalesced
values must agree bit for bit (torch's ``coalesce`` adds repeated rows in an order of its own).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_torch_movement_names import raises

import tinygrad_adam as tg
from tinygrad_adam import nn, optim
from tinygrad_adam.nn import functional as F

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
warnings.filterwarnings("ignore", message="Sparse invariant checks")  # torch's note on building sparse tensors

DTYPES = st.sampled_from([np.float32, np.float64])
COEF = st.integers(-32, 32).map(lambda i: i / 4) | st.sampled_from([-0.0, np.inf, -np.inf, np.nan])
SETTINGS = settings(max_examples=40, deadline=None)


def close(ours: Any, theirs: Any, exact: bool = True) -> None:
    a = ours.numpy() if hasattr(ours, "numpy") and not isinstance(ours, np.ndarray) else np.asarray(ours)
    b = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    tol = 0 if exact else (1e-5 if a.dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)


def same_grad(ours: Any, theirs: Any, exact: bool = True, layout: bool = True) -> None:
    """Both sparse (or both dense) with the same coalesced rows and values; with ``layout`` the same rows in the same
    order before (after several passes torch's row order and merging depend on its memory layout: not compared)."""
    assert ours.is_sparse == theirs.is_sparse
    if not theirs.is_sparse:
        close(ours, theirs, exact)
        return
    assert ours.shape == tuple(theirs.shape) and ours.dtype == theirs._values().numpy().dtype
    if layout:
        assert ours._nnz() == theirs._nnz() and ours.is_coalesced() == theirs.is_coalesced()
        close(ours._indices(), theirs._indices())
        close(ours._values(), theirs._values(), exact)
    a, b = ours.coalesce(), theirs.coalesce()
    assert a.is_coalesced() and b.is_coalesced()
    close(a.indices(), b.indices())
    close(a.values(), b.values(), exact)
    close(ours.to_dense(), theirs.to_dense(), exact)


@st.composite
def batches(draw: Any, num: int, steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``steps`` index batches (0-d, 1-D or 2-D, repeats likely, empty possible) with a coefficient per output."""
    out = []
    for _ in range(steps):
        shape = draw(st.sampled_from([(), (0,), (1,), (3,), (6,), (2, 3), (4, 2)]))
        idx = np.array(draw(st.lists(st.integers(0, num - 1), min_size=int(np.prod(shape)),
                                     max_size=int(np.prod(shape)))), dtype=np.int64).reshape(shape)
        out.append(idx)
    return out


def coefs(data: st.DataObject, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    flat = data.draw(st.lists(COEF, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return np.array(flat, dtype=dtype).reshape(shape)


def table(data: st.DataObject, num: int, dim: int, dtype: Any) -> np.ndarray:
    flat = data.draw(st.lists(st.floats(-4, 4, width=32), min_size=num * dim, max_size=num * dim))
    return np.array(flat, dtype=dtype).reshape(num, dim)


def both(f: Callable[[Any], Any]) -> tuple[Any, Any]:
    return f(tg), f(torch)


def tensor(lib: Any, a: np.ndarray, requires_grad: bool = False) -> Any:
    return lib.tensor(a, requires_grad=requires_grad) if lib is torch else tg.Tensor(a, requires_grad=requires_grad)


# ---------------------------------------------------------------- the sparse gradients
@SETTINGS
@given(data=st.data(), num=st.integers(1, 5), dim=st.integers(0, 3), dtype=DTYPES, passes=st.integers(1, 3))
def test_embedding_sparse_gradient_as_torch(data: st.DataObject, num: int, dim: int, dtype: Any, passes: int) -> None:
    w0 = table(data, num, dim, dtype)
    padding_idx = data.draw(st.none() | st.integers(-num, num - 1))
    max_norm = data.draw(st.none() | st.sampled_from([0.5, 2.0]))
    module = data.draw(st.booleans()) and dim > 0  # (our Embedding refuses a width of 0; torch's takes it)
    idx = data.draw(batches(num, passes))
    cs = [coefs(data, (*i.shape, dim), dtype) for i in idx]
    int32 = data.draw(st.booleans())

    def run(lib: Any) -> Any:
        if module:
            emb = lib.nn.Embedding(num, dim, padding_idx=padding_idx, max_norm=max_norm, sparse=True)
            emb.weight = lib.nn.Parameter(tensor(lib, w0.copy()))
            w, f = emb.weight, emb
        else:
            w = tensor(lib, w0.copy(), True)
            fn = torch.nn.functional.embedding if lib is torch else F.embedding

            def f(i: Any) -> Any:
                return fn(i, w, padding_idx=padding_idx, max_norm=max_norm, sparse=True)
        for i, c in zip(idx, cs):
            ii = tensor(lib, i.astype(np.int32) if int32 else i)
            (f(ii) * tensor(lib, c)).sum().backward()
        return w

    ours = run(tg)
    if padding_idx is not None and any(i.ndim == 0 for i in idx):
        # torch's sparse backward cannot drop the padding row from a 0-d input (IndexError); ours gives the rows
        with pytest.raises(IndexError):
            run(torch)
        dense = tg.Tensor(w0.copy(), requires_grad=True)
        for i, c in zip(idx, cs):
            out = F.embedding(tg.Tensor(i), dense, padding_idx=padding_idx, max_norm=max_norm)
            (out * tg.Tensor(c)).sum().backward()
        close(ours.grad.to_dense(), dense.grad.numpy())
        return
    theirs = run(torch)
    close(ours.detach(), theirs, exact=max_norm is None)  # (max_norm rescales the picked rows in place, to an ulp)
    same_grad(ours.grad, theirs.grad, layout=passes == 1)
    assert ours.grad.dtype == dtype and ours.grad.shape == (num, dim) and ours.grad.device == "cpu"
    assert ours.grad._indices().dtype == np.int64


@SETTINGS
@given(data=st.data(), num=st.integers(1, 5), dim=st.integers(1, 3), dtype=DTYPES,
       mode=st.sampled_from(["sum", "mean"]))
def test_embedding_bag_sparse_gradient_as_torch(data: st.DataObject, num: int, dim: int, dtype: Any,
                                                mode: str) -> None:
    w0 = table(data, num, dim, dtype)
    padding_idx = data.draw(st.none() | st.integers(0, num - 1))
    two_d = data.draw(st.booleans())
    if two_d:
        idx = data.draw(batches(num, 1))[0].reshape(-1)[:6]
        idx = np.resize(idx, (2, 3)) if idx.size else np.zeros((0, 3), np.int64)
        offsets = None
    else:
        idx = np.array(data.draw(st.lists(st.integers(0, num - 1), max_size=7)), dtype=np.int64)
        offsets = np.array(sorted(data.draw(st.lists(st.integers(0, len(idx)), min_size=1, max_size=3))[1:]))
        offsets = np.concatenate([[0], offsets]).astype(np.int64)
    psw = coefs(data, idx.shape, dtype) if mode == "sum" and data.draw(st.booleans()) else None
    bags = idx.shape[0] if two_d else len(offsets)
    c = coefs(data, (bags, dim), dtype)

    def run(lib: Any) -> Any:
        bag = lib.nn.EmbeddingBag(num, dim, mode=mode, sparse=True, padding_idx=padding_idx)
        bag.weight = (torch.nn.Parameter(torch.tensor(w0)) if lib is torch
                      else tg.nn.Parameter(tg.Tensor(w0.copy())))
        out = bag(tensor(lib, idx), None if offsets is None else tensor(lib, offsets),
                  None if psw is None else tensor(lib, psw))
        (out * tensor(lib, c)).sum().backward()
        return bag.weight

    ours, theirs = both(run)
    same_grad(ours.grad, theirs.grad, exact=False)  # (a mean divides each row before the repeats are summed)


def test_accumulation_keeps_torchs_layout_and_order() -> None:
    """Sparse + sparse concatenates (merged when both are coalesced); any dense gradient makes the sum dense; a
    hook and autograd.grad see the sparse gradient; zero_grad(set_to_none=False) empties it."""
    w0 = np.arange(12, dtype=np.float32).reshape(6, 2)
    i1, i2 = np.array([[1, 2, 1], [4, 1, 0]]), np.array([5, 2, 2])

    def emb(lib: Any, w: Any, i: np.ndarray, **kw: Any) -> Any:
        return (torch.nn.functional.embedding if lib is torch else F.embedding)(tensor(lib, i), w, sparse=True, **kw)

    def scenario(lib: Any, name: str) -> Any:
        w = tensor(lib, w0.copy(), True)
        if name == "twice":
            emb(lib, w, i1, padding_idx=1).sum().backward()
            emb(lib, w, i2).sum().backward()
        elif name == "one graph, two lookups":
            (emb(lib, w, i1).sum() + (emb(lib, w, i2) * 3).sum()).backward()
        elif name == "coalesced + new":
            emb(lib, w, i1).sum().backward()
            w.grad = w.grad.coalesce()
            emb(lib, w, i2).sum().backward()
        elif name == "mixed in one graph":
            (emb(lib, w, i1).sum() + (w * 2).sum()).backward()
        elif name == "sparse then dense":
            emb(lib, w, i1).sum().backward()
            (w * w).sum().backward()
        elif name == "dense then sparse":
            (w * w).sum().backward()
            emb(lib, w, i1).sum().backward()
        elif name == "single rows":  # both coalesced (and, after the product, contiguous): torch merges them
            (emb(lib, w, np.array([3])) * 2).sum().backward()
            (emb(lib, w, np.array([1])) * 2).sum().backward()
        elif name == "zeroed then new":
            emb(lib, w, i1).sum().backward()
            (torch.optim.SGD([w], lr=0.1) if lib is torch else optim.SGD([w], lr=0.1)).zero_grad(set_to_none=False)
            assert w.grad.is_sparse and w.grad._nnz() == 0
            emb(lib, w, i2).sum().backward()
        return w.grad

    for name in ("twice", "one graph, two lookups", "coalesced + new", "mixed in one graph", "sparse then dense",
                 "dense then sparse", "single rows", "zeroed then new"):
        same_grad(*both(lambda lib, name=name: scenario(lib, name)))

    for lib in (tg, torch):
        w = tensor(lib, w0.copy(), True)
        seen = []
        w.register_hook(lambda g, seen=seen: seen.append(g.is_sparse))
        emb(lib, w, i1).sum().backward()
        assert seen == [True]
        (g,) = (torch.autograd.grad if lib is torch else tg.autograd.grad)(emb(lib, w, i2).sum(), w)
        assert g.is_sparse and g._indices().tolist() == [[5, 2, 2]]
        nn_module = lib.nn.Embedding(6, 2, sparse=True)
        nn_module(tensor(lib, i1)).sum().backward()
        nn_module.zero_grad(set_to_none=False)
        assert nn_module.weight.grad.is_sparse and nn_module.weight.grad._nnz() == 0
        nn_module.zero_grad()
        assert nn_module.weight.grad is None


def test_a_weight_made_by_ops_gets_the_dense_values() -> None:
    """torch passes the sparse gradient through the ops that made the weight; here they get (and pass on) the
    dense one: the same values, a dense layout (README, Differences)."""
    w0 = np.arange(12, dtype=np.float64).reshape(6, 2)
    i = np.array([1, 1, 4])
    theirs = torch.tensor(w0, requires_grad=True)
    torch.nn.functional.embedding(torch.tensor(i), theirs * 2, sparse=True).sum().backward()
    ours = tg.Tensor(w0, requires_grad=True)
    F.embedding(tg.Tensor(i), ours * 2, sparse=True).sum().backward()
    assert theirs.grad.is_sparse and not ours.grad.is_sparse
    close(ours.grad, theirs.grad.to_dense())


def test_sparse_gradient_api_and_refusals() -> None:
    w = tg.Tensor(np.ones((5, 3), np.float32), requires_grad=True)
    F.embedding(tg.Tensor(np.array([3, 0, 3])), w, sparse=True).sum().backward()
    g = w.grad
    assert g.is_sparse and not w.is_sparse and g.layout == tg.sparse_coo and g.size() == (5, 3) and g.size(1) == 3
    assert g.dim() == g.ndim == 2 and g.numel() == 15 and g.sparse_dim() == 1 and g.dense_dim() == 1
    assert g.data is not g and g.data._nnz() == g._nnz() and not g.requires_grad and g.is_leaf and g.grad_fn is None
    for name in ("indices", "values"):  # torch's: only on a coalesced gradient
        raises(lambda lib, name=name: getattr(_uncoalesced(lib), name)())
    # arithmetic torch has for sparse tensors but not here: a one-line error naming to_dense(), never a wrong value
    for expr in (lambda: g * g, lambda: g * tg.ones(5, 3), lambda: g[0], lambda: g + tg.ones(5, 3), lambda: g - g,
                 lambda: g.sum(), lambda: g.abs(), lambda: g.add_(g), lambda: np.asarray(g), lambda: tg.ones(5, 3) * g):
        with pytest.raises((TypeError, AttributeError), match="to_dense"):
            expr()
    dense = tg.ones(5, 3) + g  # dense + sparse: dense, as torch's
    assert not dense.is_sparse and dense.numpy()[3].tolist() == [3.0, 3.0, 3.0]
    clone = g.clone()
    g.zero_()
    assert clone._nnz() == 3 and g._nnz() == 0 and g.to_dense().numpy().sum() == 0
    with pytest.raises(RuntimeError, match="shape"):
        w.grad = clone.coalesce().to_dense()[:2]
    w.grad = clone  # a sparse gradient may be assigned, as torch's
    assert w.grad is clone


def _uncoalesced(lib: Any) -> Any:
    w = lib.ones(5, 3, requires_grad=True) if lib is torch else tg.Tensor(np.ones((5, 3), np.float32),
                                                                          requires_grad=True)
    (lib.nn.functional.embedding if lib is torch else F.embedding)(tensor(lib, np.array([3, 0, 3])), w,
                                                                   sparse=True).sum().backward()
    return w.grad


def test_embedding_sparse_errors_as_torch() -> None:
    def freq(lib: Any) -> None:
        w = tensor(lib, np.ones((4, 2), np.float32), True)
        (lib.nn.functional.embedding if lib is torch else F.embedding)(
            tensor(lib, np.array([1, 1])), w, sparse=True, scale_grad_by_freq=True).sum().backward()
    raises(freq)  # torch's backward refuses it; so does ours, in our own words
    with pytest.raises(RuntimeError, match="scale_grad_by_freq=True and sparse=True do not go together"):
        freq(tg)

    def bag_max(lib: Any) -> None:
        w = tensor(lib, np.ones((4, 2), np.float32), True)
        (lib.nn.functional.embedding_bag if lib is torch else F.embedding_bag)(
            tensor(lib, np.array([1, 2])), w, tensor(lib, np.array([0])), mode="max", sparse=True)
    raises(bag_max)
    raises(lambda lib: lib.nn.EmbeddingBag(4, 2, mode="max", sparse=True)(tensor(lib, np.array([[1, 2]]))))
    assert repr(nn.Embedding(6, 3, sparse=True)).startswith(repr(torch.nn.Embedding(6, 3, sparse=True)))
    assert repr(nn.EmbeddingBag(6, 3, sparse=True)).startswith(repr(torch.nn.EmbeddingBag(6, 3, sparse=True)))


# ---------------------------------------------------------------- SparseAdam
def copy(t: Any) -> np.ndarray:
    """A numpy copy of a Tensor or array of either library (they are updated in place later)."""
    if hasattr(t, "detach"):
        return t.detach().numpy().copy()
    return np.array(t.numpy() if hasattr(t, "numpy") else t)


def _sparse_adam_state(lib: Any, opt: Any, w: Any) -> tuple[Any, Any, int]:
    s = opt.state[w]
    return (s["exp_avg"], s["exp_avg_sq"], s["step"]) if lib is torch else (s["m"], s["v"], s["t"])


@SETTINGS
@given(data=st.data(), num=st.integers(1, 5), dim=st.integers(0, 3), dtype=DTYPES, steps=st.integers(1, 4))
def test_sparse_adam_steps_as_torch(data: st.DataObject, num: int, dim: int, dtype: Any, steps: int) -> None:
    w0 = table(data, num, dim, dtype)
    padding_idx = data.draw(st.none() | st.integers(0, num - 1))
    max_norm = data.draw(st.none() | st.just(1.5))
    lr = data.draw(st.sampled_from([1e-3, 0.1, 1.0]))
    betas = data.draw(st.sampled_from([(0.9, 0.999), (0.0, 0.5), (0.5, 0.0)]))
    eps = data.draw(st.sampled_from([1e-8, 1e-3]))
    maximize = data.draw(st.booleans())
    idx = data.draw(batches(num, steps))
    if padding_idx is not None:  # (torch's sparse backward fails on a 0-d input with padding_idx: see above)
        idx = [i.reshape(-1) for i in idx]
    passes = [data.draw(st.integers(1, 2)) for _ in idx]  # two backward passes accumulate before a step
    cs = [[coefs(data, (*i.shape, dim), dtype) for _ in range(n)] for i, n in zip(idx, passes)]
    # a second parameter that never has a gradient on some steps: it is skipped, its step count does not move
    skip = [data.draw(st.booleans()) for _ in idx]
    results: dict[str, list[Any]] = {"tg": [], "torch": []}

    def run(lib: Any) -> None:
        w = tensor(lib, w0.copy(), True)
        other = tensor(lib, np.ones((3, 2), dtype), True)
        opt = lib.optim.SparseAdam([{"params": [w]}, {"params": [other], "lr": 0.5}], lr=lr, betas=betas, eps=eps,
                                   maximize=maximize)
        fn = torch.nn.functional.embedding if lib is torch else F.embedding
        for i, c_list, s in zip(idx, cs, skip):
            opt.zero_grad()
            for c in c_list:
                (fn(tensor(lib, i), w, padding_idx=padding_idx, max_norm=max_norm, sparse=True)
                 * tensor(lib, c)).sum().backward()
            if not s:
                (fn(tensor(lib, np.array([2, 0, 2])), other, sparse=True) * 3).sum().backward()
            grads = [w.grad.coalesce().to_dense(), None if other.grad is None else other.grad.coalesce().to_dense()]
            opt.step()
            m, v, t = _sparse_adam_state(lib, opt, w)
            o = opt.state.get(other)
            results["torch" if lib is torch else "tg"].append(
                (copy(w), copy(m), copy(v), t, [copy(g) for g in grads if g is not None], sum(g is None for g in grads),
                 None if not o else (o["step" if lib is torch else "t"], copy(o["exp_avg" if lib is torch else "m"]))))

    run(tg)
    run(torch)
    for ours, theirs in zip(results["tg"], results["torch"], strict=True):
        # m and v after each step: exact, except after max_norm's in-place rescaling (an ulp); the parameter to an
        # ulp: its float32 step divides by torch's float32 sqrt, not always correctly rounded on AVX-512 CPUs
        # (sqrt(0.045562502f): torch one ulp above the correctly rounded value, which numpy gives), and in float64
        # torch's add with alpha is a fused multiply-add there (-0.000999999943431461 against ours ...4609)
        for k, (a, b) in enumerate(zip(ours[:3], theirs[:3])):
            close(a, b, exact=max_norm is None and k > 0)
        assert ours[3] == theirs[3] and ours[5] == theirs[5]  # the step counts, which grads there were
        for a, b in zip(ours[4], theirs[4], strict=True):
            close(a, b)
        assert (ours[6] is None) == (theirs[6] is None)
        if ours[6] is not None:
            assert ours[6][0] == theirs[6][0]
            close(ours[6][1], theirs[6][1])


def test_sparse_adam_touches_only_the_rows_of_the_gradient() -> None:
    """Rows outside the batch keep their parameters and moments (no decay), unlike Adam on the dense gradient."""
    w = tg.Tensor(np.ones((4, 2)), requires_grad=True)
    opt = optim.SparseAdam([w], lr=0.1)
    F.embedding(tg.Tensor(np.array([0, 3])), w, sparse=True).sum().backward()
    opt.step()
    opt.zero_grad()
    m_before = opt.state[w]["m"].copy()
    F.embedding(tg.Tensor(np.array([0])), w, sparse=True).sum().backward()
    opt.step()
    assert opt.state[w]["t"] == 2
    assert (opt.state[w]["m"][3] == m_before[3]).all() and (opt.state[w]["m"][[1, 2]] == 0).all()
    assert (w.numpy()[[1, 2]] == 1).all() and (w.numpy()[3] == w.numpy()[3]).all()


def test_sparse_adam_state_dict_round_trip() -> None:
    idx = [np.array([0, 2, 2]), np.array([1]), np.array([2, 3, 0, 0])]

    def train(opt: Any, w: Any, batches: list[np.ndarray]) -> None:
        for i in batches:
            opt.zero_grad()
            (F.embedding(tg.Tensor(i), w, sparse=True) ** 2).sum().backward()
            opt.step()

    w0 = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    whole = tg.Tensor(w0.copy(), requires_grad=True)
    train(optim.SparseAdam([whole], lr=0.05, betas=(0.8, 0.9)), whole, idx)
    first = tg.Tensor(w0.copy(), requires_grad=True)
    opt = optim.SparseAdam([first], lr=0.05, betas=(0.8, 0.9))
    train(opt, first, idx[:2])
    saved = opt.state_dict()
    assert set(saved["state"][0]) == {"step", "exp_avg", "exp_avg_sq"} and float(saved["state"][0]["step"]) == 2
    assert saved["param_groups"][0] == {"lr": 0.05, "betas": (0.8, 0.9), "eps": 1e-8, "maximize": False,
                                        "params": [0]}
    resumed = tg.Tensor(first.numpy().copy(), requires_grad=True)
    opt2 = optim.SparseAdam([resumed])
    opt2.load_state_dict(saved)
    train(opt2, resumed, idx[2:])
    np.testing.assert_array_equal(resumed.numpy(), whole.numpy())
    bad = {**saved, "param_groups": [{**saved["param_groups"][0], "lr": 0.0}]}
    with pytest.raises(ValueError, match="lr"):
        opt2.load_state_dict(bad)


def test_sparse_adam_refusals_as_torch() -> None:
    def dense_grad(lib: Any) -> None:
        w = tensor(lib, np.ones(3, np.float32), True)
        (w * 2).sum().backward()
        lib.optim.SparseAdam([w]).step()
    raises(dense_grad)
    with pytest.raises(RuntimeError, match="SparseAdam got a dense gradient"):
        dense_grad(tg)
    for kwargs in ({"lr": 0.0}, {"lr": -1.0}, {"lr": float("nan")}, {"eps": 0.0}, {"eps": -1e-8},
                   {"betas": (1.0, 0.9)}, {"betas": (0.9, 1.0)}, {"betas": (-0.1, 0.9)}, {"weight_decay": 0.1},
                   {"foreach": True}):
        raises(lambda lib, kw=kwargs: lib.optim.SparseAdam([tensor(lib, np.ones(3, np.float32), True)], **kw))
    raises(lambda lib: lib.optim.SparseAdam({"w": tensor(lib, np.ones(3, np.float32), True)}))
    raises(lambda lib: lib.optim.SparseAdam(tensor(lib, np.ones(3, np.float32), True)))
    raises(lambda lib: lib.optim.SparseAdam([{"params": {tensor(lib, np.ones(3, np.float32), True)}}]))
    raises(lambda lib: lib.optim.SparseAdam([]))
    # a set of parameters at the top is accepted by torch (it is listed), and here too
    optim.SparseAdam({tg.Tensor(np.ones(3, np.float32), requires_grad=True)})
    # no gradient: nothing happens, no state
    w = tg.Tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.SparseAdam([w])
    opt.step()
    assert opt.state == {} and w.numpy().tolist() == [1, 1, 1]


# ---------------------------------------------------------------- everything else that reads .grad
DENSE_CASES = [("SGD", {}), ("SGD", {"momentum": 0.9}), ("SGD", {"momentum": 0.9, "nesterov": True}),
               ("SGD", {"momentum": 0.5, "dampening": 0.3, "maximize": True}), ("SGD", {"weight_decay": 0.1}),
               ("Adagrad", {}), ("Adagrad", {"lr_decay": 0.1, "maximize": True}),
               ("Adagrad", {"eps": 0.0}), ("Adagrad", {"initial_accumulator_value": 0.3}),
               ("Adagrad", {"weight_decay": 0.1}), ("Adam", {}), ("AdamW", {}), ("Adamax", {}), ("NAdam", {}),
               ("RAdam", {}), ("RMSprop", {}), ("Adadelta", {})]


@pytest.mark.parametrize("name, kwargs", DENSE_CASES, ids=[f"{n}-{k}" for n, k in DENSE_CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_other_optimizers_on_sparse_gradients_as_torch(name: str, kwargs: dict[str, Any], dtype: Any) -> None:
    """SGD uses the dense values; Adagrad updates only the gradient's rows (with eps=0 the untouched rows would be
    0/0 otherwise); the others refuse, with torch's message."""
    w0 = np.random.default_rng(1).standard_normal((5, 2)).astype(dtype)
    batches = [np.array([[0, 2], [2, 2]]), np.array([4]), np.array([0, 0, 4, 1])]

    def run(lib: Any) -> Any:
        w = tensor(lib, w0.copy(), True)
        opt = getattr(lib.optim, name)([w], lr=0.1, **kwargs)
        fn = torch.nn.functional.embedding if lib is torch else F.embedding
        for i in batches:
            opt.zero_grad()
            (fn(tensor(lib, i), w, sparse=True) ** 2).sum().backward()
            opt.step()
        return w

    try:
        theirs = run(torch)
    except RuntimeError as e:
        with pytest.raises(RuntimeError) as ours_error:
            run(tg)
        if name in ("SGD", "Adagrad"):  # weight_decay refused: each library's own words (SGD: torch's add error)
            assert all(w in str(ours_error.value) for w in ("weight_decay", "sparse gradient"))
        else:
            assert str(ours_error.value) == str(e)
        return
    close(run(tg).detach(), theirs.detach(), exact=False)


def test_lbfgs_uses_the_dense_gradient_as_torch() -> None:
    w0 = np.random.default_rng(2).standard_normal((4, 2))
    idx = np.array([0, 3, 3])

    def run(lib: Any) -> Any:
        w = tensor(lib, w0.copy(), True)
        opt = lib.optim.LBFGS([w], lr=0.5, max_iter=5)
        fn = torch.nn.functional.embedding if lib is torch else F.embedding

        def closure() -> Any:
            opt.zero_grad()
            loss = ((fn(tensor(lib, idx), w, sparse=True) - 1) ** 2).sum()
            loss.backward()
            return loss
        opt.step(closure)
        return w
    close(run(tg).detach(), run(torch).detach(), exact=False)


def test_clipping_refuses_sparse_gradients_as_torch() -> None:
    def with_sparse(lib: Any) -> list[Any]:
        w = tensor(lib, np.ones((4, 2), np.float32), True)
        (lib.nn.functional.embedding if lib is torch else F.embedding)(tensor(lib, np.array([1])), w,
                                                                       sparse=True).sum().backward()
        return [w]
    for norm_type in (2.0, 1.0, float("inf")):
        raises(lambda lib, p=norm_type: lib.nn.utils.clip_grad_norm_(with_sparse(lib), 1.0, norm_type=p))
    raises(lambda lib: lib.nn.utils.clip_grad_value_(with_sparse(lib), 0.5))
    with pytest.raises(NotImplementedError, match="sparse gradients"):
        optim.clip_grad_norm_(with_sparse(tg), 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_scaler_unscales_sparse_gradients_as_torch(dtype: Any) -> None:
    def run(lib: Any, poison: bool) -> Any:
        w = tensor(lib, np.arange(8, dtype=dtype).reshape(4, 2), True)
        opt = lib.optim.SparseAdam([w], lr=0.1)
        scaler = lib.amp.GradScaler("cpu", init_scale=8.0)
        out = (lib.nn.functional.embedding if lib is torch else F.embedding)(tensor(lib, np.array([1, 3, 1])), w,
                                                                             sparse=True)
        c = np.array([[1.0, 2.0], [np.inf if poison else 3.0, 4.0], [5.0, 6.0]], dtype)
        scaler.scale((out * tensor(lib, c)).sum()).backward()
        scaler.unscale_(opt)
        grad = w.grad.coalesce().to_dense()
        scaler.step(opt)
        scaler.update()
        return w, grad, scaler.get_scale()
    for poison in (False, True):
        ours, theirs = run(tg, poison), run(torch, poison)
        close(ours[0].detach(), theirs[0].detach())
        close(ours[1], theirs[1])
        assert ours[2] == theirs[2]


def test_module_to_casts_a_sparse_gradient_as_torch() -> None:
    def run(lib: Any) -> Any:
        emb = lib.nn.Embedding(4, 2, sparse=True)
        emb(tensor(lib, np.array([1, 1, 3]))).sum().backward()
        emb.double()
        return emb.weight.grad
    ours, theirs = both(run)
    assert ours.is_sparse and ours.dtype == np.float64
    same_grad(ours, theirs)
