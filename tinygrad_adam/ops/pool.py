"""2-D max and average pooling on NCHW input, vectorised over everything but the kh*kw kernel offsets.

Forward copies the strided window view once into (kh*kw, N, C, Ho, Wo), takes the max over the
first axis and keeps, per output, the offset of the element PyTorch picks: the first maximal one, the last
NaN of a window with NaNs, the first element inside the image of an all -inf window.
Backward turns those offsets into flat input positions and scatter-adds the output gradient there
(overlapping windows may pick the same element, so the adds accumulate). On the CPU both passes of a large
input run on batch slices, one per core (numpy's copies and ufuncs release the GIL), each slice in pieces of
about ``PIECE_BYTES`` of window copies. Measured with numpy 2.4 on the
paper's 3x3/2 pool, this beats walking the kernel offsets with strided views (masked copies and adds on
stride-2 views run 2-4x slower than the one gather and ``numpy.add.at``'s indexed loop).
"""

from __future__ import annotations

from typing import Any

import numpy

from .. import backend
from ..layouts import follow_format
from ..tensor import Array, Tensor, record
from .conv import IntPair, add_windows, ints, output_size, pad_spatial, pair, span, windows
from .elementwise import wide_sum
from .factor import ArgumentError

Window = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]
# Bytes of window copies per piece of the batch in max_pool2d: a large input goes through in pieces, so the copies,
# the index arrays of backward and the passes over them stay in cache and come from the heap rather than fresh pages
# (forward + backward, interleaved: CIFAR's first pool, 128x64x32x32, 54-67 -> 37-42 ms; 32x64x56x56 44-51 -> 25-32).
PIECE_BYTES = 4 << 20


def pool_window(op: str, x: Tensor, kernel_size: IntPair, stride: IntPair | None, padding: IntPair,
                ceil_mode: bool = False, dilation: tuple[int, ...] | None = None, dims: int = 2) -> Window:
    """Checked (kernel, stride, padding, output size, extra) of a 2-D pool of x (N, C, H, W) (of a 3-D one of
    x (N, C, D, H, W) with ``dims=3``: triples); ``stride`` (None or empty) defaults to the kernel size, and the
    padding may be at most half the kernel, as in PyTorch. A ``dilation`` d spaces the kernel's elements, so a window
    spans d (k - 1) + 1. ``ceil_mode``: torch's rounding up, which keeps a last window that starts inside the input
    or its left / top padding; ``extra`` is how far the last windows reach past the padded input (0 without
    ceil_mode)."""
    if x.ndim != dims + 2:
        raise ArgumentError(f"{op}: expected {dims + 2}-D input (N, C, {', '.join('DHW'[-dims:])}), got shape "
                            f"{x.shape}")
    k = ints(kernel_size, f"{op} kernel_size", 1, dims, True)
    st = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else ints(  # ([]: torch's default)
        stride, f"{op} stride", 1, dims, True)
    pd = ints(padding, f"{op} padding", 0, dims, True)
    if any(p > q // 2 for p, q in zip(pd, k)):
        raise ArgumentError(f"{op}: padding {pd} must be at most half the kernel size {k}")
    if 0 in x.shape[1:]:  # as torch, which accepts only an empty batch
        raise ArgumentError(f"{op}: input {x.shape} has an empty channel or spatial dimension (only the batch may be "
                            f"empty)")
    spans = span(k, dilation or (1,) * dims)
    if ceil_mode:  # torch's rounding up: windows may reach past the padded input if the last starts in it
        out = tuple((n + 2 * p - q + s - 1) // s + 1 for n, p, q, s in zip(x.shape[2:], pd, spans, st))
        out = tuple(o - 1 if (o - 1) * s >= n + p else o for o, n, p, s in zip(out, x.shape[2:], pd, st))
        if any(o < 1 for o in out):
            raise ArgumentError(f"{op}: kernel size {spans} is larger than the padded input {x.shape[2:]} with padding "
                                f"{pd}, even with ceil_mode: the output would be {out}")
    else:
        out = output_size(op, x.shape[2:], spans, st, pd)
    extra = tuple(max(0, (o - 1) * s + q - (n + 2 * p)) for o, s, q, n, p in zip(out, st, spans, x.shape[2:], pd))
    return k, st, pd, out, extra


def max_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               ceil_mode: bool = False, return_indices: bool = False,
               dilation: IntPair = 1) -> Tensor | tuple[Tensor, Tensor]:
    """Max over kh x kw windows of x (N, C, H, W) -> (N, C, Ho, Wo); ``stride`` defaults to the kernel size, and a
    ``dilation`` d takes every d-th element (a window spans d (k - 1) + 1).

    Padding is with -inf and may be at most half the kernel, as in PyTorch; with ``ceil_mode`` the last, partial
    windows run into more of it. ``return_indices`` also returns, as torch, each maximum's flat index h * W + w in
    its input plane (int64, (N, C, Ho, Wo)).
    """
    dl = pair(dilation, "max_pool2d dilation", 1, True)
    k, st, pd, (ho, wo), extra = pool_window("max_pool2d", x, kernel_size, stride, padding, ceil_mode, dl)
    n, c, h, w = x.shape
    xp = x.xp
    hp, wp = h + 2 * pd[0] + extra[0], w + 2 * pd[1] + extra[1]
    out = xp.empty((n, c, ho, wo), dtype=x.dtype)
    first = xp.empty((n, c, ho, wo), dtype=offset_dtype(k[0] * k[1]))
    on_cpu = x.device == "cpu"
    # samples a piece on the CPU (a GPU takes the batch whole: pieces there would only add kernel launches)
    piece = max(1, PIECE_BYTES // (c * ho * wo * k[0] * k[1] * x._data.itemsize)) if on_cpu else None

    def forward(b: slice) -> None:  # one piece of a batch slice (one slice per core for large inputs)
        xpad = pad_spatial(x._data[b], pd, lowest(x._data.dtype), extra)
        out[b], first[b] = window_max(xpad, k, st, (ho, wo), pd, (h, w), extra, dl)
    backend.split_work(forward, n, x._data.nbytes * k[0] * k[1] // (st[0] * st[1]), on_cpu, piece)

    def backward(g: Array) -> tuple[Array]:
        offsets = (xp.arange(k[0] * k[1]) // k[1]) * (dl[0] * wp) + xp.arange(k[0] * k[1]) % k[1] * dl[1]
        gpad = xp.zeros((n, c, hp, wp), dtype=g.dtype)

        def scatter(b: slice) -> None:  # each piece adds into its own rows of gpad
            m = b.stop - b.start
            corner = (xp.arange(m * c).reshape(m, c, 1, 1) * (hp * wp) + (xp.arange(ho) * (st[0] * wp))[:, None]
                      + xp.arange(wo) * st[1])  # flat index of each window's top-left element in gpad[b]
            backend.scatter_add(gpad[b].reshape(-1), (corner + offsets[first[b]]).ravel(), g[b].ravel())
        backend.split_work(scatter, n, g.nbytes * k[0] * k[1], on_cpu, piece)
        return (gpad[:, :, pd[0]:pd[0] + h, pd[1]:pd[1] + w],)
    result = record("max_pool2d", follow_format(out, x), (x,), backward)
    if not return_indices:
        return result
    row = (xp.arange(ho) * st[0] - pd[0])[:, None] + first // k[1] * dl[0]  # the picked element's place
    col = xp.arange(wo) * st[1] - pd[1] + first % k[1] * dl[1]
    if bool(((row < 0) | (row >= h) | (col < 0) | (col >= w)).any()):  # (torch's index there is another element's)
        raise ArgumentError(f"max_pool2d: with dilation {dl} and padding {pd}, some window of the input {x.shape[2:]} "
                            f"holds only padding, so it has no maximum to index; use less padding or dilation, or "
                            f"return_indices=False (such a window's max is -inf and passes no gradient)")
    return result, Tensor(follow_format(row.astype(xp.int64) * w + col, x))


def window_max(xpad: Array, k: tuple[int, int], st: tuple[int, int], size: tuple[int, int], pd: tuple[int, int],
               inner: tuple[int, int], extra: tuple[int, int] = (0, 0),
               dilation: tuple[int, int] = (1, 1)) -> tuple[Array, Array]:
    """The max of every window of padded input (m, C, Hp, Wp) -> (m, C, Ho, Wo), and the offset i*kw + j in its
    window of the element torch picks (the first maximal one; the last NaN; for an all -inf window, or one of an
    integer type's least value, the first element inside the ``inner`` unpadded image, padded by ``pd`` on each
    side and ``extra`` at the end)."""
    xp = backend.get_array_module(xpad)
    cand = windows(xpad, k, st, size, dilation).reshape(k[0] * k[1], *xpad.shape[:2], *size)  # one strided copy
    out = cand.max(axis=0)
    # the offset i*kw + j of the first maximal element = how many leading window elements are not it
    below = cand[0] != out
    outside = None  # an all -inf window must pick its first element inside the input, not the padding
    if (pd[0] or pd[1] or extra[0] or extra[1]) and bool((out == lowest(out.dtype)).any()):
        inside = pad_spatial(xp.ones((1, 1, *inner), dtype=bool), pd, False, extra)
        outside = ~windows(inside, k, st, size, dilation).reshape(k[0] * k[1], 1, 1, *size)
        below |= outside[0]
    first = below.astype(offset_dtype(len(cand)))
    for offset in range(1, len(cand) - 1):
        below &= (cand[offset] != out) if outside is None else (cand[offset] != out) | outside[offset]
        first += below
    nan = xp.isnan(out)
    if bool(nan.any()):  # PyTorch's kernel: a NaN always replaces the running max, so the last NaN is picked
        for offset in range(len(cand)):
            first[nan & xp.isnan(cand[offset])] = offset
    zero = out == 0  # numpy's max of +0 and -0 may be either; torch's is the picked element, sign included
    if bool(zero.any()):  # (the fuzzer's FUZZ_SEED=728156: sqrt's gradient at the max then changes sign)
        at = xp.flatnonzero(zero)  # flat positions: one index array, not one per axis (9x faster)
        out.reshape(-1)[at] = cand.reshape(len(cand), -1)[first.reshape(-1)[at], at]
    return out, first


def lowest(dtype: numpy.dtype) -> Any:
    """The padding of a max pool: -inf, or an integer type's least value (-128 for int8: -inf cast to int8 or int16
    was 0, the max of a window of negative values beside the padding), False for bool."""
    if dtype.kind == "f":
        return -numpy.inf
    return False if dtype.kind == "b" else numpy.iinfo(dtype).min


def offset_dtype(window: int) -> str:
    """The smallest integer type that holds an offset in a window of ``window`` elements."""
    return "uint8" if window < 256 else "int32"


def check_divisor(op: str, divisor_override: int | None) -> None:
    """A ValueError unless an average pool's ``divisor_override`` is None or a non-zero int (a negative one is
    torch's too)."""
    if divisor_override is not None and (int(divisor_override) != divisor_override or divisor_override == 0):
        raise ArgumentError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")


def avg_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               count_include_pad: bool = True, divisor_override: int | None = None, ceil_mode: bool = False) -> Tensor:
    """Mean over kh x kw windows of x (N, C, H, W) -> (N, C, Ho, Wo), zero padded; ``stride`` defaults to the
    kernel size. Each window sum is divided by ``divisor_override`` when given, else by its elements inside the
    padded image (``count_include_pad``, torch's default: kh*kw but for the partial last windows of ``ceil_mode``)
    or inside the image. Backward spreads g / divisor over each window (``add_windows``). int64 input, as torch's
    CPU kernel: integer sums divided rounding toward zero (no gradient); other non-floating dtypes raise."""
    if x.dtype.kind != "f" and x.dtype != "int64":
        raise TypeError(f"avg_pool2d: not implemented for dtype {x.dtype} (as in torch); convert first, e.g. x.float()")
    check_divisor("avg_pool2d", divisor_override)
    k, st, pd, (ho, wo), extra = pool_window("avg_pool2d", x, kernel_size, stride, padding, ceil_mode)
    h, w = x.shape[2:]
    xp, t = x.xp, x.dtype.type
    win = windows(pad_spatial(x._data, pd, 0.0, extra), k, st, (ho, wo))
    half = x.dtype == numpy.float16  # the mean in float32, as torch's: a float16 window sum may pass 65504
    out = win.sum(axis=(0, 1), dtype=numpy.float32) if half else wide_sum(win, (0, 1))
    if divisor_override is not None or (extra == (0, 0) and (count_include_pad or pd == (0, 0))):
        divisor = t(divisor_override or k[0] * k[1])
    else:  # the window's elements inside the image (padding included when counted), (Ho, Wo)
        counted = pad_spatial(xp.ones((1, 1, h, w), dtype=x.dtype), pd, 1.0 if count_include_pad else 0.0)
        divisor = windows(pad_spatial(counted, (0, 0), 0.0, extra), k, st, (ho, wo)).sum(axis=(0, 1))[0, 0]
    if x.dtype.kind != "f":
        return Tensor(follow_format(truncating_divide(xp, out, divisor), x))
    out /= divisor
    if half:
        out = out.astype(numpy.float16)

    def backward(g: Array) -> tuple[Array]:
        padded = (h + 2 * pd[0] + extra[0], w + 2 * pd[1] + extra[1])
        gpad = add_windows(xp.broadcast_to(g / divisor, (*k, *g.shape)), padded, st)
        return (gpad[:, :, pd[0]:pd[0] + h, pd[1]:pd[1] + w],)
    return record("avg_pool2d", follow_format(out, x), (x,), backward)


def truncating_divide(xp: object, a: Array, b: object) -> Array:
    """Integer a / b rounded toward zero (C's integer division, torch's for integer means), in a's dtype."""
    q = xp.abs(a) // xp.abs(b)
    return xp.where((a < 0) != (xp.asarray(b) < 0), -q, q).astype(a.dtype, copy=False)
