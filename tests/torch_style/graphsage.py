"""GraphSAGE (Hamilton et al. 2017) as PyG-free tutorials write it on a stochastic-block-model graph: a numpy
neighbour sampler whose nodes are relabelled by ``torch.unique(return_inverse=True)``, SAGEConv with the mean
aggregator by ``index_reduce_(..., "mean", include_self=False)``, the max-pool aggregator (ReLU MLP then
``scatter_reduce(..., "amax", include_self=False)``, so ties at zero reach the backward), the degree-normalised sum
by ``index_add_`` / ``bincount``, a GIN layer on a ``sparse_coo_tensor(...).coalesce()`` adjacency through
``torch.sparse.mm`` with a learnable eps, Jumping Knowledge (``stack(...).max(0)`` and ``cat``), ``F.normalize``d
embeddings; supervised mini-batch training with cross-entropy under Adam + PolynomialLR, layer-wise full-graph
inference with accuracy and macro-F1 by ``one_hot`` sums, and the unsupervised random-walk / negative-sampling loss by
``F.logsigmoid`` under SGD with Nesterov; plus probes of ``scatter_reduce`` / ``index_reduce`` reductions
(sum / mean / amax / amin / prod, include_self both ways) and their gradients.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

N_NODES, N_CLASSES, N_FEAT = 60, 3, 8


def sbm_graph(rng):
    labels = np.repeat(np.arange(N_CLASSES), N_NODES // N_CLASSES)
    p = np.where(labels[:, None] == labels[None, :], 0.15, 0.02)
    upper = np.triu(rng.uniform(size=(N_NODES, N_NODES)) < p, 1)
    src, dst = np.nonzero(upper | upper.T)
    centers = rng.standard_normal((N_CLASSES, N_FEAT))
    x = centers[labels] * 0.6 + rng.standard_normal((N_NODES, N_FEAT))
    return (torch.from_numpy(x.astype(np.float32)), torch.from_numpy(np.stack([src, dst]).astype(np.int64)),
            torch.from_numpy(labels.astype(np.int64)))


def neighbours(edge_index):
    src, dst = edge_index.numpy()
    adj = [[] for _ in range(N_NODES)]
    for s, d in zip(src, dst):
        adj[d].append(s)
    return adj


def sample_blocks(rng, adj, seeds, fanouts):
    """PyG-NeighborLoader-like blocks, outermost first: (n_id, local edge_index, number of dst nodes)."""
    blocks, nodes = [], torch.as_tensor(seeds)
    for k in fanouts:
        src, dst = [], []
        for d in nodes.tolist():
            nb = adj[d]
            pick = rng.choice(nb, size=min(k, len(nb)), replace=False) if nb else []
            src.extend(int(s) for s in pick)
            dst.extend([d] * len(pick))
        src_t = torch.tensor(src, dtype=torch.int64)
        dst_t = torch.tensor(dst, dtype=torch.int64)
        # dst nodes first (as PyG keeps them), then the new sources in sorted order
        extra = torch.unique(src_t)
        extra = extra[~torch.isin(extra, nodes)]
        n_id = torch.cat([nodes, extra])
        uniq, inverse = torch.unique(n_id, return_inverse=True)
        pos = torch.empty_like(inverse)
        pos[inverse] = torch.arange(n_id.numel())  # global sorted -> local index
        local = torch.stack([pos[torch.searchsorted(uniq, src_t)], pos[torch.searchsorted(uniq, dst_t)]])
        blocks.append((n_id, local, nodes.numel()))
        nodes = n_id
    return blocks[::-1]


class SAGEConv(nn.Module):
    def __init__(self, in_ch, out_ch, aggr="mean", normalize=False):
        super().__init__()
        self.aggr, self.normalize = aggr, normalize
        if aggr == "pool":
            self.pool = nn.Linear(in_ch, in_ch)
        self.lin_l = nn.Linear(in_ch, out_ch)
        self.lin_r = nn.Linear(in_ch, out_ch, bias=False)

    def forward(self, x, edge_index, n_dst):
        src, dst = edge_index
        x_dst = x[:n_dst]
        msg = x.index_select(0, src)
        if self.aggr == "mean":
            out = torch.zeros(n_dst, x.size(1)).index_reduce_(0, dst, msg, "mean", include_self=False)
        elif self.aggr == "pool":
            msg = F.relu(self.pool(msg))
            idx = dst.unsqueeze(-1).expand(-1, msg.size(1))
            out = torch.zeros(n_dst, msg.size(1)).scatter_reduce(0, idx, msg, reduce="amax", include_self=False)
        else:  # degree-normalised sum
            deg = torch.bincount(dst, minlength=n_dst).clamp(min=1).unsqueeze(-1)
            out = torch.zeros(n_dst, x.size(1)).index_add_(0, dst, msg) / deg
        out = self.lin_l(out) + self.lin_r(x_dst)
        if self.normalize:
            out = F.normalize(out, p=2.0, dim=-1)
        return out


class GraphSAGE(nn.Module):
    def __init__(self, hidden=16, aggrs=("mean", "pool"), jk="max"):
        super().__init__()
        dims = [N_FEAT] + [hidden] * len(aggrs)
        self.convs = nn.ModuleList(SAGEConv(a, b, g) for a, b, g in zip(dims[:-1], dims[1:], aggrs))
        self.jk = jk
        self.head = nn.Linear(hidden * (len(aggrs) if jk == "cat" else 1), N_CLASSES)

    def forward(self, x, blocks):
        xs = []
        for conv, (_n_id, ei, n_dst) in zip(self.convs, blocks):
            x = F.relu(conv(x, ei, n_dst))
            xs.append(x)
        n = xs[-1].size(0)
        xs = [h[:n] for h in xs]
        h = torch.stack(xs, 0).max(0).values if self.jk == "max" else torch.cat(xs, dim=-1)
        return self.head(h)

    @torch.no_grad()
    def inference(self, x_all, edge_index):
        """Layer-wise over the whole graph (every neighbour)."""
        xs, x = [], x_all
        for conv in self.convs:
            x = F.relu(conv(x, edge_index, x.size(0)))
            xs.append(x)
        h = torch.stack(xs, 0).max(0).values if self.jk == "max" else torch.cat(xs, dim=-1)
        return self.head(h)


class GIN(nn.Module):
    def __init__(self, hidden=16):
        super().__init__()
        self.eps = nn.Parameter(torch.zeros(2))
        self.mlp1 = nn.Sequential(nn.Linear(N_FEAT, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden))
        self.mlp2 = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))

    def forward(self, x, adj):
        x = F.relu(self.mlp1(torch.sparse.mm(adj, x) + (1 + self.eps[0]) * x))
        x = self.mlp2(torch.sparse.mm(adj, x) + (1 + self.eps[1]) * x)
        return F.normalize(x, dim=-1)


def macro_f1(pred, y, k):
    p, t = F.one_hot(pred, k), F.one_hot(y, k)
    tp = (p * t).sum(0).float()
    prec = tp / p.sum(0).clamp(min=1)
    rec = tp / t.sum(0).clamp(min=1)
    return (2 * prec * rec / (prec + rec).clamp(min=1e-12)).mean().item()


def reduction_probes(rng):
    """scatter_reduce / index_reduce on fixed data with ties, their values and gradients."""
    out = {}
    src_np = rng.integers(-2, 3, (7, 3)).astype(np.float32)  # small integers: many ties
    idx = torch.tensor([0, 2, 0, 1, 2, 2, 0])
    for reduce in ("sum", "mean", "amax", "amin", "prod"):
        for include_self in (True, False):
            src = torch.tensor(src_np, requires_grad=True)
            base = torch.tensor(np.ones((4, 3), np.float32) * 0.5, requires_grad=True)
            r = base.scatter_reduce(0, idx.unsqueeze(-1).expand(-1, 3), src, reduce, include_self=include_self)
            (r * torch.arange(12.0).view(4, 3)).sum().backward()
            out[f"scatter_{reduce}_{include_self}"] = (r.detach().numpy(), src.grad.numpy(), base.grad.numpy())
            if reduce != "sum":
                src = torch.tensor(src_np, requires_grad=True)
                base = torch.tensor(np.ones((4, 3), np.float32) * 0.5, requires_grad=True)
                r = base.index_reduce(0, idx, src, reduce, include_self=include_self)
                (r * torch.arange(12.0).view(4, 3)).sum().backward()
                out[f"index_{reduce}_{include_self}"] = (r.detach().numpy(), src.grad.numpy(), base.grad.numpy())
    return out


def run(weights=None):
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    sage, gin = GraphSAGE(), GIN()
    initial = {f"sage.{k}": v.detach().numpy().copy() for k, v in sage.state_dict().items()}
    initial.update({f"gin.{k}": v.detach().numpy().copy() for k, v in gin.state_dict().items()})
    if weights is not None:
        sage.load_state_dict({k[5:]: torch.from_numpy(v) for k, v in weights.items() if k.startswith("sage.")})
        gin.load_state_dict({k[4:]: torch.from_numpy(v) for k, v in weights.items() if k.startswith("gin.")})
    x, edge_index, y = sbm_graph(rng)
    adj_list = neighbours(edge_index)
    perm = rng.permutation(N_NODES)
    train_idx, test_idx = torch.from_numpy(np.sort(perm[:36])), torch.from_numpy(np.sort(perm[36:]))
    log = {"probes": reduction_probes(rng), "loss": [], "lr": [], "acc": [], "f1": [], "blocks": []}

    # supervised mini-batch GraphSAGE
    opt = torch.optim.Adam(sage.parameters(), lr=0.02, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=8, power=2.0)
    for epoch in range(3):
        sage.train()
        order = train_idx[torch.from_numpy(rng.permutation(len(train_idx)))]
        for s in range(0, len(order), 12):
            seeds = order[s:s + 12]
            blocks = sample_blocks(rng, adj_list, seeds, [4, 3])
            if epoch == 0 and s == 0:
                log["blocks"] = [(b[0].tolist(), b[1].tolist(), b[2]) for b in blocks]
            out = sage(x[blocks[0][0]], blocks)
            loss = F.cross_entropy(out, y[seeds])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            log["loss"].append(loss.item())
            log["lr"].append(sched.get_last_lr()[0])
        sage.eval()
        logits = sage.inference(x, edge_index)
        pred = logits[test_idx].argmax(-1)
        log["acc"].append((pred == y[test_idx]).float().mean().item())
        log["f1"].append(macro_f1(pred, y[test_idx], N_CLASSES))
    log["logits"] = logits.numpy()

    # unsupervised GIN embeddings: random-walk positives, uniform negatives
    adj = torch.sparse_coo_tensor(edge_index, torch.ones(edge_index.size(1)), (N_NODES, N_NODES)).coalesce()
    log["adj_nnz"] = adj._nnz()
    opt2 = torch.optim.SGD(gin.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    log["unsup"], log["eps"] = [], []
    gin.train()
    for _step in range(6):
        u = rng.integers(0, N_NODES, 24)
        v = np.array([rng.choice(adj_list[rng.choice(adj_list[a])]) if adj_list[a] else a for a in u])
        neg = rng.integers(0, N_NODES, (24, 3))
        z = gin(x, adj)
        zu, zv, zn = z[torch.from_numpy(u)], z[torch.from_numpy(v)], z[torch.from_numpy(neg)]
        pos_loss = -F.logsigmoid((zu * zv).sum(-1) * 5.0)
        neg_loss = -F.logsigmoid(-torch.einsum("bd,bkd->bk", zu, zn) * 5.0).sum(-1)
        loss = (pos_loss + neg_loss).mean()
        opt2.zero_grad()
        loss.backward()
        opt2.step()
        log["unsup"].append(loss.item())
        log["eps"].append(gin.eps.detach().numpy().copy())
    log["params"] = {f"sage.{k}": v.detach().numpy().copy() for k, v in sage.state_dict().items()}
    log["params"].update({f"gin.{k}": v.detach().numpy().copy() for k, v in gin.state_dict().items()})
    log["weights"] = initial
    return log
