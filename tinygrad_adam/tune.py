"""``tinygrad-adam tune``: one learning-rate search, on one budget, for every optimizer of a figure (Adam included).

The paper searched its hyperparameters "over a dense grid" and reports the best. Here every curve of the figure
gets the same search: learning rates on a half-decade grid (10^(k/2): 1e-3, 3.16e-3, 1e-2, ...), starting from five
points centred on the optimizer's usual rate (or the ``lrs`` given), widened one half-decade at a time while the
best score sits on an edge of the grid (up to ``max_widen`` times, so the optimum ends bracketed); SGD-Nesterov is
searched for each momentum in {0.5, 0.9, 0.99}. The score is the training cost of the last epoch (the quantity of
the paper's figures), averaged over the seeds; a diverged run scores inf. Every trial is a run directory under
``out`` and is read back when the search is run again, so an interrupted search resumes.

The result is one JSON file (by default the committed ``tinygrad_adam/tuned/<experiment>.json``) with the grid,
the budget, every trial's score and the chosen values, which ``compare`` and ``train`` read.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import rundir, tuned
from .data.files import atomic_path
from .experiments import Curve, Experiment, curve_config, fit_or_resume, get_experiment, select_curves
from .train import DEFAULT_LR, USES_MOMENTUM, Config, training_cost

MOMENTA = (0.5, 0.9, 0.99)
MOMENTUM_METHODS = USES_MOMENTUM  # (the optimizers whose momentum is searched)
# The run settings that change a trial's score, and the option of ``tune`` that sets each: the tuned file's
# "command" names every one that differs from Config's default, so that running it again gives the same file.
SCORE_OPTIONS = {"batch_size": "--batch-size", "weight_decay": "--weight-decay", "dropout": "--dropout",
                 "input_dropout": "--input-dropout", "lr_schedule": "--lr-schedule", "imdb_features": "--imdb-features",
                 "channels": "--channels", "seed": "--seed", "flush_denormal": "--flush-denormal"}


def command_line(experiment: str, base: Config, optimizers: Sequence[str] | None, lrs: Sequence[float] | None,
                 momenta: Sequence[float], max_widen: int, seeds: int) -> str:
    """The ``tinygrad-adam tune`` command that repeats this search: every option whose value is not the default."""
    default = Config()
    words = [f"tinygrad-adam tune --experiment {experiment} --epochs {base.epochs}"]
    for field, flag in SCORE_OPTIONS.items():
        value = getattr(base, field)
        if value == getattr(default, field):
            continue
        if isinstance(value, bool):  # a switch: named when on
            words.append(flag)
        elif isinstance(value, (tuple, list)):
            words.append(f"{flag} {','.join(map(str, value))}")
        else:
            words.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    for flag, value in (("--limit", base.limit), ("--seeds", seeds if seeds > 1 else None),
                        ("--optimizers", ",".join(optimizers) if optimizers else None),
                        ("--lrs", ",".join(f"{lr:g}" for lr in lrs) if lrs else None),
                        ("--momenta", ",".join(f"{m:g}" for m in momenta) if tuple(momenta) != MOMENTA else None),
                        ("--max-widen", max_widen if max_widen != 4 else None)):
        if value is not None:
            words.append(f"{flag} {value}")
    return " ".join(words)


def start_grid(optimizer: str) -> list[float]:
    """log10 of five half-decade learning rates centred on the optimizer's usual one (``train.DEFAULT_LR``)."""
    centre = round(2 * math.log10(DEFAULT_LR[optimizer])) / 2
    return [centre + d for d in (-1.0, -0.5, 0.0, 0.5, 1.0)]


def half_decade(lrs: Sequence[float]) -> list[float]:
    """log10 of learning rates given by value, each rounded to the nearest half decade (3e-3 -> -2.5)."""
    if any(not 0 < lr < math.inf for lr in lrs):
        raise ValueError(f"learning rates must be finite and > 0, got {list(lrs)}")
    return sorted({round(2 * math.log10(lr)) / 2 for lr in lrs})


def trial(exp: Experiment, curve: Curve, base: Config, log10_lr: float, momentum: float | None, seeds: Sequence[int],
          folder: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Train one grid point with every seed; its score is the mean last-epoch training cost (inf if one diverged)."""
    cfg = curve_config(exp, curve, base)
    cfg = dataclasses.replace(cfg, lr=10.0 ** log10_lr, momentum=momentum, progress=False)
    losses = []
    for seed in seeds:
        m = fit_or_resume(dataclasses.replace(cfg, seed=seed, out=str(folder / f"seed{seed}")), True,
                          log=lambda s: None)
        losses.append(math.inf if "diverged" in m else training_cost(m))
    score = sum(losses) / len(losses)
    mom = "" if momentum is None else f", momentum {momentum:g}"
    log(f"   {curve.key}: lr 1e{log10_lr:+.1f}{mom}: training cost {score:.4f}")
    return {"log10_lr": log10_lr, "lr": 10.0 ** log10_lr, "momentum": momentum, "score": score,
            "diverged": not math.isfinite(score)}


def search(exp: Experiment, curve: Curve, base: Config, start: Sequence[float], momentum: float | None,
           max_widen: int, seeds: Sequence[int], out: Path, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Trials over ``start`` (log10 lrs), widened by half decades while the best is on an edge."""
    scores: dict[float, dict[str, Any]] = {}
    grid = sorted(start)
    for _ in range(max_widen + 1):
        for k in grid:
            if k not in scores:
                tag = f"lr{k:+.1f}" + ("" if momentum is None else f"_m{momentum:g}")
                scores[k] = trial(exp, curve, base, k, momentum, seeds, out / curve.key / tag, log)
        best = min(scores.values(), key=lambda t: (t["score"], t["log10_lr"]))["log10_lr"]
        if best == grid[0]:
            grid.insert(0, grid[0] - 0.5)
        elif best == grid[-1]:
            grid.append(grid[-1] + 0.5)
        else:
            break
    return [scores[k] for k in sorted(scores)]


def tune(experiment: str, optimizers: Sequence[str] | None, base: Config, out: str | Path,
         tuned_file: str | Path | None = None, lrs: Sequence[float] | None = None,
         momenta: Sequence[float] = MOMENTA, max_widen: int = 4, seeds: int = 1, overwrite: bool = False,
         log: Callable[[str], None] = print) -> dict[str, Any]:
    """Search every selected curve of ``experiment``; write and return the tuned file's content."""
    exp = get_experiment(experiment)
    path = Path(tuned_file) if tuned_file else tuned.path_of(experiment)
    if path.is_dir():
        raise ValueError(f"--tuned-file {path} is a directory: give the path of a JSON file")
    if path.exists() and not overwrite:
        raise ValueError(f"{path} exists; pass --overwrite to replace it (or --tuned-file to write elsewhere)")
    try:  # checked now, not after the search: the folder the file will be written into
        path.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path.parent).close()
    except OSError as e:
        why = "a folder above it is a file" if isinstance(e, (FileExistsError, NotADirectoryError)) else e.strerror
        raise ValueError(f"cannot write the tuned file {path} ({why}): give --tuned-file a path in a writable "
                         f"directory") from None
    if base.lr is not None or base.momentum is not None:
        raise ValueError("tune searches the learning rate and momentum: do not give --lr or --momentum")
    if base.temporal_average is not None:  # (it changes the test evaluation only)
        raise ValueError("tune scores the training cost, which --temporal-average does not change: drop it")
    if seeds < 1 or max_widen < 0:
        raise ValueError(f"seeds must be >= 1 and max-widen >= 0, got {seeds} and {max_widen}")
    if not all(0 <= m < 1 for m in momenta):  # checked before the first trial's directory is made
        raise ValueError(f"--momenta must be in [0, 1), got {list(momenta)}")
    out = rundir.usable(out, create=False)  # trials are continued, so runs there are welcome; a file is not
    seed_list = list(range(base.seed, base.seed + seeds))
    curves = select_curves(exp, optimizers)
    if tuple(momenta) != MOMENTA and not any(c.optimizer in MOMENTUM_METHODS for c in curves):
        raise ValueError(f"--momenta are tried for {', '.join(MOMENTUM_METHODS)} only, and no curve chosen "
                         f"({', '.join(c.key for c in curves)}) is one: drop it")
    chosen: dict[str, dict[str, Any]] = {}
    trials: dict[str, list[dict[str, Any]]] = {}
    for curve in curves:
        log(f"== tune {experiment}: {curve.key}")
        start = half_decade(lrs) if lrs else start_grid(curve.optimizer)
        rows: list[dict[str, Any]] = []
        for momentum in (momenta if curve.optimizer in MOMENTUM_METHODS else (None,)):
            found = search(exp, curve, base, start, momentum, max_widen, seed_list, out, log)
            best = min(found, key=lambda t: (t["score"], t["log10_lr"]))
            best["bracketed"] = found[0] is not best and found[-1] is not best
            rows += found
        best = min((r for r in rows if "bracketed" in r), key=lambda t: (t["score"], t["log10_lr"]))
        resolved = dataclasses.replace(curve_config(exp, curve, base), lr=best["lr"],
                                       momentum=best["momentum"]).resolved()
        chosen[curve.key] = {"optimizer": curve.optimizer, "overrides": dict(exp.overrides + curve.overrides),
                             "lr": best["lr"], "momentum": best["momentum"], "score": best["score"],
                             "bracketed": best["bracketed"], "lr_schedule": resolved.lr_schedule}
        if not best["bracketed"]:
            log(f"warning: {curve.key}'s best lr {best['lr']:g} is still on the grid's edge after {max_widen} "
                f"widenings (raise --max-widen)")
        trials[curve.key] = [{k: v for k, v in r.items() if k != "bracketed"} for r in rows]
    resolved = dataclasses.replace(base, model=exp.model, dataset=exp.dataset).resolved()
    content = {
        "experiment": experiment, "figure": exp.figure, "model": exp.model, "dataset": exp.dataset,
        "command": command_line(experiment, base, optimizers, lrs, momenta, max_widen, seeds),
        "budget": {"epochs": base.epochs, "limit": base.limit, "seeds": seed_list,
                   "batch_size": resolved.batch_size, "imdb_features": resolved.imdb_features},
        "score": "training cost (mean minibatch loss, plus the L2 term with weight decay) of the last epoch, mean "
                 "over seeds; inf if a seed diverged",
        "grid": {"spacing": "half decade: lr = 10^(k/2)", "start": list(half_decade(lrs)) if lrs else
                 "five points centred on train.DEFAULT_LR", "widened": f"while the best is on an edge, "
                 f"at most {max_widen} times", "momenta (SGD-Nesterov)": list(momenta)},
        "chosen": chosen, "trials": trials,
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(content, indent=1) + "\n")
    log(f"tuned values written to {path}")
    return content
