"""Tensor API, backward mechanics, no_grad, seeding, devices and every input error."""

from __future__ import annotations

import gc
import subprocess
import sys
import types
import weakref

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam import backend


def test_construction_dtypes_and_attributes() -> None:
    assert tg.Tensor(3.0).dtype == np.float32 and tg.Tensor([[1, 2]]).dtype == np.float32
    assert tg.Tensor([1, 2], dtype=np.int64).dtype == np.int64
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = tg.Tensor(a)
    assert t.dtype == np.float64 and t.shape == (2, 3) and t.ndim == 2 and t.device == "cpu"
    assert t._data is a  # wraps without a copy, like Chainer's Variable
    assert tg.Tensor(np.arange(3)).dtype == np.int64  # integer arrays keep their dtype (labels)
    assert tg.Tensor(a, dtype=np.float32).dtype == np.float32
    assert tg.Tensor([[2.5]]).item() == 2.5
    assert isinstance(t.numpy(), np.ndarray)
    assert "Tensor(" in repr(tg.Tensor([1.0], requires_grad=True))


def test_constructors() -> None:
    assert tg.zeros(2, 3).numpy().sum() == 0 and tg.zeros((2, 3)).shape == (2, 3)
    assert tg.ones(4).numpy().sum() == 4 and tg.full((2, 2), 7.0).numpy().max() == 7
    x = tg.Tensor(np.ones((2, 2)))
    assert tg.zeros_like(x).dtype == np.float64 and tg.ones_like(x).numpy().sum() == 4
    assert tg.randn(3, 4).dtype == np.float32 and tg.rand(5).numpy().min() >= 0
    np.testing.assert_array_equal(tg.arange(3).numpy(), [0, 1, 2])
    np.testing.assert_array_equal(tg.arange(1, 2, 0.5).numpy(), [1, 1.5])
    np.testing.assert_array_equal(tg.eye(2).numpy(), np.eye(2))
    assert tg.zeros(2, requires_grad=True).requires_grad


def test_manual_seed_reproducible() -> None:
    tg.manual_seed(7)
    a = tg.randn(5).numpy()
    tg.manual_seed(7)
    b = tg.randn(5).numpy()
    tg.manual_seed(8)
    c = tg.randn(5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_rng_state_roundtrip() -> None:
    tg.manual_seed(3)
    tg.randn(2)
    state = backend.get_rng_state()
    a = tg.randn(4).numpy()
    backend.set_rng_state(state)
    np.testing.assert_array_equal(tg.randn(4).numpy(), a)


def test_seed_same_across_processes() -> None:
    code = "import tinygrad_adam as tg; tg.manual_seed(11); print(tg.randn(3).numpy().tolist())"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(outs) == 1


def test_gradients_accumulate_and_zero() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 2])


def test_leaf_grads_never_alias() -> None:
    a = tg.Tensor([1.0, 2.0], requires_grad=True)
    b = tg.Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # add hands the same gradient to both
    a.grad.data *= 10  # in-place edits (as clip_grad_norm_ does) must not leak into b.grad
    np.testing.assert_allclose(b.grad.numpy(), [1, 1])


def test_shared_subexpression() -> None:
    x = tg.Tensor([2.0], requires_grad=True)
    y = x * x
    (y * y + y).sum().backward()  # d/dx (x^4 + x^2) = 4x^3 + 2x
    np.testing.assert_allclose(x.grad.numpy(), [4 * 8 + 4])


def test_backward_with_explicit_grad() -> None:
    x = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * 2).backward(tg.Tensor([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2, 0, -2])


def test_deep_chain_is_iterative() -> None:
    x = tg.Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10_000], rtol=1e-3)


def test_graph_released_after_backward() -> None:
    x = tg.Tensor(np.ones(4), requires_grad=True)
    mid = x.exp()
    ref = weakref.ref(mid)
    loss = (mid * 2).sum()
    del mid
    gc.collect()
    assert ref() is not None  # still held by the graph
    loss.backward()
    gc.collect()
    assert ref() is None  # the graph and its saved buffers are gone
    assert loss._parents == ()


def test_retain_graph_allows_second_backward() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4, 8])


def test_no_grad_context_and_decorator() -> None:
    x = tg.Tensor([1.0], requires_grad=True)
    with tg.no_grad():
        y = x * 2
        with tg.enable_grad():
            z = x * 2
    assert not y.requires_grad and z.requires_grad

    @tg.no_grad()
    def f(t: tg.Tensor) -> tg.Tensor:
        return t * 3

    assert not f(x).requires_grad
    assert (x * 3).requires_grad and tg.is_grad_enabled()


def test_detach_cuts_graph() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = (x.detach() * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1, 2])


def test_grad_assignment() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    x.grad = tg.Tensor([5.0, 6.0])
    np.testing.assert_allclose(x.grad.numpy(), [5, 6])
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(2,\)"):
        x.grad = tg.Tensor([1.0, 2.0, 3.0])


# ------------------------------------------------------------------ errors
def test_shape_mismatch_errors_name_both_shapes_and_op() -> None:
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\)"):
        tg.ones(2, 3) + tg.ones(4)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        tg.ones(2, 3) @ tg.ones(4, 5)
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*\(4,\)"):
        tg.ones(2, 3).reshape(4)
    with pytest.raises(ValueError, match="concatenate"):
        tg.concatenate([tg.ones(2, 3), tg.ones(3, 3)], axis=1)
    with pytest.raises(IndexError, match="axis 3 is out of range"):
        tg.ones(2, 3).sum(axis=3)


def test_backward_errors() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.ones(2).sum().backward()
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar.*\(2,\)"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\] has a shape of \(3,\)"):
        (x * 2).backward(tg.ones(3))  # torch's error and wording


def test_integer_tensors_cannot_require_grad() -> None:
    with pytest.raises(TypeError, match="int64"):
        tg.Tensor(np.arange(3), requires_grad=True)


def test_item_needs_one_element() -> None:
    with pytest.raises(ValueError, match="one element"):
        tg.ones(2).item()


def test_unknown_device_and_missing_gpu() -> None:
    with pytest.raises(tg.DeviceError, match="unknown device 'tpu'"):
        tg.Tensor([1.0], device="tpu")
    if not backend.gpu_status()[0]:  # without cupy: how to install it; with cupy but no GPU: what to check
        fix = r"tinygrad-adam\[gpu\]" if backend._cupy is None else "is installed but .* nvidia-smi"
        with pytest.raises(tg.DeviceError, match=fix):
            tg.Tensor([1.0], device="cuda")


def test_cupy_without_a_gpu_is_one_line_with_what_to_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the gpu extra on a machine without a GPU (cupy imports, the CUDA runtime finds no device)."""
    def no_device() -> int:
        raise RuntimeError("cudaErrorNoDevice:\nno CUDA-capable device is detected")

    fake = types.SimpleNamespace(__version__="13.6.0", cuda=types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=no_device)))
    monkeypatch.setattr(backend, "_cupy", fake)
    backend.gpu_status.cache_clear()
    try:
        usable, why = backend.gpu_status()
        with pytest.raises(tg.DeviceError) as e:
            tg.Tensor([1.0], device="cuda")
    finally:
        backend.gpu_status.cache_clear()
    assert not usable and "\n" not in why and why in str(e.value)
    assert "cupy 13.6.0 is installed but no CUDA GPU is usable (RuntimeError: cudaErrorNoDevice: no CUDA" in why
    assert "nvidia-smi" in why and "cupy-cuda12x" in why


def test_default_device_from_environment() -> None:
    code = "import tinygrad_adam as tg; print(tg.ones(1).device)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "TINYGRAD_ADAM_DEVICE": "cpu"}, check=True)
    assert out.stdout.strip() == "cpu"
    bad = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__("os").environ, "TINYGRAD_ADAM_DEVICE": "tpu"})
    assert bad.returncode != 0 and "unknown device 'tpu'" in bad.stderr


def test_gradcheck_reports_worst_element() -> None:
    from tinygrad_adam.tensor import record

    def wrong_square(x: tg.Tensor) -> tg.Tensor:  # deliberately wrong backward: 3x instead of 2x
        return record("bad", x._data ** 2, (x,), lambda g: (3 * x._data * g,))

    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(tg.GradcheckError, match=r"input 0 .* index \(1,\)"):
        tg.gradcheck(wrong_square, [x])
    assert tg.gradcheck(wrong_square, [x], raise_exception=False) is False


# ------------------------------------------------------------------ GPU: the same ops on cuda equal the CPU
@pytest.mark.gpu
def test_gpu_ops_match_cpu() -> None:
    from test_ops import CASES, make_inputs

    for name, (ours, _, spec) in sorted(CASES.items()):
        arrays = [a.astype(np.float32) for a in make_inputs(spec)]
        cpu = [tg.Tensor(a, requires_grad=True) for a in arrays]
        gpu = [tg.Tensor(a, device="cuda", requires_grad=True) for a in arrays]
        out_c, out_g = ours(*cpu), ours(*gpu)
        assert out_g.device.startswith("cuda"), name
        np.testing.assert_allclose(out_g.numpy(), out_c.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
        out_c.sum().backward()
        out_g.sum().backward()
        for c, g in zip(cpu, gpu):
            np.testing.assert_allclose(g.grad.numpy(), c.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.gpu
def test_gpu_device_mix_error_names_both() -> None:
    with pytest.raises(tg.DeviceError, match=r"cpu.*cuda:0|cuda:0.*cpu"):
        tg.ones(2) + tg.ones(2, device="cuda")
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = x.to("cuda") * 2
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 2])


@pytest.mark.gpu
def test_cpu_tensors_stay_on_the_cpu_when_cuda_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only new host data (arrays, lists, scalars given without a device) goes to the default device: what is
    asked for on the CPU, and what the library computes from CPU tensors, stays on the CPU."""
    import tinygrad_adam.nn.functional as F
    from tinygrad_adam import nn, optim

    monkeypatch.setattr(backend, "_default_device", "cuda:0")
    assert tg.Tensor(np.zeros(2)).device == tg.Tensor([1.0]).device == "cuda:0"
    made = [tg.zeros(2, device="cpu"), tg.ones(2, device="cpu"), tg.full((2,), 3.0, device="cpu"),
            tg.rand(2, device="cpu"), tg.randn(2, device="cpu"), tg.arange(3, device="cpu"), tg.eye(2, device="cpu")]
    assert [t.device for t in made] == ["cpu"] * len(made)
    x = tg.Tensor([1.0, -2.0, 3.0], requires_grad=True, device="cpu")
    y = F.dropout((x * 2 + 1).relu(), 0.5)
    assert [t.device for t in (y, x > 0, x.detach(), x.argmax(), tg.Tensor(x))] == ["cpu"] * 5
    y.sum().backward()
    assert x.grad.device == "cpu"
    average = optim.TemporalAverage([x])
    average.update()
    assert average.averages()[0].device == "cpu"
    layer = nn.Linear(3, 2, device="cpu")
    assert layer.weight.device == "cpu" and layer(x[None]).device == "cpu"
    assert tg.gradcheck(lambda a: (a * a).sum(), [x])


def test_device_mix_error_names_both_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a GPU, pretend one array lives on cuda:0 to exercise the check itself."""
    a, b = tg.ones(2), tg.ones(2)
    real = backend.device_of
    monkeypatch.setattr(backend, "device_of", lambda arr: "cuda:0" if arr is b._data else real(arr))
    with pytest.raises(tg.DeviceError, match=r"mul: tensors are on different devices, cpu and cuda:0"):
        a * b
    with pytest.raises(tg.DeviceError, match="matmul"):
        a @ b
