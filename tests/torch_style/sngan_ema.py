"""A small SN-GAN the way public PyTorch GAN repos write it (christiancosgrove's
pytorch-spectral-normalization-gan, mimicry): a DCGAN-like generator, a discriminator whose layers are wrapped in
spectral norm (the old hook API ``nn.utils.spectral_norm`` or ``torch.nn.utils.parametrizations.spectral_norm``),
LeakyReLU(0.1), the hinge loss (or the repo's 'wasserstein' and BCEWithLogitsLoss options), Adam(2e-4, betas=(0.0,
0.9)) with ``n_dis`` D steps per G step under ExponentialLR, an EMA generator kept by ``AveragedModel`` +
``get_ema_multi_avg_fn`` (parameters only, or ``use_buffers=True``) with ``update_bn`` before sampling, and a
checkpoint that is reloaded into fresh objects and trained on. Sizes are tiny: 8x8 images, noise of 16."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

Z_DIM = 16
leak = 0.1


class Generator(nn.Module):
    def __init__(self, z_dim=Z_DIM, ngf=8, channels=3):
        super(Generator, self).__init__()  # noqa: UP008 - the repo's spelling
        self.z_dim = z_dim
        self.model = nn.Sequential(
            nn.ConvTranspose2d(z_dim, ngf * 2, 2, stride=1, bias=False),  # 1 -> 2
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, stride=2, padding=1, bias=False),  # 2 -> 4
            nn.BatchNorm2d(ngf),
            nn.ReLU(),
            nn.ConvTranspose2d(ngf, channels, 4, stride=2, padding=1),  # 4 -> 8
            nn.Tanh())

    def forward(self, z):
        return self.model(z.view(-1, self.z_dim, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, ndf=8, channels=3, parametrized=False):
        super(Discriminator, self).__init__()  # noqa: UP008
        SpectralNorm = torch.nn.utils.parametrizations.spectral_norm if parametrized else nn.utils.spectral_norm
        self.ndf = ndf
        self.conv1 = SpectralNorm(nn.Conv2d(channels, ndf, 3, stride=1, padding=(1, 1)))
        self.conv2 = SpectralNorm(nn.Conv2d(ndf, ndf * 2, 4, stride=2, padding=(1, 1)))  # 8 -> 4
        self.conv3 = SpectralNorm(nn.Conv2d(ndf * 2, ndf * 2, 3, stride=1, padding=(1, 1)))
        self.conv4 = SpectralNorm(nn.Conv2d(ndf * 2, ndf * 4, 4, stride=2, padding=(1, 1)))  # 4 -> 2
        self.fc = SpectralNorm(nn.Linear(2 * 2 * ndf * 4, 1))

    def forward(self, x):
        m = x
        m = nn.LeakyReLU(leak)(self.conv1(m))
        m = nn.LeakyReLU(leak)(self.conv2(m))
        m = nn.LeakyReLU(leak)(self.conv3(m))
        m = nn.LeakyReLU(leak)(self.conv4(m))
        return self.fc(m.view(-1, 2 * 2 * self.ndf * 4))


def sn_layers(D):
    return [D.conv1, D.conv2, D.conv3, D.conv4, D.fc]


def sigmas(D):
    """Each layer's spectral-norm estimate u . W v from its stored vectors (either API)."""
    out = []
    with torch.no_grad():
        for layer in sn_layers(D):
            if hasattr(layer, 'parametrizations'):
                W = layer.parametrizations.weight.original
                u, v = layer.parametrizations.weight[0]._u, layer.parametrizations.weight[0]._v
            else:
                W, u, v = layer.weight_orig, layer.weight_u, layer.weight_v
            out.append(torch.dot(u, torch.mv(W.view(W.size(0), -1), v)).item())
    return out


def build(parametrized=False, ema_buffers=False):
    G = Generator()
    D = Discriminator(parametrized=parametrized)
    optim_disc = optim.Adam(filter(lambda p: p.requires_grad, D.parameters()), lr=2e-4, betas=(0.0, 0.9))
    optim_gen = optim.Adam(G.parameters(), lr=2e-4, betas=(0.0, 0.9))
    ema = AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(0.999), use_buffers=ema_buffers)
    return G, D, optim_gen, optim_disc, ema


def schedulers(optim_gen, optim_disc):
    # the repo: "use an exponentially decaying learning rate", stepped once an epoch
    scheduler_g = optim.lr_scheduler.ExponentialLR(optim_gen, gamma=0.99)
    scheduler_d = optim.lr_scheduler.ExponentialLR(optim_disc, gamma=0.99)
    return scheduler_g, scheduler_d


def disc_loss_fn(loss, d_real, d_fake):
    if loss == 'hinge':
        return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
    elif loss == 'wasserstein':
        return -d_real.mean() + d_fake.mean()
    return nn.BCEWithLogitsLoss()(d_real, torch.ones(d_real.size(0), 1)) + \
        nn.BCEWithLogitsLoss()(d_fake, torch.zeros(d_fake.size(0), 1))


def gen_loss_fn(loss, d_fake):
    if loss == 'hinge' or loss == 'wasserstein':
        return -d_fake.mean()
    return nn.BCEWithLogitsLoss()(d_fake, torch.ones(d_fake.size(0), 1))


def flat(module):
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in module.parameters()])


def train_step(G, D, optim_gen, optim_disc, ema, images, noises, n_dis, loss, log):
    """One generator step after ``n_dis`` discriminator steps; ``images`` (n_dis, B, 3, 8, 8) and ``noises``
    (n_dis + 1, B, Z_DIM) are this step's float32 numpy batches."""
    for i in range(n_dis):
        data = torch.from_numpy(images[i])
        z = torch.from_numpy(noises[i])
        optim_disc.zero_grad()
        optim_gen.zero_grad()
        fake = G(z)
        d_real = D(data)
        d_fake = D(fake.detach())
        disc_loss = disc_loss_fn(loss, d_real, d_fake)
        disc_loss.backward()
        optim_disc.step()
        log['disc_loss'].append(disc_loss.item())
        log['sigmas'].append(sigmas(D))

    z = torch.from_numpy(noises[n_dis])
    optim_disc.zero_grad()
    optim_gen.zero_grad()
    gen_loss = gen_loss_fn(loss, D(G(z)))
    gen_loss.backward()
    optim_gen.step()
    ema.update_parameters(G)
    log['gen_loss'].append(gen_loss.item())
    log['grad_G'].append(torch.sqrt(sum((p.grad ** 2).sum() for p in G.parameters())).item())
    log['ema'].append(flat(ema))


def sample(G, ema, bn_noises, fixed_z):
    """``update_bn`` over the noise batches, then eval-mode samples of G and of the EMA copy."""
    update_bn([torch.from_numpy(z) for z in bn_noises], ema)
    G.eval()
    ema.eval()
    with torch.no_grad():
        fixed = torch.from_numpy(fixed_z)
        samples = G(fixed).cpu().numpy(), ema(fixed).cpu().numpy()
    G.train()
    ema.train()
    return samples


def run(weights, images, noises, bn_noises, fixed_z, n_dis=2, parametrized=False, loss='hinge', ema_buffers=False,
        steps_per_epoch=2, checkpoint=None, stop_at=None):
    """Train from ``weights`` ({'G': ..., 'D': ...} state dicts) for ``len(noises)`` generator steps, the lr decayed
    after each epoch of ``steps_per_epoch`` steps. With ``checkpoint`` and ``stop_at``, save after step ``stop_at``,
    build fresh objects, load the file and go on."""
    G, D, optim_gen, optim_disc, ema = build(parametrized, ema_buffers)
    scheduler_g, scheduler_d = schedulers(optim_gen, optim_disc)
    G.load_state_dict(weights['G'])
    D.load_state_dict(weights['D'])
    log = {k: [] for k in ('disc_loss', 'gen_loss', 'sigmas', 'grad_G', 'ema', 'lr')}
    for step in range(len(noises)):
        train_step(G, D, optim_gen, optim_disc, ema, images[step], noises[step], n_dis, loss, log)
        if (step + 1) % steps_per_epoch == 0:
            scheduler_d.step()
            scheduler_g.step()
        log['lr'].append(scheduler_d.get_last_lr()[0])
        if step == stop_at:
            torch.save({'G': G.state_dict(), 'D': D.state_dict(), 'ema': ema.state_dict(),
                        'optG': optim_gen.state_dict(), 'optD': optim_disc.state_dict(),
                        'schedG': scheduler_g.state_dict(), 'schedD': scheduler_d.state_dict(), 'step': step},
                       checkpoint)
            del G, D, optim_gen, optim_disc, ema, scheduler_g, scheduler_d
            G, D, optim_gen, optim_disc, ema = build(parametrized, ema_buffers)
            scheduler_g, scheduler_d = schedulers(optim_gen, optim_disc)
            state = torch.load(checkpoint)
            G.load_state_dict(state['G'])
            D.load_state_dict(state['D'])
            ema.load_state_dict(state['ema'])
            optim_gen.load_state_dict(state['optG'])
            optim_disc.load_state_dict(state['optD'])
            scheduler_g.load_state_dict(state['schedG'])
            scheduler_d.load_state_dict(state['schedD'])
    log['samples'], log['ema_samples'] = sample(G, ema, bn_noises, fixed_z)
    log['G'] = {k: v.cpu().numpy() for k, v in G.state_dict().items()}
    log['D'] = {k: v.cpu().numpy() for k, v in D.state_dict().items()}
    log['ema_state'] = {k: v.cpu().numpy() for k, v in ema.state_dict().items()}
    log['n_averaged'] = int(ema.n_averaged)
    return log
