"""torch 2.13's lazy modules against torch: nn.LazyLinear, LazyConv1d/2d/3d, LazyConvTranspose1d/2d,
LazyBatchNorm1d/2d/3d, LazyInstanceNorm1d/2d/3d, and nn.parameter.UninitializedParameter / UninitializedBuffer as
users meet them.

Each lazy layer, built from torch's arguments on hypothesis's inputs (float32 and float64, with NaN, inf, -0, empty
batches), must: look like torch's before the first forward (class name, extra_repr, state_dict keys, uninitialized
parameters that raise when used); after it, be the eager class with torch's inferred size, state_dict keys and shapes;
with the same seed, hold exactly the weights of our eager layer of that size; loaded with torch's weights, give torch's
outputs and gradients; and keep working with an optimizer built before the first forward.
"""

from __future__ import annotations

import copy
import pickle
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import ERRORS, raises

import tinygrad_adam as tg
from tinygrad_adam import nn

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

VALUES = st.floats(-10, 10) | st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf])
# norm layers: no infinities (the eager batch_norm's running mean of a channel holding inf is nan where torch's is
# inf: its corrected two-pass mean adds mean(inf - inf); a defect of the eager layer, reported, not of laziness)
NORM_VALUES = st.floats(-10, 10) | st.sampled_from([0.0, -0.0, np.nan])
DTYPES = st.sampled_from(["float32", "float64"])


def _dtype(lib: Any, name: str) -> Any:
    return getattr(torch, name) if lib is torch else name


def _case(name: str, data: st.DataObject) -> tuple[tuple[Any, ...], dict[str, Any], tuple[int, ...], int]:
    """(lazy args, kwargs, input shape, inferred size) for lazy layer ``name``, drawn by hypothesis."""
    draw = data.draw
    if name == "Linear":
        n = draw(st.integers(1, 4))
        batch = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
        return (draw(st.integers(1, 4)),), {"bias": draw(st.booleans())}, (*batch, n), n
    if name.startswith("Conv"):
        dims, groups = int(name[-2]), draw(st.sampled_from([1, 2]))
        c, k = groups * draw(st.integers(1, 2)), draw(st.integers(1, 3))
        kwargs = {"stride": draw(st.integers(1, 2)), "groups": groups, "bias": draw(st.booleans())}
        if "Transpose" not in name:
            kwargs["padding"] = draw(st.sampled_from([0, 1, "same"])) if kwargs["stride"] == 1 else 0
        spatial = tuple(draw(st.integers(k, k + 2)) for _ in range(dims))
        batch = draw(st.sampled_from([(), (0,), (1,), (2,)]))
        return (groups * draw(st.integers(1, 2)), k), kwargs, (*batch, c, *spatial), c
    c = draw(st.integers(1, 3))
    kwargs = {"affine": draw(st.booleans()), "track_running_stats": draw(st.booleans()),
              "momentum": draw(st.sampled_from([0.1, None]))}
    if name == "BatchNorm1d":
        return (), kwargs, (draw(st.integers(2, 3)), c, *draw(st.sampled_from([(), (2,)]))), c
    if name in ("BatchNorm2d", "BatchNorm3d"):
        return (), kwargs, (2, c, 2, *[draw(st.integers(1, 2))] * (int(name[-2]) - 1)), c
    spatial = (draw(st.integers(2, 3)),) * int(name[-2])
    if draw(st.booleans()):  # unbatched: torch reads num_features at dim 1 even then, so C = the next size here
        return (), kwargs, (spatial[0], *spatial), spatial[0]
    return (), kwargs, (draw(st.integers(1, 2)), c, *spatial), c


NAMES = ["Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d",
         "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]
SIZE = {"Linear": "in_features", "Conv": "in_channels", "Batc": "num_features", "Inst": "num_features"}


def _defaults(name: str) -> dict[str, Any]:
    """torch's LazyInstanceNorm defaults, which differ from InstanceNorm's."""
    return {"affine": True, "track_running_stats": True} if name.startswith("Instance") else {}


def _lazy(lib: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], dtype: str) -> Any:
    return getattr(lib.nn, "Lazy" + name)(*args, **kwargs, dtype=_dtype(lib, dtype))


def _numpy_state(m: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v) for k, v in m.state_dict().items()}


def _close(a: np.ndarray, b: np.ndarray, dtype: str) -> None:
    """Equal to rounding: float32 norms amplify it by up to 1/sqrt(eps) (torch normalises a constant row to
    +-3e-5, the eager layer to exactly 0)."""
    rtol, atol = (1e-10, 1e-10) if dtype == "float64" else (1e-4, 1e-3)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


# ---------------------------------------------------------------- each lazy layer against torch's
@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None)
@given(data=st.data(), dtype=DTYPES)
def test_lazy_layer_matches_torch(name: str, data: st.DataObject, dtype: str) -> None:
    args, kwargs, shape, size = _case(name, data)
    x = data.draw(hnp.arrays(np.dtype(dtype), shape, elements=NORM_VALUES if "Norm" in name else VALUES))
    size_name = SIZE[name[:4] if name != "Linear" else name]
    tm, om = _lazy(torch, name, args, kwargs, dtype), _lazy(tg, name, args, kwargs, dtype)
    # before the first forward: torch's class, settings, state_dict keys, and uninitialized tensors
    assert type(om).__name__ == type(tm).__name__ == "Lazy" + name
    assert om.extra_repr() == tm.extra_repr() and getattr(om, size_name) == 0
    assert list(om.state_dict()) == list(tm.state_dict())
    assert [type(p).__name__ for p in om.parameters()] == [type(p).__name__ for p in tm.parameters()]
    assert isinstance(om, getattr(nn, name)) and om.has_uninitialized_params() == tm.has_uninitialized_params()
    theirs_had_params = tm.has_uninitialized_params()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's InstanceNorm without parameters keeps num_features=0 and warns
        try:
            ty = tm(torch.tensor(x))
        except ERRORS:
            with pytest.raises(ERRORS):
                om(tg.tensor(x))
            return
        # the dry run: the eager class, torch's inferred size, state_dict keys and shapes; output shape and dtype
        oy = om(tg.tensor(x))
    assert type(om) is getattr(nn, name) and type(tm).__name__ == name
    eager = getattr(torch.nn, name)(size, *args, **{**_defaults(name), **kwargs})  # torch's eager layer's repr
    assert getattr(om, size_name) == size and om.extra_repr() == eager.extra_repr()
    assert getattr(tm, size_name) == (size if theirs_had_params else 0)  # (torch keeps 0 with nothing to make)
    ours, theirs = _numpy_state(om), _numpy_state(tm)
    assert {k: (v.shape, v.dtype) for k, v in ours.items()} == {k: (v.shape, v.dtype) for k, v in theirs.items()}
    assert oy.shape == tuple(ty.shape) and oy.numpy().dtype == ty.detach().numpy().dtype
    if name[:4] in ("Batc", "Inst"):  # no random init: the very outputs and running statistics
        _close(oy.numpy(), ty.detach().numpy(), dtype)
        for k in ours:
            _close(ours[k], theirs[k], dtype)
    # torch's weights loaded into a fresh lazy layer of ours: torch's outputs and gradients
    loaded = _lazy(tg, name, args, kwargs, dtype)
    loaded.load_state_dict(theirs)
    assert type(loaded).__name__ == "Lazy" + name and not loaded.has_uninitialized_params()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tx, ox = torch.tensor(x, requires_grad=True), tg.tensor(x, requires_grad=True)
        ty, oy = tm(tx), loaded(ox)
    assert type(loaded) is getattr(nn, name) and getattr(loaded, size_name) == size
    _close(oy.numpy(), ty.detach().numpy(), dtype)
    upstream = np.cos(np.arange(oy.numpy().size)).reshape(oy.shape).astype(dtype)
    (ty * torch.tensor(upstream)).sum().backward()
    (oy * tg.tensor(upstream)).sum().backward()
    _close(ox.grad.numpy(), tx.grad.numpy(), dtype)
    for (_, op), (_, tp) in zip(loaded.named_parameters(), tm.named_parameters()):
        _close(op.grad.numpy(), tp.grad.numpy(), dtype)
    for k, v in _numpy_state(loaded).items():
        _close(v, _numpy_state(tm)[k], dtype)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None)
@given(data=st.data(), dtype=DTYPES, seed=st.integers(0, 2**31 - 1))
def test_same_seed_same_weights_as_the_eager_layer(name: str, data: st.DataObject, dtype: str, seed: int) -> None:
    args, kwargs, shape, size = _case(name, data)
    tg.manual_seed(seed)
    lazy = _lazy(tg, name, args, kwargs, dtype)
    lazy(tg.zeros(shape, dtype=dtype))
    after_lazy = tg.rand(3).numpy()
    tg.manual_seed(seed)
    eager = getattr(nn, name)(size, *args, **{**_defaults(name), **kwargs}, dtype=dtype)
    after_eager = tg.rand(3).numpy()
    eager_state, lazy_state = _numpy_state(eager), _numpy_state(lazy)
    assert list(lazy_state) == list(eager_state) and repr(lazy) == repr(eager)
    for k, v in eager_state.items():
        if k not in ("running_mean", "running_var", "num_batches_tracked"):  # the dry run updated those
            np.testing.assert_array_equal(lazy_state[k], v)
    np.testing.assert_array_equal(after_lazy, after_eager)  # building the lazy layer drew nothing more


def test_building_or_loading_a_lazy_layer_draws_no_random_numbers() -> None:
    tg.manual_seed(3)
    expected = tg.rand(4).numpy()
    tg.manual_seed(3)
    nn.LazyConv2d(4, 3)
    np.testing.assert_array_equal(tg.rand(4).numpy(), expected)
    state = {k: v.clone() for k, v in nn.Conv2d(2, 4, 3).state_dict().items()}
    tg.manual_seed(3)
    m = nn.LazyConv2d(4, 3)
    m.load_state_dict(state)
    m(tg.zeros(1, 2, 5, 5))  # materialized from the loaded shapes: no init draws, as in torch
    np.testing.assert_array_equal(tg.rand(4).numpy(), expected)
    np.testing.assert_array_equal(m.weight.numpy(), state["weight"])


def test_lazy_linear_takes_a_sparse_csr_batch_as_linear_does() -> None:
    from tinygrad_adam.ops.sparse import CSRBatch

    x = CSRBatch(np.array([0, 1, 3]), np.array([2, 0, 4]), np.array([1.0, 2.0, 3.0], np.float32), (2, 5))
    tg.manual_seed(0)
    lazy = nn.LazyLinear(3)
    y = lazy(x)
    tg.manual_seed(0)
    eager = nn.Linear(5, 3)
    assert lazy.in_features == 5
    np.testing.assert_allclose(y.numpy(), eager(tg.tensor(x.toarray())).numpy(), rtol=1e-6)
    with pytest.raises(TypeError, match="infers in_channels from a Tensor"):
        nn.LazyConv1d(3, 2)(x)


def test_instance_norm_infers_the_channels_of_an_unbatched_input() -> None:
    """torch reads num_features at dim 1 even of an unbatched (C, L) input (and then raises for C != L); we read the
    channel dim, as the eager layer uses it."""
    x = tg.randn(3, 5)
    lazy = nn.LazyInstanceNorm1d()
    y = lazy(x)
    assert lazy.num_features == 3 and lazy.weight.shape == (3,) and lazy.running_mean.shape == (3,)
    eager = nn.InstanceNorm1d(3, affine=True, track_running_stats=True)
    np.testing.assert_array_equal(y.numpy(), eager(x).numpy())
    with pytest.raises(ValueError):
        torch.nn.LazyInstanceNorm1d()(torch.randn(3, 5))


# ---------------------------------------------------------------- uninitialized parameters and buffers
def test_uninitialized_tensors_raise_when_used_as_in_torch() -> None:
    for lib in (torch, tg):
        m = lib.nn.LazyLinear(3)
        assert repr(m.weight) == "<UninitializedParameter>" and m.weight.requires_grad
        assert lib.nn.parameter.is_lazy(m.weight) and isinstance(m.weight, lib.nn.Parameter)
        assert str(m.weight.dtype).endswith("float32") and str(m.weight.device).startswith("cpu")
        bn = lib.nn.LazyBatchNorm1d()
        assert type(bn.running_mean).__name__ == "UninitializedBuffer" and not bn.running_mean.requires_grad
        assert bn.num_batches_tracked.item() == 0 and not lib.nn.parameter.is_lazy(bn.num_batches_tracked)
    raises(lambda lib: lib.nn.LazyLinear(3).weight.shape)
    raises(lambda lib: lib.nn.LazyLinear(3).weight.numel())
    raises(lambda lib: lib.nn.LazyLinear(3).weight * 2)
    raises(lambda lib: lib.nn.LazyLinear(3).bias.detach())
    raises(lambda lib: lib.nn.LazyLinear(3).weight.sum())
    raises(lambda lib: lib.nn.LazyBatchNorm1d().running_var + 1)
    raises(lambda lib: lib.nn.functional.linear(lib.ones(2, 3), lib.nn.LazyLinear(3).weight))
    raises(lambda lib: lib.nn.init.xavier_uniform_(lib.nn.LazyLinear(3).weight))
    raises(lambda lib: sum(p.numel() for p in lib.nn.LazyLinear(3).parameters()))
    w = nn.LazyLinear(3).weight
    with pytest.raises(ValueError, match=r"uninitialized parameter.*run a forward pass"):
        w.numpy()
    with pytest.raises(RuntimeError, match="uninitialized \\(lazy\\) parameter or buffer has no shape"):
        _ = w.shape


def test_materialize_in_place() -> None:
    for lib in (torch, tg):
        u = lib.nn.UninitializedParameter(requires_grad=False, dtype=_dtype(lib, "float64"))
        keep = u
        u.materialize((2, 3))
        assert u is keep and type(u) is lib.nn.Parameter and tuple(u.shape) == (2, 3) and not u.requires_grad
        assert str(u.dtype).endswith("float64")
        b = lib.nn.UninitializedBuffer()
        b.materialize((4,), dtype=_dtype(lib, "float64"))
        assert type(b) is lib.Tensor and tuple(b.shape) == (4,) and str(b.dtype).endswith("float64")
    u = nn.UninitializedParameter()
    u.materialize((2,))
    np.testing.assert_array_equal(u.numpy(), np.zeros(2, np.float32))  # zeros, where torch's are uninitialized


def test_copies_and_pickles_stay_uninitialized() -> None:
    m = nn.LazyLinear(3).double()
    for twin in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert type(twin) is nn.LazyLinear and twin.weight is not m.weight and repr(twin.weight) == repr(m.weight)
        assert twin.weight.dtype == np.float64
        twin(tg.ones(2, 4, dtype="float64"))
        assert twin.weight.shape == (3, 4) and type(m) is nn.LazyLinear


# ---------------------------------------------------------------- state_dict and load_state_dict
def test_state_dict_before_and_after_as_torch() -> None:
    for lib in (torch, tg):
        m = lib.nn.Sequential(lib.nn.LazyConv2d(4, 3), lib.nn.LazyBatchNorm2d(), lib.nn.Flatten(),
                              lib.nn.LazyLinear(2))
        sd = m.state_dict()
        assert [type(v).__name__ for v in sd.values()] == ["UninitializedParameter"] * 2 + [
            "UninitializedParameter"] * 2 + ["UninitializedBuffer"] * 2 + [type(sd["1.num_batches_tracked"]).__name__
                                                                           ] + ["UninitializedParameter"] * 2
    tm = torch.nn.Sequential(torch.nn.LazyConv2d(4, 3), torch.nn.LazyBatchNorm2d(), torch.nn.Flatten(),
                             torch.nn.LazyLinear(2)).double()
    om = nn.Sequential(nn.LazyConv2d(4, 3), nn.LazyBatchNorm2d(), nn.Flatten(), nn.LazyLinear(2)).double()
    assert list(om.state_dict()) == list(tm.state_dict())
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 5))
    tm(torch.tensor(x))
    om.load_state_dict(_numpy_state(tm))  # into uninitialized tensors: they take the loaded shapes
    assert [type(m).__name__ for m in om] == ["LazyConv2d", "LazyBatchNorm2d", "Flatten", "LazyLinear"]
    np.testing.assert_allclose(om(tg.tensor(x)).numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    assert [type(m).__name__ for m in om] == [type(m).__name__ for m in tm] == ["Conv2d", "BatchNorm2d", "Flatten",
                                                                             "Linear"]
    assert (om[0].in_channels, om[1].num_features, om[3].in_features) == (3, 4, 36)  # (torch's conv keeps 0)
    for k, v in _numpy_state(om).items():
        np.testing.assert_allclose(v, _numpy_state(tm)[k], rtol=1e-12)


def test_load_state_dict_edge_cases_as_torch() -> None:
    for lib in (torch, tg):  # an uninitialized state loads nothing into an uninitialized module
        m = lib.nn.LazyLinear(3)
        m.load_state_dict(lib.nn.LazyLinear(3).state_dict())
        assert m.has_uninitialized_params()
        keys = m.load_state_dict({"weight": lib.ones(3, 2)}, strict=False)
        assert list(keys.missing_keys) == ["bias"] and type(m.weight).__name__ == "Parameter"
        assert type(m.bias).__name__ == "UninitializedParameter"
    raises(lambda lib: lib.nn.Linear(2, 3).load_state_dict(lib.nn.LazyLinear(3).state_dict()))
    raises(lambda lib: lib.nn.LazyLinear(3).load_state_dict({"weight": lib.ones(3, 2)}))  # strict: bias missing
    m = nn.LazyLinear(3)
    m.load_state_dict({"weight": tg.ones(3, 2)}, strict=False)
    with pytest.raises(ValueError, match="filled \\['weight'\\] but not \\['bias'\\]"):  # torch: AttributeError
        m(tg.ones(1, 2))
    for lib in (torch, tg):  # loaded, then an input of another size
        m = lib.nn.LazyLinear(3)
        m.load_state_dict(lib.nn.Linear(2, 3).state_dict())
        with pytest.raises((*ERRORS, AssertionError)):
            m(lib.ones(1, 4))
    m = nn.LazyConv2d(4, 3)
    m.load_state_dict(nn.Conv2d(2, 4, 3).state_dict())
    with pytest.raises(ValueError, match="cannot take an input of shape"):
        m(tg.ones(1, 5, 4, 4))
    assert type(m) is nn.LazyConv2d and m.in_channels == 0  # still lazy: a fitting input then works
    assert m(tg.ones(1, 2, 4, 4)).shape == (1, 4, 2, 2) and m.in_channels == 2


# ---------------------------------------------------------------- optimizers, modes, devices, dtypes
@pytest.mark.parametrize("make", [lambda lib, p: lib.optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda lib, p: lib.optim.Adam(p, lr=0.05),
                                  lambda lib, p: lib.optim.AdamW(p, lr=0.05, weight_decay=0.1)])
def test_optimizer_built_before_the_dry_run_trains(make: Any) -> None:
    x = np.random.default_rng(1).normal(size=(4, 2, 6))
    runs = []
    for lib in (torch, tg):
        model = lib.nn.Sequential(lib.nn.LazyConv1d(3, 3), lib.nn.Tanh(), lib.nn.Flatten(), lib.nn.LazyLinear(2))
        model = model.double()  # to() before the dry run: the materialized tensors are float64
        opt = make(lib, model.parameters())
        before = list(model.parameters())
        model(lib.tensor(x))
        assert [p is q for p, q in zip(model.parameters(), before)] == [True] * 4
        runs.append((model, opt))
    for (tp, op) in zip(runs[0][0].parameters(), runs[1][0].parameters()):
        op.data[...] = tp.detach().numpy()  # the same start, in place: the optimizer holds these very objects
    for _ in range(3):
        for lib, (model, opt) in zip((torch, tg), runs):
            opt.zero_grad()
            (model(lib.tensor(x)) ** 2).sum().backward()
            opt.step()
    for tp, op in zip(runs[0][0].parameters(), runs[1][0].parameters()):
        assert op.dtype == np.float64
        np.testing.assert_allclose(op.numpy(), tp.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_second_forward_with_another_size_raises_as_in_torch() -> None:
    for make, first, second in [(lambda lib: lib.nn.LazyLinear(3), (2, 4), (2, 5)),
                                (lambda lib: lib.nn.LazyConv1d(3, 2), (1, 2, 5), (1, 3, 5)),
                                (lambda lib: lib.nn.LazyConvTranspose2d(3, 2), (1, 2, 4, 4), (1, 1, 4, 4)),
                                (lambda lib: lib.nn.LazyBatchNorm1d(), (3, 2), (3, 4)),
                                (lambda lib: lib.nn.LazyInstanceNorm2d(), (1, 2, 3, 3), (1, 4, 3, 3))]:
        def twice(lib: Any, make: Any = make, first: Any = first, second: Any = second) -> None:
            m = make(lib)
            m(lib.ones(first))
            m(lib.ones(second))
        raises(twice)


def test_bad_first_inputs_raise_and_leave_the_layer_lazy() -> None:
    cases = [(lambda lib: lib.nn.LazyConv1d(3, 2), (5,)), (lambda lib: lib.nn.LazyConv2d(4, 3, groups=2), (1, 3, 5, 5)),
             (lambda lib: lib.nn.LazyConvTranspose1d(2, 2), (1, 1, 2, 3)), (lambda lib: lib.nn.LazyLinear(2), ()),
             (lambda lib: lib.nn.LazyBatchNorm2d(), (2, 3, 4))]
    for make, shape in cases:
        raises(lambda lib, make=make, shape=shape: make(lib)(lib.ones(shape)))
        m = make(tg)
        with pytest.raises(ValueError):
            m(tg.ones(shape))
        assert m.has_uninitialized_params() and type(m).__name__.startswith("Lazy")
    for m, shape in [(nn.LazyLinear(2), (2, 0)), (nn.LazyConv1d(2, 2), (1, 0, 4))]:
        with pytest.raises(ValueError, match="must be a positive int, got 0"):  # torch: garbage weights
            m(tg.ones(shape))
    with pytest.raises(TypeError, match=r"LazyLinear\(out_features, bias=True, .*'in_features'"):
        nn.LazyLinear(3, in_features=2)
    with pytest.raises(TypeError):
        nn.LazyLinear(3)(np.ones((2, 2)))


def test_modes_flags_and_dtypes_set_before_the_dry_run_are_kept() -> None:
    for lib in (torch, tg):
        m = lib.nn.LazyBatchNorm1d()
        m.eval()
        m.momentum = 0.5
        m(lib.ones(4, 3))
        assert not m.training and m.momentum == 0.5
    m = nn.LazyLinear(3)
    m.requires_grad_(False)  # torch raises here ("uninitialized parameter in requires_grad_"); we keep the flag
    m(tg.ones(2, 4))
    assert not m.weight.requires_grad and not m.bias.requires_grad
    x = np.random.default_rng(2).normal(size=(2, 4))
    for cast in ("half", "double", "float"):
        tg.manual_seed(5)
        lazy = getattr(nn.LazyLinear(3), cast)()
        assert lazy.weight.dtype == {"half": np.float16, "double": np.float64, "float": np.float32}[cast]
        y = lazy(getattr(tg.tensor(x), cast)())
        tg.manual_seed(5)
        eager = getattr(nn.Linear(4, 3), cast)()  # a lazy layer cast before its dry run: the eager one cast after
        np.testing.assert_array_equal(lazy.weight.numpy(), eager.weight.numpy())
        assert y.numpy().dtype == getattr(torch.nn.LazyLinear(3), cast)()(getattr(torch.tensor(x), cast)()).dtype \
            .__str__().replace("torch.", "")
    m = nn.LazyLinear(3).to("cpu").cpu()
    assert m.weight.device == "cpu" and m(tg.ones(1, 2)).shape == (1, 3)


def test_repr_before_and_after() -> None:
    s = nn.Sequential(nn.LazyLinear(4), nn.ReLU())
    assert repr(s).splitlines()[1] == ("  (0): LazyLinear(in_features=0, out_features=4, bias=True)  # weight, bias: "
                                       "uninitialized until the first forward")
    s(tg.ones(1, 2))
    assert repr(s) == repr(nn.Sequential(nn.Linear(2, 4), nn.ReLU()))


@pytest.mark.gpu
def test_cuda_before_the_dry_run() -> None:
    x = np.random.default_rng(3).normal(size=(2, 4)).astype(np.float32)
    tg.manual_seed(7)
    lazy = nn.LazyLinear(3).cuda()
    assert lazy.weight.device == "cuda:0"
    y = lazy(tg.tensor(x, device="cuda"))
    assert lazy.weight.device == y.device == "cuda:0"
    tg.manual_seed(7)
    eager = nn.Linear(4, 3).cuda()
    np.testing.assert_array_equal(lazy.weight.numpy(), eager.weight.numpy())
    tg.manual_seed(8)
    lazy = nn.LazyBatchNorm1d(device="cuda")
    lazy(tg.tensor(x, device="cuda"))
    assert lazy.running_mean.device == lazy.num_batches_tracked.device == "cuda:0"
    tg.manual_seed(8)
    on_gpu = nn.LazyConv1d(2, 2, device="cuda")
    on_gpu(tg.tensor(x[None], device="cuda"))
    tg.manual_seed(8)
    np.testing.assert_array_equal(on_gpu.weight.numpy(), nn.Conv1d(2, 2, 2, device="cuda").weight.numpy())
