"""Writes into tensors that are not C-ordered (a transpose, a permute, a strided slice): the values must land in the
tensor's own memory. ``index_put(..., accumulate=True)`` on a transposed tensor added into a copy and returned the
input unchanged (silently), and ``gradcheck`` perturbed a copy of such an input, so it reported a zero numerical
gradient and failed a correct function."""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")


def _layout(lib, values: numpy.ndarray, order: tuple[int, ...], step: int):
    """``values`` as a tensor of the dims permuted by ``order``, every ``step``-th row of its first dim."""
    base = lib.tensor(values)
    return base, base.permute(*order)[::step]


@settings(max_examples=150, deadline=None)
@given(data=st.data(), shape=st.sampled_from([(4, 3), (2, 3, 4), (5,), (3, 1, 2)]), in_place=st.booleans(),
       step=st.sampled_from([1, 2]))
def test_index_put_accumulate_on_any_layout(data, shape: tuple[int, ...], in_place: bool, step: int) -> None:
    order = tuple(data.draw(st.permutations(range(len(shape)))))
    values = numpy.arange(float(numpy.prod(shape))).reshape(shape)
    rows = -(-shape[order[0]] // step)
    index = data.draw(st.lists(st.integers(-rows, rows - 1), min_size=0, max_size=5))
    extra = data.draw(st.sampled_from([-numpy.inf, numpy.nan, 0.5, 1e300]))
    results = []
    for lib in (torch, tg):
        base, x = _layout(lib, values, order, step)
        src = lib.full((len(index),) + tuple(x.shape[1:]), extra, dtype=lib.float64)
        idx = (lib.tensor(index, dtype=lib.int64),)
        out = x.index_put_(idx, src, accumulate=True) if in_place else lib.index_put(x, idx, src, accumulate=True)
        strides = tuple(s for s, n in zip(out.stride(), out.shape) if n > 1)  # (a size-1 dim's is arbitrary)
        results.append((numpy.asarray(base.tolist()), numpy.asarray(out.tolist()), strides))
    (t_base, t_out, t_stride), (o_base, o_out, o_stride) = results
    numpy.testing.assert_array_equal(o_base, t_base)  # in place: written through; else untouched
    numpy.testing.assert_array_equal(o_out, t_out)
    assert o_stride == t_stride  # the result keeps the input's layout, as torch's clone


@pytest.mark.parametrize("view", ["t", "slice", "permute"])
def test_gradcheck_of_a_strided_input(view: str) -> None:
    """A correct gradient passes gradcheck whatever the input's layout; a wrong one still fails."""
    rng = numpy.random.default_rng(0)
    base = tg.tensor(rng.random((4, 6, 2)))
    x = {"t": base[:, :, 0].t(), "slice": base[::2, 1::2], "permute": base.permute(2, 0, 1)}[view]
    x = x.detach().requires_grad_()
    assert not x.is_contiguous()
    assert tg.autograd.gradcheck(lambda a: (a * a.exp()).sum(), (x,))

    class Wrong(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * a  # (2 * a is right)
    assert not tg.autograd.gradcheck(lambda a: Wrong.apply(a).sum(), (x,), raise_exception=False)
