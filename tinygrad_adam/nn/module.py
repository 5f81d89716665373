"""``Module``: a tree of layers that owns ``Parameter`` tensors; ``Sequential`` chains modules.

Parameters and submodules are found by walking the instance attributes in the order they were
set (lists and tuples of them count too, named ``name.i``), as in micrograd and tinygrad, so a
module needs no registration calls. Names are dotted paths like PyTorch's (``"0.weight"``), so
``state_dict`` keys map one to one onto a PyTorch model of the same layout.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy

from .. import backend
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor a Module learns: it requires grad unless told otherwise."""

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None, device: str | None = None) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, device=device)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models: subclasses set attributes and define ``forward``."""

    training: bool = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ the tree
    def _members(self) -> Iterator[tuple[str, Any]]:
        """(name, value) of every attribute that is a Parameter or a Module, lists and tuples unpacked."""
        for name, value in vars(self).items():
            items = enumerate(value) if isinstance(value, (list, tuple)) else [(None, value)]
            for i, item in items:
                if isinstance(item, (Parameter, Module)):
                    yield (name if i is None else f"{name}.{i}"), item

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct submodules with their attribute names."""
        return ((n, m) for n, m in self._members() if isinstance(m, Module))

    def children(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (named ``prefix``) and every submodule below it, each once, parents first."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            kids = [(f"{name}.{n}" if name else n, m) for n, m in mod.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name (``"0.weight"``); a shared parameter is listed once."""
        seen: set[int] = set()
        for prefix, mod in self.named_modules():
            for name, p in mod._members():
                if isinstance(p, Parameter) and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{prefix}.{name}" if prefix else name), p

    def parameters(self) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters())

    def num_parameters(self) -> int:
        """The number of scalar parameters."""
        return sum(p.size for p in self.parameters())

    # ------------------------------------------------------------------ modes and devices
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active) on this module and every submodule."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: dropout becomes the identity."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set it to None)."""
        for p in self.parameters():
            p.grad = None

    def to(self, device: str | None = None, dtype: Any = None) -> Module:
        """Move every parameter (and its gradient) to ``device`` and/or cast it to ``dtype``, in place.

        As in torch, ``dtype`` must be a floating-point type and only floating-point parameters are cast:
        integer ones keep their dtype.
        """
        dev = None if device is None else backend.parse_device(device)
        if dtype is not None and numpy.dtype(dtype).kind != "f":
            raise TypeError(f"Module.to casts to floating-point dtypes only, got dtype={numpy.dtype(dtype)}")
        for p in self.parameters():
            for t in (p, p.grad) if p.grad is not None else (p,):
                if dev is not None:
                    t.data = backend.to_device(t.data, dev)
                if dtype is not None and t.dtype.kind == "f":
                    t.data = t.data.astype(dtype, copy=False)
        return self

    def float(self) -> Module:
        """Cast the floating-point parameters (and gradients) to float32, in place; returns the module."""
        return self.to(dtype="float32")

    def double(self) -> Module:
        """Cast the floating-point parameters (and gradients) to float64, in place; returns the module."""
        return self.to(dtype="float64")

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """{dotted name: raw array} of every parameter; the arrays are the parameters' own (no copy)."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy arrays (or Tensors) into the parameters, in place, converting device and dtype.

        Raises ValueError listing every shape mismatch, and, when ``strict``, every missing and
        unexpected key. Returns (missing keys, unexpected keys).
        """
        own = dict(self.named_parameters())
        values = {k: v.data if isinstance(v, Tensor) else v if hasattr(v, "shape") else backend.to_numpy(v)
                  for k, v in state_dict.items()}
        missing = [k for k in own if k not in values]
        unexpected = [k for k in values if k not in own]
        mismatched = [f"{k}: model has {own[k].shape}, state_dict has {tuple(v.shape)}"
                      for k, v in values.items() if k in own and tuple(v.shape) != own[k].shape]
        problems = [f"shape mismatch for {m}" for m in mismatched]
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        for k, p in own.items():
            if k in values:
                p.data[...] = backend.to_device(values[k], p.device)
        return missing, unexpected

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The constructor arguments shown inside the parentheses."""
        return ""

    def _describe(self) -> list[str]:
        own = [(n, p) for n, p in self._members() if isinstance(p, Parameter)]
        note = ""
        if own:
            shapes = ", ".join(f"{n} {p.shape}" for n, p in own)
            note = f"  # {shapes}: {sum(p.size for _, p in own):,} params"
        kids = list(self.named_children())
        if not kids:
            return [f"{type(self).__name__}({self.extra_repr()}){note}"]
        lines = [f"{type(self).__name__}({self.extra_repr()}{note}"]
        for name, mod in kids:
            sub = mod._describe()
            lines.append(f"  ({name}): {sub[0]}")
            lines.extend("  " + s for s in sub[1:])
        lines.append(")")
        return lines

    def __repr__(self) -> str:
        lines = self._describe()
        if len(lines) > 1:
            lines[-1] += f"  # {self.num_parameters():,} parameters in total"
        return "\n".join(lines)


class Sequential(Module):
    """Modules applied in order; indexable (``seq[0]``, ``seq[1:]``), iterable, with ``len``.

    The layers are the children in attribute order: ``"0"``, ``"1"``, ... (``setattr(seq, "1", layer)``
    replaces one; a module set under any other name runs last). ``forward`` walks a list of them that is
    made on first use and made again after any attribute assignment.
    """

    __slots__ = ("_layers",)  # a slot lives outside vars(self), so the tree walk never sees this list

    def __init__(self, *modules: Module) -> None:
        self._layers: list[Module] | None = None
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name != "_layers":
            self._layers = None  # the children may have changed: list them again when next needed

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        self._layers = None

    def _layer_list(self) -> list[Module]:
        if self._layers is None:
            self._layers = list(self.children())
        return self._layers

    def __len__(self) -> int:
        return len(self._layer_list())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layer_list())

    def __getitem__(self, index: int | slice) -> Any:
        layers = self._layer_list()
        if isinstance(index, slice):
            return Sequential(*layers[index])
        if not -len(layers) <= index < len(layers):
            raise IndexError(f"Sequential index {index} is out of range for {len(layers)} modules")
        return layers[index]

    def forward(self, x: Any) -> Any:
        for m in self._layer_list():
            x = m(x)
        return x
