"""In-place ops whose operand is an alias of the tensor they write (its ``detach()``, a view of it), against torch.
Ours read the operand's values after the write in backward: ``x.mul_(x.detach())`` gave the gradient of x * x_new,
``x.mul_(x.view(3))`` and ``x.div_ / pow_ / lerp_`` with such an operand other wrong numbers, with no error; torch
raises there (the saved operand was modified in place), as ours now does. Where the op's gradient reads no operand
(``add_``, ``sub_``, ``copy_``), both differentiate; and ``flip`` / ``roll`` / ``repeat``, whose gradients read no
input, no longer raise when their input is written afterwards."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

ALIASES = {"detach": lambda x: x.detach(), "view": lambda x: x.view(x.shape), "slice": lambda x: x[:],
           "unsqueeze": lambda x: x.unsqueeze(0)[0], "data": lambda x: x.data}
OPS = {"mul_": lambda x, o: x.mul_(o), "div_": lambda x, o: x.div_(o), "add_": lambda x, o: x.add_(o),
       "sub_": lambda x, o: x.sub_(o, alpha=2), "pow_": lambda x, o: x.pow_(o), "copy_": lambda x, o: x.copy_(o * 3),
       "lerp_": lambda x, o: x.lerp_(o * 0 + 1, 0.25), "lerp_weight": lambda x, o: x.lerp_(o * 0, o),
       "maximum": lambda x, o: x.clamp_(min=o - 1), "atan2_": lambda x, o: x.atan2_(o),
       "mul_scaled": lambda x, o: x.mul_(o * 2), "masked_fill_": lambda x, o: x.masked_fill_(o > 2, 0.0)}
READERS = {"none": lambda x, lib: x, "flip": lambda x, lib: x.flip(0), "roll": lambda x, lib: x.roll(1, 0),
           "repeat": lambda x, lib: x.repeat(2)}


def program(lib: Any, w0: np.ndarray, alias: str, op: str, reader: str) -> Any:
    w = lib.tensor(w0, requires_grad=True)
    x = w * 1.5
    early = READERS[reader](x, lib)  # recorded before the write; its gradient reads no values
    try:
        OPS[op](x, ALIASES[alias](x))
        c = lib.tensor(np.linspace(1.0, 2.0, x.numel()).reshape(x.shape))
        ((x * c).sum() + (early * early.detach()).sum()).backward()
    except RuntimeError:
        return "RuntimeError"
    return w.grad.numpy()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(0.5, 3.0), min_size=1, max_size=5), st.sampled_from(sorted(ALIASES)),
       st.sampled_from(sorted(OPS)), st.sampled_from(sorted(READERS)))
def test_inplace_with_an_aliased_operand_matches_torch(w0: list[float], alias: str, op: str, reader: str) -> None:
    w = np.array(w0)
    ours, theirs = program(tg, w, alias, op, reader), program(torch, w, alias, op, reader)
    if isinstance(theirs, str) or isinstance(ours, str):
        assert isinstance(ours, str) and isinstance(theirs, str), (ours, theirs)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
