"""Hamiltonian Neural Networks (greydanus/hamiltonian-nn) and a Lagrangian Neural Network in the style of
MilesCranmer/lagrangian_nns ported to torch, shrunk to tiny sizes.

- ``MLP``: three Linears (the last without bias) with ``orthogonal_`` weights and a ``choose_nonlinearity``
  activation; ``HNN`` splits its 2-column output into F1, F2 by ``y.split(1, 1)``, takes ``autograd.grad(F.sum(), x,
  create_graph=True)`` and maps dF2 through the symplectic ``permutation_tensor`` (``torch.eye`` + ``torch.cat`` of
  its rows, or the Levi-Civita pattern built by in-place slice products), ``dF @ M.t()``; with ``baseline=True`` the
  MLP predicts the derivatives directly.
- The mass-spring (H = p^2 + q^2) and pendulum (H = 3(1 - cos q) + p^2) datasets in numpy: trajectories by a numpy
  RK4, noisy coordinates, exact derivatives.
- ``train``: Adam(weight_decay=1e-4) on ``L2_loss`` between the true and predicted time derivatives (or the RK4
  increment ``rk4_time_derivative``), test losses and the final-loss print.
- ``integrate_model``: the learned field integrated by the utils' hand-written ``rk4`` with ``requires_grad_`` on
  the state each step and ``.detach()``; energies along it.
- ``LNN``: an MLP L(q, q_t) with softplus; q_tt = pinv(d2L/dq_t2) (dL/dq - d2L/dq dq_t q_t) by
  ``torch.autograd.functional.hessian`` / ``jacobian`` per sample with ``torch.linalg.solve`` or by ``torch.func``
  (``hessian``, ``grad``, ``jacrev(jacrev)``) under ``vmap`` with ``torch.linalg.pinv``; trained by Adam, optionally
  with a penalty on the Jacobian of the learned dynamics (``jacrev`` under ``vmap``, or
  ``autograd.functional.jacobian(create_graph=True)``)."""

# ruff: noqa: UP008, UP032, E731, N802, SIM108, B007, RUF059 - the repository's own spellings
import numpy as np
import torch

# ------------------------------------------------------------------ nn_models.py


def choose_nonlinearity(name):
    nl = None
    if name == 'tanh':
        nl = torch.tanh
    elif name == 'relu':
        nl = torch.relu
    elif name == 'sigmoid':
        nl = torch.sigmoid
    elif name == 'softplus':
        nl = torch.nn.functional.softplus
    elif name == 'selu':
        nl = torch.nn.functional.selu
    elif name == 'elu':
        nl = torch.nn.functional.elu
    elif name == 'swish':
        nl = lambda x: x * torch.sigmoid(x)
    else:
        raise ValueError("nonlinearity not recognized")
    return nl


class MLP(torch.nn.Module):
    '''Just a salt-of-the-earth MLP'''

    def __init__(self, input_dim, hidden_dim, output_dim, nonlinearity='tanh'):
        super(MLP, self).__init__()
        self.linear1 = torch.nn.Linear(input_dim, hidden_dim)
        self.linear2 = torch.nn.Linear(hidden_dim, hidden_dim)
        self.linear3 = torch.nn.Linear(hidden_dim, output_dim, bias=None)

        for l in [self.linear1, self.linear2, self.linear3]:
            torch.nn.init.orthogonal_(l.weight)  # use a principled initialization

        self.nonlinearity = choose_nonlinearity(nonlinearity)

    def forward(self, x, separate_fields=False):
        h = self.nonlinearity(self.linear1(x))
        h = self.nonlinearity(self.linear2(h))
        return self.linear3(h)


class HNN(torch.nn.Module):
    '''Learn arbitrary vector fields that are sums of conservative and solenoidal fields'''

    def __init__(self, input_dim, differentiable_model, field_type='solenoidal',
                 baseline=False, assume_canonical_coords=True):
        super(HNN, self).__init__()
        self.baseline = baseline
        self.differentiable_model = differentiable_model
        self.assume_canonical_coords = assume_canonical_coords
        self.M = self.permutation_tensor(input_dim)  # Levi-Civita permutation tensor
        self.field_type = field_type

    def forward(self, x):
        # traditional forward pass
        if self.baseline:
            return self.differentiable_model(x)

        y = self.differentiable_model(x)
        assert y.dim() == 2 and y.shape[1] == 2, "Output tensor should have shape [batch_size, 2]"
        return y.split(1, 1)

    def rk4_time_derivative(self, x, dt):
        return rk4(fun=self.time_derivative, y0=x, t=0, dt=dt)

    def time_derivative(self, x, t=None, separate_fields=False):
        '''NEURAL ODE-STLE VECTOR FIELD'''
        if self.baseline:
            return self.differentiable_model(x)

        '''NEURAL HAMILTONIAN-STLE VECTOR FIELD'''
        F1, F2 = self.forward(x)  # traditional forward pass

        conservative_field = torch.zeros_like(x)  # start out with both components set to 0
        solenoidal_field = torch.zeros_like(x)

        if self.field_type != 'solenoidal':
            dF1 = torch.autograd.grad(F1.sum(), x, create_graph=True)[0]  # gradients for conservative field
            conservative_field = dF1 @ torch.eye(*self.M.shape)

        if self.field_type != 'conservative':
            dF2 = torch.autograd.grad(F2.sum(), x, create_graph=True)[0]  # gradients for solenoidal field
            solenoidal_field = dF2 @ self.M.t()

        if separate_fields:
            return [conservative_field, solenoidal_field]

        return conservative_field + solenoidal_field

    def permutation_tensor(self, n):
        M = None
        if self.assume_canonical_coords:
            M = torch.eye(n)
            M = torch.cat([M[n // 2:], -M[:n // 2]])
        else:
            '''Constructs the Levi-Civita permutation tensor'''
            M = torch.ones(n, n)  # matrix of ones
            M *= 1 - torch.eye(n)  # clear diagonals
            M[::2] *= -1  # pattern of signs
            M[:, ::2] *= -1

            for i in range(n):  # make asymmetric
                for j in range(i + 1, n):
                    M[i, j] *= -1
        return M


# ------------------------------------------------------------------ utils.py


def L2_loss(u, v):
    return (u - v).pow(2).mean()


def rk4(fun, y0, t, dt, *args, **kwargs):
    dt2 = dt / 2.0
    k1 = fun(y0, t, *args, **kwargs)
    k2 = fun(y0 + dt2 * k1, t + dt2, *args, **kwargs)
    k3 = fun(y0 + dt2 * k2, t + dt2, *args, **kwargs)
    k4 = fun(y0 + dt * k3, t + dt, *args, **kwargs)
    dy = dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return dy


# ------------------------------------------------------------------ data.py (spring / pendulum)


def hamiltonian_fn(coords, system='spring'):
    q, p = np.split(coords, 2, axis=-1)
    if system == 'spring':
        H = p ** 2 + q ** 2  # spring hamiltonian (linear oscillator)
    else:
        H = 3 * (1 - np.cos(q)) + p ** 2  # pendulum hamiltonian
    return H[..., 0]


def dynamics_fn(t, coords, system='spring'):
    q, p = np.split(coords, 2, axis=-1)
    dHdq = 2 * q if system == 'spring' else 3 * np.sin(q)
    dHdp = 2 * p
    return np.concatenate([dHdp, -dHdq], axis=-1)  # S = dH/dp, -dH/dq


def get_trajectory(rng, t_span=(0, 3), timescale=4, radius=None, y0=None, noise_std=0.1, system='spring'):
    n = int(timescale * (t_span[1] - t_span[0]))
    t_eval = np.linspace(t_span[0], t_span[1], n)
    if y0 is None:
        y0 = rng.rand(2) * 2 - 1
    if radius is None:
        radius = rng.rand() + (0.1 if system == 'spring' else 1.3)
    y0 = y0 / np.sqrt((y0 ** 2).sum()) * radius  # set the appropriate radius
    ys, y, dt = [y0], y0, t_eval[1] - t_eval[0]
    for _ in t_eval[1:]:  # numpy RK4 in place of solve_ivp(rtol=1e-10)
        for _sub in range(10):
            h = dt / 10
            k1 = dynamics_fn(None, y, system)
            k2 = dynamics_fn(None, y + h / 2 * k1, system)
            k3 = dynamics_fn(None, y + h / 2 * k2, system)
            k4 = dynamics_fn(None, y + h * k3, system)
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        ys.append(y)
    ys = np.stack(ys)
    dydt = dynamics_fn(None, ys, system)
    q, p = ys[:, 0], ys[:, 1]
    dqdt, dpdt = dydt[:, 0], dydt[:, 1]
    q += rng.randn(*q.shape) * noise_std  # add noise
    p += rng.randn(*p.shape) * noise_std
    return q, p, dqdt, dpdt, t_eval


def get_dataset(seed=0, samples=6, test_split=0.5, system='spring'):
    data = {'meta': dict(seed=seed, samples=samples, system=system)}
    rng = np.random.RandomState(seed)
    xs, dxs = [], []
    for s in range(samples):
        x, y, dx, dy, t = get_trajectory(rng, system=system)
        xs.append(np.stack([x, y]).T)
        dxs.append(np.stack([dx, dy]).T)
    data['x'] = np.concatenate(xs)
    data['dx'] = np.concatenate(dxs).squeeze()

    split_ix = int(len(data['x']) * test_split)  # make a train/test split
    split_data = {}
    for k in ['x', 'dx']:
        split_data[k], split_data['test_' + k] = data[k][:split_ix], data[k][split_ix:]
    data.update(split_data)
    return data


# ------------------------------------------------------------------ train.py


def make_model(input_dim=2, hidden_dim=16, baseline=False, nonlinearity='tanh', field_type='solenoidal',
               assume_canonical_coords=True):
    output_dim = input_dim if baseline else 2
    nn_model = MLP(input_dim, hidden_dim, output_dim, nonlinearity)
    return HNN(input_dim, differentiable_model=nn_model, field_type=field_type, baseline=baseline,
               assume_canonical_coords=assume_canonical_coords)


def train(model, data, learn_rate=1e-2, total_steps=8, print_every=4, use_rk4=False, verbose=True):
    optim = torch.optim.Adam(model.parameters(), learn_rate, weight_decay=1e-4)

    # arrange data
    x = torch.tensor(data['x'], requires_grad=True, dtype=torch.float32)
    test_x = torch.tensor(data['test_x'], requires_grad=True, dtype=torch.float32)
    # The original writes torch.Tensor(data['dx']) of the float64 array; ours keeps a float64 array's dtype there
    # (README, Differences from PyTorch), so the float32 array both libraries make float32:
    dxdt = torch.Tensor(data['dx'].astype(np.float32))
    test_dxdt = torch.Tensor(data['test_dx'].astype(np.float32))

    # vanilla train loop
    stats = {'train_loss': [], 'test_loss': [], 'grad_norm': [], 'params': [], 'lines': []}
    for step in range(total_steps + 1):

        # train step
        dxdt_hat = model.rk4_time_derivative(x, dt=0.25) / 0.25 if use_rk4 else model.time_derivative(x)
        loss = L2_loss(dxdt, dxdt_hat)
        loss.backward()
        grad = torch.cat([p.grad.flatten() for p in model.parameters()]).clone()
        optim.step()
        optim.zero_grad()

        # run test data
        test_dxdt_hat = model.time_derivative(test_x)
        test_loss = L2_loss(test_dxdt, test_dxdt_hat)

        # logging
        stats['train_loss'].append(loss.item())
        stats['test_loss'].append(test_loss.item())
        stats['grad_norm'].append(grad @ grad)
        stats['params'].append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
        if verbose and step % print_every == 0:
            stats['lines'].append("step {}, train_loss {:.4e}, test_loss {:.4e}".format(
                step, loss.item(), test_loss.item()))

    train_dxdt_hat = model.time_derivative(x)
    train_dist = (dxdt - train_dxdt_hat) ** 2
    test_dxdt_hat = model.time_derivative(test_x)
    test_dist = (test_dxdt - test_dxdt_hat) ** 2
    stats['lines'].append('Final train loss {:.4e} +/- {:.4e}\nFinal test loss {:.4e} +/- {:.4e}'.format(
        train_dist.mean().item(), train_dist.std().item() / np.sqrt(train_dist.shape[0]),
        test_dist.mean().item(), test_dist.std().item() / np.sqrt(test_dist.shape[0])))
    stats['grad_norm'] = [g.item() for g in stats['grad_norm']]
    return stats


# ------------------------------------------------------------------ analysis: integrate the learned field


def integrate_model(model, y0, dt=0.1, steps=10):
    '''The learned field by the hand-written RK4, a fresh leaf each step.'''
    x = torch.tensor(y0, dtype=torch.float32).view(1, 2)
    path = [x]
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        dx = rk4(model.time_derivative, x, 0, dt)
        x = (x + dx).detach()
        path.append(x)
    return torch.cat(path)


def energies(model, path, system='spring'):
    '''True energy along the path, and the learned Hamiltonian F2 (shifted to 0 at the start).'''
    true = hamiltonian_fn(path.numpy().astype(np.float64), system)
    with torch.no_grad():
        learned = model(path)[1].squeeze(1) if not model.baseline else None
    return true, (learned - learned[0]).numpy() if learned is not None else None


# ------------------------------------------------------------------ lagrangian_nns, ported to torch


class LNN(torch.nn.Module):
    '''L(q, q_t) by an MLP of softplus layers.'''

    def __init__(self, n=2, hidden_dim=16):
        super().__init__()
        self.n = n
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2 * n, hidden_dim), torch.nn.Softplus(),
            torch.nn.Linear(hidden_dim, hidden_dim), torch.nn.Softplus(),
            torch.nn.Linear(hidden_dim, 1))

    def forward(self, q, q_t):
        return self.net(torch.cat([q, q_t], dim=-1)).squeeze(-1)


def lagrangian_eom(lagrangian, state):
    '''One state (2n,): q_tt = H^-1 (dL/dq - d2L/dq_t dq q_t) by torch.autograd.functional.'''
    q, q_t = torch.split(state, state.shape[0] // 2)
    H = torch.autograd.functional.hessian(lambda v: lagrangian(q, v), q_t, create_graph=True)
    g = torch.autograd.functional.jacobian(lambda u: lagrangian(u, q_t), q, create_graph=True)
    J = torch.autograd.functional.jacobian(
        lambda u: torch.autograd.functional.jacobian(lambda v: lagrangian(u, v), q_t, create_graph=True),
        q, create_graph=True)
    q_tt = torch.linalg.solve(H, g - J @ q_t)
    return torch.cat([q_t, q_tt])


def lagrangian_eom_func(model, params, state):
    '''The same by torch.func (hessian, grad, jacrev of jacrev) with pinv, as the jax original writes it.'''
    def L(q, q_t):
        return torch.func.functional_call(model, params, (q, q_t))

    q, q_t = torch.split(state, state.shape[0] // 2)
    H = torch.func.hessian(L, argnums=1)(q, q_t)
    g = torch.func.grad(L, argnums=0)(q, q_t)
    J = torch.func.jacrev(torch.func.jacrev(L, argnums=1), argnums=0)(q, q_t)
    q_tt = torch.linalg.pinv(H) @ (g - J @ q_t)
    return torch.cat([q_t, q_tt])


def coupled_pendulum_data(rng, n_samples=8):
    '''States (q1, q2, q1_t, q2_t) and their derivatives for two pendulums joined by a spring.'''
    state = rng.uniform(-1, 1, (n_samples, 4))
    q1, q2, w1, w2 = state.T
    a1 = -np.sin(q1) - 0.5 * (q1 - q2)
    a2 = -np.sin(q2) - 0.5 * (q2 - q1)
    return state, np.stack([w1, w2, a1, a2], axis=1)


def eom_jacobian(model, state, use_func=True):
    '''d(state_t)/d(state) of the learned dynamics at each state: jacrev of the func eom under vmap, or
    autograd.functional.jacobian of the solve eom per state (create_graph, so that it trains).'''
    if use_func:
        params = dict(model.named_parameters())
        eom = lambda s: lagrangian_eom_func(model, params, s)
        return torch.func.vmap(torch.func.jacrev(eom))(state)
    eom = lambda s: lagrangian_eom(model, s)
    return torch.stack([torch.autograd.functional.jacobian(eom, s, create_graph=True) for s in state])


def train_lnn(model, state, target, steps=4, lr=1e-3, use_func=True, jac_weight=0.0):
    opt = torch.optim.Adam(model.parameters(), lr)
    x = torch.tensor(state, dtype=torch.float32)
    y = torch.tensor(target, dtype=torch.float32)
    log = {'loss': [], 'grad_norm': [], 'params': [], 'pred': []}
    for step in range(steps):
        if use_func:
            params = dict(model.named_parameters())
            eom = lambda p, s: lagrangian_eom_func(model, p, s)
            pred = torch.func.vmap(eom, in_dims=(None, 0))(params, x)
        else:
            pred = torch.stack([lagrangian_eom(model, s) for s in x])
        loss = torch.mean((pred - y) ** 2)
        if jac_weight:  # a smoothness penalty on the learned dynamics: through pinv / solve twice
            loss = loss + jac_weight * eom_jacobian(model, x, use_func).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        norm = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters() if p.grad is not None))
        opt.step()
        log['loss'].append(loss.item())
        log['grad_norm'].append(norm.item())
        log['pred'].append(pred.detach().numpy().copy())
        log['params'].append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
    return log
