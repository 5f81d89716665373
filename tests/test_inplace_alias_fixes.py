"""In-place ops whose operand is an alias of the tensor they write (its ``detach()``, a view of it), against torch.
Ours read the operand's values after the write in backward: ``x.mul_(x.detach())`` gave the gradient of x * x_new,
``x.mul_(x.view(3))`` and ``x.div_ / pow_ / lerp_`` with such an operand other wrong numbers, with no error; torch
raises there (the saved operand was modified in place), as ours now does. Where the op's gradient reads no operand
(``add_``, ``sub_``, ``copy_``, ``lerp_`` with a number weight, ``addcmul_`` of two constants), both differentiate;
and ``flip`` / ``roll`` / ``repeat``, whose gradients read no
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
       "mul_scaled": lambda x, o: x.mul_(o * 2), "masked_fill_": lambda x, o: x.masked_fill_(o > 2, 0.0),
       "lerp_end": lambda x, o: x.lerp_(o, 0.25), "addcmul_": lambda x, o: x.addcmul_(o, o, value=0.5),
       "addcdiv_": lambda x, o: x.addcdiv_(o, o * 0 + 2), "addcdiv_by": lambda x, o: x.addcdiv_(o * 0 + 2, o)}
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


LATER = {"add_": lambda x, y, lib: x.add_(y, alpha=0.5), "sub_": lambda x, y, lib: x.sub_(y),
         "copy_": lambda x, y, lib: x.copy_(y), "setitem": lambda x, y, lib: x.__setitem__(slice(0, 2), y[:2]),
         "fill_": lambda x, y, lib: x.fill_(y[0]), "mul_": lambda x, y, lib: x.mul_(y),
         "mul_constant": lambda x, y, lib: x.mul_(y.detach()), "div_constant": lambda x, y, lib: x.div_(y.detach()),
         "lerp_": lambda x, y, lib: x.lerp_(y, 0.5), "lerp_weight": lambda x, y, lib: x.lerp_(y, y.detach() / 9),
         "addcmul_": lambda x, y, lib: x.addcmul_(y, y.detach()),
         "addcdiv_": lambda x, y, lib: x.addcdiv_(y.detach(), y.detach() + 5),
         "index_put_": lambda x, y, lib: x.index_put_((lib.tensor([0, 2]),), y[:2]),
         "masked_scatter_": lambda x, y, lib: x.masked_scatter_(lib.tensor([True, False, True]), y),
         "masked_fill_": lambda x, y, lib: x.masked_fill_(lib.tensor([True, False, True]), y[0]),
         "where": lambda x, y, lib: x.copy_(lib.where(y > 3, y, 0.0)), "cast": lambda x, y, lib: x.copy_(y.float())}


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=3), st.sampled_from(sorted(LATER)))
def test_an_operand_written_after_the_op_raises_only_where_torch_does(w0: list[float], op: str) -> None:
    """``x.add_(y); y.mul_(3)``: the in-place op's node read y's values (ours raised) only where its out-of-place
    twin's gradient does; add_, sub_, copy_, x[i] = y, fill_, masked_fill_ / masked_scatter_, where and casts read
    none, and differentiate as torch's."""
    def run(lib: Any) -> Any:
        w = lib.tensor(np.array(w0), requires_grad=True)
        x, y = w * 1, w * 2
        try:
            LATER[op](x, y, lib)
            y.mul_(3)
            (x * lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)).sum().backward()
        except RuntimeError:
            return "RuntimeError"
        return w.grad.numpy()
    ours, theirs = run(tg), run(torch)
    if isinstance(theirs, str) or isinstance(ours, str):
        assert isinstance(ours, str) and isinstance(theirs, str), (ours, theirs)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
