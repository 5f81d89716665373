"""torch's older, hook-based ``nn.utils.weight_norm`` / ``remove_weight_norm`` and ``nn.utils.spectral_norm`` /
``remove_spectral_norm`` (the parametrizations in ``parametrizations.py`` replace them in torch; both are here).

A forward pre-hook recomputes ``module.<name>``, a plain Tensor attribute, before each forward, from the parameters
``<name>_g`` / ``<name>_v`` (weight norm), or from the parameter ``<name>_orig`` and the buffers ``<name>_u`` /
``<name>_v`` (spectral norm, one power-method step per forward in training mode), torch's names and order.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..autograd import no_grad
from ..creation import randn
from ..tensor import Tensor
from . import functional as F
from .module import Module, Parameter, is_lazy
from .parametrizations import _floating, _weight_norm, default_dim, norm_except_dim


def _pre_hooks(module: Module) -> dict[int, Any]:
    hooks = module._module_hooks
    return {} if hooks is None else hooks.pre


def _parameter(op: str, module: Module, name: str, hook_type: type) -> Parameter:
    """``module``'s parameter ``name``, checked: no hook of ``hook_type`` on it yet, initialised, floating."""
    if any(isinstance(h, hook_type) and h.name == name for h in _pre_hooks(module).values()):
        raise RuntimeError(f"{op}: {name!r} of {type(module).__name__} already has a {op} hook; remove it first")
    weight = vars(module).get(name)
    if weight is None and not hasattr(module, name):  # torch's getattr / _parameters[name] failing
        error = AttributeError if op == "weight_norm" else KeyError
        raise error(f"{op}: {type(module).__name__} has no parameter named {name!r}")
    if not isinstance(weight, Parameter):
        raise ValueError(f"{op}: {type(module).__name__} has no parameter named {name!r}")
    if is_lazy(weight):
        raise ValueError(f"{op}: {name!r} is uninitialized; run a forward pass of the lazy module first")
    _floating(op, weight)
    return weight


def _remove(op: str, module: Module, name: str, hook_type: type) -> Module:
    """Take ``module``'s ``hook_type`` hook on ``name`` off and undo its reparametrization."""
    table = _pre_hooks(module)
    for key, hook in table.items():
        if isinstance(hook, hook_type) and hook.name == name:
            hook.remove(module)
            del table[key]
            return module
    raise ValueError(f"{op} of {name!r} not found in {type(module).__name__}")


class WeightNorm:
    """The pre-hook of ``weight_norm``: ``module.<name> = g v / ||v||`` from ``<name>_g``, ``<name>_v``."""

    def __init__(self, name: str, dim: int | None) -> None:
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module: Module) -> Tensor:
        return _weight_norm(getattr(module, self.name + "_v"), getattr(module, self.name + "_g"), self.dim)

    def remove(self, module: Module) -> None:
        weight = self.compute_weight(module)
        for suffix in ("", "_g", "_v"):
            delattr(module, self.name + suffix)
        setattr(module, self.name, Parameter(weight._data))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalisation by a forward pre-hook (torch's deprecated form; FutureWarning as there): parameter
    ``<name>`` becomes ``<name>_g`` (the norms of its slices along ``dim``; one 0-d norm for None) and ``<name>_v``
    (the tensor, sharing its array); ``module.<name>`` is recomputed before each forward. Returns ``module``."""
    warnings.warn("nn.utils.weight_norm is deprecated in favor of nn.utils.parametrizations.weight_norm",
                  FutureWarning, stacklevel=2)
    weight = _parameter("weight_norm", module, name, WeightNorm)
    fn = WeightNorm(name, dim)
    g = norm_except_dim(weight, 2, fn.dim)
    delattr(module, name)
    module.register_parameter(name + "_g", Parameter(g._data))
    module.register_parameter(name + "_v", Parameter(weight._data))
    setattr(module, name, fn.compute_weight(module))
    module.register_forward_pre_hook(fn)
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undo ``weight_norm``: ``<name>`` is a Parameter again, holding the present g v / ||v||. Returns ``module``."""
    return _remove("weight_norm", module, name, WeightNorm)


class SpectralNorm:
    """The pre-hook of ``spectral_norm``: ``module.<name> = W / (u . W v)``, W = ``<name>_orig`` as a matrix (dim
    ``dim`` first), after, in training mode, ``n_power_iterations`` steps v <- W^T u, u <- W v (normalised)."""

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        if n_power_iterations <= 0:
            raise ValueError(f"spectral_norm: n_power_iterations must be positive, got {n_power_iterations}")
        self.name, self.dim, self.n_power_iterations, self.eps = name, dim, n_power_iterations, eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = weight.permute(self.dim, *[d for d in range(weight.ndim) if d != self.dim])
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with no_grad():
                for _ in range(self.n_power_iterations):
                    v.copy_(F.normalize(weight_mat.T.mv(u), dim=0, eps=self.eps))
                    u.copy_(F.normalize(weight_mat.mv(v), dim=0, eps=self.eps))
            u, v = u.clone(), v.clone()  # a later step's in-place update leaves this graph valid
        return weight / u.dot(weight_mat.mv(v))

    def remove(self, module: Module) -> None:
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        for suffix in ("", "_u", "_v", "_orig"):
            delattr(module, self.name + suffix)
        vars(module)["_load_state_dict_pre_hooks"].remove(self.legacy_keys)
        module.register_parameter(self.name, Parameter(weight._data))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    def legacy_keys(self, state_dict: dict[str, Any], prefix: str) -> None:
        """Load a state dict of torch before 1.0 (``<name>`` = W / sigma beside ``<name>_orig`` and ``<name>_u``)
        as torch does: ``<name>`` is dropped and ``<name>_v`` solved so that u . W v = sigma = mean(W / <name>),
        v = pinv(W^T W) W^T u rescaled (W = ``<name>_orig`` as a matrix)."""
        key = prefix + self.name
        if not all(k in state_dict for k in (key, key + "_orig", key + "_u")):
            return
        with no_grad():
            weight, orig, u = (Tensor(state_dict[k]) for k in (key, key + "_orig", key + "_u"))
            del state_dict[key]
            mat = self.reshape_weight_to_matrix(orig)
            v = (mat.T @ mat).pinverse() @ (mat.T @ u)
            state_dict[key + "_v"] = (v * ((orig / weight).mean() / u.dot(mat.mv(v))))._data


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: int | None = None) -> Module:
    """Spectral normalisation by a forward pre-hook (torch's older form): parameter ``<name>`` becomes
    ``<name>_orig`` (the same object) with random unit buffers ``<name>_u`` (h,) and ``<name>_v`` (w,) for the
    (h, w) matrix view of it with ``dim`` (default: the outputs' dim) first; ``module.<name>`` is recomputed before
    each forward. Returns ``module``."""
    fn = SpectralNorm(name, n_power_iterations, default_dim(module) if dim is None else dim, eps)
    weight = _parameter("spectral_norm", module, name, SpectralNorm)
    with no_grad():
        h, w = fn.reshape_weight_to_matrix(weight).shape
        u = F.normalize(randn(h, dtype=weight.dtype, device=weight.device), dim=0, eps=eps)
        v = F.normalize(randn(w, dtype=weight.dtype, device=weight.device), dim=0, eps=eps)
    delattr(module, name)
    module.register_parameter(name + "_orig", weight)
    setattr(module, name, Tensor(weight))
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    module.register_forward_pre_hook(fn)
    vars(module).setdefault("_load_state_dict_pre_hooks", []).append(fn.legacy_keys)  # (see Module.load_state_dict)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo ``spectral_norm``: ``<name>`` is a Parameter again, holding W / sigma for the present u, v (no power
    step). Returns ``module``."""
    return _remove("spectral_norm", module, name, SpectralNorm)


__all__ = ["SpectralNorm", "WeightNorm", "remove_spectral_norm", "remove_weight_norm", "spectral_norm",
           "weight_norm"]
