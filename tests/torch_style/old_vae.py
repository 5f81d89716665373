"""The pytorch/examples VAE in its 2017-2018 spelling, at a tiny size on synthetic binary 8x8 "images": ``fc1`` /
``fc21`` / ``fc22`` / ``fc3`` / ``fc4`` Linears, ``reparameterize`` written the old way (``logvar.mul(0.5).exp_()``,
``Variable(std.data.new(std.size()).normal_())`` then overwritten by ``copy_`` from numpy noise, which the harness
hands both runs, ``eps.mul(std).add_(mu)``), ``F.binary_cross_entropy(..., size_average=False)``, the
``reduction='sum'`` spelling and the 2017 ``nn.BCELoss`` with its KLD written in place on ``mu.pow(2)``, Adam,
``train_loss += loss.item()`` (``loss.data[0]`` is an error on a 0-d loss), a ``model.eval()`` + ``torch.no_grad()``
test loop with ``torch.cat`` comparisons, sampling from ``randn(64, 20)``-shaped numpy noise (in a
``Variable(..., volatile=True)``), a conditional variant (CVAE) whose one-hot labels come from
``torch.zeros(n, 10).scatter_(1, y.view(-1, 1), 1)``, and a ``torch.save(model.state_dict())`` / ``load_state_dict``
round trip. The harness runs it on torch and, with the imports swapped, on ours."""

import numpy as np
import torch
import torch.nn.functional as F
import torch.optim as optim
from torch import nn
from torch.autograd import Variable

PIXELS, HIDDEN, LATENT, CLASSES = 64, 32, 20, 10


def make_data(n=96, seed=0):
    """Binary 8x8 images (float32, (n, 1, 8, 8)): a class's random template with 10% of its pixels flipped; labels."""
    rng = np.random.default_rng(seed)
    templates = rng.random((CLASSES, PIXELS)) < 0.4
    labels = rng.integers(0, CLASSES, n)
    flips = rng.random((n, PIXELS)) < 0.1
    images = (templates[labels] ^ flips).astype(np.float32).reshape(n, 1, 8, 8)
    return images, labels


def make_noise(steps, batch_size, seed=1):
    """Per training step the reparameterisation noise; the sampling noise (numpy float32)."""
    rng = np.random.default_rng(seed)
    train = rng.standard_normal((steps, batch_size, LATENT)).astype(np.float32)
    return train, rng.standard_normal((64, LATENT)).astype(np.float32)


class VAE(nn.Module):
    def __init__(self, cond=0):
        super(VAE, self).__init__()  # noqa: UP008 - the examples' spelling
        self.fc1 = nn.Linear(PIXELS + cond, HIDDEN)
        self.fc21 = nn.Linear(HIDDEN, LATENT)
        self.fc22 = nn.Linear(HIDDEN, LATENT)
        self.fc3 = nn.Linear(LATENT + cond, HIDDEN)
        self.fc4 = nn.Linear(HIDDEN, PIXELS)
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()
        self.noise = None  # numpy eps for the next reparameterisation (the two libraries' generators differ)

    def encode(self, x):
        h1 = self.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        if self.training:
            std = logvar.mul(0.5).exp_()
            eps = Variable(std.data.new(std.size()).normal_())
            eps.data.copy_(torch.from_numpy(self.noise))
            return eps.mul(std).add_(mu)
        else:
            return mu

    def decode(self, z):
        h3 = self.relu(self.fc3(z))
        return self.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, PIXELS))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


class CVAE(VAE):
    """The conditional variant: the one-hot label concatenated to the encoder's input and to the latent code."""

    def __init__(self):
        super(CVAE, self).__init__(cond=CLASSES)  # noqa: UP008

    def forward(self, x, c):
        mu, logvar = self.encode(torch.cat([x.view(-1, PIXELS), c], 1))
        z = self.reparameterize(mu, logvar)
        return self.decode(torch.cat([z, c], 1)), mu, logvar


def one_hot(y, n=CLASSES):
    return torch.zeros(y.size(0), n).scatter_(1, y.view(-1, 1), 1)


reconstruction_function = nn.BCELoss(size_average=False)


def loss_function(recon_x, x, mu, logvar, spelling=0):
    """Reconstruction + KL divergence losses summed over all elements and batch; (loss, KLD). ``spelling`` 0: the
    2018 example's, 1: with ``reduction='sum'``, 2: the 2017 one's (a BCELoss module, the KLD in place)."""
    if spelling == 0:
        BCE = F.binary_cross_entropy(recon_x, x.view(-1, PIXELS), size_average=False)
    elif spelling == 1:
        BCE = F.binary_cross_entropy(recon_x, x.view(-1, PIXELS), reduction='sum')
    else:
        BCE = reconstruction_function(recon_x, x.view(-1, PIXELS))
        KLD_element = mu.pow(2).add_(logvar.exp()).mul_(-1).add_(1).add_(logvar)
        KLD = torch.sum(KLD_element).mul_(-0.5)
        return BCE + KLD, KLD
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD, KLD


def grad_norm(model):
    return float(sum(p.grad.data.norm(2) ** 2 for p in model.parameters())) ** 0.5


def run(model, images, labels, epochs=3, batch_size=16, lr=1e-3, path=None, cond=False):
    """Train ``epochs`` over the images in order; per step the loss / batch, KLD and gradient norm, per epoch the
    mean train and test losses, the first test batch's comparison grid, samples, and at the end the parameters and
    the reload check."""
    optimizer = optim.Adam(model.parameters(), lr=lr)
    n = len(images)
    steps = epochs * (n // batch_size)
    train_noise, sample_noise = make_noise(steps, batch_size)
    out = {"loss": [], "kld": [], "norm": [], "train": [], "test": [], "data0_raises": None}
    step = 0
    for epoch in range(epochs):
        model.train()
        train_loss = 0
        for batch_idx in range(n // batch_size):
            data = torch.from_numpy(images[batch_idx * batch_size:(batch_idx + 1) * batch_size])
            y = torch.from_numpy(labels[batch_idx * batch_size:(batch_idx + 1) * batch_size])
            data = Variable(data)
            optimizer.zero_grad()
            model.noise = train_noise[step]
            if cond:
                recon_batch, mu, logvar = model(data, one_hot(y))
            else:
                recon_batch, mu, logvar = model(data)
            loss, kld = loss_function(recon_batch, data, mu, logvar, spelling=step % 3)
            loss.backward()
            out["norm"].append(grad_norm(model))
            train_loss += loss.item()
            if out["data0_raises"] is None:
                try:
                    loss.data[0]
                    out["data0_raises"] = False
                except IndexError:
                    out["data0_raises"] = True
            optimizer.step()
            out["loss"].append(loss.item() / len(data))
            out["kld"].append(kld.item())
            step += 1
        out["train"].append(train_loss / n)
        model.eval()
        test_loss = 0
        with torch.no_grad():
            for i in range(2):
                data = torch.from_numpy(images[i * batch_size:(i + 1) * batch_size])
                c = one_hot(torch.from_numpy(labels[i * batch_size:(i + 1) * batch_size]))
                recon_batch, mu, logvar = model(data, c) if cond else model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar)[0].item()
                if i == 0:
                    k = min(data.size(0), 8)
                    comparison = torch.cat([data[:k], recon_batch.view(batch_size, 1, 8, 8)[:k]])
        out["test"].append(test_loss / (2 * batch_size))
        with torch.no_grad():
            sample = Variable(torch.from_numpy(sample_noise), volatile=True)  # the 0.3 spelling: a warning now
            if cond:
                sample = torch.cat([sample, one_hot(torch.arange(64) % CLASSES)], 1)
            sample = model.decode(sample).cpu()
        out[f"comparison{epoch}"] = comparison.numpy().copy()
        out[f"sample{epoch}"] = sample.view(64, 1, 8, 8).numpy().copy()
    out["params"] = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    if path is not None:
        torch.save(model.state_dict(), path)
        fresh = CVAE() if cond else VAE()
        fresh.load_state_dict(torch.load(path))
        fresh.eval()
        with torch.no_grad():
            data = torch.from_numpy(images[:batch_size])
            args = (data, one_hot(torch.from_numpy(labels[:batch_size]))) if cond else (data,)
            out["reloaded"] = fresh(*args)[0].numpy().copy()
            out["same"] = all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(),
                                                                  model.state_dict().values()))
    return out
