"""Small timing helpers shared by the benchmarks.

Fair CPU timing of two libraries in one process: run their blocks alternately (so that a slow phase of the
machine hits both), pause between blocks (OpenBLAS and OpenMP worker threads spin for a while after each
call and would steal the next block's cores), and report the median.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


def compare(blocks: Mapping[str, Callable[[], object]], repeats: int = 5, rounds: int = 3,
            pause: float = 0.2) -> dict[str, float]:
    """Median milliseconds per call of each block: ``rounds`` rounds, each running every block ``repeats``
    times in turn (after one untimed warm-up call), with ``pause`` seconds of sleep between blocks."""
    samples: dict[str, list[float]] = {name: [] for name in blocks}
    for fn in blocks.values():
        fn()
    for _ in range(rounds):
        for name, fn in blocks.items():
            time.sleep(pause)
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(ms) for name, ms in samples.items()}


def copy_bandwidth_gbs(n_bytes: int = 80_000_000) -> float:
    """Memory bandwidth of a large numpy copy (bytes read + bytes written per second, in GB/s, one thread)."""
    src = np.ones(n_bytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    ms = compare({"copy": lambda: np.copyto(dst, src)}, repeats=5, rounds=1, pause=0.0)["copy"]
    return 2 * n_bytes / (ms * 1e6)


def environment() -> dict[str, Any]:
    """What the numbers depend on: CPU, cores, library versions and thread pools."""
    info: dict[str, Any] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                            "python": platform.python_version(), "numpy": np.__version__}
    try:
        from threadpoolctl import threadpool_info

        info["thread pools"] = ", ".join(f"{p.get('internal_api')} x{p.get('num_threads')}" for p in threadpool_info())
    except ImportError:
        info["thread pools"] = "unknown (pip install threadpoolctl)"
    try:
        import numba

        info["numba"] = f"{numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads)"
    except ImportError:
        info["numba"] = "not installed"
    try:
        import torch

        info["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        info["torch"] = "not installed"
    return info


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Rows of dicts as an aligned text table (floats with 3 significant figures)."""
    def cell(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    cells = [[cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
