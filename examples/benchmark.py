"""The whole benchmark, one command: tinygrad_adam against PyTorch in the same process, on the CPU or a GPU.

    python examples/benchmark.py              # a few minutes on 2 cores
    python examples/benchmark.py --quick      # fewer repeats (README: how long)
    python examples/benchmark.py --json bench.json
    python examples/benchmark.py --device cuda  # ours (cupy) against torch CUDA on the GPU

Sections: the machine's limits (float32 GEMM GFLOP/s, memory copy GB/s), one training step of every paper
model (bench_models.py), forward+backward of single layers (bench_layers.py), one optimizer step on 10M
parameters (bench_optim.py), and the fixed cost of one op on tiny tensors in microseconds (bench_overhead.py).
Every row prints its floor: the physical limit it is read against (GEMM work at the machine's GEMM rate,
memory traffic at its copy bandwidth, or a bare numpy call). Each section alternates ours and torch with pauses
between blocks and reports medians; ratio = ours / torch, lower is better. ``--device cuda`` (or ``cuda:N``)
puts both on that GPU (ours through cupy) and times every call until the GPU is done; the reference points are
then cupy's GEMM and a device-to-device copy. Without a usable GPU it says why and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_layers
import bench_models
import bench_optim
import bench_overhead
from bench_common import copy_bandwidth_gbs, environment, gemm_gflops, parse_args, print_table

from tinygrad_adam import backend


def machine(quick: bool = False, device: str = "cpu", tiny: bool = False) -> list[dict[str, Any]]:
    """Physical reference points: float32 GEMM GFLOP/s and copy GB/s with the device's array module
    (numpy's BLAS and memory system on the CPU, cuBLAS through cupy and the GPU's memory on cuda). The other
    sections read their floors against the same two figures, measured once more (bench_common.limits)."""
    lib = backend.xp_of(device).__name__
    gflops, n = gemm_gflops(device, tiny, quick)
    copy = "numpy copy, one thread" if device == "cpu" else f"cupy device-to-device copy on {device}"
    return [{"what": f"{lib} float32 GEMM {n}x{n}", "value": gflops, "unit": "GFLOP/s"},
            {"what": copy, "value": copy_bandwidth_gbs(device, tiny), "unit": "GB/s"}]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    p.add_argument("--json", default=None, help="write every table to this JSON file")
    p.add_argument("--only", choices=["machine", "models", "layers", "optim", "overhead"], default=None)
    args = parse_args(p)
    env = environment(args.device)
    for k, v in env.items():
        print(f"{k:>13}: {v}")
    sections = {"machine": (machine, ["what", "value", "unit"]),
                "models": (bench_models.run, bench_models.COLUMNS),
                "layers": (bench_layers.run, bench_layers.COLUMNS),
                "optim": (bench_optim.run, bench_optim.COLUMNS),
                "overhead": (bench_overhead.run, bench_overhead.COLUMNS)}
    results: dict[str, Any] = {"environment": env}
    for name, (fn, columns) in sections.items():
        if args.only and name != args.only:
            continue
        print(f"\n== {name}")
        rows = fn(args.quick, device=args.device)
        print_table(rows, columns)
        results[name] = rows
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
