"""conv2d split over the cores (``conv.batch_parts``: one batch part per core, BLAS on one thread while it runs)
against the same convolution on one part, and against torch; and ``backend.in_parallel(own_blas=True)`` putting
OpenBLAS's thread count back, after an error and when two threads overlap; the pool's workers in the caller's
``numpy.errstate``."""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import backend
from tinygrad_adam.ops import conv as conv_op

torch = pytest.importorskip("torch")


def run(x: np.ndarray, w: np.ndarray, b: np.ndarray, workers: int, chunk_bytes: int | None = None,
        **kw: object) -> list[np.ndarray]:
    """conv2d's output and its x / weight / bias gradients (loss: sum of output * a fixed pattern), on ``workers``
    batch parts (1: no split), in chunks of ``chunk_bytes`` of columns (1: one sample each)."""
    with pytest.MonkeyPatch.context() as mp, np.errstate(invalid="ignore"):  # (inf weights make nan)
        mp.setattr(backend, "cpu_threads", lambda: workers)
        mp.setattr(backend, "blas_per_thread", lambda: workers > 1)
        mp.setattr(backend, "SPLIT_BYTES", 1)  # split however small the work
        if chunk_bytes is not None:
            mp.setitem(conv_op.CHUNK_BYTES, "cpu", chunk_bytes)
        if workers > 1:  # the split really happens
            assert len(conv_op.batch_parts(len(x), 1, "cpu")) == max(1, min(workers, len(x)))
        threads = blas_threads()
        tx, tw, tb = (tg.Tensor(a, requires_grad=True) for a in (x, w, b))
        out = F.conv2d(tx, tw, tb, **kw)
        (out * tg.Tensor(np.cos(np.arange(out.numel())).reshape(out.shape).astype(x.dtype))).sum().backward()
        assert blas_threads() == threads  # put back
        return [out.numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()]


def blas_threads() -> int | None:
    """OpenBLAS's thread count now (None when it cannot be read)."""
    found = backend._blas_threads()
    return None if found is None else found[0]()


@settings(max_examples=40, deadline=None)
@given(st.data(), st.sampled_from([np.float32, np.float64]), st.integers(0, 7), st.integers(2, 3))
def test_conv2d_split_over_cores_matches_one_part_and_torch(d: st.DataObject, dtype: type, n: int,
                                                            workers: int) -> None:
    groups = d.draw(st.integers(1, 2))
    c, o = groups * d.draw(st.integers(1, 3)), groups * d.draw(st.sampled_from([1, 4]))  # o = 4c: col2im's route
    k = (d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)))
    kw = {"stride": (d.draw(st.integers(1, 2)), d.draw(st.integers(1, 2))), "padding": d.draw(st.integers(0, 1)),
          "dilation": d.draw(st.integers(1, 2)), "groups": groups}
    rng = np.random.default_rng(d.draw(st.integers(0, 2**16)))
    x = rng.standard_normal((n, c, 6, 5)).astype(dtype)
    w = rng.standard_normal((o, c // groups, *k)).astype(dtype)
    if d.draw(st.booleans()):
        w.flat[0] = np.inf  # the input gradient's scatter route
    b = rng.standard_normal(o).astype(dtype)
    chunk = d.draw(st.sampled_from([None, 1]))  # 1: several chunks in each part
    one, split = run(x, w, b, 1, **kw), run(x, w, b, workers, chunk, **kw)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    for name, a, e in zip(("out", "x grad", "weight grad", "bias grad"), split, one):
        np.testing.assert_allclose(a, e, err_msg=name, **tol)  # the weight gradient sums its parts in another order
        assert a.dtype == e.dtype
    if not np.isfinite(w).all():
        return  # torch's input gradient then multiplies inf by the zeros of uncovered positions (README)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ref = torch.nn.functional.conv2d(tx, tw, tb, **kw)
    (ref * torch.tensor(np.cos(np.arange(ref.numel())).reshape(ref.shape).astype(dtype))).sum().backward()
    for name, a, e in zip(("out", "x grad", "weight grad", "bias grad"), split,
                          (ref.detach(), tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(a, e.numpy(), err_msg=name, equal_nan=True, **tol)


def test_split_weight_gradient_is_the_same_on_every_run() -> None:
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((9, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    first, again = run(x, w, b, 3, padding=1), run(x, w, b, 3, padding=1)
    for a, e in zip(first, again):
        np.testing.assert_array_equal(a, e)


def test_batch_parts_cut_only_big_cpu_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "cpu_threads", lambda: 2)
    monkeypatch.setattr(backend, "blas_per_thread", lambda: True)
    big = backend.SPLIT_BYTES
    assert conv_op.batch_parts(8, big, "cpu") == [slice(0, 4), slice(4, 8)]
    assert conv_op.batch_parts(3, big, "cpu") == [slice(0, 1), slice(1, 3)]
    assert conv_op.batch_parts(8, big // 16, "cpu") == [slice(0, 8)]  # under SPLIT_BYTES in all: not worth a handoff
    assert conv_op.batch_parts(1, big, "cpu") == [slice(0, 1)]
    assert conv_op.batch_parts(0, big, "cpu") == [slice(0, 0)]
    assert conv_op.batch_parts(8, big, "cuda:0") == [slice(0, 8)]
    monkeypatch.setattr(backend, "blas_per_thread", lambda: False)  # BLAS's threads cannot be set: no split
    assert conv_op.batch_parts(8, big, "cpu") == [slice(0, 8)]


blas = pytest.mark.skipif(backend._blas_threads() is None,
                          reason="numpy's BLAS here is not an OpenBLAS whose thread count can be set")


@blas
def test_own_blas_holds_openblas_to_one_thread_and_puts_it_back(monkeypatch: pytest.MonkeyPatch) -> None:
    get, put = backend._blas_threads()
    before = get()
    put(2)  # a count other than one, to see it come back
    try:
        seen: list[int] = []
        backend.in_parallel(lambda w: seen.append(get()), 2, own_blas=True)
        assert seen == [1, 1] and get() == 2

        def fails(w: int) -> None:
            raise RuntimeError("inside")
        with pytest.raises(RuntimeError, match="inside"):
            backend.in_parallel(fails, 2, own_blas=True)
        assert get() == 2
        monkeypatch.setattr(backend, "SPLIT_BYTES", 1)  # a real split convolution leaves it as it was too
        monkeypatch.setattr(backend, "cpu_threads", lambda: 2)
        x = tg.randn(4, 2, 6, 6, requires_grad=True)
        F.conv2d(x, tg.randn(3, 2, 3, 3, requires_grad=True)).sum().backward()
        assert get() == 2
    finally:
        put(before)


@blas
def test_overlapping_own_blas_calls_put_the_first_count_back() -> None:
    get, put = backend._blas_threads()
    before = get()
    put(2)
    inside, release = threading.Event(), threading.Event()

    def hold(w: int) -> None:
        if w == 0:
            inside.set()
            release.wait(10)
    other = threading.Thread(target=lambda: backend.in_parallel(hold, 2, own_blas=True))
    other.start()
    assert inside.wait(10)
    backend.in_parallel(lambda w: None, 2, own_blas=True)  # starts and ends inside the other one
    assert get() == 1  # still held by the other
    release.set()
    other.join(10)
    assert get() == 2
    put(before)


def test_pool_workers_run_in_the_callers_errstate() -> None:
    def invalid(w: int) -> None:
        if w == 1:  # on the pool's thread
            np.sqrt(np.array(-1.0))
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        backend.in_parallel(invalid, 2)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        backend.in_parallel(invalid, 2)


@blas
def test_the_openblas_set_is_numpys_when_scipys_is_loaded_too() -> None:
    import ctypes

    import scipy.linalg  # its wheel brings an OpenBLAS of its own

    scipy.linalg.inv(np.eye(2))
    with open("/proc/self/maps") as maps:
        numpys = {line.split()[-1] for line in maps if "openblas" in line.lower() and "numpy" in line}
    if not numpys:
        pytest.skip("numpy's BLAS here is not a library of numpy's own install")
    lib = ctypes.CDLL(numpys.pop())
    name = next(n for n in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                            "openblas_get_num_threads") if hasattr(lib, n))
    backend._blas_threads.cache_clear()  # looked for again, with both loaded
    try:
        get, put = backend._blas_threads()
        before = get()
        put(2)
        assert getattr(lib, name)() == 2
        put(1)
        assert getattr(lib, name)() == 1
        put(before)
    finally:
        backend._blas_threads.cache_clear()


def test_set_num_threads_sizes_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TINYGRAD_ADAM_THREADS", raising=False)
    monkeypatch.setattr(backend, "_num_threads", [])
    monkeypatch.setattr(backend, "_blas_threads", lambda: None)  # (OpenBLAS's count: the test below)
    assert backend.cpu_threads() == backend.cpu_count() == tg.get_num_threads()
    tg.set_num_threads(1)
    assert backend.cpu_threads() == 1 == tg.get_num_threads()
    assert conv_op.batch_parts(8, backend.SPLIT_BYTES, "cpu") == [slice(0, 8)]  # one core: no split
    monkeypatch.setenv("TINYGRAD_ADAM_THREADS", "3")  # the environment rules
    assert backend.cpu_threads() == 3


@blas
def test_set_num_threads_sets_openblas_and_waits_for_a_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "_num_threads", [])
    get, put = backend._blas_threads()
    before = get()
    try:
        tg.set_num_threads(1)
        assert get() == 1
        tg.set_num_threads(2)
        assert get() == 2

        def inside(w: int) -> None:
            if w == 0:
                tg.set_num_threads(3)
                assert get() == 1  # still held
        backend.in_parallel(inside, 2, own_blas=True)
        assert get() == 3  # what the hold put back
    finally:
        put(before)


@blas
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_a_child_forked_during_a_hold_gets_the_count_back() -> None:
    get, put = backend._blas_threads()
    before = get()
    put(2)
    backend._hold_blas(True)
    try:
        pid = os.fork()
        if pid == 0:  # the child: the holding call does not run here
            ok = get() == 2 and backend._blas_held[0] == 0 and backend._blas_lock.acquire(timeout=5)
            os._exit(0 if ok else 1)
        assert get() == 1  # the parent still holds
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        backend._hold_blas(False)
        put(before)
