"""The engine's fast path for the pieces of split / chunk / unbind / tensor_split (autograd.write_piece): their
gradients written into one shared buffer instead of a zero array per piece added up. Checked against the readable
path (each piece's own getitem closure) and against torch: unused pieces, pieces used twice, pieces written in
place, the parent used elsewhere, two splits of one tensor, hooks, retain_graph, create_graph, autograd.grad."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg
from tinygrad_adam.ops import movement

torch = pytest.importorskip("torch", reason="the split gradients are compared with PyTorch's")


def _grad_with(x: np.ndarray, build, fast: bool) -> np.ndarray:
    """d(build(pieces))/dx, with the fast path on, or off (the ``piece`` marks dropped: getitem's closures)."""
    t = tg.tensor(x, requires_grad=True)
    loss = build(t, lambda pieces: pieces if fast else _unmarked(pieces))
    loss.backward()
    return t.grad.numpy()


def _unmarked(pieces):
    for p in pieces:
        if p._backward is not None and hasattr(p._backward, "piece"):
            del p._backward.piece
    return pieces


def _same_bits_but_zero_sign(a: np.ndarray, b: np.ndarray) -> None:
    """Equal bit for bit, but that a -0.0 may be +0.0 (the old path added zeros, which turns -0.0 into +0.0)."""
    np.testing.assert_array_equal((a + 0.0).view(np.uint8), (b + 0.0).view(np.uint8))


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), data=st.data())
def test_fast_path_equals_the_readable_one(shape, data):
    """Random splits, with some pieces unused, some used twice, the parent also used directly."""
    dim = data.draw(st.integers(0, len(shape) - 1))
    kind = data.draw(st.sampled_from(["split", "chunk", "unbind", "tensor_split"]))
    n = data.draw(st.integers(1, 4))
    uses = data.draw(st.lists(st.integers(0, 2), min_size=8, max_size=8))  # 0: unused, 2: used twice
    direct = data.draw(st.booleans())
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(shape).astype(dtype)

    def build(t, mark):
        pieces = mark({"split": lambda: t.split(n, dim), "chunk": lambda: t.chunk(n, dim),
                       "unbind": lambda: t.unbind(dim), "tensor_split": lambda: t.tensor_split(n, dim)}[kind]())
        loss = (t * tg.tensor(w)).sum() if direct else tg.tensor(0.0, dtype=t.dtype)
        for i, p in enumerate(pieces):
            for _ in range(uses[i % len(uses)]):
                loss = loss + (p * p * (i + 1.5)).sum()
        return loss if loss.requires_grad else pieces[-1].sum()
    _same_bits_but_zero_sign(_grad_with(x, build, True), _grad_with(x, build, False))


def test_the_pieces_carry_the_mark():
    """The fast path is taken (a mutant that drops the mark would still pass the equality tests)."""
    t = tg.ones(4, 6, requires_grad=True)
    for pieces in (t.split(2, 1), t.chunk(3, 0), t.unbind(1), t.tensor_split([1, 4], 1)):
        marks = [p._backward.piece for p in pieces]
        assert len({id(m[0]) for m in marks}) == 1  # one split each
        assert len({repr(m[1]) for m in marks}) == len(pieces)
    assert not hasattr(tg.ones(3, requires_grad=True)[1:]._backward, "piece")  # plain indexing: not a piece


def test_negative_zero_kept_as_torch():
    """torch's split backward joins the pieces' gradients, so a -0.0 survives; zero arrays added up lost it."""
    x = np.ones((2, 6), np.float32)
    ours = tg.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    for t, lib in ((ours, tg), (theirs, torch)):
        a, b, c = t.split(2, dim=1)
        ((a * lib.tensor(-0.0)).sum() + (b * lib.tensor(-0.0)).sum() + (c * 2).sum()).backward()
    np.testing.assert_array_equal(np.signbit(ours.grad.numpy()), np.signbit(theirs.grad.numpy()))
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


def _both(fn, x: np.ndarray, **kw):
    """fn(lib, leaf) -> loss on both libraries; returns the two gradients of the leaf."""
    out = []
    for lib in (tg, torch):
        t = lib.tensor(x, requires_grad=True)
        fn(lib, t, **kw)
        out.append(t.grad.detach().numpy() if lib is torch else t.grad.numpy())
    return out


def _cut(lib, y, kind: str, dim: int):
    """Our split-like pieces of ``y``; for torch, the same pieces as separate slices (torch refuses in-place
    writes into a split's outputs, which ours allows: README lists it), or its own split where nothing is written."""
    if lib is tg or kind != "written":
        return y.chunk(2, dim) if lib is tg or kind == "plain" else y.unbind(dim)
    return (y.narrow(dim, 0, y.shape[dim] // 2), y.narrow(dim, y.shape[dim] // 2, y.shape[dim] - y.shape[dim] // 2))


def _unbound(lib, y, written: bool):
    return y.unbind(0) if lib is tg or not written else tuple(y.select(0, i) for i in range(y.shape[0]))


CASES = {
    # some pieces unused, one used twice
    "unused_and_twice": lambda lib, t: (lambda a, b, c: ((a * 2).sum() + (a * a).sum()).backward())(
        *t.split([1, 3, 2], 1)),
    # a piece written in place (a view: the write reaches the parent), then used
    "piece_in_place": lambda lib, t: (lambda p: (p[0].mul_(3).sum() + (p[1] ** 2).sum()).backward())(
        _cut(lib, t * 1.0, "written", 0)),
    # the parent written in place after the split, pieces used after
    "parent_in_place": lambda lib, t: (lambda y: (lambda p: (y.add_(1), (p[0] * p[1]).sum().backward()))(
        _unbound(lib, y, True)))(t * 2.0),
    # the parent used elsewhere too, and two splits of one tensor (overlapping pieces across them)
    "two_splits": lambda lib, t: (lambda y: ((y.split(2, 1)[0] * 3).sum() + (y.tensor_split([1, 3], 1)[1] ** 2).sum()
                                            + (y * y).sum()).backward())(t.tanh()),
    # unbind of a 1-D tensor: 0-d pieces
    "unbind_1d": lambda lib, t: (lambda p: (p[0] * p[2] + p[3] * 4).backward())(t.reshape(-1)[:4].unbind()),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_match_torch(case, dtype):
    x = np.random.default_rng(3).standard_normal((4, 6)).astype(dtype)
    ours, theirs = _both(CASES[case], x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_retain_graph_hooks_grad_and_double_backward():
    """Against torch: retain_graph (two backward passes add up), a hook on a piece, autograd.grad of a piece and of
    the parent, and create_graph=True through the pieces (a second derivative)."""
    x = np.random.default_rng(5).standard_normal((3, 6))
    got = {}
    for lib in (tg, torch):
        t = lib.tensor(x, requires_grad=True)
        a, b, c = t.split(2, dim=1)
        a.register_hook(lambda g: None if g is None else g * 10)  # (torch calls it with None in grad())
        loss = (a * b).sum() + (c ** 3).sum()
        loss.backward(retain_graph=True)
        loss.backward(retain_graph=True)
        first = t.grad.detach().clone()
        ga, gt = lib.autograd.grad((b * c).sum() + (b ** 2).sum(), [b, t], retain_graph=True)
        y = t * 1.0
        p, q = y.chunk(2, dim=1)
        (g1,) = lib.autograd.grad((p ** 3).sum() + (q ** 2).sum(), [y], create_graph=True)
        (g2,) = lib.autograd.grad(g1.sum(), [t])
        got[lib.__name__] = [np.asarray(v.detach().numpy()) for v in (first, ga, gt, g1, g2)]
    for o, w in zip(got["tinygrad_adam"], got["torch"]):
        np.testing.assert_allclose(o, w, rtol=1e-12)


def test_float16_and_mixed_with_a_gradient_from_elsewhere():
    """A pending gradient from another op, then pieces (and the other order): the old sum, bit for bit."""
    x = np.random.default_rng(7).standard_normal((4, 8)).astype(np.float16)

    def build(t, mark):
        y = t * 1.0
        early = (y * y).sum()  # reaches y before or after the pieces, by graph order
        pieces = mark(y.split(3, 1))
        return (pieces[0] * 2).sum() + early + (pieces[2] ** 2).sum()
    _same_bits_but_zero_sign(_grad_with(x, build, True), _grad_with(x, build, False))
    ours, theirs = _both(lambda lib, t: build(t, lambda p: p).backward(), x)
    np.testing.assert_allclose(ours.astype(np.float32), theirs.astype(np.float32), rtol=2e-3)


def test_split_pieces_are_views_with_getitems_values():
    t = tg.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    for piece, key in zip(movement.split_pieces(t, 2, [slice(0, 1), slice(1, 4)]), [slice(0, 1), slice(1, 4)]):
        np.testing.assert_array_equal(piece.numpy(), t.numpy()[:, :, key])


@pytest.mark.parametrize("mode", ["node_hook", "anomaly"])
def test_node_hooks_and_anomaly_take_the_closure(mode):
    """A hook on a piece's grad_fn sees (and may replace) the full-size gradient its closure gives; under
    detect_anomaly the closure runs too. Same gradients as with the marks dropped."""
    x = np.random.default_rng(11).standard_normal((3, 4))
    seen = []

    def build(t, mark):
        a, b = mark(t.chunk(2, 1))
        if mode == "node_hook":
            def hook(grad_inputs, grad_outputs):
                seen.append(tuple(grad_inputs[0].shape))
                return (grad_inputs[0] * 3,)
            a.grad_fn.register_hook(hook)
        return (a * b).sum() + (b ** 2).sum()
    if mode == "anomaly":
        with tg.autograd.detect_anomaly():
            fast = _grad_with(x, build, True)
    else:
        fast = _grad_with(x, build, True)
    _same_bits_but_zero_sign(fast, _grad_with(x, build, False))
    if mode == "node_hook":
        assert seen == [(3, 4), (3, 4)]  # called on the fast run too
        t = torch.tensor(x, requires_grad=True)
        a, b = t[:, :2], t[:, 2:]  # torch's split pieces share one grad_fn: separate slices here
        a.grad_fn.register_hook(lambda gi, go: (gi[0] * 3,))
        ((a * b).sum() + (b ** 2).sum()).backward()
        np.testing.assert_allclose(fast, t.grad.numpy(), rtol=1e-12)
