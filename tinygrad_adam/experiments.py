"""The paper's comparisons (section 6): several optimizers on one model, and the bias-correction sweep.

Every run of a comparison uses the same seed, so the same initial weights and the same data order.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import plots, rundir
from .train import Config, Run, TrainingDiverged

# experiment -> (model, dataset, the optimizers of the paper's figure, log-scale y axis, figure)
EXPERIMENTS: dict[str, tuple[str, str, tuple[str, ...], bool, str]] = {
    "mnist-logreg": ("logreg", "mnist", ("adam", "nesterov", "adagrad"), False, "Figure 1 (left)"),
    "imdb-logreg": ("logreg", "imdb", ("adam", "adagrad", "rmsprop", "nesterov"), False, "Figure 1 (right)"),
    "mnist-mlp": ("mlp", "mnist", ("adam", "adagrad", "rmsprop", "nesterov", "adadelta"), True, "Figure 2"),
    "mnist-cnn": ("cnn", "mnist", ("adam", "adagrad", "nesterov"), True, "Figure 3"),
}


def compare(experiment: str, optimizers: Sequence[str] | None, base: Config, out: str | Path,
            log: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Train each optimizer on the experiment's model; write each run, a plot and ``results.md``."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {experiment!r}; choose from {', '.join(EXPERIMENTS)}")
    model, dataset, default_opts, log_y, figure = EXPERIMENTS[experiment]
    out = Path(out)
    results: dict[str, dict[str, Any]] = {}
    for name in optimizers or default_opts:
        cfg = dataclasses.replace(base, model=model, dataset=dataset, optimizer=name, out=str(out / name))
        log(f"== {experiment}: {name}")
        try:
            results[name] = Run(cfg, log=log).fit()
        except TrainingDiverged as e:
            log(f"   {name} diverged: {e}")
            results[name] = {"diverged": str(e)}
    (out / "results.md").write_text(results_table(experiment, results))
    curves = {name: plots.read_jsonl(out / name / "steps.jsonl") for name in results}
    if any(curves.values()):
        plots.training_curves(curves, out / f"{experiment}.png", log_y=log_y,
                              title=f"{experiment}: training cost ({figure} of Kingma & Ba)")
    else:
        log(f"no plot: every run diverged before its first training-curve point (see {out / 'results.md'})")
    return results


def results_table(experiment: str, results: dict[str, dict[str, Any]]) -> str:
    """Markdown: final training cost, test loss and accuracy, seconds per epoch, one row per optimizer."""
    rows = [f"### {experiment}", "", "| optimizer | train cost | test loss | test accuracy | s/epoch |",
            "| --- | --- | --- | --- | --- |"]
    for name, m in results.items():
        if "diverged" in m:
            rows.append(f"| {name} | diverged | | | |")
            continue
        acc = f"{100 * m['test_accuracy']:.2f}%" if "test_accuracy" in m else ""
        rows.append(f"| {name} | {m['train_loss']:.4f} | {m['test_loss']:.4f} | {acc} | {m['seconds']:.1f} |")
    return "\n".join(rows) + "\n"


# ------------------------------------------------------------------ section 6.4: bias correction
BETA1S = (0.0, 0.9)
BETA2S = (0.99, 0.999, 0.9999)


def bias_correction_sweep(base: Config, out: str | Path, quick: bool = False,
                          log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train the VAE with Adam over beta1 x beta2 x lr, with and without bias correction (Figure 4).

    The lr grid is 1e-5..1e-1; ``quick`` uses 1e-4..1e-2 on the first 5000 examples (unless ``base.limit``).
    """
    out = Path(out)
    log10_lrs: tuple[int, ...] = (-5, -4, -3, -2, -1)
    if quick:
        base, log10_lrs = dataclasses.replace(base, limit=base.limit or 5000), (-4, -3, -2)
    rows: list[dict[str, Any]] = []
    for beta1, beta2, e, corrected in itertools.product(BETA1S, BETA2S, log10_lrs, (True, False)):
        tag = f"b1={beta1}_b2={beta2}_lr=1e{e:+.0f}_{'corrected' if corrected else 'uncorrected'}"
        cfg = dataclasses.replace(base, model="vae", dataset="mnist", optimizer="adam", lr=10.0 ** e,
                                  betas=(beta1, beta2), bias_correction=corrected, out=str(out / tag))
        try:
            m = Run(cfg, log=lambda s: None).fit()
            loss = m["train_loss"]
        except TrainingDiverged:
            loss = math.inf
        row = {"beta1": beta1, "beta2": beta2, "log10_lr": e, "bias_correction": corrected, "train_loss": loss}
        log(f"   {tag}: train loss {loss:.2f}")
        rows.append(row)
    (out / "sweep.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / "results.md").write_text(sweep_table(rows))
    plots.bias_correction_grid(rows, out / "bias_correction.png")
    return rows


def sweep_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: best loss per (beta1, beta2) with and without correction, and the lr that gave it."""
    lines = ["| beta1 | beta2 | with correction (best lr) | without correction (best lr) |",
             "| --- | --- | --- | --- |"]
    for beta1, beta2 in itertools.product(BETA1S, BETA2S):
        cells = []
        for corrected in (True, False):
            sel = [r for r in rows if r["beta1"] == beta1 and r["beta2"] == beta2 and r["bias_correction"] == corrected]
            best = min(sel, key=lambda r: r["train_loss"]) if sel else None
            cells.append(f"{best['train_loss']:.2f} (1e{best['log10_lr']:+.0f})" if best else "")
        lines.append(f"| {beta1} | {beta2} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ entry points of the example scripts
def _example_parser(doc: str, full_epochs: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--epochs", type=int, default=None, help=f"passes over the data (the paper: {full_epochs})")
    p.add_argument("--quick", action="store_true", help="a short run on a subset (README: how long)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="output directory (default runs/<experiment>)")
    p.add_argument("--overwrite", action="store_true", help="replace the runs already in the output directory")
    return p


def claim(out: str, overwrite: bool) -> None:
    """The example's output directory, or exit with one line (it holds runs and ``--overwrite`` was not given)."""
    try:
        rundir.claim_tree(Path(out), overwrite)
    except rundir.RunDirError as e:
        raise SystemExit(f"error: {e}") from None


def main(experiment: str, full_epochs: int, quick_epochs: int, quick_limit: int | None,
         quick_channels: tuple[int, ...] | None = None, argv: Sequence[str] | None = None) -> None:
    """What ``examples/<experiment>.py`` runs: the comparison with its paper settings, or a quick preset."""
    doc = f"{experiment}: {EXPERIMENTS[experiment][4]} of Kingma & Ba"
    args = _example_parser(doc, full_epochs).parse_args(argv)
    base = Config(epochs=args.epochs or (quick_epochs if args.quick else full_epochs), device=args.device)
    if args.quick:
        base.limit = quick_limit
        if quick_channels:
            base.channels = quick_channels
    out = args.out or f"runs/{experiment}"
    claim(out, args.overwrite)
    results = compare(experiment, None, base, out)
    print(results_table(experiment, results))
    if (Path(out) / f"{experiment}.png").exists():  # not when every run diverged before its first point
        print(f"plot: {Path(out) / (experiment + '.png')}")


def main_bias_correction(argv: Sequence[str] | None = None) -> None:
    """What ``examples/vae_bias_correction.py`` runs."""
    args = _example_parser("Section 6.4: bias correction in Adam, on a VAE", 100).parse_args(argv)
    out = args.out or "runs/bias-correction"
    claim(out, args.overwrite)
    rows = bias_correction_sweep(Config(epochs=args.epochs or 1, device=args.device), out, args.quick)
    print(sweep_table(rows))
    print(f"plot: {Path(out) / 'bias_correction.png'}")
