"""Neural Processes (Garnelo et al. 2018) as EmilienDupont/neural-processes writes them: models.py's Encoder (x, y) ->
r_i, MuSigmaEncoder (sigma = 0.1 + 0.9 * sigmoid) and Decoder (z repeated over the points, softplus sigma),
neural_process.py's NeuralProcess (mean aggregation, ``Normal`` latents, ``rsample``, train / eval paths),
training.py's NeuralProcessTrainer (Python ``randint`` context sizes, the -log-likelihood + KL loss by
``kl_divergence``), utils.py's ``context_target_split`` (``np.random.choice`` locations), datasets.py's SineData, the
example notebook's Adam loop, posterior and prior predictions and a ``state_dict`` round trip; plus the Attentive
Neural Process's deterministic path (Kim et al. 2019: uniform, laplace, dot-product and multihead cross-attention
of the targets over the context) as a small extension. Tiny sizes."""
# ruff: noqa: RUF059, SIM108, UP039 - the repository's spelling (unused size unpacking, if / else, ``class X():``)

import math
from math import pi
from random import randint

import numpy as np
import torch
from torch import nn
from torch.distributions import Normal
from torch.distributions.kl import kl_divergence
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset


# ---- models.py ----
class Encoder(nn.Module):
    """Maps an (x_i, y_i) pair to a representation r_i."""

    def __init__(self, x_dim, y_dim, h_dim, r_dim):
        super(Encoder, self).__init__()  # noqa: UP008 - the repository's spelling

        self.x_dim = x_dim
        self.y_dim = y_dim
        self.h_dim = h_dim
        self.r_dim = r_dim

        layers = [nn.Linear(x_dim + y_dim, h_dim),
                  nn.ReLU(inplace=True),
                  nn.Linear(h_dim, h_dim),
                  nn.ReLU(inplace=True),
                  nn.Linear(h_dim, r_dim)]

        self.input_to_hidden = nn.Sequential(*layers)

    def forward(self, x, y):
        input_pairs = torch.cat((x, y), dim=1)
        return self.input_to_hidden(input_pairs)


class MuSigmaEncoder(nn.Module):
    """Maps a representation r to mu and sigma which will define the normal distribution from which we sample the
    latent variable z."""

    def __init__(self, r_dim, z_dim):
        super(MuSigmaEncoder, self).__init__()  # noqa: UP008

        self.r_dim = r_dim
        self.z_dim = z_dim

        self.r_to_hidden = nn.Linear(r_dim, r_dim)
        self.hidden_to_mu = nn.Linear(r_dim, z_dim)
        self.hidden_to_sigma = nn.Linear(r_dim, z_dim)

    def forward(self, r):
        hidden = torch.relu(self.r_to_hidden(r))
        mu = self.hidden_to_mu(hidden)
        # Define sigma following convention in "Empirical Evaluation of Neural Process Objectives" and "Attentive
        # Neural Processes"
        sigma = 0.1 + 0.9 * torch.sigmoid(self.hidden_to_sigma(hidden))
        return mu, sigma


class Decoder(nn.Module):
    """Maps target input x_target and samples z (encoding information about the context points) to predictions
    y_target."""

    def __init__(self, x_dim, z_dim, h_dim, y_dim):
        super(Decoder, self).__init__()  # noqa: UP008

        self.x_dim = x_dim
        self.z_dim = z_dim
        self.h_dim = h_dim
        self.y_dim = y_dim

        layers = [nn.Linear(x_dim + z_dim, h_dim),
                  nn.ReLU(inplace=True),
                  nn.Linear(h_dim, h_dim),
                  nn.ReLU(inplace=True),
                  nn.Linear(h_dim, h_dim),
                  nn.ReLU(inplace=True)]

        self.xz_to_hidden = nn.Sequential(*layers)
        self.hidden_to_mu = nn.Linear(h_dim, y_dim)
        self.hidden_to_sigma = nn.Linear(h_dim, y_dim)

    def forward(self, x, z):
        batch_size, num_points, _ = x.size()
        # Repeat z, so it can be concatenated with every x. This changes shape from (batch_size, z_dim) to
        # (batch_size, num_points, z_dim)
        z = z.unsqueeze(1).repeat(1, num_points, 1)
        # Flatten x and z to fit with linear layer
        x_flat = x.view(batch_size * num_points, self.x_dim)
        z_flat = z.view(batch_size * num_points, self.z_dim)
        # Input is concatenation of z with every row of x
        input_pairs = torch.cat((x_flat, z_flat), dim=1)
        hidden = self.xz_to_hidden(input_pairs)
        mu = self.hidden_to_mu(hidden)
        pre_sigma = self.hidden_to_sigma(hidden)
        # Reshape output into expected shape
        mu = mu.view(batch_size, num_points, self.y_dim)
        pre_sigma = pre_sigma.view(batch_size, num_points, self.y_dim)
        # Define sigma following convention in "Empirical Evaluation of Neural Process Objectives" and "Attentive
        # Neural Processes"
        sigma = 0.1 + 0.9 * F.softplus(pre_sigma)
        return mu, sigma


# ---- neural_process.py ----
class NeuralProcess(nn.Module):
    """Implements Neural Process for functions of arbitrary dimensions."""

    def __init__(self, x_dim, y_dim, r_dim, z_dim, h_dim):
        super(NeuralProcess, self).__init__()  # noqa: UP008
        self.x_dim = x_dim
        self.y_dim = y_dim
        self.r_dim = r_dim
        self.z_dim = z_dim
        self.h_dim = h_dim

        # Initialize networks
        self.xy_to_r = Encoder(x_dim, y_dim, h_dim, r_dim)
        self.r_to_mu_sigma = MuSigmaEncoder(r_dim, z_dim)
        self.xz_to_y = Decoder(x_dim, z_dim, h_dim, y_dim)

    def aggregate(self, r_i):
        """Aggregates representations for every (x_i, y_i) pair into a single representation."""
        return torch.mean(r_i, dim=1)

    def xy_to_mu_sigma(self, x, y):
        """Maps (x, y) pairs into the mu and sigma parameters defining the normal distribution of the latent
        variables z."""
        batch_size, num_points, _ = x.size()
        # Flatten tensors, as encoder expects one dimensional inputs
        x_flat = x.view(batch_size * num_points, self.x_dim)
        y_flat = y.contiguous().view(batch_size * num_points, self.y_dim)
        # Encode each point into a representation r_i
        r_i_flat = self.xy_to_r(x_flat, y_flat)
        # Reshape tensors into batches
        r_i = r_i_flat.view(batch_size, num_points, self.r_dim)
        # Aggregate representations r_i into a single representation r
        r = self.aggregate(r_i)
        # Return parameters of distribution
        return self.r_to_mu_sigma(r)

    def forward(self, x_context, y_context, x_target, y_target=None):
        """Given context pairs (x_context, y_context) and target points x_target, returns a distribution over target
        points y_target; while training, also the latent distributions of target and context."""
        # Infer quantities from tensor dimensions
        batch_size, num_context, x_dim = x_context.size()
        _, num_target, _ = x_target.size()
        _, _, y_dim = y_context.size()

        if self.training:
            # Encode target and context (context needs to be encoded to calculate kl term)
            mu_target, sigma_target = self.xy_to_mu_sigma(x_target, y_target)
            mu_context, sigma_context = self.xy_to_mu_sigma(x_context, y_context)
            # Sample from encoded distribution using reparameterization trick
            q_target = Normal(mu_target, sigma_target)
            q_context = Normal(mu_context, sigma_context)
            z_sample = q_target.rsample()
            # Get parameters of output distribution
            y_pred_mu, y_pred_sigma = self.xz_to_y(x_target, z_sample)
            p_y_pred = Normal(y_pred_mu, y_pred_sigma)

            return p_y_pred, q_target, q_context
        else:
            # At testing time, encode only context
            mu_context, sigma_context = self.xy_to_mu_sigma(x_context, y_context)
            # Sample from distribution based on context
            q_context = Normal(mu_context, sigma_context)
            z_sample = q_context.rsample()
            # Predict target points based on context
            y_pred_mu, y_pred_sigma = self.xz_to_y(x_target, z_sample)
            p_y_pred = Normal(y_pred_mu, y_pred_sigma)

            return p_y_pred


# ---- the Attentive Neural Process's deterministic path (a small extension) ----
def uniform_attention(q, v):
    """Every target gets the mean of the context values."""
    total_points = q.shape[1]
    rep = torch.mean(v, dim=1, keepdim=True)
    return rep.repeat(1, total_points, 1)


def laplace_attention(q, k, v, scale, normalise=True):
    """Weights exp(-|q - k|_1 / scale)."""
    k = k.unsqueeze(1)
    q = q.unsqueeze(2)
    unnorm_weights = -torch.abs((k - q) / scale)
    unnorm_weights = unnorm_weights.sum(dim=-1)
    if normalise:
        weights = torch.softmax(unnorm_weights, dim=-1)
    else:
        weights = 1 + torch.tanh(unnorm_weights)
    return torch.einsum('bik,bkj->bij', weights, v)


def dot_product_attention(q, k, v, normalise=True):
    """Scaled dot-product weights."""
    d_k = q.shape[-1]
    scale = math.sqrt(d_k)
    unnorm_weights = torch.einsum('bjk,bik->bij', k, q) / scale
    if normalise:
        weights = torch.softmax(unnorm_weights, dim=-1)
    else:
        weights = torch.sigmoid(unnorm_weights)
    return torch.einsum('bik,bkj->bij', weights, v)


class Attention(nn.Module):
    """The cross-attention of the target inputs (queries) over the context inputs (keys) and representations
    (values), keys and queries first mapped by an MLP."""

    def __init__(self, x_dim, r_dim, attention_type, num_heads=2):
        super().__init__()
        self.attention_type = attention_type
        self.x_to_key = nn.Sequential(nn.Linear(x_dim, r_dim), nn.ReLU(), nn.Linear(r_dim, r_dim))
        if attention_type == 'multihead':
            self.mha = nn.MultiheadAttention(r_dim, num_heads, batch_first=True)

    def forward(self, x_context, x_target, r_i):
        k, q = self.x_to_key(x_context), self.x_to_key(x_target)
        if self.attention_type == 'uniform':
            return uniform_attention(q, r_i)
        if self.attention_type == 'laplace':
            return laplace_attention(q, k, r_i, scale=1.0)
        if self.attention_type == 'dot_product':
            return dot_product_attention(q, k, r_i)
        rep, _ = self.mha(q, k, r_i)
        return rep


class AttentiveNeuralProcess(NeuralProcess):
    """NeuralProcess plus a deterministic path: each target point's r* attends over the context's r_i; the decoder
    reads (x, r*, z)."""

    def __init__(self, x_dim, y_dim, r_dim, z_dim, h_dim, attention_type='dot_product'):
        super().__init__(x_dim, y_dim, r_dim, z_dim, h_dim)
        self.xy_to_r_det = Encoder(x_dim, y_dim, h_dim, r_dim)
        self.attention = Attention(x_dim, r_dim, attention_type)
        self.xz_to_y = Decoder(x_dim + r_dim, z_dim, h_dim, y_dim)

    def deterministic_rep(self, x_context, y_context, x_target):
        batch_size, num_context, _ = x_context.size()
        r_i = self.xy_to_r_det(x_context.view(batch_size * num_context, self.x_dim),
                               y_context.contiguous().view(batch_size * num_context, self.y_dim))
        r_i = r_i.view(batch_size, num_context, self.r_dim)
        return self.attention(x_context, x_target, r_i)

    def forward(self, x_context, y_context, x_target, y_target=None):
        r_star = self.deterministic_rep(x_context, y_context, x_target)
        x_r = torch.cat((x_target, r_star), dim=-1)
        if self.training:
            mu_target, sigma_target = self.xy_to_mu_sigma(x_target, y_target)
            mu_context, sigma_context = self.xy_to_mu_sigma(x_context, y_context)
            q_target = Normal(mu_target, sigma_target)
            q_context = Normal(mu_context, sigma_context)
            z_sample = q_target.rsample()
            y_pred_mu, y_pred_sigma = self.xz_to_y(x_r, z_sample)
            return Normal(y_pred_mu, y_pred_sigma), q_target, q_context
        mu_context, sigma_context = self.xy_to_mu_sigma(x_context, y_context)
        q_context = Normal(mu_context, sigma_context)
        z_sample = q_context.rsample()
        y_pred_mu, y_pred_sigma = self.xz_to_y(x_r, z_sample)
        return Normal(y_pred_mu, y_pred_sigma)


# ---- utils.py ----
def context_target_split(x, y, num_context, num_extra_target):
    """Given inputs x and their value y, return random subsets of points for context and target. Note that following
    conventions from "Empirical Evaluation of Neural Process Objectives" the context points are chosen as a subset of
    the target points."""
    num_points = x.shape[1]
    # Sample locations of context and target points
    locations = np.random.choice(num_points,
                                 size=num_context + num_extra_target,
                                 replace=False)
    x_context = x[:, locations[:num_context], :]
    y_context = y[:, locations[:num_context], :]
    x_target = x[:, locations, :]
    y_target = y[:, locations, :]
    return x_context, y_context, x_target, y_target


# ---- datasets.py ----
class SineData(Dataset):
    """Dataset of functions f(x) = a * sin(x - b) where a and b are randomly sampled."""

    def __init__(self, amplitude_range=(-1., 1.), shift_range=(-.5, .5),
                 num_samples=1000, num_points=100):
        self.amplitude_range = amplitude_range
        self.shift_range = shift_range
        self.num_samples = num_samples
        self.num_points = num_points
        self.x_dim = 1  # x and y dim are fixed for this dataset.
        self.y_dim = 1

        # Generate data
        self.data = []
        a_min, a_max = amplitude_range
        b_min, b_max = shift_range
        for i in range(num_samples):  # noqa: B007
            # Sample random amplitude
            a = (a_max - a_min) * np.random.rand() + a_min
            # Sample random shift
            b = (b_max - b_min) * np.random.rand() + b_min
            # Shape (num_points, x_dim)
            x = torch.linspace(-pi, pi, num_points).unsqueeze(1)
            # Shape (num_points, y_dim)
            y = a * torch.sin(x - b)
            self.data.append((x, y))

    def __getitem__(self, index):
        return self.data[index]

    def __len__(self):
        return self.num_samples


# ---- training.py ----
class NeuralProcessTrainer():
    """Class to handle training of Neural Processes for functions."""

    def __init__(self, device, neural_process, optimizer, num_context_range,
                 num_extra_target_range, print_freq=100):
        self.device = device
        self.neural_process = neural_process
        self.optimizer = optimizer
        self.num_context_range = num_context_range
        self.num_extra_target_range = num_extra_target_range
        self.print_freq = print_freq

        self.steps = 0
        self.epoch_loss_history = []
        # Added for the comparison: per-step terms, gradient norms and parameters
        self.history = {"log_likelihood": [], "kl": [], "loss": [], "grad_norm": [], "params": [], "sizes": []}

    def train(self, data_loader, epochs):
        for epoch in range(epochs):
            epoch_loss = 0.
            for i, data in enumerate(data_loader):  # noqa: B007
                self.optimizer.zero_grad()

                # Sample number of context and target points
                num_context = randint(*self.num_context_range)
                num_extra_target = randint(*self.num_extra_target_range)

                # Create context and target points and apply neural process
                x, y = data
                x_context, y_context, x_target, y_target = \
                    context_target_split(x, y, num_context, num_extra_target)
                p_y_pred, q_target, q_context = \
                    self.neural_process(x_context, y_context, x_target, y_target)

                loss = self._loss(p_y_pred, y_target, q_target, q_context)
                loss.backward()
                self._record(num_context, num_extra_target)
                self.optimizer.step()
                self.history["params"].append({k: v.detach().numpy().copy()
                                               for k, v in self.neural_process.state_dict().items()})

                epoch_loss += loss.item()

                self.steps += 1

                if self.steps % self.print_freq == 0:
                    print("iteration {}, loss {:.3f}".format(self.steps, loss.item()))  # noqa: UP032

            print("Epoch: {}, Avg_loss: {}".format(epoch, epoch_loss / len(data_loader)))  # noqa: UP032
            self.epoch_loss_history.append(epoch_loss / len(data_loader))

    def _loss(self, p_y_pred, y_target, q_target, q_context):
        """Computes Neural Process loss."""
        # Log likelihood has shape (batch_size, num_target, y_dim). Take mean over batch and sum over number of
        # targets and dimensions of y
        log_likelihood = p_y_pred.log_prob(y_target).mean(dim=0).sum()
        # KL has shape (batch_size, r_dim). Take mean over batch and sum over r_dim (since r_dim is dimension of
        # normal distribution)
        kl = kl_divergence(q_target, q_context).mean(dim=0).sum()
        self.history["log_likelihood"].append(log_likelihood.item())
        self.history["kl"].append(kl.item())
        return -log_likelihood + kl

    def _record(self, num_context, num_extra_target):
        self.history["loss"].append(self.history["kl"][-1] - self.history["log_likelihood"][-1])
        self.history["grad_norm"].append(
            math.sqrt(sum(p.grad.pow(2).sum().item() for p in self.neural_process.parameters()
                      if p.grad is not None)))
        self.history["sizes"].append((num_context, num_extra_target))


# ---- the example notebook ----
x_dim = 1
y_dim = 1
r_dim = 8  # Dimension of representation of context points
z_dim = 4  # Dimension of sampled latent variable
h_dim = 16  # Dimension of hidden layers in encoder and decoder
batch_size = 2
num_points = 20


def train_sine(neuralprocess, epochs=2, num_samples=8, path=None, resume_at=None, attentive=False):
    """The notebook's training: SineData, a DataLoader, Adam(lr=3e-4 scaled up for a short run) and the trainer;
    with ``resume_at``, the model and optimizer are saved after that many epochs and reloaded into fresh ones."""
    dataset = SineData(amplitude_range=(-1., 1.), shift_range=(-.5, .5),
                       num_samples=num_samples, num_points=num_points)
    data_loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    optimizer = torch.optim.Adam(neuralprocess.parameters(), lr=3e-3)
    device = torch.device("cpu")
    np_trainer = NeuralProcessTrainer(device, neuralprocess, optimizer,
                                      num_context_range=(3, 8),
                                      num_extra_target_range=(4, 6),
                                      print_freq=3)
    neuralprocess.training = True
    if resume_at is None:
        np_trainer.train(data_loader, epochs)
    else:
        np_trainer.train(data_loader, resume_at)
        torch.save({'model': neuralprocess.state_dict(), 'optimizer': optimizer.state_dict()}, path)
        history, steps = np_trainer.history, np_trainer.steps
        neuralprocess = type(neuralprocess)(x_dim, y_dim, r_dim, z_dim, h_dim, **(
            {'attention_type': neuralprocess.attention.attention_type} if attentive else {}))
        optimizer = torch.optim.Adam(neuralprocess.parameters(), lr=3e-3)
        checkpoint = torch.load(path)
        neuralprocess.load_state_dict(checkpoint['model'])
        optimizer.load_state_dict(checkpoint['optimizer'])
        np_trainer = NeuralProcessTrainer(device, neuralprocess, optimizer, (3, 8), (4, 6), print_freq=3)
        np_trainer.history, np_trainer.steps = history, steps
        neuralprocess.training = True
        np_trainer.train(data_loader, epochs - resume_at)
    return neuralprocess, dataset, np_trainer


def predict(neuralprocess, dataset, num_samples=3):
    """The notebook's predictions: prior samples decoded with z ~ N(0, I), then the posterior predictive (mean and
    std) from 4 context points of the first function, ``neuralprocess.training = False``."""
    out = {"prior_mu": [], "post_mu": [], "post_std": []}
    # The notebook writes torch.Tensor(np.linspace(-pi, pi, 100)); ours keeps a float64 array's dtype there (README,
    # Differences from PyTorch), so the float32 spelling both libraries agree on:
    x_target = torch.tensor(np.linspace(-pi, pi, 12), dtype=torch.float32)
    x_target = x_target.unsqueeze(1).unsqueeze(0)
    for i in range(num_samples):  # noqa: B007
        z_sample = torch.randn((1, z_dim))
        if not isinstance(neuralprocess, AttentiveNeuralProcess):  # its decoder also reads r*
            mu, _ = neuralprocess.xz_to_y(x_target, z_sample)
            out["prior_mu"].append(mu.detach().numpy()[0])
    neuralprocess.training = False
    x, y = dataset.data[0]
    x, y = x.unsqueeze(0), y.unsqueeze(0)
    x_context, y_context, _, _ = context_target_split(x[0:1], y[0:1], 4, 4)
    for i in range(num_samples):  # noqa: B007
        p_y_pred = neuralprocess(x_context, y_context, x_target)
        # Extract mean of distribution
        mu = p_y_pred.loc.detach()
        std = p_y_pred.scale.detach()
        out["post_mu"].append(mu.numpy()[0])
        out["post_std"].append(std.numpy()[0])
    return out


def save_and_reload(neuralprocess, path, attentive=False):
    """``torch.save`` of the state_dict and ``load_state_dict`` into a fresh model, as main_experiment.py does."""
    torch.save(neuralprocess.state_dict(), path)
    kwargs = {'attention_type': neuralprocess.attention.attention_type} if attentive else {}
    fresh = type(neuralprocess)(x_dim, y_dim, r_dim, z_dim, h_dim, **kwargs)
    fresh.load_state_dict(torch.load(path))
    return fresh
