"""A neural ODE and a small continuous normalizing flow written from scratch, as the "Neural ODEs from scratch" blog
posts write them without torchdiffeq, and FFJORD's Hutchinson trace estimator.

- ``ODEFunc``: an nn.Tanh MLP taking ``(t, y)``, t joined to the state as one more feature.
- ``odeint``: fixed-step Euler or RK4 in a Python loop over the time points, the states ``torch.stack``ed.
- ``fit_spiral``: the torchdiffeq ode_demo's spiral (dy/dt = y**3 A) fitted by its trajectory's ``F.mse_loss`` on
  minibatches of short windows, Adam + ExponentialLR.
- ``CNF``: the log-density's change along the flow by the exact trace (one ``autograd.grad`` per dimension) or by
  Hutchinson's estimator (one vector-Jacobian product with Gaussian noise), the ``MultivariateNormal`` base, the
  negative log-likelihood trained by Adam; evaluation under ``no_grad`` with ``enable_grad`` inside and
  ``detach()`` between steps; samples by integrating back from the base; ``gradcheck`` of the divergence.

The noise (minibatch windows, data, Hutchinson's e, base samples) comes from numpy so that both libraries see it."""

import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import MultivariateNormal


class ODEFunc(nn.Module):
    def __init__(self, dim=2, hidden=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim + 1, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, dim),
        )
        for m in self.net.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, mean=0, std=0.1)
                nn.init.constant_(m.bias, val=0)
        self.nfe = 0

    def forward(self, t, y):
        self.nfe += 1
        t_vec = t.expand(y.shape[0], 1)
        return self.net(torch.cat([y, t_vec], 1))


def euler_step(func, t, dt, y):
    return y + dt * func(t, y)


def rk4_step(func, t, dt, y):
    k1 = func(t, y)
    k2 = func(t + dt / 2, y + dt * k1 / 2)
    k3 = func(t + dt / 2, y + dt * k2 / 2)
    k4 = func(t + dt, y + dt * k3)
    return y + dt * (k1 + 2 * k2 + 2 * k3 + k4) / 6


STEPPERS = {"euler": euler_step, "rk4": rk4_step}


def odeint(func, y0, t, method="rk4"):
    """The states at every time point in t: (len(t), *y0.shape)."""
    step = STEPPERS[method]
    ys = [y0]
    y = y0
    for i in range(len(t) - 1):
        dt = t[i + 1] - t[i]
        y = step(func, t[i], dt, y)
        ys.append(y)
    return torch.stack(ys)


# ------------------------------------------------------------------ the spiral

TRUE_A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]])


class Lambda(nn.Module):
    def forward(self, t, y):
        return torch.mm(y ** 3, TRUE_A)


def spiral(n=40):
    true_y0 = torch.tensor([[2.0, 0.0]])
    t = torch.linspace(0, 1, n)
    with torch.no_grad():
        true_y = odeint(Lambda(), true_y0, t, method="rk4")
    return true_y0, t, true_y


def get_batch(true_y, t, rng, batch_time=5, batch_size=8):
    s = torch.from_numpy(rng.choice(np.arange(len(t) - batch_time, dtype=np.int64), batch_size, replace=False))
    batch_y0 = true_y[s]  # (M, 1, D)
    batch_t = t[:batch_time]  # (T)
    batch_y = torch.stack([true_y[s + i] for i in range(batch_time)], dim=0)  # (T, M, 1, D)
    return batch_y0.squeeze(1), batch_t, batch_y.squeeze(2)


def fit_spiral(func, steps=12, method="rk4", lr=1e-2, gamma=0.9, seed=0, test_every=4):
    true_y0, t, true_y = spiral()
    rng = np.random.RandomState(seed)
    optimizer = torch.optim.Adam(func.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    history = {"true_y": true_y.numpy(), "loss": [], "lr": [], "norm": [], "nfe": [], "test_loss": [],
               "trajectory": []}
    for itr in range(1, steps + 1):
        optimizer.zero_grad()
        batch_y0, batch_t, batch_y = get_batch(true_y, t, rng)
        pred_y = odeint(func, batch_y0, batch_t, method=method)
        loss = F.mse_loss(pred_y, batch_y)
        loss.backward()
        norm = torch.norm(torch.stack([p.grad.norm() for p in func.parameters()]))
        optimizer.step()
        scheduler.step()
        history["loss"].append(loss.item())
        history["norm"].append(norm.item())
        history["lr"].append(scheduler.get_last_lr()[0])
        history["nfe"].append(func.nfe)
        if itr % test_every == 0:
            with torch.no_grad():
                pred_y = odeint(func, true_y0, t, method=method)
                history["test_loss"].append(torch.mean(torch.abs(pred_y - true_y)).item())
                history["trajectory"].append(pred_y.squeeze(1).numpy().copy())
    return history


# ------------------------------------------------------------------ the continuous normalizing flow


def trace_exact(f, z):
    """The Jacobian's trace, one autograd.grad per dimension: (N,)"""
    sum_diag = 0.0
    for i in range(z.shape[1]):
        sum_diag += torch.autograd.grad(f[:, i].sum(), z, create_graph=True)[0][:, i]
    return sum_diag


def trace_hutchinson(f, z, e):
    """Hutchinson's estimate e^T (df/dz) e: (N,)"""
    e_dzdx = torch.autograd.grad(f, z, e, create_graph=True)[0]
    return (e_dzdx * e).sum(1)


class CNF(nn.Module):
    def __init__(self, dim=2, hidden=16, estimator="exact"):
        super().__init__()
        self.odefunc = ODEFunc(dim, hidden)
        self.estimator = estimator
        self.e = None  # Hutchinson's noise, drawn once per solve as FFJORD does

    def dynamics(self, t, state):
        z = state[0]  # d(logp)/dt does not depend on logp
        with torch.set_grad_enabled(True):
            z.requires_grad_(True)
            dz_dt = self.odefunc(t, z)
            div = trace_exact(dz_dt, z) if self.estimator == "exact" else trace_hutchinson(dz_dt, z, self.e)
        return dz_dt, -div.view(-1, 1)

    def integrate(self, z, logp, t, detach=False):
        """RK4 over t on the pair (z, logp), tuples in place of one stacked state."""
        for i in range(len(t) - 1):
            t0, dt = t[i], t[i + 1] - t[i]
            if detach:
                z, logp = z.detach(), logp.detach()
            k1 = self.dynamics(t0, (z, logp))
            k2 = self.dynamics(t0 + dt / 2, (z + dt / 2 * k1[0], logp + dt / 2 * k1[1]))
            k3 = self.dynamics(t0 + dt / 2, (z + dt / 2 * k2[0], logp + dt / 2 * k2[1]))
            k4 = self.dynamics(t0 + dt, (z + dt * k3[0], logp + dt * k3[1]))
            z = z + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
            logp = logp + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        return z, logp

    def forward(self, x, n_steps=4, e=None, detach=False):
        """(z at t=1, the change of log-density): (N, 2), (N, 1)"""
        if self.estimator == "hutchinson":
            self.e = torch.randn_like(x) if e is None else e
        logp_diff = torch.zeros(x.shape[0], 1, dtype=x.dtype)
        return self.integrate(x, logp_diff, torch.linspace(0, 1, n_steps + 1), detach=detach)


base = MultivariateNormal(torch.zeros(2), torch.eye(2))


def log_likelihood(model, x, e=None, detach=False):
    z, logp_diff = model(x, e=e, detach=detach)
    return base.log_prob(z) - logp_diff.view(-1)


def two_circles(rng, n):
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = np.where(rng.uniform(size=n) < 0.5, 0.5, 1.0) + 0.05 * rng.randn(n)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1).astype(np.float32)


def train_cnf(model, steps=6, batch=16, lr=1e-2, seed=0):
    rng = np.random.RandomState(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"loss": [], "norm": []}
    for _ in range(steps):
        optimizer.zero_grad()
        x = torch.from_numpy(two_circles(rng, batch))
        noise = rng.randn(batch, 2).astype(np.float32)
        e = torch.from_numpy(noise) if model.estimator == "hutchinson" else None
        loss = -log_likelihood(model, x, e=e).mean()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1e3)
        optimizer.step()
        history["loss"].append(loss.item())
        history["norm"].append(norm.item())
    return history


def evaluate(model, x):
    """Exact log-likelihoods without keeping the graph: no_grad outside, enable_grad for the trace, states
    detached between steps."""
    estimator, model.estimator = model.estimator, "exact"
    with torch.no_grad():
        with torch.enable_grad():
            z, logp_diff = model(x, detach=True)
        logp = base.log_prob(z.detach()) - logp_diff.detach().view(-1)
    model.estimator = estimator
    return logp, z.detach()


def sample(model, z, n_steps=4):
    """Base samples pushed back from t=1 to t=0."""
    func = model.odefunc
    with torch.no_grad():
        return odeint(func, z, torch.linspace(1, 0, n_steps + 1), method="rk4")[-1]


def check_divergence_gradients(model, n=3, seed=0):
    """gradcheck in float64 of the exact trace and of Hutchinson's estimate as functions of z (double backward),
    and gradgradcheck of the field itself, on a float64 copy of the flow's field; and the gradient of the summed
    exact trace: (n, 2)."""
    rng = np.random.RandomState(seed)
    func = copy.deepcopy(model.odefunc).double()
    z = torch.tensor(rng.randn(n, 2), dtype=torch.float64, requires_grad=True)
    e = torch.tensor(rng.randn(n, 2), dtype=torch.float64)
    t = torch.tensor(0.5, dtype=torch.float64)

    def exact(z):
        return trace_exact(func(t, z), z)

    def hutch(z):
        return trace_hutchinson(func(t, z), z, e)

    ok = (torch.autograd.gradcheck(exact, (z,)), torch.autograd.gradcheck(hutch, z, eps=1e-6, atol=1e-5),
          torch.autograd.gradgradcheck(lambda z: func(t, z), (z,)))
    grad = torch.autograd.grad(exact(z).sum(), z)[0]
    return ok, grad.numpy()
