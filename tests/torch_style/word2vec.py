"""Skip-gram word2vec with negative sampling written as ordinary PyTorch code, after the common GitHub ports
(word2vec-pytorch and its descendants): a synthetic numpy corpus (a Zipf-like vocabulary with planted
co-occurring word pairs), the vocabulary built with ``collections.Counter``, subsampling of frequent words, a
``Dataset`` / ``DataLoader`` of (center, context) pairs whose negatives are drawn once by numpy from the
unigram^0.75 table, a ``SkipGramModel`` of two ``nn.Embedding(vocab, dim, sparse=True)`` tables initialised the old
way through ``.weight.data.uniform_`` (or through ``nn.init``), the loss of ``torch.mul`` / ``torch.bmm`` /
``torch.clamp`` / ``F.logsigmoid``, ``optim.SparseAdam`` (or SGD on sparse gradients) under ``CosineAnnealingLR``,
nearest neighbours by cosine similarity (``F.normalize``, ``torch.mm``, ``topk``), the embeddings written as text
through ``.cpu().data.numpy()`` and a ``state_dict`` round trip. The harness runs it on torch and, with the imports
swapped, on ours."""

import io
from collections import Counter

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import CosineAnnealingLR
from torch.utils.data import DataLoader, Dataset


def make_corpus(n_words=180, n_tokens=6000, n_pairs=10, seed=0):
    """A list of word strings: Zipf-like unigrams over ``n_words`` words, and ``n_pairs`` planted pairs (a, b) of
    interchangeable words (4 * n_pairs more words): each pair has its own two neighbours c, d, and "c a d" or
    "c b d" is written over the corpus at random places, so a and b share their contexts."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_words + 1) ** 1.1
    p /= p.sum()
    ids = rng.choice(n_words, size=n_tokens, p=p)
    planted = n_words + rng.permutation(4 * n_pairs).reshape(n_pairs, 4)
    for at in rng.choice(n_tokens - 3, size=n_tokens // 8, replace=False):
        a, b, c, d = planted[rng.integers(n_pairs)]
        ids[at], ids[at + 1], ids[at + 2] = c, (a, b)[rng.integers(2)], d
    return [f"w{i}" for i in ids], [(f"w{a}", f"w{b}") for a, b, _, _ in planted]


class Vocab:
    """word2id / id2word by decreasing count (``Counter.most_common``), words under ``min_count`` dropped."""

    def __init__(self, words, min_count=1):
        self.word_frequency = Counter(words)
        kept = [(w, c) for w, c in self.word_frequency.most_common() if c >= min_count]
        self.word2id = {w: i for i, (w, _) in enumerate(kept)}
        self.id2word = {i: w for w, i in self.word2id.items()}
        self.counts = np.array([c for _, c in kept], dtype=np.float64)

    def __len__(self):
        return len(self.word2id)

    def subsample(self, words, t=1e-3, seed=1):
        """Mikolov's subsampling: word w kept with probability sqrt(t / f(w)) + t / f(w)."""
        rng = np.random.default_rng(seed)
        freq = self.counts / self.counts.sum()
        keep = np.minimum(1.0, np.sqrt(t / freq) + t / freq)
        ids = [self.word2id[w] for w in words if w in self.word2id]
        return [i for i in ids if rng.random() < keep[i]]

    def negative_table(self, size=100000):
        ratio = self.counts ** 0.75
        ratio /= ratio.sum()
        return np.repeat(np.arange(len(ratio)), np.round(ratio * size).astype(np.int64))


class SkipGramDataset(Dataset):
    """(center, context, negatives) triples from a window over the id sequence; negatives drawn once from ``table``."""

    def __init__(self, ids, table, window=2, n_neg=5, seed=2):
        rng = np.random.default_rng(seed)
        self.pairs = [(c, ids[j]) for i, c in enumerate(ids)
                      for j in range(max(0, i - window), min(len(ids), i + window + 1)) if j != i]
        self.negs = table[rng.integers(0, len(table), size=(len(self.pairs), n_neg))]

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, idx):
        u, v = self.pairs[idx]
        return u, v, torch.from_numpy(self.negs[idx])


class SkipGramModel(nn.Module):

    def __init__(self, emb_size, emb_dimension, init="data"):
        super(SkipGramModel, self).__init__()  # noqa: UP008 - the ports' spelling
        self.emb_size = emb_size
        self.emb_dimension = emb_dimension
        self.u_embeddings = nn.Embedding(emb_size, emb_dimension, sparse=True)
        self.v_embeddings = nn.Embedding(emb_size, emb_dimension, sparse=True)
        initrange = 1.0 / self.emb_dimension
        if init == "data":
            self.u_embeddings.weight.data.uniform_(-initrange, initrange)
            self.v_embeddings.weight.data.uniform_(-0, 0)
        else:
            nn.init.uniform_(self.u_embeddings.weight.data, -initrange, initrange)
            nn.init.constant_(self.v_embeddings.weight, 0)

    def forward(self, pos_u, pos_v, neg_v):
        emb_u = self.u_embeddings(pos_u)
        emb_v = self.v_embeddings(pos_v)
        emb_neg_v = self.v_embeddings(neg_v)

        score = torch.mul(emb_u, emb_v).sum(dim=1)
        score = torch.clamp(score, max=10, min=-10)
        score = F.logsigmoid(score)

        neg_score = torch.bmm(emb_neg_v, emb_u.unsqueeze(2)).squeeze()
        neg_score = torch.clamp(neg_score, max=10, min=-10)
        neg_score = torch.sum(F.logsigmoid(-neg_score), dim=1)

        return -(score + neg_score).mean()

    def save_embedding(self, id2word):
        """word2vec's text format: a header "count dim", then one "word v1 v2 ..." line per word."""
        embedding = self.u_embeddings.weight.cpu().data.numpy()
        out = io.StringIO()
        out.write("%d %d\n" % (len(id2word), self.emb_dimension))  # noqa: UP031 - the ports' spelling
        for wid, w in id2word.items():
            e = " ".join(map(lambda x: str(x), embedding[wid]))
            out.write("%s %s\n" % (w, e))  # noqa: UP031
        return out.getvalue()


def build(n_words=180, n_tokens=6000, window=2, n_neg=5):
    """The vocabulary, the planted pairs and the dataset: numpy only, the same for both libraries."""
    words, pairs = make_corpus(n_words, n_tokens)
    vocab = Vocab(words, min_count=2)
    ids = vocab.subsample(words)
    return vocab, pairs, SkipGramDataset(ids, vocab.negative_table(), window, n_neg)


def nearest(model, vocab, words, k=5):
    """The ``k`` nearest words of each of ``words`` by cosine similarity of the normalised input embeddings."""
    emb = F.normalize(model.u_embeddings.weight.detach(), p=2, dim=1)
    idx = torch.LongTensor([vocab.word2id[w] for w in words])
    sim = torch.mm(emb[idx], emb.t())
    _, top = sim.topk(k + 1, dim=1)
    return [[vocab.id2word[int(j)] for j in row[1:]] for row in top.tolist()], sim


def manual_sgd_step(model, lr):
    """The old ports' hand-written update on sparse gradients: the deprecated ``add_(-lr, grad)`` through ``.data``."""
    for p in model.parameters():
        p.data.add_(-lr, p.grad.data)


def train(model, dataset, epochs=2, batch_size=64, lr=0.01, optimizer="sparse_adam", max_batches=None):
    """Training with per-batch losses, lr, the rows each sparse gradient touched and its values' norm;
    ``optimizer="manual"``: SGD by hand at the scheduler's lr (the optimizer then only carries the lr)."""
    if optimizer == "sparse_adam":
        opt = optim.SparseAdam(list(model.parameters()), lr=lr)
    else:
        opt = optim.SGD(model.parameters(), lr=lr)
    n_batches = len(dataset) // batch_size if max_batches is None else max_batches
    scheduler = CosineAnnealingLR(opt, epochs * n_batches)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    log = {"loss": [], "lr": [], "rows": [], "grad_norm": []}
    for _ in range(epochs):
        for i, (pos_u, pos_v, neg_v) in enumerate(loader):
            if i == n_batches:
                break
            opt.zero_grad()
            loss = model(pos_u, pos_v, neg_v)
            loss.backward()
            grad = model.u_embeddings.weight.grad.coalesce()
            log["rows"].append(grad.indices().numpy().ravel().tolist())
            log["grad_norm"].append(float(grad.values().norm()))
            if optimizer == "manual":
                manual_sgd_step(model, opt.param_groups[0]["lr"])
            else:
                opt.step()
            scheduler.step()
            log["loss"].append(loss.item())
            log["lr"].append(scheduler.get_last_lr()[0])
    return log


def state_round_trip(model):
    """A state_dict copied out as numpy and loaded into a fresh model: True when every entry comes back equal."""
    saved = {k: v.cpu().numpy().copy() for k, v in model.state_dict().items()}
    fresh = SkipGramModel(model.emb_size, model.emb_dimension)
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in saved.items()})
    return all(np.array_equal(fresh.state_dict()[k].numpy(), saved[k]) for k in saved)
