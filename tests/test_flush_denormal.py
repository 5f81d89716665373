"""set_flush_denormal (torch's name): subnormal floats read and written as zero on the CPU where the machine allows
it, per thread, and the training flag that records it (--flush-denormal)."""

from __future__ import annotations

import json
import platform
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import backend
from tinygrad_adam.experiments import fit_or_resume
from tinygrad_adam.train import Config

# Decided from the platform, not from the function under test: glibc's fenv on x86-64 or AArch64 Linux.
SUPPORTED = (sys.platform == "linux" and platform.libc_ver()[0] == "glibc"
             and platform.machine().lower() in ("x86_64", "aarch64"))


@pytest.fixture(autouse=True)
def gradual_underflow_after() -> Iterator[None]:
    yield
    backend.set_flush_denormal(False)


def half_smallest(dtype: type) -> float:
    """Half the smallest normal number of ``dtype``, computed in ``dtype``: subnormal, or 0 when flushing."""
    return float(dtype(np.finfo(dtype).tiny) * dtype(0.5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flush_denormal_turns_subnormal_results_into_zero_and_back(dtype: type) -> None:
    subnormal = half_smallest(dtype)
    assert 0 < subnormal < np.finfo(dtype).tiny
    assert tg.set_flush_denormal(True) is SUPPORTED
    assert backend.flush_denormal() is SUPPORTED
    if SUPPORTED:
        assert half_smallest(dtype) == 0
        x = np.full(1000, np.finfo(dtype).tiny, dtype=dtype)
        assert not (x * dtype(0.5)).any()  # the vectorised loops too
        assert not (np.full(3, subnormal, dtype=dtype) + dtype(0)).any()  # and subnormal inputs read as zero
    else:  # nothing changed
        assert half_smallest(dtype) == subnormal
    assert tg.set_flush_denormal(False) is SUPPORTED
    assert half_smallest(dtype) == subnormal
    assert backend.flush_denormal() is False


@pytest.mark.skipif(not SUPPORTED, reason="flushing subnormals needs x86-64 or AArch64 Linux with glibc")
def test_threads_follow_the_mode() -> None:
    results: dict[str, float] = {}
    backend.in_parallel(lambda w: None, 2)  # the pool's thread now exists, started under gradual underflow
    assert backend.set_flush_denormal(True)
    backend.in_parallel(lambda w: results.__setitem__(f"pool{w}", half_smallest(np.float32)), 2)
    later = threading.Thread(target=lambda: results.__setitem__("later", half_smallest(np.float32)))
    later.start()
    later.join()
    assert results == {"pool0": 0.0, "pool1": 0.0, "later": 0.0}
    assert backend.set_flush_denormal(False)
    backend.in_parallel(lambda w: results.__setitem__(f"pool{w}", half_smallest(np.float32)), 2)
    assert results["pool1"] == results["pool0"] > 0


@pytest.mark.skipif(not SUPPORTED, reason="flush-to-zero needs glibc on x86-64 or AArch64")
@pytest.mark.parametrize("impl", ["numpy"] + (["numba"] if tg.optim.numba_available() else []))
def test_the_fused_optimizer_steps_follow_the_mode_on_every_thread(impl: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Every element of a step split over two pool threads lands subnormal (p - lr g = 1.5 tiny - tiny), or zero
    when flushing: the fast paths' threads follow the mode too."""
    from tinygrad_adam.optim import fused
    monkeypatch.setenv("TINYGRAD_ADAM_THREADS", "2")
    monkeypatch.setattr(fused, "THREAD_MIN", 1)
    monkeypatch.setattr(fused, "PARALLEL_MIN", 1)
    tiny = np.finfo(np.float32).tiny

    def step() -> np.ndarray:
        ps = [tg.Tensor(np.full(n, 1.5 * tiny, dtype=np.float32), requires_grad=True) for n in (3 * fused.CHUNK, 5)]
        for p in ps:
            p.grad = tg.Tensor(np.full(p.shape, tiny, dtype=np.float32))
        tg.optim.SGD(ps, lr=1.0, impl=impl).step()
        return np.concatenate([p.numpy() for p in ps])
    assert (step() == np.float32(tiny / 2)).all()
    assert backend.set_flush_denormal(True)
    assert (step() == 0).all()


def test_the_flag_is_refused_in_one_line_where_it_cannot_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "_set_thread_flush", lambda mode: False)
    with pytest.raises(ValueError, match=r"^--flush-denormal: .*drop the flag$"):
        Config(model="logreg", flush_denormal=True).resolved()
    Config(model="logreg").resolved()  # without the flag nothing is asked of the machine


@pytest.mark.data("mnist")
@pytest.mark.skipif(not SUPPORTED, reason="flushing subnormals needs x86-64 or AArch64 Linux with glibc")
def test_a_run_records_the_mode_trains_under_it_and_restores_the_previous_one(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from tinygrad_adam import train

    seen = []
    epoch = train.Run.train_epoch
    monkeypatch.setattr(train.Run, "train_epoch",
                        lambda self: (seen.append(half_smallest(np.float32)), epoch(self))[1])
    cfg = Config(model="logreg", dataset="mnist", epochs=1, limit=64, progress=False, flush_denormal=True,
                 out=str(tmp_path / "run"))
    train.Run(cfg, log=lambda s: None).fit()
    assert seen == [0.0]
    assert backend.flush_denormal() is False and half_smallest(np.float32) > 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["flush_denormal"] is True


@pytest.mark.data("mnist")
def test_a_result_written_before_the_field_existed_is_read_back(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from tinygrad_adam import train

    cfg = Config(model="logreg", dataset="mnist", epochs=1, limit=64, progress=False, out=str(tmp_path / "run"))
    first = fit_or_resume(cfg, log=lambda s: None)
    done = tmp_path / "run" / "result.json"
    saved = json.loads(done.read_text())
    del saved["config"]["flush_denormal"]  # as an older tinygrad_adam wrote it
    done.write_text(json.dumps(saved))
    monkeypatch.setattr(train.Run, "fit", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert fit_or_resume(cfg, resume=True, log=lambda s: None) == first
