"""``torch.nn.parameter`` as a namespace: ``Parameter``, ``Buffer``, and the uninitialized tensors of lazy
modules."""

from .module import Buffer, Parameter, UninitializedBuffer, UninitializedParameter, UninitializedTensorMixin, is_lazy

__all__ = ["Buffer", "Parameter", "UninitializedBuffer", "UninitializedParameter", "UninitializedTensorMixin",
           "is_lazy"]
