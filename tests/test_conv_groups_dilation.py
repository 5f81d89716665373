"""Convolutions with torch's full argument set: groups, dilation, padding 'same' / 'valid', unbatched input, and
the layers' padding_mode, against torch (values and gradients, float64 and float32), with inf / nan weights
(the input gradient's scatter path) and the errors torch gives."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv_pool_resize_names import both, data, dtypes

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def grouped(d: st.DataObject) -> tuple[int, int, int]:
    """(groups, in_channels, out_channels), both channel counts multiples of groups."""
    g = d.draw(st.integers(1, 3))
    return g, g * d.draw(st.integers(1, 2)), g * d.draw(st.integers(1, 2))


@settings(max_examples=60, deadline=None)
@given(st.data(), dtypes, st.integers(0, 2), st.booleans(), st.booleans())
def test_conv2d_groups_dilation_padding_match_torch(d: st.DataObject, dtype: type, n: int, bias: bool,
                                                    unbatched: bool) -> None:
    g, c, o = grouped(d)
    k = (d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)))
    dil = (d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)))
    padding = d.draw(st.sampled_from(["same", "valid", 0, 1, (2, 0)]))
    s = (1, 1) if padding == "same" else (d.draw(st.integers(1, 2)), d.draw(st.integers(1, 2)))
    low = [0 if padding == "same" else dil[i] * (k[i] - 1) + 1 - 2 * F.pair(0 if padding == "valid" else padding,
                                                                            "p", 0)[i] for i in range(2)]
    size = tuple(d.draw(st.integers(max(1, low[i]), max(1, low[i]) + 4)) for i in range(2))
    x = data(d.draw, (c, *size) if unbatched else (n, c, *size), dtype)
    arrays = [x, data(d.draw, (o, c // g, *k), dtype)] + ([data(d.draw, (o,), dtype)] if bias else [])
    kw = {"stride": s, "padding": padding, "dilation": dil, "groups": g}
    both(lambda *a: F.conv2d(*a, **kw), lambda *a: TF.conv2d(*a, **kw), arrays)


@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes, st.integers(0, 2))
def test_conv1d_groups_dilation_same_match_torch(d: st.DataObject, dtype: type, n: int) -> None:
    g, c, o = grouped(d)
    k, dil = d.draw(st.integers(1, 4)), d.draw(st.integers(1, 3))
    padding = d.draw(st.sampled_from(["same", "valid", 0, 2]))
    s = 1 if padding == "same" else d.draw(st.integers(1, 3))
    reach = dil * (k - 1) + 1 - (2 * padding if isinstance(padding, int) else 0)
    length = d.draw(st.integers(max(1, reach if padding != "same" else 1), max(1, reach) + 5))
    arrays = [data(d.draw, (n, c, length), dtype), data(d.draw, (o, c // g, k), dtype), data(d.draw, (o,), dtype)]
    kw = {"stride": s, "padding": padding, "dilation": dil, "groups": g}
    both(lambda *a: F.conv1d(*a, **kw), lambda *a: TF.conv1d(*a, **kw), arrays)


@settings(max_examples=60, deadline=None)
@given(st.data(), dtypes, st.integers(0, 2), st.booleans())
def test_conv_transpose2d_groups_dilation_match_torch(d: st.DataObject, dtype: type, n: int, bias: bool) -> None:
    g, c, o = grouped(d)
    k = (d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)))
    s = (d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)))
    dil = (d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)))
    op = tuple(d.draw(st.integers(0, max(s[i], dil[i]) - 1)) for i in range(2))
    size = (d.draw(st.integers(1, 5)), d.draw(st.integers(1, 5)))
    p = tuple(d.draw(st.integers(0, max(0, ((size[i] - 1) * s[i] + dil[i] * (k[i] - 1) + op[i]) // 2)))
              for i in range(2))
    arrays = [data(d.draw, (n, c, *size), dtype), data(d.draw, (c, o // g, *k), dtype)]
    arrays += [data(d.draw, (o,), dtype)] if bias else []
    kw = {"stride": s, "padding": p, "output_padding": op, "groups": g, "dilation": dil}
    both(lambda *a: F.conv_transpose2d(*a, **kw), lambda *a: TF.conv_transpose2d(*a, **kw), arrays)


@settings(max_examples=30, deadline=None)
@given(st.data(), dtypes)
def test_conv_transpose1d_groups_dilation_match_torch(d: st.DataObject, dtype: type) -> None:
    g, c, o = grouped(d)
    k, s, dil = d.draw(st.integers(1, 4)), d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3))
    op, length = d.draw(st.integers(0, max(s, dil) - 1)), d.draw(st.integers(1, 6))
    p = d.draw(st.integers(0, max(0, ((length - 1) * s + dil * (k - 1) + op) // 2)))
    arrays = [data(d.draw, (2, c, length), dtype), data(d.draw, (c, o // g, k), dtype), data(d.draw, (o,), dtype)]
    kw = {"stride": s, "padding": p, "output_padding": op, "groups": g, "dilation": dil}
    both(lambda *a: F.conv_transpose1d(*a, **kw), lambda *a: TF.conv_transpose1d(*a, **kw), arrays)


@pytest.mark.parametrize("special", [np.inf, -np.inf, np.nan])
def test_dilated_grouped_gradient_with_a_nonfinite_weight_matches_torch(special: float) -> None:
    """A nan / inf weight takes the input gradient's scatter path, which must honour dilation and groups."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 2, 3))
    w[1, 0, 1, 2] = w[4, 1, 0, 0] = special
    g = rng.standard_normal((2, 6, 3, 4))
    kw = {"stride": (2, 1), "padding": 1, "dilation": (3, 2), "groups": 2}
    ours, ref = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    F.conv2d(ours, tg.Tensor(w), **kw).backward(tg.Tensor(g))
    TF.conv2d(ref, torch.tensor(w), **kw).backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad.numpy(), ref.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (2, 1), "same", "valid"])
def test_conv_layers_padding_mode_match_torch(mode: str, padding: int | tuple[int, int] | str) -> None:
    rng = np.random.default_rng(0)
    for dims, ours_cls, theirs_cls in ((2, nn.Conv2d, torch.nn.Conv2d), (1, nn.Conv1d, torch.nn.Conv1d)):
        pd = padding[0] if dims == 1 and isinstance(padding, tuple) else padding
        kw = {"padding": pd, "dilation": 2, "groups": 2, "padding_mode": mode}
        m, t = ours_cls(4, 6, 3, **kw), theirs_cls(4, 6, 3, **kw)
        assert m.weight.shape == tuple(t.weight.shape) and m.extra_repr() == t.extra_repr()
        t.weight.data, t.bias.data = torch.tensor(m.weight.numpy()), torch.tensor(m.bias.numpy())
        x = rng.standard_normal((2, 4) + (7,) * dims).astype(np.float32)
        ours, ref = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, expected = m(ours), t(ref)
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-5)
        out.sum().backward()
        expected.sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), ref.grad.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(m.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_grouped_layers_have_torch_shapes_init_and_repr() -> None:
    for ours, theirs in ((nn.Conv2d(6, 4, 3, groups=2, dilation=2, bias=False),
                          torch.nn.Conv2d(6, 4, 3, groups=2, dilation=2, bias=False)),
                         (nn.ConvTranspose2d(6, 4, 3, stride=2, groups=2, dilation=2),
                          torch.nn.ConvTranspose2d(6, 4, 3, stride=2, groups=2, dilation=2)),
                         (nn.ConvTranspose1d(4, 6, 3, groups=2), torch.nn.ConvTranspose1d(4, 6, 3, groups=2))):
        assert ours.weight.shape == tuple(theirs.weight.shape) and ours.extra_repr() == theirs.extra_repr()
    depthwise = nn.Conv2d(8, 8, 3, groups=8)
    bound = 1 / np.sqrt(9)  # fan_in of a depthwise weight (8, 1, 3, 3): 1 * 3 * 3
    assert np.abs(depthwise.weight.numpy()).max() <= bound and np.abs(depthwise.bias.numpy()).max() <= bound
    m = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2, dilation=2)
    t = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2, dilation=2)
    t.weight.data, t.bias.data = torch.tensor(m.weight.numpy()), torch.tensor(m.bias.numpy())
    x = np.random.default_rng(2).standard_normal((4, 5, 5)).astype(np.float32)  # unbatched
    np.testing.assert_allclose(m(tg.Tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("ours", "theirs"), [
    (lambda: F.conv2d(tg.zeros(1, 4, 5, 5), tg.zeros(3, 2, 2, 2), groups=2), lambda: TF.conv2d(
        torch.zeros(1, 4, 5, 5), torch.zeros(3, 2, 2, 2), groups=2)),  # out_channels not divisible
    (lambda: F.conv2d(tg.zeros(1, 4, 5, 5), tg.zeros(4, 4, 2, 2), groups=2), lambda: TF.conv2d(
        torch.zeros(1, 4, 5, 5), torch.zeros(4, 4, 2, 2), groups=2)),  # in_channels / groups mismatch
    (lambda: F.conv2d(tg.zeros(1, 2, 5, 5), tg.zeros(2, 2, 2, 2), stride=2, padding="same"), lambda: TF.conv2d(
        torch.zeros(1, 2, 5, 5), torch.zeros(2, 2, 2, 2), stride=2, padding="same")),
    (lambda: F.conv2d(tg.zeros(1, 2, 5, 5), tg.zeros(2, 2, 2, 2), padding="full"), lambda: TF.conv2d(
        torch.zeros(1, 2, 5, 5), torch.zeros(2, 2, 2, 2), padding="full")),
    (lambda: F.conv2d(tg.zeros(1, 2, 5, 5), tg.zeros(2, 2, 3, 3), dilation=3), lambda: TF.conv2d(
        torch.zeros(1, 2, 5, 5), torch.zeros(2, 2, 3, 3), dilation=3)),  # the dilated kernel spans 7 > 5
    (lambda: F.conv2d(tg.zeros(1, 2, 5, 5), tg.zeros(2, 2, 3, 3), groups=0), lambda: TF.conv2d(
        torch.zeros(1, 2, 5, 5), torch.zeros(2, 2, 3, 3), groups=0)),
    (lambda: F.conv_transpose2d(tg.zeros(1, 2, 3, 3), tg.zeros(2, 1, 2, 2), stride=2, dilation=3,
                                output_padding=3), lambda: TF.conv_transpose2d(
        torch.zeros(1, 2, 3, 3), torch.zeros(2, 1, 2, 2), stride=2, dilation=3, output_padding=3)),
    (lambda: F.conv_transpose2d(tg.zeros(1, 3, 3, 3), tg.zeros(3, 1, 2, 2), groups=2), lambda: TF.conv_transpose2d(
        torch.zeros(1, 3, 3, 3), torch.zeros(3, 1, 2, 2), groups=2)),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), lambda: torch.nn.Conv2d(3, 4, 3, groups=2)),
    (lambda: nn.Conv2d(4, 4, 3, stride=2, padding="same"), lambda: torch.nn.Conv2d(4, 4, 3, stride=2, padding="same")),
    (lambda: nn.Conv2d(4, 4, 3, padding_mode="mirror"), lambda: torch.nn.Conv2d(4, 4, 3, padding_mode="mirror")),
    (lambda: nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect"),
     lambda: torch.nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect")),
])
def test_errors_where_torch_raises(ours: Callable, theirs: Callable) -> None:
    with pytest.raises((RuntimeError, ValueError)):
        theirs()
    with pytest.raises(ValueError):
        ours()


@settings(max_examples=80, deadline=None)
@given(st.data(), dtypes, st.booleans(), st.booleans(), st.booleans())
def test_max_pool2d_ceil_mode_and_indices_match_torch(d: st.DataObject, dtype: type, ceil_mode: bool,
                                                      unbatched: bool, special: bool) -> None:
    """Values, indices and gradients, with ties, -inf windows and NaN, of every window layout ceil_mode and
    dilation make."""
    k = (d.draw(st.integers(1, 4)), d.draw(st.integers(1, 4)))
    s = (d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)))
    p = (d.draw(st.integers(0, k[0] // 2)), d.draw(st.integers(0, k[1] // 2)))
    dil = (d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)))
    size = tuple(d.draw(st.integers(max(1, dil[i] * (k[i] - 1) + 1 - 2 * p[i]), 10)) for i in range(2))
    rng = np.random.default_rng(d.draw(st.integers(0, 2**31)))
    x = rng.integers(-2, 3, (2, 3, *size)).astype(dtype)  # small integers: ties
    if special:
        x[rng.random(x.shape) < 0.2] = -np.inf
        x[rng.random(x.shape) < 0.05] = np.nan
    x = x[0] if unbatched else x
    ours, theirs = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    kw = {"stride": s, "padding": p, "dilation": dil, "ceil_mode": ceil_mode, "return_indices": True}
    try:
        out, idx = F.max_pool2d(ours, k, **kw)
    except ValueError as e:  # a dilated window of padding alone: tested below (torch's backward may abort there)
        assert "holds only padding" in str(e)
        return
    ref, ref_idx = TF.max_pool2d(theirs, k, **kw)
    np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())
    assert idx.dtype == np.int64
    g = rng.standard_normal(out.shape).astype(dtype)
    out.backward(tg.Tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_a_dilated_window_of_padding_alone_is_minus_inf_passes_no_gradient_and_has_no_index() -> None:
    """Width 1, kernel 2 dilated by 2, padding 1: each window's two columns are the padding on either side. torch
    gives -inf too, but indexes another element (and its backward may abort the process): ours refuses the index."""
    x = tg.Tensor(np.arange(7.0).reshape(1, 1, 7, 1), requires_grad=True)
    out = F.max_pool2d(x, (3, 2), 2, 1, dilation=2, ceil_mode=True)
    ref = TF.max_pool2d(torch.arange(7.0, dtype=torch.float64).reshape(1, 1, 7, 1), (3, 2), 2, 1, dilation=2,
                        ceil_mode=True)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    assert (out.numpy() == -np.inf).all()
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)
    with pytest.raises(ValueError, match="holds only padding, so it has no maximum to index"):
        F.max_pool2d(x, (3, 2), 2, 1, dilation=2, ceil_mode=True, return_indices=True)


@settings(max_examples=80, deadline=None)
@given(st.data(), dtypes, st.booleans(), st.booleans(), st.sampled_from([None, 2]))
def test_avg_pool2d_ceil_mode_matches_torch(d: st.DataObject, dtype: type, ceil_mode: bool, include_pad: bool,
                                            divisor: int | None) -> None:
    """The partial last windows of ceil_mode divide by what they cover of the padded (or, without
    count_include_pad, the unpadded) image, as torch's; values and gradients."""
    k = (d.draw(st.integers(1, 4)), d.draw(st.integers(1, 4)))
    s = (d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)))
    p = (d.draw(st.integers(0, k[0] // 2)), d.draw(st.integers(0, k[1] // 2)))
    size = tuple(d.draw(st.integers(max(1, k[i] - 2 * p[i]), 8)) for i in range(2))
    x = data(d.draw, (2, 3, *size), dtype)
    kw = {"stride": s, "padding": p, "ceil_mode": ceil_mode, "count_include_pad": include_pad,
          "divisor_override": divisor}
    both(lambda a: F.avg_pool2d(a, k, **kw), lambda a: TF.avg_pool2d(a, k, **kw), [x])
    both(lambda a: nn.AvgPool1d(k[1], s[1], p[1], ceil_mode, include_pad)(a),
         lambda a: torch.nn.AvgPool1d(k[1], s[1], p[1], ceil_mode, include_pad)(a), [x[:, :, 0]])


@settings(max_examples=60, deadline=None)
@given(st.data(), dtypes, st.booleans(), st.booleans())
def test_adaptive_avg_pools_with_uneven_windows_match_torch(d: st.DataObject, dtype: type, unbatched: bool,
                                                            special: bool) -> None:
    """torch's overlapping windows floor(i H / o) .. ceil((i + 1) H / o); an inf or nan stays in its windows."""
    size = (d.draw(st.integers(1, 9)), d.draw(st.integers(1, 9)))
    out = (d.draw(st.integers(1, 9)), d.draw(st.one_of(st.none(), st.integers(1, 9))))
    x = data(d.draw, (2, 3, *size), dtype)
    if special:
        x[0, 0, 0, 0], x[1, 2, -1, -1] = np.inf, np.nan
    x = x[0] if unbatched else x
    both(lambda a: F.adaptive_avg_pool2d(a, out), lambda a: TF.adaptive_avg_pool2d(a, out), [x], grads=not special)
    both(lambda a: nn.AdaptiveAvgPool1d(out[0])(a), lambda a: torch.nn.AdaptiveAvgPool1d(out[0])(a), [x[..., 0, :]],
         grads=not special)


def test_max_pool_layers_take_torchs_signature() -> None:
    x = np.random.default_rng(5).standard_normal((3, 7, 6)).astype(np.float32)  # unbatched (C, H, W)
    kw = {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 1, "ceil_mode": True}
    ours, theirs = nn.MaxPool2d(**kw, return_indices=True), torch.nn.MaxPool2d(**kw, return_indices=True)
    assert ours.extra_repr() == theirs.extra_repr()
    for a, b in zip(ours(tg.Tensor(x)), theirs(torch.tensor(x)), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    ours1, theirs1 = nn.MaxPool1d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool1d(3, 2, 1, ceil_mode=True)
    assert ours1.extra_repr() == theirs1.extra_repr()
    np.testing.assert_array_equal(ours1(tg.Tensor(x)).numpy(), theirs1(torch.tensor(x)).numpy())
    out, idx = F.max_pool1d(tg.Tensor(x), 2, 2, ceil_mode=True, return_indices=True)
    ref, ref_idx = TF.max_pool1d(torch.tensor(x), 2, 2, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())
    ours2, theirs2 = nn.MaxPool2d(2, 1, 1, dilation=(2, 3)), torch.nn.MaxPool2d(2, 1, 1, dilation=(2, 3))
    assert ours2.extra_repr() == theirs2.extra_repr()
    np.testing.assert_array_equal(ours2(tg.Tensor(x)).numpy(), theirs2(torch.tensor(x)).numpy())
    ours1 = nn.MaxPool1d(2, 1, 1, dilation=3, ceil_mode=True)
    np.testing.assert_array_equal(ours1(tg.Tensor(x)).numpy(),
                                  torch.nn.MaxPool1d(2, 1, 1, dilation=3, ceil_mode=True)(torch.tensor(x)).numpy())
    with pytest.raises(ValueError, match="dilation"):
        F.max_pool2d(tg.Tensor(x), 3, dilation=(0, 2))
    with pytest.raises(ValueError, match=r"expected 3-D \(unbatched\) or 4-D \(batched\) input"):
        F.max_pool2d(tg.zeros(4, 4), 2)


@settings(max_examples=60, deadline=None)
@given(st.data(), dtypes, st.integers(0, 2), st.booleans())
def test_few_channels_against_many_match_torch(d: st.DataObject, dtype: type, n: int, transposed: bool) -> None:
    """A conv2d from few input channels to many (a first layer on an image) and a conv_transpose2d from many to few
    (a generator's last layer): their input gradient, and the transposed forward, add column gradients back by
    kernel offset (col2im) instead of the im2col route; one input channel also takes the transposed GEMM."""
    g = d.draw(st.integers(1, 2))
    few, many = d.draw(st.integers(1, 2)), d.draw(st.integers(12, 16))
    k = (d.draw(st.integers(2, 4)), d.draw(st.integers(2, 4)))
    assert many + 3 * k[0] * k[1] * few < k[0] * k[1] * many  # the rule in ops/conv.py that picks col2im
    s = (d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)))
    dil = (d.draw(st.integers(1, 2)), d.draw(st.integers(1, 2)))
    size = (d.draw(st.integers(4, 9)), d.draw(st.integers(4, 9)))
    if transposed:
        op = tuple(d.draw(st.integers(0, max(s[i], dil[i]) - 1)) for i in range(2))
        arrays = [data(d.draw, (n, g * many, *size), dtype), data(d.draw, (g * many, few, *k), dtype),
                  data(d.draw, (g * few,), dtype)]
        kw = {"stride": s, "padding": (1, 0), "output_padding": op, "groups": g, "dilation": dil}
        both(lambda *a: F.conv_transpose2d(*a, **kw), lambda *a: TF.conv_transpose2d(*a, **kw), arrays)
        return
    size = tuple(max(size[i], dil[i] * (k[i] - 1) + 1) for i in range(2))
    arrays = [data(d.draw, (n, g * few, *size), dtype), data(d.draw, (g * many, few, *k), dtype),
              data(d.draw, (g * many,), dtype)]
    kw = {"stride": s, "padding": d.draw(st.sampled_from([0, 1, (2, 1)])), "dilation": dil, "groups": g}
    both(lambda *a: F.conv2d(*a, **kw), lambda *a: TF.conv2d(*a, **kw), arrays)


@settings(max_examples=30, deadline=None)
@given(st.data(), dtypes, st.integers(1, 3), st.sampled_from([5, 6]), st.booleans())
def test_short_and_long_patches_match_torch(d: st.DataObject, dtype: type, n: int, cg: int, chunked: bool) -> None:
    """5x5 kernels on 5 or 6 channels a group: patches of 125 values take the forward GEMM that writes (O, N*Ho*Wo),
    150 the one that writes (N*Ho*Wo, O); both, and the weight gradient read as (O, N*Ho*Wo), match torch, also
    with one sample a GEMM (``chunked``: the batch chunks' sums and slices)."""
    from tinygrad_adam.ops import conv
    assert (25 * cg <= conv.SHORT_PATCH) == (cg == 5)
    g, o = d.draw(st.integers(1, 2)), d.draw(st.integers(1, 3))
    size = (d.draw(st.integers(5, 9)), d.draw(st.integers(5, 9)))
    arrays = [data(d.draw, (n, g * cg, *size), dtype), data(d.draw, (g * o, cg, 5, 5), dtype),
              data(d.draw, (g * o,), dtype)]
    kw = {"stride": d.draw(st.integers(1, 2)), "padding": d.draw(st.integers(0, 2)), "groups": g}
    with pytest.MonkeyPatch.context() as mp:
        if chunked:
            mp.setitem(conv.CHUNK_BYTES, "cpu", 1)
        both(lambda *a: F.conv2d(*a, **kw), lambda *a: TF.conv2d(*a, **kw), arrays)
