"""A character-level language model written as ordinary PyTorch code, using this round's torch surface: an LSTM
under causal multi-head attention, a custom autograd.Function, a forward hook, AdamW with a warm-restart cosine
schedule and gradient clipping. The harness runs it on torch and, with the imports swapped, on ours."""

import torch
import torch.nn.functional as F
from torch import nn


class HalfGrad(torch.autograd.Function):
    """Identity forward; halves the gradient flowing back (a straight-through style trick)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * 0.5


class CharModel(nn.Module):
    def __init__(self, vocab, width=16, heads=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.lstm = nn.LSTM(width, width, num_layers=2, batch_first=True)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, idx):
        x = self.embed(idx)
        h, _ = self.lstm(x)
        t = idx.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        a, _ = self.attn(h, h, h, attn_mask=causal, need_weights=False)
        return self.head(self.norm(h + HalfGrad.apply(a)))


def run(model, batches, steps):
    seen = []
    model.lstm.register_forward_hook(lambda module, args, out: seen.append(out[0].detach().abs().mean().item()))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3)
    losses, lrs, norms = [], [], []
    for step in range(steps):
        x, y = batches[step]
        logits = model(torch.tensor(x))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.tensor(y).reshape(-1))
        opt.zero_grad()
        loss.backward()
        norms.append(nn.utils.clip_grad_norm_(model.parameters(), 1.0).item())
        opt.step()
        sched.step()
        losses.append(loss.item())
        lrs.append(sched.get_last_lr()[0])
    return {"loss": losses, "lr": lrs, "norm": norms, "hook": seen}
