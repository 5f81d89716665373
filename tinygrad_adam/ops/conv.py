"""2-D convolution on NCHW input: im2col on a channels-last copy, then one GEMM per batch chunk.

Forward: the input is copied once into a zero-padded NHWC array, viewed (no copy) as patches
(N, Ho, Wo, kh, kw, C), and each batch chunk's patches are copied into the column matrix
(m*Ho*Wo, kh*kw*C) and multiplied by the weight matrix (kh*kw*C, O). Channels-last makes each
patch row a few long contiguous runs (kw*C values), so the copy runs near memory speed.
With one input channel the columns are copied transposed (a patch row would be kw values), and
with short patches (few channels) the GEMM writes (O, N*Ho*Wo), whose move into NCHW is runs of
Ho*Wo rather than a transposition element by element.
Backward: ``dW = g @ cols`` with g read as (O, N*Ho*Wo), in runs again; ``dx`` is itself a
convolution, of the output gradient (dilated by the stride, padded by k-1) with the flipped
kernel, so it is one more im2col + GEMM rather than a scatter of column gradients, except when
the input has few channels against the output's: then the scatter (col2im) moves fewer bytes.
The batch is cut into chunks whose columns fit in ``CHUNK_BYTES`` (one chunk for small batches),
so the columns stay in cache between the copy and the GEMM; backward rebuilds them instead of
keeping them. Dilation only spaces the kernel offsets of the patch view; ``groups`` runs the
same on each group's slice of channels, one GEMM per group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral

import numpy

from .. import backend
from ..layouts import follow_format
from ..tensor import Array, Tensor, check_devices, record
from .elementwise import wide_sum
from .factor import ArgumentError
from .linear import check_dtypes
from .reduce import opmath, rounded

IntPair = int | tuple[int, int]


def ints(value: int | Sequence[int], name: str, minimum: int, count: int = 2, one: bool = False) -> tuple[int, ...]:
    """An int or ``count`` ints as a ``count``-tuple (one size per spatial dim), each at least ``minimum``; a
    ValueError naming ``name`` otherwise (an ArgumentError: a RuntimeError too, as torch's). ``one``: a 1-tuple
    stands for all dims too (torch's conv / pool functions take one)."""
    p = (value,) * count if isinstance(value, Integral) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if one and len(p) == 1:
        p *= count
    if len(p) != count or not all(isinstance(v, Integral) and v >= minimum for v in p):
        kind = {1: "a 1-tuple", 2: "a pair", 3: "a triple"}.get(count, f"a {count}-tuple")
        raise ArgumentError(f"{name} must be an int or {kind} of ints >= {minimum}, got {value!r}")
    return tuple(int(v) for v in p)


def pair(value: IntPair, name: str, minimum: int, one: bool = False) -> tuple[int, int]:
    """An int or a pair of ints as a pair, each at least ``minimum``; a ValueError naming ``name`` otherwise
    (``one``: as ``ints``)."""
    h, w = ints(value, name, minimum, 2, one)
    return h, w


def single(value: int | tuple[int], name: str, minimum: int) -> int:
    """An int or a 1-tuple of ints (a 1-D op's size), at least ``minimum``; a ValueError naming ``name`` otherwise."""
    v = value[0] if isinstance(value, (tuple, list)) and len(value) == 1 else value
    if not isinstance(v, Integral) or v < minimum:
        raise ArgumentError(f"{name} must be an int or a 1-tuple of ints >= {minimum}, got {value!r}")
    return int(v)


def output_size(op: str, size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
                padding: tuple[int, ...]) -> tuple[int, ...]:
    """Per spatial dim (e.g. (Ho, Wo)), floor((H + 2p - k) / s) + 1; an ArgumentError (a ValueError and, as torch's,
    a RuntimeError) when the kernel is larger than the padded input."""
    padded = tuple(n + 2 * p for n, p in zip(size, padding))
    if any(k > n for k, n in zip(kernel, padded)):
        raise ArgumentError(f"{op}: kernel size {kernel} is larger than the padded input {padded} "
                            f"(input {size}, padding {padding})")
    return tuple((n - k) // s + 1 for n, k, s in zip(padded, kernel, stride))


def pad_spatial(x: Array, padding: tuple[int, int], value: float = 0.0, extra: tuple[int, int] = (0, 0)) -> Array:
    """``x`` (..., H, W) with ``padding`` rows/columns of ``value`` on each side, and ``extra`` more at the bottom /
    right (``x`` itself when there is none)."""
    ph, pw = padding
    if ph == 0 and pw == 0 and extra == (0, 0):
        return x
    xp = backend.get_array_module(x)
    out = xp.full(x.shape[:-2] + (x.shape[-2] + 2 * ph + extra[0], x.shape[-1] + 2 * pw + extra[1]), value,
                  dtype=x.dtype)
    out[..., ph:ph + x.shape[-2], pw:pw + x.shape[-1]] = x
    return out


def windows(xpad: Array, kernel: tuple[int, int], stride: tuple[int, int], out: tuple[int, int],
            dilation: tuple[int, int] = (1, 1)) -> Array:
    """A strided view (no copy) of padded NCHW input as (kh, kw, N, C, Ho, Wo): element [i, j, ..., h, w] is
    ``xpad[..., h * sh + i * dh, w * sw + j * dw]``."""
    sn, sc, sh, sw = xpad.strides
    shape = (kernel[0], kernel[1], xpad.shape[0], xpad.shape[1], out[0], out[1])
    strides = (sh * dilation[0], sw * dilation[1], sn, sc, sh * stride[0], sw * stride[1])
    return backend.get_array_module(xpad).lib.stride_tricks.as_strided(xpad, shape=shape, strides=strides)


def add_windows(cols: Array, padded: tuple[int, int], stride: tuple[int, int],
                dilation: tuple[int, int] = (1, 1)) -> Array:
    """The adjoint of ``windows``: window values (kh, kw, N, C, Ho, Wo) added back onto the padded input positions
    they were read from -> (N, C, Hp, Wp); overlapping windows accumulate. One strided add per kernel offset."""
    kh, kw, n, c, ho, wo = cols.shape
    gpad = backend.get_array_module(cols).zeros((n, c, *padded), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            gpad[:, :, i * dilation[0]:i * dilation[0] + stride[0] * (ho - 1) + 1:stride[0],
                 j * dilation[1]:j * dilation[1] + stride[1] * (wo - 1) + 1:stride[1]] += cols[i, j]
    return gpad


def patches(xpad: Array, kernel: tuple[int, int], stride: tuple[int, int], out: tuple[int, int],
            dilation: tuple[int, int] = (1, 1)) -> Array:
    """A strided view (no copy) of padded NHWC input as (N, Ho, Wo, kh, kw, C): element [n, h, w, i, j, c] is
    ``xpad[n, h * sh + i * dh, w * sw + j * dw, c]``. Reshaped to (N*Ho*Wo, kh*kw*C) it is the im2col matrix; each
    row copies in runs of kw*C contiguous values (whole pixels, when dw = 1), which is why the layout is
    channels-last."""
    sn, sh, sw, sc = xpad.strides
    shape = (xpad.shape[0], out[0], out[1], kernel[0], kernel[1], xpad.shape[3])
    strides = (sn, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1], sc)
    return backend.get_array_module(xpad).lib.stride_tricks.as_strided(xpad, shape=shape, strides=strides)


def channels_last(x: Array, size: tuple[int, int], offset: tuple[int, int], step: tuple[int, int] = (1, 1)) -> Array:
    """NCHW ``x`` copied into a zero NHWC array of spatial ``size``, pixel (h, w) landing at
    (offset[0] + h * step[0], offset[1] + w * step[1]): padding (and, for step > 1, dilation) in one copy."""
    n, c, h, w = x.shape
    out = backend.get_array_module(x).zeros((n, size[0], size[1], c), dtype=x.dtype)
    out[:, offset[0]:offset[0] + (h - 1) * step[0] + 1:step[0], offset[1]:offset[1] + (w - 1) * step[1] + 1:step[1]] \
        = x.transpose(0, 2, 3, 1)
    return out

# Bytes of column matrix per GEMM: on the CPU about a cache's worth, so the columns are still cached when
# BLAS reads them and the temporaries are reused from the heap rather than freshly mapped each call.
CHUNK_BYTES = {"cpu": 4 << 20, "cuda": 512 << 20}
# Patch length (kh*kw*C) up to which the forward GEMM writes (O, N*Ho*Wo) rather than (N*Ho*Wo, O): short patches
# make a cheap GEMM, and moving its output into NCHW in runs of Ho*Wo then saves more than BLAS loses (measured).
SHORT_PATCH = 128


def batch_chunks(part: slice, sample_bytes: int, device: str) -> list[slice]:
    """Consecutive slices of the batch ``part`` whose columns fit ``CHUNK_BYTES`` (at least one sample each)."""
    step = max(1, CHUNK_BYTES[device.split(":")[0]] // max(sample_bytes, 1))
    return [slice(s, min(s + step, part.stop)) for s in range(part.start, part.stop, step)]


def batch_parts(n: int, sample_bytes: int, device: str) -> list[slice]:
    """The batch of ``n`` cut into one consecutive part per core for CPU work of at least ``backend.SPLIT_BYTES`` of
    columns, when each core's thread can run BLAS on its own (``backend.blas_per_thread``); else the whole batch.
    OpenBLAS's own threads then stay idle: on a 2-core machine, a process in which its idle thread kept spinning
    beside our im2col copies ran whole convolutions at half speed (README's speed section)."""
    on_cpu = device == "cpu" and backend.blas_per_thread()
    workers = max(1, min(backend.cpu_threads(), n, n * sample_bytes // backend.SPLIT_BYTES) if on_cpu else 1)
    return [slice(n * w // workers, n * (w + 1) // workers) for w in range(workers)]


def per_core(work: Callable[[slice, int], None], parts: list[slice]) -> None:
    """``work(part, i)`` for the i-th of ``parts`` (``batch_parts``), all at once, each with BLAS on its own thread."""
    backend.in_parallel(lambda i: work(parts[i], i), len(parts), own_blas=True)


def columns(xpad: Array, kernel: tuple[int, int], stride: tuple[int, int], out: tuple[int, int],
            dilation: tuple[int, int] = (1, 1)) -> Array:
    """im2col of padded NHWC input (m, Hp, Wp, C) -> (m*Ho*Wo, kh*kw*C), one copy out of the strided patch view.
    With one input channel a patch row is only kw values long, so the matrix is copied transposed (runs of Wo
    values along image rows) and handed to BLAS as a transposed view."""
    view = patches(xpad, kernel, stride, out, dilation)
    k = kernel[0] * kernel[1] * xpad.shape[3]
    if xpad.shape[3] == 1 and stride[1] == 1:
        return view.transpose(3, 4, 5, 0, 1, 2).reshape(k, -1).T
    return view.reshape(len(view) * out[0] * out[1], k)  # not -1: k or the batch may be 0


def channel_rows(a: Array) -> Array:
    """(m, C, H, W) -> (C, m*H*W): each channel's values in one row, copied in runs of H*W (the layout the GEMMs of
    the weight gradient and of col2im read an output gradient in)."""
    m, c, h, w = a.shape
    return a.transpose(1, 0, 2, 3).reshape(c, m * h * w)


def span(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """The rows and columns (per spatial dim) a dilated kernel covers: d * (k - 1) + 1."""
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))


def group_slices(channels: int, groups: int) -> list[slice]:
    """The ``groups`` equal consecutive slices of ``channels``."""
    size = channels // groups
    return [slice(i * size, (i + 1) * size) for i in range(groups)]


def correlate(x: Array, weight: Array, bias: Array | None, stride: tuple[int, int], padding: tuple[int, int],
              dilation: tuple[int, int] = (1, 1), groups: int = 1) -> tuple[Array, Array]:
    """conv2d on arrays: x (N, C, H, W) correlated with weight (O, C / groups, kh, kw) plus bias (O,) ->
    (N, O, Ho, Wo), one GEMM per batch chunk and group (group i: input channels and outputs in its i-th slice);
    also the padded NHWC copy of x (N, Hp, Wp, C) that the weight gradient reads. float16 computes in float32 and
    rounds once, the bias added before (as torch's; rounding the products first put a third of the outputs an ulp
    off)."""
    if x.dtype == numpy.float16:
        f32 = numpy.float32
        out, xpad = correlate(x.astype(f32), weight.astype(f32), None if bias is None else bias.astype(f32), stride,
                              padding, dilation, groups)
        return out.astype(x.dtype), xpad.astype(x.dtype)
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    ho, wo = output_size("conv2d", (h, w), span((kh, kw), dilation), stride, padding)
    xpad = channels_last(x, (h + 2 * padding[0], w + 2 * padding[1]), padding)
    out = backend.get_array_module(x).empty((n, o, ho, wo), dtype=x.dtype)
    sample, device = ho * wo * kh * kw * cg * x.dtype.itemsize, backend.device_of(x)
    groups_of = [(cs, os, weight[os].transpose(2, 3, 1, 0).reshape(kh * kw * cg, os.stop - os.start))
                 for cs, os in zip(group_slices(c, groups), group_slices(o, groups))]  # weight rows in patch order

    def work(part: slice, _: int) -> None:
        for cs, os, wk in groups_of:
            xg = xpad if groups == 1 else xpad[..., cs]
            for b in batch_chunks(part, sample, device):
                cols, m = columns(xg[b], (kh, kw), stride, (ho, wo), dilation), b.stop - b.start
                if kh * kw * cg <= SHORT_PATCH:  # (O, m*Ho*Wo): moved into out in runs of Ho*Wo
                    y = (wk.T @ cols.T).reshape(os.stop - os.start, m, ho, wo).transpose(1, 0, 2, 3)
                else:  # (m*Ho*Wo, O): BLAS is faster this way round for long patches
                    y = (cols @ wk).reshape(m, ho, wo, os.stop - os.start).transpose(0, 3, 1, 2)
                if bias is not None:
                    y += bias[os, None, None]
                out[b, os] = y
    per_core(work, batch_parts(n, sample * groups, device))
    return out, xpad


def weight_gradient(xpad: Array, g: Array, kernel: tuple[int, int], stride: tuple[int, int],
                    dilation: tuple[int, int] = (1, 1), groups: int = 1) -> Array:
    """conv2d's weight gradient from the padded NHWC input (N, Hp, Wp, C) and the output gradient g (N, O, Ho, Wo)
    -> (O, C / groups, kh, kw): ``g @ columns`` per group, g as (O, m*Ho*Wo) (``channel_rows``), summed over batch
    chunks, the columns rebuilt rather than kept. Split over the cores (``batch_parts``), each core sums its own
    part's chunks in order and the parts are added in order: the same sum on every run with the same thread count.
    float16 sums in float32 and rounds once, as torch's."""
    if g.dtype == numpy.float16:
        return weight_gradient(xpad.astype(numpy.float32), g.astype(numpy.float32), kernel, stride, dilation,
                               groups).astype(numpy.float16)
    n, o, ho, wo = g.shape
    cg = xpad.shape[3] // groups
    k = kernel[0] * kernel[1] * cg
    xp, sample, device = backend.get_array_module(g), ho * wo * k * g.dtype.itemsize, backend.device_of(g)
    parts = batch_parts(n, sample * groups, device)
    sums = [xp.zeros((o, k), dtype=g.dtype) for _ in parts]  # columns in patch order

    def work(part: slice, i: int) -> None:
        for cs, os in zip(group_slices(xpad.shape[3], groups), group_slices(o, groups)):
            xg = xpad if groups == 1 else xpad[..., cs]
            for b in batch_chunks(part, sample, device):
                sums[i][os] += channel_rows(g[b, os]) @ columns(xg[b], kernel, stride, (ho, wo), dilation)
    per_core(work, parts)
    gw = sums[0]
    for more in sums[1:]:
        gw += more
    return xp.ascontiguousarray(gw.reshape(o, *kernel, cg).transpose(0, 3, 1, 2))


def input_gradient(g: Array, weight: Array, shape: tuple[int, ...], stride: tuple[int, int],
                   padding: tuple[int, int], dilation: tuple[int, int] = (1, 1), groups: int = 1) -> Array:
    """conv2d's input gradient: output gradient g (N, O, Ho, Wo) and weight (O, C / groups, kh, kw) -> (N, C, H, W)
    of the input ``shape`` (also conv_transpose2d's forward), group by group (``group_input_gradient``). float16
    computes in float32 and rounds once, as torch's (col2im's kernel offsets added in float16 were up to 114 units
    off)."""
    if g.dtype == numpy.float16:
        return input_gradient(g.astype(numpy.float32), weight.astype(numpy.float32), shape, stride, padding, dilation,
                              groups).astype(numpy.float16)
    if groups == 1:
        return group_input_gradient(g, weight, shape, stride, padding, dilation)
    gx = backend.get_array_module(g).empty(shape, dtype=g.dtype)
    for cs, os in zip(group_slices(shape[1], groups), group_slices(g.shape[1], groups)):
        gx[:, cs] = group_input_gradient(g[:, os], weight[os], (shape[0], cs.stop - cs.start, *shape[2:]), stride,
                                         padding, dilation)
    return gx


def group_input_gradient(g: Array, weight: Array, shape: tuple[int, ...], stride: tuple[int, int],
                         padding: tuple[int, int], dilation: tuple[int, int]) -> Array:
    """``input_gradient`` of one group, by whichever of two routes moves fewer bytes. (1) The correlation of g,
    dilated by the stride and padded by the kernel's span - 1, with the flipped kernel: gfull[d(kh-1) + oh*sh,
    d(kw-1) + ow*sw] = g[oh, ow], cropped to the rows and columns that reach the unpadded input, so one im2col +
    GEMM per batch chunk gives exactly dx; its columns are kh*kw*O wide per input pixel. (2) col2im: the column
    gradients W^T g (kh*kw*C per output pixel) added back onto the input by kernel offset, cheaper when C is small
    against O (a first layer's one or three channels). A nan/inf weight would be spread by the zeros of gfull
    (0 * inf), so then it is always (2)."""
    n, c, h, w = shape
    o, _, kh, kw = weight.shape
    ho, wo = g.shape[2:]
    sh, sw = span((kh, kw), dilation)
    xp, device = backend.get_array_module(g), backend.device_of(g)
    gx = xp.empty(shape, dtype=g.dtype)
    if o + 3 * kh * kw * c < kh * kw * o or not bool(xp.isfinite(weight).all()):
        wk, sample = weight.transpose(2, 3, 1, 0).reshape(kh * kw * c, o), ho * wo * kh * kw * c * g.dtype.itemsize

        def scatter(part: slice, _: int) -> None:
            for b in batch_chunks(part, sample, device):
                m = b.stop - b.start
                cols = wk @ channel_rows(g[b])  # (kh*kw*C, m*Ho*Wo)
                gpad = add_windows(cols.reshape(kh, kw, c, m, ho, wo).transpose(0, 1, 3, 2, 4, 5),
                                   (h + 2 * padding[0], w + 2 * padding[1]), stride, dilation)
                gx[b] = gpad[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w]
        per_core(scatter, batch_parts(n, sample, device))
        return gx
    gfull = channels_last(g, (h + 2 * padding[0] + sh - 1, w + 2 * padding[1] + sw - 1), (sh - 1, sw - 1), stride)
    gfull = gfull[:, padding[0]:padding[0] + h + sh - 1, padding[1]:padding[1] + w + sw - 1]
    wflip = weight[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(kh * kw * o, c)
    sample = h * w * kh * kw * o * g.dtype.itemsize

    def correlate_flipped(part: slice, _: int) -> None:
        for b in batch_chunks(part, sample, device):
            m = b.stop - b.start  # sizes spelled out: with 0 channels a -1 would be ambiguous
            gcols = patches(gfull[b], (kh, kw), (1, 1), (h, w), dilation).reshape(m * h * w, kh * kw * o)
            gx[b] = (gcols @ wflip).reshape(m, h, w, c).transpose(0, 3, 1, 2)
    per_core(correlate_flipped, batch_parts(n, sample, device))
    return gx


def check_conv(op: str, x: Tensor, weight: Tensor, bias: Tensor | None, transposed: bool, groups: int = 1,
               dims: int = 2) -> None:
    """A clear error unless x (N, C, H, W), weight ((O, C / groups, kh, kw), or (C, O / groups, kh, kw) when
    ``transposed``) and bias (O,) fit together, share a device and a dtype, and have channels (only the batch may
    be empty), and both C and O split into ``groups``; with ``dims=3``, x (N, C, D, H, W) and a kd x kh x kw
    kernel."""
    parents = (x, weight) if bias is None else (x, weight, bias)
    check_devices(op, *parents)
    layout = "in_channels, out_channels / groups" if transposed else "out_channels, in_channels / groups"
    layout = f"({layout}, {', '.join(f'k{a}' for a in 'dhw'[-dims:])})"
    if x.ndim != dims + 2:
        raise ArgumentError(f"{op}: expected {dims + 2}-D input (N, C, {', '.join('DHW'[-dims:])}), got shape "
                            f"{x.shape}")
    if weight.ndim != dims + 2:
        raise ArgumentError(f"{op}: expected {dims + 2}-D weight {layout}, got shape {weight.shape}")
    if not isinstance(groups, Integral) or groups < 1:
        raise ArgumentError(f"{op}: groups must be a positive int, got {groups!r}")
    wc, o = (weight.shape[0], weight.shape[1] * groups) if transposed else (weight.shape[1] * groups, weight.shape[0])
    if 0 in x.shape[2:] and x.shape[0] > 0:  # as torch: only an empty batch may have one
        raise ArgumentError(f"{op}: input {x.shape} has an empty spatial dimension (only an empty batch may have one)")
    if x.shape[1] == 0 or o == 0:  # torch raises for 0 output channels
        raise ArgumentError(f"{op}: zero channels (input {x.shape}, weight {weight.shape}); a convolution needs at "
                            f"least one input and one output channel")
    if (o if not transposed else wc) % groups:
        raise ArgumentError(f"{op}: weight {weight.shape} {layout}: its {'in' if transposed else 'out'}_channels"
                            f" ({weight.shape[0]}) must be divisible by groups={groups}")
    if wc != x.shape[1]:
        raise ArgumentError(f"{op}: weight {weight.shape} {layout} with groups={groups} expects {wc} input "
                            f"channels, got {x.shape[1]} (input shape {x.shape})")
    if bias is not None and bias.shape != (o,):
        raise ArgumentError(f"{op}: bias must have shape ({o},), got {bias.shape}")
    check_dtypes(op, *parents)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1, padding: IntPair = 0,
           dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """Cross-correlation of x (N, C, H, W) with weight (O, C / groups, kh, kw) plus bias (O,) -> (N, O, Ho, Wo),
    Ho = (H + 2 ph - dh (kh - 1) - 1) // sh + 1; with ``groups`` g, output channels i*O/g.. see only input channels
    i*C/g.. ."""
    check_conv("conv2d", x, weight, bias, transposed=False, groups=groups)
    st, pd = pair(stride, "conv2d stride", 1), pair(padding, "conv2d padding", 0)
    dl = pair(dilation, "conv2d dilation", 1)
    out, xpad = correlate(x._data, weight._data, None if bias is None else bias._data, st, pd, dl, groups)
    out = follow_format(out, x, weight)  # (channels-last in, channels-last out, as torch)

    def backward(g: Array) -> tuple[Array | None, ...]:
        gx = input_gradient(g, weight._data, x.shape, st, pd, dl, groups) if x.requires_grad else None
        gw = weight_gradient(xpad, g, weight.shape[2:], st, dl, groups) if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, wide_sum(g, (0, 2, 3)) if bias.requires_grad else None
    return record("conv2d", out, (x, weight) if bias is None else (x, weight, bias), backward)


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,
                     padding: IntPair = 0, output_padding: IntPair = 0, groups: int = 1,
                     dilation: IntPair = 1) -> Tensor:
    """The transpose (adjoint) of conv2d: x (N, C, H, W) with weight (C, O / groups, kh, kw) plus bias (O,) ->
    (N, O, Ho, Wo), Ho = (H - 1) sh - 2 ph + dh (kh - 1) + output_padding + 1. Its forward is conv2d's input
    gradient, its input gradient conv2d's forward and its weight gradient conv2d's, with input and output swapped."""
    check_conv("conv_transpose2d", x, weight, bias, transposed=True, groups=groups)
    st, pd = pair(stride, "conv_transpose2d stride", 1, True), pair(padding, "conv_transpose2d padding", 0, True)
    op = pair(output_padding, "conv_transpose2d output_padding", 0, True)
    dl = pair(dilation, "conv_transpose2d dilation", 1, True)
    if any(p >= max(s, d) for p, s, d in zip(op, st, dl)):
        raise ArgumentError(f"conv_transpose2d: output_padding {op} must be smaller than the stride {st} or the "
                            f"dilation {dl}")
    n, _, h, w = x.shape
    kh, kw = weight.shape[2:]
    sh, sw = span((kh, kw), dl)
    size = ((h - 1) * st[0] - 2 * pd[0] + sh + op[0], (w - 1) * st[1] - 2 * pd[1] + sw + op[1])
    if size[0] < 1 or size[1] < 1:
        raise ArgumentError(f"conv_transpose2d: input size {(h, w)} gives output size {size}, which is too small "
                            f"(padding {pd} trims more than the kernel {(kh, kw)} adds); use less padding")
    (xd, half), wd = opmath(x._data), opmath(weight._data)[0]  # float16: the bias added in float32 too, then one
    out = input_gradient(xd, wd, (n, weight.shape[1] * groups, *size), st, pd, dl, groups)  # rounding (as torch's)
    if bias is not None:
        out += opmath(bias._data)[0][:, None, None]
    out = follow_format(rounded(out, half), x, weight)

    def backward(g: Array) -> tuple[Array | None, ...]:
        # conv2d of g with the same weight: its output is dx (cropped: an output_padding of the dilation's may
        # give one more row or column), and with x as its output gradient, dW
        gx, gpad = (correlate(g, weight._data, None, st, pd, dl, groups) if x.requires_grad
                    else (None, channels_last(g, (size[0] + 2 * pd[0], size[1] + 2 * pd[1]), pd)))
        if gx is not None and gx.shape != x.shape:
            gx = gx[:, :, :h, :w]
        gw = weight_gradient(gpad, x._data, (kh, kw), st, dl, groups) if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, wide_sum(g, (0, 2, 3)) if bias.requires_grad else None
    return record("conv_transpose2d", out, (x, weight) if bias is None else (x, weight, bias), backward)


Blocks = tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]


def sliding_blocks(op: str, size: tuple[int, int], kernel_size: IntPair, dilation: IntPair, padding: IntPair,
                   stride: IntPair) -> Blocks:
    """Checked (kernel, dilation, padding, stride, (Ho, Wo)) of unfold/fold over an image of ``size``: a
    ValueError naming ``op`` when an argument is not an int or pair, or no whole block fits."""
    k, d = pair(kernel_size, f"{op} kernel_size", 1), pair(dilation, f"{op} dilation", 1)
    p, s = pair(padding, f"{op} padding", 0), pair(stride, f"{op} stride", 1)
    span = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
    return k, d, p, s, output_size(op, size, span, s, p)


def im2col(x: Array, blocks: Blocks) -> Array:
    """The sliding blocks of x (N, C, H, W) as columns (N, C*kh*kw, Ho*Wo), one copy out of the strided view."""
    k, d, p, s, out = blocks
    cols = backend.get_array_module(x).empty((x.shape[0], x.shape[1], *k, *out), dtype=x.dtype)
    cols[...] = windows(pad_spatial(x, p), k, s, out, d).transpose(2, 3, 0, 1, 4, 5)
    return cols.reshape(x.shape[0], x.shape[1] * k[0] * k[1], out[0] * out[1])


def col2im(cols: Array, size: tuple[int, int], blocks: Blocks) -> Array:
    """The adjoint of ``im2col``: columns (N, C*kh*kw, Ho*Wo) summed onto the image positions they came from ->
    (N, C, H, W); positions in the padding are dropped."""
    k, d, p, s, out = blocks
    n, c = cols.shape[0], cols.shape[1] // (k[0] * k[1])
    view = cols.reshape(n, c, *k, *out).transpose(2, 3, 0, 1, 4, 5)
    gpad = add_windows(view, (size[0] + 2 * p[0], size[1] + 2 * p[1]), s, d)
    return backend.get_array_module(cols).ascontiguousarray(gpad[:, :, p[0]:p[0] + size[0], p[1]:p[1] + size[1]])


def check_blocks_input(op: str, x: Tensor, ndim: int, layout: str) -> None:
    """torch's checks of unfold/fold input: ``ndim`` dims, only the batch may be empty, a floating or bool dtype
    (torch's CPU kernels take bool too; fold's overlaps then combine with or)."""
    if x.ndim != ndim or 0 in x.shape[1:]:
        raise ArgumentError(f"{op}: expected a {ndim}-D input {layout} with only the batch possibly empty, got shape "
                            f"{x.shape}")
    if x.dtype.kind not in "fb":
        raise TypeError(f"{op}: not implemented for dtype {x.dtype} (as in torch); convert first, e.g. x.float()")


def unfold(x: Tensor, kernel_size: IntPair, dilation: IntPair = 1, padding: IntPair = 0, stride: IntPair = 1) -> Tensor:
    """torch's im2col: the kh x kw sliding blocks of x (N, C, H, W) as columns -> (N, C*kh*kw, L), L = Ho*Wo;
    row c*kh*kw + i*kw + j of column oh*Wo + ow is x[c, oh*sh + i*dh - ph, ow*sw + j*dw - pw] (0 in the padding)."""
    check_blocks_input("unfold", x, 4, "(N, C, H, W)")
    size = x.shape[2:]
    blocks = sliding_blocks("unfold", size, kernel_size, dilation, padding, stride)
    return record("unfold", im2col(x._data, blocks), (x,), lambda g: (col2im(g, size, blocks),))


def fold(x: Tensor, output_size: IntPair, kernel_size: IntPair, dilation: IntPair = 1, padding: IntPair = 0,
         stride: IntPair = 1) -> Tensor:
    """torch's col2im, the adjoint of ``unfold``: columns x (N, C*kh*kw, L) summed into an image (N, C, H, W) of
    ``output_size`` (H, W); overlapping blocks add up. L must be the number of blocks, Ho*Wo."""
    check_blocks_input("fold", x, 3, "(N, C*kh*kw, L)")
    size = pair(output_size, "fold output_size", 1)
    blocks = sliding_blocks("fold", size, kernel_size, dilation, padding, stride)
    k, out = blocks[0], blocks[-1]
    if x.shape[1] % (k[0] * k[1]):
        raise ArgumentError(f"fold: input's dimension 1 ({x.shape[1]}) must be divisible by the kernel's size "
                            f"{k[0]} * {k[1]} (input shape {x.shape})")
    if x.shape[2] != out[0] * out[1]:
        raise ArgumentError(f"fold: input's dimension 2 must be the number of sliding blocks, {out[0]} * {out[1]} = "
                            f"{out[0] * out[1]}, for output_size {size}, got {x.shape[2]} (input shape {x.shape})")
    return record("fold", col2im(x._data, size, blocks), (x,), lambda g: (im2col(g, blocks),))
