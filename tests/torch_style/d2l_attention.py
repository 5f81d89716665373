"""Dive into Deep Learning's attention chapter (PyTorch edition) as its book code writes it: ``sequence_mask`` and
``masked_softmax`` (1-D valid lengths repeated per query, 2-D ones flattened, masked scores set to -1e6),
``AdditiveAttention`` on ``nn.LazyLinear`` layers and ``DotProductAttention``, a GRU ``Seq2SeqEncoder``, the
Bahdanau ``Seq2SeqAttentionDecoder`` (one GRU step per target token, the query from the last layer's hidden state,
the attention weights kept), ``MaskedSoftmaxCELoss``, the hand-written ``grad_clipping``, ``train_seq2seq``
(``xavier_uniform_`` by ``net.apply``, Adam, teacher forcing behind a ``<bos>`` column), greedy ``predict_seq2seq``
and ``bleu``; on a tiny synthetic "translation" corpus (each target sentence is its source reversed). The harness
runs it on torch and, imports swapped, on ours. The data iterator does not shuffle: the two libraries' generators
differ, so the harness fixes the order (d2l shuffles the training batches)."""
# ruff: noqa: UP008, E721, SIM108, UP034, B007, RUF010 - the book's own spelling

import collections
import math
import time

import numpy as np
import torch
from torch import nn
from torch.utils import data


def try_gpu(i=0):
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f'cuda:{i}')
    return torch.device('cpu')


class Timer:
    def __init__(self):
        self.times = []
        self.start()

    def start(self):
        self.tik = time.time()

    def stop(self):
        self.times.append(time.time() - self.tik)
        return self.times[-1]


class Accumulator:
    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def __getitem__(self, idx):
        return self.data[idx]


class Vocab:
    def __init__(self, tokens=None, min_freq=0, reserved_tokens=None):
        if tokens is None:
            tokens = []
        if reserved_tokens is None:
            reserved_tokens = []
        counter = count_corpus(tokens)
        self._token_freqs = sorted(counter.items(), key=lambda x: x[1], reverse=True)
        self.idx_to_token = ['<unk>'] + reserved_tokens
        self.token_to_idx = {token: idx for idx, token in enumerate(self.idx_to_token)}
        for token, freq in self._token_freqs:
            if freq < min_freq:
                break
            if token not in self.token_to_idx:
                self.idx_to_token.append(token)
                self.token_to_idx[token] = len(self.idx_to_token) - 1

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, self.unk)
        return [self.__getitem__(token) for token in tokens]

    def to_tokens(self, indices):
        if not isinstance(indices, (list, tuple)):
            return self.idx_to_token[indices]
        return [self.idx_to_token[index] for index in indices]

    @property
    def unk(self):
        return 0


def count_corpus(tokens):
    if len(tokens) == 0 or isinstance(tokens[0], list):
        tokens = [token for line in tokens for token in line]
    return collections.Counter(tokens)


def truncate_pad(line, num_steps, padding_token):
    if len(line) > num_steps:
        return line[:num_steps]
    return line + [padding_token] * (num_steps - len(line))


def build_array_nmt(lines, vocab, num_steps):
    lines = [vocab[l] for l in lines]
    lines = [l + [vocab['<eos>']] for l in lines]
    array = torch.tensor([truncate_pad(l, num_steps, vocab['<pad>']) for l in lines])
    valid_len = (array != vocab['<pad>']).type(torch.int32).sum(1)
    return array, valid_len


def load_array(data_arrays, batch_size, is_train=True):
    dataset = data.TensorDataset(*data_arrays)
    return data.DataLoader(dataset, batch_size, shuffle=is_train)


def make_corpus(num_examples=48, n_words=8, seed=0):
    """Source lines of 2..5 made-up words and, as their "translations", the same lines reversed."""
    rng = np.random.default_rng(seed)
    source, target = [], []
    for _ in range(num_examples):
        line = [f'w{i}' for i in rng.integers(0, n_words, rng.integers(2, 6))]
        source.append(line)
        target.append(line[::-1])
    return source, target


def load_data_nmt(batch_size, num_steps, num_examples=48):
    source, target = make_corpus(num_examples)
    src_vocab = Vocab(source, min_freq=0, reserved_tokens=['<pad>', '<bos>', '<eos>'])
    tgt_vocab = Vocab(target, min_freq=0, reserved_tokens=['<pad>', '<bos>', '<eos>'])
    src_array, src_valid_len = build_array_nmt(source, src_vocab, num_steps)
    tgt_array, tgt_valid_len = build_array_nmt(target, tgt_vocab, num_steps)
    data_arrays = (src_array, src_valid_len, tgt_array, tgt_valid_len)
    data_iter = load_array(data_arrays, batch_size, is_train=False)
    return data_iter, src_vocab, tgt_vocab


def sequence_mask(X, valid_len, value=0):
    maxlen = X.size(1)
    mask = torch.arange((maxlen), dtype=torch.float32,
                        device=X.device)[None, :] < valid_len[:, None]
    X[~mask] = value
    return X


def masked_softmax(X, valid_lens):
    if valid_lens is None:
        return nn.functional.softmax(X, dim=-1)
    else:
        shape = X.shape
        if valid_lens.dim() == 1:
            valid_lens = torch.repeat_interleave(valid_lens, shape[1])
        else:
            valid_lens = valid_lens.reshape(-1)
        X = sequence_mask(X.reshape(-1, shape[-1]), valid_lens, value=-1e6)
        return nn.functional.softmax(X.reshape(shape), dim=-1)


def f(x):
    return 2 * torch.sin(x) + x**0.8


class NWKernelRegression(nn.Module):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.w = nn.Parameter(torch.rand((1,), requires_grad=True))

    def forward(self, queries, keys, values):
        # Shape of the output queries and attention_weights: (no. of queries, no. of key-value pairs)
        queries = queries.repeat_interleave(keys.shape[1]).reshape((-1, keys.shape[1]))
        self.attention_weights = nn.functional.softmax(-((queries - keys) * self.w)**2 / 2, dim=1)
        # Shape of values: (no. of queries, no. of key-value pairs)
        return torch.bmm(self.attention_weights.unsqueeze(1), values.unsqueeze(-1)).reshape(-1)


def nadaraya_watson(net, n_train=50, seed=0, num_epochs=5):
    """The chapter's opening example: average pooling, nonparametric attention pooling and the parametric kernel
    regression trained by SGD on noisy samples of ``f`` (numpy draws in place of ``torch.rand`` / ``torch.normal``,
    whose streams differ between the libraries)."""
    rng = np.random.default_rng(seed)
    x_train, _ = torch.sort(torch.tensor(rng.random(n_train), dtype=torch.float32) * 5)
    y_train = f(x_train) + torch.tensor(rng.normal(0.0, 0.5, (n_train,)), dtype=torch.float32)
    x_test = torch.arange(0, 5, 0.1)  # Testing examples
    y_truth = f(x_test)  # Ground-truth outputs for the testing examples
    n_test = len(x_test)  # No. of testing examples
    out = {'average': torch.repeat_interleave(y_train.mean(), n_test), 'truth': y_truth}
    # Shape of `X_repeat`: (`n_test`, `n_train`), where each row contains the same testing inputs
    X_repeat = x_test.repeat_interleave(n_train).reshape((-1, n_train))
    attention_weights = nn.functional.softmax(-(X_repeat - x_train)**2 / 2, dim=1)
    out['nonparametric'] = torch.matmul(attention_weights, y_train)
    # Shape of `X_tile`: (`n_train`, `n_train`), where each column contains the same training inputs
    X_tile = x_train.repeat((n_train, 1))
    Y_tile = y_train.repeat((n_train, 1))
    # Shape of `keys` and `values`: (`n_train`, `n_train` - 1)
    keys = X_tile[(1 - torch.eye(n_train)).type(torch.bool)].reshape((n_train, -1))
    values = Y_tile[(1 - torch.eye(n_train)).type(torch.bool)].reshape((n_train, -1))
    loss = nn.MSELoss(reduction='none')
    trainer = torch.optim.SGD(net.parameters(), lr=0.5)
    lines = []
    for epoch in range(num_epochs):
        trainer.zero_grad()
        l = loss(net(x_train, keys, values), y_train)
        l.sum().backward()
        trainer.step()
        lines.append(f'epoch {epoch + 1}, loss {float(l.sum()):.6f}')
        print(lines[-1])
    keys = x_train.repeat((n_test, 1))
    values = y_train.repeat((n_test, 1))
    out['parametric'] = net(x_test, keys, values).unsqueeze(1).detach()
    out['weights'] = net.attention_weights
    out['w'] = net.w
    return {k: v.detach().numpy() for k, v in out.items()}, lines


class AdditiveAttention(nn.Module):
    def __init__(self, num_hiddens, dropout, **kwargs):
        super(AdditiveAttention, self).__init__(**kwargs)
        self.W_k = nn.LazyLinear(num_hiddens, bias=False)
        self.W_q = nn.LazyLinear(num_hiddens, bias=False)
        self.w_v = nn.LazyLinear(1, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens):
        queries, keys = self.W_q(queries), self.W_k(keys)
        # queries: (batch_size, no. of queries, 1, num_hiddens), keys: (batch_size, 1, no. of key-value pairs,
        # num_hiddens), summed with broadcasting
        features = queries.unsqueeze(2) + keys.unsqueeze(1)
        features = torch.tanh(features)
        scores = self.w_v(features).squeeze(-1)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


class DotProductAttention(nn.Module):
    def __init__(self, dropout, **kwargs):
        super(DotProductAttention, self).__init__(**kwargs)
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries, keys, values, valid_lens=None):
        d = queries.shape[-1]
        scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return torch.bmm(self.dropout(self.attention_weights), values)


class MultiHeadAttention(nn.Module):
    def __init__(self, num_hiddens, num_heads, dropout, bias=False, **kwargs):
        super().__init__()
        self.num_heads = num_heads
        self.attention = DotProductAttention(dropout)
        self.W_q = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_k = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_v = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_o = nn.LazyLinear(num_hiddens, bias=bias)

    def forward(self, queries, keys, values, valid_lens):
        # After transposing, shape of output queries, keys, or values: (batch_size * num_heads, no. of queries or
        # key-value pairs, num_hiddens / num_heads)
        queries = self.transpose_qkv(self.W_q(queries))
        keys = self.transpose_qkv(self.W_k(keys))
        values = self.transpose_qkv(self.W_v(values))
        if valid_lens is not None:
            # On axis 0, copy the first item (scalar or vector) for num_heads times, then copy the next item, ...
            valid_lens = torch.repeat_interleave(valid_lens, repeats=self.num_heads, dim=0)
        output = self.attention(queries, keys, values, valid_lens)
        output_concat = self.transpose_output(output)
        return self.W_o(output_concat)

    def transpose_qkv(self, X):
        X = X.reshape(X.shape[0], X.shape[1], self.num_heads, -1)
        X = X.permute(0, 2, 1, 3)
        return X.reshape(-1, X.shape[2], X.shape[3])

    def transpose_output(self, X):
        X = X.reshape(-1, self.num_heads, X.shape[1], X.shape[2])
        X = X.permute(0, 2, 1, 3)
        return X.reshape(X.shape[0], X.shape[1], -1)


class PositionalEncoding(nn.Module):
    def __init__(self, num_hiddens, dropout, max_len=1000):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        # Create a long enough P
        self.P = torch.zeros((1, max_len, num_hiddens))
        X = torch.arange(max_len, dtype=torch.float32).reshape(
            -1, 1) / torch.pow(10000, torch.arange(0, num_hiddens, 2, dtype=torch.float32) / num_hiddens)
        self.P[:, :, 0::2] = torch.sin(X)
        self.P[:, :, 1::2] = torch.cos(X)

    def forward(self, X):
        X = X + self.P[:, :X.shape[1], :].to(X.device)
        return self.dropout(X)


class Encoder(nn.Module):
    def __init__(self, **kwargs):
        super(Encoder, self).__init__(**kwargs)

    def forward(self, X, *args):
        raise NotImplementedError


class Decoder(nn.Module):
    def __init__(self, **kwargs):
        super(Decoder, self).__init__(**kwargs)

    def init_state(self, enc_outputs, *args):
        raise NotImplementedError

    def forward(self, X, state):
        raise NotImplementedError


class AttentionDecoder(Decoder):
    def __init__(self, **kwargs):
        super(AttentionDecoder, self).__init__(**kwargs)

    @property
    def attention_weights(self):
        raise NotImplementedError


class EncoderDecoder(nn.Module):
    def __init__(self, encoder, decoder, **kwargs):
        super(EncoderDecoder, self).__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, enc_X, dec_X, *args):
        enc_outputs = self.encoder(enc_X, *args)
        dec_state = self.decoder.init_state(enc_outputs, *args)
        return self.decoder(dec_X, dec_state)


class Seq2SeqEncoder(Encoder):
    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super(Seq2SeqEncoder, self).__init__(**kwargs)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size, num_hiddens, num_layers, dropout=dropout)

    def forward(self, X, *args):
        # X: (batch_size, num_steps, embed_size) -> time major
        X = self.embedding(X)
        X = X.permute(1, 0, 2)
        output, state = self.rnn(X)
        return output, state


class Seq2SeqAttentionDecoder(AttentionDecoder):
    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
        super(Seq2SeqAttentionDecoder, self).__init__(**kwargs)
        self.attention = AdditiveAttention(num_hiddens, dropout)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def init_state(self, enc_outputs, enc_valid_lens, *args):
        outputs, hidden_state = enc_outputs
        return (outputs.permute(1, 0, 2), hidden_state, enc_valid_lens)

    def forward(self, X, state):
        enc_outputs, hidden_state, enc_valid_lens = state
        X = self.embedding(X).permute(1, 0, 2)
        outputs, self._attention_weights = [], []
        for x in X:
            # query: (batch_size, 1, num_hiddens)
            query = torch.unsqueeze(hidden_state[-1], dim=1)
            context = self.attention(query, enc_outputs, enc_outputs, enc_valid_lens)
            x = torch.cat((context, torch.unsqueeze(x, dim=1)), dim=-1)
            out, hidden_state = self.rnn(x.permute(1, 0, 2), hidden_state)
            outputs.append(out)
            self._attention_weights.append(self.attention.attention_weights)
        outputs = self.dense(torch.cat(outputs, dim=0))
        return outputs.permute(1, 0, 2), [enc_outputs, hidden_state, enc_valid_lens]

    @property
    def attention_weights(self):
        return self._attention_weights


class MaskedSoftmaxCELoss(nn.CrossEntropyLoss):
    # pred: (batch_size, num_steps, vocab_size), label and weights: (batch_size, num_steps), valid_len: (batch_size,)
    def forward(self, pred, label, valid_len):
        weights = torch.ones_like(label)
        weights = sequence_mask(weights, valid_len)
        self.reduction = 'none'
        unweighted_loss = super(MaskedSoftmaxCELoss, self).forward(pred.permute(0, 2, 1), label)
        weighted_loss = (unweighted_loss * weights).mean(dim=1)
        return weighted_loss


def grad_clipping(net, theta):
    if isinstance(net, nn.Module):
        params = [p for p in net.parameters() if p.requires_grad]
    else:
        params = net.params
    norm = torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params))
    if norm > theta:
        for param in params:
            param.grad[:] *= theta / norm
    return norm


def xavier_init_weights(m):
    if type(m) == nn.Linear:
        nn.init.xavier_uniform_(m.weight)
    if type(m) == nn.GRU:
        for param in m._flat_weights_names:
            if "weight" in param:
                nn.init.xavier_uniform_(m._parameters[param])


def make_net(src_vocab, tgt_vocab, embed_size=8, num_hiddens=16, num_layers=2, dropout=0):
    """The Bahdanau model; one forward of a dummy batch materialises its LazyLinear layers (d2l's ``apply_init``),
    then ``train_seq2seq``'s initialisation runs on every layer."""
    encoder = Seq2SeqEncoder(len(src_vocab), embed_size, num_hiddens, num_layers, dropout)
    decoder = Seq2SeqAttentionDecoder(len(tgt_vocab), embed_size, num_hiddens, num_layers, dropout)
    net = EncoderDecoder(encoder, decoder)
    X = torch.zeros((2, 3), dtype=torch.long)
    net(X, X, torch.tensor([3, 2]))
    net.apply(xavier_init_weights)
    return net


def train_seq2seq(net, data_iter, lr, num_epochs, tgt_vocab, device):
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss = MaskedSoftmaxCELoss()
    net.train()
    history = {'loss': [], 'norm': [], 'epoch_loss': [], 'lines': []}
    for epoch in range(num_epochs):
        timer = Timer()
        metric = Accumulator(2)  # Sum of training loss, no. of tokens
        for batch in data_iter:
            optimizer.zero_grad()
            X, X_valid_len, Y, Y_valid_len = [x.to(device) for x in batch]
            bos = torch.tensor([tgt_vocab['<bos>']] * Y.shape[0], device=device).reshape(-1, 1)
            dec_input = torch.cat([bos, Y[:, :-1]], 1)  # Teacher forcing
            Y_hat, _ = net(X, dec_input, X_valid_len)
            l = loss(Y_hat, Y, Y_valid_len)
            l.sum().backward()  # Make the loss scalar for `backward`
            norm = grad_clipping(net, 1)
            num_tokens = Y_valid_len.sum()
            optimizer.step()
            with torch.no_grad():
                metric.add(l.sum(), num_tokens)
            history['loss'].append(l.detach().numpy().copy())
            history['norm'].append(float(norm))
        history['epoch_loss'].append(metric[0] / metric[1])
        line = (f'loss {metric[0] / metric[1]:.3f}, {metric[1] * num_epochs / timer.stop():.1f} '
                f'tokens/sec on {str(device)}')
        print(line)
        history['lines'].append(line)
    return history


def predict_seq2seq(net, src_sentence, src_vocab, tgt_vocab, num_steps, device, save_attention_weights=False):
    net.eval()
    src_tokens = src_vocab[src_sentence.lower().split(' ')] + [src_vocab['<eos>']]
    enc_valid_len = torch.tensor([len(src_tokens)], device=device)
    src_tokens = truncate_pad(src_tokens, num_steps, src_vocab['<pad>'])
    # Add the batch axis
    enc_X = torch.unsqueeze(torch.tensor(src_tokens, dtype=torch.long, device=device), dim=0)
    enc_outputs = net.encoder(enc_X, enc_valid_len)
    dec_state = net.decoder.init_state(enc_outputs, enc_valid_len)
    # Add the batch axis
    dec_X = torch.unsqueeze(torch.tensor([tgt_vocab['<bos>']], dtype=torch.long, device=device), dim=0)
    output_seq, attention_weight_seq = [], []
    for _ in range(num_steps):
        Y, dec_state = net.decoder(dec_X, dec_state)
        # We use the token with the highest prediction likelihood as input of the decoder at the next time step
        dec_X = Y.argmax(dim=2)
        pred = dec_X.squeeze(dim=0).type(torch.int32).item()
        if save_attention_weights:
            attention_weight_seq.append(net.decoder.attention_weights)
        if pred == tgt_vocab['<eos>']:
            break
        output_seq.append(pred)
    return ' '.join(tgt_vocab.to_tokens(output_seq)), attention_weight_seq


def bleu(pred_seq, label_seq, k):
    pred_tokens, label_tokens = pred_seq.split(' '), label_seq.split(' ')
    len_pred, len_label = len(pred_tokens), len(label_tokens)
    score = math.exp(min(0, 1 - len_label / len_pred))
    for n in range(1, k + 1):
        num_matches, label_subs = 0, collections.defaultdict(int)
        for i in range(len_label - n + 1):
            label_subs[' '.join(label_tokens[i: i + n])] += 1
        for i in range(len_pred - n + 1):
            if label_subs[' '.join(pred_tokens[i: i + n])] > 0:
                num_matches += 1
                label_subs[' '.join(pred_tokens[i: i + n])] -= 1
        score *= math.pow(num_matches / (len_pred - n + 1), math.pow(0.5, n))
    return score


def attention_demos(attentions, seed=0):
    """The chapter's small examples on numpy inputs: sequence_mask, masked_softmax with 1-D and 2-D valid lengths,
    the masked loss, the additive attention (eval mode) on its all-ones keys and arange values, dot-product
    attention, multi-head self-attention over positionally encoded inputs."""
    rng = np.random.default_rng(seed)
    X = torch.tensor([[1, 2, 3], [4, 5, 6]])
    out = {'mask_int': sequence_mask(X, torch.tensor([1, 2])),
           'mask_3d': sequence_mask(torch.ones(2, 3, 4), torch.tensor([1, 2]), value=-1)}
    loss = MaskedSoftmaxCELoss()
    out['loss'] = loss(torch.ones(3, 4, 10), torch.ones((3, 4), dtype=torch.long), torch.tensor([4, 2, 0]))
    scores = torch.tensor(rng.random((2, 2, 4)), dtype=torch.float32)
    out['softmax_1d'] = masked_softmax(scores, torch.tensor([2, 3]))
    out['softmax_2d'] = masked_softmax(scores, torch.tensor([[1, 3], [2, 4]]))
    out['softmax_empty'] = masked_softmax(scores, torch.tensor([[0, 3], [2, 0]]))  # all masked: uniform
    queries, keys = torch.tensor(rng.normal(0, 1, (2, 1, 20)), dtype=torch.float32), torch.ones((2, 10, 2))
    # The two value matrices in the minibatch are identical
    values = torch.arange(40, dtype=torch.float32).reshape(1, 10, 4).repeat(2, 1, 1)
    valid_lens = torch.tensor([2, 6])
    attentions.eval()
    out['additive'] = attentions['additive'](queries, keys, values, valid_lens)
    out['additive_weights'] = attentions['additive'].attention_weights
    queries = torch.tensor(rng.normal(0, 1, (2, 1, 2)), dtype=torch.float32)
    attention = DotProductAttention(dropout=0.5)
    attention.eval()
    out['dot'] = attention(queries, keys, values, valid_lens)
    out['dot_weights'] = attention.attention_weights
    pos_encoding = PositionalEncoding(20, 0)
    pos_encoding.eval()
    X = pos_encoding(torch.tensor(rng.normal(0, 1, (2, 6, 20)), dtype=torch.float32))
    out['positions'] = pos_encoding.P[:, :6, :]
    for name, lens in (('multihead', torch.tensor([3, 2])), ('multihead_2d', torch.tensor([[1, 2, 3, 4, 5, 6]] * 2)),
                       ('multihead_none', None)):
        out[name] = attentions['multihead'](X, X, X, lens)
        out[name + '_weights'] = attentions['multihead'].attention.attention_weights
    return {k: v.detach().numpy() for k, v in out.items()}


def make_attentions(num_hiddens=8, num_heads=4, dropout=0.1):
    """``AdditiveAttention`` (key size 2, query size 20) and ``MultiHeadAttention`` (20 features), their LazyLinear
    layers materialised by one call each."""
    attentions = nn.ModuleDict({'additive': AdditiveAttention(num_hiddens, dropout),
                                'multihead': MultiHeadAttention(20, num_heads, dropout)})
    attentions['additive'](torch.zeros((1, 1, 20)), torch.zeros((1, 3, 2)), torch.zeros((1, 3, 4)), None)
    attentions['multihead'](*[torch.zeros((1, 3, 20))] * 3, None)
    return attentions


def run(net, num_epochs=4, lr=0.005, batch_size=8, num_steps=7):
    """Train on the synthetic corpus, then translate a few sentences; every number on the way is returned."""
    device = try_gpu()
    data_iter, src_vocab, tgt_vocab = load_data_nmt(batch_size, num_steps)
    history = train_seq2seq(net, data_iter, lr, num_epochs, tgt_vocab, device)
    sources, targets = make_corpus(4, seed=1)
    history.update(translations=[], bleu=[], attention=[])
    for src, tgt in zip(sources, targets):
        translation, dec_attention_weight_seq = predict_seq2seq(
            net, ' '.join(src), src_vocab, tgt_vocab, num_steps, device, True)
        history['translations'].append(translation)
        history['bleu'].append(bleu(translation, ' '.join(tgt), k=2) if len(translation.split()) >= 2 else 0.0)
        attention_weights = torch.cat([step[0][0][0] for step in dec_attention_weight_seq], 0).reshape(
            (1, 1, -1, num_steps))
        history['attention'].append(attention_weights.detach().numpy())
    # The chapter's shape check of the decoder, without valid lengths (every key attended)
    X = torch.zeros((4, 7), dtype=torch.long)
    state = net.decoder.init_state(net.encoder(X), None)
    output, state = net.decoder(X, state)
    history['no_valid_lens'] = [output.detach().numpy(), state[1].detach().numpy()]
    history['params'] = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    return history
