"""Fixes found by porting Hugging Face's GPT-2 (tests/torch_style/hf_gpt2.py), each against torch 2.13.

- ``torch.isin`` took a Python list / tuple / numpy array as ``elements`` or ``test_elements`` (torch raises
  TypeError: a Tensor or a number only; HF's MinLengthLogitsProcessor passes ``torch.tensor(eos_token_id)``) and
  computed on bool tensors or a Python bool (torch raises RuntimeError: "Unsupported input type encountered for
  isin(): Bool"; ours now raises TypeError, README's rule for dtype errors). Ours answered where torch refuses.

Mutations run (each made the hypothesis test fail, then was restored):
- the Tensor-or-number check removed (a list, tuple or array was taken again)
- the bool check removed (bool tensors and Python bools computed again)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
from tinygrad_adam.ops.factor import DtypeError

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

VALUES = st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, 1e30, -1e-30, np.inf, -np.inf, np.nan, 7.0])


def outcome(fn: Any, ours_raises: type | None = None) -> tuple:
    """("ok", numpy result) or ("raise", exception type) for fn(lib) in each library, checked equal (ours raising
    ``ours_raises`` where given: a dtype error is a TypeError here, a RuntimeError in torch)."""
    results = []
    for lib in (torch, tg):
        try:
            results.append(("ok", np.asarray(fn(lib).numpy())))
        except Exception as e:  # the exception type is what is compared
            results.append(("raise", type(e)))
    (k0, v0), (k1, v1) = results
    assert k0 == k1, results
    if k0 == "ok":
        np.testing.assert_array_equal(v1, v0)
        assert v1.dtype == v0.dtype == bool and v1.shape == v0.shape
    else:
        assert v1 is (ours_raises or v0), results
    return results[0]


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), elements=VALUES),
       test=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4), elements=VALUES),
       invert=st.booleans(), data=st.data())
def test_isin_takes_tensors_and_numbers_only_and_refuses_bool(x: np.ndarray, test: np.ndarray, invert: bool,
                                                               data: st.DataObject) -> None:
    ints = x.astype(np.int64, copy=False) if np.isfinite(x).all() and (np.abs(x) < 1e9).all() else np.zeros_like(
        x, np.int64)
    for a in (x, ints):
        assert outcome(lambda lib, a=a: lib.isin(lib.tensor(a), lib.tensor(test), invert=invert))[0] == "ok"
        number = data.draw(st.sampled_from([2.5, 7, np.int64(1), np.float32(-0.0), np.bool_(True)]))
        assert outcome(lambda lib, a=a, n=number: lib.isin(lib.tensor(a), n))[0] == "ok"
        assert outcome(lambda lib, a=a, n=number: lib.isin(n, lib.tensor(a)))[0] == "ok"
        other = data.draw(st.sampled_from([test.ravel().tolist(), tuple(test.ravel().tolist()), test,
                                           np.array(2.0)]))
        assert outcome(lambda lib, a=a, o=other: lib.isin(lib.tensor(a), o)) == ("raise", TypeError)
        assert outcome(lambda lib, a=a, o=other: lib.isin(o, lib.tensor(a))) == ("raise", TypeError)
        bools = [lambda lib, a=a: lib.isin(lib.tensor(a), True), lambda lib, a=a: lib.isin(False, lib.tensor(a)),
                 lambda lib, a=a: lib.isin(lib.tensor(a), lib.tensor(a) > 0),
                 lambda lib, a=a: lib.isin(lib.tensor(a) > 0, lib.tensor(test))]
        for fn in bools:  # torch's RuntimeError, ours the DtypeError that is both a TypeError and a RuntimeError
            assert outcome(fn, DtypeError) == ("raise", RuntimeError)


def test_min_length_processor_idiom() -> None:
    """HF's ``torch.isin(vocab_tensor, torch.tensor([eos]))`` mask under ``torch.where(mask, -math.inf, scores)``."""
    scores = np.random.default_rng(0).standard_normal((2, 10)).astype(np.float32)
    got = []
    for lib in (torch, tg):
        mask = lib.isin(lib.arange(10), lib.tensor([7, 9]))
        got.append(lib.where(mask, -np.inf, lib.from_numpy(scores)).numpy())
    np.testing.assert_array_equal(got[1], got[0])
    assert np.isinf(got[1][:, [7, 9]]).all() and np.isfinite(got[1][:, :7]).all()
