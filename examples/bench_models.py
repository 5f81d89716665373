"""Benchmark: one full training step (forward, backward, Adam step) of each paper model, ours vs torch.

    python examples/bench_models.py            # every model, and peak memory of an MLP epoch
    python examples/bench_models.py --quick
    python examples/bench_models.py --device cuda

Each step is float32, batch 128, on synthetic inputs of the real shapes (the time does not depend on the
values); torch runs the same architectures. The IMDB batch reaches our model as a CSR matrix (the sparse
first layer touches only the ~1.3% stored entries) and torch's as the dense (128, 10000) array it would
use; ``imdb-logreg-dense`` feeds ours the dense array too, to show what the sparse path saves. With
``--device cuda`` both models, their inputs (the CSR arrays too) and their optimizer state live on the GPU.
Blocks of ours and torch alternate in one process with pauses between them (bench_common.compare).
``makemore-mlp`` is a small character model (Bengio et al. 2003, as in Karpathy's makemore): a 27x10 embedding
looked up by indexing, 3 characters of context, a 200-unit tanh layer, batch 32; its step is mostly per-op
overhead, not arithmetic. ``char-gpt`` is one training step of ``char_gpt.py --quick``'s model (2 layers, 4 heads,
64 channels, batch 16 x 64 characters; AdamW with two parameter groups and gradient clipping), torch's being the
same file with its three torch imports swapped. Each row's floor is the step's GEMM work (forward and the gradients
it needs) at the machine's GEMM rate plus the pooling and Adam memory traffic (28 bytes per parameter) at copy
bandwidth.
Peak memory (max RSS) is measured on the CPU only, in a fresh subprocess per library, training the MLP on
real MNIST; without the dataset the row says it was skipped and why.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_common
from bench_common import compare, environment, parse_args, print_table, timing, torch_on

import tinygrad_adam as tg
from tinygrad_adam import backend, models, nn, optim
from tinygrad_adam.data import CSRMatrix, mnist
from tinygrad_adam.data.paths import DataNotFoundError, data_dirs, locate
from tinygrad_adam.nn import functional as F

BATCH = 128
IMDB_DENSITY = 0.013  # about 130 of the 10,000 words appear in an average review
COLUMNS = ["model", "ms ours", "ms torch", "ours/torch", "floor ms", "ours/floor", "floor from"]
CONTEXT, VOCAB, EMBED, HIDDEN, SMALL_BATCH = 3, 27, 10, 200, 32  # makemore-mlp
GPT_VOCAB, GPT_CONTEXT, GPT_BATCH = 65, 64, 16  # char-gpt, as char_gpt.py --quick
TORCH_IMPORTS = [("import tinygrad_adam as torch\n", "import torch\n"),  # char_gpt.py's swap
                 ("import tinygrad_adam.nn as nn\n", "import torch.nn as nn\n"),
                 ("from tinygrad_adam.nn import functional as F\n", "from torch.nn import functional as F\n")]


def char_gpt(library: str) -> dict[str, Any]:
    """The namespace of ``char_gpt.py`` run on ``library`` ("ours", or "torch": its three imports swapped)."""
    source = (Path(__file__).resolve().parent / "char_gpt.py").read_text()
    if library == "torch":
        for line, swapped in TORCH_IMPORTS:
            assert line in source, f"char_gpt.py no longer has {line!r}"
            source = source.replace(line, swapped)
    module = sys.modules.setdefault(f"char_gpt_{library}", types.ModuleType(f"char_gpt_{library}"))  # (dataclasses
    exec(compile(source, "char_gpt.py", "exec"), module.__dict__)  # look it up) our own example file, not user input
    return module.__dict__


def gpt_step(library: str, x: Any, y: Any) -> tuple[Callable[[], None], Callable[[], Any], Any]:
    """(one char_gpt.py --quick training step on ``library``'s tensors x, y (B, T), its loss, the model)."""
    ns = char_gpt(library)
    torch = ns["torch"]
    model = ns["GPT"](ns["GPTConfig"](block_size=GPT_CONTEXT, n_layer=2, n_head=4, n_embd=64, dropout=0.0))
    model.to(x.device)
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=3e-3, betas=(0.9, 0.99))

    def step() -> None:
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return step, lambda: model(x, y)[1], model


def batch_for(name: str, rng: np.random.Generator, batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and integer targets of the model's real shape, e.g. (batch, 784) and (batch,)."""
    if name.startswith("cnn"):
        shape = (3, 32, 32) if name.endswith("cifar") else (1, 28, 28)
        return rng.random((batch, *shape), dtype=np.float32), rng.integers(0, 10, batch)
    if name.startswith("imdb-logreg"):
        return (rng.random((batch, 10_000)) < IMDB_DENSITY).astype(np.float32), rng.integers(0, 2, batch)
    if name == "makemore-mlp":
        return rng.integers(0, VOCAB, (SMALL_BATCH, CONTEXT)), rng.integers(0, VOCAB, SMALL_BATCH)
    if name == "char-gpt":
        rows = GPT_BATCH if batch == BATCH else batch  # (a smaller batch only in the tiny smoke test)
        return tuple(rng.integers(0, GPT_VOCAB, (rows, GPT_CONTEXT)) for _ in range(2))  # characters, next ones
    return rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, batch)


def sparse_batch(x: np.ndarray, device: str) -> F.CSRBatch:
    """The stored entries of a dense (N, D) batch as a CSR batch whose arrays live on ``device`` (a CSRMatrix
    holds numpy arrays only; moving them once here keeps the host-to-GPU copy out of the timed step)."""
    m = CSRMatrix.from_dense(x)
    return F.CSRBatch(*(backend.to_device(a, device) for a in (m.indptr, m.indices, m.data)), m.shape)


class Makemore(nn.Module):
    """Characters (B, CONTEXT) -> next-character logits (B, VOCAB): embedding by indexing, one tanh layer."""

    def __init__(self) -> None:
        super().__init__()
        self.C = nn.Parameter(tg.randn(VOCAB, EMBED))
        self.hidden, self.out = nn.Linear(CONTEXT * EMBED, HIDDEN), nn.Linear(HIDDEN, VOCAB)

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        return self.out(self.hidden(self.C[x].reshape(x.shape[0], CONTEXT * EMBED)).tanh())


def ours(name: str) -> nn.Module:
    return {
        "makemore-mlp": Makemore,
        "logreg": lambda: models.LogisticRegression(784, 10),
        "mlp": lambda: models.MLP(784, (1000, 1000), 10, dropout=0.5),
        "cnn-32-32-64": lambda: models.CNN(1, (32, 32, 64)),
        "cnn-64-64-128": lambda: models.CNN(1, (64, 64, 128)),
        "cnn-64-64-128-cifar": lambda: models.CNN(3, (64, 64, 128), image_size=32),
        "vae": lambda: models.VAE(784, 500, 50),
        "imdb-logreg": lambda: nn.Sequential(nn.Dropout(0.5), models.LogisticRegression(10_000, 2)),
    }[name.removesuffix("-dense")]()


def theirs(name: str) -> Any:
    """The same architecture as ``ours(name)`` in torch (the IMDB input is dense there: torch's usual way)."""
    import torch
    from torch import nn as tnn

    def cnn(c: tuple[int, int, int], cin: int = 1, size: int = 28) -> Any:  # models.CNN: input dropout 0.2,
        layers = [tnn.Dropout(0.2)]  # pools 28 -> 14 -> 7 -> 4 (32 -> 16 -> 8 -> 4)
        for cout in c:
            layers += [tnn.Conv2d(cin, cout, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(3, 2, padding=1)]
            cin, size = cout, (size - 1) // 2 + 1
        return tnn.Sequential(*layers, tnn.Flatten(), tnn.Linear(cin * size * size, 1000), tnn.ReLU(),
                              tnn.Dropout(0.5), tnn.Linear(1000, 10))

    class Makemore(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.C = tnn.Parameter(torch.randn(VOCAB, EMBED))
            self.hidden, self.out = tnn.Linear(CONTEXT * EMBED, HIDDEN), tnn.Linear(HIDDEN, VOCAB)

        def forward(self, x: Any) -> Any:
            return self.out(torch.tanh(self.hidden(self.C[x].view(x.shape[0], CONTEXT * EMBED))))

    class VAE(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc, self.mu, self.logvar = tnn.Linear(784, 500), tnn.Linear(500, 50), tnn.Linear(500, 50)
            self.dec1, self.dec2 = tnn.Linear(50, 500), tnn.Linear(500, 784)

        def loss(self, x: Any) -> Any:
            h = tnn.functional.softplus(self.enc(x))
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            logits = self.dec2(tnn.functional.softplus(self.dec1(z)))
            rec = tnn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
            kl = 0.5 * (mu * mu + logvar.exp() - 1 - logvar).sum(1)
            return (rec + kl).mean()

    return {
        "makemore-mlp": Makemore,
        "logreg": lambda: tnn.Linear(784, 10),
        "mlp": lambda: tnn.Sequential(tnn.Linear(784, 1000), tnn.ReLU(), tnn.Dropout(0.5),
                                      tnn.Linear(1000, 1000), tnn.ReLU(), tnn.Dropout(0.5), tnn.Linear(1000, 10)),
        "cnn-32-32-64": lambda: cnn((32, 32, 64)),
        "cnn-64-64-128": lambda: cnn((64, 64, 128)),
        "cnn-64-64-128-cifar": lambda: cnn((64, 64, 128), 3, 32),
        "vae": VAE,
        "imdb-logreg": lambda: tnn.Sequential(tnn.Dropout(0.5), tnn.Linear(10_000, 2)),
    }[name.removesuffix("-dense")]()


def our_step(name: str, x: np.ndarray, y: np.ndarray,
             device: str = "cpu") -> tuple[Callable[[], None], tuple[float, float]]:
    """(one training step, its least work: GEMM FLOPs and bytes of memory traffic)."""
    if name == "char-gpt":
        step, loss, model = gpt_step("ours", tg.tensor(x, device=device), tg.tensor(y, device=device))
        flops, nbytes = bench_common.graph_work(loss())
        return step, (flops, nbytes + 28 * sum(p.size for p in model.parameters()))
    model = ours(name).to(device)
    opt = optim.Adam(model.parameters(), lr=1e-4)
    # the IMDB batch stays sparse: only its stored entries reach the first layer (nn.functional.linear)
    xt = sparse_batch(x, device) if name == "imdb-logreg" else tg.Tensor(x, device=device)
    yt = tg.Tensor(y, device=device)

    def loss() -> tg.Tensor:
        return model.loss(xt) if name == "vae" else F.cross_entropy(model(xt), yt)

    def step() -> None:
        value = loss()
        opt.zero_grad()
        value.backward()
        opt.step()
    flops, nbytes = bench_common.graph_work(loss())
    nbytes += 28 * sum(p.size for p in model.parameters())  # Adam: read p, g, m, v and write p, m, v (float32)
    return step, (flops, nbytes)


def torch_step(name: str, x: np.ndarray, y: np.ndarray, device: str = "cpu") -> Callable[[], None]:
    import torch

    if name == "char-gpt":
        return gpt_step("torch", torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))[0]
    model = theirs(name).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def step() -> None:
        loss = model.loss(xt) if name == "vae" else torch.nn.functional.cross_entropy(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


MODELS = ["makemore-mlp", "char-gpt", "logreg", "mlp", "cnn-32-32-64", "cnn-64-64-128", "cnn-64-64-128-cifar", "vae",
          "imdb-logreg", "imdb-logreg-dense"]


def peak_rss_mb(library: str, steps: int) -> float:
    """Peak RSS (MB) of a fresh process while it trains the MLP for ``steps`` minibatches of real MNIST."""
    out = subprocess.run([sys.executable, __file__, "--rss-child", library, "--steps", str(steps)],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"the {library} memory run failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def rss_child(library: str, steps: int) -> None:
    """Train, then print the peak RSS in MB. The peak is reset after loading the data (Linux: /proc/self/clear_refs),
    so the decoding of the dataset, the same for both libraries, does not hide the training peak; the number
    still includes the resident dataset (~190 MB of float32 pixels)."""
    from tinygrad_adam.data import ArrayLoader, load_mnist

    train, _ = load_mnist()
    step = _batch_step(library)
    loader = ArrayLoader((train.x.reshape(len(train.x), -1), train.y), batch_size=BATCH, seed=0)
    gc.collect()
    status = Path("/proc/self/status")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM, the peak resident set size
    except OSError:
        status = Path("/nonexistent")  # no /proc: fall back to the lifetime peak below
    for done, (xb, yb) in enumerate(loader):
        if done >= steps:
            break
        step(xb, yb)
    if status.exists():
        hwm = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
        print(int(hwm.split()[1]) / 1024)
    else:
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _batch_step(library: str) -> Callable[[np.ndarray, np.ndarray], None]:
    """A training step on fresh batches for the MLP (the memory run feeds new data each step)."""
    if library == "ours":
        model = ours("mlp")
        opt = optim.Adam(model.parameters(), lr=1e-4)

        def step(x: np.ndarray, y: np.ndarray) -> None:
            loss = F.cross_entropy(model(tg.Tensor(x)), tg.Tensor(y))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step
    import torch

    tmodel = theirs("mlp")
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-4)

    def tstep(x: np.ndarray, y: np.ndarray) -> None:
        loss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
        topt.zero_grad()
        loss.backward()
        topt.step()
    return tstep


def peak_rss_row(quick: bool) -> dict[str, Any]:
    """Peak RSS (MB) of training the MLP for one epoch (100 steps when quick), ours and torch's; without MNIST a
    row that says it was skipped and why."""
    steps = 100 if quick else 469
    label = f"MLP peak RSS in training, {steps} steps (MB)"
    try:
        locate(mnist.FILES)
    except DataNotFoundError:
        searched = ", ".join(str(path) for path, _ in data_dirs())
        return {"model": f"{label}: skipped, MNIST not found in {searched} (set $TINYGRAD_ADAM_DATA to a "
                         f"directory holding mnist/)"}
    time.sleep(0.2)
    ours_mb, torch_mb = peak_rss_mb("ours", steps), peak_rss_mb("torch", steps)
    return {"model": label, "ms ours": ours_mb, "ms torch": torch_mb, "ours/torch": ours_mb / torch_mb}


def run(quick: bool = False, device: str = "cpu", tiny: bool = False) -> list[dict[str, Any]]:
    """One row per model on ``device`` (``tiny``: batch 4, one sample each), then on the CPU with torch the
    MLP's peak RSS."""
    have_torch = torch_on(device) is not None
    rng = np.random.default_rng(0)
    rows = []
    for name in MODELS:
        if (quick or tiny) and name.startswith("cnn-64-64-128"):
            continue
        x, y = batch_for(name, rng, 4 if tiny else BATCH)
        ours_step, work = our_step(name, x, y, device)
        floor = bench_common.floor_ms(*work, device, tiny)
        blocks = {"ours": ours_step}
        if have_torch:
            blocks["torch"] = torch_step(name, x, y, device)
        heavy = name.startswith("cnn")
        ms = compare(blocks, **timing(tiny, 2 if heavy else 5, 2 if quick else 5), device=device)
        row: dict[str, Any] = {"model": name, "ms ours": ms["ours"], "floor ms": floor,
                               "ours/floor": ms["ours"] / floor, "floor from": bench_common.describe_floor(*work)}
        if have_torch:
            row.update({"ms torch": ms["torch"], "ours/torch": ms["ours"] / ms["torch"]})
        rows.append(row)
    if device != "cpu":
        print("peak memory: not measured on the GPU (cupy's memory pool keeps no peak to set against "
              "torch.cuda.max_memory_allocated)")
    elif have_torch and not tiny:
        rows.append(peak_rss_row(quick))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", default=None, help="also write the rows here")
    p.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=469, help=argparse.SUPPRESS)
    args = parse_args(p)
    if args.rss_child:
        rss_child(args.rss_child, args.steps)
        return
    print(environment(args.device))
    rows = run(args.quick, device=args.device)
    print_table(rows, COLUMNS)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
