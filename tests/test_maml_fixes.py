"""Fixes found porting MAML (dragen1860/MAML-Pytorch, ``tests/torch_style/maml.py``), each against torch.

- ``print(model)``: a blank line of a child's repr (its ``extra_repr`` ending in a newline, as MAML-Pytorch's
  ``Learner.extra_repr`` does, or holding an empty line) printed as indentation spaces; torch's ``_addindent`` leaves
  it empty when a Module, Sequential or ModuleDict nests the child (a ModuleList, whose container module keeps the
  older ``_addindent``, indents it). A printed difference (whitespace only).
- ``max_pool{1,2,3}d`` / ``avg_pool{1,2}d`` with ``ceil_mode=True`` raised ValueError ("kernel size is larger than
  the padded input") where torch's rounding up still gives windows: torch's output size is
  floor((n + 2p - span + s - 1) / s) + 1, less one if the last window would start past the input and its left
  padding, and it refuses only an output of 0 (an 8-wide pool with stride 4 on a 6-wide input gives one window of
  the 6). A loud difference (an exception where torch returns values).
- ``F.upsample`` / ``upsample_nearest`` / ``upsample_bilinear`` (MAML-Pytorch's 'upsample' layer) warned without
  torch 2.13's backticks around the names (a different warning text)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_swin_fixes import with_extra

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def plain(text: str) -> str:
    """Our repr without its parameter-count comments (``  # ...`` at line ends, and the total)."""
    return "\n".join(re.split(r"  # ", line)[0] for line in text.splitlines())


def wrap(nn: object, inner: object, how: str) -> object:
    """``inner`` held by a plain Module, a Sequential, a ModuleDict or a ModuleList."""
    if how == "module":
        class Holder(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = inner
        return Holder()
    if how == "sequential":
        return nn.Sequential(inner, nn.ReLU())
    if how == "dict":
        return nn.ModuleDict({"net": inner})
    return nn.ModuleList([inner])


@settings(deadline=None, max_examples=60)
@given(st.lists(st.sampled_from(["dim=16", "", "  ", "conv2d:(ch_in:1, ch_out:4)", "relu:(True,)"]), min_size=1,
                max_size=4), st.integers(0, 2), st.lists(st.sampled_from(["module", "sequential", "dict", "list"]),
                                                          max_size=3))
def test_blank_repr_lines_stay_blank_when_nested_as_torch(lines: list[str], kids: int, nesting: list[str]) -> None:
    """An extra_repr's blank (or all-space) lines, at any depth of nesting in any container, print as torch's."""
    extra = "\n".join(lines)
    ours, theirs = with_extra(tg.nn, extra, kids), with_extra(torch.nn, extra, kids)
    for how in nesting:
        ours, theirs = wrap(tg.nn, ours, how), wrap(torch.nn, theirs, how)
    assert plain(repr(ours)) == repr(theirs)


def test_maml_learner_style_trailing_newline() -> None:
    """MAML-Pytorch's Learner: each layer's line ends in '\\n', so its extra_repr ends in a blank line; inside Meta
    torch prints that line empty."""
    ours = wrap(tg.nn, with_extra(tg.nn, "linear:(in:16, out:3)\n", 1), "module")
    theirs = wrap(torch.nn, with_extra(torch.nn, "linear:(in:16, out:3)\n", 1), "module")
    assert plain(repr(ours)) == repr(theirs)
    assert "\n\n" in repr(theirs) and "\n\n" in repr(ours)


def pool(lib: object, kind: str, dims: int, x: object, k: int, s: int, p: int, d: int) -> object:
    """``lib``'s ``{kind}_pool{dims}d`` with ceil_mode=True (dilation d for max pools)."""
    fn = getattr(lib.nn.functional, f"{kind}_pool{dims}d")
    if kind == "max":
        return fn(x, k, s, p, dilation=d, ceil_mode=True)
    return fn(x, k, s, p, ceil_mode=True)


def pooled(lib: object, kind: str, dims: int, data: np.ndarray, k: int, s: int, p: int, d: int, v: np.ndarray,
           ) -> object:
    """The pool's output, its gradient for the sum of cubed outputs and that gradient's own gradient along v; or
    the exception's type name."""
    x = lib.tensor(data, requires_grad=True)
    try:
        y = pool(lib, kind, dims, x * x, k, s, p, d)
    except (RuntimeError, ValueError) as e:
        message = str(e)
        return "raises" if any(w in message for w in ("too small", "larger than", "output size")) else repr(e)
    (g,) = lib.autograd.grad((y ** 3).sum(), x, create_graph=True)
    (gg,) = lib.autograd.grad((g * lib.tensor(v)).sum(), x)
    return [t.detach().numpy() for t in (y, g, gg)]


def padded_max_pooled(data: np.ndarray, dims: int, k: int, s: int, p: int, d: int, v: np.ndarray,
                      shape: tuple[int, ...]) -> list[np.ndarray]:
    """torch's ``pooled`` max pool where a window lies over padding only: torch's own backward reads out of bounds
    there (1-D: IndexError; 2-D / 3-D: a heap corruption that aborts the process), so the padding is made explicit
    (-inf, which no window picks over an element), the pool runs without any and its output is cut to ``shape``
    (ceil_mode may keep one more window over explicit padding)."""
    x = torch.tensor(data, requires_grad=True)
    padded = torch.nn.functional.pad(x * x, (p,) * 2 * dims, value=-np.inf)
    y = pool(torch, "max", dims, padded, k, s, 0, d)[tuple(slice(n) for n in shape)]
    (g,) = torch.autograd.grad((y ** 3).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad((g * torch.tensor(v)).sum(), x)
    return [t.detach().numpy() for t in (y, g, gg)]


@settings(deadline=None, max_examples=80)
@given(st.sampled_from(["max", "avg"]), st.sampled_from([1, 2, 3]), st.integers(1, 6), st.integers(1, 8),
       st.integers(1, 4), st.integers(0, 4), st.integers(1, 2), st.integers(0, 2), st.integers(0, 10 ** 6),
       st.sampled_from(["normal", "extreme"]))
def test_ceil_mode_pools_take_torch_output_sizes(kind: str, dims: int, size: int, k: int, s: int, p: int, d: int,
                                                 batch: int, seed: int, values: str) -> None:
    """Pools with ceil_mode on inputs as small as the kernel or smaller: the same output, gradient and second-order
    gradient as torch, or both refuse (an output of 0 windows, or padding over half the kernel)."""
    if p > k // 2 or (kind == "avg" and (d > 1 or dims == 3)):
        return  # torch refuses the padding too (tested elsewhere); avg pools have no dilation; avg_pool3d's own check
    rng = np.random.default_rng(seed)
    shape = (batch, 2) + (size,) * dims
    data = rng.standard_normal(shape)
    if values == "extreme" and data.size:
        data.flat[rng.integers(0, data.size)] = 1e40
        data.flat[rng.integers(0, data.size)] = 0.0
    v = rng.standard_normal(shape)
    ours = pooled(tg, kind, dims, data, k, s, p, d, v)
    if kind == "max" and not isinstance(ours, str) and np.isneginf(ours[0]).any():
        theirs = padded_max_pooled(data, dims, k, s, p, d, v, ours[0].shape)
    else:
        theirs = pooled(torch, kind, dims, data, k, s, p, d, v)
    if isinstance(theirs, str):
        assert ours == theirs == "raises"
        return
    assert not isinstance(ours, str), ours
    for got, want in zip(ours, theirs, strict=True):
        assert got.shape == want.shape  # (atol: an average's last bits beside entries 1e4 times as large)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15 * np.abs(want[np.isfinite(want)]).max(initial=0))


def test_ceil_mode_window_larger_than_input() -> None:
    """An 8-wide max / avg pool of stride 4 on a 6-wide input: one window, the 6 elements (torch's numbers)."""
    x = np.arange(6.0).reshape(1, 1, 6)
    assert tg.nn.functional.max_pool1d(tg.tensor(x), 8, 4, ceil_mode=True).tolist() == [[[5.0]]]
    assert tg.nn.functional.avg_pool1d(tg.tensor(x), 8, 4, ceil_mode=True).tolist() == \
        torch.nn.functional.avg_pool1d(torch.tensor(x), 8, 4, ceil_mode=True).tolist()
    with pytest.raises(ValueError, match="larger than the padded input"):
        tg.nn.functional.max_pool1d(tg.tensor(x), 8, 4)


@pytest.mark.parametrize("name", ["upsample", "upsample_nearest", "upsample_bilinear"])
def test_upsample_deprecation_warnings_read_as_torch(name: str) -> None:
    """A UserWarning naming the function and interpolate (torch's, ours in our words), and the same values."""
    x = np.arange(8.0).reshape(1, 2, 2, 2)
    messages, values = [], []
    for lib in (torch, tg):
        with pytest.warns(UserWarning) as record:
            values.append(getattr(lib.nn.functional, name)(lib.tensor(x), scale_factor=2).numpy())
        messages.append([str(w.message) for w in record])
    assert messages[0] == [f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` instead."]
    assert len(messages[1]) == 1 and name in messages[1][0] and "deprecated" in messages[1][0]
    assert "interpolate" in messages[1][0]
    np.testing.assert_allclose(values[1], values[0], rtol=1e-15)
