"""torch names a PyTorch program uses that tinygrad_adam lacked (profiler, multiprocessing, version, storage(),
interop threads, autocast state, fill / binomial / empty_permuted ...): each against torch (CPU)."""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

import tinygrad_adam as tg  # noqa: E402
import tinygrad_adam.nn.functional as F  # noqa: E402

FLOATS = st.one_of(st.floats(-1e30, 1e30), st.sampled_from([float("nan"), float("inf"), -0.0, 1e-45]))


def _family(fn) -> set[str]:
    """The exception families ``fn()`` raises (empty when it returns)."""
    try:
        fn()
    except Exception as e:
        return {f.__name__ for f in (TypeError, ValueError, RuntimeError, AssertionError, IndexError, ImportError)
                if isinstance(e, f)}
    return set()


# ------------------------------------------------------------------------------------------------ version


def test_version_module_as_torch_cpu_build() -> None:
    import tinygrad_adam.version as v

    assert tg.version is v and v.__version__ == tg.__version__
    for name in ("cuda", "hip", "debug", "git_version"):
        assert hasattr(v, name) and hasattr(torch.version, name)
    assert v.cuda is torch.version.cuda is None and v.hip is torch.version.hip is None
    assert v.debug is torch.version.debug is False


# ------------------------------------------------------------------------------------------ multiprocessing


def _child(i: int, path: str) -> None:
    with open(f"{path}/{i}", "w") as f:
        f.write(str(i * 10))


def _failing(i: int) -> None:
    if i == 1:
        raise ValueError("boom from child")


def test_multiprocessing_reexports_python_multiprocessing() -> None:
    import multiprocessing

    import tinygrad_adam.multiprocessing as mp

    assert tg.multiprocessing is mp
    for name in ("Process", "Queue", "Pool", "set_start_method", "get_start_method", "get_context", "cpu_count",
                 "Manager", "Event", "Lock", "current_process"):
        assert getattr(mp, name) is getattr(multiprocessing, name), name
        assert hasattr(torch.multiprocessing, name)
    assert mp.get_all_sharing_strategies() == torch.multiprocessing.get_all_sharing_strategies()
    assert mp.get_sharing_strategy() == torch.multiprocessing.get_sharing_strategy()
    mp.set_sharing_strategy("file_system")
    assert mp.get_sharing_strategy() == "file_system"
    mp.set_sharing_strategy("file_descriptor")
    assert _family(lambda: mp.set_sharing_strategy("nope")) == _family(
        lambda: torch.multiprocessing.set_sharing_strategy("nope")) == {"AssertionError"}


def test_multiprocessing_spawn_runs_each_rank_and_reports_a_failure(tmp_path) -> None:
    import tinygrad_adam.multiprocessing as mp

    assert mp.start_processes(_child, args=(str(tmp_path),), nprocs=3, start_method="fork") is None
    assert sorted((p.name, p.read_text()) for p in tmp_path.iterdir()) == [("0", "0"), ("1", "10"), ("2", "20")]
    ctx = mp.start_processes(_child, args=(str(tmp_path),), nprocs=2, join=False, start_method="fork")
    assert isinstance(ctx, mp.ProcessContext) and len(ctx.pids()) == 2
    while not ctx.join():
        pass
    with pytest.raises(mp.ProcessRaisedException, match="boom from child") as info:
        mp.start_processes(_failing, nprocs=2, start_method="fork")
    assert info.value.error_index == 1 and isinstance(info.value, Exception)


# ---------------------------------------------------------------------------------------------- profiler


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(0, 2))
def test_profiler_schedule_matches_torch(wait: int, warmup: int, active: int, repeat: int, skip: int) -> None:
    ours = tg.profiler.schedule(wait=wait, warmup=warmup, active=active, repeat=repeat, skip_first=skip)
    theirs = torch.profiler.schedule(wait=wait, warmup=warmup, active=active, repeat=repeat, skip_first=skip)
    assert [ours(i).name for i in range(25)] == [theirs(i).name for i in range(25)]


def test_profiler_records_named_blocks_and_tables_them() -> None:
    from tinygrad_adam.profiler import ProfilerActivity, profile, record_function

    assert set(ProfilerActivity.__members__) == set(torch.profiler.ProfilerActivity.__members__)
    assert set(tg.profiler.ProfilerAction.__members__) <= set(torch.profiler.ProfilerAction.__members__)

    @record_function("decorated")
    def work() -> None:
        (tg.ones(10) * 2).sum()

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(3):
            with record_function("outer"), record_function("inner"):
                work()
    with record_function("outside"):  # no open profile: nothing recorded
        pass
    averages = {e.key: e for e in prof.key_averages()}
    assert set(averages) == {"outer", "inner", "decorated"}
    assert averages["outer"].count == 3 and averages["decorated"].count == 3
    outer, inner = averages["outer"], averages["inner"]
    assert outer.cpu_time_total >= inner.cpu_time_total > 0
    assert 0 <= outer.self_cpu_time_total <= outer.cpu_time_total - inner.cpu_time_total + 1e-6
    table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=2)
    assert "Name" in table and "outer" in table and "decorated" not in table.split("Self CPU time total")[0]
    assert "# of Calls" in table and "Self CPU time total:" in table


def test_profiler_schedule_steps_and_on_trace_ready(tmp_path) -> None:
    from tinygrad_adam.profiler import profile, record_function, schedule, tensorboard_trace_handler

    traces = []
    with profile(schedule=schedule(wait=1, warmup=1, active=2, repeat=1), on_trace_ready=traces.append) as prof:
        for step in range(6):
            with record_function(f"step{step}"):
                pass
            prof.step()
    assert len(traces) == 1
    assert {e.key for e in traces[0].events()} == {"step2", "step3", "ProfilerStep#2", "ProfilerStep#3"}
    with profile(on_trace_ready=tensorboard_trace_handler(str(tmp_path), worker_name="w")), record_function("x"):
        pass
    (trace,) = tmp_path.iterdir()
    assert trace.name.startswith("w.") and trace.name.endswith(".pt.trace.json") and '"x"' in trace.read_text()


def test_profiler_cuda_activity_is_dropped_with_torchs_warning() -> None:
    from tinygrad_adam.profiler import ProfilerActivity, profile

    with pytest.warns(UserWarning, match="CUDA is not available"), profile(
            activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]):
        pass


# ----------------------------------------------------------------------------------------- utils.hooks / tb


def test_utils_hooks_removable_handle_is_what_register_hook_returns() -> None:
    from tinygrad_adam.utils.hooks import RemovableHandle

    x = tg.ones(2, requires_grad=True)
    handle = x.register_hook(lambda g: g)
    assert isinstance(handle, RemovableHandle) and hasattr(torch.utils.hooks, "RemovableHandle")
    handle.remove()


def test_utils_tensorboard_import_fails_as_torchs_without_tensorboard(monkeypatch: pytest.MonkeyPatch) -> None:
    """(With tensorboard installed, as in CI, its absence is simulated: no spec, no importable module.)"""
    import builtins
    import sys

    real_import, real_spec = builtins.__import__, importlib.util.find_spec

    def no_tensorboard_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == "tensorboard":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard_import)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.split(".")[0] == "tensorboard" else real_spec(name, *a))
    for name in ("torch.utils.tensorboard", "tinygrad_adam.utils.tensorboard"):
        for cached in [m for m in sys.modules if m.startswith(name)]:
            monkeypatch.delitem(sys.modules, cached)
        with pytest.raises(ModuleNotFoundError, match="tensorboard"):
            importlib.import_module(name)


# ---------------------------------------------------------------------------------------- storage & co.

DTYPES = ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool"]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(DTYPES), st.lists(st.integers(0, 4), min_size=0, max_size=3), st.integers(0, 2),
       st.booleans())
def test_storage_matches_torch(dtype: str, shape: list[int], start: int, transpose: bool) -> None:
    data = (np.arange(int(np.prod(shape)), dtype=np.float64) * 1.5 - 3).astype(dtype).reshape(shape)
    ours, theirs = tg.tensor(data), torch.tensor(data)
    if transpose and len(shape) >= 2:
        ours, theirs = ours.transpose(0, 1), theirs.transpose(0, 1)
    if shape and start < shape[0]:
        ours, theirs = ours[start:], theirs[start:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s, t = ours.storage(), theirs.storage()
        base = tg.tensor(data).storage()
    assert (len(s), s.size(), s.element_size(), s.nbytes()) == (len(t), t.size(), t.element_size(), t.nbytes())
    assert s.tolist() == t.tolist()
    assert type(s).__name__ == type(t).__name__ == "TypedStorage"
    assert ours.storage_type().__name__ == theirs.storage_type().__name__ and s.type().split(".")[-1] == t.type(
        ).split(".")[-1]
    assert s.data_ptr() == ours.untyped_storage().data_ptr() and base.data_ptr() != s.data_ptr()
    assert tg.is_storage(s.untyped())


def test_storage_writes_reach_the_tensor_and_warn_as_torchs() -> None:
    x = tg.zeros(2, 3)
    with pytest.warns(UserWarning, match="TypedStorage is deprecated"):
        s = x[1].storage()
    s[4] = 7.0
    assert x[1, 1].item() == 7.0 and s[4] == 7.0 and s.data_ptr() == x.storage().data_ptr()


def test_dense_tensor_predicates_match_torch() -> None:
    a, b = np.arange(6.0, dtype=np.float32).reshape(2, 3), np.ones(3, dtype=np.float32)
    for lib, make in ((tg, tg.tensor), (torch, torch.tensor)):
        x = make(a)
        assert x.to_dense() is x and x.to_dense(dtype=lib.float64).dtype == lib.float64
        assert x.is_quantized is False and x.const_data_ptr() == x.data_ptr()
        assert x.is_set_to(x) and not x.is_set_to(x.clone()) and not x.is_set_to(x[0]) and not x.is_set_to(make(b))
        assert not x.is_set_to(x.t()) and x[1].is_set_to(x[1])


# ------------------------------------------------------------------------------------ global switches


@pytest.mark.parametrize("n", [0, -1, True, 2.0])
def test_set_num_interop_threads_rejects_as_torchs(n) -> None:
    assert _family(lambda: tg.set_num_interop_threads(n)) == _family(
        lambda: torch.set_num_interop_threads(n)) == {"RuntimeError"}


def test_interop_threads_and_warn_always_round_trip() -> None:
    assert isinstance(tg.get_num_interop_threads(), int) and tg.get_num_interop_threads() >= 1
    tg.set_num_interop_threads(3)
    assert tg.get_num_interop_threads() == 3
    assert tg.is_warn_always_enabled() is torch.is_warn_always_enabled() is False
    tg.set_warn_always(True)
    assert tg.is_warn_always_enabled() is True
    tg.set_warn_always(False)


def test_is_inference_function_matches_torch() -> None:
    for lib in (tg, torch):
        x = lib.ones(2)
        with lib.inference_mode():
            y = lib.ones(2)
        assert (lib.is_inference(x), lib.is_inference(y)) == (False, True)
    assert _family(lambda: tg.is_inference(3)) == _family(lambda: torch.is_inference(3)) == {"TypeError"}


@pytest.mark.parametrize("kind", ["torch.FloatTensor", "torch.LongTensor", "FloatTensor", "torch.cuda.FloatTensor",
                                  "torch.BoolTensor"])
def test_set_default_tensor_type_as_torchs(kind: str) -> None:
    if kind.startswith("torch.cuda") and torch.cuda.is_available():
        pytest.skip("torch has a GPU here")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs, ours = _family(lambda: torch.set_default_tensor_type(kind)), _family(
            lambda: tg.set_default_tensor_type(kind))
        torch.set_default_dtype(torch.float32)
    assert ours == theirs
    with pytest.warns(UserWarning, match="deprecated"):
        tg.set_default_tensor_type(tg.FloatTensor)
    assert tg.get_default_dtype() == tg.float32 and tg.ones(1).device == "cpu"


def test_get_device_module() -> None:
    import tinygrad_adam.cpu

    assert tg.get_device_module("cpu") is tinygrad_adam.cpu and tg.get_device_module(tg.device("cpu")) is (
        tinygrad_adam.cpu)
    assert torch.get_device_module("cpu") is torch.cpu
    if not torch.cuda.is_available():
        assert tg.get_device_module() is tinygrad_adam.cpu and torch.get_device_module() is torch.cpu
    assert _family(lambda: tg.get_device_module("foo")) == _family(lambda: torch.get_device_module("foo")) == {
        "RuntimeError"}


def test_autocast_state_functions() -> None:
    for lib in (tg, torch):
        assert lib.get_autocast_dtype("cuda") == lib.float16
        lib.set_autocast_enabled("cpu", True)
        assert lib.is_autocast_enabled("cpu") and not lib.is_autocast_enabled("cuda")
        lib.set_autocast_enabled("cpu", False)
        lib.set_autocast_enabled(True)  # the old form: cuda
        assert lib.is_autocast_enabled("cuda") and lib.is_autocast_enabled()
        lib.set_autocast_enabled(False)
        with pytest.warns(DeprecationWarning):
            assert lib.is_autocast_cpu_enabled() is False
    with tg.autocast("cpu", dtype=tg.float16):
        assert tg.get_autocast_dtype("cpu") == tg.float16 and tg.is_autocast_enabled("cpu")
    for lib in (tg, torch):  # torch's cpu default, bfloat16 (a name only here: the block runs in full precision)
        assert lib.get_autocast_dtype("cpu") is lib.bfloat16
        with lib.autocast("cpu", dtype=lib.bfloat16):
            assert lib.get_autocast_dtype("cpu") is lib.bfloat16 and lib.is_autocast_enabled("cpu")
            y = lib.ones(2, 3) @ lib.ones(3, 2)
        assert y.dtype == (lib.float32 if lib is tg else lib.bfloat16)
    assert _family(lambda: tg.get_autocast_dtype("foo")) == _family(lambda: torch.get_autocast_dtype("foo"))


# ---------------------------------------------------------------------------------- fill / binomial / ...


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["float32", "float64", "int64", "int32", "bool"]), st.lists(st.integers(0, 3), max_size=3),
       FLOATS, st.booleans())
def test_fill_matches_torch(dtype: str, shape: list[int], value: float, as_tensor: bool) -> None:
    if dtype in ("int64", "int32") and not (np.isfinite(value) and abs(value) < 2**31):
        value = 7.0
    data = np.zeros(shape, dtype=dtype)
    grad = dtype.startswith("float")
    x, tx = tg.tensor(data, requires_grad=grad), torch.tensor(data, requires_grad=grad)
    v, tv = (tg.tensor(value, requires_grad=grad), torch.tensor(value, requires_grad=grad)) if as_tensor else (
        value, value)
    out, tout = tg.fill(x, v), torch.fill(tx, tv)
    assert out.dtype == np.dtype(str(tout.dtype).removeprefix("torch.")) and out.shape == tuple(tout.shape)
    np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())
    if grad:
        up = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
        out.backward(tg.tensor(up))
        tout.backward(torch.tensor(up))
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
        if as_tensor:
            np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy(), rtol=1e-6)
    assert _family(lambda: tg.fill(x, tg.ones(2))) == _family(lambda: torch.fill(tx, torch.ones(2))) == {
        "RuntimeError"}


def test_binomial_edges_shapes_and_errors_match_torch() -> None:
    count = [10.0, 0.0, -1.0, 3.0, 3.0, 4.0, 5.0]
    prob = [0.0, 0.5, 0.5, 1.5, float("nan"), 1.0, -0.5]
    ours = tg.binomial(tg.tensor(count), tg.tensor(prob))
    theirs = torch.binomial(torch.tensor(count), torch.tensor(prob))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert ours.dtype == np.float32
    b = tg.binomial(tg.tensor([[10.0], [20.0]]), tg.tensor(0.5))
    assert b.shape == tuple(torch.binomial(torch.tensor([[10.0], [20.0]]), torch.tensor(0.5)).shape) == (2, 1)
    for args, targs in (((tg.tensor([1, 2]), tg.tensor([0.5, 0.5])), (torch.tensor([1, 2]), torch.tensor([.5, .5]))),
                        ((tg.tensor([1.0]).double(), tg.tensor([0.5])), (torch.tensor([1.0]).double(),
                                                                          torch.tensor([0.5])))):
        assert _family(lambda a=args: tg.binomial(*a)) == _family(lambda a=targs: torch.binomial(*a))
    c, tc = tg.tensor([5.0], requires_grad=True), torch.tensor([5.0], requires_grad=True)
    assert _family(lambda: tg.binomial(c, tg.tensor([0.5])).sum().backward()) == _family(
        lambda: torch.binomial(tc, torch.tensor([0.5])).sum().backward()) == {"RuntimeError"}


def test_binomial_draws_have_the_binomial_mean() -> None:
    tg.manual_seed(0)
    draws = tg.binomial(tg.full((20000,), 12.0), tg.full((20000,), 0.25)).numpy()
    assert abs(draws.mean() - 3.0) < 0.06 and abs(draws.var() - 2.25) < 0.15
    assert set(np.unique(draws)) <= set(range(13))
    g = tg.Generator().manual_seed(3)
    first = tg.binomial(tg.full((5,), 9.0), tg.full((5,), 0.5), generator=g).numpy()
    g.manual_seed(3)
    np.testing.assert_array_equal(first, tg.binomial(tg.full((5,), 9.0), tg.full((5,), 0.5), generator=g).numpy())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=0, max_size=4).flatmap(
    lambda shape: st.tuples(st.just(shape), st.permutations(list(range(len(shape)))))),
    st.sampled_from(["float32", "int64"]))
def test_empty_permuted_strides_match_torch(case: tuple, dtype: str) -> None:
    shape, order = case
    ours = tg.empty_permuted(shape, order, dtype=dtype)
    theirs = torch.empty_permuted(shape, order, dtype=getattr(torch, dtype))
    assert ours.shape == tuple(theirs.shape) and ours.dtype == np.dtype(dtype)
    if all(n > 1 for n in shape):  # (torch's strides of size-0/1 dims are free)
        assert ours.stride() == theirs.stride()
    assert _family(lambda: tg.empty_permuted((2, 3), (0, 0))) == _family(
        lambda: torch.empty_permuted((2, 3), (0, 0))) == {"RuntimeError"}


def test_embedding_bag_names_exist() -> None:
    assert callable(F.embedding_bag) and hasattr(tg.nn, "EmbeddingBag")


def test_return_types_are_the_classes_the_ops_return() -> None:
    x = tg.randn(3, 4)
    rt = tg.return_types
    assert isinstance(tg.max(x, 0), rt.max) and isinstance(tg.topk(x, 2), rt.topk) and isinstance(
        tg.aminmax(x), rt.aminmax)
    assert isinstance(tg.linalg.slogdet(tg.eye(3)), rt.slogdet) and isinstance(tg.linalg.qr(x), rt.linalg_qr)
    a = np.eye(3, dtype=np.float32) + 1
    for name, call in (("max", lambda L, t: L.max(t, 0)), ("sort", lambda L, t: L.sort(t)), ("aminmax",
                       lambda L, t: L.aminmax(t)), ("frexp", lambda L, t: L.frexp(t)), ("linalg_slogdet",
                       lambda L, t: L.linalg.slogdet(t)), ("linalg_qr", lambda L, t: L.linalg.qr(t)),
                       ("median", lambda L, t: L.median(t, 0))):
        theirs = call(torch, torch.tensor(a))
        assert type(theirs) is getattr(torch.return_types, name)
        assert getattr(rt, name)._fields == tuple(n for n in ("values", "indices", "min", "max", "mantissa",
                                                              "exponent", "sign", "logabsdet", "Q", "R")
                                                  if hasattr(theirs, n)), name


class _Mine(tg.Tensor):
    def doubled(self) -> tg.Tensor:
        return self * 2


class _TorchMine(torch.Tensor):
    pass


def test_as_subclass_aliases_keep_the_graph_as_torchs() -> None:
    data = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    for lib, cls in ((tg, _Mine), (torch, _TorchMine)):
        x = lib.tensor(data, requires_grad=True)
        y = x.as_subclass(cls)
        assert type(y) is cls and y.requires_grad and not y.is_leaf and y.data_ptr() == x.data_ptr()
        (y * 3).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 3.0])
        z = lib.zeros(2)
        w = z.as_subclass(cls)
        w.add_(1)
        assert z.tolist() == [1.0, 1.0]
    assert _family(lambda: tg.ones(1).as_subclass(int)) == _family(lambda: torch.ones(1).as_subclass(int)) == {
        "TypeError"}
    assert _Mine.doubled(tg.ones(2).as_subclass(_Mine)).tolist() == [2.0, 2.0]
    with pytest.raises(TypeError, match="inherit from Tensor"):
        tg.ones(1).as_subclass(dict)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(-4, 3), st.sampled_from([1, 2, 3, 2.5]),
       st.sampled_from(["float32", "float64"]))
def test_norm_except_dim_matches_torch(shape: list[int], dim: int, p: float, dtype: str) -> None:
    data = np.random.default_rng(len(shape) + dim + 10).standard_normal(shape).astype(dtype)
    v, tv = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    fams = _family(lambda: tg.norm_except_dim(v, p, dim)), _family(lambda: torch.norm_except_dim(tv, p, dim))
    assert fams[0] == fams[1]
    if fams[0]:
        return
    out, tout = tg.norm_except_dim(v, p, dim), torch.norm_except_dim(tv, p, dim)
    assert out.shape == tuple(tout.shape) and out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-5)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy(), rtol=1e-4, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 40), st.lists(st.integers(1, 9), min_size=1, max_size=3), st.integers(0, 5))
def test_sobol_engine_unscrambled_matches_torch(dimension: int, draws: list[int], skip: int) -> None:
    ours = tg.quasirandom.SobolEngine(dimension, scramble=False)
    theirs = torch.quasirandom.SobolEngine(dimension, scramble=False)
    ours.fast_forward(skip)
    theirs.fast_forward(skip)
    for n in draws:
        a, b = ours.draw(n), theirs.draw(n)
        assert a.dtype == np.float32 and a.shape == tuple(b.shape)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert ours.num_generated == theirs.num_generated
    np.testing.assert_array_equal(ours.reset().draw(3, dtype=tg.float64).numpy(),
                                  theirs.reset().draw(3, dtype=torch.float64).numpy())


def test_sobol_engine_base2_and_scrambled() -> None:
    ours, theirs = tg.quasirandom.SobolEngine(3), torch.quasirandom.SobolEngine(3)
    ours.draw(3)
    theirs.draw(3)
    assert _family(lambda: ours.draw_base2(2)) == _family(lambda: theirs.draw_base2(2)) == {"ValueError"}
    a = tg.quasirandom.SobolEngine(2, scramble=True, seed=7).draw_base2(4).numpy()
    b = tg.quasirandom.SobolEngine(2, scramble=True, seed=7).draw_base2(4).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (16, 2) and ((a >= 0) & (a < 1)).all()
    for column in a.T:  # a scrambled Sobol' 16-point set puts one point in each 1/16 stratum of every coordinate
        assert sorted(np.floor(column * 16).astype(int)) == list(range(16))
    assert _family(lambda: tg.quasirandom.SobolEngine(0)) == _family(lambda: torch.quasirandom.SobolEngine(0))


WINDOWS = {"bartlett": {}, "blackman": {}, "cosine": {}, "hamming": {}, "hann": {}, "nuttall": {},
           "exponential": {"tau": 2.5}, "gaussian": {"std": 0.7}, "kaiser": {"beta": 5.0},
           "general_hamming": {"alpha": 0.6}, "general_cosine": {"a": [0.5, 0.3, 0.2]}}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(WINDOWS)), st.integers(0, 12), st.booleans(), st.sampled_from([None, "float64"]))
def test_signal_windows_match_torch(name: str, M: int, sym: bool, dtype: str | None) -> None:
    ours = getattr(tg.signal.windows, name)(M, sym=sym, dtype=dtype, **WINDOWS[name])
    theirs = getattr(torch.signal.windows, name)(M, sym=sym, dtype=None if dtype is None else torch.float64,
                                                 **WINDOWS[name])
    assert ours.dtype == np.dtype(dtype or "float32") and ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("call", [lambda W, L: W.hann(-1), lambda W, L: W.gaussian(4, std=0),
                                  lambda W, L: W.exponential(4, center=1.0), lambda W, L: W.hann(3, dtype=L.int64),
                                  lambda W, L: W.exponential(1, center=1.0),
                                  # (the next two returned a window: found by a sweep of torch's OpInfo error inputs)
                                  lambda W, L: W.general_cosine(3, a=[]),
                                  *(lambda W, L, n=n: getattr(W, n)(4, layout=L.sparse_coo, **WINDOWS[n])
                                    for n in sorted(WINDOWS))])
def test_signal_windows_errors_match_torch(call) -> None:
    assert _family(lambda: call(tg.signal.windows, tg)) == _family(
        lambda: call(torch.signal.windows, torch)) == {"ValueError"}
    np.testing.assert_allclose(tg.signal.windows.exponential(5, center=1.0, sym=False).numpy(),
                               torch.signal.windows.exponential(5, center=1.0, sym=False).numpy(), rtol=1e-6)


def test_profiler_self_time_subtracts_only_the_blocks_directly_inside() -> None:
    """key_averages' self time: a block's time less that of the blocks directly inside it on its thread (a block
    inside those is not subtracted twice; another thread's block is not subtracted), in one sweep per thread."""
    from tinygrad_adam.profiler import EventList, FunctionEvent

    events = EventList([FunctionEvent("outer", 0, 10, 1), FunctionEvent("a", 1, 3, 1), FunctionEvent("b", 4, 6, 1),
                        FunctionEvent("c", 4.5, 5, 1), FunctionEvent("other", 2, 9, 2),
                        FunctionEvent("after", 11, 12, 1), FunctionEvent("across", 9, 11.5, 1)])
    self_time = {e.key: e.self_cpu_time_total for e in events.key_averages()}
    assert self_time == {"outer": 6.0, "a": 2.0, "b": 1.5, "c": 0.5, "other": 7.0, "after": 1.0, "across": 2.5}
