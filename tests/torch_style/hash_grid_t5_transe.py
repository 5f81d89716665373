"""Integer-heavy code as public PyTorch ports write it: an Instant-NGP multiresolution hash encoding (int64
coordinates times a large prime, wrapping past 2**63, XOR, ``remainder``, embedding rows mixed by bilinear weights)
fitted with Adam (per-group ``eps``); T5's relative-position buckets (``log`` of a ratio cast to long, ``min`` with
``full_like``, ``where``, bidirectional and causal); and TransE (``Embedding(max_norm=1)`` renormalising rows in
the forward, an L1 distance, ``MarginRankingLoss``, corrupted triples by boolean-mask assignment) with SGD.
``run(weights)`` returns what the test compares; ``weights`` (torch's initial ones) makes ours start where torch's
run started."""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class HashGrid(nn.Module):
    """Instant-NGP style multiresolution hash encoding (2-D)."""
    def __init__(self, levels=4, log2_T=10, feat=2, base=4, growth=1.5):
        super().__init__()
        self.levels, self.T, self.feat = levels, 2 ** log2_T, feat
        self.res = [int(math.floor(base * growth ** i)) for i in range(levels)]  # noqa: RUF046 - the port's spelling
        self.embeddings = nn.ModuleList([nn.Embedding(self.T, feat) for _ in range(levels)])
        for e in self.embeddings:
            nn.init.uniform_(e.weight, a=-1e-4, b=1e-4)
        self.register_buffer("primes", torch.tensor([1, 2654435761], dtype=torch.int64))

    def hash(self, coords):
        x = coords * self.primes
        h = x[..., 0] ^ x[..., 1]
        return torch.remainder(h, self.T)

    def forward(self, x):
        outs = []
        for lvl in range(self.levels):
            xs = x * self.res[lvl]
            x0 = torch.floor(xs).long()
            w = xs - x0.float()
            corners = []
            for dx in (0, 1):
                for dy in (0, 1):
                    c = x0 + torch.tensor([dx, dy])
                    idx = self.hash(c)
                    wt = (w[:, 0] if dx else 1 - w[:, 0]) * (w[:, 1] if dy else 1 - w[:, 1])
                    corners.append(self.embeddings[lvl](idx) * wt.unsqueeze(-1))
            outs.append(torch.stack(corners, 0).sum(0))
        return torch.cat(outs, -1)


def relative_position_bucket(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    relative_buckets = 0
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    relative_position_if_large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    relative_position_if_large = torch.min(
        relative_position_if_large, torch.full_like(relative_position_if_large, num_buckets - 1)
    )
    relative_buckets += torch.where(is_small, relative_position, relative_position_if_large)
    return relative_buckets


class T5Bias(nn.Module):
    def __init__(self, heads=2, buckets=32, bidirectional=True):
        super().__init__()
        self.bidirectional = bidirectional
        self.buckets = buckets
        self.rel = nn.Embedding(buckets, heads)

    def forward(self, q, k):
        ctx = torch.arange(q, dtype=torch.long)[:, None]
        mem = torch.arange(k, dtype=torch.long)[None, :]
        rp = mem - ctx
        b = relative_position_bucket(rp, self.bidirectional, self.buckets, max_distance=20)
        v = self.rel(b)
        return v.permute([2, 0, 1]).unsqueeze(0), b


class TransE(nn.Module):
    def __init__(self, ne, nr, dim=8, margin=1.0, norm=1):
        super().__init__()
        self.ent = nn.Embedding(ne, dim, max_norm=1.0)
        self.rel = nn.Embedding(nr, dim)
        bound = 6 / math.sqrt(dim)
        nn.init.uniform_(self.ent.weight, -bound, bound)
        nn.init.uniform_(self.rel.weight, -bound, bound)
        self.rel.weight.data[:-1, :].div_(self.rel.weight.data[:-1, :].norm(p=1, dim=1, keepdim=True))
        self.norm = norm
        self.crit = nn.MarginRankingLoss(margin=margin, reduction="none")

    def distance(self, t):
        return (self.ent(t[:, 0]) + self.rel(t[:, 1]) - self.ent(t[:, 2])).norm(p=self.norm, dim=1)

    def forward(self, pos, neg):
        pd, nd = self.distance(pos), self.distance(neg)
        target = torch.tensor([-1], dtype=torch.long)
        return self.crit(pd, nd, target), pd, nd


def run(weights=None, steps=4):
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    nets = {"grid": HashGrid(), "t5": T5Bias(), "t5u": T5Bias(bidirectional=False), "transe": TransE(12, 3)}
    if weights is not None:
        for k, n in nets.items():
            n.load_state_dict(weights[k])
    log = {"weights": {k: {a: b.detach().numpy().copy() for a, b in n.state_dict().items()} for k, n in nets.items()}}
    grid = nets["grid"]
    mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    if weights is not None:
        mlp.load_state_dict(weights["mlp"])
    log["weights"]["mlp"] = {a: b.detach().numpy().copy() for a, b in mlp.state_dict().items()}
    opt = torch.optim.Adam([{"params": grid.parameters(), "eps": 1e-15}, {"params": mlp.parameters(),
                                                                         "weight_decay": 1e-6}], lr=1e-2,
                           betas=(0.9, 0.99))
    ls = []
    for _ in range(steps):
        x = torch.tensor(rng.random((64, 2), dtype=np.float32))
        y = torch.sin(6 * x[:, :1]) * torch.cos(4 * x[:, 1:])
        loss = F.mse_loss(mlp(grid(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ls.append(loss.item())
    log["grid_loss"] = ls
    big = torch.tensor([[123456, 987654], [2**31, 2**33 + 7]], dtype=torch.int64)
    log["hash"] = grid.hash(big).numpy().copy()
    log["hash_neg"] = grid.hash(-big).numpy().copy()
    bias, b = nets["t5"](7, 9)
    log["t5_bucket"] = b.numpy().copy()
    log["t5_bias"] = bias.detach().numpy().copy()
    bias, b = nets["t5u"](30, 30)
    log["t5u_bucket"] = b.numpy().copy()
    te = nets["transe"]
    opt = torch.optim.SGD(te.parameters(), lr=0.1)
    ls = []
    for _ in range(steps):
        pos = torch.tensor(rng.integers(0, [12, 3, 12], (6, 3)))
        neg = pos.clone()
        corrupt = torch.tensor(rng.integers(0, 12, 6))
        head = torch.tensor(rng.random(6) < 0.5)
        neg[head, 0] = corrupt[head]
        neg[~head, 2] = corrupt[~head]
        loss, pd, nd = te(pos, neg)
        loss.mean().backward()
        opt.step()
        opt.zero_grad()
        ls.append((loss.mean().item(), pd.mean().item(), nd.mean().item()))
    log["transe"] = ls
    log["ent_norm"] = te.ent.weight.detach().norm(dim=1).numpy().copy()
    log["ent"] = te.ent.weight.detach().numpy().copy()
    return log
