"""A BERT-mini masked-language-model pretraining program as 2019-2022 "BERT from scratch" code writes it
(codertimo/BERT-pytorch, tutorials imitating HF's modeling_bert), at a tiny size (vocab 30, hidden 16, 2 layers,
2 heads, 12 tokens) on synthetic counting sentences.

- ``BertEmbeddings``: word (``padding_idx=0``), position and token-type embeddings, summed, LayerNorm(eps=1e-12) and
  dropout; position ids from ``arange(...).unsqueeze(0).expand_as(input_ids)`` or a registered ``position_ids`` buffer
  (with HF 4.x's non-persistent ``token_type_ids`` buffer, expanded over the batch when none are given).
- ``BertSelfAttention``: ``transpose_for_scores``, ``matmul(q, k.transpose(-1, -2)) / math.sqrt(head_size)``, the
  extended mask (``finfo(dtype).min`` or the older ``-10000.0``), softmax, ``permute(...).contiguous().view(...)``.
- GELU as ``F.gelu``, the hand-written tanh formula or ``nn.GELU(approximate='tanh')``; the MLM head (transform,
  LayerNorm, a decoder tied to the word embeddings plus its own bias Parameter) and an optional NSP head.
- ``mask_tokens``: DataCollatorForLanguageModeling's 15% / 80-10-10 masking, on torch's generator or on draws
  handed in from numpy.
- ``train``: CrossEntropyLoss over ``view(-1, vocab)``, AdamW with the ``no_decay`` groups, a linear warmup/decay
  LambdaLR, clip_grad_norm_, masked-token accuracy, attention probabilities by forward hooks, a checkpoint of
  model + optimizer + scheduler and a resume; ``fill_mask``: ``model.eval()`` and ``torch.topk`` at the mask.
- codertimo's spelling: ``BERTLM`` (sinusoidal ``pe`` buffer with its ``require_grad`` typo, ``pe[:, 0::2] =``, a
  hand-written LayerNorm over ``std``, ``masked_fill(mask == 0, -1e9)`` under a ``repeat``ed padding mask, pre-norm
  ``SublayerConnection`` lambdas, LogSoftmax heads) trained by ``train_codertimo`` (NLLLoss(ignore_index=0) over
  ``transpose(1, 2)``, Adam with weight decay under the Noam ``ScheduledOptim`` on ``np.power``). The repository
  leaves the attention's dropout at its default 0.1; here it takes the block's, so a run can use 0."""

import io
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, CLS, SEP, MASK = 0, 1, 2, 3
FIRST_WORD = 5


class BertConfig(object):  # noqa: UP004 - the old spelling
    def __init__(self, vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=32, max_position_embeddings=16, type_vocab_size=2, hidden_dropout_prob=0.1,
                 attention_probs_dropout_prob=0.1, layer_norm_eps=1e-12, initializer_range=0.02, hidden_act="gelu",
                 mask_style="finfo", position_buffer=True, nsp=True):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.hidden_act = hidden_act
        self.mask_style = mask_style
        self.position_buffer = position_buffer
        self.nsp = nsp


def gelu_new(x):
    """The tanh approximation, as BERT's TF port wrote it."""
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


ACT2FN = {"gelu": F.gelu, "gelu_new": gelu_new, "gelu_tanh": nn.GELU(approximate="tanh")}


class BertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=0)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.position_buffer = config.position_buffer
        if self.position_buffer:
            self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)))
            self.register_buffer("token_type_ids", torch.zeros(self.position_ids.size(), dtype=torch.long),
                                 persistent=False)

    def forward(self, input_ids, token_type_ids=None):
        seq_length = input_ids.size(1)
        if self.position_buffer:
            position_ids = self.position_ids[:, :seq_length]
        else:
            position_ids = torch.arange(seq_length, dtype=torch.long, device=input_ids.device)
            position_ids = position_ids.unsqueeze(0).expand_as(input_ids)
        if token_type_ids is None and self.position_buffer:
            buffered_token_type_ids = self.token_type_ids[:, :seq_length]
            token_type_ids = buffered_token_type_ids.expand(input_ids.size(0), seq_length)
        elif token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        embeddings = (self.word_embeddings(input_ids) + self.position_embeddings(position_ids)
                      + self.token_type_embeddings(token_type_ids))
        embeddings = self.LayerNorm(embeddings)
        embeddings = self.dropout(embeddings)
        return embeddings


class BertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = int(config.hidden_size / config.num_attention_heads)
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        self.key = nn.Linear(config.hidden_size, self.all_head_size)
        self.value = nn.Linear(config.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def transpose_for_scores(self, x):
        new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
        x = x.view(new_x_shape)
        return x.permute(0, 2, 1, 3)

    def forward(self, hidden_states, attention_mask=None):
        query_layer = self.transpose_for_scores(self.query(hidden_states))
        key_layer = self.transpose_for_scores(self.key(hidden_states))
        value_layer = self.transpose_for_scores(self.value(hidden_states))
        attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
        attention_scores = attention_scores / math.sqrt(self.attention_head_size)
        if attention_mask is not None:
            attention_scores = attention_scores + attention_mask
        attention_probs = nn.functional.softmax(attention_scores, dim=-1)
        attention_probs = self.dropout(attention_probs)
        context_layer = torch.matmul(attention_probs, value_layer)
        context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
        new_context_layer_shape = context_layer.size()[:-2] + (self.all_head_size,)
        context_layer = context_layer.view(new_context_layer_shape)
        return context_layer, attention_probs


class BertSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, input_tensor):
        hidden_states = self.dropout(self.dense(hidden_states))
        return self.LayerNorm(hidden_states + input_tensor)


class BertAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, attention_mask=None):
        context, probs = self.self(hidden_states, attention_mask)
        return self.output(context, hidden_states), probs


class BertIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACT2FN[config.hidden_act]

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))


class BertOutput(BertSelfOutput):
    def __init__(self, config):
        super().__init__(config)
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)


class BertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states, attention_mask=None):
        attention_output, probs = self.attention(hidden_states, attention_mask)
        layer_output = self.output(self.intermediate(attention_output), attention_output)
        return layer_output, probs


class BertEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        all_attentions = ()
        for layer_module in self.layer:
            hidden_states, probs = layer_module(hidden_states, attention_mask)
            if output_attentions:
                all_attentions = all_attentions + (probs,)
        return hidden_states, all_attentions


class BertPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states)) + self.bias


class BertForPreTraining(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config)
        self.predictions = BertLMPredictionHead(config)
        if config.nsp:
            self.seq_relationship = nn.Linear(config.hidden_size, 2)
        self.apply(self._init_weights)
        self.tie_weights()

    def tie_weights(self):
        self.predictions.decoder.weight = self.embeddings.word_embeddings.weight

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=self.config.initializer_range)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)

    def get_extended_attention_mask(self, attention_mask, dtype):
        extended_attention_mask = attention_mask[:, None, None, :].to(dtype=dtype)
        if self.config.mask_style == "finfo":
            return (1.0 - extended_attention_mask) * torch.finfo(dtype).min
        return (1.0 - extended_attention_mask) * -10000.0

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_attentions=False):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        embedding_output = self.embeddings(input_ids, token_type_ids)
        extended_attention_mask = self.get_extended_attention_mask(attention_mask, embedding_output.dtype)
        sequence_output, attentions = self.encoder(embedding_output, extended_attention_mask, output_attentions)
        prediction_scores = self.predictions(sequence_output)
        seq_relationship_score = None
        if self.config.nsp:
            seq_relationship_score = self.seq_relationship(self.pooler(sequence_output))
        return prediction_scores, seq_relationship_score, attentions


def make_corpus(n, seq_len=12, seed=0):
    """n sentence pairs as numpy arrays (n, seq_len) int64: input_ids ``[CLS] a.. [SEP] b.. [SEP] [PAD]..`` where
    each sentence counts up by a step (mod the 25 words), token_type_ids, attention_mask, and the NSP labels (n,)
    (0: b continues a's count, 1: b is a random count)."""
    rng = np.random.default_rng(seed)
    words = 30 - FIRST_WORD
    ids = np.zeros((n, seq_len), np.int64)
    types = np.zeros((n, seq_len), np.int64)
    nsp = rng.integers(0, 2, n)
    for i in range(n):
        la = int(rng.integers(3, 5))
        lb = int(rng.integers(3, seq_len - la - 2))
        step, start = int(rng.integers(1, 3)), int(rng.integers(0, words))
        a = [(start + step * k) % words for k in range(la)]
        b_start = (start + step * la) % words if nsp[i] == 0 else int(rng.integers(0, words))
        b = [(b_start + step * k) % words for k in range(lb)]
        row = [CLS] + [w + FIRST_WORD for w in a] + [SEP] + [w + FIRST_WORD for w in b] + [SEP]
        ids[i, :len(row)] = row
        types[i, la + 2:len(row)] = 1
    return ids, types, (ids != PAD).astype(np.int64), nsp.astype(np.int64)


def mask_tokens(inputs, vocab_size, mlm_probability=0.15, draws=None):
    """DataCollatorForLanguageModeling's masking of ``inputs`` (B, L) int64 -> (masked inputs, labels) with -100 at
    the tokens left alone. ``draws`` (numpy uniforms u_mask, u_replace, u_random of inputs' shape and integer
    random_words) replaces torch's bernoulli / randint draws; without it torch's generator draws them."""
    labels = inputs.clone()
    probability_matrix = torch.full(labels.shape, mlm_probability)
    special_tokens_mask = (labels == PAD) | (labels == CLS) | (labels == SEP)
    probability_matrix.masked_fill_(special_tokens_mask, value=0.0)

    def bernoulli(p, key):
        if draws is None:
            return torch.bernoulli(p).bool()
        return torch.from_numpy(draws[key]).float() < p

    masked_indices = bernoulli(probability_matrix, "u_mask").bool()
    labels[~masked_indices] = -100
    indices_replaced = bernoulli(torch.full(labels.shape, 0.8), "u_replace").bool() & masked_indices
    inputs[indices_replaced] = MASK
    indices_random = bernoulli(torch.full(labels.shape, 0.5), "u_random").bool() & masked_indices & ~indices_replaced
    if draws is None:
        random_words = torch.randint(vocab_size, labels.shape, dtype=torch.long)
    else:
        random_words = torch.from_numpy(draws["random_words"])
    inputs[indices_random] = random_words[indices_random]
    return inputs, labels


def get_linear_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps, last_epoch=-1):
    def lr_lambda(current_step: int):
        if current_step < num_warmup_steps:
            return float(current_step) / float(max(1, num_warmup_steps))
        return max(0.0, float(num_training_steps - current_step) / float(max(1, num_training_steps - num_warmup_steps)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda, last_epoch)


def make_optimizer(model, lr=5e-3, weight_decay=0.01, warmup=2, total=10):
    no_decay = ["bias", "LayerNorm.weight"]
    optimizer_grouped_parameters = [
        {"params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)],
         "weight_decay": weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(optimizer_grouped_parameters, lr=lr, eps=1e-6)
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, total)


def train(model, batches, total=10, start_step=0, checkpoint=None, save_at=None):
    """Pretrain on ``batches`` (a list of (input_ids, token_type_ids, attention_mask, nsp_labels, draws)) from
    ``start_step``, first loading ``checkpoint`` (bytes); returns the per-step series, the attention probabilities
    caught by forward hooks, and the checkpoint saved after step ``save_at``."""
    vocab_size = model.config.vocab_size
    optimizer, scheduler = make_optimizer(model, total=total)
    if checkpoint is not None:
        state = torch.load(io.BytesIO(checkpoint))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_step = state["step"]
    loss_fct = nn.CrossEntropyLoss()
    history = {"loss": [], "mlm_loss": [], "acc": [], "lr": [], "norm": [], "attn": [], "lines": [], "saved": None}
    caught = []
    handles = [layer.attention.self.dropout.register_forward_hook(lambda m, i, o: caught.append(o.detach().numpy()))
               for layer in model.encoder.layer]
    model.train()
    for step in range(start_step, total):
        ids, types, attention, nsp, draws = batches[step % len(batches)]
        input_ids, labels = mask_tokens(torch.from_numpy(ids.copy()), vocab_size, draws=draws)
        caught.clear()
        prediction_scores, seq_relationship_score, _ = model(input_ids, torch.from_numpy(attention),
                                                             torch.from_numpy(types))
        masked_lm_loss = loss_fct(prediction_scores.view(-1, vocab_size), labels.view(-1))
        loss = masked_lm_loss
        if seq_relationship_score is not None:
            loss = loss + loss_fct(seq_relationship_score.view(-1, 2), torch.from_numpy(nsp).view(-1))
        optimizer.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        preds = prediction_scores.argmax(dim=-1)
        mask = labels != -100
        acc = (preds[mask] == labels[mask]).float().mean()
        history["loss"].append(loss.item())
        history["mlm_loss"].append(masked_lm_loss.item())
        history["acc"].append(acc.item())
        history["lr"].append(scheduler.get_last_lr()[0])
        history["norm"].append(norm.item())
        history["attn"].append(list(caught))
        history["lines"].append(f"step {step + 1}/{total} loss {loss.item():.4f} acc {acc.item():.3f} "
                                f"lr {scheduler.get_last_lr()[0]:.2e}")
        if save_at == step + 1:
            buffer = io.BytesIO()
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "step": step + 1}, buffer)
            history["saved"] = buffer.getvalue()
    for handle in handles:
        handle.remove()
    history["params"] = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    return history


def fill_mask(model, input_ids, attention_mask, k=5):
    """``model.eval()`` predictions at the first [MASK] of ``input_ids`` (1, L): (top-k probabilities, top-k ids,
    the returned attention probabilities)."""
    model.eval()
    with torch.no_grad():
        logits, _, attentions = model(input_ids, attention_mask, output_attentions=True)
        mask_pos = (input_ids[0] == MASK).nonzero()[0, 0]
        _, indices = torch.topk(logits[0, mask_pos], k)
    return F.softmax(logits[0, mask_pos], dim=-1)[indices], indices, attentions


# codertimo/BERT-pytorch's spelling: sinusoidal positions, a hand-written LayerNorm, masked_fill(-1e9) attention,
# LogSoftmax + NLLLoss(ignore_index=0) and a Noam ScheduledOptim around Adam.
class PositionalEmbedding(nn.Module):
    def __init__(self, d_model, max_len=512):
        super().__init__()
        pe = torch.zeros(max_len, d_model).float()
        pe.require_grad = False
        position = torch.arange(0, max_len).float().unsqueeze(1)
        div_term = (torch.arange(0, d_model, 2).float() * -(math.log(10000.0) / d_model)).exp()
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0)
        self.register_buffer('pe', pe)

    def forward(self, x):
        return self.pe[:, :x.size(1)]


class BERTEmbedding(nn.Module):
    def __init__(self, vocab_size, embed_size, dropout=0.1):
        super().__init__()
        self.token = nn.Embedding(vocab_size, embed_size, padding_idx=0)
        self.position = PositionalEmbedding(d_model=embed_size)
        self.segment = nn.Embedding(3, embed_size, padding_idx=0)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, sequence, segment_label):
        x = self.token(sequence) + self.position(sequence) + self.segment(segment_label)
        return self.dropout(x)


class LayerNorm(nn.Module):
    def __init__(self, features, eps=1e-6):
        super(LayerNorm, self).__init__()  # noqa: UP008 - the repository's spelling
        self.a_2 = nn.Parameter(torch.ones(features))
        self.b_2 = nn.Parameter(torch.zeros(features))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        std = x.std(-1, keepdim=True)
        return self.a_2 * (x - mean) / (std + self.eps) + self.b_2


class MultiHeadedAttention(nn.Module):
    def __init__(self, h, d_model, dropout=0.1):
        super().__init__()
        self.d_k = d_model // h
        self.h = h
        self.linear_layers = nn.ModuleList([nn.Linear(d_model, d_model) for _ in range(3)])
        self.output_linear = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(p=dropout)

    def attention(self, query, key, value, mask=None):
        scores = torch.matmul(query, key.transpose(-2, -1)) / math.sqrt(query.size(-1))
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        p_attn = F.softmax(scores, dim=-1)
        p_attn = self.dropout(p_attn)
        return torch.matmul(p_attn, value), p_attn

    def forward(self, query, key, value, mask=None):
        batch_size = query.size(0)
        query, key, value = [l(x).view(batch_size, -1, self.h, self.d_k).transpose(1, 2)
                             for l, x in zip(self.linear_layers, (query, key, value))]
        x, self.attn = self.attention(query, key, value, mask=mask)
        x = x.transpose(1, 2).contiguous().view(batch_size, -1, self.h * self.d_k)
        return self.output_linear(x)


class SublayerConnection(nn.Module):
    def __init__(self, size, dropout):
        super().__init__()
        self.norm = LayerNorm(size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, sublayer):
        return x + self.dropout(sublayer(self.norm(x)))


class TransformerBlock(nn.Module):
    def __init__(self, hidden, attn_heads, feed_forward_hidden, dropout):
        super().__init__()
        self.attention = MultiHeadedAttention(h=attn_heads, d_model=hidden, dropout=dropout)
        self.w_1 = nn.Linear(hidden, feed_forward_hidden)
        self.w_2 = nn.Linear(feed_forward_hidden, hidden)
        self.input_sublayer = SublayerConnection(size=hidden, dropout=dropout)
        self.output_sublayer = SublayerConnection(size=hidden, dropout=dropout)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x, mask):
        x = self.input_sublayer(x, lambda _x: self.attention.forward(_x, _x, _x, mask=mask))
        x = self.output_sublayer(x, lambda _x: self.w_2(self.dropout(gelu_new(self.w_1(_x)))))
        return self.dropout(x)


class BERTLM(nn.Module):
    """codertimo's BERT + BERTLM: (B, L) tokens and segments -> (NSP log-probs (B, 2), MLM log-probs (B, L, V))."""

    def __init__(self, vocab_size, hidden=16, n_layers=2, attn_heads=2, dropout=0.0):
        super().__init__()
        self.embedding = BERTEmbedding(vocab_size=vocab_size, embed_size=hidden, dropout=dropout)
        self.transformer_blocks = nn.ModuleList(
            [TransformerBlock(hidden, attn_heads, hidden * 4, dropout) for _ in range(n_layers)])
        self.next_sentence = nn.Linear(hidden, 2)
        self.mask_lm = nn.Linear(hidden, vocab_size)
        self.softmax = nn.LogSoftmax(dim=-1)

    def forward(self, x, segment_info):
        mask = (x > 0).unsqueeze(1).repeat(1, x.size(1), 1).unsqueeze(1)
        x = self.embedding(x, segment_info)
        for transformer in self.transformer_blocks:
            x = transformer.forward(x, mask)
        return self.softmax(self.next_sentence(x[:, 0])), self.softmax(self.mask_lm(x))


class ScheduledOptim():  # noqa: UP039 - the repository's spelling
    """The Noam schedule around an optimizer, as codertimo's ``optim_schedule.py``."""

    def __init__(self, optimizer, d_model, n_warmup_steps):
        self._optimizer = optimizer
        self.n_warmup_steps = n_warmup_steps
        self.n_current_steps = 0
        self.init_lr = np.power(d_model, -0.5)

    def step_and_update_lr(self):
        self._update_learning_rate()
        self._optimizer.step()

    def zero_grad(self):
        self._optimizer.zero_grad()

    def _get_lr_scale(self):
        return np.min([np.power(self.n_current_steps, -0.5),
                       np.power(self.n_warmup_steps, -1.5) * self.n_current_steps])

    def _update_learning_rate(self):
        self.n_current_steps += 1
        lr = self.init_lr * self._get_lr_scale()
        for param_group in self._optimizer.param_groups:
            param_group['lr'] = lr


def train_codertimo(model, batches, total=8):
    """codertimo's ``BERTTrainer.iteration``: NLLLoss(ignore_index=0) of both heads, Adam + ScheduledOptim; bert_label
    is 0 where nothing is predicted. Returns per-step losses, lrs, masked-token accuracies, the last attention maps
    and the final parameters."""
    optim = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01)
    optim_schedule = ScheduledOptim(optim, 16, n_warmup_steps=100)
    criterion = nn.NLLLoss(ignore_index=0)
    history = {"loss": [], "lr": [], "acc": [], "attn": []}
    for step in range(total):
        ids, types, _, nsp, draws = batches[step % len(batches)]
        bert_input, labels = mask_tokens(torch.from_numpy(ids.copy()), model.mask_lm.out_features, draws=draws)
        bert_label = labels.masked_fill(labels == -100, 0)
        segment_label = torch.from_numpy(types + 1) * (bert_input > 0).long()
        next_sent_output, mask_lm_output = model.forward(bert_input, segment_label)
        next_loss = criterion(next_sent_output, torch.from_numpy(nsp))
        mask_loss = criterion(mask_lm_output.transpose(1, 2), bert_label)
        loss = next_loss + mask_loss
        optim_schedule.zero_grad()
        loss.backward()
        optim_schedule.step_and_update_lr()
        correct = mask_lm_output.argmax(dim=-1).eq(bert_label)[bert_label > 0].sum().item()
        history["loss"].append(loss.item())
        history["lr"].append(optim.param_groups[0]["lr"])
        history["acc"].append(correct / (bert_label > 0).sum().item())
        history["attn"].append(model.transformer_blocks[-1].attention.attn.detach().numpy())
    history["params"] = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    return history
