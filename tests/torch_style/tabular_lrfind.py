"""A tabular model written as ordinary PyTorch code, the way fast.ai-v1-era notebooks and 2018-2021 Kaggle kernels
write it without the library: ``TabularModel`` (one ``nn.Embedding`` per categorical column, sized by fast.ai's
``min(600, round(1.6 * n_cat ** 0.56))`` rule, embedding dropout, ``BatchNorm1d`` over the continuous columns, a
Linear / ReLU / BatchNorm1d / Dropout stack built in a loop, and an optional ``y_range`` sigmoid), a ``Dataset`` of
``torch.from_numpy`` arrays shuffled by a ``DataLoader`` with a seeded ``torch.Generator``, ``F.mse_loss`` on
``log1p`` targets with RMSLE / RMSE (``expm1``) metrics, a class-weighted ``nn.CrossEntropyLoss`` variant with
softmax-argmax accuracy, the hand-written LR finder (exponential schedule written into ``param_groups``, a
bias-corrected smoothed loss, stop at four times the best, the model and optimizer restored from deep copies; or
torch-lr-finder's ``ExponentialLR``, a subclass of the old ``_LRScheduler``, stepped per batch), then
a one-cycle run (``OneCycleLR`` per batch with SGD + Nesterov or AdamW) with early stopping on the validation loss
(``best_state`` of cloned tensors), and a checkpoint resume. Data are synthetic, from numpy."""

import copy
import io
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.lr_scheduler import _LRScheduler
from torch.utils.data import DataLoader, Dataset


def make_data(n, seed=0, cards=(7, 12, 4), n_cont=4, n_classes=3):
    """Synthetic table: ``x_cat`` (n, len(cards)) int64 codes, ``x_cont`` (n, n_cont) float32, a positive
    regression target ``y`` (n,) float32 (a price-like value) and a class label ``cls`` (n,) int64."""
    rng = np.random.default_rng(seed)
    x_cat = np.stack([rng.integers(0, c, n) for c in cards], 1).astype(np.int64)
    x_cont = rng.normal(size=(n, n_cont)).astype(np.float32) * [1.0, 3.0, 0.5, 10.0] + [0.0, 5.0, -1.0, 50.0]
    x_cont = x_cont.astype(np.float32)
    effects = [rng.normal(size=c) for c in cards]
    score = sum(e[x_cat[:, i]] for i, e in enumerate(effects)) + x_cont @ np.array([0.5, 0.1, -0.8, 0.02])
    y = np.expm1(np.clip(3.0 + 0.5 * score + 0.1 * rng.normal(size=n), 0.1, None)).astype(np.float32)
    cls = np.digitize(score, np.quantile(score, [0.5, 0.8])).astype(np.int64)  # 50% / 30% / 20%
    return {"x_cat": x_cat, "x_cont": x_cont, "y": y, "cls": cls, "cards": cards, "n_classes": n_classes}


def emb_sz_rule(n_cat):
    return min(600, round(1.6 * n_cat ** 0.56))


class TabularDataset(Dataset):
    def __init__(self, x_cat, x_cont, y):
        self.x_cat = torch.from_numpy(x_cat.astype(np.int64))
        self.x_cont = torch.from_numpy(x_cont.astype(np.float32))
        self.y = torch.from_numpy(y)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, idx):
        return self.x_cat[idx], self.x_cont[idx], self.y[idx]


class TabularModel(nn.Module):
    def __init__(self, emb_szs, n_cont, out_sz, layers, ps=None, emb_drop=0.0, y_range=None, use_bn=True):
        super().__init__()
        self.embeds = nn.ModuleList([nn.Embedding(ni, nf) for ni, nf in emb_szs])
        self.emb_drop = nn.Dropout(emb_drop)
        self.bn_cont = nn.BatchNorm1d(n_cont)
        n_emb = sum(e.embedding_dim for e in self.embeds)
        self.n_emb, self.n_cont, self.y_range = n_emb, n_cont, y_range
        ps = ps or [0.0] * len(layers)
        sizes = [n_emb + n_cont] + layers
        mods = []
        for i in range(len(layers)):
            mods += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU(inplace=True)]
            if use_bn:
                mods.append(nn.BatchNorm1d(sizes[i + 1]))
            if ps[i]:
                mods.append(nn.Dropout(ps[i]))
        mods.append(nn.Linear(sizes[-1], out_sz))
        self.layers = nn.Sequential(*mods)

    def forward(self, x_cat, x_cont):
        x = [e(x_cat[:, i]) for i, e in enumerate(self.embeds)]
        x = torch.cat(x, 1)
        x = self.emb_drop(x)
        x_cont = self.bn_cont(x_cont)
        x = torch.cat([x, x_cont], 1)
        x = self.layers(x)
        if self.y_range is not None:
            x = torch.sigmoid(x) * (self.y_range[1] - self.y_range[0]) + self.y_range[0]
        return x


def make_model(task="regression", data=None):
    data = data or make_data(8)
    emb_szs = [(c, emb_sz_rule(c)) for c in data["cards"]]
    if task == "regression":
        y_range = (0.0, float(np.log1p(data["y"]).max()) * 1.2)
        return TabularModel(emb_szs, data["x_cont"].shape[1], 1, [32, 16], ps=[0.0, 0.0], y_range=y_range)
    return TabularModel(emb_szs, data["x_cont"].shape[1], data["n_classes"], [32, 16], ps=[0.0, 0.0])


def make_loaders(data, task, bs=32, n_valid=128, seed=42, sampler=None):
    """Train / valid loaders over the last ``n_valid`` rows as validation; the train loader shuffles with a seeded
    generator unless a ``sampler`` is given."""
    target = data["y"] if task == "regression" else data["cls"]
    n = len(target) - n_valid
    train_ds = TabularDataset(data["x_cat"][:n], data["x_cont"][:n], target[:n])
    valid_ds = TabularDataset(data["x_cat"][n:], data["x_cont"][n:], target[n:])
    if sampler is None:
        g = torch.Generator()
        g.manual_seed(seed)
        train_dl = DataLoader(train_ds, batch_size=bs, shuffle=True, generator=g, drop_last=True)
    else:
        train_dl = DataLoader(train_ds, batch_size=bs, sampler=sampler, drop_last=True)
    valid_dl = DataLoader(valid_ds, batch_size=bs * 2, shuffle=False)
    return train_dl, valid_dl


def get_loss_fn(task, data=None):
    if task == "regression":
        return lambda out, y: F.mse_loss(out.squeeze(1), torch.log1p(y))
    counts = np.bincount(data["cls"], minlength=data["n_classes"])
    class_weights = torch.tensor(len(data["cls"]) / (data["n_classes"] * counts), dtype=torch.float32)
    return nn.CrossEntropyLoss(weight=class_weights)


def grad_norm(model):
    total_norm = 0
    for p in model.parameters():
        if p.grad is not None:
            param_norm = p.grad.data.norm(2)
            total_norm += param_norm.item() ** 2
    return total_norm ** 0.5


class ExponentialLR(_LRScheduler):
    """torch-lr-finder's schedule: base_lr * (end_lr / base_lr) ** (step / (num_iter - 1))."""

    def __init__(self, optimizer, end_lr, num_iter, last_epoch=-1):
        self.end_lr = end_lr
        self.num_iter = num_iter
        super(ExponentialLR, self).__init__(optimizer, last_epoch)  # noqa: UP008 - the library's spelling

    def get_lr(self):
        r = self.last_epoch / (self.num_iter - 1)
        return [base_lr * (self.end_lr / base_lr) ** r for base_lr in self.base_lrs]


def lr_find(model, optimizer, loader, loss_fn, init_lr=1e-5, final_lr=10.0, beta=0.98, use_scheduler=False):
    """Exponentially growing lr over one pass of ``loader``; returns the lrs, raw and smoothed losses, log10 lrs,
    the batch where it stopped (and its smoothed loss over the best) and the suggested lr; model and optimizer come
    back as they were. The lr follows the formula, or with ``use_scheduler`` an ``ExponentialLR`` stepped per batch."""
    model_state = copy.deepcopy(model.state_dict())
    opt_state = copy.deepcopy(optimizer.state_dict())
    num = len(loader) - 1
    avg_loss, best_loss, batch_num = 0.0, 0.0, 0
    lrs, losses, smoothed_losses, grads, stop = [], [], [], [], None
    if use_scheduler:
        optimizer.param_groups[0]['lr'] = init_lr
        scheduler = ExponentialLR(optimizer, final_lr, num + 1)
    model.train()
    for i, (x_cat, x_cont, y) in enumerate(loader):
        batch_num += 1  # noqa: SIM113 - the blog posts' counter beside enumerate's
        if use_scheduler:
            lr = scheduler.get_last_lr()[0]
        else:
            lr = init_lr * (final_lr / init_lr) ** (i / num)
            optimizer.param_groups[0]['lr'] = lr
        optimizer.zero_grad()
        loss = loss_fn(model(x_cat, x_cont), y)
        avg_loss = beta * avg_loss + (1 - beta) * loss.item()
        smoothed = avg_loss / (1 - beta ** batch_num)
        if batch_num > 1 and smoothed > 4 * best_loss:
            stop = batch_num, smoothed / best_loss
            break
        if smoothed < best_loss or batch_num == 1:
            best_loss = smoothed
        lrs.append(lr)
        losses.append(loss.item())
        smoothed_losses.append(smoothed)
        loss.backward()
        grads.append(grad_norm(model))
        optimizer.step()
        if use_scheduler:
            scheduler.step()
    log_lrs = torch.log10(torch.tensor(lrs)).tolist()
    best = int(torch.argmin(torch.tensor(smoothed_losses)))
    model.load_state_dict(model_state)
    optimizer.load_state_dict(opt_state)
    return {"lrs": lrs, "log_lrs": log_lrs, "losses": losses, "smoothed": smoothed_losses, "grad": grads,
            "stop": stop, "suggested": lrs[best] / 10}


def evaluate(model, loader, loss_fn, task):
    model.eval()
    total, n, preds, targets = 0.0, 0, [], []
    with torch.no_grad():
        for x_cat, x_cont, y in loader:
            out = model(x_cat, x_cont)
            total += loss_fn(out, y).item() * len(y)
            n += len(y)
            preds.append(out.squeeze(1) if task == "regression" else F.softmax(out, dim=1).argmax(1))
            targets.append(y)
    preds, targets = torch.cat(preds), torch.cat(targets)
    if task == "regression":
        rmsle = torch.sqrt(((preds - torch.log1p(targets)) ** 2).mean()).item()
        rmse = torch.sqrt(((torch.expm1(preds) - targets) ** 2).mean()).item()
        return {"loss": total / n, "rmsle": rmsle, "rmse": rmse}
    return {"loss": total / n, "accuracy": (preds == targets).float().mean().item()}


def make_optimizer(model, opt):
    if opt == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    return torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)


def fit_one_cycle(model, data, task="regression", opt="sgd", epochs=4, max_lr=None, patience=2, sampler=None,
                  resume_at=None, find_lr=True, final_lr=10.0, finder_scheduler=False):
    """LR finder (unless ``max_lr`` is given), then ``epochs`` of OneCycleLR with early stopping on the valid loss.
    With ``resume_at``, stops after that epoch, checkpoints into a buffer and goes on with fresh objects."""
    train_dl, valid_dl = make_loaders(data, task, sampler=sampler)
    loss_fn = get_loss_fn(task, data)
    optimizer = make_optimizer(model, opt)
    record = {"lr": [], "momentum": [], "loss": [], "grad": [], "valid": []}
    if find_lr:
        record["finder"] = lr_find(model, optimizer, train_dl, loss_fn, final_lr=final_lr,
                                  use_scheduler=finder_scheduler)
        max_lr = max_lr or record["finder"]["suggested"]
    record["max_lr"] = max_lr

    def build(model, optimizer):
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=max_lr, steps_per_epoch=len(train_dl), epochs=epochs, pct_start=0.3,
            anneal_strategy='cos', div_factor=25.0)
        return scheduler

    scheduler = build(model, optimizer)
    best_loss, best_state, bad_epochs, start = float('inf'), None, 0, 0
    epoch = 0
    while epoch < epochs:
        if resume_at is not None and epoch == resume_at:
            buffer = io.BytesIO()
            torch.save({'epoch': epoch, 'model': model.state_dict(), 'optimizer': optimizer.state_dict(),
                        'scheduler': scheduler.state_dict(), 'best_loss': best_loss, 'best_state': best_state,
                        'bad_epochs': bad_epochs, 'rng': train_dl.generator.get_state()
                        if train_dl.generator is not None else None}, buffer)
            buffer.seek(0)
            checkpoint = torch.load(buffer)
            model = make_model(task, data)
            model.load_state_dict(checkpoint['model'])
            optimizer = make_optimizer(model, opt)
            scheduler = build(model, optimizer)  # before the optimizer's state: building it resets lr and momentum
            optimizer.load_state_dict(checkpoint['optimizer'])
            scheduler.load_state_dict(checkpoint['scheduler'])
            best_loss, best_state = checkpoint['best_loss'], checkpoint['best_state']
            bad_epochs, start = checkpoint['bad_epochs'], checkpoint['epoch']
            if checkpoint['rng'] is not None:
                train_dl.generator.set_state(checkpoint['rng'])
            resume_at = None
        if hasattr(train_dl.sampler, 'set_epoch'):
            train_dl.sampler.set_epoch(epoch)
        model.train()
        for x_cat, x_cont, y in train_dl:
            optimizer.zero_grad()
            loss = loss_fn(model(x_cat, x_cont), y)
            loss.backward()
            record["grad"].append(grad_norm(model))
            optimizer.step()
            group = optimizer.param_groups[0]
            record["lr"].append(group['lr'])
            record["momentum"].append(group['momentum'] if 'momentum' in group else group['betas'][0])
            record["loss"].append(loss.item())
            scheduler.step()
        metrics = evaluate(model, valid_dl, loss_fn, task)
        record["valid"].append(metrics)
        print(f"epoch {epoch}: " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        if metrics["loss"] < best_loss:
            best_loss, bad_epochs = metrics["loss"], 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
            if bad_epochs >= patience:
                print(f"early stop at epoch {epoch}")
                break
        epoch += 1
    model.load_state_dict(best_state)
    record["start"] = start
    record["best"] = evaluate(model, valid_dl, loss_fn, task)
    record["params"] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    record["epochs_run"] = len(record["valid"])
    record["log_max_lr"] = math.log10(max_lr)
    return record
