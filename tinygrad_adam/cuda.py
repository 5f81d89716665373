"""``tinygrad_adam.cuda``, as ``torch.cuda``: is the GPU backend usable, how many devices, seeding, syncing, events
and streams, NVTX ranges, and the legacy GPU tensor types (``cuda.FloatTensor``, ...)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from . import backend
from .amp import cuda_amp as amp
from .creation import state_dict, state_tensor
from .methods import legacy_types
from .tensor import Tensor

sys.modules[amp.__name__] = amp  # `from tinygrad_adam.cuda.amp import GradScaler` as torch's submodule
globals().update(legacy_types("cuda"))  # cuda.FloatTensor, cuda.LongTensor, ...: calling one needs a GPU


def is_available() -> bool:
    """True when cupy imports and sees a GPU (the GPU backend is usable)."""
    return backend.cupy_available()


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """False: there is no bfloat16 dtype here, so a program choosing its dtype by this (nanoGPT's train.py) picks
    float16 (torch answers False on its CPU build and True on a GPU of compute capability 8 or more)."""
    return False


def device_count() -> int:
    if not is_available():
        return 0
    return int(backend.xp_of("cuda:0").cuda.runtime.getDeviceCount())


def current_device() -> int:
    return 0


def set_device(device: str | int) -> None:
    """torch's ``cuda.set_device`` (imagenet/main.py's ``--gpu N``): here one GPU serves the process, so it takes
    that one (``0``, ``"cuda"``, ``"cuda:0"``; it raises without a usable GPU, as torch) and refuses another."""
    name = backend.parse_device(device)
    if name == "cpu":
        raise ValueError(f"{device!r} is not a cuda device; pass 0, 'cuda' or 'cuda:0'")
    if name != "cuda:0":
        raise NotImplementedError(f"cuda.set_device({device!r}): one GPU per process here, cuda:0")


def manual_seed(seed: int) -> None:
    """Seed the GPU streams (every device from one seed here); the CPU stream goes on, as torch's."""
    backend.manual_seed_gpu(seed)


manual_seed_all = manual_seed


def initial_seed() -> int:
    """The seed the GPU streams start from (one seed for every device here); raises without a usable GPU, as
    torch's."""
    _properties("cuda")
    return backend.get_gpu_rng_state()["seed"]


def get_rng_state(device: str | int = "cuda") -> Tensor:
    """A GPU's stream state as a uint8 tensor (our bytes). cupy's generators cannot be read, so it holds the seed and
    the restart key: restoring it restarts the stream where it last started (``manual_seed`` or
    ``backend.reseed_gpu_streams``), not mid-stream. Raises without a usable GPU, as torch's."""
    _properties(device)  # raises without a usable GPU
    return state_tensor(backend.get_gpu_rng_state())


def set_rng_state(new_state: Tensor, device: str | int = "cuda") -> None:
    """Restart the GPU streams from ``get_rng_state``'s tensor; the CPU stream is untouched. Without a usable GPU
    nothing happens (torch defers the call until CUDA starts, which then never comes)."""
    if not is_available():
        return
    _properties(device)
    backend.set_gpu_rng_state(state_dict(new_state))


def get_rng_state_all() -> list[Tensor]:
    """One ``get_rng_state`` per GPU: an empty list without a usable GPU, as torch's."""
    return [get_rng_state(i) for i in range(device_count())]


def set_rng_state_all(new_states: list[Tensor]) -> None:
    """Restore ``get_rng_state_all``'s list (an empty list: nothing to do)."""
    for i, state in enumerate(new_states):
        set_rng_state(state, i)


def synchronize(device: str | None = None) -> None:
    backend.synchronize("cuda" if device is None else str(device))


def empty_cache() -> None:
    """torch's ``cuda.empty_cache`` (Swin's ``load_checkpoint`` calls it after a resume): cupy's default memory pool
    hands its unused blocks back to the GPU; without a usable GPU nothing is cached and it does nothing, as torch's
    does before CUDA is initialised."""
    if is_available():
        backend.xp_of("cuda:0").get_default_memory_pool().free_all_blocks()


def is_initialized() -> bool:
    """Whether the GPU backend is usable (torch: whether CUDA was initialised; False on a machine without one)."""
    return is_available()


def seed() -> None:
    """torch's ``cuda.seed``: the GPU streams from a seed drawn from the operating system's entropy, the CPU stream
    untouched; without a usable GPU a no-op, as torch's."""
    if is_available():
        backend.manual_seed_gpu(backend.entropy_seed())


seed_all = seed

# torch.cuda.random: the seeding and state functions under their submodule's name (HF / accelerate save them so)
random = SimpleNamespace(get_rng_state=get_rng_state, set_rng_state=set_rng_state, get_rng_state_all=get_rng_state_all,
                         set_rng_state_all=set_rng_state_all, manual_seed=manual_seed, manual_seed_all=manual_seed_all,
                         seed=seed, seed_all=seed_all, initial_seed=initial_seed)


def _pool_bytes(used: bool) -> int:
    """Bytes cupy's default memory pool has handed out (``used``) or holds from the GPU; 0 without a GPU."""
    if not is_available():
        return 0
    pool = backend.xp_of("cuda:0").get_default_memory_pool()
    return int(pool.used_bytes() if used else pool.total_bytes())


def memory_allocated(device: str | int | None = None) -> int:
    """Bytes held by tensors on the GPU (cupy's pool, in use); 0 without a GPU, as torch's."""
    return _pool_bytes(True)


def memory_reserved(device: str | int | None = None) -> int:
    """Bytes the caching pool holds from the GPU; 0 without a GPU, as torch's."""
    return _pool_bytes(False)


def max_memory_allocated(device: str | int | None = None) -> int:
    """The peak of ``memory_allocated``, bounded by what the pool holds (cupy keeps no peak; the pool only grows
    until ``empty_cache``); 0 without a GPU, as torch's."""
    return _pool_bytes(False)


max_memory_reserved = max_memory_allocated


def reset_peak_memory_stats(device: str | int | None = None) -> None:
    """Nothing to reset: ``max_memory_allocated`` reads what the pool holds (cupy keeps no peak)."""


reset_max_memory_allocated = reset_max_memory_cached = reset_accumulated_memory_stats = reset_peak_memory_stats


def _properties(device: str | int | None) -> dict:
    """cupy's properties of the GPU ``device``; raises (RuntimeError / AssertionError) without a usable GPU."""
    name = backend.parse_device("cuda" if device is None else device)
    if name == "cpu":
        raise ValueError(f"{device!r} is not a cuda device; pass an index, 'cuda' or 'cuda:N'")
    return backend.xp_of(name).cuda.runtime.getDeviceProperties(int(name.split(":")[1]))


def get_device_name(device: str | int | None = None) -> str:
    """The GPU's name; raises without a usable GPU, as torch's."""
    name = _properties(device)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def get_device_capability(device: str | int | None = None) -> tuple[int, int]:
    """The GPU's compute capability (major, minor); raises without a usable GPU, as torch's."""
    props = _properties(device)
    return int(props["major"]), int(props["minor"])


def get_device_properties(device: str | int | None = None) -> SimpleNamespace:
    """The GPU's ``name``, ``major``, ``minor``, ``total_memory`` (bytes) and ``multi_processor_count``, as torch's
    properties object; raises without a usable GPU, as torch's."""
    props = _properties(device)
    name = props["name"]
    return SimpleNamespace(name=name.decode() if isinstance(name, bytes) else str(name), major=int(props["major"]),
                           minor=int(props["minor"]), total_memory=int(props["totalGlobalMem"]),
                           multi_processor_count=int(props["multiProcessorCount"]))


def mem_get_info(device: str | int | None = None) -> tuple[int, int]:
    """(free, total) bytes of the GPU; raises without a usable GPU, as torch's."""
    name = backend.parse_device("cuda" if device is None else device)
    with backend.device_context(name):
        free, total = backend.xp_of(name).cuda.runtime.memGetInfo()
    return int(free), int(total)


class Event:
    """``torch.cuda.Event(enable_timing=False, blocking=False, interprocess=False)``: a marker in the GPU's queue.
    ``record()`` puts it at the end of the queue, ``synchronize()`` waits until the GPU passes it, ``query()`` says
    whether it has, and ``start.elapsed_time(end)`` is the milliseconds between two recorded timing events (waiting
    for ``end`` first). Needs a usable GPU: RuntimeError without one, as torch's CPU-only build."""

    def __init__(self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False) -> None:
        if interprocess and enable_timing:
            raise ValueError("cuda.Event: an interprocess event cannot time; pass enable_timing=False")
        self.device = backend.parse_device("cuda")  # RuntimeError without a usable GPU
        self.enable_timing, self.recorded = enable_timing, False
        with backend.device_context(self.device):
            self._event = backend.xp_of(self.device).cuda.Event(block=blocking, disable_timing=not enable_timing,
                                                                interprocess=interprocess)

    def record(self, stream: Stream | None = None) -> None:
        """Marks the current end of the queue (one queue per GPU here: see ``Stream``)."""
        with backend.device_context(self.device):
            self._event.record()
        self.recorded = True

    def wait(self, stream: Stream | None = None) -> None:
        """Makes later work wait for this event: with one in-order queue it already does."""

    def query(self) -> bool:
        """True when the GPU has passed the event (or it was never recorded), as torch's."""
        return not self.recorded or bool(self._event.done)

    def synchronize(self) -> None:
        """Blocks until the GPU has passed the event."""
        if self.recorded:
            self._event.synchronize()

    def elapsed_time(self, end_event: Event) -> float:
        """Milliseconds from this event to ``end_event``; both made with ``enable_timing=True`` and recorded."""
        if not (self.enable_timing and end_event.enable_timing):
            raise RuntimeError("elapsed_time: both events must be made with Event(enable_timing=True)")
        if not (self.recorded and end_event.recorded):
            raise RuntimeError("elapsed_time: record() both events before asking for the time between them")
        end_event.synchronize()
        return float(backend.xp_of(self.device).cuda.get_elapsed_time(self._event, end_event._event))


class Stream:
    """``torch.cuda.Stream(device=None, priority=0)``. Every stream of a GPU here is that GPU's one in-order queue
    (cupy's null stream): work put on "another" stream runs after what was queued before it instead of beside it,
    so programs that overlap copies with compute get the same results, without the overlap. ``synchronize``,
    ``query``, ``record_event``, and ``wait_event`` / ``wait_stream`` (nothing to wait for in one queue), as torch's.
    Needs a usable GPU (RuntimeError without one, as torch's CPU-only build)."""

    def __init__(self, device: str | int | None = None, priority: int = 0) -> None:
        self.device = backend.parse_device("cuda" if device is None else device)
        if self.device == "cpu":
            raise ValueError(f"cuda.Stream: {device!r} is not a cuda device; pass an index, 'cuda' or 'cuda:N'")
        self.priority, self.cuda_stream = priority, 0  # 0: the null stream's handle

    def synchronize(self) -> None:
        backend.synchronize(self.device)

    def query(self) -> bool:
        """True when all work queued so far has finished."""
        return self.record_event().query()

    def record_event(self, event: Event | None = None) -> Event:
        event = Event() if event is None else event
        event.record(self)
        return event

    def wait_event(self, event: Event) -> None:
        """Later work on this stream waits for ``event``: in one queue it already does."""

    def wait_stream(self, stream: Stream) -> None:
        """Later work on this stream waits for ``stream``'s work so far: in one queue it already does."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream) and other.device == self.device

    def __hash__(self) -> int:
        return hash(self.device)

    def __repr__(self) -> str:
        return f"<tinygrad_adam.cuda.Stream device={self.device} cuda_stream=0x0>"


def current_stream(device: str | int | None = None) -> Stream:
    """The GPU's queue (see ``Stream``); RuntimeError without a usable GPU."""
    return Stream(device)


default_stream = current_stream


@contextlib.contextmanager
def stream(s: Stream | None) -> Iterator[Stream | None]:
    """``with torch.cuda.stream(s):`` runs the block's work on ``s``: here on the GPU's one queue (see ``Stream``);
    ``None`` does nothing, as torch's."""
    if s is not None and not isinstance(s, Stream):
        raise TypeError(f"cuda.stream: expected a cuda.Stream or None, got {type(s).__name__}")
    yield s


def set_stream(s: Stream) -> None:
    """Makes ``s`` the current stream: every stream is the one queue here (see ``Stream``)."""
    if not isinstance(s, Stream):
        raise TypeError(f"cuda.set_stream: expected a cuda.Stream, got {type(s).__name__}")


def _nvtx(name: str) -> Any:
    """cupy's NVTX function ``name`` (RuntimeError without a usable GPU, as torch's CPU-only build), or None when
    cupy was built without NVTX."""
    nvtx = backend.xp_of(backend.parse_device("cuda")).cuda.nvtx
    return getattr(nvtx, name) if getattr(nvtx, "available", True) else None


def _range_push(msg: str) -> int:
    """Opens a named NVTX range (seen in Nsight Systems); returns its depth from 0, as torch's."""
    push = _nvtx("RangePush")
    if push is not None:
        push(str(msg))
    _NVTX_DEPTH[0] += 1
    return _NVTX_DEPTH[0] - 1


def _range_pop() -> int:
    """Closes the innermost NVTX range; returns its depth (-1 when none was open, as torch's)."""
    pop = _nvtx("RangePop")
    if _NVTX_DEPTH[0] == 0:
        return -1
    if pop is not None:
        pop()
    _NVTX_DEPTH[0] -= 1
    return _NVTX_DEPTH[0]


@contextlib.contextmanager
def _range(msg: str, *args: Any, **kwargs: Any) -> Iterator[None]:
    """``with torch.cuda.nvtx.range("step {}", i):`` a range around the block (``msg.format(*args, **kwargs)``)."""
    _range_push(msg.format(*args, **kwargs))
    try:
        yield
    finally:
        _range_pop()


def _mark(msg: str) -> None:
    mark = _nvtx("Mark")
    if mark is not None:
        mark(str(msg))


_NVTX_DEPTH = [0]
nvtx = SimpleNamespace(range_push=_range_push, range_pop=_range_pop, range=_range, mark=_mark)
sys.modules[f"{__name__}.nvtx"] = nvtx  # type: ignore[assignment]  # `import torch.cuda.nvtx as nvtx`
