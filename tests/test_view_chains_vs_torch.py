"""Chains of up to four views of a tensor in a graph, then one in-place write through the last, against torch.

The views: transpose, permute, diagonal, narrow, select, strided slices, unsqueeze / squeeze, flatten / reshape /
view, movedim, mT, view_as, expand, detach, as_strided within its input, split / chunk / unbind pieces and
non-overlapping unfold windows. The writes include ones whose operand is the view itself (``t += t``, ``copy_(t * 3)``),
which once dropped the operand's gradient through a view. The loss reads the viewed tensor after the write, the view
after it and, sometimes, the view before it. Ours must give torch's values and gradient where torch gives them; where
torch refuses (a write into a piece of split / unbind, whose gradient torch does not regenerate), ours must give the
float64 central finite differences of the same program or raise; never a silently wrong gradient. Where the two
differ, ours must be the finite differences and torch's not (torch 2.13 gets some as_strided views of views written
from themselves wrong: the gradient of ``t += t`` counted once).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

X0 = np.arange(24.0).reshape(2, 3, 4) / 7 + 0.013  # (no value at clamp_'s bounds 3 and 9: no kink for the differences)
WEIGHTS = np.linspace(-1.0, 1.0, 24).reshape(2, 3, 4)


def view_makers(shape: tuple[int, ...], pick: Callable[[int], int]) -> list[Callable[[Any], Any]]:
    """The views this shape allows, their arguments drawn by ``pick(n)`` (an int in [0, n))."""
    nd = len(shape)
    makers: list[Callable[[Any], Any]] = [lambda t: t.unsqueeze(0), lambda t: t.reshape(-1), lambda t: t.flatten(),
                                          lambda t: t.squeeze(), lambda t: t.view_as(t), lambda t: t.detach(),
                                          lambda t: t[..., None]]
    if nd >= 2:
        i, j = pick(nd), pick(nd)
        perm = sorted(range(nd), key=lambda k: (k * 7 + pick(5)) % nd)
        makers += [lambda t: t.transpose(i, j), lambda t: t.permute(*perm), lambda t: t.diagonal(0, 0, 1),
                   lambda t: t.diagonal(1, -1, -2), lambda t: t.mT, lambda t: t.movedim(i, j)]
    d = pick(nd) if nd else 0
    n = shape[d] if nd else 0
    if n:
        start = pick(n)
        length, k, step = pick(n - start + 1), pick(n), 1 + pick(2)
        size = 1 + pick(n)
        makers += [lambda t: t.narrow(d, start, length), lambda t: t.select(d, k),
                   lambda t: t[(slice(None),) * d + (slice(None, None, step),)],
                   lambda t: t.unfold(d, size, size), lambda t: t.split(max(1, n // 2), d)[-1],
                   lambda t: t.chunk(2, d)[0], lambda t: t.unbind(d)[-1],
                   lambda t: t.unsqueeze(0).expand(2, *t.shape)[0]]
    if nd and min(shape) > 0 and int(np.prod(shape)) >= 4:
        makers.append(lambda t: t.contiguous().flatten()[:4].as_strided((2, 2), (1, 2)))  # (within its input:
        # torch's gradient and ours drop the storage places an as_strided view reads outside its input's elements)
    return makers


WRITES: list[Callable[[Any], Any]] = [
    lambda v: v.mul_(2), lambda v: v.add_(1.5), lambda v: v.fill_(-0.7), lambda v: v.zero_(),
    lambda v: v.__setitem__(..., 0.5), lambda v: v.copy_(v * 3), lambda v: v.neg_(), lambda v: v.clamp_(0.4, 2.5),
    lambda v: v.__iadd__(v), lambda v: v.add_(v, alpha=0.5), lambda v: v.sub_(v * 0.25), lambda v: v.exp_(),
    lambda v: v.masked_fill_(v > 1.2, -1.0), lambda v: v.div_(v + 10),
]


def program(lib: Any, x: Any, choices: list[int], early: bool) -> Any:
    """The loss of the chain drawn by ``choices`` on ``x`` (2, 3, 4)."""
    it = itertools.cycle(choices)

    def pick(n: int) -> int:
        return next(it) % n

    base = x * 1.0
    t = base
    for _ in range(1 + pick(4)):
        makers = view_makers(tuple(t.shape), pick)
        t = makers[pick(len(makers))](t)
    before = (t * 1.5).sum() if early and t.numel() else 0
    WRITES[pick(len(WRITES))](t)
    return (base * lib.tensor(WEIGHTS)).sum() + (t.sum() * 0.3 if t.numel() else 0) + before


def run(lib: Any, choices: list[int], early: bool) -> Any:
    """x.grad and the loss, or the exception's type where the program raises."""
    x = lib.tensor(X0, requires_grad=True)
    try:
        loss = program(lib, x, choices, early)
        loss.backward()
    except (RuntimeError, NotImplementedError, IndexError, ValueError) as e:
        return type(e).__name__
    return x.grad.numpy(), float(loss)


def differences(choices: list[int], early: bool) -> np.ndarray:
    """Central differences (float64) of torch's loss in each element of x."""
    grad = np.zeros(X0.size)
    for i in range(X0.size):
        values = []
        for h in (1e-6, -1e-6):
            x = X0.copy().reshape(-1)
            x[i] += h
            with torch.no_grad():
                values.append(float(program(torch, torch.tensor(x.reshape(X0.shape)), choices, early)))
        grad[i] = (values[0] - values[1]) / 2e-6
    return grad.reshape(X0.shape)


@settings(max_examples=300, deadline=None)
@given(choices=st.lists(st.integers(0, 10 ** 6), min_size=8, max_size=60), early=st.booleans())
def test_a_write_through_a_chain_of_views_as_torch(choices: list[int], early: bool) -> None:
    theirs, ours = run(torch, choices, early), run(tg, choices, early)
    if isinstance(ours, str) and isinstance(theirs, str):
        return
    if isinstance(theirs, str):  # torch refuses (a piece of split / unbind): the truth is the finite differences
        np.testing.assert_allclose(ours[0], differences(choices, early), atol=1e-5)
        return
    assert not isinstance(ours, str), f"ours raised {ours} where torch differentiates"
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12)
    if not np.allclose(ours[0], theirs[0], rtol=1e-12, atol=1e-12):  # only where torch's is the wrong one: an
        truth = differences(choices, early)  # as_strided view of a view written from itself (t += t)
        np.testing.assert_allclose(ours[0], truth, atol=1e-5)
        assert not np.allclose(theirs[0], truth, atol=1e-5)
