"""Shared test set-up: the data marker, the gpu marker, a fixed seed per test, the fake GPU, and hypothesis's CI
profile.

Tests marked ``@pytest.mark.data("mnist")`` need the real data, found as the library finds it
($TINYGRAD_ADAM_DATA, then ~/.cache/tinygrad_adam); without it they skip, or fail with
``TINYGRAD_ADAM_REQUIRE_DATA=1`` (CI). See realdata.py.

``TINYGRAD_ADAM_FAKE_GPU=1`` installs the strict fake cupy of tests/fake_cupy.py before tinygrad_adam is
imported, so that ``pytest -m gpu`` runs the GPU tests on host memory (with nvcc for the kernels).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# CI draws the same examples on every run (derandomize: a seed from each test's code), so that a landing is not
# decided by which rare input a run happened to draw; runs elsewhere explore new inputs each time.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

FAKE_GPU = os.environ.get("TINYGRAD_ADAM_FAKE_GPU") == "1"
if FAKE_GPU:
    import fake_cupy

    fake_cupy.install()

import realdata  # noqa: E402 - imports tinygrad_adam, so after the fake cupy too

import tinygrad_adam as tg  # noqa: E402 - after the fake cupy, which it must import instead of cupy
from tinygrad_adam import backend  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    usable, why = backend.gpu_status()
    if usable:
        return
    skip = pytest.mark.skip(reason=f"no usable GPU: {why}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("data")
    if marker is not None:
        realdata.require(marker.args or ("mnist",), os.environ.get(realdata.REQUIRE_ENV) == "1")


@pytest.fixture(scope="session", autouse=True)
def _fake_gpu_kernels() -> None:
    """On the fake GPU, every optimizer's kernel compiled in one nvcc run up front (one by one would be slow), and
    their multi-tensor kernels in one more."""
    if FAKE_GPU:
        from cuda_host import build, build_raw, optimizer_raw_specs, optimizer_specs

        build(optimizer_specs())
        build_raw(optimizer_raw_specs())


@pytest.fixture(autouse=True)
def _seed() -> None:
    tg.manual_seed(0)
