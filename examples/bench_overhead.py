"""Benchmark: the fixed cost of one op on tiny tensors (microseconds per op), ours against torch, with gradients on.

    python examples/bench_overhead.py [--quick]

On a (4, 4) float32 tensor an op's arithmetic takes nanoseconds; what remains is the framework: checking the
arguments, broadcasting and dtype rules, allocating the result and recording the graph node. Small models (the
makemore MLP, a char GPT) spend most of a step there. Each row runs the op ``LOOPS`` times per timed call, on
inputs that require gradients (so the graph is recorded, as in training), and reports the median per op. The
floor is the same computation as one bare numpy call on the raw arrays: the least a numpy-backed framework can
cost. ``backward`` rows time a whole forward + backward of a short chain, divided by its number of ops.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import compare, environment, parse_args, print_table, timing, torch_on

import tinygrad_adam as tg

COLUMNS = ["op", "us ours", "us torch", "ours/torch", "us numpy floor", "ours/floor"]
LOOPS = 200


def cases(device: str) -> list[tuple[str, int, Callable[..., Any], list[np.ndarray]]]:
    """(name, ops per call, fn(tanh, *args), arrays). ``fn`` is written once and called with our Tensors, torch
    tensors, or the raw numpy arrays (the floor), and the library's ``tanh``."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 4), dtype=np.float32), rng.standard_normal((4, 4), dtype=np.float32)
    row = rng.standard_normal(4, dtype=np.float32)
    table, idx = rng.standard_normal((27, 10), dtype=np.float32), rng.integers(0, 27, (32, 3))

    def chain(tanh: Any, x: Any, y: Any) -> Any:
        return tanh(x @ y + x * y).sum()

    return [
        ("add (4,4)+(4,4)", 1, lambda _, x, y: x + y, [a, b]),
        ("add broadcast (4,4)+(4,)", 1, lambda _, x, y: x + y, [a, row]),
        ("mul by a Python scalar", 1, lambda _, x: x * 2.0, [a]),
        ("matmul (4,4)@(4,4)", 1, lambda _, x, y: x @ y, [a, b]),
        ("tanh", 1, lambda tanh, x: tanh(x), [a]),
        ("sum", 1, lambda _, x: x.sum(), [a]),
        ("reshape", 1, lambda _, x: x.reshape(2, 8), [a]),
        ("embedding rows C[X] (27x10)[(32,3)]", 1, lambda _, c, i: c[i], [table, idx]),
        ("forward+backward of tanh(x@y + x*y).sum()", 5, chain, [a, b]),
    ]


def ours_block(fn: Callable[..., Any], arrays: list[np.ndarray], backward: bool, device: str) -> Callable[[], None]:
    args = [tg.Tensor(a, requires_grad=a.dtype.kind == "f", device=device) for a in arrays]

    def block() -> None:
        for _ in range(LOOPS):
            out = fn(tg.Tensor.tanh, *args)
            if backward:
                for t in args:
                    t.grad = None
                out.backward()
    return block


def torch_block(fn: Callable[..., Any], arrays: list[np.ndarray], backward: bool, device: str) -> Callable[[], None]:
    torch = torch_on(device)
    args = [torch.from_numpy(a).to(device).requires_grad_(a.dtype.kind == "f") for a in arrays]

    def block() -> None:
        for _ in range(LOOPS):
            out = fn(torch.tanh, *args)
            if backward:
                for t in args:
                    t.grad = None
                out.backward()
    return block


def numpy_block(fn: Callable[..., Any], arrays: list[np.ndarray]) -> Callable[[], None]:
    def block() -> None:
        for _ in range(LOOPS):
            fn(np.tanh, *arrays)
    return block


def run(quick: bool = False, device: str = "cpu", tiny: bool = False) -> list[dict[str, Any]]:
    """One row per op: microseconds per op for ours, torch (when it runs on ``device``) and the numpy floor (on
    the CPU; the backward row's floor is its forward in numpy)."""
    have_torch = torch_on(device) is not None
    rows = []
    for name, ops, fn, arrays in cases(device):
        backward = name.startswith("forward+backward")
        blocks = {"ours": ours_block(fn, arrays, backward, device)}
        if have_torch:
            blocks["torch"] = torch_block(fn, arrays, backward, device)
        if device == "cpu":
            blocks["numpy"] = numpy_block(fn, arrays)
        ms = compare(blocks, **timing(tiny, 3, 2 if quick else 3), device=device)
        us = {k: v * 1e3 / (LOOPS * ops) for k, v in ms.items()}
        row: dict[str, Any] = {"op": name, "us ours": us["ours"]}
        if have_torch:
            row.update({"us torch": us["torch"], "ours/torch": us["ours"] / us["torch"]})
        if "numpy" in us:
            row.update({"us numpy floor": us["numpy"], "ours/floor": us["ours"] / us["numpy"]})
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parse_args(parser)
    for key, value in environment(args.device).items():
        print(f"{key}: {value}")
    print_table(run(args.quick, device=args.device), COLUMNS)


if __name__ == "__main__":
    main()
