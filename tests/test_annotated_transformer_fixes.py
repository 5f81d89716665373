"""What the Annotated Transformer program (``tests/torch_style/annotated_transformer.py``) met, against torch 2.13:
its 2018 spellings. ``nn.init.xavier_uniform(p)`` and the other underscore-less initialisers (deprecated aliases in
torch: a FutureWarning, then the in-place one), and ``loss.data[0]`` on a 0-d loss, which torch >= 0.4 refuses with an
IndexError that points at ``.item()``: ours raised numpy's "too many indices" instead; an int index into any 0-d
tensor now says what torch says, while ``x[None]``, ``x[...]``, ``x[True]`` and 1-D ``x[0]`` still index."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_adam as tg

torch = pytest.importorskip("torch", reason="torch is the reference oracle: pip install torch==2.13.0")

DTYPES = ("float32", "float64", "int64", "int32", "bool")
INT_INDICES = {  # an int somewhere in the index of a 0-d tensor: IndexError naming .item() in both
    "int": lambda i: i, "np_int": lambda i: np.int64(i), "int_none": lambda i: (i, None),
    "none_int": lambda i: (None, i), "ellipsis_int": lambda i: (Ellipsis, i),
}
KEPT = {"none": None, "ellipsis": Ellipsis, "true": True, "false": False, "none_none": (None, None)}
ALIASES = ("uniform", "normal", "constant", "eye", "dirac", "sparse", "orthogonal", "xavier_uniform", "xavier_normal",
           "kaiming_uniform", "kaiming_normal")
ARGS = {"constant": (0.25,), "sparse": (0.5,)}
SHAPES = {"eye": (3, 4), "dirac": (2, 2, 3)}


@settings(deadline=None, max_examples=40)
@given(st.sampled_from(DTYPES), st.sampled_from(sorted(INT_INDICES)), st.integers(-3, 3),
       st.sampled_from([0.0, -0.0, 1.5, np.nan, np.inf, -np.inf]))
def test_int_index_of_0d_tensor_raises_as_torch(dtype: str, kind: str, i: int, value: float) -> None:
    x = np.array(value if np.isfinite(value) or dtype.startswith("float") else 7).astype(dtype)
    index = INT_INDICES[kind](i)
    for lib, message in ((torch, r"0-dim|dimension 0"), (tg, r"has no dims to index: read its number")):
        t = lib.tensor(x)
        for target in (t, t.data, t.sum() if dtype != "bool" else t):
            with pytest.raises(IndexError, match=message):
                target[index]


@pytest.mark.parametrize("kind", sorted(KEPT))
@pytest.mark.parametrize("value", [2.5, -0.0, np.nan])
def test_other_indices_of_0d_tensor_still_index(kind: str, value: float) -> None:
    ours, theirs = tg.tensor(np.float32(value))[KEPT[kind]], torch.tensor(np.float32(value))[KEPT[kind]]
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    one = tg.tensor([value], requires_grad=True)
    picked = one.data[0]
    assert picked.shape == () and not picked.requires_grad
    np.testing.assert_array_equal(picked.numpy(), np.float32(value))


@pytest.mark.parametrize("name", ALIASES)
def test_deprecated_init_aliases_warn_and_match_the_in_place_ones(name: str) -> None:
    shape = SHAPES.get(name, (5, 4))
    old, new = getattr(tg.nn.init, name), getattr(tg.nn.init, name + "_")
    tg.manual_seed(3)
    expected = new(tg.zeros(*shape), *ARGS.get(name, ()))
    tg.manual_seed(3)
    t = tg.zeros(*shape)
    with pytest.warns(FutureWarning, match=f"nn.init.{name}_"):
        out = old(t, *ARGS.get(name, ()))
    assert out is t and old.__name__ == name
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = getattr(torch.nn.init, name)(torch.zeros(*shape), *ARGS.get(name, ()))
    assert tuple(theirs.shape) == out.shape and str(theirs.dtype)[6:] == str(out.dtype)
    if name in ("constant", "eye", "dirac"):  # no randomness: the values themselves
        np.testing.assert_array_equal(out.numpy(), theirs.numpy())
