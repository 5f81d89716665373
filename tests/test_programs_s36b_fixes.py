"""Fixes found by the torch-style programs ``resume_trainer.py``, ``s4d_ssm.py`` and ``graph_transformer.py``,
each checked against torch.

- ``torch.cuda.get_rng_state_all`` / ``set_rng_state_all`` / ``get_rng_state`` / ``set_rng_state`` /
  ``initial_seed`` and the ``torch.cuda.random`` namespace were missing (a resume script that checkpoints the CUDA
  generators raised AttributeError). Without a GPU the lists are empty, ``get_rng_state`` raises and
  ``set_rng_state`` does nothing, as torch's;
  with one, the state restarts the GPU streams from their seed and restart key (cupy's streams cannot be read).
- ``torch.cuda.manual_seed`` / ``manual_seed_all`` reseeded the CPU stream too (``manual_seed(0); rand(3);
  cuda.manual_seed(0); rand(3)`` drew the same numbers twice); they now seed the GPU streams only, as torch's."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest

import tinygrad_adam as ours
from tinygrad_adam import backend

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@pytest.mark.parametrize("lib", [torch, ours], ids=["torch", "ours"])
def test_cuda_rng_state_functions_without_a_gpu(lib) -> None:
    if lib.cuda.is_available():
        pytest.skip("checks the no-GPU answers")
    assert lib.cuda.get_rng_state_all() == [] and lib.cuda.random.get_rng_state_all() == []
    assert lib.cuda.set_rng_state_all([]) is None and lib.cuda.random.set_rng_state_all([]) is None
    with pytest.raises((RuntimeError, AssertionError)):
        lib.cuda.get_rng_state()
    assert lib.cuda.set_rng_state(lib.get_rng_state()) is None  # torch defers it until CUDA starts: never
    with pytest.raises((RuntimeError, AssertionError)):
        lib.cuda.random.initial_seed()
    lib.cuda.random.manual_seed_all(3)  # deferred by torch: the CPU generator keeps its seed
    lib.manual_seed(11)
    assert lib.initial_seed() == 11


def test_cuda_rng_state_restarts_the_gpu_streams_and_leaves_the_cpu_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """With one GPU pretended (the device checks stubbed), the saved state brings back the seed and restart key."""
    monkeypatch.setattr(ours.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(ours.cuda, "_properties", lambda device: {})
    monkeypatch.setattr(ours.cuda, "is_available", lambda: True)
    ours.manual_seed(5)
    assert ours.cuda.initial_seed() == 5
    backend.reseed_gpu_streams(4)
    saved = ours.cuda.get_rng_state_all()
    assert len(saved) == 1 and saved[0].dtype == ours.uint8 and saved[0].ndim == 1
    cpu = ours.get_rng_state()
    ours.manual_seed(9)
    backend.reseed_gpu_streams(7)
    ours.set_rng_state(cpu)
    expected = ours.rand(3).numpy()
    ours.set_rng_state(cpu)
    ours.cuda.set_rng_state_all(saved)
    assert backend.get_gpu_rng_state() == {"seed": 5, "gpu_key": 4}
    assert (ours.rand(3).numpy() == expected).all()  # the CPU stream went on untouched
    ours.cuda.random.set_rng_state(ours.cuda.random.get_rng_state(0), 0)
    assert backend.get_gpu_rng_state() == {"seed": 5, "gpu_key": 4}
    with pytest.raises(RuntimeError):
        ours.cuda.set_rng_state(ours.tensor([1, 2], dtype=ours.uint8))
    with pytest.raises(RuntimeError):
        ours.cuda.set_rng_state(ours.get_rng_state())  # the CPU form holds no GPU state of this kind
    ours.manual_seed(0)


@pytest.mark.parametrize("lib", [torch, ours], ids=["torch", "ours"])
def test_cuda_manual_seed_leaves_the_cpu_stream(lib) -> None:
    """``torch.cuda.manual_seed(_all)`` seeds the GPU streams only: the CPU draws go on (ours restarted them)."""
    lib.manual_seed(0)
    first = lib.rand(4).numpy()
    lib.cuda.manual_seed(0)
    second = lib.rand(4).numpy()
    lib.cuda.manual_seed_all(0)
    third = lib.rand(4).numpy()
    lib.manual_seed(0)
    assert (lib.rand(12).numpy() == [*first, *second, *third]).all()
    assert lib.initial_seed() == 0


def test_cuda_manual_seed_seeds_the_gpu_streams_and_resumes() -> None:
    ours.manual_seed(2)
    assert backend.get_gpu_rng_state() == {"seed": 2, "gpu_key": 0}
    ours.cuda.manual_seed(7)
    backend.reseed_gpu_streams(1)
    assert backend.get_gpu_rng_state() == {"seed": 7, "gpu_key": 1} and ours.initial_seed() == 2
    state = ours.get_rng_state()
    following = ours.rand(3).numpy()
    ours.manual_seed(5)
    assert backend.get_gpu_rng_state() == {"seed": 5, "gpu_key": 0}  # manual_seed seeds every device again
    ours.set_rng_state(state)
    assert backend.get_gpu_rng_state() == {"seed": 7, "gpu_key": 1} and ours.initial_seed() == 2
    assert (ours.rand(3).numpy() == following).all()
    ours.manual_seed(0)


def test_gpu_streams_start_from_the_cuda_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a stand-in cupy whose generators report their seed: ``cuda.manual_seed(7)`` gives the GPU the stream
    ``manual_seed(7)`` gives it, and ``cuda.set_rng_state`` restarts that stream."""
    fake = SimpleNamespace(random=SimpleNamespace(RandomState=lambda seed: ("stream", seed)), ndarray=type(None),
                           cuda=SimpleNamespace(Device=lambda index: contextlib.nullcontext()))
    monkeypatch.setattr(backend, "_cupy", fake)
    monkeypatch.setattr(ours.cuda, "_properties", lambda device: {})
    monkeypatch.setattr(ours.cuda, "is_available", lambda: True)
    try:
        ours.manual_seed(7)
        wanted = backend.generator("cuda:0")
        ours.manual_seed(1)
        other = backend.generator("cuda:0")
        ours.cuda.manual_seed(7)
        assert backend.generator("cuda:0") == wanted != other
        assert ours.cuda.initial_seed() == 7 and ours.initial_seed() == 1
        saved = ours.cuda.get_rng_state()
        backend.reseed_gpu_streams(3)
        assert backend.generator("cuda:0") not in (wanted, other)
        ours.cuda.set_rng_state(saved)
        assert backend.generator("cuda:0") == wanted
    finally:
        ours.manual_seed(0)


def test_cuda_seed_draws_a_gpu_seed_and_leaves_the_cpu_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """``torch.cuda.seed()`` with a GPU (pretended): a new seed for the GPU streams from the system's entropy, the CPU
    stream going on; without one a no-op (the first test)."""
    monkeypatch.setattr(ours.cuda, "is_available", lambda: True)
    ours.manual_seed(3)
    first = ours.rand(2).numpy()
    ours.cuda.seed()
    gpu = backend.get_gpu_rng_state()
    assert gpu["seed"] != 3 and gpu["gpu_key"] == 0 and ours.initial_seed() == 3
    second = ours.rand(2).numpy()
    ours.manual_seed(3)
    assert (ours.rand(4).numpy() == [*first, *second]).all()
    ours.cuda.seed_all()
    assert backend.get_gpu_rng_state()["seed"] not in (3, gpu["seed"])
    ours.manual_seed(0)
