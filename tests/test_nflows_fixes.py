"""What porting bayesiains/nflows (``tests/torch_style/nflows.py``) found, each against torch.

- In-place writes through views, which nflows' rational-quadratic spline does twice: the coupling's
  ``unnormalized_widths /= np.sqrt(hidden)`` and ``unnormalized_heights /= ...`` on slices of the reshaped net
  output, whose third slice (the derivatives) was taken before the writes and used after them; and
  ``searchsorted``'s ``bin_locations[..., -1] += eps`` on the knots after ``widths = cumwidths[..., 1:] -
  cumwidths[..., :-1]`` had read them. torch differentiates both; ours raised at ``backward`` ("backward through
  getitem: one of its inputs ... was modified by an in-place operation", loud), so no nflows flow could train.
  Two causes, two fixes:

  1. A view made before a write into its memory (through another view or its base) kept its old graph. torch
     regenerates such a view's grad_fn from its base when it is next used; ours now does the same when an op
     records it, or when it is the root of a backward (``ops/inplace.refresh_view``, called from ``tensor.record``
     and ``autograd.topological_order``): the view is read again from the tensor owning its memory
     (``inplace.view_of``, whose backward reads no values), whose graph includes the write; a constant when that
     tensor has no graph. This holds for an op's output that is itself a view of the written memory (``reshape``,
     basic ``getitem``): regenerated from its base too, never sent to the graph from before the write.
  2. Every recorded op was taken to read its inputs' values, so any later write into an input made backward raise,
     and, a graph edge being the input tensor itself, the input's graph as replaced by the write would otherwise be
     the one differentiated. Ops whose backward reads no values of an input (``tensor.reads_input``: add, sub, neg,
     sum, reshape, transpose, broadcast_to, getitem, pad, concatenate, clone, exp (it reads its output), and mul /
     div by a constant; torch saves no such input) now pass, and their edge goes to the graph the input had when
     they were recorded (``tensor._prior``, kept by ``inplace._become``; swapped in by
     ``tensor.reroute_stale_parents`` from ``autograd.topological_order``), as torch's edge keeps the old grad_fn.
     Ops that read the written values still raise, as in torch. A tensor keeps its last 1024 graphs
     (``inplace.PRIORS``): a node recorded before more writes into its input raises.
  (With the fixes ``add`` / ``sub`` / ``mul`` / ``div`` take their operands' ``requires_grad`` when recorded, and a
  tensor overwritten by a constant (``fill_``, ``zero_``, ``copy_`` of a constant) keeps requiring grad with a zero
  gradient to its previous graph, as torch's FillBackward; a view of it stays a view of its base's graph.)

Differential fuzzing of such programs against torch and finite differences: tests/test_inplace_views_vs_torch.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam
from tinygrad_adam.ops import inplace

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

LIBS = (torch, tinygrad_adam)
VALUES = st.floats(-1e20, 1e20, allow_nan=False) | st.sampled_from([0.0, -0.0, 1e-38, 3.0])
WRITES = ("mul_", "add_", "div_", "truediv", "pow_", "exp_", "fill_")


def write(view: object, how: str, c: float) -> None:
    """One in-place write into ``view``."""
    if how == "truediv":
        view /= np.sqrt(c)  # nflows': a numpy float64 on a float32 view
    elif how == "fill_":
        view.fill_(c)
    elif how in ("pow_", "exp_"):
        getattr(view, how)(*(() if how == "exp_" else (2,)))
    else:
        getattr(view, how)(c)


def both(fn: object) -> list:
    """``fn(lib)`` for torch and ours; each result's gradient arrays (or the error raised) for comparison."""
    out = []
    for lib in LIBS:
        try:
            out.append(fn(lib))
        except RuntimeError as e:
            out.append(("raised", "in-place" in str(e) or "inplace" in str(e)))
    return out


def agree(theirs: object, ours: object) -> None:
    if isinstance(theirs, tuple) and theirs and theirs[0] == "raised":
        assert isinstance(ours, tuple) and ours[0] == "raised" and ours[1], ours
        return
    assert not (isinstance(ours, tuple) and ours and ours[0] == "raised"), ours
    for t, o in zip(theirs, ours, strict=True):
        np.testing.assert_allclose(o, t, rtol=1e-6, atol=0, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(x=st.lists(VALUES, min_size=1, max_size=6), a=st.integers(0, 6), b=st.integers(0, 6),
       c=st.integers(0, 6), d=st.integers(0, 6), how=st.sampled_from(WRITES), k=st.floats(0.5, 4.0),
       use=st.sampled_from(["sum", "mul", "pad", "cat"]))
def test_a_view_made_before_a_write_into_its_memory_is_regenerated(x: list, a: int, b: int, c: int, d: int,
                                                                   how: str, k: float, use: str) -> None:
    """``w = y[a:b]`` and ``v = y[c:d]`` of one non-leaf; ``v`` written in place; then ``w`` used (overlapping or
    not, empty slices included): the values and gradients are torch's."""
    def run(lib: object) -> list:
        leaf = lib.tensor(x, requires_grad=True)
        y = leaf * 1
        w, v = y[a:b], y[c:d]
        write(v, how, k)
        if use == "sum":
            out = w.sum() * 2
        elif use == "mul":
            out = (w * w).sum()
        elif use == "pad":
            out = (lib.nn.functional.pad(w, (1, 1)) * 3).sum()
        else:
            out = lib.cat([w, y]).sum()
        with np.errstate(all="ignore"):
            out.backward()
        return [w.detach().numpy().copy(), leaf.grad.numpy().copy()]

    with np.errstate(all="ignore"):
        agree(*both(run))


@settings(max_examples=60, deadline=None)
@given(x=st.lists(VALUES, min_size=2, max_size=6), how=st.sampled_from(WRITES), k=st.floats(0.5, 4.0),
       consumer=st.sampled_from(["getitem", "sub", "reshape", "sum", "add", "neg", "transpose", "expand", "pad",
                                 "cat", "mul"]),
       last=st.booleans())
def test_an_op_recorded_before_a_write_into_its_input(x: list, how: str, k: float, consumer: str,
                                                      last: bool) -> None:
    """nflows' ``searchsorted``: ``cum[..., 1:] - cum[..., :-1]`` (or another op) recorded, then ``cum[..., -1]``
    (or all of ``cum``) written in place, then both used. Ops that read no input values differentiate through the
    graph ``cum`` had when they were recorded (torch's edge); ops that read values raise, as in torch."""
    def run(lib: object) -> list:
        leaf = lib.tensor(x, requires_grad=True)
        cum = lib.cumsum(leaf, 0).reshape(1, -1)
        ops = {"getitem": lambda t: t[..., 1:] - t[..., :-1], "sub": lambda t: t - 1.5,
               "reshape": lambda t: t.reshape(-1, 1), "sum": lambda t: t.sum(-1), "add": lambda t: t + t,
               "neg": lambda t: -t, "transpose": lambda t: t.t(), "expand": lambda t: t.expand(3, -1),
               "pad": lambda t: lib.nn.functional.pad(t, (1, 0)), "cat": lambda t: lib.cat([t, t], 1),
               "mul": lambda t: t * t}
        made = ops[consumer](cum)
        write(cum[..., -1] if last else cum, how, k)
        with np.errstate(all="ignore"):
            ((made * 2).sum() + (cum * cum).sum()).backward()
        return [made.detach().numpy().copy(), cum.detach().numpy().copy(), leaf.grad.numpy().copy()]

    with np.errstate(all="ignore"):
        agree(*both(run))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), bins=st.integers(1, 4), b=st.integers(0, 3))
def test_nflows_coupling_parameter_split(seed: int, bins: int, b: int) -> None:
    """The coupling's split of the net output into widths / heights / derivatives, two of them divided in place by
    ``np.sqrt(hidden)`` before the third is padded and written in place (an empty batch included)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((b, 2 * (3 * bins - 1)))  # float64: the comparison is of the graph, not rounding
    wt = rng.standard_normal((2 * (3 * bins - 1), 2 * (3 * bins - 1)))

    def run(lib: object) -> list:
        weight = lib.tensor(wt, requires_grad=True)
        params = (lib.tensor(x) @ weight).reshape(b, 2, 3 * bins - 1)
        widths, heights, derivs = params[..., :bins], params[..., bins:2 * bins], params[..., 2 * bins:]
        widths /= np.sqrt(8)
        heights /= np.sqrt(8)
        derivs = lib.nn.functional.pad(derivs, pad=(1, 1))
        derivs[..., 0] = 0.5
        derivs[..., -1] = 0.5
        out = (lib.softmax(widths, -1) * lib.arange(bins)).sum() + (heights ** 2).sum() + \
            lib.nn.functional.softplus(derivs).sum()
        out.backward()
        return [params.detach().numpy().copy(), weight.grad.numpy().copy()]

    agree(*both(run))


def test_zero_dim_views_and_the_ops_that_still_raise() -> None:
    """A 0-d view written through the base; ``mul``'s and ``exp``'s backward read what a later write changed, so
    they raise in both libraries."""
    for lib in LIBS:
        leaf = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = leaf * 1
        first = y[0]
        y.mul_(3)
        (first * 2).backward()
        assert leaf.grad.tolist() == [6.0, 0.0, 0.0]
        y = leaf * 1
        s = (y * y).sum()
        y[1:].add_(1)
        with pytest.raises(RuntimeError):
            s.backward()
        y = leaf * 1
        e = y.exp()
        e.add_(1)
        with pytest.raises(RuntimeError):
            e.sum().backward()


@pytest.mark.parametrize("op", ["add", "sub"])
def test_a_sum_recorded_before_its_input_is_filled(op: str) -> None:
    """``made = cum + 1.5`` (or ``-``) recorded, then ``cum.fill_`` (``cum`` now has a zero gradient to its graph
    before): the gradient through ``made`` still reaches the leaf, as torch's."""
    grads = []
    for lib in LIBS:
        leaf = lib.tensor([1.0, 2.0], requires_grad=True)
        cum = lib.cumsum(leaf, 0).reshape(1, -1)
        made = (cum + 1.5) if op == "add" else (1.5 - cum)
        cum.fill_(1.0)
        (made * 2).sum().backward()
        grads.append(leaf.grad.numpy().copy())
    np.testing.assert_array_equal(grads[1], grads[0])


@pytest.mark.parametrize("writes", [0, 1, 2, 5, 8])
def test_an_op_recorded_before_several_writes(writes: int) -> None:
    """``w = y[1:]`` summed, then ``writes`` in-place writes through another view of ``y``: the gradient is torch's
    (ours keeps the last PRIORS graphs a tensor had; a node recorded before more writes than that raises at
    backward)."""
    grads = []
    for lib in LIBS:
        leaf = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = leaf * 1
        v, w = y[0:2], y[1:]
        s = w.sum() * 3 + w[0]
        for _ in range(writes):
            v.mul_(1.5)
        (s + y.sum()).backward()
        grads.append(leaf.grad.numpy().copy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6)
    leaf = tinygrad_adam.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = leaf * 1
    s = y[1:].sum()
    for _ in range(inplace.PRIORS + 1):
        y[0:2].mul_(1.001)
    with pytest.raises(RuntimeError, match="in-place"):
        s.backward()
