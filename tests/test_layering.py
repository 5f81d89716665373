"""Data flows one way: data -> model (nn over tensor over backend) -> loss -> backward -> optim.

No module imports a package further up that chain; only ``backend`` knows cupy; the library never imports torch.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tinygrad_adam"

# a leaf module every layer may use: it imports none of them
LEAF = {"backend", "tensor", "autograd", "ops", "nn", "optim", "data", "train", "cli", "experiments", "plots", "models",
        "viz"}
# module group -> the groups of tinygrad_adam (and "models") it must never import
FORBIDDEN = {
    "backend": {"tensor", "autograd", "ops", "nn", "optim", "data", "train", "cli", "experiments", "plots", "models"},
    "tensor": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    # the sparse gradient (embedding(sparse=True)) sits beside tensor: the engine hands it on, optim reads it
    "sparse_grad": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    # torch.sparse's COO matrices (sparse_coo_tensor, sparse.mm): built from the ops, at their level
    "sparse": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    "utils": {"ops", "nn", "optim", "train", "cli", "experiments", "plots", "models", "viz"},  # torch's path to data
    "gradclip": {"ops", "nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    "ops": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    "function": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},  # custom ops
    "nn": {"optim", "data", "train", "cli", "experiments", "plots", "models"},
    "optim": {"nn", "data", "train", "cli", "experiments", "plots", "models"},
    # data hands out Tensors (DataLoader, ToTensor), so it may import tensor and backend, nothing further down
    "data": {"autograd", "ops", "nn", "optim", "train", "cli", "experiments", "plots", "models"},
    "models": {"optim", "data", "train", "cli", "experiments", "plots"},
    "distributions": {"optim", "data", "train", "cli", "experiments", "plots", "models"},  # over nn, like a loss
    # torch.func and torch.autograd.functional (in _autograd/, the submodules of the autograd module): transforms
    # over functions of Tensors; functional_call and stack_module_state use a Module's methods, never import nn
    "func": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    "_autograd": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    # the recorded backward of create_graph=True: differentiable backwards over the ops (tensor's level, like ops)
    "higher_order": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    "higher_order_nn": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    "higher_order_more": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    "higher_order_tail": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    "higher_order_linalg": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    # torch's top-level names over the ops (methods' level; the loss names call nn.functional at the call)
    "math_names": {"optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    # torch's out= on the top-level functions: writes a result into a given tensor (tensor's level)
    "out_arg": {"ops", "nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    # torch's deprecated scalar-first overloads (add_(alpha, other), addmm_(beta, alpha, ...)) over the methods
    "deprecated_overloads": {"optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    # torch's infrastructure names: storage / strides / memory formats at tensor's level, torch.testing over them
    "infrastructure": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    "storage": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    "layouts": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    "testing": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},
    "progress": LEAF,
    "distributed": LEAF,  # torch.distributed for one process: imports nothing of the package
    "durable": LEAF,  # synced renames for checkpoints, run files and downloads: the standard library only
    "dtypes": LEAF,
    "printing": LEAF,
    "anomaly": {"nn", "optim", "data", "train", "cli", "experiments", "plots", "models", "viz"},  # autograd's check
    "jit": LEAF,
    "compiler": LEAF,
    "profiler": LEAF,  # torch.profiler, torch.multiprocessing, torch.version: import nothing of the package
    "multiprocessing": LEAF,
    "version": LEAF,
}
# files allowed one named exception, with the reason: torch's optim.swa_utils wraps a model (AveragedModel is an
# nn.Module, update_bn finds BatchNorm layers); optim/__init__ loads it lazily, so importing optim never loads nn
EXCEPTIONS = {"tinygrad_adam/optim/swa_utils.py": {"nn"}}


def group_of(path: Path) -> str:
    rel = path.relative_to(ROOT).parts
    if rel[0] == "models":
        return "models"
    return rel[1].removesuffix(".py")


def imported_groups(path: Path) -> set[str]:
    """The tinygrad_adam sub-modules (first component) and top-level packages a file imports."""
    tree = ast.parse(path.read_text())
    package_parts = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                found.add(parts[1] if parts[0] == "tinygrad_adam" and len(parts) > 1 else parts[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this file's package
                base = list(package_parts[: len(package_parts) - node.level + 1])
                parts = base + (node.module.split(".") if node.module else [])
            else:
                parts = (node.module or "").split(".")
            if parts[0] == "tinygrad_adam":
                found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
            else:
                found.add(parts[0])
    return found


FILES = sorted(p for p in [*PACKAGE.rglob("*.py"), *(ROOT / "models").rglob("*.py")])


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_one_way_imports(path: Path) -> None:
    group = group_of(path)
    imports = imported_groups(path)
    assert "torch" not in imports, f"{path} imports torch (a test oracle only)"
    if path.name != "backend.py":
        assert "cupy" not in imports and "cupyx" not in imports, f"{path}: only backend.py may import cupy"
    bad = imports & FORBIDDEN.get(group, set()) - EXCEPTIONS.get(path.relative_to(ROOT).as_posix(), set())
    assert not bad, f"{path} ({group}) imports {sorted(bad)}, which sit further up the data flow"
