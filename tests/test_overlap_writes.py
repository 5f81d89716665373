"""Writes whose source overlaps the written memory, against torch: in-place ops (``x[1:].add_(x[:-1])``), ``out=``
(``torch.add(x[:2], 1, out=x[1:])``), index writes (``x[[0, 1]] = x[1:3]``, ``index_add_``, ``scatter_add_``) and
``cat(out=)``. torch refuses a partial overlap for its elementwise kernels and any overlap for its index kernels;
where it accepts, the result is defined (the same elements in the same order, or apart), and ours must equal it.

Both tensors are views of one buffer, dense (slices, reshapes, transposes), so torch never falls back to its
unchecked path, whose results depend on its loop order (README's Differences list those cases)."""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

BUFFER = numpy.linspace(0.5, 3.0, 32)
SHAPES = [(0,), (1,), (12,), (3, 4), (4, 3), (2, 6), (2, 2, 3)]

ELEMENTWISE = {
    "add_": lambda lib, x, y: x.add_(y),
    "sub_ alpha": lambda lib, x, y: x.sub_(y, alpha=0.5),
    "mul_": lambda lib, x, y: x.mul_(y),
    "div_": lambda lib, x, y: x.div_(y),
    "lerp_": lambda lib, x, y: x.lerp_(y, 0.3),
    "addcmul_": lambda lib, x, y: x.addcmul_(y, y, value=0.5),
    "clamp_": lambda lib, x, y: x.clamp_(min=y),
    "hypot_": lambda lib, x, y: x.hypot_(y),
    "copy_": lambda lib, x, y: x.copy_(y),
    "+=": lambda lib, x, y: x.__iadd__(y),
    "add out": lambda lib, x, y: lib.add(lib.ones_like(x), y, out=x),
    "mul out": lambda lib, x, y: lib.mul(y, lib.full_like(x, 2.0), out=x),
    "where out": lambda lib, x, y: lib.where(y > 1.5, y, x, out=x),
}


def _view(lib, base, start: int, shape: tuple[int, ...], transpose: bool):
    """base[start:start + numel] as ``shape``, transposed (dims reversed) when asked."""
    n = int(numpy.prod(shape))
    v = base[start:start + n].reshape(shape[::-1] if transpose else shape)
    return v.permute(*range(v.ndim - 1, -1, -1)) if transpose else v


def _outcome(lib, fn):
    """What ``fn`` does: ("raise", None) for torch's overlap error, else ("ok", the buffer's values)."""
    base = lib.tensor(BUFFER.copy())
    try:
        with lib.no_grad():
            fn(lib, base)
    except RuntimeError as e:
        assert ("single memory location" if lib is torch else "overlapping memory") in str(e), str(e)
        return "raise", None
    return "ok", base.numpy() if lib is tg else base.detach().numpy()


def _agree(fn) -> None:
    want, got = _outcome(torch, fn), _outcome(tg, fn)
    assert got[0] == want[0], (want[0], got[0])
    if want[0] == "ok":
        numpy.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=0)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), op=st.sampled_from(sorted(ELEMENTWISE)))
def test_elementwise_overlap_like_torch(data, op: str) -> None:
    shape = data.draw(st.sampled_from(SHAPES))
    n = int(numpy.prod(shape))
    a, b = data.draw(st.integers(0, 32 - n)), data.draw(st.integers(0, 32 - n))
    ta = len(shape) > 1 and data.draw(st.booleans())
    tb = len(shape) > 1 and data.draw(st.booleans())
    kind = data.draw(st.sampled_from(["same", "row", "0-d"] if n else ["same"]))

    def fn(lib, base):
        x = _view(lib, base, a, shape, ta)
        if kind == "same":
            y = _view(lib, base, b, x.shape if not tb else tuple(x.shape)[::-1], False)
            y = y.permute(*range(y.ndim - 1, -1, -1)) if tb else y
        elif kind == "row":  # broadcast along the leading dims
            y = base[b:b + x.shape[-1]]
        else:  # a 0-d view
            y = base[b:b + 1].reshape(())
        ELEMENTWISE[op](lib, x, y)
    _agree(fn)


INDEXED = {
    "index_add_": lambda lib, x, s, i: x.index_add_(0, i, s),
    "index_copy_": lambda lib, x, s, i: x.index_copy_(0, i, s),
    "setitem": lambda lib, x, s, i: x.__setitem__(i, s),
    "setitem mask": lambda lib, x, s, i: x.__setitem__(lib.tensor([k in i.tolist() for k in range(4)]), s),
    "index_put_ accumulate": lambda lib, x, s, i: x.index_put_((i,), s, accumulate=True),
    "scatter_add_": lambda lib, x, s, i: x.scatter_add_(0, i[:, None].expand(*s.shape).contiguous(), s),
    "cat out": lambda lib, x, s, i: lib.cat([s, s], out=x),
}


@settings(max_examples=200, deadline=None)
@given(data=st.data(), op=st.sampled_from(sorted(INDEXED)))
def test_index_write_overlap_like_torch(data, op: str) -> None:
    a, b = data.draw(st.integers(0, 20)), data.draw(st.integers(0, 26))
    ta, tb = data.draw(st.booleans()), data.draw(st.booleans())
    rows = sorted(data.draw(st.lists(st.integers(0, 3), min_size=2, max_size=2, unique=True)))

    def fn(lib, base):
        x = _view(lib, base, a, (4, 3), ta)
        s = _view(lib, base, b, (2, 3), tb)
        INDEXED[op](lib, x, s, lib.tensor(rows))
    _agree(fn)


def test_known_cases() -> None:
    """The cases README names: a shifted in-place add, an out= from a shifted view, a list-indexed write, a write
    into an expanded tensor (torch: more than one element refers to a single memory location)."""
    x = tg.arange(9.0).reshape(3, 3)
    for write in (lambda: x[1:].add_(x[:-1]), lambda: tg.add(x[:2], 1, out=x[1:]),
                  lambda: x.__setitem__([0, 1], x[1:3]), lambda: x.index_add_(0, tg.tensor([0, 2, 1]), x),
                  lambda: x[0:1].expand(3, 3).add_(1)):
        with pytest.raises(RuntimeError, match="overlapping memory"):
            write()
    assert x.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]  # nothing written
    x.add_(x)  # the same elements in the same order: allowed, as torch
    x[0, [0, 1]] = x[1, :2]  # the view x[0] and x[1, :2] are apart: allowed, as torch
    x[tg.tensor(1)] = x[0]  # a 0-d integer tensor index is an integer (a view), as torch
    assert x.tolist() == [[6.0, 8.0, 4.0], [6.0, 8.0, 4.0], [12.0, 14.0, 16.0]]
