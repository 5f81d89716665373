"""The ``tinygrad-adam`` command line: ``info``, ``train``, ``tune``, ``compare``, ``bias-correction`` and ``plot``.

Bad arguments end in argparse's usage message and exit status 2, never a stack trace.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence

from . import __version__, backend
from .backend import DeviceError
from .data import DataNotFoundError
from .experiments import EXPERIMENTS
from .plots import PlotUnavailableError
from .train import DATASETS, IMDB_FEATURES, MODELS, OPTIMIZERS, Config, Run, TrainingDiverged


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


def float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 1e-3,3e-3, got {text!r}") from e


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
    p.add_argument("--dropout", type=float, default=None, help="dropout rate in [0, 1) (CNN: its FC layer)")
    p.add_argument("--input-dropout", type=float, default=None, help="CNN input dropout in [0, 1) (default 0.2)")
    p.add_argument("--momentum", type=float, default=None, help="SGD-Nesterov's momentum (default: tuned, else 0.9)")
    p.add_argument("--imdb-features", choices=IMDB_FEATURES, default="binary",
                   help="IMDB bag-of-words: word presence (default) or counts")
    p.add_argument("--lr-schedule", choices=SCHEDULES, default=None,
                   help="inv-sqrt: alpha_t = alpha / sqrt(t) (default: logreg all but AdaGrad, section 6.1)")
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
    """Train one model; prints one line per epoch and a final summary."""
    cfg = config_from(args, bias_correction=not args.no_bias_correction)
    run = Run(cfg)
    metrics = run.fit(resume=args.resume)
    acc = f", test accuracy {100 * metrics['test_accuracy']:.2f}%" if "test_accuracy" in metrics else ""
    print(f"done: {run.cfg.model} on {run.cfg.dataset} with {run.cfg.optimizer}, {run.epoch} epochs, "
          f"train loss {metrics.get('train_loss', float('nan')):.4f}, test loss "
          f"{metrics.get('test_loss', float('nan')):.4f}{acc}; run directory {run.dir}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .experiments import compare

    compare(args.experiment, args.optimizers, config_from(args), args.out, seeds=args.seeds, resume=args.resume,
            tuned_file=args.tuned_file)
    print(f"done: plot and results.md in {args.out}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from .tune import tune

    out = args.out or f"runs/tune/{args.experiment}"
    tune(args.experiment, args.optimizers, config_from(args, progress=False), out, tuned_file=args.tuned_file,
         lrs=args.lrs, momenta=args.momenta, max_widen=args.max_widen, seeds=args.seeds, overwrite=args.overwrite)
    return 0


def cmd_bias_correction(args: argparse.Namespace) -> int:
    from .experiments import bias_correction_sweep

    bias_correction_sweep(config_from(args), args.out, args.quick, args.resume, args.beta2s)
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

    p = sub.add_parser("train", help="train one of the paper's models")
    p.add_argument("--model", choices=MODELS, default="mlp")
    p.add_argument("--dataset", choices=DATASETS, default="mnist")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    add_run_options(p, epochs=10)
    p.add_argument("--no-bias-correction", action="store_true", help="Adam without the m_hat/v_hat lines")
    p.add_argument("--inspect-every", type=positive_int, default=0, metavar="N",
                   help="write optimizer internals every N iterations to internals.jsonl")
    p.add_argument("--out", default="runs/train", help="run directory (default runs/train)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.set_defaults(func=cmd_train)

    def add_figure_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--experiment", choices=sorted(EXPERIMENTS), required=True)
        p.add_argument("--optimizers", type=lambda s: [o.strip() for o in s.split(",") if o.strip()], default=None,
                       help="comma-separated optimizers or curves (default: those of the paper's figure)")
        p.add_argument("--seeds", type=positive_int, default=1, help="seeds per curve, from --seed on (default 1)")
        p.add_argument("--tuned-file", default=None, help="the tuned values that tune writes and compare reads "
                       "(default: the committed tinygrad_adam/tuned/EXPERIMENT.json)")

    p = sub.add_parser("compare", help="several optimizers on one of the paper's experiments, with a plot")
    add_figure_options(p)
    add_run_options(p, epochs=5)
    p.add_argument("--resume", action="store_true", help="read back finished runs, continue unfinished ones")
    p.add_argument("--out", default="runs/compare")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("tune", help="the same half-decade lr grid (and momentum) for every optimizer of a figure")
    add_figure_options(p)
    add_run_options(p, epochs=2)
    p.add_argument("--lrs", type=float_list, default=None,
                   help="starting grid, rounded to half decades (default: 5 points around each optimizer's usual lr)")
    p.add_argument("--momenta", type=float_list, default=(0.5, 0.9, 0.99), help="SGD-Nesterov's momenta to try")
    p.add_argument("--max-widen", type=int, default=4, help="half decades added at most while the best is on an edge")
    p.add_argument("--overwrite", action="store_true", help="replace an existing tuned file")
    p.add_argument("--out", default=None, help="trial run directories (default runs/tune/EXPERIMENT); resumed")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("bias-correction", help="section 6.4: the VAE sweep with and without bias correction")
    add_run_options(p, epochs=1)
    p.add_argument("--quick", action="store_true", help="5000 examples and lr in 1e-4..1e-2: a few minutes on a CPU")
    p.add_argument("--resume", action="store_true", help="read back finished runs, continue unfinished ones")
    p.add_argument("--beta2s", type=float_list, default=(0.99, 0.999, 0.9999), help="the figure's beta2 columns")
    p.add_argument("--out", default="runs/bias-correction")
    p.set_defaults(func=cmd_bias_correction)

    p = sub.add_parser("plot", help="draw a run directory's PNGs (curves, and internals if recorded)")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_plot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    if getattr(args, "optimizers", None):
        curves = EXPERIMENTS[args.experiment].curves
        known = [c.optimizer for c in curves] + [c.key for c in curves if c.key != c.optimizer]
        unknown = [o for o in args.optimizers if o not in known]
        if unknown:
            parser.error(f"unknown optimizer(s) {', '.join(unknown)} for {args.experiment}; choose from "
                         f"{', '.join(dict.fromkeys(known))}")
    try:
        return int(args.func(args) or 0)
    except (ValueError, DataNotFoundError, DeviceError, FileNotFoundError) as e:
        parser.error(str(e))  # exits with status 2 and the usage line
    except TrainingDiverged as e:
        print(f"tinygrad-adam: training stopped: {e}", file=sys.stderr)
        return 3
    except PlotUnavailableError as e:
        print(f"tinygrad-adam: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
