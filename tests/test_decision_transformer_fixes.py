"""What the Decision Transformer program (``tests/torch_style/decision_transformer.py``) met, against torch 2.13.

- ``torch.tensor(data, dtype=<integer or bool>)`` reads a Tensor nested in ``data`` as an index (``__index__``): a
  floating one (``[torch.tensor(2.5)]``, at any depth, float64 too, NaN too) or one of more than one element raises
  TypeError ("only integer tensors of a single element can be converted to an index"). Ours truncated the float
  (``[2]``) without a word: a silent wrong answer where torch refuses, met by decision-transformer's atari loop
  spelling ``torch.tensor(actions, dtype=torch.long)`` over a list of sampled-action tensors (integer there; a float
  action tensor, as a continuous policy gives, would have been truncated). The same rule reaches ``new_tensor`` of an
  integer tensor, ``as_tensor`` and the legacy ``LongTensor(...)``; float dtypes still take any one-element tensor.
  (Without a dtype, a nest inferred integer holds no float tensor; there a tensor of several elements still raises
  ValueError where torch raises TypeError: both refuse, as tests/test_old_seq2seq_fixes.py expects.)

Mutations (each makes a test here fail; the fix restored):
- ``tensor`` without the ``refuse_float_indices`` call -> test_nested_tensors_under_an_integer_dtype,
  test_the_other_constructors
- ``refuse_float_indices`` without its ``numel() != 1`` clause -> test_nested_tensors_under_an_integer_dtype
- ``refuse_float_indices`` not descending into nested lists -> test_nested_tensors_under_an_integer_dtype,
  test_the_other_constructors (``as_tensor([[t]])``)
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

ELEMENT_DTYPES = ("float32", "float64", "float16", "int64", "int32", "uint8", "bool")
TARGETS = ("int64", "int32", "int16", "int8", "uint8", "bool", "float32", "float64", None)
VALUES = st.one_of(st.floats(-100, 100, width=32), st.sampled_from([0.0, -0.0, 0.5, -2.5, float("nan"), float("inf"),
                                                                    1e30]))


def build(lib: object, spec: object) -> object:
    """A nest of lists from ``spec``: ("t", dtype, values) leaves are tensors of that dtype, numbers stay numbers."""
    if isinstance(spec, list):
        return [build(lib, s) for s in spec]
    if isinstance(spec, tuple):
        _, dtype, values = spec
        array = np.array(values, dtype=np.float64)
        if dtype not in ("float32", "float64", "float16"):
            array = np.nan_to_num(array, nan=0, posinf=7, neginf=-7).clip(0 if dtype in ("uint8", "bool") else -100,
                                                                             100).astype(dtype)
        return lib.tensor(array.astype(dtype)) if array.ndim else lib.tensor(array.astype(dtype).item(),
                                                                            dtype=getattr(lib, dtype))
    return spec


LEAF = st.tuples(st.just("t"), st.sampled_from(ELEMENT_DTYPES),
                 st.one_of(VALUES, st.lists(VALUES, min_size=0, max_size=3)))
NUMBER = st.one_of(st.integers(0, 100), st.sampled_from([1.0, 2.5]))


def outcome(lib: object, spec: object, target: str | None) -> tuple:
    """What ``lib.tensor`` gives: the error's type, or the dtype, shape and values (NaN-safe)."""
    data = build(lib, spec)
    try:
        out = lib.tensor(data, dtype=None if target is None else getattr(lib, target))
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        return ("error", type(e).__name__ if isinstance(e, TypeError) else "other")
    values = np.asarray(out.numpy(), dtype=np.float64)
    return (str(out.dtype).split(".")[-1], tuple(out.shape), np.nan_to_num(values, nan=-999.0).tolist())


@settings(deadline=None, max_examples=300)
@given(st.lists(st.one_of(LEAF, NUMBER), min_size=1, max_size=3), st.integers(0, 2), st.sampled_from(TARGETS))
def test_nested_tensors_under_an_integer_dtype(items: list, depth: int, target: str | None) -> None:
    """A rectangular nest (each item wrapped ``depth`` times) of numbers and tensors (float / int / bool, 0-d, empty,
    one or several elements, NaN / inf / huge): under an integer or bool dtype torch.tensor raises TypeError in
    both libraries or in neither; where it builds, the results agree. (Where torch refuses for another reason,
    values out of range, ours refuses too, its message and type may differ.)"""
    spec = list(items)
    for _ in range(depth):
        spec = [[x] for x in spec]
    theirs, ours = outcome(torch, spec, target), outcome(tg, spec, target)
    if theirs[0] == "error" and ours[0] == "error":
        if target is not None and target.startswith(("int", "uint", "bool")):
            assert (theirs[1] == "TypeError") == (ours[1] == "TypeError"), (theirs, ours)
        return
    assert ours == theirs


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_the_other_constructors(dtype: str) -> None:
    """new_tensor of a long tensor, as_tensor and LongTensor refuse a nested float tensor as torch does; a float
    target, or an integer tensor nested, still converts."""
    for lib in (torch, tg):
        t = lib.tensor(2.5, dtype=getattr(lib, dtype))
        said = "only integer tensors of a single element" if lib is torch else "integer tensor with one element"
        with pytest.raises(TypeError, match=said):
            lib.zeros(2, dtype=lib.long).new_tensor([t, 1])
        with pytest.raises(TypeError, match=said):
            lib.as_tensor([[t]], dtype=lib.long)
        with pytest.raises(TypeError, match=said):
            lib.LongTensor([t])
        assert lib.tensor([t, lib.tensor(3)], dtype=lib.float32).tolist() == [2.5, 3.0]
        assert lib.tensor([lib.tensor([[3]]), lib.tensor(True)], dtype=lib.long).tolist() == [3, 1]
        assert lib.tensor([], dtype=lib.long).shape == (0,)
