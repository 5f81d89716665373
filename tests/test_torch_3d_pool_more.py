"""torch 2.13's remaining 3-D and pooling names against torch: F.conv_transpose3d / nn.ConvTranspose3d (stride,
padding, output_padding, groups, dilation, bias, forward's output_size) / nn.LazyConvTranspose3d,
F.adaptive_max_pool3d / nn.AdaptiveMaxPool3d, F.max_pool3d_with_indices, F.max_unpool3d / nn.MaxUnpool3d,
F.lp_pool3d / nn.LPPool3d, F.fractional_max_pool2d / 3d and their layers (torch's windows from the same
``_random_samples``), F.interpolate's 'trilinear' and 'nearest-exact', and the torch.* names of the convolutions and
pools: values, dtypes, shapes, input gradients (``agree``), batched, unbatched and empty-batch input, float32 and
float64, NaN / inf / -0 and tied values, and the errors torch raises."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_three_d_layers import TIES, batch_shape, draw_array, same_layer_results, tol, torch_dtype, triple
from test_torch_movement_names import agree, raises

import tinygrad_adam as tg
from tinygrad_adam import nn

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

dtypes = st.sampled_from([np.float64, np.float32])
SPECIAL = st.sampled_from([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan])


def pool_input(d: st.DataObject, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """``draw_array`` with special or tied values, and half the time NaN in many places (windows with several NaNs:
    torch picks the last)."""
    x = draw_array(d, shape, dtype, d.draw(st.sampled_from([SPECIAL, TIES])))
    if d.draw(st.booleans()):
        x[np.random.default_rng(d.draw(st.integers(0, 99))).random(shape) < 0.4] = np.nan
    return x


# ---------------------------------------------------------------- conv_transpose3d
@settings(max_examples=60, deadline=None)
@given(st.data(), dtypes, st.booleans())
def test_conv_transpose3d_matches_torch(d: st.DataObject, dtype: type, bias: bool) -> None:
    """Every argument, including combinations torch refuses (output_padding not below the stride or dilation, an
    output trimmed to nothing by the padding): then both raise."""
    g = d.draw(st.integers(1, 2))
    c, o = g * d.draw(st.integers(1, 2)), g * d.draw(st.integers(1, 2))
    k, s, dil = triple(d, 1, 3), triple(d, 1, 3), triple(d, 1, 2)
    p, op = triple(d, 0, 2), triple(d, 0, 2)
    size = triple(d, 1, 3)
    if d.draw(st.integers(0, 4)):  # mostly valid: output_padding below max(stride, dilation), an output left
        op = tuple(q % max(a, b) for q, a, b in zip(op, s, dil))
        p = tuple(min(q, ((n - 1) * a + b * (c - 1) + e) // 2) for q, n, a, b, c, e in zip(p, size, s, dil, k, op))
    arrays = [draw_array(d, batch_shape(d, c, size), dtype), draw_array(d, (c, o // g, *k), dtype)]
    arrays += [draw_array(d, (o,), dtype)] if bias else []
    kw = {"stride": s, "padding": p, "output_padding": op, "groups": g, "dilation": dil}
    out = [(n - 1) * s[i] - 2 * p[i] + dil[i] * (k[i] - 1) + op[i] + 1 for i, n in enumerate(size)]
    if min(out) < 1 and g > 1:  # torch's grouped path returns an empty result; its other paths raise, as we do
        with pytest.raises(ValueError):
            tg.nn.functional.conv_transpose3d(*map(tg.tensor, arrays), **kw)
        return
    if arrays[0].ndim == 5 and arrays[0].shape[0] == 0:  # torch checks the arguments only for a non-empty batch
        one = [np.ones((1, *arrays[0].shape[1:]), dtype), *arrays[1:]]
        try:
            torch.nn.functional.conv_transpose3d(*map(torch.tensor, one), **kw)
        except RuntimeError:  # we check them whatever the batch (README)
            with pytest.raises(ValueError):
                tg.nn.functional.conv_transpose3d(*map(tg.tensor, arrays), **kw)
            return
    agree(lambda lib, *t: lib.nn.functional.conv_transpose3d(*t, **kw), *arrays, rtol=tol(dtype))
    if not bias and g == 1:  # positional arguments, and torch's name
        agree(lambda lib, x, w: lib.conv_transpose3d(x, w, None, s, p, op, 1, dil), *arrays, rtol=tol(dtype))


@settings(max_examples=30, deadline=None)
@given(st.data(), dtypes)
def test_conv_transpose3d_nan_inf_and_signed_zeros_match_torch(d: st.DataObject, dtype: type) -> None:
    """Unpadded, as conv3d's test (README: torch's 0 * inf at padding depends on its backend)."""
    k, s = triple(d, 1, 2), triple(d, 1, 2)
    x = draw_array(d, (d.draw(st.integers(1, 2)), 2, *triple(d, 1, 2)), dtype, SPECIAL)
    w = draw_array(d, (2, 2, *k), dtype, SPECIAL)
    agree(lambda lib, a, b: lib.nn.functional.conv_transpose3d(a, b, stride=s), x, w, rtol=tol(dtype))


@settings(max_examples=30, deadline=None)
@given(st.data(), dtypes, st.booleans())
def test_conv_transpose3d_layer_and_output_size_match_torch(d: st.DataObject, dtype: type, bias: bool) -> None:
    """nn.ConvTranspose3d given torch's parameters: outputs, gradients and repr; forward's output_size (spatial sizes
    or all dims) picks torch's output_padding, and sizes outside torch's range raise in both."""
    g = d.draw(st.integers(1, 2))
    c, o = g * d.draw(st.integers(1, 2)), g * d.draw(st.integers(1, 2))
    k, s = triple(d, 2, 3), triple(d, 1, 3)
    kw = {"stride": s, "padding": d.draw(st.sampled_from([0, 1, (0, 1, 0)])), "groups": g, "bias": bias,
          "dilation": d.draw(st.sampled_from([1, (1, 2, 1)]))}
    ours = nn.ConvTranspose3d(c, o, k, dtype=dtype, **kw)
    theirs = torch.nn.ConvTranspose3d(c, o, k, dtype=torch_dtype(dtype), **kw)
    assert ours.extra_repr() == theirs.extra_repr()
    x = draw_array(d, batch_shape(d, c, (3, 2, 3)), dtype)
    same_layer_results(ours, theirs, x, tol(dtype))
    smallest = np.array(theirs(torch.tensor(x)).shape[-3:])
    size = [int(v) for v in smallest + np.array(triple(d, -1, 3))]
    size = size if d.draw(st.booleans()) else [*x.shape[:-4], o, *size][-x.ndim:]
    agree(lambda lib, t: (ours if lib is tg else theirs)(t, output_size=size), x, rtol=tol(dtype))


@settings(max_examples=20, deadline=None)
@given(st.data(), st.sampled_from([1, 2]))
def test_conv_transpose1d_2d_layers_take_output_size_as_torch(d: st.DataObject, dims: int) -> None:
    stride = tuple(d.draw(st.integers(1, 3)) for _ in range(dims))
    ours = getattr(nn, f"ConvTranspose{dims}d")(2, 3, 2, stride=stride, dtype=np.float64)
    theirs = getattr(torch.nn, f"ConvTranspose{dims}d")(2, 3, 2, stride=stride, dtype=torch.float64)
    ours.load_state_dict({name: v.detach().numpy() for name, v in theirs.state_dict().items()})
    x = draw_array(d, (1, 2, *(3,) * dims), np.float64)
    size = [2 * s + 2 + d.draw(st.integers(-1, 3)) for s in stride]
    agree(lambda lib, t: (ours if lib is tg else theirs)(t, output_size=size), x)


def test_lazy_conv_transpose3d_becomes_conv_transpose3d() -> None:
    for shape in [(2, 3, 2, 3, 2), (3, 2, 3, 2)]:
        tg.manual_seed(0)
        lazy = nn.LazyConvTranspose3d(4, 2, stride=2)
        out = lazy(tg.randn(*shape))
        assert type(lazy) is nn.ConvTranspose3d and lazy.in_channels == 3 and lazy.weight.shape == (3, 4, 2, 2, 2)
        assert out.shape == ((2,) if len(shape) == 5 else ()) + (4, *[2 * n for n in shape[-3:]])


def test_conv_transpose3d_errors_match_torch() -> None:
    x, w = np.ones((1, 2, 2, 2, 2)), np.ones((2, 3, 2, 2, 2))
    raises(lambda lib: lib.nn.functional.conv_transpose3d(lib.tensor(x), lib.tensor(w), stride=2, output_padding=2))
    raises(lambda lib: lib.nn.functional.conv_transpose3d(lib.tensor(x), lib.tensor(w[:, :, 0])))  # 4-D weight
    raises(lambda lib: lib.nn.functional.conv_transpose3d(lib.tensor(x), lib.tensor(w[:1])))  # channels
    raises(lambda lib: lib.nn.functional.conv_transpose3d(lib.tensor(x), lib.tensor(w), groups=3))
    raises(lambda lib: lib.nn.functional.conv_transpose3d(lib.tensor(x), lib.tensor(w), lib.tensor(np.ones(2))))
    raises(lambda lib: lib.nn.functional.conv_transpose3d(lib.tensor(x), lib.tensor(w), padding=2))  # size <= 0
    raises(lambda lib: lib.nn.functional.conv_transpose3d(lib.tensor(x).float(), lib.tensor(w)))  # two dtypes
    raises(lambda lib: lib.nn.ConvTranspose3d(2, 3, 2, padding_mode="reflect"))
    raises(lambda lib: lib.nn.ConvTranspose3d(2, 3, 2, groups=2))
    raises(lambda lib: lib.nn.ConvTranspose3d(2, 4, 2)(lib.ones(1, 2, 2, 2, 2), output_size=(3, 3)))


# ---------------------------------------------------------------- adaptive_max_pool3d, max_pool3d_with_indices
@settings(max_examples=50, deadline=None)
@given(st.data(), dtypes)
def test_adaptive_max_pool3d_matches_torch(d: st.DataObject, dtype: type) -> None:
    """Uneven (overlapping) windows, sizes with None, ties, NaN, inf and -0: the same picks (values, int64 indices
    and where the gradient goes)."""
    size = triple(d, 1, 5)
    out = d.draw(st.sampled_from([2, 1, (None, 2, 3)]) | st.tuples(*(st.integers(1, 6) for _ in range(3))))
    x = pool_input(d, batch_shape(d, d.draw(st.integers(1, 2)), size), dtype)
    agree(lambda lib, t: lib.nn.functional.adaptive_max_pool3d(t, out), x, rtol=tol(dtype))
    agree(lambda lib, t: lib.nn.functional.adaptive_max_pool3d_with_indices(t, out), x, rtol=tol(dtype))
    agree(lambda lib, t: lib.nn.AdaptiveMaxPool3d(out, return_indices=True)(t), x, rtol=tol(dtype))


@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes)
def test_max_pool3d_with_indices_and_max_unpool3d_match_torch(d: st.DataObject, dtype: type) -> None:
    """max_pool3d_with_indices (the function and torch.max_pool3d's name), and max_unpool3d of torch's indices, with
    the default output size, an explicit one (3 or 5 entries; out of range: both raise) and the layers."""
    k, s, p = triple(d, 1, 3), triple(d, 1, 2), triple(d, 0, 1)
    p = tuple(min(a, b // 2) for a, b in zip(p, k))
    size = tuple(a + d.draw(st.integers(0, 2)) for a in k)
    x = draw_array(d, batch_shape(d, 2, size), dtype, TIES)
    agree(lambda lib, t: lib.nn.functional.max_pool3d_with_indices(t, k, s, p), x, rtol=tol(dtype))
    agree(lambda lib, t: lib.max_pool3d(t, k, s, p), x, rtol=tol(dtype))
    values, index = torch.nn.functional.max_pool3d(torch.tensor(x), k, s, p, return_indices=True)
    idx = index.numpy()
    agree(lambda lib, v: lib.nn.functional.max_unpool3d(v, lib.tensor(idx), k, s, p), values.numpy(),
          rtol=tol(dtype))
    out = [n + d.draw(st.integers(-1, 1)) for n in size]
    out = out if d.draw(st.booleans()) else [*x.shape[:-3], *out][-5:]
    agree(lambda lib, v: lib.nn.functional.max_unpool3d(v, lib.tensor(idx), k, s, p, out), values.numpy(),
          rtol=tol(dtype))
    agree(lambda lib, v: lib.nn.MaxUnpool3d(k, s, p)(v, lib.tensor(idx), out), values.numpy(), rtol=tol(dtype))


def test_pool3d_errors_match_torch() -> None:
    x = np.ones((1, 2, 3, 3, 3))
    raises(lambda lib: lib.nn.functional.adaptive_max_pool3d(lib.tensor(x), (2, 2)))
    raises(lambda lib: lib.nn.functional.adaptive_max_pool3d(lib.tensor(x[0, 0]), 2))  # 3-D input
    raises(lambda lib: lib.nn.functional.adaptive_max_pool3d(lib.tensor(x).long(), 2))
    raises(lambda lib: lib.nn.functional.adaptive_max_pool3d(lib.tensor(x[:, :0]), 2))
    v, i = lib_pool(x)
    raises(lambda lib: lib.nn.functional.max_unpool3d(lib.tensor(v), lib.tensor(i[..., :0]), 2))  # shapes differ
    raises(lambda lib: lib.nn.functional.max_unpool3d(lib.tensor(v), lib.tensor(i), 2, output_size=(9, 9, 9)))
    raises(lambda lib: lib.nn.functional.max_unpool3d(lib.tensor(v), lib.tensor(i + 100), 2))
    raises(lambda lib: lib.nn.functional.max_unpool3d(lib.tensor(v), lib.tensor(i), 2, output_size=(2, 2, 2, 2)))


def lib_pool(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v, i = torch.nn.functional.max_pool3d(torch.tensor(x), 2, return_indices=True)
    return v.numpy(), i.numpy()


# ---------------------------------------------------------------- lp_pool3d
@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes, st.sampled_from([1.0, 2.0, 3, 1.5, np.inf, -np.inf]), st.booleans())
def test_lp_pool3d_matches_torch(d: st.DataObject, dtype: type, p: float, ceil_mode: bool) -> None:
    """torch's formula (a negative x with a fractional p gives NaN in both), the inf norms, ceil_mode, the layer."""
    k = triple(d, 1, 2)
    s = d.draw(st.none() | st.sampled_from([1, (1, 2, 1)]))
    x = draw_array(d, batch_shape(d, 2, tuple(a + d.draw(st.integers(0, 2)) for a in k)), dtype)
    x = np.abs(x) + 0.5 if d.draw(st.booleans()) else x  # away from 0, where x^p's gradient is inf or nan
    agree(lambda lib, t: lib.nn.functional.lp_pool3d(t, p, k, s, ceil_mode), x, rtol=tol(dtype))
    agree(lambda lib, t: lib.nn.LPPool3d(p, k, s, ceil_mode)(t), x, rtol=tol(dtype))


# ---------------------------------------------------------------- fractional max pooling
def fractional(lib: Any, dims: int) -> Any:
    return getattr(lib.nn.functional, f"fractional_max_pool{dims}d")


@settings(max_examples=60, deadline=None)
@given(st.data(), dtypes, st.sampled_from([2, 3]))
def test_fractional_max_pool_matches_torch_for_the_same_samples(d: st.DataObject, dtype: type, dims: int) -> None:
    """The same ``_random_samples`` (in [0, 1], also its ends) give torch's windows: values, int64 indices and
    gradients, output_size or output_ratio, ties / NaN / inf; sizes torch refuses raise in both."""
    k = tuple(d.draw(st.integers(1, 3)) for _ in range(dims))
    size = tuple(d.draw(st.integers(1, 7)) for _ in range(dims))
    shape = batch_shape(d, d.draw(st.integers(1, 2)), size)
    x = pool_input(d, shape, dtype)
    n = 1 if len(shape) == dims + 1 else shape[0]
    u = np.random.default_rng(d.draw(st.integers(0, 99))).random((n, shape[-dims - 1], dims)).astype(dtype)
    if u.size and d.draw(st.booleans()):
        u.reshape(-1)[d.draw(st.integers(0, u.size - 1))] = d.draw(st.sampled_from([0.0, 1.0]))
    if d.draw(st.booleans()):
        kw: dict[str, Any] = {"output_size": tuple(d.draw(st.integers(0, 6)) for _ in range(dims))}
    else:
        ratio = d.draw(st.sampled_from([0.5, 0.75, 0.6, 0.9, 0.4]))
        kw = {"output_ratio": (ratio,) * dims if d.draw(st.booleans()) else tuple([0.6, 0.9, 0.4][:dims])}

    def f(lib: Any, t: Any) -> Any:
        return fractional(lib, dims)(t, k, return_indices=True, _random_samples=lib.tensor(u), **kw)
    agree(f, x, rtol=tol(dtype))
    agree(lambda lib, t: getattr(lib.nn, f"FractionalMaxPool{dims}d")(k, _random_samples=lib.tensor(u), **kw)(t),
          x, rtol=tol(dtype))
    if "output_ratio" in kw and len(set(kw["output_ratio"])) == 1:  # one number for all dims (torch's 2-D function
        # raises a TypeError for it, a bug: its docs and layer take one)
        kw["output_ratio"] = kw["output_ratio"][0]
        agree(lambda lib, t: (f if lib is tg else lambda _, a: fractional(torch, dims)(
            a, k, return_indices=True, _random_samples=torch.tensor(u), output_ratio=(kw["output_ratio"],) * dims))(
                lib, t), x, rtol=tol(dtype))


def test_fractional_max_pool_draws_its_samples_from_the_seeded_generator() -> None:
    x = tg.randn(2, 3, 9, 8)
    tg.manual_seed(5)
    a, ia = tg.nn.functional.fractional_max_pool2d(x, 2, (4, 5), return_indices=True)
    tg.manual_seed(5)
    u = tg.rand(2, 3, 2)
    b = tg.nn.functional.fractional_max_pool2d(x, 2, (4, 5), _random_samples=u)
    assert a.shape == (2, 3, 4, 5) and ia.dtype == np.int64 and np.array_equal(a.numpy(), b.numpy())
    ref = torch.nn.functional.fractional_max_pool2d(torch.tensor(x.numpy()), 2, (4, 5),
                                                    _random_samples=torch.tensor(u.numpy()))
    np.testing.assert_array_equal(a.numpy(), ref.numpy())
    outs = {tg.nn.FractionalMaxPool3d(2, output_ratio=0.5)(tg.randn(1, 2, 8, 8, 8)).numpy().tobytes()
            for _ in range(3)}
    assert len(outs) == 3  # each call draws new windows


def test_fractional_max_pool_errors_match_torch() -> None:
    x = np.ones((2, 3, 7, 9))
    u = np.full((2, 3, 2), 0.5)

    def call(lib: Any, t: np.ndarray = x, samples: np.ndarray = u, **kw: Any) -> Any:
        return lib.nn.functional.fractional_max_pool2d(lib.tensor(t), kw.pop("k", 2), _random_samples=lib.tensor(
            samples), **{"output_size": 3, **kw})
    raises(lambda lib: call(lib, output_size=(7, 4)))  # pool too large for that output
    raises(lambda lib: call(lib, samples=u[:1]))  # fewer samples than the batch
    raises(lambda lib: call(lib, samples=u[:, :2]))
    raises(lambda lib: call(lib, samples=np.ones((2, 3, 3))))
    raises(lambda lib: call(lib, samples=u[0]))
    raises(lambda lib: call(lib, samples=u.astype(np.float32)))  # not the input's dtype
    raises(lambda lib: call(lib, t=x.astype(np.int64)))
    raises(lambda lib: call(lib, k=(2, 2, 2)))
    raises(lambda lib: call(lib, output_size=(2, 2, 2)))
    raises(lambda lib: lib.nn.functional.fractional_max_pool2d(lib.tensor(x), 2))  # neither size nor ratio
    raises(lambda lib: lib.nn.functional.fractional_max_pool3d(lib.ones(1, 1, 7, 8, 6), 2, (6, 3, 3),
                                                               _random_samples=lib.full((1, 1, 3), 0.5)))
    raises(lambda lib: lib.nn.FractionalMaxPool2d(2, output_size=3, output_ratio=0.5))
    raises(lambda lib: lib.nn.FractionalMaxPool2d(2))
    raises(lambda lib: lib.nn.FractionalMaxPool3d(2, output_ratio=1.5))
    raises(lambda lib: lib.nn.FractionalMaxPool3d(0, output_size=2))


# ---------------------------------------------------------------- interpolate: trilinear and nearest-exact
@settings(max_examples=50, deadline=None)
@given(st.data(), dtypes, st.sampled_from(["trilinear", "nearest-exact", "nearest"]))
def test_interpolate_5d_and_nearest_exact_match_torch(d: st.DataObject, dtype: type, mode: str) -> None:
    dims = 3 if mode != "nearest-exact" else d.draw(st.integers(1, 3))
    shape = (d.draw(st.integers(0, 2)), 2, *(d.draw(st.integers(1, 5)) for _ in range(dims)))
    x = draw_array(d, shape, dtype, SPECIAL if d.draw(st.booleans()) else None)
    if d.draw(st.booleans()):
        kw: dict[str, Any] = {"size": tuple(d.draw(st.integers(1, 7)) for _ in range(dims))}
    else:
        kw = {"scale_factor": d.draw(st.sampled_from([2.0, 0.5, 1.7, 3]) |
                                     st.tuples(*(st.sampled_from([0.6, 1.0, 2.5]) for _ in range(dims)))),
              "recompute_scale_factor": d.draw(st.sampled_from([None, True]))}
    align = d.draw(st.sampled_from([None, False, True])) if mode == "trilinear" else None
    agree(lambda lib, t: lib.nn.functional.interpolate(t, mode=mode, align_corners=align, **kw), x,
          rtol=tol(dtype))


def test_interpolate_mode_errors_match_torch() -> None:
    raises(lambda lib: lib.nn.functional.interpolate(lib.ones(1, 1, 2, 2), size=3, mode="trilinear"))
    raises(lambda lib: lib.nn.functional.interpolate(lib.ones(1, 1, 2, 2, 2), size=3, mode="nearest-exact",
                                                     align_corners=True))
    raises(lambda lib: lib.nn.functional.interpolate(lib.ones(1, 1, 2, 2, 2), size=3, mode="bilinear"))


# ---------------------------------------------------------------- torch.* names
@settings(max_examples=12, deadline=None)
@given(st.data(), dtypes)
def test_torch_function_names_match_torch(d: st.DataObject, dtype: type) -> None:
    """torch.conv1d/2d/3d, conv_transpose1d/2d, max_pool1d/2d (with torch's stride=() default),
    max_pool1d_with_indices, avg_pool1d, adaptive_avg_pool1d, adaptive_max_pool1d (always values and indices),
    pixel_shuffle / pixel_unshuffle and channel_shuffle under torch's names."""
    x1, x2 = draw_array(d, (2, 4, 6), dtype, TIES), draw_array(d, (2, 4, 4, 6), dtype, TIES)
    x3 = draw_array(d, (1, 2, 3, 4, 3), dtype)
    w1, w2, w3 = (draw_array(d, (4, 2, *([2] * n)), dtype) for n in (1, 2, 3))
    s = d.draw(st.integers(1, 2))
    f = tol(dtype)
    agree(lambda lib, x, w: lib.conv1d(x, w, None, s, 1, 1, 2), x1, w1, rtol=f)
    agree(lambda lib, x, w: lib.conv2d(x, w, stride=s, groups=2), x2, w2, rtol=f)
    agree(lambda lib, x, w: lib.conv3d(x, w[:, :1].repeat(1, 2, 1, 1, 1)[:2], padding=1), x3, w3, rtol=f)
    agree(lambda lib, x, w: lib.conv_transpose1d(x, w, None, s, 0, s - 1, 2), x1, w1, rtol=f)
    agree(lambda lib, x, w: lib.conv_transpose2d(x, w, stride=s, groups=2), x2, w2, rtol=f)
    agree(lambda lib, x: lib.max_pool1d(x, 2, (), 1, 1, True), x1, rtol=f)
    agree(lambda lib, x: lib.max_pool2d(x, 2, s), x2, rtol=f)
    agree(lambda lib, x: lib.max_pool1d_with_indices(x, 3, s), x1, rtol=f)
    agree(lambda lib, x: lib.avg_pool1d(x, 3, s, 1, False, False), x1, rtol=f)
    agree(lambda lib, x: lib.adaptive_avg_pool1d(x, 4), x1, rtol=f)
    agree(lambda lib, x: lib.adaptive_max_pool1d(x, 4), x1, rtol=f)
    agree(lambda lib, x: lib.pixel_shuffle(x, 2), x2, rtol=f)
    agree(lambda lib, x: lib.pixel_unshuffle(x, 2), x2, rtol=f)
    agree(lambda lib, x: lib.channel_shuffle(x, 2), x2, rtol=f)


# ---------------------------------------------------------------- grid_sample / affine_grid on 5-D input
GRID_SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 1e10, -1e10, 1.0, -1.0, 0.0, -0.0, 0.5])


@settings(max_examples=60, deadline=None)
@given(st.data(), dtypes, st.sampled_from(["bilinear", "nearest"]), st.sampled_from(["zeros", "border",
                                                                                       "reflection"]), st.booleans())
def test_grid_sample_5d_matches_torch(d: st.DataObject, dtype: type, mode: str, padding: str, align: bool) -> None:
    """Trilinear and nearest sampling of (N, C, D, H, W) input at (N, Do, Ho, Wo, 3) points, every padding mode:
    values and the gradients of input and grid, with points outside, NaN / inf / huge coordinates (torch's 3-D
    kernel reads zeros or the last pixel there) and NaN / inf input values."""
    n = d.draw(st.integers(0, 2))
    x = draw_array(d, (n, d.draw(st.integers(1, 2)), *triple(d, 1, 4)), dtype, SPECIAL)
    grid = draw_array(d, (n, *triple(d, 1, 3), 3), dtype, GRID_SPECIAL) * dtype(d.draw(st.sampled_from([1.0, 1.6])))
    agree(lambda lib, a, g: lib.nn.functional.grid_sample(a, g, mode, padding, align), x, grid, rtol=tol(dtype))


@settings(max_examples=30, deadline=None)
@given(st.data(), dtypes, st.booleans())
def test_affine_grid_5d_feeds_grid_sample_as_torch(d: st.DataObject, dtype: type, align: bool) -> None:
    """3-D affine maps: theta (N, 3, 4) and a size (N, C, D, H, W) give torch's grid (N, D, H, W, 3) and theta's
    gradient, also through grid_sample."""
    n = d.draw(st.integers(1, 2))
    size = (n, 2, *triple(d, 2, 4))
    theta = draw_array(d, (n, 3, 4), dtype)
    x = draw_array(d, size, dtype)
    agree(lambda lib, th: lib.nn.functional.affine_grid(th, size, align), theta, rtol=tol(dtype))
    agree(lambda lib, a, th: lib.nn.functional.grid_sample(a, lib.nn.functional.affine_grid(th, size, align),
                                                           align_corners=align), x, theta, rtol=tol(dtype))


def test_grid_sample_5d_errors_match_torch() -> None:
    x = np.zeros((1, 1, 2, 2, 2))
    raises(lambda lib: lib.nn.functional.grid_sample(lib.tensor(x), lib.zeros(1, 1, 1, 1, 3, dtype=lib.float64),
                                                     "bicubic", align_corners=False))
    raises(lambda lib: lib.nn.functional.grid_sample(lib.tensor(x), lib.zeros(1, 1, 1, 1, 2, dtype=lib.float64),
                                                     align_corners=False))
    raises(lambda lib: lib.nn.functional.grid_sample(lib.tensor(x), lib.zeros(1, 1, 1, 3, dtype=lib.float64),
                                                     align_corners=False))
    raises(lambda lib: lib.nn.functional.grid_sample(lib.tensor(x), lib.zeros(2, 1, 1, 1, 3, dtype=lib.float64),
                                                     align_corners=False))
    raises(lambda lib: lib.nn.functional.affine_grid(lib.zeros(1, 2, 3), (1, 1, 2, 2, 2), align_corners=False))
    raises(lambda lib: lib.nn.functional.affine_grid(lib.zeros(1, 3, 4), (1, 1, 2, 2), align_corners=False))
    raises(lambda lib: lib.nn.functional.affine_grid(lib.zeros(1, 3, 4), (1, 1, 0, 2, 2), align_corners=False))


def test_layer_reprs_and_state_dicts_match_torch() -> None:
    def build(lib: Any) -> list[Any]:
        return [lib.nn.ConvTranspose3d(2, 4, (1, 2, 3), stride=2, output_padding=1, groups=2, bias=False),
                lib.nn.MaxUnpool3d(2), lib.nn.LPPool3d(2, 2), lib.nn.AdaptiveMaxPool3d((2, None, 1)),
                lib.nn.FractionalMaxPool3d(2, output_ratio=0.5),
                lib.nn.FractionalMaxPool2d(2, output_size=2, _random_samples=lib.full((1, 1, 2), 0.5))]
    for ours, theirs in zip(build(tg), build(torch), strict=True):
        assert repr(ours).split("  #")[0] == repr(theirs)  # (ours notes the weight's size after a '  #')
        assert list(ours.state_dict()) == list(theirs.state_dict())
