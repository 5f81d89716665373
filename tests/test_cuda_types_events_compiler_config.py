"""torch.cuda's legacy tensor types (``cuda.FloatTensor``, ...) and ``cuda.Event``; ``torch._dynamo`` /
``torch._inductor``'s ``config`` and ``backends.cudnn.version()``, against torch 2.13 (CPU build) where it has them,
and on the (fake) GPU for what needs one."""

from __future__ import annotations

import importlib
import sys
import time
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

import tinygrad_adam as tg  # noqa: E402
from tinygrad_adam.methods import _TYPE_NAMES  # noqa: E402

NAMES = sorted(_TYPE_NAMES.values())
DYNAMO = ["cache_size_limit", "accumulated_cache_size_limit", "recompile_limit", "suppress_errors", "verbose",
          "capture_scalar_outputs", "capture_dynamic_output_shape_ops", "optimize_ddp", "automatic_dynamic_shapes",
          "assume_static_by_default"]
INDUCTOR = ["coordinate_descent_tuning", "max_autotune", "epilogue_fusion", "fx_graph_cache", "freezing",
            "triton.cudagraphs", "triton.unique_kernel_names"]


def _read(config: object, path: str) -> object:
    for part in path.split("."):
        config = getattr(config, part)
    return config


@pytest.mark.parametrize("name", NAMES)
def test_cuda_legacy_types_are_torchs_names_and_match_only_gpu_tensors(name: str) -> None:
    ours, theirs = getattr(tg.cuda, name), getattr(torch.cuda, name)
    assert ours.__name__ == theirs.__name__ == name
    assert repr(ours) == repr(theirs).replace("torch.", "tinygrad_adam.")
    assert repr(getattr(tg, name)) == repr(getattr(torch, name)).replace("torch.", "tinygrad_adam.")
    x = tg.zeros(2, dtype=ours.dtype)
    assert isinstance(x, getattr(tg, name)) and not isinstance(x, ours)
    assert isinstance(torch.zeros(2, dtype=getattr(torch, str(ours.dtype))), theirs) is False


@pytest.mark.skipif(tg.cuda.is_available(), reason="a GPU is usable here: the GPU tests below cover it")
def test_without_a_gpu_cuda_types_and_events_raise() -> None:
    with pytest.raises(RuntimeError, match="not usable"):
        tg.cuda.FloatTensor(2)
    with pytest.raises(RuntimeError, match="not usable"):
        tg.cuda.Event(enable_timing=True)
    with pytest.raises(RuntimeError):  # torch's CPU build: its Event is a dummy class
        torch.cuda.Event(enable_timing=True)
    with pytest.raises(RuntimeError, match="not usable"):
        tg.ones(2).type(tg.cuda.LongTensor)


@pytest.mark.parametrize("name", NAMES)
def test_type_with_a_legacy_type_object_converts_as_torch(name: str) -> None:
    data = np.array([[-1.5, 0.0, 2.7], [100.0, -0.0, 3.0]])
    ours, theirs = tg.tensor(data).type(getattr(tg, name)), torch.tensor(data).type(getattr(torch, name))
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert ours.type() == theirs.type().replace("torch.", "tinygrad_adam.") and ours.device.type == "cpu"


def test_dynamo_and_inductor_settings_have_torchs_defaults_and_keep_what_is_set() -> None:
    import tinygrad_adam._dynamo
    import tinygrad_adam._inductor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_dynamo = importlib.import_module("torch._dynamo").config
        theirs_inductor = importlib.import_module("torch._inductor.config")
    assert tg._dynamo is tinygrad_adam._dynamo and tg._inductor is tinygrad_adam._inductor
    for name in DYNAMO:
        assert _read(tg._dynamo.config, name) == _read(theirs_dynamo, name), name
    for name in INDUCTOR:
        assert _read(tg._inductor.config, name) == _read(theirs_inductor, name), name
    saved = tg._dynamo.config.cache_size_limit
    try:
        tg._dynamo.config.cache_size_limit += 8  # read, change, read back
        tg._inductor.config.triton.cudagraphs = True
        assert tg._dynamo.config.cache_size_limit == saved + 8 and tg._inductor.config.triton.cudagraphs is True
    finally:
        tg._dynamo.config.cache_size_limit, tg._inductor.config.triton.cudagraphs = saved, False
    for config in (tg._dynamo.config, theirs_dynamo):
        with pytest.raises(AttributeError, match="no_such_setting"):
            getattr(config, "no_such_setting")  # noqa: B009 - the read is the test


def test_dynamo_functions_leave_code_as_it_is() -> None:
    def f(x: tg.Tensor) -> tg.Tensor:
        return x * 2

    assert tg._dynamo.optimize("inductor")(f) is f and tg._dynamo.disable(f) is f
    assert tg._dynamo.is_compiling() is False and tg._dynamo.reset() is None
    x = tg.ones(3)
    assert tg._dynamo.mark_dynamic(x, 0) is None and tg._dynamo.mark_static(x) is None
    assert x.tolist() == [1.0, 1.0, 1.0]


def test_cudnn_version_is_none_as_torchs_cpu_build() -> None:
    assert tg.backends.cudnn.version() is None
    if not torch.backends.cudnn.is_available():
        assert torch.backends.cudnn.version() is None


@pytest.mark.gpu
def test_cuda_legacy_types_make_and_match_gpu_tensors() -> None:
    x = tg.cuda.FloatTensor([1.5, 2.0])
    assert x.device.type == "cuda" and x.dtype == tg.float32 and x.tolist() == [1.5, 2.0]
    assert isinstance(x, tg.cuda.FloatTensor) and not isinstance(x, tg.FloatTensor)
    assert not isinstance(x, tg.cuda.DoubleTensor)
    assert x.type() == "tinygrad_adam.cuda.FloatTensor" and tg.cuda.LongTensor(2, 3).shape == (2, 3)
    back = x.type(tg.LongTensor)  # torch.LongTensor is a CPU type: the tensor comes back
    assert back.device.type == "cpu" and back.dtype == tg.int64 and back.tolist() == [1, 2]
    there = tg.tensor([3.0], requires_grad=True)
    moved = there.type(tg.cuda.DoubleTensor)
    assert moved.device.type == "cuda" and moved.dtype == tg.float64
    moved.sum().backward()
    assert there.grad.device.type == "cpu" and there.grad.tolist() == [1.0]


@pytest.mark.gpu
@pytest.mark.parametrize("form", ["object", "name"])
def test_set_default_tensor_type_to_a_cuda_type_and_back(form: str) -> None:
    """A cuda type makes new tensors on the GPU; a CPU type after it brings them back, as torch's legacy types."""
    gpu, cpu = (tg.cuda.FloatTensor, tg.FloatTensor) if form == "object" else ("torch.cuda.FloatTensor",
                                                                               "torch.FloatTensor")
    with pytest.warns(UserWarning, match="deprecated"):
        tg.set_default_tensor_type(gpu)
    try:
        assert tg.ones(1).device.type == "cuda"
    finally:
        with pytest.warns(UserWarning, match="deprecated"):
            tg.set_default_tensor_type(cpu)
    assert tg.ones(1).device.type == "cpu"


@pytest.mark.gpu
def test_cuda_event_times_the_work_between_two_records() -> None:
    start, end = tg.cuda.Event(enable_timing=True), tg.cuda.Event(enable_timing=True)
    assert start.query() and end.query()  # never recorded: nothing to wait for, as torch's
    start.record()
    clock = time.perf_counter()
    (tg.ones(256, 256, device="cuda") @ tg.ones(256, 256, device="cuda")).sum().item()
    time.sleep(0.01)
    end.record()
    end.synchronize()
    host_ms = (time.perf_counter() - clock) * 1e3
    ms = start.elapsed_time(end)
    assert isinstance(ms, float) and 0 < ms <= host_ms * 1.5 + 1 and end.query()
    end.wait()  # one in-order queue: nothing to do


@pytest.mark.gpu
def test_cuda_event_refuses_what_torch_refuses() -> None:
    plain, timed = tg.cuda.Event(), tg.cuda.Event(enable_timing=True)
    plain.record()
    timed.record()
    with pytest.raises(RuntimeError, match="enable_timing"):
        plain.elapsed_time(timed)
    with pytest.raises(RuntimeError, match="record"):
        tg.cuda.Event(enable_timing=True).elapsed_time(timed)
    with pytest.raises(ValueError, match="interprocess"):
        tg.cuda.Event(enable_timing=True, interprocess=True)
    tg.cuda.Event(interprocess=True).record()


@pytest.mark.skipif(tg.cuda.is_available(), reason="a GPU is usable here: the GPU tests below cover it")
def test_without_a_gpu_streams_nvtx_and_pinning_raise_as_torchs() -> None:
    for lib in (tg, torch):
        with pytest.raises((RuntimeError, AssertionError)):
            lib.cuda.current_stream()
        with pytest.raises(RuntimeError):
            lib.cuda.Stream()
        with pytest.raises(RuntimeError):
            lib.cuda.nvtx.range_push("step")
        with pytest.raises(RuntimeError):
            lib.ones(2).pin_memory()
        with lib.cuda.stream(None):  # torch's no-op form works without CUDA too
            pass


@pytest.mark.gpu
def test_streams_are_the_gpus_one_queue_and_keep_results() -> None:
    """apex's data prefetcher, as written for torch: a side stream, a pinned copy, wait_stream, record_stream."""
    side = tg.cuda.Stream()
    assert tg.cuda.current_stream() == tg.cuda.default_stream() == side and side.query()
    batch = tg.arange(6.0).reshape(2, 3)
    with tg.cuda.stream(side):
        moved = batch.pin_memory().to("cuda", non_blocking=True)
        moved = moved * 2
    tg.cuda.current_stream().wait_stream(side)
    moved.record_stream(tg.cuda.current_stream())
    event = side.record_event()
    tg.cuda.current_stream().wait_event(event)
    side.synchronize()
    assert event.query() and moved.device.type == "cuda" and moved.tolist() == (batch * 2).tolist()
    tg.cuda.set_stream(side)
    with pytest.raises(TypeError, match="Stream"):
        moved.record_stream(None)
    with pytest.raises(TypeError, match="Stream"):
        batch.record_stream(side)  # a CPU tensor
    with pytest.raises(TypeError, match="Stream"):
        tg.cuda.stream("cuda").__enter__()
    with pytest.raises(ValueError, match="cuda device"):
        tg.cuda.Stream("cpu")


@pytest.mark.gpu
def test_pin_memory_copies_a_cpu_tensor_and_keeps_the_graph() -> None:
    x = tg.tensor([1.0, -2.0], requires_grad=True)
    pinned = x.pin_memory()
    pinned[0] = 5.0  # a copy: the source is untouched
    assert x.tolist() == [1.0, -2.0] and pinned.device.type == "cpu" and not pinned.is_pinned()
    (pinned * 3).sum().backward()
    assert x.grad.tolist() == [0.0, 3.0]
    with pytest.raises(RuntimeError, match="only CPU tensors"):
        x.detach().cuda().pin_memory()


@pytest.mark.gpu
def test_nvtx_ranges_reach_cupys_nvtx_with_torchs_depths() -> None:
    """push returns the new range's depth and pop the ended one's (-1 with none open), as torch's."""
    fake = sys.modules.get("fake_cupy")  # on the fake GPU, the ranges cupy was given are there to read
    opened = fake.NVTX_RANGES if fake is not None else []
    before = len(opened)
    assert tg.cuda.nvtx.range_push("epoch") == 0 and tg.cuda.nvtx.range_push("step") == 1
    assert fake is None or opened[before:] == ["epoch", "step"]
    assert tg.cuda.nvtx.range_pop() == 1 and tg.cuda.nvtx.range_pop() == 0
    assert tg.cuda.nvtx.range_pop() == -1 and len(opened) == before
    with tg.cuda.nvtx.range("batch {}", 3):
        assert fake is None or opened[-1] == "batch 3"
    assert len(opened) == before
    tg.cuda.nvtx.mark("here")
    assert fake is None or fake.NVTX_MARKS[-1] == "here"
