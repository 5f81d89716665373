"""In-place writes through views while autograd records, against torch and against finite differences.

A non-leaf ``y = x * 1`` (1-D of 6, or 2 x 3), views of it made before any write or at each use, a random sequence of
ops using views / ``y`` (their outputs summed, weighted, into the loss) and of in-place writes through them. torch
regenerates a view's grad_fn from its base after a write into its memory, and an op recorded earlier keeps its edge
to the grad_fn its input had then. Ours must give torch's gradient where torch gives one, a gradient equal to
central finite differences (float64) where torch raises and ours does not, or raise: never a silently wrong
gradient (ours: ``ops/inplace.refresh_view`` and ``view_of``, ``tensor.reroute_stale_parents``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

SLICES = {False: [slice(0, 3), slice(1, 4), slice(2, 6), slice(0, 6, 2), slice(1, 6, 2), slice(3, 5)],
          True: [(0,), (slice(None), 1), (slice(None), slice(0, 2)), (1, slice(None, None, 2)),
                 (slice(None), slice(1, 3)), (slice(0, 1), slice(None))]}
CONSUMERS = ["add", "sum", "reshape", "getitem", "mul", "exp", "neg", "cat", "clone", "t2"]
WRITES = ["mul_", "add_", "fill_", "exp_", "copy_", "div_", "neg_", "setitem", "zero_"]
Y = 6  # (the index of y itself among the targets)


def use(lib, t, op):
    """One op reading ``t``."""
    if op in ("sum", "exp", "clone"):
        return getattr(t, op)()
    if op == "add":
        return t + 1
    if op == "reshape":
        return t.reshape(-1, 1)
    if op == "getitem":
        return t[:1]
    if op == "mul":
        return t * 3
    if op == "neg":
        return -t
    return lib.cat([t, t]) if op == "cat" else t * t


def run(lib, steps, x0, early, two_d, grad=True):
    """The program on ``lib``: with ``grad``, (x.grad or None, loss); without, (each output's weighted elements,
    which of them are reductions)."""
    x = lib.tensor(x0, requires_grad=grad)
    y = (x.reshape(2, 3) if two_d else x) * 1
    views = {i: y[s] for i, s in enumerate(SLICES[two_d])} if early else {}
    outs = []
    for st_ in steps:
        t = y if st_[1] == Y else views.get(st_[1])
        t = y[SLICES[two_d][st_[1]]] if t is None else t
        if st_[0] == "use":
            outs.append(use(lib, t, st_[2]))
            continue
        how, c = st_[2], st_[3]
        if how == "fill_":
            t.fill_(c)
        elif how == "zero_":
            t.zero_()
        elif how in ("exp_", "neg_"):
            getattr(t, how)()
        elif how == "copy_":
            t.copy_(lib.full(tuple(t.shape), c, dtype=t.dtype))
        elif how == "setitem":
            t[:1] = c
        else:
            getattr(t, how)(c)
    if not grad:
        return (np.concatenate([(o * (k + 1)).numpy().reshape(-1) for k, o in enumerate(outs)]),
                np.concatenate([np.full(o.numel(), o.ndim == 0) for o in outs]))
    loss = sum((o * (k + 1)).sum() for k, o in enumerate(outs))
    loss.backward()
    return None if x.grad is None else x.grad.numpy().copy(), float(loss.detach())


def outcome(lib, *args):
    try:
        with np.errstate(all="ignore"):
            return run(lib, *args)
    except RuntimeError as e:
        return e


def finite_differences(steps, x0, early, two_d):
    """Central differences, float64 on torch without grad, output element by output element; None when they
    cannot be trusted (a moving element too large, or a reduction over huge values)."""
    x0 = np.asarray(x0, np.float64)
    g = np.zeros(6)
    for i in range(6):
        h = 1e-6 * max(1.0, abs(x0[i]))
        p, m = x0.copy(), x0.copy()
        p[i] += h
        m[i] -= h
        with torch.no_grad(), np.errstate(all="ignore"):
            fp, summed = run(torch, steps, p, early, two_d, grad=False)
            fm, _ = run(torch, steps, m, early, two_d, grad=False)
        moving = fp != fm
        if not np.all(np.isfinite(fp[moving])) or np.any(np.abs(fp[moving]) > 1e12) or not np.all(
                np.abs(fp[summed]) < 1e6):
            return None
        g[i] = ((fp - fm)[moving] / (2 * h)).sum()
    return g


def check(steps, x0, early=False, two_d=False) -> str:
    """Ours against torch (when torch computes) and finite differences (when only ours does); what happened."""
    steps = [*steps, ("use", Y, "sum")]
    x0 = np.asarray(x0, np.float32)
    theirs, ours = outcome(torch, steps, x0, early, two_d), outcome(tg, steps, x0, early, two_d)
    if isinstance(ours, Exception):  # loud
        return "both raise" if isinstance(theirs, Exception) else "ours raises"
    got = np.zeros(6) if ours[0] is None else ours[0].reshape(-1)
    if not isinstance(theirs, Exception):
        assert (ours[0] is None) == (theirs[0] is None), (theirs, ours)
        np.testing.assert_allclose(got, np.zeros(6) if theirs[0] is None else theirs[0].reshape(-1), rtol=1e-5,
                                   atol=1e-6)
        return "same"
    fd = finite_differences(steps, x0, early, two_d)
    if fd is not None:  # ours in float64 against them (a float32 overflow's 0 * inf = nan is no graph error)
        got = run(tg, steps, x0.astype(np.float64), early, two_d)[0]
        got = np.zeros(6) if got is None else got.reshape(-1)
        assert np.all(np.abs(got - fd) <= 2e-3 * max(1.0, np.abs(fd).max(), np.abs(got).max())), (got, fd)
    return "torch raises"


TARGET = st.integers(0, 6)
STEP = st.tuples(st.just("use"), TARGET, st.sampled_from(CONSUMERS)) | st.tuples(
    st.just("write"), TARGET, st.sampled_from(WRITES), st.sampled_from([0.5, 2.0, -1.0]))


@settings(max_examples=400, deadline=None)
@given(steps=st.lists(STEP, max_size=10), x0=st.lists(st.floats(-2, 2), min_size=6, max_size=6),
       early=st.booleans(), two_d=st.booleans())
def test_random_writes_through_views_never_give_a_wrong_gradient(steps, x0, early, two_d) -> None:
    check(steps, x0, early, two_d)


X0 = [0.3, -1.2, 0.7, 1.5, -0.4, 0.9]


@pytest.mark.parametrize("steps, early, two_d", [
    # an early view whose memory another view wrote: regenerated (before: its old graph, x.grad [1, 4, 3, 4, 1, 2])
    ([("write", 3, "add_", 2.0), ("write", 1, "mul_", 2.0), ("use", 3, "neg")], True, False),
    ([("write", 2, "fill_", -1.0), ("write", 5, "fill_", -1.0), ("write", 4, "add_", 0.5),
      ("write", 1, "setitem", -1.0), ("use", 4, "t2")], True, False),
    ([("write", 5, "div_", -1.0), ("write", 1, "div_", 2.0), ("write", 2, "copy_", 2.0), ("write", 1, "div_", 0.5),
      ("use", 5, "neg")], True, False),
    # an op whose output is itself a view of the memory written afterwards: regenerated, not sent to the old graph
    ([("use", 0, "reshape"), ("write", 2, "fill_", 2.0), ("write", 0, "zero_", 0.5), ("write", 3, "fill_", 1.0)],
     True, False),
    ([("use", 3, "getitem"), ("write", 6, "mul_", 2.0)], False, False),
    # ops that read no values, recorded before a write into their input: their gradient goes to the old graph
    ([("use", 1, "add"), ("write", 1, "mul_", 2.0), ("use", 1, "neg"), ("write", 6, "fill_", 0.5)], True, False),
    ([("use", 6, "cat"), ("write", 2, "exp_", 2.0), ("use", 2, "sum")], False, False),
    # a view filled with a constant still a view of its base's graph (torch's x.grad: zeros, not None)
    ([("write", 4, "zero_", 0.5), ("write", 2, "copy_", 2.0), ("write", 2, "add_", 2.0), ("use", 4, "add"),
      ("write", 4, "zero_", -1.0), ("write", 6, "copy_", 2.0), ("write", 1, "exp_", 0.5)], True, False),
    ([("write", 0, "mul_", 2.0), ("use", 1, "reshape"), ("write", 2, "neg_", 0.5), ("use", 4, "exp")], True, True),
    # t * t reads t's values: a write into t after it raises (both libraries), never rerouted
    ([("use", 1, "t2"), ("write", 1, "mul_", 2.0)], True, False),
    ([("use", 6, "t2"), ("write", 0, "add_", 2.0)], False, False),
    # t * 3, exp(t) and clone(t) read no values of t: rerouted (torch's edge to t's old grad_fn)
    ([("use", 6, "mul"), ("use", 6, "exp"), ("use", 0, "clone"), ("write", 6, "mul_", -1.0)], False, False),
])
def test_focused_cases(steps, early, two_d) -> None:
    assert check(steps, X0, early, two_d) in ("same", "torch raises", "both raise")


def test_a_stale_view_as_the_root_of_backward() -> None:
    """``v.backward`` on a view whose memory was written after it was made: regenerated first, as torch."""
    grads = []
    for lib in (torch, tg):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 1
        v = y[0:2]
        y.mul_(2)
        v.backward(lib.tensor([1.0, 1.0]))
        grads.append(x.grad.tolist())
    assert grads[0] == grads[1] == [2.0, 2.0, 0.0]


def test_a_view_of_a_constant_that_a_write_gives_a_graph() -> None:
    """``v = y[0:4]`` of zeros, then ``y[2:].copy_(x)``: v's gradient reaches x, as torch's (ours regenerates v
    when an op uses it, so ``v.requires_grad`` reads False until then; torch's True)."""
    grads = []
    for lib in (torch, tg):
        x = lib.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        y = lib.zeros(6)
        v = y[0:4]
        y[2:].copy_(x)
        ((v + 1) * lib.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()  # (add takes v's requires_grad after
        grads.append(x.grad.tolist())  # regenerating it)
    assert grads[0] == grads[1] == [3.0, 4.0, 0.0, 0.0]


def test_a_reshape_in_place_after_an_op_raises() -> None:
    """``n = y + 1``, then ``y.unsqueeze_(0)``: n's gradient would have y's old shape, so ours raises (torch
    computes); never a gradient of the wrong shape."""
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    n = y + 1
    y.unsqueeze_(0)
    y.mul_(2)
    with pytest.raises(RuntimeError, match="in-place"):
        (n.sum() + y.sum()).backward()


@pytest.mark.parametrize("how", ["fill_", "zero_", "copy_"])
def test_a_tensor_overwritten_by_a_constant_keeps_a_zero_gradient(how: str) -> None:
    """``y.fill_(c)`` (``zero_``, ``copy_`` of a constant) on a tensor in a graph: it still requires grad, with a
    zero gradient to its graph before, as torch's FillBackward (ours cut it from the graph before)."""
    grads = []
    for lib in (torch, tg):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        s = (y + 1).sum()
        if how == "fill_":
            y.fill_(0.5)
        elif how == "zero_":
            y.zero_()
        else:
            y.copy_(lib.ones(3))
        assert y.requires_grad
        (y.sum() * 3 + s).backward()
        grads.append(x.grad.tolist())
    assert grads[0] == grads[1] == [2.0, 2.0, 2.0]


def test_a_view_filled_with_a_constant_stays_in_its_base_graph() -> None:
    """``v = y[0:2]; v.fill_(1)``: v still requires grad, a view of y's graph with a zero gradient, as torch's."""
    grads = []
    for lib in (torch, tg):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        v = y[0:2]
        v.fill_(1.0)
        assert v.requires_grad
        v.sum().backward()
        grads.append(x.grad.tolist())
    assert grads[0] == grads[1] == [0.0, 0.0, 0.0]


def test_a_fill_under_no_grad_leaves_the_graph() -> None:
    """``y.zero_()`` under ``no_grad``: y keeps its graph (torch's grad_fn is unchanged), so ``x * 2``'s gradient
    still reaches x."""
    grads = []
    for lib in (torch, tg):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        with lib.no_grad():
            y.zero_()
        y.sum().backward()
        grads.append(x.grad.tolist())
    assert grads[0] == grads[1] == [2.0, 2.0, 2.0]


def test_an_op_reading_its_output_behind_a_regenerated_view_raises_as_torch() -> None:
    """``v.exp_()`` (exp's backward reads its output, v's memory), ``n = v + 1``, then a write into y: backward
    through n reaches exp's output, overwritten since, so both libraries raise."""
    for lib in (torch, tg):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 1
        v = y[0:2]
        v.exp_()
        n = v + 1
        y.mul_(2)
        with pytest.raises(RuntimeError, match=r"in-place|inplace"):
            (n.sum() + v.sum()).backward()
