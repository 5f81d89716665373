"""The optimizer base class: parameter groups, per-parameter state, ``step``, and ``state_dict``.

Names and semantics follow ``torch.optim`` so that a PyTorch recipe carries over. Each optimizer defines
its per-parameter state, a readable ``reference`` update written like the paper's algorithm box, and a
``fused`` update (a :class:`~tinygrad_adam.optim.fused.FusedKernel` and its scalars). ``impl`` picks one:

- ``"auto"`` (default): the fused ``cupy.ElementwiseKernel`` for parameters on a GPU; on the CPU the
  fused numba loop when numba is installed (``pip install "tinygrad-adam[fast]"``), else chunked numpy;
- ``"reference"``: the readable update (allocates temporaries; any device);
- ``"numpy"`` / ``"numba"``: force one CPU fast path.

All of them compute the same update (tested equal to float rounding).

Every optimizer also takes torch's keyword options: ``maximize=True`` ascends (the update uses -grad; ``.grad``
is left as it is), and ``foreach``, ``fused``, ``capturable`` are accepted and change nothing here (the CPU paths
always update a group's tensors together through one fused program). ``differentiable=True`` (a step that
autograd can differentiate) is not supported and raises rather than give gradients that ignore the step.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import numbers
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy

from .. import backend
from ..autograd import RemovableHandle, enable_grad
from ..tensor import Array, Tensor, bump_version
from .fused import FusedKernel, check_impl, resolve_impl

Group = dict[str, Any]
# what lr schedulers keep in a group besides the hyperparameters (OneCycleLR and CyclicLR: their limits), so that a
# checkpoint of the optimizer holds them and loads back
SCHEDULER_KEYS = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")
# torch's execution options, which its groups keep and change nothing here (see check_torch_flags): a group or a
# checkpoint of torch's that holds them loads
TORCH_FLAGS = ("foreach", "fused", "capturable", "differentiable")
State = dict[str, Any]


class TorchNamedState(dict):
    """A parameter's state: its keys are this library's names (``t``, ``m``, ``v`` ...), and reading one of torch's
    names for the same entry (``step``, ``exp_avg``, ``exp_avg_sq`` ...) answers it as torch's state holds it: an
    array as a Tensor sharing it, the step count as torch's 0-d float32 ``step`` tensor. So a program reading
    ``optimizer.state[p]["exp_avg_sq"]`` or testing ``"step" in state`` (igebm's ``clip_grad``) sees torch's values;
    iteration and ``len`` keep the library's names (``state_dict`` writes torch's)."""

    def __init__(self, entries: State, aliases: dict[str, str]) -> None:
        super().__init__(entries)
        self.aliases = aliases

    def _ours(self, key: Any) -> Any:
        """The library's name that torch's ``key`` reads, or None."""
        ours = self.aliases.get(key) if isinstance(key, str) else None
        return ours if ours is not None and dict.__contains__(self, ours) else None

    def __missing__(self, key: Any) -> Any:
        ours = self._ours(key)
        if ours is None:
            raise KeyError(key)
        value = dict.__getitem__(self, ours)
        if ours == "t":
            return Tensor(float(value))  # torch's ``step``: a float32 0-d tensor
        return Tensor(value) if backend.is_array(value) else value

    def __contains__(self, key: Any) -> bool:
        return dict.__contains__(self, key) or self._ours(key) is not None

    def __setitem__(self, key: Any, value: Any) -> None:
        """Writing one of torch's names writes the library's entry (an array in place, the step count as an int),
        so ``state["exp_avg"] = torch.zeros_like(p)`` resets the moment the update reads, as in torch."""
        ours = None if dict.__contains__(self, key) else self._ours(key)
        if ours is None:
            dict.__setitem__(self, key, value)
        elif ours == "t":
            dict.__setitem__(self, "t", int(value.item() if isinstance(value, Tensor) else value))
        else:
            entry = dict.__getitem__(self, ours)
            if backend.is_array(entry) and isinstance(value, Tensor):
                if tuple(value.shape) != entry.shape:
                    raise ValueError(f"optimizer state {key!r}: shape {tuple(value.shape)} does not match the "
                                     f"parameter's state of shape {entry.shape}")
                entry[...] = value._data
            else:
                dict.__setitem__(self, ours, value)

    def get(self, key: Any, default: Any = None) -> Any:
        """``state.get(name)``, torch's names included."""
        try:
            return self[key]
        except KeyError:
            return default

    def __reduce__(self) -> Any:
        return (TorchNamedState, (dict(self), self.aliases))


class _RequiredParameter:
    """The default of a hyperparameter every group must give (torch's ``optim.optimizer.required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Base class: ``Optimizer(params, defaults)``.

    ``params`` is an iterable of Tensors, or of dicts (parameter groups) each with a ``"params"`` list and
    any hyperparameters that override ``defaults`` for that group (e.g. a smaller lr for biases).
    ``state[p]`` holds parameter ``p``'s state: its step count ``"t"`` and arrays of ``p``'s shape.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[Group], defaults: Group, impl: str = "auto",
                 maximize: bool = False, **flags: Any) -> None:
        check_torch_flags(type(self).__name__, flags)
        if isinstance(params, (Tensor, dict)):
            raise TypeError(f"params takes an iterable of Tensors or of group dicts, not a {type(params).__name__}")
        # torch's built-in optimizers keep ``maximize`` in their groups; its base class adds nothing, so a subclass
        # with its own ``step`` (LARS, LBFGS) has only the defaults it gives; ours are those updating by ``reference``
        uses_maximize = maximize or type(self).reference is not Optimizer.reference
        self.defaults = {**defaults, "maximize": maximize} if uses_maximize else dict(defaults)
        self.impl = check_impl(impl)
        self.param_groups: list[Group] = []
        # keyed by the Tensor itself (Tensors hash by identity); a defaultdict(dict), as torch's, so that a subclass's
        # own step may write ``self.state[p]["name"]`` for a parameter it has not seen
        self.state: defaultdict[Tensor, State] = defaultdict(dict)
        self._scratch: dict[Any, list[numpy.ndarray]] = {}  # CPU fast-path registers, one list per dtype
        self._optimizer_step_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
        _patch_step(type(self))
        _LIVE[id(self)] = self
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    # ------------------------------------------------------------------ what each optimizer defines
    # A sparse gradient (embedding(sparse=True), sparse_grad.py), as torch's optimizer takes it: "dense" updates with
    # its dense values (SGD), "rows" runs ``reference`` on the rows the coalesced gradient holds and leaves the others
    # (and their state) alone (Adagrad, SparseAdam); "" refuses it (check_grad), as torch's Adam and most others do.
    sparse_grads = ""
    # torch's state names that read this library's entries (``{"exp_avg": "m", "step": "t"}``): see TorchNamedState
    torch_state_names: ClassVar[dict[str, str]] = {}
    sparse_refusal = "{name} does not support sparse gradients"

    def check_grad(self, grad: Any, group: Group) -> None:
        """Raise, as torch's optimizer does, for a gradient it cannot use (here: a sparse one, RuntimeError)."""
        if grad.is_sparse and not self.sparse_grads:
            raise RuntimeError(self.sparse_refusal.format(name=type(self).__name__))

    def check_group(self, group: Group) -> None:
        """Raise ValueError for a bad hyperparameter of ``group``."""

    def init_state(self, p: Array, group: Group) -> State:
        """The state arrays of a parameter before its first step (``"t"`` is added by :meth:`step`)."""
        return {}

    def advance(self, state: State, group: Group) -> None:
        """Move per-parameter host scalars (beyond ``"t"``) to the new step, before either update runs."""

    def reference(self, p: Array, g: Array, state: State, group: Group) -> None:
        """The readable update of one parameter, in place (``state["t"]`` is already the new step)."""
        raise NotImplementedError

    def fused(self, state: State, group: Group) -> tuple[FusedKernel, dict[str, float]]:
        """The fused kernel for ``group``'s options and its scalar arguments for this step: a function of the group
        and the state's host numbers (``"t"``, what :meth:`advance` moves) only, never of its arrays."""
        raise NotImplementedError

    # ------------------------------------------------------------------ groups
    def add_param_group(self, group: Group) -> None:
        """Add a group of parameters (a dict with ``"params"``); missing hyperparameters take the defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"a parameter group must be a dict with a 'params' entry, got {group!r}")
        params = group["params"]
        if isinstance(params, (set, frozenset)):  # torch's refusal: a set's order changes between runs
            raise TypeError("a parameter group's params must be an ordered collection (a list or tuple): a set's "
                            "order can change from one run to the next")
        params = [params] if isinstance(params, Tensor) else list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]  # torch 2.6's (name, parameter) pairs
        if names:
            if len(names) != len(params):
                raise ValueError("a parameter group mixes (name, parameter) pairs with bare parameters; name all "
                                 "of them or none")
            params = [p[1] for p in params]
        if self.param_groups and bool(names) != ("param_names" in self.param_groups[0]):
            raise ValueError(f"this optimizer's groups are {'not ' if names else ''}named: a group "
                             f"{'with' if names else 'without'} (name, parameter) pairs cannot join them")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"parameter {i} of the group is a {type(p).__name__}, not a Tensor")
            if p.dtype.kind != "f":
                raise TypeError(f"parameter {i} has dtype {p.dtype}; only floating-point tensors can be optimized")
            if not p.is_leaf:
                raise ValueError(f"parameter {i} (shape {p.shape}) is not a leaf tensor; pass parameters, "
                                 f"not results of ops")
            if id(p) in seen:
                raise ValueError(f"parameter {i} (shape {p.shape}) appears in more than one parameter group")
            seen.add(id(p))
        unknown = self.foreign_keys(group)
        if unknown and not _owned_by_an_optimizer(group):
            raise TypeError(f"unknown hyperparameter(s) {sorted(unknown)} for {type(self).__name__}; "
                            f"known: {sorted(self.defaults)}")
        missing = [k for k, v in self.defaults.items() if v is required and k not in group]
        if missing:
            raise ValueError(f"this parameter group gives no {missing[0]}, which {type(self).__name__} has no "
                             f"default for; set it in the group or in the constructor")
        # the caller's dict itself becomes the group, filled in with the defaults (as torch's): a program that keeps
        # it (a wrapper such as SAM building its base optimizer on its own groups, a schedule written into the dicts
        # it passed) changes the optimizer's hyperparameters through it
        group["params"] = params
        if names:
            group["param_names"] = names
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.check_group(group)
        self.param_groups.append(group)

    def params(self) -> list[Tensor]:
        """Every parameter, group by group (the order state_dict indices refer to)."""
        return [p for group in self.param_groups for p in group["params"]]

    # ------------------------------------------------------------------ hooks (torch's)
    def register_step_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` before each ``step``; it may return ``(new_args, new_kwargs)``."""
        return _register(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` after each ``step``."""
        return _register(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(optimizer)`` before :meth:`state_dict` builds its answer."""
        return _register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(optimizer, state_dict)`` on :meth:`state_dict`'s answer; a dict it returns replaces it."""
        return _register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(optimizer, state_dict)`` before :meth:`load_state_dict`; a dict it returns is loaded instead."""
        return _register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(optimizer)`` after :meth:`load_state_dict`."""
        return _register(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set them to None (default) or fill them with zeros."""
        for p in self.params():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                elif p.grad.is_sparse:
                    p.grad.zero_()  # torch's: a sparse gradient with no entries
                else:
                    p.grad._data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient (those whose ``.grad`` is None are skipped).

        ``closure``, if given, recomputes the loss (with gradients enabled) and its value is returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is not None:
                    if grad.dtype != p.dtype:
                        raise TypeError(f"a parameter of shape {p.shape} has dtype {p.dtype} but its grad has dtype "
                                        f"{grad.dtype}")
                    self.check_grad(grad, group)
        for group in self.param_groups:
            group = _with_numbers(group)
            # fast paths: the parameters of a group that share a kernel and its scalars (the same step count, as a
            # rule all of them) are updated by one call (FusedKernel.run_many; on a GPU, one launch)
            together: dict[tuple[Any, ...], list[dict[str, Array]]] = {}
            kernels: dict[tuple[Any, ...], tuple[FusedKernel, dict[str, float]]] = {}
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, group, together, kernels)
                    bump_version(p)  # a graph that saved p and is differentiated after this step raises, as in torch
            for (impl, host), tensors in together.items():
                kernel, scalars = kernels[host]
                kernel.run_many(impl, tensors, scalars, self._scratch)
        return loss

    def state_of(self, p: Tensor, group: Group) -> State:
        """``p``'s state, made at step 0 (``init_state``) when it has none yet (or the empty one that reading
        ``self.state[p]`` leaves, as torch's)."""
        state = self.state.get(p)
        if not state:
            with backend.device_context(p.device):
                state = self.state[p] = TorchNamedState({"t": 0, **self.init_state(p._data, group)},
                                                        self.torch_state_names)
        return state

    def _update(self, p: Tensor, group: Group, together: dict[tuple[Any, ...], list[dict[str, Array]]],
                kernels: dict[tuple[Any, ...], tuple[FusedKernel, dict[str, float]]]) -> None:
        """Advance ``p``'s state and update it, or (fast paths) add it to ``together`` (by impl and the state's
        host numbers) for one joint call. ``kernels`` keeps this step's :meth:`fused` answers by those host numbers
        (its step count, as a rule), which with the group are all that :meth:`fused` may read."""
        state = self.state_of(p, group)
        dict.__setitem__(state, "t", state["t"] + 1)  # (t += 1, past TorchNamedState's Python __setitem__: 0.4 us)
        self.advance(state, group)
        grad = p.grad
        assert grad is not None
        if grad.is_sparse and self.sparse_grads == "rows":
            self._update_rows(p, grad.coalesce(), state, group)
            return
        impl = resolve_impl(self.impl, p.device)
        g = grad.to_dense()._data if grad.is_sparse else grad._data
        if group["maximize"]:
            g = -g  # ascend: the update of -grad, as torch (p.grad keeps its values)
        if impl == "reference":
            self.reference(p._data, g, state, _float32_scalars(group) if p.dtype == numpy.float16 else group)
            return
        host = tuple([v for v in state.values() if not isinstance(v, backend.ARRAY_TYPES)])  # (is_array, inline)
        if host not in kernels:
            kernels[host] = self.fused(state, group)
        together.setdefault((impl, host), []).append({**state, "p": p._data, "g": g})

    def _update_rows(self, p: Tensor, grad: Any, state: State, group: Group) -> None:
        """``reference`` on the rows a coalesced sparse gradient holds: those rows of ``p`` and of its state arrays
        are taken out, updated with the gradient's values and written back (no fused kernel: the rows are few)."""
        rows, g = grad._indices()._data[0], grad._values()._data
        if group["maximize"]:
            g = -g
        picked = {k: v[rows] if backend.is_array(v) else v for k, v in state.items()}
        p_rows = p._data[rows]
        self.reference(p_rows, g, picked, group)
        p._data[rows] = p_rows
        for k, v in picked.items():
            if backend.is_array(v):
                state[k][rows] = v

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """A copy of the state as torch's optimizer writes it, so that ``torch.load`` reads a checkpoint of it and
        torch's optimizer continues from it: parameters are referred to by their index in :meth:`params`, each entry
        has torch's name where torch's optimizer keeps it (``step``, ``exp_avg``, ...; the library's name otherwise),
        arrays are Tensors of copies and the step count is a 0-d float tensor.

        ``{"state": {index: {"step": Tensor, "exp_avg": Tensor, ...}}, "param_groups": [{..., "params": [indices]}]}``
        """
        for pre_hook in getattr(self, "_optimizer_state_dict_pre_hooks", {}).values():
            pre_hook(self)
        index = {id(p): i for i, p in enumerate(self.params())}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        names = {ours: theirs for theirs, ours in self.torch_state_names.items()} if self._counts_steps() else {}
        numbers = "step" in names.values()  # (torch's twin keeps its host numbers, NAdam's mu_product, in tensors)
        state = {index[id(p)]: {names.get(k, k): _copy_state(v, names.get(k), numbers) for k, v in s.items()}
                 for p, s in self.state.items()}
        state_dict = {"state": state, "param_groups": groups}
        for post_hook in getattr(self, "_optimizer_state_dict_post_hooks", {}).values():
            result = post_hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, torch's optimizer's, or a checkpoint this library wrote before
        its state_dict took torch's names (the paper's ``t``, ``m``, ...). Arrays go to each parameter's device and
        dtype.

        The loaded hyperparameters pass the constructor's checks (ValueError / TypeError naming the value), and
        nothing changes unless all of them do.
        """
        state_dict = dict(state_dict)  # (a shallow copy, as torch's: a pre hook may change it)
        for pre_hook in getattr(self, "_optimizer_load_state_dict_pre_hooks", {}).values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"the state_dict has {len(saved)} parameter groups, this optimizer has "
                             f"{len(self.param_groups)}")
        for i, (ours, theirs) in enumerate(zip(self.param_groups, saved)):
            if len(ours["params"]) != len(theirs["params"]):
                raise ValueError(f"parameter group {i} has {len(ours['params'])} parameters here but "
                                 f"{len(theirs['params'])} in the state_dict")
            self.check_saved_group(i, theirs)
        index = {j: p for group, theirs in zip(self.param_groups, saved) for j, p in zip(theirs["params"],
                                                                                         group["params"])}
        groups = {j: {**group, **theirs} for group, theirs in zip(self.param_groups, saved) for j in theirs["params"]}
        state: defaultdict[Tensor, State] = defaultdict(dict)
        counted = self._counts_steps()
        for j, s in state_dict["state"].items():
            if int(j) not in index:
                raise ValueError(f"the state_dict has state for parameter {j}, this optimizer has {len(index)}")
            p = index[int(j)]
            if not s:  # a parameter whose state was read (``opt.state[p]``) but never stepped
                continue
            if counted and any(isinstance(k, str) and k in self.torch_state_names for k in s):
                s = self._from_torch_names(s, p, groups[int(j)] if int(j) in groups else groups[j])
            steps = counted or "t" in s
            if steps and (isinstance(s.get("t"), bool) or not isinstance(s.get("t"), numbers.Integral) or s["t"] < 0):
                raise ValueError(f"invalid step count t={s.get('t')!r} for parameter {j}: must be an integer >= 0")
            state[p] = TorchNamedState({k: int(v) if k == "t" and steps
                                        else _load_state(v, p, k, self.state_shape(p, k), not counted)
                                        for k, v in s.items()}, self.torch_state_names)
        self.state = state
        for group, theirs in zip(self.param_groups, saved):
            for key in set(SCHEDULER_KEYS) - set(theirs):  # a scheduler's made since: gone, as torch's whole group
                group.pop(key, None)
            group.update({k: v for k, v in theirs.items() if k != "params"})
        self._loads = self.__dict__.get("_loads", 0) + 1  # (a scheduler leaves loaded lrs: lr_scheduler._owns_lrs)
        for post_hook in getattr(self, "_optimizer_load_state_dict_post_hooks", {}).values():
            post_hook(self)

    def _counts_steps(self) -> bool:
        """Whether this optimizer steps through :meth:`step` here, whose state counts steps (``t``), rather than a
        subclass's own step, whose state is its own."""
        return _unhooked(type(self).step) is _unhooked(Optimizer.step)

    def _from_torch_names(self, saved: State, p: Tensor, group: Group) -> State:
        """A parameter's saved state with torch's names and types (what :meth:`state_dict` writes, or torch's
        optimizer) as this library's: ``step`` (a float tensor) as the int
        ``t``, ``exp_avg`` as ``m`` ..., and a 0-d tensor where this library keeps a host number (NAdam's
        ``mu_product``, ASGD's ``eta`` and ``mu``) as a float; no step count (torch's SGD) is a state past step 1."""
        template = self.init_state(p._data, group)
        out: State = {}
        for k, v in saved.items():
            ours = self.torch_state_names.get(k, k) if isinstance(k, str) and k not in template else k
            if isinstance(v, Tensor):
                v = v.detach()._data
            if ours == "t" and hasattr(v, "shape"):
                v = round(float(v))
            elif ours in template and not backend.is_array(template[ours]) and hasattr(v, "shape") and v.size == 1:
                v = float(v)
            out[ours] = v
        if "step" not in self.torch_state_names:  # torch's SGD counts no steps: a saved buffer is past the first
            out.setdefault("t", 1)
        return out

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickling / ``copy.deepcopy``: the attributes back, as torch's; there for a subclass's own
        ``__setstate__`` that calls ``super().__setstate__(state)`` first (Adan's, SophiaG's)."""
        self.__dict__.update(state)

    def state_shape(self, p: Tensor, name: str) -> tuple[int, ...]:
        """The shape of ``p``'s state array ``name`` (for loading a state_dict): ``p``'s own, unless an optimizer
        keeps smaller ones (Adafactor's row and column factors)."""
        return p.shape

    def foreign_keys(self, group: Group) -> set[str]:
        """The keys of ``group`` that are another optimizer's hyperparameters but not this one's (a mistake, refused).
        Any other extra key (``lr_scale``, ``name``: a program's own entries) stays in the group, as in torch."""
        return (set(group) - set(self.defaults) - {"params", *SCHEDULER_KEYS, *TORCH_FLAGS}) & _hyperparameter_names()

    def check_saved_group(self, i: int, saved: Group) -> None:
        """Raise ValueError / TypeError unless the hyperparameters of a state_dict's group, put in place of group
        ``i``'s, pass the constructor's checks (unknown names included)."""
        # a ``"maximize": False`` that this library once added to every group (LBFGS's, a subclass's) still loads
        unknown = self.foreign_keys({k: v for k, v in saved.items() if not (k == "maximize" and v is False)})
        if unknown:
            raise TypeError(f"parameter group {i} of the state_dict has unknown hyperparameter(s) "
                            f"{sorted(unknown)} for {type(self).__name__}")
        # a scheduled lr may end below 0 (OneCycleLR's linear anneal after its last step, a chain of schedules, a
        # LinearLR to 0 by rounding): torch loads it, as it loads any group a scheduler (its initial_lr) has set
        lr = saved.get("lr")
        lr = lr.item() if isinstance(lr, Tensor) and lr.numel() == 1 else lr
        scheduled = (("min_lr" in saved or "initial_lr" in saved) and isinstance(lr, numbers.Real)
                     and not isinstance(lr, bool) and lr < 0)
        self.check_group({**self.param_groups[i], **saved, **({"lr": 0.0} if scheduled else {})})
        check_nonnegative(saved, *(k for k in SCHEDULER_KEYS if k in saved))

    def __repr__(self) -> str:
        groups = "".join(f"\n  group {i}: {len(g['params'])} params, "
                         + ", ".join(f"{k}={v}" for k, v in g.items() if k != "params")
                         for i, g in enumerate(self.param_groups))
        return f"{type(self).__name__}(impl={self.impl!r}){groups}"


# torch.optim.optimizer's global step hooks (every optimizer's step runs them)
_global_optimizer_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_optimizer_post_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_hook_ids = itertools.count()
# the optimizers alive: a group one of them holds may carry its own hyperparameters into another one (a wrapper such
# as SAM or Lookahead builds its inner optimizer on its own ``param_groups``), which is no mistake to refuse
# (by id: a program's Optimizer subclass may define __eq__ and so be unhashable)
_LIVE: weakref.WeakValueDictionary[int, Optimizer] = weakref.WeakValueDictionary()


def _owned_by_an_optimizer(group: Group) -> bool:
    """Whether ``group`` (the dict itself, not an equal one) is a parameter group of a live optimizer."""
    return any(g is group for opt in list(_LIVE.values()) for g in opt.param_groups)


def _register(hooks: OrderedDict[int, Callable[..., Any]], hook: Callable[..., Any],
              prepend: bool = False) -> RemovableHandle:
    """Add ``hook`` to ``hooks`` (first with ``prepend``); the handle's ``remove()`` takes it out."""
    key = next(_hook_ids)
    hooks[key] = hook
    if prepend:
        hooks.move_to_end(key, last=False)
    return RemovableHandle(lambda: hooks.pop(key, None))


def register_optimizer_step_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """torch's global ``hook(optimizer, args, kwargs)`` before every optimizer's step (before its own hooks)."""
    return _register(_global_optimizer_pre_hooks, hook)


def register_optimizer_step_post_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """torch's global ``hook(optimizer, args, kwargs)`` after every optimizer's step (after its own hooks)."""
    return _register(_global_optimizer_post_hooks, hook)


def _unhooked(step: Callable[..., Any]) -> Callable[..., Any]:
    """The step function that :func:`_patch_step` wrapped (or ``step`` itself)."""
    return step.__wrapped__ if getattr(step, "hooked", False) else step  # type: ignore[attr-defined]


def _patch_step(cls: type) -> None:
    """Wrap ``cls.step`` (once per class, as torch's ``_patch_step_function``) so that it runs the step hooks."""
    step = cls.step  # type: ignore[attr-defined]
    if getattr(step, "hooked", False):
        return

    @functools.wraps(step)
    def hooked_step(*args: Any, **kwargs: Any) -> Any:
        self = args[0]
        own_pre = getattr(self, "_optimizer_step_pre_hooks", None)
        own_post = getattr(self, "_optimizer_step_post_hooks", None)
        if not (own_pre or own_post or _global_optimizer_pre_hooks or _global_optimizer_post_hooks):
            return step(*args, **kwargs)
        for pre_hook in itertools.chain(_global_optimizer_pre_hooks.values(), (own_pre or {}).values()):
            result = pre_hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{pre_hook} returned {result}: a step pre-hook gives back None or an "
                                       "(args, kwargs) pair")
                args, kwargs = result
        out = step(*args, **kwargs)
        for post_hook in itertools.chain((own_post or {}).values(), _global_optimizer_post_hooks.values()):
            post_hook(self, args, kwargs)
        return out

    hooked_step.hooked = True  # type: ignore[attr-defined]
    cls.step = hooked_step  # type: ignore[attr-defined]


def _hyperparameter_names() -> set[str]:
    """Every keyword of every optimizer class of this library (what a group entry of that name would mean); a
    program's own Optimizer subclasses do not count, so what a group may hold does not depend on which classes a
    process happens to have defined."""
    names: set[str] = set()
    todo = [Optimizer]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith(f"{__package__.split('.')[0]}."):
            names.update(name for name, parameter in inspect.signature(cls.__init__).parameters.items()
                         if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY))
    return names - {"self", "params", "defaults"}


def _with_numbers(group: Group) -> Group:
    """``group`` for the update: a Tensor ``lr`` or beta of ``betas`` (torch takes them) read as a Python float, so
    that every update (the readable one's in-place array arithmetic included) sees numbers; ``group`` itself when
    it holds none (the usual case: no copy; this runs once per group and step)."""
    lr, betas = group.get("lr"), group.get("betas")
    tensor_betas = type(betas) in (tuple, list) and any(isinstance(b, Tensor) for b in betas)
    if not isinstance(lr, Tensor) and not tensor_betas:
        return group
    return {**group, "lr": _number("lr", lr) if isinstance(lr, Tensor) else lr,
            **({"betas": tuple(_number("betas", b) for b in betas)} if tensor_betas else {})}


def _float32_scalars(group: Group) -> Group:
    """``group`` for the readable update of a float16 parameter: its float hyperparameters as numpy float32, so that
    ``p *= 1 - lr * weight_decay`` multiplies in float32 and rounds once, as torch's half ops do (a Python float
    would be rounded to float16 first)."""
    return {k: numpy.float32(v) if type(v) is float else
            tuple(numpy.float32(x) if type(x) is float else x for x in v) if type(v) is tuple else v
            for k, v in group.items()}


def _copy_state(value: Any, torch_name: str | None, numbers: bool) -> Any:
    """A state entry for state_dict, as torch's holds it (``torch_name``: its name there): an array as a Tensor of
    a copy, a Tensor (a subclass's own state) cloned, the step count as a 0-d float tensor (float32 as torch's,
    float64 past 2**24 where float32 would round it), with ``numbers`` a host float (NAdam's ``mu_product``, ASGD's
    ``eta``) as a 0-d float64 tensor (exact; torch's load casts it to the parameter's dtype), the rest as it is."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    if torch_name == "step":
        return Tensor(numpy.array(value, numpy.float32 if value <= 2**24 else numpy.float64))
    if numbers and isinstance(value, float):
        return Tensor(numpy.array(value, numpy.float64))
    return Tensor(value.copy()) if backend.is_array(value) else value


def _load_state(value: Any, p: Tensor, name: str, shape: tuple[int, ...], tensors: bool) -> Any:
    """A saved state entry put back: with ``tensors`` (a subclass's own step, whose state holds Tensors) a Tensor as
    a Tensor on p's device, a floating one in p's dtype (as torch casts them); an array (or, for our own steps, a
    Tensor) as :func:`_to_param`'s array; anything else as it is."""
    if tensors and isinstance(value, Tensor):
        dtype = p.dtype if value.dtype.kind == "f" else value.dtype
        with backend.device_context(p.device):
            data = backend.xp_of(p.device).array(backend.to_device(value._data, p.device), dtype=dtype, order="C")
        return Tensor(data)
    return _to_param(value, p, name, shape) if hasattr(value, "shape") else value


def _to_param(array: Any, p: Tensor, name: str, shape: tuple[int, ...]) -> Array:
    """A saved state array (of ``shape``) as a fresh contiguous array on p's device, in p's dtype."""
    if tuple(array.shape) != shape:
        need = "" if shape == p.shape else f", so it must have shape {shape}"
        raise ValueError(f"state {name!r} has shape {tuple(array.shape)}, but its parameter has shape {p.shape}{need}")
    with backend.device_context(p.device):
        out = backend.xp_of(p.device).array(backend.to_device(array, p.device), dtype=p.dtype, order="C")
    return out


# ---------------------------------------------------------------------- hyperparameter checks
def check_torch_flags(name: str, flags: dict[str, Any]) -> None:
    """torch's execution options: ``foreach`` / ``fused`` / ``capturable`` change nothing here (same update);
    ``differentiable=True`` is refused; any other keyword is a TypeError, as Python's own."""
    unknown = sorted(set(flags) - {"foreach", "fused", "capturable", "differentiable"})
    if unknown:
        raise TypeError(f"{name}() got an unexpected keyword argument {unknown[0]!r}")
    if flags.get("differentiable"):
        raise NotImplementedError(f"{name}(differentiable=True): a step that autograd differentiates through is not "
                                  f"supported; drop the option (the update is the same without it)")


def _number(name: str, value: Any) -> float:
    """``value`` as a float: a real number, or (as torch takes ``lr=torch.tensor(0.01)``) a one-element real Tensor;
    TypeError for anything else, ValueError for a Tensor of another size."""
    if isinstance(value, Tensor) and value.dtype.kind in "fiu":
        if value.numel() != 1:
            raise ValueError(f"invalid {name}: a Tensor {name} must have one element, got shape {tuple(value.shape)}")
        return float(value.item())
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"invalid {name}={value!r}: must be a real number")
    return float(value)


def check_nonnegative(group: Group, *names: str) -> None:
    """ValueError naming the value unless each of ``group[name]`` is >= 0 (NaN fails)."""
    for name in names:
        if not _number(name, group[name]) >= 0:
            raise ValueError(f"invalid {name}={group[name]!r}: must be >= 0")


def check_unit_interval(group: Group, name: str) -> None:
    """ValueError naming the value unless ``group[name]`` (a number or a tuple of them) lies in [0, 1)."""
    values = group[name] if isinstance(group[name], (tuple, list)) else (group[name],)
    for v in values:
        if not 0 <= _number(name, v) < 1:
            raise ValueError(f"invalid {name}={group[name]!r}: must be in [0, 1)")


def check_betas(group: Group) -> None:
    """ValueError unless ``group["betas"]`` is a pair (beta1, beta2) in [0, 1)."""
    betas = group["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"invalid betas={betas!r}: must be a pair (beta1, beta2)")
    check_unit_interval(group, "betas")
