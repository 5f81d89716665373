"""See the autograd graph: Graphviz DOT text, a rendered picture, and a summary of what it holds.

Call these before ``backward()``: backward frees the graph (unless ``retain_graph=True``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .tensor import Tensor

INSTALL_HINT = ("the Graphviz 'dot' program is not installed: apt-get install graphviz, brew install graphviz, "
                "or conda install graphviz; to_dot() works without it")


def walk(root: Tensor) -> Iterator[Tensor]:
    """Every tensor that ``root`` was computed from, ``root`` first, each once."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        yield t
        stack.extend(t._parents)


def _label(t: Tensor, names: Mapping[int, str]) -> tuple[str, str]:
    """(text, style) of a node: an op, a parameter, or an input / constant."""
    shape = "x".join(str(n) for n in t.shape) or "scalar"
    if t._backward is not None:
        return f"{t._op}\\n{shape} {t.dtype}", 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"'
    kind = "parameter" if t.requires_grad else "input"
    name = names.get(id(t), kind)
    color = "#f6e3c7" if t.requires_grad else "#e8e8e8"
    return f"{name}\\n{shape} {t.dtype}", f'shape=ellipse, style=filled, fillcolor="{color}"'


def to_dot(root: Tensor, params: Mapping[str, Tensor] | None = None) -> str:
    """Graphviz DOT text of the graph that produced ``root``.

    One node per op (its name, output shape and dtype); leaves are marked ``parameter`` (they require
    grad; named from ``params``, e.g. ``dict(model.named_parameters())``) or ``input``. Edges point
    from inputs to the op that used them.
    """
    names = {id(t): n for n, t in (params or {}).items()}
    lines = ["digraph autograd {", "  rankdir=BT;", '  node [fontname="Helvetica", fontsize=10];']
    for t in walk(root):
        text, style = _label(t, names)
        lines.append(f'  n{id(t)} [label="{text}", {style}];')
        lines.extend(f"  n{id(p)} -> n{id(t)};" for p in t._parents)
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(root: Tensor, path: str | Path, params: Mapping[str, Tensor] | None = None) -> Path:
    """Write the graph as SVG or PNG (by ``path``'s suffix) with Graphviz's ``dot``; returns the path."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"render: unsupported file type {path.suffix!r}; use .svg, .png or .pdf")
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(INSTALL_HINT)
    subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=to_dot(root, params), text=True, check=True)
    return path


def _saved_arrays(t: Tensor) -> Iterator[Any]:
    """The arrays an op's backward closure keeps alive (directly, or through a Tensor's array)."""
    for cell in getattr(t._backward, "__closure__", None) or ():
        v = cell.cell_contents
        for item in (v if isinstance(v, (tuple, list)) else (v,)):
            if isinstance(item, Tensor):
                yield item._data
            elif hasattr(item, "nbytes") and hasattr(item, "dtype"):
                yield item


def summary(root: Tensor, show: bool = True) -> dict[str, Any]:
    """Op counts and the bytes held by saved buffers in ``root``'s graph; printed unless ``show=False``.

    Returns ``{"ops": {name: count}, "num_ops", "num_leaves", "num_parameters", "saved_bytes"}``.
    """
    ops: Counter[str] = Counter()
    leaves = params = 0
    saved: dict[int, int] = {}
    for t in walk(root):
        if t._backward is None:
            leaves += 1
            params += t.requires_grad
            continue
        ops[t._op] += 1
        for a in _saved_arrays(t):
            base = a if getattr(a, "base", None) is None else a.base
            saved[id(base)] = int(base.nbytes)
    info = {"ops": dict(ops.most_common()), "num_ops": sum(ops.values()), "num_leaves": leaves,
            "num_parameters": params, "saved_bytes": sum(saved.values())}
    if show:
        print(f"{info['num_ops']} ops, {leaves} leaves ({params} parameters), "
              f"saved buffers {info['saved_bytes'] / 2**20:.2f} MiB")
        for name, n in info["ops"].items():
            print(f"  {name:<16}{n}")
    return info
