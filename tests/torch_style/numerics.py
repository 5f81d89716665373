"""Numeric PyTorch programs that are not training loops of a network, written as ordinary torch code: batched
k-means (cdist, argmin, index_add_ / scatter_add_ / bincount, empty clusters kept with where), Gaussian-process
regression (a broadcast RBF kernel, cholesky, cholesky_solve, solve_triangular, the log marginal likelihood fitted
with LBFGS and with Adam), a ranking loss built from gather, topk, sort, cumsum, masked_select, where, logsumexp,
einsum and in-place updates of a clone, and a conditional VAE with torch.distributions (reparameterised by hand with
noise handed in), one_hot, unique, nonzero / argwhere, searchsorted and histc. The harness runs it on torch and,
with the imports swapped, on ours."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Independent, Normal, kl_divergence


# ---------------------------------------------------------------- k-means
def kmeans(points, init, iters=5):
    """Lloyd's algorithm on (N, D) points from (K, D) initial centroids; a cluster that loses all its points keeps
    its centroid. Returns the history, then that of a few gradient steps on the soft k-means loss."""
    x = torch.from_numpy(points)
    centroids = torch.from_numpy(init).clone()
    k, dim = centroids.shape
    out = {"inertia": [], "counts": [], "centroids": [], "moved": []}
    for _ in range(iters):
        dist = torch.cdist(x, centroids)  # (N, K)
        assign = dist.argmin(dim=1)
        counts = torch.bincount(assign, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        sums_too = torch.zeros(k, dim).scatter_add_(0, assign.unsqueeze(1).expand(-1, dim), x)
        assert torch.allclose(sums, sums_too, atol=1e-5)
        means = sums / counts.clamp(min=1).unsqueeze(1).to(x.dtype)
        new = torch.where((counts > 0).unsqueeze(1), means, centroids)
        out["moved"].append((new - centroids).norm(dim=1).max().item())
        centroids = new
        sq = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)  # broadcasting, as a check on cdist
        out["inertia"].append(sq.gather(1, assign[:, None]).sum().item())
        out["counts"].append(counts.tolist())
        out["centroids"].append(centroids.numpy().copy())
    out["soft"], out["soft_grad"] = [], []
    c = centroids.clone().requires_grad_(True)  # refined on the soft (temperature 2) k-means loss
    opt = torch.optim.SGD([c], lr=2.0)
    for _ in range(3):
        soft = -2.0 * torch.logsumexp(-torch.cdist(x, c) ** 2 / 2.0, dim=1).mean()
        opt.zero_grad()
        soft.backward()
        opt.step()
        out["soft"].append(soft.item())
        out["soft_grad"].append(c.grad.numpy().copy())
    return out


# ---------------------------------------------------------------- Gaussian process
def rbf(a, b, log_ls, log_sf):
    d2 = ((a[:, None, :] - b[None, :, :]) / log_ls.exp()).pow(2).sum(-1)
    return torch.exp(2 * log_sf) * torch.exp(-0.5 * d2)


def gp_nll(x, y, log_ls, log_sf, log_noise):
    """Negative log marginal likelihood of targets y (N,) at inputs x (N, D)."""
    n = x.shape[0]
    K = rbf(x, x, log_ls, log_sf) + (log_noise.exp() + 1e-6) * torch.eye(n, dtype=x.dtype)
    L = torch.linalg.cholesky(K)
    alpha = torch.cholesky_solve(y.unsqueeze(-1), L).squeeze(-1)
    return 0.5 * y.dot(alpha) + L.diagonal().log().sum() + 0.5 * n * math.log(2 * math.pi)


def gp_predict(x, y, xs, log_ls, log_sf, log_noise):
    """Posterior mean and variance (M,) at xs (M, D)."""
    K = rbf(x, x, log_ls, log_sf) + (log_noise.exp() + 1e-6) * torch.eye(x.shape[0], dtype=x.dtype)
    L = torch.linalg.cholesky(K)
    Ks = rbf(x, xs, log_ls, log_sf)  # (N, M)
    w = torch.linalg.solve_triangular(L, y.unsqueeze(-1), upper=False)
    v = torch.linalg.solve_triangular(L, Ks, upper=False)
    mean = (v * w).sum(0)
    var = torch.exp(2 * log_sf) - v.pow(2).sum(0)
    return mean, var


def gp_fit(x, y, xs, optimizer="lbfgs", steps=4):
    x, y, xs = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xs)
    log_ls = torch.zeros(x.shape[1], dtype=x.dtype, requires_grad=True)
    log_sf = torch.tensor(0.0, dtype=x.dtype, requires_grad=True)
    log_noise = torch.tensor(-1.0, dtype=x.dtype, requires_grad=True)
    params = [log_ls, log_sf, log_noise]
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS(params, lr=1, max_iter=5, history_size=10, line_search_fn="strong_wolfe")
    else:
        opt = torch.optim.Adam(params, lr=0.1)
    out = {"loss": [], "grad": [], "params": []}

    def closure():
        opt.zero_grad()
        loss = gp_nll(x, y, *params)
        loss.backward()
        return loss

    for _ in range(steps):
        loss = opt.step(closure) if optimizer == "lbfgs" else closure()
        if optimizer != "lbfgs":
            opt.step()
        out["loss"].append(loss.item())
        out["grad"].append(torch.cat([p.grad.reshape(-1) for p in params]).numpy().copy())
        out["params"].append(torch.cat([p.detach().reshape(-1) for p in params]).numpy().copy())
    mean, var = gp_predict(x, y, xs, *params)
    out["final"] = gp_nll(x, y, *params).item()
    out["mean"], out["var"] = mean.detach().numpy(), var.detach().numpy()
    return out


# ---------------------------------------------------------------- a hand-written ranking loss
def ranking_loss(scores, target, k=3, margin=0.5, top_p=0.8):
    """scores (B, C), target (B,): cross-entropy with a margin on the true class, a hinge against every wrong
    class, a top-k miss penalty and a nucleus (top-p) log-mass term."""
    s = scores.clone()
    s[:, 0] += 0.25  # a prior bonus for class 0 (through a view of the clone)
    s[:, 1:].mul_(0.9)
    s[torch.arange(s.shape[0]), target] -= margin
    pos = s.gather(1, target.unsqueeze(1)).squeeze(1)
    ce = (torch.logsumexp(s, dim=1) - pos).mean()
    wrong = s.masked_select(F.one_hot(target, s.shape[1]) == 0).view(s.shape[0], -1)
    hinge = F.relu(margin + wrong - pos.unsqueeze(1)).mean()
    topv, topi = s.topk(k, dim=1)
    hit = (topi == target.unsqueeze(1)).any(dim=1)
    miss = torch.where(hit, torch.zeros_like(pos), topv[:, -1] - pos).mean()
    ordered, _ = torch.sort(s, dim=1, descending=True)
    probs = ordered.softmax(dim=1)
    keep = (probs.cumsum(dim=1) - probs) < top_p
    nucleus = torch.logsumexp(ordered.masked_fill(~keep, float("-inf")), dim=1)
    return ce + hinge + miss + 0.1 * (torch.logsumexp(ordered, dim=1) - nucleus).mean(), hit.float().mean()


def ranking_fit(feats, targets, w0, steps=5):
    x, y = torch.from_numpy(feats), torch.from_numpy(targets)
    w = torch.from_numpy(w0).clone().requires_grad_(True)  # (C, D)
    bias = torch.zeros(w.shape[0], requires_grad=True)
    opt = torch.optim.SGD([w, bias], lr=0.5, momentum=0.9, nesterov=True)
    out = {"loss": [], "hit": [], "grad_norm": [], "grad_w": []}
    for _ in range(steps):
        scores = torch.einsum("bd,cd->bc", x, w) + bias
        loss, hit = ranking_loss(scores, y)
        opt.zero_grad()
        loss.backward()
        out["loss"].append(loss.item())
        out["hit"].append(hit.item())
        out["grad_norm"].append(torch.cat([w.grad.flatten(), bias.grad]).norm().item())
        out["grad_w"].append(w.grad.numpy().copy())
        opt.step()
    return out


# ---------------------------------------------------------------- a conditional VAE
class CVAE(nn.Module):
    def __init__(self, d_in=6, classes=3, d_z=2, hidden=16):
        super().__init__()
        self.classes = classes
        self.enc = nn.Sequential(nn.Linear(d_in + classes, hidden), nn.Tanh())
        self.mu = nn.Linear(hidden, d_z)
        self.logvar = nn.Linear(hidden, d_z)
        self.dec = nn.Sequential(nn.Linear(d_z + classes, hidden), nn.Tanh(), nn.Linear(hidden, d_in))

    def forward(self, x, y, eps):
        onehot = F.one_hot(y, self.classes).float()
        h = self.enc(torch.cat([x, onehot], dim=1))
        q = Independent(Normal(self.mu(h), torch.exp(0.5 * self.logvar(h))), 1)
        z = q.base_dist.loc + q.base_dist.scale * eps  # rsample with our own noise
        recon = self.dec(torch.cat([z, onehot], dim=1))
        prior = Independent(Normal(torch.zeros_like(z), torch.ones_like(z)), 1)
        log_lik = Independent(Normal(recon, 0.5), 1).log_prob(x)
        kl = kl_divergence(q, prior)
        kl_mc = q.log_prob(z) - prior.log_prob(z)
        return log_lik, kl, kl_mc, z


def vae_fit(model, batches):
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    edges = torch.linspace(0.0, 3.0, 7)
    out = {"loss": [], "kl": [], "kl_mc": [], "norm": [], "buckets": [], "hist": [], "weights": [], "picked": []}
    for x, y, eps in batches:
        x, y, eps = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(eps)
        classes, inverse, counts = torch.unique(y, return_inverse=True, return_counts=True)
        weight = (y.numel() / (len(classes) * counts.float()))[inverse]  # rebalance rare classes
        log_lik, kl, kl_mc, z = model(x, y, eps)
        loss = (weight * (kl - log_lik)).sum() / weight.sum()
        opt.zero_grad()
        loss.backward()
        out["norm"].append(torch.cat([p.grad.flatten() for p in model.parameters()]).norm().item())
        opt.step()
        radius = z.detach().norm(dim=1)
        bucket = torch.searchsorted(edges, radius)
        out["buckets"].append(bucket.tolist())
        out["hist"].append(torch.histc(z.detach()[:, 0], bins=5, min=-2.0, max=2.0).tolist())
        far = torch.nonzero(bucket >= 2).squeeze(1)
        first = torch.argwhere(y == classes[0])[:, 0]
        out["picked"].append(np.concatenate([far.numpy(), first.numpy()]).tolist())
        out["weights"].append(weight.tolist())
        out["loss"].append(loss.item())
        out["kl"].append(kl.mean().item())
        out["kl_mc"].append(kl_mc.mean().item())
    return out
