"""What the Transformer-XL program (``tests/torch_style/transformer_xl.py``) met, against torch 2.13.

- ``torch.zeros_like(target, dtype=hidden.dtype, device=hidden.device)`` (ProjectedAdaptiveLogSoftmax's nll): torch's
  ``*_like`` creators take ``device=``; ours raised TypeError (loud) for ``zeros_like``, ``ones_like``, ``full_like``,
  ``empty_like``, ``rand_like`` and ``randn_like``. Now each takes it (None: the input's device)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

def name_of(dtype: object) -> str:
    """``float32`` for ours' and torch's ``torch.float32`` alike."""
    return str(dtype).split(".")[-1]


SHAPES = st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple)  # 0-d and empty included
DTYPES = st.sampled_from(["float32", "float64", "int64", "int32", "bool", None])


@settings(max_examples=40, deadline=None)
@given(shape=SHAPES, dtype=DTYPES, src=st.sampled_from(["int64", "float32"]),
       device=st.sampled_from(["cpu", None]), value=st.sampled_from([0, 7, -1.5, 1e38, float("-inf")]))
def test_like_creators_take_device(shape: tuple[int, ...], dtype: str | None, src: str, device: str | None,
                                   value: float) -> None:
    x = np.arange(int(np.prod(shape)), dtype=src).reshape(shape)
    ours_x, theirs_x = tg.from_numpy(x), torch.from_numpy(x)
    kw_o = {} if dtype is None else {"dtype": getattr(tg, dtype)}
    kw_t = {} if dtype is None else {"dtype": getattr(torch, dtype)}
    kw_o["device"] = kw_t["device"] = device
    for name in ("zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"):
        if name in ("rand_like", "randn_like") and (dtype or src) not in ("float32", "float64"):
            continue
        got, want = getattr(tg, name)(ours_x, **kw_o), getattr(torch, name)(theirs_x, **kw_t)
        assert tuple(got.shape) == tuple(want.shape) and name_of(got.dtype) == name_of(want.dtype), name
        assert str(got.device) == "cpu"
        if name in ("zeros_like", "ones_like"):
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    if (dtype or src) == "bool" or ((dtype or src).startswith("int") and not float(value).is_integer()):
        return
    if (dtype or src) in ("int64", "int32") and abs(value) > 2 ** 31:
        return
    got = tg.full_like(ours_x, value, **kw_o)
    want = torch.full_like(theirs_x, value, **kw_t)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert name_of(got.dtype) == name_of(want.dtype)


def test_program_spelling() -> None:
    """The nll buffer as ProjectedAdaptiveLogSoftmax makes it: int64 target's shape, the hidden's dtype and device."""
    target, hidden = tg.tensor([3, 1, 4]), tg.zeros(3, 2, dtype=tg.float64)
    nll = tg.zeros_like(target, dtype=hidden.dtype, device=hidden.device)
    want = torch.zeros_like(torch.tensor([3, 1, 4]), dtype=torch.float64, device=torch.device("cpu"))
    assert name_of(nll.dtype) == name_of(want.dtype) and nll.tolist() == want.tolist()
