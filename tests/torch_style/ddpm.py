"""A minimal DDPM written as ordinary PyTorch code, in the style of the 2020-2023 GitHub diffusion repositories
(lucidrains' denoising-diffusion-pytorch, the annotated-diffusion blog, dome272's Diffusion-Models-pytorch): the
linear (``torch.linspace``), quadratic, sigmoid and cosine beta schedules, the buffers derived from them
(``torch.cumprod(alphas, axis=0)``, ``F.pad`` of ``alphas_cumprod[:-1]``, ``torch.sqrt(1.0 / alphas)``, the
posterior variance and its clipped log, min-SNR loss weights) registered as float32 buffers, ``extract``
(``gather`` then ``reshape``), the sinusoidal time embedding, a tiny U-Net of GroupNorm / SiLU residual blocks
taking the time MLP as ``h + time_emb[:, :, None, None]`` (1x8x8 images) or, as the blog's, with
weight-standardized convolutions, scale-shift conditioning (``chunk(2, dim=1)``) and ``einsum`` attention / linear
attention blocks in ``Residual(PreNorm(...))``, an MLP denoiser for 2-D points, ``q_sample`` and ``p_losses`` with
the l1 / l2 / huber losses and the min-SNR weighted one (``reduction="none"``, a per-sample mean, ``extract`` of
the weights), Adam with ``clip_grad_norm_``, an EMA copy (``copy.deepcopy(model).eval().requires_grad_(False)``)
updated by ``mul_().add_()``, ``lerp_`` or dome272's helper, a checkpoint dict (model, ema, opt, step) through
``torch.save`` / ``torch.load`` and a resume, and the ``@torch.no_grad()`` reverse loops: the blog's ``p_sample``
(model mean plus ``torch.sqrt(posterior_variance_t) * noise``), lucidrains' clipped x0 prediction with
``q_posterior``, lucidrains' DDIM (``linspace(-1, T - 1, ...).int().tolist()`` jumps, 0-d schedule entries),
and dome272's ``alpha_hat[t][:, None, None, None]`` update, then ``(x.clamp(-1, 1) + 1) / 2`` and
``(x * 255).type(torch.uint8)``.

One change for the harness: timesteps and noise may be handed in (from numpy) so both libraries see the same draws;
without them the code draws with ``torch.randint`` / ``torch.randn_like`` as the originals do."""

import copy
import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def exists(x):
    return x is not None


def default(val, d):
    if exists(val):
        return val
    return d() if callable(d) else d


def linear_beta_schedule(timesteps, beta_start=0.0001, beta_end=0.02):
    return torch.linspace(beta_start, beta_end, timesteps)


def quadratic_beta_schedule(timesteps, beta_start=0.0001, beta_end=0.02):
    return torch.linspace(beta_start**0.5, beta_end**0.5, timesteps) ** 2


def sigmoid_beta_schedule(timesteps, beta_start=0.0001, beta_end=0.02):
    betas = torch.linspace(-6, 6, timesteps)
    return torch.sigmoid(betas) * (beta_end - beta_start) + beta_start


def cosine_beta_schedule(timesteps, s=0.008):
    """cosine schedule as proposed in https://arxiv.org/abs/2102.09672"""
    steps = timesteps + 1
    x = torch.linspace(0, timesteps, steps, dtype=torch.float64)
    alphas_cumprod = torch.cos(((x / timesteps) + s) / (1 + s) * math.pi * 0.5) ** 2
    alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
    betas = 1 - (alphas_cumprod[1:] / alphas_cumprod[:-1])
    return torch.clip(betas, 0.0001, 0.9999)


def extract(a, t, x_shape):
    b, *_ = t.shape
    out = a.gather(-1, t)
    return out.reshape(b, *((1,) * (len(x_shape) - 1)))


class SinusoidalPositionEmbeddings(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, time):
        device = time.device
        half_dim = self.dim // 2
        embeddings = math.log(10000) / (half_dim - 1)
        embeddings = torch.exp(torch.arange(half_dim, device=device) * -embeddings)
        embeddings = time[:, None] * embeddings[None, :]
        embeddings = torch.cat((embeddings.sin(), embeddings.cos()), dim=-1)
        return embeddings


class WeightStandardizedConv2d(nn.Conv2d):
    """https://arxiv.org/abs/1903.10520: weight standardization works well with group normalization"""

    def forward(self, x):
        eps = 1e-5 if x.dtype == torch.float32 else 1e-3
        weight = self.weight
        mean = weight.mean(dim=(1, 2, 3), keepdim=True)
        var = torch.var(weight, dim=(1, 2, 3), keepdim=True, unbiased=False)
        normalized_weight = (weight - mean) * (var + eps).rsqrt()
        return F.conv2d(x, normalized_weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Block(nn.Module):
    def __init__(self, dim, dim_out, groups=4, standardized=False):
        super().__init__()
        conv = WeightStandardizedConv2d if standardized else nn.Conv2d
        self.proj = conv(dim, dim_out, 3, padding=1)
        self.norm = nn.GroupNorm(groups, dim_out)
        self.act = nn.SiLU()

    def forward(self, x, scale_shift=None):
        x = self.proj(x)
        x = self.norm(x)
        if exists(scale_shift):
            scale, shift = scale_shift
            x = x * (scale + 1) + shift
        return self.act(x)


class ResnetBlock(nn.Module):
    """The time embedding added (``h + time_emb[:, :, None, None]``) or, with ``scale_shift``, as the blog's
    FiLM: the MLP's output split by ``chunk(2, dim=1)`` into a scale and a shift of the first block's output."""

    def __init__(self, dim, dim_out, *, time_emb_dim=None, groups=4, scale_shift=False):
        super().__init__()
        self.scale_shift = scale_shift
        mult = 2 if scale_shift else 1
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_emb_dim, dim_out * mult)) if exists(time_emb_dim) else None
        self.block1 = Block(dim, dim_out, groups=groups, standardized=scale_shift)
        self.block2 = Block(dim_out, dim_out, groups=groups, standardized=scale_shift)
        self.res_conv = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

    def forward(self, x, time_emb=None):
        if self.scale_shift and exists(self.mlp) and exists(time_emb):
            time_emb = self.mlp(time_emb)[:, :, None, None]
            h = self.block1(x, scale_shift=time_emb.chunk(2, dim=1))
        else:
            h = self.block1(x)
            if exists(self.mlp) and exists(time_emb):
                time_emb = self.mlp(time_emb)
                h = h + time_emb[:, :, None, None]
        h = self.block2(h)
        return h + self.res_conv(x)


class Attention(nn.Module):
    def __init__(self, dim, heads=2, dim_head=8):
        super().__init__()
        self.scale = dim_head ** -0.5
        self.heads = heads
        hidden_dim = dim_head * heads
        self.to_qkv = nn.Conv2d(dim, hidden_dim * 3, 1, bias=False)
        self.to_out = nn.Conv2d(hidden_dim, dim, 1)

    def forward(self, x):
        b, c, h, w = x.shape  # noqa: RUF059 - the blog's spelling
        qkv = self.to_qkv(x).chunk(3, dim=1)
        q, k, v = map(lambda t: t.reshape(b, self.heads, -1, h * w), qkv)  # b (h c) x y -> b h c (x y)
        q = q * self.scale
        sim = torch.einsum("b h d i, b h d j -> b h i j", q, k)
        sim = sim - sim.amax(dim=-1, keepdim=True).detach()
        attn = sim.softmax(dim=-1)
        out = torch.einsum("b h i j, b h d j -> b h i d", attn, v)
        out = out.permute(0, 1, 3, 2).reshape(b, -1, h, w)  # b h (x y) d -> b (h d) x y
        return self.to_out(out)


class LinearAttention(nn.Module):
    def __init__(self, dim, heads=2, dim_head=8):
        super().__init__()
        self.scale = dim_head ** -0.5
        self.heads = heads
        hidden_dim = dim_head * heads
        self.to_qkv = nn.Conv2d(dim, hidden_dim * 3, 1, bias=False)
        self.to_out = nn.Sequential(nn.Conv2d(hidden_dim, dim, 1), nn.GroupNorm(1, dim))

    def forward(self, x):
        b, c, h, w = x.shape  # noqa: RUF059 - the blog's spelling
        qkv = self.to_qkv(x).chunk(3, dim=1)
        q, k, v = map(lambda t: t.reshape(b, self.heads, -1, h * w), qkv)
        q = q.softmax(dim=-2)
        k = k.softmax(dim=-1)
        q = q * self.scale
        context = torch.einsum("b h d n, b h e n -> b h d e", k, v)
        out = torch.einsum("b h d e, b h d n -> b h e n", context, q)
        out = out.reshape(b, -1, h, w)  # b h c (x y) -> b (h c) x y
        return self.to_out(out)


class Residual(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, *args, **kwargs):
        return self.fn(x, *args, **kwargs) + x


class PreNorm(nn.Module):
    def __init__(self, dim, fn):
        super().__init__()
        self.fn = fn
        self.norm = nn.GroupNorm(1, dim)

    def forward(self, x):
        x = self.norm(x)
        return self.fn(x)


class Unet(nn.Module):
    """A one-level U-Net: (b, channels, 8, 8) images and (b,) timesteps -> the predicted noise, same shape. With
    ``full``, the blog's: weight-standardized convolutions, scale-shift time conditioning and attention blocks."""

    def __init__(self, dim=8, channels=1, groups=4, full=False):
        super().__init__()
        self.channels = channels
        time_dim = dim * 4
        self.init_conv = nn.Conv2d(channels, dim, 3, padding=1)
        self.time_mlp = nn.Sequential(
            SinusoidalPositionEmbeddings(dim),
            nn.Linear(dim, time_dim),
            nn.GELU(),
            nn.Linear(time_dim, time_dim),
        )
        block = lambda d, d_out: ResnetBlock(d, d_out, time_emb_dim=time_dim, groups=groups, scale_shift=full)  # noqa: E731
        self.down = block(dim, dim)
        self.downsample = nn.Conv2d(dim, dim * 2, 4, 2, 1)
        self.mid = block(dim * 2, dim * 2)
        self.upsample = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                      nn.Conv2d(dim * 2, dim, 3, padding=1))
        self.up = block(dim * 2, dim)
        self.final_conv = nn.Conv2d(dim, channels, 1)
        self.attentions = nn.ModuleList([
            Residual(PreNorm(dim, LinearAttention(dim))),
            Residual(PreNorm(dim * 2, Attention(dim * 2))),
            Residual(PreNorm(dim, LinearAttention(dim))),
        ]) if full else None

    def forward(self, x, time):
        x = self.init_conv(x)
        t = self.time_mlp(time)
        attend = self.attentions if exists(self.attentions) else [nn.Identity()] * 3
        h = attend[0](self.down(x, t))
        x = attend[1](self.mid(self.downsample(h), t))
        x = self.upsample(x)
        x = torch.cat((x, h), dim=1)
        x = attend[2](self.up(x, t))
        return self.final_conv(x)


class MLPDenoiser(nn.Module):
    """For 2-D points: (b, 2) points and (b,) timesteps -> (b, 2) predicted noise."""

    def __init__(self, dim=2, hidden=32, emb_dim=16):
        super().__init__()
        self.channels = dim
        self.time_mlp = nn.Sequential(SinusoidalPositionEmbeddings(emb_dim), nn.Linear(emb_dim, hidden), nn.SiLU())
        self.input_mlp = nn.Linear(dim, hidden)
        self.net = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x, time):
        return self.net(self.input_mlp(x) + self.time_mlp(time))


class GaussianDiffusion(nn.Module):
    def __init__(self, model, timesteps=1000, beta_schedule="linear", loss_type="l2"):
        super().__init__()
        self.model = model
        self.num_timesteps = timesteps
        self.loss_type = loss_type
        if beta_schedule == "linear":
            betas = linear_beta_schedule(timesteps)
        elif beta_schedule == "cosine":
            betas = cosine_beta_schedule(timesteps)
        elif beta_schedule == "quadratic":
            betas = quadratic_beta_schedule(timesteps)
        elif beta_schedule == "sigmoid":
            betas = sigmoid_beta_schedule(timesteps)
        else:
            raise ValueError(f"unknown beta schedule {beta_schedule}")

        alphas = 1. - betas
        alphas_cumprod = torch.cumprod(alphas, axis=0)
        alphas_cumprod_prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)

        register_buffer = lambda name, val: self.register_buffer(name, val.to(torch.float32))  # noqa: E731

        register_buffer("betas", betas)
        register_buffer("alphas_cumprod", alphas_cumprod)
        register_buffer("alphas_cumprod_prev", alphas_cumprod_prev)
        register_buffer("sqrt_recip_alphas", torch.sqrt(1.0 / alphas))
        register_buffer("sqrt_alphas_cumprod", torch.sqrt(alphas_cumprod))
        register_buffer("sqrt_one_minus_alphas_cumprod", torch.sqrt(1. - alphas_cumprod))
        register_buffer("sqrt_recip_alphas_cumprod", torch.sqrt(1. / alphas_cumprod))
        register_buffer("sqrt_recipm1_alphas_cumprod", torch.sqrt(1. / alphas_cumprod - 1))
        posterior_variance = betas * (1. - alphas_cumprod_prev) / (1. - alphas_cumprod)
        register_buffer("posterior_variance", posterior_variance)
        register_buffer("posterior_log_variance_clipped", torch.log(posterior_variance.clamp(min=1e-20)))
        register_buffer("posterior_mean_coef1", betas * torch.sqrt(alphas_cumprod_prev) / (1. - alphas_cumprod))
        register_buffer("posterior_mean_coef2", (1. - alphas_cumprod_prev) * torch.sqrt(alphas) / (1. - alphas_cumprod))

        # min-SNR loss weighting (https://arxiv.org/abs/2303.09556), for the noise objective
        snr = alphas_cumprod / (1 - alphas_cumprod)
        maybe_clipped_snr = snr.clone()
        maybe_clipped_snr.clamp_(max=5.)
        register_buffer("loss_weight", maybe_clipped_snr / snr)

    def q_sample(self, x_start, t, noise=None):
        noise = default(noise, lambda: torch.randn_like(x_start))
        return (
            extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start +
            extract(self.sqrt_one_minus_alphas_cumprod, t, x_start.shape) * noise
        )

    def p_losses(self, x_start, t, noise=None):
        noise = default(noise, lambda: torch.randn_like(x_start))
        x_noisy = self.q_sample(x_start=x_start, t=t, noise=noise)
        predicted_noise = self.model(x_noisy, t)
        if self.loss_type == "l1":
            loss = F.l1_loss(noise, predicted_noise)
        elif self.loss_type == "l2":
            loss = F.mse_loss(noise, predicted_noise)
        elif self.loss_type == "huber":
            loss = F.smooth_l1_loss(noise, predicted_noise)
        elif self.loss_type == "min_snr":
            loss = F.mse_loss(predicted_noise, noise, reduction="none")
            loss = loss.mean(dim=tuple(range(1, loss.ndim)))
            loss = (loss * extract(self.loss_weight, t, loss.shape)).mean()
        else:
            raise NotImplementedError()
        return loss

    def forward(self, img, t=None, noise=None):
        b, device = img.shape[0], img.device
        t = default(t, lambda: torch.randint(0, self.num_timesteps, (b,), device=device).long())
        return self.p_losses(img, t, noise=noise)

    # the annotated-diffusion blog's sampler
    @torch.no_grad()
    def p_sample(self, x, t, t_index, noise=None):
        betas_t = extract(self.betas, t, x.shape)
        sqrt_one_minus_alphas_cumprod_t = extract(self.sqrt_one_minus_alphas_cumprod, t, x.shape)
        sqrt_recip_alphas_t = extract(self.sqrt_recip_alphas, t, x.shape)
        model_mean = sqrt_recip_alphas_t * (
            x - betas_t * self.model(x, t) / sqrt_one_minus_alphas_cumprod_t
        )
        if t_index == 0:
            return model_mean
        posterior_variance_t = extract(self.posterior_variance, t, x.shape)
        noise = default(noise, lambda: torch.randn_like(x))
        return model_mean + torch.sqrt(posterior_variance_t) * noise

    # lucidrains' sampler: predict x0, clip it, take the posterior's mean and log variance
    def predict_start_from_noise(self, x_t, t, noise):
        return (
            extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t -
            extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape) * noise
        )

    def q_posterior(self, x_start, x_t, t):
        posterior_mean = (
            extract(self.posterior_mean_coef1, t, x_t.shape) * x_start +
            extract(self.posterior_mean_coef2, t, x_t.shape) * x_t
        )
        posterior_variance = extract(self.posterior_variance, t, x_t.shape)
        posterior_log_variance_clipped = extract(self.posterior_log_variance_clipped, t, x_t.shape)
        return posterior_mean, posterior_variance, posterior_log_variance_clipped

    def p_mean_variance(self, x, t, clip_denoised=True):
        x_recon = self.predict_start_from_noise(x, t=t, noise=self.model(x, t))
        if clip_denoised:
            x_recon.clamp_(-1., 1.)
        model_mean, posterior_variance, posterior_log_variance = self.q_posterior(x_start=x_recon, x_t=x, t=t)
        return model_mean, posterior_variance, posterior_log_variance

    @torch.no_grad()
    def p_sample_clipped(self, x, t, noise=None, clip_denoised=True):
        b, *_, device = *x.shape, x.device  # noqa: F841 - lucidrains' spelling
        model_mean, _, model_log_variance = self.p_mean_variance(x=x, t=t, clip_denoised=clip_denoised)
        noise = default(noise, lambda: torch.randn_like(x))
        # no noise when t == 0
        nonzero_mask = (1 - (t == 0).float()).reshape(b, *((1,) * (len(x.shape) - 1)))
        return model_mean + nonzero_mask * (0.5 * model_log_variance).exp() * noise

    @torch.no_grad()
    def p_sample_loop(self, shape, noises=None, clipped=False):
        """``noises``: the starting image and then one noise per step, ``timesteps + 1`` tensors of ``shape``."""
        device = self.betas.device
        b = shape[0]
        img = noises[0] if exists(noises) else torch.randn(shape, device=device)
        imgs = []
        for i in reversed(range(0, self.num_timesteps)):
            t = torch.full((b,), i, device=device, dtype=torch.long)
            noise = noises[self.num_timesteps - i] if exists(noises) else None
            img = self.p_sample_clipped(img, t, noise=noise) if clipped else self.p_sample(img, t, i, noise=noise)
            imgs.append(img.cpu().numpy())
        return img, imgs

    @torch.no_grad()
    def ddim_sample(self, shape, noises=None, sampling_timesteps=7, eta=1.):
        """lucidrains' DDIM: ``sampling_timesteps`` jumps through the schedule, stochastic by ``eta``."""
        batch, device, total_timesteps = shape[0], self.betas.device, self.num_timesteps
        # [-1, 0, 1, 2, ..., T-1] when sampling_timesteps == total_timesteps
        times = torch.linspace(-1, total_timesteps - 1, steps=sampling_timesteps + 1)
        times = list(reversed(times.int().tolist()))
        time_pairs = list(zip(times[:-1], times[1:]))  # [(T-1, T-2), (T-2, T-3), ..., (1, 0), (0, -1)]
        img = noises[0] if exists(noises) else torch.randn(shape, device=device)
        imgs = []
        for step, (time, time_next) in enumerate(time_pairs):
            time_cond = torch.full((batch,), time, device=device, dtype=torch.long)
            pred_noise = self.model(img, time_cond)
            x_start = self.predict_start_from_noise(img, time_cond, pred_noise)
            x_start.clamp_(-1., 1.)
            if time_next < 0:
                img = x_start
                imgs.append(img.cpu().numpy())
                continue
            alpha = self.alphas_cumprod[time]
            alpha_next = self.alphas_cumprod[time_next]
            sigma = eta * ((1 - alpha / alpha_next) * (1 - alpha_next) / (1 - alpha)).sqrt()
            c = (1 - alpha_next - sigma ** 2).sqrt()
            noise = noises[step + 1] if exists(noises) else torch.randn_like(img)
            img = x_start * alpha_next.sqrt() + c * pred_noise + sigma * noise
            imgs.append(img.cpu().numpy())
        return img, imgs

    @torch.no_grad()
    def sample(self, batch_size=4, noises=None, clipped=False, ddim=False):
        shape = (batch_size, self.model.channels, 8, 8) if isinstance(self.model, Unet) else (batch_size, 2)
        if ddim:
            img, imgs = self.ddim_sample(shape, noises=noises)
        else:
            img, imgs = self.p_sample_loop(shape, noises=noises, clipped=clipped)
        img = (img.clamp(-1, 1) + 1) / 2
        return (img * 255).type(torch.uint8), imgs


class Diffusion:
    """dome272's Diffusion class: the schedule as plain tensors indexed by ``t``."""

    def __init__(self, noise_steps=1000, beta_start=1e-4, beta_end=0.02, img_size=8, device="cpu"):
        self.noise_steps = noise_steps
        self.beta_start = beta_start
        self.beta_end = beta_end
        self.img_size = img_size
        self.device = device
        self.beta = self.prepare_noise_schedule().to(device)
        self.alpha = 1. - self.beta
        self.alpha_hat = torch.cumprod(self.alpha, dim=0)

    def prepare_noise_schedule(self):
        return torch.linspace(self.beta_start, self.beta_end, self.noise_steps)

    def noise_images(self, x, t, noise=None):
        sqrt_alpha_hat = torch.sqrt(self.alpha_hat[t])[:, None, None, None]
        sqrt_one_minus_alpha_hat = torch.sqrt(1 - self.alpha_hat[t])[:, None, None, None]
        Ɛ = default(noise, lambda: torch.randn_like(x))
        return sqrt_alpha_hat * x + sqrt_one_minus_alpha_hat * Ɛ, Ɛ

    def sample_timesteps(self, n):
        return torch.randint(low=1, high=self.noise_steps, size=(n,))

    def sample(self, model, n, noises=None):
        model.eval()
        with torch.no_grad():
            x = noises[0] if exists(noises) else torch.randn((n, 1, self.img_size, self.img_size)).to(self.device)
            for i in reversed(range(1, self.noise_steps)):
                t = (torch.ones(n) * i).long().to(self.device)
                predicted_noise = model(x, t)
                alpha = self.alpha[t][:, None, None, None]
                alpha_hat = self.alpha_hat[t][:, None, None, None]
                beta = self.beta[t][:, None, None, None]
                if i > 1:
                    noise = noises[self.noise_steps - i] if exists(noises) else torch.randn_like(x)
                else:
                    noise = torch.zeros_like(x)
                x = 1 / torch.sqrt(alpha) * (x - ((1 - alpha) / (torch.sqrt(1 - alpha_hat))) * predicted_noise) \
                    + torch.sqrt(beta) * noise
        model.train()
        x = (x.clamp(-1, 1) + 1) / 2
        x = (x * 255).type(torch.uint8)
        return x


class EMA:
    """dome272's EMA helper: a warm-up copy, then ``old * beta + (1 - beta) * new`` per parameter."""

    def __init__(self, beta):
        self.beta = beta
        self.step = 0

    def update_model_average(self, ma_model, current_model):
        for current_params, ma_params in zip(current_model.parameters(), ma_model.parameters()):
            old_weight, up_weight = ma_params.data, current_params.data
            ma_params.data = self.update_average(old_weight, up_weight)

    def update_average(self, old, new):
        if old is None:
            return new
        return old * self.beta + (1 - self.beta) * new

    def step_ema(self, ema_model, model, step_start_ema=2):
        if self.step < step_start_ema:
            self.reset_parameters(ema_model, model)
            self.step += 1
            return
        self.update_model_average(ema_model, model)
        self.step += 1

    def reset_parameters(self, ema_model, model):
        ema_model.load_state_dict(model.state_dict())


def make_images(n, seed=0):
    """``n`` 1x8x8 float32 images in [-1, 1]: a bright square on a dark background."""
    rng = np.random.default_rng(seed)
    images = -np.ones((n, 1, 8, 8), np.float32)
    for i in range(n):
        y, x = rng.integers(0, 5, 2)
        images[i, 0, y:y + 4, x:x + 4] = rng.uniform(0.5, 1.0)
    return images


def make_points(n, seed=0):
    """``n`` 2-D points (n, 2) float32 on two noisy rings."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = np.where(rng.random(n) < 0.5, 0.4, 0.9) + rng.normal(0, 0.03, n)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1).astype(np.float32)


def ema_update(ema_model, model, beta, style, helper):
    if style == "dome":
        helper.step_ema(ema_model, model)
        return
    with torch.no_grad():
        for ema_p, p in zip(ema_model.parameters(), model.parameters()):
            if style == "mul_add":
                ema_p.data.mul_(beta).add_((1 - beta) * p.data)
            else:
                ema_p.lerp_(p, 1 - beta)
        for ema_b, b in zip(ema_model.buffers(), model.buffers()):
            ema_b.copy_(b)


def save_checkpoint(step, diffusion, ema, opt):
    buffer = io.BytesIO()
    torch.save({"step": step, "model": diffusion.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict()},
               buffer)
    buffer.seek(0)
    return buffer


def train(diffusion, data, draws, lr=1e-3, ema_decay=0.9, ema_style="mul_add", clip=1.0, resume_at=None,
          make=None):
    """Adam on ``diffusion``'s loss over ``draws``: (batch indices, t, noise) numpy triples, one per step; the EMA
    copy follows each step (``ema_style``: "mul_add", "lerp" or dome272's "dome" helper). With ``resume_at``, a
    checkpoint after that many steps is loaded into fresh objects made by ``make()`` and training goes on from them.
    Returns the series, the EMA's and final parameters, both models."""
    opt = torch.optim.Adam(diffusion.parameters(), lr=lr)
    ema = copy.deepcopy(diffusion).eval().requires_grad_(False)
    helper = EMA(ema_decay)
    out = {"loss": [], "norm": [], "ema": []}
    step = 0
    while step < len(draws):
        if step == resume_at:
            checkpoint = torch.load(save_checkpoint(step, diffusion, ema, opt))
            diffusion = make()
            ema = copy.deepcopy(diffusion).eval().requires_grad_(False)
            opt = torch.optim.Adam(diffusion.parameters(), lr=lr)
            diffusion.load_state_dict(checkpoint["model"])
            ema.load_state_dict(checkpoint["ema"])
            opt.load_state_dict(checkpoint["opt"])
            step = helper.step = checkpoint["step"]
            resume_at = None
        idx, t, noise = draws[step]
        x = torch.from_numpy(data[idx])
        loss = diffusion(x, torch.from_numpy(t), torch.from_numpy(noise))
        opt.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(diffusion.parameters(), clip)
        opt.step()
        ema_update(ema, diffusion, ema_decay, ema_style, helper)
        out["loss"].append(loss.item())
        out["norm"].append(norm.item())
        out["ema"].append(next(ema.model.parameters()).detach().cpu().numpy().copy())
        step += 1
    out["params"] = {k: v.detach().numpy().copy() for k, v in diffusion.state_dict().items()}
    out["ema_params"] = {k: v.detach().numpy().copy() for k, v in ema.state_dict().items()}
    return out, diffusion, ema
