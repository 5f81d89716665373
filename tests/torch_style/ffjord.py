"""FFJORD (rtqichen/ffjord) continuous normalizing flows on 2-D toy data, as its train_toy.py and lib/layers write
them, shrunk to tiny sizes.

- lib/layers/diffeq_layers: ``ConcatSquashLinear`` (``_layer`` gated by ``sigmoid(_hyper_gate(t))`` plus
  ``_hyper_bias(t)``) and ``ConcatLinear`` (t joined as a feature).
- lib/layers/odefunc.py: ``ODEnet`` (softplus / tanh / swish ... nonlinearities between the layers), the brute-force
  divergence (one ``autograd.grad`` per dimension) and Hutchinson's estimator (a vector-Jacobian product with
  Rademacher or Gaussian e), ``ODEfunc`` with its ``_num_evals`` buffer and ``before_odeint`` reset, and the 2-D
  brute-force hack in eval mode.
- lib/layers/wrappers/cnf_regularization.py: ``RegularizedODEfunc`` integrating the regularizers as extra states
  (FFJORD's l2 / directional-l2 / Jacobian-Frobenius and RNODE's kinetic energy and Jacobian norm from the same e).
- lib/layers/cnf.py: ``CNF`` integrating (z, logp) over ``[0, T]`` or its ``_flip``, ``SequentialFlow``.
- torchdiffeq's fixed-grid ``odeint(func, y0, t, method='rk4' | 'euler', options=dict(step_size=...))`` on tuple
  states, written here in plain torch (torchdiffeq is not a dependency): the grid of ``step_size`` steps, the 3/8-rule
  RK4 step, decreasing times.
- train_toy.py: ``standard_normal_logprob``, ``compute_loss`` (``-mean(logpx)``), Adam with weight decay, the
  RunningAverageMeters and log lines with forward / backward NFE counts, the test loss and best checkpoint under
  ``no_grad`` + ``eval()``, ``get_transforms`` and the density on a grid / samples of ``visualize_transform``.

The data, Hutchinson's e and the prior samples come from numpy generators the caller hands in."""

# ruff: noqa: UP004, UP008, UP032, SIM108, B007 - the repository's own spellings

import argparse
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

# ---------------------------------------------------------------- lib/toy_data.py


def inf_train_gen(data, rng=None, batch_size=200):
    if rng is None:
        rng = np.random.RandomState()
    if data == "8gaussians":
        scale = 4.
        centers = [(1, 0), (-1, 0), (0, 1), (0, -1), (1. / np.sqrt(2), 1. / np.sqrt(2)),
                   (1. / np.sqrt(2), -1. / np.sqrt(2)), (-1. / np.sqrt(2), 1. / np.sqrt(2)),
                   (-1. / np.sqrt(2), -1. / np.sqrt(2))]
        centers = [(scale * x, scale * y) for x, y in centers]
        dataset = []
        for i in range(batch_size):
            point = rng.randn(2) * 0.5
            idx = rng.randint(8)
            center = centers[idx]
            point[0] += center[0]
            point[1] += center[1]
            dataset.append(point)
        dataset = np.array(dataset, dtype="float32")
        dataset /= 1.414
        return dataset
    elif data == "2spirals":
        n = np.sqrt(rng.rand(batch_size // 2, 1)) * 540 * (2 * np.pi) / 360
        d1x = -np.cos(n) * n + rng.rand(batch_size // 2, 1) * 0.5
        d1y = np.sin(n) * n + rng.rand(batch_size // 2, 1) * 0.5
        x = np.vstack((np.hstack((d1x, d1y)), np.hstack((-d1x, -d1y)))) / 3
        x += rng.randn(*x.shape) * 0.1
        return x
    elif data == "checkerboard":
        x1 = rng.rand(batch_size) * 4 - 2
        x2_ = rng.rand(batch_size) - rng.randint(0, 2, batch_size) * 2
        x2 = x2_ + (np.floor(x1) % 2)
        return np.concatenate([x1[:, None], x2[:, None]], 1) * 2
    else:
        raise ValueError(data)


# ---------------------------------------------------------------- lib/layers/diffeq_layers/basic.py


class ConcatLinear(nn.Module):
    def __init__(self, dim_in, dim_out):
        super(ConcatLinear, self).__init__()
        self._layer = nn.Linear(dim_in + 1, dim_out)

    def forward(self, t, x):
        tt = torch.ones_like(x[:, :1]) * t
        ttx = torch.cat([tt, x], 1)
        return self._layer(ttx)


class ConcatSquashLinear(nn.Module):
    def __init__(self, dim_in, dim_out):
        super(ConcatSquashLinear, self).__init__()
        self._layer = nn.Linear(dim_in, dim_out)
        self._hyper_bias = nn.Linear(1, dim_out, bias=False)
        self._hyper_gate = nn.Linear(1, dim_out)

    def forward(self, t, x):
        return self._layer(x) * torch.sigmoid(self._hyper_gate(t.view(1, 1))) \
            + self._hyper_bias(t.view(1, 1))


# ---------------------------------------------------------------- lib/layers/odefunc.py


def divergence_bf(dx, y, **unused_kwargs):
    sum_diag = 0.
    for i in range(y.shape[1]):
        sum_diag += torch.autograd.grad(dx[:, i].sum(), y, create_graph=True)[0].contiguous()[:, i].contiguous()
    return sum_diag.contiguous()


def divergence_approx(f, y, e=None):
    e_dzdx = torch.autograd.grad(f, y, e, create_graph=True)[0]
    e_dzdx_e = e_dzdx * e
    approx_tr_dzdx = e_dzdx_e.view(y.shape[0], -1).sum(dim=1, keepdim=True)
    return approx_tr_dzdx


def sample_rademacher_like(y):
    return torch.randint(low=0, high=2, size=y.shape).to(y) * 2 - 1


def sample_gaussian_like(y):
    return torch.randn_like(y)


class Swish(nn.Module):

    def __init__(self):
        super(Swish, self).__init__()
        self.beta = nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)


class Lambda(nn.Module):

    def __init__(self, f):
        super(Lambda, self).__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


NONLINEARITIES = {
    "tanh": nn.Tanh(),
    "relu": nn.ReLU(),
    "softplus": nn.Softplus(),
    "elu": nn.ELU(),
    "swish": Swish(),
    "square": Lambda(lambda x: x**2),
    "identity": Lambda(lambda x: x),
}


class ODEnet(nn.Module):
    """
    Helper class to make neural nets for use in continuous normalizing flows
    """

    def __init__(self, hidden_dims, input_shape, strides, conv, layer_type="concat", nonlinearity="softplus"):
        super(ODEnet, self).__init__()
        assert not conv, "only the tabular ODEnet here"
        base_layer = {
            "concat": ConcatLinear,
            "concatsquash": ConcatSquashLinear,
        }[layer_type]

        # build layers and add them
        layers = []
        activation_fns = []
        hidden_shape = input_shape

        for dim_out in hidden_dims + (input_shape[0],):
            layer = base_layer(hidden_shape[0], dim_out)
            layers.append(layer)
            activation_fns.append(NONLINEARITIES[nonlinearity])

            hidden_shape = list(hidden_shape)
            hidden_shape[0] = dim_out

        self.layers = nn.ModuleList(layers)
        self.activation_fns = nn.ModuleList(activation_fns[:-1])

    def forward(self, t, y):
        dx = y
        for l, layer in enumerate(self.layers):
            dx = layer(t, dx)
            # if not last layer, use nonlinearity
            if l < len(self.layers) - 1:
                dx = self.activation_fns[l](dx)
        return dx


class ODEfunc(nn.Module):

    def __init__(self, diffeq, divergence_fn="approximate", residual=False, rademacher=False):
        super(ODEfunc, self).__init__()
        assert divergence_fn in ("brute_force", "approximate")

        self.diffeq = diffeq
        self.residual = residual
        self.rademacher = rademacher

        if divergence_fn == "brute_force":
            self.divergence_fn = divergence_bf
        elif divergence_fn == "approximate":
            self.divergence_fn = divergence_approx

        self.register_buffer("_num_evals", torch.tensor(0.))

    def before_odeint(self, e=None):
        self._e = e
        self._num_evals.fill_(0)

    def num_evals(self):
        return self._num_evals.item()

    def forward(self, t, states):
        assert len(states) >= 2
        y = states[0]

        # increment num evals
        self._num_evals += 1

        # convert to tensor
        t = torch.tensor(t).type_as(y)
        batchsize = y.shape[0]

        # Sample and fix the noise.
        if self._e is None:
            if self.rademacher:
                self._e = sample_rademacher_like(y)
            else:
                self._e = sample_gaussian_like(y)

        with torch.set_grad_enabled(True):
            y.requires_grad_(True)
            t.requires_grad_(True)
            for s_ in states[2:]:
                s_.requires_grad_(True)
            dy = self.diffeq(t, y, *states[2:])
            # Hack for 2D data to use brute force divergence computation.
            if not self.training and dy.view(dy.shape[0], -1).shape[1] == 2:
                divergence = divergence_bf(dy, y).view(batchsize, 1)
            else:
                divergence = self.divergence_fn(dy, y, e=self._e).view(batchsize, 1)
        if self.residual:
            dy = dy - y
            divergence -= torch.ones_like(divergence) * torch.tensor(np.prod(y.shape[1:]), dtype=torch.float32
                                                                     ).to(divergence)
        return tuple([dy, -divergence] + [torch.zeros_like(s_).requires_grad_(True) for s_ in states[2:]])


# ---------------------------------------------------------------- lib/layers/wrappers/cnf_regularization.py


class RegularizedODEfunc(nn.Module):
    def __init__(self, odefunc, regularization_fns):
        super(RegularizedODEfunc, self).__init__()
        self.odefunc = odefunc
        self.regularization_fns = regularization_fns

    def before_odeint(self, *args, **kwargs):
        self.odefunc.before_odeint(*args, **kwargs)

    def forward(self, t, state):

        class SharedContext(object):
            pass

        with torch.enable_grad():
            x, logp = state[:2]
            x.requires_grad_(True)
            logp.requires_grad_(True)
            dstate = self.odefunc(t, (x, logp))
            if len(state) > 2:
                dx, dlogp = dstate[:2]
                SharedContext.e = self.odefunc._e
                reg_states = tuple(reg_fn(x, logp, dx, dlogp, SharedContext) for reg_fn in self.regularization_fns)
                return dstate + reg_states
            else:
                return dstate

    @property
    def _num_evals(self):
        return self.odefunc._num_evals


def _batch_root_mean_squared(tensor):
    tensor = tensor.view(tensor.shape[0], -1)
    return torch.mean(torch.norm(tensor, p=2, dim=1) / tensor.shape[1]**0.5)


def l2_regularzation_fn(x, logp, dx, dlogp, unused_context):
    del x, logp, dlogp
    return _batch_root_mean_squared(dx)


def directional_l2_regularization_fn(x, logp, dx, dlogp, unused_context):
    del logp, dlogp
    directional_dx = torch.autograd.grad(dx, x, dx, create_graph=True)[0]
    return _batch_root_mean_squared(directional_dx)


def jacobian_frobenius_regularization_fn(x, logp, dx, dlogp, context):
    del logp, dlogp
    if hasattr(context, "jac"):
        jac = context.jac
    else:
        jac = _get_minibatch_jacobian(dx, x)
        context.jac = jac
    return _batch_root_mean_squared(jac)


def kinetic_energy_regularization_fn(x, logp, dx, dlogp, unused_context):
    """RNODE's kinetic energy: the squared speed of the flow, summed over dimensions, averaged over the batch."""
    del x, logp, dlogp
    return torch.sum(dx**2) / dx.shape[0]


def jacobian_norm2_regularization_fn(x, logp, dx, dlogp, context):
    """RNODE's Jacobian Frobenius norm, estimated from the e of the Hutchinson trace: |e^T df/dx|^2."""
    del logp, dlogp
    e_dzdx = torch.autograd.grad(dx, x, context.e, create_graph=True)[0]
    return e_dzdx.pow(2).view(x.shape[0], -1).sum(dim=1).mean()


def _get_minibatch_jacobian(y, x, create_graph=False):
    """Computes the Jacobian of y wrt x assuming minibatch-mode.

    Args:
      y: (N, ...) with a total of D_y elements in ...
      x: (N, ...) with a total of D_x elements in ...
    Returns:
      The minibatch Jacobian matrix of shape (N, D_y, D_x)
    """
    assert y.shape[0] == x.shape[0]
    y = y.view(y.shape[0], -1)

    # Compute Jacobian row by row.
    jac = []
    for j in range(y.shape[1]):
        dy_j_dx = torch.autograd.grad(y[:, j], x, torch.ones_like(y[:, j]), retain_graph=True,
                                      create_graph=True)[0].view(x.shape[0], -1)
        jac.append(torch.unsqueeze(dy_j_dx, 1))
    jac = torch.cat(jac, 1)
    return jac


# ---------------------------------------------------------------- torchdiffeq's fixed-grid solvers on tuples


_one_third = 1 / 3
_two_thirds = 2 / 3


def _tadd(*pairs):
    """sum_i c_i * y_i elementwise over the tuple states, for (c_i, y_i) pairs."""
    out = None
    for c, ys in pairs:
        term = tuple(c * y_ for y_ in ys)
        out = term if out is None else tuple(o + t_ for o, t_ in zip(out, term))
    return out


def euler_step_func(func, t0, dt, t1, y0):
    f0 = func(t0, y0)
    return tuple(dt * f_ for f_ in f0)


def rk4_alt_step_func(func, t0, dt, t1, y0):
    """Smaller error with slightly more compute (the 3/8 rule), as torchdiffeq's RK4 takes it."""
    k1 = func(t0, y0)
    k2 = func(t0 + dt * _one_third, tuple(y_ + dt * k_ * _one_third for y_, k_ in zip(y0, k1)))
    k3 = func(t0 + dt * _two_thirds, tuple(y_ + dt * (b_ - a_ * _one_third) for y_, a_, b_ in zip(y0, k1, k2)))
    k4 = func(t1, tuple(y_ + dt * (a_ - b_ + c_) for y_, a_, b_, c_ in zip(y0, k1, k2, k3)))
    return tuple((a_ + 3 * (b_ + c_) + d_) * dt * 0.125 for a_, b_, c_, d_ in zip(k1, k2, k3, k4))


SOLVERS = {"euler": euler_step_func, "rk4": rk4_alt_step_func}


def _grid_constructor_from_step_size(step_size):

    def _grid_constructor(func, y0, t):
        start_time = t[0]
        end_time = t[-1]

        niters = torch.ceil((end_time - start_time) / step_size + 1).item()
        t_infer = torch.arange(0, niters, dtype=t.dtype, device=t.device) * step_size + start_time
        t_infer[-1] = t[-1]

        return t_infer
    return _grid_constructor


def odeint(func, y0, t, rtol=1e-7, atol=1e-9, method=None, options=None):
    """torchdiffeq's fixed-grid ``odeint`` on a tuple state: decreasing times integrate the negated field over -t,
    the grid is t itself or ``step_size`` steps, and the states at the times in t come back stacked."""
    del rtol, atol
    options = {} if options is None else dict(options)
    step_func = SOLVERS[method]
    reverse = len(t) > 1 and t[0] > t[1]
    if reverse:
        t = -t
        _base = func
        func = lambda t, y: tuple(-f_ for f_ in _base(-t, y))  # noqa: E731
    step_size = options.pop("step_size", None)
    if step_size is not None:
        grid = _grid_constructor_from_step_size(step_size)(func, y0, t)
    else:
        grid = t
    solution = [[y_] for y_ in y0]
    j = 1
    y = y0
    for t0, t1 in zip(grid[:-1], grid[1:]):
        dt = t1 - t0
        dy = step_func(func, t0, dt, t1, y)
        y1 = tuple(y_ + d_ for y_, d_ in zip(y, dy))
        while j < len(t) and t1 >= t[j]:
            # linear interpolation onto the output time
            for sol, a_, b_ in zip(solution, y, y1):
                sol.append(a_ + (t[j] - t0) / (t1 - t0) * (b_ - a_) if t1 != t[j] else b_)
            j += 1
        y = y1
    return tuple(torch.stack(sol) for sol in solution)


# ---------------------------------------------------------------- lib/layers/cnf.py, container.py


class CNF(nn.Module):
    def __init__(self, odefunc, T=1.0, train_T=False, regularization_fns=None, solver='dopri5', atol=1e-5, rtol=1e-5):
        super(CNF, self).__init__()
        if train_T:
            self.register_parameter("sqrt_end_time", nn.Parameter(torch.sqrt(torch.tensor(T))))
        else:
            self.register_buffer("sqrt_end_time", torch.sqrt(torch.tensor(T)))

        nreg = 0
        if regularization_fns is not None:
            odefunc = RegularizedODEfunc(odefunc, regularization_fns)
            nreg = len(regularization_fns)
        self.odefunc = odefunc
        self.nreg = nreg
        self.regularization_states = None
        self.solver = solver
        self.atol = atol
        self.rtol = rtol
        self.test_solver = solver
        self.test_atol = atol
        self.test_rtol = rtol
        self.solver_options = {}

    def forward(self, z, logpz=None, integration_times=None, reverse=False):

        if logpz is None:
            _logpz = torch.zeros(z.shape[0], 1).to(z)
        else:
            _logpz = logpz

        if integration_times is None:
            integration_times = torch.tensor([0.0, self.sqrt_end_time * self.sqrt_end_time]).to(z)
        if reverse:
            integration_times = _flip(integration_times, 0)

        # Refresh the odefunc statistics.
        self.odefunc.before_odeint()

        # Add regularization states.
        reg_states = tuple(torch.tensor(0).to(z) for _ in range(self.nreg))

        if self.training:
            state_t = odeint(
                self.odefunc,
                (z, _logpz) + reg_states,
                integration_times.to(z),
                atol=[self.atol, self.atol] + [1e20] * len(reg_states) if self.solver == 'dopri5' else self.atol,
                rtol=[self.rtol, self.rtol] + [1e20] * len(reg_states) if self.solver == 'dopri5' else self.rtol,
                method=self.solver,
                options=self.solver_options,
            )
        else:
            state_t = odeint(
                self.odefunc,
                (z, _logpz),
                integration_times.to(z),
                atol=self.test_atol,
                rtol=self.test_rtol,
                method=self.test_solver,
                options=self.solver_options,
            )

        if len(integration_times) == 2:
            state_t = tuple(s[1] for s in state_t)

        z_t, logpz_t = state_t[:2]
        self.regularization_states = state_t[2:]

        if logpz is not None:
            return z_t, logpz_t
        else:
            return z_t

    def get_regularization_states(self):
        reg_states = self.regularization_states
        self.regularization_states = None
        return reg_states

    def num_evals(self):
        return self.odefunc._num_evals.item()


def _flip(x, dim):
    indices = [slice(None)] * x.dim()
    indices[dim] = torch.arange(x.size(dim) - 1, -1, -1, dtype=torch.long, device=x.device)
    return x[tuple(indices)]


class SequentialFlow(nn.Module):
    """A generalized nn.Sequential container for normalizing flows.
    """

    def __init__(self, layersList):
        super(SequentialFlow, self).__init__()
        self.chain = nn.ModuleList(layersList)

    def forward(self, x, logpx=None, reverse=False, inds=None):
        if inds is None:
            if reverse:
                inds = range(len(self.chain) - 1, -1, -1)
            else:
                inds = range(len(self.chain))

        if logpx is None:
            for i in inds:
                x = self.chain[i](x, reverse=reverse)
            return x
        else:
            for i in inds:
                x, logpx = self.chain[i](x, logpx, reverse=reverse)
            return x, logpx


# ---------------------------------------------------------------- train_misc.py, lib/utils.py


REGULARIZATION_FNS = {
    "l2int": l2_regularzation_fn,
    "dl2int": directional_l2_regularization_fn,
    "JFrobint": jacobian_frobenius_regularization_fn,
    "kinetic_energy": kinetic_energy_regularization_fn,
    "jacobian_norm2": jacobian_norm2_regularization_fn,
}

INV_REGULARIZATION_FNS = {v: k for k, v in REGULARIZATION_FNS.items()}


def create_regularization_fns(args):
    regularization_fns = []
    regularization_coeffs = []

    for arg_key, reg_fn in REGULARIZATION_FNS.items():
        if getattr(args, arg_key) is not None:
            regularization_fns.append(reg_fn)
            regularization_coeffs.append(eval("args." + arg_key))

    regularization_fns = tuple(regularization_fns)
    regularization_coeffs = tuple(regularization_coeffs)
    return regularization_fns, regularization_coeffs


def get_regularization(model, regularization_coeffs):
    if len(regularization_coeffs) == 0:
        return None

    acc_reg_states = tuple([0.] * len(regularization_coeffs))
    for module in model.modules():
        if isinstance(module, CNF):
            acc_reg_states = tuple(acc + reg for acc, reg in zip(acc_reg_states, module.get_regularization_states()))
    return acc_reg_states


def append_regularization_to_log(log_message, regularization_fns, reg_states):
    for i, reg_fn in enumerate(regularization_fns):
        log_message = log_message + " | " + INV_REGULARIZATION_FNS[reg_fn] + ": {:.8f}".format(reg_states[i].item())
    return log_message


def set_cnf_options(args, model):

    def _set(module):
        if isinstance(module, CNF):
            # Set training settings
            module.solver = args.solver
            module.atol = args.atol
            module.rtol = args.rtol
            if args.step_size is not None:
                module.solver_options['step_size'] = args.step_size

            # If using fixed-grid adams, restrict order to not be too high.
            if args.solver in ['fixed_adams', 'explicit_adams']:
                module.solver_options['max_order'] = 4

            # Set the test settings
            module.test_solver = args.test_solver if args.test_solver else args.solver
            module.test_atol = args.test_atol if args.test_atol else args.atol
            module.test_rtol = args.test_rtol if args.test_rtol else args.rtol

        if isinstance(module, ODEfunc):
            module.rademacher = args.rademacher
            module.residual = args.residual

    model.apply(_set)


def count_nfe(model):

    class AccNumEvals(object):

        def __init__(self):
            self.num_evals = 0

        def __call__(self, module):
            if isinstance(module, CNF):
                self.num_evals += module.num_evals()

    accumulator = AccNumEvals()
    model.apply(accumulator)
    return accumulator.num_evals


def count_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_total_time(model):

    class Accumulator(object):

        def __init__(self):
            self.total_time = 0

        def __call__(self, module):
            if isinstance(module, CNF):
                self.total_time = self.total_time + module.sqrt_end_time * module.sqrt_end_time

    accumulator = Accumulator()
    model.apply(accumulator)
    return accumulator.total_time


def build_model_tabular(args, dims, regularization_fns=None):

    hidden_dims = tuple(map(int, args.dims.split("-")))

    def build_cnf():
        diffeq = ODEnet(
            hidden_dims=hidden_dims,
            input_shape=(dims,),
            strides=None,
            conv=False,
            layer_type=args.layer_type,
            nonlinearity=args.nonlinearity,
        )
        odefunc = ODEfunc(
            diffeq=diffeq,
            divergence_fn=args.divergence_fn,
            residual=args.residual,
            rademacher=args.rademacher,
        )
        cnf = CNF(
            odefunc=odefunc,
            T=args.time_length,
            train_T=args.train_T,
            regularization_fns=regularization_fns,
            solver=args.solver,
        )
        return cnf

    chain = [build_cnf() for _ in range(args.num_blocks)]
    model = SequentialFlow(chain)

    set_cnf_options(args, model)

    return model


class RunningAverageMeter(object):
    """Computes and stores the average and current value"""

    def __init__(self, momentum=0.99):
        self.momentum = momentum
        self.reset()

    def reset(self):
        self.val = None
        self.avg = 0

    def update(self, val):
        if self.val is None:
            self.avg = val
        else:
            self.avg = self.avg * self.momentum + val * (1 - self.momentum)
        self.val = val


# ---------------------------------------------------------------- train_toy.py


def get_parser():
    SOLVERS_ = ["dopri5", "bdf", "rk4", "midpoint", "adams", "explicit_adams", "fixed_adams", "euler"]
    parser = argparse.ArgumentParser('Continuous Normalizing Flow')
    parser.add_argument('--data', choices=['8gaussians', '2spirals', 'checkerboard'], type=str, default='8gaussians')
    parser.add_argument("--layer_type", type=str, default="concatsquash", choices=["concat", "concatsquash"])
    parser.add_argument('--dims', type=str, default='8-8')
    parser.add_argument("--num_blocks", type=int, default=1, help='Number of stacked CNFs.')
    parser.add_argument('--time_length', type=float, default=0.5)
    parser.add_argument('--train_T', type=eval, default=True)
    parser.add_argument("--divergence_fn", type=str, default="brute_force", choices=["brute_force", "approximate"])
    parser.add_argument("--nonlinearity", type=str, default="tanh", choices=list(NONLINEARITIES))

    parser.add_argument('--solver', type=str, default='rk4', choices=SOLVERS_)
    parser.add_argument('--atol', type=float, default=1e-5)
    parser.add_argument('--rtol', type=float, default=1e-5)
    parser.add_argument("--step_size", type=float, default=0.25, help="Optional fixed step size.")

    parser.add_argument('--test_solver', type=str, default=None, choices=SOLVERS_ + [None])
    parser.add_argument('--test_atol', type=float, default=None)
    parser.add_argument('--test_rtol', type=float, default=None)

    parser.add_argument('--residual', type=eval, default=False, choices=[True, False])
    parser.add_argument('--rademacher', type=eval, default=False, choices=[True, False])

    parser.add_argument('--niters', type=int, default=4)
    parser.add_argument('--batch_size', type=int, default=8)
    parser.add_argument('--test_batch_size', type=int, default=16)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--weight_decay', type=float, default=1e-5)

    # Track quantities
    parser.add_argument('--l2int', type=float, default=None, help="int_t ||f||_2")
    parser.add_argument('--dl2int', type=float, default=None, help="int_t ||f^T df/dt||_2")
    parser.add_argument('--JFrobint', type=float, default=None, help="int_t ||df/dx||_F")
    parser.add_argument('--kinetic_energy', type=float, default=None, help="int_t ||f||_2^2")
    parser.add_argument('--jacobian_norm2', type=float, default=None, help="int_t ||df/dx||_F^2 by e")

    parser.add_argument('--save', type=str, default='experiments/cnf')
    parser.add_argument('--viz_freq', type=int, default=2)
    parser.add_argument('--val_freq', type=int, default=2)
    parser.add_argument('--log_freq', type=int, default=1)
    return parser


def standard_normal_logprob(z):
    logZ = -0.5 * math.log(2 * math.pi)
    return logZ - z.pow(2) / 2


def compute_loss(args, model, rng, batch_size=None):
    if batch_size is None:
        batch_size = args.batch_size

    # load data
    x = inf_train_gen(args.data, rng=rng, batch_size=batch_size)
    x = torch.from_numpy(x).type(torch.float32)
    zero = torch.zeros(x.shape[0], 1).to(x)

    # transform to z
    z, delta_logp = model(x, zero)

    # compute log q(z)
    logpz = standard_normal_logprob(z).sum(1, keepdim=True)

    logpx = logpz - delta_logp
    loss = -torch.mean(logpx)
    return loss


def get_transforms(model):

    def sample_fn(z, logpz=None):
        if logpz is not None:
            return model(z, logpz, reverse=True)
        else:
            return model(z, reverse=True)

    def density_fn(x, logpx=None):
        if logpx is not None:
            return model(x, logpx, reverse=False)
        else:
            return model(x, reverse=False)

    return sample_fn, density_fn


def visualize_transform(prior_sample, prior_logdensity, transform=None, inverse_transform=None, npts=6,
                        memory=4, LOW=-4, HIGH=4):
    """lib/visualize_flow.py's density on an npts x npts grid and samples pushed from the prior, returned instead of
    drawn."""
    side = np.linspace(LOW, HIGH, npts)
    xx, yy = np.meshgrid(side, side)
    z = np.hstack([xx.reshape(-1, 1), yy.reshape(-1, 1)])

    z = torch.tensor(z, requires_grad=True).type(torch.float32)
    zeros = torch.zeros(z.shape[0], 1).to(z)
    z, delta_logp = inverse_transform(z, zeros)

    logpz = prior_logdensity(z).sum(1, keepdim=True)
    logqx = logpz - delta_logp
    qz = np.exp(logqx.cpu().numpy()).reshape(npts, npts)

    z = prior_sample(npts * npts, 2).type(torch.float32)
    zk = []
    inds = torch.arange(0, z.shape[0]).to(torch.int64)
    for ii in torch.split(inds, int(memory**2)):
        zk.append(transform(z[ii]))
    zk = torch.cat(zk, 0).cpu().numpy()
    return qz, zk


def main(argv, model, rng, history, prior_sample=torch.randn, clock=time.time, log=print):
    args = get_parser().parse_args(argv)
    regularization_fns, regularization_coeffs = create_regularization_fns(args)

    log("Number of trainable parameters: {}".format(count_parameters(model)))

    optimizer = optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)

    time_meter = RunningAverageMeter(0.93)
    loss_meter = RunningAverageMeter(0.93)
    nfef_meter = RunningAverageMeter(0.93)
    nfeb_meter = RunningAverageMeter(0.93)
    tt_meter = RunningAverageMeter(0.93)

    end = clock()
    best_loss = float('inf')
    model.train()
    for itr in range(1, args.niters + 1):
        optimizer.zero_grad()

        loss = compute_loss(args, model, rng)
        loss_meter.update(loss.item())

        if len(regularization_coeffs) > 0:
            reg_states = get_regularization(model, regularization_coeffs)
            reg_loss = sum(
                reg_state * coeff for reg_state, coeff in zip(reg_states, regularization_coeffs) if coeff != 0
            )
            loss = loss + reg_loss
            history["reg"].append([r.item() for r in reg_states])

        total_time = count_total_time(model)
        nfe_forward = count_nfe(model)

        loss.backward()
        history["grad_norm"].append(
            torch.norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])).item())
        history["no_grad"].append([n for n, p in model.named_parameters() if p.grad is None])
        optimizer.step()

        nfe_total = count_nfe(model)
        nfe_backward = nfe_total - nfe_forward
        nfef_meter.update(nfe_forward)
        nfeb_meter.update(nfe_backward)

        time_meter.update(clock() - end)
        tt_meter.update(total_time)

        history["loss"].append(loss.item())
        history["nfe"].append((nfe_forward, nfe_backward))
        history["state"].append({k: v.detach().clone().numpy() for k, v in model.state_dict().items()})

        log_message = (
            'Iter {:04d} | Time {:.4f}({:.4f}) | Loss {:.6f}({:.6f}) | NFE Forward {:.0f}({:.1f})'
            ' | NFE Backward {:.0f}({:.1f}) | CNF Time {:.4f}({:.4f})'.format(
                itr, time_meter.val, time_meter.avg, loss_meter.val, loss_meter.avg, nfef_meter.val, nfef_meter.avg,
                nfeb_meter.val, nfeb_meter.avg, tt_meter.val, tt_meter.avg
            )
        )
        if len(regularization_coeffs) > 0:
            log_message = append_regularization_to_log(log_message, regularization_fns, reg_states)

        if itr % args.log_freq == 0:
            log(log_message)

        if itr % args.val_freq == 0 or itr == args.niters:
            with torch.no_grad():
                model.eval()
                test_loss = compute_loss(args, model, rng, batch_size=args.test_batch_size)
                test_nfe = count_nfe(model)
                log_message = '[TEST] Iter {:04d} | Test Loss {:.6f} | NFE {:.0f}'.format(itr, test_loss, test_nfe)
                log(log_message)
                history["test_loss"].append(test_loss.item())
                history["test_nfe"].append(test_nfe)

                if test_loss.item() < best_loss:
                    best_loss = test_loss.item()
                    os.makedirs(args.save, exist_ok=True)
                    torch.save({
                        'args': vars(args),  # the Namespace itself there (kept from when ours pickled nothing)
                        'state_dict': model.state_dict(),
                    }, os.path.join(args.save, 'checkpt.pth'))
                model.train()

        if itr % args.viz_freq == 0:
            with torch.no_grad():
                model.eval()
                sample_fn, density_fn = get_transforms(model)
                qz, zk = visualize_transform(prior_sample, standard_normal_logprob, transform=sample_fn,
                                             inverse_transform=density_fn)
                history["density"].append(qz)
                history["samples"].append(zk)
                model.train()

        end = clock()

    log('Training has finished.')
    return best_loss
