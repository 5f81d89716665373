"""What the EGNN program (``tests/torch_style/egnn.py``) met, against torch 2.13: gradients of gradients through the
segment ops of message passing. EGNN sums its messages into the nodes by ``data.new_full(...).scatter_add_(0,
segment_ids, data)``, and the common force-field use of such a network takes the forces as
``-autograd.grad(energy, positions, create_graph=True)`` and trains on them. Ours raised NotImplementedError
("double backward through scatter_add is not supported") where torch differentiates; so did the other spellings of
the same sums: ``index_add`` / ``index_add_`` (and ``index_copy``), ``scatter_reduce`` (sum, mean, amax, amin),
``index_put_(..., accumulate=True)`` and ``x[idx] = v`` (index_put / __setitem__), and ``einsum`` (egnn-pytorch's).
Each now has a differentiable backward (linear maps of g recorded with their adjoints; einsum's as einsums of
Tensors); scatter_reduce's "prod" and masked_select still raise. Also ``scatter`` / ``scatter_add`` into a 0-d
tensor that an op computed (held as a numpy scalar) raised ModuleNotFoundError ('cupyx') / TypeError."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

VALUES = st.sampled_from([0.0, -0.0, 1.0, -2.5, 1e-300, 3e150, -7e100, 0.375])


def second_order(lib, op: str, inplace: bool, base: np.ndarray, src: np.ndarray, index: np.ndarray, dim: int,
                 weight: np.ndarray) -> list[np.ndarray]:
    """x = base * w_a, s = src * w_s (both differentiable), out = scatter op; the first gradients of
    sum(out**2 * weight) w.r.t. x and s with create_graph=True, then the gradients of their sum of squares w.r.t.
    w_a and w_s (and the first gradients themselves)."""
    wa = lib.tensor(np.full(base.shape, 1.5), requires_grad=True)
    ws = lib.tensor(np.full(src.shape, -0.5), requires_grad=True)
    x, s = lib.tensor(base) * wa, lib.tensor(src) * ws
    idx = lib.tensor(index)
    if inplace:
        out = x.clone()
        getattr(out, op + "_")(dim, idx, s)
    else:
        out = getattr(x, op)(dim, idx, s)
    y = (out ** 2 * lib.tensor(weight)).sum()
    gx, gs = lib.autograd.grad(y, (x, s), create_graph=True)
    z = (gx ** 2).sum() + (gs ** 2).sum() + (gs * s).sum()
    ga, gb = lib.autograd.grad(z, (wa, ws), allow_unused=True)
    return [t.detach().numpy() for t in (gx, gs, ga, gb)]


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(["scatter_add", "scatter"]), st.booleans(), st.integers(1, 3), st.data())
def test_double_backward_through_scatter_matches_torch(op: str, inplace: bool, ndim: int, data: st.DataObject) -> None:
    shape = tuple(data.draw(st.lists(st.integers(0 if ndim > 1 else 1, 4), min_size=ndim, max_size=ndim)))
    dim = data.draw(st.integers(-ndim, ndim - 1))
    index_shape = tuple(data.draw(st.integers(0, n)) if d != dim % ndim else data.draw(st.integers(0, 5))
                        for d, n in enumerate(shape))
    if op == "scatter":  # (which of several writes to one place wins is unspecified: keep the places distinct)
        index_shape = tuple(min(n, 1) if d != dim % ndim else n for d, n in enumerate(index_shape))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    size = shape[dim] if shape[dim] else 0
    if size == 0 and np.prod(index_shape):
        index_shape = tuple(0 if d == dim % ndim else n for d, n in enumerate(index_shape))
    if op == "scatter" and size:
        along = rng.permutation(size)[:index_shape[dim]]
        index_shape = tuple(len(along) if d == dim % ndim else n for d, n in enumerate(index_shape))
        index = np.broadcast_to(along.reshape([-1 if d == dim % ndim else 1 for d in range(ndim)]),
                                index_shape).copy()
    else:
        index = rng.integers(0, max(size, 1), index_shape)
    src_shape = index_shape  # (torch's backward refuses a source larger than the index: ours pads with zeros)
    base = np.array(data.draw(st.lists(VALUES, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))))
    src = np.array(data.draw(st.lists(VALUES, min_size=int(np.prod(src_shape)), max_size=int(np.prod(src_shape)))))
    base, src = base.reshape(shape).astype(np.float64), src.reshape(src_shape).astype(np.float64)
    weight = rng.normal(size=shape)
    with np.errstate(all="ignore"):
        ours = second_order(tg, op, inplace, base, src, index.astype(np.int64), dim, weight)
    theirs = second_order(torch, op, inplace, base, src, index.astype(np.int64), dim, weight)
    for got, want, name in zip(ours, theirs, ("dx", "dsrc", "d2 w_a", "d2 w_s")):
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True, err_msg=name)


def forces(lib, pos: np.ndarray, rows: np.ndarray, cols: np.ndarray, weights: tuple[np.ndarray, ...]):
    """A tiny E(n)-invariant energy in EGNN's style (radial features, an MLP, messages summed by
    ``new_full(...).scatter_add_`` over an expanded index, sum pooling); its forces by autograd.grad with
    create_graph=True, a loss on them, and that loss's gradients w.r.t. the MLP weights."""
    w1, w2 = (lib.tensor(w, requires_grad=True) for w in weights)
    x = lib.tensor(pos, requires_grad=True)
    diff = x[lib.tensor(rows)] - x[lib.tensor(cols)]
    radial = lib.sum(diff ** 2, 1).unsqueeze(1)
    msg = lib.nn.functional.silu(radial @ w1) @ w2
    segment = lib.tensor(rows).unsqueeze(-1).expand(-1, msg.size(1))
    agg = msg.new_full((pos.shape[0], msg.size(1)), 0)
    agg.scatter_add_(0, segment, msg)
    energy = lib.tanh(agg).sum()
    f = -lib.autograd.grad(energy, x, create_graph=True)[0]
    loss = (f ** 2).mean()
    g1, g2 = lib.autograd.grad(loss, (w1, w2))
    return [t.detach().numpy() for t in (f, loss, g1, g2)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_forces_through_scatter_add_message_passing_match_torch(dtype: str) -> None:
    rng = np.random.default_rng(0)
    n = 5
    rows, cols = (np.array(v, np.int64) for v in zip(*[(i, j) for i in range(n) for j in range(n) if i != j]))
    pos = rng.normal(size=(n, 3)).astype(dtype)
    weights = (rng.normal(size=(1, 8)).astype(dtype), rng.normal(size=(8, 4)).astype(dtype))
    ours, theirs = forces(tg, pos, rows, cols, weights), forces(torch, pos, rows, cols, weights)
    tol = {"rtol": 1e-12, "atol": 1e-14} if dtype == "float64" else {"rtol": 2e-5, "atol": 1e-6}
    for got, want, name in zip(ours, theirs, ("forces", "loss", "dw1", "dw2")):
        assert got.dtype == want.dtype, name
        np.testing.assert_allclose(got, want, err_msg=name, **tol)
    assert np.abs(ours[0].sum(0)).max() < (1e-12 if dtype == "float64" else 1e-5)  # translation invariance


def test_double_backward_through_scatter_of_0d_and_empty() -> None:
    """A 0-d scatter_add (0-d input, index and source) and an empty index: the same second derivatives."""
    for base, src, index in ((np.array(2.0), np.array(3.0), np.array(0)),
                             (np.ones((3, 2)), np.ones((0, 2)), np.zeros((0, 2), np.int64)),
                             (np.ones(3), np.ones((2, 0)), np.zeros((2, 0), np.int64))):  # (other dims: unchecked)
        for op in ("scatter_add", "scatter"):
            got = second_order(tg, op, False, base, src, index, 0, np.full(base.shape, 0.5))
            want = second_order(torch, op, False, base, src, index, 0, np.full(base.shape, 0.5))
            for a, b in zip(got, want):
                assert a.shape == b.shape
                np.testing.assert_allclose(a, b, rtol=1e-13)


@pytest.mark.parametrize("op", ["gather", "scatter", "scatter_add", "scatter_value"])
def test_an_empty_index_of_other_dims_is_not_checked(op: str) -> None:
    """torch checks an empty index's shape no further: gather returns the index's empty shape, scatter and
    scatter_add copy the input (ours raised ValueError: the index must have the input's dims)."""
    results = []
    for lib in (tg, torch):
        x, src = lib.tensor([1.0, 2.0, 3.0], requires_grad=True), lib.ones((2, 0), requires_grad=True)
        index = lib.zeros((2, 0), dtype=lib.int64)
        if op == "gather":
            out = lib.gather(x, 0, index)
        else:
            out = getattr(x, op.removesuffix("_value"))(0, index, 2.0 if op == "scatter_value" else src)
        (out * 2).sum().backward()
        results.append([tuple(out.shape), np.asarray(out.tolist()), x.grad.tolist(),
                        None if src.grad is None else tuple(src.grad.shape)])
    assert results[0][0] == results[1][0] and results[0][2:] == results[1][2:]
    np.testing.assert_array_equal(results[0][1], results[1][1])


@settings(deadline=None, max_examples=30)
@given(st.sampled_from(["scatter_add", "scatter"]), st.booleans(), st.booleans(), VALUES, VALUES,
       st.sampled_from(["float32", "float64"]))
def test_scatter_into_a_computed_0d_tensor_matches_torch(op: str, inplace: bool, computed: bool, value: float,
                                                        src: float, dtype: str) -> None:
    """A 0-d input that an op computed (ours can hold a numpy scalar there): ours raised ModuleNotFoundError
    ('cupyx') for scatter_add and TypeError for scatter, where torch gives the 0-d result."""
    results = []
    for lib in (tg, torch):
        dt = getattr(lib, dtype)
        with np.errstate(all="ignore"):  # (3e150 in float32: inf, with numpy's overflow warning in ours)
            a = lib.tensor(value, dtype=dt)
            if computed:
                a = a * lib.tensor(1.0, dtype=dt)
            s, index = lib.tensor(src, dtype=dt), lib.tensor(0)
            if inplace:
                out = getattr(a, op + "_")(0, index, s)
                assert out is a
            else:
                out = getattr(a, op)(0, index, s)
        assert tuple(out.shape) == ()
        results.append(out.numpy())
    assert results[0].dtype == results[1].dtype
    np.testing.assert_array_equal(results[0], results[1])


def grads_of_grads(lib, build, arrays: list[np.ndarray], weight_seed: int = 1) -> list[np.ndarray]:
    """``y = build(lib, *leaves)``; the first gradients of sum(y * w + y**2) w.r.t. the leaves with create_graph=True,
    then the gradients of the sum of their squares and of their products with fixed weights c (nonzero where a
    gradient is zero too, so each adjoint is seen whole): both lists as arrays (None where a leaf is unused)."""
    rng = np.random.default_rng(weight_seed)
    leaves = [lib.tensor(a, requires_grad=True) for a in arrays]
    y = build(lib, *leaves)
    w = lib.tensor(rng.normal(size=tuple(y.shape)).astype(arrays[0].dtype))
    first = lib.autograd.grad((y * w).sum() + (y ** 2).sum(), leaves, create_graph=True, allow_unused=True)
    used = [g for g in first if g is not None]
    c = [lib.tensor(rng.normal(size=tuple(g.shape)).astype(arrays[0].dtype)) for g in used]
    second = lib.autograd.grad(sum((g ** 2).sum() + (g * k).sum() for g, k in zip(used, c)), leaves,
                               allow_unused=True)
    return [None if t is None else t.detach().numpy() for t in (*first, *second)]


def assert_same(ours: list, theirs: list, scaled: float = 0.0, **tol: float) -> None:
    """Each pair equal in shape and dtype and within ``tol``, plus ``scaled`` times the largest finite magnitude of
    torch's array as absolute slack (float32 sums that cancel)."""
    assert len(ours) == len(theirs)
    for k, (got, want) in enumerate(zip(ours, theirs)):
        assert (got is None) == (want is None), k
        if want is not None:
            assert got.shape == want.shape and got.dtype == want.dtype, k
            finite = np.abs(want[np.isfinite(want)])
            slack = scaled * float(finite.max()) if finite.size else 0.0
            np.testing.assert_allclose(got, want, err_msg=str(k), equal_nan=True,
                                       **{**tol, "atol": max(tol.get("atol", 0.0), slack)})


@settings(deadline=None, max_examples=40)
@given(st.sampled_from(["index_add", "index_add_", "index_copy", "index_copy_"]), st.integers(1, 3),
       st.sampled_from([1, 2.5, -0.5]), st.sampled_from(["float64", "float32"]), st.data())
def test_double_backward_through_index_add_and_copy_matches_torch(op: str, ndim: int, alpha: float, dtype: str,
                                                                 data: st.DataObject) -> None:
    """``torch.zeros(...).index_add_(0, row, msg)``, the other segment sum of message passing: ours raised
    NotImplementedError under create_graph=True."""
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    dim = data.draw(st.integers(-ndim, ndim - 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    if op.startswith("index_copy"):  # distinct places (of repeated ones the winner is unspecified)
        index = rng.permutation(shape[dim])[:data.draw(st.integers(0, shape[dim]))]
    else:
        index = rng.integers(0, shape[dim], data.draw(st.integers(0, 6)))
    source_shape = tuple(len(index) if d == dim % ndim else n for d, n in enumerate(shape))
    scale = data.draw(st.sampled_from([1.0, 1e-3, 1e3]))
    base, source = (rng.normal(size=s).astype(dtype) * scale for s in (shape, source_shape))

    def build(lib, a, s):
        x, idx = a * a, lib.tensor(index.astype(np.int64))
        extra = {"alpha": alpha} if op.startswith("index_add") else {}
        if op.endswith("_"):
            out = x.clone()
            getattr(out, op)(dim, idx, s * s, **extra)
            return out
        return getattr(x, op)(dim, idx, s * s, **extra)
    tol = {"rtol": 1e-12, "scaled": 1e-14} if dtype == "float64" else {"rtol": 2e-5, "scaled": 1e-6}
    assert_same(grads_of_grads(tg, build, [base, source]), grads_of_grads(torch, build, [base, source]), **tol)


EQUATIONS = [("ij,jk->ik", [(3, 4), (4, 2)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]), ("ii->", [(3, 3)]),
             ("ii->i", [(3, 3)]), ("ij->", [(3, 4)]), ("i,j->ij", [(3,), (4,)]), ("ij,ij->i", [(3, 4), (1, 4)]),
             ("bhid,bhjd->bhij", [(2, 2, 3, 4), (2, 2, 3, 4)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
             ("iij,jk->ik", [(3, 3, 2), (2, 2)]), ("ij,kj->", [(3, 4), (2, 4)]),
             ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)]),
             ("bijd,bijc->bicd", [(2, 3, 3, 3), (2, 3, 3, 2)]), ("ij,k->ijk", [(2, 2), (3,)]),
             ("ij,jk->ik", [(0, 3), (3, 2)]), ("i,i->", [(0,), (0,)]), ("ij,ij->i", [(1, 4), (3, 4)]),
             ("bij,bjk->bik", [(1, 3, 4), (2, 4, 2)])]


@settings(deadline=None, max_examples=40)
@given(st.sampled_from(EQUATIONS), st.sampled_from(["float64", "float32"]), st.integers(0, 2),
       st.integers(0, 2 ** 32 - 1))
def test_double_backward_through_einsum_matches_torch(case: tuple, dtype: str, which: int, seed: int) -> None:
    """egnn-pytorch-style einsum message passing under create_graph=True: ours raised NotImplementedError. (Scales
    stay where nothing overflows: there numpy's BLAS matmul sums a +inf and a -inf product to -inf, where torch
    gives nan, at first order already.)"""
    equation, shapes = case
    scale = {"float64": (1.0, 1e-30, 1e5), "float32": (1.0, 1e-3, 10.0)}[dtype][which]
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        arrays = [(rng.normal(size=s) * scale).astype(dtype) for s in shapes]

    def build(lib, first, *xs):  # (the first operand a leaf itself: its gradient meets no other op)
        return lib.einsum(equation, first, *[x * x for x in xs])
    with np.errstate(all="ignore"):
        ours = grads_of_grads(tg, build, arrays)
    tol = {"rtol": 1e-11, "scaled": 1e-14} if dtype == "float64" else {"rtol": 3e-5, "scaled": 1e-6}
    assert_same(ours, grads_of_grads(torch, build, arrays), **tol)


@settings(deadline=None, max_examples=40)
@given(st.sampled_from(["sum", "mean", "amax", "amin"]), st.booleans(), st.booleans(), st.data())
def test_double_backward_through_scatter_reduce_matches_torch(reduce: str, include_self: bool, inplace: bool,
                                                              data: st.DataObject) -> None:
    """scatter_reduce (torch_scatter-free segment sums, means and maxima) under create_graph=True: ours raised."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    rows, cols, n_src = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 3)), data.draw(st.integers(0, 6))
    index = rng.integers(0, rows, (n_src, cols))
    src = rng.normal(size=(n_src, cols))
    if reduce in ("amax", "amin") and n_src > 1:  # a tie
        src[1, 0] = src[0, 0]
        index[1, 0] = index[0, 0]
    base = rng.normal(size=(rows, cols))

    def build(lib, a, s):
        x, v, idx = a * 1.0, (s * s if reduce in ("sum", "mean") else s * 1.0), lib.tensor(index)
        if inplace:
            out = x.clone()
            out.scatter_reduce_(0, idx, v, reduce, include_self=include_self)
            return out
        return x.scatter_reduce(0, idx, v, reduce, include_self=include_self)
    assert_same(grads_of_grads(tg, build, [base, src]), grads_of_grads(torch, build, [base, src]),
                rtol=1e-12, atol=1e-300)


def test_double_backward_through_scatter_reduce_prod() -> None:
    """(It raised NotImplementedError until the gaps probe; tests/test_gaps_probe_fixes.py covers it widely.)"""
    hessians = []
    for lib in (tg, torch):
        a = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        y = (a * 2).scatter_reduce(0, lib.tensor([0, 0]), a[:2] * 3, "prod")
        (g,) = lib.autograd.grad(y.sum(), a, create_graph=True)
        hessians.append([lib.autograd.grad(g[i], a, retain_graph=True)[0].tolist() for i in range(3)])
    np.testing.assert_allclose(hessians[0], hessians[1], rtol=1e-12)


PUTS = {  # (x is a computed (4, 3) tensor, v the (4, 3) values to write from): x[...] = ... and index_put forms
    "rows": lambda lib, x, v: x.__setitem__(lib.tensor([0, 2]), v[:2]),
    "mask": lambda lib, x, v: x.__setitem__(x.detach() > 0, v[v.detach() * 0 == 0][:int((x.detach() > 0).sum())]),
    "slice_and_rows_broadcast": lambda lib, x, v: x.__setitem__((slice(1, 3), lib.tensor([0, 2])), v[0, :1]),
    "int": lambda lib, x, v: x.__setitem__(1, v[2]),
    "number": lambda lib, x, v: x.__setitem__((0, 1), 2.5),
    "accumulate_repeated": lambda lib, x, v: x.index_put_((lib.tensor([0, 0, 3]),), v[:3], accumulate=True),
    "accumulate_2d": lambda lib, x, v: x.index_put_((lib.tensor([0, 3, 0]), lib.tensor([1, 2, 1])), v[0],
                                                    accumulate=True),
    "put_2d": lambda lib, x, v: x.index_put_((lib.tensor([0, 3]), lib.tensor([1, 2])), v[0, :2]),
}


@settings(deadline=None, max_examples=40)
@given(st.sampled_from(sorted(PUTS)), st.sampled_from(["float64", "float32"]), st.integers(0, 2 ** 32 - 1))
def test_double_backward_through_index_put_and_setitem_matches_torch(kind: str, dtype: str, seed: int) -> None:
    """``h[idx] = messages`` / ``index_put_(..., accumulate=True)`` inside a graph under create_graph=True: ours
    raised NotImplementedError (index_put, __setitem__)."""
    rng = np.random.default_rng(seed)
    base, values = (rng.normal(size=(4, 3)).astype(dtype) for _ in range(2))

    def build(lib, a, s):
        x = a * a
        PUTS[kind](lib, x, s * s)
        return x
    tol = {"rtol": 1e-12, "scaled": 1e-14} if dtype == "float64" else {"rtol": 2e-5, "scaled": 1e-6}
    assert_same(grads_of_grads(tg, build, [base, values]), grads_of_grads(torch, build, [base, values]), **tol)
