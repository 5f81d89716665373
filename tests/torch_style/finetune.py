"""Transfer learning as PyTorch users write it, with the torch.utils.data pipeline around it: a small encoder
pretrained on a source task (sequences of tokens, batched from a ``TensorDataset``) and saved with ``torch.save``;
a new model with the same backbone and a new head that loads it with ``load_state_dict(strict=False)`` (checking
``missing_keys`` / ``unexpected_keys``); the backbone frozen (``requires_grad = False``, its BatchNorm kept in eval
mode), the head trained through ``filter(lambda p: p.requires_grad, ...)`` under a warmup ``SequentialLR``, then the
backbone unfrozen with ``requires_grad_`` and ``optimizer.add_param_group`` at a smaller lr; early stopping that keeps
``copy.deepcopy(model.state_dict())``; a checkpoint of model, optimizer and scheduler saved mid-training and loaded
into fresh objects; and a second recipe with per-group lrs from the start under a ``ChainedScheduler``. The data are
variable-length sequences from two sources joined with ``ConcatDataset``, split with ``random_split`` / ``Subset``
and padded by a ``collate_fn`` with ``pad_sequence``. The harness runs it on torch and, with the imports swapped,
on ours."""

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence
from torch.optim.lr_scheduler import ChainedScheduler, LambdaLR, LinearLR, MultiStepLR, SequentialLR
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, random_split

PAD = 0


class SequenceDataset(Dataset):
    """Variable-length token sequences (a list of int arrays) and their labels."""

    def __init__(self, sequences, labels):
        self.sequences = sequences
        self.labels = labels

    def __len__(self):
        return len(self.sequences)

    def __getitem__(self, idx):
        return torch.tensor(self.sequences[idx], dtype=torch.long), int(self.labels[idx])


def build_dataset(parts):
    """One dataset from several sources, each (sequences, labels)."""
    return ConcatDataset([SequenceDataset(sequences, labels) for sequences, labels in parts])


def collate_batch(batch):
    """Pad a list of (sequence, label) to (B, T) with PAD; the lengths and labels as tensors."""
    sequences, labels = zip(*batch)
    lengths = torch.tensor([len(s) for s in sequences])
    padded = pad_sequence(sequences, batch_first=True, padding_value=PAD)
    return padded, lengths, torch.tensor(labels)


class Encoder(nn.Module):
    """Mean of the token embeddings over the real (unpadded) positions, then a projection with batch norm."""

    def __init__(self, vocab_size=20, embed_dim=12, hidden=24):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.proj = nn.Sequential(
            nn.Linear(embed_dim, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
        )

    def forward(self, tokens, lengths):
        mask = (tokens != PAD).unsqueeze(-1).float()
        pooled = (self.embedding(tokens) * mask).sum(dim=1) / lengths.unsqueeze(1).float()
        return self.proj(pooled)


class PretrainNet(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.backbone = Encoder()
        self.classifier = nn.Linear(24, num_classes)

    def forward(self, tokens, lengths):
        return self.classifier(self.backbone(tokens, lengths))


class FineTuneNet(nn.Module):
    def __init__(self, num_classes=3, dropout=0.3):
        super().__init__()
        self.backbone = Encoder()
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(24, 16),
            nn.ReLU(),
            nn.Linear(16, num_classes),
        )

    def forward(self, tokens, lengths):
        return self.head(self.backbone(tokens, lengths))


def grad_norm(model):
    return torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters() if p.grad is not None)).item()


def pretrain(model, tokens, lengths, labels, path, epochs=2, batch_size=16):
    """Train on the source task (fixed-size padded tensors, default collation) and save the weights."""
    loader = DataLoader(TensorDataset(tokens, lengths, labels), batch_size=batch_size, shuffle=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    scheduler = MultiStepLR(optimizer, milestones=[3, 6], gamma=0.5)
    history = {"loss": [], "lr": []}
    model.train()
    for _ in range(epochs):
        for x, n, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x, n), y)
            loss.backward()
            optimizer.step()
            history["lr"].append(scheduler.get_last_lr()[0])
            scheduler.step()
            history["loss"].append(loss.item())
    torch.save(model.state_dict(), path)
    return history


def load_pretrained(model, path):
    state = torch.load(path)
    result = model.load_state_dict(state, strict=False)
    return sorted(result.missing_keys), sorted(result.unexpected_keys)


def set_bn_eval(module):
    if isinstance(module, nn.BatchNorm1d):
        module.eval()


def freeze(model):
    for p in model.backbone.parameters():
        p.requires_grad = False


def unfreeze(model, optimizer, backbone_lr, warmup=3):
    """Train the backbone too, at its own lr; a new schedule (the old one knows one group only): the head's lr goes
    on decaying, the backbone's warms up."""
    model.backbone.requires_grad_(True)
    optimizer.add_param_group({"params": model.backbone.parameters(), "lr": backbone_lr})
    return LambdaLR(optimizer, lr_lambda=[lambda step: 0.5 * 0.97 ** step, lambda step: min(1.0, (step + 1) / warmup)])


def make_loaders(dataset, train_indices, val_indices, batch_size):
    train_loader = DataLoader(Subset(dataset, train_indices), batch_size=batch_size, shuffle=False,
                              drop_last=True, collate_fn=collate_batch)
    val_loader = DataLoader(Subset(dataset, val_indices), batch_size=batch_size, collate_fn=collate_batch)
    return train_loader, val_loader


def split(dataset, val_fraction=0.25, seed=0):
    n_val = int(len(dataset) * val_fraction)
    return random_split(dataset, [len(dataset) - n_val, n_val], generator=torch.Generator().manual_seed(seed))


def evaluate(model, loader):
    model.eval()
    total_loss, correct, count, outputs = 0.0, 0, 0, []
    with torch.no_grad():
        for x, n, y in loader:
            logits = model(x, n)
            total_loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(dim=1) == y).sum().item()
            count += y.size(0)
            outputs.append(logits)
    return total_loss / count, correct / count, torch.cat(outputs)


def train_step(model, x, n, y, optimizer, history):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x, n), y)
    loss.backward()
    history["norm"].append(grad_norm(model))
    optimizer.step()
    return loss


def train_epoch(model, loader, optimizer, scheduler, frozen, history):
    model.train()
    if frozen:
        model.backbone.apply(set_bn_eval)  # a frozen backbone keeps its running statistics
    for x, n, y in loader:
        loss = train_step(model, x, n, y, optimizer, history)
        history["lr"].append(scheduler.get_last_lr())
        scheduler.step()
        history["loss"].append(loss.item())


def make_staged(model, head_lr=0.1, warmup=3):
    freeze(model)
    optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=head_lr, momentum=0.9,
                                weight_decay=1e-4)
    scheduler = SequentialLR(optimizer, schedulers=[
        LinearLR(optimizer, start_factor=0.1, total_iters=warmup),
        LambdaLR(optimizer, lr_lambda=lambda step: 0.97 ** step),
    ], milestones=[warmup])
    return optimizer, scheduler


def finetune_staged(model, pretrained_path, dataset, train_indices, val_indices, epochs=10, unfreeze_at=2,
                    backbone_lr=0.03, patience=2, batch_size=8, checkpoint=None, stop_after=None):
    """Head first on a frozen backbone, then everything; early stopping on the validation loss restores the best
    weights. With ``checkpoint`` (a path), training stops after epoch ``stop_after``, saves model, optimizer and
    scheduler, and goes on from fresh objects loaded from the file."""
    keys = load_pretrained(model, pretrained_path)
    train_loader, val_loader = make_loaders(dataset, train_indices, val_indices, batch_size)
    optimizer, scheduler = make_staged(model)
    history = {"loss": [], "lr": [], "norm": [], "val_loss": [], "val_acc": [], "trainable": []}
    best_loss, best_epoch, best_state, bad_epochs = float("inf"), -1, None, 0
    epoch = 0
    while epoch < epochs:
        if epoch == unfreeze_at:
            scheduler = unfreeze(model, optimizer, backbone_lr)
        history["trainable"].append(sum(p.numel() for p in model.parameters() if p.requires_grad))
        train_epoch(model, train_loader, optimizer, scheduler, epoch < unfreeze_at, history)
        val_loss, val_acc, _ = evaluate(model, val_loader)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < best_loss:
            best_loss, best_epoch, bad_epochs = val_loss, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
            if bad_epochs >= patience:
                break
        if epoch == stop_after:
            torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "best": (best_loss, best_epoch, bad_epochs),
                        "best_state": best_state, "config": {"dropout": model.head[0].p}}, checkpoint)
            model, optimizer, scheduler, epoch, (best_loss, best_epoch, bad_epochs), best_state = resume(
                checkpoint, unfreeze_at, backbone_lr)
        epoch += 1
    model.load_state_dict(best_state)
    history["best_epoch"] = best_epoch
    history["final"] = evaluate(model, val_loader)
    return model, keys, history


def resume(path, unfreeze_at, backbone_lr):
    checkpoint = torch.load(path)
    model = FineTuneNet(**checkpoint["config"])
    model.load_state_dict(checkpoint["model"])
    optimizer, scheduler = make_staged(model)
    if checkpoint["epoch"] >= unfreeze_at:
        scheduler = unfreeze(model, optimizer, backbone_lr)
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    return model, optimizer, scheduler, checkpoint["epoch"], checkpoint["best"], checkpoint["best_state"]


def finetune_discriminative(model, pretrained_path, dataset, train_indices, val_indices, epochs=5, batch_size=8):
    """Everything but the embeddings trains from the start, the backbone at a tenth of the head's lr; the lr warms up
    and steps down per epoch (two chained schedules)."""
    keys = load_pretrained(model, pretrained_path)
    model.backbone.embedding.requires_grad_(False)  # it stays in the optimizer's group, without gradients
    embedding = model.backbone.embedding.weight.detach().clone()
    train_loader, val_loader = make_loaders(dataset, train_indices, val_indices, batch_size)
    optimizer = torch.optim.Adam([
        {"params": model.backbone.parameters(), "lr": 1e-3},
        {"params": model.head.parameters()},
    ], lr=1e-2)
    scheduler = ChainedScheduler([
        LinearLR(optimizer, start_factor=0.5, total_iters=2),
        MultiStepLR(optimizer, milestones=[2, 4], gamma=0.5),
    ])
    history = {"loss": [], "norm": [], "val_loss": [], "val_acc": [], "epoch_lr": []}
    for _ in range(epochs):
        history["epoch_lr"].append(scheduler.get_last_lr())
        model.train()
        for x, n, y in train_loader:
            history["loss"].append(train_step(model, x, n, y, optimizer, history).item())
        scheduler.step()
        val_loss, val_acc, _ = evaluate(model, val_loader)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
    history["embedding_unchanged"] = torch.equal(model.backbone.embedding.weight, embedding)
    return model, keys, history
