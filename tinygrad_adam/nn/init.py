"""Weight initialisers, in place, drawing from the seeded generator of the tensor's device.

The formulas are PyTorch's: Glorot & Bengio (2010) for ``xavier_*``, He et al. (2015) for
``kaiming_*``. ``Linear`` and ``Conv2d`` default to ``kaiming_uniform_(w, a=sqrt(5))``, i.e.
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as PyTorch does.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

from ..autograd import no_grad
from ..creation import Generator, rand, randn
from ..methods import _continuous_only
from ..tensor import Tensor, bump_version

# torch's table: the linear layers and sigmoid give the int 1
GAINS = {**dict.fromkeys(("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                          "conv_transpose3d", "sigmoid"), 1),
         "tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 0.75}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended std gain for a nonlinearity; ``param`` is leaky_relu's negative slope (default 0.01): as
    torch's, an int or a float (a bool, a tensor or a numpy number other than float64 raises ValueError)."""
    if nonlinearity == "leaky_relu":
        number = isinstance(param, float) or (isinstance(param, int) and not isinstance(param, bool))
        if param is not None and not number:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number (an int or a float)")
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope * slope))
    if nonlinearity not in GAINS:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; use one of "
                         f"{[*sorted(GAINS), 'leaky_relu']}")
    return GAINS[nonlinearity]


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(in * receptive field, out * receptive field) for a weight (out, in, *kernel)."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out are defined for 2 or more dims, not shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out  # torch's private name, which model code calls


def _fan(t: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return calculate_fan_in_and_fan_out(t)[0 if mode == "fan_in" else 1]


def _fill(t: Tensor, values: Any) -> Tensor:
    """Write ``values`` (an array or a number) into ``t``'s array as one in-place write: its version moves, so a graph
    that saved ``t`` before raises at backward, as torch's does."""
    t._data[...] = values
    bump_version(t)
    return t


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with U(a, b), drawn from ``generator`` (as in every initialiser here that draws), else the default one;
    a > b or an infinite bound raises, as torch's."""
    _continuous_only("uniform_", tensor)
    if not (math.isfinite(a) and math.isfinite(b) and a <= b):
        raise ValueError(f"uniform_: needs finite bounds a <= b (torch's [from, to) range), got a={a}, b={b}")
    drawn = rand(tensor.shape, dtype=tensor.dtype, device=tensor.device, generator=generator)._data
    return _fill(tensor, drawn * (b - a) + a)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Fill with N(mean, std^2); a negative or NaN ``std`` raises, as torch's."""
    if not std >= 0:
        raise ValueError(f"normal_: expects std >= 0.0, got {std}")
    _continuous_only("normal_", tensor)
    drawn = randn(tensor.shape, dtype=tensor.dtype, device=tensor.device, generator=generator)._data
    return _fill(tensor, drawn * std + mean)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """``tensor.fill_(val)`` outside the graph, as torch's (so an expand, whose places share elements, takes it too)."""
    with no_grad():
        return tensor.fill_(val)


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1)


def eye_(tensor: Tensor) -> Tensor:
    """The identity matrix in a 2-D tensor (ones on the diagonal)."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got shape {tensor.shape}")
    return _fill(tensor, tensor.xp.eye(*tensor.shape, dtype=tensor.dtype))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """The identity of a convolution: weight (out, in, *kernel) (3-D to 5-D) zero but for a one at the kernel's
    centre (k // 2 along each kernel axis) of [g * out / groups + i, i] for each of the ``groups`` groups and
    i < min(out / groups, in), so each group passes its first channels through unchanged."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_ needs a 3-D, 4-D or 5-D tensor (out, in, *kernel), got shape {tensor.shape}")
    if groups < 1 or tensor.shape[0] % groups:
        raise ValueError(f"dirac_: the output channels {tensor.shape[0]} must be divisible by groups, got "
                         f"groups={groups}")
    xp, per = tensor.xp, tensor.shape[0] // groups
    channel = xp.arange(min(per, tensor.shape[1]))
    values = xp.zeros(tensor.shape, dtype=tensor.dtype)
    if channel.size:
        rows = (xp.arange(groups)[:, None] * per + channel).reshape(-1)
        values[(rows, xp.tile(channel, groups), *(k // 2 for k in tensor.shape[2:]))] = 1
    return _fill(tensor, values)


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator: Generator | None = None) -> Tensor:
    """A sparse 2-D (rows, cols) matrix (Martens, 2010): N(0, std^2) samples with ceil(sparsity * rows) of each
    column's rows, chosen at random, set to zero (all of them from sparsity 1 on)."""
    if tensor.ndim != 2:
        raise ValueError(f"sparse_ needs a 2-D tensor, got shape {tensor.shape}")
    _continuous_only("sparse_", tensor)
    rows, cols = tensor.shape
    zeros = len(range(rows)[:math.ceil(sparsity * rows)])  # (a negative count keeps that many, as torch's slice)
    values = randn(tensor.shape, dtype=tensor.dtype, device=tensor.device, generator=generator)._data * std
    order = rand(tensor.shape, dtype="float64", device=tensor.device, generator=generator)._data.argsort(axis=0)
    values[order[:zeros], tensor.xp.arange(cols)] = 0  # each column's first ``zeros`` rows of a random order
    return _fill(tensor, values)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: Generator | None = None) -> Tensor:
    """N(mean, std^2) restricted to [a, b] (absolute bounds, as torch), sampled exactly by rejection: from the normal
    itself where it puts more than 0.3 of its mass in [a, b], else from U(a, b) accepted with probability
    pdf(x) / max pdf on [a, b] (so a range far in a tail, or a mean far outside it, still ends). As torch's: a warning
    when the mean lies more than 2 std outside [a, b], std == 0 raises ZeroDivisionError, a == b fills with a."""
    if not a <= b:
        raise ValueError(f"trunc_normal_: need a <= b, got a={a}, b={b}")
    _continuous_only("trunc_normal_", tensor)
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("trunc_normal_: [a, b] lies over 2 std away from the mean, so the values drawn may not "
                      "follow the truncated normal", stacklevel=2)
    mass = _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std)
    xp = tensor.xp
    values = xp.empty(tensor._data.size, dtype=tensor.dtype)
    todo = xp.arange(values.size)  # the entries still to draw
    z_peak = (max(a, min(mean, b)) - mean) / std  # (uniform proposals) the pdf's highest point on [a, b]
    while todo.size:
        if mass > 0.3:
            draw = randn(todo.size, dtype=tensor.dtype, device=tensor.device, generator=generator)._data * std + mean
            reject = (draw < a) | (draw > b)
        else:
            draw = rand(todo.size, dtype=tensor.dtype, device=tensor.device, generator=generator)._data * (b - a) + a
            log_ratio = -0.5 * ((draw.astype("float64") - mean) / std) ** 2 + 0.5 * z_peak ** 2  # log(pdf / peak)
            u = rand(todo.size, dtype="float64", device=tensor.device, generator=generator)._data
            reject = xp.log(u) > log_ratio
        values[todo] = draw
        todo = todo[reject]
    return _fill(tensor, values.reshape(tensor.shape))


def _norm_cdf(z: float) -> float:
    """The standard normal's cumulative distribution at ``z``."""
    return (1.0 + math.erf(z / math.sqrt(2.0))) / 2.0


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """A (semi-)orthogonal matrix (rows x prod(rest)) from the QR of a Gaussian one (Saxe et al., 2013), times gain."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_ needs at least 2 dimensions, got shape {tensor.shape}")
    if tensor._data.size == 0:  # nothing to fill (torch: a no-op)
        return tensor
    _continuous_only("orthogonal_", tensor)
    rows, cols = tensor.shape[0], tensor._data.size // tensor.shape[0]
    flat = randn((max(rows, cols), min(rows, cols)), dtype="float64", device=tensor.device, generator=generator)._data
    q, r = tensor.xp.linalg.qr(flat)
    q *= tensor.xp.sign(tensor.xp.diagonal(r))  # a unique Q: the one whose R has a positive diagonal
    q = q.T if rows < cols else q
    return _fill(tensor, (gain * q).reshape(tensor.shape).astype(tensor.dtype))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Generator | None = None) -> Tensor:
    """U(-b, b) with b = gain * sqrt(3 / fan); ``a`` is the leaky_relu slope used by the gain."""
    if _empty(tensor):
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Generator | None = None) -> Tensor:
    """N(0, std^2) with std = gain / sqrt(fan)."""
    if _empty(tensor):
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode)), generator)


def _empty(t: Tensor) -> bool:
    """A tensor with a zero dim: kaiming's fan may be 0, and there is nothing to fill (torch warns, a no-op)."""
    if 0 in t.shape:
        warnings.warn("init on a tensor with no elements does nothing", stacklevel=3)
        return True
    return False


def default_init_(weight: Tensor, bias: Tensor | None) -> None:
    """PyTorch's default for Linear and Conv2d: weight and bias both U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in = calculate_fan_in_and_fan_out(weight)[0]
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound)


def _deprecated(new: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """torch's old spelling without the trailing underscore (``nn.init.xavier_uniform(w)``, as 2018 code writes it):
    a FutureWarning, then ``new``."""
    old = new.__name__[:-1]

    def init(*args: Any, **kwargs: Any) -> Tensor:
        warnings.warn(f"nn.init.{old} is deprecated in favor of nn.init.{new.__name__} (as in torch)", FutureWarning,
                      stacklevel=2)
        return new(*args, **kwargs)
    init.__name__ = init.__qualname__ = old
    return init


uniform, normal, constant, eye, dirac, sparse, orthogonal, xavier_uniform, xavier_normal, kaiming_uniform, \
    kaiming_normal = map(_deprecated, (uniform_, normal_, constant_, eye_, dirac_, sparse_, orthogonal_,
                                       xavier_uniform_, xavier_normal_, kaiming_uniform_, kaiming_normal_))
