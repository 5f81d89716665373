"""2-D max pooling on NCHW input, vectorised over everything but the kh*kw kernel offsets.

Forward copies the strided window view once into (kh*kw, N, C, Ho, Wo), takes the max over the
first axis and keeps, per output, the offset of the element PyTorch picks: the first maximal one, the last
NaN of a window with NaNs, the first element inside the image of an all -inf window.
Backward turns those offsets into flat input positions and scatter-adds the output gradient there
(overlapping windows may pick the same element, so the adds accumulate). On the CPU both passes of a large
input run on batch slices, one per core (numpy's copies and ufuncs release the GIL). Measured with numpy 2.4 on the
paper's 3x3/2 pool, this beats walking the kernel offsets with strided views (masked copies and adds on
stride-2 views run 2-4x slower than the one gather and ``numpy.add.at``'s indexed loop).
"""

from __future__ import annotations

from .. import backend
from ..tensor import Array, Tensor, record
from .conv import IntPair, output_size, pad_spatial, pair, windows


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
    if c == 0 or h == 0 or w == 0:  # as torch, which accepts only an empty batch
        raise ValueError(f"max_pool2d: input {x.shape} has an empty channel or spatial dimension (only the batch "
                         f"may be empty)")
    ho, wo = output_size("max_pool2d", (h, w), k, st, pd)
    xp = x.xp
    hp, wp = h + 2 * pd[0], w + 2 * pd[1]
    out = xp.empty((n, c, ho, wo), dtype=x.dtype)
    first = xp.empty((n, c, ho, wo), dtype=offset_dtype(k[0] * k[1]))
    on_cpu = x.device == "cpu"

    def forward(b: slice) -> None:  # one batch slice (all of it, or one per core for large inputs)
        out[b], first[b] = window_max(pad_spatial(x.data[b], pd, value=-xp.inf), k, st, (ho, wo), pd, (h, w))
    backend.split_work(forward, n, x.data.nbytes * k[0] * k[1] // (st[0] * st[1]), on_cpu)

    def backward(g: Array) -> tuple[Array]:
        offsets = (xp.arange(k[0] * k[1]) // k[1]) * wp + xp.arange(k[0] * k[1]) % k[1]
        gpad = xp.zeros((n, c, hp, wp), dtype=g.dtype)

        def scatter(b: slice) -> None:  # each batch slice adds into its own rows of gpad
            m = b.stop - b.start
            corner = (xp.arange(m * c).reshape(m, c, 1, 1) * (hp * wp) + (xp.arange(ho) * (st[0] * wp))[:, None]
                      + xp.arange(wo) * st[1])  # flat index of each window's top-left element in gpad[b]
            backend.scatter_add(gpad[b].reshape(-1), (corner + offsets[first[b]]).ravel(), g[b].ravel())
        backend.split_work(scatter, n, g.nbytes * k[0] * k[1], on_cpu)
        return (gpad[:, :, pd[0]:pd[0] + h, pd[1]:pd[1] + w],)
    return record("max_pool2d", out, (x,), backward)


def window_max(xpad: Array, k: tuple[int, int], st: tuple[int, int], size: tuple[int, int], pd: tuple[int, int],
               inner: tuple[int, int]) -> tuple[Array, Array]:
    """The max of every window of padded input (m, C, Hp, Wp) -> (m, C, Ho, Wo), and the offset i*kw + j in its
    window of the element torch picks (the first maximal one; the last NaN; for an all -inf window, the first
    element inside the ``inner`` unpadded image)."""
    xp = backend.get_array_module(xpad)
    cand = windows(xpad, k, st, size).reshape(k[0] * k[1], *xpad.shape[:2], *size)  # one strided copy
    out = cand.max(axis=0)
    # the offset i*kw + j of the first maximal element = how many leading window elements are not it
    below = cand[0] != out
    outside = None  # an all -inf window must pick its first element inside the input, not the padding
    if (pd[0] or pd[1]) and bool((out == -xp.inf).any()):
        inside = pad_spatial(xp.ones((1, 1, *inner), dtype=bool), pd, value=False)
        outside = ~windows(inside, k, st, size).reshape(k[0] * k[1], 1, 1, *size)
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


def offset_dtype(window: int) -> str:
    """The smallest integer type that holds an offset in a window of ``window`` elements."""
    return "uint8" if window < 256 else "int32"
