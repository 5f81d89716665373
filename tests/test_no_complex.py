"""Complex tensors are refused wherever complex data could enter (data, dtypes, Python complex numbers): the ops,
their gradients and ``.real`` are written for real numbers, and before this check a complex tensor flowed through
them silently (``(z * z).real`` gave a complex result, gradients had the wrong conjugation) and a complex fill
kept its real part with only numpy's warning."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg
from tinygrad_adam.nn import functional as F

COMPLEX = (np.complex64, np.complex128)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(st.sampled_from(COMPLEX), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)),
       st.sampled_from(["Tensor", "tensor", "as_tensor", "from_numpy", "asarray", "data ="]))
def test_complex_arrays_are_refused_by_every_constructor(array: np.ndarray, how: str) -> None:
    make = {"Tensor": tg.Tensor, "tensor": tg.tensor, "as_tensor": tg.as_tensor, "from_numpy": tg.from_numpy,
            "asarray": tg.asarray, "data =": lambda a: setattr(tg.zeros(a.shape), "data", a)}[how]
    with pytest.raises(NotImplementedError, match=r"complex tensors are not supported .*two real tensors"):
        make(array)


@pytest.mark.parametrize("dtype", [*COMPLEX, "complex64", "complex128"])
@pytest.mark.parametrize("factory", ["zeros", "ones", "empty", "arange", "eye", "zeros_like", "empty_like",
                                     "astype", "to", "sum", "cumsum", "mean", "new_zeros", "randint"])
def test_complex_dtypes_are_refused(dtype: object, factory: str) -> None:
    x = tg.randn(3)
    make = {"zeros": lambda: tg.zeros(2, dtype=dtype), "ones": lambda: tg.ones(2, dtype=dtype),
            "empty": lambda: tg.empty(2, dtype=dtype), "arange": lambda: tg.arange(3, dtype=dtype),
            "eye": lambda: tg.eye(2, dtype=dtype), "zeros_like": lambda: tg.zeros_like(x, dtype=dtype),
            "empty_like": lambda: tg.empty_like(x, dtype=dtype), "astype": lambda: x.astype(dtype),
            "to": lambda: x.to(dtype=dtype), "sum": lambda: x.sum(dtype=dtype),
            "cumsum": lambda: x.cumsum(0, dtype=dtype), "mean": lambda: x.mean(dtype=dtype),
            "new_zeros": lambda: x.new_zeros(2, dtype=dtype), "randint": lambda: tg.randint(0, 3, (2,), dtype=dtype)}
    with pytest.raises(NotImplementedError, match="complex"):
        make[factory]()


NUMBER_ENTRIES = {
    "x * z": lambda x, z: x * z, "z * x": lambda x, z: z * x, "x + z": lambda x, z: x + z,
    "x - z": lambda x, z: x - z, "x / z": lambda x, z: x / z, "x ** z": lambda x, z: x ** z,
    "z ** x": lambda x, z: z ** x, "x == z": lambda x, z: x == z, "int * z": lambda x, z: x.long() * z,
    "full": lambda x, z: tg.full((2,), z), "full_like": lambda x, z: tg.full_like(x, z),
    "new_full": lambda x, z: x.new_full((2,), z), "fill_": lambda x, z: x.clone().fill_(z),
    "setitem": lambda x, z: x.clone().__setitem__(0, z), "add_": lambda x, z: x.clone().add_(z),
    "mul_": lambda x, z: x.clone().mul_(z), "where": lambda x, z: tg.where(x > 0, x, z),
    "masked_fill": lambda x, z: x.masked_fill(x > 0, z), "masked_fill_": lambda x, z: x.clone().masked_fill_(x > 0, z),
    "clamp": lambda x, z: x.clamp(z), "clamp_min": lambda x, z: x.clamp_min(z),
    "index_fill": lambda x, z: x.index_fill(0, tg.tensor([0]), z),
    "scatter": lambda x, z: x.scatter(0, tg.tensor([0]), z), "pad": lambda x, z: F.pad(x, (1, 1), value=z),
    "threshold": lambda x, z: F.threshold(x, 0.5, z), "linspace": lambda x, z: tg.linspace(0, z, 3),
    "logspace": lambda x, z: tg.logspace(0, z, 3), "fmod": lambda x, z: tg.fmod(x, z),
    "div floor": lambda x, z: x.div(z, rounding_mode="floor"), "lerp": lambda x, z: tg.lerp(x, x, z),
    "addcmul": lambda x, z: tg.addcmul(x, x, x, value=z), "add alpha": lambda x, z: tg.add(x, x, alpha=z),
    "fill_diagonal_": lambda x, z: tg.zeros(2, 2).fill_diagonal_(z), "scalar_tensor": lambda x, z: tg.scalar_tensor(z),
    "tensor": lambda x, z: tg.tensor([1.0, z]), "Tensor": lambda x, z: tg.Tensor([z]),
}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(NUMBER_ENTRIES)), st.complex_numbers(allow_nan=True, allow_infinity=True),
       st.sampled_from([np.float32, np.float64, np.float16]))
def test_python_complex_numbers_raise_rather_than_lose_their_imaginary_part(entry: str, z: complex,
                                                                          dtype: type) -> None:
    """Each entry raises (numpy alone would keep the real part, or make a complex tensor) even for a complex number
    whose imaginary part is 0 (torch makes those complex too)."""
    x = tg.tensor([0.5, -1.0, 2.0], dtype=dtype)
    with pytest.raises((NotImplementedError, TypeError)):
        NUMBER_ENTRIES[entry](x, z)


def test_real_tensors_say_they_are_real() -> None:
    x = tg.randn(2)
    assert not x.is_complex() and x.real is x
    with pytest.raises(TypeError):
        _ = x.imag


@settings(max_examples=40, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True, width=64), st.sampled_from(["float16", "float32"]))
def test_linspace_ends_and_pad_values_are_checked_as_torch_checks_them(value: float, dtype: str) -> None:
    """Since the complex check went into ``check_fits``, linspace's ends and pad's value go through it too: a number
    beyond the dtype's range raises where torch raises (before, float16 gave inf), and otherwise pad's results
    agree."""
    torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
    for ours, theirs in [
        (lambda: tg.linspace(0.0, value, 3, dtype=getattr(np, dtype)),
         lambda: torch.linspace(0.0, value, 3, dtype=getattr(torch, dtype))),
        (lambda: F.pad(tg.zeros(2, dtype=getattr(np, dtype)), (1, 1), value=value),
         lambda: torch.nn.functional.pad(torch.zeros(2, dtype=getattr(torch, dtype)), (1, 1), value=value)),
    ]:
        try:
            want = theirs().numpy()
        except RuntimeError:
            with pytest.raises(OverflowError):
                ours()
        else:
            got = ours().numpy()
            if got.size == 4:  # the pad's values (linspace's rounding is tested with linspace)
                np.testing.assert_array_equal(got, want)
