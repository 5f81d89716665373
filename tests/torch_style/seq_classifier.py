"""A sequence classifier written as ordinary PyTorch code, using the tenth stop's torch surface: Conv1d, GroupNorm,
max_pool1d and linear interpolation, a pre-norm TransformerEncoder with a key padding mask, a GRU over a packed
batch of unequal lengths, a Bilinear head, RAdam with decoupled weight decay and LinearLR. The harness runs it on
torch and, with the imports swapped, on ours."""

import torch
import torch.nn.functional as F
from torch import nn


class SeqClassifier(nn.Module):
    def __init__(self, vocab, width=16, classes=3):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.conv = nn.Conv1d(width, width, 3, padding=1)
        self.norm = nn.GroupNorm(4, width)
        layer = nn.TransformerEncoderLayer(width, 2, dim_feedforward=32, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.gru = nn.GRU(width, width, batch_first=True)
        self.mix = nn.Bilinear(width, width, classes)

    def forward(self, idx, lengths):
        t = idx.shape[1]
        x = self.embed(idx)  # (N, T, W)
        c = self.norm(F.relu(self.conv(x.transpose(1, 2))))  # (N, W, T)
        c = F.interpolate(F.max_pool1d(c, 2), size=t, mode="linear", align_corners=False)
        h = x + c.transpose(1, 2)
        pad = torch.arange(t)[None, :] >= torch.tensor(lengths)[:, None]
        h = self.encoder(h, src_key_padding_mask=pad)
        packed = nn.utils.rnn.pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed)
        pooled = h.masked_fill(pad[:, :, None], 0.0).sum(1) / torch.tensor(lengths)[:, None]
        return self.mix(last[0], pooled)


def run(model, batches, steps):
    opt = torch.optim.RAdam(model.parameters(), lr=1e-2, weight_decay=0.01, decoupled_weight_decay=True)
    sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=4)
    losses, lrs, norms = [], [], []
    for step in range(steps):
        x, lengths, y = batches[step]
        logits = model(torch.tensor(x), lengths)
        loss = F.cross_entropy(logits, torch.tensor(y), label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        norms.append(nn.utils.clip_grad_norm_(model.parameters(), 5.0).item())
        opt.step()
        sched.step()
        losses.append(loss.item())
        lrs.append(sched.get_last_lr()[0])
    return {"loss": losses, "lr": lrs, "norm": norms}
