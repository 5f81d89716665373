"""F.grid_sample and F.affine_grid (4-D, the Spatial Transformer Network's pair) against torch 2.13: values, dtypes,
shapes and the gradients of input, grid and theta, for every mode x padding x align_corners, in float64 (to 1e-10)
and float32; size-1 and empty dimensions; grid points far outside [-1, 1], exactly on pixel boundaries (nearest's
ties), nan and inf in grid and input; the warnings and the errors.

torch's CPU backward of 'bilinear' crashes (reads and writes out of bounds) at a grid point whose coordinate is nan
under 'border' padding or not finite under 'reflection': there only the forward is compared with torch, and our
gradients are checked against their definition (``test_bilinear_nan_points_where_torch_crashes``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_torch_movement_names import raises

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
TF = torch.nn.functional

MODES = ["bilinear", "nearest", "bicubic"]
PADDINGS = ["zeros", "border", "reflection"]
DTYPES = st.sampled_from([np.float64, np.float32])
INSIDE = st.floats(-1.3, 1.3)
TIES = st.integers(-12, 12).map(lambda k: k / 8)  # pixel centres and edges for sizes 1, 2, 4, 8
FAR = st.floats(-1e6, 1e6)
GRID_SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -1e300, 1e20, -0.0])
INPUT_SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, -0.0])


def unnormalized(grid: np.ndarray, size: int, align: bool) -> np.ndarray:
    """The input coordinate of grid values along an axis of ``size`` (no padding), in the grid's dtype."""
    t = grid.dtype.type
    if align:
        return (grid + t(1)) * (t(size - 1) / t(2))
    return (grid + t(1)) * (t(size) / t(2)) - t(0.5)


def crashes_torch(grid: np.ndarray, shape: tuple[int, ...], mode: str, padding: str, align: bool) -> bool:
    """Whether torch 2.13's CPU backward would read and write out of bounds (bilinear; a nan coordinate under
    'border', a non-finite one under 'reflection', where a size-1 axis with align_corners folds everything to 0)."""
    if mode != "bilinear" or padding == "zeros" or grid.size == 0:
        return False
    for axis, size in ((0, shape[3]), (1, shape[2])):
        u = unnormalized(grid[..., axis], size, align)
        if padding == "border" and np.isnan(u).any():
            return True
        if padding == "reflection" and not (align and size <= 1) and not np.isfinite(u).all():
            return True
    return False


def scale_of(x: np.ndarray) -> float:
    """The size of the largest finite input value (at least 1), which bounds rounding in grid gradients."""
    finite = np.abs(x[np.isfinite(x)])
    return max(1.0, float(finite.max()) if finite.size else 1.0)


def run(lib: Any, x: np.ndarray, grid: np.ndarray, grads: bool, **kw: Any) -> list[np.ndarray]:
    """[output, input gradient, grid gradient] of sum(out * w) (fixed w), gradients only with ``grads``."""
    xt, gt = lib.tensor(x, requires_grad=grads), lib.tensor(grid, requires_grad=grads)
    out = (TF if lib is torch else F).grid_sample(xt, gt, **kw)
    result = [out.detach().numpy() if lib is torch else out.numpy()]
    if grads:
        w = np.cos(np.arange(out.numel()) + 1.0).reshape(tuple(out.shape)).astype(x.dtype)
        (out * lib.tensor(w)).sum().backward()
        result += [xt.grad.numpy(), gt.grad.numpy()]
    return result


def compare(x: np.ndarray, grid: np.ndarray, mode: str, padding: str, align: bool, grads: bool = True) -> None:
    """Our grid_sample against torch's: values, dtype and shape, and (unless torch would crash) both gradients."""
    kw = {"mode": mode, "padding_mode": padding, "align_corners": align}
    grads = grads and not crashes_torch(grid, x.shape, mode, padding, align)
    ours, theirs = run(tg, x, grid, grads, **kw), run(torch, x, grid, grads, **kw)
    tol = 1e-10 if x.dtype == np.float64 else 2e-4
    scale = scale_of(x) * max(1, x.shape[1]) * max(x.shape[2:]) * 4  # channels summed, unnormalising, bicubic taps
    atols = (tol * scale_of(x), tol, tol * scale)
    for name, a, b, atol in zip(("output", "input grad", "grid grad"), ours, theirs, atols):
        assert a.dtype == b.dtype and a.shape == b.shape, (name, a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=tol, atol=atol, equal_nan=True, err_msg=f"{name} ({kw})")


def draw_case(d: st.DataObject, values: Any, dtype: type, min_n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """An input (N, C, H, W) of normal values and a grid (N, Ho, Wo, 2) drawn from ``values``."""
    n, c = d.draw(st.integers(min_n, 2)), d.draw(st.integers(1, 3))
    h, w, ho, wo = (d.draw(st.integers(1, 5)) for _ in range(4))
    x = np.random.default_rng(d.draw(st.integers(0, 2**32 - 1))).standard_normal((n, c, h, w))
    grid = np.array(d.draw(st.lists(values, min_size=n * ho * wo * 2, max_size=n * ho * wo * 2)), dtype=np.float64)
    return x.astype(dtype), grid.reshape(n, ho, wo, 2).astype(dtype)


def draw_options(d: st.DataObject) -> tuple[str, str, bool]:
    return d.draw(st.sampled_from(MODES)), d.draw(st.sampled_from(PADDINGS)), d.draw(st.booleans())


# ---------------------------------------------------------------- grid_sample
@settings(max_examples=150, deadline=None)
@given(d=st.data(), dtype=DTYPES)
def test_grid_sample_matches_torch(d: st.DataObject, dtype: type) -> None:
    x, grid = draw_case(d, INSIDE | TIES | FAR, dtype)
    x *= d.draw(st.sampled_from([1.0, 1e3]))
    compare(x, grid, *draw_options(d))


@settings(max_examples=60, deadline=None)
@given(d=st.data(), dtype=DTYPES)
def test_grid_sample_every_option_on_one_case(d: st.DataObject, dtype: type) -> None:
    x, grid = draw_case(d, INSIDE | TIES, dtype)
    for mode in MODES:
        for padding in PADDINGS:
            for align in (False, True):
                compare(x, grid, mode, padding, align)


@settings(max_examples=150, deadline=None)
@given(d=st.data(), dtype=DTYPES)
def test_grid_sample_nan_inf_and_huge_points(d: st.DataObject, dtype: type) -> None:
    x, grid = draw_case(d, INSIDE | TIES | GRID_SPECIAL, dtype)
    if d.draw(st.booleans()):  # nan / inf / -0.0 in the input too
        flat = x.reshape(-1)
        for i in d.draw(st.lists(st.integers(0, flat.size - 1), max_size=3)):
            flat[i] = d.draw(INPUT_SPECIAL)
    compare(x, grid, *draw_options(d))


@settings(max_examples=40, deadline=None)
@given(d=st.data(), dtype=DTYPES)
def test_grid_sample_far_outside_reflection_folds_as_torch(d: st.DataObject, dtype: type) -> None:
    far = st.floats(-1e15, 1e15) if dtype == np.float64 else st.floats(-1e9, 1e9)  # (coordinates below 2**53)
    x, grid = draw_case(d, FAR | far, dtype)
    compare(x, grid, d.draw(st.sampled_from(MODES)), "reflection", d.draw(st.booleans()))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("align", [False, True])
def test_nearest_ties_round_half_to_even_as_torch(dtype: type, padding: str, align: bool) -> None:
    """Identity grids of other sizes put points exactly on pixel boundaries (and an ulp either side): nearest picks
    the pixel torch's fused multiply-add and round-half-to-even pick."""
    for h in range(1, 9):
        x = np.arange(h * (h + 1), dtype=dtype).reshape(1, 1, h, h + 1)
        for out in range(1, 13):
            theta = np.array([[[1, 0, 0], [0, 1, 0]]], dtype=dtype)
            grid = TF.affine_grid(torch.tensor(theta), [1, 1, out, out + 2], align_corners=align).numpy()
            np.testing.assert_array_equal(F.affine_grid(tg.tensor(theta), [1, 1, out, out + 2], align).numpy(), grid)
            for g in (grid, np.nextafter(grid, np.inf), np.nextafter(grid, -np.inf)):
                compare(x, g, "nearest", padding, align)
    ties = np.array([k / 6 - 1 for k in range(13)] + [-1 / 3, -2 / 3, 1 / 3, -0.5, 0.5], dtype=dtype)
    grid = np.stack(np.meshgrid(ties, ties), axis=-1)[None]
    for size in range(1, 8):
        compare(np.arange(size * size, dtype=dtype).reshape(1, 1, size, size), grid, "nearest", padding, align)


def test_bilinear_nan_points_where_torch_crashes() -> None:
    """Under 'border' a nan point, and under 'reflection' a nan or infinite one, reads position 0 (torch's
    forward); torch's backward crashes there. Ours: the input gradient of reading position 0, a nan grid gradient
    at that point, torch's gradients elsewhere."""
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    for padding, bad in (("border", [np.nan]), ("reflection", [np.nan, np.inf, -np.inf])):
        for align in (False, True):
            for value in bad:
                grid = np.random.default_rng(1).uniform(-1.2, 1.2, (2, 3, 2, 2))
                grid[0, 1, 0, 0] = value
                grid[1, 2, 1, 1] = value
                kw = {"mode": "bilinear", "padding_mode": padding, "align_corners": align}
                ours = run(tg, x, grid, True, **kw)
                np.testing.assert_allclose(ours[0], run(torch, x, grid, False, **kw)[0], rtol=1e-12, atol=1e-12)
                fixed = grid.copy()  # position 0 along the axis, where torch's forward reads
                fixed[0, 1, 0, 0] = -1 if align else 1 / 5 - 1
                fixed[1, 2, 1, 1] = -1 if align else 1 / 4 - 1
                theirs = run(torch, x, fixed, True, **kw)
                np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12, atol=1e-12)
                assert np.isnan(ours[2][0, 1, 0, 0]) and np.isnan(ours[2][1, 2, 1, 1])
                keep = np.ones(grid.shape, dtype=bool)
                keep[0, 1, 0, 0] = keep[1, 2, 1, 1] = False
                np.testing.assert_allclose(ours[2][keep], theirs[2][keep], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,grid_shape", [((0, 2, 3, 3), (0, 2, 2, 2)), ((2, 0, 3, 3), (2, 2, 2, 2)),
                                              ((2, 2, 3, 3), (2, 0, 4, 2)), ((2, 2, 3, 3), (2, 4, 0, 2)),
                                              ((1, 1, 1, 1), (1, 3, 3, 2))])
@pytest.mark.parametrize("mode", MODES)
def test_empty_and_unit_sizes(shape: tuple[int, ...], grid_shape: tuple[int, ...], mode: str) -> None:
    x = np.random.default_rng(0).standard_normal(shape)
    grid = np.random.default_rng(1).uniform(-1.5, 1.5, grid_shape)
    for padding in PADDINGS:
        for align in (False, True):
            compare(x, grid, mode, padding, align)


def test_non_contiguous_and_channels() -> None:
    """A transposed input and a grid made from an (N, 2, Ho, Wo) map, as a conv net would give."""
    rng = np.random.default_rng(2)
    x, g = rng.standard_normal((2, 4, 6, 5)), rng.uniform(-1.1, 1.1, (2, 2, 3, 7))
    for mode in MODES:
        for lib in (tg, torch):
            xt, gt = lib.tensor(x, requires_grad=True), lib.tensor(g, requires_grad=True)
            fn = F.grid_sample if lib is tg else TF.grid_sample
            out = fn(xt.transpose(2, 3), gt.permute(0, 2, 3, 1), mode=mode, align_corners=False)
            (out * out).sum().backward()
            if lib is tg:
                ours = [out.numpy(), xt.grad.numpy(), gt.grad.numpy()]
            else:
                for a, b in zip(ours, [out.detach().numpy(), xt.grad.numpy(), gt.grad.numpy()]):
                    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_only_one_operand_needs_a_gradient(mode: str) -> None:
    rng = np.random.default_rng(4)
    x, g = rng.standard_normal((2, 2, 3, 4)), rng.uniform(-1.2, 1.2, (2, 3, 2, 2))
    for wants in ((True, False), (False, True)):
        grads = []
        for lib, fn in ((tg, F), (torch, TF)):
            xt, gt = lib.tensor(x, requires_grad=wants[0]), lib.tensor(g, requires_grad=wants[1])
            (fn.grid_sample(xt, gt, mode=mode, padding_mode="reflection", align_corners=False) ** 2).sum().backward()
            grads.append([None if t.grad is None else t.grad.numpy() for t in (xt, gt)])
        for a, b in zip(*grads):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_output_written_in_place_then_backward_as_torch() -> None:
    """grid_sample's backward reads its input and grid, not its output: torch lets the output be changed in place."""
    rng = np.random.default_rng(3)
    x, g = rng.standard_normal((1, 2, 3, 4)), rng.uniform(-1, 1, (1, 2, 2, 2))
    grads = []
    for lib, fn in ((tg, F), (torch, TF)):
        xt, gt = lib.tensor(x, requires_grad=True), lib.tensor(g, requires_grad=True)
        out = fn.grid_sample(xt, gt, mode="bicubic", align_corners=True)
        out.mul_(3.0)
        out.sum().backward()
        grads.append([xt.grad.numpy(), gt.grad.numpy()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- affine_grid
@settings(max_examples=100, deadline=None)
@given(d=st.data(), dtype=DTYPES)
def test_affine_grid_matches_torch(d: st.DataObject, dtype: type) -> None:
    n, c, h, w = (d.draw(st.integers(low, high)) for low, high in ((0, 3), (1, 3), (1, 7), (1, 7)))
    theta = np.array(d.draw(st.lists(st.floats(-5, 5) | TIES, min_size=n * 6, max_size=n * 6))).reshape(n, 2, 3)
    theta = theta.astype(dtype)
    align = d.draw(st.booleans())
    size = d.draw(st.sampled_from([(n, c, h, w), [n, c, h, w], torch.Size([n, c, h, w])]))
    ref_theta = torch.tensor(theta, requires_grad=True)
    our_theta = tg.tensor(theta, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ref = TF.affine_grid(ref_theta, size, align)
        except ValueError:  # an empty batch, unless align_corners with a size-1 side skips torch's check
            with pytest.raises(ValueError):
                F.affine_grid(our_theta, size, align)
            return
        ours = F.affine_grid(our_theta, size, align)
    assert ours.shape == tuple(ref.shape) == (n, h, w, 2) and str(ours.dtype) == str(ref.dtype).removeprefix("torch.")
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(ours.numpy(), ref.detach().numpy(), rtol=tol, atol=tol * 10)
    weights = np.cos(np.arange(ref.numel()) + 1.0).reshape(tuple(ref.shape)).astype(dtype)
    (ref * torch.tensor(weights)).sum().backward()
    (ours * tg.tensor(weights)).sum().backward()
    np.testing.assert_allclose(our_theta.grad.numpy(), ref_theta.grad.numpy(), rtol=tol, atol=tol * h * w * 10)


@settings(max_examples=100, deadline=None)
@given(d=st.data(), dtype=DTYPES)
def test_spatial_transformer_pipeline(d: st.DataObject, dtype: type) -> None:
    """affine_grid -> grid_sample as in the STN tutorial: gradients of theta (through the grid) and of the input."""
    n, c, h, w = (d.draw(st.integers(low, high)) for low, high in ((1, 3), (1, 2), (1, 6), (1, 6)))
    ho, wo = d.draw(st.integers(1, 6)), d.draw(st.integers(1, 6))
    rng = np.random.default_rng(d.draw(st.integers(0, 2**32 - 1)))
    theta = (np.array([[1, 0, 0], [0, 1, 0]]) + rng.normal(0, d.draw(st.sampled_from([0.0, 0.2, 2.0])), (n, 2, 3)))
    x = rng.standard_normal((n, c, h, w))
    mode, padding, align = draw_options(d)
    results = []
    for lib, fn in ((tg, F), (torch, TF)):
        th, xt = lib.tensor(theta.astype(dtype), requires_grad=True), lib.tensor(x.astype(dtype), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn.grid_sample(xt, fn.affine_grid(th, [n, c, ho, wo], align_corners=align), mode=mode,
                                 padding_mode=padding, align_corners=align)
        (out * lib.tensor(np.cos(np.arange(out.numel())).reshape(tuple(out.shape)).astype(dtype))).sum().backward()
        results.append([out.detach().numpy() if lib is torch else out.numpy(), th.grad.numpy(), xt.grad.numpy()])
    tol = 1e-9 if dtype == np.float64 else 1e-3
    for a, b in zip(*results):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_affine_grid_nan_inf_theta() -> None:
    theta = np.array([[[np.nan, 0, 0.5], [0, 1, 0]], [[np.inf, -1, 0], [0, 1e300, -np.inf]]])
    for align in (False, True):
        ours = F.affine_grid(tg.tensor(theta), (2, 1, 3, 4), align_corners=align).numpy()
        ref = TF.affine_grid(torch.tensor(theta), (2, 1, 3, 4), align_corners=align).numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-12, equal_nan=True)


# ---------------------------------------------------------------- warnings and errors
def test_warnings_as_torch() -> None:
    x, grid, theta = np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 1, 2)), np.zeros((1, 2, 3))
    for lib, fn in ((tg, F), (torch, TF)):
        with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
            fn.grid_sample(lib.tensor(x), lib.tensor(grid))
        with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
            fn.affine_grid(lib.tensor(theta), (1, 1, 2, 2))
        with pytest.warns(UserWarning, match="unit-size grids" if lib is torch else "size-1 grid dimension"):
            fn.affine_grid(lib.tensor(theta), (1, 1, 1, 2), align_corners=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fn.grid_sample(lib.tensor(x), lib.tensor(grid), align_corners=False)
            fn.affine_grid(lib.tensor(theta), (1, 1, 2, 2), align_corners=False)


@pytest.mark.parametrize("call", [
    lambda lib, f: f.grid_sample(lib.zeros(2, 3, 4, 5), lib.zeros(1, 6, 7, 2), align_corners=False),
    lambda lib, f: f.grid_sample(lib.zeros(2, 3, 0, 5), lib.zeros(2, 6, 7, 2), align_corners=False),
    lambda lib, f: f.grid_sample(lib.zeros(2, 3, 4, 5), lib.zeros(2, 6, 7, 3), align_corners=False),
    lambda lib, f: f.grid_sample(lib.zeros(2, 3, 4, 5), lib.zeros(2, 6, 7, 1), align_corners=False),
    lambda lib, f: f.grid_sample(lib.zeros(3, 4, 5), lib.zeros(6, 7, 2), align_corners=False),
    lambda lib, f: f.grid_sample(lib.zeros(2, 3, 4, 5), lib.zeros(2, 6, 7, 1, 2), align_corners=False),
    lambda lib, f: f.grid_sample(lib.zeros(2, 3, 4, 5, dtype=lib.float64), lib.zeros(2, 6, 7, 2),
                                 align_corners=False),
    lambda lib, f: f.grid_sample(lib.zeros(2, 3, 4, 5, dtype=lib.int64), lib.zeros(2, 6, 7, 2, dtype=lib.int64),
                                 align_corners=False),
    lambda lib, f: f.grid_sample(lib.zeros(2, 3, 4, 5), lib.zeros(2, 6, 7, 2), mode="area", align_corners=False),
    lambda lib, f: f.grid_sample(lib.zeros(2, 3, 4, 5), lib.zeros(2, 6, 7, 2), padding_mode="circular",
                                 align_corners=False),
    lambda lib, f: f.grid_sample(lib.zeros(2, 3, 4, 5), lib.zeros(2, 6, 7, 2), align_corners=1),
    lambda lib, f: f.grid_sample(lib.zeros(2, 3, 4, 5, 2), lib.zeros(2, 6, 7, 1, 3), mode="bicubic",
                                 align_corners=False),
    lambda lib, f: f.affine_grid(lib.zeros(2, 2, 3), (3, 1, 4, 5), align_corners=False),
    lambda lib, f: f.affine_grid(lib.zeros(2, 2, 3), (2, 0, 4, 5), align_corners=False),
    lambda lib, f: f.affine_grid(lib.zeros(2, 2, 3), (2, 3, 1, 0), align_corners=True),
    lambda lib, f: f.affine_grid(lib.zeros(2, 2, 3, dtype=lib.int64), (2, 3, 4, 5), align_corners=False),
    lambda lib, f: f.affine_grid(lib.zeros(2, 2, 3), (2, 3, 4), align_corners=False),
    lambda lib, f: f.affine_grid(lib.zeros(2, 2, 3), (2, 3, 4, 5, 6), align_corners=False),
    lambda lib, f: f.affine_grid(lib.zeros(2, 3, 3), (2, 3, 4, 5), align_corners=False),
    lambda lib, f: f.affine_grid(lib.zeros(2, 3), (2, 3, 4, 5), align_corners=False),
    lambda lib, f: f.affine_grid(lib.zeros(2, 2, 3), [2, 3, 4, 5.0], align_corners=False),
])
def test_errors_as_torch(call: Any) -> None:
    raises(lambda lib: call(lib, tg.nn.functional if lib is tg else TF))


def test_unit_size_with_align_corners_skips_the_size_check_as_torch() -> None:
    theta = np.random.default_rng(0).standard_normal((2, 2, 3))
    for size in [(2, 0, 1, 5), (2, -1, 1, 5)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = F.affine_grid(tg.tensor(theta), size, align_corners=True).numpy()
            ref = TF.affine_grid(torch.tensor(theta), size, align_corners=True).numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_what_we_refuse() -> None:
    """float16 is not implemented (torch's CPU takes it); volumetric (5-D) sampling is tested in
    test_torch_3d_pool_more.py."""
    with pytest.raises(TypeError, match="float16"):
        F.grid_sample(tg.zeros(1, 1, 2, 2, dtype="float16"), tg.zeros(1, 1, 1, 2, dtype="float16"),
                      align_corners=False)
    with pytest.raises(TypeError, match="float16"):
        F.affine_grid(tg.zeros(1, 2, 3, dtype="float16"), (1, 1, 2, 2), align_corners=False)
