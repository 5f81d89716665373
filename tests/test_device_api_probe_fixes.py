"""Devices and conversion API against torch (CPU): the differences the device_api probe found, fixed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

import tinygrad_adam as tg  # noqa: E402

DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]
FLOATS = st.floats(-1e4, 1e4, allow_nan=False, width=32)


def _family(fn) -> set[str]:
    """The exception families (RuntimeError, AssertionError, ...) ``fn()`` raises."""
    try:
        fn()
    except Exception as e:
        return {f.__name__ for f in (TypeError, ValueError, RuntimeError, AssertionError, IndexError)
                if isinstance(e, f)}
    return set()


@pytest.mark.parametrize("args", [("cpu:0",), ("cpu", 0), ("cpu:1",), ("meta",), ("mps",), ("xpu",), ("cuda", 3)])
def test_device_names_torch_accepts(args: tuple) -> None:
    ours, theirs = tg.device(*args), torch.device(*args)
    assert (str(ours), ours.type, ours.index, repr(ours)) == (str(theirs), theirs.type, theirs.index, repr(theirs))
    assert (ours == tg.device("cpu")) == (theirs == torch.device("cpu"))


@pytest.mark.parametrize("args", [(True,), (1.0,), (None,), ("cuda", 1.5), ("cuda", True)])
def test_device_bad_argument_types_raise_type_error(args: tuple) -> None:
    assert _family(lambda: torch.device(*args)) == _family(lambda: tg.device(*args)) == {"TypeError"}


@pytest.mark.parametrize("name", ["cuda:01", "cuda:x", "foo", "cpu:-1"])
def test_device_bad_strings_raise_runtime_error(name: str) -> None:
    assert "RuntimeError" in _family(lambda: torch.device(name)) & _family(lambda: tg.device(name))


def test_cpu_index_is_the_cpu() -> None:
    x = tg.ones(2)
    assert x.to("cpu:0") is x and x.to(tg.device("cpu", 0)).device == "cpu"


def test_device_as_context_manager() -> None:
    with tg.device("cpu") as d, torch.device("cpu"):
        assert tg.zeros(2).device == "cpu" and tg.tensor([1]).device.type == torch.zeros(1).device.type
        assert isinstance(d, tg.device)
    assert tg.get_default_device() == "cpu"
    before = tg.get_default_device()
    for lib in (torch, tg):  # torch without CUDA: AssertionError (at the factory; ours on entering)
        with pytest.raises(AssertionError), lib.device("cuda"):
            lib.zeros(1)
    assert tg.get_default_device() == before


def test_get_default_device_is_a_device() -> None:
    ours, theirs = tg.get_default_device(), torch.get_default_device()
    assert (type(ours).__name__, repr(ours)) == (type(theirs).__name__, repr(theirs))


@pytest.mark.parametrize("call", ["cuda()", "cuda(0)", "to('cuda')", "to('cuda:1')", "as_tensor([1.0], device='cuda')",
                                  "cuda.synchronize()", "cuda.get_device_name()",
                                  "cuda.get_device_capability()", "cuda.get_device_properties(0)",
                                  "cuda.mem_get_info()"])
def test_cuda_without_gpu_fails_in_torch_family(call: str) -> None:
    if torch.cuda.is_available() or tg.cuda.is_available():
        pytest.skip("a GPU is usable here")

    def run(lib) -> None:
        target = "lib.ones(2)." if call.startswith(("cuda(", "to(")) else "lib."
        try:
            eval(target + call, {"lib": lib})
        finally:
            if lib is torch:
                torch.set_default_device(None)

    assert _family(lambda: run(torch)) & _family(lambda: run(tg))


@settings(max_examples=30, deadline=None)
@given(st.lists(FLOATS, max_size=5), st.sampled_from(DTYPES), st.booleans(), st.booleans())
def test_to_positional_non_blocking_and_copy(values: list, dtype: str, non_blocking: bool, copy: bool) -> None:
    t, o = torch.tensor(values), tg.tensor(values)
    rt, ro = t.to("cpu", getattr(torch, dtype), non_blocking, copy), o.to("cpu", getattr(tg, dtype), non_blocking, copy)
    np.testing.assert_array_equal(rt.numpy(), ro.numpy())
    assert (rt is t) == (ro is o)
    rt, ro = t.to(getattr(torch, dtype), non_blocking, copy), o.to(getattr(tg, dtype), non_blocking, copy)
    assert (rt is t) == (ro is o) and str(rt.dtype).removeprefix("torch.") == ro.dtype.name.replace("bool_", "bool")
    rt, ro = t.to(torch.ones(1), non_blocking), o.to(tg.ones(1), non_blocking)
    assert (rt is t) == (ro is o)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_to_rejects_a_class() -> None:
    assert _family(lambda: torch.ones(2).to(torch.Tensor)) == _family(lambda: tg.ones(2).to(tg.Tensor)) == {"TypeError"}


@pytest.mark.parametrize("arg", ["Tensor", "'torch.Tensor'"])
@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(-1000, 1000), max_size=4))
def test_type_of_the_tensor_class_is_float(arg: str, values: list) -> None:
    t = eval(f"torch.tensor(values).type({arg})", {"torch": torch, "values": values, "Tensor": torch.Tensor})
    o = eval(f"tg.tensor(values).type({arg.replace('torch.', 'tinygrad_adam.')})",
             {"tg": tg, "values": values, "Tensor": tg.Tensor})
    assert o.dtype == np.float32 and t.dtype == torch.float32
    np.testing.assert_array_equal(t.numpy(), o.numpy())


@pytest.mark.parametrize("method", ["double", "float", "half", "int", "long", "bool", "byte", "char", "short", "cpu"])
def test_casts_take_memory_format(method: str) -> None:
    t = torch.arange(24.0).reshape(1, 2, 3, 4)
    o = tg.arange(24.0).reshape(1, 2, 3, 4)
    for fmt in ("preserve_format", "channels_last", "contiguous_format"):
        rt = getattr(t, method)(memory_format=getattr(torch, fmt))
        ro = getattr(o, method)(memory_format=getattr(tg, fmt))
        assert rt.stride() == ro.stride()
        np.testing.assert_array_equal(rt.numpy(), ro.numpy())


def test_cuda_takes_non_blocking() -> None:
    assert _family(lambda: torch.ones(1).cuda(non_blocking=True)) & _family(lambda: tg.ones(1).cuda(non_blocking=True))


def test_is_meta() -> None:
    assert tg.ones(2).is_meta is torch.ones(2).is_meta is False


@pytest.mark.parametrize("name", ["memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved",
                                  "is_initialized", "seed", "seed_all"])
def test_cuda_queries_without_gpu(name: str) -> None:
    if torch.cuda.is_available() or tg.cuda.is_available():
        pytest.skip("a GPU is usable here")
    assert getattr(tg.cuda, name)() == getattr(torch.cuda, name)()


@pytest.mark.parametrize("dtype", DTYPES)
def test_finfo_iinfo(dtype: str) -> None:
    for info in ("finfo", "iinfo"):
        theirs = _family(lambda info=info: getattr(torch, info)(getattr(torch, dtype)))
        ours = _family(lambda info=info: getattr(tg, info)(getattr(tg, dtype)))
        assert theirs == ours
        if not theirs:
            t, o = getattr(torch, info)(getattr(torch, dtype)), getattr(tg, info)(getattr(tg, dtype))
            fields = ["bits", "max", "min", "dtype"] + (["eps", "tiny", "smallest_normal", "resolution"]
                                                         if info == "finfo" else [])
            for f in fields:
                assert (type(getattr(t, f)), getattr(t, f)) == (type(getattr(o, f)), getattr(o, f)), f
            assert (o == getattr(tg, info)(getattr(tg, dtype))) == (t == getattr(torch, info)(getattr(torch, dtype)))


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool", "float16"])
def test_set_default_dtype_refuses_non_float_with_type_error(dtype: str) -> None:
    theirs = _family(lambda: torch.set_default_dtype(getattr(torch, dtype)))
    torch.set_default_dtype(torch.float32)
    if theirs:
        assert _family(lambda: tg.set_default_dtype(getattr(tg, dtype))) == theirs == {"TypeError"}


@pytest.mark.parametrize("dtype", ["object", "U3", "datetime64[s]", "longdouble", "S2"])
def test_from_numpy_unsupported_dtypes_raise_type_error(dtype: str) -> None:
    a = np.array(["a", "b"], dtype=dtype) if dtype in ("object", "U3", "S2") else np.zeros(2, dtype=dtype)
    if dtype == "longdouble" and np.dtype(dtype).itemsize == 8:
        pytest.skip("longdouble is float64 here")
    assert _family(lambda: torch.from_numpy(a)) == _family(lambda: tg.from_numpy(a)) == {"TypeError"}


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4),
       st.sampled_from(["float16", "float32", "float64", "int32", "uint8", "bool", "uint16"]))
def test_from_numpy_read_only_warns_and_shares(values: list, dtype: str) -> None:
    with np.errstate(all="ignore"):
        a = np.array(values).astype(dtype)
    a.setflags(write=False)
    for lib in (torch, tg):  # (torch warns once a process)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            x = lib.from_numpy(a)
        assert lib is torch or any(issubclass(m.category, UserWarning) for m in w)
        np.testing.assert_array_equal(x.numpy(), a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert a.size == 0 or np.shares_memory(tg.from_numpy(a).numpy(), a)


@pytest.mark.parametrize("values", [[], [1.0, 2.0], [[0.0]], [float("nan")], [0]])
def test_is_nonzero_family(values: list) -> None:
    theirs = _family(lambda: torch.is_nonzero(torch.tensor(values)))
    assert theirs == _family(lambda: tg.is_nonzero(tg.tensor(values)))
    if not theirs:
        assert torch.is_nonzero(torch.tensor(values)) == tg.is_nonzero(tg.tensor(values))


@pytest.mark.parametrize("extra", [(True, True, True), (True, "x")])
def test_to_too_many_flags_is_a_type_error(extra: tuple) -> None:
    assert _family(lambda: torch.ones(2).to("cpu", *extra)) == _family(lambda: tg.ones(2).to("cpu", *extra)) == {
        "TypeError"}
