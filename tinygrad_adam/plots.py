"""PNG plots of runs: the paper's comparison curves, the bias-correction grid, and one run's internals.

matplotlib is an optional extra (``pip install "tinygrad-adam[examples]"``); it is imported on first use.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .rundir import RunDirError


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed; the message says how to install it."""


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend, or a clear error saying how to install it."""
    try:
        import matplotlib
    except ImportError as e:
        raise PlotUnavailableError('plots need matplotlib: pip install "tinygrad-adam[examples]"') from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


# one colour per optimizer in every figure; where a figure has both, curves without dropout are dashed
COLOURS = {"adam": "tab:red", "adagrad": "tab:blue", "nesterov": "tab:green", "rmsprop": "tab:purple",
           "adadelta": "tab:orange"}
X_LABELS = {"epoch": "iterations over entire dataset (epochs)", "seconds": "wall-clock time (s, training only)"}


def comparison(series: Sequence[dict[str, Any]], path: str | Path, panels: Sequence[tuple[str, float | None]] = (
        ("epoch", None),), log_y: bool = False, title: str = "training cost") -> Path:
    """The paper's comparison figures: per curve the mean training cost over seeds, and the min-max band.

    series: dicts with "label", "optimizer", "epoch" and "seconds" (x values), "mean", "lo", "hi" (same length).
    panels: per panel the x quantity ("epoch" or "seconds") and the last epoch shown (None: all).
    Raises ValueError, writing nothing, when no curve has a point: a figure is never saved empty.
    """
    if not any(len(s["mean"]) for s in series):
        raise ValueError(f"no training-curve points to plot for {', '.join(s['label'] for s in series) or 'no run'}: "
                         f"nothing written to {path}")
    plt = pyplot()
    width = max(7.2, 6.0 * len(panels))  # inches
    fig, axes = plt.subplots(1, len(panels), figsize=(width, 4.8), squeeze=False)
    mixed = len({"+dropout" in s["label"] for s in series}) == 2  # Figure 3: without dropout dashed
    for ax, (quantity, last_epoch) in zip(axes[0], panels):
        for s in series:
            keep = s["epoch"] <= last_epoch if last_epoch is not None else slice(None)
            x = s[quantity][keep]
            colour = COLOURS.get(s["optimizer"])
            style = "--" if mixed and "+dropout" not in s["label"] else "-"
            ax.plot(x, s["mean"][keep], style, color=colour, lw=1.3, label=s["label"])
            if s.get("seeds", 1) > 1:
                ax.fill_between(x, s["lo"][keep], s["hi"][keep], color=colour, alpha=0.2, lw=0)
        ax.set_xlabel(X_LABELS[quantity])
        ax.set_ylabel("training cost")
        if log_y:
            ax.set_yscale("log")
        if last_epoch is not None:
            ax.set_xlim(0, last_epoch)
            ax.set_title(f"first {last_epoch:g} epochs", fontsize=9)
        elif len(panels) > 1:
            ax.set_title("all epochs" if quantity == "epoch" else "against wall-clock time", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    suptitle(fig, title, width)
    return _save(fig, Path(path))


def suptitle(fig: Any, title: str, width: float) -> None:
    """``title`` over the figure, each line wrapped to its ``width`` (inches; about 15 characters an inch at the
    8 points used)."""
    fig.suptitle("\n".join(textwrap.fill(line, int(15 * width)) for line in title.splitlines()), fontsize=8)


def bias_correction_grid(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Figure 4 style: loss against log10(lr), one panel per (beta1, beta2), red with / green without correction.

    Lines join only finite losses inside the axis; a loss above the axis is a "^" at its top and a diverged run
    (inf or NaN) an "x" there, never joined to its neighbours; these markers sit a little left (with correction)
    or right (without) of their learning rate, so that both show when both runs diverged.
    """
    plt = pyplot()
    beta1s = sorted({r["beta1"] for r in rows})
    beta2s = sorted({r["beta2"] for r in rows})
    width = 3.2 * len(beta2s)  # inches
    fig, axes = plt.subplots(len(beta1s), len(beta2s), figsize=(width, 2.9 * len(beta1s) + 0.4), sharex=True,
                             squeeze=False)
    finite = [r["train_loss"] for r in rows if math.isfinite(r["train_loss"])]
    top = min(max(finite), 3 * min(finite)) if finite else 1.0
    for (i, b1), (j, b2) in ((a, b) for a in enumerate(beta1s) for b in enumerate(beta2s)):
        ax = axes[i][j]
        for corrected, colour in ((True, "tab:red"), (False, "tab:green")):
            sel = sorted((r for r in rows if r["beta1"] == b1 and r["beta2"] == b2
                          and r["bias_correction"] == corrected), key=lambda r: r["log10_lr"])
            x = [r["log10_lr"] for r in sel]
            inside = [r["train_loss"] if math.isfinite(r["train_loss"]) and r["train_loss"] <= top else math.nan
                      for r in sel]
            ax.plot(x, inside, "o-", color=colour, ms=3, label="with correction" if corrected else "without")
            side = -0.08 if corrected else 0.08
            above = [r["log10_lr"] + side for r in sel if math.isfinite(r["train_loss"]) and r["train_loss"] > top]
            diverged = [r["log10_lr"] + side for r in sel if not math.isfinite(r["train_loss"])]
            ax.plot(above, [top] * len(above), "^", color=colour, ms=6, ls="none",
                    label="off scale" if corrected and i == j == 0 else None)
            ax.plot(diverged, [top] * len(diverged), "x", color=colour, ms=8, mew=2, ls="none",
                    label="diverged" if corrected and i == j == 0 else None)
        ax.set_title(f"beta1={b1}, beta2={b2}", fontsize=9)
        ax.set_ylim(top=top * 1.04)
        if i == len(beta1s) - 1:
            ax.set_xlabel("log10(learning rate)")
        if j == 0:
            ax.set_ylabel("loss")
    axes[0][0].legend(fontsize=7)
    if title:
        suptitle(fig, title, width)
    return _save(fig, Path(path))


def read_jsonl(path: Path, needs: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The records of a JSON-lines file ([] when it does not exist); a ValueError naming the file and the line
    when one is not a JSON object with a number in each field of ``needs`` (a RunDirError: the file is damaged)."""
    if not path.exists():
        return []
    records = []
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        try:
            record = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            record = line
        if record is None:
            continue
        if not isinstance(record, dict) or not all(isinstance(record.get(k), (int, float)) for k in needs):
            wanted = f" with the numbers {', '.join(needs)}" if needs else ""
            raise RunDirError(f"{path} is damaged: line {n} is not a JSON object{wanted}; restore it from a copy")
        records.append(record)
    return records


def plot_dir(directory: str | Path) -> list[Path]:
    """The PNGs of what ``directory`` holds: a train run (see :func:`plot_run`) or a ``bias-correction`` one
    (``sweep.json``: the Figure 4 grid). A ``compare`` directory is ``experiments.plot_dir``'s."""
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"no run directory at {folder}")
    if (folder / "metrics.jsonl").exists():
        return plot_run(folder)
    if (folder / "sweep.json").exists():
        title = (folder / "title.txt").read_text().strip() if (folder / "title.txt").exists() else ""
        return [bias_correction_grid(read_sweep(folder / "sweep.json"), folder / "bias_correction.png", title)]
    raise FileNotFoundError(f"{folder} is not a run directory: it has no metrics.jsonl (train writes one per epoch), "
                            f"no sweep.json (bias-correction) and no <curve>/seed<N>/result.json (compare)")


def read_sweep(path: Path) -> list[dict[str, Any]]:
    """The rows of a bias-correction ``sweep.json``; a RunDirError (one line) when it is not what the sweep
    writes."""
    try:
        rows = json.loads(path.read_text(errors="replace"))
    except ValueError:
        rows = None
    numbers = ("beta1", "beta2", "log10_lr", "train_loss")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("bias_correction"), bool) and
                                             all(isinstance(r.get(k), (int, float)) for k in numbers) for r in rows):
        raise RunDirError(f"{path} is damaged: it is not a list of the sweep's rows (beta1, beta2, log10_lr, "
                          f"bias_correction, train_loss); run the same bias-correction with --resume to write it "
                          f"again")
    return rows


def read_internals(path: Path) -> list[dict[str, Any]]:
    """The records of ``internals.jsonl``; a RunDirError naming the line when one has no iteration number or
    its "params" is not a mapping of layer names to mappings of numbers."""
    rows = read_jsonl(path, ("iteration",))
    for n, r in enumerate(rows, 1):
        params = r.get("params")
        if not (isinstance(params, dict) and all(isinstance(v, dict) and all(
                isinstance(x, (int, float)) or x is None for x in v.values()) for v in params.values())):
            raise RunDirError(f"{path} is damaged: record {n} has no \"params\" of per-layer numbers; restore it "
                              f"from a copy")
    return rows


def plot_run(run_dir: str | Path) -> list[Path]:
    """The PNGs of one run directory: curves from metrics.jsonl (and steps.jsonl), internals if recorded."""
    run = Path(run_dir)
    metrics_file = run / "metrics.jsonl"
    if not run.is_dir():
        raise FileNotFoundError(f"no run directory at {run}")
    if not metrics_file.exists():
        raise FileNotFoundError(f"{run} is not a run directory: it has no metrics.jsonl (train writes one per epoch)")
    metrics = read_jsonl(metrics_file, ("epoch", "iteration", "train_loss", "test_loss"))
    if not metrics:
        raise ValueError(f"{metrics_file} is empty: no epoch has finished yet")
    steps = read_jsonl(run / "steps.jsonl", ("iteration", "train_loss"))
    inner = read_internals(run / "internals.jsonl")  # every log is checked before a PNG is written
    plt = pyplot()
    written = []
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    if steps:
        ax1.plot([r["iteration"] for r in steps], [r["train_loss"] for r in steps], lw=1, label="train (running)")
    ax1.plot([m["iteration"] for m in metrics], [m["train_loss"] for m in metrics], "o-", label="train (epoch)")
    ax1.plot([m["iteration"] for m in metrics], [m["test_loss"] for m in metrics], "s-", label="test")
    ax1.set_xlabel("iterations")
    ax1.set_ylabel("loss")
    ax1.legend()
    if "test_accuracy" in metrics[0]:
        ax2.plot([m["epoch"] for m in metrics], [100 * m["test_accuracy"] for m in metrics], "o-")
        ax2.set_ylabel("test accuracy (%)")
    else:
        ax2.plot([m["epoch"] for m in metrics], [m["seconds"] for m in metrics], "o-")
        ax2.set_ylabel("seconds per epoch")
    ax2.set_xlabel("epoch")
    written.append(_save(fig, run / "curves.png"))
    if inner:
        written.append(internals(inner, run / "internals.png"))
    return written


INTERNAL_PANELS = (("update_over_lr_mean", "mean |Delta| / lr"), ("snr_mean", "mean SNR |m_hat|/sqrt(v_hat)"),
                   ("effective_step_median", "median lr/(sqrt(v_hat)+eps)"))


def internals(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Per-layer optimizer internals over iterations (``internals.jsonl`` from ``--inspect-every``)."""
    plt = pyplot()
    panels = [(k, label) for k, label in INTERNAL_PANELS
              if any(k in layer for r in rows for layer in r.get("params", {}).values())]
    if not panels:
        raise ValueError(f"no known figures in {path}: expected one of {[k for k, _ in INTERNAL_PANELS]}")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.8), squeeze=False)
    names = list(rows[0]["params"])
    for ax, (key, label) in zip(axes[0], panels):
        for name in names:
            pts = [(r["iteration"], r["params"][name][key]) for r in rows if key in r["params"].get(name, {})]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=name, lw=1.2)
        ax.set_yscale("log")
        ax.set_xlabel("iterations")
        ax.set_title(label, fontsize=9)
    axes[0][0].legend(fontsize=7)
    return _save(fig, Path(path))
