"""What the PyTorch-YOLOv3 program (``tests/torch_style/yolov3.py``) met, against torch 2.13:

- ``self.yolo_layers = [layer[0] for layer in self.module_list if isinstance(layer[0], YOLOLayer)]``: a plain list
  of modules already held deeper in a registered child (``module_list.7.yolo_7``). Torch ignores the list; ours
  registered its items again (a documented difference for lists, but here the modules have names already), so
  ``state_dict`` had extra ``yolo_layers.i.anchors`` keys, torch's initial weights / checkpoints did not load
  (strict: unexpected keys missing), and ``named_modules`` listed them twice. Loud (load_state_dict raised), but a
  saved checkpoint silently carried the duplicate buffers.

Mutations run (each made its test fail, then was reverted):
- ``_members`` without the ``id(item) not in deep`` condition: test_list_of_nested_modules_is_not_registered_again
  fails (and the yolov3 program test, its initial weights no longer loading).
- ``_reachable`` not walking into the modules it meets (only the roots): the two tests here fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def darknet_like(lib: object, n: int, picks: list[int], params_too: bool) -> object:
    """A ModuleList of Sequentials (a Linear, and a buffer-holding head each), a plain list of some heads picked out
    of it (Darknet's ``yolo_layers``), optionally a plain list of some of the Linears' Parameters too."""
    nn = lib.nn

    class Head(nn.Module):
        def __init__(self, i: int) -> None:
            super().__init__()
            self.register_buffer("anchors", lib.full((2,), float(i)))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module_list = nn.ModuleList(nn.Sequential(nn.Linear(2, 2), Head(i)) for i in range(n))
            self.heads = [self.module_list[i][1] for i in picks]
            if params_too:
                self.weights = [self.module_list[i][0].weight for i in picks]
            self.notes = [1, "x"]

    lib.manual_seed(0)
    return Net()


@settings(deadline=None, max_examples=25)
@given(n=st.integers(0, 4), data=st.data(), params_too=st.booleans())
def test_list_of_nested_modules_is_not_registered_again(n: int, data: st.DataObject, params_too: bool) -> None:
    picks = data.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=n))
    theirs, ours = darknet_like(torch, n, picks, params_too), darknet_like(tg, n, picks, params_too)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    assert [k for k, _ in ours.named_modules()] == [k for k, _ in theirs.named_modules()]
    assert [k for k, _ in ours.named_buffers()] == [k for k, _ in theirs.named_buffers()]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})  # torch's weights load, strict
    for name, value in theirs.state_dict().items():
        assert np.array_equal(ours.state_dict()[name].numpy(), value.numpy()), name


def test_list_of_unheld_modules_is_still_registered() -> None:
    """The documented difference stays: a plain list of modules nothing else holds is registered here."""
    class Net(tg.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = tg.nn.Sequential(tg.nn.Linear(2, 2))
            self.layers = [tg.nn.Linear(2, 3), self.inner[0]]

    assert list(Net().state_dict()) == ["inner.0.weight", "inner.0.bias", "layers.0.weight", "layers.0.bias"]
