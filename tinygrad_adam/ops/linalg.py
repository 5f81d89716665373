"""Matrix product: 1-D, 2-D and batched N-D, with numpy's matmul semantics."""

from __future__ import annotations

from ..tensor import Array, Tensor, TensorLike, as_tensor, check_devices, record
from .elementwise import broadcast_shape, unbroadcast
from .linear import check_dtypes


def matmul(a: TensorLike, b: TensorLike) -> Tensor:
    """``a @ b``. Shapes (..., n, k) @ (..., k, m) -> (..., m); 1-D operands act as row/column vectors."""
    a = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    b = as_tensor(b, like=a)
    check_devices("matmul", a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                         f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})")
    batch_a, batch_b = a.shape[:-2], b.shape[:-2]
    if batch_a and batch_b and any(x != y and x != 1 and y != 1 for x, y in zip(batch_a[::-1], batch_b[::-1])):
        raise ValueError(f"matmul: the batch dimensions of shapes {a.shape} and {b.shape} cannot be broadcast "
                         f"together ({batch_a} and {batch_b})")
    check_dtypes("matmul", a, b)
    out = a.data @ b.data

    def backward(g: Array) -> tuple[Array | None, Array | None]:
        # 1-D operands become a row / a column so one formula covers every case
        a2 = a.data if a.ndim > 1 else a.data[None, :]  # (..., n, k)
        b2 = b.data if b.ndim > 1 else b.data[:, None]  # (..., k, m)
        g2 = g.reshape(broadcast_shape("matmul", a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1]))
        ga = unbroadcast(g2 @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape) if a.requires_grad else None  # g b^T
        gb = unbroadcast(a2.swapaxes(-1, -2) @ g2, b2.shape).reshape(b.shape) if b.requires_grad else None  # a^T g
        return ga, gb
    return record("matmul", out, (a, b), backward)
