"""The fifteenth stop's torch modules and functions against torch: Softmin, Softshrink, Hardshrink, Tanhshrink, the
padding modules (constant, zero, reflection, replication, circular; 1-3 dims), PixelShuffle / PixelUnshuffle,
PairwiseDistance, UpsamplingNearest2d / UpsamplingBilinear2d: values, gradients, reprs and refusals on generated
inputs (nan, inf, -0, values at the shrink bounds, empty batches)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import nn

torch = pytest.importorskip("torch")

VALUES = st.floats(-3, 3) | st.sampled_from([0.0, -0.0, 0.5, -0.5, 0.25, -0.25, np.nan, np.inf, -np.inf, 1e30])


def compare(ours: nn.Module, theirs: Any, x: np.ndarray, *more: np.ndarray, rtol: float = 1e-12,
            atol: float = 0.0, signs: bool = True, nan_grads: bool = True) -> None:
    """Same inputs through both: values (nan where nan, -0 kept), dtype and the gradients of sum(out * w)."""
    xs = [tg.Tensor(a, requires_grad=True) for a in (x, *more)]
    ts = [torch.tensor(a, requires_grad=True) for a in (x, *more)]
    out, ref = ours(*xs), theirs(*ts)
    assert out.shape == tuple(ref.shape) and out.dtype == x.dtype
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    if signs:
        np.testing.assert_array_equal(np.signbit(out.numpy()), np.signbit(ref.detach().numpy()))
    w = np.cos(np.arange(out.numel())).reshape(out.shape).astype(x.dtype)
    (out * tg.Tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for a, b, raw in zip(xs, ts, (x, *more)):
        where = np.ones(raw.shape, bool) if nan_grads else ~np.isnan(raw)
        np.testing.assert_allclose(np.asarray(a.grad.numpy())[where], b.grad.numpy()[where], rtol=rtol,
                                   atol=max(atol, 1e-300))


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
                  elements=VALUES), st.sampled_from([0.0, 0.25, 0.5, 2.0]))
def test_shrinks_match_torch(x: np.ndarray, lambd: float) -> None:
    for name in ("Softshrink", "Hardshrink"):
        ours, theirs = getattr(nn, name)(lambd), getattr(torch.nn, name)(lambd)
        assert repr(ours).startswith(repr(theirs))
        compare(ours, theirs, x, signs=name == "Hardshrink", nan_grads=False)  # (zeros' signs, nan: README)
    # (x - tanh(x) cancels near 0: an ulp of tanh(x) apart in the two libraries is what is left)
    compare(nn.Tanhshrink(), torch.nn.Tanhshrink(), x, rtol=1e-5 if x.dtype == np.float32 else 1e-12,
            atol=4 * float(np.finfo(x.dtype).eps), signs=False)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                  elements=st.floats(-50, 50) | st.sampled_from([np.inf, -np.inf])), st.data())
def test_softmin_matches_torch(x: np.ndarray, data: st.DataObject) -> None:
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    assert repr(nn.Softmin(dim)).startswith(repr(torch.nn.Softmin(dim)))
    compare(nn.Softmin(dim), torch.nn.Softmin(dim), x, rtol=1e-10, atol=1e-14)  # (a saturated row: noise)
    np.testing.assert_allclose(F.softmin(tg.Tensor(x.astype(np.float32)), dim, dtype="float64").numpy(),
                               torch.nn.functional.softmin(torch.tensor(x.astype(np.float32)), dim,
                                                           dtype=torch.float64).numpy(), rtol=1e-12)


PADS = [f"{kind}Pad{d}d" for kind in ("Constant", "Zero", "Reflection", "Replication", "Circular") for d in (1, 2, 3)]


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(PADS), st.data())
def test_padding_modules_match_torch(name: str, data: st.DataObject) -> None:
    dims = int(name[-2])
    batch = data.draw(st.sampled_from([(), (2,), (0,)])) if "Constant" in name or "Zero" in name else \
        data.draw(st.sampled_from([(), (2,)]))
    shape = (*batch, 2, *data.draw(st.tuples(*[st.integers(3, 5)] * dims)))
    x = data.draw(hnp.arrays(np.float64, shape, elements=VALUES))
    padding = data.draw(st.integers(0, 2) | st.tuples(*[st.integers(0, 2)] * (2 * dims)))
    args: tuple[Any, ...] = (padding, 3.5) if "Constant" in name else (padding,)
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours).startswith(repr(theirs))
    compare(ours, theirs, x, atol=1e-14)  # (an edge's gradient sums several terms of size 1, in its own order)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.sampled_from([(), (2,), (2, 1)]), st.integers(1, 2), st.integers(1, 3),
       st.integers(1, 3))
def test_pixel_shuffle_round_trip_matches_torch(r: int, batch: tuple[int, ...], c: int, h: int, w: int) -> None:
    x = np.random.default_rng(r * 100 + h * 10 + w).standard_normal((*batch, c * r * r, h, w))
    compare(nn.PixelShuffle(r), torch.nn.PixelShuffle(r), x)
    y = np.random.default_rng(0).standard_normal((*batch, c, h * r, w * r))
    compare(nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), y)
    np.testing.assert_array_equal(F.pixel_unshuffle(F.pixel_shuffle(tg.Tensor(x), r), r).numpy(), x)
    empty = F.pixel_shuffle(tg.ones(0, c * r * r, h, w, requires_grad=True), r)  # (torch's backward fails here)
    assert empty.shape == (0, c, h * r, w * r)


@settings(max_examples=120, deadline=None)
@given(st.data(), st.sampled_from([1, 2]), st.sampled_from([(2,), (3, 2)]))
def test_adaptive_max_pools_match_torch(data: st.DataObject, dims: int, batch: tuple[int, ...]) -> None:
    """Values, indices and gradients on uneven (overlapping) windows, with ties, nan and infinities."""
    spatial = data.draw(st.tuples(*[st.integers(1, 6)] * dims))
    x = data.draw(hnp.arrays(np.float64, (*batch, *spatial), elements=st.integers(-2, 2).map(float)
                             | st.sampled_from([np.nan, np.inf, -np.inf])))
    size = data.draw(st.tuples(*[st.integers(1, 7)] * dims)) if dims == 2 else data.draw(st.integers(1, 7))
    if dims == 2 and data.draw(st.booleans()):
        size = (None, size[1])
    name = f"AdaptiveMaxPool{dims}d"
    ours, theirs = getattr(nn, name)(size, return_indices=True), getattr(torch.nn, name)(size, return_indices=True)
    assert repr(ours).startswith(repr(theirs))
    xo, xt = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (out, idx), (ref, ref_idx) = ours(xo), theirs(xt)
    np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())
    assert idx.dtype == np.int64
    g = np.cos(np.arange(out.numel())).reshape(out.shape)
    (out * tg.Tensor(g)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_pairwise_distance_and_upsampling_modules_match_torch() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    for kw in ({}, {"p": 1.0, "keepdim": True}, {"p": np.inf, "eps": 0.0}):
        compare(nn.PairwiseDistance(**kw), torch.nn.PairwiseDistance(**kw), a, b)
    img = rng.standard_normal((2, 3, 4, 5))
    for ours, theirs in [(nn.UpsamplingNearest2d(scale_factor=2), torch.nn.UpsamplingNearest2d(scale_factor=2)),
                         (nn.UpsamplingNearest2d(size=(7, 3)), torch.nn.UpsamplingNearest2d(size=(7, 3))),
                         (nn.UpsamplingBilinear2d(scale_factor=2), torch.nn.UpsamplingBilinear2d(scale_factor=2)),
                         (nn.UpsamplingBilinear2d(size=(3, 9)), torch.nn.UpsamplingBilinear2d(size=(3, 9)))]:
        assert repr(ours).startswith(repr(theirs))
        compare(ours, theirs, img)
    assert repr(nn.Upsample(scale_factor=(2, 3))).startswith(repr(torch.nn.Upsample(scale_factor=(2, 3))))
    assert repr(nn.Upsample(size=4, mode="bilinear")).startswith(repr(torch.nn.Upsample(size=4, mode="bilinear")))


def test_shrinks_at_any_length_as_torch_s_short_or_long_loop() -> None:
    """torch's shrinks differ between its vector loop and its scalar loop (tensors of under 16 elements): softshrink's
    zeros are +0 in the first and -0 for negative x in the second, and a nan's gradient is 0 in the first and 1 in
    the second. Ours are the same at every length: +0, and 1 (a nan passes through as the outside branch's x)."""
    for n in (3, 16):
        x = np.full(n, -0.25)
        assert not np.signbit(F.softshrink(tg.Tensor(x)).numpy()).any()
        for fn in (F.softshrink, F.hardshrink):
            nan = tg.Tensor(np.full(n, np.nan), requires_grad=True)
            fn(nan).sum().backward()
            assert np.isnan(fn(nan).numpy()).all() and (nan.grad.numpy() == 1).all()
    assert not np.signbit(torch.nn.functional.softshrink(torch.tensor(np.full(16, -0.25)))).any()


def test_refusals() -> None:
    with pytest.raises(ValueError, match="lambd must be in"):
        F.softshrink(tg.ones(2), -1.0)
    with pytest.raises(TypeError, match="not implemented for dtype int64"):
        F.hardshrink(tg.Tensor(np.array([1, 2])))
    with pytest.raises(ValueError, match="divisible by upscale_factor"):
        F.pixel_shuffle(tg.ones(1, 3, 2, 2), 2)
    with pytest.raises(ValueError, match="divisible by downscale_factor"):
        F.pixel_unshuffle(tg.ones(1, 1, 3, 4), 2)
    with pytest.raises(ValueError, match="positive int"):
        nn.PixelShuffle(0)(tg.ones(1, 4, 2, 2))
    values, indices = F.max_pool2d(tg.ones(1, 1, 4, 4), 2, return_indices=True)
    with pytest.raises(ValueError, match="strictly within one stride"):
        F.max_unpool2d(values, indices, 2, output_size=(6, 4))
    with pytest.raises(ValueError, match="integer indices of its shape"):
        F.max_unpool2d(values, indices.float(), 2)
    with pytest.raises(ValueError, match="how many dims"):
        F.triplet_margin_with_distance_loss(tg.ones(4, 3), tg.ones(3), tg.ones(4, 3))


def test_review_fixes_edge_cases() -> None:
    """An empty batch through adaptive max pooling, a 0-d hard Gumbel sample, numpy ints as shuffle factors, a
    negative rrelu bound (torch only asks lower <= upper)."""
    out, idx = F.adaptive_max_pool2d(tg.ones(0, 3, 4, 4), (2, 2), return_indices=True)
    ref, ref_idx = torch.nn.functional.adaptive_max_pool2d(torch.ones(0, 3, 4, 4), (2, 2), return_indices=True)
    assert out.shape == tuple(ref.shape) and idx.shape == tuple(ref_idx.shape)
    assert F.gumbel_softmax(tg.Tensor(np.array(1.5)), hard=True).numpy() == 1.0
    assert F.pixel_shuffle(tg.ones(1, 4, 2, 2), np.int64(2)).shape == (1, 1, 4, 4)
    x = np.array([-2.0, 3.0])
    np.testing.assert_allclose(F.rrelu(tg.Tensor(x), -0.5, -0.1).numpy(),
                               torch.nn.functional.rrelu(torch.tensor(x), -0.5, -0.1).numpy(), rtol=1e-12)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("feature", [False, True])
def test_alpha_dropouts_follow_torch_s_formula(p: float, feature: bool) -> None:
    """Every output is a x + alpha a p (kept) or alpha a (p - 1) (dropped), alpha = 1.7581, as every torch output is;
    about p of the draws are dropped; whole channels with ``feature``; the gradient is a where kept, else 0."""
    x = np.random.default_rng(1).standard_normal((40, 50, 3))
    name = "feature_alpha_dropout" if feature else "alpha_dropout"
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha**2 * p + 1) * (1 - p))
    kept_value, dropped_value = a * x + alpha * a * p, np.full(x.shape, alpha * a * (p - 1))
    theirs = getattr(torch.nn.functional, name)(torch.tensor(x), p, True).numpy()
    xo = tg.Tensor(x, requires_grad=True)
    out = getattr(F, name)(xo, p, True)
    out.sum().backward()
    for result in (theirs, out.numpy()):
        kept = np.isclose(result, kept_value, rtol=1e-12, atol=1e-12)
        assert (kept | np.isclose(result, dropped_value, rtol=1e-12)).all()
    kept = np.isclose(out.numpy(), kept_value, rtol=1e-12, atol=1e-12)
    draws = kept[:, :, 0] if feature else kept
    assert abs((1 - draws.mean()) - p) < 5 * np.sqrt(p * (1 - p) / draws.size)
    if feature:
        assert (kept == kept[:, :, :1]).all()  # a channel is kept or dropped as a whole
    np.testing.assert_allclose(xo.grad.numpy(), np.where(kept, a, 0.0), rtol=1e-12)
    assert getattr(F, name)(xo, p) is xo  # torch's default training=False for these two functions
    assert getattr(nn, "FeatureAlphaDropout" if feature else "AlphaDropout")(p).eval()(xo) is xo
    assert (getattr(F, name)(tg.Tensor(x), 1.0, True).numpy() == 0).all()


def test_dropout1d_drops_whole_channel_rows() -> None:
    assert repr(nn.Dropout1d(0.1)).startswith(repr(torch.nn.Dropout1d(0.1)))
    for shape in ((30, 40, 6), (40, 6)):
        out = F.dropout1d(tg.Tensor(np.ones(shape)), 0.5).numpy()
        assert set(np.unique(out)) == {0.0, 2.0} and (out == out[..., :1]).all()
    with pytest.raises(ValueError, match=r"2-d .* or 3-d"):
        F.dropout1d(tg.ones(2, 3, 4, 5), 0.5)
    x = tg.ones(3, 4)
    assert nn.Dropout1d(0.5).eval()(x) is x


@settings(max_examples=100, deadline=None)
@given(st.data(), st.sampled_from([1, 2]), st.sampled_from([1.0, 2.0, 3.0, 1.5, np.inf, -np.inf]), st.booleans())
def test_lp_pools_match_torch(data: st.DataObject, dims: int, norm_type: float, ceil_mode: bool) -> None:
    spatial = data.draw(st.tuples(*[st.integers(2, 6)] * dims))
    x = data.draw(hnp.arrays(np.float64, (2, 2, *spatial), elements=st.floats(-3, 3) | st.sampled_from([0.0, 1.0])))
    kernel = data.draw(st.integers(1, min(spatial)))
    stride = data.draw(st.none() | st.integers(1, 3))
    name = f"LPPool{dims}d"
    ours, theirs = getattr(nn, name)(norm_type, kernel, stride, ceil_mode), \
        getattr(torch.nn, name)(norm_type, kernel, stride, ceil_mode)
    assert repr(ours).startswith(repr(theirs))
    xo, xt = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xo), theirs(xt)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-14)  # (nan where nan)
    g = np.cos(np.arange(out.numel())).reshape(out.shape)
    (out * tg.Tensor(g)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=120, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(0, 5), st.integers(1, 4)),
                  elements=st.integers(-2, 2).map(float) | st.floats(-3, 3)
                  | st.sampled_from([np.inf, -np.inf, np.nan])),
       st.sampled_from([2.0, 1.0, 0.0, 3.0, 0.5, np.inf]))
@example(np.array([[np.inf, 0.0, 1.0]]), 2.0)  # one row: no pairs, a zero gradient (it was nan: inf - inf)
@example(np.array([[np.inf, 0.0], [1.0, 2.0]]), 1.0)
def test_pdist_matches_torch(x: np.ndarray, p: float) -> None:
    """Including identical rows (a zero distance, whose gradient torch defines as 0), and infs and nans: a row's
    gradient comes only from its pairs (ours took the whole cdist, whose diagonal inf - inf spread nan)."""
    xo, xt = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = F.pdist(xo, p), torch.nn.functional.pdist(xt, p)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12)
    g = np.cos(np.arange(out.numel()))
    (out * tg.Tensor(g)).sum().backward()
    if not ref.numel():  # no pairs (torch 2.13's backward can crash the process here)
        np.testing.assert_array_equal(xo.grad.numpy(), np.zeros_like(x))
        return
    (ref * torch.tensor(g)).sum().backward()
    if p == np.inf and not np.isfinite(x).all():
        return  # torch's p = inf backward gives nan at an infinite difference, ours -+1 (the sign)
    np.testing.assert_array_equal(np.isnan(xo.grad.numpy()), np.isnan(xt.grad.numpy()))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_channel_shuffle_matches_torch() -> None:
    x = np.arange(2 * 6 * 3.0).reshape(2, 6, 3)
    for groups in (1, 2, 3, 6):
        assert repr(nn.ChannelShuffle(groups)).startswith(repr(torch.nn.ChannelShuffle(groups)))
        compare(nn.ChannelShuffle(groups), torch.nn.ChannelShuffle(groups), x)
    with pytest.raises(ValueError, match="divisible by groups"):
        F.channel_shuffle(tg.ones(1, 5, 2), 2)


def test_gumbel_softmax_samples_the_softmax() -> None:
    """The Gumbel-max trick: the argmax of a sample is category k with probability softmax(logits)[k]; soft
    samples sum to 1; ``hard`` gives one-hots whose gradient is the soft sample's (straight through)."""
    tg.manual_seed(0)
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    draws = F.gumbel_softmax(tg.Tensor(np.tile(logits, (20000, 1))), tau=0.5).numpy()
    np.testing.assert_allclose(draws.sum(-1), 1.0, rtol=1e-12)
    freq = np.bincount(draws.argmax(-1), minlength=4) / len(draws)
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.15, 0.05], atol=0.015)
    samples, grads = [], []
    for hard in (False, True):  # the same noise (the same seed): the hard sample's gradient is the soft one's
        x = tg.Tensor(np.tile(logits, (3, 2, 1)).transpose(0, 2, 1), requires_grad=True)  # categories along dim 1
        tg.manual_seed(5)
        sample = F.gumbel_softmax(x, tau=0.7, hard=hard, dim=1)
        (sample * tg.Tensor(np.arange(24.0).reshape(3, 4, 2))).sum().backward()
        samples.append(sample.numpy())
        grads.append(x.grad.numpy())
    soft, hard = samples
    assert set(np.unique(hard)) == {0.0, 1.0} and (hard.sum(1) == 1).all()
    np.testing.assert_array_equal(hard.argmax(1), soft.argmax(1))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)
    assert np.abs(grads[0]).sum() > 0


@pytest.mark.parametrize("name, args", [("relu_", ()), ("elu_", (0.5,)), ("celu_", (2.0,)), ("selu_", ()),
                                        ("leaky_relu_", (0.2,)), ("hardtanh_", (-0.5, 0.5)),
                                        ("threshold_", (0.1, -3.0)), ("rrelu_", (0.1, 0.3))])
def test_inplace_function_names_match_torch(name: str, args: tuple[float, ...]) -> None:
    x = np.array([[-2.0, -0.0, 0.05], [0.3, -0.7, 4.0]])
    ours, theirs = tg.Tensor(x.copy()), torch.tensor(x.copy())
    assert getattr(F, name)(ours, *args) is ours
    getattr(torch.nn.functional, name)(theirs, *args)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)  # (rrelu_: not training, the mean slope)
    assert getattr(F, name).__name__ == name


def test_with_indices_and_upsample_names_match_torch() -> None:
    x = np.random.default_rng(4).standard_normal((2, 3, 5, 6))
    for name, args in [("max_pool2d_with_indices", (2,)), ("adaptive_max_pool2d_with_indices", ((2, 4),))]:
        (v, i), (tv, ti) = getattr(F, name)(tg.Tensor(x), *args), getattr(torch.nn.functional, name)(torch.tensor(x),
                                                                                                   *args)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
    for name, args in [("max_pool1d_with_indices", (2, 1)), ("adaptive_max_pool1d_with_indices", (4,))]:
        (v, i), (tv, ti) = getattr(F, name)(tg.Tensor(x[0]), *args), getattr(torch.nn.functional, name)(
            torch.tensor(x[0]), *args)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
    for name, kw in [("upsample", {"scale_factor": 2, "mode": "bilinear"}), ("upsample_nearest", {"size": (7, 3)}),
                     ("upsample_bilinear", {"scale_factor": 2})]:
        with pytest.warns(UserWarning, match="deprecated"):
            ours = getattr(F, name)(tg.Tensor(x), **kw)
        theirs = getattr(torch.nn.functional, name)(torch.tensor(x), **kw)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_rrelu_draws_a_slope_per_negative_element() -> None:
    x = np.linspace(-3, 3, 2000)
    assert repr(nn.RReLU(0.1, 0.3, inplace=True)) == repr(torch.nn.RReLU(0.1, 0.3, inplace=True))
    xo = tg.Tensor(x, requires_grad=True)
    out = nn.RReLU(0.1, 0.3)(xo)  # training
    out.sum().backward()
    slopes = out.numpy()[x < 0] / x[x < 0]
    assert (slopes >= 0.1).all() and (slopes <= 0.3).all() and slopes.std() > 0.03
    np.testing.assert_array_equal(out.numpy()[x > 0], x[x > 0])
    np.testing.assert_allclose(xo.grad.numpy(), np.where(x > 0, 1.0, out.numpy() / np.where(x == 0, 1, x)),
                               rtol=1e-12)
    compare(nn.RReLU(0.1, 0.3).eval(), torch.nn.RReLU(0.1, 0.3).eval(), x)
    with pytest.raises(ValueError, match="lower <= upper"):
        F.rrelu(tg.Tensor(x), 0.5, 0.1, training=True)


def test_dropout3d_drops_whole_volumes() -> None:
    assert repr(nn.Dropout3d(0.2)) == repr(torch.nn.Dropout3d(0.2))
    for shape in ((4, 5, 2, 3, 2), (5, 2, 3, 2)):
        out = F.dropout3d(tg.Tensor(np.ones(shape)), 0.5).numpy()
        assert set(np.unique(out)) == {0.0, 2.0}
        assert (out.reshape(*shape[:-3], -1) == out.reshape(*shape[:-3], -1)[..., :1]).all()
    with pytest.raises(ValueError, match="4-d"):
        F.dropout3d(tg.ones(2, 3, 4), 0.5)


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_triplet_margin_with_distance_loss_matches_torch(swap: bool, reduction: str) -> None:
    rng = np.random.default_rng(7)
    a, p, n = (rng.standard_normal((6, 4)) for _ in range(3))
    assert repr(nn.TripletMarginWithDistanceLoss()).startswith(repr(torch.nn.TripletMarginWithDistanceLoss()))
    for ours_d, theirs_d in [(None, None), (lambda u, v: (u - v).abs().sum(-1), lambda u, v: (u - v).abs().sum(-1))]:
        ours = nn.TripletMarginWithDistanceLoss(distance_function=ours_d, margin=0.7, swap=swap, reduction=reduction)
        theirs = torch.nn.TripletMarginWithDistanceLoss(distance_function=theirs_d, margin=0.7, swap=swap,
                                                        reduction=reduction)
        compare(ours, theirs, a, p, n)
    with pytest.raises(ValueError, match=r"margin=0\.0 is not positive"):
        F.triplet_margin_with_distance_loss(tg.Tensor(a), tg.Tensor(p), tg.Tensor(n), margin=0.0)


@settings(max_examples=80, deadline=None)
@given(st.data(), st.sampled_from([1, 2]), st.integers(1, 3), st.integers(1, 3), st.booleans())
def test_max_unpool_matches_torch(data: st.DataObject, dims: int, kernel: int, stride: int, overlap: bool) -> None:
    """Unpooling torch's own pooling indices, overlapping windows (repeated indices) included, to the input's size
    and to the default size."""
    spatial = data.draw(st.tuples(*[st.integers(kernel, 7)] * dims))
    x = data.draw(hnp.arrays(np.float64, (2, 2, *spatial), elements=st.integers(-3, 3).map(float)))
    step = 1 if overlap else stride
    pool = getattr(torch.nn.functional, f"max_pool{dims}d")
    values, indices = pool(torch.tensor(x), kernel, step, return_indices=True)
    name = f"MaxUnpool{dims}d"
    ours_m, theirs_m = getattr(nn, name)(kernel, step), getattr(torch.nn, name)(kernel, step)
    assert repr(ours_m) == repr(theirs_m)
    for size in (None, spatial):
        try:
            ref = theirs_m(values.clone().requires_grad_(), indices, size)
        except (RuntimeError, ValueError):  # an index past the default plane: ours refuses it too
            with pytest.raises((IndexError, ValueError)):
                ours_m(tg.Tensor(values.numpy()), tg.Tensor(indices.numpy()), size)
            continue
        vo, vt = tg.Tensor(values.numpy(), requires_grad=True), values.clone().requires_grad_()
        out, ref = ours_m(vo, tg.Tensor(indices.numpy()), size), theirs_m(vt, indices, size)
        np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())
        g = np.cos(np.arange(out.numel())).reshape(out.shape)
        (out * tg.Tensor(g)).sum().backward()
        (ref * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(vo.grad.numpy(), vt.grad.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- torch functions and methods of this stop
MATH = ["asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "sinc", "arcsin", "arccos", "arctan",
        "arcsinh", "arccosh", "arctanh"]


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=0, max_dims=2, max_side=5),
                  elements=st.floats(-3, 3) | st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, np.nan, np.inf, -np.inf,
                                                               1e30, 90.0, -90.0, 1e-30])))
def test_inverse_and_hyperbolic_trig_match_torch(x: np.ndarray) -> None:
    """Values and gradients (domain edges: inf at +-1, nan outside), as functions, methods and in place."""
    for name in MATH:
        xo, xt = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, ref = getattr(tg, name)(xo), getattr(torch, name)(xt)
        rtol = 4e-6 if x.dtype == np.float32 else 1e-12
        assert out.dtype == x.dtype and out.shape == tuple(ref.shape)
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=rtol, atol=1e-30, err_msg=name)
        np.testing.assert_allclose(getattr(tg.Tensor(x), name)().numpy(), ref.detach().numpy(), rtol=rtol,
                                   atol=1e-30)
        if out.numel():
            g = np.cos(np.arange(out.numel())).reshape(out.shape).astype(x.dtype)
            (out * tg.Tensor(g)).sum().backward()
            (ref * torch.tensor(g)).sum().backward()
            atol = 1e-30
            if name == "sinc":  # (cos(pi x) - sinc x) / x cancels near 0: an ulp of each, over x, in either library;
                with np.errstate(all="ignore"):  # and cos(pi x) of a huge x is any number in [-1, 1]: |grad| <= 2 / x
                    huge = np.abs(x) > (1e4 if x.dtype == np.float32 else 1e12)
                    atol = np.nan_to_num(np.where(huge, 2.0, 8 * float(np.finfo(x.dtype).eps)) * np.abs(g) / np.abs(x),
                                         posinf=0.0)
                    atol = atol + 4 * np.abs(x * g)  # (torch's form loses all of the slope, -pi^2 x / 3, near 0:
                    # at x = 5e-324 it is 0, ours -1.5e-323)
            ours_g, ref_g = xo.grad.numpy(), xt.grad.numpy()
            assert np.array_equal(np.isnan(ours_g), np.isnan(ref_g)), name
            with np.errstate(invalid="ignore"):
                close = (ours_g == ref_g) | (np.abs(ours_g - ref_g) <= rtol * 4 * np.abs(ref_g) + atol)
            assert (close | np.isnan(ref_g)).all(), (name, ours_g, ref_g)
        inplace = tg.Tensor(x.copy())
        getattr(inplace, f"{name}_")()
        np.testing.assert_allclose(inplace.numpy(), ref.detach().numpy(), rtol=rtol, atol=1e-30)
    ints = np.array([0, 1, 2])
    np.testing.assert_allclose(tg.asin(tg.Tensor(ints)).numpy(), torch.asin(torch.tensor(ints)).numpy(), rtol=1e-6)


def test_shape_and_product_functions_match_torch() -> None:
    rng = np.random.default_rng(9)
    x, m, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    for ours, theirs in [
        (lambda t: t.tile(2), lambda t: t.tile(2)), (lambda t: t.tile((2, 1, 1, 3)), lambda t: t.tile((2, 1, 1, 3))),
        (lambda t: t.ravel(), lambda t: t.ravel()), (lambda t: t.fliplr(), lambda t: t.fliplr()),
        (lambda t: t.flipud(), lambda t: t.flipud()), (lambda t: t.unflatten(2, (2, -1)),
                                                       lambda t: t.unflatten(2, (2, -1))),
        (lambda t: tg.trace(t[0]), lambda t: torch.trace(t[0])),
    ]:
        compare(ours, theirs, x)
    compare(lambda a, b: tg.mv(a, b), lambda a, b: torch.mv(a, b), m, v)
    compare(lambda a, b: tg.dot(a, b), lambda a, b: torch.dot(a, b), v, v[::-1].copy())
    assert tg.trace(tg.Tensor(np.arange(9).reshape(3, 3))).dtype == np.int64
    with pytest.raises(ValueError, match="fliplr: needs a tensor of at least 2 dims"):
        tg.ones(3).fliplr()
    with pytest.raises(ValueError, match="dot: needs two 1-D tensors"):
        tg.dot(tg.ones(3), tg.ones(4))
    with pytest.raises(ValueError, match="mv: needs a matrix"):
        tg.mv(tg.ones(3, 2), tg.ones(3))


def test_module_cpu_and_cuda() -> None:
    from tinygrad_adam.backend import DeviceError

    m = nn.Linear(2, 3)
    assert m.cpu() is m and m.weight.device == "cpu"
    try:
        moved = nn.Linear(2, 3).cuda()
    except DeviceError as e:  # no GPU: the same one-line refusal as .to("cuda")
        assert "cuda" in str(e)
    else:
        assert moved.weight.device.startswith("cuda")


@pytest.mark.gpu
def test_module_cuda_moves_to_the_gpu() -> None:
    m = nn.Linear(2, 3).cuda()
    assert m.weight.device.startswith("cuda") and m.cuda(0).bias.device.startswith("cuda")
    assert m.cpu().weight.device == "cpu"


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from([np.float32, np.float64]))
def test_fmax_fmin_logaddexp2_and_inf_tests_match_torch(data: st.DataObject, dtype: type) -> None:
    """Broadcast pairs with nan on either side, ties and infinities; values and gradients."""
    (sa, sb), _ = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3))
    elems = st.integers(-2, 2).map(float) | st.sampled_from([np.nan, np.inf, -np.inf, 0.5, -0.0, 1e30])
    a, b = (data.draw(hnp.arrays(dtype, s, elements=elems)) for s in (sa, sb))
    finite = np.abs(np.concatenate([a.ravel(), b.ravel()]))
    finite = finite[np.isfinite(finite)]
    scale = 4 * float(np.finfo(dtype).eps) * (1 + (finite.max() if finite.size else 0))  # (a sum of logs: rounding)
    for name in ("fmax", "fmin", "logaddexp2"):
        compare(lambda x, y, n=name: getattr(tg, n)(x, y), lambda x, y, n=name: getattr(torch, n)(x, y), a, b,
                rtol=1e-5 if dtype == np.float32 else 1e-12, signs=name != "logaddexp2",
                atol=scale if name == "logaddexp2" else 0.0)
    for name in ("isposinf", "isneginf"):
        np.testing.assert_array_equal(getattr(tg, name)(tg.Tensor(a)).numpy(), getattr(torch, name)(torch.tensor(a)))


def test_rot90_splits_inner_vdot_diagflat_match_torch() -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4, 5))
    for k in (-1, 0, 1, 2, 3, 5):
        for dims in ((0, 1), (2, 0), (-1, 1)):
            compare(lambda t, k=k, d=dims: t.rot90(k, d), lambda t, k=k, d=dims: t.rot90(k, d), x)
    for how, dim in ((2, 1), (3, 2), ([1, 3], 1), ([-2, 7, 1], 2), (4, 0)):
        ours, theirs = tg.Tensor(x).tensor_split(how, dim), torch.tensor(x).tensor_split(how, dim)
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            np.testing.assert_array_equal(o.numpy(), t.numpy())
    for name, how in (("hsplit", 2), ("vsplit", 3), ("dsplit", [1, 4]), ("hsplit", [1])):
        for o, t in zip(getattr(tg, name)(tg.Tensor(x), how), getattr(torch, name)(torch.tensor(x), how)):
            np.testing.assert_array_equal(o.numpy(), t.numpy())
    with pytest.raises(ValueError, match="must divide dim 1"):
        tg.hsplit(tg.Tensor(x), 3)
    compare(lambda a, b: tg.inner(a, b), lambda a, b: torch.inner(a, b), x, rng.standard_normal((2, 5)))
    compare(lambda a, b: tg.vdot(a, b), lambda a, b: torch.vdot(a, b), x[0, 0], x[1, 1])
    for offset in (0, 2, -1):
        compare(lambda t, o=offset: tg.diagflat(t, o), lambda t, o=offset: torch.diagflat(t, o), x[0, :2])


@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, -2.0), (0, 1), (1, 0)])
def test_add_products_match_torch(beta: float, alpha: float) -> None:
    """addmv, addr, baddbmm, addbmm: values and gradients; a zero beta or alpha leaves its term out, nan and inf
    included (as torch)."""
    rng = np.random.default_rng(12)
    with_nan = rng.standard_normal((2, 3))
    with_nan[0, 0], with_nan[1, 2] = np.nan, np.inf
    cases = {"addmv": (with_nan[:, 0], rng.standard_normal((2, 4)), rng.standard_normal(4)),
             "addr": (with_nan, rng.standard_normal(2), rng.standard_normal(3)),
             "baddbmm": (np.broadcast_to(with_nan, (5, 2, 3)).copy(), rng.standard_normal((5, 2, 4)),
                         rng.standard_normal((5, 4, 3))),
             "addbmm": (with_nan, rng.standard_normal((5, 2, 4)), rng.standard_normal((5, 4, 3)))}
    for name, args in cases.items():
        if beta != 0:  # (with beta = 0 torch's gradient for the input is nan where it holds nan: the term is dropped)
            args = (np.nan_to_num(args[0], nan=0.5, posinf=2.0), *args[1:])
        compare(lambda *t, n=name: getattr(tg, n)(*t, beta=beta, alpha=alpha),
                lambda *t, n=name: getattr(torch, n)(*t, beta=beta, alpha=alpha), *args, rtol=1e-10)
    with pytest.raises(ValueError, match="addmv: expected a matrix"):
        tg.addmv(tg.ones(2), tg.ones(2, 3), tg.ones(4))


def test_cross_and_matrix_power_match_torch() -> None:
    rng = np.random.default_rng(13)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((1, 3))
    compare(lambda x, y: tg.cross(x, y, dim=-1), lambda x, y: torch.cross(x, y, dim=-1), a, b)
    with pytest.raises(ValueError, match="how many dims"):
        tg.cross(tg.ones(4, 3), tg.ones(3), dim=-1)
    compare(lambda x, y: x.cross(y, 0), lambda x, y: x.cross(y, 0), a.T.copy(), a[::-1].T.copy())
    with pytest.warns(UserWarning, match="cross with no dim is deprecated"):
        np.testing.assert_allclose(tg.cross(tg.Tensor(a.T.copy()), tg.Tensor(a.T.copy() * 2)).numpy(), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="must have size 3"):
        tg.cross(tg.ones(4, 3), tg.ones(4, 3), dim=0)
    m = rng.standard_normal((2, 3, 3))
    for n in (0, 1, 2, 3, 5, -1, -2):
        compare(lambda t, n=n: t.matrix_power(n), lambda t, n=n: t.matrix_power(n), m, rtol=1e-9)
    with pytest.raises(ValueError, match="square matrices"):
        tg.ones(2, 3).matrix_power(2)
