"""What the DCGAN program (tests/torch_style/dcgan.py) turned up, against torch: ``nn.init`` fills given
``m.weight.data`` (then our raw array) raised a memoryview TypeError, and an in-place op on the output of a norm layer
(``BatchNorm2d`` then ``LeakyReLU(0.2, inplace=True)``), a transposed convolution, an average pool, an interpolation
or an activation whose gradient reads only its input raised "its output was modified by an in-place operation",
where torch runs (their backwards read the input, never the output); and ``load`` of a ``torch.save`` file said it
was "malformed ... start the run again with --overwrite" (it now reads torch's zip format weights-only)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

# (name, extra arguments, shape): the shapes each fill accepts
FILLS = [
    ("uniform_", (-0.5, 2.0), (3, 4)), ("normal_", (1.0, 0.02), (4, 2, 3, 3)), ("constant_", (0.25,), (5,)),
    ("zeros_", (), (2, 3)), ("ones_", (), (3, 1)), ("eye_", (), (3, 5)), ("dirac_", (), (4, 2, 3, 3)),
    ("sparse_", (0.5,), (6, 3)), ("trunc_normal_", (0.0, 1.0, -1.0, 1.5), (7,)), ("orthogonal_", (2.0,), (3, 5)),
    ("xavier_uniform_", (), (4, 6)), ("xavier_normal_", (1.5,), (4, 3, 2, 2)), ("kaiming_uniform_", (0.2,), (5, 4)),
    ("kaiming_normal_", (0.0, "fan_out", "relu"), (2, 3, 5, 5)),
]
DETERMINISTIC = {"constant_", "zeros_", "ones_", "eye_", "dirac_"}


@pytest.mark.parametrize(("name", "args", "shape"), FILLS, ids=[f[0] for f in FILLS])
@given(seed=st.integers(0, 2**31 - 1), dtype=st.sampled_from(["float32", "float64"]))
@settings(deadline=None, max_examples=10)
def test_init_fills_through_data_in_place(name: str, args: tuple, shape: tuple, seed: int, dtype: str) -> None:
    """``init(p.data, ...)`` (the DCGAN tutorial's weights_init) writes into the parameter and returns the ``.data``
    tensor it was given; it draws the very numbers ``init(p, ...)`` draws; the deterministic fills equal torch's."""
    fill = getattr(tg.nn.init, name)
    by_tensor = tg.nn.Parameter(tg.zeros(shape, dtype=dtype))
    tg.manual_seed(seed)
    assert fill(by_tensor, *args) is by_tensor
    p = tg.nn.Parameter(tg.zeros(shape, dtype=dtype))
    array, data = p._data, p.data
    tg.manual_seed(seed)
    assert fill(data, *args) is data and p._data is array and p.requires_grad and p.grad is None
    np.testing.assert_array_equal(p.numpy(), by_tensor.numpy())
    assert p.dtype == np.dtype(dtype)
    if name in DETERMINISTIC:
        theirs = torch.nn.Parameter(torch.zeros(shape, dtype=getattr(torch, dtype)))
        getattr(torch.nn.init, name)(theirs.data, *args)
        np.testing.assert_array_equal(p.numpy(), theirs.detach().numpy())


def test_init_of_a_raw_array_still_checks_its_shape() -> None:
    with pytest.raises(ValueError, match="eye_ needs a 2-D tensor"):
        tg.nn.init.eye_(tg.nn.Parameter(tg.zeros(3)).data)
    with pytest.raises(ValueError, match="defined for 2 or more dims"):
        tg.nn.init.xavier_uniform_(tg.zeros(3).data)


W = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32) / 3
# ops whose gradient reads only the input (and what they saved), as a function of (library, its F, x (2, 4, 5, 5))
LAYERS = {
    "batch_norm": lambda L, F, x: F.batch_norm(x, None, None, L.tensor(np.linspace(0.5, 2, 4, dtype=np.float32)),
                                               L.tensor(np.linspace(-1, 1, 4, dtype=np.float32)), training=True),
    "batch_norm_eval": lambda L, F, x: F.batch_norm(x, L.zeros(4) + 0.5, L.ones(4) * 2, training=False),
    "layer_norm": lambda L, F, x: F.layer_norm(x, (5, 5)),
    "group_norm": lambda L, F, x: F.group_norm(x, 2),
    "instance_norm": lambda L, F, x: F.instance_norm(x),
    "conv_transpose2d": lambda L, F, x: F.conv_transpose2d(x, L.tensor(W), L.tensor(W[0, :, 0, 0]), stride=2,
                                                           padding=1, output_padding=1),
    "avg_pool2d": lambda L, F, x: F.avg_pool2d(x, 2, padding=1, count_include_pad=False),
    "leaky_relu": lambda L, F, x: F.leaky_relu(x, 0.2),
    "hardtanh": lambda L, F, x: F.hardtanh(x),
    "elu": lambda L, F, x: F.elu(x, 0.7),
    "selu": lambda L, F, x: F.selu(x),
    "celu": lambda L, F, x: F.celu(x, 1.3),
    "silu": lambda L, F, x: F.silu(x),
    "gelu": lambda L, F, x: F.gelu(x, approximate="tanh"),
    "nearest": lambda L, F, x: F.interpolate(x, scale_factor=2),
    "bilinear": lambda L, F, x: F.interpolate(x, size=(7, 3), mode="bilinear", align_corners=False),
    "bicubic": lambda L, F, x: F.interpolate(x, scale_factor=1.5, mode="bicubic", align_corners=True),
    "area": lambda L, F, x: F.interpolate(x, size=(3, 2), mode="area"),
    "bilinear_antialias": lambda L, F, x: F.interpolate(x, size=(3, 4), mode="bilinear", antialias=True),
}
# in-place ops that change every value (so a backward reading the output would go wrong), or the DCGAN's own
IN_PLACE = {
    "leaky_relu_inplace": lambda L, F, y: F.leaky_relu(y, 0.2, inplace=True),
    "relu_": lambda L, F, y: y.relu_(),
    "mul_": lambda L, F, y: y.mul_(-3.0),
    "add_": lambda L, F, y: y.add_(0.5),
    "tanh_": lambda L, F, y: y.tanh_(),
}
# plus fixed offsets: no channel is constant (torch's batch / instance norm of a constant is +-rounding, not 0 as
# ours, and the in-place kinks would tell them apart)
OFFSETS = np.random.default_rng(1).uniform(0, 0.5, (2, 4, 5, 5)).astype(np.float32)
VALUES = hnp.arrays(np.float32, (2, 4, 5, 5), elements=st.floats(-4, 4, width=32)).map(lambda x: x + OFFSETS)


def gradients(lib, layer: str, in_place: str, x: np.ndarray) -> list[np.ndarray]:
    """in_place(layer(x)) and d/dx of its sum weighted by a fixed non-linear pattern (a linear one lies in the
    directions a norm's gradient removes, leaving only rounding)."""
    F = lib.nn.functional
    t = lib.tensor(x, requires_grad=True)
    y = IN_PLACE[in_place](lib, F, LAYERS[layer](lib, F, t))
    weights = lib.tensor(np.cos(np.arange(int(np.prod(y.shape)), dtype=np.float32) ** 1.5).reshape(tuple(y.shape)))
    (g,) = lib.autograd.grad((y * weights).sum(), t)
    return [y.detach().numpy(), g.numpy()]


@pytest.mark.parametrize("layer", LAYERS)
@given(x=VALUES, in_place=st.sampled_from(sorted(IN_PLACE)))
@settings(deadline=None, max_examples=8)
def test_in_place_op_on_an_output_whose_gradient_needs_only_the_input(layer: str, in_place: str,
                                                                      x: np.ndarray) -> None:
    """torch's backward reads these layers' inputs, so writing into their output is allowed: the same values and
    gradients as torch, not a RuntimeError."""
    ours, theirs = gradients(tg, layer, in_place, x), gradients(torch, layer, in_place, x)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf, -0.0])
def test_in_place_after_batch_norm_with_special_values(special: float) -> None:
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 5)).astype(np.float32)
    x[0, 1, 2, 3] = special
    ours, theirs = gradients(tg, "batch_norm", "leaky_relu_inplace", x), \
        gradients(torch, "batch_norm", "leaky_relu_inplace", x)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("layer", ["softmax", "sigmoid", "exp"])
def test_ops_that_need_their_output_still_raise(layer: str) -> None:
    """softmax, sigmoid and exp read their output in backward: writing into it raises in both."""
    for lib in (tg, torch):
        x = lib.tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
        y = lib.softmax(x, 1) if layer == "softmax" else getattr(lib, layer)(x)
        y.mul_(2)
        with pytest.raises(RuntimeError, match=r"modified by an inplace operation|modified by an in-place"):
            y.sum().backward()


@pytest.mark.gpu
def test_on_the_gpu_init_fills_through_data_and_batch_norm_takes_an_in_place_op() -> None:
    """The same on cupy arrays: ``normal_(p.data)`` writes into the parameter's device array; BatchNorm2d then an
    in-place LeakyReLU gives the CPU's gradient."""
    p = tg.nn.Parameter(tg.zeros((4, 3), device="cuda"))
    array, data = p._data, p.data
    tg.manual_seed(3)
    assert tg.nn.init.normal_(data, 1.0, 0.5) is data and p._data is array and p.device == "cuda:0"
    tg.manual_seed(3)
    again = tg.nn.init.normal_(tg.zeros((4, 3), device="cuda"), 1.0, 0.5)
    np.testing.assert_array_equal(p.cpu().numpy(), again.cpu().numpy())
    x = np.random.default_rng(2).standard_normal((2, 4, 5, 5)).astype(np.float32)
    grads = []
    for device in ("cpu", "cuda"):
        t = tg.tensor(x, device=device, requires_grad=True)
        y = tg.nn.functional.leaky_relu(tg.nn.functional.batch_norm(t, None, None, training=True), 0.2, inplace=True)
        (y * tg.tensor(OFFSETS, device=device)).sum().backward()
        grads.append(t.grad.cpu().numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("as_stream", [False, True])
def test_load_of_a_torch_checkpoint_reads_it_weights_only(tmp_path, as_stream: bool) -> None:
    """torch.save's zip file loads here (weights only, nothing in it runs): the DCGAN checkpoint's kind of tree (an
    epoch, state_dicts, lists) goes into our model as torch's values. It once raised, naming a conversion."""
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    tree = {"epoch": 3, "netD": net.state_dict(), "losses": [0.5, 0.25]}
    path = tmp_path / "torch.pt"
    torch.save(tree, path)
    with open(path, "rb") as stream:
        ours = tg.load(stream if as_stream else path)
    assert ours["epoch"] == 3 and ours["losses"] == [0.5, 0.25] and list(ours["netD"]) == list(tree["netD"])
    mine = tg.nn.Sequential(tg.nn.Conv2d(1, 2, 3), tg.nn.BatchNorm2d(2))
    mine.load_state_dict(ours["netD"])
    for key, value in tree["netD"].items():
        np.testing.assert_array_equal(mine.state_dict()[key], value.numpy())


def test_our_own_zip_checkpoints_still_load(tmp_path) -> None:
    """An .npz is a zip too: ours are told apart from torch's (no ``data.pkl``), from a path or a stream."""
    import io

    tg.save({"w": tg.ones(2), "step": 4}, tmp_path / "ours.pt")
    assert tg.load(tmp_path / "ours.pt")["step"] == 4
    buffer = io.BytesIO()
    tg.save({"w": tg.ones(2)}, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(tg.load(buffer)["w"].numpy(), [1, 1])
