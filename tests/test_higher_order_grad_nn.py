"""Double backward (``create_graph=True``) of the nn ops (higher_order_nn) against torch 2.13: gradients with
history, which of them require grad, and Hessian-vector products (``second_order``), on hypothesis inputs with
nan, inf, +-0 and ties, float32 and float64, empty and 0-d tensors; a conv WGAN-GP critic, mutation-checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_higher_order_grad import DTYPES, ELEMENTS, GRAD, NO_HUGE, TOL, F, _close, _np, second_order, typed
from test_torch_movement_names import arrays, dim_of

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

UNARY: dict[str, Callable[..., Any]] = {
    "log1p": lambda lib, x: x.log1p(), "expm1": lambda lib, x: x.expm1(), "exp2": lambda lib, x: x.exp2(),
    "log2": lambda lib, x: x.log2(), "log10": lambda lib, x: x.log10(), "reciprocal": lambda lib, x: x.reciprocal(),
    "rsqrt": lambda lib, x: x.rsqrt(), "square": lambda lib, x: x.square() * x, "erf": lambda lib, x: x.erf(),
    "tan": lambda lib, x: x.tan(), "atan": lambda lib, x: x.atan(), "sinh": lambda lib, x: x.sinh(),
    "cosh": lambda lib, x: x.cosh(), "asinh": lambda lib, x: x.asinh(),
    "leaky_relu": lambda lib, x: F[lib].leaky_relu(x, 0.2) * x, "leaky_relu_plain": lambda lib, x: F[lib].leaky_relu(x),
    "logsigmoid": lambda lib, x: F[lib].logsigmoid(x),
    "clamp": lambda lib, x: x.clamp(-1.0, 0.5) * x, "clamp_min": lambda lib, x: x.clamp(min=0.0) ** 2,
    "clip_max": lambda lib, x: x.clip(max=1.0).sin(), "l1": lambda lib, x: F[lib].l1_loss(x * x, x.sin()),
    "dropout_eval": lambda lib, x: F[lib].dropout(x.tanh(), 0.3, training=False) * x,
}
NO_NAN = {  # torch's scalar loop (tensors under 16 elements) gives g (scale) for a nan x where ours gives nan
    "hardswish": lambda lib, x: F[lib].hardswish(x) * x, "hardtanh": lambda lib, x: F[lib].hardtanh(x, -0.5, 2.0) * x,
    "mish": lambda lib, x: F[lib].mish(x),  # (and for mish: torch's HVP at |x| ~ 1e300 is nan, ours 0)
    "elu": lambda lib, x: F[lib].elu(x, 0.7) * x, "selu": lambda lib, x: F[lib].selu(x),
    "celu": lambda lib, x: F[lib].celu(x, 1.5) * x,
}


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=25, deadline=None)
@given(x=arrays(elements=ELEMENTS), dtype=DTYPES)
@example(x=np.array(2.38541365e-206), dtype=np.float64)  # rsqrt's first derivative -1.3e308: torch's is -inf
def test_unary(name: str, x: np.ndarray, dtype: Any) -> None:
    second_order(UNARY[name], typed(x, dtype))


@pytest.mark.parametrize("name", sorted(NO_NAN))
@settings(max_examples=25, deadline=None)
@given(x=arrays(elements=st.floats(-30, 30) | st.sampled_from([0.0, -0.0, 3.0, -3.0, 0.5, -0.5])), dtype=DTYPES)
def test_elu_family(name: str, x: np.ndarray, dtype: Any) -> None:
    second_order(NO_NAN[name], typed(x, dtype))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_clamp_tensor_bounds(data: st.DataObject, dtype: Any) -> None:
    x = data.draw(arrays(max_dims=2, elements=NO_HUGE))
    lo = data.draw(hnp.arrays(np.float64, x.shape[data.draw(st.integers(0, x.ndim)):], elements=NO_HUGE))
    hi = data.draw(hnp.arrays(np.float64, lo.shape, elements=st.floats(-1, 3) | st.sampled_from([0.0, np.inf])))
    second_order(lambda lib, a, b, c: a.clamp(b, c) * a * b * c, *(typed(v, dtype) for v in (x, lo, hi)))
    second_order(lambda lib, a, b: lib.clamp(a, min=b) ** 2 * b, typed(x, dtype), typed(lo, dtype))


@settings(max_examples=50, deadline=None)
@given(x=arrays(elements=NO_HUGE, min_dims=1, min_side=1), data=st.data(), dtype=DTYPES)
def test_reductions(x: np.ndarray, data: st.DataObject, dtype: Any) -> None:
    ties = data.draw(st.booleans())
    x = typed(np.round(x) if ties else x, dtype)  # rounding: many ties
    d, keep = dim_of(data, x.ndim), data.draw(st.booleans())
    second_order(lambda lib, t: t.logsumexp(d, keepdim=keep) * t.sum(), x)
    second_order(lambda lib, t: t.amax(d, keepdim=keep) * t.sum(), x)
    second_order(lambda lib, t: t.amin(d, keepdim=keep).exp() * t.mean(), x)
    second_order(lambda lib, t: t.max() * t, x)
    second_order(lambda lib, t: t.max(d, keepdim=keep)[0] * t.sum(), x)  # (a gather at the index torch picks)
    second_order(lambda lib, t: t.min(d)[0].exp(), x)
    second_order(lambda lib, t: t.min().sin() * t, x)
    second_order(lambda lib, t: t.cumsum(d) * t, x)
    second_order(lambda lib, t: t.flip(d) * t, x)
    second_order(lambda lib, t: t.roll(2, d) * t.cos(), x)
    correction = data.draw(st.sampled_from([0, 1]))
    if x.shape[d] > correction and np.isfinite(x).all():  # (an inf: our first-order var gives nan, torch +-inf)
        second_order(lambda lib, t: t.var(d, keepdim=keep, correction=correction), x)
        spread = np.std(x.astype(np.float64), axis=d)  # (a tiny std: HVP terms ~ 1 / std cancel to rounding noise)
        # (and equal values whose float32 mean torch rounds: its std is then 2.9e-7, not 0, and its gradient 0.41
        # in every element, where ours is 0 as torch's at an exact 0; seed 47008, three 2.8179s)
        theirs = torch.tensor(x).std(d, correction=correction).double().numpy()
        if np.all(((spread == 0) & (theirs == 0)) | (spread > 1e-2)):
            second_order(lambda lib, t: t.std(d, keepdim=keep, correction=correction), x)


@settings(max_examples=30, deadline=None)
@given(x=arrays(min_dims=2, max_dims=4, min_side=1, elements=st.floats(-3, 3) | st.sampled_from([0.0, -0.0])),
       data=st.data(), dtype=DTYPES)
def test_normalisations(x: np.ndarray, data: st.DataObject, dtype: Any) -> None:
    x = typed(x, dtype)
    k = data.draw(st.integers(1, x.ndim - 1))
    shape = x.shape[x.ndim - k:]
    w, b = (typed(np.cos(np.arange(np.prod(shape)) + p).reshape(shape), dtype) for p in (0.3, 1.1))
    second_order(lambda lib, t, w, b: F[lib].layer_norm(t, shape, w, b), x, w, b)
    second_order(lambda lib, t: F[lib].layer_norm(t, shape, eps=1e-3) * t, x)
    c = x.shape[1]
    wc, bc = typed(np.linspace(0.5, 2, c), dtype), typed(np.linspace(-1, 1, c), dtype)
    if x.size // c > 1:
        second_order(lambda lib, t, w, b: F[lib].batch_norm(t, None, None, w, b, training=True), x, wc, bc)
    rm, rv = typed(np.linspace(-1, 1, c), dtype), typed(np.linspace(0.5, 3, c), dtype)
    second_order(lambda lib, t, w, b: F[lib].batch_norm(t, lib.tensor(rm), lib.tensor(rv), w, b) * t, x, wc, bc)
    if x.size // x.shape[0] > 1:
        second_order(lambda lib, t, w, b: F[lib].group_norm(t, 1, w, b, eps=1e-3) ** 2, x, wc, bc)
    if x.ndim >= 3 and x.size // (x.shape[0] * c) > 1:
        second_order(lambda lib, t: F[lib].instance_norm(t, eps=1e-3) * t, x)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_conv2d(data: st.DataObject, dtype: Any) -> None:
    n, c, groups = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    o = groups * data.draw(st.integers(1, 2))
    kh, kw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2))
    stride, padding, dilation = (data.draw(st.integers(lo, 2)) for lo in (1, 0, 1))
    h, w = (data.draw(st.integers(dilation * (k - 1) + 1 - 2 * padding if dilation * (k - 1) + 1 > 2 * padding
                                   else 1, 5)) for k in (kh, kw))
    el = st.floats(-2, 2)
    x = typed(data.draw(hnp.arrays(np.float64, (n, c * groups, h, w), elements=el)), dtype)
    wt = typed(data.draw(hnp.arrays(np.float64, (o, c, kh, kw), elements=el)), dtype)
    bias = typed(data.draw(hnp.arrays(np.float64, (o,), elements=el)), dtype)
    kw_ = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    # (sin, not tanh: a saturated tanh's 1 - y^2 cancels, and numpy's float32 tanh, up to 1.4 ulps off where
    # torch's is within 0.5 (README), then moves the second derivative by 0.1-5% in either library: seed 47001)
    second_order(lambda lib, a, k, b: F[lib].conv2d(a, k, b, **kw_).sin(), x, wt, bias)
    second_order(lambda lib, a, k: F[lib].conv2d(a * a, k, **kw_) ** 2, x, wt)
    # conv_transpose2d: x (N, C, H, W) with weight (C, O / groups, kh, kw)
    out_pad = data.draw(st.integers(0, max(stride, dilation) - 1))
    wtt = typed(data.draw(hnp.arrays(np.float64, (c * groups, o // groups, kh, kw), elements=el)), dtype)
    second_order(lambda lib, a, k: F[lib].conv_transpose2d(a, k, None, stride, 0, out_pad, groups, dilation).sin()
                 * a.sum(), x, wtt)
    # conv1d, which runs as a conv2d of height 1
    second_order(lambda lib, a, k, b: F[lib].conv1d(a, k, b, stride, padding, dilation, groups).sin(), x[:, :, 0],
                 wt[:, :, 0], bias)


def test_conv2d_third_derivative() -> None:
    x = np.cos(np.arange(2 * 2 * 5 * 4) * 0.3).reshape(2, 2, 5, 4)
    w = np.sin(np.arange(3 * 2 * 2 * 3) * 0.7).reshape(3, 2, 2, 3)
    results = []
    for lib in (torch, tg):
        t, k = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        y = (F[lib].conv2d(t, k, stride=2, padding=1) ** 3).sum()
        g1 = GRAD[lib](y, [t, k], create_graph=True)
        g2 = GRAD[lib](sum((g * g).sum() for g in g1), [t, k], create_graph=True)
        g3 = GRAD[lib](sum(g.sum() for g in g2), [t, k])
        results.append([_np(g) for g in (*g1, *g2, *g3)])
    for a, b in zip(*results):
        _close(b, a, 1e-9)


def _critic(lib: Any, dtype: Any) -> list[Any]:
    rng = np.random.default_rng(0)
    shapes = [(4, 2, 3, 3), (4,), (4, 3, 3), (4, 3, 3), (1, 36), (1,)]
    return [lib.tensor((rng.normal(size=s) * 0.5 + (1 if i == 2 else 0)).astype(dtype), requires_grad=True)
            for i, s in enumerate(shapes)]


@settings(max_examples=10, deadline=None)
@given(x=hnp.arrays(np.float64, (3, 2, 5, 5), elements=st.floats(-2, 2)), dtype=DTYPES)
def test_wgan_gp_conv_critic(x: np.ndarray, dtype: Any) -> None:
    """Conv2d + LeakyReLU + LayerNorm critic; ((|grad_x D(x)| - 1)^2).mean() backpropagated into its weights."""
    x = typed(x, dtype)
    grads = []
    for lib in (torch, tg):
        cw, cb, lw, lb, fw, fb = params = _critic(lib, dtype)
        t = lib.tensor(x, requires_grad=True)
        h = F[lib].leaky_relu(F[lib].conv2d(t, cw, cb, stride=2, padding=1), 0.2)
        h = F[lib].layer_norm(h, (4, 3, 3), lw, lb)
        d = F[lib].linear(h.reshape(3, -1), fw, fb)
        (g,) = GRAD[lib](d.sum(), t, create_graph=True)
        penalty = ((g.reshape(3, -1).norm(2, dim=1) - 1) ** 2).mean() * 10 + d.mean()
        penalty.backward()
        grads.append([_np(p.grad) for p in params] + [_np(t.grad)])
    for a, b in zip(*grads):
        _close(b, a, TOL[x.dtype.type] * 10)


@settings(max_examples=40, deadline=None)
@given(x=arrays(elements=NO_HUGE, min_dims=1, min_side=1), data=st.data(), dtype=DTYPES)  # (1e300: sum order)
def test_products_and_norms(x: np.ndarray, data: st.DataObject, dtype: Any) -> None:
    x = typed(x, dtype)
    d, keep = dim_of(data, x.ndim), data.draw(st.booleans())
    if np.isfinite(x).all():  # (an inf: our first-order prod, a product of the others, is finite where torch's is not)
        nonzero = np.where((np.abs(x) < 1e-3) | (np.abs(x) > 1e3), 1.5, x).astype(dtype)  # (no 0: raises)
        second_order(lambda lib, t: t.prod(d, keepdim=keep) * t.sum(), nonzero)
        second_order(lambda lib, t: t.prod().tanh() * t, nonzero)
    # (for p = 3, 1.5: beside an inf our first order gives nan where torch does not; at a tiny or huge |x| the terms
    # |x|^(p-2) of the HVP overflow or cancel in another order than torch's: a column [1e-16] has two terms of 2e16
    # that cancel exactly, to 0 here and to rounding noise of 1 in torch, so |x| below 1e-6 is taken as 0)
    moderate = np.where(np.abs(x) < (1e-6 if dtype == np.float64 else 1e-3), 0, x).astype(dtype)
    for p in (2, 1, 3, 1.5, np.inf):
        # (float32 beside an inf: tanh(9.75) is 1 in torch, 1 - 6e-8 in numpy, so 0 * inf is nan in torch only)
        if (p in (1, 2, np.inf) and (dtype == np.float64 or np.isfinite(x).all())) or (
                np.isfinite(x).all() and not (np.abs(moderate) > 1e30).any()):
            second_order(lambda lib, t, p=p: t.norm(p, dim=d, keepdim=keep).tanh() * t.sum(),
                         x if p in (1, 2, np.inf) else moderate)
        # (through t * t, at a zero norm for p > 2, a square overflowing to inf or a tiny one whose power underflows,
        # torch's HVP has 0 or a finite value where ours has 0 / 0 or inf * 0 = nan)
        with np.errstate(all="ignore"):
            square = moderate * moderate
            zero_norm = not np.sum(np.abs(square) ** p) > 0
        if np.isfinite(square).all() and (p <= 2 or not zero_norm):
            second_order(lambda lib, t, p=p: lib.linalg.vector_norm(t * t, p), moderate)


@settings(max_examples=40, deadline=None)
@given(x=arrays(elements=NO_HUGE, min_dims=1, max_dims=3, min_side=1), data=st.data(), dtype=DTYPES)
def test_index_pad(x: np.ndarray, data: st.DataObject, dtype: Any) -> None:
    x = typed(x, dtype)
    d = dim_of(data, x.ndim)
    idx = np.asarray(data.draw(st.lists(st.integers(0, x.shape[d] - 1), max_size=4)), dtype=np.int64)
    second_order(lambda lib, t: t.index_select(d, lib.tensor(idx)) ** 3, x)
    shape = list(x.shape)
    shape[d] = data.draw(st.integers(0, 3))
    gidx = np.asarray(data.draw(hnp.arrays(np.int64, tuple(shape), elements=st.integers(0, x.shape[d] - 1))))
    second_order(lambda lib, t: t.gather(d, lib.tensor(gidx)) ** 3 * t.sum(), x)
    widths = data.draw(st.lists(st.integers(0, 2), min_size=2, max_size=2 * x.ndim))
    second_order(lambda lib, t: F[lib].pad(t, widths, value=0.5).sin() * t.sum(), x)
    table = typed(np.cos(np.arange(15) * 0.4).reshape(5, 3), dtype)
    # (no empty ids: torch's own embedding double backward fails to reshape an empty gradient)
    ids = np.asarray(data.draw(st.lists(st.integers(0, 4), min_size=1, max_size=6)), dtype=np.int64).reshape(-1, 1)
    pad_idx = data.draw(st.sampled_from([None, 0, 2]))
    second_order(lambda lib, w: F[lib].embedding(lib.tensor(ids), w * w, padding_idx=pad_idx) ** 2, table)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_pools(data: st.DataObject, dtype: Any) -> None:
    n, c, h, w = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)), data.draw(st.integers(2, 6)),
                  data.draw(st.integers(2, 6)))
    ties = data.draw(st.booleans())
    x = data.draw(hnp.arrays(np.float64, (n, c, h, w), elements=st.floats(-3, 3)))
    x = typed(np.round(x) if ties else x, dtype)
    k = data.draw(st.integers(1, 2))
    stride, padding, ceil = data.draw(st.integers(1, 2)), data.draw(st.integers(0, k // 2)), data.draw(st.booleans())
    second_order(lambda lib, t: F[lib].max_pool2d(t, k, stride, padding, ceil_mode=ceil) ** 2 * t.sum(), x)
    counted = data.draw(st.booleans())
    second_order(lambda lib, t: F[lib].avg_pool2d(t * t, k, stride, padding, ceil_mode=ceil,
                                                  count_include_pad=counted) ** 2, x)
    second_order(lambda lib, t: F[lib].adaptive_avg_pool2d(t, (2, 3)).tanh(), x)
    for mode in ("reflect", "replicate"):
        second_order(lambda lib, t, mode=mode: F[lib].pad(t, (1, 1, 1, 0), mode=mode) ** 3, x)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_losses(data: st.DataObject, dtype: Any) -> None:
    n, c = data.draw(st.integers(0, 4)), data.draw(st.integers(1, 4))
    x = typed(data.draw(hnp.arrays(np.float64, (n, c), elements=ELEMENTS)), dtype)
    y = typed(data.draw(hnp.arrays(np.float64, (n, c), elements=st.floats(-2, 2) | st.sampled_from([0.0, 1.0]))),
              dtype)
    t = np.asarray(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    w = typed(np.linspace(0.5, 2, c), dtype)
    second_order(lambda lib, z: F[lib].nll_loss(z * z, lib.tensor(t), reduction=reduction), x)
    second_order(lambda lib, z: F[lib].nll_loss(F[lib].log_softmax(z, 1), lib.tensor(t), lib.tensor(w),
                                                reduction=reduction), x)
    second_order(lambda lib, z, u: F[lib].binary_cross_entropy_with_logits(z * z, u, reduction=reduction), x, y)
    beta = data.draw(st.sampled_from([1.0, 0.5, 2.0]))
    second_order(lambda lib, z, u: F[lib].smooth_l1_loss(z * z, u, reduction=reduction, beta=beta), x, y)
    second_order(lambda lib, z, u: F[lib].huber_loss(z.sin() * z, u, reduction=reduction, delta=beta), x, y)
    if np.isfinite(x).all():  # (abs of inf * 0 = nan: torch's HVP has 0 where ours has nan; abs is not this file's)
        second_order(lambda lib, z, u: F[lib].l1_loss(z * u, u, reduction=reduction), x, y)
    second_order(lambda lib, z: F[lib].dropout(z, 0.0) * z, x)


@pytest.mark.parametrize("what, f", [
    ("cdist is not", lambda x: tg.cdist(x.reshape(3, 1), x.reshape(3, 1).detach())),
    ("hardsigmoid is not", lambda x: tg.nn.functional.hardsigmoid(x.reshape(3, 1) * x)),
])
def test_unsupported_raise(what: str, f: Callable[[tg.Tensor], tg.Tensor]) -> None:
    x = tg.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    with pytest.raises(NotImplementedError, match=f"double backward through {what}"):
        GRAD[tg]((f(x) * tg.tensor(np.arange(f(x).numel()) + 1.0).reshape(f(x).shape)).sum(), x,
                 create_graph=True)
    (g,) = GRAD[tg](f(x).sum(), x)  # first order: unchanged
    assert g.shape == x.shape


@pytest.mark.parametrize("option", [{"sparse": True}, {"scale_grad_by_freq": True}])
def test_embedding_options_raise(option: dict[str, bool]) -> None:
    w = tg.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    y = (tg.nn.functional.embedding(tg.tensor([0, 2, 2]), w, **option) ** 2).sum()
    with pytest.raises(NotImplementedError, match="double backward through embedding is not supported with"):
        GRAD[tg](y, w, create_graph=True)
