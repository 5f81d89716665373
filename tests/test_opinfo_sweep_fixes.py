"""What a sweep of torch's OpInfo samples (fifty-first stop) found where torch raises and ours computes: the
results are checked here against finite differences or against the same call without ``out=`` (README:
"Differences from PyTorch")."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_adam as tg
from tinygrad_adam.autograd import gradcheck


def test_derivatives_where_torchs_backward_raises() -> None:
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((4, 4)), requires_grad=True)
    low, high = tg.tensor(np.full((1, 4, 4), -0.5)), tg.tensor(np.full((4, 4), 0.5))
    assert tg.clamp(x, low, high).shape == (1, 4, 4)  # the bounds broadcast x up
    assert gradcheck(lambda t: tg.clamp(t, low, high), (x,))
    b = tg.tensor([1.5, 2.0, -3.0, 0.7, 4.0], dtype=tg.float64, requires_grad=True)
    assert gradcheck(lambda t: tg.remainder(5.576, t), (b,))
    tg.remainder(5.576, b).sum().backward()
    assert b.grad.tolist() == [-3.0, -2.0, 2.0, -7.0, -1.0]  # -floor(5.576 / b)
    a = tg.arange(10.0, dtype=tg.float64, requires_grad=True)
    assert tg.narrow_copy(a, 0, -10, 10).tolist() == list(range(10))
    assert gradcheck(lambda t: tg.narrow_copy(t, 0, -6, 4), (a,))


def test_out_that_is_the_input_gives_the_result_without_out() -> None:
    a = tg.tensor([1.0, 2, 3, 4, 5, 6])
    mask = tg.tensor([1, 0, 1, 0, 1, 0]).bool()
    want = tg.masked_select(a.clone(), mask)
    with pytest.warns(UserWarning, match="resized"):  # (a non-empty out of another shape, as torch warns)
        assert tg.masked_select(a, mask, out=a) is a
    assert a.tolist() == want.tolist() == [1.0, 3.0, 5.0]
    a = tg.tensor([5.0, 1, 4, 2, 3, 9, 8, 7, 6, 0])
    values, indices = tg.kthvalue(a, 5, out=(a, tg.tensor(0)))
    assert values is a and a.tolist() == 4.0 and indices.tolist() == 2
