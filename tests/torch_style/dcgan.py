"""A DCGAN on 28 x 28 digits, written as ordinary PyTorch code after the official DCGAN tutorial: a Generator of
transposed convolutions with batch norm, a Discriminator of strided convolutions with in-place LeakyReLU, the
tutorial's ``weights_init`` applied through ``Module.apply``, BCELoss against ``torch.full`` labels, two Adams with
beta1 = 0.5, the detached fake batch for D's step, samples from a fixed noise under ``no_grad`` in eval mode, and a
checkpoint (models, optimizers, history) saved with ``torch.save``, loaded into fresh objects and trained on. The
harness runs it on torch and, with the imports swapped, on ours; the noise comes from numpy so both see the same."""

import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, Dataset

nc = 1  # image channels
nz = 16  # latent vector size
ngf = 8  # generator feature maps
ndf = 8  # discriminator feature maps
lr = 0.0002
beta1 = 0.5
real_label = 1.
fake_label = 0.
ngpu = 1
device = torch.device("cuda:0" if (torch.cuda.is_available() and ngpu > 0) else "cpu")


class Digits(Dataset):
    """uint8 images (N, 28, 28) scaled to [-1, 1], as transforms.Normalize((0.5,), (0.5,)) after ToTensor."""

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        image = torch.tensor(self.images[idx], dtype=torch.float32).unsqueeze(0) / 255
        return (image - 0.5) / 0.5, 0


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find('Conv') != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find('BatchNorm') != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self, ngpu):
        super(Generator, self).__init__()  # noqa: UP008 - the tutorial's spelling
        self.ngpu = ngpu
        self.main = nn.Sequential(
            # nz x 1 x 1 -> (ngf*4) x 7 x 7
            nn.ConvTranspose2d(nz, ngf * 4, 7, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # -> (ngf*2) x 14 x 14
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # -> nc x 28 x 28
            nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False),
            nn.Tanh()
        )

    def forward(self, input):  # noqa: A002 - the tutorial's name
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, ngpu):
        super(Discriminator, self).__init__()  # noqa: UP008
        self.ngpu = ngpu
        self.main = nn.Sequential(
            # nc x 28 x 28 -> ndf x 14 x 14
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # -> (ndf*2) x 7 x 7
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # -> 1 x 1 x 1
            nn.Conv2d(ndf * 2, 1, 7, 1, 0, bias=False),
            nn.Sigmoid()
        )

    def forward(self, input):  # noqa: A002 - the tutorial's name
        return self.main(input)


def build():
    """Fresh networks with the tutorial's initialisation, and their optimizers."""
    netG = Generator(ngpu).to(device)
    netG.apply(weights_init)
    netD = Discriminator(ngpu).to(device)
    netD.apply(weights_init)
    optimizerD = optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))
    return netG, netD, optimizerG, optimizerD


def grad_norm(net):
    return torch.sqrt(sum((p.grad ** 2).sum() for p in net.parameters())).item()


def train(netG, netD, optimizerG, optimizerD, dataloader, noise, fixed_noise, start_epoch, num_epochs, history):
    """The tutorial's loop, epochs ``start_epoch`` to ``num_epochs - 1``; ``noise(epoch, i, b)`` is a (b, nz, 1, 1)
    float32 numpy array. Each epoch ends with samples from ``fixed_noise`` in eval mode."""
    criterion = nn.BCELoss()
    for epoch in range(start_epoch, num_epochs):
        netG.train()
        netD.train()
        for i, data in enumerate(dataloader, 0):
            # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            real_cpu = data[0].to(device)
            b_size = real_cpu.size(0)
            label = torch.full((b_size,), real_label, dtype=torch.float, device=device)
            output = netD(real_cpu).view(-1)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()

            z = torch.from_numpy(noise(epoch, i, b_size)).to(device)
            fake = netG(z)
            label.fill_(fake_label)
            output = netD(fake.detach()).view(-1)
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            history['gradD'].append(grad_norm(netD))
            optimizerD.step()

            # (2) Update G: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(real_label)
            output = netD(fake).view(-1)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            history['gradG'].append(grad_norm(netG))
            optimizerG.step()

            history['lossD'].append(errD.item())
            history['lossG'].append(errG.item())
            history['D_x'].append(D_x)
            history['D_G_z1'].append(D_G_z1)
            history['D_G_z2'].append(D_G_z2)

        netG.eval()
        with torch.no_grad():
            fake = netG(fixed_noise).detach().cpu()
        history['samples'].append(fake)
    return history


def new_history():
    return {key: [] for key in ('lossD', 'lossG', 'D_x', 'D_G_z1', 'D_G_z2', 'gradD', 'gradG', 'samples')}


def save_checkpoint(path, epoch, netG, netD, optimizerG, optimizerD, history):
    torch.save({
        'epoch': epoch,
        'netG': netG.state_dict(),
        'netD': netD.state_dict(),
        'optG': optimizerG.state_dict(),
        'optD': optimizerD.state_dict(),
        'history': history,
    }, path)


def resume(path):
    """Fresh networks and optimizers with the checkpoint's state loaded; the epoch to go on from and the history."""
    checkpoint = torch.load(path)
    netG, netD, optimizerG, optimizerD = build()
    netG.load_state_dict(checkpoint['netG'])
    netD.load_state_dict(checkpoint['netD'])
    optimizerG.load_state_dict(checkpoint['optG'])
    optimizerD.load_state_dict(checkpoint['optD'])
    return (netG, netD, optimizerG, optimizerD), checkpoint['epoch'] + 1, checkpoint['history']


def run(images, weights, noise, fixed_noise, num_epochs, batch_size=32, checkpoint=None, stop_after=None):
    """Train on ``images`` from the networks' ``weights`` ({'netG': state_dict, 'netD': state_dict}). With
    ``checkpoint`` (a path) and ``stop_after`` (an epoch), training stops after that epoch, saves, and goes on
    from fresh objects loaded from the file."""
    dataloader = DataLoader(Digits(images), batch_size=batch_size, shuffle=False)
    netG, netD, optimizerG, optimizerD = build()
    netG.load_state_dict(weights['netG'])
    netD.load_state_dict(weights['netD'])
    fixed_noise = torch.from_numpy(fixed_noise).to(device)
    history = new_history()
    if stop_after is None:
        return train(netG, netD, optimizerG, optimizerD, dataloader, noise, fixed_noise, 0, num_epochs, history)
    train(netG, netD, optimizerG, optimizerD, dataloader, noise, fixed_noise, 0, stop_after + 1, history)
    save_checkpoint(checkpoint, stop_after, netG, netD, optimizerG, optimizerD, history)
    del netG, netD, optimizerG, optimizerD
    (netG, netD, optimizerG, optimizerD), start_epoch, history = resume(checkpoint)
    return train(netG, netD, optimizerG, optimizerD, dataloader, noise, fixed_noise, start_epoch, num_epochs, history)
