"""``torch.autograd.grad_mode``: the gradient-recording switches (see ``autograd.no_grad`` and its kin), at torch's
path."""

from ..autograd import enable_grad, inference_mode, no_grad, set_grad_enabled

__all__ = ["enable_grad", "inference_mode", "no_grad", "set_grad_enabled"]
