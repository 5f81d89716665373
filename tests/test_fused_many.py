"""The multi-tensor CPU fast paths (FusedKernel.run_many): numpy chunks and numba pieces of every tensor of a group
on a thread pool, each against the readable per-tensor update."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_optim import CASE_IDS, CASES, random_grads

import tinygrad_adam as tg
from tinygrad_adam import optim
from tinygrad_adam.optim import fused

FAST = ["numpy"] + (["numba"] if optim.numba_available() else [])
CHUNK = 4096  # the chunk size these tests run under: the same chunk logic as the library's size, in less time
# sizes that cover: empty, tiny, one ragged chunk, several chunks and blocks, a 2-D shape
SHAPES = [(0,), (1,), (7,), (CHUNK + 3,), (3, CHUNK // 2 + 5), (2 * CHUNK + 1,)]


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fused, "CHUNK", CHUNK)
    monkeypatch.setattr(fused, "THREAD_MIN", CHUNK // 2)


@pytest.fixture
def parallel_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three threads (an uneven split of the chunks and pieces), even for these small sizes."""
    monkeypatch.setenv("TINYGRAD_ADAM_THREADS", "3")
    monkeypatch.setattr(fused, "THREAD_MIN", 1)
    monkeypatch.setattr(fused, "PARALLEL_MIN", 1)


def run_many(name: str, kw: dict, p0s: list[np.ndarray], grads: list[list[np.ndarray]], impl: str,
             skip: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Every parameter after len(grads[0]) steps of one optimizer over all of them; ``skip=(step, i)`` leaves
    parameter i without a gradient at that step (so its step count falls behind the others')."""
    params = [tg.Tensor(p.copy(), requires_grad=True) for p in p0s]
    opt = getattr(optim, name)(params, **kw, impl=impl)
    for step in range(len(grads[0])):
        for i, (p, g) in enumerate(zip(params, grads)):
            p.grad = None if skip == (step, i) else tg.Tensor(g[step].astype(p.dtype))
        opt.step()
    return [p.numpy() for p in params]


def problem(dtypes: tuple[type, ...] = (np.float32,), steps: int = 3) -> tuple[list[np.ndarray], list[list]]:
    rng = np.random.default_rng(11)
    p0s = [rng.standard_normal(s).astype(dtypes[i % len(dtypes)]) for i, s in enumerate(SHAPES)]
    grads = [random_grads(steps, s, seed=20 + i) for i, s in enumerate(SHAPES)]
    return p0s, grads


def tolerance(dtype: np.dtype) -> dict[str, float]:
    return {"rtol": 1e-5, "atol": 1e-7} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-15}


@pytest.mark.parametrize("impl", FAST)
@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
def test_multi_tensor_step_equals_the_reference(name: str, kw: dict, impl: str, parallel_everywhere: None) -> None:
    p0s, grads = problem((np.float32, np.float64))
    expected = run_many(name, kw, p0s, grads, "reference")
    for got, want in zip(run_many(name, kw, p0s, grads, impl), expected):
        np.testing.assert_allclose(got, want, **tolerance(want.dtype), err_msg=f"impl={impl} shape={want.shape}")


@pytest.mark.parametrize("impl", FAST)
def test_parallel_paths_equal_the_serial_ones_bit_for_bit(impl: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same element program in any order: threads and the joint call change nothing, not even rounding."""
    p0s, grads = problem()
    monkeypatch.setenv("TINYGRAD_ADAM_THREADS", "1")
    monkeypatch.setattr(fused, "PARALLEL_MIN", 1 << 40)
    one_at_a_time = [run_many("Adam", {"weight_decay": 0.1}, [p], [g], impl)[0] for p, g in zip(p0s, grads)]
    monkeypatch.setenv("TINYGRAD_ADAM_THREADS", "3")
    monkeypatch.setattr(fused, "THREAD_MIN", 1)
    monkeypatch.setattr(fused, "PARALLEL_MIN", 1)
    together = run_many("Adam", {"weight_decay": 0.1}, p0s, grads, impl)
    for a, b in zip(together, one_at_a_time):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("impl", FAST)
@pytest.mark.parametrize(("name", "kw"), CASES, ids=CASE_IDS)
def test_parameters_at_different_steps_keep_their_own_scalars(name: str, kw: dict, impl: str,
                                                             parallel_everywhere: None) -> None:
    """A step's kernel scalars are shared by the parameters whose host state (t, Nadam's mu product) is equal; one
    that missed a step keeps its own bias correction (and schedule)."""
    p0s, grads = problem(steps=4)
    expected = run_many(name, kw, p0s, grads, "reference", skip=(1, 3))
    for got, want in zip(run_many(name, kw, p0s, grads, impl, skip=(1, 3)), expected):
        np.testing.assert_allclose(got, want, **tolerance(want.dtype))


def two_adam_steps(impl: str, first: np.ndarray, second: np.ndarray) -> None:
    """Two Adam steps on two parameters made from these arrays (views kept, not copied), in place."""
    a, b = tg.Tensor(first, requires_grad=True), tg.Tensor(second, requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1, impl=impl)
    for step in range(2):
        a.grad = tg.Tensor(np.full(a.shape, 1.0 + step, dtype=np.float32))
        b.grad = tg.Tensor(np.full(b.shape, -3.0, dtype=np.float32))
        opt.step()


@pytest.mark.parametrize("impl", FAST)
def test_overlapping_parameters_are_updated_one_after_the_other(impl: str, parallel_everywhere: None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Two parameters that are views of one array (an odd model, but a legal one): updating them at once would
    race; they must be updated one after the other, and give what the readable update gives."""
    joint_calls: list[int] = []
    run_numpy, run_numba = fused.FusedKernel._run_numpy, fused.FusedKernel._run_numba
    monkeypatch.setattr(fused.FusedKernel, "_run_numpy",
                        lambda self, flats, *a: (joint_calls.append(len(flats)), run_numpy(self, flats, *a)))
    monkeypatch.setattr(fused.FusedKernel, "_run_numba",
                        lambda self, flats, *a: (joint_calls.append(len(flats)), run_numba(self, flats, *a)))

    def run(impl: str, overlap: bool = True) -> np.ndarray:
        base = np.linspace(-1, 1, 3 * CHUNK, dtype=np.float32)
        second = base[CHUNK:] if overlap else base[CHUNK:].copy()
        two_adam_steps(impl, base[:2 * CHUNK], second)
        return base
    np.testing.assert_allclose(run(impl), run("reference"), rtol=1e-6, atol=1e-6)
    assert joint_calls == [1, 1, 1, 1]
    run(impl, overlap=False)
    assert joint_calls[4:] == [2, 2]  # apart, they go together


@pytest.mark.parametrize("impl", FAST)
def test_overlapping_strided_parameters_see_each_others_updates(impl: str, parallel_everywhere: None) -> None:
    """Two transposed (non-contiguous) views that share two columns: each goes through a contiguous copy, made
    only when its turn comes, so the second sees the first's update, as in the readable update."""
    def run(impl: str) -> np.ndarray:
        base = np.linspace(-1, 1, 6 * 8, dtype=np.float32).reshape(6, 8)
        two_adam_steps(impl, base[:, :5].T, base[:, 3:].T)
        return base
    np.testing.assert_allclose(run(impl), run("reference"), rtol=1e-6, atol=1e-6)


def test_apart_sees_overlaps_that_involve_an_output() -> None:
    base = np.zeros(100, dtype=np.float32)
    p1, p2, p3 = base[:40], base[30:60], base[60:]
    g = np.ones(40, dtype=np.float32)
    assert fused._apart([[p1, g], [p3, g[:40]]], outputs=1)  # a shared gradient is only read: fine
    assert not fused._apart([[p1, g], [p2, g[:30]]], outputs=1)  # two outputs overlap
    assert not fused._apart([[p3, g], [base[10:50], base[:40]]], outputs=1)  # a gradient overlaps an output
    assert not fused._apart([[p1, g[:40]], [g[:30], base[70:]]], outputs=1)  # an output overlaps a gradient
    assert not fused._apart([[base[::2], g], [base[1::2], g]], outputs=1)  # interleaved: conservative
    assert fused._apart([[base[0:40:2], g], [base[40:80:2], g]], outputs=1)  # strided but apart


def test_arrays_that_own_their_memory_are_apart_unless_they_are_the_same_object() -> None:
    p, q, g = np.zeros(8), np.zeros(8), np.ones(8)
    assert fused._apart([[p, g], [q, g]], outputs=1)  # one gradient read by both
    assert not fused._apart([[p, g], [q, p]], outputs=1)  # the first's output is the second's gradient
    assert not fused._apart([[p, g], [p, g]], outputs=1)


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 40), st.sampled_from([1, 2, -1])), min_size=2,
                max_size=4))
def test_apart_never_misses_an_overlap(views: list[tuple[int, int, int]]) -> None:
    """Against numpy's exact answer: whenever _apart says yes, no output shares memory with another tensor's array."""
    base = np.zeros(100)
    tensors = [[base[start:start + length][::step], np.ones(len(base[start:start + length][::step]))]
               for start, length, step in views]
    if fused._apart(tensors, outputs=1):
        for i, ti in enumerate(tensors):
            for j, tj in enumerate(tensors):
                if i != j:
                    assert not any(np.shares_memory(ti[0], a) for a in tj)


@pytest.mark.parametrize("impl", FAST)
def test_replaced_state_and_parameter_arrays_are_updated(impl: str, parallel_everywhere: None) -> None:
    """A state loaded from a checkpoint and fresh parameter arrays between steps: the update goes to the new
    arrays, not to the old ones."""
    p0s, grads = problem(steps=4)
    expected = run_many("Adam", {}, p0s, grads, "reference")
    params = [tg.Tensor(p.copy(), requires_grad=True) for p in p0s]
    opt = optim.Adam(params, impl=impl)
    for step in range(4):
        for p, g in zip(params, grads):
            p.grad = tg.Tensor(g[step].astype(np.float32))
        opt.step()
        if step == 1:
            opt.load_state_dict(opt.state_dict())  # fresh m and v arrays
            for p in params:  # and fresh parameter arrays
                p.data = p._data.copy()
    for p, want in zip(params, expected):
        np.testing.assert_allclose(p.numpy(), want, rtol=1e-5, atol=1e-7)


@given(st.lists(st.integers(0, 50), max_size=8), st.integers(1, 5))
def test_runs_cover_every_element_once_in_equal_runs(sizes: list[int], workers: int) -> None:
    runs = fused._runs(sizes, workers)
    assert len(runs) == workers
    pieces = [piece for run in runs for piece in run]
    assert pieces == sorted(pieces) and all(start < stop for _, start, stop in pieces)
    covered = [(t, i) for t, start, stop in pieces for i in range(start, stop)]
    assert covered == [(t, i) for t, n in enumerate(sizes) for i in range(n)]
    lengths = [sum(stop - start for _, start, stop in run) for run in runs]
    assert max(lengths) - min(lengths) <= 1


def test_a_grad_of_the_wrong_dtype_raises_before_any_parameter_moves() -> None:
    a = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    b = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = optim.Adam([a, b], impl="numpy")
    a.grad, b.grad = tg.Tensor(np.ones(3, dtype=np.float32)), tg.Tensor(np.ones(3, dtype=np.float32))
    b.grad.data = tg.Tensor(np.ones(3, dtype=np.float64))    # .data may change a grad's dtype, as torch's
    with pytest.raises(TypeError, match="grad has dtype float64"):
        opt.step()
    np.testing.assert_array_equal(a.numpy(), 1.0)
    assert opt.state == {}


@pytest.mark.parametrize("impl", FAST)
def test_arrays_of_another_shape_or_dtype_are_named(impl: str) -> None:
    """The kernel refuses a tensor whose arrays disagree, naming the first that differs from ``p``."""
    kernel = optim.adam.adam_kernel(False, False, False)
    scalars = dict.fromkeys(kernel.scalars, 0.5)

    def arrays(**changed: np.ndarray) -> dict[str, np.ndarray]:
        return {**{n: np.ones(4, np.float32) for n in kernel.arrays}, **changed}
    with pytest.raises(TypeError, match=r"array 'v' has shape \(5,\) and dtype float32, but 'p' has shape \(4,\)"):
        kernel.run_many(impl, [arrays(), arrays(v=np.ones(5, np.float32), g=np.ones(3))], scalars, {})
    with pytest.raises(TypeError, match=r"array 'g' has shape \(4,\) and dtype float64, but 'p' has shape"):
        kernel.run(impl, arrays(g=np.ones(4)), scalars, {})


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_steps_with_its_own_thread_pool(parallel_everywhere: None) -> None:
    """A pool inherited through fork has no threads: a child that steps after its parent did must not hang."""
    p0s, grads = problem(steps=1)
    run_many("Adam", {}, p0s, grads, "numpy")  # the parent's pool now exists
    pid = os.fork()
    if pid == 0:  # the child: step, then leave at once with the status
        try:
            run_many("Adam", {}, p0s, grads, "numpy")
        finally:
            os._exit(0)
    for _ in range(600):  # up to 60 s on a busy machine
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung in the optimizer step")
    assert os.waitstatus_to_exitcode(status) == 0
