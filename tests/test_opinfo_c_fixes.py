"""Fixes from sweeping torch's own op / module / optimizer descriptions (``nn.functional.*`` OpInfos, ModuleInfos,
OptimizerInfos) against ours, each test comparing with torch:

* conv / pool functions take a 1-tuple stride, padding, dilation (and pool kernel) for every spatial dim, as torch;
* ``F.unfold`` / ``F.fold`` take bool input (torch's CPU kernels do; fold's overlaps combine with or);
* ``F.feature_alpha_dropout`` refuses a 0-d / 1-d input only when it would draw (training, 0 < p < 1);
* ``F.bilinear`` of integer inputs kept their dtype (ours widened int32 / uint8 to int64);
* float16 ``F.scaled_dot_product_attention`` computes in float32 and rounds once (ours was many units off);
* ``F.batch_norm`` refuses eps <= 0 when training; RNN / GRU / LSTM refuse a non-bool ``bias`` / ``batch_first``
  (a string was truthy) and a non-int size with a TypeError; ``HuberLoss`` refuses a non-real delta;
  ``Adam`` / ``AdamW`` refuse betas mixing a number and a Tensor;
* a layer called with torch's keyword ``layer(input=x)`` works.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F

torch = pytest.importorskip("torch", reason="these tests compare with torch")
TF = torch.nn.functional


def ours(a: np.ndarray) -> tg.Tensor:
    return tg.tensor(a)


# ------------------------------------------------------------------ 1-tuples for conv / pool sizes
POOLS = {"max_pool2d": 2, "avg_pool2d": 2, "max_pool3d": 3, "avg_pool3d": 3}
CONVS = {"conv2d": 2, "conv_transpose2d": 2, "conv3d": 3, "conv_transpose3d": 3}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(POOLS)), st.integers(2, 3), st.integers(1, 2), st.integers(0, 1), st.integers(0, 2**31))
def test_pools_take_one_tuples(op: str, k: int, s: int, p: int, seed: int) -> None:
    dims = POOLS[op]
    x = np.random.default_rng(seed).standard_normal((1, 2) + (6,) * dims).astype(np.float32)
    kw = {"kernel_size": (k,), "stride": (s,), "padding": (p,)}
    np.testing.assert_allclose(getattr(F, op)(ours(x), **kw).numpy(), getattr(TF, op)(torch.tensor(x), **kw).numpy(),
                               rtol=1e-5, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(CONVS)), st.integers(1, 2), st.integers(0, 1), st.integers(1, 2), st.integers(0, 2**31))
def test_convs_take_one_tuples(op: str, s: int, p: int, d: int, seed: int) -> None:
    dims = CONVS[op]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 2) + (5,) * dims).astype(np.float32)
    w = rng.standard_normal((2, 2) + (3,) * dims).astype(np.float32)  # (in = out: fits conv and transpose)
    kw = {"stride": (s,), "padding": (p,), "dilation": (d,)}
    np.testing.assert_allclose(getattr(F, op)(ours(x), ours(w), **kw).numpy(),
                               getattr(TF, op)(torch.tensor(x), torch.tensor(w), **kw).numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["MaxPool2d", "AvgPool2d", "MaxPool3d", "AvgPool3d"])
def test_pool_layers_take_one_tuples(name: str) -> None:
    dims = 3 if name.endswith("3d") else 2
    x = np.random.default_rng(2).standard_normal((1, 2) + (6,) * dims).astype(np.float32)
    kw = {"kernel_size": (2,), "stride": (1,), "padding": (1,)}
    layer = getattr(tg.nn, name)(**kw)
    assert layer.kernel_size == getattr(torch.nn, name)(**kw).kernel_size == (2,)  # kept as given, as torch
    np.testing.assert_allclose(layer(ours(x)).numpy(), getattr(torch.nn, name)(**kw)(torch.tensor(x)).numpy(),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op", ["conv_transpose2d", "conv_transpose3d"])
def test_conv_transpose_one_tuple_output_padding(op: str) -> None:
    """output_padding is one of torch's int[N] arguments too: a 1-tuple stands for every spatial dim."""
    dims = CONVS[op]
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2) + (4,) * dims).astype(np.float32)
    w = rng.standard_normal((2, 2) + (3,) * dims).astype(np.float32)
    kw = {"stride": 2, "output_padding": (1,)}
    np.testing.assert_allclose(getattr(F, op)(ours(x), ours(w), **kw).numpy(),
                               getattr(TF, op)(torch.tensor(x), torch.tensor(w), **kw).numpy(), rtol=1e-4, atol=1e-4)


def test_max_pool2d_one_tuple_dilation() -> None:
    x = np.random.default_rng(0).standard_normal((1, 1, 7, 7)).astype(np.float32)
    np.testing.assert_array_equal(F.max_pool2d(ours(x), 2, dilation=(2,)).numpy(),
                                  TF.max_pool2d(torch.tensor(x), 2, dilation=(2,)).numpy())


# ------------------------------------------------------------------ unfold / fold of bool
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 2), st.integers(0, 1), st.integers(1, 2))
def test_unfold_fold_bool(seed: int, d: int, p: int, s: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.random((2, 3, 5, 6)) > 0.6
    kw = {"kernel_size": (2, 3), "dilation": d, "padding": p, "stride": s}
    theirs = TF.unfold(torch.tensor(x), **kw)
    got = F.unfold(ours(x), **kw)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got.numpy(), theirs.numpy())
    cols = rng.random(tuple(theirs.shape)) > 0.5
    folded = F.fold(ours(cols), (5, 6), **kw)
    assert folded.dtype == np.bool_
    np.testing.assert_array_equal(folded.numpy(), TF.fold(torch.tensor(cols), (5, 6), **kw).numpy())


def test_unfold_still_refuses_integers() -> None:
    with pytest.raises(TypeError):
        F.unfold(tg.zeros(1, 1, 3, 3, dtype="int64"), 2)
    with pytest.raises(RuntimeError):
        TF.unfold(torch.zeros(1, 1, 3, 3, dtype=torch.int64), 2)


# ------------------------------------------------------------------ feature_alpha_dropout on 0-d / 1-d input
@pytest.mark.parametrize("shape", [(), (5,)])
@pytest.mark.parametrize("p, training", [(0.5, False), (0.0, True), (1.0, True), (0.0, False)])
def test_feature_alpha_dropout_low_rank_when_nothing_is_drawn(shape: tuple[int, ...], p: float,
                                                              training: bool) -> None:
    x = np.arange(1.0, 1.0 + int(np.prod(shape)), dtype=np.float32).reshape(shape)
    theirs = TF.feature_alpha_dropout(torch.tensor(x), p, training=training)
    got = F.feature_alpha_dropout(ours(x), p, training=training)
    assert got.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(got.numpy(), theirs.numpy())


def test_feature_alpha_dropout_low_rank_refused_when_drawing() -> None:
    with pytest.raises(RuntimeError):
        TF.feature_alpha_dropout(torch.ones(5), 0.5, training=True)
    with pytest.raises(ValueError):
        F.feature_alpha_dropout(tg.ones(5), 0.5, training=True)


# ------------------------------------------------------------------ bilinear keeps an integer dtype
@pytest.mark.parametrize("dtype", ["int32", "uint8", "int64", "float32"])
def test_bilinear_keeps_dtype(dtype: str) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 3, (4, 3)).astype(dtype), rng.integers(0, 3, (4, 2)).astype(dtype)
    w, bias = rng.integers(0, 3, (5, 3, 2)).astype(dtype), rng.integers(0, 3, (5,)).astype(dtype)
    theirs = TF.bilinear(*(torch.tensor(v) for v in (a, b, w, bias)))
    got = F.bilinear(*(ours(v) for v in (a, b, w, bias)))
    assert str(got.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(got.numpy(), theirs.numpy())


# ------------------------------------------------------------------ float16 scaled_dot_product_attention
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.booleans(), st.sampled_from([None, "bool", "float"]))
def test_sdpa_float16_rounds_once(seed: int, causal: bool, mask: str | None) -> None:
    rng = np.random.default_rng(seed)
    q, k, v = (rng.uniform(-9, 9, (2, 3, n, 8)).astype(np.float16) for n in (4, 6, 6))
    m = None
    if mask == "bool" and not causal:
        m = rng.random((4, 6)) > 0.3
        m[:, 0] = True
    elif mask == "float" and not causal:
        m = rng.standard_normal((4, 6)).astype(np.float16)
    theirs = TF.scaled_dot_product_attention(*(torch.tensor(t) for t in (q, k, v)),
                                             attn_mask=None if m is None else torch.tensor(m), is_causal=causal)
    got = F.scaled_dot_product_attention(*(ours(t) for t in (q, k, v)), attn_mask=None if m is None else ours(m),
                                         is_causal=causal)
    assert got.dtype == np.float16
    # torch's kernel rounds its probabilities to float16 once: about 1e-3 from ours now; building from float16 ops
    # was up to 7e-2 off (relative to 1 + |value|)
    want = theirs.numpy().astype(np.float64)
    assert np.max(np.abs(got.numpy().astype(np.float64) - want) / (1 + np.abs(want))) <= 3e-3


def test_sdpa_float16_gradient_flows() -> None:
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 4, 8)).astype(np.float16) for _ in range(3))
    tq = [torch.tensor(t, requires_grad=True) for t in (q, k, v)]
    oq = [tg.tensor(t, requires_grad=True) for t in (q, k, v)]
    TF.scaled_dot_product_attention(*tq).sum().backward()
    F.scaled_dot_product_attention(*oq).sum().backward()
    for a, b in zip(tq, oq):
        assert b.grad is not None and b.grad.dtype == np.float16
        np.testing.assert_allclose(b.grad.numpy().astype(np.float64), a.grad.numpy().astype(np.float64), rtol=2e-2,
                                   atol=2e-2)


# ------------------------------------------------------------------ constructor / call checks
@pytest.mark.parametrize("eps", [0.0, -1.0])
def test_batch_norm_refuses_nonpositive_eps_when_training(eps: float) -> None:
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(ValueError):
        TF.batch_norm(torch.tensor(x), None, None, training=True, eps=eps)
    with pytest.raises(ValueError):
        F.batch_norm(ours(x), None, None, training=True, eps=eps)
    with pytest.raises(ValueError):
        tg.nn.BatchNorm1d(3, eps=eps)(ours(x))
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)  # not training: torch computes, so do we
    np.testing.assert_allclose(
        F.batch_norm(ours(x), ours(rm), ours(rv), training=False, eps=eps + 1.5).numpy(),
        TF.batch_norm(torch.tensor(x), torch.tensor(rm), torch.tensor(rv), training=False, eps=eps + 1.5).numpy(),
        rtol=1e-6)


@pytest.mark.parametrize("eps", [-0.5, -1.0, -2.0])
def test_batch_norm_refuses_negative_eps_in_evaluation_too(eps: float) -> None:
    """As torch's: a running variance plus a negative eps gave inf, nan or quietly wrong values (found by a sweep of
    torch's ModuleInfo error inputs); eps = 0 still computes."""
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    for lib, make in ((torch, torch.tensor), (tg, ours)):
        with pytest.raises(ValueError, match=r"(?i)negative"):
            lib.nn.BatchNorm1d(3, eps=eps).eval()(make(x))
        with pytest.raises(ValueError, match=r"(?i)negative"):
            lib.nn.functional.batch_norm(make(x), lib.zeros(3), lib.ones(3), training=False, eps=eps)
    np.testing.assert_allclose(tg.nn.BatchNorm1d(3, eps=0.0).eval()(ours(x)).numpy(), x, rtol=1e-6)


@pytest.mark.parametrize("cls", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("kwargs", [{"bias": 0}, {"bias": "True"}, {"batch_first": 1}, {"batch_first": "False"}])
def test_recurrent_flags_must_be_bool(cls: str, kwargs: dict) -> None:
    with pytest.raises(TypeError):
        getattr(torch.nn, cls)(3, 5, **kwargs)
    with pytest.raises(TypeError):
        getattr(tg.nn, cls)(3, 5, **kwargs)


@pytest.mark.parametrize("args", [(3.0, 5), ("10", 5), (3, 5.0)])
def test_recurrent_sizes_non_int_type_error(args: tuple) -> None:
    with pytest.raises(TypeError):
        torch.nn.LSTM(*args)
    with pytest.raises(TypeError):
        tg.nn.LSTM(*args)
    with pytest.raises(ValueError):
        tg.nn.LSTM(3, 0)


def test_huber_delta_must_be_real() -> None:
    for bad in (1j, "1"):
        with pytest.raises(TypeError):
            torch.nn.HuberLoss(delta=bad)
        with pytest.raises(TypeError):
            tg.nn.HuberLoss(delta=bad)
    assert tg.nn.HuberLoss(delta=2).delta == torch.nn.HuberLoss(delta=2).delta


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_betas_not_mixed(name: str) -> None:
    p = tg.zeros(2, requires_grad=True)
    for betas in ((0.9, tg.tensor(0.99)), (tg.tensor(0.9), 0.99)):
        with pytest.raises(ValueError):
            getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)],
                                       betas=tuple(torch.tensor(b.item()) if isinstance(b, tg.Tensor) else b
                                                   for b in betas))
        with pytest.raises(ValueError):
            getattr(tg.optim, name)([p], betas=betas)
    opt = getattr(tg.optim, name)([p], betas=(tg.tensor(0.9), tg.tensor(0.99)))  # two Tensors: fine, as torch
    p.grad = tg.ones(2)
    opt.step()
    assert np.all(p.detach().numpy() < 0)


# ------------------------------------------------------------------ layer(input=x)
def test_layers_take_input_keyword() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(64, 5))
    mine = tg.nn.Sequential(tg.nn.Conv2d(3, 4, 3), tg.nn.ReLU(), tg.nn.Flatten(), tg.nn.Linear(64, 5))
    mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    want = theirs(input=torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(mine(input=ours(x)).numpy(), want, rtol=1e-5, atol=1e-5)
    for a, b in zip(theirs, mine):  # each layer on its own, by keyword
        if isinstance(a, torch.nn.Linear):
            h = rng.standard_normal((2, 64)).astype(np.float32)
            np.testing.assert_allclose(b(input=ours(h)).numpy(), a(input=torch.tensor(h)).detach().numpy(),
                                       rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError):
        mine[3](inp=ours(x))


def test_input_keyword_left_alone_for_user_forward() -> None:
    class Keywords(tg.nn.Module):
        def forward(self, **kwargs: tg.Tensor) -> tg.Tensor:
            return kwargs["input"] * 2

    class Named(tg.nn.Module):
        def forward(self, x: tg.Tensor) -> tg.Tensor:
            return x

    np.testing.assert_array_equal(Keywords()(input=tg.ones(2)).numpy(), [2.0, 2.0])
    with pytest.raises(TypeError):  # as torch: a user's forward(x) has no input= keyword
        Named()(input=tg.ones(2))


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_circular_pad_layer_rank_value_error(dims: int) -> None:
    for ndim in (dims, dims + 3):
        with pytest.raises(ValueError):
            getattr(torch.nn, f"CircularPad{dims}d")(1)(torch.zeros((2,) * ndim))
        with pytest.raises(ValueError):
            getattr(tg.nn, f"CircularPad{dims}d")(1)(tg.zeros(*(2,) * ndim))
    x = np.arange(2.0 * 3 ** dims, dtype=np.float32).reshape((2,) + (3,) * dims)
    np.testing.assert_array_equal(getattr(tg.nn, f"CircularPad{dims}d")(1)(ours(x)).numpy(),
                                  getattr(torch.nn, f"CircularPad{dims}d")(1)(torch.tensor(x)).numpy())
