"""The torch-shaped nn surface: GELU/SiLU, LayerNorm, BatchNorm, Embedding, the loss functions and modules,
containers, buffers, nn.utils and nn.init, each against PyTorch (values, gradients, dtypes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import nn

torch = pytest.importorskip("torch")
rng = np.random.default_rng(11)
needs_numba = pytest.mark.skipif(not tg.optim.numba_available(), reason="numba (the fast extra) is not installed")
# short float32 rows over the whole range, with the special values (the compiled softmax-family paths)
SHORT_ROWS = hnp.arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 70)),
                        elements=st.floats(width=32, allow_nan=False) | st.floats(-30, 30, width=32)
                        | st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan]))
T = TypeVar("T")


def with_and_without_numba(run: Callable[[], T]) -> tuple[T, T]:
    """``run()`` on the fast extra's compiled loops, then on the numpy passes (numba_available() made false)."""
    from tinygrad_adam import backend

    compiled = run()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backend, "numba_available", lambda: False)
        return compiled, run()


def same(ours: tg.Tensor, theirs: torch.Tensor, rtol: float = 1e-10, atol: float = 1e-12) -> None:
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)
    assert ours.dtype == np.dtype(str(theirs.dtype).removeprefix("torch."))


def both(ours: Callable, theirs: Callable, arrays: list[np.ndarray], grad_of: tuple[int, ...] = (0,),
         rtol: float = 1e-10, atol: float = 1e-12) -> None:
    """Same inputs through both: outputs and the gradients of sum(out * w) agree, dtypes too."""
    xs = [tg.Tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    ts = [torch.tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    out, ref = ours(*xs), theirs(*ts)
    same(out, ref, rtol, atol)
    w = rng.standard_normal(out.shape).astype(out.dtype)
    (out * tg.Tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for i in grad_of:
        same(xs[i].grad, ts[i].grad, rtol, atol)


# ---------------------------------------------------------------- activations
floats = hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
                    elements=st.floats(-1e3, 1e3) | st.sampled_from([0.0, -0.0, 40.0, -40.0]))


@settings(max_examples=40, deadline=None)
@given(x=floats, approximate=st.sampled_from(["none", "tanh"]))
def test_gelu_matches_torch(x: np.ndarray, approximate: str) -> None:
    both(lambda t: F.gelu(t, approximate), lambda t: torch.nn.functional.gelu(t, approximate=approximate), [x],
         atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_split_over_the_cores_matches_torch(dtype: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large (non-contiguous) input: the erf is split over pool threads, and the result is torch's."""
    monkeypatch.setenv("TINYGRAD_ADAM_THREADS", "3")
    x = rng.standard_normal((200, 3000)).astype(dtype)[:, ::2] * 4
    tol = 2e-6 if dtype == np.float32 else 1e-12
    both(F.gelu, torch.nn.functional.gelu, [x], rtol=tol, atol=tol)


def test_gelu_float32_within_3_ulp_of_the_exact_value() -> None:
    """float32 GELU on the CPU uses a rational fit of the normal CDF, not scipy's erf: against GELU computed in float64
    with scipy's erf it is off by at most 3 units in the last place of x (torch's own float32 GELU: 5), over normal
    inputs and tiny / huge magnitudes of both signs, and every element is a piece boundary's neighbour somewhere."""
    from scipy.special import erf

    x = np.concatenate([rng.normal(0, 3, 400_000), -(10 ** rng.uniform(-40, 2, 100_000)),
                        10 ** rng.uniform(-40, 2, 100_000)]).astype(np.float32)
    exact = x * 0.5 * (1 + erf(x.astype(np.float64) / np.sqrt(2)))
    ulp = np.spacing(np.maximum(np.abs(x), np.float32(1e-37))).astype(np.float64)
    err = np.abs(F.gelu(tg.Tensor(x)).numpy() - exact) / ulp
    assert err.max() <= 3.0, (err.max(), x[err.argmax()])
    theirs = np.abs(torch.nn.functional.gelu(torch.from_numpy(x)).numpy() - exact) / ulp
    assert err.mean() <= theirs.mean()


@needs_numba
def test_gelu_cdf_compiled_loop_equals_the_numpy_passes_bit_for_bit() -> None:
    """The numba loop of the float32 normal CDF and GELU's value x Phi(x) (used when the fast extra is installed) and
    the numpy passes (used without it) give the same bits, special values included, with pieces split over the
    cores (450k elements, several pieces a thread); the product is numpy's x * Phi(x)."""
    from tinygrad_adam.ops import activation

    x = np.concatenate([rng.normal(0, 3, 440_000), 10 ** rng.uniform(-45, 38, 10_000) * rng.choice([-1, 1], 10_000),
                        [np.nan, np.inf, -np.inf, 0.0, -0.0, 5.656854, -5.656854]]).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        (value, cdf), (passes_value, passes_cdf) = with_and_without_numba(lambda: activation.gelu_parts(x))
        np.testing.assert_array_equal(passes_cdf.view(np.int32), cdf.view(np.int32))
        np.testing.assert_array_equal(passes_value.view(np.int32), value.view(np.int32))
        np.testing.assert_array_equal(value.view(np.int32), (x * cdf).view(np.int32))


@needs_numba
@pytest.mark.parametrize("broadcast_grad", [False, True])
def test_gelu_gradient_compiled_loops_equal_the_numpy_passes_bit_for_bit(broadcast_grad: bool) -> None:
    """float32 GELU's gradient with the fast extra (two compiled loops around numpy's exp) and without it (numpy
    passes) give the same bits, special values and a broadcast output gradient (a loss's sum) included."""
    from tinygrad_adam.ops import activation

    x = np.concatenate([rng.normal(0, 3, 300_000), 10 ** rng.uniform(-45, 38, 10_000) * rng.choice([-1, 1], 10_000),
                        [np.nan, np.inf, -np.inf, 0.0, -0.0, 13.0, -13.0]]).astype(np.float32)
    g = np.broadcast_to(np.float32(0.7), x.shape) if broadcast_grad else rng.standard_normal(x.size).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        cdf = activation.gelu_parts(x)[1]
        compiled, passes = with_and_without_numba(lambda: activation.gelu_gradient(x, cdf, g))
    np.testing.assert_array_equal(compiled.view(np.int32), passes.view(np.int32))


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=40),
                    elements=st.floats(-1e3, 1e3, width=32) | st.sampled_from([0.0, -0.0, 5.66, -5.66, 40.0, -40.0])),
       contiguous=st.booleans())
def test_gelu_float32_matches_torch(x: np.ndarray, contiguous: bool) -> None:
    """The float32 fit and its gradient against torch's float32 GELU, on any shape (0-d, empty, strided)."""
    x = x if contiguous or x.ndim == 0 else np.swapaxes(x, 0, -1)
    both(F.gelu, torch.nn.functional.gelu, [x], rtol=2e-6, atol=2e-6)


@settings(max_examples=40, deadline=None)
@given(x=floats)
def test_silu_matches_torch(x: np.ndarray) -> None:
    both(F.silu, torch.nn.functional.silu, [x])


@pytest.mark.parametrize("module,theirs", [
    (nn.GELU(), torch.nn.GELU()), (nn.GELU("tanh"), torch.nn.GELU("tanh")), (nn.SiLU(), torch.nn.SiLU()),
    (nn.Softmax(dim=1), torch.nn.Softmax(1)), (nn.Softmax(), torch.nn.Softmax()),
    (nn.LogSoftmax(1), torch.nn.LogSoftmax(1))])
def test_activation_modules_float32(module: nn.Module, theirs: torch.nn.Module) -> None:
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    both(module, theirs, [x], rtol=2e-6, atol=2e-6)


def test_non_finite_activations_match_torch() -> None:
    x = np.array([-np.inf, np.inf, np.nan, -30.0, 30.0])
    with np.errstate(invalid="ignore"):
        for ours, theirs in [(F.silu, torch.nn.functional.silu), (F.gelu, torch.nn.functional.gelu),
                             (lambda t: F.gelu(t, "tanh"), lambda t: torch.nn.functional.gelu(t, approximate="tanh"))]:
            np.testing.assert_array_equal(ours(tg.Tensor(x)).numpy(), theirs(torch.tensor(x)).numpy())


@pytest.mark.parametrize("n", [1, 64, 1000])
def test_softmax_over_a_short_last_axis_in_pieces_matches_torch(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large float32 input, softmax over the last axis: the rows go in cached pieces over 3 pool threads (the max from
    a transposed copy, the sums as BLAS products); rows holding inf, -inf only, nan or 1e30 give torch's values."""
    monkeypatch.setenv("TINYGRAD_ADAM_THREADS", "3")
    x = rng.standard_normal((300_000 // n + 7, n)).astype(np.float32) * 5
    x[3, 0], x[5], x[7, n // 2], x[9, -1] = np.inf, -np.inf, np.nan, 1e30
    with np.errstate(invalid="ignore"):
        both(lambda t: F.softmax(t, -1), lambda t: torch.softmax(t, -1), [x], rtol=1e-5, atol=4e-6)
        both(lambda t: F.softmax(t[::2, ::-1], -1), lambda t: torch.softmax(t[::2].flip(-1), -1), [x], rtol=2e-6,
             atol=4e-6)


@needs_numba
@settings(max_examples=40, deadline=None)
@given(x=SHORT_ROWS,
       strided=st.booleans())
def test_softmax_compiled_loops_match_the_numpy_path(x: np.ndarray, strided: bool) -> None:
    """float32 softmax over short rows with the fast extra (an integer max of the values' bits, numpy's exp, float64
    sums) against the numpy passes: nan in the same places, values within 4 eps of the row's largest, gradients
    within the float32 row sum's rounding (n eps) of g - sum(g out)."""
    x = x[:, ::-1] if strided else x
    g = np.random.default_rng(x.size).standard_normal(x.shape).astype(np.float32)  # the same g when hypothesis replays

    def run() -> list[np.ndarray]:
        t = tg.Tensor(x, requires_grad=True)
        with np.errstate(invalid="ignore", over="ignore"):
            out = F.softmax(t, -1)
            out.backward(tg.Tensor(g))
        return [out.numpy(), t.grad.numpy()]
    compiled, readable = with_and_without_numba(run)
    out = readable[0].astype(np.float64)
    eps = np.finfo(np.float32).eps
    tols = [4 * eps * out.max(axis=-1, keepdims=True, initial=0),  # the sum's rounding, relative to the largest
            eps * out * (4 * np.abs(g) + (4 + x.shape[1]) * np.abs(g * out).sum(axis=-1, keepdims=True))]
    for ours, theirs, tol in zip(compiled, readable, tols):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        assert (np.abs(ours - theirs) <= tol + 1e-44)[~np.isnan(theirs)].all()


@needs_numba
@settings(max_examples=40, deadline=None)
@given(x=SHORT_ROWS,
       data=st.data())
def test_shifted_exp_compiled_path_matches_the_numpy_path(x: np.ndarray, data: st.DataObject) -> None:
    """log_softmax, logsumexp (which shifts an infinite max by 0) and cross_entropy over short float32 rows with the
    fast extra (the compiled max and shift) against the numpy passes: the same inf and nan, values within 4 eps
    (1 + |value|), gradients within 4 eps of their scale."""
    targets = data.draw(hnp.arrays(np.int64, (x.shape[0],), elements=st.integers(0, x.shape[1] - 1)))
    ops = [lambda t: F.log_softmax(t, -1), lambda t: t.logsumexp(-1),
           lambda t: F.cross_entropy(t, tg.Tensor(targets), reduction="none")]

    def run() -> list[np.ndarray]:
        results = []
        for op in ops:
            t = tg.Tensor(x, requires_grad=True)
            with np.errstate(invalid="ignore", over="ignore"):
                out = op(t)
                out.backward(tg.Tensor(np.linspace(-1, 2, out.size, dtype=np.float32).reshape(out.shape)))
            results += [out.numpy(), t.grad.numpy()]
        return results
    compiled, readable = with_and_without_numba(run)
    eps = np.finfo(np.float32).eps
    for ours, theirs in zip(compiled, readable):
        np.testing.assert_array_equal(ours[~np.isfinite(theirs)], theirs[~np.isfinite(theirs)])
        finite = np.isfinite(theirs)
        scale = 1 + np.abs(theirs[finite]).max(initial=0) * x.shape[1]
        assert (np.abs(ours[finite] - theirs[finite]) <= 4 * eps * scale).all()


def test_softmax_dim_and_dtype() -> None:
    x = rng.standard_normal((3, 4))
    both(lambda t: F.softmax(t, dim=0), lambda t: torch.softmax(t, dim=0), [x])
    both(lambda t: F.log_softmax(t, 0), lambda t: torch.log_softmax(t, 0), [x])
    out = F.softmax(tg.Tensor(x.astype(np.float32)), -1, dtype=np.float64)
    assert out.dtype == np.float64
    cube = rng.standard_normal((2, 3, 4))  # no dim: torch's legacy implicit dim (0 for 3-d input), with its warning
    with pytest.warns(UserWarning, match="without dim= picks the dimension"):
        ours = F.softmax(tg.Tensor(cube))
    with pytest.warns(UserWarning, match="Implicit dimension"):
        theirs = torch.nn.functional.softmax(torch.tensor(cube))
    same(ours, theirs)


# ---------------------------------------------------------------- normalisation
@pytest.mark.parametrize("shape,normalized", [((4, 6), (6,)), ((2, 3, 5), (5,)), ((2, 3, 4), (3, 4)), ((7,), (7,))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_torch(shape: tuple[int, ...], normalized: tuple[int, ...], affine: bool) -> None:
    arrays = [rng.standard_normal(shape) * 3 + 1]
    if affine:
        arrays += [rng.standard_normal(normalized), rng.standard_normal(normalized)]
    grad_of = tuple(range(len(arrays)))
    both(lambda x, *wb: F.layer_norm(x, normalized, *wb, eps=1e-5),
         lambda x, *wb: torch.nn.functional.layer_norm(x, normalized, *wb, eps=1e-5), arrays, grad_of)
    assert tg.gradcheck(lambda x, *wb: F.layer_norm(x, normalized, *wb),
                        [tg.Tensor(a, requires_grad=True) for a in arrays])


@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)),
                    elements=st.floats(-1e6, 1e6) | st.sampled_from([0.0, 1.0, 1e-8])))
def test_layer_norm_generated_inputs_including_constant_rows(x: np.ndarray) -> None:
    both(lambda t: F.layer_norm(t, (x.shape[1],)), lambda t: torch.nn.functional.layer_norm(t, (x.shape[1],)), [x],
         rtol=1e-7, atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(x=hnp.arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 70)),
                    elements=st.floats(-1e3, 1e3, width=32) | st.sampled_from([0.0, 1.0, np.inf, -np.inf, np.nan])),
       transposed=st.booleans())
def test_layer_norm_float32_rows_match_torch(x: np.ndarray, transposed: bool) -> None:
    """float32 rows of up to 70 features (the means as einsum row sums), strided or not, non-finite values too: nan
    where torch has nan, and elsewhere torch's values up to float32 rounding of x - mean against the row's spread
    (a constant row normalises to exactly 0 in both)."""
    x = np.swapaxes(x, 0, 1) if transposed else x
    w = rng.standard_normal(x.shape[-1]).astype(np.float32)
    with np.errstate(invalid="ignore"):
        ours = F.layer_norm(tg.Tensor(x), (x.shape[-1],), tg.Tensor(w)).numpy()
    theirs = torch.nn.functional.layer_norm(torch.from_numpy(x.copy()), (x.shape[-1],), torch.from_numpy(w)).numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    rows = np.isfinite(x).all(axis=-1)
    x, ours, theirs = x[rows], ours[rows], theirs[rows]
    spread = np.abs(x - x.mean(axis=-1, keepdims=True)).max(axis=-1, keepdims=True, initial=0)
    tol = 1e-4 * np.abs(w) * (1 + spread / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-5))
    assert (np.abs(ours - theirs) <= tol + 1e-6).all()
    assert (ours[(x == x[..., :1]).all(axis=-1)] == 0).all()


@needs_numba
@settings(max_examples=40, deadline=None)
@given(x=hnp.arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 80)),
                    elements=st.floats(-1e6, 1e6, width=32) | st.sampled_from([0.0, -0.0, 1.0, np.inf, np.nan])),
       affine=st.sampled_from(["none", "weight", "both"]), broadcast_grad=st.booleans())
def test_layer_norm_compiled_loops_match_the_numpy_path(x: np.ndarray, affine: str, broadcast_grad: bool) -> None:
    """float32 layer norm with the fast extra (compiled loops, float64 statistics) against the readable numpy path:
    nan in the same places, outputs within float32 rounding of x - mean against the row's spread, gradients of x,
    weight and bias within 1e-4 of their scale, and a constant row normalised to exactly 0 (the bias) in both."""
    n = x.shape[1]
    wb = [rng.standard_normal(n).astype(np.float32) for _ in range({"none": 0, "weight": 1, "both": 2}[affine])]
    g = np.float32(1.5) if broadcast_grad else rng.standard_normal(x.shape).astype(np.float32)

    def run() -> list[np.ndarray]:
        ts = [tg.Tensor(a, requires_grad=True) for a in (x, *wb)]
        with np.errstate(invalid="ignore"):
            out = F.layer_norm(ts[0], (n,), *ts[1:])
            (out * tg.Tensor(g)).sum().backward()
        return [out.numpy(), *(t.grad.numpy() for t in ts)]
    compiled, readable = with_and_without_numba(run)
    for ours, theirs in zip(compiled, readable):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    rows = np.isfinite(x).all(axis=-1)
    xs = x[rows].astype(np.float64)
    spread = np.abs(xs - xs.mean(axis=-1, keepdims=True)).max(axis=-1, keepdims=True, initial=0)
    scale = np.abs(wb[0]) if wb else 1.0
    tol = 1e-4 * scale * (1 + spread / np.sqrt(xs.var(axis=-1, keepdims=True) + 1e-5)) + 1e-6
    assert (np.abs(compiled[0][rows] - readable[0][rows]) <= tol).all()
    constant = (x == x[:, :1]).all(axis=-1) & rows
    assert (compiled[0][constant] == (wb[1] if len(wb) == 2 else 0)).all()
    if rows.all():  # the scale of each gradient: the input's is |g| |w| / sigma; the weight's is a sum over the
        # rows of g x_hat, with |x_hat| <= sqrt(n) whatever sigma is (an ulp of x_hat is 6e-8 |g|); the bias's of g
        sigma = np.sqrt(xs.var(axis=-1) + 1e-5).min()
        top = np.abs(g).max()
        scale = [top * max(np.abs(wb[0]).max() if wb else 1.0, 1.0) / sigma, top * len(x) * np.sqrt(n), top * len(x)]
        for ours, theirs, s in zip(compiled[1:], readable[1:], scale):
            assert np.abs(ours - theirs).max(initial=0) <= 1e-4 * (np.abs(theirs).max(initial=0) + s)


@needs_numba
@pytest.mark.parametrize("normalized", [(5,), (4, 5), (2, 4, 5)])
def test_layer_norm_compiled_over_several_trailing_dims(normalized: tuple[int, ...]) -> None:
    """The compiled float32 layer norm over one or more trailing dims of a strided input, with weight and bias of
    normalized_shape, against the numpy path: outputs and the three gradients."""
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32).transpose(1, 0, 2, 3)[..., ::-1]  # strided
    wb = [rng.standard_normal(normalized).astype(np.float32) for _ in range(2)]
    g = rng.standard_normal(x.shape).astype(np.float32)

    def run() -> list[np.ndarray]:
        ts = [tg.Tensor(a, requires_grad=True) for a in (x, *wb)]
        out = F.layer_norm(ts[0], normalized, *ts[1:])
        out.backward(tg.Tensor(g))
        return [out.numpy(), *(t.grad.numpy() for t in ts)]
    for ours, theirs in zip(*with_and_without_numba(run)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_layer_norm_module_state_and_float32() -> None:
    ours, theirs = nn.LayerNorm(8), torch.nn.LayerNorm(8)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = rng.standard_normal((5, 8)).astype(np.float32)
    both(ours, theirs, [x], rtol=1e-5, atol=1e-5)
    assert nn.LayerNorm(4, bias=False).bias is None and nn.LayerNorm(4, elementwise_affine=False).weight is None


@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                       ("BatchNorm2d", (3, 3, 4, 2))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_running_stats_train_eval_and_state_dict(cls: str, shape: tuple[int, ...],
                                                            momentum: float | None) -> None:
    ours = getattr(nn, cls)(3, momentum=momentum).double()
    theirs = getattr(torch.nn, cls)(3, momentum=momentum).double()
    theirs.weight.data.uniform_(0.5, 1.5)
    theirs.bias.data.uniform_(-1, 1)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for _ in range(3):  # training: batch statistics; running statistics updated (unbiased variance)
        both(ours, theirs, [rng.standard_normal(shape) * 2 + 1], grad_of=(0,))
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(np.asarray(ours.state_dict()[k]), v.numpy(), rtol=1e-12)
    assert int(ours.num_batches_tracked.item()) == 3
    ours.eval(), theirs.eval()
    both(ours, theirs, [rng.standard_normal(shape)], grad_of=(0,))
    assert int(ours.num_batches_tracked.item()) == 3  # eval leaves the statistics alone


def test_batch_norm_without_running_stats_and_errors() -> None:
    ours, theirs = nn.BatchNorm1d(3, track_running_stats=False, affine=False).eval(), \
        torch.nn.BatchNorm1d(3, track_running_stats=False, affine=False).eval()
    assert ours.state_dict() == {} and not list(theirs.state_dict())
    both(ours, theirs, [rng.standard_normal((5, 3))])
    with pytest.raises(ValueError, match="2\\+ values per channel"):
        nn.BatchNorm1d(3)(tg.randn(1, 3))
    with pytest.raises(ValueError, match="2-d or 3-d"):
        nn.BatchNorm1d(3)(tg.randn(2, 3, 4, 4))


# ---------------------------------------------------------------- embedding
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_matches_torch(padding_idx: int | None) -> None:
    theirs = torch.nn.Embedding(7, 4, padding_idx=padding_idx).double()
    ours = nn.Embedding(7, 4, padding_idx=padding_idx).double()
    if padding_idx is not None:
        assert np.all(ours.weight.numpy()[padding_idx] == 0)
    ours.load_state_dict({"weight": theirs.weight.detach().numpy()})
    idx = np.array([[0, 3, 6, 3], [6, 6, 1, 0]])
    out, ref = ours(tg.Tensor(idx)), theirs(torch.tensor(idx))
    same(out, ref)
    w = rng.standard_normal(out.shape)
    (out * tg.Tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    same(ours.weight.grad, theirs.weight.grad)


def test_embedding_rejects_float_and_out_of_range_indices() -> None:
    emb = nn.Embedding(5, 2)
    with pytest.raises(TypeError, match="integer"):
        emb(tg.Tensor([1.0, 2.0]))
    with pytest.raises(IndexError, match="out of range"):
        emb(tg.Tensor(np.array([5])))


# ---------------------------------------------------------------- losses
def class_case(n: int = 6, c: int = 5, extra: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((n, c, *extra)) * 3, rng.integers(0, c, (n, *extra))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("extra", [(), (3,), (2, 2)])
def test_cross_entropy_matches_torch(reduction: str, smoothing: float, weighted: bool, extra: tuple[int, ...]) -> None:
    x, t = class_case(extra=extra)
    t.reshape(-1)[[0, 3]] = -100  # ignored
    w = rng.uniform(0.5, 2, 5) if weighted else None
    kw = {"reduction": reduction, "label_smoothing": smoothing}
    both(lambda a: F.cross_entropy(a, tg.Tensor(t), None if w is None else tg.Tensor(w), **kw),
         lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(t), None if w is None else torch.tensor(w), **kw),
         [x])
    ours = nn.CrossEntropyLoss(None if w is None else tg.Tensor(w), ignore_index=-100, **kw)
    theirs = torch.nn.CrossEntropyLoss(None if w is None else torch.tensor(w), ignore_index=-100, **kw)
    both(lambda a: ours(a, tg.Tensor(t)), lambda a: theirs(a, torch.tensor(t)), [x])


def test_cross_entropy_fast_path_other_ignore_index_and_probabilities() -> None:
    x, t = class_case()
    both(lambda a: F.cross_entropy(a, tg.Tensor(t)), lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(t)),
         [x])
    t[1] = 2
    both(lambda a: F.cross_entropy(a, tg.Tensor(t), ignore_index=2),
         lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(t), ignore_index=2), [x])
    p = rng.dirichlet(np.ones(5), 6)
    for kw in ({}, {"label_smoothing": 0.1}, {"reduction": "sum"}):
        both(lambda a, kw=kw: F.cross_entropy(a, tg.Tensor(p), **kw),
             lambda a, kw=kw: torch.nn.functional.cross_entropy(a, torch.tensor(p), **kw), [x])
    x3, w = rng.standard_normal((6, 5, 2)), rng.uniform(0.5, 2, 5)
    p3 = rng.dirichlet(np.ones(5), (6, 2)).transpose(0, 2, 1)
    for kw in ({}, {"label_smoothing": 0.2}, {"reduction": "none"}, {"reduction": "sum"}):  # weighted, (N, C, d)
        both(lambda a, kw=kw: F.cross_entropy(a, tg.Tensor(p3), tg.Tensor(w), **kw),
             lambda a, kw=kw: torch.nn.functional.cross_entropy(a, torch.tensor(p3), torch.tensor(w), **kw), [x3])
    single = rng.standard_normal(5)  # (C,) input with a 0-d target
    both(lambda a: F.cross_entropy(a, tg.Tensor(np.array(3))),
         lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(3)), [single])



@pytest.mark.parametrize("ignore_index", [0, 3, -1, -100])
def test_cross_entropy_probability_targets_refuse_ignore_index_as_torch(ignore_index: int) -> None:
    # ignore_index was silently ignored with class-probability targets; torch refuses one >= 0
    x, p = rng.standard_normal((4, 5)), rng.dirichlet(np.ones(5), 4)
    theirs = lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(p), ignore_index=ignore_index)  # noqa: E731
    ours = lambda a: F.cross_entropy(a, tg.Tensor(p), ignore_index=ignore_index)  # noqa: E731
    if ignore_index >= 0:
        with pytest.raises(RuntimeError, match="ignore_index is not supported"):
            theirs(torch.tensor(x))
        with pytest.raises(ValueError, match=r"ignore_index=\d+ is not supported"):
            ours(tg.Tensor(x))
        with pytest.raises(ValueError, match="ignore_index"):
            tg.nn.CrossEntropyLoss(ignore_index=ignore_index)(tg.Tensor(x), tg.Tensor(p))
    else:
        both(ours, theirs, [x])

@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.1}, {"reduction": "none"}, {"weighted": True}])
def test_cross_entropy_ignored_rows_with_minus_inf_logits_count_for_nothing(kw: dict) -> None:
    x = rng.standard_normal((3, 4))
    x[1, 0] = x[2, 2] = -np.inf  # row 1 is ignored: its -inf must not turn into NaN through a 0 weight
    t = np.array([1, -100, 0])
    w = rng.uniform(0.5, 2, 4) if kw.pop("weighted", False) else None
    with np.errstate(invalid="ignore"):
        both(lambda a: F.cross_entropy(a, tg.Tensor(t), None if w is None else tg.Tensor(w), **kw),
             lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(t), None if w is None else torch.tensor(w),
                                                         **kw), [x])


def test_cross_entropy_all_ignored_is_nan_as_torch_and_bad_targets_raise() -> None:
    x = rng.standard_normal((3, 4))
    t = np.full(3, -100)
    ours = F.cross_entropy(tg.Tensor(x), tg.Tensor(t)).item()
    assert np.isnan(ours) and np.isnan(torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t)).item())
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        F.cross_entropy(tg.Tensor(x), tg.Tensor(np.array([0, 4, -100])))
    with pytest.raises(ValueError, match="target shape"):
        F.cross_entropy(tg.Tensor(x), tg.Tensor(np.array([0, 1])))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_weight_and_ignore_index(reduction: str) -> None:
    x, t = class_case(extra=(2,))
    t[0, 1] = -100
    w = rng.uniform(0.5, 2, 5)
    logp = np.log(np.exp(x) / np.exp(x).sum(1, keepdims=True))
    both(lambda a: F.nll_loss(a, tg.Tensor(t), tg.Tensor(w), reduction=reduction),
         lambda a: torch.nn.functional.nll_loss(a, torch.tensor(t), torch.tensor(w), reduction=reduction), [logp])
    both(lambda a: nn.NLLLoss(reduction=reduction)(a, tg.Tensor(t)),
         lambda a: torch.nn.NLLLoss(reduction=reduction)(a, torch.tensor(t)), [logp])


probs = hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 4)),
                   elements=st.floats(0, 1) | st.sampled_from([0.0, 1.0, 1e-300]))


@settings(max_examples=40, deadline=None)
@given(p=probs, data=st.data())
def test_binary_cross_entropy_matches_torch_even_at_0_and_1(p: np.ndarray, data: st.DataObject) -> None:
    y = data.draw(hnp.arrays(np.float64, p.shape, elements=st.floats(0, 1)))
    for reduction in ("mean", "sum", "none"):
        both(lambda a, r=reduction: F.binary_cross_entropy(a, tg.Tensor(y), reduction=r),
             lambda a, r=reduction: torch.nn.functional.binary_cross_entropy(a, torch.tensor(y), reduction=r), [p],
             rtol=1e-9, atol=1e-9)


def test_binary_cross_entropy_weight_module_and_range_check() -> None:
    p, y, w = rng.uniform(0.01, 0.99, (4, 3)), rng.integers(0, 2, (4, 3)).astype(float), rng.uniform(0, 2, 3)
    both(lambda a: nn.BCELoss(tg.Tensor(w))(a, tg.Tensor(y)),
         lambda a: torch.nn.BCELoss(torch.tensor(w))(a, torch.tensor(y)), [p])
    for bad in (1.5, -0.5, np.nan):  # torch raises for each, in the input and in the target
        with pytest.raises(ValueError, match="probabilities"):
            F.binary_cross_entropy(tg.Tensor([0.5, bad]), tg.Tensor([1.0, 1.0]))
        with pytest.raises(RuntimeError):
            torch.nn.functional.binary_cross_entropy(torch.tensor([0.5, bad]), torch.tensor([1.0, 1.0]))
        with pytest.raises(ValueError, match="target"):
            F.binary_cross_entropy(tg.Tensor([0.5, 0.5]), tg.Tensor([1.0, bad]))
        with pytest.raises(RuntimeError):
            torch.nn.functional.binary_cross_entropy(torch.tensor([0.5, 0.5]), torch.tensor([1.0, bad]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_weight_and_pos_weight(reduction: str) -> None:
    z, y = rng.standard_normal((5, 3)) * 20, rng.integers(0, 2, (5, 3)).astype(float)
    w, pw = rng.uniform(0, 2, 3), rng.uniform(0.5, 3, 3)
    for kw_ours, kw_theirs in [({}, {}), ({"weight": tg.Tensor(w)}, {"weight": torch.tensor(w)}),
                               ({"pos_weight": tg.Tensor(pw)}, {"pos_weight": torch.tensor(pw)}),
                               ({"weight": tg.Tensor(w), "pos_weight": tg.Tensor(pw)},
                                {"weight": torch.tensor(w), "pos_weight": torch.tensor(pw)})]:
        both(lambda a, k=kw_ours: nn.BCEWithLogitsLoss(reduction=reduction, **k)(a, tg.Tensor(y)),
             lambda a, k=kw_theirs: torch.nn.BCEWithLogitsLoss(reduction=reduction, **k)(a, torch.tensor(y)), [z])


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(name: str, reduction: str) -> None:
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    x[0, 0] = y[0, 0]  # l1 at a kink: torch's subgradient is 0
    both(lambda a, b: getattr(F, name)(a, b, reduction=reduction),
         lambda a, b: getattr(torch.nn.functional, name)(a, b, reduction=reduction), [x, y], grad_of=(0, 1))
    module = {"mse_loss": "MSELoss", "l1_loss": "L1Loss"}[name]
    both(lambda a: getattr(nn, module)(reduction=reduction)(a, tg.Tensor(y)),
         lambda a: getattr(torch.nn, module)(reduction=reduction)(a, torch.tensor(y)), [x])


def test_float32_losses_stay_float32() -> None:
    x, t = class_case()
    x32 = tg.Tensor(x.astype(np.float32), requires_grad=True)
    loss = F.cross_entropy(x32, tg.Tensor(t), label_smoothing=0.1)
    loss.backward()
    assert loss.dtype == np.float32 and x32.grad.dtype == np.float32
    model = nn.Sequential(nn.Embedding(5, 4), nn.LayerNorm(4), nn.GELU(), nn.Flatten(), nn.BatchNorm1d(8), nn.SiLU())
    out = model(tg.Tensor(np.array([[1, 2], [3, 4], [0, 0]])))
    out.sum().backward()
    assert out.dtype == np.float32 and all(p.grad.dtype == np.float32 for p in model.parameters())
    assert model[4].running_var.dtype == np.float32


# ---------------------------------------------------------------- dropout
def test_dropout_functional_signature() -> None:
    x = tg.ones(1000)
    assert F.dropout(x, 0.5, training=False) is x
    kept = F.dropout(x, p=0.25, training=True, inplace=False).numpy()
    np.testing.assert_allclose(np.unique(kept), [0.0, 1 / 0.75], rtol=1e-6)
    assert 0.65 < (kept > 0).mean() < 0.85


def test_dropout_of_one_drops_everything_as_torch() -> None:
    data = np.array([[1.0, -2.0, np.nan], [np.inf, 0.0, 3.0]], dtype=np.float32)
    ours, theirs = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    for out, ref in ((F.dropout(ours, 1.0), torch.nn.functional.dropout(theirs, 1.0)),
                     (nn.Dropout(1.0)(ours), torch.nn.Dropout(1.0)(theirs))):
        np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())  # zeros; nan where x is nan or inf
        ours.grad = theirs.grad = None
        out.sum().backward()
        ref.sum().backward()
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


# ---------------------------------------------------------------- containers, buffers, tree
class TorchNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = torch.nn.ModuleList([torch.nn.Linear(3, 3) for _ in range(2)])
        self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(3, 1), "b": torch.nn.BatchNorm1d(3)})
        self.register_buffer("scale", torch.ones(3))
        self.register_buffer("cache", torch.zeros(2), persistent=False)


class OurNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])
        self.heads = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.BatchNorm1d(3)})
        self.register_buffer("scale", tg.ones(3))
        self.register_buffer("cache", tg.zeros(2), persistent=False)


def test_containers_and_buffers_give_torchs_state_dict_keys() -> None:
    ours, theirs = OurNet(), TorchNet()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [type(m).__name__ for m in ours.children()] == ["ModuleList", "ModuleDict"]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(ours.blocks[1].weight.numpy(), theirs.blocks[1].weight.detach().numpy())


def test_module_list_and_dict_behave_like_lists_and_dicts() -> None:
    layers = nn.ModuleList([nn.Linear(2, 2)])
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers.insert(0, nn.Identity())
    assert [type(m).__name__ for m in layers] == ["Identity", "Linear", "ReLU", "Tanh"] and len(layers) == 4
    assert isinstance(layers[-1], nn.Tanh) and len(layers[1:3]) == 2
    del layers[0]
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias"]
    with pytest.raises(IndexError):
        layers[7]
    d = nn.ModuleDict([("enc", nn.Linear(2, 2))])
    d["dec"] = nn.Linear(2, 1)
    assert list(d) == ["enc", "dec"] and "enc" in d and isinstance(d.enc, nn.Linear) and len(d) == 2
    assert list(d.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    with pytest.raises(KeyError, match="already exists"):
        d["train"] = nn.ReLU()
    assert isinstance(d.pop("enc"), nn.Linear) and list(d.keys()) == ["dec"]


def test_buffers_move_and_cast_with_to_and_tied_weights_appear_twice() -> None:
    net = OurNet().double()
    assert net.scale.dtype == np.float64 and net.heads.b.num_batches_tracked.dtype == np.int64
    net.to(tg.float32)  # a dtype in first place, as torch's Module.to(dtype)
    assert net.scale.dtype == np.float32 and net.blocks[0].weight.dtype == np.float32

    class Tied(nn.Module):
        def __init__(self) -> None:
            self.emb = nn.Embedding(5, 3)
            self.head = nn.Linear(3, 5, bias=False)
            self.head.weight = self.emb.weight

    assert list(Tied().state_dict()) == ["emb.weight", "head.weight"]  # as torch's state_dict
    assert len(list(Tied().parameters())) == 1


def test_apply_zero_grad_and_requires_grad() -> None:
    net = OurNet()
    seen: list[str] = []
    net.apply(lambda m: seen.append(type(m).__name__))
    theirs: list[str] = []
    TorchNet().apply(lambda m: theirs.append(type(m).__name__))
    assert seen[:-1] == theirs[:-1] and seen[-1] == "OurNet"
    net.apply(lambda m: nn.init.zeros_(m.weight) if isinstance(m, nn.Linear) else None)
    assert not net.blocks[0].weight.numpy().any()
    net.blocks[0](tg.randn(2, 3)).sum().backward()
    net.zero_grad(set_to_none=False)
    assert net.blocks[0].weight.grad is not None and not net.blocks[0].weight.grad.numpy().any()
    net.zero_grad()
    assert net.blocks[0].weight.grad is None
    assert not any(p.requires_grad for p in net.requires_grad_(False).parameters())


def test_clip_grad_norm_returns_a_tensor_like_torch() -> None:
    p = nn.Parameter(tg.Tensor(np.array([3.0, 4.0], np.float32)))
    p.grad = tg.Tensor(np.array([3.0, 4.0], np.float32))
    tp = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    tp.grad = torch.tensor([3.0, 4.0])
    ours, theirs = nn.utils.clip_grad_norm_([p], 1.0), torch.nn.utils.clip_grad_norm_([tp], 1.0)
    same(ours, theirs, rtol=1e-6)
    same(p.grad, tp.grad, rtol=1e-6)
    p.grad = tg.Tensor(np.array([3.0, -4.0], np.float32))
    nn.utils.clip_grad_value_(p, 2.0)
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, -2.0])


# ---------------------------------------------------------------- init
def test_init_functions() -> None:
    w = tg.zeros(300, 200)
    nn.init.xavier_normal_(w)
    assert abs(w.numpy().std() - np.sqrt(2 / 500)) < 0.003
    nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=1.0)
    assert w.numpy().min() >= -0.5 and w.numpy().max() <= 1.0 and w.numpy().std() > 0.3
    nn.init.orthogonal_(w, gain=2.0)
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), 4 * np.eye(200), atol=1e-4)
    nn.init.constant_(w, 0.5)
    assert np.all(w.numpy() == 0.5)
    nn.init.ones_(w)
    nn.init.eye_(w)
    np.testing.assert_array_equal(w.numpy(), np.eye(300, 200))
    assert nn.init._calculate_fan_in_and_fan_out(tg.zeros(4, 3, 2, 2)) == (12, 16)


# ---------------------------------------------------------------- the GPU path
@pytest.mark.gpu
def test_new_layers_and_losses_on_cuda_match_the_cpu() -> None:
    """Embedding, LayerNorm, BatchNorm (buffers moved by to()), GELU (erf kernel), SiLU and the general
    cross-entropy path give the CPU's values and gradients on the GPU."""
    def build() -> nn.Module:
        tg.manual_seed(0)
        return nn.Sequential(nn.Embedding(7, 6, padding_idx=0), nn.LayerNorm(6), nn.GELU(), nn.Linear(6, 6),
                             nn.GELU("tanh"), nn.SiLU(), nn.Flatten(), nn.BatchNorm1d(18), nn.Linear(18, 4))

    idx = rng.integers(0, 7, (5, 3))
    target = np.array([0, 3, -100, 1, 2])
    results = []
    for device in ("cpu", "cuda"):
        model = build().to(device)
        assert all(b.device == model[0].weight.device for b in model.buffers())
        logits = model(tg.Tensor(idx, device=device))
        loss = F.cross_entropy(logits, tg.Tensor(target, device=device), label_smoothing=0.1)
        loss.backward()
        results.append((loss.item(), [p.grad.numpy() for p in model.parameters()], model[7].running_var.numpy()))
    (loss_cpu, grads_cpu, var_cpu), (loss_gpu, grads_gpu, var_gpu) = results
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-5)
    for a, b in zip(grads_gpu, grads_cpu, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(var_gpu, var_cpu, rtol=1e-5)
