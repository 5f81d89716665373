"""torch.distributed in one process (gloo, world size 1), DistributedDataParallel, DistributedSampler and
SyncBatchNorm as the distributed probe found them different, each checked against torch 2.13.

Before these fixes ``init_process_group`` raised (so every collective, DDP and DistributedSampler without explicit
``num_replicas`` / ``rank`` raised where torch's run), ``is_available()`` was False, ``ReduceOp`` lacked BAND / BOR /
BXOR / PREMUL_SUM, and SyncBatchNorm trained on CPU where torch's raises once a group exists. Process groups are
made with ``file://`` rendezvous under pytest's tmp dirs, so no fixed network port is used (safe under -n 2).

Mutations run (each failed here): is_available() False; all_reduce AVG accepting an int64 tensor; all_gather
casting instead of raising on a dtype mismatch; all_gather_object storing the object itself (no pickled copy);
DDP's no_sync() not restoring require_backward_grad_sync; DistributedSampler ignoring the default group (raising);
SyncBatchNorm not raising after init; env:// not checking MASTER_PORT; init with world_size=2 accepted."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
import torch.distributed as tdist  # noqa: E402

import tinygrad_adam as tg  # noqa: E402
import tinygrad_adam.distributed as odist  # noqa: E402
import tinygrad_adam.nn as onn  # noqa: E402

warnings.filterwarnings("ignore", message=".*barrier.*")
DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int32", "int64", "bool"]
OPS = ["SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"]
ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@contextlib.contextmanager
def groups() -> Iterator[None]:
    """Both libraries' default groups (file:// rendezvous, world size 1), destroyed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        for i, dist in enumerate((tdist, odist)):
            dist.init_process_group("gloo", init_method=f"file://{tmp}/store{i}", rank=0, world_size=1)
        try:
            yield
        finally:
            for dist in (tdist, odist):
                if dist.is_initialized():
                    dist.destroy_process_group()


def outcome(fn: object) -> tuple[str, object]:
    """("ok", value) or ("raise", exception family)."""
    try:
        return "ok", fn()  # type: ignore[operator]
    except (ValueError, TypeError, IndexError, AssertionError) as e:
        return "raise", type(e).__mro__[-3 if isinstance(e, ValueError) else 0].__name__
    except RuntimeError:
        return "raise", "RuntimeError"


def same(ours: tg.Tensor, theirs: torch.Tensor) -> None:
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())


def data(draw: st.DrawFn, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Values over the dtype's range with nan / inf / -0.0 / huge / tiny for floats."""
    extreme = [np.nan, np.inf, -np.inf, -0.0, 1e30, 1e-30, 0.0] if dtype.startswith("float") else [0, 1, -1, 127]
    vals = draw(st.lists(st.one_of(st.sampled_from(extreme), st.floats(-100, 100)), min_size=int(np.prod(shape)),
                         max_size=int(np.prod(shape))))
    with np.errstate(all="ignore"):
        return np.array(vals, dtype=np.float64).reshape(shape).astype(dtype)


@st.composite
def tensors(draw: st.DrawFn) -> np.ndarray:
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.sampled_from([(), (0,), (3,), (2, 3), (1, 0, 2)]))
    return data(draw, dtype, shape)


def test_lifecycle_and_queries_as_torch(tmp_path: object) -> None:
    """is_available is True, the queries raise ValueError before init, give rank 0 / size 1 after it, a second
    init raises ValueError and destroy without a group AssertionError, as torch's."""
    assert odist.is_available() is tdist.is_available() is True
    assert odist.is_gloo_available() is tdist.is_gloo_available()
    assert odist.is_nccl_available() is tdist.is_nccl_available()
    for dist in (tdist, odist):
        assert not dist.is_initialized()
        for name in ("get_rank", "get_world_size", "get_backend", "barrier", "new_group"):
            with pytest.raises(ValueError):
                getattr(dist, name)()
        with pytest.raises(ValueError):
            dist.all_reduce(tg.ones(2) if dist is odist else torch.ones(2))
        with pytest.raises(AssertionError):
            dist.destroy_process_group()
        assert dist.group.WORLD is None
    with groups():
        for dist in (tdist, odist):
            assert dist.is_initialized() and (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (
                0, 1, "gloo")
            sub = dist.new_group([0])
            assert (dist.get_rank(sub), dist.get_world_size(sub), dist.get_process_group_ranks(sub)) == (0, 1, [0])
            assert dist.get_global_rank(dist.group.WORLD, 0) == 0 and dist.group.WORLD is not None
            with pytest.raises(ValueError):
                dist.new_group([0, 1])
            with pytest.raises(ValueError):
                dist.init_process_group("gloo", init_method=f"file://{tmp_path}/x", rank=0, world_size=1)
            work = dist.barrier(async_op=True)
            assert (work.wait(), work.is_completed(), work.is_success()) == (True, True, True)
    assert not odist.is_initialized() and not tdist.is_initialized()


@pytest.mark.parametrize("backend, kwargs, env", [
    ("nccl", {"rank": 0, "world_size": 1}, {}),
    ("gloo", {"world_size": 1}, {}),
    ("gloo", {"rank": 0}, {}),
    ("gloo", {"init_method": "env://"}, {}),
    ("gloo", {"init_method": "env://"}, {"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}),
    ("gloo", {"init_method": "env://"}, {"RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}),
])
def test_init_errors_as_torch(tmp_path: object, monkeypatch: pytest.MonkeyPatch, backend: str,
                              kwargs: dict[str, object], env: dict[str, str]) -> None:
    """nccl on CPU: RuntimeError; file:// without rank / world size and env:// with a variable unset: ValueError
    (torch raises before opening any port)."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    results = []
    for i, dist in enumerate((tdist, odist)):
        kw = {"init_method": f"file://{tmp_path}/s{i}", **kwargs}
        results.append(outcome(lambda dist=dist, kw=kw: dist.init_process_group(backend, **kw)))
        assert not dist.is_initialized()
    assert results[0] == results[1] and results[0][0] == "raise"


def test_env_rendezvous_and_world_size(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """env:// reads RANK / WORLD_SIZE (ours opens no port); a world size above 1 raises RuntimeError."""
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")):
        monkeypatch.setenv(name, value)
    odist.init_process_group(backend="gloo")
    try:
        assert (odist.get_rank(), odist.get_world_size()) == (0, 1)
    finally:
        odist.destroy_process_group()
    with pytest.raises(RuntimeError):
        odist.init_process_group("gloo", init_method=f"file://{tmp_path}/s", rank=0, world_size=2)
    assert not odist.is_initialized()


def test_reduce_op_names_and_backend(tmp_path: object) -> None:
    """ReduceOp's names, str and int values; an int or str op raises TypeError; a backend string naming nccl
    (per device type too) raises RuntimeError, "cpu:gloo" is kept as given, as torch's."""
    for name in ("SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR", "PREMUL_SUM"):
        ours, theirs = getattr(odist.ReduceOp, name), getattr(tdist.ReduceOp, name)
        assert (str(ours), int(ours), ours == int(theirs)) == (str(theirs), int(theirs), True)
    assert odist.reduce_op.SUM is odist.ReduceOp.SUM
    for i, dist in enumerate((tdist, odist)):
        with pytest.raises(RuntimeError):
            dist.init_process_group("cpu:gloo,cuda:nccl", init_method=f"file://{tmp_path}/a{i}", rank=0, world_size=1)
        dist.init_process_group("cpu:gloo", init_method=f"file://{tmp_path}/b{i}", rank=0, world_size=1)
        try:
            assert dist.get_backend() == "cpu:gloo"
            for op in (0, "sum"):
                with pytest.raises(TypeError):
                    dist.all_reduce(tg.ones(2) if dist is odist else torch.ones(2), op=op)
        finally:
            dist.destroy_process_group()
    assert (odist.Backend.GLOO, odist.Backend("GLOO"), odist.Backend.NCCL) == (
        tdist.Backend.GLOO, tdist.Backend("GLOO"), tdist.Backend.NCCL)


def test_all_reduce_every_op_and_dtype_as_torch() -> None:
    """In place over one rank: the tensor is unchanged for every op; AVG on integers / bool and the bitwise ops on
    floats raise RuntimeError, as torch's (with async_op from the Work's wait())."""
    @settings(max_examples=80, deadline=None)
    @given(tensors(), st.sampled_from(OPS), st.booleans())
    def check(a: np.ndarray, op: str, async_op: bool) -> None:
        t, o = torch.tensor(a.copy()), tg.tensor(a.copy())
        rt = outcome(lambda: tdist.all_reduce(t, op=getattr(tdist.ReduceOp, op), async_op=async_op))
        ro = outcome(lambda: odist.all_reduce(o, op=getattr(odist.ReduceOp, op), async_op=async_op))
        assert rt[0] == ro[0] and (rt[0] == "ok" or rt == ro), (rt, ro)
        if rt[0] == "ok":
            assert (rt[1] is None) == (ro[1] is None)
            if async_op:  # (a dtype error of an async all_reduce raises from wait())
                assert outcome(rt[1].wait) == outcome(ro[1].wait)
                assert (ro[1].is_completed(), ro[1].is_success()) == (rt[1].is_completed(), rt[1].is_success())
        same(o, t)
    with groups():
        check()


COLLECTIVES = {
    "all_gather": lambda d, o, i: d.all_gather([o], i),
    "all_gather_into_tensor": lambda d, o, i: d.all_gather_into_tensor(o, i),
    "gather": lambda d, o, i: d.gather(i, [o], dst=0),
    "scatter": lambda d, o, i: d.scatter(o, [i], src=0),
    "reduce_scatter": lambda d, o, i: d.reduce_scatter(o, [i]),
    "reduce_scatter_tensor": lambda d, o, i: d.reduce_scatter_tensor(o, i),
    "reduce_scatter_tensor_avg": lambda d, o, i: d.reduce_scatter_tensor(o, i, op=d.ReduceOp.AVG),  # ints raise
    "reduce_scatter_tensor_band": lambda d, o, i: d.reduce_scatter_tensor(o, i, op=d.ReduceOp.BAND),  # floats raise
    "all_to_all": lambda d, o, i: d.all_to_all([o], [i]),
    "broadcast": lambda d, o, i: d.broadcast(o, src=0),
}


def test_copying_collectives_as_torch() -> None:
    """all_gather / gather / scatter / reduce_scatter / all_to_all copy the one rank's input into the output, and
    raise (no cast, no broadcast) where the output's dtype or shape differs, as torch's."""
    @settings(max_examples=80, deadline=None)
    @given(tensors(), st.sampled_from(sorted(COLLECTIVES)), st.sampled_from(DTYPES + [None]),
           st.sampled_from([None, (3,), (1, 3)]))
    def check(a: np.ndarray, name: str, out_dtype: str | None, out_shape: tuple[int, ...] | None) -> None:
        out = np.zeros(a.shape if out_shape is None else out_shape, a.dtype if out_dtype is None else out_dtype)
        if name.startswith("reduce_scatter_tensor") and 0 in (a.ndim, out.ndim):
            return  # torch 2.13's gloo aborts the process on a 0-d tensor here (ours raises RuntimeError)
        t, o = torch.tensor(out.copy()), tg.tensor(out.copy())
        rt = outcome(lambda: COLLECTIVES[name](tdist, t, torch.tensor(a)))
        ro = outcome(lambda: COLLECTIVES[name](odist, o, tg.tensor(a)))
        assert rt == ro, (rt, ro)
        same(o, t)
    with groups():
        check()
        for name in ("reduce_scatter_tensor_avg", "reduce_scatter_tensor_band"):  # the op checked against the dtype
            for a in (np.arange(3, dtype=np.int64), np.arange(3, dtype=np.float32)):
                rt = outcome(lambda n=name, x=a: COLLECTIVES[n](tdist, torch.zeros(3, dtype=torch.tensor(x).dtype),
                                                                torch.tensor(x)))
                ro = outcome(lambda n=name, x=a: COLLECTIVES[n](odist, tg.zeros(3, dtype=x.dtype), tg.tensor(x)))
                assert rt == ro, (name, a.dtype, rt, ro)
        for dist, lib in ((tdist, torch), (odist, tg)):  # dim 0 is what these split: a 0-d tensor raises
            with pytest.raises(RuntimeError):
                dist.all_gather_into_tensor(lib.zeros(()), lib.ones(()))


def test_objects_and_point_to_point_as_torch() -> None:
    """all_gather_object stores a pickled copy; broadcast_object_list on the source leaves the list; sending to
    oneself raises ValueError, as torch's."""
    with groups():
        for dist in (tdist, odist):
            obj, slot = {"a": [1, 2]}, [None]
            dist.all_gather_object(slot, obj)
            assert slot == [obj] and slot[0] is not obj
            objs = [{"x": 1}, 3]
            dist.broadcast_object_list(objs, src=0)
            assert objs == [{"x": 1}, 3]
            out = [None]
            dist.scatter_object_list(out, [7], src=0)
            assert out == [7]
            with pytest.raises(ValueError):
                dist.send(tg.ones(2) if dist is odist else torch.ones(2), dst=0)
            with pytest.raises(ValueError):
                dist.gather(tg.ones(2) if dist is odist else torch.ones(2), dst=0)


def pair(seed: int) -> tuple[torch.nn.Module, onn.Module]:
    torch.manual_seed(seed)
    t = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.BatchNorm1d(5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    o = onn.Sequential(onn.Linear(4, 5), onn.BatchNorm1d(5), onn.Tanh(), onn.Linear(5, 2))
    o.load_state_dict({k: tg.tensor(v.detach().numpy().copy()) for k, v in t.state_dict().items()})
    return t, o


FLAGS = [{}, {"find_unused_parameters": True}, {"static_graph": True}, {"gradient_as_bucket_view": True},
         {"forward_sync_buffers": False}, {"bucket_cap_mb": 1}]


def test_ddp_gradients_and_state_dict_as_torch() -> None:
    """DDP(model) in one process: outputs, gradients (two steps plus a no_sync step accumulate), ``module.``
    state_dict keys and running stats equal torch's DDP and (exactly) the bare model's; no_sync restores gradient
    sync afterwards."""
    @settings(max_examples=12, deadline=None)
    @given(st.integers(0, 2**16), st.sampled_from(FLAGS), st.integers(4, 8))
    def check(seed: int, flags: dict[str, object], batch: int) -> None:
        x = np.random.default_rng(seed).standard_normal((batch, 4)).astype(np.float32) * 3
        w = np.linspace(-1, 1, batch * 2, dtype=np.float32).reshape(batch, 2)
        t, o = pair(seed)
        bare = pair(seed)[1]
        dt, do = torch.nn.parallel.DistributedDataParallel(t, **flags), onn.parallel.DistributedDataParallel(o, **flags)
        for step in range(2):
            xs = x * (step + 1)
            yt, yo, yb = dt(torch.tensor(xs)), do(tg.tensor(xs)), bare(tg.tensor(xs))
            (yt * torch.tensor(w)).sum().backward()
            (yo * tg.tensor(w)).sum().backward()
            (yb * tg.tensor(w)).sum().backward()
            np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
        with dt.no_sync(), do.no_sync():
            assert do.require_backward_grad_sync is dt.require_backward_grad_sync is False
            (dt(torch.tensor(x)) * torch.tensor(w)).sum().backward()
            (do(tg.tensor(x)) * tg.tensor(w)).sum().backward()
        (bare(tg.tensor(x)) * tg.tensor(w)).sum().backward()
        assert do.require_backward_grad_sync is dt.require_backward_grad_sync is True
        assert do.module is o and list(do.state_dict()) == list(dt.state_dict())
        assert list(do.state_dict()) == ["module." + k for k in bare.state_dict()]
        for (name, p), (tname, tp), pb in zip(do.named_parameters(), dt.named_parameters(), bare.parameters()):
            assert name == tname
            np.testing.assert_array_equal(p.grad.numpy(), pb.grad.numpy())
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-3, atol=1e-4)
        for k, v in dt.state_dict().items():
            np.testing.assert_allclose(do.state_dict()[k].numpy(), v.numpy(), rtol=1e-5, atol=1e-5)
    with groups():
        check()


def test_ddp_errors_as_torch() -> None:
    """Before init: ValueError; a module without trainable parameters: RuntimeError; device_ids for a CPU
    module: ValueError; attributes of the wrapped module are not forwarded (AttributeError)."""
    for nn in (torch.nn, onn):
        with pytest.raises(ValueError):
            nn.parallel.DistributedDataParallel(nn.Linear(2, 2))
    with groups():
        for nn in (torch.nn, onn):
            ddp = nn.parallel.DistributedDataParallel(nn.Linear(2, 2))
            assert (ddp.device_ids, ddp.dim, ddp.broadcast_buffers, ddp.find_unused_parameters) == (None, 0, True,
                                                                                                   False)
            for kw, want in (({"forward_sync_buffers": False}, False), ({"forward_sync_buffers": True,
                                                                         "broadcast_buffers": False}, True)):
                assert nn.parallel.DistributedDataParallel(nn.Linear(2, 2), **kw).broadcast_buffers is want
            with pytest.raises(AttributeError):
                ddp.weight  # noqa: B018
            with pytest.raises(RuntimeError):
                nn.parallel.DistributedDataParallel(nn.Linear(2, 2).requires_grad_(False))
            with pytest.raises(ValueError):
                nn.parallel.DistributedDataParallel(nn.Linear(2, 2), device_ids=[0])


def test_distributed_sampler_as_torch() -> None:
    """Explicit num_replicas / rank: torch's exact unshuffled index lists (padding, drop_last); left out they come
    from the default group (ValueError before init, as torch's)."""
    @settings(max_examples=80, deadline=None)
    @given(st.integers(0, 20), st.integers(1, 5), st.data(), st.booleans())
    def check(n: int, reps: int, draw: st.DataObject, drop_last: bool) -> None:
        rank = draw.draw(st.integers(0, reps - 1))
        t = torch.utils.data.DistributedSampler(range(n), reps, rank, shuffle=False, drop_last=drop_last)
        o = tg.utils.data.DistributedSampler(range(n), reps, rank, shuffle=False, drop_last=drop_last)
        assert (list(o), len(o), o.total_size) == (list(t), len(t), t.total_size)
        shuffled = tg.utils.data.DistributedSampler(range(n), reps, rank, drop_last=drop_last)
        assert len(list(shuffled)) == len(t)
    check()
    for sampler in (torch.utils.data.DistributedSampler, tg.utils.data.DistributedSampler):
        with pytest.raises(ValueError):
            sampler(range(5))
        with pytest.raises(ValueError):
            sampler(range(5), num_replicas=2, rank=2)
    with groups():
        t, o = torch.utils.data.DistributedSampler(range(7)), tg.utils.data.DistributedSampler(range(7))
        assert (o.num_replicas, o.rank, len(o), sorted(o)) == (t.num_replicas, t.rank, len(t), sorted(t))


def test_sync_batchnorm_as_torch() -> None:
    """Without a group SyncBatchNorm is BatchNorm (values and running stats equal torch's); once a group exists a
    training forward of a CPU tensor raises ValueError and eval mode still works, as torch's."""
    @settings(max_examples=20, deadline=None)
    @given(st.integers(0, 2**16), st.sampled_from([(4, 3), (2, 3, 5), (2, 3, 2, 2)]), st.booleans())
    def check(seed: int, shape: tuple[int, ...], training: bool) -> None:
        x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 5
        t, o = torch.nn.SyncBatchNorm(3).train(training), onn.SyncBatchNorm(3).train(training)
        ot, oo = outcome(lambda: t(torch.tensor(x))), outcome(lambda: o(tg.tensor(x)))
        assert ot[0] == oo[0]
        if ot[0] == "ok":
            np.testing.assert_allclose(oo[1].detach().numpy(), ot[1].detach().numpy(), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(o.running_mean.numpy(), t.running_mean.numpy(), rtol=1e-5, atol=1e-6)
        else:
            assert ot == oo and training and tdist.is_initialized()
    check()
    with groups():
        check()


def test_torchrun_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The names torchrun scripts use: is_torchelastic_launched, get_node_local_rank (LOCAL_RANK),
    ``elastic.multiprocessing.errors.record`` and torch's submodule paths of DDP."""
    from tinygrad_adam.distributed.elastic.multiprocessing.errors import record
    from tinygrad_adam.nn.parallel.distributed import DistributedDataParallel
    assert record(lambda a: a + 1)(2) == 3 and DistributedDataParallel is onn.parallel.DistributedDataParallel
    for name in ("LOCAL_RANK", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    for dist in (tdist, odist):
        assert (dist.is_torchelastic_launched(), dist.get_node_local_rank(fallback_rank=3)) == (False, 3)
        with pytest.raises(RuntimeError):
            dist.get_node_local_rank()
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    for dist in (tdist, odist):
        assert (dist.is_torchelastic_launched(), dist.get_node_local_rank(fallback_rank=3)) == (True, 0)
    assert os.environ["LOCAL_RANK"] == "0"
