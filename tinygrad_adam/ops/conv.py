"""2-D convolution on NCHW input: im2col on a channels-last copy, then one GEMM per batch chunk.

Forward: the input is copied once into a zero-padded NHWC array, viewed (no copy) as patches
(N, Ho, Wo, kh, kw, C), and each batch chunk's patches are copied into the column matrix
(m*Ho*Wo, kh*kw*C) and multiplied by the weight matrix (kh*kw*C, O). Channels-last makes each
patch row a few long contiguous runs (kw*C values), so the copy runs near memory speed.
Backward: ``dW = cols.T @ g``; ``dx`` is itself a convolution, of the output gradient (dilated by
the stride, padded by k-1) with the flipped kernel, so it is one more im2col + GEMM rather than a
scatter of column gradients. The batch is cut into chunks whose columns fit in ``CHUNK_BYTES``
(one chunk for small batches), so the columns stay in cache between the copy and the GEMM;
backward rebuilds them instead of keeping them.
"""

from __future__ import annotations

from numbers import Integral

from .. import backend
from ..tensor import Array, Tensor, check_devices, record
from .linear import check_dtypes

IntPair = int | tuple[int, int]


def pair(value: IntPair, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints as a pair, each at least ``minimum``; a ValueError naming ``name`` otherwise."""
    p = (value, value) if isinstance(value, Integral) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(p) != 2 or not all(isinstance(v, Integral) and v >= minimum for v in p):
        raise ValueError(f"{name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return int(p[0]), int(p[1])


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


def patches(xpad: Array, kernel: tuple[int, int], stride: tuple[int, int], out: tuple[int, int]) -> Array:
    """A strided view (no copy) of padded NHWC input as (N, Ho, Wo, kh, kw, C): element [n, h, w, i, j, c] is
    ``xpad[n, h * sh + i, w * sw + j, c]``. Reshaped to (N*Ho*Wo, kh*kw*C) it is the im2col matrix; each row
    copies in runs of kw*C contiguous values (whole pixels), which is why the layout is channels-last."""
    sn, sh, sw, sc = xpad.strides
    shape = (xpad.shape[0], out[0], out[1], kernel[0], kernel[1], xpad.shape[3])
    strides = (sn, sh * stride[0], sw * stride[1], sh, sw, sc)
    return backend.get_array_module(xpad).lib.stride_tricks.as_strided(xpad, shape=shape, strides=strides)


def channels_last(x: Array, size: tuple[int, int], offset: tuple[int, int], step: tuple[int, int] = (1, 1)) -> Array:
    """NCHW ``x`` copied into a zero NHWC array of spatial ``size``, pixel (h, w) landing at
    (offset[0] + h * step[0], offset[1] + w * step[1]): padding (and, for step > 1, dilation) in one copy."""
    n, c, h, w = x.shape
    out = backend.get_array_module(x).zeros((n, size[0], size[1], c), dtype=x.dtype)
    out[:, offset[0]:offset[0] + (h - 1) * step[0] + 1:step[0], offset[1]:offset[1] + (w - 1) * step[1] + 1:step[1]] \
        = x.transpose(0, 2, 3, 1)
    return out


def scatter_columns(gcols: Array, shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                    padding: tuple[int, int], out: tuple[int, int]) -> Array:
    """col2im: add column gradients (m*Ho*Wo, kh*kw*C) back onto the input positions they were copied from,
    -> (m, C, H, W) for the first ``m = len(gcols) // (Ho*Wo)`` samples of ``shape``. Only real output
    positions contribute, as in PyTorch."""
    xp = backend.get_array_module(gcols)
    _, c, h, w = shape
    kh, kw = kernel
    cols = gcols.reshape(len(gcols) // (out[0] * out[1]), out[0], out[1], kh, kw, c)
    gpad = xp.zeros((len(cols), h + 2 * padding[0], w + 2 * padding[1], c), dtype=gcols.dtype)
    for i in range(kh):
        for j in range(kw):
            gpad[:, i:i + stride[0] * (out[0] - 1) + 1:stride[0], j:j + stride[1] * (out[1] - 1) + 1:stride[1]] \
                += cols[:, :, :, i, j]
    return gpad[:, padding[0]:padding[0] + h, padding[1]:padding[1] + w].transpose(0, 3, 1, 2)


# Bytes of column matrix per GEMM: on the CPU about a cache's worth, so the columns are still cached when
# BLAS reads them and the temporaries are reused from the heap rather than freshly mapped each call.
CHUNK_BYTES = {"cpu": 4 << 20, "cuda": 512 << 20}


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
    if (h == 0 or w == 0) and n > 0:  # as torch, which accepts only an empty batch or empty channels
        raise ValueError(f"conv2d: input {x.shape} has an empty spatial dimension (only an empty batch may have one)")
    if c == 0 or o == 0:  # torch raises for 0 output channels and gives a (N, 0, Ho, Wo) result for 0 input ones
        raise ValueError(f"conv2d: zero channels (input {x.shape}, weight {weight.shape}); a convolution needs at "
                         f"least one input and one output channel")
    if wc != c:
        raise ValueError(f"conv2d: weight {weight.shape} expects {wc} input channels, got {c} (input shape {x.shape})")
    if bias is not None and bias.shape != (o,):
        raise ValueError(f"conv2d: bias must have shape ({o},), got {bias.shape}")
    check_dtypes("conv2d", *parents)
    st, pd = pair(stride, "conv2d stride", 1), pair(padding, "conv2d padding", 0)
    ho, wo = output_size("conv2d", (h, w), (kh, kw), st, pd)
    xp, k = x.xp, c * kh * kw
    hp, wp = h + 2 * pd[0], w + 2 * pd[1]
    xpad = channels_last(x.data, (hp, wp), pd)  # (N, Hp, Wp, C)
    wk = weight.data.transpose(2, 3, 1, 0).reshape(k, o)  # (kh*kw*C, O), rows in patch order
    dx_cols = h * w * kh * kw * o if x.requires_grad else 0
    sample_bytes = max(ho * wo * k, dx_cols) * x.dtype.itemsize  # the columns of the forward GEMM and of dx's
    chunks = batch_chunks(n, sample_bytes, x.device)

    def columns(b: slice) -> Array:
        """im2col of one batch chunk: (m*Ho*Wo, kh*kw*C), one copy out of the strided patch view. With one input
        channel a patch row is only kw values long, so the matrix is copied transposed (runs of Wo values along
        image rows) and handed to BLAS as a transposed view."""
        view = patches(xpad[b], (kh, kw), st, (ho, wo))
        if c == 1 and st[1] == 1:
            return view.transpose(3, 4, 5, 0, 1, 2).reshape(k, -1).T
        return view.reshape(len(view) * ho * wo, k)  # not -1: k or the batch may be 0

    out = xp.empty((n, o, ho, wo), dtype=x.dtype)
    for b in chunks:
        y = columns(b) @ wk  # (m*Ho*Wo, O): one GEMM per chunk
        if bias is not None:
            y += bias.data
        out[b] = y.reshape(b.stop - b.start, ho, wo, o).transpose(0, 3, 1, 2)

    def backward(g: Array) -> tuple[Array | None, ...]:
        g_nhwc = g.transpose(0, 2, 3, 1)
        gw = xp.zeros((k, o), dtype=g.dtype) if weight.requires_grad else None
        gx = xp.empty(x.shape, dtype=g.dtype) if x.requires_grad else None
        if gx is not None:
            # dx is the correlation of g, dilated by the stride and padded by k-1, with the flipped kernel:
            # gfull[kh-1 + oh*sh, kw-1 + ow*sw] = g[oh, ow]; only the rows/columns that reach the unpadded input
            # (offset by the padding) are kept, so the GEMM produces exactly dx.
            gfull = channels_last(g, (hp + kh - 1, wp + kw - 1), (kh - 1, kw - 1), st)
            gfull = gfull[:, pd[0]:pd[0] + h + kh - 1, pd[1]:pd[1] + w + kw - 1]
            wflip = weight.data[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(kh * kw * o, c)
        exact = gx is not None and not bool(xp.isfinite(weight.data).all())
        for b in chunks:
            m = b.stop - b.start  # sizes spelled out: with 0 channels a -1 would be ambiguous
            g2 = g_nhwc[b].reshape(m * ho * wo, o)
            if gw is not None:
                gw += columns(b).T @ g2  # the columns are rebuilt, not kept
            if exact:  # a nan/inf weight: the zeros of gfull would spread it (0 * inf), so scatter instead
                gx[b] = scatter_columns(g2 @ wk.T, x.shape, (kh, kw), st, pd, (ho, wo))
            elif gx is not None:
                gcols = patches(gfull[b], (kh, kw), (1, 1), (h, w)).reshape(m * h * w, kh * kw * o)
                gx[b] = (gcols @ wflip).reshape(m, h, w, c).transpose(0, 3, 1, 2)
        grads = (gx, None if gw is None else xp.ascontiguousarray(gw.reshape(kh, kw, c, o).transpose(3, 2, 0, 1)))
        if bias is None:
            return grads
        return (*grads, g.sum(axis=(0, 2, 3)) if bias.requires_grad else None)
    return record("conv2d", out, parents, backward)
