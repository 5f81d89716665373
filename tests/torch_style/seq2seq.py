"""An encoder-decoder with attention written as ordinary PyTorch code, in the style of the "translation with a
sequence to sequence network and attention" tutorial, on a toy task: reverse a sequence of digit tokens. A 2-layer
bidirectional LSTM reads a padded and packed batch; an LSTMCell decoder with additive (Bahdanau) or dot-product
(Luong) attention writes the answer, with teacher forcing decided outside (numpy) and fed in; Adam, gradient
clipping and ReduceLROnPlateau on a validation loss, keeping a deep copy of the best state_dict; greedy decoding
under no_grad with an early stop on EOS. The harness runs it on torch and, with the imports swapped, on ours."""

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

PAD, SOS, EOS = 0, 1, 2


class Encoder(nn.Module):
    def __init__(self, vocab, emb_dim, hidden):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb_dim, padding_idx=PAD)
        self.rnn = nn.LSTM(emb_dim, hidden, num_layers=2, bidirectional=True, batch_first=True, dropout=0)
        self.fc_h = nn.Linear(hidden * 2, hidden)
        self.fc_c = nn.Linear(hidden * 2, hidden)

    def forward(self, src, lengths):
        embedded = self.embedding(src)
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_outputs, (h, c) = self.rnn(packed)
        outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=src.size(1))
        # h, c: (num_layers * 2, batch, hidden); the last layer's two directions start the decoder
        h = h.view(2, 2, src.size(0), -1)
        c = c.view(2, 2, src.size(0), -1)
        h0 = torch.tanh(self.fc_h(torch.cat((h[-1, 0], h[-1, 1]), dim=1)))
        c0 = self.fc_c(torch.cat((c[-1, 0], c[-1, 1]), dim=1))
        return outputs, (h0, c0)


class Attention(nn.Module):
    def __init__(self, enc_dim, dec_dim, attn_dim):
        super().__init__()
        self.attn = nn.Linear(enc_dim + dec_dim, attn_dim)
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def forward(self, hidden, encoder_outputs, mask):
        src_len = encoder_outputs.shape[1]
        hidden = hidden.unsqueeze(1).repeat(1, src_len, 1)
        energy = torch.tanh(self.attn(torch.cat((hidden, encoder_outputs), dim=2)))
        scores = self.v(energy).squeeze(2)
        scores = scores.masked_fill(mask == 0, float("-inf"))
        return F.softmax(scores, dim=1)


class DotAttention(nn.Module):
    """Luong's "general" score: the decoder state against a projection of each encoder output."""

    def __init__(self, enc_dim, dec_dim):
        super().__init__()
        self.proj = nn.Linear(enc_dim, dec_dim, bias=False)

    def forward(self, hidden, encoder_outputs, mask):
        scores = torch.bmm(self.proj(encoder_outputs), hidden.unsqueeze(2)).squeeze(2)
        scores = scores.masked_fill(mask == 0, float("-inf"))
        return F.softmax(scores, dim=1)


class Decoder(nn.Module):
    def __init__(self, vocab, emb_dim, enc_dim, hidden, attention):
        super().__init__()
        self.vocab = vocab
        self.embedding = nn.Embedding(vocab, emb_dim, padding_idx=PAD)
        if attention == "additive":
            self.attention = Attention(enc_dim, hidden, hidden)
        else:
            self.attention = DotAttention(enc_dim, hidden)
        self.cell = nn.LSTMCell(emb_dim + enc_dim, hidden)
        self.out = nn.Linear(hidden + enc_dim + emb_dim, vocab)

    def forward(self, token, state, encoder_outputs, mask):
        embedded = self.embedding(token)  # (batch, emb_dim)
        a = self.attention(state[0], encoder_outputs, mask)
        context = torch.bmm(a.unsqueeze(1), encoder_outputs).squeeze(1)  # (batch, enc_dim)
        h, c = self.cell(torch.cat((embedded, context), dim=1), state)
        logits = self.out(torch.cat((h, context, embedded), dim=1))
        return logits, (h, c), a


class Seq2Seq(nn.Module):
    def __init__(self, vocab, emb_dim=12, hidden=16, attention="additive"):
        super().__init__()
        self.encoder = Encoder(vocab, emb_dim, hidden)
        self.decoder = Decoder(vocab, emb_dim, hidden * 2, hidden, attention)

    def forward(self, src, lengths, trg, teacher_forcing):
        """Logits (batch, trg_len - 1, vocab) for trg[:, 1:]; ``teacher_forcing[t]`` says whether step t is fed
        the true token or the model's own guess."""
        batch, trg_len = trg.shape
        outputs = torch.zeros(batch, trg_len - 1, self.decoder.vocab)
        encoder_outputs, state = self.encoder(src, lengths)
        mask = src != PAD
        token = trg[:, 0]
        for t in range(1, trg_len):
            logits, state, _ = self.decoder(token, state, encoder_outputs, mask)
            outputs[:, t - 1] = logits
            token = trg[:, t] if teacher_forcing[t - 1] else logits.argmax(1)
        return outputs


def tensors(pairs):
    """Padded (src, lengths, trg) from a list of (source, target) token lists; the target gets SOS ... EOS."""
    src = pad_sequence([torch.tensor(s) for s, _ in pairs], batch_first=True, padding_value=PAD)
    lengths = torch.tensor([len(s) for s, _ in pairs])
    trg = pad_sequence([torch.tensor([SOS] + list(t) + [EOS]) for _, t in pairs], batch_first=True,
                       padding_value=PAD)
    return src, lengths, trg


@torch.no_grad()
def greedy_decode(model, src, lengths, max_len):
    """Token ids (batch, <= max_len), the attention maps (batch, steps, src_len), stopping once all wrote EOS."""
    model.eval()
    encoder_outputs, state = model.encoder(src, lengths)
    mask = src != PAD
    token = torch.full((src.size(0),), SOS, dtype=torch.long)
    done = torch.zeros(src.size(0), dtype=torch.bool)
    tokens, attentions = [], []
    for _ in range(max_len):
        logits, state, a = model.decoder(token, state, encoder_outputs, mask)
        _, top = logits.topk(1)
        token = top.squeeze(1)
        tokens.append(token)
        attentions.append(a)
        done = done | (token == EOS)
        if done.all():
            break
    return torch.stack(tokens, dim=1), torch.stack(attentions, dim=1)


def evaluate(model, criterion, src, lengths, trg):
    model.eval()
    with torch.no_grad():
        output = model(src, lengths, trg, [False] * (trg.size(1) - 1))
        return criterion(output.view(-1, output.size(-1)), trg[:, 1:].contiguous().view(-1)).item()


def run(model, batches, val_pairs, teacher_forcing):
    """Train on ``batches`` (lists of (source, target) pairs), one validation pass after each step; the recorded
    series, and the greedy decodes of the validation sources by the weights with the best validation loss."""
    criterion = nn.CrossEntropyLoss(ignore_index=PAD)
    optimizer = optim.Adam(model.parameters(), lr=0.02)
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=1, threshold=0.02)
    val = tensors(val_pairs)
    history = {"loss": [], "norm": [], "val_loss": [], "lr": []}
    best_loss, best_state = float("inf"), None
    for step, pairs in enumerate(batches):
        model.train()
        src, lengths, trg = tensors(pairs)
        optimizer.zero_grad()
        output = model(src, lengths, trg, teacher_forcing[step])
        loss = criterion(output.view(-1, output.size(-1)), trg[:, 1:].contiguous().view(-1))
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
        optimizer.step()
        val_loss = evaluate(model, criterion, *val)
        scheduler.step(val_loss)
        if val_loss < best_loss:
            best_loss, best_state = val_loss, copy.deepcopy(model.state_dict())
        history["loss"].append(loss.item())
        history["norm"].append(norm.item())
        history["val_loss"].append(val_loss)
        history["lr"].append(optimizer.param_groups[0]["lr"])
    model.load_state_dict(best_state)
    decoded, attention = greedy_decode(model, val[0], val[1], max_len=val[2].size(1))
    history["decoded"] = decoded.numpy()
    history["attention"] = attention.numpy()
    return history
