"""2-D convolution on NCHW input: im2col through a strided view, then one GEMM per batch chunk.

Forward: the padded input is viewed (no copy) as windows of shape (C, kh, kw, N, Ho, Wo),
copied into the column matrix ``cols`` (C*kh*kw, N*Ho*Wo) and multiplied by the weight matrix
(O, C*kh*kw). Backward: ``dW = g @ cols.T``, ``dcols = W.T @ g``, and col2im folds ``dcols``
back onto the input by kh*kw shifted array adds. The batch is cut into chunks whose columns fit
in ``CHUNK_BYTES`` (one chunk for small batches), so the columns stay in cache between the copy
and the GEMM; backward rebuilds them instead of keeping them.
"""

from __future__ import annotations

from .. import backend
from ..tensor import Array, Tensor, check_devices, record
from .linear import check_dtypes

IntPair = int | tuple[int, int]


def pair(value: IntPair, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints as a pair, each at least ``minimum``; a ValueError naming ``name`` otherwise."""
    p = (value, value) if isinstance(value, int) else tuple(value)
    if len(p) != 2 or not all(isinstance(v, int) and v >= minimum for v in p):
        raise ValueError(f"{name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return p  # type: ignore[return-value]


def output_size(op: str, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                padding: tuple[int, int]) -> tuple[int, int]:
    """(Ho, Wo) = floor((H + 2p - k) / s) + 1; a ValueError when the kernel is larger than the padded input."""
    padded = (size[0] + 2 * padding[0], size[1] + 2 * padding[1])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ValueError(f"{op}: kernel size {kernel} is larger than the padded input {padded} "
                         f"(input {size}, padding {padding})")
    return (padded[0] - kernel[0]) // stride[0] + 1, (padded[1] - kernel[1]) // stride[1] + 1


def pad_spatial(x: Array, padding: tuple[int, int], value: float = 0.0) -> Array:
    """``x`` (..., H, W) with ``padding`` rows/columns of ``value`` on each side (``x`` itself when no padding)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    xp = backend.get_array_module(x)
    out = xp.full(x.shape[:-2] + (x.shape[-2] + 2 * ph, x.shape[-1] + 2 * pw), value, dtype=x.dtype)
    out[..., ph:ph + x.shape[-2], pw:pw + x.shape[-1]] = x
    return out


def windows(xpad: Array, kernel: tuple[int, int], stride: tuple[int, int], out: tuple[int, int]) -> Array:
    """A strided view (no copy) of padded NCHW input as (kh, kw, N, C, Ho, Wo): element [i, j, ..., h, w] is
    ``xpad[..., h * sh + i, w * sw + j]``."""
    sn, sc, sh, sw = xpad.strides
    shape = (kernel[0], kernel[1], xpad.shape[0], xpad.shape[1], out[0], out[1])
    strides = (sh, sw, sn, sc, sh * stride[0], sw * stride[1])
    return backend.get_array_module(xpad).lib.stride_tricks.as_strided(xpad, shape=shape, strides=strides)


def col2im(gcols: Array, padded: tuple[int, int], stride: tuple[int, int]) -> Array:
    """Fold column gradients (C, kh, kw, m, Ho, Wo) back onto the padded input, as (C, m, Hp, Wp).

    One shifted (strided) array add per kernel offset; overlapping windows accumulate.
    """
    c, kh, kw, m, ho, wo = gcols.shape
    acc = backend.get_array_module(gcols).zeros((c, m) + tuple(padded), dtype=gcols.dtype)
    hi, wi = stride[0] * (ho - 1) + 1, stride[1] * (wo - 1) + 1
    for i in range(kh):
        for j in range(kw):
            acc[:, :, i:i + hi:stride[0], j:j + wi:stride[1]] += gcols[:, i, j]
    return acc


# Bytes of column matrix per GEMM: on the CPU about a cache's worth, so the columns are still cached when
# BLAS reads them and the temporaries are reused from the heap rather than freshly mapped each call.
CHUNK_BYTES = {"cpu": 16 << 20, "cuda": 512 << 20}


def batch_chunks(n: int, sample_bytes: int, device: str) -> list[slice]:
    """Consecutive batch slices whose columns fit ``CHUNK_BYTES`` (at least one sample each)."""
    step = max(1, CHUNK_BYTES[device.split(":")[0]] // max(sample_bytes, 1))
    return [slice(s, min(s + step, n)) for s in range(0, n, step)]


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,
           padding: IntPair = 0) -> Tensor:
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw) plus bias (O,) -> (N, O, Ho, Wo)."""
    parents = (x, weight) if bias is None else (x, weight, bias)
    check_devices("conv2d", *parents)
    if x.ndim != 4:
        raise ValueError(f"conv2d: expected 4-D input (N, C, H, W), got shape {x.shape}")
    if weight.ndim != 4:
        raise ValueError(f"conv2d: expected 4-D weight (out_channels, in_channels, kh, kw), got shape {weight.shape}")
    n, c, h, w = x.shape
    o, wc, kh, kw = weight.shape
    if wc != c:
        raise ValueError(f"conv2d: weight {weight.shape} expects {wc} input channels, got {c} (input shape {x.shape})")
    if bias is not None and bias.shape != (o,):
        raise ValueError(f"conv2d: bias must have shape ({o},), got {bias.shape}")
    check_dtypes("conv2d", *parents)
    st, pd = pair(stride, "conv2d stride", 1), pair(padding, "conv2d padding", 0)
    ho, wo = output_size("conv2d", (h, w), (kh, kw), st, pd)
    xp, k = x.xp, c * kh * kw
    xpad = pad_spatial(x.data, pd)
    w2 = weight.data.reshape(o, k)
    chunks = batch_chunks(n, k * ho * wo * x.dtype.itemsize, x.device)

    def columns(b: slice) -> Array:
        """im2col of one batch chunk: (C*kh*kw, m*Ho*Wo), one copy out of the strided window view."""
        view = windows(xpad[b], (kh, kw), st, (ho, wo)).transpose(3, 0, 1, 2, 4, 5)  # (C, kh, kw, m, Ho, Wo)
        return view.reshape(k, -1)

    out = xp.empty((n, o, ho, wo), dtype=x.dtype)
    for b in chunks:
        y = w2 @ columns(b)  # (O, m*Ho*Wo): one GEMM per chunk
        if bias is not None:
            y += bias.data[:, None]
        out[b] = y.reshape(o, -1, ho, wo).transpose(1, 0, 2, 3)

    def backward(g: Array) -> tuple[Array | None, ...]:
        gw = xp.zeros((o, k), dtype=g.dtype) if weight.requires_grad else None
        gx = xp.empty(x.shape, dtype=g.dtype) if x.requires_grad else None
        for b in chunks:
            g2 = xp.ascontiguousarray(g[b].transpose(1, 0, 2, 3)).reshape(o, -1)  # (O, m*Ho*Wo)
            if gw is not None:
                gw += g2 @ columns(b).T  # the columns are recomputed, not kept: less memory, still cached
            if gx is not None:
                gpad = col2im((w2.T @ g2).reshape(c, kh, kw, -1, ho, wo), xpad.shape[2:], st)
                gx[b] = gpad[:, :, pd[0]:pd[0] + h, pd[1]:pd[1] + w].transpose(1, 0, 2, 3)
        grads = (gx, None if gw is None else gw.reshape(weight.shape))
        if bias is None:
            return grads
        return (*grads, g.sum(axis=(0, 2, 3)) if bias.requires_grad else None)
    return record("conv2d", out, parents, backward)
