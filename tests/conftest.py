"""Shared test set-up: the data directory, the gpu marker, and a fixed seed per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tinygrad_adam as tg
from tinygrad_adam import backend

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


@pytest.fixture(autouse=True)
def _seed() -> None:
    tg.manual_seed(0)
