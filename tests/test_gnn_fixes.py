"""What the GNN program (``tests/torch_style/gnn.py``) needed, against torch 2.13: torch.sparse's COO matrices as
graph code uses them (``tinygrad_adam/sparse.py``): ``sparse_coo_tensor(indices, values, size)``, its product
with a dense matrix by ``torch.sparse.mm`` / ``torch.spmm`` / ``torch.mm`` / ``torch.matmul`` / ``@`` (values and
gradients of both operands, repeated entries, nan / inf / -0.0, no entries, empty sides), ``to_dense``, a dense
matrix's ``to_sparse``, ``coalesce``, ``t`` / ``transpose``, the attributes torch code reads, and the one-line
errors for what is not here (anything else on a sparse tensor names ``.to_dense()``; out-of-range indices raise at
creation, where torch checks them only on request)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_torch_movement_names import FINITE, agree

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

# no 1e300: torch's kernels fuse multiply-adds, so 1e300 * d - 1e300 * d gives the rounding error of the product
# (~1e283) where ours gives 0; at these magnitudes the sums differ by ~1e-10 (absolute) at most
ELEMENTS = FINITE | st.sampled_from([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan])
PRODUCTS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "sparse.mm": lambda lib, s, d: lib.sparse.mm(s, d),
    "spmm": lambda lib, s, d: lib.spmm(s, d),
    "mm": lambda lib, s, d: lib.mm(s, d),
    "matmul": lambda lib, s, d: lib.matmul(s, d),
    "@": lambda lib, s, d: s @ d,
}


@st.composite
def coo(draw: st.DrawFn, elements: Any = ELEMENTS) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """(indices (2, nnz) int64, values (nnz,) float64, size (M, N)); repeats likely (an uncoalesced matrix)."""
    m, n = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    nnz = draw(st.integers(0, 8)) if m and n else 0
    rows = draw(st.lists(st.integers(0, max(m - 1, 0)), min_size=nnz, max_size=nnz))
    cols = draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=nnz, max_size=nnz))
    values = draw(st.lists(elements, min_size=nnz, max_size=nnz))
    return np.array([rows, cols], np.int64).reshape(2, nnz), np.array(values, np.float64), (m, n)


@pytest.mark.parametrize("how", sorted(PRODUCTS))
@settings(max_examples=30, deadline=None)
@given(matrix=coo(), k=st.integers(0, 3), data=st.data())
def test_sparse_times_dense_matches_torch(how: str, matrix: tuple, k: int, data: st.DataObject) -> None:
    """The product's values and the gradients of the values and the dense matrix (both require one)."""
    indices, values, size = matrix
    dense = np.array(data.draw(st.lists(ELEMENTS, min_size=size[1] * k, max_size=size[1] * k)))
    agree(lambda lib, i, v, d: PRODUCTS[how](lib, lib.sparse_coo_tensor(i, v, size), d), indices, values,
          dense.reshape(size[1], k), rtol=1e-9)


@settings(max_examples=40, deadline=None)
@given(matrix=coo())
def test_to_dense_coalesce_and_transpose_match_torch(matrix: tuple) -> None:
    indices, values, size = matrix

    def pieces(lib: Any, i: Any, v: Any) -> list[Any]:
        s = lib.sparse_coo_tensor(i, v, size)
        c = s.coalesce()
        return [s.to_dense(), s.t().to_dense(), s.transpose(-1, 0).to_dense(), s.transpose(1, 1).to_dense(),
                c.indices(), c.values(), c.to_dense(), s._indices(), s._values()]

    agree(pieces, indices, values, rtol=1e-9)
    agree(lambda lib, i, v: lib.sparse_coo_tensor(i, v, size).to_dense().to_sparse().coalesce().to_dense() * 2,
          indices, values, rtol=1e-9)
    agree(lambda lib, i, v: lib.sparse_coo_tensor(i, v, size).to_dense().to_sparse().values(), indices, values,
          rtol=1e-9)
    agree(lambda lib, i, v: lib.sparse_coo_tensor(i, v).to_dense(), indices, values, rtol=1e-9)  # size from the indices


def test_gcn_propagation_with_attention_values_matches_torch() -> None:
    """A GAT-style sparse product in float32: values computed from parameters (their gradient flows back through
    the sparse matrix), self loops, and a second product with the transpose."""
    rng = np.random.default_rng(0)
    edges = np.concatenate([rng.integers(0, 6, (2, 14)), np.tile(np.arange(6), (2, 1))], 1)
    x, w = rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal(14 + 6).astype(np.float32)

    def run(lib: Any) -> list[np.ndarray]:
        xt, wt = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        adj = lib.sparse_coo_tensor(lib.tensor(edges), wt.sigmoid(), (6, 6))
        out = lib.sparse.mm(adj.t(), lib.sparse.mm(adj, xt).relu())
        (out * lib.tensor(np.cos(np.arange(18.0)).reshape(6, 3).astype(np.float32))).sum().backward()
        assert adj.requires_grad and out.dtype == lib.float32
        return [out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()]

    for a, b in zip(run(tg), run(torch)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_attributes_match_torch() -> None:
    for lib in (tg, torch):
        s = lib.sparse_coo_tensor([[0, 1, 1], [2, 0, 0]], [1, 2, 3], (2, 3))
        assert s.is_sparse and s.layout == lib.sparse_coo and s.layout != lib.strided
        assert tuple(s.shape) == tuple(s.size()) == (2, 3) and s.size(1) == 3 and s.dim() == 2
        assert s.dtype == lib.int64 and not s.requires_grad and s._nnz() == 3 and not s.is_coalesced()
        assert (s.sparse_dim(), s.dense_dim()) == (2, 0) and s.coalesce().is_coalesced()
        assert lib.sparse_coo_tensor([[0], [1]], [1.0], (1, 2)).is_coalesced()  # one entry
        f = lib.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (2,), dtype=lib.float64) if lib is torch else None
        assert f is None or f.dtype == torch.float64
        assert lib.sparse_coo_tensor([[0], [1]], [1], (1, 2), dtype=lib.float64).dtype == lib.float64
        g = lib.sparse_coo_tensor([[0], [1]], lib.tensor([1.0], requires_grad=True), (1, 2))
        assert g.requires_grad and not g.detach().requires_grad and not g._values().requires_grad
        with pytest.raises(IndexError):
            g.transpose(0, 2)
        with pytest.raises(RuntimeError, match="coalesce"):
            s.values()
        assert not lib.zeros(2).is_sparse


@pytest.mark.parametrize("make", [
    lambda lib: lib.sparse_coo_tensor([[0, 1], [1, 0]], [1.0], (2, 2)),  # nnz of indices and values differ
    lambda lib: lib.sparse.mm(lib.sparse_coo_tensor([[0], [1]], [1.0], (2, 2)), lib.ones(3, 2)),  # inner sizes
    lambda lib: lib.sparse.mm(lib.sparse_coo_tensor([[0], [1]], [1.0], (2, 2)), lib.ones(2, 2, dtype=lib.float64)),
    lambda lib: lib.sparse.mm(lib.sparse_coo_tensor([[0], [1]], [1.0], (2, 2)), lib.ones(2)),  # not a matrix
    lambda lib: lib.sparse_coo_tensor([[0], [1]], [1.0], (2, 2)) + 1,
])
def test_errors_where_torch_raises(make: Callable[[Any], Any]) -> None:
    for lib in (torch, tg):
        with pytest.raises((RuntimeError, TypeError, IndexError)):
            make(lib)


def test_what_is_not_here_raises_a_one_line_error() -> None:
    s = tg.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2))
    with pytest.raises(ValueError, match="out of range"):  # torch checks only with check_invariants=True
        tg.sparse_coo_tensor([[0, 2], [1, 0]], [1.0, 2.0], (2, 2))
    with pytest.raises(ValueError, match="out of range"):
        tg.sparse_coo_tensor([[0, -1], [1, 0]], [1.0, 2.0], (2, 2))
    with pytest.raises(NotImplementedError, match="values require grad"):  # a sparse leaf's sparse .grad
        tg.sparse_coo_tensor([[0], [1]], [1.0], (2, 2), requires_grad=True)
    with pytest.raises(NotImplementedError, match="2-D"):  # hybrid or n-D sparse tensors
        tg.sparse_coo_tensor([[0], [1], [0]], [1.0], (2, 2, 2))
    with pytest.raises(NotImplementedError, match="2-D"):
        tg.sparse_coo_tensor([[0], [1]], [[1.0, 2.0]], (2, 2, 2))
    with pytest.raises(NotImplementedError, match="2-D"):
        tg.ones(2, 2, 2).to_sparse()
    with pytest.raises(TypeError, match="integers"):  # torch truncates float indices
        tg.sparse_coo_tensor([[0.0], [1.5]], [1.0], (2, 2))
    for op in (lambda: tg.sum(s), lambda: tg.relu(s), lambda: s.narrow_copy(0, 0, 1)):
        with pytest.raises(AttributeError, match="to_dense"):
            op()
    for op in (lambda: tg.tensor(s), lambda: np.asarray(s), lambda: tg.ones(2, 2) * s, lambda: s * s):
        with pytest.raises((TypeError, AttributeError, RuntimeError, NotImplementedError)):
            op()
    with pytest.raises(TypeError, match="sparse COO"):
        tg.sparse.mm([[1.0]], tg.ones(1, 1))
    # (s.sum(), torch.add(s, s), s.to("cpu"), dense @ s, s * 2, sparse.mm(dense, dense) work now, as torch's:
    # tests/test_sparse_probe_fixes.py)


@pytest.mark.gpu
def test_sparse_product_on_the_gpu_matches_the_cpu() -> None:
    results = []
    for device in ("cpu", "cuda"):
        values = tg.tensor([0.5, -1.0, 2.0, 3.0], device=device, requires_grad=True)
        dense = tg.tensor(np.arange(6.0, dtype=np.float32).reshape(3, 2), device=device, requires_grad=True)
        adj = tg.sparse_coo_tensor(tg.tensor([[0, 2, 2, 1], [1, 0, 0, 2]], device=device), values, (3, 3))
        out = tg.sparse.mm(adj, dense) + adj.coalesce().to_dense().sum()
        out.sum().backward()
        assert out.device.type == device
        results.append([t.detach().cpu().numpy() for t in (out, values.grad, dense.grad)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6)
