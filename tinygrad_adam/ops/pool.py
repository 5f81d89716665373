"""2-D max pooling on NCHW input, vectorised over everything but the kh*kw kernel offsets.

Forward copies the strided window view once into (kh*kw, N, C, Ho, Wo), takes the max over the
first axis and keeps, per output, the offset of the first maximal element (as PyTorch does).
Backward sends each output gradient to that one element by kh*kw shifted adds.
"""

from __future__ import annotations

from ..tensor import Array, Tensor, record
from .conv import IntPair, fold_shifted, output_size, pad_spatial, pair, windows


def max_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> Tensor:
    """Max over kh x kw windows of x (N, C, H, W) -> (N, C, Ho, Wo); ``stride`` defaults to the kernel size.

    Padding is with -inf and may be at most half the kernel, as in PyTorch.
    """
    if x.ndim != 4:
        raise ValueError(f"max_pool2d: expected 4-D input (N, C, H, W), got shape {x.shape}")
    k = pair(kernel_size, "max_pool2d kernel_size", 1)
    st = k if stride is None else pair(stride, "max_pool2d stride", 1)
    pd = pair(padding, "max_pool2d padding", 0)
    if pd[0] > k[0] // 2 or pd[1] > k[1] // 2:
        raise ValueError(f"max_pool2d: padding {pd} must be at most half the kernel size {k}")
    n, c, h, w = x.shape
    ho, wo = output_size("max_pool2d", (h, w), k, st, pd)
    xp = x.xp
    xpad = pad_spatial(x.data, pd, value=-xp.inf)
    cand = windows(xpad, k, st, (ho, wo)).reshape(k[0] * k[1], n, c, ho, wo)  # one strided copy
    out = cand.max(axis=0)
    first = xp.zeros(out.shape, dtype=xp.int32)  # offset i*kw + j of the first maximal element
    for offset in range(k[0] * k[1] - 1, -1, -1):
        xp.copyto(first, offset, where=cand[offset] == out)
    del cand

    def backward(g: Array) -> tuple[Array]:
        zero = g.dtype.type(0)
        gpad = fold_shifted(xp, lambda i, j: xp.where(first == i * k[1] + j, g, zero), (n, c) + xpad.shape[2:], k,
                            st, (ho, wo))
        return (gpad[:, :, pd[0]:pd[0] + h, pd[1]:pd[1] + w],)
    return record("max_pool2d", out, (x,), backward)
