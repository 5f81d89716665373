"""What the Set Transformer program (``tests/torch_style/set_transformer.py``) met, against torch 2.13: the ``dtype``
argument of ``torch.softmax`` / ``torch.log_softmax`` / ``torch.special.softmax`` and of the ``Tensor.softmax`` /
``Tensor.log_softmax`` methods (``torch.softmax(x, 2, torch.float64)``, ``x.log_softmax(-1, dtype=...)``), which
casts the input first: ours took it only in ``F.softmax`` / ``F.log_softmax`` and raised TypeError elsewhere. And
a float16 softmax / log_softmax / logsumexp whose x - max passes float16's range (65504 next to -1e4) warned numpy's
"overflow encountered in subtract" RuntimeWarning, where torch is silent (the values were right: -inf, exp 0).

Mutations checked (each made the tests below fail, then was reverted):
- ``methods.softmax`` ignoring ``dtype`` (``reduce.softmax(self, ...)``): the result kept the input's dtype.
- ``methods.log_softmax`` casting the result instead of the input (``to(reduce.log_softmax(self, ...), dtype=...)``):
  an int64 input raised, and float16 results differed from torch's.
- ``reduce.quiet`` without ``over="ignore"``: the float16 test warned (RuntimeWarning, an error there).
- ``shifted_exp``'s ``exp`` outside ``quiet``: logsumexp of the float16 row holding inf warned (overflow in exp)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

FORMS = {  # (library, x, dim, dtype) -> result: every spelling torch takes
    "softmax_positional": lambda lib, x, dim, dtype: lib.softmax(x, dim, dtype),
    "softmax_keyword": lambda lib, x, dim, dtype: lib.softmax(x, dim=dim, dtype=dtype),
    "special_softmax": lambda lib, x, dim, dtype: lib.special.softmax(x, dim, dtype=dtype),
    "method_softmax": lambda lib, x, dim, dtype: x.softmax(dim, dtype=dtype),
    "log_softmax_positional": lambda lib, x, dim, dtype: lib.log_softmax(x, dim, dtype),
    "method_log_softmax": lambda lib, x, dim, dtype: x.log_softmax(dim, dtype),
}
VALUES = st.one_of(st.floats(-1e4, 1e4, width=16), st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 65504.0]))
TOL = {"float16": 2e-3, "float32": 2e-6, "float64": 1e-12}


@settings(deadline=None, max_examples=120)
@given(arrays("float64", st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple), elements=VALUES),
       st.sampled_from(["float16", "float32", "float64", "int64"]), st.sampled_from(sorted(FORMS)),
       st.sampled_from(["float16", "float32", "float64"]), st.data())
def test_softmax_dtype_casts_the_input_as_torch(x: np.ndarray, kind: str, form: str, dtype: str,
                                                data: st.DataObject) -> None:
    """Values and input gradients of every spelling, for float inputs and int64 ones (integers with a float dtype=
    are taken, as torch's), 0-d and empty ones included."""
    x = np.nan_to_num(x, nan=0, posinf=7, neginf=-7) if kind == "int64" else x
    x = x.astype(kind)
    dim = data.draw(st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1))
    grads = x.dtype.kind == "f"
    results = []
    for lib in (torch, tg):
        t = lib.tensor(x, requires_grad=grads)
        out = FORMS[form](lib, t, dim, getattr(lib, dtype))
        if grads:
            out.backward(lib.tensor(np.linspace(-1, 1, out.numel()).reshape(out.shape).astype(dtype)))
        results.append((out.detach().numpy(), t.grad.numpy() if grads else None))
    (want, want_grad), (got, got_grad) = results
    assert got.dtype == want.dtype == np.dtype(dtype) and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])
    if grads:
        assert got_grad.dtype == want_grad.dtype == x.dtype
        np.testing.assert_allclose(got_grad, want_grad, rtol=TOL[dtype], atol=10 * TOL[dtype])


@pytest.mark.parametrize("form", sorted(FORMS))
def test_softmax_without_dtype_keeps_the_input_dtype(form: str) -> None:
    x = np.array([[1.0, 2.0, -3.0], [np.inf, 0.0, 1.0]], np.float16)
    want, got = (FORMS[form](lib, lib.tensor(x), 1, None).numpy() for lib in (torch, tg))
    assert got.dtype == want.dtype == np.float16
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_float16_shift_past_the_range_is_silent_as_torch(op: str) -> None:
    x = np.array([[65504.0, -1e4, 0.0], [-65504.0, 65504.0, np.inf], [-np.inf, 1.0, 2.0]], np.float16)
    want, got = (getattr(lib.tensor(x), op)(1).numpy() for lib in (torch, tg))
    assert got.dtype == want.dtype == np.float16
    np.testing.assert_allclose(got, want, rtol=1e-3)
