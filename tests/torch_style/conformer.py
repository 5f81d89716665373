"""A small Conformer CTC recognizer (Gulati et al. 2020) as ESPnet / WeNet write it, on synthetic tone "speech":
a torchaudio-free log-mel front end (reflect ``F.pad``, ``unfold`` framing, ``hann_window``, a DFT by matmul with
cos / sin bases, a triangular mel filterbank built from ``torch.linspace`` / ``clamp``), per-utterance masked mean /
variance normalisation, SpecAugment time / frequency masks from numpy starts, Conv2dSubsampling(4) with its length
arithmetic by ``torch.div(rounding_mode="floor")``, ESPnet's RelPositionalEncoding (2T-1 positions) and
RelPositionMultiHeadedAttention (``pos_bias_u`` / ``pos_bias_v``, ``linear_pos``, the zero-pad ``rel_shift``,
``masked_fill`` with ``finfo.min`` then 0.0 after softmax), the macaron half-step FFNs with Swish, the
ConvolutionModule (pointwise Conv1d, ``nn.GLU(dim=1)``, depthwise Conv1d with groups, BatchNorm1d, SiLU), a CTC head
trained by ``F.ctc_loss(zero_infinity=True)`` plus an intermediate CTC loss, AdamW under a Noam ``LambdaLR``,
``clip_grad_norm_``, and greedy CTC decoding by ``unique_consecutive`` with an edit-distance CER.
"""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SR, N_FFT, HOP, N_MELS = 4000, 64, 32, 16
VOCAB = 6  # blank + 5 "phonemes"
TONES = [300.0, 500.0, 800.0, 1100.0, 1500.0]


# ----------------------------------------------------------------------------------------------- front end
def mel_filterbank(n_mels, n_fft, sr):
    n_freqs = n_fft // 2 + 1
    all_freqs = torch.linspace(0, sr // 2, n_freqs)
    m_min, m_max = 0.0, 2595.0 * math.log10(1.0 + (sr / 2) / 700.0)
    m_pts = torch.linspace(m_min, m_max, n_mels + 2)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)  # (n_freqs, n_mels + 2)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.max(torch.zeros(1), torch.min(down, up))  # (n_freqs, n_mels)


class LogMel(nn.Module):
    def __init__(self):
        super().__init__()
        n = torch.arange(N_FFT, dtype=torch.float32)
        k = torch.arange(N_FFT // 2 + 1, dtype=torch.float32)
        angle = 2 * math.pi * k.unsqueeze(1) * n.unsqueeze(0) / N_FFT
        self.register_buffer("cos_basis", torch.cos(angle).t().contiguous(), persistent=False)
        self.register_buffer("sin_basis", -torch.sin(angle).t().contiguous(), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        self.register_buffer("fbank", mel_filterbank(N_MELS, N_FFT, SR), persistent=False)

    def forward(self, wav, wav_lens):
        x = F.pad(wav.unsqueeze(1), (N_FFT // 2, N_FFT // 2), mode="reflect").squeeze(1)
        frames = x.unfold(-1, N_FFT, HOP) * self.window  # (B, T, N_FFT)
        re, im = frames @ self.cos_basis, frames @ self.sin_basis
        power = re.pow(2) + im.pow(2)
        mel = torch.matmul(power, self.fbank).clamp(min=1e-10).log()
        lens = torch.div(wav_lens, HOP, rounding_mode="floor") + 1
        mask = torch.arange(mel.size(1)).unsqueeze(0) < lens.unsqueeze(1)  # (B, T)
        m = mask.unsqueeze(-1).to(mel.dtype)
        mean = (mel * m).sum(1, keepdim=True) / lens.view(-1, 1, 1)
        var = ((mel - mean) ** 2 * m).sum(1, keepdim=True) / lens.view(-1, 1, 1)
        mel = (mel - mean) / torch.sqrt(var + 1e-5)
        return mel.masked_fill(~mask.unsqueeze(-1), 0.0), lens


def spec_augment(feats, t_starts, f_starts, t_width=3, f_width=2):
    """SpecAugment masks from fed starts (one time and one frequency mask per utterance)."""
    B, T, Fq = feats.shape
    t = torch.arange(T).view(1, T, 1)
    f = torch.arange(Fq).view(1, 1, Fq)
    ts = torch.as_tensor(t_starts).view(B, 1, 1)
    fs = torch.as_tensor(f_starts).view(B, 1, 1)
    tmask = (t >= ts) & (t < ts + t_width)
    fmask = (f >= fs) & (f < fs + f_width)
    return feats.masked_fill(tmask | fmask, 0.0)


# ----------------------------------------------------------------------------------------------- model
class Conv2dSubsampling4(nn.Module):
    def __init__(self, idim, odim):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, odim, 3, 2), nn.ReLU(), nn.Conv2d(odim, odim, 3, 2), nn.ReLU())
        self.out = nn.Linear(odim * (((idim - 1) // 2 - 1) // 2), odim)

    def forward(self, x, lens):
        x = self.conv(x.unsqueeze(1))
        b, c, t, f = x.size()
        x = self.out(x.transpose(1, 2).contiguous().view(b, t, c * f))
        lens = torch.div(lens - 3, 2, rounding_mode="floor") + 1
        lens = torch.div(lens - 3, 2, rounding_mode="floor") + 1
        return x, lens


class RelPositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=64):
        super().__init__()
        self.d_model = d_model
        self.xscale = math.sqrt(d_model)
        pe_positive = torch.zeros(max_len, d_model)
        pe_negative = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float32).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * -(math.log(10000.0) / d_model))
        pe_positive[:, 0::2] = torch.sin(position * div_term)
        pe_positive[:, 1::2] = torch.cos(position * div_term)
        pe_negative[:, 0::2] = torch.sin(-1 * position * div_term)
        pe_negative[:, 1::2] = torch.cos(-1 * position * div_term)
        pe_positive = torch.flip(pe_positive, [0]).unsqueeze(0)
        pe_negative = pe_negative[1:].unsqueeze(0)
        self.register_buffer("pe", torch.cat([pe_positive, pe_negative], dim=1), persistent=False)

    def forward(self, x):
        center = self.pe.size(1) // 2
        pos_emb = self.pe[:, center - x.size(1) + 1: center + x.size(1)]
        return x * self.xscale, pos_emb


def rel_shift(x):
    """ESPnet's legacy-free rel_shift: (B, H, T, 2T-1) -> (B, H, T, T)."""
    zero_pad = torch.zeros((*x.size()[:3], 1), device=x.device, dtype=x.dtype)
    x_padded = torch.cat([zero_pad, x], dim=-1)
    x_padded = x_padded.view(*x.size()[:2], x.size(3) + 1, x.size(2))
    x = x_padded[:, :, 1:].view_as(x)[:, :, :, : x.size(-1) // 2 + 1]
    return x


class RelPositionMultiHeadedAttention(nn.Module):
    def __init__(self, n_head, n_feat):
        super().__init__()
        self.d_k, self.h = n_feat // n_head, n_head
        self.linear_q = nn.Linear(n_feat, n_feat)
        self.linear_k = nn.Linear(n_feat, n_feat, bias=False)  # its bias gets a zero gradient
        self.linear_v = nn.Linear(n_feat, n_feat)
        self.linear_out = nn.Linear(n_feat, n_feat)
        self.linear_pos = nn.Linear(n_feat, n_feat, bias=False)
        self.pos_bias_u = nn.Parameter(torch.Tensor(self.h, self.d_k))
        self.pos_bias_v = nn.Parameter(torch.Tensor(self.h, self.d_k))
        torch.nn.init.xavier_uniform_(self.pos_bias_u)
        torch.nn.init.xavier_uniform_(self.pos_bias_v)
        self.attn = None

    def forward(self, x, pos_emb, mask):
        n_batch = x.size(0)
        q = self.linear_q(x).view(n_batch, -1, self.h, self.d_k)
        k = self.linear_k(x).view(n_batch, -1, self.h, self.d_k).transpose(1, 2)
        v = self.linear_v(x).view(n_batch, -1, self.h, self.d_k).transpose(1, 2)
        p = self.linear_pos(pos_emb).view(pos_emb.size(0), -1, self.h, self.d_k).transpose(1, 2)
        q_with_bias_u = (q + self.pos_bias_u).transpose(1, 2)
        q_with_bias_v = (q + self.pos_bias_v).transpose(1, 2)
        matrix_ac = torch.matmul(q_with_bias_u, k.transpose(-2, -1))
        matrix_bd = rel_shift(torch.matmul(q_with_bias_v, p.transpose(-2, -1)))
        scores = (matrix_ac + matrix_bd) / math.sqrt(self.d_k)
        mask = mask.unsqueeze(1).eq(0)  # (B, 1, 1, T) True where padded
        min_value = torch.finfo(scores.dtype).min
        scores = scores.masked_fill(mask, min_value)
        attn = torch.softmax(scores, dim=-1).masked_fill(mask, 0.0)
        self.attn = attn
        x = torch.matmul(attn, v).transpose(1, 2).contiguous().view(n_batch, -1, self.h * self.d_k)
        return self.linear_out(x)


class ConvolutionModule(nn.Module):
    def __init__(self, channels, kernel_size=7):
        super().__init__()
        self.pointwise_conv1 = nn.Conv1d(channels, 2 * channels, kernel_size=1)
        self.glu = nn.GLU(dim=1)
        self.depthwise_conv = nn.Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2,
                                        groups=channels, bias=False)  # BatchNorm follows
        self.norm = nn.BatchNorm1d(channels)
        self.activation = nn.SiLU()
        self.pointwise_conv2 = nn.Conv1d(channels, channels, kernel_size=1)

    def forward(self, x, pad_mask):
        x = x.transpose(1, 2)  # (B, C, T)
        x = x.masked_fill(~pad_mask, 0.0)
        x = self.glu(self.pointwise_conv1(x))
        x = x.masked_fill(~pad_mask, 0.0)
        x = self.activation(self.norm(self.depthwise_conv(x)))
        x = self.pointwise_conv2(x)
        return x.masked_fill(~pad_mask, 0.0).transpose(1, 2)


class FeedForward(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.w_1 = nn.Linear(d, hidden)
        self.w_2 = nn.Linear(hidden, d)
        self.activation = nn.SiLU()

    def forward(self, x):
        return self.w_2(self.activation(self.w_1(x)))


class ConformerBlock(nn.Module):
    def __init__(self, d, heads, ff, kernel):
        super().__init__()
        self.ff_macaron = FeedForward(d, ff)
        self.self_attn = RelPositionMultiHeadedAttention(heads, d)
        self.conv_module = ConvolutionModule(d, kernel)
        self.feed_forward = FeedForward(d, ff)
        self.norm_ff_macaron = nn.LayerNorm(d, eps=1e-12)
        self.norm_mha = nn.LayerNorm(d, eps=1e-12)
        self.norm_conv = nn.LayerNorm(d, eps=1e-12)
        self.norm_ff = nn.LayerNorm(d, eps=1e-12)
        self.norm_final = nn.LayerNorm(d, eps=1e-12)
        self.ff_scale = 0.5

    def forward(self, x, pos_emb, mask):
        x = x + self.ff_scale * self.ff_macaron(self.norm_ff_macaron(x))
        x = x + self.self_attn(self.norm_mha(x), pos_emb, mask)
        x = x + self.conv_module(self.norm_conv(x), mask)
        x = x + self.ff_scale * self.feed_forward(self.norm_ff(x))
        return self.norm_final(x)


class ConformerCTC(nn.Module):
    def __init__(self, d=32, heads=4, ff=64, kernel=7, blocks=2, vocab=VOCAB):
        super().__init__()
        self.frontend = LogMel()
        self.embed = Conv2dSubsampling4(N_MELS, d)
        self.pos_enc = RelPositionalEncoding(d)
        self.encoders = nn.ModuleList([ConformerBlock(d, heads, ff, kernel) for _ in range(blocks)])
        self.after_norm = nn.LayerNorm(d, eps=1e-12)
        self.ctc_lo = nn.Linear(d, vocab)

    def forward(self, wav, wav_lens, augment=None):
        feats, lens = self.frontend(wav, wav_lens)
        if augment is not None:
            feats = spec_augment(feats, *augment)
        x, lens = self.embed(feats, lens)
        x, pos_emb = self.pos_enc(x)
        mask = (torch.arange(x.size(1)).unsqueeze(0) < lens.unsqueeze(1)).unsqueeze(1)  # (B, 1, T)
        inter = None
        for i, layer in enumerate(self.encoders):
            x = layer(x, pos_emb, mask)
            if i == 0:
                inter = x
        x = self.after_norm(x)
        return F.log_softmax(self.ctc_lo(x), dim=-1), F.log_softmax(self.ctc_lo(inter), dim=-1), lens


# ----------------------------------------------------------------------------------------------- data
def make_corpus(rng, count):
    wavs, labels = [], []
    for _ in range(count):
        n = int(rng.integers(2, 5))
        lab = rng.integers(1, VOCAB, n)
        segs = []
        for tok in lab:
            dur = int(rng.integers(300, 420))
            tt = np.arange(dur) / SR
            segs.append(0.5 * np.sin(2 * np.pi * TONES[tok - 1] * tt + rng.uniform(0, np.pi)))
            segs.append(np.zeros(int(rng.integers(40, 90))))
        w = np.concatenate(segs) + 0.01 * rng.standard_normal(sum(len(s) for s in segs))
        wavs.append(w.astype(np.float32))
        labels.append(lab.astype(np.int64))
    return wavs, labels


def collate(wavs, labels):
    lens = np.array([len(w) for w in wavs], np.int64)
    out = np.zeros((len(wavs), lens.max()), np.float32)
    for i, w in enumerate(wavs):
        out[i, :len(w)] = w
    targets = np.concatenate(labels)
    tlens = np.array([len(lab) for lab in labels], np.int64)
    return torch.from_numpy(out), torch.from_numpy(lens), torch.from_numpy(targets), torch.from_numpy(tlens)


def greedy_decode(log_probs, lens):
    hyps = []
    best = log_probs.argmax(dim=-1)
    for b in range(best.size(0)):
        seq = torch.unique_consecutive(best[b, : int(lens[b])])
        hyps.append([int(t) for t in seq[seq != 0].tolist()])
    return hyps


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
    return d[len(b)]


def noam(d_model, warmup):
    return lambda step: d_model ** -0.5 * min((step + 1) ** -0.5, (step + 1) * warmup ** -1.5)


def run(weights=None):
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = ConformerCTC()
    initial = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    if weights is not None:
        model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    train_w, train_l = make_corpus(rng, 12)
    test_w, test_l = make_corpus(rng, 4)
    log = {"loss": [], "ctc": [], "inter": [], "grad_norm": [], "lr": [], "out_lens": []}

    # front end and pieces, checked once
    wav, wl, _, _ = collate(train_w[:3], train_l[:3])
    feats, flens = model.frontend(wav, wl)
    log["feats"] = feats.numpy()
    log["feat_lens"] = flens.tolist()
    log["fbank"] = model.frontend.fbank.numpy()
    probe = torch.arange(2 * 3 * 4 * 7, dtype=torch.float32).view(2, 3, 4, 7)
    log["rel_shift"] = rel_shift(probe).numpy()

    opt = torch.optim.AdamW(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, noam(32, 6))
    batch = 4
    for _epoch in range(6):
        model.train()
        order = rng.permutation(len(train_w))
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            wav, wl, tgt, tl = collate([train_w[i] for i in idx], [train_l[i] for i in idx])
            T = int(torch.div(wl.max(), HOP, rounding_mode="floor")) + 1
            aug = (rng.integers(0, T - 3, len(idx)), rng.integers(0, N_MELS - 2, len(idx)))
            logp, inter, olens = model(wav, wl, aug)
            ctc = F.ctc_loss(logp.transpose(0, 1), tgt, olens, tl, blank=0, reduction="mean", zero_infinity=True)
            ictc = F.ctc_loss(inter.transpose(0, 1), tgt, olens, tl, zero_infinity=True)
            loss = 0.7 * ctc + 0.3 * ictc
            opt.zero_grad()
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            log["loss"].append(loss.item())
            log["ctc"].append(ctc.item())
            log["inter"].append(ictc.item())
            log["grad_norm"].append(float(norm))
            log["lr"].append(sched.get_last_lr()[0])
            log["out_lens"].append(olens.tolist())
    model.eval()
    with torch.no_grad():
        wav, wl, tgt, tl = collate(test_w, test_l)
        logp, _, olens = model(wav, wl)
    hyps = greedy_decode(logp, olens)
    log["eval_logp"] = logp.numpy()
    log["hyps"] = hyps
    log["cer"] = sum(edit_distance(h, r.tolist()) for h, r in zip(hyps, test_l)) / sum(len(r) for r in test_l)
    log["attn"] = model.encoders[0].self_attn.attn.numpy()
    log["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    log["weights"] = initial
    return log
