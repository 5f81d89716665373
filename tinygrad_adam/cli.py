"""The ``tinygrad-adam`` command line: ``info``, ``train``, ``compare``, ``bias-correction`` and ``plot``.

Bad arguments end in argparse's usage message and exit status 2, never a stack trace; any other error the
user can fix (a run directory, a checkpoint, the data) is one line on stderr and exit status 2. A diverged run
exits with 3.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__, backend, rundir
from .backend import DeviceError
from .data import DataNotFoundError
from .experiments import EXPERIMENTS
from .plots import PlotUnavailableError
from .train import DATASETS, MODELS, OPTIMIZERS, SAFE_TO_CHANGE, Config, Run, TrainingDiverged

# Options whose Config field has another name.
FLAG_FIELDS = {"no_bias_correction": "bias_correction", "no_progress": "progress"}
RESUME_HELP = ("continue the run in --out from its checkpoint, with the settings stored there. Of the run's "
               "settings only these may be given again with a new value: " +
               ", ".join(f"--{f.replace('_', '-')}" for f in SAFE_TO_CHANGE if f not in ("progress", "out"))
               + " and the progress options (--epochs larger than the epochs done extends a finished run); "
               "any other flag must match the run's value")
TRAIN_EPILOG = ("Run directories: without --out every run gets a fresh runs/<model>-<dataset>-<optimizer>/version_N. "
                "A directory that holds a run is written only with --resume (continue it) or --overwrite (delete "
                "its files and start again).")


def cmd_info(args: argparse.Namespace) -> int:
    """Print versions, the backend, the BLAS numpy uses and whether a GPU is usable."""
    facts = backend.info()
    print(f"tinygrad_adam {__version__}")
    print(f"python        {platform.python_version()} ({platform.machine()})")
    print(f"numpy         {facts['numpy']}")
    print(f"blas          {facts['blas']}")
    print(f"device        {facts['default_device']} (default)")
    print(f"gpu           {'usable' if facts['gpu_usable'] else 'not usable'}: {facts['gpu']}")
    return 0


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 32,32,64, got {text!r}") from e


def add_run_options(p: argparse.ArgumentParser, epochs: int) -> None:
    """The options shared by train, compare and bias-correction."""
    from .train import SCHEDULES

    p.add_argument("--epochs", type=positive_int, default=epochs, help=f"passes over the data (default {epochs})")
    p.add_argument("--batch-size", type=positive_int, default=None, help="minibatch size (default: the paper's)")
    p.add_argument("--lr", type=non_negative_float, default=None, help="base learning rate alpha")
    p.add_argument("--weight-decay", type=non_negative_float, default=None, help="L2 coefficient")
    p.add_argument("--dropout", type=float, default=None, help="dropout rate in [0, 1)")
    p.add_argument("--lr-schedule", choices=SCHEDULES, default=None, help="inv-sqrt: alpha_t = alpha / sqrt(t)")
    p.add_argument("--temporal-average", type=float, default=None, metavar="BETA",
                   help="evaluate with section 7.2's averaged parameters, decay BETA (e.g. 0.999)")
    p.add_argument("--channels", type=int_list, default=(64, 64, 128), help="CNN channels (default 64,64,128)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--limit", type=positive_int, default=None, help="use only the first N training/test examples")
    p.add_argument("--log-every", type=positive_int, default=50, help="iterations per training-curve point")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from(args: argparse.Namespace, **fixed: object) -> Config:
    """A Config from parsed options (``fixed`` overrides them)."""
    fields = {k: v for k, v in vars(args).items() if k in Config.__dataclass_fields__}
    fields["progress"] = not args.no_progress
    fields.update(fixed)
    return Config(**fields)


def cmd_train(args: argparse.Namespace) -> int:
    """Train one model; prints the run directory, one line per epoch and a final summary.

    Everything the user can get wrong about the run directory or its checkpoint is checked before the data loads.
    """
    cfg = config_from(args, bias_correction=not args.no_bias_correction)
    if not args.resume:
        cfg = cfg.resolved()  # bad settings are reported before a directory is made
    created = args.out is None or not Path(args.out).exists()
    if args.out is None:
        if args.resume:
            raise rundir.RunDirError("--resume needs --out: the directory of the run to continue")
        out = rundir.fresh_dir(Path("runs"), f"{cfg.model}-{cfg.dataset}-{cfg.optimizer}")
    else:
        out = rundir.usable(args.out, create=not args.resume)
        rundir.claim(out, resume=args.resume, overwrite=args.overwrite)
    if args.resume:
        resumed = resumed_config(args, cfg, out)
        if resumed is None:
            return 0
        cfg = resumed
    cfg = dataclasses.replace(cfg, out=str(out))
    print(f"run directory: {out}")
    try:
        run = Run(cfg)  # loads the data
    except BaseException as e:
        if created and not any(out.iterdir()):
            out.rmdir()  # leave no empty directory behind a run that never started
        if isinstance(e, KeyboardInterrupt):
            print("tinygrad-adam: interrupted while loading the data; nothing was written", file=sys.stderr)
            return 130
        raise
    try:
        metrics = run.fit(resume=args.resume, overwrite=args.overwrite)
    except KeyboardInterrupt:
        if (out / "checkpoint.npz").exists():
            print(f"tinygrad-adam: interrupted; continue the run with: tinygrad-adam train --resume --out {out}",
                  file=sys.stderr)
        else:
            print(f"tinygrad-adam: interrupted before the first epoch ended, so {out} has no checkpoint; start it "
                  f"again with --overwrite", file=sys.stderr)
        return 130
    acc = f", test accuracy {100 * metrics['test_accuracy']:.2f}%" if "test_accuracy" in metrics else ""
    print(f"done: {run.cfg.model} on {run.cfg.dataset} with {run.cfg.optimizer}, {run.epoch} epochs, "
          f"train loss {metrics.get('train_loss', float('nan')):.4f}, test loss "
          f"{metrics.get('test_loss', float('nan')):.4f}{acc}; run directory {run.dir}")
    return 0


def resumed_config(args: argparse.Namespace, cfg: Config, out: Path) -> Config | None:
    """The config stored in ``out``'s checkpoint with the safe flags given; None (after saying so) when the run is
    already finished. A flag that contradicts the stored config is a RunDirError naming each difference."""
    from .train import load_checkpoint, resume_config

    given = {FLAG_FIELDS.get(dest, dest) for dest in args.given} & set(Config.__dataclass_fields__) - {"out"}
    state, saved = load_checkpoint(out / "checkpoint.npz")
    cfg, differences = resume_config(saved, {k: getattr(cfg, k) for k in given})
    if differences:
        raise rundir.RunDirError(f"--resume continues {out} with its own settings, but these flags differ: " +
                                 "; ".join(difference(k, v, w) for k, v, w in differences) +
                                 ". Drop them, or start a new run without --resume")
    if state["version"] != __version__:
        print(f"tinygrad-adam: warning: {out} was written by tinygrad_adam {state['version']}, this is "
              f"{__version__}; the continuation may differ from an uninterrupted run", file=sys.stderr)
    if state["epoch"] >= cfg.epochs:
        extend = "" if "epochs" not in given else f" (--epochs {cfg.epochs} is not more)"
        print(f"nothing to do: the run in {out} is finished, it trained {state['epoch']} epochs{extend}. To train "
              f"it longer: tinygrad-adam train --resume --out {out} --epochs N with N > {state['epoch']}")
        return None
    return cfg


def difference(field: str, given: object, saved: object) -> str:
    """``--lr 0.5 (the run has 0.1)``: a flag that differs from the resumed run's setting."""
    if field in FLAG_FIELDS.values():  # a --no-X switch
        dest = {v: k for k, v in FLAG_FIELDS.items()}[field]
        return f"--{dest.replace('_', '-')} (the run has {field}={saved})"
    return f"--{field.replace('_', '-')} {given!r} (the run has {saved!r})"


def given_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The destinations of the options that ``argv`` sets explicitly (not left at their defaults)."""
    unset = object()
    namespace = argparse.Namespace(**{a.dest: unset for a in parser._actions if a.dest != argparse.SUPPRESS})
    parser.parse_known_args(list(argv), namespace)
    return {k for k, v in vars(namespace).items() if v is not unset}


def cmd_compare(args: argparse.Namespace) -> int:
    from .experiments import compare

    rundir.claim_tree(Path(args.out), args.overwrite)
    compare(args.experiment, args.optimizers, config_from(args), args.out)
    print(f"done: plot and results.md in {args.out}")
    return 0


def cmd_bias_correction(args: argparse.Namespace) -> int:
    from .experiments import bias_correction_sweep

    rundir.claim_tree(Path(args.out), args.overwrite)
    bias_correction_sweep(config_from(args), args.out, args.quick)
    print(f"done: bias_correction.png and results.md in {args.out}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .plots import plot_run

    for path in plot_run(args.run_dir):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinygrad-adam",
                                     description="Train the Adam paper's models and inspect them.")
    parser.add_argument("--version", action="version", version=f"tinygrad_adam {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("info", help="versions, BLAS, and whether a GPU is usable").set_defaults(func=cmd_info)

    p = sub.add_parser("train", help="train one of the paper's models", epilog=TRAIN_EPILOG)
    p.add_argument("--model", choices=MODELS, default="mlp")
    p.add_argument("--dataset", choices=DATASETS, default="mnist")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    add_run_options(p, epochs=10)
    p.add_argument("--no-bias-correction", action="store_true", help="Adam without the m_hat/v_hat lines")
    p.add_argument("--inspect-every", type=positive_int, default=0, metavar="N",
                   help="write optimizer internals every N iterations to internals.jsonl")
    p.add_argument("--out", default=None,
                   help="run directory (default: a fresh runs/<model>-<dataset>-<optimizer>/version_N)")
    p.add_argument("--resume", action="store_true", help=RESUME_HELP)
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out (its files are deleted)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("compare", help="several optimizers on one of the paper's experiments, with a plot")
    p.add_argument("--experiment", choices=sorted(EXPERIMENTS), required=True)
    p.add_argument("--optimizers", type=lambda s: [o.strip() for o in s.split(",") if o.strip()], default=None,
                   help="comma-separated (default: those of the paper's figure)")
    add_run_options(p, epochs=5)
    p.add_argument("--out", default="runs/compare")
    p.add_argument("--overwrite", action="store_true", help="replace the runs already in --out")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("bias-correction", help="section 6.4: the VAE sweep with and without bias correction")
    add_run_options(p, epochs=1)
    p.add_argument("--quick", action="store_true", help="5000 examples and lr in 1e-4..1e-2: a few minutes on a CPU")
    p.add_argument("--out", default="runs/bias-correction")
    p.add_argument("--overwrite", action="store_true", help="replace the runs already in --out")
    p.set_defaults(func=cmd_bias_correction)

    p = sub.add_parser("plot", help="draw a run directory's PNGs (curves, and internals if recorded)")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_plot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    args.given = given_options(subcommand(parser, args.command), argv[argv.index(args.command) + 1:])
    if getattr(args, "optimizers", None):
        unknown = [o for o in args.optimizers if o not in OPTIMIZERS]
        if unknown:
            parser.error(f"unknown optimizer(s) {', '.join(unknown)}; choose from {', '.join(OPTIMIZERS)}")
    try:
        return int(args.func(args) or 0)
    except (ValueError, DataNotFoundError, DeviceError, FileNotFoundError) as e:
        print(f"tinygrad-adam {args.command}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except TrainingDiverged as e:
        print(f"tinygrad-adam: training stopped: {e}", file=sys.stderr)
        return 3
    except PlotUnavailableError as e:
        print(f"tinygrad-adam: {e}", file=sys.stderr)
        return 1


def subcommand(parser: argparse.ArgumentParser, name: str) -> Any:
    """The sub-parser of command ``name``."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices[name]


if __name__ == "__main__":
    sys.exit(main())
