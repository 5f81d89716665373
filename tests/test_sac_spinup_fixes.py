"""Fixes found by porting Spinning Up's SAC (``tests/torch_style/sac_spinup.py``): ``copy.deepcopy`` of a Parameter,
against torch.

torch's ``Parameter.__deepcopy__`` makes a new Parameter of the same class on a clone of the data with the same
``requires_grad``, and nothing else: the copy has no ``.grad`` and none of the attributes set on the original. Ours
copied the whole object, gradient included, so a target network or a "best model" snapshot taken by
``deepcopy(model)`` after a backward carried the live model's gradients: an optimizer over the copy then stepped
with them where torch's skips parameters without a gradient (a silently different number).

Mutations run (each made the named test fail, then was restored):
- ``Parameter.__deepcopy__`` removed (nn/module.py): test_deepcopied_parameter_drops_grad_and_attributes,
  test_optimizer_over_a_copy_taken_mid_training
- ``UninitializedTensorMixin.__deepcopy__ = None`` removed: test_lazy_module_deepcopy_stays_uninitialized
- ``self.requires_grad`` replaced by ``True`` in it: test_deepcopied_parameter_drops_grad_and_attributes
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


@pytest.mark.parametrize("requires_grad", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_deepcopied_parameter_drops_grad_and_attributes(requires_grad: bool, dtype: str) -> None:
    copies = []
    for lib in (torch, tg):
        p = lib.nn.Parameter(lib.tensor([1.0, -2.0], dtype=getattr(lib, dtype)), requires_grad=requires_grad)
        p.grad = lib.ones(2, dtype=getattr(lib, dtype))
        p.tag = "kept?"
        c = copy.deepcopy(p)
        c.data.mul_(3)  # a copy of the data, not a view of it
        copies.append((type(c).__name__, c.grad is None, hasattr(c, "tag"), c.requires_grad, c.is_leaf,
                       str(c.dtype).removeprefix("torch."), c.detach().numpy().tolist(), p.detach().numpy().tolist()))
    assert copies[1] == copies[0]
    assert copies[0][:3] == ("Parameter", True, False)


def test_optimizer_over_a_copy_taken_mid_training() -> None:
    """A target net deep-copied after a backward, stepped by its own optimizer with no backward of its own: torch's
    copy has no grads, so the step changes nothing (ours stepped with the live net's gradients)."""
    weights = np.array([[0.5, -1.0], [2.0, 0.25]], np.float32)
    finals = []
    for lib in (torch, tg):
        net = lib.nn.Linear(2, 2, bias=False)
        with lib.no_grad():
            net.weight.copy_(lib.tensor(weights))
        net(lib.ones(3, 2)).pow(2).sum().backward()
        target = copy.deepcopy(net)
        lib.optim.SGD(target.parameters(), lr=0.1).step()
        finals.append((target.weight.grad is None, net.weight.grad is not None, target.weight.detach().numpy()))
    assert finals[0][:2] == finals[1][:2] == (True, True)
    np.testing.assert_array_equal(finals[1][2], finals[0][2])
    np.testing.assert_array_equal(finals[1][2], weights)


def test_deepcopy_keeps_tied_parameters_tied() -> None:
    for lib in (torch, tg):
        model = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Linear(2, 2))
        model[1].weight = model[0].weight
        clone = copy.deepcopy(model)
        assert clone[1].weight is clone[0].weight and clone[0].weight is not model[0].weight


def test_lazy_module_deepcopy_stays_uninitialized() -> None:
    clone = copy.deepcopy(tg.nn.LazyLinear(3))
    assert isinstance(clone.weight, tg.nn.parameter.UninitializedParameter)
    assert clone(tg.ones(2, 4)).shape == (2, 3) and clone.weight.shape == (3, 4)
