"""juho-lee/set_transformer written as that repository writes it (modules.py, models.py, mixture_of_mvns.py,
mvn_diag.py and the amortized-clustering run script), at a tiny size and without plots.

- ``MAB``: ``fc_q`` / ``fc_k`` / ``fc_v``, the heads split along the features and stacked along the batch
  (``torch.cat(Q.split(dim_split, 2), 0)``), ``torch.softmax(Q_.bmm(K_.transpose(1,2))/math.sqrt(self.dim_V), 2)``
  (scaled by the full width, as the repository does), the residual ``Q_ + A.bmm(V_)`` split back and joined along
  the features, the optional LayerNorms found by ``getattr(self, 'ln0', None)``, and ``O + F.relu(self.fc_o(O))``.
- ``SAB``, ``ISAB`` (inducing points ``nn.Parameter(torch.Tensor(1, num_inds, dim_out))`` + ``xavier_uniform_``,
  repeated over the batch) and ``PMA`` (seeds ``self.S.repeat(X.size(0), 1, 1)``); ``DeepSet`` (mean-pooled MLP
  encoder, ``reshape(-1, num_outputs, dim_output)``) and ``SetTransformer`` (two ISABs, PMA, two SABs, a Linear).
- ``MixtureOfMVNs`` / ``MultivariateNormalDiag``: labels drawn per point, ``torch.gather`` of means and scales by
  ``labels.unsqueeze(-1).repeat(1, 1, dim)``, the diagonal log-density ``-0.5*log(2 pi) - sigma.log() -
  0.5*diff.pow(2)/sigma.pow(2)`` summed over dims, ``(pi + 1e-10).log()``, ``ll.logsumexp(-1).mean()`` and
  ``ll.argmax(-1)`` labels; ``parse``: softmax of the logits, the means, softplus of the scales (one column, as
  the repository's ``dim_output = 2*D`` leaves: an isotropic scale that broadcasts over the dims); ``stats``:
  ``torch.eye(self.dim)[(None,)*(len(sigma.shape)-1)]`` times the variances.
- ``train`` / ``test`` / ``plot`` of run.py: argparse flags, a benchmark saved with ``torch.save`` and loaded back,
  Adam, ``-ll`` as the loss, the lr cut by ``param_groups[0]['lr'] *= 0.1`` halfway, the test line
  ``'step {}, lr {:.3e}, test ll {:.4f} (oracle {:.4f})'``, ``model.tar`` checkpoints, and ``plot`` without
  matplotlib (the predicted labels and log-likelihood).

Changes for the harness: the samplers draw from a numpy generator (``Dirichlet`` / ``Categorical`` / ``torch.rand``
/ ``torch.randn`` there), one per step seeded by ``(seed, step)`` so a resumed run sees the same batches; ``test``
runs under ``torch.no_grad()``; lines go to a list instead of a logger; the checkpoint also holds the optimizer and
the step, and ``--resume`` / ``--stop`` continue and interrupt a run."""

import argparse
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


# modules.py
class MAB(nn.Module):
    def __init__(self, dim_Q, dim_K, dim_V, num_heads, ln=False):
        super(MAB, self).__init__()  # noqa: UP008 - the repository's spelling
        self.dim_V = dim_V
        self.num_heads = num_heads
        self.fc_q = nn.Linear(dim_Q, dim_V)
        self.fc_k = nn.Linear(dim_K, dim_V)
        self.fc_v = nn.Linear(dim_K, dim_V)
        if ln:
            self.ln0 = nn.LayerNorm(dim_V)
            self.ln1 = nn.LayerNorm(dim_V)
        self.fc_o = nn.Linear(dim_V, dim_V)

    def forward(self, Q, K):
        Q = self.fc_q(Q)
        K, V = self.fc_k(K), self.fc_v(K)

        dim_split = self.dim_V // self.num_heads
        Q_ = torch.cat(Q.split(dim_split, 2), 0)
        K_ = torch.cat(K.split(dim_split, 2), 0)
        V_ = torch.cat(V.split(dim_split, 2), 0)

        A = torch.softmax(Q_.bmm(K_.transpose(1,2))/math.sqrt(self.dim_V), 2)
        O = torch.cat((Q_ + A.bmm(V_)).split(Q.size(0), 0), 2)
        O = O if getattr(self, 'ln0', None) is None else self.ln0(O)
        O = O + F.relu(self.fc_o(O))
        O = O if getattr(self, 'ln1', None) is None else self.ln1(O)
        return O


class SAB(nn.Module):
    def __init__(self, dim_in, dim_out, num_heads, ln=False):
        super(SAB, self).__init__()  # noqa: UP008
        self.mab = MAB(dim_in, dim_in, dim_out, num_heads, ln=ln)

    def forward(self, X):
        return self.mab(X, X)


class ISAB(nn.Module):
    def __init__(self, dim_in, dim_out, num_heads, num_inds, ln=False):
        super(ISAB, self).__init__()  # noqa: UP008
        self.I = nn.Parameter(torch.Tensor(1, num_inds, dim_out))
        nn.init.xavier_uniform_(self.I)
        self.mab0 = MAB(dim_out, dim_in, dim_out, num_heads, ln=ln)
        self.mab1 = MAB(dim_in, dim_out, dim_out, num_heads, ln=ln)

    def forward(self, X):
        H = self.mab0(self.I.repeat(X.size(0), 1, 1), X)
        return self.mab1(X, H)


class PMA(nn.Module):
    def __init__(self, dim, num_heads, num_seeds, ln=False):
        super(PMA, self).__init__()  # noqa: UP008
        self.S = nn.Parameter(torch.Tensor(1, num_seeds, dim))
        nn.init.xavier_uniform_(self.S)
        self.mab = MAB(dim, dim, dim, num_heads, ln=ln)

    def forward(self, X):
        return self.mab(self.S.repeat(X.size(0), 1, 1), X)


# models.py
class DeepSet(nn.Module):
    def __init__(self, dim_input, num_outputs, dim_output, dim_hidden=128):
        super(DeepSet, self).__init__()  # noqa: UP008
        self.num_outputs = num_outputs
        self.dim_output = dim_output
        self.enc = nn.Sequential(
                nn.Linear(dim_input, dim_hidden),
                nn.ReLU(),
                nn.Linear(dim_hidden, dim_hidden),
                nn.ReLU(),
                nn.Linear(dim_hidden, dim_hidden),
                nn.ReLU(),
                nn.Linear(dim_hidden, dim_hidden))
        self.dec = nn.Sequential(
                nn.Linear(dim_hidden, dim_hidden),
                nn.ReLU(),
                nn.Linear(dim_hidden, dim_hidden),
                nn.ReLU(),
                nn.Linear(dim_hidden, dim_hidden),
                nn.ReLU(),
                nn.Linear(dim_hidden, num_outputs*dim_output))

    def forward(self, X):
        X = self.enc(X).mean(-2)
        X = self.dec(X).reshape(-1, self.num_outputs, self.dim_output)
        return X


class SetTransformer(nn.Module):
    def __init__(self, dim_input, num_outputs, dim_output,
            num_inds=32, dim_hidden=128, num_heads=4, ln=False):
        super(SetTransformer, self).__init__()  # noqa: UP008
        self.enc = nn.Sequential(
                ISAB(dim_input, dim_hidden, num_heads, num_inds, ln=ln),
                ISAB(dim_hidden, dim_hidden, num_heads, num_inds, ln=ln))
        self.dec = nn.Sequential(
                PMA(dim_hidden, num_heads, num_outputs, ln=ln),
                SAB(dim_hidden, dim_hidden, num_heads, ln=ln),
                SAB(dim_hidden, dim_hidden, num_heads, ln=ln),
                nn.Linear(dim_hidden, dim_output))

    def forward(self, X):
        return self.dec(self.enc(X))


# mixture_of_mvns.py
class MultivariateNormal(object):  # noqa: UP004
    def __init__(self, dim):
        self.dim = dim

    def sample(self, B, K, labels, rng):
        raise NotImplementedError

    def log_prob(self, X, params):
        raise NotImplementedError

    def stats(self):
        raise NotImplementedError

    def parse(self, raw):
        raise NotImplementedError


class MixtureOfMVNs(object):  # noqa: UP004
    def __init__(self, mvn):
        self.mvn = mvn

    def sample(self, B, N, K, rng, return_gt=False):
        device = 'cpu' if not torch.cuda.is_available() \
                else torch.cuda.current_device()
        pi = torch.from_numpy(rng.dirichlet(np.ones(K), size=B)).float().to(device)
        # Categorical(probs=pi).sample(torch.Size([N])) by the inverse CDF: (N, B)
        u = rng.random((N, B, 1))
        labels = torch.from_numpy((u > np.cumsum(pi.cpu().numpy(), -1)[:, :-1]).sum(-1)).to(device)
        labels = labels.transpose(0,1).contiguous()

        X, params = self.mvn.sample(B, K, labels, rng)
        if return_gt:
            return X, labels, pi, params
        else:
            return X

    def log_prob(self, X, pi, params, return_labels=False):
        ll = self.mvn.log_prob(X, params)
        ll = ll + (pi + 1e-10).log().unsqueeze(-2)
        if return_labels:
            labels = ll.argmax(-1)
            return ll.logsumexp(-1).mean(), labels
        else:
            return ll.logsumexp(-1).mean()

    def parse(self, raw):
        return self.mvn.parse(raw)


# mvn_diag.py
class MultivariateNormalDiag(MultivariateNormal):
    def __init__(self, dim):
        super(MultivariateNormalDiag, self).__init__(dim)  # noqa: UP008

    def sample(self, B, K, labels, rng):
        N = labels.shape[-1]
        device = labels.device
        mu = -4 + 8*torch.from_numpy(rng.random((B, K, self.dim))).float().to(device)
        sigma = 0.3*torch.ones(B, K, self.dim).to(device)
        eps = torch.from_numpy(rng.standard_normal((B, N, self.dim))).float().to(device)

        rlabels = labels.unsqueeze(-1).repeat(1, 1, self.dim)
        X = torch.gather(mu, 1, rlabels) + \
                eps * torch.gather(sigma, 1, rlabels)
        return X, (mu, sigma)

    def log_prob(self, X, params):
        mu, sigma = params
        dim = self.dim  # noqa: F841 - the repository's unused line
        X = X.unsqueeze(2)
        mu = mu.unsqueeze(1)
        sigma = sigma.unsqueeze(1)
        diff = X - mu
        ll = -0.5*math.log(2*math.pi) - sigma.log() - 0.5*(diff.pow(2)/sigma.pow(2))
        return ll.sum(-1)

    def stats(self, params):
        mu, sigma = params
        I = torch.eye(self.dim)[(None,)*(len(sigma.shape)-1)].to(sigma.device)
        cov = sigma.pow(2).unsqueeze(-1) * I
        return mu, cov

    def parse(self, raw):
        pi = torch.softmax(raw[...,0], -1)
        mu = raw[...,1:1+self.dim]
        sigma = F.softplus(raw[...,1+self.dim:])
        return pi, (mu, sigma)


# run.py
parser = argparse.ArgumentParser()
parser.add_argument('--net', type=str, default='set_transformer')
parser.add_argument('--ln', action='store_true')
parser.add_argument('--num_bench', type=int, default=3)
parser.add_argument('--B', type=int, default=4)
parser.add_argument('--N_min', type=int, default=20)
parser.add_argument('--N_max', type=int, default=40)
parser.add_argument('--K', type=int, default=4)
parser.add_argument('--dim_hidden', type=int, default=32)
parser.add_argument('--num_inds', type=int, default=8)
parser.add_argument('--lr', type=float, default=1e-3)
parser.add_argument('--num_steps', type=int, default=10)
parser.add_argument('--test_freq', type=int, default=5)
parser.add_argument('--save_freq', type=int, default=5)
parser.add_argument('--seed', type=int, default=0)
parser.add_argument('--resume', action='store_true')
parser.add_argument('--stop', type=int, default=0, help='interrupt after this step (0: never)')

D = 2
mvn = MultivariateNormalDiag(D)
mog = MixtureOfMVNs(mvn)
dim_output = 2*D


def build(args):
    if args.net == 'set_transformer':
        net = SetTransformer(D, args.K, dim_output, num_inds=args.num_inds, dim_hidden=args.dim_hidden, ln=args.ln)
    elif args.net == 'deepset':
        net = DeepSet(D, args.K, dim_output, dim_hidden=args.dim_hidden)
    else:
        raise ValueError('Invalid net {}'.format(args.net))  # noqa: UP032
    return net


def generate_benchmark(args, benchfile):
    rng = np.random.default_rng([args.seed, 0])
    N_list = rng.integers(args.N_min, args.N_max, args.num_bench)
    data = []
    ll = 0.
    for N in N_list:
        X, labels, pi, params = mog.sample(args.B, N, args.K, rng, return_gt=True)  # noqa: RUF059
        ll += mog.log_prob(X, pi, params).item()
        data.append(X)
    bench = [data, ll/args.num_bench]
    torch.save(bench, benchfile)


def test(net, bench):
    net.eval()
    data, oracle_ll = bench
    avg_ll = 0.
    with torch.no_grad():
        for X in data:
            avg_ll += mog.log_prob(X, *mvn.parse(net(X))).item()
    avg_ll /= len(data)
    return 'test ll {:.4f} (oracle {:.4f})'.format(avg_ll, oracle_ll), avg_ll  # noqa: UP032


def train(net, args, save_dir):
    """Adam on -ll for ``args.num_steps`` steps (from a checkpoint with ``--resume``); returns the log: per step the
    loss, the gradient norm and the lr, the test lines and values, the final parameters."""
    benchfile = os.path.join(save_dir, 'mog_{:d}.pkl'.format(args.K))  # noqa: UP032
    if not os.path.isfile(benchfile):
        generate_benchmark(args, benchfile)
    bench = torch.load(benchfile)

    optimizer = optim.Adam(net.parameters(), lr=args.lr)
    start = 1
    if args.resume:
        checkpoint = torch.load(os.path.join(save_dir, 'model.tar'))
        net.load_state_dict(checkpoint['state_dict'])
        optimizer.load_state_dict(checkpoint['optimizer'])
        start = checkpoint['step'] + 1
    log = {'loss': [], 'norm': [], 'lr': [], 'lines': [], 'test': []}
    for t in range(start, args.num_steps+1):
        if t == int(0.5*args.num_steps):
            optimizer.param_groups[0]['lr'] *= 0.1
        net.train()
        optimizer.zero_grad()
        rng = np.random.default_rng([args.seed, t])
        N = rng.integers(args.N_min, args.N_max)
        X = mog.sample(args.B, N, args.K, rng)
        ll = mog.log_prob(X, *mvn.parse(net(X)))
        loss = -ll
        loss.backward()
        optimizer.step()
        log['loss'].append(loss.item())
        log['norm'].append(math.sqrt(sum(p.grad.pow(2).sum().item() for p in net.parameters())))
        log['lr'].append(optimizer.param_groups[0]['lr'])

        if t % args.test_freq == 0:
            line = 'step {}, lr {:.3e}, '.format(t, optimizer.param_groups[0]['lr'])
            result, avg_ll = test(net, bench)
            log['lines'].append(line + result)
            log['test'].append(avg_ll)

        if t % args.save_freq == 0:
            torch.save({'state_dict': net.state_dict(), 'optimizer': optimizer.state_dict(), 'step': t},
                       os.path.join(save_dir, 'model.tar'))
        if t == args.stop:
            break
    log['params'] = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
    return log


def plot(net, args):
    """plot() without matplotlib: a fresh mixture, the net's predicted mixture (with the covariances its ellipses
    would be drawn from), its labels and log-likelihood."""
    net.eval()
    rng = np.random.default_rng([args.seed, 0, 1])
    X, labels, pi, params = mog.sample(args.B, int(rng.integers(args.N_min, args.N_max)), args.K, rng,
                                       return_gt=True)
    with torch.no_grad():
        pi, params = mvn.parse(net(X))
        ll, labels = mog.log_prob(X, pi, params, return_labels=True)
        mu, cov = mvn.stats(params)
    return {'ll': ll.item(), 'labels': labels.numpy(), 'pi': pi.numpy(), 'mu': mu.numpy(),
            'sigma': params[1].numpy(), 'cov': cov.numpy(), 'X': X.numpy()}


def main(argv, save_dir, net=None):
    """run.py's train mode on the flags ``argv``, saving into ``save_dir``; ``net`` (else built from the flags)."""
    args = parser.parse_args(argv)
    net = build(args) if net is None else net
    log = train(net, args, save_dir)
    log['plot'] = plot(net, args)
    return log
