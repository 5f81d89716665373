"""The Annotated Transformer (Harvard NLP, 2018) written as its blog post writes it, at a tiny size, on its
synthetic copy task: ``clones`` by ``copy.deepcopy`` into an ``nn.ModuleList``, a hand-written LayerNorm (``a_2`` /
``b_2`` and ``x.std(-1, keepdim=True)``), SublayerConnection, scaled dot-product ``attention`` with
``masked_fill(mask == 0, -1e9)``, MultiHeadedAttention through ``.view(...).transpose(1, 2)`` and
``.contiguous().view(...)``, Embeddings scaled by ``sqrt(d_model)``, a sinusoidal PositionalEncoding buffer,
``subsequent_mask`` from ``np.triu`` and ``torch.from_numpy``, the ``Batch`` masks through ``Variable`` and
``type_as``, ``xavier_uniform_`` on the matrices, the NoamOpt rate around Adam, LabelSmoothing with
``nn.KLDivLoss(size_average=False)``, ``scatter_`` / ``index_fill_`` / ``torch.nonzero``, SimpleLossCompute (its
``loss.data[0]`` is ``loss.item()`` since torch 0.4) and greedy decoding. The copy-task batches come from a numpy
generator, so both libraries see the same data. The harness runs it on torch and, with the imports swapped, on
ours."""

import copy
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd import Variable


class EncoderDecoder(nn.Module):
    """A standard encoder-decoder architecture."""

    def __init__(self, encoder, decoder, src_embed, tgt_embed, generator):
        super(EncoderDecoder, self).__init__()  # noqa: UP008 - the post's spelling
        self.encoder = encoder
        self.decoder = decoder
        self.src_embed = src_embed
        self.tgt_embed = tgt_embed
        self.generator = generator

    def forward(self, src, tgt, src_mask, tgt_mask):
        return self.decode(self.encode(src, src_mask), src_mask, tgt, tgt_mask)

    def encode(self, src, src_mask):
        return self.encoder(self.src_embed(src), src_mask)

    def decode(self, memory, src_mask, tgt, tgt_mask):
        return self.decoder(self.tgt_embed(tgt), memory, src_mask, tgt_mask)


class Generator(nn.Module):
    """The linear projection to the vocabulary, then log-softmax."""

    def __init__(self, d_model, vocab):
        super(Generator, self).__init__()  # noqa: UP008
        self.proj = nn.Linear(d_model, vocab)

    def forward(self, x):
        return F.log_softmax(self.proj(x), dim=-1)


def clones(module, N):
    return nn.ModuleList([copy.deepcopy(module) for _ in range(N)])


class Encoder(nn.Module):
    def __init__(self, layer, N):
        super(Encoder, self).__init__()  # noqa: UP008
        self.layers = clones(layer, N)
        self.norm = LayerNorm(layer.size)

    def forward(self, x, mask):
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


class LayerNorm(nn.Module):
    def __init__(self, features, eps=1e-6):
        super(LayerNorm, self).__init__()  # noqa: UP008
        self.a_2 = nn.Parameter(torch.ones(features))
        self.b_2 = nn.Parameter(torch.zeros(features))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        std = x.std(-1, keepdim=True)
        return self.a_2 * (x - mean) / (std + self.eps) + self.b_2


class SublayerConnection(nn.Module):
    """A residual connection around a sublayer, the norm first."""

    def __init__(self, size, dropout):
        super(SublayerConnection, self).__init__()  # noqa: UP008
        self.norm = LayerNorm(size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, sublayer):
        return x + self.dropout(sublayer(self.norm(x)))


class EncoderLayer(nn.Module):
    def __init__(self, size, self_attn, feed_forward, dropout):
        super(EncoderLayer, self).__init__()  # noqa: UP008
        self.self_attn = self_attn
        self.feed_forward = feed_forward
        self.sublayer = clones(SublayerConnection(size, dropout), 2)
        self.size = size

    def forward(self, x, mask):
        x = self.sublayer[0](x, lambda x: self.self_attn(x, x, x, mask))
        return self.sublayer[1](x, self.feed_forward)


class Decoder(nn.Module):
    def __init__(self, layer, N):
        super(Decoder, self).__init__()  # noqa: UP008
        self.layers = clones(layer, N)
        self.norm = LayerNorm(layer.size)

    def forward(self, x, memory, src_mask, tgt_mask):
        for layer in self.layers:
            x = layer(x, memory, src_mask, tgt_mask)
        return self.norm(x)


class DecoderLayer(nn.Module):
    def __init__(self, size, self_attn, src_attn, feed_forward, dropout):
        super(DecoderLayer, self).__init__()  # noqa: UP008
        self.size = size
        self.self_attn = self_attn
        self.src_attn = src_attn
        self.feed_forward = feed_forward
        self.sublayer = clones(SublayerConnection(size, dropout), 3)

    def forward(self, x, memory, src_mask, tgt_mask):
        m = memory
        x = self.sublayer[0](x, lambda x: self.self_attn(x, x, x, tgt_mask))
        x = self.sublayer[1](x, lambda x: self.src_attn(x, m, m, src_mask))
        return self.sublayer[2](x, self.feed_forward)


def subsequent_mask(size):
    """Mask out subsequent positions."""
    attn_shape = (1, size, size)
    subsequent_mask = np.triu(np.ones(attn_shape), k=1).astype('uint8')
    return torch.from_numpy(subsequent_mask) == 0


def attention(query, key, value, mask=None, dropout=None):
    """Scaled dot-product attention."""
    d_k = query.size(-1)
    scores = torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -1e9)
    p_attn = F.softmax(scores, dim=-1)
    if dropout is not None:
        p_attn = dropout(p_attn)
    return torch.matmul(p_attn, value), p_attn


class MultiHeadedAttention(nn.Module):
    def __init__(self, h, d_model, dropout=0.1):
        super(MultiHeadedAttention, self).__init__()  # noqa: UP008
        assert d_model % h == 0
        self.d_k = d_model // h
        self.h = h
        self.linears = clones(nn.Linear(d_model, d_model), 4)
        self.attn = None
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, query, key, value, mask=None):
        if mask is not None:
            mask = mask.unsqueeze(1)  # the same mask for every head
        nbatches = query.size(0)
        query, key, value = [l(x).view(nbatches, -1, self.h, self.d_k).transpose(1, 2)
                             for l, x in zip(self.linears, (query, key, value))]
        x, self.attn = attention(query, key, value, mask=mask, dropout=self.dropout)
        x = x.transpose(1, 2).contiguous().view(nbatches, -1, self.h * self.d_k)
        return self.linears[-1](x)


class PositionwiseFeedForward(nn.Module):
    def __init__(self, d_model, d_ff, dropout=0.1):
        super(PositionwiseFeedForward, self).__init__()  # noqa: UP008
        self.w_1 = nn.Linear(d_model, d_ff)
        self.w_2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.w_2(self.dropout(F.relu(self.w_1(x))))


class Embeddings(nn.Module):
    def __init__(self, d_model, vocab):
        super(Embeddings, self).__init__()  # noqa: UP008
        self.lut = nn.Embedding(vocab, d_model)
        self.d_model = d_model

    def forward(self, x):
        return self.lut(x) * math.sqrt(self.d_model)


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout, max_len=5000):
        super(PositionalEncoding, self).__init__()  # noqa: UP008
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * -(math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0)
        self.register_buffer('pe', pe)

    def forward(self, x):
        x = x + Variable(self.pe[:, :x.size(1)], requires_grad=False)
        return self.dropout(x)


def make_model(src_vocab, tgt_vocab, N=6, d_model=512, d_ff=2048, h=8, dropout=0.1, max_len=5000):
    c = copy.deepcopy
    attn = MultiHeadedAttention(h, d_model)
    ff = PositionwiseFeedForward(d_model, d_ff, dropout)
    position = PositionalEncoding(d_model, dropout, max_len)
    model = EncoderDecoder(
        Encoder(EncoderLayer(d_model, c(attn), c(ff), dropout), N),
        Decoder(DecoderLayer(d_model, c(attn), c(attn), c(ff), dropout), N),
        nn.Sequential(Embeddings(d_model, src_vocab), c(position)),
        nn.Sequential(Embeddings(d_model, tgt_vocab), c(position)),
        Generator(d_model, tgt_vocab))
    for p in model.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)
    return model


class Batch:
    """A batch of data with its masks, for training."""

    def __init__(self, src, trg=None, pad=0):
        self.src = src
        self.src_mask = (src != pad).unsqueeze(-2)
        if trg is not None:
            self.trg = trg[:, :-1]
            self.trg_y = trg[:, 1:]
            self.trg_mask = self.make_std_mask(self.trg, pad)
            self.ntokens = (self.trg_y != pad).data.sum()

    @staticmethod
    def make_std_mask(tgt, pad):
        """Hide padding and future words."""
        tgt_mask = (tgt != pad).unsqueeze(-2)
        tgt_mask = tgt_mask & Variable(subsequent_mask(tgt.size(-1)).type_as(tgt_mask.data))
        return tgt_mask


class NoamOpt:
    """An optimizer wrapper that sets the rate: linear warmup, then decay as step ** -0.5."""

    def __init__(self, model_size, factor, warmup, optimizer):
        self.optimizer = optimizer
        self._step = 0
        self.warmup = warmup
        self.factor = factor
        self.model_size = model_size
        self._rate = 0

    def step(self):
        self._step += 1
        rate = self.rate()
        for p in self.optimizer.param_groups:
            p['lr'] = rate
        self._rate = rate
        self.optimizer.step()

    def rate(self, step=None):
        if step is None:
            step = self._step
        return self.factor * (self.model_size ** (-0.5) * min(step ** (-0.5), step * self.warmup ** (-1.5)))


class LabelSmoothing(nn.Module):
    def __init__(self, size, padding_idx, smoothing=0.0):
        super(LabelSmoothing, self).__init__()  # noqa: UP008
        self.criterion = nn.KLDivLoss(size_average=False)
        self.padding_idx = padding_idx
        self.confidence = 1.0 - smoothing
        self.smoothing = smoothing
        self.size = size
        self.true_dist = None

    def forward(self, x, target):
        assert x.size(1) == self.size
        true_dist = x.data.clone()
        true_dist.fill_(self.smoothing / (self.size - 2))
        true_dist.scatter_(1, target.data.unsqueeze(1), self.confidence)
        true_dist[:, self.padding_idx] = 0
        mask = torch.nonzero(target.data == self.padding_idx)
        if mask.dim() > 0:
            true_dist.index_fill_(0, mask.squeeze(), 0.0)
        self.true_dist = true_dist
        return self.criterion(x, Variable(true_dist, requires_grad=False))


class SimpleLossCompute:
    """The generator, the loss, backward and an optimizer step."""

    def __init__(self, generator, criterion, opt=None):
        self.generator = generator
        self.criterion = criterion
        self.opt = opt

    def __call__(self, x, y, norm):
        x = self.generator(x)
        loss = self.criterion(x.contiguous().view(-1, x.size(-1)), y.contiguous().view(-1)) / norm
        loss.backward()
        if self.opt is not None:
            self.opt.step()
            self.opt.optimizer.zero_grad()
        return loss.item() * norm  # the post's loss.data[0]: torch >= 0.4 raises on a 0-d tensor


def data_gen(V, batch, nbatches, rng, pad_tail=False):
    """Random data for a src-tgt copy task (the first symbol is 1); ``pad_tail`` pads each row's tail with 0."""
    for _ in range(nbatches):
        data = torch.from_numpy(rng.integers(1, V, size=(batch, 10)))
        data[:, 0] = 1
        if pad_tail:
            lengths = rng.integers(6, 11, size=batch)
            data.masked_fill_(torch.from_numpy(np.arange(10)[None, :] >= lengths[:, None]), 0)
        src = Variable(data, requires_grad=False)
        tgt = Variable(data, requires_grad=False)
        yield Batch(src, tgt, 0)


def run_epoch(data_iter, model, loss_compute, log):
    total_tokens = 0
    total_loss = 0
    for batch in data_iter:
        out = model.forward(batch.src, batch.trg, batch.src_mask, batch.trg_mask)
        loss = loss_compute(out, batch.trg_y, batch.ntokens)
        total_loss += loss
        total_tokens += batch.ntokens
        log["loss"].append(float(loss / batch.ntokens))
        log["ntokens"].append(int(batch.ntokens))
        if loss_compute.opt is not None:
            log["lr"].append(loss_compute.opt._rate)
    return total_loss / total_tokens


def greedy_decode(model, src, src_mask, max_len, start_symbol):
    memory = model.encode(src, src_mask)
    ys = torch.ones(1, 1).fill_(start_symbol).type_as(src.data)
    for _ in range(max_len - 1):
        out = model.decode(memory, src_mask, Variable(ys), Variable(subsequent_mask(ys.size(1)).type_as(src.data)))
        prob = model.generator(out[:, -1])
        _, next_word = torch.max(prob, dim=1)
        next_word = next_word.data[0]
        ys = torch.cat([ys, torch.ones(1, 1).type_as(src.data).fill_(next_word)], dim=1)
    return ys


def train_copy(model, epochs, V=11, seed=0, batch=8, nbatches=6, warmup=40):
    """The post's copy task: ``epochs`` of ``nbatches`` training batches (alternately padded tails), each followed by
    an evaluation epoch; then greedy decoding of two sequences and a state_dict round trip."""
    criterion = LabelSmoothing(size=V, padding_idx=0, smoothing=0.1)
    model_opt = NoamOpt(model.src_embed[0].d_model, 1, warmup,
                        torch.optim.Adam(model.parameters(), lr=0, betas=(0.9, 0.98), eps=1e-9))
    rng = np.random.default_rng(seed)
    log = {"loss": [], "ntokens": [], "lr": [], "epoch": [], "eval": [], "attn": [], "true_dist": []}
    for epoch in range(epochs):
        model.train()
        log["epoch"].append(float(run_epoch(data_gen(V, batch, nbatches, rng, epoch % 2 == 1), model,
                                            SimpleLossCompute(model.generator, criterion, model_opt), log)))
        log["attn"].append(model.decoder.layers[0].self_attn.attn.detach().numpy().copy())
        log["true_dist"].append(criterion.true_dist.numpy().copy())
        model.eval()  # as the post: no no_grad, so its backward leaves gradients for the next step to add
        log["eval"].append(float(run_epoch(data_gen(V, batch, 2, rng, True), model,
                                           SimpleLossCompute(model.generator, criterion, None), log)))
    model.eval()
    decoded = []
    for row in ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 3, 5, 7, 9, 2, 4, 0, 0, 0]):
        src = Variable(torch.LongTensor([row]))
        src_mask = (src != 0).unsqueeze(-2)
        decoded.append(greedy_decode(model, src, src_mask, max_len=10, start_symbol=1).numpy().tolist())
    log["decoded"] = decoded
    log["params"] = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    state = copy.deepcopy(model.state_dict())
    again = make_model(V, V, N=len(model.encoder.layers), d_model=model.src_embed[0].d_model,
                       d_ff=model.encoder.layers[0].feed_forward.w_1.out_features,
                       h=model.encoder.layers[0].self_attn.h, dropout=0.0, max_len=model.src_embed[1].pe.size(1))
    again.load_state_dict(state)
    again.eval()
    b = next(data_gen(V, 2, 1, np.random.default_rng(seed + 1), True))
    log["reloaded"] = (again(b.src, b.trg, b.src_mask, b.trg_mask) - model(b.src, b.trg, b.src_mask, b.trg_mask)
                       ).abs().max().item()
    log["buffers"] = sorted(k for k in state if k not in log["params"])
    return log
