"""Integer and bool inputs to softmax, the losses and logsumexp, against torch 2.13: where torch has no integer
kernel ours raises too (it computed, in float64 or float32, answers torch never gives: ``cross_entropy`` of int64
logits was a float64 loss), and ``logsumexp`` of integers is float32, as torch's (it was float64)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

INT = np.array([[1, 2], [3, 4]])
FLOAT = INT.astype(np.float32)
BOOL = np.array([[True, False], [False, True]])
CLASSES = np.array([0, 1])


def fn(lib: Any) -> Any:
    return lib.nn.functional


# name: (lib, x) -> result; x is INT, FLOAT or BOOL as the case says (and "refused": torch raises)
REFUSED: dict[str, Callable[[Any, Any], Any]] = {
    "cross_entropy": lambda lib, t: fn(lib).cross_entropy(t(INT), t(CLASSES)),
    "cross_entropy none": lambda lib, t: fn(lib).cross_entropy(t(INT), t(CLASSES), reduction="none"),
    "cross_entropy smoothing": lambda lib, t: fn(lib).cross_entropy(t(INT), t(CLASSES), label_smoothing=0.1),
    "cross_entropy weight": lambda lib, t: fn(lib).cross_entropy(t(INT), t(CLASSES), weight=t(FLOAT[0])),
    "cross_entropy probs": lambda lib, t: fn(lib).cross_entropy(t(INT), t(FLOAT / 10)),
    "CrossEntropyLoss": lambda lib, t: lib.nn.CrossEntropyLoss()(t(INT), t(CLASSES)),
    "nll_loss": lambda lib, t: fn(lib).nll_loss(t(INT), t(CLASSES)),
    "nll_loss weight": lambda lib, t: fn(lib).nll_loss(t(INT), t(CLASSES), weight=t(FLOAT[0])),
    "nll_loss ignore_index": lambda lib, t: fn(lib).nll_loss(t(INT), t(CLASSES), ignore_index=1),
    "softmax": lambda lib, t: fn(lib).softmax(t(INT), dim=1),
    "softmax bool": lambda lib, t: fn(lib).softmax(t(BOOL), dim=1),
    "softmax method": lambda lib, t: t(INT).softmax(1),
    "log_softmax": lambda lib, t: fn(lib).log_softmax(t(INT), dim=1),
    "softmin": lambda lib, t: fn(lib).softmin(t(INT), dim=1),
    "kl_div int input": lambda lib, t: fn(lib).kl_div(t(INT), t(FLOAT)),
    "kl_div int target": lambda lib, t: fn(lib).kl_div(t(FLOAT), t(INT)),
    "kl_div bool target": lambda lib, t: fn(lib).kl_div(t(FLOAT), t(BOOL)),
    "torch.kl_div": lambda lib, t: lib.kl_div(t(INT), t(FLOAT)),
    "binary_cross_entropy": lambda lib, t: fn(lib).binary_cross_entropy(t(BOOL).long(), t(BOOL).long()),
    "binary_cross_entropy_with_logits": lambda lib, t: fn(lib).binary_cross_entropy_with_logits(t(INT), t(FLOAT)),
    "smooth_l1_loss": lambda lib, t: fn(lib).smooth_l1_loss(t(INT), t(INT)),
    "huber_loss": lambda lib, t: fn(lib).huber_loss(t(INT), t(INT)),
    "huber_loss int input": lambda lib, t: fn(lib).huber_loss(t(INT), t(FLOAT)),
    "hinge_embedding_loss": lambda lib, t: fn(lib).hinge_embedding_loss(t(INT), t(INT)),
    "multi_margin_loss": lambda lib, t: fn(lib).multi_margin_loss(t(INT), t(CLASSES)),
    "gelu": lambda lib, t: fn(lib).gelu(t(INT)),
}
TAKEN: dict[str, Callable[[Any, Any], Any]] = {  # the same calls where torch computes: same dtype and values
    "cross_entropy": lambda lib, t: fn(lib).cross_entropy(t(FLOAT), t(CLASSES)),
    "softmax dtype=": lambda lib, t: fn(lib).softmax(t(INT), dim=1, dtype=lib.float32),
    "log_softmax dtype=": lambda lib, t: fn(lib).log_softmax(t(INT), dim=1, dtype=lib.float64),
    "kl_div": lambda lib, t: fn(lib).kl_div(t(FLOAT), t(FLOAT / 10), reduction="batchmean"),
    "smooth_l1_loss int input": lambda lib, t: fn(lib).smooth_l1_loss(t(INT), t(FLOAT)),
    "smooth_l1_loss int target": lambda lib, t: fn(lib).smooth_l1_loss(t(FLOAT), t(INT)),
    "huber_loss int target": lambda lib, t: fn(lib).huber_loss(t(FLOAT), t(INT)),
    "hinge_embedding_loss int target": lambda lib, t: fn(lib).hinge_embedding_loss(t(FLOAT), t(INT)),
    "relu": lambda lib, t: fn(lib).relu(t(INT)),
}


def tensor_of(lib: Any) -> Callable[[np.ndarray], Any]:
    return lambda a: lib.tensor(a.copy())


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_where_torch_refuses(name: str) -> None:
    with pytest.raises((RuntimeError, NotImplementedError)):
        REFUSED[name](torch, tensor_of(torch))
    with pytest.raises(TypeError, match="not implemented for dtype"):
        REFUSED[name](tg, tensor_of(tg))


@pytest.mark.parametrize("name", sorted(TAKEN))
def test_taken_where_torch_takes(name: str) -> None:
    want, got = TAKEN[name](torch, tensor_of(torch)), TAKEN[name](tg, tensor_of(tg))
    assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(st.sampled_from([np.int64, np.int32, np.int8, np.uint8, np.bool_]),
                    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)),
       keepdim=st.booleans(), data=st.data())
def test_logsumexp_of_integers_is_float32_as_torch(x: np.ndarray, keepdim: bool, data: st.DataObject) -> None:
    """float32 whatever the integer type (was float64), values and the reduced shape as torch's."""
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1)) if x.ndim else 0
    want = torch.tensor(x).logsumexp(dim, keepdim)
    got = tg.tensor(x).logsumexp(dim, keepdim)
    assert got.dtype == np.float32 and want.dtype == torch.float32 and got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
