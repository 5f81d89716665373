"""``torch.distributed`` for one process: ``init_process_group`` (backend ``gloo``, rendezvous ``env://``,
``file://`` or ``tcp://``) makes a process group of world size 1 and rank 0, as torch's does when a training script
written for torchrun runs alone. Collectives are then what they are over one rank (``all_reduce`` leaves its tensor
as it is, ``all_gather`` copies into the one slot, ...), with torch's argument checks; before ``init_process_group``
they raise ValueError, as torch's. A world size above 1 raises: there are no other processes to meet. No network
port is opened (the rendezvous address is only read)."""

from __future__ import annotations

import enum
import functools
import os
import pickle
import sys
import types
from datetime import timedelta
from typing import Any

Tensor = Any  # (a leaf module: tensors are recognised by their methods, not imported)

_NO_GROUP = "no default process group yet: call torch.distributed.init_process_group('gloo', ...) first"


class ReduceOp(enum.IntEnum):
    """torch's reduction names for the collectives (``dist.ReduceOp.SUM``, ``int(SUM) == 0``, as torch's);
    ``ReduceOp.RedOpType`` and the deprecated ``dist.reduce_op`` name the same class."""

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7
    PREMUL_SUM = 8

    def __str__(self) -> str:
        return f"RedOpType.{self.name}"


ReduceOp.RedOpType = ReduceOp  # type: ignore[attr-defined]
reduce_op = ReduceOp


class Backend(str):
    """torch's ``dist.Backend``: ``Backend("GLOO") == "gloo"``; the names as class attributes."""

    UNDEFINED, GLOO, NCCL, UCC, MPI = "undefined", "gloo", "nccl", "ucc", "mpi"

    def __new__(cls, name: str) -> Backend:
        if not isinstance(name, str):
            raise ValueError(f"Backend: a backend name is a str (e.g. 'gloo'), got {type(name).__name__}")
        return super().__new__(cls, name.lower())


class ProcessGroup:
    """A process group of this one process: ``ranks`` are global ranks (``[0]`` or ``[]``)."""

    def __init__(self, ranks: list[int], backend: str) -> None:
        self.ranks, self.backend = ranks, backend

    def rank(self) -> int:
        return 0 if self.ranks else -1

    def size(self) -> int:
        return len(self.ranks)

    def name(self) -> str:
        return self.backend


class Work:
    """The handle ``async_op=True`` returns; the work is already done (one process)."""

    def __init__(self, tensors: list[Any] | None = None, error: Exception | None = None) -> None:
        self._tensors, self._error = tensors or [], error

    def wait(self, timeout: Any = None) -> bool:
        """True; an error the collective met (a ReduceOp the dtype does not take) raises here, as torch's."""
        if self._error is not None:
            raise self._error
        return True

    def is_completed(self) -> bool:
        return True

    def is_success(self) -> bool:
        return self._error is None

    def result(self) -> list[Any]:
        return list(self._tensors)

    def synchronize(self) -> None:
        pass


class _Group:
    """``dist.group`` / ``dist.GroupMember``: ``WORLD`` is the default group (None before init_process_group)."""

    NON_GROUP_MEMBER = -100

    @property
    def WORLD(self) -> ProcessGroup | None:  # noqa: N802 (torch's name)
        return _world


group = GroupMember = _Group()
_world: ProcessGroup | None = None
_backend_name = Backend.UNDEFINED


def is_available() -> bool:
    """True, as torch's: one-process groups (world size 1) are made here."""
    return True


def is_initialized() -> bool:
    """Whether ``init_process_group`` made the default group (and ``destroy_process_group`` has not undone it)."""
    return _world is not None


def is_nccl_available() -> bool:
    return False


def is_gloo_available() -> bool:
    return True


def is_mpi_available() -> bool:
    return False


def is_ucc_available() -> bool:
    return False


def is_torchelastic_launched() -> bool:
    """Whether torchrun started this process (it sets ``TORCHELASTIC_RUN_ID``), as torch's."""
    return os.getenv("TORCHELASTIC_RUN_ID") is not None


def get_node_local_rank(fallback_rank: int | None = None) -> int:
    """``LOCAL_RANK`` from the environment (torchrun sets it), else ``fallback_rank``; RuntimeError without both."""
    if "LOCAL_RANK" in os.environ:
        return int(os.environ["LOCAL_RANK"])
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError("get_node_local_rank: LOCAL_RANK is not set (torchrun sets it); pass fallback_rank=0 to run "
                       "this one process on its own")


_ENV_EXAMPLE = {"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


def _rendezvous(init_method: str, rank: int, world_size: int, store: Any) -> tuple[int, int]:
    """The (rank, world_size) the rendezvous gives: from the arguments, the ``file://`` / ``tcp://`` URL's query,
    or (``env://``) ``RANK`` / ``WORLD_SIZE``, with ``MASTER_ADDR`` / ``MASTER_PORT`` required, as torch's."""
    if store is not None:
        if rank == -1 or world_size == -1:
            raise ValueError("init_process_group: with a store, give world_size and rank too")
        return rank, world_size
    scheme, _, rest = init_method.partition("://")
    query = dict(kv.split("=", 1) for kv in rest.partition("?")[2].split("&") if "=" in kv)
    rank = int(query.get("rank", rank))
    world_size = int(query.get("world_size", world_size))
    if scheme == "env":
        for var, value in (("RANK", rank), ("WORLD_SIZE", world_size), ("MASTER_ADDR", None),
                           ("MASTER_PORT", None)):
            if (value is None or value == -1) and var not in os.environ:
                raise ValueError(f"init_process_group: the env:// rendezvous reads {var} from the environment, "
                                 f"and it is not set; set it (e.g. {var}={_ENV_EXAMPLE[var]}) or pass it")
        rank = int(os.environ["RANK"]) if rank == -1 else rank
        world_size = int(os.environ["WORLD_SIZE"]) if world_size == -1 else world_size
    elif scheme in ("file", "tcp"):
        for what, value in (("rank", rank), ("world size", world_size)):
            if value == -1:
                raise ValueError(f"init_process_group: the {scheme}:// rendezvous needs the {what}; pass it "
                                 "(rank=0, world_size=1) or put it in the URL's query")
    else:
        raise RuntimeError(f"init_process_group: unknown rendezvous {scheme}://; use env://, file:// or tcp://")
    return rank, world_size


def init_process_group(backend: str | None = None, init_method: str | None = None, timeout: timedelta | None = None,
                       world_size: int = -1, rank: int = -1, store: Any = None, group_name: str = "",
                       pg_options: Any = None, device_id: Any = None) -> None:
    """Make the default process group: world size 1, rank 0 (backend ``gloo``; ``nccl`` / ``mpi`` / ``ucc``
    raise RuntimeError, as torch's built without them). A world size above 1 raises RuntimeError (torch's would wait
    for the other processes); ``timeout`` is only checked."""
    global _world, _backend_name
    if _world is not None:
        raise ValueError("init_process_group: the default process group exists already; call destroy_process_group() "
                         "first to make a new one")
    if timeout is not None and not isinstance(timeout, timedelta):
        raise TypeError(f"init_process_group: timeout is a datetime.timedelta, got {type(timeout).__name__}")
    name = Backend.UNDEFINED if backend is None else Backend(backend)
    for part in name.split(","):  # "gloo", or per device type: "cpu:gloo,cuda:nccl"
        kind = part.rpartition(":")[2]
        if kind in (Backend.NCCL, Backend.MPI, Backend.UCC):
            raise RuntimeError(f"init_process_group: no {kind} backend here (CPU, one process); use backend='gloo'")
        if kind not in (Backend.UNDEFINED, Backend.GLOO):
            raise ValueError(f"init_process_group: unknown backend {kind!r}; use 'gloo'")
    rank, world_size = _rendezvous(init_method or "env://", rank, world_size, store)
    if world_size != 1:
        raise RuntimeError(f"init_process_group: world_size={world_size}, but tinygrad_adam runs in one process "
                           "(world size 1); start one process and leave out the others")
    if not 0 <= rank < world_size:
        raise RuntimeError(f"init_process_group: rank {rank} is outside the world of size {world_size}; use rank=0")
    _backend_name = name
    _world = ProcessGroup([0], str(name))


def _group(group: Any = None) -> ProcessGroup:
    """The group a call names (None: the default one); ValueError before ``init_process_group``."""
    if _world is None:
        raise ValueError(_NO_GROUP)
    if group is None:
        return _world
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"expected a ProcessGroup, got {type(group).__name__}")
    return group


def destroy_process_group(group: Any = None) -> None:
    """Undo ``init_process_group`` (or forget a subgroup); AssertionError without a group, as torch's."""
    global _world
    if _world is None:
        raise AssertionError("destroy_process_group: there is no process group to destroy")
    if group is None or group is _world:
        _world = None


def get_rank(group: Any = None) -> int:
    """0 in this process (-1 for a group it is not in, as torch's)."""
    return _group(group).rank()


def get_world_size(group: Any = None) -> int:
    """1 (the group's size)."""
    return _group(group).size()


def get_backend(group: Any = None) -> str:
    """The backend ``init_process_group`` was given (``"undefined"`` where it named none, as torch's on CPU)."""
    _group(group)
    return str(_backend_name)


def new_group(ranks: list[int] | None = None, timeout: timedelta | None = None, backend: str | None = None,
              pg_options: Any = None, use_local_synchronization: bool = False, group_desc: str | None = None,
              device_id: Any = None) -> ProcessGroup:
    """A group of ``ranks`` (all, when None) of the one-process world: ValueError for ranks outside it."""
    world = _group()
    ranks = [0] if ranks is None else sorted(int(r) for r in ranks)
    if len(ranks) > world.size():
        raise ValueError(f"new_group: {len(ranks)} ranks given, but the world has {world.size()} (rank 0)")
    if any(r != 0 for r in ranks):
        raise ValueError(f"new_group: ranks {ranks} are outside the world (rank 0 only)")
    return ProcessGroup(ranks, world.backend)


def get_process_group_ranks(group: Any) -> list[int]:
    return list(_group(group).ranks)


def get_global_rank(group: Any, group_rank: int) -> int:
    """The global rank of ``group_rank`` in ``group``."""
    ranks = _group(group).ranks
    if not 0 <= group_rank < len(ranks):
        raise ValueError(f"get_global_rank: group rank {group_rank} is not in the group (its ranks: {ranks})")
    return ranks[group_rank]


def get_group_rank(group: Any, global_rank: int) -> int:
    """The rank in ``group`` of global rank ``global_rank``."""
    ranks = _group(group).ranks
    if global_rank not in ranks:
        raise ValueError(f"get_group_rank: global rank {global_rank} is not in the group (its ranks: {ranks})")
    return ranks.index(global_rank)


def _done(async_op: bool, tensors: list[Any] | None = None) -> Work | None:
    return Work(tensors) if async_op else None


def _is_tensor(value: Any) -> bool:
    return all(hasattr(value, attr) for attr in ("copy_", "is_floating_point", "shape", "dtype"))


def _tensor(value: Any, name: str = "tensor") -> Tensor:
    if not _is_tensor(value):
        raise TypeError(f"{name} must be a Tensor, got {type(value).__name__}")
    return value


def _tensor_list(value: Any, name: str, size: int) -> list[Tensor]:
    if not isinstance(value, (list, tuple)) or not all(_is_tensor(t) for t in value):
        raise TypeError(f"{name} takes a list holding Tensors, not a {type(value).__name__}")
    if len(value) != size:
        raise RuntimeError(f"{name} must hold one tensor per rank ({size}), got {len(value)}")
    return list(value)


def _same_size(out: Tensor, inp: Tensor, dtype_error: type[Exception] = ValueError) -> None:
    """torch's checks that an output tensor has its input's dtype and shape (no cast, no broadcast); the
    ``*_tensor`` collectives (``dtype_error`` RuntimeError) split dim 0, so they take no 0-d tensor."""
    if dtype_error is RuntimeError and (out.ndim == 0 or inp.ndim == 0):
        raise RuntimeError("a 0-d tensor has no dim 0 to gather / scatter along")
    if out.dtype != inp.dtype:
        raise dtype_error(f"the output tensor is {out.dtype} and the input {inp.dtype}; collectives do not cast: "
                          "give both one dtype")
    if tuple(out.shape) != tuple(inp.shape):
        raise RuntimeError(f"the output tensor has shape {tuple(out.shape)}, the input {tuple(inp.shape)}; give both "
                           "one shape")


def _reduce(tensor: Tensor, op: Any, async_op: bool, group: Any) -> Work | None:
    """A reduction over one rank: ``tensor`` stays as it is. torch's checks of ``op`` against the dtype raise at
    the call, or, with ``async_op``, from the Work's ``wait()``."""
    _tensor(tensor)
    _group(group)
    try:
        _check_op(tensor, op)
    except RuntimeError as e:
        if not async_op:
            raise
        return Work([tensor], e)
    return _done(async_op, [tensor])


def _check_op(tensor: Tensor, op: Any) -> None:
    """torch's checks of ``op`` against the dtype: AVG needs a floating tensor, the bitwise ones an integral one."""
    if not isinstance(op, ReduceOp):  # (torch's takes no int or str either)
        raise TypeError(f"op must be a dist.ReduceOp, got {op!r}")
    floating = tensor.is_floating_point() or tensor.is_complex()
    if op is ReduceOp.AVG and not floating:
        raise RuntimeError(f"ReduceOp.AVG needs a floating-point tensor, got {tensor.dtype}; use SUM, or convert it")
    if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and floating:
        raise RuntimeError(f"ReduceOp.{op.name} needs an integer or bool tensor, got {tensor.dtype}")
    if op is ReduceOp.PREMUL_SUM:
        raise TypeError("ReduceOp.PREMUL_SUM needs a factor (dist._make_nccl_premul_sum), which gloo has not")


def _check_rank(rank: int | None, what: str) -> None:
    if rank is not None and rank != 0:
        raise RuntimeError(f"invalid {what} rank: {rank} (world size 1)")


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Work | None:
    _group(group)
    return _done(async_op)


def monitored_barrier(group: Any = None, timeout: timedelta | None = None, wait_all_ranks: bool = False) -> None:
    _group(group)


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None, async_op: bool = False) -> Work | None:
    """In place over one rank: every op leaves ``tensor`` as it is (after torch's dtype checks)."""
    return _reduce(tensor, op, async_op, group)


def reduce(tensor: Tensor, dst: int | None = None, op: ReduceOp = ReduceOp.SUM, group: Any = None,
           async_op: bool = False, group_dst: int | None = None) -> Work | None:
    _check_rank(dst if group_dst is None else group_dst, "root")
    return _reduce(tensor, op, async_op, group)


def broadcast(tensor: Tensor, src: int | None = None, group: Any = None, async_op: bool = False,
              group_src: int | None = None) -> Work | None:
    _tensor(tensor)
    _group(group)
    _check_rank(src if group_src is None else group_src, "root")
    return _done(async_op, [tensor])


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: Any = None, async_op: bool = False) -> Work | None:
    """``tensor_list`` (of length 1) gets a copy of ``tensor``."""
    _tensor(tensor)
    size = _group(group).size()
    (out,) = _tensor_list(tensor_list, "tensor_list", size)
    _same_size(out, tensor)
    out.copy_(tensor)
    return _done(async_op, tensor_list)


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group: Any = None,
                           async_op: bool = False) -> Work | None:
    """``output_tensor`` (of ``input_tensor``'s shape) gets a copy of it."""
    return _copy_tensor(output_tensor, input_tensor, ("output_tensor", "input_tensor"), group, async_op)


def _copy_tensor(output: Tensor, input: Tensor, names: tuple[str, str], group: Any, async_op: bool,  # noqa: A002
                 op: ReduceOp | None = None) -> Work | None:
    """The ``*_tensor`` / ``*_single`` collectives over one rank: ``output`` gets a copy of ``input`` (of its dtype
    and shape, not 0-d), after ``op``'s check against the dtype for the reducing ones."""
    _tensor(output, names[0])
    _tensor(input, names[1])
    if op is not None:
        _check_op(input, op)
    _group(group)
    _same_size(output, input, RuntimeError)
    output.copy_(input)
    return _done(async_op, [output])


def reduce_scatter(output: Tensor, input_list: list[Tensor], op: ReduceOp = ReduceOp.SUM, group: Any = None,
                   async_op: bool = False) -> Work | None:
    _tensor(output, "output")
    (inp,) = _tensor_list(input_list, "input_list", _group(group).size())
    _check_op(inp, op)
    _same_size(output, inp)
    output.copy_(inp)
    return _done(async_op, [output])


def reduce_scatter_tensor(output: Tensor, input: Tensor, op: ReduceOp = ReduceOp.SUM,  # noqa: A002 (torch's name)
                          group: Any = None, async_op: bool = False) -> Work | None:
    return _copy_tensor(output, input, ("output", "input"), group, async_op, op)


def gather(tensor: Tensor, gather_list: list[Tensor] | None = None, dst: int | None = None, group: Any = None,
           async_op: bool = False, group_dst: int | None = None) -> Work | None:
    """``gather_list`` (of length 1, on the destination rank, the only one) gets a copy of ``tensor``."""
    return _root_copy("gather", tensor, gather_list, dst if group_dst is None else group_dst, True, group, async_op)


def scatter(tensor: Tensor, scatter_list: list[Tensor] | None = None, src: int | None = None, group: Any = None,
            async_op: bool = False, group_src: int | None = None) -> Work | None:
    """``tensor`` gets a copy of ``scatter_list``'s one tensor (given on the source rank, the only one)."""
    return _root_copy("scatter", tensor, scatter_list, src if group_src is None else group_src, False, group, async_op)


def _root_copy(op: str, tensor: Tensor, tensors: list[Tensor] | None, root: int | None, into_list: bool, group: Any,
               async_op: bool) -> Work | None:
    """gather (``into_list``: tensor -> tensors[0]) or scatter (tensors[0] -> tensor) over one rank."""
    _tensor(tensor)
    size = _group(group).size()
    _check_rank(root, "root")
    name = f"{op}_list"
    if tensors is None:
        raise ValueError(f"{op}: pass {name} on the {'destination' if into_list else 'source'} rank (a list of one "
                         "tensor here)")
    (other,) = _tensor_list(tensors, name, size)
    out, inp = (other, tensor) if into_list else (tensor, other)
    _same_size(out, inp)
    out.copy_(inp)
    return _done(async_op, [tensor])


def all_to_all(output_tensor_list: list[Tensor], input_tensor_list: list[Tensor], group: Any = None,
               async_op: bool = False) -> Work | None:
    size = _group(group).size()
    (out,) = _tensor_list(output_tensor_list, "output_tensor_list", size)
    (inp,) = _tensor_list(input_tensor_list, "input_tensor_list", size)
    _same_size(out, inp)
    out.copy_(inp)
    return _done(async_op, output_tensor_list)


def all_to_all_single(output: Tensor, input: Tensor, output_split_sizes: Any = None,  # noqa: A002 (torch's name)
                      input_split_sizes: Any = None, group: Any = None, async_op: bool = False) -> Work | None:
    return _copy_tensor(output, input, ("output", "input"), group, async_op)


def _point_to_point(name: str, peer: int | None, what: str) -> None:
    _group()
    if peer == 0:
        if name == "send":
            raise ValueError("send: rank 0 cannot send to itself (world size 1: there is no other process)")
        raise RuntimeError(f"{name}: rank 0 cannot receive from itself")
    raise RuntimeError(f"{name}: invalid {what} rank {peer} (world size 1: there is no other process)")


def send(tensor: Tensor, dst: int | None = None, group: Any = None, tag: int = 0, group_dst: int | None = None) -> None:
    _point_to_point("send", dst if group_dst is None else group_dst, "destination")


def isend(tensor: Tensor, dst: int | None = None, group: Any = None, tag: int = 0,
          group_dst: int | None = None) -> Work:
    _point_to_point("isend", dst if group_dst is None else group_dst, "destination")
    return Work()


def recv(tensor: Tensor, src: int | None = None, group: Any = None, tag: int = 0, group_src: int | None = None) -> int:
    _point_to_point("recv", src if group_src is None else group_src, "source")
    return 0


def irecv(tensor: Tensor, src: int | None = None, group: Any = None, tag: int = 0,
          group_src: int | None = None) -> Work:
    _point_to_point("irecv", src if group_src is None else group_src, "source")
    return Work()


def _roundtrip(obj: Any) -> Any:
    """The object as another rank would receive it: pickled and unpickled (a copy), as torch's."""
    return pickle.loads(pickle.dumps(obj))


def all_gather_object(object_list: list[Any], obj: Any, group: Any = None) -> None:
    """``object_list[0]`` becomes a (pickled) copy of ``obj``."""
    _group(group)
    object_list[0] = _roundtrip(obj)


def gather_object(obj: Any, object_gather_list: list[Any] | None = None, dst: int | None = None, group: Any = None,
                  group_dst: int | None = None) -> None:
    _group(group)
    _check_rank(dst if group_dst is None else group_dst, "root")
    if object_gather_list is None:
        raise ValueError("gather_object: pass object_gather_list on the destination rank (a list of one slot here)")
    object_gather_list[0] = _roundtrip(obj)


def broadcast_object_list(object_list: list[Any], src: int | None = None, group: Any = None, device: Any = None,
                          group_src: int | None = None) -> None:
    """On the source rank (the only one) ``object_list`` stays as it is."""
    _group(group)
    _check_rank(src if group_src is None else group_src, "root")
    for obj in object_list:
        pickle.dumps(obj)  # torch pickles each object, so an unpicklable one raises


def scatter_object_list(scatter_object_output_list: list[Any], scatter_object_input_list: list[Any] | None = None,
                        src: int | None = None, group: Any = None, group_src: int | None = None) -> None:
    _group(group)
    _check_rank(src if group_src is None else group_src, "root")
    if not scatter_object_input_list:
        raise ValueError("scatter_object_list: pass scatter_object_input_list (a list) on the source rank")
    scatter_object_output_list[0] = _roundtrip(scatter_object_input_list[0])


def _record(fn: Any) -> Any:
    """``torch.distributed.elastic.multiprocessing.errors.record``: torchrun's decorator of a script's main, which
    records an error for the launcher and re-raises it; with no launcher to read it, the function as it is."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)
    return wrapper


# ``from torch.distributed.elastic.multiprocessing.errors import record`` (torchrun scripts' first line)
for _path in ("elastic", "elastic.multiprocessing", "elastic.multiprocessing.errors"):
    sys.modules[f"{__name__}.{_path}"] = types.ModuleType(f"{__name__}.{_path}")
elastic = sys.modules[f"{__name__}.elastic"]
elastic.multiprocessing = sys.modules[f"{__name__}.elastic.multiprocessing"]  # type: ignore[attr-defined]
elastic.multiprocessing.errors = sys.modules[f"{__name__}.elastic.multiprocessing.errors"]  # type: ignore[attr-defined]
elastic.multiprocessing.errors.record = _record  # type: ignore[attr-defined]

__all__ = [
    "Backend", "GroupMember", "ProcessGroup", "ReduceOp", "Work", "all_gather", "all_gather_into_tensor",
    "all_gather_object", "all_reduce", "all_to_all", "all_to_all_single", "barrier", "broadcast",
    "broadcast_object_list", "destroy_process_group", "gather", "gather_object", "get_backend", "get_global_rank",
    "get_group_rank", "get_node_local_rank", "get_process_group_ranks", "get_rank", "get_world_size", "group",
    "init_process_group", "irecv", "is_available", "is_gloo_available", "is_initialized", "is_mpi_available",
    "is_nccl_available", "is_torchelastic_launched", "is_ucc_available", "isend", "monitored_barrier", "new_group",
    "recv", "reduce", "reduce_op", "reduce_scatter", "reduce_scatter_tensor", "scatter", "scatter_object_list", "send",
]
