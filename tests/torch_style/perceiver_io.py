"""A Perceiver IO (Jaegle et al. 2021) as the common PyTorch re-implementations write it, at a tiny size.

- ``fourier_features``: positions on a grid by ``torch.linspace(-1, 1, n)`` per axis and
  ``torch.meshgrid(..., indexing="ij")``, stacked, multiplied by linearly spaced frequencies up to Nyquist, then
  ``torch.cat`` of the raw positions with ``sin(pi * f * x)`` and ``cos(pi * f * x)``.
- ``CrossAttention``: LayerNorms on the queries and the keys/values, an ``nn.MultiheadAttention(batch_first=True)``
  with ``kdim`` / ``vdim`` when widths differ, a residual, then a LayerNorm + GELU MLP residual.
- ``SelfAttention``: the pre-norm transformer block over the latents.
- ``PerceiverIO``: the learned latent array ``nn.Parameter`` repeated over the batch by ``expand``, one encoder
  cross-attention from the pixels (value + Fourier features, ``torch.cat`` along the channels), ``depth`` latent
  self-attention blocks, and a decoder whose queries are either one learned query (the classifier) or the Fourier
  features of the output pixels (the autoencoder).
- ``train``: AdamW with a no-decay group for the norms, biases and the latent array, CosineAnnealingLR stepped each
  step, ``torch.nn.utils.clip_grad_norm_`` whose returned norm is logged, and the losses; a checkpoint of the
  model, optimizer and scheduler state dicts saved with ``torch.save`` mid-run and a run resumed from it.

- ``PerceiverLM``: the masked-language-model Perceiver IO on UTF-8 bytes, written as perceiver-pytorch does it
  (attention by hand with ``torch.einsum``, a byte padding mask broadcast and ``masked_fill``ed with
  ``-torch.finfo(dtype).max``, GEGLU feed-forwards by ``chunk(2, dim=-1)``, the latent blocks shared across
  ``repeats`` passes, ``nn.init.trunc_normal_`` latents, decoder queries from learned position embeddings) trained
  with ``F.cross_entropy(ignore_index=-100)`` on the masked bytes only.

Changes for the harness: batches come from the caller as numpy arrays; dropout is off."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def fourier_features(shape, num_bands, max_freq=None):
    """Fourier position features of a grid of ``shape``: (prod(shape), len(shape) * (2 * num_bands + 1))."""
    axes = [torch.linspace(-1.0, 1.0, steps=n) for n in shape]
    pos = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # (*shape, d)
    pos = pos.reshape(-1, len(shape))
    if max_freq is None:
        max_freq = max(shape) / 2  # Nyquist of the densest axis
    freqs = torch.linspace(1.0, max_freq, steps=num_bands)  # (num_bands,)
    scaled = pos[:, :, None] * freqs[None, None, :] * math.pi  # (n, d, bands)
    feats = torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=-1)
    feats = feats.flatten(start_dim=1)
    return torch.cat([pos, feats], dim=-1)


class MLP(nn.Module):
    def __init__(self, dim, mult=2):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim * mult)
        self.fc2 = nn.Linear(dim * mult, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(self.norm(x))))


class CrossAttention(nn.Module):
    def __init__(self, q_dim, kv_dim, heads=1, residual=True):
        super().__init__()
        self.q_norm = nn.LayerNorm(q_dim)
        self.kv_norm = nn.LayerNorm(kv_dim)
        self.attn = nn.MultiheadAttention(q_dim, heads, kdim=kv_dim, vdim=kv_dim, batch_first=True)
        self.mlp = MLP(q_dim)
        self.residual = residual

    def forward(self, q, kv, need_weights=False):
        kv = self.kv_norm(kv)
        out, weights = self.attn(self.q_norm(q), kv, kv, need_weights=need_weights)
        x = q + out if self.residual else out
        return x + self.mlp(x), weights


class SelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = MLP(dim)

    def forward(self, x):
        h = self.norm(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(x)


class PerceiverIO(nn.Module):
    def __init__(self, image_shape=(6, 6), in_channels=1, num_bands=3, num_latents=8, latent_dim=16,
                 heads=2, depth=2, num_classes=None):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.register_buffer("pos", fourier_features(self.image_shape, num_bands), persistent=False)
        in_dim = in_channels + self.pos.shape[-1]
        self.latents = nn.Parameter(torch.randn(num_latents, latent_dim) * 0.02)
        self.encoder = CrossAttention(latent_dim, in_dim, heads=1)
        self.blocks = nn.ModuleList([SelfAttention(latent_dim, heads) for _ in range(depth)])
        self.num_classes = num_classes
        if num_classes is not None:
            self.query = nn.Parameter(torch.randn(1, latent_dim) * 0.02)
            self.decoder = CrossAttention(latent_dim, latent_dim, heads=1, residual=False)
            self.head = nn.Linear(latent_dim, num_classes)
        else:
            self.query_proj = nn.Linear(self.pos.shape[-1], latent_dim)
            self.decoder = CrossAttention(latent_dim, latent_dim, heads=1, residual=False)
            self.head = nn.Linear(latent_dim, in_channels)

    def encode(self, images, need_weights=False):
        """(B, C, H, W) images -> (B, N, D) latents, and the encoder's attention (B, N, H*W) when asked."""
        b = images.shape[0]
        pixels = images.flatten(2).transpose(1, 2)  # (B, H*W, C)
        pos = self.pos.unsqueeze(0).expand(b, -1, -1)
        inputs = torch.cat([pixels, pos], dim=-1)
        latents = self.latents.unsqueeze(0).expand(b, -1, -1)
        x, weights = self.encoder(latents, inputs, need_weights=need_weights)
        for block in self.blocks:
            x = block(x)
        return x, weights

    def forward(self, images):
        b = images.shape[0]
        x, _ = self.encode(images)
        if self.num_classes is not None:
            query = self.query.unsqueeze(0).expand(b, -1, -1)
            out, _ = self.decoder(query, x)
            return self.head(out.squeeze(1))  # (B, classes)
        query = self.query_proj(self.pos).unsqueeze(0).repeat(b, 1, 1)
        out, _ = self.decoder(query, x)
        recon = self.head(out)  # (B, H*W, C)
        return recon.transpose(1, 2).reshape(images.shape)


def param_groups(model, weight_decay):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.ndim < 2 or "norm" in name or name in ("latents", "query"):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model, lr, weight_decay, steps):
    optimizer = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.95))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=lr * 0.1)
    return optimizer, scheduler


def train(model, batches, lr=3e-3, max_norm=0.5, weight_decay=0.05, checkpoint=None, stop_after=None,
          resume=False):
    """AdamW + CosineAnnealingLR over numpy ``(images, labels)`` batches (labels None: reconstruct). With
    ``checkpoint``: saved (model, optimizer, scheduler, step) after ``stop_after`` steps, where the run stops;
    ``resume`` continues from it."""
    optimizer, scheduler = make_optimizer(model, lr, weight_decay, len(batches))
    history = {"loss": [], "norm": [], "lr": []}
    start = 0
    if resume:
        state = torch.load(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, history = state["step"], state["history"]
    model.train()
    for step in range(start, len(batches)):
        images, labels = batches[step]
        x = torch.from_numpy(images)
        out = model(x)
        loss = F.mse_loss(out, x) if labels is None else F.cross_entropy(out, torch.from_numpy(labels))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        scheduler.step()
        history["loss"].append(loss.item())
        history["norm"].append(float(norm))
        history["lr"].append(scheduler.get_last_lr()[0])
        if stop_after is not None and step + 1 == stop_after:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "step": step + 1, "history": history}, checkpoint)
            break
    return history


@torch.no_grad()
def evaluate(model, images, labels):
    model.eval()
    logits = model(torch.from_numpy(images))
    pred = logits.argmax(dim=-1)
    acc = (pred == torch.from_numpy(labels)).float().mean().item()
    return logits, pred, acc


def make_batches(seed, steps, batch=4, shape=(6, 6), classify=True):
    """Images of a bright square at a random corner; the label is the corner."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        images = rng.normal(0, 0.1, (batch, 1, *shape)).astype(np.float32)
        labels = rng.integers(0, 4, batch)
        h, w = shape[0] // 2, shape[1] // 2
        for i, c in enumerate(labels):
            r, s = divmod(int(c), 2)
            images[i, 0, r * h:(r + 1) * h, s * w:(s + 1) * w] += 1.0
        out.append((images, labels if classify else None))
    return out


class GEGLU(nn.Module):
    def forward(self, x):
        x, gates = x.chunk(2, dim=-1)
        return x * F.gelu(gates)


class Attention(nn.Module):
    """Multi-head attention written out: queries (B, n, q_dim), context (B, m, ctx_dim), mask (B, m) True = keep."""

    def __init__(self, q_dim, ctx_dim=None, heads=2, dim_head=8):
        super().__init__()
        inner = heads * dim_head
        ctx_dim = q_dim if ctx_dim is None else ctx_dim
        self.heads, self.scale = heads, dim_head ** -0.5
        self.to_q = nn.Linear(q_dim, inner, bias=False)
        self.to_kv = nn.Linear(ctx_dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, q_dim)

    def forward(self, x, context=None, mask=None):
        context = x if context is None else context
        h = self.heads
        q = self.to_q(x)
        k, v = self.to_kv(context).chunk(2, dim=-1)

        def split(t):
            b, n, _ = t.shape
            return t.reshape(b, n, h, -1).permute(0, 2, 1, 3)

        q, k, v = map(split, (q, k, v))
        sim = torch.einsum("bhid,bhjd->bhij", q, k) * self.scale
        if mask is not None:
            sim = sim.masked_fill(~mask[:, None, None, :], -torch.finfo(sim.dtype).max)
        attn = sim.softmax(dim=-1)
        out = torch.einsum("bhij,bhjd->bhid", attn, v)
        b, _, n, _ = out.shape
        return self.to_out(out.permute(0, 2, 1, 3).reshape(b, n, -1))


class PreNormAttn(nn.Module):
    def __init__(self, dim, ctx_dim=None, **kwargs):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.norm_ctx = nn.LayerNorm(ctx_dim) if ctx_dim is not None else None
        self.attn = Attention(dim, ctx_dim, **kwargs)

    def forward(self, x, context=None, mask=None):
        if self.norm_ctx is not None:
            context = self.norm_ctx(context)
        return self.attn(self.norm(x), context, mask)


class GatedFF(nn.Module):
    def __init__(self, dim, mult=2):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim * mult * 2), GEGLU(),
                                 nn.Linear(dim * mult, dim))

    def forward(self, x):
        return self.net(x)


class PerceiverLM(nn.Module):
    def __init__(self, num_tokens=258, dim=16, max_len=12, num_latents=6, latent_dim=16, depth=1, repeats=2):
        super().__init__()
        self.token_emb = nn.Embedding(num_tokens, dim)
        self.pos_emb = nn.Embedding(max_len, dim)
        self.latents = nn.Parameter(torch.empty(num_latents, latent_dim))
        nn.init.trunc_normal_(self.latents, std=0.02, a=-0.04, b=0.04)
        self.cross_attn = PreNormAttn(latent_dim, dim, heads=1, dim_head=latent_dim)
        self.cross_ff = GatedFF(latent_dim)
        self.layers = nn.ModuleList([nn.ModuleList([PreNormAttn(latent_dim), GatedFF(latent_dim)])
                                     for _ in range(depth)])
        self.repeats = repeats
        self.decoder_attn = PreNormAttn(dim, latent_dim, heads=1, dim_head=latent_dim)
        self.decoder_ff = GatedFF(dim)
        self.to_logits = nn.Linear(dim, num_tokens)

    def forward(self, tokens, mask=None):
        b, n = tokens.shape
        pos = self.pos_emb(torch.arange(n))
        x = self.token_emb(tokens) + pos
        latents = self.latents.unsqueeze(0).repeat(b, 1, 1)
        latents = self.cross_attn(latents, x, mask) + latents
        latents = self.cross_ff(latents) + latents
        for _ in range(self.repeats):  # the same weights each pass
            for attn, ff in self.layers:
                latents = attn(latents) + latents
                latents = ff(latents) + latents
        queries = pos.unsqueeze(0).expand(b, -1, -1)
        out = self.decoder_attn(queries, latents) + queries
        out = self.decoder_ff(out) + out
        return self.to_logits(out)


def byte_batches(seed, steps, texts, max_len=12, mask_prob=0.3, pad=0, mask_token=257):
    """UTF-8 bytes (+1, 0 pads) of ``texts`` padded to ``max_len``, a share of the real bytes replaced by
    ``mask_token``: (input ids, labels with -100 where nothing is predicted, padding mask True = a byte)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        picks = rng.choice(len(texts), 3)
        ids = np.full((3, max_len), pad, dtype=np.int64)
        for row, i in enumerate(picks):
            data = np.frombuffer(texts[i].encode("utf-8")[:max_len], dtype=np.uint8).astype(np.int64) + 1
            ids[row, :len(data)] = data
        keep = ids != pad
        chosen = (rng.random(ids.shape) < mask_prob) & keep
        chosen[:, 0] |= ~chosen.any(axis=1)  # at least one prediction per row
        labels = np.where(chosen, ids, -100)
        out.append((np.where(chosen, mask_token, ids), labels, keep))
    return out


def train_lm(model, batches, lr=2e-3):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=len(batches))
    history = {"loss": [], "norm": []}
    for ids, labels, keep in batches:
        logits = model(torch.from_numpy(ids), mask=torch.from_numpy(keep))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(labels).reshape(-1),
                               ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        history["norm"].append(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item())
        optimizer.step()
        scheduler.step()
        history["loss"].append(loss.item())
    return history
