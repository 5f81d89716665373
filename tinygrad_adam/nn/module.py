"""``Module``: a tree of layers that owns ``Parameter`` tensors; ``Sequential`` chains modules.

Parameters and submodules are found by walking the instance attributes in the order they were
set (lists and tuples of them count too, named ``name.i``), as in micrograd and tinygrad, so a
module needs no registration calls. Names are dotted paths like PyTorch's (``"0.weight"``), so
``state_dict`` keys map one to one onto a PyTorch model of the same layout.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import Any, NamedTuple

import numpy

from .. import backend, dtypes, layouts
from ..autograd import RemovableHandle, no_grad
from ..creation import zeros
from ..sparse import SparseCOOTensor
from ..tensor import Tensor, bump_version
from .hooks import ModuleHooks, with_global


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns (torch's ``_IncompatibleKeys``): the keys it did not fill and did not use."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        """torch's text, as ``print(model.load_state_dict(...))`` shows it."""
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


class StateDictError(ValueError, RuntimeError):
    """``load_state_dict``'s refusal (shape mismatches, missing or unexpected keys): a ValueError, and the
    RuntimeError torch raises there, so ``except RuntimeError`` written for torch catches it."""


class Parameter(Tensor):
    """A Tensor a Module learns: it requires grad unless told otherwise."""

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None, device: str | None = None) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, device=device)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        """torch's: a new Parameter of this class on a copy of the data, with the same ``requires_grad``; its
        ``.grad`` and any attributes set on it are not copied (so ``deepcopy(model)`` mid-training has no grads)."""
        if id(self) not in memo:
            memo[id(self)] = type(self)(self.detach().clone(), self.requires_grad)
        return memo[id(self)]


class _BufferMeta(type):
    """``isinstance(t, Buffer)``: whether Tensor t was made by ``Buffer(...)`` (torch's flag ``_is_buffer``)."""

    def __instancecheck__(cls, instance: Any) -> bool:
        if cls is Buffer and isinstance(instance, Tensor) and instance.__dict__.get("_is_buffer", False):
            return True
        return super().__instancecheck__(instance)


class Buffer(Tensor, metaclass=_BufferMeta):
    """torch's ``nn.Buffer(data, persistent=True)``: ``data`` detached (same array, same ``requires_grad``) and
    marked, so that ``module.name = nn.Buffer(t)`` registers it as a buffer (``register_buffer(name, t,
    persistent)``). As torch's, the result is a plain Tensor with attributes ``persistent`` and ``_is_buffer``;
    ``isinstance(t, nn.Buffer)`` tells it apart. ``data=None``: an empty float32 tensor."""

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Tensor:  # type: ignore[misc]
        if data is None:
            data = zeros(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"nn.Buffer: data must be a Tensor, got {type(data).__name__}; wrap it with "
                            f"tensor(...) first")
        t = data.detach().requires_grad_(data.requires_grad)
        t.persistent, t._is_buffer = persistent, True  # type: ignore[attr-defined]
        return t


class UninitializedTensorMixin:
    """What UninitializedParameter and UninitializedBuffer share (torch's): a tensor whose shape is not known yet.

    It holds only a (0,)-shaped placeholder array that keeps the dtype and device it will be made with, so that
    ``Module.to``, ``cuda()``, ``half()`` work before the first forward. Its array cannot be read: every op, and
    ``shape``, ``numel``, ``numpy`` and the like, raise. ``materialize(shape)`` turns it, in place (the same object,
    so an optimizer built before keeps working), into a zero-filled ``cls_to_become`` of that shape.
    """

    __slots__ = ()
    cls_to_become: type[Tensor]
    __deepcopy__ = None  # copy.deepcopy goes through __reduce_ex__ below (there is no data to copy)

    def _unreadable(self) -> Any:
        raise ValueError(f"this uninitialized parameter ({type(self).__name__}) gets its shape at its lazy module's "
                         f"first forward; run a forward pass with a sample batch first")

    def _keep(self, value: Any) -> None:  # Tensor.__init__ and Module.to store the placeholder array through here
        self.__dict__["placeholder"] = value._data if isinstance(value, Tensor) else value

    _data = property(_unreadable, _keep)
    data = property(_unreadable, _keep)

    @property
    def shape(self) -> tuple[int, ...]:
        raise RuntimeError("an uninitialized (lazy) parameter or buffer has no shape yet: run a forward pass of "
                           "its lazy module (or load_state_dict into it) first")

    @property
    def dtype(self) -> Any:
        return self.__dict__["placeholder"].dtype

    @property
    def device(self) -> str:
        return backend.device_of(self.__dict__["placeholder"])

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.dtype}")
        self.requires_grad = requires_grad  # type: ignore[attr-defined]
        return self  # type: ignore[return-value]

    def materialize(self, shape: tuple[int, ...], device: str | None = None, dtype: Any = None) -> None:
        """Become a ``cls_to_become`` of ``shape`` filled with zeros, in place, on this tensor's device and dtype
        unless told otherwise."""
        self._become(zeros(shape, dtype=self.dtype if dtype is None else dtype,
                           device=self.device if device is None else device)._data)

    def _become(self, array: Any) -> None:
        """Become a ``cls_to_become`` holding ``array``, in place."""
        del self.__dict__["placeholder"]
        self.__class__ = self.cls_to_become
        self._data = array

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def __reduce_ex__(self, protocol: Any) -> Any:  # copy.deepcopy and pickle: a new one, still uninitialized
        return type(self), (self.requires_grad, self.device, self.dtype)  # type: ignore[attr-defined]


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter of a lazy module (``nn.LazyLinear``...) before its first forward: see UninitializedTensorMixin."""

    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device: str | None = None, dtype: Any = None) -> None:
        super().__init__(zeros(0, dtype=dtype, device=device), requires_grad)


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer of a lazy module (``running_mean`` of ``nn.LazyBatchNorm1d``...) before its first forward."""

    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device: str | None = None, dtype: Any = None) -> None:
        super().__init__(zeros(0, dtype=dtype, device=device), requires_grad)


def is_lazy(value: Any) -> bool:
    """Whether ``value`` is an UninitializedParameter or UninitializedBuffer (torch.nn.parameter.is_lazy)."""
    return isinstance(value, UninitializedTensorMixin)


class MemberView(dict):
    """``module._modules`` / ``_parameters`` / ``_buffers`` as torch code reads them: {name: member} of the module's
    own, in order (``.values()``, ``reversed``, ``len``, ``[name]``). The members live in the module's attributes,
    so this is a fresh dict at each read whose ``[name] = v`` (through ``add``) and ``del [name]`` write through to
    the module; other mutators raise rather than be lost."""

    def __init__(self, owner: Module, items: Iterable[tuple[str, Any]], add: Callable[[str, Any], None]) -> None:
        super().__init__(items)
        self.owner, self.add = owner, add

    def __setitem__(self, name: str, value: Any) -> None:
        self.add(name, value)
        super().__setitem__(name, value)

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name)
        delattr(self.owner, name)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("module._modules / _parameters / _buffers are views of the module's attributes: "
                                  "change them with [name] = value, del [name], or the register_* methods")

    pop = popitem = clear = update = setdefault = __ior__ = _refuse


class NonPersistentSet(set):
    """``module._non_persistent_buffers_set`` as torch code uses it: the names of the non-persistent buffers, made
    at each read from the module's {buffer name: persistent} flags, where ``add(name)`` / ``discard(name)`` /
    ``remove(name)`` of a buffer's name write through (make it non-persistent / persistent)."""

    def __init__(self, flags: dict[str, bool]) -> None:
        super().__init__(n for n, persistent in flags.items() if not persistent)
        self.flags = flags

    def add(self, name: str) -> None:
        super().add(name)
        if name in self.flags:
            self.flags[name] = False

    def discard(self, name: str) -> None:
        super().discard(name)
        if name in self.flags:
            self.flags[name] = True

    def remove(self, name: str) -> None:
        super().remove(name)
        self.flags[name] = True


def _reachable(roots: Iterable[Module]) -> set[int]:
    """ids of the Modules and Parameters under ``roots`` (themselves included), every list or tuple attribute
    unpacked; an iterative walk, so a module held back by a child (``self.owner = [parent]``) ends it."""
    seen: set[int] = set()
    stack: list[Any] = list(roots)
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, Module):
            for member in vars(value).values():
                if isinstance(member, (Parameter, Module)):
                    stack.append(member)
                elif isinstance(member, (list, tuple)):
                    stack.extend(x for x in member if isinstance(x, (Parameter, Module)))
    return seen


_INPUT_AS_X: dict[Callable[..., Any], bool] = {}


def _names_input_x(forward: Callable[..., Any]) -> bool:
    """Whether ``forward`` is one of ours whose first argument, torch's ``input``, is called ``x`` (cached per
    function): ``layer(input=t)`` then passes t as that argument, as torch's layers take it."""
    known = _INPUT_AS_X.get(forward)
    if known is None:
        code = getattr(forward, "__code__", None)
        ours = (getattr(forward, "__module__", None) or "").startswith("tinygrad_adam.")
        named = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount] if ours and code is not None else ()
        known = _INPUT_AS_X[forward] = named[1:2] == ("x",) and "input" not in named
    return known


class Module:
    """Base class of layers and models: subclasses set attributes and define ``forward``."""

    training: bool = True
    _module_hooks: ModuleHooks | None = None  # made by the first register_*_hook (see hooks.py)
    _state_hooks: ModuleHooks | None = None  # the state_dict / load_state_dict hooks, made by the first of them
    _version: int = 1  # torch's: the state_dict format's version, handed to state_dict hooks as local_metadata
    call_super_init: bool = False  # torch's flag (Module.__init__ here takes no arguments to pass on)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Tensor) and value.__dict__.get("_is_buffer", False):  # an nn.Buffer registers itself
            self._assign_buffer(name, value)
            return
        old, flags = vars(self).get(name), vars(self).get("_buffer_persistence", {})
        slots = vars(self).get("_none_slots", {})
        for kind, what, takes in ((Parameter, "parameter", (Parameter,)),
                                  (Module, "child module", (Parameter, Module))):
            if (isinstance(old, kind) or slots.get(name) is kind) and not isinstance(value, takes) \
                    and value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as {what} '{name}' (torch.nn.{kind.__name__} "
                                f"or None expected)")
        if name in flags and not isinstance(value, (Tensor, Module)) and value is not None:
            raise TypeError(f"buffer '{name}' can hold a Tensor, an nn.Buffer or None, not a "
                            f"'{type(value).__name__}'")
        kind_of = next((k for k in (Parameter, Module) if isinstance(value, k)), None)
        if kind_of and not isinstance(old, kind_of) and name in vars(self) and slots.get(name) is not kind_of:
            del self.__dict__[name]  # as torch: a new Parameter / child is listed after the others of its kind
            flags.pop(name, None)  # and a buffer of that name is one no longer
        if value is None and isinstance(old, (Parameter, Module)):
            self._none_slot(name, Parameter if isinstance(old, Parameter) else Module)
        elif value is not None:
            slots.pop(name, None)
        object.__setattr__(self, name, value)

    def _none_slot(self, name: str, kind: type) -> None:
        """Remember that attribute ``name`` (None) holds the place of a Parameter or child (``kind``), as torch's
        ``_parameters`` / ``_modules`` keep a None entry: one set there later keeps that place in the order, where one
        set over a plain None attribute is listed after the others of its kind."""
        self.__dict__.setdefault("_none_slots", {})[name] = kind

    def __delattr__(self, name: str) -> None:
        """As torch's: the name is no longer a parameter, buffer or child, nor holds such a place."""
        object.__delattr__(self, name)
        vars(self).get("_none_slots", {}).pop(name, None)
        vars(self).get("_buffer_persistence", {}).pop(name, None)

    def __setstate__(self, state: Any) -> None:
        """Unpickling (and deepcopy), as Python's default: the ``__dict__`` state, then any slot state of a
        ``(dict, slots)`` pair. A module pickled before ``_buffers`` became torch's view kept its buffers'
        persistence flags under that name, which the view would now hide; they move to ``_buffer_persistence``."""
        state, slots = state if isinstance(state, tuple) else (state, None)
        if state:
            if isinstance(state.get("_buffers"), dict):
                state.setdefault("_buffer_persistence", state.pop("_buffers"))
            self.__dict__.update(state)
        for name, value in (slots or {}).items():
            setattr(self, name, value)

    def _assign_buffer(self, name: str, value: Tensor) -> None:
        """``self.name = nn.Buffer(t)``, torch's checks: not over a Parameter, a Module or another attribute."""
        old = vars(self).get(name)
        for kind in (Parameter, Module):
            if isinstance(old, kind):
                raise TypeError(f"cannot assign an nn.Buffer as {kind.__name__.lower()} {name!r} ({kind.__name__} or "
                                f"None expected); delete the attribute first")
        if name not in self._buffer_flags() and (name in vars(self) or hasattr(type(self), name)):
            raise KeyError(f"attribute {name!r} already exists; assign the Buffer under another name")
        self.register_buffer(name, value, value.persistent)  # type: ignore[attr-defined]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs and not args and "input" in kwargs and _names_input_x(type(self).forward):
            args = (kwargs.pop("input"),)  # torch's keyword for the input; our layers call it x
        hooks = with_global(self._module_hooks)
        if hooks is None:
            return self.forward(*args, **kwargs)
        return hooks.call(self, args, kwargs)

    # ------------------------------------------------------------------ hooks (torch's)
    def _hooks(self, kind: str, hook: Callable[..., Any], prepend: bool, with_kwargs: bool = False,
               always_call: bool = False) -> RemovableHandle:
        if self._module_hooks is None:
            self._module_hooks = ModuleHooks()
        return self._module_hooks.add(kind, hook, prepend, with_kwargs, always_call)

    def _hook_table(self, kind: str) -> dict[int, Callable[..., Any]]:
        """This module's live {handle id: hook} dict of one kind, in calling order."""
        if self._module_hooks is None:
            self._module_hooks = ModuleHooks()
        return getattr(self._module_hooks, kind)

    def _set_hook_table(self, hooks: Mapping[int, Callable[..., Any]], *, kind: str) -> None:
        """Replace the hooks of one kind by ``hooks`` (in place, so handles still reach the table)."""
        table = self._hook_table(kind)
        table.clear()
        table.update(hooks)

    # torch's ``_forward_hooks`` / ``_forward_pre_hooks`` / ``_backward_hooks`` / ``_backward_pre_hooks``: the live
    # dicts (``if module._forward_hooks``, ``.clear()``, assigning a new dict, as code reaching into torch does)
    _forward_hooks = property(partial(_hook_table, kind="post"), partial(_set_hook_table, kind="post"))
    _forward_pre_hooks = property(partial(_hook_table, kind="pre"), partial(_set_hook_table, kind="pre"))
    _backward_hooks = property(lambda self: self._hook_table(self._backward_kind()),
                               lambda self, hooks: self._set_hook_table(hooks, kind=self._backward_kind()))
    _backward_pre_hooks = property(partial(_hook_table, kind="backward_pre"),
                                   partial(_set_hook_table, kind="backward_pre"))

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args)`` before each forward; a returned value (a tuple, or one argument) replaces args.
        With ``with_kwargs=True``: ``hook(module, args, kwargs)``, returning None or a new ``(args, kwargs)``."""
        return self._hooks("pre", hook, prepend, with_kwargs=with_kwargs)

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """``hook(module, args, output)`` after each forward; a returned value replaces the output.
        With ``with_kwargs=True``: ``hook(module, args, kwargs, output)``; with ``always_call=True`` it also runs
        when the call raises (output None if forward raised; its own error is then a warning)."""
        return self._hooks("post", hook, prepend, with_kwargs=with_kwargs, always_call=always_call)

    def register_full_backward_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` once per backward through this module: the gradients of its
        positional Tensor arguments (None where none is wanted) and of its outputs; a returned tuple replaces
        grad_input."""
        self._backward_style(full=True)
        return self._hooks("backward", hook, prepend)

    def register_full_backward_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_output)`` once per backward through this module, when its outputs' gradients are
        known and before the backward hooks; a returned tuple (of the same length) replaces grad_output."""
        return self._hooks("backward_pre", hook, prepend)

    def register_backward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """torch's deprecated non-full hook: ``hook(module, grad_input, grad_output)`` each time backward runs the
        op that made the (first Tensor) output, registered on its ``grad_fn`` at each call. ``grad_input`` is what
        that op computed for its inputs, so it depends on how the module's last op is written (ours need not split
        a layer into the ops torch's does: ``Conv1d`` ends in a reshape here); a returned tuple replaces it."""
        self._backward_style(full=False)
        return self._hooks("backward_old", hook, False)

    def _state_hook(self, kind: str, hook: Callable[..., Any]) -> RemovableHandle:
        if self._state_hooks is None:
            self._state_hooks = ModuleHooks()
        return self._state_hooks.add(kind, hook, False)

    def _state_hook_list(self, kind: str) -> list[Callable[..., Any]]:
        """This module's state_dict / load_state_dict hooks of one kind, in calling order."""
        return [] if self._state_hooks is None else list(getattr(self._state_hooks, kind, {}).values())

    def register_state_dict_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(module, prefix, keep_vars)`` at the start of this module's ``state_dict``."""
        return self._state_hook("sd_pre", hook)

    def register_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata)`` once this module and its children are in
        ``state_dict``; it may change that dict in place and must return None."""
        def public(module: Module, state_dict: Any, prefix: str, local_metadata: dict[str, Any]) -> None:
            if hook(module, state_dict, prefix, local_metadata) is not None:
                raise RuntimeError("state_dict post-hook must return None")
        return self._state_hook("sd_post", public)

    def _register_state_dict_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """torch's older form of ``register_state_dict_post_hook``: a dict the hook returns replaces the one
        ``state_dict`` returns."""
        return self._state_hook("sd_post", hook)

    def _register_load_state_dict_pre_hook(self, hook: Callable[..., Any], with_module: bool = False) \
            -> RemovableHandle:
        """``hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)`` (the
        module first with ``with_module``) at the start of this module's ``_load_from_state_dict``, on the keys
        under its prefix; it may rename or change them in place."""
        return self._state_hook("load_pre", partial(hook, self) if with_module else hook)

    def register_load_state_dict_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)``
        before this module loads its keys (see ``_register_load_state_dict_pre_hook``)."""
        return self._register_load_state_dict_pre_hook(hook, with_module=True)

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(module, incompatible_keys)`` once this module and its children have loaded, before a strict
        load raises: clearing ``incompatible_keys.missing_keys`` / ``unexpected_keys`` in place lets it pass."""
        return self._state_hook("load_post", hook)

    def _backward_style(self, full: bool) -> None:
        """Record whether this module's backward hooks are full ones; torch refuses a mix on one module."""
        if self._module_hooks is None:
            self._module_hooks = ModuleHooks()
        if self._module_hooks.full is (not full):
            raise RuntimeError("this Module already has hooks of the other backward kind; register_backward_hook and "
                               "register_full_backward_hook cannot be mixed on one Module")
        self._module_hooks.full = full

    def _backward_kind(self) -> str:
        """The hook table torch's ``_backward_hooks`` shows: the non-full hooks' on a module that has them."""
        return "backward_old" if self._module_hooks is not None and self._module_hooks.full is False else "backward"

    # ------------------------------------------------------------------ the tree
    def _members(self) -> Iterator[tuple[str, Any]]:
        """(name, value) of every attribute that is a Parameter or a Module, lists and tuples unpacked; an item of a
        list that an attribute also holds (``add_module(f"att_{i}", att)`` over a plain list, as torch code
        registers one), directly or deeper in a child (Darknet's ``yolo_layers`` picked out of its
        ``module_list``), is named by that attribute only, as torch, which ignores the list."""
        members, named, deep = vars(self), None, None
        buffers = members.get("_buffer_persistence", ())  # (a Parameter registered as a buffer is a buffer, as torch)
        for name, value in members.items():
            if isinstance(value, (Parameter, Module)):
                if name not in buffers:
                    yield name, value
            elif isinstance(value, (list, tuple)):
                if named is None:  # (only a module holding a list pays for this)
                    named = {id(v) for v in members.values() if isinstance(v, (Parameter, Module))}
                for i, item in enumerate(value):
                    if not isinstance(item, (Parameter, Module)) or id(item) in named:
                        continue
                    if deep is None:  # (only a list holding a module or Parameter pays for the walk)
                        deep = _reachable(v for v in members.values() if isinstance(v, Module))
                    if id(item) not in deep:
                        yield f"{name}.{i}", item

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Keep ``tensor`` as state that is not learned (running statistics, a mask): set as attribute ``name``,
        moved and cast by ``to()``, and in ``state_dict`` unless ``persistent=False``."""
        if not isinstance(name, str):
            raise TypeError(f"register_buffer: the name must be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"register_buffer: the name must be non-empty and without '.', got {name!r}")
        if tensor is not None and not isinstance(tensor, (Tensor, SparseCOOTensor)):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        if (name in vars(self) or hasattr(type(self), name)) and name not in self._buffer_flags():
            raise KeyError(f"register_buffer: attribute {name!r} already exists")
        self._buffer_flags()[name] = persistent
        object.__setattr__(self, name, tensor)  # not self.__setattr__: an nn.Buffer would register itself again

    def _buffer_flags(self) -> dict[str, bool]:
        """{buffer name: persistent} of this module's own buffers (kept in a plain dict attribute)."""
        return self.__dict__.setdefault("_buffer_persistence", {})

    def _own_buffers(self, persistent_only: bool = False) -> Iterator[tuple[str, Tensor]]:
        for name, persistent in vars(self).get("_buffer_persistence", {}).items():
            value = vars(self).get(name)
            if isinstance(value, (Tensor, SparseCOOTensor)) and (persistent or not persistent_only):
                yield name, value

    def _own_tensors(self, persistent_only: bool = False) -> list[tuple[str, Tensor]]:
        """This module's own parameters (under every name they have here), then its buffers: what torch's
        ``_parameters`` and ``_buffers`` hold, which ``_apply``, ``_save_to_state_dict`` and
        ``_load_from_state_dict`` walk (the last two the persistent buffers only)."""
        return [*self.named_parameters(recurse=False, remove_duplicate=False), *self._own_buffers(persistent_only)]

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Every buffer (see ``register_buffer``) with its dotted name; torch's ``recurse=False`` (this module's
        own only) and ``remove_duplicate`` (a buffer held twice given once)."""
        return self._named_members(lambda m: m._own_buffers(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        return (b for _, b in self.named_buffers(recurse=recurse))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Set ``param`` as attribute ``name`` (torch's explicit form of ``self.name = param``). As torch, the name
        must be a non-empty string without ``"."`` that names no attribute but a parameter (None included)."""
        if not isinstance(name, str):
            raise TypeError(f"register_parameter: the name must be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"register_parameter: the name must be non-empty and without '.', got {name!r}")
        if hasattr(self, name) and not isinstance(vars(self).get(name), Parameter) \
                and vars(self).get("_none_slots", {}).get(name) is not Parameter:
            raise KeyError(f"register_parameter: attribute {name!r} already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        setattr(self, name, param)
        if param is None:
            self._none_slot(name, Parameter)

    def add_module(self, name: str, module: Module | None) -> None:
        """Set ``module`` as attribute ``name`` (torch's explicit form of ``self.name = module``). As torch, the name
        must be a non-empty string without ``"."`` that names no other attribute (a child may be replaced)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None, got {type(module).__name__}")
        if not isinstance(name, str):
            raise TypeError(f"add_module: the name must be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"add_module: the name must be non-empty and without '.', got {name!r}")
        if hasattr(self, name) and not isinstance(vars(self).get(name), Module) \
                and vars(self).get("_none_slots", {}).get(name) is not Module:
            raise KeyError(f"add_module: attribute {name!r} already exists")
        setattr(self, name, module)
        if module is None:
            self._none_slot(name, Module)

    register_module = add_module

    def _child_items(self) -> Iterator[tuple[str, Module]]:
        """(name, child) of every direct submodule, one held under two names listed under each (torch's
        ``_modules.items()``, which ``Sequential`` runs and ``named_modules(remove_duplicate=False)`` walks)."""
        return ((n, m) for n, m in self._members() if isinstance(m, Module))

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct submodules with their attribute names; one held under two names is listed once, under the
        first (as torch: ``children()[-2]`` counts distinct modules)."""
        seen: set[int] = set()
        for name, child in self._child_items():
            if id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    @property
    def _modules(self) -> MemberView:
        """torch's {name: direct submodule} (see ``MemberView``)."""
        return MemberView(self, self._child_items(), self.add_module)

    @property
    def _parameters(self) -> MemberView:
        """torch's {name: own Parameter} (see ``MemberView``)."""
        own = ((n, p) for n, p in self._members() if isinstance(p, Parameter) and "." not in n)
        return MemberView(self, own, self.register_parameter)

    @property
    def _non_persistent_buffers_set(self) -> NonPersistentSet:
        """torch's set of the names of this module's non-persistent buffers (see ``NonPersistentSet``)."""
        return NonPersistentSet(self._buffer_flags())

    @property
    def _buffers(self) -> MemberView:
        """torch's {name: own buffer} (see ``MemberView``); a buffer set through it keeps its persistence."""
        flags = self._buffer_flags()
        return MemberView(self, self._own_buffers(), lambda n, t: self.register_buffer(n, t, flags.get(n, True)))

    def named_modules(self, memo: set[Module] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """This module (named ``prefix``) and every submodule below it, parents first; a module held under two
        names is listed once unless ``remove_duplicate=False``, where a module inside itself raises RecursionError
        (torch's recursion never ends either). ``memo`` (torch's): a set of modules to skip, which the modules
        listed are added to. A string in first place is read as ``prefix`` (this library's older order)."""
        if isinstance(memo, str):
            memo, prefix = None, memo
        seen: set[int] = set()
        skip = set() if memo is None else {id(m) for m in memo}
        stack: list[tuple[str, Module, frozenset[int]]] = [(prefix, self, frozenset())]
        while stack:
            name, mod, above = stack.pop()
            if (id(mod) in seen and remove_duplicate) or id(mod) in skip:
                continue
            if id(mod) in above:
                raise RecursionError(f"named_modules: the module at {name!r} contains itself")
            seen.add(id(mod))
            if memo is not None and remove_duplicate:
                memo.add(mod)
            yield name, mod
            kids = [(f"{name}.{n}" if name else n, m, above | {id(mod)}) for n, m in mod._child_items()]
            stack.extend(reversed(kids))

    def get_submodule(self, target: str) -> Module:
        """The module at dotted path ``target`` ("" is this one), as ``named_modules`` names it."""
        mod = self
        for i, name in enumerate(target.split(".") if target else []):
            child = dict(mod._child_items()).get(name)
            if child is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule {name!r} (in {target!r}, after "
                                     f"{'.'.join(target.split('.')[:i]) or 'the root'})")
            mod = child
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target`` (``"0.weight"``)."""
        path, _, name = target.rpartition(".")
        found = dict(self.get_submodule(path).named_parameters(recurse=False)).get(name)
        if found is None:
            raise AttributeError(f"no parameter {name!r} in the module at {path or 'the root'!r}")
        return found

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path ``target`` (``"0.running_mean"``)."""
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        found = dict(mod._own_buffers()).get(name)
        if found is None and not (name in mod._buffer_flags() and vars(mod).get(name, 0) is None):
            raise AttributeError(f"no buffer {name!r} in the module at {path or 'the root'!r}")
        return found  # (None for a buffer registered as None, as torch)

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """torch's: set ``module`` at dotted path ``target``, every module on the way there existing; the last
        name may be new unless ``strict``, and may not name an attribute that is not a Module."""
        if not target:
            raise ValueError("set_submodule needs a non-empty target such as 'layer.0'")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        *path, name = target.split(".")
        mod = self
        for item in path:
            if not hasattr(mod, item):
                raise AttributeError(f"{type(mod).__name__} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        if strict and not hasattr(mod, name):
            raise AttributeError(f"{type(mod).__name__} has no attribute `{name}`")
        if hasattr(mod, name) and not isinstance(getattr(mod, name), Module) \
                and vars(mod).get("_none_slots", {}).get(name) is not Module:
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(mod, name, module)

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name (``"0.weight"``); a shared parameter is listed once unless
        ``remove_duplicate=False``. ``recurse=False``: this module's own parameters only."""
        return self._named_members(lambda m: ((n, p) for n, p in m._members() if isinstance(p, Parameter)),
                                   prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """``named_parameters``' parameters, in its order. Unless a subclass changes how they are found (its own
        ``named_parameters``, ``named_modules`` or ``_named_members``, which torch's ``parameters`` would call), the
        walk builds no names: a training step lists them for the optimizer, clipping and ``zero_grad``."""
        cls = type(self)
        if not recurse or (cls.named_parameters, cls.named_modules, cls._named_members) != _WALKS:
            return (p for _, p in self.named_parameters(recurse=recurse))
        return self._unnamed_parameters()

    def _unnamed_parameters(self) -> Iterator[Parameter]:
        """Every parameter once, modules parents first and each module's own in attribute order, as
        ``named_parameters()`` lists them (a module held twice is walked once)."""
        seen_modules, seen = set(), set()
        stack = [self]
        while stack:
            module = stack.pop()
            if id(module) in seen_modules:
                continue
            seen_modules.add(id(module))
            kids = []
            for _, value in module._members():
                if isinstance(value, Parameter):
                    if id(value) not in seen:
                        seen.add(id(value))
                        yield value
                elif isinstance(value, Module):
                    kids.append(value)
            stack.extend(reversed(kids))

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first, as torch) and on this module; returns this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch gradient tracking of every parameter; returns this module."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def num_parameters(self) -> int:
        """The number of scalar parameters."""
        return sum(p.size for p in self.parameters())

    # ------------------------------------------------------------------ modes and devices
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active) on this module, then ``child.train(mode)`` on each child (torch's
        recursion: a submodule's own ``train`` override runs, as loralib's merge / unmerge relies on)."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: dropout becomes the identity."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: set it to None (torch's default), or to zeros in place."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
                continue
            if p.grad.grad_fn is not None:  # torch's: cut from the graph first, in place (a held p.grad sees it)
                p.grad.detach_()
            elif p.grad.requires_grad:
                p.grad.requires_grad_(False)
            if p.grad.is_sparse:
                p.grad.zero_()  # torch's: a sparse gradient with no entries
            else:
                p.grad._data[...] = 0

    def to(self, device: str | None = None, dtype: Any = None, non_blocking: bool = False, *,
           memory_format: Any = None) -> Module:
        """Move every parameter (and its gradient) and buffer to ``device`` and/or cast it to ``dtype``, in place.

        As in torch, ``dtype`` must be a floating-point type and only floating-point parameters and buffers are
        cast: integer ones keep their dtype. ``model.to(torch.float64)`` (a dtype in first place) works too.
        ``memory_format`` (e.g. channels_last) lays out the 4-D and 5-D ones so (``Tensor.to``'s; same values).
        """
        if device is not None and not isinstance(device, (str, int)) and dtype is None:
            device, dtype = None, device  # to(dtype); an int is a GPU index, as torch's
        dev = None if device is None else backend.parse_device(device)
        if dtype is not None and numpy.dtype(dtype).kind != "f":
            raise TypeError(f"Module.to casts to floating-point dtypes only, got dtype={numpy.dtype(dtype)}")

        def convert(t: Tensor) -> Tensor:
            if t.is_sparse:  # a sparse gradient (embedding(sparse=True)): moved and cast whole, as torch's
                return t.moved(dev, dtype)
            array = t.placeholder if is_lazy(t) else t._data  # an uninitialized one keeps its dtype and device
            if dev is not None:
                array = backend.to_device(array, dev)
            if dtype is not None and t.dtype.kind == "f":
                with numpy.errstate(over="ignore"):  # past float16's range: inf, silently, as torch
                    array = array.astype(dtype, copy=False)
            if memory_format is not None and array.ndim in (4, 5) and not is_lazy(t):
                array = layouts.to_format(Tensor(array), memory_format)._data
            return Tensor(array, device=backend.device_of(array))
        return self._apply(convert)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Module:
        """torch's step under ``to`` / ``float`` / ``cuda`` ...: ``child._apply(fn)`` on each child (so a subclass's
        override, which moves a cached tensor of its own, runs), then ``fn`` on this module's own parameters, their
        gradients and its buffers, whose arrays take the results in place (the same Tensor objects). Returns this
        module."""
        if recurse:
            for child in self.children():
                child._apply(fn)
        for name, t in self._own_tensors():
            if isinstance(t, SparseCOOTensor):  # a sparse buffer (whisper's alignment_heads): a new one, as torch's
                object.__setattr__(self, name, SparseCOOTensor(fn(t._idx), fn(t._vals), t._shape, t._coalesced))
                continue
            with no_grad():
                t._data = fn(t)._data
                if t.grad is not None:
                    new = fn(t.grad)
                    if new.is_sparse:
                        t._grad = new
                    else:
                        t.grad._data = new._data
        return self

    def type(self, dst_type: Any) -> Module:
        """torch's: every parameter and buffer cast to ``dst_type``, integer ones too (unlike ``to``); returns
        the module."""
        def convert(t: Tensor) -> Tensor:
            if t.is_sparse:
                return t.moved(None, dst_type)
            array = t.placeholder if is_lazy(t) else t._data
            return Tensor(array.astype(numpy.dtype(dst_type), copy=False), device=backend.device_of(array))
        return self._apply(convert)

    def to_empty(self, *, device: str | None = None, recurse: bool = True) -> Module:
        """torch's: parameters and buffers moved to ``device`` without keeping their values (here they keep
        them: moving is as cheap); returns the module."""
        if device is None:
            return self
        dev = backend.parse_device(device)
        return self._apply(lambda t: t.moved(dev, None) if t.is_sparse
                           else Tensor(backend.to_device(t._data, dev), device=dev), recurse=recurse)

    def _get_name(self) -> str:
        """The class name, as ``repr`` prints it (torch's)."""
        return type(self).__name__

    def _named_members(self, get_members_fn: Callable[[Module], Any], prefix: str = "", recurse: bool = True,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        """torch's helper under ``named_parameters`` / ``named_buffers``: (dotted name, member) of
        ``get_members_fn(module)``'s (name, member) pairs over the modules, each member once unless
        ``remove_duplicate=False``; None members are skipped."""
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for mod_prefix, mod in modules:
            for name, value in get_members_fn(mod):
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def share_memory(self) -> Module:
        """Every parameter and buffer into shared memory (``Tensor.share_memory_``: seen by processes forked
        later, e.g. Hogwild training); returns the module."""
        for t in [*self.parameters(), *self.buffers()]:
            t.share_memory_()
        return self

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """``model.compile()``, torch 2's in-place ``torch.compile``: nothing is compiled here (see
        ``tinygrad_adam.compile``), so the module runs as it is; the options are accepted and unused."""

    def cpu(self) -> Module:
        """``to("cpu")``."""
        return self.to("cpu")

    def cuda(self, device: int | str | None = None) -> Module:
        """``to("cuda")``, or to GPU ``device`` (an index or a "cuda:N" name), as torch."""
        return self.to("cuda" if device is None else device if isinstance(device, str) else f"cuda:{int(device)}")

    def float(self) -> Module:
        """Cast the floating-point parameters (and gradients) to float32, in place; returns the module."""
        return self.to(dtype="float32")

    def half(self) -> Module:
        """Cast the floating-point parameters (and gradients) to float16, in place; returns the module."""
        return self.to(dtype="float16")

    def double(self) -> Module:
        """Cast the floating-point parameters (and gradients) to float64, in place; returns the module."""
        return self.to(dtype="float64")

    def bfloat16(self) -> Module:
        """NotImplementedError naming float16 / float32: there is no bfloat16 here (dtypes.py); the module is left
        as it was."""
        return self.to(dtype=dtypes.bfloat16)

    # ------------------------------------------------------------------ checkpoints
    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str, keep_vars: bool) -> None:
        """torch's per-module step of ``state_dict``, which a subclass may override: this module's own parameters,
        then its persistent buffers, under ``prefix``."""
        for name, t in self._own_tensors(persistent_only=True):
            destination[prefix + name] = t if keep_vars or is_lazy(t) else t.detach() if t.is_sparse else t.data
        if type(self).get_extra_state is not Module.get_extra_state:  # torch's: after the tensors
            destination[prefix + EXTRA_STATE] = self.get_extra_state()

    def get_extra_state(self) -> Any:
        """torch's hook for state beyond tensors: a subclass that overrides it (and ``set_extra_state``) has its
        value saved under ``prefix + "_extra_state"`` in ``state_dict`` and handed back by ``load_state_dict``."""
        raise RuntimeError("Module.get_extra_state() was called but this module does not override it; define "
                           "get_extra_state together with set_extra_state")

    def set_extra_state(self, state: Any) -> None:
        """torch's counterpart of ``get_extra_state``: receives the saved ``_extra_state`` on load."""
        raise RuntimeError("Module.set_extra_state() was called but this module does not override it; define "
                           "set_extra_state together with get_extra_state")

    def state_dict(self, *args: Any, destination: dict[str, Any] | None = None, prefix: str = "",
                   keep_vars: bool = False) -> dict[str, Any]:
        """{``prefix`` + dotted name: Tensor} of every parameter and persistent buffer, cut from the graph and on
        their own arrays (no copy: ``.data``), as torch's: an OrderedDict, as there (``move_to_end``,
        ``popitem(last=False)``). ``keep_vars`` gives the Tensors themselves; ``destination`` is filled and
        returned. As torch's, it is this module's ``_save_to_state_dict``, then each child's ``state_dict`` (so a
        subclass overriding either is heard); a parameter shared by two modules (tied weights), or a module held
        under two names (TCN's ``conv1`` also in ``net``), appears under both names. The deprecated positional form
        ``state_dict(destination, prefix, keep_vars)`` (what a subclass's ``super().state_dict(destination, prefix,
        keep_vars)`` passes) warns and is read as torch reads it: each given only where its keyword was left at its
        default."""
        if args:
            warnings.warn("state_dict(): passing destination, prefix or keep_vars by position is deprecated; "
                          "name them as keywords", FutureWarning, stacklevel=2)
            if destination is None:
                destination = args[0]
            if len(args) > 1 and prefix == "":
                prefix = args[1]
            if len(args) > 2 and keep_vars is False:
                keep_vars = args[2]
        if destination is None:
            out: Any = OrderedDict()
            out._metadata = OrderedDict()  # torch's: {module prefix: {"version": its _version}}
        else:
            out = destination
        local_metadata = {"version": self._version}
        if hasattr(out, "_metadata"):
            out._metadata[prefix[:-1]] = local_metadata
        for hook in self._state_hook_list("sd_pre"):
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(out, prefix, keep_vars)
        for name, child in self._child_items():
            child.state_dict(destination=out, prefix=f"{prefix}{name}.", keep_vars=keep_vars)
        for hook in self._state_hook_list("sd_post"):
            new = hook(self, out, prefix, local_metadata)
            if new is not None:
                out = new
        return out

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        """torch's per-module step of ``load_state_dict``, which a subclass may override (DETR's FrozenBatchNorm2d
        deletes ``num_batches_tracked`` here, then calls this): copy ``state_dict[prefix + name]`` into each own
        parameter and persistent buffer, noting the missing ones and (with ``strict``) the keys under ``prefix``
        that name nothing here or in a child in ``missing_keys`` / ``unexpected_keys``, shape mismatches in
        ``error_msgs``. Inside ``load_state_dict`` the copies wait until every module has loaded without error."""
        for hook in self._state_hook_list("load_pre"):
            hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
        own = dict(self._own_tensors(persistent_only=True))
        assign = bool(local_metadata.get("assign_to_params_buffers", False))
        pending = getattr(error_msgs, "pending", None)
        for name, p in own.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = _loadable(state_dict[key])
            if is_lazy(p) and is_lazy(value):
                continue
            if not is_lazy(p) and not is_lazy(value) and p.ndim == 0 and tuple(value.shape) == (1,):
                value = value.reshape(())  # torch's: a 0-d parameter takes a one-element 1-d value
            if is_lazy(value):
                error_msgs.append(f"{key} is uninitialized in the state_dict (run a forward pass of the lazy module "
                                  f"it came from first)")
            elif not is_lazy(p) and tuple(value.shape) != p.shape:
                error_msgs.append(f"shape mismatch for {key}: model has {p.shape}, state_dict has "
                                  f"{tuple(value.shape)}")
            elif assign and p.requires_grad and value.dtype.kind not in "fc":  # torch's: an int64 array taken as a
                # parameter that requires grad
                error_msgs.append(f"{key}: the state_dict holds {value.dtype} values, and an integer parameter "
                                  "cannot require grad; load without assign=True (values are cast) or convert them")
            else:
                copy = partial(_copy_into, p, value, assign)
                copy() if pending is None else pending.append(copy)
        extra = type(self).set_extra_state is not Module.set_extra_state
        if extra:  # torch's: handed the saved value, a missing key noted
            if prefix + EXTRA_STATE in state_dict:
                setter = partial(self.set_extra_state, state_dict[prefix + EXTRA_STATE])
                setter() if pending is None else pending.append(setter)
            elif strict:
                missing_keys.append(prefix + EXTRA_STATE)
        if strict:
            children = [f"{n}." for n, _ in self._child_items()]
            unexpected_keys.extend(k for k in state_dict if k.startswith(prefix) and k[len(prefix):] not in own
                                   and not (extra and k[len(prefix):] == EXTRA_STATE)
                                   and not k[len(prefix):].startswith(tuple(children)))

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy arrays (or Tensors) into the parameters and buffers, in place, converting device and dtype; with
        ``assign``, each parameter and buffer takes the loaded array itself instead (its dtype and device, its memory
        shared with the state_dict, as torch's ``assign=True``; the Parameter objects, and so an optimizer's
        references to them, stay).

        Raises StateDictError (a ValueError and torch's RuntimeError) listing every shape mismatch, and, when
        ``strict``, every missing and unexpected key. Returns (missing_keys, unexpected_keys), a named tuple. As in
        torch, an uninitialized parameter or buffer (of a lazy module) takes the loaded shape, and an uninitialized
        value loads nothing into an uninitialized one but cannot be loaded into an initialized one. As torch's, each
        module's ``_load_from_state_dict`` (which a subclass may override) is handed a copy of the keys under its
        prefix, as Tensors, and the ``_metadata`` entry of its prefix.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict needs a mapping of names to tensors, not {type(state_dict)}")
        values = OrderedDict((k, v if _is_extra_state(k) else _loadable(v)) for k, v in state_dict.items())
        for prefix, mod in self.named_modules(remove_duplicate=False):  # hooks that rename keys (weight_norm's)
            for hook in vars(mod).get("_load_state_dict_pre_hooks", ()):
                hook(values, f"{prefix}." if prefix else "")
        metadata = getattr(state_dict, "_metadata", None)
        missing: list[str] = []
        unexpected: list[str] = []
        problems = _LoadErrors()
        post_hooks: list[tuple[Module, Callable[..., Any]]] = []  # (module, hook), children before parents

        def load(module: Module, local: dict[str, Any], prefix: str) -> None:
            """torch's recursion: the module's own step (an override's too), then each child on its keys."""
            local_metadata = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
            if assign:
                local_metadata["assign_to_params_buffers"] = assign
            module._load_from_state_dict(local, prefix, local_metadata, True, missing, unexpected, problems)
            for name, child in module._child_items():
                child_prefix = f"{prefix}{name}."
                load(child, {k: v for k, v in local.items() if k.startswith(child_prefix)}, child_prefix)
            post_hooks.extend((module, hook) for hook in module._state_hook_list("load_post"))

        load(self, OrderedDict((k, v if _is_extra_state(k) else _as_tensor(v)) for k, v in values.items()),
             "")  # overrides see Tensors; an ``_extra_state`` value stays as saved
        if post_hooks:  # torch's: they run on the loaded module before a strict load raises for the keys they keep
            if not problems:
                for copy in problems.pending:
                    copy()
                problems.pending.clear()
            for module, hook in post_hooks:
                hook(module, IncompatibleKeys(missing, unexpected))
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        if problems:
            raise StateDictError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        for copy in problems.pending:  # nothing is written unless everything loads
            copy()
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The constructor arguments shown inside the parentheses."""
        return ""

    def _describe(self) -> list[str]:
        own = [(n, p) for n, p in self._members() if isinstance(p, Parameter)]
        note = ""
        if any(is_lazy(p) for _, p in own):
            note = f"  # {', '.join(n for n, p in own if is_lazy(p))}: uninitialized until the first forward"
        elif own:
            shapes = ", ".join(f"{n} {p.shape}" for n, p in own)
            note = f"  # {shapes}: {sum(p.size for _, p in own):,} params"
        kids = list(self._child_items())
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        if not kids and len(extra_lines) <= 1:
            return [f"{type(self).__name__}({extra}){note}"]
        # torch's layout: the extra_repr on lines of its own, above the children
        lines = [f"{type(self).__name__}({note}"] + ["  " + line for line in extra_lines]
        for name, mod in kids:
            sub = mod._describe()
            lines.append(f"  ({name}): {sub[0]}")
            lines.extend("  " + s if s.strip() else "" for s in sub[1:])  # torch's _addindent leaves blanks empty
        lines.append(")")
        return lines

    def __repr__(self) -> str:
        lines = self._describe()
        if len(lines) > 1 and not any(is_lazy(p) for p in self.parameters()):
            lines[-1] += f"  # {self.num_parameters():,} parameters in total"
        return "\n".join(lines)


class _LoadErrors(list):
    """``load_state_dict``'s ``error_msgs``: the messages, and the copies held back until all of them load."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[Callable[[], None]] = []


EXTRA_STATE = "_extra_state"  # torch's state_dict key of ``get_extra_state``'s value


def _is_extra_state(key: str) -> bool:
    return key == EXTRA_STATE or key.endswith("." + EXTRA_STATE)


def _loadable(value: Any) -> Any:
    """A state_dict value as ``load_state_dict`` copies it: a Tensor's array, an array, or a lazy placeholder."""
    if is_lazy(value):
        return value
    if isinstance(value, Tensor):
        return value._data
    return value if hasattr(value, "shape") else backend.to_numpy(value)


def _as_tensor(value: Any) -> Any:
    """An array as the Tensor (on the same memory) that torch's ``_load_from_state_dict`` overrides are handed."""
    if is_lazy(value) or isinstance(value, Tensor):
        return value
    try:
        return Tensor(value)
    except (TypeError, ValueError, NotImplementedError):  # (a value no Tensor can hold: the base step reports it)
        return value


def _copy_into(p: Tensor, value: Any, assign: bool) -> None:
    """One loaded value into parameter or buffer ``p``: its array taken (``assign``) or copied in, converted."""
    if is_lazy(p):
        p.materialize(value.shape)
    if assign:
        p._data = value
    else:
        p._data[...] = backend.to_device(value, p.device)
    bump_version(p)  # a graph that saved p before the load raises at backward (torch's copy_ does)


def deprecated_class(message: str) -> Callable[[type], type]:
    """torch's ``@typing_extensions.deprecated(message, category=FutureWarning)`` on a class: a FutureWarning each
    time the class itself (not a subclass) is instantiated, and each time it is subclassed."""
    def wrap(cls: type) -> type:
        def new(kind: type, *args: Any, **kwargs: Any) -> Any:
            if kind is cls:
                warnings.warn(message, FutureWarning, stacklevel=2)
            return super(cls, kind).__new__(kind)  # type: ignore[misc]

        def init_subclass(kind: type, **kwargs: Any) -> None:
            warnings.warn(message, FutureWarning, stacklevel=2)
            super(cls, kind).__init_subclass__(**kwargs)  # type: ignore[misc]
        cls.__new__ = staticmethod(new)  # type: ignore[assignment]
        cls.__init_subclass__ = classmethod(init_subclass)  # type: ignore[assignment]
        return cls
    return wrap


@deprecated_class("`nn.Container` is deprecated. All of its functionality is now implemented in `nn.Module`. "
                  "Subclass that instead.")
class Container(Module):
    """torch's deprecated ``nn.Container(**modules)``: a Module with the given children (``add_module`` each)."""

    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            self.add_module(key, value)


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: ``len``, iteration, indexing (a slice is a new container), and
    ``seq[i] = m``, ``del seq[i]``, ``append``, ``extend``, ``insert``."""

    def _sequence(self) -> list[Module]:
        raise NotImplementedError

    def _of(self, modules: list[Module]) -> Module:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._sequence())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._sequence())

    def __getitem__(self, index: int | slice) -> Any:
        members = self._sequence()
        if isinstance(index, slice):
            return self._of(members[index])
        if not -len(members) <= index < len(members):
            raise IndexError(f"{type(self).__name__} index {index} is out of range for {len(members)} modules")
        return members[index]

    _kind: type = Module  # what the items are (Parameter for a ParameterList)

    def _reset(self, modules: list[Module]) -> None:
        """Make ``modules`` the sequence, as children ``"0"``, ``"1"``, ..."""
        old = {id(m) for m in self._sequence()}
        for name in [n for n, v in vars(self).items() if isinstance(v, self._kind) and id(v) in old]:
            delattr(self, name)
        for i, m in enumerate(modules):
            if not isinstance(m, self._kind):
                raise TypeError(f"{type(self).__name__}: item {i} is a {type(m).__name__}, not a {self._kind.__name__}")
            setattr(self, str(i), m)

    def __setitem__(self, index: int, module: Module) -> None:
        items = list(self._sequence())  # a copy: Sequential caches its list
        items[index] = module
        self._reset(items)

    def __delitem__(self, index: int | slice) -> None:
        items = list(self._sequence())  # a copy: Sequential caches its list
        del items[index]
        self._reset(items)

    def append(self, module: Module) -> _ModuleSequence:
        self._reset([*self._sequence(), module])
        return self

    def extend(self, modules: Iterable[Module]) -> _ModuleSequence:
        self._reset([*self._sequence(), *modules])
        return self

    def __iadd__(self, modules: Iterable[Module]) -> _ModuleSequence:
        """``heads += [read, write]`` extends in place, as torch (Sequential takes only a Sequential)."""
        return self.extend(modules)

    def insert(self, index: int, module: Module) -> None:
        items = list(self._sequence())  # a copy: Sequential caches its list
        items.insert(index, module)
        self._reset(items)

    def pop(self, index: int | slice) -> Any:
        """Remove and return item ``index`` (a slice gives a container), renumbering."""
        item = self[index]
        del self[index]
        return item


def _a_sequential(other: Any) -> Sequential:
    """``other``, which torch's Sequential ``+`` / ``+=`` require to be a Sequential."""
    if not isinstance(other, Sequential):
        raise ValueError(f"add operator supports only objects of Sequential class, but {type(other)} is given.")
    return other


class Sequential(_ModuleSequence):
    """Modules applied in order; indexable (``seq[0]``, ``seq[1:]``), iterable, with ``len``.

    The layers are the children in attribute order: ``"0"``, ``"1"``, ..., or the keys of the one
    ``OrderedDict`` given (``Sequential(OrderedDict([("conv", ...), ("relu", ...)]))``, as torch).
    ``setattr(seq, "1", layer)`` replaces one; a module set under any other name runs last. As torch's, a slice
    and ``seq[i] = layer`` keep the names; ``del seq[i]`` renumbers. ``forward`` walks a list of the layers that is
    made on first use and made again after any attribute assignment.
    """

    __slots__ = ("_layers",)  # a slot lives outside vars(self), so the tree walk never sees this list

    def __init__(self, *modules: Module | OrderedDict[str, Module]) -> None:
        self._layers: list[Module] | None = None
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            named = [(f"layer {k!r}", k, m) for k, m in modules[0].items()]
        else:
            named = [(f"argument {i}", str(i), m) for i, m in enumerate(modules)]
        for what, name, m in named:
            self._add_layer(what, name, m)

    def _add_layer(self, what: str, name: str, module: Any) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: {what} is a {type(module).__name__}, not a Module")
        self.add_module(name, module)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name != "_layers":
            self._layers = None  # the children may have changed: list them again when next needed

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        self._layers = None

    def _sequence(self) -> list[Module]:
        if self._layers is None:
            self._layers = [m for _, m in self._child_items()]
        return self._layers

    def _names(self) -> list[str]:
        return [n for n, _ in self._child_items()]

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._child_items())[index]))
        return super().__getitem__(index)

    def __setitem__(self, index: int, module: Module) -> None:
        super().__getitem__(index)  # raises IndexError out of range
        self._add_layer(f"item {index}", self._names()[index], module)

    def append(self, module: Module) -> Sequential:
        """``module`` as layer ``str(len(self))``, as torch (where a layer already of that name is replaced:
        ours raises)."""
        name = str(len(self))
        if name in self._names():
            raise KeyError(f"Sequential.append: a layer is already named {name!r} (torch would replace it)")
        self._add_layer("the appended module", name, module)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for m in modules:
            self.append(m)
        return self

    def __iadd__(self, other: Sequential) -> Sequential:
        return self.extend(_a_sequential(other))

    def __add__(self, other: Sequential) -> Sequential:
        """A new Sequential of both's layers, renumbered ``"0"``, ``"1"``, ..."""
        return Sequential(*self, *_a_sequential(other))

    def __mul__(self, times: int) -> Sequential:
        """A new Sequential of the layers repeated ``times`` times: the same module objects, so they share
        parameters (as torch)."""
        return Sequential(*self._repeated(times, "*"))

    __rmul__ = __mul__

    def __imul__(self, times: int) -> Sequential:
        return self.extend(self._repeated(times, "*=")[len(self):])

    def _repeated(self, times: int, op: str) -> list[Module]:
        if not isinstance(times, int):
            raise TypeError(f"unsupported operand type(s) for {op}: 'Sequential' and '{type(times).__name__}'")
        if times <= 0:
            raise ValueError(f"Non-positive multiplication factor {times} for Sequential")
        return list(self) * times

    def insert(self, index: int, module: Module) -> Sequential:
        """As torch: the layers from ``index`` on move up one number, so they must be named "0", "1", ..."""
        names = self._names()
        if not -len(names) <= index <= len(names):
            raise IndexError(f"Sequential.insert: index {index} is out of range for {len(names)} modules")
        if index == len(names):
            return self.append(module)
        if names != [str(i) for i in range(len(names))]:
            raise KeyError(f"Sequential.insert: the layers are named {names}; only numbered layers can move up")
        super().insert(index, module)
        return self

    def forward(self, input: Any) -> Any:  # noqa: A002 - torch's name (seq(input=x) works there)
        for m in self._sequence():
            input = m(input)  # noqa: A001 - (as torch's: add_graph names the graph's input "input.1" for it)
        return input


class ModuleList(_ModuleSequence):
    """A list of modules, registered as children ``"0"``, ``"1"``, ...: index, iterate, ``append``, ``extend``,
    ``insert``. It has no ``forward``: the owning module decides how to call them."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        self.extend(modules or [])

    def _sequence(self) -> list[Module]:
        return [m for n, m in self._child_items() if n.isdigit()]

    def _of(self, modules: list[Module]) -> Module:
        return type(self)(modules)

    def _describe(self) -> list[str]:
        """torch's ModuleList printing: a run of consecutive items that print alike is one entry, ``(0-1): 2 x
        Block(...)``; an empty list is ``ModuleList()``."""
        runs: list[tuple[int, int, list[str]]] = []  # (first index, last index, the item's lines)
        for i, m in enumerate(self._sequence()):
            sub = m._describe()
            if runs and runs[-1][2] == sub:
                runs[-1] = (runs[-1][0], i, sub)
            else:
                runs.append((i, i, sub))
        if not runs:
            return [f"{type(self).__name__}()"]
        lines = [f"{type(self).__name__}("]
        for first, last, sub in runs:
            label = f"({first})" if first == last else f"({first}-{last}): {last - first + 1} x"
            lines.append(f"  {label}: {sub[0]}" if first == last else f"  {label} {sub[0]}")
            lines.extend("  " + line for line in sub[1:])
        lines.append(")")
        return lines

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        """A new ModuleList of both lists' modules."""
        return ModuleList([*self, *other])


class ModuleDict(Module):
    """An ordered dict of modules, each registered as a child under its key (``d["enc"]``, ``d.enc``).

    As in torch, a key may not contain ``"."`` or shadow an attribute of the class (``"train"``, ``"forward"``).
    """

    _kind: type = Module  # what the values are (Parameter for a ParameterDict)

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        self.__dict__["_keys"] = []  # set directly: the order of the keys, kept apart from the children
        self.update(modules or {})

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict: a key must be a non-empty string without '.', got {key!r}")
        if hasattr(type(self), key) or key == "_keys":
            raise KeyError(f"ModuleDict: attribute {key!r} already exists")
        if not isinstance(module, self._kind):
            raise TypeError(f"{type(self).__name__}: {key!r} must be a {self._kind.__name__}, got "
                            f"{type(module).__name__}")
        if key not in self._keys:
            self._keys.append(key)
        setattr(self, key, module)

    def __setattr__(self, name: str, value: Any) -> None:
        """As torch's (whose ModuleDict is its ``_modules``): a Module set as an attribute, by ``add_module`` or
        ``register_module``, is an item too, after the others (a ParameterDict's keys stay those put in by key)."""
        super().__setattr__(name, value)
        keys = vars(self).get("_keys")
        if self._kind is Module and keys is not None:
            if isinstance(value, Module) and name not in keys:
                keys.append(name)
            elif not isinstance(value, Module) and name in keys:  # (a Parameter or plain value over an item: that
                keys.remove(name)  # item is gone, as torch's ``_modules`` entry)

    def __delattr__(self, name: str) -> None:
        super().__delattr__(name)
        keys = vars(self).get("_keys")
        if self._kind is Module and keys is not None and name in keys:
            keys.remove(name)

    def __getitem__(self, key: str) -> Module:
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __delitem__(self, key: str) -> None:
        if key not in self._keys:
            raise KeyError(key)
        self._keys.remove(key)
        delattr(self, key)

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def _snapshot(self) -> dict[str, Any]:
        return {k: self[k] for k in self._keys}

    def keys(self) -> Any:
        """The keys in order, as a dict's keys view (set operations work, as on torch's)."""
        return self._snapshot().keys()

    def values(self) -> Any:
        return self._snapshot().values()

    def items(self) -> Any:
        return self._snapshot().items()

    def clear(self) -> None:
        """Remove every item."""
        for key in list(self._keys):
            del self[key]

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """As torch's: another ModuleDict / ParameterDict or an OrderedDict keeps its order; a plain dict keeps it
        in a ModuleDict but goes in sorted by key in a ParameterDict (torch's ``ParameterDict.update``)."""
        if isinstance(modules, (OrderedDict, ModuleDict)):
            items: Iterable[tuple[str, Any]] = modules.items()
        elif isinstance(modules, Mapping):
            items = sorted(modules.items(), key=lambda kv: kv[0]) if self._kind is Parameter else modules.items()
        else:
            items = modules
        for key, module in items:
            self[key] = module


def as_parameter(value: Any) -> Any:
    """A Tensor that is not yet a Parameter as one (sharing its array), as torch's parameter containers do."""
    return Parameter(value._data) if isinstance(value, Tensor) and not isinstance(value, Parameter) else value


class ParameterList(_ModuleSequence):
    """A list of parameters, registered as ``"0"``, ``"1"``, ... (their ``state_dict`` keys): index, iterate,
    ``append``, ``extend``, ``insert``. A plain Tensor put in becomes a Parameter sharing its array."""

    _kind = Parameter

    def __init__(self, values: Iterable[Tensor] | None = None) -> None:
        self.extend(values or [])

    def _sequence(self) -> list[Any]:
        return [p for n, p in self._members() if n.isdigit()]

    def _of(self, values: list[Any]) -> ParameterList:
        return ParameterList(values)

    def _reset(self, values: list[Any]) -> None:
        super()._reset([as_parameter(v) for v in values])


class ParameterDict(ModuleDict):
    """An ordered dict of parameters, each registered under its key (its ``state_dict`` key), ``d["w"]``, ``d.w``;
    a plain Tensor put in becomes a Parameter sharing its array."""

    _kind = Parameter

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, as_parameter(value))

    def get(self, key: str, default: Any = None) -> Any:
        """The parameter at ``key``, or ``default`` (as dict's)."""
        return self[key] if key in self._keys else default

    def setdefault(self, key: str, default: Any = None) -> Any:
        """The parameter at ``key``, after setting it to ``default`` if absent (as dict's)."""
        if key not in self:
            self[key] = default
        return self[key]

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last (key, parameter) pair."""
        key = self._keys[-1]
        return key, self.pop(key)

    def copy(self) -> ParameterDict:
        """A new ParameterDict holding the same Parameter objects, in order."""
        return ParameterDict(OrderedDict(self.items()))

    def fromkeys(self, keys: Iterable[str], default: Any = None) -> ParameterDict:
        """A new ParameterDict with each key set to ``default``."""
        return ParameterDict(OrderedDict((k, default) for k in keys))

    def __or__(self, other: ParameterDict) -> ParameterDict:
        copy = self.copy()
        copy.update(other)
        return copy

    def __ror__(self, other: ParameterDict) -> ParameterDict:
        copy = other.copy()
        copy.update(self)
        return copy

    def __ior__(self, other: ParameterDict) -> ParameterDict:
        self.update(other)
        return self

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self._keys))


_WALKS = (Module.named_parameters, Module.named_modules, Module._named_members)  # (see Module.parameters)
