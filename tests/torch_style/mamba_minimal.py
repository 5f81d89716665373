"""johnma2006's mamba-minimal as ordinary PyTorch code (einops' rearrange / repeat / einsum written as permute,
``repeat`` and ``torch.einsum``), with the training loop people put around it on synthetic token sequences.

- ``ModelArgs``: a dataclass deriving ``d_inner``, ``dt_rank='auto'`` and the padded vocabulary in __post_init__.
- ``Mamba``: embedding, ResidualBlocks of RMSNorm + MambaBlock, a final RMSNorm and an lm_head tied to the
  embedding; ``MambaBlock``: in_proj split into x and res, a depthwise causal Conv1d cut back to length l, SiLU, the
  selective SSM (softplus delta, ``A = -exp(A_log)``, a Python loop over the sequence, ``torch.stack`` of the ys and
  ``+ u * D``), ``y * silu(res)`` and out_proj.
- ``train``: next-token cross_entropy on ``logits.view(-1, vocab)``, AdamW with nanoGPT's decay / no-decay groups
  (A_log and D not decayed), clip_grad_norm_, a linear-warmup cosine LambdaLR, a checkpoint of model + optimizer +
  scheduler and a resume from it; ``generate``: the demo's top-k sampling or greedy argmax, grown by
  ``torch.cat``; ``save_and_load``: a state_dict ``torch.save`` / ``torch.load`` round trip.
The harness runs it on torch and, with the imports swapped, on ours."""

# ruff: noqa: B007, RUF059, SIM108 - the repo's own names and spelling

import io
import math
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ModelArgs:
    d_model: int
    n_layer: int
    vocab_size: int
    d_state: int = 16
    expand: int = 2
    dt_rank: Union[int, str] = 'auto'
    d_conv: int = 4
    pad_vocab_size_multiple: int = 8
    conv_bias: bool = True
    bias: bool = False

    def __post_init__(self):
        self.d_inner = int(self.expand * self.d_model)

        if self.dt_rank == 'auto':
            self.dt_rank = math.ceil(self.d_model / 16)

        if self.vocab_size % self.pad_vocab_size_multiple != 0:
            self.vocab_size += (self.pad_vocab_size_multiple
                                - self.vocab_size % self.pad_vocab_size_multiple)


class Mamba(nn.Module):
    def __init__(self, args: ModelArgs):
        """Full Mamba model."""
        super().__init__()
        self.args = args

        self.embedding = nn.Embedding(args.vocab_size, args.d_model)
        self.layers = nn.ModuleList([ResidualBlock(args) for _ in range(args.n_layer)])
        self.norm_f = RMSNorm(args.d_model)

        self.lm_head = nn.Linear(args.d_model, args.vocab_size, bias=False)
        self.lm_head.weight = self.embedding.weight  # Tie output projection to embedding weights.

    def forward(self, input_ids):
        """
        Args:
            input_ids (long tensor): shape (b, l)

        Returns:
            logits: shape (b, l, vocab_size)
        """
        x = self.embedding(input_ids)

        for layer in self.layers:
            x = layer(x)

        x = self.norm_f(x)
        logits = self.lm_head(x)

        return logits


class ResidualBlock(nn.Module):
    def __init__(self, args: ModelArgs):
        """Simple block wrapping Mamba block with normalization and residual connection."""
        super().__init__()
        self.args = args
        self.mixer = MambaBlock(args)
        self.norm = RMSNorm(args.d_model)

    def forward(self, x):
        """x: shape (b, l, d) -> output: shape (b, l, d)"""
        output = self.mixer(self.norm(x)) + x

        return output


class MambaBlock(nn.Module):
    def __init__(self, args: ModelArgs):
        """A single Mamba block, as described in Figure 3 in Section 3.4 in the Mamba paper [1]."""
        super().__init__()
        self.args = args

        self.in_proj = nn.Linear(args.d_model, args.d_inner * 2, bias=args.bias)

        self.conv1d = nn.Conv1d(
            in_channels=args.d_inner,
            out_channels=args.d_inner,
            bias=args.conv_bias,
            kernel_size=args.d_conv,
            groups=args.d_inner,
            padding=args.d_conv - 1,
        )

        # x_proj takes in `x` and outputs the input-specific delta, B, C
        self.x_proj = nn.Linear(args.d_inner, args.dt_rank + args.d_state * 2, bias=False)

        # dt_proj projects delta from dt_rank to d_in
        self.dt_proj = nn.Linear(args.dt_rank, args.d_inner, bias=True)

        A = torch.arange(1, args.d_state + 1).repeat(args.d_inner, 1)  # repeat(..., 'n -> d n', d=d_inner)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(args.d_inner))
        self.out_proj = nn.Linear(args.d_inner, args.d_model, bias=args.bias)

    def forward(self, x):
        """x: shape (b, l, d) -> output: shape (b, l, d)"""
        (b, l, d) = x.shape

        x_and_res = self.in_proj(x)  # shape (b, l, 2 * d_in)
        (x, res) = x_and_res.split(split_size=[self.args.d_inner, self.args.d_inner], dim=-1)

        x = x.permute(0, 2, 1)  # rearrange(x, 'b l d_in -> b d_in l')
        x = self.conv1d(x)[:, :, :l]
        x = x.transpose(1, 2)  # rearrange(x, 'b d_in l -> b l d_in')

        x = F.silu(x)

        y = self.ssm(x)

        y = y * F.silu(res)

        output = self.out_proj(y)

        return output

    def ssm(self, x):
        """x: shape (b, l, d_in) -> output: shape (b, l, d_in)"""
        (d_in, n) = self.A_log.shape

        A = -torch.exp(self.A_log.float())  # shape (d_in, n)
        D = self.D.float()

        x_dbl = self.x_proj(x)  # (b, l, dt_rank + 2*n)

        (delta, B, C) = x_dbl.split(split_size=[self.args.dt_rank, n, n], dim=-1)  # delta: (b, l, dt_rank)
        delta = F.softplus(self.dt_proj(delta))  # (b, l, d_in)

        y = self.selective_scan(x, delta, A, B, C, D)

        return y

    def selective_scan(self, u, delta, A, B, C, D):
        """The selective scan, run sequentially.

        Args:
            u: shape (b, l, d_in); delta: shape (b, l, d_in); A: shape (d_in, n); B, C: shape (b, l, n);
            D: shape (d_in,)

        Returns:
            output: shape (b, l, d_in)
        """
        (b, l, d_in) = u.shape
        n = A.shape[1]

        # Discretize continuous parameters (A, B): zero-order hold for A, simplified Euler for B
        deltaA = torch.exp(torch.einsum('bld,dn->bldn', delta, A))
        deltaB_u = torch.einsum('bld,bln,bld->bldn', delta, B, u)

        # Perform selective scan (see scan_SSM() in The Annotated S4 [2])
        x = torch.zeros((b, d_in, n), device=deltaA.device)
        ys = []
        for i in range(l):
            x = deltaA[:, i] * x + deltaB_u[:, i]
            y = torch.einsum('bdn,bn->bd', x, C[:, i, :])
            ys.append(y)
        y = torch.stack(ys, dim=1)  # shape (b, l, d_in)

        y = y + u * D

        return y


class RMSNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        output = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

        return output


# --- the training script around it ---

def make_batches(steps, batch_size, seq_len, vocab, seed=0):
    """Sequences that count up by a per-row stride modulo ``vocab`` (learnable from the first two tokens):
    ``steps`` int64 arrays of shape (batch_size, seq_len + 1)."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(steps):
        start = rng.integers(0, vocab, (batch_size, 1))
        stride = rng.integers(1, 4, (batch_size, 1))
        batches.append((start + stride * np.arange(seq_len + 1)) % vocab)
    return batches


def configure_optimizers(model, weight_decay, learning_rate, betas):
    param_dict = {pn: p for pn, p in model.named_parameters() if p.requires_grad}
    # 2-D weights decay; biases, norms, A_log and D do not (mamba_ssm's _no_weight_decay)
    decay_params = [p for n, p in param_dict.items() if p.dim() >= 2 and not n.endswith('A_log')]
    nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2 or n.endswith('A_log')]
    optim_groups = [
        {'params': decay_params, 'weight_decay': weight_decay},
        {'params': nodecay_params, 'weight_decay': 0.0},
    ]
    num_decay_params = sum(p.numel() for p in decay_params)
    num_nodecay_params = sum(p.numel() for p in nodecay_params)
    print(f"num decayed parameter tensors: {len(decay_params)}, with {num_decay_params:,} parameters")
    print(f"num non-decayed parameter tensors: {len(nodecay_params)}, with {num_nodecay_params:,} parameters")
    return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas)


def cosine_with_warmup(optimizer, warmup_steps, total_steps, min_ratio=0.1):
    def lr_lambda(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)


def train(model, batches, lr=3e-3, warmup=2, checkpoint=None, save_at=None, log_interval=2):
    """Train on ``batches`` (int arrays (b, l + 1)), optionally resuming from ``checkpoint`` (bytes); returns the
    per-step series, printed lines, the bytes saved after step ``save_at`` and the final parameters."""
    vocab = model.args.vocab_size
    optimizer = configure_optimizers(model, weight_decay=0.1, learning_rate=lr, betas=(0.9, 0.95))
    scheduler = cosine_with_warmup(optimizer, warmup, len(batches))
    start = 0
    if checkpoint is not None:
        ckpt = torch.load(io.BytesIO(checkpoint))
        model.load_state_dict(ckpt['model'])
        optimizer.load_state_dict(ckpt['optimizer'])
        scheduler.load_state_dict(ckpt['scheduler'])
        start = ckpt['step']
    log = {'loss': [], 'norm': [], 'lr': [], 'acc': [], 'lines': [], 'saved': None}
    model.train()
    for step in range(start, len(batches)):
        data = torch.from_numpy(batches[step])
        x, y = data[:, :-1], data[:, 1:]
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        acc = (logits.argmax(-1)[:, 2:] == y[:, 2:]).float().mean()
        log['loss'].append(loss.item())
        log['norm'].append(norm.item())
        log['lr'].append(optimizer.param_groups[0]['lr'])
        log['acc'].append(acc.item())
        if step % log_interval == 0:
            line = f"step {step:3d} | loss {loss.item():.4f} | lr {scheduler.get_last_lr()[0]:.2e} | vocab {vocab}"
            print(line)
            log['lines'].append(line)
        if save_at == step + 1:
            buffer = io.BytesIO()
            torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(),
                        'scheduler': scheduler.state_dict(), 'step': step + 1}, buffer)
            log['saved'] = buffer.getvalue()
    log['params'] = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    return log


def generate(model, input_ids, n_tokens_to_gen=50, sample=True, top_k=40):
    """The demo notebook's generate without its tokenizer: ``input_ids`` (b, l) long -> (b, l + n_tokens_to_gen),
    each token drawn from the top-k renormalised softmax (``sample``) or its argmax."""
    model.eval()
    for token_n in range(n_tokens_to_gen):
        with torch.no_grad():
            indices_to_input = input_ids
            next_token_logits = model(indices_to_input)[:, -1]

        probs = F.softmax(next_token_logits, dim=-1)
        (batch, vocab_size) = probs.shape

        if top_k is not None:
            (values, indices) = torch.topk(probs, k=top_k)
            probs[probs < values[:, -1, None]] = 0
            probs = probs / probs.sum(axis=1, keepdims=True)

        if sample:
            next_indices = torch.multinomial(probs, num_samples=1)
        else:
            next_indices = torch.argmax(probs, dim=-1)[:, None]

        input_ids = torch.cat([input_ids, next_indices], dim=1)

    return input_ids


def save_and_load(model):
    """A state_dict round trip through torch.save / torch.load into a fresh Mamba; returns the copy."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = Mamba(model.args)
    fresh.load_state_dict(torch.load(buffer))
    fresh.eval()
    return fresh
