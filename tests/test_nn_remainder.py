"""The last torch.nn names against torch 2.13: AdaptiveLogSoftmaxWithLoss (values, gradients of every parameter
after loading torch's state dict, log_prob, predict, errors), Buffer (registration on assignment, persistence,
errors), RNNBase / RNNCellBase (base classes and their constructors), NLLLoss2d and Container (deprecation
warnings), CrossMapLRN2d (torch's legacy window; the exact gradient of it) and SyncBatchNorm in one process.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import FINITE, SPECIAL, raises

import tinygrad_adam as tg
from tinygrad_adam import nn

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _close(ours: Any, theirs: Any, dtype: str, scale: float = 1.0) -> None:
    """Same shape and dtype, values within a few units in the last place (NaN where torch has NaN)."""
    a = ours.numpy() if isinstance(ours, tg.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    tol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, equal_nan=True)


def _plain_repr(module: Any) -> str:
    """Our repr without its parameter-count comments (torch has none)."""
    return re.sub(r"  # [^\n]*", "", repr(module))


# ---------------------------------------------------------------- AdaptiveLogSoftmaxWithLoss
@st.composite
def _asm_setup(draw: Any) -> dict[str, Any]:
    n_classes = draw(st.integers(2, 12))
    cutoffs = sorted(draw(st.sets(st.integers(1, n_classes - 1), min_size=1, max_size=3)))
    return {"in_features": draw(st.integers(1, 8)), "n_classes": n_classes, "cutoffs": cutoffs,
            "div_value": draw(st.sampled_from([1.0, 2.0, 4.0])), "head_bias": draw(st.booleans())}


def _asm_pair(cfg: dict[str, Any], dtype: str) -> tuple[Any, Any]:
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(**cfg, dtype=DTYPES[dtype])
    ours = nn.AdaptiveLogSoftmaxWithLoss(**cfg, dtype=dtype)
    assert ours.load_state_dict(theirs.state_dict()) == ([], [])
    return ours, theirs


@settings(max_examples=60, deadline=None)
@given(cfg=_asm_setup(), data=st.data(), dtype=st.sampled_from(["float32", "float64"]))
def test_adaptive_log_softmax_forward_and_gradients(cfg: dict[str, Any], data: st.DataObject, dtype: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about its zero-element tail weights
        ours, theirs = _asm_pair(cfg, dtype)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    tails = [repr(t) for t in theirs.tail]
    if all(a != b for a, b in zip(tails, tails[1:])):  # torch's ModuleList repr folds equal neighbours; ours not
        assert _plain_repr(ours) == repr(theirs)
    n = data.draw(st.integers(0, 7))
    special = data.draw(st.booleans())
    x = data.draw(hnp.arrays(np.dtype(dtype), (n, cfg["in_features"]),
                             elements=(FINITE | SPECIAL) if special else st.floats(-4, 4, width=32)))
    # every cluster gets a target when the batch is big enough
    bounds = [0, *cfg["cutoffs"], cfg["n_classes"]]
    t = np.array([data.draw(st.integers(bounds[i % (len(bounds) - 1)], bounds[i % (len(bounds) - 1) + 1] - 1))
                  for i in range(n)], dtype=data.draw(st.sampled_from([np.int64, np.int32])))
    xt, xo = torch.tensor(x, requires_grad=True), tg.tensor(x, requires_grad=True)
    a, b = theirs(xt, torch.tensor(t)), ours(xo, tg.tensor(t))
    assert type(b).__name__ == "_ASMoutput" and b._fields == ("output", "loss")
    scale = 1e3 if special else 1.0
    _close(b.output, a.output, dtype, scale)
    _close(b.loss, a.loss, dtype, scale)
    up = np.cos(np.arange(n) + 1.0).astype(dtype)
    (a.loss + (a.output * torch.tensor(up)).sum()).backward()
    (b.loss + (b.output * tg.tensor(up)).sum()).backward()
    _close(xo.grad, xt.grad, dtype, scale)
    for (name, p), (name2, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == name2
        if q.grad is None:  # a tail no target reached: torch never ran it
            assert p.grad is None or not p.grad.numpy().any(), name
        else:
            _close(p.grad, q.grad, dtype, scale)
    # log_prob and predict
    _close(ours.log_prob(tg.tensor(x)), theirs.log_prob(torch.tensor(x)), dtype, scale)
    full = ours.log_prob(tg.tensor(x)).numpy()
    predicted = ours.predict(tg.tensor(x))
    assert predicted.dtype == "int64" and predicted.shape == (n,)
    expected = theirs.predict(torch.tensor(x)).numpy()
    for row in range(n):
        top = np.sort(full[row][~np.isnan(full[row])])[-2:]
        if np.isnan(full[row]).any() or len(top) < 2 or top[1] - top[0] > 1e-4:  # no near tie
            assert predicted.numpy()[row] == expected[row]


@settings(max_examples=30, deadline=None)
@given(cfg=_asm_setup(), data=st.data())
def test_adaptive_log_softmax_unbatched(cfg: dict[str, Any], data: st.DataObject) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = _asm_pair(cfg, "float64")
    x = np.random.default_rng(0).standard_normal(cfg["in_features"])
    target = data.draw(st.integers(0, cfg["n_classes"] - 1))
    a = theirs(torch.tensor(x), torch.tensor(target))
    b = ours(tg.tensor(x), tg.tensor(target))
    _close(b.output, a.output, "float64")
    _close(b.loss, a.loss, "float64")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adaptive_log_softmax_nan_inf(dtype: str) -> None:
    ours, theirs = _asm_pair({"in_features": 3, "n_classes": 9, "cutoffs": [2, 5], "head_bias": True}, dtype)
    x = np.array([[np.nan, 0, 1], [np.inf, 0, 1], [-np.inf, 2, 0], [1e30, -1e30, 0], [-0.0, 0, 0], [1, 2, 3]],
                 dtype=dtype)
    t = np.array([0, 3, 8, 6, 2, 1])
    xt, xo = torch.tensor(x, requires_grad=True), tg.tensor(x, requires_grad=True)
    a, b = theirs(xt, torch.tensor(t)), ours(xo, tg.tensor(t))
    _close(b.output, a.output, dtype)
    _close(b.loss, a.loss, dtype)
    a.output.sum().backward()
    b.output.sum().backward()
    _close(xo.grad, xt.grad, dtype)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        _close(p.grad, q.grad, dtype)
    _close(ours.log_prob(tg.tensor(x)), theirs.log_prob(torch.tensor(x)), dtype)
    assert ours.predict(tg.tensor(x)).tolist() == theirs.predict(torch.tensor(x)).tolist()


def test_adaptive_log_softmax_errors() -> None:
    def build(lib: Any, **kwargs: Any) -> Any:
        return lib.nn.AdaptiveLogSoftmaxWithLoss(**{"in_features": 4, "n_classes": 10, "cutoffs": [2, 5], **kwargs})

    for cutoffs in ([], [5, 2], [0, 5], [2, 10], [2, 2], [2.5, 5]):
        raises(lambda lib, c=cutoffs: build(lib, cutoffs=c))
    x = np.zeros((3, 4))

    def call(x_: np.ndarray, t: Any, dtype: Any = None) -> Any:
        return lambda lib: build(lib)(lib.tensor(x_), lib.tensor(t) if dtype is None else lib.tensor(t, dtype=dtype))
    raises(call(x, [0, 1, 10]))  # a target past n_classes
    raises(call(x, [0, -1, 2]))
    raises(call(x, [0, 1]))  # batch sizes differ
    raises(call(x, [[0, 1, 2]]))  # a 2-d target
    raises(call(x[0], [0, 1, 2, 3]))  # a 1-d target with a 1-d input
    raises(call(x, 1))  # a 0-d target with a 2-d input
    raises(call(x, [0.0, 1.0, 2.0]))  # float targets
    raises(call(x, [0, 1, 2], "uint8"))
    raises(call(np.zeros((3, 5)), [0, 1, 2]))  # in_features differ
    raises(lambda lib: build(lib).log_prob(lib.tensor(x[0])))
    raises(lambda lib: build(lib).predict(lib.tensor(x[0])))


def test_adaptive_log_softmax_empty_batch_and_reset() -> None:
    ours, theirs = _asm_pair({"in_features": 8, "n_classes": 6, "cutoffs": [3]}, "float32")
    a = theirs(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long))
    b = ours(tg.zeros(0, 8), tg.zeros(0, dtype="int64"))
    _close(b.output, a.output, "float32")
    assert np.isnan(b.loss.numpy()) and np.isnan(a.loss.item())
    assert ours.log_prob(tg.zeros(0, 8)).shape == (0, 6) and ours.predict(tg.zeros(0, 8)).shape == (0,)
    before = ours.head.weight.numpy().copy()
    ours.reset_parameters()
    assert not np.array_equal(before, ours.head.weight.numpy())


# ---------------------------------------------------------------- Buffer
class _Holder:
    """A module of each library with a parameter, a child and a plain attribute."""

    @staticmethod
    def make(lib: Any) -> Any:
        m = lib.nn.Module()
        m.w = lib.nn.Parameter(lib.ones(2))
        m.child = lib.nn.Linear(2, 2)
        m.plain = 3
        return m


@pytest.mark.parametrize("persistent", [True, False])
def test_buffer_registers_on_assignment(persistent: bool) -> None:
    for lib in (torch, tg):
        t = lib.arange(3.0)
        b = lib.nn.Buffer(t, persistent=persistent)
        assert isinstance(b, lib.nn.Buffer) and not isinstance(t, lib.nn.Buffer)
        assert type(b) is type(t) and b.persistent is persistent and not b.requires_grad
        m = _Holder.make(lib)
        m.first = b
        m.second = lib.nn.Buffer(lib.zeros(1))
        assert m.first is b and isinstance(m.first, lib.nn.Buffer)
        assert [n for n, _ in m.named_buffers()] == ["first", "second"]
        assert list(m.state_dict()) == ["w", *(["first"] if persistent else []), "second", "child.weight",
                                        "child.bias"]
        assert [n for n, _ in m.named_parameters()] == ["w", "child.weight", "child.bias"]
        m.first = lib.zeros(3)  # a plain tensor on a buffer's name stays a buffer, as persistent as before
        assert ("first" in m.state_dict()) is persistent
        m.first = lib.nn.Buffer(lib.zeros(3), persistent=not persistent)  # a Buffer brings its own flag
        assert ("first" in m.state_dict()) is not persistent
        m.register_buffer("third", lib.nn.Buffer(lib.zeros(2)), persistent=False)  # the argument decides
        assert "third" not in m.state_dict() and "third" in dict(m.named_buffers())
        b.add_(1)  # the Buffer is the data's tensor, detached: same memory
        assert t.tolist() == [1.0, 2.0, 3.0]


def test_buffer_keeps_requires_grad_and_default() -> None:
    for lib in (torch, tg):
        b = lib.nn.Buffer(lib.ones(2, requires_grad=True) * 2)
        assert b.requires_grad and b.is_leaf and b.grad_fn is None
        empty = lib.nn.Buffer()
        assert tuple(empty.shape) == (0,) and str(empty.dtype).endswith("float32") and empty.persistent


def test_buffer_errors() -> None:
    raises(lambda lib: setattr(_Holder.make(lib), "w", lib.nn.Buffer(lib.zeros(2))))  # over a parameter
    raises(lambda lib: setattr(_Holder.make(lib), "child", lib.nn.Buffer(lib.zeros(2))))  # over a module
    for name in ("plain", "forward", "a.b"):  # over an attribute, a method; a dotted name
        for lib in (torch, tg):
            with pytest.raises(KeyError):
                setattr(_Holder.make(lib), name, lib.nn.Buffer(lib.zeros(2)))
    with pytest.raises(TypeError):
        nn.Buffer(np.zeros(2))


# ---------------------------------------------------------------- RNNBase / RNNCellBase
def test_rnn_base_classes() -> None:
    for lib in (torch, tg):
        for layer in (lib.nn.RNN(3, 4), lib.nn.LSTM(3, 4), lib.nn.GRU(3, 4)):
            assert isinstance(layer, lib.nn.RNNBase) and not isinstance(layer, lib.nn.RNNCellBase)
        for cell in (lib.nn.RNNCell(3, 4), lib.nn.LSTMCell(3, 4), lib.nn.GRUCell(3, 4)):
            assert isinstance(cell, lib.nn.RNNCellBase) and not isinstance(cell, lib.nn.RNNBase)


@pytest.mark.parametrize("mode", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
@pytest.mark.parametrize("layers,bidirectional,bias", [(1, False, True), (2, True, False)])
def test_rnn_base_constructor(mode: str, layers: int, bidirectional: bool, bias: bool) -> None:
    theirs = torch.nn.RNNBase(mode, 3, 5, layers, bias, True, 0.0, bidirectional)
    ours = nn.RNNBase(mode, 3, 5, layers, bias, True, 0.0, bidirectional)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.mode == theirs.mode and _plain_repr(ours) == repr(theirs)
    raises(lambda lib: lib.nn.RNNBase(mode, 3, 5)(lib.zeros(2, 1, 3)))  # no forward of its own


def test_rnn_base_errors_and_subclass_signatures() -> None:
    raises(lambda lib: lib.nn.RNNBase("FOO", 3, 4))
    raises(lambda lib: lib.nn.RNNBase("LSTM", 3, 4, proj_size=4))
    lstm = nn.LSTM(3, 4, 2, False, True, 0.0, True, 2)  # positional order unchanged: proj_size after bidirectional
    assert lstm.proj_size == 2 and lstm.bidirectional and lstm.batch_first and not lstm.bias
    ours, theirs = nn.LSTM(3, 4, proj_size=2), torch.nn.LSTM(3, 4, proj_size=2)
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(1).standard_normal((5, 2, 3)).astype(np.float32)
    _close(ours(tg.tensor(x))[0], theirs(torch.tensor(x))[0], "float32")


def test_rnn_cell_base_constructor() -> None:
    for chunks, bias in ((1, True), (4, False), (3, True)):
        theirs = torch.nn.RNNCellBase(3, 5, bias, chunks)
        ours = nn.RNNCellBase(3, 5, bias, chunks)
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
            {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert _plain_repr(ours) == repr(theirs)
        raises(lambda lib, c=chunks: lib.nn.RNNCellBase(3, 5, True, c)(lib.zeros(2, 3)))


# ---------------------------------------------------------------- deprecated names
def test_nll_loss_2d_and_container_warn_as_torch() -> None:
    messages = []
    for lib in (torch, tg):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loss = lib.nn.NLLLoss2d(ignore_index=1)
            container = lib.nn.Container(a=lib.nn.Linear(2, 3), b=lib.nn.ReLU())

            class Sub(lib.nn.Container):  # subclassing warns too
                pass
            Sub()  # a subclass's instance does not
        assert [w.category for w in caught] == [FutureWarning] * 3
        messages.append([str(w.message) for w in caught])
        assert isinstance(loss, lib.nn.NLLLoss) and loss.ignore_index == 1
        assert [n for n, _ in container.named_children()] == ["a", "b"]
    assert messages[0] == messages[1]


@settings(max_examples=30, deadline=None)
@given(x=hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3),
                                          st.integers(1, 3)), elements=FINITE | SPECIAL), data=st.data())
def test_nll_loss_2d_values(x: np.ndarray, data: st.DataObject) -> None:
    n, c, h, w = x.shape
    target = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n * h * w, max_size=n * h * w)))
    target = target.reshape(n, h, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = [lib.nn.NLLLoss2d()(lib.tensor(x, requires_grad=True), lib.tensor(target)) for lib in (torch, tg)]
    _close(results[1], results[0], "float64", 1e300)


# ---------------------------------------------------------------- CrossMapLRN2d
@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]), size=st.integers(1, 7),
       special=st.booleans())
def test_cross_map_lrn2d(data: st.DataObject, dtype: str, size: int, special: bool) -> None:
    shape = data.draw(st.tuples(st.integers(0, 2), st.integers(1, 9), st.integers(1, 3), st.integers(1, 3)))
    x = data.draw(hnp.arrays(np.dtype(dtype), shape, elements=(FINITE | SPECIAL) if special
                             else st.floats(-3, 3, width=32)))
    alpha = data.draw(st.sampled_from([1e-4, 0.5, 2.0]))
    beta = data.draw(st.sampled_from([0.5, 0.75, 1.0, 2.0]))
    k = data.draw(st.sampled_from([1, 2.0, 0.5]))
    g = np.cos(np.arange(x.size)).reshape(shape).astype(dtype)
    xt, xo = torch.tensor(x, requires_grad=True), tg.tensor(x, requires_grad=True)
    a, b = torch.nn.CrossMapLRN2d(size, alpha, beta, k)(xt), nn.CrossMapLRN2d(size, alpha, beta, k)(xo)
    _close(b, a, dtype, 1e3)
    # the gradient: the exact one of torch's forward (torch's hand-written backward is one channel off, and fails
    # for size 1), from torch's autograd through the same running sum written with torch ops
    reference = _cross_map_lrn2d_reference(xt, size, alpha, beta, k)
    _close(reference.detach().numpy(), a, dtype, 1e3)
    reference.backward(torch.tensor(g))
    b.backward(tg.tensor(g))
    _close(xo.grad, xt.grad, dtype, 1e3)


def _cross_map_lrn2d_reference(x: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    """torch's CrossMapLRN2d forward (its running sum over channels) in differentiable torch ops."""
    sq, channels, pre_pad = x * x, x.shape[1], int((size - 1) / 2 + 1)
    sums = [sq[:, :min(pre_pad, channels)].sum(1)]
    for c in range(1, channels):
        s = sums[-1]
        if c < channels - pre_pad + 1:
            s = s + sq[:, c + pre_pad - 1]
        if c > pre_pad:
            s = s - sq[:, c - pre_pad]
        sums.append(s)
    scale = torch.stack(sums, 1) * (alpha / size) + k
    return scale.pow(-beta) * x


def test_cross_map_lrn2d_is_not_local_response_norm_and_errors() -> None:
    # (seeded, and large enough that alpha=1e-4's windows differ visibly: unseeded small values were within
    # allclose's tolerance in some runs)
    x = 10 * torch.randn(1, 6, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(torch.nn.CrossMapLRN2d(3)(x), torch.nn.LocalResponseNorm(3)(x))
    _close(nn.CrossMapLRN2d(3)(tg.tensor(x.numpy())), torch.nn.CrossMapLRN2d(3)(x), "float64")
    assert repr(nn.CrossMapLRN2d(3, 0.5)) == repr(torch.nn.CrossMapLRN2d(3, 0.5))
    raises(lambda lib: lib.nn.CrossMapLRN2d(3)(lib.zeros(2, 3, 4)))
    raises(lambda lib: lib.nn.CrossMapLRN2d(3)(lib.zeros(1, 2, 2, 2, dtype=lib.int64)))
    with pytest.raises(ValueError):
        nn.CrossMapLRN2d(0)  # torch divides by zero at the first forward


# ---------------------------------------------------------------- SyncBatchNorm (one process)
@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]), ndim=st.integers(2, 5),
       momentum=st.sampled_from([0.1, None]), affine=st.booleans(), track=st.booleans())
def test_sync_batch_norm(data: st.DataObject, dtype: str, ndim: int, momentum: float | None, affine: bool,
                         track: bool) -> None:
    shape = (data.draw(st.integers(2, 4)), data.draw(st.integers(1, 3)),
             *data.draw(st.lists(st.integers(1, 3), min_size=ndim - 2, max_size=ndim - 2)))
    x = data.draw(hnp.arrays(np.dtype(dtype), shape, elements=st.floats(-10, 10, width=32)))
    theirs = torch.nn.SyncBatchNorm(shape[1], momentum=momentum, affine=affine, track_running_stats=track,
                                    dtype=DTYPES[dtype])
    ours = nn.SyncBatchNorm(shape[1], momentum=momentum, affine=affine, track_running_stats=track, dtype=dtype)
    assert _plain_repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
    for training in (True, True, False):
        theirs.train(training)
        ours.train(training)
        xt, xo = torch.tensor(x, requires_grad=True), tg.tensor(x, requires_grad=True)
        a, b = theirs(xt), ours(xo)
        _close(b, a, dtype, 10)
        g = np.cos(np.arange(x.size)).reshape(shape).astype(dtype)
        a.backward(torch.tensor(g))
        b.backward(tg.tensor(g))
        _close(xo.grad, xt.grad, dtype, 10)
        for key, value in theirs.state_dict().items():
            _close(ours.state_dict()[key], value, dtype, 10)


def test_sync_batch_norm_errors_and_convert() -> None:
    raises(lambda lib: lib.nn.SyncBatchNorm(3)(lib.zeros(3)))
    raises(lambda lib: lib.nn.SyncBatchNorm(3)(lib.zeros(4, 0)))
    raises(lambda lib: lib.nn.SyncBatchNorm(3)(lib.zeros(1, 3)))  # one value per channel while training
    models = {}
    for lib in (torch, tg):
        model = lib.nn.Sequential(lib.nn.Conv2d(2, 3, 1), lib.nn.BatchNorm2d(3, momentum=0.3),
                                  lib.nn.Sequential(lib.nn.InstanceNorm2d(3), lib.nn.BatchNorm1d(3, affine=False)))
        model[1].eval()
        bn = model[1]
        converted = lib.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        assert converted is model and type(model[1]) is lib.nn.SyncBatchNorm and not model[1].training
        assert model[1].weight is bn.weight and model[1].running_mean is bn.running_mean
        assert type(model[2][0]) is lib.nn.InstanceNorm2d and type(model[2][1]) is lib.nn.SyncBatchNorm
        single = lib.nn.SyncBatchNorm.convert_sync_batchnorm(lib.nn.BatchNorm1d(4))
        assert type(single) is lib.nn.SyncBatchNorm
        models[lib] = model
    assert list(models[tg].state_dict()) == list(models[torch].state_dict())
    assert _plain_repr(models[tg]) == repr(models[torch])


# ---------------------------------------------------------------- linear_cross_entropy (torch's reference path)
@settings(max_examples=80, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(["float32", "float64"]), special=st.booleans())
def test_linear_cross_entropy(data: st.DataObject, dtype: str, special: bool) -> None:
    n = data.draw(st.none() | st.integers(0, 4))
    in_features, classes = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5))
    out = () if n is None else data.draw(st.sampled_from([(), (2,), (2, 3)]))
    # (no 1e300: the weight's gradient is x times the logits' gradient, where torch's rounding noise of 1e-18 at
    # zero class weights, exact zeros here, would become 1e282)
    special_values = st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan])
    elements = (FINITE | special_values) if special else st.floats(-3, 3, width=32)
    x = data.draw(hnp.arrays(np.dtype(dtype), (in_features,) if n is None else (n, in_features), elements=elements))
    w = data.draw(hnp.arrays(np.dtype(dtype), (classes, *out, in_features), elements=st.floats(-2, 2, width=32)))
    b = data.draw(st.none() | hnp.arrays(np.dtype(dtype), (classes, *out), elements=st.floats(-2, 2, width=32)))
    batch = () if n is None else (n,)
    if data.draw(st.booleans()):  # class probabilities
        target = data.draw(hnp.arrays(np.dtype(dtype), (*batch, classes, *out), elements=st.floats(0, 1, width=32)))
        ignore_index = None
    else:
        target = data.draw(hnp.arrays(np.int64, (*batch, *out), elements=st.integers(0, classes - 1)))
        ignore_index = data.draw(st.none() | st.integers(0, classes - 1))
    class_weight = data.draw(st.none() | hnp.arrays(np.dtype(dtype), (classes,), elements=st.floats(0.5, 2)))
    options = {"reduction": data.draw(st.sampled_from(["mean", "sum", "none"])), "ignore_index": ignore_index,
               "label_smoothing": data.draw(st.sampled_from([0.0, 0.25]))}
    results = []
    for lib in (torch, tg):
        leaves = [lib.tensor(a, requires_grad=True) for a in (x, w) + (() if b is None else (b,))]
        loss = lib.nn.functional.linear_cross_entropy(
            leaves[0], leaves[1], lib.tensor(target), linear_bias=leaves[2] if b is not None else None,
            weight=None if class_weight is None else lib.tensor(class_weight), **options)
        (loss * lib.tensor(np.cos(np.arange(loss.numel()) + 1.0).reshape(tuple(loss.shape)).astype(dtype))).sum() \
            .backward()
        results.append((loss, [leaf.grad for leaf in leaves]))
    (theirs, their_grads), (ours, our_grads) = results
    _close(ours, theirs, dtype, 1e3)
    for a, b_ in zip(our_grads, their_grads):
        _close(a, b_, dtype, 1e3)


def test_linear_cross_entropy_errors_and_module() -> None:
    def call(x: tuple[int, ...], w: tuple[int, ...], t: Any, **kwargs: Any) -> Any:
        return lambda lib: lib.nn.functional.linear_cross_entropy(lib.zeros(*x), lib.zeros(*w), lib.tensor(t),
                                                                  **kwargs)
    raises(call((2, 3, 4), (5, 4), [0, 1]))  # 3-d input
    raises(call((2, 4), (4,), [0, 1]))  # 1-d weight
    raises(call((2, 4), (5, 3), [0, 1]))  # in_features differ
    raises(lambda lib: lib.nn.functional.linear_cross_entropy(lib.zeros(2, 4), lib.zeros(5, 4), lib.tensor([0, 1]),
                                                              linear_bias=lib.zeros(4)))
    raises(call((4,), (5, 2, 4), [0, 1]))  # a K-dim loss of an unbatched input
    raises(call((2, 4), (3, 4), np.ones((2, 3)) / 3, ignore_index=1))  # ignore_index with probabilities
    raises(lambda lib: lib.nn.LinearCrossEntropyLoss(4, 3, weight=lib.ones(4)))
    raises(lambda lib: lib.nn.LinearCrossEntropyLoss(4, 3, label_smoothing=1.5))
    with pytest.raises(TypeError, match="LinearCrossEntropyOptions"):  # the chunked path: test_nn_extras_sixteenth
        nn.LinearCrossEntropyLoss(4, 3, options=torch.nn.LinearCrossEntropyOptions())(tg.zeros(2, 4), tg.tensor([0, 1]))
    for kwargs in ({}, {"out_features": (2, 3), "bias": True, "weight": [1.0, 2.0, 3.0], "ignore_index": 1}):
        made = [lib.nn.LinearCrossEntropyLoss(4, 3, **{**kwargs, **({"weight": lib.tensor(kwargs["weight"])}
                                                                   if "weight" in kwargs else {})})
                for lib in (torch, tg)]
        theirs, ours = made
        assert list(ours.state_dict()) == list(theirs.state_dict()) and ours.extra_repr() == theirs.extra_repr()
        ours.load_state_dict(theirs.state_dict())
        x = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
        t = np.random.default_rng(3).integers(0, 3, (5, *kwargs.get("out_features", ())))
        _close(ours(tg.tensor(x), tg.tensor(t)), theirs(torch.tensor(x), torch.tensor(t)), "float32")
