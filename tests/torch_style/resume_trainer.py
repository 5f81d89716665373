"""A hand-written PyTorch training script with an exact resume, as people write one for a small tabular classifier:
numpy arrays wrapped in a ``TensorDataset``, split by ``random_split`` with a seeded ``torch.Generator`` (or by a
given index list through ``Subset``), ``DataLoader``s with a custom ``collate_fn`` and ``drop_last``, an MLP with
dropout, gradient accumulation over micro-batches, AdamW under a ``OneCycleLR`` stepped once per optimizer step and
a ``ReduceLROnPlateau`` on the validation loss once per epoch, and a checkpoint of model, optimizer, both schedulers,
the epoch and ``torch.get_rng_state()`` written mid-run. ``resume`` builds every object anew, loads the checkpoint,
restores the generators (torch's, CUDA's when there is one, Python's ``random``) and carries on; its run must
equal the uninterrupted one."""

import random

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset, TensorDataset, random_split


class MLP(nn.Module):
    """features (B, n_in) -> class scores (B, n_classes)."""

    def __init__(self, n_in=10, hidden=32, n_classes=3, p=0.2):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden),
            nn.ReLU(),
            nn.Dropout(p),
            nn.Linear(hidden, hidden),
            nn.LayerNorm(hidden),
            nn.GELU(),
            nn.Dropout(p),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x):
        return self.net(x)


def seed_everything(seed):
    random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def collate(batch):
    """A list of (features, label) pairs -> standardised (B, n_in) features and (B,) labels."""
    xs, ys = zip(*batch)
    x = torch.stack(xs)
    x = (x - x.mean(dim=0, keepdim=True)) / (x.std(dim=0, keepdim=True) + 1e-5)
    return x, torch.stack(ys)


def train_collate(batch):
    """``collate`` and a random feature scaling from Python's ``random`` (augmentation)."""
    x, y = collate(batch)
    return x * (1.0 + 0.2 * (random.random() - 0.5)), y


def make_datasets(features, labels, val_size, seed=0, indices=None):
    """(train, val) subsets of the arrays: ``random_split`` on a seeded generator, or ``indices`` = (train, val)."""
    dataset = TensorDataset(torch.from_numpy(features), torch.from_numpy(labels))
    if indices is None:
        generator = torch.Generator().manual_seed(seed)
        return random_split(dataset, [len(dataset) - val_size, val_size], generator=generator)
    return Subset(dataset, indices[0]), Subset(dataset, indices[1])


def make_loaders(train_set, val_set, batch_size, sampler=None, generator=None):
    """Shuffled training batches (from ``generator``, else the global one, unless a sampler is given) and in-order
    validation."""
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=sampler is None, sampler=sampler,
                              collate_fn=train_collate, drop_last=True, generator=generator)
    val_loader = DataLoader(val_set, batch_size=2 * batch_size, shuffle=False, collate_fn=collate)
    return train_loader, val_loader


def build(config, steps_per_epoch):
    """Model, AdamW, the one-cycle schedule over every optimizer step and the plateau schedule."""
    model = MLP(p=config["dropout"])
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config["lr"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config["lr"], epochs=config["epochs"],
                                                    steps_per_epoch=steps_per_epoch, pct_start=0.3)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=0,
                                                         threshold=0.1)
    return model, optimizer, scheduler, plateau


@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    total, correct, count = 0.0, 0, 0
    for x, y in loader:
        logits = model(x)
        total += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(dim=1) == y).sum().item()
        count += y.numel()
    return total / count, correct / count


def save_checkpoint(path, model, optimizer, scheduler, plateau, history, **extra):
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "plateau": plateau.state_dict(), "rng_state": torch.get_rng_state(),
                "cuda_rng_state": torch.cuda.get_rng_state_all(), "python_rng_state": random.getstate(),
                "history": history, **extra}, path)


def train(model, optimizer, scheduler, plateau, train_loader, val_loader, config, start_epoch=0, history=None,
          checkpoint=None, stop_after=None, step_checkpoint=None, skip=0, on_skipped=None):
    """Epochs ``start_epoch`` .. ``config["epochs"]``; after epoch ``config["save_at"]`` the checkpoint is written,
    after epoch ``stop_after`` training stops (the "crash"). After optimizer step ``config["save_step"]`` a
    mid-epoch checkpoint goes to ``step_checkpoint`` (with the loader generator's state at the epoch's start and the
    micro-batches done); a resume from it passes ``skip`` (batches fetched and dropped in the first epoch) and
    ``on_skipped`` (called once they are, to restore the generators)."""
    history = history if history is not None else {"loss": [], "lr": [], "val_loss": [], "val_acc": [],
                                                     "epoch_lr": []}
    accum = config["accum"]
    for epoch in range(start_epoch, config["epochs"]):
        model.train()
        optimizer.zero_grad()
        running = 0.0
        generator = train_loader.generator
        loader_state = generator.get_state() if generator is not None else None
        for i, (x, y) in enumerate(train_loader):
            if epoch == start_epoch and i < skip:
                if i == skip - 1:
                    on_skipped()
                continue
            loss = F.cross_entropy(model(x), y) / accum
            loss.backward()
            running += loss.item()
            if (i + 1) % accum == 0:
                nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
                optimizer.step()
                optimizer.zero_grad()
                history["lr"].append(scheduler.get_last_lr()[0])
                scheduler.step()
                history["loss"].append(running)
                running = 0.0
                if step_checkpoint is not None and len(history["loss"]) == config.get("save_step"):
                    save_checkpoint(step_checkpoint, model, optimizer, scheduler, plateau, history, epoch=epoch,
                                    batches_done=i + 1, loader_state=loader_state)
        val_loss, val_acc = evaluate(model, val_loader)
        plateau.step(val_loss)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        history["epoch_lr"].append([group["lr"] for group in optimizer.param_groups])
        if checkpoint is not None and epoch + 1 == config["save_at"]:
            save_checkpoint(checkpoint, model, optimizer, scheduler, plateau, history, epoch=epoch + 1)
        if stop_after is not None and epoch + 1 == stop_after:
            break
    return history


def restore_generators(state):
    torch.set_rng_state(state["rng_state"])
    torch.cuda.set_rng_state_all(state["cuda_rng_state"])
    random.setstate(state["python_rng_state"])


def load_for_resume(path, config, train_loader):
    """New model, optimizer and schedulers with the checkpoint's states; the checkpoint dict."""
    model, optimizer, scheduler, plateau = build(config, len(train_loader) // config["accum"])
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    plateau.load_state_dict(state["plateau"])
    return (model, optimizer, scheduler, plateau), state


def resume(path, config, train_loader, val_loader):
    """A fresh start from the epoch checkpoint: new objects, their states loaded, the generators restored."""
    objects, state = load_for_resume(path, config, train_loader)
    restore_generators(state)
    history = train(*objects, train_loader, val_loader, config, start_epoch=state["epoch"], history=state["history"])
    return objects[0], history


def resume_mid_epoch(path, config, train_loader, val_loader):
    """From the mid-epoch checkpoint: the loader's generator back to the epoch's start, the batches already used
    fetched again and dropped, then the other generators restored."""
    objects, state = load_for_resume(path, config, train_loader)
    train_loader.generator.set_state(state["loader_state"])
    history = train(*objects, train_loader, val_loader, config, start_epoch=state["epoch"], history=state["history"],
                    skip=state["batches_done"], on_skipped=lambda: restore_generators(state))
    return objects[0], history


def run(features, labels, config, checkpoint=None, stop_after=None, indices=None, sampler=None, model_state=None,
        step_checkpoint=None):
    """The whole script: data, objects, training. ``model_state`` replaces the initial weights when given; with
    ``config["loader_seed"]`` the training loader shuffles from its own generator."""
    seed_everything(config["seed"])
    train_set, val_set = make_datasets(features, labels, config["val_size"], config["seed"], indices)
    generator = torch.Generator().manual_seed(config["loader_seed"]) if "loader_seed" in config else None
    train_loader, val_loader = make_loaders(train_set, val_set, config["batch_size"], sampler, generator)
    model, optimizer, scheduler, plateau = build(config, len(train_loader) // config["accum"])
    if model_state is not None:
        model.load_state_dict(model_state)
    history = train(model, optimizer, scheduler, plateau, train_loader, val_loader, config, checkpoint=checkpoint,
                    stop_after=stop_after, step_checkpoint=step_checkpoint)
    return model, history, (train_loader, val_loader), (train_set, val_set)
