"""A click-through-rate model written as ordinary PyTorch code, as recommender repositories write a DeepFM / Wide &
Deep on multi-hot features: each sample has a few single-valued categorical fields and multi-valued "bag" fields
(tags, recent items) given as a flat index tensor and offsets, with ``include_last_offset=True`` offsets from a
``collate_fn``, nn.EmbeddingBag tables in mode "sum" with per-sample weights (a tf-idf-like weight per tag),
"mean" with a ``padding_idx`` and "max", a 2-D bag through ``F.embedding_bag`` without offsets, a pretrained table
by ``nn.EmbeddingBag.from_pretrained(freeze=False)``, a linear (wide) part by a 1-d EmbeddingBag, the FM
interaction ``0.5 * (sum ** 2 - sum of squares)``, xavier-initialised tables, a deep MLP of bias-free Linear +
BatchNorm1d + Dropout, BCEWithLogitsLoss, AUC computed by ``argsort`` ranks, and three optimizer setups: Adagrad
with ``lr_decay`` / ``initial_accumulator_value`` on dense tables, Adagrad on ``sparse=True`` tables (sparse
gradients) and SparseAdam on the sparse tables beside Adam on the rest. The harness runs it on torch and, with the
imports swapped, on ours."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class ClickLog(Dataset):
    """``rows``: (fields (list of ints), tags (list of ints), tag weights (list of floats), history (list of ints,
    maybe empty), label); each item comes back as tensors."""

    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        fields, tags, weights, history, label = self.rows[i]
        return (torch.tensor(fields, dtype=torch.long), torch.tensor(tags, dtype=torch.long),
                torch.tensor(weights, dtype=torch.float32), torch.tensor(history, dtype=torch.long),
                torch.tensor(label, dtype=torch.float32))


def collate(batch):
    """Fields stacked (B, F); tags and history flattened with ``include_last_offset`` offsets (B + 1); history also
    as a padded (B, H) matrix (padding index 0)."""
    fields = torch.stack([b[0] for b in batch])
    tags = torch.cat([b[1] for b in batch])
    tag_weights = torch.cat([b[2] for b in batch])
    tag_offsets = torch.tensor([0] + [len(b[1]) for b in batch]).cumsum(0)
    history = torch.cat([b[3] for b in batch])
    history_offsets = torch.tensor([0] + [len(b[3]) for b in batch]).cumsum(0)
    longest = max(1, max(len(b[3]) for b in batch))
    padded = torch.zeros(len(batch), longest, dtype=torch.long)
    for i, b in enumerate(batch):
        padded[i, :len(b[3])] = b[3]
    labels = torch.stack([b[4] for b in batch])
    return fields, tags, tag_weights, tag_offsets, history, history_offsets, padded, labels


class DeepFM(nn.Module):
    def __init__(self, field_dims, n_tags, n_items, embed_dim, mlp_dims, dropout=0.0, sparse=False,
                 pretrained_items=None):
        super().__init__()
        self.field_offsets = torch.tensor([0] + list(field_dims[:-1])).cumsum(0)
        n_fields = sum(field_dims)
        self.field_embedding = nn.EmbeddingBag(n_fields, embed_dim, mode="sum", sparse=sparse)
        self.linear = nn.EmbeddingBag(n_fields + n_tags, 1, mode="sum", sparse=sparse)
        self.tag_embedding = nn.EmbeddingBag(n_tags, embed_dim, mode="sum", include_last_offset=True,
                                             sparse=sparse)
        if pretrained_items is not None:
            self.item_embedding = nn.EmbeddingBag.from_pretrained(pretrained_items, freeze=False, mode="mean",
                                                                  padding_idx=0, include_last_offset=True,
                                                                  sparse=sparse)
        else:
            self.item_embedding = nn.EmbeddingBag(n_items, embed_dim, mode="mean", padding_idx=0,
                                                  include_last_offset=True, sparse=sparse)
        self.item_max = nn.Parameter(torch.empty(n_items, embed_dim))
        nn.init.normal_(self.item_max, std=0.1)
        self.bias = nn.Parameter(torch.zeros((1,)))
        n_vectors = len(field_dims) + 3
        layers = []
        input_dim = n_vectors * embed_dim
        for dim in mlp_dims:
            layers += [nn.Linear(input_dim, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU(), nn.Dropout(p=dropout)]
            input_dim = dim
        layers.append(nn.Linear(input_dim, 1))
        self.mlp = nn.Sequential(*layers)
        self.n_fields = n_fields
        for table in (self.field_embedding, self.tag_embedding):
            nn.init.xavier_uniform_(table.weight.data)
        if pretrained_items is None:
            nn.init.xavier_uniform_(self.item_embedding.weight.data)
        nn.init.zeros_(self.linear.weight)

    def dense_parameters(self):
        sparse_ids = {id(p) for p in self.sparse_parameters()}
        return [p for p in self.parameters() if id(p) not in sparse_ids]

    def sparse_parameters(self):
        return [self.field_embedding.weight, self.linear.weight, self.tag_embedding.weight,
                self.item_embedding.weight]

    def forward(self, fields, tags, tag_weights, tag_offsets, history, history_offsets, padded):
        batch = fields.size(0)
        ids = fields + self.field_offsets.unsqueeze(0)
        # one bag of one index per field: offsets 0, 1, 2, ... over the flattened ids
        flat = ids.flatten()
        per_field = self.field_embedding(flat, torch.arange(flat.numel()))
        per_field = per_field.view(batch, -1, per_field.size(-1))  # (B, F, E)
        tag_vec = self.tag_embedding(tags, tag_offsets, per_sample_weights=tag_weights)  # (B, E)
        hist_mean = self.item_embedding(history, history_offsets)  # (B, E); padding index 0 left out
        hist_max = F.embedding_bag(padded, self.item_max, mode="max")  # 2-D input: one bag per row
        vectors = torch.cat([per_field, tag_vec.unsqueeze(1), hist_mean.unsqueeze(1), hist_max.unsqueeze(1)], dim=1)
        # wide part: one bag of the field ids per row (2-D input), plus the tag ids shifted past the fields
        wide = self.linear(ids).squeeze(1) + self.linear(tags + self.n_fields, tag_offsets[:-1]).squeeze(1)
        square_of_sum = vectors.sum(dim=1) ** 2
        sum_of_square = (vectors ** 2).sum(dim=1)
        fm = 0.5 * (square_of_sum - sum_of_square).sum(dim=1)
        deep = self.mlp(vectors.flatten(start_dim=1)).squeeze(1)
        return wide + fm + deep + self.bias


def roc_auc(scores, labels):
    """AUC by ranks (no ties in practice): the Mann-Whitney statistic."""
    order = torch.argsort(scores)
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum().item(), (~pos).sum().item()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return (ranks[pos].sum().item() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def make_optimizers(model, setup, lr):
    if setup == "adagrad":
        return [torch.optim.Adagrad(model.parameters(), lr=lr, lr_decay=1e-3, weight_decay=1e-5,
                                    initial_accumulator_value=0.1)]
    if setup == "adagrad_sparse":
        return [torch.optim.Adagrad(model.parameters(), lr=lr, initial_accumulator_value=0.1, eps=1e-8)]
    if setup == "sparse_adam":
        return [torch.optim.SparseAdam(model.sparse_parameters(), lr=lr),
                torch.optim.Adam(model.dense_parameters(), lr=lr)]
    raise ValueError(setup)


def train(model, train_set, valid_set, orders, setup="adagrad", lr=0.05, batch_size=32):
    criterion = nn.BCEWithLogitsLoss()
    optimizers = make_optimizers(model, setup, lr)
    history = {"loss": [], "auc": [], "valid_loss": [], "grad_kinds": set()}
    valid_loader = DataLoader(valid_set, batch_size=64, shuffle=False, collate_fn=collate)
    for order in orders:
        model.train()
        loader = DataLoader(train_set, batch_size=batch_size, sampler=order, collate_fn=collate)
        for *inputs, labels in loader:
            for optimizer in optimizers:
                optimizer.zero_grad()
            logits = model(*inputs)
            loss = criterion(logits, labels)
            loss.backward()
            history["grad_kinds"].add(model.tag_embedding.weight.grad.is_sparse)
            for optimizer in optimizers:
                optimizer.step()
            history["loss"].append(loss.item())
        model.eval()
        scores, targets, total = [], [], 0.0
        with torch.no_grad():
            for *inputs, labels in valid_loader:
                logits = model(*inputs)
                total += F.binary_cross_entropy_with_logits(logits, labels, reduction="sum").item()
                scores.append(torch.sigmoid(logits))
                targets.append(labels)
        history["valid_loss"].append(total / len(valid_set))
        history["auc"].append(roc_auc(torch.cat(scores), torch.cat(targets)))
    return history
