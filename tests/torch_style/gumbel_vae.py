"""A categorical VAE trained through the Gumbel-softmax relaxation (Jang, Gu and Poole 2017; Maddison et al.'s
Concrete), shrunk from the usual PyTorch MNIST recipe: an MLP encoder gives logits for N categorical latents of K
classes each, a sample is softmax((logits + g) / tau) with Gumbel noise g = -log(-log(U + eps) + eps), optionally made
one-hot in the forward pass by the straight-through trick y_hard - y.detach() + y (argmax, then scatter_ of ones),
and an MLP decoder gives Bernoulli logits for the binarised pixels. The loss is the BCE-with-logits reconstruction
(summed over pixels, averaged over the batch) plus the KL divergence from q(y|x) to the uniform categorical. The
temperature anneals each step as tau0 * exp(-rate * step), clamped below at tau_min; Adam. The uniform draws U may be
handed in (so that two libraries can share them); otherwise torch.rand makes them. ``gumbel_softmax_pair`` draws
F.gumbel_softmax soft and hard from the same generator state, for checking the library's straight-through output."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Categorical, OneHotCategoricalStraightThrough, RelaxedOneHotCategorical, kl_divergence


def sample_gumbel(shape, eps=1e-20, u=None):
    """Gumbel(0, 1) noise of ``shape``; ``u`` gives the uniform draws (else torch.rand)."""
    if u is None:
        u = torch.rand(shape)
    return -torch.log(-torch.log(u + eps) + eps)


def gumbel_softmax_sample(logits, temperature, u=None):
    y = logits + sample_gumbel(logits.size(), u=u)
    return F.softmax(y / temperature, dim=-1)


def gumbel_softmax(logits, temperature, hard=False, u=None):
    """(B, N, K) logits -> (B, N * K) relaxed samples; ``hard``: one-hot forward, the soft sample's gradient."""
    y = gumbel_softmax_sample(logits, temperature, u)
    if hard:
        ind = y.argmax(dim=-1)
        y_hard = torch.zeros_like(y).view(-1, y.size(-1))
        y_hard.scatter_(1, ind.view(-1, 1), 1)
        y_hard = y_hard.view(*y.shape)
        y = y_hard - y.detach() + y
    return y.view(logits.size(0), -1)


class GumbelVAE(nn.Module):
    def __init__(self, n_pixels=24, hidden=16, latent_dim=3, categorical_dim=4):
        super().__init__()
        self.n, self.k = latent_dim, categorical_dim
        self.fc1 = nn.Linear(n_pixels, hidden)
        self.fc2 = nn.Linear(hidden, latent_dim * categorical_dim)
        self.fc3 = nn.Linear(latent_dim * categorical_dim, hidden)
        self.fc4 = nn.Linear(hidden, n_pixels)

    def encode(self, x):
        return self.fc2(F.relu(self.fc1(x)))

    def decode(self, z):
        return self.fc4(F.relu(self.fc3(z)))  # Bernoulli logits

    def forward(self, x, temperature, hard=False, u=None):
        q = self.encode(x.view(x.size(0), -1))
        q_y = q.view(q.size(0), self.n, self.k)
        z = gumbel_softmax(q_y, temperature, hard, u)
        return self.decode(z), F.softmax(q_y, dim=-1)


def loss_function(recon_logits, x, qy, categorical_dim):
    """Reconstruction (BCE with logits, summed, per example) + KL(q(y|x) || uniform), summed over latents."""
    bce = F.binary_cross_entropy_with_logits(recon_logits, x.view(x.size(0), -1), reduction="sum") / x.size(0)
    log_ratio = torch.log(qy * categorical_dim + 1e-20)
    kld = torch.sum(qy * log_ratio, dim=-1).sum(-1).mean()
    return bce + kld, bce, kld


def kl_by_distributions(qy_logits):
    """The same KL through torch.distributions: kl_divergence(Categorical(logits), Categorical(uniform probs)),
    summed over latents and averaged over the batch ((B, N, K) logits)."""
    q = Categorical(logits=qy_logits)
    prior = Categorical(probs=torch.full_like(qy_logits, 1.0 / qy_logits.size(-1)))
    return kl_divergence(q, prior).sum(-1).mean()


def relaxed_log_prob(logits, temperature, y):
    """The Concrete density of samples ``y`` (on the simplex) under RelaxedOneHotCategorical, and its entropy-free
    pieces: the temperature and the probabilities the distribution keeps."""
    dist = RelaxedOneHotCategorical(torch.tensor(temperature), logits=logits)
    return dist.log_prob(y), dist.temperature, dist.probs


def straight_through_by_distribution(logits, weight, seed=0):
    """OneHotCategoricalStraightThrough.rsample: a one-hot draw whose gradient is that of the probabilities."""
    torch.manual_seed(seed)
    x = logits.detach().clone().requires_grad_(True)
    dist = OneHotCategoricalStraightThrough(logits=x)
    y = dist.rsample()
    (weight * y).sum().backward()
    return y.detach(), x.grad, dist.log_prob(y).detach(), dist.entropy().detach()


def temperature_at(step, tau0=1.0, anneal_rate=0.15, tau_min=0.5):
    return max(tau0 * math.exp(-anneal_rate * step), tau_min)


def train(model, batches, uniforms=None, hard=False, lr=1e-3):
    """Adam over the batches, the temperature annealed each step; ``uniforms[i]`` feeds step i's Gumbel noise."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    log = {"loss": [], "bce": [], "kld": [], "temp": []}
    model.train()
    for step, x in enumerate(batches):
        temp = temperature_at(step)
        u = None if uniforms is None else uniforms[step]
        optimizer.zero_grad()
        recon, qy = model(x, temp, hard, u)
        loss, bce, kld = loss_function(recon, x, qy, model.k)
        loss.backward()
        optimizer.step()
        for key, value in (("loss", loss), ("bce", bce), ("kld", kld)):
            log[key].append(value.item())
        log["temp"].append(temp)
    return log


@torch.no_grad()
def reconstruct(model, x, u, temperature=0.5):
    """Hard-sample reconstructions (Bernoulli means) and the most likely class of each latent."""
    model.eval()
    recon, qy = model(x, temperature, hard=True, u=u)
    model.train()
    return torch.sigmoid(recon), qy.argmax(-1)


def gumbel_softmax_pair(logits, tau, weight, seed=0):
    """F.gumbel_softmax soft and hard from the same generator state, and the gradient of (weight * y).sum() wrt
    ``logits`` through each: the hard one is one-hot, its gradient the soft one's."""
    out = []
    for hard in (False, True):
        x = logits.detach().clone().requires_grad_(True)
        torch.manual_seed(seed)
        y = F.gumbel_softmax(x, tau=tau, hard=hard)
        (weight * y).sum().backward()
        out.append((y.detach(), x.grad))
    return out


def gumbel_max_frequencies(logits, draws, tau=1.0, seed=0):
    """How often each class comes out of F.gumbel_softmax(hard=True) over ``draws`` rows: ~ softmax(logits)."""
    torch.manual_seed(seed)
    y = F.gumbel_softmax(logits.expand(draws, -1), tau=tau, hard=True)
    return y.mean(0)
