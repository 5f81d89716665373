"""What the legacy char-RNN program (``tests/torch_style/legacy_char_rnn.py``) met, against torch 2.13: 0.3-era code
clips with ``nn.utils.clip_grad_norm`` (no trailing underscore), which torch still has: a FutureWarning, then
``clip_grad_norm_`` (returned norm and clipped gradients compared, nan / inf / -0.0 / empty gradients included)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_torch_movement_names import arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def clip_old(lib: Any, grads: list[np.ndarray], single: bool, **kwargs: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    """``lib.nn.utils.clip_grad_norm`` over parameters whose gradients are ``grads``: (the norm, the gradients)."""
    params = [lib.zeros(g.shape, dtype=lib.float64, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = lib.tensor(g)
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        total = lib.nn.utils.clip_grad_norm(params[0] if single else params, **kwargs)
    assert str(total.dtype).removeprefix("torch.") == "float64"
    return total.detach().numpy(), [p.grad.numpy() for p in params]


@settings(max_examples=60, deadline=None)
@given(st.lists(arrays(), min_size=1, max_size=3), st.sampled_from([0.5, 1.0, 5.0]),
       st.sampled_from([1.0, 2.0, math.inf]), st.booleans())
def test_clip_grad_norm_old_spelling_matches_torch(grads: list[np.ndarray], max_norm: float, norm_type: float,
                                                   single: bool) -> None:
    grads = grads[:1] if single else grads
    kwargs = {"max_norm": max_norm, "norm_type": norm_type}
    if norm_type == math.inf and any(g.size == 0 for g in grads):  # a max over nothing: both raise
        for lib in (tg, torch):
            with pytest.raises(RuntimeError):
                clip_old(lib, grads, single, **kwargs)
        return
    (total, clipped), (want, expected) = clip_old(tg, grads, single, **kwargs), clip_old(torch, grads, single, **kwargs)
    np.testing.assert_allclose(total, want, rtol=1e-12, equal_nan=True)
    for got, ref in zip(clipped, expected):
        np.testing.assert_allclose(got, ref, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_clip_grad_norm_old_spelling_refuses_non_finite_as_torch(bad: float) -> None:
    for lib in (tg, torch):
        p = lib.zeros(2, requires_grad=True)
        p.grad = lib.tensor([1.0, bad])
        with pytest.warns(FutureWarning), pytest.raises(RuntimeError, match="error_if_nonfinite"):
            lib.nn.utils.clip_grad_norm([p], 1.0, error_if_nonfinite=True)
