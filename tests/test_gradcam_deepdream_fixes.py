"""What the Grad-CAM / DeepDream program (``tests/torch_style/gradcam_deepdream.py``) met, against torch 2.13: the
integer arguments of ``roll``, of the ops that take several dims (``flip``, ``squeeze``, ``movedim``) and of the
methods' ``dim``.

- A DeepDream tutorial draws its jitter as ``ox, oy = np.random.randint(-j, j + 1, 2)`` and calls
  ``torch.roll(img, shifts=ox, dims=-1)``: a lone numpy integer (shift or dim) raised TypeError ("not iterable")
  here, and a 0-d integer Tensor was read as an empty tuple (ValueError); torch takes both.
- A float or bool among them was truncated by ``int()``: ``roll(x, (1.5, 1), (0, 1))`` rolled by 1,
  ``roll(x, True, 0)`` by 1, ``flip(x, (1.0,))`` flipped dim 1, ``x.squeeze(1.0)`` / ``x.sum(1.5)`` (every method
  taking ``dim``) used dim 1 -- silently; torch raises TypeError ("must be tuple of ints"). Ours now refuses every
  bool, where torch's parser checks only the first item's type (``roll(x, (0, True), (0, 1))`` rolls by (0, 1)
  there).

Mutations (each makes a test here fail; the fix restored):
- ``int_args`` without its check (``tuple(int(i) for i in items)``) -> test_roll_and_flip_refuse_what_torch_refuses
- ``int_args`` accepting bools (``isinstance(item, bool)`` dropped) -> test_roll_and_flip_refuse_what_torch_refuses
- ``roll`` parsing shifts by the old ``isinstance(shifts, int)`` -> test_numpy_and_tensor_integers_roll_as_in_torch,
  test_roll_and_flip_refuse_what_torch_refuses
- ``methods._dim`` back to ``int(dim)`` -> test_dims_of_other_ops_refuse_floats_and_bools
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

KINDS = ("int", "np.int64", "np.int32", "np.uint8", "tensor", "float", "np.float64", "bool")


def make(lib: object, kind: str, value: int) -> object:
    """``value`` spelled as ``kind`` (a Tensor of ``lib``'s for "tensor")."""
    spell = {"int": int, "np.int64": np.int64, "np.int32": np.int32, "np.uint8": np.uint8, "float": float,
             "np.float64": np.float64, "bool": bool, "tensor": lambda v: lib.tensor(v)}
    return spell[kind](value)


def outcome(fn: object) -> object:
    try:
        return fn().numpy()
    except TypeError:
        return TypeError
    except (RuntimeError, ValueError, IndexError):  # a dim named twice (a bool dim is 1): torch's RuntimeError
        return RuntimeError


@st.composite
def cases(draw: st.DrawFn) -> tuple:
    shape = draw(st.sampled_from([(2, 3, 4), (0, 3, 2), (5,)]))
    values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=int(np.prod(shape)),
                           max_size=int(np.prod(shape))))
    dims = draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=len(shape), unique_by=lambda
                         d: d % len(shape)))
    shifts = draw(st.lists(st.integers(-7, 7), min_size=len(dims), max_size=len(dims)))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=2 * len(dims), max_size=2 * len(dims)))
    return np.array(values, dtype=np.float32).reshape(shape), shifts, dims, kinds, draw(st.booleans())


@settings(max_examples=150, deadline=None)
@given(cases())
def test_roll_and_flip_refuse_what_torch_refuses(case: tuple) -> None:
    x, shifts, dims, kinds, as_list = case
    n = len(dims)
    seq = list if as_list else tuple

    def args(lib: object) -> tuple:
        return (seq(make(lib, k, abs(s) if k == "np.uint8" else s) for k, s in zip(kinds[:n], shifts)),
                seq(make(lib, k, d % x.ndim if k in ("np.uint8", "bool") else d) for k, d in zip(kinds[n:], dims)))

    for name in ("roll", "flip"):
        def call(lib: object, name: str = name) -> object:
            s, d = args(lib)
            return lib.roll(lib.tensor(x), s, d) if name == "roll" else lib.flip(lib.tensor(x), d)
        want, got = outcome(lambda: call(torch)), outcome(lambda: call(tg))
        if got is TypeError and want is not TypeError:  # torch's parser checks only the first item's type:
            assert "bool" in kinds[1:n] + kinds[n + 1:], (name, kinds)  # a later bool passes there, as 0 / 1
        elif want is TypeError:
            assert got is TypeError, (name, kinds, shifts, dims)
        elif want is RuntimeError:
            assert got is RuntimeError, (name, kinds, shifts, dims)
        else:
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", ["np.int64", "np.int32", "tensor", "int"])
def test_numpy_and_tensor_integers_roll_as_in_torch(kind: str) -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for shift, dim in ((-2, -1), (1, 0), (5, 1)):
        want = torch.roll(torch.tensor(x), make(torch, kind, shift), make(torch, kind, dim)).numpy()
        got = tg.roll(tg.tensor(x), make(tg, kind, shift), make(tg, kind, dim))
        np.testing.assert_array_equal(got.numpy(), want)
        np.testing.assert_array_equal(tg.tensor(x).roll(make(tg, kind, shift)).numpy(),
                                      torch.tensor(x).roll(make(torch, kind, shift)).numpy())
    ox, oy = np.random.RandomState(0).randint(-2, 3, 2)  # the tutorials' jitter, then its inverse
    image = tg.tensor(x, requires_grad=True)
    rolled = tg.roll(image, shifts=(ox, oy), dims=(-2, -1))
    np.testing.assert_array_equal(rolled.detach().numpy(), torch.roll(torch.tensor(x), (ox, oy), (-2, -1)).numpy())
    np.testing.assert_array_equal(tg.roll(rolled, shifts=(-ox, -oy), dims=(-2, -1)).detach().numpy(), x)
    (rolled * tg.tensor(x)).sum().backward()
    np.testing.assert_array_equal(image.grad.numpy(), np.roll(x, (-ox, -oy), (-2, -1)))


@pytest.mark.parametrize("bad", [1.0, (1.0,), (True,), [0, 1.5], (np.float64(0),)])
def test_dims_of_other_ops_refuse_floats_and_bools(bad: object) -> None:
    x = np.zeros((1, 2, 1), dtype=np.float32)
    for op in (lambda lib: lib.tensor(x).squeeze(bad), lambda lib: lib.movedim(lib.tensor(x), bad, bad),
               lambda lib: lib.tensor(x).sum(bad)):
        assert outcome(partial(op, torch)) is TypeError
        assert outcome(partial(op, tg)) is TypeError
