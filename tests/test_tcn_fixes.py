"""Fixes found by porting locuslab/TCN (``tests/torch_style/tcn.py``), each checked against torch.

Mutations run (each made the tests named fail, then was restored):
- ``_state_tensors`` walking ``named_modules()`` (duplicates removed): the state_dict, strict-load and old-keys tests.
- ``named_modules`` ignoring ``remove_duplicate``: all the tests above it.
- ``named_modules`` without the ``above`` check: ``test_state_dict_of_a_module_inside_itself_raises`` loops for ever
  (killed by ``timeout 20``).
- ``load_state_dict`` running the key-renaming pre-hooks once per module: ``test_old_weight_norm_keys_under_both_names``
  (the ``net.0.weight_g`` / ``weight_v`` keys unexpected).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_adam as ours

torch = pytest.importorskip("torch")


def block(lib, parametrized: bool = False):
    """TCN's pattern: a weight-normed conv held as ``conv1`` and again as ``net[0]``, beside a shared Linear."""
    lib.manual_seed(0)
    m = lib.nn.Module()
    conv = lib.nn.Conv1d(2, 3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        m.conv1 = (lib.nn.utils.parametrizations.weight_norm if parametrized else lib.nn.utils.weight_norm)(conv)
    m.net = lib.nn.Sequential(m.conv1, lib.nn.ReLU())
    m.head = lib.nn.Linear(3, 1)
    m.tail = m.head
    return m


@pytest.mark.parametrize("parametrized", [False, True])
def test_state_dict_lists_a_module_under_each_name(parametrized: bool) -> None:
    theirs, mine = block(torch, parametrized).state_dict(), block(ours, parametrized).state_dict()
    assert list(mine) == list(theirs)
    assert "net.0.bias" in mine and "tail.weight" in mine


@pytest.mark.parametrize("parametrized", [False, True])
def test_load_state_dict_of_a_shared_module_is_strict(parametrized: bool) -> None:
    """torch's checkpoint (every key) loads strictly; a later name's value wins, as in torch."""
    state = {k: v.detach().numpy() + i for i, (k, v) in enumerate(block(torch, parametrized).state_dict().items())}
    t, o = block(torch, parametrized), block(ours, parametrized)
    t.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    o.load_state_dict(state)
    for (k, a), b in zip(o.state_dict().items(), t.state_dict().values(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


def test_named_modules_remove_duplicate() -> None:
    for flag in (True, False):
        assert ([n for n, _ in block(ours).named_modules(remove_duplicate=flag)]
                == [n for n, _ in block(torch).named_modules(remove_duplicate=flag)])


def test_old_weight_norm_keys_under_both_names() -> None:
    """The hook-based weight_norm's keys (``weight_g`` / ``weight_v``, under ``conv1`` and ``net.0``) load into the
    parametrized model, as torch's."""
    state = block(torch).state_dict()
    t, o = block(torch, True), block(ours, True)
    t.load_state_dict(state)
    o.load_state_dict({k: v.numpy() for k, v in state.items()})
    assert list(o.state_dict()) == list(t.state_dict())
    for (k, a), b in zip(o.state_dict().items(), t.state_dict().values(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


@pytest.mark.parametrize("lib", [torch, ours])
def test_state_dict_of_a_module_inside_itself_raises(lib) -> None:
    """torch's state_dict recursion never ends (RecursionError); ours must not loop for ever either."""
    m = lib.nn.Sequential(lib.nn.Linear(1, 1))
    m.add_module("me", m)
    assert [n for n, _ in m.named_modules()] == ["", "0"]
    with pytest.raises(RecursionError):
        m.state_dict()
