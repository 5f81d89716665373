"""The paper's comparisons (section 6): several optimizers on one model, and the bias-correction sweep.

Every run of a comparison with seed s uses seed s for every optimizer, so the same initial weights and the same
data order. ``compare --seeds N`` repeats each curve with seeds s..s+N-1; figures show the mean and the min-max
band, tables mean ± sd. Learning rates (and SGD-Nesterov's momentum) come from the experiment's tuned file
(``tinygrad-adam tune``), never from hand-set constants. Runs resume: with ``resume=True`` a finished run is read
back from its ``result.json`` and an interrupted one continues from its checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy

from . import plots, rundir, tuned
from .data.files import atomic_path
from .train import (
    DEFAULT_LR,
    Config,
    Run,
    TrainingDiverged,
    has_l2_term,
    load_checkpoint,
    load_data,
    run_differences,
    training_cost,
    unused_options,
)

# The legend names of the paper's figures.
PAPER_NAMES = {"adam": "Adam", "adagrad": "AdaGrad", "nesterov": "SGDNesterov", "rmsprop": "RMSProp",
               "adadelta": "AdaDelta", "adamax": "AdaMax", "amsgrad": "AMSGrad", "adamw": "AdamW", "nadam": "NAdam",
               "sgd": "SGD"}
NO_DROPOUT = (("dropout", 0.0), ("input_dropout", 0.0))


@dataclasses.dataclass(frozen=True)
class Curve:
    """One curve of a figure: a run directory / tuned-file key, an optimizer, and Config fields it fixes."""

    key: str
    optimizer: str
    overrides: tuple[tuple[str, Any], ...] = ()


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A figure of section 6: the model and data, its curves, the paper's length, and how it is drawn.

    overrides: Config fields every curve uses (Figure 2b: no dropout, L2). panels: (x quantity, last x in epochs
    or None for all) per panel, the quantity "epoch" or "seconds" (wall-clock).
    """

    model: str
    dataset: str
    figure: str
    curves: tuple[Curve, ...]
    paper_epochs: int
    log_y: bool
    overrides: tuple[tuple[str, Any], ...] = ()
    panels: tuple[tuple[str, float | None], ...] = (("epoch", None),)


def _curves(*optimizers: str) -> tuple[Curve, ...]:
    return tuple(Curve(o, o) for o in optimizers)


# Figure 3: each optimizer with and without dropout (input 0.2 and fully connected 0.5), six curves.
FIGURE3 = tuple(c for o in ("adagrad", "nesterov", "adam")
                for c in (Curve(f"{o}-nodropout", o, NO_DROPOUT), Curve(o, o)))
MLP_OPTIMIZERS = ("adam", "adagrad", "rmsprop", "nesterov", "adadelta")
EXPERIMENTS: dict[str, Experiment] = {
    "mnist-logreg": Experiment("logreg", "mnist", "Figure 1 (left)", _curves("adam", "nesterov", "adagrad"), 45, False),
    "imdb-logreg": Experiment("logreg", "imdb", "Figure 1 (right)", _curves("adam", "adagrad", "rmsprop", "nesterov"),
                              160, False),
    "mnist-mlp": Experiment("mlp", "mnist", "Figure 2 (a)", _curves(*MLP_OPTIMIZERS), 200, True),
    # The paper's panel (b) compares with SFO (a quasi-Newton method, not implemented here) on the deterministic
    # cost: no dropout, with L2; against iterations and wall-clock time.
    "mnist-mlp-deterministic": Experiment("mlp", "mnist", "Figure 2 (b), without SFO", _curves(*MLP_OPTIMIZERS), 200,
                                          True, overrides=(("dropout", 0.0), ("weight_decay", 1e-4)),
                                          panels=(("epoch", None), ("seconds", None))),
    "mnist-cnn": Experiment("cnn", "mnist", "Figure 3's network on MNIST", FIGURE3, 45, True,
                            panels=(("epoch", 3), ("epoch", None))),
    "cifar10-cnn": Experiment("cnn", "cifar10", "Figure 3", FIGURE3, 45, True, panels=(("epoch", 3), ("epoch", None))),
}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def select_curves(exp: Experiment, names: Sequence[str] | None) -> list[Curve]:
    """The curves named in ``names`` (all when None): an optimizer names all its curves, a key one curve, and in a
    figure with ``X-nodropout`` curves ``X-dropout`` names X's curve with dropout (whose key is plain ``X``, so
    ``X`` alone names both); an unknown name is a ValueError."""
    if not names:
        return list(exp.curves)
    keys = {c.key for c in exp.curves}
    named: dict[str, set[str]] = {}
    for c in exp.curves:
        named.setdefault(c.optimizer, set()).add(c.key)
        named.setdefault(c.key, set()).add(c.key)
        if f"{c.key}-nodropout" in keys:
            named[f"{c.key}-dropout"] = {c.key}
    unknown = [n for n in names if n not in named]
    if unknown:
        raise ValueError(f"unknown optimizer(s) or curve(s) {', '.join(unknown)} for {exp.figure}; choose from "
                         f"{', '.join(sorted(named))}")
    chosen = set().union(*(named[n] for n in names))
    return [c for c in exp.curves if c.key in chosen]


def curve_config(exp: Experiment, curve: Curve, base: Config, chosen: dict[str, Any] | None = None) -> Config:
    """``base`` for one curve: the experiment's model and data, its fixed fields, and the tuned lr / momentum
    (``chosen[curve.key]``) where ``base`` leaves them unset."""
    cfg = dataclasses.replace(base, model=exp.model, dataset=exp.dataset, optimizer=curve.optimizer,
                              **dict(exp.overrides), **dict(curve.overrides))
    best = (chosen or {}).get(curve.key, {})
    if cfg.lr is None and best.get("lr") is not None:
        cfg.lr = best["lr"]
    if cfg.momentum is None and best.get("momentum") is not None:
        cfg.momentum = best["momentum"]
    return cfg


def label(cfg: Config) -> str:
    """The paper's legend name of a resolved config: "Adam", "SGDNesterov+dropout", ..."""
    dropped = cfg.dropout or cfg.input_dropout
    return PAPER_NAMES.get(cfg.optimizer, cfg.optimizer) + ("+dropout" if dropped else "")


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def fit_or_resume(cfg: Config, resume: bool = False, log: Callable[[str], None] = print,
                  wait: bool = False) -> dict[str, Any]:
    """Train ``cfg`` into ``cfg.out``; returns the last epoch's metrics, or ``{"diverged": message}``.

    Each finished run leaves ``result.json`` (its resolved config and result). Without ``resume`` the directory
    must hold no run (``claim_out`` cleared it or refused). With ``resume``, a run whose ``result.json`` has the
    same config is read back without training; one with a checkpoint continues from it under ``rundir``'s rules
    (only the fields in ``train.SAFE_TO_CHANGE`` may differ, so more ``epochs`` extends it, and anything else is a
    RunDirError naming each difference, checked before the data loads); one that never finished an epoch (no
    checkpoint: nothing to lose) starts again. The run's directory is held from the first look to the last write
    (``rundir.locked``): if another process holds it, ``rundir.InUse``, or with ``wait`` wait for it.
    """
    folder = Path(cfg.out)
    folder.mkdir(parents=True, exist_ok=True)
    with rundir.locked(folder, wait=wait):
        return _fit_or_resume(cfg, folder, resume, log)


def fit_each(cfgs: Sequence[Config], resume: bool, log: Callable[[str], None] = print,
             labels: Sequence[str] | None = None, quiet: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """``fit_or_resume`` each of ``cfgs``, yielding (index, metrics) as each ends (``labels[i]``, if given, is
    logged as run i starts; ``quiet`` keeps the runs' own lines out of ``log``). With ``resume``, a run that another
    process is training (the same command started again, to use another core) is left to it and read back at the
    end, once that process lets go of it; so N copies of a command share its runs between N cores."""
    busy, run_log = [], (lambda s: None) if quiet else log
    for i, cfg in enumerate(cfgs):
        if labels:
            log(labels[i])
        try:
            yield i, fit_or_resume(cfg, resume, run_log)
        except rundir.InUse:
            if not resume:
                raise
            log(f"   {cfg.out}: another process is training it; read back once it is done")
            busy.append(i)
    for i in busy:
        yield i, fit_or_resume(cfgs[i], True, run_log, wait=True)


def _fit_or_resume(cfg: Config, folder: Path, resume: bool, log: Callable[[str], None]) -> dict[str, Any]:
    done = folder / "result.json"
    resolved = cfg.resolved()
    previous = read_result(done) if resume else None  # a damaged one is rebuilt from the run's checkpoint
    # (through Config: a field added since the run was written compares at its default)
    if previous and _json(Config.from_json(previous["config"]).to_json()) == _json(resolved.to_json()):
        return previous["metrics"]
    restart = resume and not (folder / "checkpoint.npz").exists()
    if resume and not restart:
        _, saved = load_checkpoint(folder / "checkpoint.npz")
        changed = [f"{k} {getattr(saved, k)!r}, now {getattr(resolved, k)!r}" for k in run_differences(resolved, saved)]
        if changed:
            raise rundir.RunDirError(f"{folder} was trained with other settings ({', '.join(changed)}): resuming "
                                     f"would mix them; give the run's settings, another --out, or --overwrite")
        if saved.epochs > resolved.epochs:
            raise rundir.RunDirError(f"{folder} holds a run of {saved.epochs} epochs, more than the {resolved.epochs} "
                                     f"asked: give --epochs {saved.epochs} or more")
    if restart and rundir.holds_run(folder):
        log(f"   {folder} never finished an epoch (no checkpoint): starting it again")
    done.unlink(missing_ok=True)  # written again below, for this run only
    run = Run(cfg, log=log)
    try:
        metrics = run.fit(resume=resume and not restart, overwrite=restart)
        if not metrics:  # resumed a run that had already finished its epochs
            metrics = next(m for m in reversed(read_records(folder / "metrics.jsonl", "epoch"))
                           if m["epoch"] == run.epoch)
    except TrainingDiverged as e:
        metrics = {"diverged": str(e)}
    with atomic_path(done) as tmp:
        tmp.write_text(json.dumps({"config": run.cfg.to_json(), "metrics": metrics}, indent=1) + "\n")
    return metrics


def read_result(path: Path) -> dict[str, Any] | None:
    """A finished run's ``result.json`` (its "config" and "metrics"); None when it is absent or damaged."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):  # ValueError: not JSON, or not UTF-8
        return None
    whole = isinstance(record, dict) and all(isinstance(record.get(k), dict) for k in ("config", "metrics")) and \
        all(isinstance(record["config"].get(k), str) for k in ("model", "dataset", "optimizer"))
    return record if whole else None


def claim_out(out: str | Path, resume: bool, overwrite: bool, outputs: Sequence[str] = ()) -> Path:
    """``rundir``'s rules for a command that writes several runs under ``out`` (compare, tune, bias-correction):
    runs already there are refused unless ``resume`` (continue them) or ``overwrite`` (delete them first), and so
    are files named as the command's ``outputs`` (its table and figure: a user's own file of that name).
    Returns ``out`` as a Path (an empty ``out`` is refused, not read as the current directory)."""
    if resume and overwrite:
        raise rundir.RunDirError("--resume and --overwrite contradict each other: --resume continues the runs in "
                                 "--out, --overwrite replaces them; give one")
    path = rundir.usable(out)
    if not resume:
        rundir.claim_tree(path, overwrite)
        there = [name for name in outputs if os.path.lexists(path / name)]
        if there and not overwrite:
            raise rundir.RunDirError(f"{path} already has {', '.join(there)}, which this command writes: "
                                     f"--overwrite to replace {'it' if len(there) == 1 else 'them'}, or give "
                                     f"another --out")
    return path


def read_records(path: Path, key: str) -> list[dict[str, Any]]:
    """A JSON-lines file's records, one per value of ``key`` (the last written wins: a run resumed after a crash
    repeats the lines written after its checkpoint), in order of ``key``."""
    by_key = {r[key]: r for r in plots.read_jsonl(path)}
    return [by_key[k] for k in sorted(by_key)]


# ------------------------------------------------------------------ compare
def compare(experiment: str, optimizers: Sequence[str] | None, base: Config, out: str | Path, seeds: int = 1,
            resume: bool = False, tuned_file: str | Path | None = None, overwrite: bool = False,
            log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Train each curve of the experiment's figure with ``seeds`` seeds; write the runs (``out/<curve>/seed<s>``),
    the figure ``out/<experiment>.png`` and ``out/results.md``. Returns per curve its label, resolved config,
    run directories and per-seed results. Runs already in ``out`` are refused unless ``resume`` (read back or
    continue them; a larger ``base.epochs`` extends them) or ``overwrite`` (replace them)."""
    exp = get_experiment(experiment)
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    tuned_path = Path(tuned_file) if tuned_file else tuned.path_of(experiment)
    chosen, source, content = {}, "none: default learning rates (run `tinygrad-adam tune` first)", {}
    if tuned_file or tuned_path.exists():
        content = tuned.read(tuned_path)
        chosen, source = content["chosen"], f"{tuned_path.name} ({describe_budget(content.get('budget'))})"
    else:
        log(f"warning: no tuned file {tuned_path}; using default learning rates, not the paper's tuned ones")
    curves = select_curves(exp, optimizers)
    untuned = [c.key for c in curves if c.key not in chosen]
    if chosen and base.lr is None and untuned:  # those curves would run at the default lr under a "tuned" caption
        raise ValueError(f"{tuned_path} has no tuned values for {', '.join(untuned)}: tune them into it, choose "
                         f"curves it has ({', '.join(chosen)}) with --optimizers, or give --lr")
    curve_cfgs = [(curve, curve_config(exp, curve, base, chosen)) for curve in curves]
    if chosen and base.lr is None:
        unlike = tuned_elsewhere(content, [(c.key, cfg.resolved()) for c, cfg in curve_cfgs])
        if unlike:  # the rates were searched under other settings than these runs': said in the caption too
            log(f"warning: {tuned_path} was tuned under other settings than these runs ({'; '.join(unlike)})")
            source += f"; tuned under other settings: {'; '.join(unlike)}"
    out = claim_out(out, resume, overwrite, ("results.md", f"{experiment}.png"))  # (after the tuned file is read:
    # a bad one leaves no directory behind)
    results: dict[str, dict[str, Any]] = {}
    runs: list[tuple[dict[str, Any], Config, str]] = []  # (its curve's entry, config, label) per run, in order
    for curve, cfg in curve_cfgs:
        resolved = cfg.resolved()
        entry = results[curve.key] = {"label": label(resolved), "config": resolved.to_json(), "dirs": [], "runs": []}
        for seed in range(base.seed, base.seed + seeds):
            entry["dirs"].append(str(out / curve.key / f"seed{seed}"))
            runs.append((entry, dataclasses.replace(cfg, seed=seed, out=entry["dirs"][-1]),
                         f"== {experiment}: {entry['label']} (lr {resolved.lr:g}), seed {seed}"))
    metrics = dict(fit_each([r[1] for r in runs], resume, log, labels=[r[2] for r in runs]))
    for i, (entry, _, _) in enumerate(runs):
        entry["runs"].append(metrics[i])
    n_train = len(load_data(dataclasses.replace(base, model=exp.model, dataset=exp.dataset).resolved())[0].y)
    caption = figure_caption(experiment, results, base.epochs, n_train, seeds, source)
    (out / "results.md").write_text(results_table(experiment, results, caption))
    draw(experiment, results, out, caption, log)
    return results


def draw(experiment: str, results: dict[str, dict[str, Any]], out: Path, caption: str,
         log: Callable[[str], None] = print) -> Path | None:
    """The figure ``out/<experiment>.png`` of ``results``; None (after saying so) when no run has a point."""
    exp = EXPERIMENTS[experiment]
    series = curve_series(results)
    if not any(len(s["mean"]) for s in series):
        log(f"no plot: every run diverged before its first training-curve point (see {out / 'results.md'})")
        return None
    return plots.comparison(series, out / f"{experiment}.png", panels=exp.panels, log_y=exp.log_y, title=caption)


def read_compare_dir(folder: Path) -> tuple[str, str, dict[str, dict[str, Any]]] | None:
    """The experiment, caption and results of a ``compare`` output directory (from its ``results.md`` and each
    ``<curve>/seed<s>/result.json``); None when ``folder`` is not one."""
    table, found = folder / "results.md", sorted(folder.glob("*/seed*/result.json"))
    if not table.exists() or not found:
        return None
    lines = table.read_text().splitlines()
    experiment = lines[0].removeprefix("### ").strip() if lines else ""
    if experiment not in EXPERIMENTS:
        return None
    caption = "\n".join(line.rstrip() for line in itertools.takewhile(str.strip, lines[2:]))
    results: dict[str, dict[str, Any]] = {}
    for path in found:
        record = read_result(path)
        if record is None:
            raise rundir.RunDirError(f"{path} is damaged: run the same compare with --resume to write it again "
                                     f"from its run, then plot")
        entry = results.setdefault(path.parent.parent.name, {
            "label": label(Config.from_json(record["config"])), "config": record["config"], "dirs": [], "runs": []})
        entry["dirs"].append(str(path.parent))
        entry["runs"].append(record["metrics"])
    return experiment, caption, results


def plot_dir(directory: str | Path) -> list[Path]:
    """The PNGs of a run, bias-correction (``plots.plot_dir``) or compare directory (its figure, drawn again from
    the runs' logs)."""
    folder = Path(directory)
    found = read_compare_dir(folder) if folder.is_dir() else None
    if found is None:
        return plots.plot_dir(folder)
    experiment, caption, results = found
    path = draw(experiment, results, folder, caption, log=lambda s: None)
    if path is None:
        raise ValueError(f"no training-curve points to plot in {folder}: every run diverged before its first point")
    return [path]


def tuned_elsewhere(content: dict[str, Any], curves: Sequence[tuple[str, Config]]) -> list[str]:
    """The settings under which a tuned file's rates were searched that differ from the resolved configs of the
    curves (key, config) that take them: batch size, IMDB features (its budget), each curve's lr schedule."""
    budget = content.get("budget") if isinstance(content.get("budget"), dict) else {}
    found = []
    for key, cfg in curves:
        was = content["chosen"].get(key, {}).get("lr_schedule")
        if was is not None and was != cfg.lr_schedule:
            found.append(f"{key} lr schedule {was}, here {cfg.lr_schedule}")
    for field in ("batch_size", "imdb_features"):
        here = {getattr(cfg, field) for _, cfg in curves if field != "imdb_features" or cfg.dataset == "imdb"}
        was = budget.get(field)
        if was is not None and here and here != {was}:
            found.append(f"{field.replace('_', ' ')} {was}, here {', '.join(map(str, sorted(here)))}")
    return found


def train_lr_source(cfg: Config) -> tuple[str, list[str]]:
    """Where ``train`` takes the learning rate of ``cfg`` (before ``resolved()``) from, as config.json records it,
    and the settings (``tuned_elsewhere``) under which a tuned rate was searched that differ from this run's."""
    if cfg.lr is not None:
        return "given (--lr)", []
    resolved = cfg.resolved()
    found = tuned.find(cfg.model, cfg.dataset, cfg.optimizer)
    if found is None:
        where = "hand-searched fallback (train.FALLBACK_LR)" if resolved.lr != DEFAULT_LR[cfg.optimizer] else \
            "default (train.DEFAULT_LR)"
        return f"{where} for {cfg.optimizer}", []
    path, key, content = found
    unlike = tuned_elsewhere(content, [(key, resolved)])
    source = f"tuned: {path.name}, curve {key} ({describe_budget(content.get('budget'))})"
    return source + (f"; tuned under other settings: {'; '.join(unlike)}" if unlike else ""), unlike


def ignored_options(exp: Experiment, curves: Sequence[Curve], base: Config, given: Iterable[str]) -> list[str]:
    """One message per field in ``given`` that no selected curve of ``exp`` would use: one that no run reads
    (``train.unused_options``), or one that every curve fixes itself (Figure 2b's dropout, a no-dropout curve's)."""
    given = set(given)
    found = unused_options([curve_config(exp, c, base) for c in curves], given)
    for field in sorted(given & set(Config.__dataclass_fields__)):
        if all(field in dict(exp.overrides + c.overrides) for c in curves):
            found.append(f"--{field.replace('_', '-')} is fixed by every curve chosen of {exp.figure} "
                         f"({', '.join(c.key for c in curves)}), so it would have no effect: drop it")
    return found


def describe_budget(budget: Any) -> str:
    """What a tuned file's ``budget`` was; "budget not recorded" when it has none (a hand-written file)."""
    if not isinstance(budget, dict) or not isinstance(budget.get("epochs"), int) or \
            not isinstance(budget.get("seeds"), list) or not isinstance(budget.get("limit"), (int, type(None))):
        return "budget not recorded"
    examples = f"{budget['limit']:,} examples" if budget.get("limit") else "all examples"
    return f"tuned for {budget['epochs']} epoch(s) on {examples}, {len(budget['seeds'])} seed(s)"


def figure_caption(experiment: str, results: dict[str, dict[str, Any]], epochs: int, n_train: int, seeds: int,
                   source: str) -> str:
    """What the figure shows and under which settings (the settings that differ between curves per curve)."""
    exp = EXPERIMENTS[experiment]
    configs = [r["config"] for r in results.values()]
    lines = [f"{exp.figure} of Kingma & Ba: {exp.model} on {exp.dataset} ({n_train:,} training examples), "
             f"{epochs} of the paper's {exp.paper_epochs} epochs, {seeds} seed(s)"]
    settings = [f"{name} {configs[0][k]:g}" for k, name in (("weight_decay", "L2"), ("batch_size", "batch"))
                if configs and all(c[k] == configs[0][k] for c in configs)]
    if exp.dataset == "imdb" and configs:
        settings.append(f"{configs[0]['imdb_features']} bag-of-words")
    if any(c.get("flush_denormal") for c in configs):
        settings.append("subnormals flushed to zero")
    if any(has_l2_term(c["optimizer"], c["weight_decay"]) for c in configs):
        logged = [("train_l2" in m) for r in results.values() for m in r["runs"] if "diverged" not in m]
        settings.append("training cost with its L2 term" if all(logged) else
                        "training cost without its L2 term (runs logged before it was)" if not any(logged) else
                        "training cost with its L2 term in some runs only")
    for schedule, words in (("inv-sqrt", "alpha/sqrt(t)"), ("constant", "constant alpha")):
        names = sorted({PAPER_NAMES.get(c["optimizer"], c["optimizer"]) for c in configs
                        if c["lr_schedule"] == schedule})
        if names:
            settings.append(f"{words}: {', '.join(names)}")
    lines.append("; ".join(settings))
    lines.append(f"lr: {source}")
    return "\n".join(lines)


def _stats(values: Sequence[float], digits: int = 4) -> str:
    """``mean ± sd`` (sample sd) of ``values``; the mean alone for one value; "" for none."""
    if not values:
        return ""
    mean = float(numpy.mean(values))
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {float(numpy.std(values, ddof=1)):.{digits}f}"


def results_table(experiment: str, results: dict[str, dict[str, Any]], caption: str = "") -> str:
    """Markdown, one row per curve: the settings that matter, then mean ± sd (sample sd over seeds) of the last
    epoch's training cost, test loss and accuracy, seconds per epoch, and how many seeds diverged."""
    rows = [f"### {experiment}", ""] + ([f"{line}  " for line in caption.splitlines()] + [""] if caption else [])
    rows += ["| curve | lr | momentum | dropout | train cost | test loss | test accuracy (%) | s/epoch | seeds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for entry in results.values():
        cfg, runs = entry["config"], entry["runs"]
        ok = [m for m in runs if "diverged" not in m]
        momentum = f"{cfg['momentum']:g}" if cfg["optimizer"] == "nesterov" else ""
        dropout = f"{cfg['input_dropout']:g}/{cfg['dropout']:g}" if cfg["model"] == "cnn" else f"{cfg['dropout']:g}"
        seeds = f"{len(runs)}" + (f" ({len(runs) - len(ok)} diverged)" if len(ok) < len(runs) else "")
        acc = [100 * m["test_accuracy"] for m in ok if "test_accuracy" in m]
        rows.append(f"| {entry['label']} | {cfg['lr']:g} | {momentum} | {dropout} "
                    f"| {_stats([training_cost(m) for m in ok])} | {_stats([m['test_loss'] for m in ok])} "
                    f"| {_stats(acc, 2)} | {_stats([m['seconds'] for m in ok], 1)} | {seeds} |")
    return "\n".join(rows) + "\n"


def run_curve(run_dir: Path) -> dict[str, numpy.ndarray] | None:
    """One run's training curve: iteration, epoch (fractional) and wall-clock seconds per ``steps.jsonl`` point.

    Seconds are the per-epoch training times of ``metrics.jsonl`` (evaluation excluded), spread linearly over each
    epoch's iterations; points after the last finished epoch are dropped. None when no epoch finished.
    """
    metrics = read_records(run_dir / "metrics.jsonl", "epoch")
    steps = read_records(run_dir / "steps.jsonl", "iteration")
    if not metrics or not steps:
        return None
    per_epoch = metrics[0]["iteration"] / metrics[0]["epoch"]
    it = numpy.array([s["iteration"] for s in steps], dtype=float)
    keep = it <= metrics[-1]["iteration"]
    it, loss = it[keep], numpy.array([training_cost(s) for s in steps], dtype=float)[keep]
    seconds = numpy.array([m["seconds"] for m in metrics])
    ends = numpy.concatenate([[0.0], numpy.cumsum(seconds)])
    epoch = it / per_epoch
    whole = numpy.minimum(numpy.ceil(epoch).astype(int) - 1, len(seconds) - 1)
    wall = ends[whole] + seconds[whole] * (epoch - whole)
    return {"iteration": it, "epoch": epoch, "seconds": wall, "loss": loss}


def curve_series(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per curve, the mean and min-max over its finished seeds at the iterations all of them logged."""
    series = []
    for entry in results.values():
        runs = [run_curve(Path(d)) for d, m in zip(entry["dirs"], entry["runs"]) if "diverged" not in m]
        runs = [r for r in runs if r is not None]
        if not runs:
            continue
        common = sorted(set.intersection(*(set(r["iteration"].tolist()) for r in runs)))
        picked = [{k: v[numpy.isin(r["iteration"], common)] for k, v in r.items()} for r in runs]
        losses = numpy.stack([p["loss"] for p in picked])
        series.append({"label": entry["label"], "optimizer": entry["config"]["optimizer"],
                       "epoch": picked[0]["epoch"], "seconds": numpy.mean([p["seconds"] for p in picked], axis=0),
                       "mean": losses.mean(axis=0), "lo": losses.min(axis=0), "hi": losses.max(axis=0),
                       "seeds": len(runs)})
    return series


# ------------------------------------------------------------------ section 6.4: bias correction
BETA1S = (0.0, 0.9)
BETA2S = (0.99, 0.999, 0.9999)


def bias_correction_sweep(base: Config, out: str | Path, quick: bool = False, resume: bool = False,
                          beta2s: Sequence[float] = BETA2S, overwrite: bool = False,
                          log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train the VAE with Adam over beta1 x beta2 x lr, with and without bias correction (Figure 4).

    The lr grid is 1e-5..1e-1; ``quick`` uses 1e-4..1e-2 on the first 5000 examples (unless ``base.limit``).
    ``beta2s`` selects columns of the figure (the 100-epoch run: 0.9999 only). A diverged run is recorded with
    loss inf and ``"diverged": true``.
    """
    twice = sorted({b for b in beta2s if list(beta2s).count(b) > 1})
    if twice:  # (their runs would share directories: the second would find the first's run there)
        raise ValueError(f"beta2s: {', '.join(map(str, twice))} given more than once; give each column once")
    for beta1, beta2 in itertools.product(BETA1S, beta2s):  # bad settings are refused before a directory is made
        dataclasses.replace(base, model="vae", dataset="mnist", optimizer="adam", betas=(beta1, beta2)).resolved()
    out = claim_out(out, resume, overwrite, ("sweep.json", "results.md", "title.txt", "bias_correction.png"))
    log10_lrs: tuple[int, ...] = (-5, -4, -3, -2, -1)
    if quick:
        base, log10_lrs = dataclasses.replace(base, limit=base.limit or 5000), (-4, -3, -2)
    grid = list(itertools.product(BETA1S, beta2s, log10_lrs, (True, False)))
    tags = [f"b1={b1}_b2={b2}_lr=1e{e:+.0f}_{'corrected' if c else 'uncorrected'}" for b1, b2, e, c in grid]
    cfgs = [dataclasses.replace(base, model="vae", dataset="mnist", optimizer="adam", lr=10.0 ** e, betas=(b1, b2),
                                bias_correction=c, out=str(out / tag)) for (b1, b2, e, c), tag in zip(grid, tags)]
    found = {}
    for i, m in fit_each(cfgs, resume, log, quiet=True):
        found[i] = m
        log(f"   {tags[i]}: train loss {math.inf if 'diverged' in m else training_cost(m):.2f}")
    rows = [{"beta1": b1, "beta2": b2, "log10_lr": e, "bias_correction": c, "diverged": "diverged" in found[i],
             "train_loss": math.inf if "diverged" in found[i] else training_cost(found[i])}
            for i, (b1, b2, e, c) in enumerate(grid)]
    n_train = len(load_data(dataclasses.replace(base, model="vae", dataset="mnist").resolved())[0].y)
    (out / "sweep.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / "results.md").write_text(sweep_table(rows))
    title = (f"Figure 4 of Kingma & Ba: VAE, Adam with (red) and without (green) bias correction, {base.epochs} "
             f"epoch(s) on {n_train:,} examples")
    (out / "title.txt").write_text(title + "\n")  # for `tinygrad-adam plot`, which draws the figure again
    plots.bias_correction_grid(rows, out / "bias_correction.png", title=title)
    return rows


def sweep_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: best loss per (beta1, beta2) with and without correction, and the lr that gave it."""
    lines = ["| beta1 | beta2 | with correction (best lr) | without correction (best lr) |",
             "| --- | --- | --- | --- |"]
    for beta1, beta2 in sorted({(r["beta1"], r["beta2"]) for r in rows}):  # the settings run (--beta2s may differ)
        cells = []
        for corrected in (True, False):
            sel = [r for r in rows if r["beta1"] == beta1 and r["beta2"] == beta2 and r["bias_correction"] == corrected]
            best = min(sel, key=lambda r: r["train_loss"]) if sel else None
            cells.append(f"{best['train_loss']:.2f} (1e{best['log10_lr']:+.0f})" if best else "")
        if any(cells):
            lines.append(f"| {beta1} | {beta2} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ entry points of the example scripts
def _example_parser(doc: str, epochs_help: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--epochs", type=int, default=None, help=f"passes over the data ({epochs_help})")
    p.add_argument("--quick", action="store_true", help="a short run on a subset (README: how long)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per curve (mean and min-max band)")
    p.add_argument("--resume", action="store_true", help="read back finished runs, continue unfinished ones")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="output directory (default runs/<experiment>)")
    p.add_argument("--overwrite", action="store_true", help="replace the runs already in the output directory")
    return p


def main(experiment: str, full_epochs: int, quick_epochs: int, quick_limit: int | None,
         quick_channels: tuple[int, ...] | None = None, argv: Sequence[str] | None = None) -> None:
    """What ``examples/<experiment>.py`` runs: the comparison with its paper settings, or a quick preset."""
    doc = f"{experiment}: {EXPERIMENTS[experiment].figure} of Kingma & Ba"
    args = _example_parser(doc, f"default and the paper: {full_epochs}; with --quick: {quick_epochs}").parse_args(argv)
    base = Config(epochs=args.epochs or (quick_epochs if args.quick else full_epochs), device=args.device)
    if args.quick:
        base.limit = quick_limit
        if quick_channels:
            base.channels = quick_channels
    out = args.out or f"runs/{experiment}"
    try:
        results = compare(experiment, None, base, out, seeds=args.seeds, resume=args.resume, overwrite=args.overwrite)
    except rundir.RunDirError as e:  # runs already in the output directory: one line
        raise SystemExit(f"error: {e}") from None
    print(results_table(experiment, results))
    if (Path(out) / f"{experiment}.png").exists():  # not when every run diverged before its first point
        print(f"plot: {Path(out) / (experiment + '.png')}")


def main_bias_correction(argv: Sequence[str] | None = None) -> None:
    """What ``examples/vae_bias_correction.py`` runs."""
    args = _example_parser("Section 6.4: bias correction in Adam, on a VAE",
                           "default: 1; the paper's Figure 4 shows the loss after 10 and after 100").parse_args(argv)
    out = args.out or "runs/bias-correction"
    try:
        rows = bias_correction_sweep(Config(epochs=args.epochs or 1, device=args.device), out, args.quick,
                                     args.resume, overwrite=args.overwrite)
    except rundir.RunDirError as e:
        raise SystemExit(f"error: {e}") from None
    print(sweep_table(rows))
    print(f"plot: {Path(out) / 'bias_correction.png'}")

