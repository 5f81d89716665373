"""Fixes found by tests/torch_style/numerics.py, checked against torch on generated tensors, views and ops:

- in-place updates of a view while a graph is recorded (``x = x.clone(); x[:, 0] += 1``, ``y.diagonal().mul_(w)``,
  ``y[0].zero_()``) work as torch's: the viewed tensor takes the new values into its graph (they raised; a view
  written by a constant, ``y[0].zero_()``, silently kept its old gradient);
- ``y[idx] op= v`` with an advanced index (and ``y[idx] = y[idx] * v``) differentiates (it raised at backward);
- ``fill_`` with a 0-d tensor that requires grad passes it its gradient (it was dropped silently)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

# views of a 2-D tensor y, valid for every shape of at least (1, 1) (some empty)
KEYS: list[Any] = [(0,), (slice(None), -1), (slice(1, None),), (slice(None), slice(None, None, 2)),
                   (slice(1, None), slice(1, None)), (Ellipsis, 0), (-1, slice(None, None, 2))]
VIEWS: dict[str, Callable[[Any], Any]] = {
    **{f"y[{i}]": (lambda k: lambda y: y[k])(key) for i, key in enumerate(KEYS)},
    "y.t()[0]": lambda y: y.t()[0],
    "y.diagonal()": lambda y: y.diagonal(),
    "y.reshape(-1)[1:]": lambda y: y.reshape(-1)[1:],
    "y[1:][:, :1]": lambda y: y[1:][:, :1],
    "y.transpose(0, 1)": lambda y: y.transpose(0, 1),
}
OPS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "add_": lambda v, p, p0: v.add_(p, alpha=0.5),
    "mul_": lambda v, p, p0: v.mul_(p),
    "sub_ 0-d": lambda v, p, p0: v.sub_(p0),
    "zero_": lambda v, p, p0: v.zero_(),
    "copy_": lambda v, p, p0: v.copy_(p),
    "clamp_": lambda v, p, p0: v.clamp_(min=0.25),
    "exp_": lambda v, p, p0: v.exp_(),
    "v[...] = p": lambda v, p, p0: v.__setitem__(Ellipsis, p * 2),
    "v.fill_(0-d)": lambda v, p, p0: v.fill_(p0),
}
AUGMENTED: dict[str, Callable[[Any, Any, Any], None]] = {  # Python's x[key] op= v: a view updated, then stored back
    "+=": lambda y, key, p: y.__setitem__(key, y[key].__iadd__(p)),
    "*=": lambda y, key, p: y.__setitem__(key, y[key].__imul__(p)),
}
ROOTS: dict[str, Callable[[Any], Any]] = {  # what the viewed tensor is made by (exp's backward reads its output)
    "2 * x": lambda x: 2 * x, "x.exp()": lambda x: x.exp(), "2 * x.t()": lambda x: 2 * x.t(),  # (column-major)
    "x.t()[1:].sum(0)[:, None]": lambda x: x.t()[1:].sum(0)[:, None],  # itself a view (of the sum)
}


def outcome(lib: Any, values: np.ndarray, update: Callable[[Any, Any], Any], root: str = "2 * x") -> Any:
    """``update(lib, y)`` on y = ROOTS[root](x) (x a leaf of ``values``), then the gradient of a loss reading y and
    the view ``update`` returns: the arrays (y, view, x.grad, and the .grad of ``update.leaves``), or 'raises'."""
    x = lib.tensor(values, requires_grad=True)
    y = ROOTS[root](x)
    try:
        view = update(lib, y)
        loss = (y.sin() * lib.arange(float(y.numel()), dtype=x.dtype).reshape(y.shape)).sum() + (view ** 2).sum()
        loss.backward()
    except RuntimeError:
        return "raises"
    grads = [t.grad for t in update.leaves]
    return [t.detach().numpy() for t in (y, view)] + [None if g is None else g.numpy() for g in [x.grad, *grads]]


def compare(values: np.ndarray, build: Callable[[Any], Callable[[Any, Any], Any]], root: str = "2 * x") -> None:
    got, want = outcome(tg, values, build(tg), root), outcome(torch, values, build(torch), root)
    assert (got == "raises") == (want == "raises"), (got, want)
    if want != "raises":
        for g, w in zip(got, want):
            assert (g is None) == (w is None)
            if w is not None:
                np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-300, equal_nan=True)


finite = st.floats(-3, 3, allow_subnormal=False, width=64)
special = st.sampled_from([np.nan, np.inf, -np.inf, -0.0, 0.0])
matrices = st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(
    lambda shape: hnp.arrays(np.float64, shape, elements=st.one_of(finite, finite, finite, special)))


def updater(view: str, op: str, operand: np.ndarray) -> Callable[[Any], Callable[[Any, Any], Any]]:
    def build(lib: Any) -> Callable[[Any, Any], Any]:
        def update(lib: Any, y: Any) -> Any:
            v = VIEWS[view](y)
            p = lib.tensor(np.resize(operand, tuple(v.shape)), requires_grad=True)
            p0 = lib.tensor(operand.flat[0], requires_grad=True)
            update.leaves = [p, p0]
            OPS[op](v, p, p0)
            return v
        return update
    return build


@settings(max_examples=150, deadline=None)
@given(matrices, st.sampled_from(sorted(VIEWS)), st.sampled_from(sorted(OPS)),
       hnp.arrays(np.float64, 6, elements=st.one_of(finite, finite, special)), st.sampled_from(sorted(ROOTS)))
def test_inplace_on_a_view_matches_torch(values: np.ndarray, view: str, op: str, operand: np.ndarray,
                                         root: str) -> None:
    compare(values, updater(view, op, operand), root)


@settings(max_examples=100, deadline=None)
@given(matrices, st.lists(st.tuples(st.sampled_from(range(len(KEYS))), st.sampled_from(sorted(AUGMENTED))),
                          min_size=1, max_size=3),
       hnp.arrays(np.float64, 6, elements=st.one_of(finite, finite, special)))
def test_augmented_assignment_through_keys_matches_torch(values: np.ndarray, steps: list, operand: np.ndarray) -> None:
    """``y[key] += p; y[key2] *= p2 ...`` (the view updated, then stored back onto itself), then the loss."""
    def build(lib: Any) -> Callable[[Any, Any], Any]:
        def update(lib: Any, y: Any) -> Any:
            update.leaves = []
            for k, sign in steps:
                p = lib.tensor(np.resize(operand, tuple(y[KEYS[k]].shape)), requires_grad=True)
                update.leaves.append(p)
                AUGMENTED[sign](y, KEYS[k], p)
            return y[KEYS[steps[0][0]]]
        return update
    compare(values, build)


IDIOMS: dict[str, Callable[[Any, Any, Any], None]] = {  # advanced indexing: copies out of y, updated, stored back
    "y[rows, cols] -= p": lambda lib, y, p: y.__setitem__(
        (lib.tensor([0, -1]), lib.tensor([-1, 0])), y[lib.tensor([0, -1]), lib.tensor([-1, 0])].__isub__(p[:2])),
    "y[y > 0] *= p[0]": lambda lib, y, p: y.__setitem__(y > 0, y[y > 0].__imul__(p[0])),
    "y[[0]] = y[[0]] * p[1] + 1": lambda lib, y, p: y.__setitem__(lib.tensor([0]), y[lib.tensor([0])] * p[1] + 1),
    "y[:, 0] += y[:, [-1, -1]].sum(1)": lambda lib, y, p: y[:, 0].__iadd__(y[:, lib.tensor([-1, -1])].sum(1)),
    "y.index_add_(0, [0], y[[-1]] * p[2])": lambda lib, y, p: y.index_add_(
        0, lib.tensor([0]), y[lib.tensor([-1])] * p[2]),
}


@settings(max_examples=60, deadline=None)
@given(matrices, st.lists(st.sampled_from(sorted(IDIOMS)), min_size=1, max_size=3),
       hnp.arrays(np.float64, 6, elements=st.one_of(finite, finite, special)))
def test_advanced_index_updates_match_torch(values: np.ndarray, idioms: list[str], operand: np.ndarray) -> None:
    """``y[idx] op= p``: the copy indexed out of y, updated in place, then stored back (torch's gradients)."""
    def build(lib: Any) -> Callable[[Any, Any], Any]:
        def update(lib: Any, y: Any) -> Any:
            p = lib.tensor(operand, requires_grad=True)
            update.leaves = [p]
            for idiom in idioms:
                IDIOMS[idiom](lib, y, p)
            return y[0]
        return update
    compare(values, build)


def test_a_value_indexed_out_of_other_tensors_is_left_alone() -> None:
    """The search for copies of y behind the value compares tensors by identity (``==`` would compare values)."""
    x, z = tg.ones(2, 3, requires_grad=True), tg.ones(4, 5, requires_grad=True)
    y = x * 1
    y[tg.tensor([1])] = z[tg.tensor([0]), :3] * 2
    y.sum().backward()
    assert x.grad.tolist() == [[1, 1, 1], [0, 0, 0]] and z.grad[0].tolist() == [2, 2, 2, 0, 0]


def test_a_copy_indexed_out_before_another_write_takes_the_older_version() -> None:
    """Indexed out of y before another write into y, the copy's gradient goes to y's older version, as torch's
    (tests/test_nflows_fixes.py: an op reading no input values is rerouted to the graph its input had)."""
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    c = y[tg.tensor([0, 1])]
    y.mul_(2)
    y[tg.tensor([1, 2])] = c * 3
    assert y.tolist() == [2.0, 3.0, 6.0]
    y.sum().backward()
    assert x.grad.tolist() == [5.0, 3.0, 0.0]  # torch's


def test_zeroing_a_view_of_a_clone_stops_its_gradient() -> None:
    """Was silently wrong: the clone kept its old graph, so the zeroed element still passed its gradient on."""
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x.clone()
    y[0].zero_()
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0]


def test_refusals_as_torch() -> None:
    for lib in (tg, torch):
        leaf = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            leaf[0] += 1  # a view of a leaf that requires grad
        with pytest.raises(RuntimeError, match="single memory location" if lib is torch else "overlapping memory"):
            (leaf * 2).expand(2, 3).add_(1)  # elements sharing memory
        with lib.no_grad():
            leaf[0] += 1
        assert leaf.tolist() == [2, 1, 1]


@pytest.mark.parametrize("write", [lambda v: v.zero_(), lambda v: v.fill_(float("inf")), lambda v: v.add_(1)])
def test_overwriting_an_output_its_op_reads_raises_as_torch(write: Callable[[Any], Any]) -> None:
    """exp's gradient reads its output: a write through a view of it (even of a constant) raises at backward."""
    for lib in (tg, torch):
        y = lib.ones(2, 2, requires_grad=True).exp()
        write(y[0])
        with pytest.raises(RuntimeError, match=r"modified by an in-?place operation"):
            y.sum().backward()


def test_an_earlier_view_used_after_the_write_is_regenerated() -> None:
    """A view made before another view's write is read again from the base when an op uses it, as torch
    regenerates its grad_fn: its gradient goes through the write (tests/test_nflows_fixes.py has more)."""
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    w, v = y[1:], y[:2]
    v.mul_(2)
    assert w.tolist() == [4.0, 3.0]
    w.sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 1.0]  # torch's


@pytest.mark.gpu
def test_inplace_on_a_view_on_the_gpu() -> None:
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], device="cuda", requires_grad=True)
    p = tg.tensor([5.0, 6.0], device="cuda", requires_grad=True)
    y = x.clone()
    y[:, 0] += p
    y.diagonal().mul_(3)
    (y * y).sum().backward()
    xt, pt = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True), torch.tensor([5.0, 6.0], requires_grad=True)
    yt = xt.clone()
    yt[:, 0] += pt
    yt.diagonal().mul_(3)
    (yt * yt).sum().backward()
    np.testing.assert_allclose(y.cpu().detach().numpy(), yt.detach().numpy())
    np.testing.assert_allclose(x.grad.cpu().numpy(), xt.grad.numpy())
    np.testing.assert_allclose(p.grad.cpu().numpy(), pt.grad.numpy())
