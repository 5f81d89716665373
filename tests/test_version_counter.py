"""``Tensor._version``, torch's private count of in-place writes into a tensor's array: shared by views and
``detach()``, not by ``.data``, one per optimizer step. Random sequences of writes against torch's counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as ours

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

# (name, write): each takes the library and a float32 tensor of shape (3, 4) and writes into it (or does not)
WRITES: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("add_", lambda lib, x: x.add_(1)),
    ("iadd", lambda lib, x: x.__iadd__(2)),
    ("setitem int", lambda lib, x: x.__setitem__(0, 3.0)),
    ("setitem slice", lambda lib, x: x.__setitem__((slice(None), slice(1, 3)), 1.0)),
    ("setitem advanced", lambda lib, x: x.__setitem__(([0, 2],), 5.0)),
    ("view mul_", lambda lib, x: x[1:].mul_(2)),
    ("transposed view zero_", lambda lib, x: x.t()[0].zero_()),
    ("detach fill_", lambda lib, x: x.detach().fill_(4)),
    (".data add_ (not counted)", lambda lib, x: x.data.add_(1)),
    ("clone add_ (not counted)", lambda lib, x: x.clone().add_(1)),
    ("copy_", lambda lib, x: x.copy_(lib.ones(3, 4))),
    ("clamp_", lambda lib, x: x.clamp_(-1, 1)),
    ("constant_ init", lambda lib, x: lib.nn.init.constant_(x, 0.25)),
    ("zeros_ init", lambda lib, x: lib.nn.init.zeros_(x)),
    ("masked_fill_", lambda lib, x: x.masked_fill_(x > 0, 0.5)),
    ("index_add_", lambda lib, x: x.index_add_(0, lib.tensor([0, 0]), lib.ones(2, 4))),
    ("read only (not counted)", lambda lib, x: (x + 1).sum()),
]


def fresh(lib: Any) -> Any:
    return lib.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) - 5)


@given(st.lists(st.integers(0, len(WRITES) - 1), max_size=12))
@settings(max_examples=60, deadline=None)
def test_version_counts_writes_as_torch(picks: list[int]) -> None:
    x, t = fresh(ours), fresh(torch)
    view, tview = x[1], t[1]  # made before the writes: it shares the counter
    for i in picks:
        name, write = WRITES[i]
        with ours.no_grad():
            write(ours, x)
        with torch.no_grad():
            write(torch, t)
        assert x._version == t._version, (name, [WRITES[j][0] for j in picks])
    assert view._version == tview._version == t._version
    np.testing.assert_array_equal(x.numpy(), t.numpy())


def steps(lib: Any, opt: str, kw: dict, n: int = 3) -> int:
    """``p._version`` after ``n`` steps of ``lib.optim.<opt>``."""
    p = lib.nn.Parameter(lib.ones(3))
    o = getattr(lib.optim, opt)([p], lr=0.1, **kw)
    for _ in range(n):
        p.grad = lib.ones(3)
        o.step()
    return p._version


@pytest.mark.parametrize("opt, kw", [("Adam", {}), ("SGD", {"momentum": 0.9}), ("RMSprop", {}), ("Adagrad", {}),
                                     ("Adamax", {}), ("RAdam", {}), ("Adadelta", {}), ("Rprop", {})])
def test_an_optimizer_step_counts_one_as_torch(opt: str, kw: dict) -> None:
    assert steps(ours, opt, kw) == steps(torch, opt, kw) == 3


@pytest.mark.parametrize("opt", ["AdamW", "NAdam"])
def test_a_step_counts_one_where_torch_counts_its_kernels(opt: str) -> None:
    """torch's count is the number of in-place kernels its implementation runs (two for AdamW's decay and update);
    ours counts one write per parameter and step (README's differences)."""
    assert (steps(ours, opt, {}), steps(torch, opt, {"foreach": False})) == (3, 6)


def test_a_graph_tensor_and_fresh_tensors() -> None:
    """A new tensor starts at 0; an op's output and a clone start at 0 whatever their input's count."""
    x = ours.zeros(3, requires_grad=True)
    assert x._version == 0
    y = x * 2
    y.add_(1)
    assert (y._version, x._version, (y * 1)._version, y.clone()._version) == (1, 0, 0, 0)


# (initialiser, weight shape, torch's count for it: None where torch counts each of its several kernels)
INITS = [("uniform_", (3, 4), 1), ("normal_", (3, 4), 1), ("constant_", (3, 4), 1), ("zeros_", (3, 4), 1),
         ("ones_", (3, 4), 1), ("eye_", (3, 4), None), ("dirac_", (3, 3, 3), None), ("sparse_", (3, 4), None),
         ("trunc_normal_", (3, 4), None), ("orthogonal_", (3, 4), None), ("xavier_uniform_", (3, 4), 1),
         ("xavier_normal_", (3, 4), 1), ("kaiming_uniform_", (3, 4), 1), ("kaiming_normal_", (3, 4), 1)]


def init_args(name: str) -> tuple:
    return {"constant_": (0.5,), "sparse_": (0.5,)}.get(name, ())


@pytest.mark.parametrize("name, shape, count", INITS)
def test_an_initialiser_is_an_inplace_write(name: str, shape: tuple, count: int | None) -> None:
    """A graph that saved the weight raises at backward after the weight is initialised again, as torch's (before,
    ours used the new values there: a silently wrong gradient)."""
    versions = []
    for lib in (ours, torch):
        w = lib.nn.Parameter(lib.ones(*shape))
        x = lib.ones(*shape, requires_grad=True)
        y = (w * x).sum()
        getattr(lib.nn.init, name)(w, *init_args(name))
        with pytest.raises(RuntimeError, match=r"modified by an in-?place operation"):
            y.backward()
        versions.append(w._version)
    assert versions[0] == 1 and (count is None or versions[1] == count), versions


@pytest.mark.parametrize("assign", [False, True])
def test_load_state_dict_makes_a_recorded_graph_stale(assign: bool) -> None:
    """torch's load copies into the parameters (assign=False), so the graph raises; with assign=True torch's module
    takes new Parameters and the old graph keeps the old ones, while ours swaps the arrays of the same Parameters
    (README's differences), so it raises there too rather than differentiate with the loaded values."""
    for lib in (ours, torch):
        if lib is torch and assign:
            continue
        m = lib.nn.Linear(3, 2)
        x = lib.ones(1, 3, requires_grad=True)
        y = m(x).sum()
        m.load_state_dict({"weight": lib.zeros(2, 3), "bias": lib.zeros(2)}, assign=assign)
        with pytest.raises(RuntimeError, match=r"modified by an in-?place operation"):
            y.backward()
        assert m.weight._version >= 1


def test_module_resets_count_as_torch() -> None:
    """Embedding.reset_parameters (normal_, then the padding row), BatchNorm's reset_running_stats and a training
    forward's num_batches_tracked, AveragedModel's n_averaged."""
    from torch.optim.swa_utils import AveragedModel as TorchAveragedModel

    from tinygrad_adam.optim.swa_utils import AveragedModel
    got = []
    for lib, averaged in ((ours, AveragedModel), (torch, TorchAveragedModel)):
        e = lib.nn.Embedding(4, 3, padding_idx=0)
        e.reset_parameters()
        b = lib.nn.BatchNorm1d(3)
        b.reset_running_stats()
        counts = [e.weight._version, b.running_mean._version, b.num_batches_tracked._version]
        b(lib.ones(4, 3))
        counts.append(b.num_batches_tracked._version)
        m = lib.nn.Linear(2, 2)
        a = averaged(m)
        a.update_parameters(m)
        a.update_parameters(m)
        got.append([*counts, a.n_averaged._version, next(a.parameters())._version])
    assert got[0] == got[1] == [4, 2, 2, 3, 2, 2]


def test_temporal_average_swap_makes_recorded_graphs_stale() -> None:
    """A graph recorded before (or inside) ``TemporalAverage.swapped()`` raises at backward after the swap back."""
    w = ours.nn.Parameter(ours.ones(3))
    avg = ours.optim.TemporalAverage([w], beta=0.5)
    avg.update()
    x = ours.ones(3, requires_grad=True)
    y = (w * x).sum()
    with avg.swapped():
        inside = (w * x).sum()
    for graph in (y, inside):
        with pytest.raises(RuntimeError, match=r"modified by an in-?place operation"):
            graph.backward()
