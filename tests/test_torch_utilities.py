"""torch's small utilities: finfo/iinfo, default dtype, compile, rng state, backends flags, device objects,
strides and contiguity, grad_fn, data_ptr; each checked against torch where torch has an answer."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_finfo_matches_torch(name: str) -> None:
    ours, theirs = tg.finfo(getattr(tg, name)), torch.finfo(getattr(torch, name))
    for field in ("eps", "max", "min", "tiny", "smallest_normal", "resolution", "bits"):
        assert float(getattr(ours, field)) == float(getattr(theirs, field)), field


@pytest.mark.parametrize("name", ["int8", "int16", "int32", "int64", "uint8"])
def test_iinfo_matches_torch(name: str) -> None:
    ours, theirs = tg.iinfo(getattr(tg, name)), torch.iinfo(getattr(torch, name))
    assert (ours.min, ours.max, ours.bits) == (theirs.min, theirs.max, theirs.bits)


def test_default_dtype_is_float32_and_fixed() -> None:
    assert tg.get_default_dtype() == tg.float32
    tg.set_default_dtype(tg.float32)
    with pytest.raises(NotImplementedError, match="fixed at float32"):
        tg.set_default_dtype(tg.float64)


def test_compile_returns_the_model_and_backends_flags() -> None:
    m = tg.nn.Linear(2, 2)
    assert tg.compile(m, mode="max-autotune") is m
    tg.backends.cudnn.benchmark = True
    assert tg.backends.cudnn.benchmark and not tg.backends.mps.is_available()


def test_absent_devices_and_cpu_backend_flags_answer_device_picking_code() -> None:
    """``torch.xpu.is_available()``, ``torch.mps.empty_cache()``, ``torch.backends.mkldnn.is_available()`` and
    ``torch.cuda.reset_peak_memory_stats()`` raised AttributeError: now no such device or library is found, there is
    nothing to reset, and what needs the device raises RuntimeError naming it."""
    import importlib

    for name in ("mps", "xpu", "mtia"):
        module = getattr(tg, name)
        assert not module.is_available() and module.device_count() == 0
        module.empty_cache()
        module.manual_seed(0)
        with pytest.raises(RuntimeError, match=f"no {name} backend"):
            module.synchronize()
    for name in ("mkldnn", "openmp", "opt_einsum"):
        flags = getattr(tg.backends, name)
        assert not flags.is_available() and importlib.import_module(f"tinygrad_adam.backends.{name}") is flags
    before = tg.cuda.max_memory_allocated()
    tg.cuda.reset_peak_memory_stats()
    assert tg.cuda.max_memory_allocated() == before


@pytest.mark.parametrize("seeded", [False, True])
def test_rng_state_round_trip(seeded: bool) -> None:
    if seeded:
        tg.manual_seed(3)
    state = tg.get_rng_state()
    a = tg.randn(5).numpy()
    tg.set_rng_state(state)
    np.testing.assert_array_equal(tg.randn(5).numpy(), a)


def test_device_objects() -> None:
    x = tg.ones(2)
    assert x.device == "cpu" and x.device.type == "cpu" and x.device.index is None
    assert repr(x.device) == repr(torch.ones(2).device)
    d = tg.device("cuda", 1)
    assert (d.type, d.index, str(d)) == ("cuda", 1, "cuda:1")


@pytest.mark.parametrize("view", ["x", "x.T", "x[::2]", "x[:, 1:]", "x[1]", "x.reshape(6, 4)", "x[:, ::3].T"])
def test_strides_contiguity_and_sizes_match_torch(view: str) -> None:
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    ours = eval(view, {"x": tg.tensor(a)})
    theirs = eval(view, {"x": torch.tensor(a)})
    assert ours.stride() == theirs.stride()
    assert ours.stride(-1) == theirs.stride(-1)
    assert ours.is_contiguous() == theirs.is_contiguous()
    assert (ours.nbytes, ours.itemsize) == (theirs.nbytes, theirs.itemsize)


def test_data_ptr_of_a_view_is_offset() -> None:
    x = tg.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    assert x[1:].data_ptr() == x.data_ptr() + 4 * x.itemsize
    assert x.view(-1).data_ptr() == x.data_ptr()


def program(lib: object) -> list[object]:
    x = lib.ones(2, 3, requires_grad=True)  # type: ignore[attr-defined]
    w = lib.ones(3)  # type: ignore[attr-defined]
    y = (x * w).sum()
    return [x.grad_fn, y.grad_fn, y.grad_fn.next_functions, y.grad_fn.next_functions[0][0].next_functions]


def test_grad_fn_matches_torchs_graph() -> None:
    ours, theirs = program(tg), program(torch)
    assert ours[0] is None and theirs[0] is None
    assert ours[1].name().rstrip("0123456789") == theirs[1].name().rstrip("0123456789") == "SumBackward"
    assert [n.name().rstrip("0") for n, _ in ours[2]] == [n.name().rstrip("0") for n, _ in theirs[2]]
    kinds = [[None if n is None else n.name().split("::")[-1] for n, _ in level] for level in (ours[3], theirs[3])]
    assert kinds[0] == kinds[1] == ["AccumulateGrad", None]


def test_parameters_to_vector_and_back_match_torch() -> None:
    tg.manual_seed(0)
    ours = tg.nn.Sequential(tg.nn.Linear(3, 2), tg.nn.Linear(2, 1))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    v_ours = tg.nn.utils.parameters_to_vector(ours.parameters())
    v_theirs = torch.nn.utils.parameters_to_vector(theirs.parameters())
    np.testing.assert_array_equal(v_ours.detach().numpy(), v_theirs.detach().numpy())
    w = np.arange(v_ours.shape[0], dtype=np.float32)
    (v_ours * tg.tensor(w)).sum().backward()
    (v_theirs * torch.tensor(w)).sum().backward()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    tg.nn.utils.vector_to_parameters(tg.tensor(w), ours.parameters())
    torch.nn.utils.vector_to_parameters(torch.tensor(w), theirs.parameters())
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    with pytest.raises(RuntimeError, match="invalid"):  # as torch's view_as of a too short piece
        tg.nn.utils.vector_to_parameters(tg.ones(3), ours.parameters())


@pytest.mark.parametrize("source", ["ones", "int"])
def test_new_tensor_takes_the_tensors_dtype_as_torch(source: str) -> None:
    def program(lib: object) -> list[object]:
        x = lib.ones(2) if source == "ones" else lib.tensor([3, 4])  # type: ignore[attr-defined]
        arr = np.array([1.5, 2.5])
        a = x.new_tensor(arr)
        arr[0] = 9.0  # a copy: the tensor does not follow
        b = x.new_tensor([[1, 2]], dtype=lib.float64, requires_grad=True)  # type: ignore[attr-defined]
        return [a.dtype, a.tolist(), b.dtype, b.requires_grad, b.tolist()]
    ours, theirs = program(tg), program(torch)
    assert str(ours[0]) == str(theirs[0]).removeprefix("torch.") and ours[1] == theirs[1]
    assert str(ours[2]) == str(theirs[2]).removeprefix("torch.") and ours[3:] == theirs[3:]


def test_is_floating_point_function() -> None:
    for dtype in ("float32", "float64", "int64", "bool"):
        assert tg.is_floating_point(tg.zeros(2, dtype=getattr(tg, dtype))) == torch.is_floating_point(
            torch.zeros(2, dtype=getattr(torch, dtype)))


def test_seed_initial_seed_and_fork_rng() -> None:
    tg.manual_seed(7)
    assert tg.initial_seed() == 7 and tg.random.initial_seed() == 7
    s = tg.seed()  # a fresh seed from the OS, in torch's 63-bit range, and the generators restart from it
    assert 0 <= s < 2**63 and tg.initial_seed() == s
    first = tg.randn(4).numpy()
    tg.manual_seed(s)
    np.testing.assert_array_equal(tg.randn(4).numpy(), first)
    with tg.random.fork_rng():
        tg.randn(100)
    after_fork = tg.randn(3).numpy()
    tg.manual_seed(s)
    tg.randn(4)
    np.testing.assert_array_equal(tg.randn(3).numpy(), after_fork)  # the block drew from a fork
    with tg.random.fork_rng(enabled=False):
        tg.randn(2)
    tg.manual_seed(s)
    tg.randn(4)
    tg.randn(3)
    tg.randn(2)
    expected = tg.randn(1).numpy()
    tg.manual_seed(s)
    tg.randn(4), tg.randn(3)
    with tg.random.fork_rng(enabled=False):
        tg.randn(2)
    np.testing.assert_array_equal(tg.randn(1).numpy(), expected)  # not forked: the draws counted


def test_unseeded_generators_record_their_seed() -> None:
    tg.set_rng_state({"seed": None, "gpu_key": 0})  # as a fresh process: no manual_seed yet
    drawn = tg.rand(5).numpy()
    s = tg.initial_seed()  # the seed drawn from the OS when the first numbers were asked for
    tg.manual_seed(s)
    np.testing.assert_array_equal(tg.rand(5).numpy(), drawn)
