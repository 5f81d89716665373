"""Benchmark: one optimizer step on 10M float32 parameters, ours against torch.optim, on the CPU or a GPU.

    python examples/bench_optim.py                 # 10M parameters: one tensor, 50 tensors of 200k; a GPT's list
    python examples/bench_optim.py --quick         # 1M parameters, fewer repeats
    python examples/bench_optim.py --device cuda   # on the GPU

For each optimizer it times our fused CPU paths (chunked numpy, and numba when installed; ``impl="auto"``
picks numba then) against torch's for-loop (its CPU default), foreach and fused (where torch has one)
implementations, alternating blocks in one process. On a GPU ours are the fused cupy ElementwiseKernel
(``impl="auto"``) and the readable reference update, against the same three torch paths (fused only where
torch supports it on CUDA; foreach is its CUDA default). GB/s counts the minimum traffic of one step, e.g. 28
bytes per parameter for Adam (read p, g, m, v; write p, m, v), and is set against the bandwidth of a large
copy on the same device, counted the same way (bytes read + written). A CPU copy also pays a hidden read of
its destination (write-allocate) that an in-place update does not, so fused steps can exceed 100%.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import compare, copy_bandwidth_gbs, environment, parse_args, print_table, timing, torch_on
from char_gpt import GPT, GPTConfig

import tinygrad_adam as tg
from tinygrad_adam import optim

# (label, class name in both libraries, options, bytes moved per parameter, torch has fused=True on some device)
OPTIMIZERS: list[tuple[str, str, dict[str, Any], int, bool]] = [
    ("Adam", "Adam", {}, 28, True),                                               # r p g m v, w p m v
    ("AdaMax", "Adamax", {}, 28, False),                                          # r p g m u, w p m u
    ("SGD-Nesterov", "SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}, 20, True),  # r p g b, w p b
    ("AdaGrad", "Adagrad", {}, 20, True),                                         # r p g G, w p G
    ("RMSProp", "RMSprop", {}, 20, False),                                        # r p g v, w p v
    ("AdaDelta", "Adadelta", {}, 28, False),                                      # r p g v u, w p v u
]
COLUMNS = ["optimizer", "layout", "impl", "ms/step", "GB/s", "% copy bw", "x best torch"]


def layouts(quick: bool, tiny: bool = False) -> list[tuple[str, list[tuple[int, ...]]]]:
    """(label, tensor shapes): all parameters in one tensor, in 50 equal tensors, and a real model's list: the
    character GPT of ``char_gpt.py`` with its parameters' own shapes (4 layers of 128 channels: 52 tensors of 64 to
    65k elements, 0.81M in all, the matrices 2-D; with ``tiny`` its 2 x 64 quick size)."""
    def count(n: int) -> str:
        return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"
    total = 100_000 if tiny else 1_000_000 if quick else 10_000_000
    config = GPTConfig(vocab_size=65, **({"n_layer": 2, "n_embd": 64} if tiny else {}))
    gpt = [p.shape for p in GPT(config).parameters()]
    return [(f"1 x {count(total)}", [(total,)]), (f"50 x {count(total // 50)}", [(total // 50,)] * 50),
            (f"char GPT ({len(gpt)} tensors, {sum(math.prod(s) for s in gpt) / 1e6:.2f}M)", gpt)]


def arrays(shapes: list[tuple[int, ...]], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(s, dtype=np.float32), rng.standard_normal(s, dtype=np.float32)) for s in shapes]


def our_step(name: str, options: dict[str, Any], shapes: list[tuple[int, ...]], impl: str,
             device: str) -> Callable[[], object]:
    params = []
    for p, g in arrays(shapes):
        t = tg.Tensor(p, requires_grad=True, device=device)
        t.grad = tg.Tensor(g, device=device)
        params.append(t)
    return getattr(optim, name)(params, **options, impl=impl).step


def torch_step(name: str, options: dict[str, Any], shapes: list[tuple[int, ...]], device: str,
               **flags: bool) -> Callable[[], object]:
    """torch.optim's step on ``device``. It steps once here: torch checks some fused kernels' device support
    only at the first step, so a RuntimeError for an unsupported combination comes from this call."""
    torch = torch_on(device)
    params = []
    for p, g in arrays(shapes):
        t = torch.from_numpy(p).to(device).requires_grad_()
        t.grad = torch.from_numpy(g).to(device)
        params.append(t)
    opt = getattr(torch.optim, name)(params, **options, **flags)
    opt.step()
    return opt.step


def our_impls(device: str) -> dict[str, str]:
    """Row label -> impl: the CPU fast paths, or on a GPU the cupy kernel ("auto") and the reference update."""
    if device != "cpu":
        return {"cuda": "auto", "reference": "reference"}
    return {"numpy": "numpy", **({"numba": "numba"} if optim.numba_available() else {})}


def torch_blocks(name: str, options: dict[str, Any], shapes: list[tuple[int, ...]], device: str,
                 fused: bool) -> dict[str, Callable[[], object]]:
    """torch's for-loop and foreach steps of ``torch.optim.<name>``, and its fused step when ``fused`` and
    torch runs it on ``device``."""
    blocks = {"torch for-loop": torch_step(name, options, shapes, device, foreach=False),
              "torch foreach": torch_step(name, options, shapes, device, foreach=True)}
    if fused:
        try:
            blocks["torch fused"] = torch_step(name, options, shapes, device, fused=True)
        except RuntimeError as e:  # e.g. a torch version without this fused kernel on CUDA
            print(f"torch.optim.{name}(fused=True) on {device}, {len(shapes)} tensors: left out ({e})")
    return blocks


def run(quick: bool = False, device: str = "cpu", tiny: bool = False) -> list[dict[str, Any]]:
    """Time every optimizer and layout on ``device`` (``tiny``: 100k parameters, one sample each); one row
    per (optimizer, layout, implementation)."""
    have_torch = torch_on(device) is not None
    bandwidth = copy_bandwidth_gbs(device, tiny)
    repeats, rounds = (3, 2) if quick else (5, 3)
    rows = []
    for label, name, options, bytes_per_param, torch_fused in OPTIMIZERS:
        for layout, shapes in layouts(quick, tiny):
            blocks = {f"ours {row}": our_step(name, options, shapes, impl, device)
                      for row, impl in our_impls(device).items()}
            if have_torch:
                blocks |= torch_blocks(name, options, shapes, device, torch_fused)
            times = compare(blocks, **timing(tiny, repeats, rounds), device=device)
            best_torch = min((ms for k, ms in times.items() if k.startswith("torch")), default=None)
            for impl, ms in times.items():
                gbs = bytes_per_param * sum(math.prod(s) for s in shapes) / (ms * 1e6)
                rows.append({"optimizer": label, "layout": layout, "impl": impl, "ms/step": ms, "GB/s": gbs,
                             "% copy bw": 100 * gbs / bandwidth})
                if best_torch is not None:
                    rows[-1]["x best torch"] = ms / best_torch
    for row in rows:
        row["copy GB/s"] = bandwidth
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1M parameters and fewer repeats")
    args = parse_args(parser)
    for key, value in environment(args.device).items():
        print(f"{key}: {value}")
    rows = run(args.quick, device=args.device)
    print(f"copy bandwidth on {args.device}: {rows[0]['copy GB/s']:.1f} GB/s\n")
    print_table(rows, COLUMNS)


if __name__ == "__main__":
    main()
