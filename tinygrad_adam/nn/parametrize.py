"""``nn.utils.parametrize``, as torch's: a module's parameter or buffer recomputed from other tensors on every access.

``register_parametrization(m, "weight", P())`` moves ``m.weight`` to ``m.parametrizations.weight.original`` (or, when
``P.right_inverse`` returns several tensors, ``original0``, ``original1``...) and makes ``m.weight`` read
``P(original)``. As in torch, the module's class is swapped for a subclass ``Parametrized<Class>`` holding a property
per parametrized name (a property wins over the instance attributes that ``Module`` walks), so ``parameters()``,
``named_parameters()`` and ``state_dict()`` find the originals under ``parametrizations.<name>.original...``, torch's
keys, with no change to ``Module`` itself. Assigning ``m.weight = w`` stores ``right_inverse(w)`` in the originals
(the same Parameter objects, so an optimizer built before keeps them). ``remove_parametrizations`` undoes it all.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from typing import Any

from ..autograd import no_grad
from ..tensor import Tensor
from .module import Module, ModuleDict, ModuleList, Parameter

_cache_depth = 0
_cache: dict[tuple[int, str], Tensor] = {}


@contextlib.contextmanager
def cached() -> Iterator[None]:
    """Inside, each parametrized tensor is computed once, on its first access, and reused (a weight used several
    times in a forward, or an RNN's recurrent kernel); the values are dropped when the outermost block ends."""
    global _cache_depth
    _cache_depth += 1
    try:
        yield
    finally:
        _cache_depth -= 1
        if not _cache_depth:
            _cache.clear()


def _register(module: Module, name: str, tensor: Tensor) -> None:
    """``tensor`` as parameter ``name`` if it is a Parameter, else as a (persistent) buffer."""
    if isinstance(tensor, Parameter):
        module.register_parameter(name, tensor)
    else:
        module.register_buffer(name, tensor)


def _set(dest: Tensor, src: Tensor) -> None:
    """torch's ``dest.set_(src)``: ``dest`` (the same object) now holds ``src``'s array, whatever its shape."""
    dest._data = src._data


class ParametrizationList(ModuleList):
    """``module.parametrizations[name]``: the parametrizations of one tensor, applied in order (children ``"0"``,
    ``"1"``...), and the original tensor(s) they are applied to (``original``, or ``original0``, ``original1``...).

    Made by ``register_parametrization``, not by hand. ``unsafe``: the parametrizations may change the tensor's
    shape and dtype (nothing is checked).
    """

    def __init__(self, modules: Sequence[Module], original: Tensor, unsafe: bool = False) -> None:
        if len(modules) == 0:
            raise ValueError("ParametrizationList needs at least one parametrization module")
        super().__init__(modules)
        self.unsafe = unsafe
        shape, dtype = original.shape, original.dtype
        new: Any = original
        with no_grad():
            for m in reversed(self):
                if hasattr(m, "right_inverse"):
                    with contextlib.suppress(NotImplementedError):  # (then right_inverse is the identity)
                        new = m.right_inverse(new)
        if not isinstance(new, (Tensor, Sequence)):
            raise ValueError(f"register_parametrization: right_inverse returned a {type(new).__name__}; it has to "
                             f"give a Tensor, or a list/tuple of them")
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            if new.dtype != dtype or new.device != original.device:
                raise ValueError(f"register_parametrization: a right_inverse returning one tensor may not change "
                                 f"its dtype or device ({dtype} on {original.device} became {new.dtype} on "
                                 f"{new.device}); return it in the original's dtype and device")
            with no_grad():
                _set(original, new)
            _register(self, "original", original)
        else:
            for i, t in enumerate(new):
                if not isinstance(t, Tensor):
                    raise ValueError(f"register_parametrization: right_inverse must return Tensors, got a "
                                     f"{type(t).__name__} as element {i}")
                if isinstance(original, Parameter):
                    t = Parameter(t, original.requires_grad)
                t.requires_grad_(original.requires_grad)
                _register(self, f"original{i}", t)
        if not self.unsafe:
            z = self()
            if not isinstance(z, Tensor):
                raise ValueError(f"register_parametrization: the parametrization gave back a "
                                 f"{type(z).__name__}, where a Tensor is needed")
            if z.dtype != dtype or z.shape != shape:
                raise ValueError(f"register_parametrization: the parametrization changes the tensor from {shape} "
                                 f"{dtype} to {z.shape} {z.dtype}; keep both, or pass unsafe=True")

    def right_inverse(self, value: Tensor) -> None:
        """Store ``value`` through the parametrizations' ``right_inverse``, last one first, into the original(s),
        in place (the same objects). Every parametrization must define ``right_inverse``."""
        with no_grad():
            for m in reversed(self):
                if not hasattr(m, "right_inverse"):
                    raise RuntimeError(f"cannot assign to a parametrized tensor: parametrization {type(m).__name__} "
                                       f"has no right_inverse; define one, or assign to the original(s)")
                value = m.right_inverse(value)
            if self.is_tensor:
                if not isinstance(value, Tensor) or value.dtype != self.original.dtype:
                    raise ValueError(f"right_inverse must return a Tensor of dtype {self.original.dtype} (the "
                                     f"original's), got {getattr(value, 'dtype', type(value).__name__)}")
                _set(self.original, value)
                return
            if not isinstance(value, Sequence) or len(value) != self.ntensors:
                raise ValueError(f"right_inverse must return a sequence of {self.ntensors} Tensors, got "
                                 f"{type(value).__name__}")
            for i, t in enumerate(value):
                original = getattr(self, f"original{i}")
                if not isinstance(t, Tensor) or t.dtype != original.dtype:
                    raise ValueError(f"right_inverse must return Tensors of the originals' dtypes: element {i} is "
                                     f"{getattr(t, 'dtype', type(t).__name__)}, original{i} is {original.dtype}")
                _set(original, t)

    def forward(self) -> Tensor:
        """The parametrized tensor: the parametrizations applied in order to the original(s)."""
        first, *rest = self
        if self.is_tensor:
            x = first(self.original)
        else:
            x = first(*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for m in rest:
            x = m(x)
        return x


def _refuse_pickle(self: Module) -> Any:
    raise TypeError("a parametrized module cannot be pickled: save its state_dict() and load it into a module "
                    "parametrized the same way")


def _deepcopy(self: Module, memo: dict[int, Any]) -> Module:
    """copy.deepcopy of a parametrized module (the default goes through pickling, which these refuse)."""
    if id(self) in memo:
        return memo[id(self)]
    replica = type(self).__new__(type(self))
    memo[id(self)] = replica
    replica.__dict__.update(copy.deepcopy(vars(self), memo))
    for cls in type(self).__mro__:  # slots (Sequential's cached layer list) too
        for slot in getattr(cls, "__slots__", ()):
            if slot not in ("__dict__", "__weakref__") and hasattr(self, slot):
                setattr(replica, slot, copy.deepcopy(getattr(self, slot), memo))
    return replica


def _parametrized_property(name: str) -> property:
    def get(self: Module) -> Tensor:
        parametrization = self.parametrizations[name]
        if not _cache_depth:
            return parametrization()
        key = (id(self), name)
        if key not in _cache:
            _cache[key] = parametrization()
        return _cache[key]

    def set_(self: Module, value: Tensor) -> None:
        self.parametrizations[name].right_inverse(value)
    return property(get, set_, doc=f"{name}, computed from parametrizations.{name} on every access")


def _own_tensor(module: Module, name: str) -> Tensor | None:
    """The parameter or buffer ``name`` of ``module`` itself, or None."""
    value = vars(module).get(name)
    buffers = vars(module).get("_buffer_persistence", {})
    if isinstance(value, Parameter) or (isinstance(value, Tensor) and name in buffers):
        return value
    return None


def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *,
                             unsafe: bool = False) -> Module:
    """Make ``module.<tensor_name>`` read ``parametrization(original)`` on every access; returns ``module``.

    The first parametrization of a parameter or buffer moves it to ``module.parametrizations.<tensor_name>``:
    ``.original`` (the same object, holding ``parametrization.right_inverse(tensor)`` when that is defined), or
    ``.original0``, ``.original1``... when ``right_inverse`` returns several tensors (new Parameters, to be added to
    an optimizer by hand, as in torch). Registering again on the same name chains the new parametrization after
    the others. Unless ``unsafe``, the parametrization must keep the tensor's shape and dtype (checked once, here).
    """
    if not isinstance(parametrization, Module):
        raise TypeError(f"register_parametrization: the parametrization must be an nn.Module (forward, optionally "
                        f"right_inverse), got {type(parametrization).__name__}")
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            y = getattr(module, tensor_name)
            x = parametrization(y)
            if not isinstance(x, Tensor) or x.dtype != y.dtype or x.shape != y.shape:
                raise ValueError(f"register_parametrization: the new parametrization of {tensor_name!r} turns "
                                 f"{y.shape} {y.dtype} into {getattr(x, 'shape', type(x).__name__)} "
                                 f"{getattr(x, 'dtype', '')}; keep the shape and dtype, or pass unsafe=True")
            if hasattr(parametrization, "right_inverse"):
                with contextlib.suppress(NotImplementedError):
                    z = parametrization.right_inverse(x)
                    if not isinstance(z, Tensor) or z.dtype != y.dtype or z.shape != y.shape:
                        raise ValueError(f"register_parametrization: right_inverse of the new parametrization of "
                                         f"{tensor_name!r} must return a Tensor of {y.shape} {y.dtype}, got "
                                         f"{getattr(z, 'shape', type(z).__name__)} {getattr(z, 'dtype', '')}; "
                                         f"or pass unsafe=True")
        plist = module.parametrizations[tensor_name]
        plist.append(parametrization)
        plist.unsafe |= unsafe
        return module
    original = _own_tensor(module, tensor_name)
    if original is None:
        raise ValueError(f"register_parametrization: {type(module).__name__} has no parameter, buffer or "
                         f"parametrized tensor named {tensor_name!r}; name one of "
                         f"{[n for n in vars(module) if _own_tensor(module, n) is not None]}")
    plist = ParametrizationList([parametrization], original, unsafe=unsafe)  # first: it may raise
    delattr(module, tensor_name)
    if not is_parametrized(module):
        cls = type(module)
        members: dict[str, Any] = {"__getstate__": _refuse_pickle, "__module__": cls.__module__}
        if not hasattr(cls, "__deepcopy__"):
            members["__deepcopy__"] = _deepcopy
        module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), members)
        module.parametrizations = ModuleDict()
    setattr(type(module), tensor_name, _parametrized_property(tensor_name))
    module.parametrizations[tensor_name] = plist
    return module


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` has a parametrized tensor named ``tensor_name`` (any parametrized tensor, when None)."""
    parametrizations = vars(module).get("parametrizations")
    if not isinstance(parametrizations, ModuleDict):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def remove_parametrizations(module: Module, tensor_name: str, leave_parametrized: bool = True) -> Module:
    """Undo the parametrizations of ``module.<tensor_name>``; returns ``module``.

    ``leave_parametrized=True``: the tensor keeps its present value (the original Parameter object, holding it, when
    there was one original; a new Parameter, or buffer when it needs no grad, when there were several).
    ``False``: it goes back to the unparametrized original (only possible with one original). The module gets
    its own class back once nothing of it is parametrized.
    """
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"remove_parametrizations: {type(module).__name__} has no parametrization on "
                         f"{tensor_name!r}")
    plist = module.parametrizations[tensor_name]
    if plist.is_tensor:
        original = plist.original
        if leave_parametrized:
            with no_grad():
                _set(original, getattr(module, tensor_name))
    elif leave_parametrized:
        t = getattr(module, tensor_name)
        original = Parameter(t) if t.requires_grad else t
    else:
        raise ValueError(f"remove_parametrizations: {tensor_name!r} is parametrized by {plist.ntensors} tensors, so "
                         f"there is no single original to go back to; pass leave_parametrized=True")
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    _register(module, tensor_name, original)
    if not is_parametrized(module):
        del module.parametrizations
        module.__class__ = type(module).__bases__[0]
    return module


def type_before_parametrizations(module: Module) -> type:
    """The module's class as it was before any parametrization (``Linear`` for a ``ParametrizedLinear``)."""
    return type(module).__bases__[0] if is_parametrized(module) else type(module)


__all__ = ["ParametrizationList", "cached", "is_parametrized", "register_parametrization", "remove_parametrizations",
           "type_before_parametrizations"]
