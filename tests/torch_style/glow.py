"""Glow as rosinality/glow-pytorch writes it (model.py and train.py), at a tiny size on synthetic 3x8x8 images.

- ``ActNorm``: ``loc`` / ``scale`` Parameters set from the first batch by ``initialize`` (the channel-first
  ``permute(1, 0, 2, 3).contiguous().view`` flatten, its per-channel mean and std, ``.data.copy_``), guarded by the
  uint8 ``initialized`` buffer (``.item()``, ``fill_(1)``); logdet ``height * width * sum(log|scale|)``; ``reverse``.
- ``InvConv2d``: a ``torch.randn`` matrix orthogonalised by ``torch.qr`` (deprecated in torch 2, still
  there), a 1x1 ``F.conv2d``, the float64 ``slogdet`` logdet, ``reverse`` by ``.inverse()``.
- ``InvConv2dLU``: the LU parametrisation from numpy / scipy (``la.qr``, ``la.lu``, ``np.triu``), the ``w_p`` /
  ``u_mask`` / ``l_mask`` / ``s_sign`` / ``l_eye`` buffers, the ``w_l`` / ``w_s`` / ``w_u`` Parameters and
  ``calc_weight``.
- ``ZeroConv2d`` (``F.pad(value=1)``, zeroed conv, ``exp(scale * 3)``), ``AffineCoupling`` (affine with the
  ``sigmoid(log_s + 2)`` scale, or additive), ``Flow``, ``gaussian_log_p`` / ``gaussian_sample``, ``Block`` (the
  squeeze by ``view`` / ``permute``, the split with a learned prior or the zero prior, ``reverse`` with
  ``reconstruct``) and ``Glow``'s multi-scale ``forward`` / ``reverse``. The last block is built without ``conv_lu``
  passed on, as the original does (so it is always LU).
- train.py: ``calc_z_shapes``, ``calc_loss`` in bits per dimension, the n_bits dequantisation, the first batch under
  ``no_grad`` initialising ActNorm, Adam with the warmup lr written into ``param_groups[0]["lr"]``, the progress
  line, samples by ``reverse`` of fixed temperature z and ``torch.save`` checkpoints of the (DataParallel) model and
  the optimizer, and a resume from them.

The dequantisation noise (``rand_like``) and the sampling z come from numpy so both libraries see the same numbers;
``rand_like`` is a hook a caller may replace."""

# ruff: noqa: A001, A002, B007, E731, SIM108 - the original's ``input`` arguments, ``for i in range`` loops, lambda, if-blocks
import argparse
from math import log, pi

import numpy as np
import torch
from scipy import linalg as la
from torch import nn, optim
from torch.nn import functional as F

device = "cuda" if torch.cuda.is_available() else "cpu"

logabs = lambda x: torch.log(torch.abs(x))

rand_like = torch.rand_like  # the dequantisation noise; the tests feed numpy uniforms through it


class ActNorm(nn.Module):
    def __init__(self, in_channel, logdet=True):
        super().__init__()

        self.loc = nn.Parameter(torch.zeros(1, in_channel, 1, 1))
        self.scale = nn.Parameter(torch.ones(1, in_channel, 1, 1))

        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))
        self.logdet = logdet

    def initialize(self, input):
        with torch.no_grad():
            flatten = input.permute(1, 0, 2, 3).contiguous().view(input.shape[1], -1)
            mean = (
                flatten.mean(1)
                .unsqueeze(1)
                .unsqueeze(2)
                .unsqueeze(3)
                .permute(1, 0, 2, 3)
            )
            std = (
                flatten.std(1)
                .unsqueeze(1)
                .unsqueeze(2)
                .unsqueeze(3)
                .permute(1, 0, 2, 3)
            )

            self.loc.data.copy_(-mean)
            self.scale.data.copy_(1 / (std + 1e-6))

    def forward(self, input):
        _, _, height, width = input.shape

        if self.initialized.item() == 0:
            self.initialize(input)
            self.initialized.fill_(1)

        log_abs = logabs(self.scale)

        logdet = height * width * torch.sum(log_abs)

        if self.logdet:
            return self.scale * (input + self.loc), logdet

        else:
            return self.scale * (input + self.loc)

    def reverse(self, output):
        return output / self.scale - self.loc


class InvConv2d(nn.Module):
    def __init__(self, in_channel):
        super().__init__()

        weight = torch.randn(in_channel, in_channel)
        q, _ = torch.qr(weight)
        weight = q.unsqueeze(2).unsqueeze(3)
        self.weight = nn.Parameter(weight)

    def forward(self, input):
        _, _, height, width = input.shape

        out = F.conv2d(input, self.weight)
        logdet = (
            height * width * torch.slogdet(self.weight.squeeze().double())[1].float()
        )

        return out, logdet

    def reverse(self, output):
        return F.conv2d(
            output, self.weight.squeeze().inverse().unsqueeze(2).unsqueeze(3)
        )


class InvConv2dLU(nn.Module):
    def __init__(self, in_channel):
        super().__init__()

        weight = np.random.randn(in_channel, in_channel)
        q, _ = la.qr(weight)
        w_p, w_l, w_u = la.lu(q.astype(np.float32))
        w_s = np.diag(w_u)
        w_u = np.triu(w_u, 1)
        u_mask = np.triu(np.ones_like(w_u), 1)
        l_mask = u_mask.T

        w_p = torch.from_numpy(w_p)
        w_l = torch.from_numpy(w_l)
        w_s = torch.from_numpy(w_s)
        w_u = torch.from_numpy(w_u)

        self.register_buffer("w_p", w_p)
        self.register_buffer("u_mask", torch.from_numpy(u_mask))
        self.register_buffer("l_mask", torch.from_numpy(l_mask))
        self.register_buffer("s_sign", torch.sign(w_s))
        self.register_buffer("l_eye", torch.eye(l_mask.shape[0]))
        self.w_l = nn.Parameter(w_l)
        self.w_s = nn.Parameter(logabs(w_s))
        self.w_u = nn.Parameter(w_u)

    def forward(self, input):
        _, _, height, width = input.shape

        weight = self.calc_weight()

        out = F.conv2d(input, weight)
        logdet = height * width * torch.sum(self.w_s)

        return out, logdet

    def calc_weight(self):
        weight = (
            self.w_p
            @ (self.w_l * self.l_mask + self.l_eye)
            @ ((self.w_u * self.u_mask) + torch.diag(self.s_sign * torch.exp(self.w_s)))
        )

        return weight.unsqueeze(2).unsqueeze(3)

    def reverse(self, output):
        weight = self.calc_weight()

        return F.conv2d(output, weight.squeeze().inverse().unsqueeze(2).unsqueeze(3))


class ZeroConv2d(nn.Module):
    def __init__(self, in_channel, out_channel, padding=1):
        super().__init__()

        self.conv = nn.Conv2d(in_channel, out_channel, 3, padding=0)
        self.conv.weight.data.zero_()
        self.conv.bias.data.zero_()
        self.scale = nn.Parameter(torch.zeros(1, out_channel, 1, 1))

    def forward(self, input):
        out = F.pad(input, [1, 1, 1, 1], value=1)
        out = self.conv(out)
        out = out * torch.exp(self.scale * 3)

        return out


class AffineCoupling(nn.Module):
    def __init__(self, in_channel, filter_size=8, affine=True):  # the original's filter_size is 512
        super().__init__()

        self.affine = affine

        self.net = nn.Sequential(
            nn.Conv2d(in_channel // 2, filter_size, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(filter_size, filter_size, 1),
            nn.ReLU(inplace=True),
            ZeroConv2d(filter_size, in_channel if self.affine else in_channel // 2),
        )

        self.net[0].weight.data.normal_(0, 0.05)
        self.net[0].bias.data.zero_()

        self.net[2].weight.data.normal_(0, 0.05)
        self.net[2].bias.data.zero_()

    def forward(self, input):
        in_a, in_b = input.chunk(2, 1)

        if self.affine:
            log_s, t = self.net(in_a).chunk(2, 1)
            # s = torch.exp(log_s)
            s = torch.sigmoid(log_s + 2)
            # out_a = s * in_a + t
            out_b = (in_b + t) * s

            logdet = torch.sum(torch.log(s).view(input.shape[0], -1), 1)

        else:
            net_out = self.net(in_a)
            out_b = in_b + net_out
            logdet = None

        return torch.cat([in_a, out_b], 1), logdet

    def reverse(self, output):
        out_a, out_b = output.chunk(2, 1)

        if self.affine:
            log_s, t = self.net(out_a).chunk(2, 1)
            # s = torch.exp(log_s)
            s = torch.sigmoid(log_s + 2)
            # in_a = (out_a - t) / s
            in_b = out_b / s - t

        else:
            net_out = self.net(out_a)
            in_b = out_b - net_out

        return torch.cat([out_a, in_b], 1)


class Flow(nn.Module):
    def __init__(self, in_channel, affine=True, conv_lu=True):
        super().__init__()

        self.actnorm = ActNorm(in_channel)

        if conv_lu:
            self.invconv = InvConv2dLU(in_channel)

        else:
            self.invconv = InvConv2d(in_channel)

        self.coupling = AffineCoupling(in_channel, affine=affine)

    def forward(self, input):
        out, logdet = self.actnorm(input)
        out, det1 = self.invconv(out)
        out, det2 = self.coupling(out)

        logdet = logdet + det1
        if det2 is not None:
            logdet = logdet + det2

        return out, logdet

    def reverse(self, output):
        input = self.coupling.reverse(output)
        input = self.invconv.reverse(input)
        input = self.actnorm.reverse(input)

        return input


def gaussian_log_p(x, mean, log_sd):
    return -0.5 * log(2 * pi) - log_sd - 0.5 * (x - mean) ** 2 / torch.exp(2 * log_sd)


def gaussian_sample(eps, mean, log_sd):
    return mean + torch.exp(log_sd) * eps


class Block(nn.Module):
    def __init__(self, in_channel, n_flow, split=True, affine=True, conv_lu=True):
        super().__init__()

        squeeze_dim = in_channel * 4

        self.flows = nn.ModuleList()
        for i in range(n_flow):
            self.flows.append(Flow(squeeze_dim, affine=affine, conv_lu=conv_lu))

        self.split = split

        if split:
            self.prior = ZeroConv2d(in_channel * 2, in_channel * 4)

        else:
            self.prior = ZeroConv2d(in_channel * 4, in_channel * 8)

    def forward(self, input):
        b_size, n_channel, height, width = input.shape
        squeezed = input.view(b_size, n_channel, height // 2, 2, width // 2, 2)
        squeezed = squeezed.permute(0, 1, 3, 5, 2, 4)
        out = squeezed.contiguous().view(b_size, n_channel * 4, height // 2, width // 2)

        logdet = 0

        for flow in self.flows:
            out, det = flow(out)
            logdet = logdet + det

        if self.split:
            out, z_new = out.chunk(2, 1)
            mean, log_sd = self.prior(out).chunk(2, 1)
            log_p = gaussian_log_p(z_new, mean, log_sd)
            log_p = log_p.view(b_size, -1).sum(1)

        else:
            zero = torch.zeros_like(out)
            mean, log_sd = self.prior(zero).chunk(2, 1)
            log_p = gaussian_log_p(out, mean, log_sd)
            log_p = log_p.view(b_size, -1).sum(1)
            z_new = out

        return out, logdet, log_p, z_new

    def reverse(self, output, eps=None, reconstruct=False):
        input = output

        if reconstruct:
            if self.split:
                input = torch.cat([output, eps], 1)

            else:
                input = eps

        else:
            if self.split:
                mean, log_sd = self.prior(input).chunk(2, 1)
                z = gaussian_sample(eps, mean, log_sd)
                input = torch.cat([output, z], 1)

            else:
                zero = torch.zeros_like(input)
                # zero = F.pad(zero, [1, 1, 1, 1], value=1)
                mean, log_sd = self.prior(zero).chunk(2, 1)
                z = gaussian_sample(eps, mean, log_sd)
                input = z

        for flow in self.flows[::-1]:
            input = flow.reverse(input)

        b_size, n_channel, height, width = input.shape

        unsqueezed = input.view(b_size, n_channel // 4, 2, 2, height, width)
        unsqueezed = unsqueezed.permute(0, 1, 4, 2, 5, 3)
        unsqueezed = unsqueezed.contiguous().view(
            b_size, n_channel // 4, height * 2, width * 2
        )

        return unsqueezed


class Glow(nn.Module):
    def __init__(self, in_channel, n_flow, n_block, affine=True, conv_lu=True):
        super().__init__()

        self.blocks = nn.ModuleList()
        n_channel = in_channel
        for i in range(n_block - 1):
            self.blocks.append(Block(n_channel, n_flow, affine=affine, conv_lu=conv_lu))
            n_channel *= 2
        self.blocks.append(Block(n_channel, n_flow, split=False, affine=affine))

    def forward(self, input):
        log_p_sum = 0
        logdet = 0
        out = input
        z_outs = []

        for block in self.blocks:
            out, det, log_p, z_new = block(out)
            z_outs.append(z_new)
            logdet = logdet + det

            if log_p is not None:
                log_p_sum = log_p_sum + log_p

        return log_p_sum, logdet, z_outs

    def reverse(self, z_list, reconstruct=False):
        for i, block in enumerate(self.blocks[::-1]):
            if i == 0:
                input = block.reverse(z_list[-1], z_list[-1], reconstruct=reconstruct)

            else:
                input = block.reverse(input, z_list[-(i + 1)], reconstruct=reconstruct)

        return input


# ---- train.py ----

parser = argparse.ArgumentParser(description="Glow trainer")
parser.add_argument("--batch", default=4, type=int, help="batch size")
parser.add_argument("--iter", default=6, type=int, help="maximum iterations")
parser.add_argument("--n_flow", default=2, type=int, help="number of flows in each block")
parser.add_argument("--n_block", default=2, type=int, help="number of blocks")
parser.add_argument("--no_lu", action="store_true", help="use plain convolution instead of LU decomposed version")
parser.add_argument("--affine", action="store_true", help="use affine coupling instead of additive")
parser.add_argument("--n_bits", default=5, type=int, help="number of bits")
parser.add_argument("--lr", default=0.05, type=float, help="learning rate")
parser.add_argument("--img_size", default=8, type=int, help="image size")
parser.add_argument("--temp", default=0.7, type=float, help="temperature of sampling")
parser.add_argument("--n_sample", default=3, type=int, help="number of samples")
parser.add_argument("--sample_every", default=2, type=int)
parser.add_argument("--ckpt_every", default=3, type=int)
parser.add_argument("--checkpoint", default="checkpoint", type=str, help="checkpoint folder")
parser.add_argument("--resume", default=0, type=int, help="resume after this iteration's checkpoint")


def make_images(n=16, size=8, seed=0):
    """n RGB images (n, 3, size, size) in [0, 1] from numpy: smooth colour gradients with a bright square."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1)
    images = np.empty((n, 3, size, size), np.float32)
    for k in range(n):
        a, b, c = rng.uniform(0, 1, (3, 3))
        images[k] = a[:, None, None] * xs + b[:, None, None] * ys + c[:, None, None]
        r, s = rng.integers(0, size - 3, 2)
        images[k, :, r:r + 3, s:s + 3] += rng.uniform(0.5, 1.0, (3, 1, 1))
    images = images / images.max(axis=(1, 2, 3), keepdims=True)
    return np.clip(images + rng.uniform(-0.02, 0.02, images.shape), 0, 1).astype(np.float32)


def sample_data(images, batch_size, start=0):
    """An endless stream of (image, label) batches; step i's batch is drawn by numpy seeded with i."""
    i = start
    while True:
        idx = np.random.default_rng(1000 + i).choice(len(images), batch_size, replace=False)
        yield torch.from_numpy(images[idx]), torch.zeros(batch_size, dtype=torch.long)
        i += 1


def calc_z_shapes(n_channel, input_size, n_flow, n_block):
    z_shapes = []

    for i in range(n_block - 1):
        input_size //= 2
        n_channel *= 2

        z_shapes.append((n_channel, input_size, input_size))

    input_size //= 2
    z_shapes.append((n_channel * 4, input_size, input_size))

    return z_shapes


def calc_loss(log_p, logdet, image_size, n_bins):
    # log_p = calc_log_p([z_list])
    n_pixel = image_size * image_size * 3

    loss = -log(n_bins) * n_pixel
    loss = loss + logdet + log_p

    return (
        (-loss / (log(2) * n_pixel)).mean(),
        (log_p / (log(2) * n_pixel)).mean(),
        (logdet / (log(2) * n_pixel)).mean(),
    )


def record(history, model_single, optimizer):
    """The parameters and buffers after a step, and each parameter's gradient (numpy copies)."""
    history["state"].append({k: v.detach().cpu().numpy().copy() for k, v in model_single.state_dict().items()})
    history["grads"].append({k: p.grad.numpy().copy() for k, p in model_single.named_parameters()
                             if p.grad is not None})


def train(args, model, optimizer, images, history):
    model_single = model.module
    start = args.resume + 1 if args.resume else 0
    dataset = iter(sample_data(images, args.batch, start))
    n_bins = 2.0 ** args.n_bits

    z_sample = []
    z_shapes = calc_z_shapes(3, args.img_size, args.n_flow, args.n_block)
    rng = np.random.default_rng(7)  # the original's torch.randn, from numpy
    for z in z_shapes:
        z_new = torch.from_numpy(rng.standard_normal((args.n_sample, *z)).astype(np.float32)) * args.temp
        z_sample.append(z_new.to(device))

    for i in range(start, args.iter):
        image, _ = next(dataset)
        image = image.to(device)

        image = image * 255

        if args.n_bits < 8:
            image = torch.floor(image / 2 ** (8 - args.n_bits))

        image = image / n_bins - 0.5

        if i == 0:
            with torch.no_grad():
                log_p, logdet, _ = model.module(image + rand_like(image) / n_bins)

                continue

        else:
            log_p, logdet, _ = model(image + rand_like(image) / n_bins)

        logdet = logdet.mean()

        loss, log_p, log_det = calc_loss(log_p, logdet, args.img_size, n_bins)
        model.zero_grad()
        loss.backward()
        warmup_lr = min(args.lr, args.lr * i / 50)
        optimizer.param_groups[0]["lr"] = warmup_lr
        optimizer.step()

        line = f"Loss: {loss.item():.5f}; logP: {log_p.item():.5f}; logdet: {log_det.item():.5f}; lr: {warmup_lr:.7f}"
        print(line)
        history["lines"].append(line)
        history["loss"].append(loss.item())
        history["log_p"].append(log_p.item())
        history["logdet"].append(log_det.item())
        history["lr"].append(optimizer.param_groups[0]["lr"])
        record(history, model_single, optimizer)

        if i % args.sample_every == 0:
            with torch.no_grad():
                history["samples"].append(model_single.reverse(z_sample).cpu().data.numpy())

        if i % args.ckpt_every == 0:
            torch.save(model.state_dict(), f"{args.checkpoint}/model_{str(i + 1).zfill(6)}.pt")
            torch.save(optimizer.state_dict(), f"{args.checkpoint}/optim_{str(i + 1).zfill(6)}.pt")


def main(argv, model_single, images, history):
    """train.py's ``__main__``: the DataParallel model, Adam, an optional resume from the saved iteration, train."""
    args = parser.parse_args(argv)
    model = nn.DataParallel(model_single)
    # model = model_single
    model = model.to(device)

    optimizer = optim.Adam(model.parameters(), lr=args.lr)

    if args.resume:
        model.load_state_dict(torch.load(f"{args.checkpoint}/model_{str(args.resume + 1).zfill(6)}.pt"))
        optimizer.load_state_dict(torch.load(f"{args.checkpoint}/optim_{str(args.resume + 1).zfill(6)}.pt"))

    train(args, model, optimizer, images, history)
    return model
