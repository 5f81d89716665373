"""HiFi-GAN's generator and discriminators as jik876/hifi-gan writes them, shrunk to tiny sizes on numpy mel
frames: the hook-based ``weight_norm`` on Conv1d / ConvTranspose1d (and ``remove_weight_norm`` before inference),
the parametrization ``weight_norm`` and the hook-based ``spectral_norm`` in the period and scale discriminators,
reflect padding and a ``view`` into periods, leaky ReLU, AvgPool1d, grouped Conv1d, the LSGAN, feature-matching and
L1 losses, AdamW for both, ``clip_grad_value_`` and ExponentialLR. ``run(weights)`` returns what the test
compares; ``weights`` (torch's initial ones) makes ours start where torch's run started."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import remove_weight_norm, spectral_norm, weight_norm

p_weight_norm = torch.nn.utils.parametrizations.weight_norm

LRELU_SLOPE = 0.1


def init_weights(m, mean=0.0, std=0.01):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        m.weight.data.normal_(mean, std)


def get_padding(kernel_size, dilation=1):
    return int((kernel_size * dilation - dilation) / 2)


class ResBlock(nn.Module):
    def __init__(self, channels, kernel_size=3, dilation=(1, 3)):
        super().__init__()
        self.convs = nn.ModuleList([weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d,
                                                          padding=get_padding(kernel_size, d))) for d in dilation])

    def forward(self, x):
        for c in self.convs:
            xt = F.leaky_relu(x, LRELU_SLOPE)
            xt = c(xt)
            x = xt + x
        return x

    def remove_weight_norm(self):
        for c in self.convs:
            remove_weight_norm(c)


class Generator(nn.Module):
    def __init__(self, mels=8, ch=16, rates=(2, 2), ks=(4, 4)):
        super().__init__()
        self.conv_pre = weight_norm(nn.Conv1d(mels, ch, 7, 1, padding=3))
        self.ups = nn.ModuleList()
        for i, (u, k) in enumerate(zip(rates, ks)):
            self.ups.append(weight_norm(nn.ConvTranspose1d(ch // (2 ** i), ch // (2 ** (i + 1)), k, u,
                                                           padding=(k - u) // 2)))
        self.resblocks = nn.ModuleList([ResBlock(ch // (2 ** (i + 1))) for i in range(len(rates))])
        self.conv_post = weight_norm(nn.Conv1d(ch // 2 ** len(rates), 1, 7, 1, padding=3))
        self.ups.apply(init_weights)
        self.conv_post.apply(init_weights)

    def forward(self, x):
        x = self.conv_pre(x)
        for up, rb in zip(self.ups, self.resblocks):
            x = F.leaky_relu(x, LRELU_SLOPE)
            x = up(x)
            x = rb(x)
        x = F.leaky_relu(x)
        x = self.conv_post(x)
        return torch.tanh(x)

    def remove_weight_norm(self):
        for l in self.ups:
            remove_weight_norm(l)
        for l in self.resblocks:
            l.remove_weight_norm()
        remove_weight_norm(self.conv_pre)
        remove_weight_norm(self.conv_post)


class DiscriminatorP(nn.Module):
    def __init__(self, period, use_spectral_norm=False):
        super().__init__()
        self.period = period
        norm_f = spectral_norm if use_spectral_norm else p_weight_norm
        self.convs = nn.ModuleList([
            norm_f(nn.Conv2d(1, 8, (5, 1), (3, 1), padding=(get_padding(5, 1), 0))),
            norm_f(nn.Conv2d(8, 16, (5, 1), (3, 1), padding=(get_padding(5, 1), 0))),
        ])
        self.conv_post = norm_f(nn.Conv2d(16, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x):
        fmap = []
        b, c, t = x.shape
        if t % self.period != 0:
            n_pad = self.period - (t % self.period)
            x = F.pad(x, (0, n_pad), "reflect")
            t = t + n_pad
        x = x.view(b, c, t // self.period, self.period)
        for l in self.convs:
            x = l(x)
            x = F.leaky_relu(x, LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        x = torch.flatten(x, 1, -1)
        return x, fmap


class DiscriminatorS(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([spectral_norm(nn.Conv1d(1, 8, 15, 1, padding=7)),
                                    spectral_norm(nn.Conv1d(8, 16, 41, 4, groups=4, padding=20))])
        self.conv_post = spectral_norm(nn.Conv1d(16, 1, 3, 1, padding=1))
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, x):
        fmap = []
        x = self.pool(x)
        for l in self.convs:
            x = F.leaky_relu(l(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


def feature_loss(fmap_r, fmap_g):
    loss = 0
    for dr, dg in zip(fmap_r, fmap_g):
        for rl, gl in zip(dr, dg):
            loss += torch.mean(torch.abs(rl - gl))
    return loss * 2


def discriminator_loss(disc_real_outputs, disc_generated_outputs):
    loss = 0
    for dr, dg in zip(disc_real_outputs, disc_generated_outputs):
        loss += torch.mean((1 - dr) ** 2) + torch.mean(dg ** 2)
    return loss


def generator_loss(disc_outputs):
    return sum(torch.mean((1 - dg) ** 2) for dg in disc_outputs)


def run(weights=None, steps=3):
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    nets = {"g": Generator(), "mpd": nn.ModuleList([DiscriminatorP(2), DiscriminatorP(3)]), "msd": DiscriminatorS()}
    if weights is not None:
        for k, n in nets.items():
            n.load_state_dict(weights[k])
    log = {"weights": {k: {a: b.detach().numpy().copy() for a, b in n.state_dict().items()} for k, n in nets.items()}}
    g, mpd, msd = nets["g"], nets["mpd"], nets["msd"]
    optim_g = torch.optim.AdamW(g.parameters(), 2e-4, betas=(0.8, 0.99))
    optim_d = torch.optim.AdamW(list(mpd.parameters()) + list(msd.parameters()), 2e-4, betas=(0.8, 0.99))
    sg = torch.optim.lr_scheduler.ExponentialLR(optim_g, gamma=0.999)
    ls = []
    for _ in range(steps):
        mel = torch.tensor(rng.standard_normal((2, 8, 10)).astype(np.float32))
        y = torch.tensor(rng.uniform(-1, 1, (2, 1, 40)).astype(np.float32))
        y_g = g(mel)
        optim_d.zero_grad()
        rs, gs = [], []
        for d in list(mpd) + [msd]:
            r, _ = d(y)
            f, _ = d(y_g.detach())
            rs.append(r)
            gs.append(f)
        loss_d = discriminator_loss(rs, gs)
        loss_d.backward()
        optim_d.step()
        optim_g.zero_grad()
        loss_mel = F.l1_loss(y, y_g) * 45
        outs, fr, fg = [], [], []
        for d in list(mpd) + [msd]:
            _, fmr = d(y)
            o, fmg = d(y_g)
            outs.append(o)
            fr.append(fmr)
            fg.append(fmg)
        loss_g = generator_loss(outs) + feature_loss(fr, fg) + loss_mel
        loss_g.backward()
        torch.nn.utils.clip_grad_value_(g.parameters(), 1.0)
        optim_g.step()
        sg.step()
        ls.append((loss_d.item(), loss_g.item(), loss_mel.item()))
    log["losses"] = ls
    g.eval()
    mel = torch.tensor(rng.standard_normal((1, 8, 10)).astype(np.float32))
    with torch.no_grad():
        before = g(mel)
        g.remove_weight_norm()
        after = g(mel)
    log["before"] = before.numpy().copy()
    log["after"] = after.numpy().copy()
    log["keys"] = len(g.state_dict())
    log["dkeys"] = len(mpd.state_dict())
    log["u"] = msd.convs[0].weight_u.numpy().copy()
    return log
