"""Fast paths against the plain ones: the sparse (CSR) first layer and input dropout equal their dense forms."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import models, nn
from tinygrad_adam.data import CSRMatrix
from tinygrad_adam.ops import conv, elementwise, sparse

rng = np.random.default_rng(11)


def bag_of_words(n: int = 6, d: int = 30, density: float = 0.25) -> np.ndarray:
    """A float64 (n, d) batch with a few stored values per row, one row empty."""
    x = (rng.random((n, d)) < density) * rng.uniform(0.5, 2.0, (n, d))
    x[2] = 0.0
    return x


def dense_and_sparse_linear(x: np.ndarray, sparse_x: object, out_f: int = 3) -> None:
    """F.linear on the dense array and on the CSR batch: same output and same weight and bias gradients."""
    w, b = rng.standard_normal((out_f, x.shape[1])), rng.standard_normal(out_f)
    g = rng.standard_normal((x.shape[0], out_f))
    results = []
    for inp in (tg.Tensor(x), sparse_x):
        wt, bt = tg.Tensor(w, requires_grad=True), tg.Tensor(b, requires_grad=True)
        y = F.linear(inp, wt, bt)
        y.backward(g)
        results.append((y.numpy(), wt.grad.numpy(), bt.grad.numpy()))
    for from_dense, from_sparse in zip(*results):
        assert from_dense.shape == from_sparse.shape
        np.testing.assert_allclose(from_sparse, from_dense, rtol=1e-13, atol=1e-13)


def test_sparse_linear_equals_dense_in_value_and_gradients() -> None:
    x = bag_of_words()
    dense_and_sparse_linear(x, CSRMatrix.from_dense(x))
    dense_and_sparse_linear(x, CSRMatrix.from_dense(x), out_f=1)


def test_sparse_linear_with_empty_first_last_and_all_rows() -> None:
    x = bag_of_words(7, 12, 0.4)
    x[[0, 1, 5, 6]] = 0.0
    dense_and_sparse_linear(x, CSRMatrix.from_dense(x))
    empty = np.zeros((3, 12))
    dense_and_sparse_linear(empty, CSRMatrix.from_dense(empty))


def test_sparse_linear_without_bias_and_frozen_weight() -> None:
    x = bag_of_words()
    w = tg.Tensor(rng.standard_normal((2, x.shape[1])), requires_grad=True)
    y = F.linear(CSRMatrix.from_dense(x), w)
    np.testing.assert_allclose(y.numpy(), x @ w.numpy().T, rtol=1e-13, atol=1e-13)
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.ones((x.shape[0], 2)).T @ x, rtol=1e-13)
    frozen, b = tg.Tensor(w.numpy()), tg.Tensor(np.zeros(2), requires_grad=True)
    F.linear(CSRMatrix.from_dense(x), frozen, b).sum().backward()
    assert frozen.grad is None and np.array_equal(b.grad.numpy(), [x.shape[0]] * 2)


def test_sparse_dropout_equals_dense_dropout_with_the_same_mask() -> None:
    x = bag_of_words(8, 40, 0.3)
    csr = CSRMatrix.from_dense(x)
    keep = rng.random(csr.nnz) >= 0.4
    dropped = sparse.dropout(csr, keep, 0.4)
    mask = np.zeros_like(x)
    mask[np.repeat(np.arange(x.shape[0]), np.diff(csr.indptr)), csr.indices] = keep
    expected = x * mask / (1 - 0.4)
    assert dropped.nnz == keep.sum() and dropped.shape == x.shape
    np.testing.assert_allclose(dropped.toarray(), expected, rtol=1e-15)
    np.testing.assert_array_equal(np.diff(dropped.indptr), (expected != 0).sum(axis=1))
    dense_and_sparse_linear(expected, dropped)
    assert csr.nnz == len(keep)  # the input batch is untouched
    np.testing.assert_array_equal(csr.toarray(np.float64), x)


def test_sparse_dropout_is_seeded_keeps_about_1_minus_p_and_is_identity_in_eval() -> None:
    x = (rng.random((50, 200)) < 0.2).astype(np.float32)
    csr = CSRMatrix.from_dense(x)
    tg.manual_seed(3)
    a = F.dropout(csr, 0.5)
    tg.manual_seed(3)
    b = F.dropout(csr, 0.5)
    np.testing.assert_array_equal(a.toarray(), b.toarray())
    assert abs(a.nnz / csr.nnz - 0.5) < 0.05
    assert a.data.dtype == np.float32 and set(np.unique(a.data)) == {np.float32(2.0)}
    assert F.dropout(csr, 0.5, training=False) is csr and F.dropout(csr, 0.0) is csr
    none = F.dropout(csr, 1.0)  # p = 1 (torch's upper end) keeps nothing
    assert none.nnz == 0 and none.shape == csr.shape and not none.toarray().any()
    layer = nn.Dropout(0.5)
    layer.eval()
    assert layer(csr) is csr


def test_logistic_regression_with_input_dropout_accepts_a_csr_batch() -> None:
    x = (rng.random((16, 100)) < 0.1).astype(np.float32)
    model = nn.Sequential(nn.Dropout(0.5), models.LogisticRegression(100, 2))
    model.eval()
    np.testing.assert_allclose(model(CSRMatrix.from_dense(x)).numpy(), model(tg.Tensor(x)).numpy(), rtol=1e-5,
                               atol=1e-6)
    model.train()
    loss = F.cross_entropy(model(CSRMatrix.from_dense(x)), np.arange(16) % 2)
    loss.backward()
    weight = model[1].linear.weight
    assert weight.grad.shape == (2, 100) and weight.grad.dtype == np.float32
    unused = x.sum(axis=0) == 0  # columns absent from the batch get exactly zero gradient
    assert unused.any() and not weight.grad.numpy()[:, unused].any()


def test_sparse_linear_rejects_bad_shapes_and_dtypes() -> None:
    x = CSRMatrix.from_dense(bag_of_words())
    with pytest.raises(ValueError, match=r"in_features=31"):
        F.linear(x, tg.Tensor(np.zeros((2, 31))))
    with pytest.raises(TypeError, match="dtype"):
        F.linear(x, tg.Tensor(np.zeros((2, 30), dtype=np.float32)))
    with pytest.raises(ValueError, match="bias"):
        F.linear(x, tg.Tensor(np.zeros((2, 30))), tg.Tensor(np.zeros(3)))
    bad = sparse.CSRBatch(x.indptr[:-1], x.indices, x.data, x.shape)
    with pytest.raises(ValueError, match="indptr"):
        F.linear(bad, tg.Tensor(np.zeros((2, 30))))
    with pytest.raises(ValueError, match="keep mask"):
        sparse.dropout(x, np.ones(x.nnz + 1, dtype=bool), 0.5)


@pytest.mark.gpu
def test_sparse_linear_on_the_gpu_equals_the_cpu() -> None:
    x = bag_of_words()
    w, g = rng.standard_normal((3, x.shape[1])), rng.standard_normal((x.shape[0], 3))
    outs = []
    for device in ("cpu", "cuda"):
        wt = tg.Tensor(w, requires_grad=True, device=device)
        y = F.linear(CSRMatrix.from_dense(x), wt)
        y.backward(tg.Tensor(g, device=device))
        outs.append((y.numpy(), wt.grad.numpy()))
    for cpu, gpu in zip(*outs):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- vectorised logistic pieces
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log1p_small_is_accurate_to_a_few_ulps_on_0_to_1(dtype: type) -> None:
    e = np.concatenate([np.exp(-np.linspace(0.0, 120.0, 20001)), [0.0, 1.0, 0.5]]).astype(dtype)
    ref = np.log1p(e.astype(np.longdouble))
    got = elementwise.log1p_small(e)
    assert got.dtype == dtype
    assert np.all(np.abs(got - ref) <= 4 * np.finfo(dtype).eps * ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_softplus_and_logistic_loss_are_accurate_at_extremes_without_warnings(dtype: type) -> None:
    x = np.array([-1000.0, -100.0, -30.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 30.0, 100.0, 1000.0], dtype=dtype)
    xl, eps, tiny = x.astype(np.longdouble), np.finfo(dtype).eps, np.finfo(dtype).tiny
    e = np.exp(-np.abs(xl))
    sig_ref = np.where(xl >= 0, 1 / (1 + e), e / (1 + e))
    soft_ref = np.maximum(xl, 0) + np.log1p(e)  # softplus(x); the loss for target 1 is softplus(-x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sig = elementwise.sigmoid_array(x)
        soft = elementwise.softplus_array(x)
        t = tg.Tensor(x, requires_grad=True)
        bce = F.binary_cross_entropy_with_logits(t, np.ones_like(x), reduction="none")
        bce.sum().backward()
    assert sig.dtype == soft.dtype == bce.dtype == dtype
    np.testing.assert_allclose(sig, sig_ref.astype(dtype), rtol=4 * eps, atol=tiny)
    np.testing.assert_allclose(soft, soft_ref.astype(dtype), rtol=4 * eps, atol=tiny)
    np.testing.assert_allclose(bce.numpy(), (np.maximum(-xl, 0) + np.log1p(e)).astype(dtype), rtol=4 * eps, atol=tiny)
    np.testing.assert_allclose(t.grad.numpy(), (sig_ref - 1).astype(dtype), rtol=4 * eps, atol=eps)  # sigmoid - y


# ---------------------------------------------------------------- conv2d: dx as a convolution of the dilated gradient
@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "padding"), [
    ((2, 3, 5, 6), (2, 3, 1, 1), 2, 1),  # padding wider than the kernel: border outputs see only padding
    ((2, 2, 6, 7), (3, 2, 2, 3), (2, 1), (2, 3)),
    ((1, 2, 9, 8), (2, 2, 5, 5), 3, 2),  # stride 3: rows of the input no window reaches get zero gradient
    ((3, 1, 7, 6), (4, 1, 3, 2), 1, 1),  # one input channel: the columns are copied transposed
    ((2, 1, 7, 6), (2, 1, 3, 3), 2, 1),
])
def test_conv2d_gradients_with_padding_beyond_the_kernel_and_strides_match_torch(
        x_shape, w_shape, stride, padding, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setitem(conv.CHUNK_BYTES, "cpu", 1)  # one sample per GEMM: chunk slicing is exercised too
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    ours = [tg.Tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    out = F.conv2d(*ours, stride=stride, padding=padding)
    ref = torch.nn.functional.conv2d(*theirs, stride=stride, padding=padding)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not tg.optim.numba_available(), reason="numba (the fast extra) is not installed")
@settings(max_examples=60, deadline=None)
@given(data=st.data(), rows=st.integers(1, 9), row_shape=st.sampled_from([(1,), (5,), (3, 4)]),
       index_shape=st.sampled_from([(1,), (7,), (4, 6)]), dtype=st.sampled_from([np.float32, np.float64]),
       index_dtype=st.sampled_from([np.int64, np.int32, np.uint8, np.uint64]))
def test_scatter_add_of_whole_rows_equals_numpy_add_at_bit_for_bit(data: st.DataObject, rows: int,
                                                                   row_shape: tuple[int, ...],
                                                                   index_shape: tuple[int, ...], dtype: type,
                                                                   index_dtype: type) -> None:
    """backend.scatter_add's compiled loop for whole rows (an embedding's gradient) adds in add.at's order: the same
    bits, with repeated and negative indices of any integer dtype, nan, inf and -0 among the values, on a target
    already holding values."""
    from tinygrad_adam import backend

    low = 0 if np.dtype(index_dtype).kind == "u" else -rows
    index = data.draw(hnp.arrays(index_dtype, index_shape, elements=st.integers(low, rows - 1)))
    values = (rng.standard_normal(index_shape + row_shape) * 10.0 ** rng.uniform(-3, 3)).astype(dtype)
    spots = data.draw(hnp.arrays(np.int8, values.shape, elements=st.integers(-6, 6)))  # a few special values
    for k, special in enumerate([np.nan, np.inf, -np.inf, -0.0, 1e30, 1e-30]):
        values[spots == k - 6] = special
    start = rng.standard_normal((rows, *row_shape)).astype(dtype)
    ours, theirs = start.copy(), start.copy()
    with np.errstate(invalid="ignore"):  # (inf - inf)
        backend.scatter_add(ours, index, values)
        np.add.at(theirs, index, values)
    # the same bits, except a nan's sign and payload: where a sum meets two nans (inf - inf, then a nan value), x86
    # keeps the first operand's, and numpy's add.at may add in the other operand order
    nan = np.isnan(theirs)
    np.testing.assert_array_equal(np.isnan(ours), nan)
    np.testing.assert_array_equal(ours[~nan].view(np.uint8), theirs[~nan].view(np.uint8))


def test_scatter_add_out_of_range_still_raises() -> None:
    from tinygrad_adam import backend

    with pytest.raises(IndexError):
        backend.scatter_add(np.zeros((3, 2)), np.array([0, 3]), np.ones((2, 2)))


@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float16, np.float32, np.float64, np.int8, np.int64, np.uint16,
                                              np.bool_, np.complex128]),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=5))
def test_select_equals_numpy_where_bit_for_bit(data: st.DataObject, dtype: type,
                                               shapes: hnp.BroadcastableShapes) -> None:
    """elementwise.select (where's bit operations, used from SELECT_SIZE elements; here from any size) gives numpy's
    where bit for bit: any dtype, broadcast, 0-d, empty and strided operands, special floats; a dtype it has no
    unsigned view for (complex128) goes to numpy's where."""
    c_shape, a_shape, b_shape = shapes.input_shapes
    c = data.draw(hnp.arrays(np.bool_, c_shape))
    a, b = (data.draw(hnp.arrays(dtype, s)) for s in (a_shape, b_shape))
    if data.draw(st.booleans()):  # strided operands
        c, a, b = (x[..., ::-1] if x.ndim else x for x in (c, a, b))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(elementwise, "SELECT_SIZE", 0)
        ours = elementwise.select(c, a, b)
    theirs = np.where(c, a, b)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours.reshape(-1).view(np.uint8), theirs.reshape(-1).view(np.uint8))


def test_select_on_a_big_random_mask_and_where_gradients() -> None:
    """Above SELECT_SIZE: a random mask and an attention-like broadcast one give where's bits, and the where op's
    gradients still go to the chosen side (nan and inf where they were picked, 0 elsewhere)."""
    x = rng.standard_normal((8, 64, 64)).astype(np.float32)
    x[0, 0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    for c in (rng.random(x.shape) < 0.5, np.tril(np.ones((64, 64), bool))[None]):
        np.testing.assert_array_equal(elementwise.select(c, np.float32(-np.inf), x).view(np.uint32),
                                      np.where(c, np.float32(-np.inf), x).view(np.uint32))
        xt, yt = tg.Tensor(x, requires_grad=True), tg.Tensor(-x, requires_grad=True)
        tg.where(tg.Tensor(c), xt, yt).backward(tg.Tensor(x))
        np.testing.assert_array_equal(xt.grad.numpy(), np.where(c, x, 0))
        np.testing.assert_array_equal(yt.grad.numpy(), np.where(c, 0, x))


CACHED_CALL = """
import numpy as np
from tinygrad_adam import backend
from tinygrad_adam.ops import activation
loop = backend.compiled(activation.cdf_loop)
x = np.linspace(-3, 3, 10, dtype=np.float32)
loop(x, np.empty_like(x), np.empty_like(x), *activation.CDF_ARGS)
print(sum(loop.stats.cache_hits.values()), sum(loop.stats.cache_misses.values()))
"""


@pytest.mark.skipif(not tg.optim.numba_available(), reason="numba (the fast extra) is not installed")
def test_compiled_loops_are_kept_in_numba_s_disk_cache(tmp_path: Path) -> None:
    """A compiled loop defined in a file is compiled by the first process and loaded from numba's disk cache by the
    next (a second of compiling saved per loop); an optimizer's generated kernel, which has no file, still runs."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    first, second = (subprocess.run([sys.executable, "-c", CACHED_CALL], env=env, capture_output=True, text=True,
                                    check=True).stdout.split() for _ in range(2))
    assert first == ["0", "1"] and second == ["1", "0"], (first, second)
    p = tg.Tensor(np.ones(5, np.float32), requires_grad=True)
    p.grad = tg.Tensor(np.ones(5, np.float32))
    tg.optim.Adam([p], lr=0.5, impl="numba").step()
    assert (p.numpy() < 1).all()
