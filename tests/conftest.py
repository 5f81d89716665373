"""Shared test set-up: the data directory, the gpu marker, a fixed seed per test, and the fake GPU.

``TINYGRAD_ADAM_FAKE_GPU=1`` installs the strict fake cupy of tests/fake_cupy.py before tinygrad_adam is
imported, so that ``pytest -m gpu`` runs the GPU tests on host memory (with nvcc for the kernels).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FAKE_GPU = os.environ.get("TINYGRAD_ADAM_FAKE_GPU") == "1"
if FAKE_GPU:
    import fake_cupy

    fake_cupy.install()

import tinygrad_adam as tg  # noqa: E402 - after the fake cupy, which it must import instead of cupy
from tinygrad_adam import backend  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("TINYGRAD_ADAM_DATA", str(REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    usable, why = backend.gpu_status()
    if usable:
        return
    skip = pytest.mark.skip(reason=f"no usable GPU: {why}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _fake_gpu_kernels() -> None:
    """On the fake GPU, every optimizer's kernel compiled in one nvcc run up front (one by one would be slow)."""
    if FAKE_GPU:
        from cuda_host import build, optimizer_specs

        build(optimizer_specs())


@pytest.fixture(autouse=True)
def _seed() -> None:
    tg.manual_seed(0)
