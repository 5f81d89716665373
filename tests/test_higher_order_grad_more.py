"""Double backward (``create_graph=True``) of higher_order_more's ops against torch 2.13: the special functions,
two-argument math, median / quantile, prod and cumprod of tensors holding zeros, p-norms with p < 1, the
probability losses (bce with weight, kl_div, soft margin), prelu, interpolate and grid_sample; Hessian-vector products
(``second_order``) and third derivatives on hypothesis inputs with ties, zeros, the domain's boundaries, nan and
inf; the composites the same people reach (3-D convolutions and pools, sort / topk, margin losses) checked too."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_higher_order_grad import DTYPES, ELEMENTS, GRAD, NO_HUGE, TOL, F, _close, _np, second_order, typed
from test_torch_movement_names import arrays, dim_of

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

UNIT = st.floats(-1, 1) | st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, np.nan])  # erfinv's and logit's domain edges
UNARY: dict[str, tuple[Callable[..., Any], Any]] = {
    "erfc": (lambda lib, x: x.erfc(), ELEMENTS), "erfinv": (lambda lib, x: x.erfinv(), UNIT | ELEMENTS),
    "lgamma": (lambda lib, x: x.lgamma() * x, NO_HUGE), "digamma": (lambda lib, x: x.digamma(), NO_HUGE),
    "polygamma": (lambda lib, x: lib.polygamma(2, x) * x, st.floats(0.2, 4) | st.sampled_from([0.5, 1.0])),
    "sinc": (lambda lib, x: x.sinc() * x, NO_HUGE),  # (1e300: first order; near 0: test_sinc_series_near_zero)
    "logit": (lambda lib, x: x.logit() * x, UNIT), "logit_plain": (lambda lib, x: x.logit(), UNIT),
    "logit_eps": (lambda lib, x: x.logit(0.1) * x, UNIT),
    "median": (lambda lib, x: x.median() * x, NO_HUGE), "nanmedian": (lambda lib, x: x.nanmedian() * x, NO_HUGE),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=25, deadline=None)
@given(data=st.data(), dtype=DTYPES, ties=st.booleans())
def test_unary(name: str, data: st.DataObject, dtype: Any, ties: bool) -> None:
    f, elements = UNARY[name]
    x = data.draw(arrays(elements=elements))
    x = typed(np.round(x * 2) / 2 if ties else x, dtype)  # (halves: ties, and erfinv's +-1)
    if name.startswith("logit"):  # torch's first-order logit gradient at -0.0 is +inf in its scalar loop (short
        x = np.where(x == 0, x.dtype.type(0), x)  # tensors, and ours), -inf in its vector loop: README; tested
    if name == "sinc":  # below 0.01 torch's second derivative cancels (float32: 2.2e-1 off at 1e-4; nan at 0 and
        with np.errstate(invalid="ignore"):  # 1e-200); ours is a series there (test_sinc_series_near_zero)
            x = np.where(np.abs(x) < 0.01, x.dtype.type(0.5), x)
    second_order(f, x)  # elsewhere


def test_sinc_series_near_zero() -> None:
    """sinc's first derivative (plain and under create_graph) and its second derivative near 0, where torch's
    closed forms cancel (36% off at 1e-8 in float64), against mpmath: the series of (sin u / u)' at u = pi x."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    values = [0.0, -0.0, 1e-300, -1e-30, 1e-8, 1e-4, -3e-3, 0.05, 0.2, 1 / np.pi, 0.32, 0.9, 2.5]
    for dtype, rtol in ((np.float64, 4e-15), (np.float32, 4e-6)):  # (2.5: cos(pi x) ~ 0, a few ulps of 1 over x)
        xs = np.array(values, dtype=dtype)
        small = [mp.mpf(float(v)) for v in xs]  # (mpmath's numeric derivatives lose tiny x: the series' first term)
        first = [-mp.pi ** 2 * v / 3 if abs(v) < 1e-6 else mp.diff(lambda s: mp.sin(mp.pi * s) / (mp.pi * s), v)
                 for v in small]
        second = [-mp.pi ** 2 / 3 if abs(v) < 1e-6 else mp.diff(lambda s: mp.sin(mp.pi * s) / (mp.pi * s), v, 2)
                  for v in small]
        x = tg.tensor(xs, requires_grad=True)
        (g,) = tg.autograd.grad(tg.sinc(x).sum(), [x], create_graph=True)
        (gg,) = tg.autograd.grad(g.sum(), [x])
        plain = tg.tensor(xs, requires_grad=True)
        tg.sinc(plain).sum().backward()
        assert not np.signbit(plain.grad.numpy()[:2]).any() and not np.signbit(g.detach().numpy()[:2]).any()
        atol = float(np.finfo(dtype).smallest_subnormal)
        np.testing.assert_allclose(plain.grad.numpy(), np.array(first, dtype=np.float64), rtol=rtol, atol=atol)
        np.testing.assert_allclose(g.detach().numpy(), np.array(first, dtype=np.float64), rtol=rtol, atol=atol)
        np.testing.assert_allclose(gg.numpy(), np.array(second, dtype=np.float64), rtol=rtol)


BINARY: dict[str, Callable[..., Any]] = {
    "atan2": lambda lib, a, b: lib.atan2(a, b) * a, "hypot": lambda lib, a, b: lib.hypot(a, b),
    "logaddexp": lambda lib, a, b: lib.logaddexp(a, b) * b, "xlogy": lambda lib, a, b: lib.xlogy(a, b) * a,
    "logaddexp2": lambda lib, a, b: lib.logaddexp2(a, b) * b,
    "lerp_tensor": lambda lib, a, b: lib.lerp(a, b * a, b), "lerp_number": lambda lib, a, b: lib.lerp(a * b, b, 0.7),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_binary_broadcasting(name: str, data: st.DataObject, dtype: Any) -> None:
    elements = NO_HUGE | st.sampled_from([1.0, 2.0])  # (0, 0): atan2's origin; (0, y <= 0): xlogy's masked point
    if name == "atan2":  # a tiny nonzero a beside b = 0: the second derivatives (exactly 0) are differences of
        elements = elements.filter(lambda v: not 0 < abs(v) < 1e-6)  # terms ~1 / a, each library's noise its own
        # (a = 1.4e-44: -1.5e28 in torch, -2.0e28 here; at a = 1e-20 both give the same -16384)
    a = data.draw(arrays(max_dims=3, elements=elements))
    tail = a.shape[data.draw(st.integers(0, a.ndim)):]
    b = data.draw(hnp.arrays(np.float64, tuple(1 if data.draw(st.booleans()) else n for n in tail), elements=elements))
    swap = b.ndim > a.ndim if name.startswith("lerp") else data.draw(st.booleans())  # (lerp: start's shape wins)
    if swap:
        a, b = b, a
    second_order(BINARY[name], typed(a, dtype), typed(b, dtype))


@settings(max_examples=40, deadline=None)
@given(x=arrays(elements=st.floats(-2, 2) | st.sampled_from([0.0, -0.0, 1.0]), min_dims=1, min_side=1),
       data=st.data(), dtype=DTYPES)
def test_products_with_zeros(x: np.ndarray, data: st.DataObject, dtype: Any) -> None:
    zeros = data.draw(st.integers(0, 2))  # torch's three paths: no zero, one zero, several in a slice
    x[np.abs(x) < 1e-3] = 0.0  # (1e-306: result / x^2 overflows, a rounding matter of each formula)
    flat = x.reshape(-1)
    flat[data.draw(st.permutations(range(flat.size)))[:zeros]] = 0.0
    x = typed(x, dtype)
    d, keep = dim_of(data, x.ndim), data.draw(st.booleans())
    second_order(lambda lib, t: t.prod(d, keepdim=keep) * t.sum(), x)
    second_order(lambda lib, t: t.prod() * t, x)
    second_order(lambda lib, t: t.cumprod(d) * t, x)
    second_order(lambda lib, t: t.cumprod(d).sin(), x)


@settings(max_examples=40, deadline=None)
@given(x=arrays(elements=st.floats(-3, 3) | st.sampled_from([0.0, -0.0, 1.0]), min_dims=1, min_side=1),
       data=st.data(), dtype=DTYPES)
def test_norms_below_one(x: np.ndarray, data: st.DataObject, dtype: Any) -> None:
    x = typed(x, dtype)
    d, keep = dim_of(data, x.ndim), data.draw(st.booleans())
    p = data.draw(st.sampled_from([0.5, 0.3, 0.999, -1.0, -2.5, 1.5, 3.0]))
    if np.any(np.abs(x[x != 0]) < 1e-3):  # (|x|^(p - 2) of a tiny x: terms of 1e9 that cancel to rounding noise)
        return
    second_order(lambda lib, t: lib.linalg.vector_norm(t, p, d, keep) * t.sum(), x)
    if p > 0:
        second_order(lambda lib, t: t.norm(p) * t, x)
    second_order(lambda lib, t: lib.linalg.vector_norm(t, p) ** 2, x)


@pytest.mark.parametrize("p", [0.5, -1.0, 1.5, 3.0])
@pytest.mark.parametrize("x", [[0.0], [0.0, -0.0], [0.0, 2.0]])
def test_norm_at_zero(p: float, x: list[float]) -> None:  # a zero norm: torch masks g / norm^(p-1) (p > 1, not 2)
    second_order(lambda lib, t: lib.linalg.vector_norm(t, p) ** 2, np.array(x))
    second_order(lambda lib, t: lib.linalg.vector_norm(t * t, p) * t, np.array(x))


REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), reduction=REDUCTIONS, dtype=DTYPES)
def test_probability_losses(data: st.DataObject, reduction: str, dtype: Any) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
    p = typed(data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0.05, 0.95) | st.sampled_from(
        [0.0, 1.0, 0.5]))), dtype)
    y = typed(data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 1) | st.sampled_from([0.0, 1.0]))), dtype)
    w = typed(np.linspace(0.5, 2, int(np.prod(shape))).reshape(shape), dtype)
    weighted = data.draw(st.booleans())
    second_order(lambda lib, a, b: F[lib].binary_cross_entropy(a, b, lib.tensor(w) if weighted else None,
                                                               reduction=reduction), p, y)
    inner = 0.25 + 0.5 * p  # (inside (0, 1): a composite's bce, third order through logit)
    second_order(lambda lib, a: F[lib].binary_cross_entropy(a.sigmoid(), lib.tensor(y), reduction=reduction), p)
    second_order(lambda lib, a, b: F[lib].kl_div(a.log(), b, reduction=reduction), inner, y)
    second_order(lambda lib, a, b: F[lib].kl_div(a, b, reduction=reduction, log_target=True), p, y - 0.5)
    sign = typed(np.where(y > 0.5, 1.0, -1.0), dtype)
    second_order(lambda lib, a: F[lib].soft_margin_loss(a * 4 - 2, lib.tensor(sign), reduction=reduction), p)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_prelu(data: st.DataObject, dtype: Any) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=3))
    x = typed(data.draw(hnp.arrays(np.float64, shape, elements=NO_HUGE)), dtype)  # (zeros: torch's x >= 0 rule)
    channels = x.shape[1] if x.ndim >= 2 else 1  # (torch: a 1-D input is one channel)
    w = typed(np.linspace(-0.5, 0.7, data.draw(st.sampled_from([1, channels]))), dtype)
    second_order(lambda lib, a, b: F[lib].prelu(a, b) * F[lib].prelu(a, b * b), x, w)
    second_order(lambda lib, a, b: F[lib].prelu(a * a - 1, b), x, w)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_interpolate(data: st.DataObject, dtype: Any) -> None:
    mode = data.draw(st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear", "trilinear"]))
    rank = {"linear": 1, "bilinear": 2, "trilinear": 3}.get(mode, data.draw(st.integers(1, 3)))
    x = typed(data.draw(hnp.arrays(np.float64, (1, 2, *data.draw(st.lists(st.integers(1, 3), min_size=rank,
                                                                          max_size=rank))), elements=NO_HUGE)), dtype)
    scale = data.draw(st.sampled_from([2.0, 1.5, 0.5]))
    align = None if mode.startswith("nearest") else data.draw(st.booleans())
    second_order(lambda lib, t: F[lib].interpolate(t * t, scale_factor=scale, mode=mode, align_corners=align), x)
    second_order(lambda lib, t: F[lib].interpolate(t, scale_factor=scale, mode=mode, align_corners=align).sin(), x)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_grid_sample(data: st.DataObject, dtype: Any) -> None:
    n, c, h, w = (data.draw(st.integers(1, 3)) for _ in range(4))
    x = typed(data.draw(hnp.arrays(np.float64, (n, c, h, w), elements=st.floats(-2, 2))), dtype)
    points = st.floats(-1.4, 1.4) | st.sampled_from([-1.0, 0.0, 1.0, 0.5, -0.5])  # (corners, centres, edges)
    if data.draw(st.booleans()):
        points = points | st.sampled_from([np.nan, np.inf, -np.inf, 5.0])
    grid = typed(data.draw(hnp.arrays(np.float64, (n, data.draw(st.integers(1, 3)), 2, 2), elements=points)), dtype)
    pad, mode = data.draw(st.sampled_from(["zeros", "border", "reflection"])), data.draw(st.sampled_from(
        ["bilinear", "nearest"]))
    align = data.draw(st.booleans())

    def sample(lib: Any, a: Any, b: Any) -> Any:
        return F[lib].grid_sample(a, b, mode=mode, padding_mode=pad, align_corners=align)
    if not np.isfinite(grid).all():  # torch's double backward puts nan at some inputs there: ours raises
        a, b = (tg.tensor(v, requires_grad=True) for v in (x, grid))
        with pytest.raises(NotImplementedError, match="grid holding nan or inf"):
            GRAD[tg]((sample(tg, a, b) ** 2).sum(), (a, b), create_graph=True)
        return
    second_order(sample, x, grid)
    second_order(lambda lib, a, b: sample(lib, a * a, b * b) ** 2, x, grid)
    second_order(lambda lib, a: sample(lib, a * a, lib.tensor(grid)) ** 2, x)
    second_order(lambda lib, b: sample(lib, lib.tensor(x), b.sin()) ** 2, grid)


THIRD: dict[str, Callable[..., Any]] = {
    "atan2": lambda lib, x: lib.atan2(x, x * x - 1), "lgamma": lambda lib, x: (x + 1).lgamma(),
    "erfinv": lambda lib, x: (x * 0.3).erfinv(), "hypot": lambda lib, x: lib.hypot(x, x.exp()),
    "prod_zero": lambda lib, x: lib.cat([x, x * 0]).prod(),
    "cumprod_zero": lambda lib, x: lib.cat([x * 0, x]).cumprod(0),
    "bce": lambda lib, x: F[lib].binary_cross_entropy(x.sigmoid(), x.detach() * 0 + 0.3, reduction="sum"),
    "median": lambda lib, x: x.median() * x.exp(), "norm_half": lambda lib, x: x.norm(0.5),
    "prelu": lambda lib, x: F[lib].prelu(x, x[:1]) * x,
}


@pytest.mark.parametrize("name", sorted(THIRD))
@settings(max_examples=15, deadline=None)
@given(x=hnp.arrays(np.float64, st.integers(1, 4), elements=st.floats(0.1, 2) | st.sampled_from([0.5, 1.0])),
       dtype=DTYPES)
def test_third_derivative(name: str, x: np.ndarray, dtype: Any) -> None:
    x = typed(x, dtype)
    results = []
    for lib in (torch, tg):
        t = lib.tensor(x, requires_grad=True)
        (g1,) = GRAD[lib](THIRD[name](lib, t).sum(), t, create_graph=True)
        (g2,) = GRAD[lib]((g1 * g1).sum(), t, create_graph=True)
        (g3,) = GRAD[lib](g2.sum(), t)
        results.append([_np(g) for g in (g1, g2, g3)])
    for a, b in zip(*results):
        _close(b, a, TOL[x.dtype.type] * 10, TOL[x.dtype.type] * 10 * max(1.0, np.abs(a).max()))


COMPOSITES: dict[str, tuple[tuple[int, ...], Callable[..., Any]]] = {  # built of ops with double backwards already
    "conv3d": ((1, 2, 3, 3, 3), lambda lib, x: F[lib].conv3d(x, x[:, :, :2, :2, :2].transpose(0, 1), padding=1)),
    "conv_transpose1d": ((1, 2, 4), lambda lib, x: F[lib].conv_transpose1d(x, x[:, :, :2].transpose(0, 1), stride=2)),
    "conv_transpose3d": ((1, 2, 2, 2, 2), lambda lib, x: F[lib].conv_transpose3d(x, x.transpose(0, 1), stride=2)),
    "max_pool1d": ((1, 2, 6), lambda lib, x: F[lib].max_pool1d(x * x, 3, 2, 1)),
    "max_pool3d": ((1, 1, 4, 4, 4), lambda lib, x: F[lib].max_pool3d(x * x, 2)),
    "avg_pool1d": ((1, 2, 6), lambda lib, x: F[lib].avg_pool1d(x * x, 3, 2, 1, count_include_pad=False)),
    "avg_pool3d": ((1, 1, 4, 4, 4), lambda lib, x: F[lib].avg_pool3d(x * x, 2, 1, 1)),
    "adaptive_1d": ((1, 2, 7), lambda lib, x: F[lib].adaptive_avg_pool1d(x * x, 3) + F[lib].adaptive_max_pool1d(x, 3)),
    "adaptive_3d": ((1, 1, 5, 5, 3), lambda lib, x: F[lib].adaptive_avg_pool3d(x * x, 2) * F[lib].adaptive_max_pool3d(
        x, 2)),
    "sort_topk": ((3, 5), lambda lib, x: x.sort(1)[0] * x.topk(5, 1)[0] + x.kthvalue(2, 1)[0][:, None] * x),
    "cummax_cummin": ((3, 5), lambda lib, x: x.cummax(1)[0] * x.cummin(0)[0]),  # (median(dim): a tie's index differs)
    "quantile": ((3, 5), lambda lib, x: x.quantile(0.3, 1) * x.nanquantile(0.75, 0).sum()),
    "activations": ((3, 5), lambda lib, x: F[lib].softmin(x, 1) * F[lib].glu(x.repeat(1, 2), 1) * F[lib].relu6(x * 4)
                    * F[lib].hardswish(x * 3) * F[lib].silu(x)),
    "likelihood_losses": ((3, 5), lambda lib, x: F[lib].poisson_nll_loss(x, x * x) + F[lib].poisson_nll_loss(
        x * x + 1, x.exp(), log_input=False, full=True) + F[lib].gaussian_nll_loss(x, x.sin(), x * x + 0.1)),
    "distances": ((3, 5), lambda lib, x: F[lib].cosine_similarity(x, x.cos()) * F[lib].pairwise_distance(x, x * x)),
    "margin_losses": ((3, 5), lambda lib, x: F[lib].margin_ranking_loss(x[0], x[1], lib.tensor([1.0, -1, 1, -1, 1],
                      dtype=x.dtype)) + F[lib].triplet_margin_loss(
                      x, x.sin(), x.cos()) + F[lib].cosine_embedding_loss(x, x * x, lib.tensor([1.0, -1, 1],
                      dtype=x.dtype)) + F[lib].hinge_embedding_loss(x, x.sign()) + F[lib].multilabel_soft_margin_loss(
                      x, (x > 0).to(x.dtype))),
}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
@settings(max_examples=10, deadline=None)
@given(data=st.data(), dtype=DTYPES, ties=st.booleans())
def test_composites(name: str, data: st.DataObject, dtype: Any, ties: bool) -> None:
    shape, f = COMPOSITES[name]
    ties = ties and name != "sort_topk"  # (torch's topk orders tied values its own way: a first-order matter)
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-2, 2) | st.sampled_from([0.0, 1.0])))
    if name == "sort_topk":  # distinct in float32 too
        x = (np.array(data.draw(st.permutations(range(x.size)))).reshape(shape) - 7) / 4
    second_order(f, typed(np.round(x) if ties else x, dtype))


@pytest.mark.parametrize("what, f", [
    ("cdist", lambda x: tg.cdist(x.reshape(3, 1), x.reshape(3, 1) * 2)),  # (torch: not implemented either)
    ("hardsigmoid", lambda x: F[tg].hardsigmoid(x) * x),  # (torch: not implemented either)
])
def test_still_unsupported_raise(what: str, f: Callable[[Any], Any]) -> None:
    x = tg.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    with pytest.raises(NotImplementedError, match=f"double backward through {what} is not supported"):
        GRAD[tg]((f(x) ** 2).sum(), x, create_graph=True)


def penalty_program(lib: Any, device: str) -> list[Any]:
    """A few of the new double backwards: a loss of bce, kl_div, prelu, atan2, hypot, cumprod and prod with zeros,
    a p = 0.5 norm, a bilinear resize and xlogy; its gradient's squared norm differentiated again (no scipy special
    function: the fake cupy has no cupyx.scipy)."""
    x = lib.tensor(np.sin(np.arange(24.0)).reshape(2, 3, 4) * 0.9, device=device, requires_grad=True)
    w = lib.tensor(np.array([0.25, -0.5, 0.1]), device=device, requires_grad=True)
    p, f = x.sigmoid(), F[lib]
    loss = (f.binary_cross_entropy(p, p.detach() * 0.5, weight=x.detach().cos()) + f.kl_div(
        x, p.detach(), reduction="batchmean") + f.prelu(x, w).sum() + lib.atan2(x, x.cos()).sum()
        + lib.hypot(x, p).sum() + (x * (x > 0)).cumprod(2).sum() + (x * (x > 0)).prod(1).sum()
        + x.norm(0.5) + f.interpolate(x[None], scale_factor=2, mode="bilinear").sum() + lib.xlogy(x, p).sum())
    gx, gw = GRAD[lib](loss, (x, w), create_graph=True)
    ((gx * gx).sum() + (gw * gw).sum()).backward()
    return [gx, gw, x.grad, w.grad]


@pytest.mark.gpu
def test_double_backward_on_the_gpu_matches_the_cpu() -> None:
    for i, (a, b) in enumerate(zip(penalty_program(tg, "cpu"), penalty_program(tg, "cuda"), strict=True)):
        assert b.device.startswith("cuda") and a.dtype == b.dtype and a.shape == b.shape, i
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-11, err_msg=str(i))


def test_penalty_program_matches_torch() -> None:
    """The GPU program's values on the CPU against torch (so the GPU comparison checks right numbers)."""
    if os.environ.get("TINYGRAD_ADAM_FAKE_GPU"):
        pytest.skip("a CPU check")
    for a, b in zip(penalty_program(tg, "cpu"), penalty_program(torch, "cpu"), strict=True):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-9, atol=1e-11)
