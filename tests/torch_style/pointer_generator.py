"""See, Liu and Manning's pointer-generator network with coverage ("Get To The Point", 2017), shrunk, laid out as the
usual PyTorch ports of the TensorFlow release lay it out: an embedding shared by encoder and decoder, a BiLSTM
encoder over ``pack_padded_sequence(enforce_sorted=False)`` whose final states are reduced (Linear + ReLU) to the
decoder's initial state, and a decoder stepping an LSTMCell with Bahdanau attention whose features include the
coverage vector (the running sum of earlier attention); the masked attention is a softmax times the padding mask,
renormalised. Each step mixes the vocabulary softmax and the copy distribution: p_gen = sigmoid(Linear([context,
state, input])), the vocabulary part padded with zeros for the batch's source OOVs (torch.cat) and the attention
scattered into it with scatter_add over the extended source ids. The loss is -log(gathered probability + eps) plus
the coverage loss sum(min(attention, coverage)), masked over padded target steps and averaged per summary length.
Adagrad with initial_accumulator_value=0.1 and clip_grad_norm_ per module; greedy decoding under torch.no_grad()
feeding extended (OOV) ids back as UNK."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD, UNK, START, STOP = 0, 1, 2, 3


class Encoder(nn.Module):
    def __init__(self, embedding, emb_dim, hidden_dim):
        super().__init__()
        self.embedding = embedding
        self.lstm = nn.LSTM(emb_dim, hidden_dim, num_layers=1, batch_first=True, bidirectional=True)
        self.W_h = nn.Linear(2 * hidden_dim, 2 * hidden_dim, bias=False)

    def forward(self, ids, lens):
        """(B, L) ids, (B,) lengths -> outputs (B, L, 2h), features (B * L, 2h), final (h, c) each (2, B, h)."""
        packed = pack_padded_sequence(self.embedding(ids), lens, batch_first=True, enforce_sorted=False)
        out, hidden = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))
        out = out.contiguous()
        features = self.W_h(out.view(-1, out.size(2)))
        return out, features, hidden


class ReduceState(nn.Module):
    """The two directions' final (h, c) joined and squeezed to the decoder's size through Linear + ReLU."""

    def __init__(self, hidden_dim):
        super().__init__()
        self.reduce_h = nn.Linear(2 * hidden_dim, hidden_dim)
        self.reduce_c = nn.Linear(2 * hidden_dim, hidden_dim)

    def forward(self, hidden):
        h, c = hidden
        h_in = h.transpose(0, 1).contiguous().view(-1, 2 * h.size(2))
        c_in = c.transpose(0, 1).contiguous().view(-1, 2 * c.size(2))
        return F.relu(self.reduce_h(h_in)), F.relu(self.reduce_c(c_in))


class Attention(nn.Module):
    def __init__(self, hidden_dim, use_coverage):
        super().__init__()
        self.use_coverage = use_coverage
        self.W_c = nn.Linear(1, 2 * hidden_dim, bias=False)
        self.decode_proj = nn.Linear(2 * hidden_dim, 2 * hidden_dim)
        self.v = nn.Linear(2 * hidden_dim, 1, bias=False)

    def forward(self, s_t_hat, enc_out, enc_features, pad_mask, coverage):
        """Context (B, 2h), attention (B, L) and the coverage after adding this step's attention (B, L)."""
        b, length, n = enc_out.size()
        dec_fea = self.decode_proj(s_t_hat).unsqueeze(1).expand(b, length, n).contiguous().view(-1, n)
        att_features = enc_features + dec_fea
        if self.use_coverage:
            att_features = att_features + self.W_c(coverage.view(-1, 1))
        scores = self.v(torch.tanh(att_features)).view(-1, length)
        attn_ = F.softmax(scores, dim=1) * pad_mask
        attn = attn_ / attn_.sum(1, keepdim=True)
        context = torch.bmm(attn.unsqueeze(1), enc_out).view(-1, n)
        if self.use_coverage:
            coverage = coverage.view(-1, length) + attn
        return context, attn, coverage


class Decoder(nn.Module):
    def __init__(self, embedding, vocab_size, emb_dim, hidden_dim, pointer_gen, use_coverage):
        super().__init__()
        self.embedding = embedding
        self.attention = Attention(hidden_dim, use_coverage)
        self.x_context = nn.Linear(2 * hidden_dim + emb_dim, emb_dim)
        self.cell = nn.LSTMCell(emb_dim, hidden_dim)
        self.pointer_gen = pointer_gen
        if pointer_gen:
            self.p_gen_linear = nn.Linear(4 * hidden_dim + emb_dim, 1)
        self.out1 = nn.Linear(3 * hidden_dim, hidden_dim)
        self.out2 = nn.Linear(hidden_dim, vocab_size)

    def forward(self, y_prev, state, enc_out, enc_features, pad_mask, c_prev, extra_zeros, ext_ids, coverage):
        """One step: the final distribution over the extended vocabulary (B, V + n_oov) and the new state."""
        y_emb = self.embedding(y_prev)
        x = self.x_context(torch.cat((c_prev, y_emb), 1))
        h, c = self.cell(x, state)
        s_t_hat = torch.cat((h, c), 1)
        context, attn, next_coverage = self.attention(s_t_hat, enc_out, enc_features, pad_mask, coverage)
        vocab_dist = F.softmax(self.out2(self.out1(torch.cat((h, context), 1))), dim=1)
        p_gen = None
        if self.pointer_gen:
            p_gen = torch.sigmoid(self.p_gen_linear(torch.cat((context, s_t_hat, x), 1)))
            vocab_part = p_gen * vocab_dist
            copy_part = (1 - p_gen) * attn
            if extra_zeros is not None:
                vocab_part = torch.cat([vocab_part, extra_zeros], 1)
            final = vocab_part.scatter_add(1, ext_ids, copy_part)
        else:
            final = vocab_dist
        return final, (h, c), context, attn, p_gen, next_coverage


class PointerGenerator(nn.Module):
    def __init__(self, vocab_size=20, emb_dim=8, hidden_dim=6, pointer_gen=True, use_coverage=True):
        super().__init__()
        embedding = nn.Embedding(vocab_size, emb_dim)
        nn.init.normal_(embedding.weight, std=1e-1)
        self.encoder = Encoder(embedding, emb_dim, hidden_dim)
        self.decoder = Decoder(embedding, vocab_size, emb_dim, hidden_dim, pointer_gen, use_coverage)
        self.reduce_state = ReduceState(hidden_dim)
        self.vocab_size = vocab_size
        for name, p in self.named_parameters():  # the release's LSTM init: uniform weights, forget-gate bias 1
            if "lstm" in name or "cell" in name:
                if "weight" in name:
                    nn.init.uniform_(p, -0.02, 0.02)
                else:
                    n = p.size(0)
                    p.data.fill_(0.0)
                    p.data[n // 4:n // 2].fill_(1.0)


def batch_loss(model, batch, cov_loss_wt=1.0, eps=1e-12):
    """Mean over the batch of the per-summary average of -log p(target) + cov_loss_wt * sum(min(attn, coverage))."""
    src, src_lens, ext_ids, n_oov, dec_in, target, dec_mask = batch
    b = src.size(0)
    if not model.decoder.pointer_gen:  # without the copy mechanism, OOV targets are scored as UNK
        target = target.masked_fill(target >= model.vocab_size, UNK)
    enc_out, enc_features, enc_hidden = model.encoder(src, src_lens)
    state = model.reduce_state(enc_hidden)
    pad_mask = (src != PAD).to(enc_out.dtype)
    context = enc_out.new_zeros(b, enc_out.size(2))
    coverage = enc_out.new_zeros(src.size()) if model.decoder.attention.use_coverage else None
    extra_zeros = enc_out.new_zeros((b, n_oov)) if n_oov > 0 else None
    step_losses, log = [], {"p_gen": [], "cov": []}
    for t in range(dec_in.size(1)):
        final, state, context, attn, p_gen, next_coverage = model.decoder(
            dec_in[:, t], state, enc_out, enc_features, pad_mask, context, extra_zeros, ext_ids, coverage)
        gold = torch.gather(final, 1, target[:, t].unsqueeze(1)).squeeze()
        step_loss = -torch.log(gold + eps)
        if coverage is not None:
            cov_loss = torch.sum(torch.min(attn, coverage), 1)
            step_loss = step_loss + cov_loss_wt * cov_loss
            log["cov"].append(cov_loss.detach())
            coverage = next_coverage
        if p_gen is not None:
            log["p_gen"].append(p_gen.detach().squeeze(1))
        step_losses.append(step_loss * dec_mask[:, t])
    per_example = torch.sum(torch.stack(step_losses, 1), 1) / dec_mask.sum(1)
    return torch.mean(per_example), log


def train(model, batches, lr=0.15, max_grad_norm=2.0, cov_loss_wt=1.0):
    optimizer = torch.optim.Adagrad(model.parameters(), lr=lr, initial_accumulator_value=0.1)
    log = {"loss": [], "norms": []}
    for batch in batches:
        optimizer.zero_grad()
        loss, _ = batch_loss(model, batch, cov_loss_wt)
        loss.backward()
        norms = [nn.utils.clip_grad_norm_(part.parameters(), max_grad_norm).item()
                 for part in (model.encoder, model.decoder, model.reduce_state)]
        optimizer.step()
        log["loss"].append(loss.item())
        log["norms"].append(norms)
    return optimizer, log


def greedy_decode(model, src, src_lens, ext_ids, n_oov, max_steps=6):
    """(B, steps) extended ids, stopping early once every row has emitted STOP; OOV picks fed back as UNK."""
    model.eval()
    with torch.no_grad():
        b = src.size(0)
        enc_out, enc_features, enc_hidden = model.encoder(src, src_lens)
        state = model.reduce_state(enc_hidden)
        pad_mask = (src != PAD).to(enc_out.dtype)
        context = torch.zeros(b, enc_out.size(2), dtype=enc_out.dtype)
        coverage = torch.zeros(src.size(), dtype=enc_out.dtype)
        extra_zeros = torch.zeros((b, n_oov), dtype=enc_out.dtype) if n_oov > 0 else None
        y = torch.full((b,), START, dtype=torch.long)
        done = torch.zeros(b, dtype=torch.bool)
        out = []
        for _ in range(max_steps):
            final, state, context, _, _, coverage = model.decoder(
                y, state, enc_out, enc_features, pad_mask, context, extra_zeros, ext_ids, coverage)
            pick = final.argmax(1)
            pick = pick.masked_fill(done, PAD)
            out.append(pick)
            done = done | (pick == STOP)
            y = pick.masked_fill(pick >= model.vocab_size, UNK)
            if bool(done.all()):
                break
    model.train()
    return torch.stack(out, 1)


class Beam:
    """A partial hypothesis: tokens so far, their log-probabilities, and the decoder state after the last one."""

    def __init__(self, tokens, log_probs, state, context, coverage):
        self.tokens, self.log_probs = tokens, log_probs
        self.state, self.context, self.coverage = state, context, coverage

    def extend(self, token, log_prob, state, context, coverage):
        return Beam(self.tokens + [token], self.log_probs + [log_prob], state, context, coverage)

    @property
    def avg_log_prob(self):
        return sum(self.log_probs) / len(self.tokens)


def beam_search(model, src, src_lens, ext_ids, n_oov, beam_size=3, max_steps=6, min_steps=2):
    """Beam search for one source (batch of 1): every live beam proposes its top 2 * beam_size extended ids, the
    candidates ranked by average log-probability; finished (STOP) ones kept once past ``min_steps``."""
    model.eval()
    with torch.no_grad():
        enc_out, enc_features, enc_hidden = model.encoder(src, src_lens)
        h, c = model.reduce_state(enc_hidden)
        zeros = enc_out.new_zeros(enc_out.size(2))
        beams = [Beam([START], [0.0], (h[0], c[0]), zeros, enc_out.new_zeros(src.size(1)))]
        results = []
        for step in range(max_steps):
            n = len(beams)
            latest = [t if t < model.vocab_size else UNK for t in (b.tokens[-1] for b in beams)]
            y = torch.tensor(latest, dtype=torch.long)
            state = (torch.stack([b.state[0] for b in beams]), torch.stack([b.state[1] for b in beams]))
            context = torch.stack([b.context for b in beams])
            coverage = torch.stack([b.coverage for b in beams])
            extra_zeros = enc_out.new_zeros((n, n_oov)) if n_oov > 0 else None
            final, (h, c), context, _, _, coverage = model.decoder(
                y, state, enc_out.expand(n, -1, -1), enc_features.repeat(n, 1),
                (src != PAD).to(enc_out.dtype).expand(n, -1), context, extra_zeros, ext_ids.expand(n, -1), coverage)
            top_log_probs, top_ids = torch.topk(torch.log(final), beam_size * 2)
            candidates = [beams[i].extend(top_ids[i, j].item(), top_log_probs[i, j].item(), (h[i], c[i]),
                                          context[i], coverage[i])
                          for i in range(n) for j in range(beam_size * 2)]
            beams = []
            for cand in sorted(candidates, key=lambda b: b.avg_log_prob, reverse=True):
                if cand.tokens[-1] == STOP:
                    if step >= min_steps:
                        results.append(cand)
                else:
                    beams.append(cand)
                if len(beams) == beam_size or len(results) == beam_size:
                    break
            if len(results) == beam_size:
                break
        best = sorted(results or beams, key=lambda b: b.avg_log_prob, reverse=True)[0]
    model.train()
    return best.tokens[1:], best.avg_log_prob
