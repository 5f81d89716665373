"""A Vision Transformer and an MLP-Mixer on small synthetic images, written as the 2020-2022 "ViT from scratch"
repositories write them without einops (lucidrains' vit-pytorch with its rearranges spelled as permute / reshape /
unfold, omihub777/ViT-CIFAR's training loop): conv and unfold patch embeddings, a class token and learned positions,
a hand-written multi-head attention beside ``nn.MultiheadAttention``, ``F.scaled_dot_product_attention`` and
omihub777's einsum blocks, ``_init_weights``, token mixing by transposed Linear layers or 1x1 Conv1d, AdamW with a
no-decay group, warmup + cosine through LambdaLR, label smoothing, gradient clipping, a disabled GradScaler,
attention maps through forward hooks, their rollout (jacobgil/vit-explain) and a checkpoint resume.

Images are (B, 3, 16, 16), cut into 4x4 patches: 16 tokens (17 with the class token)."""

import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def make_data(n, num_classes=4, seed=0):
    """n images (n, 3, 16, 16) float32 whose class is a bright 8x8 quadrant, plus noise; labels (n,) int64."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, n)
    x = rng.normal(0, 0.5, (n, 3, 16, 16)).astype(np.float32)
    for i, c in enumerate(y):
        r, col = divmod(int(c), 2)
        x[i, :, r * 8:(r + 1) * 8, col * 8:(col + 1) * 8] += 1.0
    return torch.from_numpy(x), torch.from_numpy(y)


class PatchEmbedConv(nn.Module):
    def __init__(self, in_chans=3, patch_size=4, dim=32):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        x = self.proj(x)  # B, dim, H/p, W/p
        return x.flatten(2).transpose(1, 2)  # B, N, dim


class PatchEmbedUnfold(nn.Module):
    def __init__(self, in_chans=3, patch_size=4, dim=32):
        super().__init__()
        self.p = patch_size
        self.proj = nn.Linear(in_chans * patch_size * patch_size, dim)

    def forward(self, x):
        b, c, h, w = x.shape  # noqa: RUF059
        p = self.p
        patches = x.unfold(2, p, p).unfold(3, p, p)  # B, C, H/p, W/p, p, p
        patches = patches.contiguous().view(b, c, -1, p * p)  # B, C, N, p*p
        patches = patches.permute(0, 2, 1, 3).reshape(b, -1, c * p * p)  # B, N, C*p*p
        return self.proj(patches)


class FeedForward(nn.Module):
    def __init__(self, dim, hidden_dim, dropout=0.):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        return self.net(x)


class Attention(nn.Module):
    def __init__(self, dim, heads=4, dim_head=8, dropout=0.):
        super().__init__()
        inner_dim = dim_head * heads
        project_out = not (heads == 1 and dim_head == dim)
        self.heads = heads
        self.scale = dim_head ** -0.5
        self.attend = nn.Softmax(dim=-1)
        self.to_qkv = nn.Linear(dim, inner_dim * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner_dim, dim), nn.Dropout(dropout)) if project_out else nn.Identity()

    def forward(self, x):
        b, n, _ = x.shape
        h = self.heads
        qkv = self.to_qkv(x).chunk(3, dim=-1)
        q, k, v = map(lambda t: t.reshape(b, n, h, -1).transpose(1, 2), qkv)
        dots = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        attn = self.attend(dots)
        out = torch.matmul(attn, v)
        out = out.transpose(1, 2).reshape(b, n, -1)
        return self.to_out(out)


class SDPAttention(nn.Module):
    """The same attention through F.scaled_dot_product_attention (PyTorch 2.0 code)."""

    def __init__(self, dim, heads=4, dropout=0.):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.)
        x = x.transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class MultiHeadSelfAttention(nn.Module):
    """omihub777/ViT-CIFAR's attention: separate q, k, v projections and einsum."""

    def __init__(self, feats, head=8, dropout=0.):
        super(MultiHeadSelfAttention, self).__init__()  # noqa: UP008  (its 2020 spelling)
        self.head = head
        self.feats = feats
        self.sqrt_d = self.feats**0.5
        self.q = nn.Linear(feats, feats)
        self.k = nn.Linear(feats, feats)
        self.v = nn.Linear(feats, feats)
        self.o = nn.Linear(feats, feats)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        b, n, f = x.size()  # noqa: RUF059
        q = self.q(x).view(b, n, self.head, self.feats // self.head).transpose(1, 2)
        k = self.k(x).view(b, n, self.head, self.feats // self.head).transpose(1, 2)
        v = self.v(x).view(b, n, self.head, self.feats // self.head).transpose(1, 2)
        score = F.softmax(torch.einsum("bhif, bhjf->bhij", q, k) / self.sqrt_d, dim=-1)  # (b,h,n,n)
        attn = torch.einsum("bhij, bhjf->bihf", score, v)  # (b,n,h,f//h)
        o = self.dropout(self.o(attn.flatten(2)))
        return o


class Block(nn.Module):
    """Pre-norm transformer block; ``kind`` picks the attention: 'manual', 'mha', 'sdpa' or 'einsum'."""

    def __init__(self, dim, heads, mlp_dim, dropout=0., kind="manual"):
        super().__init__()
        self.kind = kind
        self.norm1 = nn.LayerNorm(dim)
        if kind == "manual":
            self.attn = Attention(dim, heads=heads, dim_head=dim // heads, dropout=dropout)
        elif kind == "mha":
            self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        elif kind == "sdpa":
            self.attn = SDPAttention(dim, heads=heads, dropout=dropout)
        else:
            self.attn = MultiHeadSelfAttention(dim, head=heads, dropout=dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, mlp_dim, dropout)

    def forward(self, x):
        y = self.norm1(x)
        if self.kind == "mha":
            y, _ = self.attn(y, y, y, need_weights=False)
        else:
            y = self.attn(y)
        x = x + y
        x = x + self.mlp(self.norm2(x))
        return x


class ViT(nn.Module):
    def __init__(self, image_size=16, patch_size=4, num_classes=4, dim=32, depth=4, heads=4, mlp_dim=64,
                 channels=3, pool="cls", dropout=0., emb_dropout=0., embed="conv",
                 kinds=("manual", "mha", "sdpa", "einsum"), trunc_pos=False):
        super().__init__()
        assert pool in {"cls", "mean"}, "pool type must be either cls (cls token) or mean (mean pooling)"
        num_patches = (image_size // patch_size) ** 2
        if embed == "conv":
            self.to_patch_embedding = PatchEmbedConv(channels, patch_size, dim)
        else:
            self.to_patch_embedding = PatchEmbedUnfold(channels, patch_size, dim)
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.dropout = nn.Dropout(emb_dropout)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_dim, dropout, kinds[i % len(kinds)])
                                     for i in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.pool = pool
        self.head = nn.Linear(dim, num_classes)
        if trunc_pos:
            nn.init.trunc_normal_(self.pos_embedding, std=.02)
        self.apply(self._init_weights)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)

    def forward(self, img):
        x = self.to_patch_embedding(img)
        b, n, _ = x.shape
        cls_tokens = self.cls_token.expand(b, -1, -1)
        x = torch.cat((cls_tokens, x), dim=1)
        x += self.pos_embedding[:, :(n + 1)]
        x = self.dropout(x)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        x = x.mean(dim=1) if self.pool == "mean" else x[:, 0]
        return self.head(x)


class MlpBlock(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class MixerBlock(nn.Module):
    """Token mixing by Linear layers on ``x.transpose(1, 2)``, or (``token_conv``, lucidrains' mlp-mixer-pytorch)
    by 1x1 Conv1d layers that take the N tokens as channels."""

    def __init__(self, num_patches, dim, token_dim, channel_dim, token_conv=False):
        super().__init__()
        self.token_conv = token_conv
        self.norm1 = nn.LayerNorm(dim)
        if token_conv:
            self.token_mix = nn.Sequential(nn.Conv1d(num_patches, token_dim, kernel_size=1), nn.GELU(),
                                           nn.Conv1d(token_dim, num_patches, kernel_size=1))
        else:
            self.token_mix = MlpBlock(num_patches, token_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mix = MlpBlock(dim, channel_dim)

    def forward(self, x):
        if self.token_conv:
            y = self.token_mix(self.norm1(x))  # B, N, dim: N is Conv1d's channel axis
        else:
            y = self.norm1(x).transpose(1, 2)  # B, dim, N
            y = self.token_mix(y).transpose(1, 2)
        x = x + y
        x = x + self.channel_mix(self.norm2(x))
        return x


class MLPMixer(nn.Module):
    def __init__(self, image_size=16, patch_size=4, num_classes=4, dim=32, depth=2, token_dim=16, channel_dim=64):
        super().__init__()
        num_patches = (image_size // patch_size) ** 2
        self.stem = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)
        self.blocks = nn.Sequential(*[MixerBlock(num_patches, dim, token_dim, channel_dim, token_conv=i % 2 == 1)
                                      for i in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)
        x = self.blocks(x)
        x = self.norm(x)
        x = x.mean(dim=1)
        return self.head(x)


def param_groups(model, weight_decay):
    """The usual split: biases, norms, the position embedding and the class token get no weight decay."""
    no_decay = ["bias", "norm", "pos_embedding", "cls_token"]
    decay, skip = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if any(nd in name for nd in no_decay):
            skip.append(param)
        else:
            decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": skip, "weight_decay": 0.0}]


def warmup_cosine(warmup_steps, total_steps):
    def lr_lambda(step):
        if step < warmup_steps:
            return float(step + 1) / float(max(1, warmup_steps))
        progress = float(step - warmup_steps) / float(max(1, total_steps - warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return lr_lambda


def make_optimizer(model, lr=1e-3, weight_decay=5e-2, warmup=2, total=8):
    optimizer = torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.999))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup, total))
    return optimizer, scheduler


def accuracy(logits, y):
    return (logits.argmax(-1) == y).float().mean().item()


def batches(x, y, batch_size, epoch):
    order = np.random.default_rng(100 + epoch).permutation(len(y))
    for i in range(0, len(y), batch_size):
        idx = torch.from_numpy(order[i:i + batch_size])
        yield x[idx], y[idx]


def train(model, x, y, epochs=2, batch_size=16, total=8, start_epoch=0, checkpoint=None, ckpt_dir=None):
    """Train from ``start_epoch`` (loading ``checkpoint``, a path, first), saving ``ckpt_dir/ckpt_{epoch}.pt`` after
    each epoch; log per step: loss, acc, lr, grad norm."""
    optimizer, scheduler = make_optimizer(model, total=total)
    scaler = torch.amp.GradScaler(enabled=False)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    if checkpoint is not None:
        ckpt = torch.load(checkpoint, map_location="cpu")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        start_epoch = ckpt["epoch"] + 1
    log = {"loss": [], "acc": [], "lr": [], "grad_norm": []}
    for epoch in range(start_epoch, epochs):
        model.train()
        for xb, yb in batches(x, y, batch_size, epoch):
            optimizer.zero_grad()
            logits = model(xb)
            loss = criterion(logits, yb)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            scaler.step(optimizer)
            scaler.update()
            log["lr"].append(optimizer.param_groups[0]["lr"])
            scheduler.step()
            log["loss"].append(loss.item())
            log["acc"].append(accuracy(logits, yb))
            log["grad_norm"].append(grad_norm.item())
        print(f"epoch {epoch} loss {np.mean(log['loss'][-4:]):.4f} lr {scheduler.get_last_lr()[0]:.6f}")
        if ckpt_dir is not None:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "epoch": epoch},
                       os.path.join(ckpt_dir, f"ckpt_{epoch}.pt"))
    return log


@torch.no_grad()
def evaluate(model, x, y):
    model.eval()
    logits = model(x)
    return F.cross_entropy(logits, y).item(), accuracy(logits, y)


def attention_maps(model, x):
    """The softmax outputs of every hand-written ``Attention`` (B, heads, N, N), caught by forward hooks."""
    maps = []

    def hook(module, inputs, output):
        maps.append(output.detach())

    handles = [m.attend.register_forward_hook(hook) for m in model.modules() if isinstance(m, Attention)]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return maps


def attention_rollout(maps, discard_ratio=0.5):
    """Abnar & Zuidema's rollout as jacobgil/vit-explain writes it: the class token's attention to each patch,
    (B, sqrt(N), sqrt(N)) scaled to a maximum of 1."""
    result = torch.eye(maps[0].size(-1)).unsqueeze(0)
    with torch.no_grad():
        for attention in maps:
            fused = attention.mean(dim=1)  # B, N, N
            flat = fused.view(fused.size(0), -1)
            _, indices = flat.topk(int(flat.size(-1) * discard_ratio), -1, False)
            indices = indices[indices != 0]
            flat[:, indices] = 0  # as vit-explain: the union over the batch, never the class token's own
            I = torch.eye(fused.size(-1))
            a = (fused + 1.0 * I) / 2
            a = a / a.sum(dim=-1, keepdim=True)
            result = torch.matmul(a, result)
    mask = result[:, 0, 1:]
    width = int(mask.size(-1) ** 0.5)
    mask = mask.reshape(-1, width, width)
    return mask / mask.amax(dim=(1, 2), keepdim=True)


def attention_grad_maps(model, x, category):
    """vit-explain's gradient-weighted attention: each hand-written block's attention times its gradient for the
    logit of ``category``, negatives cut, heads averaged -> [(B, N, N)]; hooks on the softmax module."""
    attentions, gradients = [], []

    def forward_hook(module, inputs, output):
        attentions.append(output.detach())

    def backward_hook(module, grad_input, grad_output):
        gradients.append(grad_output[0].detach())

    attends = [m.attend for m in model.modules() if isinstance(m, Attention)]
    handles = [a.register_forward_hook(forward_hook) for a in attends]
    handles += [a.register_full_backward_hook(backward_hook) for a in attends]
    model.eval()
    model.zero_grad()
    output = model(x)
    output[:, category].sum().backward()
    for h in handles:
        h.remove()
    gradients = gradients[::-1]  # backward meets the blocks last to first
    return [(a * g).clamp(min=0).mean(dim=1) for a, g in zip(attentions, gradients)]
