"""The ``tinygrad-adam`` command line: ``info``, ``train``, ``tune``, ``compare``, ``bias-correction``, ``plot``,
``download`` and ``evaluate``.

Bad arguments end in the subcommand's usage message and exit status 2, never a stack trace; any other error the
user can fix (a run directory, a checkpoint, the data) is one line on stderr and exit status 2. A diverged run
exits with 3.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import math
import platform
import shlex
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__, backend, rundir
from .backend import DeviceError
from .checkpoint import CheckpointError
from .data import DataCorruptError, DownloadError
from .experiments import EXPERIMENTS, ignored_options, select_curves, train_lr_source
from .plots import PlotUnavailableError
from .train import (
    DATASETS,
    IMDB_FEATURES,
    MODELS,
    OPTIMIZERS,
    SAFE_TO_CHANGE,
    Config,
    Run,
    TrainingDiverged,
    unused_options,
)

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

# What Ctrl-C leaves and how to go on, per command that writes many runs (a run's files are whole at every moment).
AFTER_INTERRUPT = {
    "compare": "the finished epochs are kept: continue with the same command and --resume",
    "bias-correction": "the finished epochs are kept: continue with the same command and --resume",
    "tune": "the finished epochs are kept: run the same command again to continue the search",
}

OPTIONAL = (("numba", "numba", "compiled CPU loops: optimizer updates, layer norm, softmax (the fast extra)"),
            ("tqdm", "tqdm", "progress bars on a terminal (the examples extra)"),
            ("matplotlib", "matplotlib", "plots (the examples extra)"),
            ("torch", "torch", "the tests' reference oracle only; the library never imports it"),
            ("cupy", "cupy-cuda12x", "the GPU backend (the gpu extra)"))


def installed_version(module: str) -> str | None:
    """The version of an installed module, found without importing it (None when absent)."""
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return None
    for dist in importlib.metadata.packages_distributions().get(module, [module]):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "installed"


def cmd_info(args: argparse.Namespace) -> int:
    """Print versions, the backend, the BLAS numpy uses, whether a GPU is usable, the optional components found
    and the path ``impl="auto"`` optimizers take."""
    import shutil

    from .optim.fused import resolve_impl

    facts = backend.info()
    print(f"tinygrad_adam {__version__}")
    print(f"python        {platform.python_version()} ({platform.machine()})")
    print(f"numpy         {facts['numpy']}")
    print(f"blas          {facts['blas']}")
    print(f"device        {facts['default_device']} (default)")
    print(f"gpu           {'usable' if facts['gpu_usable'] else 'not usable'}: {facts['gpu']}")
    print(f"malloc        {'freed blocks kept for reuse' if facts['malloc_tuned'] else 'as the system set it'} "
          "(TINYGRAD_ADAM_MALLOC=0 leaves it)")
    print("optional components:")
    for module, package, what in OPTIONAL:
        version = installed_version(module)
        print(f"  {module:<11} {version or 'not installed (pip install ' + package + ')'}: {what}")
    dot = shutil.which("dot")
    print(f"  {'graphviz':<11} {dot or 'not installed (apt-get install graphviz)'}: tinygrad_adam.viz.render")
    cpu = resolve_impl("auto", "cpu")
    why = "numba is installed" if cpu == "numba" else "numba is not installed or TINYGRAD_ADAM_NUMBA=0"
    gpu = "the cuda ElementwiseKernel" if facts["gpu_usable"] else "the cuda ElementwiseKernel (no usable GPU here)"
    print(f'optimizers    impl="auto" runs the {cpu} path on the CPU ({why}); {gpu} for GPU parameters')
    return 0


def non_negative_float(text: str) -> float:
    value = float(text)
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be finite and >= 0, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def absolute_path(text: str) -> str:
    """A directory option as an absolute path, so that config.json still finds it from another directory."""
    return str(Path(text).expanduser().absolute())


def float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 1e-3,3e-3, got {text!r}") from e


def name_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:  # an empty list would silently mean the default, every curve
        raise argparse.ArgumentTypeError(f"expected comma-separated names such as adam,adagrad, got {text!r}")
    return names


def int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 32,32,64, got {text!r}") from e


def add_run_options(p: argparse.ArgumentParser, epochs: int, only: Sequence[str] | None = None) -> None:
    """The options shared by train, compare and bias-correction (``only``: just these, by dest)."""
    from .train import SCHEDULES

    def add(*names: str, **kw: Any) -> None:
        dest = names[0].lstrip("-").replace("-", "_")
        if only is None or dest in only:
            p.add_argument(*names, **kw)

    per_model = "default: per model, see the table below"
    add("--epochs", type=positive_int, default=epochs, help="passes over the training data")
    add("--batch-size", type=positive_int, default=None, help=f"minibatch size ({per_model})")
    add("--lr", type=non_negative_float, default=None,
        help="base learning rate alpha (default: per optimizer and experiment, see the table below)")
    add("--weight-decay", type=non_negative_float, default=None, help=f"L2 coefficient ({per_model})")
    add("--dropout", type=float, default=None, help=f"dropout rate in [0, 1); the CNN's fully connected layer "
        f"({per_model})")
    add("--input-dropout", type=float, default=None, help=f"the CNN's input dropout in [0, 1) ({per_model})")
    add("--momentum", type=float, default=None,
        help="SGD-Nesterov's momentum, --optimizer nesterov only (default: the tuned file's, else 0.9)")
    add("--imdb-features", choices=IMDB_FEATURES, default="binary",
        help="IMDB bag-of-words: word presence (binary) or counts")
    add("--lr-schedule", choices=SCHEDULES, default=None,
        help=f"constant, or inv-sqrt: alpha_t = alpha / sqrt(t) ({per_model}; AdaGrad keeps a constant alpha "
        f"unless this is given, section 6.1)")
    add("--temporal-average", type=float, default=None, metavar="BETA",
        help="evaluate with section 7.2's averaged parameters, decay BETA, e.g. 0.999 (default: off)")
    add("--channels", type=int_list, default=(64, 64, 128),
        help="channels of the CNN's three convolutions (default: 64,64,128)")
    add("--seed", type=int, default=0, help="seed of the initial weights, dropout and data order")
    add("--device", default="cpu", help="cpu, cuda or cuda:N")
    add("--limit", type=positive_int, default=None, metavar="N",
        help="use only N training and N test examples (default: all)")
    add("--log-every", type=positive_int, default=50, metavar="N",
        help="iterations per training-curve point in steps.jsonl (and one at the end of every epoch)")
    add("--no-progress", action="store_true", help="print no progress bar or progress lines")
    add("--data-dir", type=absolute_path, default=None, metavar="DIR",
        help="directory holding mnist/, imdb/ and cifar10/ (default: $TINYGRAD_ADAM_DATA, then ~/.cache/tinygrad_adam)")
    add("--download", action="store_true", help="download the dataset first if it is missing (checksum-verified)")
    add("--flush-denormal", action="store_true",
        help="treat subnormal floats as zero on the CPU, as torch.set_flush_denormal (x86 arithmetic on them is "
        "up to 100x slower, and Adam with weight decay drives unused weights there; default: off, IEEE)")


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
    lr_source = None
    if not args.resume:  # bad settings are reported before a directory is made
        refuse_unused(cfg, args)
        lr_source, unlike = train_lr_source(cfg)
        if unlike:
            print(f"tinygrad-adam: warning: the tuned learning rate was searched under other settings than this "
                  f"run's ({'; '.join(unlike)}); give --lr to choose one", file=sys.stderr)
        cfg = cfg.resolved()
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
        refuse_unused(cfg, args)  # (the run's model and optimizer, from its checkpoint)
    cfg = dataclasses.replace(cfg, out=str(out))
    print(f"run directory: {out}")
    try:
        run = Run(cfg, command=args.command_line, lr_source=lr_source)  # loads the data
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
            print(f"tinygrad-adam: interrupted; continue the run with: tinygrad-adam train --resume --out {out} "
                  f"--epochs {cfg.epochs}", file=sys.stderr)  # (an extension's checkpoints still say fewer)
        else:
            print(f"tinygrad-adam: interrupted before the first epoch ended, so {out} has no checkpoint; start it "
                  f"again with --overwrite", file=sys.stderr)
        return 130
    acc = f", test accuracy {100 * metrics['test_accuracy']:.2f}%" if "test_accuracy" in metrics else ""
    print(f"done: {run.cfg.model} on {run.cfg.dataset} with {run.cfg.optimizer}, {run.epoch} epochs, "
          f"train loss {metrics.get('train_loss', float('nan')):.4f}, test loss "
          f"{metrics.get('test_loss', float('nan')):.4f}{acc}; run directory {run.dir}")
    return 0


def given_fields(args: argparse.Namespace) -> set[str]:
    """The Config fields that the command line sets explicitly."""
    return {FLAG_FIELDS.get(dest, dest) for dest in args.given} & set(Config.__dataclass_fields__)


def refuse_unused(cfg: Config, args: argparse.Namespace) -> None:
    """A ValueError (the usage and one line) naming each option given that a run of ``cfg`` would not read."""
    unused = unused_options([cfg], given_fields(args))
    if unused:
        raise ValueError("; ".join(unused))


def resumed_config(args: argparse.Namespace, cfg: Config, out: Path) -> Config | None:
    """The config stored in ``out``'s checkpoint with the safe flags given; None (after saying so) when the run is
    already finished. A flag that contradicts the stored config is a RunDirError naming each difference."""
    from .train import load_checkpoint, resume_config

    given = given_fields(args) - {"out"}
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
    unset = object()  # repeatable options (--mirror) start from an empty list, which they append to
    namespace = argparse.Namespace(**{a.dest: [] if isinstance(a, argparse._AppendAction) else unset
                                      for a in parser._actions if a.dest != argparse.SUPPRESS})
    parser.parse_known_args(list(argv), namespace)
    return {k for k, v in vars(namespace).items() if v is not unset and not (isinstance(v, list) and not v)}


def cmd_compare(args: argparse.Namespace) -> int:
    from .experiments import compare

    compare(args.experiment, args.optimizers, config_from(args), args.out, seeds=args.seeds, resume=args.resume,
            tuned_file=args.tuned_file, overwrite=args.overwrite)
    print(f"done: plot and results.md in {args.out}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from .tune import tune

    out = f"runs/tune/{args.experiment}" if args.out is None else args.out
    tune(args.experiment, args.optimizers, config_from(args, progress=False), out, tuned_file=args.tuned_file,
         lrs=args.lrs, momenta=args.momenta, max_widen=args.max_widen, seeds=args.seeds, overwrite=args.overwrite)
    return 0


def cmd_bias_correction(args: argparse.Namespace) -> int:
    from .experiments import bias_correction_sweep

    bias_correction_sweep(config_from(args), args.out, args.quick, args.resume, args.beta2s, overwrite=args.overwrite)
    print(f"done: bias_correction.png and results.md in {args.out}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .experiments import plot_dir

    for path in plot_dir(args.run_dir):
        print(path)
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    """Fetch the datasets into the data directory, verified; files already there are kept."""
    from .data import DATASETS, fetch_dataset

    for name in DATASETS if args.dataset == "all" else [args.dataset]:
        folder, fetched = fetch_dataset(name, args.data_dir, args.mirror or None)
        print(f"{name}: {'downloaded and verified in' if fetched else 'already in'} {folder}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Loss and accuracy of a run directory's model on a split."""
    from .inference import evaluate_run

    m = evaluate_run(args.run_dir, args.split, args.device, args.limit, args.data_dir, args.download)
    acc = f", accuracy {100 * m['accuracy']:.2f}%" if "accuracy" in m else ""
    print(f"{args.run_dir}: {m['split']} split, {m['examples']} examples: loss {m['loss']:.4f}{acc}")
    return 0


def defaults_table(models: Sequence[str] | None = None, rates: bool = True) -> str:
    """The per-model (``models``, default all) and per-optimizer defaults, for the epilog of --help."""
    from .train import DEFAULT_LR, FALLBACK_LR, MODEL_DEFAULTS

    chosen = {m: d for m, d in MODEL_DEFAULTS.items() if models is None or m in models}
    keys = sorted({k for d in chosen.values() for k in d})
    width = max(len(k) for k in keys) + 2
    rows = [["model", *(k.replace("_", "-") for k in keys)]]
    rows += [[m, *(str(d.get(k, "-")) for k in keys)] for m, d in chosen.items()]
    lines = ["defaults per model (the paper's section 6; an option on the command line wins):"]
    lines += ["  " + "".join(c.ljust(8 if i == 0 else width) for i, c in enumerate(r)).rstrip() for r in rows]
    if models is None or "logreg" in models:
        lines += ["  (on --dataset imdb the logistic regression has 50% dropout on its bag-of-words inputs;",
                  "  with --optimizer adagrad its lr-schedule is constant: AdaGrad anneals by itself, section 6.1)"]
    if rates:
        columns = sorted(set(FALLBACK_LR) | tuned_pairs())
        rows = [["optimizer", "default", *(f"{m}/{d}" for m, d in columns)]]
        rows += [[n, f"{lr:g}", *(f"{Config(model=m, dataset=d, optimizer=n).resolved().lr:g}" for m, d in columns)]
                 for n, lr in DEFAULT_LR.items()]
        lines += ["", "learning rate per optimizer (--lr): the default, and what train uses on the paper's experiments "
                  "(the value tuned", "by tinygrad-adam tune in tinygrad_adam/tuned/ where there is one, else a "
                  "hand-searched fallback under 1/sqrt(t)):"]
        lines += ["  " + "".join(c.ljust(11 if i == 0 else 14) for i, c in enumerate(r)).rstrip() for r in rows]
    return "\n".join(lines)


def tuned_pairs() -> set[tuple[str, str]]:
    """The (model, dataset) pairs that a committed tuned file covers."""
    from . import tuned

    return {(c["model"], c["dataset"]) for c in map(tuned.read, sorted(tuned.FOLDER.glob("*.json")))}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's table as written and adds "(default: X)" to every option that has a default and
    does not state it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is argparse.SUPPRESS or isinstance(default, bool):
            return text
        if not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def subparser(sub: Any, name: str, text: str, func: Any, **kw: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=text, description=text, formatter_class=HelpFormatter, **kw)
    p.set_defaults(func=func, parser=p)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinygrad-adam", formatter_class=HelpFormatter,
                                     description="Train the Adam paper's models and inspect them.")
    parser.add_argument("--version", action="version", version=f"tinygrad_adam {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                help="one of these (tinygrad-adam COMMAND --help: its options and defaults)")
    subparser(sub, "info", "versions, BLAS, whether a GPU is usable, optional components", cmd_info)

    p = subparser(sub, "train", "train one of the paper's models", cmd_train,
                  epilog=textwrap.fill(TRAIN_EPILOG, 100) + "\n\n" + defaults_table())
    p.add_argument("--model", choices=MODELS, default="mlp", help="which of the paper's models")
    p.add_argument("--dataset", choices=DATASETS, default="mnist", help="imdb works with --model logreg only")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="the update rule")
    add_run_options(p, epochs=10)
    p.add_argument("--no-bias-correction", action="store_true", help="Adam without the m_hat/v_hat lines")
    p.add_argument("--inspect-every", type=positive_int, default=0, metavar="N",
                   help="write optimizer internals every N iterations to internals.jsonl (default: off)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run directory (default: a fresh runs/<model>-<dataset>-<optimizer>/version_N)")
    p.add_argument("--resume", action="store_true", help=RESUME_HELP)
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out (its files are deleted)")

    def add_figure_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--experiment", choices=sorted(EXPERIMENTS), required=True,
                       help="the paper's figure to reproduce: " + "; ".join(
                           f"{k}: {e.model} on {e.dataset}, {e.figure}" for k, e in sorted(EXPERIMENTS.items())))
        p.add_argument("--optimizers", type=name_list, default=None,
                       metavar="A,B,...", help="comma-separated optimizers (all their curves) or curves: "
                       "adam-nodropout, adam-dropout, ... in Figure 3 (default: the paper's figure)")
        p.add_argument("--seeds", type=positive_int, default=1, help="seeds per curve, from --seed on")
        p.add_argument("--tuned-file", default=None, metavar="FILE",
                       help="the tuned values that tune writes and compare reads (default: the committed "
                            "tinygrad_adam/tuned/EXPERIMENT.json)")

    p = subparser(sub, "compare", "several optimizers on one of the paper's experiments, with a plot", cmd_compare,
                  epilog=defaults_table())
    add_figure_options(p)
    add_run_options(p, epochs=5)
    p.add_argument("--out", default="runs/compare", metavar="DIR",
                   help="directory for the runs (DIR/<curve>/seed<N>), plot and table")
    p.add_argument("--resume", action="store_true",
                   help="read back finished runs and continue unfinished ones (a larger --epochs extends them); "
                        "any other setting must match the runs'")
    p.add_argument("--overwrite", action="store_true", help="replace the runs already in --out")

    p = subparser(sub, "tune", "the same half-decade lr grid (and momentum) for every optimizer of a figure",
                  cmd_tune, epilog=defaults_table())
    add_figure_options(p)
    add_run_options(p, epochs=2)
    p.add_argument("--lrs", type=float_list, default=None,
                   help="starting grid, rounded to half decades (default: 5 points around each optimizer's usual lr)")
    p.add_argument("--momenta", type=float_list, default=(0.5, 0.9, 0.99), help="SGD-Nesterov's momenta to try")
    p.add_argument("--max-widen", type=int, default=4, help="half decades added at most while the best is on an edge")
    p.add_argument("--overwrite", action="store_true", help="replace an existing tuned file")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="trial run directories (default: runs/tune/EXPERIMENT); a trial already there with the same "
                        "settings is read back or continued, one with other settings is refused")

    p = subparser(sub, "bias-correction", "section 6.4: the VAE sweep with and without bias correction",
                  cmd_bias_correction, epilog=defaults_table(("vae",), rates=False) + "\n(Adam's lr, betas and "
                  "bias correction are what the sweep varies: beta1 in {0, 0.9}, beta2 in --beta2s)")
    add_run_options(p, epochs=1, only=("epochs", "batch_size", "seed", "device", "limit", "log_every",
                                       "no_progress", "data_dir", "download"))
    p.add_argument("--quick", action="store_true", help="5000 examples and lr in 1e-4..1e-2: 36 one-epoch runs")
    p.add_argument("--beta2s", type=float_list, default=(0.99, 0.999, 0.9999), help="the figure's beta2 columns")
    p.add_argument("--out", default="runs/bias-correction", metavar="DIR", help="directory for the runs and plot")
    p.add_argument("--resume", action="store_true",
                   help="read back finished runs and continue unfinished ones (a larger --epochs extends them)")
    p.add_argument("--overwrite", action="store_true", help="replace the runs already in --out")

    p = subparser(sub, "plot", "draw the PNGs of a run, compare or bias-correction directory", cmd_plot)
    p.add_argument("run_dir", metavar="DIR",
                   help="a train run directory (curves, and internals if recorded), a compare directory (the "
                        "optimizers' training curves) or a bias-correction directory (the sweep's grid)")

    p = subparser(sub, "download", "download MNIST, IMDB, CIFAR-10 and/or Tiny Shakespeare into the data directory, "
                  "checksum-verified", cmd_download)
    p.add_argument("dataset", choices=("mnist", "imdb", "cifar10", "tinyshakespeare", "all"),
                   help="which dataset (cifar10: the 170 MB binary release; tinyshakespeare: examples/char_gpt.py's "
                        "1 MB text; all: the four)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="where to put them (default: $TINYGRAD_ADAM_DATA, then ~/.cache/tinygrad_adam)")
    p.add_argument("--mirror", action="append", default=None, metavar="URL",
                   help="a URL laid out like a data directory (URL/mnist/..., URL/imdb/imdb_reviews.jsonl.gz, "
                        "URL/cifar10/cifar-10-binary.tar.gz, URL/tinyshakespeare/input.txt), "
                        "tried before the public sources; repeatable (default: $TINYGRAD_ADAM_MIRROR)")

    p = subparser(sub, "evaluate", "loss and accuracy of a trained run's model on a split", cmd_evaluate)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by tinygrad-adam train")
    p.add_argument("--split", choices=("test", "train"), default="test", help="which split of the run's dataset")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="evaluate on N examples of the split, drawn as train --limit draws them (default: all)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="directory holding the dataset (default: the run's, then $TINYGRAD_ADAM_DATA, then "
                        "~/.cache/tinygrad_adam)")
    p.add_argument("--download", action="store_true", help="download the dataset first if it is missing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # (before a command started: while the parser was built)
        print("tinygrad-adam: interrupted before the command started; nothing was written", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    args.command_line = shlex.join(["tinygrad-adam", *argv])  # for config.json
    args.given = given_options(args.parser, argv[argv.index(args.command) + 1:])
    if getattr(args, "experiment", None):  # compare and tune: checked before any data loads
        exp = EXPERIMENTS[args.experiment]
        try:
            curves = select_curves(exp, args.optimizers)
        except ValueError as e:
            args.parser.error(str(e))
        ignored = ignored_options(exp, curves, config_from(args), given_fields(args))
        if ignored:
            args.parser.error("; ".join(ignored))
    try:
        return int(args.func(args) or 0)
    except (rundir.RunDirError, CheckpointError, DataCorruptError, FileNotFoundError, NotADirectoryError,
            PermissionError) as e:  # a file or directory
        print(f"tinygrad-adam {args.command}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except (ValueError, DeviceError) as e:  # a bad option value: the subcommand's usage, as argparse's own errors
        args.parser.error(str(e))
    except DownloadError as e:
        print(f"tinygrad-adam {args.command}: {e}", file=sys.stderr)
        return 1
    except TrainingDiverged as e:
        print(f"tinygrad-adam: training stopped: {e}", file=sys.stderr)
        return 3
    except PlotUnavailableError as e:
        print(f"tinygrad-adam: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # (train says more itself: whether its run has a checkpoint)
        print(f"tinygrad-adam {args.command}: interrupted; {AFTER_INTERRUPT.get(args.command, 'run it again')}",
              file=sys.stderr)
        return 130
    except OSError as e:  # the machine's files: a full or read-only disk, a directory where a file goes, ...
        print(f"tinygrad-adam {args.command}: error: {os_problem(e)}", file=sys.stderr)
        raise SystemExit(2) from None


def os_problem(e: OSError) -> str:
    """One line for a file system error a user can mend: what happened, to which file, and what to do. Files
    are written atomically, so what was there before the failed write is still there."""
    name = e.filename2 or e.filename  # (a rename's target, where the atomic write of a file failed)
    what = f"{e.strerror or e}: {name}" if name else str(e.strerror or e)
    fix = {errno.ENOSPC: "free some space, then run the command again (with --resume to continue a run)",
           errno.EROFS: "give an --out on a writable disk", errno.EACCES: "give an --out you may write to",
           errno.EISDIR: "move that directory away: a file of that name belongs there",
           errno.ENAMETOOLONG: "give a shorter path"}.get(e.errno, "check that path and run the command again")
    return f"{what}; {fix}"


if __name__ == "__main__":
    sys.exit(main())
