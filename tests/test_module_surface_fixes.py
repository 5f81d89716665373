"""A systematic probe of the nn.Module surface against torch 2.13 (every module class in both, several argument sets:
state_dict keys / shapes / dtypes, named_* order, init statistics, load_state_dict + forward, casting, copies) found
these silent differences:

* ``ParameterDict({...})`` / ``.update(dict)``: torch puts a plain dict's items in sorted by key (an OrderedDict or
  another ParameterDict keeps its order); ours kept insertion order, so ``state_dict`` / ``parameters()`` order (and an
  optimizer's state indices) differed. ``ModuleDict.update(another ModuleDict)`` raised.
* class hierarchy: Dropout1d/2d/3d, AlphaDropout and FeatureAlphaDropout were ``nn.Dropout`` subclasses (torch: only
  ``_DropoutNd``), so ``isinstance(m, nn.Dropout)`` loops (MC dropout, ``m.p = 0``) also hit them; ConvTranspose1d/3d
  were ConvTranspose2d subclasses and no transposed conv was a ``_ConvNd`` (init loops over
  ``(nn.Conv2d, nn.ConvTranspose2d)`` or ``_ConvNd`` initialised other layers than torch); LogSoftmax and Softmin were
  ``nn.Softmax`` subclasses; the 1d / 3d pools, unpools, LP pools and pads were subclasses of their 2d (or 1d)
  sibling, CELU an ELU, Hardshrink a Softshrink, Fold an Unfold, CosineEmbeddingLoss a MarginRankingLoss,
  MultiLabelMarginLoss a SoftMarginLoss; ZeroPad2d/3d were not ConstantPad2d/3d and ReLU6 not a Hardtanh.
* attributes: AvgPool1d kept ``kernel_size`` / ``stride`` / ``padding`` as ints (torch: 1-tuples), Upsample kept an
  int ``scale_factor`` (torch: float); missing ones (loud): ``_ConvNd.transposed`` / ``output_padding``,
  ConvTranspose ``padding_mode``, ``RNN.nonlinearity``, ``ReLU6.min_val`` / ``max_val``, ``Upsample.name``,
  ``TransformerEncoderLayer.activation_relu_or_gelu``, ``RNNBase.all_weights`` / ``_all_weights``; LSTM's repr put
  ``proj_size`` last (torch: first).
* ``get_extra_state`` / ``set_extra_state`` were not heard: ``state_dict`` had no ``_extra_state`` entry and
  ``load_state_dict`` did not hand it back (a torch checkpoint with one failed as an unexpected key).
* ``named_buffers`` / ``buffers`` took no ``recurse`` / ``remove_duplicate`` and listed a buffer registered in two
  modules twice (torch: once).
* MultiheadAttention's ``out_proj`` was a plain Linear (torch: NonDynamicallyQuantizableLinear, a Linear subclass),
  so ``type(m) is nn.Linear`` init loops re-initialised it where torch's leave it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
import tinygrad_adam.nn as tnn

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

KEY = st.text("abcdefghXYZ_", min_size=1, max_size=4)


def _params(lib, n):
    return [lib.nn.Parameter(lib.ones(i + 1)) for i in range(n)]


@settings(deadline=None, max_examples=40)
@given(st.lists(KEY, min_size=1, max_size=6, unique=True), st.booleans())
def test_parameter_dict_from_plain_dict_is_sorted_as_torch(keys: list[str], via_update: bool) -> None:
    out = []
    for lib in (torch, tg):
        values = dict(zip(keys, _params(lib, len(keys))))
        if via_update:
            d = lib.nn.ParameterDict({"zz": lib.nn.Parameter(lib.ones(1))})
            d.update(values)
        else:
            d = lib.nn.ParameterDict(values)
        out.append((list(d.keys()), list(d.state_dict()), [tuple(p.shape) for p in d.parameters()]))
    assert out[0] == out[1]


@settings(deadline=None, max_examples=30)
@given(st.lists(KEY, min_size=1, max_size=6, unique=True))
def test_ordered_sources_keep_their_order(keys: list[str]) -> None:
    from collections import OrderedDict
    out = []
    for lib in (torch, tg):
        od = OrderedDict(zip(keys, _params(lib, len(keys))))
        p1 = lib.nn.ParameterDict(od)
        p2 = lib.nn.ParameterDict()
        p2.update(p1)
        p3 = lib.nn.ParameterDict(list(od.items()))
        mods = {k: lib.nn.Linear(1, i + 1) for i, k in enumerate(keys)}
        m1 = lib.nn.ModuleDict(mods)
        m2 = lib.nn.ModuleDict()
        m2.update(m1)
        out.append([list(d.keys()) for d in (p1, p2, p3, m1, m2)] + [list(m2.state_dict())])
    assert out[0] == out[1]


DROPOUTS = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]
FAMILIES = DROPOUTS + [
    "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Conv1d", "Conv2d", "Conv3d", "LazyConvTranspose1d",
    "LazyConvTranspose3d", "Softmax", "Softmin", "LogSoftmax", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d",
    "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "LPPool1d", "LPPool2d",
    "LPPool3d", "FractionalMaxPool2d", "FractionalMaxPool3d", "ELU", "CELU", "Softshrink", "Hardshrink", "Hardtanh",
    "ReLU6", "Fold", "Unfold", "MarginRankingLoss", "CosineEmbeddingLoss", "SoftMarginLoss", "MultiLabelMarginLoss",
    *(f"{kind}Pad{d}d" for kind in ("Constant", "Zero", "Reflection", "Replication", "Circular") for d in (1, 2, 3))]


@pytest.mark.parametrize("a", FAMILIES)
def test_isinstance_relations_as_torch(a: str) -> None:
    wrong = [b for b in FAMILIES if issubclass(getattr(tnn, a), getattr(tnn, b))
             != issubclass(getattr(torch.nn, a), getattr(torch.nn, b))]
    assert not wrong, f"issubclass({a}, X) differs from torch for X in {wrong}"


@pytest.mark.parametrize("name", ["ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Conv2d"])
def test_conv_bases_as_torch(name: str) -> None:
    for base in ("_ConvNd", "_ConvTransposeNd"):
        assert issubclass(getattr(tnn, name), getattr(tnn.modules.conv, base)) == \
            issubclass(getattr(torch.nn, name), getattr(torch.nn.modules.conv, base))


def test_isinstance_dropout_loop_touches_what_torch_touches() -> None:
    """MC-dropout style: set p of every nn.Dropout; torch leaves Dropout2d / AlphaDropout alone."""
    ps = []
    for lib in (torch, tg):
        m = lib.nn.Sequential(lib.nn.Dropout(0.5), lib.nn.Dropout2d(0.5), lib.nn.AlphaDropout(0.5))
        for sub in m.modules():
            if isinstance(sub, lib.nn.Dropout):
                sub.p = 0.0
        ps.append([sub.p for sub in m])
    assert ps[0] == ps[1] == [0.0, 0.5, 0.5]


def test_init_loop_over_convtranspose2d_gives_torch_numbers() -> None:
    """``if isinstance(m, nn.ConvTranspose2d): constant_(m.weight, 1)`` must leave a ConvTranspose1d/3d alone."""
    sums = []
    for lib in (torch, tg):
        lib.manual_seed(0)
        m = lib.nn.Sequential(lib.nn.ConvTranspose1d(2, 2, 3), lib.nn.ConvTranspose2d(2, 2, 3),
                              lib.nn.ConvTranspose3d(2, 2, 3))
        for sub in m.modules():
            if isinstance(sub, lib.nn.ConvTranspose2d):
                lib.nn.init.constant_(sub.weight, 1.0)
        sums.append([float(sub.weight.detach().sum()) == sub.weight.numel() for sub in m])
    assert sums[0] == sums[1] == [False, True, False]


@pytest.mark.parametrize("name", ["Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
                                  "Dropout"])
def test_dropout_modules_still_work(name: str) -> None:
    m = getattr(tnn, name)(0.3, inplace=False)
    assert repr(m) == repr(getattr(torch.nn, name)(0.3, inplace=False))
    shape = {"Dropout3d": (2, 3, 4, 4, 4), "Dropout2d": (2, 3, 4, 4)}.get(name, (2, 3, 4))
    x = tg.tensor(np.ones(shape, np.float32))
    assert np.array_equal(m.eval()(x).numpy(), x.numpy())


@pytest.mark.parametrize("name", ["Softmin", "LogSoftmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmin_logsoftmax_still_match(name: str, dim: int) -> None:
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    a = getattr(torch.nn, name)(dim=dim)
    b = getattr(tnn, name)(dim=dim)
    assert repr(a) == repr(b) and b.dim == dim
    np.testing.assert_allclose(b(tg.tensor(x)).numpy(), a(torch.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)


@settings(deadline=None, max_examples=30)
@given(st.integers(1, 4), st.none() | st.integers(1, 3), st.integers(0, 1), st.booleans())
def test_avg_pool1d_attributes_and_output(k: int, s: int | None, p: int, ceil: bool) -> None:
    p = min(p, k // 2)
    a, b = torch.nn.AvgPool1d(k, s, p, ceil), tnn.AvgPool1d(k, s, p, ceil)
    assert (b.kernel_size, b.stride, b.padding) == (a.kernel_size, a.stride, a.padding)
    assert b.extra_repr() == a.extra_repr()
    x = np.random.default_rng(k).standard_normal((2, 3, 9)).astype(np.float32)
    np.testing.assert_allclose(b(tg.tensor(x)).numpy(), a(torch.tensor(x)).numpy(), rtol=1e-5, atol=1e-6)


@settings(deadline=None, max_examples=30)
@given(st.sampled_from([2, 3, 1.5, (2, 3), (2, 1.5)]), st.sampled_from(["nearest", "bilinear", "bicubic"]))
def test_upsample_scale_factor_is_float_as_torch(scale, mode: str) -> None:
    a, b = torch.nn.Upsample(scale_factor=scale, mode=mode), tnn.Upsample(scale_factor=scale, mode=mode)
    assert b.scale_factor == a.scale_factor and type(b.scale_factor) is type(a.scale_factor)
    assert b.name == a.name and repr(b) == repr(a)
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(b(tg.tensor(x)).numpy(), a(torch.tensor(x)).numpy(), rtol=1e-4, atol=1e-5)
    for cls in ("UpsamplingNearest2d", "UpsamplingBilinear2d"):
        assert getattr(tnn, cls)(scale_factor=2).scale_factor == getattr(torch.nn, cls)(scale_factor=2).scale_factor


CASES = [("Conv2d", (2, 3, 3), {}), ("Conv1d", (2, 3, 3), {"padding_mode": "reflect", "padding": 1}),
         ("ConvTranspose2d", (2, 3, 3), {"output_padding": 1, "stride": 2}), ("ConvTranspose3d", (2, 3, 3), {}),
         ("RNN", (3, 4), {"nonlinearity": "relu"}), ("RNN", (3, 4), {}), ("ReLU6", (), {}), ("ReLU6", (True,), {}),
         ("TransformerEncoderLayer", (8, 2, 16), {"activation": "gelu"}),
         ("TransformerEncoderLayer", (8, 2, 16), {}), ("Upsample", (), {"size": 3})]
ATTRS = ["transposed", "output_padding", "padding_mode", "nonlinearity", "min_val", "max_val", "name",
         "activation_relu_or_gelu"]


@pytest.mark.parametrize(("name", "args", "kw"), CASES)
def test_torch_attributes_present(name: str, args: tuple, kw: dict) -> None:
    a, b = getattr(torch.nn, name)(*args, **kw), getattr(tnn, name)(*args, **kw)
    for attr in ATTRS:
        if attr in vars(a):
            assert getattr(b, attr) == getattr(a, attr), attr


@pytest.mark.parametrize("act", ["relu", "gelu", "gelu_module", "other"])
def test_activation_relu_or_gelu_for_callables(act: str) -> None:
    vals = []
    for lib in (torch, tg):
        f = {"relu": lib.nn.ReLU(), "gelu": lib.nn.functional.gelu, "gelu_module": lib.nn.GELU(),
             "other": lib.tanh}[act]
        vals.append(lib.nn.TransformerEncoderLayer(8, 2, 16, activation=f).activation_relu_or_gelu)
    assert vals[0] == vals[1]


@pytest.mark.parametrize("kw", [{}, {"num_layers": 2}, {"num_layers": 2, "bidirectional": True, "proj_size": 2},
                                {"bias": False, "bidirectional": True}])
@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_rnn_all_weights(cls: str, kw: dict) -> None:
    if "proj_size" in kw and cls != "LSTM":
        return
    a, b = getattr(torch.nn, cls)(3, 4, **kw), getattr(tnn, cls)(3, 4, **kw)
    assert b._all_weights == a._all_weights
    assert b.extra_repr() == a.extra_repr()  # proj_size printed first, as torch
    assert [[tuple(p.shape) for p in g] for g in b.all_weights] == [[tuple(p.shape) for p in g] for g in a.all_weights]
    assert all(p is getattr(b, n) for g, ns in zip(b.all_weights, b._all_weights) for p, n in zip(g, ns))


def test_spectral_norm_dim_for_every_transposed_conv() -> None:
    from tinygrad_adam.nn.parametrizations import default_dim
    for d in (1, 2, 3):
        assert default_dim(getattr(tnn, f"ConvTranspose{d}d")(2, 3, 3)) == 1
        assert default_dim(getattr(tnn, f"Conv{d}d")(2, 3, 3)) == 0


PADS = [("ConstantPad", (1.5,)), ("ZeroPad", ()), ("ReflectionPad", ()), ("ReplicationPad", ()), ("CircularPad", ())]


@settings(deadline=None, max_examples=40)
@given(st.sampled_from(PADS), st.sampled_from([1, 2, 3]), st.data())
def test_pads_and_moved_classes_still_match(kind, dims: int, data) -> None:
    name, extra = kind
    pad = data.draw(st.one_of(st.integers(0, 2), st.tuples(*[st.integers(0, 2)] * (2 * dims))))
    a, b = getattr(torch.nn, f"{name}{dims}d")(pad, *extra), getattr(tnn, f"{name}{dims}d")(pad, *extra)
    assert repr(a) == repr(b) and b.padding == a.padding
    x = np.random.default_rng(dims).standard_normal((2, 3, 4, 5, 6)[-(dims + 2):]).astype(np.float32)
    np.testing.assert_allclose(b(tg.tensor(x)).numpy(), a(torch.tensor(x)).numpy())


@pytest.mark.parametrize("inplace", [False, True])
def test_relu6_is_a_hardtanh(inplace: bool) -> None:
    a, b = torch.nn.ReLU6(inplace), tnn.ReLU6(inplace)
    assert repr(a) == repr(b) and (b.min_val, b.max_val, b.inplace) == (a.min_val, a.max_val, a.inplace)
    x = np.array([-1.0, 0.0, 3.0, 6.0, 7.0], np.float32)
    xa, xb = torch.tensor(x, requires_grad=True), tg.tensor(x, requires_grad=True)
    (a(xa * 1) * 1).sum().backward()
    (b(xb * 1) * 1).sum().backward()
    np.testing.assert_array_equal(xb.grad.numpy(), xa.grad.numpy())


@pytest.mark.parametrize(("name", "args"), [("CosineEmbeddingLoss", (0.3,)), ("CosineEmbeddingLoss", ()),
                                            ("MultiLabelMarginLoss", ())])
def test_moved_losses_keep_their_options(name: str, args: tuple) -> None:
    for kw in ({}, {"reduction": "sum"}, {"reduction": "none"}):
        a, b = getattr(torch.nn, name)(*args, **kw), getattr(tnn, name)(*args, **kw)
        assert repr(a) == repr(b) and a.reduction == b.reduction
        assert getattr(a, "margin", None) == getattr(b, "margin", None)


def _with_extra_state(lib):
    class M(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = lib.nn.Linear(1, 1)
            self.counter = 3

        def get_extra_state(self):
            return {"counter": self.counter}

        def set_extra_state(self, state) -> None:
            self.counter = state["counter"]

    return M


@pytest.mark.parametrize("nested", [False, True])
def test_extra_state_saved_and_loaded_as_torch(nested: bool) -> None:
    """``get_extra_state`` / ``set_extra_state``: torch saves the value under ``_extra_state`` and hands it back on
    load; ours left it out, so a checkpoint silently lost it (and torch's checkpoint had an unexpected key)."""
    out = []
    for lib in (torch, tg):
        cls = _with_extra_state(lib)
        make = (lambda c=cls, lib=lib: lib.nn.Sequential(lib.nn.ReLU(), c())) if nested else cls
        src = make()
        (src[1] if nested else src).counter = 7
        sd = src.state_dict()
        dst = make()
        dst.load_state_dict(sd)
        missing = make().load_state_dict({k: v for k, v in sd.items() if not k.endswith("_extra_state")},
                                         strict=False)
        out.append((list(sd), (dst[1] if nested else dst).counter, list(missing.missing_keys)))
    assert out[0] == out[1]
    with pytest.raises(RuntimeError):
        _with_extra_state(tg)().load_state_dict({"lin.weight": tg.ones(1, 1), "lin.bias": tg.ones(1)})


def test_no_extra_state_key_without_override() -> None:
    m = tnn.Linear(2, 2)
    assert list(m.state_dict()) == ["weight", "bias"]
    with pytest.raises(RuntimeError):
        m.load_state_dict({"weight": tg.ones(2, 2), "bias": tg.ones(2), "_extra_state": 1})


def _shared_buffers(lib):
    class M(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bn = lib.nn.BatchNorm1d(2)
            self.register_buffer("shared", self.bn.running_mean)
            self.bn2 = self.bn

    return M()


@pytest.mark.parametrize("kw", [{}, {"recurse": False}, {"remove_duplicate": False},
                                {"recurse": False, "remove_duplicate": False}, {"prefix": "p"}])
def test_named_buffers_options_as_torch(kw: dict) -> None:
    a, b = _shared_buffers(torch), _shared_buffers(tg)
    assert [k for k, _ in b.named_buffers(**kw)] == [k for k, _ in a.named_buffers(**kw)]
    if "prefix" not in kw and "remove_duplicate" not in kw:
        assert len(list(b.buffers(**kw))) == len(list(a.buffers(**kw)))


def test_mha_out_proj_class_as_torch() -> None:
    """torch's out_proj is a NonDynamicallyQuantizableLinear: an ``nn.Linear`` by isinstance, not by type, so a
    ``type(m) is nn.Linear`` init loop leaves it alone; ours was a plain Linear and got re-initialised."""
    seen = []
    for lib in (torch, tg):
        lib.manual_seed(0)
        m = lib.nn.TransformerEncoderLayer(8, 2, 16)
        hit = [name for name, sub in m.named_modules() if type(sub) is lib.nn.Linear]
        inst = [name for name, sub in m.named_modules() if isinstance(sub, lib.nn.Linear)]
        seen.append((hit, inst, type(m.self_attn.out_proj).__name__, repr(m.self_attn.out_proj).split("  #")[0]))
    assert seen[0] == seen[1]
