"""Fixes found by probing the dtype discipline of nn modules and functionals against torch (the module_dtype probe):
mixed input / parameter dtypes, integer inputs into float layers, rms_norm's float16 rounding, LPPool modules' float
norm, mse_loss's bool target, load_state_dict(assign=True) of integers into parameters."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as ours

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
TF = torch.nn.functional

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
FLOATS = ["float16", "float32", "float64"]


def _run(fn: Any) -> tuple[Any, BaseException | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(), None
    except Exception as e:  # the oracle's exception is compared
        return None, e


def _data(shape: tuple[int, ...], seed: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape) * scale


def _norm_call(lib: Any, op: str, x: Any, w: Any, stats: Any) -> Any:
    """One of the four norms of x (N=4, C=3, L=5) with weight = bias = ``w`` (C,) (layer_norm: (L,) slices)."""
    F = lib.nn.functional
    if op == "batch_norm":
        return F.batch_norm(x, stats * 0, stats * 0 + 1, w, w, training=True)
    if op == "batch_norm_eval":
        return F.batch_norm(x, stats * 0, stats * 0 + 1, w, w, training=False)
    if op == "group_norm":
        return F.group_norm(x, 3, w, w)
    if op == "instance_norm":
        return F.instance_norm(x, weight=w, bias=w)
    return F.layer_norm(x, (5,), None if w is None else w.repeat(2)[:5], None if w is None else w.repeat(2)[:5])


@SETTINGS
@given(st.sampled_from(["batch_norm", "batch_norm_eval", "group_norm", "instance_norm", "layer_norm"]),
       st.sampled_from(FLOATS + ["int64", "bool"]), st.sampled_from(FLOATS + [None]), st.sampled_from(FLOATS),
       st.integers(0, 1000), st.sampled_from([1.0, 1e-3, 300.0]))
def test_norm_mixed_dtypes_as_torch(op: str, xdt: str, wdt: str | None, sdt: str, seed: int, scale: float) -> None:
    """torch's CPU norms take parameters (and running statistics) of the input's dtype, or all float32 under a
    float16 input; other mixes raise RuntimeError (ours computed them, in the wider dtype) and integer or bool inputs
    NotImplementedError (ours normalised them)."""
    x = _data((4, 3, 5), seed, scale)
    w = 1 + 0.1 * _data((3,), seed + 1)
    s = 0.1 * _data((3,), seed + 2)
    results = []
    for lib in (torch, ours):
        xt = lib.tensor(x).to(getattr(lib, xdt))
        wt = None if wdt is None else lib.tensor(w).to(getattr(lib, wdt))
        st_ = lib.tensor(s).to(getattr(lib, sdt))
        results.append(_run(lambda lib=lib, xt=xt, wt=wt, st_=st_: _norm_call(lib, op, xt, wt, st_)))
    (t, te), (o, oe) = results
    assert (te is None) == (oe is None), (te, oe)
    if te is not None:
        assert isinstance(oe, RuntimeError), oe
        return
    assert str(o.dtype) == str(t.dtype).replace("torch.", "")
    tol = 4e-3 if xdt == "float16" else 1e-4
    np.testing.assert_allclose(o.numpy().astype(np.float64), t.numpy().astype(np.float64), rtol=tol, atol=tol)


@SETTINGS
@given(st.sampled_from(FLOATS), st.sampled_from(FLOATS + [None]), st.integers(0, 1000),
       st.sampled_from([1.0, 1e-3, 100.0]), st.sampled_from([None, 1e-6]))
def test_rms_norm_weight_before_the_rounding_as_torch(xdt: str, wdt: str | None, seed: int, scale: float,
                                                      eps: float | None) -> None:
    """torch multiplies the normalised float16 input by the weight in float32 and rounds once (ours rounded the
    normalised values to float16 first: a quarter of the outputs an ulp off, the weight gradient 1e-3 off); the
    output has the input's dtype, the weight's gradient the weight's."""
    x, w = _data((6, 16), seed, scale), _data((16,), seed + 1)
    g = _data((6, 16), seed + 2)
    out = []
    for lib in (torch, ours):
        xt = lib.tensor(x).to(getattr(lib, xdt))
        wt = None if wdt is None else lib.tensor(w).to(getattr(lib, wdt)).requires_grad_(True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = lib.nn.functional.rms_norm(xt, (16,), wt, eps)
        if wt is not None:
            (y.float() * lib.tensor(g).float()).sum().backward()
        out.append((y, wt))
    (ty, tw), (oy, ow) = out
    assert str(oy.dtype) == str(ty.dtype).replace("torch.", "")
    if xdt == "float16":  # one rounding of the same float32 numbers: equal (the statistics are float32 sums)
        diff = np.abs(oy.detach().numpy().astype(np.float64) - ty.detach().numpy().astype(np.float64))
        ulp = np.spacing(np.abs(ty.detach().numpy())).astype(np.float64)
        assert (diff <= ulp).all() and (diff > 0).mean() < 0.02, (diff > 0).mean()
    else:
        np.testing.assert_allclose(oy.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    if tw is not None:
        assert str(ow.grad.dtype) == str(tw.grad.dtype).replace("torch.", "")
        tol = 2e-3 if wdt == "float16" else 1e-4
        np.testing.assert_allclose(ow.grad.numpy().astype(np.float64), tw.grad.numpy().astype(np.float64),
                                   rtol=tol, atol=tol * (1 + np.abs(tw.grad.numpy()).max()))


@SETTINGS
@given(st.sampled_from([(1, "LPPool1d", (2, 1, 9)), (2, "LPPool2d", (1, 2, 4, 6)), (3, "LPPool3d", (1, 1, 4, 4, 4))]),
       st.sampled_from([1, 2, 3, 1.5, 2.0]), st.sampled_from(["int64", "float32", "float64"]), st.integers(0, 1000))
def test_lp_pool_modules_pass_a_float_norm_as_torch(spec: tuple[int, str, tuple[int, ...]], p: float, dtype: str,
                                                    seed: int) -> None:
    """torch's LPPool modules call lp_pool with float(norm_type): an int norm on an integer input powers into
    floats (ours kept x ** 2 integer and the average pool truncated it: sqrt(40) for torch's sqrt(42))."""
    _, name, shape = spec
    x = np.random.default_rng(seed).integers(-6, 7, shape)
    if dtype != "int64":
        x = np.abs(x) + 0.5
    (t, te), (o, oe) = [_run(lambda lib=lib: getattr(lib.nn, name)(p, 2)(lib.tensor(x).to(getattr(lib, dtype))))
                        for lib in (torch, ours)]
    assert (te is None) == (oe is None), (te, oe)
    if te is None:
        assert str(o.dtype) == str(t.dtype).replace("torch.", "")
        np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-5, atol=1e-5)


@SETTINGS
@given(st.sampled_from(FLOATS), st.lists(st.booleans(), min_size=0, max_size=6), st.integers(0, 100),
       st.sampled_from(["mean", "sum", "none"]))
def test_mse_loss_bool_target_as_torch(dtype: str, target: list[bool], seed: int, reduction: str) -> None:
    """torch's mse_loss takes a bool target as 0 / 1 (ours raised, refusing the bool subtraction)."""
    x = _data((len(target),), seed, 2.0)
    out = []
    for lib in (torch, ours):
        xt = lib.tensor(x).to(getattr(lib, dtype)).requires_grad_(True)
        y = lib.nn.functional.mse_loss(xt, lib.tensor(np.array(target, dtype=bool)), reduction=reduction)
        y.float().sum().backward()
        out.append((y, xt))
    (ty, tx), (oy, ox) = out
    assert str(oy.dtype) == str(ty.dtype).replace("torch.", "")
    tol = 2e-3 if dtype == "float16" else 1e-6
    np.testing.assert_allclose(oy.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol, equal_nan=True)
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", ["int64", "int32", "float64", "float16"])
@pytest.mark.parametrize("requires_grad", [True, False])
def test_load_state_dict_assign_integer_into_parameter_as_torch(kind: str, requires_grad: bool) -> None:
    """assign=True takes the loaded tensor as the parameter; torch refuses an integer one for a parameter that
    requires grad (RuntimeError) and loads nothing of it (ours made an int64 parameter silently)."""
    results = []
    for lib in (torch, ours):
        m = lib.nn.Linear(3, 2)
        m.weight.requires_grad_(requires_grad)
        sd = {k: v.to(getattr(lib, kind)) for k, v in m.state_dict().items()}
        _, err = _run(lambda m=m, sd=sd: m.load_state_dict(sd, assign=True))
        results.append((err, str(m.weight.dtype).replace("torch.", ""), str(m.bias.dtype).replace("torch.", "")))
    (te, tw, tb), (oe, ow, ob) = results
    assert (te is None) == (oe is None), (te, oe)
    if te is None:
        assert (ow, ob) == (tw, tb)
    else:
        assert isinstance(oe, RuntimeError) and ow == "float32"


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("mdt,xdt", [("float32", "float64"), ("float32", "float16"), ("float64", "float32"),
                                     ("float32", "int64"), ("float16", "float32")])
def test_recurrent_input_of_another_dtype_raises_valueerror_as_torch(mode: str, mdt: str, xdt: str) -> None:
    """torch's RNN / LSTM / GRU raise ValueError for an input of another dtype than their weights (ours raised the
    linear layer's TypeError: a ``except ValueError`` written for torch missed it); still a TypeError."""
    for lib in (torch, ours):
        m = getattr(lib.nn, mode)(2, 3).to(getattr(lib, mdt))
        with pytest.raises(ValueError) as info:
            m(lib.zeros(4, 1, 2).to(getattr(lib, xdt)))
        if lib is ours:
            assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("layer", ["linear", "conv1d", "cell"])
def test_linear_conv_dtype_mismatch_is_a_runtime_error_as_torch(layer: str) -> None:
    """Linear, Conv and the cells under an input of another dtype: torch's RuntimeError (ours a TypeError only)."""
    for lib in (torch, ours):
        m = {"linear": lambda nn=lib.nn: nn.Linear(2, 3), "conv1d": lambda nn=lib.nn: nn.Conv1d(2, 3, 1),
             "cell": lambda nn=lib.nn: nn.GRUCell(2, 3)}[layer]()
        x = lib.zeros(*((1, 2, 4) if layer == "conv1d" else (1, 2))).double()
        with pytest.raises(RuntimeError):
            m(x)


@pytest.mark.parametrize("convert", ["half", "double", "to16", "to64", "float"])
@pytest.mark.parametrize("make", ["BatchNorm1d", "LSTM", "LayerNorm", "Embedding", "MultiheadAttention"])
def test_module_conversion_then_a_training_step_as_torch(convert: str, make: str) -> None:
    """module.half() / double() / to(dtype) / float(): every floating parameter and buffer converts, BatchNorm's
    num_batches_tracked stays int64; the output, the gradients and the running statistics after a step keep it."""
    rng = np.random.default_rng(0)
    spec = {"BatchNorm1d": ((3,), (5, 3)), "LSTM": ((3, 4), (2, 1, 3)), "LayerNorm": ((6,), (2, 6)),
            "Embedding": ((7, 3), None), "MultiheadAttention": ((4, 2), (3, 1, 4))}
    args, shape = spec[make]
    dtypes = []
    for lib in (torch, ours):
        torch.manual_seed(0)
        m = getattr(lib.nn, make)(*args)
        m = {"half": m.half, "double": m.double, "to16": lambda m=m, lib=lib: m.to(lib.float16),
             "to64": lambda m=m, lib=lib: m.to(lib.float64), "float": lambda m=m: m.half().float()}[convert]()
        dt = next(iter(m.parameters())).dtype
        x = lib.tensor(rng.integers(0, 7, (4,))) if shape is None else lib.tensor(np.ones(shape)).to(dt)
        y = m(x, x, x) if make == "MultiheadAttention" else m(x)
        y = y[0] if isinstance(y, tuple) else y
        y.float().sum().backward()
        dtypes.append(({k: str(v.dtype).replace("torch.", "") for k, v in m.state_dict().items()},
                       {k: str(p.grad.dtype).replace("torch.", "") for k, p in m.named_parameters()},
                       str(y.dtype).replace("torch.", "")))
    assert dtypes[0] == dtypes[1]


@pytest.mark.parametrize("op", ["batch_norm", "group_norm", "instance_norm", "layer_norm"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_norm_integer_input_without_parameters_raises_as_torch(op: str, dtype: str) -> None:
    """An integer or bool input into a norm with no affine parameters: torch's kernels raise NotImplementedError
    (a RuntimeError); ours normalised it into float32."""
    x = np.random.default_rng(0).integers(0, 2, (4, 3, 5))
    for lib in (torch, ours):
        xt = lib.tensor(x).to(getattr(lib, dtype))
        F = lib.nn.functional
        call = {"batch_norm": lambda F=F, xt=xt: F.batch_norm(xt, None, None, training=True),
                "group_norm": lambda F=F, xt=xt: F.group_norm(xt, 3),
                "instance_norm": lambda F=F, xt=xt: F.instance_norm(xt),
                "layer_norm": lambda F=F, xt=xt: F.layer_norm(xt, (5,))}[op]
        with pytest.raises(NotImplementedError):
            call()


@pytest.mark.parametrize("name", ["softplus", "glu", "hardtanh", "relu6", "Softplus", "GLU", "Hardtanh", "ReLU6"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool", "float32", "float16"])
def test_activation_integer_and_bool_inputs_as_torch(name: str, dtype: str) -> None:
    """softplus and glu have no integer or bool kernel in torch (NotImplementedError; ours computed in float32),
    hardtanh / relu6 none for bool (RuntimeError; ours clamped every value to True); the others match."""
    x = np.array([[-2, 0, 1, 3], [4, -1, 0, 2]])
    results = []
    for lib in (torch, ours):
        xt = lib.tensor(x if dtype != "bool" else x > 0).to(getattr(lib, dtype))
        fn = getattr(lib.nn, name)() if name[0].isupper() else getattr(lib.nn.functional, name)
        results.append(_run(lambda fn=fn, xt=xt: fn(xt)))
    (t, te), (o, oe) = results
    assert (te is None) == (oe is None), (te, oe)
    if te is not None:
        assert isinstance(oe, (type(te), RuntimeError, ValueError))  # (uint8 under negative limits: ValueError)
    else:
        assert str(o.dtype) == str(t.dtype).replace("torch.", "")
        np.testing.assert_allclose(o.numpy().astype(np.float64), t.numpy().astype(np.float64), rtol=2e-3, atol=2e-3)
