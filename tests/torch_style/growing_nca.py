"""Growing Neural Cellular Automata (Mordvintsev et al., distill.pub 2020) as its common PyTorch ports write it
(chenmingxiang110's lib/CAModel.py and train notebook), at a tiny size: a 16x16 grid growing a 10x10 RGBA
target drawn in numpy.

- ``CAModel``: ``channel_n`` cells' channels in NHWC, ``transpose(1, 3)`` to NCHW (the port's habit: W and H swap
  too), ``perceive`` by a depthwise ``F.conv2d`` of identity / rotated Sobel-x / Sobel-y filters made from numpy
  (``view(1, 1, 3, 3).repeat(channel_n, 1, 1, 1)``, ``groups=channel_n``, ``padding=1``) joined by ``torch.cat``;
  the update ``fc0`` -> ReLU -> ``fc1`` with ``fc1.weight`` zeroed under ``torch.no_grad()``; the stochastic mask
  ``rand(...) > fire_rate`` (``rand`` is ``torch.rand``, a hook a caller may replace); alive masks by
  ``F.max_pool2d(x[:, 3:4], 3, 1, 1) > 0.1`` before and after the update; ``forward`` loops over ``steps``.
- ``CAConv``: the NCHW spelling (``permute`` in and out, 1x1 ``nn.Conv2d`` layers, ``w2.weight.data.zero_()``, a
  ``register_buffer`` kernel of ``torch.stack``ed identity / Sobel / ``.T`` repeated over channels, the update mask
  as ``(rand(b, 1, h, w) + 1 - fire_rate).floor()``).
- ``SamplePool`` (numpy indices, ``commit`` back to the parent), ``make_circle_masks`` for damage, ``loss_f`` (per
  sample mean of squares on the RGBA channels), ``train``: pool batches sorted by loss (worst first), the worst
  re-seeded, the best damaged, ``F.mse_loss`` per sample and their mean, gradients normalised per parameter through
  ``p.grad.data``, Adam under ExponentialLR or MultiStepLR, log lines, and a ``torch.save`` checkpoint to resume
  from; ``grow``: the trained CA run from the seed."""

import io

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

rand = torch.rand  # the stochastic update's uniforms


class CAModel(nn.Module):
    def __init__(self, channel_n, fire_rate, device, hidden_size=128):
        super(CAModel, self).__init__()  # noqa: UP008 - the port's spelling
        self.device = device
        self.channel_n = channel_n
        self.fc0 = nn.Linear(channel_n * 3, hidden_size)
        self.fc1 = nn.Linear(hidden_size, channel_n, bias=False)
        with torch.no_grad():
            self.fc1.weight.zero_()
        self.fire_rate = fire_rate
        self.to(self.device)

    def alive(self, x):
        return F.max_pool2d(x[:, 3:4, :, :], kernel_size=3, stride=1, padding=1) > 0.1

    def perceive(self, x, angle):
        def _perceive_with(x, weight):
            conv_weights = torch.from_numpy(weight.astype(np.float32)).to(self.device)
            conv_weights = conv_weights.view(1, 1, 3, 3).repeat(self.channel_n, 1, 1, 1)
            return F.conv2d(x, conv_weights, padding=1, groups=self.channel_n)

        dx = np.outer([1, 2, 1], [-1, 0, 1]) / 8.0  # Sobel filter
        dy = dx.T
        c = np.cos(angle * np.pi / 180)
        s = np.sin(angle * np.pi / 180)
        w1 = c * dx - s * dy
        w2 = s * dx + c * dy
        y1 = _perceive_with(x, w1)
        y2 = _perceive_with(x, w2)
        y = torch.cat((x, y1, y2), 1)
        return y

    def update(self, x, fire_rate, angle):
        x = x.transpose(1, 3)
        pre_life_mask = self.alive(x)

        dx = self.perceive(x, angle)
        dx = dx.transpose(1, 3)
        dx = self.fc0(dx)
        dx = F.relu(dx)
        dx = self.fc1(dx)

        if fire_rate is None:
            fire_rate = self.fire_rate
        stochastic = rand([dx.size(0), dx.size(1), dx.size(2), 1]) > fire_rate
        stochastic = stochastic.float().to(self.device)
        dx = dx * stochastic

        x = x + dx.transpose(1, 3)

        post_life_mask = self.alive(x)
        life_mask = (pre_life_mask & post_life_mask).float()
        x = x * life_mask
        return x.transpose(1, 3)

    def forward(self, x, steps=1, fire_rate=None, angle=0.0):
        for step in range(steps):  # noqa: B007 - the port's loop
            x = self.update(x, fire_rate, angle)
        return x


class CAConv(nn.Module):
    """The NCHW spelling of the other ports: 1x1 convolutions as the update rule, the perception kernel a buffer
    stacked from tensors; NHWC in and out by ``permute``."""

    def __init__(self, channel_n=16, hidden_n=96, fire_rate=0.5):
        super().__init__()
        self.channel_n = channel_n
        self.fire_rate = fire_rate
        self.w1 = nn.Conv2d(channel_n * 3, hidden_n, 1)
        self.w2 = nn.Conv2d(hidden_n, channel_n, 1, bias=False)
        self.w2.weight.data.zero_()
        ident = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
        sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0
        kernel = torch.stack([ident, sobel_x, sobel_x.T])
        self.register_buffer("kernel", kernel.repeat(channel_n, 1, 1)[:, None])

    def perceive(self, x):
        return F.conv2d(x, self.kernel, padding=1, groups=self.channel_n)

    def step(self, x):
        pre_life_mask = F.max_pool2d(x[:, 3:4], 3, 1, 1) > 0.1
        y = self.w2(torch.relu(self.w1(self.perceive(x))))
        b, _, h, w = y.shape
        update_mask = (rand(b, 1, h, w) + (1.0 - self.fire_rate)).floor()
        x = x + y * update_mask
        post_life_mask = F.max_pool2d(x[:, 3:4], 3, 1, 1) > 0.1
        return x * (pre_life_mask & post_life_mask).float()

    def forward(self, x, steps=1):
        x = x.permute(0, 3, 1, 2)
        for _ in range(steps):
            x = self.step(x)
        return x.permute(0, 2, 3, 1)


class SamplePool:
    def __init__(self, *, _parent=None, _parent_idx=None, **slots):
        self._parent = _parent
        self._parent_idx = _parent_idx
        self._slot_names = slots.keys()
        self._size = None
        for k, v in slots.items():
            if self._size is None:
                self._size = len(v)
            assert self._size == len(v)
            setattr(self, k, np.asarray(v))

    def sample(self, n, rng):
        idx = rng.choice(self._size, n, False)
        batch = {k: getattr(self, k)[idx] for k in self._slot_names}
        return SamplePool(**batch, _parent=self, _parent_idx=idx)

    def commit(self):
        for k in self._slot_names:
            getattr(self._parent, k)[self._parent_idx] = getattr(self, k)


def make_target(size=10, pad=3):
    """A (size + 2 pad)^2 RGBA float32 target: a red disc with a green ring and a blue bar, premultiplied alpha."""
    c = np.arange(size) - (size - 1) / 2
    yy, xx = np.meshgrid(c, c, indexing="ij")
    r = np.sqrt(xx ** 2 + yy ** 2)
    img = np.zeros((size, size, 4), np.float32)
    img[..., 0] = r < 2.5
    img[..., 1] = (r >= 2.5) & (r < 4.2)
    img[..., 2] = (abs(yy) < 1) & (r < 4.2) & (xx > 0)
    img[..., 3] = r < 4.2
    img[..., :3] *= img[..., 3:]
    return np.pad(img, [(pad, pad), (pad, pad), (0, 0)])


def make_seed(shape, n_channels):
    seed = np.zeros([shape[0], shape[1], n_channels], np.float32)
    seed[shape[0] // 2, shape[1] // 2, 3:] = 1.0
    return seed


def make_circle_masks(n, h, w, rng):
    x = np.linspace(-1.0, 1.0, w)[None, None, :]
    y = np.linspace(-1.0, 1.0, h)[None, :, None]
    center = rng.uniform(-0.5, 0.5, [2, n, 1, 1])
    r = rng.uniform(0.1, 0.4, [n, 1, 1])
    x, y = (x - center[0]) / r, (y - center[1]) / r
    return (x * x + y * y < 1.0).astype(np.float32)


def loss_f(x, target):
    return torch.mean(torch.pow(x[..., :4] - target, 2), [-2, -3, -1])


def save_checkpoint(ca, optimizer, scheduler, pool, rng, epoch):
    buffer = io.BytesIO()
    torch.save({"model": ca.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "pool": torch.from_numpy(pool.x.copy()), "rng": rng.bit_generator.state, "epoch": epoch}, buffer)
    return buffer.getvalue()


def train(ca, n_epoch, rng, channel_n=16, pool_size=16, batch_size=4, damage_n=1, steps=(8, 12), lr=2e-3,
          lr_gamma=0.9999, betas=(0.5, 0.5), schedule="exponential", checkpoint_at=None, resume=None):
    """The pool-training loop; ``rng`` (a numpy Generator) draws the pool's indices, the damage and the step
    counts. Returns the per-step log (and the checkpoint bytes taken after epoch ``checkpoint_at``)."""
    device = torch.device("cpu")
    target_img = make_target()
    h, w = target_img.shape[:2]
    seed = make_seed((h, w), channel_n)
    pool = SamplePool(x=np.repeat(seed[None, ...], pool_size, 0))
    pad_target = torch.from_numpy(target_img).to(device)
    pad_target = pad_target.unsqueeze(0).repeat(batch_size, 1, 1, 1)

    optimizer = optim.Adam(ca.parameters(), lr=lr, betas=betas)
    if schedule == "exponential":
        scheduler = optim.lr_scheduler.ExponentialLR(optimizer, lr_gamma)
    else:
        scheduler = optim.lr_scheduler.MultiStepLR(optimizer, [3, 6], 0.3)
    start = 0
    if resume is not None:
        ckpt = torch.load(io.BytesIO(resume))
        ca.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        pool.x[:] = ckpt["pool"].numpy()
        rng.bit_generator.state = ckpt["rng"]
        start = ckpt["epoch"] + 1

    log = {"loss": [], "batch_losses": [], "rank": [], "grad_norm": [], "lr": [], "lines": [], "x": []}
    for i in range(start, n_epoch):
        batch = pool.sample(batch_size, rng)
        x0 = torch.from_numpy(batch.x.astype(np.float32)).to(device)
        loss_rank = loss_f(x0, pad_target).detach().cpu().numpy().argsort()[::-1]
        x0 = batch.x[loss_rank]
        x0[:1] = seed
        if damage_n:
            damage = 1.0 - make_circle_masks(damage_n, h, w, rng)[..., None]
            x0[-damage_n:] *= damage
        x0 = torch.from_numpy(x0.astype(np.float32)).to(device)

        x = ca(x0, steps=int(rng.integers(*steps)))
        batch_losses = torch.stack([F.mse_loss(x[j, :, :, :4], pad_target[j]) for j in range(batch_size)])
        loss = batch_losses.mean()
        optimizer.zero_grad()
        loss.backward()
        grad_norm = torch.sqrt(sum((p.grad.data ** 2).sum() for p in ca.parameters()))
        for p in ca.parameters():
            p.grad.data = p.grad.data / (p.grad.data.norm() + 1e-8)
        optimizer.step()
        scheduler.step()

        batch.x[:] = x.detach().cpu().numpy()
        batch.commit()

        log["loss"].append(loss.item())
        log["batch_losses"].append(batch_losses.detach().numpy().copy())
        log["rank"].append(loss_rank.tolist())
        log["grad_norm"].append(grad_norm.item())
        log["lr"].append(scheduler.get_last_lr()[0])
        log["x"].append(x.detach().numpy().copy())
        line = f"{i} loss = {loss.item():.6f} lr = {optimizer.param_groups[0]['lr']:.6g}"
        print(line)
        log["lines"].append(line)
        if i == checkpoint_at:
            log["checkpoint"] = save_checkpoint(ca, optimizer, scheduler, pool, rng, i)
    log["pool"] = pool.x.copy()
    log["params"] = {k: v.detach().numpy().copy() for k, v in ca.state_dict().items()}
    return log


def grow(ca, steps, channel_n=16):
    """The trained CA run ``steps`` steps from the seed without gradients; the RGBA frames (steps, h, w, 4)."""
    h, w = make_target().shape[:2]
    x = torch.from_numpy(make_seed((h, w), channel_n)[None, ...])
    frames = []
    with torch.no_grad():
        for _ in range(steps):
            x = ca(x, steps=1)
            frames.append(x[0, ..., :4].clamp(0, 1).numpy().copy())
    return np.stack(frames)
