"""``torch.nn.grad`` (also ``F.grad``): the gradients of conv1d / conv2d / conv3d with respect to their input or
weight, given the output gradient, for custom autograd Functions that run a convolution's backward themselves
(torch's "fusing convolution and batch norm" tutorial). Each is the vector-Jacobian product of the convolution,
taken by reverse mode through a zero tensor of the given size (the convolution is linear in each argument, so its
values do not matter); the result keeps a graph where grad mode is on and an argument requires grad, as torch's
``convolution_backward`` is differentiable."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..autograd import enable_grad, grad, is_grad_enabled
from ..creation import zeros
from ..tensor import Tensor
from . import functional as F

Ints = int | Sequence[int]


def _vjp(conv: Callable[..., Tensor], size: Sequence[int], wrt_input: bool, other: Tensor, grad_output: Tensor,
         stride: Ints, padding: Ints, dilation: Ints, groups: int) -> Tensor:
    """The gradient of ``conv(input, weight)`` times ``grad_output`` with respect to the argument of ``size``
    (the input where ``wrt_input``, else the weight); ``other`` is the other argument."""
    keep = is_grad_enabled() and (other.requires_grad or grad_output.requires_grad)
    with enable_grad():
        unknown = zeros(*tuple(size), dtype=grad_output.dtype, device=grad_output.device, requires_grad=True)
        x, w = (unknown, other) if wrt_input else (other, unknown)
        out = conv(x, w, None, stride, padding, dilation, groups)
        if tuple(out.shape) != tuple(grad_output.shape):
            raise RuntimeError(f"{conv.__name__}: grad_output has shape {tuple(grad_output.shape)}, but the "
                               f"convolution of these sizes gives {tuple(out.shape)}; check input / weight sizes, "
                               f"stride, padding and dilation")
        return grad(out, unknown, grad_output, create_graph=keep)[0]


def conv1d_input(input_size: Sequence[int], weight: Tensor, grad_output: Tensor, stride: Ints = 1,
                 padding: Ints = 0, dilation: Ints = 1, groups: int = 1) -> Tensor:
    """The gradient of conv1d with respect to its input (N, C, L) of ``input_size``; weight (O, C / groups, k),
    grad_output (N, O, L_out)."""
    return _vjp(F.conv1d, input_size, True, weight, grad_output, stride, padding, dilation, groups)


def conv1d_weight(input: Tensor, weight_size: Sequence[int], grad_output: Tensor,  # noqa: A002 - torch's name
                  stride: Ints = 1, padding: Ints = 0, dilation: Ints = 1, groups: int = 1) -> Tensor:
    """The gradient of conv1d with respect to its weight (O, C / groups, k) of ``weight_size``; input (N, C, L),
    grad_output (N, O, L_out)."""
    return _vjp(F.conv1d, weight_size, False, input, grad_output, stride, padding, dilation, groups)


def conv2d_input(input_size: Sequence[int], weight: Tensor, grad_output: Tensor, stride: Ints = 1,
                 padding: Ints = 0, dilation: Ints = 1, groups: int = 1) -> Tensor:
    """The gradient of conv2d with respect to its input (N, C, H, W) of ``input_size``; weight
    (O, C / groups, kh, kw), grad_output (N, O, H_out, W_out)."""
    return _vjp(F.conv2d, input_size, True, weight, grad_output, stride, padding, dilation, groups)


def conv2d_weight(input: Tensor, weight_size: Sequence[int], grad_output: Tensor,  # noqa: A002 - torch's name
                  stride: Ints = 1, padding: Ints = 0, dilation: Ints = 1, groups: int = 1) -> Tensor:
    """The gradient of conv2d with respect to its weight (O, C / groups, kh, kw) of ``weight_size``; input
    (N, C, H, W), grad_output (N, O, H_out, W_out)."""
    return _vjp(F.conv2d, weight_size, False, input, grad_output, stride, padding, dilation, groups)


def conv3d_input(input_size: Sequence[int], weight: Tensor, grad_output: Tensor, stride: Ints = 1,
                 padding: Ints = 0, dilation: Ints = 1, groups: int = 1) -> Tensor:
    """The gradient of conv3d with respect to its input (N, C, D, H, W) of ``input_size``; weight
    (O, C / groups, kd, kh, kw), grad_output (N, O, D_out, H_out, W_out)."""
    return _vjp(F.conv3d, input_size, True, weight, grad_output, stride, padding, dilation, groups)


def conv3d_weight(input: Tensor, weight_size: Sequence[int], grad_output: Tensor,  # noqa: A002 - torch's name
                  stride: Ints = 1, padding: Ints = 0, dilation: Ints = 1, groups: int = 1) -> Tensor:
    """The gradient of conv3d with respect to its weight (O, C / groups, kd, kh, kw) of ``weight_size``; input
    (N, C, D, H, W), grad_output (N, O, D_out, H_out, W_out)."""
    return _vjp(F.conv3d, weight_size, False, input, grad_output, stride, padding, dilation, groups)


__all__ = ["conv1d_input", "conv1d_weight", "conv2d_input", "conv2d_weight", "conv3d_input", "conv3d_weight"]
