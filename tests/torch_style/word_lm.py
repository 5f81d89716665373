"""Word-level language modelling written as ordinary PyTorch code, after pytorch/examples' word_language_model: a
Dictionary / Corpus read from train.txt, valid.txt and test.txt with ``<eos>`` after each line, ``batchify`` into
columns, ``get_batch`` over bptt-long slices, both of the example's models (RNNModel: Embedding, LSTM / GRU / RNN,
a Linear decoder, uniform init, optionally tied weights, the hidden state detached between batches;
TransformerModel: a sinusoidal PositionalEncoding as a buffer, a TransformerEncoder under the square subsequent
mask, log_softmax), NLLLoss, clip_grad_norm_, the example's hand-written SGD step, lr /= 4 when the validation loss
stops improving, perplexity, and the best model kept by saving its state_dict. Dropout is 0 so both libraries
compute the same numbers. The harness runs it on torch and, with the imports swapped, on ours."""

import io
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F


class Dictionary:
    def __init__(self):
        self.word2idx = {}
        self.idx2word = []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self):
        return len(self.idx2word)


class Corpus:
    def __init__(self, path):
        self.dictionary = Dictionary()
        self.train = self.tokenize(os.path.join(path, "train.txt"))
        self.valid = self.tokenize(os.path.join(path, "valid.txt"))
        self.test = self.tokenize(os.path.join(path, "test.txt"))

    def tokenize(self, path):
        """Adds the file's words to the dictionary; returns them as one int64 tensor of ids."""
        assert os.path.exists(path)
        with open(path, "r", encoding="utf8") as f:  # noqa: UP015 - the example's spelling
            for line in f:
                for word in line.split() + ["<eos>"]:
                    self.dictionary.add_word(word)
        with open(path, "r", encoding="utf8") as f:  # noqa: UP015
            idss = []
            for line in f:
                words = line.split() + ["<eos>"]
                ids = [self.dictionary.word2idx[word] for word in words]
                idss.append(torch.tensor(ids).type(torch.int64))
            ids = torch.cat(idss)
        return ids


def batchify(data, bsz):
    """(n,) ids -> (n // bsz, bsz): the tail that does not fill a column is dropped."""
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    data = data.view(bsz, -1).t().contiguous()
    return data


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


class RNNModel(nn.Module):
    """Embedding -> recurrent net -> Linear decoder; returns log-probabilities (seq * batch, ntoken) and the hidden
    state. ``tie_weights`` shares the embedding's matrix with the decoder (needs nhid == ninp)."""

    def __init__(self, ntoken, rnn_type="LSTM", ninp=16, nhid=24, nlayers=2, dropout=0.0, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ["LSTM", "GRU"]:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            try:
                nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            except KeyError as e:
                raise ValueError("rnn_type must be one of LSTM, GRU, RNN_TANH or RNN_RELU") from e
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        self.init_weights()
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):  # noqa: A002 - the example's name
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


class PositionalEncoding(nn.Module):
    """Adds sin / cos of the position at geometrically spaced frequencies to (seq, batch, d_model) inputs."""

    def __init__(self, d_model, dropout=0.0, max_len=64):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)
        self.register_buffer("pe", pe)

    def forward(self, x):
        x = x + self.pe[:x.size(0), :]
        return self.dropout(x)


class TransformerModel(nn.Module):
    """Embedding * sqrt(ninp) + positions -> causal TransformerEncoder -> Linear; log-probabilities (seq, batch,
    ntoken)."""

    def __init__(self, ntoken, ninp=16, nhead=2, nhid=32, nlayers=2, dropout=0.0):
        super().__init__()
        self.model_type = "Transformer"
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        encoder_layers = nn.TransformerEncoderLayer(ninp, nhead, nhid, dropout)
        self.transformer_encoder = nn.TransformerEncoder(encoder_layers, nlayers)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)
        self.init_weights()

    def _generate_square_subsequent_mask(self, sz):
        mask = (torch.triu(torch.ones(sz, sz)) == 1).transpose(0, 1)
        mask = mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, float(0.0))  # noqa: UP018
        return mask

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.input_emb.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, src, has_mask=True):
        if has_mask:
            device = src.device
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                mask = self._generate_square_subsequent_mask(len(src)).to(device)
                self.src_mask = mask
        else:
            self.src_mask = None
        src = self.input_emb(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.transformer_encoder(src, self.src_mask)
        output = self.decoder(output)
        return F.log_softmax(output, dim=-1)


def sgd_step(model, lr):
    """The example's update, through ``.data``."""
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-lr)


def evaluate(model, data_source, ntokens, bptt, eval_batch_size):
    model.eval()
    criterion = nn.NLLLoss()
    total_loss = 0.0
    is_transformer = getattr(model, "model_type", None) == "Transformer"
    if not is_transformer:
        hidden = model.init_hidden(eval_batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            data, targets = get_batch(data_source, i, bptt)
            if is_transformer:
                output = model(data)
                output = output.view(-1, ntokens)
            else:
                output, hidden = model(data, hidden)
                hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


def train_epoch(model, train_data, ntokens, bptt, batch_size, lr, clip, history):
    model.train()
    criterion = nn.NLLLoss()
    is_transformer = getattr(model, "model_type", None) == "Transformer"
    if not is_transformer:
        hidden = model.init_hidden(batch_size)
    for i in range(0, train_data.size(0) - 1, bptt):
        data, targets = get_batch(train_data, i, bptt)
        model.zero_grad()
        if is_transformer:
            output = model(data)
            output = output.view(-1, ntokens)
        else:
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        sgd_step(model, lr)
        history["loss"].append(loss.item())
        history["norm"].append(norm.item())
        history["lr"].append(lr)


def run(model, corpus, epochs, lr=20.0, clip=0.25, bptt=7, batch_size=4, eval_batch_size=3):
    """The example's main loop; the per-step and per-epoch numbers, and the test loss of the best model."""
    train_data = batchify(corpus.train, batch_size)
    val_data = batchify(corpus.valid, eval_batch_size)
    test_data = batchify(corpus.test, eval_batch_size)
    ntokens = len(corpus.dictionary)
    history = {"loss": [], "norm": [], "lr": [], "val_loss": [], "val_ppl": [], "epoch_lr": []}
    best_val_loss = None
    best = io.BytesIO()
    for _ in range(epochs):
        train_epoch(model, train_data, ntokens, bptt, batch_size, lr, clip, history)
        val_loss = evaluate(model, val_data, ntokens, bptt, eval_batch_size)
        history["val_loss"].append(val_loss)
        history["val_ppl"].append(math.exp(val_loss))
        if not best_val_loss or val_loss < best_val_loss:
            best.seek(0)
            best.truncate()
            torch.save(model.state_dict(), best)
            best_val_loss = val_loss
        else:
            lr /= 4.0  # no improvement on the validation set: anneal
        history["epoch_lr"].append(lr)
    best.seek(0)
    model.load_state_dict(torch.load(best))
    test_loss = evaluate(model, test_data, ntokens, bptt, eval_batch_size)
    history["test_loss"] = [test_loss]
    history["test_ppl"] = [math.exp(test_loss)]
    return history
