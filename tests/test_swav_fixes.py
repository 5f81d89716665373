"""Fixes found porting facebookresearch/swav (tests/torch_style/swav.py), each checked against torch.

- ``x[key] = src`` (a view target) and ``x.copy_(src)`` where ``src`` shares part of the written memory (swav's queue
  shift ``queue[i, bs:] = queue[i, :-bs]`` without its ``.clone()``): torch raises "unsupported operation: some
  elements of the input tensor and the written-to tensor refer to a single memory location"; ours wrote a buffered
  copy silently (the clone's result). Both dense and meeting but not the very same elements in the same order is a
  partial overlap; the same view (``x[k] = x[k]``), empty tensors and non-dense ("too hard") memory pass.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def outcome(lib: object, fn: object, base: np.ndarray) -> tuple[str, np.ndarray | None]:
    """("raised", None) where ``fn(x)`` raises the overlap RuntimeError, else ("ok", x's values after it)."""
    x = lib.tensor(base.copy())
    try:
        fn(x)
    except RuntimeError as e:
        assert ("refer to a single memory location" if lib is torch else "overlapping memory") in str(e)
        return "raised", None
    return "ok", x.numpy().copy()


def agree(fn: object, base: np.ndarray, values: bool = True) -> str:
    (want, want_x), (got, got_x) = outcome(torch, fn, base), outcome(tg, fn, base)
    assert got == want
    if want == "ok" and values:
        np.testing.assert_array_equal(got_x, want_x)
    return want


values = st.floats(allow_nan=False, width=32) | st.sampled_from([np.inf, -np.inf, 0.0, -0.0, 3.4e38])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 8), st.integers(0, 8), st.integers(0, 8), st.booleans(), st.lists(values, min_size=16,
                                                                                          max_size=16))
def test_slice_assignment_from_an_overlapping_slice(a: int, b: int, length: int, use_copy: bool,
                                                     data: list[float]) -> None:
    """``x[a:a+n] = x[b:b+n]`` / ``x[a:a+n].copy_(x[b:b+n])`` on contiguous slices (empty ones included)."""
    base = np.array(data, dtype=np.float32)

    def fn(x: object) -> None:
        if use_copy:
            x[a:a + length].copy_(x[b:b + length])
        else:
            x[a:a + length] = x[b:b + length]
    result = agree(fn, base)
    assert result == ("raised" if 0 < abs(a - b) < length else "ok")


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 1))
def test_queue_shift_rows(bs: int, extra: int, i: int) -> None:
    """swav's queue (crops, length, dim): shifting rows by ``bs`` raises without ``.clone()`` once the rows kept
    and the rows written meet (length > 2 bs), and gives the clone's values with it."""
    base = np.arange(2 * (bs + extra) * 3, dtype=np.float32).reshape(2, bs + extra, 3)

    def shift(x: object) -> None:
        x[i, bs:] = x[i, :-bs]

    def shift_cloned(x: object) -> None:
        x[i, bs:] = x[i, :-bs].clone()
    assert agree(shift, base) == ("raised" if extra > bs else "ok")
    assert agree(shift_cloned, base) == "ok"


def test_full_overlap_zero_dim_strided_and_disjoint_pass_or_raise_as_torch() -> None:
    base = np.arange(16, dtype=np.float32).reshape(4, 4)

    def same(x: object) -> None:
        x[1] = x[1]

    def zero_dim(x: object) -> None:
        x[0, 0] = x[0, 1]

    def whole(x: object) -> None:
        x.copy_(x)

    def transposed(x: object) -> None:  # same span, other strides: a partial overlap
        x.copy_(x.t())

    def strided(x: object) -> None:  # a non-dense target: torch's "too hard" case, no check
        x[:, ::2] = x[:, 1::2]

    def disjoint(x: object) -> None:
        x[:2] = x[2:]

    def other_tensor(x: object) -> None:
        x[1:] = x[:-1] * 1
    for fn, want in ((same, "ok"), (zero_dim, "ok"), (whole, "ok"), (transposed, "raised"), (strided, "ok"),
                     (disjoint, "ok"), (other_tensor, "ok")):
        assert agree(fn, base) == want, fn.__name__
    empty = np.zeros((0, 3), dtype=np.float32)

    def empty_copy(x: object) -> None:
        x[0:0] = x[0:0]
    assert agree(empty_copy, empty) == "ok"


CASES = {
    "setitem broadcast 0-d": lambda x: x.__setitem__(slice(0, 3), x[1]),
    "setitem broadcast one": lambda x: x.__setitem__(slice(0, 3), x[1:2]),
    "copy_ 0-d": lambda x: x[0:3].copy_(x[1]),
    "copy_ one": lambda x: x[0:3].copy_(x[1:2]),
    "setitem shifted": lambda x: x.__setitem__(slice(2, 5), x[0:3]),
    "setitem apart": lambda x: x.reshape(2, 3).__setitem__(slice(None), x[0:3]),
    "setitem into a 0-d result": lambda x: (x.sum() * 1).__setitem__((), x[0]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broadcast_and_scalar_values_like_torch(case: str) -> None:
    """torch's indexing expands a value broadcast to more elements before its copy (no overlap check then), where
    ``copy_`` checks the value as it is; a 0-d computed result holds a numpy scalar of its own memory here."""
    results = []
    for lib in (torch, tg):
        x = lib.arange(6.0)
        try:
            CASES[case](x)
            results.append(x.tolist())
        except RuntimeError:
            results.append("raises")
    assert results[1] == results[0]
