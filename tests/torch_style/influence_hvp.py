"""Influence functions (Koh & Liang, 2017) and the Hessian tools behind them, on a small tanh MLP regressor in
float64, written the way the usual PyTorch influence / pyhessian-style scripts do it:

- ``hvp_double_backward``: Pearlmutter's trick by double backward: ``autograd.grad(loss, params,
  create_graph=True)``, then the gradient of ``sum(g . v)``.
- ``flat_loss``: the loss as a function of ONE flat parameter vector (``parameters_to_vector`` to build it, split
  and ``view`` back into a ``functional_call`` parameter dict), for ``torch.autograd.functional.hvp`` / ``vhp`` /
  ``hessian`` and torch.func's reverse-over-reverse ``vjp(grad(f))`` and ``hessian``; ``dict_loss`` for the
  forward-over-reverse ``jvp(grad(f))`` over the parameter dict (the torch.func tutorial's hvp).
- ``finite_difference_hvp``: the central difference of gradients at ``theta +- eps v`` (written into the model by
  ``vector_to_parameters``), Pearlmutter's check.
- ``top_eigenvalue``: power iteration on HVPs.
- ``lissa_inverse_hvp``: the LiSSA recursion ``h <- v + (1 - damping) h - H_batch h / scale`` over numpy-drawn
  mini-batches, ``h / scale`` approximating ``(H + damping * scale * I)^-1 v``.
- ``influence_scores``: ``-grad L(z_i) . s_test`` for each training point, with ``s_test`` from LiSSA and exactly
  from ``torch.linalg.solve`` on the damped Hessian."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, hessian, jvp, vjp
from torch.nn.utils import parameters_to_vector, vector_to_parameters


class MLP(nn.Module):
    def __init__(self, n_in=3, hidden=5):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x))).squeeze(-1)


def loss_on(model, x, y):
    return F.mse_loss(model(x), y)


def hvp_double_backward(model, x, y, vecs):
    params = [p for p in model.parameters() if p.requires_grad]
    loss = loss_on(model, x, y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    dot = sum((g * v).sum() for g, v in zip(grads, vecs))
    return torch.autograd.grad(dot, params)


def unflatten_like(flat, model):
    """{name: tensor} views of ``flat`` (P,) shaped like the model's parameters."""
    names = [n for n, _ in model.named_parameters()]
    sizes = [p.numel() for p in model.parameters()]
    pieces = torch.split(flat, sizes)
    return {n: piece.view_as(p) for n, piece, p in zip(names, pieces, model.parameters())}


def flat_loss(model, x, y):
    def f(flat):
        return F.mse_loss(functional_call(model, unflatten_like(flat, model), (x,)), y)
    return f


def dict_loss(model, x, y):
    """The loss of a {name: tensor} parameter dict, squared error spelled out (torch 2.13's forward-over-reverse
    through F.mse_loss raises about immutable ZeroTensors)."""
    def f(params):
        return ((functional_call(model, params, (x,)) - y) ** 2).mean()
    return f


def finite_difference_hvp(model, x, y, v_flat, eps=1e-5):
    theta = parameters_to_vector(model.parameters()).detach().clone()
    params = list(model.parameters())

    def grad_at(point):
        vector_to_parameters(point, model.parameters())
        return parameters_to_vector(torch.autograd.grad(loss_on(model, x, y), params))

    with torch.no_grad():
        plus_point, minus_point = theta + eps * v_flat, theta - eps * v_flat
    estimate = (grad_at(plus_point) - grad_at(minus_point)) / (2 * eps)
    vector_to_parameters(theta, model.parameters())  # put the weights back
    return estimate


def to_param_shapes(v_flat, model):
    return [t.detach() for t in unflatten_like(v_flat, model).values()]


def top_eigenvalue(model, x, y, v0, iters=50):
    v = v0 / v0.norm()
    eigenvalue = None
    for _ in range(iters):
        hv = parameters_to_vector(hvp_double_backward(model, x, y, to_param_shapes(v, model)))
        eigenvalue = torch.dot(hv, v).item()  # Rayleigh quotient
        v = hv / (hv.norm() + 1e-12)
    return eigenvalue, v


def lissa_inverse_hvp(model, x, y, v_flat, rng, depth=200, batch_size=16, damping=0.05, scale=10.0):
    h = v_flat.clone()
    for _ in range(depth):
        idx = torch.from_numpy(rng.choice(len(x), batch_size, replace=False))
        hv = parameters_to_vector(hvp_double_backward(model, x[idx], y[idx], to_param_shapes(h, model)))
        h = v_flat + (1 - damping) * h - hv / scale
    return h / scale


def per_example_grads(model, x, y):
    params = list(model.parameters())
    rows = []
    for i in range(len(x)):
        g = torch.autograd.grad(loss_on(model, x[i:i + 1], y[i:i + 1]), params)
        rows.append(parameters_to_vector(g))
    return torch.stack(rows)  # (N, P)


def fit(model, x, y, steps=60, lr=0.1):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_on(model, x, y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def analyse(model, x_np, y_np, x_test_np, y_test_np, v_np, seed=0, damping=0.05, scale=10.0):
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    x_test, y_test = torch.from_numpy(x_test_np), torch.from_numpy(y_test_np)
    out = {"fit": fit(model, x, y)}
    theta = parameters_to_vector(model.parameters()).detach()
    v = torch.from_numpy(v_np)
    f = flat_loss(model, x, y)

    out["hvp_double"] = parameters_to_vector(hvp_double_backward(model, x, y, to_param_shapes(v, model)))
    value, hv = torch.autograd.functional.hvp(f, theta, v)
    out["f_value"], out["hvp"] = value, hv
    out["vhp"] = torch.autograd.functional.vhp(f, theta, v)[1]
    out["hessian"] = torch.autograd.functional.hessian(f, theta)
    # torch.func: forward-over-reverse on the parameter dict, reverse-over-reverse and hessian on the flat vector
    params = {k: p.detach() for k, p in model.named_parameters()}
    tangents = dict(zip(params, to_param_shapes(v, model)))
    fwd_rev = jvp(grad(dict_loss(model, x, y)), (params,), (tangents,))[1]
    out["hvp_fwd_rev"] = torch.cat([fwd_rev[k].reshape(-1) for k in params])
    out["hvp_rev_rev"] = vjp(grad(f), theta)[1](v)[0]
    out["func_hessian"] = hessian(f)(theta)
    out["hvp_fd"] = finite_difference_hvp(model, x, y, v)
    out["theta_back"] = parameters_to_vector(model.parameters()).detach()

    out["top_eig"], out["top_vec"] = top_eigenvalue(model, x, y, v)
    out["eigvals"] = torch.linalg.eigvalsh(out["hessian"])

    test_grad = parameters_to_vector(torch.autograd.grad(loss_on(model, x_test, y_test), list(model.parameters())))
    rng = np.random.default_rng(seed)
    s_test = lissa_inverse_hvp(model, x, y, test_grad, rng, damping=damping, scale=scale)
    damped = out["hessian"] + damping * scale * torch.eye(len(theta), dtype=theta.dtype)
    s_exact = torch.linalg.solve(damped, test_grad)
    train_grads = per_example_grads(model, x, y)
    out["s_test"], out["s_exact"] = s_test, s_exact
    out["influence"] = -(train_grads @ s_test) / len(x)
    out["influence_exact"] = -(train_grads @ s_exact) / len(x)
    out["most_helpful"] = torch.argsort(out["influence"])[:3].tolist()
    return {k: (t.detach().numpy().copy() if isinstance(t, torch.Tensor) else t) for k, t in out.items()}
