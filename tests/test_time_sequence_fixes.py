"""What pytorch/examples' time_sequence_prediction program (ported twice; the second port, a twin of
``tests/torch_style/pytorch_examples_small.py``'s, was dropped) met with ``future=0``, against torch 2.13. Its
test loss is ``criterion(pred[:, :-future], test_target)``: a ``future`` of 0 makes that slice empty, and the
mean of no elements is nan in torch, silently. Ours gave the nan with numpy's RuntimeWarnings ("Mean of empty
slice", "invalid value encountered in divide"), which a run under ``-W error`` (or a test comparing warnings) turns
into a failure; ``Tensor.mean`` and the mean-reduced losses (``mse_loss``, ``l1_loss``, ...) all went there.

Mutations (each made the tests below fail, then was reverted):
- ``mean``'s empty case removed (numpy's ``mean`` for every input): "Mean of empty slice" comes back.
- the empty case's division outside ``quiet``: "invalid value encountered in divide" comes back."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

# (no squares past float16's range, nor inf - inf: numpy warns there, torch does not, in every op; README says why)
VALUES = st.floats(-100, 100, width=16) | st.sampled_from([np.nan, np.inf])


@settings(deadline=None, max_examples=150)
@given(shape=st.lists(st.integers(0, 3), max_size=3), data=st.data(),
       dtype=st.sampled_from(["float16", "float32", "float64"]), keepdim=st.booleans(),
       form=st.sampled_from(["mean", "mse_loss", "l1_loss"]))
def test_the_mean_of_no_elements_is_nan_without_warnings_as_torch(shape: list[int], data: st.DataObject, dtype: str,
                                                                   keepdim: bool, form: str) -> None:
    """``x.mean()`` / ``x.mean(dims)`` (any dims, keepdim or not) and the mean-reduced losses, on shapes with and
    without an empty dimension and values with nan / inf: the value, dtype, shape, gradient and warnings
    (none) of torch's."""
    size = int(np.prod(shape))
    x = np.array(data.draw(st.lists(VALUES, min_size=size, max_size=size)), dtype=dtype).reshape(shape)
    dims = data.draw(st.none() | st.lists(st.integers(0, len(shape) - 1), unique=True, min_size=1).map(tuple)
                     if shape else st.none())

    def run(lib: object) -> tuple[list[str], np.ndarray, np.ndarray]:
        t = lib.tensor(x, requires_grad=True)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            if form == "mean":
                out = t.mean() if dims is None else t.mean(dims, keepdim=keepdim)
            else:
                out = getattr(lib.nn.functional, form)(t, lib.zeros(shape, dtype=t.dtype))
            out.sum().backward()
        return [str(w.message) for w in seen], out.detach().numpy(), t.grad.numpy()

    (want_w, want, want_grad), (got_w, got, got_grad) = run(torch), run(tg)
    assert got_w == want_w == []
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=2e-3 if dtype == "float16"
                               else 1e-5, atol=0)
    assert got_grad.shape == want_grad.shape
    if size == 0 or got.size == 0:
        assert np.isnan(got).all()  # (an empty result is vacuously so)


@pytest.mark.parametrize(("values", "call"), [
    (np.zeros((2, 0)), lambda t: t.mean()), (np.zeros((2, 0)), lambda t: t.mean(1)),
    (np.ones((3, 4)), lambda t: t[:, :-0].mean()),  # the program's pred[:, :-future] with future = 0
])
def test_the_cases_that_warned(values: np.ndarray, call: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = call(tg.tensor(values))
    assert np.isnan(out.numpy()).all()
