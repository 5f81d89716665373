"""A makemore-style MLP language model (Bengio et al. 2003, as in Karpathy's makemore part 2), written as ordinary
PyTorch code: raw parameter tensors, an embedding lookup by indexing, manual SGD through ``p.data`` and then under
``torch.no_grad()``. Characters of a text instead of names; the harness supplies the initial weights and minibatch
indices so that torch and ours see the same numbers."""

import torch
import torch.nn.functional as F


def build_dataset(text, stoi, block_size):
    X, Y = [], []
    context = [0] * block_size
    for ch in text:
        ix = stoi[ch]
        X.append(context)
        Y.append(ix)
        context = context[1:] + [ix]
    X = torch.tensor(X)
    Y = torch.tensor(Y)
    return X, Y


def run(text, init, batches, block_size=3, n_embd=10, n_hidden=64):
    chars = sorted(set(text))
    stoi = {s: i for i, s in enumerate(chars)}
    vocab_size = len(chars)
    n = int(0.9 * len(text))
    Xtr, Ytr = build_dataset(text[:n], stoi, block_size)
    Xdev, Ydev = build_dataset(text[n:], stoi, block_size)

    C = torch.tensor(init((vocab_size, n_embd)), dtype=torch.float32)
    fan_in = n_embd * block_size
    W1 = torch.tensor(init((fan_in, n_hidden)), dtype=torch.float32) * (5 / 3) / fan_in ** 0.5
    b1 = torch.tensor(init((n_hidden,)), dtype=torch.float32) * 0.01
    W2 = torch.tensor(init((n_hidden, vocab_size)), dtype=torch.float32) * 0.01
    b2 = torch.zeros(vocab_size)
    parameters = [C, W1, b1, W2, b2]
    for p in parameters:
        p.requires_grad = True

    lossi = []
    for i, ix in enumerate(batches):
        ix = torch.tensor(ix)
        emb = C[Xtr[ix]]  # (32, block_size, n_embd)
        h = torch.tanh(emb.view(-1, n_embd * block_size) @ W1 + b1)
        logits = h @ W2 + b2
        loss = F.cross_entropy(logits, Ytr[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < len(batches) // 2 else 0.01
        if i < len(batches) // 2:
            for p in parameters:
                p.data += -lr * p.grad
        else:
            with torch.no_grad():
                for p in parameters:
                    p -= lr * p.grad
        lossi.append(loss.item())

    @torch.no_grad()
    def split_loss(X, Y):
        emb = C[X]
        h = torch.tanh(emb.view(emb.shape[0], -1) @ W1 + b1)
        logits = h @ W2 + b2
        return F.cross_entropy(logits, Y).item()

    return {"train": lossi, "dev": split_loss(Xdev, Ydev), "requires_grad": all(p.requires_grad for p in parameters)}
