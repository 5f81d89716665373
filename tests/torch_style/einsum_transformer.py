"""The "Transformer from scratch" seq2seq as Aladdin Persson's widely copied version writes it (einsum attention
with the list form, masked_fill of -1e20, head_dim Linears shared across heads, learned positions from
``torch.arange(0, seq_length).expand(N, seq_length)``), trained on a tiny synthetic copy / reverse task with Adam,
``CrossEntropyLoss(ignore_index=pad)`` and clip_grad_norm_, then decoded greedily; and the einsum forms such code
uses (implicit output, ellipsis, diagonal / trace, batch outer products, the list form), with their gradients."""
# ruff: noqa: UP008, UP034, B007 - the original's own spelling

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

PAD, SOS, EOS = 0, 1, 2


class SelfAttention(nn.Module):
    def __init__(self, embed_size, heads):
        super(SelfAttention, self).__init__()
        self.embed_size = embed_size
        self.heads = heads
        self.head_dim = embed_size // heads

        assert (
            self.head_dim * heads == embed_size
        ), "Embedding size needs to be divisible by heads"

        self.values = nn.Linear(self.head_dim, self.head_dim, bias=False)
        self.keys = nn.Linear(self.head_dim, self.head_dim, bias=False)
        self.queries = nn.Linear(self.head_dim, self.head_dim, bias=False)
        self.fc_out = nn.Linear(heads * self.head_dim, embed_size)

    def forward(self, values, keys, query, mask):
        N = query.shape[0]
        value_len, key_len, query_len = values.shape[1], keys.shape[1], query.shape[1]

        # Split the embedding into self.heads different pieces
        values = values.reshape(N, value_len, self.heads, self.head_dim)
        keys = keys.reshape(N, key_len, self.heads, self.head_dim)
        query = query.reshape(N, query_len, self.heads, self.head_dim)

        values = self.values(values)
        keys = self.keys(keys)
        queries = self.queries(query)

        energy = torch.einsum("nqhd,nkhd->nhqk", [queries, keys])
        # queries shape: (N, query_len, heads, heads_dim)
        # keys shape: (N, key_len, heads, heads_dim)
        # energy shape: (N, heads, query_len, key_len)

        if mask is not None:
            energy = energy.masked_fill(mask == 0, float("-1e20"))

        attention = torch.softmax(energy / (self.embed_size ** (1 / 2)), dim=3)

        out = torch.einsum("nhql,nlhd->nqhd", [attention, values]).reshape(
            N, query_len, self.heads * self.head_dim
        )
        # attention shape: (N, heads, query_len, key_len)
        # values shape: (N, value_len, heads, heads_dim)
        # after einsum (N, query_len, heads, head_dim) then flatten last two dimensions

        out = self.fc_out(out)
        return out


class TransformerBlock(nn.Module):
    def __init__(self, embed_size, heads, dropout, forward_expansion):
        super(TransformerBlock, self).__init__()
        self.attention = SelfAttention(embed_size, heads)
        self.norm1 = nn.LayerNorm(embed_size)
        self.norm2 = nn.LayerNorm(embed_size)

        self.feed_forward = nn.Sequential(
            nn.Linear(embed_size, forward_expansion * embed_size),
            nn.ReLU(),
            nn.Linear(forward_expansion * embed_size, embed_size),
        )

        self.dropout = nn.Dropout(dropout)

    def forward(self, value, key, query, mask):
        attention = self.attention(value, key, query, mask)

        # Add skip connection, run through normalization and finally dropout
        x = self.dropout(self.norm1(attention + query))
        forward = self.feed_forward(x)
        out = self.dropout(self.norm2(forward + x))
        return out


class Encoder(nn.Module):
    def __init__(
        self,
        src_vocab_size,
        embed_size,
        num_layers,
        heads,
        device,
        forward_expansion,
        dropout,
        max_length,
    ):

        super(Encoder, self).__init__()
        self.embed_size = embed_size
        self.device = device
        self.word_embedding = nn.Embedding(src_vocab_size, embed_size)
        self.position_embedding = nn.Embedding(max_length, embed_size)

        self.layers = nn.ModuleList(
            [
                TransformerBlock(
                    embed_size,
                    heads,
                    dropout=dropout,
                    forward_expansion=forward_expansion,
                )
                for _ in range(num_layers)
            ]
        )

        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask):
        N, seq_length = x.shape
        positions = torch.arange(0, seq_length).expand(N, seq_length).to(self.device)
        out = self.dropout(
            (self.word_embedding(x) + self.position_embedding(positions))
        )

        # In the Encoder the query, key, value are all the same, it's in the
        # decoder this will change. This might look a bit odd in this case.
        for layer in self.layers:
            out = layer(out, out, out, mask)

        return out


class DecoderBlock(nn.Module):
    def __init__(self, embed_size, heads, forward_expansion, dropout, device):
        super(DecoderBlock, self).__init__()
        self.norm = nn.LayerNorm(embed_size)
        self.attention = SelfAttention(embed_size, heads=heads)
        self.transformer_block = TransformerBlock(
            embed_size, heads, dropout, forward_expansion
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, value, key, src_mask, trg_mask):
        attention = self.attention(x, x, x, trg_mask)
        query = self.dropout(self.norm(attention + x))
        out = self.transformer_block(value, key, query, src_mask)
        return out


class Decoder(nn.Module):
    def __init__(
        self,
        trg_vocab_size,
        embed_size,
        num_layers,
        heads,
        forward_expansion,
        dropout,
        device,
        max_length,
    ):
        super(Decoder, self).__init__()
        self.device = device
        self.word_embedding = nn.Embedding(trg_vocab_size, embed_size)
        self.position_embedding = nn.Embedding(max_length, embed_size)

        self.layers = nn.ModuleList(
            [
                DecoderBlock(embed_size, heads, forward_expansion, dropout, device)
                for _ in range(num_layers)
            ]
        )
        self.fc_out = nn.Linear(embed_size, trg_vocab_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, enc_out, src_mask, trg_mask):
        N, seq_length = x.shape
        positions = torch.arange(0, seq_length).expand(N, seq_length).to(self.device)
        x = self.dropout((self.word_embedding(x) + self.position_embedding(positions)))

        for layer in self.layers:
            x = layer(x, enc_out, enc_out, src_mask, trg_mask)

        out = self.fc_out(x)

        return out


class Transformer(nn.Module):
    def __init__(
        self,
        src_vocab_size,
        trg_vocab_size,
        src_pad_idx,
        trg_pad_idx,
        embed_size=512,
        num_layers=6,
        forward_expansion=4,
        heads=8,
        dropout=0,
        device="cpu",
        max_length=100,
    ):

        super(Transformer, self).__init__()

        self.encoder = Encoder(
            src_vocab_size,
            embed_size,
            num_layers,
            heads,
            device,
            forward_expansion,
            dropout,
            max_length,
        )

        self.decoder = Decoder(
            trg_vocab_size,
            embed_size,
            num_layers,
            heads,
            forward_expansion,
            dropout,
            device,
            max_length,
        )

        self.src_pad_idx = src_pad_idx
        self.trg_pad_idx = trg_pad_idx
        self.device = device

    def make_src_mask(self, src):
        src_mask = (src != self.src_pad_idx).unsqueeze(1).unsqueeze(2)
        # (N, 1, 1, src_len)
        return src_mask.to(self.device)

    def make_trg_mask(self, trg):
        N, trg_len = trg.shape
        trg_mask = torch.tril(torch.ones((trg_len, trg_len))).expand(
            N, 1, trg_len, trg_len
        )

        return trg_mask.to(self.device)

    def forward(self, src, trg):
        src_mask = self.make_src_mask(src)
        trg_mask = self.make_trg_mask(trg)
        enc_src = self.encoder(src, src_mask)
        out = self.decoder(trg, enc_src, src_mask, trg_mask)
        return out


def make_model(vocab=8, dropout=0.0, device="cpu"):
    return Transformer(vocab, vocab, PAD, PAD, embed_size=16, num_layers=1, forward_expansion=2, heads=2,
                       dropout=dropout, device=device, max_length=12)


def smoke(model, device="cpu"):
    """The file's ``__main__`` block: two padded sentences through the model, the target shifted by one."""
    x = torch.tensor([[1, 5, 6, 4, 3, 7, 5, 2, 0], [1, 7, 7, 3, 4, 5, 6, 7, 2]]).to(device)
    trg = torch.tensor([[1, 7, 4, 3, 5, 6, 2, 0], [1, 5, 6, 2, 4, 7, 6, 2]]).to(device)
    out = model(x, trg[:, :-1])
    print(out.shape)
    return out


def batches(steps, batch_size=6, vocab=8, seed=0):
    """Random copy / reverse pairs: src = tokens + EOS + pads, trg = SOS + (tokens or reversed) + EOS + pads; the
    first token picks the task (3: copy, else reverse)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        src = np.full((batch_size, 7), PAD)
        trg = np.full((batch_size, 8), PAD)
        for b in range(batch_size):
            n = rng.integers(2, 6)
            tokens = rng.integers(3, vocab, n)
            body = tokens if tokens[0] == 3 else tokens[::-1]
            src[b, :n + 1] = list(tokens) + [EOS]
            trg[b, :n + 2] = [SOS] + list(body) + [EOS]
        out.append((src, trg))
    return out


def train(model, data, lr=3e-3, device="cpu"):
    optimizer = optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss(ignore_index=PAD)
    log = {"loss": [], "norm": [], "clipped": []}
    model.train()
    for src, trg in data:
        inp_data = torch.tensor(src).to(device)
        target = torch.tensor(trg).to(device)

        # Forward prop
        output = model(inp_data, target[:, :-1])

        # Output is of shape (N, trg_len, output_dim) but Cross Entropy Loss doesn't take input in that form.
        output = output.reshape(-1, output.shape[2])
        target = target[:, 1:].reshape(-1)

        optimizer.zero_grad()
        loss = criterion(output, target)
        loss.backward()

        # Clip to avoid exploding gradient issues
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1)
        log["norm"].append(norm.item())
        log["clipped"].append(torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())).item())

        optimizer.step()
        log["loss"].append(loss.item())
    return log


def translate_sentence(model, tokens, device="cpu", max_length=10):
    """Greedy decoding, one token at a time, as his translate_sentence does."""
    model.eval()
    sentence_tensor = torch.LongTensor(list(tokens) + [EOS]).unsqueeze(0).to(device)
    outputs = [SOS]
    for i in range(max_length):
        trg_tensor = torch.LongTensor(outputs).unsqueeze(0).to(device)

        with torch.no_grad():
            output = model(sentence_tensor, trg_tensor)

        best_guess = output.argmax(2)[:, -1].item()
        outputs.append(best_guess)

        if best_guess == EOS:
            break
    return outputs[1:]


def einsum_forms(seed=0):
    """The einsum spellings such code uses, each with the gradients of its operands (a fixed random weighting of
    the output, summed, backward): {name: (output, [grads])}."""
    rng = np.random.default_rng(seed)

    def leaf(*shape):
        return torch.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)

    a, b, sq = leaf(3, 4), leaf(4, 5), leaf(4, 4)
    x, y = leaf(2, 1, 3, 4), leaf(5, 4, 2)
    u, v = leaf(2, 3), leaf(2, 4)
    q, k = leaf(2, 3, 2, 4), leaf(2, 5, 2, 4)
    col = leaf(3, 1)
    forms = {
        "implicit": lambda: torch.einsum("ij,jk", a, b),
        "explicit": lambda: torch.einsum("ij,jk->ik", a, b),
        "list": lambda: torch.einsum("ij,jk->ik", [a, b]),
        "ellipsis": lambda: torch.einsum("...ij,...jk->...ik", x, y),
        "ellipsis_implicit": lambda: torch.einsum("...ij,...jk", x, y),
        "diagonal": lambda: torch.einsum("ii->i", sq),
        "trace": lambda: torch.einsum("ii", sq),
        "batch_outer": lambda: torch.einsum("bi,bj->bij", u, v),
        "outer_implicit": lambda: torch.einsum("i,j", u[0], v[1]),
        "attention": lambda: torch.einsum("nqhd,nkhd->nhqk", [q, k]),
        "transpose": lambda: torch.einsum("ij->ji", a),
        "sum_all": lambda: torch.einsum("ij->", a),
        "broadcast_one": lambda: torch.einsum("ij,ij->i", col, a),
        "three": lambda: torch.einsum("ij,jk,kl->il", a, b, b.t()),
    }
    results = {}
    for name, form in forms.items():
        for t in (a, b, sq, x, y, u, v, q, k, col):
            t.grad = None
        out = form()
        weight = torch.tensor(rng.standard_normal(tuple(out.shape)).astype(np.float32))
        (out * weight).sum().backward()
        grads = [t.grad.numpy().copy() for t in (a, b, sq, x, y, u, v, q, k, col) if t.grad is not None]
        results[name] = (out.detach().numpy().copy(), grads)
    return results


def run(model, steps=20, lr=3e-3, device="cpu"):
    """Train on ``steps`` batches, then decode a few held-out sentences; the log and the final parameters."""
    log = train(model, batches(steps), lr=lr, device=device)
    tests = [[3, 5, 6], [4, 7, 5, 6], [3, 4], [6, 5, 4, 3, 7]]
    log["decoded"] = [translate_sentence(model, t, device=device) for t in tests]
    with torch.no_grad():
        src, trg = batches(1, seed=99)[0]
        log["eval_logits"] = model(torch.tensor(src), torch.tensor(trg[:, :-1])).numpy().copy()
    log["params"] = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    return log


if __name__ == "__main__":
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = make_model(device=device).to(device)
    smoke(model, device)
    print(run(model, device=device)["decoded"])
