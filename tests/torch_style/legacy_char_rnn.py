"""A character-level vanilla RNN written in the PyTorch 0.3 / 0.4 style of the many min-char-rnn and "RNN from
scratch" ports on GitHub: parameters made by hand as ``torch.Tensor(hidden, vocab)`` and filled in place, one-hot
inputs by ``scatter_`` and by ``torch.eye(vocab)[idx]``, ``h = torch.tanh(Wxh @ x + Whh @ h + bh)`` in a Python
loop, ``F.cross_entropy`` per step summed, truncated BPTT by ``h.detach()`` and by the old ``Variable(h.data)``,
clipping by ``p.grad.data.clamp_(-5, 5)``, the Adagrad update written on ``.data``, a smooth loss, sampling by
inverting the softmax's CDF with uniforms that numpy hands in (``(cdf < u).sum()`` and ``torch.searchsorted``),
and ``torch.save`` / ``torch.load`` of the parameter dict. Then the same network as an ``nn.Module`` of
``nn.Parameter(torch.Tensor(out, in))`` with ``reset_parameters``, trained by ``optim.Adagrad`` under
``clip_grad_norm_``. The harness runs it on torch and, with the imports swapped, on ours."""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

TEXT = "hello world. the quick brown fox jumps over the lazy dog. hello again, world.\n"
chars = sorted(list(set(TEXT)))
vocab_size = len(chars)
char_to_ix = {ch: i for i, ch in enumerate(chars)}
ix_to_char = {i: ch for i, ch in enumerate(chars)}


def init_params(hidden, seed=0):
    """numpy weights for both libraries (torch's ``normal_(0, 0.01)`` draws from its own generator)."""
    rng = np.random.default_rng(seed)
    shapes = {"Wxh": (hidden, vocab_size), "Whh": (hidden, hidden), "Why": (vocab_size, hidden),
              "bh": (hidden,), "by": (vocab_size,)}
    return {k: (rng.standard_normal(s) * (0.01 if k[0] == "W" else 0.1)).astype(np.float32)
            for k, s in shapes.items()}


def one_hot(idx, dtype=torch.FloatTensor):
    return torch.zeros(len(chars)).type(dtype).scatter_(0, torch.LongTensor([idx]), 1)


def sample(params, h, seed_ix, uniforms, dtype=torch.FloatTensor):
    """Characters drawn from the softmax by inverse CDF, one uniform per character."""
    Wxh, Whh, Why, bh, by = (params[k] for k in ("Wxh", "Whh", "Why", "bh", "by"))
    x = torch.eye(vocab_size).type(dtype)[seed_ix]
    ixes = []
    with torch.no_grad():
        for t, u in enumerate(uniforms):
            h = torch.tanh(torch.mv(Wxh, x) + torch.mv(Whh, h) + bh)
            y = Why @ h + by
            p = torch.exp(y) / torch.sum(torch.exp(y))
            if t % 2 == 0:
                cdf = torch.cumsum(p, dim=0)
                ix = min(int((cdf < float(u)).sum()), vocab_size - 1)
            else:
                cdf = p.cumsum(0)
                ix = torch.searchsorted(cdf, torch.tensor([u]).type(dtype)).clamp(max=vocab_size - 1).item()
            x = torch.Tensor(x.size()).type(dtype).zero_()
            x[ix] = 1
            ixes.append(ix)
    return "".join(ix_to_char[ix] for ix in ixes)


def min_char_rnn(init, steps=30, seq_length=12, lr=1e-1, sample_every=10, sample_len=16, seed=0, path=None,
                 dtype=torch.FloatTensor):
    """The hand-written loop: per step the summed loss, the smooth loss, the gradient norm before clipping, samples
    and at the end the parameters and Adagrad memories (numpy). ``dtype`` is the old ``torch.FloatTensor`` /
    ``torch.DoubleTensor`` switch."""
    hidden = init["Whh"].shape[0]
    rng = np.random.default_rng(seed)
    Wxh = torch.Tensor(hidden, vocab_size).normal_(0, 0.01).type(dtype)  # then overwritten: the generators differ
    Whh = torch.Tensor(hidden, hidden).normal_(0, 0.01).type(dtype)
    Why = torch.Tensor(vocab_size, hidden).normal_(0, 0.01).type(dtype)
    bh, by = torch.zeros(hidden).type(dtype), torch.zeros(vocab_size).type(dtype)
    params = {"Wxh": Wxh, "Whh": Whh, "Why": Why, "bh": bh, "by": by}
    for name, p in params.items():
        p.copy_(torch.from_numpy(init[name]))
        p.requires_grad = True
    mems = {name: torch.zeros_like(p.data) for name, p in params.items()}
    smooth_loss = -math.log(1.0 / vocab_size) * seq_length
    out = {"loss": [], "smooth": [], "norm": [], "samples": [], "h": []}
    p_ix, h = 0, torch.zeros(hidden).type(dtype)
    for n in range(steps):
        if p_ix + seq_length + 1 >= len(TEXT) or n == 0:
            h, p_ix = torch.zeros(hidden).type(dtype), 0
        inputs = [char_to_ix[ch] for ch in TEXT[p_ix:p_ix + seq_length]]
        targets = [char_to_ix[ch] for ch in TEXT[p_ix + 1:p_ix + seq_length + 1]]
        if n % sample_every == 0:
            out["samples"].append(sample(params, h.detach(), inputs[0], rng.uniform(size=sample_len), dtype))
        loss = 0
        for t in range(len(inputs)):
            x = one_hot(inputs[t], dtype)
            h = torch.tanh(Wxh @ x + Whh @ h + bh)
            y = Why @ h + by
            loss += F.cross_entropy(y.unsqueeze(0), torch.LongTensor([targets[t]]))
        loss.backward()
        out["norm"].append(math.sqrt(sum(float((p.grad.data ** 2).sum()) for p in params.values())))
        for name, param in params.items():
            dparam = param.grad.data
            dparam.clamp_(-5, 5)
            mem = mems[name]
            mem += dparam * dparam
            param.data += -lr * dparam / torch.sqrt(mem + 1e-8)
            param.grad.data.zero_()
        h = h.detach() if n % 2 else torch.autograd.Variable(h.data)
        smooth_loss = smooth_loss * 0.999 + loss.item() * 0.001
        out["loss"].append(loss.item())
        out["smooth"].append(smooth_loss)
        out["h"].append(h.numpy().copy())
        p_ix += seq_length
    if path is not None:
        torch.save({k: v.data for k, v in params.items()}, path)
        loaded = torch.load(path)
        out["reloaded"] = sample(loaded, torch.zeros(hidden).type(dtype), 0, rng.uniform(size=sample_len), dtype)
        out["same"] = all(torch.equal(loaded[k], params[k].data) for k in params)
    out["params"] = {k: v.detach().numpy().copy() for k, v in params.items()}
    out["mems"] = {k: v.numpy().copy() for k, v in mems.items()}
    return out


# ---------------------------------------------------------------- the Module variant
class Linear(nn.Module):
    """``y = W x + b`` on a 1-d ``x``: the hand-rolled layer of the old tutorials."""

    def __init__(self, in_features, out_features, bias=True):
        super(Linear, self).__init__()  # noqa: UP008 - the tutorials' spelling
        self.weight = nn.Parameter(torch.Tensor(out_features, in_features))
        self.bias = nn.Parameter(torch.Tensor(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1. / math.sqrt(self.weight.size(1))
        self.weight.data.uniform_(-stdv, stdv)
        if self.bias is not None:
            self.bias.data.uniform_(-stdv, stdv)

    def forward(self, x):
        y = torch.matmul(self.weight, x)
        return y if self.bias is None else y + self.bias


class CharRNN(nn.Module):
    def __init__(self, vocab, hidden):
        super(CharRNN, self).__init__()  # noqa: UP008
        self.hidden_size = hidden
        self.i2h = Linear(vocab, hidden, bias=False)
        self.h2h = Linear(hidden, hidden)
        self.h2o = Linear(hidden, vocab)

    def forward(self, x, h):
        h = torch.tanh(self.i2h(x) + self.h2h(h))
        return self.h2o(h), h

    def init_hidden(self):
        weight = next(self.parameters()).data
        return weight.new(self.hidden_size).zero_()


def train_module(model, steps=20, seq_length=10, lr=0.1, max_norm=1.0, sum_key="sum"):
    """optim.Adagrad + clip_grad_norm_ over the text in chunks; the greedy next-character accuracy by
    ``x.data.max(0)``; the optimizer's memories at the end (its state ``sum_key``)."""
    optimizer = optim.Adagrad(model.parameters(), lr=lr)
    eye = torch.eye(vocab_size).type(model.h2o.weight.data.type())
    out = {"loss": [], "norm": [], "correct": [], "greedy": ""}
    h, p_ix = model.init_hidden(), 0
    for _ in range(steps):
        if p_ix + seq_length + 1 >= len(TEXT):
            h, p_ix = model.init_hidden(), 0
        chunk = [char_to_ix[ch] for ch in TEXT[p_ix:p_ix + seq_length + 1]]
        optimizer.zero_grad()
        loss, correct = 0, 0
        for t in range(seq_length):
            y, h = model(eye[chunk[t]], h)
            loss = loss + F.cross_entropy(y.view(1, -1), torch.tensor([chunk[t + 1]]))
            _, pred = y.data.max(0)
            correct += int(pred.item() == chunk[t + 1])
        (loss / seq_length).backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        h = h.detach()
        out["loss"].append(loss.item() / seq_length)
        out["norm"].append(float(norm))
        out["correct"].append(correct)
        p_ix += seq_length
    x, h = eye[char_to_ix["h"]], model.init_hidden()
    with torch.no_grad():
        for _ in range(12):
            y, h = model(x, h)
            ix = y.max(0)[1].item()
            out["greedy"] += ix_to_char[ix]
            x = torch.Tensor(x.size()).type_as(x).zero_()
            x[ix] = 1.0
    out["params"] = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    out["mems"] = {k: np.array(optimizer.state[p][sum_key]) for k, p in model.named_parameters()}
    return out
