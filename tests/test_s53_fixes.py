"""Fixes of the fifty-third stop: exception classes torch's callers catch, and what its helpers' sweeps found."""
from collections.abc import Callable

import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference these fixes are compared with")


@pytest.mark.parametrize("call", [
    lambda T: T.tensor(1.0).diagonal(),
    lambda T: T.ones(3).diagonal(),
    lambda T: T.take_along_dim(T.tensor(1.0), T.tensor(0), 0),
    lambda T: T.ones(2, 3).permute(0, 2),
    lambda T: T.ones(2, 3).permute(-3, 1),
    lambda T: T.nn.functional.cross_entropy(T.ones(2, 3), T.tensor([0, 5])),
    lambda T: T.nn.functional.nll_loss(T.ones(2, 3), T.tensor([0, -2])),
], ids=["diagonal-0d", "diagonal-1d", "take_along_dim-0d", "permute", "permute-negative", "cross_entropy",
        "nll_loss"])
def test_index_errors_where_torch_raises_index_error(call: Callable) -> None:
    """A dim or class index out of range raises IndexError as in torch (ours raised only ValueError, which it still
    is, so callers of either kind keep working)."""
    with pytest.raises(IndexError):
        call(torch)
    with pytest.raises(IndexError) as info:
        call(tg)
    assert isinstance(info.value, ValueError)
