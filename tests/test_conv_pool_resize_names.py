"""conv1d, conv_transpose1d/2d, 1-D pools, unfold/fold and interpolate (nn modules too) against torch: values,
gradients via autograd, dtypes, empty batches, float64/float32 and the errors for what is not supported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def both(ours: Callable, theirs: Callable, arrays: list[np.ndarray], grads: bool = True) -> None:
    """Same inputs through both: outputs, dtypes and (``grads``) the gradients of sum(out * w) agree."""
    tol = {"rtol": 1e-9, "atol": 1e-10} if arrays[0].dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-5}
    xs = [tg.Tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = ours(*xs), theirs(*ts)
    assert out.shape == tuple(ref.shape) and str(out.dtype) == str(ref.dtype).removeprefix("torch.")
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **tol)
    if not grads:
        return
    w = np.random.default_rng(0).standard_normal(out.shape).astype(arrays[0].dtype)
    (out * tg.Tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), **tol)


dtypes = st.sampled_from([np.float64, np.float32])


def data(draw: st.DrawFn, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    seed = draw(st.integers(0, 2**31))
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes, st.integers(0, 3), st.booleans())
def test_conv1d_matches_torch(d: st.DataObject, dtype: type, n: int, bias: bool) -> None:
    c, o, k = d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)), d.draw(st.integers(1, 4))
    s, p = d.draw(st.integers(1, 3)), d.draw(st.integers(0, 3))
    length = d.draw(st.integers(max(1, k - 2 * p), 9))
    arrays = [data(d.draw, (n, c, length), dtype), data(d.draw, (o, c, k), dtype)]
    arrays += [data(d.draw, (o,), dtype)] if bias else []
    both(lambda *a: F.conv1d(*a, stride=s, padding=p), lambda *a: TF.conv1d(*a, stride=s, padding=p), arrays)


@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes, st.integers(0, 3), st.booleans())
def test_conv_transpose2d_matches_torch(d: st.DataObject, dtype: type, n: int, bias: bool) -> None:
    c, o = d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3))
    k = (d.draw(st.integers(1, 4)), d.draw(st.integers(1, 4)))
    s = (d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)))
    op = (d.draw(st.integers(0, s[0] - 1)), d.draw(st.integers(0, s[1] - 1)))
    size = (d.draw(st.integers(1, 6)), d.draw(st.integers(1, 6)))
    # padding that leaves an output of at least one
    p = tuple(d.draw(st.integers(0, max(0, ((size[i] - 1) * s[i] + k[i] + op[i] - 1) // 2))) for i in range(2))
    arrays = [data(d.draw, (n, c, *size), dtype), data(d.draw, (c, o, *k), dtype)]
    arrays += [data(d.draw, (o,), dtype)] if bias else []
    kw = {"stride": s, "padding": p, "output_padding": op}
    both(lambda *a: F.conv_transpose2d(*a, **kw), lambda *a: TF.conv_transpose2d(*a, **kw), arrays)


@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes, st.integers(0, 3))
def test_conv_transpose1d_matches_torch(d: st.DataObject, dtype: type, n: int) -> None:
    c, o = d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3))
    k, s = d.draw(st.integers(1, 4)), d.draw(st.integers(1, 3))
    op, length = d.draw(st.integers(0, s - 1)), d.draw(st.integers(1, 7))
    p = d.draw(st.integers(0, max(0, ((length - 1) * s + k + op - 1) // 2)))
    arrays = [data(d.draw, (n, c, length), dtype), data(d.draw, (c, o, k), dtype), data(d.draw, (o,), dtype)]
    kw = {"stride": s, "padding": p, "output_padding": op}
    both(lambda *a: F.conv_transpose1d(*a, **kw), lambda *a: TF.conv_transpose1d(*a, **kw), arrays)


def test_conv_transpose_non_finite_weight_and_unbatched_input() -> None:
    x, w = np.arange(2 * 3 * 3.0).reshape(2, 3, 3), np.ones((2, 2, 2, 2))
    w[0, 0, 0, 0] = np.inf
    ours = F.conv_transpose2d(tg.Tensor(x), tg.Tensor(w), stride=2)  # unbatched (C, H, W)
    ref = TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), stride=2)
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())


def only_padding(pool: Callable[[], Any]) -> bool:
    """Whether a dilated max pool has a window of padding alone (ours refuses its index; torch's backward may abort
    the process there, so it is not compared with torch: tests/test_conv_groups_dilation.py tests it)."""
    try:
        pool()
    except ValueError as e:
        return "holds only padding" in str(e)
    return False


@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes, st.integers(0, 3))
def test_pool1d_matches_torch(d: st.DataObject, dtype: type, n: int) -> None:
    k, s = d.draw(st.integers(1, 4)), d.draw(st.sampled_from([None, 1, 2, 3]))
    p, c = d.draw(st.integers(0, k // 2)), d.draw(st.integers(1, 3))
    length = d.draw(st.integers(max(1, k - 2 * p), 9))
    x = data(d.draw, (n, c, length), dtype)
    x[x > 1.5] = d.draw(st.sampled_from([np.inf, -np.inf, np.nan, 1.5]))
    both(lambda a: F.max_pool1d(a, k, s, p), lambda a: TF.max_pool1d(a, k, s, p), [x])
    dil = d.draw(st.integers(1, 3))
    if dil * (k - 1) + 1 <= length + 2 * p and not only_padding(lambda: F.max_pool1d(tg.Tensor(x), k, s, p, dil,
                                                                                       return_indices=True)):
        both(lambda a: F.max_pool1d(a, k, s, p, dil), lambda a: TF.max_pool1d(a, k, s, p, dil), [x])
    include = d.draw(st.booleans())
    both(lambda a: F.avg_pool1d(a, k, s, p, count_include_pad=include),
         lambda a: TF.avg_pool1d(a, k, s, p, count_include_pad=include), [x])
    both(lambda a: nn.MaxPool1d(k, s, p)(a), lambda a: torch.nn.MaxPool1d(k, s, p)(a), [x[0] if n else x])
    out = d.draw(st.sampled_from([m for m in range(1, length + 1) if length % m == 0]))
    both(lambda a: nn.AdaptiveAvgPool1d(out)(a), lambda a: torch.nn.AdaptiveAvgPool1d(out)(a), [x])
    both(lambda a: nn.AvgPool1d(k, s, p)(a), lambda a: torch.nn.AvgPool1d(k, s, p)(a), [x])


@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes, st.integers(0, 2))
def test_unfold_and_fold_match_torch(d: st.DataObject, dtype: type, n: int) -> None:
    k = (d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)))
    dil = (d.draw(st.integers(1, 2)), d.draw(st.integers(1, 2)))
    p = (d.draw(st.integers(0, 2)), d.draw(st.integers(0, 2)))
    s = (d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3)))
    size = tuple(d.draw(st.integers(max(1, dil[i] * (k[i] - 1) + 1 - 2 * p[i]), 7)) for i in range(2))
    c = d.draw(st.integers(1, 3))
    kw = {"kernel_size": k, "dilation": dil, "padding": p, "stride": s}
    x = data(d.draw, (n, c, *size), dtype)
    both(lambda a: F.unfold(a, **kw), lambda a: TF.unfold(a, **kw), [x])
    blocks = TF.unfold(torch.tensor(x), **kw).shape[-1]
    cols = data(d.draw, (n, c * k[0] * k[1], blocks), dtype)
    both(lambda a: nn.Fold(size, **kw)(a), lambda a: torch.nn.Fold(size, **kw)(a), [cols])
    both(lambda a: nn.Unfold(**kw)(a), lambda a: torch.nn.Unfold(**kw)(a), [x[0] if n else x])


@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes, st.integers(0, 2), st.sampled_from(["nearest", "linear", "bilinear"]))
def test_interpolate_matches_torch(d: st.DataObject, dtype: type, n: int, mode: str) -> None:
    dim = {"linear": 1, "bilinear": 2}.get(mode, d.draw(st.integers(1, 3)))
    spatial = tuple(d.draw(st.integers(1, 6)) for _ in range(dim))
    x = data(d.draw, (n, d.draw(st.integers(1, 3)), *spatial), dtype)
    kw: dict = {"mode": mode}
    if mode != "nearest":
        kw["align_corners"] = d.draw(st.booleans())
    if d.draw(st.booleans()):
        kw["size"] = tuple(d.draw(st.integers(1, 9)) for _ in range(dim))
    else:
        kw["scale_factor"] = tuple(d.draw(st.floats(0.1, 3.5).filter(lambda f, m=m: int(m * f) >= 1))
                                   for m in spatial)
        kw["recompute_scale_factor"] = d.draw(st.sampled_from([None, True, False]))
    # torch's 1-D/3-D nearest backward takes the 2-D kernel's shortcuts (an output of the input's size or twice it:
    # copy or halve the index) that its forward does not take, so its gradient is not its forward's there; ours is
    sizes = [int(m * f) for m, f in zip(spatial, kw.get("scale_factor", ()))]
    grads = not (mode == "nearest" and dim != 2 and not kw.get("recompute_scale_factor")
                 and any(o in (m, 2 * m) for o, m in zip(sizes, spatial)))
    both(lambda a: F.interpolate(a, **kw), lambda a: TF.interpolate(a, **kw), [x], grads)
    both(lambda a: nn.Upsample(**kw)(a), lambda a: torch.nn.Upsample(**kw)(a), [x], grads)


def test_interpolate_nearest_uint8_and_dtypes() -> None:
    x = np.arange(2 * 2 * 3 * 4, dtype=np.uint8).reshape(2, 2, 3, 4)
    ours, ref = F.interpolate(tg.Tensor(x), scale_factor=1.7), TF.interpolate(torch.tensor(x), scale_factor=1.7)
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())
    assert ours.dtype == np.uint8
    with pytest.raises(TypeError, match="dtype int64"):
        F.interpolate(tg.Tensor(x.astype(np.int64)), scale_factor=2)
    with pytest.raises(TypeError, match="bilinear"):
        F.interpolate(tg.Tensor(x), scale_factor=2, mode="bilinear")


def test_modules_parameters_and_layouts() -> None:
    assert nn.Conv1d(3, 5, 4).weight.shape == torch.nn.Conv1d(3, 5, 4).weight.shape
    assert nn.ConvTranspose2d(3, 5, (2, 3)).weight.shape == torch.nn.ConvTranspose2d(3, 5, (2, 3)).weight.shape
    m = nn.ConvTranspose1d(3, 5, 4, stride=2, padding=1, output_padding=1)
    t = torch.nn.ConvTranspose1d(3, 5, 4, 2, 1, 1)
    t.weight.data, t.bias.data = torch.tensor(m.weight.numpy()), torch.tensor(m.bias.numpy())
    x = np.random.default_rng(1).standard_normal((2, 3, 6)).astype(np.float32)
    np.testing.assert_allclose(m(tg.Tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    bound = 1 / np.sqrt(5 * 4)  # torch's fan_in of a transposed weight (in, out, k) is out * k
    assert np.abs(m.weight.numpy()).max() <= bound and np.abs(m.bias.numpy()).max() <= bound


@pytest.mark.parametrize(("ours", "theirs"), [
    (lambda: F.conv1d(tg.zeros(5), tg.zeros(3, 2, 2)), ValueError),
    (lambda: F.conv1d(tg.zeros(1, 2, 1), tg.zeros(3, 2, 2)), ValueError),
    (lambda: F.conv_transpose2d(tg.zeros(1, 2, 3, 3), tg.zeros(2, 1, 2, 2), stride=2, output_padding=2), ValueError),
    (lambda: F.conv_transpose2d(tg.zeros(1, 2, 1, 1), tg.zeros(2, 1, 2, 2), padding=1), ValueError),
    (lambda: F.conv_transpose2d(tg.zeros(1, 3, 3, 3), tg.zeros(2, 1, 2, 2)), ValueError),
    (lambda: F.conv_transpose2d(tg.zeros(1, 2, 0, 3), tg.zeros(2, 1, 2, 2)), ValueError),
    (lambda: F.max_pool1d(tg.zeros(1, 2, 5), 3, padding=2), ValueError),
    (lambda: F.max_pool1d(tg.zeros(1, 2, 5), 3, dilation=3), ValueError),  # the dilated kernel spans 7 > 5
    (lambda: F.max_pool1d(tg.zeros(1, 2, 5), (3, 3)), ValueError),
    (lambda: F.max_pool1d(tg.zeros(5), 3), ValueError),
    (lambda: F.unfold(tg.zeros(1, 2, 2, 2), 3), ValueError),
    (lambda: F.unfold(tg.zeros(1, 0, 4, 4), 2), ValueError),
    (lambda: F.unfold(tg.zeros(1, 2, 4, 4, dtype="int64"), 2), TypeError),
    (lambda: F.fold(tg.zeros(1, 13, 4), (3, 3), 2), ValueError),
    (lambda: F.fold(tg.zeros(1, 12, 5), (3, 3), 2), ValueError),
    (lambda: F.interpolate(tg.zeros(1, 2, 3, 3), scale_factor=2, mode="lanczos"), NotImplementedError),
    (lambda: F.interpolate(tg.zeros(1, 2, 3), scale_factor=2, mode="bilinear"), NotImplementedError),
    (lambda: F.interpolate(tg.zeros(1, 2, 3, 3), scale_factor=2, mode="linear"), NotImplementedError),
    (lambda: F.interpolate(tg.zeros(1, 2, 3, 3), scale_factor=0.2), ValueError),
    (lambda: F.interpolate(tg.zeros(1, 2, 3, 3), size=2, scale_factor=2), ValueError),
    (lambda: F.interpolate(tg.zeros(1, 2, 3, 3), size=2, recompute_scale_factor=True), ValueError),
    (lambda: F.interpolate(tg.zeros(1, 2, 3, 3), size=2, align_corners=True), ValueError),
    (lambda: F.interpolate(tg.zeros(1, 0, 3, 3), size=2), ValueError),
    (lambda: F.interpolate(tg.zeros(3, 3), size=2), NotImplementedError),
])
def test_errors(ours: Callable, theirs: type) -> None:
    with pytest.raises(theirs):
        ours()


@pytest.mark.parametrize("call", [
    lambda F_, T: F_.conv2d(T.zeros(1, 1, 2, 2), T.zeros(1, 1, 3, 3)),  # kernel larger than the input
    lambda F_, T: F_.conv2d(T.zeros(1, 2, 4, 4), T.zeros(1, 1, 3, 3)),  # channels
    lambda F_, T: F_.conv1d(T.zeros(1, 1, 4, 4), T.zeros(1, 1, 3)),  # dims
    lambda F_, T: F_.max_pool2d(T.zeros(1, 1, 2, 2), 3),
    lambda F_, T: F_.avg_pool2d(T.zeros(1, 1, 4, 4), 2, padding=2),  # padding over half the kernel
    lambda F_, T: F_.unfold(T.zeros(2, 2, 2, 2), 2, 2),  # dilated kernel larger than the input
])
def test_shape_errors_are_runtime_errors_as_torch(call: Callable) -> None:
    """torch raises RuntimeError for these; ours raised a plain ValueError, which a torch program's ``except
    RuntimeError`` missed (now ArgumentError: both)."""
    torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
    with pytest.raises(RuntimeError):
        call(torch.nn.functional, torch)
    with pytest.raises(RuntimeError) as e:
        call(F, tg)
    assert isinstance(e.value, ValueError)
