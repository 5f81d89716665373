"""``nn.utils.prune``, as torch's: a module's parameter replaced by ``<name>_orig`` (the Parameter, still learned)
times a ``<name>_mask`` buffer, recomputed by a forward pre-hook (the pruning method itself) before each forward.

Pruning the same parameter again combines the methods in a ``PruningContainer`` (the new method sees only the
entries, or channels, the old mask kept), ``remove`` makes the pruning permanent, ``global_unstructured`` prunes
several parameters as one vector. The masks are computed in numpy from the importance scores; ``topk`` ties are
broken by the lower index (torch's order on ties is its kernel's), and the random methods draw from our generator
(torch's draws differ).
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any

import numpy

from ..autograd import no_grad
from ..creation import rand
from ..tensor import Tensor
from .module import Module

__all__ = ["BasePruningMethod", "CustomFromMask", "Identity", "L1Unstructured", "LnStructured", "PruningContainer",
           "RandomStructured", "RandomUnstructured", "custom_from_mask", "global_unstructured", "identity",
           "is_pruned", "l1_unstructured", "ln_structured", "random_structured", "random_unstructured", "remove"]


class BasePruningMethod(ABC):
    """A pruning method: ``compute_mask(t, default_mask)`` in subclasses; ``apply`` prunes a module's tensor."""

    _tensor_name: str
    PRUNING_TYPE: str = "unstructured"

    def __call__(self, module: Module, inputs: Any) -> None:
        """The forward pre-hook: ``module.<name>`` recomputed as mask times orig."""
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The mask (``t``'s shape) for importance scores ``t``, given the mask already applied."""

    def apply_mask(self, module: Module) -> Tensor:
        """``<name>_mask * <name>_orig`` (in the graph: the gradient reaches orig masked)."""
        assert self._tensor_name is not None, f"Module {module} has to be pruned"
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return mask.to(dtype=orig.dtype) * orig

    @classmethod
    def apply(cls, module: Module, name: str, *args: Any, importance_scores: Tensor | None = None,
              **kwargs: Any) -> BasePruningMethod:
        """Prune ``module.<name>`` by ``cls(*args, **kwargs)`` (combined with an earlier pruning of it in a
        PruningContainer); returns the method, registered as a forward pre-hook."""
        old_method, hooks_to_remove = None, []
        for k, hook in module._forward_pre_hooks.items():
            if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
                old_method = hook
                hooks_to_remove.append(k)
        assert len(hooks_to_remove) <= 1, (f"Avoid adding multiple pruning hooks to the same tensor {name} of module "
                                           f"{module}. Use a PruningContainer.")
        for k in hooks_to_remove:
            del module._forward_pre_hooks[k]
        method: BasePruningMethod = cls(*args, **kwargs)
        method._tensor_name = name
        if isinstance(old_method, PruningContainer):
            old_method.add_pruning_method(method)
            method = old_method
        elif old_method is not None:
            container = PruningContainer(old_method)
            container.add_pruning_method(method)
            method = container

        orig = getattr(module, name)
        if importance_scores is not None:
            assert importance_scores.shape == orig.shape, \
                f"importance_scores should have the same shape as parameter {name} of {module}"
        else:
            importance_scores = orig
        if not isinstance(method, PruningContainer):
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = Tensor(numpy.ones(orig.shape, orig._data.dtype))
        else:
            default_mask = getattr(module, name + "_mask").detach().clone()
        try:
            with no_grad():
                mask = method.compute_mask(importance_scores, default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            if not isinstance(method, PruningContainer):
                orig = getattr(module, name + "_orig")
                module.register_parameter(name, orig)
                del module._parameters[name + "_orig"]
            raise
        return method

    def prune(self, t: Tensor, default_mask: Tensor | None = None,
              importance_scores: Tensor | None = None) -> Tensor:
        """``t`` times the mask computed from ``importance_scores`` (``t`` by default)."""
        if importance_scores is not None:
            assert importance_scores.shape == t.shape, "importance_scores should have the same shape as tensor t"
        else:
            importance_scores = t
        if default_mask is None:
            default_mask = Tensor(numpy.ones(t.shape, t._data.dtype))
        return t * self.compute_mask(importance_scores, default_mask=default_mask)

    def remove(self, module: Module) -> None:
        """Make the pruning permanent: ``<name>`` becomes the Parameter ``<name>_orig`` holding the pruned values;
        ``<name>_orig`` and ``<name>_mask`` go."""
        assert self._tensor_name is not None, f"Module {module} has to be pruned before pruning can be removed"
        weight = self.apply_mask(module)
        if hasattr(module, self._tensor_name):
            delattr(module, self._tensor_name)
        orig = module._parameters[self._tensor_name + "_orig"]
        orig.data = weight.data
        del module._parameters[self._tensor_name + "_orig"]
        del module._buffers[self._tensor_name + "_mask"]
        setattr(module, self._tensor_name, orig)


def _bool_index(slc: Any) -> Any:
    """A Tensor index list as numpy reads it."""
    if isinstance(slc, Tensor):
        return slc._data
    return tuple(s._data if isinstance(s, Tensor) else s for s in slc)


class PruningContainer(BasePruningMethod):
    """The sequence of methods applied to one tensor; its mask is the last method's on what the previous kept."""

    def __init__(self, *args: BasePruningMethod) -> None:
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        if len(args) == 1:
            self._tensor_name = args[0]._tensor_name
            self.add_pruning_method(args[0])
        else:
            for method in args:
                self.add_pruning_method(method)

    def add_pruning_method(self, method: BasePruningMethod | None) -> None:
        """Append ``method`` (on the same tensor)."""
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name != method._tensor_name:
            raise ValueError(f"PruningContainer {self} prunes '{self._tensor_name}', so a method for "
                             f"'{method._tensor_name}' cannot join it")
        self._pruning_methods += (method,)  # type: ignore[operator]

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self) -> Iterator[BasePruningMethod]:
        return iter(self._pruning_methods)

    def __getitem__(self, idx: int) -> BasePruningMethod:
        return self._pruning_methods[idx]

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The last method's mask computed on the entries (unstructured) or channels (structured) that
        ``default_mask`` kept, or on all of ``t`` (global), written into a copy of ``default_mask``."""
        method = self._pruning_methods[-1]
        mask = default_mask._data
        new_mask = mask.astype(t._data.dtype, copy=True)
        if method.PRUNING_TYPE == "unstructured":
            slc: Any = mask == 1
        elif method.PRUNING_TYPE == "structured":
            if not hasattr(method, "dim"):
                raise AttributeError(f"{type(method).__name__} is a structured pruning method but has no `dim` "
                                     f"attribute saying which dimension to prune along")
            n_dims, dim = t.ndim, method.dim
            dim = dim + n_dims if dim < 0 else dim
            if dim < 0:
                raise IndexError(f"dim is out of range for a tensor with {n_dims} dims")
            keep = mask.sum(axis=tuple(d for d in range(n_dims) if d != dim)) != 0
            slc = tuple(keep if d == dim else slice(None) for d in range(n_dims))
        elif method.PRUNING_TYPE == "global":
            slc = tuple(slice(None) for _ in range(t.ndim))
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE}")
        partial = method.compute_mask(Tensor(t._data[slc]), default_mask=Tensor(mask[slc]))
        new_mask[slc] = partial._data.astype(new_mask.dtype)
        return Tensor(new_mask)


class Identity(BasePruningMethod):
    """Prunes nothing: the mask is all ones."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        return default_mask

    @classmethod
    def apply(cls, module: Module, name: str) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name)


def _validate_amount_init(amount: Any) -> None:
    """torch's: an int >= 0 (a count) or a float in [0, 1] (a fraction)."""
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or \
            (not isinstance(amount, numbers.Integral) and (float(amount) > 1.0 or float(amount) < 0.0)):
        raise ValueError(f"amount={amount!r}: give a fraction in [0, 1] or a count of entries (an int >= 0)")


def _validate_amount(amount: Any, tensor_size: int) -> None:
    if isinstance(amount, numbers.Integral) and amount > tensor_size:
        raise ValueError(f"amount={amount} exceeds the {tensor_size} entries there are to prune")


def _nparams_toprune(amount: Any, tensor_size: int) -> int:
    """A count as is; a fraction of ``tensor_size``, rounded half to even (Python's round, as torch)."""
    if isinstance(amount, numbers.Integral):
        return int(amount)
    return round(amount * tensor_size)


def _validate_structured(t: Tensor) -> None:
    if t.ndim <= 1:
        raise ValueError(f"structured pruning removes slices along a dimension, so it needs 2 or more dims; this "
                         f"tensor has shape {tuple(t.shape)} ({t.ndim} dims)")


def _smallest(scores: numpy.ndarray, k: int) -> numpy.ndarray:
    """The flat indices of the ``k`` smallest scores (ties: lower index first)."""
    return numpy.argsort(scores.reshape(-1), kind="stable")[:k]


class _Unstructured(BasePruningMethod):
    """Prune ``amount`` single entries, those ``_chosen`` picks."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: int | float) -> None:
        _validate_amount_init(amount)
        self.amount = amount

    def _chosen(self, t: Tensor, k: int) -> numpy.ndarray:
        raise NotImplementedError

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        size = int(numpy.prod(t.shape))
        k = _nparams_toprune(self.amount, size)
        _validate_amount(k, size)
        mask = default_mask._data.copy()
        if k:
            mask.reshape(-1)[self._chosen(t, k)] = 0
        return Tensor(mask)


class RandomUnstructured(_Unstructured):
    """Prune ``amount`` entries chosen at random."""

    def _chosen(self, t: Tensor, k: int) -> numpy.ndarray:
        return numpy.argsort(-rand(*t.shape)._data.reshape(-1), kind="stable")[:k]

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, amount=amount)


class L1Unstructured(_Unstructured):
    """Prune the ``amount`` entries of smallest absolute value."""

    def _chosen(self, t: Tensor, k: int) -> numpy.ndarray:
        return _smallest(numpy.abs(t._data), k)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float,  # type: ignore[override]
              importance_scores: Tensor | None = None) -> BasePruningMethod:
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


def _channel_mask(t: Tensor, dim: int, keep: numpy.ndarray, default_mask: Tensor) -> Tensor:
    """Zeros but ones on the kept channels along ``dim``, times ``default_mask``."""
    mask = numpy.zeros(t.shape, t._data.dtype)
    mask[tuple(keep if d == dim else slice(None) for d in range(t.ndim))] = 1
    return Tensor(mask * default_mask._data.astype(mask.dtype))


class RandomStructured(BasePruningMethod):
    """Prune ``amount`` channels along ``dim`` chosen at random."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount: int | float, dim: int = -1) -> None:
        _validate_amount_init(amount)
        self.amount, self.dim = amount, dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        _validate_structured(t)
        if self.dim >= t.ndim:
            raise IndexError(f"Invalid index {self.dim} for tensor of size {tuple(t.shape)}")
        size = t.shape[self.dim]
        k = _nparams_toprune(self.amount, size)
        _validate_amount(k, size)
        if k == 0:
            return default_mask
        prob = rand(size)._data
        threshold = numpy.sort(prob, kind="stable")[k - 1]
        return _channel_mask(t, self.dim % t.ndim, prob > threshold, default_mask)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float, dim: int = -1) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prune the ``amount`` channels along ``dim`` of smallest L``n`` norm."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount: int | float, n: int | float | str, dim: int = -1) -> None:
        _validate_amount_init(amount)
        self.amount, self.n, self.dim = amount, n, dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        _validate_structured(t)
        if self.dim >= t.ndim:
            raise IndexError(f"Invalid index {self.dim} for tensor of size {tuple(t.shape)}")
        size = t.shape[self.dim]
        k = _nparams_toprune(self.amount, size)
        _validate_amount(k, size)
        if k == 0:
            return default_mask
        dim = self.dim % t.ndim
        flat = numpy.moveaxis(numpy.abs(t._data.astype(numpy.float64)), dim, 0).reshape(size, -1)
        n = self.n
        if n in ("fro", 2):
            norm = numpy.sqrt((flat ** 2).sum(1))
        elif n == "nuc":
            raise ValueError("LnStructured: the nuclear norm is not defined over a channel's entries")
        elif n == float("inf"):
            norm = flat.max(1)
        elif n == -float("inf"):
            norm = flat.min(1)
        elif n == 0:
            norm = (flat != 0).sum(1).astype(numpy.float64)
        else:
            norm = (flat ** float(n)).sum(1) ** (1.0 / float(n))
        keep = numpy.zeros(size, bool)
        norm = norm.astype(t._data.dtype)  # (a NaN norm is the largest, as torch's topk ranks it: kept)
        keep[numpy.argsort(numpy.where(numpy.isnan(norm), -numpy.inf, -norm), kind="stable")[:size - k]] = True
        return _channel_mask(t, dim, keep, default_mask)

    @classmethod
    def apply(cls, module: Module, name: str, amount: int | float, n: int | float | str,  # type: ignore[override]
              dim: int, importance_scores: Tensor | None = None) -> BasePruningMethod:
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prune by a given mask (times the mask already applied)."""

    PRUNING_TYPE = "global"

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        assert default_mask.shape == self.mask.shape
        return Tensor(default_mask._data * self.mask._data.astype(default_mask._data.dtype))

    @classmethod
    def apply(cls, module: Module, name: str, mask: Tensor) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, mask=mask)


def identity(module: Module, name: str) -> Module:
    """Prune nothing, but reparametrize ``module.<name>`` as orig times a mask of ones."""
    Identity.apply(module, name)
    return module


def random_unstructured(module: Module, name: str, amount: int | float) -> Module:
    """Prune ``amount`` random entries of ``module.<name>``."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module: Module, name: str, amount: int | float,
                    importance_scores: Tensor | None = None) -> Module:
    """Prune the ``amount`` entries of ``module.<name>`` of smallest absolute value (or importance score)."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module: Module, name: str, amount: int | float, dim: int) -> Module:
    """Prune ``amount`` random channels of ``module.<name>`` along ``dim``."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module: Module, name: str, amount: int | float, n: int | float | str, dim: int,
                  importance_scores: Tensor | None = None) -> Module:
    """Prune the ``amount`` channels of ``module.<name>`` along ``dim`` of smallest L``n`` norm."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module: Module, name: str, mask: Tensor) -> Module:
    """Prune ``module.<name>`` by ``mask``."""
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(parameters: Iterable[tuple[Module, str]], pruning_method: type,
                        importance_scores: dict | None = None, **kwargs: Any) -> None:
    """Prune the ``(module, name)`` tensors as one vector by an unstructured ``pruning_method(**kwargs)``."""
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores takes a dict keyed by (module, name)")
    scores = numpy.concatenate([importance_scores.get((m, n), getattr(m, n))._data.reshape(-1)
                                for m, n in parameters])
    default = numpy.concatenate([(getattr(m, n + "_mask")._data if hasattr(m, n + "_mask")
                                  else numpy.ones(getattr(m, n).shape, getattr(m, n)._data.dtype)).reshape(-1)
                                 for m, n in parameters])
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(f'Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found method '
                        f"{pruning_method} of type {method.PRUNING_TYPE}")
    container.add_pruning_method(method)
    final = container.compute_mask(Tensor(scores), Tensor(default))._data
    pointer = 0
    for module, name in parameters:
        param = getattr(module, name)
        size = int(numpy.prod(param.shape))
        custom_from_mask(module, name, mask=Tensor(final[pointer:pointer + size].reshape(param.shape)))
        pointer += size


def remove(module: Module, name: str) -> Module:
    """Make the pruning of ``module.<name>`` permanent (ValueError when it is not pruned)."""
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"prune.remove: '{name}' of {module} is not pruned, so there is nothing to remove")


def is_pruned(module: Module) -> bool:
    """Whether any submodule holds a pruning pre-hook."""
    return any(isinstance(hook, BasePruningMethod)
               for _, sub in module.named_modules() for hook in sub._forward_pre_hooks.values())
