"""Variational inference with ``torch.distributions`` as tutorials and small research repos write it, on tiny
synthetic numpy data: Bayesian logistic regression under a mean-field ``Normal(loc, softplus(rho))`` guide (and a
full-rank ``MultivariateNormal`` / a ``LowRankMultivariateNormal`` guide), YongfeiYan's Gumbel-Softmax categorical
VAE with its temperature annealing, a ``MixtureSameFamily`` Gaussian mixture fitted by maximum likelihood under a
``Dirichlet`` prior, conjugate-model guides built from ``TransformedDistribution`` / ``LogNormal``, and a "zoo" pass
over the log-probabilities, moments, entropies, cdfs and registered KLs that drive such training.

Every random draw is fed from numpy (``eps`` / ``U`` arguments), so the runs are deterministic."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    Dirichlet,
    Gamma,
    Independent,
    Laplace,
    LogNormal,
    LowRankMultivariateNormal,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    Poisson,
    RelaxedOneHotCategorical,
    StudentT,
    TransformedDistribution,
    kl_divergence,
)
from torch.distributions.transforms import AffineTransform, ExpTransform, SigmoidTransform


def grad_norm(params):
    return torch.sqrt(sum((p.grad ** 2).sum() for p in params if p.grad is not None)).item()


def snapshot(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


# ---------------------------------------------------------------- Bayesian logistic regression, mean-field guide
class MeanFieldLogReg(nn.Module):
    """q(w) = Normal(loc, softplus(rho)) over the weights and the bias (the last entry); prior N(0, prior_scale)."""

    def __init__(self, d, prior_scale=1.0):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(d + 1))
        self.rho = nn.Parameter(torch.full((d + 1,), -3.0))
        self.prior = Normal(torch.zeros(d + 1), prior_scale * torch.ones(d + 1))

    def guide(self):
        return Normal(self.loc, F.softplus(self.rho))

    def elbo(self, X, y, eps):
        q = self.guide()
        w = q.loc + q.scale * eps  # [S, d + 1], the reparameterised draw
        logits = X @ w[:, :-1].t() + w[:, -1]  # [N, S]
        log_lik = Bernoulli(logits=logits).log_prob(y.unsqueeze(1).expand_as(logits)).sum(0).mean()
        kl = kl_divergence(q, self.prior).sum()
        return log_lik - kl, log_lik, kl


def train_logreg(model, X, y, eps_list, lr=0.05):
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    opt = optim.Adam(model.parameters(), lr=lr)
    hist = {"elbo": [], "log_lik": [], "kl": [], "grad_norm": [], "params": [], "grads": []}
    for eps in eps_list:
        opt.zero_grad()
        elbo, log_lik, kl = model.elbo(X, y, torch.from_numpy(eps))
        loss = -elbo
        loss.backward()
        hist["grads"].append({n: p.grad.numpy().copy() for n, p in model.named_parameters()})
        hist["grad_norm"].append(grad_norm(model.parameters()))
        opt.step()
        hist["elbo"].append(elbo.item())
        hist["log_lik"].append(log_lik.item())
        hist["kl"].append(kl.item())
        hist["params"].append(snapshot(model))
    with torch.no_grad():
        q = model.guide()
        probs = torch.sigmoid(X @ q.mean[:-1] + q.mean[-1])
        hist["accuracy"] = ((probs > 0.5).float() == y).float().mean().item()
        hist["stddev"] = q.stddev.numpy().copy()
    return hist


# ---------------------------------------------------------------- full-rank and low-rank guides
class FullRankLogReg(nn.Module):
    """q(w) = MultivariateNormal(loc, scale_tril=L) with L = tril(raw, -1) + diag(softplus(diag_raw))."""

    def __init__(self, d):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(d + 1))
        self.raw = nn.Parameter(torch.zeros(d + 1, d + 1))
        self.diag_raw = nn.Parameter(torch.full((d + 1,), -2.0))
        self.prior = MultivariateNormal(torch.zeros(d + 1), scale_tril=torch.eye(d + 1))

    def guide(self):
        L = torch.tril(self.raw, diagonal=-1) + torch.diag_embed(F.softplus(self.diag_raw))
        return MultivariateNormal(self.loc, scale_tril=L)

    def elbo(self, X, y, eps):
        q = self.guide()
        w = q.loc + (q.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
        logits = X @ w[:, :-1].t() + w[:, -1]
        log_lik = Bernoulli(logits=logits).log_prob(y.unsqueeze(1).expand_as(logits)).sum(0).mean()
        # the entropy form and the KL form of the same ELBO (both reported; the KL one is optimised)
        log_prior = self.prior.log_prob(w).mean()
        elbo_entropy = log_lik + log_prior + q.entropy()
        kl = kl_divergence(q, self.prior)
        return log_lik - kl, {"log_lik": log_lik, "kl": kl, "elbo_entropy": elbo_entropy,
                              "log_q": q.log_prob(w).mean()}


class LowRankLogReg(nn.Module):
    """q(w) = LowRankMultivariateNormal(loc, cov_factor, softplus(cov_diag_raw))."""

    def __init__(self, d, rank=2):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(d + 1))
        self.cov_factor = nn.Parameter(0.1 * torch.ones(d + 1, rank) / (1.0 + torch.arange(rank).float()))
        self.cov_diag_raw = nn.Parameter(torch.full((d + 1,), -2.0))
        self.prior = MultivariateNormal(torch.zeros(d + 1), covariance_matrix=2.0 * torch.eye(d + 1))

    def guide(self):
        return LowRankMultivariateNormal(self.loc, self.cov_factor, F.softplus(self.cov_diag_raw))

    def elbo(self, X, y, eps_w, eps_d):
        q = self.guide()
        w = q.loc + (q.cov_factor @ eps_w.unsqueeze(-1)).squeeze(-1) + q.cov_diag.sqrt() * eps_d
        logits = X @ w[:, :-1].t() + w[:, -1]
        log_lik = Bernoulli(logits=logits).log_prob(y.unsqueeze(1).expand_as(logits)).sum(0).mean()
        kl = kl_divergence(q, self.prior)
        return log_lik - kl, {"log_lik": log_lik, "kl": kl, "log_q": q.log_prob(w).mean(), "entropy": q.entropy(),
                              "variance": q.variance.sum()}


def train_structured(model, X, y, noises, lr=0.05):
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    opt = optim.Adam(model.parameters(), lr=lr)
    hist = {"loss": [], "terms": [], "grad_norm": [], "params": []}
    q = model.guide()
    hist["lines"] = [f"guide {type(q).__name__} support {q.support} event_shape {tuple(q.event_shape)} "
                     f"batch_shape {tuple(q.batch_shape)}", f"prior support {model.prior.support}"]
    for noise in noises:
        opt.zero_grad()
        elbo, terms = model.elbo(X, y, *[torch.from_numpy(n) for n in noise])
        (-elbo).backward()
        hist["grad_norm"].append(grad_norm(model.parameters()))
        opt.step()
        hist["loss"].append(-elbo.item())
        hist["terms"].append({k: v.item() for k, v in terms.items()})
        hist["params"].append(snapshot(model))
    return hist


# ---------------------------------------------------------------- YongfeiYan's Gumbel-Softmax VAE
latent_dim = 3
categorical_dim = 4
temp_min = 0.5
ANNEAL_RATE = 0.03


def sample_gumbel(shape, eps=1e-20, U=None):
    if U is None:
        U = torch.rand(shape)
    return -torch.log(-torch.log(U + eps) + eps)


def gumbel_softmax_sample(logits, temperature, U=None):
    y = logits + sample_gumbel(logits.size(), U=U)
    return F.softmax(y / temperature, dim=-1)


def gumbel_softmax(logits, temperature, hard=False, U=None):
    """ST-gumbel-softmax: input [*, n_class], returns [*, latent_dim * categorical_dim] (one-hot if ``hard``)."""
    y = gumbel_softmax_sample(logits, temperature, U=U)
    if not hard:
        return y.view(-1, latent_dim * categorical_dim)
    shape = y.size()
    _, ind = y.max(dim=-1)
    y_hard = torch.zeros_like(y).view(-1, shape[-1])
    y_hard.scatter_(1, ind.view(-1, 1), 1)
    y_hard = y_hard.view(*shape)
    # Set gradients w.r.t. y_hard gradients w.r.t. y
    y_hard = (y_hard - y).detach() + y
    return y_hard.view(-1, latent_dim * categorical_dim)


def loss_function(recon_x, x, qy, data_dim):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, data_dim), size_average=False) / x.shape[0]
    log_ratio = torch.log(qy * categorical_dim + 1e-20)
    KLD = torch.sum(qy * log_ratio, dim=-1).mean()
    return BCE + KLD


class VAE_gumbel(nn.Module):  # noqa: N801 - the repo's name
    def __init__(self, temp, data_dim=16):
        super().__init__()
        self.data_dim = data_dim
        self.fc1 = nn.Linear(data_dim, 12)
        self.fc2 = nn.Linear(12, 8)
        self.fc3 = nn.Linear(8, latent_dim * categorical_dim)
        self.fc4 = nn.Linear(latent_dim * categorical_dim, 8)
        self.fc5 = nn.Linear(8, 12)
        self.fc6 = nn.Linear(12, data_dim)
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()

    def encode(self, x):
        h1 = self.relu(self.fc1(x))
        h2 = self.relu(self.fc2(h1))
        return self.relu(self.fc3(h2))

    def decode(self, z):
        h4 = self.relu(self.fc4(z))
        h5 = self.relu(self.fc5(h4))
        return self.sigmoid(self.fc6(h5))

    def forward(self, x, temp, hard, U=None):
        q = self.encode(x.view(-1, self.data_dim))
        q_y = q.view(q.size(0), latent_dim, categorical_dim)
        z = gumbel_softmax(q_y, temp, hard, U=U)
        return self.decode(z), F.softmax(q_y, dim=-1).reshape(*q.size())


def train_gumbel(model, batches, uniforms, hard=False, epochs=2, temp=1.0, lr=1e-2, log_interval=2, anneal_every=3):
    optimizer = optim.Adam(model.parameters(), lr=lr)
    hist = {"loss": [], "temp": [], "grad_norm": [], "params": [], "lines": [], "relaxed_lp": [], "onehot_lp": [],
            "kl_uniform": []}
    u = iter(uniforms)
    for epoch in range(1, epochs + 1):
        model.train()
        train_loss = 0
        for batch_idx, data in enumerate(batches):
            data = torch.from_numpy(data)
            optimizer.zero_grad()
            U = torch.from_numpy(next(u))
            recon_batch, qy = model(data, temp, hard, U=U)
            loss = loss_function(recon_batch, data, qy, model.data_dim)
            loss.backward()
            train_loss += loss.item() * len(data)
            hist["grad_norm"].append(grad_norm(model.parameters()))
            optimizer.step()
            if batch_idx % anneal_every == 1:
                temp = np.maximum(temp * np.exp(-ANNEAL_RATE * batch_idx), temp_min)
            if batch_idx % log_interval == 0:
                hist["lines"].append("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(  # noqa: UP032
                    epoch, batch_idx * len(data), len(batches) * len(data),
                    100. * batch_idx / len(batches), loss.item()))
            hist["loss"].append(loss.item())
            hist["temp"].append(float(temp))
            hist["params"].append(snapshot(model))
            # the same posterior through torch.distributions
            with torch.no_grad():
                logits = model.encode(data).view(-1, latent_dim, categorical_dim)
                y = gumbel_softmax_sample(logits, temp, U=U)
                relaxed = RelaxedOneHotCategorical(torch.tensor(float(temp)), logits=logits)
                hist["relaxed_lp"].append(relaxed.log_prob(y.clamp(1e-6, 1.0) / y.clamp(1e-6, 1.0).sum(-1, True))
                                          .numpy().copy())
                onehot = F.one_hot(y.argmax(-1), categorical_dim).float()
                hist["onehot_lp"].append(OneHotCategorical(logits=logits).log_prob(onehot).numpy().copy())
                uniform = Categorical(probs=torch.ones(categorical_dim) / categorical_dim)
                hist["kl_uniform"].append(kl_divergence(Categorical(logits=logits), uniform).sum(-1).mean().item())
        hist["lines"].append("====> Epoch: {} Average loss: {:.4f}".format(  # noqa: UP032 - the repo's
            epoch, train_loss / (len(batches) * len(batches[0]))))
    return hist


def generate(model, ind):
    """The repo's sampling: one-hot codes set from numpy indices, decoded."""
    M = ind.shape[0]
    sample = np.zeros((M, latent_dim * categorical_dim), dtype=np.float32)
    sample[np.arange(M)[:, None], ind + np.arange(latent_dim) * categorical_dim] = 1
    sample = torch.from_numpy(sample)
    with torch.no_grad():
        return model.decode(sample).numpy()


# ---------------------------------------------------------------- Gaussian mixture by maximum likelihood
class GMM(nn.Module):
    def __init__(self, k, d):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(k))
        self.mu = nn.Parameter(torch.linspace(-1.0, 1.0, k).unsqueeze(1).repeat(1, d))
        self.log_sigma = nn.Parameter(torch.zeros(k, d))
        self.alpha = torch.full((k,), 2.0)

    def forward(self):
        mix = Categorical(logits=self.w)
        comp = Independent(Normal(self.mu, self.log_sigma.exp()), 1)
        return MixtureSameFamily(mix, comp)


def train_gmm(model, data, steps=8, lr=0.1):
    x = torch.from_numpy(data)
    opt = optim.Adam(model.parameters(), lr=lr)
    hist = {"nll": [], "log_prior": [], "grad_norm": [], "params": [], "resp": [], "mean": [], "variance": []}
    for _ in range(steps):
        opt.zero_grad()
        gmm = model()
        nll = -gmm.log_prob(x).mean()
        log_prior = Dirichlet(model.alpha).log_prob(F.softmax(model.w, dim=0))
        loss = nll - log_prior / len(x)
        loss.backward()
        hist["grad_norm"].append(grad_norm(model.parameters()))
        opt.step()
        hist["nll"].append(nll.item())
        hist["log_prior"].append(log_prior.item())
        hist["params"].append(snapshot(model))
        if len(hist["nll"]) == 1:
            hist["lines"] = [str(gmm.support), str(gmm.component_distribution.support), str(tuple(gmm.event_shape))]
        with torch.no_grad():
            comp_lp = gmm.component_distribution.log_prob(x.unsqueeze(1))  # [N, K]
            resp = torch.softmax(comp_lp + gmm.mixture_distribution.logits, dim=-1)
            hist["resp"].append(resp.numpy().copy())
            hist["mean"].append(gmm.mean.numpy().copy())
            hist["variance"].append(gmm.variance.numpy().copy())
    return hist


# ---------------------------------------------------------------- conjugate models with transformed guides
class CoinGuide(nn.Module):
    """Beta-Bernoulli: q(p) = sigmoid(0.5 + 2 * Normal(loc, softplus(s))), against the exact Beta posterior."""

    def __init__(self):
        super().__init__()
        self.loc = nn.Parameter(torch.tensor([0.0]))
        self.s = nn.Parameter(torch.tensor([-1.0]))

    def guide(self):
        base = Normal(self.loc, F.softplus(self.s))
        return TransformedDistribution(base, [AffineTransform(loc=0.5, scale=2.0), SigmoidTransform()])

    def elbo(self, flips, eps, a=2.0, b=3.0):
        q = self.guide()
        z = q.base_dist.loc + q.base_dist.scale * eps
        for t in q.transforms:
            z = t(z)
        log_lik = Bernoulli(probs=z.unsqueeze(-1)).log_prob(flips).sum(-1)
        log_prior = Beta(torch.tensor([a]), torch.tensor([b])).log_prob(z)
        return (log_lik + log_prior - q.log_prob(z)).mean(), z


class RateGuide(nn.Module):
    """Gamma-Poisson: q(rate) = LogNormal(m, softplus(s)) (and the same by ExpTransform); the exact posterior is
    Gamma(a + sum, b + n)."""

    def __init__(self):
        super().__init__()
        self.m = nn.Parameter(torch.tensor([0.0]))
        self.s = nn.Parameter(torch.tensor([-1.0]))

    def elbo(self, counts, eps, a=2.0, b=1.0):
        q = LogNormal(self.m, F.softplus(self.s))
        q_exp = TransformedDistribution(Normal(self.m, F.softplus(self.s)), [ExpTransform()])
        rate = torch.exp(self.m + F.softplus(self.s) * eps)
        log_lik = Poisson(rate.unsqueeze(-1)).log_prob(counts).sum(-1)
        log_prior = Gamma(torch.tensor([a]), torch.tensor([b])).log_prob(rate)
        return (log_lik + log_prior - q.log_prob(rate)).mean(), (q.log_prob(rate) - q_exp.log_prob(rate)).abs().max()


def train_conjugate(model, data, eps_list, lr=0.05):
    data = torch.from_numpy(data)
    opt = optim.Adam(model.parameters(), lr=lr)
    hist = {"elbo": [], "grad_norm": [], "params": [], "extra": []}
    for eps in eps_list:
        opt.zero_grad()
        elbo, extra = model.elbo(data, torch.from_numpy(eps))
        (-elbo).backward()
        hist["grad_norm"].append(grad_norm(model.parameters()))
        opt.step()
        hist["elbo"].append(elbo.item())
        hist["extra"].append(extra.detach().numpy().copy())
        hist["params"].append(snapshot(model))
    return hist


# ---------------------------------------------------------------- the zoo: what drives such training
def zoo(params, values):
    """For each family, from float arrays ``params[name]`` (made leaf tensors here) and ``values[name]``: log_prob,
    mean, variance, entropy, cdf / icdf where the family defines them, and d(sum of each)/d(parameters)."""
    out = {}

    def record(name, make, value, extra=()):
        ps = [torch.tensor(p, requires_grad=True) for p in params[name]]
        items = {"log_prob": lambda d: d.log_prob(torch.tensor(value)), "mean": lambda d: d.mean,
                 "variance": lambda d: d.variance, "entropy": lambda d: d.entropy()}
        for what in extra:
            items[what] = {"cdf": lambda d: d.cdf(torch.tensor(value)),
                           "icdf": lambda d: d.icdf(torch.full_like(torch.tensor(value), 0.3))}[what]
        for what, f in items.items():
            y = f(make(*ps))  # a fresh distribution each time: its lazy probs / logits graph is freed by grad
            if not y.requires_grad:  # Categorical's nan mean / variance
                out[f"{name}.{what}"] = [y.numpy().copy()]
                continue
            grads = torch.autograd.grad(y.sum(), ps, allow_unused=True)
            out[f"{name}.{what}"] = [y.detach().numpy().copy()] + [None if g is None else g.numpy().copy()
                                                                    for g in grads]

    record("normal", lambda loc, scale: Normal(loc, scale), values["normal"], ("cdf", "icdf"))
    record("beta", lambda a, b: Beta(a, b), values["beta"])
    record("gamma", lambda a, r: Gamma(a, r), values["gamma"])
    record("dirichlet", lambda c: Dirichlet(c), values["dirichlet"])
    record("lognormal", lambda loc, scale: LogNormal(loc, scale), values["lognormal"], ("cdf", "icdf"))
    record("studentt", lambda df, loc, scale: StudentT(df, loc, scale), values["studentt"])
    record("laplace", lambda loc, scale: Laplace(loc, scale), values["laplace"], ("cdf", "icdf"))
    record("bernoulli", lambda logits: Bernoulli(logits=logits), values["bernoulli"])
    record("bernoulli_probs", lambda probs: Bernoulli(probs=probs), values["bernoulli_probs"])
    record("categorical", lambda logits: Categorical(logits=logits), values["categorical"])
    record("mvn", lambda loc, L: MultivariateNormal(loc, scale_tril=L), values["mvn"])
    record("lowrank", lambda loc, W, D: LowRankMultivariateNormal(loc, W, D), values["lowrank"])
    record("independent", lambda loc, scale: Independent(Normal(loc, scale), 1), values["independent"])
    return out


def registered_kls(params):
    """kl_divergence(p, q) and its gradients for the pairs torch registers."""
    pairs = {
        "normal": lambda a, b, c, d: (Normal(a, b), Normal(c, d)),
        "beta": lambda a, b, c, d: (Beta(a, b), Beta(c, d)),
        "gamma": lambda a, b, c, d: (Gamma(a, b), Gamma(c, d)),
        "dirichlet": lambda a, b: (Dirichlet(a), Dirichlet(b)),
        "categorical": lambda a, b: (Categorical(logits=a), Categorical(logits=b)),
        "bernoulli": lambda a, b: (Bernoulli(probs=a), Bernoulli(probs=b)),
        "laplace": lambda a, b, c, d: (Laplace(a, b), Laplace(c, d)),
        "independent": lambda a, b, c, d: (Independent(Normal(a, b), 1), Independent(Normal(c, d), 1)),
        "mvn": lambda a, b, c, d: (MultivariateNormal(a, scale_tril=b), MultivariateNormal(c, scale_tril=d)),
        "onehot": lambda a, b: (OneHotCategorical(logits=a), OneHotCategorical(logits=b)),
        "beta_uniform_free": lambda a, b: (Beta(a, b), Beta(torch.ones_like(a), torch.ones_like(b))),
    }
    out = {}
    for name, make in pairs.items():
        ps = [torch.tensor(p, requires_grad=True) for p in params[name]]
        kl = kl_divergence(*make(*ps))
        grads = torch.autograd.grad(kl.sum(), ps)
        out[name] = [kl.detach().numpy().copy()] + [g.numpy().copy() for g in grads]
    return out


def validation_errors(bad):
    """Each builder from ``bad`` run under validate_args=True: the exception's type name, or "ok"."""
    out = {}
    for name, build in bad.items():
        try:
            build(torch)
            out[name] = "ok"
        except (ValueError, RuntimeError) as e:
            out[name] = type(e).__name__
    return out


BAD = {
    "normal_scale": lambda t: Normal(t.tensor([0.0]), t.tensor([-1.0]), validate_args=True),
    "normal_nan_value": lambda t: Normal(t.tensor([0.0]), t.tensor([1.0]), validate_args=True).log_prob(
        t.tensor([float("nan")])),
    "beta_value": lambda t: Beta(t.tensor([2.0]), t.tensor([2.0]), validate_args=True).log_prob(t.tensor([1.5])),
    "gamma_conc": lambda t: Gamma(t.tensor([0.0]), t.tensor([1.0]), validate_args=True),
    "dirichlet_value": lambda t: Dirichlet(t.tensor([1.0, 1.0]), validate_args=True).log_prob(t.tensor([0.3, 0.3])),
    "categorical_value": lambda t: Categorical(logits=t.zeros(3), validate_args=True).log_prob(t.tensor(3)),
    "bernoulli_value": lambda t: Bernoulli(logits=t.zeros(2), validate_args=True).log_prob(t.tensor([0.5, 1.0])),
    "onehot_value": lambda t: OneHotCategorical(logits=t.zeros(3), validate_args=True).log_prob(
        t.tensor([1.0, 1.0, 0.0])),
    "relaxed_probs": lambda t: RelaxedOneHotCategorical(t.tensor(0.5), probs=t.tensor([-0.1, 0.6, 0.5]),
                                                        validate_args=True),
    "relaxed_temp_unchecked": lambda t: RelaxedOneHotCategorical(t.tensor(-1.0), logits=t.zeros(3),
                                                                 validate_args=True),  # no constraint on it
    "mvn_tril": lambda t: MultivariateNormal(t.zeros(2), scale_tril=t.tensor([[1.0, 1.0], [0.0, 1.0]]),
                                             validate_args=True),
    "studentt_df": lambda t: StudentT(t.tensor([0.0]), validate_args=True),
    "lognormal_value": lambda t: LogNormal(t.tensor([0.0]), t.tensor([1.0]), validate_args=True).log_prob(
        t.tensor([-1.0])),
    "sigmoid_value": lambda t: TransformedDistribution(Normal(t.tensor([0.0]), t.tensor([1.0])),
                                                       [SigmoidTransform()], validate_args=True).log_prob(
        t.tensor([1.5])),
    "good": lambda t: Normal(t.tensor([0.0]), t.tensor([1.0]), validate_args=True).log_prob(t.tensor([3.0])),
}
