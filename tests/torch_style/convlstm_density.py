"""Small models written as ordinary PyTorch code, in the spellings their tutorials and papers' repositories use:

- a ConvLSTM (Shi et al. 2015) predicting the next frame of squares moving on an 12x12 grid: one Conv2d over the
  concatenated input and hidden state, the four gates by ``torch.split``, BCEWithLogitsLoss, Adam and
  clip_grad_norm_;
- a character language model on an ``nn.RNNCell`` whose hidden-to-hidden weight is kept orthogonal by
  ``nn.utils.parametrizations.orthogonal``, its outputs scored by ``nn.AdaptiveLogSoftmaxWithLoss`` (``.loss``,
  ``log_prob``, ``predict``) under RMSprop;
- a heteroscedastic regressor on ``torch.bucketize``-d and raw features, trained with ``nn.GaussianNLLLoss``, a
  count head with ``nn.PoissonNLLLoss``, and a mixture density network scored by
  ``MixtureSameFamily(Categorical, Independent(Normal))``;
- a patch autoencoder: ``nn.Unfold`` into patches, a shared Linear, ``nn.Fold`` back (overlapping patches divided
  by their counts, from folding ones), a step timed under ``torch.profiler.profile`` + ``record_function``.

Each ``run_*`` takes numpy data and returns a log of plain numbers and arrays.
"""

from contextlib import nullcontext

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal


# --- ConvLSTM -----------------------------------------------------------------------------------------------------
class ConvLSTMCell(nn.Module):
    def __init__(self, in_channels, hidden, kernel_size=3):
        super().__init__()
        self.hidden = hidden
        self.conv = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel_size, padding=kernel_size // 2)

    def forward(self, x, state):
        h, c = state
        gates = self.conv(torch.cat([x, h], dim=1))
        i, f, o, g = torch.split(gates, self.hidden, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def init_state(self, batch, size):
        zeros = torch.zeros(batch, self.hidden, *size, device=self.conv.weight.device)
        return zeros, zeros.clone()


class NextFrame(nn.Module):
    def __init__(self, hidden=8):
        super().__init__()
        self.cell = ConvLSTMCell(1, hidden)
        self.head = nn.Conv2d(hidden, 1, 1)

    def forward(self, frames):  # (B, T, 1, H, W) -> logits of frames 1..T, (B, T - 1, 1, H, W)
        b, t, _, height, width = frames.shape
        state = self.cell.init_state(b, (height, width))
        outputs = []
        for step in range(t - 1):
            state = self.cell(frames[:, step], state)
            outputs.append(self.head(state[0]))
        return torch.stack(outputs, dim=1)


def moving_squares(rng, batch, steps=6, size=12):
    frames = np.zeros((batch, steps, 1, size, size), np.float32)
    for b in range(batch):
        y, x = rng.integers(0, size - 3, 2)
        dy, dx = rng.choice([-1, 1], 2)
        for s in range(steps):
            frames[b, s, 0, y:y + 3, x:x + 3] = 1.0
            if not 0 <= y + dy <= size - 3:
                dy = -dy
            if not 0 <= x + dx <= size - 3:
                dx = -dx
            y, x = y + dy, x + dx
    return frames


def run_convlstm(model, batches):
    criterion = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    log = {"loss": [], "norm": []}
    for frames in batches:
        frames = torch.from_numpy(frames)
        logits = model(frames)
        loss = criterion(logits, frames[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        log["norm"].append(nn.utils.clip_grad_norm_(model.parameters(), 1.0).item())
        optimizer.step()
        log["loss"].append(loss.item())
    with torch.no_grad():
        predicted = (torch.sigmoid(model(torch.from_numpy(batches[0]))) > 0.5).float()
        log["pixels_right"] = (predicted == torch.from_numpy(batches[0])[:, 1:]).float().mean().item()
    return log


# --- orthogonal RNNCell language model ----------------------------------------------------------------------------
class CharRNN(nn.Module):
    def __init__(self, vocab, embed=8, hidden=16, cutoffs=(4, 12)):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.cell = nn.RNNCell(embed, hidden, nonlinearity="tanh")
        nn.utils.parametrizations.orthogonal(self.cell, "weight_hh")
        self.out = nn.AdaptiveLogSoftmaxWithLoss(hidden, vocab, list(cutoffs), div_value=2.0)

    def hidden_states(self, tokens):  # (B, T) -> (B * T, hidden)
        h = torch.zeros(tokens.size(0), self.cell.hidden_size)
        states = []
        for x in self.embed(tokens).unbind(1):
            h = self.cell(x, h)
            states.append(h)
        return torch.stack(states, dim=1).reshape(-1, self.cell.hidden_size)

    def forward(self, tokens, targets):
        return self.out(self.hidden_states(tokens), targets.reshape(-1))


def run_char_rnn(model, batches):
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-2, alpha=0.9)
    log = {"loss": [], "output": []}
    for tokens in batches:
        tokens = torch.from_numpy(tokens)
        result = model(tokens[:, :-1], tokens[:, 1:])
        log["output"].append(result.output.detach().numpy().copy())
        optimizer.zero_grad()
        result.loss.backward()
        optimizer.step()
        log["loss"].append(result.loss.item())
    weight = model.cell.weight_hh
    log["orthogonal"] = (weight.T @ weight - torch.eye(weight.size(0))).abs().max().item()
    with torch.no_grad():
        states = model.hidden_states(torch.from_numpy(batches[0][:, :-1]))
        log["log_prob"] = model.out.log_prob(states).numpy()
        log["predict"] = model.out.predict(states).tolist()
        log["prob_sum"] = model.out.log_prob(states).exp().sum(1).numpy()
    return log


# --- density regression -------------------------------------------------------------------------------------------
class Regressor(nn.Module):
    def __init__(self, bins, components=3):
        super().__init__()
        self.register_buffer("boundaries", torch.linspace(-2, 2, bins - 1))
        self.bucket = nn.Embedding(bins, 4)
        self.body = nn.Sequential(nn.Linear(5, 32), nn.Tanh())
        self.mean, self.log_var = nn.Linear(32, 1), nn.Linear(32, 1)
        self.rate = nn.Linear(32, 1)
        self.mixture = nn.Linear(32, 3 * components)
        self.components = components

    def forward(self, x):  # x: (N, 1)
        buckets = torch.bucketize(x.squeeze(1), self.boundaries)
        h = self.body(torch.cat([x, self.bucket(buckets)], dim=1))
        return h, buckets

    def mdn(self, h):
        logits, mu, log_sigma = self.mixture(h).chunk(3, dim=-1)
        components = Independent(Normal(mu.unsqueeze(-1), log_sigma.exp().unsqueeze(-1)), 1)
        return MixtureSameFamily(Categorical(logits=logits), components)


def run_regressor(model, batches):
    gaussian = nn.GaussianNLLLoss(eps=1e-4)
    poisson = nn.PoissonNLLLoss(log_input=True, full=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=1e-2)
    log = {"gaussian": [], "poisson": [], "mdn": [], "buckets": []}
    for x, y, counts in batches:
        x, y, counts = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(counts)
        h, buckets = model(x)
        log["buckets"].append(buckets.tolist())
        var = F.softplus(model.log_var(h))
        losses = (gaussian(model.mean(h), y, var), poisson(model.rate(h), counts),
                  -model.mdn(h).log_prob(y).mean())
        optimizer.zero_grad()
        sum(losses).backward()
        optimizer.step()
        for key, value in zip(("gaussian", "poisson", "mdn"), losses):
            log[key].append(value.item())
    with torch.no_grad():
        h, _ = model(torch.from_numpy(batches[0][0]))
        mixture = model.mdn(h)
        log["mdn_mean"] = mixture.mean.numpy()
        log["mdn_variance"] = mixture.variance.numpy()
        logits, mu, log_sigma = model.mixture(h).chunk(3, dim=-1)
        univariate = MixtureSameFamily(Categorical(logits=logits), Normal(mu, log_sigma.exp()))
        log["mdn_cdf"] = univariate.cdf(torch.from_numpy(batches[0][1]).squeeze(1)).numpy()
    return log


# --- patch autoencoder --------------------------------------------------------------------------------------------
class PatchAutoencoder(nn.Module):
    def __init__(self, size=12, patch=4, stride=2, code=6):
        super().__init__()
        self.unfold = nn.Unfold(kernel_size=patch, stride=stride)
        self.fold = nn.Fold(output_size=size, kernel_size=patch, stride=stride)
        self.encode = nn.Linear(patch * patch, code)
        self.decode = nn.Linear(code, patch * patch)
        self.size = size

    def forward(self, images):  # (B, 1, H, W)
        patches = self.unfold(images).transpose(1, 2)  # (B, L, patch * patch)
        patches = self.decode(torch.relu(self.encode(patches)))
        summed = self.fold(patches.transpose(1, 2))
        counts = self.fold(self.unfold(torch.ones_like(images)))
        return summed / counts


def run_patches(model, batches):
    from torch.profiler import ProfilerActivity, profile, record_function

    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    log = {"loss": []}
    for index, images in enumerate(batches):
        images = torch.from_numpy(images)
        profiler = profile(activities=[ProfilerActivity.CPU]) if index == 0 else nullcontext()
        with profiler as prof, record_function("train_step"):
            loss = F.mse_loss(model(images), images)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if index == 0:
            log["profiled"] = "train_step" in [event.key for event in prof.key_averages()]
        log["loss"].append(loss.item())
    return log


def run(weights=None):
    """All four on fixed numpy data; the first call's initial weights under ``"weights"``, loaded from ``weights``."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    models = {"convlstm": NextFrame(), "char": CharRNN(20), "regressor": Regressor(6), "patches": PatchAutoencoder()}
    initial = {name: {k: v.detach().numpy().copy() for k, v in m.state_dict().items()} for name, m in models.items()}
    if weights is not None:
        for name, m in models.items():
            m.load_state_dict({k: torch.from_numpy(v) for k, v in weights[name].items()})
    x = [rng.uniform(-3, 3, (32, 1)).astype(np.float32) for _ in range(4)]
    log = {
        "convlstm": run_convlstm(models["convlstm"], [moving_squares(rng, 4) for _ in range(4)]),
        "char": run_char_rnn(models["char"], [rng.integers(0, 20, (4, 9)) for _ in range(4)]),
        "regressor": run_regressor(models["regressor"], [
            (xi, (np.sin(xi) + 0.1 * np.abs(xi) * rng.standard_normal(xi.shape)).astype(np.float32),
             rng.poisson(np.exp(0.5 * xi)).astype(np.float32)) for xi in x]),
        "patches": run_patches(models["patches"], [rng.uniform(0, 1, (4, 1, 12, 12)).astype(np.float32)
                                                   for _ in range(3)]),
        "params": {name: {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
                   for name, m in models.items()},
        "weights": initial,
    }
    return log
