"""The optimizers' generated numba kernels are kept in the user's cache: a second process loads the machine code
instead of compiling again, and a cache that cannot be used (not writable, or a file there that is not the kernel's
source) only means compiling in the process, never a failure or someone else's code run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam.optim import fused
from tinygrad_adam.optim.adam import adam_kernel

pytestmark = pytest.mark.skipif(not tg.optim.numba_available(), reason="numba (the fast extra) is not installed")

STEP = """
import sys, numpy as np, tinygrad_adam as tg
from tinygrad_adam.optim.adam import adam_kernel
p = tg.nn.Parameter(tg.tensor(np.linspace(-1, 1, 12, dtype=np.float32)))
p.grad = tg.tensor(np.cos(np.arange(12, dtype=np.float32)))
opt = tg.optim.AdamW([p], lr=0.1, impl="numba")
opt.step(); opt.step()
stats = adam_kernel(False, True, False)._numba_fn.stats
print(len(stats.cache_hits), len(stats.cache_misses), ",".join(repr(float(x)) for x in p.data))
"""


def _step(cache: Path) -> tuple[int, int, str]:
    env = {**os.environ, "TINYGRAD_ADAM_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-c", STEP], env=env, capture_output=True, text=True, check=True).stdout
    hits, misses, values = out.split()
    return int(hits), int(misses), values


def test_a_second_process_loads_the_kernel_from_the_cache(tmp_path: Path) -> None:
    first = _step(tmp_path)
    second = _step(tmp_path)
    assert first[:2] == (0, 1) and second[:2] == (1, 0), (first[:2], second[:2])
    assert first[2] == second[2]  # the same bits either way
    (source,) = (tmp_path / "kernels").glob("k*.py")
    assert adam_kernel(False, True, False).numba_source in source.read_text()


def test_an_unusable_cache_compiles_in_the_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("TINYGRAD_ADAM_CACHE", str(blocked))
    kernel = fused._njit(adam_kernel(False, False, False).numba_source)
    p, m, v, g = (np.full(5, x, np.float32) for x in (1.0, 0.0, 0.0, 0.5))
    kernel(p, m, v, g, *(np.float32(x) for x in (1, 0, 0.9, 0.1, 0.999, 0.001, 0.1, 1e-8)))
    np.testing.assert_allclose(p, 1 - 0.1 * 0.05 / (np.sqrt(0.001 * 0.25) + 1e-8), rtol=1e-6)  # m 0.05, v 2.5e-4
    assert blocked.read_text() == "not a directory"


def test_a_foreign_file_in_the_cache_is_never_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYGRAD_ADAM_CACHE", str(tmp_path))
    source = adam_kernel(True, False, True).numba_source
    fused._njit(source)  # writes the file
    (path,) = (tmp_path / "kernels").glob("k*.py")
    marker = tmp_path / "ran"
    path.write_text(f"open({str(marker)!r}, 'w').close()\n")
    kernel = fused._njit(source)
    assert not marker.exists()
    assert callable(kernel)


def test_a_damaged_cache_means_compiling_again_not_failing(tmp_path: Path) -> None:
    """numba raises on reading a damaged cache file; the step still runs, with the same bits, and a binary file at
    the kernel's path is not read as its source."""
    first = _step(tmp_path)
    for cached in (tmp_path / "kernels" / "__pycache__").iterdir():
        cached.write_bytes(b"\x80\x04 not a pickle")
    assert _step(tmp_path)[2] == first[2]
    (source,) = (tmp_path / "kernels").glob("k*.py")
    source.write_bytes(b"\xff\xfe\x00 binary")
    assert _step(tmp_path)[2] == first[2]
