"""BiDAF (Seo et al., "Bidirectional Attention Flow for Machine Comprehension"), shrunk, in the shape the public
SQuAD re-implementations give it: word vectors (a frozen pretrained table) joined with a character CNN (an
Embedding over each word's characters, Conv1d, ReLU, max over time), a two-layer highway network, a bidirectional
LSTM contextual encoder over padded batches (pack_padded_sequence with enforce_sorted=False / pad_packed_sequence),
the trilinear similarity matrix with context-to-query and query-to-context attention under masked softmaxes, a
two-layer modeling LSTM and an output layer giving start / end logits. The loss is CE(start) + CE(end) over
masked log-softmaxes (padded positions filled with -1e30), with examples whose answer fell off the truncated context
ignored (target -1). Adadelta (the paper's optimizer, lr 0.5) and an exponential moving average of the weights used
for evaluation; spans decoded from the outer product of the start / end probabilities kept to end >= start and at
most ``max_len`` tokens by triu / tril, the argmax of the flattened matrix turned back into (start, end) by divmod."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def masked_softmax(logits, mask, dim=-1, log_softmax=False):
    """Softmax over ``dim`` with the positions where ``mask`` is False pushed to -1e30 first."""
    logits = logits.masked_fill(~mask, -1e30)
    fn = F.log_softmax if log_softmax else F.softmax
    return fn(logits, dim=dim)


class CharCNN(nn.Module):
    """(B, L, W) character ids -> (B, L, out): each word's characters embedded, convolved, max-pooled over time."""

    def __init__(self, n_chars, char_dim, out_channels, kernel_size):
        super().__init__()
        self.embed = nn.Embedding(n_chars, char_dim, padding_idx=0)
        self.conv = nn.Conv1d(char_dim, out_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, chars):
        batch, length, width = chars.size()
        x = self.embed(chars.view(-1, width))  # (B*L, W, C)
        x = F.relu(self.conv(x.transpose(1, 2)))  # (B*L, out, W)
        x, _ = torch.max(x, dim=-1)
        return x.view(batch, length, -1)


class Highway(nn.Module):
    def __init__(self, num_layers, size):
        super().__init__()
        self.transforms = nn.ModuleList([nn.Linear(size, size) for _ in range(num_layers)])
        self.gates = nn.ModuleList([nn.Linear(size, size) for _ in range(num_layers)])

    def forward(self, x):
        for gate, transform in zip(self.gates, self.transforms):
            g = torch.sigmoid(gate(x))
            t = F.relu(transform(x))
            x = g * t + (1 - g) * x
        return x


class Embedding(nn.Module):
    def __init__(self, word_vectors, n_chars, char_dim, char_channels, hidden_size, drop_prob):
        super().__init__()
        self.word = nn.Embedding.from_pretrained(word_vectors, freeze=True, padding_idx=0)
        self.char = CharCNN(n_chars, char_dim, char_channels, 3)
        self.proj = nn.Linear(word_vectors.size(1) + char_channels, hidden_size, bias=False)
        self.hwy = Highway(2, hidden_size)
        self.drop_prob = drop_prob

    def forward(self, words, chars):
        emb = torch.cat([self.word(words), self.char(chars)], dim=-1)
        emb = F.dropout(emb, self.drop_prob, self.training)
        return self.hwy(self.proj(emb))


class RNNEncoder(nn.Module):
    """(B, L, in) and lengths (B,) -> (B, L, 2 * hidden); padded steps come back as zeros."""

    def __init__(self, input_size, hidden_size, num_layers, drop_prob=0.0, presort=False):
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True, bidirectional=True,
                           dropout=drop_prob if num_layers > 1 else 0.0)
        self.drop_prob = drop_prob
        self.presort = presort

    def forward(self, x, lengths):
        total = x.size(1)
        if self.presort:  # the older spelling: sort by length, pack sorted, unsort after
            lengths, sort_idx = lengths.sort(0, descending=True)
            x = x[sort_idx]
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True)
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=total)
        if self.presort:
            _, unsort_idx = sort_idx.sort(0)
            out = out[unsort_idx]
        return F.dropout(out, self.drop_prob, self.training)


class BiDAFAttention(nn.Module):
    """Similarity S[i, j] = w . [c_i; q_j; c_i * q_j], then C2Q and Q2C attention: (B, Lc, 8h)."""

    def __init__(self, size, drop_prob=0.0):
        super().__init__()
        self.c_weight = nn.Parameter(torch.zeros(size, 1))
        self.q_weight = nn.Parameter(torch.zeros(size, 1))
        self.cq_weight = nn.Parameter(torch.zeros(1, 1, size))
        for w in (self.c_weight, self.q_weight, self.cq_weight):
            nn.init.xavier_uniform_(w)
        self.bias = nn.Parameter(torch.zeros(1))
        self.drop_prob = drop_prob

    def similarity(self, c, q):
        c_len, q_len = c.size(1), q.size(1)
        s0 = torch.matmul(c, self.c_weight).expand([-1, -1, q_len])
        s1 = torch.matmul(q, self.q_weight).transpose(1, 2).expand([-1, c_len, -1])
        s2 = torch.matmul(c * self.cq_weight, q.transpose(1, 2))
        return s0 + s1 + s2 + self.bias

    def forward(self, c, q, c_mask, q_mask):
        s = self.similarity(c, q)  # (B, Lc, Lq)
        s1 = masked_softmax(s, q_mask.unsqueeze(1), dim=2)  # over the question, for each context word
        s2 = masked_softmax(s, c_mask.unsqueeze(2), dim=1)  # over the context, for each question word
        a = torch.bmm(s1, q)  # C2Q: (B, Lc, 2h)
        b = torch.bmm(torch.bmm(s1, s2.transpose(1, 2)), c)  # Q2C, the DCN-style spelling
        return torch.cat([c, a, c * a, c * b], dim=2)

    def forward_paper(self, c, q, c_mask, q_mask):
        """The paper's Q2C: softmax over the context of the row-wise max similarity, tiled over Lc."""
        s = self.similarity(c, q)
        a = torch.bmm(masked_softmax(s, q_mask.unsqueeze(1), dim=2), q)
        row_max = s.masked_fill(~q_mask.unsqueeze(1), float("-inf")).max(dim=2).values  # (B, Lc)
        beta = masked_softmax(row_max, c_mask, dim=1)
        b = torch.bmm(beta.unsqueeze(1), c).expand(-1, c.size(1), -1)
        return torch.cat([c, a, c * a, c * b], dim=2)


class BiDAFOutput(nn.Module):
    def __init__(self, hidden_size, drop_prob):
        super().__init__()
        self.att_linear_1 = nn.Linear(8 * hidden_size, 1)
        self.mod_linear_1 = nn.Linear(2 * hidden_size, 1)
        self.rnn = RNNEncoder(2 * hidden_size, hidden_size, 1, drop_prob)
        self.att_linear_2 = nn.Linear(8 * hidden_size, 1)
        self.mod_linear_2 = nn.Linear(2 * hidden_size, 1)

    def forward(self, att, mod, mask):
        logits_1 = self.att_linear_1(att) + self.mod_linear_1(mod)
        mod_2 = self.rnn(mod, mask.sum(-1))
        logits_2 = self.att_linear_2(att) + self.mod_linear_2(mod_2)
        return logits_1.squeeze(-1), logits_2.squeeze(-1)


class BiDAF(nn.Module):
    def __init__(self, word_vectors, n_chars=20, char_dim=6, char_channels=8, hidden_size=8, drop_prob=0.0,
                 q2c="dcn", presort=False):
        super().__init__()
        self.emb = Embedding(word_vectors, n_chars, char_dim, char_channels, hidden_size, drop_prob)
        self.enc = RNNEncoder(hidden_size, hidden_size, 1, drop_prob, presort)
        self.att = BiDAFAttention(2 * hidden_size, drop_prob)
        self.mod = RNNEncoder(8 * hidden_size, hidden_size, 2, drop_prob, presort)
        self.out = BiDAFOutput(hidden_size, drop_prob)
        self.q2c = q2c

    def forward(self, cw, cc, qw, qc):
        c_mask, q_mask = cw != 0, qw != 0
        c_len, q_len = c_mask.sum(-1), q_mask.sum(-1)
        c = self.enc(self.emb(cw, cc), c_len)
        q = self.enc(self.emb(qw, qc), q_len)
        attend = self.att if self.q2c == "dcn" else self.att.forward_paper
        g = attend(c, q, c_mask, q_mask)
        m = self.mod(g, c_len)
        logits_1, logits_2 = self.out(g, m, c_mask)
        return (masked_softmax(logits_1, c_mask, log_softmax=True),
                masked_softmax(logits_2, c_mask, log_softmax=True))


class EMA:
    """Shadow copies of the trainable parameters, decay warmed up as min(decay, (1 + n) / (10 + n))."""

    def __init__(self, model, decay):
        self.decay = decay
        self.shadow = {n: p.data.clone() for n, p in model.named_parameters() if p.requires_grad}
        self.original = {}

    def __call__(self, model, num_updates):
        decay = min(self.decay, (1.0 + num_updates) / (10.0 + num_updates))
        for name, param in model.named_parameters():
            if param.requires_grad:
                new_average = (1.0 - decay) * param.data + decay * self.shadow[name]
                self.shadow[name] = new_average.clone()

    def assign(self, model):
        for name, param in model.named_parameters():
            if param.requires_grad:
                self.original[name] = param.data.clone()
                param.data = self.shadow[name]

    def resume(self, model):
        for name, param in model.named_parameters():
            if param.requires_grad:
                param.data = self.original[name]


def qa_loss(log_p1, log_p2, y1, y2):
    """CE(start) + CE(end) on the masked log-probabilities; target -1 (answer cut off) is ignored."""
    return F.nll_loss(log_p1, y1, ignore_index=-1) + F.nll_loss(log_p2, y2, ignore_index=-1)


def discretize(p_start, p_end, max_len=4):
    """(B, L) probabilities -> (start, end) maximising p_start[i] * p_end[j] over j >= i, j - i < max_len."""
    c_len = p_start.size(1)
    p_joint = torch.matmul(p_start.unsqueeze(2), p_end.unsqueeze(1))  # (B, L, L)
    legal = torch.triu(torch.ones((c_len, c_len)))
    legal = torch.tril(legal, diagonal=max_len - 1)
    p_joint = p_joint * legal
    best, flat = p_joint.view(p_joint.size(0), -1).max(dim=-1)
    start, end = flat // c_len, flat % c_len
    return start, end, best


def discretize_divmod(p_start, p_end, max_len=4):
    """The same with argmax on the flattened matrix, the index split by floor division and remainder (and, per
    example, by Python's divmod on the item)."""
    c_len = p_start.size(1)
    p_joint = p_start.unsqueeze(2) * p_end.unsqueeze(1)
    p_joint = torch.triu(p_joint) - torch.triu(p_joint, diagonal=max_len)
    flat = torch.argmax(p_joint.flatten(1), dim=1)
    start, end = torch.div(flat, c_len, rounding_mode="floor"), torch.remainder(flat, c_len)
    assert [divmod(i.item(), c_len) for i in flat] == list(zip(start.tolist(), end.tolist()))
    return start, end


def make_optimizer(model, lr=0.5):
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adadelta(params, lr=lr, weight_decay=1e-4)


def train(model, batches, lr=0.5, ema_decay=0.999, clip=5.0, optimizer=None, ema=None, step=0):
    """Adadelta on the trainable parameters, gradients clipped, the EMA updated after each step (``step`` counts
    examples seen, for the EMA's warm-up); pass ``optimizer`` / ``ema`` / ``step`` to go on from a checkpoint."""
    optimizer = optimizer or make_optimizer(model, lr)
    ema = ema or EMA(model, ema_decay)
    log = {"loss": [], "norm": []}
    model.train()
    for cw, cc, qw, qc, y1, y2 in batches:
        optimizer.zero_grad()
        log_p1, log_p2 = model(cw, cc, qw, qc)
        loss = qa_loss(log_p1, log_p2, y1, y2)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        step += cw.size(0)
        ema(model, step)
        log["loss"].append(loss.item())
        log["norm"].append(norm.item())
    log["step"] = step
    return optimizer, ema, log


def save_checkpoint(path, model, optimizer, ema, step):
    torch.save({"model_state": model.state_dict(), "optimizer": optimizer.state_dict(),
                "ema": ema.shadow, "step": step}, path)


def load_checkpoint(path, model, ema_decay=0.999):
    """(optimizer, ema, step) restored into ``model`` from ``path``."""
    ckpt = torch.load(path)
    model.load_state_dict(ckpt["model_state"])
    optimizer = make_optimizer(model)
    optimizer.load_state_dict(ckpt["optimizer"])
    ema = EMA(model, ema_decay)
    ema.shadow = {k: v.clone() for k, v in ckpt["ema"].items()}
    return optimizer, ema, ckpt["step"]


@torch.no_grad()
def evaluate(model, ema, batches, max_len=4):
    """Loss, spans and exact-match under the EMA weights; the live weights restored afterwards."""
    ema.assign(model)
    model.eval()
    out = {"loss": [], "start": [], "end": [], "prob": [], "em": 0}
    for cw, cc, qw, qc, y1, y2 in batches:
        log_p1, log_p2 = model(cw, cc, qw, qc)
        out["loss"].append(qa_loss(log_p1, log_p2, y1, y2).item())
        p1, p2 = log_p1.exp(), log_p2.exp()
        start, end, best = discretize(p1, p2, max_len)
        start_2, end_2 = discretize_divmod(p1, p2, max_len)
        assert torch.equal(start, start_2) and torch.equal(end, end_2)
        out["start"].append(start.tolist())
        out["end"].append(end.tolist())
        out["prob"].append(best)
        out["em"] += ((start == y1) & (end == y2)).sum().item()
    ema.resume(model)
    model.train()
    return out
