"""``torch.nn.parameter`` as a namespace: ``Parameter``, and the uninitialized tensors of lazy modules."""

from .module import Parameter, UninitializedBuffer, UninitializedParameter, UninitializedTensorMixin, is_lazy

__all__ = ["Parameter", "UninitializedBuffer", "UninitializedParameter", "UninitializedTensorMixin", "is_lazy"]
