"""The ``tinygrad-adam`` command line: ``--version`` and ``info`` (more subcommands register below)."""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence

from . import __version__, backend


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinygrad-adam",
                                     description="Train the Adam paper's models and inspect them.")
    parser.add_argument("--version", action="version", version=f"tinygrad_adam {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("info", help="versions, BLAS, and whether a GPU is usable").set_defaults(func=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
