"""The one training loop used by the CLI and the examples: the paper's models on real MNIST / IMDB.

A run directory holds ``config.json`` (every setting), ``metrics.jsonl`` (one line per epoch),
``steps.jsonl`` (mean training loss every ``log_every`` iterations, for the paper-style plots),
``checkpoint.npz`` (model + optimizer + temporal average + scheduler + RNG + epoch, written atomically
at the end of every epoch) and, with ``inspect_every``, ``internals.jsonl``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy

import models

from . import backend, checkpoint, data, nn, optim
from .autograd import no_grad
from .nn import functional as F
from .optim.inspector import Inspector
from .tensor import Tensor

MODELS = ("logreg", "mlp", "cnn", "vae")
DATASETS = ("mnist", "imdb")
OPTIMIZERS = ("adam", "adamax", "amsgrad", "adamw", "nadam", "sgd", "nesterov", "adagrad", "rmsprop", "adadelta")
SCHEDULES = ("constant", "inv-sqrt")
NUM_CLASSES = {"mnist": 10, "imdb": 2}

# Base learning rates: the paper's defaults for Adam (1e-3) and AdaMax (2e-3); common ones for the rest.
DEFAULT_LR = {"adam": 1e-3, "adamax": 2e-3, "amsgrad": 1e-3, "adamw": 1e-3, "nadam": 2e-3, "sgd": 0.1,
              "nesterov": 0.05, "adagrad": 1e-2, "rmsprop": 1e-3, "adadelta": 1.0}
# The paper searched a dense grid per experiment. With alpha_t = alpha / sqrt(t) (section 6.1) the best base
# rates are much larger; these are the best of {1e-3, 1e-2, 0.1, 0.5} after 2 epochs on the full data.
TUNED_LR: dict[tuple[str, str], dict[str, float]] = {
    ("logreg", "mnist"): {"adam": 0.1, "amsgrad": 0.1, "adamw": 0.1, "adamax": 0.2, "nesterov": 0.5, "sgd": 0.5,
                          "adagrad": 0.1, "rmsprop": 0.01},
    ("mlp", "mnist"): {"rmsprop": 3e-4, "nesterov": 0.1},  # best of a 3-point grid after 1 epoch on 10k examples
    ("logreg", "imdb"): {"adam": 0.01, "amsgrad": 0.01, "adamw": 0.01, "adamax": 0.02, "nesterov": 0.5, "sgd": 0.5,
                         "adagrad": 0.1, "rmsprop": 0.01},
}

# The paper's settings per model (section 6), with PAPER.md's choices where the paper is silent.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "logreg": {"weight_decay": 1e-4, "lr_schedule": "inv-sqrt", "dropout": 0.0, "batch_size": 128},
    "mlp": {"weight_decay": 0.0, "lr_schedule": "constant", "dropout": 0.5, "batch_size": 128},
    "cnn": {"weight_decay": 0.0, "lr_schedule": "constant", "dropout": 0.5, "batch_size": 128},
    "vae": {"weight_decay": 0.0, "lr_schedule": "constant", "dropout": 0.0, "batch_size": 100},
}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and iteration."""


@dataclasses.dataclass
class Config:
    """Every setting of a run. ``None`` means "the paper's default for this model / optimizer"."""

    model: str = "mlp"
    dataset: str = "mnist"
    optimizer: str = "adam"
    epochs: int = 1
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    dropout: float | None = None
    lr_schedule: str | None = None
    temporal_average: float | None = None
    bias_correction: bool = True
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    channels: tuple[int, ...] = (64, 64, 128)
    seed: int = 0
    device: str = "cpu"
    out: str = "runs/latest"
    limit: int | None = None
    log_every: int = 50
    inspect_every: int = 0
    progress: bool = True

    def resolved(self) -> Config:
        """A copy with every ``None`` replaced by its default, after checking the combination."""
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose from {', '.join(MODELS)}")
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose from {', '.join(DATASETS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        if self.dataset == "imdb" and self.model != "logreg":
            raise ValueError(f"--dataset imdb works with --model logreg only (bag-of-words), not {self.model}")
        defaults = dict(MODEL_DEFAULTS[self.model])
        if self.dataset == "imdb":
            defaults["dropout"] = 0.5  # section 6.1: 50% dropout on the bag-of-words inputs
        fills = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        cfg = dataclasses.replace(self, **fills)
        if cfg.lr is None:
            cfg.lr = TUNED_LR.get((cfg.model, cfg.dataset), DEFAULT_LR).get(cfg.optimizer, DEFAULT_LR[cfg.optimizer])
        for name in ("lr", "weight_decay"):
            if getattr(cfg, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(cfg, name)}")
        if not 0 <= cfg.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {cfg.dropout}")
        if cfg.lr_schedule not in SCHEDULES:
            raise ValueError(f"unknown lr schedule {cfg.lr_schedule!r}; choose from {', '.join(SCHEDULES)}")
        if cfg.epochs < 1 or cfg.batch_size < 1:
            raise ValueError(f"epochs and batch size must be >= 1, got {cfg.epochs} and {cfg.batch_size}")
        if cfg.temporal_average is not None and not 0 < cfg.temporal_average < 1:
            raise ValueError(f"temporal average decay must be in (0, 1), got {cfg.temporal_average}")
        cfg.device = backend.parse_device(cfg.device)
        return cfg

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Config:
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**d)


# ------------------------------------------------------------------ building blocks
def load_data(cfg: Config) -> tuple[data.Split, data.Split]:
    """The train and test splits, flattened for every model but the CNN, cut to ``limit`` examples."""
    if cfg.dataset == "mnist":
        train, test = data.load_mnist()
        if cfg.model != "cnn":
            train, test = (data.Split(s.x.reshape(len(s.x), -1), s.y) for s in (train, test))
    else:
        train, test = data.load_imdb()
    if cfg.limit:
        train, test = subset(train, cfg.limit), subset(test, cfg.limit)
    return train, test


def subset(split: data.Split, n: int) -> data.Split:
    """``n`` examples drawn without replacement by a fixed generator (IMDB's file order is sorted by label)."""
    rows = numpy.sort(numpy.random.default_rng(0).permutation(len(split.y))[:n])
    return data.Split(split.x[rows], split.y[rows])


def build_model(cfg: Config, train: data.Split) -> nn.Module:
    """The paper's model for ``cfg`` (section 6), sized from the training inputs."""
    in_features = int(numpy.prod(train.x.shape[1:]))
    num_classes = NUM_CLASSES[cfg.dataset]
    if cfg.model == "logreg":
        model: nn.Module = models.LogisticRegression(in_features, num_classes)
        if cfg.dropout:
            model = nn.Sequential(nn.Dropout(cfg.dropout), model)
        return model
    if cfg.model == "mlp":
        return models.MLP(in_features, num_classes=num_classes, dropout=cfg.dropout)
    if cfg.model == "cnn":
        c, h = train.x.shape[1], train.x.shape[2]
        return models.CNN(in_channels=c, channels=tuple(cfg.channels), num_classes=num_classes, image_size=h)
    return models.VAE(in_features)


def build_optimizer(cfg: Config, params: Iterable[Tensor]) -> optim.Optimizer:
    """The optimizer named in ``cfg`` with its learning rate, betas and weight decay."""
    p, lr, wd = list(params), cfg.lr, cfg.weight_decay
    name = cfg.optimizer
    if name in ("adam", "amsgrad"):
        return optim.Adam(p, lr=lr, betas=cfg.betas, weight_decay=wd, amsgrad=name == "amsgrad",
                          bias_correction=cfg.bias_correction)
    if name == "adamw":
        return optim.AdamW(p, lr=lr, betas=cfg.betas, weight_decay=wd)
    if name == "adamax":
        return optim.Adamax(p, lr=lr, betas=cfg.betas, weight_decay=wd)
    if name == "nadam":
        return optim.NAdam(p, lr=lr, betas=cfg.betas, weight_decay=wd)
    if name in ("sgd", "nesterov"):
        momentum = cfg.momentum if name == "nesterov" else 0.0
        return optim.SGD(p, lr=lr, momentum=momentum, nesterov=name == "nesterov", weight_decay=wd)
    if name == "adagrad":
        return optim.Adagrad(p, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(p, lr=lr, weight_decay=wd)
    return optim.Adadelta(p, lr=lr, weight_decay=wd)


def build_scheduler(cfg: Config, opt: optim.Optimizer) -> Any:
    """alpha_t = alpha / sqrt(t) per iteration for "inv-sqrt" (section 6.1), else None."""
    return optim.lr_scheduler.InverseSqrtLR(opt) if cfg.lr_schedule == "inv-sqrt" else None


def as_input(x: Any, device: str) -> Any:
    """A minibatch as model input: a Tensor on ``device``, or a sparse CSR batch as it is (the first layer
    moves its arrays to the weights' device)."""
    return x if F.is_csr(x) else Tensor(x, device=device)


def batch_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Mean minibatch loss: the negative ELBO for the VAE, cross-entropy for classifiers."""
    if isinstance(model, models.VAE):
        return model.loss(x)
    return F.cross_entropy(model(x), y)


@no_grad()
def evaluate(model: nn.Module, split: data.Split, device: str, batch_size: int = 1000) -> dict[str, float]:
    """Mean loss (and accuracy for classifiers) over a split, in eval mode."""
    was_training = model.training
    model.eval()
    total, correct = 0.0, 0
    for x, y in data.ArrayLoader(split, batch_size=batch_size, shuffle=False, sparse=True):
        xt, yt = as_input(x, device), Tensor(y, device=device)
        if isinstance(model, models.VAE):
            total += model.loss(xt).item() * len(y)
        else:
            logits = model(xt)
            total += F.cross_entropy(logits, yt, reduction="sum").item()
            correct += int((backend.to_numpy(logits.data).argmax(axis=1) == y).sum())
    model.train(was_training)
    n = len(split.y)
    out = {"test_loss": total / n}
    if not isinstance(model, models.VAE):
        out["test_accuracy"] = correct / n
    return out


# ------------------------------------------------------------------ the loop
class Run:
    """One training run: builds everything from a Config, trains epoch by epoch, resumes from its directory."""

    def __init__(self, cfg: Config, log: Callable[[str], None] = print) -> None:
        self.cfg = cfg = cfg.resolved()
        self.log = log
        self.dir = Path(cfg.out)
        backend.manual_seed(cfg.seed)
        self.train_split, self.test_split = load_data(cfg)
        self.model = build_model(cfg, self.train_split).to(cfg.device)
        self.optimizer = build_optimizer(cfg, self.model.parameters())
        self.scheduler = build_scheduler(cfg, self.optimizer)
        self.average = optim.TemporalAverage(self.model.parameters(), beta=cfg.temporal_average) \
            if cfg.temporal_average else None
        # IMDB batches stay sparse: the first layer reads only each review's words (nn.functional.linear)
        self.loader = data.ArrayLoader(self.train_split, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                                      sparse=cfg.dataset == "imdb")
        self.inspector = None
        if cfg.inspect_every:
            self.inspector = Inspector(self.optimizer, named_params=self.model.named_parameters())
        self.epoch = self.iteration = 0

    # -------------------------------------------------------------- checkpoints
    def state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "iteration": self.iteration, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler else None,
                "average": self.average.state_dict() if self.average else None,
                "rng": backend.get_rng_state()}

    def save(self) -> Path:
        return checkpoint.save(self.dir / "checkpoint.npz", self.state())

    def resume(self) -> None:
        """Continue from ``checkpoint.npz`` in the run directory, exactly where it stopped."""
        s = checkpoint.load(self.dir / "checkpoint.npz")
        self.model.load_state_dict(s["model"])
        self.optimizer.load_state_dict(s["optimizer"])
        if self.scheduler:
            self.scheduler.load_state_dict(s["scheduler"])
        if self.average:
            self.average.load_state_dict(s["average"])
        backend.set_rng_state(s["rng"])
        self.epoch, self.iteration = s["epoch"], s["iteration"]

    # -------------------------------------------------------------- training
    def train_epoch(self) -> float:
        """One pass over the training data; returns the mean minibatch loss."""
        cfg, model = self.cfg, self.model
        model.train()
        self.loader.set_epoch(self.epoch)
        backend.reseed_gpu_streams(self.epoch)  # GPU generators cannot be checkpointed; restart them per epoch
        losses, window = [], []
        for x, y in progress(self.loader, cfg.progress, f"epoch {self.epoch + 1}/{cfg.epochs}"):
            loss = batch_loss(model, as_input(x, cfg.device), Tensor(y, device=cfg.device))
            value = loss.item()
            if not math.isfinite(value):
                ckpt = self.dir / "checkpoint.npz"
                kept = f"the last good checkpoint is {ckpt}" if ckpt.exists() else "no epoch finished, so no checkpoint"
                raise TrainingDiverged(f"loss became {value} at epoch {self.epoch + 1}, iteration "
                                       f"{self.iteration + 1}; {kept} (try a smaller --lr)")
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            if self.scheduler:
                self.scheduler.step()
            if self.average:
                self.average.update()
            self.iteration += 1
            losses.append(value)
            window.append(value)
            if self.iteration % cfg.log_every == 0:
                append_jsonl(self.dir / "steps.jsonl",
                             {"iteration": self.iteration, "train_loss": sum(window) / len(window)})
                window = []
            if self.inspector and self.iteration % cfg.inspect_every == 0:
                append_jsonl(self.dir / "internals.jsonl", {"iteration": self.iteration, **self.inspector.report()})
        return sum(losses) / len(losses)

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train until ``cfg.epochs``; returns the last epoch's metrics."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self.resume()
        else:
            for name in ("metrics.jsonl", "steps.jsonl", "internals.jsonl"):
                (self.dir / name).unlink(missing_ok=True)
        (self.dir / "config.json").write_text(json.dumps(self.cfg.to_json(), indent=2) + "\n")
        metrics: dict[str, Any] = {}
        while self.epoch < self.cfg.epochs:
            start = time.perf_counter()
            train_loss = self.train_epoch()
            seconds = time.perf_counter() - start
            self.epoch += 1
            if self.average:
                with self.average.swapped():
                    test = evaluate(self.model, self.test_split, self.cfg.device)
            else:
                test = evaluate(self.model, self.test_split, self.cfg.device)
            metrics = {"epoch": self.epoch, "iteration": self.iteration, "train_loss": train_loss, **test,
                       "seconds": seconds}
            append_jsonl(self.dir / "metrics.jsonl", metrics)
            self.save()
            self.log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
        return metrics


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def progress(iterable: Any, enabled: bool, desc: str) -> Any:
    """A tqdm bar when tqdm is installed and stderr is a terminal; the iterable itself otherwise."""
    if not enabled or not sys.stderr.isatty():
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, leave=False, dynamic_ncols=True)
