"""Aliases of a strided tensor (``detach()``, ``.data``) and views of an expand, against torch.

- ``view`` of a ``detach()`` / ``.data`` of a transposed or sliced tensor refuses a shape its strides cannot take,
  as torch's (the alias has the same strides); ours returned a copy, so a write through the "view" never reached
  the tensor (``split(...)[-1].detach().view(-1).mul_(2)`` changed nothing).
- A ``fill_`` / ``zero_`` / ``masked_fill_`` into a strided view (``unfold``, ``as_strided``) of an ``expand``
  writes every alias, as into the expand itself; ours raised numpy's "cannot set WRITEABLE flag".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

STRIDED = {"split piece": lambda b: b.split(1, 1)[-1], "transposed": lambda b: b.transpose(0, 2),
           "every other": lambda b: b[:, :, ::2], "diagonal": lambda b: b.diagonal(0, 1, 2)}
ALIASES = {"detach()": lambda t: t.detach(), ".data": lambda t: t.data,
           "detach().detach()": lambda t: t.detach().detach(), ".data.detach()": lambda t: t.data.detach()}
OF_EXPAND = {"unfold": lambda e: e.unfold(2, 2, 1), "as_strided": lambda e: e.as_strided((2, 3), (0, 1), 5),
             "unfold of a slice": lambda e: e[:, :, 1:].unfold(2, 2, 2)}
CONSTANTS = {"fill_": lambda v: v.fill_(-7), "zero_": lambda v: v.zero_(),
             "masked_fill_": lambda v: v.masked_fill_(v > 5, 0.5)}


def outcome(lib: Any, strided: str, alias: str, shape: tuple[int, ...]) -> Any:
    base = lib.arange(24.0).reshape(2, 3, 4)
    t = ALIASES[alias](STRIDED[strided](base))
    try:
        t.view(*shape).mul_(2)
    except RuntimeError:
        return "raises"
    return base.numpy()


@pytest.mark.parametrize("strided", list(STRIDED))
@pytest.mark.parametrize("alias", list(ALIASES))
@pytest.mark.parametrize("shape", [(-1,), (1, -1)])
def test_view_of_an_alias_of_a_strided_tensor_as_torch(strided: str, alias: str, shape: tuple[int, ...]) -> None:
    ours, theirs = outcome(tg, strided, alias, shape), outcome(torch, strided, alias, shape)
    if isinstance(theirs, str):
        assert ours == theirs
    else:
        np.testing.assert_array_equal(ours, theirs)


def test_view_of_a_contiguous_alias_writes_through() -> None:
    base = tg.arange(6.0).reshape(2, 3)
    base.detach().view(-1)[1:3].mul_(10)
    np.testing.assert_array_equal(base.numpy(), [[0, 10, 20], [3, 4, 5]])


@pytest.mark.filterwarnings("ignore:Use of masked_fill_ on expanded tensors is deprecated")
@pytest.mark.parametrize("write", list(CONSTANTS))
@pytest.mark.parametrize("strided", list(OF_EXPAND))
def test_a_constant_into_a_strided_view_of_an_expand_as_torch(write: str, strided: str) -> None:
    results = []
    for lib in (tg, torch):
        base = lib.arange(24.0).reshape(2, 3, 4)
        e = base.select(1, 1).expand(2, 2, 4)
        CONSTANTS[write](OF_EXPAND[strided](e))
        results.append(base.numpy())
    np.testing.assert_array_equal(results[0], results[1])


def test_a_write_into_overlapping_windows_reaches_each_element_once() -> None:
    """Without a graph, ``add_`` through ``unfold``'s overlapping windows adds once to every element (torch's result
    depends on its loop order: 200 where two windows hold an element; README's differences)."""
    x = tg.arange(6.0)
    x.unfold(0, 2, 1).add_(100)
    np.testing.assert_array_equal(x.numpy(), np.arange(6.0) + 100)


@pytest.mark.parametrize("alias", list(ALIASES))
def test_a_write_into_an_alias_of_a_view_of_an_expand_as_torch(alias: str) -> None:
    """``detach()`` / ``.data`` of ``e[0]``, a view of an expand without repeated elements: numpy marks its array
    read-only, and ours raised numpy's "assignment destination is read-only"; torch writes through."""
    results = []
    for lib in (tg, torch):
        base = lib.arange(12.0).reshape(3, 4)
        ALIASES[alias](base.unsqueeze(0).expand(2, 3, 4)[0]).mul_(2)
        results.append(base.numpy())
    np.testing.assert_array_equal(results[0], results[1])
