"""What the BERT masked-LM program (``tests/torch_style/bert_mlm.py``) met, against torch 2.13: HF's
``register_buffer("position_ids", torch.arange(n).expand((1, -1)))``. An ``expand`` that repeats no element (it only
adds dims of size 1) is, in torch, a view that can be written; ours was numpy's read-only broadcast, so
``load_state_dict`` (which copies into each buffer) and any in-place write through it raised "assignment destination
is read-only". Now such an expand is a writable view of its base; one that repeats elements stays read-only.

Mutation run (each fails the tests named):
- ``ops/movement.py`` broadcast_to: the ``out.flags.writeable = True`` line removed -> the first two tests fail (the
  third, a write under autograd, takes the graph's own path and guards that it still matches torch)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

VALUES = st.sampled_from([0.0, -0.0, 1.5, -2.0, np.nan, np.inf, -np.inf, 1e38])


@settings(deadline=None, max_examples=40)
@given(st.lists(st.integers(0, 3), min_size=0, max_size=3), st.integers(1, 3), st.booleans(), VALUES,
       st.sampled_from(["float32", "float64", "int64"]))
def test_write_through_an_expand_of_size_one_dims(shape: list, lead: int, minus_one: bool, value: float,
                                                  dtype: str) -> None:
    """``x.expand((1,) * lead + shape)`` (or with -1s) written in place: the write reaches x, as in torch."""
    if dtype == "int64":
        value = 0 if not np.isfinite(value) or abs(value) > 1e9 else int(value)
    base = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    sizes = (1,) * lead + (tuple(-1 for _ in shape) if minus_one else tuple(shape))
    results = []
    for lib in (torch, tg):
        x = lib.tensor(base.copy())
        view = x.expand(sizes)
        view.fill_(value)
        if view.numel():
            view[(0,) * view.ndim] = 7
        results.append((x.numpy().copy(), view.numpy().copy(), tuple(view.shape)))
    (x_ours, v_ours, s_ours), (x_torch, v_torch, s_torch) = results[1], results[0]
    assert s_ours == s_torch
    np.testing.assert_array_equal(x_ours, x_torch)
    np.testing.assert_array_equal(v_ours, v_torch)


def test_position_ids_buffer_loads_and_expand_as_stays_a_view() -> None:
    """HF's position_ids buffer: ``load_state_dict`` copies into it, the model's buffer stays (1, n) int64."""
    for lib in (torch, tg):
        class Emb(lib.nn.Module):
            def __init__(self, lib) -> None:
                super().__init__()
                self.register_buffer("position_ids", lib.arange(6).expand((1, -1)))

        model = Emb(lib)
        model.load_state_dict({"position_ids": lib.tensor([[5, 4, 3, 2, 1, 0]])})
        assert model.position_ids.shape == (1, 6) and model.position_ids.dtype == lib.int64
        assert model.position_ids[:, :4].tolist() == [[5, 4, 3, 2]]
        ids = lib.arange(4).unsqueeze(0).expand_as(lib.zeros(1, 4))
        ids.add_(1)
        assert ids.tolist() == [[1, 2, 3, 4]]


def test_expand_under_autograd_matches_torch() -> None:
    """A write through a size-1 expand of a non-leaf, then backward: the gradient reaches the leaf as in torch; an
    expand that repeats elements still refuses the write while a graph is recorded (torch's error)."""
    grads = []
    for lib in (torch, tg):
        leaf = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        x = leaf * 2
        x.expand(1, 3).mul_(lib.tensor([[3.0, 1.0, 2.0]]))
        (x * x).sum().backward()
        grads.append(leaf.grad.numpy())
        y = leaf * 2
        with pytest.raises(RuntimeError, match="single memory location" if lib is torch else "overlapping memory"):
            y.expand(2, 3).mul_(2.0)
    np.testing.assert_array_equal(grads[1], grads[0])
