"""A physics-informed neural network (Raissi et al. 2019), written as the common GitHub PyTorch code. An MLP of
nn.Linear + nn.Tanh (or a custom ``Sin`` activation module) maps a point to the solution u; collocation points
come from ``torch.linspace`` + ``torch.meshgrid(..., indexing="ij")`` + ``torch.stack(..., dim=-1).reshape(-1, 2)``
with ``.requires_grad_(True)``; derivatives by ``torch.autograd.grad(u, x, grad_outputs=torch.ones_like(u),
create_graph=True)[0]``, second derivatives by differentiating a sliced column ``u_x[:, 0:1]`` again.

- ``burgers``: the 1-D viscous Burgers equation u_t + u u_x - nu u_xx = 0 on x in [-1, 1], t in [0, 1], with
  u(x, 0) = -sin(pi x) and u(+-1, t) = 0 (the boundary and initial points joined by ``torch.cat``).
- ``poisson``: the 2-D Poisson equation -(u_xx + u_yy) = 2 pi^2 sin(pi x) sin(pi y) on the unit square, u = 0 on
  its edge; its Laplacian is also computed with ``torch.func`` (``hessian`` and ``jacrev(jacrev)`` of a
  ``functional_call`` under ``vmap``, and ``grad`` for the gradient), and can be trained through it.

Training is Adam with ExponentialLR, then ``torch.optim.LBFGS(lr=1, line_search_fn="strong_wolfe")`` with a
closure. The harness runs it on torch and, with the imports swapped, on ours, in float32 and float64."""

import math

import torch
import torch.nn as nn


class Sin(nn.Module):
    """The SIREN-style activation as a module: sin(w0 x)."""

    def __init__(self, w0=1.0):
        super().__init__()
        self.w0 = w0

    def forward(self, x):
        return torch.sin(self.w0 * x)


class PINN(nn.Module):
    def __init__(self, layers=(2, 16, 16, 1), activation="tanh"):
        super().__init__()
        act = nn.Tanh if activation == "tanh" else Sin
        modules = []
        for i in range(len(layers) - 2):
            modules += [nn.Linear(layers[i], layers[i + 1]), act()]
        modules.append(nn.Linear(layers[-2], layers[-1]))
        self.net = nn.Sequential(*modules)

    def forward(self, x):
        return self.net(x)


def gradients(u, x):
    return torch.autograd.grad(u, x, grad_outputs=torch.ones_like(u), create_graph=True)[0]


def grid(a, b, n, dtype):
    """An n x n grid over [a[0], b[0]] x [a[1], b[1]] as (n * n, 2) points that require grad."""
    x = torch.linspace(a[0], b[0], n, dtype=dtype)
    y = torch.linspace(a[1], b[1], n, dtype=dtype)
    X, Y = torch.meshgrid(x, y, indexing="ij")
    return torch.stack([X, Y], dim=-1).reshape(-1, 2).requires_grad_(True)


# ------------------------------------------------------------------ Burgers


NU = 0.01 / math.pi


def burgers_data(n, dtype):
    xt = grid((-1.0, 0.0), (1.0, 1.0), n, dtype)
    t = torch.linspace(0, 1, n, dtype=dtype).unsqueeze(1)
    x = torch.linspace(-1, 1, n, dtype=dtype).unsqueeze(1)
    left = torch.cat([-torch.ones_like(t), t], dim=1)
    right = torch.cat([torch.ones_like(t), t], dim=1)
    initial = torch.cat([x, torch.zeros_like(x)], dim=1)
    xt_b = torch.cat([left, right, initial], dim=0)
    u_b = torch.cat([torch.zeros(2 * n, 1, dtype=dtype), -torch.sin(math.pi * x)], dim=0)
    return xt, xt_b, u_b


def burgers_residual(model, xt):
    u = model(xt)
    du = gradients(u, xt)
    u_x, u_t = du[:, 0:1], du[:, 1:2]
    u_xx = gradients(u_x, xt)[:, 0:1]
    return u_t + u * u_x - NU * u_xx, u, u_x, u_t, u_xx


def burgers_loss(model, data):
    xt, xt_b, u_b = data
    residual = burgers_residual(model, xt)[0]
    loss_pde = torch.mean(residual ** 2)
    loss_bc = torch.mean((model(xt_b) - u_b) ** 2)
    return loss_pde + loss_bc, loss_pde, loss_bc


# ------------------------------------------------------------------ Poisson


def poisson_data(n, dtype):
    xy = grid((0.0, 0.0), (1.0, 1.0), n, dtype)
    on_edge = (xy.detach() == 0).any(dim=1) | (xy.detach() == 1).any(dim=1)
    xy_b = xy.detach()[on_edge]
    interior = xy.detach()[~on_edge].clone().requires_grad_(True)
    f = 2 * math.pi ** 2 * torch.sin(math.pi * interior[:, 0:1]) * torch.sin(math.pi * interior[:, 1:2])
    return interior, f.detach(), xy_b, torch.zeros(xy_b.shape[0], 1, dtype=dtype)


def laplacian_autograd(model, xy):
    u = model(xy)
    du = gradients(u, xy)
    u_xx = gradients(du[:, 0:1], xy)[:, 0:1]
    u_yy = gradients(du[:, 1:2], xy)[:, 1:2]
    return u_xx + u_yy, du


def laplacian_func(model, xy, how="hessian"):
    """The Laplacian by torch.func: the Hessian of u at each point, under vmap, its trace. (n, 1)"""
    params = dict(model.named_parameters())

    def u_single(p, point):
        return torch.func.functional_call(model, p, (point.unsqueeze(0),)).squeeze()

    if how == "hessian":
        second = torch.func.hessian(u_single, argnums=1)
    else:
        second = torch.func.jacrev(torch.func.jacrev(u_single, argnums=1), argnums=1)
    hess = torch.func.vmap(second, in_dims=(None, 0))(params, xy)
    return hess.diagonal(dim1=-2, dim2=-1).sum(-1, keepdim=True)


def grad_func(model, xy):
    """The gradient of u at each point by torch.func.grad under vmap. (n, 2)"""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def u_single(point):
        return torch.func.functional_call(model, params, (point.unsqueeze(0),)).squeeze()

    return torch.func.vmap(torch.func.grad(u_single))(xy.detach())


def poisson_loss(model, data, use_func=False):
    interior, f, xy_b, u_b = data
    lap = laplacian_func(model, interior) if use_func else laplacian_autograd(model, interior)[0]
    residual = -lap - f
    loss_pde = torch.mean(residual ** 2)
    loss_bc = torch.mean((model(xy_b) - u_b) ** 2)
    return loss_pde + loss_bc, loss_pde, loss_bc


# ------------------------------------------------------------------ training


def train(model, loss_fn, adam_steps, lbfgs_iters, lr=1e-2, gamma=0.95):
    history = {"loss": [], "pde": [], "bc": [], "lr": [], "norm": [], "lbfgs": []}
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    for _ in range(adam_steps):
        optimizer.zero_grad()
        loss, loss_pde, loss_bc = loss_fn(model)
        loss.backward()
        norm = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters()))
        optimizer.step()
        scheduler.step()
        history["loss"].append(loss.item())
        history["pde"].append(loss_pde.item())
        history["bc"].append(loss_bc.item())
        history["norm"].append(norm.item())
        history["lr"].append(scheduler.get_last_lr()[0])

    optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=lbfgs_iters, max_eval=lbfgs_iters * 5 // 4,
                                  tolerance_grad=1e-9, tolerance_change=1e-12, history_size=10,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model)[0]
        loss.backward()
        history["lbfgs"].append(loss.item())
        return loss

    final = optimizer.step(closure)
    history["final"] = final.item()
    return history
