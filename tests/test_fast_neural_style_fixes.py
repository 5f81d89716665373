"""What the fast neural style program (``tests/torch_style/fast_neural_style.py``) met, against torch 2.13: copying a
Tensor through ``torch.tensor(t)`` or ``x.new_tensor(t)`` (``utils.normalize_batch`` spells its constants
``batch.new_tensor([...])``; handed a tensor, the same call copies it). torch warns (UserWarning: copy construct
from a tensor, use ``sourceTensor.detach().clone()``); ours copied silently. The copy itself was already right, and
still is: new_tensor takes x's dtype and device, tensor keeps the source's dtype, neither is in the graph.
``as_tensor``, ``Tensor(t)``, ``x.new(t)`` and lists of 0-d tensors stay silent, as in torch.

Mutations run (each made the tests here fail, then was restored):
- ``creation.tensor`` without its ``warn_copy_construct`` call
- ``methods.new_tensor`` without its ``warn_copy_construct`` call
- ``methods.new_tensor`` passing the Tensor on to ``tensor`` (a second warning, naming ``torch.tensor``)"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

DTYPES = ("float32", "float64", "int64", "int32", "uint8", "bool")
VALUES = st.sampled_from([0.0, -0.0, 1.5, -7.0, 3e38, np.nan, np.inf, -np.inf])
COPIES: dict[str, Callable] = {
    "tensor": lambda lib, t, like: lib.tensor(t),
    "tensor_dtype": lambda lib, t, like: lib.tensor(t, dtype=lib.float64),
    "new_tensor": lambda lib, t, like: like.new_tensor(t),
    "new_tensor_grad": lambda lib, t, like: like.new_tensor(t, requires_grad=True),
}
SILENT: dict[str, Callable] = {
    "as_tensor": lambda lib, t, like: lib.as_tensor(t),
    "list_of_0d": lambda lib, t, like: lib.tensor([t.detach().reshape(-1)[0]] * 2) if t.numel() else t.detach(),
    "new_list": lambda lib, t, like: like.new_tensor([1.0, 2.0]),
    "new_array": lambda lib, t, like: like.new_tensor(t.detach().numpy()),
}


def copy_with_warnings(lib: object, make: Callable, source: np.ndarray, requires_grad: bool) -> tuple:
    t = lib.tensor(source)
    if requires_grad:
        t.requires_grad_(True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = make(lib, t, lib.zeros(2, dtype=lib.float32))
    return out, [(w.category, "copy construct" in str(w.message)) for w in caught]


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(sorted(COPIES) + sorted(SILENT)), st.sampled_from(DTYPES),
       st.lists(VALUES, max_size=4), st.booleans(), st.booleans())
def test_copying_a_tensor_warns_as_torch(name: str, dtype: str, values: list, zero_d: bool, grad: bool) -> None:
    data = np.array(values[0] if zero_d and values else values)
    with np.errstate(invalid="ignore", over="ignore"):
        source = np.nan_to_num(data, nan=0, posinf=9, neginf=-9).astype(dtype) if dtype[0] in "iub" else \
            data.astype(dtype)
    grad = grad and dtype.startswith("float")
    make = {**COPIES, **SILENT}[name]
    theirs, want = copy_with_warnings(torch, make, source, grad)
    ours, got = copy_with_warnings(tg, make, source, grad)
    assert got == want and (want == [(UserWarning, True)]) == (name in COPIES)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    assert tuple(ours.shape) == tuple(theirs.shape) and ours.requires_grad == theirs.requires_grad
    assert ours.grad_fn is None or name == "as_tensor"
    np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())


def test_the_copy_does_not_share_memory() -> None:
    source = tg.ones(3)
    with pytest.warns(UserWarning, match="copy construct"):
        copied = tg.zeros(1).new_tensor(source)
    source.add_(1)
    np.testing.assert_array_equal(copied.numpy(), np.ones(3, np.float32))
