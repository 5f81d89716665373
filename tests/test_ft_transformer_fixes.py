"""What the FT-Transformer program (``tests/torch_style/ft_transformer.py``) met, against torch 2.13: rtdl builds its
head's normalization by ``getattr(nn, name)(d_in)``, which is ``nn.Identity(d_in)`` without prenormalization;
torch's ``nn.Identity`` takes and ignores any constructor arguments, ours raised ``TypeError: Identity() takes no
arguments`` (a loud difference). Now it accepts them and still returns its input unchanged (the same object, as
torch's), with gradients passing through."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

VALUES = st.floats(width=32, allow_nan=True, allow_infinity=True)
ARGS = st.lists(st.one_of(st.integers(-5, 600), st.floats(allow_nan=False), st.text(max_size=3), st.none()),
                max_size=3)
KWARGS = st.dictionaries(st.sampled_from(["unused_argument1", "unused_argument2", "d_in", "eps"]),
                         st.one_of(st.integers(), st.floats(allow_nan=False), st.none()), max_size=2)


@settings(deadline=None, max_examples=40)
@given(ARGS, KWARGS, hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                                elements=VALUES))
def test_identity_ignores_constructor_arguments(args: list, kwargs: dict, x: np.ndarray) -> None:
    theirs, ours = torch.nn.Identity(*args, **kwargs), tg.nn.Identity(*args, **kwargs)
    t, o = torch.tensor(x), tg.tensor(x)
    assert theirs(t) is t and ours(o) is o
    np.testing.assert_array_equal(ours(o).numpy(), theirs(t).numpy())
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    assert list(ours.parameters()) == list(theirs.parameters()) == []


def test_identity_by_name_in_a_head_passes_gradients() -> None:
    """rtdl's ``_make_nn_module('Identity', d_in)`` in a LayerNorm-free head: the gradients are torch's."""
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    name = "Identity"
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(getattr(torch.nn, name)(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    ours = tg.nn.Sequential(getattr(tg.nn, name)(4), tg.nn.ReLU(), tg.nn.Linear(4, 2))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    grads = []
    for lib, head in ((torch, theirs), (tg, ours)):
        xt = lib.tensor(x, requires_grad=True)
        head(xt).pow(2).sum().backward()
        grads.append(xt.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6, atol=1e-7)
