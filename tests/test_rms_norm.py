"""RMSNorm and F.rms_norm against torch on generated inputs (huge, tiny, zero rows, nan and inf; 0-d trailing
shapes are not allowed), eps given or the dtype's machine epsilon, with and without a weight."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import nn

torch = pytest.importorskip("torch")

VALUES = st.floats(-10, 10) | st.sampled_from([0.0, -0.0, 1e-20, 1e15, -3e4, np.nan, np.inf])


@settings(max_examples=150, deadline=None)
@given(st.data(), hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5),
       st.sampled_from([np.float32, np.float64]), st.booleans())
def test_rms_norm_matches_torch(data: st.DataObject, shape: tuple[int, ...], dtype: type, affine: bool) -> None:
    x = data.draw(hnp.arrays(dtype, shape, elements=VALUES))
    k = data.draw(st.integers(1, len(shape)))
    normalized = shape[len(shape) - k:]
    eps = data.draw(st.none() | st.sampled_from([1e-5, 1e-6, 0.0]))
    w = data.draw(hnp.arrays(dtype, normalized, elements=st.floats(-3, 3))) if affine else None
    xo, xt = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    wo, wt = (None, None) if w is None else (tg.Tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True))
    out, ref = F.rms_norm(xo, normalized, wo, eps), torch.nn.functional.rms_norm(xt, normalized, wt, eps)
    rtol, atol = (2e-5, 1e-6) if dtype is np.float32 else (1e-12, 1e-14)
    assert out.dtype == dtype and out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    g = np.cos(np.arange(out.numel())).reshape(out.shape).astype(dtype)
    (out * tg.Tensor(g)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    axes = tuple(range(x.ndim - k, x.ndim))
    with np.errstate(all="ignore"):  # the size of the gradient's terms, |g| / rms(x): cancellation leaves noise of it
        inv_rms = 1 / np.sqrt((x.astype(np.float64) ** 2).mean(axis=axes, keepdims=True)
                              + (np.finfo(dtype).eps if eps is None else eps))
        terms = np.abs(g) * inv_rms * (1 if w is None else np.abs(w))
    big = np.finfo(dtype).max ** (1 / 3) / 10  # (7e11 for float32, 5.6e101 for float64)
    if x.size and (np.nanmin(inv_rms) < 1 / big or np.nanmax(inv_rms) > big):
        return  # torch's backward forms 1 / rms^3, which under- or overflows here: its gradient is off (README)
    close(xo.grad.numpy(), xt.grad.numpy(), rtol * 10, terms)
    if w is not None:  # (the weight's gradient sums g x / rms(x), whatever w is: the noise scale leaves w out, or a
        # w near 0 shrank it below the rounding of the sum; a local hypothesis run met that)
        with np.errstate(all="ignore"):
            close(wo.grad.numpy(), wt.grad.numpy(), rtol * 10, np.abs(g * x * inv_rms))


def close(ours: np.ndarray, theirs: np.ndarray, rtol: float, terms: np.ndarray) -> None:
    """Equal to ``rtol`` of the largest finite term of the gradient: where terms cancel (x / rms(x) has a zero
    gradient where a row is one non-zero value), both libraries leave rounding noise of that size."""
    finite = terms[np.isfinite(terms)]
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * (finite.max() if finite.size else 0.0))


def test_rms_norm_by_hand_and_default_eps() -> None:
    x = tg.Tensor(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(F.rms_norm(x, 2, eps=0.0).numpy()[0], [3 / np.sqrt(12.5), 4 / np.sqrt(12.5)])
    assert F.rms_norm(x, 2).numpy()[1].tolist() == [0.0, 0.0]  # eps = float64's epsilon keeps a zero row finite
    tiny = tg.Tensor(np.full((1, 4), 1e-9, dtype=np.float32))
    np.testing.assert_allclose(F.rms_norm(tiny, 4).numpy(),
                               1e-9 / np.sqrt(np.float32(1e-18) + np.finfo(np.float32).eps), rtol=1e-6)


def test_rms_norm_float16_and_mixed_dtypes_as_torch() -> None:
    """float16 is computed in float32 with float32's epsilon; the result has the input's dtype whatever the
    weight's."""
    for x in (np.array([[1e-3, 1e-3], [300.0, 200.0]], np.float16), np.array([[1.0, -2.0]], np.float32)):
        for w in (None, np.array([1.0, 2.0], np.float64), np.array([0.5, 3.0], np.float16)):
            out = F.rms_norm(tg.Tensor(x), 2, None if w is None else tg.Tensor(w))
            ref = torch.nn.functional.rms_norm(torch.tensor(x), (2,), None if w is None else torch.tensor(w))
            assert out.dtype == x.dtype
            np.testing.assert_allclose(out.numpy().astype(np.float64), ref.numpy().astype(np.float64), rtol=2e-3)
    with pytest.raises(ValueError, match="at least one"):
        F.rms_norm(tg.ones(3), ())


def test_rms_norm_module_and_refusals() -> None:
    ours, theirs = nn.RMSNorm((2, 3), eps=1e-5), torch.nn.RMSNorm((2, 3), eps=1e-5)
    assert repr(ours).startswith(repr(theirs)) and list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(nn.RMSNorm(4, elementwise_affine=False)).startswith(repr(torch.nn.RMSNorm(4, elementwise_affine=False)))
    assert nn.RMSNorm(4, elementwise_affine=False).weight is None
    with pytest.raises(ValueError, match="must be the trailing dims"):
        F.rms_norm(tg.ones(2, 3), (4,))
    with pytest.raises(ValueError, match=r"weight has shape \(2,\), expected normalized_shape \(3,\)"):
        F.rms_norm(tg.ones(2, 3), 3, tg.ones(2))
    with pytest.raises(TypeError, match="floating-point"):
        F.rms_norm(tg.Tensor(np.ones((2, 3), dtype=np.int64)), 3)
