"""What the pyGAT program (``tests/torch_style/pygat.py``) met, against torch 2.13:

- ``torch.empty(size=(n, m))`` (and ``zeros`` / ``ones`` / ``rand`` / ``randn``): torch takes the shape as the
  keyword ``size`` (a sequence); ours raised TypeError.
- ``torch.LongTensor(range(n))``: torch's legacy constructors take any sequence of data; ours refused a ``range``.
- ``self.attentions = [...]`` then ``add_module(f"attention_{i}", att)`` for each: torch names each head once,
  ``attention_i``; ours also registered the plain list, so ``state_dict`` had ``attentions.i.*`` keys too and a
  checkpoint saved by torch did not load (strict).
- ``torch.full(size=..., fill_value=...)``: ours named the arguments ``shape`` / ``value`` (TypeError).
- A custom ``autograd.Function`` saving a sparse COO matrix by ``ctx.save_for_backward(a, b)`` (torch allows it);
  ours raised TypeError, and the sparse matrix had no ``.matmul`` / ``.mm`` method for ``a.t().matmul(grad)``.

Mutations run (each made its test fail, then was reverted):
- ``_shape`` ignoring ``size`` (``shape = (size,)`` removed): test_size_keyword_makes_torch_shapes fails.
- ``full``'s parameters named ``shape`` / ``value`` again: test_full_takes_torch_keyword_names fails.
- ``(list, tuple, range)`` back to ``(list, tuple)`` in LegacyTensorType: test_legacy_constructors_take_a_range fails.
- ``_members`` without the ``id(item) not in named`` condition: test_list_heads_added_by_add_module_are_named_once
  fails.
- ``save_for_backward`` accepting Tensors only: test_function_saving_a_sparse_matrix_matches_torch fails; likewise
  with ``matmul = mm = __matmul__`` removed from SparseCOOTensor.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")  # torch's sparse_coo_tensor

CREATORS = ("empty", "zeros", "ones", "rand", "randn")
LEGACY = ("LongTensor", "FloatTensor", "IntTensor", "DoubleTensor")
VALUES = st.floats(-1e15, 1e15, allow_subnormal=False) | st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-38])


@settings(deadline=None, max_examples=40)
@given(st.sampled_from(CREATORS), st.lists(st.integers(0, 4), max_size=3), st.sampled_from(["tuple", "list", "Size"]))
def test_size_keyword_makes_torch_shapes(name: str, shape: list[int], kind: str) -> None:
    for lib in (torch, tg):
        size = {"tuple": tuple, "list": list, "Size": lib.Size}[kind](shape)
        out = getattr(lib, name)(size=size, dtype=lib.float64)
        assert tuple(out.shape) == tuple(shape) and out.dtype == lib.float64
        if name in ("zeros", "ones"):
            assert (out.numpy() == (name == "ones")).all()
        with pytest.raises(TypeError, match="size"):  # rand / randn word it otherwise in torch
            getattr(lib, name)(2, size=size)
        with pytest.raises(TypeError, match="size"):
            getattr(lib, name)(size=3)


@settings(deadline=None, max_examples=40)
@given(st.lists(st.integers(0, 4), max_size=3), VALUES | st.integers(-2**62, 2**62) | st.booleans())
def test_full_takes_torch_keyword_names(shape: list[int], value: float) -> None:
    """``torch.full(size=..., fill_value=...)``: ours named them ``shape`` / ``value`` (TypeError)."""
    ours, theirs = tg.full(size=shape, fill_value=value), torch.full(size=shape, fill_value=value)
    assert tuple(ours.shape) == tuple(theirs.shape) and str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@settings(deadline=None, max_examples=40)
@given(st.sampled_from(LEGACY), st.integers(-5, 5), st.integers(-5, 5), st.integers(-3, 3).filter(bool))
def test_legacy_constructors_take_a_range(name: str, start: int, stop: int, step: int) -> None:
    want, got = getattr(torch, name)(range(start, stop, step)), getattr(tg, name)(range(start, stop, step))
    assert str(got.dtype) == str(want.dtype).removeprefix("torch.") and got.tolist() == want.tolist()


def heads(lib: object, n: int) -> object:
    """pyGAT's GAT: heads in a plain list, each registered by ``add_module``; a Parameter kept both ways too."""
    class Heads(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attentions = [lib.nn.Linear(2, 2) for _ in range(n)]
            for i, attention in enumerate(self.attentions):
                self.add_module(f"attention_{i}", attention)
            self.scales = [lib.nn.Parameter(lib.ones(1)) for _ in range(n)]
            for i, scale in enumerate(self.scales):
                self.register_parameter(f"scale_{i}", scale)
            self.out_att = lib.nn.Linear(2 * n, 2)

    return Heads()


@pytest.mark.parametrize("n", [1, 3])
def test_list_heads_added_by_add_module_are_named_once(n: int) -> None:
    theirs, ours = heads(torch, n), heads(tg, n)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    assert [k for k, _ in ours.named_modules()] == [k for k, _ in theirs.named_modules()]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})  # a torch checkpoint loads, strict
    for name, p in theirs.state_dict().items():
        assert np.array_equal(ours.state_dict()[name].numpy(), p.numpy()), name


def special_spmm(lib: object) -> type:
    """pyGAT's SpecialSpmmFunction, written for ``lib``."""
    class SpecialSpmmFunction(lib.autograd.Function):
        @staticmethod
        def forward(ctx: object, indices: object, values: object, shape: object, b: object) -> object:
            a = lib.sparse_coo_tensor(indices, values, shape)
            ctx.save_for_backward(a, b)
            ctx.N = shape[0]
            return lib.matmul(a, b)

        @staticmethod
        def backward(ctx: object, grad_output: object) -> tuple:
            a, b = ctx.saved_tensors
            grad_a_dense = grad_output.matmul(b.t())
            edge_idx = a._indices()[0, :] * ctx.N + a._indices()[1, :]
            return None, grad_a_dense.view(-1)[edge_idx], None, a.t().matmul(grad_output) + a.t().mm(grad_output)

    return SpecialSpmmFunction


@settings(deadline=None, max_examples=40)
@given(st.integers(1, 5), st.integers(1, 3), st.data())
def test_function_saving_a_sparse_matrix_matches_torch(n: int, k: int, data: st.DataObject) -> None:
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=n * n, max_size=n * n))).reshape(n, n)
    edge = np.stack(np.nonzero(mask))
    values = np.array(data.draw(st.lists(VALUES, min_size=edge.shape[1], max_size=edge.shape[1])), np.float32)
    b = np.array(data.draw(st.lists(VALUES, min_size=n * k, max_size=n * k)), np.float32).reshape(n, k)
    grad = np.array(data.draw(st.lists(st.floats(-2, 2, width=32), min_size=n * k, max_size=n * k)),
                    np.float32).reshape(n, k)
    results = []
    for lib in (torch, tg):
        v, m = lib.tensor(values, requires_grad=True), lib.tensor(b, requires_grad=True)
        out = special_spmm(lib).apply(lib.tensor(edge), v, lib.Size([n, n]), m)
        out.backward(lib.tensor(grad))
        results.append([out.detach().numpy(), v.grad.numpy(), m.grad.numpy()])
    # each entry is a float32 sum of products that can cancel: compared at the rounding of its terms' magnitudes
    dense = np.zeros((n, n))
    dense[edge[0], edge[1]] = np.abs(values.astype(np.float64))
    ab, ag = np.abs(b.astype(np.float64)), np.abs(grad.astype(np.float64))
    with np.errstate(invalid="ignore", over="ignore"):
        scales = (dense @ ab, (ag[edge[0]] * ab[edge[1]]).sum(1), dense.T @ ag)
    for got, want, scale, what in zip(results[1], results[0], scales, ("output", "values' grad", "b's grad"),
                                      strict=True):
        slack = np.where(np.isfinite(scale), 8 * np.finfo(np.float32).eps * np.nan_to_num(scale), 0.0)
        with np.errstate(invalid="ignore"):
            near = np.abs(got.astype(np.float64) - want) <= 1e-5 * np.abs(want) + 1e-30 + slack
        assert np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(got[np.isinf(want)],
                                                                                want[np.isinf(want)]), what
        assert near[np.isfinite(want)].all(), (what, got, want)
