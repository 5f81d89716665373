"""nn.Bilinear / F.bilinear and nn.Softmax2d against torch: values and gradients on generated inputs (empty
batches, unbatched inputs, NaN / inf), the weight initialisation's bound, and the errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch")

VALUES = st.one_of(st.floats(-3, 3), st.sampled_from([0.0, -0.0, 1e30, -1e30, float("nan"), float("inf")]))


def array(draw, shape, dtype):
    data = draw(st.lists(VALUES, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return np.asarray(data, dtype=dtype).reshape(shape)


def close(ours, theirs, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(np.asarray(ours), theirs.detach().numpy(), rtol=tol, atol=tol, equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_bilinear_matches_torch(data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    lead = data.draw(st.sampled_from([(), (0,), (3,), (2, 3)]))
    in1, in2, out = (data.draw(st.integers(1, 4)) for _ in range(3))
    x1, x2 = array(data.draw, lead + (in1,), dtype), array(data.draw, lead + (in2,), dtype)
    w, b = array(data.draw, (out, in1, in2), dtype), array(data.draw, (out,), dtype)
    bias = data.draw(st.booleans())
    ours = [tg.tensor(a, requires_grad=True) for a in (x1, x2, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x1, x2, w, b)]
    y = tg.nn.functional.bilinear(*ours[:3], ours[3] if bias else None)
    ty = torch.nn.functional.bilinear(*theirs[:3], theirs[3] if bias else None)
    assert y.shape == tuple(ty.shape) and y.dtype == np.dtype(dtype)
    finite = np.isfinite(np.concatenate([a.ravel() for a in (x1, x2, w, b)])).all()
    # a bound on every partial product (x1 w x2, or two of them with g): with 1e30 entries a sum of them may
    # overflow (float32), or cancel to a rounding error of the products' size (float64: 6e43 with BLAS's fused
    # multiply-add where torch's order gives 0), so the tolerance grows with it, and overflow goes to the forward check
    scale = float(np.prod([np.abs(a).max(initial=1.0) for a in (x1, w, x2)])) * in1 * in2
    eps = np.finfo(dtype).eps
    if finite and scale < np.finfo(dtype).max:  # gradients only where every input is finite
        atol = 1e-5 if dtype == np.float32 else 1e-12
        same = lambda ours, theirs: np.testing.assert_allclose(  # noqa: E731
            np.asarray(ours), theirs.detach().numpy(), rtol=atol, atol=atol + 8 * eps * scale)
        same(y.data, ty)
        g = np.cos(np.arange(y.size, dtype=dtype)).reshape(y.shape)
        y.backward(tg.tensor(g))
        ty.backward(torch.tensor(g))
        for a, ta in zip(ours[:3] + ([ours[3]] if bias else []), theirs):
            same(a.grad.data, ta.grad)
    elif finite:  # products beyond the dtype: where both stay finite they agree within rounding of the products
        t, yd = ty.detach().numpy(), y.detach().numpy()  # (arrays: numpy on a Tensor gives torch's uint8 masks)
        ok = np.isfinite(yd) & np.isfinite(t)
        np.testing.assert_allclose(yd[ok], t[ok], rtol=1e-5, atol=8 * eps * scale)
    else:  # where torch's value is finite ours equals it within the rounding of the finite inputs' products (1e30
        # 1e30 - 1e30 1e30 is 8.8e43 here in float64, 0 in torch), and where it is nan or inf ours is not finite either
        t, yd = ty.detach().numpy(), y.detach().numpy()
        ok = np.isfinite(t)
        scale = float(np.prod([np.abs(a[np.isfinite(a)]).max(initial=1.0) for a in (x1, w, x2)])) * in1 * in2
        np.testing.assert_allclose(yd[ok], t[ok], rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-12 + 8 * eps * min(scale, np.finfo(dtype).max))
        assert not np.isfinite(yd[~ok]).any()


def test_bilinear_module_layout_and_init():
    tg.manual_seed(0)
    m = tg.nn.Bilinear(16, 3, 4)
    assert m.weight.shape == (4, 16, 3) and m.bias.shape == (4,)
    assert set(m.state_dict()) == set(torch.nn.Bilinear(16, 3, 4).state_dict())
    bound = 1 / 4  # 1/sqrt(in1_features), torch's
    for p in (m.weight, m.bias):
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > bound / 2
    assert tg.nn.Bilinear(2, 3, 4, bias=False).bias is None
    with pytest.raises(ValueError, match="in1_features=16"):
        m(tg.zeros(2, 15), tg.zeros(2, 3))
    with pytest.raises(ValueError, match="leading dimensions"):
        m(tg.zeros(2, 16), tg.zeros(3, 3))
    with pytest.raises(ValueError, match="3-D"):
        tg.nn.functional.bilinear(tg.zeros(2, 3), tg.zeros(2, 3), tg.zeros(3, 3))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_softmax2d_matches_torch(data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    shape = data.draw(st.sampled_from([(2, 3, 4), (1, 2, 3, 4), (0, 3, 2, 2), (2, 1, 2, 3)]))
    x = array(data.draw, shape, dtype)
    a, ta = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = tg.nn.Softmax2d()(a), torch.nn.Softmax2d()(ta)
    close(y.data, ty, dtype)
    g = np.sin(np.arange(y.size, dtype=dtype)).reshape(shape)
    y.backward(tg.tensor(g))
    ty.backward(torch.tensor(g))
    close(a.grad.data, ta.grad, dtype)


def test_softmax2d_rejects_other_ranks():
    with pytest.raises(ValueError, match="Softmax2d: expected 3-D"):
        tg.nn.Softmax2d()(tg.zeros(2, 3))
