"""Benchmark: one optimizer step on 10M float32 parameters, ours against torch.optim on the CPU.

    python examples/bench_optim.py            # 10M parameters: one tensor, and 50 tensors of 200k
    python examples/bench_optim.py --quick    # 1M parameters, fewer repeats

For each optimizer it times our fused CPU paths (chunked numpy, and numba when installed; ``impl="auto"``
picks numba then) against torch's for-loop (its CPU default), foreach and fused (where torch has one)
implementations, alternating blocks in one process. GB/s counts the minimum traffic of one step, e.g. 28
bytes per parameter for Adam (read p, g, m, v; write p, m, v), and is set against the bandwidth of a large
numpy copy, counted the same way (bytes read + written). A copy also pays a hidden read of its destination
(write-allocate) that an in-place update does not, so fused steps can exceed 100%.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import compare, copy_bandwidth_gbs, environment, print_table

import tinygrad_adam as tg
from tinygrad_adam import optim

# (label, class name in both libraries, options, bytes moved per parameter, torch has fused=True)
OPTIMIZERS: list[tuple[str, str, dict[str, Any], int, bool]] = [
    ("Adam", "Adam", {}, 28, True),                                               # r p g m v, w p m v
    ("AdaMax", "Adamax", {}, 28, False),                                          # r p g m u, w p m u
    ("SGD-Nesterov", "SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}, 20, True),  # r p g b, w p b
    ("AdaGrad", "Adagrad", {}, 20, True),                                         # r p g G, w p G
    ("RMSProp", "RMSprop", {}, 20, False),                                        # r p g v, w p v
    ("AdaDelta", "Adadelta", {}, 28, False),                                      # r p g v u, w p v u
]
COLUMNS = ["optimizer", "layout", "impl", "ms/step", "GB/s", "% copy bw", "x best torch"]


def layouts(quick: bool) -> list[tuple[str, list[int]]]:
    total = 1_000_000 if quick else 10_000_000
    return [(f"1 x {total // 1_000_000}M", [total]), (f"50 x {total // 50_000}k", [total // 50] * 50)]


def arrays(sizes: list[int], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)) for n in sizes]


def our_step(name: str, options: dict[str, Any], sizes: list[int], impl: str) -> Callable[[], object]:
    params = []
    for p, g in arrays(sizes):
        t = tg.Tensor(p, requires_grad=True)
        t.grad = tg.Tensor(g)
        params.append(t)
    return getattr(optim, name)(params, **options, impl=impl).step


def torch_step(name: str, options: dict[str, Any], sizes: list[int], **flags: bool) -> Callable[[], object]:
    import torch

    params = []
    for p, g in arrays(sizes):
        t = torch.from_numpy(p).requires_grad_()
        t.grad = torch.from_numpy(g)
        params.append(t)
    return getattr(torch.optim, name)(params, **options, **flags).step


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Time every optimizer and layout; one row per (optimizer, layout, implementation)."""
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    bandwidth = copy_bandwidth_gbs()
    repeats, rounds = (3, 2) if quick else (5, 3)
    impls = ["numpy"] + (["numba"] if optim.numba_available() else [])
    rows = []
    for label, name, options, bytes_per_param, torch_fused in OPTIMIZERS:
        for layout, sizes in layouts(quick):
            blocks = {f"ours {impl}": our_step(name, options, sizes, impl) for impl in impls}
            if have_torch:
                blocks["torch for-loop"] = torch_step(name, options, sizes, foreach=False)
                blocks["torch foreach"] = torch_step(name, options, sizes, foreach=True)
                if torch_fused:
                    blocks["torch fused"] = torch_step(name, options, sizes, fused=True)
            times = compare(blocks, repeats=repeats, rounds=rounds)
            best_torch = min((ms for k, ms in times.items() if k.startswith("torch")), default=float("nan"))
            for impl, ms in times.items():
                gbs = bytes_per_param * sum(sizes) / (ms * 1e6)
                rows.append({"optimizer": label, "layout": layout, "impl": impl, "ms/step": ms, "GB/s": gbs,
                             "% copy bw": 100 * gbs / bandwidth, "x best torch": ms / best_torch})
    for row in rows:
        row["copy GB/s"] = bandwidth
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1M parameters and fewer repeats")
    args = parser.parse_args()
    for key, value in environment().items():
        print(f"{key}: {value}")
    rows = run(args.quick)
    print(f"numpy copy bandwidth: {rows[0]['copy GB/s']:.1f} GB/s\n")
    print_table(rows, COLUMNS)


if __name__ == "__main__":
    main()
