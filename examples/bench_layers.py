"""Forward + backward time of Linear, Conv2d and MaxPool2d at the paper's sizes, against PyTorch's CPU.

Sizes: batch 128; Linear 784->1000 and 1000->1000 (section 6.2); Conv2d 5x5, padding 2, on 28x28
with 1->32, 32->32 and 32->64 channels, one by one and as a stack; MaxPool2d 3x3 stride 2 (section 6.3).
Both frameworks run in this process with the same float32 weights; blocks alternate between them with
short sleeps between, and each row reports the median. ``--quick`` uses batch 32 and fewer repeats.

    python examples/bench_layers.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import tinygrad_adam as tg
from tinygrad_adam import nn

try:
    import torch
except ImportError:  # the table then has our times only
    torch = None


def block_timer(fn: Callable[[], Any], block_s: float) -> Callable[[], float]:
    """A timer for ``fn``: each call sleeps 0.2 s, runs ``fn`` once untimed (threads wake up), then
    returns the mean time of enough calls to fill about ``block_s`` seconds."""
    fn()
    start = time.perf_counter()
    fn()
    number = max(1, round(block_s / (time.perf_counter() - start)))

    def block() -> float:
        time.sleep(0.2)
        fn()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number
    return block


def alternating_medians(fns: list[Callable[[], Any]], repeats: int, block_s: float) -> list[float]:
    """Median seconds per call of each function, timing their blocks in turn ``repeats`` times."""
    timers = [block_timer(fn, block_s) for fn in fns]
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for timer, acc in zip(timers, times):
            acc.append(timer())
    return [statistics.median(t) for t in times]


def step(model: nn.Module, x: tg.Tensor) -> Callable[[], None]:
    """One forward + backward of ``model`` on ``x`` (the loss is the sum of the output)."""
    def once() -> None:
        model.zero_grad()
        x.grad = None
        model(x).sum().backward()
    return once


def torch_step(model: nn.Module, x: tg.Tensor) -> Callable[[], None] | None:
    """The same step in PyTorch, with ``model``'s weights copied into an equivalent torch model."""
    if torch is None:
        return None
    layers = []
    for m in model.children() if isinstance(model, nn.Sequential) else [model]:
        if isinstance(m, nn.Linear):
            t = torch.nn.Linear(m.in_features, m.out_features)
        elif isinstance(m, nn.Conv2d):
            t = torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding)
        else:
            t = torch.nn.MaxPool2d(m.kernel_size, m.stride, m.padding)
        t.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in m.state_dict().items()})
        layers.append(t)
    tmodel = torch.nn.Sequential(*layers)
    tx = torch.from_numpy(x.numpy().copy()).requires_grad_(x.requires_grad)

    def once() -> None:
        tmodel.zero_grad()
        tx.grad = None
        tmodel(tx).sum().backward()
    return once


def cases(batch: int) -> list[tuple[str, nn.Module, tg.Tensor]]:
    """(name, model, input) for every row; the first conv's input needs no gradient, as in a network."""
    def conv(cin: int, cout: int) -> nn.Conv2d:
        return nn.Conv2d(cin, cout, 5, padding=2)

    def image(c: int, requires_grad: bool = True) -> tg.Tensor:
        return tg.randn(batch, c, 28, 28, requires_grad=requires_grad)
    return [
        ("Linear 784->1000", nn.Linear(784, 1000), tg.randn(batch, 784, requires_grad=True)),
        ("Linear 1000->1000", nn.Linear(1000, 1000), tg.randn(batch, 1000, requires_grad=True)),
        ("Conv2d 5x5 1->32", conv(1, 32), image(1, requires_grad=False)),
        ("Conv2d 5x5 32->32", conv(32, 32), image(32)),
        ("Conv2d 5x5 32->64", conv(32, 64), image(32)),
        ("Conv2d stack 1->32->32->64", nn.Sequential(conv(1, 32), conv(32, 32), conv(32, 64)),
         image(1, requires_grad=False)),
        ("MaxPool2d 3x3/2 on 32x28x28", nn.MaxPool2d(3, stride=2, padding=1), image(32)),
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Time every case; one dict per row: name, batch, ours_ms, torch_ms (None without torch), ratio."""
    tg.manual_seed(0)
    batch, repeats, block_s = (32, 3, 0.05) if quick else (128, 7, 0.3)
    rows = []
    for name, model, x in cases(batch):
        fns = [step(model, x)]
        theirs = torch_step(model, x)
        fns += [theirs] if theirs is not None else []
        times = alternating_medians(fns, repeats, block_s)
        torch_s = times[1] if len(times) > 1 else None
        rows.append({"name": name, "batch": batch, "ours_ms": 1e3 * times[0],
                     "torch_ms": None if torch_s is None else 1e3 * torch_s,
                     "ratio": None if torch_s is None else times[0] / torch_s})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'layer (forward + backward)':32} {'batch':>5} {'ours ms':>9} {'torch ms':>9} {'ours/torch':>10}"]
    for r in rows:
        torch_ms = "-" if r["torch_ms"] is None else f"{r['torch_ms']:.2f}"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"{r['name']:32} {r['batch']:>5} {r['ours_ms']:>9.2f} {torch_ms:>9} {ratio:>10}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 32 and fewer repeats (a smoke test)")
    args = parser.parse_args()
    if torch is not None:
        print(f"torch {torch.__version__} with {torch.get_num_threads()} threads")
    print(format_table(run(args.quick)))


if __name__ == "__main__":
    main()
