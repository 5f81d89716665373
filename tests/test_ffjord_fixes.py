"""What the FFJORD program (``tests/torch_style/ffjord.py``, rtqichen/ffjord's train_toy.py and lib/layers) met,
against torch 2.13.

- ``torch.tensor([0.0, self.sqrt_end_time * self.sqrt_end_time])`` (CNF's integration times, with a trainable
  T) reads a tensor that requires grad as a Python float: torch warns "Converting a tensor with requires_grad=True
  to a scalar may lead to unexpected behavior." (the same once-per-process warning as ``float(t)``, sharing its
  flag: in a fresh process, after either one, the other is silent), at any depth of the nest, only with grad mode
  on and for a floating result (an integer dtype reads it by ``__index__``: a float one raises TypeError, no
  warning). Ours did not warn (loud-level only: the numbers, and the new tensor's cut from the graph, were already
  torch's). Measured in fresh torch processes: ``tensor([0.0, p*p])`` then ``float(p*p)``: one warning;
  ``tensor([[p*p, 1.0]])``: one; under ``set_grad_enabled(False)``: none.

Mutations (each made by hand, the named test seen failing, then restored):
- creation.py's ``tensor`` without the ``warn_nested_grad(data)`` call: test_tensor_of_nested_grad_tensors_warns
- ``warn_nested_grad`` without its recursion into nested lists: test_tensor_of_nested_grad_tensors_warns
- methods.py's ``_float`` not calling ``warn_scalar_of_grad``: test_float_and_tensor_share_the_once_flag
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam import methods

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

MESSAGE = ("Reading a Python number from a tensor that requires grad drops it from the graph; detach() it first "
           "to say that is meant")
FLOATS = st.floats(allow_nan=False, width=32) | st.sampled_from([0.0, -0.0, 3.4e38, -1e-45, float("inf")])
# a leaf: (value, kind) with kind "number", "tensor" (no grad), "grad" (a leaf requiring grad), "computed" (p * 1)
LEAF = st.tuples(FLOATS, st.sampled_from(["number", "tensor", "grad", "computed"]))


def caught(fn) -> list[str]:
    """The warning messages' first lines raised while ``fn()`` runs."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fn()
    return [str(w.message).splitlines()[0] for w in seen]


def build(lib, nest):
    """The nest with each leaf made by ``lib``: a number, a 0-d tensor, a leaf Parameter or a computed tensor."""
    if isinstance(nest, list):
        return [build(lib, x) for x in nest]
    value, kind = nest
    if kind == "number":
        return value
    t = lib.tensor(value, requires_grad=kind != "tensor")
    return t * 1 if kind == "computed" else t


def needs_grad(nest) -> bool:
    return any(needs_grad(x) for x in nest) if isinstance(nest, list) else nest[1] in ("grad", "computed")


@settings(max_examples=60, deadline=None)
@given(st.lists(LEAF, min_size=1, max_size=3) | st.lists(st.lists(LEAF, min_size=2, max_size=2), min_size=1,
                                                          max_size=3),
       st.sampled_from([None, "float32", "float64"]), st.booleans())
def test_tensor_of_nested_grad_tensors_warns(nest: list, dtype: str | None, grad_mode: bool) -> None:
    """Ours (the once flag reset) warns exactly when torch's rule says, once, at the caller; the values, dtype and
    cut graph are torch's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's own, once per process)
        want = torch.tensor(build(torch, nest), dtype=None if dtype is None else getattr(torch, dtype))
    methods._float_warned[0] = False
    try:
        with tg.set_grad_enabled(grad_mode):
            data = build(tg, nest)
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                got = tg.tensor(data, dtype=dtype)
                again = tg.tensor(data, dtype=dtype)
    finally:
        methods._float_warned[0] = False
    expect = grad_mode and needs_grad(nest)
    assert [str(w.message).splitlines()[0] for w in seen] == [MESSAGE] * expect
    assert all(w.filename == __file__ for w in seen)
    assert str(got.dtype) == str(want.dtype).replace("torch.", "") and not got.requires_grad
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(again.numpy(), want.numpy())


def test_float_and_tensor_share_the_once_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    """As torch in a fresh process: after ``torch.tensor([0.0, p * p])`` has warned, ``float(p * p)`` does not, and
    the other way round; 0-d, empty and no-grad cases stay silent."""
    p = tg.nn.Parameter(tg.tensor(0.7))
    monkeypatch.setattr(methods, "_float_warned", [False])
    assert caught(lambda: tg.tensor([0.0, p * p])) == [MESSAGE]
    assert caught(lambda: float(p * p)) == [] and caught(lambda: tg.tensor([[p]])) == []
    monkeypatch.setattr(methods, "_float_warned", [False])
    assert caught(lambda: float(p * p)) == [MESSAGE] and caught(lambda: tg.tensor([p])) == []
    monkeypatch.setattr(methods, "_float_warned", [False])
    assert caught(lambda: (tg.tensor([]), tg.tensor([[], []]), tg.tensor([p.detach()]))) == []
    with tg.no_grad():
        assert caught(lambda: tg.tensor([p, 1.0])) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an integer dtype reads the tensor as an index: torch's TypeError, no warning
        with pytest.raises(TypeError, match="integer tensor with one element"):
            tg.tensor([1, p * 2], dtype=tg.int64)
    monkeypatch.setattr(methods, "_float_warned", [True])
    t = tg.tensor([0.0, p * p])
    assert t.tolist() == pytest.approx([0.0, 0.49]) and not t.requires_grad and t.grad_fn is None
