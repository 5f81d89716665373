"""Variational auto-encoder (Kingma & Ba 2015, section 6.4, after Kingma & Welling 2014).

One hidden layer of softplus units in the encoder and in the decoder, a Gaussian posterior
q(z | x) = N(mu, diag(exp(logvar))), a standard normal prior and a Bernoulli decoder p(x | z).
``loss(x)`` is the negative ELBO, -E_q[log p(x | z)] + KL(q(z | x) || p(z)), per example,
averaged over the batch, with one reparameterised sample of z.
"""

from __future__ import annotations

from tinygrad_adam import Tensor, nn
from tinygrad_adam.nn import functional as F


class VAE(nn.Module):
    """x (N, in_features) in [0, 1] -> (decoder logits (N, in_features), mu (N, latent), logvar (N, latent))."""

    def __init__(self, in_features: int = 784, hidden: int = 500, latent: int = 50) -> None:
        self.encoder = nn.Sequential(nn.Linear(in_features, hidden), nn.Softplus())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.Softplus(), nn.Linear(hidden, in_features))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar) of q(z | x)."""
        h = self.encoder(x.flatten(1))
        return self.mu(h), self.logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        """Bernoulli logits of p(x | z)."""
        return self.decoder(z)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(x)
        return self.decode(F.reparameterize(mu, logvar)), mu, logvar

    def loss(self, x: Tensor) -> Tensor:
        """Negative ELBO in nats per example, averaged over the batch (a scalar)."""
        logits, mu, logvar = self(x)
        x = x.flatten(1)
        return (F.gaussian_kl(mu, logvar) - F.bernoulli_log_likelihood(logits, x)).mean()
