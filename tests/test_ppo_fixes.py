"""What the PPO program (``tests/torch_style/ppo.py``) and probes of RL idioms around it needed, against torch 2.13:

- ``clip_grad_norm_`` with ``max_norm`` given as a Tensor (a 0-d or one-element one, as configs and schedules hand
  it) clips as torch's, which takes its value; before, ours left every gradient unclipped and returned the norm as
  if it had clipped (numpy's in-place multiply by a Tensor fell back to a new product): a silent wrong answer.
- A numpy uint8 array as an index (replay buffers keep ``dones`` as uint8) is a bool mask, as torch reads it (it
  makes a uint8 tensor of it, with its deprecation warning), also written through and inside a tuple; one value
  written through a lone one raises as torch's masked_fill_. A numpy uint8 *number* stays an integer, as there.
  Before, numpy read the array as integer positions: a silent wrong answer.

Mutations run (each made the tests below fail, then was restored):
- gradclip.clip_grad_norm_ without ``max_norm = float(max_norm)``: the gradients stay unclipped.
- movement.is_byte_mask true only for Tensors (the old rule): numpy uint8 arrays index as positions again.
- index._refuse_byte_fill back to its Tensor-only check: ``x[np_uint8_mask] = 5.`` writes instead of raising."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_torch_movement_names import agree, arrays

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

# float32 gradients whose squares stay finite (torch sums squares in float32, which overflow past ~1.8e19; ours does
# not, as gradclip's docstring says), with the odd inf and nan
GRAD = st.one_of(st.floats(-(2.0 ** 49), 2.0 ** 49, width=32), st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan]))
SHAPES = st.lists(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4), min_size=1, max_size=3)


def clipped(lib: object, grads: list[np.ndarray], max_norm: object, norm_type: float) -> tuple:
    """clip_grad_norm_ over parameters holding ``grads``: (the returned norm, the gradients after)."""
    params = []
    for g in grads:
        p = lib.zeros(g.shape, requires_grad=True)
        p.grad = lib.tensor(g)
        params.append(p)
    norm = lib.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    return norm.numpy(), [p.grad.numpy() for p in params]


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shapes=SHAPES, max_norm=st.floats(0, 1e3, width=32),
       kind=st.sampled_from(["0-d", "(1,)", "float64 0-d", "numpy"]), norm_type=st.sampled_from([1.0, 2.0, np.inf]))
def test_clip_grad_norm_takes_a_tensor_max_norm(data: st.DataObject, shapes: list, max_norm: float, kind: str,
                                                norm_type: float) -> None:
    grads = [data.draw(hnp.arrays(np.float32, s, elements=GRAD)) for s in shapes]
    if norm_type == np.inf and any(g.size == 0 for g in grads):
        grads = [g for g in grads if g.size] or [np.ones(1, np.float32)]  # a max over nothing raises in both

    def limit(lib: object) -> object:
        return {"0-d": lambda: lib.tensor(max_norm), "(1,)": lambda: lib.tensor([max_norm]),
                "float64 0-d": lambda: lib.tensor(max_norm, dtype=lib.float64),
                "numpy": lambda: np.float32(max_norm)}[kind]()

    (norm_o, grads_o), (norm_t, grads_t) = (clipped(lib, grads, limit(lib), norm_type) for lib in (tg, torch))
    np.testing.assert_allclose(norm_o, norm_t, rtol=1e-5)
    for got, want in zip(grads_o, grads_t, strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-30)


def test_clip_grad_norm_refuses_a_tensor_of_several_values() -> None:
    for lib in (tg, torch):
        p = lib.zeros(2, requires_grad=True)
        p.grad = lib.tensor([3.0, 4.0])
        with pytest.raises((ValueError, RuntimeError)):
            lib.nn.utils.clip_grad_norm_([p], lib.tensor([0.5, 1.0]))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), x=arrays(min_dims=1))
def test_numpy_uint8_array_indexes_as_a_mask(data: st.DataObject, x: np.ndarray) -> None:
    """A numpy uint8 mask over the leading dims, alone and after a slice: read, written, gradients. (Not 0-d
    ones: torch counts a 0-d numpy array as one index among the dims, so it raises on a 0-d tensor and after a
    slice of a 1-D one, where ours reads it as a 0-d mask, as a 0-d Tensor is read in both.)"""
    mask = data.draw(hnp.arrays(np.uint8, x.shape[:data.draw(st.integers(1, x.ndim))],
                                elements=st.sampled_from([0, 1, 2, 255])))
    inner = data.draw(hnp.arrays(np.uint8, x.shape[1:1 + data.draw(st.integers(1, max(x.ndim - 1, 1)))],
                                 elements=st.sampled_from([0, 1, 255])))

    def write(lib: object, t: object, index: object) -> object:
        y = t * 1
        y[index] = y[index] * 2 + 1
        return y

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the deprecation, and numpy's inf - inf in agree's weighting
        warnings.simplefilter("ignore", RuntimeWarning)
        agree(lambda lib, t: t[mask], x)
        agree(lambda lib, t: write(lib, t, mask), x)
        if x.ndim > 1:
            agree(lambda lib, t: t[:, inner], x)
            agree(lambda lib, t: write(lib, t, (slice(None), inner)), x)


def test_numpy_uint8_mask_warns_refuses_one_value_and_a_uint8_number_is_an_int() -> None:
    mask = np.array([1, 0, 3, 0], dtype=np.uint8)
    for lib in (torch, tg):
        x = lib.arange(4.0)
        with pytest.warns(UserWarning, match="uint8"):
            assert x[mask].tolist() == [0.0, 2.0]
        with pytest.raises((RuntimeError, TypeError), match="masked_fill_"):
            x[mask] = 5.0
        with pytest.warns(UserWarning, match="uint8"):
            x[mask] = lib.tensor([7.0, 8.0])
        with pytest.warns(UserWarning, match="uint8"):  # a list of numpy uint8 numbers becomes a uint8 mask
            assert x[[np.uint8(1), np.uint8(0), np.uint8(1), np.uint8(0)]].tolist() == [7.0, 8.0]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert x[np.uint8(1)].item() == 1.0 and x[mask.astype(np.int64)].tolist() == [1.0, 7.0, 3.0, 7.0]
