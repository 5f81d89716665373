"""Forward + backward time of Linear, Conv2d and MaxPool2d at the paper's sizes, and of the char GPT's GELU,
Softmax and LayerNorm, against PyTorch.

Sizes: batch 128; Linear 784->1000 and 1000->1000 (section 6.2); Conv2d 5x5, padding 2, on 28x28
with 1->32, 32->32 and 32->64 channels, one by one and as a stack; MaxPool2d 3x3 stride 2 (section 6.3);
GELU on 64x256, Softmax over the last 64 of 4x64x64 and LayerNorm over 64 on 64x64 per example.
Both frameworks run in this process with the same float32 weights; ``bench_common.compare`` alternates
their blocks with short sleeps between and reports the median. Each row's floor is its GEMM work (forward and
the gradients it needs) at the machine's GEMM rate, plus for pooling and the GPT's layers their memory traffic at
copy bandwidth. A conv
row also times the bare GEMMs our conv2d issues (its shapes and batch chunks, "GEMMs alone"): what BLAS takes of
the row at those skinny shapes, the rest being im2col and layout copies.
``--quick`` uses batch 32 and fewer repeats; ``--device cuda`` runs both on the GPU (the same weights, copied there).

    python examples/bench_layers.py [--quick] [--threads N] [--device cuda]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common
import numpy as np
from bench_common import compare, environment, parse_args, print_table, timing, torch_on

import tinygrad_adam as tg
from tinygrad_adam import backend, nn
from tinygrad_adam.ops import conv as conv_ops

COLUMNS = ["layer", "batch", "ours ms", "torch ms", "ours/torch", "floor ms", "ours/floor", "floor from",
           "GEMMs alone ms"]


def conv_gemms(model: nn.Module, x: tg.Tensor) -> Callable[[], None] | None:
    """The bare GEMMs that our conv2d issues for a forward + backward of ``model`` (a Conv2d or a Sequential of
    them) on ``x``, with its shapes and batch chunks, on random arrays: the part of a conv row that BLAS does, so
    the rest of the row (im2col copies, layout changes) is ``ours ms`` minus this. None for other layers."""
    convs = [m for m in (model if isinstance(model, nn.Sequential) else [model]) if isinstance(m, nn.Conv2d)]
    if not convs:
        return None
    rng = np.random.default_rng(0)
    products = []
    n, c, h, w = x.shape
    for k, conv in enumerate(convs):
        o, _, kh, kw = conv.weight.shape
        dx = k > 0 or x.requires_grad
        sample = max(h * w * c * kh * kw, h * w * kh * kw * o * dx) * x.dtype.itemsize  # stride 1, "same" padding
        for b in conv_ops.batch_chunks(slice(0, n), sample, x.device):
            rows = (b.stop - b.start) * h * w
            products += [((rows, c * kh * kw), (c * kh * kw, o)), ((c * kh * kw, rows), (rows, o))]  # y, dW
            if dx:
                products.append(((rows, kh * kw * o), (kh * kw * o, c)))
        c = o
    pairs = [tuple(backend.to_device(rng.random(s, dtype=np.float32), x.device) for s in shapes)
             for shapes in dict.fromkeys(products)]  # one pair of arrays per distinct shape
    lookup = dict(zip(dict.fromkeys(products), pairs))

    def once() -> None:
        for shapes in products:
            a, b = lookup[shapes]
            a @ b
    return once


def step(model: nn.Module, x: tg.Tensor) -> Callable[[], None]:
    """One forward + backward of ``model`` on ``x`` (the loss is the sum of the output)."""
    def once() -> None:
        model.zero_grad()
        x.grad = None
        model(x).sum().backward()
    return once


def torch_step(model: nn.Module, x: tg.Tensor) -> Callable[[], None] | None:
    """The same step in PyTorch on ``x``'s device, with ``model``'s weights copied into an equivalent torch
    model (None when torch cannot run there)."""
    torch = torch_on(x.device)
    if torch is None:
        return None
    layers = []
    for m in model.children() if isinstance(model, nn.Sequential) else [model]:
        if isinstance(m, nn.Linear):
            t = torch.nn.Linear(m.in_features, m.out_features)
        elif isinstance(m, nn.Conv2d):
            t = torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding)
        elif isinstance(m, nn.GELU):
            t = torch.nn.GELU(m.approximate)
        elif isinstance(m, nn.Softmax):
            t = torch.nn.Softmax(m.dim)
        elif isinstance(m, nn.LayerNorm):
            t = torch.nn.LayerNorm(m.normalized_shape, m.eps)
        else:
            t = torch.nn.MaxPool2d(m.kernel_size, m.stride, m.padding)
        t.load_state_dict({k: torch.from_numpy(backend.to_numpy(v)) for k, v in m.state_dict().items()})
        layers.append(t)
    tmodel = torch.nn.Sequential(*layers).to(x.device)
    tx = torch.from_numpy(x.numpy().copy()).to(x.device).requires_grad_(x.requires_grad)

    def once() -> None:
        tmodel.zero_grad()
        tx.grad = None
        tmodel(tx).sum().backward()
    return once


def cases(batch: int, device: str = "cpu") -> list[tuple[str, nn.Module, tg.Tensor]]:
    """(name, model, input) on ``device`` for every row; the first conv's input needs no gradient, as in a
    network. Inputs are (batch, 784), (batch, 1000) or images (batch, C, 28, 28)."""
    def conv(cin: int, cout: int) -> nn.Conv2d:
        return nn.Conv2d(cin, cout, 5, padding=2)

    def image(c: int, requires_grad: bool = True) -> tg.Tensor:
        return tg.randn(batch, c, 28, 28, requires_grad=requires_grad, device=device)
    rows = [
        ("Linear 784->1000", nn.Linear(784, 1000), tg.randn(batch, 784, requires_grad=True, device=device)),
        ("Linear 1000->1000", nn.Linear(1000, 1000), tg.randn(batch, 1000, requires_grad=True, device=device)),
        ("Conv2d 5x5 1->32", conv(1, 32), image(1, requires_grad=False)),
        ("Conv2d 5x5 32->32", conv(32, 32), image(32)),
        ("Conv2d 5x5 32->64", conv(32, 64), image(32)),
        ("Conv2d stack 1->32->32->64", nn.Sequential(conv(1, 32), conv(32, 32), conv(32, 64)),
         image(1, requires_grad=False)),
        ("MaxPool2d 3x3/2 on 32x28x28", nn.MaxPool2d(3, stride=2, padding=1), image(32)),
        # the char GPT's other layers (examples/char_gpt.py, 64 positions, 4 heads, 64 channels, MLP 256 wide)
        ("GELU (exact) on 64x256", nn.GELU(), tg.randn(batch, 64, 256, requires_grad=True, device=device)),
        ("Softmax over 64 on 4x64x64", nn.Softmax(dim=-1), tg.randn(batch, 4, 64, 64, requires_grad=True,
                                                                      device=device)),
        ("LayerNorm 64 on 64x64", nn.LayerNorm(64), tg.randn(batch, 64, 64, requires_grad=True, device=device)),
    ]
    return [(name, model.to(device), x) for name, model, x in rows]


def run(quick: bool = False, device: str = "cpu", tiny: bool = False) -> list[dict[str, Any]]:
    """Time every case on ``device`` (``tiny``: batch 2, one sample each); one dict per row: layer, batch,
    ours ms, torch ms and ours/torch (the last two absent when torch cannot run there)."""
    tg.manual_seed(0)
    batch, repeats, rounds = (2, 1, 1) if tiny else (32, 2, 2) if quick else (128, 5, 3)
    rows = []
    for name, model, x in cases(batch, device):
        blocks = {"ours": step(model, x)}
        theirs, gemms = torch_step(model, x), conv_gemms(model, x)
        if theirs is not None:
            blocks["torch"] = theirs
        if gemms is not None:
            blocks["gemms"] = gemms
        ms = compare(blocks, **timing(tiny, repeats, rounds), device=device)
        work = bench_common.graph_work(model(x).sum())
        floor = bench_common.floor_ms(*work, device, tiny)
        row: dict[str, Any] = {"layer": name, "batch": batch, "ours ms": ms["ours"], "floor ms": floor,
                               "ours/floor": ms["ours"] / floor, "floor from": bench_common.describe_floor(*work)}
        if theirs is not None:
            row.update({"torch ms": ms["torch"], "ours/torch": ms["ours"] / ms["torch"]})
        if gemms is not None:
            row["GEMMs alone ms"] = ms["gemms"]
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 32 and fewer repeats (a smoke test)")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit BLAS (via threadpoolctl) and torch to this many threads")
    args = parse_args(parser)
    limit = contextlib.nullcontext()
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(args.threads)
        if (torch := torch_on("cpu")) is not None:
            torch.set_num_threads(args.threads)
    with limit:
        for key, value in environment(args.device).items():
            print(f"{key}: {value}")
        print_table(run(args.quick, device=args.device), COLUMNS)


if __name__ == "__main__":
    main()
