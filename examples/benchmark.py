"""The whole benchmark, one command: tinygrad_adam against PyTorch CPU in the same process.

    python examples/benchmark.py              # a few minutes on 2 cores
    python examples/benchmark.py --quick      # about a minute
    python examples/benchmark.py --json bench.json

Sections: the machine's limits (float32 GEMM GFLOP/s, memory copy GB/s), one training step of every paper
model (bench_models.py), forward+backward of single layers (bench_layers.py), and one optimizer step on 10M
parameters (bench_optim.py). Each section alternates ours and torch with pauses between blocks and reports
medians; ratio = ours / torch, lower is better.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_layers
import bench_models
import bench_optim
from bench_common import compare, copy_bandwidth_gbs, environment, print_table


def machine(quick: bool) -> list[dict[str, Any]]:
    """Physical reference points: what the hardware can do with numpy's BLAS and memory system."""
    n = 1024 if quick else 2048
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    ms = compare({"gemm": lambda: a @ a}, repeats=3, rounds=2)["gemm"]
    return [{"what": f"numpy float32 GEMM {n}x{n}", "value": 2 * n**3 / (ms * 1e6), "unit": "GFLOP/s"},
            {"what": "numpy copy, one thread", "value": copy_bandwidth_gbs(), "unit": "GB/s"}]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    p.add_argument("--json", default=None, help="write every table to this JSON file")
    p.add_argument("--only", choices=["machine", "models", "layers", "optim"], default=None)
    args = p.parse_args()
    env = environment()
    for k, v in env.items():
        print(f"{k:>13}: {v}")
    sections = {"machine": (machine, ["what", "value", "unit"]),
                "models": (bench_models.run, ["model", "ms ours", "ms torch", "ours/torch"]),
                "layers": (bench_layers.run, bench_layers.COLUMNS),
                "optim": (bench_optim.run, bench_optim.COLUMNS)}
    results: dict[str, Any] = {"environment": env}
    for name, (fn, columns) in sections.items():
        if args.only and name != args.only:
            continue
        print(f"\n== {name}")
        rows = fn(args.quick)
        print_table(rows, columns)
        results[name] = rows
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
