"""Fixes found by porting pytorch-tabnet (``tests/torch_style/tabnet.py``), each checked against torch.

Mutations run (each made the test below fail, then was reverted):
- ``Module.state_dict`` building a plain ``{}`` again: test_state_dict_is_an_ordered_dict_as_torchs fails.
- ``function._input_grads`` without the trailing-None trim: test_backward_may_return_extra_trailing_nones fails.
"""

from __future__ import annotations

from collections import OrderedDict

import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def scale_function(lib: object, extra: tuple) -> type:
    """sparsemax.py's shape: ``forward(ctx, input, dim=-1)`` whose backward returns ``(grad, None)`` plus ``extra``."""
    class Scale(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, dim=-1):
            return x * 3

        @staticmethod
        def backward(ctx, grad):
            return (grad * 3, None, *extra)
    return Scale


@pytest.mark.parametrize(("args", "extra"), [((), ()), ((), (None,)), ((0,), (None, None)), ((0,), ())])
def test_backward_may_return_extra_trailing_nones(args: tuple, extra: tuple) -> None:
    """torch drops gradients past forward's arguments when all of them are None: ``sparsemax(x)`` with ``dim`` left
    at its default returns ``(grad, None)`` for one argument. Ours raised "incorrect number of gradients"."""
    grads = []
    for lib in (torch, tg):
        x = lib.ones(2, requires_grad=True)
        scale_function(lib, extra).apply(x * 1, *args).sum().backward()
        grads.append(x.grad.numpy().tolist())
    assert grads[0] == grads[1] == [3.0, 3.0]


@pytest.mark.parametrize("extra", [(1.0,), (None, 1.0)])
def test_backward_with_an_extra_non_none_gradient_raises_as_torch(extra: tuple) -> None:
    for lib in (torch, tg):
        x = lib.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="incorrect number of gradients" if lib is torch else "gradients where"):
            scale_function(lib, extra).apply(x * 1).sum().backward()


def net(lib: object) -> object:
    return lib.nn.Sequential(lib.nn.Linear(3, 2), lib.nn.BatchNorm1d(2), lib.nn.ModuleList([lib.nn.Linear(2, 1)]))


def test_state_dict_is_an_ordered_dict_as_torchs() -> None:
    """torch's ``state_dict()`` is an OrderedDict: code that reorders or pops its entries (``move_to_end``,
    ``popitem(last=False)``) ran on torch's and raised AttributeError / TypeError on our plain dict."""
    ours, theirs = net(tg).state_dict(), net(torch).state_dict()
    assert type(ours) is type(theirs) is OrderedDict and list(ours) == list(theirs)
    for sd in (ours, theirs):
        sd.move_to_end("0.weight")
        first, _ = sd.popitem(last=False)
        assert first == "0.bias"
    assert list(ours) == list(theirs)
    mine = {}  # a destination given is filled and returned as it is, as torch's
    assert net(tg).state_dict(destination=mine, prefix="m.") is mine and next(iter(mine)) == "m.0.weight"
    assert type(net(tg).state_dict(keep_vars=True)) is OrderedDict
