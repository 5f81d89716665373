"""Importing the library keeps freed memory for reuse (glibc's malloc thresholds, backend.keep_freed_memory), so a
training step's arrays do not come back as fresh pages (page faults) every step; TINYGRAD_ADAM_MALLOC=0 leaves
malloc alone, and so do glibc's own MALLOC_*_ variables."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"  # decided from the platform, not the code

# a fresh process: import the library, then run "steps" that each make and drop eight 1 MB arrays (as a layer's
# input, output and temporaries), and print the page faults of the last 20 steps and whether the tuning is on
STEPS = """
import resource, numpy as np
import tinygrad_adam
from tinygrad_adam import backend
def step():
    arrays = [np.ones(1 << 18, np.float32) * i for i in range(8)]
    del arrays
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, backend.info()["malloc_tuned"])
"""


def run_steps(**env: str) -> tuple[int, bool]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "TINYGRAD_ADAM_MALLOC"))}
    out = subprocess.run([sys.executable, "-c", STEPS], env={**clean, **env}, capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]), out[1] == "True"


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt is Linux + glibc only")
def test_steps_reuse_freed_memory_instead_of_faulting_in_fresh_pages() -> None:
    faults, tuned = run_steps()
    assert tuned
    assert faults < 100, faults  # 20 steps of 8 MB: 40,960 fresh 4 kB pages if each came back from the kernel


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt is Linux + glibc only")
@pytest.mark.parametrize("env", [{"TINYGRAD_ADAM_MALLOC": "0"}, {"MALLOC_TRIM_THRESHOLD_": str(1 << 30)}])
def test_malloc_is_left_alone_when_asked(env: dict[str, str]) -> None:
    _, tuned = run_steps(**env)
    assert not tuned
