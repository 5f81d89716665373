"""Exact Gaussian-process regression written by hand in PyTorch, the way the GPyTorch "simple GP regression"
tutorial's math is re-derived in blog posts: raw hyperparameters as nn.Parameters behind F.softplus (noise with a
1e-4 floor), an RBF kernel by torch.cdist or by the expanded square, cholesky / cholesky_solve, the negative log
marginal likelihood, Adam, the predictive mean and variance by solve_triangular, MultivariateNormal log_prob of
held-out points, a batch of 3 independent outputs, and a jittered cholesky (cholesky_ex) for near-singular kernels.
The harness runs it on torch and, with the imports swapped, on ours."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import MultivariateNormal


def make_data(n=20, n_test=8, outputs=0, duplicates=False, seed=0):
    """(n, 1) inputs on [0, 1] (``duplicates``: every third one repeated, as measured data often are) and noisy sines:
    (n,) targets, or (outputs, n) for a batch of independent outputs; the same for n_test held-out points. float64
    numpy arrays."""
    rng = np.random.RandomState(seed)
    x, xs = rng.uniform(0, 1, (n, 1)), rng.uniform(0, 1, (n_test, 1))
    if duplicates:
        x[1::3] = x[::3][:len(x[1::3])]

    def f(x, k):
        return np.sin(2 * np.pi * x[:, 0] + k) + 0.3 * k * x[:, 0] + 0.1 * rng.randn(len(x))

    if outputs:
        return x, np.stack([f(x, k) for k in range(outputs)]), xs, np.stack([f(xs, k) for k in range(outputs)])
    return x, f(x, 0), xs, f(xs, 0)


def sq_dist_cdist(x1, x2):
    return torch.cdist(x1, x2) ** 2


def sq_dist_expanded(x1, x2):
    # |a|^2 - 2 a.b + |b|^2, the "fast" form; rounding can make it slightly negative
    if x1.dim() == 2:
        res = x1.pow(2).sum(-1, keepdim=True) - 2 * x1 @ x2.T + x2.pow(2).sum(-1)
    else:
        res = x1.pow(2).sum(-1, keepdim=True) - 2 * x1 @ x2.transpose(-2, -1) + x2.pow(2).sum(-1).unsqueeze(-2)
    return res.clamp_min(0)


class ExactGP(nn.Module):
    """A constant-mean GP with an RBF kernel. ``batch`` > 0 gives that many independent GPs (hyperparameters
    of shape (batch, 1, 1)) on the same inputs."""

    def __init__(self, train_x, train_y, init=(0.0, 0.0, 0.0), expanded=False, batch=0, old_api=False,
                 mvn_loss=False):
        super().__init__()
        self.train_x = train_x
        self.train_y = train_y
        shape = (batch, 1, 1) if batch else (1, 1)
        dtype = train_x.dtype
        self.raw_lengthscale = nn.Parameter(torch.full(shape, init[0], dtype=dtype))
        self.raw_outputscale = nn.Parameter(torch.full(shape, init[1], dtype=dtype))
        self.raw_noise = nn.Parameter(torch.full(shape, init[2], dtype=dtype))
        self.mean_constant = nn.Parameter(torch.zeros(shape[:-1], dtype=dtype))
        self.sq_dist = sq_dist_expanded if expanded else sq_dist_cdist
        self.batch = batch
        self.old_api = old_api  # the 2019 blog spelling: torch.cholesky and torch.triangular_solve
        self.mvn_loss = mvn_loss  # the shortest blog version: MultivariateNormal(mean, K).log_prob(y)

    def initialize(self, lengthscale, outputscale, noise):
        """Set the raw parameters from constrained values, by the inverse softplus x + log(-expm1(-x))."""
        with torch.no_grad():
            for raw, value in ((self.raw_lengthscale, lengthscale), (self.raw_outputscale, outputscale),
                               (self.raw_noise, noise - 1e-4)):
                value = torch.as_tensor(value, dtype=raw.dtype)
                raw.copy_(value + torch.log(-torch.expm1(-value)))

    @property
    def lengthscale(self):
        return F.softplus(self.raw_lengthscale)

    @property
    def outputscale(self):
        return F.softplus(self.raw_outputscale)

    @property
    def noise(self):
        return F.softplus(self.raw_noise) + 1e-4

    def kernel(self, x1, x2):
        ls = self.lengthscale
        return self.outputscale * torch.exp(-0.5 * self.sq_dist(x1 / ls, x2 / ls))

    def train_cholesky(self):
        x = self.train_x
        n = x.shape[0]
        K = self.kernel(x, x) + self.noise * torch.eye(n, dtype=x.dtype)
        if self.old_api:
            return torch.cholesky(K)
        return torch.linalg.cholesky(K)

    def forward(self):
        """The negative log marginal likelihood of the training targets, divided by n (summed over a batch)."""
        x, n = self.train_x, self.train_x.shape[0]
        if self.mvn_loss:
            K = self.kernel(x, x) + self.noise * torch.eye(n, dtype=x.dtype)
            prior = MultivariateNormal(self.mean_constant.expand(self.train_y.shape), covariance_matrix=K)
            return -prior.log_prob(self.train_y).sum() / n
        L = self.train_cholesky()
        r = self.train_y - self.mean_constant
        alpha = torch.cholesky_solve(r.unsqueeze(-1), L)
        quad = 0.5 * (r.unsqueeze(-1) * alpha).sum((-2, -1))
        logdet = L.diagonal(dim1=-2, dim2=-1).log().sum(-1) if self.batch else L.diagonal().log().sum()
        nll = quad + logdet + 0.5 * n * math.log(2 * math.pi)
        return nll.sum() / n

    def predict(self, test_x):
        """Predictive mean (..., m), variance of f (..., m), and covariance of y (..., m, m) at (m, d) test points."""
        L = self.train_cholesky()
        K_s = self.kernel(self.train_x, test_x)  # (..., n, m)
        K_ss = self.kernel(test_x, test_x)
        alpha = torch.cholesky_solve((self.train_y - self.mean_constant).unsqueeze(-1), L)
        mean = self.mean_constant + (K_s.transpose(-2, -1) @ alpha).squeeze(-1)
        if self.old_api:
            v = torch.triangular_solve(K_s, L, upper=False)[0]
        else:
            v = torch.linalg.solve_triangular(L, K_s, upper=False)
        var = K_ss.diagonal(dim1=-2, dim2=-1) - (v ** 2).sum(-2)
        cov = K_ss - v.transpose(-2, -1) @ v + self.noise * torch.eye(test_x.shape[0], dtype=test_x.dtype)
        return mean, var, cov


def fit(model, steps=30, lr=0.1):
    """Adam on the marginal likelihood, as the tutorial's loop; the losses, each raw parameter's gradient and the
    printed lines at every step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    out = {"loss": [], "lines": [], **{name: [] for name, _ in model.named_parameters()}}
    for i in range(steps):
        optimizer.zero_grad()
        loss = model()
        loss.backward()
        for name, p in model.named_parameters():
            out[name].append(p.grad.detach().numpy().copy())
        line = 'Iter %d/%d - Loss: %.3f   lengthscale: %.3f   noise: %.3f' % (  # noqa: UP031 - the tutorial's
            i + 1, steps, loss.item(), model.lengthscale.mean().item(), model.noise.mean().item())
        out["loss"].append(loss.item())
        out["lines"].append(line)
        optimizer.step()
    return out


@torch.no_grad()
def evaluate(model, test_x, test_y, eps):
    """Predictions at the held-out points, their log-likelihood under the predictive MultivariateNormal and under
    its marginals, posterior draws from the fed standard-normal ``eps`` (3, ..., m), and the mean and 2-sigma band
    on a grid of 21 points."""
    model.eval()
    mean, var, cov = model.predict(test_x)
    dist = MultivariateNormal(mean, scale_tril=torch.linalg.cholesky(cov))
    samples = dist.loc + (dist.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
    marginal = torch.distributions.Normal(mean, cov.diagonal(dim1=-2, dim2=-1).sqrt()).log_prob(test_y).sum(-1)
    lower, upper = mean - 2 * var.clamp_min(0).sqrt(), mean + 2 * var.clamp_min(0).sqrt()
    rmse = (mean - test_y).pow(2).mean().sqrt()
    grid = torch.linspace(0, 1, 21, dtype=test_x.dtype).unsqueeze(1)
    grid_mean, grid_var, _ = model.predict(grid)
    return {"mean": mean.numpy().copy(), "var": var.numpy().copy(), "cov": cov.numpy().copy(),
            "lower": lower.numpy().copy(), "upper": upper.numpy().copy(),
            "log_prob": dist.log_prob(test_y).numpy().copy(), "marginal": marginal.numpy().copy(),
            "samples": samples.numpy().copy(), "grid_mean": grid_mean.numpy().copy(),
            "grid_band": (2 * grid_var.clamp_min(0).sqrt()).numpy().copy(), "rmse": rmse.item(),
            "params": {k: v.numpy().copy() for k, v in model.state_dict().items()}}


def build(x, y, dtype=torch.float64, values=None, **options):
    """An ExactGP on numpy data converted to ``dtype``, its hyperparameters set from ``values`` ((lengthscale,
    outputscale, noise)) when given."""
    model = ExactGP(torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype), **options)
    if values is not None:
        model.initialize(*values)
    return model


def run(model, xs, ys, steps=30, lr=0.1):
    """Fit the model, then evaluate it on the held-out numpy points."""
    out = fit(model, steps, lr)
    dtype = model.train_x.dtype
    eps = np.random.RandomState(1).randn(3, *np.shape(ys))
    out.update(evaluate(model, *(torch.tensor(a, dtype=dtype) for a in (xs, ys, eps))))
    return out


def psd_safe_cholesky(A, jitter=None, max_tries=4):
    """GPyTorch's recipe: cholesky_ex, then increasing jitter on the diagonal while it fails; NaNs raise.
    Returns L and the jitter used (0.0 when none was needed)."""
    if torch.isnan(A).any():
        raise ValueError("cholesky_cpu: input matrix contains NaNs")
    L, info = torch.linalg.cholesky_ex(A)
    if not torch.any(info):
        return L, 0.0
    if jitter is None:
        jitter = 1e-6 if A.dtype == torch.float32 else 1e-8
    Aprime = A.clone()
    prev = 0.0
    for i in range(max_tries):
        jitter_new = jitter * (10 ** i)
        Aprime.diagonal(dim1=-2, dim2=-1).add_(jitter_new - prev)
        prev = jitter_new
        L, info = torch.linalg.cholesky_ex(Aprime)
        if not torch.any(info):
            return L, jitter_new
    raise ValueError(f"Matrix not positive definite after repeatedly adding jitter up to {jitter_new:.1e}.")


def near_singular(dtype=torch.float64):
    """A kernel on duplicated inputs with (almost) no noise: cholesky's error, cholesky_ex's info per batch entry,
    the NaNs an unguarded factorisation gives downstream, and the jittered factorisation."""
    x = torch.tensor([[0.5], [0.5], [0.0], [1.0], [1.0], [0.25]], dtype=dtype)
    K = torch.exp(-0.5 * torch.cdist(x, x) ** 2 / 0.3 ** 2)
    out = {"K": K.numpy().copy()}
    try:
        torch.linalg.cholesky(K)
        out["error"] = None
    except torch.linalg.LinAlgError as e:
        out["error"] = str(e)
    batch = torch.stack([K, K + 1e-2 * torch.eye(6, dtype=dtype), K + 1e-12 * torch.eye(6, dtype=dtype)])
    L, info = torch.linalg.cholesky_ex(batch)
    out["info"] = info.tolist()
    out["L_ok"] = L[1].numpy().copy()
    try:
        torch.linalg.cholesky(batch)
        out["batch_error"] = None
    except torch.linalg.LinAlgError as e:
        out["batch_error"] = str(e)
    L, out["jitter"] = psd_safe_cholesky(K)
    out["L_jitter"] = L.numpy().copy()
    y = torch.tensor([0.1, -0.2, 0.3, 0.0, 0.5, 0.2], dtype=dtype)
    out["solve_jitter"] = torch.cholesky_solve(y.unsqueeze(-1), L).squeeze(-1).numpy().copy()
    K_nan = batch[1].clone()
    K_nan[2, 2] = float("nan")
    out["nan_info"] = torch.linalg.cholesky_ex(K_nan)[1].item()
    try:
        psd_safe_cholesky(K_nan)
        out["nan_error"] = None
    except ValueError as e:
        out["nan_error"] = str(e)
    return out
