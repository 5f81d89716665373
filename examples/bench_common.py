"""Small timing helpers shared by the benchmarks.

Fair timing of two libraries in one process: run their blocks alternately (so that a slow phase of the
machine hits both), pause between blocks (OpenBLAS and OpenMP worker threads spin for a while after each
call and would steal the next block's cores), and report the median. On a GPU a call only queues kernels,
so every call is timed up to the end of its work: ``start; fn(); sync(); stop``, where ``sync`` waits for
both our backend and torch on that device (``device_sync``).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tinygrad_adam import backend
from tinygrad_adam.viz import walk


@functools.cache
def torch_status(device: str) -> tuple[Any, str]:
    """(the torch module, or None when torch cannot run on ``device``; its version, or why not, in one line)."""
    try:
        import torch
    except ImportError:
        return None, "not installed: the torch columns stay empty"
    if device == "cpu":
        return torch, torch.__version__
    if not torch.cuda.is_available():
        why = "a CPU-only build" if torch.version.cuda is None else "torch.cuda.is_available() is False"
        return None, f"{torch.__version__} cannot run on {device} ({why}): the torch columns stay empty"
    return torch, f"{torch.__version__} with CUDA {torch.version.cuda} on {torch.cuda.get_device_name(device)}"


def torch_on(device: str) -> Any:
    """The torch module when it can run on ``device`` (a normalised name, as torch spells it too), else None."""
    return torch_status(device)[0]


def device_sync(device: str) -> Callable[[], None]:
    """A function that waits until our backend's and torch's queued work on ``device`` is done (no-op on cpu)."""
    if device == "cpu":
        return lambda: None
    torch = torch_on(device)

    def sync() -> None:
        backend.synchronize(device)
        if torch is not None:
            torch.cuda.synchronize(device)
    return sync


def compare(blocks: Mapping[str, Callable[[], object]], *, device: str, repeats: int = 5, rounds: int = 3,
            pause: float = 0.2) -> dict[str, float]:
    """Median milliseconds per call of each block: ``rounds`` rounds, each running every block ``repeats``
    times in turn (after one untimed warm-up call), with ``pause`` seconds of sleep between blocks. Each
    call is timed until ``device_sync(device)`` returns, so queued GPU work counts."""
    sync = device_sync(device)
    samples: dict[str, list[float]] = {name: [] for name in blocks}
    for fn in blocks.values():
        fn()
        sync()
    for _ in range(rounds):
        for name, fn in blocks.items():
            time.sleep(pause)
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                sync()
                samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(ms) for name, ms in samples.items()}


def timing(tiny: bool, repeats: int, rounds: int) -> dict[str, Any]:
    """compare()'s sampling options: as given, or for a ``tiny`` run (the benchmarks' smallest sizes, which
    check the plumbing and measure nothing) one sample per block and no pauses."""
    return {"repeats": 1, "rounds": 1, "pause": 0.0} if tiny else {"repeats": repeats, "rounds": rounds}


def copy_bandwidth_gbs(device: str, tiny: bool = False) -> float:
    """Memory bandwidth of a large copy (bytes read + bytes written per second, in GB/s): numpy on one CPU
    thread, or a device-to-device copy of the device's array module (large enough to miss the GPU's L2).
    ``tiny`` copies 4 MB (a plumbing check: the figure then means nothing)."""
    xp = backend.xp_of(device)
    n_bytes = 4_000_000 if tiny else 80_000_000 if device == "cpu" else 800_000_000
    with backend.device_context(device):
        src = xp.ones(n_bytes // 4, dtype=xp.float32)
        dst = xp.empty_like(src)
        ms = compare({"copy": lambda: xp.copyto(dst, src)}, repeats=5, rounds=1, pause=0.0, device=device)["copy"]
    return 2 * n_bytes / (ms * 1e6)


def gemm_gflops(device: str, tiny: bool = False, quick: bool = False) -> tuple[float, int]:
    """(float32 GFLOP/s, n) of an n x n GEMM with the device's array module: numpy's BLAS on the CPU (all its
    threads), cuBLAS through cupy on a GPU. ``tiny``: n = 256, a plumbing check that measures nothing."""
    n = 256 if tiny else (1024 if quick else 2048) if device == "cpu" else (4096 if quick else 8192)
    a = backend.to_device(np.random.default_rng(0).random((n, n), dtype=np.float32), device)
    with backend.device_context(device):
        ms = compare({"gemm": lambda: a @ a}, **timing(tiny, 3, 2), device=device)["gemm"]
    return 2 * n**3 / (ms * 1e6), n


@functools.cache
def limits(device: str, tiny: bool = False) -> tuple[float, float]:
    """(GEMM GFLOP/s, copy GB/s) of ``device``, measured once per process: what every row's floor is read against."""
    return gemm_gflops(device, tiny)[0], copy_bandwidth_gbs(device, tiny)


def graph_work(root: Any) -> tuple[float, float]:
    """(GEMM FLOPs, bytes) that the forward and backward pass of ``root``'s graph must at least do: 2*m*k*n per
    product (forward, and each gradient the inputs need) of every linear, matmul and conv2d node, and for every
    max_pool2d, gelu, softmax and layer_norm node its input and output read or written once each way. Call before
    ``backward()`` (which frees the graph). Other elementwise ops are left out: a fused implementation could hide
    them."""
    flops = nbytes = 0.0
    for t in walk(root):
        parents = t._parents  # the recorded graph (what viz.to_dot draws)
        products = 1 + sum(p.requires_grad for p in parents[:2])  # forward, d/dinput, d/dweight
        if t._op == "conv2d":
            weight = parents[1]  # (O, C, kh, kw); t: (N, O, Ho, Wo)
            flops += 2 * t.size * (weight.size // weight.shape[0]) * products
        elif t._op == "linear":
            flops += 2 * parents[0].size * parents[1].shape[0] * products
        elif t._op == "matmul":
            flops += 2 * t.size * parents[0].shape[-1] * products
        elif t._op in ("max_pool2d", "gelu", "softmax", "layer_norm"):
            nbytes += 2 * (parents[0].size + t.size) * t.dtype.itemsize
    return flops, nbytes


def floor_ms(flops: float, nbytes: float, device: str, tiny: bool = False) -> float:
    """The time ``flops`` of GEMM and ``nbytes`` of memory traffic take at the device's measured limits."""
    gflops, gbs = limits(device, tiny)
    return flops / (gflops * 1e6) + nbytes / (gbs * 1e6)


def describe_floor(flops: float, nbytes: float) -> str:
    """What a floor is made of, e.g. ``GEMM 1.2 GFLOP + 3.4 MB``."""
    parts = [f"GEMM {flops / 1e9:.3g} GFLOP"] if flops else []
    parts += [f"{nbytes / 1e6:.3g} MB"] if nbytes else []
    return " + ".join(parts) or "-"


def environment(device: str = "cpu") -> dict[str, Any]:
    """What the numbers depend on: CPU, cores, library versions and thread pools, and the GPU on cuda."""
    info: dict[str, Any] = {"device": device, "cpu": platform.processor() or platform.machine(),
                            "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__}
    if device != "cpu":
        cupy = backend.xp_of(device)
        props = cupy.cuda.runtime.getDeviceProperties(int(device.split(":")[1]))
        cuda = cupy.cuda.runtime.runtimeGetVersion()
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        info["gpu"] = (f"{name}, {props['totalGlobalMem'] / 2**30:.0f} GiB; cupy {cupy.__version__}, "
                       f"CUDA runtime {cuda // 1000}.{cuda % 1000 // 10}")
    try:
        from threadpoolctl import threadpool_info

        info["thread pools"] = ", ".join(f"{p.get('internal_api')} x{p.get('num_threads')}" for p in threadpool_info())
    except ImportError:
        info["thread pools"] = "unknown (pip install threadpoolctl)"
    # numpy's GEMM rate depends on them: OpenBLAS's AVX2 ("Haswell") kernels run at about half its AVX-512 ones'
    forced = os.environ.get("OPENBLAS_CORETYPE")
    info["blas kernels"] = (backend.openblas_kernels() or "not OpenBLAS") + (
        f" (OPENBLAS_CORETYPE={forced} in the environment)" if forced else "")
    try:
        import numba

        info["numba"] = f"{numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads)"
    except ImportError:
        info["numba"] = "not installed"
    torch, about = torch_status(device)
    info["torch"] = about if torch is None else f"{about} ({torch.get_num_threads()} threads)"
    return info


def parse_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The command line with a ``--device`` option added, its value normalised ("cuda" -> "cuda:0"). A device
    that cannot be used (no cupy, no GPU, an unknown name) ends the program with one line saying why, status 2."""
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N: where ours and torch run")
    args = parser.parse_args()
    try:
        args.device = backend.parse_device(args.device)
    except backend.DeviceError as e:
        parser.exit(2, f"{parser.prog}: --device {args.device}: {e}\n")
    return args


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Rows of dicts as an aligned text table (floats with 3 significant figures)."""
    def cell(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    cells = [[cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
