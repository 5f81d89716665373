"""facebookresearch/poincare-embeddings as its hype/ package writes it: the Euclidean and Poincaré manifolds (distance,
``renorm_`` projection, Riemannian gradient, retraction), the Poincaré distance as an autograd Function with its
hand-written backward, RiemannianSGD, the Embedding model with its negative-sampling cross entropy, a training loop
with burn-in over the transitive closure of a small tree, and the reconstruction evaluation (mean rank and MAP).

The tree, the negative samples and the initial weights come from numpy; ``run`` returns everything it logged."""

import io

import numpy as np
import torch
from torch import nn
from torch.autograd import Function
from torch.optim.optimizer import Optimizer, required

th = torch  # hype's alias

_lr_multiplier = 0.01


class EuclideanManifold(object):  # noqa: UP004 - hype's spelling
    __slots__ = ["max_norm"]

    def __init__(self, max_norm=1, **kwargs):
        self.max_norm = max_norm

    def normalize(self, u):
        d = u.size(-1)
        u.view(-1, d).renorm_(2, 0, self.max_norm)
        return u

    def distance(self, u, v):
        return (u - v).pow(2).sum(dim=-1)

    def rgrad(self, p, d_p):
        return d_p

    def expm(self, p, d_p, normalize=False, lr=None, out=None):
        if lr is not None:
            d_p.mul_(-lr)
        if out is None:
            out = p
        out.add_(d_p)
        if normalize:
            self.normalize(out)
        return out

    def init_weights(self, w, scale=1e-4):
        w.data.uniform_(-scale, scale)


class PoincareManifold(EuclideanManifold):
    __slots__ = ["eps"]

    def __init__(self, eps=1e-5, **kwargs):
        self.eps = eps
        super(PoincareManifold, self).__init__(max_norm=1 - eps)  # noqa: UP008 - hype's spelling

    def distance(self, u, v):
        return Distance.apply(u, v, self.eps)

    def rgrad(self, p, d_p):
        p_sqnorm = th.sum(p ** 2, dim=-1, keepdim=True)
        d_p = d_p * ((1 - p_sqnorm) ** 2 / 4).expand_as(d_p)
        return d_p


class Distance(Function):
    @staticmethod
    def grad(x, v, sqnormx, sqnormv, sqdist, eps):
        alpha = (1 - sqnormx)
        beta = (1 - sqnormv)
        z = 1 + 2 * sqdist / (alpha * beta)
        a = ((sqnormv - 2 * th.sum(x * v, dim=-1) + 1) / th.pow(alpha, 2))\
            .unsqueeze(-1).expand_as(x)
        a = a * x - v / alpha.unsqueeze(-1).expand_as(v)
        z = th.sqrt(th.pow(z, 2) - 1)
        z = th.clamp(z * beta, min=eps).unsqueeze(-1)
        return 4 * a / z.expand_as(x)

    @staticmethod
    def forward(ctx, u, v, eps):
        squnorm = th.clamp(th.sum(u * u, dim=-1), 0, 1 - eps)
        sqvnorm = th.clamp(th.sum(v * v, dim=-1), 0, 1 - eps)
        sqdist = th.sum(th.pow(u - v, 2), dim=-1)
        ctx.eps = eps
        ctx.save_for_backward(u, v, squnorm, sqvnorm, sqdist)
        x = sqdist / ((1 - squnorm) * (1 - sqvnorm)) * 2 + 1
        # arcosh
        z = th.sqrt(th.pow(x, 2) - 1)
        return th.log(x + z)

    @staticmethod
    def backward(ctx, g):
        u, v, squnorm, sqvnorm, sqdist = ctx.saved_tensors
        eps = ctx.eps
        g = g.unsqueeze(-1)
        gu = Distance.grad(u, v, squnorm, sqvnorm, sqdist, eps)
        gv = Distance.grad(v, u, sqvnorm, squnorm, sqdist, eps)
        return g.expand_as(gu) * gu, g.expand_as(gv) * gv, None


class RiemannianSGD(Optimizer):
    r"""Riemannian stochastic gradient descent: p <- expm(p, -lr * rgrad(p, grad))."""

    def __init__(self, params, lr=required, rgrad=required, expm=required):
        defaults = {
            'lr': lr,
            'rgrad': rgrad,
            'expm': expm,
        }
        super(RiemannianSGD, self).__init__(params, defaults)  # noqa: UP008

    def step(self, lr=None, counts=None, **kwargs):
        loss = None

        for group in self.param_groups:
            for p in group['params']:
                lr = lr or group['lr']
                rgrad = group['rgrad']
                expm = group['expm']

                if p.grad is None:
                    continue
                d_p = p.grad.data
                d_p = rgrad(p.data, d_p)
                d_p.mul_(-lr)
                expm(p.data, d_p, normalize=True)

        return loss


class Embedding(nn.Module):
    def __init__(self, size, dim, manifold, sparse=False):
        super(Embedding, self).__init__()  # noqa: UP008
        self.dim = dim
        self.nobjects = size
        self.manifold = manifold
        self.lt = nn.Embedding(size, dim, sparse=sparse)
        self.dist = manifold.distance
        self.lossfn = nn.functional.cross_entropy
        self.manifold.init_weights(self.lt.weight)

    def forward(self, inputs):
        e = self.lt(inputs)
        with th.no_grad():
            e = self.manifold.normalize(e)
        o = e.narrow(1, 1, e.size(1) - 1)
        s = e.narrow(1, 0, 1).expand_as(o)
        return self.energy(s, o).squeeze(-1)

    def energy(self, s, o):
        return self.dist(s, o)

    def loss(self, preds, targets, weight=None, size_average=True):
        return self.lossfn(-preds, targets)

    def embedding(self):
        return list(self.lt.parameters())[0].data.cpu().numpy()  # noqa: RUF015


def tree_closure(branching=(2, 3, 2)):
    """A mammal-like hierarchy: a root, ``branching[0]`` children each with ``branching[1]``, ...; returns the number
    of nodes and the (descendant, ancestor) pairs of its transitive closure as an (n_pairs, 2) int64 array."""
    parents = [-1]
    level = [0]
    for b in branching:
        nxt = []
        for node in level:
            for _ in range(b):
                parents.append(node)
                nxt.append(len(parents) - 1)
        level = nxt
    pairs = []
    for node in range(1, len(parents)):
        anc = parents[node]
        while anc >= 0:
            pairs.append((node, anc))
            anc = parents[anc]
    return len(parents), np.array(pairs, dtype=np.int64)


def batches(n, pairs, nnegs, batchsize, rng):
    """One epoch of shuffled (batch, 2 + nnegs) index arrays: each row a positive pair then ``nnegs`` objects that
    are not neighbours of its first one (the repo's negative sampling, drawn from numpy)."""
    adj = {}
    for a, b in pairs:
        adj.setdefault(int(a), set()).add(int(b))
        adj.setdefault(int(b), set()).add(int(a))
    perm = rng.permutation(len(pairs))
    out = []
    for start in range(0, len(perm), batchsize):
        rows = []
        for i in perm[start:start + batchsize]:
            u, v = pairs[i]
            negs = []
            while len(negs) < nnegs:
                c = int(rng.integers(n))
                if c != u and c not in adj[int(u)]:
                    negs.append(c)
            rows.append([u, v] + negs)
        out.append(np.array(rows, dtype=np.int64))
    return out


def train(model, optimizer, epoch, data, lr, burnin, log):
    """One epoch over ``data`` (a list of (batch, 2 + nnegs) index arrays); the lr is cut during the burn-in."""
    epoch_loss = []
    _lr = lr * _lr_multiplier if epoch < burnin else lr
    for inputs in data:
        inputs = th.from_numpy(inputs)
        targets = th.zeros(inputs.size(0)).long()
        optimizer.zero_grad()
        preds = model(inputs)
        loss = model.loss(preds, targets, size_average=True)
        loss.backward()
        log["grad_norm"].append(model.lt.weight.grad.data.norm().item())
        optimizer.step(lr=_lr)
        epoch_loss.append(loss.item())
        log["loss"].append(loss.item())
        log["dists"].append(preds.detach().numpy().copy())
    log["lr"].append(_lr)
    line = f'json_stats: {{"epoch": {epoch}, "loss": {np.mean(epoch_loss):.6f}, "lr": {_lr}}}'
    print(line)
    log["lines"].append(line)


def average_precision(labels, scores):
    """The area under the precision-recall steps, as sklearn's average_precision_score (no ties here)."""
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def ranking(types, model):
    """Mean rank and MAP of the reconstruction: each node's neighbours ranked by distance among its non-neighbours."""
    lt = th.from_numpy(model.embedding())
    ranks = []
    ap_scores = []
    with th.no_grad():
        for s, s_types in types.items():
            s_e = lt[s].expand_as(lt)
            _dists = model.dist(s_e, lt).cpu().numpy().flatten()
            _dists[s] = 1e+12
            _labels = np.zeros(lt.size(0))
            _dists_masked = _dists.copy()
            for o in s_types:
                _dists_masked[o] = np.inf
                _labels[o] = 1
            ap_scores.append(average_precision(_labels, -_dists))
            for o in s_types:
                d = _dists_masked.copy()
                d[o] = _dists[o]
                ranks.append(int((d < d[o]).sum()) + 1)
    return np.mean(ranks), np.mean(ap_scores)


def make(dim=5, manifold="poincare", dtype=th.float64):
    mf = PoincareManifold() if manifold == "poincare" else EuclideanManifold(max_norm=1)
    return Embedding(tree_closure()[0], dim, mf).to(dtype)


def run(model, data, lr=0.3, burnin=2, resume_at=None):
    """Train ``model`` on ``data`` (a list of epochs, each a list of batches); evaluate after each epoch. With
    ``resume_at``, the checkpoint saved after that epoch is loaded into a fresh model and optimizer that go on."""
    n, pairs = tree_closure()
    types = {}
    for a, b in pairs:
        types.setdefault(int(a), set()).add(int(b))
        types.setdefault(int(b), set()).add(int(a))
    log = {"loss": [], "grad_norm": [], "dists": [], "lr": [], "lines": [], "rank": [], "map": []}
    optimizer = RiemannianSGD(model.parameters(), rgrad=model.manifold.rgrad, expm=model.manifold.expm, lr=lr)
    for epoch in range(len(data)):
        train(model, optimizer, epoch, data[epoch], lr, burnin, log)
        mean_rank, map_rank = ranking(types, model)
        log["rank"].append(mean_rank)
        log["map"].append(map_rank)
        if epoch == resume_at:
            buf = io.BytesIO()
            th.save({'model': model.state_dict(), 'epoch': epoch, 'objects': n}, buf)
            buf.seek(0)
            state = th.load(buf)
            model = Embedding(state['objects'], model.dim, model.manifold).to(model.lt.weight.dtype)
            model.load_state_dict(state['model'])
            optimizer = RiemannianSGD(model.parameters(), rgrad=model.manifold.rgrad, expm=model.manifold.expm,
                                      lr=lr)
    log["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    log["max_norm"] = float(np.linalg.norm(model.embedding(), axis=-1).max())
    return log


def boundary(u, v, eps=1e-5, steps=3, lr=0.5):
    """Distances, their gradients and a few Riemannian steps at points ``u``, ``v`` ((n, d) arrays, norms near
    1 - eps): the clamps at 1 - eps and sqrt(z^2 - 1) decide every number here."""
    mf = PoincareManifold(eps=eps)
    u = th.from_numpy(u).requires_grad_()
    v = th.from_numpy(v).requires_grad_()
    opt = RiemannianSGD([u, v], lr=lr, rgrad=mf.rgrad, expm=mf.expm)
    out = {"dist": [], "gu": [], "gv": [], "u": [], "v": []}
    for _ in range(steps):
        opt.zero_grad()
        d = mf.distance(u, v)
        d.sum().backward()
        out["dist"].append(d.detach().numpy().copy())
        out["gu"].append(u.grad.numpy().copy())
        out["gv"].append(v.grad.numpy().copy())
        opt.step()
        out["u"].append(u.detach().numpy().copy())
        out["v"].append(v.detach().numpy().copy())
    return out
