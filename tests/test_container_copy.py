"""Sequential / ModuleList editing (``*``, ``*=``, ``pop`` and the rest) and ``copy.deepcopy`` of tensors, against
torch. A non-leaf's deep copy raises as torch's: before, it carried copies of the leaves, so a backward through it
filled no one's ``.grad`` (a silently lost gradient)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def scaling(lib: Any, k: int) -> Any:
    """A Linear(1, 1) that multiplies by ``k``: its weight tells the layers apart."""
    layer = lib.nn.Linear(1, 1, bias=False)
    with lib.no_grad():
        layer.weight.fill_(float(k))
    return layer


def layout(seq: Any) -> tuple[list[float], list[str], list[int], float]:
    """The layers' factors in order, the child names, the distinct parameter count, and the output for 1."""
    factors = [float(m.weight.detach().numpy().ravel()[0]) for m in seq]
    names = [n for n, _ in seq.named_children()]
    x = 1.0
    if isinstance(seq, (tg.nn.Sequential, torch.nn.Sequential)) and len(seq):
        lib = tg if isinstance(seq, tg.nn.Module) else torch
        x = float(seq(lib.ones(1, 1)).detach().numpy().ravel()[0])
    return factors, names, len(list(seq.parameters())), x


OPS = st.sampled_from(["append", "insert", "pop", "del", "mul", "rmul", "imul", "add", "iadd", "setitem",
                       "extend", "slice"])


def apply(lib: Any, seq: Any, op: str, k: int, i: int) -> Any:
    """One edit of ``seq``; returns the container to go on with (``op`` may make a new one)."""
    n = len(seq)
    if op == "append":
        seq.append(scaling(lib, k))
    elif op == "insert":
        seq.insert(i % (n + 1), scaling(lib, k))  # (torch's ModuleList.insert breaks on a negative index)
    elif op in ("pop", "del", "setitem") and n:
        j = i % n - n * (i % 2)  # negative indices too
        if op == "pop":
            seq.pop(j)
        elif op == "del":
            del seq[j]
        else:
            seq[j] = scaling(lib, k)
    elif op in ("mul", "rmul", "imul") and isinstance(seq, lib.nn.Sequential):
        times = 1 + i % 3
        seq = seq * times if op == "mul" else times * seq if op == "rmul" else seq.__imul__(times)
    elif op in ("add", "iadd"):
        other = type(seq)([scaling(lib, k)]) if isinstance(seq, lib.nn.ModuleList) else lib.nn.Sequential(
            scaling(lib, k))
        seq = seq + other if op == "add" else seq.__iadd__(other)
    elif op == "extend":
        seq.extend([scaling(lib, k), scaling(lib, k + 1)])
    elif op == "slice" and n:
        seq = seq[i % n:]
    return seq


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["Sequential", "ModuleList"]), start=st.integers(0, 3),
       edits=st.lists(st.tuples(OPS, st.integers(1, 9), st.integers(0, 7)), max_size=8))
def test_editing_a_container_matches_torch(kind: str, start: int, edits: list[tuple[str, int, int]]) -> None:
    made = []
    for lib in (tg, torch):
        layers = [scaling(lib, k + 1) for k in range(start)]
        made.append(getattr(lib.nn, kind)(*layers) if kind == "Sequential" else lib.nn.ModuleList(layers))
    ours, theirs = made
    for op, k, i in edits:
        try:
            ours = apply(tg, ours, op, k, i)
        except KeyError as e:  # a slice keeps its names ("1", "2"): where append or insert would reuse one, torch
            # replaces that layer (or breaks insert's renumbering) and ours refuses (README); a local run found it
            assert kind == "Sequential" and op in ("append", "insert", "extend", "iadd", "imul"), (op, e)
            names = [n for n, _ in ours.named_children()]
            assert names != [str(j) for j in range(len(names))], names
            return
        try:
            theirs = apply(torch, theirs, op, k, i)
        except KeyError:  # seq *= n after a slice: torch looks its layers up as "0", "1", ... (README); ours
            assert kind == "Sequential" and op == "imul"  # repeated them
            assert "0" not in [n for n, _ in theirs.named_children()]
            return
        assert layout(ours) == layout(theirs), (op, k, i)


def test_pop_returns_the_layer_and_renumbers() -> None:
    for lib in (tg, torch):
        seq = lib.nn.Sequential(scaling(lib, 1), scaling(lib, 2), scaling(lib, 3))
        assert float(seq.pop(1).weight.detach().numpy()[0, 0]) == 2.0
        assert [n for n, _ in seq.named_children()] == ["0", "1"]
        assert float(lib.nn.ModuleList([scaling(lib, 4)]).pop(-1).weight.detach().numpy()[0, 0]) == 4.0


def test_repeating_shares_the_layers_and_checks_the_factor() -> None:
    for lib in (tg, torch):
        seq = lib.nn.Sequential(scaling(lib, 2))
        twice = seq * 2
        assert twice[0] is twice[1] is seq[0] and len(list(twice.parameters())) == 1
        assert len(seq * True) == 1  # (a bool is an int, as for torch)
        with pytest.raises(ValueError, match="Non-positive"):
            seq * 0
        with pytest.raises(TypeError, match="unsupported operand"):
            seq * 2.0


def test_deepcopy_of_a_non_leaf_raises_as_torch() -> None:
    for lib in (tg, torch):
        a = lib.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="deepcopy"):
            copy.deepcopy(a * 2)
        with pytest.raises(RuntimeError, match="deepcopy"):
            copy.deepcopy({"out": a.sum()})
        copy.deepcopy((a * 2).detach())  # a detached result is a leaf


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=5),
       requires_grad=st.booleans(), with_grad=st.booleans())
def test_deepcopy_of_a_leaf_matches_torch(values: list[float], requires_grad: bool, with_grad: bool) -> None:
    copies = []
    for lib in (tg, torch):
        a = lib.tensor(np.array(values, np.float32), requires_grad=requires_grad)
        if with_grad and requires_grad:
            (a * 3).sum().backward()
        a.note = ["kept"]
        both = copy.deepcopy({"a": a, "again": a, "grad": a.grad})
        b = both["a"]
        assert both["again"] is b and b is not a and b.note == ["kept"] and b.note is not a.note
        assert b.is_leaf and b.requires_grad == a.requires_grad and (b.grad is None) == (a.grad is None)
        assert both["grad"] is b.grad or a.grad is None
        b.detach().add_(1)  # the copy has its own memory
        np.testing.assert_array_equal(a.detach().numpy(), np.array(values, np.float32))
        copies.append((b.detach().numpy(), None if b.grad is None else b.grad.numpy()))
    np.testing.assert_array_equal(copies[0][0], copies[1][0])
    assert (copies[0][1] is None) == (copies[1][1] is None)
