"""interpolate's modes 'bicubic' and 'area' and its antialias (bilinear, bicubic), and nn.init.dirac_ / sparse_,
against torch: values, dtypes, gradients, nan / inf, and the errors where torch raises."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_higher_order_grad import second_order

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import nn

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
TF = torch.nn.functional


def both(ours: Callable, theirs: Callable, x: np.ndarray, adjoint: bool = False) -> None:
    """x through both: shapes, dtypes, values (nan and inf where torch has them) and the gradient of sum(out * w):
    torch's, or (``adjoint``) the adjoint of torch's forward, planes of one-hot inputs through it."""
    tol = {"rtol": 1e-9, "atol": 1e-10} if x.dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-5}
    a, b = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(a), theirs(b)
    assert out.shape == tuple(ref.shape) and str(out.dtype) == str(ref.dtype).removeprefix("torch.")
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **tol)
    w = np.random.default_rng(0).standard_normal(out.shape).astype(x.dtype)
    (out * tg.Tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    expected = b.grad.numpy()
    if adjoint:  # J[p, q]: output q of a plane holding a one at p; the gradient of plane (n, c) is J w[n, c]
        spatial = x.shape[2:]
        basis = np.eye(math.prod(spatial), dtype=x.dtype).reshape(-1, 1, *spatial)
        jac = theirs(torch.tensor(basis)).detach().numpy().reshape(len(basis), -1)
        expected = (w.reshape(*w.shape[:2], jac.shape[1]) @ jac.T).reshape(x.shape)
    np.testing.assert_allclose(a.grad.numpy(), expected, **tol)


def data(d: st.DataObject, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """Normal values, and sometimes a few nan / inf / -inf / -0.0."""
    rng = np.random.default_rng(d.draw(st.integers(0, 2**31)))
    x = rng.standard_normal(shape).astype(dtype)
    if x.size and d.draw(st.booleans()):
        at = rng.integers(0, x.size, d.draw(st.integers(1, 3)))
        x.reshape(-1)[at] = d.draw(st.sampled_from([np.nan, np.inf, -np.inf, -0.0]))
    return x


def resize_args(d: st.DataObject, spatial: tuple[int, ...]) -> dict:
    """size, or a (non-integer too) scale_factor with any recompute_scale_factor: up and down."""
    if d.draw(st.booleans()):
        return {"size": tuple(d.draw(st.integers(1, 9)) for _ in spatial)}
    scale = tuple(d.draw(st.floats(0.1, 3.5).filter(lambda f, m=m: int(m * f) >= 1)) for m in spatial)
    return {"scale_factor": scale, "recompute_scale_factor": d.draw(st.sampled_from([None, True, False]))}


dtypes = st.sampled_from([np.float64, np.float32])


def torch_grad_is_not_its_forwards(spatial: tuple[int, ...], kw: dict) -> bool:
    """Whether torch's gradient differs from the derivative of its forward (ours is that): an axis that keeps its
    size under a scale_factor (not recomputed, no align_corners) moves the taps of torch's bicubic forward, but its
    backward copies the gradient when every axis keeps its size; torch's antialiased forward copies each axis that
    keeps its size, but its backward still applies that axis's window weights."""
    if "scale_factor" not in kw or kw.get("recompute_scale_factor") or kw["align_corners"]:
        return False
    kept = [int(m * f) == m and f != 1 for m, f in zip(spatial, kw["scale_factor"])]
    return any(kept) if kw.get("antialias") else all(kept)


def torch_resize(width: int, kw: dict) -> Callable:
    """torch's interpolate with ``kw`` of input ``width`` wide; an antialiased output 1 wide one axis at a time,
    each through torch's horizontal pass (torch 2.13's CPU vertical antialiased pass then returns the input's first
    row for every output row: F.interpolate(torch.arange(3.).reshape(1, 1, 3, 1), size=(6, 1), mode="bilinear",
    antialias=True) is all 0)."""
    size, scale = kw.get("size"), kw.get("scale_factor")
    if not kw.get("antialias") or (size[1] if size else int(width * scale[1])) > 1:
        return lambda a: TF.interpolate(a, **kw)

    def along_width(a: torch.Tensor, axis: int) -> torch.Tensor:  # resize axis ``axis`` of kw's only (it is last)
        one = {**kw, "size": (a.shape[2], size[axis])} if size else {**kw, "scale_factor": (1.0, scale[axis])}
        return TF.interpolate(a, **one)
    return lambda a: along_width(along_width(a.transpose(2, 3), 0).transpose(2, 3), 1)


@settings(max_examples=60, deadline=None)
@given(st.data(), dtypes, st.integers(0, 2), st.booleans())
def test_bicubic_matches_torch(d: st.DataObject, dtype: type, n: int, antialias: bool) -> None:
    x = data(d, (n, d.draw(st.integers(1, 3)), d.draw(st.integers(1, 7)), d.draw(st.integers(1, 7))), dtype)
    kw = {"mode": "bicubic", "align_corners": d.draw(st.booleans()), "antialias": antialias,
          **resize_args(d, x.shape[2:])}
    adjoint = torch_grad_is_not_its_forwards(x.shape[2:], kw)
    both(lambda a: F.interpolate(a, **kw), torch_resize(x.shape[3], kw), x, adjoint)
    if not antialias:
        kw.pop("antialias")
        both(lambda a: nn.Upsample(**kw)(a), lambda a: torch.nn.Upsample(**kw)(a), x, adjoint)


@settings(max_examples=40, deadline=None)
@given(st.data(), dtypes, st.integers(0, 2))
def test_bilinear_antialias_matches_torch(d: st.DataObject, dtype: type, n: int) -> None:
    x = data(d, (n, d.draw(st.integers(1, 3)), d.draw(st.integers(1, 9)), d.draw(st.integers(1, 9))), dtype)
    kw = {"mode": "bilinear", "align_corners": d.draw(st.booleans()), "antialias": True,
          **resize_args(d, x.shape[2:])}
    adjoint = torch_grad_is_not_its_forwards(x.shape[2:], kw)
    both(lambda a: F.interpolate(a, **kw), torch_resize(x.shape[3], kw), x, adjoint)


@settings(max_examples=60, deadline=None)
@given(st.data(), dtypes, st.integers(0, 2), st.integers(1, 3))
def test_area_matches_torch(d: st.DataObject, dtype: type, n: int, dim: int) -> None:
    x = data(d, (n, d.draw(st.integers(1, 3)), *(d.draw(st.integers(1, 8)) for _ in range(dim))), dtype)
    kw = {"mode": "area", **resize_args(d, x.shape[2:])}
    both(lambda a: F.interpolate(a, **kw), lambda a: TF.interpolate(a, **kw), x)
    both(lambda a: nn.Upsample(**kw)(a), lambda a: torch.nn.Upsample(**kw)(a), x)


@settings(max_examples=30, deadline=None)
@given(st.data(), dtypes, st.sampled_from(["bicubic", "area", "bilinear-antialias", "bicubic-antialias"]))
def test_double_backward_matches_torch(d: st.DataObject, dtype: type, mode: str) -> None:
    mode, _, aa = mode.partition("-")
    shape = (1, 2, *(d.draw(st.integers(1, 5)) for _ in range(2 if mode != "area" else d.draw(st.integers(1, 3)))))
    x = np.random.default_rng(d.draw(st.integers(0, 2**31))).standard_normal(shape).astype(dtype)
    kw = {"size": tuple(d.draw(st.integers(1, 7)) for _ in shape[2:]), "mode": mode}
    if mode != "area":
        kw |= {"align_corners": d.draw(st.booleans()), "antialias": bool(aa)}
    if aa and kw["size"][1] == 1:  # torch's antialiased output 1 wide is wrong (see torch_resize)
        return
    second_order(lambda lib, t: lib.nn.functional.interpolate(t * t, **kw), x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("row", "mode", "size"), [
    ([-0.27, -np.inf], "bilinear", (5, 6)), ([-0.84, 1.7, -np.inf, -0.29], "bilinear", (5, 6)),
    ([1.0, 2.0, np.inf], "bicubic", (2, 9)), ([0.77, -np.inf], "bicubic", (3, 5)),
])
def test_inf_on_pixel_boundaries(row: list, mode: str, size: tuple[int, int], dtype: type) -> None:
    """An output on a pixel boundary: torch's source index (dst + 0.5) * s - 0.5 is one fused multiply-add, whose
    sign decides whether an inf meets a weight 0 (nan) or not."""
    x = np.array(row, dtype=dtype).reshape(1, 1, 1, -1)
    kw = {"size": size, "mode": mode}
    both(lambda a: F.interpolate(a, **kw), lambda a: TF.interpolate(a, **kw), x)
    x = np.array(row, dtype=dtype).reshape(1, 1, -1, 1)
    both(lambda a: F.interpolate(a, **kw), lambda a: TF.interpolate(a, **kw), x)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), dtypes, st.booleans(), st.one_of(st.none(), st.floats(0.2, 3.0)))
def test_antialias_bicubic_weights_are_torchs_bits(n: int, m: int, dtype: type, align_corners: bool,
                                                   scale: float | None) -> None:
    """Each antialiased bicubic weight (one-hot inputs through both) equals torch's bit for bit: Keys' kernel is
    evaluated with fused multiply-adds as torch's compiled one is, so where a tap sits a rounding away from a zero
    of the kernel both weigh it with the same tiny number, not one 0 and the other 1e-32."""
    if scale is not None and int(n * scale) < 1:
        return
    kw = {"mode": "bicubic", "antialias": True, "align_corners": align_corners,
          **({"size": (1, m)} if scale is None else {"scale_factor": (1.0, scale)})}
    basis = np.eye(n, dtype=dtype).reshape(n, 1, 1, n)
    ours, theirs = F.interpolate(tg.Tensor(basis), **kw).numpy(), TF.interpolate(torch.tensor(basis), **kw).numpy()
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("x", "kw"), [
    ([[0.19, -0.52, -0.41, -2.44, 1.8, 1.14], [-0.33, 0.77, np.inf, -0.55, 0.98, -0.31]],
     {"size": (1, 4), "align_corners": True}),
    ([[-0.15, 1.16, np.inf, 0.33, -0.15]], {"size": (3, 3), "align_corners": False}),
])
def test_antialias_bicubic_inf_on_a_zero_of_the_kernel(x: list, kw: dict, dtype: type) -> None:
    """An inf where an output's window meets Keys' kernel at distance 1 or 2 (a weight of 0 in exact arithmetic,
    1e-32 or 1e-14 after torch's rounding): torch's output is inf there, not nan (inf * 0); so is ours."""
    kw = {"mode": "bicubic", "antialias": True, **kw}
    both(lambda a: F.interpolate(a, **kw), lambda a: TF.interpolate(a, **kw), np.array([[x]], dtype=dtype))


def test_upsampling_bilinear2d_module() -> None:
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5))
    both(lambda a: nn.UpsamplingBilinear2d(scale_factor=1.5)(a),
         lambda a: torch.nn.UpsamplingBilinear2d(scale_factor=1.5)(a), x)


@pytest.mark.parametrize(("shape", "kw"), [
    ((1, 2, 3, 3), {"mode": "area", "size": 2, "align_corners": True}),
    ((1, 2, 3, 3), {"mode": "area", "size": 2, "antialias": True}),
    ((1, 2, 3, 3), {"mode": "nearest", "size": 2, "antialias": True}),
    ((1, 2, 3), {"mode": "linear", "size": 2, "antialias": True}),
    ((1, 2, 3, 3, 3), {"mode": "trilinear", "size": 2, "antialias": True}),
    ((1, 2, 3), {"mode": "bicubic", "size": 2}),
    ((1, 2, 3, 3, 3), {"mode": "bicubic", "size": 2}),
    ((1, 2, 3, 3), {"mode": "bicubic", "size": 0}),
    ((1, 0, 3, 3), {"mode": "bicubic", "size": 2}),
    ((1, 2, 3, 3), {"mode": "area", "size": (2, 2, 2)}),
    ((3, 3), {"mode": "area", "size": 2}),
])
def test_errors_where_torch_raises(shape: tuple[int, ...], kw: dict) -> None:
    with pytest.raises((ValueError, RuntimeError, NotImplementedError, TypeError)):
        TF.interpolate(torch.zeros(shape), **kw)
    with pytest.raises((ValueError, NotImplementedError, TypeError)):
        F.interpolate(tg.zeros(*shape), **kw)


def test_lanczos_raises() -> None:  # torch 2.13 has mode 'lanczos'; we do not
    with pytest.raises(NotImplementedError, match="lanczos"):
        F.interpolate(tg.zeros(1, 2, 3, 3), size=2, mode="lanczos")


def test_integer_input_raises() -> None:
    for mode in ("area", "bicubic"):  # torch: area not for uint8 (bicubic is; we raise, convert first)
        with pytest.raises(TypeError, match="convert first"):
            F.interpolate(tg.zeros(1, 1, 3, 3, dtype="uint8"), size=2, mode=mode)


@pytest.mark.gpu
def test_on_the_gpu_matches_the_cpu() -> None:
    def program(device: str) -> list:
        x = tg.tensor(np.sin(np.arange(60.0)).reshape(1, 3, 4, 5), device=device, requires_grad=True)
        v = tg.tensor(np.cos(np.arange(48.0)).reshape(1, 2, 2, 3, 4), device=device, requires_grad=True)
        outs = [F.interpolate(x, size=(7, 3), mode="bicubic"), F.interpolate(x, scale_factor=1.7, mode="bicubic",
                                                                            align_corners=True),
                F.interpolate(x, size=(3, 7), mode="area"), F.interpolate(v, size=(3, 2, 3), mode="area"),
                F.interpolate(x, size=(2, 9), mode="bilinear", antialias=True),
                F.interpolate(x, size=(9, 2), mode="bicubic", antialias=True)]
        sum(((o * o).sum() for o in outs), tg.tensor(0.0, device=device)).backward()
        return [*outs, x.grad, v.grad]
    for i, (a, b) in enumerate(zip(program("cpu"), program("cuda"), strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=str(i))


# ------------------------------------------------------------------------------------------- nn.init.dirac_ / sparse_
@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from([np.float32, np.float64, np.int64]), st.integers(3, 5), st.integers(-1, 4))
def test_dirac_matches_torch(d: st.DataObject, dtype: type, ndim: int, groups: int) -> None:
    shape = tuple(d.draw(st.integers(0, 6 if i == 0 else 4)) for i in range(ndim))
    ours, theirs = tg.tensor(np.ones(shape, dtype=dtype)), torch.ones(shape, dtype=getattr(torch, np.dtype(dtype).name))
    try:
        torch.nn.init.dirac_(theirs, groups)
    except (ValueError, ZeroDivisionError, IndexError):
        with pytest.raises((ValueError, IndexError)):
            nn.init.dirac_(ours, groups)
        return
    if groups < 0:  # torch zeroes the tensor and puts no ones; we raise
        with pytest.raises(ValueError, match="groups"):
            nn.init.dirac_(ours, groups)
        return
    assert nn.init.dirac_(ours, groups) is ours and ours.dtype == dtype
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_dirac_convolution_is_the_identity() -> None:
    x = tg.tensor(np.random.default_rng(0).standard_normal((2, 4, 5, 5)))
    w = nn.init.dirac_(tg.empty(4, 4, 3, 3, dtype="float64"))
    np.testing.assert_allclose(F.conv2d(x, w, padding=1).numpy(), x.numpy(), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(3,), (2, 2, 2), ()])
def test_dirac_and_sparse_need_their_ranks(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        torch.nn.init.sparse_(torch.ones(shape), 0.5)
    with pytest.raises(ValueError, match="2-D"):
        nn.init.sparse_(tg.ones(*shape), 0.5)
    if len(shape) != 3:
        with pytest.raises(ValueError, match="3-D, 4-D or 5-D"):
            nn.init.dirac_(tg.ones(*shape))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 30), st.integers(0, 8), st.floats(-1.0, 2.0), st.sampled_from([np.float32, np.float64]))
def test_sparse_zeros_per_column_as_torch(rows: int, cols: int, sparsity: float, dtype: type) -> None:
    """The random streams differ from torch's, so the structure: each column's count of zeros is torch's."""
    ours, theirs = tg.tensor(np.full((rows, cols), 7.0, dtype=dtype)), torch.full((rows, cols), 7.0)
    torch.nn.init.sparse_(theirs, sparsity)
    assert nn.init.sparse_(ours, sparsity) is ours and ours.dtype == dtype
    np.testing.assert_array_equal((ours.numpy() == 0).sum(0), (theirs.numpy() == 0).sum(0))
    assert not (ours.numpy() == 7).any()


def test_sparse_values_and_generator() -> None:
    w = nn.init.sparse_(tg.empty(400, 300), 0.25, std=0.5)
    values = w.numpy()
    assert ((values == 0).sum(0) == 100).all()
    kept = values[values != 0]
    assert abs(kept.mean()) < 0.01 and abs(kept.std() - 0.5) < 0.01
    rows = [(values[:, j] == 0).nonzero()[0] for j in range(3)]  # each column its own random rows
    assert not np.array_equal(rows[0], rows[1]) and not np.array_equal(rows[1], rows[2])
    a, b = (nn.init.sparse_(tg.empty(20, 6), 0.5, generator=tg.Generator().manual_seed(3)).numpy() for _ in range(2))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="floating"):
        nn.init.sparse_(tg.zeros(3, 3, dtype="int64"), 0.5)  # torch: NotImplementedError from its normal_
