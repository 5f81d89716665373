"""torch's remaining nn names: the kinked activations (leaky_relu ... prelu), smooth L1 / Huber / KL losses,
cosine_similarity, normalize, pad, average pooling, Unflatten, Dropout2d, ParameterList / ParameterDict, each
against PyTorch: values, gradients (at the kinks, for nan and inf too), dtypes, empty tensors, state_dict keys."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_nn_surface import both, same

import tinygrad_adam as tg
import tinygrad_adam.nn.functional as F
from tinygrad_adam import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional
rng = np.random.default_rng(5)

KINKS = [0.0, -0.0, 6.0, -3.0, 3.0, 1.0, -1.0, 0.5, -2.0, 40.0, -40.0, 1e3, -1e3, np.nan, np.inf, -np.inf]
DTYPES = [np.float32, np.float64]


def arrays(dtype: type, min_dims: int = 0, max_dims: int = 3, min_side: int = 0) -> st.SearchStrategy:
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=5),
                      elements=st.floats(-50, 50, width=32) | st.sampled_from(KINKS))


def tol(dtype: type) -> dict[str, float]:
    return {"rtol": 2e-6, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


def quiet_both(ours: Callable, theirs: Callable, xs: list[np.ndarray], grad_of: tuple[int, ...] = (0,),
               **kw: float) -> None:
    """``both``, without numpy's warnings on nan and inf (its weighted sums of the outputs make inf - inf)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        both(ours, theirs, xs, grad_of, **kw)


# ---------------------------------------------------------------- activations
ACTIVATIONS = {
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.1), lambda t: TF.leaky_relu(t, 0.1)),
    "leaky_relu_default": (F.leaky_relu, TF.leaky_relu),
    "elu": (lambda t: F.elu(t, 1.5), lambda t: TF.elu(t, 1.5)),
    "selu": (F.selu, TF.selu),
    "celu": (lambda t: F.celu(t, 2.0), lambda t: TF.celu(t, 2.0)),
    "relu6": (F.relu6, TF.relu6),
    "hardtanh": (lambda t: F.hardtanh(t, -1.0, 3.0), lambda t: TF.hardtanh(t, -1.0, 3.0)),
    "hardsigmoid": (F.hardsigmoid, TF.hardsigmoid),
    "hardswish": (F.hardswish, TF.hardswish),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid),
    "softsign": (F.softsign, TF.softsign),
    "mish": (F.mish, TF.mish),
    "threshold": (lambda t: F.threshold(t, 1.0, -2.0), lambda t: TF.threshold(t, 1.0, -2.0)),
    "prelu": (lambda t: F.prelu(t, tg.Tensor(np.array([0.25], t.dtype))),
              lambda t: TF.prelu(t, torch.tensor(np.array([0.25], str(t.dtype).removeprefix("torch."))))),
}


SCALAR_LOOP_DIFFERS = {"elu", "selu", "celu", "relu6", "hardtanh", "hardswish"}


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_kinks_nan_inf_match_torch(name: str, dtype: type) -> None:
    """Every kink point, nan and +-inf: values and torch's gradient convention there, exactly. (For a nan input,
    torch's elu, selu, celu, hardtanh, relu6 and hardswish give another gradient in their scalar loop, which only
    tensors of a few elements take; ours is the vectorised loop's always.)"""
    ours, theirs = ACTIVATIONS[name]
    quiet_both(ours, theirs, [np.tile(np.array(KINKS, dtype), 8)], **tol(dtype))  # long: torch's vectorised loop


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - {"softsign"}))  # softsign: the library's division
def test_activations_are_silent_on_nan_and_inf(name: str) -> None:
    """torch never warns on nan or inf: neither forward nor backward of the fused ops lets numpy's warnings out."""
    x = tg.Tensor(np.array(KINKS), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = ACTIVATIONS[name][0](x)
        out.backward(tg.Tensor(np.ones(out.shape)))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(ACTIVATIONS)), dtype=st.sampled_from(DTYPES))
def test_activations_generated_inputs_match_torch(data: st.DataObject, name: str, dtype: type) -> None:
    x = data.draw(arrays(dtype))
    if name in SCALAR_LOOP_DIFFERS:  # a small tensor takes torch's scalar loop, whose nan gradient differs
        x = np.nan_to_num(x, nan=1.0, posinf=np.inf, neginf=-np.inf)
    ours, theirs = ACTIVATIONS[name]
    quiet_both(ours, theirs, [x], **tol(dtype))


def test_activation_integer_inputs_as_torch() -> None:
    i = np.array([-2, 0, 3, 7])
    for ours, theirs in [(F.relu6, TF.relu6), (lambda t: F.hardtanh(t, 1, 2), lambda t: TF.hardtanh(t, 1, 2)),
                         (F.softsign, TF.softsign), (lambda t: F.threshold(t, 1, 0), lambda t: TF.threshold(t, 1, 0))]:
        same(ours(tg.Tensor(i)), theirs(torch.tensor(i)))
    for f in (F.leaky_relu, F.elu, F.selu, F.celu, F.hardsigmoid, F.hardswish, F.logsigmoid, F.mish):
        with pytest.raises(TypeError, match="convert first"):
            f(tg.Tensor(i))


def test_inplace_activation_writes_into_the_tensor() -> None:
    x = tg.Tensor(np.array([-1.0, 2.0]), requires_grad=True)
    y = x * 1
    z = F.leaky_relu(y, 0.5, inplace=True)
    assert z is y
    np.testing.assert_array_equal(y.numpy(), [-0.5, 2.0])
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 1.0])
    with pytest.raises(RuntimeError, match="leaf"):
        F.relu6(x, inplace=True)


@settings(max_examples=40, deadline=None)
@given(x=arrays(np.float64, min_dims=1), dim=st.integers(-3, 2))
def test_glu_matches_torch(x: np.ndarray, dim: int) -> None:
    if not -x.ndim <= dim < x.ndim:
        return
    x = np.concatenate([x, x[::-1] * 0.5], axis=dim)  # an even size along dim
    quiet_both(lambda t: F.glu(t, dim), lambda t: TF.glu(t, dim), [x])


def test_glu_errors() -> None:
    with pytest.raises(ValueError, match=r"even.*size 3"):
        F.glu(tg.Tensor(np.ones((2, 3))))
    with pytest.raises(ValueError, match="0-d"):
        F.glu(tg.Tensor(np.float64(1.0)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,n", [((4, 3, 2, 2), 3), ((4, 3, 2, 2), 1), ((5, 3), 3), ((6,), 1), ((), 1),
                                     ((0, 3), 3)])
def test_prelu_module_weight_gradient_matches_torch(dtype: type, shape: tuple[int, ...], n: int) -> None:
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[:2] = 0.0
    ours, theirs = nn.PReLU(n, init=0.1).to(dtype), torch.nn.PReLU(n, init=0.1).to(getattr(torch, np.dtype(dtype).name))
    theirs.weight.data = torch.tensor(rng.standard_normal(n).astype(dtype))
    ours.weight.data[...] = theirs.weight.detach().numpy()
    quiet_both(ours, theirs, [x], **tol(dtype))
    a, b = tg.Tensor(x), torch.tensor(x)
    (ours(a) * 2).sum().backward()
    (theirs(b) * 2).sum().backward()
    same(ours.weight.grad, theirs.weight.grad, **tol(dtype))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert nn.PReLU(init=1).weight.dtype == np.float32


def test_prelu_errors() -> None:
    with pytest.raises(ValueError, match=r"3 entries.*2 channels"):
        F.prelu(tg.Tensor(np.ones((4, 2))), tg.Tensor(np.ones(3)))
    with pytest.raises(TypeError, match="one dtype"):
        F.prelu(tg.Tensor(np.ones((4, 2))), tg.Tensor(np.ones(1, np.float32)))


MODULES = [
    (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)), (nn.ELU, torch.nn.ELU),
    (lambda: nn.ELU(0.5), lambda: torch.nn.ELU(0.5)), (nn.SELU, torch.nn.SELU),
    (lambda: nn.CELU(0.7), lambda: torch.nn.CELU(0.7)), (nn.ReLU6, torch.nn.ReLU6),
    (lambda: nn.Hardtanh(-2, 2), lambda: torch.nn.Hardtanh(-2, 2)), (nn.Hardsigmoid, torch.nn.Hardsigmoid),
    (nn.Hardswish, torch.nn.Hardswish), (nn.LogSigmoid, torch.nn.LogSigmoid), (nn.Softsign, torch.nn.Softsign),
    (nn.Mish, torch.nn.Mish), (nn.GLU, torch.nn.GLU), (lambda: nn.GLU(1), lambda: torch.nn.GLU(1)),
    (lambda: nn.Threshold(0.1, 20.0), lambda: torch.nn.Threshold(0.1, 20.0)), (nn.PReLU, torch.nn.PReLU),
    (lambda: nn.Unflatten(1, (2, 2)), lambda: torch.nn.Unflatten(1, (2, 2))),
    (lambda: nn.Unflatten(-1, (-1, 2)), lambda: torch.nn.Unflatten(-1, (-1, 2))),
    (lambda: nn.AvgPool2d(2), lambda: torch.nn.AvgPool2d(2)),
    (lambda: nn.AvgPool2d((2, 1), 1, (1, 0)), lambda: torch.nn.AvgPool2d((2, 1), 1, (1, 0))),
    (lambda: nn.AdaptiveAvgPool2d((1, 2)), lambda: torch.nn.AdaptiveAvgPool2d((1, 2))),
]


@pytest.mark.parametrize("make", MODULES)
def test_modules_match_torch_and_have_no_state(make: tuple[Callable, Callable]) -> None:
    ours, theirs = make[0](), make[1]()
    x = (rng.standard_normal((3, 4, 2, 4)) * 4).astype(np.float32)
    quiet_both(ours, theirs, [x], rtol=2e-6, atol=2e-6)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    repr(ours)


# ---------------------------------------------------------------- losses
REDUCE = st.sampled_from(["mean", "sum", "none"])
LOSS_VALUES = st.floats(-5, 5) | st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, np.nan, np.inf, -np.inf])


def pair(dtype: type, elements: st.SearchStrategy = LOSS_VALUES) -> st.SearchStrategy:
    shape = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
    return shape.flatmap(lambda s: st.tuples(hnp.arrays(dtype, s, elements=elements),
                                             hnp.arrays(dtype, s, elements=elements)))


@settings(max_examples=40, deadline=None)
@given(xy=pair(np.float64), reduction=REDUCE, beta=st.sampled_from([1.0, 0.5, 2.0, 0.0]))
def test_smooth_l1_loss_matches_torch(xy: tuple[np.ndarray, np.ndarray], reduction: str, beta: float) -> None:
    quiet_both(lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
               lambda a, b: TF.smooth_l1_loss(a, b, reduction=reduction, beta=beta), list(xy), (0, 1))


@settings(max_examples=40, deadline=None)
@given(xy=pair(np.float64), reduction=REDUCE, delta=st.sampled_from([1.0, 0.5, 2.0]))
def test_huber_loss_matches_torch(xy: tuple[np.ndarray, np.ndarray], reduction: str, delta: float) -> None:
    quiet_both(lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=delta),
               lambda a, b: TF.huber_loss(a, b, reduction=reduction, delta=delta), list(xy), (0, 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_float32_float64(dtype: type, reduction: str) -> None:
    x, y = (rng.standard_normal((5, 3)).astype(dtype) * 2 for _ in range(2))
    for ours, theirs in [(nn.SmoothL1Loss(reduction=reduction, beta=0.5), torch.nn.SmoothL1Loss(reduction=reduction,
                                                                                                  beta=0.5)),
                         (nn.HuberLoss(reduction, 0.7), torch.nn.HuberLoss(reduction, 0.7))]:
        quiet_both(ours, theirs, [x, y], (0, 1), **tol(dtype))
        assert list(ours.state_dict()) == list(theirs.state_dict()) == []


def test_huber_keeps_the_input_dtype_and_weight() -> None:
    x, y, w = rng.standard_normal(4).astype(np.float32), rng.standard_normal(4), rng.random(4)
    same(F.huber_loss(tg.Tensor(x), tg.Tensor(y)), TF.huber_loss(torch.tensor(x), torch.tensor(y)), 1e-6, 1e-6)
    same(F.smooth_l1_loss(tg.Tensor(x), tg.Tensor(y)), TF.smooth_l1_loss(torch.tensor(x), torch.tensor(y)))
    both(lambda a: F.huber_loss(a, tg.Tensor(y), weight=tg.Tensor(w)),
         lambda a: TF.huber_loss(a, torch.tensor(y), weight=torch.tensor(w)), [x.astype(np.float64)])


def test_loss_errors() -> None:
    x = tg.Tensor(np.ones(3))
    with pytest.raises(ValueError, match="beta"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="reduction"):
        nn.KLDivLoss(reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        nn.SmoothL1Loss(reduction="batchmean")


@pytest.mark.parametrize("op", [F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss])
def test_unequal_target_shapes_raise_naming_both_and_the_fix(op: Callable) -> None:
    """torch broadcasts (N, 1) against (N,) with only a warning, giving an (N, N) loss: here it is an error."""
    with pytest.raises(ValueError, match=r"\(4,\) must equal input shape \(4, 1\).*target.reshape\(input.shape\)"):
        op(tg.Tensor(np.ones((4, 1))), tg.Tensor(np.ones(4)))


KL_TARGETS = st.floats(0, 1) | st.sampled_from([0.0, 1.0, 0.25, np.nan])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), reduction=st.sampled_from(["mean", "sum", "none", "batchmean"]), log_target=st.booleans(),
       dtype=st.sampled_from(DTYPES))
def test_kl_div_matches_torch(data: st.DataObject, reduction: str, log_target: bool, dtype: type) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    x = data.draw(hnp.arrays(dtype, shape, elements=st.floats(-20, 0, width=32) | st.sampled_from([-np.inf, 0.0])))
    t = data.draw(hnp.arrays(dtype, shape, elements=st.floats(-5, 0, width=32) if log_target else KL_TARGETS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's (and our) warning for "mean"
        quiet_both(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
                   lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target), [x, t], (0, 1),
                   **tol(dtype))


def test_kl_div_mean_warns_as_torch_and_broadcasts() -> None:
    x = np.log(rng.dirichlet(np.ones(4), size=3))
    t = rng.dirichlet(np.ones(4))
    with pytest.warns(UserWarning, match="batchmean"):
        ours = F.kl_div(tg.Tensor(x), tg.Tensor(t))
    with pytest.warns(UserWarning, match="batchmean"):
        theirs = TF.kl_div(torch.tensor(x), torch.tensor(t))
    same(ours, theirs)
    both(nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean"), [x, t], (0, 1))


# ---------------------------------------------------------------- similarity and normalisation
@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES))
def test_cosine_similarity_matches_torch(data: st.DataObject, dtype: type) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    elements = st.floats(-10, 10, width=32) | st.sampled_from([0.0, 1e-20])
    x1 = data.draw(hnp.arrays(dtype, shape, elements=elements))
    x2 = data.draw(hnp.arrays(dtype, shape[data.draw(st.integers(0, len(shape) - 1)):], elements=elements))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    if data.draw(st.booleans()):
        x1[...] = 0  # a zero vector: torch's gradient there is x2 / (||x2|| eps)
    t = {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-9, "atol": 1e-9}
    quiet_both(lambda a, b: F.cosine_similarity(a, b, dim), lambda a, b: TF.cosine_similarity(a, b, dim), [x1, x2],
               (0, 1), **t)


def test_cosine_similarity_module_and_dtypes() -> None:
    x1, x2 = rng.standard_normal((3, 5)), rng.standard_normal((3, 5)).astype(np.float32)
    quiet_both(nn.CosineSimilarity(), torch.nn.CosineSimilarity(), [x1, x2], (0, 1), rtol=1e-6, atol=1e-6)
    quiet_both(nn.CosineSimilarity(0, 1e-3), torch.nn.CosineSimilarity(0, 1e-3), [x1, x2], (0, 1), rtol=1e-6,
               atol=1e-6)
    with pytest.raises(TypeError, match="floating"):
        F.cosine_similarity(tg.Tensor(np.ones((2, 2), int)), tg.Tensor(np.ones((2, 2), int)))


@settings(max_examples=40, deadline=None)
@given(x=arrays(np.float64, min_dims=1, min_side=1), p=st.sampled_from([1.0, 2.0, 3.0]), dim=st.integers(-1, 0),
       zero=st.booleans())
def test_normalize_matches_torch(x: np.ndarray, p: float, dim: int, zero: bool) -> None:
    x = np.nan_to_num(x, nan=1.0, posinf=3.0, neginf=-3.0)
    if p == 3.0:  # Tensor.norm's gradient for p other than 1, 2, inf is nan at a zero vector (torch's is 0)
        x[x == 0] = 0.5
    elif zero:
        x[...] = 0
    quiet_both(lambda t: F.normalize(t, p, dim), lambda t: TF.normalize(t, p, dim), [x], rtol=1e-9, atol=1e-6)


# ---------------------------------------------------------------- pad
@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64, np.int64]))
def test_constant_pad_matches_torch_incl_negative_crops(data: st.DataObject, dtype: type) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4))
    x = rng.standard_normal(shape).astype(dtype) * 3
    k = data.draw(st.integers(1, len(shape)))
    pad = []
    for i in range(k):
        n = shape[-1 - i]
        lo = data.draw(st.integers(-n, 3))
        pad += [lo, data.draw(st.integers(-(n + min(lo, 0)), 3))]
    value = data.draw(st.sampled_from([0, 1.5, -2]))
    if dtype == np.int64:
        same(F.pad(tg.Tensor(x), pad, value=value), TF.pad(torch.tensor(x), pad, value=value))
    else:
        quiet_both(lambda t: F.pad(t, pad, value=value), lambda t: TF.pad(t, pad, value=value), [x])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), mode=st.sampled_from(["reflect", "replicate", "circular"]))
def test_non_constant_pad_modes_match_torch(data: st.DataObject, mode: str) -> None:
    k = data.draw(st.integers(1, 3))
    shape = data.draw(hnp.array_shapes(min_dims=k + 1, max_dims=k + 2, min_side=1, max_side=4))
    x = rng.standard_normal(shape)
    pad = []
    for i in range(k):
        n = shape[-1 - i]
        most = n - 1 if mode == "reflect" else n if mode == "circular" else 3
        lo, hi = (data.draw(st.integers(-(n // 2) if mode != "reflect" else 0, most)) for _ in range(2))
        if mode == "circular":  # torch fails (overlapping copy) when a wrap is longer than the cropped dim
            assume(max(lo, hi) <= n - max(-lo, 0) - max(-hi, 0))
        pad += [lo, hi]
    if mode != "circular" and all(shape[-1 - i] + pad[2 * i] + pad[2 * i + 1] < 1 for i in range(k)):
        with pytest.raises(RuntimeError, match="too small"):
            TF.pad(torch.tensor(x), pad, mode)
        with pytest.raises(ValueError, match="needs at least 1 in one of them"):
            F.pad(tg.Tensor(x), pad, mode)
        return
    quiet_both(lambda t: F.pad(t, pad, mode), lambda t: TF.pad(t, pad, mode), [x])


def test_pad_errors() -> None:
    x = tg.Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="give an even count"):
        F.pad(x, (1,))
    with pytest.raises(ValueError, match="more than two per dim"):
        F.pad(x, (1, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match="negative size"):
        F.pad(x, (-2, -2))
    with pytest.raises(ValueError, match="too large"):
        F.pad(x, (3, 0), "reflect")
    with pytest.raises(ValueError, match="too large"):
        F.pad(x, (4, 0), "circular")
    with pytest.raises(ValueError, match="value"):
        F.pad(x, (1, 0), "reflect", value=1.0)
    with pytest.raises(NotImplementedError, match="last 1, 2 or 3 dims"):
        F.pad(x, (1, 1, 1, 1), "replicate")
    with pytest.raises(ValueError, match="mode must be one of"):
        F.pad(x, (1, 1), "symmetric")


# ---------------------------------------------------------------- pooling
@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(DTYPES))
def test_avg_pool2d_matches_torch(data: st.DataObject, dtype: type) -> None:
    k = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    s = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    p = (data.draw(st.integers(0, k[0] // 2)), data.draw(st.integers(0, k[1] // 2)))
    h, w = (data.draw(st.integers(max(1, k[i] - 2 * p[i]), 6)) for i in range(2))
    shape = (data.draw(st.integers(0, 2)), data.draw(st.integers(1, 3)), h, w)
    if data.draw(st.booleans()):
        shape = shape[1:]  # (C, H, W), as torch accepts
    x = data.draw(hnp.arrays(dtype, shape, elements=st.floats(-10, 10, width=32) | st.sampled_from([np.nan, np.inf])))
    include, divisor = data.draw(st.booleans()), data.draw(st.sampled_from([None, 1, 5]))
    quiet_both(lambda t: F.avg_pool2d(t, k, s, p, count_include_pad=include, divisor_override=divisor),
               lambda t: TF.avg_pool2d(t, k, s, p, count_include_pad=include, divisor_override=divisor), [x],
               **tol(dtype))


@pytest.mark.parametrize("size", [1, (2, 3), (None, 2), (4, None), 2])
def test_adaptive_avg_pool2d_matches_torch(size: int | tuple[int | None, int | None]) -> None:
    x = rng.standard_normal((2, 3, 4, 6))
    quiet_both(lambda t: F.adaptive_avg_pool2d(t, size), lambda t: TF.adaptive_avg_pool2d(t, size), [x])
    quiet_both(lambda t: F.adaptive_avg_pool2d(t, size), lambda t: TF.adaptive_avg_pool2d(t, size), [x[0]])


def test_pooling_errors() -> None:
    x = tg.Tensor(np.ones((1, 1, 5, 5)))
    with pytest.raises(ValueError, match="at most half"):
        F.avg_pool2d(x, 2, padding=2)
    with pytest.raises(TypeError, match="dtype int32"):  # (int64 is torch's: integer means, rounded toward 0)
        F.avg_pool2d(tg.Tensor(np.ones((1, 1, 4, 4), np.int32)), 2)
    with pytest.raises(ValueError, match="output_size must be a positive int or pair"):
        F.adaptive_avg_pool2d(x, 0)


# ---------------------------------------------------------------- dropout2d, containers
def test_dropout2d_drops_whole_channels() -> None:
    tg.manual_seed(0)
    x = tg.Tensor(np.ones((8, 16, 3, 3), np.float32), requires_grad=True)
    layer = nn.Dropout2d(0.25)
    out = layer(x)
    per_channel = out.numpy().reshape(8, 16, 9)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))  # each channel kept or dropped whole
    assert set(np.unique(per_channel)) <= {0.0, np.float32(1 / 0.75)}
    assert 0 < (per_channel[:, :, 0] == 0).sum() < 8 * 16
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.numpy())
    assert layer.eval()(x) is x
    with pytest.warns(UserWarning, match="a 3-d input is read as"):
        assert F.dropout2d(tg.Tensor(np.ones((2, 3, 4))), 0.5).shape == (2, 3, 4)
    with pytest.warns(UserWarning, match="a 2-d input is deprecated"):  # deprecated in torch, and element-wise there
        assert F.dropout2d(tg.Tensor(np.ones((2, 3))), 0.5).shape == (2, 3)
    assert list(layer.state_dict()) == list(torch.nn.Dropout2d(0.25).state_dict()) == []


def test_parameter_list_and_dict_state_dict_keys_as_torch() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            self.plist = nn.ParameterList([nn.Parameter(np.ones(2)), tg.Tensor(np.zeros(3))])
            self.pdict = nn.ParameterDict({"scale": tg.Tensor(np.ones(1)), "shift": nn.Parameter(np.zeros(1))})

    class TorchNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.plist = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2)), torch.zeros(3)])
            self.pdict = torch.nn.ParameterDict({"scale": torch.ones(1), "shift": torch.nn.Parameter(torch.zeros(1))})

    net = Net()
    assert list(net.state_dict()) == list(TorchNet().state_dict()) == ["plist.0", "plist.1", "pdict.scale",
                                                                       "pdict.shift"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    net.plist.append(tg.Tensor(np.ones(4)))
    net.pdict["extra"] = tg.Tensor(np.ones(5))
    assert [p.shape for p in net.plist] == [(2,), (3,), (4,)] and len(net.plist[1:]) == 2
    assert list(net.pdict) == ["scale", "shift", "extra"] and net.pdict.extra.shape == (5,)
    assert sum(p.size for p in net.parameters()) == 2 + 3 + 4 + 1 + 1 + 5
    net.load_state_dict({k: np.full(v.shape, 7.0) for k, v in net.state_dict().items()})
    assert float(net.pdict["scale"].item()) == 7.0
    with pytest.raises(TypeError, match="not a Parameter"):
        net.plist.append("weights")
    with pytest.raises(TypeError, match="must be a Parameter"):
        net.pdict["bad"] = nn.Linear(2, 2)


# ---------------------------------------------------------------- empty inputs
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_on_empty_tensors(name: str) -> None:
    ours, theirs = ACTIVATIONS[name]
    quiet_both(ours, theirs, [np.zeros((0, 3))])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_on_empty_tensors(reduction: str) -> None:
    e = np.zeros((0, 2))
    for ours, theirs in [(F.smooth_l1_loss, TF.smooth_l1_loss), (F.huber_loss, TF.huber_loss),
                         (F.kl_div, TF.kl_div)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            quiet_both(lambda a, b, f=ours: f(a, b, reduction=reduction),
                       lambda a, b, f=theirs: f(a, b, reduction=reduction), [e, e], (0, 1))
