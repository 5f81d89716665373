"""Text classification written as ordinary PyTorch code, after the "Text classification with the torchtext library"
tutorial, without torchtext: a plain tokenizer and a vocabulary counted with collections.Counter, a
``collate_batch`` that packs a batch of reviews into one flat ``text`` tensor and its ``offsets``, an
nn.EmbeddingBag + nn.Linear model with ``init_weights``, CrossEntropyLoss, SGD at lr=5, gradient clipping, StepLR
stepped only when the validation accuracy stops improving, train / evaluate loops and ``predict``. The bag's mode is
"mean" (the tutorial's), "max", or "sum" with per-token weights (idf over the review's length). The harness runs it
on torch and, with the imports swapped, on ours."""

import math
import re
from collections import Counter

import torch
from torch import nn
from torch.utils.data import DataLoader

PUNCTUATION = re.compile(r"([.,!?()])")
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def tokenizer(line):
    """torchtext's "basic_english" in spirit: lowercase, HTML breaks and quotes out, punctuation split off."""
    line = line.lower().replace("<br />", " ").replace('"', " ")
    line = PUNCTUATION.sub(r" \1 ", line)
    return line.replace(";", " ").replace(":", " ").split()


class Vocab:
    """Token -> index by frequency (ties alphabetical), ``<unk>`` first and returned for unknown tokens."""

    def __init__(self, counter, min_freq=1, specials=("<unk>",)):
        kept = sorted((t for t, c in counter.items() if c >= min_freq), key=lambda t: (-counter[t], t))
        self.itos = list(specials) + kept
        self.stoi = {token: i for i, token in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def __call__(self, tokens):
        return [self.stoi.get(token, 0) for token in tokens]


def build_vocab(data, min_freq=1):
    counter = Counter()
    for _, text in data:
        counter.update(tokenizer(text))
    return Vocab(counter, min_freq)


def inverse_document_frequency(data, vocab):
    """log(N / df) + 1 per vocabulary index, as a plain list."""
    df = Counter()
    for _, text in data:
        df.update(set(vocab(tokenizer(text))))
    return [math.log(len(data) / df[i]) + 1 if df[i] else 1.0 for i in range(len(vocab))]


class TextClassificationModel(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_class, mode="mean"):
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, mode=mode, sparse=False)
        self.fc = nn.Linear(embed_dim, num_class)
        self.init_weights()

    def init_weights(self):
        initrange = 0.5
        self.embedding.weight.data.uniform_(-initrange, initrange)
        self.fc.weight.data.uniform_(-initrange, initrange)
        self.fc.bias.data.zero_()

    def forward(self, text, offsets, weights=None):
        embedded = self.embedding(text, offsets, per_sample_weights=weights)
        return self.fc(embedded)


class Pipeline:
    """The tutorial's ``text_pipeline`` / ``label_pipeline`` and ``collate_batch``; with ``idf`` the batches also
    carry per-token weights idf / review length (for a "sum" bag)."""

    def __init__(self, vocab, idf=None):
        self.vocab, self.idf = vocab, idf

    def text_pipeline(self, x):
        return self.vocab(tokenizer(x))

    def label_pipeline(self, x):
        return int(x)

    def collate_batch(self, batch):
        label_list, text_list, offsets, weight_list = [], [], [0], []
        for _label, _text in batch:
            label_list.append(self.label_pipeline(_label))
            processed_text = torch.tensor(self.text_pipeline(_text), dtype=torch.int64)
            text_list.append(processed_text)
            offsets.append(processed_text.size(0))
            if self.idf is not None:
                weight_list += [self.idf[i] / len(processed_text) for i in processed_text.tolist()]
        label_list = torch.tensor(label_list, dtype=torch.int64)
        offsets = torch.tensor(offsets[:-1]).cumsum(dim=0)
        text_list = torch.cat(text_list)
        if self.idf is None:
            return label_list.to(device), text_list.to(device), offsets.to(device), None
        weights = torch.tensor(weight_list, dtype=torch.float32)
        return label_list.to(device), text_list.to(device), offsets.to(device), weights.to(device)


def train(dataloader, model, criterion, optimizer, history):
    model.train()
    total_acc, total_count = 0, 0
    for label, text, offsets, weights in dataloader:
        optimizer.zero_grad()
        predicted_label = model(text, offsets, weights)
        loss = criterion(predicted_label, label)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        optimizer.step()
        total_acc += (predicted_label.argmax(1) == label).sum().item()
        total_count += label.size(0)
        history["loss"].append(loss.item())
        history["norm"].append(norm.item())
        history["lr"].append(optimizer.param_groups[0]["lr"])
    return total_acc / total_count


def evaluate(dataloader, model, criterion):
    model.eval()
    total_acc, total_count, total_loss = 0, 0, 0.0
    with torch.no_grad():
        for label, text, offsets, weights in dataloader:
            predicted_label = model(text, offsets, weights)
            total_loss += criterion(predicted_label, label).item() * label.size(0)
            total_acc += (predicted_label.argmax(1) == label).sum().item()
            total_count += label.size(0)
    return total_acc / total_count, total_loss / total_count


def predict(model, text, pipeline):
    with torch.no_grad():
        text = torch.tensor(pipeline.text_pipeline(text))
        weights = None
        if pipeline.idf is not None:
            weights = torch.tensor([pipeline.idf[i] / len(text) for i in text.tolist()], dtype=torch.float32)
        output = model(text, torch.tensor([0]), weights)
        return output.argmax(1).item()


def run(model, pipeline, train_data, valid_data, test_data, sampler, epochs=4, batch_size=16, lr=5):
    """Train for ``epochs`` (batches drawn in ``sampler``'s order), validating after each; the recorded series."""
    model = model.to(device)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.1)
    total_accu = None
    train_dataloader = DataLoader(train_data, batch_size=batch_size, sampler=sampler,
                                  collate_fn=pipeline.collate_batch)
    valid_dataloader = DataLoader(valid_data, batch_size=batch_size, shuffle=False, collate_fn=pipeline.collate_batch)
    test_dataloader = DataLoader(test_data, batch_size=batch_size, shuffle=False, collate_fn=pipeline.collate_batch)
    history = {"loss": [], "norm": [], "lr": [], "train_acc": [], "valid_acc": [], "valid_loss": []}
    for _ in range(epochs):
        history["train_acc"].append(train(train_dataloader, model, criterion, optimizer, history))
        accu_val, loss_val = evaluate(valid_dataloader, model, criterion)
        if total_accu is not None and total_accu > accu_val:
            scheduler.step()
        else:
            total_accu = accu_val
        history["valid_acc"].append(accu_val)
        history["valid_loss"].append(loss_val)
    history["test_acc"], history["test_loss"] = evaluate(test_dataloader, model, criterion)
    model = model.to("cpu")
    history["predicted"] = [predict(model, text, pipeline) for _, text in test_data]
    return history
