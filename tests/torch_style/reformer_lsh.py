"""A Reformer (Kitaev et al. 2020) language model the way reformer-pytorch-style re-implementations write it, at a
tiny size: LSH attention and reversible residual layers.

- ``hash_vectors``: angular LSH: shared query/key vectors times random rotations (a fixed tensor handed in, shape
  (dim, n_hashes, n_buckets // 2)), ``torch.cat([r, -r], -1).argmax(-1)`` for the bucket, each hash round offset by
  ``n_buckets``.
- ``LSHAttention``: positions sorted by bucket with ``torch.sort(..., stable=True)`` (so positions stay in order
  inside a bucket) and the sort undone with ``torch.argsort``; the sorted rows fetched with ``gather`` (and with a
  batched ``index_select`` over the flattened batch, the two compared); chunks attending to themselves and one chunk
  back (``torch.cat`` with a ``roll``); keys L2-normalised (``F.normalize``); a token's attention to itself masked
  with a large negative value, a causal mask by ``masked_fill`` with ``-torch.finfo(dtype).max``; ``logsumexp``
  normalisation so the hash rounds combine weighted by their softmax over the rounds.
- ``ReversibleBlock`` / ``ReversibleFunction``: y1 = x1 + f(x2), y2 = x2 + g(y1), run forward under ``no_grad``
  keeping only the outputs; ``backward`` (a ``torch.autograd.Function``) rebuilds each block's inputs from its
  outputs, recomputing f and g under ``enable_grad`` and calling ``torch.autograd.backward`` on them so the
  parameter gradients accumulate. ``ReformerLM(reversible=False)`` runs the same blocks with ordinary autograd,
  or each under ``torch.utils.checkpoint.checkpoint`` (``use_reentrant`` True or False).
- ``train``: Adam on a copy task, the cross-entropy losses and gradient norms.

Changes for the harness: the rotations come in as a fixed tensor built from numpy (reformer-pytorch draws them with
``torch.randn`` each call), and there is no dropout (so the recomputation needs no saved RNG state)."""

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint as checkpoint
from torch import nn

SELF_ATTN_VALUE = -5e4  # a token sees itself only when nothing else is in reach


def hash_vectors(qk, rotations):
    """qk (B, T, d), rotations (d, n_hashes, n_buckets // 2) -> bucket ids (B, n_hashes * T), offset per round."""
    n_hashes, half = rotations.shape[1], rotations.shape[2]
    rotated = torch.einsum("btd,dhr->bhtr", qk, rotations)
    buckets = torch.cat([rotated, -rotated], dim=-1).argmax(dim=-1)  # (B, n_hashes, T)
    offsets = (torch.arange(n_hashes) * (2 * half)).reshape(1, -1, 1)
    return (buckets + offsets).reshape(qk.shape[0], -1)


def batched_gather(values, indices):
    """values (B, T, d), indices (B, n) -> (B, n, d): row ``indices[b, i]`` of batch b."""
    return values.gather(1, indices.unsqueeze(-1).expand(-1, -1, values.shape[-1]))


def batched_index_select(values, indices):
    """The same rows as ``batched_gather``, by ``index_select`` on the flattened batch."""
    b, t, d = values.shape
    flat = indices + (torch.arange(b) * t).unsqueeze(1)
    return values.reshape(b * t, d).index_select(0, flat.reshape(-1)).reshape(b, -1, d)


def look_one_back(x):
    """(B, chunks, n, ...) -> (B, chunks, 2n, ...): each chunk followed by the one before it (cyclically)."""
    return torch.cat([x, x.roll(1, dims=1)], dim=2)


class LSHAttention(nn.Module):
    def __init__(self, bucket_size=4, causal=False, use_index_select=False):
        super().__init__()
        self.bucket_size, self.causal, self.use_index_select = bucket_size, causal, use_index_select
        self.last_buckets, self.sorts_agree = None, None

    def forward(self, qk, v, rotations):
        """qk, v (B, T, d) -> (B, T, d)."""
        batch, seqlen, dim = qk.shape
        n_hashes = rotations.shape[1]
        buckets = hash_vectors(qk, rotations)  # (B, H*T)
        self.last_buckets = buckets
        ticker = torch.arange(n_hashes * seqlen).unsqueeze(0).expand_as(buckets)
        # sorting the bucket ids stably keeps each bucket's positions in order, as sorting the unique keys
        # bucket * T + position does (reformer-pytorch's way)
        _, sticker = torch.sort(buckets, dim=-1, stable=True)
        self.sorts_agree = torch.equal(sticker, torch.argsort(seqlen * buckets + ticker % seqlen, dim=-1))
        undo_sort = torch.argsort(sticker, dim=-1)
        st = sticker % seqlen
        select = batched_index_select if self.use_index_select else batched_gather
        sqk, sv = select(qk, st), select(v, st)

        chunks = n_hashes * seqlen // self.bucket_size
        bq_t = bkv_t = st.reshape(batch, chunks, -1)
        bqk = sqk.reshape(batch, chunks, -1, dim)
        bv = sv.reshape(batch, chunks, -1, dim)
        bq = bqk
        bk = F.normalize(bqk, p=2, dim=-1)
        bk, bv, bkv_t = look_one_back(bk), look_one_back(bv), look_one_back(bkv_t)

        dots = torch.einsum("bcie,bcje->bcij", bq, bk) * dim ** -0.5
        if self.causal:
            dots = dots.masked_fill(bq_t[:, :, :, None] < bkv_t[:, :, None, :], -torch.finfo(dots.dtype).max)
        dots = dots.masked_fill(bq_t[:, :, :, None] == bkv_t[:, :, None, :], SELF_ATTN_VALUE)
        lse = torch.logsumexp(dots, dim=-1, keepdim=True)
        probs = torch.exp(dots - lse)
        bo = torch.einsum("bcij,bcje->bcie", probs, bv)

        so = bo.reshape(batch, -1, dim)
        slogits = lse.reshape(batch, -1)
        o = batched_gather(so, undo_sort)
        logits = slogits.gather(1, undo_sort)
        o = o.reshape(batch, n_hashes, seqlen, dim)
        logits = logits.reshape(batch, n_hashes, seqlen, 1)
        weights = torch.exp(logits - torch.logsumexp(logits, dim=1, keepdim=True))
        return (o * weights).sum(dim=1)


class LSHSelfAttention(nn.Module):
    def __init__(self, dim, heads, rotations, bucket_size=4, causal=True, use_index_select=False):
        super().__init__()
        self.heads = heads
        self.to_qk = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)
        self.register_buffer("rotations", rotations)
        self.attn = LSHAttention(bucket_size, causal, use_index_select)

    def forward(self, x):
        b, t, d = x.shape
        h = self.heads

        def split(z):
            return z.reshape(b, t, h, d // h).transpose(1, 2).reshape(b * h, t, d // h)

        out = self.attn(split(self.to_qk(x)), split(self.to_v(x)), self.rotations)
        return self.to_out(out.reshape(b, h, t, d // h).transpose(1, 2).reshape(b, t, d))


class PreNorm(nn.Module):
    def __init__(self, dim, fn):
        super().__init__()
        self.norm, self.fn = nn.LayerNorm(dim), fn

    def forward(self, x):
        return self.fn(self.norm(x))


class FeedForward(nn.Module):
    def __init__(self, dim, mult=2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim * mult), nn.GELU(), nn.Linear(dim * mult, dim))

    def forward(self, x):
        return self.net(x)


class ReversibleBlock(nn.Module):
    def __init__(self, f, g):
        super().__init__()
        self.f, self.g = f, g

    def forward(self, x):
        x1, x2 = torch.chunk(x, 2, dim=2)
        y1 = x1 + self.f(x2)
        y2 = x2 + self.g(y1)
        return torch.cat([y1, y2], dim=2)

    def backward_pass(self, y, dy):
        """Given this block's output y and dL/dy: its input x and dL/dx; the parameter gradients accumulate."""
        y1, y2 = torch.chunk(y, 2, dim=2)
        dy1, dy2 = torch.chunk(dy, 2, dim=2)
        with torch.enable_grad():
            y1.requires_grad = True  # a chunk of the detached output: a leaf of its own
            gy1 = self.g(y1)
            torch.autograd.backward(gy1, dy2)
        with torch.no_grad():
            x2 = y2 - gy1
            del y2, gy1
            dx1 = dy1 + y1.grad
            del dy1
            y1.grad = None
        with torch.enable_grad():
            x2.requires_grad = True
            fx2 = self.f(x2)
            torch.autograd.backward(fx2, dx1, retain_graph=True)
        with torch.no_grad():
            x1 = y1 - fx2
            del y1, fx2
            dx2 = dy2 + x2.grad
            del dy2
            x2.grad = None
            return torch.cat([x1, x2.detach()], dim=2), torch.cat([dx1, dx2], dim=2)


class ReversibleFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, blocks):
        for block in blocks:
            x = block(x)
        ctx.blocks = blocks
        ctx.save_for_backward(x.detach())
        return x

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        for block in reversed(ctx.blocks):
            y, dy = block.backward_pass(y, dy)
        return dy, None


class ReformerLM(nn.Module):
    def __init__(self, rotations, num_tokens=12, dim=16, depth=2, heads=2, max_seq_len=16, bucket_size=4,
                 reversible=True, use_index_select=False, use_checkpoint=None):
        super().__init__()
        self.token_emb = nn.Embedding(num_tokens, dim)
        self.pos_emb = nn.Embedding(max_seq_len, dim)
        self.blocks = nn.ModuleList([
            ReversibleBlock(PreNorm(dim, LSHSelfAttention(dim, heads, rotations[i], bucket_size,
                                                          use_index_select=use_index_select)),
                            PreNorm(dim, FeedForward(dim)))
            for i in range(depth)])
        self.reversible = reversible
        self.use_checkpoint = use_checkpoint  # None, or use_reentrant's value for torch.utils.checkpoint
        self.norm = nn.LayerNorm(dim)
        self.to_logits = nn.Linear(dim, num_tokens)

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.token_emb(tokens) + self.pos_emb(torch.arange(t))
        x = torch.cat([x, x], dim=-1)
        if self.reversible:
            x = ReversibleFunction.apply(x, self.blocks)
        else:
            for block in self.blocks:
                if self.use_checkpoint is None:
                    x = block(x)
                else:
                    x = checkpoint.checkpoint(block, x, use_reentrant=self.use_checkpoint)
        x = torch.stack(x.chunk(2, dim=-1)).mean(dim=0)
        return self.to_logits(self.norm(x))

    def buckets(self):
        return [block.f.fn.attn.last_buckets for block in self.blocks]


def make_rotations(seed, depth=2, dim_head=8, n_hashes=2, n_buckets=8):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.standard_normal((depth, dim_head, n_hashes, n_buckets // 2)).astype(np.float32))


def copy_batches(seed, steps, batch=4, seqlen=16, num_tokens=12):
    """Sequences whose second half repeats the first: predict each next token."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        half = rng.integers(1, num_tokens, (batch, seqlen // 2))
        out.append(np.concatenate([half, half], axis=1))
    return out


def train(model, batches, lr=3e-3):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"loss": [], "norm": [], "buckets": []}
    for seq in batches:
        tokens = torch.from_numpy(seq)
        logits = model(tokens)  # (causal) the last position's prediction goes unused
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        norm = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters()))
        optimizer.step()
        history["loss"].append(loss.item())
        history["norm"].append(norm.item())
        history["buckets"].append([b.tolist() for b in model.buckets()])
    return history
