"""The one training loop used by the CLI and the examples: the paper's models on real MNIST / IMDB.

A run directory holds ``config.json`` (every setting, the library version and the command line),
``metrics.jsonl`` (one line per epoch: time, losses, accuracies, lr, seconds), ``steps.jsonl`` (mean training
loss every ``log_every`` iterations and at the end of every epoch, for the paper-style plots),
``checkpoint.npz`` (model + optimizer + temporal average + scheduler + RNG + epoch, the resolved config, the
library version and the size of each log, written atomically at the end of every epoch) and, with
``inspect_every``, ``internals.jsonl``. The logs are JSON lines: a non-finite number is written as ``null``.
Who may write into a directory, and how a resume cuts the logs back, is ``rundir``'s business.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy

from . import __version__, backend, checkpoint, data, models, nn, optim, rundir, tuned
from .autograd import no_grad
from .nn import functional as F
from .optim.inspector import Inspector
from .progress import Progress
from .tensor import Tensor

MODELS = ("logreg", "mlp", "cnn", "vae")
DATASETS = ("mnist", "imdb", "cifar10")
OPTIMIZERS = ("adam", "adamax", "amsgrad", "adamw", "nadam", "sgd", "nesterov", "adagrad", "rmsprop", "adadelta")
SCHEDULES = ("constant", "inv-sqrt")
# The optimizers whose update has the paper's two bias-correction lines that --no-bias-correction drops (section 6.4).
BIAS_CORRECTED = ("adam", "amsgrad", "adamw")
NUM_CLASSES = {"mnist": 10, "imdb": 2, "cifar10": 10}
IMDB_FEATURES = ("binary", "counts")
# Section 6.1 decays alpha by 1/sqrt(t) because section 4's analysis of Adam asks for it; AdaGrad anneals by itself
# (and Adam with the decay "should theoretically match" it), so by default it keeps a constant alpha.
# An explicit --lr-schedule applies to every optimizer (the other reading: AdaGrad decayed too).
SELF_ANNEALING = ("adagrad",)

# Base learning rates: the paper's defaults for Adam (1e-3) and AdaMax (2e-3); common ones for the rest. A model's
# tuned values (``tinygrad-adam tune``, committed in tinygrad_adam/tuned/) take precedence where they exist.
DEFAULT_LR = {"adam": 1e-3, "adamax": 2e-3, "amsgrad": 1e-3, "adamw": 1e-3, "nadam": 2e-3, "sgd": 0.1,
              "nesterov": 0.05, "adagrad": 1e-2, "rmsprop": 1e-3, "adadelta": 1.0}
# With alpha_t = alpha / sqrt(t) (section 6.1) logistic regression's best base rates are far above DEFAULT_LR. For
# an optimizer that no tuned file covers (those outside Figure 1: AMSGrad, AdamW, AdaMax, SGD, ...) under that
# schedule, the rate is the best of {1e-3, 1e-2, 0.1, 0.5} after 2 epochs on the full data (the hand search made
# before the tuned files; NAdam, not searched, takes Adam's). A tuned file's value comes first, an explicit --lr
# before both.
FALLBACK_LR: dict[tuple[str, str], dict[str, float]] = {
    ("logreg", "mnist"): {"adam": 0.1, "amsgrad": 0.1, "adamw": 0.1, "adamax": 0.2, "nadam": 0.1, "nesterov": 0.5,
                          "sgd": 0.5, "adagrad": 0.1, "rmsprop": 0.01},
    ("logreg", "imdb"): {"adam": 0.01, "amsgrad": 0.01, "adamw": 0.01, "adamax": 0.02, "nadam": 0.01,
                         "nesterov": 0.5, "sgd": 0.5, "adagrad": 0.1, "rmsprop": 0.01},
}
DEFAULT_MOMENTUM = 0.9
# The optimizers whose update reads cfg.momentum (build_optimizer: plain SGD runs without momentum).
USES_MOMENTUM = ("nesterov",)

# The paper's settings per model (section 6), with PAPER.md's choices where the paper is silent.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "logreg": {"weight_decay": 1e-4, "lr_schedule": "inv-sqrt", "dropout": 0.0, "input_dropout": 0.0,
               "batch_size": 128},
    "mlp": {"weight_decay": 0.0, "lr_schedule": "constant", "dropout": 0.5, "input_dropout": 0.0, "batch_size": 128},
    "cnn": {"weight_decay": 0.0, "lr_schedule": "constant", "dropout": 0.5, "input_dropout": 0.2, "batch_size": 128},
    "vae": {"weight_decay": 0.0, "lr_schedule": "constant", "dropout": 0.0, "input_dropout": 0.0, "batch_size": 100},
}


# What a resumed run may change: how long it trains, where it runs, where its data is, and how it reports.
# Anything else would make the continued run a different run from the one its checkpoint started.
SAFE_TO_CHANGE = ("epochs", "device", "log_every", "inspect_every", "progress", "out", "data_dir", "download")


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
    input_dropout: float | None = None
    lr_schedule: str | None = None
    temporal_average: float | None = None
    bias_correction: bool = True
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float | None = None
    imdb_features: str = "binary"
    channels: tuple[int, ...] = (64, 64, 128)
    seed: int = 0
    device: str = "cpu"
    out: str = "runs/latest"
    limit: int | None = None
    log_every: int = 50
    inspect_every: int = 0
    progress: bool = True
    data_dir: str | None = None
    download: bool = False
    flush_denormal: bool = False

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
        if self.dataset == "cifar10" and self.model == "vae":
            raise ValueError("--model vae needs pixels in [0, 1] (Bernoulli decoder); CIFAR-10 is whitened: use mnist")
        if self.imdb_features not in IMDB_FEATURES:
            raise ValueError(f"unknown IMDB features {self.imdb_features!r}; choose from {', '.join(IMDB_FEATURES)}")
        if self.bias_correction is False and self.optimizer not in BIAS_CORRECTED:
            raise ValueError(f"turning bias correction off is an option of {', '.join(BIAS_CORRECTED)} only; "
                             f"{self.optimizer} has no such switch")
        defaults = dict(MODEL_DEFAULTS[self.model])
        if self.model == "logreg" and self.optimizer in SELF_ANNEALING:
            defaults["lr_schedule"] = "constant"  # section 6.1's reading: see SELF_ANNEALING
        if self.dataset == "imdb":
            defaults["dropout"] = 0.5  # section 6.1: 50% dropout on the bag-of-words inputs
        fills = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        cfg = dataclasses.replace(self, **fills)
        # (a config read back from a checkpoint may hold anything: each field's type is checked before it is used)
        for name in ("epochs", "batch_size", "seed", "log_every", "inspect_every"):
            if not is_int(getattr(cfg, name)):
                raise ValueError(f"{name} must be an integer, got {getattr(cfg, name)!r}")
        if not (cfg.limit is None or is_int(cfg.limit)):
            raise ValueError(f"limit must be an integer or None, got {cfg.limit!r}")
        if not (isinstance(cfg.channels, (tuple, list)) and all(is_int(c) for c in cfg.channels)):
            raise ValueError(f"channels must be three integers, got {cfg.channels!r}")
        for name in ("lr", "weight_decay", "dropout", "input_dropout", "momentum", "temporal_average"):
            value = getattr(cfg, name)
            if not (value is None or is_number(value)):
                raise ValueError(f"{name} must be a number, got {value!r}")
        best = tuned.lookup(cfg.model, cfg.dataset, cfg.optimizer)
        if cfg.lr is None:
            cfg.lr = best.get("lr", default_lr(cfg.model, cfg.dataset, cfg.optimizer, cfg.lr_schedule))
        if cfg.momentum is None:
            cfg.momentum = best.get("momentum", DEFAULT_MOMENTUM)
        for name in ("lr", "weight_decay"):
            if not 0 <= getattr(cfg, name) < math.inf:
                raise ValueError(f"{name} must be finite and >= 0, got {getattr(cfg, name)}")
        if not 0 <= cfg.seed < 2**32:  # numpy's seeds
            raise ValueError(f"seed must be in [0, 2**32), got {cfg.seed}")
        if len(cfg.channels) != 3 or min(cfg.channels) < 1:
            raise ValueError(f"channels must be three ints >= 1 (the CNN's convolutions), got {cfg.channels}")
        if not 0 <= cfg.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {cfg.dropout}")
        if not 0 <= cfg.input_dropout < 1:
            raise ValueError(f"input dropout must be in [0, 1), got {cfg.input_dropout}")
        if cfg.input_dropout and cfg.model != "cnn":
            raise ValueError(f"--input-dropout is the CNN's (section 6.3); for {cfg.model} use --dropout "
                             f"(logistic regression applies it to the inputs)")
        if cfg.dropout and cfg.model == "vae":  # (build_model has nowhere to put it)
            raise ValueError("--dropout: the VAE of section 6.4 has no dropout layer; leave it at 0")
        if not 0 <= cfg.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {cfg.momentum}")
        if cfg.lr_schedule not in SCHEDULES:
            raise ValueError(f"unknown lr schedule {cfg.lr_schedule!r}; choose from {', '.join(SCHEDULES)}")
        if cfg.epochs < 1 or cfg.batch_size < 1:
            raise ValueError(f"epochs and batch size must be >= 1, got {cfg.epochs} and {cfg.batch_size}")
        if cfg.log_every < 1 or cfg.inspect_every < 0 or (cfg.limit is not None and cfg.limit < 1):
            raise ValueError(f"log_every must be >= 1, inspect_every >= 0 and limit >= 1 (or None), got "
                             f"{cfg.log_every}, {cfg.inspect_every} and {cfg.limit}")
        for name in ("bias_correction", "progress", "download", "flush_denormal"):
            if not isinstance(getattr(cfg, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(cfg, name)!r}")
        if not (isinstance(cfg.betas, (tuple, list)) and len(cfg.betas) == 2 and
                all(is_number(b) and 0 <= b < 1 for b in cfg.betas)):
            raise ValueError(f"betas must be two numbers in [0, 1), got {cfg.betas!r}")
        if cfg.temporal_average is not None and not 0 < cfg.temporal_average < 1:
            raise ValueError(f"temporal average decay must be in (0, 1), got {cfg.temporal_average}")
        if cfg.flush_denormal and not backend.set_flush_denormal(backend.flush_denormal()):  # a no-op where it works
            raise ValueError("--flush-denormal: this machine's CPU or C library cannot flush subnormal numbers to zero "
                             "(x86-64 or AArch64 Linux with glibc can); drop the flag")
        cfg.device = backend.parse_device(cfg.device)
        return cfg

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Config:
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**d)


def is_int(value: object) -> bool:
    """Whether ``value`` is an integer (a bool is not one)."""
    return isinstance(value, (int, numpy.integer)) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (a bool is not one)."""
    return isinstance(value, (int, float, numpy.number)) and not isinstance(value, bool)


def default_lr(model: str, dataset: str, optimizer: str, lr_schedule: str) -> float:
    """The learning rate when neither --lr nor a tuned file gives one: FALLBACK_LR under the 1/sqrt(t) schedule
    it was found with, else DEFAULT_LR."""
    fallback = FALLBACK_LR.get((model, dataset), {}) if lr_schedule == "inv-sqrt" else {}
    return fallback.get(optimizer, DEFAULT_LR[optimizer])


# The settings that only some runs read: per field, whether a run of a config uses it, and what it sets.
USED_BY: dict[str, tuple[Callable[[Config], bool], str]] = {
    "momentum": (lambda c: c.optimizer in USES_MOMENTUM, "SGD-Nesterov's momentum (--optimizer nesterov; plain sgd "
                 "has none)"),
    "channels": (lambda c: c.model == "cnn", "the widths of the CNN's convolutions (--model cnn)"),
    "imdb_features": (lambda c: c.dataset == "imdb", "how IMDB's reviews are encoded (--dataset imdb)"),
    "flush_denormal": (lambda c: not str(c.device).startswith("cuda"), "how the CPU does arithmetic on subnormal "
                       "numbers (the GPU's is its own)"),
}


def unused_options(cfgs: Sequence[Config], given: Iterable[str]) -> list[str]:
    """One message per field in ``given`` (Config names) that no run of ``cfgs`` reads (judged by their model,
    dataset, optimizer and device, which may be unresolved): such an option would be silently ignored."""
    runs = ", ".join(dict.fromkeys(f"{c.model} on {c.dataset} with {c.optimizer}" +
                                   (f" on {c.device}" if str(c.device).startswith("cuda") else "") for c in cfgs))
    return [f"--{f.replace('_', '-')} sets {USED_BY[f][1]}, which no run here reads ({runs}): drop it"
            for f in sorted(set(given) & set(USED_BY)) if not any(USED_BY[f][0](c) for c in cfgs)]


def run_differences(a: Config, b: Config) -> list[str]:
    """The fields, outside SAFE_TO_CHANGE, in which two configs of one run would differ (a resume refuses them)."""
    return [k for k in Config.__dataclass_fields__ if k not in SAFE_TO_CHANGE and getattr(a, k) != getattr(b, k)]


def resume_config(saved: Config, given: dict[str, Any]) -> tuple[Config, list[tuple[str, Any, Any]]]:
    """The config a resumed run continues with: ``saved`` plus the ``given`` fields in SAFE_TO_CHANGE.

    Also returns ``(field, given value, saved value)`` for every other given field whose value differs from the
    saved one (compared after resolving defaults); a caller refuses to resume when that list is not empty.
    """
    wanted = dataclasses.replace(saved, **given).resolved()
    differences = [(k, getattr(wanted, k), getattr(saved, k)) for k in given
                   if k not in SAFE_TO_CHANGE and getattr(wanted, k) != getattr(saved, k)]
    safe = {k: getattr(wanted, k) for k in given if k in SAFE_TO_CHANGE}
    return dataclasses.replace(saved, **safe), differences


def load_checkpoint(path: Path) -> tuple[dict[str, Any], Config]:
    """A run's checkpoint and the config it stores, checked for shape: CheckpointError (one line) if malformed.

    Checks the tree's structure and the config's values; arrays are checked against the model when loaded.
    """
    s = checkpoint.load(path)
    kinds = {"epoch": int, "iteration": int, "model": dict, "optimizer": dict, "rng": dict, "logs": dict,
             "version": str, "config": dict, "scheduler": (dict, type(None)), "average": (dict, type(None))}
    if "config" not in s:
        raise checkpoint.CheckpointError(f"{path} stores no config (an older tinygrad_adam wrote it), so it cannot "
                                         f"be resumed faithfully: start a new run (--overwrite, or another --out)")
    for key, kind in kinds.items():
        if not isinstance(s.get(key), kind) or isinstance(s.get(key), bool) or \
                (kind is int and s[key] < 0):
            raise checkpoint.CheckpointError(f"{path} is malformed: {key!r} is {s.get(key)!r:.60}; {checkpoint.REMEDY}")
    if set(s["logs"]) != set(rundir.LOGS) or \
            not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in s["logs"].values()):
        # (a missing name would read as size 0: the resume would cut that log to nothing)
        raise checkpoint.CheckpointError(f"{path} is malformed: its log sizes are {s['logs']!r:.80}; "
                                         f"{checkpoint.REMEDY}")
    if not backend.valid_rng_state(s["rng"]):  # a bad one would reseed silently: not the run's continuation
        raise checkpoint.CheckpointError(f"{path} is malformed: its random number generator state is damaged; "
                                         f"{checkpoint.REMEDY}")
    opt = s["optimizer"]
    if not isinstance(opt.get("state"), dict) or not isinstance(opt.get("param_groups"), list) or \
            not all(isinstance(g, dict) for g in opt["param_groups"]):
        raise checkpoint.CheckpointError(f"{path} is malformed: its optimizer state has no 'state' dict and "
                                         f"'param_groups' list; {checkpoint.REMEDY}")
    try:
        cfg = Config.from_json(s["config"])
        dataclasses.replace(cfg, device="cpu").resolved()  # all but the device: a resume may move the run
    except (TypeError, ValueError, backend.DeviceError) as e:
        raise checkpoint.CheckpointError(f"{path} stores an invalid config ({e}); "
                                         f"{checkpoint.REMEDY}") from None
    try:  # the stored hyperparameters pass the constructor's checks, before any data is loaded
        probe = build_optimizer(cfg, [Tensor(numpy.zeros(1, numpy.float32), requires_grad=True)])
        for group in opt["param_groups"]:
            probe.check_saved_group(0, group)
            optim.optimizer.check_nonnegative(group, "lr")  # (our schedules never go below 0; torch's may)
    except (TypeError, ValueError) as e:
        raise checkpoint.CheckpointError(f"{path} stores invalid optimizer settings ({e}); "
                                         f"{checkpoint.REMEDY}") from None
    return s, cfg


def check_own_checkpoint(run: Path, saved: Config) -> None:
    """A CheckpointError where the run's ``config.json`` holds other settings than its checkpoint ``saved`` (all
    but those a resume may change): the checkpoint is another run's, copied or moved there. A missing or damaged
    config.json passes: the checkpoint's settings are the run's then (a resume writes the file again)."""
    try:
        kept = Config.from_json(json.loads((run / "config.json").read_text()))
    except (OSError, ValueError, TypeError, AttributeError):
        return
    differ = [f"{k} {getattr(saved, k)!r} (config.json: {getattr(kept, k)!r})" for k in run_differences(saved, kept)]
    if differ:
        raise checkpoint.CheckpointError(f"{run / 'checkpoint.npz'} is not this run's: it was trained with "
                                         f"{', '.join(differ)}; put back the run's own checkpoint, or start again "
                                         f"with --overwrite")


# ------------------------------------------------------------------ building blocks
def load_data(cfg: Config) -> tuple[data.Split, data.Split]:
    """The train and test splits, flattened for every model but the CNN, cut to ``limit`` examples."""
    if cfg.dataset == "mnist":
        train, test = data.load_mnist(cfg.data_dir, download=cfg.download)
        if cfg.model != "cnn":
            train, test = (data.Split(s.x.reshape(len(s.x), -1), s.y) for s in (train, test))
    elif cfg.dataset == "cifar10":
        train, test = data.load_cifar10(cfg.data_dir, download=cfg.download)
        if cfg.model != "cnn":
            train, test = (data.Split(s.x.reshape(len(s.x), -1), s.y) for s in (train, test))
    else:
        train, test = data.load_imdb(cfg.data_dir, download=cfg.download, features=cfg.imdb_features)
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
        return models.CNN(in_channels=c, channels=tuple(cfg.channels), num_classes=num_classes, image_size=h,
                          input_dropout=cfg.input_dropout, dropout=cfg.dropout)
    return models.VAE(in_features)


def build_optimizer(cfg: Config, params: Iterable[Tensor]) -> optim.Optimizer:
    """The optimizer named in ``cfg`` with its learning rate, betas and weight decay."""
    p, lr, wd = list(params), cfg.lr, cfg.weight_decay
    name = cfg.optimizer
    if name in ("adam", "amsgrad"):
        return optim.Adam(p, lr=lr, betas=cfg.betas, weight_decay=wd, amsgrad=name == "amsgrad",
                          bias_correction=cfg.bias_correction)
    if name == "adamw":
        return optim.AdamW(p, lr=lr, betas=cfg.betas, weight_decay=wd, bias_correction=cfg.bias_correction)
    if name == "adamax":
        return optim.Adamax(p, lr=lr, betas=cfg.betas, weight_decay=wd)
    if name == "nadam":
        return optim.NAdam(p, lr=lr, betas=cfg.betas, weight_decay=wd)
    if name in ("sgd", "nesterov"):
        momentum = (DEFAULT_MOMENTUM if cfg.momentum is None else cfg.momentum) if name in USES_MOMENTUM else 0.0
        return optim.SGD(p, lr=lr, momentum=momentum, nesterov=name == "nesterov", weight_decay=wd)
    if name == "adagrad":
        return optim.Adagrad(p, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(p, lr=lr, weight_decay=wd)
    return optim.Adadelta(p, lr=lr, weight_decay=wd)


def has_l2_term(optimizer: str, weight_decay: float | None) -> bool:
    """Whether a run's training cost has an L2 term: weight decay, coupled (AdamW's decoupled decay minimises no
    penalty)."""
    return bool(weight_decay) and optimizer != "adamw"


def l2_penalty(opt: optim.Optimizer) -> float:
    """The L2 term that the optimizer's (coupled) weight decay minimises: the sum over its parameter groups of
    weight_decay / 2 * the squared norm of their parameters (its gradient is the weight_decay * p that the
    optimizers add to each gradient)."""
    total = 0.0
    for group in opt.param_groups:
        if group.get("weight_decay"):
            total += group["weight_decay"] / 2 * sum(float(p.xp.vdot(p._data.ravel(), p._data.ravel()))
                                                     for p in group["params"])
    return total


def training_cost(record: dict[str, Any]) -> float:
    """The training cost of a ``metrics.jsonl`` or ``steps.jsonl`` record: its mean minibatch loss plus its L2
    term where the run has weight decay (the objective the optimizer minimises)."""
    return record["train_loss"] + record.get("train_l2", 0.0)


def build_scheduler(cfg: Config, opt: optim.Optimizer) -> Any:
    """alpha_t = alpha / sqrt(t) per iteration for "inv-sqrt" (section 6.1), else None."""
    return optim.lr_scheduler.InverseSqrtLR(opt) if cfg.lr_schedule == "inv-sqrt" else None


def as_input(x: Any, device: str) -> Any:
    """A minibatch as model input: a Tensor on ``device``, or a sparse CSR batch as it is (the first layer
    moves its arrays to the weights' device)."""
    return x if F.is_csr(x) else Tensor(x, device=device)


def batch_loss(model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None]:
    """Mean minibatch loss (the negative ELBO for the VAE, cross-entropy for classifiers) and the (N, classes)
    logits (None for the VAE)."""
    if isinstance(model, models.VAE):
        return model.loss(x), None
    logits = model(x)
    return F.cross_entropy(logits, y), logits


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
            correct += int((backend.to_numpy(logits._data).argmax(axis=1) == y).sum())
    model.train(was_training)
    n = len(split.y)
    out = {"test_loss": total / n}
    if not isinstance(model, models.VAE):
        out["test_accuracy"] = correct / n
    return out


# ------------------------------------------------------------------ the loop
class Run:
    """One training run: builds everything from a Config, trains epoch by epoch, resumes from its directory."""

    def __init__(self, cfg: Config, log: Callable[[str], None] = print, command: str | None = None,
                 lr_source: str | None = None) -> None:
        self.cfg = cfg = cfg.resolved()
        self.log = log
        self.command = command or shlex.join(sys.argv)  # recorded in config.json
        self.lr_source = lr_source  # where the lr came from, recorded in config.json when given
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
                "rng": backend.get_rng_state(), "config": self.cfg.to_json(), "version": __version__,
                "logs": rundir.log_sizes(self.dir)}

    def save(self) -> Path:
        return checkpoint.save(self.dir / "checkpoint.npz", self.state())

    def resume(self) -> None:
        """Continue from ``checkpoint.npz`` in the run directory, exactly where it stopped.

        The logs are cut back to what the checkpoint covers and stale temporary files are removed, so a run
        killed at any moment continues into the same files as an uninterrupted one.
        """
        path = self.dir / "checkpoint.npz"
        s, saved = load_checkpoint(path)
        check_own_checkpoint(self.dir, saved)
        changed = [f"{k}={getattr(self.cfg, k)!r} (the run has {getattr(saved, k)!r})"
                   for k in run_differences(self.cfg, saved)]
        if changed:
            raise rundir.RunDirError(f"cannot resume {self.dir} with other settings: {', '.join(changed)}; resume "
                                     f"with the run's own config (train.resume_config) or start a new run")
        try:
            self.model.load_state_dict(s["model"])
            self.optimizer.load_state_dict(s["optimizer"])
            if self.scheduler:
                self.scheduler.load_state_dict(s["scheduler"])
            if self.average:
                self.average.load_state_dict(s["average"])
            backend.set_rng_state(s["rng"])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise checkpoint.CheckpointError(f"{path} does not fit this run ({type(e).__name__}: {e}); "
                                             f"{checkpoint.REMEDY}") from None
        rundir.cut_logs(self.dir, s["logs"])
        self.epoch, self.iteration = s["epoch"], s["iteration"]
        rundir.remove_temporaries(self.dir)

    # -------------------------------------------------------------- training
    def train_epoch(self) -> dict[str, float]:
        """One pass over the training data; returns the mean minibatch loss ``train_loss``, with weight decay the
        mean L2 term ``train_l2`` (their sum is the training cost the optimizer minimises) and, for classifiers,
        ``train_accuracy`` (the share of training examples classified right as they were trained on, with
        dropout, as Keras reports it) and ``lr`` (the learning rate of the epoch's last step)."""
        cfg, model = self.cfg, self.model
        model.train()
        self.loader.set_epoch(self.epoch)
        backend.reseed_gpu_streams(self.epoch)  # GPU generators cannot be checkpointed; restart them per epoch
        losses, penalties, window, correct, seen = [], [], [], 0, 0
        bar = Progress(len(self.loader), f"epoch {self.epoch + 1}/{cfg.epochs}", enabled=cfg.progress)
        for x, y in self.loader:
            loss, logits = batch_loss(model, as_input(x, cfg.device), Tensor(y, device=cfg.device))
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDiverged(f"loss became {value} at epoch {self.epoch + 1}, iteration "
                                       f"{self.iteration + 1}; {self.last_good()} (try a smaller --lr)")
            if logits is not None:
                correct += int((backend.to_numpy(logits._data.argmax(axis=1)) == y).sum())
            seen += len(y)
            if has_l2_term(cfg.optimizer, cfg.weight_decay):
                penalties.append(l2_penalty(self.optimizer))  # of the weights that gave this loss
            lr = self.optimizer.param_groups[0]["lr"]
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
            bar.update(loss=sum(losses) / len(losses))
            if self.iteration % cfg.log_every == 0:
                self.log_steps(window, penalties[-len(window):])
                window = []
            if self.inspector and self.iteration % cfg.inspect_every == 0:
                append_jsonl(self.dir / "internals.jsonl", {"iteration": self.iteration, **self.inspector.report()})
        bar.close()
        if window:  # at least one point per epoch, however short
            self.log_steps(window, penalties[-len(window):])
        out = {"train_loss": sum(losses) / len(losses)}
        if penalties:
            out["train_l2"] = sum(penalties) / len(penalties)
        if not isinstance(model, models.VAE):
            out["train_accuracy"] = correct / seen
        return {**out, "lr": lr}

    def log_steps(self, window: list[float], penalties: list[float]) -> None:
        """One training-curve point: the mean loss of the iterations since the last one (and their mean L2 term,
        when the run has one)."""
        point = {"iteration": self.iteration, "train_loss": sum(window) / len(window)}
        if penalties:
            point["train_l2"] = sum(penalties) / len(penalties)
        append_jsonl(self.dir / "steps.jsonl", point)

    def last_good(self) -> str:
        """Where this run's last finite state is, for a divergence message (checkpoints are only written finite,
        and a fresh run never starts beside another run's checkpoint)."""
        ckpt = self.dir / "checkpoint.npz"
        return f"the last good checkpoint is {ckpt}" if ckpt.exists() else \
            f"no epoch finished, so {self.dir} has no checkpoint"

    def fit(self, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
        """Train until ``cfg.epochs``; returns the last epoch's metrics.

        ``resume`` continues the run in ``cfg.out`` from its checkpoint; otherwise a directory that already holds
        a run raises ``rundir.RunDirError`` unless ``overwrite``, which deletes that run's files first.
        """
        rundir.usable(self.dir)
        before = backend.flush_denormal()
        if self.cfg.flush_denormal != before:  # resolved() checked that it can be set
            backend.set_flush_denormal(self.cfg.flush_denormal)
        try:
            with rundir.locked(self.dir):  # one process at a time in a run directory
                return self._fit(resume, overwrite)
        finally:
            if self.cfg.flush_denormal != before:
                backend.set_flush_denormal(before)

    def _fit(self, resume: bool, overwrite: bool) -> dict[str, Any]:
        rundir.claim(self.dir, resume=resume, overwrite=overwrite)
        if resume:
            self.resume()
        else:
            rundir.clear(self.dir)
        record = {**self.cfg.to_json(), "tinygrad_adam_version": __version__, "command": self.command}
        if self.lr_source:
            record["lr_source"] = self.lr_source
        if resume:  # the command that started the run stays (and where its lr came from); each resume is added
            try:
                started = json.loads((self.dir / "config.json").read_text())
            except (OSError, ValueError):  # a missing or damaged config.json: the checkpoint has the settings
                started = {}
            if isinstance(started, dict) and "command" in started:
                record["command"] = started["command"]
                if isinstance(started.get("lr_source"), str):
                    record["lr_source"] = started["lr_source"]
                earlier = started.get("resumed_with")
                record["resumed_with"] = [*(earlier if isinstance(earlier, list) else []), self.command]
        rundir.write_text(self.dir / "config.json", json.dumps(record, indent=2) + "\n")
        metrics: dict[str, Any] = {}
        while self.epoch < self.cfg.epochs:
            start = time.perf_counter()
            train = self.train_epoch()
            seconds = time.perf_counter() - start
            self.epoch += 1
            if self.average:
                with self.average.swapped():
                    test = evaluate(self.model, self.test_split, self.cfg.device)
            else:
                test = evaluate(self.model, self.test_split, self.cfg.device)
            if not math.isfinite(test["test_loss"]):
                raise TrainingDiverged(f"test loss became {test['test_loss']} after epoch {self.epoch} (iteration "
                                       f"{self.iteration}); {self.last_good()} (try a smaller --lr)")
            if not all(bool(p.xp.isfinite(p._data).all()) for p in self.model.parameters()):
                raise TrainingDiverged(f"a parameter became non-finite in epoch {self.epoch} (iteration "
                                       f"{self.iteration}); {self.last_good()} (try a smaller --lr)")
            now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            metrics = {"epoch": self.epoch, "iteration": self.iteration, "time": now, **train, **test,
                       "seconds": seconds}
            append_jsonl(self.dir / "metrics.jsonl", metrics)
            self.save()
            self.log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
                              if k != "time"))
        return metrics


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one line of strict JSON: NaN and infinities become null (JSON has no such numbers)."""
    with open(path, "a") as f:
        f.write(json.dumps(finite_or_none(record), allow_nan=False) + "\n")


def finite_or_none(node: Any) -> Any:
    """``node`` with every non-finite float (in nested dicts and lists) replaced by None."""
    if isinstance(node, dict):
        return {k: finite_or_none(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [finite_or_none(v) for v in node]
    if isinstance(node, float) and not math.isfinite(node):
        return None
    return node
