"""A makemore-style character MLP (Bengio et al. 2003, as in Karpathy's makemore part 2), written as ordinary
PyTorch code with manual SGD through ``p.data`` and ``no_grad``; run with ``torch`` and with tinygrad_adam.

The words are the distinct lowercase words of Tiny Shakespeare. The two runs start from the same weights (made
by numpy, since the two libraries' random streams differ) and take the same minibatches, so their losses must
agree step by step; sampling then uses each library's own ``Generator``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import realdata

import tinygrad_adam

real_torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

pytestmark = pytest.mark.data("tinyshakespeare")


def words() -> list[str]:
    text = (realdata.find("tinyshakespeare") / "tinyshakespeare" / "input.txt").read_text()
    return sorted(set(re.findall(r"[a-z]{3,}", text.lower())))[:3000]


def program(torch: Any, init: dict[str, np.ndarray], batches: np.ndarray, steps: int) -> tuple[list[float], list[str]]:
    """The training script; ``torch`` is the library."""
    F = torch.nn.functional  # the usual `import torch.nn.functional as F`
    chars = sorted(set("".join(words())))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    itos = {i: s for s, i in stoi.items()}
    block_size = 3

    X, Y = [], []
    for w in words():
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    X = torch.tensor(X)
    Y = torch.tensor(Y)
    assert X.dtype == torch.int64 and X.shape == (len(Y), block_size)

    C = torch.tensor(init["C"])
    W1 = torch.tensor(init["W1"])
    b1 = torch.tensor(init["b1"])
    W2 = torch.tensor(init["W2"])
    b2 = torch.tensor(init["b2"])
    parameters = [C, W1, b1, W2, b2]
    for p in parameters:
        p.requires_grad = True
    assert sum(p.nelement() for p in parameters) == 27 * 10 + 30 * 64 + 64 + 64 * 27 + 27

    losses = []
    for i in range(steps):
        ix = torch.tensor(batches[i])
        emb = C[X[ix]]  # (32, 3, 10)
        h = torch.tanh(emb.view(-1, 30) @ W1 + b1)
        logits = h @ W2 + b2
        loss = F.cross_entropy(logits, Y[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < steps // 2 else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        losses.append(loss.item())

    g = torch.Generator().manual_seed(2147483647)
    samples = []
    with torch.no_grad():
        for _ in range(5):
            out = []
            context = [0] * block_size
            while True:
                emb = C[torch.tensor([context])]
                h = torch.tanh(emb.view(1, -1) @ W1 + b1)
                probs = torch.softmax(h @ W2 + b2, dim=1)
                ix = torch.multinomial(probs, num_samples=1, replacement=True, generator=g).item()
                context = context[1:] + [ix]
                if ix == 0 or len(out) > 30:
                    break
                out.append(itos[ix])
            samples.append("".join(out))
    return losses, samples


def test_makemore_mlp_runs_unchanged_and_matches_torch() -> None:
    rng = np.random.default_rng(0)
    init = {"C": rng.standard_normal((27, 10)), "W1": rng.standard_normal((30, 64)) * 0.2,
            "b1": rng.standard_normal(64) * 0.01, "W2": rng.standard_normal((64, 27)) * 0.01, "b2": np.zeros(27)}
    init = {k: v.astype(np.float32) for k, v in init.items()}
    n = sum(len(w) + 1 for w in words())
    steps = 300
    batches = rng.integers(0, n, (steps, 32))
    ours, samples = program(tinygrad_adam, init, batches, steps)
    theirs, _ = program(real_torch, init, batches, steps)
    np.testing.assert_allclose(ours, theirs, rtol=2e-4)
    assert theirs[-1] < theirs[0] - 0.5  # it learned
    assert len(samples) == 5 and all(set(s) <= set("abcdefghijklmnopqrstuvwxyz") for s in samples)
