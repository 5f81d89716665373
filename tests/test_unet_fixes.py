"""What the U-Net program (``tests/torch_style/unet.py``) needed, against torch 2.13: its log line formats 0-d
tensors, ``f"loss {loss:.4f}, grad norm {total_norm:.3f}"``, which raised TypeError here (``object.__format__``).
torch's ``Tensor.__format__`` formats a plain 0-d tensor's ``item()``; anything else (more dims, a Parameter)
formats as ``object`` does: ``str()`` for an empty spec, TypeError for any other.

And the rest of Python's and numpy's protocols that such programs meet and torch's Tensor has: ``abs(x)`` and
``+x`` (TypeError here before), ``x **= y``, ``x //= y``, ``x %= y`` in place (Python's fallback bound x to a new
tensor, so another name of the old one, or a view, silently kept the old values), and numpy's ``__array__``
(``np.asarray(t)`` and ``np.array([loss0, loss1])`` made object arrays of Tensors)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_torch_movement_names import arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

DTYPES = ["float16", "float32", "float64", "int32", "int64", "uint8", "bool"]
SPECS = ["", ".4f", ".3e", ".2g", "g", "+.1f", ">12.3f", "<8", "^9.2%", "d", ",", "_", "x", "05.1f", "s", "?"]
VALUES = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from(
    [0.0, -0.0, 1.0, -1.0, 0.5, 255.0, 1e-8, 12345.678, float("nan"), float("inf"), float("-inf")])


def formatted(x: Any, spec: str) -> str | type:
    """``format(x, spec)``, or the type of what it raised."""
    try:
        return format(x, spec)
    except (TypeError, ValueError) as error:
        return type(error)


def both(value: Any, dtype: str) -> tuple[Any, Any]:
    with np.errstate(invalid="ignore", over="ignore"):
        array = np.array(value).astype(dtype)
    return tg.tensor(array), torch.tensor(array)


@settings(max_examples=200, deadline=None)
@given(value=VALUES, dtype=st.sampled_from(DTYPES), spec=st.sampled_from(SPECS))
def test_format_of_a_0d_tensor_matches_torch(value: float, dtype: str, spec: str) -> None:
    ours, theirs = both(value, dtype)
    assert formatted(ours, spec) == formatted(theirs, spec)


@pytest.mark.parametrize("spec", [".4f", "d", ">10", "s"])
@pytest.mark.parametrize("shape", [(1,), (0,), (2, 3), (1, 1)])
def test_format_of_a_tensor_with_dims_raises_as_torch(shape: tuple[int, ...], spec: str) -> None:
    ours, theirs = both(np.ones(shape), "float32")
    assert formatted(ours, spec) is formatted(theirs, spec) is TypeError


def test_format_with_an_empty_spec_is_str_for_tensors_with_dims_and_parameters() -> None:
    for x in (tg.tensor([1.5, 2.0]), tg.zeros(0), tg.nn.Parameter(tg.tensor(1.5))):
        assert f"{x}" == format(x, "") == str(x)
    assert formatted(tg.nn.Parameter(tg.tensor(1.5)), ".2f") is formatted(torch.nn.Parameter(torch.tensor(1.5)),
                                                                          ".2f") is TypeError


def test_format_of_computed_and_buffer_tensors_matches_torch() -> None:
    """A result that requires grad, an integer buffer (BatchNorm's num_batches_tracked) and an f-string log line."""
    libs = {"ours": tg, "torch": torch}
    lines = {}
    for name, lib in libs.items():
        w = lib.tensor([0.25, -1.5], requires_grad=True)
        loss = (w * w).sum() / 3
        bn = lib.nn.BatchNorm2d(2)
        bn(lib.ones(2, 2, 3, 3))
        mean = bn.running_mean[0]
        lines[name] = f"loss {loss:.4f} ({loss:.2e}) steps {bn.num_batches_tracked:d} mean {mean:.3f} {loss}"
    assert lines["ours"] == lines["torch"] == "loss 0.7708 (7.71e-01) steps 1 mean 0.100 0.7708333134651184"


def outcome(lib: Any, fn: Any, *args: Any) -> Any:
    """``fn(lib, *args)`` as a numpy array (with its dtype), or "raises"."""
    try:
        out = fn(lib, *args)
    except (RuntimeError, TypeError, ValueError, NotImplementedError, ZeroDivisionError):
        return "raises"
    return np.asarray(out.detach().numpy() if hasattr(out, "detach") else out)


def agree(fn: Any, *arrays_: np.ndarray) -> None:
    """The same values (floats within an ulp or two: torch's pow(x, 3) is x * x * x), or both raise."""
    ours, theirs = outcome(tg, fn, *arrays_), outcome(torch, fn, *arrays_)
    if isinstance(theirs, str) or isinstance(ours, str):
        assert str(ours) == str(theirs), (ours, theirs)
    else:
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=3e-7 if ours.dtype.kind == "f" else 0, atol=0)


NUMBERS = st.floats(-20, 20, width=32) | st.sampled_from([0.0, -0.0, 3.0, -3.0, float("nan"), float("inf"),
                                                            -float("inf")])
ARRAY_DTYPES = st.sampled_from(["float32", "float64", "int64", "int32", "uint8", "bool"])


def typed(x: np.ndarray, dtype: str) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return np.nan_to_num(x, nan=1, posinf=5, neginf=-5).astype(dtype) if dtype[0] in "ib" + "u" else x.astype(dtype)


@settings(max_examples=60, deadline=None)
@given(x=arrays(elements=NUMBERS), dtype=ARRAY_DTYPES)
def test_abs_and_unary_plus_match_torch(x: np.ndarray, dtype: str) -> None:
    x = typed(x, dtype)
    if dtype == "bool":  # torch has no abs for bool (NotImplementedError); ours raises too (TypeError)
        for lib in (torch, tg):
            with pytest.raises((NotImplementedError, TypeError)):
                abs(lib.tensor(x))
    else:
        agree(lambda lib, a: abs(lib.tensor(a)), x)
    agree(lambda lib, a: +lib.tensor(a), x)
    t = tg.tensor(x)
    assert dtype == "bool" or (+t) is t  # torch's positive returns its input


IN_PLACE = {"**=": lambda a, b: a.__ipow__(b), "//=": lambda a, b: a.__ifloordiv__(b),
            "%=": lambda a, b: a.__imod__(b)}


@pytest.mark.parametrize("op", sorted(IN_PLACE))
@settings(max_examples=40, deadline=None)
@given(x=arrays(min_dims=1, elements=NUMBERS), y=NUMBERS | st.integers(-3, 3), dtype=ARRAY_DTYPES,
       as_tensor=st.booleans())
def test_in_place_power_floor_division_and_remainder_write_into_the_tensor_as_torch(
        op: str, x: np.ndarray, y: float, dtype: str, as_tensor: bool) -> None:
    """``x op= y``: torch's values (or its refusal: an int tensor to a negative power, a float result into an int
    tensor, an integer division by zero), written into x itself, so a view of it sees them."""
    x = typed(x, dtype)

    def run(lib: Any, a: np.ndarray) -> Any:
        t = lib.tensor(a.copy())
        view, same = t[..., :1], t
        with np.errstate(all="ignore"):
            same = IN_PLACE[op](same, lib.tensor(y) if as_tensor else y)
        assert same is t
        return lib.stack([t.flatten()[:1], view.flatten()[:1]]) if t.numel() else t
    if op == "**=" and dtype[0] in "iu" and type(y) is int and y < 0 and (
            x.size == 0 or isinstance(outcome(tg, run, x), str)):
        return  # an integer tensor to a negative integer power: ours refuses where torch answers a tensor exponent
        # (0 ** -1 is 0), and answers an empty tensor where torch refuses a number exponent
    agree(run, x)


@pytest.mark.parametrize("op", ["**=", "%="])
@settings(max_examples=30, deadline=None)
@given(x=arrays(min_dims=1, elements=st.floats(0.5, 4, width=32)))
def test_in_place_power_and_remainder_gradients_match_torch(op: str, x: np.ndarray) -> None:
    grads = []
    for lib in (tg, torch):
        leaf = lib.tensor(x, requires_grad=True)
        y = leaf * 1.5
        y = IN_PLACE[op](y, 1.7)
        (y * y).sum().backward()
        grads.append(leaf.grad.numpy())
    np.testing.assert_allclose(*grads, rtol=1e-5, atol=1e-6)


def test_in_place_power_of_a_leaf_that_requires_grad_raises_as_torch() -> None:
    for lib in (tg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError):
            x **= 2


@settings(max_examples=60, deadline=None)
@given(x=arrays(elements=NUMBERS), dtype=ARRAY_DTYPES)
def test_numpy_array_protocol_matches_torch(x: np.ndarray, dtype: str) -> None:
    x = typed(x, dtype)
    ours, theirs = np.asarray(tg.tensor(x)), np.asarray(torch.tensor(x))
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)
    if x.ndim:
        np.testing.assert_array_equal(np.array(list(tg.tensor(x))), np.array(list(torch.tensor(x))))  # 0-d rows
    np.testing.assert_array_equal(np.asarray(tg.tensor(x), dtype=np.float64), np.asarray(torch.tensor(x), np.float64))


def test_numpy_array_protocol_shares_memory_and_follows_numpys_copy_rules() -> None:
    t = tg.tensor([1.0, 2.0, 3.0])
    view = np.asarray(t)
    view[0] = 5.0  # the tensor's own array, as torch's numpy()
    assert t.tolist() == [5.0, 2.0, 3.0]
    assert np.asarray(t, copy=False) is t._data and np.array(t, copy=True) is not t._data
    with pytest.raises(ValueError, match="without a copy"):
        np.asarray(t, dtype=np.float64, copy=False)
    losses = [tg.tensor(0.5), tg.tensor(0.25)]
    assert np.mean(losses) == 0.375 and np.array(losses).dtype == np.float32  # a list of 0-d losses, as torch's
    assert isinstance(np.float64(2.0) * t, tg.Tensor) and isinstance(np.ones(3) + t, tg.Tensor)  # still ours


@pytest.mark.gpu
def test_numpy_array_protocol_copies_from_the_gpu() -> None:
    t = tg.tensor([1.0, 2.0], device="cuda")
    host = np.asarray(t)
    assert type(host) is np.ndarray and host.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="without a copy"):
        np.asarray(t, copy=False)
    assert abs(tg.tensor([-1.5], device="cuda")).device == "cuda:0"


@pytest.mark.parametrize("op", [lambda a, b: a // b, lambda a, b: a % b, lambda a, b: a.fmod(b),
                                lambda a, b: a.div(b, rounding_mode="trunc"), lambda a, b: a.__ifloordiv__(b)])
@pytest.mark.parametrize("shapes", [((0,), ()), ((0, 2), (2,)), ((2, 0), (2, 1)), ((2,), (0, 1))])
def test_integer_division_by_zero_of_an_empty_result_divides_nothing_as_torch(op: Any, shapes: tuple) -> None:
    """torch checks the divisors it uses: an empty result raises nothing (a non-empty one still does)."""
    a, b = np.ones(shapes[0], np.int64), np.zeros(shapes[1], np.int64)
    agree(lambda lib, x: op(lib.tensor(x), lib.tensor(b)), a)
    assert outcome(tg, lambda lib, x: op(lib.tensor(x), lib.tensor(np.zeros(1, np.int64))), np.ones(2, np.int64)) \
        == "raises"
