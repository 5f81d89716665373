"""openai/sparse_autoencoder's TopK sparse autoencoder (Gao et al. 2024) as its model.py / loss.py / train.py write
it, shrunk, on synthetic "activations" from numpy. The Triton kernels of kernels.py / train.py (the sparse decoder,
the fused MSE, ``triton_add_mul_``) are written as the dense torch they compute; the geometric-median init of
``pre_bias`` is a batch mean; the noise of ``init_from_data_`` comes from numpy so both libraries see the same."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- model.py ----


def LN(x: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # noqa: N802
    mu = x.mean(dim=-1, keepdim=True)
    x = x - mu
    std = x.std(dim=-1, keepdim=True)
    x = x / (std + eps)
    return x, mu, std


class Autoencoder(nn.Module):
    """Sparse autoencoder

    Implements:
        latents = activation(encoder(x - pre_bias) + latent_bias)
        recons = decoder(latents) + pre_bias
    """

    def __init__(self, n_latents: int, n_inputs: int, activation: Callable = nn.ReLU(), tied: bool = False,  # noqa: B008
                 normalize: bool = False) -> None:
        super().__init__()

        self.pre_bias = nn.Parameter(torch.zeros(n_inputs))
        self.encoder: nn.Module = nn.Linear(n_inputs, n_latents, bias=False)
        self.latent_bias = nn.Parameter(torch.zeros(n_latents))
        self.activation = activation
        if tied:
            self.decoder: nn.Linear | TiedTranspose = TiedTranspose(self.encoder)
        else:
            self.decoder = nn.Linear(n_latents, n_inputs, bias=False)
        self.normalize = normalize

        self.stats_last_nonzero: torch.Tensor
        self.latents_activation_frequency: torch.Tensor
        self.latents_mean_square: torch.Tensor
        self.register_buffer("stats_last_nonzero", torch.zeros(n_latents, dtype=torch.long))
        self.register_buffer("latents_activation_frequency", torch.ones(n_latents, dtype=torch.float))
        self.register_buffer("latents_mean_square", torch.zeros(n_latents, dtype=torch.float))

    def encode_pre_act(self, x: torch.Tensor, latent_slice: slice = slice(None)) -> torch.Tensor:
        x = x - self.pre_bias
        latents_pre_act = F.linear(x, self.encoder.weight[latent_slice], self.latent_bias[latent_slice])
        return latents_pre_act

    def preprocess(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        if not self.normalize:
            return x, dict()
        x, mu, std = LN(x)
        return x, dict(mu=mu, std=std)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        x, info = self.preprocess(x)
        return self.activation(self.encode_pre_act(x)), info

    def decode(self, latents: torch.Tensor, info: dict[str, Any] | None = None) -> torch.Tensor:
        ret = self.decoder(latents) + self.pre_bias
        if self.normalize:
            assert info is not None
            ret = ret * info["std"] + info["mu"]
        return ret

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, info = self.preprocess(x)
        latents_pre_act = self.encode_pre_act(x)
        latents = self.activation(latents_pre_act)
        recons = self.decode(latents, info)

        # set all indices of self.stats_last_nonzero where (latents != 0) to 0
        self.stats_last_nonzero *= (latents == 0).all(dim=0).long()
        self.stats_last_nonzero += 1

        return latents_pre_act, latents, recons

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, torch.Tensor], strict: bool = True) -> Autoencoder:
        n_latents, d_model = state_dict["encoder.weight"].shape

        activation_class_name = state_dict.pop("activation", "ReLU")
        activation_class = ACTIVATIONS_CLASSES.get(activation_class_name, nn.ReLU)
        normalize = activation_class_name == "TopK"  # NOTE: hacky way to determine if normalization is enabled
        activation_state_dict = state_dict.pop("activation_state_dict", {})
        if hasattr(activation_class, "from_state_dict"):
            activation = activation_class.from_state_dict(activation_state_dict, strict=strict)
        else:
            activation = activation_class()
            if hasattr(activation, "load_state_dict"):
                activation.load_state_dict(activation_state_dict, strict=strict)

        autoencoder = cls(n_latents, d_model, activation=activation, normalize=normalize)
        autoencoder.load_state_dict(state_dict, strict=strict)
        return autoencoder

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        sd = super().state_dict(destination, prefix, keep_vars)
        sd[prefix + "activation"] = self.activation.__class__.__name__
        if hasattr(self.activation, "state_dict"):
            sd[prefix + "activation_state_dict"] = self.activation.state_dict()
        return sd


class TiedTranspose(nn.Module):
    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.linear.bias is None
        return F.linear(x, self.linear.weight.t(), None)

    @property
    def weight(self) -> torch.Tensor:
        return self.linear.weight.t()

    @property
    def bias(self) -> torch.Tensor:
        return self.linear.bias


class TopK(nn.Module):
    def __init__(self, k: int, postact_fn: Callable = nn.ReLU()) -> None:  # noqa: B008 - the repo's default
        super().__init__()
        self.k = k
        self.postact_fn = postact_fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        topk = torch.topk(x, k=self.k, dim=-1)
        values = self.postact_fn(topk.values)
        # make all other values 0
        result = torch.zeros_like(x)
        result.scatter_(-1, topk.indices, values)
        return result

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        state_dict = super().state_dict(destination, prefix, keep_vars)
        state_dict.update({prefix + "k": self.k, prefix + "postact_fn": self.postact_fn.__class__.__name__})
        return state_dict

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, torch.Tensor], strict: bool = True) -> TopK:
        k = state_dict["k"]
        postact_fn = ACTIVATIONS_CLASSES[state_dict["postact_fn"]]()
        return cls(k=k, postact_fn=postact_fn)


ACTIVATIONS_CLASSES = {
    "ReLU": nn.ReLU,
    "Identity": nn.Identity,
    "TopK": TopK,
}

# ---- loss.py ----


def autoencoder_loss(reconstruction: torch.Tensor, original_input: torch.Tensor, latent_activations: torch.Tensor,
                     l1_weight: float) -> torch.Tensor:
    return (
        normalized_mean_squared_error(reconstruction, original_input)
        + normalized_L1_loss(latent_activations, original_input) * l1_weight
    )


def normalized_mean_squared_error(reconstruction: torch.Tensor, original_input: torch.Tensor) -> torch.Tensor:
    return (
        ((reconstruction - original_input) ** 2).mean(dim=1) / (original_input**2).mean(dim=1)
    ).mean()


def normalized_L1_loss(latent_activations: torch.Tensor, original_input: torch.Tensor) -> torch.Tensor:  # noqa: N802
    return (latent_activations.abs().sum(dim=1) / original_input.norm(dim=1)).mean()


# ---- kernels.py, dense ----


def mse(output, target):  # the fused fp32 cast + MSE kernel, dense
    assert output.shape == target.shape
    assert len(output.shape) == 2
    return ((output - target).float() ** 2).mean(dim=1).mean()


def normalized_mse(recon: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    # only used for auxk
    xs_mu = xs.mean(dim=0)

    loss = mse(recon, xs) / mse(xs_mu[None, :].broadcast_to(xs.shape), xs)

    return loss


def add_mul_(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: float) -> None:
    """triton_add_mul_: x += a * b * c (a 1-d a or b broadcast along the rows)"""
    if len(a.shape) == 1:
        a = a[None, :].broadcast_to(x.shape)

    if len(b.shape) == 1:
        b = b[None, :].broadcast_to(x.shape)

    assert x.shape == a.shape == b.shape
    x += a * b * c


# ---- train.py ----


def auxk_mask_fn(ae: Autoencoder, x: torch.Tensor, dead_steps_threshold: int) -> torch.Tensor:
    dead_mask = ae.stats_last_nonzero > dead_steps_threshold
    x.data *= dead_mask  # inplace to save memory
    return x


def tied_init_(ae: Autoencoder) -> None:
    # "tied" init
    ae.decoder.weight.data = ae.encoder.weight.data.T.clone()

    # store decoder in column major layout for kernel
    ae.decoder.weight.data = ae.decoder.weight.data.T.contiguous().T

    unit_norm_decoder_(ae)


def unit_norm_decoder_(autoencoder: Autoencoder) -> None:
    """
    Unit normalize the decoder weights of an autoencoder.
    """
    autoencoder.decoder.weight.data /= autoencoder.decoder.weight.data.norm(dim=0)


def unit_norm_decoder_grad_adjustment_(autoencoder) -> None:
    """project out gradient information parallel to the dictionary vectors - assumes that the decoder is already unit
    normed"""

    assert autoencoder.decoder.weight.grad is not None

    add_mul_(
        autoencoder.decoder.weight.grad,
        torch.einsum("bn,bn->n", autoencoder.decoder.weight.data, autoencoder.decoder.weight.grad),
        autoencoder.decoder.weight.data,
        c=-1,
    )


def sharded_grad_norm(autoencoder, exclude=None):
    if exclude is None:
        exclude = []
    total_sq_norm = torch.zeros((), dtype=torch.float32)
    exclude = set(exclude)

    for param in autoencoder.parameters():
        if param in exclude:
            continue
        if param.grad is not None:
            sq_norm = ((param.grad).float() ** 2).sum()
            total_sq_norm += sq_norm

    return total_sq_norm.sqrt()


def batch_tensors(it: Iterable[torch.Tensor], batch_size: int, drop_last=True) -> Iterator[torch.Tensor]:
    """
    input is iterable of tensors of shape [batch_old, ...]
    output is iterable of tensors of shape [batch_size, ...]
    batch_old does not need to be divisible by batch_size
    """

    tensors = []
    batch_so_far = 0

    for t in it:
        tensors.append(t)
        batch_so_far += t.shape[0]

        if sum(t.shape[0] for t in tensors) < batch_size:
            continue

        while batch_so_far >= batch_size:
            if len(tensors) == 1:
                (concat,) = tensors
            else:
                concat = torch.cat(tensors, dim=0)

            offset = 0
            while offset + batch_size <= concat.shape[0]:
                yield concat[offset : offset + batch_size]
                batch_so_far -= batch_size
                offset += batch_size

            tensors = [concat[offset:]] if offset < concat.shape[0] else []

    if len(tensors) > 0 and not drop_last:
        yield torch.cat(tensors, dim=0)


class Logger:
    def __init__(self, **kws):
        self.vals = {}
        self.history = []
        self.enabled = not kws.pop("dummy", False)

    def logkv(self, k, v):
        if self.enabled:
            self.vals[k] = v.detach() if isinstance(v, torch.Tensor) else v
        return v

    def dumpkvs(self):
        if self.enabled:
            self.history.append({k: v.item() if isinstance(v, torch.Tensor) else v for k, v in self.vals.items()})
            self.vals = {}


@contextmanager
def temporary_weight_swap(model: torch.nn.Module, new_weights: list[torch.Tensor]):
    for _p, new_p in zip(model.parameters(), new_weights, strict=True):
        assert _p.shape == new_p.shape
        _p.data, new_p.data = new_p.data, _p.data

    yield

    for _p, new_p in zip(model.parameters(), new_weights, strict=True):
        assert _p.shape == new_p.shape
        _p.data, new_p.data = new_p.data, _p.data


class EmaModel:
    def __init__(self, model, ema_multiplier):
        self.model = model
        self.ema_multiplier = ema_multiplier
        self.ema_weights = [torch.zeros_like(x, requires_grad=False) for x in model.parameters()]
        self.ema_steps = 0

    def step(self):
        torch._foreach_lerp_(
            self.ema_weights,
            list(self.model.parameters()),
            1 - self.ema_multiplier,
        )
        self.ema_steps += 1

    # context manager for setting the autoencoder weights to the EMA weights
    @contextmanager
    def use_ema_weights(self):
        assert self.ema_steps > 0

        # apply bias correction
        bias_correction = 1 - self.ema_multiplier**self.ema_steps
        ema_weights_bias_corrected = torch._foreach_div(self.ema_weights, bias_correction)

        with torch.no_grad():  # noqa: SIM117 - the repo's nesting
            with temporary_weight_swap(self.model, ema_weights_bias_corrected):
                yield


def init_from_data_(ae: Autoencoder, stats_acts_sample: torch.Tensor, noise: np.ndarray) -> list[str]:
    """pre_bias from the batch mean (no geometric median), the encoder scaled so unit inputs give unit outputs"""
    ae.pre_bias.data = stats_acts_sample[:32768].float().mean(dim=0)

    lines = []
    with torch.no_grad():
        x = torch.from_numpy(noise).to(stats_acts_sample.dtype)  # torch.randn(256, d_model), fed from numpy
        x /= x.norm(dim=-1, keepdim=True)
        x += ae.pre_bias.data
        _, _, recons = ae(x)
        recons_norm = (recons - ae.pre_bias.data).norm(dim=-1).mean()

        ae.encoder.weight.data /= recons_norm.item()
        lines.append(f"x norm {x.norm(dim=-1).mean().item()}")
        lines.append(f"out norm {(ae(x)[2] - ae.pre_bias.data).norm(dim=-1).mean().item()}")
    return lines


@dataclass
class Config:
    n_dirs: int = 48
    bs: int = 32
    d_model: int = 12
    k: int = 4
    auxk: int = 8

    lr: float = 1e-2
    eps: float = 6.25e-10
    clip_grad: float | None = 1.0
    auxk_coef: float = 1 / 32
    dead_toks_threshold: int = 64
    ema_multiplier: float | None = 0.9


def make_autoencoder(cfg: Config) -> Autoencoder:
    """The TopK autoencoder of train.py's config (normalize as ``from_state_dict`` infers it for TopK)."""
    ae = Autoencoder(cfg.n_dirs, cfg.d_model, activation=TopK(cfg.k), normalize=True)
    tied_init_(ae)
    return ae


def make_loss_fn(cfg: Config, mse_scale: float) -> Callable:
    """main()'s loss: scaled MSE + auxk_coef * the nan-guarded normalized MSE of the dead latents' reconstruction of
    the residual."""
    dead_steps_threshold = cfg.dead_toks_threshold // cfg.bs

    def loss_fn(ae, flat_acts_train_batch, logger):
        latents_pre_act, latents, recons = ae(flat_acts_train_batch)
        _, info = ae.preprocess(flat_acts_train_batch)
        logger.logkv("n_dead", int((ae.stats_last_nonzero > dead_steps_threshold).sum().item()))
        logger.logkv("nmse", normalized_mean_squared_error(recons, flat_acts_train_batch))
        logger.logkv("l0", (latents != 0).float().sum(dim=-1).mean())

        # IMPORTANT: has to go after stats update! auxk_mask_fn mutates latents_pre_act
        auxk_topk = torch.topk(auxk_mask_fn(ae, latents_pre_act, dead_steps_threshold), k=cfg.auxk, dim=-1)
        auxk_latents = torch.zeros_like(latents_pre_act).scatter_(-1, auxk_topk.indices, F.relu(auxk_topk.values))
        offset = ae.pre_bias.detach() * info["std"] + info["mu"]

        return (
            # MSE
            logger.logkv("train_recons", mse_scale * mse(recons, flat_acts_train_batch))
            # AuxK
            + logger.logkv(
                "train_maxk_recons",
                cfg.auxk_coef
                * normalized_mse(
                    ae.decode(auxk_latents, info),
                    flat_acts_train_batch - recons.detach() + offset,
                ).nan_to_num(0),
            )
        )

    return loss_fn


def training_loop_(ae, train_acts_iter, loss_fn, lr, eps=6.25e-10, clip_grad=None, ema_multiplier=0.999,
                   logger=None, opt=None, ema=None, on_grads=None, on_step=None):
    if logger is None:
        logger = Logger(dummy=True)

    scaler = torch.cuda.amp.GradScaler(enabled=torch.cuda.is_available())

    if opt is None:
        opt = torch.optim.Adam(ae.parameters(), lr=lr, eps=eps, fused=True)
    if ema_multiplier is not None and ema is None:
        ema = EmaModel(ae, ema_multiplier=ema_multiplier)

    for i, flat_acts_train_batch in enumerate(train_acts_iter):
        loss = loss_fn(ae, flat_acts_train_batch, logger)
        logger.logkv("train_loss", loss.item())

        loss = scaler.scale(loss)
        loss.backward()

        unit_norm_decoder_(ae)
        unit_norm_decoder_grad_adjustment_(ae)

        scaler.unscale_(opt)

        # gradient clipping
        if clip_grad is not None:
            grad_norm = sharded_grad_norm(ae)
            logger.logkv("grad_norm", grad_norm)
            grads = [x.grad for x in ae.parameters() if x.grad is not None]
            torch._foreach_mul_(grads, clip_grad / torch.clamp(grad_norm, min=clip_grad))

        if on_grads is not None:
            on_grads(i, ae)

        if ema_multiplier is not None:
            ema.step()

        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)  # (the repo's loop never zeroes them: its gradients accumulate)

        logger.dumpkvs()
        if on_step is not None:
            on_step(i, ae)
    return opt, ema


def make_acts(seed: int, n: int, d_model: int) -> np.ndarray:
    """Synthetic "residual stream" activations: sparse combinations of a few directions plus noise and an offset."""
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((24, d_model))
    codes = rng.exponential(1.0, (n, 24)) * (rng.random((n, 24)) < 0.15)
    return (codes @ dirs + 0.05 * rng.standard_normal((n, d_model)) + 0.5).astype(np.float32)


def main(ae: Autoencoder, cfg: Config, acts: np.ndarray, on_grads=None, on_step=None, chunk: int = 40) -> dict:
    """init_from_data_, mse_scale, and training_loop_ over batch_tensors of chunks of ``acts``."""
    stats_acts_sample = torch.from_numpy(acts[:128])
    noise = np.random.default_rng(1).standard_normal((256, cfg.d_model)).astype(np.float32)
    lines = init_from_data_(ae, stats_acts_sample, noise)

    mse_scale = 1 / ((stats_acts_sample.float().mean(dim=0) - stats_acts_sample.float()) ** 2).mean()
    mse_scale = mse_scale.item()

    logger = Logger()
    acts_iter = (torch.from_numpy(acts[i : i + chunk]) for i in range(0, len(acts), chunk))
    opt, ema = training_loop_(ae, batch_tensors(acts_iter, cfg.bs, drop_last=True), make_loss_fn(cfg, mse_scale),
                              lr=cfg.lr, eps=cfg.eps, clip_grad=cfg.clip_grad, ema_multiplier=cfg.ema_multiplier,
                              logger=logger, on_grads=on_grads, on_step=on_step)
    return {"lines": lines, "mse_scale": mse_scale, "history": logger.history, "opt": opt, "ema": ema}


def resume(ckpt: dict, cfg: Config, acts: np.ndarray, mse_scale: float, on_grads=None, on_step=None) -> dict:
    """Rebuild by ``Autoencoder.from_state_dict`` (the TopK activation and its k from the saved names), the Adam state
    and the EMA weights, then train on ``acts``."""
    # strict=False: state_dict() also holds TopK's own "activation.k" / "activation.postact_fn" entries (the module
    # recursion calls its state_dict override), which a strict load refuses
    ae = Autoencoder.from_state_dict(dict(ckpt["ae"]), strict=False)
    ae.decoder.weight.data = ae.decoder.weight.data.T.contiguous().T  # column major again, as tied_init_ left it
    opt = torch.optim.Adam(ae.parameters(), lr=cfg.lr, eps=cfg.eps, fused=True)
    opt.load_state_dict(ckpt["opt"])
    ema = EmaModel(ae, ema_multiplier=cfg.ema_multiplier)
    ema.ema_weights = [w.clone() for w in ckpt["ema_weights"]]
    ema.ema_steps = ckpt["ema_steps"]
    logger = Logger()
    acts_iter = (torch.from_numpy(acts[i : i + cfg.bs]) for i in range(0, len(acts), cfg.bs))
    training_loop_(ae, batch_tensors(acts_iter, cfg.bs), make_loss_fn(cfg, mse_scale), lr=cfg.lr, eps=cfg.eps,
                   clip_grad=cfg.clip_grad, ema_multiplier=cfg.ema_multiplier, logger=logger, opt=opt, ema=ema,
                   on_grads=on_grads, on_step=on_step)
    return {"ae": ae, "history": logger.history, "ema": ema}


def checkpoint(ae: Autoencoder, opt: Any, ema: EmaModel) -> dict:
    return {"ae": ae.state_dict(), "opt": opt.state_dict(), "ema_weights": [w.clone() for w in ema.ema_weights],
            "ema_steps": ema.ema_steps}
