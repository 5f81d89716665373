"""torch 2.13's 3-D layers against torch: F.conv3d / nn.Conv3d (stride, padding ints / triples / 'same' / 'valid',
dilation, groups, bias, every padding_mode), F.max_pool3d / nn.MaxPool3d (dilation, ceil_mode, return_indices; ties,
NaN, inf, -0), F.avg_pool3d / nn.AvgPool3d (ceil_mode, count_include_pad, divisor_override),
F.adaptive_avg_pool3d / nn.AdaptiveAvgPool3d, nn.BatchNorm3d and nn.InstanceNorm3d: values, dtypes, shapes and
the gradients of every input (``agree``), batched (N, C, D, H, W) and unbatched (C, D, H, W) input, float32 and
float64, and the errors torch raises."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_torch_movement_names import agree, raises, run

import tinygrad_adam as tg
from tinygrad_adam import nn

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

dtypes = st.sampled_from([np.float64, np.float32])
# moderate numbers and the special values: sums of them do not depend on the order of the adds
SPECIAL = st.sampled_from([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan])
TIES = st.sampled_from([0.0, -0.0, 1.0, 2.0, -np.inf, np.inf, np.nan])  # few values: many tied maxima


def tol(dtype: type) -> float:
    return 1e-11 if dtype == np.float64 else 2e-4


def draw_array(d: st.DataObject, shape: tuple[int, ...], dtype: type, special: Any = None) -> np.ndarray:
    """Normal numbers (from a drawn seed), with drawn ``special`` values at drawn places."""
    x = np.random.default_rng(d.draw(st.integers(0, 2**32 - 1))).standard_normal(shape).astype(dtype)
    if special is not None and x.size and d.draw(st.booleans()):
        spots = d.draw(st.lists(st.integers(0, x.size - 1), max_size=x.size))
        x.reshape(-1)[spots] = d.draw(st.lists(special, min_size=len(spots), max_size=len(spots)))
    return x


def triple(d: st.DataObject, low: int, high: int) -> tuple[int, int, int]:
    return tuple(d.draw(st.integers(low, high)) for _ in range(3))


def batch_shape(d: st.DataObject, c: int, size: tuple[int, ...]) -> tuple[int, ...]:
    """(N, C, D, H, W) with N in 0..2, or the unbatched (C, D, H, W)."""
    return (c, *size) if d.draw(st.booleans()) else (d.draw(st.integers(0, 2)), c, *size)


def X(lib: Any) -> Any:  # noqa: N802 - an input for layers built to raise (torch checks some only when called)
    return lib.ones(1, 2, 3, 3, 3)


def torch_dtype(dtype: type) -> Any:
    return torch.float64 if dtype == np.float64 else torch.float32


def same_layer_results(ours: Any, theirs: Any, x: np.ndarray, rtol: float) -> None:
    """Our layer given torch's parameters and buffers (its state dict): the same output, dtype, input gradient
    and parameter gradients (of sum(out * cos(arange))), and afterwards the same buffers."""
    ours.load_state_dict({name: v.detach().numpy() for name, v in theirs.state_dict().items()})
    xt, tt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xt), theirs(tt)
    assert out.shape == tuple(ref.shape) and str(out.dtype) == str(ref.dtype).removeprefix("torch.")
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=rtol, atol=rtol)
    up = np.cos(np.arange(out.numel()) + 1.0).reshape(out.shape)
    (out * tg.tensor(up)).sum().backward()
    (ref * torch.tensor(up)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), tt.grad.numpy(), rtol=rtol, atol=rtol)
    ours_params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ours_params[name].grad.numpy(), p.grad.numpy(), rtol=rtol, atol=rtol)
    ours_state = ours.state_dict()
    for name, v in theirs.state_dict().items():
        np.testing.assert_allclose(np.asarray(ours_state[name]), v.numpy(), rtol=rtol, atol=rtol)


def padding_only(size: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...], p: tuple[int, ...],
                 dl: tuple[int, ...], ceil_mode: bool) -> bool:
    """Whether some window of a pool over ``size`` holds only padding (torch's index and gradient for it are
    garbage: an element of the next plane)."""
    for n, kk, ss, pp, q in zip(size, k, s, p, dl):
        span = q * (kk - 1) + 1
        out = (n + 2 * pp - span) // ss + 1
        if ceil_mode and (n + 2 * pp - span) % ss and out * ss < n + pp:
            out += 1
        if any(all(not 0 <= o * ss - pp + i * q < n for i in range(kk)) for o in range(out)):
            return True
    return False


# ---------------------------------------------------------------- conv3d
@settings(max_examples=60, deadline=None)
@given(st.data(), dtypes, st.booleans())
def test_conv3d_matches_torch(d: st.DataObject, dtype: type, bias: bool) -> None:
    g = d.draw(st.integers(1, 2))
    c, o = g * d.draw(st.integers(1, 2)), g * d.draw(st.integers(1, 2))
    k, dil = triple(d, 1, 3), triple(d, 1, 2)
    padding = d.draw(st.sampled_from(["same", "valid", 0, 1, (1, 0, 2)]))
    s = (1, 1, 1) if padding == "same" else triple(d, 1, 2)
    p = {"same": (0, 0, 0), "valid": (0, 0, 0), 0: (0, 0, 0), 1: (1, 1, 1)}.get(padding, padding)
    low = [1 if padding == "same" else max(1, dil[i] * (k[i] - 1) + 1 - 2 * p[i]) for i in range(3)]
    size = tuple(low[i] + d.draw(st.integers(0, 2)) for i in range(3))
    arrays = [draw_array(d, batch_shape(d, c, size), dtype), draw_array(d, (o, c // g, *k), dtype)]
    arrays += [draw_array(d, (o,), dtype)] if bias else []
    kw = {"stride": s, "padding": padding, "dilation": dil, "groups": g}
    agree(lambda lib, *t: lib.nn.functional.conv3d(*t, **kw), *arrays, rtol=tol(dtype))
    if padding == 0 and g == 1:  # positional arguments
        agree(lambda lib, *t: lib.nn.functional.conv3d(*t[:2], t[2] if bias else None, s, 0, dil), *arrays,
              rtol=tol(dtype))


@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes)
def test_conv3d_with_nan_inf_and_signed_zeros_matches_torch(d: st.DataObject, dtype: type) -> None:
    """Unpadded (a padding zero times an inf weight is backend-dependent in torch, see README): nan and inf reach
    exactly the outputs and gradients they reach in torch; an input position that a stride skips has gradient 0
    (torch's is nan there beside an inf weight: README)."""
    k, s = triple(d, 1, 2), triple(d, 1, 2)
    size = tuple(k[i] + d.draw(st.integers(0, 2)) for i in range(3))
    x = draw_array(d, (d.draw(st.integers(1, 2)), 2, *size), dtype, SPECIAL)
    w = draw_array(d, (2, 2, *k), dtype, SPECIAL)
    read = np.zeros(size, bool)  # the input positions some window reads
    for corner in np.ndindex(*((n - kk) // ss + 1 for n, kk, ss in zip(size, k, s))):
        read[tuple(slice(c * ss, c * ss + kk) for c, kk, ss in zip(corner, k, s))] = True
    if read.all():
        agree(lambda lib, a, b: lib.nn.functional.conv3d(a, b, stride=s), x, w, rtol=tol(dtype))
        return
    ours, theirs = (run(lib, lambda lib, a, b: lib.nn.functional.conv3d(a, b, stride=s), (x, w), True)
                    for lib in (tg, torch))
    np.testing.assert_allclose(ours[0][0], theirs[0][0], rtol=tol(dtype), atol=tol(dtype), equal_nan=True)
    np.testing.assert_allclose(ours[1][1], theirs[1][1], rtol=tol(dtype), atol=tol(dtype), equal_nan=True)
    assert (ours[1][0][..., ~read] == 0).all()
    np.testing.assert_allclose(ours[1][0][..., read], theirs[1][0][..., read], rtol=tol(dtype), atol=tol(dtype),
                               equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes, st.sampled_from(["zeros", "reflect", "replicate", "circular"]), st.booleans())
def test_conv3d_layer_matches_torch(d: st.DataObject, dtype: type, mode: str, bias: bool) -> None:
    """nn.Conv3d with torch's arguments and padding modes: the same weights give the same outputs and gradients
    (input, weight, bias); the same repr."""
    g = d.draw(st.integers(1, 2))
    c, o = g * d.draw(st.integers(1, 2)), g * d.draw(st.integers(1, 2))
    k = triple(d, 1, 3)
    padding = d.draw(st.sampled_from(["same", "valid", 1, (0, 1, 1)]))
    s = 1 if padding == "same" else d.draw(st.sampled_from([1, 2, (1, 2, 1)]))
    size = tuple(k[i] + 1 + d.draw(st.integers(0, 2)) for i in range(3))  # big enough for reflect's padding
    kw = {"stride": s, "padding": padding, "groups": g, "bias": bias, "padding_mode": mode}
    ours, theirs = nn.Conv3d(c, o, k, dtype=dtype, **kw), torch.nn.Conv3d(c, o, k, dtype=torch_dtype(dtype), **kw)
    assert ours.extra_repr() == theirs.extra_repr()
    same_layer_results(ours, theirs, draw_array(d, batch_shape(d, c, size), dtype), tol(dtype))


def test_conv3d_of_integers_matches_torch() -> None:
    rng = np.random.default_rng(0)
    x, w, b = rng.integers(-9, 9, (2, 2, 3, 4, 3)), rng.integers(-9, 9, (4, 1, 2, 2, 1)), rng.integers(-9, 9, (4,))
    agree(lambda lib, *t: lib.nn.functional.conv3d(*t, padding=1, groups=2), x, w, b, rtol=0)


def test_conv3d_errors_match_torch() -> None:
    def conv(x: tuple, w: tuple, **kw: Any) -> Any:
        return lambda lib: lib.nn.functional.conv3d(lib.zeros(*x), lib.zeros(*w), **kw)
    for case in [conv((1, 2, 0, 3, 3), (1, 2, 1, 1, 1)), conv((0, 2, 0, 3, 3), (1, 2, 1, 1, 1)),  # empty depth
                 conv((1, 2, 2, 3, 3), (1, 2, 3, 1, 1)),  # kernel deeper than the input
                 conv((2, 3, 3), (1, 2, 1, 1, 1)), conv((1, 1, 2, 2, 3, 3), (1, 1, 1, 1, 1)),  # input dims
                 conv((1, 2, 2, 3, 3), (1, 2, 1, 1)),  # 4-D weight
                 conv((1, 2, 2, 3, 3), (1, 3, 1, 1, 1)), conv((1, 4, 2, 3, 3), (3, 2, 1, 1, 1), groups=2),
                 conv((1, 2, 2, 3, 3), (1, 2, 1, 1, 1), stride=2, padding="same"),
                 conv((1, 2, 2, 3, 3), (1, 2, 1, 1, 1), padding="full"),
                 conv((1, 2, 2, 3, 3), (1, 2, 1, 1, 1), padding=(1, 1)),
                 conv((1, 2, 2, 3, 3), (1, 2, 1, 1, 1), stride=0),
                 conv((1, 2, 2, 3, 3), (1, 2, 1, 1, 1), dilation=(1, 0, 1)),
                 conv((1, 2, 2, 3, 3), (1, 2, 1, 1, 1), padding=-1),
                 lambda lib: lib.nn.functional.conv3d(lib.zeros(1, 2, 2, 2, 2), lib.zeros(3, 2, 1, 1, 1),
                                                      lib.zeros(2)),  # bias of the wrong size
                 lambda lib: lib.nn.functional.conv3d(lib.zeros(1, 2, 2, 2, 2), lib.zeros(3, 2, 1, 1, 1,
                                                                                          dtype=lib.float64)),
                 lambda lib: lib.nn.Conv3d(3, 2, 1, groups=2), lambda lib: lib.nn.Conv3d(2, 2, (1, 1))(X(lib)),
                 lambda lib: lib.nn.Conv3d(2, 2, 3, stride=2, padding="same"),
                 lambda lib: lib.nn.Conv3d(2, 2, 3, padding_mode="mirror")(X(lib)),
                 lambda lib: lib.nn.functional.conv3d(lib.tensor(1.0), lib.ones(1, 1, 1, 1, 1))]:  # 0-d
        raises(case)
    assert tg.nn.functional.conv3d(tg.zeros(0, 2, 2, 3, 3), tg.zeros(1, 2, 2, 1, 1)).shape == (0, 1, 1, 3, 3)


# ---------------------------------------------------------------- max_pool3d
@settings(max_examples=100, deadline=None)
@given(st.data(), dtypes, st.booleans(), st.booleans())
def test_max_pool3d_matches_torch(d: st.DataObject, dtype: type, ceil_mode: bool, indices: bool) -> None:
    """Values, the int64 flat d*H*W + h*W + w indices, and gradients: a tie's gradient goes to its first element in
    (d, h, w) order, a window with NaNs passes it to its last NaN, an all -inf window to its first element inside the
    input, as torch's kernel."""
    k = triple(d, 1, 3)
    stride = d.draw(st.none() | st.sampled_from([1, 2, (1, 2, 3)]))
    p = tuple(d.draw(st.integers(0, q // 2)) for q in k)
    dil = d.draw(st.sampled_from([1, 2, (1, 2, 1)]))
    dl = (dil,) * 3 if isinstance(dil, int) else dil
    size = tuple(max(1, dl[i] * (k[i] - 1) + 1 - 2 * p[i]) + d.draw(st.integers(0, 3)) for i in range(3))
    x = draw_array(d, batch_shape(d, d.draw(st.integers(1, 2)), size), dtype,
                   d.draw(st.sampled_from([TIES, SPECIAL])))
    if d.draw(st.booleans()):  # mostly ties
        x = np.asarray(d.draw(st.lists(TIES, min_size=x.size, max_size=x.size)), dtype=dtype).reshape(x.shape)
    s = k if stride is None else (stride,) * 3 if isinstance(stride, int) else stride
    kw = {"stride": stride, "padding": p, "dilation": dil, "ceil_mode": ceil_mode}
    if padding_only(size, k, s, p, dl, ceil_mode):  # only values; our indices raise, torch's are garbage
        agree(lambda lib, t: lib.nn.functional.max_pool3d(t, k, **kw), x, grads=False, rtol=0)
        with pytest.raises(ValueError, match=r"max_pool3d: .* holds only padding"):
            tg.nn.functional.max_pool3d(tg.tensor(x), k, return_indices=True, **kw)
        return
    agree(lambda lib, t: lib.nn.functional.max_pool3d(t, k, return_indices=indices, **kw), x, rtol=tol(dtype))
    agree(lambda lib, t: lib.nn.MaxPool3d(k, return_indices=indices, **kw)(t), x, rtol=tol(dtype))


def grad_of_max_pool3d(lib: Any, x: np.ndarray, *args: Any, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    t = lib.tensor(x, requires_grad=True)
    out = lib.nn.functional.max_pool3d(t, *args, **kw)
    out.sum().backward()
    return (out.detach() if lib is torch else out).numpy(), t.grad.numpy()


@pytest.mark.parametrize("fill, spots, picked", [
    (0.0, {}, 0),  # all tied: the first element
    (1.0, {(1, 0, 0): 2.0, (0, 1, 1): 2.0}, 3),  # two maxima: the first in (d, h, w) order, (0, 1, 1)
    (0.0, {(0, 1, 1): np.nan, (1, 0, 0): np.nan, (1, 1, 1): 5.0}, 4),  # two NaNs: the last, (1, 0, 0)
    (-np.inf, {}, 0),  # all -inf: the first element
    (0.0, {(0, 0, 1): -0.0}, 0),  # +0 and -0 tie: the first, sign included
    (-0.0, {(1, 0, 1): 0.0}, 0),
])
def test_max_pool3d_picks_the_element_torch_picks(fill: float, spots: dict, picked: int) -> None:
    x = np.full((1, 1, 2, 2, 2), fill)
    for spot, value in spots.items():
        x[(0, 0, *spot)] = value
    for lib in (tg, torch):
        out, grad = grad_of_max_pool3d(lib, x, 2)
        assert grad.reshape(-1).tolist() == [1.0 if i == picked else 0.0 for i in range(8)]
        assert np.signbit(out).reshape(-1).tolist() == [bool(np.signbit(x.reshape(-1)[picked]))]
        index = lib.nn.functional.max_pool3d(lib.tensor(x), 2, return_indices=True)[1]
        assert index.reshape(-1).tolist() == [picked]


def test_max_pool3d_all_minus_inf_window_in_the_padding_picks_its_first_element_inside() -> None:
    x = np.full((1, 1, 3, 3, 3), -np.inf)
    for lib in (tg, torch):
        out, grad = grad_of_max_pool3d(lib, x, 3, stride=2, padding=1)
        assert out.shape == (1, 1, 2, 2, 2) and np.all(out == -np.inf)
        first = np.zeros_like(x)  # windows start at -1 and 1 along each dim: their first elements inside, 0 and 1
        first[:, :, :2, :2, :2] = 1
        np.testing.assert_array_equal(grad, first)


def test_max_pool3d_window_of_only_padding_is_minus_inf_and_passes_no_gradient() -> None:
    x = np.arange(18.0).reshape(1, 1, 2, 3, 3)
    out, grad = grad_of_max_pool3d(tg, x, (2, 1, 1), padding=(1, 0, 0), dilation=(3, 1, 1))
    assert out.shape == (1, 1, 1, 3, 3) and np.all(out == -np.inf) and not grad.any()
    ref = torch.nn.functional.max_pool3d(torch.tensor(x), (2, 1, 1), padding=(1, 0, 0), dilation=(3, 1, 1))
    np.testing.assert_array_equal(out, ref.numpy())


def test_max_pool3d_integer_input_matches_torch() -> None:
    x = np.random.default_rng(0).integers(-5, 5, (2, 2, 3, 4, 4))
    agree(lambda lib, t: lib.nn.functional.max_pool3d(t, 2, 1, 1, return_indices=True), x, rtol=0)


def test_max_pool3d_errors_match_torch() -> None:
    def pool(shape: tuple, *args: Any, **kw: Any) -> Any:
        return lambda lib: lib.nn.functional.max_pool3d(lib.ones(*shape), *args, **kw)
    for case in [pool((1, 2, 0, 3, 3), 1), pool((1, 0, 2, 3, 3), 1), pool((2, 3, 3), 1),
                 pool((1, 1, 2, 2, 3, 3), 1), pool((1, 1, 2, 3, 3), (1, 1)), pool((1, 1, 2, 3, 3), 1, dilation=0),
                 pool((1, 1, 2, 3, 3), 0), pool((1, 1, 2, 3, 3), 2, stride=0), pool((1, 1, 4, 4, 4), 2, padding=2),
                 pool((1, 1, 2, 3, 3), 3), pool((1, 1, 2, 3, 3), (1, 2, 2), padding=(0, 2, 0)),
                 lambda lib: lib.nn.MaxPool3d((2, 2))(X(lib)), lambda lib: lib.nn.MaxPool3d(2, stride=-1)(X(lib)),
                 lambda lib: lib.nn.functional.max_pool3d(lib.tensor(1.0), 1)]:  # 0-d
        raises(case)


# ---------------------------------------------------------------- avg_pool3d
@settings(max_examples=100, deadline=None)
@given(st.data(), dtypes, st.booleans(), st.sampled_from([1, 3, -2]))
def test_avg_pool3d_matches_torch(d: st.DataObject, dtype: type, ceil_mode: bool, divisor: int) -> None:
    """Each window's sum over the divisor torch uses: divisor_override, else the product of the window's counts
    along the three dims inside the padded input (count_include_pad; partial ceil_mode windows count less) or
    inside the input. Every example runs with and without count_include_pad and divisor_override."""
    k = triple(d, 1, 3)
    stride = d.draw(st.none() | st.sampled_from([1, 2, (2, 1, 3)]))
    p = tuple(d.draw(st.integers(0, q // 2)) for q in k)
    size = tuple(max(1, k[i] + d.draw(st.integers(-1, 4))) for i in range(3))  # smaller than k: torch raises
    x = draw_array(d, batch_shape(d, d.draw(st.integers(1, 2)), size), dtype, SPECIAL)
    for include_pad in (True, False):
        for override in (None, divisor):
            kw = {"stride": stride, "padding": p, "ceil_mode": ceil_mode, "count_include_pad": include_pad,
                  "divisor_override": override}
            agree(lambda lib, t, kw=kw: lib.nn.functional.avg_pool3d(t, k, **kw), x, rtol=tol(dtype))
    agree(lambda lib, t: lib.nn.AvgPool3d(k, stride, p, ceil_mode, False, divisor)(t), x, rtol=tol(dtype))


def test_avg_pool3d_errors_match_torch() -> None:
    def pool(shape: tuple, *args: Any, **kw: Any) -> Any:
        return lambda lib: lib.nn.functional.avg_pool3d(lib.ones(*shape), *args, **kw)
    for case in [pool((1, 2, 0, 3, 3), 1), pool((1, 0, 2, 3, 3), 1), pool((2, 3, 3), 1), pool((1, 1, 2, 3, 3), 3),
                 pool((1, 1, 2, 3, 3), (1, 1)), pool((1, 1, 4, 4, 4), 2, padding=(2, 0, 0)),
                 pool((1, 1, 2, 3, 3), 1, divisor_override=0), pool((1, 1, 2, 3, 3), 1, stride=(1, 0, 1)),
                 lambda lib: lib.nn.AvgPool3d(2, padding=(1, 1))(X(lib)),
                 lambda lib: lib.nn.functional.avg_pool3d(lib.tensor(1.0), 1)]:  # 0-d
        raises(case)
    with pytest.raises(TypeError, match="floating or int64 input"):  # torch: int64 only (means rounded toward 0)
        tg.nn.functional.avg_pool3d(tg.ones(1, 1, 2, 2, 2, dtype=tg.int32), 2)


# ---------------------------------------------------------------- adaptive_avg_pool3d
@settings(max_examples=80, deadline=None)
@given(st.data(), dtypes)
def test_adaptive_avg_pool3d_matches_torch(d: st.DataObject, dtype: type) -> None:
    """torch's windows floor(i D / od) .. ceil((i + 1) D / od) along each dim (even ones, uneven overlapping ones,
    outputs larger than the input), None keeping a size."""
    size = triple(d, 1, 6)
    x = draw_array(d, batch_shape(d, d.draw(st.integers(1, 2)), size), dtype, SPECIAL)
    out = d.draw(st.integers(1, 7) | st.tuples(*[st.none() | st.integers(1, 7)] * 3))
    agree(lambda lib, t: lib.nn.functional.adaptive_avg_pool3d(t, out), x, rtol=tol(dtype))
    agree(lambda lib, t: lib.nn.AdaptiveAvgPool3d(out)(t), x, rtol=tol(dtype))


def test_adaptive_avg_pool3d_errors_match_torch() -> None:
    def pool(shape: tuple, size: Any, dtype: str = "float32") -> Any:
        return lambda lib: lib.nn.functional.adaptive_avg_pool3d(lib.ones(*shape, dtype=getattr(lib, dtype)), size)
    for case in [pool((1, 0, 2, 3, 3), 2), pool((1, 2, 0, 3, 3), 2), pool((2, 3, 3), 2), pool((1, 2, 2, 3, 3), (2, 2)),
                 pool((1, 2, 2, 3, 3), (2, 2, 2, 2)), pool((1, 2, 2, 3, 3), 2, "int64"),
                 lambda lib: lib.nn.functional.adaptive_avg_pool3d(lib.tensor(1.0), 1)]:  # 0-d
        raises(case)


# ---------------------------------------------------------------- BatchNorm3d, InstanceNorm3d
@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes, st.booleans(), st.booleans(), st.sampled_from([0.1, None, 0.5]))
def test_batch_norm3d_train_and_eval_match_torch(d: st.DataObject, dtype: type, affine: bool, track: bool,
                                                 momentum: float | None) -> None:
    """Two training steps, then evaluation: outputs, input and parameter gradients, and the running statistics
    and num_batches_tracked after each step."""
    c = d.draw(st.integers(1, 3))
    kw = {"affine": affine, "track_running_stats": track, "momentum": momentum, "eps": 1e-4}
    ours, theirs = nn.BatchNorm3d(c, dtype=dtype, **kw), torch.nn.BatchNorm3d(c, dtype=torch_dtype(dtype), **kw)
    assert ours.extra_repr() == theirs.extra_repr()
    if affine:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(draw_array(d, (c,), dtype)))
            theirs.bias.copy_(torch.tensor(draw_array(d, (c,), dtype)))
    for training in (True, True, False):
        ours.train(training)
        theirs.train(training)
        shape = (d.draw(st.integers(1, 3)), c, *triple(d, 1, 3))
        shape = (2, *shape[1:]) if np.prod(shape) == c else shape  # more than one value per channel
        same_layer_results(ours, theirs, draw_array(d, shape, dtype), tol(dtype) * 10)


@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes, st.booleans(), st.booleans())
def test_instance_norm3d_matches_torch(d: st.DataObject, dtype: type, affine: bool, track: bool) -> None:
    """Training, then evaluation (the running statistics when tracked), of batched and unbatched input."""
    c = d.draw(st.integers(1, 3))
    kw = {"affine": affine, "track_running_stats": track}
    ours, theirs = nn.InstanceNorm3d(c, dtype=dtype, **kw), torch.nn.InstanceNorm3d(c, dtype=torch_dtype(dtype), **kw)
    assert ours.extra_repr() == theirs.extra_repr()
    if affine:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(draw_array(d, (c,), dtype)))
    for training in (True, True, False):
        ours.train(training)
        theirs.train(training)
        size = triple(d, 1, 3)
        size = (1, 2, 1) if size == (1, 1, 1) else size  # more than one value per channel
        # not an empty batch: torch then raises (affine) or makes the running statistics nan, ours keeps them
        shape = (c, *size) if d.draw(st.booleans()) else (d.draw(st.integers(1, 2)), c, *size)
        same_layer_results(ours, theirs, draw_array(d, shape, dtype), tol(dtype) * 10)


def test_norm3d_errors_match_torch() -> None:
    for case in [lambda lib: lib.nn.BatchNorm3d(2)(lib.ones(2, 2, 3, 3)),  # 4-D
                 lambda lib: lib.nn.BatchNorm3d(2)(lib.ones(1, 2, 1, 1, 1)),  # one value per channel
                 lambda lib: lib.nn.BatchNorm3d(2)(lib.ones(2, 3, 2, 2, 2)),  # channels
                 lambda lib: lib.nn.InstanceNorm3d(2)(lib.ones(2, 3, 3)),  # 3-D
                 lambda lib: lib.nn.InstanceNorm3d(2)(lib.ones(1, 1, 1, 1, 1, 1)),
                 lambda lib: lib.nn.InstanceNorm3d(2, affine=True)(lib.ones(1, 3, 2, 2, 2))]:
        raises(case)




# ---------------------------------------------------------------- modules
def test_module_reprs_and_defaults_match_torch() -> None:
    for make in [lambda lib: lib.nn.MaxPool3d(3), lambda lib: lib.nn.MaxPool3d((1, 2, 3), 1, 0, 2, True, True),
                 lambda lib: lib.nn.AvgPool3d(2), lambda lib: lib.nn.AvgPool3d((1, 2, 3), (1, 1, 2), 1, True, False, 3),
                 lambda lib: lib.nn.AdaptiveAvgPool3d((2, None, 3)), lambda lib: lib.nn.Conv3d(2, 4, 3),
                 lambda lib: lib.nn.Conv3d(2, 4, (1, 2, 3), (2, 1, 1), 1, (1, 2, 1), 2, False, "reflect"),
                 lambda lib: lib.nn.InstanceNorm3d(3, affine=True), lambda lib: lib.nn.BatchNorm3d(4, momentum=None)]:
        assert make(tg).extra_repr() == make(torch).extra_repr()
    layer = nn.Conv3d(2, 4, 3)
    assert layer.state_dict().keys() == torch.nn.Conv3d(2, 4, 3).state_dict().keys()
    assert layer.weight.shape == (4, 2, 3, 3, 3) and layer.bias.shape == (4,)


@settings(max_examples=20, deadline=None)
@given(st.data(), dtypes, st.booleans())
def test_a_small_3d_network_matches_torch(d: st.DataObject, dtype: type, training: bool) -> None:
    """Conv3d, BatchNorm3d and the three pools in a Sequential with torch's parameters: the same output and
    gradients (input, every parameter) and running statistics."""
    def net(lib: Any) -> Any:
        return lib.nn.Sequential(lib.nn.Conv3d(2, 4, 3, padding=1, dtype=dtype if lib is tg else torch_dtype(dtype)),
                                 lib.nn.BatchNorm3d(4, dtype=dtype if lib is tg else torch_dtype(dtype)),
                                 lib.nn.MaxPool3d(2, 1, 1), lib.nn.AvgPool3d(2, ceil_mode=True),
                                 lib.nn.AdaptiveAvgPool3d((1, 2, 3)))
    torch.manual_seed(d.draw(st.integers(0, 2**31 - 1)))  # torch's initial weights: drawn, so a failure replays
    ours, theirs = net(tg).train(training), net(torch).train(training)
    with torch.no_grad():
        theirs[1].running_var.uniform_(0.5, 2.0)
    same_layer_results(ours, theirs, draw_array(d, (2, 2, 4, 5, 4), dtype), tol(dtype) * 10)
