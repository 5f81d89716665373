"""``Distribution``, the base class: batch / event shapes, sampling, and torch's argument validation."""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from ..autograd import no_grad
from ..methods import Size
from ..tensor import Tensor
from . import constraints
from .utils import lazy_property, sizes


def follows_value(method: Callable[[Any, Any], Tensor]) -> Callable[[Any, Any], Tensor]:
    """``log_prob`` / ``cdf`` / ``icdf`` of a distribution made from Python numbers, called with a value on another
    device, computed with the parameters moved there (torch's 0-d CPU tensors meet CUDA tensors as scalars, so
    ``Normal(0, 1).log_prob(z_cuda)`` works)."""
    @functools.wraps(method)
    def wrapper(self: Distribution, value: Any) -> Tensor:
        return method(self._on(value.device if isinstance(value, Tensor) else None), value)
    return wrapper


def _all_true(valid: Tensor) -> bool:
    with no_grad():
        return bool(valid.all().item())


class Distribution:
    """A batch of probability distributions, as ``torch.distributions.Distribution``.

    ``batch_shape`` is the shape over which parameters are batched, ``event_shape`` the shape of one sample;
    ``sample(sample_shape)`` has shape ``sample_shape + batch_shape + event_shape``. With ``validate_args`` (the
    default, as in torch, unless Python runs with ``-O``), invalid parameters and values outside the support
    raise ValueError.
    """

    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__
    _numbers = False  # made from Python numbers only: its 0-d parameters follow the device they meet (``_on``)

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Turn argument validation on or off for every distribution made afterwards without ``validate_args``."""
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args: expected True or False, got {value!r}")
        Distribution._validate_args = value

    def __init__(self, batch_shape: Sequence[int] = (), event_shape: Sequence[int] = (),
                 validate_args: bool | None = None) -> None:
        self._batch_shape, self._event_shape = Size(batch_shape), Size(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            self._check_parameters()

    def _check_parameters(self) -> None:
        arg_constraints = self._declared("arg_constraints", "set `arg_constraints = {}` or pass validate_args=False")
        for name, constraint in (arg_constraints or {}).items():
            if name not in self.__dict__ and isinstance(getattr(type(self), name, None), lazy_property):
                continue  # not computed yet (the other parameterisation was given)
            value = getattr(self, name)
            if not _all_true(constraint.check(value)):
                raise ValueError(f"parameter {name} (shape {tuple(value.shape)}) of {self!r} breaks its constraint "
                                 f"{constraint!r} in some entries; fix them, or pass validate_args=False to skip the "
                                 f"check")

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Distribution:
        """A distribution with parameters expanded (broadcast, not copied) to ``batch_shape``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement expand")

    def _get_checked_instance(self, cls: type, _instance: Any = None) -> Any:
        if _instance is None and type(self).__init__ is not cls.__init__:
            raise NotImplementedError(f"{type(self).__name__} overrides {cls.__name__}.__init__, so the default "
                                      f".expand() cannot rebuild it; define expand() in the subclass")
        return type(self).__new__(type(self)) if _instance is None else _instance

    def _expanded(self, cls: type, names: Sequence[str], shape: Sequence[int], batch_shape: Sequence[int],
                  event_shape: Sequence[int] = (), _instance: Any = None) -> Any:
        """What every ``expand`` does: a new ``cls`` with each parameter of ``names`` that this one holds expanded
        to ``shape``, the given batch and event shapes, and this one's validation setting."""
        new = self._get_checked_instance(cls, _instance)
        for name in names:
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(tuple(shape)))
        Distribution.__init__(new, batch_shape, event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _declared(self, name: str, hint: str) -> Any:
        """``arg_constraints`` or ``support``; None, with a warning naming ``hint``, where the class leaves it out."""
        try:
            return getattr(self, name)
        except NotImplementedError:
            warnings.warn(f"{type(self).__name__} does not define `{name}`: {hint}", stacklevel=4)
            return None

    @property
    def _device(self) -> str | None:
        return next((v.device for v in vars(self).values() if isinstance(v, Tensor)), None)

    def _on(self, device: str | None) -> Distribution:
        """Itself, or, when made from Python numbers and met on another ``device``, a copy with its parameters
        there (as torch's 0-d CPU parameters act as scalars)."""
        if not self._numbers or device is None or self._device == device:
            return self
        moved = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, Tensor):
                setattr(moved, name, value.to(device))
        return moved

    @property
    def batch_shape(self) -> Size:
        return self._batch_shape

    @property
    def event_shape(self) -> Size:
        return self._event_shape

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:
        """The constraint each parameter must satisfy (checked at construction when validating)."""
        raise NotImplementedError

    @property
    def support(self) -> constraints.Constraint:
        """The values this distribution gives (``log_prob`` checks its argument against it when validating)."""
        raise NotImplementedError

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{type(self)} does not implement mode")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """A sample of shape ``sample_shape + batch_shape + event_shape``, outside the graph."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """A reparameterised sample (gradients flow to the parameters), shaped as ``sample``'s."""
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised sampler (has_rsample is False); "
                                  f"use sample()")

    def log_prob(self, value: Tensor) -> Tensor:
        """The log density / mass at ``value``: shape broadcast(value's, batch_shape + event_shape) less the event
        dims."""
        raise NotImplementedError

    def cdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def icdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def enumerate_support(self, expand: bool = True) -> Tensor:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        """The entropy of each distribution in the batch: shape ``batch_shape``."""
        raise NotImplementedError

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    def _extended_shape(self, sample_shape: Sequence[int] = ()) -> Size:
        return Size(sizes(sample_shape) + self._batch_shape + self._event_shape)

    def _validate_sample(self, value: Any) -> None:
        """Raise ValueError unless ``value`` is a Tensor whose shape fits the event and batch shapes and whose
        entries lie in the support."""
        if not isinstance(value, Tensor):
            raise ValueError(f"log_prob and the other value methods take a Tensor, not a {type(value).__name__}; wrap "
                             f"it with tinygrad_adam.tensor(...)")
        event, expected = self._event_shape, self._batch_shape + self._event_shape
        if tuple(value.shape[value.ndim - len(event):]) != event:
            raise ValueError(f"a value of shape {tuple(value.shape)} does not end in this distribution's event shape "
                             f"{event}")
        for i, j in zip(reversed(value.shape), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"a value of shape {tuple(value.shape)} cannot broadcast against this "
                                 f"distribution's batch and event shape {expected}")
        support = self._declared("support", "it enables sample validation; pass validate_args=False")
        if support is not None and not _all_true(support.check(value)):
            raise ValueError(f"some entries of the value (shape {tuple(value.shape)}) lie outside the support "
                             f"{support!r} of {self!r}; pass values in the support, or validate_args=False")

    def __repr__(self) -> str:
        try:
            names = [k for k in self.arg_constraints if k in self.__dict__]
        except NotImplementedError:
            names = []
        args = ", ".join(f"{k}: {v.item() if v.numel() == 1 else v.size()}" for k, v in
                         ((k, self.__dict__[k]) for k in names))
        return f"{type(self).__name__}({args})"
