"""What the NTM program (``tests/torch_style/ntm.py``) needed, against torch 2.13: ``heads += [read, write]`` on
an ``nn.ModuleList`` extends it in place (ours had no ``__iadd__``: TypeError), and ``ModuleList + iterable`` is a
new ModuleList of both; likewise ``ParameterList += iterable``, and ``Sequential + Sequential`` / ``+=``, which
take only a Sequential (ValueError otherwise, as torch).

Mutations run (each made the named test fail, then was restored):
- _ModuleSequence.__iadd__ removed: test_module_list_iadd_extends_in_place and the ParameterList test raise TypeError.
- __iadd__ returning a new container (``self._of([*self, *modules])``): the identity checks fail.
- __add__ returning ``[*self, *other]`` (a plain list): test_module_list_add_is_a_new_list fails on the type.
- _ModuleSequence.__iadd__ moved back onto ModuleList: test_parameter_list_iadd raises TypeError.
- _a_sequential's isinstance check removed: test_sequential_add_takes_only_a_sequential fails (no ValueError).
- Sequential.__add__ returning ``self.extend(...)``: the new-object check fails."""

from __future__ import annotations

from types import ModuleType

import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def state_names(lib: ModuleType) -> list[str]:
    """The state_dict names of a ModuleList grown by ``+=`` over two rounds, as pytorch-ntm's heads are."""
    heads = lib.nn.ModuleList([])
    before = heads
    for _ in range(2):
        heads += [lib.nn.Linear(2, 3), lib.nn.Linear(3, 1, bias=False)]
    assert heads is before and len(heads) == 4
    return list(heads.state_dict())


def test_module_list_iadd_extends_in_place() -> None:
    assert state_names(tg) == state_names(torch)


@pytest.mark.parametrize("lib", [torch, tg])
def test_module_list_add_is_a_new_list(lib: ModuleType) -> None:
    first, second = lib.nn.Linear(1, 1), lib.nn.Linear(1, 2)
    left = lib.nn.ModuleList([first])
    both = left + (m for m in [second])
    assert type(both) is lib.nn.ModuleList and both is not left and len(left) == 1
    assert list(both) == [first, second] and list(both.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


@pytest.mark.parametrize("lib", [torch, tg])
def test_parameter_list_iadd(lib: ModuleType) -> None:
    params = lib.nn.ParameterList([])
    before = params
    params += [lib.zeros(2), lib.nn.Parameter(lib.ones(3))]
    assert params is before and [type(p) for p in params] == [lib.nn.Parameter] * 2
    assert list(params.state_dict()) == ["0", "1"]


@pytest.mark.parametrize("lib", [torch, tg])
def test_sequential_add_takes_only_a_sequential(lib: ModuleType) -> None:
    relu, tanh = lib.nn.ReLU(), lib.nn.Tanh()
    left = lib.nn.Sequential(lib.nn.Linear(2, 2))
    both = left + lib.nn.Sequential(relu)
    assert both is not left and len(left) == 1 and list(both)[1:] == [relu]
    before = both
    both += lib.nn.Sequential(tanh)
    assert both is before and list(both)[1:] == [relu, tanh] and list(both.state_dict()) == ["0.weight", "0.bias"]
    for bad in ([tanh], lib.nn.ModuleList([tanh])):
        with pytest.raises(ValueError, match="only objects of Sequential"):
            left + bad
        with pytest.raises(ValueError, match="only objects of Sequential"):
            left += bad
