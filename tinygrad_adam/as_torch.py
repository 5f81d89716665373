"""Run a PyTorch program unchanged on tinygrad_adam: after ``import tinygrad_adam.as_torch``, ``import torch`` gives
``tinygrad_adam``, ``import torch.nn.functional as F`` gives ``tinygrad_adam.nn.functional``, ``from torch.utils.data
import DataLoader`` gives ours, and so on for every ``torch.X`` that has a ``tinygrad_adam.X``; ``torchvision``'s
``datasets.MNIST`` and ``transforms`` come from ``tinygrad_adam.vision``. Or from a shell, without touching the
file::

    python -m tinygrad_adam.as_torch train.py --epochs 3

An import finder placed first on ``sys.meta_path`` answers each ``torch...`` name with the module of the same path
under ``tinygrad_adam`` (the very same module object, so ``torch.nn is tinygrad_adam.nn``). A ``torch`` module
imported before the finder is torch itself, so installing then raises rather than mix the two; a ``torch.X`` we do
not have is a ModuleNotFoundError naming it. Other libraries that import torch get ours too.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import runpy
import sys
from types import ModuleType
from typing import Any

__all__ = ["install", "main"]

OURS = "tinygrad_adam"
SWAPS = {"torchvision": f"{OURS}.vision", "torch": OURS}  # (torchvision first: "torch" is a prefix of it)
_ATTRIBUTES = ("__name__", "__loader__", "__package__", "__spec__", "__path__", "__file__", "__cached__")
_MISSING = object()


def _theirs(fullname: str) -> str | None:
    """The swapped top-level name ``fullname`` is (or is under), if any."""
    return next((top for top in SWAPS if fullname == top or fullname.startswith(top + ".")), None)


def _ours(fullname: str) -> str:
    top = _theirs(fullname)
    return SWAPS[top] + fullname[len(top):]


def _mirror() -> None:
    """Every ``tinygrad_adam.X`` already imported (aliases registered by hand too, such as ``backends.cudnn``) also
    under ``torch.X`` (and ``tinygrad_adam.vision.X`` under ``torchvision.X``), so the import system finds it there
    without asking a finder."""
    for name, module in list(sys.modules.items()):
        for top, ours in SWAPS.items():
            if name.startswith(ours + ".") and not (top == "torch" and name.startswith(SWAPS["torchvision"])):
                sys.modules.setdefault(top + name[len(ours):], module)


class TorchFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers ``torch`` and ``torch.*`` with tinygrad_adam's module of the same path."""

    def __init__(self) -> None:
        self._attributes: dict[str, dict[str, Any]] = {}

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if _theirs(fullname) is None:
            return None
        try:
            module = importlib.import_module(_ours(fullname))
        except ModuleNotFoundError as e:
            if e.name is None or not _ours(fullname).startswith(e.name):  # a missing module inside ours: not this
                raise
            raise ModuleNotFoundError(f"No module named {fullname!r}: tinygrad_adam has no {_ours(fullname)} (see "
                                      f"README, 'Differences from PyTorch')", name=fullname) from None
        _mirror()
        sys.modules.pop(fullname, None)  # (mirrored just now: it is loaded below, by this finder)
        self._attributes[fullname] = {k: getattr(module, k, _MISSING) for k in _ATTRIBUTES}
        return importlib.machinery.ModuleSpec(fullname, self, is_package=hasattr(module, "__path__"))

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return sys.modules[_ours(spec.name)]

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module is ours, already imported. The import system stamped torch's name and spec on
        it; they are put back (``tinygrad_adam.nn.__spec__`` stays ours)."""
        for key, value in self._attributes.pop(module.__spec__.name).items():
            if value is _MISSING:
                vars(module).pop(key, None)
            else:
                setattr(module, key, value)


def install() -> None:
    """Make ``import torch...`` give tinygrad_adam's modules from now on (once; later calls do nothing). Raises
    RuntimeError when torch itself is already imported."""
    if any(isinstance(finder, TorchFinder) for finder in sys.meta_path):
        return
    real = sys.modules.get("torch")
    if real is not None and getattr(real, "__name__", "") != OURS:
        raise RuntimeError("torch is already imported, so its modules cannot be swapped for tinygrad_adam's; import "
                           "tinygrad_adam.as_torch before anything imports torch")
    sys.meta_path.insert(0, TorchFinder())


def main(argv: list[str] | None = None) -> int:
    """``python -m tinygrad_adam.as_torch SCRIPT [ARGS...]``: SCRIPT run as ``__main__`` with ``sys.argv`` =
    [SCRIPT, ARGS...], its ``import torch...`` lines giving tinygrad_adam's modules."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m tinygrad_adam.as_torch SCRIPT [ARGS...]  (runs a PyTorch script on tinygrad_adam)",
              file=sys.stderr if not args else sys.stdout)
        return 2 if not args else 0
    script = args[0]
    if not os.path.isfile(script):
        print(f"tinygrad_adam.as_torch: no such script {script!r}; give the path of a Python file", file=sys.stderr)
        return 2
    install()
    sys.argv = list(args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python SCRIPT` does
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":  # python -m: run main() of the package's own copy (importing it installs the finder)
    sys.exit(importlib.import_module(f"{OURS}.as_torch").main())
install()
