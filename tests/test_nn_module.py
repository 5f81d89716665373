"""nn.Module, Parameter, Sequential, the layers and nn.init: the tree, modes, devices, checkpoints, printing."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import nn
from tinygrad_adam.ops import conv as conv_op

rng = np.random.default_rng(3)


class Block(nn.Module):
    """A custom module: a parameter of its own, a submodule, and a list of submodules."""

    def __init__(self) -> None:
        self.scale = nn.Parameter(tg.ones(3))
        self.body = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
        self.heads = [nn.Linear(3, 2), nn.Linear(3, 1, bias=False)]
        self.not_a_parameter = tg.zeros(5)

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        h = self.body(x) * self.scale
        return tg.concatenate([head(h) for head in self.heads], axis=1)


def test_named_parameters_follow_attribute_order_with_torch_style_names() -> None:
    names = [n for n, _ in Block().named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "heads.0.weight", "heads.0.bias", "heads.1.weight"]
    assert Block().num_parameters() == 3 + 15 + 8 + 3
    assert [type(m).__name__ for m in Block().modules()] == ["Block", "Sequential", "Linear", "ReLU", "Linear",
                                                            "Linear"]
    assert [n for n, _ in Block().named_modules()] == ["", "body", "body.0", "body.1", "heads.0", "heads.1"]


def test_a_shared_parameter_is_listed_once() -> None:
    a = nn.Linear(3, 3)
    model = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(model.parameters())) == 2
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert len(model) == 3  # but the layer runs twice


def test_parameter_requires_grad_and_is_a_tensor() -> None:
    p = nn.Parameter(np.ones((2, 2), np.float32))
    assert isinstance(p, tg.Tensor) and p.requires_grad and p.dtype == np.float32
    assert "Parameter containing" in repr(p)
    assert not nn.Parameter(tg.ones(2), requires_grad=False).requires_grad


def test_train_eval_propagate_and_zero_grad() -> None:
    model = Block()
    assert model.training and all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model(tg.randn(2, 4)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_forward_must_be_defined() -> None:
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        nn.Module()(tg.ones(1))


def test_sequential_indexing_iteration_and_errors() -> None:
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == layers[1:]
    x = tg.randn(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())
    with pytest.raises(IndexError, match="Sequential index 3 is out of range for 3 modules"):
        seq[3]
    with pytest.raises(TypeError, match="Sequential: argument 1 is a function, not a Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_sequential_forward_walks_a_stored_list(monkeypatch: pytest.MonkeyPatch) -> None:
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    x = tg.randn(4, 2)
    expected = seq(x).numpy()
    monkeypatch.setattr(nn.Module, "_members", lambda self: pytest.fail("the attributes were scanned again"))
    np.testing.assert_array_equal(seq(x).numpy(), expected)
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and len(list(seq)) == 3


def test_sequential_attribute_assignment_replaces_or_appends_a_layer() -> None:
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    text = repr(seq)
    x = tg.randn(4, 2)
    seq(x)  # the layer list exists now: assignments below must refresh it
    setattr(seq, "1", nn.Tanh())
    assert [type(m).__name__ for m in seq] == ["Linear", "Tanh", "Linear"] and len(seq) == 3
    np.testing.assert_allclose(seq(x).numpy(), seq[2](seq[0](x).tanh()).numpy(), rtol=1e-6)
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert repr(seq) == text.replace("ReLU()", "Tanh()")
    assert [name for name, _ in seq.named_modules()] == ["", "0", "1", "2"]  # the stored list is not a child
    seq.head = nn.Linear(1, 2)  # any other name runs last, as in torch
    assert seq(x).shape == (4, 2) and len(seq) == 4 and list(seq.state_dict())[-2:] == ["head.weight", "head.bias"]
    del seq.head
    assert seq(x).shape == (4, 1) and len(seq) == 3
    twin = copy.deepcopy(seq)
    setattr(twin, "1", nn.ReLU())
    assert isinstance(seq[1], nn.Tanh) and isinstance(twin[1], nn.ReLU) and twin[0] is not seq[0]


# ---------------------------------------------------------------- state_dict
def test_state_dict_round_trip_copies_values_in_place() -> None:
    a, b = Block(), Block()
    x = tg.randn(5, 4)
    assert not np.allclose(a(x).numpy(), b(x).numpy())
    sd = a.state_dict()
    assert list(sd) == [n for n, _ in a.named_parameters()]
    # detached Tensors on the parameters' own arrays, as torch's
    assert all(type(v) is tg.Tensor and not v.requires_grad for v in sd.values())
    assert all(v._data is p._data for v, p in zip(sd.values(), a.parameters()))
    params_before = [id(p) for p in b.parameters()]
    arrays_before = [id(p._data) for p in b.parameters()]
    assert b.load_state_dict(sd) == ([], [])
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    assert [id(p) for p in b.parameters()] == params_before  # optimizers keep valid references
    assert [id(p._data) for p in b.parameters()] == arrays_before  # copied into the same arrays
    a.body[0].weight.data += 1  # b owns its copy
    assert not np.allclose(a(x).numpy(), b(x).numpy())


def test_load_state_dict_errors_name_the_keys_and_shapes() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    sd = dict(model.state_dict())
    with pytest.raises(ValueError, match=r"shape mismatch for 0.weight: model has \(2, 3\), state_dict has \(3, 2\)"):
        model.load_state_dict({**sd, "0.weight": np.zeros((3, 2), np.float32)})
    del sd["2.bias"]
    sd["2.scale"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys \['2.bias'\]; unexpected keys \['2.scale'\]"):
        model.load_state_dict(sd)
    before = model[2].bias.numpy().copy()
    assert model.load_state_dict(sd, strict=False) == (["2.bias"], ["2.scale"])
    np.testing.assert_array_equal(model[2].bias.numpy(), before)
    with pytest.raises(ValueError, match=r"shape mismatch for 2\.weight"):  # even when not strict
        model.load_state_dict({"2.weight": np.zeros((2, 2))}, strict=False)


def test_load_state_dict_accepts_tensors_lists_and_float64_and_keeps_float32() -> None:
    model = nn.Linear(2, 2)
    model.load_state_dict({"weight": tg.Tensor(np.eye(2)), "bias": [1.0, 2.0]})
    assert model.weight.dtype == np.float32 and model.bias.dtype == np.float32
    np.testing.assert_array_equal(model(tg.Tensor([[3.0, 4.0]])).numpy(), [[4.0, 6.0]])


def test_torch_checkpoints_load_and_give_the_same_outputs() -> None:
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                 torch.nn.Flatten(), torch.nn.Linear(3 * 3 * 3, 4)).double()
    ours = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(3 * 3 * 3, 4)).to(dtype=np.float64)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((2, 2, 6, 6))
    np.testing.assert_allclose(ours(tg.Tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12)


# ---------------------------------------------------------------- to(), repr
def test_to_casts_parameters_and_grads_in_place() -> None:
    model = nn.Linear(3, 2)
    weight = model.weight
    model(tg.randn(1, 3)).sum().backward()
    assert model.to("cpu", dtype=np.float64) is model
    assert model.weight is weight and weight.dtype == np.float64 and weight.grad.dtype == np.float64
    assert model(tg.randn(1, 3, dtype=np.float64)).dtype == np.float64


def test_float_and_double_cast_floating_parameters_only() -> None:
    model = Block()
    model.step = nn.Parameter(np.arange(3), requires_grad=False)  # an integer parameter keeps its dtype
    scale = model.scale
    model(tg.randn(2, 4)).sum().backward()
    assert model.double() is model
    assert {n: p.dtype.name for n, p in model.named_parameters()} == {
        "scale": "float64", "step": "int64", "body.0.weight": "float64", "body.0.bias": "float64",
        "heads.0.weight": "float64", "heads.0.bias": "float64", "heads.1.weight": "float64"}
    assert model.scale is scale and scale.grad.dtype == np.float64
    assert model(tg.randn(2, 4, dtype=np.float64)).dtype == np.float64
    assert model.float() is model
    assert scale.dtype == scale.grad.dtype == np.float32 and model.step.dtype == np.int64
    assert all(p.dtype == np.float32 for p in model.body.parameters())
    with pytest.raises(TypeError, match="floating-point dtypes only, got dtype=int32"):
        model.to(dtype=np.int32)


@pytest.mark.gpu
def test_to_cuda_moves_parameters_and_forward_matches_cpu() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    expected = model(tg.Tensor(x)).numpy()
    model.to("cuda")
    assert all(p.device == "cuda:0" for p in model.parameters())
    np.testing.assert_allclose(model(tg.Tensor(x, device="cuda")).numpy(), expected, rtol=1e-5, atol=1e-6)
    restored = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    restored.load_state_dict(model.state_dict())  # cupy arrays into a CPU model
    np.testing.assert_allclose(restored(tg.Tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_repr_prints_the_tree_with_shapes_and_parameter_counts() -> None:
    text = repr(Block())
    assert text.splitlines()[0] == "Block(  # scale (3,): 3 params"
    assert "  (body): Sequential(" in text
    assert "    (0): Linear(in_features=4, out_features=3, bias=True)  # weight (3, 4), bias (3,): 15 params" in text
    assert "    (1): ReLU()" in text
    assert "  (heads.1): Linear(in_features=3, out_features=1, bias=False)  # weight (1, 3): 3 params" in text
    assert text.endswith(")  # 29 parameters in total")
    assert repr(nn.Conv2d(1, 2, 3, stride=2)) == ("Conv2d(1, 2, kernel_size=(3, 3), stride=(2, 2))  # weight "
                                                  "(2, 1, 3, 3), bias (2,): 20 params")
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25, inplace=False)"  # as torch prints it


# ---------------------------------------------------------------- layers vs torch
def layer_pairs(torch):
    """(our layer, torch's layer, input shape) with our weights copied into torch's."""
    tnn = torch.nn
    return [
        (nn.Linear(5, 3), tnn.Linear(5, 3), (4, 5)),
        (nn.Linear(5, 3, bias=False), tnn.Linear(5, 3, bias=False), (2, 3, 5)),
        (nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0)), tnn.Conv2d(2, 3, (3, 2), (2, 1), (1, 0)),
         (2, 2, 7, 6)),
        (nn.Conv2d(3, 2, 5, padding=2, bias=False), tnn.Conv2d(3, 2, 5, padding=2, bias=False), (1, 3, 9, 9)),
        (nn.MaxPool2d(3, stride=2, padding=1), tnn.MaxPool2d(3, 2, 1), (2, 2, 7, 7)),
        (nn.MaxPool2d(2), tnn.MaxPool2d(2), (1, 2, 6, 5)),
        (nn.ReLU(), tnn.ReLU(), (3, 4)),
        (nn.Softplus(beta=2.0), tnn.Softplus(beta=2.0), (3, 4)),
        (nn.Sigmoid(), tnn.Sigmoid(), (3, 4)),
        (nn.Tanh(), tnn.Tanh(), (3, 4)),
        (nn.Flatten(), tnn.Flatten(), (2, 3, 4)),
        (nn.Identity(), tnn.Identity(), (2, 3)),
        (nn.Dropout(0.5).eval(), tnn.Dropout(0.5).eval(), (3, 4)),
    ]


def test_every_layer_matches_torch_forward_and_backward_in_float64() -> None:
    torch = pytest.importorskip("torch")
    for ours, theirs, shape in layer_pairs(torch):
        ours.to(dtype=np.float64)
        theirs.double().load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
        x = rng.permutation(np.linspace(-2, 2, math.prod(shape))).reshape(shape)  # distinct: no pooling ties
        tx, px = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, ref = ours(tx), theirs(px)
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=repr(ours))
        w = rng.standard_normal(out.shape)
        (out * tg.Tensor(w)).sum().backward()
        (ref * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(tx.grad.numpy(), px.grad.numpy(), rtol=1e-12, atol=1e-14, err_msg=repr(ours))
        for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=name)
        for attr in ("kernel_size", "stride", "padding"):  # the hyperparameters read back as torch's
            if hasattr(theirs, attr):
                assert getattr(ours, attr) == getattr(theirs, attr), (repr(ours), attr)


def test_conv2d_split_into_many_batch_chunks_matches_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a tiny chunk budget every sample is its own GEMM; the result must not change."""
    torch = pytest.importorskip("torch")
    monkeypatch.setitem(conv_op.CHUNK_BYTES, "cpu", 1)
    layer = nn.Conv2d(2, 3, 3, stride=2, padding=1).to(dtype=np.float64)
    theirs = torch.nn.Conv2d(2, 3, 3, 2, 1).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in layer.state_dict().items()})
    x = rng.standard_normal((5, 2, 7, 8))
    tx, px = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = layer(tx), theirs(px)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(tx.grad.numpy(), px.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad.numpy(), theirs.bias.grad.numpy(), rtol=1e-12)


def test_dropout_layer_statistics_and_eval_identity() -> None:
    layer = nn.Dropout(0.2)
    x = tg.ones(300, 300)
    kept = layer(x).numpy() != 0
    assert abs(kept.mean() - 0.8) < 0.01
    assert layer.eval()(x) is x
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)


def test_layer_construction_errors() -> None:
    with pytest.raises(ValueError, match="in_features must be a non-negative int, got -1"):
        nn.Linear(-1, 3)  # (0 features are torch's empty Linear: tests/test_norm_conv_probe_fixes.py)
    with pytest.raises(ValueError, match=r"Conv2d kernel_size must be an int or a pair of ints >= 1, got \(3, 0\)"):
        nn.Conv2d(1, 2, (3, 0))
    with pytest.raises(ValueError, match=r"out_channels must be a positive int, got 2\.5"):
        nn.Conv2d(1, 2.5, 3)
    with pytest.raises(ValueError, match=r"Conv2d padding must be an int or a pair of ints >= 0, got 1\.5"):
        nn.Conv2d(1, 2, 3, padding=1.5)
    assert nn.Conv2d(np.int64(1), 2, np.int64(3)).kernel_size == (3, 3)  # numpy integers are ints too
    with pytest.raises(ValueError, match=r"MaxPool2d stride must be an int or a pair of ints >= 1, got -1"):
        nn.MaxPool2d(2, stride=-1)
    with pytest.raises(ValueError, match=r"expected 3-D \(unbatched\) or 4-D \(batched\) input, got shape \(5, 5\)"):
        nn.Conv2d(1, 2, 3)(tg.randn(5, 5))
    assert nn.Conv2d(1, 2, 3)(tg.randn(1, 5, 5)).shape == (2, 3, 3)  # unbatched (C, H, W), as torch
    with pytest.raises(ValueError, match="expects 1 input channels, got 3"):
        nn.Conv2d(1, 2, 3)(tg.randn(2, 3, 5, 5))


# ---------------------------------------------------------------- init
def test_default_init_is_torch_s_kaiming_uniform() -> None:
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for p in (layer.weight, layer.bias):
        values = p.numpy()
        assert p.dtype == np.float32
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.95 * bound
    assert abs(layer.weight.numpy().std() - bound / math.sqrt(3)) < 0.01 * bound
    conv = nn.Conv2d(4, 8, 3)
    assert np.abs(conv.weight.numpy()).max() <= 1 / math.sqrt(4 * 9)


def test_init_functions_follow_their_formulas() -> None:
    w = tg.zeros(500, 400)
    nn.init.kaiming_normal_(w)
    assert abs(w.numpy().std() - math.sqrt(2 / 400)) < 0.01 * math.sqrt(2 / 400)
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.numpy().std() - math.sqrt(2 / 500)) < 0.01 * math.sqrt(2 / 500)
    nn.init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / 900)
    assert np.abs(w.numpy()).max() <= bound and abs(w.numpy().std() - bound / math.sqrt(3)) < 0.01 * bound
    nn.init.normal_(w, mean=1.0, std=0.5)
    assert abs(w.numpy().mean() - 1.0) < 0.005 and abs(w.numpy().std() - 0.5) < 0.005
    nn.init.uniform_(w, -3.0, -2.0)
    assert w.numpy().min() >= -3.0 and w.numpy().max() < -2.0
    assert nn.init.zeros_(w) is w and not w.numpy().any()
    assert w.dtype == np.float32


def test_init_gains_match_torch_and_seeding_repeats() -> None:
    torch = pytest.importorskip("torch")
    for name, param in [("linear", None), ("relu", None), ("tanh", None), ("sigmoid", None), ("leaky_relu", 0.2),
                        ("leaky_relu", None), ("selu", None), ("conv2d", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    tg.manual_seed(1)
    a = nn.Linear(3, 3).weight.numpy()
    tg.manual_seed(1)
    np.testing.assert_array_equal(nn.Linear(3, 3).weight.numpy(), a)


def test_init_errors() -> None:
    with pytest.raises(ValueError, match=r"2 or more dims, not shape \(3,\)"):
        nn.init.xavier_uniform_(tg.zeros(3))
    with pytest.raises(ValueError, match="unknown nonlinearity 'gelu'"):
        nn.init.kaiming_uniform_(tg.zeros(2, 2), nonlinearity="gelu")
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        nn.init.kaiming_normal_(tg.zeros(2, 2), mode="fan_avg")


def test_register_module_get_buffer_and_state_dict_options_as_torch() -> None:
    """torch's register_module, get_buffer, state_dict(prefix=, keep_vars=, destination=) and load_state_dict's
    named result, on the same layout in both libraries."""
    torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

    def build(lib):
        m = lib.nn.Sequential(lib.nn.Linear(3, 2), lib.nn.BatchNorm1d(2))
        m.register_module("head", lib.nn.Linear(2, 1))
        return m
    ours, theirs = build(tg), build(torch)
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()] == ["0", "1", "head"]
    with pytest.raises(TypeError):
        ours.register_module("bad", 3)
    assert ours.get_buffer("1.running_var") is ours[1].running_var
    for missing in ("1.weight", "1.nothing", "head.running_mean"):
        with pytest.raises(AttributeError):
            ours.get_buffer(missing)
        with pytest.raises(AttributeError):
            theirs.get_buffer(missing)
    sd = ours.state_dict(prefix="model.")
    assert list(sd) == list(theirs.state_dict(prefix="model."))
    assert all(type(v) is tg.Tensor and not v.requires_grad for v in sd.values())
    assert all(type(v) is torch.Tensor and not v.requires_grad for v in theirs.state_dict().values())
    kept = ours.state_dict(keep_vars=True)
    assert kept["0.weight"] is ours[0].weight and kept["1.running_mean"] is ours[1].running_mean
    into: dict = {"other": 1}
    assert ours.state_dict(destination=into) is into and "other" in into and "head.bias" in into
    partial = {k: v for k, v in ours.state_dict().items() if not k.startswith("head")}
    partial["extra"] = np.zeros(1)
    result = ours.load_state_dict(partial, strict=False)
    want = theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in partial.items()}, strict=False)
    assert result.missing_keys == want.missing_keys == ["head.weight", "head.bias"]
    assert result.unexpected_keys == want.unexpected_keys == ["extra"]
    missing, unexpected = result
    assert (missing, unexpected) == (want.missing_keys, want.unexpected_keys)
