"""A WGAN with gradient penalty (Gulrajani et al. 2017), written as the common GitHub PyTorch code: an MLP critic
of nn.Linear + nn.LeakyReLU + nn.LayerNorm (no batch norm in a WGAN-GP critic) and an MLP generator, on 2-D toy
points (the eight Gaussians) or 8 x 8 images. The penalty is the usual ``calc_gradient_penalty``: interpolates
between real and fake with a numpy-fed ``alpha`` (as ``Tensor(np.random.random(...))`` in PyTorch-GAN), the
critic's gradient by ``torch.autograd.grad(..., create_graph=True)``, ``((||grad||_2 - 1) ** 2).mean() * LAMBDA``.
``n_critic`` critic steps per generator step; the critic's parameters are frozen (``requires_grad_(False)``)
around the generator step. The critic's cost is backpropagated in three parts as the original ``gan_toy.py`` does
(``D_real.backward(mone)``, ``D_fake.backward(one)``, ``gradient_penalty.backward()``), the generator's as
``(-D(G(z)).mean()).backward()``. Adam(lr=1e-4, betas=(0.0, 0.9)) or RMSprop, and optionally a critic wrapped
in ``torch.nn.utils.spectral_norm`` (``sn="hook"``) or ``torch.nn.utils.parametrizations.spectral_norm``
(``sn="parametrization"``). The harness runs it on torch and, with the imports swapped, on ours; the
noise, ``alpha`` and the batches come from numpy so both see the same."""

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

LAMBDA = 10  # gradient penalty weight
CRITIC_ITERS = 5  # critic steps per generator step
DIM = 64  # hidden width
NZ = 8  # latent size
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Generator(nn.Module):
    def __init__(self, out_shape):
        super().__init__()
        self.out_shape = out_shape
        self.net = nn.Sequential(
            nn.Linear(NZ, DIM),
            nn.ReLU(True),
            nn.Linear(DIM, DIM),
            nn.ReLU(True),
            nn.Linear(DIM, int(np.prod(out_shape))),
        )
        self.images = len(out_shape) > 1

    def forward(self, noise):
        output = self.net(noise)
        if self.images:  # pixels in [-1, 1]
            output = torch.tanh(output)
        return output.view(-1, *self.out_shape)


class Critic(nn.Module):
    def __init__(self, in_shape, sn=None):
        super().__init__()
        if sn == "hook":  # the older API: weight_orig, weight_u, weight_v
            wrap = nn.utils.spectral_norm
        elif sn == "parametrization":  # parametrizations.weight.original, ...weight.0._u, ...weight.0._v
            wrap = nn.utils.parametrizations.spectral_norm
        else:
            wrap = lambda m: m  # noqa: E731
        self.main = nn.Sequential(
            wrap(nn.Linear(int(np.prod(in_shape)), DIM)),
            nn.LeakyReLU(0.2, inplace=True),
            wrap(nn.Linear(DIM, DIM)),
            nn.LayerNorm(DIM),
            nn.LeakyReLU(0.2, inplace=True),
            wrap(nn.Linear(DIM, 1)),
        )

    def forward(self, x):
        x = x.view(x.size(0), -1)
        return self.main(x).squeeze(1)


def calc_gradient_penalty(netD, real_data, fake_data, alpha):
    """LAMBDA * E[(||grad_x D(x)||_2 - 1) ** 2] at x = alpha real + (1 - alpha) fake; also the mean norm."""
    b = real_data.size(0)
    alpha = torch.from_numpy(alpha).to(device)
    alpha = alpha.view(b, *([1] * (real_data.dim() - 1))).expand_as(real_data)
    interpolates = (alpha * real_data + (1 - alpha) * fake_data).requires_grad_(True)
    d_interp = netD(interpolates)
    gradients = torch.autograd.grad(outputs=d_interp, inputs=interpolates,
                                    grad_outputs=torch.ones_like(d_interp),
                                    create_graph=True, retain_graph=True, only_inputs=True)[0]
    norms = gradients.view(b, -1).norm(2, dim=1)
    gradient_penalty = ((norms - 1) ** 2).mean() * LAMBDA
    return gradient_penalty, norms.mean().item()


def grad_norm(net):
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    return torch.norm(torch.stack([torch.norm(g.detach(), 2) for g in grads]), 2).item()


def build(shape, sn=None, rmsprop=False, lr=1e-4):
    netG = Generator(shape).to(device)
    netD = Critic(shape, sn).to(device)
    if rmsprop:
        optimizerD = optim.RMSprop(netD.parameters(), lr=lr)
        optimizerG = optim.RMSprop(netG.parameters(), lr=lr)
    else:
        optimizerD = optim.Adam(netD.parameters(), lr=lr, betas=(0.0, 0.9))
        optimizerG = optim.Adam(netG.parameters(), lr=lr, betas=(0.0, 0.9))
    return netG, netD, optimizerG, optimizerD


def train(netG, netD, optimizerG, optimizerD, data, noise, alphas, iters):
    """``iters`` generator steps of ``CRITIC_ITERS`` critic steps each. ``data()`` is the next real batch,
    ``noise(b)`` a (b, NZ) latent batch and ``alphas(b)`` a (b,) interpolation batch, all float32 numpy."""
    one = torch.tensor(1, dtype=torch.float, device=device)
    mone = one * -1
    log = {k: [] for k in ("D_cost", "W_D", "GP", "GP_norm", "D_real", "D_fake", "gradD", "G_cost", "gradG",
                           "frozen_gradD")}
    for _ in range(iters):
        # (1) update the critic
        for p in netD.parameters():  # reset requires_grad: they are set to False below in the netG update
            p.requires_grad_(True)
        for _ in range(CRITIC_ITERS):
            real_data = torch.from_numpy(data()).to(device)
            b = real_data.size(0)
            optimizerD.zero_grad(set_to_none=True)

            D_real = netD(real_data).mean()
            D_real.backward(mone)

            z = torch.from_numpy(noise(b)).to(device)
            with torch.no_grad():
                fake = netG(z)  # totally freeze netG
            D_fake = netD(fake).mean()
            D_fake.backward(one)

            gradient_penalty, gp_norm = calc_gradient_penalty(netD, real_data, fake, alphas(b))
            gradient_penalty.backward()

            D_cost = D_fake - D_real + gradient_penalty
            Wasserstein_D = D_real - D_fake
            log["gradD"].append(grad_norm(netD))
            optimizerD.step()
            log["D_cost"].append(D_cost.item())
            log["W_D"].append(Wasserstein_D.item())
            log["GP"].append(gradient_penalty.item())
            log["GP_norm"].append(gp_norm)
            log["D_real"].append(D_real.item())
            log["D_fake"].append(D_fake.item())

        # (2) update the generator
        for p in netD.parameters():
            p.requires_grad_(False)  # avoid computation
        optimizerG.zero_grad(set_to_none=True)
        z = torch.from_numpy(noise(b)).to(device)
        fake = netG(z)
        G_cost = -netD(fake).mean()
        G_cost.backward()
        log["gradG"].append(grad_norm(netG))
        log["frozen_gradD"].append(grad_norm(netD))  # still the last critic step's gradients
        optimizerG.step()
        log["G_cost"].append(G_cost.item())
    return log


def run(weights, shape, data, noise, alphas, iters, sn=None, rmsprop=False, lr=1e-4):
    """Train from ``weights`` ({'netG': state_dict, 'netD': state_dict}): the log, both final state_dicts, and 64
    samples from ``noise(64)`` in eval mode (numpy)."""
    netG, netD, optimizerG, optimizerD = build(shape, sn, rmsprop, lr)
    netG.load_state_dict(weights["netG"])
    netD.load_state_dict(weights["netD"])
    log = train(netG, netD, optimizerG, optimizerD, data, noise, alphas, iters)
    netG.eval()
    with torch.no_grad():
        samples = netG(torch.from_numpy(noise(64)).to(device)).cpu().numpy()
    return log, netG.state_dict(), netD.state_dict(), samples
