"""What the MAE program (``tests/torch_style/mae.py``) met, against torch 2.13.

- ``x.reshape(shape=(...))``, as ``models_mae.patchify`` / ``unpatchify`` write it (``imgs.reshape(shape=(N, 3, h, p,
  w, p))``): torch takes the sizes by the keyword ``shape`` (``x.view(size=...)`` likewise, and ``torch.reshape(x,
  shape=...)``); ours raised TypeError "reshape() got an unexpected keyword argument 'shape'" (loud). Now the
  keyword is taken; giving it beside positional sizes, or another keyword, still raises TypeError as torch does.
- ``x.view([])`` (an empty shape, as ``view(size=[])`` gives for a one-element tensor): torch reshapes to 0-d; ours
  took the empty list for a dtype (numpy's empty record dtype) and raised ValueError (loud). A list or tuple is now
  never a dtype."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@st.composite
def shaped(draw: st.DrawFn) -> tuple[np.ndarray, tuple[int, ...]]:
    """An array (0-d and empty included, extreme values) and a new shape of the same size, perhaps with a -1."""
    dims = draw(st.lists(st.integers(0, 4), max_size=4))
    size = int(np.prod(dims)) if dims else 1
    values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=size, max_size=size))
    array = np.asarray(values, dtype=np.float32).reshape(dims)
    new = list(draw(st.permutations(dims)))
    if new and size and draw(st.booleans()):
        new[draw(st.integers(0, len(new) - 1))] = -1
    if size == 1 and draw(st.booleans()):
        new = []
    return array, tuple(new)


@settings(deadline=None, max_examples=60)
@given(case=shaped(), as_list=st.booleans())
def test_reshape_and_view_take_their_sizes_by_keyword(case: tuple[np.ndarray, tuple[int, ...]],
                                                      as_list: bool) -> None:
    array, shape = case
    sizes = list(shape) if as_list else shape
    mine, theirs = tg.tensor(array), torch.tensor(array)
    for got, want in ((mine.reshape(shape=sizes), theirs.reshape(shape=sizes)),
                      (mine.view(size=sizes), theirs.view(size=sizes)),
                      (tg.reshape(mine, shape=sizes), torch.reshape(theirs, shape=sizes))):
        assert tuple(got.shape) == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_reshape_keyword_gradient_and_misuse_like_torch() -> None:
    """The keyword form carries gradients (patchify's einsum path); misuse raises TypeError in both."""
    rng = np.random.default_rng(0)
    imgs = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
    grads = []
    for lib in (tg, torch):
        x = lib.tensor(imgs, requires_grad=True)
        y = lib.einsum("nchpwq->nhwpqc", x.reshape(shape=(2, 3, 2, 2, 2, 2))).reshape(shape=(2, 4, 12))
        (y * lib.arange(12.0)).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(*grads)
    for lib in (tg, torch):
        x = lib.zeros(6)
        for bad in ({"shape": (2, 3)}, {"size": (2, 3)}):
            with pytest.raises(TypeError):
                x.reshape((2, 3), shape=(2, 3)) if "shape" in bad else x.reshape(**bad)
            with pytest.raises(TypeError):
                x.view(**bad) if "shape" in bad else x.view((2, 3), **bad)
